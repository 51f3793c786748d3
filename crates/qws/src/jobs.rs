//! Data-plane commands, named like `az quantum`: `qws target list`, `qws job
//! submit|list|show|wait|output|cancel` and `qws run` (submit, wait, output).
//!
//! The workspace comes from `--connection-string` / `AZURE_QUANTUM_CONNECTION_STRING`, else from
//! the defaults of `qws login` + `qws workspace set` (resolved through ARM with the stored service
//! principal).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use qws_client::jobs::{JobDetails, JobFormat, ListJobsOptions, SubmitJobOptions, WaitOptions};
use qws_client::results::JobResults;
use qws_client::targets::TargetsOptions;
use qws_client::{ClientOptions, Credential, Workspace, WorkspaceOptions};
use serde_json::Value;

use crate::mgmt::{GlobalArgs, OutputFormat};

/// Largest job input file read from disk.
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;
/// Width of the histogram bars.
const BAR_WIDTH: usize = 40;
/// Most outcomes shown in a table histogram (the rest are summarised).
const MAX_ROWS: usize = 64;

/// How to reach the workspace.
#[derive(clap::Args, Clone)]
pub struct WorkspaceArgs {
    /// Workspace connection string (default: $AZURE_QUANTUM_CONNECTION_STRING, else the
    /// workspace chosen with `qws workspace set`).
    #[arg(long, env = "AZURE_QUANTUM_CONNECTION_STRING", hide_env_values = true)]
    connection_string: Option<String>,
    /// Extra CA certificate (PEM) to trust for an https endpoint, e.g. a qws server's ca.pem
    /// (default: the stored login's, else $REQUESTS_CA_BUNDLE or $SSL_CERT_FILE).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    #[command(flatten)]
    target: crate::mgmt::workspace::Target,
    #[command(flatten)]
    global: GlobalArgs,
}

/// The data-plane commands, flattened into the top level of `qws`.
#[derive(clap::Subcommand)]
pub enum JobsCommand {
    /// Targets of the workspace.
    Target(TargetArgs),
    /// Jobs: submit, list, show, wait, output, cancel.
    Job(JobArgs),
    /// Submit a job, wait for it and print its output.
    Run(RunArgs),
}

/// `qws target …`.
#[derive(clap::Args)]
pub struct TargetArgs {
    #[command(subcommand)]
    command: TargetCommand,
}

#[derive(clap::Subcommand)]
enum TargetCommand {
    /// List targets and their availability.
    List {
        /// Only this provider (e.g. ionq).
        #[arg(long)]
        provider: Option<String>,
        #[command(flatten)]
        ws: WorkspaceArgs,
    },
}

/// `qws job …`.
#[derive(clap::Args)]
pub struct JobArgs {
    #[command(subcommand)]
    command: JobCommand,
}

/// What to submit.
#[derive(clap::Args)]
pub struct SubmitArgs {
    /// Target id, e.g. ionq.simulator or quantinuum.sim.h2-1e.
    #[arg(short = 't', long = "target-id")]
    target: String,
    /// The program: OpenQASM, IonQ JSON or QIR (text or bitcode).
    #[arg(long = "job-input-file")]
    input_file: PathBuf,
    /// Input format (default: detected), e.g. honeywell.openqasm.v1, ionq.circuit.v1, qir.v1.
    #[arg(long = "job-input-format")]
    input_format: Option<String>,
    /// Output format (default: the one paired with the input format).
    #[arg(long = "job-output-format")]
    output_format: Option<String>,
    /// Number of shots.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    shots: Option<u64>,
    /// Job parameters as key=value (values parsed as JSON when they are JSON).
    #[arg(long = "job-params", num_args = 1..)]
    params: Vec<String>,
    /// Job name.
    #[arg(long = "job-name")]
    name: Option<String>,
    #[command(flatten)]
    ws: WorkspaceArgs,
}

/// `qws run`.
#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    submit: SubmitArgs,
    /// Give up waiting after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

#[derive(clap::Subcommand)]
enum JobCommand {
    /// Submit a job (prints it; use `qws run` to also wait for its output).
    Submit(SubmitArgs),
    /// List jobs.
    List {
        /// Only jobs in this status (e.g. Succeeded).
        #[arg(long)]
        status: Option<String>,
        /// Only jobs whose name starts with this.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        ws: WorkspaceArgs,
    },
    /// Show one job.
    Show {
        /// Job id.
        #[arg(short = 'j', long = "job-id")]
        job: String,
        #[command(flatten)]
        ws: WorkspaceArgs,
    },
    /// Wait for a job to finish (progress on stderr).
    Wait {
        /// Job id.
        #[arg(short = 'j', long = "job-id")]
        job: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Longest pause between polls, in seconds.
        #[arg(long = "max-poll-wait-secs", default_value_t = 5)]
        max_poll_wait_secs: u64,
        #[command(flatten)]
        ws: WorkspaceArgs,
    },
    /// Print a finished job's results (a histogram with -o table).
    Output {
        /// Job id.
        #[arg(short = 'j', long = "job-id")]
        job: String,
        #[command(flatten)]
        ws: WorkspaceArgs,
    },
    /// Request cancellation of a job.
    Cancel {
        /// Job id.
        #[arg(short = 'j', long = "job-id")]
        job: String,
        #[command(flatten)]
        ws: WorkspaceArgs,
    },
}

/// Runs one data-plane command to completion.
pub fn run(cmd: JobsCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match cmd {
            JobsCommand::Target(TargetArgs {
                command: TargetCommand::List { provider, ws },
            }) => target_list(provider, ws).await,
            JobsCommand::Job(JobArgs { command }) => match command {
                JobCommand::Submit(args) => {
                    let format = args.ws.global.output;
                    let (_, job) = submit(&args, None).await?;
                    print_jobs(format, &[job])
                }
                JobCommand::List { status, name, ws } => job_list(status, name, ws).await,
                JobCommand::Show { job, ws } => {
                    let w = open(&ws).await?;
                    let job = w.get_job(&job).await?.into_model()?;
                    print_jobs(ws.global.output, &[job])
                }
                JobCommand::Wait {
                    job,
                    timeout,
                    max_poll_wait_secs,
                    ws,
                } => {
                    let w = open(&ws).await?;
                    let job = wait(&w, &job, timeout, max_poll_wait_secs).await?;
                    print_jobs(ws.global.output, &[job])
                }
                JobCommand::Output { job, ws } => {
                    let w = open(&ws).await?;
                    let job = w.get_job(&job).await?.into_model()?;
                    output(&w, &job, ws.global.output).await
                }
                JobCommand::Cancel { job, ws } => {
                    let w = open(&ws).await?;
                    let job = w.cancel_job(&job).await?.into_model()?;
                    print_jobs(ws.global.output, &[job])
                }
            },
            JobsCommand::Run(args) => {
                // A small job's outcome comes with the submission's answer (qws honours
                // `Prefer: wait`); anything longer is polled as before.
                let (w, job) = submit(&args.submit, Some(RUN_SUBMIT_WAIT)).await?;
                let id = job
                    .id
                    .clone()
                    .context("the service returned a job without an id")?;
                eprintln!("submitted job {id}");
                let job = if job.is_terminal() {
                    job
                } else {
                    wait(&w, &id, args.timeout, 5).await?
                };
                output(&w, &job, args.submit.ws.global.output).await
            }
        }
    })
}

/// Opens the workspace from a connection string or the stored login and defaults.
async fn open(args: &WorkspaceArgs) -> anyhow::Result<Workspace> {
    if let Some(cs) = args.connection_string.as_deref().filter(|c| !c.is_empty()) {
        let options = WorkspaceOptions::from(ClientOptions {
            ca_file: crate::mgmt::config::trusted_ca(args.ca_file.as_deref(), None),
            ..ClientOptions::default()
        });
        return Ok(Workspace::from_connection_string_with_options(
            cs,
            Some(options),
        )?);
    }
    let session = crate::mgmt::Session::open().context(
        "no workspace: pass --connection-string, set AZURE_QUANTUM_CONNECTION_STRING, or `qws login` and `qws workspace set`",
    )?;
    let sub = session.subscription(&args.target.subscription)?;
    let group = session.group(&args.target.group)?;
    let name = session.workspace(&args.target.workspace)?;
    let config = &session.config;
    let login = config.login()?;
    let tls = ClientOptions {
        ca_file: crate::mgmt::config::trusted_ca(
            args.ca_file.as_deref(),
            config.ca_file.as_deref(),
        ),
        ..ClientOptions::default()
    };
    let credential = Credential::client_secret(
        login.authority,
        login.tenant_id,
        login.client_id,
        login.client_secret,
        Some(tls.clone()),
    )?;
    Ok(Workspace::builder()
        .subscription_id(sub)
        .resource_group(group)
        .name(name)
        .arm_endpoint(login.server.to_owned())
        .credential(credential)
        .options(WorkspaceOptions::from(tls))
        .build()
        .await?)
}

async fn target_list(provider: Option<String>, ws: WorkspaceArgs) -> anyhow::Result<()> {
    let w = open(&ws).await?;
    let targets = w
        .targets(Some(TargetsOptions {
            provider_id: provider,
            ..TargetsOptions::default()
        }))
        .await?;
    let json = serde_json::to_value(&targets)?;
    let rows = targets
        .iter()
        .map(|t| {
            vec![
                t.provider_id.clone().unwrap_or_default(),
                t.id.clone(),
                t.current_availability.clone().unwrap_or_default(),
                t.average_queue_time
                    .map(|q| q.to_string())
                    .unwrap_or_default(),
                t.num_qubits.map(|q| q.to_string()).unwrap_or_default(),
            ]
        })
        .collect();
    print(
        ws.global.output,
        &json,
        &[
            "Provider",
            "Target-id",
            "Current Availability",
            "Average Queue Time (s)",
            "Qubits",
        ],
        rows,
    )
}

/// Parses `k=v` job parameters; values that parse as JSON keep their type.
fn parse_params(params: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut map = serde_json::Map::new();
    for p in params {
        let Some((k, v)) = p.split_once('=') else {
            bail!("--job-params expects key=value, got '{p}'");
        };
        if k.is_empty() {
            bail!("--job-params expects key=value, got '{p}'");
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        map.insert(k.to_owned(), value);
    }
    Ok(map)
}

/// How long `run` lets the submission itself wait for the job's end before it polls.
const RUN_SUBMIT_WAIT: Duration = Duration::from_secs(1);

async fn submit(
    args: &SubmitArgs,
    wait: Option<Duration>,
) -> anyhow::Result<(Workspace, JobDetails)> {
    let size = std::fs::metadata(&args.input_file)
        .with_context(|| format!("cannot read {}", args.input_file.display()))?
        .len();
    if size > MAX_INPUT_BYTES {
        bail!(
            "{} is {size} bytes; the limit is {MAX_INPUT_BYTES}",
            args.input_file.display()
        );
    }
    let input = std::fs::read(&args.input_file)
        .with_context(|| format!("cannot read {}", args.input_file.display()))?;
    let provider = args
        .target
        .split('.')
        .next()
        .unwrap_or(&args.target)
        .to_ascii_lowercase();
    let mut format = match &args.input_format {
        Some(f) => JobFormat::for_input_format(f),
        None => JobFormat::detect(&input, &provider),
    };
    if let Some(out) = &args.output_format {
        format.output_data_format = out.clone();
    }
    let mut params = parse_params(&args.params)?;
    if format.input_data_format == "qir.v1" && !params.contains_key("entryPoint") {
        if let Some(entry) = qir_entry_point(&input) {
            params.insert("entryPoint".into(), entry.into());
            params
                .entry("arguments")
                .or_insert_with(|| Value::Array(vec![]));
        }
    }
    let w = open(&args.ws).await?;
    let job = w
        .submit_job(
            &args.target,
            input,
            Some(SubmitJobOptions {
                name: args.name.clone(),
                format: Some(format),
                shots: args.shots,
                input_params: params,
                wait,
                ..SubmitJobOptions::default()
            }),
        )
        .await?
        .into_model()?;
    Ok((w, job))
}

/// The entry point of textual QIR (`define … @NAME(…) #N` with an `entry_point` attribute group),
/// as `azure-quantum` sends it in `inputParams.entryPoint`.
fn qir_entry_point(input: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(input).ok()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("define ") && l.contains('@'))?;
    let name = line.split('@').nth(1)?.split('(').next()?;
    Some(name.trim_matches('"').to_owned())
}

async fn job_list(
    status: Option<String>,
    name: Option<String>,
    ws: WorkspaceArgs,
) -> anyhow::Result<()> {
    let w = open(&ws).await?;
    let jobs = w
        .list_jobs(Some(ListJobsOptions {
            name_prefix: name,
            statuses: status.into_iter().collect(),
            ..ListJobsOptions::default()
        }))?
        .collect()
        .await?;
    print_job_list(ws.global.output, &jobs)
}

/// Waits with a progress indicator on stderr (a spinner on a terminal, status changes otherwise).
async fn wait(
    w: &Workspace,
    job_id: &str,
    timeout: u64,
    max_poll: u64,
) -> anyhow::Result<JobDetails> {
    let tty = std::io::stderr().is_terminal();
    let last = Arc::new(std::sync::Mutex::new(String::new()));
    let seen = last.clone();
    let progress = Arc::new(move |job: &JobDetails, waited: Duration| {
        let mut stderr = std::io::stderr().lock();
        if tty {
            const SPIN: [char; 4] = ['|', '/', '-', '\\'];
            let frame = SPIN[(waited.as_millis() / 250) as usize % SPIN.len()];
            let _ = write!(
                stderr,
                "\r{frame} {} {:<12} {:>6.1}s",
                job.id.as_deref().unwrap_or(""),
                job.status(),
                waited.as_secs_f64()
            );
        } else if let Ok(mut last) = seen.lock() {
            if *last != job.status() {
                let _ = writeln!(stderr, "status: {}", job.status());
                *last = job.status().to_owned();
            }
        }
        let _ = stderr.flush();
    });
    let result = w
        .wait_for_job(
            job_id,
            Some(WaitOptions {
                timeout: Duration::from_secs(timeout),
                max_interval: Duration::from_secs(max_poll.max(1)),
                progress: Some(progress),
                ..WaitOptions::default()
            }),
        )
        .await;
    if tty {
        eprintln!();
    }
    Ok(result?)
}

async fn output(w: &Workspace, job: &JobDetails, format: OutputFormat) -> anyhow::Result<()> {
    if !job.is_success() {
        bail!(
            "job {} ended with status {}{}",
            job.id.as_deref().unwrap_or("?"),
            job.status(),
            job.error_text()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    let blob = w.job_output(job).await?;
    let out_format = job
        .output_data_format
        .as_deref()
        .unwrap_or("microsoft.quantum-results.v2");
    if format == OutputFormat::Json {
        let value: Value = serde_json::from_slice(&blob)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&blob).into_owned()));
        return print(format, &value, &[], vec![]);
    }
    let results = JobResults::decode(out_format, &blob)?;
    let mut stdout = std::io::stdout().lock();
    let text = match format {
        OutputFormat::Tsv => render_tsv(&results),
        _ => render_histogram(&results),
    };
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn sorted_outcomes(results: &JobResults) -> Vec<(&String, f64)> {
    let mut rows: Vec<(&String, f64)> =
        results.probabilities.iter().map(|(k, p)| (k, *p)).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    rows
}

fn render_tsv(results: &JobResults) -> String {
    sorted_outcomes(results)
        .into_iter()
        .map(|(k, p)| {
            let count = results
                .counts
                .as_ref()
                .and_then(|c| c.get(k))
                .map(|c| c.to_string())
                .unwrap_or_default();
            format!("{k}\t{count}\t{p}\n")
        })
        .collect()
}

/// An ASCII histogram: outcome, count (when known), probability, and a bar of `#`.
fn render_histogram(results: &JobResults) -> String {
    let rows = sorted_outcomes(results);
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let max = rows.iter().map(|(_, p)| *p).fold(0.0, f64::max);
    let mut out = format!(
        "{:<width$}  {:>8}  {:>11}\n",
        "Outcome", "Count", "Probability"
    );
    out += &format!(
        "{}  {}  {}\n",
        "-".repeat(width),
        "-".repeat(8),
        "-".repeat(11)
    );
    for (k, p) in rows.iter().take(MAX_ROWS) {
        let count = results
            .counts
            .as_ref()
            .and_then(|c| c.get(*k))
            .map(|c| c.to_string())
            .unwrap_or_default();
        let bar = if max > 0.0 {
            ((p / max) * BAR_WIDTH as f64).round() as usize
        } else {
            0
        };
        out += &format!(
            "{k:<width$}  {count:>8}  {p:>11.5}  {}\n",
            "#".repeat(bar.min(BAR_WIDTH))
        );
    }
    if rows.len() > MAX_ROWS {
        out += &format!(
            "… {} more outcomes (use -o json or -o tsv)\n",
            rows.len() - MAX_ROWS
        );
    }
    out
}

/// Prints jobs; `-o json` gives the job object for one-job commands and a list for `job list`.
fn print_jobs(format: OutputFormat, jobs: &[JobDetails]) -> anyhow::Result<()> {
    let json = match jobs {
        [one] => serde_json::to_value(one)?,
        _ => serde_json::to_value(jobs)?,
    };
    print_job_rows(format, json, jobs)
}

fn print_job_list(format: OutputFormat, jobs: &[JobDetails]) -> anyhow::Result<()> {
    print_job_rows(format, serde_json::to_value(jobs)?, jobs)
}

fn print_job_rows(format: OutputFormat, json: Value, jobs: &[JobDetails]) -> anyhow::Result<()> {
    let rows = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.clone().unwrap_or_default(),
                j.name.clone().unwrap_or_default(),
                j.target.clone().unwrap_or_default(),
                j.status().to_owned(),
                j.creation_time.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print(
        format,
        &json,
        &["Id", "Name", "Target", "Status", "Creation Time"],
        rows,
    )
}

fn print(
    format: OutputFormat,
    json: &Value,
    headers: &[&str],
    rows: Vec<Vec<String>>,
) -> anyhow::Result<()> {
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(json)? + "\n",
        OutputFormat::Tsv => rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| c.replace(['\t', '\n'], " "))
                    .collect::<Vec<_>>()
                    .join("\t")
                    + "\n"
            })
            .collect(),
        OutputFormat::Table => {
            let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
            for r in &rows {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |cells: Vec<String>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_owned()
                    + "\n"
            };
            let mut out = line(headers.iter().map(|h| h.to_string()).collect());
            out += &line(widths.iter().map(|w| "-".repeat(*w)).collect());
            for r in rows {
                out += &line(r);
            }
            out
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_json_types() {
        let m = parse_params(&["count=5".into(), "name=bell".into(), "flag=true".into()]).unwrap();
        assert_eq!(m["count"], Value::from(5));
        assert_eq!(m["name"], Value::from("bell"));
        assert_eq!(m["flag"], Value::from(true));
        assert!(parse_params(&["novalue".into()]).is_err());
    }

    #[test]
    fn histogram_has_proportional_bars() {
        let r = JobResults::decode(
            "honeywell.quantum-results.v1",
            br#"{"c":["00","11","11","11"]}"#,
        )
        .unwrap();
        let text = render_histogram(&r);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[2].starts_with("11") && lines[2].ends_with(&"#".repeat(BAR_WIDTH)));
        assert!(lines[3].starts_with("00") && lines[3].ends_with(&format!(" {}", "#".repeat(13))));
        assert_eq!(render_tsv(&r), "11\t3\t0.75\n00\t1\t0.25\n");
    }

    #[test]
    fn finds_the_qir_entry_point() {
        let ll = "; ModuleID = 'x'\ndefine i64 @ENTRYPOINT__main() #0 {\nret i64 0\n}\n";
        assert_eq!(
            qir_entry_point(ll.as_bytes()).as_deref(),
            Some("ENTRYPOINT__main")
        );
    }
}
