//! The HTTP transport under every [`Pipeline`](crate::pipeline::Pipeline): TLS trust, timeouts,
//! bounded body reads, and the URL checks that decide where credentials may go.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::retry::RetryOptions;

/// Largest response body a client reads; anything bigger is an error rather than unbounded memory.
pub(crate) const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// Transport options common to every client in this crate.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// A PEM file with extra root certificates to trust, e.g. a qws server's `ca.pem`. The
    /// built-in web roots stay trusted as well.
    pub ca_file: Option<PathBuf>,
    /// Extra root certificates as PEM bytes (same effect as [`ca_file`](Self::ca_file)).
    pub ca_pem: Option<Vec<u8>>,
    /// Timeout for each HTTP request (default 60 s).
    pub timeout: Option<Duration>,
    /// Overrides the `User-Agent` header (default `qws-client/<version>`).
    pub user_agent: Option<String>,
    /// How failed requests are retried (default: up to 3 retries, see [`crate::retry`]).
    pub retry: RetryOptions,
}

impl ClientOptions {
    /// Options that trust the certificates in `ca_file` in addition to the built-in roots.
    pub fn with_ca_file(ca_file: impl Into<PathBuf>) -> Self {
        ClientOptions {
            ca_file: Some(ca_file.into()),
            ..ClientOptions::default()
        }
    }

    /// Builds the underlying HTTP client. Redirects are not followed: a redirect would re-send
    /// the `Authorization` header to a URL the caller did not choose.
    pub(crate) fn build_http_client(&self) -> Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(self.timeout.unwrap_or(Duration::from_secs(60)))
            .user_agent(
                self.user_agent
                    .clone()
                    .unwrap_or_else(|| format!("qws-client/{}", env!("CARGO_PKG_VERSION"))),
            );
        let mut pems = Vec::new();
        if let Some(path) = &self.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::new(
                    ErrorKind::Other,
                    format!("cannot read CA file {}: {e}", path.display()),
                )
            })?;
            pems.push((path.display().to_string(), pem));
        }
        if let Some(pem) = &self.ca_pem {
            pems.push(("ca_pem".to_owned(), pem.clone()));
        }
        for (origin, pem) in pems {
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::new(ErrorKind::Other, format!("invalid CA PEM in {origin}: {e}"))
            })?;
            if certs.is_empty() {
                return Err(Error::new(
                    ErrorKind::Other,
                    format!("no certificate found in {origin}"),
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder
            .build()
            .map_err(|e| Error::new(ErrorKind::Other, format!("cannot build HTTP client: {e}")))
    }
}

/// Reads a response body, refusing more than [`MAX_RESPONSE_BYTES`].
pub(crate) async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(Error::new(
                ErrorKind::DataConversion,
                format!("response body exceeds {MAX_RESPONSE_BYTES} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether `url` may carry a secret (token, client secret): https, or http to a loopback host.
pub(crate) fn is_safe_for_secrets(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// Whether two URLs share scheme, host and port (so a bearer token may follow from one to the other).
pub(crate) fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Parses a URL given by the caller, with a clear error.
pub(crate) fn parse_url(what: &str, s: &str) -> Result<url::Url> {
    let url = url::Url::parse(s)
        .map_err(|e| Error::new(ErrorKind::Other, format!("invalid {what} URL '{s}': {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(Error::new(
            ErrorKind::Other,
            format!("invalid {what} URL '{s}': scheme must be https or http"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_only_over_https_or_loopback() {
        let ok = [
            "https://example.com/x",
            "http://127.0.0.1:80/",
            "http://localhost:1/",
            "http://[::1]:9/",
        ];
        for u in ok {
            assert!(is_safe_for_secrets(&url::Url::parse(u).unwrap()), "{u}");
        }
        for u in [
            "http://example.com/",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
        ] {
            assert!(!is_safe_for_secrets(&url::Url::parse(u).unwrap()), "{u}");
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let p = |s| url::Url::parse(s).unwrap();
        assert!(same_origin(&p("https://H:443/a"), &p("https://h/b?c")));
        assert!(!same_origin(&p("https://h:8443/"), &p("https://h/")));
        assert!(!same_origin(&p("http://h/"), &p("https://h/")));
        assert!(!same_origin(&p("https://h/"), &p("https://evil/")));
    }

    #[test]
    fn unreadable_or_empty_ca_files_are_reported() {
        let missing = ClientOptions::with_ca_file("/nonexistent/ca.pem");
        let e = missing.build_http_client().unwrap_err();
        assert!(e.message().contains("cannot read CA file"), "{e}");
        let empty = ClientOptions {
            ca_pem: Some(b"not a pem".to_vec()),
            ..ClientOptions::default()
        };
        assert!(empty.build_http_client().is_err());
    }
}
