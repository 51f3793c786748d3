//! Location-scoped and tenant-scoped Microsoft.Quantum endpoints: checkNameAvailability,
//! offerings, the operation list and the operation status and result resources.

use super::actions;
use crate::api_version::QuantumApiVersion;
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::BaseUrl;
use crate::paths::{LocationPath, Scoped, SubscriptionPath};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_core::catalog::PROVIDERS;
use qws_core::models::{
    CheckNameAvailabilityRequest, CheckNameAvailabilityResponse, OperationStatus,
};
use qws_core::names::{SubscriptionId, WorkspaceName};
use qws_core::resource_id;
use qws_store::OperationRecord;
use serde_json::{json, Value};

pub(super) async fn check_name(
    principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    path: LocationPath,
    ArmJson(body): ArmJson<CheckNameAvailabilityRequest>,
) -> ApiResult<Json<CheckNameAvailabilityResponse>> {
    authorize(&principal, actions::CHECK_NAME, &path.scope())?;
    let location = path.location;
    if let Some(t) = &body.resource_type {
        if !t.eq_ignore_ascii_case("Microsoft.Quantum/Workspaces") {
            return Err(ApiError::invalid_content(
                "type",
                "Only the type 'Microsoft.Quantum/Workspaces' can be checked.",
            ));
        }
    }
    let Some(name) = body.name else {
        return Err(ApiError::invalid_content(
            "name",
            "The 'name' field is required.",
        ));
    };
    let parsed = match WorkspaceName::parse(&name) {
        Ok(n) => n,
        Err(e) => {
            return Ok(Json(CheckNameAvailabilityResponse {
                name_available: false,
                reason: Some("Invalid".into()),
                message: Some(e.message),
            }))
        }
    };
    let loc = location.as_str().to_string();
    let taken = state
        .db(move |s| s.workspace_name_taken(&parsed, &loc))
        .await?;
    Ok(Json(if taken {
        CheckNameAvailabilityResponse {
            name_available: false,
            reason: Some("AlreadyExists".into()),
            message: Some("Resource name already exists".into()),
        }
    } else {
        CheckNameAvailabilityResponse {
            name_available: true,
            reason: None,
            message: None,
        }
    }))
}

fn offering(p: &qws_core::catalog::ProviderInfo) -> Value {
    let targets: Vec<Value> = p
        .targets
        .iter()
        .map(|t| {
            json!({"id": t.id, "name": t.name, "description": t.description,
                   "acceptedDataFormats": t.input_formats, "acceptedContentEncodings": ["identity", "gzip"],
                   "numQubits": t.num_qubits, "targetProfile": "Base"})
        })
        .collect();
    json!({
        "id": p.id,
        "name": p.name,
        "properties": {
            "description": p.description,
            "providerType": "qe",
            "company": p.company,
            "defaultEndpoint": "",
            "aad": {"applicationId": "", "tenantId": ""},
            "managedApplication": {"publisherId": "N/A", "offerId": "N/A"},
            "targets": targets,
            "skus": [{"id": p.sku, "name": p.sku, "version": "1.0", "description": "Simulated locally by qws at no cost.",
                      "restrictedAccessUri": "", "autoAdd": true,
                      "targets": p.targets.iter().map(|t| t.id).collect::<Vec<_>>(),
                      "quotaDimensions": [], "pricingDetails": []}],
            "quotaDimensions": [],
            "pricingDimensions": []
        }
    })
}

pub(super) async fn offerings(
    principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    path: LocationPath,
) -> ApiResult<Json<Value>> {
    authorize(&principal, actions::OFFERINGS_READ, &path.scope())?;
    Ok(Json(
        json!({"value": PROVIDERS.iter().map(offering).collect::<Vec<_>>()}),
    ))
}

pub(super) async fn operations(
    _principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
) -> Json<Value> {
    let op = |name: &str, resource: &str, operation: &str, data: bool| {
        json!({"name": name, "isDataAction": data, "origin": "user,system",
               "display": {"provider": "Microsoft.Quantum", "resource": resource, "operation": operation, "description": operation}})
    };
    Json(json!({"value": [
        op("Microsoft.Quantum/Workspaces/read", "Workspaces", "Read workspace", false),
        op("Microsoft.Quantum/Workspaces/write", "Workspaces", "Create or update workspace", false),
        op("Microsoft.Quantum/Workspaces/delete", "Workspaces", "Delete workspace", false),
        op("Microsoft.Quantum/Workspaces/listKeys/action", "Workspaces", "List workspace access keys", false),
        op("Microsoft.Quantum/Workspaces/regenerateKey/action", "Workspaces", "Regenerate workspace access keys", false),
        op("Microsoft.Quantum/locations/offerings/read", "Offerings", "Read quantum workspace's available providers", false),
        op("Microsoft.Quantum/locations/checkNameAvailability/action", "Locations", "Check workspace name availability", false),
        op("Microsoft.Quantum/locations/operationStatuses/read", "Operation statuses", "Read operation status", false),
        op("Microsoft.Quantum/Workspaces/jobs/read", "Jobs", "Read jobs", true),
        op("Microsoft.Quantum/Workspaces/jobs/write", "Jobs", "Create or update jobs", true),
    ]}))
}

/// Loads an operation of this subscription, finishing a pending workspace deletion first (a
/// poll completes it, see [`super::deletion`]), and checks the caller may read it.
async fn polled_operation(
    state: &AppState,
    principal: &AuthenticatedPrincipal,
    sub: SubscriptionId,
    id: &str,
) -> ApiResult<OperationRecord> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The operation '{}' was not found.",
                id.chars().take(64).collect::<String>()
            ),
        )
    };
    let load = |id: String| async move { state.db(move |s| s.get_operation(&id)).await };
    let op = load(id.to_string())
        .await?
        .filter(|o| o.subscription == sub)
        .ok_or_else(not_found)?;
    authorize(principal, actions::OPERATION_STATUS_READ, &op.resource_id)?;
    super::deletion::finish_polled(state, &op).await?;
    load(id.to_string()).await?.ok_or_else(not_found)
}

pub(super) async fn operation_status(
    principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    SubscriptionPath(sub): SubscriptionPath,
    Path((_, _, id)): Path<(String, String, String)>,
) -> ApiResult<Json<OperationStatus>> {
    let op = polled_operation(&state, &principal, sub, &id).await?;
    let t = |n: i64| {
        qws_core::time_fmt::arm_precise(
            time::OffsetDateTime::from_unix_timestamp_nanos(n as i128)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        )
    };
    let done = op.status != "InProgress";
    Ok(Json(OperationStatus {
        id: resource_id::operation_status_id(&sub, &op.location, &op.id),
        name: op.id.clone(),
        resource_id: op.resource_id.clone(),
        status: op.status.clone(),
        start_time: t(op.start_time),
        end_time: op.end_time.map(t),
        percent_complete: if done { 100.0 } else { 0.0 },
    }))
}

/// `…/operationResults/{id}`: the `Location` of a workspace deletion: 202 (with `Location`
/// and `Retry-After`) while it runs, 204 once it has succeeded.
pub(super) async fn operation_result(
    principal: AuthenticatedPrincipal,
    QuantumApiVersion(version): QuantumApiVersion,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    SubscriptionPath(sub): SubscriptionPath,
    Path((_, _, id)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let op = polled_operation(&state, &principal, sub, &id).await?;
    if op.status != "InProgress" {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut resp = StatusCode::ACCEPTED.into_response();
    let again = format!(
        "{base}{}?api-version={version}",
        resource_id::operation_result_id(&sub, &op.location, &op.id)
    );
    if let Ok(v) = HeaderValue::from_str(&again) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(resp)
}
