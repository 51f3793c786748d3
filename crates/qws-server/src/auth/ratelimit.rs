//! Throttling of failed authentication per client address (fixed window). A 256-bit key cannot
//! be guessed anyway; the limit protects CPU and logs and makes scanners visible.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bound on tracked addresses; beyond it expired entries are purged, then the oldest dropped.
const MAX_TRACKED: usize = 10_000;

/// Counts failures per IP in a fixed window.
#[derive(Debug)]
pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    map: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    /// `limit` failures per `window`.
    pub fn new(limit: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            limit,
            window,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after_secs)` while the address is over its limit.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(&ip) {
            Some((start, n)) if *n >= self.limit && start.elapsed() < self.window => {
                Err((self.window - start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Records one failure.
    pub fn record_failure(&self, ip: IpAddr) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            let window = self.window;
            map.retain(|_, (start, _)| start.elapsed() < window);
            if map.len() >= MAX_TRACKED {
                if let Some(oldest) = map.iter().min_by_key(|(_, (s, _))| *s).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let entry = map.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_after_n_failures_per_address() {
        let l = FailureLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(l.check(a).is_ok());
        l.record_failure(a);
        l.record_failure(a);
        let retry = l.check(a).unwrap_err();
        assert!((1..=60).contains(&retry));
        assert!(l.check(b).is_ok());
    }

    #[test]
    fn window_resets() {
        let l = FailureLimiter::new(1, Duration::from_millis(0));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        l.record_failure(a);
        assert!(l.check(a).is_ok());
    }
}
