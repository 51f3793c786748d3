//! The integration tests of the `qws` binary, one test binary: `qws serve` and the CLI run
//! as child processes on 127.0.0.1 with temporary data directories and homes ([`common`]).

mod common;

mod ad_cli;
mod audit_webhook_cli;
mod backup;
mod cluster;
mod env_cli;
mod key_usage;
mod mgmt_client;
mod poison_jobs;
mod postgres_serve;
mod readme_options;
mod role_cli;
mod serve_logs;
mod serve_process;
mod token_cli;
