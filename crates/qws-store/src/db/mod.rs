//! The SQL layer under the store: one connection type, [`Conn`], over two engines, SQLite
//! (embedded, the default) and PostgreSQL (shared by several nodes).
//!
//! Its surface copies the part of `rusqlite` the store uses (`execute`, `query_row`,
//! `prepare` + `query_map`, `transaction`, `params!`, `optional()`, positional `?N`
//! parameters), so store code is written once, in SQLite's SQL, and runs on both:
//!
//! * statements are translated for PostgreSQL ([`translate`]): `?N`/`?` become `$N`,
//!   `INSERT OR IGNORE` becomes `ON CONFLICT DO NOTHING`, `instr(` becomes `strpos(`;
//! * parameters are engine-neutral [`Value`]s, converted to whatever type PostgreSQL inferred
//!   for the placeholder (an integer bound to a `BOOLEAN` or `BIGINT` column both work);
//! * rows are read into [`Value`]s and typed by [`FromSql`], the same for both engines;
//! * the few real differences are decided by [`Conn::dialect`] at the call site (JSON
//!   functions) or in the schema (`crate::schema` keeps one list of migrations with a
//!   PostgreSQL text where the SQLite one does not translate).
//!
//! Transactions on PostgreSQL take one advisory lock for the whole database, so
//! read-modify-write transactions are serialized exactly as SQLite's single writer serializes
//! them, across every node that shares the database. The exception is
//! [`Conn::concurrent_transaction`], for job leases (`crate::leases`), which lock only the job's
//! own row, so nodes claiming, starting and ending jobs do not queue behind one lock.
//!
//! # Porting a module written against `rusqlite`
//!
//! * Imports: `rusqlite::{params, Connection, OptionalExtension}` → `crate::db::{params, Conn,
//!   OptionalExtension}`; `rusqlite::Result`, `Row<'_>`, `types::Value`, `ToSql`,
//!   `params_from_iter`, `Error` → the same names in `crate::db`.
//! * `transaction_with_behavior(Immediate)` → [`Conn::write_transaction`] (or
//!   `crate::store::write_tx`); lease-style work that guards rows itself →
//!   [`Conn::concurrent_transaction`].
//! * SQL stays SQLite's, with these rules: a condition is a comparison, never a bare `0`/`1`
//!   (`1 = 0`); `?N IS NULL` needs a type (`CAST(?N AS TEXT) IS NULL`); no scalar `MAX(a, b)`
//!   (`CASE`), `IFNULL` (`COALESCE`), `strftime`, `randomblob`, `json_*` or `rowid` (branch
//!   on [`Conn::dialect`], or add a column); upserts qualify the target's columns
//!   (`SET n = t.n + 1`); `INSERT OR REPLACE` → `ON CONFLICT (…) DO UPDATE`;
//!   `last_insert_rowid()` → `RETURNING id`; `SUM` → `CAST(SUM(x) AS BIGINT)`; `LIKE` is
//!   case-sensitive on PostgreSQL; spell `NULLS FIRST`/`NULLS LAST` when ordering nullable
//!   columns.
//! * Migrations: append the SQLite text to `schema::MIGRATIONS`; it is translated word by word
//!   (`schema::postgres_ddl`), and needs its own PostgreSQL text in `schema::postgres_text`
//!   only for SQLite-only features (triggers, functions). Tables named `id_*` bump the
//!   identity generation on PostgreSQL automatically.
//! * Tests that open stores with `Store::open(dir, …)` run on PostgreSQL under
//!   `QWS_TEST_DATABASE=postgres` unchanged; tests of SQLite files skip themselves there
//!   (`test_cluster::wanted()`).

mod pg;
pub mod test_cluster;
mod translate;
mod value;

pub use translate::translate;
pub use value::{FromSql, ToSql, Value};

use std::path::PathBuf;

/// Which database a node uses.
#[derive(Clone, PartialEq, Eq)]
pub enum DbTarget {
    /// `qws.db` in this data directory (SQLite, WAL).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host:port/db`).
    Postgres(String),
}

impl std::fmt::Debug for DbTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DbTarget::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            // The URL may carry a password.
            DbTarget::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

impl DbTarget {
    /// Parses a `--database` value: a `postgres://` or `postgresql://` URL. SQLite needs no URL
    /// (it is the data directory's own database), so anything else is refused.
    pub fn parse_url(url: &str) -> std::result::Result<DbTarget, String> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            url.parse::<tokio_postgres::Config>()
                .map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;
            Ok(DbTarget::Postgres(url.to_string()))
        } else {
            Err("the database URL must start with postgres:// or postgresql://".into())
        }
    }

    /// The SQLite database of data directory `dir`. (In this crate's unit tests with
    /// `QWS_TEST_DATABASE=postgres`, a PostgreSQL database of the test cluster that stands for
    /// `dir` instead, so every store test runs on both engines.)
    pub fn for_dir(dir: &std::path::Path) -> DbTarget {
        #[cfg(test)]
        if test_cluster::wanted() {
            return DbTarget::Postgres(test_cluster::TestCluster::shared().database_for_dir(dir));
        }
        DbTarget::Sqlite(dir.to_path_buf())
    }

    /// The engine.
    pub fn dialect(&self) -> Dialect {
        match self {
            DbTarget::Sqlite(_) => Dialect::Sqlite,
            DbTarget::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// The SQL engine behind a [`Conn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Errors of the SQL layer. Messages never contain parameter values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `query_row` found no row.
    #[error("query returned no rows")]
    QueryReturnedNoRows,
    /// SQLite failed.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (or the connection to it).
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A column did not hold the type the code reads.
    #[error("column {index}: expected {expected}, found {found}")]
    Type {
        /// Column index.
        index: usize,
        /// The Rust type asked for.
        expected: &'static str,
        /// What the column held.
        found: &'static str,
    },
    /// A column index past the row's end.
    #[error("no column {0}")]
    NoColumn(usize),
    /// Anything else (connection setup, unsupported column types).
    #[error("{0}")]
    Other(String),
}

/// Result alias of the SQL layer.
pub type Result<T> = std::result::Result<T, Error>;

/// `rusqlite`'s `optional()`: a missing row is `None`, not an error.
pub trait OptionalExtension<T> {
    /// `Ok(None)` for [`Error::QueryReturnedNoRows`].
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One result row.
pub struct Row<'a> {
    values: &'a [Value],
}

/// A column index (positional, from 0).
pub trait RowIndex {
    /// The index.
    fn index(&self) -> usize;
}

impl RowIndex for usize {
    fn index(&self) -> usize {
        *self
    }
}

impl Row<'_> {
    /// Column `idx` as `T`.
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let i = idx.index();
        let v = self.values.get(i).ok_or(Error::NoColumn(i))?;
        T::from_sql(v).map_err(|expected| Error::Type {
            index: i,
            expected,
            found: v.kind(),
        })
    }
}

/// Positional parameters of a statement.
pub trait Params {
    /// The values, in order.
    fn into_values(self) -> Vec<Value>;
}

impl Params for &[&dyn ToSql] {
    fn into_values(self) -> Vec<Value> {
        self.iter().map(|p| p.to_sql()).collect()
    }
}

impl<const N: usize> Params for &[&dyn ToSql; N] {
    fn into_values(self) -> Vec<Value> {
        self.iter().map(|p| p.to_sql()).collect()
    }
}

impl Params for [&dyn ToSql; 0] {
    fn into_values(self) -> Vec<Value> {
        Vec::new()
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn into_values(self) -> Vec<Value> {
                self.iter().map(|p| p.to_sql()).collect()
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);

/// Parameters from an iterator (`rusqlite::params_from_iter`).
pub struct ParamsFromIter(Vec<Value>);

/// Parameters from an iterator of values.
pub fn params_from_iter<I>(iter: I) -> ParamsFromIter
where
    I: IntoIterator,
    I::Item: ToSql,
{
    ParamsFromIter(iter.into_iter().map(|v| v.to_sql()).collect())
}

impl Params for ParamsFromIter {
    fn into_values(self) -> Vec<Value> {
        self.0
    }
}

/// `rusqlite::params!`: a slice of heterogeneous parameters.
macro_rules! params {
    () => { &[] as &[&dyn $crate::db::ToSql] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::db::ToSql),+] as &[&dyn $crate::db::ToSql] };
}
pub(crate) use params;

enum Engine {
    Sqlite(rusqlite::Connection),
    Postgres(pg::PgConn),
}

/// One database connection (callers keep it behind a mutex, as they kept the SQLite one).
pub struct Conn {
    engine: Engine,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Conn({:?})", self.dialect())
    }
}

impl Conn {
    /// Wraps an open SQLite connection.
    pub fn from_sqlite(conn: rusqlite::Connection) -> Conn {
        Conn {
            engine: Engine::Sqlite(conn),
        }
    }

    /// Connects to PostgreSQL.
    pub fn connect_postgres(url: &str) -> Result<Conn> {
        Ok(Conn {
            engine: Engine::Postgres(pg::PgConn::connect(url)?),
        })
    }

    /// The engine.
    pub fn dialect(&self) -> Dialect {
        match self.engine {
            Engine::Sqlite(_) => Dialect::Sqlite,
            Engine::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection, for engine-specific setup (pragmas, hooks).
    pub fn sqlite(&mut self) -> Option<&mut rusqlite::Connection> {
        match &mut self.engine {
            Engine::Sqlite(c) => Some(c),
            Engine::Postgres(_) => None,
        }
    }

    /// Reconnects a PostgreSQL connection the server closed (a restart, a failover); SQLite
    /// connections never break. Callers run it before using a connection they keep.
    pub fn revive(&mut self) {
        if let Engine::Postgres(p) = &mut self.engine {
            p.revive();
        }
    }

    /// Runs one statement; the number of rows changed.
    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        let values = params.into_values();
        match &self.engine {
            Engine::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                Ok(st.execute(rusqlite::params_from_iter(values.iter()))?)
            }
            Engine::Postgres(p) => p.execute(sql, &values),
        }
    }

    /// Runs statements separated by `;`, without parameters (schema changes). The text is
    /// passed as written: it must already be in the engine's dialect.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Engine::Postgres(p) => p.batch(sql),
        }
    }

    /// The first row mapped by `f`; [`Error::QueryReturnedNoRows`] if there is none.
    pub fn query_row<P, T, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let mut f = Some(f);
        let mut out = None;
        self.for_each_row(sql, params.into_values(), Some(1), &mut |row| {
            if let Some(f) = f.take() {
                out = Some(f(row));
            }
            Ok(())
        })?;
        out.unwrap_or(Err(Error::QueryReturnedNoRows))
    }

    /// A statement to run with [`Statement::query_map`].
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        Ok(Statement {
            conn: self,
            sql: sql.to_string(),
        })
    }

    /// The same as [`Conn::prepare`] (both engines cache prepared statements per connection).
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare(sql)
    }

    /// Starts a transaction (SQLite: deferred; PostgreSQL: holding the database-wide writer
    /// lock). It rolls back when dropped without [`Transaction::commit`].
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        self.begin(false)
    }

    /// Starts a transaction that holds the write lock from its start (SQLite `IMMEDIATE`;
    /// PostgreSQL: the writer lock, as every transaction).
    pub fn write_transaction(&mut self) -> Result<Transaction<'_>> {
        self.begin(true)
    }

    /// Starts a transaction that does not take PostgreSQL's writer lock, for work that must
    /// run concurrently on several nodes and guards its rows itself (`SELECT … FOR UPDATE
    /// SKIP LOCKED`, conditional updates); PostgreSQL's `READ COMMITTED` applies. On SQLite
    /// the same as [`Conn::write_transaction`].
    pub fn concurrent_transaction(&mut self) -> Result<Transaction<'_>> {
        match &self.engine {
            Engine::Sqlite(c) => c.execute_batch("BEGIN IMMEDIATE")?,
            Engine::Postgres(p) => p.batch("BEGIN")?,
        }
        Ok(Transaction {
            conn: self,
            done: false,
        })
    }

    fn begin(&mut self, immediate: bool) -> Result<Transaction<'_>> {
        match &self.engine {
            Engine::Sqlite(c) => {
                c.execute_batch(if immediate {
                    "BEGIN IMMEDIATE"
                } else {
                    "BEGIN"
                })?;
            }
            Engine::Postgres(p) => p.begin()?,
        }
        Ok(Transaction {
            conn: self,
            done: false,
        })
    }

    fn for_each_row(
        &self,
        sql: &str,
        values: Vec<Value>,
        max_rows: Option<usize>,
        f: &mut dyn FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        match &self.engine {
            Engine::Sqlite(c) => {
                let mut st = c.prepare_cached(sql)?;
                let n = st.column_count();
                let mut rows = st.query(rusqlite::params_from_iter(values.iter()))?;
                let mut seen = 0usize;
                let mut buf = Vec::with_capacity(n);
                while let Some(r) = rows.next()? {
                    buf.clear();
                    for i in 0..n {
                        buf.push(Value::from_sqlite(r.get_ref(i)?));
                    }
                    f(&Row { values: &buf })?;
                    seen += 1;
                    if max_rows.is_some_and(|m| seen >= m) {
                        break;
                    }
                }
                Ok(())
            }
            Engine::Postgres(p) => {
                for row in p.query(sql, &values)? {
                    f(&Row { values: &row })?;
                }
                Ok(())
            }
        }
    }
}

/// A statement prepared with [`Conn::prepare`].
pub struct Statement<'c> {
    conn: &'c Conn,
    sql: String,
}

impl Statement<'_> {
    /// Every row mapped by `f` (read eagerly; iterate the result as `rusqlite`'s rows).
    pub fn query_map<P, T, F>(
        &mut self,
        params: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T>>>
    where
        P: Params,
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let mut out = Vec::new();
        self.conn
            .for_each_row(&self.sql, params.into_values(), None, &mut |row| {
                out.push(f(row));
                Ok(())
            })?;
        Ok(out.into_iter())
    }

    /// Runs the statement; the number of rows changed.
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        self.conn.execute(&self.sql, params)
    }
}

/// An open transaction; dereferences to its [`Conn`].
pub struct Transaction<'c> {
    conn: &'c Conn,
    done: bool,
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Transaction<'_> {
    /// Commits.
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.execute_batch("COMMIT")
    }

    /// Rolls back.
    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.conn.execute_batch("ROLLBACK")
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests;
