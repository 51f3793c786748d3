//! The data plane of one workspace, driven with its API key over plain HTTP.

use super::TestServer;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

pub const DV: &str = "2026-01-15-preview";
pub const BELL: &str =
    r#"{"qubits":2,"circuit":[{"gate":"h","target":0},{"gate":"cnot","control":0,"target":1}]}"#;

pub struct Dp<'a> {
    pub t: &'a TestServer,
    pub base: String,
    pub key: String,
}

impl<'a> Dp<'a> {
    /// The data plane of workspace `dev` in group `qws`, with its primary key.
    pub async fn new(t: &'a TestServer) -> Dp<'a> {
        Dp::of(t, "qws", "dev").await
    }

    /// The data plane of a workspace, with its primary key.
    pub async fn of(t: &'a TestServer, rg: &str, ws: &str) -> Dp<'a> {
        let keys = t.list_keys(rg, ws).await;
        let key = keys["primaryKey"]["key"]
            .as_str()
            .or_else(|| keys["primaryKey"].as_str())
            .unwrap_or_else(|| panic!("no primary key in {keys}"))
            .to_string();
        Dp {
            t,
            base: format!("{}{}", t.http_url(), t.ws_path(rg, ws)),
            key,
        }
    }

    pub async fn call(&self, m: Method, path: &str, body: Option<Value>) -> reqwest::Response {
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

    pub async fn job(&self, id: &str) -> Value {
        self.call(Method::GET, &format!("/jobs/{id}"), None)
            .await
            .json()
            .await
            .unwrap()
    }

    /// Submits an IonQ JSON program to `ionq.simulator` with 10 shots.
    pub async fn submit(&self, id: &str, input: &str) {
        let r = self
            .submit_as(
                id,
                input,
                json!({"target": "ionq.simulator", "inputDataFormat": "ionq.circuit.v1",
                    "outputDataFormat": "ionq.quantum-results.v1", "inputParams": {"shots": 10}}),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Uploads `input` to the job's container and PUTs the job with `fields` (target, formats,
    /// inputParams) added; returns the PUT's response.
    pub async fn submit_as(&self, id: &str, input: &str, fields: Value) -> reqwest::Response {
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
        let mut job = json!({"name": id, "containerUri": sas,
            "inputDataUri": format!("{base}/inputData"), "itemType": "Job"});
        for (k, v) in fields.as_object().expect("fields is an object") {
            job[k] = v.clone();
        }
        self.call(Method::PUT, &format!("/jobs/{id}"), Some(job))
            .await
    }

    /// HTTP status of a GET of the job's output blob through a container SAS.
    pub async fn output_status(&self, id: &str) -> u16 {
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
    pub async fn wait_for(&self, id: &str, secs: u64, done: impl Fn(&str) -> bool) -> Value {
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
pub fn endless_circuit() -> String {
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
