//! `qws workspace webhook add|list|deliveries|remove` and `qws audit list` against a real
//! `qws serve` whose audit log rotates after a few lines, and a backup that carries the rotated
//! files.

use crate::common::cli::Server;

#[test]
fn webhooks_and_the_activity_log_from_the_cli() {
    let server = Server::start(&[
        "--audit-max-size",
        "1500",
        "--audit-keep",
        "50",
        "--webhook-allow-host",
        "hooks.example.test",
    ]);
    let login = server.login();
    assert!(login.status.success(), "{login:?}");
    let (rg, ws) = (server.get("resourceGroup"), server.get("workspaceName"));
    let target = ["-g", rg.as_str(), "-w", ws.as_str()];
    let with = |head: &[&'static str], tail: &[&str]| -> Vec<String> {
        head.iter()
            .map(|s| s.to_string())
            .chain(target.iter().map(|s| s.to_string()))
            .chain(tail.iter().map(|s| s.to_string()))
            .collect()
    };
    let run_json = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        server.json(&a)
    };
    let run_fails = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        server.fails(&a)
    };

    let added = run_json(with(
        &["workspace", "webhook", "add"],
        &[
            "--name",
            "local",
            "--url",
            "http://127.0.0.1:9/hook",
            "-o",
            "json",
        ],
    ));
    assert!(added["properties"]["secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    // An allowed host is accepted, any other refused with the server's reason.
    run_json(with(
        &["workspace", "webhook", "add"],
        &[
            "--name",
            "allowed",
            "--url",
            "https://hooks.example.test/in",
            "-o",
            "json",
        ],
    ));
    let err = run_fails(with(
        &["workspace", "webhook", "add"],
        &["--name", "other", "--url", "https://example.org/in"],
    ));
    assert!(err.contains("WebhookUrlNotAllowed"), "{err}");

    let listed = run_json(with(&["workspace", "webhook", "list"], &["-o", "json"]));
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["allowed", "local"]);
    assert!(!listed.to_string().contains("whsec_"));
    // `-o tsv`: the chosen columns, a line per webhook, no header.
    let out = server.run(
        &with(&["workspace", "webhook", "list"], &["-o", "tsv"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let tsv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = tsv.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{tsv}");
    assert_eq!(rows[1][..2], ["local", "http://127.0.0.1:9/hook"], "{tsv}");
    assert_eq!(rows[1].len(), 4, "{tsv}");
    let deliveries = run_json(with(
        &["workspace", "webhook", "deliveries"],
        &["--name", "local", "-o", "json"],
    ));
    assert_eq!(deliveries, serde_json::json!([]));

    // Enough audited operations to rotate the log a few times.
    for _ in 0..10 {
        let out = server.run(
            &with(&["workspace", "keys", "list"], &["-o", "json"])
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        assert!(out.status.success(), "{out:?}");
    }
    let out = server.run(
        &with(&["workspace", "webhook", "remove"], &["--name", "local"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(out.status.success(), "{out:?}");

    let events = run_json(with(
        &["audit", "list"],
        &[
            "--operation",
            "Microsoft.Quantum/Workspaces/webhooks/write",
            "-o",
            "json",
        ],
    ));
    assert_eq!(events.as_array().unwrap().len(), 2, "{events}");
    let keys = run_json(with(
        &["audit", "list"],
        &["--operation", "listKeys", "--max-events", "7", "-o", "json"],
    ));
    assert_eq!(keys.as_array().unwrap().len(), 7, "{keys}");
    let caller = keys[0]["caller"].as_str().unwrap().to_string();
    let all = run_json(with(
        &["audit", "list"],
        &[
            "--caller",
            &caller,
            "--start-time",
            "2020-01-01T00:00:00Z",
            "-o",
            "json",
        ],
    ));
    let ops: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["operationName"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops[0], "Microsoft.Quantum/Workspaces/webhooks/delete",
        "{ops:?}"
    );
    assert_eq!(ops.iter().filter(|o| **o == "listKeys").count(), 10);
    let none = run_json(with(
        &["audit", "list"],
        &["--end-time", "2020-01-01T00:00:00Z", "-o", "json"],
    ));
    assert_eq!(none, serde_json::json!([]));
    let out = server.run(
        &with(&["audit", "list"], &["--operation", "listKeys"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("Time"), "{table}");
    assert!(table.contains("listKeys"));

    // The log rotated; a backup carries every file, restored as it was.
    let data = server.data_dir.path();
    assert!(data.join("audit.log.2").is_file(), "the audit log rotated");
    if crate::common::skip_on_postgres(
        "the rest: qws backup copies data directories whose database is SQLite",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("b.tar");
    let out = server.run(&[
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        archive.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let restored = dir.path().join("restored");
    let out = server.run(&[
        "restore",
        archive.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    for n in 1..=2 {
        let name = format!("audit.log.{n}");
        assert_eq!(
            std::fs::read(restored.join(&name)).unwrap(),
            std::fs::read(data.join(&name)).unwrap(),
            "{name}"
        );
    }
}
