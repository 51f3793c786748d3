//! Workspaces as a data-plane request needs them, kept in memory between changes: the record,
//! and the keyed fingerprints (HMAC-SHA256 under a master-key-derived key) of its access keys —
//! never the keys themselves. Valid only at the change version they were read at
//! ([`crate::change`]), so a regenerated or disabled key or a deleted workspace is refused on
//! the next request, whichever process made the change.

use super::{KeyCheck, Result, Store, WorkspaceRecord};
use crate::change::VersionedCache;
use crate::db::params;
use qws_core::keys::KeySlot;
use qws_core::resource_id::WorkspaceId;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// Workspaces cached at once (unknown names included, so that a refusal costs the same).
const WORKSPACE_CACHE_MAX: usize = 4096;

/// A workspace and the fingerprints of its keys.
#[derive(Clone)]
pub struct WorkspaceCredentials {
    /// The record.
    pub record: WorkspaceRecord,
    /// Each slot's key: its version (bumped by every regeneration) and fingerprint.
    fingerprints: Vec<(KeySlot, i64, Vec<u8>)>,
}

impl WorkspaceCredentials {
    /// The version of the key in `slot` while that key is usable (keys enabled), as
    /// [`Store::live_key_version`] reads it, at the change version these credentials were read
    /// at: what a SAS minted for a caller of that key names.
    pub fn live_key_version(&self, slot: KeySlot) -> Option<i64> {
        if !self.record.api_key_enabled {
            return None;
        }
        self.fingerprints
            .iter()
            .find(|(s, _, _)| *s == slot)
            .map(|(_, version, _)| *version)
    }
}

impl std::fmt::Debug for WorkspaceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceCredentials")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}

/// Cached lookups by workspace id: `None` remembers that no such workspace exists.
pub(crate) struct WorkspaceCache(VersionedCache<String, Option<Arc<WorkspaceCredentials>>>);

impl Default for WorkspaceCache {
    fn default() -> Self {
        WorkspaceCache(VersionedCache::new(WORKSPACE_CACHE_MAX))
    }
}

/// The cache key: the id as names compare (case-insensitively).
fn cache_key(ws: &WorkspaceId) -> String {
    format!(
        "{}/{}/{}",
        ws.subscription,
        ws.resource_group.key(),
        ws.workspace.key()
    )
}

/// A fingerprint no key has, compared against when the workspace is unknown so that a refusal
/// does the same comparisons either way.
const NO_FINGERPRINT: [u8; 32] = [0; 32];

impl Store {
    /// The workspace and its key fingerprints from memory if nothing access-relevant has
    /// changed since they were read at `version` (from [`Store::change_version`]): `Some(None)`
    /// for a workspace known not to exist, `None` when the database must be asked
    /// ([`Store::workspace_credentials`]).
    pub fn cached_workspace_credentials(
        &self,
        ws: &WorkspaceId,
        version: u64,
    ) -> Option<Option<Arc<WorkspaceCredentials>>> {
        self.workspace_cache.0.get(version, &cache_key(ws))
    }

    /// The workspace and its key fingerprints, read from the database and remembered at the
    /// change version read just before.
    pub fn workspace_credentials(
        &self,
        ws: &WorkspaceId,
    ) -> Result<Option<Arc<WorkspaceCredentials>>> {
        let version = self.change_version()?;
        if let Some(hit) = self.cached_workspace_credentials(ws, version) {
            return Ok(hit);
        }
        let found = match self.get_workspace(ws)? {
            None => None,
            Some(record) => {
                let fingerprints = {
                    let conn = self.conn();
                    let mut st = conn.prepare_cached(
                        "SELECT slot, version, fingerprint FROM workspace_keys WHERE workspace_uid = ?1",
                    )?;
                    let rows = st.query_map(params![record.uid], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                        ))
                    })?;
                    let mut out = Vec::new();
                    for row in rows {
                        let (slot, version, fp) = row?;
                        if let Some(slot) = KeySlot::parse(&slot) {
                            out.push((slot, version, fp));
                        }
                    }
                    out
                };
                Some(Arc::new(WorkspaceCredentials {
                    record,
                    fingerprints,
                }))
            }
        };
        self.workspace_cache
            .0
            .put(version, cache_key(ws), found.clone());
        Ok(found)
    }

    /// Checks a presented access key against a workspace's (`None`: unknown workspace): the
    /// keyed fingerprint of `presented` is compared in constant time with every slot's, and
    /// the same work is done whether or not the workspace exists. Refused while keys are
    /// disabled or while the workspace is being deleted.
    pub fn match_access_key(
        &self,
        creds: Option<&WorkspaceCredentials>,
        presented: &str,
    ) -> KeyCheck {
        let fp = self.crypto().key_fingerprint(presented);
        let slots: [(KeySlot, &[u8]); 2] = match creds {
            Some(c) => KeySlot::ALL.map(|slot| {
                let stored = c
                    .fingerprints
                    .iter()
                    .find(|(s, _, _)| *s == slot)
                    .map(|(_, _, f)| f.as_slice())
                    .unwrap_or(&NO_FINGERPRINT);
                (slot, stored)
            }),
            None => [
                (KeySlot::Primary, &NO_FINGERPRINT),
                (KeySlot::Secondary, &NO_FINGERPRINT),
            ],
        };
        let mut matched = None;
        for (slot, stored) in slots {
            if bool::from(stored.ct_eq(fp.as_slice())) {
                matched = Some(slot);
            }
        }
        let usable = creds
            .map(|c| c.record.api_key_enabled && c.record.deleting_op.is_none())
            .unwrap_or(false);
        match (matched, usable) {
            (Some(KeySlot::Primary), true) => KeyCheck::Primary,
            (Some(KeySlot::Secondary), true) => KeyCheck::Secondary,
            _ => KeyCheck::Refused,
        }
    }
}
