//! Listener exhaustion: silent and half-open connections (no bytes, part of the HTTP/2
//! preface, a finished TLS handshake then silence, half a `CONNECT` head) must not stop any
//! listener (HTTP, HTTPS, the `--azure-compat` proxy) from answering others; they are closed
//! after the configured timeouts; a listener and a client address hold at most the configured
//! number of connections; and an early answer that leaves the request body unread says
//! `Connection: close` and lets the client finish sending before the connection closes.

use crate::common::TestServer;
use qws_server::config::ConnectionLimits;
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
type Conn = Box<dyn Stream>;

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const PROXIED_HOST: &str = "management.azure.com";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Listener {
    Http,
    Https,
    Proxy,
}

const ALL: [Listener; 3] = [Listener::Http, Listener::Https, Listener::Proxy];

/// What an idle connection does before going silent.
#[derive(Debug, Clone, Copy)]
enum Idle {
    /// Connects and sends nothing.
    Silent,
    /// Sends the first 16 bytes of the 24-byte HTTP/2 preface (after TLS/CONNECT where the
    /// listener needs them).
    PartialPreface,
    /// Completes the TLS handshake (proxy: `CONNECT`, then the tunnelled handshake).
    TlsThenSilent,
    /// Proxy only: half a `CONNECT` head.
    HalfConnect,
}

struct Target {
    http: SocketAddr,
    https: SocketAddr,
    proxy: SocketAddr,
    tls: tokio_rustls::TlsConnector,
}

impl Target {
    fn of(s: &TestServer) -> Target {
        let srv = s.srv();
        let pem = std::fs::read(&srv.ca_file).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Target {
            http: srv.http_addr,
            https: srv.https_addr,
            proxy: srv.proxy_addr.expect("started with azure_compat"),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        }
    }

    fn addr(&self, l: Listener) -> SocketAddr {
        match l {
            Listener::Http => self.http,
            Listener::Https => self.https,
            Listener::Proxy => self.proxy,
        }
    }

    /// A TCP connection from `from` (any 127.x address works on Linux loopback).
    async fn tcp(&self, l: Listener, from: IpAddr) -> std::io::Result<TcpStream> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        socket.connect(self.addr(l)).await
    }

    /// Connects and gets as far as a plain HTTP exchange could start: TLS on HTTPS;
    /// `CONNECT` and the tunnelled TLS on the proxy. Fails if the server closes first.
    async fn ready(&self, l: Listener, from: IpAddr) -> std::io::Result<Conn> {
        let mut tcp = self.tcp(l, from).await?;
        match l {
            Listener::Http => Ok(Box::new(tcp)),
            Listener::Https => {
                let name = ServerName::IpAddress(self.https.ip().into());
                Ok(Box::new(self.tls.connect(name, tcp).await?))
            }
            Listener::Proxy => {
                let head = format!(
                    "CONNECT {PROXIED_HOST}:443 HTTP/1.1\r\nHost: {PROXIED_HOST}:443\r\n\r\n"
                );
                tcp.write_all(head.as_bytes()).await?;
                let answer = read_head(&mut tcp).await?;
                if !answer.starts_with("HTTP/1.1 200") {
                    return Err(std::io::Error::other(format!(
                        "CONNECT answered {answer:?}"
                    )));
                }
                let name = ServerName::try_from(PROXIED_HOST).unwrap();
                Ok(Box::new(self.tls.connect(name, tcp).await?))
            }
        }
    }

    async fn idle(&self, l: Listener, kind: Idle, from: IpAddr) -> Conn {
        match kind {
            Idle::Silent => Box::new(self.tcp(l, from).await.unwrap()),
            Idle::HalfConnect => {
                let mut tcp = self.tcp(l, from).await.unwrap();
                tcp.write_all(b"CONNECT management.azure.com:443 HTTP/1.1\r\n")
                    .await
                    .unwrap();
                Box::new(tcp)
            }
            Idle::TlsThenSilent => self.ready(l, from).await.unwrap(),
            Idle::PartialPreface => {
                let mut c = self.ready(l, from).await.unwrap();
                c.write_all(&H2_PREFACE[..16]).await.unwrap();
                c.flush().await.unwrap();
                c
            }
        }
    }

    /// One `GET /metadata/endpoints` from `from` on a fresh connection: its status, or why
    /// there was none.
    async fn get(&self, l: Listener, from: IpAddr) -> Result<u16, String> {
        let mut c = self.ready(l, from).await.map_err(|e| e.to_string())?;
        let req =
            "GET /metadata/endpoints HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        c.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        c.flush().await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out).await;
        let text = String::from_utf8_lossy(&out);
        text.strip_prefix("HTTP/1.1 ")
            .and_then(|t| t.get(..3))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no HTTP response: {text:?}"))
    }
}

async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Reads (discarding whatever the server sends, e.g. a GOAWAY) until the server closes the
/// connection; false if it is still open after `limit`.
async fn closed_within(c: &mut Conn, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(limit, async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Loopback addresses other than 127.0.0.1 for the idle connections, so the well-behaved
/// client (127.0.0.1) is not held back by the per-address cap.
fn crowd_ip(i: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 2 + (i % 4) as u8])
}

async fn start(limits: ConnectionLimits) -> TestServer {
    TestServer::start_with(|c| {
        c.listeners.azure_compat = true;
        c.connections = limits;
    })
    .await
}

/// Soft limit on open files; the probe test needs about 6,000 descriptors (both ends of
/// every connection live in this process).
fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The outside probe, at its own scale and with the default limits: 1,100 idle connections
/// on each of HTTP and HTTPS and 300 on the proxy (the old accept loops stopped at 1,024 and
/// 256 held connections, and nothing closed a silent plain-HTTP connection) must not keep a
/// well-behaved client waiting on any listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_do_not_stop_any_listener() {
    if open_file_limit() < 8192 {
        eprintln!("skipped: needs an open-file limit of 8192 (ulimit -n)");
        return;
    }
    let s = start(ConnectionLimits::default()).await;
    let t = Target::of(&s);
    let mut held = Vec::new();
    let plan: [(Listener, &[(Idle, usize)]); 3] = [
        (
            Listener::Http,
            &[(Idle::Silent, 1000), (Idle::PartialPreface, 100)],
        ),
        (
            Listener::Https,
            &[
                (Idle::Silent, 1050),
                (Idle::TlsThenSilent, 30),
                (Idle::PartialPreface, 20),
            ],
        ),
        (
            Listener::Proxy,
            &[
                (Idle::Silent, 250),
                (Idle::HalfConnect, 30),
                (Idle::TlsThenSilent, 10),
                (Idle::PartialPreface, 10),
            ],
        ),
    ];
    for (l, kinds) in plan {
        for &(kind, n) in kinds {
            for i in 0..n {
                held.push(t.idle(l, kind, crowd_ip(i)).await);
            }
        }
    }
    for l in ALL {
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(5), t.get(l, ip("127.0.0.1"))).await;
        assert_eq!(
            r,
            Ok(Ok(200)),
            "{l:?} with {} idle connections open",
            held.len()
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
    drop(held);
    s.stop().await;
}

fn short_limits() -> ConnectionLimits {
    ConnectionLimits {
        max_connections: 50,
        max_connections_per_ip: 50,
        handshake_timeout: Duration::from_secs(1),
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
    }
}

/// Every kind of silent connection is closed by the server once its timeout passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_after_the_timeouts() {
    let s = start(short_limits()).await;
    let t = Target::of(&s);
    let me = ip("127.0.0.1");
    let mut cases: Vec<(String, Conn)> = Vec::new();
    for l in ALL {
        cases.push((format!("{l:?} silent"), t.idle(l, Idle::Silent, me).await));
        cases.push((
            format!("{l:?} partial preface"),
            t.idle(l, Idle::PartialPreface, me).await,
        ));
        if l != Listener::Http {
            cases.push((
                format!("{l:?} TLS then silent"),
                t.idle(l, Idle::TlsThenSilent, me).await,
            ));
        }
        // Half a request head (header read timeout).
        let mut c = t.ready(l, me).await.unwrap();
        c.write_all(b"GET /metadata/endpoints HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        c.flush().await.unwrap();
        cases.push((format!("{l:?} half a request head"), c));
        // A keep-alive connection after one answered request (idle timeout).
        let mut c = t.ready(l, me).await.unwrap();
        c.write_all(b"GET /metadata/endpoints HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        c.flush().await.unwrap();
        let head = read_head(&mut c).await.unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(!head.to_ascii_lowercase().contains("connection: close"));
        cases.push((format!("{l:?} idle HTTP/1 keep-alive"), c));
    }
    cases.push((
        "Proxy half CONNECT head".into(),
        t.idle(Listener::Proxy, Idle::HalfConnect, me).await,
    ));
    // An HTTP/2 connection that never opens a stream (idle timeout, then GOAWAY).
    let mut c = t.ready(Listener::Http, me).await.unwrap();
    c.write_all(H2_PREFACE).await.unwrap();
    c.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap(); // empty SETTINGS
    cases.push(("Http idle HTTP/2".into(), c));

    let started = Instant::now();
    let checks = cases.into_iter().map(|(name, mut c)| async move {
        (name, closed_within(&mut c, Duration::from_secs(8)).await)
    });
    let results = futures_join_all(checks).await;
    let open: Vec<_> = results.iter().filter(|(_, closed)| !closed).collect();
    assert!(open.is_empty(), "still open after 8 s: {open:?}");
    assert!(started.elapsed() < Duration::from_secs(8));
    s.stop().await;
}

/// Awaits all futures concurrently (the test crate has no futures dependency).
async fn futures_join_all<F: std::future::Future + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// At the listener cap, further connections are closed at once (no answer, no waiting in the
/// accept queue); once the silent ones time out, the listener serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_listener_refuses_new_connections_until_idle_ones_time_out() {
    let mut limits = short_limits();
    limits.handshake_timeout = Duration::from_secs(2);
    let s = start(limits).await;
    let t = Target::of(&s);
    for l in ALL {
        let mut held = Vec::new();
        for i in 0..limits.max_connections {
            held.push(t.idle(l, Idle::Silent, crowd_ip(i)).await);
        }
        let refused = t.get(l, ip("127.0.0.1")).await;
        assert!(
            refused.is_err(),
            "{l:?} beyond its cap answered {refused:?}"
        );
        // The server closes the silent ones after the handshake timeout; then it serves.
        for c in &mut held {
            assert!(closed_within(c, Duration::from_secs(8)).await, "{l:?}");
        }
        assert_eq!(t.get(l, ip("127.0.0.1")).await, Ok(200), "{l:?}");
    }
    s.stop().await;
}

/// One address at its cap is refused further connections; another address is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_address_cap_leaves_room_for_other_addresses() {
    let mut limits = short_limits();
    limits.max_connections_per_ip = 10;
    limits.handshake_timeout = Duration::from_secs(30);
    let s = start(limits).await;
    let t = Target::of(&s);
    let greedy = ip("127.0.0.3");
    for l in ALL {
        let mut held = Vec::new();
        for _ in 0..limits.max_connections_per_ip {
            held.push(t.idle(l, Idle::Silent, greedy).await);
        }
        let refused = t.get(l, greedy).await;
        assert!(
            refused.is_err(),
            "{l:?}: an 11th connection from one address answered {refused:?}"
        );
        assert_eq!(t.get(l, ip("127.0.0.2")).await, Ok(200), "{l:?}");
        // Closing one of the greedy connections frees a place for that address again.
        drop(held.pop());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match t.get(l, greedy).await {
                Ok(200) => break,
                other if Instant::now() > deadline => panic!("{l:?}: {other:?}"),
                _ => tokio::task::yield_now().await,
            }
        }
    }
    s.stop().await;
}

/// A request answered (401, 413) before its body was read: the response says
/// `Connection: close`, arrives complete, and the client can finish sending its body first
/// (the server reads and discards it) instead of hitting a reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_answers_close_the_connection_cleanly() {
    let s = start(ConnectionLimits::default()).await;
    let t = Target::of(&s);
    let cs = s.b("primaryConnectionString");
    let key = cs
        .split(';')
        .find_map(|p| p.strip_prefix("ApiKey="))
        .unwrap()
        .to_string();
    let job = format!(
        "/subscriptions/{}/resourceGroups/qws/providers/Microsoft.Quantum/workspaces/dev/jobs/{}?api-version=2026-01-15-preview",
        s.sub(),
        uuid::Uuid::new_v4()
    );
    let cases = [
        ("wrong key", "not-the-key".to_string(), 8 << 20, 401),
        ("body over the limit", key, 3 << 20, 413),
    ];
    for l in ALL {
        for (what, key, len, status) in &cases {
            let mut c = t.ready(l, ip("127.0.0.1")).await.unwrap();
            let head = format!(
                "PUT {job} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nx-ms-quantum-api-key: {key}\r\nContent-Length: {len}\r\n\r\n"
            );
            c.write_all(head.as_bytes()).await.unwrap();
            // Like Python's http.client: send the whole body, then read the answer.
            let body = vec![b' '; *len];
            if let Err(e) = c.write_all(&body).await {
                panic!("{l:?} {what}: sending the body failed: {e}");
            }
            c.flush().await.unwrap();
            let mut out = Vec::new();
            if let Err(e) = c.read_to_end(&mut out).await {
                if out.is_empty() {
                    panic!("{l:?} {what}: reading the answer failed: {e}");
                }
            }
            let text = String::from_utf8_lossy(&out);
            let (head, rest) = text
                .split_once("\r\n\r\n")
                .unwrap_or_else(|| panic!("{l:?} {what}: incomplete answer {text:?}"));
            let lower = head.to_ascii_lowercase();
            assert!(
                head.starts_with(&format!("HTTP/1.1 {status}")),
                "{l:?} {what}: {head}"
            );
            assert!(
                lower.contains("\r\nconnection: close"),
                "{l:?} {what}: {head}"
            );
            let declared: usize = lower
                .lines()
                .find_map(|h| h.strip_prefix("content-length: "))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("{l:?} {what}: no content-length: {head}"));
            assert_eq!(rest.len(), declared, "{l:?} {what}: truncated body");
            let v: serde_json::Value = serde_json::from_str(rest).unwrap();
            assert!(v["error"]["code"].is_string(), "{l:?} {what}: {v}");
        }
    }
    s.stop().await;
}

/// HTTP/2 still works after the server's own protocol detection: prior knowledge on HTTP,
/// ALPN on HTTPS and through the proxy tunnel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_is_served_on_every_listener() {
    let s = start(ConnectionLimits::default()).await;
    let mut t = Target::of(&s);
    let pem = std::fs::read(&s.srv().ca_file).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    t.tls = tokio_rustls::TlsConnector::from(Arc::new(config));
    for l in ALL {
        let io = hyper_util::rt::TokioIo::new(t.ready(l, ip("127.0.0.1")).await.unwrap());
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                .await
                .unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::get("https://127.0.0.1/metadata/endpoints")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200, "{l:?}");
        assert_eq!(resp.version(), hyper::Version::HTTP_2, "{l:?}");
    }
    s.stop().await;
}
