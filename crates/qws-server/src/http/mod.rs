//! HTTP plumbing shared by every plane: request bodies ([`body`]), per-connection facts
//! ([`conn`]), unread HTTP/2 request bodies ([`drain`]), HTML escaping ([`html`]), the accept
//! loop and connection serving ([`listener`]), the `Prefer: wait` preference ([`prefer`]),
//! TLS and every certificate the server issues ([`tls`]), and the `--azure-compat` proxy
//! ([`proxy`]).

pub mod body;
pub mod conn;
pub mod drain;
pub mod html;
pub mod listener;
pub mod prefer;
pub mod proxy;
pub mod tls;
