//! A workspace's activity log (qws's own route, the events in Azure Monitor's shape):
//! `GET {workspace}/activityLog?api-version=…&$filter=…&$top=…`, newest first, paged with
//! `nextLink`. It reads the audit log ([`crate::audit::query`]): every audited operation whose
//! target is the workspace or lies under it (keys, access tokens, webhooks …).
//!
//! Azure serves the activity log per subscription, with the resource in the filter; here the
//! resource is the path, so that reading it is authorized like every other workspace read
//! (Reader suffices: the action is Azure's `Microsoft.Insights/eventtypes/values/read`).

use super::actions;
use super::{parse_skip_token, skip_token};
use crate::api_version::QuantumApiVersion;
use crate::audit::query::{self, Cursor, StoredEvent};
use crate::error::{ApiError, ApiResult};
use crate::http::conn::BaseUrl;
use crate::paths::{Authorized, Scoped, WorkspacePath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use serde_json::{json, Value};

/// Largest `$top`.
const MAX_TOP: usize = 1000;

/// The query parameters this route reads.
struct ListQuery {
    filter: String,
    top: Option<usize>,
}

fn read_query(uri: &Uri) -> ApiResult<ListQuery> {
    let mut q = ListQuery {
        filter: String::new(),
        top: None,
    };
    let Some(text) = uri.query() else {
        return Ok(q);
    };
    for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
        match k.as_ref() {
            "$filter" => q.filter = v.into_owned(),
            "$top" => {
                let n = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_TOP).contains(n))
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "InvalidQueryParameterValue",
                            format!("$top must be a number from 1 to {MAX_TOP}."),
                        )
                        .with_target("$top")
                    })?;
                q.top = Some(n);
            }
            _ => {}
        }
    }
    Ok(q)
}

/// One event in Azure Monitor's `EventData` field names.
fn event_model(e: &StoredEvent, subscription: &str, group: &str) -> Value {
    let ok = e.outcome.starts_with("success");
    let status = if ok { "Succeeded" } else { "Failed" };
    json!({
        "eventTimestamp": e.time,
        "caller": e.principal,
        "operationName": {"value": e.action, "localizedValue": e.action},
        "resourceId": e.target,
        "status": {"value": status, "localizedValue": status},
        "level": if ok { "Informational" } else { "Warning" },
        "category": {"value": "Administrative", "localizedValue": "Administrative"},
        "subscriptionId": subscription,
        "resourceGroupName": group,
        "httpRequest": {"clientIpAddress": e.client},
        "properties": {"outcome": e.outcome},
    })
}

/// `GET {ws}/activityLog`.
pub(super) async fn list(
    auth: Authorized<WorkspacePath, actions::ActivityLogRead>,
    QuantumApiVersion(version): QuantumApiVersion,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let scope = auth.path.scope();
    let q = read_query(&uri)?;
    let filter = query::parse_filter(&q.filter, &scope).map_err(|e| {
        ApiError::bad_request("InvalidFilter", format!("The $filter is invalid: {}", e.0))
            .with_target("$filter")
    })?;
    let after = parse_skip_token(uri.query())?
        .map(|(time, n)| {
            Ok::<_, ApiError>(Cursor {
                time: query::parse_time(&time).map_err(|_| bad_token())?,
                returned_at_time: n.parse().map_err(|_| bad_token())?,
            })
        })
        .transpose()?;
    let top = q.top.unwrap_or(state.config.mgmt.page_size.max(1));
    let st = state.clone();
    let page = tokio::task::spawn_blocking(move || {
        let files = st.audit.snapshot()?;
        query::query(files, &filter, after.as_ref(), top)
    })
    .await
    .map_err(|e| ApiError::internal("blocking task", &e))?
    .map_err(|e| ApiError::internal("audit log", &e))?;
    let id = &auth.path.0;
    let (sub, group) = (id.subscription.to_string(), id.resource_group.as_str());
    let value: Vec<Value> = page
        .events
        .iter()
        .map(|e| event_model(e, &sub, group))
        .collect();
    let next_link = page.next.map(|c| {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        ser.append_pair("api-version", &version);
        if !q.filter.is_empty() {
            ser.append_pair("$filter", &q.filter);
        }
        ser.append_pair("$top", &top.to_string());
        ser.append_pair(
            "$skiptoken",
            &skip_token(&c.time, &c.returned_at_time.to_string()),
        );
        format!("{base}{}?{}", uri.path(), ser.finish())
    });
    let mut body = json!({ "value": value });
    if let Some(link) = next_link {
        body["nextLink"] = Value::String(link);
    }
    Ok(Json(body))
}

fn bad_token() -> ApiError {
    ApiError::bad_request(
        "InvalidSkipToken",
        "The $skiptoken query parameter is invalid.",
    )
    .with_target("$skiptoken")
}
