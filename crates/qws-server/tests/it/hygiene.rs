//! Data hygiene and revocation over real HTTP: a deleted workspace leaves nothing behind for a
//! namesake, SAS URLs die with the key (or workspace) they were minted under and never reach the
//! database, job URIs must point at this server's storage, and the data directory is private
//! and owned by one server at a time.

use crate::common::blob::{expect_xml_error, ws_uid};
use crate::common::dp::{Dp, BELL, DV};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A job for the Bell circuit in the container `container_sas`.
fn job_body(container_sas: &str) -> Value {
    let (base, _) = container_sas.split_once('?').unwrap();
    json!({"name": "hygiene", "containerUri": container_sas, "inputDataFormat": "ionq.circuit.v1",
           "outputDataFormat": "ionq.quantum-results.v1", "inputDataUri": format!("{base}/inputData"),
           "providerId": "ionq", "target": "ionq.simulator", "inputParams": {"shots": 10},
           "itemType": "Job"})
}

trait SubmitBell {
    /// Uploads a Bell circuit to `job-<id>` and submits it; returns the JobDetails.
    async fn submit_bell(&self, id: &str) -> Value;
}

impl SubmitBell for Dp<'_> {
    async fn submit_bell(&self, id: &str) -> Value {
        let sas = self.container(&format!("job-{id}")).await;
        assert_eq!(self.upload(&sas, "inputData", BELL).await.status(), 201);
        let r = self
            .call(Method::PUT, &format!("/jobs/{id}"), Some(job_body(&sas)))
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }
}

/// A data-plane caller with a bearer token instead of a key.
async fn bearer_get(t: &TestServer, rg: &str, ws: &str, path: &str) -> reqwest::Response {
    let token = t.token("https://quantum.microsoft.com/.default").await;
    t.http
        .get(format!(
            "{}{}{path}?api-version={DV}",
            t.http_url(),
            t.ws_path(rg, ws)
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn regenerate(t: &TestServer, rg: &str, ws: &str, slot: &str) {
    let path = format!("{}/regenerateKey", t.ws_path(rg, ws));
    let r = t
        .arm(Method::POST, &path, Some(json!({"keys": [slot]})))
        .await;
    assert_eq!(r.status(), 204);
}

async fn set_keys_enabled(t: &TestServer, rg: &str, ws: &str, enabled: bool) {
    let p = t.ws_path(rg, ws);
    let mut w: Value = t.arm_get_json(&p).await;
    w["properties"]["apiKeyEnabled"] = json!(enabled);
    assert_eq!(t.arm(Method::PUT, &p, Some(w)).await.status(), 200);
}

async fn blob_get(t: &TestServer, url: &str) -> reqwest::Response {
    t.http.get(url).send().await.unwrap()
}

/// Deletes a workspace and waits for the deletion to finish (polling its operation).
async fn delete_workspace(t: &TestServer, rg: &str, ws: &str) {
    let r = t.arm(Method::DELETE, &t.ws_path(rg, ws), None).await;
    assert_eq!(r.status(), 202);
    let status = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let token = t.mgmt_token().await;
    let s: Value = t
        .https
        .get(status)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "Succeeded");
}

// ---- a deleted workspace leaves nothing behind ---------------------------------------------

#[tokio::test]
async fn recreated_workspace_starts_empty() {
    let t = TestServer::start().await;
    t.create_group("rg1").await;
    t.create_workspace("rg1", "ws1").await;
    let old_uid = ws_uid(&t, "rg1", "ws1");
    {
        let dp = Dp::of(&t, "rg1", "ws1").await;
        dp.submit_bell("j1").await;
        assert_eq!(dp.wait("j1").await["status"], "Succeeded");
    }
    delete_workspace(&t, "rg1", "ws1").await;
    t.create_workspace("rg1", "ws1").await;
    let new_uid = ws_uid(&t, "rg1", "ws1");
    assert_ne!(old_uid, new_uid, "a re-created workspace gets a new uid");

    let dp = Dp::of(&t, "rg1", "ws1").await;
    let list: Value = dp
        .call(Method::GET, "/jobs", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["value"], json!([]), "{list}");
    let top: Value = dp
        .call(Method::GET, "/topLevelItems", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(top["value"], json!([]), "{top}");
    expect_error(dp.get_job("j1").await, 404, "JobNotFound").await;
    let quotas: Value = dp
        .call(Method::GET, "/quotas", None)
        .await
        .json()
        .await
        .unwrap();
    assert!(
        quotas["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["utilization"] == json!(0.0)),
        "{quotas}"
    );
    // The old job's container name is free again, for the new workspace.
    assert_eq!(
        dp.sas_uri(json!({"containerName": "job-j1"}))
            .await
            .status(),
        200
    );

    // Nothing of the old workspace is left in the database or on disk.
    let js = &t.srv().state.dataplane.jobs;
    assert!(js.list_items(&old_uid, None, None, 10).unwrap().is_empty());
    assert!(js.quota_usage(&old_uid, "2026-12").unwrap().is_empty());
    assert!(js
        .quota_usage(
            &old_uid,
            &qws_server::planes::dataplane::jobs::current_period()
        )
        .unwrap()
        .is_empty());
    assert_eq!(
        js.container_owner("job-j1").unwrap().as_deref(),
        Some(new_uid.as_str())
    );
    assert!(!t.data_dir().join("blobs").join(&old_uid).exists());
}

#[tokio::test]
async fn deleting_a_resource_group_purges_its_workspaces_jobs() {
    let t = TestServer::start().await;
    t.create_group("rg2").await;
    t.create_workspace("rg2", "ws2").await;
    let old_uid = ws_uid(&t, "rg2", "ws2");
    Dp::of(&t, "rg2", "ws2").await.submit_bell("j2").await;
    // Deleted while the job may be running: the scheduler's writes must not make it fail.
    let r = t.arm(Method::DELETE, &t.rg_path("rg2"), None).await;
    let status = r.status();
    assert!(status.is_success(), "{status}: {}", r.text().await.unwrap());
    let js = &t.srv().state.dataplane.jobs;
    assert!(js.list_items(&old_uid, None, None, 10).unwrap().is_empty());
    assert_eq!(js.container_owner("job-j2").unwrap(), None);
}

// ---- one private data directory per server --------------------------------------------------

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn data_directory_and_job_data_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let t = TestServer::start_in(dir, |_| {}).await;
    assert_eq!(
        mode(&t.data_dir()),
        0o700,
        "an existing data dir is made private"
    );

    let dp = Dp::of(&t, "qws", "dev").await;
    dp.submit_bell("p1").await;
    assert_eq!(dp.wait("p1").await["status"], "Succeeded");
    let blobs = t.data_dir().join("blobs");
    let mut dirs = vec![blobs];
    let mut files = 0;
    while let Some(d) = dirs.pop() {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                files += 1;
                assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
            }
        }
    }
    assert!(files >= 2, "inputData and outputData");
    // Every file at the top is private too, except the CA certificate clients are told to trust.
    let mut names = Vec::new();
    for e in std::fs::read_dir(t.data_dir()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_file() && name != "ca.pem" {
            assert_eq!(mode(&e.path()), 0o600, "{name}");
            names.push(name);
        }
    }
    for f in [
        "qws.db",
        "master.key",
        "bootstrap.json",
        "lock",
        "audit.log",
    ] {
        if f == "qws.db" && on_postgres() {
            continue;
        }
        assert!(names.iter().any(|n| n == f), "{f} in {names:?}");
    }
}

#[tokio::test]
async fn second_server_on_the_same_data_directory_is_refused() {
    let t = TestServer::start().await;
    let config = qws_server::ServerConfig::ephemeral(t.data_dir());
    let err = match qws_server::start(config).await {
        Ok(_) => panic!("a second server started on the same data directory"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("in use by another qws server")
            && err.contains(&format!("pid {}", std::process::id()))
            && err.contains(&t.data_dir().display().to_string()),
        "{err}"
    );
    // The first server is unharmed and keeps serving.
    let dp = Dp::of(&t, "qws", "dev").await;
    dp.submit_bell("still-serving").await;
    assert_eq!(dp.wait("still-serving").await["status"], "Succeeded");

    // Once it has stopped, the directory can be served again.
    let dir = t.stop().await;
    let t2 = TestServer::start_in(dir, |_| {}).await;
    let dp = Dp::of(&t2, "qws", "dev").await;
    assert_eq!(dp.get_job("still-serving").await.status(), 200);
}

// ---- SAS revocation ---------------------------------------------------------------------------

#[tokio::test]
async fn sas_dies_with_the_key_it_was_minted_under() {
    let t = TestServer::start().await;
    let primary = Dp::with_key(&t, "qws", "dev", "primaryKey").await;
    let secondary = Dp::with_key(&t, "qws", "dev", "secondaryKey").await;
    primary.submit_bell("r1").await;
    assert_eq!(primary.wait("r1").await["status"], "Succeeded");

    // SAS minted for each key: through storage/sasUri and in a job read.
    let p_container = primary.container("job-p").await;
    let s_container = secondary.container("job-s").await;
    let p_job: Value = primary.get_job("r1").await.json().await.unwrap();
    let s_job: Value = secondary.get_job("r1").await.json().await.unwrap();
    let p_out = p_job["outputDataUri"].as_str().unwrap().to_string();
    let s_out = s_job["outputDataUri"].as_str().unwrap().to_string();
    assert!(p_out.contains("&skoid=primary&skv=1&sig="), "{p_out}");
    assert!(s_out.contains("&skoid=secondary&skv=1&sig="), "{s_out}");
    for job in [&p_job, &s_job] {
        for k in ["containerUri", "inputDataUri", "outputDataUri"] {
            let u = job[k].as_str().unwrap();
            assert!(u.contains("sig=") && u.contains("se="), "{k}: {u}");
        }
    }
    assert_eq!(blob_get(&t, &p_out).await.status(), 200);
    assert_eq!(
        blob_get(&t, p_job["inputDataUri"].as_str().unwrap())
            .await
            .text()
            .await
            .unwrap(),
        BELL
    );
    let list = format!(
        "{}&restype=container&comp=list",
        p_job["containerUri"].as_str().unwrap()
    );
    assert_eq!(blob_get(&t, &list).await.status(), 200);
    assert_eq!(primary.upload(&p_container, "a", "x").await.status(), 201);

    regenerate(&t, "qws", "dev", "Primary").await;
    // Everything minted under the old primary key is refused on the next request.
    expect_xml_error(blob_get(&t, &p_out).await, 403, "AuthenticationFailed").await;
    expect_xml_error(blob_get(&t, &list).await, 403, "AuthenticationFailed").await;
    expect_xml_error(
        primary.upload(&p_container, "b", "x").await,
        403,
        "AuthenticationFailed",
    )
    .await;
    // The secondary key's SAS are untouched.
    assert_eq!(blob_get(&t, &s_out).await.status(), 200);
    assert_eq!(secondary.upload(&s_container, "a", "x").await.status(), 201);
    // A caller with the new primary key gets working SAS again.
    let fresh = Dp::with_key(&t, "qws", "dev", "primaryKey").await;
    let job: Value = fresh.get_job("r1").await.json().await.unwrap();
    let out = job["outputDataUri"].as_str().unwrap();
    assert!(out.contains("&skoid=primary&skv=2&"), "{out}");
    assert_eq!(blob_get(&t, out).await.status(), 200);

    // Disabling keys revokes every key-minted SAS; a bearer caller's SAS stand on its principal.
    set_keys_enabled(&t, "qws", "dev", false).await;
    expect_xml_error(blob_get(&t, &s_out).await, 403, "AuthenticationFailed").await;
    expect_xml_error(blob_get(&t, out).await, 403, "AuthenticationFailed").await;
    let r = bearer_get(&t, "qws", "dev", "/jobs/r1").await;
    assert_eq!(r.status(), 200);
    let b_out = r.json::<Value>().await.unwrap()["outputDataUri"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        b_out.contains("&skoid=") && !b_out.contains("skv="),
        "{b_out}"
    );
    assert_eq!(blob_get(&t, &b_out).await.status(), 200);
    // Re-enabled keys are the same keys, so their SAS come back with them.
    set_keys_enabled(&t, "qws", "dev", true).await;
    assert_eq!(blob_get(&t, &s_out).await.status(), 200);

    // Deleting the workspace revokes the principal's SAS too.
    delete_workspace(&t, "qws", "dev").await;
    expect_xml_error(blob_get(&t, &b_out).await, 403, "AuthenticationFailed").await;
    expect_xml_error(blob_get(&t, &s_out).await, 403, "AuthenticationFailed").await;
}

#[tokio::test]
async fn a_tampered_holder_is_refused() {
    let t = TestServer::start().await;
    let dp = Dp::of(&t, "qws", "dev").await;
    let sas = dp.container("job-t").await;
    assert_eq!(dp.upload(&sas, "in", "x").await.status(), 201);
    for (from, to) in [
        ("skoid=primary&skv=1", "skoid=secondary&skv=1"),
        ("skoid=primary&skv=1", "skoid=primary&skv=2"),
        ("skoid=primary&skv=1", "skoid=primary"),
        ("&skoid=primary&skv=1", ""),
    ] {
        assert!(sas.contains(from), "{sas}");
        let forged = sas.replace(from, to);
        expect_xml_error(
            dp.upload(&forged, "in2", "x").await,
            403,
            "AuthenticationFailed",
        )
        .await;
    }
}

#[tokio::test]
async fn the_database_holds_no_sas() {
    let t = TestServer::start().await;
    let dp = Dp::of(&t, "qws", "dev").await;
    for id in ["d1", "d2"] {
        let sas = dp.container(&format!("job-{id}")).await;
        assert_eq!(dp.upload(&sas, "inputData", BELL).await.status(), 201);
        // The client sends SAS in both URIs (as real-service clients may).
        let mut body = job_body(&sas);
        body["inputDataUri"] = json!(crate::common::blob::blob_in(&sas, "inputData"));
        let r = dp
            .call(Method::PUT, &format!("/jobs/{id}"), Some(body))
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert!(v["containerUri"].as_str().unwrap().contains("sig="));
    }
    assert_eq!(dp.wait("d1").await["status"], "Succeeded");
    assert_eq!(dp.wait("d2").await["status"], "Succeeded");
    let rows = t
        .srv()
        .state
        .dataplane
        .jobs
        .list_items(&ws_uid(&t, "qws", "dev"), Some("Job"), None, 10)
        .unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert!(!r.doc.contains("sig=") && !r.doc.contains('?'), "{}", r.doc);
    }
    let mut checked = 0;
    for e in std::fs::read_dir(t.data_dir()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with("qws.db") {
            let bytes = std::fs::read(e.path()).unwrap();
            assert!(
                !bytes.windows(4).any(|w| w == b"sig="),
                "{name} holds a SAS signature"
            );
            checked += 1;
        }
    }
    // On PostgreSQL the rows checked above are the whole database.
    assert!(checked >= 1 || on_postgres());
}

// ---- job URIs point at this server --------------------------------------------------------------

#[tokio::test]
async fn job_uris_must_be_this_servers_storage() {
    let t = TestServer::start().await;
    let dp = Dp::of(&t, "qws", "dev").await;
    let sas = dp.container("job-u").await;
    assert_eq!(dp.upload(&sas, "inputData", BELL).await.status(), 201);
    let (base, query) = sas.split_once('?').unwrap();
    let port = t.srv().http_addr.port();
    let other_port = if port == 1 { 2 } else { port - 1 };

    let foreign_containers = [
        format!("https://evil.blob.core.windows.net/job-u?{query}"),
        format!("http://127.1:{other_port}/job-u?{query}"),
        format!("http://attacker.example:{port}/job-u?{query}"),
        format!("https://127.1:{port}/job-u?{query}"),
        format!("http://127.1:{port}@evil.example/job-u?{query}"),
        "job-u".to_string(),
    ];
    for uri in &foreign_containers {
        let mut body = job_body(&sas);
        body["containerUri"] = json!(uri);
        let r = dp.call(Method::PUT, "/jobs/u-bad", Some(body)).await;
        let v = expect_error(r, 400, "InvalidContainerUri").await;
        assert_eq!(v["error"]["target"], "containerUri", "{uri}: {v}");
    }
    for uri in [
        "https://evil.blob.core.windows.net/job-u/inputData".to_string(),
        format!("http://127.1:{other_port}/job-u/inputData"),
        format!("{base}/../job-u/inputData"),
    ] {
        let mut body = job_body(&sas);
        body["inputDataUri"] = json!(uri);
        let r = dp.call(Method::PUT, "/jobs/u-bad", Some(body)).await;
        let v = expect_error(r, 400, "InvalidInputDataUri").await;
        assert_eq!(v["error"]["target"], "inputDataUri", "{uri}: {v}");
    }
    expect_error(dp.get_job("u-bad").await, 404, "JobNotFound").await;

    // The listener's own spelling (127.0.0.1 is the socket 127.1 names) is this server too,
    // and what is stored and served is the canonical blob endpoint.
    let own = base.replacen("http://127.1:", "http://127.0.0.1:", 1);
    assert_ne!(own, base);
    let mut body = job_body(&sas);
    body["containerUri"] = json!(format!("{own}?{query}"));
    body["inputDataUri"] = json!(format!("{own}/inputData"));
    let r = dp.call(Method::PUT, "/jobs/u-ok", Some(body)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    for k in ["containerUri", "inputDataUri", "outputDataUri"] {
        assert!(v[k].as_str().unwrap().starts_with(base), "{k}: {v}");
    }
    assert_eq!(dp.wait("u-ok").await["status"], "Succeeded");
}
