//! `Microsoft.Resources/deployments` at resource-group scope: template deployments as
//! `az quantum workspace create` (and `az deployment group create`) use them.
//!
//! | method | path (under `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Resources`) |
//! |---|---|
//! | GET | `deployments` (list; also with a trailing `/`) |
//! | PUT, GET | `deployments/{name}` |
//! | GET | `deployments/{name}/operationStatuses/{operation}` |
//! | GET | `deployments/{name}/operations` |
//!
//! A PUT checks the template first (shape, functions, resource types, parameters, the order of
//! its top-level resources) and refuses it with 400 `InvalidTemplate` before anything is
//! deployed; then it answers 201/200 with `provisioningState: Accepted` and an
//! `Azure-AsyncOperation` URL, and [`run`] deploys the resources in the background, recording
//! one operation per resource. The evaluator itself is [`qws_core::template`].

mod run;

use super::{actions, require_group};
use crate::api_version::ArmApiVersion;
use crate::audit::AuditAction;
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::{BaseUrl, ConnInfo};
use crate::paths::{Authorized, DeploymentPath, GroupPath};
use crate::routes::table::Routes;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_core::resource_id::{DeploymentId, DEPLOYMENT_TYPE};
use qws_store::DeploymentRecord;
use serde::Deserialize;
use serde_json::{json, Map, Value};

const BASE: &str =
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments";

/// The deployment routes.
pub(super) fn router() -> Routes {
    Routes::new()
        .get(BASE, list)
        .get(&format!("{BASE}/"), list)
        .get(&format!("{BASE}/{{deployment}}"), get_deployment)
        .put(&format!("{BASE}/{{deployment}}"), put_deployment)
        .get(
            &format!("{BASE}/{{deployment}}/operationStatuses/{{operation}}"),
            operation_status,
        )
        .get(&format!("{BASE}/{{deployment}}/operations"), operations)
}

/// The body of a deployment PUT.
#[derive(Deserialize)]
pub(super) struct DeploymentPut {
    properties: Option<PropertiesIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PropertiesIn {
    mode: Option<String>,
    template: Option<Value>,
    template_link: Option<Value>,
    parameters: Option<Map<String, Value>>,
    parameters_link: Option<Value>,
}

fn invalid_template(message: &str) -> ApiError {
    ApiError::bad_request(
        "InvalidTemplate",
        format!("Deployment template validation failed: '{message}'"),
    )
}

/// Checks the mode (Incremental only: Complete would delete what the template omits).
fn check_mode(mode: Option<&str>) -> ApiResult<()> {
    match mode {
        Some(m) if m.eq_ignore_ascii_case("Incremental") => Ok(()),
        Some(m) => Err(ApiError::bad_request(
            "InvalidDeploymentMode",
            format!(
                "The deployment mode '{}' is not supported; use 'Incremental'.",
                m.chars().take(40).collect::<String>()
            ),
        )
        .with_target("properties.mode")),
        None => Err(ApiError::invalid_content(
            "properties.mode",
            "The deployment mode (properties.mode) is required.",
        )),
    }
}

/// A new deployment document, `Accepted`.
pub(super) fn new_doc(
    id: &DeploymentId,
    parameters: &Map<String, Value>,
    correlation: &str,
) -> Value {
    let now = qws_core::time_fmt::arm_precise(time::OffsetDateTime::now_utc());
    json!({
        "id": id.to_id(),
        "name": id.deployment.as_str(),
        "type": DEPLOYMENT_TYPE,
        "properties": {
            "templateHash": "",
            "parameters": parameters,
            "mode": "Incremental",
            "provisioningState": "Accepted",
            "timestamp": now,
            "duration": "PT0S",
            "correlationId": correlation,
            "providers": [],
            "dependencies": [],
            "outputs": {},
            "outputResources": [],
        }
    })
}

fn is_running(doc: &Value) -> bool {
    matches!(
        doc.pointer("/properties/provisioningState")
            .and_then(Value::as_str),
        Some("Accepted" | "Running")
    )
}

pub(super) async fn put_deployment(
    ArmApiVersion(version): ArmApiVersion,
    State(state): State<AppState>,
    conn: ConnInfo,
    BaseUrl(base): BaseUrl,
    dep: Authorized<DeploymentPath, actions::DeploymentWrite>,
    ArmJson(body): ArmJson<DeploymentPut>,
) -> ApiResult<Response> {
    let id = dep.path.0.clone();
    let group = require_group(&state, &id.group).await?;
    let props = body.properties.ok_or_else(|| {
        ApiError::invalid_content("properties", "The deployment properties are required.")
    })?;
    if props.template_link.is_some() || props.parameters_link.is_some() {
        return Err(ApiError::bad_request(
            "InvalidTemplate",
            "Linked templates and parameter files (templateLink, parametersLink) are not supported: send the template and parameters inline.",
        ));
    }
    check_mode(props.mode.as_deref())?;
    let template = props.template.ok_or_else(|| {
        ApiError::invalid_content(
            "properties.template",
            "The template (properties.template) is required.",
        )
    })?;
    let supplied = props.parameters.unwrap_or_default();
    qws_core::template::validate(&template).map_err(|e| invalid_template(&e.message))?;
    let level = run::Level::new(&id.group, &group.location, &template);
    let (l, t, sup) = (level.clone(), template.clone(), supplied.clone());
    let st = state.clone();
    let checked = state
        .db(move |store| Ok(run::prepare(&st, store, l, &t, &sup)))
        .await?;
    let level = checked.map_err(|e| invalid_template(&e.message))?;
    let key = id.clone();
    let existing = state.db(move |s| s.get_deployment(&key)).await?;
    if existing.as_ref().is_some_and(|d| is_running(&d.doc)) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "DeploymentActive",
            format!(
                "The deployment '{}' is still running; wait for it to finish.",
                id.deployment
            ),
        ));
    }
    let correlation = uuid::Uuid::new_v4().to_string();
    let doc = new_doc(&id, &level.parameters_as_arm(), &correlation);
    let record = DeploymentRecord {
        doc: doc.clone(),
        operations: json!([]),
    };
    let key = id.clone();
    state.db(move |s| s.put_deployment(&key, &record)).await?;
    state.audit(
        &dep.principal.audit_name(),
        AuditAction::DeploymentWrite,
        &id.to_id(),
        "accepted",
        conn.remote,
    )?;
    let runner = run::Runner {
        state: state.clone(),
        principal: dep.principal.clone(),
        remote: conn.remote,
    };
    let (rid, rdoc) = (id.clone(), doc.clone());
    tokio::spawn(async move { runner.run_top(rid, rdoc, template, level).await });
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut resp = (status, Json(doc)).into_response();
    let status_url = format!(
        "{base}{}?api-version={version}",
        id.operation_status_id(&correlation)
    );
    if let Ok(v) = HeaderValue::from_str(&status_url) {
        resp.headers_mut().insert("azure-asyncoperation", v);
    }
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    Ok(resp)
}

fn not_found(id: &DeploymentId) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "DeploymentNotFound",
        format!("Deployment '{}' could not be found.", id.deployment),
    )
}

async fn load(state: &AppState, id: &DeploymentId) -> ApiResult<DeploymentRecord> {
    require_group(state, &id.group).await?;
    let key = id.clone();
    state
        .db(move |s| s.get_deployment(&key))
        .await?
        .ok_or_else(|| not_found(id))
}

pub(super) async fn get_deployment(
    _v: ArmApiVersion,
    State(state): State<AppState>,
    dep: Authorized<DeploymentPath, actions::DeploymentRead>,
) -> ApiResult<Json<Value>> {
    Ok(Json(load(&state, &dep.path.0).await?.doc))
}

pub(super) async fn list(
    _v: ArmApiVersion,
    State(state): State<AppState>,
    group: Authorized<GroupPath, actions::DeploymentRead>,
) -> ApiResult<Json<Value>> {
    let g = group.path.0;
    require_group(&state, &g).await?;
    let docs = state.db(move |s| s.list_deployments(&g)).await?;
    Ok(Json(json!({ "value": docs })))
}

/// `…/operationStatuses/{operation}`: `{"status": "Running" | "Succeeded" | "Failed", "error"?}`.
pub(super) async fn operation_status(
    _v: ArmApiVersion,
    State(state): State<AppState>,
    dep: Authorized<DeploymentPath, actions::DeploymentStatusRead>,
    Path((_, _, _, operation)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    let id = &dep.path.0;
    let rec = load(&state, id).await?;
    let props = &rec.doc["properties"];
    if props["correlationId"].as_str() != Some(operation.as_str()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "OperationNotFound",
            format!(
                "The operation '{}' of deployment '{}' was not found.",
                operation.chars().take(64).collect::<String>(),
                id.deployment
            ),
        ));
    }
    let status = match props["provisioningState"].as_str() {
        Some("Accepted" | "Running") | None => "Running",
        Some(other) => other,
    };
    let mut out =
        json!({"id": id.operation_status_id(&operation), "name": operation, "status": status});
    if let Some(e) = props.get("error") {
        out["error"] = e.clone();
    }
    Ok(Json(out))
}

/// `…/operations`: one entry per resource deployed (or attempted).
pub(super) async fn operations(
    _v: ArmApiVersion,
    State(state): State<AppState>,
    dep: Authorized<DeploymentPath, actions::DeploymentOperationsRead>,
) -> ApiResult<Json<Value>> {
    let rec = load(&state, &dep.path.0).await?;
    Ok(Json(json!({ "value": rec.operations })))
}
