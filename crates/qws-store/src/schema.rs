//! Schema migrations: one list, written in SQLite's SQL, tracked with SQLite's `user_version`
//! or, on PostgreSQL, a `qws_schema` row. PostgreSQL runs each migration translated by
//! [`postgres_ddl`], or its own text where the SQLite one uses SQLite-only features
//! ([`postgres_text`]). A new migration is appended to [`MIGRATIONS`]; it needs a PostgreSQL
//! text only when it uses such features (triggers, `randomblob`, `strftime`, …).

use crate::db::{Conn, Dialect};

/// Each entry migrates from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
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
    // Identity and access (issue 9): users, service principals (applications and workspace
    // managed identities), groups, role assignments, custom roles and refresh tokens. The single
    // `principals` table is folded in: each row becomes a service principal keeping its client id,
    // object id and secret hash (HMAC under the same derived key, so the secret keeps working),
    // and the bootstrap administrator gets Owner on every subscription of its tenant. Existing
    // workspace system identities become managed-identity service principals, and triggers keep
    // that true for workspaces created, given an identity, or deleted later.
    r#"
CREATE TABLE id_objects (
    object_id TEXT PRIMARY KEY,       -- lower-case GUID, unique across users, SPs and groups
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,               -- User | ServicePrincipal | Group
    display_name TEXT NOT NULL,
    description TEXT,
    enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL       -- unix seconds
);
CREATE INDEX id_objects_tenant ON id_objects(tenant_id, kind);
CREATE TABLE id_users (
    object_id TEXT PRIMARY KEY REFERENCES id_objects(object_id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    upn TEXT NOT NULL,                -- as created
    upn_key TEXT NOT NULL,            -- lower case
    password_hash TEXT NOT NULL,      -- argon2id PHC string (own random salt)
    password_changed_at INTEGER NOT NULL,
    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, upn_key)
);
CREATE TABLE id_service_principals (
    object_id TEXT PRIMARY KEY REFERENCES id_objects(object_id) ON DELETE CASCADE,
    app_id TEXT NOT NULL UNIQUE,      -- lower case (the client id)
    sp_type TEXT NOT NULL,            -- Application | ManagedIdentity
    workspace_uid TEXT UNIQUE,        -- the workspace a managed identity belongs to
    is_bootstrap_admin INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE id_sp_secrets (
    key_id TEXT PRIMARY KEY,          -- GUID
    object_id TEXT NOT NULL REFERENCES id_service_principals(object_id) ON DELETE CASCADE,
    display_name TEXT,
    hint TEXT NOT NULL,               -- first characters, shown in listings
    secret_hash BLOB NOT NULL,        -- HMAC-SHA256 under a master-key-derived key
    created_at INTEGER NOT NULL,
    expires_at INTEGER                -- unix seconds; NULL only for the migrated bootstrap secret
);
CREATE INDEX id_sp_secrets_sp ON id_sp_secrets(object_id);
CREATE TABLE id_group_members (
    group_id TEXT NOT NULL REFERENCES id_objects(object_id) ON DELETE CASCADE,
    member_id TEXT NOT NULL REFERENCES id_objects(object_id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX id_group_members_member ON id_group_members(member_id);
CREATE TABLE id_role_assignments (
    name TEXT PRIMARY KEY,            -- lower-case GUID
    scope TEXT NOT NULL,              -- normalised
    scope_key TEXT NOT NULL,          -- lower case, for inheritance lookups
    role_definition_id TEXT NOT NULL, -- lower-case GUID
    principal_id TEXT NOT NULL,       -- no foreign key: like Azure, an assignment outlives its principal
    principal_type TEXT NOT NULL,
    description TEXT,
    created_at INTEGER NOT NULL,
    created_by TEXT,
    updated_at INTEGER NOT NULL,
    updated_by TEXT,
    UNIQUE (scope_key, role_definition_id, principal_id)
);
CREATE INDEX id_role_assignments_scope ON id_role_assignments(scope_key);
CREATE INDEX id_role_assignments_principal ON id_role_assignments(principal_id);
CREATE TABLE id_role_definitions (   -- custom roles; built-in roles live in code
    id TEXT PRIMARY KEY,              -- lower-case GUID
    role_name_key TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL,                -- role name, description, permissions, assignable scopes (JSON)
    created_at INTEGER NOT NULL,
    created_by TEXT,
    updated_at INTEGER NOT NULL,
    updated_by TEXT
);
CREATE TABLE id_refresh_tokens (
    token_hash BLOB PRIMARY KEY,      -- keyed hash; the token itself is never stored
    family_id TEXT NOT NULL,          -- all rotations of one sign-in
    object_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER                   -- set when rotated; presenting it again revokes the family
);
CREATE INDEX id_refresh_tokens_object ON id_refresh_tokens(object_id);
CREATE INDEX id_refresh_tokens_family ON id_refresh_tokens(family_id);

INSERT INTO id_objects (object_id, tenant_id, kind, display_name, enabled, created_at)
    SELECT lower(object_id), tenant_id, 'ServicePrincipal', display_name, 1, CAST(strftime('%s','now') AS INTEGER)
    FROM principals;
INSERT INTO id_service_principals (object_id, app_id, sp_type, is_bootstrap_admin)
    SELECT lower(object_id), lower(client_id), 'Application', is_admin FROM principals;
-- Secrets made before this migration were all bootstrap secrets of the form 'qws~…'.
INSERT INTO id_sp_secrets (key_id, object_id, display_name, hint, secret_hash, created_at, expires_at)
    SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a'
                 || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
           lower(object_id), 'bootstrap', 'qws', secret_hash, CAST(strftime('%s','now') AS INTEGER), NULL
    FROM principals;
INSERT INTO id_role_assignments (name, scope, scope_key, role_definition_id, principal_id, principal_type,
        description, created_at, created_by, updated_at, updated_by)
    SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a'
                 || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
           '/subscriptions/' || s.id, '/subscriptions/' || s.id, '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
           lower(p.object_id), 'ServicePrincipal', 'bootstrap administrator',
           CAST(strftime('%s','now') AS INTEGER), NULL, CAST(strftime('%s','now') AS INTEGER), NULL
    FROM principals p JOIN subscriptions s ON s.tenant_id = p.tenant_id
    WHERE p.is_admin = 1;
DROP TABLE principals;

INSERT OR IGNORE INTO id_objects (object_id, tenant_id, kind, display_name, enabled, created_at)
    SELECT lower(w.identity_principal_id), s.tenant_id, 'ServicePrincipal', w.name, 1, CAST(strftime('%s','now') AS INTEGER)
    FROM workspaces w JOIN subscriptions s ON s.id = w.subscription_id
    WHERE w.identity_principal_id IS NOT NULL;
INSERT OR IGNORE INTO id_service_principals (object_id, app_id, sp_type, workspace_uid)
    SELECT lower(w.identity_principal_id),
           lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a'
                 || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
           'ManagedIdentity', w.uid
    FROM workspaces w WHERE w.identity_principal_id IS NOT NULL;

CREATE TRIGGER id_workspace_identity_created AFTER INSERT ON workspaces
WHEN NEW.identity_principal_id IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO id_objects (object_id, tenant_id, kind, display_name, enabled, created_at)
        SELECT lower(NEW.identity_principal_id), s.tenant_id, 'ServicePrincipal', NEW.name, 1,
               CAST(strftime('%s','now') AS INTEGER)
        FROM subscriptions s WHERE s.id = NEW.subscription_id;
    INSERT OR IGNORE INTO id_service_principals (object_id, app_id, sp_type, workspace_uid)
        VALUES (lower(NEW.identity_principal_id),
                lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a'
                      || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
                'ManagedIdentity', NEW.uid);
END;
CREATE TRIGGER id_workspace_identity_added AFTER UPDATE OF identity_principal_id ON workspaces
WHEN NEW.identity_principal_id IS NOT NULL AND OLD.identity_principal_id IS NULL
BEGIN
    INSERT OR IGNORE INTO id_objects (object_id, tenant_id, kind, display_name, enabled, created_at)
        SELECT lower(NEW.identity_principal_id), s.tenant_id, 'ServicePrincipal', NEW.name, 1,
               CAST(strftime('%s','now') AS INTEGER)
        FROM subscriptions s WHERE s.id = NEW.subscription_id;
    INSERT OR IGNORE INTO id_service_principals (object_id, app_id, sp_type, workspace_uid)
        VALUES (lower(NEW.identity_principal_id),
                lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-a'
                      || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
                'ManagedIdentity', NEW.uid);
END;
CREATE TRIGGER id_workspace_identity_deleted AFTER DELETE ON workspaces
BEGIN
    DELETE FROM id_refresh_tokens WHERE object_id IN
        (SELECT object_id FROM id_service_principals WHERE workspace_uid = OLD.uid);
    DELETE FROM id_objects WHERE object_id IN
        (SELECT object_id FROM id_service_principals WHERE workspace_uid = OLD.uid);
END;
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
    // Storage accounts and template deployments (issue 10). A storage account's uid is also its
    // blob namespace: the job data of every workspace that names the account lives there. A
    // workspace being deleted keeps its row, marked with the deleting operation, until the
    // operation finishes.
    r#"
CREATE TABLE storage_accounts (
    uid TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL,
    rg_key TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,        -- lower case by rule; unique on the server, as in Azure
    location TEXT NOT NULL,
    tags TEXT NOT NULL,
    sku TEXT NOT NULL,
    kind TEXT NOT NULL,
    properties TEXT NOT NULL,         -- the settable properties (JSON object)
    created_at INTEGER NOT NULL       -- unix nanoseconds
);
CREATE INDEX storage_accounts_group ON storage_accounts(subscription_id, rg_key);
CREATE TABLE deployments (
    subscription_id TEXT NOT NULL,
    rg_key TEXT NOT NULL,
    name_key TEXT NOT NULL,
    doc TEXT NOT NULL,                -- the deployment's ARM representation (JSON)
    operations TEXT NOT NULL,         -- its per-resource operations (JSON array)
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, rg_key, name_key)
);
ALTER TABLE workspaces ADD COLUMN deleting_op TEXT;
"#,
    // Workspace access tokens (`access_tokens.rs`): only an HMAC fingerprint of each token.
    r#"
CREATE TABLE ws_access_tokens (
    workspace_uid TEXT NOT NULL REFERENCES workspaces(uid) ON DELETE CASCADE,
    name_key TEXT NOT NULL,
    name TEXT NOT NULL,
    access TEXT NOT NULL,
    fingerprint BLOB NOT NULL UNIQUE,
    hint TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    last_used_at INTEGER,
    PRIMARY KEY (workspace_uid, name_key)
);
"#,
    // Key usage (issue 14): when and from where each key was last accepted. A regenerated key
    // starts without usage (the key's row is rewritten).
    r#"
ALTER TABLE workspace_keys ADD COLUMN last_used_at INTEGER;  -- unix seconds
ALTER TABLE workspace_keys ADD COLUMN last_used_from TEXT;   -- client IP address
"#,
    // Job webhooks (issue 14, `webhooks.rs`): a workspace's webhooks with their sealed signing
    // secrets, and one delivery row per event and webhook, written in the same transaction as
    // the job's terminal status so that no event is lost across a restart.
    r#"
CREATE TABLE ws_webhooks (
    workspace_uid TEXT NOT NULL REFERENCES workspaces(uid) ON DELETE CASCADE,
    name_key TEXT NOT NULL,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret BLOB NOT NULL,             -- sealed under the master key
    created_at INTEGER NOT NULL,      -- unix seconds
    created_by TEXT NOT NULL,
    PRIMARY KEY (workspace_uid, name_key)
);
CREATE TABLE webhook_deliveries (
    event_id TEXT NOT NULL,
    workspace_uid TEXT NOT NULL,
    webhook_key TEXT NOT NULL,
    event_type TEXT NOT NULL,
    item_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,              -- Pending, Succeeded, Failed
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL, -- unix milliseconds
    last_attempt_at INTEGER,          -- unix milliseconds
    last_status INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,      -- unix milliseconds
    PRIMARY KEY (event_id, workspace_uid, webhook_key)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_by_hook ON webhook_deliveries (workspace_uid, webhook_key, created_at);
"#,
    // Job leases (issue 11, `leases.rs`): which node runs a job, until when.
    r#"
CREATE TABLE dp_job_leases (
    workspace_uid TEXT NOT NULL,
    job_id TEXT NOT NULL,
    owner TEXT NOT NULL,              -- node id
    expires_at INTEGER NOT NULL,      -- unix milliseconds
    PRIMARY KEY (workspace_uid, job_id)
);
"#,
    // The change counter behind the in-memory access caches (`change.rs`).
    crate::change::MIGRATION,
    // Job-list indexes in the order lists read them (PostgreSQL only, see below).
    LIST_INDEX_NULLS,
    // Storage accounts move the change counter (`change.rs`).
    crate::change::ACCOUNTS_MIGRATION,
];

/// Job lists order by `q_created` with missing times first in ascending order and last in
/// descending order (SQLite's rule, spelled out in `listing.rs`). SQLite's indexes keep NULLs
/// first, so a forward or backward index scan yields exactly that order. PostgreSQL's keep them
/// last by default, so neither scan matched `DESC NULLS LAST`: every list sorted all matching
/// rows (25,000 of 100,000 for `State eq 'Failed'`) to return one page. Rebuilt with
/// `NULLS FIRST`, a backward scan reads one page. Nothing to do on SQLite.
const LIST_INDEX_NULLS: &str = "-- PostgreSQL only: list indexes with NULLS FIRST\n";

const PG_LIST_INDEX_NULLS: &str = r#"
DROP INDEX dp_items_q_created;
DROP INDEX dp_items_q_target;
DROP INDEX dp_items_q_status;
CREATE INDEX dp_items_q_created ON dp_items(workspace_uid, item_type, q_created NULLS FIRST);
CREATE INDEX dp_items_q_target ON dp_items(workspace_uid, item_type, q_target, q_created NULLS FIRST);
CREATE INDEX dp_items_q_status ON dp_items(workspace_uid, item_type, q_status, q_created NULLS FIRST);
"#;

/// PostgreSQL texts of the migrations whose SQLite text does not translate word for word
/// ([`postgres_ddl`]): the identity migration (index 4) keeps its tables but replaces SQLite's
/// data copy (a PostgreSQL database starts empty) and its triggers (PL/pgSQL), and gives
/// `id_sp_secrets` the `rowid` SQLite has implicitly (secrets are listed in insertion order).
fn postgres_text(i: usize, sqlite: &str) -> String {
    if sqlite == crate::change::MIGRATION {
        return crate::change::postgres_migration();
    }
    if sqlite == crate::change::ACCOUNTS_MIGRATION {
        return crate::change::postgres_triggers(sqlite);
    }
    if sqlite == LIST_INDEX_NULLS {
        return PG_LIST_INDEX_NULLS.to_string();
    }
    match i {
        4 => {
            let tables = &sqlite[..sqlite
                .find("\nINSERT INTO id_objects")
                .expect("the identity migration starts with its tables")];
            format!("{}\n{PG_IDENTITY_TAIL}", postgres_ddl(tables))
        }
        _ => postgres_ddl(sqlite),
    }
}

const PG_IDENTITY_TAIL: &str = r#"
ALTER TABLE id_sp_secrets ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;
DROP TABLE principals;
CREATE FUNCTION id_workspace_identity_ensure() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.identity_principal_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR OLD.identity_principal_id IS NULL) THEN
        INSERT INTO id_objects (object_id, tenant_id, kind, display_name, enabled, created_at)
            SELECT lower(NEW.identity_principal_id), s.tenant_id, 'ServicePrincipal', NEW.name, 1,
                   CAST(extract(epoch FROM now()) AS BIGINT)
            FROM subscriptions s WHERE s.id = NEW.subscription_id
            ON CONFLICT DO NOTHING;
        INSERT INTO id_service_principals (object_id, app_id, sp_type, workspace_uid)
            VALUES (lower(NEW.identity_principal_id), CAST(gen_random_uuid() AS TEXT),
                    'ManagedIdentity', NEW.uid)
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION id_workspace_identity_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM id_refresh_tokens WHERE object_id IN
        (SELECT object_id FROM id_service_principals WHERE workspace_uid = OLD.uid);
    DELETE FROM id_objects WHERE object_id IN
        (SELECT object_id FROM id_service_principals WHERE workspace_uid = OLD.uid);
    RETURN NULL;
END $$;
CREATE TRIGGER id_workspace_identity_created AFTER INSERT ON workspaces
    FOR EACH ROW EXECUTE FUNCTION id_workspace_identity_ensure();
CREATE TRIGGER id_workspace_identity_added AFTER UPDATE OF identity_principal_id ON workspaces
    FOR EACH ROW EXECUTE FUNCTION id_workspace_identity_ensure();
CREATE TRIGGER id_workspace_identity_deleted AFTER DELETE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION id_workspace_identity_remove();
"#;

/// Run after the migrations on every PostgreSQL open (idempotent): the identity generation
/// (SQLite's update hook in one process becomes a counter row every node reads), bumped by a
/// statement trigger on every `id_*` table, including tables added by later migrations.
const PG_IDENTITY_GENERATION: &str = r#"
CREATE TABLE IF NOT EXISTS qws_identity_version (v BIGINT NOT NULL);
INSERT INTO qws_identity_version SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM qws_identity_version);
CREATE OR REPLACE FUNCTION qws_identity_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE qws_identity_version SET v = v + 1;
    RETURN NULL;
END $$;
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT tablename FROM pg_tables
             WHERE schemaname = current_schema() AND tablename LIKE 'id\_%'
    LOOP
        EXECUTE format('CREATE OR REPLACE TRIGGER qws_identity_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I
                        FOR EACH STATEMENT EXECUTE FUNCTION qws_identity_bump()', t);
    END LOOP;
END $$;
"#;

/// SQLite DDL in PostgreSQL's words: `INTEGER PRIMARY KEY [AUTOINCREMENT]` (SQLite's rowid
/// alias, numbered by the database) → a `BIGINT` identity key, `INTEGER` → `BIGINT` (SQLite
/// integers are 64-bit), `REAL` → `DOUBLE PRECISION`, `BLOB` → `BYTEA`, and `TEXT` →
/// `TEXT COLLATE "C"` (SQLite compares and orders text by bytes; PostgreSQL's default
/// collation would order pages differently). Whole upper-case words outside quotes and
/// comments only.
pub(crate) fn postgres_ddl(sql: &str) -> String {
    const IDENTITY: &str = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY";
    let sql = sql
        .replace("INTEGER PRIMARY KEY AUTOINCREMENT", IDENTITY)
        .replace("INTEGER PRIMARY KEY", IDENTITY);
    let mut out = String::with_capacity(sql.len() + 64);
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut comment = false;
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(match word.as_str() {
            "INTEGER" => "BIGINT",
            "REAL" => "DOUBLE PRECISION",
            "BLOB" => "BYTEA",
            "TEXT" => "TEXT COLLATE \"C\"",
            w => w,
        });
        word.clear();
    };
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if comment {
            // Comments are copied as they are (an apostrophe in one is not a quote).
            out.push(c);
            comment = c != '\n';
            continue;
        }
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        if c == '\'' || c == '"' {
            quote = Some(c);
        } else if c == '-' && chars.peek() == Some(&'-') {
            comment = true;
        }
        out.push(c);
    }
    flush(&mut word, &mut out);
    out
}

/// Serializes migrations of nodes starting at once against one PostgreSQL database.
const PG_MIGRATION_LOCK: i64 = 0x7177_735f_6d69; // "qws_mi"

/// Brings the database to the newest schema.
pub fn migrate(conn: &mut Conn) -> crate::db::Result<()> {
    match conn.dialect() {
        Dialect::Sqlite => migrate_sqlite(conn.sqlite().expect("a SQLite connection")),
        Dialect::Postgres => migrate_postgres(conn),
    }
}

fn migrate_sqlite(conn: &mut rusqlite::Connection) -> crate::db::Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn migrate_postgres(conn: &Conn) -> crate::db::Result<()> {
    conn.execute_batch(&format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"))?;
    let result = (|| {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS qws_schema (version BIGINT NOT NULL);
             INSERT INTO qws_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM qws_schema);",
        )?;
        let current: i64 = conn.query_row("SELECT version FROM qws_schema", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current.max(0) as usize) {
            conn.execute_batch(&format!(
                "BEGIN;\n{}\n;UPDATE qws_schema SET version = {};\nCOMMIT;",
                postgres_text(i, sql),
                i + 1
            ))
            .inspect_err(|_| {
                let _ = conn.execute_batch("ROLLBACK");
            })?;
        }
        conn.execute_batch(PG_IDENTITY_GENERATION)
    })();
    conn.execute_batch(&format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"))?;
    result
}

#[cfg(test)]
mod tests {
    use super::postgres_ddl;

    #[test]
    fn ddl_words_are_translated_outside_quotes_and_comments() {
        assert_eq!(
            postgres_ddl(
                "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, \
                 b BLOB, x REAL, s TEXT DEFAULT 'TEXT') -- the owner's INTEGER\n"
            ),
            "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
             n BIGINT NOT NULL, b BYTEA, x DOUBLE PRECISION, s TEXT COLLATE \"C\" DEFAULT 'TEXT') \
             -- the owner's INTEGER\n"
        );
        assert_eq!(
            postgres_ddl("ALTER TABLE t ADD COLUMN TEXTS INTEGER;"),
            "ALTER TABLE t ADD COLUMN TEXTS BIGINT;"
        );
    }
}
