//! The job scheduler: runs accepted jobs on qws-sim with bounded concurrency.
//!
//! * Waiting jobs sit in a bounded in-memory FIFO backed by SQLite (the job row is written before
//!   PUT answers, so the queue can always be rebuilt). When the queue is full, new jobs get 503
//!   with `Retry-After`.
//! * `workers` tasks (one per core by default) take jobs in order. Each job first reserves its
//!   estimated statevector memory from a budget (a semaphore counted in MiB), so large jobs wait
//!   instead of exhausting memory; a job that could never fit fails with a clear error.
//! * Status moves `Waiting → Executing → Succeeded | Failed`, each step a conditional update in
//!   SQLite. The output blob is written before `Succeeded`, in the same trip to the blocking
//!   pool as that status change (a run ends in one hop: lease check, output, status).
//!   Cancellation sets `Cancelled` at once and triggers the running job's
//!   [`qws_sim::CancelToken`], so its simulation stops at the next check and frees its worker
//!   and memory; no output is written (the conditional update only replaces `Executing`, never
//!   `Cancelled`).
//! * At start-up, jobs left `Executing` by a crash return to `Waiting` and every waiting job is
//!   queued again, oldest first.
//! * Several nodes may share the database. A node runs a job only while it holds the job's
//!   lease (`qws_store::leases`): it claims it before touching the job (in the commit that
//!   counts the attempt and reads the job), renews it every [`SchedulerConfig::lease_tick`]
//!   while the job is prepared and run, and gives it up with the final status change, which is
//!   made only while the lease is still held. The renewal also
//!   reads the job's status, so a job cancelled (or aborted with its session) through another
//!   node stops here too. Every node also polls the database: for waiting jobs submitted
//!   through other nodes (when its own queue runs short) and for `Executing` jobs whose lease
//!   expired because their node died; those go back to `Waiting` (or fail, once
//!   [`SchedulerConfig::max_attempts`] attempts were made) and run again.
//! * `averageQueueTime` per target is a moving average of measured Waiting → Executing delays.
//!
//! The scheduler sees the store only through [`JobQueueStore`] (job and session metadata; every
//! status change is a [`qws_store::jobs::JobStore::transition`]) and [`JobDataStore`] (input
//! and output blobs), not the server's state, so it is tested on its own (see `tests`).

pub mod contain;
pub mod ends;
pub mod exec;
pub mod queue;

use crate::node::NodeRole;
use queue::{Caps, FairQueue, QueuedJob, Refusal};
use qws_core::jobs::{
    cost_estimate, ErrorData, Job, JobFailurePolicy, JobStatus, SessionStatus, OUTPUT_BLOB,
};
use qws_store::jobs::Transition;
use qws_store::leases::{Attempt, Leased, Renewal};
use qws_store::queue::{Input, JobDataStore, JobQueueStore};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

const MIB: u64 = 1 << 20;

/// Results a job may produce by default (`--max-output-size`).
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 64 << 20;

/// The memory the widest target in the catalog needs for one job with the largest output:
/// what the default budget must cover so that every advertised qubit count runs.
pub fn widest_target_memory(max_output_bytes: u64) -> u64 {
    let widest = qws_core::catalog::PROVIDERS
        .iter()
        .flat_map(|p| p.targets.iter())
        .map(|t| t.sim_qubits as usize)
        .max()
        .unwrap_or(0);
    exec::memory_for_qubits(widest)
        .saturating_add(exec::memory_for_output(max_output_bytes, max_output_bytes))
}

/// Physical memory of this machine, from `/proc/meminfo` (Linux); `None` elsewhere.
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// The default memory budget: enough for the widest target, but never more than three
/// quarters of the machine's memory (a smaller machine runs narrower jobs; the start-up log
/// names the targets that cannot run at their full width).
pub fn default_memory_budget(physical: Option<u64>, max_output_bytes: u64) -> u64 {
    let need = widest_target_memory(max_output_bytes).div_ceil(MIB) * MIB;
    match physical {
        Some(p) => need.min((p / 4 * 3).max(1 << 30)),
        None => need,
    }
}

/// Logs the targets whose advertised qubit count the memory budget cannot run.
pub fn warn_if_budget_narrows_targets(config: &SchedulerConfig) {
    for t in qws_core::catalog::PROVIDERS
        .iter()
        .flat_map(|p| p.targets.iter())
    {
        let need = exec::memory_for_qubits(t.sim_qubits as usize);
        if need > config.memory_budget_bytes {
            tracing::warn!(
                target_id = t.id,
                qubits = t.sim_qubits,
                need_mib = need.div_ceil(MIB),
                budget_mib = config.memory_budget_bytes / MIB,
                "the memory budget is too small for this target's widest jobs"
            );
        }
    }
}

/// [`default_memory_budget`] for this machine.
pub fn default_memory_budget_here(max_output_bytes: u64) -> u64 {
    default_memory_budget(physical_memory(), max_output_bytes)
}

/// Scheduler settings (`qws serve` flags in brackets).
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Jobs simulated at once (`--workers`).
    pub workers: usize,
    /// Memory, statevectors and results, all running jobs may use together
    /// (`--memory-budget-mib`).
    pub memory_budget_bytes: u64,
    /// Largest output document of one job (`--max-output-mib`).
    pub max_output_bytes: u64,
    /// Waiting jobs accepted before new submissions get 503 (`--max-queued-jobs`).
    pub max_queue: usize,
    /// Per-workspace and per-principal caps on running and waiting jobs.
    pub caps: Caps,
    /// Times a job is started before a process death during it fails it instead of retrying
    /// (`--max-job-attempts`).
    pub max_attempts: u32,
    /// How long a job may execute unless its target says otherwise
    /// (`--max-execution-time`).
    pub max_execution_time: Duration,
    /// Per-target execution time limits (`--target-max-execution-time TARGET=SECONDS`).
    pub target_max_execution_time: BTreeMap<String, Duration>,
    /// Largest job input blob (the data plane's limit; set by the server).
    pub max_input_bytes: u64,
    /// What this node does (`--role`): an `api` node queues and runs nothing.
    pub role: NodeRole,
    /// This node's name in job leases (`--node-id`); empty: the server's default,
    /// [`crate::node::default_node_id`].
    pub node_id: String,
    /// How long a job's lease lasts unless renewed (`--job-lease-secs`): how soon another node
    /// takes over the jobs of a node that died.
    pub lease_ttl: Duration,
}

impl SchedulerConfig {
    /// Defaults for a machine with `workers` cores.
    pub fn with_workers(workers: usize) -> SchedulerConfig {
        let workers = workers.clamp(1, 64);
        SchedulerConfig {
            workers,
            memory_budget_bytes: default_memory_budget_here(DEFAULT_MAX_OUTPUT_BYTES),
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_queue: 10_000,
            caps: Caps {
                // One worker always stays free for other workspaces, so a workspace's long
                // jobs cannot hold the whole server (with one worker, there is nothing to keep).
                running_per_workspace: workers.saturating_sub(1).max(1),
                running_per_principal: 0,
                queued_per_workspace: 2_000,
                queued_per_principal: 2_000,
            },
            max_attempts: 3,
            max_execution_time: Duration::from_secs(3600),
            target_max_execution_time: BTreeMap::new(),
            max_input_bytes: 64 << 20,
            role: NodeRole::All,
            node_id: String::new(),
            lease_ttl: Duration::from_secs(30),
        }
    }

    /// How often leases are renewed (and the database polled for work): a third of the lease
    /// lifetime, at most a second (the delay with which a cancellation made through another
    /// node reaches a running job).
    pub fn lease_tick(&self) -> Duration {
        (self.lease_ttl / 3).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// The execution time limit of a target.
    pub fn execution_limit(&self, target: &str) -> Duration {
        self.target_max_execution_time
            .get(target)
            .copied()
            .unwrap_or(self.max_execution_time)
    }

    fn budget(&self) -> exec::Budget {
        exec::Budget {
            memory_bytes: self.memory_budget_bytes,
            max_output_bytes: self.max_output_bytes,
        }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig::with_workers(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
    }
}

type JobKey = (String, String);

/// Why a submission cannot be queued now: the error code, message and `Retry-After` seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// HTTP status: 503 when the server is full, 429 when the caller is over its share.
    pub status: u16,
    /// Error code.
    pub code: &'static str,
    /// Error message.
    pub message: String,
    /// Seconds to wait.
    pub retry_after: u64,
}

/// The scheduler (shared; see the module docs).
#[derive(Debug)]
pub struct Scheduler {
    config: SchedulerConfig,
    store: Arc<dyn JobQueueStore>,
    data: Arc<dyn JobDataStore>,
    queue: Mutex<FairQueue>,
    notify: Notify,
    memory: Arc<Semaphore>,
    cancelled: Mutex<HashSet<JobKey>>,
    /// Jobs this node has queued or is working on (so the database poll adds none twice).
    known: Mutex<HashSet<JobKey>>,
    /// Cancellation tokens of the jobs workers hold.
    running: Mutex<HashMap<JobKey, qws_sim::CancelToken>>,
    queue_times: Mutex<HashMap<String, f64>>,
    /// Moves on whenever some target's [`Scheduler::average_queue_time`] (as served, rounded)
    /// changes, so bodies that show it can be kept until then.
    queue_times_version: AtomicU64,
    /// Requests waiting for jobs to end (`Prefer: wait`), woken as this node ends them.
    ends: Arc<ends::EndSignals>,
    /// Set by [`Scheduler::shutdown`]: workers take no new jobs and set running ones aside.
    stopping: AtomicBool,
    stop: Notify,
    worker_tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// Awaits every task (a join error means the task panicked or was aborted; either way it ended).
async fn futures_join_all(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Who is charged for a job in the per-principal caps: the client id of a token caller, or
/// the workspace's key for a key caller (`PrimaryKey` names a different key in every
/// workspace).
pub fn principal_key(workspace: &str, created_by: &str, created_by_type: &str) -> String {
    if created_by_type == "Key" {
        format!("{workspace}/{created_by}")
    } else {
        created_by.to_string()
    }
}

fn submitter(workspace: &str, job: &Job) -> String {
    principal_key(workspace, &job.created_by, &job.created_by_type)
}

/// Now, in the wire format.
fn now_string() -> String {
    qws_core::time_fmt::arm_precise(time::OffsetDateTime::now_utc())
}

/// Unix nanoseconds now.
fn now_nanos() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// Most jobs of one session that an abort fails.
const MAX_SESSION_JOBS: usize = 100_000;

impl Scheduler {
    /// A scheduler over the job store (not yet running; see [`Scheduler::start`]).
    pub fn new(
        store: Arc<dyn JobQueueStore>,
        data: Arc<dyn JobDataStore>,
        mut config: SchedulerConfig,
    ) -> Arc<Scheduler> {
        if config.node_id.is_empty() {
            config.node_id = format!("{}:pid{}", crate::node::host_name(), std::process::id());
        }
        let permits = (config.memory_budget_bytes / MIB).clamp(1, u32::MAX as u64 >> 3) as usize;
        Arc::new(Scheduler {
            memory: Arc::new(Semaphore::new(permits)),
            config,
            store,
            data,
            queue: Mutex::new(FairQueue::default()),
            notify: Notify::new(),
            cancelled: Mutex::new(HashSet::new()),
            known: Mutex::new(HashSet::new()),
            running: Mutex::new(HashMap::new()),
            queue_times: Mutex::new(HashMap::new()),
            queue_times_version: AtomicU64::new(0),
            ends: Arc::new(ends::EndSignals::default()),
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
            worker_tasks: Mutex::new(Vec::new()),
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Whether a job of `workspace` submitted by `principal` may be queued now.
    pub fn admit(&self, workspace: &str, principal: &str) -> Result<(), Busy> {
        let refusal = lock(&self.queue).admits(
            workspace,
            principal,
            &self.config.caps,
            self.config.max_queue,
        );
        match refusal {
            Ok(()) => Ok(()),
            Err(Refusal::QueueFull) => Err(Busy {
                status: 503,
                code: "ServerBusy",
                message: "The job queue is full. Retry later.".into(),
                retry_after: 5,
            }),
            Err(Refusal::WorkspaceQueueFull(n)) => Err(Busy {
                status: 429,
                code: "TooManyJobs",
                message: format!(
                    "This workspace already has {n} waiting jobs, the most it may have. Retry when some have run."
                ),
                retry_after: 10,
            }),
            Err(Refusal::PrincipalQueueFull(n)) => Err(Busy {
                status: 429,
                code: "TooManyJobs",
                message: format!(
                    "You already have {n} waiting jobs, the most one caller may have. Retry when some have run."
                ),
                retry_after: 10,
            }),
        }
    }

    /// Queues an accepted (already stored) job. An `api` node queues nothing: a worker node
    /// finds the job in the database.
    pub fn enqueue(&self, ws_uid: String, id: String, principal: String) {
        if self.config.role.runs_jobs() {
            self.push_local(QueuedJob {
                workspace: ws_uid,
                id,
                principal,
            });
        }
    }

    /// Adds a job to this node's queue unless it is already queued or running here.
    fn push_local(&self, job: QueuedJob) -> bool {
        if !lock(&self.known).insert((job.workspace.clone(), job.id.clone())) {
            return false;
        }
        lock(&self.queue).push(job);
        crate::metrics::queue_depth(self.queued());
        self.notify.notify_one();
        true
    }

    /// Registers a request that waits for job `id` to end: the watch wakes when this node ends
    /// it (or stops). Register before reading the job's status.
    pub fn watch_end(&self, ws_uid: &str, id: &str) -> ends::EndWatch {
        self.ends.watch(ws_uid, id)
    }

    /// Notes a cancellation: the job leaves the queue, and a running one's result is dropped.
    pub fn cancel(&self, ws_uid: &str, id: &str) {
        if !self.config.role.runs_jobs() {
            return; // the node running it sees the new status when it renews the lease
        }
        let key = (ws_uid.to_string(), id.to_string());
        let was_queued = lock(&self.queue).remove(ws_uid, id);
        if was_queued {
            lock(&self.known).remove(&key);
        }
        crate::metrics::queue_depth(self.queued());
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

    /// A value that changes whenever any [`Scheduler::average_queue_time`] does.
    pub fn queue_times_version(&self) -> u64 {
        self.queue_times_version.load(Ordering::Acquire)
    }

    fn record_queue_time(&self, target: &str, secs: f64) {
        let mut m = lock(&self.queue_times);
        let before = m.get(target).map(|s| s.round() as i64);
        let e = m.entry(target.to_string()).or_insert(secs);
        *e = 0.8 * *e + 0.2 * secs;
        if before != Some(e.round() as i64) {
            // Under the lock: a reader that sees the new version also sees the new average.
            self.queue_times_version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// The failure of a job whose every attempt ended with the process dying.
    fn interrupted(attempts: u32) -> exec::JobFailure {
        exec::JobFailure::new(
            "ExecutionInterrupted",
            format!(
                "The server stopped {attempts} times while this job was being prepared or run, so it is not retried again. If the server crashed, this program is the likely cause; report it with the job id."
            ),
        )
    }

    /// `from` → Failed with [`Scheduler::interrupted`]: the job's every attempt ended with the
    /// process dying.
    fn fail_interrupted(
        &self,
        ws: &str,
        id: &str,
        from: JobStatus,
        attempts: u32,
    ) -> anyhow::Result<()> {
        let f = Self::interrupted(attempts);
        let end = now_string();
        let out = self.store.transition_job_leased(
            ws,
            id,
            &self.config.node_id,
            &[from],
            JobStatus::Failed,
            true,
            &mut |j| {
                j.end_execution_time = Some(end.clone());
                j.error_data = Some(ErrorData::new(f.code, &f.message));
            },
        )?;
        if let Leased::Held(Transition::Done(job)) = out {
            log_failure(&job);
        }
        Ok(())
    }

    /// Recovers after a restart and starts the workers. Blocking database work; call once at
    /// start-up. Jobs left `Executing` go back to `Waiting`, and every waiting job is queued
    /// again, oldest first, unless it has already been started [`SchedulerConfig::max_attempts`]
    /// times: then the process died during each attempt, and the job fails instead of taking
    /// the server down once more.
    pub fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        if !self.config.role.runs_jobs() {
            return Ok(());
        }
        // Whatever a previous process with this node's id held, this one holds nothing yet.
        self.store.release_leases_of(&self.config.node_id)?;
        let (requeued, mut failed) = self.recover_orphans(usize::MAX >> 1)?;
        if requeued > 0 {
            tracing::info!(
                count = requeued,
                "re-queued jobs interrupted while executing"
            );
        }
        for (ws, id) in self
            .store
            .claimable_jobs(JobStatus::Waiting, usize::MAX >> 1)?
        {
            let attempts = self.store.attempts(&ws, &id)?;
            if attempts >= self.config.max_attempts {
                // Died while being prepared, every time.
                if self
                    .store
                    .claim_lease(&ws, &id, &self.config.node_id, self.config.lease_ttl)?
                {
                    self.fail_interrupted(&ws, &id, JobStatus::Waiting, attempts)?;
                    self.store.release_lease(&ws, &id, &self.config.node_id)?;
                    failed += 1;
                }
                continue;
            }
            self.adopt(&ws, &id)?;
        }
        if failed > 0 {
            tracing::warn!(
                count = failed,
                max_attempts = self.config.max_attempts,
                "failed jobs during which the server stopped on every attempt"
            );
        }
        let mut tasks = lock(&self.worker_tasks);
        for _ in 0..self.config.workers {
            let me = self.clone();
            tasks.push(tokio::spawn(async move { me.worker().await }));
        }
        let me = self.clone();
        tasks.push(tokio::spawn(async move { me.poll_database().await }));
        self.notify.notify_waiters();
        Ok(())
    }

    /// Queues a waiting job found in the database (submitted through any node).
    fn adopt(&self, ws: &str, id: &str) -> anyhow::Result<bool> {
        if lock(&self.known).contains(&(ws.to_string(), id.to_string())) {
            return Ok(false);
        }
        let Some(s) = self.store.job(ws, id)? else {
            return Ok(false);
        };
        if s.item.status != JobStatus::Waiting {
            return Ok(false);
        }
        let principal = submitter(ws, &s.item);
        Ok(self.push_local(QueuedJob {
            workspace: ws.to_string(),
            id: id.to_string(),
            principal,
        }))
    }

    /// Jobs left `Executing` by a node that stopped (their lease expired, or they have none):
    /// back to `Waiting` and into this node's queue, or `Failed` once they were started
    /// [`SchedulerConfig::max_attempts`] times. Returns (re-queued, failed).
    fn recover_orphans(&self, limit: usize) -> anyhow::Result<(usize, usize)> {
        let me = &self.config.node_id;
        let (mut requeued, mut failed) = (0, 0);
        // Each claim picks a job no other node is claiming (nodes recovering at once split
        // the orphans between them). A job met twice could not be moved out of `Executing`:
        // stop rather than claim it over and over.
        let mut seen = HashSet::new();
        for _ in 0..limit {
            let Some((ws, id)) =
                self.store
                    .claim_next(JobStatus::Executing, me, self.config.lease_ttl)?
            else {
                break;
            };
            if !seen.insert((ws.clone(), id.clone())) {
                self.store.release_lease(&ws, &id, me)?;
                break;
            }
            if lock(&self.running).contains_key(&(ws.clone(), id.clone())) {
                // This node runs it: its own lease lapsed because a renewal came late (a
                // loaded machine), and the claim just renewed it. Not an orphan.
                continue;
            }
            let attempts = self.store.attempts(&ws, &id)?;
            let mut requeue = None;
            if attempts >= self.config.max_attempts {
                self.fail_interrupted(&ws, &id, JobStatus::Executing, attempts)?;
                failed += 1;
            } else {
                let back = self.store.transition_job_leased(
                    &ws,
                    &id,
                    me,
                    &[JobStatus::Executing],
                    JobStatus::Waiting,
                    true,
                    &mut |j| j.begin_execution_time = None,
                )?;
                if let Leased::Held(Transition::Done(job)) = back {
                    requeue = Some(job);
                }
            }
            // Whatever happened, this node does not hold the job now. Released before the job
            // enters this node's queue: a worker of this node claims it (under the same owner
            // name) as soon as it is queued, and a release after that would drop the worker's
            // lease, so the job would run without one and be taken over, and run, once more.
            self.store.release_lease(&ws, &id, me)?;
            if let Some(job) = requeue {
                let principal = submitter(&ws, &job);
                self.push_local(QueuedJob {
                    workspace: ws.clone(),
                    id: id.clone(),
                    principal,
                });
                requeued += 1;
            }
        }
        Ok((requeued, failed))
    }

    /// Every [`SchedulerConfig::lease_tick`]: takes over jobs of nodes that died, and queues
    /// waiting jobs submitted through other nodes when this node's queue runs short.
    async fn poll_database(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.config.lease_tick()) => {}
                _ = self.stopped() => return,
            }
            let me = self.clone();
            let polled = Self::blocking(move || {
                let (requeued, failed) = me.recover_orphans(me.config.workers * 4)?;
                me.store.drop_stale_leases()?;
                if requeued + failed > 0 {
                    tracing::info!(
                        requeued,
                        failed,
                        "took over jobs whose node stopped while running them"
                    );
                }
                if me.queued() < me.config.workers * 2 {
                    for (ws, id) in me
                        .store
                        .claimable_jobs(JobStatus::Waiting, me.config.workers * 4)?
                    {
                        me.adopt(&ws, &id)?;
                    }
                }
                Ok(())
            })
            .await;
            if let Err(e) = polled {
                tracing::warn!(error = %e, "polling the database for jobs failed");
            }
        }
    }

    /// Renews a job's lease every [`SchedulerConfig::lease_tick`] while this node works on it.
    /// When the lease is lost, or the job was cancelled, failed or deleted meanwhile (through
    /// any node), the job is marked cancelled here and its simulation stopped: no output and no
    /// status change follow.
    async fn keep_lease(self: Arc<Self>, ws: String, id: String, token: qws_sim::CancelToken) {
        let key = (ws.clone(), id.clone());
        loop {
            tokio::time::sleep(self.config.lease_tick()).await;
            let (js, w, i) = (self.store.clone(), ws.clone(), id.clone());
            let (me, ttl) = (self.config.node_id.clone(), self.config.lease_ttl);
            let renewed = Self::blocking(move || Ok(js.renew_lease(&w, &i, &me, ttl)?)).await;
            let stop = match renewed {
                Ok(Renewal::Held(Some(status))) => {
                    !matches!(status.as_str(), "Waiting" | "Executing")
                }
                Ok(Renewal::Held(None)) | Ok(Renewal::Lost) => true,
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "renewing a job lease failed");
                    false
                }
            };
            if stop {
                lock(&self.cancelled).insert(key);
                token.cancel();
                return;
            }
        }
    }

    /// Stops the workers for a graceful shutdown: no new job starts, running simulations are
    /// stopped and their jobs go back to `Waiting` without counting the attempt (a shutdown is
    /// not a crash), to run again at the next start. Waits at most `grace` for the workers.
    pub async fn shutdown(&self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
        self.notify.notify_waiters();
        self.ends.wake_all();
        for token in lock(&self.running).values() {
            token.cancel();
        }
        let tasks: Vec<_> = lock(&self.worker_tasks).drain(..).collect();
        let all = futures_join_all(tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                "job workers did not stop in time; their jobs are re-queued at the next start"
            );
        }
    }

    /// True once [`Scheduler::shutdown`] began.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Resolves once [`Scheduler::shutdown`] has begun.
    async fn stopped(&self) {
        loop {
            let n = self.stop.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.is_stopping() {
                return;
            }
            n.await;
        }
    }

    /// Puts a job the shutdown interrupted back to `Waiting` and takes back its attempt.
    async fn set_aside(&self, ws: &str, id: &str) -> anyhow::Result<()> {
        let (js, w, i) = (self.store.clone(), ws.to_string(), id.to_string());
        let me = self.config.node_id.clone();
        Self::blocking(move || {
            let back = js.transition_job_leased(
                &w,
                &i,
                &me,
                &[JobStatus::Executing],
                JobStatus::Waiting,
                true,
                &mut |j| j.begin_execution_time = None,
            )?;
            let set_aside = match back {
                Leased::Held(Transition::Done(_)) => true,
                // Stopped before it began executing: still Waiting, but the attempt counted.
                Leased::Held(Transition::Refused(j)) => j.status == JobStatus::Waiting,
                Leased::Held(Transition::Missing) | Leased::NotHeld => false,
            };
            if set_aside {
                js.release_attempt(&w, &i)?;
            }
            Ok(())
        })
        .await
    }

    async fn next_job(&self) -> Option<QueuedJob> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_stopping() {
                return None;
            }
            let popped = lock(&self.queue).pop(&self.config.caps);
            if let Some(job) = popped {
                crate::metrics::queue_depth(self.queued());
                return Some(job);
            }
            notified.await;
        }
    }

    async fn worker(self: Arc<Self>) {
        loop {
            let Some(job) = self.next_job().await else {
                return;
            };
            let (ws, id) = (job.workspace.clone(), job.id.clone());
            let key = (ws.clone(), id.clone());
            let (js, w, i) = (self.store.clone(), ws.clone(), id.clone());
            let (me, ttl) = (self.config.node_id.clone(), self.config.lease_ttl);
            let max = self.config.max_attempts;
            // The lease, the attempt and the job, in one commit.
            let claimed =
                Self::blocking(move || Ok(js.claim_attempt(&w, &i, &me, ttl, max)?)).await;
            match claimed {
                // Another node runs it (or ran it): nothing to do here.
                Ok(Attempt::NotClaimed) => {}
                Err(e) => tracing::warn!(job = %id, error = %e, "claiming a job failed"),
                Ok(attempt) => {
                    let token = qws_sim::CancelToken::new();
                    lock(&self.running).insert(key.clone(), token.clone());
                    // Marked first, then signalled (see `cancel`).
                    if lock(&self.cancelled).contains(&key) {
                        token.cancel();
                    }
                    let renewer = tokio::spawn(self.clone().keep_lease(
                        ws.clone(),
                        id.clone(),
                        token.clone(),
                    ));
                    let released = match self.process(&ws, &id, token, attempt).await {
                        Ok(released) => released,
                        Err(e) => {
                            tracing::error!(job = %id, error = %e, "job processing failed");
                            let failure = exec::JobFailure::new(
                                "InternalError",
                                "The job could not be processed by the server.",
                            );
                            // Whichever state the job was left in, it ends failed (never
                            // replacing Cancelled or a terminal state).
                            let _ = self.fail_waiting(&ws, &id, failure.clone()).await;
                            let _ = self.finish(&ws, &id, Err(failure), 0).await;
                            false
                        }
                    };
                    renewer.abort();
                    if !released {
                        let (js, w, i, me) = (
                            self.store.clone(),
                            ws.clone(),
                            id.clone(),
                            self.config.node_id.clone(),
                        );
                        if let Err(e) =
                            Self::blocking(move || Ok(js.release_lease(&w, &i, &me)?)).await
                        {
                            tracing::warn!(job = %id, error = %e, "releasing a job lease failed");
                        }
                    }
                }
            }
            lock(&self.queue).finished(&job);
            // A slot of this workspace or principal is free: another worker may now take a
            // job it had to skip.
            self.notify.notify_one();
            lock(&self.running).remove(&key);
            lock(&self.cancelled).remove(&key);
            lock(&self.known).remove(&key);
            self.ends.ended(&ws, &id);
        }
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| anyhow::anyhow!("blocking task: {e}"))?
    }

    /// Runs one job whose lease this node holds, as claimed by [`JobStore::claim_attempt`]
    /// (the attempt is on record before the program is touched; see `start`); `token` stops
    /// its simulation. True when the lease was released with the job's final status.
    ///
    /// [`JobStore::claim_attempt`]: qws_store::jobs::JobStore::claim_attempt
    async fn process(
        self: &Arc<Self>,
        ws: &str,
        id: &str,
        token: qws_sim::CancelToken,
        attempt: Attempt,
    ) -> anyhow::Result<bool> {
        let stored = match attempt {
            Attempt::Started { job, .. } => *job,
            // Cancelled, deleted or run elsewhere meanwhile.
            Attempt::NotClaimed | Attempt::NotWaiting => return Ok(false),
            // Every attempt so far ended with its node dying: it fails instead of taking this
            // node down too (the same rule as at start-up, for jobs taken over from others).
            Attempt::Exhausted(attempts) => {
                let (me, w, i) = (self.clone(), ws.to_string(), id.to_string());
                Self::blocking(move || me.fail_interrupted(&w, &i, JobStatus::Waiting, attempts))
                    .await?;
                return Ok(false);
            }
        };
        let job = &stored.item;
        let Some((_, target)) = qws_core::catalog::target(&job.target) else {
            let f = exec::JobFailure::new(
                "UnknownTarget",
                format!("The target '{}' is no longer offered.", job.target),
            );
            return self.fail_waiting(ws, id, f).await.map(|()| false);
        };

        // Read and parse the input before taking any memory.
        let Some((container, Some(blob))) = self.data.locate(&job.input_data_uri) else {
            let f =
                exec::JobFailure::new("InvalidInputDataUri", "inputDataUri does not name a blob.");
            return self.fail_waiting(ws, id, f).await.map(|()| false);
        };
        let max_input = self.config.max_input_bytes;
        let budget = self.config.budget();
        // The program's parameters, as `prepare` reads them from the document.
        let d = match serde_json::to_value(job) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let (input_format, output_format) = (
            job.input_data_format.clone(),
            job.output_data_format.clone(),
        );
        let (data, w, c, b) = (self.data.clone(), ws.to_string(), container.clone(), blob);
        let read_and_prepare =
            move || -> anyhow::Result<Result<exec::Prepared, exec::JobFailure>> {
                let data = match data
                    .read_input(&w, &c, &b, max_input)
                    .map_err(|e| anyhow::anyhow!("reading the input: {e}"))?
                {
                    Input::Found {
                        data,
                        content_encoding,
                    } => match exec::decode_content(data, content_encoding.as_deref(), max_input) {
                        Ok(d) => d,
                        Err(f) => return Ok(Err(f)),
                    },
                    Input::NotFound => {
                        return Ok(Err(exec::JobFailure::new(
                            "InputDataNotFound",
                            format!("The input blob '{b}' was not found in container '{c}'."),
                        )))
                    }
                    Input::TooLarge(length) => {
                        return Ok(Err(exec::JobFailure::new(
                            "InputDataTooLarge",
                            format!(
                                "The input is {length} bytes; at most {max_input} are accepted."
                            ),
                        )))
                    }
                };
                Ok(exec::prepare(
                    &input_format,
                    &output_format,
                    &data,
                    &d,
                    target,
                    &budget,
                ))
            };
        let prepared = match contain::contained("preparing", read_and_prepare).await {
            Ok(r) => r?,
            Err(f) => Err(f),
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err(f) => return self.fail_waiting(ws, id, f).await.map(|()| false),
        };
        let permits = prepared.memory_bytes.div_ceil(MIB).max(1);
        if permits > (budget.memory_bytes / MIB).max(1) {
            let f = exec::JobFailure::new(
                "ExecutionLimitExceeded",
                format!(
                    "The job needs about {} MiB of simulator memory (state and results); the server's budget is {} MiB.",
                    permits,
                    budget.memory_bytes / MIB
                ),
            );
            return self.fail_waiting(ws, id, f).await.map(|()| false);
        }
        let acquire = self.memory.clone().acquire_many_owned(permits as u32);
        let _permit = tokio::select! {
            p = acquire => p.map_err(|e| anyhow::anyhow!("memory budget closed: {e}"))?,
            _ = self.stopped() => return self.set_aside(ws, id).await.map(|()| false),
        };

        // Waiting → Executing (unless cancelled or deleted meanwhile), then the simulation:
        // one trip to a contained thread for both.
        let (js, w, i) = (self.store.clone(), ws.to_string(), id.to_string());
        let me = self.config.node_id.clone();
        let begin = now_string();
        let (scheduler, created_at, target_id) = (self.clone(), stored.created_at, target.id);
        let start = move || -> anyhow::Result<bool> {
            let moved = js.transition_job_leased(
                &w,
                &i,
                &me,
                &[JobStatus::Waiting],
                JobStatus::Executing,
                false,
                &mut |j| j.begin_execution_time = Some(begin.clone()),
            )?;
            if !matches!(moved, Leased::Held(Transition::Done(_))) {
                return Ok(false);
            }
            let waited = (now_nanos() - created_at).max(0) as f64 / 1e9;
            scheduler.record_queue_time(target_id, waited);
            crate::metrics::queue_wait(target_id, waited);
            Ok(true)
        };

        let shots = prepared.shots;
        let _reserved = crate::metrics::job_memory(target.id, permits * MIB);
        let simulating = std::time::Instant::now();
        let limit = self.config.execution_limit(target.id);
        let Some(result) = self.start_and_run(start, prepared, token, limit).await? else {
            return Ok(false);
        };
        crate::metrics::simulation_time(target.id, simulating.elapsed().as_secs_f64());
        if lock(&self.cancelled).contains(&(ws.to_string(), id.to_string())) {
            return Ok(false);
        }
        if self.is_stopping() && matches!(&result, Err(f) if f.code == "Cancelled") {
            return self.set_aside(ws, id).await.map(|()| false);
        }
        self.complete(ws, id, container, result, shots).await
    }

    /// On a contained thread: moves the job to `Executing` with `start` and, if that was done,
    /// simulates (`None`: it was not, the job was cancelled or deleted meanwhile). Past `limit`
    /// the run is stopped through its cancel token and fails with `ExecutionTimeLimitExceeded`.
    async fn start_and_run(
        &self,
        start: impl FnOnce() -> anyhow::Result<bool> + Send + 'static,
        prepared: exec::Prepared,
        token: qws_sim::CancelToken,
        limit: Duration,
    ) -> anyhow::Result<Option<Result<Vec<u8>, exec::JobFailure>>> {
        let timed_out = AtomicBool::new(false);
        let sim_token = token.clone();
        let run = contain::contained("running", move || {
            if !start()? {
                return Ok(None);
            }
            Ok(Some(exec::run(prepared, &sim_token)))
        });
        tokio::pin!(run);
        let outcome: Result<anyhow::Result<_>, _> = tokio::select! {
            r = &mut run => r,
            _ = tokio::time::sleep(limit) => {
                timed_out.store(true, Ordering::SeqCst);
                token.cancel();
                run.await
            }
        };
        let result = match outcome {
            // The thread panicked: the job's failure.
            Err(fault) => Err(fault),
            Ok(started) => match started? {
                None => return Ok(None),
                Some(result) => result,
            },
        };
        Ok(Some(match result {
            Err(f) if f.code == "Cancelled" && timed_out.load(Ordering::SeqCst) => {
                Err(exec::JobFailure::new(
                    "ExecutionTimeLimitExceeded",
                    format!(
                        "The job ran longer than this target's limit of {} seconds and was stopped.",
                        limit.as_secs()
                    ),
                ))
            }
            other => other,
        }))
    }

    /// Ends a run in one trip to the blocking pool: while this node still holds the job's
    /// lease and the job is still `Executing` (checked, and the lease extended, first, so that
    /// no other node can take the job over while its output is written), writes the output,
    /// then moves the job to `Succeeded` (`Failed` when the run failed or its output could not
    /// be stored) with the commit that releases the lease. The output is on disk before the
    /// status that announces it. True when the lease went with that commit.
    async fn complete(
        &self,
        ws: &str,
        id: &str,
        container: String,
        result: Result<Vec<u8>, exec::JobFailure>,
        shots: u64,
    ) -> anyhow::Result<bool> {
        let (js, data) = (self.store.clone(), self.data.clone());
        let (w, i) = (ws.to_string(), id.to_string());
        let (me, ttl) = (self.config.node_id.clone(), self.config.lease_ttl);
        let out = Self::blocking(move || {
            let held = js.renew_lease(&w, &i, &me, ttl)?;
            if !matches!(held, Renewal::Held(Some(s)) if s == "Executing") {
                return Ok(None);
            }
            let result = result.and_then(|bytes| {
                data.write_output(&w, &container, OUTPUT_BLOB, &bytes)
                    .map_err(|e| {
                        exec::JobFailure::new(
                            "OutputWriteFailed",
                            format!("The output could not be stored: {e}"),
                        )
                    })
            });
            Ok(Some(settle(&*js, &w, &i, &me, &result, shots)?))
        })
        .await?;
        self.settled(ws, out).await
    }

    /// Executing → Succeeded/Failed (never replacing Cancelled), then session bookkeeping.
    /// True when the lease went with the move.
    async fn finish(
        &self,
        ws: &str,
        id: &str,
        result: Result<(), exec::JobFailure>,
        shots: u64,
    ) -> anyhow::Result<bool> {
        let (js, w, i) = (self.store.clone(), ws.to_string(), id.to_string());
        let me = self.config.node_id.clone();
        let out =
            Self::blocking(move || Ok(Some(settle(&*js, &w, &i, &me, &result, shots)?))).await?;
        self.settled(ws, out).await
    }

    /// What follows a run's end ([`settle`]; `None`: it was not this node's to end): metrics,
    /// and for a failure the session's bookkeeping. True when the move was made (and the lease
    /// released with it).
    async fn settled(&self, ws: &str, out: Option<Leased<Job>>) -> anyhow::Result<bool> {
        // Not held: another node took the job over; it ends there.
        let Some(Leased::Held(Transition::Done(job))) = out else {
            return Ok(false);
        };
        if job.status == JobStatus::Failed {
            self.after_failure(ws, &job).await?;
        } else {
            crate::metrics::job_finished(&job.target, "Succeeded");
        }
        Ok(true)
    }

    /// Waiting → Failed for jobs that never started.
    async fn fail_waiting(&self, ws: &str, id: &str, f: exec::JobFailure) -> anyhow::Result<()> {
        let (js, w, i) = (self.store.clone(), ws.to_string(), id.to_string());
        let me = self.config.node_id.clone();
        let end = now_string();
        let out = Self::blocking(move || {
            Ok(js.transition_job_leased(
                &w,
                &i,
                &me,
                &[JobStatus::Waiting],
                JobStatus::Failed,
                true,
                &mut |j| {
                    j.end_execution_time = Some(end.clone());
                    j.error_data = Some(ErrorData::new(f.code, &f.message));
                },
            )?)
        })
        .await?;
        if let Leased::Held(Transition::Done(job)) = out {
            self.after_failure(ws, &job).await?;
        }
        Ok(())
    }

    /// With `jobFailurePolicy: Abort`, a failed job ends its session: the session becomes
    /// `Failed` and its waiting jobs fail. Every failure the scheduler records passes here and
    /// is logged at info level, so an operator can match a user's failed job to its cause.
    async fn after_failure(&self, ws: &str, job: &Job) -> anyhow::Result<()> {
        log_failure(job);
        crate::metrics::job_finished(&job.target, "Failed");
        let Some(sid) = job.session_id.clone() else {
            return Ok(());
        };
        let (js, w) = (self.store.clone(), ws.to_string());
        let failed_job = job.id.clone();
        let aborted = Self::blocking(move || {
            match js.session(&w, &sid)? {
                Some(s) if s.item.job_failure_policy == JobFailurePolicy::Abort => {}
                _ => return Ok(Vec::new()),
            }
            let end = now_string();
            let out = js.transition_session(
                &w,
                &sid,
                &[SessionStatus::Waiting, SessionStatus::Executing],
                SessionStatus::Failed,
                &mut |s| s.end_execution_time = Some(end.clone()),
            )?;
            let mut aborted = Vec::new();
            if let Transition::Done(_) = out {
                let msg = format!("Session '{sid}' was aborted because job '{failed_job}' failed (jobFailurePolicy: Abort).");
                for id in js.session_jobs_in_status(&w, &sid, JobStatus::Waiting, MAX_SESSION_JOBS)? {
                    let end = now_string();
                    let t = js.transition_job(
                        &w,
                        &id,
                        &[JobStatus::Waiting],
                        JobStatus::Failed,
                        &mut |j| {
                            j.end_execution_time = Some(end.clone());
                            j.error_data = Some(ErrorData::new("SessionAborted", &msg));
                        },
                    )?;
                    if let Transition::Done(j) = t {
                        crate::metrics::job_finished(&j.target, "Failed");
                        aborted.push(id);
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

/// Executing → Succeeded (`result` Ok) or Failed, made only while `owner` holds the job's lease,
/// which is released with the move; never replaces Cancelled or another status.
fn settle(
    store: &dyn JobQueueStore,
    ws: &str,
    id: &str,
    owner: &str,
    result: &Result<(), exec::JobFailure>,
    shots: u64,
) -> anyhow::Result<Leased<Job>> {
    let end = now_string();
    let to = match result {
        Ok(()) => JobStatus::Succeeded,
        Err(_) => JobStatus::Failed,
    };
    Ok(
        store.transition_job_leased(
            ws,
            id,
            owner,
            &[JobStatus::Executing],
            to,
            true,
            &mut |j| {
                j.end_execution_time = Some(end.clone());
                match result {
                    Ok(()) => {
                        j.cost_estimate = Some(cost_estimate(shots));
                        j.quantum_computing_data = Some(json!({"count": 1}));
                    }
                    Err(f) => j.error_data = Some(ErrorData::new(f.code, &f.message)),
                }
            },
        )?,
    )
}

/// One info line per failed job: its id, target and error code (not the message, which may
/// quote the user's program).
fn log_failure(job: &Job) {
    let code = job.error_data.as_ref().map_or("", |e| e.code.as_str());
    tracing::info!(job = %job.id, target = %job.target, code = %code, "job failed");
}

#[cfg(test)]
mod store_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_default_budget_runs_every_advertised_qubit_count() {
        let budget = default_memory_budget(Some(24 * GIB), DEFAULT_MAX_OUTPUT_BYTES);
        let b = exec::Budget {
            memory_bytes: budget,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        };
        for t in qws_core::catalog::PROVIDERS
            .iter()
            .flat_map(|p| p.targets.iter())
        {
            // The widest program the target accepts, with the most output a job may make.
            let need = exec::memory_for_qubits(t.sim_qubits as usize)
                + exec::memory_for_output(u64::MAX, DEFAULT_MAX_OUTPUT_BYTES);
            assert!(
                need.div_ceil(MIB) <= budget / MIB,
                "{} needs {} MiB, budget {} MiB",
                t.id,
                need.div_ceil(MIB),
                budget / MIB
            );
        }
        // And through `prepare`, as the scheduler admits it: 29 qubits on ionq.simulator.
        let ionq = qws_core::catalog::target("ionq.simulator").unwrap().1;
        let program = format!(r#"{{"qubits":{},"circuit":[]}}"#, ionq.num_qubits);
        let p = exec::prepare(
            "ionq.circuit.v1",
            "ionq.quantum-results.v1",
            program.as_bytes(),
            &Map::new(),
            ionq,
            &b,
        )
        .unwrap();
        assert!(p.memory_bytes.div_ceil(MIB) <= budget / MIB);
    }

    #[test]
    fn a_small_machine_gets_three_quarters_of_its_memory() {
        assert_eq!(
            default_memory_budget(Some(8 * GIB), DEFAULT_MAX_OUTPUT_BYTES),
            6 * GIB
        );
        assert_eq!(
            default_memory_budget(Some(GIB), 1 << 20),
            GIB,
            "at least 1 GiB"
        );
        assert_eq!(
            default_memory_budget(None, DEFAULT_MAX_OUTPUT_BYTES),
            widest_target_memory(DEFAULT_MAX_OUTPUT_BYTES).div_ceil(MIB) * MIB
        );
    }

    #[test]
    fn one_worker_per_workspace_is_kept_free_for_others() {
        assert_eq!(
            SchedulerConfig::with_workers(1).caps.running_per_workspace,
            1
        );
        assert_eq!(
            SchedulerConfig::with_workers(2).caps.running_per_workspace,
            1
        );
        assert_eq!(
            SchedulerConfig::with_workers(8).caps.running_per_workspace,
            7
        );
    }

    #[test]
    fn target_limits_override_the_default() {
        let mut c = SchedulerConfig::with_workers(1);
        c.target_max_execution_time
            .insert("ionq.simulator".into(), Duration::from_secs(5));
        assert_eq!(c.execution_limit("ionq.simulator"), Duration::from_secs(5));
        assert_eq!(c.execution_limit("rigetti.sim.qvm"), c.max_execution_time);
    }

    #[test]
    fn key_callers_are_charged_per_workspace() {
        assert_ne!(
            principal_key("w1", "PrimaryKey", "Key"),
            principal_key("w2", "PrimaryKey", "Key")
        );
        assert_eq!(principal_key("w1", "app-id", "Application"), "app-id");
    }
}
