//! The list-query language of the data plane (`filter`, `orderby`), as azure-quantum writes it:
//!
//! ```text
//! startswith(Name, 'job') and (ProviderId eq 'ionq') and (State eq 'Waiting' or State eq 'Succeeded')
//!   and CreationTime ge 2024-01-02 and CreationTime le 2030-01-01
//! orderby = CreationTime desc
//! ```
//!
//! Values are unescaped (a `''` inside quotes is read as one `'`), enum values may carry the
//! Python enum prefix (`'JobStatus.WAITING'`) and compare case-insensitively, and dates are
//! unquoted `YYYY-MM-DD` (a date-only `le`/`gt` bound covers the whole day).

use qws_store::listing::{CmpOp as SqlOp, Cond, Field, Operand};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// Longest accepted filter or orderby text.
pub const MAX_QUERY_LEN: usize = 4096;
const MAX_DEPTH: usize = 16;

/// A positioned error (0-based character offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// Offset in the text.
    pub pos: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at position {}: {}", self.pos, self.message)
    }
}

/// Properties that may be filtered and ordered on, with their JSON field.
const PROPERTIES: &[(&str, &str)] = &[
    ("Name", "name"),
    ("ItemType", "itemType"),
    ("JobType", "jobType"),
    ("ProviderId", "providerId"),
    ("Target", "target"),
    ("State", "status"),
    ("Status", "status"),
    ("CreationTime", "creationTime"),
    ("SessionId", "sessionId"),
    ("Priority", "priority"),
    ("Id", "id"),
];

fn property(name: &str) -> Option<&'static str> {
    PROPERTIES
        .iter()
        .find(|(p, _)| p.eq_ignore_ascii_case(name))
        .map(|(_, f)| *f)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both hold.
    And(Box<Filter>, Box<Filter>),
    /// Either holds.
    Or(Box<Filter>, Box<Filter>),
    /// `startswith(Prop, 'prefix')` (case-insensitive).
    StartsWith(&'static str, String),
    /// `Prop op value`.
    Compare(&'static str, CmpOp, String, bool),
}

/// Comparison operator (public for [`Filter`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmpOp(Op);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<(usize, Tok)>, QueryError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => i += 1,
            '(' => {
                out.push((i, Tok::LParen));
                i += 1
            }
            ')' => {
                out.push((i, Tok::RParen));
                i += 1
            }
            ',' => {
                out.push((i, Tok::Comma));
                i += 1
            }
            '\'' => {
                let start = i;
                i += 1;
                let mut v = String::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(QueryError {
                                pos: start,
                                message: "unterminated string literal".into(),
                            })
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((start, Tok::Str(v)));
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '+') => {
                let start = i;
                let mut v = String::new();
                while let Some(ch) = chars.get(i) {
                    if ch.is_alphanumeric() || matches!(ch, '_' | '-' | '.' | ':' | '+') {
                        v.push(*ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push((start, Tok::Word(v)));
            }
            other => {
                return Err(QueryError {
                    pos: i,
                    message: format!("unexpected character '{other}'"),
                })
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    len: usize,
}

impl Parser {
    fn pos(&self) -> usize {
        self.toks.get(self.i).map(|t| t.0).unwrap_or(self.len)
    }
    fn err<T>(&self, m: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError {
            pos: self.pos(),
            message: m.into(),
        })
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.1)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).map(|t| t.1.clone());
        self.i += 1;
        t
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }
    fn expect(&mut self, t: Tok, what: &str) -> Result<(), QueryError> {
        if self.peek() == Some(&t) {
            self.i += 1;
            Ok(())
        } else {
            self.err(format!("expected {what}"))
        }
    }

    fn or_expr(&mut self, depth: usize) -> Result<Filter, QueryError> {
        if depth > MAX_DEPTH {
            return self.err("the filter is nested too deeply");
        }
        let mut left = self.and_expr(depth)?;
        while self.keyword("or") {
            self.i += 1;
            let right = self.and_expr(depth)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, depth: usize) -> Result<Filter, QueryError> {
        let mut left = self.primary(depth)?;
        while self.keyword("and") {
            self.i += 1;
            let right = self.primary(depth)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn primary(&mut self, depth: usize) -> Result<Filter, QueryError> {
        match self.peek() {
            Some(Tok::LParen) => {
                self.i += 1;
                let e = self.or_expr(depth + 1)?;
                self.expect(Tok::RParen, "')'")?;
                Ok(e)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("startswith") => {
                self.i += 1;
                self.expect(Tok::LParen, "'(' after startswith")?;
                let prop = self.prop()?;
                self.expect(Tok::Comma, "','")?;
                let v = match self.next() {
                    Some(Tok::Str(s)) => s,
                    _ => {
                        self.i -= 1;
                        return self.err("expected a quoted prefix");
                    }
                };
                self.expect(Tok::RParen, "')'")?;
                Ok(Filter::StartsWith(prop, v))
            }
            Some(Tok::Word(_)) => {
                let prop = self.prop()?;
                let op = match self.next() {
                    Some(Tok::Word(w)) => match w.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "ge" => Op::Ge,
                        "gt" => Op::Gt,
                        "le" => Op::Le,
                        "lt" => Op::Lt,
                        _ => {
                            self.i -= 1;
                            return self.err(format!("unknown operator '{w}'"));
                        }
                    },
                    _ => {
                        self.i = self.i.saturating_sub(1);
                        return self.err("expected an operator (eq, ne, ge, gt, le, lt)");
                    }
                };
                let (v, quoted) = match self.next() {
                    Some(Tok::Str(s)) => (s, true),
                    Some(Tok::Word(w)) => (w, false),
                    _ => {
                        self.i = self.i.saturating_sub(1);
                        return self.err("expected a value");
                    }
                };
                Ok(Filter::Compare(prop, CmpOp(op), v, quoted))
            }
            _ => self.err("expected a condition"),
        }
    }

    fn prop(&mut self) -> Result<&'static str, QueryError> {
        match self.next() {
            Some(Tok::Word(w)) => match property(&w) {
                Some(p) => Ok(p),
                None => {
                    self.i -= 1;
                    self.err(format!("unknown property '{w}'"))
                }
            },
            _ => {
                self.i = self.i.saturating_sub(1);
                self.err("expected a property name")
            }
        }
    }
}

/// Parses a filter expression.
pub fn parse_filter(s: &str) -> Result<Filter, QueryError> {
    if s.len() > MAX_QUERY_LEN {
        return Err(QueryError {
            pos: MAX_QUERY_LEN,
            message: format!("the filter is longer than {MAX_QUERY_LEN} characters"),
        });
    }
    let toks = tokenize(s)?;
    let mut p = Parser {
        toks,
        i: 0,
        len: s.chars().count(),
    };
    let f = p.or_expr(0)?;
    if p.i < p.toks.len() {
        return p.err("unexpected text after the end of the filter");
    }
    Ok(f)
}

/// Drops a Python enum prefix (`JobStatus.WAITING` → `WAITING`).
fn strip_enum(v: &str) -> &str {
    match v.rsplit_once('.') {
        Some((prefix, rest))
            if !prefix.is_empty()
                && prefix.chars().all(|c| c.is_ascii_alphabetic())
                && prefix
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase()) =>
        {
            rest
        }
        _ => v,
    }
}

use qws_core::jobs::parse_time_nanos as parse_time;

fn field<'a>(doc: &'a Map<String, Value>, f: &str) -> Option<&'a str> {
    doc.get(f).and_then(Value::as_str)
}

impl Filter {
    /// Whether a document matches.
    pub fn matches(&self, doc: &Map<String, Value>) -> bool {
        match self {
            Filter::And(a, b) => a.matches(doc) && b.matches(doc),
            Filter::Or(a, b) => a.matches(doc) || b.matches(doc),
            Filter::StartsWith(p, v) => {
                field(doc, p).is_some_and(|s| s.to_lowercase().starts_with(&v.to_lowercase()))
            }
            Filter::Compare(p, CmpOp(op), v, _quoted) => {
                let ord = if *p == "creationTime" {
                    let date_only = v.len() == 10;
                    let bound = parse_time(v, date_only && matches!(op, Op::Le | Op::Gt));
                    let have = field(doc, p).and_then(|s| parse_time(s, false));
                    match (have, bound) {
                        (Some(h), Some(b)) => h.cmp(&b),
                        _ => return false,
                    }
                } else {
                    match field(doc, p) {
                        Some(s) => s.to_lowercase().cmp(&strip_enum(v).to_lowercase()),
                        None => return *op == Op::Ne,
                    }
                };
                match op {
                    Op::Eq => ord == Ordering::Equal,
                    Op::Ne => ord != Ordering::Equal,
                    Op::Ge => ord != Ordering::Less,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Le => ord != Ordering::Greater,
                    Op::Lt => ord == Ordering::Less,
                }
            }
        }
    }
}

impl Filter {
    /// The same condition for the store to evaluate in SQL ([`qws_store::listing`]), with the
    /// values prepared as [`Filter::matches`] compares them: enum prefixes dropped, times
    /// parsed (a date-only upper bound covers its whole day).
    pub fn to_cond(&self) -> Cond {
        match self {
            Filter::And(a, b) => Cond::And(Box::new(a.to_cond()), Box::new(b.to_cond())),
            Filter::Or(a, b) => Cond::Or(Box::new(a.to_cond()), Box::new(b.to_cond())),
            Filter::StartsWith(p, v) => match Field::from_json_name(p) {
                Some(f) => Cond::StartsWith(f, v.clone()),
                None => Cond::Never,
            },
            Filter::Compare(p, CmpOp(op), v, _quoted) => {
                let Some(field) = Field::from_json_name(p) else {
                    return Cond::Never;
                };
                let op = match op {
                    Op::Eq => SqlOp::Eq,
                    Op::Ne => SqlOp::Ne,
                    Op::Ge => SqlOp::Ge,
                    Op::Gt => SqlOp::Gt,
                    Op::Le => SqlOp::Le,
                    Op::Lt => SqlOp::Lt,
                };
                if field == Field::CreationTime {
                    let date_only = v.len() == 10;
                    match parse_time(v, date_only && matches!(op, SqlOp::Le | SqlOp::Gt)) {
                        Some(t) => Cond::Compare(field, op, Operand::Time(t)),
                        None => Cond::Never,
                    }
                } else {
                    Cond::Compare(field, op, Operand::Text(strip_enum(v).to_string()))
                }
            }
        }
    }
}

impl OrderKey {
    /// The store's order key: the field, and whether it is descending.
    pub fn to_store(&self) -> Option<(Field, bool)> {
        Field::from_json_name(self.field).map(|f| (f, self.desc))
    }
}

/// One `orderby` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderKey {
    /// JSON field.
    pub field: &'static str,
    /// Descending.
    pub desc: bool,
}

/// Parses `Prop [asc|desc][, Prop [asc|desc]]…`.
pub fn parse_orderby(s: &str) -> Result<Vec<OrderKey>, QueryError> {
    if s.len() > MAX_QUERY_LEN {
        return Err(QueryError {
            pos: 0,
            message: "the orderby is too long".into(),
        });
    }
    let mut keys = Vec::new();
    let mut offset = 0;
    for part in s.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let err = |m: String| QueryError {
            pos: offset,
            message: m,
        };
        let (name, dir) = match words.as_slice() {
            [n] => (*n, "asc"),
            [n, d] => (*n, *d),
            _ => return Err(err("expected 'Property [asc|desc]'".into())),
        };
        let field = property(name).ok_or_else(|| err(format!("unknown property '{name}'")))?;
        let desc = match dir.to_ascii_lowercase().as_str() {
            "asc" => false,
            "desc" => true,
            other => return Err(err(format!("expected asc or desc, found '{other}'"))),
        };
        keys.push(OrderKey { field, desc });
        offset += part.len() + 1;
    }
    Ok(keys)
}

/// Compares two documents by `keys` (times chronologically, the rest case-insensitively).
pub fn compare(a: &Map<String, Value>, b: &Map<String, Value>, keys: &[OrderKey]) -> Ordering {
    for k in keys {
        let (x, y) = (field(a, k.field), field(b, k.field));
        let o = if k.field == "creationTime" {
            x.and_then(|s| parse_time(s, false))
                .cmp(&y.and_then(|s| parse_time(s, false)))
        } else {
            x.map(str::to_lowercase).cmp(&y.map(str::to_lowercase))
        };
        let o = if k.desc { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn client_filter_matches() {
        let f = parse_filter("startswith(Name, 'job') and (ProviderId eq 'ionq') and (Target eq 'ionq.simulator') and (State eq 'JobStatus.WAITING' or State eq 'Succeeded') and CreationTime ge 2024-01-02 and CreationTime le 2030-01-01").unwrap();
        let d = doc(
            json!({"name": "job-1", "providerId": "ionq", "target": "ionq.simulator",
            "status": "Waiting", "creationTime": "2026-11-22T04:31:49.7097030Z"}),
        );
        assert!(f.matches(&d));
        let mut e = d.clone();
        e.insert("status".into(), json!("Failed"));
        assert!(!f.matches(&e));
        let mut e = d.clone();
        e.insert("name".into(), json!("other"));
        assert!(!f.matches(&e));
        let day = parse_filter("CreationTime le 2026-11-22").unwrap();
        assert!(day.matches(&d));
        let before = parse_filter("CreationTime lt 2026-11-22").unwrap();
        assert!(!before.matches(&d));
    }

    #[test]
    fn errors_are_positioned() {
        let e = parse_filter("Name eq 'x' and Colour eq 'red'").unwrap_err();
        assert_eq!(e.pos, 16);
        assert!(e.message.contains("Colour"));
        assert!(parse_filter("Name eq 'x")
            .unwrap_err()
            .message
            .contains("unterminated"));
        assert!(parse_filter("(Name eq 'x'").is_err());
        assert!(parse_filter("Name zz 'x'").is_err());
        let deep = "(".repeat(40) + "Name eq 'x'" + &")".repeat(40);
        assert!(parse_filter(&deep).is_err());
    }

    #[test]
    fn orderby_sorts() {
        let keys = parse_orderby("CreationTime desc").unwrap();
        let a = doc(json!({"creationTime": "2026-01-01T00:00:00Z"}));
        let b = doc(json!({"creationTime": "2026-01-02T00:00:00Z"}));
        assert_eq!(compare(&a, &b, &keys), Ordering::Greater);
        assert!(parse_orderby("Colour asc").is_err());
        assert!(parse_orderby("Name sideways").is_err());
    }

    /// The same lists through SQL ([`Filter::to_cond`], `JobStore::list_page`) as through the
    /// in-memory filter and sort (`select`), over documents with mixed case, non-ASCII names,
    /// missing and non-string fields, tied times and times that do not parse.
    #[test]
    fn sql_lists_equal_the_in_memory_lists() {
        use crate::planes::dataplane::jobs::{list_spec, select};
        use crate::planes::dataplane::{fetch_limit, ListQuery};
        use qws_store::jobs::{ItemRow, JobStore};
        use qws_store::listing::Scope;

        let dir = tempfile::tempdir().unwrap();
        let (crypto, _) = qws_store::crypto::Crypto::load_or_create(dir.path()).unwrap();
        let _store = qws_store::Store::open_target(
            &qws_store::db::test_cluster::target_for_dir(dir.path()),
            crypto,
        )
        .unwrap();
        let js = JobStore::open_target(&qws_store::db::test_cluster::target_for_dir(dir.path()))
            .unwrap();

        let names = [
            json!("Bell"),
            json!("bell-2"),
            json!("ÄPFEL"),
            json!("äpfel"),
            json!("ghz"),
            Value::Null,
            json!(5),
            json!("Zeta"),
        ];
        let targets = [
            "ionq.simulator",
            "IonQ.Simulator",
            "quantinuum.sim.h1-1e",
            "rigetti.sim.qvm",
        ];
        let statuses = ["Waiting", "Executing", "Succeeded", "Failed", "Cancelled"];
        let times = [
            "2026-11-02T03:00:00.0000000Z",
            "2026-11-05T12:00:00.0000000Z",
            "2026-11-05T23:59:59.9999999Z",
            "2026-11-06T00:00:00.0000000Z",
            "2026-11-05T13:00:00+01:00",
            "not a time",
        ];
        let mut seed: u64 = 7;
        let mut next = |n: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as usize) % n
        };
        let mut rows = Vec::new();
        for i in 0..240 {
            let session = i % 7 == 0;
            let id = format!("j{i:03}");
            let mut d = Map::new();
            d.insert("id".into(), json!(id));
            d.insert(
                "itemType".into(),
                json!(if session { "Session" } else { "Job" }),
            );
            let name = names[next(names.len())].clone();
            if next(5) > 0 {
                d.insert("name".into(), name);
            }
            d.insert("target".into(), json!(targets[next(targets.len())]));
            d.insert("providerId".into(), json!(["ionq", "quantinuum"][next(2)]));
            d.insert("status".into(), json!(statuses[next(statuses.len())]));
            d.insert("creationTime".into(), json!(times[next(times.len())]));
            d.insert("priority".into(), json!(["Standard", "High"][next(2)]));
            d.insert("jobType".into(), json!("QuantumComputing"));
            let sid = (!session && next(3) == 0).then(|| format!("s{}", next(2)));
            if let Some(s) = &sid {
                d.insert("sessionId".into(), json!(s));
            }
            let row = ItemRow {
                workspace_uid: "w".into(),
                id: id.clone(),
                item_type: if session { "Session" } else { "Job" }.into(),
                session_id: sid,
                status: d["status"].as_str().unwrap().into(),
                created_at: (i / 3) as i64,
                doc: Value::Object(d).to_string(),
            };
            assert!(js.insert_item(&row).unwrap());
            rows.push(row);
        }

        let filters = [
            None,
            Some("startswith(Name, 'bel')"),
            Some("startswith(Name, 'äp')"),
            Some("Name eq 'ÄPFEL'"),
            Some("Name ne 'ghz'"),
            Some("Name gt 'b' and Name le 'g'"),
            Some("(Target eq 'ionq.simulator') and CreationTime ge 2026-11-03"),
            Some("State eq 'JobStatus.WAITING' or State eq 'Succeeded'"),
            Some("CreationTime le 2026-11-05"),
            Some("CreationTime gt 2026-11-05"),
            Some("CreationTime lt 2026-11-05T12:00:00Z"),
            Some("CreationTime ne 2026-11-02T03:00:00Z"),
            Some("CreationTime ge notadate"),
            Some("startswith(CreationTime, '2026-11-05')"),
            Some("ItemType eq 'Session' or SessionId eq 's1'"),
            Some("SessionId ne 's0'"),
            Some("Priority ne 'High' and (JobType eq 'QuantumComputing' or ProviderId eq 'x')"),
            Some("Id ge 'j100' and Id lt 'j2'"),
        ];
        let orders = [
            None,
            Some("CreationTime desc"),
            Some("Name asc, CreationTime desc"),
            Some("Target desc"),
            Some("State"),
            Some("SessionId desc, Id"),
        ];
        let pages = [(0, 100), (3, 5), (0, 1000), (200, 10)];
        type InScope = fn(&ItemRow) -> bool;
        let scopes: [(Scope, InScope); 4] = [
            (Scope::Jobs, |r| r.item_type == "Job"),
            (Scope::Sessions, |r| r.item_type == "Session"),
            (Scope::SessionJobs("s1".into()), |r| {
                r.item_type == "Job" && r.session_id.as_deref() == Some("s1")
            }),
            (Scope::TopLevel, |r| {
                r.item_type == "Session" || r.session_id.is_none()
            }),
        ];
        let mut checked = 0;
        for (scope, in_scope) in &scopes {
            let docs: Vec<Map<String, Value>> = rows
                .iter()
                .filter(|r| in_scope(r))
                .map(crate::planes::dataplane::items::doc_of)
                .collect();
            for f in filters {
                for o in orders {
                    for (skip, top) in pages {
                        let q = ListQuery {
                            filter: f.map(str::to_string),
                            orderby: o.map(str::to_string),
                            skip,
                            top,
                            ..ListQuery::default()
                        };
                        let all = select(docs.clone(), &q).unwrap();
                        let want: Vec<&str> = all
                            .iter()
                            .skip(skip)
                            .take(top)
                            .map(|d| d["id"].as_str().unwrap())
                            .collect();
                        let got = js
                            .list_page("w", &list_spec(scope.clone(), &q).unwrap())
                            .unwrap();
                        assert_eq!(
                            got.len() > top,
                            skip + top < all.len(),
                            "{scope:?} {f:?} {o:?}"
                        );
                        let got: Vec<&str> = got.iter().take(top).map(|r| r.id.as_str()).collect();
                        assert_eq!(
                            got, want,
                            "{scope:?} filter {f:?} orderby {o:?} skip {skip} top {top}"
                        );
                        assert!(fetch_limit(&q) > top);
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 4 * 18 * 6 * 4);
    }
}
