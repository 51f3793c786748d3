//! The authorization code flow with PKCE, for public clients on this machine
//! (`InteractiveBrowserCredential`, the portal): `GET /{tenant}/oauth2/v2.0/authorize` shows a
//! sign-in form, its POST signs the user in and redirects to the client's loopback
//! `redirect_uri` with `code` and `state`, and the token endpoint redeems the code with
//! `grant_type=authorization_code` and the `code_verifier`.
//!
//! Rules: `redirect_uri` must be `http://localhost[:port]/…` or `http://127.0.0.1[:port]/…`,
//! and for the portal's client id exactly the portal's own callback (anything else is refused on
//! the page, never redirected to); `code_challenge_method=S256` is
//! required; a code lives [`CODE_LIFETIME`], is redeemed once (a second attempt, or a wrong
//! verifier, spends it), and only by the same client id with the same redirect URI. Pending codes
//! count against `max_pending_sign_ins`. There are no browser sessions, so `prompt=none` gets
//! `login_required`.

use super::forms::{csrf_ok, escape, failed_sign_in_status, form_page, page, parse_form};
use super::{parse_scope, password_sign_in, public_client_id, Requested, TokenRequest};
use crate::auth::gate::{self, Failure, Rejection};
use crate::auth::ratelimit::GuessTarget;
use crate::http::conn::ConnInfo;
use crate::planes::identity::{server_error, throttled, OAuthError};
use crate::planes::portal::api::PORTAL_APP_ID;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use qws_store::identity::User;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long an authorization code may wait for redemption.
pub const CODE_LIFETIME: Duration = Duration::from_secs(120);

/// An issued, not yet redeemed code.
pub(crate) struct AuthCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    want: Requested,
    nonce: Option<String>,
    user: Box<User>,
    expires: Instant,
}

/// The validated parameters of an authorization request.
struct AuthRequest {
    client_id: String,
    redirect_uri: url::Url,
    scope: String,
    want: Requested,
    state: Option<String>,
    challenge: String,
    nonce: Option<String>,
}

/// Only loopback `http` redirect URIs: public clients listening on this machine.
fn loopback_redirect(uri: &str) -> Option<url::Url> {
    let u = url::Url::parse(uri).ok()?;
    let host_ok = matches!(u.host_str(), Some("localhost") | Some("127.0.0.1"));
    (u.scheme() == "http" && host_ok && u.username().is_empty() && u.password().is_none())
        .then_some(u)
        .filter(|u| u.fragment().is_none())
}

/// The redirect URI a client may use: the portal (part of this server, not a public client)
/// only its own callback, exactly; every other client a loopback address.
fn allowed_redirect(state: &AppState, client_id: &str, uri: &str) -> Option<url::Url> {
    if client_id == PORTAL_APP_ID {
        let own = crate::planes::portal::callback_url(&state.urls);
        return (uri == own).then(|| url::Url::parse(uri).ok()).flatten();
    }
    loopback_redirect(uri)
}

/// A refusal shown on the page (no trustworthy place to redirect to).
fn bad_request_page(message: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Sign-in error",
        &format!("<p class=\"error\">{}</p>", escape(message)),
    )
}

/// A refusal sent back to the client's redirect URI, as OAuth2 says.
fn redirect_error(
    redirect: &url::Url,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut to = redirect.clone();
    {
        let mut q = to.query_pairs_mut();
        q.append_pair("error", error)
            .append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    found(&to)
}

fn found(to: &url::Url) -> Response {
    match HeaderValue::from_str(to.as_str()) {
        Ok(v) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, v);
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(_) => bad_request_page("The redirect URI is not valid."),
    }
}

/// Validates an authorization request; the error is the whole answer (built once per request,
/// so its size does not matter).
#[allow(clippy::result_large_err)]
fn validate(state: &AppState, p: &HashMap<String, String>) -> Result<AuthRequest, Response> {
    let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let client_id = get("client_id")
        .and_then(|c| public_client_id(c).ok())
        .ok_or_else(|| bad_request_page("The request needs a client_id that is a GUID."))?;
    let redirect_uri = get("redirect_uri")
        .and_then(|r| allowed_redirect(state, &client_id, r))
        .ok_or_else(|| {
        bad_request_page(
            "The redirect_uri must be http://localhost[:port]/… or http://127.0.0.1[:port]/… for a public client.",
        )
    })?;
    let state = get("state").map(|s| s.chars().take(2048).collect::<String>());
    let fail = |error: &str, description: &str| {
        redirect_error(&redirect_uri, state.as_deref(), error, description)
    };
    if get("response_type") != Some("code") {
        return Err(fail(
            "unsupported_response_type",
            "AADSTS700054: qws supports response_type=code only.",
        ));
    }
    let challenge = match (get("code_challenge"), get("code_challenge_method")) {
        (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => c.to_string(),
        _ => {
            return Err(fail(
                "invalid_request",
                "AADSTS9002325: Proof Key for Code Exchange is required: send code_challenge with code_challenge_method=S256.",
            ))
        }
    };
    if get("prompt") == Some("none") {
        return Err(fail(
            "login_required",
            "AADSTS50058: qws keeps no browser sessions; the user must sign in.",
        ));
    }
    let scope = get("scope").unwrap_or("").to_string();
    let want = parse_scope(&scope)
        .map_err(|_| fail("invalid_scope", "AADSTS70011: The provided value for scope is not valid: ask for exactly one resource, e.g. 'https://management.azure.com/.default'."))?;
    Ok(AuthRequest {
        client_id,
        redirect_uri,
        scope,
        want,
        state,
        challenge,
        nonce: get("nonce").map(|n| n.chars().take(512).collect()),
    })
}

fn sign_in_form(csrf: &str, a: &AuthRequest, username: &str, error: Option<&str>) -> String {
    let hidden = |name: &str, value: &str| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        )
    };
    let mut fields = hidden("csrf", csrf);
    fields += &hidden("response_type", "code");
    fields += &hidden("client_id", &a.client_id);
    fields += &hidden("redirect_uri", a.redirect_uri.as_str());
    fields += &hidden("scope", &a.scope);
    fields += &hidden("code_challenge", &a.challenge);
    fields += &hidden("code_challenge_method", "S256");
    if let Some(s) = &a.state {
        fields += &hidden("state", s);
    }
    if let Some(n) = &a.nonce {
        fields += &hidden("nonce", n);
    }
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let purpose = if a.client_id == PORTAL_APP_ID {
        "<p>Sign in to the qws portal.</p>".to_string()
    } else {
        format!(
            "<p>Sign in to continue to the application <code>{}</code> (it will receive a token for {}).</p>",
            escape(&a.client_id),
            escape(&a.want.resource)
        )
    };
    format!(
        "{error}{purpose}\
         <form method=\"post\">{fields}\
         <label for=\"username\">Username</label><input id=\"username\" name=\"username\" value=\"{user}\" autocomplete=\"username\" required>\
         <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button>Sign in</button></form>",
        user = escape(username),
    )
}

/// `GET /{tenant}/oauth2/v2.0/authorize`.
pub(crate) async fn authorize_page(
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if super::signin_tenant(&state, &tenant).is_err() {
        return bad_request_page("The tenant in the address is not this server's.");
    }
    let a = match validate(&state, &q) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let hint = q.get("login_hint").map(String::as_str).unwrap_or("");
    form_page(&conn, StatusCode::OK, "Sign in to qws", |csrf| {
        sign_in_form(csrf, &a, hint, None)
    })
}

/// `POST /{tenant}/oauth2/v2.0/authorize`: the sign-in form.
pub(crate) async fn authorize_submit(
    State(state): State<AppState>,
    conn: ConnInfo,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(tid) = super::signin_tenant(&state, &tenant) else {
        return bad_request_page("The tenant in the address is not this server's.");
    };
    let Some(form) = parse_form(&body) else {
        return bad_request_page("The form is too large.");
    };
    let a = match validate(&state, &form) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let username = form
        .get("username")
        .map(|u| u.chars().take(256).collect::<String>())
        .unwrap_or_default();
    let retry = |status: StatusCode, message: &str| {
        form_page(&conn, status, "Sign in to qws", |csrf| {
            sign_in_form(csrf, &a, &username, Some(message))
        })
    };
    if !csrf_ok(&headers, &form) {
        return retry(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from this page. Please try again.",
        );
    }
    let password = zeroize::Zeroizing::new(form.get("password").cloned().unwrap_or_default());
    // The audit log tells portal sign-ins from those of other applications.
    let target = if a.client_id == PORTAL_APP_ID {
        "portal/signin"
    } else {
        "authorize"
    };
    let user = match password_sign_in(&state, conn, &tid, &username, &password, target).await {
        Ok(u) => u,
        Err(e) => return retry(failed_sign_in_status(&e), e.message()),
    };
    let mut bytes = [0u8; 32];
    if qws_core::keys::fill_random(&mut bytes).is_err() {
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "<p>Internal error.</p>",
        );
    }
    let code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    {
        let now = Instant::now();
        let mut codes = state
            .sign_ins
            .codes
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        codes.retain(|_, c| c.expires > now);
        if codes.len() >= state.config.auth.max_pending_sign_ins {
            return redirect_error(
                &a.redirect_uri,
                a.state.as_deref(),
                "temporarily_unavailable",
                "Too many sign-ins are waiting. Retry later.",
            );
        }
        codes.insert(
            code.clone(),
            AuthCode {
                client_id: a.client_id.clone(),
                redirect_uri: a.redirect_uri.to_string(),
                challenge: a.challenge.clone(),
                want: a.want.clone(),
                nonce: a.nonce.clone(),
                user: Box::new(user),
                expires: now + CODE_LIFETIME,
            },
        );
    }
    let mut to = a.redirect_uri.clone();
    {
        let mut q = to.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(s) = &a.state {
            q.append_pair("state", s);
        }
    }
    found(&to)
}

fn invalid_grant(code: u32, text: &str) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", code, text)
}

/// `grant_type=authorization_code`.
pub(crate) async fn token(req: TokenRequest<'_>) -> Result<Response, OAuthError> {
    let client_id = public_client_id(req.required("client_id")?)?;
    let presented = Presented {
        client_id: &client_id,
        code: req.required("code")?,
        redirect_uri: req.required("redirect_uri")?,
        verifier: req.required("code_verifier")?,
    };
    let (user, c) = redeem(req.state, req.conn, &presented).await?;
    super::respond_user_tokens(&req, &user, &client_id, &c.want, c.nonce.as_deref(), None).await
}

/// What a client presents to redeem an authorization code.
pub(crate) struct Presented<'a> {
    /// The client id, canonical.
    pub client_id: &'a str,
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub verifier: &'a str,
}

/// Redeems an authorization code: the one place that checks a code's client, redirect URI,
/// lifetime and PKCE verifier (for the token endpoint and the portal's callback alike). Returns
/// the user, as the store has them now, and the code's request.
pub(crate) async fn redeem(
    state: &AppState,
    conn: ConnInfo,
    p: &Presented<'_>,
) -> Result<(User, AuthCode), OAuthError> {
    let (client_id, code, redirect_uri, verifier) =
        (p.client_id, p.code, p.redirect_uri, p.verifier);
    let verification = async {
        let failure = |reason: &str| {
            Failure::anonymous(
                conn.remote,
                crate::audit::AuditAction::Token,
                "oauth2/token",
                reason,
            )
            .guessing(GuessTarget::new("authorization code", ""))
        };
        // Taken out first: whatever follows, a code is presented once.
        let found = state
            .sign_ins
            .codes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(code);
        let Some(c) = found else {
            return Err(Rejection::Credential(
                invalid_grant(
                    54005,
                    "OAuth2 Authorization code was already redeemed, is not valid or has expired.",
                ),
                failure("invalid authorization code"),
            ));
        };
        if c.expires <= Instant::now() {
            return Err(Rejection::Other(invalid_grant(
                70008,
                "The provided authorization code has expired.",
            )));
        }
        let redirect_matches = url::Url::parse(redirect_uri)
            .map(|u| u.as_str() == c.redirect_uri)
            .unwrap_or(false);
        if c.client_id != client_id || !redirect_matches {
            return Err(Rejection::Credential(
                invalid_grant(
                    70000,
                    "The authorization code was issued to another client or redirect URI.",
                ),
                failure("authorization code of another client"),
            ));
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
        if !(43..=128).contains(&verifier.len())
            || !bool::from(computed.as_bytes().ct_eq(c.challenge.as_bytes()))
        {
            return Err(Rejection::Credential(
                invalid_grant(
                    501481,
                    "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
                ),
                failure("PKCE verifier mismatch"),
            ));
        }
        Ok(c)
    };
    let c = gate::authenticate(state, verification, throttled).await?;
    // The user may have been disabled or deleted since signing in.
    let oid = c.user.object_id.clone();
    let current = state
        .db(move |s| s.identity().user(&oid).map_err(qws_store::StoreError::from))
        .await
        .map_err(|_| server_error())?;
    let Some(user) = current.filter(|u| u.enabled) else {
        return Err(invalid_grant(
            50057,
            "The user account is disabled or no longer exists.",
        ));
    };
    Ok((user, c))
}
