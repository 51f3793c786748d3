//! Job management: jobs and sessions with filters and paging; a job's page with its history,
//! input and output downloads, results as a histogram, error details and cancel.

use super::super::api::{Plane, Portal, PortalError, DATA_API};
use super::super::html::{self, esc, seg};
use super::workspace::{respond, Ws};
use super::{bad_input, s};
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Write;

/// Jobs per page.
const PAGE: usize = 20;
/// Job statuses offered by the filter.
const STATUSES: &[&str] = &[
    "Waiting",
    "Executing",
    "Finishing",
    "Succeeded",
    "Failed",
    "Cancelled",
];

/// A quoted OData string literal (`'` doubled).
fn odata_str(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// The data plane's `filter` for the page's filter form.
fn job_filter(q: &HashMap<String, String>) -> Result<String, PortalError> {
    let get = |k: &str| q.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let mut parts = Vec::new();
    if let Some(st) = get("status") {
        if !STATUSES.contains(&st) {
            return Err(bad_input(format!("'{st}' is not a job status.")));
        }
        parts.push(format!("Status eq {}", odata_str(st)));
    }
    if let Some(t) = get("target") {
        parts.push(format!("Target eq {}", odata_str(t)));
    }
    if let Some(n) = get("name") {
        parts.push(format!("startswith(Name, {})", odata_str(n)));
    }
    for (key, op) in [("from", "ge"), ("to", "le")] {
        if let Some(d) = get(key) {
            let ok = d.len() == 10
                && time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                    .is_ok();
            if !ok {
                return Err(bad_input(format!("'{d}' is not a date (YYYY-MM-DD).")));
            }
            parts.push(format!("CreationTime {op} {d}"));
        }
    }
    Ok(parts.join(" and "))
}

/// `GET …/jobs`.
pub async fn list(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond(async {
        let ws = Ws::from_path(&p)?;
        let filter = job_filter(&q)?;
        let page: usize = q.get("page").and_then(|v| v.parse().ok()).unwrap_or(0).min(100_000);
        let mut path = format!(
            "{}/jobs?api-version={DATA_API}&orderby={}&top={}&skip={}",
            ws.arm,
            seg("CreationTime desc"),
            PAGE + 1,
            page * PAGE
        );
        if !filter.is_empty() {
            let _ = write!(path, "&filter={}", seg(&filter));
        }
        let jobs = portal.data(&path).await?;
        let all = super::items(&jobs);
        let more = all.len() > PAGE;
        let rows: Vec<Vec<String>> = all
            .iter()
            .take(PAGE)
            .map(|j| {
                let id = s(j, "id");
                vec![
                    format!("<a href=\"{}/jobs/{}\">{}</a>", esc(&ws.base), seg(id), esc(if s(j, "name").is_empty() { id } else { s(j, "name") })),
                    esc(s(j, "target")),
                    format!("<span class=\"status {c}\">{t}</span>", c = esc(&s(j, "status").to_lowercase()), t = esc(s(j, "status"))),
                    esc(s(j, "creationTime")),
                    format!("<code>{}</code>", esc(id)),
                ]
            })
            .collect();
        let sessions = portal
            .data(&format!("{}/sessions?api-version={DATA_API}&top={PAGE}", ws.arm))
            .await
            .unwrap_or_default();
        let session_rows: Vec<Vec<String>> = super::items(&sessions)
            .iter()
            .map(|x| {
                vec![
                    esc(s(x, "name")),
                    esc(s(x, "target")),
                    esc(s(x, "status")),
                    esc(s(x, "creationTime")),
                    format!("<code>{}</code>", esc(s(x, "id"))),
                ]
            })
            .collect();
        let field = |k: &str| esc(q.get(k).map(String::as_str).unwrap_or(""));
        let status_options: String = std::iter::once("")
            .chain(STATUSES.iter().copied())
            .map(|st| {
                let sel = if q.get("status").map(String::as_str) == Some(st) { " selected" } else { "" };
                let label = if st.is_empty() { "Any" } else { st };
                format!("<option value=\"{st}\"{sel}>{label}</option>")
            })
            .collect();
        let keep: String = ["status", "target", "name", "from", "to"]
            .iter()
            .filter_map(|k| q.get(*k).filter(|v| !v.is_empty()).map(|v| format!("&{k}={}", seg(v))))
            .collect();
        let mut pager = String::from("<nav class=\"pager\" aria-label=\"Job pages\">");
        if page > 0 {
            let _ = write!(pager, "<a href=\"{}/jobs?page={}{}\">Previous page</a> ", esc(&ws.base), page - 1, esc(&keep));
        }
        let _ = write!(pager, "<span>Page {}</span>", page + 1);
        if more {
            let _ = write!(pager, " <a href=\"{}/jobs?page={}{}\">Next page</a>", esc(&ws.base), page + 1, esc(&keep));
        }
        pager.push_str("</nav>");
        let main = format!(
            "<form class=\"filters\" method=\"get\" action=\"{base}/jobs\" aria-label=\"Filter jobs\">\
<div><label for=\"f-status\">Status</label><select id=\"f-status\" name=\"status\">{status_options}</select></div>\
<div><label for=\"f-target\">Target</label><input id=\"f-target\" name=\"target\" value=\"{target}\"></div>\
<div><label for=\"f-name\">Name starts with</label><input id=\"f-name\" name=\"name\" value=\"{name}\"></div>\
<div><label for=\"f-from\">Created from</label><input id=\"f-from\" name=\"from\" type=\"date\" value=\"{from}\"></div>\
<div><label for=\"f-to\">Created to</label><input id=\"f-to\" name=\"to\" type=\"date\" value=\"{to}\"></div>\
<button type=\"submit\">Apply filters</button></form>\
<section aria-labelledby=\"h-jobs\"><h2 id=\"h-jobs\">Jobs</h2>{jobs}{pager}</section>\
<section aria-labelledby=\"h-sessions\"><h2 id=\"h-sessions\">Sessions</h2>{sessions}</section>",
            base = esc(&ws.base),
            target = field("target"),
            name = field("name"),
            from = field("from"),
            to = field("to"),
            jobs = html::table("Jobs, newest first", &["Name", "Target", "Status", "Created", "Job ID"], &rows),
            sessions = html::table("Sessions", &["Name", "Target", "Status", "Created", "Session ID"], &session_rows),
        );
        Ok(portal.page(&format!("{} · Job management", ws.id.workspace.as_str()), Some(&ws.nav("jobs")), &main))
    })
    .await
}

fn job_path(ws: &Ws, p: &HashMap<String, String>) -> Result<String, PortalError> {
    let id = p.get("id").map(String::as_str).unwrap_or("");
    if id.is_empty() || id.len() > 256 {
        return Err(bad_input("No such job id."));
    }
    Ok(format!("{}/jobs/{}", ws.arm, seg(id)))
}

/// Outcomes and their share of the shots, from any of the result formats qws writes.
pub fn histogram(output: &Value) -> Vec<(String, f64)> {
    let mut bars: Vec<(String, f64)> = Vec::new();
    if let Some(results) = output["Results"].as_array() {
        // microsoft.quantum-results.v2: [{"Histogram": [{"Display", "Count"}…]}…]
        for r in results {
            for h in r["Histogram"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
                let label = h["Display"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| h["Outcome"].to_string());
                bars.push((label, h["Count"].as_f64().unwrap_or(0.0)));
            }
        }
    } else if let Some(flat) = output["Histogram"].as_array() {
        // microsoft.quantum-results.v1: ["label", p, "label", p, …]
        for pair in flat.chunks(2) {
            if let [l, v] = pair {
                let label = l
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| l.to_string());
                bars.push((label, v.as_f64().unwrap_or(0.0)));
            }
        }
    } else if let Some(map) = output["histogram"].as_object() {
        // ionq.quantum-results.v1: {"<outcome>": p}
        for (k, v) in map {
            bars.push((k.clone(), v.as_f64().unwrap_or(0.0)));
        }
    }
    let total: f64 = bars.iter().map(|(_, v)| v).sum();
    if total > 0.0 {
        for b in &mut bars {
            b.1 /= total;
        }
    }
    bars
}

/// The histogram as an SVG bar chart: each bar carries its outcome and percentage as text, so
/// it reads without colour; a table below gives the same numbers to screen readers.
pub fn histogram_svg(bars: &[(String, f64)]) -> String {
    const MAX_BARS: usize = 32;
    let mut shown: Vec<&(String, f64)> = bars.iter().collect();
    shown.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
    shown.truncate(MAX_BARS);
    shown.sort_by(|a, b| a.0.cmp(&b.0));
    let row = 28;
    let height = row * shown.len() + 8;
    let mut svg = format!(
        "<svg class=\"histogram\" viewBox=\"0 0 600 {height}\" width=\"600\" height=\"{height}\" role=\"img\" aria-labelledby=\"hist-title\">\
<title id=\"hist-title\">Histogram of results: {n} outcome(s)</title>",
        n = bars.len()
    );
    for (i, (label, p)) in shown.iter().enumerate() {
        let y = 4 + i * row;
        let w = (p * 380.0).round().max(1.0);
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{ty}\" class=\"hl\">{l}</text><rect x=\"150\" y=\"{y}\" width=\"{w}\" height=\"20\" class=\"bar\"></rect>\
<text x=\"{vx}\" y=\"{ty}\" class=\"hv\">{pct:.1}%</text>",
            ty = y + 15,
            l = esc(label),
            vx = 150.0 + w + 6.0,
            pct = p * 100.0
        );
    }
    svg.push_str("</svg>");
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|(l, p)| {
            vec![
                format!("<code>{}</code>", esc(l)),
                format!("{:.1}%", p * 100.0),
            ]
        })
        .collect();
    format!(
        "{svg}{}",
        html::table("Results by outcome", &["Outcome", "Share of shots"], &rows)
    )
}

/// `GET …/jobs/{id}`.
pub async fn job(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    respond(async {
        let ws = Ws::from_path(&p)?;
        let path = job_path(&ws, &p)?;
        let j = portal.data(&format!("{path}?api-version={DATA_API}")).await?;
        let id = s(&j, "id");
        let status = s(&j, "status");
        let link = format!("{}/jobs/{}", ws.base, seg(id));
        let facts = [
            ("Name", s(&j, "name")),
            ("Job ID", id),
            ("Status", status),
            ("Provider", s(&j, "providerId")),
            ("Target", s(&j, "target")),
            ("Input format", s(&j, "inputDataFormat")),
            ("Output format", s(&j, "outputDataFormat")),
            ("Session", s(&j, "sessionId")),
        ];
        let dl: String = facts
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("<div><dt>{k}</dt><dd>{}</dd></div>", esc(v)))
            .collect();
        let history: Vec<Vec<String>> = [
            ("Submitted", "creationTime"),
            ("Started", "beginExecutionTime"),
            ("Finished", "endExecutionTime"),
            ("Cancellation requested", "cancellationTime"),
        ]
        .iter()
        .filter(|(_, k)| !s(&j, k).is_empty())
        .map(|(what, k)| vec![what.to_string(), esc(s(&j, k))])
        .collect();
        let mut main = String::new();
        if q.get("done").map(String::as_str) == Some("cancelled") {
            main.push_str(&html::notice("ok", "Cancellation was requested."));
        }
        let _ = write!(main, "<dl class=\"essentials\">{dl}</dl><section aria-labelledby=\"h-hist\"><h2 id=\"h-hist\">Status history</h2>{}</section>",
            html::table("Status history", &["Event", "Time (UTC)"], &history));
        if let Some(err) = j.get("errorData").filter(|e| !e.is_null()) {
            let _ = write!(
                main,
                "<section aria-labelledby=\"h-err\"><h2 id=\"h-err\">Error details</h2><p class=\"notice error\"><strong>{}</strong>: {}</p></section>",
                esc(s(err, "code")),
                esc(s(err, "message"))
            );
        }
        let _ = write!(
            main,
            "<section aria-labelledby=\"h-data\"><h2 id=\"h-data\">Data</h2><p><a class=\"button\" href=\"{l}/input\" download>Download input</a> ",
            l = esc(&link)
        );
        if !s(&j, "outputDataUri").is_empty() && status == "Succeeded" {
            let _ = write!(main, "<a class=\"button\" href=\"{}/output\" download>Download output</a>", esc(&link));
        }
        main.push_str("</p></section>");
        if matches!(status, "Waiting" | "Executing" | "Finishing") {
            let _ = write!(
                main,
                "<form method=\"post\" action=\"{l}/cancel\" data-confirm=\"Cancel this job?\">{csrf}<button type=\"submit\" class=\"danger\">Cancel job</button></form>",
                l = esc(&link),
                csrf = html::csrf_field(&portal.session.csrf)
            );
        }
        if status == "Succeeded" {
            let (st, _, body) = portal.get_sas(s(&j, "outputDataUri")).await?;
            let out: Value = if st.is_success() {
                serde_json::from_slice(&body).unwrap_or(Value::Null)
            } else {
                Value::Null
            };
            let bars = histogram(&out);
            main.push_str("<section aria-labelledby=\"h-res\"><h2 id=\"h-res\">Results</h2>");
            if bars.is_empty() {
                main.push_str("<p>The output has no histogram; download it to see it.</p>");
            } else {
                main.push_str(&histogram_svg(&bars));
            }
            main.push_str("</section>");
        }
        let title = if s(&j, "name").is_empty() { id } else { s(&j, "name") };
        Ok(portal.page(&format!("Job {title}"), Some(&ws.nav("jobs")), &main))
    })
    .await
}

/// `POST …/jobs/{id}/cancel`: the data plane's DELETE (which cancels).
pub async fn cancel(
    portal: Portal,
    Path(p): Path<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let form = super::super::parse_form(&body);
    respond(async {
        portal.check_csrf(form.get("csrf").map(String::as_str))?;
        let ws = Ws::from_path(&p)?;
        let path = job_path(&ws, &p)?;
        portal
            .json(
                Plane::Data,
                Method::DELETE,
                &format!("{path}?api-version={DATA_API}"),
                None,
            )
            .await?;
        let id = p.get("id").map(String::as_str).unwrap_or("");
        Ok(html::redirect(&format!(
            "{}/jobs/{}?done=cancelled",
            ws.base,
            seg(id)
        )))
    })
    .await
}

/// `GET …/jobs/{id}/input` or `…/output`: the job's data, as an attachment.
pub async fn download(portal: Portal, Path(p): Path<HashMap<String, String>>) -> Response {
    respond(async {
        let ws = Ws::from_path(&p)?;
        let path = job_path(&ws, &p)?;
        let (field, name) = match p.get("which").map(String::as_str) {
            Some("input") => ("inputDataUri", "input"),
            Some("output") => ("outputDataUri", "output"),
            _ => return Err(PortalError::new(StatusCode::NOT_FOUND, "No such page.")),
        };
        let j = portal
            .data(&format!("{path}?api-version={DATA_API}"))
            .await?;
        let (st, headers, body) = portal.get_sas(s(&j, field)).await?;
        if !st.is_success() {
            return Err(PortalError::new(
                StatusCode::NOT_FOUND,
                format!("The job's {name} data is not available."),
            ));
        }
        let ty = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_string();
        let id: String = s(&j, "id")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        Ok((
            [
                (header::CONTENT_TYPE, ty),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{id}-{name}\""),
                ),
            ],
            body,
        )
            .into_response())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn histograms_of_every_result_format() {
        let v1 = json!({"Histogram": ["[0, 0]", 0.5, "[1, 1]", 0.5]});
        assert_eq!(
            histogram(&v1),
            vec![("[0, 0]".into(), 0.5), ("[1, 1]".into(), 0.5)]
        );
        let v2 = json!({"DataFormat": "microsoft.quantum-results.v2", "Results": [{"Histogram": [
            {"Outcome": [0], "Display": "[0]", "Count": 3}, {"Outcome": [1], "Display": "[1]", "Count": 1}]}]});
        assert_eq!(
            histogram(&v2),
            vec![("[0]".into(), 0.75), ("[1]".into(), 0.25)]
        );
        let ionq = json!({"histogram": {"0": 0.25, "3": 0.75}});
        assert_eq!(histogram(&ionq).len(), 2);
        assert!(histogram(&json!({"c": ["0"]})).is_empty());
    }

    #[test]
    fn svg_labels_every_bar_in_text() {
        let svg = histogram_svg(&[("[0, 0]".into(), 0.5), ("<b>".into(), 0.5)]);
        assert!(svg.contains("[0, 0]") && svg.contains("50.0%"));
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
    }

    #[test]
    fn filters_become_data_plane_queries() {
        let q: HashMap<String, String> = [
            ("status", "Succeeded"),
            ("name", "o'k"),
            ("from", "2026-01-02"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            job_filter(&q).unwrap(),
            "Status eq 'Succeeded' and startswith(Name, 'o''k') and CreationTime ge 2026-01-02"
        );
        let bad: HashMap<String, String> = [("status".to_string(), "x".to_string())].into();
        assert!(job_filter(&bad).is_err());
    }
}
