//! `Microsoft.Storage/storageAccounts`: create-or-update (202 + `Location`, or 200 for an
//! update), get, list by resource group and subscription, delete, and
//! `checkNameAvailability`. An account is real: its uid is a blob namespace, and every
//! workspace whose `storageAccount` names it keeps its job data there
//! ([`qws_store::Store::blob_namespace`]); `primaryEndpoints.blob` is qws's blob endpoint.

use super::{actions, require_group};
use crate::api_version::ArmApiVersion;
use crate::audit::AuditAction;
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::{BaseUrl, ConnInfo};
use crate::paths::{Authorized, GroupPath, StorageAccountPath, SubscriptionPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_core::models::Tags;
use qws_core::names::{Location, StorageAccountName};
use qws_core::resource_id::{StorageAccountId, STORAGE_ACCOUNT_TYPE};
use qws_store::{StorageAccountRecord, StorageAccountSpec, StorageConflict};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;

/// SKUs Azure offers for storage accounts.
const SKUS: &[&str] = &[
    "Standard_LRS",
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_ZRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
    "Premium_LRS",
    "Premium_ZRS",
];
/// Account kinds.
const KINDS: &[&str] = &[
    "Storage",
    "StorageV2",
    "BlobStorage",
    "BlockBlobStorage",
    "FileStorage",
];
/// Settable properties kept (others are accepted and ignored, as qws has no use for them).
const KEPT_PROPERTIES: &[(&str, PropKind)] = &[
    ("allowBlobPublicAccess", PropKind::Bool),
    ("allowSharedKeyAccess", PropKind::Bool),
    ("supportsHttpsTrafficOnly", PropKind::Bool),
    ("minimumTlsVersion", PropKind::Tls),
    ("accessTier", PropKind::Tier),
];

#[derive(Clone, Copy)]
enum PropKind {
    Bool,
    Tls,
    Tier,
}

/// The body of a storage account PUT.
#[derive(Deserialize, Default)]
pub(crate) struct StoragePut {
    location: Option<String>,
    tags: Option<Tags>,
    sku: Option<SkuIn>,
    kind: Option<String>,
    properties: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct SkuIn {
    name: Option<String>,
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> ApiResult<String> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .map(|a| a.to_string())
        .ok_or_else(|| {
            ApiError::invalid_content(
                field,
                format!(
                    "The value '{}' is not valid for {field}. Allowed values: {}.",
                    value.chars().take(64).collect::<String>(),
                    allowed.join(", ")
                ),
            )
        })
}

/// Validates a PUT body into what is stored.
pub(crate) fn validate_put(body: StoragePut) -> ApiResult<StorageAccountSpec> {
    let location = Location::parse(body.location.as_deref().unwrap_or(""))?;
    let tags = body.tags.unwrap_or_default();
    super::workspaces::validate_tags(&tags)?;
    let sku = body.sku.and_then(|s| s.name).ok_or_else(|| {
        ApiError::invalid_content(
            "sku.name",
            "The storage account SKU (sku.name) is required.",
        )
    })?;
    let sku = one_of("sku.name", &sku, SKUS)?;
    let kind = body.kind.ok_or_else(|| {
        ApiError::invalid_content("kind", "The storage account kind is required.")
    })?;
    let kind = one_of("kind", &kind, KINDS)?;
    let mut properties = Map::new();
    for (name, kind) in KEPT_PROPERTIES {
        let Some(v) = body.properties.as_ref().and_then(|p| p.get(*name)) else {
            continue;
        };
        let field = format!("properties.{name}");
        let kept = match (kind, v) {
            (PropKind::Bool, Value::Bool(_)) => v.clone(),
            (PropKind::Tls, Value::String(s)) => Value::String(one_of(
                &field,
                s,
                &["TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3"],
            )?),
            (PropKind::Tier, Value::String(s)) => {
                Value::String(one_of(&field, s, &["Hot", "Cool", "Cold", "Premium"])?)
            }
            _ => {
                return Err(ApiError::invalid_content(
                    &field,
                    format!("The value of {field} has the wrong type."),
                ))
            }
        };
        properties.insert(name.to_string(), kept);
    }
    Ok(StorageAccountSpec {
        location: location.as_str().to_string(),
        tags,
        sku,
        kind,
        properties: Value::Object(properties),
    })
}

fn not_found(id: &StorageAccountId) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        format!(
            "The Resource '{STORAGE_ACCOUNT_TYPE}/{}' under resource group '{}' was not found.",
            id.account, id.group.resource_group
        ),
    )
}

/// The ARM representation of a stored account.
pub(crate) fn model(state: &AppState, a: &StorageAccountRecord) -> Value {
    let tier = if a.spec.sku.starts_with("Premium") {
        "Premium"
    } else {
        "Standard"
    };
    let mut props = json!({
        "provisioningState": "Succeeded",
        "creationTime": qws_core::time_fmt::arm_precise(
            time::OffsetDateTime::from_unix_timestamp_nanos(a.created_at as i128)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)),
        "primaryEndpoints": {"blob": format!("{}/", crate::planes::blob::blob_base_url(state))},
        "primaryLocation": a.spec.location,
        "statusOfPrimary": "available",
        "allowBlobPublicAccess": false,
        "allowSharedKeyAccess": true,
        "supportsHttpsTrafficOnly": true,
        "minimumTlsVersion": "TLS1_2",
    });
    if a.spec.kind != "Storage" {
        props["accessTier"] = json!("Hot");
    }
    if let (Value::Object(out), Value::Object(set)) = (&mut props, &a.spec.properties) {
        for (k, v) in set {
            out.insert(k.clone(), v.clone());
        }
    }
    json!({
        "id": a.id.to_id(),
        "name": a.id.account.as_str(),
        "type": STORAGE_ACCOUNT_TYPE,
        "location": a.spec.location,
        "tags": a.spec.tags,
        "sku": {"name": a.spec.sku, "tier": tier},
        "kind": a.spec.kind,
        "properties": props,
    })
}

/// Creates or updates an account (authorization already decided); audits a creation.
pub(crate) async fn apply(
    state: &AppState,
    principal: &AuthenticatedPrincipal,
    remote: SocketAddr,
    id: &StorageAccountId,
    spec: StorageAccountSpec,
) -> ApiResult<(StorageAccountRecord, bool)> {
    let key = id.clone();
    let outcome = state
        .db(move |s| s.put_storage_account(&key, &spec))
        .await?;
    let (rec, created) = match outcome {
        Ok(done) => done,
        Err(StorageConflict::GroupNotFound) => {
            return Err(ApiError::resource_group_not_found(
                id.group.resource_group.as_str(),
            ))
        }
        Err(StorageConflict::NameTaken) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "StorageAccountAlreadyTaken",
                format!("The storage account named {} is already taken.", id.account),
            ))
        }
        Err(StorageConflict::LocationChange(existing)) => {
            return Err(ApiError::bad_request(
                "InvalidResourceLocation",
                format!("The resource already exists in location '{existing}'. A resource with the same name cannot be created in another location."),
            ))
        }
    };
    if created {
        state.audit(
            &principal.audit_name(),
            AuditAction::StorageAccountCreate,
            &id.to_id(),
            "success",
            remote,
        )?;
    }
    Ok((rec, created))
}

pub(super) async fn put_account(
    ArmApiVersion(version): ArmApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    BaseUrl(base): BaseUrl,
    account: Authorized<StorageAccountPath, actions::StorageWrite>,
    ArmJson(body): ArmJson<StoragePut>,
) -> ApiResult<Response> {
    let spec = validate_put(body)?;
    let id = account.path.0;
    let (rec, created) = apply(&state, &account.principal, conn.remote, &id, spec).await?;
    if !created {
        return Ok((StatusCode::OK, Json(model(&state, &rec))).into_response());
    }
    // Provisioning is immediate; the account URL itself is the polling location, so a poller
    // that follows it gets the finished account.
    let mut resp = StatusCode::ACCEPTED.into_response();
    let location = format!("{base}{}?api-version={version}", id.to_id());
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(resp)
}

/// Loads an account; 404 `ResourceGroupNotFound` or `ResourceNotFound`.
pub(crate) async fn load(
    state: &AppState,
    id: &StorageAccountId,
) -> ApiResult<StorageAccountRecord> {
    require_group(state, &id.group).await?;
    let key = id.clone();
    state
        .db(move |s| s.get_storage_account(&key))
        .await?
        .ok_or_else(|| not_found(id))
}

pub(super) async fn get_account(
    _v: ArmApiVersion,
    State(state): State<AppState>,
    account: Authorized<StorageAccountPath, actions::StorageRead>,
) -> ApiResult<Json<Value>> {
    let a = load(&state, &account.path.0).await?;
    Ok(Json(model(&state, &a)))
}

fn listed(
    state: &AppState,
    principal: &AuthenticatedPrincipal,
    rows: &[StorageAccountRecord],
) -> Json<Value> {
    let value: Vec<Value> = rows
        .iter()
        .filter(|a| authorize(principal, actions::STORAGE_READ, &a.id.to_id()).is_ok())
        .map(|a| model(state, a))
        .collect();
    Json(json!({ "value": value }))
}

pub(super) async fn list_by_group(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    GroupPath(group): GroupPath,
) -> ApiResult<Json<Value>> {
    require_group(&state, &group).await?;
    let g = group.clone();
    let rows = state
        .db(move |s| s.list_storage_accounts(&g.subscription, Some(&g.resource_group)))
        .await?;
    Ok(listed(&state, &principal, &rows))
}

pub(super) async fn list_by_subscription(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    SubscriptionPath(sub): SubscriptionPath,
) -> ApiResult<Json<Value>> {
    let rows = state
        .db(move |s| s.list_storage_accounts(&sub, None))
        .await?;
    Ok(listed(&state, &principal, &rows))
}

pub(super) async fn delete_account(
    _v: ArmApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    account: Authorized<StorageAccountPath, actions::StorageDelete>,
) -> ApiResult<StatusCode> {
    let id = account.path.0;
    require_group(&state, &id.group).await?;
    let key = id.clone();
    let deleted = state.db(move |s| s.delete_storage_account(&key)).await?;
    if deleted.is_none() {
        return Ok(StatusCode::NO_CONTENT);
    }
    // The account's blob namespace has no owner now: its data goes with it.
    crate::planes::blob::purge_deleted_workspaces(&state).await;
    state.audit(
        &account.principal.audit_name(),
        AuditAction::StorageAccountDelete,
        &id.to_id(),
        "success",
        conn.remote,
    )?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
pub(super) struct NameCheck {
    name: Option<String>,
    #[serde(rename = "type")]
    resource_type: Option<String>,
}

/// `POST /subscriptions/{s}/providers/Microsoft.Storage/checkNameAvailability`.
pub(super) async fn check_name(
    _v: ArmApiVersion,
    State(state): State<AppState>,
    _sub: Authorized<SubscriptionPath, actions::StorageCheckName>,
    ArmJson(body): ArmJson<NameCheck>,
) -> ApiResult<Json<Value>> {
    if let Some(t) = &body.resource_type {
        if !t.eq_ignore_ascii_case(STORAGE_ACCOUNT_TYPE) {
            return Err(ApiError::invalid_content(
                "type",
                format!("The type must be '{STORAGE_ACCOUNT_TYPE}'."),
            ));
        }
    }
    let name = body.name.unwrap_or_default();
    let name = match StorageAccountName::parse(&name) {
        Ok(n) => n,
        Err(e) => {
            return Ok(Json(
                json!({"nameAvailable": false, "reason": "AccountNameInvalid", "message": e.message}),
            ))
        }
    };
    let n = name.clone();
    if state.db(move |s| s.storage_account_name_taken(&n)).await? {
        return Ok(Json(
            json!({"nameAvailable": false, "reason": "AlreadyExists",
            "message": format!("The storage account named {name} is already taken.")}),
        ));
    }
    Ok(Json(json!({"nameAvailable": true})))
}
