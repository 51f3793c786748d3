//! ARM JSON models of the Microsoft.Quantum management plane (camelCase on the wire).
//! Request models accept what clients send (unknown fields ignored, as ARM does); response
//! models serialize only the fields that are set.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Tags: string → string.
pub type Tags = BTreeMap<String, String>;

/// A `QuantumWorkspace` tracked resource, as returned by GET/PUT/PATCH and list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuantumWorkspace {
    /// ARM id.
    pub id: String,
    /// Workspace name.
    pub name: String,
    /// Always `microsoft.quantum/workspaces`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Normalized location.
    pub location: String,
    /// Tags.
    #[schema(value_type = BTreeMap<String, String>)]
    pub tags: Tags,
    /// Who created and last modified the resource, and when.
    pub system_data: SystemData,
    /// The managed identity, when requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// Workspace properties.
    pub properties: WorkspaceProperties,
}

/// The `type` value the real service reports.
pub const WORKSPACE_TYPE: &str = "microsoft.quantum/workspaces";

/// `properties` of a workspace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceProperties {
    /// Providers enabled in the workspace.
    #[serde(default)]
    pub providers: Vec<Provider>,
    /// `Yes` / `No` / `Partial`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usable: Option<String>,
    /// Provisioning state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// Linked storage account id (informational in qws: job data is stored by qws itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account: Option<String>,
    /// Data-plane base URL of this workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_uri: Option<String>,
    /// Whether access keys are accepted by the data plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_enabled: Option<bool>,
    /// `V1` or `V2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_kind: Option<String>,
}

/// A provider entry of a workspace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// Provider id, e.g. `microsoft-qc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// SKU, e.g. `learn-and-develop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_sku: Option<String>,
    /// Instance URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_uri: Option<String>,
    /// `{workspace}-{providerId}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// Provider provisioning state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
    /// Resource usage id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_usage_id: Option<String>,
}

/// `systemData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SystemData {
    /// Creator.
    pub created_by: String,
    /// `User` / `Application` / `ManagedIdentity` / `Key`.
    pub created_by_type: String,
    /// RFC 3339.
    pub created_at: String,
    /// Last modifier.
    pub last_modified_by: String,
    /// Type of the last modifier.
    pub last_modified_by_type: String,
    /// RFC 3339.
    pub last_modified_at: String,
}

/// A managed identity (`type` plus read-only ids).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `None`, `SystemAssigned`, ….
    #[serde(rename = "type")]
    pub identity_type: String,
    /// Principal id of the system identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    /// Tenant of the system identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// `ListKeysResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListKeysResult {
    /// Whether keys are enabled.
    pub api_key_enabled: bool,
    /// Primary key (absent while disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<ApiKeyModel>,
    /// Secondary key (absent while disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_key: Option<ApiKeyModel>,
    /// Primary connection string (`""` while disabled).
    pub primary_connection_string: String,
    /// Secondary connection string (`""` while disabled).
    pub secondary_connection_string: String,
    /// qws extension, ignored by Azure clients: the primary key's last recorded use (absent
    /// while keys are disabled or the key has not been used since it was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key_last_used: Option<KeyLastUsed>,
    /// qws extension: the secondary key's last recorded use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_key_last_used: Option<KeyLastUsed>,
}

/// When and from where an access key was last used (recorded at most once a minute per key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyLastUsed {
    /// Second-precision RFC 3339 with `Z`.
    pub time: String,
    /// The client's IP address.
    pub address: String,
}

/// `ApiKey` on the wire: `{"createdAt": "...Z", "key": "..."}`. Debug redacts the key.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyModel {
    /// Second-precision RFC 3339 with `Z`.
    pub created_at: String,
    /// The 86-character key.
    pub key: String,
}

impl std::fmt::Debug for ApiKeyModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyModel")
            .field("created_at", &self.created_at)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// `ApiKeys`: the regenerateKey request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeysRequest {
    /// `Primary` and/or `Secondary`.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// `CheckNameAvailabilityRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CheckNameAvailabilityRequest {
    /// The name to check.
    #[serde(default)]
    pub name: Option<String>,
    /// Resource type (default `Microsoft.Quantum/Workspaces`).
    #[serde(default, rename = "type")]
    pub resource_type: Option<String>,
}

/// `CheckNameAvailabilityResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckNameAvailabilityResponse {
    /// Whether the name can be used.
    pub name_available: bool,
    /// `Invalid` or `AlreadyExists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A pageable ARM list: `{"value": [...], "nextLink": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListResult<T> {
    /// This page.
    #[schema(inline)]
    pub value: Vec<T>,
    /// Absolute URL of the next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
}

/// `OperationStatusResult`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationStatus {
    /// Status URL path.
    pub id: String,
    /// Operation id.
    pub name: String,
    /// The resource the operation acts on.
    pub resource_id: String,
    /// `InProgress` / `Succeeded` / `Failed` / `Canceled`.
    pub status: String,
    /// Start time.
    pub start_time: String,
    /// End time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Progress.
    pub percent_complete: f64,
}

/// A resource group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroup {
    /// ARM id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `Microsoft.Resources/resourceGroups`.
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Location.
    pub location: String,
    /// Tags.
    #[schema(value_type = BTreeMap<String, String>)]
    pub tags: Tags,
    /// `{"provisioningState": "Succeeded"}`.
    pub properties: ResourceGroupProperties,
}

/// Properties of a resource group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceGroupProperties {
    /// Provisioning state.
    pub provisioning_state: String,
}

/// A subscription as `GET /subscriptions` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    /// `/subscriptions/{id}`.
    pub id: String,
    /// GUID.
    pub subscription_id: String,
    /// Tenant GUID.
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
    /// `Enabled`.
    pub state: String,
    /// Policies (fixed values).
    #[schema(value_type = Object)]
    pub subscription_policies: serde_json::Value,
    /// `Legacy`.
    pub authorization_source: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_list_keys_is_exact() {
        let r = ListKeysResult {
            api_key_enabled: false,
            primary_key: None,
            secondary_key: None,
            primary_connection_string: String::new(),
            secondary_connection_string: String::new(),
            primary_key_last_used: None,
            secondary_key_last_used: None,
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"apiKeyEnabled":false,"primaryConnectionString":"","secondaryConnectionString":""}"#
        );
    }

    #[test]
    fn api_key_debug_is_redacted() {
        let k = ApiKeyModel {
            created_at: "2024-01-01T00:00:00Z".into(),
            key: "SECRETVALUE".into(),
        };
        assert!(!format!("{k:?}").contains("SECRETVALUE"));
    }
}
