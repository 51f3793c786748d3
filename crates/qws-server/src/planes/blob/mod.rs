//! The Azure Blob subset that job data travels through.
//!
//! * [`sas`]: minting and verifying qws shared access signatures, and parsing blob URLs.
//! * [`service`]: the blob handlers (Put Blob, Put Block, Put Block List, Get Blob, Get Blob
//!   Properties, Delete Blob, List Blobs, container create/properties/delete), mounted as the
//!   router's fallback for requests that look like blob requests ([`is_blob_request`]).
//! * [`error`]: storage XML errors; [`xml`]: List Blobs output and the block-list parser.
//! * [`backend`]: where job data lives (`--blob-backend`), the one interface the data plane and
//!   the scheduler use; [`namespace`] is qws's own files (`local`, `dir:PATH`), [`azure`] an
//!   Azure Storage account that clients reach directly (the handlers here then answer that the
//!   data lives elsewhere).
//!
//! Data lives in [`qws_store::blobs::BlobStore`] under `<data dir>/blobs/<namespace>/…`, where the
//! namespace is the workspace's storage account (or the workspace itself, when it names no qws
//! storage account), decided in one place, [`qws_store::Store::blob_namespace`]. The workspace
//! comes only from a verified SAS, so a SAS never reaches data outside its workspace's namespace.

pub mod azure;
pub mod backend;
pub mod body;
pub mod error;
pub mod namespace;
pub mod sas;
pub mod service;
pub mod xml;

pub use qws_store::blobs::{DEFAULT_MAX_BLOB_SIZE, DEFAULT_MAX_BLOCK_SIZE};
pub use sas::{
    blob_base_url, blob_url, mint_blob_sas, mint_container_sas, parse_blob_url,
    CONTAINER_PERMISSIONS, READ_PERMISSION,
};
pub use service::handle;

use crate::error::ApiError;
use axum::extract::Request;
use axum::http::StatusCode;
use qws_store::blobs::BlobError;

/// True if a request that matched no route should be answered by the blob service: its path does
/// not belong to ARM (`/subscriptions/…`, `/providers/…`) and it carries a blob signal (a SAS or
/// blob query parameter, an `x-ms-version`/`x-ms-blob-type` header, or SharedKey authorization).
/// Everything else keeps the ARM-shaped 404.
pub fn is_blob_request(req: &Request) -> bool {
    let path = req.uri().path();
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if first.is_empty()
        || first.eq_ignore_ascii_case("subscriptions")
        || first.eq_ignore_ascii_case("providers")
    {
        return false;
    }
    let h = req.headers();
    if h.contains_key("x-ms-version") || h.contains_key("x-ms-blob-type") {
        return true;
    }
    if h.get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("SharedKey"))
    {
        return true;
    }
    let query = req.uri().query().unwrap_or("");
    query.split('&').any(|kv| {
        let k = kv.split('=').next().unwrap_or("");
        matches!(k, "sig" | "sv" | "se" | "sr" | "sp" | "restype" | "comp")
    })
}

/// Maps a blob-store error to the ARM/JSON error shape, for data-plane routes (e.g. `sasUri`)
/// that touch the blob store.
pub fn api_error(e: BlobError) -> ApiError {
    match e {
        BlobError::InvalidName(m) => ApiError::bad_request("InvalidContainerName", m),
        BlobError::ContainerNotFound | BlobError::BlobNotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "NotFound", e.to_string())
        }
        BlobError::BlobAlreadyExists => {
            ApiError::new(StatusCode::CONFLICT, "BlobAlreadyExists", e.to_string())
        }
        BlobError::ConditionNotMet => ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "ConditionNotMet",
            e.to_string(),
        ),
        BlobError::TooLarge(m) => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", m)
        }
        BlobError::InvalidBlockList(m) => ApiError::bad_request("InvalidBlockList", m),
        BlobError::Corrupt | BlobError::Io(_) => ApiError::internal("blob store", &e),
    }
}

/// Removes blob namespaces that no longer have an owner (a workspace or storage account deleted
/// on its own, with its resource group, or while qws was down); returns how many were purged. Failures are logged,
/// never raised: a SAS of a deleted workspace is refused anyway (see [`service`]).
pub fn purge_orphans(store: &qws_store::Store, blobs: &qws_store::blobs::BlobStore) -> usize {
    let uids = match blobs.workspace_uids() {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "listing blob workspaces failed");
            return 0;
        }
    };
    let mut purged = 0;
    for uid in uids {
        match store.blob_namespace_in_use(&uid) {
            Ok(false) => match blobs.delete_workspace(&uid) {
                Ok(()) => purged += 1,
                Err(e) => tracing::warn!(error = %e, "purging blob data failed"),
            },
            Ok(true) => {}
            Err(e) => tracing::warn!(error = %e, "workspace lookup failed"),
        }
    }
    purged
}

/// Purges the job data of deleted workspaces and storage accounts in whichever backend holds
/// it ([`backend::JobDataBackend::purge_orphans`]), on the blocking pool, after a workspace,
/// storage account or resource group is deleted.
pub async fn purge_deleted_workspaces(state: &crate::state::AppState) {
    let data = state.job_data.clone();
    let _ = tokio::task::spawn_blocking(move || data.purge_orphans()).await;
}
