//! A forged `Host` never shapes the links qws hands out: ARM `nextLink`, the OIDC issuer and
//! endpoints, and the `iss` of tokens use the configured URL unless the Host is one the server
//! answers to (loopback names with the listener port, `--public-url`, `--allowed-host`).

use crate::common::*;
use serde_json::Value;

async fn discovery(t: &TestServer, host: &str) -> Value {
    t.https
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            t.https_url(),
            t.b("tenantId")
        ))
        .header("Host", host)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_foreign_host_gets_the_configured_url_in_oidc_documents() {
    let t = TestServer::start().await;
    let base = t.https_url();
    let tenant = t.b("tenantId");
    for host in ["evil.example", "evil.example:443", "127.0.0.1:1"] {
        let v = discovery(&t, host).await;
        assert_eq!(v["issuer"], format!("{base}/{tenant}/v2.0"), "Host {host}");
        for k in ["token_endpoint", "jwks_uri", "authorization_endpoint"] {
            assert!(v[k].as_str().unwrap().starts_with(&base), "{k}: {v}");
        }
    }
    let adfs: Value = t
        .https
        .get(format!("{base}/adfs/.well-known/openid-configuration"))
        .header("Host", "evil.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(adfs["issuer"], format!("{base}/adfs"));
    // The authority a local client used is kept: MSAL takes the token endpoint from here.
    let port = t.srv().https_addr.port();
    let v = discovery(&t, &format!("localhost:{port}")).await;
    assert_eq!(
        v["issuer"],
        format!("https://localhost:{port}/{tenant}/v2.0")
    );
    // A token requested under a forged Host is issued by the configured URL.
    let r = t
        .https
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .header("Host", "evil.example")
        .form(&[
            ("client_id", t.b("clientId")),
            ("grant_type", "client_credentials".into()),
            ("client_secret", t.b("clientSecret")),
            ("scope", "https://management.azure.com/.default".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let token = v["access_token"].as_str().unwrap();
    let claims = token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(claims)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], format!("{base}/{tenant}/v2.0"));
}

#[tokio::test]
async fn a_foreign_host_gets_the_configured_url_in_next_links() {
    let t = TestServer::start_with(|c| {
        c.mgmt.page_size = 1;
        c.listeners.allowed_hosts = vec!["qws.lan".into()];
    })
    .await;
    t.create_workspace("qws", "w2").await;
    let token = t.mgmt_token().await;
    let url = format!(
        "{}/subscriptions/{}/providers/Microsoft.Quantum/workspaces?api-version={V}",
        t.https_url(),
        t.sub()
    );
    let next = |host: &'static str| {
        let req = t.https.get(&url).bearer_auth(&token).header("Host", host);
        async move {
            let v: Value = req.send().await.unwrap().json().await.unwrap();
            v["nextLink"].as_str().unwrap().to_string()
        }
    };
    let link = next("evil.example").await;
    assert!(
        link.starts_with(&format!("{}/subscriptions/", t.https_url())),
        "{link}"
    );
    // An --allowed-host is kept.
    let link = next("qws.lan:8443").await;
    assert!(
        link.starts_with("https://qws.lan:8443/subscriptions/"),
        "{link}"
    );
}

#[tokio::test]
async fn the_public_url_is_the_canonical_base() {
    let t = TestServer::start_with(|c| {
        c.listeners.public_url = Some("https://qws.example:9443/".into())
    })
    .await;
    let v = discovery(&t, "evil.example").await;
    assert_eq!(
        v["issuer"],
        format!("https://qws.example:9443/{}/v2.0", t.b("tenantId"))
    );
}
