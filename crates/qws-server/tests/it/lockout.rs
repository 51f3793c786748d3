//! Failed authentication must never lock out valid credentials. Wrong keys, tokens, secrets and
//! identity headers are hammered from five loopback addresses (127.0.0.1–127.0.0.5) far past the
//! limit; afterwards every wrong attempt is throttled (429 + Retry-After) while, from the very
//! same addresses, both access keys, a bearer token on ARM, the token endpoint with the right
//! secret and the managed-identity endpoint all still succeed.

use crate::common::dp::DV;
use crate::common::*;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::net::IpAddr;

const LIMIT: u32 = 3;

/// HTTP and HTTPS clients whose sockets are bound to one loopback address.
struct From {
    addr: IpAddr,
    http: Client,
    https: Client,
}

fn clients_from(t: &TestServer, addr: &str) -> From {
    let addr: IpAddr = addr.parse().unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&t.srv().ca_file).unwrap()).unwrap();
    From {
        addr,
        http: Client::builder().local_address(addr).build().unwrap(),
        https: Client::builder()
            .local_address(addr)
            .add_root_certificate(ca)
            .tls_built_in_root_certs(false)
            .use_rustls_tls()
            .build()
            .unwrap(),
    }
}

/// One attempt of each kind, with the right or a wrong credential.
struct Attempts<'a> {
    t: &'a TestServer,
    primary: String,
    secondary: String,
    token: String,
}

impl Attempts<'_> {
    async fn data_plane(&self, c: &From, key: &str) -> reqwest::Response {
        c.http
            .get(format!(
                "{}{}/providerStatus?api-version={DV}",
                self.t.http_url(),
                self.t.ws_path("qws", "dev")
            ))
            .header("x-ms-quantum-api-key", key)
            .send()
            .await
            .unwrap()
    }

    async fn arm(&self, c: &From, token: &str) -> reqwest::Response {
        c.https
            .get(format!(
                "{}{}?api-version={V}",
                self.t.https_url(),
                self.t.ws_path("qws", "dev")
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn token_endpoint(&self, c: &From, secret: &str) -> reqwest::Response {
        c.https
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                self.t.https_url(),
                self.t.b("tenantId")
            ))
            .form(&[
                ("client_id", self.t.b("clientId").as_str()),
                ("grant_type", "client_credentials"),
                ("client_secret", secret),
                ("scope", "https://management.azure.com/.default"),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn msi(&self, c: &From, header: &str) -> reqwest::Response {
        c.http
            .get(format!(
                "{}?api-version=2019-08-01&resource=https://management.azure.com",
                self.t.b("identityEndpoint")
            ))
            .header("X-IDENTITY-HEADER", header)
            .send()
            .await
            .unwrap()
    }

    /// Every kind of wrong attempt, once.
    async fn wrong(&self, c: &From) -> Vec<(&'static str, reqwest::Response)> {
        let bad_key = "x".repeat(self.primary.len());
        vec![
            ("wrong key", self.data_plane(c, &bad_key).await),
            ("wrong token", self.arm(c, "not.a.token").await),
            ("wrong secret", self.token_endpoint(c, "qws~wrong").await),
            ("wrong identity header", self.msi(c, "guess").await),
        ]
    }
}

fn assert_throttled(what: &str, addr: IpAddr, r: &reqwest::Response) {
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "{what} from {addr} after the limit"
    );
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("{what} from {addr}: Retry-After"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_never_lock_out_valid_credentials() {
    let t = TestServer::start_with(|c| c.auth.failure_limit = LIMIT).await;
    let keys = t.list_keys("qws", "dev").await;
    let a = Attempts {
        t: &t,
        primary: keys["primaryKey"]["key"].as_str().unwrap().to_string(),
        secondary: keys["secondaryKey"]["key"].as_str().unwrap().to_string(),
        token: t.mgmt_token().await,
    };
    let from: Vec<From> = (1..=5)
        .map(|i| clients_from(&t, &format!("127.0.0.{i}")))
        .collect();

    // Far past the limit, from every address.
    for c in &from {
        for _ in 0..LIMIT + 2 {
            for (what, r) in a.wrong(c).await {
                assert!(
                    matches!(r.status().as_u16(), 401 | 429),
                    "{what} from {}: {}",
                    c.addr,
                    r.status()
                );
            }
        }
    }
    for c in &from {
        // Wrong attempts are throttled…
        for (what, r) in a.wrong(c).await {
            assert_throttled(what, c.addr, &r);
        }
        // …valid ones from the same address are not.
        for key in [&a.primary, &a.secondary] {
            let r = a.data_plane(c, key).await;
            assert_eq!(r.status(), 200, "valid key from {}", c.addr);
        }
        let r = a.arm(c, &a.token).await;
        assert_eq!(r.status(), 200, "valid bearer token from {}", c.addr);
        let r = a.token_endpoint(c, &t.b("clientSecret")).await;
        assert_eq!(r.status(), 200, "token endpoint from {}", c.addr);
        let v: Value = r.json().await.unwrap();
        assert!(v["access_token"].as_str().is_some());
        let r = a.msi(c, &t.b("identityHeader")).await;
        assert_eq!(r.status(), 200, "managed identity from {}", c.addr);
        // Throttling did not stick to the credential either: wrong is still wrong, right is right.
        let r = a.data_plane(c, &a.primary).await;
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn a_fresh_address_is_not_throttled_for_other_targets() {
    // Guessing one workspace's key from one address throttles that address and that workspace,
    // not wrong attempts elsewhere from other addresses (the table of counters is per target).
    let t = TestServer::start_with(|c| c.auth.failure_limit = LIMIT).await;
    t.create_group("g2").await;
    t.create_workspace("g2", "other").await;
    let one = clients_from(&t, "127.0.0.1");
    let two = clients_from(&t, "127.0.0.2");
    let url = |rg: &str, ws: &str| {
        format!(
            "{}{}/providerStatus?api-version={DV}",
            t.http_url(),
            t.ws_path(rg, ws)
        )
    };
    for _ in 0..LIMIT + 1 {
        let _ = one
            .http
            .get(url("qws", "dev"))
            .header("x-ms-quantum-api-key", "wrong")
            .send()
            .await
            .unwrap();
    }
    let r = two
        .http
        .get(url("qws", "dev"))
        .header("x-ms-quantum-api-key", "wrong")
        .send()
        .await
        .unwrap();
    assert_throttled("wrong key for the guessed workspace", two.addr, &r);
    let r = two
        .http
        .get(url("g2", "other"))
        .header("x-ms-quantum-api-key", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "another workspace from another address");
}
