//! `GET /metrics` on the `--metrics-listen` listener: after requests, a failed authentication,
//! blob uploads and jobs that succeed, fail and are cancelled, a scrape over HTTP shows each
//! counter and histogram with the labels of what happened, and route labels are templates,
//! never raw paths. The registry is process-wide, so the scrape test runs in a process of its
//! own and can expect exact counts.

use crate::common::dp::Dp;
use crate::common::own_process::in_own_process;
use crate::common::*;
use reqwest::Method;
use serde_json::json;

const JOB_ROUTE: &str =
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}/jobs/{id}";

/// The value of the sample `name` whose labels include every pair of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v.parse().expect("a number"))
}

async fn scrape(t: &TestServer) -> String {
    let addr = t.srv().metrics_addr.expect("a metrics listener");
    let r = t
        .http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    r.text().await.unwrap()
}

const IONQ: [(&str, &str); 2] = [("provider", "ionq"), ("target", "ionq.simulator")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_jobs_and_failures_show_in_a_scrape() {
    if !in_own_process("metrics::requests_jobs_and_failures_show_in_a_scrape") {
        return;
    }
    let t = TestServer::start_with(|c| {
        c.listeners.metrics = Some("127.0.0.1:0".parse().unwrap());
        c.scheduler = qws_server::scheduler::SchedulerConfig::with_workers(1);
    })
    .await;
    let before = scrape(&t).await;
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        sample(&before, "qws_build_info", &[("version", version)]),
        Some(1.0),
        "{before}"
    );
    assert_eq!(sample(&before, "qws_jobs_submitted_total", &IONQ), None);

    let dp = Dp::new(&t).await;
    dp.submit("bell", crate::common::dp::BELL).await;
    let bell = dp
        .wait_for("bell", 60, |s| matches!(s, "Succeeded" | "Failed"))
        .await;
    assert_eq!(bell["status"], "Succeeded", "{bell}");

    // Refused at submission: ionq.simulator does not take this input format.
    let r = dp
        .submit_as(
            "wrong-format",
            "OPENQASM 2.0;",
            json!({"target": "ionq.simulator", "inputDataFormat": "honeywell.openqasm.v1",
                "outputDataFormat": "ionq.quantum-results.v1"}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    dp.submit("long", &crate::common::dp::endless_circuit())
        .await;
    let r = dp.call(Method::POST, "/jobs/long:cancel", None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // One refused credential.
    let r = t
        .http
        .get(format!(
            "{}/jobs?api-version={}",
            dp.base,
            crate::common::dp::DV
        ))
        .header("x-ms-quantum-api-key", "not-the-key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let m = scrape(&t).await;
    assert_eq!(
        sample(&m, "qws_jobs_submitted_total", &IONQ),
        Some(3.0),
        "{m}"
    );
    for (status, n) in [("Succeeded", 1.0), ("Failed", 1.0), ("Cancelled", 1.0)] {
        let labels = [IONQ[0], IONQ[1], ("status", status)];
        assert_eq!(
            sample(&m, "qws_jobs_finished_total", &labels),
            Some(n),
            "{status}: {m}"
        );
    }
    assert!(
        sample(&m, "qws_job_queue_wait_seconds_count", &IONQ).unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    assert!(
        sample(&m, "qws_job_simulation_seconds_count", &IONQ).unwrap_or(0.0) >= 1.0,
        "{m}"
    );
    assert!(sample(&m, "qws_queue_depth", &[]).is_some(), "{m}");

    // Requests by plane, route template and status; the histogram counts the same requests.
    let put = [
        ("plane", "dataplane"),
        ("route", JOB_ROUTE),
        ("status", "200"),
    ];
    let puts = sample(&m, "qws_http_requests_total", &put).unwrap_or(0.0);
    // Three PUTs, one cancel, the polls of the Bell job.
    assert!(puts >= 4.0, "{m}");
    assert_eq!(
        sample(&m, "qws_http_request_duration_seconds_count", &put),
        Some(puts),
        "{m}"
    );
    let uploads = [("plane", "blob"), ("route", "(blob)"), ("status", "201")];
    assert!(
        sample(&m, "qws_http_requests_total", &uploads).unwrap_or(0.0) >= 3.0,
        "{m}"
    );
    let refused = [("plane", "dataplane"), ("status", "401")];
    assert_eq!(
        sample(&m, "qws_http_requests_total", &refused),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "qws_auth_failures_total", &[("reason", "Unauthorized")]),
        Some(1.0),
        "{m}"
    );
    let uploaded = crate::common::dp::BELL.len() + "OPENQASM 2.0;".len();
    assert!(
        sample(&m, "qws_blob_received_bytes_total", &[]).unwrap_or(0.0) >= uploaded as f64,
        "{m}"
    );
    // Raw paths never become labels: no job id or workspace name appears.
    for raw in ["/jobs/bell", "long:cancel", "/workspaces/dev"] {
        assert!(!m.contains(raw), "{raw} in {m}");
    }

    // The scheduler read the job's input from the blob store, not over HTTP; a download counts.
    let (base, q) = dp
        .container("job-bell")
        .await
        .split_once('?')
        .map(|(b, q)| (b.to_string(), q.to_string()))
        .unwrap();
    let r = t
        .http
        .get(format!("{base}/inputData?{q}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.bytes().await.unwrap();
    let m = scrape(&t).await;
    assert!(
        sample(&m, "qws_blob_sent_bytes_total", &[]).unwrap_or(0.0) >= body.len() as f64,
        "{m}"
    );
}

#[tokio::test]
async fn the_metrics_listener_is_loopback_only_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = qws_server::ServerConfig::ephemeral(dir.path().join("data"));
    config.listeners.metrics = Some("0.0.0.0:0".parse().unwrap());
    let err = qws_server::start(config).await.unwrap_err().to_string();
    assert!(err.contains("--metrics-listen"), "{err}");
}

#[tokio::test]
async fn no_metrics_listener_by_default() {
    let t = TestServer::start().await;
    assert_eq!(t.srv().metrics_addr, None);
}

/// The histogram's `_count` and `_sum` for the labels (zero when the series does not exist).
fn histogram(text: &str, name: &str, labels: &[(&str, &str)]) -> (f64, f64) {
    (
        sample(text, &format!("{name}_count"), labels).unwrap_or(0.0),
        sample(text, &format!("{name}_sum"), labels).unwrap_or(0.0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_memory_and_database_use_change_as_jobs_run() {
    if !in_own_process("metrics::job_memory_and_database_use_change_as_jobs_run") {
        return;
    }
    let t = TestServer::start_with(|c| {
        c.listeners.metrics = Some("127.0.0.1:0".parse().unwrap());
        c.scheduler = qws_server::scheduler::SchedulerConfig::with_workers(1);
    })
    .await;
    let dp = Dp::new(&t).await;
    let before = scrape(&t).await;
    assert_eq!(
        histogram(&before, "qws_job_memory_bytes", &IONQ),
        (0.0, 0.0),
        "{before}"
    );
    let jobs_db = [("database", "jobs")];
    let metadata_db = [("database", "metadata")];
    let (jobs_waits, _) = histogram(&before, "qws_db_connection_wait_seconds", &jobs_db);
    let (jobs_holds, _) = histogram(&before, "qws_db_connection_held_seconds", &jobs_db);
    // Starting the server and making the workspace used the metadata database.
    assert!(
        histogram(&before, "qws_db_connection_held_seconds", &metadata_db).0 >= 1.0,
        "{before}"
    );

    for id in ["bell-1", "bell-2"] {
        dp.submit(id, crate::common::dp::BELL).await;
        let job = dp
            .wait_for(id, 60, |s| matches!(s, "Succeeded" | "Failed"))
            .await;
        assert_eq!(job["status"], "Succeeded", "{job}");
    }

    // The reservation ends just after the job's status is written: wait for the gauge.
    let deadline = std::time::Instant::now() + WAIT_DEADLINE;
    let after = loop {
        let m = scrape(&t).await;
        if sample(&m, "qws_simulator_memory_reserved_bytes", &[]) == Some(0.0) {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "memory still reserved: {m}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let (count, sum) = histogram(&after, "qws_job_memory_bytes", &IONQ);
    assert_eq!(count, 2.0, "{after}");
    // At least the state vector of two qubits, reserved in whole MiB.
    assert!(sum >= 2.0 * 1048576.0, "{after}");
    assert_eq!(sum % 1048576.0, 0.0, "{after}");
    for db in [jobs_db, metadata_db] {
        // One connection per store: in use by at most one caller.
        let in_use = sample(&after, "qws_db_connections_in_use", &db);
        assert!(matches!(in_use, Some(n) if n == 0.0 || n == 1.0), "{after}");
        assert!(
            sample(&after, "qws_db_connection_waiters", &db).is_some(),
            "{after}"
        );
    }
    // Submitting, scheduling and polling two jobs went through the jobs database; every wait
    // ends in a hold (but the one holding the connection now, if any).
    let (waits, _) = histogram(&after, "qws_db_connection_wait_seconds", &jobs_db);
    let (holds, held) = histogram(&after, "qws_db_connection_held_seconds", &jobs_db);
    assert!(waits >= jobs_waits + 6.0, "{after}");
    assert!(waits - holds == 0.0 || waits - holds == 1.0, "{after}");
    assert!(holds > jobs_holds && held > 0.0, "{after}");
}
