//! `qws serve`: run the qws service in the foreground until SIGINT/SIGTERM.

use anyhow::Context;
use qws_server::config;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `qws serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Data directory (SQLite database, master key, TLS files, bootstrap.json, audit log).
    #[arg(long, env = "QWS_DATA_DIR", default_value = "./.qws")]
    pub data_dir: PathBuf,
    /// PostgreSQL database for metadata and jobs (postgres://USER:PASSWORD@HOST:PORT/DB) instead
    /// of the SQLite database in the data directory. Nodes sharing it must share the master
    /// key (QWS_MASTER_KEY); a node with another key refuses to start.
    #[arg(
        long,
        env = "QWS_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database: Option<String>,
    /// Let several qws nodes on this machine serve this data directory together (one SQLite
    /// database, one job-data directory; each node with its own ports). Every node sharing it
    /// must say so; a server without this flag keeps the directory to itself.
    #[arg(long)]
    pub shared_data_dir: bool,
    /// Plain-HTTP listen address (port 0 picks a free port).
    #[arg(long, default_value_t = LISTENERS.http)]
    pub listen: SocketAddr,
    /// HTTPS listen address (port 0 picks a free port).
    #[arg(long, default_value_t = LISTENERS.https)]
    pub tls_listen: SocketAddr,
    /// Also run an HTTPS proxy for unmodified Azure clients: with the variables `qws env` prints
    /// (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE), connection strings naming
    /// https://<region>.quantum.azure.com/, ARM calls to management.azure.com and sign-ins at
    /// login.microsoftonline.com reach this server (no other host is proxied). Connection
    /// strings then use the canonical Azure endpoint.
    #[arg(long)]
    pub azure_compat: bool,
    /// Listen address of the --azure-compat proxy (port 0 picks a free port).
    #[arg(long, default_value_t = LISTENERS.proxy)]
    pub proxy_listen: SocketAddr,
    /// Serve Prometheus metrics at http://ADDR/metrics (off unless given; port 0 picks a free
    /// port). Loopback only unless --allow-non-loopback.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Log format on standard error: text, or json (one object per line).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Allow binding addresses other than loopback (exposes qws on the network).
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// Public data-plane URL used in connection strings and endpointUri
    /// (default: the HTTP listen address for connection strings, the HTTPS one for endpointUri).
    #[arg(long)]
    pub public_url: Option<String>,
    /// Another Host (NAME or NAME:PORT) that links in answers (nextLink, OIDC issuer and
    /// endpoints) may name; repeatable. Loopback names with the listener's port and the
    /// --public-url host are always allowed; any other Host gets the configured URL.
    #[arg(long = "allowed-host", value_name = "HOST[:PORT]")]
    pub allowed_hosts: Vec<String>,
    /// Disable the managed-identity endpoint /msi/token (local development aid; guarded by
    /// the identityHeader secret in bootstrap.json).
    #[arg(long)]
    pub no_msi: bool,
    /// A role the managed identity holds at the bootstrap subscription (repeatable; a built-in
    /// or custom role name, or Administrator for administrator tokens) [default: Contributor
    /// and Quantum Workspace Data Contributor].
    #[arg(long = "msi-role", value_name = "ROLE")]
    pub msi_roles: Vec<String>,
    /// Items per page in management list operations.
    #[arg(long, default_value_t = MGMT.page_size as u32, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,
    /// Failed authentications allowed per window (--auth-failure-window), per client address
    /// and per guessed target (workspace, client id, …), before further failing attempts get
    /// 429. Valid credentials are never throttled.
    #[arg(long, default_value_t = AUTH.failure_limit)]
    pub auth_failure_limit: u32,
    /// Seconds over which failed authentications are counted.
    #[arg(long, value_name = "SECONDS", default_value_t = AUTH.failure_window.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub auth_failure_window: u64,
    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = AUTH.token_lifetime.as_secs(), value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub token_lifetime: u64,
    /// Base of blob URLs in SAS URIs (default: the HTTP listener spelled http://127.1:<port>,
    /// which azure-storage-blob parses container-first). Must not name localhost or 127.0.0.1.
    #[arg(long, value_parser = qws_server::planes::blob::sas::normalize_blob_public_url)]
    pub blob_public_url: Option<String>,
    /// Where job data lives: local (blob files under the data directory, served by qws),
    /// dir:PATH (the same files under PATH, a directory several qws nodes may share), or azure
    /// (an Azure Storage account, given by --blob-connection-string; clients get SAS URLs that
    /// point at the account, so job data never passes through qws).
    #[arg(long, value_name = "local|dir:PATH|azure", default_value = "local")]
    pub blob_backend: String,
    /// Storage connection string for --blob-backend azure (AccountName and AccountKey, with
    /// BlobEndpoint or EndpointSuffix; UseDevelopmentStorage=true for the emulator). Prefer the
    /// environment variable: a command line is visible to other local users. Never logged.
    #[arg(
        long,
        env = "QWS_BLOB_CONNECTION_STRING",
        hide_env_values = true,
        value_name = "CONNECTION_STRING"
    )]
    pub blob_connection_string: Option<BlobConnectionString>,
    /// Seconds a device code (`az login --use-device-code`) waits for its user.
    #[arg(long, value_name = "SECONDS", default_value_t = AUTH.device_code_lifetime.as_secs(), value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub device_code_lifetime: u64,
    /// Most sign-ins waiting at once (each of device codes and authorization codes not yet
    /// redeemed); more are refused.
    #[arg(long, default_value_t = AUTH.max_pending_sign_ins as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_pending_sign_ins: u32,
    /// Largest blob (job input, output or attachment) in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = BLOB.max_blob_size)]
    pub max_blob_size: u64,
    /// Largest block of a block upload in bytes (at most --max-blob-size).
    #[arg(long, value_name = "BYTES", default_value_t = BLOB.max_block_size, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_block_size: u64,
    /// Largest job input blob in bytes; larger inputs fail the job.
    #[arg(long, value_name = "BYTES", default_value_t = DATAPLANE.max_input_bytes, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_job_input_size: u64,
    /// Jobs per provider per workspace per month, unless the workspace tag
    /// qws.quota.jobs.<provider> says otherwise.
    #[arg(long, default_value_t = DATAPLANE.default_monthly_jobs, value_parser = clap::value_parser!(i64).range(0..))]
    pub monthly_job_quota: i64,
    /// Most connections each listener (HTTP, HTTPS, proxy) holds; further ones are closed at once.
    #[arg(long, default_value_t = LIMITS.max_connections as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Most connections one client address holds on each listener.
    #[arg(long, default_value_t = LIMITS.max_connections_per_ip as u32, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_ip: u32,
    /// Seconds allowed for a TLS handshake, for the first bytes of a connection, and (proxy)
    /// for the CONNECT head and the tunnelled TLS handshake.
    #[arg(long, value_name = "SECONDS", default_value_t = LIMITS.handshake_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub handshake_timeout: u64,
    /// Seconds allowed for an HTTP/1 request head (also how long an HTTP/1 keep-alive
    /// connection waits for its next request).
    #[arg(long, value_name = "SECONDS", default_value_t = LIMITS.header_read_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_read_timeout: u64,
    /// Seconds a connection may stay open with no request in progress.
    #[arg(long, value_name = "SECONDS", default_value_t = LIMITS.idle_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub idle_timeout: u64,
    /// Rotate the audit log before it grows past this many bytes (0: never by size).
    #[arg(long, value_name = "BYTES", default_value_t = AUDIT.max_bytes)]
    pub audit_max_size: u64,
    /// Rotate the audit log when its first line is this many seconds old (0: never by age).
    #[arg(long, value_name = "SECONDS", default_value_t = AUDIT.max_age.as_secs())]
    pub audit_max_age: u64,
    /// Rotated audit log files kept (audit.log.1 newest … audit.log.N oldest).
    #[arg(long, value_name = "N", default_value_t = AUDIT.keep as u32, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub audit_keep: u32,
    /// A host (name or IP address) other than loopback that workspace webhooks may post to;
    /// repeatable. Without it only loopback receivers are accepted.
    #[arg(long = "webhook-allow-host", value_name = "HOST")]
    pub webhook_allow_hosts: Vec<String>,
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
}

/// A storage connection string as given; `Debug` never shows it (it holds the account key).
#[derive(Clone)]
pub struct BlobConnectionString(zeroize::Zeroizing<String>);

impl std::fmt::Debug for BlobConnectionString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlobConnectionString(..)")
    }
}

impl std::str::FromStr for BlobConnectionString {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(BlobConnectionString(zeroize::Zeroizing::new(s.to_string())))
    }
}

/// How `qws serve` writes its log.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, the event's fields at the top level.
    Json,
}

/// Job scheduler options. The defaults are `qws_server::scheduler::SchedulerConfig`'s, defined
/// there once: machine-dependent ones (workers, memory budget, running jobs per workspace) are
/// left unset here and described in words; the others are shown from [`sched`].
#[derive(clap::Args, Debug)]
pub struct SchedulerArgs {
    /// Jobs simulated at once [default: one per core].
    #[arg(long, env = "QWS_WORKERS", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: Option<u32>,
    /// Memory in MiB that running jobs share, statevectors and results
    /// [default: what the widest target needs, at most 3/4 of physical memory].
    #[arg(long, env = "QWS_MEMORY_BUDGET_MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_budget_mib: Option<u64>,
    /// Largest output document of one job, in MiB.
    #[arg(long, default_value_t = sched().max_output_bytes >> 20, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_output_mib: u64,
    /// Waiting jobs the server holds before submissions get 503.
    #[arg(long, default_value_t = sched().max_queue)]
    pub max_queued_jobs: usize,
    /// Waiting jobs one workspace may have before its submissions get 429 (0: no cap).
    #[arg(long, default_value_t = sched().caps.queued_per_workspace)]
    pub max_queued_per_workspace: usize,
    /// Waiting jobs one caller (client id, or a workspace key) may have (0: no cap).
    #[arg(long, default_value_t = sched().caps.queued_per_principal)]
    pub max_queued_per_principal: usize,
    /// Jobs of one workspace that run at once (0: no cap) [default: workers - 1, at least 1,
    /// so one worker stays free for other workspaces].
    #[arg(long)]
    pub max_running_per_workspace: Option<usize>,
    /// Jobs of one caller that run at once (0: no cap).
    #[arg(long, default_value_t = sched().caps.running_per_principal)]
    pub max_running_per_principal: usize,
    /// Attempts at a job during which the server stopped before the job is failed instead of
    /// retried.
    #[arg(long, default_value_t = sched().max_attempts, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_job_attempts: u32,
    /// Seconds a job may execute before it is stopped and failed.
    #[arg(long, default_value_t = sched().max_execution_time.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub max_execution_time: u64,
    /// A target's own execution time limit, TARGET=SECONDS (repeatable).
    #[arg(long, value_parser = parse_target_limit)]
    pub target_max_execution_time: Vec<(String, u64)>,
    /// What this node does: all (serve the API and run jobs), api (serve the API, run no
    /// jobs), or worker (run jobs; answer only /healthz and /readyz).
    #[arg(long, value_enum, default_value_t = Role::All)]
    pub role: Role,
    /// This node's name in job leases [default: HOST:PORT of --listen].
    #[arg(long, value_parser = parse_node_id)]
    pub node_id: Option<String>,
    /// Seconds a running job's lease lasts unless renewed: how soon another node runs again
    /// the jobs of a node that died.
    #[arg(long, value_name = "SECONDS", default_value_t = sched().lease_ttl.as_secs(), value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub job_lease_secs: u64,
}

/// `--role`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Serve the API and run jobs.
    All,
    /// Serve the API only.
    Api,
    /// Run jobs only.
    Worker,
}

impl From<Role> for qws_server::node::NodeRole {
    fn from(r: Role) -> Self {
        match r {
            Role::All => qws_server::node::NodeRole::All,
            Role::Api => qws_server::node::NodeRole::Api,
            Role::Worker => qws_server::node::NodeRole::Worker,
        }
    }
}

fn parse_node_id(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if ok {
        Ok(s.to_string())
    } else {
        Err("a node id is 1-128 letters, digits, '-', '_', '.' or ':'".into())
    }
}

/// The scheduler's defaults for one worker: the source of the machine-independent defaults
/// `--help` shows.
fn sched() -> qws_server::scheduler::SchedulerConfig {
    qws_server::scheduler::SchedulerConfig::with_workers(1)
}

fn parse_target_limit(s: &str) -> Result<(String, u64), String> {
    let (target, secs) = s
        .split_once('=')
        .ok_or_else(|| format!("expected TARGET=SECONDS, got '{s}'"))?;
    if qws_core::catalog::target(target).is_none() {
        return Err(format!("'{target}' is not a target qws offers"));
    }
    let secs: u64 = secs
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{secs}' is not a positive number of seconds"))?;
    Ok((target.to_string(), secs))
}

impl SchedulerArgs {
    /// The scheduler configuration: the library defaults, overridden by what was given.
    pub fn config(&self) -> qws_server::scheduler::SchedulerConfig {
        let mut c = match self.workers {
            Some(w) => qws_server::scheduler::SchedulerConfig::with_workers(w as usize),
            None => qws_server::scheduler::SchedulerConfig::default(),
        };
        if c.max_output_bytes != self.max_output_mib << 20 {
            c.max_output_bytes = self.max_output_mib << 20;
            // The default budget leaves room for the largest output; keep it so.
            c.memory_budget_bytes =
                qws_server::scheduler::default_memory_budget_here(c.max_output_bytes);
        }
        if let Some(m) = self.memory_budget_mib {
            c.memory_budget_bytes = m << 20;
        }
        c.max_queue = self.max_queued_jobs;
        c.caps.queued_per_workspace = self.max_queued_per_workspace;
        c.caps.queued_per_principal = self.max_queued_per_principal;
        if let Some(n) = self.max_running_per_workspace {
            c.caps.running_per_workspace = n;
        }
        c.caps.running_per_principal = self.max_running_per_principal;
        c.max_attempts = self.max_job_attempts;
        c.max_execution_time = Duration::from_secs(self.max_execution_time);
        for (t, s) in &self.target_max_execution_time {
            c.target_max_execution_time
                .insert(t.clone(), Duration::from_secs(*s));
        }
        c.role = self.role.into();
        c.node_id = self.node_id.clone().unwrap_or_default();
        c.lease_ttl = Duration::from_secs(self.job_lease_secs);
        c
    }
}

// The library's defaults, shown by `--help`; no default is written here.
const LIMITS: config::ConnectionLimits = config::ConnectionLimits::DEFAULT;
const LISTENERS: config::ListenerConfig = config::ListenerConfig::DEFAULT;
const AUTH: config::AuthConfig = config::AuthConfig::DEFAULT;
const MGMT: config::MgmtConfig = config::MgmtConfig::DEFAULT;
const BLOB: config::BlobConfig = config::BlobConfig::DEFAULT;
const DATAPLANE: config::DataPlaneConfig = config::DataPlaneConfig::DEFAULT;
const AUDIT: qws_server::audit::AuditRotation = qws_server::audit::AuditRotation::DEFAULT;

impl ServeArgs {
    /// The server configuration these arguments describe (`data_dir` made absolute by the
    /// caller). Struct literals, so that a new configuration field cannot be forgotten here.
    pub fn config(self, data_dir: PathBuf) -> anyhow::Result<config::ServerConfig> {
        let backend = config::BlobBackend::parse(
            &self.blob_backend,
            self.blob_connection_string.as_ref().map(|c| c.0.as_str()),
        )
        .map_err(anyhow::Error::msg)?;
        Ok(config::ServerConfig {
            data_dir,
            database: self.database.map(config::DatabaseUrl),
            shared_data_dir: self.shared_data_dir,
            listeners: config::ListenerConfig {
                http: self.listen,
                https: self.tls_listen,
                allow_non_loopback: self.allow_non_loopback,
                public_url: self.public_url,
                allowed_hosts: self.allowed_hosts,
                azure_compat: self.azure_compat,
                proxy: self.proxy_listen,
                metrics: self.metrics_listen,
            },
            auth: config::AuthConfig {
                enable_msi: !self.no_msi,
                failure_limit: self.auth_failure_limit,
                failure_window: Duration::from_secs(self.auth_failure_window),
                token_lifetime: Duration::from_secs(self.token_lifetime),
                msi_roles: self.msi_roles,
                device_code_lifetime: Duration::from_secs(self.device_code_lifetime),
                max_pending_sign_ins: self.max_pending_sign_ins as usize,
            },
            mgmt: config::MgmtConfig {
                page_size: self.page_size as usize,
                ..config::MgmtConfig::DEFAULT
            },
            blob: config::BlobConfig {
                public_url: self.blob_public_url,
                max_blob_size: self.max_blob_size,
                max_block_size: self.max_block_size,
                backend,
            },
            dataplane: config::DataPlaneConfig {
                max_input_bytes: self.max_job_input_size,
                default_monthly_jobs: self.monthly_job_quota,
            },
            scheduler: self.scheduler.config(),
            connections: config::ConnectionLimits {
                max_connections: self.max_connections as usize,
                max_connections_per_ip: self.max_connections_per_ip as usize,
                handshake_timeout: Duration::from_secs(self.handshake_timeout),
                header_read_timeout: Duration::from_secs(self.header_read_timeout),
                idle_timeout: Duration::from_secs(self.idle_timeout),
            },
            audit: qws_server::audit::AuditRotation {
                max_bytes: self.audit_max_size,
                max_age: Duration::from_secs(self.audit_max_age),
                keep: self.audit_keep as usize,
            },
            webhook_allowed_hosts: self.webhook_allow_hosts,
        })
    }
}

/// Runs the server.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QWS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match args.log_format {
        // Colours only on a terminal: a log redirected to a file stays greppable.
        LogFormat::Text => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .try_init();
        }
        LogFormat::Json => {
            let _ = tracing_subscriber::fmt()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .try_init();
        }
    }

    // bootstrap.json records the CA and data-dir paths; absolute paths keep them usable from any
    // working directory (e.g. REQUESTS_CA_BUNDLE set from another shell).
    let data_dir = std::path::absolute(&args.data_dir)?;
    let config = args.config(data_dir)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let server = qws_server::start(config).await?;
        let mut out = std::io::stdout().lock();
        if let Some(banner) = &server.first_start_banner {
            writeln!(out, "{}", banner.as_str())?;
        }
        writeln!(
            out,
            "qws listening on {} and {}",
            server.http_url(),
            server.https_url()
        )?;
        writeln!(
            out,
            "bootstrap: {}  CA: {} (set REQUESTS_CA_BUNDLE to it for Python clients)",
            server.bootstrap_file.display(),
            server.ca_file.display()
        )?;
        if let Some(addr) = server.metrics_addr {
            writeln!(out, "metrics: http://{addr}/metrics")?;
        }
        if let Some(proxy) = server.proxy_addr {
            writeln!(
                out,
                "azure-compat proxy: HTTPS_PROXY=http://{proxy} NO_PROXY=127.0.0.1,127.1,localhost REQUESTS_CA_BUNDLE={}",
                server.ca_file.display()
            )?;
        }
        out.flush()?;
        drop(out);
        wait_for_signal().await?;
        tracing::info!("shutting down");
        server.shutdown().await;
        Ok::<(), anyhow::Error>(())
    })
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }

    /// With no flags, `qws serve` configures exactly the library's defaults: no default is
    /// defined twice.
    #[test]
    fn no_flags_means_the_library_defaults() {
        let args = Serve::try_parse_from(["serve"]).unwrap().args;
        let dir = PathBuf::from("/data");
        assert_eq!(
            format!("{:?}", args.config(dir.clone()).unwrap()),
            format!("{:?}", qws_server::ServerConfig::new(dir))
        );
    }

    #[test]
    fn target_time_limits_are_validated() {
        assert_eq!(
            parse_target_limit("ionq.simulator=30"),
            Ok(("ionq.simulator".to_string(), 30))
        );
        let e = parse_target_limit("ionq.simulator").unwrap_err();
        assert!(e.contains("expected TARGET=SECONDS"), "{e}");
        let e = parse_target_limit("rigetti.qpu.aspen-11=30").unwrap_err();
        assert!(e.contains("not a target qws offers"), "{e}");
        for bad in [
            "ionq.simulator=0",
            "ionq.simulator=-1",
            "ionq.simulator=soon",
        ] {
            let e = parse_target_limit(bad).unwrap_err();
            assert!(e.contains("positive number of seconds"), "{bad}: {e}");
        }
    }
}
