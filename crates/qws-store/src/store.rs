//! The metadata [`Store`] (SQLite or PostgreSQL, through [`crate::db`]).

use crate::crypto::{Crypto, CryptoError};
use crate::db::{params, Conn, DbTarget, OptionalExtension};
use qws_core::keys::{ApiKey, KeySlot};
use qws_core::models::{Provider, Tags};
use qws_core::names::{NameError, ResourceGroupName, SubscriptionId, WorkspaceName};
use qws_core::resource_id::{ResourceGroupId, WorkspaceId};
use std::path::Path;
use std::sync::Mutex;

/// File name of the database in the data directory.
pub const DB_FILE: &str = "qws.db";

/// Store errors. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] crate::db::Error),
    /// The database was written under another master key (every node sharing a database
    /// must use the same one).
    #[error("the master key does not match this database: it was created with another master key (every node sharing a database must use the same QWS_MASTER_KEY or master key file)")]
    WrongMasterKey,
    /// Encryption failed or the master key does not match the data.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A status change the job or session state machine does not allow.
    #[error("illegal status change: {0}")]
    IllegalTransition(String),
    /// Stored JSON is corrupt.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// The resource group does not exist.
    #[error("resource group not found")]
    ResourceGroupNotFound,
    /// The workspace does not exist.
    #[error("workspace not found")]
    WorkspaceNotFound,
    /// A PUT tried to move an existing workspace to another location.
    #[error("workspace exists in location '{existing}'")]
    LocationChange {
        /// The current location.
        existing: String,
    },
    /// Keys are disabled for the workspace.
    #[error("access keys are disabled for this workspace")]
    KeysDisabled,
    /// A create used a workspace name that another workspace already has in that location
    /// (names are unique per region, like the `{name}.{region}` endpoint host they become).
    #[error("workspace name '{name}' is already in use in location '{location}'")]
    NameNotAvailable {
        /// The requested name.
        name: String,
        /// The location in which it is taken.
        location: String,
    },
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Who performed a change (for `systemData`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Display id (client id or user name).
    pub name: String,
    /// `Application`, `User`, `ManagedIdentity` or `Key`.
    pub kind: String,
}

/// A service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Application (client) id.
    pub client_id: String,
    /// Object id (the `oid` claim).
    pub object_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
    /// The bootstrap administrator (it holds Owner on its tenant's subscriptions; code written
    /// before role assignments still grants it everything by this flag).
    pub is_admin: bool,
}

/// A subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// Id.
    pub id: SubscriptionId,
    /// Tenant.
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
}

/// A resource group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGroupRecord {
    /// Subscription.
    pub subscription: SubscriptionId,
    /// Name as created.
    pub name: String,
    /// Location.
    pub location: String,
    /// Tags.
    pub tags: Tags,
}

impl ResourceGroupRecord {
    /// The group's resource id (fails only for a damaged database, as [`WorkspaceRecord::id`]).
    pub fn id(&self) -> std::result::Result<ResourceGroupId, NameError> {
        Ok(ResourceGroupId {
            subscription: self.subscription,
            resource_group: ResourceGroupName::parse(&self.name)?,
        })
    }
}

/// What a workspace PUT asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceSpec {
    /// Normalized location.
    pub location: String,
    /// Tags (replace).
    pub tags: Tags,
    /// Providers.
    pub providers: Vec<Provider>,
    /// Storage account id.
    pub storage_account: Option<String>,
    /// Identity type (`SystemAssigned`, `None`, …) if requested.
    pub identity_type: Option<String>,
    /// Whether access keys are accepted.
    pub api_key_enabled: bool,
    /// `V1` / `V2`.
    pub workspace_kind: String,
}

/// A stored workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspaceRecord {
    /// Internal id (bound into the keys' associated data).
    pub uid: String,
    /// Subscription.
    pub subscription: SubscriptionId,
    /// Resource group name as created.
    pub resource_group: String,
    /// Workspace name as created.
    pub name: String,
    /// Location.
    pub location: String,
    /// Tags.
    pub tags: Tags,
    /// Providers.
    pub providers: Vec<Provider>,
    /// Storage account.
    pub storage_account: Option<String>,
    /// Identity type.
    pub identity_type: Option<String>,
    /// Principal id of the system identity.
    pub identity_principal_id: Option<String>,
    /// Keys enabled.
    pub api_key_enabled: bool,
    /// `V1` / `V2`.
    pub workspace_kind: String,
    /// Changes on every write.
    pub etag: String,
    /// Unix nanoseconds.
    pub created_at: i64,
    /// Creator.
    pub created_by: Actor,
    /// Unix nanoseconds.
    pub modified_at: i64,
    /// Last modifier.
    pub modified_by: Actor,
    /// The operation deleting the workspace, while it runs (`provisioningState: Deleting`).
    pub deleting_op: Option<String>,
}

impl WorkspaceRecord {
    /// The workspace's resource id. Stored names were validated on the way in, so this fails
    /// only for a damaged database.
    pub fn id(&self) -> std::result::Result<WorkspaceId, NameError> {
        Ok(WorkspaceId {
            subscription: self.subscription,
            resource_group: ResourceGroupName::parse(&self.resource_group)?,
            workspace: WorkspaceName::parse(&self.name)?,
        })
    }
}

/// One access key, decrypted.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// Slot.
    pub slot: KeySlot,
    /// The key (redacted in Debug).
    pub key: ApiKey,
    /// Unix seconds.
    pub created_at: i64,
    /// When and from where the key was last accepted (recorded at most once a minute).
    pub last_used: Option<KeyUse>,
}

/// One recorded use of an access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    /// Unix seconds.
    pub at: i64,
    /// The client's IP address.
    pub from: String,
}

/// The keys of a workspace.
#[derive(Debug, Clone)]
pub struct WorkspaceKeys {
    /// Whether keys are enabled.
    pub enabled: bool,
    /// Primary then secondary.
    pub keys: Vec<StoredKey>,
}

/// Result of checking a presented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// The primary key matched.
    Primary,
    /// The secondary key matched.
    Secondary,
    /// Anything else: unknown key, other workspace's key, disabled keys, malformed input.
    Refused,
}

/// A long-running operation record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRecord {
    /// Operation id (GUID).
    pub id: String,
    /// Subscription.
    pub subscription: SubscriptionId,
    /// Location (lower case).
    pub location: String,
    /// Target resource id.
    pub resource_id: String,
    /// `InProgress` / `Succeeded` / `Failed` / `Canceled`.
    pub status: String,
    /// Unix nanoseconds.
    pub start_time: i64,
    /// Unix nanoseconds.
    pub end_time: Option<i64>,
}

/// The metadata store.
pub struct Store {
    conn: Mutex<Conn>,
    crypto: Crypto,
    /// The database-wide counter of access-relevant changes (by any process sharing the
    /// database); every in-memory cache below is valid only at the version it was read at.
    change: Box<dyn crate::change::ChangeVersion>,
    pub(crate) access_cache: crate::identity::AccessCache,
    pub(crate) workspace_cache: credentials::WorkspaceCache,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}

const MASTER_CHECK: &str = "master_key_check";

fn now_nanos() -> i64 {
    let t = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn key_aad(uid: &str, slot: KeySlot, version: i64) -> Vec<u8> {
    format!("qws-access-key|{uid}|{}|{version}", slot.as_str()).into_bytes()
}

/// A read-modify-write transaction that holds the write lock from its start. Two connections
/// write this database (this one and the job store's); a deferred transaction that read first
/// could not upgrade to a write once the other had committed meanwhile (SQLite answers busy at
/// once, without waiting), whereas taking the lock up front waits out the busy timeout.
pub(crate) fn write_tx(conn: &mut Conn) -> crate::db::Result<crate::db::Transaction<'_>> {
    conn.write_transaction()
}

fn new_etag() -> String {
    format!("\"{}\"", uuid::Uuid::new_v4())
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Store {
    /// Opens (creating if needed) `dir/qws.db` in WAL mode and migrates it. Fails if the
    /// master key does not match the one the data was written with.
    pub fn open(dir: &Path, crypto: Crypto) -> Result<Store> {
        Store::open_target(&DbTarget::for_dir(dir), crypto)
    }

    /// Opens the database `target` names (SQLite in a data directory, or PostgreSQL) and
    /// migrates it. Fails with [`StoreError::WrongMasterKey`] if the database was written under
    /// another master key: every node sharing a database must use the same key.
    pub fn open_target(target: &DbTarget, crypto: Crypto) -> Result<Store> {
        let (conn, change): (Conn, Box<dyn crate::change::ChangeVersion>) = match target {
            DbTarget::Sqlite(dir) => {
                let conn = Self::open_sqlite(dir)?;
                let path = dir.join(DB_FILE);
                (
                    conn,
                    Box::new(crate::change::SqliteChangeVersion::open(&path)?),
                )
            }
            DbTarget::Postgres(url) => {
                let mut conn = Conn::connect_postgres(url)?;
                crate::schema::migrate(&mut conn)?;
                (
                    conn,
                    Box::new(crate::change::PostgresChangeVersion::connect(url)?),
                )
            }
        };
        let store = Store {
            conn: Mutex::new(conn),
            crypto,
            change,
            access_cache: Default::default(),
            workspace_cache: Default::default(),
        };
        match store.get_meta(MASTER_CHECK)? {
            Some(sealed) => {
                store
                    .crypto
                    .open(MASTER_CHECK.as_bytes(), &sealed)
                    .map_err(|_| StoreError::WrongMasterKey)?;
            }
            None => {
                let sealed = store.crypto.seal(MASTER_CHECK.as_bytes(), b"qws")?;
                // Two nodes opening a new database at once: the first verifier written wins,
                // and the loser checks its key against it.
                store.conn().execute(
                    "INSERT INTO meta (k, v) VALUES (?1, ?2) ON CONFLICT(k) DO NOTHING",
                    params![MASTER_CHECK, sealed],
                )?;
                let stored = store.get_meta(MASTER_CHECK)?.unwrap_or_default();
                store
                    .crypto
                    .open(MASTER_CHECK.as_bytes(), &stored)
                    .map_err(|_| StoreError::WrongMasterKey)?;
            }
        }
        Ok(store)
    }

    fn open_sqlite(dir: &Path) -> Result<Conn> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            // Created 0600 up front; SQLite gives the -wal/-shm files the same permissions.
            let _ = crate::crypto::create_private_file(&path);
        }
        let conn = rusqlite::Connection::open(&path).map_err(crate::db::Error::from)?;
        let mut conn = Conn::from_sqlite(conn);
        let sqlite = conn.sqlite().expect("a SQLite connection");
        sqlite
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(crate::db::Error::from)?;
        sqlite
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(crate::db::Error::from)?;
        sqlite
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(crate::db::Error::from)?;
        sqlite
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(crate::db::Error::from)?;
        sqlite.set_prepared_statement_cache_capacity(64);
        crate::schema::migrate(&mut conn)?;
        Ok(conn)
    }

    /// The current change version (see [`crate::change`]): one primary-key read on a connection
    /// of its own, cheap enough for every request.
    pub fn change_version(&self) -> Result<u64> {
        self.change.change_version()
    }

    /// The crypto helper (for fingerprints and secret hashes).
    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    pub(crate) fn conn(&self) -> crate::pool::ConnGuard<'_> {
        crate::pool::lock(&self.conn, crate::pool::Database::Metadata)
    }

    // ---- meta ----------------------------------------------------------------------------

    /// Reads a raw meta value.
    pub fn get_meta(&self, k: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row("SELECT v FROM meta WHERE k = ?1", [k], |r| r.get(0))
            .optional()?)
    }

    /// Writes a raw meta value.
    pub fn set_meta(&self, k: &str, v: &[u8]) -> Result<()> {
        self.conn().execute(
            "INSERT INTO meta (k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
            params![k, v],
        )?;
        Ok(())
    }

    /// Reads a meta value sealed with [`Store::set_sealed_meta`].
    pub fn get_sealed_meta(&self, k: &str) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
        match self.get_meta(k)? {
            None => Ok(None),
            Some(s) => Ok(Some(self.crypto.open(format!("meta|{k}").as_bytes(), &s)?)),
        }
    }

    /// Stores a secret meta value encrypted under the master key.
    pub fn set_sealed_meta(&self, k: &str, v: &[u8]) -> Result<()> {
        let sealed = self.crypto.seal(format!("meta|{k}").as_bytes(), v)?;
        self.set_meta(k, &sealed)
    }

    // ---- tenant, subscriptions, principals -------------------------------------------------

    /// Creates a subscription.
    pub fn create_subscription(&self, s: &SubscriptionRecord) -> Result<()> {
        self.conn().execute(
            "INSERT INTO subscriptions (id, tenant_id, display_name) VALUES (?1, ?2, ?3)",
            params![s.id.to_string(), s.tenant_id, s.display_name],
        )?;
        Ok(())
    }

    /// All subscriptions.
    pub fn list_subscriptions(&self) -> Result<Vec<SubscriptionRecord>> {
        let conn = self.conn();
        let mut st =
            conn.prepare("SELECT id, tenant_id, display_name FROM subscriptions ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, tenant_id, display_name) = row?;
            out.push(SubscriptionRecord {
                id: SubscriptionId::parse(&id).map_err(|e| StoreError::Corrupt(e.message))?,
                tenant_id,
                display_name,
            });
        }
        Ok(out)
    }

    /// One subscription.
    pub fn get_subscription(&self, id: &SubscriptionId) -> Result<Option<SubscriptionRecord>> {
        Ok(self.list_subscriptions()?.into_iter().find(|s| s.id == *id))
    }

    /// Creates an application service principal with a secret that never expires (stored
    /// hashed), keeping the given ids. An admin (`is_admin`) gets Owner on every subscription of
    /// its tenant. Kept for the bootstrap; new code uses [`Store::identity`].
    pub fn create_principal(&self, p: &Principal, secret: &str) -> Result<()> {
        let id = self.identity();
        let sp = id
            .create_service_principal_with_ids(
                &p.tenant_id,
                &p.display_name,
                &p.client_id,
                &p.object_id,
                p.is_admin,
            )
            .map_err(StoreError::from)?;
        id.insert_known_secret(
            &sp.object_id,
            Some("bootstrap"),
            None,
            false,
            zeroize::Zeroizing::new(secret.to_string()),
        )
        .map_err(StoreError::from)?;
        if p.is_admin {
            for s in self.list_subscriptions()? {
                if s.tenant_id != p.tenant_id {
                    continue;
                }
                let scope = qws_core::rbac::Scope::subscription(&s.id);
                id.put_role_assignment(crate::identity::AssignmentRequest {
                    name: &uuid::Uuid::new_v4().to_string(),
                    scope: &scope,
                    role_definition_id: qws_core::rbac::builtin::OWNER,
                    principal_id: &sp.object_id,
                    principal_type: None,
                    description: Some("bootstrap administrator"),
                    actor: None,
                })
                .map_err(StoreError::from)?;
            }
        }
        Ok(())
    }

    /// Verifies a client id + secret (constant-time on the hash). `None` for any failure,
    /// including an expired secret or a disabled principal.
    pub fn authenticate_client(&self, client_id: &str, secret: &str) -> Result<Option<Principal>> {
        Ok(self
            .identity()
            .authenticate_client_secret(client_id, secret)
            .map_err(StoreError::from)?
            .map(principal_of))
    }

    /// Looks a service principal up by object id (the token's `oid`).
    pub fn principal_by_object_id(&self, oid: &str) -> Result<Option<Principal>> {
        Ok(self
            .identity()
            .service_principal(oid)
            .map_err(StoreError::from)?
            .map(principal_of))
    }

    /// Looks a service principal up by client id.
    pub fn principal_by_client_id(&self, client_id: &str) -> Result<Option<Principal>> {
        Ok(self
            .identity()
            .service_principal_by_app_id(client_id)
            .map_err(StoreError::from)?
            .map(principal_of))
    }

    // ---- resource groups -----------------------------------------------------------------

    /// Creates or updates a resource group; returns it and whether it was created.
    pub fn put_resource_group(
        &self,
        group: &ResourceGroupId,
        location: &str,
        tags: &Tags,
    ) -> Result<(ResourceGroupRecord, bool)> {
        let (sub, name, key) = (
            &group.subscription,
            group.resource_group.as_str(),
            group.resource_group.key(),
        );
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let existing: Option<(String, String)> = tx
            .query_row(
                "SELECT name, location FROM resource_groups WHERE subscription_id = ?1 AND name_key = ?2",
                params![sub.to_string(), key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let created = existing.is_none();
        let (name, location) = match existing {
            Some((n, l)) => {
                if l != location {
                    return Err(StoreError::LocationChange { existing: l });
                }
                tx.execute(
                    "UPDATE resource_groups SET tags = ?3 WHERE subscription_id = ?1 AND name_key = ?2",
                    params![sub.to_string(), key, to_json(tags)],
                )?;
                (n, l)
            }
            None => {
                tx.execute(
                    "INSERT INTO resource_groups (subscription_id, name_key, name, location, tags, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![sub.to_string(), key, name, location, to_json(tags), now_nanos()],
                )?;
                (name.to_string(), location.to_string())
            }
        };
        tx.commit()?;
        Ok((
            ResourceGroupRecord {
                subscription: *sub,
                name,
                location,
                tags: tags.clone(),
            },
            created,
        ))
    }

    /// One resource group.
    pub fn get_resource_group(
        &self,
        group: &ResourceGroupId,
    ) -> Result<Option<ResourceGroupRecord>> {
        let sub = &group.subscription;
        let row: Option<(String, String, String)> = self
            .conn()
            .query_row(
                "SELECT name, location, tags FROM resource_groups WHERE subscription_id = ?1 AND name_key = ?2",
                params![sub.to_string(), group.resource_group.key()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(name, location, tags)| {
            Ok(ResourceGroupRecord {
                subscription: *sub,
                name,
                location,
                tags: from_json(&tags)?,
            })
        })
        .transpose()
    }

    /// Resource groups of a subscription, by name.
    pub fn list_resource_groups(&self, sub: &SubscriptionId) -> Result<Vec<ResourceGroupRecord>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT name, location, tags FROM resource_groups WHERE subscription_id = ?1 ORDER BY name_key",
        )?;
        let rows = st.query_map([sub.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (name, location, tags) = row?;
            out.push(ResourceGroupRecord {
                subscription: *sub,
                name,
                location,
                tags: from_json(&tags)?,
            });
        }
        Ok(out)
    }

    /// Deletes a resource group and every workspace in it, with their keys and data-plane rows
    /// (as [`Store::delete_workspace`]). Returns the deleted workspaces' names, or `None` if the
    /// group did not exist.
    pub fn delete_resource_group(&self, group: &ResourceGroupId) -> Result<Option<Vec<String>>> {
        let (sub, key) = (&group.subscription, group.resource_group.key());
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM resource_groups WHERE subscription_id = ?1 AND name_key = ?2",
                params![sub.to_string(), key],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Ok(None);
        }
        let doomed: Vec<(String, String)> = {
            let mut st = tx.prepare(
                "SELECT name, uid FROM workspaces WHERE subscription_id = ?1 AND rg_key = ?2 ORDER BY name_key",
            )?;
            let rows = st.query_map(params![sub.to_string(), key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect::<crate::db::Result<_>>()?
        };
        for (_, uid) in &doomed {
            purge_data_plane(&tx, uid)?;
        }
        let names = doomed.into_iter().map(|(name, _)| name).collect();
        tx.execute(
            "DELETE FROM workspaces WHERE subscription_id = ?1 AND rg_key = ?2",
            params![sub.to_string(), key],
        )?;
        // Storage accounts go with their group (their blob data is purged as orphaned), and
        // so does the group's deployment history.
        for table in ["storage_accounts", "deployments"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE subscription_id = ?1 AND rg_key = ?2"),
                params![sub.to_string(), key],
            )?;
        }
        tx.execute(
            "DELETE FROM resource_groups WHERE subscription_id = ?1 AND name_key = ?2",
            params![sub.to_string(), key],
        )?;
        tx.commit()?;
        Ok(Some(names))
    }

    // ---- workspaces ------------------------------------------------------------------------

    const WS_COLUMNS: &'static str = "uid, subscription_id, name, location, tags, providers, storage_account,
        identity_type, identity_principal_id, api_key_enabled, workspace_kind, etag, created_at, created_by,
        created_by_type, modified_at, modified_by, modified_by_type,
        (SELECT name FROM resource_groups g WHERE g.subscription_id = w.subscription_id AND g.name_key = w.rg_key),
        deleting_op";

    fn ws_from_row(
        r: &crate::db::Row<'_>,
    ) -> crate::db::Result<(WorkspaceRecord, String, String, String)> {
        let sub: String = r.get(1)?;
        Ok((
            WorkspaceRecord {
                uid: r.get(0)?,
                subscription: SubscriptionId::parse(&sub)
                    .unwrap_or(SubscriptionId::from_uuid(uuid::Uuid::nil())),
                resource_group: r.get(18)?,
                name: r.get(2)?,
                location: r.get(3)?,
                tags: Tags::new(),
                providers: Vec::new(),
                storage_account: r.get(6)?,
                identity_type: r.get(7)?,
                identity_principal_id: r.get(8)?,
                api_key_enabled: r.get(9)?,
                workspace_kind: r.get(10)?,
                etag: r.get(11)?,
                created_at: r.get(12)?,
                created_by: Actor {
                    name: r.get(13)?,
                    kind: r.get(14)?,
                },
                modified_at: r.get(15)?,
                modified_by: Actor {
                    name: r.get(16)?,
                    kind: r.get(17)?,
                },
                deleting_op: r.get(19)?,
            },
            r.get(4)?,
            r.get(5)?,
            sub,
        ))
    }

    fn finish_ws(row: (WorkspaceRecord, String, String, String)) -> Result<WorkspaceRecord> {
        let (mut w, tags, providers, _) = row;
        w.tags = from_json(&tags)?;
        w.providers = from_json(&providers)?;
        Ok(w)
    }

    fn query_workspaces(
        conn: &Conn,
        filter: &str,
        args: &[&dyn crate::db::ToSql],
    ) -> Result<Vec<WorkspaceRecord>> {
        let sql = format!(
            "SELECT {} FROM workspaces w WHERE {filter}",
            Self::WS_COLUMNS
        );
        let mut st = conn.prepare(&sql)?;
        let rows = st.query_map(args, Self::ws_from_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(Self::finish_ws(row?)?);
        }
        Ok(out)
    }

    /// One workspace (names case-insensitive).
    pub fn get_workspace(&self, ws: &WorkspaceId) -> Result<Option<WorkspaceRecord>> {
        let conn = self.conn();
        let mut v = Self::query_workspaces(
            &conn,
            "subscription_id = ?1 AND rg_key = ?2 AND name_key = ?3",
            &[
                &ws.subscription.to_string(),
                &ws.resource_group.key(),
                &ws.workspace.key(),
            ],
        )?;
        Ok(v.pop())
    }

    /// The internal id of a workspace (names case-insensitive), without decoding the record:
    /// the cheap first step of an access-key check, equally cheap whether or not it exists.
    pub fn workspace_uid(&self, ws: &WorkspaceId) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT uid FROM workspaces WHERE subscription_id = ?1 AND rg_key = ?2 AND name_key = ?3",
                params![ws.subscription.to_string(), ws.resource_group.key(), ws.workspace.key()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// A workspace by internal id.
    pub fn get_workspace_by_uid(&self, uid: &str) -> Result<Option<WorkspaceRecord>> {
        let conn = self.conn();
        Ok(Self::query_workspaces(&conn, "uid = ?1", &[&uid])?.pop())
    }

    /// A page of workspaces of a subscription (optionally one resource group), ordered by
    /// (resource group, name), strictly after `after` = (rg key, name key).
    pub fn list_workspaces(
        &self,
        sub: &SubscriptionId,
        rg: Option<&ResourceGroupName>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<WorkspaceRecord>> {
        let conn = self.conn();
        let (a_rg, a_name) = after.unwrap_or(("", ""));
        let limit = limit.clamp(1, 1000) as i64;
        match rg {
            Some(rg) => Self::query_workspaces(
                &conn,
                "subscription_id = ?1 AND rg_key = ?2 AND name_key > ?3 ORDER BY name_key LIMIT ?4",
                &[&sub.to_string(), &rg.key(), &a_name, &limit],
            ),
            None => Self::query_workspaces(
                &conn,
                "subscription_id = ?1 AND (rg_key > ?2 OR (rg_key = ?2 AND name_key > ?3))
                 ORDER BY rg_key, name_key LIMIT ?4",
                &[&sub.to_string(), &a_rg, &a_name, &limit],
            ),
        }
    }

    /// Workspaces with this name (any case) in any subscription, at most `limit`.
    pub fn find_workspaces_by_name(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<WorkspaceRecord>> {
        let conn = self.conn();
        Self::query_workspaces(
            &conn,
            "name_key = ?1 ORDER BY subscription_id, rg_key LIMIT ?2",
            &[&name.to_ascii_lowercase(), &(limit.clamp(1, 1000) as i64)],
        )
    }

    /// Whether a workspace with this name exists in this location (any subscription).
    pub fn workspace_name_taken(&self, name: &WorkspaceName, location: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM workspaces WHERE name_key = ?1 AND location = ?2 LIMIT 1",
                params![name.key(), location],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .is_some())
    }

    /// Creates or updates a workspace. On create, generates both access keys. Returns the
    /// record and whether it was created. A create fails with [`StoreError::NameNotAvailable`]
    /// when the name (any case) is taken in the same location by a workspace in any resource
    /// group or subscription.
    pub fn put_workspace(
        &self,
        ws: &WorkspaceId,
        spec: &WorkspaceSpec,
        actor: &Actor,
    ) -> Result<(WorkspaceRecord, bool)> {
        let (sub, name) = (&ws.subscription, ws.workspace.as_str());
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let rg_key = ws.resource_group.key();
        let name_key = ws.workspace.key();
        let rg_exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM resource_groups WHERE subscription_id = ?1 AND name_key = ?2",
                params![sub.to_string(), rg_key],
                |r| r.get(0),
            )
            .optional()?;
        if rg_exists.is_none() {
            return Err(StoreError::ResourceGroupNotFound);
        }
        let existing = Self::query_workspaces(
            &tx,
            "subscription_id = ?1 AND rg_key = ?2 AND name_key = ?3",
            &[&sub.to_string(), &rg_key, &name_key],
        )?
        .pop();
        let now = now_nanos();
        let created = existing.is_none();
        let uid = match existing {
            Some(w) => {
                if w.location != spec.location {
                    return Err(StoreError::LocationChange {
                        existing: w.location,
                    });
                }
                tx.execute(
                    "UPDATE workspaces SET tags = ?2, providers = ?3, storage_account = ?4, identity_type = ?5,
                       identity_principal_id = COALESCE(identity_principal_id, ?6), api_key_enabled = ?7,
                       workspace_kind = ?8, etag = ?9, modified_at = ?10, modified_by = ?11, modified_by_type = ?12
                     WHERE uid = ?1",
                    params![
                        w.uid,
                        to_json(&spec.tags),
                        to_json(&spec.providers),
                        spec.storage_account,
                        spec.identity_type,
                        identity_principal(spec),
                        spec.api_key_enabled,
                        spec.workspace_kind,
                        new_etag(),
                        now,
                        actor.name,
                        actor.kind
                    ],
                )?;
                w.uid
            }
            None => {
                // Checked inside the write transaction (and under the connection lock), so two
                // concurrent creates of one name in one region cannot both succeed.
                let taken: Option<i64> = tx
                    .query_row(
                        "SELECT 1 FROM workspaces WHERE name_key = ?1 AND location = ?2 LIMIT 1",
                        params![name_key, spec.location],
                        |r| r.get(0),
                    )
                    .optional()?;
                if taken.is_some() {
                    return Err(StoreError::NameNotAvailable {
                        name: name.to_string(),
                        location: spec.location.clone(),
                    });
                }
                let uid = uuid::Uuid::new_v4().to_string();
                tx.execute(
                    "INSERT INTO workspaces (uid, subscription_id, rg_key, name_key, name, location, tags, providers,
                       storage_account, identity_type, identity_principal_id, api_key_enabled, workspace_kind, etag,
                       created_at, created_by, created_by_type, modified_at, modified_by, modified_by_type)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?15, ?16, ?17)",
                    params![
                        uid,
                        sub.to_string(),
                        rg_key,
                        name_key,
                        name,
                        spec.location,
                        to_json(&spec.tags),
                        to_json(&spec.providers),
                        spec.storage_account,
                        spec.identity_type,
                        identity_principal(spec),
                        spec.api_key_enabled,
                        spec.workspace_kind,
                        new_etag(),
                        now,
                        actor.name,
                        actor.kind
                    ],
                )?;
                let created_secs = now / 1_000_000_000;
                for slot in KeySlot::ALL {
                    self.write_key(&tx, &uid, slot, 1, created_secs)?;
                }
                uid
            }
        };
        let rec = Self::query_workspaces(&tx, "uid = ?1", &[&uid])?
            .pop()
            .ok_or(StoreError::WorkspaceNotFound)?;
        tx.commit()?;
        Ok((rec, created))
    }

    /// Replaces the tags of a workspace.
    pub fn set_workspace_tags(
        &self,
        ws: &WorkspaceId,
        tags: &Tags,
        actor: &Actor,
    ) -> Result<WorkspaceRecord> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE workspaces SET tags = ?4, etag = ?5, modified_at = ?6, modified_by = ?7, modified_by_type = ?8
             WHERE subscription_id = ?1 AND rg_key = ?2 AND name_key = ?3",
            params![
                ws.subscription.to_string(),
                ws.resource_group.key(),
                ws.workspace.key(),
                to_json(tags),
                new_etag(),
                now_nanos(),
                actor.name,
                actor.kind
            ],
        )?;
        if n == 0 {
            return Err(StoreError::WorkspaceNotFound);
        }
        Self::query_workspaces(
            &conn,
            "subscription_id = ?1 AND rg_key = ?2 AND name_key = ?3",
            &[
                &ws.subscription.to_string(),
                &ws.resource_group.key(),
                &ws.workspace.key(),
            ],
        )?
        .pop()
        .ok_or(StoreError::WorkspaceNotFound)
    }

    /// Deletes a workspace with its keys and its data-plane rows (jobs, sessions, container
    /// ownership, quota usage) in one transaction; returns the deleted record, or `None` if
    /// absent. The blob files are the caller's to remove (see `BlobStore::delete_workspace`).
    pub fn delete_workspace(&self, ws: &WorkspaceId) -> Result<Option<WorkspaceRecord>> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let found = Self::query_workspaces(
            &tx,
            "subscription_id = ?1 AND rg_key = ?2 AND name_key = ?3",
            &[
                &ws.subscription.to_string(),
                &ws.resource_group.key(),
                &ws.workspace.key(),
            ],
        )?
        .pop();
        if let Some(w) = &found {
            purge_data_plane(&tx, &w.uid)?;
            tx.execute("DELETE FROM workspaces WHERE uid = ?1", [&w.uid])?;
        }
        tx.commit()?;
        Ok(found)
    }

    // ---- access keys -----------------------------------------------------------------------

    fn write_key(
        &self,
        conn: &Conn,
        uid: &str,
        slot: KeySlot,
        version: i64,
        created_secs: i64,
    ) -> Result<()> {
        let key = ApiKey::generate().map_err(|_| CryptoError::Random)?;
        let sealed = self
            .crypto
            .seal(&key_aad(uid, slot, version), key.expose().as_bytes())?;
        let fp = self.crypto.key_fingerprint(key.expose());
        conn.execute(
            "INSERT INTO workspace_keys (workspace_uid, slot, version, sealed, fingerprint, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(workspace_uid, slot) DO UPDATE SET version = excluded.version, sealed = excluded.sealed,
               fingerprint = excluded.fingerprint, created_at = excluded.created_at,
               last_used_at = NULL, last_used_from = NULL",
            params![uid, slot.as_str(), version, sealed, fp, created_secs],
        )?;
        Ok(())
    }

    /// Decrypts the keys of a workspace (for listKeys).
    pub fn workspace_keys(&self, uid: &str) -> Result<WorkspaceKeys> {
        let conn = self.conn();
        let enabled: bool = conn
            .query_row(
                "SELECT api_key_enabled FROM workspaces WHERE uid = ?1",
                [uid],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::WorkspaceNotFound)?;
        let mut st = conn.prepare(
            "SELECT slot, version, sealed, created_at, last_used_at, last_used_from
             FROM workspace_keys WHERE workspace_uid = ?1",
        )?;
        let rows = st.query_map([uid], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut keys = Vec::new();
        for row in rows {
            let (slot, version, sealed, created_at, used_at, used_from) = row?;
            let slot =
                KeySlot::parse(&slot).ok_or_else(|| StoreError::Corrupt("key slot".into()))?;
            let plain = self.crypto.open(&key_aad(uid, slot, version), &sealed)?;
            let text =
                std::str::from_utf8(&plain).map_err(|_| StoreError::Corrupt("key text".into()))?;
            keys.push(StoredKey {
                slot,
                key: ApiKey::from_presented(text),
                created_at,
                last_used: used_at.zip(used_from).map(|(at, from)| KeyUse { at, from }),
            });
        }
        keys.sort_by_key(|k| k.slot != KeySlot::Primary);
        Ok(WorkspaceKeys { enabled, keys })
    }

    /// Replaces the named keys with fresh ones in one transaction. Refused while keys are disabled.
    pub fn regenerate_keys(&self, uid: &str, slots: &[KeySlot]) -> Result<()> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let enabled: bool = tx
            .query_row(
                "SELECT api_key_enabled FROM workspaces WHERE uid = ?1",
                [uid],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(StoreError::WorkspaceNotFound)?;
        if !enabled {
            return Err(StoreError::KeysDisabled);
        }
        let now_secs = now_nanos() / 1_000_000_000;
        for slot in slots {
            let version: i64 = tx
                .query_row(
                    "SELECT version FROM workspace_keys WHERE workspace_uid = ?1 AND slot = ?2",
                    params![uid, slot.as_str()],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            self.write_key(&tx, uid, *slot, version + 1, now_secs)?;
        }
        tx.execute(
            "UPDATE workspaces SET etag = ?2 WHERE uid = ?1",
            params![uid, new_etag()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records uses of keys (workspace uid, slot, use) in one transaction. A use older than the
    /// key in the slot (one noted just before a regeneration) is not attributed to the new key.
    pub fn record_key_uses(&self, uses: &[(String, KeySlot, KeyUse)]) -> Result<()> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        {
            let mut st = tx.prepare(
                "UPDATE workspace_keys SET last_used_at = ?3, last_used_from = ?4
                 WHERE workspace_uid = ?1 AND slot = ?2 AND created_at <= ?3",
            )?;
            for (uid, slot, u) in uses {
                st.execute(params![uid, slot.as_str(), u.at, u.from])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The version of the workspace's key in `slot` while that key is usable (the workspace
    /// exists and its keys are enabled), else `None`. A SAS minted for a key caller carries
    /// this version and is refused once it no longer matches.
    pub fn live_key_version(&self, uid: &str, slot: KeySlot) -> Result<Option<i64>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT k.version FROM workspace_keys k JOIN workspaces w ON w.uid = k.workspace_uid
                 WHERE k.workspace_uid = ?1 AND k.slot = ?2 AND w.api_key_enabled = 1",
                params![uid, slot.as_str()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Checks a presented key for a workspace. Every failure is the same [`KeyCheck::Refused`].
    /// The row is found by keyed fingerprint; the decrypted key is then compared in constant time.
    pub fn check_api_key(&self, uid: &str, presented: &str) -> Result<KeyCheck> {
        let fp = self.crypto.key_fingerprint(presented);
        let conn = self.conn();
        let row: Option<(String, i64, Vec<u8>, bool)> = conn
            .query_row(
                "SELECT k.slot, k.version, k.sealed, w.api_key_enabled FROM workspace_keys k
                 JOIN workspaces w ON w.uid = k.workspace_uid
                 WHERE k.workspace_uid = ?1 AND k.fingerprint = ?2",
                params![uid, fp],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((slot, version, sealed, enabled)) = row else {
            return Ok(KeyCheck::Refused);
        };
        let Some(slot) = KeySlot::parse(&slot) else {
            return Ok(KeyCheck::Refused);
        };
        let plain = self.crypto.open(&key_aad(uid, slot, version), &sealed)?;
        let stored = ApiKey::from_presented(std::str::from_utf8(&plain).unwrap_or(""));
        let matches = stored.ct_eq(&ApiKey::from_presented(presented));
        Ok(match (matches && enabled, slot) {
            (true, KeySlot::Primary) => KeyCheck::Primary,
            (true, KeySlot::Secondary) => KeyCheck::Secondary,
            (false, _) => KeyCheck::Refused,
        })
    }

    // ---- operations ------------------------------------------------------------------------

    /// Records a long-running operation.
    pub fn put_operation(&self, op: &OperationRecord) -> Result<()> {
        self.conn().execute(
            "INSERT INTO operations (id, subscription_id, location, resource_id, status, start_time, end_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(id) DO UPDATE SET status = excluded.status, end_time = excluded.end_time",
            params![op.id, op.subscription.to_string(), op.location, op.resource_id, op.status, op.start_time, op.end_time],
        )?;
        Ok(())
    }

    /// Reads an operation.
    pub fn get_operation(&self, id: &str) -> Result<Option<OperationRecord>> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT id, subscription_id, location, resource_id, status, start_time, end_time FROM operations WHERE id = ?1",
                [id],
                |r| {
                    let sub: String = r.get(1)?;
                    Ok((
                        sub,
                        OperationRecord {
                            id: r.get(0)?,
                            subscription: SubscriptionId::from_uuid(uuid::Uuid::nil()),
                            location: r.get(2)?,
                            resource_id: r.get(3)?,
                            status: r.get(4)?,
                            start_time: r.get(5)?,
                            end_time: r.get(6)?,
                        },
                    ))
                },
            )
            .optional()?;
        row.map(|(sub, mut op)| {
            op.subscription =
                SubscriptionId::parse(&sub).map_err(|e| StoreError::Corrupt(e.message))?;
            Ok(op)
        })
        .transpose()
    }
}

/// Removes everything the data plane stored for a workspace. Run inside the transaction that
/// deletes the workspace row, so a namesake created later starts empty: its container names
/// are free again and no job, session or quota count of the old workspace survives. The
/// scheduler's conditional updates of a purged job then find no row and write nothing.
fn purge_data_plane(tx: &Conn, uid: &str) -> Result<()> {
    for table in ["dp_items", "dp_containers", "dp_quota_usage"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE workspace_uid = ?1"),
            [uid],
        )?;
    }
    Ok(())
}

fn principal_of(sp: crate::identity::ServicePrincipal) -> Principal {
    Principal {
        client_id: sp.app_id,
        object_id: sp.object_id,
        tenant_id: sp.tenant_id,
        display_name: sp.display_name,
        is_admin: sp.is_bootstrap_admin,
    }
}

fn identity_principal(spec: &WorkspaceSpec) -> Option<String> {
    match spec.identity_type.as_deref() {
        Some(t) if t.contains("SystemAssigned") => Some(uuid::Uuid::new_v4().to_string()),
        _ => None,
    }
}

mod arm_resources;
mod credentials;
pub use arm_resources::*;
pub use credentials::WorkspaceCredentials;

#[cfg(test)]
mod tests;
