//! `qws ad user|sp|group …` against a real `qws serve`.

use crate::common::cli::Server;
use serde_json::Value;

/// Whether the service principal's secret gets a management token from the server.
fn signs_in(server: &Server, app_id: &str, secret: &str) -> bool {
    let ca = std::path::PathBuf::from(server.get("caFile"));
    let ca = if ca.is_relative() {
        server.data_dir.path().join(ca)
    } else {
        ca
    };
    let cert = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(cert)
        .build()
        .unwrap();
    let r = client
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            server.get("httpsUrl"),
            server.get("tenantId")
        ))
        .form(&[
            ("client_id", app_id),
            ("grant_type", "client_credentials"),
            ("client_secret", secret),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .unwrap();
    r.status().is_success()
}

#[test]
fn users_create_list_show_update_delete() {
    let s = Server::start_and_login();
    let u = s.json(&[
        "ad",
        "user",
        "create",
        "--display-name",
        "Alice",
        "--user-principal-name",
        "alice@qws.local",
        "--password",
        "Correct-Horse-42",
        "-o",
        "json",
    ]);
    let id = u["id"].as_str().unwrap().to_owned();
    assert_eq!(u["userPrincipalName"], "alice@qws.local");
    let weak = s.fails(&[
        "ad",
        "user",
        "create",
        "--display-name",
        "Bob",
        "--user-principal-name",
        "bob@qws.local",
        "--password",
        "weak",
    ]);
    assert!(weak.contains("InvalidPassword"), "{weak}");
    let listed = s.json(&["ad", "user", "list", "-o", "json"]);
    // Alice and the portal administrator created at first start.
    let upns: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(upns.len(), 2, "{upns:?}");
    assert!(upns.contains(&"alice@qws.local") && upns.contains(&"admin@qws.local"));
    let shown = s.json(&[
        "ad",
        "user",
        "show",
        "--id",
        "alice@qws.local",
        "-o",
        "json",
    ]);
    assert_eq!(shown["id"], id.as_str());
    let updated = s.json(&[
        "ad",
        "user",
        "update",
        "--id",
        &id,
        "--display-name",
        "Alice B",
        "--account-enabled",
        "false",
        "-o",
        "json",
    ]);
    assert_eq!(updated["displayName"], "Alice B");
    assert_eq!(updated["accountEnabled"], false);
    let table = s.run(&["ad", "user", "list"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("alice@qws.local"));
    assert!(s
        .run(&["ad", "user", "delete", "--id", &id])
        .status
        .success());
    let gone = s.fails(&["ad", "user", "show", "--id", &id]);
    assert!(gone.contains("ResourceNotFound"), "{gone}");
}

#[test]
fn sp_create_for_rbac_and_credentials() {
    let s = Server::start_and_login();
    let ws_scope = s.json(&[
        "workspace",
        "show",
        "-g",
        &s.get("resourceGroup"),
        "-w",
        &s.get("workspaceName"),
        "-o",
        "json",
    ])["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = s.run(&[
        "ad",
        "sp",
        "create-for-rbac",
        "--name",
        "ci",
        "--role",
        "Quantum Workspace Data Contributor",
        "--scopes",
        &ws_scope,
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    // Exactly az's four fields.
    let mut keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["appId", "displayName", "password", "tenant"]);
    assert_eq!(created["displayName"], "ci");
    assert_eq!(created["tenant"], s.get("tenantId").as_str());
    assert!(String::from_utf8_lossy(&out.stderr).contains("secret"));
    let app = created["appId"].as_str().unwrap().to_owned();
    let password = created["password"].as_str().unwrap().to_owned();
    assert!(signs_in(&s, &app, &password));

    // The role was assigned at the scope.
    let sp = s.json(&["ad", "sp", "show", "--id", &app, "-o", "json"]);
    let oid = sp["id"].as_str().unwrap().to_owned();
    let assigned = s.json(&[
        "role",
        "assignment",
        "list",
        "--scope",
        &ws_scope,
        "--assignee",
        &oid,
        "-o",
        "json",
    ]);
    assert_eq!(assigned.as_array().unwrap().len(), 1, "{assigned}");

    let creds = s.json(&["ad", "sp", "credential", "list", "--id", &app, "-o", "json"]);
    assert_eq!(creds.as_array().unwrap().len(), 1);
    assert_eq!(creds[0]["hint"], &password[..3]);
    assert!(!creds.to_string().contains(&password));

    // reset replaces; --append adds; delete removes one.
    let reset = s.json(&[
        "ad",
        "sp",
        "credential",
        "reset",
        "--id",
        &app,
        "-o",
        "json",
    ]);
    let new_password = reset["password"].as_str().unwrap().to_owned();
    assert_eq!(reset["appId"], app.as_str());
    assert!(!signs_in(&s, &app, &password));
    assert!(signs_in(&s, &app, &new_password));
    let appended = s.json(&[
        "ad",
        "sp",
        "credential",
        "reset",
        "--id",
        &oid,
        "--append",
        "--display-name",
        "second",
        "-o",
        "json",
    ]);
    let creds = s.json(&["ad", "sp", "credential", "list", "--id", &oid, "-o", "json"]);
    assert_eq!(creds.as_array().unwrap().len(), 2);
    let second = creds
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["displayName"] == "second")
        .unwrap()["keyId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(s
        .run(&[
            "ad",
            "sp",
            "credential",
            "delete",
            "--id",
            &oid,
            "--key-id",
            &second
        ])
        .status
        .success());
    assert!(!signs_in(&s, &app, appended["password"].as_str().unwrap()));
    assert!(signs_in(&s, &app, &new_password));

    let listed = s.json(&["ad", "sp", "list", "-o", "json"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["appId"] == app.as_str()));
    let bad_role = s.fails(&[
        "ad",
        "sp",
        "create-for-rbac",
        "--name",
        "x",
        "--role",
        "Nope",
        "--scopes",
        &ws_scope,
    ]);
    assert!(bad_role.contains("Nope"), "{bad_role}");
    assert!(s
        .run(&["ad", "sp", "delete", "--id", &oid])
        .status
        .success());
    assert!(!signs_in(&s, &app, &new_password));
}

#[test]
fn groups_and_members() {
    let s = Server::start_and_login();
    let u = s.json(&[
        "ad",
        "user",
        "create",
        "--display-name",
        "Carol",
        "--user-principal-name",
        "carol@qws.local",
        "--password",
        "Correct-Horse-42",
        "-o",
        "json",
    ]);
    let uid = u["id"].as_str().unwrap().to_owned();
    let g = s.json(&[
        "ad",
        "group",
        "create",
        "--display-name",
        "researchers",
        "--mail-nickname",
        "res",
        "-o",
        "json",
    ]);
    let gid = g["id"].as_str().unwrap().to_owned();
    assert!(s
        .run(&[
            "ad",
            "group",
            "member",
            "add",
            "--group",
            "researchers",
            "--member-id",
            &uid
        ])
        .status
        .success());
    let members = s.json(&[
        "ad", "group", "member", "list", "--group", &gid, "-o", "json",
    ]);
    assert_eq!(members[0]["id"], uid.as_str());
    assert!(s
        .run(&[
            "ad",
            "group",
            "member",
            "remove",
            "--group",
            &gid,
            "--member-id",
            &uid
        ])
        .status
        .success());
    let members = s.json(&[
        "ad", "group", "member", "list", "--group", &gid, "-o", "json",
    ]);
    assert_eq!(members, serde_json::json!([]));
    let listed = s.json(&["ad", "group", "list", "-o", "json"]);
    assert_eq!(listed[0]["displayName"], "researchers");
    assert!(s
        .run(&["ad", "group", "delete", "--group", "researchers"])
        .status
        .success());
    let missing = s.fails(&["ad", "group", "show", "--group", "researchers"]);
    assert!(missing.contains("no group is named"), "{missing}");
}
