//! Job data as the scheduler reads and writes it, in the blob namespace of the job's workspace
//! ([`qws_store::Store::blob_namespace`]): the scheduler names a workspace, this resolves where
//! that workspace's data lives.

use qws_store::blobs::BlobStore;
use qws_store::queue::{DataError, Input, JobDataStore};
use qws_store::Store;
use std::sync::Arc;

/// [`JobDataStore`] over the blob store, addressing each workspace's namespace.
#[derive(Clone)]
pub struct NamespacedJobData {
    store: Arc<Store>,
    blobs: Arc<BlobStore>,
}

impl std::fmt::Debug for NamespacedJobData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespacedJobData").finish_non_exhaustive()
    }
}

impl NamespacedJobData {
    /// Job data in `blobs`, namespaces resolved through `store`.
    pub fn new(store: Arc<Store>, blobs: Arc<BlobStore>) -> NamespacedJobData {
        NamespacedJobData { store, blobs }
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
}
