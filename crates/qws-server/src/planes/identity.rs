//! The token service: OIDC discovery (Entra v2 form and ADFS form), MSAL's instance discovery,
//! JWKS, the OAuth2 client-credentials grant as MSAL / azure-identity send it, and the App
//! Service managed-identity endpoint. With `--azure-compat` the same routes answer as
//! `https://login.microsoftonline.com` through the proxy ([`crate::http::proxy`]), so the default
//! cloud's sign-in (`az login`) needs no configuration. User sign-in flows (password, refresh
//! token, device code, authorization code) are in [`super::signin`].
//!
//! The managed-identity endpoint (`GET /msi/token`) issues administrator tokens over plain
//! HTTP to a loopback caller that presents the `X-IDENTITY-HEADER` secret written to
//! `bootstrap.json` (0600); non-loopback peers get 403 even when the listeners are bound to
//! other addresses, and every token issued is audited (principal, audience, client address). It
//! exists for local development (`IDENTITY_ENDPOINT`/`IDENTITY_HEADER` make
//! `DefaultAzureCredential` work unmodified) and can be switched off with `qws serve --no-msi`.
//! (It issues the administrator's tokens: narrower roles wait for role assignments.)

use crate::audit::AuditAction;
use crate::auth::gate::{self, Failure, Rejection};
use crate::auth::jwt::Claims;
use crate::auth::ratelimit::GuessTarget;
use crate::error::{ErrorHeaders, WithHeaders};
use crate::http::conn::{BaseUrl, ConnInfo};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// Largest token request body.
const MAX_FORM: usize = 64 * 1024;

/// Identity routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/adfs/.well-known/openid-configuration",
            get(adfs_discovery),
        )
        // az's tenant check with `--tenant adfs` names `adfs` twice.
        .route(
            "/adfs/adfs/v2.0/.well-known/openid-configuration",
            get(adfs_discovery),
        )
        .route("/adfs/discovery/keys", get(jwks))
        .route("/common/discovery/instance", get(instance_discovery))
        .route("/adfs/oauth2/token", post(adfs_token))
        .route("/msi/token", get(msi_token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(v2_discovery),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(v2_discovery),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(jwks_tenant))
        .route("/{tenant}/discovery/keys", get(jwks_tenant))
        .route("/{tenant}/oauth2/v2.0/token", post(v2_token))
        .route("/{tenant}/oauth2/token", post(v1_token))
        .route("/metadata/endpoints", get(cloud_metadata))
        .merge(super::signin::router())
}

/// An OAuth2 error response (`{"error", "error_description", "error_codes", ...}`).
pub struct OAuthError {
    pub(crate) status: StatusCode,
    pub(crate) error: &'static str,
    code: u32,
    description: String,
    headers: ErrorHeaders,
}

impl WithHeaders for OAuthError {
    fn headers_mut(&mut self) -> &mut ErrorHeaders {
        &mut self.headers
    }
}

impl OAuthError {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> OAuthError {
        OAuthError {
            status,
            error,
            code,
            description: description.into(),
            headers: ErrorHeaders::default(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let trace = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {} Trace ID: {trace}", self.code, self.description),
            "error_codes": [self.code],
            "timestamp": qws_core::time_fmt::seconds_z(time::OffsetDateTime::now_utc()),
            "trace_id": trace,
            "correlation_id": uuid::Uuid::new_v4().to_string(),
        });
        let mut resp = (self.status, Json(body)).into_response();
        self.headers.apply(resp.headers_mut());
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

/// Maps a path tenant to ours: our tenant id, or the `organizations`/`common` aliases.
pub(crate) fn resolve_tenant(state: &AppState, tenant: &str) -> Result<String, OAuthError> {
    let ours = &state.ids.tenant_id;
    if tenant.eq_ignore_ascii_case(ours)
        || tenant.eq_ignore_ascii_case("organizations")
        || tenant.eq_ignore_ascii_case("common")
    {
        Ok(ours.clone())
    } else {
        Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            90002,
            format!(
                "Tenant '{}' not found. Check to make sure you have the correct tenant ID.",
                tenant.chars().take(64).collect::<String>()
            ),
        ))
    }
}

fn discovery_doc(
    base: &str,
    prefix: &str,
    issuer: &str,
    token_path: &str,
    keys_path: &str,
) -> serde_json::Value {
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{base}/{prefix}/{token_path}"),
        "authorization_endpoint": format!("{base}/{prefix}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{prefix}/oauth2/v2.0/devicecode"),
        "jwks_uri": format!("{base}/{prefix}/{keys_path}"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "response_types_supported": ["code", "token"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": ["client_credentials", "password", "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code", "authorization_code"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "scopes_supported": ["openid", "profile", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "name",
            "preferred_username", "nonce"],
        "tenant_region_scope": "qws",
    })
}

async fn v2_discovery(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    Path(tenant): Path<String>,
) -> Response {
    match resolve_tenant(&state, &tenant) {
        Ok(tid) => Json(discovery_doc(
            &base,
            &tenant,
            &format!("{base}/{tid}/v2.0"),
            "oauth2/v2.0/token",
            "discovery/v2.0/keys",
        ))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn adfs_discovery(BaseUrl(base): BaseUrl) -> Response {
    Json(discovery_doc(
        &base,
        "adfs",
        &format!("{base}/adfs"),
        "oauth2/token",
        "discovery/keys",
    ))
    .into_response()
}

/// MSAL's instance discovery (`GET /common/discovery/instance?authorization_endpoint=…`): an
/// authority on this server, or on the Entra host this server answers for, is known; its tenant
/// discovery document is this server's v2 OpenID configuration for the same tenant.
async fn instance_discovery(
    BaseUrl(base): BaseUrl,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let unknown = || {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_instance",
            50049,
            "Unknown or invalid instance.",
        )
        .into_response()
    };
    let Some(endpoint) = q
        .get("authorization_endpoint")
        .and_then(|e| url::Url::parse(e).ok())
    else {
        return unknown();
    };
    let origin = endpoint.origin().ascii_serialization();
    let entra = format!("https://{}", crate::http::proxy::LOGIN_HOST);
    if origin != base && origin != entra {
        return unknown();
    }
    let tenant = endpoint
        .path_segments()
        .and_then(|mut s| s.next())
        .filter(|t| !t.is_empty() && t.len() <= 64)
        .unwrap_or("common");
    let host = endpoint.host_str().unwrap_or_default().to_string();
    Json(json!({
        "tenant_discovery_endpoint": format!("{origin}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    }))
    .into_response()
}

async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.signer.jwks())
}

async fn jwks_tenant(State(state): State<AppState>, Path(tenant): Path<String>) -> Response {
    match resolve_tenant(&state, &tenant) {
        Ok(_) => Json(state.signer.jwks()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// ARM cloud metadata for `az cloud register --endpoint-resource-manager`.
async fn cloud_metadata(BaseUrl(base): BaseUrl) -> Json<serde_json::Value> {
    Json(json!({
        "name": "qws",
        "resourceManager": format!("{base}/"),
        "portal": format!("{base}/"),
        "authentication": {
            "loginEndpoint": format!("{base}/"),
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD"
        },
        "graphAudience": "https://graph.windows.net/",
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "suffixes": {"storage": "core.windows.net", "keyVaultDns": "vault.azure.net",
                     "acrLoginServer": "azurecr.io", "sqlServerHostname": "database.windows.net"}
    }))
}

/// Which token endpoint a request came to: they differ in how the resource is named
/// (`scope` or `resource`), in the response fields and in the tokens' issuer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    V2,
    V1,
    Adfs,
}

/// The issuer Entra writes into v1 tokens, whatever host issued them.
pub(crate) const V1_ISSUER_PREFIX: &str = "https://sts.windows.net/";

impl Flavor {
    /// The `iss` and `ver` of an access token from this endpoint at `base` for tenant `tid`, as
    /// Entra writes them: v1 tokens name `https://sts.windows.net/{tid}/`; v2 (and ADFS-form)
    /// tokens name the authority the client used, `{base}/{tid}/v2.0`, which is the issuer of
    /// the v2 discovery document. The management and data planes accept both
    /// ([`crate::auth::principal`]).
    pub(crate) fn issuer(self, base: &str, tid: &str) -> (String, &'static str) {
        match self {
            Flavor::V1 => (format!("{V1_ISSUER_PREFIX}{tid}/"), "1.0"),
            Flavor::V2 | Flavor::Adfs => (format!("{base}/{tid}/v2.0"), "2.0"),
        }
    }
}

async fn v2_token(
    state: State<AppState>,
    conn: ConnInfo,
    base: BaseUrl,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(state, conn, base, Some(tenant), Flavor::V2, headers, body).await
}

async fn v1_token(
    state: State<AppState>,
    conn: ConnInfo,
    base: BaseUrl,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(state, conn, base, Some(tenant), Flavor::V1, headers, body).await
}

async fn adfs_token(
    state: State<AppState>,
    conn: ConnInfo,
    base: BaseUrl,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    token(state, conn, base, None, Flavor::Adfs, headers, body).await
}

/// Resources qws issues tokens for, and the `aud` each gets.
pub(crate) fn audience_for(resource: &str) -> Option<&'static str> {
    let r = resource.trim_end_matches('/').to_ascii_lowercase();
    match r.as_str() {
        "https://management.azure.com" => Some("https://management.azure.com/"),
        "https://management.core.windows.net" => Some("https://management.core.windows.net/"),
        "https://quantum.microsoft.com" => Some("https://quantum.microsoft.com"),
        _ => None,
    }
}

/// Extracts the single resource from a v2 `scope` (`{resource}/.default`, OIDC scopes ignored).
fn resource_from_scope(scope: &str) -> Result<String, OAuthError> {
    let resources: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !matches!(*s, "openid" | "profile" | "offline_access"))
        .collect();
    match resources.as_slice() {
        [one] => match one.strip_suffix("/.default") {
            Some(r) if !r.is_empty() => Ok(r.to_string()),
            _ => Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                1002012,
                "The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
            )),
        },
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided request must include exactly one resource scope of the form '{resource}/.default'.",
        )),
    }
}

#[allow(clippy::too_many_arguments)]
async fn token(
    State(state): State<AppState>,
    conn: ConnInfo,
    BaseUrl(base): BaseUrl,
    tenant: Option<String>,
    flavor: Flavor,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue_for_client(&state, conn, &base, tenant, flavor, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

/// How a token request's `client_id` appears in the audit log: only a well-formed client id (a
/// GUID) is written; anything else may be a secret pasted into the wrong field.
pub(crate) fn audit_client_name(client_id: &str) -> String {
    match uuid::Uuid::try_parse(client_id) {
        Ok(id) if client_id.len() == 36 => format!("app:{}", id.hyphenated()),
        _ => "app:<invalid>".into(),
    }
}

pub(crate) fn server_error() -> OAuthError {
    OAuthError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        50000,
        "Internal error.",
    )
}

/// The OAuth2 answer to a throttled failed attempt.
pub(crate) fn throttled(retry_after: u64) -> OAuthError {
    OAuthError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "temporarily_unavailable",
        50196,
        "Too many failed authentication attempts. Retry later.",
    )
    .with_retry_after(retry_after)
}

async fn issue_for_client(
    state: &AppState,
    conn: ConnInfo,
    base: &str,
    tenant: Option<String>,
    flavor: Flavor,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let tid = match &tenant {
        Some(t) => resolve_tenant(state, t)?,
        None => state.ids.tenant_id.clone(),
    };
    if body.len() > MAX_FORM {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90014,
            "The request body is too large.",
        ));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let grant = form.get("grant_type").map(String::as_str).unwrap_or("");
    if grant.is_empty() {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        ));
    }
    if grant != "client_credentials" {
        let request = super::signin::TokenRequest {
            state,
            conn,
            base,
            tid: &tid,
            flavor,
            headers,
            form: &form,
        };
        return super::signin::user_grant(request, grant).await;
    }
    let (client_id, secret) = match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(secret)) => (id.clone(), secret.clone()),
        _ => match basic_credentials(headers) {
            Some(c) => c,
            None if form.contains_key("client_id") => {
                return Err(OAuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000218,
                    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                ))
            }
            None => {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    900144,
                    "The request body must contain the following parameter: 'client_id'.",
                ))
            }
        },
    };
    let resource = match flavor {
        Flavor::V1 => form.get("resource").cloned().ok_or_else(|| {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                50001,
                "The request must contain the 'resource' parameter.",
            )
        })?,
        Flavor::V2 => resource_from_scope(form.get("scope").map(String::as_str).unwrap_or(""))?,
        Flavor::Adfs => match form.get("scope") {
            Some(s) => resource_from_scope(s)?,
            None => form.get("resource").cloned().unwrap_or_default(),
        },
    };
    let aud = audience_for(&resource).ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            format!(
                "The resource principal named {} was not found in the tenant. qws issues tokens for https://management.azure.com, https://management.core.windows.net and https://quantum.microsoft.com.",
                resource.chars().take(200).collect::<String>()
            ),
        )
    })?;
    let secret = zeroize::Zeroizing::new(secret);
    let verification = async {
        let (id, secret) = (client_id.clone(), secret.clone());
        let found = state
            .db(move |s| s.authenticate_client(&id, &secret))
            .await
            .map_err(|_| Rejection::Other(server_error()))?;
        match found {
            Some(p) if p.tenant_id == tid => Ok(p),
            _ => Err(Rejection::Credential(
                OAuthError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided, or the client was not found in the tenant. Ensure the secret being sent in the request is the client secret value.",
                ),
                Failure {
                    principal: audit_client_name(&client_id),
                    ..Failure::anonymous(
                        conn.remote,
                        AuditAction::Token,
                        "oauth2/token",
                        "invalid_client",
                    )
                }
                // Counted per client id as presented, known or not.
                .guessing(GuessTarget::new("client", &client_id.to_ascii_lowercase())),
            )),
        }
    };
    let principal = gate::authenticate(state, verification, throttled).await?;
    let (token, exp) = mint(state, base, flavor, &principal, aud)?;
    let lifetime = state.config.auth.token_lifetime.as_secs().saturating_sub(1);
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": token,
    });
    if flavor != Flavor::V2 {
        body["expires_on"] = json!(exp.to_string());
        body["resource"] = json!(resource);
    }
    let mut resp = Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Signs a token for a principal and audience; returns it and its expiry.
fn mint(
    state: &AppState,
    base: &str,
    flavor: Flavor,
    principal: &qws_store::Principal,
    aud: &str,
) -> Result<(String, i64), OAuthError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let exp = now + state.config.auth.token_lifetime.as_secs() as i64;
    let (iss, ver) = flavor.issuer(base, &principal.tenant_id);
    let claims = Claims {
        aud: aud.to_string(),
        iss,
        iat: now,
        nbf: now,
        exp,
        tid: principal.tenant_id.clone(),
        oid: principal.object_id.clone(),
        sub: principal.object_id.clone(),
        appid: principal.client_id.clone(),
        azp: principal.client_id.clone(),
        idtyp: "app".into(),
        ver: ver.into(),
        uti: uuid::Uuid::new_v4().simple().to_string(),
        jti: Some(uuid::Uuid::new_v4().to_string()),
        ..Default::default()
    };
    let token = state.signer.issue(&claims).map_err(|_| {
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            50000,
            "Internal error.",
        )
    })?;
    Ok((token, exp))
}

async fn msi_token(
    State(state): State<AppState>,
    conn: ConnInfo,
    BaseUrl(base): BaseUrl,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !state.config.auth.enable_msi {
        return OAuthError::new(
            StatusCode::NOT_FOUND,
            "invalid_request",
            40400,
            "The managed-identity endpoint is disabled on this server.",
        )
        .into_response();
    }
    let verification = async {
        // Tokens over plain http for a header secret: only ever to this machine, whatever
        // addresses the listeners are bound to.
        if !conn.remote.ip().to_canonical().is_loopback() {
            return Err(Rejection::Credential(
                OAuthError::new(
                    StatusCode::FORBIDDEN,
                    "invalid_request",
                    40300,
                    "The managed-identity endpoint answers loopback clients only.",
                ),
                Failure::anonymous(
                    conn.remote,
                    AuditAction::MsiToken,
                    "msi/token",
                    "non-loopback client",
                ),
            ));
        }
        let presented = headers
            .get("x-identity-header")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if bool::from(presented.ct_eq(state.identity_header.as_bytes())) {
            return Ok(());
        }
        Err(Rejection::Credential(
            OAuthError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                40100,
                "The X-IDENTITY-HEADER is missing or wrong.",
            ),
            Failure::anonymous(
                conn.remote,
                AuditAction::MsiToken,
                "msi/token",
                "invalid identity header",
            )
            .guessing(GuessTarget::new("identity header", "")),
        ))
    };
    if let Err(e) = gate::authenticate(&state, verification, throttled).await {
        return e.into_response();
    }
    let resource = q.get("resource").cloned().unwrap_or_default();
    let Some(aud) = audience_for(&resource) else {
        return OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_resource",
            500011,
            "Unknown resource.",
        )
        .into_response();
    };
    let client_id = state.msi_client_id.clone();
    let principal = match state
        .db(move |s| s.principal_by_client_id(&client_id))
        .await
    {
        Ok(Some(p)) => p,
        _ => {
            return OAuthError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                50000,
                "Internal error.",
            )
            .into_response()
        }
    };
    let (token, exp) = match mint(&state, &base, Flavor::V2, &principal, aud) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    // Every issued token is on record (never the token itself); no record, no token.
    let principal_name = format!("msi:{}", principal.client_id);
    if state
        .audit(
            &principal_name,
            AuditAction::MsiToken,
            aud,
            "success",
            conn.remote,
        )
        .is_err()
    {
        return server_error().into_response();
    }
    Json(json!({
        "access_token": token,
        "expires_on": exp.to_string(),
        "resource": resource,
        "token_type": "Bearer",
        "client_id": principal.client_id,
    }))
    .into_response()
}
