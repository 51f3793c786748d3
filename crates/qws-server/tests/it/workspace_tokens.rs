//! Workspace access tokens: named, read-only or submit, time-limited data-plane credentials of
//! one workspace, created, listed and revoked through the management API, presented like an
//! access key, with their last use recorded.

use crate::common::dp::{Dp, BELL};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

fn in_secs(s: i64) -> String {
    qws_core::time_fmt::seconds_z(time::OffsetDateTime::now_utc() + time::Duration::seconds(s))
}

/// Creates a token; returns the create answer.
async fn create(t: &TestServer, ws: &str, name: &str, access: &str, expires: &str) -> Value {
    let r = t
        .arm(
            Method::PUT,
            &format!("{ws}/accessTokens/{name}"),
            Some(json!({"properties": {"access": access, "expiresOn": expires}})),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.json().await.unwrap()
}

fn with_token<'a>(t: &'a TestServer, rg: &str, ws: &str, token: &str) -> Dp<'a> {
    Dp {
        t,
        base: format!("{}{}", t.http_url(), t.ws_path(rg, ws)),
        key: token.to_string(),
    }
}

#[tokio::test]
async fn tokens_read_or_submit_until_they_expire_or_are_revoked() {
    let t = TestServer::start().await;
    let ws = t.ws_path("qws", "dev");

    // A submit token runs a job end to end; a read token follows it but changes nothing.
    let ci = create(&t, &ws, "ci", "Submit", &in_secs(3600)).await;
    let ci_token = ci["properties"]["token"].as_str().unwrap().to_string();
    assert!(ci_token.starts_with("qwt_"));
    assert_eq!(ci["properties"]["access"], "Submit");
    assert_eq!(ci["id"], format!("{ws}/accessTokens/ci"));
    let submitter = with_token(&t, "qws", "dev", &ci_token);
    submitter.submit("tok-1", BELL).await;
    let done = submitter.wait_for("tok-1", 30, |s| s == "Succeeded").await;
    assert_eq!(done["createdBy"], "accessToken:ci");

    let reviewer = create(&t, &ws, "reviewer", "read", &in_secs(3600)).await;
    let reader = with_token(
        &t,
        "qws",
        "dev",
        reviewer["properties"]["token"].as_str().unwrap(),
    );
    assert_eq!(reader.job("tok-1").await["status"], "Succeeded");
    let r = reader.call(Method::GET, "/jobs", None).await;
    assert_eq!(r.status(), 200);
    for (m, path, body) in [
        (
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": "x"})),
        ),
        (Method::PUT, "/jobs/tok-2", Some(json!({}))),
        (Method::DELETE, "/jobs/tok-1", None),
    ] {
        let r = reader.call(m, path, body).await;
        expect_error(r, 403, "AuthorizationFailed").await;
    }

    // A name is taken once; another workspace does not accept the token.
    let r = t
        .arm(
            Method::PUT,
            &format!("{ws}/accessTokens/CI"),
            Some(json!({"properties": {"access": "Read", "expiresOn": in_secs(60)}})),
        )
        .await;
    expect_error(r, 409, "AccessTokenExists").await;
    t.create_workspace("qws", "other").await;
    let elsewhere = with_token(&t, "qws", "other", &ci_token);
    assert_eq!(
        elsewhere.call(Method::GET, "/jobs", None).await.status(),
        401
    );

    // The list shows names, access, expiry and last use, never a token.
    let r = t
        .arm(Method::GET, &format!("{ws}/accessTokens"), None)
        .await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert!(!list.to_string().contains(&ci_token));
    let names: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ci", "reviewer"]);
    for v in list["value"].as_array().unwrap() {
        assert!(v["properties"]["lastUsedOn"].is_string(), "{v}");
        assert!(v["properties"]["token"].is_null());
        assert!(v["properties"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("qwt_"));
    }

    // Revoked: refused from the next request on, like an unknown key.
    let r = t
        .arm(Method::DELETE, &format!("{ws}/accessTokens/reviewer"), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(reader.call(Method::GET, "/jobs", None).await.status(), 401);
    let r = t
        .arm(Method::DELETE, &format!("{ws}/accessTokens/reviewer"), None)
        .await;
    assert_eq!(r.status(), 204);
    let r = t
        .arm(Method::GET, &format!("{ws}/accessTokens/reviewer"), None)
        .await;
    expect_error(r, 404, "AccessTokenNotFound").await;

    // Turning the workspace's keys off turns its tokens off too.
    let mut w: Value = t.arm_get_json(&ws).await;
    w["properties"]["apiKeyEnabled"] = json!(false);
    let r = t.arm(Method::PUT, &ws, Some(w)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(
        submitter.call(Method::GET, "/jobs", None).await.status(),
        401
    );

    // Expired: refused.
    t.create_workspace("qws", "brief").await;
    let brief_ws = t.ws_path("qws", "brief");
    let brief = create(&t, &brief_ws, "brief", "Read", &in_secs(2)).await;
    let brief = with_token(
        &t,
        "qws",
        "brief",
        brief["properties"]["token"].as_str().unwrap(),
    );
    assert_eq!(brief.call(Method::GET, "/jobs", None).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(brief.call(Method::GET, "/jobs", None).await.status(), 401);

    // Creation and revocation are audited, without the token.
    let audit: Vec<Value> = t.audit_lines();
    let text = serde_json::to_string(&audit).unwrap();
    assert!(text.contains("Microsoft.Quantum/Workspaces/accessTokens/write"));
    assert!(text.contains("Microsoft.Quantum/Workspaces/accessTokens/delete"));
    assert!(!text.contains(&ci_token));
}

#[tokio::test]
async fn bad_requests_and_roles() {
    let t = TestServer::start().await;
    let ws = t.ws_path("qws", "dev");
    for body in [
        json!({"properties": {"access": "Admin", "expiresOn": in_secs(60)}}),
        json!({"properties": {"access": "Read", "expiresOn": in_secs(-60)}}),
        json!({"properties": {"access": "Read", "expiresOn": in_secs(400 * 24 * 3600)}}),
        json!({"properties": {"access": "Read"}}),
    ] {
        let r = t
            .arm(Method::PUT, &format!("{ws}/accessTokens/x"), Some(body))
            .await;
        expect_error(r, 400, "InvalidRequestContent").await;
    }
    let r = t
        .arm(
            Method::PUT,
            &format!("{ws}/accessTokens/bad%20name"),
            Some(json!({"properties": {"access": "Read", "expiresOn": in_secs(60)}})),
        )
        .await;
    expect_error(r, 400, "InvalidAccessTokenName").await;

    // A Reader of the workspace sees the tokens but cannot create one.
    let r = t
        .arm(
            Method::POST,
            "/qws/directory/servicePrincipals",
            Some(json!({"displayName": "reviewer"})),
        )
        .await;
    let sp: Value = r.json().await.unwrap();
    let (oid, app) = (sp["id"].as_str().unwrap(), sp["appId"].as_str().unwrap());
    let r = t
        .arm(
            Method::POST,
            &format!("/qws/directory/servicePrincipals/{oid}/addPassword"),
            Some(json!({"passwordCredential": {}})),
        )
        .await;
    let secret = r.json::<Value>().await.unwrap()["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .arm(
            Method::PUT,
            &format!(
                "{ws}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                uuid::Uuid::new_v4()
            ),
            Some(json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{READER}", t.sub()),
                "principalId": oid, "principalType": "ServicePrincipal"}})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = t
        .https
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            t.https_url(),
            t.b("tenantId")
        ))
        .form(&[
            ("client_id", app),
            ("grant_type", "client_credentials"),
            ("client_secret", secret.as_str()),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .arm_with(&token, Method::GET, &format!("{ws}/accessTokens"), None)
        .await;
    assert_eq!(r.status(), 200);
    let r = t
        .arm_with(
            &token,
            Method::PUT,
            &format!("{ws}/accessTokens/mine"),
            Some(json!({"properties": {"access": "Submit", "expiresOn": in_secs(60)}})),
        )
        .await;
    expect_error(r, 403, "AuthorizationFailed").await;
}
