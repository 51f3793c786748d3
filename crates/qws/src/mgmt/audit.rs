//! `qws audit list`: a workspace's activity log (its audited operations), newest first, with
//! the filters of `az monitor activity-log list`: time range, caller, operation.

use anyhow::bail;
use reqwest::Method;
use serde_json::Value;

use super::output::{self, Table};
use super::workspace::{resolve_target, Target};
use super::{GlobalArgs, Session};

/// `qws audit …`.
#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// List a workspace's activity log: who did what to it, newest first.
    List {
        #[command(flatten)]
        target: Target,
        /// Only events at or after this RFC 3339 time, e.g. 2026-01-31T00:00:00Z.
        #[arg(long)]
        start_time: Option<String>,
        /// Only events at or before this RFC 3339 time.
        #[arg(long)]
        end_time: Option<String>,
        /// Only events of this principal, as the log names it (e.g. app:<client id>).
        #[arg(long)]
        caller: Option<String>,
        /// Only this operation, e.g. listKeys or Microsoft.Quantum/Workspaces/webhooks/write.
        #[arg(long)]
        operation: Option<String>,
        /// Most events to print.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        max_events: u32,
    },
}

const API: &str = "2023-11-13-preview";

/// `'…'` with OData's quote doubling.
fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// The `$filter` for the flags.
fn filter(
    start: &Option<String>,
    end: &Option<String>,
    caller: &Option<String>,
    operation: &Option<String>,
) -> anyhow::Result<String> {
    let mut clauses = Vec::new();
    for (t, op) in [(start, "ge"), (end, "le")] {
        if let Some(t) = t {
            if time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .is_err()
            {
                bail!("'{t}' is not an RFC 3339 time (e.g. 2026-01-31T00:00:00Z)");
            }
            clauses.push(format!("eventTimestamp {op} {}", quote(t)));
        }
    }
    if let Some(c) = caller {
        clauses.push(format!("caller eq {}", quote(c)));
    }
    if let Some(o) = operation {
        clauses.push(format!("operationName eq {}", quote(o)));
    }
    Ok(clauses.join(" and "))
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let session = Session::open()?;
    match args.command {
        AuditCommand::List {
            target,
            start_time,
            end_time,
            caller,
            operation,
            max_events,
        } => {
            let r = resolve_target(&session, &target)?;
            let path = format!(
                "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Quantum/workspaces/{}/activityLog",
                r.sub, r.group, r.workspace
            );
            let filter = filter(&start_time, &end_time, &caller, &operation)?;
            let max = max_events as usize;
            let mut events: Vec<Value> = Vec::new();
            let mut skip_token: Option<String> = None;
            loop {
                let top = (max - events.len()).min(1000).to_string();
                let mut query: Vec<(&str, &str)> = vec![("$top", &top)];
                if !filter.is_empty() {
                    query.push(("$filter", &filter));
                }
                if let Some(s) = &skip_token {
                    query.push(("$skiptoken", s));
                }
                let page =
                    crate::role::send(&session, Method::GET, &path, API, &query, None).await?;
                events.extend(page["value"].as_array().cloned().unwrap_or_default());
                skip_token = page["nextLink"]
                    .as_str()
                    .and_then(|l| reqwest::Url::parse(l).ok())
                    .and_then(|u| {
                        u.query_pairs()
                            .find(|(k, _)| k == "$skiptoken")
                            .map(|(_, v)| v.into_owned())
                    });
                if skip_token.is_none() || events.len() >= max {
                    break;
                }
            }
            events.truncate(max);
            let columns = [
                ("Time", "/eventTimestamp"),
                ("Caller", "/caller"),
                ("Operation", "/operationName/value"),
                ("Status", "/status/value"),
                ("Resource", "/resourceId"),
                ("Client", "/httpRequest/clientIpAddress"),
            ];
            let table = Table::of(&columns, &events);
            output::print(args.global.output, &Value::Array(events), &table)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_filter_from_the_flags() {
        let f = filter(
            &Some("2026-01-01T00:00:00Z".into()),
            &None,
            &Some("app:o'x".into()),
            &Some("listKeys".into()),
        )
        .unwrap();
        assert_eq!(
            f,
            "eventTimestamp ge '2026-01-01T00:00:00Z' and caller eq 'app:o''x' and operationName eq 'listKeys'"
        );
        assert_eq!(filter(&None, &None, &None, &None).unwrap(), "");
        assert!(filter(&Some("yesterday".into()), &None, &None, &None).is_err());
    }
}
