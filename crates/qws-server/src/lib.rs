//! qws-server: the qws HTTP service.
//!
//! * [`server::start`] opens the data directory, bootstraps it on first start, binds the HTTP and
//!   HTTPS listeners and serves [`routes::app`].
//! * [`routes`]: one module per plane (`identity`, `mgmt`; the data plane and blob join there).
//! * [`error::ApiError`]: every management error as ARM's `ErrorResponse`.
//! * [`state::AppState`]: shared state, including the access-key check
//!   [`state::AppState::check_api_key`] used by the data plane.
//! * [`auth`]: tokens, the bearer extractor, the single `authorize` function, rate limiting.
//! * [`audit`]: the append-only audit log.

pub mod api_version;
pub mod audit;
pub mod auth;
pub mod blob;
pub mod body;
pub mod bootstrap;
pub mod config;
pub mod conn;
pub mod datadir;
pub mod dataplane;
pub mod error;
pub mod host_policy;
pub mod listener;
pub mod paths;
pub mod proxy;
pub mod routes;
pub mod scheduler;
pub mod server;
pub mod state;
pub mod tls;

pub use config::ServerConfig;
pub use server::{start, RunningServer};
