//! The one authentication path of every plane: **verify first**, then, only if the credential
//! failed, count the failure ([`FailureLimiter`](super::ratelimit::FailureLimiter)), audit it
//! and decide between the plane's ordinary refusal and its "throttled" answer.
//!
//! Used by ARM bearer tokens ([`super::principal`]), data-plane keys and tokens
//! ([`crate::planes::dataplane::auth`]), blob SAS ([`crate::planes::blob`]) and the token and managed-identity
//! endpoints ([`crate::planes::identity`]).
//!
//! Why verification comes first: counting before verifying let anyone who could send wrong
//! credentials (from the same address, or at the same workspace) lock every valid caller out.
//! Verification is cheap (one HMAC and an indexed lookup, or one ECDSA verification), so it is
//! done for every attempt; a valid credential always succeeds, even during an attack.
//!
//! What a caller can learn: a wrong credential is refused (401/403) until the failures of its
//! address or target exceed the limit, then throttled (429/503 + `Retry-After`). Both answers
//! mean "wrong"; neither depends on whether the workspace or principal exists, because targets
//! are counted by the name presented, not by what was found.

use super::ratelimit::{GuessTarget, Verdict};
use crate::audit::AuditAction;
use crate::state::AppState;
use std::future::Future;
use std::net::SocketAddr;

/// Longest target written to the audit log (targets come from request paths).
const MAX_AUDIT_TARGET: usize = 256;

/// A failed attempt, described for the limiter and the audit log. Every field must be safe to
/// log: it names what was aimed at, never what was presented.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The client.
    pub client: SocketAddr,
    /// What was being guessed, counted across addresses; `None` counts the address only.
    pub target: Option<GuessTarget>,
    /// Audit action of the plane, e.g. [`AuditAction::Authenticate`].
    pub action: AuditAction,
    /// Audit principal: a validated name, or `anonymous`.
    pub principal: String,
    /// Audit target (resource id or endpoint).
    pub resource: String,
    /// Short reason code, e.g. `InvalidAuthenticationToken`, `invalid_client`.
    pub reason: String,
}

impl Failure {
    /// An anonymous failed attempt at `resource`.
    pub fn anonymous(
        client: SocketAddr,
        action: AuditAction,
        resource: &str,
        reason: &str,
    ) -> Failure {
        Failure {
            client,
            target: None,
            action,
            principal: "anonymous".into(),
            resource: resource.chars().take(MAX_AUDIT_TARGET).collect(),
            reason: reason.into(),
        }
    }

    /// Also counts the failure against `target`.
    pub fn guessing(mut self, target: GuessTarget) -> Failure {
        self.target = Some(target);
        self
    }
}

/// Why verification did not produce a caller.
#[derive(Debug)]
pub enum Rejection<E> {
    /// The credential was missing or wrong: counted, audited, possibly throttled.
    Credential(E, Failure),
    /// Anything else (a malformed request, a store error, a forbidden action): passed through.
    Other(E),
}

/// Runs `verification`; a [`Rejection::Credential`] is recorded with [`refuse`] and answered
/// with its own error, or with `throttled(retry_after_secs)` once over the limit.
pub async fn authenticate<T, E>(
    state: &AppState,
    verification: impl Future<Output = Result<T, Rejection<E>>>,
    throttled: impl FnOnce(u64) -> E,
) -> Result<T, E> {
    match verification.await {
        Ok(v) => Ok(v),
        Err(Rejection::Other(e)) => Err(e),
        Err(Rejection::Credential(e, failure)) => match refuse(state, &failure) {
            Verdict::Refused => Err(e),
            Verdict::Throttled { retry_after, .. } => Err(throttled(retry_after)),
        },
    }
}

/// Records one failed attempt: counts it, and audits and logs it unless its address or target
/// is already throttled (then only the attempt that crossed the limit is recorded, so a flood
/// cannot grow the audit log without bound).
pub fn refuse(state: &AppState, f: &Failure) -> Verdict {
    let verdict = state.limiter.record_failure(f.client.ip(), f.target);
    crate::metrics::auth_failure(&f.reason);
    if matches!(verdict, Verdict::Throttled { .. }) {
        crate::metrics::throttled("auth_failures");
    }
    let outcome = match verdict {
        Verdict::Refused => format!("failure: {}", f.reason),
        Verdict::Throttled { first: true, .. } => format!("failure: {}; throttled", f.reason),
        Verdict::Throttled { first: false, .. } => return verdict,
    };
    // Best effort: a failed audit write must not turn a refusal into a 500.
    let _ = state.audit(&f.principal, f.action, &f.resource, &outcome, f.client);
    tracing::info!(action = f.action.as_str(), reason = %f.reason, client = %f.client.ip(), "authentication failed");
    verdict
}
