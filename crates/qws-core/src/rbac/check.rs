//! The authorization decision: deny unless some assignment that applies at the scope grants the
//! action through its role.

use super::action::ActionKind;
use super::assignment::RoleAssignment;
use super::builtin::builtin_role;
use super::role::RoleDefinition;
use super::scope::Scope;

/// The outcome of [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the action is permitted.
    pub allowed: bool,
    /// The assignment that granted it (the first found, nearest scope first), for audit.
    pub matched_assignment: Option<RoleAssignment>,
}

impl Decision {
    /// A refusal.
    pub fn deny() -> Decision {
        Decision {
            allowed: false,
            matched_assignment: None,
        }
    }
}

/// Decides whether a principal may perform `action` at `scope`.
///
/// * `assignments`: the assignments of the principal and of every group it belongs to. Those whose
///   scope is not `scope` or above it are ignored, so passing extra ones is safe.
/// * `custom_roles`: the tenant's custom role definitions; built-in roles are always known. An
///   assignment naming an unknown role grants nothing.
/// * `kind`: control-plane actions are matched against `actions`/`notActions` only, data actions
///   against `dataActions`/`notDataActions` only.
///
/// Deny by default. Nearer assignments are preferred when reporting which one matched.
pub fn check(
    assignments: &[RoleAssignment],
    custom_roles: &[RoleDefinition],
    action: &str,
    kind: ActionKind,
    scope: &Scope,
) -> Decision {
    let lookup = |id: &str| -> Option<&RoleDefinition> {
        builtin_role(id).or_else(|| custom_roles.iter().find(|r| r.id.eq_ignore_ascii_case(id)))
    };
    let mut applicable: Vec<&RoleAssignment> = assignments
        .iter()
        .filter(|a| a.scope.contains(scope))
        .collect();
    // Longest scope first = nearest to the target.
    applicable.sort_by_key(|a| std::cmp::Reverse(a.scope.key().len()));
    for a in applicable {
        if lookup(&a.role_definition_id).is_some_and(|r| r.allows(action, kind)) {
            return Decision {
                allowed: true,
                matched_assignment: Some(a.clone()),
            };
        }
    }
    Decision::deny()
}

/// The message of ARM's 403 `AuthorizationFailed`, in Azure's words. `client` is the caller's
/// application id or user principal name, `object_id` its object id.
pub fn authorization_failed_message(
    client: &str,
    object_id: &str,
    action: &str,
    scope: &str,
) -> String {
    format!(
        "The client '{client}' with object id '{object_id}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials."
    )
}

/// The ARM error code that goes with [`authorization_failed_message`].
pub const AUTHORIZATION_FAILED: &str = "AuthorizationFailed";

#[cfg(test)]
mod tests;
