//! ARM resource ids for the resources qws manages. Formatting uses ARM's canonical spelling;
//! parsing matches the fixed segments case-insensitively, as ARM does.

use crate::names::{NameError, ResourceGroupName, SubscriptionId, WorkspaceName};

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

/// A parsed workspace resource id.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        Ok(WorkspaceId {
            subscription: SubscriptionId::parse(seg[1])?,
            resource_group: ResourceGroupName::parse(seg[3])?,
            workspace: WorkspaceName::parse(seg[7])?,
        })
    }

    /// The canonical id text.
    pub fn to_id(&self) -> String {
        workspace_id(&self.subscription, &self.resource_group, &self.workspace)
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
        assert!(WorkspaceId::parse("/subscriptions/x").is_err());
        assert!(matches!(
            WorkspaceId::parse(
                "/subscriptions/nope/resourceGroups/rg/providers/Microsoft.Quantum/workspaces/ws"
            ),
            Err(ResourceIdError::Name(_))
        ));
    }
}
