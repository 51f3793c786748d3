//! Job data in an Azure Storage account (`--blob-backend azure`; Azurite in tests).
//!
//! Clients get service SAS URLs signed with the account key that point at the account itself,
//! so job data never passes through qws; the scheduler reads inputs and writes outputs with
//! SharedKey requests ([`client`]). Each container qws creates carries the metadata
//! `qwsnamespace=<blob namespace>` and `qwsdeployment=<tenant id>`, which is how a deleted
//! workspace's containers are found and purged, and never another deployment's sharing the
//! account (container names stay exactly what the client asked for, `job-<id>`).

pub mod account;
pub mod client;

use super::backend::{JobDataBackend, SasRequest};
use account::{Account, SasScope};
use client::BlobClient;
use qws_store::queue::{DataError, Input, JobDataStore};
use qws_store::Store;
use std::future::Future;
use std::sync::Arc;

/// The container metadata naming the blob namespace a container belongs to.
pub const NAMESPACE_METADATA: &str = "qwsnamespace";
/// The container metadata naming the qws deployment (its tenant id) that created it.
pub const DEPLOYMENT_METADATA: &str = "qwsdeployment";

/// How long `/readyz` waits for the storage account.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// [`JobDataBackend`] over a storage account.
#[derive(Clone)]
pub struct AzureJobData {
    store: Arc<Store>,
    client: BlobClient,
    runtime: tokio::runtime::Handle,
    /// This deployment's tenant id (shared by the nodes of one database).
    deployment: String,
}

impl std::fmt::Debug for AzureJobData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureJobData")
            .field("account", self.client.account())
            .finish_non_exhaustive()
    }
}

impl AzureJobData {
    /// Connects to the account and checks that its key is accepted (a container listing), so
    /// a wrong connection string stops `qws serve` at start rather than failing every job.
    /// Call from within the runtime; the sync methods must then run on blocking threads.
    pub async fn connect(
        store: Arc<Store>,
        account: Account,
        deployment: String,
    ) -> anyhow::Result<AzureJobData> {
        let client = BlobClient::new(account)?;
        client.list_containers().await.map_err(|e| {
            anyhow::anyhow!(
                "the blob storage account {} at {} is not usable: {e}",
                client.account().name(),
                client.account().blob_endpoint()
            )
        })?;
        Ok(AzureJobData {
            store,
            client,
            runtime: tokio::runtime::Handle::current(),
            deployment,
        })
    }

    /// Runs a request from a blocking thread (the trait is synchronous, like the file store).
    fn block_on<T>(&self, f: impl Future<Output = T>) -> T {
        self.runtime.block_on(f)
    }

    fn namespace(&self, workspace_uid: &str) -> Result<String, DataError> {
        Ok(self
            .store
            .blob_namespace(workspace_uid)?
            .unwrap_or_else(|| workspace_uid.to_string()))
    }
}

impl JobDataStore for AzureJobData {
    fn read_input(
        &self,
        _workspace_uid: &str,
        container: &str,
        blob: &str,
        max_bytes: u64,
    ) -> Result<Input, DataError> {
        self.block_on(async {
            let Some(info) = self.client.blob_info(container, blob).await? else {
                return Ok(Input::NotFound);
            };
            if info.length > max_bytes {
                return Ok(Input::TooLarge(info.length));
            }
            match self.client.get_blob(container, blob, max_bytes).await? {
                Some(data) => Ok(Input::Found {
                    data,
                    content_encoding: info.content_encoding,
                }),
                None => Ok(Input::NotFound),
            }
        })
    }

    fn write_output(
        &self,
        _workspace_uid: &str,
        container: &str,
        blob: &str,
        data: &[u8],
    ) -> Result<(), DataError> {
        self.block_on(
            self.client
                .put_blob(container, blob, data.to_vec(), "application/json"),
        )?;
        Ok(())
    }

    fn locate(&self, url: &str) -> Option<(String, Option<String>)> {
        super::backend::locate_under(self.client.account().blob_endpoint(), url)
            .or_else(|| qws_store::blobs::parse_blob_url(url))
    }
}

impl JobDataBackend for AzureJobData {
    fn base_url(&self) -> &str {
        self.client.account().blob_endpoint()
    }

    fn served_by_qws(&self) -> bool {
        false
    }

    fn presign(&self, req: &SasRequest<'_>) -> Option<String> {
        let query = self.client.account().sas_query(&SasScope {
            container: req.container,
            blob: req.blob,
            permissions: req.permissions,
            start: req.start,
            expiry: req.expiry,
        });
        let path = match req.blob {
            Some(b) => format!("{}/{}", req.container, super::sas::encode_blob_path(b)),
            None => req.container.to_string(),
        };
        Some(format!("{}/{path}?{query}", self.base_url()))
    }

    fn create_container(&self, workspace_uid: &str, container: &str) -> Result<(), DataError> {
        let namespace = self.namespace(workspace_uid)?;
        self.block_on(self.client.create_container(
            container,
            &[
                (NAMESPACE_METADATA, &namespace),
                (DEPLOYMENT_METADATA, &self.deployment),
            ],
        ))?;
        Ok(())
    }

    fn purge_orphans(&self) -> usize {
        let containers = match self.block_on(self.client.list_containers()) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "listing the storage account's containers failed");
                return 0;
            }
        };
        let mut purged = 0;
        let mut in_use = std::collections::BTreeMap::new();
        for c in containers {
            let ours = c.metadata.get(DEPLOYMENT_METADATA) == Some(&self.deployment);
            let Some(ns) = c.metadata.get(NAMESPACE_METADATA).filter(|_| ours) else {
                continue; // not a container of this deployment
            };
            let used = match in_use.get(ns) {
                Some(u) => *u,
                None => match self.store.blob_namespace_in_use(ns) {
                    Ok(u) => *in_use.entry(ns.clone()).or_insert(u),
                    Err(e) => {
                        tracing::warn!(error = %e, "workspace lookup failed");
                        continue;
                    }
                },
            };
            if used {
                continue;
            }
            match self.block_on(self.client.delete_container(&c.name)) {
                Ok(_) => purged += 1,
                Err(e) => tracing::warn!(error = %e, "purging a job container failed"),
            }
        }
        purged
    }

    fn check_reachable(&self) -> Result<(), DataError> {
        // A probe must answer quickly even when the account hangs (the client's own timeout
        // is sized for large blobs).
        self.block_on(async {
            tokio::time::timeout(READINESS_TIMEOUT, self.client.ping())
                .await
                .map_err(|_| "the storage account did not answer in time")?
                .map_err(DataError::from)
        })
    }

    fn data_store(self: Arc<Self>) -> Arc<dyn JobDataStore> {
        self
    }
}
