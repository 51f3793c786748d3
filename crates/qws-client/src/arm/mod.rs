//! The management plane: an ARM client for subscriptions, resource groups and
//! `Microsoft.Quantum/workspaces` (CRUD, access keys, name availability).
//!
//! ```no_run
//! # async fn demo() -> qws_client::Result<()> {
//! use qws_client::{arm::ArmClient, credentials::ClientSecretCredential, ClientOptions};
//! use qws_client::credentials::ClientSecretCredentialOptions;
//! let tls = ClientOptions::with_ca_file("/path/to/qws/ca.pem");
//! let credential = ClientSecretCredential::new(
//!     "https://127.0.0.1:8443", "tenant-guid", "client-id", "client-secret",
//!     Some(ClientSecretCredentialOptions { client_options: tls.clone() }),
//! )?;
//! let arm = ArmClient::new("https://127.0.0.1:8443", credential, Some(tls.into()))?;
//! let keys = arm.list_keys("sub-guid", "rg", "ws", None).await?.into_model()?;
//! println!("api keys enabled: {:?}", keys.api_key_enabled);
//! # Ok(()) }
//! ```

mod models;
mod pager;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use models::*;
pub use pager::Pager;

use crate::credentials::TokenCredential;
use crate::error::{Error, ErrorKind, Result};
use crate::http::{is_safe_for_secrets, parse_url, same_origin, ClientOptions};
use crate::pager::PageSource;
use crate::pipeline::{AuthPolicy, Pipeline, Request};
use crate::response::Response;

/// `api-version` used for `Microsoft.Quantum` calls unless overridden.
pub const DEFAULT_WORKSPACE_API_VERSION: &str = "2025-12-15-preview";
/// `api-version` used for resource-group calls.
pub const DEFAULT_RESOURCE_GROUP_API_VERSION: &str = "2021-04-01";
/// `api-version` used for subscription calls.
pub const DEFAULT_SUBSCRIPTION_API_VERSION: &str = "2022-12-01";
/// Token scope for Azure Resource Manager.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// Options for [`ArmClient::new`].
#[derive(Debug, Clone)]
pub struct ArmClientOptions {
    /// Transport options (CA file, timeout, user agent, retry rules).
    pub client_options: ClientOptions,
    /// `api-version` for `Microsoft.Quantum` calls.
    pub workspace_api_version: String,
    /// `api-version` for resource-group calls.
    pub resource_group_api_version: String,
    /// `api-version` for subscription calls.
    pub subscription_api_version: String,
    /// The token scope requested from the credential.
    pub scope: String,
    /// How long a long-running operation (create, delete) is polled before giving up.
    pub max_poll_duration: Duration,
}

impl Default for ArmClientOptions {
    fn default() -> Self {
        ArmClientOptions {
            client_options: ClientOptions::default(),
            workspace_api_version: DEFAULT_WORKSPACE_API_VERSION.to_owned(),
            resource_group_api_version: DEFAULT_RESOURCE_GROUP_API_VERSION.to_owned(),
            subscription_api_version: DEFAULT_SUBSCRIPTION_API_VERSION.to_owned(),
            scope: ARM_SCOPE.to_owned(),
            max_poll_duration: Duration::from_secs(120),
        }
    }
}

impl From<ClientOptions> for ArmClientOptions {
    fn from(client_options: ClientOptions) -> Self {
        ArmClientOptions {
            client_options,
            ..ArmClientOptions::default()
        }
    }
}

/// Per-call options accepted by every [`ArmClient`] method.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Overrides the client's `api-version` for this call.
    pub api_version: Option<String>,
    /// For long-running operations: return the first response instead of polling to completion.
    pub no_wait: bool,
}

/// Client for Azure Resource Manager (or a qws server's ARM-compatible endpoint).
///
/// Cheap to clone; clones share the HTTP connection pool and the credential's token cache.
#[derive(Clone)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: url::Url,
    /// Bearer tokens for `options.scope`; the crate's retry rules.
    pipeline: Pipeline,
    options: ArmClientOptions,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.inner.endpoint.as_str())
            .finish()
    }
}

/// States after which a long-running operation is over.
fn is_terminal(state: &str) -> bool {
    ["succeeded", "failed", "canceled", "cancelled"]
        .iter()
        .any(|t| state.eq_ignore_ascii_case(t))
}

impl ArmClient {
    /// Creates a client for the ARM endpoint (`https://management.azure.com` or a qws server's
    /// https URL). Bearer tokens are sent only over https, or http to a loopback address.
    pub fn new(
        endpoint: &str,
        credential: Arc<dyn TokenCredential>,
        options: Option<ArmClientOptions>,
    ) -> Result<Self> {
        let options = options.unwrap_or_default();
        let endpoint = parse_url("ARM endpoint", endpoint)?;
        if !is_safe_for_secrets(&endpoint) {
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "ARM endpoint {endpoint} must use https (http is allowed only on loopback)"
                ),
            ));
        }
        let auth = AuthPolicy::bearer(credential, options.scope.clone());
        let pipeline = Pipeline::new(&options.client_options, auth)?;
        Ok(ArmClient {
            inner: Arc::new(Inner {
                endpoint,
                pipeline,
                options,
            }),
        })
    }

    /// The ARM endpoint this client talks to.
    pub fn endpoint(&self) -> &url::Url {
        &self.inner.endpoint
    }

    // ---- subscriptions -------------------------------------------------------------------

    /// Lists the subscriptions the caller can see (`GET /subscriptions`).
    pub fn list_subscriptions(&self, options: Option<CallOptions>) -> Result<Pager<Subscription>> {
        let url = self.url(&["subscriptions"], self.sub_version(&options))?;
        Ok(Pager::new(self.clone(), url))
    }

    /// Gets one subscription.
    pub async fn get_subscription(
        &self,
        subscription_id: &str,
        options: Option<CallOptions>,
    ) -> Result<Response<Subscription>> {
        let url = self.url(
            &["subscriptions", subscription_id],
            self.sub_version(&options),
        )?;
        self.send(reqwest::Method::GET, url, None).await
    }

    // ---- resource groups -----------------------------------------------------------------

    fn group_url(&self, sub: &str, group: &str, options: &Option<CallOptions>) -> Result<url::Url> {
        let version = self.rg_version(options);
        self.url(&["subscriptions", sub, "resourcegroups", group], version)
    }

    /// Creates or updates a resource group (`PUT …/resourcegroups/{name}`).
    pub async fn create_or_update_resource_group(
        &self,
        subscription_id: &str,
        resource_group: &str,
        group: &ResourceGroup,
        options: Option<CallOptions>,
    ) -> Result<Response<ResourceGroup>> {
        let url = self.group_url(subscription_id, resource_group, &options)?;
        let body = to_json(group)?;
        self.send(reqwest::Method::PUT, url, Some(body)).await
    }

    /// Gets a resource group.
    pub async fn get_resource_group(
        &self,
        subscription_id: &str,
        resource_group: &str,
        options: Option<CallOptions>,
    ) -> Result<Response<ResourceGroup>> {
        let url = self.group_url(subscription_id, resource_group, &options)?;
        self.send(reqwest::Method::GET, url, None).await
    }

    /// Lists the resource groups of a subscription.
    pub fn list_resource_groups(
        &self,
        subscription_id: &str,
        options: Option<CallOptions>,
    ) -> Result<Pager<ResourceGroup>> {
        let version = self.rg_version(&options);
        let url = self.url(
            &["subscriptions", subscription_id, "resourcegroups"],
            version,
        )?;
        Ok(Pager::new(self.clone(), url))
    }

    /// Deletes a resource group and everything in it, waiting for completion unless `no_wait`.
    pub async fn delete_resource_group(
        &self,
        subscription_id: &str,
        resource_group: &str,
        options: Option<CallOptions>,
    ) -> Result<Response<()>> {
        let url = self.group_url(subscription_id, resource_group, &options)?;
        let no_wait = options.as_ref().is_some_and(|o| o.no_wait);
        self.delete_lro(url, no_wait).await
    }

    // ---- workspaces ----------------------------------------------------------------------

    fn workspace_url(
        &self,
        sub: &str,
        group: &str,
        workspace: &str,
        action: Option<&str>,
        options: &Option<CallOptions>,
    ) -> Result<url::Url> {
        let mut segments = vec![
            "subscriptions",
            sub,
            "resourceGroups",
            group,
            "providers",
            "Microsoft.Quantum",
            "workspaces",
            workspace,
        ];
        segments.extend(action);
        self.url(&segments, self.ws_version(options))
    }

    /// Gets a workspace.
    pub async fn get_workspace(
        &self,
        subscription_id: &str,
        resource_group: &str,
        workspace: &str,
        options: Option<CallOptions>,
    ) -> Result<Response<Workspace>> {
        let url = self.workspace_url(subscription_id, resource_group, workspace, None, &options)?;
        self.send(reqwest::Method::GET, url, None).await
    }

    /// Creates or replaces a workspace (`PUT`). A create is a long-running operation: unless
    /// `no_wait`, this polls `Azure-AsyncOperation` (or the resource's `provisioningState`) until
    /// it is terminal and returns the final `GET` of the workspace.
    pub async fn create_or_update_workspace(
        &self,
        subscription_id: &str,
        resource_group: &str,
        workspace: &str,
        body: &Workspace,
        options: Option<CallOptions>,
    ) -> Result<Response<Workspace>> {
        let url = self.workspace_url(subscription_id, resource_group, workspace, None, &options)?;
        let no_wait = options.as_ref().is_some_and(|o| o.no_wait);
        let first: Response<Workspace> = self
            .send(reqwest::Method::PUT, url.clone(), Some(to_json(body)?))
            .await?;
        if no_wait {
            return Ok(first);
        }
        let deadline = Instant::now() + self.inner.options.max_poll_duration;
        if let Some(status_url) = header_str(&first, "azure-asyncoperation") {
            let status_url = self.follow_url(&status_url)?;
            self.poll_operation_status(status_url, retry_after(&first), deadline)
                .await?;
            return self.send(reqwest::Method::GET, url, None).await;
        }
        // No status URL: the resource's own provisioningState tells when it is done.
        let mut current = first;
        loop {
            let state = current
                .json()?
                .pointer("/properties/provisioningState")
                .and_then(|s| s.as_str())
                .map(str::to_owned);
            match state {
                None => return Ok(current),
                Some(s) if is_terminal(&s) => {
                    if s.eq_ignore_ascii_case("succeeded") {
                        return Ok(current);
                    }
                    return Err(Error::with_code(
                        ErrorKind::HttpResponse {
                            status: current.status(),
                        },
                        "ProvisioningFailed",
                        format!("workspace '{workspace}' provisioning ended in state {s}"),
                    ));
                }
                Some(_) => {}
            }
            wait(retry_after(&current), deadline).await?;
            current = self.send(reqwest::Method::GET, url.clone(), None).await?;
        }
    }

    /// Replaces a workspace's tags (`PATCH {"tags":…}`).
    pub async fn update_workspace_tags(
        &self,
        subscription_id: &str,
        resource_group: &str,
        workspace: &str,
        tags: &std::collections::BTreeMap<String, String>,
        options: Option<CallOptions>,
    ) -> Result<Response<Workspace>> {
        let url = self.workspace_url(subscription_id, resource_group, workspace, None, &options)?;
        let body = serde_json::json!({ "tags": tags });
        self.send(reqwest::Method::PATCH, url, Some(body)).await
    }

    /// Deletes a workspace, waiting for completion unless `no_wait`. Deleting a workspace that
    /// does not exist succeeds (ARM answers 204).
    pub async fn delete_workspace(
        &self,
        subscription_id: &str,
        resource_group: &str,
        workspace: &str,
        options: Option<CallOptions>,
    ) -> Result<Response<()>> {
        let url = self.workspace_url(subscription_id, resource_group, workspace, None, &options)?;
        let no_wait = options.as_ref().is_some_and(|o| o.no_wait);
        self.delete_lro(url, no_wait).await
    }

    /// Lists the workspaces of a subscription.
    pub fn list_workspaces_by_subscription(
        &self,
        subscription_id: &str,
        options: Option<CallOptions>,
    ) -> Result<Pager<Workspace>> {
        let segments = [
            "subscriptions",
            subscription_id,
            "providers",
            "Microsoft.Quantum",
            "workspaces",
        ];
        let url = self.url(&segments, self.ws_version(&options))?;
        Ok(Pager::new(self.clone(), url))
    }

    /// Lists the workspaces of a resource group.
    pub fn list_workspaces_by_resource_group(
        &self,
        subscription_id: &str,
        resource_group: &str,
        options: Option<CallOptions>,
    ) -> Result<Pager<Workspace>> {
        let segments = [
            "subscriptions",
            subscription_id,
            "resourceGroups",
            resource_group,
            "providers",
            "Microsoft.Quantum",
            "workspaces",
        ];
        let url = self.url(&segments, self.ws_version(&options))?;
        Ok(Pager::new(self.clone(), url))
    }

    /// Lists a workspace's access keys and connection strings (`POST …/listKeys`).
    pub async fn list_keys(
        &self,
        subscription_id: &str,
        resource_group: &str,
        workspace: &str,
        options: Option<CallOptions>,
    ) -> Result<Response<ListKeysResult>> {
        let url = self.workspace_url(
            subscription_id,
            resource_group,
            workspace,
            Some("listKeys"),
            &options,
        )?;
        self.send(reqwest::Method::POST, url, None).await
    }

    /// Regenerates one or both access keys (`POST …/regenerateKey {"keys":[…]}`, 204). The old
    /// key stops working immediately.
    pub async fn regenerate_keys(
        &self,
        subscription_id: &str,
        resource_group: &str,
        workspace: &str,
        keys: &[KeyType],
        options: Option<CallOptions>,
    ) -> Result<Response<()>> {
        let url = self.workspace_url(
            subscription_id,
            resource_group,
            workspace,
            Some("regenerateKey"),
            &options,
        )?;
        let body = serde_json::json!({ "keys": keys });
        self.send(reqwest::Method::POST, url, Some(body)).await
    }

    /// Checks whether a workspace name is available in a region.
    pub async fn check_name_availability(
        &self,
        subscription_id: &str,
        location: &str,
        name: &str,
        options: Option<CallOptions>,
    ) -> Result<Response<CheckNameAvailabilityResult>> {
        let segments = [
            "subscriptions",
            subscription_id,
            "providers",
            "Microsoft.Quantum",
            "locations",
            location,
            "checkNameAvailability",
        ];
        let url = self.url(&segments, self.ws_version(&options))?;
        let body = serde_json::json!({ "name": name, "type": "Microsoft.Quantum/Workspaces" });
        self.send(reqwest::Method::POST, url, Some(body)).await
    }

    // ---- plumbing ------------------------------------------------------------------------

    fn ws_version<'a>(&'a self, options: &'a Option<CallOptions>) -> &'a str {
        call_version(options).unwrap_or(&self.inner.options.workspace_api_version)
    }

    fn rg_version<'a>(&'a self, options: &'a Option<CallOptions>) -> &'a str {
        call_version(options).unwrap_or(&self.inner.options.resource_group_api_version)
    }

    fn sub_version<'a>(&'a self, options: &'a Option<CallOptions>) -> &'a str {
        call_version(options).unwrap_or(&self.inner.options.subscription_api_version)
    }

    /// `{endpoint}/{segments…}?api-version=…`, each segment percent-encoded so a name can never
    /// change the path's shape.
    fn url(&self, segments: &[&str], api_version: &str) -> Result<url::Url> {
        for s in segments {
            if s.is_empty() || *s == "." || *s == ".." {
                return Err(Error::new(
                    ErrorKind::Other,
                    format!("invalid name '{s}' in resource path"),
                ));
            }
        }
        let mut url = self.inner.endpoint.clone();
        url.set_query(None);
        url.set_fragment(None);
        url.path_segments_mut()
            .map_err(|_| Error::new(ErrorKind::Other, "ARM endpoint cannot be a base URL"))?
            .pop_if_empty()
            .extend(segments);
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url)
    }

    /// Resolves a server-provided URL (nextLink, polling URL) and checks it stays on our origin,
    /// since the bearer token is sent to it.
    pub(crate) fn follow_url(&self, link: &str) -> Result<url::Url> {
        let url = self.inner.endpoint.join(link).map_err(|e| {
            Error::new(
                ErrorKind::DataConversion,
                format!("invalid link '{link}': {e}"),
            )
        })?;
        if !same_origin(&url, &self.inner.endpoint) {
            return Err(Error::new(
                ErrorKind::DataConversion,
                format!(
                    "the service sent a link to another origin ({url}); not following it with credentials"
                ),
            ));
        }
        Ok(url)
    }

    /// Sends one authenticated request through the pipeline (which retries as
    /// [`crate::retry`] describes); non-2xx answers become [`Error`]s with the service's code and
    /// message.
    pub(crate) async fn send<T>(
        &self,
        method: reqwest::Method,
        url: url::Url,
        body: Option<serde_json::Value>,
    ) -> Result<Response<T>> {
        let mut request = Request::new(method, url).header("accept", "application/json");
        if let Some(body) = &body {
            request = request.json(body)?;
        }
        let response = self.inner.pipeline.send(request).await?;
        if !response.is_success() {
            let status = response.status;
            return Err(response.into_error(ErrorKind::HttpResponse { status }));
        }
        Ok(response.into_response())
    }

    /// DELETE with ARM's long-running semantics: 200/204 are final; 202 is polled through
    /// `Azure-AsyncOperation` (status resource) or `Location` (until it stops answering 202).
    async fn delete_lro(&self, url: url::Url, no_wait: bool) -> Result<Response<()>> {
        let first: Response<()> = self.send(reqwest::Method::DELETE, url, None).await?;
        if no_wait || first.status() != 202 {
            return Ok(first);
        }
        let deadline = Instant::now() + self.inner.options.max_poll_duration;
        if let Some(status_url) = header_str(&first, "azure-asyncoperation") {
            let status_url = self.follow_url(&status_url)?;
            self.poll_operation_status(status_url, retry_after(&first), deadline)
                .await?;
            return Ok(first);
        }
        let Some(location) = header_str(&first, "location") else {
            return Ok(first);
        };
        let location = self.follow_url(&location)?;
        let mut delay = retry_after(&first);
        loop {
            wait(delay, deadline).await?;
            let poll: Response<()> = self
                .send(reqwest::Method::GET, location.clone(), None)
                .await?;
            if poll.status() != 202 {
                return Ok(poll.cast());
            }
            delay = retry_after(&poll);
        }
    }

    /// Polls an `Azure-AsyncOperation` status resource until `status` is terminal.
    async fn poll_operation_status(
        &self,
        url: url::Url,
        mut delay: Duration,
        deadline: Instant,
    ) -> Result<()> {
        loop {
            wait(delay, deadline).await?;
            let poll: Response<()> = self.send(reqwest::Method::GET, url.clone(), None).await?;
            let body = poll.json()?;
            let status = body.get("status").and_then(|s| s.as_str()).unwrap_or("");
            if status.eq_ignore_ascii_case("succeeded") {
                return Ok(());
            }
            if is_terminal(status) {
                let code = body
                    .pointer("/error/code")
                    .and_then(|c| c.as_str())
                    .unwrap_or("OperationFailed");
                let message = body
                    .pointer("/error/message")
                    .and_then(|m| m.as_str())
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("the operation ended with status {status}"));
                return Err(Error::with_code(
                    ErrorKind::HttpResponse {
                        status: poll.status(),
                    },
                    code,
                    message,
                ));
            }
            delay = retry_after(&poll);
        }
    }
}

impl crate::pager::sealed::Sealed for ArmClient {}

impl PageSource for ArmClient {
    async fn get_page(&self, url: url::Url) -> Result<serde_json::Value> {
        self.send::<()>(reqwest::Method::GET, url, None)
            .await?
            .json()
    }

    fn follow_link(&self, link: &str) -> Result<url::Url> {
        self.follow_url(link)
    }
}

fn call_version(options: &Option<CallOptions>) -> Option<&str> {
    options.as_ref().and_then(|o| o.api_version.as_deref())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| {
        Error::new(
            ErrorKind::DataConversion,
            format!("cannot encode request: {e}"),
        )
    })
}

fn header_str<T>(response: &Response<T>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Longest pause between two polls of a long-running operation, whatever `Retry-After` says.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);

/// The pause before the next poll of a long-running operation: the answer's `Retry-After` (read
/// as the retry policy reads it) capped at 10 s, else 1 s. Polling is not retrying: the
/// operation is progressing, and `max_poll_duration` bounds the whole wait.
fn retry_after<T>(response: &Response<T>) -> Duration {
    crate::retry::retry_after(response.headers(), time::OffsetDateTime::now_utc())
        .map(|d| d.min(MAX_POLL_INTERVAL))
        .unwrap_or(Duration::from_secs(1))
}

/// Sleeps before the next poll, or fails if that would pass the deadline.
async fn wait(delay: Duration, deadline: Instant) -> Result<()> {
    if Instant::now() + delay > deadline {
        return Err(Error::with_code(
            ErrorKind::Io,
            "OperationTimedOut",
            "the long-running operation did not finish in time",
        ));
    }
    tokio::time::sleep(delay).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{AccessToken, BoxFuture};

    struct NoToken;
    impl TokenCredential for NoToken {
        fn get_token<'a>(&'a self, _: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken>> {
            Box::pin(async { Err(Error::new(ErrorKind::Credential, "none")) })
        }
    }

    fn client(endpoint: &str) -> ArmClient {
        ArmClient::new(endpoint, Arc::new(NoToken), None).unwrap()
    }

    #[test]
    fn builds_encoded_resource_urls() {
        let c = client("https://127.0.0.1:8443/");
        let u = c
            .workspace_url("s", "my rg", "a/b", Some("listKeys"), &None)
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://127.0.0.1:8443/subscriptions/s/resourceGroups/my%20rg/providers/Microsoft.Quantum/workspaces/a%2Fb/listKeys?api-version=2025-12-15-preview"
        );
        assert!(c.url(&["subscriptions", ".."], "v").is_err());
        let opts = Some(CallOptions {
            api_version: Some("2023-11-13-preview".into()),
            no_wait: false,
        });
        assert!(c
            .workspace_url("s", "g", "w", None, &opts)
            .unwrap()
            .as_str()
            .ends_with("=2023-11-13-preview"));
        let prefixed = client("https://h/arm");
        assert_eq!(
            prefixed.group_url("s", "g", &None).unwrap().as_str(),
            "https://h/arm/subscriptions/s/resourcegroups/g?api-version=2021-04-01"
        );
    }

    #[test]
    fn links_must_stay_on_the_endpoint_origin() {
        let c = client("https://127.0.0.1:8443");
        assert!(c.follow_url("https://127.0.0.1:8443/next?x=1").is_ok());
        assert!(c.follow_url("/relative?x=1").is_ok());
        assert!(c.follow_url("https://evil.example/steal").is_err());
        assert!(c.follow_url("http://127.0.0.1:8443/downgrade").is_err());
    }

    #[test]
    fn refuses_clear_text_remote_endpoints() {
        assert!(ArmClient::new("http://management.example", Arc::new(NoToken), None).is_err());
    }

    struct StaticToken;
    impl TokenCredential for StaticToken {
        fn get_token<'a>(&'a self, _: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken>> {
            Box::pin(async {
                Ok(AccessToken {
                    token: crate::Secret::new("t"),
                    expires_on: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
                })
            })
        }
    }

    /// A loopback peer answering the `statuses` in order; 429 and 503 carry `Retry-After: 0`.
    async fn scripted_peer(statuses: Vec<u16>) -> crate::test_peer::Peer {
        use crate::test_peer::{error_body, reply, serve};
        let replies = statuses
            .into_iter()
            .map(|status| {
                let body = if status == 200 {
                    r#"{"location":"eastus","properties":{}}"#.to_owned()
                } else {
                    error_body(status)
                };
                let retry_after: &[(&str, &str)] = if status == 429 || status == 503 {
                    &[("retry-after", "0")]
                } else {
                    &[]
                };
                reply(status, retry_after, &body)
            })
            .collect();
        serve(replies).await
    }

    #[tokio::test]
    async fn throttled_and_unavailable_answers_are_retried_a_bounded_number_of_times() {
        let peer = scripted_peer(vec![503, 429, 200]).await;
        let c = ArmClient::new(&peer.url, Arc::new(StaticToken), None).unwrap();
        let ws = c.get_workspace("s", "g", "w", None).await.unwrap();
        assert_eq!(ws.into_model().unwrap().location, "eastus");
        assert_eq!(peer.requests().len(), 3);

        let peer = scripted_peer(vec![429; 5]).await;
        let c = ArmClient::new(&peer.url, Arc::new(StaticToken), None).unwrap();
        let e = c.list_keys("s", "g", "w", None).await.unwrap_err();
        assert_eq!((e.status(), e.code()), (Some(429), Some("S429")));
        assert_eq!(peer.requests().len(), 4, "one try plus three retries");

        let peer = scripted_peer(vec![404, 200]).await;
        let c = ArmClient::new(&peer.url, Arc::new(StaticToken), None).unwrap();
        let e = c.get_workspace("s", "g", "w", None).await.unwrap_err();
        assert_eq!(e.code(), Some("S404"));
        assert_eq!(peer.requests().len(), 1, "other errors are not retried");
    }

    #[tokio::test]
    async fn arm_follows_the_shared_retry_rules() {
        use crate::test_peer::{error_body, reply, serve};
        let ok = || reply(200, &[], r#"{"location":"eastus","properties":{}}"#);
        // A GET answered 500 or 502 is retried (the old ARM-only rules retried just 429/503).
        let peer = serve(vec![reply(500, &[], &error_body(500)), ok()]).await;
        let c = ArmClient::new(&peer.url, Arc::new(StaticToken), None).unwrap();
        c.get_workspace("s", "g", "w", None).await.unwrap();
        assert_eq!(peer.requests().len(), 2);
        // A POST throttled without Retry-After may have been applied: not repeated.
        let peer = serve(vec![reply(429, &[], &error_body(429)), ok()]).await;
        let c = ArmClient::new(&peer.url, Arc::new(StaticToken), None).unwrap();
        let e = c.list_keys("s", "g", "w", None).await.unwrap_err();
        assert_eq!((e.status(), peer.requests().len()), (Some(429), 1));
        // Retry-After as an HTTP-date is understood (one in the past means "retry now").
        let dated = reply(
            503,
            &[("retry-after", "Thu, 01 Jan 2026 00:00:00 GMT")],
            &error_body(503),
        );
        let peer = serve(vec![dated, ok()]).await;
        let c = ArmClient::new(&peer.url, Arc::new(StaticToken), None).unwrap();
        let e = c
            .check_name_availability("s", "eastus", "n", None)
            .await
            .map(|_| ());
        assert!(e.is_ok(), "{e:?}");
        assert_eq!(peer.requests().len(), 2);
    }

    #[tokio::test]
    async fn credential_errors_surface_before_any_request() {
        let c = client("https://127.0.0.1:9");
        let e = c.get_workspace("s", "g", "w", None).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Credential);
    }
}
