//! Microsoft.Quantum workspaces: create-or-update (201 + short LRO / 200), get, PATCH tags,
//! delete (202 + Location / 204), list by subscription and resource group with `nextLink` paging.

use super::{actions, parse_skip_token, skip_token, workspace_model};
use crate::api_version::QuantumApiVersion;
use crate::audit::AuditAction;
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::{BaseUrl, ConnInfo};
use crate::paths::{Authorized, GroupPath, Scoped, SubscriptionPath, WorkspacePath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_core::catalog;
use qws_core::models::{ListResult, Provider, QuantumWorkspace, Tags};
use qws_core::names::{Location, ResourceGroupName, SubscriptionId};
use qws_core::resource_id::{self, WorkspaceId};
use qws_store::{Actor, OperationRecord, WorkspaceRecord, WorkspaceSpec};
use serde::Deserialize;

/// ARM tag limits: 50 tags, names ≤ 512 characters, values ≤ 256.
pub(crate) fn validate_tags(tags: &Tags) -> ApiResult<()> {
    if tags.len() > 50 {
        return Err(
            ApiError::bad_request("InvalidTag", "At most 50 tags are allowed.").with_target("tags"),
        );
    }
    for (k, v) in tags {
        if k.is_empty()
            || k.chars().count() > 512
            || k.contains(['<', '>', '%', '&', '\\', '?', '/'])
        {
            return Err(ApiError::bad_request(
                "InvalidTagNameCharacters",
                "Tag names must be 1-512 characters and cannot contain '<', '>', '%', '&', '\\', '?', '/'.",
            )
            .with_target(format!("tags.{}", k.chars().take(64).collect::<String>())));
        }
        if v.chars().count() > 256 {
            return Err(ApiError::bad_request(
                "InvalidTag",
                "Tag values must be at most 256 characters.",
            )
            .with_target(format!("tags.{}", k.chars().take(64).collect::<String>())));
        }
    }
    Ok(())
}

fn actor(p: &AuthenticatedPrincipal) -> Actor {
    Actor {
        name: p.principal.client_id.clone(),
        kind: "Application".into(),
    }
}

/// Loads a workspace; 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub(crate) async fn load(state: &AppState, id: &WorkspaceId) -> ApiResult<WorkspaceRecord> {
    let key = id.clone();
    let (group, workspace) = state
        .db(move |s| Ok((s.get_resource_group(&key.group())?, s.get_workspace(&key)?)))
        .await?;
    if group.is_none() {
        return Err(ApiError::resource_group_not_found(
            id.resource_group.as_str(),
        ));
    }
    workspace.ok_or_else(|| {
        ApiError::workspace_not_found(id.resource_group.as_str(), id.workspace.as_str())
    })
}

fn with_etag(status: StatusCode, w: &WorkspaceRecord, body: QuantumWorkspace) -> Response {
    let mut resp = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&w.etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

pub(super) async fn get_workspace(
    _principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    ws: Authorized<WorkspacePath, actions::Read>,
) -> ApiResult<Response> {
    let w = load(&state, &ws.path.0).await?;
    Ok(with_etag(StatusCode::OK, &w, workspace_model(&state, &w)?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspacePut {
    location: Option<String>,
    tags: Option<Tags>,
    identity: Option<IdentityIn>,
    properties: Option<PropertiesIn>,
}

#[derive(Deserialize)]
struct IdentityIn {
    #[serde(rename = "type")]
    identity_type: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PropertiesIn {
    providers: Option<Vec<Provider>>,
    storage_account: Option<String>,
    api_key_enabled: Option<bool>,
    workspace_kind: Option<String>,
}

const IDENTITY_TYPES: &[&str] = &[
    "None",
    "SystemAssigned",
    "UserAssigned",
    "SystemAssigned,UserAssigned",
    "SystemAssigned, UserAssigned",
];

fn validate_put(body: WorkspacePut) -> ApiResult<(Location, Tags, Option<String>, PropertiesIn)> {
    let location = Location::parse(body.location.as_deref().unwrap_or(""))?;
    let tags = body.tags.unwrap_or_default();
    validate_tags(&tags)?;
    let identity = match body.identity.and_then(|i| i.identity_type) {
        Some(t) if IDENTITY_TYPES.iter().any(|x| x.eq_ignore_ascii_case(&t)) => Some(
            IDENTITY_TYPES
                .iter()
                .find(|x| x.eq_ignore_ascii_case(&t))
                .expect("found")
                .replace(", ", ","),
        ),
        Some(t) => {
            return Err(ApiError::invalid_content(
                "identity.type",
                format!(
                    "The identity type '{}' is invalid. Allowed values: {}.",
                    t.chars().take(64).collect::<String>(),
                    IDENTITY_TYPES[..4].join(", ")
                ),
            ))
        }
        None => None,
    };
    let props = body.properties.unwrap_or_default();
    if let Some(kind) = &props.workspace_kind {
        if kind != "V1" && kind != "V2" {
            return Err(ApiError::invalid_content(
                "properties.workspaceKind",
                format!(
                    "The workspace kind '{}' is invalid. Allowed values: V1, V2.",
                    kind.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    for (i, p) in props.providers.iter().flatten().enumerate() {
        if p.provider_id.as_deref().unwrap_or("").trim().is_empty() {
            return Err(ApiError::invalid_content(
                &format!("properties.providers[{i}].providerId"),
                "Each provider needs a non-empty providerId.",
            ));
        }
        if p.provider_sku.as_deref().unwrap_or("").trim().is_empty() {
            return Err(ApiError::invalid_content(
                &format!("properties.providers[{i}].providerSku"),
                "Each provider needs a non-empty providerSku.",
            ));
        }
    }
    for (i, p) in props.providers.iter().flatten().enumerate() {
        validate_offered(
            i,
            p.provider_id.as_deref().unwrap_or(""),
            p.provider_sku.as_deref().unwrap_or(""),
        )?;
    }
    if props.providers.as_ref().is_some_and(|p| p.len() > 64) {
        return Err(ApiError::invalid_content(
            "properties.providers",
            "At most 64 providers are allowed.",
        ));
    }
    Ok((location, tags, identity, props))
}

/// Refuses a provider entry that the offerings endpoint does not advertise: an unknown
/// `providerId` (400 `InvalidProvider`) or a SKU that provider does not offer (400 `InvalidSku`).
/// ARM compares both case-insensitively. Errors list what is offered so the caller can fix it.
fn validate_offered(index: usize, id: &str, sku: &str) -> ApiResult<()> {
    let clip = |s: &str| s.trim().chars().take(64).collect::<String>();
    let Some(provider) = catalog::provider(id.trim()) else {
        let offered: Vec<&str> = catalog::PROVIDERS.iter().map(|p| p.id).collect();
        return Err(ApiError::bad_request(
            "InvalidProvider",
            format!(
                "The provider '{}' is not offered. Offered providers: {}.",
                clip(id),
                offered.join(", ")
            ),
        )
        .with_target(format!("properties.providers[{index}].providerId")));
    };
    if !provider.sku.eq_ignore_ascii_case(sku.trim()) {
        return Err(ApiError::bad_request(
            "InvalidSku",
            format!(
                "The SKU '{}' is not offered for provider '{}'. Offered SKUs: {}.",
                clip(sku),
                provider.id,
                provider.sku
            ),
        )
        .with_target(format!("properties.providers[{index}].providerSku")));
    }
    Ok(())
}

pub(super) async fn put_workspace(
    principal: AuthenticatedPrincipal,
    QuantumApiVersion(version): QuantumApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    BaseUrl(base): BaseUrl,
    path: WorkspacePath,
    ArmJson(body): ArmJson<WorkspacePut>,
) -> ApiResult<Response> {
    let scope = path.scope();
    let (rec, created) = apply(&state, &principal, conn.remote, &path.0, body).await?;
    let model = workspace_model(&state, &rec)?;
    if !created {
        return Ok(with_etag(StatusCode::OK, &rec, model));
    }
    let op_url = record_operation(&state, &base, &rec, &scope, &version).await?;
    let mut resp = with_etag(StatusCode::CREATED, &rec, model);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&op_url) {
        h.insert("azure-asyncoperation", v);
    }
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(resp)
}

/// Creates or updates workspace `id` from a PUT body for `principal`: validates the body,
/// authorizes `Microsoft.Quantum/Workspaces/write`, stores, and audits a creation and a change
/// of key access. Shared by the PUT route and template deployments.
pub(crate) async fn apply(
    state: &AppState,
    principal: &AuthenticatedPrincipal,
    remote: std::net::SocketAddr,
    id: &WorkspaceId,
    body: WorkspacePut,
) -> ApiResult<(WorkspaceRecord, bool)> {
    let (location, tags, identity_type, props) = validate_put(body)?;
    let scope = id.to_id();
    authorize(principal, actions::WRITE, &scope)?;
    let who = actor(principal);
    let key = id.clone();
    let requested_enabled = props.api_key_enabled;
    let result = state
        .db(move |store| {
            let id = key;
            if store.get_resource_group(&id.group())?.is_none() {
                return Ok(Ok(None));
            }
            let existing = store.get_workspace(&id)?;
            if existing.as_ref().is_some_and(|w| w.deleting_op.is_some()) {
                return Ok(Err(()));
            }
            let spec = WorkspaceSpec {
                location: location.as_str().to_string(),
                tags,
                providers: props.providers.unwrap_or_default(),
                storage_account: props.storage_account,
                identity_type,
                // Absent on update keeps the current setting; absent on create means enabled.
                api_key_enabled: requested_enabled
                    .unwrap_or(existing.as_ref().is_none_or(|w| w.api_key_enabled)),
                workspace_kind: props
                    .workspace_kind
                    .or_else(|| existing.as_ref().map(|w| w.workspace_kind.clone()))
                    .unwrap_or_else(|| "V1".into()),
            };
            let before = existing.map(|w| w.api_key_enabled);
            let (rec, created) = store.put_workspace(&id, &spec, &who)?;
            Ok(Ok(Some((rec, created, before))))
        })
        .await?;
    let Ok(result) = result else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ResourceDeleting",
            format!("The workspace '{}' is being deleted.", id.workspace),
        ));
    };
    let Some((rec, created, before)) = result else {
        return Err(ApiError::resource_group_not_found(
            id.resource_group.as_str(),
        ));
    };
    let audit_name = principal.audit_name();
    if created {
        state.audit(
            &audit_name,
            AuditAction::CreateWorkspace,
            &scope,
            "success",
            remote,
        )?;
    }
    if let Some(before) = before {
        if before != rec.api_key_enabled {
            let action = if rec.api_key_enabled {
                AuditAction::EnableKeys
            } else {
                AuditAction::DisableKeys
            };
            state.audit(&audit_name, action, &scope, "success", remote)?;
        }
    }
    Ok((rec, created))
}

/// Stores a completed operation record and returns its absolute status URL.
async fn record_operation(
    state: &AppState,
    base: &str,
    w: &WorkspaceRecord,
    scope: &str,
    version: &str,
) -> ApiResult<String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
    let op = OperationRecord {
        id: uuid::Uuid::new_v4().to_string(),
        subscription: w.subscription,
        location: w.location.clone(),
        resource_id: scope.to_string(),
        status: "Succeeded".into(),
        start_time: now,
        end_time: Some(now),
    };
    let url = format!(
        "{base}{}?api-version={version}",
        resource_id::operation_status_id(&w.subscription, &w.location, &op.id)
    );
    state.db(move |s| s.put_operation(&op)).await?;
    Ok(url)
}

#[derive(Deserialize)]
pub(super) struct TagsPatch {
    tags: Option<Tags>,
}

pub(super) async fn patch_workspace(
    principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    path: WorkspacePath,
    ArmJson(body): ArmJson<TagsPatch>,
) -> ApiResult<Response> {
    authorize(&principal, actions::WRITE, &path.scope())?;
    let w = load(&state, &path.0).await?;
    refuse_if_deleting(&w)?;
    let Some(tags) = body.tags else {
        return Ok(with_etag(StatusCode::OK, &w, workspace_model(&state, &w)?));
    };
    validate_tags(&tags)?;
    let who = actor(&principal);
    let id = path.0;
    let updated = state
        .db(move |store| store.set_workspace_tags(&id, &tags, &who))
        .await?;
    Ok(with_etag(
        StatusCode::OK,
        &updated,
        workspace_model(&state, &updated)?,
    ))
}

pub(super) async fn delete_workspace(
    QuantumApiVersion(version): QuantumApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    BaseUrl(base): BaseUrl,
    ws: Authorized<WorkspacePath, actions::Delete>,
) -> ApiResult<Response> {
    let scope = ws.path.scope();
    super::require_group(&state, &ws.path.0.group()).await?;
    let Some((op, started)) = super::deletion::begin(&state, &ws.path.0).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    if started {
        state.audit(
            &ws.principal.audit_name(),
            AuditAction::DeleteWorkspace,
            &scope,
            "success",
            conn.remote,
        )?;
    }
    let w = load(&state, &ws.path.0).await.ok();
    let location = w.as_ref().map_or("", |w| w.location.as_str());
    let sub = ws.path.0.subscription;
    let status_url = format!(
        "{base}{}?api-version={version}",
        resource_id::operation_status_id(&sub, location, &op)
    );
    let result_url = format!(
        "{base}{}?api-version={version}",
        resource_id::operation_result_id(&sub, location, &op)
    );
    let mut resp = StatusCode::ACCEPTED.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&result_url) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        h.insert("azure-asyncoperation", v);
    }
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(resp)
}

/// Refuses a change to a workspace that is being deleted (ARM: 409 while another operation runs).
fn refuse_if_deleting(w: &WorkspaceRecord) -> ApiResult<()> {
    if w.deleting_op.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ResourceDeleting",
            format!("The workspace '{}' is being deleted.", w.name),
        ));
    }
    Ok(())
}

async fn list_page(
    state: &AppState,
    principal: &AuthenticatedPrincipal,
    sub: SubscriptionId,
    rg: Option<ResourceGroupName>,
    uri: &Uri,
    base: &str,
    version: &str,
) -> ApiResult<Json<ListResult<QuantumWorkspace>>> {
    let after = parse_skip_token(uri.query())?;
    let page = state.config.mgmt.page_size.max(1);
    let mut rows = state
        .db(move |s| {
            s.list_workspaces(
                &sub,
                rg.as_ref(),
                after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                page + 1,
            )
        })
        .await?;
    let more = rows.len() > page;
    rows.truncate(page);
    let next_link = match (more, rows.last()) {
        (true, Some(last)) => {
            let last = last.id()?;
            Some(format!(
                "{base}{}?api-version={version}&$skiptoken={}",
                uri.path(),
                skip_token(&last.resource_group.key(), &last.workspace.key())
            ))
        }
        _ => None,
    };
    let value = rows
        .iter()
        .filter_map(|w| workspace_model(state, w).ok())
        .filter(|m| authorize(principal, actions::READ, &m.id).is_ok())
        .collect();
    Ok(Json(ListResult { value, next_link }))
}

pub(super) async fn list_by_subscription(
    principal: AuthenticatedPrincipal,
    QuantumApiVersion(version): QuantumApiVersion,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    uri: Uri,
    SubscriptionPath(sub): SubscriptionPath,
) -> ApiResult<Json<ListResult<QuantumWorkspace>>> {
    list_page(&state, &principal, sub, None, &uri, &base, &version).await
}

pub(super) async fn list_by_group(
    principal: AuthenticatedPrincipal,
    QuantumApiVersion(version): QuantumApiVersion,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    uri: Uri,
    GroupPath(group): GroupPath,
) -> ApiResult<Json<ListResult<QuantumWorkspace>>> {
    super::require_group(&state, &group).await?;
    list_page(
        &state,
        &principal,
        group.subscription,
        Some(group.resource_group),
        &uri,
        &base,
        &version,
    )
    .await
}
