//! The certificate the `--azure-compat` proxy presents: SANs `*.quantum.azure.com` and
//! `management.azure.com`, issued by the data directory's local CA (`ca.pem`).
//!
//! The CA key exists only while the CA is generated (see [`crate::http::tls`]), so this certificate is
//! issued then, and only when the data directory is created with `--azure-compat`: a data
//! directory without it never holds a key that clients trusting `ca.pem` would accept for Azure
//! names.

use anyhow::Context;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose};
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
    let now = time::OffsetDateTime::now_utc();
    let mut leaf = CertificateParams::new(NAMES.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    leaf.distinguished_name
        .push(DnType::CommonName, "qws azure-compat proxy");
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = now - time::Duration::days(1);
    leaf.not_after = now + time::Duration::days(825);
    let key = KeyPair::generate().context("generating the proxy key")?;
    let cert = leaf
        .signed_by(&key, ca_cert, ca_key)
        .context("signing the proxy certificate")?;
    qws_store::crypto::write_private_atomic(&dir.join(KEY_FILE), key.serialize_pem().as_bytes())?;
    let chain = format!("{}{}", cert.pem(), ca_cert.pem());
    qws_store::crypto::write_private_atomic(&dir.join(CERT_FILE), chain.as_bytes())?;
    Ok(())
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
