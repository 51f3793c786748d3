//! Key usage: a data-plane request with the primary key records, within a few seconds, when and
//! from where the primary key was last used; the secondary shows no use; regenerating the
//! primary clears its usage. Seen through `qws workspace keys list` (listKeys).

use crate::common::cli::Server;
use crate::common::{DEADLINE, DV};
use serde_json::Value;
use std::time::{Duration, Instant};

fn keys(server: &Server) -> Value {
    server.json(&["workspace", "keys", "list", "-o", "json"])
}

/// Lists keys until `done` holds (the use is written by a background task).
fn keys_until(server: &Server, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let k = keys(server);
        if done(&k) {
            return k;
        }
        assert!(Instant::now() < deadline, "{what}: {k}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_primary_key_request_records_the_primary_keys_last_use_only() {
    let server = Server::start_and_login();
    let before = keys(&server);
    assert!(before.get("primaryKeyLastUsed").is_none(), "{before}");
    assert!(before.get("secondaryKeyLastUsed").is_none(), "{before}");

    let primary = before["primaryKey"]["key"].as_str().unwrap();
    let url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Quantum/workspaces/{}/jobs?api-version={DV}",
        server.http_url(),
        server.get("subscriptionId"),
        server.get("resourceGroup"),
        server.get("workspaceName"),
    );
    let r = reqwest::blocking::Client::new()
        .get(&url)
        .header("x-ms-quantum-api-key", primary)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    let after = keys_until(&server, "the primary key's use is recorded", |k| {
        k.get("primaryKeyLastUsed").is_some()
    });
    let used = &after["primaryKeyLastUsed"];
    assert_eq!(used["address"], "127.0.0.1", "{after}");
    let time = used["time"].as_str().unwrap();
    assert!(time.ends_with('Z') && time.len() == 20, "{time}");
    assert!(after.get("secondaryKeyLastUsed").is_none(), "{after}");
    let table = server.run(&["workspace", "keys", "list", "-o", "table"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("LastUsed") && table.contains(time),
        "{table}"
    );

    let regen = server.run(&["workspace", "keys", "regenerate", "--key-type", "Primary"]);
    assert!(regen.status.success(), "{regen:?}");
    let reset = keys(&server);
    assert!(reset.get("primaryKeyLastUsed").is_none(), "{reset}");
}
