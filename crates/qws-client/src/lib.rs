//! Rust SDK for qws and Azure Quantum workspaces.
//!
//! The crate follows the conventions of the Azure SDK for Rust: a client is built with
//! `Client::new(endpoint, credential, Option<ClientOptions>)`, every call takes an optional
//! per-call options struct, results come back as [`Result<Response<T>>`](Response), and list
//! operations return a [`Pager`](arm::Pager) that follows `nextLink`.
//!
//! Every request goes through one pipeline (HTTP client, authentication, retries): the retry
//! rules are documented in [`retry`] and tuned with [`ClientOptions::retry`].
//!
//! Modules:
//! - [`credentials`]: what a client authenticates with: an access key or a token credential
//!   (OAuth2 client credentials against an OIDC authority, or a fixed token).
//! - [`retry`]: which failed requests are retried, after how long, how many times.
//! - [`arm`]: the management plane (subscriptions, resource groups, `Microsoft.Quantum` workspaces
//!   and their access keys).
//! - [`error`]: one coarse error type carrying the service's error code and message.
//! - [`workspace`]: the data plane: a [`Workspace`] built from a connection string, the
//!   environment, or ARM (resource id, subscription + group + name, or name alone), with
//!   [`targets`], [`jobs`], [`results`], [`sessions`] and quotas, job data moving through
//!   [`blob`] SAS URLs, and lists through a data-plane [`workspace::Pager`].
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
mod pipeline;
mod response;
pub mod results;
pub mod retry;
mod secret;
pub mod sessions;
pub mod targets;
#[cfg(test)]
mod test_peer;
pub mod workspace;

pub use credentials::Credential;
pub use error::{Error, ErrorKind, Result};
pub use http::ClientOptions;
pub use response::Response;
pub use retry::RetryOptions;
pub use secret::Secret;
pub use workspace::{Workspace, WorkspaceBuilder, WorkspaceOptions};
