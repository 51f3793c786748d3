//! Role definitions: what a role permits, and their ARM `Microsoft.Authorization/roleDefinitions`
//! JSON shape.

use super::action::{action_matches, validate_pattern, ActionKind};
use super::scope::{Scope, ScopeKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Most action patterns one custom role may list (over all four lists).
pub const MAX_CUSTOM_ROLE_ACTIONS: usize = 1000;
/// Most assignable scopes one custom role may list.
pub const MAX_ASSIGNABLE_SCOPES: usize = 100;
/// Longest role name.
pub const MAX_ROLE_NAME_LEN: usize = 512;
/// Longest role description.
pub const MAX_ROLE_DESCRIPTION_LEN: usize = 2048;

/// One permission block. Within a block, `notActions` subtract from `actions` (and
/// `notDataActions` from `dataActions`); they are not deny rules, so another block or another
/// assignment may still grant what one block leaves out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    /// Control-plane operations granted.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Control-plane operations removed from `actions`.
    #[serde(default)]
    pub not_actions: Vec<String>,
    /// Data operations granted.
    #[serde(default)]
    pub data_actions: Vec<String>,
    /// Data operations removed from `dataActions`.
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

impl Permission {
    /// Whether this block grants `action` of the given kind.
    pub fn allows(&self, action: &str, kind: ActionKind) -> bool {
        let (grant, remove) = match kind {
            ActionKind::Control => (&self.actions, &self.not_actions),
            ActionKind::Data => (&self.data_actions, &self.not_data_actions),
        };
        grant.iter().any(|p| action_matches(p, action))
            && !remove.iter().any(|p| action_matches(p, action))
    }

    fn pattern_count(&self) -> usize {
        self.actions.len()
            + self.not_actions.len()
            + self.data_actions.len()
            + self.not_data_actions.len()
    }
}

/// `BuiltInRole` or `CustomRole` (the `properties.type` value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleType {
    /// Defined by Azure, the same id in every tenant.
    BuiltIn,
    /// Defined by a tenant.
    Custom,
}

impl RoleType {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleType::BuiltIn => "BuiltInRole",
            RoleType::Custom => "CustomRole",
        }
    }
}

/// A role definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// The GUID (the resource `name`), lower case.
    pub id: String,
    /// Display name, unique per tenant (compared case-insensitively).
    pub role_name: String,
    /// Description.
    pub description: String,
    /// Built-in or custom.
    pub role_type: RoleType,
    /// Permission blocks.
    pub permissions: Vec<Permission>,
    /// Scopes at which the role may be assigned (normalised).
    pub assignable_scopes: Vec<String>,
    /// Unix seconds, for custom roles.
    pub created_on: Option<i64>,
    /// Unix seconds, for custom roles.
    pub updated_on: Option<i64>,
    /// Object id of the creator, for custom roles.
    pub created_by: Option<String>,
    /// Object id of the last updater, for custom roles.
    pub updated_by: Option<String>,
}

/// The `id` ARM gives a role definition: under the subscription when one is in context, else the
/// tenant-level form.
pub fn role_definition_resource_id(subscription: Option<&str>, guid: &str) -> String {
    match subscription {
        Some(s) => {
            format!("/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
        }
        None => format!("/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
    }
}

/// Extracts the GUID from a role definition id in any of ARM's forms
/// (`/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{guid}`, the tenant-level
/// `/providers/…/{guid}`, or a bare GUID). Returns it lower-cased.
pub fn parse_role_definition_id(id: &str) -> Option<String> {
    let guid = match id.rfind('/') {
        None => id,
        Some(i) => {
            let prefix = &id[..i];
            let lower = prefix.to_ascii_lowercase();
            if !lower.ends_with("/providers/microsoft.authorization/roledefinitions") {
                return None;
            }
            let head = &prefix
                [..prefix.len() - "/providers/Microsoft.Authorization/roleDefinitions".len()];
            if !head.is_empty() {
                // Must itself be a scope (subscription, group, resource) for the id to be valid.
                Scope::parse(head).ok()?;
            }
            &id[i + 1..]
        }
    };
    uuid::Uuid::parse_str(guid)
        .ok()
        .filter(|_| guid.len() == 36)
        .map(|u| u.to_string())
}

impl RoleDefinition {
    /// Whether any permission block grants `action` of the given kind.
    pub fn allows(&self, action: &str, kind: ActionKind) -> bool {
        self.permissions.iter().any(|p| p.allows(action, kind))
    }

    /// Whether the role may be assigned at `scope`: one of its assignable scopes contains it.
    pub fn is_assignable_at(&self, scope: &Scope) -> bool {
        self.assignable_scopes
            .iter()
            .filter_map(|s| Scope::parse(s).ok())
            .any(|a| a.contains(scope))
    }

    /// The ARM JSON. `subscription` chooses the `id` form (see [`role_definition_resource_id`]).
    pub fn to_arm_json(&self, subscription: Option<&str>) -> Value {
        let time = |t: Option<i64>| {
            t.map(|t| Value::String(crate::time_fmt::arm_precise(crate::time_fmt::from_unix(t))))
                .unwrap_or(Value::Null)
        };
        json!({
            "id": role_definition_resource_id(subscription, &self.id),
            "name": self.id,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {
                "roleName": self.role_name,
                "type": self.role_type.as_str(),
                "description": self.description,
                "assignableScopes": self.assignable_scopes,
                "permissions": self.permissions,
                "createdOn": time(self.created_on),
                "updatedOn": time(self.updated_on),
                "createdBy": self.created_by,
                "updatedBy": self.updated_by,
            }
        })
    }

    /// Builds a custom role from the `properties` of a roleDefinitions PUT body, validating it as
    /// Azure does: a role name, at least one action or data action, well-formed patterns, one
    /// permission block, and at least one assignable scope below the tenant root.
    pub fn custom_from_properties(
        guid: &str,
        properties: &Value,
    ) -> Result<RoleDefinition, String> {
        let id = uuid::Uuid::parse_str(guid)
            .ok()
            .filter(|_| guid.len() == 36)
            .ok_or_else(|| format!("The role definition id '{guid}' is not a GUID."))?
            .to_string();
        let obj = properties
            .as_object()
            .ok_or("The request body must have a 'properties' object.")?;
        if let Some(t) = obj.get("type").and_then(Value::as_str) {
            if !t.eq_ignore_ascii_case("CustomRole") {
                return Err(
                    "Only custom roles (type 'CustomRole') can be created or changed.".into(),
                );
            }
        }
        let role_name = obj
            .get("roleName")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or("The role name ('properties.roleName') is required.")?
            .to_string();
        if role_name.chars().count() > MAX_ROLE_NAME_LEN {
            return Err(format!(
                "The role name is longer than {MAX_ROLE_NAME_LEN} characters."
            ));
        }
        let description = obj
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if description.chars().count() > MAX_ROLE_DESCRIPTION_LEN {
            return Err(format!(
                "The description is longer than {MAX_ROLE_DESCRIPTION_LEN} characters."
            ));
        }
        let permissions: Vec<Permission> = serde_json::from_value(
            obj.get("permissions")
                .cloned()
                .unwrap_or(Value::Array(vec![])),
        )
        .map_err(|e| format!("'properties.permissions' is malformed: {e}"))?;
        if permissions.len() != 1 {
            return Err("A custom role has exactly one permission block.".into());
        }
        let p = &permissions[0];
        if p.actions.is_empty() && p.data_actions.is_empty() {
            return Err("A custom role must grant at least one action or data action.".into());
        }
        if p.pattern_count() > MAX_CUSTOM_ROLE_ACTIONS {
            return Err(format!(
                "A custom role may list at most {MAX_CUSTOM_ROLE_ACTIONS} actions."
            ));
        }
        for a in p
            .actions
            .iter()
            .chain(&p.not_actions)
            .chain(&p.data_actions)
            .chain(&p.not_data_actions)
        {
            validate_pattern(a)?;
        }
        let scopes: Vec<String> = serde_json::from_value(
            obj.get("assignableScopes")
                .cloned()
                .unwrap_or(Value::Array(vec![])),
        )
        .map_err(|e| format!("'properties.assignableScopes' is malformed: {e}"))?;
        if scopes.is_empty() {
            return Err("A custom role needs at least one assignable scope.".into());
        }
        if scopes.len() > MAX_ASSIGNABLE_SCOPES {
            return Err(format!(
                "A custom role may list at most {MAX_ASSIGNABLE_SCOPES} assignable scopes."
            ));
        }
        let mut assignable_scopes = Vec::with_capacity(scopes.len());
        for s in &scopes {
            let scope = Scope::parse(s).map_err(|e| e.0)?;
            if scope.kind() == ScopeKind::Root {
                return Err(
                    "The root scope '/' cannot be an assignable scope of a custom role.".into(),
                );
            }
            assignable_scopes.push(scope.as_str().to_string());
        }
        Ok(RoleDefinition {
            id,
            role_name,
            description,
            role_type: RoleType::Custom,
            permissions,
            assignable_scopes,
            created_on: None,
            updated_on: None,
            created_by: None,
            updated_by: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-0000000000aa";

    fn perm(actions: &[&str], not_actions: &[&str]) -> Permission {
        Permission {
            actions: actions.iter().map(|s| s.to_string()).collect(),
            not_actions: not_actions.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn not_actions_subtract_within_a_block_only() {
        let p = perm(&["*"], &["Microsoft.Authorization/*"]);
        assert!(p.allows("Microsoft.Quantum/Workspaces/write", ActionKind::Control));
        assert!(!p.allows(
            "Microsoft.Authorization/roleAssignments/write",
            ActionKind::Control
        ));
        assert!(!p.allows(
            "Microsoft.Authorization/roleAssignments/delete",
            ActionKind::Control
        ));
        let role = RoleDefinition {
            id: "x".into(),
            role_name: "r".into(),
            description: String::new(),
            role_type: RoleType::Custom,
            permissions: vec![
                p,
                perm(&["Microsoft.Authorization/roleAssignments/write"], &[]),
            ],
            assignable_scopes: vec![],
            created_on: None,
            updated_on: None,
            created_by: None,
            updated_by: None,
        };
        // The second block grants what the first removed.
        assert!(role.allows(
            "Microsoft.Authorization/roleAssignments/write",
            ActionKind::Control
        ));
        assert!(!role.allows(
            "Microsoft.Authorization/roleAssignments/delete",
            ActionKind::Control
        ));
    }

    #[test]
    fn control_and_data_actions_are_separate() {
        let p = perm(&["*"], &[]);
        assert!(!p.allows("Microsoft.Quantum/Workspaces/jobs/read", ActionKind::Data));
        let d = Permission {
            data_actions: vec!["Microsoft.Quantum/Workspaces/jobs/*".into()],
            not_data_actions: vec!["Microsoft.Quantum/Workspaces/jobs/write".into()],
            ..Default::default()
        };
        assert!(d.allows("Microsoft.Quantum/Workspaces/jobs/read", ActionKind::Data));
        assert!(!d.allows("Microsoft.Quantum/Workspaces/jobs/write", ActionKind::Data));
        assert!(!d.allows(
            "Microsoft.Quantum/Workspaces/jobs/read",
            ActionKind::Control
        ));
    }

    #[test]
    fn role_definition_ids_in_every_form() {
        let g = "C1410B24-3E69-4857-8F86-4D0A2E603250";
        let want = Some(g.to_lowercase());
        assert_eq!(parse_role_definition_id(g), want);
        assert_eq!(
            parse_role_definition_id(&format!(
                "/providers/Microsoft.Authorization/roleDefinitions/{g}"
            )),
            want
        );
        assert_eq!(
            parse_role_definition_id(&format!(
                "/subscriptions/{SUB}/providers/microsoft.authorization/roledefinitions/{g}"
            )),
            want
        );
        assert_eq!(
            parse_role_definition_id("/providers/Microsoft.Authorization/roleDefinitions/nope"),
            None
        );
        assert_eq!(
            parse_role_definition_id(&format!("/x/Microsoft.Authorization/roleDefinitions/{g}")),
            None
        );
        assert_eq!(
            role_definition_resource_id(Some(SUB), "abc"),
            format!("/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/abc")
        );
    }

    #[test]
    fn custom_roles_are_validated() {
        let guid = "11111111-2222-3333-4444-555555555555";
        let ok = json!({
            "roleName": "Job submitter",
            "description": "submit only",
            "type": "CustomRole",
            "permissions": [{"actions": ["Microsoft.Quantum/Workspaces/read"], "dataActions": ["Microsoft.Quantum/Workspaces/jobs/write"]}],
            "assignableScopes": [format!("/subscriptions/{SUB}/resourcegroups/rg")]
        });
        let r = RoleDefinition::custom_from_properties(guid, &ok).unwrap();
        assert_eq!(r.role_type, RoleType::Custom);
        assert_eq!(
            r.assignable_scopes,
            vec![format!("/subscriptions/{SUB}/resourceGroups/rg")]
        );
        assert!(r.is_assignable_at(
            &Scope::parse(&format!(
                "/subscriptions/{SUB}/resourceGroups/RG/providers/Microsoft.Quantum/workspaces/w"
            ))
            .unwrap()
        ));
        assert!(!r.is_assignable_at(&Scope::parse(&format!("/subscriptions/{SUB}")).unwrap()));
        let j = r.to_arm_json(Some(SUB));
        assert_eq!(j["properties"]["type"], "CustomRole");
        assert_eq!(
            j["properties"]["permissions"][0]["notDataActions"],
            json!([])
        );

        let mut cases = vec![];
        let mut m = ok.clone();
        m["roleName"] = json!("  ");
        cases.push(m);
        let mut m = ok.clone();
        m["assignableScopes"] = json!(["/"]);
        cases.push(m);
        let mut m = ok.clone();
        m["assignableScopes"] = json!([]);
        cases.push(m);
        let mut m = ok.clone();
        m["permissions"] = json!([{"actions": [], "dataActions": []}]);
        cases.push(m);
        let mut m = ok.clone();
        m["permissions"] = json!([{"actions": ["a b"]}]);
        cases.push(m);
        let mut m = ok.clone();
        m["permissions"] = json!([{"actions": ["*"]}, {"actions": ["*"]}]);
        cases.push(m);
        let mut m = ok.clone();
        m["type"] = json!("BuiltInRole");
        cases.push(m);
        for c in cases {
            assert!(
                RoleDefinition::custom_from_properties(guid, &c).is_err(),
                "{c}"
            );
        }
        assert!(RoleDefinition::custom_from_properties("not-a-guid", &ok).is_err());
    }
}
