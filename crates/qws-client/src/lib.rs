//! Rust SDK for qws and Azure Quantum workspaces.
//!
//! The crate follows the conventions of the Azure SDK for Rust: a client is built with
//! `Client::new(endpoint, credential, Option<ClientOptions>)`, every call takes an optional
//! per-call options struct, results come back as [`Result<Response<T>>`](Response), and list
//! operations return a [`Pager`](arm::Pager) that follows `nextLink`.
//!
//! Modules:
//! - [`credentials`]: token acquisition (OAuth2 client credentials against an OIDC authority).
//! - [`arm`]: the management plane (subscriptions, resource groups, `Microsoft.Quantum` workspaces
//!   and their access keys).
//! - [`error`]: one coarse error type carrying the service's error code and message.
//! - [`workspace`]: the data plane: a [`Workspace`] built from a connection string, the
//!   environment, or ARM (resource id, subscription + group + name, or name alone), with
//!   [`targets`], [`jobs`], [`results`], [`sessions`] and quotas, job data moving through
//!   [`blob`] SAS URLs, and lists through a data-plane [`pager::Pager`].
//!
//! Secrets (client secrets, access keys, connection strings, tokens) are held in [`Secret`], whose
//! `Debug` output is redacted, and never appear in error messages.

pub mod arm;
pub mod blob;
pub mod credentials;
pub mod error;
mod http;
pub mod jobs;
pub mod pager;
mod response;
pub mod results;
mod secret;
pub mod sessions;
pub mod targets;
pub mod workspace;

pub use error::{Error, ErrorKind, Result};
pub use http::ClientOptions;
pub use response::Response;
pub use secret::Secret;
pub use workspace::{Credential, Workspace, WorkspaceBuilder, WorkspaceOptions};
