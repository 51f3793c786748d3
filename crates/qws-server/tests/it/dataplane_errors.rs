//! The Azure Quantum data plane over real HTTP: a Bell job end to end, then the error paths —
//! uniform 401s and throttling, foreign and expired SAS, path traversal, oversized and malformed
//! bodies, wrong formats, unknown targets, concurrent cancels, paging with filters, and restart
//! recovery of jobs left executing.

use crate::common::dp::{Dp, BELL, DV};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// The jobs of this file: named `n-<id>`, 10 shots and one metadata entry.
trait SubmitJob {
    /// Uploads `input` and PUTs a job; returns the response.
    async fn submit_job(
        &self,
        id: &str,
        target: &str,
        format: &str,
        input: &str,
    ) -> reqwest::Response;
}

impl SubmitJob for Dp<'_> {
    async fn submit_job(
        &self,
        id: &str,
        target: &str,
        format: &str,
        input: &str,
    ) -> reqwest::Response {
        let fields = json!({"name": format!("n-{id}"), "inputDataFormat": format,
            "target": target, "inputParams": {"shots": 10}, "metadata": {"k": "v"}});
        self.submit_as(id, input, fields).await
    }
}

#[tokio::test]
async fn bell_job_end_to_end() {
    let t = TestServer::start().await;
    let dp = Dp::of(&t, "qws", "dev").await;
    let r = dp
        .submit_job("bell-1", "ionq.simulator", "ionq.circuit.v1", BELL)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "Waiting");
    assert_eq!(v["metadata"], json!({"k": "v"}));
    assert_eq!(v["createdByType"], "Key");
    assert_eq!(v["createdBy"], "PrimaryKey");
    let done = dp.wait("bell-1").await;
    assert_eq!(done["status"], "Succeeded", "{done}");
    assert_eq!(done["inputParams"], json!({"shots": 10}));
    assert_eq!(done["costEstimate"]["currencyCode"], "USD");
    assert!(done["beginExecutionTime"].is_string());
    let out = done["outputDataUri"].as_str().unwrap();
    assert!(out.contains("se="), "{out}");
    let r = t
        .http
        .get(out)
        .header("x-ms-range", "bytes=0-33554431")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["histogram"].as_object().unwrap().len(), 2, "{h}");
}

#[tokio::test]
async fn authentication_is_uniform_and_throttled() {
    let t = TestServer::start_with(|c| c.auth.failure_limit = 4).await;
    t.create_group("g2").await;
    t.create_workspace("g2", "other").await;
    let dp = Dp::of(&t, "qws", "dev").await;
    let other = Dp::of(&t, "g2", "other").await;
    let mut bodies = Vec::new();
    for key in ["", "wrong", other.key.as_str()] {
        let mut r = t
            .http
            .get(format!("{}/providerStatus?api-version={DV}", dp.base));
        if !key.is_empty() {
            r = r.header("x-ms-quantum-api-key", key);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(r.headers().contains_key("www-authenticate"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "Unauthorized");
        bodies.push(v);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    let wrong = || {
        t.http
            .get(format!("{}/jobs?api-version={DV}", dp.base))
            .header("x-ms-quantum-api-key", "wrong")
            .send()
    };
    assert_eq!(wrong().await.unwrap().status(), 401);
    // Over the limit, wrong keys get 429 with Retry-After…
    let r = wrong().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // …while the right key from the same address still works.
    assert_eq!(
        dp.call(Method::GET, "/providerStatus", None).await.status(),
        200
    );
}

#[tokio::test]
async fn job_error_paths() {
    let t = TestServer::start().await;
    t.create_group("g2").await;
    t.create_workspace("g2", "other").await;
    let dp = Dp::of(&t, "qws", "dev").await;
    let other = Dp::of(&t, "g2", "other").await;

    // Foreign SAS: a container of another workspace.
    let foreign = other.container("job-foreign").await;
    let (fbase, _) = foreign.split_once('?').unwrap();
    let body = |c: &str, input: &str| {
        json!({"containerUri": c, "inputDataUri": input, "inputDataFormat": "ionq.circuit.v1",
               "providerId": "ionq", "target": "ionq.simulator", "itemType": "Job"})
    };
    let r = dp
        .call(
            Method::PUT,
            "/jobs/foreign-1",
            Some(body(&foreign, &format!("{fbase}/inputData"))),
        )
        .await;
    expect_error(r, 400, "InvalidContainerUri").await;

    // Expired SAS for our own container.
    let own = dp.container("job-expired").await;
    let (obase, _) = own.split_once('?').unwrap();
    let state = &t.srv().state;
    let uid = state
        .store
        .get_workspace(
            &qws_core::resource_id::WorkspaceId::from_parts(&t.sub(), "qws", "dev").unwrap(),
        )
        .unwrap()
        .unwrap()
        .uid;
    let expired = qws_server::planes::blob::sas::mint_container_sas(
        state,
        &uid,
        &qws_server::planes::blob::sas::key_holder(
            &state.store,
            &uid,
            qws_core::keys::KeySlot::Primary,
        )
        .unwrap()
        .unwrap(),
        "job-expired",
        "racwl",
        time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
    );
    let r = dp
        .call(
            Method::PUT,
            "/jobs/expired-1",
            Some(body(&expired, &format!("{obase}/inputData"))),
        )
        .await;
    expect_error(r, 400, "InvalidContainerUri").await;

    // Path traversal out of the job container, in the URL and in sasUri.
    for input in [
        format!("{obase}/../job-foreign/inputData"),
        format!("{obase}/%2E%2E/x"),
        format!("{obase}/a//b"),
    ] {
        let r = dp
            .call(Method::PUT, "/jobs/trav-1", Some(body(&own, &input)))
            .await;
        expect_error(r, 400, "InvalidInputDataUri").await;
    }
    let r = dp
        .call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": "job-expired", "blobName": "../x"})),
        )
        .await;
    expect_error(r, 400, "InvalidBlobDetails").await;
    let r = dp
        .call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": "../etc"})),
        )
        .await;
    expect_error(r, 400, "InvalidBlobDetails").await;

    // Oversized and malformed bodies.
    let big = json!({"name": "x".repeat(2 * 1024 * 1024)});
    let r = dp.call(Method::PUT, "/jobs/big-1", Some(big)).await;
    assert_eq!(r.status(), 413);
    let r = t
        .http
        .put(format!("{}/jobs/bad-json?api-version={DV}", dp.base))
        .header("x-ms-quantum-api-key", &dp.key)
        .header("content-type", "application/json")
        .body("{\"target\": ")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "InvalidRequestContent").await;

    // Unknown target.
    let r = dp
        .submit_job("unknown-1", "ionq.nonexistent", "ionq.circuit.v1", BELL)
        .await;
    let v = expect_error(r, 400, "UnknownTarget").await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ionq.simulator"));

    // A format the target does not accept fails with errorData.
    let r = dp
        .submit_job(
            "fmt-1",
            "ionq.simulator",
            "honeywell.openqasm.v1",
            "OPENQASM 2.0;",
        )
        .await;
    assert_eq!(r.status(), 200);
    let v = dp.wait("fmt-1").await;
    assert_eq!(v["status"], "Failed");
    assert_eq!(v["errorData"]["code"], "InvalidInputDataFormat", "{v}");

    // A malformed program fails with a positioned message.
    dp.submit_job(
        "prog-1",
        "ionq.simulator",
        "ionq.circuit.v1",
        "{\"qubits\": 2, ",
    )
    .await;
    let v = dp.wait("prog-1").await;
    assert_eq!(v["status"], "Failed");
    assert_eq!(v["errorData"]["code"], "InvalidInputData", "{v}");

    // Unknown job, wrong action, malformed filter.
    let r = dp.call(Method::GET, "/jobs/nope", None).await;
    expect_error(r, 404, "JobNotFound").await;
    let r = dp
        .call(Method::GET, "/jobs?filter=Colour%20eq%20%27red%27", None)
        .await;
    expect_error(r, 400, "InvalidFilter").await;
}

#[tokio::test]
async fn concurrent_cancels_leave_the_job_cancelled() {
    // One worker: slow-0 executes, the others wait, whatever the machine's cores; and a job
    // queued after them runs only once the worker is done with slow-0, which orders the check
    // below after any late write of slow-0's result.
    let t = TestServer::start_with(|c| {
        c.scheduler = qws_server::scheduler::SchedulerConfig::with_workers(1)
    })
    .await;
    let dp = Dp::of(&t, "qws", "dev").await;
    // Minutes of simulation: slow-0 is certainly still executing when cancelled.
    let slow = crate::common::dp::endless_circuit();
    for i in 0..3 {
        let r = dp
            .submit_job(
                &format!("slow-{i}"),
                "ionq.simulator",
                "ionq.circuit.v1",
                &slow,
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    dp.wait_until("slow-0", "Executing", |s| s == "Executing")
        .await;
    let cancels = (0..3).flat_map(|i| {
        let dp = &dp;
        (0..4).map(move |_| async move {
            let r = dp
                .call(Method::POST, &format!("/jobs/slow-{i}:cancel"), None)
                .await;
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v)
        })
    });
    let results = futures_join(cancels.collect()).await;
    for (status, v) in &results {
        // 200 with the cancelled job, or 409 if the job had already finished.
        assert!(*status == 200 || *status == 409, "{status} {v}");
        if *status == 200 {
            assert_eq!(v["status"], "Cancelled");
            assert!(v["cancellationTime"].is_string());
        }
    }
    // The worker finishes with slow-0 (its run stopped or completed, its outcome recorded)
    // before it takes the next job: once that job has succeeded, no late result of slow-0
    // can still arrive, and Cancelled must have survived it.
    let after = dp
        .submit_job("after", "ionq.simulator", "ionq.circuit.v1", BELL)
        .await;
    assert_eq!(after.status(), 200);
    assert_eq!(dp.wait("after").await["status"], "Succeeded");
    for i in 0..3 {
        let v = dp.job(&format!("slow-{i}")).await;
        assert_eq!(v["status"], "Cancelled", "{v}");
        assert!(v["cancellationTime"].is_string(), "{v}");
    }
    // Each job was cancelled by one of its four calls at least.
    for i in 0..3 {
        let per_job = &results[i * 4..(i + 1) * 4];
        assert!(per_job.iter().any(|(s, _)| *s == 200), "{per_job:?}");
    }
}

async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut handles = Vec::new();
    let mut out = Vec::new();
    for f in fs {
        handles.push(f);
    }
    // Poll all concurrently.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    for d in done {
        out.push(d.unwrap());
    }
    out
}

#[tokio::test]
async fn list_filters_and_pages_with_next_link() {
    let t = TestServer::start().await;
    let dp = Dp::of(&t, "qws", "dev").await;
    for i in 0..5 {
        assert_eq!(
            dp.submit_job(
                &format!("page-{i}"),
                "ionq.simulator",
                "ionq.circuit.v1",
                BELL
            )
            .await
            .status(),
            200
        );
    }
    dp.submit_job("other-0", "ionq.simulator", "ionq.circuit.v1", BELL)
        .await;
    let mut url = format!(
        "{}/jobs?api-version={DV}&filter=startswith(Name,%20%27n-page%27)%20and%20(ProviderId%20eq%20%27ionq%27)&orderby=Name%20desc&skip=0&top=2",
        dp.base
    );
    let mut names = Vec::new();
    for _ in 0..10 {
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
        for j in v["value"].as_array().unwrap() {
            names.push(j["name"].as_str().unwrap().to_string());
        }
        match v["nextLink"].as_str() {
            Some(n) => {
                assert!(n.contains("filter=") && n.contains("orderby="), "{n}");
                url = n.to_string();
            }
            None => break,
        }
    }
    assert_eq!(
        names,
        ["n-page-4", "n-page-3", "n-page-2", "n-page-1", "n-page-0"]
    );
}

#[tokio::test]
async fn jobs_left_executing_run_again_after_restart() {
    let t = TestServer::start().await;
    let dp = Dp::of(&t, "qws", "dev").await;
    assert_eq!(
        dp.submit_job("crash-1", "ionq.simulator", "ionq.circuit.v1", BELL)
            .await
            .status(),
        200
    );
    dp.wait("crash-1").await;
    let uid = {
        let state = &t.srv().state;
        state
            .store
            .get_workspace(
                &qws_core::resource_id::WorkspaceId::from_parts(&t.sub(), "qws", "dev").unwrap(),
            )
            .unwrap()
            .unwrap()
            .uid
    };
    let dir = t.stop().await;
    // Simulate a crash in the middle of the run: the row says Executing, no output verdict yet.
    {
        let js = qws_store::jobs::JobStore::open_target(
            &qws_store::db::test_cluster::target_for_dir(&dir.path().join("data")),
        )
        .unwrap();
        js.update_item(&uid, "crash-1", |r| {
            let mut d: Value = serde_json::from_str(&r.doc).unwrap();
            d["status"] = json!("Executing");
            d["costEstimate"] = Value::Null;
            Some(("Executing".into(), d.to_string()))
        })
        .unwrap()
        .unwrap();
    }
    let t = TestServer::start_in(dir, |_| {}).await;
    let dp = Dp::of(&t, "qws", "dev").await;
    let v = dp.wait("crash-1").await;
    assert_eq!(v["status"], "Succeeded", "{v}");
    assert_eq!(v["costEstimate"]["currencyCode"], "USD");
}

/// The data plane reads the workspace from the matched route like the management plane does,
/// percent-decoded: a resource group with a non-ASCII name (valid in ARM, percent-encoded on
/// the wire) is the same group on both planes. (The data plane used to split the raw URI, so
/// such a workspace's own key was refused.)
#[tokio::test]
async fn data_plane_finds_workspaces_in_groups_with_non_ascii_names() {
    let t = TestServer::start().await;
    t.create_group("grüne-gruppe").await;
    t.create_workspace("grüne-gruppe", "ws1").await;
    let dp = Dp::of(&t, "grüne-gruppe", "ws1").await;
    let r = dp.call(Method::GET, "/jobs", None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // And a wrong key there is still the uniform 401.
    let wrong = Dp {
        key: "A".repeat(dp.key.len()),
        ..dp
    };
    assert_eq!(wrong.call(Method::GET, "/jobs", None).await.status(), 401);
}
