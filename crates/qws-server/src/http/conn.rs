//! Per-connection facts attached to every request ([`ConnInfo`], [`BaseUrl`]) and the
//! bookkeeping the listeners keep per connection: the connection caps ([`ConnLimiter`]),
//! whether a request is in progress ([`Activity`]) and the I/O wrapper that replays the
//! sniffed first bytes and closes gently ([`ServerIo`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Inserted into each request's extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    /// Client address.
    pub remote: SocketAddr,
    /// Local (listener) address.
    pub local: SocketAddr,
    /// True on the HTTPS listener.
    pub tls: bool,
}

impl ConnInfo {
    fn unknown() -> ConnInfo {
        let a: SocketAddr = ([0, 0, 0, 0], 0).into();
        ConnInfo {
            remote: a,
            local: a,
            tls: false,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ConnInfo {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<ConnInfo>()
            .copied()
            .unwrap_or_else(ConnInfo::unknown))
    }
}

/// The absolute base URL for links the client must follow (nextLink, LRO URLs, OIDC), no
/// trailing slash: the authority the client used (`https://127.0.0.1:8443`) when it is one this
/// server answers to, else the configured URL ([`crate::host_policy`]).
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl FromRequestParts<crate::state::AppState> for BaseUrl {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Infallible> {
        let info = parts
            .extensions
            .get::<ConnInfo>()
            .copied()
            .unwrap_or_else(ConnInfo::unknown);
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        Ok(BaseUrl(state.hosts.base_url(host, &info)))
    }
}

/// The connection caps of one listener: at most `max_total` connections, at most `max_per_ip`
/// from one client address. Admission never waits: a connection over a cap is refused at once,
/// so the accept loop keeps draining the kernel's queue whatever the peers do.
#[derive(Debug)]
pub(crate) struct ConnLimiter {
    total: Arc<Semaphore>,
    max_total: usize,
    max_per_ip: usize,
    /// Live connections per address; an address leaves the map with its last connection, so
    /// the map never holds more than `max_total` entries.
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// A place under both caps, held for the life of one connection.
#[derive(Debug)]
pub(crate) struct ConnPermit {
    _total: OwnedSemaphorePermit,
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

/// Which cap refused a connection (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    ListenerFull,
    AddressFull,
}

impl ConnLimiter {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<ConnLimiter> {
        let max_total = max_total.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(ConnLimiter {
            total: Arc::new(Semaphore::new(max_total)),
            max_total,
            max_per_ip: max_per_ip.max(1),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// A place for a connection from `ip`, or which cap is full.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refused> {
        let total = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::ListenerFull)?;
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(Refused::AddressFull);
        }
        *n += 1;
        Ok(ConnPermit {
            _total: total,
            limiter: self.clone(),
            ip,
        })
    }

    /// Waits until every connection has ended, at most `limit`.
    pub(crate) async fn drained(&self, limit: Duration) {
        let all = u32::try_from(self.max_total).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(limit, self.total.acquire_many(all)).await;
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut per_ip = self
            .limiter
            .per_ip
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// Whether a connection has a request in progress (from its head until its response body has
/// been sent), and since when it has had none: what the idle timeout looks at.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<(usize, Instant)>,
}

/// One request in progress; dropped when its response body is done.
#[derive(Debug)]
pub(crate) struct Busy(Arc<Activity>);

impl Activity {
    pub(crate) fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new((0, Instant::now())),
        })
    }

    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
        Busy(self.clone())
    }

    /// `None` while a request is in progress, else when the last one ended.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        let (busy, since) = *self.state.lock().unwrap_or_else(|e| e.into_inner());
        (busy == 0).then_some(since)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 -= 1;
        s.1 = Instant::now();
    }
}

/// How long a closing connection keeps reading (and discarding) what the client still sends
/// after the server's last response. Closing a socket with unread input makes the kernel send
/// a reset, which can destroy the response before the client has read it — the usual fate of
/// an early 401 or 413 sent while a client is still uploading.
pub(crate) const LINGER: Duration = Duration::from_secs(5);

/// The I/O of one connection as HTTP sees it: first the bytes read while sniffing the
/// protocol, then the stream itself. Shutting it down sends our end-of-stream, then reads and
/// discards the client's remaining input until it closes too or [`LINGER`] passes.
pub(crate) struct ServerIo<IO> {
    sniffed: Vec<u8>,
    replayed: usize,
    inner: IO,
    closing: Closing,
}

enum Closing {
    Open,
    Draining(Pin<Box<tokio::time::Sleep>>),
    Closed,
}

impl<IO> ServerIo<IO> {
    pub(crate) fn new(sniffed: Vec<u8>, inner: IO) -> ServerIo<IO> {
        ServerIo {
            sniffed,
            replayed: 0,
            inner,
            closing: Closing::Open,
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ServerIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replayed < this.sniffed.len() {
            let rest = &this.sniffed[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ServerIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.closing {
                Closing::Open => {
                    let r = std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
                    if r.is_err() {
                        this.closing = Closing::Closed;
                        return Poll::Ready(r);
                    }
                    this.closing = Closing::Draining(Box::pin(tokio::time::sleep(LINGER)));
                }
                Closing::Draining(deadline) => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.closing = Closing::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 8192];
                    // Bounded so one fast uploader cannot hold this task's thread.
                    for _ in 0..64 {
                        let mut buf = ReadBuf::new(&mut scratch);
                        match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                            Poll::Ready(Ok(())) if !buf.filled().is_empty() => {}
                            Poll::Ready(_) => {
                                this.closing = Closing::Closed;
                                break;
                            }
                            Poll::Pending => return Poll::Pending,
                        }
                    }
                    if let Closing::Draining(_) = this.closing {
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                }
                Closing::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}
