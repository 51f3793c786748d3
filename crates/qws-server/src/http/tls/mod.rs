//! TLS for the HTTPS listener: a local CA and a server certificate, created on first start.
//!
//! Files in the data directory: `ca.pem` (the CA certificate to trust, e.g. `REQUESTS_CA_BUNDLE`),
//! `tls-cert.pem` (server certificate followed by the CA) and `tls-key.pem` (server key, 0600).
//! The CA's private key is kept in the database, sealed under the master key like access keys
//! ([`CA_KEY_META`]), never as a file: the `--azure-compat` proxy's certificate is issued from it
//! at every start ([`proxy_cert`]), so that mode works on any data directory and its names stay
//! current. Delete the three files to generate new ones (e.g. to add a SAN for a new listen
//! address).

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

/// The database meta key under which the CA's private key (PEM) is sealed.
pub const CA_KEY_META: &str = "tls_ca_key";

/// The local CA's parameters. Issuing from a stored key rebuilds the CA from these: a leaf names
/// its issuer by distinguished name and key identifier, both of which these and the key fix.
fn ca_params() -> anyhow::Result<CertificateParams> {
    let now = time::OffsetDateTime::now_utc();
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
    Ok(ca)
}

fn generate(dir: &Path, extra_ips: &[IpAddr], store: &qws_store::Store) -> anyhow::Result<()> {
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let ca_cert = ca_params()?
        .self_signed(&ca_key)
        .context("self-signing the CA")?;

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
        },
        LeafFiles {
            cert_file: CERT_FILE,
            key_file: KEY_FILE,
        },
        &ca_cert,
        &ca_key,
    )?;
    let key_pem = zeroize::Zeroizing::new(ca_key.serialize_pem());
    store
        .set_sealed_meta(CA_KEY_META, key_pem.as_bytes())
        .context("storing the CA key")?;
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
}

/// Where a leaf issued once is kept in the data directory.
struct LeafFiles {
    /// Chain file (leaf then CA).
    cert_file: &'static str,
    /// Private key file (0600).
    key_file: &'static str,
}

/// Issues a TLS server certificate for the names in `params`, signed by the CA being created,
/// and writes its key and its chain (leaf then CA) to `dir`.
fn issue_leaf(
    dir: &Path,
    params: CertificateParams,
    leaf: Leaf,
    files: LeafFiles,
    ca_cert: &rcgen::Certificate,
    ca_key: &KeyPair,
) -> anyhow::Result<()> {
    let (chain, key) = issue_leaf_pem(params, &leaf, ca_cert, &ca_cert.pem(), ca_key)?;
    qws_store::crypto::write_private_atomic(&dir.join(files.key_file), key.as_bytes())?;
    qws_store::crypto::write_private_atomic(&dir.join(files.cert_file), chain.as_bytes())?;
    Ok(())
}

/// Issues a TLS server certificate for the names in `params`, signed by the CA; returns its
/// chain (leaf then `ca_pem`) and its private key, both PEM. Every leaf the server issues is
/// made here, with the same usages and validity.
pub(crate) fn issue_leaf_pem(
    mut params: CertificateParams,
    leaf: &Leaf,
    ca_cert: &rcgen::Certificate,
    ca_pem: &str,
    ca_key: &KeyPair,
) -> anyhow::Result<(String, zeroize::Zeroizing<String>)> {
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
    Ok((
        format!("{}{ca_pem}", cert.pem()),
        zeroize::Zeroizing::new(key.serialize_pem()),
    ))
}

/// The stored CA, ready to issue: its rebuilt certificate, its key and `ca.pem` as on disk.
/// `None` for a data directory whose CA predates stored keys.
pub(crate) fn stored_ca(
    dir: &Path,
    store: &qws_store::Store,
) -> anyhow::Result<Option<(rcgen::Certificate, KeyPair, String)>> {
    let Some(key_pem) = store.get_sealed_meta(CA_KEY_META)? else {
        return Ok(None);
    };
    let key_pem = std::str::from_utf8(&key_pem).context("the stored CA key is not PEM")?;
    let key = KeyPair::from_pem(key_pem).context("the stored CA key is invalid")?;
    let ca_pem = std::fs::read_to_string(dir.join(CA_FILE))
        .with_context(|| format!("reading {}", dir.join(CA_FILE).display()))?;
    let ca_der = rustls_pemfile::certs(&mut ca_pem.as_bytes())
        .next()
        .context("ca.pem holds no certificate")??;
    // ca.pem may have been replaced by hand: issue only if the stored key is the one it certifies.
    let spki = key.public_key_der();
    if !ca_der.windows(spki.len()).any(|w| w == spki.as_slice()) {
        anyhow::bail!(
            "the stored CA key does not belong to {}: delete ca.pem, tls-cert.pem and tls-key.pem to create a new CA",
            dir.join(CA_FILE).display()
        );
    }
    let cert = ca_params()?
        .self_signed(&key)
        .context("rebuilding the CA certificate")?;
    Ok(Some((cert, key, ca_pem)))
}

/// Loads the TLS files, creating them (and storing the CA key in `store`) on first start.
pub fn load_or_create(
    dir: &Path,
    extra_ips: &[IpAddr],
    store: &qws_store::Store,
) -> anyhow::Result<Tls> {
    let complete = [CA_FILE, CERT_FILE, KEY_FILE]
        .iter()
        .all(|f| dir.join(f).exists());
    if !complete {
        generate(dir, extra_ips, store)?;
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
    let key_pem = zeroize::Zeroizing::new(
        std::fs::read(key_path).with_context(|| format!("reading {}", key_path.display()))?,
    );
    server_config_from_pem_bytes(
        &cert_pem,
        &key_pem,
        &cert_path.display().to_string(),
        &key_path.display().to_string(),
    )
}

/// [`server_config_from_pem`] from PEM in memory; `cert_name`/`key_name` name them in errors.
pub(crate) fn server_config_from_pem_bytes(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_name: &str,
    key_name: &str,
) -> anyhow::Result<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {cert_name}"))?;
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .with_context(|| format!("parsing {key_name}"))?
        .with_context(|| format!("{key_name} holds no private key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("building the TLS configuration")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
