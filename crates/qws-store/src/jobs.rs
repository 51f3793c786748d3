//! Data-plane persistence: jobs and sessions ("items"), job-container ownership and quota usage.
//!
//! [`JobStore`] has its own SQLite connection to the same database file as [`crate::Store`]
//! (WAL lets both work at once), so the job scheduler never waits on management calls. It
//! writes with `synchronous = FULL`: a job is on disk before its PUT is answered. The tables come
//! from the schema migrations [`crate::Store::open`] runs, so open the `Store` first.
//!
//! Items are stored as the JSON document the data plane serves, plus the columns lists filter
//! and order on ([`crate::listing`]). A status changes only through [`JobStore::transition`]:
//! the typed item ([`qws_core::jobs::Job`], [`qws_core::jobs::Session`]) is read, the move is
//! checked by [`qws_core::jobs::transition`], and the row is rewritten with a conditional
//! update (only while it still has the status the move started from).

use crate::db::{params, Conn, DbTarget, Dialect, Error as DbError, OptionalExtension};
use crate::listing::{self, query_assignments, query_values, ListSpec};
use crate::store::{write_tx, Result, StoreError, DB_FILE};
use qws_core::jobs::{transition, Item, Lifecycle};
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Mutex;

/// Runs `f` with this connection's commits not flushed to disk on their own
/// (`synchronous = NORMAL` in WAL mode: a commit survives the process dying, and reaches the
/// disk with the next flushed commit or checkpoint), then restores `FULL`. For writes a restart
/// re-derives after a power cut, never for what a client has been told is stored.
pub(crate) fn unflushed<R>(conn: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<R>) -> Result<R> {
    // PostgreSQL flushes its own write-ahead log per commit; only SQLite's setting is ours.
    let Some(sqlite) = conn.sqlite() else {
        return f(conn);
    };
    sqlite
        .pragma_update(None, "synchronous", "NORMAL")
        .map_err(DbError::from)?;
    let out = f(conn);
    let restored = match conn.sqlite() {
        Some(sqlite) => sqlite
            .pragma_update(None, "synchronous", "FULL")
            .map_err(DbError::from),
        None => Ok(()),
    };
    let out = out?;
    restored?;
    Ok(out)
}

/// Rows per statement of [`JobStore::insert_items`] (17 parameters each, far below either
/// engine's limit on parameters).
const INSERT_BATCH: usize = 500;

/// Rows after whose import PostgreSQL's statistics of `dp_items` are refreshed.
const ANALYZE_AFTER: usize = 1_000;

/// One stored job or session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    /// Internal uid of the owning workspace.
    pub workspace_uid: String,
    /// Job or session id (as the client chose it).
    pub id: String,
    /// `Job` or `Session`.
    pub item_type: String,
    /// Session a job belongs to.
    pub session_id: Option<String>,
    /// Current status (mirrors the document's `status`).
    pub status: String,
    /// Creation time, unix nanoseconds.
    pub created_at: i64,
    /// The JSON document.
    pub doc: String,
}

/// Quota usage of one provider in one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUsageRow {
    /// Provider id (lower case).
    pub provider_id: String,
    /// Period key, e.g. `2026-11`.
    pub period: String,
    /// Jobs accepted in the period.
    pub used: i64,
}

/// Why [`JobStore::insert_job`] refused a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertRefusal {
    /// An item with this id already exists in the workspace.
    Exists,
    /// The provider's quota for the period is used up.
    QuotaExceeded {
        /// Jobs already accepted in the period.
        used: i64,
        /// The limit.
        limit: i64,
    },
}

/// The outcome of [`JobStore::transition`].
#[derive(Debug, Clone, PartialEq)]
pub enum Transition<T> {
    /// The move was made; the item as stored now.
    Done(T),
    /// The item is not in one of the statuses the move starts from; it is unchanged.
    Refused(T),
    /// No such item (of this type).
    Missing,
}

/// An item with the columns the store keeps beside its document.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored<T> {
    /// Internal uid of the owning workspace.
    pub workspace_uid: String,
    /// Creation time, unix nanoseconds.
    pub created_at: i64,
    /// The typed item.
    pub item: T,
}

fn parse_doc(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(StoreError::Corrupt(
            "an item document is not a JSON object".into(),
        )),
    }
}

fn typed<T: Item>(doc: &Map<String, Value>) -> Result<T> {
    T::from_doc(doc).map_err(|e| {
        StoreError::Corrupt(format!(
            "a stored {} document does not parse: {e}",
            T::ITEM_TYPE.as_str()
        ))
    })
}

/// Writes an item's document, its status and its list columns.
fn write_doc(
    conn: &Conn,
    workspace_uid: &str,
    id: &str,
    status: &str,
    doc: &Map<String, Value>,
    only_if_status: &str,
) -> Result<usize> {
    let text = serde_json::to_string(doc).expect("JSON values serialize");
    let mut values: Vec<crate::db::Value> = vec![
        workspace_uid.to_string().into(),
        id.to_string().into(),
        status.to_string().into(),
        text.into(),
        only_if_status.to_string().into(),
    ];
    values.extend(query_values(doc));
    Ok(conn.execute(
        &format!(
            "UPDATE dp_items SET status = ?3, doc = ?4, {}
              WHERE workspace_uid = ?1 AND id = ?2 AND status = ?5",
            query_assignments(6)
        ),
        crate::db::params_from_iter(values),
    )?)
}

/// Fills the list columns of rows written before they existed. Idempotent.
fn index_old_rows(conn: &mut Conn) -> Result<usize> {
    let mut done = 0;
    loop {
        let tx = write_tx(conn)?;
        let batch: Vec<(String, String, String)> = {
            let mut stmt = tx.prepare(
                "SELECT workspace_uid, id, doc FROM dp_items WHERE q_indexed = 0 LIMIT 1000",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<crate::db::Result<_>>()?
        };
        if batch.is_empty() {
            return Ok(done);
        }
        for (w, id, text) in &batch {
            // A document that is not an object still gets indexed (as all-missing fields).
            let doc = parse_doc(text).unwrap_or_default();
            let mut values: Vec<crate::db::Value> = vec![w.clone().into(), id.clone().into()];
            values.extend(query_values(&doc));
            tx.execute(
                &format!(
                    "UPDATE dp_items SET {} WHERE workspace_uid = ?1 AND id = ?2",
                    query_assignments(3)
                ),
                crate::db::params_from_iter(values),
            )?;
        }
        tx.commit()?;
        done += batch.len();
    }
}

/// Whether a move to `to` is flushed to disk by its own commit. A job starting to execute is
/// not: a restart treats `Executing` as `Waiting` anyway, and the job's next (terminal) commit
/// is flushed with it.
pub(crate) fn flushed_alone<T: Item>(to: T::Status) -> bool {
    !(T::ITEM_TYPE.as_str() == "Job" && to.as_str() == "Executing")
}

/// [`JobStore::transition`] inside a write transaction the caller commits (so that other
/// conditions, such as holding the job's lease, can be checked in the same transaction).
pub(crate) fn transition_in<T: Item>(
    tx: &Conn,
    workspace_uid: &str,
    id: &str,
    from: &[T::Status],
    to: T::Status,
    edit: &mut dyn FnMut(&mut T),
) -> Result<Transition<T>> {
    let Some(row) = read_item(tx, workspace_uid, id)? else {
        return Ok(Transition::Missing);
    };
    if row.item_type != T::ITEM_TYPE.as_str() {
        return Ok(Transition::Missing);
    }
    let mut doc = parse_doc(&row.doc)?;
    let mut item: T = typed(&doc)?;
    let current = item.status();
    if !from.contains(&current) {
        return Ok(Transition::Refused(item));
    }
    transition(current, to).map_err(|e| StoreError::IllegalTransition(e.to_string()))?;
    edit(&mut item);
    item.set_status_unchecked(to);
    item.merge_into(&mut doc);
    let n = write_doc(tx, workspace_uid, id, to.as_str(), &doc, &row.status)?;
    if n != 1 {
        return Err(StoreError::Corrupt(
            "an item changed inside its own transaction".into(),
        ));
    }
    if to.is_terminal() {
        // Webhook events commit with the status they report, or not at all.
        crate::webhooks::enqueue_terminal(
            tx,
            workspace_uid,
            <T::Status as qws_core::jobs::StatusKind>::KIND,
            to.as_str(),
            &doc,
        )?;
    }
    Ok(Transition::Done(item))
}

/// Data-plane store.
pub struct JobStore {
    conn: Mutex<Conn>,
    /// SQLite connections of their own for [`JobStore::get_item_now`] (none on PostgreSQL).
    readers: Vec<Mutex<Conn>>,
}

/// Read connections a SQLite job store keeps for [`JobStore::get_item_now`]: one per runtime
/// worker of a small machine; a request that finds both busy takes the blocking pool instead.
const READERS: usize = 2;

/// A connection to the SQLite file that only reads, and never waits: a busy database (a
/// checkpoint restarting the WAL) is an error at once, which [`JobStore::get_item_now`]
/// answers by letting its caller take the ordinary path.
fn open_reader(path: &Path) -> Result<Conn> {
    let conn = rusqlite::Connection::open(path).map_err(DbError::from)?;
    conn.pragma_update(None, "query_only", "ON")
        .map_err(DbError::from)?;
    conn.busy_timeout(std::time::Duration::ZERO)
        .map_err(DbError::from)?;
    conn.set_prepared_statement_cache_capacity(8);
    Ok(Conn::from_sqlite(conn))
}

impl std::fmt::Debug for JobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobStore")
    }
}

pub(crate) const ITEM_COLUMNS: &str =
    "workspace_uid, id, item_type, session_id, status, created_at, doc";

/// Whether the workspace has an item `id`.
pub(crate) fn item_exists(conn: &Conn, workspace_uid: &str, id: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM dp_items WHERE workspace_uid = ?1 AND id = ?2",
            params![workspace_uid, id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// The workspace that owns `container`, if any.
fn read_container_owner(conn: &Conn, container: &str) -> crate::db::Result<Option<String>> {
    conn.query_row(
        "SELECT workspace_uid FROM dp_containers WHERE container = ?1",
        [container],
        |r| r.get(0),
    )
    .optional()
}

/// The row of item `id` of a workspace, if any.
pub(crate) fn read_item(conn: &Conn, workspace_uid: &str, id: &str) -> Result<Option<ItemRow>> {
    Ok(conn
        .query_row(
            &format!("SELECT {ITEM_COLUMNS} FROM dp_items WHERE workspace_uid = ?1 AND id = ?2"),
            params![workspace_uid, id],
            row_to_item,
        )
        .optional()?)
}

/// Counts one more attempt at a job that is still `Waiting` (see [`JobStore::begin_attempt`]);
/// the new count, `None` when the job is gone or no longer waiting.
pub(crate) fn count_attempt(conn: &Conn, workspace_uid: &str, id: &str) -> Result<Option<u32>> {
    let n: Option<i64> = conn
        .query_row(
            "UPDATE dp_items SET attempts = attempts + 1
              WHERE workspace_uid = ?1 AND id = ?2 AND status = 'Waiting'
              RETURNING attempts",
            params![workspace_uid, id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(n.map(|n| n.clamp(0, u32::MAX as i64) as u32))
}

/// Attempts counted so far at a job (0 for an unknown item).
pub(crate) fn attempts_in(conn: &Conn, workspace_uid: &str, id: &str) -> Result<u32> {
    let n: Option<i64> = conn
        .query_row(
            "SELECT attempts FROM dp_items WHERE workspace_uid = ?1 AND id = ?2",
            params![workspace_uid, id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(n.unwrap_or(0).clamp(0, u32::MAX as i64) as u32)
}

/// The typed item of a row; `None` when there is no row or it holds another type of item.
pub(crate) fn stored<T: Item>(row: Option<ItemRow>) -> Result<Option<Stored<T>>> {
    match row {
        Some(row) if row.item_type == T::ITEM_TYPE.as_str() => Ok(Some(Stored {
            item: typed(&parse_doc(&row.doc)?)?,
            workspace_uid: row.workspace_uid,
            created_at: row.created_at,
        })),
        _ => Ok(None),
    }
}

pub(crate) fn row_to_item(r: &crate::db::Row<'_>) -> crate::db::Result<ItemRow> {
    Ok(ItemRow {
        workspace_uid: r.get(0)?,
        id: r.get(1)?,
        item_type: r.get(2)?,
        session_id: r.get(3)?,
        status: r.get(4)?,
        created_at: r.get(5)?,
        doc: r.get(6)?,
    })
}

/// Job URI fields that once could carry a SAS in their query string.
const URI_FIELDS: [&str; 3] = ["containerUri", "inputDataUri", "outputDataUri"];

/// Drops the query string of the URI fields of stored job documents. Documents written before
/// qws kept SAS out of the database carried the client's SAS there; they no longer verify, but
/// no copy of the database should hold one. Idempotent; returns the documents changed.
fn strip_stored_queries(conn: &Conn) -> Result<usize> {
    let mut changed = 0;
    for field in URI_FIELDS {
        let path = format!("$.{field}");
        changed += conn.execute(
            "UPDATE dp_items SET doc = json_set(doc, ?1,
                 substr(json_extract(doc, ?1), 1, instr(json_extract(doc, ?1), '?') - 1))
             WHERE item_type = 'Job' AND json_valid(doc)
               AND json_type(doc, ?1) = 'text' AND instr(json_extract(doc, ?1), '?') > 0",
            [&path],
        )?;
    }
    Ok(changed)
}

impl JobStore {
    /// Opens a second connection to `dir/qws.db` (already migrated by `Store::open`), and drops
    /// SAS that older versions stored in job documents (`strip_stored_queries`).
    pub fn open(dir: &Path) -> Result<JobStore> {
        JobStore::open_target(&DbTarget::for_dir(dir))
    }

    /// Opens a connection of its own to the database `target` names (already migrated by
    /// [`crate::Store::open_target`]).
    pub fn open_target(target: &DbTarget) -> Result<JobStore> {
        let mut conn = match target {
            DbTarget::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(dir.join(DB_FILE)).map_err(DbError::from)?;
                conn.pragma_update(None, "journal_mode", "WAL")
                    .map_err(DbError::from)?;
                // FULL: an accepted job survives a power cut, not only a crash.
                conn.pragma_update(None, "synchronous", "FULL")
                    .map_err(DbError::from)?;
                conn.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(DbError::from)?;
                conn.set_prepared_statement_cache_capacity(64);
                Conn::from_sqlite(conn)
            }
            DbTarget::Postgres(url) => Conn::connect_postgres(url)?,
        };
        let tables: i64 = match conn.dialect() {
            Dialect::Sqlite => conn.query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'dp_items'",
                [],
                |r| r.get(0),
            )?,
            Dialect::Postgres => conn.query_row(
                "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'dp_items'",
                [],
                |r| r.get(0),
            )?,
        };
        if tables == 0 {
            return Err(StoreError::Corrupt(
                "the data-plane tables are missing (open the Store first)".into(),
            ));
        }
        // Both repair rows written by older SQLite versions; a PostgreSQL database never had
        // such rows.
        if conn.dialect() == Dialect::Sqlite {
            strip_stored_queries(&conn)?;
            index_old_rows(&mut conn)?;
        }
        let readers = match target {
            DbTarget::Sqlite(dir) => (0..READERS)
                .map(|_| open_reader(&dir.join(DB_FILE)).map(Mutex::new))
                .collect::<Result<Vec<_>>>()?,
            DbTarget::Postgres(_) => Vec::new(),
        };
        Ok(JobStore {
            conn: Mutex::new(conn),
            readers,
        })
    }

    /// Whether the database answers (a readiness probe).
    pub fn ping(&self) -> Result<()> {
        self.conn()
            .query_row("SELECT count(*) FROM dp_items WHERE 1 = 0", [], |_| Ok(()))?;
        Ok(())
    }

    pub(crate) fn conn(&self) -> crate::pool::ConnGuard<'_> {
        crate::pool::lock(&self.conn, crate::pool::Database::Jobs)
    }

    // ---- containers ------------------------------------------------------------------------

    /// Records that `container` belongs to the workspace. Returns false (and changes nothing)
    /// when another workspace already owns it.
    pub fn claim_container(&self, workspace_uid: &str, container: &str) -> Result<bool> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO dp_containers (container, workspace_uid) VALUES (?1, ?2) ON CONFLICT(container) DO NOTHING",
            params![container, workspace_uid],
        )?;
        let owner: String = conn.query_row(
            "SELECT workspace_uid FROM dp_containers WHERE container = ?1",
            [container],
            |r| r.get(0),
        )?;
        Ok(owner == workspace_uid)
    }

    /// The workspace that owns `container`, if any.
    pub fn container_owner(&self, container: &str) -> Result<Option<String>> {
        Ok(read_container_owner(&self.conn(), container)?)
    }

    /// [`JobStore::container_owner`] answered at once, as [`JobStore::get_item_now`] answers
    /// (same read connections, same `None` when it cannot answer without waiting).
    pub fn container_owner_now(&self, container: &str) -> Option<Option<String>> {
        read_container_owner(&*self.free_reader()?, container).ok()
    }

    // ---- items -----------------------------------------------------------------------------

    /// Inserts a job, counting it against `(provider, period)` when `limit` is given, in one
    /// transaction.
    pub fn insert_job(
        &self,
        item: &ItemRow,
        provider_id: &str,
        period: &str,
        limit: Option<i64>,
    ) -> Result<std::result::Result<(), InsertRefusal>> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let exists = item_exists(&tx, &item.workspace_uid, &item.id)?;
        if exists {
            return Ok(Err(InsertRefusal::Exists));
        }
        let used: i64 = tx
            .query_row(
                "SELECT used FROM dp_quota_usage WHERE workspace_uid = ?1 AND provider_id = ?2 AND period = ?3",
                params![item.workspace_uid, provider_id, period],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if let Some(limit) = limit {
            if used >= limit {
                return Ok(Err(InsertRefusal::QuotaExceeded { used, limit }));
            }
        }
        Self::insert_row(&tx, item)?;
        tx.execute(
            "INSERT INTO dp_quota_usage (workspace_uid, provider_id, period, used) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT(workspace_uid, provider_id, period) DO UPDATE SET used = dp_quota_usage.used + 1",
            params![item.workspace_uid, provider_id, period],
        )?;
        tx.commit()?;
        Ok(Ok(()))
    }

    /// Inserts a session (or any item) unless the id exists; returns false if it existed.
    pub fn insert_item(&self, item: &ItemRow) -> Result<bool> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let exists = item_exists(&tx, &item.workspace_uid, &item.id)?;
        if exists {
            return Ok(false);
        }
        Self::insert_row(&tx, item)?;
        tx.commit()?;
        Ok(true)
    }

    /// Inserts many items in one transaction (imports, benchmarks), skipping ids that exist;
    /// returns how many were inserted. No quota is counted.
    ///
    /// Rows go in [`INSERT_BATCH`] per statement: one round trip per row made a PostgreSQL
    /// import of 100,000 jobs take minutes. After a large import PostgreSQL's statistics are
    /// refreshed at once (`ANALYZE`), so the next lists are planned for the table's real size
    /// rather than the near-empty one autovacuum last saw.
    pub fn insert_items(&self, items: &[ItemRow]) -> Result<usize> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let mut n = 0;
        for batch in items.chunks(INSERT_BATCH) {
            n += Self::insert_rows(&tx, batch)?;
        }
        tx.commit()?;
        if conn.dialect() == Dialect::Postgres && n >= ANALYZE_AFTER {
            conn.execute_batch("ANALYZE dp_items")?;
        }
        Ok(n)
    }

    fn insert_row(conn: &Conn, item: &ItemRow) -> Result<()> {
        Self::insert_rows(conn, std::slice::from_ref(item))?;
        Ok(())
    }

    /// Inserts rows whose ids do not exist yet (one statement); how many were inserted.
    fn insert_rows(conn: &Conn, items: &[ItemRow]) -> Result<usize> {
        const COLUMNS: usize = 17;
        let mut values: Vec<crate::db::Value> = Vec::with_capacity(items.len() * COLUMNS);
        let mut rows = Vec::with_capacity(items.len());
        for (r, item) in items.iter().enumerate() {
            values.extend([
                item.workspace_uid.clone().into(),
                item.id.clone().into(),
                item.item_type.clone().into(),
                item.session_id.clone().into(),
                item.status.clone().into(),
                item.created_at.into(),
                item.doc.clone().into(),
            ]);
            values.extend(query_values(&parse_doc(&item.doc).unwrap_or_default()));
            let placeholders: Vec<String> = (1..=COLUMNS)
                .map(|c| format!("?{}", r * COLUMNS + c))
                .collect();
            rows.push(format!("({}, 1)", placeholders.join(", ")));
        }
        Ok(conn.execute(
            &format!(
                "INSERT OR IGNORE INTO dp_items ({ITEM_COLUMNS}, q_id, q_name, q_item_type,
                   q_job_type, q_provider, q_target, q_status, q_session, q_priority, q_created,
                   q_indexed)
                 VALUES {}",
                rows.join(", ")
            ),
            crate::db::params_from_iter(values),
        )?)
    }

    /// One item.
    pub fn get_item(&self, workspace_uid: &str, id: &str) -> Result<Option<ItemRow>> {
        read_item(&self.conn(), workspace_uid, id)
    }

    /// [`JobStore::get_item`] answered at once, for request handlers on the async runtime: a
    /// point read by primary key on a SQLite read connection that no writer holds (WAL: it
    /// sees every commit made before it) costs microseconds, less than a hop to the blocking
    /// pool. `None` when it cannot answer without waiting — PostgreSQL, every read connection
    /// busy, the database busy, any error — and the caller then uses [`JobStore::get_item`].
    pub fn get_item_now(&self, workspace_uid: &str, id: &str) -> Option<Option<ItemRow>> {
        read_item(&*self.free_reader()?, workspace_uid, id).ok()
    }

    /// A read connection no one holds now (`None`: all busy, or none on PostgreSQL).
    fn free_reader(&self) -> Option<std::sync::MutexGuard<'_, Conn>> {
        self.readers.iter().find_map(|r| r.try_lock().ok())
    }

    /// Items of a workspace in creation order, optionally of one type and/or one session.
    /// At most `limit` rows (the data plane filters and pages them).
    pub fn list_items(
        &self,
        workspace_uid: &str,
        item_type: Option<&str>,
        session_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ItemRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {ITEM_COLUMNS} FROM dp_items WHERE workspace_uid = ?1
               AND (CAST(?2 AS TEXT) IS NULL OR item_type = ?2)
               AND (CAST(?3 AS TEXT) IS NULL OR session_id = ?3)
             ORDER BY created_at, id LIMIT ?4"
        ))?;
        let rows = stmt.query_map(
            params![workspace_uid, item_type, session_id, limit as i64],
            row_to_item,
        )?;
        Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
    }

    /// One page of a list, filtered, ordered and paged by SQLite (see [`crate::listing`]).
    pub fn list_page(&self, workspace_uid: &str, spec: &ListSpec) -> Result<Vec<ItemRow>> {
        listing::list(&self.conn(), workspace_uid, spec)
    }

    /// One typed item.
    pub fn get<T: Item>(&self, workspace_uid: &str, id: &str) -> Result<Option<Stored<T>>> {
        stored(self.get_item(workspace_uid, id)?)
    }

    /// The one way a status changes. If the item is in one of `from`, checks the move to `to`
    /// ([`qws_core::jobs::transition`]; an illegal move is an error and changes nothing),
    /// applies `edit` to the other fields, and writes it with a conditional update. An item in
    /// another status is left alone ([`Transition::Refused`]), so a terminal status is never
    /// overwritten: a result that arrives after `Cancelled` finds the job not `Executing`.
    pub fn transition<T: Item>(
        &self,
        workspace_uid: &str,
        id: &str,
        from: &[T::Status],
        to: T::Status,
        edit: &mut dyn FnMut(&mut T),
    ) -> Result<Transition<T>> {
        let mut conn = self.conn();
        if !flushed_alone::<T>(to) {
            return unflushed(&mut conn, |conn| {
                Self::transition_tx(conn, workspace_uid, id, from, to, edit)
            });
        }
        Self::transition_tx(&mut conn, workspace_uid, id, from, to, edit)
    }

    /// [`transition_in`] in a write transaction of its own, committed when the move is made.
    fn transition_tx<T: Item>(
        conn: &mut Conn,
        workspace_uid: &str,
        id: &str,
        from: &[T::Status],
        to: T::Status,
        edit: &mut dyn FnMut(&mut T),
    ) -> Result<Transition<T>> {
        let tx = write_tx(conn)?;
        let out = transition_in(&tx, workspace_uid, id, from, to, edit)?;
        if matches!(out, Transition::Done(_)) {
            tx.commit()?;
        }
        Ok(out)
    }

    /// Changes fields other than the status (`edit` cannot change it). `None` if the item does
    /// not exist.
    pub fn edit<T: Item>(
        &self,
        workspace_uid: &str,
        id: &str,
        edit: &mut dyn FnMut(&mut T),
    ) -> Result<Option<T>> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let Some(row) = read_item(&tx, workspace_uid, id)? else {
            return Ok(None);
        };
        if row.item_type != T::ITEM_TYPE.as_str() {
            return Ok(None);
        }
        let mut doc = parse_doc(&row.doc)?;
        let mut item: T = typed(&doc)?;
        let status = item.status();
        edit(&mut item);
        item.set_status_unchecked(status);
        item.merge_into(&mut doc);
        write_doc(&tx, workspace_uid, id, &row.status, &doc, &row.status)?;
        tx.commit()?;
        Ok(Some(item))
    }

    /// Ids of a session's jobs in `status`, in creation order, at most `limit`.
    pub fn session_job_ids(
        &self,
        workspace_uid: &str,
        session_id: &str,
        status: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id FROM dp_items WHERE workspace_uid = ?1 AND session_id = ?2
               AND item_type = 'Job' AND status = ?3 ORDER BY created_at, id LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                workspace_uid,
                session_id,
                status,
                limit.min(i64::MAX as usize) as i64
            ],
            |r| r.get(0),
        )?;
        Ok(rows.collect::<crate::db::Result<Vec<String>>>()?)
    }

    /// Raw rewrite of one item's status and document, bypassing the state machine: for
    /// repairing a database and for tests that stage a crash. The server changes statuses
    /// only with [`JobStore::transition`]. `f` gets the current row and returns the new
    /// `(status, doc)`, or `None` to leave it unchanged. Returns the row as stored afterwards
    /// and whether it changed; `None` if the item does not exist.
    #[doc(hidden)]
    pub fn update_item<F>(
        &self,
        workspace_uid: &str,
        id: &str,
        f: F,
    ) -> Result<Option<(ItemRow, bool)>>
    where
        F: FnOnce(&ItemRow) -> Option<(String, String)>,
    {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let Some(mut row) = read_item(&tx, workspace_uid, id)? else {
            return Ok(None);
        };
        let changed = match f(&row) {
            Some((status, doc)) => {
                let mut values: Vec<crate::db::Value> = vec![
                    workspace_uid.to_string().into(),
                    id.to_string().into(),
                    status.clone().into(),
                    doc.clone().into(),
                ];
                values.extend(query_values(&parse_doc(&doc).unwrap_or_default()));
                tx.execute(
                    &format!(
                        "UPDATE dp_items SET status = ?3, doc = ?4, {}
                          WHERE workspace_uid = ?1 AND id = ?2",
                        query_assignments(5)
                    ),
                    crate::db::params_from_iter(values),
                )?;
                row.status = status;
                row.doc = doc;
                true
            }
            None => false,
        };
        tx.commit()?;
        Ok(Some((row, changed)))
    }

    /// Counts one more attempt at a job that is still `Waiting` and returns the new count;
    /// `None` when the job is gone or no longer waiting. The count is on disk before the
    /// scheduler touches the program, so a program that kills the process is seen at the next
    /// start even though it never reached `Executing`.
    ///
    /// Committed without its own disk flush ([`unflushed`]): the count must survive the process
    /// dying (it does: the commit is in the WAL file), while after a power cut a restart
    /// requeues the job anyway and the next flushed commit carries the count.
    pub fn begin_attempt(&self, workspace_uid: &str, id: &str) -> Result<Option<u32>> {
        let mut conn = self.conn();
        unflushed(&mut conn, |conn| count_attempt(conn, workspace_uid, id))
    }

    /// Takes back the attempt [`JobStore::begin_attempt`] counted, for a job the server set
    /// aside on purpose (a graceful shutdown) rather than lost to a crash.
    pub fn release_attempt(&self, workspace_uid: &str, id: &str) -> Result<()> {
        self.conn().execute(
            "UPDATE dp_items SET attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE workspace_uid = ?1 AND id = ?2",
            params![workspace_uid, id],
        )?;
        Ok(())
    }

    /// Attempts counted by [`JobStore::begin_attempt`] (0 for an unknown item).
    pub fn attempts(&self, workspace_uid: &str, id: &str) -> Result<u32> {
        attempts_in(&self.conn(), workspace_uid, id)
    }

    /// Deletes an item; false if it did not exist.
    pub fn delete_item(&self, workspace_uid: &str, id: &str) -> Result<bool> {
        let n = self.conn().execute(
            "DELETE FROM dp_items WHERE workspace_uid = ?1 AND id = ?2",
            params![workspace_uid, id],
        )?;
        Ok(n > 0)
    }

    /// Jobs in one of `statuses`, oldest first (restart recovery), at most `limit`.
    pub fn jobs_with_status(&self, statuses: &[&str], limit: usize) -> Result<Vec<ItemRow>> {
        let conn = self.conn();
        let list = serde_json::to_string(statuses).expect("strings serialize");
        let elements = match conn.dialect() {
            Dialect::Sqlite => "SELECT value FROM json_each(?1)",
            Dialect::Postgres => {
                "SELECT jsonb_array_elements_text(CAST(CAST(?1 AS TEXT) AS jsonb))"
            }
        };
        let mut stmt = conn.prepare(&format!(
            "SELECT {ITEM_COLUMNS} FROM dp_items WHERE item_type = 'Job'
               AND status IN ({elements}) ORDER BY created_at, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![list, limit as i64], row_to_item)?;
        Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
    }

    /// Ids of a workspace's jobs that are still waiting or executing (to stop them when the
    /// workspace is deleted), at most `limit`.
    pub fn active_job_ids(&self, workspace_uid: &str, limit: usize) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id FROM dp_items WHERE workspace_uid = ?1 AND item_type = 'Job'
               AND status IN ('Waiting', 'Executing') ORDER BY created_at, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![workspace_uid, limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<crate::db::Result<Vec<String>>>()?)
    }

    /// Quota usage of a workspace for one period.
    pub fn quota_usage(&self, workspace_uid: &str, period: &str) -> Result<Vec<QuotaUsageRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT provider_id, period, used FROM dp_quota_usage WHERE workspace_uid = ?1 AND period = ?2 ORDER BY provider_id",
        )?;
        let rows = stmt.query_map(params![workspace_uid, period], |r| {
            Ok(QuotaUsageRow {
                provider_id: r.get(0)?,
                period: r.get(1)?,
                used: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Crypto;

    fn open() -> (tempfile::TempDir, JobStore) {
        let dir = tempfile::tempdir().unwrap();
        let (crypto, _) = Crypto::load_or_create(dir.path()).unwrap();
        let _store = crate::Store::open(dir.path(), crypto).unwrap();
        let js = JobStore::open(dir.path()).unwrap();
        (dir, js)
    }

    fn job(id: &str, t: i64) -> ItemRow {
        ItemRow {
            workspace_uid: "w1".into(),
            id: id.into(),
            item_type: "Job".into(),
            session_id: None,
            status: "Waiting".into(),
            created_at: t,
            doc: format!("{{\"id\":\"{id}\"}}"),
        }
    }

    #[test]
    fn insert_counts_quota_and_refuses_duplicates_and_exhaustion() {
        let (_d, s) = open();
        assert_eq!(
            s.insert_job(&job("a", 1), "ionq", "2026-11", Some(2))
                .unwrap(),
            Ok(())
        );
        assert_eq!(
            s.insert_job(&job("a", 2), "ionq", "2026-11", Some(2))
                .unwrap(),
            Err(InsertRefusal::Exists)
        );
        assert_eq!(
            s.insert_job(&job("b", 3), "ionq", "2026-11", Some(2))
                .unwrap(),
            Ok(())
        );
        assert_eq!(
            s.insert_job(&job("c", 4), "ionq", "2026-11", Some(2))
                .unwrap(),
            Err(InsertRefusal::QuotaExceeded { used: 2, limit: 2 })
        );
        let u = s.quota_usage("w1", "2026-11").unwrap();
        assert_eq!(u[0].used, 2);
        assert_eq!(s.list_items("w1", Some("Job"), None, 10).unwrap().len(), 2);
    }

    #[test]
    fn attempts_are_counted_only_for_waiting_jobs_and_can_be_released() {
        let (_d, s) = open();
        assert_eq!(s.begin_attempt("w1", "a").unwrap(), None, "no such job");
        s.insert_job(&job("a", 1), "ionq", "p", None)
            .unwrap()
            .unwrap();
        assert_eq!(s.attempts("w1", "a").unwrap(), 0);
        assert_eq!(s.begin_attempt("w1", "a").unwrap(), Some(1));
        assert_eq!(s.begin_attempt("w1", "a").unwrap(), Some(2));
        s.release_attempt("w1", "a").unwrap();
        assert_eq!(s.attempts("w1", "a").unwrap(), 1);
        s.update_item("w1", "a", |_| Some(("Executing".into(), "{}".into())))
            .unwrap();
        assert_eq!(s.begin_attempt("w1", "a").unwrap(), None, "not waiting");
        assert_eq!(s.attempts("w1", "a").unwrap(), 1);
        s.release_attempt("w1", "a").unwrap();
        s.release_attempt("w1", "a").unwrap();
        assert_eq!(s.attempts("w1", "a").unwrap(), 0, "never below zero");
    }

    #[test]
    fn update_is_conditional_and_status_queries_work() {
        let (_d, s) = open();
        s.insert_job(&job("a", 1), "ionq", "p", None)
            .unwrap()
            .unwrap();
        let (_, changed) = s
            .update_item("w1", "a", |r| {
                (r.status == "Waiting").then(|| ("Executing".into(), "{}".into()))
            })
            .unwrap()
            .unwrap();
        assert!(changed);
        let (row, changed) = s
            .update_item("w1", "a", |r| {
                (r.status == "Waiting").then(|| ("Executing".into(), "{}".into()))
            })
            .unwrap()
            .unwrap();
        assert!(!changed);
        assert_eq!(row.status, "Executing");
        assert_eq!(s.jobs_with_status(&["Executing"], 10).unwrap().len(), 1);
        assert!(s.delete_item("w1", "a").unwrap());
        assert!(s.get_item("w1", "a").unwrap().is_none());
    }

    #[test]
    fn reads_without_waiting_see_every_commit_and_step_aside_when_busy() {
        let (_d, s) = open();
        s.insert_job(&job("a", 1), "ionq", "p", None)
            .unwrap()
            .unwrap();
        if s.readers.is_empty() {
            // PostgreSQL: always the ordinary path.
            assert_eq!(s.get_item_now("w1", "a"), None);
            return;
        }
        let now = |s: &JobStore| s.get_item_now("w1", "a").expect("a free read connection");
        assert_eq!(now(&s).unwrap().status, "Waiting");
        s.update_item("w1", "a", |_| Some(("Succeeded".into(), "{}".into())))
            .unwrap();
        assert_eq!(now(&s).unwrap().status, "Succeeded", "the update, at once");
        assert!(s.delete_item("w1", "a").unwrap());
        assert!(now(&s).is_none(), "the deletion, at once");
        // Every read connection held: the caller is sent the ordinary way, never kept waiting.
        let held: Vec<_> = s.readers.iter().map(|r| r.lock().unwrap()).collect();
        assert_eq!(s.get_item_now("w1", "a"), None);
        drop(held);
        assert_eq!(s.get_item_now("w1", "a"), Some(None));
    }

    #[test]
    fn stored_sas_are_stripped_at_open() {
        if crate::db::test_cluster::wanted() {
            // Repairs of rows older SQLite versions wrote; no PostgreSQL database has them.
            return;
        }
        let (d, s) = open();
        let mut row = job("old", 1);
        row.doc = r#"{"id":"old","containerUri":"http://127.1:1/job-old?sv=1&sig=abc","inputDataUri":"http://127.1:1/job-old/inputData?sig=x","outputDataUri":"http://127.1:1/job-old/outputData","name":"keep?me"}"#.into();
        s.insert_job(&row, "ionq", "p", None).unwrap().unwrap();
        drop(s);
        let s = JobStore::open(d.path()).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&s.get_item("w1", "old").unwrap().unwrap().doc).unwrap();
        assert_eq!(doc["containerUri"], "http://127.1:1/job-old");
        assert_eq!(doc["inputDataUri"], "http://127.1:1/job-old/inputData");
        assert_eq!(doc["outputDataUri"], "http://127.1:1/job-old/outputData");
        assert_eq!(doc["name"], "keep?me");
        assert_eq!(strip_stored_queries(&s.conn()).unwrap(), 0, "idempotent");
    }

    fn full_job(id: &str, t: i64, name: &str, target: &str) -> ItemRow {
        let doc = serde_json::json!({
            "name": name, "target": target, "inputDataFormat": "ionq.circuit.v1",
            "id": id, "itemType": "Job", "jobType": "QuantumComputing", "priority": "Standard",
            "inputParams": {}, "tags": [], "providerId": "ionq", "containerUri": "http://h/c",
            "inputDataUri": "http://h/c/inputData", "outputDataFormat": "ionq.quantum-results.v1",
            "outputDataUri": "http://h/c/outputData",
            "creationTime": format!("2026-11-{:02}T00:00:00.0000000Z", t),
            "createdBy": "k", "createdByType": "Key", "beginExecutionTime": null,
            "endExecutionTime": null, "cancellationTime": null, "costEstimate": null,
            "isCancelling": false, "errorData": null, "status": "Waiting"
        });
        ItemRow {
            doc: doc.to_string(),
            ..job(id, t)
        }
    }

    #[test]
    fn transitions_are_checked_conditional_and_final() {
        use qws_core::jobs::{Job, JobStatus::*};
        let (_d, s) = open();
        s.insert_job(&full_job("a", 1, "n", "ionq.simulator"), "ionq", "p", None)
            .unwrap()
            .unwrap();
        let t = s
            .transition::<Job>("w1", "a", &[Waiting], Executing, &mut |j| {
                j.begin_execution_time = Some("b".into())
            })
            .unwrap();
        assert!(matches!(&t, Transition::Done(j) if j.status == Executing));
        assert_eq!(s.get_item("w1", "a").unwrap().unwrap().status, "Executing");
        // Not in `from`: refused, unchanged.
        let t = s
            .transition::<Job>("w1", "a", &[Waiting], Failed, &mut |_| {})
            .unwrap();
        assert!(matches!(t, Transition::Refused(j) if j.status == Executing));
        // Illegal even when asked for: an error, nothing written.
        let e = s
            .transition::<Job>("w1", "a", &[Executing], Executing, &mut |_| {})
            .unwrap_err();
        assert!(matches!(e, StoreError::IllegalTransition(_)), "{e}");
        s.transition::<Job>("w1", "a", &[Waiting, Executing], Cancelled, &mut |_| {})
            .unwrap();
        // A late result never replaces Cancelled.
        let late = s
            .transition::<Job>("w1", "a", &[Executing], Succeeded, &mut |_| {})
            .unwrap();
        assert!(matches!(late, Transition::Refused(j) if j.status == Cancelled));
        let doc: Value =
            serde_json::from_str(&s.get_item("w1", "a").unwrap().unwrap().doc).unwrap();
        assert_eq!(doc["status"], "Cancelled");
        assert_eq!(doc["beginExecutionTime"], "b");
        assert_eq!(
            s.transition::<Job>("w1", "zz", &[Waiting], Executing, &mut |_| {})
                .unwrap(),
            Transition::Missing
        );
        // Edits never change the status.
        let j = s
            .edit::<Job>("w1", "a", &mut |j| {
                j.status = Waiting;
                j.priority = Some("High".into())
            })
            .unwrap()
            .unwrap();
        assert_eq!(j.status, Cancelled);
        assert_eq!(s.get_item("w1", "a").unwrap().unwrap().status, "Cancelled");
    }

    #[test]
    fn lists_filter_order_and_page_in_sql() {
        use crate::listing::*;
        let (_d, s) = open();
        for (i, (name, target)) in [
            ("Bell", "ionq.simulator"),
            ("ghz", "quantinuum.sim.h1-1e"),
            ("bell-2", "ionq.simulator"),
            ("x", "ionq.simulator"),
        ]
        .iter()
        .enumerate()
        {
            let id = format!("j{i}");
            s.insert_job(
                &full_job(&id, i as i64 + 1, name, target),
                "ionq",
                "p",
                None,
            )
            .unwrap()
            .unwrap();
        }
        let ids = |spec: &ListSpec| -> Vec<String> {
            s.list_page("w1", spec)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        let mut spec = ListSpec {
            scope: Scope::Jobs,
            cond: Some(Cond::And(
                Box::new(Cond::StartsWith(Field::Name, "BELL".into())),
                Box::new(Cond::Compare(
                    Field::Target,
                    CmpOp::Eq,
                    Operand::Text("IonQ.Simulator".into()),
                )),
            )),
            order: vec![(Field::CreationTime, true)],
            skip: 0,
            limit: 10,
        };
        assert_eq!(ids(&spec), ["j2", "j0"]);
        spec.skip = 1;
        spec.limit = 1;
        assert_eq!(ids(&spec), ["j0"]);
        spec.cond = Some(Cond::Compare(
            Field::Name,
            CmpOp::Ne,
            Operand::Text("x".into()),
        ));
        spec.skip = 0;
        spec.limit = 10;
        spec.order = vec![];
        assert_eq!(ids(&spec), ["j0", "j1", "j2"]);
        let day2 = qws_core::jobs::parse_time_nanos("2026-11-02", false).unwrap();
        spec.cond = Some(Cond::Compare(
            Field::CreationTime,
            CmpOp::Ge,
            Operand::Time(day2),
        ));
        assert_eq!(ids(&spec), ["j1", "j2", "j3"]);
        spec.cond = Some(Cond::Never);
        assert!(ids(&spec).is_empty());
        spec.cond = None;
        spec.scope = Scope::Sessions;
        assert!(ids(&spec).is_empty());
    }

    #[test]
    fn rows_written_before_the_list_columns_are_indexed_at_open() {
        if crate::db::test_cluster::wanted() {
            // Repairs of rows older SQLite versions wrote; no PostgreSQL database has them.
            return;
        }
        use crate::listing::*;
        let (d, s) = open();
        s.insert_job(
            &full_job("old", 1, "Legacy", "ionq.simulator"),
            "ionq",
            "p",
            None,
        )
        .unwrap()
        .unwrap();
        s.conn()
            .execute(
                "UPDATE dp_items SET q_indexed = 0, q_name = NULL, q_target = NULL, q_created = NULL",
                [],
            )
            .unwrap();
        drop(s);
        let s = JobStore::open(d.path()).unwrap();
        let spec = ListSpec {
            scope: Scope::Jobs,
            cond: Some(Cond::StartsWith(Field::Name, "leg".into())),
            order: vec![(Field::CreationTime, false)],
            skip: 0,
            limit: 10,
        };
        assert_eq!(s.list_page("w1", &spec).unwrap().len(), 1);
        let left: i64 = s
            .conn()
            .query_row(
                "SELECT count(*) FROM dp_items WHERE q_indexed = 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn containers_belong_to_one_workspace() {
        let (_d, s) = open();
        assert!(s.claim_container("w1", "job-1").unwrap());
        assert!(s.claim_container("w1", "job-1").unwrap());
        assert!(!s.claim_container("w2", "job-1").unwrap());
        assert_eq!(s.container_owner("job-1").unwrap().as_deref(), Some("w1"));
    }
}
