//! Shared helpers for the tests that run `qws serve` as a child process: start it on a data
//! dir and wait for its listening line, stop it with SIGTERM or SIGKILL, and drive one
//! workspace's data plane with its primary key.
#![allow(dead_code)]

pub mod cli;
// The server's tests submit the same programs; one file serves both.
#[path = "../../../../qws-server/tests/it/common/programs.rs"]
mod programs;
pub use programs::{endless_circuit, BELL};

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const QWS: &str = env!("CARGO_BIN_EXE_qws");
pub const DV: &str = "2026-01-15-preview";
/// One generous bound for every wait: the machine is shared with other builds.
pub const DEADLINE: Duration = Duration::from_secs(180);

/// Whether this run keeps every server's database in PostgreSQL (`QWS_TEST_DATABASE=postgres`,
/// the test command's second run): the data directories then have no `qws.db`.
pub fn on_postgres() -> bool {
    qws_store::db::test_cluster::wanted()
}

/// The `qws serve` arguments that choose the database of the server on data directory `dir`:
/// none on SQLite (its file in `dir`), and with `QWS_TEST_DATABASE=postgres` `--database` with
/// the test cluster's database that stands for `dir`, so a restart on the same directory (or
/// several nodes sharing it) meets the same data.
pub fn database_args(dir: &Path) -> Vec<String> {
    match qws_store::db::test_cluster::target_for_dir(dir) {
        qws_store::db::DbTarget::Postgres(url) => vec!["--database".into(), url],
        qws_store::db::DbTarget::Sqlite(_) => Vec::new(),
    }
}

/// Prints why a test does nothing on PostgreSQL and says whether it should return.
pub fn skip_on_postgres(why: &str) -> bool {
    if on_postgres() {
        eprintln!("skipped on PostgreSQL: {why}");
    }
    on_postgres()
}

pub struct Serve {
    pub child: Child,
    pub http: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `qws serve` on the data dir with `extra` flags and waits for its listening line.
    /// The database is the data directory's ([`database_args`]) unless `extra` or `env` name one.
    pub fn start(dir: &Path, extra: &[&str]) -> Serve {
        Self::start_with_env(dir, extra, &[])
    }

    /// [`Serve::start`] with extra environment variables.
    pub fn start_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Serve {
        let names_database =
            extra.contains(&"--database") || env.iter().any(|(k, _)| *k == "QWS_DATABASE_URL");
        let database = if names_database {
            Vec::new()
        } else {
            database_args(dir)
        };
        let mut child = Command::new(QWS)
            .args(["serve", "--data-dir"])
            .arg(dir)
            .args(if extra.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
            .args(["--tls-listen", "127.0.0.1:0"])
            .args(&database)
            .args(extra)
            .envs(env.iter().copied())
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
            .recv_timeout(DEADLINE)
            .expect("qws serve printed its listening line");
        Serve { child, http }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "qws serve ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub struct Ws {
    pub base: String,
    pub key: String,
    pub cs: String,
    pub ca_file: std::path::PathBuf,
    pub http: reqwest::blocking::Client,
}

impl Ws {
    pub fn new(dir: &Path) -> Ws {
        let b: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("bootstrap.json")).unwrap())
                .unwrap();
        let cs = b["primaryConnectionString"].as_str().unwrap().to_string();
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
        let ca = Path::new(b["caFile"].as_str().unwrap());
        Ws {
            base,
            key,
            cs,
            ca_file: dir.join(ca),
            http: reqwest::blocking::Client::new(),
        }
    }

    pub fn call(&self, s: &Serve, m: reqwest::Method, path: &str, body: Option<Value>) -> Value {
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

    pub fn sas(&self, s: &Serve, container: &str) -> String {
        self.call(
            s,
            reqwest::Method::POST,
            "/storage/sasUri",
            Some(json!({ "containerName": container })),
        )["sasUri"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Uploads the program through the container SAS and submits it to ionq.simulator.
    pub fn submit(&self, s: &Serve, id: &str, program: &str) -> String {
        let sas = self.sas(s, &format!("job-{id}"));
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
        sas
    }

    pub fn wait_for(&self, s: &Serve, id: &str, what: &str, done: impl Fn(&str) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let job = self.call(s, reqwest::Method::GET, &format!("/jobs/{id}"), None);
            if done(job["status"].as_str().unwrap_or("")) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} did not reach {what}: {job}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
