//! The portal's pages: [`home`] (subscriptions, resource groups, workspaces), [`create`]
//! (create a workspace), [`workspace`] (a workspace's blades: Overview, Access Keys, Providers,
//! Job management, Quotas, Access control, Activity log).

pub mod blades;
pub mod create;
pub mod home;
pub mod jobs;
pub mod workspace;

use super::api::PortalError;
use axum::http::StatusCode;
use serde_json::Value;

/// A string field of an API answer ("" when absent).
pub(crate) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// The `value` array of an ARM list answer.
pub(crate) fn items(v: &Value) -> &[Value] {
    v["value"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A refused form (bad input), with the reason.
pub(crate) fn bad_input(message: impl Into<String>) -> PortalError {
    PortalError::new(StatusCode::BAD_REQUEST, message)
}
