//! `qws serve --azure-compat`: an HTTPS proxy through which unmodified Azure clients reach qws.
//!
//! The Azure Quantum Python client only accepts connection strings whose `QuantumEndpoint` is
//! `https://<region>[-v2].quantum.azure.com/`, and its ARM lookups go to
//! `https://management.azure.com/`, and MSAL (`az login`, azure-identity) signs in at
//! `https://login.microsoftonline.com/`. With `HTTPS_PROXY` pointing here and `REQUESTS_CA_BUNDLE`
//! at the server's `ca.pem`, those clients send `CONNECT <host>:443`. This proxy accepts
//! `CONNECT` only for those Azure hosts, answers `200 Connection Established`, terminates TLS
//! itself with a certificate for the Azure names issued by the local CA
//! ([`crate::http::tls::proxy_cert`]), and serves the decrypted requests with the same accept
//! loop and router as the other listeners ([`crate::http::listener`]). It never opens a
//! connection anywhere: every other host, and every non-`CONNECT` request, is refused.

use crate::config::ConnectionLimits;
use crate::http::conn::ConnInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// Largest `CONNECT` request head.
const MAX_HEAD_BYTES: usize = 8 * 1024;

/// The Entra sign-in host, served by qws's own token service through the proxy.
pub const LOGIN_HOST: &str = "login.microsoftonline.com";

/// Whether the proxy serves `host` (the `CONNECT` authority without port):
/// `<region>.quantum.azure.com`, `<region>-v2.quantum.azure.com` (region = letters and digits),
/// `management.azure.com` and `login.microsoftonline.com`, case-insensitively.
pub fn allowed_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if host == "management.azure.com" || host == LOGIN_HOST {
        return true;
    }
    let Some(label) = host.strip_suffix(".quantum.azure.com") else {
        return false;
    };
    let region = label.strip_suffix("-v2").unwrap_or(label);
    !region.is_empty() && region.len() <= 63 && region.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Why a `CONNECT` head was refused: the status line to answer and a reason for the log.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `HTTP/1.1` status code.
    pub status: u16,
    /// Explanation sent in the body.
    pub reason: String,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

/// Parses a proxy request head and returns the host to serve, or why it is refused.
pub fn check_connect(head: &str) -> Result<String, Refusal> {
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return Err(refuse(400, "malformed request line"));
    };
    if parts.next().is_some() || !version.starts_with("HTTP/1.") {
        return Err(refuse(400, "malformed request line"));
    }
    if method != "CONNECT" {
        return Err(refuse(
            405,
            "this proxy only tunnels CONNECT to the Azure Quantum, ARM and sign-in hosts it serves",
        ));
    }
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| refuse(400, "CONNECT target must be host:port"))?;
    if port != "443" {
        return Err(refuse(403, format!("port {port} is not served; only 443")));
    }
    if !allowed_host(host) {
        return Err(refuse(
            403,
            format!(
                "host '{}' is not served by qws; only <region>.quantum.azure.com, <region>-v2.quantum.azure.com, management.azure.com and login.microsoftonline.com",
                host.chars().take(100).collect::<String>()
            ),
        ));
    }
    Ok(host.to_ascii_lowercase())
}

/// The request line's target (`host:port` for `CONNECT`) as the log may show it: printable
/// ASCII only, at most 100 characters.
pub fn requested_target(head: &str) -> String {
    let target = head
        .lines()
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("");
    target
        .chars()
        .take(100)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}

/// Reads the request head byte by byte (so no TLS bytes that follow it are consumed), bounded.
async fn read_head(tcp: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD_BYTES {
            return Ok(None);
        }
        if tcp.read(&mut byte).await? == 0 {
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8(head).ok())
}

/// Reads and checks the `CONNECT` head, answers it, and terminates the tunnelled TLS; `None`
/// when the request was refused or the client too slow. The proxy listener runs this for each
/// connection it admits ([`crate::http::listener::Front::ConnectProxy`]), under the same caps
/// and timeouts as the other listeners: the head and the handshake each get
/// `handshake_timeout`.
pub(crate) async fn open_tunnel(
    mut tcp: TcpStream,
    remote: std::net::SocketAddr,
    acceptor: TlsAcceptor,
    limits: ConnectionLimits,
) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, ConnInfo)> {
    let head = match tokio::time::timeout(limits.handshake_timeout, read_head(&mut tcp)).await {
        Ok(Ok(Some(head))) => head,
        _ => {
            let _ = answer(
                &mut tcp,
                &refuse(400, "bad, oversized or late request head"),
            )
            .await;
            return None;
        }
    };
    let host = match check_connect(&head) {
        Ok(host) => host,
        Err(refusal) => {
            tracing::info!(
                client = %remote.ip(),
                target = %requested_target(&head),
                status = refusal.status,
                reason = %refusal.reason,
                "proxy refused a request"
            );
            let _ = answer(&mut tcp, &refusal).await;
            return None;
        }
    };
    tcp.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .ok()?;
    let local = tcp
        .local_addr()
        .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
    let stream = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, client = %remote.ip(), %host, "proxied TLS handshake failed (is REQUESTS_CA_BUNDLE the qws ca.pem?)");
            return None;
        }
        Err(_) => {
            tracing::debug!(client = %remote.ip(), %host, "proxied TLS handshake timed out");
            return None;
        }
    };
    let info = ConnInfo {
        remote,
        local,
        tls: true,
    };
    Some((stream, info))
}

async fn answer(tcp: &mut TcpStream, refusal: &Refusal) -> std::io::Result<()> {
    let reason = match refusal.status {
        403 => "Forbidden",
        405 => "Method Not Allowed",
        _ => "Bad Request",
    };
    let body = format!("{}\n", refusal.reason);
    let text = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        refusal.status,
        body.len()
    );
    tcp.write_all(text.as_bytes()).await?;
    tcp.shutdown().await
}

/// Adds `"proxyUrl"` (the value for `HTTPS_PROXY`) to `DATA_DIR/bootstrap.json`, rewriting it
/// atomically with mode 0600 like the server does.
pub fn add_proxy_url_to_bootstrap(dir: &std::path::Path, proxy_url: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let path = dir.join(crate::bootstrap::BOOTSTRAP_FILE);
    let raw = zeroize::Zeroizing::new(std::fs::read(&path).context("reading bootstrap.json")?);
    let mut doc: serde_json::Value =
        serde_json::from_slice(&raw).context("bootstrap.json is not JSON")?;
    doc["proxyUrl"] = proxy_url.into();
    let mut text = zeroize::Zeroizing::new(serde_json::to_vec_pretty(&doc)?);
    text.push(b'\n');
    qws_store::crypto::write_private_atomic(&path, &text).context("writing bootstrap.json")?;
    Ok(())
}

/// `PublicUrls::quantum_endpoint` in `--azure-compat` mode: connection strings then name each
/// workspace's canonical Azure endpoint, `https://{location}.quantum.azure.com/`.
pub const CANONICAL_ENDPOINT_TEMPLATE: &str = "https://{location}.quantum.azure.com/";

impl crate::state::PublicUrls {
    /// The `QuantumEndpoint` for connection strings of a workspace in `location`.
    pub fn quantum_endpoint_for(&self, location: &str) -> String {
        if self.quantum_endpoint == CANONICAL_ENDPOINT_TEMPLATE {
            canonical_quantum_endpoint(location)
        } else {
            self.quantum_endpoint.clone()
        }
    }
}

/// The canonical Azure data-plane endpoint of a workspace in `location`.
pub fn canonical_quantum_endpoint(location: &str) -> String {
    let region: String = location
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    format!("https://{region}.quantum.azure.com/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_azure_quantum_and_arm_hosts_are_served() {
        for ok in [
            "eastus.quantum.azure.com",
            "WestUS2-v2.quantum.azure.com",
            "management.azure.com",
            "Login.MicrosoftOnline.com",
        ] {
            assert!(allowed_host(ok), "{ok}");
        }
        for bad in [
            "quantum.azure.com",
            ".quantum.azure.com",
            "a.b.quantum.azure.com",
            "eastus.quantum.azure.com.evil.com",
            "login.microsoftonline.com.evil.com",
            "login.windows.net",
            "graph.microsoft.com",
            "example.com",
            "127.0.0.1",
            "east_us.quantum.azure.com",
        ] {
            assert!(!allowed_host(bad), "{bad}");
        }
    }

    #[test]
    fn connect_heads_are_checked() {
        assert_eq!(
            check_connect("CONNECT eastus.quantum.azure.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok("eastus.quantum.azure.com".into())
        );
        assert_eq!(
            check_connect("CONNECT example.com:443 HTTP/1.1\r\n\r\n")
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            check_connect("CONNECT management.azure.com:80 HTTP/1.1\r\n\r\n")
                .unwrap_err()
                .status,
            403
        );
        assert_eq!(
            check_connect("GET http://example.com/ HTTP/1.1\r\n\r\n")
                .unwrap_err()
                .status,
            405
        );
        assert_eq!(check_connect("garbage\r\n\r\n").unwrap_err().status, 400);
    }

    #[test]
    fn refused_targets_are_named_safely_in_the_log() {
        assert_eq!(
            requested_target("CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
            "example.com:443"
        );
        assert_eq!(requested_target("CONNECT a\u{7}b:1 HTTP/1.1\r\n"), "a?b:1");
        assert_eq!(requested_target("garbage"), "");
        assert_eq!(
            requested_target(&format!("CONNECT {} HTTP/1.1", "x".repeat(500))).len(),
            100
        );
    }

    #[test]
    fn canonical_endpoints_use_the_region() {
        assert_eq!(
            canonical_quantum_endpoint("EastUS"),
            "https://eastus.quantum.azure.com/"
        );
    }
}
