//! Authentication and authorization.
//!
//! * [`jwt`]: signing and verifying access tokens.
//! * [`principal`]: the bearer-token extractor and the ARM 401 rules.
//! * [`authorize()`]: the single authorization decision point.
//! * [`gate`]: the one verify-then-count path every plane authenticates through.
//! * [`ratelimit`]: the failure counters behind it (per address and per guessed target).

pub mod gate;
pub mod jwt;
pub mod msi_identity;
pub mod principal;
pub mod ratelimit;

pub use principal::{authenticate_bearer, AuthenticatedPrincipal};

use crate::error::ApiError;
use axum::http::StatusCode;

/// ARM audiences accepted by the management plane.
pub const MANAGEMENT_AUDIENCES: &[&str] = &[
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
];

/// Audiences accepted by the Azure Quantum data plane.
pub const DATA_PLANE_AUDIENCES: &[&str] = &[
    "https://quantum.microsoft.com",
    "https://quantum.microsoft.com/",
];

/// What a caller's roles grant: its role assignments (direct and through groups, at every
/// scope) and the custom roles they name. Evaluated in memory per check with
/// [`qws_core::rbac::check`], which keeps only the assignments at or above the scope.
#[derive(Debug, Default)]
pub struct Access {
    grants: std::sync::Arc<qws_store::identity::AccessGrants>,
}

impl Access {
    /// The caller's current grants (none are needed for the bootstrap administrator), as of
    /// this request: the store serves them from memory only while no assignment, membership or
    /// role has changed since they were read, so a change applies to the next request.
    pub fn read(
        store: &qws_store::Store,
        principal: &qws_store::Principal,
    ) -> Result<Access, qws_store::StoreError> {
        if principal.is_admin {
            return Ok(Access::default());
        }
        let grants = store
            .identity()
            .access_of(&principal.object_id)
            .map_err(qws_store::StoreError::from)?;
        Ok(Access { grants })
    }
}

/// Data actions (`Microsoft.Quantum/Workspaces/jobs/…`) are granted only by a role's
/// `dataActions`; everything else is a control action.
fn action_kind(action: &str) -> qws_core::rbac::ActionKind {
    const DATA: &[u8] = b"/workspaces/jobs/";
    let is_data = action
        .as_bytes()
        .windows(DATA.len())
        .any(|w| w.eq_ignore_ascii_case(DATA));
    if is_data {
        qws_core::rbac::ActionKind::Data
    } else {
        qws_core::rbac::ActionKind::Control
    }
}

/// ARM shows a subscription (`GET /subscriptions[/{id}]`) to anyone holding a role anywhere in
/// it, so that a principal with access to one resource group or workspace can select the
/// subscription (`az login`, `az account set`) and reach what it was given.
fn reads_subscription_through_a_role_within(
    access: &Access,
    action: &str,
    scope: &qws_core::rbac::Scope,
) -> bool {
    scope.kind() == qws_core::rbac::ScopeKind::Subscription
        && action.eq_ignore_ascii_case(SUBSCRIPTION_READ)
        && access
            .grants
            .assignments
            .iter()
            .any(|a| scope.contains(&a.scope))
}

/// Reading a subscription itself.
const SUBSCRIPTION_READ: &str = "Microsoft.Resources/subscriptions/read";

/// Decides whether `principal` may perform `action` (an ARM action string such as
/// `Microsoft.Quantum/Workspaces/listKeys/action`) on `scope` (an ARM resource id): the
/// bootstrap administrator may do everything; anyone else needs a role assignment at the
/// scope or above whose role grants the action (Azure RBAC, deny by default). A refusal is
/// Azure's 403 `AuthorizationFailed`.
pub fn authorize(
    principal: &AuthenticatedPrincipal,
    action: &str,
    scope: &str,
) -> Result<(), ApiError> {
    if principal.principal.is_admin {
        return Ok(());
    }
    if let Ok(parsed) = qws_core::rbac::Scope::parse(scope) {
        let access = &principal.access;
        if reads_subscription_through_a_role_within(access, action, &parsed) {
            return Ok(());
        }
        let decision = qws_core::rbac::check(
            &access.grants.assignments,
            &access.grants.custom_roles,
            action,
            action_kind(action),
            &parsed,
        );
        if decision.allowed {
            return Ok(());
        }
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        qws_core::rbac::authorization_failed_message(
            &principal.principal.client_id,
            &principal.principal.object_id,
            action,
            scope,
        ),
    ))
}
