//! The scheduler keeps one job from taking the server down or holding it: results are budgeted,
//! jobs have a time limit, workspaces share the workers, waiting jobs are capped per workspace,
//! and a graceful restart does not count against a job's attempts.

use crate::common::dp::{endless_circuit, Dp, BELL};
use crate::common::*;
use qws_server::scheduler::SchedulerConfig;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

fn terminal(s: &str) -> bool {
    matches!(s, "Succeeded" | "Failed" | "Cancelled")
}

#[tokio::test]
async fn a_memory_bomb_fails_alone_and_the_server_keeps_serving() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    // About 135 KB of results per shot, 200,000 shots: this used to abort the process.
    let bomb = "OPENQASM 2.0; include \"qelib1.inc\"; qreg q[1]; creg c[65536]; x q[0];";
    let r = dp
        .submit_as(
            "bomb",
            bomb,
            json!({"target": "quantinuum.sim.h2-1e", "inputDataFormat": "honeywell.openqasm.v1",
                "outputDataFormat": "honeywell.quantum-results.v1",
                "inputParams": {"shots": 200000}}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let job = dp.wait_for("bomb", 60, terminal).await;
    assert_eq!(job["status"], "Failed", "{job}");
    assert_eq!(job["errorData"]["code"], "ExecutionLimitExceeded", "{job}");
    dp.submit("bell", BELL).await;
    let bell = dp.wait_for("bell", 60, terminal).await;
    assert_eq!(bell["status"], "Succeeded", "{bell}");
}

#[tokio::test]
async fn a_job_past_its_targets_time_limit_is_stopped_and_failed() {
    let t = TestServer::start_with(|c| {
        c.scheduler = SchedulerConfig::with_workers(1);
        c.scheduler
            .target_max_execution_time
            .insert("ionq.simulator".into(), Duration::from_secs(1));
    })
    .await;
    let dp = Dp::new(&t).await;
    dp.submit("long", &endless_circuit()).await;
    let long = dp.wait_for("long", 120, terminal).await;
    assert_eq!(long["status"], "Failed", "{long}");
    assert_eq!(
        long["errorData"]["code"], "ExecutionTimeLimitExceeded",
        "{long}"
    );
    assert!(
        long["errorData"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("limit of 1 seconds")),
        "{long}"
    );
    // The worker is free again.
    dp.submit("bell", BELL).await;
    assert_eq!(
        dp.wait_for("bell", 60, terminal).await["status"],
        "Succeeded"
    );
}

#[tokio::test]
async fn one_workspaces_long_jobs_leave_a_worker_for_another_workspace() {
    let t = TestServer::start_with(|c| c.scheduler = SchedulerConfig::with_workers(2)).await;
    t.create_workspace("qws", "other").await;
    let busy = Dp::new(&t).await;
    let other = Dp::of(&t, "qws", "other").await;
    busy.submit("long1", &endless_circuit()).await;
    busy.submit("long2", &endless_circuit()).await;
    busy.wait_for("long1", 120, |s| s == "Executing").await;

    // Both workers would be held for minutes if the busy workspace could take them both.
    other.submit("bell", BELL).await;
    let bell = other.wait_for("bell", 60, terminal).await;
    assert_eq!(bell["status"], "Succeeded", "{bell}");
    assert_eq!(busy.job("long2").await["status"], "Waiting");

    for id in ["long1", "long2"] {
        let r = busy
            .call(Method::POST, &format!("/jobs/{id}:cancel"), None)
            .await;
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn waiting_jobs_are_capped_per_workspace_with_retry_after() {
    let t = TestServer::start_with(|c| {
        c.scheduler = SchedulerConfig::with_workers(1);
        c.scheduler.caps.queued_per_workspace = 1;
    })
    .await;
    t.create_workspace("qws", "other").await;
    let dp = Dp::new(&t).await;
    dp.submit("long", &endless_circuit()).await;
    dp.wait_for("long", 120, |s| s == "Executing").await;
    dp.submit("second", BELL).await; // waits behind `long`: the one waiting job allowed
    let r = dp
        .submit_as(
            "third",
            BELL,
            json!({"target": "ionq.simulator", "inputDataFormat": "ionq.circuit.v1",
                "outputDataFormat": "ionq.quantum-results.v1"}),
        )
        .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TooManyJobs", "{body}");
    assert_eq!(
        dp.call(Method::GET, "/jobs/third", None).await.status(),
        404
    );
    // Another workspace is not affected.
    let other = Dp::of(&t, "qws", "other").await;
    other.submit("bell", BELL).await;
    let r = dp.call(Method::POST, "/jobs/long:cancel", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        dp.wait_for("second", 60, terminal).await["status"],
        "Succeeded"
    );
}

#[tokio::test]
async fn a_graceful_restart_requeues_a_running_job_without_counting_the_attempt() {
    let config = |c: &mut qws_server::ServerConfig| {
        c.scheduler = SchedulerConfig::with_workers(1);
        c.scheduler.max_attempts = 1;
    };
    let t = TestServer::start_with(config).await;
    {
        let dp = Dp::new(&t).await;
        dp.submit("long", &endless_circuit()).await;
        dp.wait_for("long", 120, |s| s == "Executing").await;
    }
    let dir = t.stop().await;
    let t = TestServer::start_in(dir, config).await;
    let dp = Dp::new(&t).await;
    // With one attempt allowed, a counted attempt would have failed the job at start.
    let job = dp.job("long").await;
    assert!(
        matches!(job["status"].as_str(), Some("Waiting" | "Executing")),
        "{job}"
    );
    assert!(job.get("errorData").is_none_or(Value::is_null), "{job}");
    dp.wait_for("long", 120, |s| s == "Executing").await;
    let r = dp.call(Method::POST, "/jobs/long:cancel", None).await;
    assert_eq!(r.status(), 200);
}
