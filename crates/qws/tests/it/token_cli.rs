//! `qws workspace token create|list|revoke` against a real `qws serve`: the printed token (and
//! its connection string) reads the workspace's jobs until it is revoked.

use crate::common::cli::Server;

#[test]
fn tokens_are_created_listed_used_and_revoked() {
    let server = Server::start_and_login();
    let (sub, rg, ws) = (
        server.get("subscriptionId"),
        server.get("resourceGroup"),
        server.get("workspaceName"),
    );
    let target = ["-g", rg.as_str(), "-w", ws.as_str()];
    let mut args = vec!["workspace", "token", "create"];
    args.extend(target);
    args.extend([
        "--name",
        "reviewer",
        "--access",
        "read",
        "--expires-in",
        "7d",
        "-o",
        "json",
    ]);
    let created = server.json(&args);
    let token = created["properties"]["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("qwt_"), "{created}");
    assert_eq!(created["properties"]["access"], "Read");
    let cs = created["properties"]["connectionString"].as_str().unwrap();
    assert!(cs.contains(&format!("ApiKey={token};")), "{cs}");

    let jobs = format!(
        "{}/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}/jobs?api-version=2026-01-15-preview",
        server.http_url()
    );
    let get = || {
        reqwest::blocking::Client::new()
            .get(&jobs)
            .header("x-ms-quantum-api-key", &token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get(), 200);

    let mut args = vec!["workspace", "token", "list"];
    args.extend(target);
    args.extend(["-o", "json"]);
    let listed = server.json(&args);
    assert_eq!(listed[0]["name"], "reviewer");
    assert!(
        listed[0]["properties"]["lastUsedOn"].is_string(),
        "{listed}"
    );
    assert!(!listed.to_string().contains(&token));
    // `-o tsv`: the chosen columns (name, access, expiry, creation, creator, last use, hint).
    let mut args = vec!["workspace", "token", "list"];
    args.extend(target);
    args.extend(["-o", "tsv"]);
    let out = server.run(&args);
    let tsv = String::from_utf8(out.stdout).unwrap();
    let cells: Vec<&str> = tsv.trim_end().split('\t').collect();
    assert_eq!(cells.len(), 7, "{tsv}");
    assert_eq!(cells[..2], ["reviewer", "Read"], "{tsv}");
    assert!(
        token.starts_with(cells[6]),
        "the hint is the token's start: {tsv}"
    );

    // Bad lifetimes are refused before anything is sent.
    let mut args = vec!["workspace", "token", "create"];
    args.extend(target);
    args.extend(["--name", "x", "--access", "read", "--expires-in", "3w"]);
    assert!(server.fails(&args).contains("--expires-in"));

    let mut args = vec!["workspace", "token", "revoke"];
    args.extend(target);
    args.extend(["--name", "reviewer"]);
    let out = server.run(&args);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(get(), 401);
}
