//! ARM resource ids for the resources qws manages: the one place where ids are formatted
//! ([`ResourceGroupId::to_id`], [`WorkspaceId::to_id`], …) and parsed ([`WorkspaceId::parse`]).
//! Formatting uses ARM's canonical spelling; parsing matches the fixed segments
//! case-insensitively, as ARM does.

use crate::names::{
    DeploymentName, Location, NameError, ResourceGroupName, StorageAccountName, SubscriptionId,
    WorkspaceName,
};

/// `/subscriptions/{s}`.
pub fn subscription_id(s: &SubscriptionId) -> String {
    format!("/subscriptions/{s}")
}

/// `/subscriptions/{s}/resourceGroups/{rg}`.
pub fn resource_group_id(s: &SubscriptionId, rg: &ResourceGroupName) -> String {
    format!("/subscriptions/{s}/resourceGroups/{rg}")
}

/// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}`.
pub fn workspace_id(s: &SubscriptionId, rg: &ResourceGroupName, ws: &WorkspaceName) -> String {
    format!("/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}")
}

/// `/subscriptions/{s}/providers/Microsoft.Quantum/locations/{loc}`: the scope of the
/// location-wide Microsoft.Quantum actions (offerings, name checks, operation statuses).
pub fn location_id(s: &SubscriptionId, loc: &Location) -> String {
    format!("/subscriptions/{s}/providers/Microsoft.Quantum/locations/{loc}")
}

/// `…/locations/{loc}/operationStatuses/{operation}`: an asynchronous operation's status
/// resource (`location` as stored with the operation).
pub fn operation_status_id(s: &SubscriptionId, location: &str, operation: &str) -> String {
    format!("/subscriptions/{s}/providers/Microsoft.Quantum/locations/{location}/operationStatuses/{operation}")
}

/// `…/locations/{loc}/operationResults/{operation}`: the `Location` of an asynchronous
/// operation (202 while it runs, then its result).
pub fn operation_result_id(s: &SubscriptionId, location: &str, operation: &str) -> String {
    format!("/subscriptions/{s}/providers/Microsoft.Quantum/locations/{location}/operationResults/{operation}")
}

/// A resource group, addressed by subscription and (validated) name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceGroupId {
    /// Subscription.
    pub subscription: SubscriptionId,
    /// Resource group.
    pub resource_group: ResourceGroupName,
}

impl ResourceGroupId {
    /// Validates both parts.
    pub fn parse(subscription: &str, resource_group: &str) -> Result<Self, NameError> {
        Ok(ResourceGroupId {
            subscription: SubscriptionId::parse(subscription)?,
            resource_group: ResourceGroupName::parse(resource_group)?,
        })
    }

    /// The canonical id text.
    pub fn to_id(&self) -> String {
        resource_group_id(&self.subscription, &self.resource_group)
    }

    /// The storage account `name` in this group.
    pub fn storage_account(&self, name: StorageAccountName) -> StorageAccountId {
        StorageAccountId {
            group: self.clone(),
            account: name,
        }
    }

    /// The template deployment `name` in this group.
    pub fn deployment(&self, name: DeploymentName) -> DeploymentId {
        DeploymentId {
            group: self.clone(),
            deployment: name,
        }
    }

    /// The workspace `name` in this group.
    pub fn workspace(&self, name: WorkspaceName) -> WorkspaceId {
        WorkspaceId {
            subscription: self.subscription,
            resource_group: self.resource_group.clone(),
            workspace: name,
        }
    }
}

/// The type of storage accounts.
pub const STORAGE_ACCOUNT_TYPE: &str = "Microsoft.Storage/storageAccounts";
/// The type of template deployments.
pub const DEPLOYMENT_TYPE: &str = "Microsoft.Resources/deployments";

/// A parsed storage account resource id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageAccountId {
    /// The resource group holding the account.
    pub group: ResourceGroupId,
    /// The account.
    pub account: StorageAccountName,
}

impl StorageAccountId {
    /// Parses `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}`
    /// (fixed segments case-insensitive, trailing `/` tolerated). `None` for anything else.
    pub fn parse(id: &str) -> Option<StorageAccountId> {
        let trimmed = id.strip_prefix('/')?;
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let seg: Vec<&str> = trimmed.split('/').collect();
        let fixed = [
            (0, "subscriptions"),
            (2, "resourceGroups"),
            (4, "providers"),
            (5, "Microsoft.Storage"),
            (6, "storageAccounts"),
        ];
        if seg.len() != 8 || !fixed.iter().all(|(i, w)| seg[*i].eq_ignore_ascii_case(w)) {
            return None;
        }
        let group = ResourceGroupId::parse(seg[1], seg[3]).ok()?;
        Some(group.storage_account(StorageAccountName::parse(seg[7]).ok()?))
    }

    /// The canonical id text.
    pub fn to_id(&self) -> String {
        format!(
            "{}/providers/{STORAGE_ACCOUNT_TYPE}/{}",
            self.group.to_id(),
            self.account
        )
    }
}

/// A template deployment at resource-group scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeploymentId {
    /// The resource group deployed to.
    pub group: ResourceGroupId,
    /// The deployment.
    pub deployment: DeploymentName,
}

impl DeploymentId {
    /// The canonical id text.
    pub fn to_id(&self) -> String {
        format!(
            "{}/providers/{DEPLOYMENT_TYPE}/{}",
            self.group.to_id(),
            self.deployment
        )
    }

    /// The status resource of one of the deployment's asynchronous operations.
    pub fn operation_status_id(&self, operation: &str) -> String {
        format!("{}/operationStatuses/{operation}", self.to_id())
    }

    /// One entry of the deployment's operation list.
    pub fn operation_id(&self, operation: &str) -> String {
        format!("{}/operations/{operation}", self.to_id())
    }
}

/// A parsed workspace resource id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkspaceId {
    /// Subscription.
    pub subscription: SubscriptionId,
    /// Resource group.
    pub resource_group: ResourceGroupName,
    /// Workspace.
    pub workspace: WorkspaceName,
}

/// Why an id did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceIdError {
    /// The fixed segments are wrong.
    #[error("'{0}' is not a workspace resource id of the form /subscriptions/{{s}}/resourceGroups/{{rg}}/providers/Microsoft.Quantum/workspaces/{{name}}")]
    Shape(String),
    /// A name inside failed validation.
    #[error(transparent)]
    Name(#[from] NameError),
}

impl WorkspaceId {
    /// Parses a workspace id (fixed segments case-insensitive, trailing `/` tolerated).
    pub fn parse(id: &str) -> Result<WorkspaceId, ResourceIdError> {
        let shape = || ResourceIdError::Shape(id.chars().take(300).collect());
        let trimmed = id.strip_prefix('/').ok_or_else(shape)?;
        let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
        let seg: Vec<&str> = trimmed.split('/').collect();
        let fixed = [
            (0, "subscriptions"),
            (2, "resourceGroups"),
            (4, "providers"),
            (5, "Microsoft.Quantum"),
            (6, "workspaces"),
        ];
        if seg.len() != 8 || !fixed.iter().all(|(i, w)| seg[*i].eq_ignore_ascii_case(w)) {
            return Err(shape());
        }
        Ok(WorkspaceId::from_parts(seg[1], seg[3], seg[7])?)
    }

    /// Validates the three names of a `{sub}/{rg}/{ws}` path.
    pub fn from_parts(
        subscription: &str,
        resource_group: &str,
        workspace: &str,
    ) -> Result<Self, NameError> {
        Ok(ResourceGroupId::parse(subscription, resource_group)?
            .workspace(WorkspaceName::parse(workspace)?))
    }

    /// The canonical id text.
    pub fn to_id(&self) -> String {
        workspace_id(&self.subscription, &self.resource_group, &self.workspace)
    }

    /// The resource group holding the workspace.
    pub fn group(&self) -> ResourceGroupId {
        ResourceGroupId {
            subscription: self.subscription,
            resource_group: self.resource_group.clone(),
        }
    }

    /// A case-insensitive key naming the workspace (`sub/rg/ws`, lower case): equal for every
    /// spelling ARM treats as the same workspace.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}",
            self.subscription,
            self.resource_group.key(),
            self.workspace.key()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_account_ids() {
        let id = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/resourcegroups/RG/providers/microsoft.storage/STORAGEACCOUNTS/qws01/";
        let a = StorageAccountId::parse(id).unwrap();
        assert_eq!(
            a.to_id(),
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/RG/providers/Microsoft.Storage/storageAccounts/qws01"
        );
        assert_eq!(StorageAccountId::parse(&a.to_id()), Some(a));
        for bad in [
            "/subscriptions/x/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa1",
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/UPPER",
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Quantum/workspaces/ws",
            "sa1",
        ] {
            assert_eq!(StorageAccountId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trip_and_case_insensitive() {
        let id = "/SUBSCRIPTIONS/00000000-0000-0000-0000-000000000001/resourcegroups/RG/PROVIDERS/microsoft.quantum/Workspaces/ws1/";
        let w = WorkspaceId::parse(id).unwrap();
        assert_eq!(
            w.to_id(),
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/RG/providers/Microsoft.Quantum/workspaces/ws1"
        );
        assert_eq!(WorkspaceId::parse(&w.to_id()), Ok(w.clone()));
        assert_eq!(
            w.key(),
            "00000000-0000-0000-0000-000000000001/rg/ws1",
            "one key for every spelling"
        );
        assert_eq!(
            w.group().to_id(),
            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/RG"
        );
        assert!(WorkspaceId::parse("/subscriptions/x").is_err());
        assert!(matches!(
            WorkspaceId::parse(
                "/subscriptions/nope/resourceGroups/rg/providers/Microsoft.Quantum/workspaces/ws"
            ),
            Err(ResourceIdError::Name(_))
        ));
    }
}
