//! The one Azure Resource Graph query shape azure-quantum sends to find a workspace by name:
//!
//! ```text
//! Resources | where type =~ 'microsoft.quantum/workspaces' | where name =~ 'WS'
//!   [| where resourceGroup =~ 'RG'] [| where location =~ 'LOC']
//!   | extend endpointUri = tostring(properties.endpointUri), workspaceKind = tostring(properties.workspaceKind)
//!   | project name, subscriptionId, resourceGroup, location, endpointUri, workspaceKind
//! ```
//!
//! It is answered from qws's own workspaces. Any other query gets ARG's `BadRequest`/`InvalidQuery`.

use super::actions;
use crate::api_version::ArmApiVersion;
use crate::auth::{authorize, AuthenticatedPrincipal};
use crate::error::{ApiError, ApiResult};
use crate::http::body::ArmJson;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub(super) struct GraphRequest {
    query: Option<String>,
    subscriptions: Option<Vec<String>>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Filters {
    name: Option<String>,
    resource_group: Option<String>,
    location: Option<String>,
}

fn invalid(msg: &str) -> ApiError {
    let mut e = ApiError::bad_request(
        "BadRequest",
        format!("Please provide below info when asking for support: qws supports only the workspace lookup query azure-quantum sends. {msg}"),
    );
    e.target = Some("query".into());
    e
}

/// Parses `where <field> =~ '<value>'` clauses of the supported query shape.
fn parse_query(q: &str) -> Result<Filters, ApiError> {
    let mut stages = q.split('|').map(str::trim);
    if !stages
        .next()
        .is_some_and(|s| s.eq_ignore_ascii_case("resources"))
    {
        return Err(invalid("The query must start with 'Resources'."));
    }
    let mut f = Filters::default();
    let mut typed = false;
    for stage in stages {
        let lower = stage.to_ascii_lowercase();
        if lower.starts_with("extend ") || lower.starts_with("project ") {
            continue;
        }
        let Some(rest) = lower.strip_prefix("where ") else {
            return Err(invalid(&format!(
                "Unsupported query stage '{}'.",
                stage.chars().take(80).collect::<String>()
            )));
        };
        let Some((field, value)) = rest.split_once("=~") else {
            return Err(invalid(
                "Only 'where <field> =~ '<value>'' filters are supported.",
            ));
        };
        let original_value = &stage[stage.len() - value.len()..];
        let v = original_value.trim();
        let v = v
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
            .ok_or_else(|| invalid("Filter values must be quoted strings."))?;
        match field.trim() {
            "type" => {
                if !v.eq_ignore_ascii_case("microsoft.quantum/workspaces") {
                    return Err(invalid(
                        "Only type 'microsoft.quantum/workspaces' is supported.",
                    ));
                }
                typed = true;
            }
            "name" => f.name = Some(v.to_string()),
            "resourcegroup" => f.resource_group = Some(v.to_string()),
            "location" => f.location = Some(v.to_string()),
            other => {
                return Err(invalid(&format!(
                    "Unsupported filter field '{}'.",
                    other.chars().take(40).collect::<String>()
                )))
            }
        }
    }
    if !typed {
        return Err(invalid(
            "The query must filter on type =~ 'microsoft.quantum/workspaces'.",
        ));
    }
    Ok(f)
}

pub(super) async fn query(
    principal: AuthenticatedPrincipal,
    _v: ArmApiVersion,
    State(state): State<AppState>,
    ArmJson(body): ArmJson<GraphRequest>,
) -> ApiResult<Json<Value>> {
    let q = body.query.unwrap_or_default();
    let filters = parse_query(&q)?;
    let Some(name) = filters.name.clone() else {
        return Err(invalid("The query must filter on name."));
    };
    let subs: Option<Vec<String>> = body
        .subscriptions
        .map(|v| v.iter().map(|s| s.to_ascii_lowercase()).collect());
    let rows = state
        .db(move |s| s.find_workspaces_by_name(&name, 1000))
        .await?;
    let data: Vec<Value> = rows
        .iter()
        .filter(|w| subs.as_ref().is_none_or(|s| s.contains(&w.subscription.to_string())))
        .filter(|w| filters.resource_group.as_ref().is_none_or(|rg| rg.eq_ignore_ascii_case(&w.resource_group)))
        .filter(|w| {
            filters
                .location
                .as_ref()
                .is_none_or(|l| l.replace(' ', "").eq_ignore_ascii_case(&w.location))
        })
        .filter(|w| {
            w.id()
                .is_ok_and(|id| authorize(&principal, actions::READ, &id.to_id()).is_ok())
        })
        .map(|w| {
            json!({"name": w.name, "subscriptionId": w.subscription.to_string(), "resourceGroup": w.resource_group,
                   "location": w.location, "endpointUri": state.urls.endpoint_uri, "workspaceKind": w.workspace_kind})
        })
        .collect();
    Ok(Json(json!({
        "totalRecords": data.len(), "count": data.len(), "resultTruncated": "false", "facets": [], "data": data
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_azure_quantum_query() {
        let q = "\n            Resources\n            | where type =~ 'microsoft.quantum/workspaces'\n            | where name =~ 'MyWs'\n        \n                | where resourceGroup =~ 'myrg'\n                | where location =~ 'eastus'\n            | extend endpointUri = tostring(properties.endpointUri), workspaceKind = tostring(properties.workspaceKind)\n            | project name, subscriptionId, resourceGroup, location, endpointUri, workspaceKind\n        ";
        let f = parse_query(q).unwrap();
        assert_eq!(f.name.as_deref(), Some("MyWs"));
        assert_eq!(f.resource_group.as_deref(), Some("myrg"));
        assert_eq!(f.location.as_deref(), Some("eastus"));
        assert!(parse_query("Resources | where name =~ 'x'").is_err());
        assert!(parse_query(
            "Resources | where type =~ 'microsoft.quantum/workspaces' | summarize count()"
        )
        .is_err());
    }
}
