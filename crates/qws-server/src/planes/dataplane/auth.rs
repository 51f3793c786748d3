//! Data-plane authentication: `x-ms-quantum-api-key` (either key of *this* workspace, while keys
//! are enabled) or a bearer token from the qws token service for the quantum audience.
//!
//! Every failure is the same 401 (`Unauthorized`, with a `WWW-Authenticate` challenge), so a
//! caller learns nothing about which workspaces or keys exist; the key check also does the same
//! work whether or not the workspace exists ([`check_workspace_key`]). Credentials are verified
//! first; only failures are counted (per client address and per workspace path, through
//! [`crate::auth::gate`]), and a failing caller over the limit gets 429 with `Retry-After`.

use crate::audit::AuditAction;
use crate::auth::gate::{self, Failure, Rejection};
use crate::auth::jwt::token_digest;
use crate::auth::principal::{presented_bearer_token, throttled, verify_bearer, within_lifetime};
use crate::auth::ratelimit::GuessTarget;
use crate::auth::{authorize, DATA_PLANE_AUDIENCES};
use crate::error::{ApiError, WithHeaders};
use crate::http::conn::ConnInfo;
use crate::paths::RawWorkspacePath;
use crate::planes::blob::sas::SasHolder;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use qws_core::keys::KeySlot;
use qws_core::names::SubscriptionId;
use qws_core::resource_id::WorkspaceId;
use qws_store::access_tokens::{TokenAccess, TOKEN_PREFIX};
use qws_store::change::VersionedCache;
use qws_store::{KeyCheck, Store, StoreError, WorkspaceCredentials, WorkspaceRecord};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Header carrying an access key.
pub const API_KEY_HEADER: &str = "x-ms-quantum-api-key";
/// RBAC data action required of token callers that change something.
pub const JOBS_WRITE: &str = "Microsoft.Quantum/Workspaces/jobs/write";
/// RBAC data action required of token callers that only read.
pub const JOBS_READ: &str = "Microsoft.Quantum/Workspaces/jobs/read";

/// The data action a data-plane request needs: reading (`GET`, `HEAD`) needs `jobs/read`, the
/// rest (submitting, cancelling, sessions, storage SAS, uploads) `jobs/write`, which is how
/// Azure splits *Quantum Workspace Data Reader* from *Data Contributor*.
pub fn data_action(method: &axum::http::Method) -> &'static str {
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        JOBS_READ
    } else {
        JOBS_WRITE
    }
}
/// Longest access key considered (real ones are 88 characters).
pub const MAX_KEY_LEN: usize = 1024;

/// An authenticated data-plane caller and its workspace.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The workspace addressed by the path.
    pub ws: WorkspaceRecord,
    /// `createdBy` of what the caller creates.
    pub created_by: String,
    /// `createdByType`: `Key` or `Application`.
    pub created_by_type: &'static str,
    /// The object id of a bearer-token caller (a service principal or a signed-in user),
    /// whose access the SAS URLs it is given stand on.
    pub object_id: Option<String>,
    /// Whose access the SAS URLs the caller is given stand on, when authentication already
    /// read it at this request's change version (an access key's current version, or the
    /// principal the token was just verified for); `None` for workspace access tokens, whose
    /// holder [`crate::planes::blob::sas::holder_for`] reads from the database.
    pub holder: Option<SasHolder>,
}

/// What was decided for a bearer token at one change version: the caller it authenticates
/// and is authorized as for one data action on one workspace. Exact while the change version
/// stands (the token's claims are fixed by its signature; the principal, its grants and the
/// workspace are read at that version; the decision is a function of them), except for the
/// token's lifetime, which is checked on every use.
#[derive(Debug, Clone)]
pub struct TokenDecision {
    caller: Caller,
    /// The token's `nbf` and `exp` claims.
    nbf: i64,
    exp: i64,
}

/// [`TokenDecision`]s by (SHA-256 of the token, data action, workspace id in lower case).
pub type TokenDecisions = VersionedCache<([u8; 32], &'static str, String), TokenDecision>;

/// Token decisions remembered at once.
pub const TOKEN_DECISIONS_MAX: usize = 4096;

/// The store steps of a key check. A trait so that a test can record them: a refusal must take
/// the same steps whether or not the workspace exists.
pub trait KeyDirectory {
    /// The workspace named by the path with the fingerprints of its keys, if it exists (from
    /// memory while nothing access-relevant has changed; see [`qws_store::change`]).
    fn credentials(
        &self,
        ws: &WorkspaceId,
    ) -> Result<Option<Arc<WorkspaceCredentials>>, StoreError>;
    /// Fingerprints `presented` (HMAC) and compares it in constant time with the keys of
    /// `creds` (`None`: an unknown workspace, compared all the same).
    fn match_key(&self, creds: Option<&WorkspaceCredentials>, presented: &str) -> KeyCheck;
}

impl KeyDirectory for Store {
    fn credentials(
        &self,
        ws: &WorkspaceId,
    ) -> Result<Option<Arc<WorkspaceCredentials>>, StoreError> {
        self.workspace_credentials(ws)
    }

    fn match_key(&self, creds: Option<&WorkspaceCredentials>, presented: &str) -> KeyCheck {
        self.match_access_key(creds, presented)
    }
}

/// Checks `presented` against the keys of workspace `ws` (`None`: the path names no valid
/// workspace): the matching slot and the workspace, or `Refused` (unknown workspace, disabled
/// keys, a workspace being deleted, wrong or malformed key — all alike).
///
/// A refusal takes the same steps whether or not the workspace exists — one (cached) lookup of
/// the workspace, one HMAC fingerprint, one constant-time comparison per key slot — so its
/// timing does not tell which.
pub fn check_workspace_key(
    dir: &impl KeyDirectory,
    ws: Option<&WorkspaceId>,
    presented: &str,
) -> Result<(KeyCheck, Option<WorkspaceRecord>), StoreError> {
    if presented.is_empty() || presented.len() > MAX_KEY_LEN {
        return Ok((KeyCheck::Refused, None));
    }
    let creds = match ws {
        Some(ws) => dir.credentials(ws)?,
        None => None,
    };
    Ok(match_key_of(dir, creds, presented))
}

/// The comparison step of [`check_workspace_key`], once the workspace's credentials are known.
fn match_key_of(
    dir: &impl KeyDirectory,
    creds: Option<Arc<WorkspaceCredentials>>,
    presented: &str,
) -> (KeyCheck, Option<WorkspaceRecord>) {
    if presented.is_empty() || presented.len() > MAX_KEY_LEN {
        return (KeyCheck::Refused, None);
    }
    match (dir.match_key(creds.as_deref(), presented), creds) {
        (KeyCheck::Refused, _) | (_, None) => (KeyCheck::Refused, None),
        (check, Some(c)) => (check, Some(c.record.clone())),
    }
}

/// The credentials of the workspace a request names: from memory when the change version is
/// the one they were read at (no blocking-pool hop, one primary-key read), else read from the
/// database on the blocking pool.
pub async fn workspace_credentials(
    state: &AppState,
    id: Option<&WorkspaceId>,
) -> Result<Option<Arc<WorkspaceCredentials>>, ApiError> {
    let Some(id) = id else {
        return Ok(None);
    };
    let version = state.store.change_version()?;
    if let Some(hit) = state.store.cached_workspace_credentials(id, version) {
        return Ok(hit);
    }
    let id = id.clone();
    state.db(move |s| s.workspace_credentials(&id)).await
}

/// A workspace uid no workspace has (uids are UUIDs): an unknown workspace's access token is
/// checked against it, so the refusal costs the same lookups either way.
const NO_WORKSPACE_UID: &str = "-";

/// The uniform data-plane 401.
pub fn unauthorized(state: &AppState) -> ApiError {
    let e = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "Authentication failed: supply a valid access key of this workspace (x-ms-quantum-api-key) or a bearer token for https://quantum.microsoft.com.",
    );
    // The same authority as the management plane's challenge: Entra's in --azure-compat mode
    // (tools read the tenant from it), qws's own otherwise.
    let authority = crate::auth::principal::challenge_authority(state, &state.urls.https);
    e.with_www_authenticate(format!(
        "Bearer authorization_uri=\"{authority}/{}\", resource_id=\"https://quantum.microsoft.com\"",
        state.ids.tenant_id
    ))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let conn = ConnInfo::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let path = RawWorkspacePath::from_parts(parts, state).await;
        // Counted per workspace *path*, existing or not, so throttling reveals nothing either.
        // Described only for a failure: a caller that succeeds costs no hashing for it.
        let failure = |path: Option<&RawWorkspacePath>| {
            let target = path.map(RawWorkspacePath::key).unwrap_or_default();
            Failure::anonymous(
                conn.remote,
                AuditAction::DataPlaneAuthenticate,
                &target,
                "Unauthorized",
            )
            .guessing(GuessTarget::new("workspace", &target))
        };
        let verification = async {
            match verify(parts, state, path.as_ref(), conn.remote.ip()).await {
                Ok(c) => {
                    crate::metrics::note_principal(
                        c.object_id.as_deref().unwrap_or("workspace-key"),
                    );
                    Ok(c)
                }
                Err(NoCaller::Credential) => Err(Rejection::Credential(
                    unauthorized(state),
                    failure(path.as_ref()),
                )),
                Err(NoCaller::Other(e)) => Err(Rejection::Other(e)),
            }
        };
        gate::authenticate(state, verification, throttled).await
    }
}

/// Why [`verify`] produced no caller.
enum NoCaller {
    /// A missing or wrong credential (answered with the uniform 401).
    Credential,
    /// Anything else, answered as is.
    Other(ApiError),
}

/// Verifies the key or token of a data-plane request.
async fn verify(
    parts: &mut Parts,
    state: &AppState,
    path: Option<&RawWorkspacePath>,
    client: std::net::IpAddr,
) -> Result<Caller, NoCaller> {
    let refused = || NoCaller::Credential;
    let Some(path) = path else {
        return Err(refused());
    };
    // An invalid name cannot name a workspace: answered as an unknown one.
    let id = path.parse().ok();

    if let Some(v) = parts.headers.get(API_KEY_HEADER) {
        let Ok(key) = v.to_str() else {
            return Err(refused());
        };
        let key = Zeroizing::new(key.to_string());
        if key.starts_with(TOKEN_PREFIX) {
            return verify_access_token(parts, state, id, key).await;
        }
        let creds = workspace_credentials(state, id.as_ref())
            .await
            .map_err(NoCaller::Other)?;
        let creds_read = creds.clone();
        let found = match_key_of(state.store.as_ref(), creds, &key);
        let (created_by, slot) = match found.0 {
            KeyCheck::Primary => ("PrimaryKey", KeySlot::Primary),
            KeyCheck::Secondary => ("SecondaryKey", KeySlot::Secondary),
            KeyCheck::Refused => return Err(refused()),
        };
        let ws = found.1.ok_or_else(refused)?;
        state.key_usage.note(&ws.uid, slot, client);
        let holder = creds_read
            .and_then(|c| c.live_key_version(slot))
            .map(|version| SasHolder::Key { slot, version });
        return Ok(Caller {
            ws,
            created_by: created_by.into(),
            created_by_type: "Key",
            object_id: None,
            holder,
        });
    }

    if !parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
    {
        return Err(refused());
    }
    // A token seen before, for the same action on the same workspace, at the current change
    // version: the decision stands; only its lifetime is checked again.
    let version = state
        .store
        .change_version()
        .map_err(|e| NoCaller::Other(e.into()))?;
    let action = data_action(&parts.method);
    let decision_key = match (&id, presented_bearer_token(parts)) {
        (Some(id), Some(token)) => {
            Some((token_digest(token), action, id.to_id().to_ascii_lowercase()))
        }
        _ => None,
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if let Some(hit) = decision_key
        .as_ref()
        .and_then(|k| state.dataplane.token_decisions.get(version, k))
        .filter(|d| within_lifetime(d.nbf, d.exp, now))
    {
        return Ok(hit.caller);
    }
    let principal = match verify_bearer(parts, state, DATA_PLANE_AUDIENCES).await {
        Ok(p) => p,
        Err(e) if e.status == StatusCode::UNAUTHORIZED => return Err(refused()),
        Err(e) => return Err(NoCaller::Other(e)),
    };
    let (rg, ws) = (&path.rg, &path.ws);
    if SubscriptionId::parse(&path.sub).is_err() {
        return Err(NoCaller::Other(ApiError::workspace_not_found(rg, ws)));
    }
    let w = match id {
        Some(id) => {
            authorize(&principal, action, &id.to_id()).map_err(NoCaller::Other)?;
            workspace_credentials(state, Some(&id))
                .await
                .map_err(NoCaller::Other)?
                .map(|c| c.record.clone())
        }
        None => None,
    };
    match w {
        Some(w) => {
            let object_id = principal.principal.object_id.clone();
            let caller = Caller {
                ws: w,
                created_by: principal.principal.client_id.clone(),
                created_by_type: "Application",
                object_id: Some(object_id.clone()),
                // Verified just now: an enabled service principal or user.
                holder: Some(SasHolder::Principal { object_id }),
            };
            if let Some(key) = decision_key {
                let decision = TokenDecision {
                    caller: caller.clone(),
                    nbf: principal.claims.nbf,
                    exp: principal.claims.exp,
                };
                state.dataplane.token_decisions.put(version, key, decision);
            }
            Ok(caller)
        }
        None => Err(NoCaller::Other(ApiError::new(
            StatusCode::NOT_FOUND,
            "WorkspaceNotFound",
            format!("The workspace '{ws}' was not found in resource group '{rg}'."),
        ))),
    }
}

/// A workspace access token presented as a key: the unexpired token of *this* workspace, while
/// its keys are enabled (turning keys off turns every shared secret off); otherwise the uniform
/// 401, with the same steps whether or not the workspace exists. A `Read` token asking to
/// change something is refused with 403 `AuthorizationFailed`.
async fn verify_access_token(
    parts: &Parts,
    state: &AppState,
    id: Option<WorkspaceId>,
    key: Zeroizing<String>,
) -> Result<Caller, NoCaller> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let found = state
        .db(move |s| {
            let uid = match &id {
                Some(id) => s.workspace_uid(id)?,
                None => None,
            };
            let token =
                s.use_access_token(uid.as_deref().unwrap_or(NO_WORKSPACE_UID), &key, now)?;
            let (Some(token), Some(uid)) = (token, uid) else {
                return Ok(None);
            };
            Ok(s.get_workspace_by_uid(&uid)?
                .filter(|w| w.api_key_enabled)
                .map(|w| (token, w)))
        })
        .await
        .map_err(NoCaller::Other)?;
    let Some((token, ws)) = found else {
        return Err(NoCaller::Credential);
    };
    let action = data_action(&parts.method);
    if action == JOBS_WRITE && token.access == TokenAccess::Read {
        let scope = ws.id().map(|i| i.to_id()).unwrap_or_default();
        return Err(NoCaller::Other(ApiError::new(
            StatusCode::FORBIDDEN,
            qws_core::rbac::AUTHORIZATION_FAILED,
            qws_core::rbac::authorization_failed_message(
                &format!("accessToken:{}", token.name),
                &token.hint,
                action,
                &scope,
            ),
        )));
    }
    Ok(Caller {
        ws,
        created_by: format!("accessToken:{}", token.name),
        created_by_type: "Key",
        object_id: None,
        holder: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real store, with every step recorded.
    struct Recording<'a> {
        store: &'a Store,
        steps: std::cell::RefCell<Vec<&'static str>>,
    }

    impl KeyDirectory for Recording<'_> {
        fn credentials(
            &self,
            ws: &WorkspaceId,
        ) -> Result<Option<Arc<WorkspaceCredentials>>, StoreError> {
            self.steps.borrow_mut().push("find workspace credentials");
            KeyDirectory::credentials(self.store, ws)
        }
        fn match_key(&self, creds: Option<&WorkspaceCredentials>, presented: &str) -> KeyCheck {
            // One HMAC fingerprint and a constant-time comparison per slot.
            self.steps.borrow_mut().push("fingerprint and compare");
            self.store.match_key(creds, presented)
        }
    }

    #[test]
    fn refusals_take_the_same_steps_whether_or_not_the_workspace_exists() {
        let dir = tempfile::tempdir().unwrap();
        let (crypto, _) = qws_store::crypto::Crypto::load_or_create(dir.path()).unwrap();
        let store = Store::open_target(
            &qws_store::db::test_cluster::target_for_dir(dir.path()),
            crypto,
        )
        .unwrap();
        let (ids, _, _) = crate::bootstrap::ensure(&store).unwrap();
        let dev = ids.workspace_id().unwrap();
        let uid = store.get_workspace(&dev).unwrap().unwrap().uid;
        let keys = store.workspace_keys(&uid).unwrap();
        let right = keys.keys[0].key.expose().to_string();
        let wrong = "A".repeat(right.len());

        let steps = |ws: &str, key: &str| {
            let r = Recording {
                store: &store,
                steps: Default::default(),
            };
            let id = WorkspaceId::from_parts(&ids.subscription_id, "qws", ws).unwrap();
            let (check, found) = check_workspace_key(&r, Some(&id), key).unwrap();
            (check, found.is_some(), r.steps.into_inner())
        };
        let existing = steps("dev", &wrong);
        let missing = steps("nope", &wrong);
        assert_eq!(existing.0, KeyCheck::Refused);
        assert_eq!(missing.0, KeyCheck::Refused);
        assert!(
            !existing.1 && !missing.1,
            "a refusal hands out no workspace"
        );
        assert_eq!(existing.2, missing.2, "same steps for both refusals");
        assert_eq!(
            missing.2,
            ["find workspace credentials", "fingerprint and compare"],
            "an unknown workspace still costs the fingerprint and the comparisons"
        );
        // And the check still works, for either key.
        let (check, found, _) = steps("dev", &right);
        assert_eq!(check, KeyCheck::Primary);
        assert!(found);
        let secondary = keys.keys[1].key.expose().to_string();
        assert_eq!(steps("dev", &secondary).0, KeyCheck::Secondary);
    }

    #[test]
    fn a_cached_key_is_refused_once_regenerated() {
        let dir = tempfile::tempdir().unwrap();
        let (crypto, _) = qws_store::crypto::Crypto::load_or_create(dir.path()).unwrap();
        let store = Store::open(dir.path(), crypto).unwrap();
        let (ids, _, _) = crate::bootstrap::ensure(&store).unwrap();
        let dev = ids.workspace_id().unwrap();
        let uid = store.get_workspace(&dev).unwrap().unwrap().uid;
        let key = |slot: usize| {
            store.workspace_keys(&uid).unwrap().keys[slot]
                .key
                .expose()
                .to_string()
        };
        let check = |k: &str| check_workspace_key(&store, Some(&dev), k).unwrap().0;
        let old = key(0);
        assert_eq!(check(&old), KeyCheck::Primary);
        assert_eq!(check(&old), KeyCheck::Primary, "served from memory");
        store.regenerate_keys(&uid, &[KeySlot::Primary]).unwrap();
        assert_eq!(
            check(&old),
            KeyCheck::Refused,
            "the old key, right after regeneration"
        );
        assert_eq!(check(&key(0)), KeyCheck::Primary, "the new key");
    }
}
