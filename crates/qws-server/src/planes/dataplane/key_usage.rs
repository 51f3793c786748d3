//! Key usage: when and from which address each access key was last accepted, so that an owner
//! can rotate a key knowing that nothing still uses it.
//!
//! Recording stays off the request's hot path: an accepted key only touches an in-memory map
//! (no database write, no waiting), and at most once a minute per key does that note become a
//! pending use. A background task ([`spawn_flusher`]) writes the pending uses to the database
//! every few seconds in one transaction. A use noted in the last seconds before a crash is lost,
//! which is acceptable for a "last used" hint.

use qws_core::keys::KeySlot;
use qws_store::{KeyUse, Store};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A key's use is recorded at most this often.
pub const RECORD_INTERVAL: Duration = Duration::from_secs(60);
/// How often pending uses are written to the database.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(2);
/// Most keys tracked in memory at once (two per workspace); beyond it, uses of further keys
/// wait for room.
const MAX_TRACKED_KEYS: usize = 100_000;

/// One key's in-memory state.
struct Tracked {
    /// When the last use of this key was noted for recording.
    noted: Instant,
    /// A use not yet written to the database.
    pending: Option<KeyUse>,
}

/// The in-memory side of key usage.
#[derive(Default)]
pub struct KeyUsage {
    keys: Mutex<HashMap<(String, KeySlot), Tracked>>,
}

impl std::fmt::Debug for KeyUsage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyUsage").finish_non_exhaustive()
    }
}

impl KeyUsage {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, KeySlot), Tracked>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes that the key in `slot` of workspace `uid` was accepted from `from`.
    pub fn note(&self, uid: &str, slot: KeySlot, from: IpAddr) {
        let now = Instant::now();
        let mut keys = self.lock();
        let key = (uid.to_string(), slot);
        if let Some(t) = keys.get(&key) {
            if now.duration_since(t.noted) < RECORD_INTERVAL {
                return;
            }
        } else if keys.len() >= MAX_TRACKED_KEYS {
            keys.retain(|_, t| {
                t.pending.is_some() || now.duration_since(t.noted) < RECORD_INTERVAL
            });
            if keys.len() >= MAX_TRACKED_KEYS {
                return;
            }
        }
        let at = time::OffsetDateTime::now_utc().unix_timestamp();
        keys.insert(
            key,
            Tracked {
                noted: now,
                pending: Some(KeyUse {
                    at,
                    from: from.to_string(),
                }),
            },
        );
    }

    /// Forgets the keys of these slots (after a regeneration): the next use of the new key is
    /// recorded at once, and a pending use of the old key is dropped.
    pub fn forget(&self, uid: &str, slots: &[KeySlot]) {
        let mut keys = self.lock();
        for slot in slots {
            keys.remove(&(uid.to_string(), *slot));
        }
    }

    /// Takes the uses not yet written.
    pub fn take_pending(&self) -> Vec<(String, KeySlot, KeyUse)> {
        let mut keys = self.lock();
        keys.iter_mut()
            .filter_map(|((uid, slot), t)| t.pending.take().map(|u| (uid.clone(), *slot, u)))
            .collect()
    }
}

/// Writes pending uses to the database every [`FLUSH_INTERVAL`] for as long as the runtime runs.
pub fn spawn_flusher(store: Arc<Store>, usage: Arc<KeyUsage>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let batch = usage.take_pending();
            if batch.is_empty() {
                continue;
            }
            let store = store.clone();
            match tokio::task::spawn_blocking(move || store.record_key_uses(&batch)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "recording key usage failed"),
                Err(e) => tracing::warn!(error = %e, "recording key usage failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_noted_once_per_interval_and_again_after_forget() {
        let u = KeyUsage::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        u.note("w", KeySlot::Primary, ip);
        u.note("w", KeySlot::Primary, "127.0.0.2".parse().unwrap());
        let first = u.take_pending();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].1, KeySlot::Primary);
        assert_eq!(first[0].2.from, "127.0.0.1");
        // Within the interval: nothing new to write.
        u.note("w", KeySlot::Primary, ip);
        assert!(u.take_pending().is_empty());
        // A regenerated key's first use is recorded at once.
        u.forget("w", &[KeySlot::Primary]);
        u.note("w", KeySlot::Primary, ip);
        assert_eq!(u.take_pending().len(), 1);
    }
}
