//! ARM resource models (the JSON shapes of subscriptions, resource groups and
//! `Microsoft.Quantum/workspaces`).
//!
//! Every model keeps unknown fields in `additional_properties`, so a value read with GET can be
//! sent back with PUT without losing fields this crate does not know about.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Unknown JSON fields, kept for round-tripping.
pub type AdditionalProperties = serde_json::Map<String, serde_json::Value>;

/// A subscription (`GET /subscriptions`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// `/subscriptions/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The subscription GUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `Enabled`, `Disabled`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The tenant the subscription belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub additional_properties: AdditionalProperties,
}

/// A resource group.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    /// `/subscriptions/{s}/resourceGroups/{name}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The group name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The region (required on create).
    pub location: String,
    /// Resource tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// `{"provisioningState": "Succeeded"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<ResourceGroupProperties>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub additional_properties: AdditionalProperties,
}

/// Properties of a [`ResourceGroup`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupProperties {
    /// Provisioning state (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub additional_properties: AdditionalProperties,
}

/// A `Microsoft.Quantum/workspaces` resource (`QuantumWorkspace`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    /// The ARM resource id (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The workspace name (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `microsoft.quantum/workspaces` (read-only).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// The region (required on create).
    pub location: String,
    /// Resource tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Managed identity, e.g. `{"type":"SystemAssigned"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<serde_json::Value>,
    /// Workspace properties.
    #[serde(default)]
    pub properties: WorkspaceProperties,
    /// Fields not modelled here (`systemData`, …).
    #[serde(flatten)]
    pub additional_properties: AdditionalProperties,
}

/// `WorkspaceResourceProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceProperties {
    /// Providers enabled in the workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub providers: Option<Vec<Provider>>,
    /// `Yes` / `No` / `Partial` (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usable: Option<String>,
    /// `Succeeded`, `Accepted`, `Deleting`, … (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// ARM id of the storage account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_account: Option<String>,
    /// The data-plane base URL (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_uri: Option<String>,
    /// Whether access keys (and connection strings) are accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_enabled: Option<bool>,
    /// `V1` or `V2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workspace_kind: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub additional_properties: AdditionalProperties,
}

/// A provider entry of a workspace.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// e.g. `ionq`, `microsoft-qc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// e.g. `pay-as-you-go-cred`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_sku: Option<String>,
    /// Provider provisioning state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub additional_properties: AdditionalProperties,
}

/// Which access key of a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyType {
    /// The primary key.
    Primary,
    /// The secondary key.
    Secondary,
}

impl KeyType {
    /// The wire name (`Primary` / `Secondary`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Primary => "Primary",
            KeyType::Secondary => "Secondary",
        }
    }
}

impl std::str::FromStr for KeyType {
    type Err = String;
    /// Case-sensitive like `az quantum` (`Primary`, `Secondary`).
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "Primary" => Ok(KeyType::Primary),
            "Secondary" => Ok(KeyType::Secondary),
            other => Err(format!(
                "invalid key type '{other}': expected Primary or Secondary"
            )),
        }
    }
}

/// One access key (`ApiKey`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// When the key was created (RFC 3339).
    pub created_at: Option<String>,
    /// The key.
    pub key: Option<Secret>,
}

/// Result of `listKeys` (`ListKeysResult`). Keys and connection strings are absent or empty when
/// access keys are disabled.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListKeysResult {
    /// Whether access keys are enabled.
    pub api_key_enabled: Option<bool>,
    /// The primary key.
    pub primary_key: Option<ApiKey>,
    /// The secondary key.
    pub secondary_key: Option<ApiKey>,
    /// Connection string built with the primary key.
    pub primary_connection_string: Option<Secret>,
    /// Connection string built with the secondary key.
    pub secondary_connection_string: Option<Secret>,
}

/// Result of `checkNameAvailability`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckNameAvailabilityResult {
    /// Whether the name can be used.
    pub name_available: Option<bool>,
    /// `Invalid` or `AlreadyExists`.
    pub reason: Option<String>,
    /// Explanation.
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_round_trips_unknown_fields() {
        let json = r#"{"id":"/x","name":"w","type":"microsoft.quantum/workspaces","location":"eastus",
            "systemData":{"createdBy":"u"},
            "properties":{"apiKeyEnabled":true,"endpointUri":"https://e/","managedStorageAccount":"/m"}}"#;
        let mut ws: Workspace = serde_json::from_str(json).unwrap();
        assert_eq!(ws.properties.api_key_enabled, Some(true));
        ws.properties.api_key_enabled = Some(false);
        let back = serde_json::to_value(&ws).unwrap();
        assert_eq!(back["systemData"]["createdBy"], "u");
        assert_eq!(back["properties"]["managedStorageAccount"], "/m");
        assert_eq!(back["properties"]["apiKeyEnabled"], false);
        assert!(back["properties"].get("usable").is_none());
    }

    #[test]
    fn key_types_are_case_sensitive_like_az() {
        assert_eq!("Primary".parse::<KeyType>(), Ok(KeyType::Primary));
        assert!("primary".parse::<KeyType>().is_err());
        assert_eq!(
            serde_json::to_string(&KeyType::Secondary).unwrap(),
            "\"Secondary\""
        );
    }

    #[test]
    fn list_keys_debug_is_redacted() {
        let r: ListKeysResult = serde_json::from_str(
            r#"{"apiKeyEnabled":true,"primaryKey":{"createdAt":"t","key":"SECRETKEY1"},
                "primaryConnectionString":"...;ApiKey=SECRETKEY1;..."}"#,
        )
        .unwrap();
        assert!(!format!("{r:?}").contains("SECRETKEY1"));
        assert_eq!(r.primary_key.unwrap().key.unwrap().expose(), "SECRETKEY1");
    }
}
