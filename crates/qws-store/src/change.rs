//! Knowing, on every request, whether what decides access has changed, by any process sharing
//! the database.
//!
//! Every change to a workspace, its access keys, or the directory and role tables that access
//! decisions read moves one counter on, inside the transaction that makes the change (SQLite
//! triggers, schema migration 10), whichever connection, process or node committed it. Values
//! read from those tables are cached in memory stamped with the counter they were read at
//! ([`VersionedCache`]) and used only while the counter still has that value, so a regenerated
//! or disabled key, a deleted workspace or a removed role is refused on the very next request
//! everywhere, while an unchanged database costs one primary-key read per request instead of
//! the lookups themselves.
//!
//! [`ChangeVersion`] is the whole contract a backend implements: one cheap read of the counter.

use crate::db::Conn;
use crate::store::Result;
use rusqlite::Connection;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;
use std::sync::Mutex;

/// The database-wide counter of access-relevant changes. It only ever grows; any change to
/// workspaces, keys, principals, groups, role assignments or custom roles moves it on in the
/// same transaction (a PostgreSQL backend: an update of a `change_version` row by triggers,
/// read with one indexed query).
pub trait ChangeVersion: Send + Sync {
    /// The counter as of now: every change committed before this call is counted.
    fn change_version(&self) -> Result<u64>;
}

/// SQLite's [`ChangeVersion`]: connections of its own (so the read never waits behind the
/// store's other work) reading the one-row `change_version` table. In WAL mode the read starts
/// a fresh snapshot each time, so it sees every commit made before it, by any connection. One
/// connection per core: every authenticated request reads the counter, and with a single
/// connection the requests of all cores took its lock in turn.
pub struct SqliteChangeVersion {
    conns: Vec<Mutex<Connection>>,
}

impl SqliteChangeVersion {
    /// Opens read connections to the database file at `path` (already migrated).
    pub fn open(path: &Path) -> Result<SqliteChangeVersion> {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        let conns = (0..n)
            .map(|_| {
                let conn = Connection::open(path)?;
                conn.busy_timeout(std::time::Duration::from_secs(5))?;
                Ok(Mutex::new(conn))
            })
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(crate::db::Error::from)?;
        Ok(SqliteChangeVersion { conns })
    }
}

impl ChangeVersion for SqliteChangeVersion {
    fn change_version(&self) -> Result<u64> {
        // A free connection if there is one, else wait for the first.
        let conn = self
            .conns
            .iter()
            .find_map(|c| c.try_lock().ok())
            .unwrap_or_else(|| self.conns[0].lock().unwrap_or_else(|p| p.into_inner()));
        let v: i64 = conn
            .prepare_cached("SELECT v FROM change_version WHERE id = 1")
            .and_then(|mut st| st.query_row([], |r| r.get(0)))
            .map_err(crate::db::Error::from)?;
        Ok(v as u64)
    }
}

/// PostgreSQL's [`ChangeVersion`]: a connection of its own reading the one-row `change_version`
/// table, which the triggers of [`postgres_migration`] bump in every writing transaction. Each
/// read is its own statement, so it sees every transaction committed before it, on any node.
pub struct PostgresChangeVersion {
    conn: Mutex<Conn>,
}

impl PostgresChangeVersion {
    /// Connects to the (already migrated) database at `url`.
    pub fn connect(url: &str) -> Result<PostgresChangeVersion> {
        Ok(PostgresChangeVersion {
            conn: Mutex::new(Conn::connect_postgres(url)?),
        })
    }
}

impl ChangeVersion for PostgresChangeVersion {
    fn change_version(&self) -> Result<u64> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.revive();
        let v: i64 = conn.query_row("SELECT v FROM change_version WHERE id = 1", [], |r| {
            r.get(0)
        })?;
        Ok(v as u64)
    }
}

/// [`MIGRATION`] for PostgreSQL: the same table, and each SQLite trigger (same name, same
/// events, same columns) calling one PL/pgSQL function that bumps the counter.
pub(crate) fn postgres_migration() -> String {
    let start = MIGRATION
        .find("CREATE TRIGGER")
        .expect("the change migration has triggers");
    let mut out = crate::schema::postgres_ddl(&MIGRATION[..start]);
    out.push_str(
        "CREATE FUNCTION qws_bump_change_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_version SET v = v + 1 WHERE id = 1;
    RETURN NULL;
END;
$$;
",
    );
    out.push_str(&postgres_triggers(&MIGRATION[start..]));
    out
}

/// The PostgreSQL form of SQLite triggers that bump the counter: the same name, events and
/// columns, calling the function [`postgres_migration`] created.
pub(crate) fn postgres_triggers(sqlite: &str) -> String {
    let mut out = String::new();
    for trigger in sqlite.split("CREATE TRIGGER ").skip(1) {
        let head = trigger[..trigger.find(" BEGIN").expect("a trigger body")].trim();
        out.push_str(&format!(
            "CREATE TRIGGER {head} FOR EACH ROW EXECUTE FUNCTION qws_bump_change_version();\n"
        ));
    }
    out
}

/// Storage accounts move the counter too (a later migration): which account a workspace's
/// blobs live in is part of what a SAS check remembers (`Store::blob_namespace`).
pub(crate) const ACCOUNTS_MIGRATION: &str = r#"
CREATE TRIGGER cv_accounts_i AFTER INSERT ON storage_accounts BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_accounts_u AFTER UPDATE ON storage_accounts BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_accounts_d AFTER DELETE ON storage_accounts BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
"#;

/// Values read from the database, each valid only while the [`ChangeVersion`] it was read at is
/// current. All entries share one stamp: the first lookup at a newer version empties the cache,
/// so nothing read before a change is served after it. Bounded: emptied when full.
#[derive(Debug)]
pub struct VersionedCache<K, V> {
    inner: Mutex<Stamped<K, V>>,
    max: usize,
}

#[derive(Debug)]
struct Stamped<K, V> {
    version: u64,
    map: HashMap<K, V>,
}

impl<K: Eq + Hash, V: Clone> VersionedCache<K, V> {
    /// An empty cache holding at most `max` entries.
    pub fn new(max: usize) -> Self {
        VersionedCache {
            inner: Mutex::new(Stamped {
                version: 0,
                map: HashMap::new(),
            }),
            max: max.max(1),
        }
    }

    /// The value for `key` if it was read at version `current`.
    pub fn get(&self, current: u64, key: &K) -> Option<V> {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if current > s.version {
            s.map.clear();
            s.version = current;
            return None;
        }
        if current < s.version {
            // Read just before a change another request has already seen: ask the database.
            return None;
        }
        s.map.get(key).cloned()
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remembers `value`, read from the database *after* version `read_at` was read. Dropped if
    /// the cache has already seen a newer version (the value may predate a change).
    pub fn put(&self, read_at: u64, key: K, value: V) {
        let mut s = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if read_at < s.version {
            return;
        }
        if read_at > s.version || s.map.len() >= self.max {
            s.map.clear();
            s.version = read_at;
        }
        s.map.insert(key, value);
    }
}

/// The counter and its triggers (schema migration 10): every table an access decision or a
/// cached workspace record reads. Key usage (`last_used_*`), sign-in failure counters and
/// refresh tokens change often and decide nothing cached, so they do not move it.
pub(crate) const MIGRATION: &str = r#"
CREATE TABLE change_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    v INTEGER NOT NULL
);
INSERT INTO change_version (id, v) VALUES (1, 1);
CREATE TRIGGER cv_workspaces_i AFTER INSERT ON workspaces BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_workspaces_u AFTER UPDATE ON workspaces BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_workspaces_d AFTER DELETE ON workspaces BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_keys_i AFTER INSERT ON workspace_keys BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_keys_u AFTER UPDATE OF slot, version, sealed, fingerprint, created_at ON workspace_keys
    BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_keys_d AFTER DELETE ON workspace_keys BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_rg_u AFTER UPDATE ON resource_groups BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_rg_d AFTER DELETE ON resource_groups BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_objects_i AFTER INSERT ON id_objects BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_objects_u AFTER UPDATE ON id_objects BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_objects_d AFTER DELETE ON id_objects BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_users_i AFTER INSERT ON id_users BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_users_u AFTER UPDATE OF object_id, tenant_id, upn, upn_key ON id_users
    BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_users_d AFTER DELETE ON id_users BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_sps_i AFTER INSERT ON id_service_principals BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_sps_u AFTER UPDATE ON id_service_principals BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_sps_d AFTER DELETE ON id_service_principals BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_members_i AFTER INSERT ON id_group_members BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_members_u AFTER UPDATE ON id_group_members BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_members_d AFTER DELETE ON id_group_members BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_assignments_i AFTER INSERT ON id_role_assignments BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_assignments_u AFTER UPDATE ON id_role_assignments BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_assignments_d AFTER DELETE ON id_role_assignments BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_roles_i AFTER INSERT ON id_role_definitions BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_roles_u AFTER UPDATE ON id_role_definitions BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
CREATE TRIGGER cv_roles_d AFTER DELETE ON id_role_definitions BEGIN UPDATE change_version SET v = v + 1 WHERE id = 1; END;
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newer_version_empties_the_cache_and_stale_reads_are_dropped() {
        let c: VersionedCache<&str, i32> = VersionedCache::new(8);
        c.put(5, "a", 1);
        assert_eq!(c.get(5, &"a"), Some(1));
        assert_eq!(c.get(6, &"a"), None, "a change makes every entry stale");
        c.put(5, "a", 1);
        assert_eq!(
            c.get(6, &"a"),
            None,
            "a value read before the change is not kept"
        );
        c.put(7, "b", 2);
        assert_eq!(c.get(7, &"b"), Some(2));
        assert_eq!(c.get(6, &"b"), None, "an older version is never served");
        assert_eq!(c.get(7, &"b"), Some(2), "nor does it empty the cache");
    }

    #[test]
    fn every_trigger_has_its_postgresql_form() {
        let pg = postgres_migration();
        assert_eq!(
            pg.matches("EXECUTE FUNCTION qws_bump_change_version()")
                .count(),
            MIGRATION.matches("CREATE TRIGGER").count()
        );
        assert!(pg.contains(
            "CREATE TRIGGER cv_keys_u AFTER UPDATE OF slot, version, sealed, fingerprint, created_at ON workspace_keys FOR EACH ROW"
        ));
        assert!(!pg.contains(" BEGIN UPDATE"));
        let accounts = postgres_triggers(ACCOUNTS_MIGRATION);
        assert_eq!(
            accounts
                .matches(
                    "ON storage_accounts FOR EACH ROW EXECUTE FUNCTION qws_bump_change_version()"
                )
                .count(),
            3,
            "{accounts}"
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let c: VersionedCache<u32, u32> = VersionedCache::new(3);
        for i in 0..10 {
            c.put(1, i, i);
        }
        let held = (0..10).filter(|i| c.get(1, i).is_some()).count();
        assert!(held <= 3, "{held} entries held");
        assert_eq!(c.get(1, &9), Some(9), "the newest entry is kept");
    }
}
