//! Server start-up rules: loopback-only by default, public URL, certificate names, bootstrap.json.

use crate::common::*;
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn non_loopback_binding_needs_the_explicit_flag() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = qws_server::ServerConfig::ephemeral(dir.path().join("data"));
    config.listeners.http = "0.0.0.0:0".parse().unwrap();
    let err = qws_server::start(config).await.unwrap_err().to_string();
    assert!(err.contains("not a loopback address"), "{err}");
    assert!(err.contains("--allow-non-loopback"), "{err}");

    let mut config = qws_server::ServerConfig::ephemeral(dir.path().join("data"));
    config.listeners.https = "0.0.0.0:0".parse().unwrap();
    let err = qws_server::start(config).await.unwrap_err().to_string();
    assert!(err.contains("--tls-listen"), "{err}");
    // (Binding with --allow-non-loopback is not exercised: tests stay on loopback.)
}

#[tokio::test]
async fn bootstrap_file_has_every_documented_field() {
    let t = TestServer::start().await;
    for k in [
        "tenantId",
        "clientId",
        "clientSecret",
        "subscriptionId",
        "resourceGroup",
        "workspaceName",
        "location",
        "httpUrl",
        "httpsUrl",
        "caFile",
        "primaryConnectionString",
    ] {
        assert!(
            t.bootstrap[k].as_str().is_some_and(|v| !v.is_empty()),
            "{k}"
        );
    }
    assert_eq!(t.b("workspaceName"), "dev");
    assert_eq!(t.b("location"), "eastus");
    assert_eq!(t.b("httpUrl"), t.http_url());
    assert_eq!(t.b("httpsUrl"), t.https_url());
    assert!(t.srv().first_start);
    let banner = t.srv().first_start_banner.as_ref().unwrap();
    assert!(
        banner.contains(&t.b("clientSecret")) && banner.contains(&t.b("primaryConnectionString"))
    );
}

#[tokio::test]
async fn certificate_is_valid_for_localhost_and_the_loopback_ip() {
    let t = TestServer::start().await;
    let port = t.srv().https_addr.port();
    for host in ["localhost", "127.0.0.1"] {
        let url = format!("https://{host}:{port}/adfs/.well-known/openid-configuration");
        let v: Value = t.https.get(url).send().await.unwrap().json().await.unwrap();
        // Links follow the host the client used.
        assert_eq!(
            v["token_endpoint"],
            format!("https://{host}:{port}/adfs/oauth2/token")
        );
    }
    // An untrusting client refuses the certificate.
    let plain = reqwest::Client::builder().use_rustls_tls().build().unwrap();
    assert!(plain.get(t.https_url()).send().await.is_err());
}

#[tokio::test]
async fn public_url_sets_connection_strings_and_endpoint_uri() {
    let t = TestServer::start_with(|c| {
        c.listeners.public_url = Some("https://qws.example.test:9443".into())
    })
    .await;
    let keys = t.list_keys("qws", "dev").await;
    assert!(keys["primaryConnectionString"]
        .as_str()
        .unwrap()
        .ends_with(";QuantumEndpoint=https://qws.example.test:9443/;"));
    let w: Value = t.arm_get_json(&t.ws_path("qws", "dev")).await;
    assert_eq!(
        w["properties"]["endpointUri"],
        "https://qws.example.test:9443/"
    );
}

#[tokio::test]
async fn shutdown_stops_both_listeners() {
    let t = TestServer::start().await;
    let (http, https) = (t.http_url(), t.https_url());
    let client = t.https.clone();
    let _dir = t.stop().await;
    assert!(reqwest::get(format!("{http}/adfs/discovery/keys"))
        .await
        .is_err());
    assert!(client
        .get(format!("{https}/adfs/discovery/keys"))
        .send()
        .await
        .is_err());
}

/// The data-plane settings are configuration like any other (they used to be fixed at their
/// defaults): the monthly job quota set here is the limit `/quotas` reports.
#[tokio::test]
async fn data_plane_settings_come_from_the_configuration() {
    let t = TestServer::start_with(|c| c.dataplane.default_monthly_jobs = 7).await;
    let dp = crate::common::dp::Dp::new(&t).await;
    let quotas: Value = dp
        .call(Method::GET, "/quotas", None)
        .await
        .json()
        .await
        .unwrap();
    let limits: Vec<&Value> = quotas["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| &q["limit"])
        .collect();
    assert!(!limits.is_empty(), "{quotas}");
    assert!(limits.iter().all(|l| **l == 7.0), "{quotas}");
}
