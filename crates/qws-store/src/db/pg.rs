//! The PostgreSQL engine of [`super::Conn`].
//!
//! Store calls are synchronous (async callers run them on blocking threads, and a few short
//! ones run inline). So the connection's socket is driven by one small background runtime
//! owned by this module, and each call waits for its answer with a plain thread-blocking
//! executor, which is allowed on any thread, inside a runtime or not.

use super::{translate, Error, Result, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;
use tokio_postgres::types::{IsNull, ToSql as PgToSql, Type};
use tokio_postgres::{Client, NoTls, Statement};

/// The advisory lock every transaction holds: PostgreSQL transactions are serialized as
/// SQLite's (one writer at a time), so read-check-write code keeps its meaning on any node.
const WRITER_LOCK: i64 = 0x7177_735f_7478; // "qws_tx"

/// Prepared statements kept per connection (statements with variable-length `IN` lists make
/// the set open-ended, so it is bounded).
const STATEMENT_CACHE: usize = 512;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("qws-postgres")
            .enable_all()
            .build()
            .expect("starting the PostgreSQL I/O thread")
    })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

pub(crate) struct PgConn {
    url: String,
    client: Client,
    statements: RefCell<HashMap<String, Statement>>,
}

fn connect(url: &str) -> Result<Client> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| Error::Other(format!("invalid PostgreSQL URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    config.application_name("qws");
    let task = runtime().spawn(async move {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away; the next call then
            // sees a closed client and `revive` reconnects.
            let _ = connection.await;
        });
        Ok::<_, tokio_postgres::Error>(client)
    });
    let client = block_on(task)
        .map_err(|e| Error::Other(format!("PostgreSQL connection task failed: {e}")))??;
    // A transaction waiting on the writer lock longer than this is stuck (or deadlocked
    // across two connections of one process): fail it rather than hang the request.
    block_on(client.batch_execute("SET lock_timeout = '30s'"))?;
    Ok(client)
}

impl PgConn {
    pub(crate) fn connect(url: &str) -> Result<PgConn> {
        Ok(PgConn {
            url: url.to_string(),
            client: connect(url)?,
            statements: RefCell::new(HashMap::new()),
        })
    }

    pub(crate) fn revive(&mut self) {
        if self.client.is_closed() {
            if let Ok(client) = connect(&self.url) {
                self.client = client;
                self.statements.borrow_mut().clear();
            }
        }
    }

    fn statement(&self, sql: &str) -> Result<Statement> {
        if let Some(st) = self.statements.borrow().get(sql) {
            return Ok(st.clone());
        }
        let st = block_on(self.client.prepare(&translate(sql)))?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_string(), st.clone());
        Ok(st)
    }

    pub(crate) fn execute(&self, sql: &str, values: &[Value]) -> Result<usize> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn PgToSql + Sync)> =
            values.iter().map(|v| v as &(dyn PgToSql + Sync)).collect();
        let n = block_on(self.client.execute(&st, &params))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub(crate) fn query(&self, sql: &str, values: &[Value]) -> Result<Vec<Vec<Value>>> {
        let st = self.statement(sql)?;
        let params: Vec<&(dyn PgToSql + Sync)> =
            values.iter().map(|v| v as &(dyn PgToSql + Sync)).collect();
        let rows = block_on(self.client.query(&st, &params))?;
        rows.iter().map(read_row).collect()
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        Ok(block_on(self.client.batch_execute(sql))?)
    }

    pub(crate) fn begin(&self) -> Result<()> {
        self.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})"
        ))
    }
}

fn read_row(row: &tokio_postgres::Row) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let t = col.type_();
        let v = match *t {
            Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Integer),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map(|v| Value::Integer(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)?
                .map(|v| Value::Integer(v.into())),
            Type::OID => row
                .try_get::<_, Option<u32>>(i)?
                .map(|v| Value::Integer(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)?
                .map(|v| Value::Integer(v.into())),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
            Type::FLOAT4 => row
                .try_get::<_, Option<f32>>(i)?
                .map(|v| Value::Real(v.into())),
            Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                row.try_get::<_, Option<String>>(i)?.map(Value::Text)
            }
            // `SELECT 1` on an untyped literal, counts etc. are covered above; anything else
            // (NUMERIC from SUM, JSON) must be cast in the statement.
            _ => {
                return Err(Error::Other(format!(
                    "column {i} has type {t}, which the store does not read (cast it)"
                )))
            }
        };
        out.push(v.unwrap_or(Value::Null));
    }
    Ok(out)
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl PgToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::FLOAT4 => (*i as f32).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    i.to_string().as_str().to_sql(ty, out)
                }
                _ => Err(format!("an integer cannot be bound to a {ty} parameter").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => f.to_sql(&Type::FLOAT8, out),
            },
            Value::Text(s) => match *ty {
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                _ => s.as_str().to_sql(&Type::TEXT, out),
            },
            Value::Blob(b) => b.as_slice().to_sql(&Type::BYTEA, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Converted by the inferred parameter type in `to_sql`.
        true
    }

    tokio_postgres::types::to_sql_checked!();
}
