//! Append-only audit log: one JSON object per line in `DATA_DIR/audit.log`, opened with
//! `O_APPEND` so concurrent writers never interleave partial lines. Events name principals,
//! actions and targets; they never carry key material or secrets.
//!
//! The log rotates by size and age ([`AuditRotation`]) into `audit.log.1` … `audit.log.N`;
//! [`query`] reads all of them as a workspace's activity log.

use serde::{Serialize, Serializer};
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

pub mod query;

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
    /// What was done or attempted.
    pub action: AuditAction,
    /// The resource id or endpoint.
    pub target: String,
    /// `success`, `denied`, `failure: <reason code>`.
    pub outcome: String,
    /// Client IP address.
    pub client: String,
}

/// What an audit record is about. Written as the same strings audit.log has always held
/// ([`AuditAction::as_str`]), so existing readers of the log keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A failed ARM bearer-token authentication (`authenticate`).
    Authenticate,
    /// A failed data-plane key or token authentication (`dataplane/authenticate`).
    DataPlaneAuthenticate,
    /// A refused blob SAS (`blob/authenticate`).
    BlobAuthenticate,
    /// A failed client-credentials token request (`token`).
    Token,
    /// A managed-identity token, issued or refused (`msi/token`).
    MsiToken,
    /// A failed interactive sign-in: a password on a sign-in page or a device user code
    /// (`signin`).
    SignIn,
    /// A workspace was created (`createWorkspace`).
    CreateWorkspace,
    /// A workspace was deleted (`deleteWorkspace`).
    DeleteWorkspace,
    /// A workspace was deleted with its resource group (`Microsoft.Quantum/Workspaces/delete`).
    DeleteWorkspaceWithGroup,
    /// Access keys were enabled (`enableKeys`).
    EnableKeys,
    /// Access keys were disabled (`disableKeys`).
    DisableKeys,
    /// Access keys were listed (`listKeys`).
    ListKeys,
    /// Access keys were regenerated, or the attempt was refused (`regenerateKey`).
    RegenerateKey,
    /// A workspace access token was created (`Microsoft.Quantum/Workspaces/accessTokens/write`).
    AccessTokenCreate,
    /// A workspace access token was revoked (`Microsoft.Quantum/Workspaces/accessTokens/delete`).
    AccessTokenRevoke,
    /// A role assignment was created or updated (`Microsoft.Authorization/roleAssignments/write`).
    RoleAssignmentWrite,
    /// A role assignment was deleted (`Microsoft.Authorization/roleAssignments/delete`).
    RoleAssignmentDelete,
    /// A custom role was created or updated (`Microsoft.Authorization/roleDefinitions/write`).
    RoleDefinitionWrite,
    /// A custom role was deleted (`Microsoft.Authorization/roleDefinitions/delete`).
    RoleDefinitionDelete,
    /// A user was created (`Microsoft.Directory/users/create`).
    UserCreate,
    /// A user was updated (`Microsoft.Directory/users/update`).
    UserUpdate,
    /// A user's password was reset (`Microsoft.Directory/users/password/update`).
    UserPasswordUpdate,
    /// A user was deleted (`Microsoft.Directory/users/delete`).
    UserDelete,
    /// A service principal was created (`Microsoft.Directory/servicePrincipals/create`).
    ServicePrincipalCreate,
    /// A service principal was updated (`Microsoft.Directory/servicePrincipals/update`).
    ServicePrincipalUpdate,
    /// A service principal was deleted (`Microsoft.Directory/servicePrincipals/delete`).
    ServicePrincipalDelete,
    /// A client secret was added, reset or removed (`Microsoft.Directory/servicePrincipals/credentials/update`).
    ServicePrincipalCredentialsUpdate,
    /// A group was created (`Microsoft.Directory/groups/create`).
    GroupCreate,
    /// A group was deleted (`Microsoft.Directory/groups/delete`).
    GroupDelete,
    /// A group member was added or removed (`Microsoft.Directory/groups/members/update`).
    GroupMembersUpdate,
    /// A storage account was created (`Microsoft.Storage/storageAccounts/write`).
    StorageAccountCreate,
    /// A storage account was deleted with its blob data (`Microsoft.Storage/storageAccounts/delete`).
    StorageAccountDelete,
    /// A template deployment was started (`Microsoft.Resources/deployments/write`).
    DeploymentWrite,
    /// A job webhook was registered (`Microsoft.Quantum/Workspaces/webhooks/write`).
    WebhookCreate,
    /// A job webhook was deleted (`Microsoft.Quantum/Workspaces/webhooks/delete`).
    WebhookDelete,
}

impl AuditAction {
    /// Every action (for tests and documentation).
    pub const ALL: [AuditAction; 35] = [
        AuditAction::Authenticate,
        AuditAction::DataPlaneAuthenticate,
        AuditAction::BlobAuthenticate,
        AuditAction::Token,
        AuditAction::MsiToken,
        AuditAction::SignIn,
        AuditAction::CreateWorkspace,
        AuditAction::DeleteWorkspace,
        AuditAction::DeleteWorkspaceWithGroup,
        AuditAction::EnableKeys,
        AuditAction::DisableKeys,
        AuditAction::ListKeys,
        AuditAction::RegenerateKey,
        AuditAction::AccessTokenCreate,
        AuditAction::AccessTokenRevoke,
        AuditAction::RoleAssignmentWrite,
        AuditAction::RoleAssignmentDelete,
        AuditAction::RoleDefinitionWrite,
        AuditAction::RoleDefinitionDelete,
        AuditAction::UserCreate,
        AuditAction::UserUpdate,
        AuditAction::UserPasswordUpdate,
        AuditAction::UserDelete,
        AuditAction::ServicePrincipalCreate,
        AuditAction::ServicePrincipalUpdate,
        AuditAction::ServicePrincipalDelete,
        AuditAction::ServicePrincipalCredentialsUpdate,
        AuditAction::GroupCreate,
        AuditAction::GroupDelete,
        AuditAction::GroupMembersUpdate,
        AuditAction::StorageAccountCreate,
        AuditAction::StorageAccountDelete,
        AuditAction::DeploymentWrite,
        AuditAction::WebhookCreate,
        AuditAction::WebhookDelete,
    ];

    /// The text written to the log.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditAction::Authenticate => "authenticate",
            AuditAction::DataPlaneAuthenticate => "dataplane/authenticate",
            AuditAction::BlobAuthenticate => "blob/authenticate",
            AuditAction::Token => "token",
            AuditAction::MsiToken => "msi/token",
            AuditAction::SignIn => "signin",
            AuditAction::CreateWorkspace => "createWorkspace",
            AuditAction::DeleteWorkspace => "deleteWorkspace",
            AuditAction::DeleteWorkspaceWithGroup => "Microsoft.Quantum/Workspaces/delete",
            AuditAction::EnableKeys => "enableKeys",
            AuditAction::DisableKeys => "disableKeys",
            AuditAction::ListKeys => "listKeys",
            AuditAction::RegenerateKey => "regenerateKey",
            AuditAction::AccessTokenCreate => "Microsoft.Quantum/Workspaces/accessTokens/write",
            AuditAction::AccessTokenRevoke => "Microsoft.Quantum/Workspaces/accessTokens/delete",
            AuditAction::RoleAssignmentWrite => "Microsoft.Authorization/roleAssignments/write",
            AuditAction::RoleAssignmentDelete => "Microsoft.Authorization/roleAssignments/delete",
            AuditAction::RoleDefinitionWrite => "Microsoft.Authorization/roleDefinitions/write",
            AuditAction::RoleDefinitionDelete => "Microsoft.Authorization/roleDefinitions/delete",
            AuditAction::UserCreate => "Microsoft.Directory/users/create",
            AuditAction::UserUpdate => "Microsoft.Directory/users/update",
            AuditAction::UserPasswordUpdate => "Microsoft.Directory/users/password/update",
            AuditAction::UserDelete => "Microsoft.Directory/users/delete",
            AuditAction::ServicePrincipalCreate => "Microsoft.Directory/servicePrincipals/create",
            AuditAction::ServicePrincipalUpdate => "Microsoft.Directory/servicePrincipals/update",
            AuditAction::ServicePrincipalDelete => "Microsoft.Directory/servicePrincipals/delete",
            AuditAction::ServicePrincipalCredentialsUpdate => {
                "Microsoft.Directory/servicePrincipals/credentials/update"
            }
            AuditAction::GroupCreate => "Microsoft.Directory/groups/create",
            AuditAction::GroupDelete => "Microsoft.Directory/groups/delete",
            AuditAction::GroupMembersUpdate => "Microsoft.Directory/groups/members/update",
            AuditAction::StorageAccountCreate => "Microsoft.Storage/storageAccounts/write",
            AuditAction::StorageAccountDelete => "Microsoft.Storage/storageAccounts/delete",
            AuditAction::DeploymentWrite => "Microsoft.Resources/deployments/write",
            AuditAction::WebhookCreate => "Microsoft.Quantum/Workspaces/webhooks/write",
            AuditAction::WebhookDelete => "Microsoft.Quantum/Workspaces/webhooks/delete",
        }
    }
}

impl AuditAction {
    /// The action whose text is `name` (the ARM and directory action names double as audit
    /// actions for the changes they make).
    pub fn named(name: &str) -> Option<AuditAction> {
        AuditAction::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuditAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// When the log is rotated and how many rotated files are kept (`--audit-max-size`,
/// `--audit-max-age`, `--audit-keep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRotation {
    /// Rotate before a line would take the live log past this many bytes (0: never by size).
    pub max_bytes: u64,
    /// Rotate when the live log's first line is older than this (zero: never by age). Checked
    /// on the next write, so an idle log is not rotated until something happens.
    pub max_age: Duration,
    /// Rotated files kept (`audit.log.1` newest … `audit.log.N` oldest); older ones are deleted.
    pub keep: usize,
}

impl AuditRotation {
    /// The defaults: 64 MiB or 30 days per file, 10 files kept.
    pub const DEFAULT: AuditRotation = AuditRotation {
        max_bytes: 64 << 20,
        max_age: Duration::from_secs(30 * 24 * 3600),
        keep: 10,
    };
}

/// The live file and what rotation needs to know about it.
struct LiveFile {
    file: File,
    /// Bytes in the file.
    len: u64,
    /// When its first line was written (or, for a file found at start-up, its modification
    /// time at the latest).
    started: SystemTime,
}

/// The audit log writer. One mutex covers appending *and* rotating, so no line can be written
/// to a file that is being renamed away: every accepted line ends up in exactly one file.
pub struct AuditLog {
    dir: PathBuf,
    path: PathBuf,
    rotation: AuditRotation,
    live: Mutex<LiveFile>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("path", &self.path)
            .field("rotation", &self.rotation)
            .finish()
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// The time of the first line of the log at `path` (a log found at start-up: its age counts
/// from its first line, however long the server was stopped).
fn first_line_time(path: &Path) -> Option<SystemTime> {
    use std::io::{BufRead, Read};
    let f = File::open(path).ok()?;
    let mut line = Vec::new();
    std::io::BufReader::new(f)
        .take(64 * 1024)
        .read_until(b'\n', &mut line)
        .ok()?;
    let event: query::StoredEvent = serde_json::from_slice(&line).ok()?;
    let t =
        time::OffsetDateTime::parse(&event.time, &time::format_description::well_known::Rfc3339)
            .ok()?;
    Some(SystemTime::from(t))
}

/// Name of the `n`th rotated file (1 is the newest).
pub fn rotated_name(n: usize) -> String {
    format!("{AUDIT_FILE}.{n}")
}

impl AuditLog {
    /// Opens (creating, mode 0600) the log for appending, with the default rotation.
    pub fn open(dir: &Path) -> std::io::Result<AuditLog> {
        AuditLog::open_with(dir, AuditRotation::DEFAULT)
    }

    /// Opens (creating, mode 0600) the log for appending.
    pub fn open_with(dir: &Path, rotation: AuditRotation) -> std::io::Result<AuditLog> {
        let path = dir.join(AUDIT_FILE);
        let file = open_append(&path)?;
        let meta = file.metadata()?;
        let started = if meta.len() == 0 {
            SystemTime::now()
        } else {
            first_line_time(&path).unwrap_or(meta.modified()?)
        };
        Ok(AuditLog {
            dir: dir.to_path_buf(),
            path,
            rotation,
            live: Mutex::new(LiveFile {
                file,
                len: meta.len(),
                started,
            }),
        })
    }

    /// Appends an event (one `write` call per line), rotating first when the line would
    /// overflow the file or the file is too old. Errors are returned so that callers of key
    /// operations can fail closed.
    pub fn record(&self, event: &AuditEvent) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if self.due(&live, line.len() as u64) {
            self.rotate(&mut live)?;
        }
        live.file.write_all(&line)?;
        if live.len == 0 {
            live.started = SystemTime::now();
        }
        live.len += line.len() as u64;
        Ok(())
    }

    fn due(&self, live: &LiveFile, adding: u64) -> bool {
        if live.len == 0 {
            return false;
        }
        let r = &self.rotation;
        let too_big = r.max_bytes > 0 && live.len + adding > r.max_bytes;
        let too_old =
            !r.max_age.is_zero() && live.started.elapsed().is_ok_and(|age| age >= r.max_age);
        too_big || too_old
    }

    /// Shifts `audit.log.N` → `N+1` (dropping the oldest), renames the live file to
    /// `audit.log.1` and starts a new one. Runs under the writers' lock.
    fn rotate(&self, live: &mut LiveFile) -> std::io::Result<()> {
        live.file.sync_data()?;
        let keep = self.rotation.keep.max(1);
        let oldest = self.dir.join(rotated_name(keep));
        match std::fs::remove_file(&oldest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        for n in (1..keep).rev() {
            let from = self.dir.join(rotated_name(n));
            if from.exists() {
                std::fs::rename(&from, self.dir.join(rotated_name(n + 1)))?;
            }
        }
        std::fs::rename(&self.path, self.dir.join(rotated_name(1)))?;
        live.file = open_append(&self.path)?;
        live.len = 0;
        live.started = SystemTime::now();
        Ok(())
    }

    /// Open handles on every file of the log, oldest first (rotated files, then the live one),
    /// taken under the writers' lock so that a rotation cannot make a reader see a file twice
    /// or miss one. Lines appended later to the live file are still read.
    pub fn snapshot(&self) -> std::io::Result<Vec<File>> {
        let _live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let mut files = Vec::new();
        for n in (1..=self.rotation.keep.max(1)).rev() {
            match File::open(self.dir.join(rotated_name(n))) {
                Ok(f) => files.push(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        files.push(File::open(&self.path)?);
        Ok(files)
    }

    /// Path of the live log.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Now, formatted for events.
pub fn now() -> String {
    qws_core::time_fmt::arm_precise(time::OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log's action strings are an interface (people grep and parse audit.log): the enum
    /// must keep writing exactly the strings the free-text actions were.
    #[test]
    fn actions_are_written_as_before() {
        let written: Vec<String> = AuditAction::ALL
            .iter()
            .map(|a| {
                serde_json::to_value(a)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            written,
            [
                "authenticate",
                "dataplane/authenticate",
                "blob/authenticate",
                "token",
                "msi/token",
                "signin",
                "createWorkspace",
                "deleteWorkspace",
                "Microsoft.Quantum/Workspaces/delete",
                "enableKeys",
                "disableKeys",
                "listKeys",
                "regenerateKey",
                "Microsoft.Quantum/Workspaces/accessTokens/write",
                "Microsoft.Quantum/Workspaces/accessTokens/delete",
                "Microsoft.Authorization/roleAssignments/write",
                "Microsoft.Authorization/roleAssignments/delete",
                "Microsoft.Authorization/roleDefinitions/write",
                "Microsoft.Authorization/roleDefinitions/delete",
                "Microsoft.Directory/users/create",
                "Microsoft.Directory/users/update",
                "Microsoft.Directory/users/password/update",
                "Microsoft.Directory/users/delete",
                "Microsoft.Directory/servicePrincipals/create",
                "Microsoft.Directory/servicePrincipals/update",
                "Microsoft.Directory/servicePrincipals/delete",
                "Microsoft.Directory/servicePrincipals/credentials/update",
                "Microsoft.Directory/groups/create",
                "Microsoft.Directory/groups/delete",
                "Microsoft.Directory/groups/members/update",
                "Microsoft.Storage/storageAccounts/write",
                "Microsoft.Storage/storageAccounts/delete",
                "Microsoft.Resources/deployments/write",
                "Microsoft.Quantum/Workspaces/webhooks/write",
                "Microsoft.Quantum/Workspaces/webhooks/delete",
            ]
        );
        let e = AuditEvent {
            time: "t".into(),
            principal: "p".into(),
            action: AuditAction::ListKeys,
            target: "x".into(),
            outcome: "success".into(),
            client: "127.0.0.1".into(),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"time":"t","principal":"p","action":"listKeys","target":"x","outcome":"success","client":"127.0.0.1"}"#
        );
    }
    /// Many threads record while the log rotates every few lines: every line is in exactly one
    /// file, whole, and the number of rotated files is capped.
    #[test]
    fn rotation_under_concurrent_writers_loses_no_line() {
        let dir = tempfile::tempdir().unwrap();
        let rotation = AuditRotation {
            max_bytes: 2_000,
            max_age: Duration::ZERO,
            keep: 1000,
        };
        let log = std::sync::Arc::new(AuditLog::open_with(dir.path(), rotation).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..250 {
                        log.record(&AuditEvent {
                            time: now(),
                            principal: format!("app:{t}"),
                            action: AuditAction::ListKeys,
                            target: format!("/x/{t}/{i}"),
                            outcome: "success".into(),
                            client: "127.0.0.1".into(),
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut targets = std::collections::BTreeSet::new();
        let mut files = 0;
        for e in std::fs::read_dir(dir.path()).unwrap() {
            let e = e.unwrap();
            files += 1;
            let text = std::fs::read_to_string(e.path()).unwrap();
            assert!(
                text.len() as u64 <= rotation.max_bytes,
                "{:?} too big",
                e.path()
            );
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                assert!(targets.insert(v["target"].as_str().unwrap().to_string()));
            }
        }
        assert_eq!(targets.len(), 8 * 250);
        assert!(files > 10, "the log rotated: {files} files");

        // Keeping 3: the oldest files are deleted, the newest lines kept.
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open_with(
            dir.path(),
            AuditRotation {
                keep: 3,
                ..rotation
            },
        )
        .unwrap();
        for i in 0..200 {
            log.record(&AuditEvent {
                time: now(),
                principal: "p".into(),
                action: AuditAction::ListKeys,
                target: format!("/y/{i}"),
                outcome: "success".into(),
                client: "127.0.0.1".into(),
            })
            .unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"]
        );
        let live = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
        assert!(live.contains("\"/y/199\""));
        let snapshot = log.snapshot().unwrap();
        assert_eq!(snapshot.len(), 4);
    }
    /// A log whose first line is older than the age limit is rotated at the next write, also
    /// when it was written before the server started.
    #[test]
    fn an_old_log_is_rotated_at_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let old = AuditEvent {
            time: qws_core::time_fmt::arm_precise(
                time::OffsetDateTime::now_utc() - time::Duration::days(2),
            ),
            principal: "p".into(),
            action: AuditAction::ListKeys,
            target: "/old".into(),
            outcome: "success".into(),
            client: "127.0.0.1".into(),
        };
        let rotation = AuditRotation {
            max_bytes: 0,
            max_age: Duration::from_secs(24 * 3600),
            keep: 5,
        };
        // A young log is not rotated.
        let young = AuditLog::open_with(dir.path(), rotation).unwrap();
        young
            .record(&AuditEvent {
                time: now(),
                ..old.clone()
            })
            .unwrap();
        young.record(&old).unwrap();
        drop(young);
        assert!(!dir.path().join(rotated_name(1)).exists());
        std::fs::remove_file(dir.path().join(AUDIT_FILE)).unwrap();

        let log = AuditLog::open_with(dir.path(), rotation).unwrap();
        log.record(&old).unwrap();
        drop(log);
        let log = AuditLog::open_with(dir.path(), rotation).unwrap();
        log.record(&AuditEvent {
            target: "/new".into(),
            time: now(),
            ..old.clone()
        })
        .unwrap();
        let rotated = std::fs::read_to_string(dir.path().join(rotated_name(1))).unwrap();
        let live = std::fs::read_to_string(dir.path().join(AUDIT_FILE)).unwrap();
        assert!(
            rotated.contains("/old") && !rotated.contains("/new"),
            "{rotated}"
        );
        assert!(live.contains("/new") && !live.contains("/old"), "{live}");
    }
}
