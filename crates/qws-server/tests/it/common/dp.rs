//! The data plane of one workspace, driven with its API key over plain HTTP.

use super::{TestServer, WAIT_DEADLINE};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

pub use super::programs::{endless_circuit, BELL};

pub const DV: &str = "2026-01-15-preview";

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
        Dp::with_key(t, rg, ws, "primaryKey").await
    }

    /// The data plane of a workspace, with the key in slot `which` of its listKeys answer
    /// (`primaryKey` or `secondaryKey`).
    pub async fn with_key(t: &'a TestServer, rg: &str, ws: &str, which: &str) -> Dp<'a> {
        let keys = t.list_keys(rg, ws).await;
        let key = keys[which]["key"]
            .as_str()
            .or_else(|| keys[which].as_str())
            .unwrap_or_else(|| panic!("no {which} in {keys}"))
            .to_string();
        Dp {
            t,
            base: format!("{}{}", t.http_url(), t.ws_path(rg, ws)),
            key,
        }
    }

    /// A data-plane request with the key; `path` may carry a query, api-version is appended.
    pub async fn call(&self, m: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut r = self
            .t
            .http
            .request(m, format!("{}{path}{sep}api-version={DV}", self.base))
            .header("x-ms-quantum-api-key", &self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().await.unwrap()
    }

    pub async fn sas_uri(&self, body: Value) -> reqwest::Response {
        self.call(Method::POST, "/storage/sasUri", Some(body)).await
    }

    /// A container SAS URL for `name`.
    pub async fn container(&self, name: &str) -> String {
        let r = self.sas_uri(json!({"containerName": name})).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["sasUri"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// PUTs `data` as block blob `blob` into the container of the SAS URL `sas`.
    pub async fn upload(&self, sas: &str, blob: &str, data: &str) -> reqwest::Response {
        let (base, q) = sas.split_once('?').unwrap();
        self.t
            .http
            .put(format!("{base}/{blob}?{q}"))
            .header("x-ms-blob-type", "BlockBlob")
            .body(data.to_string())
            .send()
            .await
            .unwrap()
    }

    pub async fn get_job(&self, id: &str) -> reqwest::Response {
        self.call(Method::GET, &format!("/jobs/{id}"), None).await
    }

    pub async fn job(&self, id: &str) -> Value {
        self.get_job(id).await.json().await.unwrap()
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
        let sas = self.container(&format!("job-{id}")).await;
        let r = self.upload(&sas, "inputData", input).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let (base, _) = sas.split_once('?').unwrap();
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
        let sas = self.container(&format!("job-{id}")).await;
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

    /// Polls until the job is in a final state (at most [`WAIT_DEADLINE`]).
    pub async fn wait(&self, id: &str) -> Value {
        self.wait_until(id, "a final state", |s| {
            matches!(s, "Succeeded" | "Failed" | "Cancelled")
        })
        .await
    }

    /// Polls until `done(status)` holds; on timeout, fails naming `what` and the last document.
    pub async fn wait_until(&self, id: &str, what: &str, done: impl Fn(&str) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT_DEADLINE;
        loop {
            let v = self.job(id).await;
            if done(v["status"].as_str().unwrap_or("")) {
                return v;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!("job {id} did not reach {what} within {WAIT_DEADLINE:?}; last seen: {v}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
