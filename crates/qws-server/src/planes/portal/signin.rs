//! Portal sign-in as a client of the token service's authorization-code flow with PKCE.
//!
//! A browser without a session is sent to the token service's `/authorize` page with the
//! portal's client id, its one registered redirect URI (`/portal/callback` on the portal's own
//! https origin), a random `state` and an S256 `code_challenge`. The `state` and the PKCE
//! verifier stay on the server, keyed by a short-lived pre-session cookie; the callback checks
//! the `state`, redeems the code with the verifier through the same function the token endpoint
//! uses, and only then starts the portal session (a fresh cookie: rotation at sign-in).
//!
//! The pre-session cookie is `SameSite=Lax`: the callback is a top-level navigation that
//! arrives by a redirect from the sign-in page's form post.

use super::{api, callback_url, html, https_origin, safe_next, session};
use crate::http::conn::ConnInfo;
use crate::planes::signin::authcode::{self, Presented};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use html::Chrome;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How long a person may take on the sign-in page before the callback refuses the answer.
pub const PRE_SESSION_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// At most this many sign-ins wait for their callback; when full, the oldest is forgotten (so
/// a flood of unauthenticated requests cannot stop everyone else from signing in for long).
pub const MAX_PENDING: usize = 10_000;
/// What the portal asks the token service for. The token itself is not used (the portal mints
/// its own per request); asking names a resource the flow knows.
const SCOPE: &str = "https://management.azure.com/.default";

/// A sign-in waiting for its callback.
struct Pending {
    state: Zeroizing<String>,
    verifier: Zeroizing<String>,
    next: String,
    created: Instant,
}

impl Pending {
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.created) < PRE_SESSION_LIFETIME
    }
}

/// Sign-ins waiting for their callback, by the hash of the pre-session cookie.
#[derive(Default)]
pub struct PendingSignIns {
    map: Mutex<HashMap<[u8; 32], Pending>>,
}

impl std::fmt::Debug for PendingSignIns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingSignIns")
    }
}

impl PendingSignIns {
    fn insert(&self, cookie: &str, p: Pending) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_PENDING {
            map.retain(|_, p| p.live(now));
        }
        if map.len() >= MAX_PENDING {
            if let Some(oldest) = map.iter().min_by_key(|(_, p)| p.created).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(session::key_of(cookie), p);
    }

    /// Takes the sign-in a pre-session cookie names: it is used once, whatever the outcome.
    fn take(&self, cookie: &str) -> Option<Pending> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&session::key_of(cookie))
            .filter(|p| p.live(Instant::now()))
    }
}

fn challenge_of(verifier: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// The token service's authorization endpoint for this server's tenant.
fn authorize_endpoint(state: &AppState) -> String {
    format!(
        "{}/{}/oauth2/v2.0/authorize",
        https_origin(&state.urls),
        state.ids.tenant_id
    )
}

/// Starts a sign-in: remembers a new `state` and PKCE verifier under a new pre-session cookie
/// and sends the browser to the authorization endpoint; afterwards it returns to `next`.
pub fn start(state: &AppState, next: &str) -> Response {
    let (Some(cookie), Some(st), Some(verifier)) = (
        session::random_token(),
        session::random_token(),
        session::random_token(),
    ) else {
        return api::PortalError::internal().into_response();
    };
    let mut to = match url::Url::parse(&authorize_endpoint(state)) {
        Ok(u) => u,
        Err(_) => return api::PortalError::internal().into_response(),
    };
    to.query_pairs_mut()
        .append_pair("client_id", api::PORTAL_APP_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &callback_url(&state.urls))
        .append_pair("scope", SCOPE)
        .append_pair("state", &st)
        .append_pair("code_challenge", &challenge_of(&verifier))
        .append_pair("code_challenge_method", "S256");
    state.portal_signins.insert(
        &cookie,
        Pending {
            state: st,
            verifier,
            next: safe_next(Some(next)).to_string(),
            created: Instant::now(),
        },
    );
    let mut resp = html::redirect(to.as_str());
    let set = session::set_pre_session_cookie(
        session::SIGNIN_COOKIE,
        &cookie,
        PRE_SESSION_LIFETIME.as_secs(),
    );
    if let Ok(v) = HeaderValue::from_str(&set) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /portal/signin`: starts a sign-in (links and sign-out land here).
pub async fn signin_page(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    start(&state, safe_next(q.get("next").map(String::as_str)))
}

/// A refused callback: says why and offers a new sign-in; the pre-session cookie is cleared.
fn refused(status: StatusCode, why: &str) -> Response {
    let chrome = Chrome {
        user: None,
        csrf: "",
    };
    let main = format!(
        "{}<p><a href=\"/portal/signin\">Sign in again</a></p>",
        html::notice("error", why)
    );
    let mut resp = html::page(status, "Sign-in failed", &chrome, None, &main);
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie(session::SIGNIN_COOKIE)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /portal/callback?code=…&state=…`: where the authorization endpoint sends the browser.
pub async fn callback(
    State(state): State<AppState>,
    conn: ConnInfo,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let pending = session::cookie_value(&headers, session::SIGNIN_COOKIE)
        .filter(|c| !c.is_empty())
        .and_then(|c| state.portal_signins.take(c));
    let Some(pending) = pending else {
        return refused(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was not started in this browser. Sign in again.",
        );
    };
    // The state binds the answer to the browser that asked: without it another site could
    // sign this browser in as someone else (login CSRF).
    if !param("state").is_some_and(|s| session::same_token(s, &pending.state)) {
        let _ = state.audit(
            "anonymous",
            crate::audit::AuditAction::SignIn,
            "portal/callback",
            "failure: state does not match the sign-in",
            conn.remote,
        );
        return refused(
            StatusCode::BAD_REQUEST,
            "The sign-in answer does not belong to this browser's sign-in. Sign in again.",
        );
    }
    if let Some(error) = param("error") {
        let why = param("error_description").unwrap_or(error);
        return refused(StatusCode::BAD_REQUEST, why);
    }
    let Some(code) = param("code") else {
        return refused(StatusCode::BAD_REQUEST, "The sign-in answer has no code.");
    };
    let redirect_uri = callback_url(&state.urls);
    let presented = Presented {
        client_id: api::PORTAL_APP_ID,
        code,
        redirect_uri: &redirect_uri,
        verifier: &pending.verifier,
    };
    let user = match authcode::redeem(&state, conn, &presented).await {
        Ok((user, _)) => user,
        Err(e) => {
            let status = if e.status == StatusCode::TOO_MANY_REQUESTS {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::BAD_REQUEST
            };
            return refused(status, "The sign-in could not be completed. Sign in again.");
        }
    };
    // Rotation: whatever session this browser had ends; the new one gets a fresh cookie.
    if let Some(old) = session::cookie_value(&headers, session::COOKIE) {
        state.portal_sessions.revoke(old);
    }
    let Some(cookie) = state.portal_sessions.create(&user.object_id) else {
        return api::PortalError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many portal sessions. Try again later.",
        )
        .into_response();
    };
    let mut resp = html::redirect(&pending.next);
    let h = resp.headers_mut();
    for c in [
        session::set_cookie(session::COOKIE, &cookie),
        session::clear_cookie(session::SIGNIN_COOKIE),
    ] {
        if let Ok(v) = HeaderValue::from_str(&c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc7636s_s256() {
        // BASE64URL(SHA-256(verifier)) without padding, computed elsewhere.
        assert_eq!(
            challenge_of(&"a".repeat(43)),
            "ZtNPunH49FD35FWYhT5Tv8I7vRKQJ8uxMaL0_9eHjNA"
        );
    }

    fn pending(next: &str) -> Pending {
        Pending {
            state: Zeroizing::new("s".into()),
            verifier: Zeroizing::new("v".into()),
            next: next.into(),
            created: Instant::now(),
        }
    }

    #[test]
    fn a_pending_sign_in_is_taken_once() {
        let p = PendingSignIns::default();
        p.insert("c1", pending("/portal/x"));
        assert!(p.take("c2").is_none());
        assert_eq!(p.take("c1").unwrap().next, "/portal/x");
        assert!(p.take("c1").is_none());
    }
}
