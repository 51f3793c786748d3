//! A job during which the process dies does not take the server down at every start: the
//! scheduler counts attempts on disk before it runs a job, re-queues a job interrupted by a
//! crash while attempts remain, and then fails it with `errorData` naming the crash. The crash
//! here is real: `qws serve` runs as a child process and is killed with SIGKILL while the job
//! executes.

use crate::common::*;

/// Every start is the same node again (one node id): a restarted node takes back at once the
/// leases its previous process held. (Without it each start would be a new node on a new port,
/// and on a shared database such as PostgreSQL it would wait for the dead node's lease to
/// expire.)
const FLAGS: &[&str] = &[
    "--workers",
    "1",
    "--max-job-attempts",
    "2",
    "--node-id",
    "poison-node",
];

#[test]
fn a_job_the_process_dies_on_is_retried_then_failed_and_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let s = Serve::start(dir.path(), FLAGS);
    let ws = Ws::new(dir.path());
    ws.submit(&s, "poison", &endless_circuit());
    ws.wait_for(&s, "poison", "Executing", |st| st == "Executing");
    s.crash();

    // Attempt 2 of 2: re-queued and started again.
    let s = Serve::start(dir.path(), FLAGS);
    let job = ws.wait_for(&s, "poison", "a start", |st| st != "Waiting");
    assert_eq!(job["status"], "Executing", "{job}");
    s.crash();

    // Both attempts ended with the process dying: the job fails at start instead of running.
    let s = Serve::start(dir.path(), FLAGS);
    let job = ws.call(&s, reqwest::Method::GET, "/jobs/poison", None);
    assert_eq!(job["status"], "Failed", "{job}");
    assert_eq!(job["errorData"]["code"], "ExecutionInterrupted", "{job}");
    let msg = job["errorData"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("stopped 2 times"), "{msg}");

    ws.submit(&s, "bell", BELL);
    let job = ws.wait_for(&s, "bell", "a final state", |st| {
        st != "Waiting" && st != "Executing"
    });
    assert_eq!(job["status"], "Succeeded", "{job}");
}
