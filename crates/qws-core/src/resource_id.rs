//! ARM resource ids for the resources qws manages: the one place where ids are formatted
//! ([`ResourceGroupId::to_id`], [`WorkspaceId::to_id`], …) and parsed ([`WorkspaceId::parse`]).
//! Formatting uses ARM's canonical spelling; parsing matches the fixed segments
//! case-insensitively, as ARM does.

use crate::names::{Location, NameError, ResourceGroupName, SubscriptionId, WorkspaceName};

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

    /// The workspace `name` in this group.
    pub fn workspace(&self, name: WorkspaceName) -> WorkspaceId {
        WorkspaceId {
            subscription: self.subscription,
            resource_group: self.resource_group.clone(),
            workspace: name,
        }
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
