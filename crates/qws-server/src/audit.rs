//! Append-only audit log: one JSON object per line in `DATA_DIR/audit.log`, opened with
//! `O_APPEND` so concurrent writers never interleave partial lines. Events name principals,
//! actions and targets; they never carry key material or secrets.

use serde::{Serialize, Serializer};
use std::fmt;
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
}

impl AuditAction {
    /// Every action (for tests and documentation).
    pub const ALL: [AuditAction; 33] = [
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
}
