//! `qws serve --log-format json --metrics-listen 127.0.0.1:0`: every stderr line is a JSON
//! object, request lines carry the request id, principal, route template and latency, the
//! access key never appears, and the printed metrics address answers a scrape that counted the
//! request by its route template.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

const JOBS_ROUTE: &str =
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}/jobs";

#[test]
fn json_request_lines_and_a_metrics_scrape() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(QWS)
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
        .args(["--log-format", "json", "--metrics-listen", "127.0.0.1:0"])
        .args(database_args(&data))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qws serve");
    // Kept open until the end, so that the server's later writes to stdout do not fail.
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut http, mut metrics) = (None, None);
    for line in stdout.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("qws listening on ") {
            http = rest.split(' ').next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("metrics: ") {
            metrics = Some(rest.to_string());
        }
        if http.is_some() && metrics.is_some() {
            break;
        }
    }
    let (http, metrics) = (
        http.expect("a listening line"),
        metrics.expect("a metrics line"),
    );
    // bootstrap.json is written before the listening line.
    let ws = Ws::new(&data);
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    let client = reqwest::blocking::Client::new();
    let r = client
        .get(format!("{http}{}/jobs?api-version={DV}", ws.base))
        .header("x-ms-quantum-api-key", &ws.key)
        .header("x-ms-client-request-id", "log-test-1")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-ms-request-id"].to_str().unwrap().to_string();

    // The request's line (others, like the start-up line, come first).
    let deadline = Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    let line = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("a request line");
        assert!(
            !line.contains(&ws.key),
            "the access key in a log line: {line}"
        );
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        seen.push(line);
        if v["request_id"] == request_id.as_str() {
            break v;
        }
    };
    assert_eq!(line["message"], "request", "{line}");
    assert_eq!(line["route"], JOBS_ROUTE, "{line}");
    assert_eq!(line["plane"], "dataplane", "{line}");
    assert_eq!(line["principal"], "workspace-key", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["latency_ms"].as_f64().is_some(), "{line}");
    assert!(
        seen.iter().any(|l| l.contains("\"qws started\"")),
        "{seen:?}"
    );

    let m = client.get(&metrics).send().unwrap().text().unwrap();
    let series = format!(
        "qws_http_requests_total{{plane=\"dataplane\",route=\"{JOBS_ROUTE}\",status=\"200\"}} 1"
    );
    assert!(m.contains(&series), "{m}");
    assert!(!m.contains(&ws.key));

    let _ = child.kill();
    let _ = child.wait();
    drop(stdout);
}
