//! Bearer-token authentication with ARM's 401 codes.

use super::gate::{self, Failure, Rejection};
use super::jwt::{Claims, TokenError};
use crate::audit::AuditAction;
use crate::error::{ApiError, WithHeaders};
use crate::http::conn::{BaseUrl, ConnInfo};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use qws_store::Principal;

/// A caller whose bearer token verified and whose principal exists: a service principal, or a
/// signed-in user (then `principal.client_id` is the application the user signed in through,
/// the token's `appid`, and `claims.upn` the user principal name).
#[derive(Debug, Clone)]
pub struct AuthenticatedPrincipal {
    /// The principal.
    pub principal: Principal,
    /// The verified claims.
    pub claims: Claims,
    /// The role assignments that apply to the caller (its own and its groups'), read from the
    /// store for this request, so a role change applies to the very next request. Empty for
    /// the bootstrap administrator, which is granted everything by its flag.
    pub access: std::sync::Arc<super::Access>,
}

impl AuthenticatedPrincipal {
    /// How the principal appears in audit records and `systemData`.
    pub fn audit_name(&self) -> String {
        if self.claims.is_user() {
            format!("user:{}", self.principal.object_id)
        } else {
            format!("app:{}", self.principal.client_id)
        }
    }

    /// The user principal name, for a user's token.
    pub fn upn(&self) -> Option<&str> {
        self.claims.upn.as_deref().filter(|_| self.claims.is_user())
    }
}

fn unauthorized(code: &str, message: String, base: &str, tenant: &str) -> ApiError {
    let description = message.replace('"', "'");
    ApiError::new(StatusCode::UNAUTHORIZED, code, message).with_www_authenticate(format!(
        "Bearer authorization_uri=\"{base}/{tenant}\", error=\"invalid_token\", error_description=\"{description}\""
    ))
}

/// Authenticates the request's bearer token for one of `audiences`, answering with ARM's codes
/// (`AuthenticationFailed`, `InvalidAuthenticationToken`, `ExpiredAuthenticationToken`,
/// `InvalidAuthenticationTokenAudience`). The token is verified first; only a failure is counted
/// per client address, audited, and throttled ([`super::gate`]).
pub async fn authenticate_bearer(
    parts: &mut Parts,
    state: &AppState,
    audiences: &[&str],
) -> Result<AuthenticatedPrincipal, ApiError> {
    let conn = ConnInfo::from_request_parts(parts, state)
        .await
        .unwrap_or_else(|e| match e {});
    let verification = async {
        match verify_bearer(parts, state, audiences).await {
            Ok(p) => {
                crate::metrics::note_principal(&p.principal.object_id);
                Ok(p)
            }
            Err(e) if e.status == StatusCode::UNAUTHORIZED => {
                let failure = Failure::anonymous(
                    conn.remote,
                    AuditAction::Authenticate,
                    parts.uri.path(),
                    &e.code,
                );
                Err(Rejection::Credential(e, failure))
            }
            Err(e) => Err(Rejection::Other(e)),
        }
    };
    gate::authenticate(state, verification, throttled).await
}

/// ARM's answer to a throttled failed authentication (management and data plane alike).
pub(crate) fn throttled(retry_after: u64) -> ApiError {
    let e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "TooManyRequests",
        "Too many failed authentication attempts. Retry later.",
    );
    e.with_retry_after(retry_after)
}

/// Verifies the bearer token without counting a failure: for callers (the data plane) that
/// record failures through [`gate`] themselves, against their own target.
pub(crate) async fn verify_bearer(
    parts: &mut Parts,
    state: &AppState,
    audiences: &[&str],
) -> Result<AuthenticatedPrincipal, ApiError> {
    let BaseUrl(base) = BaseUrl::from_request_parts(parts, state)
        .await
        .unwrap_or_else(|e| match e {});
    verify(parts, state, audiences, &base).await
}

/// Public Entra authority named in challenges in `--azure-compat` mode.
pub const ENTRA_AUTHORITY: &str = "https://login.microsoftonline.com";

/// The authority a 401 challenge names: Azure tools (the QDK editor extension, the Azure SDKs)
/// read the tenant from `authorization_uri` and accept only Entra's host, so `--azure-compat`
/// names that host (which the compat proxy answers as qws); otherwise qws's own URL as called.
pub fn challenge_authority<'a>(state: &AppState, base: &'a str) -> &'a str {
    if state.config.listeners.azure_compat {
        ENTRA_AUTHORITY
    } else {
        base
    }
}

/// Clock skew allowed on a token's `nbf` and `exp`: five minutes, as Entra allows.
const CLOCK_SKEW_SECS: i64 = 300;

/// Whether a token valid from `nbf` until `exp` (its claims) is within its lifetime at `now`
/// (unix seconds, all three), with the clock skew [`verify`] allows: what must still be
/// checked on every request for a token whose other checks are remembered.
pub(crate) fn within_lifetime(nbf: i64, exp: i64, now: i64) -> bool {
    exp.saturating_add(CLOCK_SKEW_SECS) >= now && nbf <= now.saturating_add(CLOCK_SKEW_SECS)
}

/// The token of an `Authorization: Bearer <token>` header, if the header has that form.
fn bearer_token(value: &axum::http::HeaderValue) -> Option<&str> {
    let v = value.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    Some(rest.trim()).filter(|t| scheme.eq_ignore_ascii_case("bearer") && !t.is_empty())
}

/// The bearer token a request presents, if any (not yet verified).
pub(crate) fn presented_bearer_token(parts: &Parts) -> Option<&str> {
    bearer_token(parts.headers.get(header::AUTHORIZATION)?)
}

async fn verify(
    parts: &Parts,
    state: &AppState,
    audiences: &[&str],
    base: &str,
) -> Result<AuthenticatedPrincipal, ApiError> {
    let tenant = state.ids.tenant_id.clone();
    let base = challenge_authority(state, base);
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".into(),
            base,
            &tenant,
        ));
    };
    let Some(token) = bearer_token(value) else {
        return Err(unauthorized(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format."
                .into(),
            base,
            &tenant,
        ));
    };
    let invalid = || {
        unauthorized(
            "InvalidAuthenticationToken",
            "The access token is invalid.".into(),
            base,
            &tenant,
        )
    };
    let claims = match state.signer.verify(token) {
        Ok(c) => c,
        Err(TokenError::Malformed | TokenError::BadSignature) => return Err(invalid()),
    };
    // v2 tokens name the authority the client signed in at (this server, or the Entra host it
    // answers for through the proxy); v1 tokens name Entra's v1 issuer.
    let v2_issuer = claims.iss.ends_with(&format!("/{tenant}/v2.0"));
    let v1_issuer = claims.iss == format!("{}{tenant}/", crate::planes::identity::V1_ISSUER_PREFIX);
    if claims.tid != tenant || !(v2_issuer || v1_issuer) {
        return Err(invalid());
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if claims.exp + CLOCK_SKEW_SECS < now {
        return Err(unauthorized(
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                qws_core::time_fmt::seconds_z(qws_core::time_fmt::from_unix(claims.exp)),
                qws_core::time_fmt::seconds_z(qws_core::time_fmt::from_unix(now)),
            ),
            base,
            &tenant,
        ));
    }
    if claims.nbf > now + CLOCK_SKEW_SECS {
        return Err(invalid());
    }
    if !audiences.contains(&claims.aud.as_str()) {
        let allowed = audiences
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(",");
        return Err(unauthorized(
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{}'. It should exactly match with one of the allowed audiences {allowed}.",
                claims.aud.chars().take(200).collect::<String>()
            ),
            base,
            &tenant,
        ));
    }
    let oid = claims.oid.clone();
    let (is_user, tid) = (claims.is_user(), tenant.clone());
    // The principal and what its roles grant: from memory while the database's change version
    // is the one they were read at (any change to a principal, group, assignment or role, by
    // any process, moves it on), else read in one trip to the database.
    let version = state.store.change_version()?;
    let cache_key = (is_user, oid.to_ascii_lowercase());
    let found = match state.principals.get(version, &cache_key) {
        Some(hit) => hit,
        None => {
            let found = state
                .db(move |s| {
                    let principal = if is_user {
                        user_principal(s, &oid)?
                    } else {
                        service_principal(s, &oid)?
                    };
                    match principal.filter(|p| p.tenant_id == tid) {
                        Some(p) => {
                            let access = super::Access::read(s, &p)?;
                            Ok(Some((p, std::sync::Arc::new(access))))
                        }
                        None => Ok(None),
                    }
                })
                .await?;
            state.principals.put(version, cache_key, found.clone());
            found
        }
    };
    match found {
        Some((mut principal, access)) => {
            if is_user {
                // A user acts through the application it signed in with (the token's `appid`).
                principal.client_id = claims.appid.clone();
            }
            Ok(AuthenticatedPrincipal {
                principal,
                claims,
                access,
            })
        }
        None => Err(invalid()),
    }
}

/// Bearer-token principals (keyed by whether a user, and the object id) with what their roles
/// grant, valid only at the change version they were read at; `None` remembers a principal
/// that does not exist, is disabled, or belongs to another tenant.
pub type PrincipalCache = qws_store::change::VersionedCache<
    (bool, String),
    Option<(Principal, std::sync::Arc<super::Access>)>,
>;

/// Principals cached at once.
pub const PRINCIPAL_CACHE_MAX: usize = 4096;

/// The principal of an application's token, while it is enabled. Disabling (like deleting)
/// takes effect on the next request rather than when the token expires, as Entra's continuous
/// access evaluation does for Azure Resource Manager: the principal is read per request anyway.
fn service_principal(
    store: &qws_store::Store,
    oid: &str,
) -> Result<Option<Principal>, qws_store::StoreError> {
    let sp = store
        .identity()
        .service_principal(oid)
        .map_err(qws_store::StoreError::from)?;
    Ok(sp.filter(|sp| sp.enabled).map(|sp| Principal {
        client_id: sp.app_id,
        object_id: sp.object_id,
        tenant_id: sp.tenant_id,
        display_name: sp.display_name,
        is_admin: sp.is_bootstrap_admin,
    }))
}

/// The principal of a user's token (its `client_id` is set per token, to the application the
/// user signed in through). Never the administrator: `is_admin` belongs to the bootstrap
/// service principal alone.
fn user_principal(
    store: &qws_store::Store,
    oid: &str,
) -> Result<Option<Principal>, qws_store::StoreError> {
    let user = store
        .identity()
        .user(oid)
        .map_err(qws_store::StoreError::from)?
        .filter(|u| u.enabled);
    Ok(user.map(|u| Principal {
        client_id: String::new(),
        object_id: u.object_id,
        tenant_id: u.tenant_id,
        display_name: u.display_name,
        is_admin: false,
    }))
}

impl FromRequestParts<AppState> for AuthenticatedPrincipal {
    type Rejection = ApiError;

    /// Remembered for the rest of the request, so that later extractors needing the caller
    /// (such as [`crate::paths::Authorized`]) do not verify the token again.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(p) = parts.extensions.get::<AuthenticatedPrincipal>() {
            return Ok(p.clone());
        }
        let p = authenticate_bearer(parts, state, super::MANAGEMENT_AUDIENCES).await?;
        parts.extensions.insert(p.clone());
        Ok(p)
    }
}
