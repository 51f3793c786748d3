//! Authentication and authorization.
//!
//! * [`jwt`]: signing and verifying access tokens.
//! * [`principal`]: the bearer-token extractor and the ARM 401 rules.
//! * [`authorize()`]: the single authorization decision point.
//! * [`gate`]: the one verify-then-count path every plane authenticates through.
//! * [`ratelimit`]: the failure counters behind it (per address and per guessed target).

pub mod gate;
pub mod jwt;
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

/// Decides whether `principal` may perform `action` (an ARM action string such as
/// `Microsoft.Quantum/Workspaces/listKeys/action`) on `scope` (an ARM resource id).
///
/// Today only the bootstrap administrator exists and it may do everything; role assignments
/// will plug in here without touching the handlers.
pub fn authorize(
    principal: &AuthenticatedPrincipal,
    action: &str,
    scope: &str,
) -> Result<(), ApiError> {
    if principal.principal.is_admin {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
        format!(
            "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
            principal.principal.client_id, principal.principal.object_id
        ),
    ))
}
