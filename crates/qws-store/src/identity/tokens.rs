//! Refresh tokens. Only a keyed hash of each token is stored. Each use rotates the token: the
//! presented one is marked used and a new one, in the same family, is returned. Presenting a used
//! token again means it was copied, so the whole family is revoked (the rotation-with-reuse-
//! detection the OAuth 2.0 security best practice recommends). Disabling or deleting a principal,
//! or resetting its password, revokes all of its tokens.

use super::{new_guid, object_in, IdResult, Identity};
use crate::db::{params, Conn, OptionalExtension};
use base64::Engine;
use zeroize::Zeroizing;

/// Every refresh token starts with this, which makes leaked ones easy to recognise.
pub const REFRESH_TOKEN_PREFIX: &str = "qws_rt.";
/// Longest token accepted for look-up.
const MAX_TOKEN_LEN: usize = 128;

/// A refresh token just issued. `Debug` redacts the token.
pub struct RefreshTokenGrant {
    /// The token, to hand to the client once.
    pub token: Zeroizing<String>,
    /// The family (one per sign-in; rotations share it).
    pub family_id: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl std::fmt::Debug for RefreshTokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshTokenGrant")
            .field("token", &"<redacted>")
            .field("family_id", &self.family_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The outcome of redeeming a refresh token.
#[derive(Debug)]
pub enum Redeemed {
    /// Valid: who it was issued to, and its replacement.
    Rotated {
        /// Principal object id.
        object_id: String,
        /// Client the token was issued to.
        client_id: String,
        /// Scope granted at sign-in.
        scope: String,
        /// The new token; the presented one no longer works.
        next: RefreshTokenGrant,
    },
    /// Unknown, expired, issued to another client, or its principal is disabled or gone.
    Invalid,
    /// Already used: the family has been revoked.
    Reused,
}

/// A stored token row (without its hash).
struct StoredToken {
    family: String,
    object_id: String,
    client_id: String,
    scope: String,
    issued_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

fn token_hash(identity: &Identity<'_>, token: &str) -> Vec<u8> {
    // Domain-separated from client-secret hashes, which use the same derived key.
    identity
        .crypto()
        .secret_hash(&format!("refresh-token|{token}"))
}

fn generate() -> IdResult<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    qws_core::keys::fill_random(&mut bytes[..]).map_err(|_| crate::crypto::CryptoError::Random)?;
    Ok(Zeroizing::new(format!(
        "{REFRESH_TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..])
    )))
}

pub(crate) fn revoke_all_in(conn: &Conn, object_id: &str) -> IdResult<usize> {
    Ok(conn.execute(
        "DELETE FROM id_refresh_tokens WHERE object_id = ?1",
        [object_id],
    )?)
}

impl Identity<'_> {
    fn insert_token(
        &self,
        conn: &Conn,
        family_id: &str,
        object_id: &str,
        client_id: &str,
        scope: &str,
        lifetime_secs: i64,
    ) -> IdResult<RefreshTokenGrant> {
        let token = generate()?;
        let now = self.now();
        let expires_at = now.saturating_add(lifetime_secs.max(1));
        conn.execute(
            "INSERT INTO id_refresh_tokens (token_hash, family_id, object_id, client_id, scope, issued_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![token_hash(self, &token), family_id, object_id, client_id, scope, now, expires_at],
        )?;
        Ok(RefreshTokenGrant {
            token,
            family_id: family_id.to_string(),
            expires_at,
        })
    }

    /// Issues a refresh token (a new family) to a principal for a client, valid `lifetime_secs`.
    pub fn issue_refresh_token(
        &self,
        object_id: &str,
        client_id: &str,
        scope: &str,
        lifetime_secs: i64,
    ) -> IdResult<RefreshTokenGrant> {
        let conn = self.conn();
        self.insert_token(
            &conn,
            &new_guid(),
            &object_id.to_ascii_lowercase(),
            client_id,
            scope,
            lifetime_secs,
        )
    }

    /// Redeems a refresh token presented by `client_id`; see [`Redeemed`]. The replacement lives
    /// as long as the original did.
    pub fn redeem_refresh_token(&self, token: &str, client_id: &str) -> IdResult<Redeemed> {
        if token.len() > MAX_TOKEN_LEN || !token.starts_with(REFRESH_TOKEN_PREFIX) {
            return Ok(Redeemed::Invalid);
        }
        let hash = token_hash(self, token);
        let now = self.now();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let row = tx
            .query_row(
                "SELECT family_id, object_id, client_id, scope, issued_at, expires_at, used_at
                 FROM id_refresh_tokens WHERE token_hash = ?1",
                [&hash],
                |r| {
                    Ok(StoredToken {
                        family: r.get(0)?,
                        object_id: r.get(1)?,
                        client_id: r.get(2)?,
                        scope: r.get(3)?,
                        issued_at: r.get(4)?,
                        expires_at: r.get(5)?,
                        used_at: r.get(6)?,
                    })
                },
            )
            .optional()?;
        let Some(StoredToken {
            family,
            object_id: oid,
            client_id: client,
            scope,
            issued_at: issued,
            expires_at: expires,
            used_at: used,
        }) = row
        else {
            return Ok(Redeemed::Invalid);
        };
        if used.is_some() {
            tx.execute(
                "DELETE FROM id_refresh_tokens WHERE family_id = ?1",
                [&family],
            )?;
            tx.commit()?;
            return Ok(Redeemed::Reused);
        }
        if expires <= now || !client.eq_ignore_ascii_case(client_id) {
            return Ok(Redeemed::Invalid);
        }
        if !object_in(&tx, &oid)?.is_some_and(|o| o.enabled) {
            revoke_all_in(&tx, &oid)?;
            tx.commit()?;
            return Ok(Redeemed::Invalid);
        }
        tx.execute(
            "UPDATE id_refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
            params![hash, now],
        )?;
        let next = self.insert_token(&tx, &family, &oid, &client, &scope, expires - issued)?;
        tx.commit()?;
        Ok(Redeemed::Rotated {
            object_id: oid,
            client_id: client,
            scope,
            next,
        })
    }

    /// Revokes every refresh token of a principal; returns how many there were.
    pub fn revoke_refresh_tokens(&self, object_id: &str) -> IdResult<usize> {
        revoke_all_in(&self.conn(), &object_id.to_ascii_lowercase())
    }

    /// Deletes expired tokens, and used ones whose family has expired. Returns how many.
    pub fn purge_expired_refresh_tokens(&self) -> IdResult<usize> {
        Ok(self.conn().execute(
            "DELETE FROM id_refresh_tokens WHERE expires_at <= ?1",
            [self.now()],
        )?)
    }
}
