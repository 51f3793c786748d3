//! Shared helpers for the integration tests: a real qws server started in-process (as the
//! server's own tests do) on 127.0.0.1 ephemeral ports with a temporary data directory, so
//! `cargo test -p qws-client` needs no prebuilt binary.

// The server's test helpers run one test in a child process the same way; one file serves both.
#[path = "../../../../qws-server/tests/it/common/own_process.rs"]
pub mod own_process;

use qws_client::{ClientOptions, Credential, Workspace};
use qws_server::{RunningServer, ServerConfig};

/// A running server, its data directory and its bootstrap.json.
pub struct Server {
    server: Option<RunningServer>,
    _dir: tempfile::TempDir,
    pub bootstrap: serde_json::Value,
}

impl Server {
    /// Starts a server with the default ephemeral configuration.
    #[allow(dead_code)]
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `configure` adjusts its configuration.
    pub async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::ephemeral(dir.path().join("data"));
        configure(&mut config);
        let server = qws_server::start(config).await.expect("server starts");
        let bootstrap =
            serde_json::from_slice(&std::fs::read(&server.bootstrap_file).unwrap()).unwrap();
        Server {
            server: Some(server),
            _dir: dir,
            bootstrap,
        }
    }

    /// Stops the server gracefully (the data directory goes when `self` is dropped).
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }

    /// A string field of bootstrap.json ("" when absent).
    pub fn s(&self, key: &str) -> String {
        self.bootstrap[key].as_str().unwrap_or_default().to_owned()
    }

    /// The bootstrap workspace through its primary connection string.
    #[allow(dead_code)]
    pub fn workspace(&self) -> Workspace {
        Workspace::from_connection_string(&self.s("primaryConnectionString")).unwrap()
    }

    /// Transport options trusting the server's CA.
    pub fn tls(&self) -> ClientOptions {
        ClientOptions::with_ca_file(self.s("caFile"))
    }

    /// The bootstrap service principal as a client-secret credential.
    pub fn service_principal(&self) -> Credential {
        Credential::client_secret(
            &self.s("authority"),
            &self.s("tenantId"),
            &self.s("clientId"),
            self.s("clientSecret"),
            Some(self.tls()),
        )
        .unwrap()
    }
}
