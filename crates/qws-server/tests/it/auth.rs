//! Management authentication: every ARM 401 code with a `WWW-Authenticate: Bearer` challenge,
//! audited failures, and authorization through the single `authorize` function.

use crate::common::*;
use qws_server::auth::jwt::Claims;
use reqwest::Method;
use serde_json::Value;

fn claims(t: &TestServer, aud: &str, exp_offset: i64) -> Claims {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let tid = t.b("tenantId");
    let admin = t
        .srv()
        .state
        .store
        .principal_by_client_id(&t.b("clientId"))
        .unwrap()
        .unwrap();
    Claims {
        aud: aud.into(),
        iss: format!("{}/{tid}/v2.0", t.https_url()),
        iat: now - 7200,
        nbf: now - 7200,
        exp: now + exp_offset,
        tid,
        oid: admin.object_id.clone(),
        sub: admin.object_id,
        appid: admin.client_id.clone(),
        azp: admin.client_id,
        idtyp: "app".into(),
        ver: "2.0".into(),
        uti: "x".into(),
        ..Default::default()
    }
}

async fn expect_401(r: reqwest::Response, code: &str) -> Value {
    let challenge = r
        .headers()
        .get("www-authenticate")
        .map(|h| h.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(challenge.starts_with("Bearer "), "challenge: {challenge:?}");
    assert!(challenge.contains("authorization_uri="));
    expect_error(r, 401, code).await
}

#[tokio::test]
async fn every_401_code() {
    let t = TestServer::start().await;
    let url = format!(
        "{}{}?api-version={V}",
        t.https_url(),
        t.ws_path("qws", "dev")
    );

    let r = t.https.get(&url).send().await.unwrap();
    let v = expect_401(r, "AuthenticationFailed").await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'Authorization' header is missing"));

    let r = t
        .https
        .get(&url)
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    expect_401(r, "AuthenticationFailed").await;

    let r = t
        .https
        .get(&url)
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .unwrap();
    expect_401(r, "InvalidAuthenticationToken").await;

    // A valid token with one signature byte changed.
    let good = t.mgmt_token().await;
    let mut tampered = good.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let r = t
        .https
        .get(&url)
        .bearer_auth(&tampered)
        .send()
        .await
        .unwrap();
    expect_401(r, "InvalidAuthenticationToken").await;

    // Payload swapped (signature no longer matches).
    let parts: Vec<&str> = good.split('.').collect();
    use base64::Engine;
    let mut payload: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    payload["exp"] = serde_json::json!(i64::MAX / 2);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    );
    let r = t.https.get(&url).bearer_auth(&forged).send().await.unwrap();
    expect_401(r, "InvalidAuthenticationToken").await;

    let expired = t
        .srv()
        .state
        .signer
        .issue(&claims(&t, "https://management.azure.com/", -3600))
        .unwrap();
    let r = t
        .https
        .get(&url)
        .bearer_auth(&expired)
        .send()
        .await
        .unwrap();
    let v = expect_401(r, "ExpiredAuthenticationToken").await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expiry UTC time"));

    let data_plane = t.token("https://quantum.microsoft.com/.default").await;
    let r = t
        .https
        .get(&url)
        .bearer_auth(&data_plane)
        .send()
        .await
        .unwrap();
    let v = expect_401(r, "InvalidAuthenticationTokenAudience").await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("https://quantum.microsoft.com"));

    let mut other_tenant = claims(&t, "https://management.azure.com/", 3600);
    other_tenant.tid = uuid::Uuid::new_v4().to_string();
    let token = t.srv().state.signer.issue(&other_tenant).unwrap();
    let r = t.https.get(&url).bearer_auth(&token).send().await.unwrap();
    expect_401(r, "InvalidAuthenticationToken").await;

    // Every accepted ARM audience works.
    for aud in [
        "https://management.azure.com",
        "https://management.azure.com/",
        "https://management.core.windows.net",
        "https://management.core.windows.net/",
    ] {
        let token = t.srv().state.signer.issue(&claims(&t, aud, 3600)).unwrap();
        let r = t.https.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{aud}");
    }

    let failures: Vec<Value> = t
        .audit_lines()
        .into_iter()
        .filter(|l| l["action"] == "authenticate")
        .collect();
    assert!(failures.len() >= 7, "{failures:?}");
    for f in &failures {
        assert!(f["outcome"].as_str().unwrap().starts_with("failure: "));
        assert_eq!(f["client"], "127.0.0.1");
        assert!(f["time"].as_str().is_some());
    }
    assert!(failures
        .iter()
        .any(|f| f["outcome"] == "failure: ExpiredAuthenticationToken"));
}

#[tokio::test]
async fn plain_http_listener_serves_the_same_management_api() {
    let t = TestServer::start().await;
    let token = t.mgmt_token().await;
    let r = t
        .http
        .get(format!(
            "{}{}?api-version={V}",
            t.http_url(),
            t.ws_path("qws", "dev")
        ))
        .bearer_auth(&token)
        .header("x-ms-client-request-id", "req-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-client-request-id"], "req-123");
    assert!(r.headers().get("x-ms-request-id").is_some());
}

#[tokio::test]
async fn non_admin_principals_are_denied_by_authorize() {
    let t = TestServer::start().await;
    let store = &t.srv().state.store;
    store
        .create_principal(
            &qws_store::Principal {
                client_id: "reader-app".into(),
                object_id: "reader-oid".into(),
                tenant_id: t.b("tenantId"),
                display_name: "reader".into(),
                is_admin: false,
            },
            "reader-secret",
        )
        .unwrap();
    let mut c = claims(&t, "https://management.azure.com/", 3600);
    c.oid = "reader-oid".into();
    c.appid = "reader-app".into();
    let token = t.srv().state.signer.issue(&c).unwrap();
    let r = t
        .arm_with(
            &token,
            Method::POST,
            &format!("{}/listKeys", t.ws_path("qws", "dev")),
            None,
        )
        .await;
    let v = expect_error(r, 403, "AuthorizationFailed").await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Microsoft.Quantum/Workspaces/listKeys/action"));
}
