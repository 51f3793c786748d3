//! qws-core: the domain vocabulary shared by the server, the store, the SDK and the CLI.
//!
//! * [`names`]: validated newtypes for ARM names (subscription id, resource group, workspace, location).
//! * [`resource_id`]: format and parse ARM resource ids, case-insensitively as ARM does.
//! * [`keys`]: workspace access keys (generation, redaction, constant-time comparison).
//! * [`connection_string`]: the Azure Quantum connection-string format.
//! * [`models`]: the ARM JSON models of the management plane.
//! * [`error`]: the ARM `ErrorResponse` body.
//! * [`jobs`]: data-plane jobs and sessions: statuses, their state machine, typed documents.
//! * [`template`]: ARM template deployments: expressions, functions, dependency order.
//! * [`rbac`]: Azure RBAC: scopes, role definitions (built-in and custom), assignments, the check.

pub mod catalog;
pub mod connection_string;
pub mod error;
pub mod jobs;
pub mod keys;
pub mod models;
pub mod names;
pub mod rbac;
pub mod resource_id;
pub mod template;
pub mod time_fmt;

pub use error::{ErrorDetail, ErrorResponse};
pub use keys::{ApiKey, KeySlot};
pub use names::{
    DeploymentName, Location, NameError, ResourceGroupName, StorageAccountName, SubscriptionId,
    WorkspaceName,
};
