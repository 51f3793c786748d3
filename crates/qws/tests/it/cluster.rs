//! Several `qws serve` processes on one data directory (`--shared-data-dir`): one SQLite
//! database and one job-data directory, each node on its own ports. Jobs submitted through any
//! node run once; a worker killed with SIGKILL mid-job loses the job's lease and another node
//! runs it to its end; a key regenerated through one node is refused by the others.

use crate::common::*;
use reqwest::Method;
use std::path::Path;
use std::process::Command;

/// Short leases, so that a killed node's job is taken over within seconds.
const SHARED: &[&str] = &["--shared-data-dir", "--job-lease-secs", "2"];

fn node(dir: &Path, extra: &[&str]) -> Serve {
    let mut flags = SHARED.to_vec();
    flags.extend_from_slice(extra);
    Serve::start(dir, &flags)
}

fn status(ws: &Ws, s: &Serve, id: &str) -> String {
    ws.call(s, Method::GET, &format!("/jobs/{id}"), None)["status"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn terminal(st: &str) -> bool {
    matches!(st, "Succeeded" | "Failed" | "Cancelled")
}

fn get(url: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new().get(url).send().unwrap()
}

#[test]
fn jobs_through_any_node_run_once_and_a_killed_worker_s_job_ends_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let api = node(dir.path(), &["--role", "api"]);
    let ws = Ws::new(dir.path());
    let all = node(dir.path(), &["--workers", "1"]);
    // The worker that will be killed runs jobs without a time limit…
    let doomed = node(dir.path(), &["--role", "worker", "--workers", "1"]);

    // Probes answer on every node; a worker serves nothing else.
    for s in [&api, &all, &doomed] {
        assert_eq!(get(&format!("{}/healthz", s.http)).status(), 200);
        let ready = get(&format!("{}/readyz", s.http));
        assert_eq!(ready.status(), 200);
        let body: serde_json::Value = ready.json().unwrap();
        assert_eq!(body["checks"]["database"], "ok", "{body}");
    }
    let r = reqwest::blocking::Client::new()
        .get(format!("{}{}/jobs?api-version={DV}", doomed.http, ws.base))
        .header("x-ms-quantum-api-key", &ws.key)
        .send()
        .unwrap();
    assert_eq!(r.status(), 404, "a worker node serves no API");

    // Jobs submitted round-robin through the two API nodes all succeed, with an output, and
    // read the same through either node.
    let ids: Vec<String> = (0..8).map(|i| format!("rr-{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        ws.submit(if i % 2 == 0 { &api } else { &all }, id, BELL);
    }
    for id in &ids {
        let job = ws.wait_for(&api, id, "an end", terminal);
        assert_eq!(job["status"], "Succeeded", "{job}");
        assert_eq!(status(&ws, &all, id), "Succeeded");
        let sas = ws.sas(&all, &format!("job-{id}"));
        let (container, q) = sas.split_once('?').unwrap();
        let out = get(&format!("{container}/outputData?{q}"));
        assert_eq!(out.status(), 200, "{id} has its output");
    }

    // Only the doomed worker runs jobs now: the other node that runs jobs stops (gracefully).
    let mut all = all;
    assert!(all.terminate().success());
    drop(all);
    ws.submit(&api, "victim", &endless_circuit());
    ws.wait_for(&api, "victim", "Executing", |st| st == "Executing");
    doomed.crash();
    // …the worker that takes over stops it after 3 seconds, so the job ends there.
    let heir = node(
        dir.path(),
        &[
            "--role",
            "worker",
            "--workers",
            "1",
            "--target-max-execution-time",
            "ionq.simulator=3",
        ],
    );
    let job = ws.wait_for(&api, "victim", "an end", terminal);
    assert_eq!(job["status"], "Failed", "{job}");
    assert_eq!(
        job["errorData"]["code"], "ExecutionTimeLimitExceeded",
        "run again by the heir, to its end: {job}"
    );
    // One end: it stays so (the dead node's lease is gone, nobody runs it again).
    std::thread::sleep(std::time::Duration::from_secs(3));
    let again = ws.call(&api, Method::GET, "/jobs/victim", None);
    assert_eq!(again["status"], "Failed");
    assert_eq!(
        again["endExecutionTime"], job["endExecutionTime"],
        "{again}"
    );

    // And the heir runs new work too.
    ws.submit(&api, "after", BELL);
    assert_eq!(
        ws.wait_for(&api, "after", "an end", terminal)["status"],
        "Succeeded"
    );
    drop(heir);
}

#[test]
fn cancel_through_one_node_stops_the_job_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let api = node(dir.path(), &["--role", "api"]);
    let ws = Ws::new(dir.path());
    let _worker = node(dir.path(), &["--role", "worker", "--workers", "1"]);
    ws.submit(&api, "long", &endless_circuit());
    ws.wait_for(&api, "long", "Executing", |st| st == "Executing");
    let r = reqwest::blocking::Client::new()
        .post(format!(
            "{}{}/jobs/long:cancel?api-version={DV}",
            api.http, ws.base
        ))
        .header("x-ms-quantum-api-key", &ws.key)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(status(&ws, &api, "long"), "Cancelled");
    // The worker saw it (its simulation stopped and it is free): the next job runs.
    ws.submit(&api, "next", BELL);
    assert_eq!(
        ws.wait_for(&api, "next", "an end", terminal)["status"],
        "Succeeded"
    );
    assert_eq!(
        status(&ws, &api, "long"),
        "Cancelled",
        "no result replaced it"
    );
}

#[test]
fn a_key_regenerated_through_one_node_is_refused_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), &[]);
    let home = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        Command::new(QWS)
            .args(args)
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join(".config"))
            .env_remove("QWS_CLIENT_SECRET")
            .current_dir(home.path())
            .output()
            .unwrap()
    };
    // The CLI signs in through node A (bootstrap.json names the node that started last).
    let login = cli(&["login", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(login.status.success(), "{login:?}");
    let ws = Ws::new(dir.path());
    let b = node(dir.path(), &[]);
    let list = |s: &Serve| {
        reqwest::blocking::Client::new()
            .get(format!("{}{}/jobs?api-version={DV}", s.http, ws.base))
            .header("x-ms-quantum-api-key", &ws.key)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(list(&b), 200, "node B accepts the key (and has seen it)");
    let regen = cli(&["workspace", "keys", "regenerate", "--key-type", "Primary"]);
    assert!(regen.status.success(), "{regen:?}");
    assert_eq!(list(&a), 401, "node A refuses the old key");
    assert_eq!(
        list(&b),
        401,
        "node B refuses the old key on the next request"
    );
}
