//! Cooperative cancellation of a running simulation.
//!
//! The caller keeps a clone of a [`CancelToken`] and calls [`CancelToken::cancel`] from any
//! thread; the engine polls it at cheap points (between gate operations, between shots, between
//! sampling batches, every few interpreter steps — never per amplitude) and returns
//! [`SimError::Cancelled`].

use crate::error::{Result, SimError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A shared flag that asks a run to stop. Clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every run holding a clone of this token to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] has been called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `Err(Cancelled)` when `token` is present and cancelled.
pub(crate) fn check(token: Option<&CancelToken>) -> Result<()> {
    match token {
        Some(t) if t.is_cancelled() => Err(SimError::Cancelled),
        _ => Ok(()),
    }
}
