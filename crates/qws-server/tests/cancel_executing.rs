//! Cancelling an executing job stops its simulation: with a single scheduler worker, a Bell job
//! submitted after cancelling a very long job still completes, which it could not if the
//! cancelled simulation kept the worker (and its memory reservation) until the end.

mod common;
use common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const DV: &str = "2026-01-15-preview";
const BELL: &str =
    r#"{"qubits":2,"circuit":[{"gate":"h","target":0},{"gate":"cnot","control":0,"target":1}]}"#;

struct Dp<'a> {
    t: &'a TestServer,
    base: String,
    key: String,
}

impl<'a> Dp<'a> {
    async fn new(t: &'a TestServer) -> Dp<'a> {
        let keys = t.list_keys("qws", "dev").await;
        let key = keys["primaryKey"]["key"]
            .as_str()
            .or_else(|| keys["primaryKey"].as_str())
            .unwrap_or_else(|| panic!("no primary key in {keys}"))
            .to_string();
        Dp {
            t,
            base: format!("{}{}", t.http_url(), t.ws_path("qws", "dev")),
            key,
        }
    }

    async fn call(&self, m: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut r = self
            .t
            .http
            .request(m, format!("{}{path}?api-version={DV}", self.base))
            .header("x-ms-quantum-api-key", &self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    async fn job(&self, id: &str) -> Value {
        self.call(Method::GET, &format!("/jobs/{id}"), None)
            .await
            .json()
            .await
            .unwrap()
    }

    async fn submit(&self, id: &str, input: &str) {
        let r = self
            .call(
                Method::POST,
                "/storage/sasUri",
                Some(json!({"containerName": format!("job-{id}")})),
            )
            .await;
        assert_eq!(r.status(), 200);
        let sas = r.json::<Value>().await.unwrap()["sasUri"]
            .as_str()
            .unwrap()
            .to_string();
        let (base, q) = sas.split_once('?').unwrap();
        let r = self
            .t
            .http
            .put(format!("{base}/inputData?{q}"))
            .header("x-ms-blob-type", "BlockBlob")
            .body(input.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let r = self
            .call(
                Method::PUT,
                &format!("/jobs/{id}"),
                Some(json!({"name": id, "containerUri": sas,
                    "inputDataFormat": "ionq.circuit.v1", "outputDataFormat": "ionq.quantum-results.v1",
                    "inputDataUri": format!("{base}/inputData"), "target": "ionq.simulator",
                    "inputParams": {"shots": 10}, "itemType": "Job"})),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// HTTP status of a GET of the job's output blob through a container SAS.
    async fn output_status(&self, id: &str) -> u16 {
        let r = self
            .call(
                Method::POST,
                "/storage/sasUri",
                Some(json!({"containerName": format!("job-{id}")})),
            )
            .await;
        assert_eq!(r.status(), 200);
        let sas = r.json::<Value>().await.unwrap()["sasUri"]
            .as_str()
            .unwrap()
            .to_string();
        let (base, q) = sas.split_once('?').unwrap();
        let r = self
            .t
            .http
            .get(format!("{base}/outputData?{q}"))
            .send()
            .await
            .unwrap();
        r.status().as_u16()
    }

    /// Polls until `done(status)` holds (about `secs` seconds at most).
    async fn wait_for(&self, id: &str, secs: u64, done: impl Fn(&str) -> bool) -> Value {
        for _ in 0..secs * 10 {
            let v = self.job(id).await;
            if done(v["status"].as_str().unwrap_or("")) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "job {id} did not reach the expected status: {}",
            self.job(id).await
        );
    }
}

/// 22 qubits and 5000 layers of gates: minutes of simulation, far beyond the test's bounds.
fn endless_circuit() -> String {
    let mut gates = Vec::new();
    for layer in 0..5000 {
        for q in 0..22 {
            gates.push(json!({"gate": if layer % 2 == 0 { "h" } else { "t" }, "target": q}));
        }
        for q in 0..21 {
            gates.push(json!({"gate": "cnot", "control": q, "target": q + 1}));
        }
    }
    json!({"qubits": 22, "circuit": gates}).to_string()
}

#[tokio::test]
async fn cancelling_an_executing_job_frees_its_worker() {
    let t = TestServer::start_with(|c| {
        c.scheduler = qws_server::scheduler::SchedulerConfig::with_workers(1)
    })
    .await;
    let dp = Dp::new(&t).await;
    dp.submit("long", &endless_circuit()).await;
    dp.wait_for("long", 120, |s| s != "Waiting").await;
    let r = dp.call(Method::POST, "/jobs/long:cancel", None).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // The only worker must come free for this job to run.
    dp.submit("bell", BELL).await;
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
