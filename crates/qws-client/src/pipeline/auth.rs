//! The authentication step of the [`Pipeline`](super::Pipeline): what proves the caller's
//! identity on each attempt.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::credentials::{AccessToken, TokenCredential};
use crate::error::Result;
use crate::secret::Secret;

/// A token is fetched again this long before it expires, so no attempt starts with a token that
/// runs out in flight.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

/// How a pipeline authenticates its requests.
pub(crate) enum AuthPolicy {
    /// Nothing added: the URL carries its own authorization (a blob SAS), or the request is
    /// the one that obtains a credential (OIDC discovery, token request).
    Anonymous,
    /// A fixed key in a header (the workspace access key, `x-ms-quantum-api-key`).
    ApiKey {
        /// Header name.
        header: &'static str,
        /// The key.
        key: Secret,
    },
    /// `Authorization: Bearer …` from a token credential, cached until shortly before expiry.
    Bearer(BearerTokenPolicy),
}

impl AuthPolicy {
    /// A bearer-token policy for `scope`.
    pub(crate) fn bearer(credential: Arc<dyn TokenCredential>, scope: impl Into<String>) -> Self {
        AuthPolicy::Bearer(BearerTokenPolicy {
            credential,
            scope: scope.into(),
            cache: tokio::sync::Mutex::new(None),
        })
    }

    /// Whether requests carry a secret (and so may only go over https or to loopback).
    pub(crate) fn sends_secret(&self) -> bool {
        !matches!(self, AuthPolicy::Anonymous)
    }

    /// Adds the credential to one attempt.
    pub(crate) async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder> {
        Ok(match self {
            AuthPolicy::Anonymous => request,
            AuthPolicy::ApiKey { header, key } => request.header(*header, key.expose()),
            AuthPolicy::Bearer(policy) => request.bearer_auth(policy.token().await?.token.expose()),
        })
    }
}

impl std::fmt::Debug for AuthPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthPolicy::Anonymous => f.write_str("Anonymous"),
            AuthPolicy::ApiKey { header, .. } => write!(f, "ApiKey({header}: ***)"),
            AuthPolicy::Bearer(p) => write!(f, "Bearer(scope: {})", p.scope),
        }
    }
}

/// Bearer tokens for one scope, cached in the policy so a credential without a cache of its
/// own is not asked on every attempt.
pub(crate) struct BearerTokenPolicy {
    credential: Arc<dyn TokenCredential>,
    scope: String,
    cache: tokio::sync::Mutex<Option<AccessToken>>,
}

impl BearerTokenPolicy {
    async fn token(&self) -> Result<AccessToken> {
        // Held across the fetch so concurrent requests wait for one token instead of each
        // asking the token service.
        let mut cached = self.cache.lock().await;
        if let Some(token) = cached.as_ref() {
            if token.expires_on - REFRESH_MARGIN > OffsetDateTime::now_utc() {
                return Ok(token.clone());
            }
        }
        let token = self.credential.get_token(&[self.scope.as_str()]).await?;
        *cached = Some(token.clone());
        Ok(token)
    }
}
