//! Role assignments: a role granted to a principal at a scope, and their ARM
//! `Microsoft.Authorization/roleAssignments` JSON shape.

use super::role::role_definition_resource_id;
use super::scope::Scope;
use serde_json::{json, Value};

/// The kind of principal an assignment names (`properties.principalType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    /// A user.
    User,
    /// A group; its members receive the role.
    Group,
    /// A service principal, including managed identities.
    ServicePrincipal,
    /// A group from another directory (accepted for compatibility; qws has none).
    ForeignGroup,
    /// A device (accepted for compatibility; qws has none).
    Device,
}

impl PrincipalType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "User",
            PrincipalType::Group => "Group",
            PrincipalType::ServicePrincipal => "ServicePrincipal",
            PrincipalType::ForeignGroup => "ForeignGroup",
            PrincipalType::Device => "Device",
        }
    }

    /// Parses the wire value, case-insensitively.
    pub fn parse(s: &str) -> Option<PrincipalType> {
        [
            PrincipalType::User,
            PrincipalType::Group,
            PrincipalType::ServicePrincipal,
            PrincipalType::ForeignGroup,
            PrincipalType::Device,
        ]
        .into_iter()
        .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// A role assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleAssignment {
    /// The GUID name, lower case.
    pub name: String,
    /// Where it applies (and everything below).
    pub scope: Scope,
    /// GUID of the role definition, lower case.
    pub role_definition_id: String,
    /// Object id of the principal, lower case.
    pub principal_id: String,
    /// Kind of the principal.
    pub principal_type: PrincipalType,
    /// Free text.
    pub description: Option<String>,
    /// Unix seconds.
    pub created_on: i64,
    /// Unix seconds.
    pub updated_on: i64,
    /// Object id of whoever created it.
    pub created_by: Option<String>,
    /// Object id of whoever last changed it.
    pub updated_by: Option<String>,
}

impl RoleAssignment {
    /// The resource id: `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`.
    pub fn resource_id(&self) -> String {
        let scope = self.scope.as_str().trim_end_matches('/');
        format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments/{}",
            self.name
        )
    }

    /// The ARM JSON. `roleDefinitionId` takes the subscription form when the assignment is inside
    /// a subscription, as ARM returns it.
    pub fn to_arm_json(&self) -> Value {
        let time = |t: i64| crate::time_fmt::arm_precise(crate::time_fmt::from_unix(t));
        json!({
            "id": self.resource_id(),
            "name": self.name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "roleDefinitionId": role_definition_resource_id(self.scope.subscription_id(), &self.role_definition_id),
                "principalId": self.principal_id,
                "principalType": self.principal_type.as_str(),
                "scope": self.scope.as_str(),
                "condition": null,
                "conditionVersion": null,
                "description": self.description,
                "createdOn": time(self.created_on),
                "updatedOn": time(self.updated_on),
                "createdBy": self.created_by,
                "updatedBy": self.updated_by,
                "delegatedManagedIdentityResourceId": null,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_shape() {
        let sub = "00000000-0000-0000-0000-0000000000aa";
        let a = RoleAssignment {
            name: "11111111-1111-1111-1111-111111111111".into(),
            scope: Scope::parse(&format!("/subscriptions/{sub}/resourceGroups/rg")).unwrap(),
            role_definition_id: super::super::builtin::READER.into(),
            principal_id: "22222222-2222-2222-2222-222222222222".into(),
            principal_type: PrincipalType::User,
            description: None,
            created_on: 1_709_574_304,
            updated_on: 1_709_574_304,
            created_by: Some("me".into()),
            updated_by: Some("me".into()),
        };
        let j = a.to_arm_json();
        assert_eq!(
            j["id"],
            format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/11111111-1111-1111-1111-111111111111")
        );
        assert_eq!(j["type"], "Microsoft.Authorization/roleAssignments");
        assert_eq!(
            j["properties"]["roleDefinitionId"],
            format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7")
        );
        assert_eq!(j["properties"]["principalType"], "User");
        assert_eq!(j["properties"]["createdOn"], "2024-03-04T17:45:04.0000000Z");
        let root = RoleAssignment {
            scope: Scope::root(),
            ..a
        };
        assert_eq!(
            root.to_arm_json()["id"],
            "/providers/Microsoft.Authorization/roleAssignments/11111111-1111-1111-1111-111111111111"
        );
        assert_eq!(
            PrincipalType::parse("serviceprincipal"),
            Some(PrincipalType::ServicePrincipal)
        );
        assert_eq!(PrincipalType::parse("robot"), None);
    }
}
