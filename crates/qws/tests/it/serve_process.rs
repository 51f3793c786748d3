//! `qws serve` as a process: SIGTERM stops it gracefully with exit status 0, a non-loopback
//! `--listen` is refused unless allowed, `--blob-public-url` is what SAS URIs carry and a job
//! submitted through them runs, and `qws job cancel` cancels a running job.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_stops_the_server_gracefully_with_status_0_and_sets_the_running_job_aside() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Serve::start(dir.path(), &["--workers", "1"]);
    let ws = Ws::new(dir.path());
    ws.submit(&s, "long", &endless_circuit());
    ws.wait_for(&s, "long", "Executing", |st| st == "Executing");

    let started = Instant::now();
    let status = s.terminate();
    assert_eq!(status.code(), Some(0), "{status:?}");
    // Graceful means the running simulation was stopped, not waited for (minutes).
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    // The listener is closed.
    assert!(ws
        .http
        .get(format!("{}/", s.http))
        .timeout(Duration::from_secs(5))
        .send()
        .is_err());

    // The job was set aside, not failed: the next start runs it again.
    let s = Serve::start(dir.path(), &["--workers", "1"]);
    let job = ws.wait_for(&s, "long", "Executing again", |st| st == "Executing");
    assert!(job["errorData"].is_null(), "{job}");
}

#[test]
fn a_non_loopback_listen_address_is_refused_without_the_flag() {
    // Only the refusal is tested here: tests keep all traffic on loopback, so they never bind
    // a non-loopback address, even with --allow-non-loopback.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(QWS)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "0.0.0.0:0", "--tls-listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_output(out);
    assert_eq!(out.0.code(), Some(1), "{out:?}");
    assert!(
        out.1.contains("refusing to bind --listen 0.0.0.0:0")
            && out.1.contains("--allow-non-loopback"),
        "{}",
        out.1
    );
}

fn wait_output(mut child: Child) -> (std::process::ExitStatus, String) {
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("qws did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

#[test]
fn sas_uris_carry_the_blob_public_url_and_a_job_runs_through_them() {
    // The public URL names this server under a host spelling the default never uses
    // (127.0.0.1 rather than 127.1), on a port chosen before the start.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let public = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(QWS)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--tls-listen",
            "127.0.0.1:0",
        ])
        .args(["--blob-public-url", &format!("{public}/")])
        .args(database_args(dir.path()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let http = loop {
        let line = lines.next().expect("qws serve exited").unwrap();
        if let Some(rest) = line.strip_prefix("qws listening on ") {
            break rest.split(' ').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let s = Serve { child, http };
    let ws = Ws::new(dir.path());
    let sas = ws.submit(&s, "bell", BELL);
    assert!(sas.starts_with(&format!("{public}/")), "{sas}");
    let job = ws.wait_for(&s, "bell", "a final state", |st| {
        matches!(st, "Succeeded" | "Failed")
    });
    assert_eq!(job["status"], "Succeeded", "{job}");
    let out = job["outputDataUri"].as_str().unwrap();
    assert!(out.starts_with(&format!("{public}/")), "{out}");
    let doc: Value = ws.http.get(out).send().unwrap().json().unwrap();
    let mut keys: Vec<&String> = doc["histogram"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["0", "3"], "{doc}");
}

#[test]
fn qws_job_cancel_cancels_a_running_job() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), &["--workers", "1"]);
    let ws = Ws::new(dir.path());
    ws.submit(&s, "long", &endless_circuit());
    ws.wait_for(&s, "long", "Executing", |st| st == "Executing");
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(QWS)
        .args([
            "job",
            "cancel",
            "-j",
            "long",
            "-o",
            "json",
            "--connection-string",
        ])
        .arg(&ws.cs)
        .arg("--ca-file")
        .arg(&ws.ca_file)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env_remove("AZURE_QUANTUM_CONNECTION_STRING")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}: {stdout} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_str(&stdout).unwrap();
    let shown = if shown.is_array() {
        shown[0].clone()
    } else {
        shown
    };
    assert_eq!(shown["id"], "long", "{shown}");
    assert_eq!(shown["status"], "Cancelled", "{shown}");
    let job = ws.call(&s, reqwest::Method::GET, "/jobs/long", None);
    assert_eq!(job["status"], "Cancelled", "{job}");
    assert!(job["cancellationTime"].is_string(), "{job}");
}

#[test]
fn with_the_flag_a_non_loopback_listen_address_is_bound_and_serves() {
    // 0.0.0.0 covers loopback too, so the test still only talks to 127.0.0.1.
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(
        dir.path(),
        &["--listen", "0.0.0.0:0", "--allow-non-loopback"],
    );
    let port = s.http.rsplit(':').next().unwrap().trim_end_matches('/');
    let ws = Ws::new(dir.path());
    let r = ws
        .http
        .get(format!(
            "http://127.0.0.1:{port}{}/providerStatus?api-version={DV}",
            ws.base
        ))
        .header("x-ms-quantum-api-key", &ws.key)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("bootstrap.json")).unwrap())
            .unwrap();
    assert!(
        b["httpUrl"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{port}")),
        "{b}"
    );
}

#[test]
fn a_shared_blob_directory_holds_the_job_data() {
    let dir = tempfile::tempdir().unwrap();
    let shared = tempfile::tempdir().unwrap();
    let backend = format!("dir:{}", shared.path().display());
    let s = Serve::start(dir.path(), &["--blob-backend", &backend]);
    let ws = Ws::new(dir.path());
    ws.submit(&s, "shared", BELL);
    let job = ws.wait_for(&s, "shared", "a final state", |st| {
        matches!(st, "Succeeded" | "Failed")
    });
    assert_eq!(job["status"], "Succeeded", "{job}");
    // Input and output are blob files of the job's container under the shared directory
    // (qws-<tenant>/<namespace>/job-shared/), and none under the data directory.
    let subdirs = |p: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(p)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect()
    };
    let deployments = subdirs(shared.path());
    assert_eq!(deployments.len(), 1, "{deployments:?}");
    let containers: Vec<std::path::PathBuf> = subdirs(&deployments[0])
        .into_iter()
        .map(|ns| ns.join("job-shared"))
        .filter(|c| c.is_dir())
        .collect();
    assert_eq!(containers.len(), 1, "{containers:?}");
    let blobs = std::fs::read_dir(&containers[0])
        .unwrap()
        .flatten()
        .filter(|f| f.file_name().to_string_lossy().ends_with(".blob"))
        .count();
    assert_eq!(blobs, 2, "inputData and outputData");
    let local = dir.path().join("blobs");
    assert!(
        !local.exists() || std::fs::read_dir(&local).unwrap().next().is_none(),
        "the data directory holds no blob data"
    );
}

#[test]
fn blob_backend_choices_are_checked_before_the_start() {
    let key = "c2VjcmV0LWtleQ==";
    let cs = format!("AccountName=acct1;AccountKey={key};BlobEndpoint=ftp://x");
    for (args, env, expect) in [
        (
            vec!["--blob-backend", "s3"],
            None,
            "unknown blob backend 's3'",
        ),
        (
            vec!["--blob-backend", "azure"],
            None,
            "needs a storage connection string",
        ),
        (
            vec!["--blob-backend", "azure"],
            Some(cs.as_str()),
            "BlobEndpoint of the storage connection string",
        ),
        (
            vec!["--blob-backend", "local"],
            Some(cs.as_str()),
            "only used with --blob-backend azure",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(QWS);
        cmd.args(["serve", "--data-dir"])
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
            .args(&args)
            .env_remove("QWS_BLOB_CONNECTION_STRING")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(cs) = env {
            cmd.env("QWS_BLOB_CONNECTION_STRING", cs);
        }
        let (status, err) = wait_output(cmd.spawn().unwrap());
        assert_eq!(status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
        assert!(!err.contains(key), "the key leaked: {err}");
    }
}
