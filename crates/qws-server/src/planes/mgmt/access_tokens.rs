//! Workspace access tokens (qws's own, beyond Azure): `PUT|GET|DELETE
//! {workspace}/accessTokens/{name}` and `GET {workspace}/accessTokens`. A token grants one
//! workspace's data plane, reading only (`Read`) or reading and submitting (`Submit`), until it
//! expires or is revoked; it is presented like an access key (`x-ms-quantum-api-key`, or
//! `ApiKey=` in a connection string), so unmodified clients use it. See
//! [`crate::planes::dataplane::auth`] for the check.

use super::actions;
use super::workspaces::load;
use crate::api_version::QuantumApiVersion;
use crate::audit::AuditAction;
use crate::auth::AuthenticatedPrincipal;
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::ConnInfo;
use crate::paths::{Authorized, ItemKind, ItemName, Scoped, WorkspacePath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_store::access_tokens::{AccessToken, Created, TokenAccess};
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest lifetime a token may be given: a year.
pub const MAX_LIFETIME_SECS: i64 = 366 * 24 * 3600;

#[derive(Deserialize)]
pub(super) struct TokenPut {
    properties: Option<TokenProperties>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenProperties {
    access: Option<String>,
    expires_on: Option<String>,
}

/// How an invalid access token name is refused.
#[derive(Debug)]
pub(super) struct AccessTokenKind;

impl ItemKind for AccessTokenKind {
    const INVALID_CODE: &'static str = "InvalidAccessTokenName";
    const INVALID_MESSAGE: &'static str =
        "An access token name has 1 to 64 letters, digits, '-', '_' or '.'.";
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn time_z(t: i64) -> String {
    qws_core::time_fmt::seconds_z(qws_core::time_fmt::from_unix(t))
}

/// The ARM shape of a token (never the token itself).
fn model(scope: &str, t: &AccessToken) -> Value {
    json!({
        "id": format!("{scope}/accessTokens/{}", t.name),
        "name": t.name,
        "type": "Microsoft.Quantum/workspaces/accessTokens",
        "properties": {
            "access": t.access.as_str(),
            "expiresOn": time_z(t.expires_at),
            "createdOn": time_z(t.created_at),
            "createdBy": t.created_by,
            "lastUsedOn": t.last_used_at.map(time_z),
            "hint": t.hint,
        }
    })
}

fn token_not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "AccessTokenNotFound",
        format!("The access token '{name}' was not found in the workspace."),
    )
}

/// `PUT {ws}/accessTokens/{name}`: creates a token; the answer carries it, once.
pub(super) async fn put_token(
    principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    Authorized { path, .. }: Authorized<WorkspacePath, actions::AccessTokensWrite>,
    name: ItemName<AccessTokenKind>,
    ArmJson(body): ArmJson<TokenPut>,
) -> ApiResult<Response> {
    let scope = path.scope();
    let name = name.into_string();
    let props = body.properties.unwrap_or(TokenProperties {
        access: None,
        expires_on: None,
    });
    let access = props
        .access
        .as_deref()
        .and_then(TokenAccess::parse)
        .ok_or_else(|| {
            ApiError::invalid_content("properties.access", "access must be 'Read' or 'Submit'.")
        })?;
    let now = now();
    let expires = props
        .expires_on
        .as_deref()
        .and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        })
        .map(|t| t.unix_timestamp())
        .filter(|t| *t > now && *t - now <= MAX_LIFETIME_SECS)
        .ok_or_else(|| {
            ApiError::invalid_content(
                "properties.expiresOn",
                "expiresOn must be an RFC 3339 time in the future, at most a year from now.",
            )
        })?;
    let w = load(&state, &path.0).await?;
    let (uid, who, n) = (w.uid.clone(), principal.audit_name(), name.clone());
    let created = state
        .db(move |s| s.create_access_token(&uid, &n, access, expires, &who, now))
        .await?;
    let (token, meta) = match created {
        Created::New(token, meta) => (token, meta),
        Created::NameTaken => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "AccessTokenExists",
                format!("An access token named '{name}' exists in the workspace; revoke it first."),
            ))
        }
    };
    state.audit(
        &principal.audit_name(),
        AuditAction::AccessTokenCreate,
        &format!("{scope}/accessTokens/{name}"),
        &format!("success: {} until {}", access.as_str(), time_z(expires)),
        conn.remote,
    )?;
    let mut v = model(&scope, &meta);
    v["properties"]["token"] = Value::String(token.to_string());
    // Ready to hand to a collaborator: azure-quantum's `Workspace.from_connection_string`.
    let cs = qws_core::connection_string::ConnectionString {
        subscription_id: path.0.subscription,
        resource_group: path.0.resource_group.clone(),
        workspace_name: path.0.workspace.clone(),
        api_key: qws_core::ApiKey::from_presented(&token),
        quantum_endpoint: state.urls.quantum_endpoint_for(&w.location),
    };
    v["properties"]["connectionString"] = Value::String(cs.to_secret_string());
    let mut resp = (StatusCode::CREATED, Json(v)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET {ws}/accessTokens`.
pub(super) async fn list_tokens(
    // First, as in the other handlers: authentication is decided before the api-version.
    _principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    Authorized { path, .. }: Authorized<WorkspacePath, actions::AccessTokensRead>,
) -> ApiResult<Json<Value>> {
    let scope = path.scope();
    let w = load(&state, &path.0).await?;
    let tokens = state.db(move |s| s.list_access_tokens(&w.uid)).await?;
    let value: Vec<Value> = tokens.iter().map(|t| model(&scope, t)).collect();
    Ok(Json(json!({ "value": value })))
}

/// `GET {ws}/accessTokens/{name}`.
pub(super) async fn get_token(
    // First, as in the other handlers: authentication is decided before the api-version.
    _principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    Authorized { path, .. }: Authorized<WorkspacePath, actions::AccessTokensRead>,
    name: ItemName<AccessTokenKind>,
) -> ApiResult<Json<Value>> {
    let scope = path.scope();
    let name = name.into_string();
    let w = load(&state, &path.0).await?;
    let n = name.clone();
    let t = state.db(move |s| s.get_access_token(&w.uid, &n)).await?;
    let t = t.ok_or_else(|| token_not_found(&name))?;
    Ok(Json(model(&scope, &t)))
}

/// `DELETE {ws}/accessTokens/{name}`: revokes at once; 204 when there was none.
pub(super) async fn delete_token(
    principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    Authorized { path, .. }: Authorized<WorkspacePath, actions::AccessTokensDelete>,
    name: ItemName<AccessTokenKind>,
) -> ApiResult<StatusCode> {
    let scope = path.scope();
    let name = name.into_string();
    let w = load(&state, &path.0).await?;
    let n = name.clone();
    let revoked = state.db(move |s| s.revoke_access_token(&w.uid, &n)).await?;
    if !revoked {
        return Ok(StatusCode::NO_CONTENT);
    }
    state.audit(
        &principal.audit_name(),
        AuditAction::AccessTokenRevoke,
        &format!("{scope}/accessTokens/{name}"),
        "success",
        conn.remote,
    )?;
    Ok(StatusCode::OK)
}
