//! User sign-in flows of the token service: the password grant (with lockout and disabled
//! accounts), refresh-token rotation and reuse revocation, and user tokens on the management
//! plane.

use crate::common::*;
use base64::Engine;
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

async fn post_token(t: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let r = t.https.post(t.token_url()).form(form).send().await.unwrap();
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
async fn user_realm_discovery_says_managed_so_msal_sends_the_password_grant() {
    let t = TestServer::start().await;
    let r = t
        .https
        .get(format!(
            "{}/common/userrealm/alice@qws.test?api-version=1.0",
            t.https_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["account_type"], "Managed");
    assert_eq!(v["domain_name"], "qws.test");
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
        c.auth.device_code_lifetime = std::time::Duration::from_secs(1);
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
    let t = TestServer::start_with(|c| c.auth.max_pending_sign_ins = 2).await;
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

// ---- authorization code with PKCE ------------------------------------------------------------

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier-0123";
const REDIRECT: &str = "http://localhost:8400/callback";

fn challenge(verifier: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// An HTTPS client that does not follow redirects (the redirect goes to the client's listener).
fn no_redirects(t: &TestServer) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&t.srv().ca_file).unwrap()).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn authorize_url(t: &TestServer, redirect: &str) -> String {
    let mut u = url::Url::parse(&format!(
        "{}/{}/oauth2/v2.0/authorize",
        t.https_url(),
        t.b("tenantId")
    ))
    .unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", AZ_CLI)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", ARM_SCOPE)
        .append_pair("state", "st&ate 1")
        .append_pair("nonce", "n-0S6")
        .append_pair("code_challenge", &challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256");
    u.to_string()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Signs in through the authorize page; returns the redirect location.
async fn authorize(t: &TestServer, user: &str, password: &str) -> url::Url {
    let c = no_redirects(t);
    let url = authorize_url(t, REDIRECT);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = r.text().await.unwrap();
    let mut fields: Vec<(String, String)> = html
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|s| {
            let (name, rest) = s.split_once("\" value=\"").unwrap();
            (name.to_string(), unescape(rest.split('"').next().unwrap()))
        })
        .collect();
    fields.push(("username".into(), user.into()));
    fields.push(("password".into(), password.into()));
    let r = c
        .post(url.split('?').next().unwrap())
        .header("cookie", cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap()
}

fn query(u: &url::Url, k: &str) -> Option<String> {
    u.query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

async fn redeem(t: &TestServer, code: &str, verifier: &str, redirect: &str) -> (u16, Value) {
    post_token(
        t,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", AZ_CLI),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("scope", ARM_SCOPE),
        ],
    )
    .await
}

#[tokio::test]
async fn authorization_code_with_pkce_signs_a_user_in_once() {
    let t = TestServer::start().await;
    let oid = create_user(&t, "frank@qws.test");
    let to = authorize(&t, "frank@qws.test", PASSWORD).await;
    assert!(to.as_str().starts_with(REDIRECT));
    assert_eq!(query(&to, "state").as_deref(), Some("st&ate 1"));
    let code = query(&to, "code").unwrap();

    // Another redirect URI or client: refused (and the code is spent).
    let (status, v) = redeem(&t, &code, VERIFIER, "http://localhost:8401/callback").await;
    assert_grant_error(status, &v, 70000);
    let (status, v) = redeem(&t, &code, VERIFIER, REDIRECT).await;
    assert_grant_error(status, &v, 54005);

    // A wrong verifier: refused.
    let code = query(&authorize(&t, "frank@qws.test", PASSWORD).await, "code").unwrap();
    let (status, v) = redeem(&t, &code, &format!("{VERIFIER}x"), REDIRECT).await;
    assert_grant_error(status, &v, 501481);

    // The right one: tokens, with the nonce in the ID token; then the code is used up.
    let code = query(&authorize(&t, "frank@qws.test", PASSWORD).await, "code").unwrap();
    let (status, v) = redeem(&t, &code, VERIFIER, REDIRECT).await;
    assert_eq!(status, 200, "{v}");
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["oid"], oid.as_str());
    assert_eq!(c["idtyp"], "user");
    assert_eq!(claims(v["id_token"].as_str().unwrap())["nonce"], "n-0S6");
    assert!(v["refresh_token"].is_string());
    let (status, v) = redeem(&t, &code, VERIFIER, REDIRECT).await;
    assert_grant_error(status, &v, 54005);
}

#[tokio::test]
async fn authorize_refuses_foreign_redirects_missing_pkce_and_wrong_passwords() {
    let t = TestServer::start().await;
    create_user(&t, "gina@qws.test");
    let c = no_redirects(&t);
    for bad in [
        "https://evil.example/callback",
        "http://localhost.evil.example/cb",
        "http://user@localhost/cb",
        "http://10.0.0.1/cb",
        "https://localhost/cb",
    ] {
        let r = c.get(authorize_url(&t, bad)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.headers().get("location").is_none(), "{bad}");
    }
    // 127.0.0.1 is a loopback redirect too.
    let r = c
        .get(authorize_url(&t, "http://127.0.0.1:9999/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Without PKCE: the error goes back to the (valid) redirect URI.
    let no_pkce = authorize_url(&t, REDIRECT)
        .replace("code_challenge_method=S256", "code_challenge_method=plain");
    let r = c.get(no_pkce).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let to = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(query(&to, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query(&to, "state").as_deref(), Some("st&ate 1"));

    // A wrong password shows the form again, no redirect.
    let url = authorize_url(&t, REDIRECT);
    let r = c.get(&url).send().await.unwrap();
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let html = r.text().await.unwrap();
    let fields: Vec<(String, String)> = html
        .split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|s| {
            let (name, rest) = s.split_once("\" value=\"").unwrap();
            (name.to_string(), unescape(rest.split('"').next().unwrap()))
        })
        .chain([
            ("username".to_string(), "gina@qws.test".to_string()),
            ("password".to_string(), "Wrong-pass1".to_string()),
        ])
        .collect();
    let post = url.split('?').next().unwrap().to_string();
    let r = c
        .post(&post)
        .header("cookie", &cookie)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // And without the CSRF cookie the form is refused.
    let r = c.post(&post).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn the_adfs_authority_has_the_user_flows_too() {
    let t = TestServer::start().await;
    create_user(&t, "hana@qws.test");
    let v: Value = t
        .https
        .get(format!(
            "{}/adfs/.well-known/openid-configuration",
            t.https_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let devicecode = v["device_authorization_endpoint"].as_str().unwrap();
    let r = t
        .https
        .post(devicecode)
        .form(&[("client_id", AZ_CLI), ("scope", ARM_SCOPE)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .https
        .post(format!("{}/adfs/oauth2/token", t.https_url()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", AZ_CLI),
            ("username", "hana@qws.test"),
            ("password", PASSWORD),
            ("scope", ARM_SCOPE),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
