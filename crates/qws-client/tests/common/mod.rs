//! Shared helpers for the integration tests: a real `qws serve` child process.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qws_client::{ClientOptions, Credential, Workspace};

/// The qws binary: `QWS_BIN`, else the newest of target/{release,debug}/qws.
pub fn qws_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("QWS_BIN") {
        return PathBuf::from(p);
    }
    // The newest of target/{release,debug}/qws, so a stale build of the other profile is not used.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    ["release", "debug"]
        .iter()
        .map(|profile| root.join("target").join(profile).join("qws"))
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max()
        .map(|(_, p)| p)
        .expect("qws binary not found: run `cargo build -p qws` or set QWS_BIN")
}

/// A running `qws serve` child process (killed on drop) and its bootstrap.json.
pub struct Server {
    child: Child,
    _dir: tempfile::TempDir,
    pub bootstrap: serde_json::Value,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `qws serve` on ephemeral ports with `extra` arguments.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(qws_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tls-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .arg("--data-dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start qws serve");
        let path = dir.path().join("bootstrap.json");
        // The guard owns the child from here on: any panic below still kills it.
        let mut server = Server {
            child,
            _dir: dir,
            bootstrap: serde_json::Value::Null,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(bytes) = std::fs::read(&path) {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    let addr = v["httpUrl"]
                        .as_str()
                        .unwrap_or("")
                        .trim_start_matches("http://");
                    if std::net::TcpStream::connect(addr).is_ok() {
                        server.bootstrap = v;
                        return server;
                    }
                }
            }
            assert!(Instant::now() < deadline, "qws serve did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    #[allow(dead_code)]
    pub fn s(&self, key: &str) -> String {
        self.bootstrap[key].as_str().unwrap_or_default().to_owned()
    }

    #[allow(dead_code)]
    pub fn workspace(&self) -> Workspace {
        Workspace::from_connection_string(&self.s("primaryConnectionString")).unwrap()
    }

    #[allow(dead_code)]
    pub fn tls(&self) -> ClientOptions {
        ClientOptions::with_ca_file(self.s("caFile"))
    }

    #[allow(dead_code)]
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
