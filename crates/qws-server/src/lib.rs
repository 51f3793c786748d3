//! qws-server: the qws HTTP service.
//!
//! * [`server::start`] opens the data directory, bootstraps it on first start, binds the HTTP and
//!   HTTPS listeners and serves [`routes::app`].
//! * [`planes`]: one module per plane: `identity`, `mgmt`, `dataplane`, `blob`.
//! * [`routes`]: the application router over the planes, and ARM path normalization.
//! * [`http`]: HTTP plumbing: bodies, connections, listeners, TLS and certificates, the proxy.
//! * [`paths`]: typed resource-path extractors and the one-place authorization extractor.
//! * [`error::ApiError`]: every management error as ARM's `ErrorResponse`.
//! * [`state::AppState`]: shared state, including the access-key check
//!   [`state::AppState::check_api_key`] used by the data plane.
//! * [`auth`]: tokens, the bearer extractor, the single `authorize` function, rate limiting.
//! * [`audit`]: the append-only audit log.
//! * [`metrics`]: operational metrics and the `--metrics-listen` endpoint.
//! * [`webhooks`]: job webhooks: destination policy, signatures, the delivery worker.

pub mod api_version;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod datadir;
pub mod error;
pub mod host_policy;
pub mod http;
pub mod metrics;
pub mod node;
pub mod paths;
pub mod planes;
pub mod routes;
pub mod scheduler;
pub mod server;
pub mod state;
pub mod webhooks;

pub use config::ServerConfig;
pub use server::{start, RunningServer};
