//! The device-login page (`GET/POST /devicelogin`): a small server-rendered form with no external
//! assets, where a person enters the user code shown by `az login --use-device-code` with their
//! name and password, or declines.
//!
//! CSRF: every form carries a fresh random token, also set as a `SameSite=Strict`, `HttpOnly`
//! cookie; a POST is accepted only when both are present and equal (compared in constant time),
//! so another site can neither read the token nor make a browser send the cookie with its post.

use super::device::{self, Decision};
use super::password_sign_in;
use crate::auth::gate::{self, Failure, Rejection};
use crate::auth::ratelimit::GuessTarget;
use crate::http::conn::ConnInfo;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// Largest form body accepted.
const MAX_FORM: usize = 16 * 1024;
const CSRF_COOKIE: &str = "qws_csrf";

pub(crate) use crate::http::html::escape;

/// The status a sign-in form is shown again with after a failed password sign-in: 429 while
/// the attempts are throttled, 500 for an internal failure, else 400.
pub(crate) fn failed_sign_in_status(e: &super::SignInError) -> StatusCode {
    match e {
        super::SignInError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
        super::SignInError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn new_csrf_token() -> Option<String> {
    let mut b = [0u8; 32];
    qws_core::keys::fill_random(&mut b).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// The sign-in pages' one style sheet, inline and allowed by its hash (no `unsafe-inline`).
const STYLE: &str = "body{font-family:sans-serif;max-width:26em;margin:3em auto}\
label,input,button{display:block;margin:.4em 0}input{width:100%}.error{color:#a00}";

/// The pages' Content-Security-Policy: nothing but [`STYLE`] and posting forms to this origin.
fn content_security_policy() -> &'static HeaderValue {
    static CSP: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    CSP.get_or_init(|| {
        let d = ring::digest::digest(&ring::digest::SHA256, STYLE.as_bytes());
        let hash = base64::engine::general_purpose::STANDARD.encode(d.as_ref());
        HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        ))
        .unwrap_or(HeaderValue::from_static(
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
        ))
    })
}

/// A page with the security headers every sign-in page carries.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"><style>{STYLE}</style></head>\
         <body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    );
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        content_security_policy().clone(),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// A page holding a form, with a new CSRF token in the form and its cookie.
pub(crate) fn form_page(
    conn: &ConnInfo,
    status: StatusCode,
    title: &str,
    render: impl FnOnce(&str) -> String,
) -> Response {
    let Some(token) = new_csrf_token() else {
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "<p>Internal error.</p>",
        );
    };
    let mut resp = page(status, title, &render(&token));
    let secure = if conn.tls { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// Whether the form's CSRF field matches its cookie.
pub(crate) fn csrf_ok(headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let presented = form.get("csrf").map(String::as_str).unwrap_or("");
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == CSRF_COOKIE)
        .map(|(_, v)| v)
        .unwrap_or("");
    !presented.is_empty() && bool::from(presented.as_bytes().ct_eq(cookie.as_bytes()))
}

/// Parses a bounded urlencoded form body.
pub(crate) fn parse_form(body: &[u8]) -> Option<HashMap<String, String>> {
    (body.len() <= MAX_FORM).then(|| url::form_urlencoded::parse(body).into_owned().collect())
}

fn device_form(csrf: &str, user_code: &str, username: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    format!(
        "{error}<p>Enter the code displayed on your device or in your terminal, then sign in.</p>\
         <form method=\"post\" action=\"/devicelogin\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <label for=\"user_code\">Code</label><input id=\"user_code\" name=\"user_code\" value=\"{code}\" autocomplete=\"off\" required>\
         <label for=\"username\">User name</label><input id=\"username\" name=\"username\" value=\"{user}\" autocomplete=\"username\">\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\
         <button name=\"action\" value=\"approve\">Sign in</button>\
         <button name=\"action\" value=\"deny\" formnovalidate>Cancel sign-in</button></form>",
        csrf = escape(csrf),
        code = escape(user_code),
        user = escape(username),
    )
}

/// `GET /devicelogin`.
pub(crate) async fn device_login_page(conn: ConnInfo) -> Response {
    form_page(&conn, StatusCode::OK, "Sign in to qws", |csrf| {
        device_form(csrf, "", "", None)
    })
}

/// `POST /devicelogin`.
pub(crate) async fn device_login_submit(
    State(state): State<AppState>,
    conn: ConnInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(form) = parse_form(&body) else {
        return page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Sign in to qws",
            "<p>The form is too large.</p>",
        );
    };
    if !csrf_ok(&headers, &form) {
        return form_page(&conn, StatusCode::FORBIDDEN, "Sign in to qws", |csrf| {
            device_form(
                csrf,
                "",
                "",
                Some("This form has expired or did not come from this page. Please try again."),
            )
        });
    }
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let user_code = device::normalize_user_code(get("user_code"));
    let username = get("username").chars().take(256).collect::<String>();
    let retry = |status: StatusCode, message: &str| {
        form_page(&conn, status, "Sign in to qws", |csrf| {
            device_form(csrf, &user_code, &username, Some(message))
        })
    };
    // A user code is a credential too: wrong ones are counted and throttled.
    let code_check = async {
        if device::is_pending(&state, &user_code) {
            Ok(())
        } else {
            Err(Rejection::Credential(
                None,
                Failure::anonymous(
                    conn.remote,
                    crate::audit::AuditAction::SignIn,
                    "devicelogin",
                    "invalid user code",
                )
                .guessing(GuessTarget::new("user code", "")),
            ))
        }
    };
    if let Err(retry_after) = gate::authenticate(&state, code_check, Some).await {
        return match retry_after {
            Some(_) => retry(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts. Try again later.",
            ),
            None => retry(
                StatusCode::BAD_REQUEST,
                "That code is wrong or has expired. Check the code and try again.",
            ),
        };
    }
    if get("action") == "deny" {
        device::decide(&state, &user_code, Decision::Deny);
        return page(
            StatusCode::OK,
            "Sign-in cancelled",
            "<p>You have declined the sign-in. You may close this window.</p>",
        );
    }
    let password = zeroize::Zeroizing::new(get("password").to_string());
    let user = match password_sign_in(
        &state,
        conn,
        &state.ids.tenant_id,
        &username,
        &password,
        "devicelogin",
    )
    .await
    {
        Ok(u) => u,
        Err(e) => return retry(failed_sign_in_status(&e), e.message()),
    };
    let name = user.user_principal_name.clone();
    if !device::decide(&state, &user_code, Decision::Approve(user)) {
        return retry(
            StatusCode::BAD_REQUEST,
            "That code is wrong or has expired. Check the code and try again.",
        );
    }
    page(
        StatusCode::OK,
        "You are signed in",
        &format!(
            "<p>You have signed in as {} on your device. You may close this window.</p>",
            escape(&name)
        ),
    )
}
