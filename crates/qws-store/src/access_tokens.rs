//! Workspace access tokens: named, scoped (read or submit), time-limited credentials for one
//! workspace's data plane, revocable one by one, with their last use recorded. Only an HMAC
//! fingerprint of each token is stored; the token itself is shown once, when created.

use crate::db::{params, OptionalExtension};
use crate::named::{new_secret, NamedItems};
use crate::{Result, Store};
use zeroize::Zeroizing;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAccess {
    /// Reading jobs, sessions and their results.
    Read,
    /// Reading and submitting (jobs, sessions, storage SAS, uploads).
    Submit,
}

impl TokenAccess {
    /// `Read` or `Submit`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenAccess::Read => "Read",
            TokenAccess::Submit => "Submit",
        }
    }

    /// Case-insensitive.
    pub fn parse(s: &str) -> Option<TokenAccess> {
        match s.to_ascii_lowercase().as_str() {
            "read" => Some(TokenAccess::Read),
            "submit" => Some(TokenAccess::Submit),
            _ => None,
        }
    }
}

/// A token's metadata (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The workspace's internal id.
    pub workspace_uid: String,
    /// Name as given.
    pub name: String,
    /// What it allows.
    pub access: TokenAccess,
    /// The first characters of the token, to tell tokens apart.
    pub hint: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Who created it (audit name).
    pub created_by: String,
    /// Unix seconds; refused from then on.
    pub expires_at: i64,
    /// Unix seconds of the last accepted use (recorded at most once a minute).
    pub last_used_at: Option<i64>,
}

/// Prefix of every token, so a token is told from an access key at a glance.
pub const TOKEN_PREFIX: &str = "qwt_";

/// A last use is written at most this often per token (seconds), so that a busy token does not
/// turn every read into a database write.
pub const LAST_USE_RESOLUTION: i64 = 60;

/// Outcome of [`Store::create_access_token`].
#[derive(Debug)]
pub enum Created {
    /// The token (shown once) and its metadata.
    New(Zeroizing<String>, AccessToken),
    /// A token of that name exists in the workspace.
    NameTaken,
}

const COLUMNS: &str =
    "workspace_uid, name, access, hint, created_at, created_by, expires_at, last_used_at";

const TOKENS: NamedItems<AccessToken> = NamedItems {
    table: "ws_access_tokens",
    columns: COLUMNS,
    row: row_to_token,
};

fn row_to_token(r: &crate::db::Row<'_>) -> crate::db::Result<AccessToken> {
    let access: String = r.get(2)?;
    Ok(AccessToken {
        workspace_uid: r.get(0)?,
        name: r.get(1)?,
        access: TokenAccess::parse(&access).unwrap_or(TokenAccess::Read),
        hint: r.get(3)?,
        created_at: r.get(4)?,
        created_by: r.get(5)?,
        expires_at: r.get(6)?,
        last_used_at: r.get(7)?,
    })
}

impl Store {
    /// Creates a token named `name` (unique per workspace, case-insensitive).
    pub fn create_access_token(
        &self,
        workspace_uid: &str,
        name: &str,
        access: TokenAccess,
        expires_at: i64,
        created_by: &str,
        now: i64,
    ) -> Result<Created> {
        let token = new_secret(TOKEN_PREFIX)?;
        let fp = self.crypto().key_fingerprint(&token);
        let hint: String = token.chars().take(TOKEN_PREFIX.len() + 4).collect();
        let conn = self.conn();
        let inserted = conn.execute(
            "INSERT INTO ws_access_tokens (workspace_uid, name_key, name, access, fingerprint, hint, created_at, created_by, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(workspace_uid, name_key) DO NOTHING",
            params![workspace_uid, name.to_lowercase(), name, access.as_str(), fp, hint, now, created_by, expires_at],
        )?;
        if inserted == 0 {
            return Ok(Created::NameTaken);
        }
        let meta = AccessToken {
            workspace_uid: workspace_uid.to_string(),
            name: name.to_string(),
            access,
            hint,
            created_at: now,
            created_by: created_by.to_string(),
            expires_at,
            last_used_at: None,
        };
        Ok(Created::New(token, meta))
    }

    /// The workspace's tokens, by name.
    pub fn list_access_tokens(&self, workspace_uid: &str) -> Result<Vec<AccessToken>> {
        TOKENS.list(self, workspace_uid)
    }

    /// One token by name (case-insensitive).
    pub fn get_access_token(&self, workspace_uid: &str, name: &str) -> Result<Option<AccessToken>> {
        TOKENS.get(self, workspace_uid, name)
    }

    /// Revokes (deletes) a token; whether there was one.
    pub fn revoke_access_token(&self, workspace_uid: &str, name: &str) -> Result<bool> {
        Ok(self.conn().execute(
            "DELETE FROM ws_access_tokens WHERE workspace_uid = ?1 AND name_key = ?2",
            params![workspace_uid, name.to_lowercase()],
        )? > 0)
    }

    /// The unexpired token of workspace `workspace_uid` that `presented` is, recording its use.
    /// Unknown, expired and other workspaces' tokens are all `None`.
    pub fn use_access_token(
        &self,
        workspace_uid: &str,
        presented: &str,
        now: i64,
    ) -> Result<Option<AccessToken>> {
        let fp = self.crypto().key_fingerprint(presented);
        let conn = self.conn();
        let found = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM ws_access_tokens WHERE fingerprint = ?1 AND workspace_uid = ?2"),
                params![fp, workspace_uid],
                row_to_token,
            )
            .optional()?;
        let Some(mut token) = found.filter(|t| now < t.expires_at) else {
            return Ok(None);
        };
        if token
            .last_used_at
            .is_none_or(|t| now - t >= LAST_USE_RESOLUTION)
        {
            conn.execute(
                "UPDATE ws_access_tokens SET last_used_at = ?1 WHERE fingerprint = ?2",
                params![now, fp],
            )?;
            token.last_used_at = Some(now);
        }
        Ok(Some(token))
    }
}
