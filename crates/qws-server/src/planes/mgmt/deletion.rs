//! Workspace deletion as ARM runs it: `DELETE` answers 202 at once with `Location`
//! (`…/operationResults/{op}`) and `Azure-AsyncOperation` (`…/operationStatuses/{op}`); the
//! workspace stays readable with `provisioningState: Deleting` until the operation finishes,
//! then it is gone (404). The operation finishes when a client first polls it, or after
//! [`crate::config::MgmtConfig::delete_grace`] when nobody does (clients that do not wait, such
//! as `az quantum workspace delete`, read the workspace once more right after the 202). A
//! deletion interrupted by a restart is finished at startup ([`resume`]).

use crate::error::ApiResult;
use crate::state::AppState;
use qws_core::resource_id::WorkspaceId;
use qws_store::OperationRecord;

/// Jobs of a deleted workspace whose queued or running work is stopped at once; any further
/// ones find no row when a worker takes them, and are dropped then.
const MAX_STOPPED_JOBS: usize = 10_000;

/// Marks the workspace as being deleted and starts the operation; returns the operation id and
/// whether this call started it (`false`: a deletion was already under way), or `None` if the
/// workspace does not exist.
pub(crate) async fn begin(state: &AppState, id: &WorkspaceId) -> ApiResult<Option<(String, bool)>> {
    let op = uuid::Uuid::new_v4().to_string();
    let (key, op2) = (id.clone(), op.clone());
    let Some(w) = state
        .db(move |s| s.mark_workspace_deleting(&key, &op2))
        .await?
    else {
        return Ok(None);
    };
    let running = w.deleting_op.clone().unwrap_or_else(|| op.clone());
    if running != op {
        return Ok(Some((running, false)));
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
    let record = OperationRecord {
        id: op.clone(),
        subscription: w.subscription,
        location: w.location.clone(),
        resource_id: id.to_id(),
        status: "InProgress".into(),
        start_time: now,
        end_time: None,
    };
    state.db(move |s| s.put_operation(&record)).await?;
    let (state2, id2, op2) = (state.clone(), id.clone(), op.clone());
    let grace = state.config.mgmt.delete_grace;
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        if let Err(e) = finish(&state2, &id2, &op2).await {
            tracing::warn!(error = %e.message, "finishing a workspace deletion failed");
        }
    });
    Ok(Some((op, true)))
}

/// Completes deletion `op` of workspace `id` if it is still pending (idempotent: the timer, a
/// poll and startup may all try): removes the workspace with its keys and data-plane rows,
/// stops its jobs, purges orphaned blob data, and marks the operation `Succeeded`.
pub(crate) async fn finish(state: &AppState, id: &WorkspaceId, op: &str) -> ApiResult<()> {
    let (key, op2) = (id.clone(), op.to_string());
    let jobs = state.dataplane.jobs.clone();
    let deleted = state
        .db(move |store| {
            let Some(w) = store.get_workspace(&key)? else {
                return Ok(None);
            };
            if w.deleting_op.as_deref() != Some(op2.as_str()) {
                return Ok(None);
            }
            // Noted before the rows go (the delete purges them), to stop those jobs after it.
            let active = jobs.active_job_ids(&w.uid, MAX_STOPPED_JOBS)?;
            Ok(store.delete_workspace(&key)?.map(|w| (w, active)))
        })
        .await?;
    if let Some((w, active)) = deleted {
        // The job rows are gone; the scheduler drops queued ones and abandons running ones.
        for job in &active {
            state.dataplane.scheduler.cancel(&w.uid, job);
        }
        crate::planes::blob::purge_deleted_workspaces(state).await;
    }
    let op_id = op.to_string();
    state
        .db(move |s| {
            if let Some(mut rec) = s.get_operation(&op_id)? {
                if rec.status == "InProgress" {
                    rec.status = "Succeeded".into();
                    rec.end_time =
                        Some(time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64);
                    s.put_operation(&rec)?;
                }
            }
            Ok(())
        })
        .await
}

/// Finishes the pending deletion an operation stands for, if any (called when a client polls
/// the operation).
pub(crate) async fn finish_polled(state: &AppState, op: &OperationRecord) -> ApiResult<()> {
    if op.status != "InProgress" {
        return Ok(());
    }
    match WorkspaceId::parse(&op.resource_id) {
        Ok(id) => finish(state, &id, &op.id).await,
        Err(_) => Ok(()),
    }
}

/// Finishes deletions a restart interrupted.
pub(crate) async fn resume(state: &AppState) {
    let pending = match state.db(|s| s.workspaces_being_deleted()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e.message, "listing interrupted workspace deletions failed");
            return;
        }
    };
    for (id, op) in pending {
        if let Err(e) = finish(state, &id, &op).await {
            tracing::warn!(error = %e.message, "finishing an interrupted workspace deletion failed");
        }
    }
}
