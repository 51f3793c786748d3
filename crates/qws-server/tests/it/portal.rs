//! The portal over real HTTP(S): the administrator user from bootstrap.json, sign-in and
//! sign-out with the session cookie's flags, refusal of state changes without the CSRF token,
//! the security headers, the plain-http redirect, and a Reader who sees no keys.

use crate::common::*;
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};

/// An HTTPS client that trusts the server's CA and does not follow redirects (the tests look
/// at them).
fn browser(t: &TestServer) -> Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&t.srv().ca_file).unwrap()).unwrap();
    Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .use_rustls_tls()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The value of the `name` cookie set by a response.
fn set_cookie(r: &reqwest::Response, name: &str) -> Option<(String, String)> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..].split(';').next().unwrap().to_string();
            (value, v.to_string())
        })
}

/// The first hidden `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// The portal's client id at the token service.
const PORTAL_APP_ID: &str = "2c5e9a3f-7d41-4e0b-9c6a-51b0f3d8e7a2";

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn query(u: &str, k: &str) -> Option<String> {
    url::Url::parse(u)
        .unwrap()
        .query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

/// A sign-in as far as the authorization endpoint's answer: the portal sends the browser to
/// `/authorize` (the pre-session cookie in hand), the form there is posted. Returns the
/// pre-session cookie and the answer to the post.
async fn authorize(
    t: &TestServer,
    c: &Client,
    user: &str,
    password: &str,
) -> (String, reqwest::Response) {
    let start = c
        .get(format!("{}/portal/", t.https_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let (pre, _) = set_cookie(&start, "__Host-qws-signin").expect("pre-session cookie");
    let to = start.headers()["location"].to_str().unwrap().to_string();
    let page = c.get(&to).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let (csrf_cookie, _) = set_cookie(&page, "qws_csrf").expect("the form's csrf cookie");
    let html = page.text().await.unwrap();
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
        .post(&to)
        .header("cookie", format!("qws_csrf={csrf_cookie}"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    (pre, r)
}

/// The portal's callback, called with a pre-session cookie (if any) and a query.
async fn callback(t: &TestServer, c: &Client, pre: Option<&str>, query: &str) -> reqwest::Response {
    let mut r = c.get(format!("{}/portal/callback?{query}", t.https_url()));
    if let Some(pre) = pre {
        r = r.header("cookie", format!("__Host-qws-signin={pre}"));
    }
    r.send().await.unwrap()
}

/// Signs in: authorize, then the callback with the code. Returns the callback's answer, or
/// the authorization endpoint's when it did not redirect.
async fn sign_in(t: &TestServer, c: &Client, user: &str, password: &str) -> reqwest::Response {
    let (pre, r) = authorize(t, c, user, password).await;
    if r.status() != StatusCode::FOUND {
        return r;
    }
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let callback_url = format!("{}/portal/callback?", t.https_url());
    assert!(to.starts_with(&callback_url), "{to}");
    c.get(&to)
        .header("cookie", format!("__Host-qws-signin={pre}"))
        .send()
        .await
        .unwrap()
}

/// Signs in and returns the session cookie value.
async fn session(t: &TestServer, c: &Client, user: &str, password: &str) -> String {
    let r = sign_in(t, c, user, password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    set_cookie(&r, "__Host-qws-portal")
        .expect("session cookie")
        .0
}

async fn get(t: &TestServer, c: &Client, cookie: &str, path: &str) -> reqwest::Response {
    c.get(format!("{}{path}", t.https_url()))
        .header("cookie", format!("__Host-qws-portal={cookie}"))
        .send()
        .await
        .unwrap()
}

fn keys_path(t: &TestServer) -> String {
    format!("/portal/ws/{}/qws/dev/keys", t.sub())
}

#[tokio::test]
async fn bootstrap_names_the_portal_and_its_administrator_who_can_sign_in() {
    let t = TestServer::start().await;
    let url = t.b("portalUrl");
    assert_eq!(url, format!("{}/portal/", t.https_url()));
    assert_eq!(t.b("adminUser"), "admin@qws.local");
    let c = browser(&t);
    let cookie = session(&t, &c, &t.b("adminUser"), &t.b("adminPassword")).await;
    let home = get(&t, &c, &cookie, "/portal/").await;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.unwrap();
    assert!(
        html.contains(">dev</a>"),
        "the bootstrap workspace is listed: {html}"
    );
    // The administrator is a user with Owner at subscription scope (RBAC, not a flag).
    let user = t
        .srv()
        .state
        .store
        .identity()
        .user_by_upn(&t.b("tenantId"), "admin@qws.local")
        .unwrap()
        .unwrap();
    let assignments = t
        .srv()
        .state
        .store
        .identity()
        .role_assignments_of_principal(&user.object_id)
        .unwrap();
    assert!(assignments.iter().any(|a| a
        .role_definition_id
        .ends_with(qws_core::rbac::builtin::OWNER)
        && a.scope.to_string() == format!("/subscriptions/{}", t.sub())));
}

#[tokio::test]
async fn session_cookie_is_locked_down_rotated_and_revoked_at_sign_out() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let (user, pw) = (t.b("adminUser"), t.b("adminPassword"));
    let r = sign_in(&t, &c, &user, &pw).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/portal/");
    let (first, header) = set_cookie(&r, "__Host-qws-portal").unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(header.contains(flag), "{flag} missing from {header}");
    }
    let second = session(&t, &c, &user, &pw).await;
    assert_ne!(first, second, "every sign-in gets a new session id");

    let home = get(&t, &c, &second, "/portal/").await;
    let csrf = csrf_of(&home.text().await.unwrap());
    // Sign-out needs the CSRF token too.
    let refused = c
        .post(format!("{}/portal/signout", t.https_url()))
        .header("cookie", format!("__Host-qws-portal={second}"))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        get(&t, &c, &second, "/portal/").await.status(),
        StatusCode::OK
    );
    let out = c
        .post(format!("{}/portal/signout", t.https_url()))
        .header("cookie", format!("__Host-qws-portal={second}"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    // The old cookie no longer works: the session is gone on the server.
    let after = get(&t, &c, &second, "/portal/").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    let to = after.headers()["location"].to_str().unwrap();
    assert!(
        to.starts_with(&format!(
            "{}/{}/oauth2/v2.0/authorize?",
            t.https_url(),
            t.b("tenantId")
        )),
        "{to}"
    );
    assert_eq!(query(to, "client_id").as_deref(), Some(PORTAL_APP_ID));
    assert_eq!(query(to, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(
        query(to, "redirect_uri"),
        Some(format!("{}/portal/callback", t.https_url()))
    );
    let (_, pre) = set_cookie(&after, "__Host-qws-signin").unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(pre.contains(flag), "{flag} missing from {pre}");
    }
}

#[tokio::test]
async fn wrong_password_is_refused_without_a_session_and_audited() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let r = sign_in(&t, &c, &t.b("adminUser"), "Wrong-passw0rd").await;
    // The authorization endpoint shows its form again with the error; no code, no session.
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&r, "__Host-qws-portal").is_none());
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Your account or password is incorrect."));
    assert!(t.audit_lines().iter().any(|l| l["action"] == "signin"
        && l["target"] == "portal/signin"
        && l["outcome"] != "success"));
}

#[tokio::test]
async fn the_callback_refuses_a_wrong_or_missing_state_and_no_pre_session() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let (user, pw) = (t.b("adminUser"), t.b("adminPassword"));
    let no_session = |r: &reqwest::Response| set_cookie(r, "__Host-qws-portal").is_none();

    // A wrong state: refused, and the sign-in is spent (the right state later is refused too).
    let (pre, r) = authorize(&t, &c, &user, &pw).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let (code, state) = (query(&to, "code").unwrap(), query(&to, "state").unwrap());
    let wrong = callback(&t, &c, Some(&pre), &format!("code={code}&state=x{state}")).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(no_session(&wrong));
    let again = callback(&t, &c, Some(&pre), &format!("code={code}&state={state}")).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(no_session(&again));
    assert!(t
        .audit_lines()
        .iter()
        .any(|l| l["target"] == "portal/callback"
            && l["outcome"].as_str().unwrap().starts_with("failure")));

    // No state at all.
    let (pre, r) = authorize(&t, &c, &user, &pw).await;
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let code = query(&to, "code").unwrap();
    let missing = callback(&t, &c, Some(&pre), &format!("code={code}")).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(no_session(&missing));

    // The right code and state, but not from the browser that started the sign-in (no
    // pre-session cookie, or another one): refused.
    let (pre, r) = authorize(&t, &c, &user, &pw).await;
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let q = to.split_once('?').unwrap().1.to_string();
    let bare = callback(&t, &c, None, &q).await;
    assert_eq!(bare.status(), StatusCode::BAD_REQUEST);
    assert!(no_session(&bare));
    let (other_pre, _) = authorize(&t, &c, &user, &pw).await;
    let other = callback(&t, &c, Some(&other_pre), &q).await;
    assert_eq!(other.status(), StatusCode::BAD_REQUEST);
    assert!(no_session(&other));
    // The browser that started it still signs in.
    let ok = callback(&t, &c, Some(&pre), &q).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert!(!no_session(&ok));
}

#[tokio::test]
async fn a_portal_code_is_useless_without_the_verifier() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let (pre, r) = authorize(&t, &c, &t.b("adminUser"), &t.b("adminPassword")).await;
    let to = r.headers()["location"].to_str().unwrap().to_string();
    let code = query(&to, "code").unwrap();
    // Someone who sees the code (it is in a URL) but not the verifier kept on the server.
    let callback_uri = format!("{}/portal/callback", t.https_url());
    let stolen = c
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            t.https_url(),
            t.b("tenantId")
        ))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", PORTAL_APP_ID),
            ("code", code.as_str()),
            ("redirect_uri", callback_uri.as_str()),
            ("code_verifier", &"A".repeat(43)),
            ("scope", "https://management.azure.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    let v: serde_json::Value = stolen.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");
    assert!(v["error_codes"].to_string().contains("501481"), "{v}");
    // The code was presented once, so the callback cannot use it either.
    let late = callback(&t, &c, Some(&pre), to.split_once('?').unwrap().1).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    assert!(set_cookie(&late, "__Host-qws-portal").is_none());
}

#[tokio::test]
async fn the_portal_client_may_redirect_only_to_its_own_callback() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let start = c
        .get(format!("{}/portal/", t.https_url()))
        .send()
        .await
        .unwrap();
    let good = start.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(c.get(&good).send().await.unwrap().status(), StatusCode::OK);
    let callback_uri = format!("{}/portal/callback", t.https_url());
    let with = |client: &str, redirect: &str| {
        let mut u = url::Url::parse(&good).unwrap();
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| match &*k {
                "redirect_uri" => (k.into_owned(), redirect.to_string()),
                "client_id" => (k.into_owned(), client.to_string()),
                _ => (k.into_owned(), v.into_owned()),
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
        u.to_string()
    };
    for (client, redirect) in [
        (
            PORTAL_APP_ID,
            "https://evil.example/portal/callback".to_string(),
        ),
        (PORTAL_APP_ID, format!("{callback_uri}/x")),
        (PORTAL_APP_ID, format!("{callback_uri}?next=//evil.example")),
        (PORTAL_APP_ID, "http://127.0.0.1:9999/".to_string()),
        // Another application may not use the portal's callback either.
        ("04b07795-8ddb-461a-bbee-02f9e1bf7b46", callback_uri.clone()),
    ] {
        let r = c.get(with(client, &redirect)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{client} {redirect}");
        assert!(r.headers().get("location").is_none());
    }
}

#[tokio::test]
async fn state_changes_without_the_csrf_token_are_refused() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let cookie = session(&t, &c, &t.b("adminUser"), &t.b("adminPassword")).await;
    let before = t.list_keys("qws", "dev").await;
    let regen = format!(
        "{}/portal/ws/{}/qws/dev/keys/regenerate",
        t.https_url(),
        t.sub()
    );
    let r = c
        .post(&regen)
        .header("cookie", format!("__Host-qws-portal={cookie}"))
        .form(&[("key", "Primary")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(t.list_keys("qws", "dev").await, before, "nothing changed");
    // The script endpoint that reveals keys needs the token in its header.
    let reveal = format!(
        "{}/portal/ws/{}/qws/dev/keys/reveal",
        t.https_url(),
        t.sub()
    );
    let r = c
        .post(&reveal)
        .header("cookie", format!("__Host-qws-portal={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // With the token the same request works, and is never cached.
    let page = get(&t, &c, &cookie, &keys_path(&t))
        .await
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let r = c
        .post(&reveal)
        .header("cookie", format!("__Host-qws-portal={cookie}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["primaryKey"], before["primaryKey"]["key"]);
    // The keys page itself never carries them.
    assert!(!page.contains(before["primaryKey"]["key"].as_str().unwrap()));
}

#[tokio::test]
async fn pages_carry_a_strict_csp_and_refuse_framing() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let cookie = session(&t, &c, &t.b("adminUser"), &t.b("adminPassword")).await;
    for path in ["/portal/".to_string(), keys_path(&t)] {
        let r = get(&t, &c, &cookie, &path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["cache-control"], "no-store");
        let html = r.text().await.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains(" style="),
            "{path}: inline code"
        );
    }
}

#[tokio::test]
async fn the_sign_in_page_has_a_strict_csp_and_the_accessible_names() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let start = c
        .get(format!("{}/portal/", t.https_url()))
        .send()
        .await
        .unwrap();
    let to = start.headers()["location"].to_str().unwrap().to_string();
    let r = c.get(&to).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("style-src 'sha256-") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.unwrap();
    for name in [
        "<label for=\"username\">Username</label>",
        "<label for=\"password\">Password</label>",
        "<button>Sign in</button>",
    ] {
        assert!(html.contains(name), "{name} missing: {html}");
    }
}

#[tokio::test]
async fn browsers_on_plain_http_are_sent_to_the_portal_and_api_clients_are_not() {
    let t = TestServer::start().await;
    let c = Client::builder().redirect(Policy::none()).build().unwrap();
    let r = c
        .get(format!("{}/", t.http_url()))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], t.b("portalUrl").as_str());
    let api = c.get(format!("{}/", t.http_url())).send().await.unwrap();
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    // Portal pages are never served over plain http.
    let p = c
        .get(format!("{}/portal/signin", t.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(p.status(), StatusCode::SEE_OTHER);
    assert!(p.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("https://"));
}

#[tokio::test]
async fn a_reader_sees_the_workspace_but_no_keys_and_cannot_reveal_them() {
    let t = TestServer::start().await;
    let id = t.srv().state.store.identity();
    let user = id
        .create_user(qws_store::identity::NewUser {
            tenant_id: &t.b("tenantId"),
            user_principal_name: "rita@qws.test",
            display_name: "Rita Reader",
            password: "Read-0nly-pass",
        })
        .unwrap();
    let scope = qws_core::rbac::Scope::parse(&format!("/subscriptions/{}", t.sub())).unwrap();
    id.put_role_assignment(qws_store::identity::AssignmentRequest {
        name: &uuid::Uuid::new_v4().to_string(),
        scope: &scope,
        role_definition_id: qws_core::rbac::builtin::READER,
        principal_id: &user.object_id,
        principal_type: None,
        description: None,
        actor: None,
    })
    .unwrap();
    let c = browser(&t);
    let cookie = session(&t, &c, "rita@qws.test", "Read-0nly-pass").await;
    let overview = get(
        &t,
        &c,
        &cookie,
        &format!("/portal/ws/{}/qws/dev/overview", t.sub()),
    )
    .await;
    assert_eq!(overview.status(), StatusCode::OK);
    let page = get(&t, &c, &cookie, &keys_path(&t))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Enable access keys"));
    for absent in [
        "Show<span class=\"vh\"> primary key",
        "Regenerate primary key",
        "data-reveal",
    ] {
        assert!(!page.contains(absent), "a Reader's page shows {absent}");
    }
    let csrf = csrf_of(&page);
    let r = c
        .post(format!(
            "{}/portal/ws/{}/qws/dev/keys/reveal",
            t.https_url(),
            t.sub()
        ))
        .header("cookie", format!("__Host-qws-portal={cookie}"))
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "the API refuses listKeys"
    );
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("does not have authorization"));
}

#[tokio::test]
async fn the_keys_page_shows_when_each_key_was_last_used() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let cookie = session(&t, &c, &t.b("adminUser"), &t.b("adminPassword")).await;
    let page = get(&t, &c, &cookie, &keys_path(&t))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<dt>Primary key last used</dt><dd>never</dd>"),
        "{page}"
    );
    // A data-plane request with the primary key; its use is written a moment later, off the
    // request's path.
    let dp = crate::common::dp::Dp::new(&t).await;
    let r = dp.call(reqwest::Method::GET, "/jobs", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut page = String::new();
    for _ in 0..100 {
        page = get(&t, &c, &cookie, &keys_path(&t))
            .await
            .text()
            .await
            .unwrap();
        if !page.contains("<dt>Primary key last used</dt><dd>never</dd>") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        page.contains("<dt>Primary key last used</dt><dd><time")
            && page.contains(" from 127.0.0.1"),
        "{page}"
    );
    assert!(
        page.contains("<dt>Secondary key last used</dt><dd>never</dd>"),
        "{page}"
    );
}
