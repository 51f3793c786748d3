//! `qws serve --database postgres://…` end to end, against a PostgreSQL cluster the test starts
//! (see `qws_store::db::test_cluster`): a job round trip, a second node on the same database
//! with the same master key sees it, and a node with another master key refuses to start;
//! `qws backup` of such a node's data directory refuses and names PostgreSQL's tools.
//! Needs the PostgreSQL server binaries (`scripts/test` installs them); `QWS_SKIP_POSTGRES=1`
//! leaves these tests out on a machine without them.

use crate::common::*;
use qws_store::db::test_cluster::TestCluster;
use std::process::{Command, Stdio};

fn skipped() -> bool {
    std::env::var_os("QWS_SKIP_POSTGRES").is_some()
}

const KEY_A: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const KEY_B: &str = "ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICA=";

#[test]
fn a_job_round_trips_on_postgres_and_every_node_must_share_the_master_key() {
    if skipped() {
        return;
    }
    let url = TestCluster::shared().fresh_database();
    let a = tempfile::tempdir().unwrap();
    let node_a = Serve::start_with_env(
        a.path(),
        &["--workers", "1"],
        &[("QWS_DATABASE_URL", &url), ("QWS_MASTER_KEY", KEY_A)],
    );
    // Nothing of the metadata is in the data directory.
    assert!(!a.path().join(qws_store::DB_FILE).exists());
    let ws = Ws::new(a.path());
    ws.submit(&node_a, "pg-1", BELL);
    let job = ws.wait_for(&node_a, "pg-1", "Succeeded", |s| {
        matches!(s, "Succeeded" | "Failed" | "Cancelled")
    });
    assert_eq!(job["status"], "Succeeded", "{job}");

    // A second node on the same database and key answers for the same workspace and job,
    // with the key node A's bootstrap printed.
    let b = tempfile::tempdir().unwrap();
    let node_b = Serve::start_with_env(
        b.path(),
        &["--database", &url],
        &[("QWS_MASTER_KEY", KEY_A)],
    );
    let seen = ws.call(&node_b, reqwest::Method::GET, "/jobs/pg-1", None);
    assert_eq!(seen["status"], "Succeeded", "{seen}");
    assert_eq!(seen["id"], "pg-1");
    drop(node_b);
    drop(node_a);

    // A node with another master key refuses to start, and says why.
    let c = tempfile::tempdir().unwrap();
    let out = Command::new(QWS)
        .args(["serve", "--data-dir"])
        .arg(c.path())
        .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
        .args(["--database", &url])
        .env("QWS_MASTER_KEY", KEY_B)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("the master key does not match this database"),
        "{stderr}"
    );
    // The URL's credentials part is not echoed.
    assert!(!stderr.contains(&url), "{stderr}");
}

#[test]
fn a_database_url_that_is_not_postgres_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(QWS)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
        .args(["--database", "mysql://u:secretpw@127.0.0.1/x"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("postgres://"), "{stderr}");
    assert!(!stderr.contains("secretpw"), "{stderr}");
}

#[test]
fn backup_of_a_data_directory_whose_database_is_postgres_refuses_and_says_why() {
    if skipped() {
        return;
    }
    let url = TestCluster::shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = Serve::start(&data, &["--database", &url]);
    let archive = dir.path().join("snapshot.tar");
    let out = Command::new(QWS)
        .args(["backup", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&archive)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("keeps its database in PostgreSQL") && stderr.contains("pg_dump"),
        "{stderr}"
    );
    assert!(!archive.exists());
    drop(node);

    // A directory no server ever ran in is still just "not a qws data directory".
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(QWS)
        .args(["backup", "--data-dir"])
        .arg(empty.path())
        .arg("--out")
        .arg(&archive)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a qws data directory"), "{stderr}");
}
