//! JobDetails / SessionDetails documents.
//!
//! A job document is the object the client sent (every field kept, so qiskit and cirq can read
//! their `metadata` and `inputParams` back) with the server's read-only fields set by qws:
//! `id`, `status`, times, `createdBy`/`createdByType`, `outputDataUri`, `errorData`,
//! `costEstimate`.
//!
//! No SAS is ever stored: `containerUri`, `inputDataUri` and `outputDataUri` are kept as plain
//! blob URLs and [`render_job`] serves them with fresh SAS minted for the reading caller, so a
//! copy of the database holds no usable credential and a served SAS follows the reader's access.

use crate::planes::blob::sas;
use crate::state::AppState;
use qws_store::jobs::ItemRow;
use serde_json::{json, Map, Value};

/// Job statuses (exact case; the client compares case-sensitively).
pub mod status {
    /// Accepted, not started.
    pub const WAITING: &str = "Waiting";
    /// Running.
    pub const EXECUTING: &str = "Executing";
    /// Finished; output written.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Finished with `errorData`.
    pub const FAILED: &str = "Failed";
    /// Cancelled by the client.
    pub const CANCELLED: &str = "Cancelled";
}

/// Fields the client may not set; qws owns them.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "id",
    "status",
    "creationTime",
    "beginExecutionTime",
    "endExecutionTime",
    "cancellationTime",
    "lastModifiedTime",
    "lastUpdatedTime",
    "createdBy",
    "createdByType",
    "lastModifiedBy",
    "lastModifiedByType",
    "costEstimate",
    "errorData",
    "isCancelling",
    "quantumComputingData",
    "usage",
    "outputDataUri",
];

/// Name of the output blob in the job container.
pub use qws_core::jobs::OUTPUT_BLOB;
/// Lifetime of the SAS on served job URIs.
pub const OUTPUT_SAS_LIFETIME: time::Duration = time::Duration::hours(24);

/// True for a status no job leaves.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "Succeeded" | "Failed" | "Cancelled" | "Completed")
}

/// The stored document of a row.
pub fn doc_of(row: &ItemRow) -> Map<String, Value> {
    match serde_json::from_str::<Value>(&row.doc) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Serializes a document for storage.
pub fn to_text(doc: &Map<String, Value>) -> String {
    serde_json::to_string(doc).expect("JSON values serialize")
}

/// The job container named by the document's `outputDataUri` (or `containerUri`).
pub fn job_container(state: &AppState, doc: &Map<String, Value>) -> Option<String> {
    ["outputDataUri", "containerUri"]
        .iter()
        .filter_map(|k| doc.get(*k).and_then(Value::as_str))
        .find_map(|u| state.job_data.locate(u).map(|(c, _)| c))
}

/// The input blob named by the document's `inputDataUri`, if it is in `container`.
fn input_blob(state: &AppState, doc: &Map<String, Value>, container: &str) -> Option<String> {
    match state.job_data.locate(doc.get("inputDataUri")?.as_str()?)? {
        (c, Some(b)) if c == container => Some(b),
        _ => None,
    }
}

/// A job document as served to a caller whose SAS stand on `holder`: `containerUri` carries a
/// fresh container SAS (what `storage/sasUri` returns), `inputDataUri` and `outputDataUri`
/// fresh read SAS for their blobs, all on the current blob endpoint.
pub fn render_job(
    state: &AppState,
    ws_uid: &str,
    holder: &sas::SasHolder,
    mut doc: Map<String, Value>,
) -> Value {
    if let Some(c) = job_container(state, &doc) {
        let expiry = time::OffsetDateTime::now_utc() + OUTPUT_SAS_LIFETIME;
        if let Some(b) = input_blob(state, &doc, &c) {
            let uri = sas::mint_blob_sas(state, ws_uid, holder, &c, &b, "r", expiry);
            doc.insert("inputDataUri".into(), json!(uri));
        }
        let uri = sas::mint_container_sas(
            state,
            ws_uid,
            holder,
            &c,
            sas::CONTAINER_PERMISSIONS,
            expiry,
        );
        doc.insert("containerUri".into(), json!(uri));
        let uri = sas::mint_blob_sas(state, ws_uid, holder, &c, OUTPUT_BLOB, "r", expiry);
        doc.insert("outputDataUri".into(), json!(uri));
    }
    Value::Object(doc)
}

/// `errorData`.
pub fn error_data(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message})
}

/// Shots requested by `inputParams` (`shots`, or the older `count`), if any.
pub fn requested_shots(doc: &Map<String, Value>) -> Option<u64> {
    qws_core::jobs::requested_shots(doc.get("inputParams"))
}
