//! `listKeys` and `regenerateKey`. Both are audited, and the audit write happens before the
//! response: if it fails, the operation fails (keys are never returned unaudited).

use super::actions;
use super::workspaces::load;
use crate::api_version::QuantumApiVersion;
use crate::audit::AuditAction;
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::ConnInfo;
use crate::paths::{Authorized, Scoped, WorkspacePath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_core::connection_string::ConnectionString;
use qws_core::keys::KeySlot;
use qws_core::models::{ApiKeyModel, ApiKeysRequest, KeyLastUsed, ListKeysResult};
use qws_store::{StoreError, WorkspaceRecord};

fn connection_string(
    state: &AppState,
    w: &WorkspaceRecord,
    key: &qws_core::ApiKey,
) -> ApiResult<String> {
    let id = w.id()?;
    let cs = ConnectionString {
        subscription_id: id.subscription,
        resource_group: id.resource_group,
        workspace_name: id.workspace,
        api_key: key.clone(),
        quantum_endpoint: state.urls.quantum_endpoint_for(&w.location),
    };
    Ok(cs.to_secret_string())
}

/// Builds `ListKeysResult` for a workspace (shared with bootstrap).
pub(crate) fn list_keys_result(
    state: &AppState,
    w: &WorkspaceRecord,
    keys: &qws_store::WorkspaceKeys,
) -> ApiResult<ListKeysResult> {
    if !keys.enabled {
        return Ok(ListKeysResult {
            api_key_enabled: false,
            primary_key: None,
            secondary_key: None,
            primary_connection_string: String::new(),
            secondary_connection_string: String::new(),
            primary_key_last_used: None,
            secondary_key_last_used: None,
        });
    }
    let find = |slot| {
        keys.keys
            .iter()
            .find(|k| k.slot == slot)
            .ok_or_else(|| ApiError::internal("listKeys", &"missing key slot"))
    };
    let (p, s) = (find(KeySlot::Primary)?, find(KeySlot::Secondary)?);
    let model = |k: &qws_store::StoredKey| ApiKeyModel {
        created_at: qws_core::time_fmt::seconds_z(qws_core::time_fmt::from_unix(k.created_at)),
        key: k.key.expose().to_string(),
    };
    let last_used = |k: &qws_store::StoredKey| {
        k.last_used.as_ref().map(|u| KeyLastUsed {
            time: qws_core::time_fmt::seconds_z(qws_core::time_fmt::from_unix(u.at)),
            address: u.from.clone(),
        })
    };
    Ok(ListKeysResult {
        api_key_enabled: true,
        primary_key: Some(model(p)),
        secondary_key: Some(model(s)),
        primary_connection_string: connection_string(state, w, &p.key)?,
        secondary_connection_string: connection_string(state, w, &s.key)?,
        primary_key_last_used: last_used(p),
        secondary_key_last_used: last_used(s),
    })
}

pub(super) async fn list_keys(
    principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    ws: Authorized<WorkspacePath, actions::ListKeys>,
) -> ApiResult<Response> {
    let w = load(&state, &ws.path.0).await?;
    let scope = ws.path.scope();
    let uid = w.uid.clone();
    let keys = state.db(move |s| s.workspace_keys(&uid)).await?;
    let result = list_keys_result(&state, &w, &keys)?;
    let outcome = if keys.enabled {
        "success"
    } else {
        "success: keys disabled"
    };
    state.audit(
        &principal.audit_name(),
        AuditAction::ListKeys,
        &scope,
        outcome,
        conn.remote,
    )?;
    let mut resp = Json(result).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

pub(super) async fn regenerate_key(
    principal: AuthenticatedPrincipal,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    path: WorkspacePath,
    ArmJson(body): ArmJson<ApiKeysRequest>,
) -> ApiResult<Response> {
    let scope = path.scope();
    authorize(&principal, actions::REGENERATE_KEY, &scope)?;
    let w = load(&state, &path.0).await?;
    if body.keys.is_empty() {
        return Err(ApiError::invalid_content(
            "keys",
            "Name at least one key to regenerate: \"Primary\" and/or \"Secondary\".",
        ));
    }
    let mut slots = Vec::new();
    for (i, k) in body.keys.iter().enumerate() {
        let slot = KeySlot::parse(k).ok_or_else(|| {
            ApiError::invalid_content(
                &format!("keys[{i}]"),
                format!(
                    "'{}' is not a key type. Allowed values: Primary, Secondary.",
                    k.chars().take(32).collect::<String>()
                ),
            )
        })?;
        if !slots.contains(&slot) {
            slots.push(slot);
        }
    }
    let names = slots
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let uid = w.uid.clone();
    let slots2 = slots.clone();
    let store = state.store.clone();
    let outcome = tokio::task::spawn_blocking(move || store.regenerate_keys(&uid, &slots2))
        .await
        .map_err(|e| ApiError::internal("blocking task", &e))?;
    match outcome {
        Ok(()) => {
            state.key_usage.forget(&w.uid, &slots);
            state.audit(
                &principal.audit_name(),
                AuditAction::RegenerateKey,
                &scope,
                &format!("success: {names}"),
                conn.remote,
            )?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Err(StoreError::KeysDisabled) => {
            state.audit(
                &principal.audit_name(),
                AuditAction::RegenerateKey,
                &scope,
                &format!("refused: keys disabled ({names})"),
                conn.remote,
            )?;
            Err(StoreError::KeysDisabled.into())
        }
        Err(e) => Err(e.into()),
    }
}
