//! Server configuration, nested by concern: listeners, authentication, the management plane,
//! blob limits, the data plane, the scheduler and connection limits. Each concern's defaults
//! are defined once, as a `DEFAULT` constant next to its type (the scheduler's and the data
//! plane's next to their code); `qws serve` shows them in `--help` from the same constants.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

pub use crate::planes::dataplane::DataPlaneConfig;
pub use crate::scheduler::SchedulerConfig;

/// Everything `qws serve` can configure. [`ServerConfig::new`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Data directory (SQLite database, master key, TLS files, bootstrap.json, audit log).
    pub data_dir: PathBuf,
    /// `--database`: a PostgreSQL URL for the metadata and job tables instead of the SQLite
    /// database in the data directory (`None`). Redacted in `Debug` (it may hold a password).
    pub database: Option<DatabaseUrl>,
    /// Several nodes serve the data directory together (`--shared-data-dir`); see
    /// [`crate::datadir::prepare_shared`].
    pub shared_data_dir: bool,
    /// Listen addresses and the names and URLs the server answers with.
    pub listeners: ListenerConfig,
    /// Tokens, the managed-identity endpoint and failed-authentication throttling.
    pub auth: AuthConfig,
    /// The management plane.
    pub mgmt: MgmtConfig,
    /// Blob service limits and URLs.
    pub blob: BlobConfig,
    /// The data plane: job input size and the default monthly job quota.
    pub dataplane: DataPlaneConfig,
    /// The job scheduler: workers, memory budget, output cap, queue caps, attempts and time
    /// limits.
    pub scheduler: SchedulerConfig,
    /// Connection limits and timeouts of every listener (HTTP, HTTPS, proxy).
    pub connections: ConnectionLimits,
    /// Audit log rotation (`--audit-max-size`, `--audit-max-age`, `--audit-keep`).
    pub audit: crate::audit::AuditRotation,
    /// Hosts other than loopback that webhooks may post to (`--webhook-allow-host`).
    pub webhook_allowed_hosts: Vec<String>,
}

/// A database URL; `Debug` hides it, since it may carry a password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(..)")
    }
}

const fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Where the server listens and how it names itself in answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// Plain-HTTP listen address (`--listen`; port 0 picks a free port).
    pub http: SocketAddr,
    /// HTTPS listen address (`--tls-listen`).
    pub https: SocketAddr,
    /// Must be true to bind a non-loopback address (`--allow-non-loopback`).
    pub allow_non_loopback: bool,
    /// Public data-plane URL (`--public-url`); when unset, connection strings use the HTTP
    /// listen address and `endpointUri` the HTTPS one (token clients require TLS).
    pub public_url: Option<String>,
    /// Extra `Host` values (`NAME` or `NAME:PORT`) that links in answers may name
    /// (`--allowed-host`); see [`crate::host_policy`].
    pub allowed_hosts: Vec<String>,
    /// `--azure-compat`: also run the HTTPS proxy for unmodified Azure clients (see
    /// [`crate::http::proxy`]) and put canonical `https://{location}.quantum.azure.com/` endpoints in
    /// connection strings.
    pub azure_compat: bool,
    /// Listen address of that proxy (`--proxy-listen`).
    pub proxy: SocketAddr,
    /// Listen address of `GET /metrics` (`--metrics-listen`); `None`: no metrics listener.
    /// Loopback only unless `allow_non_loopback`, like every listener.
    pub metrics: Option<SocketAddr>,
}

impl ListenerConfig {
    /// The defaults: loopback only, HTTP on 8080, HTTPS on 8443, the proxy (off) on 8081.
    pub const DEFAULT: ListenerConfig = ListenerConfig {
        http: loopback(8080),
        https: loopback(8443),
        allow_non_loopback: false,
        public_url: None,
        allowed_hosts: Vec::new(),
        azure_compat: false,
        proxy: loopback(8081),
        metrics: None,
    };
}

/// Tokens, the managed-identity endpoint and failed-authentication throttling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Serve the managed-identity endpoint `/msi/token` (guarded by the identity header in
    /// bootstrap.json; `--no-msi` turns it off).
    pub enable_msi: bool,
    /// Failed authentications allowed per window, per client address and per guessed target,
    /// before further failing attempts are throttled ([`crate::auth::gate`]).
    pub failure_limit: u32,
    /// The window of that limit.
    pub failure_window: Duration,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// Roles the managed identity holds at the bootstrap subscription (`--msi-role`); empty:
    /// [`crate::auth::msi_identity::DEFAULT_ROLES`].
    pub msi_roles: Vec<String>,
    /// How long a device code waits for its user (`--device-code-lifetime`; Entra: 15 minutes).
    pub device_code_lifetime: Duration,
    /// Most sign-ins waiting at once, each of device codes and authorization codes not yet
    /// redeemed (`--max-pending-sign-ins`); further requests are refused.
    pub max_pending_sign_ins: usize,
}

impl AuthConfig {
    /// The defaults: 60 failures a minute, one-hour tokens, MSI on.
    pub const DEFAULT: AuthConfig = AuthConfig {
        enable_msi: true,
        failure_limit: 60,
        failure_window: Duration::from_secs(60),
        token_lifetime: Duration::from_secs(3600),
        msi_roles: Vec::new(),
        device_code_lifetime: Duration::from_secs(900),
        max_pending_sign_ins: 1000,
    };
}

/// The management plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MgmtConfig {
    /// Items per page of management list operations (`--page-size`).
    pub page_size: usize,
    /// How long a deleted workspace stays readable (`provisioningState: Deleting`) when nobody
    /// polls its delete operation; a poll of the operation finishes it at once.
    pub delete_grace: std::time::Duration,
}

impl MgmtConfig {
    /// The defaults: ARM's usual page of 100; deletions finish within 5 seconds.
    pub const DEFAULT: MgmtConfig = MgmtConfig {
        page_size: 100,
        delete_grace: std::time::Duration::from_secs(5),
    };
}

/// Blob service limits and URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobConfig {
    /// Base of the blob URLs in SAS URIs (`--blob-public-url`); default: the HTTP listener with
    /// `127.0.0.1` spelled `127.1` (see `blob::sas`).
    pub public_url: Option<String>,
    /// Largest blob in bytes (`--max-blob-size`).
    pub max_blob_size: u64,
    /// Largest block of a block upload in bytes (`--max-block-size`; at most the blob size).
    pub max_block_size: u64,
    /// Where job data lives (`--blob-backend`).
    pub backend: BlobBackend,
}

/// Where job data lives (`--blob-backend local|dir:PATH|azure`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BlobBackend {
    /// Blob files under the data directory, served by qws (the default).
    #[default]
    Local,
    /// Blob files under a directory several qws nodes may share, served by qws.
    Dir(std::path::PathBuf),
    /// An Azure Storage account (`--blob-connection-string`); clients reach it directly.
    /// `Debug` never shows the key.
    Azure(crate::planes::blob::azure::account::Account),
}

impl BlobBackend {
    /// Reads `local`, `dir:PATH` or `azure` (with the connection string `azure` needs). Errors
    /// never quote the connection string.
    pub fn parse(choice: &str, connection_string: Option<&str>) -> Result<BlobBackend, String> {
        let needs_no_cs = |b: BlobBackend| match connection_string {
            Some(_) => Err(format!(
                "a blob connection string is only used with --blob-backend azure, not '{choice}'"
            )),
            None => Ok(b),
        };
        match choice {
            "local" => needs_no_cs(BlobBackend::Local),
            "azure" => match connection_string {
                Some(cs) => crate::planes::blob::azure::account::Account::from_connection_string(cs)
                    .map(BlobBackend::Azure),
                None => Err("--blob-backend azure needs a storage connection string (--blob-connection-string or QWS_BLOB_CONNECTION_STRING)".into()),
            },
            _ => match choice.strip_prefix("dir:") {
                Some(p) if !p.is_empty() => needs_no_cs(BlobBackend::Dir(p.into())),
                _ => Err(format!(
                    "unknown blob backend '{choice}': use local, dir:PATH or azure"
                )),
            },
        }
    }
}

impl BlobConfig {
    /// The defaults of the blob store.
    pub const DEFAULT: BlobConfig = BlobConfig {
        public_url: None,
        max_blob_size: qws_store::blobs::DEFAULT_MAX_BLOB_SIZE,
        max_block_size: qws_store::blobs::DEFAULT_MAX_BLOCK_SIZE,
        backend: BlobBackend::Local,
    };
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
            database: None,
            shared_data_dir: false,
            listeners: ListenerConfig::DEFAULT,
            auth: AuthConfig::DEFAULT,
            mgmt: MgmtConfig::DEFAULT,
            blob: BlobConfig::DEFAULT,
            dataplane: DataPlaneConfig::DEFAULT,
            scheduler: SchedulerConfig::default(),
            connections: ConnectionLimits::DEFAULT,
            audit: crate::audit::AuditRotation::DEFAULT,
            webhook_allowed_hosts: Vec::new(),
        }
    }

    /// Every listener on `127.0.0.1:0` (tests).
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> ServerConfig {
        let mut c = ServerConfig::new(data_dir);
        c.listeners.http = loopback(0);
        c.listeners.https = loopback(0);
        c.listeners.proxy = loopback(0);
        c
    }
}
