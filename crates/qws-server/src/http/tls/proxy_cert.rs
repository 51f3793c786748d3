//! The certificate the `--azure-compat` proxy presents: SANs `*.quantum.azure.com` and
//! `management.azure.com`, issued by the data directory's local CA (`ca.pem`).
//!
//! The CA key exists only while the CA is generated (see [`crate::http::tls`]), so this certificate is
//! issued then, and only when the data directory is created with `--azure-compat`: a data
//! directory without it never holds a key that clients trusting `ca.pem` would accept for Azure
//! names.

use rcgen::{CertificateParams, KeyPair};
use std::path::Path;
use std::sync::Arc;

/// Certificate chain file (leaf then CA).
pub const CERT_FILE: &str = "azure-compat-cert.pem";
/// Private key file (0600).
pub const KEY_FILE: &str = "azure-compat-key.pem";
/// The names the certificate covers.
pub const NAMES: [&str; 2] = ["*.quantum.azure.com", "management.azure.com"];

/// Issues the proxy certificate with the CA being created and writes it to `dir`.
pub fn issue(dir: &Path, ca_cert: &rcgen::Certificate, ca_key: &KeyPair) -> anyhow::Result<()> {
    let params = CertificateParams::new(NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    super::issue_leaf(
        dir,
        params,
        super::Leaf {
            common_name: "qws azure-compat proxy",
            what: "proxy",
            cert_file: CERT_FILE,
            key_file: KEY_FILE,
        },
        ca_cert,
        ca_key,
    )
}

/// Loads the proxy's TLS configuration (HTTP/1.1 and h2), or explains how to get one.
pub fn load(dir: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let (cert_path, key_path) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if !cert_path.exists() || !key_path.exists() {
        anyhow::bail!(
            "--azure-compat needs {} and {}, which are created only together with the local CA. \
             This data directory was created without --azure-compat: delete ca.pem, tls-cert.pem and \
             tls-key.pem in {} (clients must then trust the new ca.pem) and start again with --azure-compat",
            CERT_FILE,
            KEY_FILE,
            dir.display()
        );
    }
    Ok(Arc::new(crate::http::tls::server_config_from_pem(
        &cert_path, &key_path,
    )?))
}
