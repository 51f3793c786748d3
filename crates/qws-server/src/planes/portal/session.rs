//! Portal sessions: a random cookie value names a server-side session, so signing out (or the
//! timeouts) revokes it at once. Only a SHA-256 of the cookie is kept as the map key, so the
//! map never holds a usable credential. Sessions live in memory: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The session cookie. `__Host-` makes the browser insist on Secure, Path=/ and no Domain.
pub const COOKIE: &str = "__Host-qws-portal";
/// The pre-session cookie naming a sign-in in progress (its `state` and PKCE verifier).
pub const SIGNIN_COOKIE: &str = "__Host-qws-signin";
/// A session unused this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// At most this many live sessions (expired ones are dropped first when it is reached).
pub const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user's object id.
    pub user_oid: String,
    /// The token every state-changing request must echo (form field or header).
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.created) < ABSOLUTE_TIMEOUT
            && now.duration_since(self.last_seen) < IDLE_TIMEOUT
    }
}

/// Live sessions by cookie hash.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

/// A random URL-safe token of 256 bits.
pub fn random_token() -> Option<Zeroizing<String>> {
    use base64::Engine;
    let mut raw = Zeroizing::new([0u8; 32]);
    qws_core::keys::fill_random(&mut raw[..]).ok()?;
    Some(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw[..]),
    ))
}

pub(crate) fn key_of(cookie: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, cookie.as_bytes());
    let mut k = [0u8; 32];
    k.copy_from_slice(d.as_ref());
    k
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Sessions {
    /// Starts a session for a user; returns the cookie value (`None`: no randomness, or full).
    pub fn create(&self, user_oid: &str) -> Option<Zeroizing<String>> {
        let cookie = random_token()?;
        let csrf = random_token()?;
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.live(now));
            if map.len() >= MAX_SESSIONS {
                return None;
            }
        }
        map.insert(
            key_of(&cookie),
            Session {
                user_oid: user_oid.to_string(),
                csrf: csrf.to_string(),
                created: now,
                last_seen: now,
            },
        );
        Some(cookie)
    }

    /// The live session a cookie names, marking it used; an expired one is removed.
    pub fn touch(&self, cookie: &str) -> Option<Session> {
        let now = Instant::now();
        let key = key_of(cookie);
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let s = map.get_mut(&key)?;
        if !s.live(now) {
            map.remove(&key);
            return None;
        }
        s.last_seen = now;
        Some(s.clone())
    }

    /// Ends the session a cookie names.
    pub fn revoke(&self, cookie: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&key_of(cookie));
    }

    /// Ends every session of a user.
    pub fn revoke_user(&self, user_oid: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.user_oid != user_oid);
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie_value<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// `Set-Cookie` for a session-bound cookie (no Max-Age: gone when the browser closes).
pub fn set_cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// `Set-Cookie` for the pre-session cookie of a sign-in in progress: `Lax`, because the
/// callback is a top-level navigation redirected from the sign-in page, and short-lived.
pub fn set_pre_session_cookie(name: &str, value: &str, max_age_secs: u64) -> String {
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}")
}

/// `Set-Cookie` that removes a cookie.
pub fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_found_by_cookie_and_revoked() {
        let s = Sessions::default();
        let c = s.create("oid-1").unwrap();
        let got = s.touch(&c).unwrap();
        assert_eq!(got.user_oid, "oid-1");
        assert!(s.touch("not-a-session").is_none());
        s.revoke(&c);
        assert!(s.touch(&c).is_none());
        let c2 = s.create("oid-2").unwrap();
        s.revoke_user("oid-2");
        assert!(s.touch(&c2).is_none());
    }

    #[test]
    fn each_session_gets_its_own_cookie_and_csrf_token() {
        let s = Sessions::default();
        let (a, b) = (s.create("u").unwrap(), s.create("u").unwrap());
        assert_ne!(*a, *b);
        assert_ne!(s.touch(&a).unwrap().csrf, s.touch(&b).unwrap().csrf);
    }

    #[test]
    fn cookies_are_read_from_any_cookie_header() {
        let mut h = axum::http::HeaderMap::new();
        h.append("cookie", "a=1; __Host-qws-portal=xyz".parse().unwrap());
        assert_eq!(cookie_value(&h, COOKIE), Some("xyz"));
        assert_eq!(cookie_value(&h, "b"), None);
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("a", "ab"));
    }
}
