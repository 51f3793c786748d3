//! Job and session lists filtered, ordered and paged by the database.
//!
//! Every write of an item document also writes the fields a list filter can name into
//! `q_*` columns, as the data plane's filter compares them: text lower-cased (comparisons are
//! case-insensitive), `creationTime` as unix nanoseconds. A [`ListSpec`] becomes one
//! `SELECT … WHERE … ORDER BY … LIMIT … OFFSET …` over those columns, so listing the newest
//! page of 100,000 jobs reads one page, not 100,000 documents.
//!
//! The semantics match filtering the documents in memory: a field that is missing (or not a
//! string) fails every comparison except `ne`, missing values sort first in ascending order,
//! and ties keep creation order (`created_at`, then `id`).

use crate::db::Value as SqlValue;
use crate::db::{Conn, Dialect};
use crate::jobs::{row_to_item, ItemRow, ITEM_COLUMNS};
use crate::store::Result;
use serde_json::{Map, Value};

/// A document field lists can filter and order on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `id`.
    Id,
    /// `name`.
    Name,
    /// `itemType`.
    ItemType,
    /// `jobType`.
    JobType,
    /// `providerId`.
    ProviderId,
    /// `target`.
    Target,
    /// `status`.
    Status,
    /// `sessionId`.
    SessionId,
    /// `priority`.
    Priority,
    /// `creationTime` (compared as a time).
    CreationTime,
}

impl Field {
    /// Every field.
    pub const ALL: [Field; 10] = [
        Field::Id,
        Field::Name,
        Field::ItemType,
        Field::JobType,
        Field::ProviderId,
        Field::Target,
        Field::Status,
        Field::SessionId,
        Field::Priority,
        Field::CreationTime,
    ];

    /// The document's key for the field.
    pub fn json_name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Name => "name",
            Field::ItemType => "itemType",
            Field::JobType => "jobType",
            Field::ProviderId => "providerId",
            Field::Target => "target",
            Field::Status => "status",
            Field::SessionId => "sessionId",
            Field::Priority => "priority",
            Field::CreationTime => "creationTime",
        }
    }

    /// The field stored under a document key.
    pub fn from_json_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.json_name() == name)
    }

    fn column(self) -> &'static str {
        match self {
            Field::Id => "q_id",
            Field::Name => "q_name",
            Field::ItemType => "q_item_type",
            Field::JobType => "q_job_type",
            Field::ProviderId => "q_provider",
            Field::Target => "q_target",
            Field::Status => "q_status",
            Field::SessionId => "q_session",
            Field::Priority => "q_priority",
            Field::CreationTime => "q_created",
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`.
    Eq,
    /// `<>` (true for a missing field).
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CmpOp {
    fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// Text, compared case-insensitively.
    Text(String),
    /// A time in unix nanoseconds (for [`Field::CreationTime`]).
    Time(i128),
}

/// A list condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Both hold.
    And(Box<Cond>, Box<Cond>),
    /// Either holds.
    Or(Box<Cond>, Box<Cond>),
    /// The field starts with the text (case-insensitively).
    StartsWith(Field, String),
    /// `field op operand`.
    Compare(Field, CmpOp, Operand),
    /// Matches nothing (e.g. a time bound that is not a time).
    Never,
}

/// Which items a list covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Jobs.
    Jobs,
    /// Sessions.
    Sessions,
    /// Jobs of one session.
    SessionJobs(String),
    /// Sessions and the jobs outside sessions (`topLevelItems`).
    TopLevel,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpec {
    /// Which items.
    pub scope: Scope,
    /// Filter.
    pub cond: Option<Cond>,
    /// Order keys (`true` = descending); creation order breaks ties.
    pub order: Vec<(Field, bool)>,
    /// Items to skip.
    pub skip: usize,
    /// Items to return at most.
    pub limit: usize,
}

/// The `q_*` column values of a document, in [`Field::ALL`] order (text lower-cased,
/// `creationTime` as nanoseconds).
pub(crate) fn query_values(doc: &Map<String, Value>) -> Vec<SqlValue> {
    Field::ALL
        .into_iter()
        .map(|f| {
            let s = doc.get(f.json_name()).and_then(Value::as_str);
            match (f, s) {
                (_, None) => SqlValue::Null,
                (Field::CreationTime, Some(s)) => {
                    match qws_core::jobs::parse_time_nanos(s, false) {
                        Some(n) => SqlValue::Integer(clamp_i64(n)),
                        None => SqlValue::Null,
                    }
                }
                (_, Some(s)) => SqlValue::Text(s.to_lowercase()),
            }
        })
        .collect()
}

/// `q_id = ?N, q_name = ?N+1, …, q_indexed = 1` with placeholders from `first`.
pub(crate) fn query_assignments(first: usize) -> String {
    let mut parts: Vec<String> = Field::ALL
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} = ?{}", f.column(), first + i))
        .collect();
    parts.push("q_indexed = 1".into());
    parts.join(", ")
}

fn clamp_i64(n: i128) -> i64 {
    n.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn cond_sql(c: &Cond, dialect: Dialect, params: &mut Vec<SqlValue>, out: &mut String) {
    match c {
        Cond::And(a, b) | Cond::Or(a, b) => {
            out.push('(');
            cond_sql(a, dialect, params, out);
            out.push_str(if matches!(c, Cond::And(..)) {
                " AND "
            } else {
                " OR "
            });
            cond_sql(b, dialect, params, out);
            out.push(')');
        }
        Cond::Never => out.push_str("(1 = 0)"),
        Cond::StartsWith(Field::CreationTime, prefix) => {
            // Rare (a prefix of the time text): read from the document, not indexed.
            params.push(SqlValue::Text(prefix.to_lowercase()));
            let creation_time = match dialect {
                Dialect::Sqlite => "json_extract(doc, '$.creationTime')",
                Dialect::Postgres => "(CAST(doc AS jsonb) ->> 'creationTime')",
            };
            out.push_str(&format!(
                "(instr(lower({creation_time}), ?{}) = 1)",
                params.len()
            ));
        }
        Cond::StartsWith(f, prefix) => {
            params.push(SqlValue::Text(prefix.to_lowercase()));
            // instr(…) = 1: the first occurrence is at the start (an empty prefix gives 1).
            out.push_str(&format!("(instr({}, ?{}) = 1)", f.column(), params.len()));
        }
        Cond::Compare(f, op, operand) => {
            let value = match (f, operand) {
                (Field::CreationTime, Operand::Time(t)) => SqlValue::Integer(clamp_i64(*t)),
                (Field::CreationTime, Operand::Text(_)) | (_, Operand::Time(_)) => {
                    out.push_str("(1 = 0)");
                    return;
                }
                (_, Operand::Text(s)) => SqlValue::Text(s.to_lowercase()),
            };
            params.push(value);
            let col = f.column();
            let n = params.len();
            if *op == CmpOp::Ne && *f != Field::CreationTime {
                out.push_str(&format!("({col} IS NULL OR {col} <> ?{n})"));
            } else {
                out.push_str(&format!("({col} {} ?{n})", op.sql()));
            }
        }
    }
}

/// The rows of one page.
pub(crate) fn list(conn: &Conn, workspace_uid: &str, spec: &ListSpec) -> Result<Vec<ItemRow>> {
    let mut params: Vec<SqlValue> = vec![SqlValue::Text(workspace_uid.to_string())];
    let mut sql = format!("SELECT {ITEM_COLUMNS} FROM dp_items WHERE workspace_uid = ?1 AND ");
    match &spec.scope {
        Scope::Jobs => sql.push_str("item_type = 'Job'"),
        Scope::Sessions => sql.push_str("item_type = 'Session'"),
        Scope::SessionJobs(s) => {
            params.push(SqlValue::Text(s.clone()));
            sql.push_str(&format!(
                "item_type = 'Job' AND session_id = ?{}",
                params.len()
            ));
        }
        Scope::TopLevel => sql.push_str("(item_type = 'Session' OR session_id IS NULL)"),
    }
    if let Some(c) = &spec.cond {
        sql.push_str(" AND ");
        cond_sql(c, conn.dialect(), &mut params, &mut sql);
    }
    sql.push_str(" ORDER BY ");
    for (f, desc) in &spec.order {
        sql.push_str(f.column());
        // Spelled out: SQLite puts NULLs first by default, PostgreSQL last.
        sql.push_str(if *desc {
            " DESC NULLS LAST, "
        } else {
            " ASC NULLS FIRST, "
        });
    }
    params.push(SqlValue::Integer(spec.limit.min(i64::MAX as usize) as i64));
    params.push(SqlValue::Integer(spec.skip.min(i64::MAX as usize) as i64));
    let n = params.len();
    sql.push_str(&format!("created_at, id LIMIT ?{} OFFSET ?{n}", n - 1));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(crate::db::params_from_iter(params), row_to_item)?;
    Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
}
