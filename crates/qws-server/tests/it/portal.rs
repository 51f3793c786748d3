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

/// Signs in through the form; returns the response of the POST.
async fn sign_in(t: &TestServer, c: &Client, user: &str, password: &str) -> reqwest::Response {
    let page = c
        .get(format!("{}/portal/signin", t.https_url()))
        .send()
        .await
        .unwrap();
    let (pre, _) = set_cookie(&page, "__Host-qws-signin").expect("pre-sign-in cookie");
    let csrf = csrf_of(&page.text().await.unwrap());
    c.post(format!("{}/portal/signin", t.https_url()))
        .header("cookie", format!("__Host-qws-signin={pre}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", password),
            ("next", "/portal/"),
        ])
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
    assert!(after.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/portal/signin"));
}

#[tokio::test]
async fn wrong_password_is_refused_without_a_session_and_audited() {
    let t = TestServer::start().await;
    let c = browser(&t);
    let r = sign_in(&t, &c, &t.b("adminUser"), "Wrong-passw0rd").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&r, "__Host-qws-portal").is_none());
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Your account or password is incorrect."));
    assert!(t.audit_lines().iter().any(|l| l["action"] == "signin"
        && l["target"] == "portal/signin"
        && l["outcome"] != "success"));
    // A sign-in form post without its pre-sign-in cookie (login CSRF) is refused too.
    let forged = c
        .post(format!("{}/portal/signin", t.https_url()))
        .form(&[
            ("csrf", "x"),
            ("username", t.b("adminUser").as_str()),
            ("password", t.b("adminPassword").as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&forged, "__Host-qws-portal").is_none());
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
    for path in [
        "/portal/signin".to_string(),
        "/portal/".into(),
        keys_path(&t),
    ] {
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
