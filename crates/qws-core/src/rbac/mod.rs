//! Azure role-based access control: the domain model and the decision.
//!
//! * [`action`]: matching operation names against role patterns (`*`, case-insensitive).
//! * [`scope`]: ARM scopes, their normal form and ancestry.
//! * [`role`]: role definitions and permission blocks, custom-role validation, ARM JSON.
//! * [`builtin`]: Azure's built-in roles with their real ids.
//! * [`assignment`]: role assignments and their ARM JSON.
//! * [`check()`]: the decision, deny by default, and Azure's `AuthorizationFailed` message.
//!
//! Everything here is pure: the store supplies assignments and custom roles, the server supplies
//! the action and scope of each request.

pub mod action;
pub mod assignment;
pub mod builtin;
mod check;
pub mod role;
pub mod scope;

pub use action::{action_matches, ActionKind};
pub use assignment::{PrincipalType, RoleAssignment};
pub use builtin::{builtin_role, builtin_role_by_name, builtin_roles};
pub use check::{authorization_failed_message, check, Decision, AUTHORIZATION_FAILED};
pub use role::{parse_role_definition_id, Permission, RoleDefinition, RoleType};
pub use scope::{Scope, ScopeError, ScopeKind};

/// Well-known operation names qws checks.
pub mod actions {
    /// Read a workspace.
    pub const WORKSPACE_READ: &str = "Microsoft.Quantum/Workspaces/read";
    /// Create or update a workspace.
    pub const WORKSPACE_WRITE: &str = "Microsoft.Quantum/Workspaces/write";
    /// Delete a workspace.
    pub const WORKSPACE_DELETE: &str = "Microsoft.Quantum/Workspaces/delete";
    /// List a workspace's access keys.
    pub const WORKSPACE_LIST_KEYS: &str = "Microsoft.Quantum/Workspaces/listKeys/action";
    /// Regenerate a workspace's access keys.
    pub const WORKSPACE_REGENERATE_KEY: &str = "Microsoft.Quantum/Workspaces/regenerateKey/action";
    /// Read offerings in a location.
    pub const OFFERINGS_READ: &str = "Microsoft.Quantum/locations/offerings/read";
    /// Data action: read jobs, sessions, results.
    pub const JOBS_READ: &str = "Microsoft.Quantum/Workspaces/jobs/read";
    /// Data action: submit and change jobs and sessions.
    pub const JOBS_WRITE: &str = "Microsoft.Quantum/Workspaces/jobs/write";
    /// Read role assignments.
    pub const ROLE_ASSIGNMENTS_READ: &str = "Microsoft.Authorization/roleAssignments/read";
    /// Create role assignments.
    pub const ROLE_ASSIGNMENTS_WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
    /// Delete role assignments.
    pub const ROLE_ASSIGNMENTS_DELETE: &str = "Microsoft.Authorization/roleAssignments/delete";
    /// Read role definitions.
    pub const ROLE_DEFINITIONS_READ: &str = "Microsoft.Authorization/roleDefinitions/read";
    /// Create or update custom roles.
    pub const ROLE_DEFINITIONS_WRITE: &str = "Microsoft.Authorization/roleDefinitions/write";
    /// Delete custom roles.
    pub const ROLE_DEFINITIONS_DELETE: &str = "Microsoft.Authorization/roleDefinitions/delete";
}
