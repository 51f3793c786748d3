//! The `qws` CLI run against a `qws serve` child process ([`super::Serve`]), with the CLI's
//! config in a temporary home.

use super::QWS;
use std::path::Path;
use std::process::{Command, Output};

/// A running server with the CLI signed in to it; the server is killed on drop.
pub struct Server {
    serve: super::Serve,
    pub data_dir: tempfile::TempDir,
    pub bootstrap: serde_json::Value,
    pub home: tempfile::TempDir,
}

impl Server {
    /// Starts the server with `extra` flags; the CLI has a fresh home and is not signed in.
    pub fn start(extra: &[&str]) -> Server {
        let data_dir = tempfile::tempdir().unwrap();
        let serve = super::Serve::start(data_dir.path(), extra);
        let bootstrap = serde_json::from_str(
            &std::fs::read_to_string(data_dir.path().join("bootstrap.json")).unwrap(),
        )
        .unwrap();
        Server {
            serve,
            data_dir,
            bootstrap,
            home: tempfile::tempdir().unwrap(),
        }
    }

    /// Starts the server and signs the CLI in to it (`qws login --data-dir`).
    pub fn start_and_login() -> Server {
        let server = Server::start(&[]);
        let login = server.login();
        assert!(login.status.success(), "{login:?}");
        server
    }

    /// `qws login --data-dir` for this server's data directory.
    pub fn login(&self) -> Output {
        let dir = self.data_dir.path().to_str().unwrap().to_owned();
        self.run(&["login", "--data-dir", &dir])
    }

    /// The server's plain-HTTP URL.
    pub fn http_url(&self) -> &str {
        &self.serve.http
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
