//! The data plane entry point: a [`Workspace`] (subscription, resource group, name, location,
//! data-plane endpoint and credential) and the ways to build one.
//!
//! This module holds the workspace itself and the connection-string ways; the ARM-resolved ways
//! are in [`WorkspaceBuilder`] (module `builder`), whose name-only lookup queries Azure Resource
//! Graph (module `resource_graph`).
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

mod builder;
mod resource_graph;

use std::sync::Arc;

use qws_core::connection_string::{ConnectionString, ConnectionStringError};
use qws_core::names::{ResourceGroupName, SubscriptionId, WorkspaceName};

pub use crate::credentials::{Credential, StaticTokenCredential};
pub use builder::{parse_resource_id, WorkspaceBuilder};

use crate::error::{Error, ErrorKind, Result};
use crate::http::{is_safe_for_secrets, parse_url, ClientOptions};
use crate::pager::PageSource;
use crate::pipeline::{AuthPolicy, Pipeline, Request};
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
/// Header carrying a workspace access key.
const API_KEY_HEADER: &str = "x-ms-quantum-api-key";

/// Pages of a data-plane list operation (`nextLink` must stay on the workspace endpoint's
/// origin, because the credential travels with it).
pub type Pager<T> = crate::pager::Pager<T, Workspace>;

/// Options for building a [`Workspace`].
#[derive(Debug, Clone)]
pub struct WorkspaceOptions {
    /// Transport options (extra CA such as a qws server's `ca.pem`, timeout, retries…).
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
    /// Data-plane calls: the credential and the crate's retry rules.
    pipeline: Pipeline,
    /// Blob transfers: the same connection pool and retry rules, no credential (the SAS URL
    /// authorizes them, and the workspace credential must not reach storage).
    pub(crate) blob_pipeline: Pipeline,
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

pub(super) fn invalid(message: impl Into<String>) -> Error {
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
        let auth = match &credential {
            Credential::ApiKey(key) => AuthPolicy::ApiKey {
                header: API_KEY_HEADER,
                key: key.clone(),
            },
            Credential::Token(token) => AuthPolicy::bearer(token.clone(), QUANTUM_SCOPE),
        };
        let pipeline = Pipeline::new(&options.client_options, auth)?;
        let blob_pipeline = pipeline.anonymous();
        Ok(Workspace {
            inner: Arc::new(Inner {
                subscription_id: subscription_id.to_owned(),
                resource_group: resource_group.to_owned(),
                name: name.to_owned(),
                location: location.to_ascii_lowercase(),
                endpoint,
                credential,
                pipeline,
                blob_pipeline,
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

    /// Sends one data-plane request through the workspace's pipeline (credential, retries as
    /// [`crate::retry`] describes). Statuses outside `ok` become an [`Error`] decoded from the
    /// service's error body.
    pub(crate) async fn send<T>(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<(&'static str, Vec<u8>)>,
        ok: &[u16],
    ) -> Result<Response<T>> {
        let mut request = Request::new(method, url).header("accept", "application/json");
        if let Some((content_type, bytes)) = body {
            request = request.body(content_type, bytes);
        }
        self.send_request(request, ok).await
    }

    /// [`send`](Self::send) with a JSON body.
    pub(crate) async fn send_json<T, B: serde::Serialize>(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: &B,
        ok: &[u16],
    ) -> Result<Response<T>> {
        let request = Request::new(method, url)
            .header("accept", "application/json")
            .json(body)?;
        self.send_request(request, ok).await
    }

    /// [`send`](Self::send) of a request built by the caller (extra headers).
    pub(crate) async fn send_request<T>(
        &self,
        request: Request,
        ok: &[u16],
    ) -> Result<Response<T>> {
        self.inner.pipeline.send(request).await?.expect(ok)
    }
}

impl crate::pager::sealed::Sealed for Workspace {}

impl PageSource for Workspace {
    async fn get_page(&self, url: url::Url) -> Result<serde_json::Value> {
        self.send::<()>(reqwest::Method::GET, url, None, &[200])
            .await?
            .json()
    }

    fn follow_link(&self, link: &str) -> Result<url::Url> {
        // The client's `api-version` replaces the link's, as the Python client does.
        self.follow_url(link)
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
}
