//! Credentials that obtain bearer tokens.
//!
//! [`ClientSecretCredential`] performs the OAuth2 client-credentials grant against an OIDC
//! authority, the way `azure-identity`'s `ClientSecretCredential(..., authority=…,
//! disable_instance_discovery=True)` does: it reads the authority's discovery document for the
//! `token_endpoint`, then posts `grant_type=client_credentials`. It works with a qws server
//! (authority = the server's https URL) and with Microsoft Entra ID
//! (`https://login.microsoftonline.com`). The tenant `adfs` selects the ADFS discovery path.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, Result};
use crate::http::{is_safe_for_secrets, parse_url, read_body, same_origin, ClientOptions};
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
    /// Transport options (CA file, timeout).
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
    http: reqwest::Client,
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
            http: options.client_options.build_http_client()?,
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
        let response = self.http.get(self.discovery_url.clone()).send().await?;
        let status = response.status().as_u16();
        let body = read_body(response).await?;
        if !(200..300).contains(&status) {
            return Err(Error::from_response(ErrorKind::Credential, status, &body));
        }
        let doc: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
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
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose()),
            ("scope", scope),
        ];
        let response = self.http.post(endpoint).form(&form).send().await?;
        let status = response.status().as_u16();
        let body = read_body(response).await?;
        if !(200..300).contains(&status) {
            return Err(Error::from_response(ErrorKind::Credential, status, &body));
        }
        parse_token_response(&body)
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
