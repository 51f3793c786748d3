//! `Prefer: wait=N` on job submission: the answer comes once the job has ended (or after N
//! seconds), so the client reads a small job's outcome without polling; without the header
//! the answer is the stored job, as Azure's is.

use crate::common::dp::{endless_circuit, Dp, BELL, DV};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Uploads `input` into the job's container and PUTs the job with `prefer` (if any).
async fn submit(dp: &Dp<'_>, id: &str, input: &str, prefer: Option<&str>) -> reqwest::Response {
    let sas = dp.container(&format!("job-{id}")).await;
    assert_eq!(dp.upload(&sas, "inputData", input).await.status(), 201);
    let (base, _) = sas.split_once('?').unwrap();
    let job = json!({"name": id, "containerUri": sas, "inputDataUri": format!("{base}/inputData"),
        "itemType": "Job", "target": "ionq.simulator", "inputDataFormat": "ionq.circuit.v1",
        "outputDataFormat": "ionq.quantum-results.v1", "inputParams": {"shots": 10}});
    let mut put =
        dp.t.http
            .put(format!("{}/jobs/{id}?api-version={DV}", dp.base))
            .header("x-ms-quantum-api-key", &dp.key)
            .json(&job);
    if let Some(p) = prefer {
        put = put.header("prefer", p);
    }
    put.send().await.unwrap()
}

fn applied(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("preference-applied")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn a_submission_that_prefers_to_wait_answers_with_the_outcome() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    let r = submit(&dp, "waited", BELL, Some("respond-async, wait=60")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(applied(&r).as_deref(), Some("wait=60"));
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["status"], "Succeeded", "{job}");
    assert!(job["endExecutionTime"].is_string(), "{job}");
    // The answer's output URL reads the results.
    let out = t
        .http
        .get(job["outputDataUri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    let results: Value = out.json().await.unwrap();
    assert_eq!(
        results["histogram"].as_object().map(|h| h.len()),
        Some(2),
        "{results}"
    );
    // And the answer is what GET serves.
    assert_eq!(dp.job("waited").await["status"], "Succeeded");

    // Without the preference the answer is the stored job, as Azure's is.
    let r = submit(&dp, "plain", BELL, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(applied(&r), None);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "Waiting");
    // A malformed wait is ignored like an absent one.
    let r = submit(&dp, "malformed", BELL, Some("wait=soon")).await;
    assert_eq!(applied(&r), None);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "Waiting");
}

#[tokio::test]
async fn a_wait_ends_at_its_limit_or_when_the_job_is_cancelled() {
    let t = TestServer::start_with(|c| {
        c.scheduler = qws_server::scheduler::SchedulerConfig::with_workers(1)
    })
    .await;
    let dp = Dp::new(&t).await;
    let endless = endless_circuit();
    // A job far longer than the wait: answered as it is when the second has passed.
    let r = submit(&dp, "long", &endless, Some("wait=1")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(applied(&r).as_deref(), Some("wait=1"));
    let job: Value = r.json().await.unwrap();
    assert!(
        matches!(job["status"].as_str(), Some("Waiting" | "Executing")),
        "{job}"
    );
    let r = dp.call(Method::POST, "/jobs/long:cancel", None).await;
    assert_eq!(r.status(), 200);

    // A submission waiting for a long job is answered when another request cancels it.
    let waiter = {
        let (base, key, http) = (dp.base.clone(), dp.key.clone(), t.http.clone());
        let sas = dp.container("job-long2").await;
        assert_eq!(dp.upload(&sas, "inputData", &endless).await.status(), 201);
        let (cbase, _) = sas.split_once('?').unwrap();
        let job = json!({"name": "long2", "containerUri": sas,
            "inputDataUri": format!("{cbase}/inputData"), "itemType": "Job",
            "target": "ionq.simulator", "inputDataFormat": "ionq.circuit.v1",
            "outputDataFormat": "ionq.quantum-results.v1", "inputParams": {"shots": 1}});
        tokio::spawn(async move {
            http.put(format!("{base}/jobs/long2?api-version={DV}"))
                .header("x-ms-quantum-api-key", key)
                .header("prefer", "wait=60")
                .json(&job)
                .send()
                .await
                .unwrap()
        })
    };
    dp.wait_until("long2", "a start", |s| s == "Executing")
        .await;
    let r = dp.call(Method::POST, "/jobs/long2:cancel", None).await;
    assert_eq!(r.status(), 200);
    let r = waiter.await.unwrap();
    assert_eq!(r.status(), 200);
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["status"], "Cancelled", "{job}");
}
