//! The Azure Quantum data plane under
//! `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}/…`:
//! `providerStatus`, `storage/sasUri`, `jobs`, `sessions`, `quotas`, `topLevelItems`.
//!
//! * [`auth`]: access key or bearer token, uniform 401, failure throttling.
//! * [`targets`]: the workspace's providers and targets, `providerStatus`.
//! * [`jobs`]: job create/get/list/cancel/update/delete, `sasUri`, `quotas`.
//! * [`sessions`]: sessions and `topLevelItems`.
//! * [`storage_proxy`]: `storage/proxy`, blob requests relayed in-process (`x-proxy-to`).
//! * [`filter`]: the `filter`/`orderby` language of list calls.
//! * [`items`]: the JSON documents (JobDetails, SessionDetails) and their rendering.
//!
//! Jobs run on [`crate::scheduler`]. Errors are `{"error":{"code","message"}}`.

pub mod auth;
pub mod filter;
pub mod items;
pub mod jobs;
pub mod key_usage;
pub mod sessions;
pub mod storage_proxy;
pub mod targets;

use crate::api_version::{query_param, well_formed};
use crate::error::ApiError;
use crate::routes::table::Routes;
use crate::scheduler::Scheduler;
use axum::extract::{DefaultBodyLimit, FromRequestParts};
use axum::http::request::Parts;
use qws_store::jobs::JobStore;
use serde_json::{json, Value};
use std::sync::Arc;

/// Largest data-plane request body (job and session documents).
pub const MAX_BODY: usize = 1024 * 1024;
/// Default and largest page size of list calls.
pub const DEFAULT_TOP: usize = 100;
/// Largest `top`.
pub const MAX_TOP: usize = 1000;
/// Items of one kind a list call considers per workspace.
pub const MAX_LISTED: usize = 100_000;

/// Data-plane settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPlaneConfig {
    /// Largest job input blob.
    pub max_input_bytes: u64,
    /// Jobs per provider per workspace per month unless a workspace tag
    /// `qws.quota.jobs.<provider>` says otherwise.
    pub default_monthly_jobs: i64,
}

impl DataPlaneConfig {
    /// The defaults (`qws serve --max-job-input-size`, `--monthly-job-quota`): 64 MiB inputs,
    /// a quota high enough never to bind unless a workspace tag sets one.
    pub const DEFAULT: DataPlaneConfig = DataPlaneConfig {
        max_input_bytes: 64 << 20,
        default_monthly_jobs: 1_000_000,
    };
}

impl Default for DataPlaneConfig {
    fn default() -> Self {
        DataPlaneConfig::DEFAULT
    }
}

/// Data-plane state shared by the handlers and the scheduler.
#[derive(Debug)]
pub struct DataPlane {
    /// Jobs, sessions, quota usage.
    pub jobs: Arc<JobStore>,
    /// The job scheduler.
    pub scheduler: Arc<Scheduler>,
    /// Settings.
    pub config: DataPlaneConfig,
    /// `providerStatus` bodies, built once per workspace provider list and queue-time change.
    pub provider_status: targets::ProviderStatusCache,
    /// What bearer tokens were authenticated and authorized as, between changes.
    pub token_decisions: auth::TokenDecisions,
    /// The SAS holders found live, between changes.
    pub live_holders: crate::planes::blob::sas::LiveHolders,
}

impl DataPlane {
    /// Builds the data plane over an opened job store.
    pub fn new(jobs: Arc<JobStore>, scheduler: Arc<Scheduler>, config: DataPlaneConfig) -> Self {
        DataPlane {
            jobs,
            scheduler,
            config,
            provider_status: targets::ProviderStatusCache::default(),
            token_decisions: auth::TokenDecisions::new(auth::TOKEN_DECISIONS_MAX),
            live_holders: crate::planes::blob::sas::LiveHolders::new(
                crate::planes::blob::sas::LIVE_HOLDERS_MAX,
            ),
        }
    }
}

/// Data-plane routes (canonical spelling; see [`crate::routes::normalize`]).
pub fn router() -> Routes {
    const WS: &str =
        "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}";
    let proxy = format!("{WS}/storage/proxy");
    let job = format!("{WS}/jobs/{{id}}");
    let session = format!("{WS}/sessions/{{id}}");
    Routes::new()
        .get(&format!("{WS}/providerStatus"), targets::provider_status)
        .post(&format!("{WS}/storage/sasUri"), jobs::sas_uri)
        .get(&proxy, storage_proxy::storage_proxy)
        .put(&proxy, storage_proxy::storage_proxy)
        .post(&proxy, storage_proxy::storage_proxy)
        .get(&format!("{WS}/jobs"), jobs::list_jobs)
        .get(&job, jobs::get_job)
        .put(&job, jobs::put_job)
        .patch(&job, jobs::patch_job)
        .delete(&job, jobs::delete_job)
        .post(&job, jobs::post_job_action)
        .get(&format!("{WS}/quotas"), jobs::quotas)
        .get(&format!("{WS}/sessions"), sessions::list_sessions)
        .get(&session, sessions::get_session)
        .put(&session, sessions::put_session)
        .post(&session, sessions::post_session_action)
        .get(&format!("{session}/jobs"), sessions::list_session_jobs)
        .get(&format!("{WS}/topLevelItems"), sessions::top_level_items)
        .map_router(|r| r.layer(DefaultBodyLimit::max(MAX_BODY)))
}

/// `api-version`, `filter`, `orderby`, `skip`, `top` of a data-plane request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `api-version` as sent (any well-formed version is served).
    pub api_version: Option<String>,
    /// Raw filter text.
    pub filter: Option<String>,
    /// Raw orderby text.
    pub orderby: Option<String>,
    /// Items to skip.
    pub skip: usize,
    /// Page size.
    pub top: usize,
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let api_version = query_param(parts, "api-version");
        if let Some(v) = &api_version {
            if !well_formed(v) {
                return Err(ApiError::bad_request(
                    "InvalidApiVersionParameter",
                    format!(
                        "The api-version '{}' is invalid; expected YYYY-MM-DD[-preview].",
                        v.chars().take(64).collect::<String>()
                    ),
                ));
            }
        }
        let num = |name: &str, default: usize, max: usize| -> Result<usize, ApiError> {
            match query_param(parts, name).or_else(|| query_param(parts, &format!("${name}"))) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<usize>() {
                    Ok(n) if n <= max => Ok(n),
                    _ => Err(ApiError::bad_request(
                        "InvalidQueryParameter",
                        format!("'{name}' must be an integer between 0 and {max}."),
                    )),
                },
            }
        };
        let skip = num("skip", 0, MAX_LISTED)?;
        let top = num("top", DEFAULT_TOP, MAX_TOP)?.max(1);
        let filter = query_param(parts, "filter")
            .or_else(|| query_param(parts, "$filter"))
            .filter(|f| !f.trim().is_empty());
        let orderby = query_param(parts, "orderby")
            .or_else(|| query_param(parts, "$orderby"))
            .filter(|f| !f.trim().is_empty());
        Ok(ListQuery {
            api_version,
            filter,
            orderby,
            skip,
            top,
        })
    }
}

/// One page of `items` (already filtered and ordered) as `{"value", "nextLink"}`; the nextLink
/// carries filter, orderby, skip and top, since clients keep only its query string.
pub fn page(items: Vec<Value>, q: &ListQuery, base: &str, path: &str) -> Value {
    page_rendered(items, q, base, path, |v| v)
}

/// One page of items the store fetched from `q.skip` with [`fetch_limit`] (one more than the
/// page, to tell whether another page follows), rendered and with the same `nextLink` as
/// [`page_rendered`] gives for the whole list.
pub fn page_fetched<T>(
    mut items: Vec<T>,
    q: &ListQuery,
    base: &str,
    path: &str,
    render: impl FnMut(T) -> Value,
) -> Value {
    let more = items.len() > q.top;
    items.truncate(q.top);
    let value: Vec<Value> = items.into_iter().map(render).collect();
    let next_link = more.then(|| next_link(q, base, path));
    json!({"value": value, "nextLink": next_link})
}

/// Rows to fetch for one page: the page and one more.
pub fn fetch_limit(q: &ListQuery) -> usize {
    q.top.saturating_add(1)
}

fn next_link(q: &ListQuery, base: &str, path: &str) -> String {
    let next = q.skip.saturating_add(q.top);
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    ser.append_pair(
        "api-version",
        q.api_version.as_deref().unwrap_or("2026-01-15-preview"),
    );
    if let Some(f) = &q.filter {
        ser.append_pair("filter", f);
    }
    if let Some(o) = &q.orderby {
        ser.append_pair("orderby", o);
    }
    ser.append_pair("skip", &next.to_string());
    ser.append_pair("top", &q.top.to_string());
    format!("{base}{path}?{}", ser.finish())
}

/// [`page`] that renders only the items on the page (rendering a job mints its SAS).
pub fn page_rendered<T>(
    items: Vec<T>,
    q: &ListQuery,
    base: &str,
    path: &str,
    render: impl FnMut(T) -> Value,
) -> Value {
    let total = items.len();
    let value: Vec<Value> = items
        .into_iter()
        .skip(q.skip)
        .take(q.top)
        .map(render)
        .collect();
    let next = q.skip.saturating_add(q.top);
    let next_link = (next < total).then(|| next_link(q, base, path));
    json!({"value": value, "nextLink": next_link})
}

/// An error in the data plane's shape (the shared `ApiError` renders `{"error":{code,message}}`).
pub fn error(status: axum::http::StatusCode, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

/// Current time in the wire format.
pub fn now_string() -> String {
    qws_core::time_fmt::arm_precise(time::OffsetDateTime::now_utc())
}
