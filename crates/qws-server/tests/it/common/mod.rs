//! Shared helpers of the integration tests: a real qws server on 127.0.0.1:0 with a temporary
//! data directory, and reqwest clients for its HTTP and HTTPS listeners (HTTPS trusts only the
//! generated CA).
#![allow(dead_code)]

pub mod blob;
pub mod dp;
pub mod own_process;
pub mod programs;

use qws_server::{RunningServer, ServerConfig};
use reqwest::{Client, Method, Response};
use serde_json::Value;
use std::path::PathBuf;

/// How long a test waits for a job or the server to reach a state before it fails and says
/// what it waited for. One generous bound for all waits: the tests share a 2-core machine with
/// other builds, so a short deadline fails for load, not for a bug. Waits poll, so a passing
/// test takes only as long as the server needs.
pub const WAIT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(180);

pub const V: &str = "2025-12-15-preview";
pub const OLD_V: &str = "2023-11-13-preview";

/// Whether this run keeps the server's database in PostgreSQL (`QWS_TEST_DATABASE=postgres`),
/// so the data directory has no `qws.db`.
pub fn on_postgres() -> bool {
    qws_store::db::test_cluster::wanted()
}

pub struct TestServer {
    pub server: Option<RunningServer>,
    pub dir: tempfile::TempDir,
    pub bootstrap: Value,
    pub http: Client,
    pub https: Client,
}

pub fn https_client(ca_file: &std::path::Path) -> Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_file).unwrap()).unwrap();
    Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .use_rustls_tls()
        .build()
        .unwrap()
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, f).await
    }

    pub async fn start_in(dir: tempfile::TempDir, f: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let mut config = ServerConfig::ephemeral(dir.path().join("data"));
        // With QWS_TEST_DATABASE=postgres, each data directory gets its own PostgreSQL
        // database (the same one when a test restarts a server on the same directory).
        if let qws_store::db::DbTarget::Postgres(url) =
            qws_store::db::test_cluster::target_for_dir(&config.data_dir)
        {
            config.database = Some(qws_server::config::DatabaseUrl(url));
        }
        f(&mut config);
        let server = qws_server::start(config).await.expect("server starts");
        let bootstrap: Value =
            serde_json::from_slice(&std::fs::read(&server.bootstrap_file).unwrap()).unwrap();
        let https = https_client(&server.ca_file);
        TestServer {
            server: Some(server),
            dir,
            bootstrap,
            http: Client::new(),
            https,
        }
    }

    pub fn srv(&self) -> &RunningServer {
        self.server.as_ref().unwrap()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn b(&self, k: &str) -> String {
        self.bootstrap[k]
            .as_str()
            .unwrap_or_else(|| panic!("bootstrap.{k}"))
            .to_string()
    }

    pub fn sub(&self) -> String {
        self.b("subscriptionId")
    }

    pub fn https_url(&self) -> String {
        self.srv().https_url()
    }

    pub fn http_url(&self) -> String {
        self.srv().http_url()
    }

    /// The token endpoint (v2.0) of the server's tenant, over HTTPS.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.https_url(),
            self.b("tenantId")
        )
    }

    /// A client-credentials token request for `client_id` with `secret`.
    pub async fn client_credentials(&self, client_id: &str, secret: &str, scope: &str) -> Response {
        self.https
            .post(self.token_url())
            .form(&[
                ("client_id", client_id),
                ("grant_type", "client_credentials"),
                ("client_secret", secret),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap()
    }

    /// The administrator's client-credentials token for `scope` over HTTPS.
    pub async fn token(&self, scope: &str) -> String {
        let r = self
            .https
            .post(self.token_url())
            .form(&[
                ("client_id", self.b("clientId").as_str()),
                ("grant_type", "client_credentials"),
                ("client_info", "1"),
                ("client_secret", self.b("clientSecret").as_str()),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    /// A managed-identity token request for `resource` with the identity header, over HTTP.
    pub async fn msi_request(&self, resource: &str) -> Response {
        self.http
            .get(format!(
                "{}?api-version=2019-08-01&resource={resource}",
                self.b("identityEndpoint")
            ))
            .header("X-IDENTITY-HEADER", self.b("identityHeader"))
            .send()
            .await
            .unwrap()
    }

    pub async fn mgmt_token(&self) -> String {
        self.token("https://management.azure.com/.default").await
    }

    /// An authenticated management request over HTTPS. `path` may carry a query; api-version is
    /// appended when absent.
    pub async fn arm(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let token = self.mgmt_token().await;
        self.arm_with(&token, method, path, body).await
    }

    /// `GET path` as the administrator; the JSON body, whatever the status.
    pub async fn arm_get_json(&self, path: &str) -> Value {
        self.arm(Method::GET, path, None)
            .await
            .json()
            .await
            .unwrap()
    }

    pub async fn arm_with(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let url = if path.contains("api-version=") {
            format!("{}{}", self.https_url(), path)
        } else if path.contains('?') {
            format!("{}{}&api-version={V}", self.https_url(), path)
        } else {
            format!("{}{}?api-version={V}", self.https_url(), path)
        };
        let mut req = self.https.request(method, url).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        } else {
            req = req.header("content-length", "0");
        }
        req.send().await.unwrap()
    }

    pub fn rg_path(&self, rg: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/{rg}", self.sub())
    }

    pub fn ws_path(&self, rg: &str, ws: &str) -> String {
        format!(
            "{}/providers/Microsoft.Quantum/workspaces/{ws}",
            self.rg_path(rg)
        )
    }

    pub async fn create_group(&self, rg: &str) {
        let r = self
            .arm(
                Method::PUT,
                &self.rg_path(rg),
                Some(serde_json::json!({"location": "eastus"})),
            )
            .await;
        assert!(r.status() == 201 || r.status() == 200, "{}", r.status());
    }

    pub async fn create_workspace(&self, rg: &str, ws: &str) -> Value {
        let r = self
            .arm(
                Method::PUT,
                &self.ws_path(rg, ws),
                Some(serde_json::json!({"location": "eastus", "identity": {"type": "SystemAssigned"},
                    "properties": {"providers": [{"providerId": "ionq", "providerSku": "pay-as-you-go-cred"}], "apiKeyEnabled": true}})),
            )
            .await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    pub async fn list_keys(&self, rg: &str, ws: &str) -> Value {
        let r = self
            .arm(
                Method::POST,
                &format!("{}/listKeys", self.ws_path(rg, ws)),
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub fn audit_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.data_dir().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
        self.dir
    }
}

/// Asserts an ARM error body and returns it.
pub async fn expect_error(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status for expected {code}");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], code, "body: {v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message: {v}"
    );
    v
}

/// Percent-encodes everything but the unreserved characters (RFC 3986), for query values.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Built-in role definition ids and the api-version of role assignments.
/// A new service principal named `display_name` with one client secret: (object id, app id,
/// secret).
pub async fn service_principal(t: &TestServer, display_name: &str) -> (String, String, String) {
    let r = t
        .arm(
            Method::POST,
            "/qws/directory/servicePrincipals",
            Some(serde_json::json!({"displayName": display_name})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let sp: Value = r.json().await.unwrap();
    let (oid, app) = (
        sp["id"].as_str().unwrap().to_string(),
        sp["appId"].as_str().unwrap().to_string(),
    );
    let r = t
        .arm(
            Method::POST,
            &format!("/qws/directory/servicePrincipals/{app}/addPassword"),
            Some(serde_json::json!({"passwordCredential": {"displayName": "s"}})),
        )
        .await;
    let secret = r.json::<Value>().await.unwrap()["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    (oid, app, secret)
}

pub mod roles {
    pub const RA_V: &str = "api-version=2022-04-01";
    pub const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    pub const DATA_CONTRIBUTOR: &str = "c1410b24-3e69-4857-8f86-4d0a2e603250";
}
