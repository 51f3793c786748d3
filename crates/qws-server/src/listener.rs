//! Accept loops for the HTTP and HTTPS listeners (hyper + rustls), with per-connection
//! [`ConnInfo`], path normalization before routing, bounded connections, header timeouts and
//! graceful shutdown.

use crate::conn::ConnInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

/// Most concurrent connections per listener.
pub const MAX_CONNECTIONS: usize = 1024;
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one listener until `shutdown` flips to true, then drains its connections.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = app.layer(axum::middleware::from_fn(request_log));
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = tcp.set_nodelay(true);
        let info = ConnInfo {
            remote,
            local,
            tls: tls.is_some(),
        };
        let app = app.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_connection(tcp, info, app, shutdown).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => serve_connection(stream, info, app, shutdown).await,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, client = %remote.ip(), "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(client = %remote.ip(), "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    // Wait for in-flight connections: every connection holds a permit.
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, permits.acquire_many(MAX_CONNECTIONS as u32)).await;
}

/// Serves one accepted (and, for HTTPS, decrypted) connection with the application router until
/// it ends or shutdown drains it. The `--azure-compat` proxy serves its tunnels with this too.
pub(crate) async fn serve_connection<IO>(
    io: IO,
    info: ConnInfo,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = tower::ServiceExt::map_request(app, move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(info);
        crate::routes::normalize::normalize_request(&mut req);
        req
    });
    let svc = TowerToHyperService::new(svc);
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(64);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, client = %info.remote.ip(), "connection ended with an error");
            }
        }
        _ = shutdown.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN_TIMEOUT, conn).await;
        }
    }
}

/// Gives every response an `x-ms-request-id` (echoing the client's `x-ms-client-request-id` as
/// `x-ms-client-request-id`) and logs method, path, status and latency at debug level. Only the
/// path is logged: query strings can carry signatures.
async fn request_log(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let path: String = req.uri().path().chars().take(512).collect();
    let client_request_id = req
        .headers()
        .get("x-ms-client-request-id")
        .filter(|v| v.len() <= 128)
        .cloned();
    let started = std::time::Instant::now();
    let mut resp = next.run(req).await;
    let request_id = uuid::Uuid::new_v4().to_string();
    tracing::debug!(%method, %path, status = resp.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, %request_id, "request");
    let h = resp.headers_mut();
    if let Ok(v) = axum::http::HeaderValue::from_str(&request_id) {
        h.insert("x-ms-request-id", v);
    }
    if let Some(v) = client_request_id {
        h.insert("x-ms-client-request-id", v);
    }
    resp
}
