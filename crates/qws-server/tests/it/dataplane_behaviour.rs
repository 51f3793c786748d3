//! Data-plane behaviour the README promises, against the real server over HTTP: job and session
//! error codes, inputs that are missing or too large, every simulated target family, the
//! `topLevelItems` listing, scheduler admission (queue full, memory budget, measured queue
//! time) and the `qws.quota.jobs.<provider>` workspace tag.

use crate::common::dp::{endless_circuit, Dp, BELL, DV};
use crate::common::*;
use qws_server::scheduler::SchedulerConfig;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

const FINAL: fn(&str) -> bool = |s| matches!(s, "Succeeded" | "Failed" | "Cancelled");
const WAIT_S: u64 = WAIT_DEADLINE.as_secs();

/// GET `{ws}{path_and_query}` (the query may already have parameters) with the key.
async fn get(dp: &Dp<'_>, path_and_query: &str) -> reqwest::Response {
    let sep = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    dp.t.http
        .get(format!("{}{path_and_query}{sep}api-version={DV}", dp.base))
        .header("x-ms-quantum-api-key", &dp.key)
        .send()
        .await
        .unwrap()
}

/// The job's output document, read through a container SAS.
async fn output(dp: &Dp<'_>, id: &str) -> Value {
    let r = dp
        .call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": format!("job-{id}")})),
        )
        .await;
    let sas = r.json::<Value>().await.unwrap()["sasUri"]
        .as_str()
        .unwrap()
        .to_string();
    let (base, q) = sas.split_once('?').unwrap();
    let r =
        dp.t.http
            .get(format!("{base}/outputData?{q}"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

fn ionq_fields(target: &str) -> Value {
    json!({"target": target, "inputDataFormat": "ionq.circuit.v1",
        "outputDataFormat": "ionq.quantum-results.v1", "inputParams": {"shots": 100}})
}

#[tokio::test]
async fn job_errors_have_their_own_codes() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    dp.submit("twice", BELL).await;

    // The same id again: 409 JobAlreadyExists, and the first job is untouched.
    let r = dp
        .submit_as("twice", BELL, ionq_fields("ionq.simulator"))
        .await;
    let e = expect_error(r, 409, "JobAlreadyExists").await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains("'twice'"),
        "{e}"
    );

    // An id outside [A-Za-z0-9._-]: 400 InvalidId.
    let r = dp
        .call(
            Method::PUT,
            "/jobs/bad%21id",
            Some(json!({"target": "ionq.simulator"})),
        )
        .await;
    let e = expect_error(r, 400, "InvalidId").await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1-128 characters"),
        "{e}"
    );

    // A malformed orderby: 400 InvalidOrderBy.
    let r = get(&dp, "/jobs?orderby=Name%20sideways").await;
    expect_error(r, 400, "InvalidOrderBy").await;

    // PATCH: an empty update, a read-only field and a bad priority are InvalidJobUpdate; a
    // valid update changes only what it names.
    for bad in [
        json!({}),
        json!({"status": "Succeeded"}),
        json!({"priority": "Urgent"}),
        json!([1]),
    ] {
        let r = dp
            .call(Method::PATCH, "/jobs/twice", Some(bad.clone()))
            .await;
        let e = expect_error(r, 400, "InvalidJobUpdate").await;
        assert!(e["error"]["message"].is_string(), "{bad}: {e}");
    }
    let r = dp
        .call(
            Method::PATCH,
            "/jobs/twice",
            Some(json!({"name": "renamed", "tags": ["a"]})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let done = dp.wait_for("twice", WAIT_S, FINAL).await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(
        (done["name"].as_str(), &done["tags"]),
        (Some("renamed"), &json!(["a"]))
    );

    // Cancelling a finished job: 409 InvalidJobState, and it stays Succeeded.
    let r = dp.call(Method::POST, "/jobs/twice:cancel", None).await;
    let e = expect_error(r, 409, "InvalidJobState").await;
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already finished (Succeeded)"),
        "{e}"
    );
    assert_eq!(dp.job("twice").await["status"], "Succeeded");
}

#[tokio::test]
async fn missing_and_oversized_inputs_fail_the_job_with_their_codes() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;

    // inputDataUri names a blob that was never uploaded.
    let r = dp
        .call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": "job-nothing"})),
        )
        .await;
    let sas = r.json::<Value>().await.unwrap()["sasUri"]
        .as_str()
        .unwrap()
        .to_string();
    let (base, _) = sas.split_once('?').unwrap();
    let r = dp
        .call(
            Method::PUT,
            "/jobs/nothing",
            Some(json!({"name": "nothing", "containerUri": sas,
                "inputDataUri": format!("{base}/inputData"), "itemType": "Job",
                "target": "ionq.simulator", "inputDataFormat": "ionq.circuit.v1",
                "outputDataFormat": "ionq.quantum-results.v1"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = dp.wait_for("nothing", WAIT_S, FINAL).await;
    assert_eq!(v["status"], "Failed", "{v}");
    assert_eq!(v["errorData"]["code"], "InputDataNotFound", "{v}");

    // A small gzip blob that expands past the input limit (64 MiB): InputDataTooLarge, found
    // while decompressing, without holding more than the limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..65 {
        gz.write_all(&chunk).unwrap();
    }
    let packed = gz.finish().unwrap();
    assert!(packed.len() < 1 << 20, "{}", packed.len());
    let r = dp
        .call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": "job-bomb"})),
        )
        .await;
    let sas = r.json::<Value>().await.unwrap()["sasUri"]
        .as_str()
        .unwrap()
        .to_string();
    let (base, q) = sas.split_once('?').unwrap();
    let r = t
        .http
        .put(format!("{base}/inputData?{q}"))
        .header("x-ms-blob-type", "BlockBlob")
        .header("x-ms-blob-content-encoding", "gzip")
        .body(packed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = dp
        .call(
            Method::PUT,
            "/jobs/bomb",
            Some(json!({"name": "bomb", "containerUri": sas,
                "inputDataUri": format!("{base}/inputData"), "itemType": "Job",
                "target": "ionq.simulator", "inputDataFormat": "ionq.circuit.v1",
                "outputDataFormat": "ionq.quantum-results.v1"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = dp.wait_for("bomb", WAIT_S, FINAL).await;
    assert_eq!(v["status"], "Failed", "{v}");
    assert_eq!(v["errorData"]["code"], "InputDataTooLarge", "{v}");
}

#[tokio::test]
async fn session_errors_and_the_continue_policy() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;

    // No target, or a policy that is not Abort/Continue: InvalidSessionDefinition.
    for bad in [
        json!({"name": "s"}),
        json!({"target": "ionq.simulator", "jobFailurePolicy": "Retry"}),
        json!("x"),
    ] {
        let r = dp
            .call(Method::PUT, "/sessions/s-bad", Some(bad.clone()))
            .await;
        expect_error(r, 400, "InvalidSessionDefinition").await;
    }
    // An unknown session: SessionNotFound, also for its job list and :close.
    let r = dp.call(Method::GET, "/sessions/nope", None).await;
    expect_error(r, 404, "SessionNotFound").await;
    let r = dp.call(Method::GET, "/sessions/nope/jobs", None).await;
    expect_error(r, 404, "SessionNotFound").await;
    let r = dp.call(Method::POST, "/sessions/nope:close", None).await;
    expect_error(r, 404, "SessionNotFound").await;

    // A session id that a job already has: ItemAlreadyExists.
    dp.submit("taken", BELL).await;
    let r = dp
        .call(
            Method::PUT,
            "/sessions/taken",
            Some(json!({"target": "ionq.simulator"})),
        )
        .await;
    expect_error(r, 409, "ItemAlreadyExists").await;

    // Continue: a failed job does not end the session; the next job runs, and closing the
    // session reports Failed because one of its jobs failed.
    let r = dp
        .call(
            Method::PUT,
            "/sessions/cont",
            Some(json!({"target": "ionq.simulator", "jobFailurePolicy": "Continue"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["jobFailurePolicy"],
        "Continue"
    );
    let in_session = |v: Value| {
        let mut f = ionq_fields("ionq.simulator");
        f["sessionId"] = json!("cont");
        let _ = v;
        f
    };
    let bad = r#"{"qubits":1,"circuit":[{"gate":"nope","target":0}]}"#;
    let r = dp.submit_as("c-bad", bad, in_session(Value::Null)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        dp.wait_for("c-bad", WAIT_S, FINAL).await["status"],
        "Failed"
    );
    let s: Value = dp
        .call(Method::GET, "/sessions/cont", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "Executing", "{s}");
    let r = dp.submit_as("c-good", BELL, in_session(Value::Null)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        dp.wait_for("c-good", WAIT_S, FINAL).await["status"],
        "Succeeded"
    );
    let jobs: Value = dp
        .call(Method::GET, "/sessions/cont/jobs", None)
        .await
        .json()
        .await
        .unwrap();
    let mut ids: Vec<&str> = jobs["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["c-bad", "c-good"]);
    let closed: Value = dp
        .call(Method::POST, "/sessions/cont:close", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closed["status"], "Failed", "{closed}");

    // Abort (the default), for contrast: the failed job ends the session and it takes no more.
    let r = dp
        .call(
            Method::PUT,
            "/sessions/abort",
            Some(json!({"target": "ionq.simulator"})),
        )
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["jobFailurePolicy"],
        "Abort"
    );
    let mut f = ionq_fields("ionq.simulator");
    f["sessionId"] = json!("abort");
    assert_eq!(dp.submit_as("a-bad", bad, f.clone()).await.status(), 200);
    assert_eq!(
        dp.wait_for("a-bad", WAIT_S, FINAL).await["status"],
        "Failed"
    );
    let s: Value = dp
        .call(Method::GET, "/sessions/abort", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "Failed", "{s}");
    let r = dp.submit_as("a-after", BELL, f).await;
    expect_error(r, 400, "SessionClosed").await;
}

/// A Bell pair in textual QIR with output recording (base profile).
const BELL_QIR: &str = include_str!("../../../qws-sim/tests/it/data/bell.ll");

const BELL_QASM3: &str =
    "OPENQASM 3.0;\ninclude \"stdgates.inc\";\nqubit[2] q;\nbit[2] c;\nh q[0];\ncx q[0], q[1];\nc = measure q;\n";
const BELL_QASM2: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";

/// The histogram of a `microsoft.quantum-results.v2` document as (display, count) pairs.
fn v2_histogram(doc: &Value) -> Vec<(String, u64)> {
    doc["Results"]
        .as_array()
        .unwrap_or_else(|| panic!("{doc}"))
        .iter()
        .flat_map(|r| r["Histogram"].as_array().unwrap_or_else(|| panic!("{doc}")))
        .map(|h| {
            (
                h["Display"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{doc}"))
                    .to_string(),
                h["Count"].as_u64().unwrap_or_else(|| panic!("{doc}")),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_target_family_runs_through_the_server() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    let cases = [
        (
            "rigetti",
            "rigetti.sim.qvm",
            "qir.v1",
            BELL_QIR,
            "microsoft.quantum-results.v2",
        ),
        (
            "qasm3",
            "qws.simulator",
            "openqasm.v3",
            BELL_QASM3,
            "microsoft.quantum-results.v2",
        ),
        (
            "h2-2e",
            "quantinuum.sim.h2-2e",
            "honeywell.openqasm.v1",
            BELL_QASM2,
            "honeywell.quantum-results.v1",
        ),
        (
            "forte",
            "ionq.qpu.forte-1",
            "ionq.circuit.v1",
            BELL,
            "ionq.quantum-results.v1",
        ),
    ];
    for (id, target, input, program, output_format) in cases {
        let r = dp
            .submit_as(
                id,
                program,
                json!({"target": target, "inputDataFormat": input, "outputDataFormat": output_format,
                    // The H2 emulator's noise model off: every Bell shot is then 00 or 11.
                    "inputParams": {"shots": 50, "entryPoint": "ENTRYPOINT__main", "error-model": false}}),
            )
            .await;
        assert_eq!(r.status(), 200, "{target}: {}", r.text().await.unwrap());
    }
    for (id, target, _, _, output_format) in cases {
        let v = dp.wait_for(id, WAIT_S, FINAL).await;
        assert_eq!(v["status"], "Succeeded", "{target}: {v}");
        assert_eq!(v["target"], target);
        assert_eq!(v["outputDataFormat"], output_format, "{v}");
        let doc = output(&dp, id).await;
        match output_format {
            "ionq.quantum-results.v1" => {
                let h = doc["histogram"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{doc}"));
                let mut keys: Vec<&str> = h.keys().map(String::as_str).collect();
                keys.sort();
                assert_eq!(keys, ["0", "3"], "{target}: {doc}");
            }
            "honeywell.quantum-results.v1" => {
                let c = doc["c"].as_array().unwrap_or_else(|| panic!("{doc}"));
                assert_eq!(c.len(), 50, "{doc}");
                assert!(c.iter().all(|s| s == "00" || s == "11"), "{target}: {doc}");
                assert!(
                    c.iter().any(|s| s == "00") && c.iter().any(|s| s == "11"),
                    "{doc}"
                );
            }
            _ => {
                assert_eq!(doc["DataFormat"], output_format, "{target}: {doc}");
                let hist = v2_histogram(&doc);
                assert_eq!(
                    hist.iter().map(|(_, n)| n).sum::<u64>(),
                    50,
                    "{target}: {doc}"
                );
                let mut kinds: Vec<String> = hist
                    .iter()
                    .map(|(d, _)| d.chars().filter(|c| c.is_ascii_digit()).collect())
                    .collect();
                kinds.sort();
                assert_eq!(kinds, ["00", "11"], "{target}: {doc}");
            }
        }
    }
}

#[tokio::test]
async fn top_level_items_list_sessions_and_loose_jobs_with_filter_and_paging() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    let r = dp
        .call(
            Method::PUT,
            "/sessions/tl-session",
            Some(json!({"target": "ionq.simulator", "name": "tl-session"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let mut in_session = ionq_fields("ionq.simulator");
    in_session["sessionId"] = json!("tl-session");
    assert_eq!(
        dp.submit_as("tl-inner", BELL, in_session).await.status(),
        200
    );
    for i in 0..3 {
        dp.submit(&format!("tl-job-{i}"), BELL).await;
    }
    dp.submit("other", BELL).await;

    // Filter on the name prefix, ordered by name, two per page, following nextLink: the
    // session and the three loose jobs, never the session's own job.
    let mut url = format!(
        "{}/topLevelItems?api-version={DV}&filter=startswith(Name,%20%27tl-%27)&orderby=Name%20asc&top=2",
        dp.base
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let v: Value = t
            .http
            .get(&url)
            .header("x-ms-quantum-api-key", &dp.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        let items = v["value"].as_array().unwrap_or_else(|| panic!("{v}"));
        assert!(items.len() <= 2, "{v}");
        for i in items {
            seen.push((
                i["name"].as_str().unwrap().to_string(),
                i["itemType"].as_str().unwrap().to_string(),
            ));
        }
        match v["nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
        assert!(pages < 10, "nextLink does not end: {v}");
    }
    let want: Vec<(String, String)> = [
        ("tl-job-0", "Job"),
        ("tl-job-1", "Job"),
        ("tl-job-2", "Job"),
        ("tl-session", "Session"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, want);
    assert_eq!(pages, 2);

    // Filtering on the item type keeps only the session.
    let v: Value = get(&dp, "/topLevelItems?filter=ItemType%20eq%20%27Session%27")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tl-session"], "{v}");
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after() {
    // One worker held by an endless job, and room for two waiting jobs.
    let t = TestServer::start_with(|c| {
        c.scheduler = SchedulerConfig::with_workers(1);
        c.scheduler.max_queue = 2;
    })
    .await;
    let dp = Dp::new(&t).await;
    let endless = endless_circuit();
    dp.submit("long", &endless).await;
    dp.wait_for("long", WAIT_S, |s| s == "Executing").await;
    dp.submit("w1", BELL).await;
    dp.submit("w2", BELL).await;
    let r = dp
        .submit_as("w3", BELL, ionq_fields("ionq.simulator"))
        .await;
    assert_eq!(r.status(), 503);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "ServerBusy", "{e}");
    // Refused means not stored.
    expect_error(
        dp.call(Method::GET, "/jobs/w3", None).await,
        404,
        "JobNotFound",
    )
    .await;
    // Once a waiting job leaves the queue there is room again.
    let r = dp.call(Method::POST, "/jobs/w1:cancel", None).await;
    assert_eq!(r.status(), 200);
    let r = dp
        .submit_as("w3", BELL, ionq_fields("ionq.simulator"))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        dp.call(Method::POST, "/jobs/long:cancel", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        dp.wait_for("w3", WAIT_S, FINAL).await["status"],
        "Succeeded"
    );
}

#[tokio::test]
async fn the_memory_budget_keeps_a_second_job_waiting_while_a_worker_is_free() {
    // Three workers, all free for this workspace, but the budget holds only one 22-qubit
    // statevector (64 MiB) at a time.
    let t = TestServer::start_with(|c| {
        c.scheduler = SchedulerConfig::with_workers(3);
        c.scheduler.caps.running_per_workspace = 0;
        c.scheduler.memory_budget_bytes = 100 << 20;
        c.scheduler.max_output_bytes = 1 << 20;
    })
    .await;
    let dp = Dp::new(&t).await;
    let endless = endless_circuit();
    dp.submit("big1", &endless).await;
    dp.wait_for("big1", WAIT_S, |s| s == "Executing").await;
    dp.submit("big2", &endless).await;
    // A small job runs beside big1 (a worker and memory are free), while big2 still waits for
    // memory: its being Waiting after the small job finished is the budget's doing.
    dp.submit("small", BELL).await;
    assert_eq!(
        dp.wait_for("small", WAIT_S, FINAL).await["status"],
        "Succeeded"
    );
    assert_eq!(dp.job("big2").await["status"], "Waiting");
    assert_eq!(dp.job("big1").await["status"], "Executing");
    // Freeing big1's memory lets big2 start.
    assert_eq!(
        dp.call(Method::POST, "/jobs/big1:cancel", None)
            .await
            .status(),
        200
    );
    dp.wait_for("big2", WAIT_S, |s| s == "Executing").await;
    assert_eq!(
        dp.call(Method::POST, "/jobs/big2:cancel", None)
            .await
            .status(),
        200
    );
}

async fn average_queue_time(dp: &Dp<'_>, target: &str) -> i64 {
    let v: Value = get(dp, "/providerStatus").await.json().await.unwrap();
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .find(|t| t["id"] == target)
        .unwrap_or_else(|| panic!("no {target} in {v}"))["averageQueueTime"]
        .as_i64()
        .unwrap_or_else(|| panic!("{v}"))
}

#[tokio::test]
async fn average_queue_time_is_measured_from_the_real_queue() {
    let t = TestServer::start_with(|c| c.scheduler = SchedulerConfig::with_workers(1)).await;
    let dp = Dp::new(&t).await;
    assert_eq!(average_queue_time(&dp, "ionq.qpu.aria-1").await, 0);
    // An endless job holds the only worker while an aria-1 job waits for at least 3 s (the
    // sleep is the quantity measured, not a synchronisation).
    dp.submit("long", &endless_circuit()).await;
    dp.wait_for("long", WAIT_S, |s| s == "Executing").await;
    let r = dp
        .submit_as("queued", BELL, ionq_fields("ionq.qpu.aria-1"))
        .await;
    assert_eq!(r.status(), 200);
    let submitted = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(dp.job("queued").await["status"], "Waiting");
    assert_eq!(
        dp.call(Method::POST, "/jobs/long:cancel", None)
            .await
            .status(),
        200
    );
    assert_eq!(
        dp.wait_for("queued", WAIT_S, FINAL).await["status"],
        "Succeeded"
    );
    let waited = submitted.elapsed().as_secs_f64();
    let avg = average_queue_time(&dp, "ionq.qpu.aria-1").await;
    assert!(
        avg >= 3 && (avg as f64) <= waited + 1.0,
        "average {avg} s, waited {waited:.1} s"
    );
    // Per target: a target no job ran on has measured nothing.
    assert_eq!(average_queue_time(&dp, "ionq.qpu.forte-1").await, 0);
}

#[tokio::test]
async fn the_quota_tag_overrides_a_providers_monthly_job_limit() {
    let t = TestServer::start().await;
    // Tag the workspace: two ionq jobs a month.
    let ws = t.ws_path("qws", "dev");
    let r = t
        .arm(
            Method::PATCH,
            &format!("{ws}?api-version={V}"),
            Some(json!({"tags": {"qws.quota.jobs.ionq": "2"}})),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let dp = Dp::new(&t).await;
    let quotas: Value = get(&dp, "/quotas").await.json().await.unwrap();
    let ionq = quotas["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["providerId"] == "ionq")
        .unwrap_or_else(|| panic!("{quotas}"))
        .clone();
    assert_eq!(
        (ionq["limit"].as_f64(), ionq["utilization"].as_f64()),
        (Some(2.0), Some(0.0)),
        "{ionq}"
    );
    // Another provider keeps the default.
    let qtm = quotas["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["providerId"] == "quantinuum")
        .unwrap();
    assert!(qtm["limit"].as_f64().unwrap() > 2.0, "{qtm}");

    dp.submit("q1", BELL).await;
    dp.submit("q2", BELL).await;
    let r = dp
        .submit_as("q3", BELL, ionq_fields("ionq.simulator"))
        .await;
    let e = expect_error(r, 403, "QuotaExceeded").await;
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("2 of 2") && msg.contains("qws.quota.jobs.ionq"),
        "{msg}"
    );
    // Other providers are not limited by ionq's tag.
    let r = dp
        .submit_as(
            "qtm",
            BELL_QASM2,
            json!({"target": "quantinuum.sim.h2-1e", "inputDataFormat": "honeywell.openqasm.v1",
                "outputDataFormat": "honeywell.quantum-results.v1", "inputParams": {"shots": 10}}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Raising the tag (its name matched without regard to case) lets the next job in.
    let r = t
        .arm(
            Method::PATCH,
            &format!("{ws}?api-version={V}"),
            Some(json!({"tags": {"QWS.Quota.Jobs.IonQ": "3"}})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        dp.submit_as("q3", BELL, ionq_fields("ionq.simulator"))
            .await
            .status(),
        200
    );
}
