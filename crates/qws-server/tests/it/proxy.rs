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

    // A data dir whose CA was made without --azure-compat cannot gain the proxy certificate.
    let mut compat = ServerConfig::ephemeral(dir.path());
    compat.listeners.azure_compat = true;
    let e = match qws_server::start(compat.clone()).await {
        Ok(_) => panic!("--azure-compat started on a CA made without it"),
        Err(e) => format!("{e:#}"),
    };
    assert!(e.contains("--azure-compat") && e.contains("ca.pem"), "{e}");

    // With fresh TLS files, the new CA issues it.
    for f in ["ca.pem", "tls-cert.pem", "tls-key.pem"] {
        std::fs::remove_file(dir.path().join(f)).unwrap();
    }
    let server = qws_server::start(compat).await.unwrap();
    let proxy = server.proxy_addr.expect("proxy listening");
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
        )
    })
    .await
    .unwrap();
    assert!(refused.0.starts_with("HTTP/1.1 403"), "{}", refused.0);
    assert!(refused.1.starts_with("HTTP/1.1 403"), "{}", refused.1);
    assert!(refused.2.starts_with("HTTP/1.1 200"), "{}", refused.2);

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
    server.shutdown().await;
}
