//! Per-connection facts attached to every request: client address and whether TLS was used.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::SocketAddr;

/// Inserted into each request's extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// Client address.
    pub remote: SocketAddr,
    /// Local (listener) address.
    pub local: SocketAddr,
    /// True on the HTTPS listener.
    pub tls: bool,
}

impl ConnInfo {
    fn unknown() -> ConnInfo {
        let a: SocketAddr = ([0, 0, 0, 0], 0).into();
        ConnInfo {
            remote: a,
            local: a,
            tls: false,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ConnInfo {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<ConnInfo>()
            .copied()
            .unwrap_or_else(ConnInfo::unknown))
    }
}

/// The absolute base URL for links the client must follow (nextLink, LRO URLs, OIDC), no
/// trailing slash: the authority the client used (`https://127.0.0.1:8443`) when it is one this
/// server answers to, else the configured URL ([`crate::host_policy`]).
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl FromRequestParts<crate::state::AppState> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Infallible> {
        let info = parts
            .extensions
            .get::<ConnInfo>()
            .copied()
            .unwrap_or_else(ConnInfo::unknown);
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        Ok(BaseUrl(state.hosts.base_url(host, &info)))
    }
}
