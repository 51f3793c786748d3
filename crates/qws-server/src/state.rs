//! [`AppState`]: what every handler shares.

use crate::audit::{AuditAction, AuditEvent, AuditLog};
use crate::auth::jwt::TokenSigner;
use crate::auth::ratelimit::FailureLimiter;
use crate::config::ServerConfig;
use crate::error::{ApiError, ApiResult};
use qws_store::{KeyCheck, Store, StoreError};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Public URLs of this server.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    /// `http://host:port` (no trailing slash).
    pub http: String,
    /// `https://host:port` (no trailing slash).
    pub https: String,
    /// `QuantumEndpoint` of connection strings (ends in `/`).
    pub quantum_endpoint: String,
    /// `properties.endpointUri` of workspaces (ends in `/`).
    pub endpoint_uri: String,
}

/// The non-secret facts created at first start.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapIds {
    /// Tenant.
    pub tenant_id: String,
    /// Subscription.
    pub subscription_id: String,
    /// Resource group.
    pub resource_group: String,
    /// Workspace.
    pub workspace_name: String,
    /// Location.
    pub location: String,
    /// Administrator client id.
    pub client_id: String,
}

impl BootstrapIds {
    /// The bootstrap workspace's id.
    pub fn workspace_id(
        &self,
    ) -> Result<qws_core::resource_id::WorkspaceId, qws_core::names::NameError> {
        qws_core::resource_id::WorkspaceId::from_parts(
            &self.subscription_id,
            &self.resource_group,
            &self.workspace_name,
        )
    }
}

/// Shared state (cheap to clone).
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<StateInner>,
}

/// The contents of [`AppState`].
pub struct StateInner {
    /// Metadata store.
    pub store: Arc<Store>,
    /// qws's own blob files (what its blob endpoint serves).
    pub blobs: Arc<qws_store::blobs::BlobStore>,
    /// Where job data lives (`--blob-backend`): the data plane and the scheduler go through it.
    pub job_data: Arc<dyn crate::planes::blob::backend::JobDataBackend>,
    /// The Azure Quantum data plane (job store, scheduler).
    pub dataplane: Arc<crate::planes::dataplane::DataPlane>,
    /// Token signer/verifier.
    pub signer: TokenSigner,
    /// Configuration.
    pub config: ServerConfig,
    /// Public URLs.
    pub urls: PublicUrls,
    /// Audit log.
    pub audit: AuditLog,
    /// Failed-authentication throttle.
    pub limiter: FailureLimiter,
    /// Bootstrap ids (tenant, subscription, administrator…).
    pub ids: BootstrapIds,
    /// The managed-identity header secret.
    pub identity_header: Zeroizing<String>,
    /// The client id `/msi/token` issues tokens for ([`crate::auth::msi_identity`]).
    pub msi_client_id: String,
    /// Which `Host` values links in answers may name.
    pub hosts: crate::host_policy::HostPolicy,
    /// Sign-ins in progress (device codes).
    pub sign_ins: crate::planes::signin::PendingSignIns,
    /// Signed-in portal sessions.
    pub portal_sessions: crate::planes::portal::session::Sessions,
    /// Portal sign-ins waiting for their callback.
    pub portal_signins: crate::planes::portal::signin::PendingSignIns,
    /// When and from where access keys were last used, noted off the request path.
    pub key_usage: Arc<crate::planes::dataplane::key_usage::KeyUsage>,
    /// Where webhooks may post.
    pub webhook_policy: Arc<crate::webhooks::destination::DestinationPolicy>,
    /// Bearer-token principals and their grants, between changes (see [`qws_store::change`]).
    pub principals: crate::auth::principal::PrincipalCache,
    /// SAS URLs of served job documents (see [`crate::planes::blob::sas::SasCache`]).
    pub job_sas: crate::planes::blob::sas::SasCache,
}

impl std::fmt::Debug for StateInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateInner")
            .field("urls", &self.urls)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

impl Deref for AppState {
    type Target = StateInner;
    fn deref(&self) -> &StateInner {
        &self.inner
    }
}

impl AppState {
    /// Wraps the state.
    pub fn new(inner: StateInner) -> AppState {
        AppState {
            inner: Arc::new(inner),
        }
    }

    /// Runs a store call on the blocking pool so handlers never block the runtime.
    pub async fn db<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ApiError::internal("blocking task", &e))?
            .map_err(ApiError::from)
    }

    /// The access-key check used by the data plane: `(workspace, presented key)` →
    /// primary / secondary / refused. Unknown workspace, disabled keys, wrong or malformed
    /// keys are all the same `Refused`, reached by the same steps
    /// ([`crate::planes::dataplane::auth::check_workspace_key`]); the stored key is compared in constant time.
    pub async fn check_api_key(
        &self,
        workspace: &qws_core::resource_id::WorkspaceId,
        presented: &str,
    ) -> ApiResult<KeyCheck> {
        let (ws, key) = (workspace.clone(), Zeroizing::new(presented.to_string()));
        self.db(move |s| {
            crate::planes::dataplane::auth::check_workspace_key(s, Some(&ws), &key).map(|(c, _)| c)
        })
        .await
    }

    /// Appends an audit event; the error is returned so key operations can fail closed.
    pub fn audit(
        &self,
        principal: &str,
        action: AuditAction,
        target: &str,
        outcome: &str,
        client: SocketAddr,
    ) -> ApiResult<()> {
        let event = AuditEvent {
            time: crate::audit::now(),
            principal: principal.to_string(),
            action,
            target: target.to_string(),
            outcome: outcome.to_string(),
            client: client.ip().to_string(),
        };
        self.audit
            .record(&event)
            .map_err(|e| ApiError::internal("audit log", &e))
    }
}
