//! Token service: discovery, JWKS, client-credentials grant, OAuth2 errors, managed identity,
//! throttling of failed attempts.

use crate::common::*;
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn discovery_documents_point_at_this_server() {
    let t = TestServer::start().await;
    let tenant = t.b("tenantId");
    let base = t.https_url();
    let v: Value = t
        .https
        .get(format!(
            "{base}/{tenant}/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["token_endpoint"],
        format!("{base}/{tenant}/oauth2/v2.0/token")
    );
    assert_eq!(v["issuer"], format!("{base}/{tenant}/v2.0"));
    assert!(v["authorization_endpoint"]
        .as_str()
        .unwrap()
        .starts_with(&base));
    let jwks_uri = v["jwks_uri"].as_str().unwrap().to_string();
    let jwks: Value = t
        .https
        .get(jwks_uri)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "EC");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");

    let adfs: Value = t
        .https
        .get(format!("{base}/adfs/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(adfs["token_endpoint"], format!("{base}/adfs/oauth2/token"));

    let r = t
        .https
        .get(format!(
            "{base}/00000000-0000-0000-0000-00000000dead/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_tenant");
}

#[tokio::test]
async fn client_credentials_token_is_a_signed_jwt_with_the_expected_claims() {
    let t = TestServer::start().await;
    let token = t.token("https://quantum.microsoft.com/.default").await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "https://quantum.microsoft.com");
    assert_eq!(claims["tid"], t.b("tenantId"));
    assert_eq!(claims["appid"], t.b("clientId"));
    for k in ["exp", "nbf", "iat"] {
        assert!(claims[k].as_i64().unwrap() > 0);
    }
    assert!(claims["oid"].as_str().is_some());
    assert!(claims["iss"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/{}/v2.0", t.b("tenantId"))));
    // The Azure CLI's management scope has a double slash.
    let cli = t
        .token("https://management.core.windows.net//.default")
        .await;
    let r = t
        .arm_with(
            &cli,
            Method::GET,
            "/subscriptions?api-version=2022-12-01",
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn token_endpoint_errors_use_the_oauth2_shape() {
    let t = TestServer::start().await;
    let url = t.token_url();
    let post = |form: Vec<(&'static str, String)>| {
        let c = t.https.clone();
        let url = url.clone();
        async move { c.post(url).form(&form).send().await.unwrap() }
    };
    let cid = t.b("clientId");
    let scope = "https://management.azure.com/.default".to_string();

    let r = post(vec![
        ("client_id", cid.clone()),
        ("grant_type", "client_credentials".into()),
        ("client_secret", "wrong".into()),
        ("scope", scope.clone()),
    ])
    .await;
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    let bad_secret = e.clone();
    assert_eq!(e["error"], "invalid_client");
    assert!(e["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215"));
    assert!(e["error_codes"].as_array().is_some());
    assert!(e["trace_id"].as_str().is_some() && e["correlation_id"].as_str().is_some());

    let r = post(vec![
        ("client_id", uuid::Uuid::new_v4().to_string()),
        ("grant_type", "client_credentials".into()),
        ("client_secret", t.b("clientSecret")),
        ("scope", scope.clone()),
    ])
    .await;
    assert_eq!(
        r.status(),
        401,
        "unknown client id is refused like a bad secret"
    );
    // The same error, code and description: nothing tells an unknown client from a wrong secret.
    let e: Value = r.json().await.unwrap();
    for k in ["error", "error_codes"] {
        assert_eq!(e[k], bad_secret[k], "{k}: {e} vs {bad_secret}");
    }
    let description = |v: &Value| {
        let d = v["error_description"].as_str().unwrap().to_string();
        // Trace and correlation ids and the timestamp differ per response.
        d.split("Trace ID").next().unwrap().to_string()
    };
    assert_eq!(description(&e), description(&bad_secret));

    let r = post(vec![
        ("client_id", cid.clone()),
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:saml1_1-bearer".into(),
        ),
        ("scope", scope.clone()),
    ])
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );

    let r = post(vec![
        ("client_id", cid.clone()),
        ("grant_type", "client_credentials".into()),
        ("client_secret", t.b("clientSecret")),
        (
            "scope",
            "https://management.azure.com/user_impersonation".into(),
        ),
    ])
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");

    let r = post(vec![
        ("client_id", cid.clone()),
        ("grant_type", "client_credentials".into()),
        ("client_secret", t.b("clientSecret")),
        ("scope", "https://vault.azure.net/.default".into()),
    ])
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "invalid_resource"
    );

    // The failed secret was audited without the secret.
    let audit = std::fs::read_to_string(t.data_dir().join("audit.log")).unwrap();
    assert!(audit.contains("invalid_client"));
    assert!(!audit.contains("wrong\""));
}

#[tokio::test]
async fn adfs_and_v1_token_endpoints_work() {
    let t = TestServer::start().await;
    let form = |extra: (&'static str, &'static str)| {
        vec![
            ("client_id", t.b("clientId")),
            ("client_secret", t.b("clientSecret")),
            ("grant_type", "client_credentials".to_string()),
            (extra.0, extra.1.to_string()),
        ]
    };
    let r = t
        .https
        .post(format!("{}/adfs/oauth2/token", t.https_url()))
        .form(&form(("scope", "https://management.azure.com/.default")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .https
        .post(format!(
            "{}/{}/oauth2/token",
            t.https_url(),
            t.b("tenantId")
        ))
        .form(&form(("resource", "https://quantum.microsoft.com")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_on"].as_str().is_some());
}

#[tokio::test]
async fn managed_identity_endpoint_requires_the_identity_header() {
    let t = TestServer::start().await;
    let endpoint = t.b("identityEndpoint");
    assert!(endpoint.starts_with("http://"));
    let r = t
        .http
        .get(format!(
            "{endpoint}?api-version=2019-08-01&resource=https://management.azure.com"
        ))
        .header("X-IDENTITY-HEADER", t.b("identityHeader"))
        .header("Metadata", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let token = v["access_token"].as_str().unwrap().to_string();
    assert!(v["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    let r = t
        .arm_with(&token, Method::GET, &t.ws_path("qws", "dev"), None)
        .await;
    assert_eq!(r.status(), 200);

    let r = t
        .http
        .get(format!(
            "{endpoint}?api-version=2019-08-01&resource=https://management.azure.com"
        ))
        .header("X-IDENTITY-HEADER", "guess")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn managed_identity_endpoint_can_be_disabled() {
    let t = TestServer::start_with(|c| c.auth.enable_msi = false).await;
    assert!(t.bootstrap.get("identityEndpoint").is_none());
    let r = t
        .http
        .get(format!(
            "{}/msi/token?api-version=2019-08-01&resource=https://management.azure.com",
            t.http_url()
        ))
        .header("X-IDENTITY-HEADER", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let t = TestServer::start_with(|c| c.auth.failure_limit = 3).await;
    let url = t.token_url();
    let form = [
        ("client_id", t.b("clientId")),
        ("grant_type", "client_credentials".into()),
        ("client_secret", "wrong".into()),
        ("scope", "https://management.azure.com/.default".into()),
    ];
    for _ in 0..3 {
        assert_eq!(
            t.https
                .post(&url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let r = t.https.post(&url).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    // The management plane shares the per-address throttle and answers in ARM shape.
    let r = t
        .https
        .get(format!(
            "{}{}?api-version={V}",
            t.https_url(),
            t.ws_path("qws", "dev")
        ))
        .send()
        .await
        .unwrap();
    let r_status = r.status();
    let retry = r.headers().get("retry-after").is_some();
    let v: Value = r.json().await.unwrap();
    assert_eq!(r_status, 429);
    assert!(retry);
    assert_eq!(v["error"]["code"], "TooManyRequests");
}

/// A managed-identity request as if it came from `remote` (the router with the listener's
/// connection facts, so non-loopback peers can be simulated without leaving loopback).
async fn msi_from(t: &TestServer, remote: &str, header: &str) -> (u16, Value) {
    use tower::ServiceExt;
    let app = qws_server::routes::app(t.srv().state.clone());
    let mut req = axum::http::Request::get(
        "/msi/token?api-version=2019-08-01&resource=https://management.azure.com",
    )
    .header("X-IDENTITY-HEADER", header)
    .body(axum::body::Body::empty())
    .unwrap();
    req.extensions_mut()
        .insert(qws_server::http::conn::ConnInfo {
            remote: remote.parse().unwrap(),
            local: t.srv().http_addr,
            tls: false,
        });
    let r = app.oneshot(req).await.unwrap();
    let status = r.status().as_u16();
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn managed_identity_answers_loopback_clients_only() {
    let t = TestServer::start().await;
    let header = t.b("identityHeader");
    for remote in [
        "192.0.2.7:50000",
        "[2001:db8::7]:50000",
        "[::ffff:192.0.2.7]:1",
    ] {
        let (status, v) = msi_from(&t, remote, &header).await;
        assert_eq!(status, 403, "{remote}: {v}");
        assert_eq!(v["error"], "invalid_request");
        assert!(v.get("access_token").is_none());
    }
    for remote in [
        "127.0.0.1:50000",
        "127.0.0.9:1",
        "[::1]:50000",
        "[::ffff:127.0.0.1]:1",
    ] {
        let (status, v) = msi_from(&t, remote, &header).await;
        assert_eq!(status, 200, "{remote}: {v}");
    }
}

#[tokio::test]
async fn every_managed_identity_token_is_audited_without_the_token() {
    let t = TestServer::start().await;
    let r = t.msi_request("https://quantum.microsoft.com").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let token = v["access_token"].as_str().unwrap();
    let issued: Vec<Value> = t
        .audit_lines()
        .into_iter()
        .filter(|l| l["action"] == "msi/token" && l["outcome"] == "success")
        .collect();
    assert_eq!(issued.len(), 1, "{issued:?}");
    // The managed identity is a principal of its own, not the administrator.
    let msi_client = v["client_id"].as_str().unwrap();
    assert_ne!(msi_client, t.b("clientId"));
    assert_eq!(issued[0]["principal"], format!("msi:{msi_client}"));
    assert_eq!(issued[0]["target"], "https://quantum.microsoft.com");
    assert_eq!(issued[0]["client"], "127.0.0.1");
    let log = std::fs::read_to_string(t.data_dir().join("audit.log")).unwrap();
    assert!(!log.contains(token));
    let signature = token.rsplit('.').next().unwrap();
    assert!(!log.contains(signature));
}
