//! `qws backup` while the server takes jobs, and `qws restore` into a new data directory: the
//! restored server has every job whose PUT was answered before the backup started, with its
//! input data. A damaged archive is refused and leaves nothing behind.
//!
//! A backup is of a data directory with its SQLite database; these tests skip on PostgreSQL,
//! where `qws backup` refuses and says so (`postgres_serve.rs`).

use crate::common::*;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

const SQLITE_ONLY: &str = "qws backup copies the SQLite database of a data directory";

fn qws(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(QWS).args(args).output().expect("run qws")
}

fn backup(data: &Path, out: &Path) -> Output {
    qws(&[
        "backup".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}

fn restore(archive: &Path, data: &Path) -> Output {
    qws(&[
        "restore".as_ref(),
        archive.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ])
}

fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(o: Output) -> String {
    assert!(
        !o.status.success(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The job's input data, read through a fresh SAS of `s`.
fn input_data(ws: &Ws, s: &Serve, id: &str) -> String {
    let sas = ws.sas(s, &format!("job-{id}"));
    let (container, q) = sas.split_once('?').unwrap();
    let r = ws
        .http
        .get(format!("{container}/inputData?{q}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "input data of {id}");
    r.text().unwrap()
}

#[test]
fn a_backup_under_load_restores_every_acknowledged_job_with_its_data() {
    if skip_on_postgres(SQLITE_ONLY) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let archive = dir.path().join("snapshot.tar.gz");
    let s = Serve::start(&data, &["--workers", "1"]);
    // A refused key: an audit record for the backup to carry.
    let ws = Ws::new(&data);
    let r = ws
        .http
        .get(format!("{}{}/jobs?api-version={DV}", s.http, ws.base))
        .header("x-ms-quantum-api-key", "not-a-key")
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    let acknowledged = Mutex::new(Vec::<String>::new());
    let stop = AtomicBool::new(false);
    let before_backup = std::thread::scope(|scope| {
        scope.spawn(|| {
            let ws = Ws::new(&data);
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let id = format!("load-{i}");
                ws.submit(&s, &id, BELL);
                acknowledged.lock().unwrap().push(id);
                i += 1;
            }
        });
        // Some jobs in before the backup, and the submitter still going while it runs.
        while acknowledged.lock().unwrap().len() < 20 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let before = acknowledged.lock().unwrap().clone();
        let out = ok(backup(&data, &archive));
        assert!(out.contains("master key is not in the backup"), "{out}");
        let after = acknowledged.lock().unwrap().len();
        while acknowledged.lock().unwrap().len() < after + 2 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        before
    });
    drop(s);

    let restored = dir.path().join("restored");
    ok(restore(&archive, &restored));
    assert!(
        !restored.join("master.key").exists(),
        "the master key is never in a backup"
    );
    let audit = std::fs::read_to_string(restored.join("audit.log")).unwrap();
    assert!(
        audit.contains("Unauthorized") && audit.ends_with('\n'),
        "the audit log is restored: {audit}"
    );
    assert!(std::fs::read_to_string(data.join("audit.log"))
        .unwrap()
        .starts_with(&audit));
    std::fs::copy(data.join("master.key"), restored.join("master.key")).unwrap();

    let s = Serve::start(&restored, &["--workers", "1"]);
    let ws = Ws::new(&restored);
    for id in &before_backup {
        let job = ws.call(&s, reqwest::Method::GET, &format!("/jobs/{id}"), None);
        assert_eq!(job["id"], id.as_str(), "{job}");
        assert_eq!(input_data(&ws, &s, id), BELL);
    }
}

#[test]
fn a_damaged_or_truncated_archive_is_refused_and_leaves_nothing() {
    if skip_on_postgres(SQLITE_ONLY) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let archive = dir.path().join("snapshot.tar");
    let s = Serve::start(&data, &[]);
    Ws::new(&data).submit(&s, "kept", BELL);
    ok(backup(&data, &archive));
    let err = fails(backup(&data, &archive));
    assert!(err.contains("already exists"), "{err}");

    let good = std::fs::read(&archive).unwrap();
    // The database is the first entry: its content starts after one 512-byte tar header.
    let mut flipped = good.clone();
    flipped[512 + 2000] ^= 0x55;
    let damaged = dir.path().join("damaged.tar");
    std::fs::write(&damaged, &flipped).unwrap();
    let target = dir.path().join("r1");
    let err = fails(restore(&damaged, &target));
    assert!(
        err.contains("damaged") && err.contains("qws.db does not match its SHA-256"),
        "{err}"
    );
    assert!(!target.exists(), "a refused restore leaves no directory");

    let truncated = dir.path().join("truncated.tar");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let err = fails(restore(&truncated, &target));
    assert!(err.contains("damaged"), "{err}");
    assert!(!target.exists());

    // Only into an empty directory.
    let err = fails(restore(&archive, &data));
    assert!(err.contains("not empty"), "{err}");

    ok(restore(&archive, &target));
    assert!(target.join("qws.db").is_file());
}
