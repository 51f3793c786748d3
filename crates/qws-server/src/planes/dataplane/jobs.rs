//! Jobs: create (`PUT`), get, list, `:cancel`, update (`PATCH`), delete; `storage/sasUri`;
//! `quotas`.

use super::auth::Caller;
use super::filter::{compare, parse_filter, parse_orderby, OrderKey};
use super::items::{self, status};
use super::targets::{find_target, output_format_for, workspace_providers};
use super::{error, fetch_limit, now_string, page, page_fetched, ListQuery};
use crate::error::WithHeaders;
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::http::conn::BaseUrl;
use crate::http::prefer::{PreferWait, PREFERENCE_APPLIED};
use crate::planes::blob::sas;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use qws_core::jobs::{Item, Job, JobStatus, Lifecycle};
use qws_store::jobs::{InsertRefusal, ItemRow, Transition};
use qws_store::listing::{ListSpec, Scope};
use qws_store::WorkspaceRecord;
use serde_json::{json, Map, Value};

type WsPath = (String, String, String);
type ItemPath = (String, String, String, String);

/// Workspace tag that overrides a provider's monthly job quota: `qws.quota.jobs.<provider>`.
pub const QUOTA_TAG_PREFIX: &str = "qws.quota.jobs.";

/// Checks a client-chosen job or session id.
pub fn check_id(id: &str, what: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "InvalidId",
            format!("The {what} id must be 1-128 characters of letters, digits, '-', '_' or '.'."),
        ))
    }
}

/// `YYYY-MM` of now (the quota period).
pub fn current_period() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}", t.year(), u8::from(t.month()))
}

/// The monthly job limit of a provider in a workspace.
pub fn quota_limit(state: &AppState, ws: &WorkspaceRecord, provider: &str) -> i64 {
    ws.tags
        .iter()
        .find(|(k, _)| {
            k.len() > QUOTA_TAG_PREFIX.len()
                && k[..QUOTA_TAG_PREFIX.len()].eq_ignore_ascii_case(QUOTA_TAG_PREFIX)
                && k[QUOTA_TAG_PREFIX.len()..].eq_ignore_ascii_case(provider)
        })
        .and_then(|(_, v)| v.trim().parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .unwrap_or(state.dataplane.config.default_monthly_jobs)
}

fn not_found(id: &str) -> ApiError {
    error(
        StatusCode::NOT_FOUND,
        "JobNotFound",
        format!(
            "The job '{}' was not found in this workspace.",
            truncate(id)
        ),
    )
}

fn truncate(s: &str) -> String {
    s.chars().take(128).collect()
}

fn str_field<'a>(doc: &'a Map<String, Value>, k: &str) -> ApiResult<Option<&'a str>> {
    match doc.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= 8192 => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(
            "InvalidJobDefinition",
            format!("'{k}' must be a string of at most 8192 characters."),
        )),
    }
}

fn required<'a>(doc: &'a Map<String, Value>, k: &str) -> ApiResult<&'a str> {
    str_field(doc, k)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("InvalidJobDefinition", format!("'{k}' is required.")))
}

/// Checks the job's `containerUri`: a container URL of this server's blob endpoint (see
/// [`sas::parse_own_blob_url`]) naming a container of *this* workspace, with a valid, unexpired
/// qws SAS (or no SAS at all for a container this workspace created through `sasUri`). Returns
/// the container.
async fn check_container(state: &AppState, ws_uid: &str, container_uri: &str) -> ApiResult<String> {
    let bad = |m: &str| {
        ApiError::bad_request("InvalidContainerUri", m.to_string()).with_target("containerUri")
    };
    let Some((container, blob, query)) = sas::parse_own_blob_url(state, container_uri) else {
        return Err(bad(&format!(
            "containerUri must be a container URL of this server's blob endpoint ({}/<container>), as returned by storage/sasUri.",
            sas::blob_base_url(state)
        )));
    };
    if blob.is_some() {
        return Err(bad("containerUri must name a container, not a blob."));
    }
    let pairs =
        sas::query_pairs(&query).ok_or_else(|| bad("containerUri has a malformed query."))?;
    // A SAS of qws's own endpoint is checked here; one an external account signed is the
    // account's to check (qws gave it out only for a container this workspace owns, below).
    if sas::has_sas(&pairs) && state.job_data.served_by_qws() {
        match sas::verify(
            state,
            &pairs,
            &container,
            None,
            time::OffsetDateTime::now_utc(),
        )
        .await
        {
            Ok(grant) if grant.workspace_uid == ws_uid => {}
            _ => return Err(bad(
                "The SAS of containerUri is invalid, expired, revoked, or was issued for another workspace.",
            )),
        }
    }
    let owner = match state.dataplane.jobs.container_owner_now(&container) {
        Some(owner) => owner,
        None => {
            let (js, c) = (state.dataplane.jobs.clone(), container.clone());
            state.db(move |_| js.container_owner(&c)).await?
        }
    };
    if owner.as_deref() != Some(ws_uid) {
        return Err(bad(
            "containerUri names a container that was not created for this workspace (request one with storage/sasUri).",
        ));
    }
    Ok(container)
}

/// `PUT {ws}/jobs/{id}`. Answers once the job is stored, as Azure does; with `Prefer: wait=N`
/// once it has ended or N seconds have passed, whichever is first (see [`crate::http::prefer`]).
pub async fn put_job(
    caller: Caller,
    State(state): State<AppState>,
    Path((_, _, _, id)): Path<ItemPath>,
    _q: ListQuery,
    PreferWait(wait): PreferWait,
    ArmJson(body): ArmJson<Value>,
) -> ApiResult<Response> {
    check_id(&id, "job")?;
    let Value::Object(mut doc) = body else {
        return Err(ApiError::bad_request(
            "InvalidJobDefinition",
            "The job definition must be a JSON object.",
        ));
    };
    let target_id = required(&doc, "target")?.to_string();
    let input_format = required(&doc, "inputDataFormat")?.to_string();
    let container_uri = required(&doc, "containerUri")?.to_string();
    let Some((provider, target)) = find_target(&caller.ws, &target_id) else {
        let offered: Vec<&str> = workspace_providers(&caller.ws)
            .iter()
            .flat_map(|p| p.targets.iter().map(|t| t.id))
            .collect();
        return Err(ApiError::bad_request(
            "UnknownTarget",
            format!(
                "The target '{}' is not offered by this workspace. Offered targets: {}.",
                truncate(&target_id),
                offered.join(", ")
            ),
        ));
    };
    if let Some(p) = str_field(&doc, "providerId")? {
        if !p.eq_ignore_ascii_case(provider.id) {
            return Err(ApiError::bad_request(
                "InvalidJobDefinition",
                format!(
                    "The target '{}' belongs to provider '{}', not '{}'.",
                    target.id,
                    provider.id,
                    truncate(p)
                ),
            ));
        }
    }
    let container = check_container(&state, &caller.ws.uid, &container_uri).await?;
    // Stored without its query: a SAS the client sent along is not kept (see items::render_job).
    let input_uri = match str_field(&doc, "inputDataUri")? {
        Some(u) => {
            match sas::parse_own_blob_url(&state, u) {
                Some((c, Some(b), _)) if c == container => sas::blob_url(&state, &c, &b),
                _ => return Err(ApiError::bad_request(
                    "InvalidInputDataUri",
                    "inputDataUri must be a blob URL of this server's blob endpoint, naming a blob (no '.', '..' or empty segments) in the job's container.",
                ).with_target("inputDataUri")),
            }
        }
        None => sas::blob_url(&state, &container, "inputData"),
    };
    let output_format = match str_field(&doc, "outputDataFormat")? {
        Some(f) => f.to_string(),
        None => output_format_for(&input_format).to_string(),
    };
    for f in ["priority"] {
        if let Some(p) = str_field(&doc, f)? {
            if !matches!(p, "Standard" | "High") {
                return Err(ApiError::bad_request(
                    "InvalidJobDefinition",
                    "priority must be 'Standard' or 'High'.",
                ));
            }
        }
    }
    if let Some(t) = doc.get("tags") {
        if !t.is_null() && !valid_tags(t) {
            return Err(ApiError::bad_request(
                "InvalidJobDefinition",
                "tags must be a list of at most 50 strings of at most 256 characters.",
            ));
        }
    }
    let session_id = str_field(&doc, "sessionId")?.map(str::to_string);
    if let Some(sid) = &session_id {
        super::sessions::check_session_open(&state, &caller.ws.uid, sid).await?;
    }
    let charged =
        crate::scheduler::principal_key(&caller.ws.uid, &caller.created_by, caller.created_by_type);
    if let Err(busy) = state.dataplane.scheduler.admit(&caller.ws.uid, &charged) {
        crate::metrics::throttled(busy.code);
        let status = StatusCode::from_u16(busy.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return Err(error(status, busy.code, busy.message).with_retry_after(busy.retry_after));
    }

    for k in items::READ_ONLY_FIELDS {
        doc.remove(*k);
    }
    let now = now_string();
    doc.insert("id".into(), json!(id));
    doc.insert("itemType".into(), json!("Job"));
    doc.entry("jobType").or_insert(json!("QuantumComputing"));
    doc.entry("priority").or_insert(json!("Standard"));
    if doc.get("inputParams").is_none_or(Value::is_null) {
        doc.insert("inputParams".into(), json!({}));
    }
    if doc.get("tags").is_none_or(Value::is_null) {
        doc.insert("tags".into(), json!([]));
    }
    doc.insert("providerId".into(), json!(provider.id));
    doc.insert(
        "containerUri".into(),
        json!(sas::container_url(&state, &container)),
    );
    doc.insert("inputDataUri".into(), json!(input_uri));
    doc.insert("outputDataFormat".into(), json!(output_format));
    doc.insert(
        "outputDataUri".into(),
        json!(sas::blob_url(&state, &container, items::OUTPUT_BLOB)),
    );
    doc.insert("creationTime".into(), json!(now));
    doc.insert("createdBy".into(), json!(caller.created_by));
    doc.insert("createdByType".into(), json!(caller.created_by_type));
    doc.insert("beginExecutionTime".into(), Value::Null);
    doc.insert("endExecutionTime".into(), Value::Null);
    doc.insert("cancellationTime".into(), Value::Null);
    doc.insert("costEstimate".into(), Value::Null);
    doc.insert("isCancelling".into(), json!(false));

    let accepted = target.input_formats.contains(&input_format.as_str());
    let produces = output_format_for(&input_format);
    let refusal = if !accepted {
        Some(format!(
            "The target '{}' does not accept input format '{}'. It accepts: {}.",
            target.id,
            truncate(&input_format),
            target.input_formats.join(", ")
        ))
    } else if output_format != produces
        && !(target.id.starts_with("qws.") && output_format == "microsoft.quantum-results.v2")
    {
        Some(format!(
            "Input format '{input_format}' produces '{produces}'; output format '{}' is not supported for it.",
            truncate(&output_format)
        ))
    } else {
        None
    };
    let st = if let Some(msg) = &refusal {
        doc.insert(
            "errorData".into(),
            items::error_data("InvalidInputDataFormat", msg),
        );
        doc.insert("endExecutionTime".into(), json!(now));
        status::FAILED
    } else {
        doc.insert("errorData".into(), Value::Null);
        status::WAITING
    };
    doc.insert("status".into(), json!(st));
    // Every stored job must read back as a typed `Job`: its status changes go through it.
    if let Err(e) = Job::from_doc(&doc) {
        return Err(ApiError::bad_request(
            "InvalidJobDefinition",
            format!("The job definition is invalid: {e}."),
        ));
    }

    let row = ItemRow {
        workspace_uid: caller.ws.uid.clone(),
        id: id.clone(),
        item_type: "Job".into(),
        session_id: session_id.clone(),
        status: st.into(),
        created_at: now_nanos(),
        doc: items::to_text(&doc),
    };
    let limit = quota_limit(&state, &caller.ws, provider.id);
    let (js, r, p) = (state.dataplane.jobs.clone(), row, provider.id);
    let period = current_period();
    let outcome = state
        .db(move |_| js.insert_job(&r, p, &period, Some(limit)))
        .await?;
    match outcome {
        Ok(()) => {}
        Err(InsertRefusal::Exists) => {
            return Err(error(
                StatusCode::CONFLICT,
                "JobAlreadyExists",
                format!("A job or session with id '{id}' already exists in this workspace."),
            ))
        }
        Err(InsertRefusal::QuotaExceeded { used, limit }) => {
            return Err(error(
                StatusCode::FORBIDDEN,
                "QuotaExceeded",
                format!(
                    "The monthly job quota of provider '{}' in this workspace is used up ({used} of {limit} jobs). Raise it with the workspace tag '{QUOTA_TAG_PREFIX}{}'.",
                    provider.id, provider.id
                ),
            ))
        }
    }
    if let Some(sid) = &session_id {
        super::sessions::mark_session_executing(&state, &caller.ws.uid, sid).await?;
    }
    crate::metrics::job_submitted(target.id);
    // Registered before the job can run, so that its end cannot slip past the wait.
    let watch = wait.map(|_| state.dataplane.scheduler.watch_end(&caller.ws.uid, &id));
    if st == status::WAITING {
        state
            .dataplane
            .scheduler
            .enqueue(caller.ws.uid.clone(), id.clone(), charged);
    } else {
        // Refused at submission (an input format the target does not take).
        crate::metrics::job_finished(target.id, "Failed");
    }
    let holder = sas::holder_for(&state, &caller).await?;
    let (Some(wait), Some(watch)) = (wait, watch) else {
        return Ok(Json(items::render_job(&state, &caller.ws.uid, &holder, doc)).into_response());
    };
    let body = match wait_for_end(&state, &caller.ws.uid, &id, wait, &watch).await? {
        Some(row) => serve_job(&state, &caller.ws.uid, &holder, &row),
        // Deleted meanwhile: the answer is the job as it was stored.
        None => Json(items::render_job(&state, &caller.ws.uid, &holder, doc)).into_response(),
    };
    Ok(([(PREFERENCE_APPLIED, PreferWait::applied(wait))], body).into_response())
}

/// How often a waiting submission re-reads its job: the end of a job run by another node (or
/// cancelled through another request) signals nothing here.
const WAIT_RECHECK: std::time::Duration = std::time::Duration::from_millis(25);

/// Waits until job `id` has ended or `wait` has passed (or the server is stopping) and returns
/// its row as it then is; `None` if it was deleted meanwhile.
async fn wait_for_end(
    state: &AppState,
    ws_uid: &str,
    id: &str,
    wait: std::time::Duration,
    watch: &crate::scheduler::ends::EndWatch,
) -> ApiResult<Option<ItemRow>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let ended = watch.notified();
        tokio::pin!(ended);
        ended.as_mut().enable();
        let row = match load_job(state, ws_uid, id).await {
            Ok(row) => row,
            Err(e) if e.status == StatusCode::NOT_FOUND => return Ok(None),
            Err(e) => return Err(e),
        };
        let now = tokio::time::Instant::now();
        if items::is_terminal(&row.status)
            || now >= deadline
            || state.dataplane.scheduler.is_stopping()
        {
            return Ok(Some(row));
        }
        let recheck = (now + WAIT_RECHECK).min(deadline);
        tokio::select! {
            _ = ended => {}
            _ = tokio::time::sleep_until(recheck) => {}
        }
    }
}

fn valid_tags(t: &Value) -> bool {
    t.as_array().is_some_and(|a| {
        a.len() <= 50
            && a.iter()
                .all(|x| x.as_str().is_some_and(|s| s.chars().count() <= 256))
    })
}

/// Unix nanoseconds now.
pub fn now_nanos() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

async fn load_job(state: &AppState, ws_uid: &str, id: &str) -> ApiResult<ItemRow> {
    let found = match state.dataplane.jobs.get_item_now(ws_uid, id) {
        Some(found) => found,
        None => {
            let (js, w, i) = (
                state.dataplane.jobs.clone(),
                ws_uid.to_string(),
                id.to_string(),
            );
            state.db(move |_| js.get_item(&w, &i)).await?
        }
    };
    match found {
        Some(r) if r.item_type == "Job" => Ok(r),
        _ => Err(not_found(id)),
    }
}

/// `GET {ws}/jobs/{id}`.
pub async fn get_job(
    caller: Caller,
    State(state): State<AppState>,
    Path((_, _, _, id)): Path<ItemPath>,
    _q: ListQuery,
) -> ApiResult<Response> {
    let row = load_job(&state, &caller.ws.uid, &id).await?;
    let holder = sas::holder_for(&state, &caller).await?;
    Ok(serve_job(&state, &caller.ws.uid, &holder, &row))
}

/// A stored job as served to a caller whose SAS stand on `holder`: its stored text with the
/// served URIs put in ([`items::render_job_text`]), or, for a text that cannot be served so,
/// the parsed document rendered.
fn serve_job(state: &AppState, ws_uid: &str, holder: &sas::SasHolder, row: &ItemRow) -> Response {
    if let Some(body) = items::render_job_text(state, ws_uid, holder, &row.doc) {
        let json = [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )];
        return (json, body).into_response();
    }
    Json(items::render_job(state, ws_uid, holder, items::doc_of(row))).into_response()
}

/// Filters, orders and pages documents per the list query.
pub fn select(docs: Vec<Map<String, Value>>, q: &ListQuery) -> ApiResult<Vec<Map<String, Value>>> {
    let filter = match &q.filter {
        Some(f) => Some(parse_filter(f).map_err(|e| {
            ApiError::bad_request("InvalidFilter", format!("The filter is invalid {e}."))
        })?),
        None => None,
    };
    let order: Vec<OrderKey> = match &q.orderby {
        Some(o) => parse_orderby(o).map_err(|e| {
            ApiError::bad_request("InvalidOrderBy", format!("The orderby is invalid {e}."))
        })?,
        None => Vec::new(),
    };
    let mut out: Vec<Map<String, Value>> = docs
        .into_iter()
        .filter(|d| filter.as_ref().is_none_or(|f| f.matches(d)))
        .collect();
    if !order.is_empty() {
        out.sort_by(|a, b| compare(a, b, &order));
    }
    Ok(out)
}

/// The store query for one page of a list: the filter and order of `q` (checked as
/// [`select`] checks them), with one row more than the page.
pub fn list_spec(scope: Scope, q: &ListQuery) -> ApiResult<ListSpec> {
    let cond = match &q.filter {
        Some(f) => Some(
            parse_filter(f)
                .map_err(|e| {
                    ApiError::bad_request("InvalidFilter", format!("The filter is invalid {e}."))
                })?
                .to_cond(),
        ),
        None => None,
    };
    let order = match &q.orderby {
        Some(o) => parse_orderby(o)
            .map_err(|e| {
                ApiError::bad_request("InvalidOrderBy", format!("The orderby is invalid {e}."))
            })?
            .iter()
            .filter_map(OrderKey::to_store)
            .collect(),
        None => Vec::new(),
    };
    Ok(ListSpec {
        scope,
        cond,
        order,
        skip: q.skip,
        limit: fetch_limit(q),
    })
}

/// One page (plus one row) of a workspace's items, filtered, ordered and paged by the store.
pub async fn list_page(
    state: &AppState,
    ws_uid: &str,
    scope: Scope,
    q: &ListQuery,
) -> ApiResult<Vec<ItemRow>> {
    let spec = list_spec(scope, q)?;
    let (js, w) = (state.dataplane.jobs.clone(), ws_uid.to_string());
    state.db(move |_| js.list_page(&w, &spec)).await
}

/// `GET {ws}/jobs`.
pub async fn list_jobs(
    caller: Caller,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    q: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let rows = list_page(&state, &caller.ws.uid, Scope::Jobs, &q).await?;
    let holder = sas::holder_for(&state, &caller).await?;
    Ok(Json(page_fetched(rows, &q, &base, uri.path(), |r| {
        items::render_job(&state, &caller.ws.uid, &holder, items::doc_of(&r))
    })))
}

/// `POST {ws}/jobs/{id}:cancel`.
pub async fn post_job_action(
    caller: Caller,
    State(state): State<AppState>,
    Path((_, _, _, id)): Path<ItemPath>,
    _q: ListQuery,
) -> ApiResult<Json<Value>> {
    let Some(job_id) = id.strip_suffix(":cancel") else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "Unknown job action; the supported action is ':cancel'.",
        ));
    };
    let holder = sas::holder_for(&state, &caller).await?;
    cancel(&state, &caller.ws.uid, &holder, job_id)
        .await
        .map(Json)
}

/// Cancels a waiting or executing job; the scheduler never overwrites `Cancelled`. The job is
/// rendered with SAS standing on `holder`.
pub async fn cancel(
    state: &AppState,
    ws_uid: &str,
    holder: &sas::SasHolder,
    id: &str,
) -> ApiResult<Value> {
    let (js, w, i) = (
        state.dataplane.jobs.clone(),
        ws_uid.to_string(),
        id.to_string(),
    );
    let now = now_string();
    let out = state
        .db(move |_| {
            js.transition::<Job>(
                &w,
                &i,
                &[JobStatus::Waiting, JobStatus::Executing],
                JobStatus::Cancelled,
                &mut |j| {
                    j.cancellation_time = Some(now.clone());
                    j.end_execution_time = Some(now.clone());
                },
            )
        })
        .await?;
    match out {
        Transition::Done(j) => {
            crate::metrics::job_finished(&j.target, "Cancelled");
            state.dataplane.scheduler.cancel(ws_uid, id)
        }
        Transition::Refused(j) if j.status == JobStatus::Cancelled => {}
        Transition::Refused(j) => {
            return Err(error(
                StatusCode::CONFLICT,
                "InvalidJobState",
                format!(
                    "The job '{id}' has already finished ({}) and cannot be cancelled.",
                    j.status.as_str()
                ),
            ))
        }
        Transition::Missing => return Err(not_found(id)),
    }
    let row = load_job(state, ws_uid, id).await?;
    Ok(items::render_job(
        state,
        ws_uid,
        holder,
        items::doc_of(&row),
    ))
}

/// `PATCH {ws}/jobs/{id}` (merge patch of `name`, `priority`, `tags`).
pub async fn patch_job(
    caller: Caller,
    State(state): State<AppState>,
    Path((_, _, _, id)): Path<ItemPath>,
    _q: ListQuery,
    ArmJson(body): ArmJson<Value>,
) -> ApiResult<Json<Value>> {
    let Value::Object(patch) = body else {
        return Err(ApiError::bad_request(
            "InvalidJobUpdate",
            "The update must be a JSON object.",
        ));
    };
    if patch.is_empty() {
        return Err(ApiError::bad_request(
            "InvalidJobUpdate",
            "Supply at least one of name, priority, tags.",
        ));
    }
    for (k, v) in &patch {
        let ok = match k.as_str() {
            "name" => v.as_str().is_some_and(|s| s.chars().count() <= 256),
            "priority" => matches!(v.as_str(), Some("Standard" | "High")),
            "tags" => valid_tags(v),
            _ => false,
        };
        if !ok {
            return Err(ApiError::bad_request(
                "InvalidJobUpdate",
                format!(
                    "'{}' cannot be set to that value; only name (string), priority ('Standard' or 'High') and tags (list of strings) can be updated.",
                    truncate(k)
                ),
            ));
        }
    }
    let (js, w, i) = (
        state.dataplane.jobs.clone(),
        caller.ws.uid.clone(),
        id.clone(),
    );
    let out = state
        .db(move |_| {
            js.edit::<Job>(&w, &i, &mut |j| {
                for (k, v) in &patch {
                    match k.as_str() {
                        "priority" => j.priority = v.as_str().map(str::to_string),
                        "tags" => j.tags = serde_json::from_value(v.clone()).ok(),
                        _ => {
                            j.extra.insert(k.clone(), v.clone());
                        }
                    }
                }
            })
        })
        .await?;
    match out {
        Some(j) => Ok(Json(json!({
            "id": id,
            "name": j.extra.get("name").cloned().unwrap_or(Value::Null),
            "priority": j.priority,
            "tags": j.tags.unwrap_or_default(),
        }))),
        None => Err(not_found(&id)),
    }
}

/// `DELETE {ws}/jobs/{id}` → 204. A running job is cancelled first.
pub async fn delete_job(
    caller: Caller,
    State(state): State<AppState>,
    Path((_, _, _, id)): Path<ItemPath>,
    _q: ListQuery,
) -> ApiResult<Response> {
    let row = load_job(&state, &caller.ws.uid, &id).await?;
    let (js, w, i) = (
        state.dataplane.jobs.clone(),
        caller.ws.uid.clone(),
        id.clone(),
    );
    let deleted = state.db(move |_| js.delete_item(&w, &i)).await?;
    if !deleted {
        return Err(not_found(&id));
    }
    if !items::is_terminal(&row.status) {
        state.dataplane.scheduler.cancel(&caller.ws.uid, &id);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Claims `container` for the workspace and creates it; false (and nothing created) when
/// another workspace owns it. Both are durable on return. A new container's ownership row and
/// its directory are flushed at the same time (the creation on a scoped thread of its own, not
/// the blocking pool, which a waiting task must not depend on), so the caller waits about one
/// disk flush instead of two in a row. A container is only created before its claim has
/// committed when no workspace owned it a moment before: only a claim racing another
/// workspace's for the same new name can leave an empty container in the loser's namespace,
/// which no SAS is ever minted for.
fn claim_and_create_container(
    jobs: &qws_store::jobs::JobStore,
    data: &dyn crate::planes::blob::backend::JobDataBackend,
    workspace_uid: &str,
    container: &str,
) -> Result<bool, qws_store::StoreError> {
    let create_failed =
        |e: qws_store::queue::DataError| qws_store::StoreError::Corrupt(e.to_string());
    match jobs.container_owner(container)? {
        Some(owner) if owner != workspace_uid => Ok(false),
        // Ours already: the directory normally exists (one look, no flush).
        Some(_) => data
            .create_container(workspace_uid, container)
            .map(|()| true)
            .map_err(create_failed),
        None => std::thread::scope(|scope| {
            let create = || data.create_container(workspace_uid, container);
            // No thread to spare (the OS refused one): the two flushes one after the other.
            let creation = std::thread::Builder::new()
                .name("qws-container".into())
                .spawn_scoped(scope, create)
                .ok();
            let claimed = jobs.claim_container(workspace_uid, container);
            // Joined even when the claim failed: nothing is answered while the creation runs.
            let created = match creation {
                Some(running) => Some(running.join().map_err(|_| {
                    qws_store::StoreError::Corrupt("container creation panicked".into())
                })?),
                None => None,
            };
            if !claimed? {
                return Ok(false);
            }
            created.unwrap_or_else(create).map_err(create_failed)?;
            Ok(true)
        }),
    }
}

/// `POST {ws}/storage/sasUri`: creates the container (the client never does) and returns a
/// container SAS, or a blob SAS when `blobName` is given.
pub async fn sas_uri(
    caller: Caller,
    State(state): State<AppState>,
    Path(_): Path<WsPath>,
    _q: ListQuery,
    ArmJson(body): ArmJson<Value>,
) -> ApiResult<Json<Value>> {
    let bad = |m: String| ApiError::bad_request("InvalidBlobDetails", m);
    let container = body
        .get("containerName")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("containerName is required.".into()))?
        .to_string();
    qws_store::blobs::validate_container_name(&container).map_err(|e| bad(e.to_string()))?;
    let blob = match body.get("blobName") {
        None | Some(Value::Null) => None,
        Some(Value::String(b)) => {
            qws_store::blobs::validate_blob_name(b).map_err(|e| bad(e.to_string()))?;
            Some(b.clone())
        }
        Some(_) => return Err(bad("blobName must be a string.".into())),
    };
    let (js, data, w, c) = (
        state.dataplane.jobs.clone(),
        state.job_data.clone(),
        caller.ws.uid.clone(),
        container.clone(),
    );
    let owned = state
        .db(move |_| claim_and_create_container(&js, &*data, &w, &c))
        .await?;
    if !owned {
        return Err(error(
            StatusCode::CONFLICT,
            "ContainerNotInWorkspace",
            format!("The container '{container}' belongs to another workspace."),
        ));
    }
    let expiry = time::OffsetDateTime::now_utc() + time::Duration::hours(24);
    let holder = sas::holder_for(&state, &caller).await?;
    let uid = &caller.ws.uid;
    let uri = match blob {
        Some(b) => sas::mint_blob_sas(&state, uid, &holder, &container, &b, "racw", expiry),
        None => sas::mint_container_sas(
            &state,
            uid,
            &holder,
            &container,
            sas::CONTAINER_PERMISSIONS,
            expiry,
        ),
    };
    Ok(Json(json!({ "sasUri": uri })))
}

/// `GET {ws}/quotas`: one `jobs` quota per provider, with this month's use.
pub async fn quotas(
    caller: Caller,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    q: ListQuery,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let (js, w) = (state.dataplane.jobs.clone(), caller.ws.uid.clone());
    let period = current_period();
    let usage = state.db(move |_| js.quota_usage(&w, &period)).await?;
    let value: Vec<Value> = workspace_providers(&caller.ws)
        .into_iter()
        .map(|p| {
            let used = usage
                .iter()
                .find(|u| u.provider_id == p.id)
                .map(|u| u.used)
                .unwrap_or(0);
            json!({
                "dimension": "jobs",
                "scope": "Workspace",
                "providerId": p.id,
                "utilization": used as f64,
                "holds": 0.0,
                "limit": quota_limit(&state, &caller.ws, p.id) as f64,
                "period": "Monthly"
            })
        })
        .collect();
    Ok(Json(page(value, &q, &base, uri.path())))
}
