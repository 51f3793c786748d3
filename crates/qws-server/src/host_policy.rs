//! Which `Host` a link handed to a client may name.
//!
//! Links the client must follow (ARM `nextLink` and operation URLs, the OIDC issuer and token
//! endpoint, data-plane `nextLink`) are built on the authority the client used, because token
//! clients compare the issuer and endpoints with the authority they were configured with. But
//! `Host` is client-supplied: reflected blindly, anyone who can make a client send a forged
//! `Host` (a proxy, a DNS rebinding page) could point its next request elsewhere. So a `Host` is
//! used only when it is one this server answers to:
//!
//! * a loopback name (`localhost`, `127.0.0.1`, `127.1`, `[::1]`) or the listener's own address,
//!   with the listener's port;
//! * the host and port of `--public-url` (then the public URL itself is the base);
//! * an `--allowed-host NAME[:PORT]` entry;
//! * with `--azure-compat`, the Azure hosts the proxy serves, on port 443 over TLS.
//!
//! Anything else gets the canonical base: `--public-url` when set, else the listener's own URL.

use crate::http::conn::ConnInfo;
use anyhow::{bail, Context};
use axum::http::uri::Authority;

/// Loopback spellings accepted with the listener's port.
const LOOPBACK_NAMES: &[&str] = &["localhost", "127.0.0.1", "127.1", "[::1]"];

/// A parsed `host[:port]`: host lowercased (IPv6 in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPort {
    host: String,
    port: Option<u16>,
}

impl HostPort {
    /// Parses a `Host` value (or an `--allowed-host` entry): a bare authority, no user info.
    fn parse(s: &str) -> Option<HostPort> {
        let plausible = !s.is_empty()
            && s.len() <= 255
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !plausible {
            return None;
        }
        let a: Authority = s.parse().ok()?;
        if a.host().is_empty() {
            return None;
        }
        Some(HostPort {
            host: a.host().to_ascii_lowercase(),
            port: a.port_u16(),
        })
    }

    fn effective_port(&self, tls: bool) -> u16 {
        self.port.unwrap_or(if tls { 443 } else { 80 })
    }
}

/// The `Host` allow-list and the canonical bases, fixed at start.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    /// `--public-url` without its trailing slash, with its host and effective port.
    public: Option<(String, HostPort)>,
    /// `--allowed-host` entries; no port means any port.
    allowed: Vec<HostPort>,
    azure_compat: bool,
    http_base: String,
    https_base: String,
}

impl HostPolicy {
    /// `public_url`: the normalized `--public-url`; `http_base`/`https_base`: the listener URLs.
    pub fn new(
        public_url: Option<&str>,
        allowed_hosts: &[String],
        azure_compat: bool,
        http_base: &str,
        https_base: &str,
    ) -> anyhow::Result<HostPolicy> {
        let public = match public_url {
            Some(u) => {
                let parsed = url::Url::parse(u).context("--public-url")?;
                let host = match parsed.host() {
                    Some(url::Host::Ipv6(a)) => format!("[{a}]"),
                    Some(h) => h.to_string().to_ascii_lowercase(),
                    None => bail!("--public-url has no host"),
                };
                let port = parsed.port_or_known_default();
                Some((u.trim_end_matches('/').to_string(), HostPort { host, port }))
            }
            None => None,
        };
        let allowed = allowed_hosts
            .iter()
            .map(|h| {
                HostPort::parse(h).with_context(|| {
                    format!("--allowed-host '{h}' must be a host name or address, optionally with :PORT")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(HostPolicy {
            public,
            allowed,
            azure_compat,
            http_base: http_base.to_string(),
            https_base: https_base.to_string(),
        })
    }

    /// The base URL (`scheme://authority[/path]`, no trailing slash) for links in the answer to a
    /// request that named `host` and arrived over `conn`.
    pub fn base_url(&self, host: Option<&str>, conn: &ConnInfo) -> String {
        let scheme = if conn.tls { "https" } else { "http" };
        if let Some(h) = host.and_then(HostPort::parse) {
            let port = h.effective_port(conn.tls);
            if let Some((base, public)) = &self.public {
                if public.host == h.host && public.port == Some(port) {
                    return base.clone();
                }
            }
            let own_address = match conn.local.ip() {
                std::net::IpAddr::V6(a) => format!("[{a}]"),
                a => a.to_string(),
            };
            let loopback = (LOOPBACK_NAMES.contains(&h.host.as_str()) || h.host == own_address)
                && port == conn.local.port();
            let listed = self
                .allowed
                .iter()
                .any(|a| a.host == h.host && a.port.is_none_or(|p| p == port));
            let proxied = self.azure_compat
                && conn.tls
                && port == 443
                && crate::http::proxy::allowed_host(&h.host);
            if loopback || listed || proxied {
                return match h.port {
                    Some(p) => format!("{scheme}://{}:{p}", h.host),
                    None => format!("{scheme}://{}", h.host),
                };
            }
        }
        self.canonical(conn)
    }

    /// The configured base: `--public-url`, else this listener's URL.
    pub fn canonical(&self, conn: &ConnInfo) -> String {
        match &self.public {
            Some((base, _)) => base.clone(),
            None if conn.tls => self.https_base.clone(),
            None => self.http_base.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(local: &str, tls: bool) -> ConnInfo {
        ConnInfo {
            remote: "127.0.0.1:40000".parse().unwrap(),
            local: local.parse().unwrap(),
            tls,
        }
    }

    fn policy(public: Option<&str>, allowed: &[&str], azure: bool) -> HostPolicy {
        let allowed: Vec<String> = allowed.iter().map(|s| s.to_string()).collect();
        HostPolicy::new(
            public,
            &allowed,
            azure,
            "http://127.0.0.1:8080",
            "https://127.0.0.1:8443",
        )
        .unwrap()
    }

    #[test]
    fn loopback_names_with_the_listener_port_are_reflected() {
        let p = policy(None, &[], false);
        let c = conn("127.0.0.1:8443", true);
        for h in [
            "127.0.0.1:8443",
            "localhost:8443",
            "LOCALHOST:8443",
            "127.1:8443",
            "[::1]:8443",
        ] {
            assert_eq!(
                p.base_url(Some(h), &c),
                format!("https://{}", h.to_ascii_lowercase())
            );
        }
        let v6 = conn("[::1]:8443", true);
        assert_eq!(p.base_url(Some("[::1]:8443"), &v6), "https://[::1]:8443");
    }

    #[test]
    fn anything_else_gets_the_listener_url() {
        let p = policy(None, &[], false);
        let c = conn("127.0.0.1:8443", true);
        for h in [
            "evil.example",
            "evil.example:8443",
            "127.0.0.1:9999",
            "localhost",
            "127.0.0.2:8443",
            "user@127.0.0.1:8443",
            "127.0.0.1:8443/x",
            "",
        ] {
            assert_eq!(p.base_url(Some(h), &c), "https://127.0.0.1:8443", "{h}");
        }
        assert_eq!(p.base_url(None, &c), "https://127.0.0.1:8443");
        let plain = conn("127.0.0.1:8080", false);
        assert_eq!(
            p.base_url(Some("evil.example"), &plain),
            "http://127.0.0.1:8080"
        );
    }

    #[test]
    fn the_public_url_is_canonical_and_its_host_maps_to_it() {
        let p = policy(Some("https://qws.example:9443/"), &[], false);
        let c = conn("127.0.0.1:8080", false);
        assert_eq!(
            p.base_url(Some("qws.example:9443"), &c),
            "https://qws.example:9443"
        );
        assert_eq!(
            p.base_url(Some("evil.example"), &c),
            "https://qws.example:9443"
        );
        // Loopback still works for local clients.
        assert_eq!(
            p.base_url(Some("127.0.0.1:8080"), &c),
            "http://127.0.0.1:8080"
        );
        let default_port = policy(Some("https://qws.example/"), &[], false);
        assert_eq!(
            default_port.base_url(Some("qws.example"), &c),
            "https://qws.example"
        );
    }

    #[test]
    fn allowed_hosts_match_with_or_without_a_port() {
        let p = policy(None, &["qws.lan", "box.lan:8443"], false);
        let c = conn("0.0.0.0:8443", true);
        assert_eq!(p.base_url(Some("QWS.lan:1234"), &c), "https://qws.lan:1234");
        assert_eq!(p.base_url(Some("box.lan:8443"), &c), "https://box.lan:8443");
        assert_eq!(
            p.base_url(Some("box.lan:8444"), &c),
            "https://127.0.0.1:8443"
        );
        assert!(HostPolicy::new(None, &["a b".into()], false, "", "").is_err());
        assert!(HostPolicy::new(None, &["u@h".into()], false, "", "").is_err());
    }

    #[test]
    fn azure_hosts_only_with_azure_compat_over_tls() {
        let c = conn("127.0.0.1:8081", true);
        let on = policy(None, &[], true);
        assert_eq!(
            on.base_url(Some("management.azure.com"), &c),
            "https://management.azure.com"
        );
        assert_eq!(
            on.base_url(Some("eastus.quantum.azure.com:443"), &c),
            "https://eastus.quantum.azure.com:443"
        );
        assert_eq!(
            on.base_url(Some("evil.azure.com"), &c),
            "https://127.0.0.1:8443"
        );
        let off = policy(None, &[], false);
        assert_eq!(
            off.base_url(Some("management.azure.com"), &c),
            "https://127.0.0.1:8443"
        );
    }
}
