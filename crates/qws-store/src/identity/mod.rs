//! The directory and access control: users, service principals (applications and workspace
//! managed identities), groups, role assignments, custom roles and refresh tokens.
//!
//! [`Identity`] is a view over the [`Store`]'s connection, obtained with [`Store::identity`]; it
//! carries the clock (fixed in tests with [`Store::identity_at`]) and the lockout policy. What an
//! access decision reads is cached only while the database's change version is unchanged
//! ([`crate::change`]): a role or membership change is seen by the next call, on every process that shares
//! the database.
//!
//! Secrets are never stored in the clear: passwords as argon2id hashes ([`password`]), client
//! secrets and refresh tokens as HMAC-SHA256 under a key derived from the master key. Plaintext
//! secrets appear only in values returned once at creation, whose `Debug` is redacted.

mod groups;
pub mod password;
mod roles;
mod service_principals;
mod tokens;
mod users;

pub use groups::{Group, GroupMember, MAX_GROUP_MEMBERS};
pub use password::{LockoutPolicy, PasswordError, ARGON2_M_KIB, ARGON2_P, ARGON2_T};
pub use roles::AssignmentRequest;
pub use service_principals::{
    NewSecret, SecretInfo, ServicePrincipal, SpKind, MAX_SECRETS_PER_PRINCIPAL,
};
pub use tokens::{Redeemed, RefreshTokenGrant, REFRESH_TOKEN_PREFIX};
pub use users::{validate_upn, NewUser, SignIn, User, MAX_UPN_LEN};

use crate::db::{Conn, OptionalExtension};
use crate::store::{Store, StoreError};

/// Errors of the identity layer. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The database or the crypto layer failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A required object does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A user principal name is already used in the tenant.
    #[error("a user with the user principal name '{0}' already exists")]
    UpnTaken(String),
    /// The input is malformed; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// A password does not meet the policy.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The role definition named by an assignment does not exist.
    #[error("the role definition '{0}' does not exist")]
    RoleDefinitionNotFound(String),
    /// The role may not be assigned at the requested scope (outside its assignable scopes).
    #[error("the role definition '{role}' is not assignable at scope '{scope}'")]
    RoleNotAssignableAtScope {
        /// Role GUID.
        role: String,
        /// Requested scope.
        scope: String,
    },
    /// The same principal already has the same role at the same scope (ARM `RoleAssignmentExists`).
    #[error("the role assignment already exists (name '{existing}')")]
    AssignmentExists {
        /// The existing assignment's name.
        existing: String,
    },
    /// A PUT to an existing assignment name changed its scope, role or principal
    /// (ARM `RoleAssignmentUpdateNotPermitted`).
    #[error("tenant ID, application ID, principal ID, and scope are not allowed to be updated")]
    AssignmentUpdateNotPermitted,
    /// The principal named by an assignment does not exist (ARM `PrincipalNotFound`).
    #[error("principal {0} does not exist in the directory")]
    PrincipalNotFound(String),
    /// A custom role name is already used (ARM `RoleDefinitionWithSameNameExists`).
    #[error("a role definition named '{0}' already exists")]
    RoleNameTaken(String),
    /// A built-in role cannot be changed or deleted.
    #[error("built-in role definitions cannot be changed")]
    BuiltInRole,
    /// A custom role still has assignments (ARM `RoleDefinitionHasAssignments`).
    #[error("the role definition has {0} assignment(s); delete them first")]
    RoleHasAssignments(usize),
    /// A bound was reached (for example, client secrets per principal).
    #[error("{0}")]
    LimitReached(String),
}

/// The store's view of an identity failure, for callers that speak [`StoreError`] (such as the
/// server's blocking-database helper): a store failure stays itself, any other identity error is
/// reported as a refusal of the data (`Corrupt`) with its message.
impl From<IdentityError> for StoreError {
    fn from(e: IdentityError) -> StoreError {
        match e {
            IdentityError::Store(e) => e,
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

impl From<crate::db::Error> for IdentityError {
    fn from(e: crate::db::Error) -> Self {
        IdentityError::Store(StoreError::Db(e))
    }
}

impl From<crate::crypto::CryptoError> for IdentityError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        IdentityError::Store(StoreError::Crypto(e))
    }
}

/// Result alias.
pub type IdResult<T> = std::result::Result<T, IdentityError>;

/// What kind of directory object an object id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectKind {
    /// A user.
    User,
    /// A service principal (application or managed identity).
    ServicePrincipal,
    /// A group.
    Group,
}

impl ObjectKind {
    /// Stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::User => "User",
            ObjectKind::ServicePrincipal => "ServicePrincipal",
            ObjectKind::Group => "Group",
        }
    }

    fn parse(s: &str) -> Option<ObjectKind> {
        match s {
            "User" => Some(ObjectKind::User),
            "ServicePrincipal" => Some(ObjectKind::ServicePrincipal),
            "Group" => Some(ObjectKind::Group),
            _ => None,
        }
    }

    /// The role-assignment principal type for this kind.
    pub fn principal_type(self) -> qws_core::rbac::PrincipalType {
        match self {
            ObjectKind::User => qws_core::rbac::PrincipalType::User,
            ObjectKind::ServicePrincipal => qws_core::rbac::PrincipalType::ServicePrincipal,
            ObjectKind::Group => qws_core::rbac::PrincipalType::Group,
        }
    }
}

/// Any directory object, by its common attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryObject {
    /// Object id.
    pub object_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Kind.
    pub kind: ObjectKind,
    /// Display name.
    pub display_name: String,
    /// Whether it may sign in (always true for groups).
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// The identity API; see the module documentation.
pub struct Identity<'a> {
    store: &'a Store,
    now: Option<i64>,
    lockout: LockoutPolicy,
}

impl Store {
    /// The identity API on the real clock, with the default lockout policy.
    pub fn identity(&self) -> Identity<'_> {
        Identity {
            store: self,
            now: None,
            lockout: LockoutPolicy::default(),
        }
    }

    /// The identity API with the clock fixed at `now` (unix seconds), for tests.
    pub fn identity_at(&self, now: i64) -> Identity<'_> {
        Identity {
            store: self,
            now: Some(now),
            lockout: LockoutPolicy::default(),
        }
    }
}

impl<'a> Identity<'a> {
    /// Uses `policy` for failed sign-ins instead of the default.
    pub fn with_lockout(mut self, policy: LockoutPolicy) -> Self {
        self.lockout = policy;
        self
    }

    fn now(&self) -> i64 {
        self.now
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp())
    }

    fn conn(&self) -> crate::pool::ConnGuard<'a> {
        self.store.conn()
    }

    fn crypto(&self) -> &'a crate::crypto::Crypto {
        self.store.crypto()
    }

    /// Looks up any directory object by object id.
    pub fn object(&self, object_id: &str) -> IdResult<Option<DirectoryObject>> {
        object_in(&self.conn(), object_id)
    }

    /// Enables or disables a user or service principal. Disabling revokes its refresh tokens at
    /// once; access tokens already issued stay valid until they expire, as with Entra ID.
    pub fn set_enabled(&self, object_id: &str, enabled: bool) -> IdResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE id_objects SET enabled = ?2 WHERE object_id = ?1 AND kind IN ('User', 'ServicePrincipal')",
            crate::db::params![object_id.to_ascii_lowercase(), enabled],
        )?;
        if n == 0 {
            return Err(IdentityError::NotFound("principal"));
        }
        if !enabled {
            tokens::revoke_all_in(&tx, &object_id.to_ascii_lowercase())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Changes a display name.
    pub fn set_display_name(&self, object_id: &str, display_name: &str) -> IdResult<()> {
        let name = validate_display_name(display_name)?;
        let n = self.conn().execute(
            "UPDATE id_objects SET display_name = ?2 WHERE object_id = ?1",
            crate::db::params![object_id.to_ascii_lowercase(), name],
        )?;
        if n == 0 {
            return Err(IdentityError::NotFound("directory object"));
        }
        Ok(())
    }

    /// Deletes a user, application service principal or group, with its secrets, memberships and
    /// refresh tokens (a managed identity is refused: it goes with its workspace). Role assignments naming it are kept, as Azure keeps them (they grant nothing, since
    /// nothing can sign in as the deleted object). Returns whether it existed.
    pub fn delete_object(&self, object_id: &str) -> IdResult<bool> {
        let oid = object_id.to_ascii_lowercase();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let managed: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM id_service_principals WHERE object_id = ?1 AND sp_type = 'ManagedIdentity'",
                [&oid],
                |r| r.get(0),
            )
            .optional()?;
        if managed.is_some() {
            // As on Azure: a system-assigned identity lives and dies with its workspace.
            return Err(IdentityError::Invalid(
                "a managed identity is deleted with its workspace, not directly".into(),
            ));
        }
        tokens::revoke_all_in(&tx, &oid)?;
        let n = tx.execute("DELETE FROM id_objects WHERE object_id = ?1", [&oid])?;
        tx.commit()?;
        Ok(n > 0)
    }
}

pub(crate) fn object_in(conn: &Conn, object_id: &str) -> IdResult<Option<DirectoryObject>> {
    let row = conn
        .query_row(
            "SELECT object_id, tenant_id, kind, display_name, enabled, created_at FROM id_objects WHERE object_id = ?1",
            [object_id.to_ascii_lowercase()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            },
        )
        .optional()?;
    row.map(
        |(object_id, tenant_id, kind, display_name, enabled, created_at)| {
            Ok(DirectoryObject {
                object_id,
                tenant_id,
                kind: ObjectKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("object kind '{kind}'")))?,
                display_name,
                enabled,
                created_at,
            })
        },
    )
    .transpose()
}

/// Longest display name accepted (Entra allows 256).
pub const MAX_DISPLAY_NAME_LEN: usize = 256;

fn validate_display_name(s: &str) -> IdResult<&str> {
    let t = s.trim();
    if t.is_empty() {
        return Err(IdentityError::Invalid("a display name is required".into()));
    }
    if t.chars().count() > MAX_DISPLAY_NAME_LEN {
        return Err(IdentityError::Invalid(format!(
            "a display name is at most {MAX_DISPLAY_NAME_LEN} characters"
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(IdentityError::Invalid(
            "a display name must not contain control characters".into(),
        ));
    }
    Ok(t)
}

fn new_guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn insert_object(
    conn: &Conn,
    object_id: &str,
    tenant_id: &str,
    kind: ObjectKind,
    display_name: &str,
    description: Option<&str>,
    now: i64,
) -> IdResult<()> {
    conn.execute(
        "INSERT INTO id_objects (object_id, tenant_id, kind, display_name, description, enabled, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
        crate::db::params![object_id, tenant_id, kind.as_str(), display_name, description, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;

/// What a principal's roles grant: its assignments (own and its groups') and the custom roles
/// they name.
#[derive(Debug, Default)]
pub struct AccessGrants {
    /// The assignments, at every scope.
    pub assignments: Vec<qws_core::rbac::RoleAssignment>,
    /// The custom roles they name.
    pub custom_roles: Vec<qws_core::rbac::RoleDefinition>,
}

/// Principals' [`AccessGrants`], valid only at the change version they were read at (see
/// [`crate::change`]). Bounded: emptied when full.
#[derive(Debug)]
pub struct AccessCache(crate::change::VersionedCache<String, std::sync::Arc<AccessGrants>>);

/// Most principals cached at once.
const ACCESS_CACHE_MAX: usize = 4096;

impl Default for AccessCache {
    fn default() -> Self {
        AccessCache(crate::change::VersionedCache::new(ACCESS_CACHE_MAX))
    }
}

impl AccessCache {
    fn get(&self, principal: &str, version: u64) -> Option<std::sync::Arc<AccessGrants>> {
        self.0.get(version, &principal.to_string())
    }

    fn put(&self, principal: String, version: u64, grants: std::sync::Arc<AccessGrants>) {
        self.0.put(version, principal, grants)
    }
}
