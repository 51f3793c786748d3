//! No key or secret in plaintext anywhere: the whole data directory (database, WAL, audit log,
//! TLS files…) and the server's captured log output are searched for every generated key after
//! exercising listKeys, regenerateKey, enable/disable, key checks and failed authentication.
//! The test installs a process-wide log capture, so it runs in a process of its own.

use crate::common::own_process::in_own_process;
use crate::common::*;
use qws_core::resource_id::WorkspaceId;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_never_appear_in_the_data_dir_or_logs() {
    if !in_own_process("secrets::keys_never_appear_in_the_data_dir_or_logs") {
        return;
    }
    let capture = Capture::default();
    let writer = capture.clone();
    // Everything the server (and its HTTP/TLS stack) logs, at the most verbose level.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let t = TestServer::start().await;
    t.create_workspace("qws", "secret-ws").await;
    let path = t.ws_path("qws", "secret-ws");
    let mut keys: Vec<String> = vec![];
    let mut collect = |v: &Value| {
        for slot in ["primaryKey", "secondaryKey"] {
            if let Some(k) = v[slot]["key"].as_str() {
                if !keys.contains(&k.to_string()) {
                    keys.push(k.to_string());
                }
            }
        }
    };
    collect(&t.list_keys("qws", "secret-ws").await);
    for slots in [
        json!(["Primary"]),
        json!(["Secondary"]),
        json!(["Primary", "Secondary"]),
    ] {
        let r = t
            .arm(
                Method::POST,
                &format!("{path}/regenerateKey"),
                Some(json!({"keys": slots})),
            )
            .await;
        assert_eq!(r.status(), 204);
        collect(&t.list_keys("qws", "secret-ws").await);
    }
    assert_eq!(keys.len(), 6, "two original and four regenerated keys");

    // Key checks with current, old and wrong keys.
    let id = WorkspaceId::from_parts(&t.sub(), "qws", "secret-ws").unwrap();
    for k in &keys {
        let _ = t.srv().state.check_api_key(&id, k).await.unwrap();
    }
    // Disable and re-enable.
    let mut w: Value = t.arm_get_json(&path).await;
    w["properties"]["apiKeyEnabled"] = json!(false);
    assert_eq!(
        t.arm(Method::PUT, &path, Some(w.clone())).await.status(),
        200
    );
    w["properties"]["apiKeyEnabled"] = json!(true);
    assert_eq!(t.arm(Method::PUT, &path, Some(w)).await.status(), 200);
    // Failed authentication, including a key presented as a bearer token and a bad secret.
    let r = t.arm_with(&keys[0], Method::GET, &path, None).await;
    assert_eq!(r.status(), 401);
    let r = t
        .client_credentials(
            &t.b("clientId"),
            &keys[1],
            "https://management.azure.com/.default",
        )
        .await;
    assert_eq!(r.status(), 401);
    // The administrator secret typed into client_id (form and Basic): refused, and the audit
    // record names no client rather than that value.
    let token_url = t.token_url();
    let r = t
        .https
        .post(&token_url)
        .form(&[
            ("client_id", t.b("clientSecret")),
            ("grant_type", "client_credentials".into()),
            ("client_secret", "wrong".into()),
            ("scope", "https://management.azure.com/.default".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = t
        .https
        .post(&token_url)
        .basic_auth(t.b("clientSecret"), Some("wrong"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let audited: Vec<Value> = t
        .audit_lines()
        .into_iter()
        .filter(|l| l["action"] == "token")
        .collect();
    assert_eq!(audited.len(), 3, "{audited:?}");
    assert_eq!(audited[0]["principal"], format!("app:{}", t.b("clientId")));
    assert!(audited[1..]
        .iter()
        .all(|l| l["principal"] == "app:<invalid>"));

    // Debug output of the server state and a store record holds no key either.
    let debug = format!("{:?} {:?}", t.srv().state, t.srv());
    let dir = t.stop().await;

    let logs = capture.0.lock().unwrap().clone();
    assert!(contains(&logs, "qws started"), "the capture works");
    assert!(
        contains(&logs, "authentication failed"),
        "failures are logged"
    );
    let mut files = vec![];
    files_under(&dir.path().join("data"), &mut files);
    assert!(on_postgres() || files.iter().any(|f| f.ends_with("qws.db")));
    assert!(files.iter().any(|f| f.ends_with("audit.log")));
    for key in &keys {
        assert!(!contains(&logs, key), "a key appeared in the logs");
        assert!(
            !contains(debug.as_bytes(), key),
            "a key appeared in Debug output"
        );
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(!contains(&bytes, key), "a key appeared in {}", f.display());
        }
    }
    // The administrator secret is only in bootstrap.json (0600), never in logs or the database.
    let secret = t_secret(&dir);
    assert!(!contains(&logs, &secret));
    for f in files.iter().filter(|f| !f.ends_with("bootstrap.json")) {
        assert!(
            !contains(&std::fs::read(f).unwrap(), &secret),
            "client secret in {}",
            f.display()
        );
    }
    let _ = std::io::stderr().flush();
}

fn t_secret(dir: &tempfile::TempDir) -> String {
    let b: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("data/bootstrap.json")).unwrap())
            .unwrap();
    b["clientSecret"].as_str().unwrap().to_string()
}
