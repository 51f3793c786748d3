//! Workspace access keys.
//!
//! A key is 64 bytes from the OS CSPRNG rendered as 86 characters of URL-safe base64 without
//! padding, in the "identifiable key" layout Azure uses: characters 76..80 are the signature `AZQU`
//! (so secret scanners recognise a leaked key) and the last 6 characters carry a 4-byte check value.
//! The check value here is the first 4 bytes of SHA-256 over the first 57 bytes; it lets the server
//! discard malformed input cheaply. It is not Microsoft's Marvin checksum: clients treat keys as
//! opaque, and only the shape matters to them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Length of a key in characters.
pub const KEY_LEN: usize = 86;
/// Character offset of the `AZQU` signature.
pub const SIGNATURE_OFFSET: usize = 76;
/// The Azure Quantum key signature.
pub const SIGNATURE: &str = "AZQU";

/// Which of a workspace's two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum KeySlot {
    /// The primary key.
    Primary,
    /// The secondary key.
    Secondary,
}

impl KeySlot {
    /// `Primary` / `Secondary` (the ARM `KeyType` values).
    pub fn as_str(self) -> &'static str {
        match self {
            KeySlot::Primary => "Primary",
            KeySlot::Secondary => "Secondary",
        }
    }

    /// Parses the ARM `KeyType` value, case-sensitively as the service does.
    pub fn parse(s: &str) -> Option<KeySlot> {
        match s {
            "Primary" => Some(KeySlot::Primary),
            "Secondary" => Some(KeySlot::Secondary),
            _ => None,
        }
    }

    /// Both slots, primary first.
    pub const ALL: [KeySlot; 2] = [KeySlot::Primary, KeySlot::Secondary];
}

impl fmt::Display for KeySlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret access key. `Debug` and `Display` are redacted, the buffer is zeroed on drop, and
/// equality is constant-time. Read the secret only through [`ApiKey::expose`].
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

/// Why a random source failed (the OS CSPRNG is unavailable).
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError;

/// Fills `buf` from the OS CSPRNG.
pub fn fill_random(buf: &mut [u8]) -> Result<(), RandomError> {
    use ring::rand::SecureRandom;
    ring::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| RandomError)
}

fn check_value(prefix: &[u8]) -> [u8; 4] {
    let d = ring::digest::digest(&ring::digest::SHA256, prefix);
    let mut out = [0u8; 4];
    out.copy_from_slice(&d.as_ref()[..4]);
    out
}

fn signature_bytes() -> [u8; 3] {
    // "AZQU" is 4 base64 characters = 3 bytes; it starts on a 3-byte boundary (76 chars = 57 bytes).
    let v = URL_SAFE_NO_PAD
        .decode(SIGNATURE)
        .expect("constant is valid base64");
    [v[0], v[1], v[2]]
}

impl ApiKey {
    /// Generates a fresh key from the OS CSPRNG.
    pub fn generate() -> Result<ApiKey, RandomError> {
        let mut raw = Zeroizing::new([0u8; 64]);
        fill_random(&mut raw[..57])?;
        raw[57..60].copy_from_slice(&signature_bytes());
        let check = check_value(&raw[..57]);
        raw[60..64].copy_from_slice(&check);
        let text = Zeroizing::new(URL_SAFE_NO_PAD.encode(&raw[..]));
        debug_assert_eq!(text.len(), KEY_LEN);
        Ok(ApiKey(text))
    }

    /// Wraps a presented key (any string; use [`ApiKey::is_well_formed`] to check the shape).
    pub fn from_presented(s: &str) -> ApiKey {
        ApiKey(Zeroizing::new(s.to_string()))
    }

    /// The secret text. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the key has the 86-character `AZQU` shape and a valid check value.
    pub fn is_well_formed(&self) -> bool {
        let s = self.expose();
        if s.len() != KEY_LEN || s.get(SIGNATURE_OFFSET..SIGNATURE_OFFSET + 4) != Some(SIGNATURE) {
            return false;
        }
        let Ok(raw) = URL_SAFE_NO_PAD.decode(s) else {
            return false;
        };
        let raw = Zeroizing::new(raw);
        raw.len() == 64 && raw[60..64] == check_value(&raw[..57])
    }

    /// Constant-time comparison of the secret bytes (the length is not secret).
    pub fn ct_eq(&self, other: &ApiKey) -> bool {
        self.expose()
            .as_bytes()
            .ct_eq(other.expose().as_bytes())
            .into()
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for ApiKey {}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_azure_shape() {
        for _ in 0..200 {
            let k = ApiKey::generate().unwrap();
            let s = k.expose();
            assert_eq!(s.len(), 86);
            assert_eq!(&s[76..80], "AZQU");
            assert!(s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            assert!(matches!(s.chars().last().unwrap(), 'A' | 'Q' | 'g' | 'w'));
            assert!(k.is_well_formed());
        }
    }

    #[test]
    fn keys_are_distinct_and_compare_by_value() {
        let a = ApiKey::generate().unwrap();
        let b = ApiKey::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a, ApiKey::from_presented(a.expose()));
        assert!(!a.ct_eq(&ApiKey::from_presented("short")));
    }

    #[test]
    fn tampered_keys_are_not_well_formed() {
        let k = ApiKey::generate().unwrap();
        let mut s = k.expose().to_string();
        let c = if s.starts_with('A') { "B" } else { "A" };
        s.replace_range(0..1, c);
        assert!(!ApiKey::from_presented(&s).is_well_formed());
        assert!(!ApiKey::from_presented("").is_well_formed());
    }

    #[test]
    fn debug_and_display_are_redacted() {
        let k = ApiKey::generate().unwrap();
        assert!(!format!("{k:?}").contains(k.expose()));
        assert!(!format!("{k}").contains(k.expose()));
    }

    #[test]
    fn slots_parse_case_sensitively() {
        assert_eq!(KeySlot::parse("Primary"), Some(KeySlot::Primary));
        assert_eq!(KeySlot::parse("primary"), None);
    }
}
