//! qws-store: persistence for qws.
//!
//! * [`crypto`]: the master key, AES-256-GCM sealing of secrets, keyed fingerprints and hashes.
//! * [`identity`]: users, service principals, groups, role assignments, custom roles and refresh
//!   tokens ([`Store::identity`]).
//! * [`blobs`]: durable job data (the Azure Blob subset) under `<data dir>/blobs`.
//! * [`Store`]: the SQLite (WAL) metadata store: tenant, subscriptions, service principals,
//!   resource groups, workspaces, access keys (sealed) and long-running operation records.
//!
//! All methods are synchronous and short; async callers run them on a blocking thread.

pub mod access_tokens;
pub mod blobs;
pub mod change;
pub mod crypto;
pub mod db;
pub mod identity;
pub mod jobs;
pub mod leases;
pub mod listing;
mod named;
pub mod pool;
pub mod queue;
mod schema;
mod store;
pub mod webhooks;

pub use identity::{IdResult, Identity, IdentityError};
pub use store::*;
