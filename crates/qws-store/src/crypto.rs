//! Encryption of secrets at rest.
//!
//! One 32-byte master key (a 0600 file `master.key` in the data directory, or base64 in the
//! `QWS_MASTER_KEY` environment variable) is never used directly: HKDF-SHA256 derives separate
//! subkeys for (1) AES-256-GCM sealing of stored secrets, (2) the HMAC-SHA256 fingerprints used to
//! find an access key without decrypting every row, and (3) HMAC-SHA256 hashes of service-principal
//! secrets. Sealed values carry associated data naming what they are (for access keys: workspace id,
//! slot and version), so a ciphertext copied to another row fails to open.

use base64::Engine;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::{hkdf, hmac};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// Name of the master key file in the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";
/// Environment variable that supplies the master key (base64 of 32 bytes) instead of the file.
pub const MASTER_KEY_ENV: &str = "QWS_MASTER_KEY";

/// Errors of the crypto layer. Messages never contain secret material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The master key source is malformed.
    #[error("invalid master key: {0}")]
    BadMasterKey(String),
    /// Reading or writing the key file failed.
    #[error("master key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Decryption failed: wrong master key, wrong associated data, or tampered ciphertext.
    #[error("a sealed value could not be opened (wrong master key or tampered data)")]
    Open,
    /// The OS random generator failed.
    #[error("the operating system's random number generator failed")]
    Random,
}

/// Where the master key came from (reported at start-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `QWS_MASTER_KEY`.
    Environment,
    /// An existing `master.key`.
    File,
    /// A `master.key` created now.
    Created,
}

/// The derived keys. Holds no raw master key after construction.
pub struct Crypto {
    seal_key: LessSafeKey,
    fingerprint_key: hmac::Key,
    secret_hash_key: hmac::Key,
    blob_sas_key: hmac::Key,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Crypto(<keys redacted>)")
    }
}

struct Len(usize);
impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(prk: &hkdf::Prk, info: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new([0u8; 32]);
    let infos = [info];
    prk.expand(&infos, Len(32))
        .and_then(|okm| okm.fill(&mut out[..]))
        .expect("HKDF output of 32 bytes is always valid");
    out
}

impl Crypto {
    /// Builds the subkeys from a 32-byte master key.
    pub fn from_master_key(master: &[u8; 32]) -> Crypto {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"qws master key v1").extract(master);
        let seal = derive(&prk, b"qws seal aes-256-gcm v1");
        let fp = derive(&prk, b"qws access-key fingerprint v1");
        let sh = derive(&prk, b"qws principal-secret hash v1");
        let sas = derive(&prk, b"qws blob sas signature v1");
        Crypto {
            seal_key: LessSafeKey::new(
                UnboundKey::new(&aead::AES_256_GCM, &seal[..]).expect("32-byte AES key"),
            ),
            fingerprint_key: hmac::Key::new(hmac::HMAC_SHA256, &fp[..]),
            secret_hash_key: hmac::Key::new(hmac::HMAC_SHA256, &sh[..]),
            blob_sas_key: hmac::Key::new(hmac::HMAC_SHA256, &sas[..]),
        }
    }

    /// Loads the master key from `QWS_MASTER_KEY`, else from `dir/master.key`, creating that file
    /// (32 random bytes, mode 0600) if it does not exist.
    pub fn load_or_create(dir: &Path) -> Result<(Crypto, MasterKeySource), CryptoError> {
        Self::load_or_create_with(dir, std::env::var(MASTER_KEY_ENV).ok().as_deref())
    }

    /// [`Crypto::load_or_create`] with the environment's value passed in, so tests choose the
    /// source explicitly instead of depending on the environment they run in.
    fn load_or_create_with(
        dir: &Path,
        env_value: Option<&str>,
    ) -> Result<(Crypto, MasterKeySource), CryptoError> {
        if let Some(v) = env_value {
            let key = decode_master(v.trim())?;
            return Ok((Crypto::from_master_key(&key), MasterKeySource::Environment));
        }
        let path = dir.join(MASTER_KEY_FILE);
        let io = |source| CryptoError::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                    CryptoError::BadMasterKey(format!(
                        "{} must contain exactly 32 bytes, found {}",
                        path.display(),
                        bytes.len()
                    ))
                })?;
                let key = Zeroizing::new(key);
                Ok((Crypto::from_master_key(&key), MasterKeySource::File))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new([0u8; 32]);
                qws_core::keys::fill_random(&mut key[..]).map_err(|_| CryptoError::Random)?;
                let mut f = create_private_file(&path).map_err(io)?;
                f.write_all(&key[..]).map_err(io)?;
                f.sync_all().map_err(io)?;
                Ok((Crypto::from_master_key(&key), MasterKeySource::Created))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Encrypts `plaintext` with AES-256-GCM under a fresh random nonce, bound to `aad`.
    /// Output: nonce (12 bytes) ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; 12];
        qws_core::keys::fill_random(&mut nonce).map_err(|_| CryptoError::Random)?;
        let mut buf = plaintext.to_vec();
        self.seal_key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(12 + buf.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        buf.iter_mut().for_each(|b| *b = 0);
        Ok(out)
    }

    /// Decrypts a value produced by [`Crypto::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < 12 + 16 {
            return Err(CryptoError::Open);
        }
        let nonce =
            Nonce::try_assume_unique_for_key(&sealed[..12]).map_err(|_| CryptoError::Open)?;
        let mut buf = Zeroizing::new(sealed[12..].to_vec());
        let len = self
            .seal_key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| CryptoError::Open)?
            .len();
        buf.truncate(len);
        Ok(buf)
    }

    /// Keyed fingerprint of an access key, used as the lookup index.
    pub fn key_fingerprint(&self, key: &str) -> Vec<u8> {
        hmac::sign(&self.fingerprint_key, key.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// Hash of a service-principal secret. A slow password hash is unnecessary here: secrets are
    /// 256-bit random values generated by qws, so offline guessing is infeasible even with a fast
    /// hash; the HMAC key (derived from the master key) additionally makes a stolen database alone
    /// useless for checking guesses.
    pub fn secret_hash(&self, secret: &str) -> Vec<u8> {
        hmac::sign(&self.secret_hash_key, secret.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// HMAC-SHA256 signature of a blob SAS string-to-sign (its own derived key).
    pub fn blob_sas_sign(&self, string_to_sign: &[u8]) -> Vec<u8> {
        hmac::sign(&self.blob_sas_key, string_to_sign)
            .as_ref()
            .to_vec()
    }

    /// Constant-time check of a blob SAS signature made by [`Crypto::blob_sas_sign`].
    pub fn blob_sas_verify(&self, string_to_sign: &[u8], signature: &[u8]) -> bool {
        hmac::verify(&self.blob_sas_key, string_to_sign, signature).is_ok()
    }

    /// Constant-time check of a secret against a stored [`Crypto::secret_hash`].
    pub fn verify_secret(&self, secret: &str, stored: &[u8]) -> bool {
        hmac::verify(&self.secret_hash_key, secret.as_bytes(), stored).is_ok()
    }
}

fn decode_master(v: &str) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(v))
        .map_err(|_| {
            CryptoError::BadMasterKey(format!("{MASTER_KEY_ENV} must be base64 of 32 bytes"))
        })?;
    let bytes = Zeroizing::new(bytes);
    let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        CryptoError::BadMasterKey(format!(
            "{MASTER_KEY_ENV} must decode to exactly 32 bytes, found {}",
            bytes.len()
        ))
    })?;
    Ok(Zeroizing::new(arr))
}

/// Creates a new file readable only by the owner (0600 on Unix); fails if it exists.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Writes `contents` to `path` atomically (temporary file in the same directory, 0600, then rename).
pub fn write_private_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut suffix = [0u8; 6];
    let _ = qws_core::keys::fill_random(&mut suffix);
    let tmp = dir.join(format!(
        ".{name}.{}.tmp",
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let result = (|| {
        let mut f = create_private_file(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypto(b: u8) -> Crypto {
        Crypto::from_master_key(&[b; 32])
    }

    #[test]
    fn seal_open_round_trip_and_unique_nonces() {
        let c = crypto(1);
        let a = c.seal(b"ws|Primary|1", b"secret").unwrap();
        let b = c.seal(b"ws|Primary|1", b"secret").unwrap();
        assert_ne!(a[..12], b[..12]);
        assert_eq!(&c.open(b"ws|Primary|1", &a).unwrap()[..], b"secret");
    }

    #[test]
    fn wrong_aad_key_or_tamper_fails() {
        let c = crypto(1);
        let a = c.seal(b"ws|Primary|1", b"secret").unwrap();
        assert!(c.open(b"ws|Secondary|1", &a).is_err());
        assert!(c.open(b"ws|Primary|2", &a).is_err());
        assert!(crypto(2).open(b"ws|Primary|1", &a).is_err());
        let mut t = a.clone();
        *t.last_mut().unwrap() ^= 1;
        assert!(c.open(b"ws|Primary|1", &t).is_err());
        assert!(c.open(b"ws|Primary|1", &a[..20]).is_err());
    }

    #[test]
    fn fingerprints_and_hashes_are_keyed() {
        assert_eq!(
            crypto(1).key_fingerprint("k"),
            crypto(1).key_fingerprint("k")
        );
        assert_ne!(
            crypto(1).key_fingerprint("k"),
            crypto(2).key_fingerprint("k")
        );
        assert_ne!(crypto(1).key_fingerprint("k"), crypto(1).secret_hash("k"));
        let h = crypto(1).secret_hash("s");
        assert!(crypto(1).verify_secret("s", &h));
        assert!(!crypto(1).verify_secret("t", &h));
    }

    #[test]
    fn master_key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        // No environment override, whatever the environment running the tests says.
        let (c1, s1) = Crypto::load_or_create_with(dir.path(), None).unwrap();
        assert_eq!(s1, MasterKeySource::Created);
        let (c2, s2) = Crypto::load_or_create_with(dir.path(), None).unwrap();
        assert_eq!(s2, MasterKeySource::File);
        let sealed = c1.seal(b"x", b"y").unwrap();
        assert_eq!(&c2.open(b"x", &sealed).unwrap()[..], b"y");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(MASTER_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn environment_master_key_wins_over_the_file_and_creates_none() {
        let dir = tempfile::tempdir().unwrap();
        let env = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let (c, source) = Crypto::load_or_create_with(dir.path(), Some(&env)).unwrap();
        assert_eq!(source, MasterKeySource::Environment);
        assert!(!dir.path().join(MASTER_KEY_FILE).exists());
        // The same key as from_master_key: what one sealed, the other opens.
        let sealed = c.seal(b"a", b"b").unwrap();
        assert_eq!(&crypto(7).open(b"a", &sealed).unwrap()[..], b"b");
        // A file present does not override the environment either.
        std::fs::write(dir.path().join(MASTER_KEY_FILE), [9u8; 32]).unwrap();
        let (c, source) = Crypto::load_or_create_with(dir.path(), Some(&env)).unwrap();
        assert_eq!(source, MasterKeySource::Environment);
        assert_eq!(&c.open(b"a", &sealed).unwrap()[..], b"b");
        assert!(Crypto::load_or_create_with(dir.path(), Some("c2hvcnQ=")).is_err());
    }

    #[test]
    fn env_master_key_must_be_32_bytes() {
        assert!(decode_master("c2hvcnQ=").is_err());
        let ok = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(*decode_master(&ok).unwrap(), [7u8; 32]);
    }
}
