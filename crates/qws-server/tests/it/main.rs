//! The integration tests of `qws-server`, one test binary: each module is one area, every
//! test starts a real server on 127.0.0.1 with a temporary data directory ([`common`]).
//!
//! Tests run as threads of this one process; a test that changes process-wide state runs in a
//! child process of its own ([`common::own_process`]). The `list_bench` module is a
//! measurement, ignored by default:
//! `cargo test -p qws-server --test it list_bench -- --ignored --nocapture`.

// The deployment tests build large `json!` templates.
#![recursion_limit = "256"]

mod common;

mod activity_log;
mod arm_challenge;
mod auth;
mod authorization_api;
mod authz_matrix;
mod blob_api;
mod blob_errors;
mod blob_security;
mod cache_invalidation;
mod cancel_executing;
mod dataplane_behaviour;
mod dataplane_errors;
mod directory_api;
mod double_slash;
mod h2_unread_body;
mod health;
mod host_header;
mod hygiene;
mod identity;
mod job_document;
mod keys;
mod list_bench;
mod listeners;
mod lockout;
mod master_key;
mod metrics;
mod mgmt;
mod mgmt_deployments;
mod mgmt_storage;
mod openapi;
mod portal;
mod prefer_wait;
mod provider_status;
mod proxy;
mod rbac_enforcement;
mod scheduler_limits;
mod secrets;
mod server;
mod signin;
mod storage_proxy;
mod webhooks;
mod workspace_tokens;
