//! Server configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `qws serve` can configure. [`ServerConfig::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Data directory (SQLite database, master key, TLS files, bootstrap.json, audit log).
    pub data_dir: PathBuf,
    /// Plain-HTTP listen address (`127.0.0.1:8080`; port 0 picks a free port).
    pub http_listen: SocketAddr,
    /// HTTPS listen address (`127.0.0.1:8443`).
    pub https_listen: SocketAddr,
    /// Must be true to bind a non-loopback address.
    pub allow_non_loopback: bool,
    /// Public data-plane URL; when unset, connection strings use the HTTP listen address and
    /// `endpointUri` the HTTPS one (token clients require TLS).
    pub public_url: Option<String>,
    /// Extra `Host` values (`NAME` or `NAME:PORT`) that links in answers may name
    /// (`--allowed-host`); see [`crate::host_policy`].
    pub allowed_hosts: Vec<String>,
    /// Serve the managed-identity endpoint `/msi/token` (guarded by the identity header in bootstrap.json).
    pub enable_msi: bool,
    /// Items per page of management list operations.
    pub page_size: usize,
    /// Failed authentications allowed per window, per client address and per guessed target,
    /// before further failing attempts are throttled ([`crate::auth::gate`]).
    pub auth_failure_limit: u32,
    /// Rate-limit window.
    pub auth_failure_window: Duration,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// How long a device code waits for its user (`--device-code-lifetime`; Entra: 15 minutes).
    pub device_code_lifetime: Duration,
    /// Most sign-ins waiting at once, each of device codes and authorization codes not yet
    /// redeemed (`--max-pending-sign-ins`); further requests are refused.
    pub max_pending_sign_ins: usize,
    /// `--azure-compat`: also run the HTTPS proxy for unmodified Azure clients (see
    /// [`crate::proxy`]) and put canonical `https://{location}.quantum.azure.com/` endpoints in
    /// connection strings.
    pub azure_compat: bool,
    /// Listen address of that proxy (`127.0.0.1:8081`).
    pub proxy_listen: SocketAddr,
    /// Base of the blob URLs in SAS URIs (`--blob-public-url`); default: the HTTP listener with
    /// `127.0.0.1` spelled `127.1` (see `blob::sas`).
    pub blob_public_url: Option<String>,
    /// Largest blob in bytes (`--max-blob-size`).
    pub max_blob_size: u64,
    /// Largest block of a block upload in bytes.
    pub max_block_size: u64,
    /// The job scheduler: workers, memory budget, output cap, queue caps, attempts and time
    /// limits.
    pub scheduler: crate::scheduler::SchedulerConfig,
    /// Connection limits and timeouts of every listener (HTTP, HTTPS, proxy).
    pub connections: ConnectionLimits,
}

/// How many connections a listener holds and how long it waits for slow or silent peers
/// (`--max-connections`, `--max-connections-per-ip`, `--handshake-timeout`,
/// `--header-read-timeout`, `--idle-timeout`). Each listener (HTTP, HTTPS, the
/// `--azure-compat` proxy) applies them on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections one listener holds; beyond it, new connections are closed at once.
    pub max_connections: usize,
    /// Most connections one client address holds on one listener.
    pub max_connections_per_ip: usize,
    /// Time allowed for everything before the first request head: the TLS handshake, the
    /// first bytes that tell HTTP/1 from HTTP/2, and on the proxy the `CONNECT` head and the
    /// tunnelled TLS handshake (each).
    pub handshake_timeout: Duration,
    /// Time allowed for an HTTP/1 request head, counted from when the connection starts
    /// waiting for it (so it also bounds an idle HTTP/1 keep-alive connection).
    pub header_read_timeout: Duration,
    /// A connection with no request in progress for this long is closed (HTTP/2: GOAWAY).
    pub idle_timeout: Duration,
}

impl ConnectionLimits {
    /// The defaults (`qws serve` shows them in `--help`).
    ///
    /// 4096 per listener keeps a few hundred MB as the worst case of held connections while
    /// being far above what local SDK clients open (a connection pool holds about 10); 512 per
    /// address lets one address run many such clients yet leaves most of the listener to others.
    /// The timeouts are generous for loopback and LAN peers, short enough that silent
    /// connections are gone within a minute.
    pub const DEFAULT: ConnectionLimits = ConnectionLimits {
        max_connections: 4096,
        max_connections_per_ip: 512,
        handshake_timeout: Duration::from_secs(10),
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
    };
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits::DEFAULT
    }
}

impl ServerConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            data_dir: data_dir.into(),
            http_listen: "127.0.0.1:8080".parse().expect("valid"),
            https_listen: "127.0.0.1:8443".parse().expect("valid"),
            allow_non_loopback: false,
            public_url: None,
            allowed_hosts: Vec::new(),
            enable_msi: true,
            page_size: 100,
            auth_failure_limit: 60,
            auth_failure_window: Duration::from_secs(60),
            token_lifetime: Duration::from_secs(3600),
            device_code_lifetime: Duration::from_secs(900),
            max_pending_sign_ins: 1000,
            azure_compat: false,
            proxy_listen: "127.0.0.1:8081".parse().expect("valid"),
            blob_public_url: None,
            max_blob_size: qws_store::blobs::DEFAULT_MAX_BLOB_SIZE,
            max_block_size: qws_store::blobs::DEFAULT_MAX_BLOCK_SIZE,
            scheduler: crate::scheduler::SchedulerConfig::default(),
            connections: ConnectionLimits::default(),
        }
    }

    /// Both listeners on `127.0.0.1:0` (tests).
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> ServerConfig {
        let mut c = ServerConfig::new(data_dir);
        c.http_listen = "127.0.0.1:0".parse().expect("valid");
        c.https_listen = "127.0.0.1:0".parse().expect("valid");
        c.proxy_listen = "127.0.0.1:0".parse().expect("valid");
        c
    }
}
