//! TLS for the HTTPS listener: a local CA and a server certificate, created on first start.
//!
//! Files in the data directory: `ca.pem` (the CA certificate to trust, e.g. `REQUESTS_CA_BUNDLE`),
//! `tls-cert.pem` (server certificate followed by the CA) and `tls-key.pem` (server key, 0600).
//! The CA's private key is never written anywhere: it signs the server certificate once and is
//! dropped, so nothing on disk can mint further certificates trusted through `ca.pem`. Delete the
//! three files to generate new ones (e.g. to add a SAN for a new listen address).

pub mod proxy_cert;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// CA certificate file name.
pub const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "tls-cert.pem";
const KEY_FILE: &str = "tls-key.pem";

/// The server's TLS configuration and the path of the CA clients should trust.
pub struct Tls {
    /// rustls configuration for the acceptor.
    pub config: Arc<rustls::ServerConfig>,
    /// `DATA_DIR/ca.pem`.
    pub ca_file: PathBuf,
}

fn generate(dir: &Path, extra_ips: &[IpAddr], azure_compat: bool) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "qws local development CA");
    ca.distinguished_name.push(DnType::OrganizationName, "qws");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(3650);
    let ca_cert = ca.self_signed(&ca_key).context("self-signing the CA")?;

    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.1".to_string()])?;
    let mut ips: Vec<IpAddr> = vec!["127.0.0.1".parse()?, "::1".parse()?];
    for ip in extra_ips {
        if !ip.is_unspecified() && !ips.contains(ip) {
            ips.push(*ip);
        }
    }
    leaf.subject_alt_names
        .extend(ips.into_iter().map(SanType::IpAddress));
    issue_leaf(
        dir,
        leaf,
        Leaf {
            common_name: "qws",
            what: "server",
            cert_file: CERT_FILE,
            key_file: KEY_FILE,
        },
        &ca_cert,
        &ca_key,
    )?;
    if azure_compat {
        crate::http::tls::proxy_cert::issue(dir, &ca_cert, &ca_key)?;
    }
    // ca.pem is public; written last so its presence means the set is complete.
    std::fs::write(dir.join(CA_FILE), ca_cert.pem())?;
    Ok(())
}

/// What distinguishes one leaf certificate from another.
pub(crate) struct Leaf {
    /// Subject common name.
    pub common_name: &'static str,
    /// What it is for, in error messages (`server`, `proxy`).
    pub what: &'static str,
    /// Chain file (leaf then CA) in the data directory.
    pub cert_file: &'static str,
    /// Private key file (0600) in the data directory.
    pub key_file: &'static str,
}

/// Issues a TLS server certificate for the names in `params`, signed by the CA being created,
/// and writes its key and its chain (leaf then CA) to `dir`. Every leaf the server issues is
/// made here, with the same usages and validity.
pub(crate) fn issue_leaf(
    dir: &Path,
    mut params: CertificateParams,
    leaf: Leaf,
    ca_cert: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    params
        .distinguished_name
        .push(DnType::CommonName, leaf.common_name);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(825);
    let key = KeyPair::generate().with_context(|| format!("generating the {} key", leaf.what))?;
    let cert = params
        .signed_by(&key, ca_cert, ca_key)
        .with_context(|| format!("signing the {} certificate", leaf.what))?;
    qws_store::crypto::write_private_atomic(
        &dir.join(leaf.key_file),
        key.serialize_pem().as_bytes(),
    )?;
    let chain = format!("{}{}", cert.pem(), ca_cert.pem());
    qws_store::crypto::write_private_atomic(&dir.join(leaf.cert_file), chain.as_bytes())?;
    Ok(())
}

/// Loads the TLS files, creating them on first start.
pub fn load_or_create(dir: &Path, extra_ips: &[IpAddr]) -> anyhow::Result<Tls> {
    load_or_create_with(dir, extra_ips, false)
}

/// [`load_or_create`]; with `azure_compat`, a new CA also issues the `--azure-compat` proxy's
/// certificate ([`crate::http::tls::proxy_cert`]).
pub fn load_or_create_with(
    dir: &Path,
    extra_ips: &[IpAddr],
    azure_compat: bool,
) -> anyhow::Result<Tls> {
    let complete = [CA_FILE, CERT_FILE, KEY_FILE]
        .iter()
        .all(|f| dir.join(f).exists());
    if !complete {
        generate(dir, extra_ips, azure_compat)?;
    }
    let config = server_config_from_pem(&dir.join(CERT_FILE), &dir.join(KEY_FILE))?;
    Ok(Tls {
        config: Arc::new(config),
        ca_file: dir.join(CA_FILE),
    })
}

/// A rustls server configuration (ring provider, HTTP/1.1 and h2) from a PEM certificate chain
/// and its private key; used by the HTTPS listener and the `--azure-compat` proxy.
pub(crate) fn server_config_from_pem(
    cert_path: &Path,
    key_path: &Path,
) -> anyhow::Result<rustls::ServerConfig> {
    let cert_pem =
        std::fs::read(cert_path).with_context(|| format!("reading {}", cert_path.display()))?;
    let key_pem =
        std::fs::read(key_path).with_context(|| format!("reading {}", key_path.display()))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert_path.display()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("parsing {}", key_path.display()))?
        .with_context(|| format!("{} holds no private key", key_path.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("building the TLS configuration")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
