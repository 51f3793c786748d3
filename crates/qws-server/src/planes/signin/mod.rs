//! User sign-in flows of the token service: the resource-owner password grant, refresh tokens,
//! the device code flow and the authorization code flow with PKCE.
//!
//! Every flow ends in [`respond_user_tokens`]: a delegated access token (`idtyp: user`, `scp`,
//! `upn`, `name`), a refresh token from the store (rotated on use, the whole family revoked when
//! a used one comes back), an `id_token` when `openid` was asked for, and MSAL's `client_info`.
//! Every password check goes through [`password_sign_in`]: the store's lockout, then the gate
//! (verify first, count failures), with a bound on concurrent argon2id hashes.
//!
//! Clients: qws has no application registrations for public clients, so any well-formed client
//! id (a GUID, such as the Azure CLI's) may sign users in; it becomes the token's `appid`/`azp`
//! and the `id_token`'s `aud`. A client that also sends a `client_secret` must be a service
//! principal and the secret must verify.

pub(crate) mod authcode;
pub mod device;
mod forms;

use super::identity::{
    audience_for, audit_client_name, server_error, throttled, Flavor, OAuthError,
};
use crate::auth::gate::{self, Failure, Rejection};
use crate::auth::jwt::Claims;
use crate::auth::ratelimit::GuessTarget;
use crate::http::conn::{BaseUrl, ConnInfo};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use qws_store::identity::{Redeemed, RefreshTokenGrant, SignIn, User};
use serde_json::json;
use std::collections::HashMap;
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// How long a refresh token lives unused (Entra's default inactivity lifetime: 90 days). Each
/// use replaces it with one that lives as long.
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 90 * 24 * 3600;

/// The delegated scope every user token carries (what Entra grants Azure CLI on ARM).
const USER_SCOPE: &str = "user_impersonation";

/// OpenID Connect scopes that name no resource.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "offline_access", "email"];

/// A token request, parsed as far as every grant needs.
pub(crate) struct TokenRequest<'a> {
    pub state: &'a AppState,
    pub conn: ConnInfo,
    pub base: &'a str,
    pub tid: &'a str,
    pub flavor: Flavor,
    pub headers: &'a HeaderMap,
    pub form: &'a HashMap<String, String>,
}

impl TokenRequest<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.form
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.param(name).ok_or_else(|| missing(name))
    }
}

pub(crate) fn missing(name: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// Answers the token endpoint for every grant but `client_credentials`.
pub(crate) async fn user_grant(req: TokenRequest<'_>, grant: &str) -> Result<Response, OAuthError> {
    match grant {
        "password" => password_grant(req).await,
        "refresh_token" => refresh_grant(req).await,
        device::GRANT => device::token(req).await,
        "authorization_code" => authcode::token(req).await,
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type. qws supports 'client_credentials', 'password', 'refresh_token', 'authorization_code' and 'urn:ietf:params:oauth:grant-type:device_code'.",
        )),
    }
}

/// Sign-ins in progress, kept in memory: device codes waiting for their users, and
/// authorization codes waiting for redemption.
#[derive(Default)]
pub struct PendingSignIns {
    pub(crate) devices: std::sync::Mutex<device::Devices>,
    pub(crate) codes: std::sync::Mutex<HashMap<String, authcode::AuthCode>>,
}

/// The device-code endpoints, the verification page and the authorization endpoint.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authcode::authorize_page).post(authcode::authorize_submit),
        )
        .route("/{tenant}/oauth2/v2.0/devicecode", post(devicecode_v2))
        .route("/{tenant}/oauth2/devicecode", post(devicecode_v1))
        .route("/common/userrealm/{username}", get(user_realm))
        .route(
            "/devicelogin",
            get(forms::device_login_page).post(forms::device_login_submit),
        )
}

/// The tenant of a sign-in endpoint: ours, its aliases, or `adfs` (the ADFS discovery document
/// points its device-code and authorize endpoints under `/adfs/`).
pub(crate) fn signin_tenant(state: &AppState, tenant: &str) -> Result<String, OAuthError> {
    if tenant.eq_ignore_ascii_case("adfs") {
        Ok(state.ids.tenant_id.clone())
    } else {
        super::identity::resolve_tenant(state, tenant)
    }
}

/// MSAL's user realm discovery before a password grant: every qws user is a managed (not
/// federated) account, so the password goes straight to the token endpoint.
async fn user_realm(Path(username): Path<String>) -> Response {
    let domain = username
        .rsplit_once('@')
        .map(|(_, d)| d)
        .filter(|d| qws_store::identity::validate_upn(&format!("x@{d}")).is_ok())
        .unwrap_or("");
    Json(json!({
        "ver": "1.0",
        "account_type": "Managed",
        "domain_name": domain,
        "cloud_instance_name": "qws",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }))
    .into_response()
}

async fn devicecode_v2(
    State(state): State<AppState>,
    conn: ConnInfo,
    BaseUrl(base): BaseUrl,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    devicecode(&state, conn, &base, &tenant, Flavor::V2, &headers, &body).await
}

async fn devicecode_v1(
    State(state): State<AppState>,
    conn: ConnInfo,
    BaseUrl(base): BaseUrl,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    devicecode(&state, conn, &base, &tenant, Flavor::V1, &headers, &body).await
}

async fn devicecode(
    state: &AppState,
    conn: ConnInfo,
    base: &str,
    tenant: &str,
    flavor: Flavor,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let result = async {
        let tid = signin_tenant(state, tenant)?;
        let form = forms::parse_form(body).ok_or_else(|| {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                90014,
                "The request body is too large.",
            )
        })?;
        let req = TokenRequest {
            state,
            conn,
            base,
            tid: &tid,
            flavor,
            headers,
            form: &form,
        };
        device::start(req).await
    };
    result.await.unwrap_or_else(IntoResponse::into_response)
}

/// Checks the client: a well-formed client id and, if a secret came with it, the secret.
pub(crate) async fn check_client(req: &TokenRequest<'_>) -> Result<String, OAuthError> {
    let (client_id, secret) = match (req.param("client_id"), req.param("client_secret")) {
        (Some(id), secret) => (
            id.to_string(),
            secret.map(|s| Zeroizing::new(s.to_string())),
        ),
        (None, _) => match super::identity::basic_credentials(req.headers) {
            Some((id, secret)) => (id, Some(Zeroizing::new(secret))),
            None => return Err(missing("client_id")),
        },
    };
    let client_id = public_client_id(&client_id)?;
    let Some(secret) = secret else {
        return Ok(client_id);
    };
    let state = req.state;
    let verification = async {
        let (id, s) = (client_id.clone(), secret.clone());
        let found = state
            .db(move |st| st.authenticate_client(&id, &s))
            .await
            .map_err(|_| Rejection::Other(server_error()))?;
        match found {
            Some(p) if p.tenant_id == req.tid => Ok(()),
            _ => Err(Rejection::Credential(
                OAuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided, or the client was not found in the tenant.",
                ),
                Failure {
                    principal: audit_client_name(&client_id),
                    ..Failure::anonymous(
                        req.conn.remote,
                        crate::audit::AuditAction::Token,
                        "oauth2/token",
                        "invalid_client",
                    )
                }
                .guessing(GuessTarget::new("client", &client_id)),
            )),
        }
    };
    gate::authenticate(state, verification, throttled).await?;
    Ok(client_id)
}

/// A client id as public clients send it: a GUID, returned in canonical (lower-case) form.
pub(crate) fn public_client_id(client_id: &str) -> Result<String, OAuthError> {
    match uuid::Uuid::try_parse(client_id) {
        Ok(id) if client_id.len() == 36 => Ok(id.hyphenated().to_string()),
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application identifier is not a GUID; qws accepts any application (client) id of the GUID form for user sign-in.",
        )),
    }
}

/// The resource a user token is requested for.
#[derive(Debug, Clone)]
pub(crate) struct Requested {
    /// Resource URI as the client named it.
    pub resource: String,
    /// The token's `aud`.
    pub aud: &'static str,
    /// The resource scope as requested, echoed as the response's `scope`.
    pub scope: String,
    /// `openid` was requested: return an `id_token`.
    pub openid: bool,
}

fn invalid_scope(code: u32, description: &str) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_scope", code, description)
}

/// Parses a v2 `scope`: exactly one resource scope (`{resource}/.default` or
/// `{resource}/user_impersonation`) plus any OpenID Connect scopes.
pub(crate) fn parse_scope(scope: &str) -> Result<Requested, OAuthError> {
    let words: Vec<&str> = scope.split_whitespace().collect();
    let openid = words.contains(&"openid");
    let resources: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !OIDC_SCOPES.contains(w))
        .collect();
    let [one] = resources.as_slice() else {
        return Err(invalid_scope(
            70011,
            "The provided request must include exactly one resource scope, such as 'https://management.azure.com/.default'.",
        ));
    };
    let resource = one
        .strip_suffix("/.default")
        .or_else(|| one.strip_suffix(&format!("/{USER_SCOPE}")))
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            invalid_scope(
                70011,
                "The provided value for scope is not valid: use '{resource}/.default' or '{resource}/user_impersonation'.",
            )
        })?;
    Ok(Requested {
        aud: known_audience(resource)?,
        resource: resource.to_string(),
        scope: one.to_string(),
        openid,
    })
}

fn known_audience(resource: &str) -> Result<&'static str, OAuthError> {
    audience_for(resource).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {} was not found in the tenant. qws issues tokens for https://management.azure.com, https://management.core.windows.net and https://quantum.microsoft.com.",
                resource.chars().take(200).collect::<String>()
            ),
        )
    })
}

/// What a token request asks for: `scope` on v2, `resource` (or `scope`) on v1 and ADFS.
pub(crate) fn requested(req: &TokenRequest<'_>) -> Result<Requested, OAuthError> {
    match (req.flavor, req.param("resource")) {
        (Flavor::V1 | Flavor::Adfs, Some(resource)) => Ok(Requested {
            aud: known_audience(resource)?,
            resource: resource.to_string(),
            scope: format!("{}/{USER_SCOPE}", resource.trim_end_matches('/')),
            openid: req
                .param("scope")
                .is_some_and(|s| s.split_whitespace().any(|w| w == "openid")),
        }),
        _ => parse_scope(req.required("scope")?),
    }
}

/// Why a password sign-in did not produce a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignInError {
    /// Unknown user or wrong password.
    InvalidCredentials,
    /// Locked after too many failures.
    Locked,
    /// Right password, disabled account.
    Disabled,
    /// Too many failures from this address or at this user: retry after so many seconds.
    Throttled(u64),
    /// The store failed.
    Internal,
}

impl SignInError {
    /// What a person is told on a sign-in page; says nothing the token endpoint would not.
    pub fn message(self) -> &'static str {
        match self {
            SignInError::InvalidCredentials => "Your account or password is incorrect.",
            SignInError::Locked => {
                "Your account is temporarily locked to prevent unauthorized use. Try again later."
            }
            SignInError::Disabled => "Your account has been disabled. Contact your administrator.",
            SignInError::Throttled(_) => "Too many failed sign-in attempts. Try again later.",
            SignInError::Internal => "Sign-in failed because of an internal error.",
        }
    }

    /// The token endpoint's answer, with Entra's codes.
    pub fn oauth(self) -> OAuthError {
        let (code, text) = match self {
            SignInError::InvalidCredentials => (
                50126,
                "Error validating credentials due to invalid username or password.",
            ),
            SignInError::Locked => (
                50053,
                "The account is locked, you've tried to sign in too many times with an incorrect user ID or password.",
            ),
            SignInError::Disabled => (50057, "The user account is disabled."),
            SignInError::Throttled(r) => return throttled(r),
            SignInError::Internal => return server_error(),
        };
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", code, text)
    }
}

/// How a presented user name appears in the audit log: only a well-formed user principal name
/// (anything else may be a password typed into the wrong field).
fn audit_user_name(upn: &str) -> String {
    match qws_store::identity::validate_upn(upn) {
        Ok(()) => format!("user:{}", upn.to_lowercase()),
        Err(_) => "user:<invalid>".into(),
    }
}

/// Bounds concurrent argon2id verifications (each takes ~19 MiB and tens of milliseconds of
/// a core): at most one per core, the rest wait.
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(n)
    })
}

/// Signs a user in with a password through the store's lockout and the gate. `resource` names
/// the endpoint in the audit log.
pub(crate) async fn password_sign_in(
    state: &AppState,
    conn: ConnInfo,
    tid: &str,
    upn: &str,
    password: &str,
    resource: &str,
) -> Result<User, SignInError> {
    let verification = async {
        let _permit = hashing_permits()
            .acquire()
            .await
            .map_err(|_| Rejection::Other(SignInError::Internal))?;
        let (t, u, p) = (
            tid.to_string(),
            upn.to_string(),
            Zeroizing::new(password.to_string()),
        );
        let outcome = state
            .db(move |s| {
                s.identity()
                    .sign_in(&t, &u, &p)
                    .map_err(qws_store::StoreError::from)
            })
            .await
            .map_err(|_| Rejection::Other(SignInError::Internal))?;
        match outcome {
            SignIn::Success(user) => Ok(user),
            SignIn::InvalidCredentials => Err(Rejection::Credential(
                SignInError::InvalidCredentials,
                Failure {
                    principal: audit_user_name(upn),
                    ..Failure::anonymous(
                        conn.remote,
                        crate::audit::AuditAction::SignIn,
                        resource,
                        "invalid_grant",
                    )
                }
                .guessing(GuessTarget::new("user", &upn.to_lowercase())),
            )),
            // Not counted: the lock already throttles, and no password was checked.
            SignIn::LockedOut { .. } => Err(Rejection::Other(SignInError::Locked)),
            SignIn::Disabled => {
                let _ = state.audit(
                    &audit_user_name(upn),
                    crate::audit::AuditAction::SignIn,
                    resource,
                    "failure: account disabled",
                    conn.remote,
                );
                Err(Rejection::Other(SignInError::Disabled))
            }
        }
    };
    let user = gate::authenticate(state, verification, SignInError::Throttled).await?;
    let _ = state.audit(
        &format!("user:{}", user.object_id),
        crate::audit::AuditAction::SignIn,
        resource,
        "success",
        conn.remote,
    );
    Ok(user)
}

/// Signs a delegated access token for `user` through `client_id`; returns it and its expiry.
pub(crate) fn mint_user(
    state: &AppState,
    base: &str,
    flavor: Flavor,
    user: &User,
    client_id: &str,
    aud: &str,
) -> Result<(String, i64), OAuthError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let exp = now + state.config.auth.token_lifetime.as_secs() as i64;
    let (iss, ver) = flavor.issuer(base, &user.tenant_id);
    let claims = Claims {
        aud: aud.to_string(),
        iss,
        iat: now,
        nbf: now,
        exp,
        tid: user.tenant_id.clone(),
        oid: user.object_id.clone(),
        sub: user.object_id.clone(),
        appid: client_id.to_string(),
        azp: client_id.to_string(),
        idtyp: "user".into(),
        ver: ver.into(),
        uti: uuid::Uuid::new_v4().simple().to_string(),
        jti: Some(uuid::Uuid::new_v4().to_string()),
        upn: Some(user.user_principal_name.clone()),
        name: Some(user.display_name.clone()),
        scp: Some(USER_SCOPE.into()),
        roles: None,
    };
    let token = state.signer.issue(&claims).map_err(|_| server_error())?;
    Ok((token, exp))
}

/// The OpenID Connect ID token: who signed in, for the client (`aud` = client id).
#[derive(serde::Serialize)]
struct IdTokenClaims<'a> {
    aud: &'a str,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    sub: &'a str,
    oid: &'a str,
    tid: &'a str,
    preferred_username: &'a str,
    name: &'a str,
    ver: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

fn mint_id_token(
    state: &AppState,
    base: &str,
    user: &User,
    client_id: &str,
    nonce: Option<&str>,
) -> Result<String, OAuthError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = IdTokenClaims {
        aud: client_id,
        iss: format!("{base}/{}/v2.0", user.tenant_id),
        iat: now,
        nbf: now,
        exp: now + state.config.auth.token_lifetime.as_secs() as i64,
        sub: &user.object_id,
        oid: &user.object_id,
        tid: &user.tenant_id,
        preferred_username: &user.user_principal_name,
        name: &user.display_name,
        ver: "2.0",
        nonce,
    };
    state.signer.issue_any(&claims).map_err(|_| server_error())
}

/// The token response of a user sign-in. Issues a new refresh-token family unless `refresh`
/// (a rotation) is given.
pub(crate) async fn respond_user_tokens(
    req: &TokenRequest<'_>,
    user: &User,
    client_id: &str,
    want: &Requested,
    nonce: Option<&str>,
    refresh: Option<RefreshTokenGrant>,
) -> Result<Response, OAuthError> {
    let state = req.state;
    let (access, exp) = mint_user(req.state, req.base, req.flavor, user, client_id, want.aud)?;
    let refresh = match refresh {
        Some(r) => r,
        None => {
            let (oid, client, resource) = (
                user.object_id.clone(),
                client_id.to_string(),
                want.resource.clone(),
            );
            state
                .db(move |s| {
                    s.identity()
                        .issue_refresh_token(&oid, &client, &resource, REFRESH_TOKEN_LIFETIME_SECS)
                        .map_err(qws_store::StoreError::from)
                })
                .await
                .map_err(|_| server_error())?
        }
    };
    let lifetime = state.config.auth.token_lifetime.as_secs().saturating_sub(1);
    let mut body = json!({
        "token_type": "Bearer",
        "scope": want.scope,
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access,
        "refresh_token": refresh.token.as_str(),
    });
    if want.openid {
        body["id_token"] = json!(mint_id_token(state, req.base, user, client_id, nonce)?);
    }
    if req.param("client_info") == Some("1") {
        // MSAL builds its account id (`uid.utid`) from this.
        let info = json!({"uid": user.object_id, "utid": user.tenant_id}).to_string();
        body["client_info"] =
            json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(info.as_bytes()));
    }
    if req.flavor != Flavor::V2 {
        body["expires_on"] = json!(exp.to_string());
        body["resource"] = json!(want.resource);
    }
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `grant_type=password`: the resource-owner password credentials grant.
async fn password_grant(req: TokenRequest<'_>) -> Result<Response, OAuthError> {
    let client_id = check_client(&req).await?;
    let want = requested(&req)?;
    let username = req.required("username")?;
    let password = Zeroizing::new(req.required("password")?.to_string());
    let user = password_sign_in(
        req.state,
        req.conn,
        req.tid,
        username,
        &password,
        "oauth2/token",
    )
    .await
    .map_err(SignInError::oauth)?;
    respond_user_tokens(&req, &user, &client_id, &want, None, None).await
}

fn invalid_refresh_token(description: &str) -> OAuthError {
    OAuthError::new(StatusCode::BAD_REQUEST, "invalid_grant", 70000, description)
}

/// `grant_type=refresh_token`: rotates the token through the store. A token presented twice
/// revokes its family; a disabled or deleted user's tokens are gone already.
async fn refresh_grant(req: TokenRequest<'_>) -> Result<Response, OAuthError> {
    let client_id = check_client(&req).await?;
    let token = Zeroizing::new(req.required("refresh_token")?.to_string());
    let asked = if req.param("scope").is_some() || req.param("resource").is_some() {
        Some(requested(&req)?)
    } else {
        None
    };
    let state = req.state;
    let verification = async {
        let (t, c) = (token.clone(), client_id.clone());
        let redeemed = state
            .db(move |s| {
                s.identity()
                    .redeem_refresh_token(&t, &c)
                    .map_err(qws_store::StoreError::from)
            })
            .await
            .map_err(|_| Rejection::Other(server_error()))?;
        let failure = |reason: &str| Failure {
            principal: audit_client_name(&client_id),
            ..Failure::anonymous(
                req.conn.remote,
                crate::audit::AuditAction::Token,
                "oauth2/token",
                reason,
            )
        };
        match redeemed {
            Redeemed::Rotated {
                object_id,
                scope,
                next,
                ..
            } => {
                let user = state
                    .db(move |s| s.identity().user(&object_id).map_err(qws_store::StoreError::from))
                    .await
                    .map_err(|_| Rejection::Other(server_error()))?;
                match user {
                    Some(u) if u.enabled => Ok((u, scope, next)),
                    _ => Err(Rejection::Other(invalid_refresh_token(
                        "The refresh token's user no longer exists or is disabled.",
                    ))),
                }
            }
            Redeemed::Invalid => Err(Rejection::Credential(
                invalid_refresh_token(
                    "The provided refresh token is invalid, expired or revoked, or was issued to another client.",
                ),
                failure("invalid refresh token"),
            )),
            Redeemed::Reused => Err(Rejection::Credential(
                invalid_refresh_token(
                    "The refresh token was already used. All refresh tokens of this sign-in have been revoked; sign in again.",
                ),
                failure("refresh token reused; its sign-in revoked"),
            )),
        }
    };
    let (user, stored_resource, next) = gate::authenticate(state, verification, throttled).await?;
    let want = match asked {
        Some(w) => w,
        None => Requested {
            aud: known_audience(&stored_resource)?,
            scope: format!("{}/.default", stored_resource.trim_end_matches('/')),
            resource: stored_resource,
            openid: false,
        },
    };
    respond_user_tokens(&req, &user, &client_id, &want, None, Some(next)).await
}
