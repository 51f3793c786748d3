//! The device code flow (RFC 8628, as Entra answers it): `POST …/devicecode` hands out a device
//! code and a user code; the user enters the user code, name and password on the verification
//! page (`/devicelogin`, [`super::forms`]); the client polls the token endpoint with the device
//! code and gets `authorization_pending`, `slow_down`, `expired_token`, `access_denied`, or the
//! tokens.
//!
//! Pending device codes live in memory (a restart ends them, as if they expired) and are bounded
//! by `max_pending_sign_ins`; expired ones are dropped whenever a new one is made.

use super::{requested, respond_user_tokens, Requested, TokenRequest};
use crate::auth::gate::{self, Failure, Rejection};
use crate::auth::ratelimit::GuessTarget;
use crate::planes::identity::{throttled, OAuthError};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use qws_store::identity::User;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The token endpoint's grant type for polling.
pub const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Seconds a client waits between polls (Entra's value).
pub const INTERVAL_SECS: u64 = 5;
/// User codes: no I, O, 0 or 1, which people misread. 32 symbols, so a byte mod 32 is unbiased.
const USER_CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Characters of a user code (45 bits).
const USER_CODE_LEN: usize = 9;

enum Status {
    Pending,
    Approved(Box<User>),
    Denied,
}

struct Device {
    client_id: String,
    want: Requested,
    user_code: String,
    expires: Instant,
    last_poll: Option<Instant>,
    status: Status,
}

/// Device codes waiting for their users.
#[derive(Default)]
pub struct Devices {
    by_device_code: HashMap<String, Device>,
    by_user_code: HashMap<String, String>,
}

impl Devices {
    fn purge(&mut self, now: Instant) {
        let Devices {
            by_device_code,
            by_user_code,
        } = self;
        by_device_code.retain(|_, d| {
            let live = d.expires > now;
            if !live {
                by_user_code.remove(&d.user_code);
            }
            live
        });
    }

    fn remove(&mut self, device_code: &str) {
        if let Some(d) = self.by_device_code.remove(device_code) {
            self.by_user_code.remove(&d.user_code);
        }
    }
}

fn random(len: usize) -> Result<Vec<u8>, OAuthError> {
    let mut b = vec![0u8; len];
    qws_core::keys::fill_random(&mut b).map_err(|_| crate::planes::identity::server_error())?;
    Ok(b)
}

/// A user code as people type it: upper case, without spaces or dashes.
pub fn normalize_user_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(32)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// `POST /{tenant}/oauth2/v2.0/devicecode` (and the v1 `/oauth2/devicecode`).
pub(crate) async fn start(req: TokenRequest<'_>) -> Result<Response, OAuthError> {
    let client_id = super::public_client_id(req.required("client_id")?)?;
    let want = requested(&req)?;
    let state = req.state;
    let device_code = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random(32)?);
    let user_code: String = random(USER_CODE_LEN)?
        .iter()
        .map(|b| USER_CODE_ALPHABET[(b % 32) as usize] as char)
        .collect();
    let lifetime = state.config.auth.device_code_lifetime;
    {
        let now = Instant::now();
        let mut devices = state
            .sign_ins
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        devices.purge(now);
        if devices.by_device_code.len() >= state.config.auth.max_pending_sign_ins
            || devices.by_user_code.contains_key(&user_code)
        {
            return Err(OAuthError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                50196,
                "Too many sign-ins are waiting. Retry later.",
            ));
        }
        devices
            .by_user_code
            .insert(user_code.clone(), device_code.clone());
        devices.by_device_code.insert(
            device_code.clone(),
            Device {
                client_id,
                want,
                user_code: user_code.clone(),
                expires: now + lifetime,
                last_poll: None,
                status: Status::Pending,
            },
        );
    }
    let uri = format!("{}/devicelogin", state.urls.https);
    let mut body = serde_json::json!({
        "user_code": user_code,
        "device_code": device_code,
        "verification_uri": uri,
        "expires_in": lifetime.as_secs(),
        "interval": INTERVAL_SECS,
        "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
    });
    if req.flavor != crate::planes::identity::Flavor::V2 {
        body["verification_url"] = body["verification_uri"].clone();
    }
    let mut resp = axum::response::IntoResponse::into_response(axum::Json(body));
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

fn poll_error(error: &'static str, code: u32, text: &str) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, error, code, text)
}

/// What polling found.
enum Poll {
    Tokens(Box<User>, String, Requested),
    Answer(OAuthError),
}

/// `grant_type=urn:ietf:params:oauth:grant-type:device_code`.
pub(crate) async fn token(req: TokenRequest<'_>) -> Result<Response, OAuthError> {
    let client_id = super::public_client_id(req.required("client_id")?)?;
    let device_code = req.required("device_code")?.to_string();
    let state = req.state;
    let verification = async {
        let now = Instant::now();
        let mut devices = state
            .sign_ins
            .devices
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(d) = devices
            .by_device_code
            .get_mut(&device_code)
            .filter(|d| d.client_id == client_id)
        else {
            return Err(Rejection::Credential(
                poll_error(
                    "invalid_grant",
                    70000,
                    "The provided value for the input parameter 'device_code' is not valid.",
                ),
                Failure::anonymous(
                    req.conn.remote,
                    crate::audit::AuditAction::Token,
                    "oauth2/token",
                    "invalid device code",
                )
                .guessing(GuessTarget::new("device code", "")),
            ));
        };
        if d.expires <= now {
            devices.remove(&device_code);
            return Ok(Poll::Answer(poll_error(
                "expired_token",
                70020,
                "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
            )));
        }
        match &d.status {
            Status::Pending => {
                let too_soon = d
                    .last_poll
                    .is_some_and(|t| now.duration_since(t) < Duration::from_secs(INTERVAL_SECS));
                if too_soon {
                    // The last poll still counts: a client that keeps polling fast stays slowed.
                    return Ok(Poll::Answer(poll_error(
                        "slow_down",
                        70016,
                        "OAuth 2.0 device flow error. Polling too fast: wait the interval between requests.",
                    )));
                }
                d.last_poll = Some(now);
                Ok(Poll::Answer(poll_error(
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                )))
            }
            Status::Denied => {
                devices.remove(&device_code);
                Ok(Poll::Answer(poll_error(
                    "access_denied",
                    70000,
                    "The user declined the sign-in request.",
                )))
            }
            Status::Approved(_) => {
                let d = devices
                    .by_device_code
                    .remove(&device_code)
                    .expect("present: just matched");
                devices.by_user_code.remove(&d.user_code);
                let Status::Approved(user) = d.status else {
                    unreachable!("matched Approved")
                };
                Ok(Poll::Tokens(user, d.client_id, d.want))
            }
        }
    };
    match gate::authenticate(state, verification, throttled).await? {
        Poll::Answer(e) => Err(e),
        Poll::Tokens(user, client_id, want) => {
            respond_user_tokens(&req, &user, &client_id, &want, None, None).await
        }
    }
}

/// The outcome of the verification form for a user code.
pub(crate) enum Decision {
    Approve(User),
    Deny,
}

/// Whether `user_code` names a device code still waiting.
pub(crate) fn is_pending(state: &crate::state::AppState, user_code: &str) -> bool {
    let now = Instant::now();
    let devices = state
        .sign_ins
        .devices
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    devices
        .by_user_code
        .get(user_code)
        .and_then(|dc| devices.by_device_code.get(dc))
        .is_some_and(|d| d.expires > now && matches!(d.status, Status::Pending))
}

/// Records the user's decision for a waiting user code; false if it no longer waits.
pub(crate) fn decide(state: &crate::state::AppState, user_code: &str, decision: Decision) -> bool {
    let now = Instant::now();
    let mut devices = state
        .sign_ins
        .devices
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let Some(dc) = devices.by_user_code.get(user_code).cloned() else {
        return false;
    };
    match devices.by_device_code.get_mut(&dc) {
        Some(d) if d.expires > now && matches!(d.status, Status::Pending) => {
            d.status = match decision {
                Decision::Approve(u) => Status::Approved(Box::new(u)),
                Decision::Deny => Status::Denied,
            };
            true
        }
        _ => false,
    }
}
