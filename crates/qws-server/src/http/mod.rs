//! HTTP plumbing shared by every plane: request bodies ([`body`]), per-connection facts
//! ([`conn`]), the accept loop and connection serving ([`listener`]), TLS and every certificate
//! the server issues ([`tls`]), and the `--azure-compat` proxy ([`proxy`]).

pub mod body;
pub mod conn;
pub mod listener;
pub mod proxy;
pub mod tls;
