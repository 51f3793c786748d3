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

/// The absolute base URL the client used (`https://127.0.0.1:8443`, no trailing slash): scheme
/// from the listener, authority from the `Host` header when it is a plausible host[:port], else
/// the listener address. Used for links the client must follow (nextLink, LRO URLs, OIDC).
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let info = parts
            .extensions
            .get::<ConnInfo>()
            .copied()
            .unwrap_or_else(ConnInfo::unknown);
        let scheme = if info.tls { "https" } else { "http" };
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')
                    })
            })
            .map(str::to_string)
            .unwrap_or_else(|| info.local.to_string());
        Ok(BaseUrl(format!("{scheme}://{host}")))
    }
}
