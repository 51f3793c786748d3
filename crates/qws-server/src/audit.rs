//! Append-only audit log: one JSON object per line in `DATA_DIR/audit.log`, opened with
//! `O_APPEND` so concurrent writers never interleave partial lines. Events name principals,
//! actions and targets; they never carry key material or secrets.

use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// File name in the data directory.
pub const AUDIT_FILE: &str = "audit.log";

/// One audit record.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    /// RFC 3339 UTC.
    pub time: String,
    /// Who: `app:{clientId}` / `anonymous` / `msi:{clientId}`; `app:<invalid>` for a token
    /// request whose `client_id` is not a GUID (it may be a secret in the wrong field, so it is
    /// never written).
    pub principal: String,
    /// What, e.g. `Microsoft.Quantum/Workspaces/listKeys/action` or `authenticate`.
    pub action: String,
    /// The resource id or endpoint.
    pub target: String,
    /// `success`, `denied`, `failure: <reason code>`.
    pub outcome: String,
    /// Client IP address.
    pub client: String,
}

/// The audit log writer.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .finish()
    }
}

impl AuditLog {
    /// Opens (creating, mode 0600) the log for appending.
    pub fn open(dir: &Path) -> std::io::Result<AuditLog> {
        let path = dir.join(AUDIT_FILE);
        let mut opts = std::fs::OpenOptions::new();
        opts.append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(&path)?;
        Ok(AuditLog {
            path,
            file: Mutex::new(file),
        })
    }

    /// Appends an event (one `write` call per line). Errors are returned so that callers of
    /// key operations can fail closed.
    pub fn record(&self, event: &AuditEvent) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(&line)
    }

    /// Path of the log.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Now, formatted for events.
pub fn now() -> String {
    qws_core::time_fmt::arm_precise(time::OffsetDateTime::now_utc())
}
