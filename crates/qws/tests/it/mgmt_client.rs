//! The Rust SDK's management client and the `qws` CLI against a real `qws serve`
//! (started from the built binary on 127.0.0.1:0 with a temporary data dir).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use qws_client::arm::{ArmClient, ArmClientOptions, KeyType, Workspace};
use qws_client::credentials::{ClientSecretCredential, ClientSecretCredentialOptions};
use qws_client::{ClientOptions, ErrorKind};

const QWS: &str = env!("CARGO_BIN_EXE_qws");

/// A running server; killed on drop.
struct Server {
    child: Child,
    data_dir: tempfile::TempDir,
    bootstrap: serde_json::Value,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        Server::start_with(&[])
    }

    fn start_with(extra_args: &[&str]) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let child = Command::new(QWS)
            .args(["serve", "--data-dir"])
            .arg(data_dir.path())
            .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn qws serve");
        let mut server = Server {
            child,
            data_dir,
            bootstrap: serde_json::Value::Null,
        };
        // Readiness wait (not a timing assertion): bootstrap.json with bound ports.
        let deadline = Instant::now() + Duration::from_secs(60);
        let path = server.data_dir.path().join("bootstrap.json");
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("qws serve exited early: {status}");
            }
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
                    let bound = |k: &str| {
                        json[k]
                            .as_str()
                            .is_some_and(|u| !u.trim_end_matches('/').ends_with(":0"))
                    };
                    if bound("httpUrl") && bound("httpsUrl") {
                        server.bootstrap = json;
                        return server;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "qws serve did not write bootstrap.json"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn get(&self, key: &str) -> String {
        self.bootstrap[key]
            .as_str()
            .unwrap_or_else(|| panic!("bootstrap.json has no {key}"))
            .to_owned()
    }

    fn ca_file(&self) -> PathBuf {
        let ca = PathBuf::from(self.get("caFile"));
        if ca.is_relative() {
            self.data_dir.path().join(ca)
        } else {
            ca
        }
    }

    fn arm(&self, secret: &str) -> ArmClient {
        let tls = ClientOptions::with_ca_file(self.ca_file());
        let credential = ClientSecretCredential::new(
            &self.get("httpsUrl"),
            &self.get("tenantId"),
            &self.get("clientId"),
            secret,
            Some(ClientSecretCredentialOptions {
                client_options: tls.clone(),
            }),
        )
        .unwrap();
        ArmClient::new(
            &self.get("httpsUrl"),
            credential,
            Some(ArmClientOptions::from(tls)),
        )
        .unwrap()
    }

    /// Runs the CLI with its config under `home`.
    fn cli(&self, home: &Path, args: &[&str]) -> Output {
        Command::new(QWS)
            .args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env_remove("QWS_CLIENT_SECRET")
            .current_dir(home)
            .output()
            .expect("run qws")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_manages_workspaces_and_keys() {
    let server = Server::start();
    let arm = server.arm(&server.get("clientSecret"));
    let (sub, rg, dev) = (
        server.get("subscriptionId"),
        server.get("resourceGroup"),
        server.get("workspaceName"),
    );

    let ws = arm
        .get_workspace(&sub, &rg, &dev, None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(ws.name.as_deref(), Some(dev.as_str()));
    assert_eq!(ws.location, server.get("location"));

    // Create a second workspace, page through the list, then work with its keys.
    let body = Workspace {
        location: server.get("location"),
        properties: qws_client::arm::WorkspaceProperties {
            api_key_enabled: Some(true),
            ..Default::default()
        },
        ..Default::default()
    };
    let created = arm
        .create_or_update_workspace(&sub, &rg, "sdk-ws", &body, None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(
        created.properties.provisioning_state.as_deref(),
        Some("Succeeded")
    );
    let names: Vec<String> = arm
        .list_workspaces_by_resource_group(&sub, &rg, None)
        .unwrap()
        .collect()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|w| w.name)
        .collect();
    assert!(
        names.contains(&dev) && names.contains(&"sdk-ws".to_owned()),
        "{names:?}"
    );

    let keys = arm
        .list_keys(&sub, &rg, "sdk-ws", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(keys.api_key_enabled, Some(true));
    let primary = keys.primary_key.unwrap().key.unwrap();
    let secondary = keys.secondary_key.unwrap().key.unwrap();
    assert_eq!(primary.expose().len(), 86);
    assert!(!format!("{primary:?}").contains(primary.expose()));

    let regen = arm
        .regenerate_keys(&sub, &rg, "sdk-ws", &[KeyType::Primary], None)
        .await
        .unwrap();
    assert_eq!(regen.status(), 204);
    let after = arm
        .list_keys(&sub, &rg, "sdk-ws", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_ne!(after.primary_key.unwrap().key.unwrap(), primary);
    assert_eq!(after.secondary_key.unwrap().key.unwrap(), secondary);

    let mut current = arm
        .get_workspace(&sub, &rg, "sdk-ws", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    current.properties.api_key_enabled = Some(false);
    arm.create_or_update_workspace(&sub, &rg, "sdk-ws", &current, None)
        .await
        .unwrap();
    let hidden = arm
        .list_keys(&sub, &rg, "sdk-ws", None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(hidden.api_key_enabled, Some(false));
    assert!(hidden
        .primary_connection_string
        .is_none_or(|s| s.is_empty()));
    let refused = arm
        .regenerate_keys(&sub, &rg, "sdk-ws", &[KeyType::Secondary], None)
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(400));
    assert!(refused.code().is_some());

    let taken = arm
        .check_name_availability(&sub, &server.get("location"), &dev, None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(taken.name_available, Some(false));

    arm.delete_workspace(&sub, &rg, "sdk-ws", None)
        .await
        .unwrap();
    let gone = arm
        .get_workspace(&sub, &rg, "sdk-ws", None)
        .await
        .unwrap_err();
    assert_eq!(gone.status(), Some(404));
    assert_eq!(gone.code(), Some("ResourceNotFound"));

    let no_group = arm
        .get_workspace(&sub, "no-such-group", &dev, None)
        .await
        .unwrap_err();
    assert_eq!(no_group.code(), Some("ResourceGroupNotFound"));
    assert!(no_group.to_string().starts_with("ResourceGroupNotFound: "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pager_follows_next_links() {
    let server = Server::start_with(&["--page-size", "2"]);
    let arm = server.arm(&server.get("clientSecret"));
    let (sub, rg) = (server.get("subscriptionId"), server.get("resourceGroup"));
    let body = Workspace {
        location: server.get("location"),
        ..Default::default()
    };
    let no_wait = qws_client::arm::CallOptions {
        no_wait: true,
        ..Default::default()
    };
    for name in ["pg-a", "pg-b", "pg-c", "pg-d"] {
        arm.create_or_update_workspace(&sub, &rg, name, &body, Some(no_wait.clone()))
            .await
            .unwrap();
    }
    // Five workspaces (the bootstrap one plus four) in pages of two: 2 + 2 + 1.
    let mut pager = arm
        .list_workspaces_by_resource_group(&sub, &rg, None)
        .unwrap();
    let mut sizes = Vec::new();
    let mut names = Vec::new();
    while let Some(page) = pager.next_page().await {
        let page = page.unwrap();
        sizes.push(page.len());
        names.extend(page.into_iter().filter_map(|w| w.name));
    }
    assert_eq!(sizes, vec![2, 2, 1]);
    names.sort();
    let mut expected = vec!["pg-a", "pg-b", "pg-c", "pg-d"];
    let dev = server.get("workspaceName");
    expected.push(&dev);
    expected.sort();
    assert_eq!(names, expected);
    let all = arm
        .list_workspaces_by_subscription(&sub, None)
        .unwrap()
        .collect_json()
        .await
        .unwrap();
    assert_eq!(all.len(), 5);

    // The CLI merges every page into one list too.
    let home = tempfile::tempdir().unwrap();
    let data_dir = server.data_dir.path().to_str().unwrap().to_owned();
    let login = server.cli(home.path(), &["login", "--data-dir", &data_dir]);
    assert!(login.status.success(), "{login:?}");
    let listed = server.cli(home.path(), &["workspace", "list", "-o", "json"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_reports_a_wrong_secret_without_revealing_it() {
    let server = Server::start();
    let arm = server.arm("definitely-wrong-secret");
    let err = arm
        .get_workspace(&server.get("subscriptionId"), "g", "w", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Credential);
    assert_eq!(err.code(), Some("invalid_client"));
    assert!(!err.to_string().contains("definitely-wrong-secret"));
}

#[test]
fn cli_login_keys_and_errors() {
    let server = Server::start();
    let home = tempfile::tempdir().unwrap();
    let data_dir = server.data_dir.path().to_str().unwrap().to_owned();

    let login = server.cli(home.path(), &["login", "--data-dir", &data_dir]);
    assert!(login.status.success(), "{login:?}");
    let secret = server.get("clientSecret");
    assert!(!String::from_utf8_lossy(&login.stdout).contains(&secret));

    let keys = server.cli(home.path(), &["workspace", "keys", "list", "-o", "json"]);
    assert!(keys.status.success(), "{keys:?}");
    let keys: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert_eq!(keys["apiKeyEnabled"], true);
    let primary = keys["primaryKey"]["key"].as_str().unwrap().to_owned();

    let regen = server.cli(
        home.path(),
        &["workspace", "keys", "regenerate", "--key-type", "Primary"],
    );
    assert!(regen.status.success(), "{regen:?}");
    let keys = server.cli(home.path(), &["workspace", "keys", "list", "-o", "json"]);
    let keys: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert_ne!(keys["primaryKey"]["key"].as_str().unwrap(), primary);

    let missing = server.cli(
        home.path(),
        &["workspace", "show", "-g", "nope", "-w", "xy"],
    );
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr
            .starts_with("error: ResourceGroupNotFound: Resource group 'nope' could not be found"),
        "{stderr}"
    );
}
