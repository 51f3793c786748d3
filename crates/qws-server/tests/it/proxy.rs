//! `--azure-compat`: the proxy certificate comes only with a CA created in that mode, the proxy
//! refuses every host but the Azure Quantum and ARM names, and tunnelled requests reach the
//! same router as the other listeners.

use qws_server::ServerConfig;
use std::io::{Read, Write};

fn raw_connect(proxy: std::net::SocketAddr, target: &str) -> String {
    let mut s = std::net::TcpStream::connect(proxy).unwrap();
    write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_compat_proxy_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let plain = qws_server::start(ServerConfig::ephemeral(dir.path()))
        .await
        .unwrap();
    assert!(plain.proxy_addr.is_none());
    plain.shutdown().await;

    // A data dir first started without --azure-compat gains the proxy: its CA's key is kept
    // (sealed in the database) and issues the proxy certificate at start.
    let ca_before = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let mut compat = ServerConfig::ephemeral(dir.path());
    compat.listeners.azure_compat = true;
    let server = qws_server::start(compat).await.unwrap();
    let proxy = server.proxy_addr.expect("proxy listening");
    assert_eq!(std::fs::read(&server.ca_file).unwrap(), ca_before);
    // No key for Azure names is ever written to the data directory.
    for f in ["azure-compat-cert.pem", "azure-compat-key.pem"] {
        assert!(!dir.path().join(f).exists(), "{f}");
    }
    let bootstrap: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&server.bootstrap_file).unwrap()).unwrap();
    assert_eq!(bootstrap["proxyUrl"], format!("http://{proxy}"));
    let cs = bootstrap["primaryConnectionString"].as_str().unwrap();
    assert!(cs.ends_with(";QuantumEndpoint=https://eastus.quantum.azure.com/;"));

    let refused = tokio::task::spawn_blocking(move || {
        (
            raw_connect(proxy, "example.com:443"),
            raw_connect(proxy, "eastus.quantum.azure.com:8443"),
            raw_connect(proxy, "eastus.quantum.azure.com:443"),
            raw_connect(proxy, "login.microsoftonline.com:443"),
            raw_connect(proxy, "login.windows.net:443"),
        )
    })
    .await
    .unwrap();
    assert!(refused.0.starts_with("HTTP/1.1 403"), "{}", refused.0);
    assert!(refused.0.contains("'example.com'"), "{}", refused.0);
    assert!(refused.1.starts_with("HTTP/1.1 403"), "{}", refused.1);
    assert!(refused.2.starts_with("HTTP/1.1 200"), "{}", refused.2);
    assert!(refused.3.starts_with("HTTP/1.1 200"), "{}", refused.3);
    assert!(refused.4.starts_with("HTTP/1.1 403"), "{}", refused.4);

    // Through the tunnel, with only the qws CA trusted: the data plane's own 401 answer.
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&server.ca_file).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .proxy(reqwest::Proxy::https(format!("http://{proxy}")).unwrap())
        .build()
        .unwrap();
    let sub = bootstrap["subscriptionId"].as_str().unwrap();
    let url = format!(
        "https://westus-v2.quantum.azure.com/subscriptions/{sub}/resourceGroups/qws/providers/Microsoft.Quantum/workspaces/dev/providerStatus?api-version=2026-01-15-preview"
    );
    let r = client
        .get(&url)
        .header("x-ms-quantum-api-key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");

    let direct = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&server.ca_file).unwrap()).unwrap(),
        )
        .no_proxy()
        .build()
        .unwrap();
    signs_in_as_entra(&client, &direct, &bootstrap).await;
    server.shutdown().await;
}

fn claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Through the proxy, qws answers as login.microsoftonline.com what MSAL asks there, and the
/// management plane (reached directly or through the proxy) accepts v2 and v1 tokens.
async fn signs_in_as_entra(
    client: &reqwest::Client,
    direct: &reqwest::Client,
    bootstrap: &serde_json::Value,
) {
    let login = "https://login.microsoftonline.com";
    let tenant = bootstrap["tenantId"].as_str().unwrap();
    let get = |url: String| async move {
        let r = client.get(url).send().await.unwrap();
        (
            r.status().as_u16(),
            r.json::<serde_json::Value>().await.unwrap(),
        )
    };
    let (status, doc) = get(format!(
        "{login}/common/discovery/instance?api-version=1.1&authorization_endpoint={login}/{tenant}/oauth2/v2.0/authorize"
    ))
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(
        doc["tenant_discovery_endpoint"],
        format!("{login}/{tenant}/v2.0/.well-known/openid-configuration")
    );
    let (status, doc) = get(format!(
        "{login}/common/discovery/instance?authorization_endpoint=https://elsewhere.example/t/oauth2/v2.0/authorize"
    ))
    .await;
    assert_eq!(
        (status, doc["error"].as_str()),
        (400, Some("invalid_instance"))
    );
    for alias in [tenant, "common", "organizations"] {
        let (status, doc) = get(format!(
            "{login}/{alias}/v2.0/.well-known/openid-configuration"
        ))
        .await;
        assert_eq!(status, 200, "{doc}");
        assert_eq!(doc["issuer"], format!("{login}/{tenant}/v2.0"));
        assert_eq!(
            doc["token_endpoint"],
            format!("{login}/{alias}/oauth2/v2.0/token")
        );
    }
    let (status, doc) = get(format!(
        "{login}/adfs/adfs/v2.0/.well-known/openid-configuration"
    ))
    .await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["token_endpoint"], format!("{login}/adfs/oauth2/token"));
    let (status, keys) = get(format!("{login}/{tenant}/discovery/v2.0/keys")).await;
    assert_eq!(status, 200);
    assert!(keys["keys"][0]["kid"].is_string(), "{keys}");

    let client_id = bootstrap["clientId"].as_str().unwrap();
    let secret = bootstrap["clientSecret"].as_str().unwrap();
    let v2 = client
        .post(format!("{login}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", "https://management.core.windows.net//.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(v2.status(), 200);
    let v2: serde_json::Value = v2.json().await.unwrap();
    let v2 = v2["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&v2)["iss"], format!("{login}/{tenant}/v2.0"));
    let v1 = client
        .post(format!("{login}/{tenant}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("resource", "https://management.azure.com/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(v1.status(), 200);
    let v1: serde_json::Value = v1.json().await.unwrap();
    let v1 = v1["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        claims(&v1)["iss"],
        format!("https://sts.windows.net/{tenant}/")
    );
    assert_eq!(claims(&v1)["ver"], "1.0");
    let https = bootstrap["httpsUrl"].as_str().unwrap();
    for token in [&v2, &v1] {
        for (via, base) in [(client, "https://management.azure.com"), (direct, https)] {
            let r = via
                .get(format!("{base}/subscriptions?api-version=2022-12-01"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{base}");
        }
    }
    // A v1-looking issuer for another tenant is not ours.
    let wrong = client
        .post(format!(
            "{login}/00000000-0000-0000-0000-000000000000/oauth2/token"
        ))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
}

/// The stored CA key issues proxy certificates only for the `ca.pem` it belongs to: a `ca.pem`
/// replaced by hand is refused with a clear error instead of a certificate no client trusts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_ca_pem_gets_no_proxy_certificate() {
    let (one, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for dir in [&one, &other] {
        qws_server::start(ServerConfig::ephemeral(dir.path()))
            .await
            .unwrap()
            .shutdown()
            .await;
    }
    std::fs::copy(other.path().join("ca.pem"), one.path().join("ca.pem")).unwrap();
    let mut compat = ServerConfig::ephemeral(one.path());
    compat.listeners.azure_compat = true;
    let e = match qws_server::start(compat).await {
        Ok(_) => panic!("--azure-compat started with a foreign ca.pem"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("does not belong") && e.contains("ca.pem"), "{e}");
}
