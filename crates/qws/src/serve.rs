//! `qws serve`: run the qws service in the foreground until SIGINT/SIGTERM.

use anyhow::Context;
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
    /// Plain-HTTP listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// HTTPS listen address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub tls_listen: SocketAddr,
    /// Also run an HTTPS proxy for unmodified Azure clients: with HTTPS_PROXY=<proxyUrl from
    /// bootstrap.json> and REQUESTS_CA_BUNDLE=<ca.pem>, connection strings naming
    /// https://<region>.quantum.azure.com/ and ARM calls to management.azure.com reach this
    /// server (no other host is proxied). Connection strings then use the canonical Azure endpoint.
    #[arg(long)]
    pub azure_compat: bool,
    /// Listen address of the --azure-compat proxy (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub proxy_listen: SocketAddr,
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
    /// Items per page in management list operations.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,
    /// Failed authentications allowed per minute, per client address and per guessed target
    /// (workspace, client id, …), before further failing attempts get 429. Valid credentials
    /// are never throttled.
    #[arg(long, default_value_t = 60)]
    pub auth_failure_limit: u32,
    /// Base of blob URLs in SAS URIs (default: the HTTP listener spelled http://127.1:<port>,
    /// which azure-storage-blob parses container-first). Must not name localhost or 127.0.0.1.
    #[arg(long, value_parser = qws_server::blob::sas::normalize_blob_public_url)]
    pub blob_public_url: Option<String>,
    /// Seconds a device code (`az login --use-device-code`) waits for its user.
    #[arg(long, value_name = "SECONDS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub device_code_lifetime: u64,
    /// Most sign-ins waiting at once (each of device codes and authorization codes not yet
    /// redeemed); more are refused.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_pending_sign_ins: u32,
    /// Largest blob (job input, output or attachment) in bytes.
    #[arg(long, default_value_t = qws_server::blob::DEFAULT_MAX_BLOB_SIZE)]
    pub max_blob_size: u64,
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
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
}

/// Job scheduler options. Unset options keep the defaults of
/// `qws_server::scheduler::SchedulerConfig`, which are defined there once.
#[derive(clap::Args, Debug, Default)]
pub struct SchedulerArgs {
    /// Jobs simulated at once [default: one per core].
    #[arg(long, env = "QWS_WORKERS", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub workers: Option<u32>,
    /// Memory in MiB that running jobs share, statevectors and results
    /// [default: what the widest target needs, at most 3/4 of physical memory].
    #[arg(long, env = "QWS_MEMORY_BUDGET_MIB", value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_budget_mib: Option<u64>,
    /// Largest output document of one job, in MiB [default: 64].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_output_mib: Option<u64>,
    /// Waiting jobs the server holds before submissions get 503 [default: 10000].
    #[arg(long)]
    pub max_queued_jobs: Option<usize>,
    /// Waiting jobs one workspace may have before its submissions get 429 (0: no cap)
    /// [default: 2000].
    #[arg(long)]
    pub max_queued_per_workspace: Option<usize>,
    /// Waiting jobs one caller (client id, or a workspace key) may have (0: no cap)
    /// [default: 2000].
    #[arg(long)]
    pub max_queued_per_principal: Option<usize>,
    /// Jobs of one workspace that run at once (0: no cap) [default: workers - 1, at least 1,
    /// so one worker stays free for other workspaces].
    #[arg(long)]
    pub max_running_per_workspace: Option<usize>,
    /// Jobs of one caller that run at once (0: no cap) [default: 0].
    #[arg(long)]
    pub max_running_per_principal: Option<usize>,
    /// Attempts at a job during which the server stopped before the job is failed instead of
    /// retried [default: 3].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_job_attempts: Option<u32>,
    /// Seconds a job may execute before it is stopped and failed [default: 3600].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_execution_time: Option<u64>,
    /// A target's own execution time limit, TARGET=SECONDS (repeatable).
    #[arg(long, value_parser = parse_target_limit)]
    pub target_max_execution_time: Vec<(String, u64)>,
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
        if let Some(m) = self.max_output_mib {
            c.max_output_bytes = m << 20;
            // The default budget leaves room for the largest output; keep it so.
            c.memory_budget_bytes =
                qws_server::scheduler::default_memory_budget_here(c.max_output_bytes);
        }
        if let Some(m) = self.memory_budget_mib {
            c.memory_budget_bytes = m << 20;
        }
        if let Some(n) = self.max_queued_jobs {
            c.max_queue = n;
        }
        if let Some(n) = self.max_queued_per_workspace {
            c.caps.queued_per_workspace = n;
        }
        if let Some(n) = self.max_queued_per_principal {
            c.caps.queued_per_principal = n;
        }
        if let Some(n) = self.max_running_per_workspace {
            c.caps.running_per_workspace = n;
        }
        if let Some(n) = self.max_running_per_principal {
            c.caps.running_per_principal = n;
        }
        if let Some(n) = self.max_job_attempts {
            c.max_attempts = n;
        }
        if let Some(s) = self.max_execution_time {
            c.max_execution_time = Duration::from_secs(s);
        }
        for (t, s) in &self.target_max_execution_time {
            c.target_max_execution_time
                .insert(t.clone(), Duration::from_secs(*s));
        }
        c
    }
}

/// Defaults of the connection flags.
const LIMITS: qws_server::config::ConnectionLimits = qws_server::config::ConnectionLimits::DEFAULT;

/// Runs the server.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QWS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();

    // bootstrap.json records the CA and data-dir paths; absolute paths keep them usable from any
    // working directory (e.g. REQUESTS_CA_BUNDLE set from another shell).
    let data_dir = std::path::absolute(&args.data_dir)?;
    let mut config = qws_server::ServerConfig::new(&data_dir);
    config.http_listen = args.listen;
    config.https_listen = args.tls_listen;
    config.allow_non_loopback = args.allow_non_loopback;
    config.azure_compat = args.azure_compat;
    config.proxy_listen = args.proxy_listen;
    config.public_url = args.public_url;
    config.allowed_hosts = args.allowed_hosts;
    config.enable_msi = !args.no_msi;
    config.page_size = args.page_size as usize;
    config.auth_failure_limit = args.auth_failure_limit;
    config.blob_public_url = args.blob_public_url;
    config.max_blob_size = args.max_blob_size;
    config.device_code_lifetime = Duration::from_secs(args.device_code_lifetime);
    config.max_pending_sign_ins = args.max_pending_sign_ins as usize;
    config.scheduler = args.scheduler.config();
    config.connections = qws_server::config::ConnectionLimits {
        max_connections: args.max_connections as usize,
        max_connections_per_ip: args.max_connections_per_ip as usize,
        handshake_timeout: Duration::from_secs(args.handshake_timeout),
        header_read_timeout: Duration::from_secs(args.header_read_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
    };

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
