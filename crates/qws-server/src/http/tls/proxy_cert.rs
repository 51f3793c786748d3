//! The certificate the `--azure-compat` proxy presents: SANs `*.quantum.azure.com`,
//! `management.azure.com` and `login.microsoftonline.com`, issued by the data directory's local
//! CA (`ca.pem`).
//!
//! It is issued in memory at every start from the CA key the database keeps sealed (see
//! [`crate::http::tls`]), so `--azure-compat` works on any data directory, and a data directory
//! never holds, as a file, a key that clients trusting `ca.pem` would accept for Azure names.
//! Data directories whose CA predates stored keys fall back to the files their first
//! `--azure-compat` start wrote.

use rcgen::CertificateParams;
use std::path::Path;
use std::sync::Arc;

/// Certificate chain file of data directories created before the CA key was stored.
pub const LEGACY_CERT_FILE: &str = "azure-compat-cert.pem";
/// Private key file (0600) of data directories created before the CA key was stored.
pub const LEGACY_KEY_FILE: &str = "azure-compat-key.pem";
/// The names the certificate covers: what [`crate::http::proxy::allowed_host`] serves.
pub const NAMES: [&str; 3] = [
    "*.quantum.azure.com",
    "management.azure.com",
    "login.microsoftonline.com",
];

/// The proxy's TLS configuration (HTTP/1.1 and h2): a certificate issued now by the stored CA,
/// or, for an older data directory, the files written when its CA was created.
pub fn load_or_issue(
    dir: &Path,
    store: &qws_store::Store,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    if let Some((ca_cert, ca_key, ca_pem)) = super::stored_ca(dir, store)? {
        let params =
            CertificateParams::new(NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
        let leaf = super::Leaf {
            common_name: "qws azure-compat proxy",
            what: "proxy",
        };
        let (chain, key) = super::issue_leaf_pem(params, &leaf, &ca_cert, &ca_pem, &ca_key)?;
        return Ok(Arc::new(super::server_config_from_pem_bytes(
            chain.as_bytes(),
            key.as_bytes(),
            "the proxy certificate",
            "the proxy key",
        )?));
    }
    let (cert_path, key_path) = (dir.join(LEGACY_CERT_FILE), dir.join(LEGACY_KEY_FILE));
    if !cert_path.exists() || !key_path.exists() {
        anyhow::bail!(
            "--azure-compat needs the local CA's key to issue the proxy certificate, and this data \
             directory's CA was created by an older qws that did not keep it: delete ca.pem, \
             tls-cert.pem and tls-key.pem in {} (clients must then trust the new ca.pem) and start again",
            dir.display()
        );
    }
    tracing::warn!(
        "the --azure-compat proxy uses {LEGACY_CERT_FILE}, made by an older qws: it does not cover \
         login.microsoftonline.com (sign-in through the proxy fails). Delete ca.pem, tls-cert.pem and \
         tls-key.pem to create a CA whose key qws keeps"
    );
    Ok(Arc::new(crate::http::tls::server_config_from_pem(
        &cert_path, &key_path,
    )?))
}
