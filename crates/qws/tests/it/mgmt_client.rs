//! The Rust SDK's management client and the `qws` CLI against a real `qws serve`
//! (started from the built binary on 127.0.0.1:0 with a temporary data dir, [`Server`]).

use std::path::PathBuf;

use crate::common::cli::Server;

use qws_client::arm::{ArmClient, ArmClientOptions, KeyType, Workspace};
use qws_client::credentials::{ClientSecretCredential, ClientSecretCredentialOptions};
use qws_client::{ClientOptions, ErrorKind};

/// The SDK's management client as the holder of `secret`, trusting the server's CA.
fn arm(server: &Server, secret: &str) -> ArmClient {
    let tls = ClientOptions::with_ca_file(ca_file(server));
    let credential = ClientSecretCredential::new(
        &server.get("httpsUrl"),
        &server.get("tenantId"),
        &server.get("clientId"),
        secret,
        Some(ClientSecretCredentialOptions {
            client_options: tls.clone(),
        }),
    )
    .unwrap();
    ArmClient::new(
        &server.get("httpsUrl"),
        credential,
        Some(ArmClientOptions::from(tls)),
    )
    .unwrap()
}

fn ca_file(server: &Server) -> PathBuf {
    let ca = PathBuf::from(server.get("caFile"));
    if ca.is_relative() {
        server.data_dir.path().join(ca)
    } else {
        ca
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_manages_workspaces_and_keys() {
    let server = Server::start(&[]);
    let arm = arm(&server, &server.get("clientSecret"));
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
    let server = Server::start(&["--page-size", "2"]);
    let arm = arm(&server, &server.get("clientSecret"));
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
    let login = server.login();
    assert!(login.status.success(), "{login:?}");
    let listed = server.run(&["workspace", "list", "-o", "json"]);
    assert!(listed.status.success(), "{listed:?}");
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_reports_a_wrong_secret_without_revealing_it() {
    let server = Server::start(&[]);
    let arm = arm(&server, "definitely-wrong-secret");
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
    let server = Server::start(&[]);

    let login = server.login();
    assert!(login.status.success(), "{login:?}");
    let secret = server.get("clientSecret");
    assert!(!String::from_utf8_lossy(&login.stdout).contains(&secret));

    let keys = server.run(&["workspace", "keys", "list", "-o", "json"]);
    assert!(keys.status.success(), "{keys:?}");
    let keys: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert_eq!(keys["apiKeyEnabled"], true);
    let primary = keys["primaryKey"]["key"].as_str().unwrap().to_owned();

    let regen = server.run(&["workspace", "keys", "regenerate", "--key-type", "Primary"]);
    assert!(regen.status.success(), "{regen:?}");
    let keys = server.run(&["workspace", "keys", "list", "-o", "json"]);
    let keys: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert_ne!(keys["primaryKey"]["key"].as_str().unwrap(), primary);

    let missing = server.run(&["workspace", "show", "-g", "nope", "-w", "xy"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr
            .starts_with("error: ResourceGroupNotFound: Resource group 'nope' could not be found"),
        "{stderr}"
    );
}
