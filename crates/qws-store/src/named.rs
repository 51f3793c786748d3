//! Items a workspace holds under names of the caller's choosing (access tokens, webhooks): rows
//! keyed by `(workspace_uid, name_key)`, where `name_key` is the lower-cased name (names are
//! unique per workspace without regard to case), each created with a random secret.

use crate::db::{params, OptionalExtension, Row};
use crate::{Result, Store, StoreError};
use zeroize::Zeroizing;

/// A table of named workspace items and how one of its rows becomes a `T`.
pub(crate) struct NamedItems<T> {
    /// The table.
    pub table: &'static str,
    /// The columns `row` reads, in its order.
    pub columns: &'static str,
    /// The row reader.
    pub row: fn(&Row<'_>) -> crate::db::Result<T>,
}

impl<T> NamedItems<T> {
    /// The workspace's items, by name.
    pub fn list(&self, store: &Store, workspace_uid: &str) -> Result<Vec<T>> {
        let conn = store.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {} FROM {} WHERE workspace_uid = ?1 ORDER BY name_key",
            self.columns, self.table
        ))?;
        let rows = st.query_map(params![workspace_uid], self.row)?;
        Ok(rows.collect::<crate::db::Result<_>>()?)
    }

    /// One item by name (case-insensitive).
    pub fn get(&self, store: &Store, workspace_uid: &str, name: &str) -> Result<Option<T>> {
        Ok(store
            .conn()
            .query_row(
                &format!(
                    "SELECT {} FROM {} WHERE workspace_uid = ?1 AND name_key = ?2",
                    self.columns, self.table
                ),
                params![workspace_uid, name.to_lowercase()],
                self.row,
            )
            .optional()?)
    }
}

/// A new secret: `prefix` and 32 bytes from the OS random source, base64url.
pub(crate) fn new_secret(prefix: &str) -> Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    qws_core::keys::fill_random(&mut bytes[..])
        .map_err(|_| StoreError::Corrupt("the system random source failed".into()))?;
    use base64::Engine;
    Ok(Zeroizing::new(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..])
    )))
}
