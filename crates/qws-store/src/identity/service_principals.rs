//! Service principals: applications with client secrets, and the managed identities of
//! workspaces (created by database triggers when a workspace gets a system identity).

use super::{
    insert_object, new_guid, validate_display_name, IdResult, Identity, IdentityError, ObjectKind,
};
use crate::db::{params, Conn, OptionalExtension};
use base64::Engine;
use zeroize::Zeroizing;

/// Most client secrets one service principal may hold.
pub const MAX_SECRETS_PER_PRINCIPAL: usize = 16;
/// Characters of a secret shown as its hint.
pub const HINT_LEN: usize = 3;

/// Application or managed identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpKind {
    /// An application registered in the tenant; signs in with client secrets.
    Application,
    /// A workspace's system-assigned identity; has no secrets.
    ManagedIdentity,
}

impl SpKind {
    /// Stored and wire spelling (Graph's `servicePrincipalType`).
    pub fn as_str(self) -> &'static str {
        match self {
            SpKind::Application => "Application",
            SpKind::ManagedIdentity => "ManagedIdentity",
        }
    }
}

/// A service principal (never carries secret hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePrincipal {
    /// Object id (the `oid` claim; the workspace's `identity.principalId` for a managed identity).
    pub object_id: String,
    /// Application (client) id, lower case.
    pub app_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
    /// Application or managed identity.
    pub kind: SpKind,
    /// The workspace a managed identity belongs to.
    pub workspace_uid: Option<String>,
    /// Whether it may sign in.
    pub enabled: bool,
    /// The administrator created at bootstrap (an ordinary principal with Owner assignments; the
    /// flag only lets code written before RBAC keep recognising it).
    pub is_bootstrap_admin: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// A client secret's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretInfo {
    /// Key id (GUID).
    pub key_id: String,
    /// Optional label.
    pub display_name: Option<String>,
    /// The first characters of the secret.
    pub hint: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` only for the bootstrap administrator's secret.
    pub expires_at: Option<i64>,
}

/// A secret just created: its metadata and the value, shown once. `Debug` redacts the value.
pub struct NewSecret {
    /// Metadata.
    pub info: SecretInfo,
    /// The secret (zeroed on drop).
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret")
            .field("info", &self.info)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A new client secret: 30 random bytes as URL-safe base64 (240 bits), shaped like Entra's
/// (`abcQ~…`), so secret scanners that know that shape recognise a leaked one.
fn generate_secret() -> IdResult<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; 30]);
    qws_core::keys::fill_random(&mut bytes[..]).map_err(|_| crate::crypto::CryptoError::Random)?;
    let b64 = Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..]));
    Ok(Zeroizing::new(format!(
        "{}Q~{}",
        &b64[..HINT_LEN],
        &b64[HINT_LEN..]
    )))
}

const SP_COLUMNS: &str =
    "o.object_id, s.app_id, o.tenant_id, o.display_name, s.sp_type, s.workspace_uid, o.enabled,
     s.is_bootstrap_admin, o.created_at";

fn row_to_sp(r: &crate::db::Row<'_>) -> crate::db::Result<ServicePrincipal> {
    let kind: String = r.get(4)?;
    Ok(ServicePrincipal {
        object_id: r.get(0)?,
        app_id: r.get(1)?,
        tenant_id: r.get(2)?,
        display_name: r.get(3)?,
        kind: if kind == "ManagedIdentity" {
            SpKind::ManagedIdentity
        } else {
            SpKind::Application
        },
        workspace_uid: r.get(5)?,
        enabled: r.get(6)?,
        is_bootstrap_admin: r.get(7)?,
        created_at: r.get(8)?,
    })
}

pub(crate) fn sp_where(
    conn: &Conn,
    clause: &str,
    args: &[&dyn crate::db::ToSql],
) -> IdResult<Vec<ServicePrincipal>> {
    let sql = format!(
        "SELECT {SP_COLUMNS} FROM id_service_principals s JOIN id_objects o ON o.object_id = s.object_id
         WHERE {clause} ORDER BY o.display_name, o.object_id"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(args, row_to_sp)?;
    Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
}

fn secrets_of(conn: &Conn, oid: &str) -> IdResult<Vec<(SecretInfo, Vec<u8>)>> {
    let mut st = conn.prepare(
        "SELECT key_id, display_name, hint, created_at, expires_at, secret_hash FROM id_sp_secrets
         WHERE object_id = ?1 ORDER BY created_at, rowid",
    )?;
    let rows = st.query_map([oid], |r| {
        Ok((
            SecretInfo {
                key_id: r.get(0)?,
                display_name: r.get(1)?,
                hint: r.get(2)?,
                created_at: r.get(3)?,
                expires_at: r.get(4)?,
            },
            r.get(5)?,
        ))
    })?;
    Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
}

impl Identity<'_> {
    /// Creates an application service principal with new application and object ids and no
    /// secrets (add them with [`Identity::add_secret`]).
    pub fn create_service_principal(
        &self,
        tenant_id: &str,
        display_name: &str,
    ) -> IdResult<ServicePrincipal> {
        self.create_service_principal_with_ids(
            tenant_id,
            display_name,
            &new_guid(),
            &new_guid(),
            false,
        )
    }

    /// Creates an application service principal with the given ids (the bootstrap administrator
    /// keeps the ids it was created with).
    pub fn create_service_principal_with_ids(
        &self,
        tenant_id: &str,
        display_name: &str,
        app_id: &str,
        object_id: &str,
        is_bootstrap_admin: bool,
    ) -> IdResult<ServicePrincipal> {
        let display_name = validate_display_name(display_name)?;
        let app_id = app_id.to_ascii_lowercase();
        let oid = object_id.to_ascii_lowercase();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let taken: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM id_service_principals WHERE app_id = ?1",
                [&app_id],
                |r| r.get(0),
            )
            .optional()?;
        if taken.is_some() {
            return Err(IdentityError::Invalid(format!(
                "a service principal with application id '{app_id}' already exists"
            )));
        }
        insert_object(
            &tx,
            &oid,
            tenant_id,
            ObjectKind::ServicePrincipal,
            display_name,
            None,
            self.now(),
        )?;
        tx.execute(
            "INSERT INTO id_service_principals (object_id, app_id, sp_type, is_bootstrap_admin) VALUES (?1, ?2, 'Application', ?3)",
            params![oid, app_id, is_bootstrap_admin],
        )?;
        let sp = sp_where(&tx, "o.object_id = ?1", &[&oid])?
            .pop()
            .ok_or(IdentityError::NotFound("service principal"))?;
        tx.commit()?;
        Ok(sp)
    }

    /// A service principal by object id.
    pub fn service_principal(&self, object_id: &str) -> IdResult<Option<ServicePrincipal>> {
        Ok(sp_where(
            &self.conn(),
            "o.object_id = ?1",
            &[&object_id.to_ascii_lowercase()],
        )?
        .pop())
    }

    /// A service principal by application (client) id.
    pub fn service_principal_by_app_id(&self, app_id: &str) -> IdResult<Option<ServicePrincipal>> {
        Ok(sp_where(
            &self.conn(),
            "s.app_id = ?1",
            &[&app_id.to_ascii_lowercase()],
        )?
        .pop())
    }

    /// All service principals of a tenant (applications and managed identities).
    pub fn list_service_principals(&self, tenant_id: &str) -> IdResult<Vec<ServicePrincipal>> {
        sp_where(&self.conn(), "o.tenant_id = ?1", &[&tenant_id])
    }

    /// The managed identity of a workspace, if it has one.
    pub fn managed_identity_of_workspace(
        &self,
        workspace_uid: &str,
    ) -> IdResult<Option<ServicePrincipal>> {
        Ok(sp_where(&self.conn(), "s.workspace_uid = ?1", &[&workspace_uid])?.pop())
    }

    /// Adds a client secret expiring at `expires_at` (unix seconds, in the future). Returns the
    /// secret once; only its hash is kept.
    pub fn add_secret(
        &self,
        object_id: &str,
        display_name: Option<&str>,
        expires_at: i64,
    ) -> IdResult<NewSecret> {
        let now = self.now();
        if expires_at <= now {
            return Err(IdentityError::Invalid(
                "a secret's expiry must be in the future".into(),
            ));
        }
        self.insert_secret(object_id, display_name, Some(expires_at), false)
    }

    /// Replaces every secret of the principal with one new secret (what `az ad sp credential
    /// reset` does without `--append`).
    pub fn reset_secrets(
        &self,
        object_id: &str,
        display_name: Option<&str>,
        expires_at: i64,
    ) -> IdResult<NewSecret> {
        if expires_at <= self.now() {
            return Err(IdentityError::Invalid(
                "a secret's expiry must be in the future".into(),
            ));
        }
        self.insert_secret(object_id, display_name, Some(expires_at), true)
    }

    pub(crate) fn insert_secret(
        &self,
        object_id: &str,
        display_name: Option<&str>,
        expires_at: Option<i64>,
        replace_all: bool,
    ) -> IdResult<NewSecret> {
        if let Some(d) = display_name {
            validate_display_name(d)?;
        }
        let secret = generate_secret()?;
        self.insert_known_secret(object_id, display_name, expires_at, replace_all, secret)
    }

    pub(crate) fn insert_known_secret(
        &self,
        object_id: &str,
        display_name: Option<&str>,
        expires_at: Option<i64>,
        replace_all: bool,
        secret: Zeroizing<String>,
    ) -> IdResult<NewSecret> {
        let oid = object_id.to_ascii_lowercase();
        let hash = self.crypto().secret_hash(&secret);
        let hint: String = secret.chars().take(HINT_LEN).collect();
        let now = self.now();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let kind: Option<String> = tx
            .query_row(
                "SELECT sp_type FROM id_service_principals WHERE object_id = ?1",
                [&oid],
                |r| r.get(0),
            )
            .optional()?;
        match kind.as_deref() {
            None => return Err(IdentityError::NotFound("service principal")),
            Some("ManagedIdentity") => {
                return Err(IdentityError::Invalid(
                    "a managed identity has no client secrets".into(),
                ))
            }
            Some(_) => {}
        }
        if replace_all {
            tx.execute("DELETE FROM id_sp_secrets WHERE object_id = ?1", [&oid])?;
        }
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM id_sp_secrets WHERE object_id = ?1",
            [&oid],
            |r| r.get(0),
        )?;
        if count as usize >= MAX_SECRETS_PER_PRINCIPAL {
            return Err(IdentityError::LimitReached(format!(
                "a service principal may hold at most {MAX_SECRETS_PER_PRINCIPAL} client secrets"
            )));
        }
        let info = SecretInfo {
            key_id: new_guid(),
            display_name: display_name.map(|d| d.trim().to_string()),
            hint,
            created_at: now,
            expires_at,
        };
        tx.execute(
            "INSERT INTO id_sp_secrets (key_id, object_id, display_name, hint, secret_hash, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![info.key_id, oid, info.display_name, info.hint, hash, now, expires_at],
        )?;
        tx.commit()?;
        Ok(NewSecret { info, secret })
    }

    /// The secrets of a principal (metadata only), oldest first.
    pub fn list_secrets(&self, object_id: &str) -> IdResult<Vec<SecretInfo>> {
        Ok(secrets_of(&self.conn(), &object_id.to_ascii_lowercase())?
            .into_iter()
            .map(|(i, _)| i)
            .collect())
    }

    /// Removes one secret; returns whether it existed.
    pub fn remove_secret(&self, object_id: &str, key_id: &str) -> IdResult<bool> {
        let n = self.conn().execute(
            "DELETE FROM id_sp_secrets WHERE object_id = ?1 AND key_id = ?2",
            params![object_id.to_ascii_lowercase(), key_id.to_ascii_lowercase()],
        )?;
        Ok(n > 0)
    }

    /// Verifies a client id and secret. `None` for an unknown client, a wrong or expired secret,
    /// or a disabled principal. Every stored secret of the principal is checked (constant-time
    /// HMAC comparison) whichever matches, and an unknown client costs one comparison too.
    pub fn authenticate_client_secret(
        &self,
        app_id: &str,
        secret: &str,
    ) -> IdResult<Option<ServicePrincipal>> {
        let now = self.now();
        let (sp, secrets) = {
            let conn = self.conn();
            let Some(sp) = sp_where(&conn, "s.app_id = ?1", &[&app_id.to_ascii_lowercase()])?.pop()
            else {
                drop(conn);
                let _ = self.crypto().verify_secret(secret, &[0u8; 32]);
                return Ok(None);
            };
            let secrets = secrets_of(&conn, &sp.object_id)?;
            (sp, secrets)
        };
        let mut ok = false;
        for (info, hash) in &secrets {
            let matches = self.crypto().verify_secret(secret, hash);
            let live = info.expires_at.is_none_or(|e| e > now);
            ok |= matches & live;
        }
        if secrets.is_empty() {
            let _ = self.crypto().verify_secret(secret, &[0u8; 32]);
        }
        Ok((ok && sp.enabled).then_some(sp))
    }
}
