//! Operational metrics: every metric name and label is defined here, and the rest of the server
//! records through the small functions below (the request layer, the authentication gate, the
//! scheduler, the blob service). `GET /metrics` on the `--metrics-listen` listener
//! ([`serve`]) renders them in the Prometheus text format.
//!
//! One registry per process, like the log subscriber: a process runs one server, and a global
//! lets the scheduler and the gate record without threading a handle through every call.
//!
//! Label values are bounded so that no caller can grow the series without limit: routes are
//! route *templates* (never the raw path), targets and providers come from the catalog (an
//! unknown one is `other`), reasons are the server's own short error codes.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

/// Labels of a served request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    plane: String,
    route: String,
    status: String,
}

/// A single `reason` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

/// Labels of a job.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    provider: String,
    target: String,
}

/// Labels of a job outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobOutcomeLabels {
    provider: String,
    target: String,
    status: String,
}

/// Labels of a database connection's use.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DatabaseLabels {
    database: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// From 1 ms to about 65 s.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// From 10 ms to about 6 hours (queue waits and simulations are longer than requests).
fn job_time_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 3.0, 15))
}

/// From 1 MiB to 256 GiB (a job's simulator memory).
fn job_memory_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1048576.0, 4.0, 10))
}

/// From 10 µs to about 40 s (waiting for and holding a database connection).
fn database_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.00001, 4.0, 12))
}

/// The process's metrics.
struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: HistogramFamily<RequestLabels>,
    auth_failures: Family<ReasonLabels, Counter>,
    throttled: Family<ReasonLabels, Counter>,
    jobs_submitted: Family<JobLabels, Counter>,
    jobs_finished: Family<JobOutcomeLabels, Counter>,
    queue_depth: Gauge,
    queue_wait_seconds: HistogramFamily<JobLabels>,
    simulation_seconds: HistogramFamily<JobLabels>,
    job_memory_bytes: HistogramFamily<JobLabels>,
    memory_reserved: Gauge,
    db_waiters: Family<DatabaseLabels, Gauge>,
    db_in_use: Family<DatabaseLabels, Gauge>,
    db_wait_seconds: HistogramFamily<DatabaseLabels>,
    db_held_seconds: HistogramFamily<DatabaseLabels>,
    blob_bytes_in: Counter,
    blob_bytes_out: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("qws");
        let m = Metrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram),
            auth_failures: Family::default(),
            throttled: Family::default(),
            jobs_submitted: Family::default(),
            jobs_finished: Family::default(),
            queue_depth: Gauge::default(),
            queue_wait_seconds: Family::new_with_constructor(job_time_histogram),
            simulation_seconds: Family::new_with_constructor(job_time_histogram),
            job_memory_bytes: Family::new_with_constructor(job_memory_histogram),
            memory_reserved: Gauge::default(),
            db_waiters: Family::default(),
            db_in_use: Family::default(),
            db_wait_seconds: Family::new_with_constructor(database_histogram),
            db_held_seconds: Family::new_with_constructor(database_histogram),
            blob_bytes_in: Counter::default(),
            blob_bytes_out: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests served, by plane, route template and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by plane, route template and status",
            m.request_seconds.clone(),
        );
        registry.register(
            "auth_failures",
            "Failed authentications, by reason code",
            m.auth_failures.clone(),
        );
        registry.register(
            "throttled",
            "Requests refused for load or repeated failures, by reason",
            m.throttled.clone(),
        );
        registry.register(
            "jobs_submitted",
            "Jobs accepted, by provider and target",
            m.jobs_submitted.clone(),
        );
        registry.register(
            "jobs_finished",
            "Jobs that reached Succeeded, Failed or Cancelled, by provider, target and status",
            m.jobs_finished.clone(),
        );
        registry.register(
            "queue_depth",
            "Jobs waiting in the scheduler's queue",
            m.queue_depth.clone(),
        );
        registry.register(
            "job_queue_wait_seconds",
            "Time from submission to the start of execution",
            m.queue_wait_seconds.clone(),
        );
        registry.register(
            "job_simulation_seconds",
            "Time a job spent simulating",
            m.simulation_seconds.clone(),
        );
        registry.register(
            "job_memory_bytes",
            "Simulator memory a job held while it ran: its state vector and results, as the \
             scheduler reserved them from the memory budget before the run",
            m.job_memory_bytes.clone(),
        );
        registry.register(
            "simulator_memory_reserved_bytes",
            "Simulator memory reserved by the jobs running now",
            m.memory_reserved.clone(),
        );
        registry.register(
            "db_connection_waiters",
            "Callers waiting for a database's connection (each store has one)",
            m.db_waiters.clone(),
        );
        registry.register(
            "db_connections_in_use",
            "A database's connections in use (each store has one: 0 or 1)",
            m.db_in_use.clone(),
        );
        registry.register(
            "db_connection_wait_seconds",
            "Time callers waited for a database's connection",
            m.db_wait_seconds.clone(),
        );
        registry.register(
            "db_connection_held_seconds",
            "Time callers held a database's connection",
            m.db_held_seconds.clone(),
        );
        registry.register(
            "blob_received_bytes",
            "Bytes of blob uploads received",
            m.blob_bytes_in.clone(),
        );
        registry.register(
            "blob_sent_bytes",
            "Bytes of blob downloads sent",
            m.blob_bytes_out.clone(),
        );
        registry.register(
            "build",
            "The qws version running",
            Info::new(vec![(
                "version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            )]),
        );
        Metrics { registry, ..m }
    }
}

/// The metrics in the Prometheus text format.
pub fn render() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &METRICS.registry);
    out
}

/// `(provider, target)` of a catalog target, `("other", "other")` for anything else, so that a
/// submitted name cannot add a series.
fn job_labels(target: &str) -> JobLabels {
    let (provider, target) = match qws_core::catalog::target(target) {
        Some((p, t)) => (p.id, t.id),
        None => ("other", "other"),
    };
    JobLabels {
        provider: provider.to_string(),
        target: target.to_string(),
    }
}

/// A job was accepted.
pub fn job_submitted(target: &str) {
    METRICS
        .jobs_submitted
        .get_or_create(&job_labels(target))
        .inc();
}

/// A job reached a terminal status (`Succeeded`, `Failed`, `Cancelled`).
pub fn job_finished(target: &str, status: &'static str) {
    let JobLabels { provider, target } = job_labels(target);
    let labels = JobOutcomeLabels {
        provider,
        target,
        status: status.to_string(),
    };
    METRICS.jobs_finished.get_or_create(&labels).inc();
}

/// The scheduler's queue now holds `depth` jobs.
pub fn queue_depth(depth: usize) {
    METRICS.queue_depth.set(depth as i64);
}

/// A job waited `secs` before it started.
pub fn queue_wait(target: &str, secs: f64) {
    METRICS
        .queue_wait_seconds
        .get_or_create(&job_labels(target))
        .observe(secs);
}

/// A job simulated for `secs`.
pub fn simulation_time(target: &str, secs: f64) {
    METRICS
        .simulation_seconds
        .get_or_create(&job_labels(target))
        .observe(secs);
}

/// A job is about to run with `bytes` of simulator memory reserved; the reservation shows as
/// in use until the returned guard is dropped.
pub fn job_memory(target: &str, bytes: u64) -> MemoryReserved {
    METRICS
        .job_memory_bytes
        .get_or_create(&job_labels(target))
        .observe(bytes as f64);
    let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
    METRICS.memory_reserved.inc_by(bytes);
    MemoryReserved(bytes)
}

/// Simulator memory counted as reserved while this lives.
#[derive(Debug)]
pub struct MemoryReserved(i64);

impl Drop for MemoryReserved {
    fn drop(&mut self) {
        METRICS.memory_reserved.dec_by(self.0);
    }
}

/// Records the stores' use of their database connections (installed with
/// [`qws_store::pool::observe`] when a server starts).
pub fn database_use(u: qws_store::pool::Use) {
    use qws_store::pool::Use;
    let labels = |d: qws_store::pool::Database| DatabaseLabels {
        database: d.name().to_string(),
    };
    match u {
        Use::Waiting(d) => {
            METRICS.db_waiters.get_or_create(&labels(d)).inc();
        }
        Use::Acquired(d, waited) => {
            let l = labels(d);
            METRICS.db_waiters.get_or_create(&l).dec();
            METRICS.db_in_use.get_or_create(&l).inc();
            METRICS
                .db_wait_seconds
                .get_or_create(&l)
                .observe(waited.as_secs_f64());
        }
        Use::Released(d, held) => {
            let l = labels(d);
            METRICS.db_in_use.get_or_create(&l).dec();
            METRICS
                .db_held_seconds
                .get_or_create(&l)
                .observe(held.as_secs_f64());
        }
    }
}

/// A credential was refused; `reason` is the plane's short error code.
pub fn auth_failure(reason: &str) {
    let reason = bounded(reason);
    METRICS
        .auth_failures
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// A request was throttled; `reason` names the limit (e.g. `auth_failures`, a queue cap code).
pub fn throttled(reason: &str) {
    let reason = bounded(reason);
    METRICS
        .throttled
        .get_or_create(&ReasonLabels { reason })
        .inc();
}

/// Blob upload bytes received.
pub fn blob_bytes_in(n: u64) {
    METRICS.blob_bytes_in.inc_by(n);
}

/// Blob download bytes sent.
pub fn blob_bytes_out(n: u64) {
    METRICS.blob_bytes_out.inc_by(n);
}

/// Reason codes are the server's own identifiers; anything else is cut down to one.
fn bounded(code: &str) -> String {
    if !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        code.to_string()
    } else {
        "other".to_string()
    }
}

tokio::task_local! {
    /// The authenticated principal of the request being served (see [`note_principal`]).
    static PRINCIPAL: Arc<Mutex<Option<String>>>;
}

/// Notes who the current request authenticated as (an object id or `workspace-key`, never a
/// credential), for its log line.
pub fn note_principal(id: &str) {
    let _ = PRINCIPAL.try_with(|p| {
        if let Ok(mut p) = p.lock() {
            *p = Some(id.chars().take(64).collect());
        }
    });
}

/// The plane that answered, attached to responses by each plane's router ([`tag_plane`]).
#[derive(Clone, Copy, Debug)]
struct Plane(&'static str);

/// What the request log line reports about a request beyond the listener's view: its plane,
/// route template and principal. Put on the response by [`observe_request`].
#[derive(Clone, Debug)]
pub struct RequestFacts {
    /// The plane that answered (`mgmt`, `dataplane`, `blob`…, `none` when nothing matched).
    pub plane: &'static str,
    /// The route template (`/subscriptions/{subscription}/…`), never the raw path.
    pub route: String,
    /// The authenticated principal, if any.
    pub principal: Option<String>,
}

/// Tags every response of `router` with its plane.
pub fn tag_plane<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    plane: &'static str,
) -> axum::Router<S> {
    router.layer(axum::middleware::map_response(
        move |mut r: Response| async move {
            r.extensions_mut().insert(Plane(plane));
            r
        },
    ))
}

/// The request layer of the application router: counts and times every request by plane,
/// route template and status, and leaves [`RequestFacts`] on the response for the log line.
pub async fn observe_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let blob = route.is_none() && crate::planes::blob::is_blob_request(&req);
    let principal = Arc::new(Mutex::new(None));
    let started = Instant::now();
    let mut resp = PRINCIPAL.scope(principal.clone(), next.run(req)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let plane = match resp.extensions().get::<Plane>() {
        Some(p) => p.0,
        None if blob => "blob",
        None => "none",
    };
    let route = route.unwrap_or_else(|| if blob { "(blob)" } else { "(unmatched)" }.into());
    let labels = RequestLabels {
        plane: plane.to_string(),
        route: route.clone(),
        status: resp.status().as_u16().to_string(),
    };
    METRICS.requests.get_or_create(&labels).inc();
    METRICS
        .request_seconds
        .get_or_create(&labels)
        .observe(elapsed);
    let principal = principal.lock().ok().and_then(|p| p.clone());
    resp.extensions_mut().insert(RequestFacts {
        plane,
        route,
        principal,
    });
    resp
}

/// Serves `GET /metrics` on `listener` until `shutdown` flips to true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    // The encoder writes OpenMetrics text, which Prometheus reads.
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                render(),
            )
        }),
    );
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::warn!(error = %e, "the metrics listener stopped");
    }
}
