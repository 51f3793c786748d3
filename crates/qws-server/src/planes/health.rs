//! `GET /healthz` and `GET /readyz`, for load balancers and orchestrators. Unauthenticated on
//! purpose (a probe has no credentials) and free of details (reasons are logged, not served).
//!
//! * `/healthz`: the process is alive and answering (always 200).
//! * `/readyz`: this node can do its work: the database answers and the job-data store is
//!   reachable (200), otherwise 503, so a balancer sends requests elsewhere.

use crate::routes::table::Routes;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The probe routes (no authentication).
pub fn router() -> Routes {
    Routes::new()
        .get("/healthz", healthz)
        .get("/readyz", readyz)
}

/// A blob request for a container that happens to be called `healthz` or `readyz` still reaches
/// the blob service (as with every fixed route).
async fn healthz(State(state): State<AppState>, req: Request) -> Response {
    if crate::planes::blob::is_blob_request(&req) {
        return crate::planes::blob::handle(state, req).await;
    }
    (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
}

fn word(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "unavailable"
    }
}

async fn readyz(State(state): State<AppState>, req: Request) -> Response {
    if crate::planes::blob::is_blob_request(&req) {
        return crate::planes::blob::handle(state, req).await;
    }
    let checked = tokio::task::spawn_blocking(move || {
        let database = state.dataplane.jobs.ping();
        if let Err(e) = &database {
            tracing::warn!(error = %e, "readiness: the database does not answer");
        }
        let blobs = state.job_data.check_reachable();
        if let Err(e) = &blobs {
            tracing::warn!(error = %e, "readiness: the job-data store is not reachable");
        }
        (database.is_ok(), blobs.is_ok())
    })
    .await;
    let (database, blob_store) = checked.unwrap_or((false, false));
    let ready = database && blob_store;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": word(ready),
        "checks": {"database": word(database), "blobStore": word(blob_store)},
    });
    (status, Json(body)).into_response()
}
