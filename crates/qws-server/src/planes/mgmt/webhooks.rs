//! Job webhooks (qws's own, beyond Azure): `PUT|GET|DELETE {workspace}/webhooks/{name}`,
//! `GET {workspace}/webhooks` and `GET {workspace}/webhooks/{name}/deliveries`. A webhook
//! receives a signed JSON event when a job or session of the workspace reaches a terminal
//! status ([`crate::webhooks`]). Its signing secret is in the answer to the PUT that creates it,
//! and nowhere else.

use super::actions;
use super::workspaces::load;
use crate::api_version::QuantumApiVersion;
use crate::audit::AuditAction;
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::ConnInfo;
use crate::paths::{Authorized, ItemKind, ItemName, Scoped, WorkspacePath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_store::webhooks::{Created, Delivery, Webhook};
use serde::Deserialize;
use serde_json::{json, Value};

/// Most deliveries one listing returns (`$top`, default 50).
const MAX_DELIVERIES: usize = 200;

#[derive(Deserialize)]
pub(super) struct WebhookPut {
    properties: Option<WebhookProperties>,
}

#[derive(Deserialize)]
struct WebhookProperties {
    url: Option<String>,
}

/// How an invalid webhook name is refused.
#[derive(Debug)]
pub(super) struct WebhookKind;

impl ItemKind for WebhookKind {
    const INVALID_CODE: &'static str = "InvalidWebhookName";
    const INVALID_MESSAGE: &'static str =
        "A webhook name has 1 to 64 letters, digits, '-', '_' or '.'.";
}

fn time_z(t: i64) -> String {
    qws_core::time_fmt::seconds_z(qws_core::time_fmt::from_unix(t))
}

fn time_ms(t: i64) -> String {
    qws_core::time_fmt::arm_precise(
        time::OffsetDateTime::from_unix_timestamp_nanos(t as i128 * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

/// The ARM shape of a webhook (never its secret).
fn model(scope: &str, w: &Webhook) -> Value {
    json!({
        "id": format!("{scope}/webhooks/{}", w.name),
        "name": w.name,
        "type": "Microsoft.Quantum/workspaces/webhooks",
        "properties": {
            "url": w.url,
            "createdOn": time_z(w.created_at),
            "createdBy": w.created_by,
        }
    })
}

fn delivery_model(d: &Delivery) -> Value {
    json!({
        "eventId": d.event_id,
        "eventType": d.event_type,
        "itemId": d.item_id,
        "state": d.state.as_str(),
        "attempts": d.attempts,
        "createdOn": time_ms(d.created_at),
        "lastAttemptOn": d.last_attempt_at.map(time_ms),
        "lastStatusCode": d.last_status,
        "lastError": d.last_error,
        "nextAttemptOn": (d.state == qws_store::webhooks::DeliveryState::Pending).then(|| time_ms(d.next_attempt_at)),
    })
}

fn webhook_not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "WebhookNotFound",
        format!("The webhook '{name}' was not found in the workspace."),
    )
}

/// `PUT {ws}/webhooks/{name}`: registers a webhook; the answer carries its secret, once.
pub(super) async fn put_webhook(
    auth: Authorized<WorkspacePath, actions::WebhooksWrite>,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    name: ItemName<WebhookKind>,
    ArmJson(body): ArmJson<WebhookPut>,
) -> ApiResult<Response> {
    let scope = auth.path.scope();
    let name = name.into_string();
    let raw = body.properties.and_then(|p| p.url).ok_or_else(|| {
        ApiError::invalid_content("properties.url", "properties.url is required.")
    })?;
    let url = state.webhook_policy.check_url(&raw).map_err(|e| {
        ApiError::bad_request("WebhookUrlNotAllowed", e.0).with_target("properties.url")
    })?;
    let w = load(&state, &auth.path.0).await?;
    let who = auth.principal.audit_name();
    let (uid, n, u, by) = (w.uid.clone(), name.clone(), url.to_string(), who.clone());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let created = state
        .db(move |s| s.create_webhook(&uid, &n, &u, &by, now))
        .await?;
    let (secret, hook) = match created {
        Created::New(secret, hook) => (secret, hook),
        Created::NameTaken => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "WebhookExists",
                format!("A webhook named '{name}' exists in the workspace; delete it first."),
            ))
        }
        Created::TooMany => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "TooManyWebhooks",
                format!(
                    "A workspace has at most {} webhooks.",
                    qws_store::webhooks::MAX_WEBHOOKS_PER_WORKSPACE
                ),
            ))
        }
    };
    state.audit(
        &who,
        AuditAction::WebhookCreate,
        &format!("{scope}/webhooks/{name}"),
        "success",
        conn.remote,
    )?;
    let mut v = model(&scope, &hook);
    v["properties"]["secret"] = Value::String(secret.to_string());
    let mut resp = (StatusCode::CREATED, Json(v)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// `GET {ws}/webhooks`.
pub(super) async fn list_webhooks(
    auth: Authorized<WorkspacePath, actions::WebhooksRead>,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
) -> ApiResult<Json<Value>> {
    let scope = auth.path.scope();
    let w = load(&state, &auth.path.0).await?;
    let hooks = state.db(move |s| s.list_webhooks(&w.uid)).await?;
    let value: Vec<Value> = hooks.iter().map(|h| model(&scope, h)).collect();
    Ok(Json(json!({ "value": value })))
}

/// `GET {ws}/webhooks/{name}`.
pub(super) async fn get_webhook(
    auth: Authorized<WorkspacePath, actions::WebhooksRead>,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    name: ItemName<WebhookKind>,
) -> ApiResult<Json<Value>> {
    let scope = auth.path.scope();
    let name = name.into_string();
    let w = load(&state, &auth.path.0).await?;
    let n = name.clone();
    let hook = state.db(move |s| s.get_webhook(&w.uid, &n)).await?;
    let hook = hook.ok_or_else(|| webhook_not_found(&name))?;
    Ok(Json(model(&scope, &hook)))
}

/// `DELETE {ws}/webhooks/{name}`: deletes it and drops what it is still owed; 204 when there
/// was none.
pub(super) async fn delete_webhook(
    auth: Authorized<WorkspacePath, actions::WebhooksDelete>,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    name: ItemName<WebhookKind>,
) -> ApiResult<StatusCode> {
    let scope = auth.path.scope();
    let name = name.into_string();
    let w = load(&state, &auth.path.0).await?;
    let n = name.clone();
    let deleted = state.db(move |s| s.delete_webhook(&w.uid, &n)).await?;
    if !deleted {
        return Ok(StatusCode::NO_CONTENT);
    }
    state.audit(
        &auth.principal.audit_name(),
        AuditAction::WebhookDelete,
        &format!("{scope}/webhooks/{name}"),
        "success",
        conn.remote,
    )?;
    Ok(StatusCode::OK)
}

/// `GET {ws}/webhooks/{name}/deliveries?$top=N`: the newest deliveries, newest first.
pub(super) async fn list_deliveries(
    auth: Authorized<WorkspacePath, actions::WebhooksRead>,
    _v: QuantumApiVersion,
    State(state): State<AppState>,
    name: ItemName<WebhookKind>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let name = name.into_string();
    let top = match uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "$top")
            .map(|(_, v)| v.into_owned())
    }) {
        None => 50,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_DELIVERIES).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "InvalidQueryParameterValue",
                    format!("$top must be a number from 1 to {MAX_DELIVERIES}."),
                )
                .with_target("$top")
            })?,
    };
    let w = load(&state, &auth.path.0).await?;
    let n = name.clone();
    let uid = w.uid.clone();
    let (hook, deliveries) = state
        .db(move |s| {
            Ok((
                s.get_webhook(&uid, &n)?,
                s.list_webhook_deliveries(&uid, &n, top)?,
            ))
        })
        .await?;
    hook.ok_or_else(|| webhook_not_found(&name))?;
    let value: Vec<Value> = deliveries.iter().map(delivery_model).collect();
    Ok(Json(json!({ "value": value })))
}
