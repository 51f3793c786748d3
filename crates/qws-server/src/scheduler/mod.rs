//! The job scheduler: runs accepted jobs on qws-sim with bounded concurrency.
//!
//! * Waiting jobs sit in a bounded in-memory FIFO backed by SQLite (the job row is written before
//!   PUT answers, so the queue can always be rebuilt). When the queue is full, new jobs get 503
//!   with `Retry-After`.
//! * `workers` tasks (one per core by default) take jobs in order. Each job first reserves its
//!   estimated statevector memory from a budget (a semaphore counted in MiB), so large jobs wait
//!   instead of exhausting memory; a job that could never fit fails with a clear error.
//! * Status moves `Waiting → Executing → Succeeded | Failed`, each step a conditional update in
//!   SQLite. The output blob is written before `Succeeded`. Cancellation sets `Cancelled` at once
//!   and triggers the running job's [`qws_sim::CancelToken`], so its simulation stops at the next
//!   check and frees its worker and memory; no output is written (the conditional update only
//!   replaces `Executing`, never `Cancelled`).
//! * At start-up, jobs left `Executing` by a crash return to `Waiting` and every waiting job is
//!   queued again, oldest first.
//! * `averageQueueTime` per target is a moving average of measured Waiting → Executing delays.

pub mod exec;

use crate::dataplane::items::{self, status};
use crate::dataplane::now_string;
use crate::state::AppState;
use qws_store::jobs::JobStore;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, Semaphore};

const MIB: u64 = 1 << 20;

/// Scheduler settings.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Jobs simulated at once.
    pub workers: usize,
    /// Statevector memory all running jobs may use together.
    pub memory_budget_bytes: u64,
    /// Waiting jobs accepted before new submissions get 503.
    pub max_queue: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .clamp(1, 64),
            memory_budget_bytes: 4 << 30,
            max_queue: 10_000,
        }
    }
}

type JobKey = (String, String);

/// The scheduler (shared; see the module docs).
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    jobs: Arc<JobStore>,
    queue: Mutex<VecDeque<JobKey>>,
    notify: Notify,
    memory: Arc<Semaphore>,
    cancelled: Mutex<HashSet<JobKey>>,
    /// Cancellation tokens of the jobs workers hold.
    running: Mutex<HashMap<JobKey, qws_sim::CancelToken>>,
    queue_times: Mutex<HashMap<String, f64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Scheduler {
    /// A scheduler over the job store (not yet running; see [`Scheduler::start`]).
    pub fn new(jobs: Arc<JobStore>, config: SchedulerConfig) -> Arc<Scheduler> {
        let permits = (config.memory_budget_bytes / MIB).clamp(1, u32::MAX as u64 >> 3) as usize;
        Arc::new(Scheduler {
            memory: Arc::new(Semaphore::new(permits)),
            config,
            jobs,
            queue: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
            cancelled: Mutex::new(HashSet::new()),
            running: Mutex::new(HashMap::new()),
            queue_times: Mutex::new(HashMap::new()),
        })
    }

    /// `Err(retry_after_secs)` when the queue is full.
    pub fn has_room(&self) -> Result<(), u64> {
        if lock(&self.queue).len() >= self.config.max_queue {
            Err(5)
        } else {
            Ok(())
        }
    }

    /// Queues an accepted (already stored) job.
    pub fn enqueue(&self, ws_uid: String, id: String) {
        lock(&self.queue).push_back((ws_uid, id));
        self.notify.notify_one();
    }

    /// Notes a cancellation: the job leaves the queue, and a running one's result is dropped.
    pub fn cancel(&self, ws_uid: &str, id: &str) {
        let key = (ws_uid.to_string(), id.to_string());
        let was_queued = {
            let mut q = lock(&self.queue);
            let before = q.len();
            q.retain(|k| *k != key);
            q.len() != before
        };
        // Only a job a worker may hold needs remembering; the worker forgets it when done.
        if !was_queued {
            {
                let mut c = lock(&self.cancelled);
                if c.len() < 100_000 {
                    c.insert(key.clone());
                }
            }
            // Marked first, then signalled: `process` registers its token and then looks at
            // `cancelled`, so one of the two sides always sees the other.
            if let Some(t) = lock(&self.running).get(&key) {
                t.cancel();
            }
        }
    }

    /// Waiting jobs in the queue.
    pub fn queued(&self) -> usize {
        lock(&self.queue).len()
    }

    /// Moving average of measured queue time for a target, whole seconds.
    pub fn average_queue_time(&self, target: &str) -> i64 {
        lock(&self.queue_times)
            .get(target)
            .map(|s| s.round() as i64)
            .unwrap_or(0)
    }

    fn record_queue_time(&self, target: &str, secs: f64) {
        let mut m = lock(&self.queue_times);
        let e = m.entry(target.to_string()).or_insert(secs);
        *e = 0.8 * *e + 0.2 * secs;
    }

    /// Recovers after a restart (Executing → Waiting; queue every waiting job) and starts the
    /// workers. Blocking database work; call once at start-up.
    pub fn start(self: &Arc<Self>, state: AppState) -> anyhow::Result<()> {
        let stale = self
            .jobs
            .jobs_with_status(&[status::EXECUTING], usize::MAX >> 1)?;
        for row in &stale {
            self.jobs.update_item(&row.workspace_uid, &row.id, |r| {
                (r.status == status::EXECUTING).then(|| {
                    let mut d = items::doc_of(r);
                    d.insert("status".into(), json!(status::WAITING));
                    d.insert("beginExecutionTime".into(), Value::Null);
                    (status::WAITING.to_string(), items::to_text(&d))
                })
            })?;
        }
        if !stale.is_empty() {
            tracing::info!(
                count = stale.len(),
                "re-queued jobs interrupted while executing"
            );
        }
        let waiting = self
            .jobs
            .jobs_with_status(&[status::WAITING], usize::MAX >> 1)?;
        {
            let mut q = lock(&self.queue);
            for row in waiting {
                q.push_back((row.workspace_uid, row.id));
            }
        }
        for _ in 0..self.config.workers {
            let (me, st) = (self.clone(), state.clone());
            tokio::spawn(async move { me.worker(st).await });
        }
        self.notify.notify_waiters();
        Ok(())
    }

    async fn next_job(&self) -> JobKey {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(k) = lock(&self.queue).pop_front() {
                return k;
            }
            notified.await;
        }
    }

    async fn worker(self: Arc<Self>, state: AppState) {
        loop {
            let (ws, id) = self.next_job().await;
            if let Err(e) = self.process(&state, &ws, &id).await {
                tracing::error!(job = %id, error = %e, "job processing failed");
                let _ = self
                    .finish(
                        &state,
                        &ws,
                        &id,
                        Err(exec::JobFailure::new(
                            "InternalError",
                            "The job could not be processed by the server.",
                        )),
                        0,
                    )
                    .await;
            }
            let key = (ws, id);
            lock(&self.running).remove(&key);
            lock(&self.cancelled).remove(&key);
        }
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| anyhow::anyhow!("blocking task: {e}"))?
    }

    async fn process(&self, state: &AppState, ws: &str, id: &str) -> anyhow::Result<()> {
        let (js, w, i) = (self.jobs.clone(), ws.to_string(), id.to_string());
        let Some(row) = Self::blocking(move || Ok(js.get_item(&w, &i)?)).await? else {
            return Ok(());
        };
        if row.status != status::WAITING {
            return Ok(());
        }
        let doc = items::doc_of(&row);
        let s = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let (target_id, input_format, output_format) =
            (s("target"), s("inputDataFormat"), s("outputDataFormat"));
        let Some((_, target)) = qws_core::catalog::target(&target_id) else {
            return self
                .fail_waiting(
                    state,
                    ws,
                    id,
                    exec::JobFailure::new(
                        "UnknownTarget",
                        format!("The target '{target_id}' is no longer offered."),
                    ),
                )
                .await;
        };

        // Read and parse the input before taking any memory.
        let Some((container, Some(blob))) = crate::blob::sas::parse_blob_url(&s("inputDataUri"))
        else {
            return self
                .fail_waiting(
                    state,
                    ws,
                    id,
                    exec::JobFailure::new(
                        "InvalidInputDataUri",
                        "inputDataUri does not name a blob.",
                    ),
                )
                .await;
        };
        let max_input = state.dataplane.config.max_input_bytes;
        let budget = self.config.memory_budget_bytes;
        let (blobs, w, c, b, d) = (
            state.blobs.clone(),
            ws.to_string(),
            container.clone(),
            blob.clone(),
            doc.clone(),
        );
        let prepared = Self::blocking(move || {
            let props = match blobs.blob_props(&w, &c, &b) {
                Ok(Some(p)) => p,
                Ok(None) | Err(_) => {
                    return Ok(Err(exec::JobFailure::new(
                        "InputDataNotFound",
                        format!("The input blob '{b}' was not found in container '{c}'."),
                    )))
                }
            };
            if props.length > max_input {
                return Ok(Err(exec::JobFailure::new(
                    "InputDataTooLarge",
                    format!(
                        "The input is {} bytes; at most {max_input} are accepted.",
                        props.length
                    ),
                )));
            }
            let Some((data, props)) = blobs.get_blob(&w, &c, &b)? else {
                return Ok(Err(exec::JobFailure::new(
                    "InputDataNotFound",
                    format!("The input blob '{b}' was not found."),
                )));
            };
            let data =
                match exec::decode_content(data, props.content_encoding.as_deref(), max_input) {
                    Ok(d) => d,
                    Err(f) => return Ok(Err(f)),
                };
            Ok(exec::prepare(
                &input_format,
                &output_format,
                &data,
                &d,
                target,
                budget,
            ))
        })
        .await?;
        let prepared = match prepared {
            Ok(p) => p,
            Err(f) => return self.fail_waiting(state, ws, id, f).await,
        };
        let permits = prepared.memory_bytes.div_ceil(MIB).max(1);
        if permits > (budget / MIB).max(1) {
            let f = exec::JobFailure::new(
                "ExecutionLimitExceeded",
                format!("The job needs about {} MiB of simulator memory; the server's budget is {} MiB.", permits, budget / MIB),
            );
            return self.fail_waiting(state, ws, id, f).await;
        }
        let _permit = self
            .memory
            .clone()
            .acquire_many_owned(permits as u32)
            .await
            .map_err(|e| anyhow::anyhow!("memory budget closed: {e}"))?;

        // Waiting → Executing (unless cancelled or deleted meanwhile).
        let (js, w, i) = (self.jobs.clone(), ws.to_string(), id.to_string());
        let begin = now_string();
        let started = Self::blocking(move || {
            Ok(js.update_item(&w, &i, |r| {
                (r.status == status::WAITING).then(|| {
                    let mut d = items::doc_of(r);
                    d.insert("status".into(), json!(status::EXECUTING));
                    d.insert("beginExecutionTime".into(), json!(begin));
                    (status::EXECUTING.to_string(), items::to_text(&d))
                })
            })?)
        })
        .await?;
        match started {
            Some((_, true)) => {}
            _ => return Ok(()),
        }
        let waited = (crate::dataplane::jobs::now_nanos() - row.created_at).max(0) as f64 / 1e9;
        self.record_queue_time(target.id, waited);

        let shots = prepared.shots;
        let key = (ws.to_string(), id.to_string());
        let token = qws_sim::CancelToken::new();
        lock(&self.running).insert(key.clone(), token.clone());
        if lock(&self.cancelled).contains(&key) {
            token.cancel();
        }
        let result = tokio::task::spawn_blocking(move || exec::run(prepared, &token))
            .await
            .map_err(|e| anyhow::anyhow!("simulation task: {e}"))?;
        if lock(&self.cancelled).contains(&(ws.to_string(), id.to_string())) {
            return Ok(());
        }
        let result = match result {
            Ok(bytes) => {
                let (blobs, w, c) = (state.blobs.clone(), ws.to_string(), container);
                let written = Self::blocking(move || {
                    let headers = qws_store::blobs::BlobHeaders {
                        content_type: Some("application/json".into()),
                        ..Default::default()
                    };
                    Ok(blobs.put_blob(&w, &c, items::OUTPUT_BLOB, &bytes, headers, false))
                })
                .await?;
                match written {
                    Ok(_) => Ok(()),
                    Err(e) => Err(exec::JobFailure::new(
                        "OutputWriteFailed",
                        format!("The output could not be stored: {e}"),
                    )),
                }
            }
            Err(f) => Err(f),
        };
        self.finish(state, ws, id, result, shots).await
    }

    /// Executing → Succeeded/Failed (never replacing Cancelled), then session bookkeeping.
    async fn finish(
        &self,
        state: &AppState,
        ws: &str,
        id: &str,
        result: Result<(), exec::JobFailure>,
        shots: u64,
    ) -> anyhow::Result<()> {
        let (js, w, i) = (self.jobs.clone(), ws.to_string(), id.to_string());
        let failed = result.is_err();
        let end = now_string();
        let out = Self::blocking(move || {
            Ok(js.update_item(&w, &i, |r| {
                if r.status != status::EXECUTING {
                    return None;
                }
                let mut d = items::doc_of(r);
                d.insert("endExecutionTime".into(), json!(end));
                let st = match &result {
                    Ok(()) => {
                        d.insert("costEstimate".into(), items::cost_estimate(shots));
                        d.insert("quantumComputingData".into(), json!({"count": 1}));
                        status::SUCCEEDED
                    }
                    Err(f) => {
                        d.insert("errorData".into(), items::error_data(f.code, &f.message));
                        status::FAILED
                    }
                };
                d.insert("status".into(), json!(st));
                Some((st.to_string(), items::to_text(&d)))
            })?)
        })
        .await?;
        if let (true, Some((row, true))) = (failed, out) {
            self.after_failure(state, ws, &items::doc_of(&row)).await?;
        }
        Ok(())
    }

    /// Waiting → Failed for jobs that never started.
    async fn fail_waiting(
        &self,
        state: &AppState,
        ws: &str,
        id: &str,
        f: exec::JobFailure,
    ) -> anyhow::Result<()> {
        let (js, w, i) = (self.jobs.clone(), ws.to_string(), id.to_string());
        let end = now_string();
        let out = Self::blocking(move || {
            Ok(js.update_item(&w, &i, |r| {
                (r.status == status::WAITING).then(|| {
                    let mut d = items::doc_of(r);
                    d.insert("status".into(), json!(status::FAILED));
                    d.insert("endExecutionTime".into(), json!(end));
                    d.insert("errorData".into(), items::error_data(f.code, &f.message));
                    (status::FAILED.to_string(), items::to_text(&d))
                })
            })?)
        })
        .await?;
        if let Some((row, true)) = out {
            self.after_failure(state, ws, &items::doc_of(&row)).await?;
        }
        Ok(())
    }

    /// With `jobFailurePolicy: Abort`, a failed job ends its session: the session becomes
    /// `Failed` and its waiting jobs fail.
    async fn after_failure(
        &self,
        _state: &AppState,
        ws: &str,
        job: &Map<String, Value>,
    ) -> anyhow::Result<()> {
        let Some(sid) = job.get("sessionId").and_then(Value::as_str) else {
            return Ok(());
        };
        let (js, w, s) = (self.jobs.clone(), ws.to_string(), sid.to_string());
        let failed_job = job
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let aborted = Self::blocking(move || {
            let out = js.update_item(&w, &s, |r| {
                if r.item_type != "Session" || crate::dataplane::sessions::session_closed(&r.status) {
                    return None;
                }
                let d = items::doc_of(r);
                if d.get("jobFailurePolicy").and_then(Value::as_str) == Some("Continue") {
                    return None;
                }
                let mut d = d;
                d.insert("status".into(), json!(status::FAILED));
                d.insert("endExecutionTime".into(), json!(now_string()));
                Some((status::FAILED.to_string(), items::to_text(&d)))
            })?;
            let mut aborted = Vec::new();
            if let Some((_, true)) = out {
                for j in js.list_items(&w, Some("Job"), Some(&s), crate::dataplane::MAX_LISTED)? {
                    let msg = format!("Session '{s}' was aborted because job '{failed_job}' failed (jobFailurePolicy: Abort).");
                    let end = now_string();
                    if let Some((_, true)) = js.update_item(&w, &j.id, |r| {
                        (r.status == status::WAITING).then(|| {
                            let mut d = items::doc_of(r);
                            d.insert("status".into(), json!(status::FAILED));
                            d.insert("endExecutionTime".into(), json!(end));
                            d.insert("errorData".into(), items::error_data("SessionAborted", &msg));
                            (status::FAILED.to_string(), items::to_text(&d))
                        })
                    })? {
                        aborted.push(j.id);
                    }
                }
            }
            Ok(aborted)
        })
        .await?;
        for id in aborted {
            self.cancel(ws, &id);
        }
        Ok(())
    }
}
