//! ARM-owned endpoints: subscriptions, tenants, resource groups.

use super::{actions, require_group};
use crate::api_version::ArmApiVersion;
use crate::audit::AuditAction;
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::ConnInfo;
use crate::paths::{Authorized, GroupPath, Scoped, SubscriptionPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_core::models::{ListResult, ResourceGroup, ResourceGroupProperties, Subscription, Tags};
use qws_core::names::{Location, WorkspaceName};
use qws_core::resource_id;
use qws_store::{ResourceGroupRecord, SubscriptionRecord};
use serde::Deserialize;
use serde_json::json;

fn subscription_model(s: &SubscriptionRecord) -> Subscription {
    Subscription {
        id: resource_id::subscription_id(&s.id),
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
                &resource_id::subscription_id(&s.id),
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
    _principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    sub: Authorized<SubscriptionPath, actions::SubscriptionRead>,
) -> ApiResult<Json<Subscription>> {
    let id = sub.path.0;
    let s = state
        .db(move |s| s.get_subscription(&id))
        .await?
        .ok_or_else(|| ApiError::subscription_not_found(&id.to_string()))?;
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

fn group_model(g: &ResourceGroupRecord) -> ApiResult<ResourceGroup> {
    Ok(ResourceGroup {
        id: g.id()?.to_id(),
        name: g.name.clone(),
        resource_type: "Microsoft.Resources/resourceGroups".into(),
        location: g.location.clone(),
        tags: g.tags.clone(),
        properties: ResourceGroupProperties {
            provisioning_state: "Succeeded".into(),
        },
    })
}

/// The groups the caller may read (ARM filters the list rather than refusing it, so a role on
/// one group shows that group).
pub(super) async fn list_groups(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    SubscriptionPath(id): SubscriptionPath,
) -> ApiResult<Json<ListResult<ResourceGroup>>> {
    let groups = state.db(move |s| s.list_resource_groups(&id)).await?;
    let mut value = Vec::with_capacity(groups.len());
    for g in &groups {
        let model = group_model(g)?;
        if authorize(&principal, actions::GROUP_READ, &model.id).is_ok() {
            value.push(model);
        }
    }
    Ok(Json(ListResult {
        value,
        next_link: None,
    }))
}

pub(super) async fn get_group(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    GroupPath(group): GroupPath,
) -> ApiResult<Json<ResourceGroup>> {
    // Decided before the lookup, as ARM does: a refused caller learns nothing of existence.
    authorize(&principal, actions::GROUP_READ, &group.to_id())?;
    let g = require_group(&state, &group).await?;
    Ok(Json(group_model(&g)?))
}

/// `HEAD` = check existence: 204 or 404, no body.
pub(super) async fn head_group(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    group: Result<GroupPath, ApiError>,
) -> Response {
    let found = async {
        let group = group?.0;
        authorize(&principal, actions::GROUP_READ, &group.to_id())?;
        require_group(&state, &group).await.map(|_| ())
    };
    match found.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            // Answered without the body, so logged here rather than by `IntoResponse`.
            if let Some(cause) = &e.cause {
                cause.log("ARM");
            }
            e.status.into_response()
        }
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
    path: GroupPath,
    ArmJson(body): ArmJson<GroupPut>,
) -> ApiResult<Response> {
    let location = Location::parse(body.location.as_deref().unwrap_or(""))?;
    let tags = body.tags.unwrap_or_default();
    super::workspaces::validate_tags(&tags)?;
    authorize(&principal, actions::GROUP_WRITE, &path.scope())?;
    let id = path.0;
    let (g, created) = state
        .db(move |s| s.put_resource_group(&id, location.as_str(), &tags))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(group_model(&g)?)).into_response())
}

pub(super) async fn delete_group(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    GroupPath(group): GroupPath,
) -> ApiResult<StatusCode> {
    authorize(&principal, actions::GROUP_DELETE, &group.to_id())?;
    let key = group.clone();
    let deleted = state.db(move |s| s.delete_resource_group(&key)).await?;
    match deleted {
        None => Err(ApiError::resource_group_not_found(
            group.resource_group.as_str(),
        )),
        Some(workspaces) => {
            crate::planes::blob::purge_deleted_workspaces(&state).await;
            for ws in workspaces {
                state.audit(
                    &principal.audit_name(),
                    AuditAction::DeleteWorkspaceWithGroup,
                    &group.workspace(WorkspaceName::parse(&ws)?).to_id(),
                    "success",
                    conn.remote,
                )?;
            }
            Ok(StatusCode::OK)
        }
    }
}
