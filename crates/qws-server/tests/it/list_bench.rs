//! Benchmark: listing jobs of a workspace that holds 100,000, the way the data plane did it
//! before (load up to 100,000 rows, parse every document, filter and sort in memory, then
//! page) and the way it does now (one SQL query over indexed list columns, one page read).
//!
//! Not a test (no timing is asserted); run it with
//! `CARGO_INCREMENTAL=0 cargo test -p qws-server --test it list_bench -- --ignored --nocapture`
//! (add `QWS_TEST_DATABASE=postgres` to measure on a PostgreSQL cluster the test starts).

use qws_server::planes::dataplane::jobs::{list_spec, select};
use qws_server::planes::dataplane::{items, ListQuery, MAX_LISTED};
use qws_store::jobs::{ItemRow, JobStore};
use qws_store::listing::Scope;
use serde_json::json;
use std::time::{Duration, Instant};

const JOBS: usize = 100_000;
const TARGETS: [&str; 4] = [
    "ionq.simulator",
    "quantinuum.sim.h1-1e",
    "rigetti.sim.qvm",
    "ionq.qpu.aria-1",
];
const STATUSES: [&str; 4] = ["Succeeded", "Succeeded", "Failed", "Cancelled"];

fn job(i: usize) -> ItemRow {
    // Spread over 100 days, oldest first, like a busy workspace.
    let t = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap()
        + time::Duration::seconds((i * 86) as i64);
    let id = format!("{:08x}-0000-4000-8000-{:012x}", i, i);
    let container = format!("job-{id}");
    let doc = json!({
        "name": format!("job-{i}"), "containerUri": format!("http://127.0.0.1:1/{container}"),
        "inputDataUri": format!("http://127.0.0.1:1/{container}/inputData"),
        "itemType": "Job", "target": TARGETS[i % 4], "inputDataFormat": "ionq.circuit.v1",
        "outputDataFormat": "ionq.quantum-results.v1", "inputParams": {"shots": 100},
        "metadata": {"qiskit": "True", "name": "bell", "num_qubits": "2", "meas_map": "[0, 1]"},
        "id": id, "jobType": "QuantumComputing", "priority": "Standard", "tags": [],
        "providerId": TARGETS[i % 4].split('.').next().unwrap(),
        "outputDataUri": format!("http://127.0.0.1:1/{container}/outputData"),
        "creationTime": qws_core::time_fmt::arm_precise(t), "createdBy": "PrimaryKey",
        "createdByType": "Key", "beginExecutionTime": qws_core::time_fmt::arm_precise(t),
        "endExecutionTime": qws_core::time_fmt::arm_precise(t), "cancellationTime": null,
        "costEstimate": null, "isCancelling": false, "errorData": null,
        "status": STATUSES[i % 4]
    });
    ItemRow {
        workspace_uid: "bench-ws".into(),
        id,
        item_type: "Job".into(),
        session_id: None,
        status: STATUSES[i % 4].into(),
        created_at: t.unix_timestamp_nanos() as i64,
        doc: doc.to_string(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
#[ignore = "benchmark; run with --ignored --nocapture"]
fn list_100k_jobs_before_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let (crypto, _) = qws_store::crypto::Crypto::load_or_create(dir.path()).unwrap();
    // SQLite in the temp dir, or with QWS_TEST_DATABASE=postgres a database of the test cluster.
    let target = qws_store::db::test_cluster::target_for_dir(dir.path());
    let _store = qws_store::Store::open_target(&target, crypto).unwrap();
    let js = JobStore::open_target(&target).unwrap();
    let start = Instant::now();
    for chunk in (0..JOBS).collect::<Vec<_>>().chunks(10_000) {
        let rows: Vec<ItemRow> = chunk.iter().map(|&i| job(i)).collect();
        js.insert_items(&rows).unwrap();
    }
    println!("inserted {JOBS} jobs in {:.1?}", start.elapsed());

    let cases: [(&str, Option<&str>, Option<&str>, usize); 5] = [
        ("first page, no filter", None, None, 0),
        (
            "azure-quantum list_jobs(created_after, target)",
            Some("CreationTime ge 2026-08-01 and (Target eq 'ionq.simulator')"),
            Some("CreationTime desc"),
            0,
        ),
        (
            "State eq 'Failed', newest first",
            Some("State eq 'Failed'"),
            Some("CreationTime desc"),
            0,
        ),
        (
            "startswith(Name, 'job-9999')",
            Some("startswith(Name, 'job-9999')"),
            None,
            0,
        ),
        (
            "page at skip 50000, newest first",
            None,
            Some("CreationTime desc"),
            50_000,
        ),
    ];
    println!("| query | before (median of 3) | after (median of 5) | rows |");
    println!("|---|---|---|---|");
    for (label, filter, orderby, skip) in cases {
        let q = ListQuery {
            api_version: None,
            filter: filter.map(str::to_string),
            orderby: orderby.map(str::to_string),
            skip,
            top: 100,
        };
        let mut before = Vec::new();
        let mut after = Vec::new();
        let mut sql_only = Vec::new();
        let mut want = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            let rows = js
                .list_items("bench-ws", Some("Job"), None, MAX_LISTED)
                .unwrap();
            let docs = select(rows.iter().map(items::doc_of).collect(), &q).unwrap();
            let page: Vec<_> = docs.into_iter().skip(q.skip).take(q.top).collect();
            before.push(t.elapsed());
            want = page.iter().map(|d| d["id"].clone()).collect();
        }
        let mut got = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let spec = list_spec(Scope::Jobs, &q).unwrap();
            let rows = js.list_page("bench-ws", &spec).unwrap();
            sql_only.push(t.elapsed());
            let page: Vec<_> = rows.iter().take(q.top).map(items::doc_of).collect();
            after.push(t.elapsed());
            got = page.iter().map(|d| d["id"].clone()).collect();
        }
        assert_eq!(got, want, "{label}");
        let counts = (want.len(), got.len());
        println!(
            "| {label} | {:.1?} | {:.1?} (query {:.1?}) | {} |",
            median(before),
            median(after),
            median(sql_only),
            counts.1
        );
    }
}
