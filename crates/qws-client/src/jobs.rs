//! Jobs: submit (SAS upload then `PUT {ws}/jobs/{id}`), get, list, cancel, delete, wait.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::Request;
use crate::response::Response;
use crate::workspace::{Pager, Workspace};

/// A job as the service reports it. Unknown fields are kept in [`extra`](Self::extra) so nothing
/// the service sends is lost.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobDetails {
    /// Job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Container SAS URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_uri: Option<String>,
    /// Input data format (`ionq.circuit.v1`, `honeywell.openqasm.v1`, `qir.v1`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_data_format: Option<String>,
    /// Output data format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_data_format: Option<String>,
    /// Input blob URL (no SAS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_data_uri: Option<String>,
    /// Output blob URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_data_uri: Option<String>,
    /// Provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Target id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Input parameters (`{"shots": N, …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_params: Option<serde_json::Value>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// Session the job belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// `Job`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    /// `Waiting`, `Executing`, `Succeeded`, `Failed`, `Cancelled`… (exact case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Standard` or `High`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    /// Tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Creation time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_time: Option<String>,
    /// Start of execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub begin_execution_time: Option<String>,
    /// End of execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_execution_time: Option<String>,
    /// Failure details (`{"code","message"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_data: Option<serde_json::Value>,
    /// Every other field the service sent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl JobDetails {
    /// The status string, or "" when absent.
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("")
    }

    /// Whether the job is over (`Succeeded`, `Completed`, `Failed`, `Cancelled`).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status(),
            "Succeeded" | "Completed" | "Failed" | "Cancelled"
        )
    }

    /// Whether the job finished successfully (`Succeeded` or `Completed`).
    pub fn is_success(&self) -> bool {
        matches!(self.status(), "Succeeded" | "Completed")
    }

    /// `code: message` of [`error_data`](Self::error_data), when present.
    pub fn error_text(&self) -> Option<String> {
        let e = self.error_data.as_ref()?;
        let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
        let message = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
        Some(format!("{code}: {message}"))
    }
}

/// The formats of a job's input and output, and the blob content type of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFormat {
    /// `inputDataFormat`.
    pub input_data_format: String,
    /// `outputDataFormat`.
    pub output_data_format: String,
    /// The content type stored with the input blob.
    pub content_type: String,
}

impl JobFormat {
    /// The formats for an input data format, as the Azure Quantum client pairs them.
    pub fn for_input_format(input_data_format: &str) -> JobFormat {
        let (output, content_type) = match input_data_format {
            "ionq.circuit.v1" => ("ionq.quantum-results.v1", "application/json"),
            "honeywell.openqasm.v1" => ("honeywell.quantum-results.v1", "application/qasm"),
            "rigetti.quil.v1" => ("rigetti.quil-results.v1", "text/plain"),
            "pasqal.pulser.v1" => ("pasqal.pulser-results.v1", "application/json"),
            "qir.v1" => ("microsoft.quantum-results.v2", "qir.v1"),
            _ => ("microsoft.quantum-results.v2", "application/octet-stream"),
        };
        JobFormat {
            input_data_format: input_data_format.to_owned(),
            output_data_format: output.to_owned(),
            content_type: content_type.to_owned(),
        }
    }

    /// Guesses the input format from the program text (QIR bitcode or text, OpenQASM, JSON) and
    /// the target's provider.
    pub fn detect(input: &[u8], provider_id: &str) -> JobFormat {
        let text = String::from_utf8_lossy(&input[..input.len().min(4096)]);
        let trimmed = text.trim_start();
        let format = if input.starts_with(b"BC\xC0\xDE")
            || trimmed.contains("define ")
            || trimmed.starts_with("; ModuleID")
        {
            "qir.v1"
        } else if trimmed.starts_with("OPENQASM")
            || trimmed.starts_with("//")
            || trimmed.starts_with("include")
        {
            "honeywell.openqasm.v1"
        } else if trimmed.starts_with('{') {
            if provider_id.eq_ignore_ascii_case("pasqal") {
                "pasqal.pulser.v1"
            } else {
                "ionq.circuit.v1"
            }
        } else if provider_id.eq_ignore_ascii_case("rigetti") {
            "rigetti.quil.v1"
        } else {
            "honeywell.openqasm.v1"
        };
        JobFormat::for_input_format(format)
    }
}

/// What to submit: see [`Workspace::submit_job`].
#[derive(Clone, Default)]
pub struct SubmitJobOptions {
    /// Job id (default: a new UUID).
    pub job_id: Option<String>,
    /// Display name (default `qws-job`).
    pub name: Option<String>,
    /// Provider id (default: the target id's first dot-separated part).
    pub provider_id: Option<String>,
    /// Formats (default: detected from the input with [`JobFormat::detect`]).
    pub format: Option<JobFormat>,
    /// Shots, stored as `inputParams.shots`.
    pub shots: Option<u64>,
    /// Further input parameters (merged under `inputParams`; `shots` above wins).
    pub input_params: serde_json::Map<String, serde_json::Value>,
    /// Metadata.
    pub metadata: Option<serde_json::Value>,
    /// Session id.
    pub session_id: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// `Standard` or `High`.
    pub priority: Option<String>,
    /// Ask qws to answer the submission once the job has ended, waiting at most this long
    /// (`Prefer: wait`, whole seconds; qws honours up to 60): a small job's outcome then comes
    /// back from the submission itself, with nothing to poll. Azure ignores it.
    pub wait: Option<Duration>,
}

impl std::fmt::Debug for SubmitJobOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubmitJobOptions")
            .field("job_id", &self.job_id)
            .field("name", &self.name)
            .field("format", &self.format)
            .field("shots", &self.shots)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// Options for [`Workspace::list_jobs`] (the Python client's `list_jobs` filters).
#[derive(Debug, Clone, Default)]
pub struct ListJobsOptions {
    /// `startswith(Name, '…')`.
    pub name_prefix: Option<String>,
    /// `ProviderId eq '…'`.
    pub provider_id: Option<String>,
    /// `Target eq '…'`.
    pub target: Option<String>,
    /// `State eq '…' or …`.
    pub statuses: Vec<String>,
    /// `orderby`, e.g. `CreationTime desc`.
    pub orderby: Option<String>,
    /// Page size (`top`, default 100).
    pub top: Option<u32>,
}

/// A callback told about every poll of [`Workspace::wait_for_job`].
pub type ProgressFn = Arc<dyn Fn(&JobDetails, Duration) + Send + Sync>;

/// Options for [`Workspace::wait_for_job`].
#[derive(Clone)]
pub struct WaitOptions {
    /// Give up after this long (default 300 s, like `get_results`).
    pub timeout: Duration,
    /// First delay between polls (default 200 ms); grows ×1.5 per poll.
    pub initial_interval: Duration,
    /// Largest delay between polls (default 5 s).
    pub max_interval: Duration,
    /// Called after each poll with the job and the time waited so far.
    pub progress: Option<ProgressFn>,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(300),
            initial_interval: Duration::from_millis(200),
            max_interval: Duration::from_secs(5),
            progress: None,
        }
    }
}

impl std::fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitOptions")
            .field("timeout", &self.timeout)
            .field("initial_interval", &self.initial_interval)
            .field("max_interval", &self.max_interval)
            .finish_non_exhaustive()
    }
}

/// Checks a job id is a safe single path segment.
pub(crate) fn check_id(what: &str, id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::new(
            ErrorKind::Other,
            format!("invalid {what} id '{id}': use letters, digits, '-', '_' or '.' (at most 128)"),
        ));
    }
    Ok(())
}

impl Workspace {
    /// Submits a job the way the Azure Quantum client does: asks `storage/sasUri` for the
    /// container `job-<id>`, uploads `input` as its `inputData` blob, then `PUT {ws}/jobs/{id}`.
    pub async fn submit_job(
        &self,
        target: &str,
        input: Vec<u8>,
        options: Option<SubmitJobOptions>,
    ) -> Result<Response<JobDetails>> {
        let options = options.unwrap_or_default();
        if target.is_empty() {
            return Err(Error::new(ErrorKind::Other, "the target must not be empty"));
        }
        let job_id = options
            .job_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        check_id("job", &job_id)?;
        let provider_id = options.provider_id.clone().unwrap_or_else(|| {
            target
                .split('.')
                .next()
                .unwrap_or(target)
                .to_ascii_lowercase()
        });
        let format = options
            .format
            .clone()
            .unwrap_or_else(|| JobFormat::detect(&input, &provider_id));

        let container = format!("job-{job_id}");
        let container_uri = self.sas_uri(&container, None).await?;
        let input_uri = self
            .upload_blob(&container_uri, "inputData", &format.content_type, input)
            .await?;

        let mut params = options.input_params.clone();
        if let Some(shots) = options.shots {
            params.insert("shots".into(), shots.into());
        }
        let mut body = serde_json::Map::new();
        body.insert(
            "name".into(),
            options
                .name
                .clone()
                .unwrap_or_else(|| "qws-job".into())
                .into(),
        );
        body.insert("containerUri".into(), container_uri.into());
        body.insert(
            "inputDataFormat".into(),
            format.input_data_format.clone().into(),
        );
        body.insert(
            "outputDataFormat".into(),
            format.output_data_format.clone().into(),
        );
        body.insert("inputDataUri".into(), input_uri.into());
        body.insert("providerId".into(), provider_id.into());
        body.insert("target".into(), target.into());
        body.insert("inputParams".into(), params.into());
        if let Some(m) = &options.metadata {
            body.insert("metadata".into(), m.clone());
        }
        if let Some(s) = &options.session_id {
            body.insert("sessionId".into(), s.clone().into());
        }
        if !options.tags.is_empty() {
            body.insert("tags".into(), options.tags.clone().into());
        }
        if let Some(p) = &options.priority {
            body.insert("priority".into(), p.clone().into());
        }
        body.insert("itemType".into(), "Job".into());
        let url = self.url(&["jobs", &job_id])?;
        let mut request = Request::new(reqwest::Method::PUT, url)
            .header("accept", "application/json")
            .json(&body)?;
        if let Some(wait) = options.wait {
            request = request.header("prefer", format!("wait={}", wait.as_secs()));
        }
        self.send_request(request, &[200, 201]).await
    }

    /// Gets a job (`GET {ws}/jobs/{id}`).
    pub async fn get_job(&self, job_id: &str) -> Result<Response<JobDetails>> {
        check_id("job", job_id)?;
        let url = self.url(&["jobs", job_id])?;
        self.send(reqwest::Method::GET, url, None, &[200]).await
    }

    /// Lists jobs (`GET {ws}/jobs?filter&top&orderby`), newest pages as the service orders them.
    pub fn list_jobs(&self, options: Option<ListJobsOptions>) -> Result<Pager<JobDetails>> {
        let options = options.unwrap_or_default();
        let mut url = self.url(&["jobs"])?;
        let quote = |v: &str| v.replace('\'', "''");
        let mut clauses = Vec::new();
        if let Some(n) = &options.name_prefix {
            clauses.push(format!("startswith(Name, '{}')", quote(n)));
        }
        if let Some(p) = &options.provider_id {
            clauses.push(format!("(ProviderId eq '{}')", quote(p)));
        }
        if let Some(t) = &options.target {
            clauses.push(format!("(Target eq '{}')", quote(t)));
        }
        if !options.statuses.is_empty() {
            let states: Vec<String> = options
                .statuses
                .iter()
                .map(|s| format!("State eq '{}'", quote(s)))
                .collect();
            clauses.push(format!("({})", states.join(" or ")));
        }
        {
            let mut q = url.query_pairs_mut();
            if !clauses.is_empty() {
                q.append_pair("filter", &clauses.join(" and "));
            }
            q.append_pair("skip", "0");
            q.append_pair(
                "top",
                &options.top.unwrap_or(100).clamp(1, 1000).to_string(),
            );
            if let Some(o) = &options.orderby {
                q.append_pair("orderby", o);
            }
        }
        Ok(Pager::new(self.clone(), url))
    }

    /// Requests cancellation (`POST {ws}/jobs/{id}:cancel`, 200 or 204) and returns the job as
    /// it is afterwards.
    pub async fn cancel_job(&self, job_id: &str) -> Result<Response<JobDetails>> {
        check_id("job", job_id)?;
        let url = self.url(&["jobs", &format!("{job_id}:cancel")])?;
        self.send::<()>(reqwest::Method::POST, url, None, &[200, 204])
            .await?;
        self.get_job(job_id).await
    }

    /// Deletes a job (`DELETE {ws}/jobs/{id}`, 204).
    pub async fn delete_job(&self, job_id: &str) -> Result<Response<()>> {
        check_id("job", job_id)?;
        let url = self.url(&["jobs", job_id])?;
        self.send(reqwest::Method::DELETE, url, None, &[200, 204])
            .await
    }

    /// Polls a job until it is terminal, with backoff (×1.5 from `initial_interval` up to
    /// `max_interval`) and a timeout (an [`ErrorKind::Other`] error with code `Timeout`).
    pub async fn wait_for_job(
        &self,
        job_id: &str,
        options: Option<WaitOptions>,
    ) -> Result<JobDetails> {
        let options = options.unwrap_or_default();
        let start = Instant::now();
        let mut delay = options.initial_interval.max(Duration::from_millis(10));
        loop {
            let job = self.get_job(job_id).await?.into_model()?;
            if let Some(progress) = &options.progress {
                progress(&job, start.elapsed());
            }
            if job.is_terminal() {
                return Ok(job);
            }
            let elapsed = start.elapsed();
            if elapsed >= options.timeout {
                return Err(Error::with_code(
                    ErrorKind::Other,
                    "Timeout",
                    format!(
                        "job {job_id} is still '{}' after {} s",
                        job.status(),
                        options.timeout.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(delay.min(options.timeout - elapsed)).await;
            delay = delay.mul_f64(1.5).min(options.max_interval);
        }
    }
}

// The id check is what keeps ids from injecting path segments or query text.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_pair_and_detect() {
        assert_eq!(
            JobFormat::detect(b"OPENQASM 2.0;\nqreg q[1];", "quantinuum").output_data_format,
            "honeywell.quantum-results.v1"
        );
        let ionq = JobFormat::detect(br#"{"qubits":1,"circuit":[]}"#, "ionq");
        assert_eq!(ionq.input_data_format, "ionq.circuit.v1");
        assert_eq!(ionq.content_type, "application/json");
        let qir = JobFormat::detect(b"BC\xC0\xDE\x35\x14", "ionq");
        assert_eq!(qir.output_data_format, "microsoft.quantum-results.v2");
        assert_eq!(
            JobFormat::detect(b"%0 = call\ndefine void @main() #0 {", "ionq").content_type,
            "qir.v1"
        );
    }

    #[test]
    fn ids_cannot_escape_their_path_segment() {
        assert!(check_id("job", "a252bd46-e62d-11f1-8542-02fc00000001").is_ok());
        for bad in ["", "../x", "a/b", "a?b", "a b", &"x".repeat(200)] {
            assert!(check_id("job", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_classify() {
        let job = |s: &str| JobDetails {
            status: Some(s.into()),
            ..Default::default()
        };
        assert!(job("Succeeded").is_success() && job("Completed").is_terminal());
        assert!(job("Failed").is_terminal() && !job("Failed").is_success());
        assert!(!job("Executing").is_terminal() && !job("succeeded").is_terminal());
    }
}
