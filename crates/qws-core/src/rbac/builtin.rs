//! Azure's built-in roles that qws implements, with their real ids and permissions (the ids are
//! the same in every tenant, so scripts and templates that name them by id work unchanged).
//!
//! Two roles Azure names but whose definitions (ids and permission lists) are not published
//! anywhere public yet, *Quantum Workspace Data Reader* and *Quantum Workspace Owner*, are
//! defined here as Azure describes them in words, with ids of qws's own: name-based (version 5)
//! UUIDs under [`QWS_ROLE_NAMESPACE`], so they are the same in every installation and can never
//! collide with one of Azure's (random, version 4) ids. Replace them once Azure publishes its own.

use super::role::{Permission, RoleDefinition, RoleType};
use std::sync::OnceLock;

/// Owner.
pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
/// Contributor.
pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
/// Reader.
pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/// User Access Administrator.
pub const USER_ACCESS_ADMINISTRATOR: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
/// Quantum Workspace Data Contributor.
pub const QUANTUM_WORKSPACE_DATA_CONTRIBUTOR: &str = "c1410b24-3e69-4857-8f86-4d0a2e603250";
/// Quantum Workspace Data Reader (qws's id, see the module documentation).
pub const QUANTUM_WORKSPACE_DATA_READER: &str = "ca381ccc-ae04-55c8-a026-3107d4b77412";
/// Quantum Workspace Owner (qws's id, see the module documentation).
pub const QUANTUM_WORKSPACE_OWNER: &str = "6e0976fb-aad1-5c32-9209-82389c85ab43";
/// The namespace of qws's own role ids: each is the version-5 UUID of the role's name in it
/// (itself the version-5 UUID of `https://github.com/qws/roles` in the URL namespace).
pub const QWS_ROLE_NAMESPACE: &str = "f8576e92-1c9f-5469-907d-81bf9bdee521";
/// Storage Account Contributor.
pub const STORAGE_ACCOUNT_CONTRIBUTOR: &str = "17d1049b-9a84-46fb-8f53-869881c3d3ab";
/// Storage Blob Data Contributor.
pub const STORAGE_BLOB_DATA_CONTRIBUTOR: &str = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";

struct Spec {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    actions: &'static [&'static str],
    not_actions: &'static [&'static str],
    data_actions: &'static [&'static str],
}

const SPECS: &[Spec] = &[
    Spec {
        id: OWNER,
        name: "Owner",
        description: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        actions: &["*"],
        not_actions: &[],
        data_actions: &[],
    },
    Spec {
        id: CONTRIBUTOR,
        name: "Contributor",
        description: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries.",
        actions: &["*"],
        not_actions: &[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
            "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
            "Microsoft.Subscription/cancel/action",
            "Microsoft.Subscription/enable/action",
        ],
        data_actions: &[],
    },
    Spec {
        id: READER,
        name: "Reader",
        description: "View all resources, but does not allow you to make any changes.",
        actions: &["*/read"],
        not_actions: &[],
        data_actions: &[],
    },
    Spec {
        id: USER_ACCESS_ADMINISTRATOR,
        name: "User Access Administrator",
        description: "Lets you manage user access to Azure resources.",
        actions: &["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
        not_actions: &[],
        data_actions: &[],
    },
    Spec {
        id: QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
        name: "Quantum Workspace Data Contributor",
        description: "Create, read, and modify jobs and other Workspace data. This role is in preview and subject to change.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Quantum/Workspaces/read",
            "Microsoft.Quantum/locations/offerings/read",
        ],
        not_actions: &[],
        data_actions: &[
            "Microsoft.Quantum/Workspaces/jobs/read",
            "Microsoft.Quantum/Workspaces/jobs/write",
        ],
    },
    Spec {
        id: QUANTUM_WORKSPACE_DATA_READER,
        name: "Quantum Workspace Data Reader",
        description: "Read jobs, their results and other Workspace data, and the workspace itself. Defined by qws until Azure publishes this role's definition.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Quantum/Workspaces/read",
            "Microsoft.Quantum/locations/offerings/read",
        ],
        not_actions: &[],
        data_actions: &["Microsoft.Quantum/Workspaces/jobs/read"],
    },
    Spec {
        id: QUANTUM_WORKSPACE_OWNER,
        name: "Quantum Workspace Owner",
        description: "Manage the workspace, its access keys and its jobs, and grant access to it. Defined by qws until Azure publishes this role's definition.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Quantum/Workspaces/*",
            "Microsoft.Quantum/locations/offerings/read",
        ],
        not_actions: &[],
        data_actions: &["Microsoft.Quantum/Workspaces/jobs/*"],
    },
    Spec {
        id: STORAGE_ACCOUNT_CONTRIBUTOR,
        name: "Storage Account Contributor",
        description: "Lets you manage storage accounts, including accessing storage account keys which provide full access to storage account data.",
        actions: &[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Insights/diagnosticSettings/*",
            "Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Storage/storageAccounts/*",
            "Microsoft.Support/*",
        ],
        not_actions: &[],
        data_actions: &[],
    },
    Spec {
        id: STORAGE_BLOB_DATA_CONTRIBUTOR,
        name: "Storage Blob Data Contributor",
        description: "Allows for read, write and delete access to Azure Storage blob containers and data",
        actions: &[
            "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
        ],
        not_actions: &[],
        data_actions: &[
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action",
        ],
    },
];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// All built-in roles qws knows, in a fixed order.
pub fn builtin_roles() -> &'static [RoleDefinition] {
    static ROLES: OnceLock<Vec<RoleDefinition>> = OnceLock::new();
    ROLES.get_or_init(|| {
        SPECS
            .iter()
            .map(|s| RoleDefinition {
                id: s.id.to_string(),
                role_name: s.name.to_string(),
                description: s.description.to_string(),
                role_type: RoleType::BuiltIn,
                permissions: vec![Permission {
                    actions: strings(s.actions),
                    not_actions: strings(s.not_actions),
                    data_actions: strings(s.data_actions),
                    not_data_actions: vec![],
                }],
                assignable_scopes: vec!["/".into()],
                created_on: None,
                updated_on: None,
                created_by: None,
                updated_by: None,
            })
            .collect()
    })
}

/// A built-in role by GUID (any case).
pub fn builtin_role(id: &str) -> Option<&'static RoleDefinition> {
    builtin_roles()
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id))
}

/// A built-in role by name (case-insensitive, as `$filter=roleName eq '…'` compares).
pub fn builtin_role_by_name(name: &str) -> Option<&'static RoleDefinition> {
    builtin_roles()
        .iter()
        .find(|r| r.role_name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_lower_case_guids_and_names_unique() {
        let roles = builtin_roles();
        assert_eq!(roles.len(), SPECS.len());
        for (i, r) in roles.iter().enumerate() {
            assert_eq!(uuid::Uuid::parse_str(&r.id).unwrap().to_string(), r.id);
            for other in &roles[i + 1..] {
                assert_ne!(r.id, other.id);
                assert!(!r.role_name.eq_ignore_ascii_case(&other.role_name));
            }
            for p in &r.permissions {
                for a in p
                    .actions
                    .iter()
                    .chain(&p.not_actions)
                    .chain(&p.data_actions)
                {
                    super::super::action::validate_pattern(a).unwrap();
                }
            }
        }
        assert_eq!(builtin_role_by_name("owner").unwrap().id, OWNER);
        assert_eq!(
            builtin_role(&QUANTUM_WORKSPACE_DATA_CONTRIBUTOR.to_uppercase())
                .unwrap()
                .role_name,
            "Quantum Workspace Data Contributor"
        );
        assert!(builtin_role("00000000-0000-0000-0000-000000000000").is_none());
    }

    #[test]
    fn qws_own_ids_are_name_based_and_cannot_be_azures() {
        // Derived once (uuid5(uuid5(URL, "https://github.com/qws/roles"), name)); a version-5
        // UUID is never one Azure assigned.
        for (id, name) in [
            (
                QUANTUM_WORKSPACE_DATA_READER,
                "Quantum Workspace Data Reader",
            ),
            (QUANTUM_WORKSPACE_OWNER, "Quantum Workspace Owner"),
        ] {
            assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 5);
            assert_eq!(builtin_role_by_name(name).unwrap().id, id);
        }
        assert_eq!(
            uuid::Uuid::parse_str(QWS_ROLE_NAMESPACE)
                .unwrap()
                .get_version_num(),
            5
        );
    }

    #[test]
    fn the_quantum_roles_grant_what_azure_describes() {
        use crate::rbac::ActionKind::{Control, Data};
        let allows = |id: &str, action: &str, kind| builtin_role(id).unwrap().allows(action, kind);
        let (reader, owner) = (QUANTUM_WORKSPACE_DATA_READER, QUANTUM_WORKSPACE_OWNER);
        assert!(allows(reader, "Microsoft.Quantum/Workspaces/read", Control));
        assert!(allows(
            reader,
            "Microsoft.Quantum/Workspaces/jobs/read",
            Data
        ));
        assert!(!allows(
            reader,
            "Microsoft.Quantum/Workspaces/jobs/write",
            Data
        ));
        assert!(!allows(
            reader,
            "Microsoft.Quantum/Workspaces/listKeys/action",
            Control
        ));
        for a in [
            "Microsoft.Quantum/Workspaces/write",
            "Microsoft.Quantum/Workspaces/delete",
            "Microsoft.Quantum/Workspaces/listKeys/action",
            "Microsoft.Quantum/Workspaces/regenerateKey/action",
            "Microsoft.Authorization/roleAssignments/write",
        ] {
            assert!(allows(owner, a, Control), "{a}");
        }
        assert!(allows(
            owner,
            "Microsoft.Quantum/Workspaces/jobs/write",
            Data
        ));
        assert!(!allows(
            owner,
            "Microsoft.Authorization/roleDefinitions/write",
            Control
        ));
        assert!(!allows(
            owner,
            "Microsoft.Resources/subscriptions/resourceGroups/write",
            Control
        ));
    }

    #[test]
    fn serialises_in_the_arm_shape() {
        let j = builtin_role(READER).unwrap().to_arm_json(None);
        assert_eq!(
            j["id"],
            "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
        );
        assert_eq!(j["name"], READER);
        assert_eq!(j["type"], "Microsoft.Authorization/roleDefinitions");
        assert_eq!(j["properties"]["roleName"], "Reader");
        assert_eq!(j["properties"]["type"], "BuiltInRole");
        assert_eq!(
            j["properties"]["assignableScopes"],
            serde_json::json!(["/"])
        );
        assert_eq!(
            j["properties"]["permissions"],
            serde_json::json!([{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}])
        );
    }
}
