//! ARM-owned endpoints: subscriptions, tenants, resource groups.

use super::{actions, require_subscription};
use crate::api_version::ArmApiVersion;
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::body::ArmJson;
use crate::conn::ConnInfo;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_core::models::{ListResult, ResourceGroup, ResourceGroupProperties, Subscription, Tags};
use qws_core::names::{Location, ResourceGroupName};
use qws_store::{ResourceGroupRecord, SubscriptionRecord};
use serde::Deserialize;
use serde_json::json;

fn subscription_model(s: &SubscriptionRecord) -> Subscription {
    Subscription {
        id: format!("/subscriptions/{}", s.id),
        subscription_id: s.id.to_string(),
        tenant_id: s.tenant_id.clone(),
        display_name: s.display_name.clone(),
        state: "Enabled".into(),
        subscription_policies: json!({"locationPlacementId": "Public_2014-09-01", "quotaId": "qws", "spendingLimit": "Off"}),
        authorization_source: "RoleBased".into(),
    }
}

pub(super) async fn list_subscriptions(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
) -> ApiResult<Json<ListResult<Subscription>>> {
    let subs = state.db(|s| s.list_subscriptions()).await?;
    let value = subs
        .iter()
        .filter(|s| {
            authorize(
                &principal,
                actions::SUBSCRIPTION_READ,
                &format!("/subscriptions/{}", s.id),
            )
            .is_ok()
        })
        .map(subscription_model)
        .collect();
    Ok(Json(ListResult {
        value,
        next_link: None,
    }))
}

pub(super) async fn get_subscription(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    Path(sub): Path<String>,
) -> ApiResult<Json<Subscription>> {
    let id = require_subscription(&state, &sub).await?;
    authorize(
        &principal,
        actions::SUBSCRIPTION_READ,
        &format!("/subscriptions/{id}"),
    )?;
    let s = state
        .db(move |s| s.get_subscription(&id))
        .await?
        .ok_or_else(|| ApiError::subscription_not_found(&sub))?;
    Ok(Json(subscription_model(&s)))
}

pub(super) async fn list_tenants(
    _principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
) -> Json<serde_json::Value> {
    let t = &state.ids.tenant_id;
    Json(
        json!({"value": [{"id": format!("/tenants/{t}"), "tenantId": t, "tenantCategory": "Home",
        "displayName": "qws", "defaultDomain": "qws.local", "domains": ["qws.local"]}]}),
    )
}

fn group_model(g: &ResourceGroupRecord) -> ResourceGroup {
    ResourceGroup {
        id: format!(
            "/subscriptions/{}/resourceGroups/{}",
            g.subscription, g.name
        ),
        name: g.name.clone(),
        resource_type: "Microsoft.Resources/resourceGroups".into(),
        location: g.location.clone(),
        tags: g.tags.clone(),
        properties: ResourceGroupProperties {
            provisioning_state: "Succeeded".into(),
        },
    }
}

pub(super) async fn list_groups(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    Path(sub): Path<String>,
) -> ApiResult<Json<ListResult<ResourceGroup>>> {
    let id = require_subscription(&state, &sub).await?;
    authorize(
        &principal,
        actions::GROUP_READ,
        &format!("/subscriptions/{id}"),
    )?;
    let groups = state.db(move |s| s.list_resource_groups(&id)).await?;
    Ok(Json(ListResult {
        value: groups.iter().map(group_model).collect(),
        next_link: None,
    }))
}

async fn load_group(state: &AppState, sub: &str, rg: &str) -> ApiResult<ResourceGroupRecord> {
    let id = require_subscription(state, sub).await?;
    let name = ResourceGroupName::parse(rg)?;
    let key = name.as_str().to_string();
    state
        .db(move |s| s.get_resource_group(&id, &key))
        .await?
        .ok_or_else(|| ApiError::resource_group_not_found(name.as_str()))
}

pub(super) async fn get_group(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    Path((sub, rg)): Path<(String, String)>,
) -> ApiResult<Json<ResourceGroup>> {
    let g = load_group(&state, &sub, &rg).await?;
    authorize(&principal, actions::GROUP_READ, &group_model(&g).id)?;
    Ok(Json(group_model(&g)))
}

/// `HEAD` = check existence: 204 or 404, no body.
pub(super) async fn head_group(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    Path((sub, rg)): Path<(String, String)>,
) -> Response {
    match load_group(&state, &sub, &rg).await {
        Ok(g) => match authorize(&principal, actions::GROUP_READ, &group_model(&g).id) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => e.status.into_response(),
        },
        Err(e) => e.status.into_response(),
    }
}

#[derive(Deserialize)]
pub(super) struct GroupPut {
    location: Option<String>,
    tags: Option<Tags>,
}

pub(super) async fn put_group(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    Path((sub, rg)): Path<(String, String)>,
    ArmJson(body): ArmJson<GroupPut>,
) -> ApiResult<Response> {
    let id = require_subscription(&state, &sub).await?;
    let name = ResourceGroupName::parse(&rg)?;
    let location = Location::parse(body.location.as_deref().unwrap_or(""))?;
    let tags = body.tags.unwrap_or_default();
    super::workspaces::validate_tags(&tags)?;
    authorize(
        &principal,
        actions::GROUP_WRITE,
        &format!("/subscriptions/{id}/resourceGroups/{name}"),
    )?;
    let (g, created) = state
        .db(move |s| s.put_resource_group(&id, name.as_str(), location.as_str(), &tags))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(group_model(&g))).into_response())
}

pub(super) async fn delete_group(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    Path((sub, rg)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = require_subscription(&state, &sub).await?;
    let name = ResourceGroupName::parse(&rg)?;
    let scope = format!("/subscriptions/{id}/resourceGroups/{name}");
    authorize(&principal, actions::GROUP_DELETE, &scope)?;
    let key = name.as_str().to_string();
    let deleted = state
        .db(move |s| s.delete_resource_group(&id, &key))
        .await?;
    match deleted {
        None => Err(ApiError::resource_group_not_found(name.as_str())),
        Some(workspaces) => {
            crate::blob::purge_deleted_workspaces(&state).await;
            for ws in workspaces {
                state.audit(
                    &principal.audit_name(),
                    super::actions::DELETE,
                    &format!("{scope}/providers/Microsoft.Quantum/workspaces/{ws}"),
                    "success",
                    conn.remote,
                )?;
            }
            Ok(StatusCode::OK)
        }
    }
}
