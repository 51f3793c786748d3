use super::*;
use crate::rbac::actions::*;
use crate::rbac::assignment::PrincipalType;
use crate::rbac::builtin::*;
use crate::rbac::role::{Permission, RoleType};
use crate::rbac::ActionKind::{Control, Data};

const SUB: &str = "00000000-0000-0000-0000-0000000000aa";
const OTHER_SUB: &str = "00000000-0000-0000-0000-0000000000bb";

fn sc(s: &str) -> Scope {
    Scope::parse(s).unwrap()
}

fn workspace() -> Scope {
    sc(&format!(
        "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Quantum/Workspaces/ws"
    ))
}

fn assignment(role: &str, scope: Scope) -> RoleAssignment {
    RoleAssignment {
        name: uuid::Uuid::new_v4().to_string(),
        scope,
        role_definition_id: role.into(),
        principal_id: "p".into(),
        principal_type: PrincipalType::User,
        description: None,
        created_on: 0,
        updated_on: 0,
        created_by: None,
        updated_by: None,
    }
}

/// Where the assignment sits relative to the workspace the request targets.
#[derive(Debug, Clone, Copy)]
enum At {
    /// The workspace itself.
    Same,
    /// Its resource group.
    ResourceGroup,
    /// Its subscription.
    Subscription,
    /// The tenant root.
    Root,
    /// Another workspace in the same resource group.
    Sibling,
    /// Another resource group.
    OtherGroup,
    /// Another subscription.
    OtherSubscription,
    /// Below the target (a child of the workspace); never applies upwards.
    Below,
}

fn assignment_scope(at: At) -> Scope {
    match at {
        At::Same => workspace(),
        At::ResourceGroup => sc(&format!("/subscriptions/{SUB}/resourceGroups/RG")),
        At::Subscription => sc(&format!("/subscriptions/{SUB}")),
        At::Root => Scope::root(),
        At::Sibling => sc(&format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Quantum/Workspaces/ws2"
        )),
        At::OtherGroup => sc(&format!("/subscriptions/{SUB}/resourceGroups/rg2")),
        At::OtherSubscription => sc(&format!("/subscriptions/{OTHER_SUB}")),
        At::Below => sc(&format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Quantum/Workspaces/ws/jobs/j1"
        )),
    }
}

const LIST_KEYS: &str = WORKSPACE_LIST_KEYS;
const RA_WRITE: &str = ROLE_ASSIGNMENTS_WRITE;
const RA_READ: &str = ROLE_ASSIGNMENTS_READ;
const STORAGE_KEYS: &str = "Microsoft.Storage/storageAccounts/listKeys/action";
const BLOB_READ: &str = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read";

#[test]
fn decision_table() {
    use At::*;
    // (role, action, kind, where the assignment is, expected)
    let table: &[(&str, &str, ActionKind, At, bool)] = &[
        // Owner: every control action, at and below its scope; no data actions.
        (OWNER, WORKSPACE_READ, Control, Same, true),
        (OWNER, WORKSPACE_WRITE, Control, ResourceGroup, true),
        (OWNER, LIST_KEYS, Control, Subscription, true),
        (OWNER, RA_WRITE, Control, Root, true),
        (OWNER, WORKSPACE_DELETE, Control, Sibling, false),
        (OWNER, WORKSPACE_DELETE, Control, OtherGroup, false),
        (OWNER, WORKSPACE_DELETE, Control, OtherSubscription, false),
        (OWNER, WORKSPACE_DELETE, Control, Below, false),
        (OWNER, JOBS_READ, Data, Same, false),
        (OWNER, JOBS_WRITE, Data, Subscription, false),
        // Contributor: everything but authorization writes.
        (CONTRIBUTOR, WORKSPACE_WRITE, Control, Same, true),
        (CONTRIBUTOR, LIST_KEYS, Control, ResourceGroup, true),
        (
            CONTRIBUTOR,
            WORKSPACE_REGENERATE_KEY,
            Control,
            Subscription,
            true,
        ),
        (CONTRIBUTOR, RA_READ, Control, Subscription, true),
        (CONTRIBUTOR, RA_WRITE, Control, Subscription, false),
        (CONTRIBUTOR, ROLE_ASSIGNMENTS_DELETE, Control, Same, false),
        (
            CONTRIBUTOR,
            "microsoft.authorization/roledefinitions/WRITE",
            Control,
            Same,
            false,
        ),
        (
            CONTRIBUTOR,
            "Microsoft.Authorization/elevateAccess/Action",
            Control,
            Root,
            false,
        ),
        (CONTRIBUTOR, JOBS_WRITE, Data, Same, false),
        (CONTRIBUTOR, WORKSPACE_WRITE, Control, Sibling, false),
        // Reader: reads only.
        (READER, WORKSPACE_READ, Control, Same, true),
        (READER, WORKSPACE_READ, Control, Subscription, true),
        (READER, RA_READ, Control, ResourceGroup, true),
        (READER, WORKSPACE_WRITE, Control, Same, false),
        (READER, LIST_KEYS, Control, Same, false),
        (READER, WORKSPACE_REGENERATE_KEY, Control, Same, false),
        (READER, JOBS_READ, Data, Same, false),
        (READER, WORKSPACE_READ, Control, OtherSubscription, false),
        // User Access Administrator: reads and authorization, nothing else.
        (USER_ACCESS_ADMINISTRATOR, RA_WRITE, Control, Same, true),
        (
            USER_ACCESS_ADMINISTRATOR,
            ROLE_ASSIGNMENTS_DELETE,
            Control,
            Subscription,
            true,
        ),
        (
            USER_ACCESS_ADMINISTRATOR,
            WORKSPACE_READ,
            Control,
            Same,
            true,
        ),
        (
            USER_ACCESS_ADMINISTRATOR,
            WORKSPACE_WRITE,
            Control,
            Same,
            false,
        ),
        (USER_ACCESS_ADMINISTRATOR, LIST_KEYS, Control, Same, false),
        (USER_ACCESS_ADMINISTRATOR, JOBS_READ, Data, Same, false),
        // Quantum Workspace Data Contributor: read the workspace, submit and read jobs.
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            JOBS_READ,
            Data,
            Same,
            true,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            JOBS_WRITE,
            Data,
            Same,
            true,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            JOBS_WRITE,
            Data,
            ResourceGroup,
            true,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            JOBS_READ,
            Data,
            Subscription,
            true,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            WORKSPACE_READ,
            Control,
            Same,
            true,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            OFFERINGS_READ,
            Control,
            Subscription,
            true,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            RA_READ,
            Control,
            Same,
            true,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            LIST_KEYS,
            Control,
            Same,
            false,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            WORKSPACE_REGENERATE_KEY,
            Control,
            Same,
            false,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            WORKSPACE_WRITE,
            Control,
            Same,
            false,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            RA_WRITE,
            Control,
            Same,
            false,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            JOBS_WRITE,
            Data,
            Sibling,
            false,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            JOBS_READ,
            Data,
            OtherGroup,
            false,
        ),
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            JOBS_READ,
            Data,
            Below,
            false,
        ),
        // The data action names do not grant as control actions.
        (
            QUANTUM_WORKSPACE_DATA_CONTRIBUTOR,
            JOBS_READ,
            Control,
            Same,
            false,
        ),
        // Storage roles.
        (
            STORAGE_ACCOUNT_CONTRIBUTOR,
            STORAGE_KEYS,
            Control,
            ResourceGroup,
            true,
        ),
        (
            STORAGE_ACCOUNT_CONTRIBUTOR,
            WORKSPACE_READ,
            Control,
            ResourceGroup,
            false,
        ),
        (
            STORAGE_ACCOUNT_CONTRIBUTOR,
            BLOB_READ,
            Data,
            ResourceGroup,
            false,
        ),
        (
            STORAGE_BLOB_DATA_CONTRIBUTOR,
            BLOB_READ,
            Data,
            ResourceGroup,
            true,
        ),
        (
            STORAGE_BLOB_DATA_CONTRIBUTOR,
            STORAGE_KEYS,
            Control,
            ResourceGroup,
            false,
        ),
        // An unknown role grants nothing.
        (
            "00000000-0000-0000-0000-000000000000",
            WORKSPACE_READ,
            Control,
            Same,
            false,
        ),
    ];
    let target = workspace();
    for &(role, action, kind, at, want) in table {
        let a = assignment(role, assignment_scope(at));
        let d = check(std::slice::from_ref(&a), &[], action, kind, &target);
        assert_eq!(
            d.allowed,
            want,
            "role {} {action} ({kind:?}) assigned at {at:?}",
            builtin_role(role)
                .map(|r| r.role_name.as_str())
                .unwrap_or(role)
        );
        assert_eq!(d.matched_assignment.is_some(), want);
        if want {
            assert_eq!(d.matched_assignment.unwrap().name, a.name);
        }
    }
}

#[test]
fn no_assignments_is_a_refusal() {
    let d = check(&[], &[], WORKSPACE_READ, Control, &workspace());
    assert_eq!(d, Decision::deny());
}

#[test]
fn any_applicable_assignment_grants_and_the_nearest_is_reported() {
    let far = assignment(OWNER, Scope::root());
    let near = assignment(CONTRIBUTOR, workspace());
    let reader_elsewhere = assignment(READER, assignment_scope(At::Sibling));
    let all = vec![far.clone(), reader_elsewhere, near.clone()];
    let d = check(&all, &[], WORKSPACE_WRITE, Control, &workspace());
    assert_eq!(d.matched_assignment.unwrap().name, near.name);
    // Contributor cannot assign roles, but the Owner assignment higher up can.
    let d = check(&all, &[], RA_WRITE, Control, &workspace());
    assert_eq!(d.matched_assignment.unwrap().name, far.name);
}

#[test]
fn custom_roles_are_consulted() {
    let submitter = RoleDefinition {
        id: "11111111-2222-3333-4444-555555555555".into(),
        role_name: "Submitter".into(),
        description: String::new(),
        role_type: RoleType::Custom,
        permissions: vec![Permission {
            actions: vec!["Microsoft.Quantum/*/read".into()],
            not_actions: vec![],
            data_actions: vec!["Microsoft.Quantum/Workspaces/jobs/*".into()],
            not_data_actions: vec!["Microsoft.Quantum/Workspaces/jobs/read".into()],
        }],
        assignable_scopes: vec![format!("/subscriptions/{SUB}")],
        created_on: None,
        updated_on: None,
        created_by: None,
        updated_by: None,
    };
    let a = assignment(
        "11111111-2222-3333-4444-555555555555",
        assignment_scope(At::ResourceGroup),
    );
    let roles = [submitter];
    let ws = workspace();
    assert!(check(std::slice::from_ref(&a), &roles, JOBS_WRITE, Data, &ws).allowed);
    assert!(!check(std::slice::from_ref(&a), &roles, JOBS_READ, Data, &ws).allowed);
    assert!(
        check(
            std::slice::from_ref(&a),
            &roles,
            WORKSPACE_READ,
            Control,
            &ws
        )
        .allowed
    );
    assert!(
        !check(
            std::slice::from_ref(&a),
            &roles,
            WORKSPACE_WRITE,
            Control,
            &ws
        )
        .allowed
    );
    // Without the definition, the assignment grants nothing.
    assert!(!check(std::slice::from_ref(&a), &[], JOBS_WRITE, Data, &ws).allowed);
}

#[test]
fn refusal_message_is_azures() {
    assert_eq!(
        authorization_failed_message("app-1", "oid-1", LIST_KEYS, "/subscriptions/s"),
        "The client 'app-1' with object id 'oid-1' does not have authorization to perform action 'Microsoft.Quantum/Workspaces/listKeys/action' over scope '/subscriptions/s' or the scope is invalid. If access was recently granted, please refresh your credentials."
    );
}
