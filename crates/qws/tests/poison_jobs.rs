//! A job during which the process dies does not take the server down at every start: the
//! scheduler counts attempts on disk before it runs a job, re-queues a job interrupted by a
//! crash while attempts remain, and then fails it with `errorData` naming the crash. The crash
//! here is real: `qws serve` runs as a child process and is killed with SIGKILL while the job
//! executes.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const QWS: &str = env!("CARGO_BIN_EXE_qws");
const DV: &str = "2026-01-15-preview";

struct Serve {
    child: Child,
    http: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `qws serve` on the data dir and waits for its `qws listening on` line.
    fn start(dir: &Path) -> Serve {
        let mut child = Command::new(QWS)
            .args(["serve", "--data-dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
            .args(["--workers", "1", "--max-job-attempts", "2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn qws serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("qws listening on ") {
                    let _ = tx.send(rest.split(' ').next().unwrap_or("").to_string());
                }
            }
        });
        let http = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("qws serve printed its listening line");
        Serve { child, http }
    }

    /// SIGKILL: no shutdown code runs.
    fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

struct Ws {
    base: String,
    key: String,
    http: reqwest::blocking::Client,
}

impl Ws {
    fn new(dir: &Path) -> Ws {
        let b: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("bootstrap.json")).unwrap())
                .unwrap();
        let cs = b["primaryConnectionString"].as_str().unwrap();
        let key = cs
            .split(';')
            .find_map(|p| p.strip_prefix("ApiKey="))
            .unwrap()
            .to_string();
        let base = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Quantum/workspaces/{}",
            b["subscriptionId"].as_str().unwrap(),
            b["resourceGroup"].as_str().unwrap(),
            b["workspaceName"].as_str().unwrap()
        );
        Ws {
            base,
            key,
            http: reqwest::blocking::Client::new(),
        }
    }

    fn call(&self, s: &Serve, m: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self
            .http
            .request(m, format!("{}{}{path}?api-version={DV}", s.http, self.base))
            .header("x-ms-quantum-api-key", &self.key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().unwrap()
    }

    fn submit(&self, s: &Serve, id: &str, program: &str) {
        let sas = self.call(
            s,
            reqwest::Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": format!("job-{id}")})),
        )["sasUri"]
            .as_str()
            .unwrap()
            .to_string();
        let (container, q) = sas.split_once('?').unwrap();
        let r = self
            .http
            .put(format!("{container}/inputData?{q}"))
            .header("x-ms-blob-type", "BlockBlob")
            .body(program.to_string())
            .send()
            .unwrap();
        assert_eq!(r.status(), 201);
        self.call(
            s,
            reqwest::Method::PUT,
            &format!("/jobs/{id}"),
            Some(
                json!({"containerUri": sas, "inputDataUri": format!("{container}/inputData"),
                "inputDataFormat": "ionq.circuit.v1", "outputDataFormat": "ionq.quantum-results.v1",
                "target": "ionq.simulator", "inputParams": {"shots": 10}, "itemType": "Job"}),
            ),
        );
    }

    fn wait_for(&self, s: &Serve, id: &str, done: impl Fn(&str) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let job = self.call(s, reqwest::Method::GET, &format!("/jobs/{id}"), None);
            if done(job["status"].as_str().unwrap_or("")) {
                return job;
            }
            assert!(Instant::now() < deadline, "job {id} stuck: {job}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// 22 qubits and thousands of layers: minutes of simulation, so the job is surely executing
/// when the process is killed.
fn endless() -> String {
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

#[test]
fn a_job_the_process_dies_on_is_retried_then_failed_and_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path());
    let ws = Ws::new(dir.path());
    ws.submit(&s, "poison", &endless());
    ws.wait_for(&s, "poison", |st| st == "Executing");
    s.crash();

    // Attempt 2 of 2: re-queued and started again.
    let s = Serve::start(dir.path());
    let job = ws.wait_for(&s, "poison", |st| st != "Waiting");
    assert_eq!(job["status"], "Executing", "{job}");
    s.crash();

    // Both attempts ended with the process dying: the job fails at start instead of running.
    let s = Serve::start(dir.path());
    let job = ws.call(&s, reqwest::Method::GET, "/jobs/poison", None);
    assert_eq!(job["status"], "Failed", "{job}");
    assert_eq!(job["errorData"]["code"], "ExecutionInterrupted", "{job}");
    let msg = job["errorData"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("stopped 2 times"), "{msg}");

    let bell = r#"{"qubits":2,"circuit":[{"gate":"h","target":0},{"gate":"cnot","control":0,"target":1}]}"#;
    ws.submit(&s, "bell", bell);
    let job = ws.wait_for(&s, "bell", |st| st != "Waiting" && st != "Executing");
    assert_eq!(job["status"], "Succeeded", "{job}");
}
