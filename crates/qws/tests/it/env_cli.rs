//! `qws env` prints what points Azure tools at a local server, and the CLI trusts the CA those
//! variables name when `--ca-file` is not given.

use crate::common::{Serve, QWS};
use std::process::{Command, Output};

fn qws(args: &[&str], home: &std::path::Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(QWS);
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("QWS_CLIENT_SECRET")
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .current_dir(home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run qws")
}

fn bootstrap(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("bootstrap.json")).unwrap()).unwrap()
}

#[test]
fn env_prints_the_proxy_the_ca_and_the_connection_string() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let _serve = Serve::start(
        data.path(),
        &["--azure-compat", "--proxy-listen", "127.0.0.1:0"],
    );
    let b = bootstrap(data.path());
    let dir = data.path().to_str().unwrap();
    let ca = data.path().join("ca.pem");
    let ca = ca.to_str().unwrap();

    let out = qws(&["env", "--data-dir", dir], home.path(), &[]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let proxy = b["proxyUrl"].as_str().unwrap();
    assert_eq!(
        text,
        format!(
            "export HTTPS_PROXY='{proxy}'\nexport NO_PROXY='127.0.0.1,127.1,localhost'\n\
             export REQUESTS_CA_BUNDLE='{ca}'\nexport SSL_CERT_FILE='{ca}'\n"
        )
    );
    assert!(!text.contains("ApiKey"), "the secret only on request");

    let out = qws(
        &[
            "env",
            "--data-dir",
            dir,
            "--shell",
            "fish",
            "--connection-string",
        ],
        home.path(),
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("set -gx HTTPS_PROXY '{proxy}'\n")),
        "{text}"
    );
    let cs = b["primaryConnectionString"].as_str().unwrap();
    assert!(
        text.contains(&format!("set -gx AZURE_QUANTUM_CONNECTION_STRING '{cs}'\n")),
        "{text}"
    );

    let missing = qws(&["env", "--data-dir", "/nonexistent/qws"], home.path(), &[]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("bootstrap.json"));
}

#[test]
fn the_cli_trusts_requests_ca_bundle_without_ca_file() {
    let data = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let _serve = Serve::start(data.path(), &[]);
    let b = bootstrap(data.path());
    let get = |k: &str| b[k].as_str().unwrap().to_owned();
    let (id, secret, tenant, https) = (
        get("clientId"),
        get("clientSecret"),
        get("tenantId"),
        get("httpsUrl"),
    );
    let login = [
        "login",
        "--service-principal",
        "-u",
        &id,
        "-p",
        &secret,
        "--tenant",
        &tenant,
        "--server",
        &https,
        "-o",
        "tsv",
    ];
    // Without any trust for the qws CA, the server's certificate is refused.
    let untrusted = qws(&login, home.path(), &[]);
    assert!(!untrusted.status.success(), "{untrusted:?}");
    let ca = data.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    for var in ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"] {
        let out = qws(&login, home.path(), &[(var, ca)]);
        assert!(out.status.success(), "{var}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains(&get("subscriptionId")));
        let out = qws(&["group", "list", "-o", "tsv"], home.path(), &[(var, ca)]);
        assert!(out.status.success(), "{var}: {out:?}");
    }
}
