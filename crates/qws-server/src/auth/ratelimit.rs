//! Counting failed authentication: the one limiter every plane uses (through [`super::gate`]).
//!
//! Failures are counted in a fixed window twice: per client address, and per *target*, the thing
//! being guessed (a workspace for access keys, a client id for secrets, the identity header…).
//! There is deliberately no "is this caller blocked?" query: the limiter is consulted only after a
//! credential has failed, so a valid credential is never refused because someone else (or a
//! neighbour on the same address) kept failing. Only failing attempts are ever throttled.
//!
//! Both tables are bounded. When one is full of live counters, a failure that has no counter yet
//! is treated as throttled rather than evicting someone's counter (which would let a flood reset
//! its own count); since only failing attempts reach the limiter, that costs valid callers nothing.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counters kept per table; beyond it expired ones are purged, then new keys count as throttled.
pub const MAX_TRACKED: usize = 10_000;

/// What a failed attempt aimed at, reduced to a fixed-size digest: the tables never hold (and
/// `Debug` never prints) the presented value, which may be a secret typed into the wrong field.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuessTarget([u8; 16]);

impl GuessTarget {
    /// The target `name` of kind `kind` (`"workspace"`, `"client"`, …).
    pub fn new(kind: &str, name: &str) -> GuessTarget {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(kind.as_bytes());
        ctx.update(&[0]);
        ctx.update(name.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&ctx.finish().as_ref()[..16]);
        GuessTarget(out)
    }
}

impl std::fmt::Debug for GuessTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GuessTarget(..)")
    }
}

/// The limiter's answer for one failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limits: answer with the plane's ordinary refusal.
    Refused,
    /// Over a limit: answer 429 (or the plane's equivalent) with `Retry-After: retry_after`.
    /// `first` is true for the attempt that crossed the limit, so callers can record the start
    /// of throttling once instead of every throttled attempt.
    Throttled {
        /// Seconds until the window that is over its limit ends (at least 1).
        retry_after: u64,
        /// This attempt crossed the limit.
        first: bool,
    },
}

/// Failed authentications per client address and per target, `limit` per `window` each.
#[derive(Debug)]
pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    by_address: Mutex<Counters<IpAddr>>,
    by_target: Mutex<Counters<GuessTarget>>,
}

impl FailureLimiter {
    /// `limit` failures per `window`, per address and per target.
    pub fn new(limit: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            limit,
            window,
            by_address: Mutex::new(Counters::new(MAX_TRACKED)),
            by_target: Mutex::new(Counters::new(MAX_TRACKED)),
        }
    }

    /// Counts one failed attempt from `ip` at `target` and says whether it is throttled. The
    /// first `limit` failures of a window (per address and per target) are [`Verdict::Refused`];
    /// later ones are [`Verdict::Throttled`] until that window ends.
    pub fn record_failure(&self, ip: IpAddr, target: Option<GuessTarget>) -> Verdict {
        let now = Instant::now();
        let mut verdict = lock(&self.by_address).count(ip, now, self.limit, self.window);
        if let Some(t) = target {
            let v = lock(&self.by_target).count(t, now, self.limit, self.window);
            verdict = worse(verdict, v);
        }
        verdict
    }

    /// Counters currently held (both tables); for tests of the memory bound.
    pub fn tracked(&self) -> usize {
        lock(&self.by_address).map.len() + lock(&self.by_target).map.len()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The stricter of two verdicts (throttled beats refused; the longer wait wins).
fn worse(a: Verdict, b: Verdict) -> Verdict {
    match (a, b) {
        (Verdict::Refused, v) | (v, Verdict::Refused) => v,
        (
            Verdict::Throttled {
                retry_after: r1,
                first: f1,
            },
            Verdict::Throttled {
                retry_after: r2,
                first: f2,
            },
        ) => Verdict::Throttled {
            retry_after: r1.max(r2),
            first: f1 || f2,
        },
    }
}

/// One bounded table of fixed-window counters.
#[derive(Debug)]
struct Counters<K> {
    cap: usize,
    map: HashMap<K, (Instant, u32)>,
    /// No counter expires before this, so a full table is not rescanned before then.
    next_expiry: Option<Instant>,
}

impl<K: Hash + Eq + Copy> Counters<K> {
    fn new(cap: usize) -> Counters<K> {
        Counters {
            cap,
            map: HashMap::new(),
            next_expiry: None,
        }
    }

    fn count(&mut self, key: K, now: Instant, limit: u32, window: Duration) -> Verdict {
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            if self.next_expiry.is_none_or(|t| now >= t) {
                self.map
                    .retain(|_, (start, _)| now.duration_since(*start) < window);
                self.next_expiry = self.map.values().map(|(s, _)| *s + window).min();
            }
            if self.map.len() >= self.cap {
                let wait = self.next_expiry.map_or(window, |t| t - now);
                return Verdict::Throttled {
                    retry_after: whole_seconds(wait),
                    first: false,
                };
            }
        }
        let entry = self.map.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        if entry.1 <= limit {
            return Verdict::Refused;
        }
        Verdict::Throttled {
            retry_after: whole_seconds(window.saturating_sub(now.duration_since(entry.0))),
            first: entry.1 == limit.saturating_add(1),
        }
    }
}

/// `Retry-After` seconds: rounded up, at least 1.
fn whole_seconds(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn throttles_an_address_after_limit_failures() {
        let l = FailureLimiter::new(2, Duration::from_secs(60));
        assert_eq!(l.record_failure(ip("127.0.0.1"), None), Verdict::Refused);
        assert_eq!(l.record_failure(ip("127.0.0.1"), None), Verdict::Refused);
        match l.record_failure(ip("127.0.0.1"), None) {
            Verdict::Throttled { retry_after, first } => {
                assert!((1..=60).contains(&retry_after));
                assert!(first);
            }
            v => panic!("{v:?}"),
        }
        assert!(matches!(
            l.record_failure(ip("127.0.0.1"), None),
            Verdict::Throttled { first: false, .. }
        ));
        assert_eq!(l.record_failure(ip("127.0.0.2"), None), Verdict::Refused);
    }

    #[test]
    fn throttles_a_target_across_addresses() {
        let l = FailureLimiter::new(2, Duration::from_secs(60));
        let ws = GuessTarget::new("workspace", "s/rg/ws");
        assert_eq!(
            l.record_failure(ip("127.0.0.1"), Some(ws)),
            Verdict::Refused
        );
        assert_eq!(
            l.record_failure(ip("127.0.0.2"), Some(ws)),
            Verdict::Refused
        );
        assert!(matches!(
            l.record_failure(ip("127.0.0.3"), Some(ws)),
            Verdict::Throttled { first: true, .. }
        ));
        let other = GuessTarget::new("workspace", "s/rg/other");
        assert_eq!(
            l.record_failure(ip("127.0.0.4"), Some(other)),
            Verdict::Refused
        );
    }

    #[test]
    fn the_window_resets() {
        let l = FailureLimiter::new(1, Duration::ZERO);
        for _ in 0..3 {
            assert_eq!(l.record_failure(ip("127.0.0.1"), None), Verdict::Refused);
        }
    }

    #[test]
    fn a_full_table_throttles_new_keys_instead_of_evicting() {
        let mut c: Counters<u32> = Counters::new(3);
        let (now, w) = (Instant::now(), Duration::from_secs(60));
        for k in 0..3 {
            assert_eq!(c.count(k, now, 5, w), Verdict::Refused);
        }
        assert!(matches!(
            c.count(99, now, 5, w),
            Verdict::Throttled { first: false, .. }
        ));
        assert_eq!(c.map.len(), 3, "bounded");
        // Known keys keep counting normally.
        assert_eq!(c.count(0, now, 5, w), Verdict::Refused);
        // Once the window has passed, expired counters make room.
        let later = now + w;
        assert_eq!(c.count(99, later, 5, w), Verdict::Refused);
        assert_eq!(c.map.len(), 1);
    }

    #[test]
    fn targets_are_digests() {
        let a = GuessTarget::new("client", "qws~secret");
        assert_eq!(a, GuessTarget::new("client", "qws~secret"));
        assert_ne!(a, GuessTarget::new("workspace", "qws~secret"));
        assert!(!format!("{a:?}").contains("secret"));
    }
}
