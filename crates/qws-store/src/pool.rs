//! How the stores' database connections are used, for the server's metrics.
//!
//! Each store serializes its queries through one database connection behind a mutex (SQLite
//! runs one writer at a time anyway; on PostgreSQL every transaction takes one advisory lock), so its "pool" has one connection. What an operator can
//! watch is how many callers wait for it, how long they wait and how long each holds it:
//! [`lock`] reports those to the observer the server installs with [`observe`]. Without an
//! observer (the CLI's offline commands) nothing is reported.

use crate::db::Conn;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Which store's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// The metadata store (workspaces, keys, identities, role assignments).
    Metadata,
    /// The data-plane store (jobs, sessions, blobs' index).
    Jobs,
}

impl Database {
    /// A short name for labels.
    pub fn name(self) -> &'static str {
        match self {
            Database::Metadata => "metadata",
            Database::Jobs => "jobs",
        }
    }
}

/// One step in the use of a connection.
#[derive(Debug, Clone, Copy)]
pub enum Use {
    /// A caller starts waiting for the connection.
    Waiting(Database),
    /// A caller got the connection after waiting this long.
    Acquired(Database, Duration),
    /// A caller gave the connection back after holding it this long.
    Released(Database, Duration),
}

static OBSERVER: OnceLock<fn(Use)> = OnceLock::new();

/// Installs the process's observer of connection use (the first call wins: one process, one
/// metrics registry).
pub fn observe(observer: fn(Use)) {
    let _ = OBSERVER.set(observer);
}

fn report(u: Use) {
    if let Some(f) = OBSERVER.get() {
        f(u);
    }
}

/// The connection, held; reports how long when dropped.
pub struct ConnGuard<'a> {
    guard: MutexGuard<'a, Conn>,
    database: Database,
    since: Instant,
}

/// Waits for `conn` and reports the wait.
pub(crate) fn lock(conn: &Mutex<Conn>, database: Database) -> ConnGuard<'_> {
    report(Use::Waiting(database));
    let asked = Instant::now();
    // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll back).
    let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
    // A PostgreSQL connection the server closed is reopened before it is used.
    guard.revive();
    let since = Instant::now();
    report(Use::Acquired(database, since - asked));
    ConnGuard {
        guard,
        database,
        since,
    }
}

impl Deref for ConnGuard<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.guard
    }
}

impl DerefMut for ConnGuard<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.guard
    }
}

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        report(Use::Released(self.database, self.since.elapsed()));
    }
}
