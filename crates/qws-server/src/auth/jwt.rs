//! Access tokens: compact JWS (ES256, ECDSA P-256 with SHA-256) signed by a key generated at
//! first start and stored sealed under the master key. The public key is published as a JWKS.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

const SIGNING_KEY_META: &str = "jwt_signing_key_pkcs8";
/// Longest token accepted; real ones are ~1–2 KiB.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// The claims qws puts in (and requires from) a token. The optional ones are those Entra puts
/// only in some tokens: `upn`, `name` and `scp` in delegated (user) tokens, `roles` where roles
/// were granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Audience (resource).
    pub aud: String,
    /// Issuer: `{authority}/{tenant}/v2.0`.
    pub iss: String,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Expiry.
    pub exp: i64,
    /// Tenant id.
    pub tid: String,
    /// Object id of the principal.
    pub oid: String,
    /// Subject (= oid for applications).
    pub sub: String,
    /// Application (client) id.
    pub appid: String,
    /// Authorized party (= appid).
    pub azp: String,
    /// `app` for an application's own token, `user` for a token issued to a signed-in user.
    pub idtyp: String,
    /// Token version.
    pub ver: String,
    /// Unique token id.
    pub uti: String,
    /// Unique token id (the JWT spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// User principal name (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Display name (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Delegated scopes, space-separated (user tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// Granted application roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
}

impl Claims {
    /// Whether the token was issued to a signed-in user (delegated), not to an application.
    pub fn is_user(&self) -> bool {
        self.idtyp == "user"
    }
}

/// Why a token failed verification (before time and audience checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not a well-formed JWS, wrong algorithm or unknown key id.
    Malformed,
    /// The signature does not verify.
    BadSignature,
}

/// Most verified tokens remembered (see [`VerifiedTokens`]).
const MAX_VERIFIED_TOKENS: usize = 4096;

/// Signs and verifies tokens.
pub struct TokenSigner {
    key_pair: EcdsaKeyPair,
    kid: String,
    rng: SystemRandom,
    verified: VerifiedTokens,
}

/// Tokens whose signature this signer has verified, by the SHA-256 of the whole token, with the
/// claims they carry. An ECDSA verification is the largest cost of a bearer-token request; a
/// client sends the same token for its whole life, so each is verified once. This is exact, not
/// a staleness window: the signing key never changes while the server runs, so a token that
/// verified once verifies every time, and only a token identical to it (same hash) is looked
/// up. Everything that can change is still checked per request on the claims by the caller
/// (expiry, not-before, issuer, audience) and against the database's change version (the
/// principal and its roles). Only verified tokens enter (failures are not remembered, so junk
/// cannot fill it); bounded, and expired entries are dropped first when it is full.
#[derive(Default)]
struct VerifiedTokens(Mutex<HashMap<[u8; 32], Claims>>);

/// The SHA-256 of a whole token: how verified tokens, and what was decided for them, are
/// remembered (never the token itself).
pub fn token_digest(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl VerifiedTokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Claims>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, digest: &[u8; 32]) -> Option<Claims> {
        self.lock().get(digest).cloned()
    }

    fn put(&self, digest: [u8; 32], claims: &Claims) {
        let mut m = self.lock();
        if m.len() >= MAX_VERIFIED_TOKENS {
            // Past expiry (and the five minutes of skew verifiers allow) a token is refused
            // anyway; if that frees nothing, start over.
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            m.retain(|_, c| c.exp.saturating_add(300) >= now);
            if m.len() >= MAX_VERIFIED_TOKENS {
                m.clear();
            }
        }
        m.insert(digest, claims.clone());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

impl TokenSigner {
    /// Loads the signing key from the store, generating and storing it (sealed) on first start.
    pub fn load_or_create(store: &qws_store::Store) -> anyhow::Result<TokenSigner> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = match store.get_sealed_meta(SIGNING_KEY_META)? {
            Some(p) => p,
            None => {
                let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng)
                    .map_err(|_| anyhow::anyhow!("could not generate the token signing key"))?;
                store.set_sealed_meta(SIGNING_KEY_META, doc.as_ref())?;
                zeroize::Zeroizing::new(doc.as_ref().to_vec())
            }
        };
        let key_pair = EcdsaKeyPair::from_pkcs8(alg, &pkcs8, &rng)
            .map_err(|_| anyhow::anyhow!("the stored token signing key is invalid"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key_pair.public_key().as_ref());
        let kid = B64.encode(&digest.as_ref()[..16]);
        Ok(TokenSigner {
            key_pair,
            kid,
            rng,
            verified: VerifiedTokens::default(),
        })
    }

    /// Key id of the signing key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs claims into a compact JWS.
    pub fn issue(&self, claims: &Claims) -> anyhow::Result<String> {
        self.issue_any(claims)
    }

    /// Signs any claims set (ID tokens have their own) into a compact JWS.
    pub fn issue_any<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let header = Header {
            alg: "ES256".into(),
            typ: "JWT".into(),
            kid: self.kid.clone(),
        };
        let signing_input = format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(&header)?),
            B64.encode(serde_json::to_vec(claims)?)
        );
        let sig = self
            .key_pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| anyhow::anyhow!("token signing failed"))?;
        Ok(format!("{signing_input}.{}", B64.encode(sig.as_ref())))
    }

    /// Verifies the signature and decodes the claims. Time, issuer and audience are the caller's.
    /// A token verified before is not verified again (see [`VerifiedTokens`]).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let digest = token_digest(token);
        if let Some(claims) = self.verified.get(&digest) {
            return Ok(claims);
        }
        let claims = self.verify_signature(token)?;
        self.verified.put(digest, &claims);
        Ok(claims)
    }

    /// [`TokenSigner::verify`] without the memory of verified tokens.
    fn verify_signature(&self, token: &str) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if header.alg != "ES256" || header.kid != self.kid {
            return Err(TokenError::Malformed);
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.key_pair.public_key().as_ref(),
        );
        let signed_len = h.len() + 1 + p.len();
        public
            .verify(&token.as_bytes()[..signed_len], &sig)
            .map_err(|_| TokenError::BadSignature)?;
        B64.decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)
    }

    /// The JWKS document publishing the verification key.
    pub fn jwks(&self) -> serde_json::Value {
        // Uncompressed SEC1 point: 0x04 ‖ X (32 bytes) ‖ Y (32 bytes).
        let point = self.key_pair.public_key().as_ref();
        serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
        }]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let key_pair = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref(), &rng).unwrap();
        TokenSigner {
            key_pair,
            kid: "test".into(),
            rng,
            verified: VerifiedTokens::default(),
        }
    }

    fn claims(oid: &str, exp: i64) -> Claims {
        Claims {
            oid: oid.into(),
            exp,
            ..Claims::default()
        }
    }

    /// The token with one character of its part `part` (0 header, 1 payload, 2 signature)
    /// changed.
    fn altered(token: &str, part: usize) -> String {
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let p = &mut parts[part];
        let c = if p.ends_with('A') { "B" } else { "A" };
        p.replace_range(p.len() - 1.., c);
        parts.join(".")
    }

    #[test]
    fn a_verified_token_is_remembered_and_an_altered_one_still_refused() {
        let s = signer();
        let token = s.issue(&claims("a", i64::MAX / 2)).unwrap();
        assert_eq!(s.verify(&token).unwrap().oid, "a");
        assert_eq!(s.verified.len(), 1);
        assert_eq!(s.verify(&token).unwrap().oid, "a");
        assert_eq!(s.verified.len(), 1);
        // Another payload under the remembered signature, or another signature: refused.
        assert!(s.verify(&altered(&token, 1)).is_err());
        assert!(s.verify(&altered(&token, 2)).is_err());
        assert_eq!(s.verified.len(), 1, "failures are not remembered");
        // Another signer's token (another key) is refused although one with its claims is
        // remembered here.
        let forged = signer().issue(&claims("a", i64::MAX / 2)).unwrap();
        assert_eq!(s.verify(&forged), Err(TokenError::BadSignature));
    }

    #[test]
    fn the_memory_is_bounded_and_drops_expired_tokens_first() {
        let s = signer();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let live = claims("live", now + 3600);
        let expired = claims("expired", now - 3600);
        for i in 0..MAX_VERIFIED_TOKENS - 1 {
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&(i as u64).to_le_bytes());
            digest[31] = 1;
            s.verified.put(digest, &expired);
        }
        s.verified.put([9; 32], &live);
        assert_eq!(s.verified.len(), MAX_VERIFIED_TOKENS);
        s.verified.put([8; 32], &live);
        assert_eq!(s.verified.len(), 2, "the expired ones were dropped");
        assert!(s.verified.get(&[9; 32]).is_some());
    }
}
