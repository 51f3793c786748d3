//! Reading the audit log back as a resource's activity log: the events whose target is the
//! resource or lies under it, filtered by time, caller and operation, newest first, a page at a
//! time.
//!
//! Paging must survive rotation (files are renamed between two pages) and new lines (appended
//! while a client pages). So a page is not an offset: the continuation is the time of the last
//! event returned plus how many events of exactly that time were returned, and the next page is
//! "older than that". Times have 100 ns resolution and one fixed width, so they order as strings.

use serde::Deserialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};

/// Longest line read back; a longer one is skipped (the writer never produces one).
const MAX_LINE: usize = 64 * 1024;

/// An event as stored (the action as its text, so lines of any version read back).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StoredEvent {
    /// RFC 3339 UTC, 7 fraction digits.
    pub time: String,
    /// Who.
    pub principal: String,
    /// The action's text.
    pub action: String,
    /// The resource id or endpoint.
    pub target: String,
    /// `success`, `denied`, `failure: …`.
    pub outcome: String,
    /// Client address.
    pub client: String,
}

/// A time bound of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    /// The time in the log's format.
    pub time: String,
    /// Whether an event at exactly that time matches.
    pub inclusive: bool,
}

/// Which events a query wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivityFilter {
    /// Resource id (events on it or under it); compared case-insensitively, like ARM ids.
    pub scope: String,
    /// Oldest time.
    pub from: Option<Bound>,
    /// Newest time.
    pub to: Option<Bound>,
    /// Exact principal (case-insensitive).
    pub caller: Option<String>,
    /// Exact action text (case-insensitive).
    pub operation: Option<String>,
}

impl ActivityFilter {
    fn matches(&self, e: &StoredEvent) -> bool {
        let target = e.target.to_ascii_lowercase();
        let scope = self.scope.to_ascii_lowercase();
        let under = target == scope
            || target
                .strip_prefix(&scope)
                .is_some_and(|rest| rest.starts_with('/'));
        let after_from = self
            .from
            .as_ref()
            .is_none_or(|b| e.time.as_str() > b.time.as_str() || (b.inclusive && e.time == b.time));
        let before_to = self
            .to
            .as_ref()
            .is_none_or(|b| e.time.as_str() < b.time.as_str() || (b.inclusive && e.time == b.time));
        under
            && after_from
            && before_to
            && self
                .caller
                .as_ref()
                .is_none_or(|c| c.eq_ignore_ascii_case(&e.principal))
            && self
                .operation
                .as_ref()
                .is_none_or(|o| o.eq_ignore_ascii_case(&e.action))
    }
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Time of the last event returned.
    pub time: String,
    /// Events of exactly that time already returned.
    pub returned_at_time: usize,
}

/// One page, newest first.
#[derive(Debug)]
pub struct Page {
    /// The events.
    pub events: Vec<StoredEvent>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

/// Reads `files` (oldest first, as [`super::AuditLog::snapshot`] gives them) and returns the
/// `top` newest matching events older than `after`. Memory is bounded by the page, not the log.
pub fn query(
    files: Vec<File>,
    filter: &ActivityFilter,
    after: Option<&Cursor>,
    top: usize,
) -> std::io::Result<Page> {
    let skip = after.map_or(0, |c| c.returned_at_time);
    let keep = top.saturating_add(skip).saturating_add(1);
    // Min-heap of the `keep` greatest (time, position) seen so far.
    let mut best: BinaryHeap<Reverse<(String, u64, StoredEventBox)>> = BinaryHeap::new();
    let mut position = 0u64;
    for f in files {
        let mut reader = BufReader::new(f);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            if line.last() != Some(&b'\n') {
                if n > MAX_LINE {
                    // Skip the rest of an overlong line.
                    let mut rest = Vec::new();
                    reader.read_until(b'\n', &mut rest)?;
                }
                // A line being written right now (no newline yet) is left for the next read.
                continue;
            }
            position += 1;
            let Ok(e) = serde_json::from_slice::<StoredEvent>(&line) else {
                continue;
            };
            if !filter.matches(&e) {
                continue;
            }
            if let Some(c) = after {
                if e.time.as_str() > c.time.as_str() {
                    continue;
                }
            }
            best.push(Reverse((e.time.clone(), position, StoredEventBox(e))));
            if best.len() > keep {
                best.pop();
            }
        }
    }
    let mut sorted: Vec<StoredEvent> = best
        .into_sorted_vec()
        .into_iter()
        .map(|Reverse((_, _, e))| e.0)
        .collect();
    // into_sorted_vec of Reverse is descending in (time, position): newest first. The events
    // at exactly the cursor's time come first; the previous pages returned `skip` of them.
    if let Some(c) = after {
        let at_time = sorted.iter().take_while(|e| e.time == c.time).count();
        sorted.drain(..skip.min(at_time));
    }
    let more = sorted.len() > top;
    sorted.truncate(top);
    let next = match (more, sorted.last()) {
        (true, Some(last)) => {
            let same = sorted.iter().filter(|e| e.time == last.time).count();
            let carried = match after {
                Some(c) if c.time == last.time => c.returned_at_time,
                _ => 0,
            };
            Some(Cursor {
                time: last.time.clone(),
                returned_at_time: carried + same,
            })
        }
        _ => None,
    };
    Ok(Page {
        events: sorted,
        next,
    })
}

/// Orders by nothing (the heap orders by time and position before it).
#[derive(Debug)]
struct StoredEventBox(StoredEvent);

impl PartialEq for StoredEventBox {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for StoredEventBox {}
impl PartialOrd for StoredEventBox {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for StoredEventBox {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

/// Why a `$filter` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

/// Parses the activity log's `$filter` (Azure Monitor's grammar, the part qws needs): clauses
/// joined by `and`, each `eventTimestamp ge|gt|le|lt '<RFC 3339>'`, `caller eq '<principal>'`
/// or `operationName eq '<action>'`. The scope is not part of it: it is the path.
pub fn parse_filter(text: &str, scope: &str) -> Result<ActivityFilter, FilterError> {
    let mut f = ActivityFilter {
        scope: scope.to_string(),
        ..ActivityFilter::default()
    };
    let text = text.trim();
    if text.is_empty() {
        return Ok(f);
    }
    for clause in split_and(text) {
        let (field, rest) = clause
            .split_once(char::is_whitespace)
            .ok_or_else(|| FilterError(format!("cannot read the clause '{clause}'")))?;
        let (op, value) = rest
            .trim_start()
            .split_once(char::is_whitespace)
            .ok_or_else(|| FilterError(format!("cannot read the clause '{clause}'")))?;
        let value = quoted(value.trim())
            .ok_or_else(|| FilterError(format!("the value in '{clause}' must be quoted")))?;
        let op = op.to_ascii_lowercase();
        match (field.to_ascii_lowercase().as_str(), op.as_str()) {
            ("eventtimestamp", "ge" | "gt" | "le" | "lt") => {
                let t = parse_time(&value)?;
                let bound = Bound {
                    time: t,
                    inclusive: op.ends_with('e'),
                };
                if op.starts_with('g') {
                    f.from = Some(bound);
                } else {
                    f.to = Some(bound);
                }
            }
            ("caller", "eq") => f.caller = Some(value),
            ("operationname", "eq") => f.operation = Some(value),
            _ => {
                return Err(FilterError(format!(
                    "unsupported clause '{clause}': use eventTimestamp ge|gt|le|lt, caller eq or operationName eq"
                )))
            }
        }
    }
    Ok(f)
}

/// Splits on the keyword `and` outside quotes.
fn split_and(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_quote = false;
    let words: Vec<&str> = text.split(' ').collect();
    for w in words {
        if !in_quote && w.eq_ignore_ascii_case("and") {
            out.push(std::mem::take(&mut current).trim().to_string());
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(w);
        in_quote ^= w.matches('\'').count() % 2 == 1;
    }
    out.push(current.trim().to_string());
    out
}

/// `'text'` → `text` (`''` inside is one quote, OData's escape).
fn quoted(v: &str) -> Option<String> {
    let inner = v.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

/// An RFC 3339 time in the log's format.
pub fn parse_time(v: &str) -> Result<String, FilterError> {
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(qws_core::time_fmt::arm_precise)
        .map_err(|_| FilterError(format!("'{v}' is not an RFC 3339 time")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const WS: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Quantum/workspaces/w";

    fn event(time: &str, principal: &str, action: &str, target: &str) -> String {
        format!(
            r#"{{"time":"{time}","principal":"{principal}","action":"{action}","target":"{target}","outcome":"success","client":"127.0.0.1"}}"#
        ) + "\n"
    }

    fn file(lines: &[String]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        for l in lines {
            f.write_all(l.as_bytes()).unwrap();
        }
        use std::io::Seek;
        f.rewind().unwrap();
        f
    }

    fn t(s: u32) -> String {
        format!("2026-01-01T00:00:{s:02}.0000000Z")
    }

    #[test]
    fn filters_by_scope_time_caller_and_operation() {
        let lines = vec![
            event(&t(1), "app:a", "listKeys", WS),
            event(&t(2), "app:b", "listKeys", &format!("{WS}/accessTokens/x")),
            event(&t(3), "app:a", "createWorkspace", &format!("{WS}2")),
            event(&t(4), "app:a", "regenerateKey", &WS.to_uppercase()),
        ];
        let all = |filter: &ActivityFilter| {
            query(vec![file(&lines)], filter, None, 100)
                .unwrap()
                .events
                .iter()
                .map(|e| e.time.clone())
                .collect::<Vec<_>>()
        };
        let f = parse_filter("", WS).unwrap();
        assert_eq!(all(&f), [t(4), t(2), t(1)]);
        let f = parse_filter(
            &format!(
                "eventTimestamp ge '{}' and eventTimestamp lt '2026-01-01T00:00:04Z'",
                "2026-01-01T00:00:02Z"
            ),
            WS,
        )
        .unwrap();
        assert_eq!(all(&f), [t(2)]);
        let f = parse_filter("caller eq 'APP:A'", WS).unwrap();
        assert_eq!(all(&f), [t(4), t(1)]);
        let f = parse_filter("operationName eq 'listKeys' and caller eq 'app:b'", WS).unwrap();
        assert_eq!(all(&f), [t(2)]);
        assert!(parse_filter("status eq 'x'", WS).is_err());
        assert!(parse_filter("caller eq x", WS).is_err());
        assert!(parse_filter("eventTimestamp ge 'yesterday'", WS).is_err());
    }

    /// Pages cover every event exactly once, also when many share one time and when a file
    /// is rotated and lines are added between pages.
    #[test]
    fn pages_cover_each_event_once_across_rotation() {
        let mut lines = Vec::new();
        for i in 0..25u32 {
            // Groups of three events with the same time.
            lines.push(event(&t(i / 3), &format!("app:{i}"), "listKeys", WS));
        }
        let f = parse_filter("", WS).unwrap();
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut first = true;
        loop {
            // Rotation between pages: the same lines split over two files; and one newer event.
            let (old, new) = lines.split_at(if first { 25 } else { 10 });
            let mut files = vec![file(old), file(new)];
            if !first {
                files.push(file(&[event(&t(59), "app:late", "listKeys", WS)]));
            }
            first = false;
            let page = query(files, &f, cursor.as_ref(), 4).unwrap();
            assert!(page.events.len() <= 4);
            seen.extend(page.events.iter().map(|e| e.principal.clone()));
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let mut expected: Vec<String> = (0..25).map(|i| format!("app:{i}")).collect();
        let mut got = seen.clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "{seen:?}");
    }
}
