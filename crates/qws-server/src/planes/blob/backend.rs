//! Where job data lives (`--blob-backend`), behind one narrow trait.
//!
//! The data plane (`storage/sasUri`, job documents) and the scheduler talk to a
//! [`JobDataBackend`] only: the base URL clients are given, SAS URLs for a container or blob,
//! container creation, job input/output ([`JobDataStore`]) and purging the data of deleted
//! workspaces. Two implementations:
//!
//! * [`super::namespace::NamespacedJobData`]: qws's own blob files (`local`: under the data
//!   directory; `dir:PATH`: a directory several nodes share), served by qws's blob endpoint with
//!   qws SAS ([`super::sas`]).
//! * [`super::azure::AzureJobData`]: an Azure Storage account; clients get SAS URLs signed with
//!   the account key that point at the account, so job data never passes through qws.

use qws_store::queue::{DataError, JobDataStore};
use time::OffsetDateTime;

/// A SAS URL to sign.
#[derive(Debug, Clone, Copy)]
pub struct SasRequest<'a> {
    /// Container.
    pub container: &'a str,
    /// A blob of it, or the whole container.
    pub blob: Option<&'a str>,
    /// Canonical permission letters (`racwdl` subset, in that order).
    pub permissions: &'a str,
    /// Not before.
    pub start: OffsetDateTime,
    /// Not after.
    pub expiry: OffsetDateTime,
}

/// Job data storage as the data plane and the scheduler use it.
pub trait JobDataBackend: JobDataStore {
    /// Base of the blob URLs clients get, without trailing slash: `<base>/<container>[/<blob>]`.
    fn base_url(&self) -> &str;
    /// True when qws's own blob endpoint serves the data (qws then mints and verifies the SAS
    /// itself, bound to the caller's access); false when it lives elsewhere.
    fn served_by_qws(&self) -> bool;
    /// A SAS URL signed by the storage's own key; `None` when qws signs (its own endpoint).
    fn presign(&self, req: &SasRequest<'_>) -> Option<String>;
    /// Creates `container` for the workspace (nothing if it exists). Ownership between
    /// workspaces is decided before, in the job store.
    fn create_container(&self, workspace_uid: &str, container: &str) -> Result<(), DataError>;
    /// Removes the data of blob namespaces that no longer have an owner (a deleted workspace or
    /// storage account); returns how many namespaces or containers went. Failures are logged.
    fn purge_orphans(&self) -> usize;
    /// Whether the storage answers (for `/readyz`): a cheap request that needs the account's
    /// key, or a look at the blob directory.
    fn check_reachable(&self) -> Result<(), DataError>;
    /// The same backend as the scheduler's narrower view.
    fn data_store(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn JobDataStore>;
}

/// `(container, blob)` of a URL under `base` (`<base>/<container>[/<blob>]`, scheme and host
/// compared case-insensitively, query ignored); `None` for any other URL.
pub fn locate_under(base: &str, url: &str) -> Option<(String, Option<String>)> {
    let head = url.get(..base.len())?;
    if !head.eq_ignore_ascii_case(base) {
        return None;
    }
    let path = url[base.len()..].strip_prefix('/')?;
    let path = path.split(['?', '#']).next().unwrap_or("");
    qws_store::blobs::parse_blob_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_located_under_their_base_only() {
        let base = "http://127.0.0.1:10000/devstoreaccount1";
        assert_eq!(
            locate_under(
                base,
                "http://127.0.0.1:10000/devstoreaccount1/job-1/outputData?sv=x"
            ),
            Some(("job-1".into(), Some("outputData".into())))
        );
        assert_eq!(
            locate_under(base, "HTTP://127.0.0.1:10000/devstoreaccount1/job-1"),
            Some(("job-1".into(), None))
        );
        assert_eq!(
            locate_under(base, "http://127.0.0.1:10000/other/job-1"),
            None
        );
        assert_eq!(
            locate_under(base, "http://127.0.0.1:10000/devstoreaccount1x/job-1"),
            None
        );
        assert_eq!(
            locate_under(
                base,
                "http://127.0.0.1:10000/devstoreaccount1/job-1/a/%2e%2e/b"
            ),
            None
        );
    }
}
