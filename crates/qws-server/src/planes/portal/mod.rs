//! The qws portal: server-rendered pages under `/portal/` on the TLS listener for people who
//! manage workspaces in a browser.
//!
//! * [`session`]: the session cookie, its timeouts and revocation, CSRF tokens.
//! * [`api`]: the signed-in user ([`api::Portal`]) and the in-process API calls every page and
//!   action is made of (the same handlers, the same RBAC decision as any API client).
//! * [`html`]: escaping, the page frame, security headers (strict CSP, no framing).
//! * [`pages`]: the pages.
//! * `assets/`: one CSS and one JS file, embedded in the binary.
//!
//! * [`signin`]: sign-in through the token service's authorization-code flow with PKCE.
//!
//! Browsers that ask the plain-http listener for `/` are sent to the portal on the TLS
//! listener.

pub mod api;
pub mod html;
mod pages;
pub mod session;
pub mod signin;

use crate::http::conn::ConnInfo;
use crate::state::{AppState, PublicUrls};
use api::Portal;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use std::collections::HashMap;

/// The largest form the portal accepts.
const MAX_FORM: usize = 64 * 1024;

/// The portal's address: `{endpoint}portal/` when the public endpoint is https (a
/// `--public-url`), else on the TLS listener.
pub fn portal_url(urls: &PublicUrls) -> String {
    format!("{}/portal/", https_origin(urls))
}

/// The portal's one redirect URI at the token service's authorization endpoint.
pub fn callback_url(urls: &PublicUrls) -> String {
    format!("{}/portal/callback", https_origin(urls))
}

/// The https origin browsers are sent to (no trailing slash).
fn https_origin(urls: &PublicUrls) -> String {
    if urls.endpoint_uri.starts_with("https://") {
        urls.endpoint_uri.trim_end_matches('/').to_string()
    } else {
        urls.https.clone()
    }
}

const CSS: &str = include_str!("assets/portal.css");
const JS: &str = include_str!("assets/portal.js");

/// The portal's routes.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/portal", get(|| async { html::redirect("/portal/") }))
        .route("/portal/", get(pages::home::home))
        .route("/portal/signin", get(signin::signin_page))
        .route("/portal/callback", get(signin::callback))
        .route("/portal/signout", post(signout))
        .route("/portal/assets/portal.css", get(css))
        .route("/portal/assets/portal.js", get(js))
        .route("/portal/groups", post(pages::home::create_group))
        .route("/portal/groups/delete", post(pages::home::delete_group))
        .route(
            "/portal/create",
            get(pages::create::form).post(pages::create::submit),
        )
        .route("/portal/create/check-name", get(pages::create::check_name))
        .merge(pages::workspace::router())
        .layer(DefaultBodyLimit::max(MAX_FORM))
        .layer(axum::middleware::from_fn_with_state(state, tls_only))
}

/// Portal pages exist only on the TLS listener (its cookies are `Secure`): on plain http a
/// GET is redirected there, anything else refused. Every answer gets the security headers.
async fn tls_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let tls = req.extensions().get::<ConnInfo>().is_some_and(|c| c.tls);
    let path = req.uri().path();
    let is_portal = path == "/portal" || path.starts_with("/portal/");
    if is_portal && !tls {
        if req.method() == Method::GET {
            let pq = req.uri().path_and_query().map_or(path, |p| p.as_str());
            return html::redirect(&format!("{}{pq}", https_origin(&state.urls)));
        }
        return html::secure(
            (
                StatusCode::FORBIDDEN,
                "The portal is served on the TLS listener only.",
            )
                .into_response(),
        );
    }
    let resp = next.run(req).await;
    if is_portal {
        html::secure(resp)
    } else {
        resp
    }
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// `/`: a browser goes to the portal (on the TLS listener); an API client gets ARM's 404 as
/// before.
async fn root(State(state): State<AppState>, conn: ConnInfo, headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        let to = if conn.tls {
            "/portal/".to_string()
        } else {
            portal_url(&state.urls)
        };
        return html::redirect(&to);
    }
    crate::error::ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "No HTTP resource was found that matches the request URI '/'.",
    )
    .into_response()
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, ty: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ty),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// A urlencoded form body (bounded by the router's body limit).
pub(crate) fn parse_form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// A `next` target after sign-in: only a portal path on this server.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/portal/") && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/portal/",
    }
}

async fn signout(portal: Portal, headers: HeaderMap, body: Bytes) -> Response {
    let form = parse_form(&body);
    if let Err(e) = portal.check_csrf(form.get("csrf").map(String::as_str)) {
        return e.into_response();
    }
    if let Some(c) = session::cookie_value(&headers, session::COOKIE) {
        portal.state.portal_sessions.revoke(c);
    }
    let _ = portal.state.audit(
        &format!("user:{}", portal.user.object_id),
        crate::audit::AuditAction::SignIn,
        "portal/signout",
        "success: signed out",
        portal.conn.remote,
    );
    let mut resp = html::redirect("/portal/signin");
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(session::COOKIE)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_is_a_portal_path_only() {
        assert_eq!(super::safe_next(Some("/portal/ws/x")), "/portal/ws/x");
        assert_eq!(super::safe_next(Some("https://evil.example/")), "/portal/");
        assert_eq!(super::safe_next(Some("//evil.example/portal/")), "/portal/");
        assert_eq!(super::safe_next(None), "/portal/");
    }
}
