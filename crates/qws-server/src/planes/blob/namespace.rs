//! Job data as the scheduler reads and writes it, in the blob namespace of the job's workspace
//! ([`qws_store::Store::blob_namespace`]): the scheduler names a workspace, this resolves where
//! that workspace's data lives. It is the [`JobDataBackend`] of `--blob-backend local` and
//! `dir:PATH`: qws's own blob endpoint serves the data, with SAS qws mints itself.

use super::backend::{JobDataBackend, SasRequest};
use qws_store::blobs::BlobStore;
use qws_store::queue::{DataError, Input, JobDataStore};
use qws_store::Store;
use std::sync::Arc;

/// [`JobDataStore`] over the blob store, addressing each workspace's namespace.
#[derive(Clone)]
pub struct NamespacedJobData {
    store: Arc<Store>,
    blobs: Arc<BlobStore>,
    /// Public base of qws's blob URLs (see [`super::sas::blob_base_url`]).
    base_url: String,
    /// The HTTP listener's own URL, which also reaches the blob endpoint.
    listener_url: String,
}

impl std::fmt::Debug for NamespacedJobData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespacedJobData").finish_non_exhaustive()
    }
}

impl NamespacedJobData {
    /// Job data in `blobs`, namespaces resolved through `store`, reached by clients at
    /// `base_url` (or the listener's own `listener_url`).
    pub fn new(
        store: Arc<Store>,
        blobs: Arc<BlobStore>,
        base_url: String,
        listener_url: String,
    ) -> NamespacedJobData {
        NamespacedJobData {
            store,
            blobs,
            base_url: base_url.trim_end_matches('/').to_string(),
            listener_url: listener_url.trim_end_matches('/').to_string(),
        }
    }

    /// The listener's own URL (it reaches the blob endpoint too).
    pub fn listener_url(&self) -> &str {
        &self.listener_url
    }

    fn namespace(&self, workspace_uid: &str) -> Result<String, DataError> {
        Ok(self
            .store
            .blob_namespace(workspace_uid)?
            .unwrap_or_else(|| workspace_uid.to_string()))
    }
}

impl JobDataStore for NamespacedJobData {
    fn read_input(
        &self,
        workspace_uid: &str,
        container: &str,
        blob: &str,
        max_bytes: u64,
    ) -> Result<Input, DataError> {
        let ns = self.namespace(workspace_uid)?;
        self.blobs.read_input(&ns, container, blob, max_bytes)
    }

    fn write_output(
        &self,
        workspace_uid: &str,
        container: &str,
        blob: &str,
        data: &[u8],
    ) -> Result<(), DataError> {
        let ns = self.namespace(workspace_uid)?;
        self.blobs.write_output(&ns, container, blob, data)
    }

    fn locate(&self, url: &str) -> Option<(String, Option<String>)> {
        super::backend::locate_under(&self.base_url, url)
            .or_else(|| super::backend::locate_under(&self.listener_url, url))
            .or_else(|| qws_store::blobs::parse_blob_url(url))
    }
}

impl JobDataBackend for NamespacedJobData {
    fn base_url(&self) -> &str {
        &self.base_url
    }

    fn served_by_qws(&self) -> bool {
        true
    }

    fn presign(&self, _req: &SasRequest<'_>) -> Option<String> {
        None
    }

    fn create_container(&self, workspace_uid: &str, container: &str) -> Result<(), DataError> {
        let ns = self.namespace(workspace_uid)?;
        self.blobs.create_container(&ns, container)?;
        Ok(())
    }

    fn purge_orphans(&self) -> usize {
        super::purge_orphans(&self.store, &self.blobs)
    }

    fn check_reachable(&self) -> Result<(), DataError> {
        self.blobs.workspace_uids()?;
        Ok(())
    }

    fn data_store(self: Arc<Self>) -> Arc<dyn JobDataStore> {
        self
    }
}
