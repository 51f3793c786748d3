//! Targets a workspace offers (from its `properties.providers`, or every qws provider when the
//! list is empty) and `GET providerStatus`.

use super::auth::Caller;
use super::ListQuery;
use crate::error::ApiResult;
use crate::http::conn::BaseUrl;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use qws_core::catalog::{ProviderInfo, TargetInfo, PROVIDERS};
use qws_store::WorkspaceRecord;
use serde_json::{json, Value};

/// The providers of a workspace, in catalog order.
pub fn workspace_providers(ws: &WorkspaceRecord) -> Vec<&'static ProviderInfo> {
    let ids: Vec<String> = ws
        .providers
        .iter()
        .filter_map(|p| p.provider_id.as_deref())
        .map(str::to_ascii_lowercase)
        .collect();
    PROVIDERS
        .iter()
        .filter(|p| ids.is_empty() || ids.iter().any(|i| i == p.id))
        .collect()
}

/// Looks a target up among the workspace's providers.
pub fn find_target(
    ws: &WorkspaceRecord,
    target: &str,
) -> Option<(&'static ProviderInfo, &'static TargetInfo)> {
    workspace_providers(ws).into_iter().find_map(|p| {
        p.targets
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(target))
            .map(|t| (p, t))
    })
}

/// The output format a target produces for an input format.
pub fn output_format_for(input_format: &str) -> &'static str {
    match input_format {
        "ionq.circuit.v1" => "ionq.quantum-results.v1",
        "honeywell.openqasm.v1" => "honeywell.quantum-results.v1",
        "rigetti.quil.v1" => "rigetti.quil-results.v1",
        _ => "microsoft.quantum-results.v2",
    }
}

fn target_status(state: &AppState, t: &TargetInfo) -> Value {
    json!({
        "id": t.id,
        "currentAvailability": "Available",
        "averageQueueTime": state.dataplane.scheduler.average_queue_time(t.id),
        "statusPage": null,
        "numQubits": t.num_qubits,
        "targetProfile": t.target_profile,
        "averageQueueTimeHighPriority": null,
        "averageQueueTimeStandardPriority": null,
        "metadata": null,
    })
}

/// `GET {ws}/providerStatus`: one page of providers with their targets.
pub async fn provider_status(
    caller: Caller,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    q: ListQuery,
    uri: axum::http::Uri,
) -> ApiResult<Json<Value>> {
    // A provider with no targets (`microsoft-qc`, a billing plan here) would show as an empty,
    // unusable node in tools that draw providerStatus as a tree; only providers that can run
    // something are listed.
    let all: Vec<Value> = workspace_providers(&caller.ws)
        .into_iter()
        .filter(|p| !p.targets.is_empty())
        .map(|p| {
            let targets: Vec<Value> = p.targets.iter().map(|t| target_status(&state, t)).collect();
            json!({"id": p.id, "currentAvailability": "Available", "targets": targets})
        })
        .collect();
    Ok(Json(super::page(all, &q, &base, uri.path())))
}
