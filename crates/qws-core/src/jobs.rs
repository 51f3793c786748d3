//! The data plane's jobs and sessions as types: statuses, their one state machine, and the
//! `JobDetails` / `SessionDetails` documents.
//!
//! A status changes only through [`transition`], which knows the legal moves: terminal
//! statuses never change, so a `Cancelled` job is never overwritten by a result that arrives
//! late. Stores persist a transition as a conditional update (only if the row still has the
//! status the transition started from), so two writers cannot both win.
//!
//! The documents keep every field qws does not own in `extra` (a flattened map): clients
//! (qiskit, cirq) read their own `metadata` and `inputParams` back. The served document is the
//! stored JSON object, in its stored key order; [`Item::merge_into`] writes the typed fields
//! back onto it, so an existing key keeps its place and a new one goes to the end, exactly as
//! editing the object by hand did.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// Name of a job's output blob in its container.
pub const OUTPUT_BLOB: &str = "outputData";

/// A status with a fixed set of legal moves.
pub trait Lifecycle: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Whether `self → to` is a legal move (never true for a terminal status).
    fn allows(self, to: Self) -> bool;
    /// True for a status that never changes again.
    fn is_terminal(self) -> bool;
    /// The wire spelling (exact case).
    fn as_str(self) -> &'static str;
    /// Parses the wire spelling (exact case, as stored).
    fn parse(s: &str) -> Option<Self>;
}

/// An illegal status change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {kind} cannot go from {from} to {to}")]
pub struct TransitionError {
    /// `job` or `session`.
    pub kind: &'static str,
    /// Status before.
    pub from: &'static str,
    /// Requested status.
    pub to: &'static str,
}

/// The one way a status changes: `to` if `from → to` is legal.
pub fn transition<S: Lifecycle + StatusKind>(from: S, to: S) -> Result<S, TransitionError> {
    if from.allows(to) {
        Ok(to)
    } else {
        Err(TransitionError {
            kind: S::KIND,
            from: from.as_str(),
            to: to.as_str(),
        })
    }
}

/// Names the kind of item a status belongs to (for errors).
pub trait StatusKind {
    /// `job` or `session`.
    const KIND: &'static str;
}

/// Status of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    /// Accepted, not started (or put back after the server stopped during it).
    Waiting,
    /// Running.
    Executing,
    /// Finished; output written.
    Succeeded,
    /// Finished with `errorData`.
    Failed,
    /// Cancelled by the client.
    Cancelled,
}

impl StatusKind for JobStatus {
    const KIND: &'static str = "job";
}

impl Lifecycle for JobStatus {
    fn allows(self, to: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, to),
            (Waiting, Executing | Failed | Cancelled)
                // Back to Waiting: the server stopped (crash or shutdown) while it ran.
                | (Executing, Waiting | Succeeded | Failed | Cancelled)
        )
    }
    fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled
        )
    }
    fn as_str(self) -> &'static str {
        match self {
            JobStatus::Waiting => "Waiting",
            JobStatus::Executing => "Executing",
            JobStatus::Succeeded => "Succeeded",
            JobStatus::Failed => "Failed",
            JobStatus::Cancelled => "Cancelled",
        }
    }
    fn parse(s: &str) -> Option<JobStatus> {
        [
            JobStatus::Waiting,
            JobStatus::Executing,
            JobStatus::Succeeded,
            JobStatus::Failed,
            JobStatus::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// Status of a session (the client's `SessionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SessionStatus {
    /// Open, no job yet.
    Waiting,
    /// Open, jobs joined.
    Executing,
    /// Closed, no job failed.
    Succeeded,
    /// Closed with a failed job, or aborted by `jobFailurePolicy: Abort`.
    Failed,
    /// Some jobs failed (the client does not treat it as terminal; qws accepts no more jobs).
    #[serde(rename = "Failure(s)")]
    Failures,
    /// Timed out.
    TimedOut,
}

impl StatusKind for SessionStatus {
    const KIND: &'static str = "session";
}

impl Lifecycle for SessionStatus {
    fn allows(self, to: SessionStatus) -> bool {
        use SessionStatus::*;
        matches!(
            (self, to),
            (
                Waiting,
                Executing | Succeeded | Failed | Failures | TimedOut
            ) | (Executing, Succeeded | Failed | Failures | TimedOut)
        )
    }
    /// A closed session: it accepts no more jobs.
    fn is_terminal(self) -> bool {
        !matches!(self, SessionStatus::Waiting | SessionStatus::Executing)
    }
    fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Waiting => "Waiting",
            SessionStatus::Executing => "Executing",
            SessionStatus::Succeeded => "Succeeded",
            SessionStatus::Failed => "Failed",
            SessionStatus::Failures => "Failure(s)",
            SessionStatus::TimedOut => "TimedOut",
        }
    }
    fn parse(s: &str) -> Option<SessionStatus> {
        [
            SessionStatus::Waiting,
            SessionStatus::Executing,
            SessionStatus::Succeeded,
            SessionStatus::Failed,
            SessionStatus::Failures,
            SessionStatus::TimedOut,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// `itemType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ItemType {
    /// A job.
    Job,
    /// A session.
    Session,
}

impl ItemType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemType::Job => "Job",
            ItemType::Session => "Session",
        }
    }
}

/// `jobFailurePolicy` of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobFailurePolicy {
    /// The first failed job ends the session (the default).
    Abort,
    /// Failed jobs do not affect the session.
    Continue,
}

/// `errorData` of a failed job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorData {
    /// Error code.
    pub code: String,
    /// Message for the user.
    pub message: String,
}

impl ErrorData {
    /// An error with `code` and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> ErrorData {
        ErrorData {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A stored document with a status (a job or a session).
pub trait Item: Serialize + DeserializeOwned + Clone + Send + 'static {
    /// Its status type.
    type Status: Lifecycle + StatusKind;
    /// `itemType` of this kind.
    const ITEM_TYPE: ItemType;
    /// Current status.
    fn status(&self) -> Self::Status;
    /// Sets the status. Only stores call this, after [`transition`] allowed the move.
    #[doc(hidden)]
    fn set_status_unchecked(&mut self, to: Self::Status);

    /// Reads the typed item out of a stored document.
    fn from_doc(doc: &Map<String, Value>) -> Result<Self, serde_json::Error> {
        serde_json::from_value(Value::Object(doc.clone()))
    }

    /// Writes the typed fields onto `doc`: a key already there keeps its place, a new key is
    /// appended, and no key is removed (fields qws leaves unset are left as the client sent
    /// them).
    fn merge_into(&self, doc: &mut Map<String, Value>) {
        if let Ok(Value::Object(fields)) = serde_json::to_value(self) {
            for (k, v) in fields {
                doc.insert(k, v);
            }
        }
    }
}

/// A job (`JobDetails`). Field order is the order in which a new job's document gets its
/// fields (see the module docs); fields a client may leave out or set to `null` are `Option`s
/// that are not written when `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// Job id, as the client chose it.
    pub id: String,
    /// Always [`ItemType::Job`].
    pub item_type: ItemType,
    /// `jobType` (`QuantumComputing` unless the client said otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_type: Option<Value>,
    /// `Standard` or `High`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Target parameters (shots, entry points…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_params: Option<Value>,
    /// Client tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Provider of the target (lower case).
    pub provider_id: String,
    /// Job container URL (no SAS is stored).
    pub container_uri: String,
    /// Input blob URL.
    pub input_data_uri: String,
    /// Output format.
    pub output_data_format: String,
    /// Output blob URL.
    pub output_data_uri: String,
    /// Creation time (wire format).
    pub creation_time: String,
    /// Who submitted it.
    pub created_by: String,
    /// `User`, `Application`, `ManagedIdentity` or `Key`.
    pub created_by_type: String,
    /// When it started executing.
    #[serde(default)]
    pub begin_execution_time: Option<String>,
    /// When it reached a terminal status.
    #[serde(default)]
    pub end_execution_time: Option<String>,
    /// When it was cancelled.
    #[serde(default)]
    pub cancellation_time: Option<String>,
    /// Cost of a finished run.
    #[serde(default)]
    pub cost_estimate: Option<Value>,
    /// Always false (cancellation is immediate).
    #[serde(default)]
    pub is_cancelling: bool,
    /// Why it failed.
    #[serde(default)]
    pub error_data: Option<ErrorData>,
    /// Status.
    pub status: JobStatus,
    /// Set when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantum_computing_data: Option<Value>,
    /// Target id.
    pub target: String,
    /// Input format.
    pub input_data_format: String,
    /// Session the job belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Every other field, as the client sent it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for Job {
    type Status = JobStatus;
    const ITEM_TYPE: ItemType = ItemType::Job;
    fn status(&self) -> JobStatus {
        self.status
    }
    fn set_status_unchecked(&mut self, to: JobStatus) {
        self.status = to;
    }
}

impl Job {
    /// Shots requested by `inputParams` (see [`requested_shots`]).
    pub fn requested_shots(&self) -> Option<u64> {
        requested_shots(self.input_params.as_ref())
    }
}

/// A session (`SessionDetails`), fields in creation order like [`Job`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Session id.
    pub id: String,
    /// Always [`ItemType::Session`].
    pub item_type: ItemType,
    /// Provider of the target.
    pub provider_id: String,
    /// Target id.
    pub target: String,
    /// Display name.
    pub name: String,
    /// Priority, as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Value>,
    /// Tags, as the client sent them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    /// What a failed job does to the session.
    pub job_failure_policy: JobFailurePolicy,
    /// Status.
    pub status: SessionStatus,
    /// Creation time (wire format).
    pub creation_time: String,
    /// When the first job joined.
    #[serde(default)]
    pub begin_execution_time: Option<String>,
    /// When it closed.
    #[serde(default)]
    pub end_execution_time: Option<String>,
    /// Who opened it.
    pub created_by: String,
    /// Kind of caller who opened it.
    pub created_by_type: String,
    /// Every other field, as the client sent it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Item for Session {
    type Status = SessionStatus;
    const ITEM_TYPE: ItemType = ItemType::Session;
    fn status(&self) -> SessionStatus {
        self.status
    }
    fn set_status_unchecked(&mut self, to: SessionStatus) {
        self.status = to;
    }
}

/// Shots requested by a job's `inputParams` (`shots`, or the older `count`), if any.
pub fn requested_shots(input_params: Option<&Value>) -> Option<u64> {
    let p = input_params?;
    p.get("shots")
        .or_else(|| p.get("count"))
        .and_then(Value::as_u64)
}

/// Unix nanoseconds of an RFC 3339 time or a `YYYY-MM-DD` date, as list filters and job
/// documents write them (`end_of_day` moves a date to its last nanosecond, for inclusive upper
/// bounds).
pub fn parse_time_nanos(v: &str, end_of_day: bool) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(v, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(v, &fmt).ok()?;
    let t = d.midnight().assume_utc().unix_timestamp_nanos();
    Some(if end_of_day {
        t + 86_400_000_000_000 - 1
    } else {
        t
    })
}

/// `costEstimate` of a finished run (qws simulators are free).
pub fn cost_estimate(shots: u64) -> Value {
    serde_json::json!({
        "currencyCode": "USD",
        "events": [{
            "dimensionId": "shots",
            "dimensionName": "Shots",
            "measureUnit": "shots",
            "amountBilled": 0.0,
            "amountConsumed": shots as f64,
            "unitPrice": 0.0
        }],
        "estimatedTotal": 0.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ALL_JOB: [JobStatus; 5] = [
        JobStatus::Waiting,
        JobStatus::Executing,
        JobStatus::Succeeded,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    #[test]
    fn terminal_job_statuses_never_change() {
        for from in ALL_JOB.into_iter().filter(|s| s.is_terminal()) {
            for to in ALL_JOB {
                assert!(transition(from, to).is_err(), "{from:?} -> {to:?}");
            }
        }
        let e = transition(JobStatus::Cancelled, JobStatus::Succeeded).unwrap_err();
        assert_eq!(e.to_string(), "a job cannot go from Cancelled to Succeeded");
    }

    #[test]
    fn the_job_lifecycle_is_exactly_the_documented_one() {
        use JobStatus::*;
        let legal: Vec<(JobStatus, JobStatus)> = ALL_JOB
            .into_iter()
            .flat_map(|f| ALL_JOB.into_iter().map(move |t| (f, t)))
            .filter(|(f, t)| transition(*f, *t).is_ok())
            .collect();
        assert_eq!(
            legal,
            vec![
                (Waiting, Executing),
                (Waiting, Failed),
                (Waiting, Cancelled),
                (Executing, Waiting),
                (Executing, Succeeded),
                (Executing, Failed),
                (Executing, Cancelled),
            ]
        );
        assert!(
            transition(Waiting, Succeeded).is_err(),
            "no output without running"
        );
        assert!(transition(Waiting, Waiting).is_err());
    }

    #[test]
    fn sessions_close_once() {
        use SessionStatus::*;
        assert_eq!(transition(Waiting, Executing), Ok(Executing));
        assert_eq!(transition(Executing, Failed), Ok(Failed));
        assert!(transition(Executing, Waiting).is_err());
        for closed in [Succeeded, Failed, Failures, TimedOut] {
            assert!(closed.is_terminal());
            assert!(transition(closed, Executing).is_err());
            assert_eq!(SessionStatus::parse(closed.as_str()), Some(closed));
        }
        assert_eq!(serde_json::to_value(Failures).unwrap(), json!("Failure(s)"));
    }

    #[test]
    fn statuses_parse_only_their_exact_spelling() {
        for s in ALL_JOB {
            assert_eq!(JobStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        assert_eq!(JobStatus::parse("succeeded"), None);
        assert_eq!(JobStatus::parse("Completed"), None);
    }

    fn job_doc() -> Map<String, Value> {
        json!({
            "name": "bell", "target": "ionq.simulator", "inputDataFormat": "ionq.circuit.v1",
            "metadata": {"qiskit": "yes", "n": 1.5}, "id": "j1", "itemType": "Job",
            "jobType": "QuantumComputing", "priority": "Standard", "inputParams": {"shots": 7},
            "tags": [], "providerId": "ionq", "containerUri": "http://h/c",
            "inputDataUri": "http://h/c/inputData", "outputDataFormat": "ionq.quantum-results.v1",
            "outputDataUri": "http://h/c/outputData", "creationTime": "2026-11-22T04:31:49.7097030Z",
            "createdBy": "app", "createdByType": "Application", "beginExecutionTime": null,
            "endExecutionTime": null, "cancellationTime": null, "costEstimate": null,
            "isCancelling": false, "errorData": null, "status": "Waiting"
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn a_job_document_survives_the_typed_model_unchanged() {
        let doc = job_doc();
        let job = Job::from_doc(&doc).unwrap();
        assert_eq!(job.status, JobStatus::Waiting);
        assert_eq!(job.requested_shots(), Some(7));
        assert_eq!(job.extra.get("metadata"), doc.get("metadata"));
        assert_eq!(job.extra.get("name"), Some(&json!("bell")));
        let mut again = doc.clone();
        job.merge_into(&mut again);
        assert_eq!(
            serde_json::to_string(&again).unwrap(),
            serde_json::to_string(&doc).unwrap(),
            "byte for byte"
        );
    }

    #[test]
    fn merging_keeps_key_positions_and_nulls_the_client_sent() {
        let mut doc = job_doc();
        doc.insert("sessionId".into(), Value::Null);
        let mut job = Job::from_doc(&doc).unwrap();
        assert_eq!(job.session_id, None);
        job.status = JobStatus::Succeeded;
        job.quantum_computing_data = Some(json!({"count": 1}));
        job.merge_into(&mut doc);
        let keys: Vec<&str> = doc.keys().map(String::as_str).collect();
        assert_eq!(keys[0], "name", "the first key stays first");
        assert_eq!(
            keys[keys.len() - 1],
            "quantumComputingData",
            "a new key goes last"
        );
        assert_eq!(doc["sessionId"], Value::Null, "not dropped");
        assert_eq!(doc["status"], json!("Succeeded"));
        assert_eq!(doc["quantumComputingData"], json!({"count": 1}));
        assert_eq!(doc.len(), job_doc().len() + 2);
    }

    #[test]
    fn a_session_document_round_trips() {
        let doc = json!({
            "id": "s1", "itemType": "Session", "providerId": "ionq", "target": "ionq.simulator",
            "name": "session-s1", "priority": "Standard", "tags": [], "jobFailurePolicy": "Abort",
            "status": "Waiting", "creationTime": "t", "beginExecutionTime": null,
            "endExecutionTime": null, "createdBy": "k", "createdByType": "Key", "custom": 1
        });
        let doc = doc.as_object().unwrap().clone();
        let s = Session::from_doc(&doc).unwrap();
        assert_eq!(s.job_failure_policy, JobFailurePolicy::Abort);
        assert_eq!(s.extra.get("custom"), Some(&json!(1)));
        let mut again = doc.clone();
        s.merge_into(&mut again);
        assert_eq!(again, doc);
    }
}
