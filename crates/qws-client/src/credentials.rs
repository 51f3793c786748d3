//! Credentials: what a client authenticates with.
//!
//! - [`Credential`]: what a [`Workspace`](crate::Workspace) is given, a workspace access key or
//!   any [`TokenCredential`].
//! - [`ClientSecretCredential`] performs the OAuth2 client-credentials grant against an OIDC
//!   authority, the way `azure-identity`'s `ClientSecretCredential(..., authority=…,
//!   disable_instance_discovery=True)` does: it reads the authority's discovery document for the
//!   `token_endpoint`, then posts `grant_type=client_credentials`. It works with a qws server
//!   (authority = the server's https URL) and with Microsoft Entra ID
//!   (`https://login.microsoftonline.com`). The tenant `adfs` selects the ADFS discovery path.
//! - [`StaticTokenCredential`]: one bearer token obtained elsewhere.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, Result};
use crate::http::{is_safe_for_secrets, parse_url, same_origin, ClientOptions};
use crate::pipeline::{AuthPolicy, Pipeline, Request};
use crate::secret::Secret;

/// A boxed, sendable future (what [`TokenCredential::get_token`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A bearer token and its expiry.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token value.
    pub token: Secret,
    /// When the token stops being valid.
    pub expires_on: OffsetDateTime,
}

/// Anything that can produce a bearer token for a set of scopes.
pub trait TokenCredential: Send + Sync {
    /// Returns a token valid for `scopes` (e.g. `["https://management.azure.com/.default"]`).
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken>>;
}

/// Options for [`ClientSecretCredential`].
#[derive(Debug, Clone, Default)]
pub struct ClientSecretCredentialOptions {
    /// Transport options (CA file, timeout, retries).
    pub client_options: ClientOptions,
}

/// Tokens are renewed this long before they expire, so a request never starts with a token
/// that runs out in flight.
const REFRESH_MARGIN: time::Duration = time::Duration::minutes(5);

/// OAuth2 client-credentials grant against an OIDC authority, with a per-scope token cache.
pub struct ClientSecretCredential {
    discovery_url: url::Url,
    authority: url::Url,
    client_id: String,
    secret: Secret,
    /// Anonymous: these requests are the ones that obtain a credential.
    pipeline: Pipeline,
    token_endpoint: tokio::sync::Mutex<Option<url::Url>>,
    cache: tokio::sync::Mutex<HashMap<String, AccessToken>>,
}

impl std::fmt::Debug for ClientSecretCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSecretCredential")
            .field("authority", &self.authority.as_str())
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .finish()
    }
}

impl ClientSecretCredential {
    /// Creates a credential for `client_id`/`secret` in `tenant_id` at `authority` (for a qws
    /// server its https URL, e.g. `https://127.0.0.1:8443`).
    ///
    /// The authority must be https, or http on a loopback address: the client secret is sent to it.
    pub fn new(
        authority: &str,
        tenant_id: &str,
        client_id: &str,
        secret: impl Into<Secret>,
        options: Option<ClientSecretCredentialOptions>,
    ) -> Result<Arc<Self>> {
        let options = options.unwrap_or_default();
        let authority = parse_url("authority", authority)?;
        if !is_safe_for_secrets(&authority) {
            return Err(Error::new(
                ErrorKind::Other,
                format!("authority {authority} must use https (http is allowed only on loopback)"),
            ));
        }
        if tenant_id.is_empty()
            || !tenant_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
        {
            return Err(Error::new(
                ErrorKind::Other,
                format!("invalid tenant id '{tenant_id}'"),
            ));
        }
        let mut discovery_url = authority.clone();
        {
            let mut segments = discovery_url.path_segments_mut().map_err(|_| {
                Error::new(ErrorKind::Other, "authority URL cannot have path segments")
            })?;
            segments.pop_if_empty();
            if tenant_id.eq_ignore_ascii_case("adfs") {
                segments.extend(["adfs", ".well-known", "openid-configuration"]);
            } else {
                segments.extend([tenant_id, "v2.0", ".well-known", "openid-configuration"]);
            }
        }
        Ok(Arc::new(ClientSecretCredential {
            discovery_url,
            authority,
            client_id: client_id.to_owned(),
            secret: secret.into(),
            pipeline: Pipeline::new(&options.client_options, AuthPolicy::Anonymous)?,
            token_endpoint: tokio::sync::Mutex::new(None),
            cache: tokio::sync::Mutex::new(HashMap::new()),
        }))
    }

    /// Finds the token endpoint from the discovery document (once per credential).
    async fn token_endpoint(&self) -> Result<url::Url> {
        let mut cached = self.token_endpoint.lock().await;
        if let Some(url) = cached.as_ref() {
            return Ok(url.clone());
        }
        let request = Request::new(reqwest::Method::GET, self.discovery_url.clone());
        let response = self.pipeline.send(request).await?;
        if !response.is_success() {
            return Err(response.into_error(ErrorKind::Credential));
        }
        let doc: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| {
            Error::new(
                ErrorKind::Credential,
                format!(
                    "OIDC discovery document at {} is not JSON: {e}",
                    self.discovery_url
                ),
            )
        })?;
        let endpoint = doc
            .get("token_endpoint")
            .and_then(|v| v.as_str())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Credential,
                    format!(
                        "OIDC discovery document at {} has no token_endpoint",
                        self.discovery_url
                    ),
                )
            })?;
        let endpoint = parse_url("token endpoint", endpoint)?;
        // The client secret goes to this URL: never to another host, never in clear text.
        if !same_origin(&endpoint, &self.authority) || !is_safe_for_secrets(&endpoint) {
            return Err(Error::new(
                ErrorKind::Credential,
                format!(
                    "token endpoint {endpoint} is not on the authority {}; refusing to send the client secret there",
                    self.authority
                ),
            ));
        }
        *cached = Some(endpoint.clone());
        Ok(endpoint)
    }

    async fn request_token(&self, scope: &str) -> Result<AccessToken> {
        let endpoint = self.token_endpoint().await?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", &self.client_id)
            .append_pair("client_secret", self.secret.expose())
            .append_pair("scope", scope)
            .finish();
        let request = Request::new(reqwest::Method::POST, endpoint)
            .header("accept", "application/json")
            .body("application/x-www-form-urlencoded", form.into_bytes());
        let response = self.pipeline.send(request).await?;
        if !response.is_success() {
            return Err(response.into_error(ErrorKind::Credential));
        }
        parse_token_response(&response.body)
    }
}

/// Decodes `{"access_token": "...", "expires_in": 3599, ...}` (`expires_in` may be a string).
fn parse_token_response(body: &[u8]) -> Result<AccessToken> {
    let bad = |what: &str| Error::new(ErrorKind::Credential, format!("token response {what}"));
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| bad("is not JSON"))?;
    let token = value
        .get("access_token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| bad("has no access_token"))?;
    let expires_in = match value.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or(3599)
    .clamp(0, 366 * 24 * 3600);
    Ok(AccessToken {
        token: Secret::new(token),
        expires_on: OffsetDateTime::now_utc() + time::Duration::seconds(expires_in),
    })
}

impl TokenCredential for ClientSecretCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            let scope = scopes.join(" ");
            let mut cache = self.cache.lock().await;
            if let Some(token) = cache.get(&scope) {
                if token.expires_on - REFRESH_MARGIN > OffsetDateTime::now_utc() {
                    return Ok(token.clone());
                }
            }
            let token = self.request_token(&scope).await?;
            cache.insert(scope, token.clone());
            Ok(token)
        })
    }
}

/// How a [`Workspace`](crate::Workspace) authenticates to the data plane.
#[derive(Clone)]
pub enum Credential {
    /// A workspace access key, sent as `x-ms-quantum-api-key`.
    ApiKey(Secret),
    /// A bearer-token credential (scope `https://quantum.microsoft.com/.default` on the data
    /// plane, `https://management.azure.com/.default` for ARM lookups).
    Token(Arc<dyn TokenCredential>),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ApiKey(_) => f.write_str("Credential::ApiKey(***)"),
            Credential::Token(_) => f.write_str("Credential::Token(..)"),
        }
    }
}

impl Credential {
    /// An access-key credential.
    pub fn api_key(key: impl Into<Secret>) -> Self {
        Credential::ApiKey(key.into())
    }

    /// A credential that always presents the same bearer token (for tokens obtained elsewhere).
    pub fn static_token(token: impl Into<Secret>) -> Self {
        Credential::Token(Arc::new(StaticTokenCredential::new(token)))
    }

    /// A service principal: OAuth2 client credentials against `authority` (a qws server's https
    /// URL, or `https://login.microsoftonline.com`); `tenant_id` may be `adfs`.
    pub fn client_secret(
        authority: &str,
        tenant_id: &str,
        client_id: &str,
        secret: impl Into<Secret>,
        client_options: Option<ClientOptions>,
    ) -> Result<Self> {
        let credential = ClientSecretCredential::new(
            authority,
            tenant_id,
            client_id,
            secret,
            Some(ClientSecretCredentialOptions {
                client_options: client_options.unwrap_or_default(),
            }),
        )?;
        Ok(Credential::Token(credential))
    }

    /// Any other token credential.
    pub fn token(credential: Arc<dyn TokenCredential>) -> Self {
        Credential::Token(credential)
    }
}

/// A [`TokenCredential`] that returns one fixed token.
pub struct StaticTokenCredential {
    token: Secret,
}

impl StaticTokenCredential {
    /// Wraps a bearer token.
    pub fn new(token: impl Into<Secret>) -> Self {
        StaticTokenCredential {
            token: token.into(),
        }
    }
}

impl std::fmt::Debug for StaticTokenCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaticTokenCredential(***)")
    }
}

impl TokenCredential for StaticTokenCredential {
    fn get_token<'a>(&'a self, _scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            Ok(AccessToken {
                token: self.token.clone(),
                expires_on: OffsetDateTime::now_utc() + time::Duration::hours(1),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_discovery_url_for_tenants_and_adfs() {
        let c =
            ClientSecretCredential::new("https://127.0.0.1:8443/", "t1", "c", "s", None).unwrap();
        assert_eq!(
            c.discovery_url.as_str(),
            "https://127.0.0.1:8443/t1/v2.0/.well-known/openid-configuration"
        );
        let a = ClientSecretCredential::new("https://h", "adfs", "c", "s", None).unwrap();
        assert_eq!(
            a.discovery_url.as_str(),
            "https://h/adfs/.well-known/openid-configuration"
        );
    }

    #[test]
    fn refuses_clear_text_authorities_and_odd_tenants() {
        assert!(ClientSecretCredential::new("http://example.com", "t", "c", "s", None).is_err());
        assert!(ClientSecretCredential::new("http://127.0.0.1:1", "t", "c", "s", None).is_ok());
        assert!(ClientSecretCredential::new("https://h", "../x", "c", "s", None).is_err());
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = ClientSecretCredential::new("https://h", "t", "c", "topsecret", None).unwrap();
        assert!(!format!("{c:?}").contains("topsecret"));
    }

    #[test]
    fn parses_token_responses() {
        let t = parse_token_response(
            br#"{"token_type":"Bearer","expires_in":"3599","access_token":"abc"}"#,
        )
        .unwrap();
        assert_eq!(t.token.expose(), "abc");
        assert!(t.expires_on > OffsetDateTime::now_utc() + time::Duration::minutes(59));
        assert!(parse_token_response(br#"{"expires_in":1}"#).is_err());
        assert!(parse_token_response(b"<html>").is_err());
    }
}
