//! [`WorkspaceBuilder`]: a [`Workspace`] resolved through ARM, as the Python client's keyword
//! constructor does (resource id; subscription + resource group + name; name alone).

use qws_core::names::{ResourceGroupName, SubscriptionId, WorkspaceName};

use super::resource_graph::resource_graph_lookup;
use super::{invalid, Workspace, WorkspaceOptions, AZURE_ARM_ENDPOINT};
use crate::arm::{ArmClient, ArmClientOptions};
use crate::credentials::Credential;
use crate::error::{Error, ErrorKind, Result};

/// Builds a [`Workspace`] the way the Python client's keyword constructor does: from a resource
/// id, from subscription + resource group + name, or from a name alone (looked up with an Azure
/// Resource Graph query), resolving the data-plane endpoint and location through ARM.
#[derive(Default, Debug, Clone)]
pub struct WorkspaceBuilder {
    resource_id: Option<String>,
    subscription_id: Option<String>,
    resource_group: Option<String>,
    name: Option<String>,
    location: Option<String>,
    credential: Option<Credential>,
    arm_endpoint: Option<String>,
    quantum_endpoint: Option<String>,
    options: WorkspaceOptions,
}

impl WorkspaceBuilder {
    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/Workspaces/{name}`
    /// (case-insensitive fixed segments); overrides subscription, group and name.
    pub fn resource_id(mut self, id: impl Into<String>) -> Self {
        self.resource_id = Some(id.into());
        self
    }

    /// Subscription id (a GUID).
    pub fn subscription_id(mut self, id: impl Into<String>) -> Self {
        self.subscription_id = Some(id.into());
        self
    }

    /// Resource group.
    pub fn resource_group(mut self, group: impl Into<String>) -> Self {
        self.resource_group = Some(group.into());
        self
    }

    /// Workspace name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Location; narrows a name-only lookup and is checked against ARM's answer.
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// The credential (a token credential is required for ARM and Resource Graph lookups).
    pub fn credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// ARM endpoint (default `https://management.azure.com/`; a qws server's https URL).
    pub fn arm_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.arm_endpoint = Some(endpoint.into());
        self
    }

    /// The data-plane endpoint, when known: skips the ARM lookup (needs subscription, group,
    /// name and location). The Python client's private `_quantum_endpoint=`.
    pub fn quantum_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.quantum_endpoint = Some(endpoint.into());
        self
    }

    /// Transport and api-version options (used for the data plane and the ARM lookups).
    pub fn options(mut self, options: WorkspaceOptions) -> Self {
        self.options = options;
        self
    }

    /// Resolves the workspace (ARM `GET workspace`, or a Resource Graph query when subscription
    /// or group is missing) and returns the client. No data-plane request is made.
    pub async fn build(self) -> Result<Workspace> {
        let mut sub = self.subscription_id.clone();
        let mut group = self.resource_group.clone();
        let mut name = self.name.clone();
        if let Some(id) = &self.resource_id {
            let (s, g, n) = parse_resource_id(id)?;
            sub = Some(s);
            group = Some(g);
            name = Some(n);
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(invalid(
                "workspace not fully specified: give a resource id, subscription id + resource group + name, a name, or use a connection string",
            ));
        };
        if let Some(s) = &sub {
            SubscriptionId::parse(s).map_err(|e| invalid(e.to_string()))?;
        }
        if let Some(g) = &group {
            ResourceGroupName::parse(g).map_err(|e| invalid(e.to_string()))?;
        }
        WorkspaceName::parse(&name).map_err(|e| invalid(e.to_string()))?;
        let credential = self
            .credential
            .clone()
            .ok_or_else(|| invalid("no credential given: call .credential(…)"))?;

        // Everything known: no lookup (like the Python client's `_quantum_endpoint`).
        if let (Some(endpoint), Some(s), Some(g), Some(loc)) =
            (&self.quantum_endpoint, &sub, &group, &self.location)
        {
            return Workspace::new(s, g, &name, loc, endpoint, credential, Some(self.options));
        }
        let Credential::Token(token) = &credential else {
            return Err(invalid(
                "an API key cannot query ARM or Resource Graph: use a connection string, give quantum_endpoint and location, or pass a token credential",
            ));
        };
        let arm_endpoint = self.arm_endpoint.as_deref().unwrap_or(AZURE_ARM_ENDPOINT);
        let arm = ArmClient::new(
            arm_endpoint,
            token.clone(),
            Some(ArmClientOptions::from(self.options.client_options.clone())),
        )?;

        let (sub, group, location, endpoint) = match (sub, group) {
            (Some(s), Some(g)) => {
                let ws = arm.get_workspace(&s, &g, &name, None).await.map_err(|e| {
                    if e.status() == Some(404) {
                        Error::with_code(
                            e.kind().clone(),
                            e.code().unwrap_or("ResourceNotFound").to_owned(),
                            format!("workspace '{name}' not found in resource group '{g}' and subscription '{s}'"),
                        )
                    } else {
                        e
                    }
                })?;
                let json = ws.json()?;
                let location = json
                    .get("location")
                    .and_then(|l| l.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::DataConversion,
                            format!("ARM returned no location for workspace '{name}'"),
                        )
                    })?;
                let endpoint = json
                    .pointer("/properties/endpointUri")
                    .and_then(|l| l.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::DataConversion,
                            format!(
                                "ARM returned no properties.endpointUri for workspace '{name}'"
                            ),
                        )
                    })?;
                (s, g, location, endpoint)
            }
            (s, g) => {
                resource_graph_lookup(
                    &arm,
                    &name,
                    s.as_deref(),
                    g.as_deref(),
                    self.location.as_deref(),
                )
                .await?
            }
        };
        if let Some(wanted) = &self.location {
            if !normalize_location(wanted).eq_ignore_ascii_case(&location) {
                return Err(invalid(format!(
                    "workspace '{name}' is in '{location}', not in '{wanted}'"
                )));
            }
        }
        let endpoint = self.quantum_endpoint.clone().unwrap_or(endpoint);
        Workspace::new(
            &sub,
            &group,
            &name,
            &location,
            &endpoint,
            credential,
            Some(self.options),
        )
    }
}

/// `"East US"` → `eastus`, as the Python client normalises locations.
pub(super) fn normalize_location(location: &str) -> String {
    location
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Splits a workspace resource id into (subscription, group, name), with the one parser the
/// server uses too ([`qws_core::resource_id::WorkspaceId::parse`]).
pub fn parse_resource_id(id: &str) -> Result<(String, String, String)> {
    let parsed = qws_core::resource_id::WorkspaceId::parse(id)
        .map_err(|e| invalid(format!("invalid resource id: {e}")))?;
    Ok((
        parsed.subscription.to_string(),
        parsed.resource_group.to_string(),
        parsed.workspace.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    #[test]
    fn resource_ids_parse_case_insensitively() {
        let (s, g, n) = parse_resource_id(&format!(
            "/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.quantum/Workspaces/ws1"
        ))
        .unwrap();
        assert_eq!((s.as_str(), g.as_str(), n.as_str()), (SUB, "rg", "ws1"));
        assert!(parse_resource_id("/subscriptions/x/resourceGroups/rg").is_err());
    }

    #[tokio::test]
    async fn builder_needs_a_name_and_a_token_for_lookups() {
        let e = Workspace::builder().build().await.unwrap_err();
        assert!(e.message().contains("not fully specified"));
        let e = Workspace::builder()
            .name("ws")
            .credential(Credential::api_key("k"))
            .build()
            .await
            .unwrap_err();
        assert!(e.message().contains("API key"), "{e}");
    }
}
