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
    /// Disable the managed-identity endpoint /msi/token (local development aid; guarded by
    /// the identityHeader secret in bootstrap.json).
    #[arg(long)]
    pub no_msi: bool,
    /// Items per page in management list operations.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: u32,
    /// Failed authentications allowed per client address per minute before 429.
    #[arg(long, default_value_t = 60)]
    pub auth_failure_limit: u32,
    /// Base of blob URLs in SAS URIs (default: the HTTP listener spelled http://127.1:<port>,
    /// which azure-storage-blob parses container-first). Must not name localhost or 127.0.0.1.
    #[arg(long, value_parser = qws_server::blob::sas::normalize_blob_public_url)]
    pub blob_public_url: Option<String>,
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
    config.enable_msi = !args.no_msi;
    config.page_size = args.page_size as usize;
    config.auth_failure_limit = args.auth_failure_limit;
    config.blob_public_url = args.blob_public_url;
    config.max_blob_size = args.max_blob_size;
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
