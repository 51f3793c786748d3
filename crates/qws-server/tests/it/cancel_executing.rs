//! Cancelling an executing job stops its simulation: with a single scheduler worker, a Bell job
//! submitted after cancelling a very long job still completes, which it could not if the
//! cancelled simulation kept the worker (and its memory reservation) until the end.

use crate::common::dp::Dp;
use crate::common::*;
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn cancelling_an_executing_job_frees_its_worker() {
    let t = TestServer::start_with(|c| {
        c.scheduler = qws_server::scheduler::SchedulerConfig::with_workers(1)
    })
    .await;
    let dp = Dp::new(&t).await;
    dp.submit("long", &crate::common::dp::endless_circuit())
        .await;
    dp.wait_for("long", 120, |s| s != "Waiting").await;
    let r = dp.call(Method::POST, "/jobs/long:cancel", None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // The only worker must come free for this job to run.
    dp.submit("bell", crate::common::dp::BELL).await;
    let bell = dp
        .wait_for("bell", 60, |s| {
            matches!(s, "Succeeded" | "Failed" | "Cancelled")
        })
        .await;
    assert_eq!(bell["status"], "Succeeded", "{bell}");

    let long = dp.job("long").await;
    assert_eq!(long["status"], "Cancelled", "{long}");
    assert!(long.get("errorData").is_none_or(Value::is_null), "{long}");
    // No output blob was written for the cancelled job (the Bell job's is there).
    assert_eq!(dp.output_status("bell").await, 200);
    assert_eq!(dp.output_status("long").await, 404);
}
