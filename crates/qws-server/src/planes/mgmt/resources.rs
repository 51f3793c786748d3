//! The generic ARM resource list (`GET /subscriptions/{s}[/resourceGroups/{rg}]/resources`) as
//! `az quantum workspace list` / `az resource list` call it, answered from qws's workspaces.
//! Supported `$filter` clauses (joined by `and`): `resourceType eq '…'`, `location eq '…'`,
//! `tagName eq '…'`, `tagValue eq '…'`; other clauses are refused with `InvalidFilterInQueryString`.

use super::{actions, require_group};
use crate::api_version::{query_param_from_uri, ArmApiVersion};
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::{ApiError, ApiResult};
use crate::paths::{GroupPath, SubscriptionPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::Uri;
use axum::Json;
use qws_core::names::{ResourceGroupName, SubscriptionId};
use serde_json::{json, Value};

#[derive(Default)]
struct Filter {
    resource_type: Option<String>,
    location: Option<String>,
    tag_name: Option<String>,
    tag_value: Option<String>,
}

fn parse_filter(f: &str) -> ApiResult<Filter> {
    let bad = || {
        ApiError::bad_request(
            "InvalidFilterInQueryString",
            "Supported $filter clauses: resourceType eq '…', location eq '…', tagName eq '…', tagValue eq '…', joined by 'and'.",
        )
        .with_target("$filter")
    };
    let mut out = Filter::default();
    let mut rest = f.trim();
    while !rest.is_empty() {
        // <field> eq '<value>'
        let (field, after) = rest.split_once(' ').ok_or_else(bad)?;
        let after = after.trim_start();
        let after = after
            .get(..3)
            .filter(|op| op.eq_ignore_ascii_case("eq "))
            .map(|_| after[3..].trim_start())
            .ok_or_else(bad)?;
        let quoted = after.strip_prefix('\'').ok_or_else(bad)?;
        let end = quoted.find('\'').ok_or_else(bad)?;
        let value = quoted[..end].to_string();
        match field.to_ascii_lowercase().as_str() {
            "resourcetype" => out.resource_type = Some(value),
            "location" => out.location = Some(value),
            "tagname" => out.tag_name = Some(value),
            "tagvalue" => out.tag_value = Some(value),
            _ => return Err(bad()),
        }
        rest = quoted[end + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest
            .get(..4)
            .filter(|and| and.eq_ignore_ascii_case("and "))
            .map(|_| rest[4..].trim_start())
            .ok_or_else(bad)?;
    }
    Ok(out)
}

async fn list(
    state: &AppState,
    principal: &AuthenticatedPrincipal,
    sub: SubscriptionId,
    rg: Option<ResourceGroupName>,
    uri: &Uri,
) -> ApiResult<Json<Value>> {
    let filter = match query_param_from_uri(uri, "$filter") {
        Some(f) => parse_filter(&f)?,
        None => Filter::default(),
    };
    if filter
        .resource_type
        .as_ref()
        .is_some_and(|t| !t.eq_ignore_ascii_case("Microsoft.Quantum/Workspaces"))
    {
        return Ok(Json(json!({"value": []})));
    }
    let rows = state
        .db(move |s| s.list_workspaces(&sub, rg.as_ref(), None, 1000))
        .await?;
    let t = |n: i64| {
        qws_core::time_fmt::arm_precise(
            time::OffsetDateTime::from_unix_timestamp_nanos(n as i128)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        )
    };
    let value: Vec<Value> = rows
        .iter()
        .filter(|w| filter.location.as_ref().is_none_or(|l| l.replace(' ', "").eq_ignore_ascii_case(&w.location)))
        .filter(|w| filter.tag_name.as_ref().is_none_or(|k| w.tags.contains_key(k)))
        .filter(|w| {
            filter.tag_value.as_ref().is_none_or(|v| match &filter.tag_name {
                Some(k) => w.tags.get(k) == Some(v),
                None => w.tags.values().any(|x| x == v),
            })
        })
        .filter_map(|w| Some((w.id().ok()?.to_id(), w)))
        .filter(|(id, _)| authorize(principal, actions::READ, id).is_ok())
        .map(|(id, w)| {
            json!({"id": id, "name": w.name, "type": "Microsoft.Quantum/Workspaces", "location": w.location,
                   "tags": w.tags, "createdTime": t(w.created_at), "changedTime": t(w.modified_at),
                   "provisioningState": "Succeeded"})
        })
        .collect();
    Ok(Json(json!({ "value": value })))
}

pub(super) async fn list_in_subscription(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    uri: Uri,
    SubscriptionPath(sub): SubscriptionPath,
) -> ApiResult<Json<Value>> {
    list(&state, &principal, sub, None, &uri).await
}

pub(super) async fn list_in_group(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    uri: Uri,
    GroupPath(group): GroupPath,
) -> ApiResult<Json<Value>> {
    require_group(&state, &group).await?;
    list(
        &state,
        &principal,
        group.subscription,
        Some(group.resource_group),
        &uri,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::parse_filter;

    #[test]
    fn filters() {
        let f = parse_filter(
            "resourceType eq 'Microsoft.Quantum/Workspaces' and location eq 'East US'",
        )
        .unwrap();
        assert_eq!(
            f.resource_type.as_deref(),
            Some("Microsoft.Quantum/Workspaces")
        );
        assert_eq!(f.location.as_deref(), Some("East US"));
        let f = parse_filter("tagName eq 'env' and tagValue eq 'Prod'").unwrap();
        assert_eq!(
            (f.tag_name.as_deref(), f.tag_value.as_deref()),
            (Some("env"), Some("Prod"))
        );
        assert!(parse_filter("name eq 'x'").is_err());
        assert!(parse_filter("resourceType eq 'x' or location eq 'y'").is_err());
        assert!(parse_filter("resourceType eq x").is_err());
    }
}
