//! Users: creation, look-up, password sign-in with lockout, password reset.

use super::password::{self, check_policy};
use super::{
    insert_object, new_guid, tokens, validate_display_name, IdResult, Identity, IdentityError,
    ObjectKind,
};
use crate::db::{params, Conn, OptionalExtension};

/// A user (never carries the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Object id (the `oid` claim).
    pub object_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// User principal name as created, e.g. `alice@contoso.example`.
    pub user_principal_name: String,
    /// Display name.
    pub display_name: String,
    /// Whether the user may sign in.
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub password_changed_at: i64,
    /// Consecutive failed sign-ins.
    pub failed_sign_ins: u32,
    /// Unix seconds until which sign-in is refused, if locked.
    pub locked_until: Option<i64>,
}

/// What [`Identity::create_user`] needs.
#[derive(Clone, Copy)]
pub struct NewUser<'p> {
    /// Tenant.
    pub tenant_id: &'p str,
    /// User principal name (`local@domain`), unique per tenant, compared case-insensitively.
    pub user_principal_name: &'p str,
    /// Display name.
    pub display_name: &'p str,
    /// Initial password (checked against the policy).
    pub password: &'p str,
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("tenant_id", &self.tenant_id)
            .field("user_principal_name", &self.user_principal_name)
            .field("display_name", &self.display_name)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The outcome of a password sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// Correct password, enabled, not locked.
    Success(User),
    /// Unknown user or wrong password (indistinguishable by design).
    InvalidCredentials,
    /// Too many failures; refused without checking the password until `until` (unix seconds).
    LockedOut {
        /// End of the lock.
        until: i64,
    },
    /// Correct password, but the account is disabled.
    Disabled,
}

/// Longest user principal name (Entra ID: 64 before the `@`, 48 after).
pub const MAX_UPN_LEN: usize = 113;

/// Checks the shape of a user principal name: `local@domain`, the local part made of letters,
/// digits and `.-_'!#^~`, the domain of dot-separated labels.
pub fn validate_upn(upn: &str) -> IdResult<()> {
    let bad = |why: &str| {
        IdentityError::Invalid(format!("the user principal name '{upn}' is invalid: {why}"))
    };
    if upn.len() > MAX_UPN_LEN {
        return Err(bad("it is too long"));
    }
    let Some((local, domain)) = upn.split_once('@') else {
        return Err(bad("it must have the form name@domain"));
    };
    if local.is_empty() || local.len() > 64 || domain.is_empty() || domain.len() > 48 {
        return Err(bad("the name or the domain has the wrong length"));
    }
    if local.starts_with('.')
        || local.ends_with('.')
        || !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_'!#^~".contains(c))
    {
        return Err(bad(
            "the part before '@' has a character that is not allowed",
        ));
    }
    if domain.split('.').any(|l| {
        l.is_empty()
            || l.starts_with('-')
            || l.ends_with('-')
            || !l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    }) {
        return Err(bad("the domain is not a host name"));
    }
    Ok(())
}

const USER_COLUMNS: &str =
    "o.object_id, o.tenant_id, u.upn, o.display_name, o.enabled, o.created_at,
     u.password_changed_at, u.failed_sign_ins, u.locked_until";

fn row_to_user(r: &crate::db::Row<'_>) -> crate::db::Result<User> {
    let locked: i64 = r.get(8)?;
    Ok(User {
        object_id: r.get(0)?,
        tenant_id: r.get(1)?,
        user_principal_name: r.get(2)?,
        display_name: r.get(3)?,
        enabled: r.get(4)?,
        created_at: r.get(5)?,
        password_changed_at: r.get(6)?,
        failed_sign_ins: r.get::<_, i64>(7)?.clamp(0, u32::MAX as i64) as u32,
        locked_until: (locked > 0).then_some(locked),
    })
}

fn user_where(conn: &Conn, clause: &str, args: &[&dyn crate::db::ToSql]) -> IdResult<Vec<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM id_users u JOIN id_objects o ON o.object_id = u.object_id WHERE {clause} ORDER BY u.upn_key"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(args, row_to_user)?;
    Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
}

impl Identity<'_> {
    /// Creates a user with a new object id. The password is checked against the policy and hashed
    /// (argon2id) before the database is touched.
    pub fn create_user(&self, new: NewUser<'_>) -> IdResult<User> {
        validate_upn(new.user_principal_name)?;
        let display_name = validate_display_name(new.display_name)?;
        check_policy(new.password)?;
        let hash = password::hash_password(new.password)?;
        let now = self.now();
        let oid = new_guid();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let taken: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM id_users WHERE tenant_id = ?1 AND upn_key = ?2",
                params![new.tenant_id, new.user_principal_name.to_lowercase()],
                |r| r.get(0),
            )
            .optional()?;
        if taken.is_some() {
            return Err(IdentityError::UpnTaken(new.user_principal_name.to_string()));
        }
        insert_object(
            &tx,
            &oid,
            new.tenant_id,
            ObjectKind::User,
            display_name,
            None,
            now,
        )?;
        tx.execute(
            "INSERT INTO id_users (object_id, tenant_id, upn, upn_key, password_hash, password_changed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![oid, new.tenant_id, new.user_principal_name, new.user_principal_name.to_lowercase(), hash, now],
        )?;
        let user = user_where(&tx, "o.object_id = ?1", &[&oid])?
            .pop()
            .ok_or(IdentityError::NotFound("user"))?;
        tx.commit()?;
        Ok(user)
    }

    /// A user by object id.
    pub fn user(&self, object_id: &str) -> IdResult<Option<User>> {
        Ok(user_where(
            &self.conn(),
            "o.object_id = ?1",
            &[&object_id.to_ascii_lowercase()],
        )?
        .pop())
    }

    /// A user by user principal name (case-insensitive) within a tenant.
    pub fn user_by_upn(&self, tenant_id: &str, upn: &str) -> IdResult<Option<User>> {
        Ok(user_where(
            &self.conn(),
            "u.tenant_id = ?1 AND u.upn_key = ?2",
            &[&tenant_id, &upn.to_lowercase()],
        )?
        .pop())
    }

    /// All users of a tenant, by user principal name.
    pub fn list_users(&self, tenant_id: &str) -> IdResult<Vec<User>> {
        user_where(&self.conn(), "u.tenant_id = ?1", &[&tenant_id])
    }

    /// Signs a user in with a password. See [`SignIn`] and [`super::LockoutPolicy`].
    ///
    /// The slow hash is computed without holding the database lock. Unknown users cost the same
    /// hashing work as known ones.
    pub fn sign_in(&self, tenant_id: &str, upn: &str, password: &str) -> IdResult<SignIn> {
        let now = self.now();
        let row: Option<(String, String, bool, i64)> = self
            .conn()
            .query_row(
                "SELECT u.object_id, u.password_hash, o.enabled, u.locked_until FROM id_users u
                 JOIN id_objects o ON o.object_id = u.object_id WHERE u.tenant_id = ?1 AND u.upn_key = ?2",
                params![tenant_id, upn.to_lowercase()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((oid, hash, enabled, locked_until)) = row else {
            password::verify_against_dummy(password);
            return Ok(SignIn::InvalidCredentials);
        };
        if locked_until > now {
            return Ok(SignIn::LockedOut {
                until: locked_until,
            });
        }
        if password::verify_password(password, &hash) {
            self.conn().execute(
                "UPDATE id_users SET failed_sign_ins = 0, locked_until = 0 WHERE object_id = ?1",
                [&oid],
            )?;
            if !enabled {
                return Ok(SignIn::Disabled);
            }
            return Ok(match self.user(&oid)? {
                Some(u) => SignIn::Success(u),
                None => SignIn::InvalidCredentials, // deleted meanwhile
            });
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let failures: i64 = tx
            .query_row(
                "UPDATE id_users SET failed_sign_ins = failed_sign_ins + 1 WHERE object_id = ?1 RETURNING failed_sign_ins",
                [&oid],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let lock = self
            .lockout
            .lock_secs(failures.clamp(0, u32::MAX as i64) as u32);
        if lock > 0 {
            tx.execute(
                "UPDATE id_users SET locked_until = ?2 WHERE object_id = ?1",
                params![oid, now.saturating_add(lock)],
            )?;
        }
        tx.commit()?;
        Ok(SignIn::InvalidCredentials)
    }

    /// Sets a new password (checked against the policy), clears the lockout, and revokes the
    /// user's refresh tokens, so sessions signed in with the old password end.
    pub fn reset_password(&self, object_id: &str, new_password: &str) -> IdResult<()> {
        check_policy(new_password)?;
        let hash = password::hash_password(new_password)?;
        let oid = object_id.to_ascii_lowercase();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE id_users SET password_hash = ?2, password_changed_at = ?3, failed_sign_ins = 0, locked_until = 0
             WHERE object_id = ?1",
            params![oid, hash, self.now()],
        )?;
        if n == 0 {
            return Err(IdentityError::NotFound("user"));
        }
        tokens::revoke_all_in(&tx, &oid)?;
        tx.commit()?;
        Ok(())
    }

    /// Clears a lockout without changing the password (an administrator's unlock).
    pub fn unlock_user(&self, object_id: &str) -> IdResult<()> {
        let n = self.conn().execute(
            "UPDATE id_users SET failed_sign_ins = 0, locked_until = 0 WHERE object_id = ?1",
            [object_id.to_ascii_lowercase()],
        )?;
        if n == 0 {
            return Err(IdentityError::NotFound("user"));
        }
        Ok(())
    }
}
