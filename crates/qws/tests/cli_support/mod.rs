//! A `qws serve` child process on 127.0.0.1:0 with a temporary data dir, and the `qws` CLI run
//! against it with its config in a temporary home (shared by the CLI test files).
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const QWS: &str = env!("CARGO_BIN_EXE_qws");

/// A running server; killed on drop.
pub struct Server {
    child: Child,
    pub data_dir: tempfile::TempDir,
    pub bootstrap: serde_json::Value,
    pub home: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the server and signs the CLI in to it (`qws login --data-dir`).
    pub fn start_and_login() -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let child = Command::new(QWS)
            .args(["serve", "--data-dir"])
            .arg(data_dir.path())
            .args(["--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn qws serve");
        let mut server = Server {
            child,
            data_dir,
            bootstrap: serde_json::Value::Null,
            home: tempfile::tempdir().unwrap(),
        };
        // Readiness wait (not a timing assertion): bootstrap.json with bound ports.
        let deadline = Instant::now() + Duration::from_secs(120);
        let path = server.data_dir.path().join("bootstrap.json");
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("qws serve exited early: {status}");
            }
            if let Ok(text) = std::fs::read_to_string(&path) {
                if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
                    let bound = |k: &str| {
                        json[k]
                            .as_str()
                            .is_some_and(|u| !u.trim_end_matches('/').ends_with(":0"))
                    };
                    if bound("httpUrl") && bound("httpsUrl") {
                        server.bootstrap = json;
                        break;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "qws serve did not write bootstrap.json"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let dir = server.data_dir.path().to_str().unwrap().to_owned();
        let login = server.run(&["login", "--data-dir", &dir]);
        assert!(login.status.success(), "{login:?}");
        server
    }

    pub fn get(&self, key: &str) -> String {
        self.bootstrap[key]
            .as_str()
            .unwrap_or_else(|| panic!("bootstrap.json has no {key}"))
            .to_owned()
    }

    /// Runs the CLI with its config under the temporary home.
    pub fn run(&self, args: &[&str]) -> Output {
        let home: &Path = self.home.path();
        Command::new(QWS)
            .args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env_remove("QWS_CLIENT_SECRET")
            .current_dir(home)
            .output()
            .expect("run qws")
    }

    /// Runs the CLI, expects success and parses stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert!(out.status.success(), "qws {args:?}: {out:?}");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("qws {args:?} printed no JSON ({e}): {out:?}"))
    }

    /// Runs the CLI and expects failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "qws {args:?} should fail: {out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
