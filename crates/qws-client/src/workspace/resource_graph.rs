//! The Azure Resource Graph lookup behind a name-only [`WorkspaceBuilder`](super::WorkspaceBuilder):
//! one Kusto query for `microsoft.quantum/workspaces` rows with that name.

use super::builder::normalize_location;
use crate::arm::ArmClient;
use crate::error::{Error, ErrorKind, Result};

/// `api-version` of the Azure Resource Graph query.
const RESOURCE_GRAPH_API_VERSION: &str = "2021-03-01";

/// One row of the Resource Graph answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphRow {
    name: Option<String>,
    subscription_id: Option<String>,
    resource_group: Option<String>,
    location: Option<String>,
    endpoint_uri: Option<String>,
}

/// Quotes a value for a Kusto string literal.
fn kusto_quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The Azure Resource Graph name lookup: returns (subscription, group, location, endpointUri).
pub(super) async fn resource_graph_lookup(
    arm: &ArmClient,
    name: &str,
    subscription: Option<&str>,
    group: Option<&str>,
    location: Option<&str>,
) -> Result<(String, String, String, String)> {
    let mut query = format!(
        "Resources | where type =~ 'microsoft.quantum/workspaces' | where name =~ {}",
        kusto_quote(name)
    );
    if let Some(g) = group {
        query += &format!(" | where resourceGroup =~ {}", kusto_quote(g));
    }
    if let Some(l) = location {
        query += &format!(
            " | where location =~ {}",
            kusto_quote(&normalize_location(l))
        );
    }
    query += " | extend endpointUri = tostring(properties.endpointUri), workspaceKind = tostring(properties.workspaceKind) | project name, subscriptionId, resourceGroup, location, endpointUri, workspaceKind";
    let mut body = serde_json::json!({ "query": query });
    if let Some(s) = subscription {
        body["subscriptions"] = serde_json::json!([s]);
    }
    let mut url = arm.endpoint().clone();
    url.set_path("/providers/Microsoft.ResourceGraph/resources");
    url.set_query(Some(&format!("api-version={RESOURCE_GRAPH_API_VERSION}")));
    // Through the ARM client's pipeline: its bearer token (ARM scope) and retry rules.
    let answer = arm
        .send::<()>(reqwest::Method::POST, url, Some(body))
        .await?;
    let bytes = answer.body();
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            format!("Resource Graph answer is not JSON: {e}"),
        )
    })?;
    let rows: Vec<GraphRow> = serde_json::from_value(
        value
            .get("data")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
    )
    .map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            format!("Resource Graph answer has no usable 'data' rows: {e}"),
        )
    })?;
    match rows.as_slice() {
        [] => Err(Error::with_code(
            ErrorKind::Other,
            "WorkspaceNotFound",
            format!("no workspace named '{name}' was found"),
        )),
        [row] => {
            let incomplete = || {
                Error::new(
                    ErrorKind::DataConversion,
                    format!("Resource Graph returned incomplete details for workspace '{name}'"),
                )
            };
            let _ = row.name.as_ref().ok_or_else(incomplete)?;
            Ok((
                row.subscription_id.clone().ok_or_else(incomplete)?,
                row.resource_group.clone().ok_or_else(incomplete)?,
                row.location.clone().ok_or_else(incomplete)?,
                row.endpoint_uri
                    .clone()
                    .filter(|e| !e.is_empty())
                    .ok_or_else(incomplete)?,
            ))
        }
        many => Err(Error::with_code(
            ErrorKind::Other,
            "AmbiguousWorkspaceName",
            format!(
                "{} workspaces are named '{name}' ({}); also give the subscription id and resource group",
                many.len(),
                many.iter()
                    .map(|r| format!(
                        "{}/{}",
                        r.subscription_id.as_deref().unwrap_or("?"),
                        r.resource_group.as_deref().unwrap_or("?")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kusto_literals_cannot_be_escaped() {
        assert_eq!(kusto_quote("ws"), "'ws'");
        assert_eq!(kusto_quote(r"a'b\c"), r"'a\'b\\c'");
    }
}
