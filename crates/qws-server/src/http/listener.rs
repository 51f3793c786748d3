//! The one accept loop behind every listener — HTTP, HTTPS and the `--azure-compat` proxy
//! (hyper + rustls) — with per-connection [`ConnInfo`], path normalization before routing,
//! connection caps, timeouts for every phase a silent peer could stretch, and graceful shutdown.
//!
//! A connection passes through: admission (the caps, [`ConnLimiter`]; over a cap it is closed
//! at once), its [`Front`] (nothing for HTTP; the TLS handshake for HTTPS; the `CONNECT` head
//! and the tunnelled TLS handshake for the proxy), protocol detection (its first bytes say HTTP/1 or
//! HTTP/2) — each bounded by `handshake_timeout` and done in the connection's own task, never
//! in the accept loop — then HTTP, where hyper bounds HTTP/1 request heads
//! (`header_read_timeout`) and [`drive`] closes connections idle for `idle_timeout`.

use crate::config::ConnectionLimits;
use crate::http::conn::{Activity, Busy, ConnInfo, ConnLimiter, ConnPermit, Refused, ServerIo};
use axum::body::{Body, HttpBody};
use axum::Router;
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 peers are pinged after this long without a frame from them...
const H2_PING_INTERVAL: Duration = Duration::from_secs(20);
/// ...and the connection is closed if the ping is not answered within this: it finds peers
/// that vanished while a request was in progress (the idle timeout covers the rest).
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// At most one warning per listener this often when connections are refused at a cap.
const CAP_WARNING_INTERVAL: Duration = Duration::from_secs(60);
/// The HTTP/2 connection preface; a connection starting with it speaks HTTP/2.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a listener does with a connection before HTTP starts on it.
#[derive(Clone)]
pub enum Front {
    /// Nothing: plain HTTP.
    Plain,
    /// A TLS handshake: HTTPS.
    Tls(TlsAcceptor),
    /// The `--azure-compat` proxy: a `CONNECT` head for an Azure host, then a TLS handshake
    /// inside the tunnel ([`crate::http::proxy`]).
    ConnectProxy(TlsAcceptor),
}

impl Front {
    /// The listener's name in log lines.
    fn name(&self) -> &'static str {
        match self {
            Front::Plain => "http",
            Front::Tls(_) => "https",
            Front::ConnectProxy(_) => "proxy",
        }
    }
}

/// Runs one listener (HTTP, HTTPS or the proxy, as `front` says) until `shutdown` flips to
/// true, then drains its connections. Every kind shares the accept loop, the caps and timeouts
/// of `limits` and the HTTP serving: only what happens before HTTP differs.
pub async fn serve(
    listener: TcpListener,
    front: Front,
    app: Router,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
) {
    let app = with_connection_layers(app);
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
    let name = front.name();
    let accepted = move |tcp: TcpStream,
                         remote: SocketAddr,
                         mut shutdown: watch::Receiver<bool>| {
        let (app, front) = (app.clone(), front.clone());
        async move {
            match front {
                Front::Plain => {
                    let info = ConnInfo {
                        remote,
                        local,
                        tls: false,
                    };
                    serve_connection(tcp, info, app, limits, shutdown).await
                }
                Front::Tls(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp));
                    let stream = tokio::select! {
                        r = handshake => r,
                        _ = shutdown.changed() => return,
                    };
                    let info = ConnInfo {
                        remote,
                        local,
                        tls: true,
                    };
                    match stream {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, info, app, limits, shutdown).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, client = %remote.ip(), "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(client = %remote.ip(), "TLS handshake timed out"),
                    }
                }
                Front::ConnectProxy(acceptor) => {
                    let tunnel = tokio::select! {
                        s = crate::http::proxy::open_tunnel(tcp, remote, acceptor, limits) => s,
                        _ = shutdown.changed() => None,
                    };
                    // The decrypted tunnel is served exactly as the HTTPS listener serves its
                    // connections.
                    if let Some((stream, info)) = tunnel {
                        serve_connection(stream, info, app, limits, shutdown).await
                    }
                }
            }
        }
    };
    accept_loop(listener, name, limits, shutdown, accepted).await;
}

/// The router as every listener serves it: request ids and logging, and `Connection: close`
/// on HTTP/1 responses sent before their request body was read.
fn with_connection_layers(app: Router) -> Router {
    app.layer(axum::middleware::from_fn(request_log))
        .layer(axum::middleware::from_fn(close_when_body_unread))
        .layer(axum::middleware::from_fn(
            crate::http::drain::drain_unread_body,
        ))
}

/// Accepts connections until `shutdown` flips to true, admits each under the caps of
/// `limits` (closing it at once when a cap is full) and runs `handle` for it in its own task,
/// so no peer can slow the loop down. Then waits (bounded) for the connections to end.
async fn accept_loop<F, Fut>(
    listener: TcpListener,
    name: &'static str,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    handle: F,
) where
    F: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limiter = ConnLimiter::new(limits.max_connections, limits.max_connections_per_ip);
    let mut last_warning: Option<tokio::time::Instant> = None;
    loop {
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, name, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let permit: ConnPermit = match limiter.admit(remote.ip()) {
            Ok(p) => p,
            Err(why) => {
                // Dropping the socket closes it: the client learns at once instead of waiting.
                let cap = match why {
                    Refused::ListenerFull => "max-connections",
                    Refused::AddressFull => "max-connections-per-ip",
                };
                // A flood of refusals must not become a flood of log lines: one warning a
                // minute, the rest at debug level.
                if last_warning.is_none_or(|t| t.elapsed() >= CAP_WARNING_INTERVAL) {
                    last_warning = Some(tokio::time::Instant::now());
                    tracing::warn!(client = %remote.ip(), name, cap, "connection cap reached; refusing new connections (repeats are logged at debug level)");
                } else {
                    tracing::debug!(client = %remote.ip(), name, cap, "connection refused: cap reached");
                }
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let conn = handle(tcp, remote, shutdown.clone());
        tokio::spawn(async move {
            let _permit = permit;
            conn.await;
        });
    }
    drop(listener);
    limiter.drained(DRAIN_TIMEOUT).await;
}

/// Which HTTP version a connection speaks, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// Reads just enough to tell HTTP/2 (the 24-byte preface) from HTTP/1 (anything else; usually
/// the first byte decides). Returns the bytes read, which must be replayed, or `None` when the
/// client closed without sending anything useful.
async fn sniff<IO: AsyncRead + Unpin>(io: &mut IO) -> std::io::Result<Option<(Protocol, Vec<u8>)>> {
    let mut seen = Vec::with_capacity(H2_PREFACE.len());
    let mut chunk = [0u8; 24];
    loop {
        let want = H2_PREFACE.len() - seen.len();
        let n = io.read(&mut chunk[..want]).await?;
        if n == 0 {
            return Ok(None);
        }
        seen.extend_from_slice(&chunk[..n]);
        if !H2_PREFACE.starts_with(&seen) {
            return Ok(Some((Protocol::Http1, seen)));
        }
        if seen.len() == H2_PREFACE.len() {
            return Ok(Some((Protocol::Http2, seen)));
        }
    }
}

/// Serves one accepted (and, for HTTPS and the proxy, decrypted) connection with the
/// application router until it ends, idles out or shutdown drains it.
async fn serve_connection<IO>(
    mut io: IO,
    info: ConnInfo,
    app: Router,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let detect = tokio::time::timeout(limits.handshake_timeout, sniff(&mut io));
    let detected = tokio::select! {
        r = detect => r,
        _ = shutdown.changed() => return,
    };
    let (protocol, sniffed) = match detected {
        Ok(Ok(Some(found))) => found,
        Ok(Ok(None)) | Ok(Err(_)) => return,
        Err(_) => {
            tracing::debug!(client = %info.remote.ip(), "no request within the handshake timeout");
            return;
        }
    };
    let io = TokioIo::new(ServerIo::new(sniffed, io));
    let activity = Activity::new();
    let svc = {
        let activity = activity.clone();
        hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let busy = activity.begin();
            req.extensions_mut().insert(info);
            crate::routes::normalize::normalize_request(&mut req);
            let app = app.clone();
            async move {
                let resp = tower::ServiceExt::oneshot(app, req).await?;
                Ok::<_, std::convert::Infallible>(
                    resp.map(|body| Body::new(WhileBusy { body, _busy: busy })),
                )
            }
        })
    };
    match protocol {
        Protocol::Http1 => {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(io, svc);
            drive(conn, &activity, info, limits, shutdown).await
        }
        Protocol::Http2 => {
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .max_concurrent_streams(64)
                .keep_alive_interval(H2_PING_INTERVAL)
                .keep_alive_timeout(H2_PING_TIMEOUT)
                .serve_connection(io, svc);
            drive(conn, &activity, info, limits, shutdown).await
        }
    }
}

/// A hyper server connection of either version.
trait HttpConnection: Future<Output = hyper::Result<()>> {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> HttpConnection for hyper::server::conn::http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: HttpBody + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http1::Connection::graceful_shutdown(self)
    }
}

impl<I, S, B, E> HttpConnection for hyper::server::conn::http2::Connection<I, S, E>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: HttpBody + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http2::Connection::graceful_shutdown(self)
    }
}

/// Runs a connection to its end; closes it gracefully once it has had no request in progress
/// for `idle_timeout` (giving the peer `handshake_timeout` to take note), or on shutdown.
async fn drive<C: HttpConnection>(
    conn: C,
    activity: &Activity,
    info: ConnInfo,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::pin!(conn);
    let idle = limits.idle_timeout;
    let mut check_at = tokio::time::Instant::now() + idle;
    let grace = loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, client = %info.remote.ip(), "connection ended with an error");
                }
                return;
            }
            _ = shutdown.changed() => break DRAIN_TIMEOUT,
            _ = tokio::time::sleep_until(check_at) => {
                let now = tokio::time::Instant::now();
                match activity.idle_since() {
                    Some(since) if since + idle <= now => break limits.handshake_timeout,
                    Some(since) => check_at = since + idle,
                    None => check_at = now + idle,
                }
            }
        }
    };
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(grace, conn).await;
}

/// A response body that keeps its request counted as in progress until it has been sent.
struct WhileBusy {
    body: Body,
    _busy: Busy,
}

impl HttpBody for WhileBusy {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// A request body that notes when it has been read to the end.
struct NotingEnd {
    body: Body,
    ended: Arc<AtomicBool>,
}

impl HttpBody for NotingEnd {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let r = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(r, Poll::Ready(None)) || self.body.is_end_stream() {
            self.ended.store(true, Ordering::Relaxed);
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// HTTP/1 only: when a response is ready before the request body was read to its end (an
/// early 401, a 413 at the size limit), the rest of that body is still on its way and the
/// connection cannot carry another request, so the response says `Connection: close`. The
/// client is told not to reuse the connection, and [`ServerIo`] reads and discards the rest of
/// the upload while closing so the response is not lost to a reset.
async fn close_when_body_unread(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.version() >= axum::http::Version::HTTP_2 || req.body().is_end_stream() {
        return next.run(req).await;
    }
    let ended = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| {
        Body::new(NotingEnd {
            body,
            ended: ended.clone(),
        })
    });
    let mut resp = next.run(req).await;
    if !ended.load(Ordering::Relaxed) {
        resp.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// Gives every response an `x-ms-request-id` (echoing the client's `x-ms-client-request-id` as
/// `x-ms-client-request-id`) and logs one info line per request: request id, method, host,
/// path, plane, route template, principal (an object id, never a credential), status and
/// latency, the same for every listener and the `--azure-compat` proxy's tunnels (whose host
/// names the Azure service the client meant). Only the path is logged: query strings can carry
/// signatures.
async fn request_log(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let host: String = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| {
            req.headers()
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or("")
        .chars()
        .take(255)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    let path: String = req.uri().path().chars().take(512).collect();
    let client_request_id = req
        .headers()
        .get("x-ms-client-request-id")
        .filter(|v| v.len() <= 128)
        .cloned();
    let started = std::time::Instant::now();
    let mut resp = next.run(req).await;
    let request_id = uuid::Uuid::new_v4().to_string();
    let facts = resp.extensions().get::<crate::metrics::RequestFacts>();
    let (plane, route, principal) = match facts {
        Some(f) => (f.plane, f.route.as_str(), f.principal.as_deref()),
        None => ("none", "", None),
    };
    tracing::info!(
        %request_id,
        %method,
        %host,
        %path,
        plane,
        route,
        principal = principal.unwrap_or("-"),
        status = resp.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    let h = resp.headers_mut();
    if let Ok(v) = axum::http::HeaderValue::from_str(&request_id) {
        h.insert("x-ms-request-id", v);
    }
    if let Some(v) = client_request_id {
        h.insert("x-ms-client-request-id", v);
    }
    resp
}
