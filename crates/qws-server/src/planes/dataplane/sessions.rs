//! Sessions (`PUT`, get, list, `:close`, `sessions/{id}/jobs`) and `topLevelItems`.
//!
//! A session is `Waiting` until its first job, then `Executing`. Closing it makes it `Succeeded`,
//! or `Failed` when one of its jobs failed. With `jobFailurePolicy: Abort` (the default) the
//! first failed job ends the session at once: it becomes `Failed`, its waiting jobs fail, and it
//! accepts no more jobs.

use super::auth::Caller;
use super::items::{self, status};
use super::jobs::{check_id, list_page, now_nanos};
use super::targets::find_target;
use super::{error, now_string, page_fetched, ListQuery};
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::BaseUrl;
use crate::planes::blob::sas;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::Json;
use qws_core::jobs::{Item, JobStatus, Lifecycle, Session, SessionStatus};
use qws_store::jobs::{ItemRow, Transition};
use qws_store::listing::Scope;
use serde_json::{json, Value};

type ItemPath = (String, String, String, String);

fn not_found(id: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        "SessionNotFound",
        format!(
            "The session '{}' was not found in this workspace.",
            id.chars().take(128).collect::<String>()
        ),
    )
}

/// True once a session accepts no more jobs.
pub fn session_closed(st: &str) -> bool {
    SessionStatus::parse(st).is_some_and(SessionStatus::is_terminal)
}

async fn load(state: &AppState, ws_uid: &str, id: &str) -> ApiResult<ItemRow> {
    let (js, w, i) = (
        state.dataplane.jobs.clone(),
        ws_uid.to_string(),
        id.to_string(),
    );
    match state.db(move |_| js.get_item(&w, &i)).await? {
        Some(r) if r.item_type == "Session" => Ok(r),
        _ => Err(not_found(id)),
    }
}

/// Refuses jobs for a missing or closed session.
pub async fn check_session_open(state: &AppState, ws_uid: &str, id: &str) -> ApiResult<()> {
    let row = load(state, ws_uid, id).await?;
    if session_closed(&row.status) {
        return Err(ApiError::bad_request(
            "SessionClosed",
            format!(
                "The session '{id}' is {} and accepts no more jobs.",
                row.status
            ),
        ));
    }
    Ok(())
}

/// `Waiting` → `Executing` when a job joins.
pub async fn mark_session_executing(state: &AppState, ws_uid: &str, id: &str) -> ApiResult<()> {
    let (js, w, i) = (
        state.dataplane.jobs.clone(),
        ws_uid.to_string(),
        id.to_string(),
    );
    let begin = now_string();
    state
        .db(move |_| {
            js.transition::<Session>(
                &w,
                &i,
                &[SessionStatus::Waiting],
                SessionStatus::Executing,
                &mut |s| s.begin_execution_time = Some(begin.clone()),
            )
        })
        .await?;
    Ok(())
}

/// `PUT {ws}/sessions/{id}`. Re-sending an existing session returns it unchanged.
pub async fn put_session(
    caller: Caller,
    State(state): State<AppState>,
    Path((_, _, _, id)): Path<ItemPath>,
    _q: ListQuery,
    ArmJson(body): ArmJson<Value>,
) -> ApiResult<Json<Value>> {
    check_id(&id, "session")?;
    let Value::Object(mut doc) = body else {
        return Err(ApiError::bad_request(
            "InvalidSessionDefinition",
            "The session must be a JSON object.",
        ));
    };
    let bad = |m: String| ApiError::bad_request("InvalidSessionDefinition", m);
    let target = doc
        .get("target")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("'target' is required.".into()))?
        .to_string();
    let Some((provider, t)) = find_target(&caller.ws, &target) else {
        return Err(ApiError::bad_request(
            "UnknownTarget",
            format!(
                "The target '{}' is not offered by this workspace.",
                target.chars().take(128).collect::<String>()
            ),
        ));
    };
    let policy = match doc.get("jobFailurePolicy") {
        None | Some(Value::Null) => "Abort",
        Some(Value::String(p)) if p.eq_ignore_ascii_case("abort") => "Abort",
        Some(Value::String(p)) if p.eq_ignore_ascii_case("continue") => "Continue",
        Some(_) => return Err(bad("jobFailurePolicy must be 'Abort' or 'Continue'.".into())),
    };
    if let Some(n) = doc.get("name") {
        if n.as_str().is_none_or(|s| s.chars().count() > 256) {
            return Err(bad(
                "name must be a string of at most 256 characters.".into()
            ));
        }
    }
    for k in items::READ_ONLY_FIELDS {
        doc.remove(*k);
    }
    let now = now_string();
    doc.insert("id".into(), json!(id));
    doc.insert("itemType".into(), json!("Session"));
    doc.insert("providerId".into(), json!(provider.id));
    doc.insert("target".into(), json!(t.id));
    doc.entry("name").or_insert(json!(format!("session-{id}")));
    doc.entry("priority").or_insert(json!("Standard"));
    if doc.get("tags").is_none_or(Value::is_null) {
        doc.insert("tags".into(), json!([]));
    }
    doc.insert("jobFailurePolicy".into(), json!(policy));
    doc.insert("status".into(), json!(status::WAITING));
    doc.insert("creationTime".into(), json!(now));
    doc.insert("beginExecutionTime".into(), Value::Null);
    doc.insert("endExecutionTime".into(), Value::Null);
    doc.insert("createdBy".into(), json!(caller.created_by));
    doc.insert("createdByType".into(), json!(caller.created_by_type));
    // Every stored session must read back as a typed `Session`: its status changes go
    // through it.
    if let Err(e) = Session::from_doc(&doc) {
        return Err(bad(format!("The session is invalid: {e}.")));
    }
    let row = ItemRow {
        workspace_uid: caller.ws.uid.clone(),
        id: id.clone(),
        item_type: "Session".into(),
        session_id: None,
        status: status::WAITING.into(),
        created_at: now_nanos(),
        doc: items::to_text(&doc),
    };
    let js = state.dataplane.jobs.clone();
    let inserted = state.db(move |_| js.insert_item(&row)).await?;
    if inserted {
        return Ok(Json(Value::Object(doc)));
    }
    let existing = load(&state, &caller.ws.uid, &id).await.map_err(|_| {
        error(
            StatusCode::CONFLICT,
            "ItemAlreadyExists",
            format!("A job with id '{id}' already exists in this workspace."),
        )
    })?;
    Ok(Json(Value::Object(items::doc_of(&existing))))
}

/// `GET {ws}/sessions/{id}`.
pub async fn get_session(
    caller: Caller,
    State(state): State<AppState>,
    Path((_, _, _, id)): Path<ItemPath>,
    _q: ListQuery,
) -> ApiResult<Json<Value>> {
    let row = load(&state, &caller.ws.uid, &id).await?;
    Ok(Json(Value::Object(items::doc_of(&row))))
}

/// `POST {ws}/sessions/{id}:close`.
pub async fn post_session_action(
    caller: Caller,
    State(state): State<AppState>,
    Path((_, _, _, id)): Path<ItemPath>,
    _q: ListQuery,
) -> ApiResult<Json<Value>> {
    let Some(sid) = id.strip_suffix(":close") else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Unknown session action; the supported action is ':close'.",
        ));
    };
    load(&state, &caller.ws.uid, sid).await?;
    let (js, w, i) = (
        state.dataplane.jobs.clone(),
        caller.ws.uid.clone(),
        sid.to_string(),
    );
    let end = now_string();
    let out = state
        .db(move |_| {
            let any_failed = !js
                .session_job_ids(&w, &i, JobStatus::Failed.as_str(), 1)?
                .is_empty();
            let to = if any_failed {
                SessionStatus::Failed
            } else {
                SessionStatus::Succeeded
            };
            js.transition::<Session>(
                &w,
                &i,
                &[SessionStatus::Waiting, SessionStatus::Executing],
                to,
                &mut |s| s.end_execution_time = Some(end.clone()),
            )
        })
        .await?;
    if let Transition::Missing = out {
        return Err(not_found(sid));
    }
    let row = load(&state, &caller.ws.uid, sid).await?;
    Ok(Json(Value::Object(items::doc_of(&row))))
}

/// `GET {ws}/sessions`.
pub async fn list_sessions(
    caller: Caller,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    q: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let rows = list_page(&state, &caller.ws.uid, Scope::Sessions, &q).await?;
    Ok(Json(page_fetched(rows, &q, &base, uri.path(), |r| {
        Value::Object(items::doc_of(&r))
    })))
}

/// `GET {ws}/sessions/{id}/jobs`.
pub async fn list_session_jobs(
    caller: Caller,
    State(state): State<AppState>,
    Path((_, _, _, id)): Path<ItemPath>,
    BaseUrl(base): BaseUrl,
    q: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    load(&state, &caller.ws.uid, &id).await?;
    let rows = list_page(&state, &caller.ws.uid, Scope::SessionJobs(id), &q).await?;
    let holder = sas::holder_for(&state, &caller).await?;
    Ok(Json(page_fetched(rows, &q, &base, uri.path(), |r| {
        items::render_job(&state, &caller.ws.uid, &holder, items::doc_of(&r))
    })))
}

/// `GET {ws}/topLevelItems`: sessions and the jobs outside sessions.
pub async fn top_level_items(
    caller: Caller,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    q: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let rows = list_page(&state, &caller.ws.uid, Scope::TopLevel, &q).await?;
    let holder = sas::holder_for(&state, &caller).await?;
    Ok(Json(page_fetched(rows, &q, &base, uri.path(), |r| {
        let d = items::doc_of(&r);
        if d.get("itemType").and_then(Value::as_str) == Some("Job") {
            items::render_job(&state, &caller.ws.uid, &holder, d)
        } else {
            Value::Object(d)
        }
    })))
}
