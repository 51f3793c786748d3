//! The data plane entry point: a [`Workspace`] (subscription, resource group, name, location,
//! data-plane endpoint and credential) and the ways to build one.
//!
//! The same ways the Azure Quantum Python client offers:
//!
//! | Python | Rust |
//! |---|---|
//! | `Workspace.from_connection_string(cs)` | [`Workspace::from_connection_string`] |
//! | `Workspace()` with `AZURE_QUANTUM_CONNECTION_STRING` | [`Workspace::from_env`] |
//! | `Workspace(resource_id=…, credential=…)` | [`Workspace::builder`]`.resource_id(…)` |
//! | `Workspace(subscription_id=…, resource_group=…, name=…)` | `.subscription_id(…).resource_group(…).name(…)` |
//! | `Workspace(name=…)` (Azure Resource Graph lookup) | `.name(…)` alone |
//!
//! ```no_run
//! # async fn demo() -> qws_client::Result<()> {
//! use qws_client::workspace::Workspace;
//! let ws = Workspace::from_env()?; // AZURE_QUANTUM_CONNECTION_STRING
//! for t in ws.targets(None).await? {
//!     println!("{} {}", t.id, t.current_availability.unwrap_or_default());
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use qws_core::connection_string::{ConnectionString, ConnectionStringError};
use qws_core::names::{ResourceGroupName, SubscriptionId, WorkspaceName};
use time::OffsetDateTime;

use crate::arm::{ArmClient, ArmClientOptions};
use crate::credentials::{
    AccessToken, BoxFuture, ClientSecretCredential, ClientSecretCredentialOptions, TokenCredential,
};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{is_safe_for_secrets, parse_url, read_body, ClientOptions};
use crate::response::Response;
use crate::secret::Secret;

/// `api-version` of the Azure Quantum data plane spoken by this crate.
pub const DEFAULT_DATA_PLANE_API_VERSION: &str = "2026-01-15-preview";
/// Token scope of the Azure Quantum data plane.
pub const QUANTUM_SCOPE: &str = "https://quantum.microsoft.com/.default";
/// The public Azure Resource Manager endpoint (default for ARM and Resource Graph lookups).
pub const AZURE_ARM_ENDPOINT: &str = "https://management.azure.com/";
/// Environment variable read by [`Workspace::from_env`].
pub const CONNECTION_STRING_ENV: &str = "AZURE_QUANTUM_CONNECTION_STRING";
/// `api-version` of the Azure Resource Graph query.
const RESOURCE_GRAPH_API_VERSION: &str = "2021-03-01";
/// Header carrying a workspace access key.
const API_KEY_HEADER: &str = "x-ms-quantum-api-key";
/// Status retries for idempotent requests (429/5xx), as azure-core's `retry_status`.
const MAX_STATUS_RETRIES: u32 = 3;
/// Longest `Retry-After` the client honours; larger values are clamped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How a [`Workspace`] authenticates to the data plane.
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

/// Options for building a [`Workspace`].
#[derive(Debug, Clone)]
pub struct WorkspaceOptions {
    /// Transport options (extra CA such as a qws server's `ca.pem`, timeout, user agent).
    pub client_options: ClientOptions,
    /// The data-plane `api-version`.
    pub api_version: String,
}

impl Default for WorkspaceOptions {
    fn default() -> Self {
        WorkspaceOptions {
            client_options: ClientOptions::default(),
            api_version: DEFAULT_DATA_PLANE_API_VERSION.to_owned(),
        }
    }
}

impl From<ClientOptions> for WorkspaceOptions {
    fn from(client_options: ClientOptions) -> Self {
        WorkspaceOptions {
            client_options,
            ..WorkspaceOptions::default()
        }
    }
}

/// A connected Azure Quantum (or qws) workspace: the client for targets, jobs, sessions and
/// quotas. Cheap to clone; clones share the connection pool and token cache.
#[derive(Clone)]
pub struct Workspace {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    subscription_id: String,
    resource_group: String,
    name: String,
    location: String,
    endpoint: url::Url,
    credential: Credential,
    pub(crate) http: reqwest::Client,
    api_version: String,
}

impl std::fmt::Debug for Workspace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspace")
            .field("subscription_id", &self.inner.subscription_id)
            .field("resource_group", &self.inner.resource_group)
            .field("name", &self.inner.name)
            .field("location", &self.inner.location)
            .field("endpoint", &self.inner.endpoint.as_str())
            .field("credential", &self.inner.credential)
            .finish()
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Other, message)
}

/// Checks the Azure host shapes the Python client's connection-string regex accepts:
/// `https://<region>[-v2].quantum[-test].azure.com/`. Other hosts (a qws server) pass unchanged.
fn check_azure_endpoint(endpoint: &str) -> Result<()> {
    let lower = endpoint.to_ascii_lowercase();
    let Some(host) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .map(|r| r.split('/').next().unwrap_or(""))
    else {
        return Ok(());
    };
    if !host.ends_with(".azure.com") {
        return Ok(());
    }
    let shaped = lower.starts_with("https://")
        && lower.ends_with(".azure.com/")
        && host.split_once('.').is_some_and(|(label, rest)| {
            let region = label.strip_suffix("-v2").unwrap_or(label);
            !region.is_empty()
                && region.chars().all(|c| c.is_ascii_alphanumeric())
                && (rest == "quantum.azure.com" || rest == "quantum-test.azure.com")
        });
    if shaped {
        Ok(())
    } else {
        Err(invalid(format!(
            "invalid connection string: an Azure QuantumEndpoint must be https://<region>[-v2].quantum.azure.com/, got '{endpoint}'"
        )))
    }
}

impl Workspace {
    /// Parses a connection string (`SubscriptionId=…;ResourceGroupName=…;WorkspaceName=…;ApiKey=…;QuantumEndpoint=…;`)
    /// with the Python client's rules (fixed key order, keys case-insensitive, every pair ending
    /// in `;`, no whitespace), additionally accepting any `http(s)://host:port/` endpoint of a qws
    /// server. Errors name the offending key; the key value never appears in them.
    pub fn from_connection_string(connection_string: &str) -> Result<Workspace> {
        Self::from_connection_string_with_options(connection_string, None)
    }

    /// [`from_connection_string`](Self::from_connection_string) with transport options.
    pub fn from_connection_string_with_options(
        connection_string: &str,
        options: Option<WorkspaceOptions>,
    ) -> Result<Workspace> {
        if connection_string.trim().is_empty() {
            return Err(invalid("invalid connection string: it is empty"));
        }
        let cs = ConnectionString::parse(connection_string).map_err(|e| match e {
            ConnectionStringError::Name(n) if n.code == "InvalidSubscriptionId" => invalid(
                format!("invalid connection string: SubscriptionId must be a GUID. {n}"),
            ),
            other => invalid(other.to_string()),
        })?;
        check_azure_endpoint(&cs.quantum_endpoint)?;
        let location = cs.azure_region().unwrap_or_else(|| "local".to_owned());
        Workspace::new(
            &cs.subscription_id.to_string(),
            cs.resource_group.as_str(),
            cs.workspace_name.as_str(),
            &location,
            &cs.quantum_endpoint,
            Credential::ApiKey(Secret::new(cs.api_key.expose())),
            options,
        )
    }

    /// Reads the connection string from `AZURE_QUANTUM_CONNECTION_STRING`.
    pub fn from_env() -> Result<Workspace> {
        Self::from_env_with_options(None)
    }

    /// [`from_env`](Self::from_env) with transport options.
    pub fn from_env_with_options(options: Option<WorkspaceOptions>) -> Result<Workspace> {
        match std::env::var(CONNECTION_STRING_ENV) {
            Ok(cs) if !cs.trim().is_empty() => {
                Self::from_connection_string_with_options(&cs, options)
            }
            _ => Err(invalid(format!(
                "the environment variable {CONNECTION_STRING_ENV} is not set"
            ))),
        }
    }

    /// A builder for the ARM-resolved ways (resource id; subscription + group + name; name alone).
    pub fn builder() -> WorkspaceBuilder {
        WorkspaceBuilder::default()
    }

    /// A workspace with every part known (no ARM lookup).
    pub fn new(
        subscription_id: &str,
        resource_group: &str,
        name: &str,
        location: &str,
        endpoint: &str,
        credential: Credential,
        options: Option<WorkspaceOptions>,
    ) -> Result<Workspace> {
        let options = options.unwrap_or_default();
        SubscriptionId::parse(subscription_id).map_err(|e| invalid(e.to_string()))?;
        ResourceGroupName::parse(resource_group).map_err(|e| invalid(e.to_string()))?;
        WorkspaceName::parse(name).map_err(|e| invalid(e.to_string()))?;
        let mut endpoint = parse_url("quantum endpoint", endpoint)?;
        if !endpoint.path().ends_with('/') {
            let path = format!("{}/", endpoint.path());
            endpoint.set_path(&path);
        }
        if !is_safe_for_secrets(&endpoint) {
            return Err(invalid(format!(
                "quantum endpoint {endpoint} must use https (http is allowed only on loopback): the credential is sent to it"
            )));
        }
        Ok(Workspace {
            inner: Arc::new(Inner {
                subscription_id: subscription_id.to_owned(),
                resource_group: resource_group.to_owned(),
                name: name.to_owned(),
                location: location.to_ascii_lowercase(),
                endpoint,
                credential,
                http: options.client_options.build_http_client()?,
                api_version: options.api_version,
            }),
        })
    }

    /// Subscription id.
    pub fn subscription_id(&self) -> &str {
        &self.inner.subscription_id
    }

    /// Resource group.
    pub fn resource_group(&self) -> &str {
        &self.inner.resource_group
    }

    /// Workspace name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Location (region), lower-case; `local` for a qws endpoint given by connection string.
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The data-plane base URL (ends in `/`).
    pub fn endpoint(&self) -> &url::Url {
        &self.inner.endpoint
    }

    /// The ARM resource id of the workspace.
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Quantum/workspaces/{}",
            self.inner.subscription_id, self.inner.resource_group, self.inner.name
        )
    }

    /// `{endpoint}subscriptions/…/workspaces/{name}/{tail…}?api-version=…`.
    pub(crate) fn url(&self, tail: &[&str]) -> Result<url::Url> {
        let mut url = self.inner.endpoint.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|_| invalid("the quantum endpoint cannot have path segments"))?;
            segments.pop_if_empty();
            segments.extend([
                "subscriptions",
                &self.inner.subscription_id,
                "resourceGroups",
                &self.inner.resource_group,
                "providers",
                "Microsoft.Quantum",
                "workspaces",
                &self.inner.name,
            ]);
            segments.extend(tail);
        }
        url.query_pairs_mut()
            .append_pair("api-version", &self.inner.api_version);
        Ok(url)
    }

    /// Resolves a `nextLink` (absolute or relative); it must stay on the endpoint's origin
    /// because the credential travels with it. The client's `api-version` replaces the link's.
    pub(crate) fn follow_url(&self, link: &str) -> Result<url::Url> {
        let mut url = self
            .inner
            .endpoint
            .join(link)
            .map_err(|e| Error::new(ErrorKind::DataConversion, format!("bad nextLink: {e}")))?;
        if !crate::http::same_origin(&url, &self.inner.endpoint) {
            return Err(Error::new(
                ErrorKind::DataConversion,
                format!("nextLink {url} leaves the workspace endpoint; refusing to follow it"),
            ));
        }
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| k != "api-version")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .append_pair("api-version", &self.inner.api_version);
        Ok(url)
    }

    /// Sends one data-plane request with the credential, retrying idempotent requests on
    /// 408/429/5xx (and any request that carries `Retry-After`) a bounded number of times.
    /// Statuses outside `ok` become an [`Error`] decoded from the service's error body.
    pub(crate) async fn send<T>(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<(&'static str, Vec<u8>)>,
        ok: &[u16],
    ) -> Result<Response<T>> {
        let idempotent = matches!(
            method,
            reqwest::Method::GET | reqwest::Method::PUT | reqwest::Method::DELETE
        );
        let mut attempt = 0u32;
        loop {
            let mut request = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .header("x-ms-client-request-id", uuid::Uuid::new_v4().to_string());
            request = match &self.inner.credential {
                Credential::ApiKey(key) => request.header(API_KEY_HEADER, key.expose()),
                Credential::Token(c) => {
                    let token = c.get_token(&[QUANTUM_SCOPE]).await?;
                    request.bearer_auth(token.token.expose())
                }
            };
            request = match &body {
                Some((content_type, bytes)) => request
                    .header(reqwest::header::CONTENT_TYPE, *content_type)
                    .body(bytes.clone()),
                None => request.header(reqwest::header::CONTENT_LENGTH, "0"),
            };
            let response = request.send().await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let bytes = read_body(response).await?;
            if ok.contains(&status) {
                return Ok(Response::new(status, headers, bytes));
            }
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
            let retryable = retry_after.is_some()
                || (idempotent && matches!(status, 408 | 429 | 500 | 502 | 503 | 504))
                || (!idempotent && matches!(status, 500 | 503 | 504));
            if retryable && attempt < MAX_STATUS_RETRIES {
                attempt += 1;
                let backoff = retry_after
                    .unwrap_or_else(|| Duration::from_millis(800 * (1 << (attempt - 1))));
                tokio::time::sleep(backoff).await;
                continue;
            }
            return Err(Error::from_response(
                ErrorKind::HttpResponse { status },
                status,
                &bytes,
            ));
        }
    }

    /// [`send`](Self::send) with a JSON body.
    pub(crate) async fn send_json<T, B: serde::Serialize>(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: &B,
        ok: &[u16],
    ) -> Result<Response<T>> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::new(
                ErrorKind::DataConversion,
                format!("cannot encode request: {e}"),
            )
        })?;
        self.send(method, url, Some(("application/json", bytes)), ok)
            .await
    }
}

/// Builds a [`Workspace`] the way the Python client's keyword constructor does: from a resource
/// id, from subscription + resource group + name, or from a name alone (looked up with an Azure
/// Resource Graph query), resolving the data-plane endpoint and location through ARM.
#[derive(Default, Debug, Clone)]
pub struct WorkspaceBuilder {
    resource_id: Option<String>,
    subscription_id: Option<String>,
    resource_group: Option<String>,
    name: Option<String>,
    location: Option<String>,
    credential: Option<Credential>,
    arm_endpoint: Option<String>,
    quantum_endpoint: Option<String>,
    options: WorkspaceOptions,
}

/// One row of the Resource Graph answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphRow {
    name: Option<String>,
    subscription_id: Option<String>,
    resource_group: Option<String>,
    location: Option<String>,
    endpoint_uri: Option<String>,
}

impl WorkspaceBuilder {
    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/Workspaces/{name}`
    /// (case-insensitive fixed segments); overrides subscription, group and name.
    pub fn resource_id(mut self, id: impl Into<String>) -> Self {
        self.resource_id = Some(id.into());
        self
    }

    /// Subscription id (a GUID).
    pub fn subscription_id(mut self, id: impl Into<String>) -> Self {
        self.subscription_id = Some(id.into());
        self
    }

    /// Resource group.
    pub fn resource_group(mut self, group: impl Into<String>) -> Self {
        self.resource_group = Some(group.into());
        self
    }

    /// Workspace name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Location; narrows a name-only lookup and is checked against ARM's answer.
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// The credential (a token credential is required for ARM and Resource Graph lookups).
    pub fn credential(mut self, credential: Credential) -> Self {
        self.credential = Some(credential);
        self
    }

    /// ARM endpoint (default `https://management.azure.com/`; a qws server's https URL).
    pub fn arm_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.arm_endpoint = Some(endpoint.into());
        self
    }

    /// The data-plane endpoint, when known: skips the ARM lookup (needs subscription, group,
    /// name and location). The Python client's private `_quantum_endpoint=`.
    pub fn quantum_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.quantum_endpoint = Some(endpoint.into());
        self
    }

    /// Transport and api-version options (used for the data plane and the ARM lookups).
    pub fn options(mut self, options: WorkspaceOptions) -> Self {
        self.options = options;
        self
    }

    /// Resolves the workspace (ARM `GET workspace`, or a Resource Graph query when subscription
    /// or group is missing) and returns the client. No data-plane request is made.
    pub async fn build(self) -> Result<Workspace> {
        let mut sub = self.subscription_id.clone();
        let mut group = self.resource_group.clone();
        let mut name = self.name.clone();
        if let Some(id) = &self.resource_id {
            let (s, g, n) = parse_resource_id(id)?;
            sub = Some(s);
            group = Some(g);
            name = Some(n);
        }
        let Some(name) = name.filter(|n| !n.is_empty()) else {
            return Err(invalid(
                "workspace not fully specified: give a resource id, subscription id + resource group + name, a name, or use a connection string",
            ));
        };
        if let Some(s) = &sub {
            SubscriptionId::parse(s).map_err(|e| invalid(e.to_string()))?;
        }
        if let Some(g) = &group {
            ResourceGroupName::parse(g).map_err(|e| invalid(e.to_string()))?;
        }
        WorkspaceName::parse(&name).map_err(|e| invalid(e.to_string()))?;
        let credential = self
            .credential
            .clone()
            .ok_or_else(|| invalid("no credential given: call .credential(…)"))?;

        // Everything known: no lookup (like the Python client's `_quantum_endpoint`).
        if let (Some(endpoint), Some(s), Some(g), Some(loc)) =
            (&self.quantum_endpoint, &sub, &group, &self.location)
        {
            return Workspace::new(s, g, &name, loc, endpoint, credential, Some(self.options));
        }
        let Credential::Token(token) = &credential else {
            return Err(invalid(
                "an API key cannot query ARM or Resource Graph: use a connection string, give quantum_endpoint and location, or pass a token credential",
            ));
        };
        let arm_endpoint = self.arm_endpoint.as_deref().unwrap_or(AZURE_ARM_ENDPOINT);
        let arm = ArmClient::new(
            arm_endpoint,
            token.clone(),
            Some(ArmClientOptions::from(self.options.client_options.clone())),
        )?;

        let (sub, group, location, endpoint) = match (sub, group) {
            (Some(s), Some(g)) => {
                let ws = arm.get_workspace(&s, &g, &name, None).await.map_err(|e| {
                    if e.status() == Some(404) {
                        Error::with_code(
                            e.kind().clone(),
                            e.code().unwrap_or("ResourceNotFound").to_owned(),
                            format!("workspace '{name}' not found in resource group '{g}' and subscription '{s}'"),
                        )
                    } else {
                        e
                    }
                })?;
                let json = ws.json()?;
                let location = json
                    .get("location")
                    .and_then(|l| l.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::DataConversion,
                            format!("ARM returned no location for workspace '{name}'"),
                        )
                    })?;
                let endpoint = json
                    .pointer("/properties/endpointUri")
                    .and_then(|l| l.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::DataConversion,
                            format!(
                                "ARM returned no properties.endpointUri for workspace '{name}'"
                            ),
                        )
                    })?;
                (s, g, location, endpoint)
            }
            (s, g) => {
                let row = resource_graph_lookup(
                    &arm,
                    token.as_ref(),
                    &self.options.client_options,
                    &name,
                    s.as_deref(),
                    g.as_deref(),
                    self.location.as_deref(),
                )
                .await?;
                row
            }
        };
        if let Some(wanted) = &self.location {
            if !normalize_location(wanted).eq_ignore_ascii_case(&location) {
                return Err(invalid(format!(
                    "workspace '{name}' is in '{location}', not in '{wanted}'"
                )));
            }
        }
        let endpoint = self.quantum_endpoint.clone().unwrap_or(endpoint);
        Workspace::new(
            &sub,
            &group,
            &name,
            &location,
            &endpoint,
            credential,
            Some(self.options),
        )
    }
}

/// `"East US"` → `eastus`, as the Python client normalises locations.
fn normalize_location(location: &str) -> String {
    location
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Splits a workspace resource id into (subscription, group, name).
pub fn parse_resource_id(id: &str) -> Result<(String, String, String)> {
    let bad = || {
        invalid(format!(
            "invalid resource id '{id}': expected /subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.Quantum/Workspaces/<name>"
        ))
    };
    let parts: Vec<&str> = id.split('/').collect();
    if parts.len() != 9
        || !parts[0].is_empty()
        || !parts[1].eq_ignore_ascii_case("subscriptions")
        || !parts[3].eq_ignore_ascii_case("resourceGroups")
        || !parts[5].eq_ignore_ascii_case("providers")
        || !parts[6].eq_ignore_ascii_case("Microsoft.Quantum")
        || !parts[7].eq_ignore_ascii_case("Workspaces")
    {
        return Err(bad());
    }
    SubscriptionId::parse(parts[2]).map_err(|e| invalid(format!("invalid resource id: {e}")))?;
    ResourceGroupName::parse(parts[4]).map_err(|e| invalid(format!("invalid resource id: {e}")))?;
    WorkspaceName::parse(parts[8]).map_err(|e| invalid(format!("invalid resource id: {e}")))?;
    Ok((
        parts[2].to_owned(),
        parts[4].to_owned(),
        parts[8].to_owned(),
    ))
}

/// Quotes a value for a Kusto string literal.
fn kusto_quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The Azure Resource Graph name lookup: returns (subscription, group, location, endpointUri).
async fn resource_graph_lookup(
    arm: &ArmClient,
    credential: &dyn TokenCredential,
    client_options: &ClientOptions,
    name: &str,
    subscription: Option<&str>,
    group: Option<&str>,
    location: Option<&str>,
) -> Result<(String, String, String, String)> {
    let mut query = format!(
        "Resources | where type =~ 'microsoft.quantum/workspaces' | where name =~ {}",
        kusto_quote(name)
    );
    if let Some(g) = group {
        query += &format!(" | where resourceGroup =~ {}", kusto_quote(g));
    }
    if let Some(l) = location {
        query += &format!(
            " | where location =~ {}",
            kusto_quote(&normalize_location(l))
        );
    }
    query += " | extend endpointUri = tostring(properties.endpointUri), workspaceKind = tostring(properties.workspaceKind) | project name, subscriptionId, resourceGroup, location, endpointUri, workspaceKind";
    let mut body = serde_json::json!({ "query": query });
    if let Some(s) = subscription {
        body["subscriptions"] = serde_json::json!([s]);
    }
    let mut url = arm.endpoint().clone();
    url.set_path("/providers/Microsoft.ResourceGraph/resources");
    url.set_query(Some(&format!("api-version={RESOURCE_GRAPH_API_VERSION}")));
    let token = credential
        .get_token(&[crate::arm::ARM_SCOPE])
        .await
        .map_err(|e| Error::new(ErrorKind::Credential, e.to_string()))?;
    let http = client_options.build_http_client()?;
    let response = http
        .post(url)
        .bearer_auth(token.token.expose())
        .json(&body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let bytes = read_body(response).await?;
    if !(200..300).contains(&status) {
        return Err(Error::from_response(
            ErrorKind::HttpResponse { status },
            status,
            &bytes,
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            format!("Resource Graph answer is not JSON: {e}"),
        )
    })?;
    let rows: Vec<GraphRow> = serde_json::from_value(
        value
            .get("data")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
    )
    .map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            format!("Resource Graph answer has no usable 'data' rows: {e}"),
        )
    })?;
    match rows.as_slice() {
        [] => Err(Error::with_code(
            ErrorKind::Other,
            "WorkspaceNotFound",
            format!("no workspace named '{name}' was found"),
        )),
        [row] => {
            let incomplete = || {
                Error::new(
                    ErrorKind::DataConversion,
                    format!("Resource Graph returned incomplete details for workspace '{name}'"),
                )
            };
            let _ = row.name.as_ref().ok_or_else(incomplete)?;
            Ok((
                row.subscription_id.clone().ok_or_else(incomplete)?,
                row.resource_group.clone().ok_or_else(incomplete)?,
                row.location.clone().ok_or_else(incomplete)?,
                row.endpoint_uri
                    .clone()
                    .filter(|e| !e.is_empty())
                    .ok_or_else(incomplete)?,
            ))
        }
        many => Err(Error::with_code(
            ErrorKind::Other,
            "AmbiguousWorkspaceName",
            format!(
                "{} workspaces are named '{name}' ({}); also give the subscription id and resource group",
                many.len(),
                many.iter()
                    .map(|r| format!(
                        "{}/{}",
                        r.subscription_id.as_deref().unwrap_or("?"),
                        r.resource_group.as_deref().unwrap_or("?")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    fn cs(endpoint: &str) -> String {
        format!("SubscriptionId={SUB};ResourceGroupName=myrg;WorkspaceName=myworkspace;ApiKey=sup3r/secret+key==;QuantumEndpoint={endpoint};")
    }

    #[test]
    fn accepts_the_canonical_azure_form_and_qws_endpoints() {
        let ws =
            Workspace::from_connection_string(&cs("https://EastUS.quantum.azure.com/")).unwrap();
        assert_eq!(ws.location(), "eastus");
        assert_eq!(ws.name(), "myworkspace");
        let url = ws.url(&["jobs", "j1"]).unwrap();
        assert_eq!(
            url.as_str(),
            format!("https://eastus.quantum.azure.com/subscriptions/{SUB}/resourceGroups/myrg/providers/Microsoft.Quantum/workspaces/myworkspace/jobs/j1?api-version=2026-01-15-preview")
        );
        let v2 = Workspace::from_connection_string(&cs("https://westus2-v2.quantum.azure.com/"))
            .unwrap();
        assert_eq!(v2.location(), "westus2");
        let local = Workspace::from_connection_string(&cs("http://127.0.0.1:8080/")).unwrap();
        assert_eq!(local.endpoint().as_str(), "http://127.0.0.1:8080/");
        assert!(Workspace::from_connection_string(
            &(cs("https://eastus.quantum.azure.com/") + "X=y")
        )
        .is_ok());
    }

    #[test]
    fn errors_are_precise_and_never_show_the_key() {
        let cases = [
            (
                cs("https://eastus.quantum.azure.com/")
                    .trim_end_matches(';')
                    .to_owned(),
                "QuantumEndpoint",
            ),
            (
                cs("https://eastus.quantum.azure.com/").replace("ResourceGroupName", "Group"),
                "ResourceGroupName",
            ),
            (
                cs("https://eastus.quantum.azure.com/").replace(SUB, "not-a-guid"),
                "GUID",
            ),
            (
                cs("https://eastus.quantum.azure.com/").replace("myworkspace", "-bad-"),
                "workspace name",
            ),
            (cs("https://eastus.evil.azure.com/"), "QuantumEndpoint"),
            (cs("https://eastus.quantum.azure.com"), "QuantumEndpoint"),
            (cs("http://example.com:80/"), "https"),
            (String::new(), "empty"),
        ];
        for (text, expected) in cases {
            let e = Workspace::from_connection_string(&text).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(
                shown.to_lowercase().contains(&expected.to_lowercase()),
                "{text}: {shown}"
            );
            assert!(!shown.contains("sup3r"), "{shown}");
        }
        let ws = Workspace::from_connection_string(&cs("http://127.0.0.1:1/")).unwrap();
        assert!(!format!("{ws:?}").contains("sup3r"));
    }

    #[test]
    fn resource_ids_parse_case_insensitively() {
        let (s, g, n) = parse_resource_id(&format!(
            "/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.quantum/Workspaces/ws1"
        ))
        .unwrap();
        assert_eq!((s.as_str(), g.as_str(), n.as_str()), (SUB, "rg", "ws1"));
        assert!(parse_resource_id("/subscriptions/x/resourceGroups/rg").is_err());
    }

    #[test]
    fn next_links_stay_on_the_endpoint_and_get_our_api_version() {
        let ws = Workspace::from_connection_string(&cs("http://127.0.0.1:9/")).unwrap();
        let u = ws
            .follow_url("/subscriptions/x/jobs?skip=100&api-version=old")
            .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:9/subscriptions/x/jobs?skip=100&api-version=2026-01-15-preview"
        );
        assert!(ws.follow_url("http://evil:9/x").is_err());
    }

    #[tokio::test]
    async fn builder_needs_a_name_and_a_token_for_lookups() {
        let e = Workspace::builder().build().await.unwrap_err();
        assert!(e.message().contains("not fully specified"));
        let e = Workspace::builder()
            .name("ws")
            .credential(Credential::api_key("k"))
            .build()
            .await
            .unwrap_err();
        assert!(e.message().contains("API key"), "{e}");
    }
}
