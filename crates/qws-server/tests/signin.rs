//! User sign-in flows of the token service: the password grant (with lockout and disabled
//! accounts), refresh-token rotation and reuse revocation, and user tokens on the management
//! plane.

mod common;
use base64::Engine;
use common::*;
use reqwest::Method;
use serde_json::Value;

const PASSWORD: &str = "Corr3ct-Horse!";
/// The Azure CLI's public client id, as `az login -u/-p` sends it.
const AZ_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
const ARM_SCOPE: &str = "https://management.azure.com/.default openid profile offline_access";

/// Creates an enabled user in the server's tenant; returns its object id.
fn create_user(t: &TestServer, upn: &str) -> String {
    t.srv()
        .state
        .store
        .identity()
        .create_user(qws_store::identity::NewUser {
            tenant_id: &t.b("tenantId"),
            user_principal_name: upn,
            display_name: "Alice Example",
            password: PASSWORD,
        })
        .unwrap()
        .object_id
}

fn token_url(t: &TestServer) -> String {
    format!("{}/{}/oauth2/v2.0/token", t.https_url(), t.b("tenantId"))
}

async fn post_token(t: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let r = t.https.post(token_url(t)).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

async fn password_grant(t: &TestServer, upn: &str, password: &str) -> (u16, Value) {
    post_token(
        t,
        &[
            ("grant_type", "password"),
            ("client_id", AZ_CLI),
            ("username", upn),
            ("password", password),
            ("scope", ARM_SCOPE),
            ("client_info", "1"),
        ],
    )
    .await
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn assert_grant_error(status: u16, body: &Value, code: u64) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert_eq!(body["error_codes"][0], code, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with(&format!("AADSTS{code}:")),
        "{body}"
    );
}

#[tokio::test]
async fn password_grant_issues_user_tokens_shaped_like_entra() {
    let t = TestServer::start().await;
    let oid = create_user(&t, "alice@qws.test");
    let (status, v) = password_grant(&t, "Alice@qws.test", PASSWORD).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].as_u64().unwrap() > 3000);
    assert!(v["refresh_token"].as_str().unwrap().starts_with("qws_rt."));
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], oid.as_str());
    assert_eq!(c["tid"], t.b("tenantId"));
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["upn"], "alice@qws.test");
    assert_eq!(c["name"], "Alice Example");
    assert_eq!(c["scp"], "user_impersonation");
    assert_eq!(c["appid"], AZ_CLI);
    assert_eq!(c["azp"], AZ_CLI);
    assert_eq!(c["aud"], "https://management.azure.com/");
    assert!(c["jti"].is_string());
    let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert_eq!(lifetime, 3600);
    let id = claims(v["id_token"].as_str().unwrap());
    assert_eq!(id["aud"], AZ_CLI);
    assert_eq!(id["preferred_username"], "alice@qws.test");
    assert_eq!(id["oid"], oid.as_str());
    let info: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(v["client_info"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(info["uid"], oid.as_str());

    // The management plane knows the caller (a user, never the administrator): authorization
    // refuses it by name rather than the token being refused as invalid.
    let r = t
        .arm_with(
            v["access_token"].as_str().unwrap(),
            Method::POST,
            &format!("{}/listKeys", t.ws_path("qws", "dev")),
            None,
        )
        .await;
    let e = expect_error(r, 403, "AuthorizationFailed").await;
    assert!(
        e["error"]["message"].as_str().unwrap().contains(&oid),
        "{e}"
    );

    // The v1 endpoint names the resource instead.
    let r = t
        .https
        .post(format!(
            "{}/{}/oauth2/token",
            t.https_url(),
            t.b("tenantId")
        ))
        .form(&[
            ("grant_type", "password"),
            ("client_id", AZ_CLI),
            ("username", "alice@qws.test"),
            ("password", PASSWORD),
            ("resource", "https://management.core.windows.net/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["aud"],
        "https://management.core.windows.net/"
    );
    assert!(v["expires_on"].is_string());
}

#[tokio::test]
async fn password_grant_refuses_wrong_passwords_locks_out_and_refuses_disabled_users() {
    let t = TestServer::start().await;
    let oid = create_user(&t, "bob@qws.test");
    let (status, v) = password_grant(&t, "bob@qws.test", "Wrong-pass1").await;
    assert_grant_error(status, &v, 50126);
    // Unknown users get the same answer.
    let (status, v) = password_grant(&t, "nobody@qws.test", PASSWORD).await;
    assert_grant_error(status, &v, 50126);
    assert!(!v.to_string().contains(PASSWORD));
    let lines = t.audit_lines();
    assert!(lines
        .iter()
        .any(|l| l["principal"] == "user:bob@qws.test" && l["action"] == "signin"));
    assert!(!std::fs::read_to_string(t.data_dir().join("audit.log"))
        .unwrap()
        .contains("Wrong-pass1"));

    // The store's lockout: ten failures in a row lock the account; then even the right
    // password is refused.
    for _ in 0..9 {
        let (status, v) = password_grant(&t, "bob@qws.test", "Wrong-pass1").await;
        assert_grant_error(status, &v, 50126);
    }
    let (status, v) = password_grant(&t, "bob@qws.test", PASSWORD).await;
    assert_grant_error(status, &v, 50053);

    // Disabled: refused with the right password.
    let store = &t.srv().state.store;
    store.identity().unlock_user(&oid).unwrap();
    let (status, _) = password_grant(&t, "bob@qws.test", PASSWORD).await;
    assert_eq!(status, 200);
    store.identity().set_enabled(&oid, false).unwrap();
    let (status, v) = password_grant(&t, "bob@qws.test", PASSWORD).await;
    assert_grant_error(status, &v, 50057);

    // A client id that is not a GUID is refused before any password is checked.
    let (status, v) = post_token(
        &t,
        &[
            ("grant_type", "password"),
            ("client_id", "not-a-client"),
            ("username", "bob@qws.test"),
            ("password", PASSWORD),
            ("scope", ARM_SCOPE),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["error"], "unauthorized_client");
}

async fn refresh(t: &TestServer, token: &str) -> (u16, Value) {
    post_token(
        t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", AZ_CLI),
            ("refresh_token", token),
            (
                "scope",
                "https://quantum.microsoft.com/.default openid offline_access",
            ),
        ],
    )
    .await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_revokes_the_sign_in() {
    let t = TestServer::start().await;
    let oid = create_user(&t, "carol@qws.test");
    let (_, v) = password_grant(&t, "carol@qws.test", PASSWORD).await;
    let first = v["refresh_token"].as_str().unwrap().to_string();

    // A refresh token buys a token for another resource, and a new refresh token.
    let (status, v) = refresh(&t, &first).await;
    assert_eq!(status, 200, "{v}");
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://quantum.microsoft.com");
    assert_eq!(c["oid"], oid.as_str());
    assert_eq!(c["idtyp"], "user");
    let second = v["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(first, second);

    // Issued to another client: refused.
    let (status, v) = post_token(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "1950a258-227b-4e31-a9cf-717495945fc2"),
            ("refresh_token", &second),
            ("scope", ARM_SCOPE),
        ],
    )
    .await;
    assert_grant_error(status, &v, 70000);

    // The first one again: reuse. The whole sign-in is revoked, the second one included.
    let (status, v) = refresh(&t, &first).await;
    assert_grant_error(status, &v, 70000);
    let (status, v) = refresh(&t, &second).await;
    assert_grant_error(status, &v, 70000);

    // Disabling a user ends its sign-ins at once.
    let (_, v) = password_grant(&t, "carol@qws.test", PASSWORD).await;
    let live = v["refresh_token"].as_str().unwrap().to_string();
    t.srv()
        .state
        .store
        .identity()
        .set_enabled(&oid, false)
        .unwrap();
    let (status, v) = refresh(&t, &live).await;
    assert_grant_error(status, &v, 70000);

    // Garbage is refused in the same shape.
    let (status, v) = refresh(&t, "qws_rt.nope").await;
    assert_grant_error(status, &v, 70000);
}

// ---- device code flow ----------------------------------------------------------------------

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

async fn device_code(t: &TestServer) -> Value {
    let r = t
        .https
        .post(format!(
            "{}/{}/oauth2/v2.0/devicecode",
            t.https_url(),
            t.b("tenantId")
        ))
        .form(&[("client_id", AZ_CLI), ("scope", ARM_SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn poll(t: &TestServer, device_code: &str) -> (u16, Value) {
    post_token(
        t,
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", AZ_CLI),
            ("device_code", device_code),
        ],
    )
    .await
}

/// Polls (as MSAL does, once a second) until the answer is neither pending nor slow_down.
async fn poll_until_final(t: &TestServer, device_code: &str) -> (u16, Value) {
    let deadline = std::time::Instant::now() + WAIT_DEADLINE;
    loop {
        let (status, v) = poll(t, device_code).await;
        let e = v["error"].as_str().unwrap_or("");
        if e != "authorization_pending" && e != "slow_down" {
            return (status, v);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "device code still pending"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Loads the verification page; returns the CSRF form field and the cookie to send back.
async fn verification_form(t: &TestServer, url: &str) -> (String, String) {
    let r = t.https.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Secure")
    );
    let cookie = cookie.split(';').next().unwrap().to_string();
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    let html = r.text().await.unwrap();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (csrf, cookie)
}

async fn submit_form(
    t: &TestServer,
    url: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let r = t
        .https
        .post(url)
        .header("cookie", cookie)
        .form(fields)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn device_code_flow_completes_through_the_verification_page() {
    let t = TestServer::start().await;
    let oid = create_user(&t, "dana@qws.test");
    let dc = device_code(&t).await;
    let url = dc["verification_uri"].as_str().unwrap().to_string();
    assert_eq!(url, format!("{}/devicelogin", t.https_url()));
    assert_eq!(dc["interval"], 5);
    assert_eq!(dc["expires_in"], 900);
    let user_code = dc["user_code"].as_str().unwrap().to_string();
    assert!(dc["message"].as_str().unwrap().contains(&user_code));
    let device = dc["device_code"].as_str().unwrap().to_string();

    let (status, v) = poll(&t, &device).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (status, v) = poll(&t, &device).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("slow_down")));

    let (csrf, cookie) = verification_form(&t, &url).await;
    // Without the matching cookie the form is refused, whatever it carries.
    let (status, _) = submit_form(
        &t,
        &url,
        "qws_csrf=forged",
        &[
            ("csrf", &csrf),
            ("user_code", &user_code),
            ("username", "dana@qws.test"),
            ("password", PASSWORD),
            ("action", "approve"),
        ],
    )
    .await;
    assert_eq!(status, 403);
    // A wrong password leaves the code waiting.
    let (status, html) = submit_form(
        &t,
        &url,
        &cookie,
        &[
            ("csrf", &csrf),
            ("user_code", &user_code),
            ("username", "dana@qws.test"),
            ("password", "Wrong-pass1"),
            ("action", "approve"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("incorrect"));
    // An unknown code is refused.
    let (status, _) = submit_form(
        &t,
        &url,
        &cookie,
        &[
            ("csrf", &csrf),
            ("user_code", "ZZZZZZZZZ"),
            ("username", "dana@qws.test"),
            ("password", PASSWORD),
            ("action", "approve"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    // Lower case with a dash, as people type it.
    let typed = format!("{}-{}", &user_code[..4].to_lowercase(), &user_code[4..]);
    let (status, html) = submit_form(
        &t,
        &url,
        &cookie,
        &[
            ("csrf", &csrf),
            ("user_code", &typed),
            ("username", "dana@qws.test"),
            ("password", PASSWORD),
            ("action", "approve"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("signed in"));

    let (status, v) = poll_until_final(&t, &device).await;
    assert_eq!(status, 200, "{v}");
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], oid.as_str());
    assert_eq!(c["idtyp"], "user");
    assert!(v["refresh_token"].is_string());
    assert!(v["id_token"].is_string());
    // A device code is redeemed once.
    let (status, v) = poll(&t, &device).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn device_codes_expire_and_can_be_declined() {
    let t = TestServer::start_with(|c| {
        c.device_code_lifetime = std::time::Duration::from_secs(1);
    })
    .await;
    create_user(&t, "erin@qws.test");
    let dc = device_code(&t).await;
    let (status, v) = poll_until_final(&t, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("expired_token")),
        "{v}"
    );
    assert_eq!(v["error_codes"][0], 70020);
    t.stop().await;

    let t = TestServer::start().await;
    let dc = device_code(&t).await;
    let url = dc["verification_uri"].as_str().unwrap();
    let (csrf, cookie) = verification_form(&t, url).await;
    let (status, html) = submit_form(
        &t,
        url,
        &cookie,
        &[
            ("csrf", &csrf),
            ("user_code", dc["user_code"].as_str().unwrap()),
            ("action", "deny"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("declined"));
    let (status, v) = poll_until_final(&t, dc["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (400, Some("access_denied")),
        "{v}"
    );
}

#[tokio::test]
async fn pending_device_codes_are_bounded() {
    let t = TestServer::start_with(|c| c.max_pending_sign_ins = 2).await;
    device_code(&t).await;
    device_code(&t).await;
    let r = t
        .https
        .post(format!(
            "{}/{}/oauth2/v2.0/devicecode",
            t.https_url(),
            t.b("tenantId")
        ))
        .form(&[("client_id", AZ_CLI), ("scope", ARM_SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "temporarily_unavailable");
}
