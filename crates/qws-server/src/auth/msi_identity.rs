//! The principal behind the managed-identity endpoint. Local development wants tokens without
//! secrets, but not administrator tokens handed to any process that can read bootstrap.json:
//! `/msi/token` issues tokens for a service principal of its own, whose role assignments at the
//! bootstrap subscription are set from `--msi-role` at every start (by default Contributor
//! and Quantum Workspace Data Contributor: manage workspaces and keys, submit and read jobs,
//! but not grant roles). `--msi-role Administrator` keeps the old behaviour.

use crate::state::BootstrapIds;
use anyhow::{anyhow, Context};
use qws_core::names::SubscriptionId;
use qws_core::rbac::{builtin_role_by_name, PrincipalType, Scope};
use qws_store::identity::AssignmentRequest;
use qws_store::Store;

/// Display name of the managed-identity principal.
pub const DISPLAY_NAME: &str = "qws local managed identity";

/// Roles the managed identity holds unless `--msi-role` says otherwise.
pub const DEFAULT_ROLES: [&str; 2] = ["Contributor", "Quantum Workspace Data Contributor"];

/// The `--msi-role` value that makes `/msi/token` issue administrator tokens.
pub const ADMINISTRATOR: &str = "Administrator";

/// Makes sure the managed-identity principal exists and holds exactly `roles` (built-in or
/// custom role names) at the bootstrap subscription; returns the client id tokens are issued
/// for.
pub fn ensure(store: &Store, ids: &BootstrapIds, roles: &[String]) -> anyhow::Result<String> {
    if roles.iter().any(|r| r.eq_ignore_ascii_case(ADMINISTRATOR)) {
        if roles.len() > 1 {
            return Err(anyhow!(
                "--msi-role {ADMINISTRATOR} grants everything; it cannot be combined with other roles"
            ));
        }
        return Ok(ids.client_id.clone());
    }
    let id = store.identity();
    let existing = id
        .list_service_principals(&ids.tenant_id)
        .map_err(|e| anyhow!("{e}"))?
        .into_iter()
        .find(|sp| sp.display_name == DISPLAY_NAME);
    let sp = match existing {
        Some(sp) => sp,
        None => id
            .create_service_principal(&ids.tenant_id, DISPLAY_NAME)
            .map_err(|e| anyhow!("{e}"))
            .context("creating the managed-identity principal")?,
    };
    for a in id
        .role_assignments_of_principal(&sp.object_id)
        .map_err(|e| anyhow!("{e}"))?
    {
        id.delete_role_assignment(&a.name)
            .map_err(|e| anyhow!("{e}"))?;
    }
    let scope = Scope::subscription(&SubscriptionId::parse(&ids.subscription_id)?);
    for role in roles {
        let definition = match builtin_role_by_name(role) {
            Some(d) => d.id.clone(),
            None => id
                .role_definitions(Some(role))
                .map_err(|e| anyhow!("{e}"))?
                .into_iter()
                .next()
                .map(|d| d.id)
                .ok_or_else(|| anyhow!("--msi-role '{role}': no role has that name"))?,
        };
        let name = uuid::Uuid::new_v4().to_string();
        id.put_role_assignment(AssignmentRequest {
            name: &name,
            scope: &scope,
            role_definition_id: &definition,
            principal_id: &sp.object_id,
            principal_type: Some(PrincipalType::ServicePrincipal),
            description: Some("the managed identity's role (qws serve --msi-role)"),
            actor: None,
        })
        .map_err(|e| anyhow!("--msi-role '{role}': {e}"))?;
    }
    Ok(sp.app_id)
}
