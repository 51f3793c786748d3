//! The generic ARM resource list (`GET /subscriptions/{s}[/resourceGroups/{rg}]/resources`) as
//! `az quantum workspace list` / `az resource list` call it, answered from qws's workspaces and
//! storage accounts. Supported `$filter` clauses (joined by `and`): `resourceGroup eq '…'`,
//! `resourceType eq '…'`, `location eq '…'`, `tagName eq '…'`, `tagValue eq '…'` (values
//! compared case-insensitively, except tag values); other clauses are refused with
//! `InvalidFilterInQueryString`. `$expand` (e.g. `createdTime,changedTime,provisioningState`)
//! is accepted: those fields are always present.

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
    resource_group: Option<String>,
    resource_type: Option<String>,
    location: Option<String>,
    tag_name: Option<String>,
    tag_value: Option<String>,
}

fn parse_filter(f: &str) -> ApiResult<Filter> {
    let bad = || {
        ApiError::bad_request(
            "InvalidFilterInQueryString",
            "Supported $filter clauses: resourceGroup eq '…', resourceType eq '…', location eq '…', tagName eq '…', tagValue eq '…', joined by 'and'.",
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
            "resourcegroup" => out.resource_group = Some(value),
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

/// One row of the generic list, with what the filter looks at.
struct Row {
    id: String,
    group: String,
    resource_type: &'static str,
    location: String,
    tags: qws_core::models::Tags,
    body: Value,
}

impl Filter {
    fn keeps(&self, r: &Row) -> bool {
        let same = |want: &Option<String>, have: &str| {
            want.as_ref().is_none_or(|w| w.eq_ignore_ascii_case(have))
        };
        same(&self.resource_group, &r.group)
            && same(&self.resource_type, r.resource_type)
            && self
                .location
                .as_ref()
                .is_none_or(|l| l.replace(' ', "").eq_ignore_ascii_case(&r.location))
            && self
                .tag_name
                .as_ref()
                .is_none_or(|k| r.tags.contains_key(k))
            && self
                .tag_value
                .as_ref()
                .is_none_or(|v| match &self.tag_name {
                    Some(k) => r.tags.get(k) == Some(v),
                    None => r.tags.values().any(|x| x == v),
                })
    }
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
    let (workspaces, accounts) = state
        .db(move |s| {
            Ok((
                s.list_workspaces(&sub, rg.as_ref(), None, 1000)?,
                s.list_storage_accounts(&sub, rg.as_ref())?,
            ))
        })
        .await?;
    let t = |n: i64| {
        qws_core::time_fmt::arm_precise(
            time::OffsetDateTime::from_unix_timestamp_nanos(n as i128)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        )
    };
    let mut rows: Vec<(Row, &str)> = Vec::new();
    for w in &workspaces {
        let Ok(id) = w.id() else { continue };
        let state_text = if w.deleting_op.is_some() {
            "Deleting"
        } else {
            "Succeeded"
        };
        rows.push((
            Row {
                id: id.to_id(),
                group: w.resource_group.clone(),
                resource_type: "Microsoft.Quantum/Workspaces",
                location: w.location.clone(),
                tags: w.tags.clone(),
                body: json!({"createdTime": t(w.created_at), "changedTime": t(w.modified_at),
                             "provisioningState": state_text, "name": w.name}),
            },
            actions::READ,
        ));
    }
    for a in &accounts {
        let m = super::storage::model(state, a);
        rows.push((
            Row {
                id: a.id.to_id(),
                group: a.id.group.resource_group.as_str().to_string(),
                resource_type: qws_core::resource_id::STORAGE_ACCOUNT_TYPE,
                location: a.spec.location.clone(),
                tags: a.spec.tags.clone(),
                body: json!({"createdTime": t(a.created_at), "changedTime": t(a.created_at),
                             "provisioningState": "Succeeded", "name": a.id.account.as_str(),
                             "sku": m["sku"], "kind": m["kind"]}),
            },
            actions::STORAGE_READ,
        ));
    }
    let value: Vec<Value> = rows
        .into_iter()
        .filter(|(r, _)| filter.keeps(r))
        .filter(|(r, action)| authorize(principal, action, &r.id).is_ok())
        .map(|(r, _)| {
            let mut v = json!({"id": r.id, "type": r.resource_type, "location": r.location, "tags": r.tags});
            if let (Value::Object(out), Value::Object(extra)) = (&mut v, r.body) {
                out.extend(extra);
            }
            v
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
        let f = parse_filter(
            "resourceGroup eq 'qws' and resourceType eq 'Microsoft.Quantum/Workspaces'",
        )
        .unwrap();
        assert_eq!(f.resource_group.as_deref(), Some("qws"));
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
