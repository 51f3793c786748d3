//! Data-plane authentication: `x-ms-quantum-api-key` (either key of *this* workspace, while keys
//! are enabled) or a bearer token from the qws token service for the quantum audience.
//!
//! Every failure is the same 401 (`Unauthorized`, with a `WWW-Authenticate` challenge), so a
//! caller learns nothing about which workspaces or keys exist. Failures are throttled per client
//! address (the server-wide limiter) and per workspace path ([`KeyedLimiter`]); a throttled
//! caller gets 429 with `Retry-After`.

use crate::auth::{authenticate_bearer, authorize, DATA_PLANE_AUDIENCES};
use crate::conn::ConnInfo;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use qws_core::names::SubscriptionId;
use qws_store::{KeyCheck, WorkspaceRecord};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Header carrying an access key.
pub const API_KEY_HEADER: &str = "x-ms-quantum-api-key";
/// RBAC data action required of token callers.
pub const JOBS_WRITE: &str = "Microsoft.Quantum/Workspaces/jobs/write";

/// An authenticated data-plane caller and its workspace.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The workspace addressed by the path.
    pub ws: WorkspaceRecord,
    /// `createdBy` of what the caller creates.
    pub created_by: String,
    /// `createdByType`: `Key` or `Application`.
    pub created_by_type: &'static str,
}

/// Failure counter keyed by string (workspace path), fixed window, bounded size.
#[derive(Debug)]
pub struct KeyedLimiter {
    limit: u32,
    window: Duration,
    map: Mutex<HashMap<String, (Instant, u32)>>,
}

const MAX_TRACKED: usize = 10_000;

impl KeyedLimiter {
    /// `limit` failures per `window` per key.
    pub fn new(limit: u32, window: Duration) -> KeyedLimiter {
        KeyedLimiter {
            limit,
            window,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after_secs)` while `key` is over its limit.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((start, n)) if *n >= self.limit && start.elapsed() < self.window => {
                Err((self.window - start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Records one failure.
    pub fn record_failure(&self, key: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(key) {
            let window = self.window;
            map.retain(|_, (s, _)| s.elapsed() < window);
            if map.len() >= MAX_TRACKED {
                return; // Still full of live entries: the per-address limit still applies.
            }
        }
        let e = map.entry(key.to_string()).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= self.window {
            *e = (Instant::now(), 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

/// The uniform data-plane 401.
pub fn unauthorized(state: &AppState) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Authentication failed: supply a valid access key of this workspace (x-ms-quantum-api-key) or a bearer token for https://quantum.microsoft.com.",
    );
    e.www_authenticate = Some(format!(
        "Bearer authorization_uri=\"{}/{}\", resource_id=\"https://quantum.microsoft.com\"",
        state.urls.https, state.ids.tenant_id
    ));
    e
}

fn throttled(retry: u64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many failed authentication attempts. Retry later.",
    );
    e.retry_after = Some(retry);
    e
}

/// `(subscription, resource group, workspace)` from a data-plane path.
pub fn workspace_path(path: &str) -> Option<(String, String, String)> {
    let segs: Vec<&str> = path.split('/').collect();
    match segs.as_slice() {
        ["", "subscriptions", sub, "resourceGroups", rg, "providers", "Microsoft.Quantum", "workspaces", ws, ..] => {
            Some((sub.to_string(), rg.to_string(), ws.to_string()))
        }
        _ => None,
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let conn = ConnInfo::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let ip = conn.remote.ip();
        let Some((sub, rg, ws)) = workspace_path(parts.uri.path()) else {
            return Err(unauthorized(state));
        };
        let ws_key = format!("{sub}/{rg}/{ws}").to_lowercase();
        let limiter = &state.dataplane.auth_failures;
        if let Err(retry) = state.limiter.check(ip) {
            return Err(throttled(retry));
        }
        if let Err(retry) = limiter.check(&ws_key) {
            return Err(throttled(retry));
        }
        let fail = |state: &AppState| {
            state.limiter.record_failure(ip);
            limiter.record_failure(&ws_key);
            let _ = state.audit(
                "anonymous",
                "dataplane/authenticate",
                &ws_key,
                "failure",
                conn.remote,
            );
            unauthorized(state)
        };
        let sub_id = SubscriptionId::parse(&sub).ok();

        if let Some(v) = parts.headers.get(API_KEY_HEADER) {
            let (Some(sub_id), Ok(key)) = (sub_id, v.to_str()) else {
                return Err(fail(state));
            };
            if key.is_empty() || key.len() > 1024 {
                return Err(fail(state));
            }
            let key = Zeroizing::new(key.to_string());
            let (rg2, ws2) = (rg.clone(), ws.clone());
            let found = state
                .db(move |s| match s.get_workspace(&sub_id, &rg2, &ws2)? {
                    Some(w) => Ok(Some((s.check_api_key(&w.uid, &key)?, w))),
                    None => Ok(None),
                })
                .await?;
            return match found {
                Some((KeyCheck::Primary, w)) => Ok(Caller {
                    ws: w,
                    created_by: "PrimaryKey".into(),
                    created_by_type: "Key",
                }),
                Some((KeyCheck::Secondary, w)) => Ok(Caller {
                    ws: w,
                    created_by: "SecondaryKey".into(),
                    created_by_type: "Key",
                }),
                _ => Err(fail(state)),
            };
        }

        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            let principal = match authenticate_bearer(parts, state, DATA_PLANE_AUDIENCES).await {
                Ok(p) => p,
                Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => return Err(e),
                Err(e) if e.status == StatusCode::UNAUTHORIZED => {
                    // authenticate_bearer already counted the address; count the workspace too.
                    limiter.record_failure(&ws_key);
                    return Err(unauthorized(state));
                }
                Err(e) => return Err(e),
            };
            let Some(sub_id) = sub_id else {
                return Err(ApiError::workspace_not_found(&rg, &ws));
            };
            let scope = format!(
                "/subscriptions/{sub_id}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}"
            );
            authorize(&principal, JOBS_WRITE, &scope)?;
            let (rg2, ws2) = (rg.clone(), ws.clone());
            let w = state
                .db(move |s| s.get_workspace(&sub_id, &rg2, &ws2))
                .await?;
            return match w {
                Some(w) => Ok(Caller {
                    ws: w,
                    created_by: principal.principal.client_id.clone(),
                    created_by_type: "Application",
                }),
                None => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "WorkspaceNotFound",
                    format!("The workspace '{ws}' was not found in resource group '{rg}'."),
                )),
            };
        }
        Err(fail(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_limiter_counts_per_key() {
        let l = KeyedLimiter::new(2, Duration::from_secs(60));
        l.record_failure("a");
        assert!(l.check("a").is_ok());
        l.record_failure("a");
        assert!(l.check("a").is_err());
        assert!(l.check("b").is_ok());
    }

    #[test]
    fn parses_workspace_paths() {
        assert_eq!(
            workspace_path("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Quantum/workspaces/w/jobs/1"),
            Some(("s".into(), "rg".into(), "w".into()))
        );
        assert_eq!(workspace_path("/job-1/inputData"), None);
    }
}
