//! Starting and stopping a qws server.

use crate::audit::AuditLog;
use crate::auth::jwt::TokenSigner;
use crate::auth::ratelimit::FailureLimiter;
use crate::bootstrap::{self, BootstrapSecrets};
use crate::config::ServerConfig;
use crate::http::listener::Front;
use crate::state::{AppState, BootstrapIds, PublicUrls, StateInner};
use anyhow::{bail, Context};
use qws_core::connection_string::ConnectionString;
use qws_core::keys::KeySlot;
use qws_store::crypto::{Crypto, MasterKeySource};
use qws_store::Store;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

/// A running server. Drop does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    /// Bound HTTPS address.
    pub https_addr: SocketAddr,
    /// Bound address of the `--azure-compat` proxy (its URL is `proxyUrl` in bootstrap.json).
    pub proxy_addr: Option<SocketAddr>,
    /// Bound address of the `--metrics-listen` listener (`GET /metrics`).
    pub metrics_addr: Option<SocketAddr>,
    /// Shared state (tests use it to reach the key check directly).
    pub state: AppState,
    /// `DATA_DIR/bootstrap.json`.
    pub bootstrap_file: PathBuf,
    /// `DATA_DIR/ca.pem`.
    pub ca_file: PathBuf,
    /// True when this start created the data (tenant, admin, workspace).
    pub first_start: bool,
    /// On first start: the text to show the operator once (credentials and connection string).
    pub first_start_banner: Option<Zeroizing<String>>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    _dir_lock: crate::datadir::DataDirLock,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("http_addr", &self.http_addr)
            .field("https_addr", &self.https_addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// Stops accepting, drains in-flight requests (bounded), and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Running jobs go back to Waiting (not counted as a crashed attempt) and run again at
        // the next start.
        self.state
            .dataplane
            .scheduler
            .shutdown(std::time::Duration::from_secs(10))
            .await;
    }

    /// `http://addr` of the HTTP listener.
    pub fn http_url(&self) -> String {
        self.state.urls.http.clone()
    }

    /// `https://addr` of the HTTPS listener.
    pub fn https_url(&self) -> String {
        self.state.urls.https.clone()
    }
}

fn check_bind(addr: &SocketAddr, allowed: bool, flag: &str) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && !allowed {
        bail!("refusing to bind {flag} {addr}: it is not a loopback address. Pass --allow-non-loopback to expose qws on the network (and set --public-url).");
    }
    Ok(())
}

fn url_for(scheme: &str, addr: SocketAddr) -> String {
    format!("{scheme}://{addr}")
}

/// The primary connection string of the bootstrap workspace, or "" (deleted or keys disabled).
fn bootstrap_connection_string(
    store: &Store,
    ids: &BootstrapIds,
    urls: &PublicUrls,
) -> anyhow::Result<Zeroizing<String>> {
    let Some(w) = store.get_workspace(&ids.workspace_id()?)? else {
        return Ok(Zeroizing::new(String::new()));
    };
    let keys = store.workspace_keys(&w.uid)?;
    let Some(primary) = keys
        .keys
        .iter()
        .find(|k| k.slot == KeySlot::Primary)
        .filter(|_| keys.enabled)
    else {
        return Ok(Zeroizing::new(String::new()));
    };
    let id = w.id()?;
    let cs = ConnectionString {
        subscription_id: id.subscription,
        resource_group: id.resource_group,
        workspace_name: id.workspace,
        api_key: primary.key.clone(),
        quantum_endpoint: urls.quantum_endpoint_for(&w.location),
    };
    Ok(Zeroizing::new(cs.to_secret_string()))
}

fn normalize_public_url(u: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(u).with_context(|| format!("--public-url '{u}' is not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host().is_none()
        || parsed.query().is_some()
    {
        bail!("--public-url must be an http(s) URL without query, e.g. https://qws.example:8443/");
    }
    let mut s = parsed.to_string();
    if !s.ends_with('/') {
        s.push('/');
    }
    Ok(s)
}

/// Starts the server: opens (or creates and bootstraps) the data directory, binds both
/// listeners, writes bootstrap.json, and serves until [`RunningServer::shutdown`].
pub async fn start(config: ServerConfig) -> anyhow::Result<RunningServer> {
    qws_store::pool::observe(crate::metrics::database_use);
    check_bind(
        &config.listeners.http,
        config.listeners.allow_non_loopback,
        "--listen",
    )?;
    check_bind(
        &config.listeners.https,
        config.listeners.allow_non_loopback,
        "--tls-listen",
    )?;
    let public_url = config
        .listeners
        .public_url
        .as_deref()
        .map(normalize_public_url)
        .transpose()?;
    let dir = config.data_dir.clone();
    // Held until the server is dropped: one server per data directory, unless shared.
    let mut dir_lock = if config.shared_data_dir {
        crate::datadir::prepare_shared(&dir)?
    } else {
        crate::datadir::prepare(&dir)?
    };

    let database = match &config.database {
        Some(url) => qws_store::db::DbTarget::parse_url(&url.0).map_err(anyhow::Error::msg)?,
        None => qws_store::db::DbTarget::Sqlite(dir.clone()),
    };
    let (crypto, source) = Crypto::load_or_create(&dir)?;
    let store =
        Arc::new(Store::open_target(&database, crypto).context("opening the qws database")?);
    if source == MasterKeySource::Created {
        tracing::info!(dir = %dir.display(), "created a new master key file");
    }
    let (ids, secrets, first_start) = bootstrap::ensure(&store)?;
    let msi_roles: Vec<String> = if config.auth.msi_roles.is_empty() {
        crate::auth::msi_identity::DEFAULT_ROLES
            .iter()
            .map(|r| r.to_string())
            .collect()
    } else {
        config.auth.msi_roles.clone()
    };
    let msi_client_id = crate::auth::msi_identity::ensure(&store, &ids, &msi_roles)
        .context("setting up the managed identity")?;
    let signer = TokenSigner::load_or_create(&store)?;

    let http = TcpListener::bind(config.listeners.http)
        .await
        .with_context(|| format!("binding {}", config.listeners.http))?;
    let https = TcpListener::bind(config.listeners.https)
        .await
        .with_context(|| format!("binding {}", config.listeners.https))?;
    let (http_addr, https_addr) = (http.local_addr()?, https.local_addr()?);
    let metrics = match config.listeners.metrics {
        Some(addr) => {
            check_bind(
                &addr,
                config.listeners.allow_non_loopback,
                "--metrics-listen",
            )?;
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?;
            Some(listener)
        }
        None => None,
    };
    let metrics_addr = metrics.as_ref().map(TcpListener::local_addr).transpose()?;
    let tls = crate::http::tls::load_or_create(&dir, &[config.listeners.https.ip()], &store)?;
    // --azure-compat: the HTTPS proxy for unmodified Azure clients (crate::http::proxy).
    let proxy = if config.listeners.azure_compat {
        check_bind(
            &config.listeners.proxy,
            config.listeners.allow_non_loopback,
            "--proxy-listen",
        )?;
        let proxy_tls = crate::http::tls::proxy_cert::load_or_issue(&dir, &store)?;
        let listener = TcpListener::bind(config.listeners.proxy)
            .await
            .with_context(|| format!("binding {}", config.listeners.proxy))?;
        Some((listener, proxy_tls))
    } else {
        None
    };

    let (http_url, https_url) = (url_for("http", http_addr), url_for("https", https_addr));
    let hosts = crate::host_policy::HostPolicy::new(
        public_url.as_deref(),
        &config.listeners.allowed_hosts,
        config.listeners.azure_compat,
        &http_url,
        &https_url,
    )?;
    let urls = PublicUrls {
        quantum_endpoint: if config.listeners.azure_compat {
            crate::http::proxy::CANONICAL_ENDPOINT_TEMPLATE.to_owned()
        } else {
            public_url.clone().unwrap_or_else(|| format!("{http_url}/"))
        },
        endpoint_uri: public_url.unwrap_or_else(|| format!("{https_url}/")),
        http: http_url,
        https: https_url,
    };
    let primary_cs = bootstrap_connection_string(&store, &ids, &urls)?;
    let admin_user =
        bootstrap::ensure_admin_user(&store, &ids).context("creating the portal administrator")?;
    bootstrap::write_file(
        &dir,
        &ids,
        &secrets,
        &urls,
        &tls.ca_file,
        &primary_cs,
        config.auth.enable_msi,
        &admin_user,
    )?;
    let proxy_addr = match &proxy {
        Some((listener, _)) => {
            let addr = listener.local_addr()?;
            crate::http::proxy::add_proxy_url_to_bootstrap(&dir, &url_for("http", addr))?;
            Some(addr)
        }
        None => None,
    };
    let banner = first_start
        .then(|| first_start_banner(&ids, &secrets, &primary_cs, &dir, &urls, &admin_user));

    let audit = AuditLog::open_with(&dir, config.audit).context("opening the audit log")?;
    let limits = qws_store::blobs::BlobLimits {
        max_blob_size: config.blob.max_blob_size,
        max_block_size: config.blob.max_block_size.min(config.blob.max_blob_size),
    };
    let blobs = Arc::new(match &config.blob.backend {
        crate::config::BlobBackend::Dir(root) => {
            // One subdirectory per deployment (the nodes sharing one database share its
            // tenant): a node never purges the data of another deployment's workspaces.
            let root = root.join(deployment_dir(&ids.tenant_id)?);
            qws_store::blobs::BlobStore::open_shared(&root, limits)
                .with_context(|| format!("opening the blob directory {}", root.display()))?
        }
        _ => qws_store::blobs::BlobStore::open(&dir, limits).context("opening the blob store")?,
    });
    let job_data = job_data_backend(&config, &store, &blobs, &urls, &ids.tenant_id).await?;
    {
        let data = job_data.clone();
        tokio::task::spawn_blocking(move || data.purge_orphans()).await?;
    }
    let job_store = Arc::new(
        qws_store::jobs::JobStore::open_target(&database).context("opening the job store")?,
    );
    if !config.shared_data_dir && config.database.is_none() {
        // Alone on the data directory (it is locked) and on its SQLite database in it: every
        // lease is a dead process's. (A database shared by other means, such as a server
        // database, must not take this branch: the lock then says nothing about other nodes.)
        job_store
            .release_all_leases()
            .context("dropping stale job leases")?;
    }
    crate::scheduler::warn_if_budget_narrows_targets(&config.scheduler);
    let scheduler = crate::scheduler::Scheduler::new(
        job_store.clone(),
        job_data.clone().data_store(),
        crate::scheduler::SchedulerConfig {
            max_input_bytes: config.dataplane.max_input_bytes,
            node_id: if config.scheduler.node_id.is_empty() {
                crate::node::default_node_id(http_addr.port())
            } else {
                config.scheduler.node_id.clone()
            },
            ..config.scheduler.clone()
        },
    );
    let dataplane = Arc::new(crate::planes::dataplane::DataPlane::new(
        job_store,
        scheduler.clone(),
        config.dataplane,
    ));
    let limits = config.connections;
    let BootstrapSecrets {
        identity_header, ..
    } = secrets;
    let key_usage = Arc::new(crate::planes::dataplane::key_usage::KeyUsage::default());
    crate::planes::dataplane::key_usage::spawn_flusher(store.clone(), key_usage.clone());
    let webhook_policy = Arc::new(crate::webhooks::destination::DestinationPolicy::new(
        &config.webhook_allowed_hosts,
    ));
    crate::webhooks::spawn_worker(store.clone(), webhook_policy.clone());
    let state = AppState::new(StateInner {
        key_usage,
        webhook_policy,
        store,
        blobs,
        job_data,
        dataplane,
        signer,
        limiter: FailureLimiter::new(config.auth.failure_limit, config.auth.failure_window),
        config,
        urls,
        audit,
        ids,
        identity_header,
        msi_client_id,
        hosts,
        sign_ins: Default::default(),
        portal_sessions: Default::default(),
        portal_signins: Default::default(),
        principals: qws_store::change::VersionedCache::new(
            crate::auth::principal::PRINCIPAL_CACHE_MAX,
        ),
        job_sas: crate::planes::blob::sas::SasCache::new(crate::planes::blob::sas::SAS_CACHE_MAX),
    });
    scheduler.start().context("starting the job scheduler")?;
    // Workspace deletions a restart interrupted finish now (their 202 was already answered).
    tokio::spawn({
        let state = state.clone();
        async move { crate::planes::mgmt::deletion::resume(&state).await }
    });
    let app = if state.config.scheduler.role.serves_api() {
        crate::routes::app(state.clone())
    } else {
        crate::routes::health_only(state.clone())
    };
    let (tx, rx) = watch::channel(false);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config.clone());
    let mut listeners = vec![(http, Front::Plain), (https, Front::Tls(acceptor))];
    if let Some((listener, proxy_tls)) = proxy {
        let acceptor = tokio_rustls::TlsAcceptor::from(proxy_tls);
        listeners.push((listener, Front::ConnectProxy(acceptor)));
    }
    let mut tasks: Vec<JoinHandle<()>> = listeners
        .into_iter()
        .map(|(listener, front)| {
            tokio::spawn(crate::http::listener::serve(
                listener,
                front,
                app.clone(),
                limits,
                rx.clone(),
            ))
        })
        .collect();
    if let Some(listener) = metrics {
        tasks.push(tokio::spawn(crate::metrics::serve(listener, rx.clone())));
    }
    dir_lock.started();
    tracing::info!(http = %http_addr, https = %https_addr, metrics = ?metrics_addr, role = ?state.config.scheduler.role, node = %state.dataplane.scheduler.config().node_id, "qws started");
    Ok(RunningServer {
        http_addr,
        https_addr,
        proxy_addr,
        metrics_addr,
        bootstrap_file: dir.join(bootstrap::BOOTSTRAP_FILE),
        ca_file: tls.ca_file,
        state,
        first_start,
        first_start_banner: banner,
        shutdown: tx,
        tasks,
        _dir_lock: dir_lock,
    })
}

fn first_start_banner(
    ids: &BootstrapIds,
    secrets: &BootstrapSecrets,
    cs: &str,
    dir: &std::path::Path,
    urls: &PublicUrls,
    admin: &bootstrap::AdminUser,
) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "First start: created tenant {tenant}, subscription {sub}, resource group '{rg}' and workspace '{ws}' ({loc}).\n\
         Administrator service principal (shown once; also in {dir}/bootstrap.json, mode 0600):\n\
         \x20 tenantId:     {tenant}\n\
         \x20 clientId:     {cid}\n\
         \x20 clientSecret: {secret}\n\
         Primary connection string of '{ws}':\n\
         \x20 {cs}\n\
         Portal: {portal} (user {admin_user}, password {admin_password})\n",
        tenant = ids.tenant_id,
        sub = ids.subscription_id,
        rg = ids.resource_group,
        ws = ids.workspace_name,
        loc = ids.location,
        cid = ids.client_id,
        secret = secrets.client_secret.as_str(),
        dir = dir.display(),
        portal = crate::planes::portal::portal_url(urls),
        admin_user = admin.upn,
        admin_password = admin.password.as_str(),
    ))
}

/// The job data backend `--blob-backend` chose. With `azure`, the account is contacted once
/// here so that a wrong connection string stops the start.
async fn job_data_backend(
    config: &ServerConfig,
    store: &Arc<Store>,
    blobs: &Arc<qws_store::blobs::BlobStore>,
    urls: &PublicUrls,
    deployment: &str,
) -> anyhow::Result<Arc<dyn crate::planes::blob::backend::JobDataBackend>> {
    use crate::planes::blob::{azure::AzureJobData, namespace::NamespacedJobData, sas};
    Ok(match &config.blob.backend {
        crate::config::BlobBackend::Azure(account) => {
            let data =
                AzureJobData::connect(store.clone(), account.clone(), deployment.to_string())
                    .await?;
            tracing::info!(
                account = account.name(),
                endpoint = account.blob_endpoint(),
                "job data lives in an Azure Storage account"
            );
            Arc::new(data)
        }
        _ => Arc::new(NamespacedJobData::new(
            store.clone(),
            blobs.clone(),
            sas::own_blob_base_url(config.blob.public_url.as_deref(), &urls.http),
            urls.http.clone(),
        )),
    })
}

/// The subdirectory of a shared blob directory that holds this deployment's data.
fn deployment_dir(tenant_id: &str) -> anyhow::Result<String> {
    if tenant_id.is_empty()
        || !tenant_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        bail!("the tenant id is not a valid directory name");
    }
    Ok(format!("qws-{}", tenant_id.to_ascii_lowercase()))
}
