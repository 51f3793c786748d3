//! Schema migrations, tracked with SQLite's `user_version`.

use rusqlite::Connection;

/// Each entry migrates from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    k TEXT PRIMARY KEY,
    v BLOB NOT NULL
);
CREATE TABLE subscriptions (
    id TEXT PRIMARY KEY,              -- lower-case GUID
    tenant_id TEXT NOT NULL,
    display_name TEXT NOT NULL
);
CREATE TABLE principals (
    client_id TEXT PRIMARY KEY,
    object_id TEXT NOT NULL UNIQUE,
    tenant_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    secret_hash BLOB NOT NULL,        -- HMAC-SHA256 under a master-key-derived key
    is_admin INTEGER NOT NULL
);
CREATE TABLE resource_groups (
    subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
    name_key TEXT NOT NULL,           -- lower case, for ARM's case-insensitive lookup
    name TEXT NOT NULL,               -- as created
    location TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, name_key)
);
CREATE TABLE workspaces (
    uid TEXT PRIMARY KEY,             -- internal id, bound into the keys' associated data
    subscription_id TEXT NOT NULL,
    rg_key TEXT NOT NULL,
    name_key TEXT NOT NULL,
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    tags TEXT NOT NULL,
    providers TEXT NOT NULL,
    storage_account TEXT,
    identity_type TEXT,
    identity_principal_id TEXT,
    api_key_enabled INTEGER NOT NULL,
    workspace_kind TEXT NOT NULL,
    etag TEXT NOT NULL,
    created_at INTEGER NOT NULL,      -- unix nanoseconds
    created_by TEXT NOT NULL,
    created_by_type TEXT NOT NULL,
    modified_at INTEGER NOT NULL,
    modified_by TEXT NOT NULL,
    modified_by_type TEXT NOT NULL,
    UNIQUE (subscription_id, rg_key, name_key),
    FOREIGN KEY (subscription_id, rg_key) REFERENCES resource_groups(subscription_id, name_key)
);
CREATE TABLE workspace_keys (
    workspace_uid TEXT NOT NULL REFERENCES workspaces(uid) ON DELETE CASCADE,
    slot TEXT NOT NULL,               -- Primary | Secondary
    version INTEGER NOT NULL,         -- bumped on every regeneration; part of the AAD
    sealed BLOB NOT NULL,             -- AES-256-GCM(nonce || ct || tag), AAD = uid|slot|version
    fingerprint BLOB NOT NULL,        -- HMAC-SHA256 of the key, for lookup
    created_at INTEGER NOT NULL,      -- unix seconds
    PRIMARY KEY (workspace_uid, slot)
);
CREATE INDEX workspace_keys_fp ON workspace_keys(fingerprint);
CREATE TABLE operations (
    id TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    location TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time INTEGER NOT NULL,
    end_time INTEGER
);
"#,
    // Data plane: jobs and sessions, job-container ownership, quota usage.
    r#"
CREATE TABLE dp_items (
    workspace_uid TEXT NOT NULL,
    id TEXT NOT NULL,                 -- job/session id as the client chose it
    item_type TEXT NOT NULL,          -- Job | Session
    session_id TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,      -- unix nanoseconds
    doc TEXT NOT NULL,                -- the JSON document served to clients
    PRIMARY KEY (workspace_uid, id)
);
CREATE INDEX dp_items_list ON dp_items(workspace_uid, item_type, created_at);
CREATE INDEX dp_items_status ON dp_items(status) WHERE status IN ('Waiting', 'Executing');
CREATE TABLE dp_containers (
    container TEXT PRIMARY KEY,
    workspace_uid TEXT NOT NULL
);
CREATE TABLE dp_quota_usage (
    workspace_uid TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    period TEXT NOT NULL,             -- YYYY-MM
    used INTEGER NOT NULL,
    PRIMARY KEY (workspace_uid, provider_id, period)
);
"#,
    // Workspace names are unique per region: index the per-create lookup. Not UNIQUE, because
    // databases written before the rule was enforced may already hold such duplicates; the
    // rule itself is enforced inside `put_workspace`'s transaction.
    r#"
CREATE INDEX workspaces_name_location ON workspaces(name_key, location);
"#,
    // Poison-job containment: how many times the scheduler has started preparing or running a
    // job. A job whose attempts were all cut short by the process dying is failed, not retried
    // for ever.
    r#"
ALTER TABLE dp_items ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
"#,
    // Typed job model (job lists filtered, ordered and paged in SQL): the fields the list
    // filter can name, as it compares them (text lower-cased, `creationTime` in unix
    // nanoseconds), kept up to date by every write of a document. `q_indexed = 0` marks rows
    // written before this migration; `JobStore::open` fills them in. Indexes serve the
    // filters clients send: `CreationTime` ranges and order, `Target`, `State`, sessions.
    r#"
ALTER TABLE dp_items ADD COLUMN q_indexed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE dp_items ADD COLUMN q_id TEXT;
ALTER TABLE dp_items ADD COLUMN q_name TEXT;
ALTER TABLE dp_items ADD COLUMN q_item_type TEXT;
ALTER TABLE dp_items ADD COLUMN q_job_type TEXT;
ALTER TABLE dp_items ADD COLUMN q_provider TEXT;
ALTER TABLE dp_items ADD COLUMN q_target TEXT;
ALTER TABLE dp_items ADD COLUMN q_status TEXT;
ALTER TABLE dp_items ADD COLUMN q_session TEXT;
ALTER TABLE dp_items ADD COLUMN q_priority TEXT;
ALTER TABLE dp_items ADD COLUMN q_created INTEGER;
CREATE INDEX dp_items_q_created ON dp_items(workspace_uid, item_type, q_created);
CREATE INDEX dp_items_q_target ON dp_items(workspace_uid, item_type, q_target, q_created);
CREATE INDEX dp_items_q_status ON dp_items(workspace_uid, item_type, q_status, q_created);
CREATE INDEX dp_items_session ON dp_items(workspace_uid, session_id, created_at);
CREATE INDEX dp_items_unindexed ON dp_items(q_indexed) WHERE q_indexed = 0;
"#,
];

/// Brings the database to the newest schema.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
