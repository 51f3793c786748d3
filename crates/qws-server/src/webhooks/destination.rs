//! Where a webhook may post: no server-side request forgery into other networks.
//!
//! By default only loopback: an IP literal in `127.0.0.0/8` or `::1`, or `localhost`. Any other
//! host must be named by the operator (`--webhook-allow-host`). The URL is checked when the
//! webhook is registered; at each delivery the host is resolved again and, unless the operator
//! allowed it, every address must be loopback. The request then goes to exactly those
//! addresses, and redirects are not followed.

use std::net::{IpAddr, SocketAddr};
use url::{Host, Url};

/// Longest webhook URL.
pub const MAX_URL_LEN: usize = 2048;

/// Why a URL is refused (a sentence for the client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// The operator's policy.
#[derive(Debug, Clone, Default)]
pub struct DestinationPolicy {
    /// Allowed host names or IP literals, lower case.
    allowed: Vec<String>,
}

impl DestinationPolicy {
    /// Loopback plus `allowed` hosts.
    pub fn new(allowed: &[String]) -> DestinationPolicy {
        DestinationPolicy {
            allowed: allowed
                .iter()
                .map(|h| {
                    h.trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                })
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }

    fn is_allowed_name(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
    }

    /// The URL, if a webhook may name it: `http` or `https`, no user name or password, and a
    /// loopback or allowed host.
    pub fn check_url(&self, raw: &str) -> Result<Url, Refused> {
        if raw.len() > MAX_URL_LEN {
            return Err(Refused(format!(
                "A webhook URL has at most {MAX_URL_LEN} characters."
            )));
        }
        let url = Url::parse(raw)
            .map_err(|_| Refused("The webhook URL is not a valid absolute URL.".into()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused("A webhook URL must be http or https.".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused(
                "A webhook URL must not carry a user name or password.".into(),
            ));
        }
        let host = url
            .host()
            .ok_or_else(|| Refused("The webhook URL has no host.".into()))?;
        let ok = match &host {
            Host::Ipv4(ip) => ip.is_loopback() || self.is_allowed_name(&ip.to_string()),
            Host::Ipv6(ip) => ip.is_loopback() || self.is_allowed_name(&ip.to_string()),
            Host::Domain(name) => {
                name.eq_ignore_ascii_case("localhost") || self.is_allowed_name(name)
            }
        };
        if !ok {
            return Err(Refused(format!(
                "The webhook host '{host}' is not allowed: only loopback addresses and hosts the server allows (--webhook-allow-host) may receive webhooks."
            )));
        }
        Ok(url)
    }

    /// The addresses to send to: the host resolved, each address checked (loopback unless the
    /// host is allowed; never an unspecified or multicast address).
    pub async fn resolve(&self, url: &Url) -> Result<Vec<SocketAddr>, Refused> {
        let host = url.host_str().ok_or_else(|| Refused("no host".into()))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Refused("no port".into()))?;
        let allowed = self.is_allowed_name(host);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|_| Refused(format!("cannot resolve '{bare}'")))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(Refused(format!("'{bare}' has no address")));
        }
        for a in &addrs {
            let ip = a.ip();
            if ip.is_unspecified() || ip.is_multicast() || (!allowed && !ip.is_loopback()) {
                return Err(Refused(format!(
                    "'{bare}' resolves to {ip}, which is not a loopback address"
                )));
            }
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_allowed_hosts_only() {
        let p = DestinationPolicy::new(&["hooks.example.test".into(), "10.0.0.7".into()]);
        for ok in [
            "http://127.0.0.1:9000/hook",
            "http://127.8.9.10/x",
            "http://[::1]:8080/",
            "https://localhost/x",
            "https://HOOKS.example.test/in",
            "http://10.0.0.7:81/",
        ] {
            assert!(p.check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.8/",
            "http://example.com/",
            "http://hooks.example.test.evil/",
            "ftp://127.0.0.1/",
            "http://user:pw@127.0.0.1/",
            "/relative",
            "http://0.0.0.0/",
        ] {
            assert!(p.check_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn resolved_addresses_must_be_loopback() {
        let p = DestinationPolicy::new(&[]);
        let url = p.check_url("http://localhost:9/x").unwrap();
        let addrs = p.resolve(&url).await.unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 9));
        let url = p.check_url("http://127.0.0.1:9/x").unwrap();
        assert_eq!(p.resolve(&url).await.unwrap().len(), 1);
    }
}
