//! User passwords: the policy a new password must meet, argon2id hashing, and the lockout
//! that slows down guessing.
//!
//! Hashes use argon2id with OWASP's recommended minimum (19 MiB of memory, 2 passes, 1 lane) and a
//! 16-byte random salt per hash, stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`), so
//! the parameters travel with each hash and can be raised later without invalidating old ones.
//! Each hash costs about 19 MiB and tens of milliseconds; callers should bound how many run at
//! once.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

/// Memory cost in KiB (19 MiB).
pub const ARGON2_M_KIB: u32 = 19 * 1024;
/// Passes.
pub const ARGON2_T: u32 = 2;
/// Lanes.
pub const ARGON2_P: u32 = 1;
/// Shortest password accepted (Entra ID's minimum).
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted (Entra ID's maximum); also bounds hashing work.
pub const MAX_PASSWORD_LEN: usize = 256;

/// Why a password was refused. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_LEN`] or more than [`MAX_PASSWORD_LEN`] characters.
    #[error("a password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters long")]
    Length,
    /// Not enough kinds of characters.
    #[error(
        "a password must contain three of: lower-case letters, upper-case letters, digits, symbols"
    )]
    Complexity,
    /// Control characters are not allowed.
    #[error("a password must not contain control characters")]
    ControlCharacter,
}

/// Checks Entra ID's password rules: 8 to 256 characters, at least three of the four character
/// classes, no control characters.
pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) {
        return Err(PasswordError::Length);
    }
    if password.chars().any(char::is_control) {
        return Err(PasswordError::ControlCharacter);
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|&&b| b).count() < 3 {
        return Err(PasswordError::Complexity);
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(32))
        .expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with a fresh random salt. Returns the PHC string.
pub fn hash_password(password: &str) -> Result<String, crate::crypto::CryptoError> {
    let mut salt = [0u8; 16];
    qws_core::keys::fill_random(&mut salt).map_err(|_| crate::crypto::CryptoError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| crate::crypto::CryptoError::Random)?;
    let hash = hasher()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|_| crate::crypto::CryptoError::Random)?;
    Ok(hash.to_string())
}

/// Verifies a password against a PHC string, using the parameters recorded in it. Malformed
/// hashes verify as false. Over-long input is refused before any hashing work.
pub fn verify_password(password: &str, phc: &str) -> bool {
    if password.len() > 4 * MAX_PASSWORD_LEN {
        return false;
    }
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same work as a real verification, so that a sign-in for an unknown user cannot be
/// told apart by its timing.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc =
        DUMMY.get_or_init(|| hash_password("qws dummy password, never valid").unwrap_or_default());
    let _ = verify_password(password, phc);
}

/// How failed sign-ins lock an account: after `threshold` consecutive failures the account is
/// locked for `base_secs`, and each further failure (once the lock ends) doubles the lock, up to
/// `max_secs`. A successful sign-in or a password reset clears the count. Attempts while locked
/// are refused without checking the password and do not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures before the first lock.
    pub threshold: u32,
    /// First lock, seconds.
    pub base_secs: i64,
    /// Longest lock, seconds.
    pub max_secs: i64,
}

impl Default for LockoutPolicy {
    /// Entra ID's smart-lockout defaults: 10 failures, 60 seconds; doubling up to an hour.
    fn default() -> Self {
        LockoutPolicy {
            threshold: 10,
            base_secs: 60,
            max_secs: 3600,
        }
    }
}

impl LockoutPolicy {
    /// The lock, in seconds, after `failures` consecutive failures (0 = not locked).
    pub fn lock_secs(&self, failures: u32) -> i64 {
        if failures < self.threshold.max(1) {
            return 0;
        }
        let doublings = (failures - self.threshold.max(1)).min(62);
        self.base_secs
            .saturating_mul(1i64.checked_shl(doublings).unwrap_or(i64::MAX))
            .min(self.max_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_unique_salts() {
        let a = hash_password("Correct-Horse-1").unwrap();
        let b = hash_password("Correct-Horse-1").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        let parsed = PasswordHash::new(&a).unwrap();
        assert_eq!(parsed.salt.unwrap().as_str().len(), 22, "16-byte salt");
        assert!(verify_password("Correct-Horse-1", &a));
        assert!(!verify_password("Correct-Horse-2", &a));
        assert!(!verify_password("Correct-Horse-1", "not a hash"));
        assert!(!verify_password(&"x".repeat(5000), &a));
    }

    #[test]
    fn policy_follows_entra() {
        assert_eq!(check_policy("Sh0rt!"), Err(PasswordError::Length));
        assert_eq!(check_policy(&"Aa1!".repeat(65)), Err(PasswordError::Length));
        assert_eq!(check_policy("alllowercase"), Err(PasswordError::Complexity));
        assert_eq!(check_policy("lowerUPPER"), Err(PasswordError::Complexity));
        assert_eq!(
            check_policy("lower\nUPPER1"),
            Err(PasswordError::ControlCharacter)
        );
        assert_eq!(check_policy("lowerUPPER1"), Ok(()));
        assert_eq!(check_policy("lower-case-1"), Ok(()));
    }

    #[test]
    fn lockout_backs_off_exponentially_with_a_cap() {
        let p = LockoutPolicy {
            threshold: 3,
            base_secs: 60,
            max_secs: 600,
        };
        let locks: Vec<i64> = (0..9).map(|n| p.lock_secs(n)).collect();
        assert_eq!(locks, vec![0, 0, 0, 60, 120, 240, 480, 600, 600]);
        assert_eq!(p.lock_secs(u32::MAX), 600);
        assert_eq!(LockoutPolicy::default().lock_secs(10), 60);
    }
}
