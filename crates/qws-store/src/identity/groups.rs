//! Groups: users and service principals as members. Roles assigned to a group apply to its
//! members. Groups do not nest (members are users or service principals only), so expanding a
//! principal's memberships is one indexed query.

use super::{
    insert_object, new_guid, object_in, validate_display_name, IdResult, Identity, IdentityError,
    ObjectKind,
};
use crate::db::{params, Conn};

/// A group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Object id.
    pub object_id: String,
    /// Tenant.
    pub tenant_id: String,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Object id.
    pub object_id: String,
    /// User or service principal.
    pub kind: ObjectKind,
    /// Display name.
    pub display_name: String,
}

/// Most members one group may have.
pub const MAX_GROUP_MEMBERS: usize = 10_000;

fn groups_where(conn: &Conn, clause: &str, args: &[&dyn crate::db::ToSql]) -> IdResult<Vec<Group>> {
    let sql = format!(
        "SELECT object_id, tenant_id, display_name, description, created_at FROM id_objects
         WHERE kind = 'Group' AND {clause} ORDER BY display_name, object_id"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(args, |r| {
        Ok(Group {
            object_id: r.get(0)?,
            tenant_id: r.get(1)?,
            display_name: r.get(2)?,
            description: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
}

/// The object ids of the groups `member` belongs to.
pub(crate) fn group_ids_of(conn: &Conn, member: &str) -> IdResult<Vec<String>> {
    let mut st = conn
        .prepare("SELECT group_id FROM id_group_members WHERE member_id = ?1 ORDER BY group_id")?;
    let rows = st.query_map([member], |r| r.get(0))?;
    Ok(rows.collect::<crate::db::Result<Vec<String>>>()?)
}

impl Identity<'_> {
    /// Creates a group.
    pub fn create_group(
        &self,
        tenant_id: &str,
        display_name: &str,
        description: Option<&str>,
    ) -> IdResult<Group> {
        let display_name = validate_display_name(display_name)?;
        if description.is_some_and(|d| d.chars().count() > 1024) {
            return Err(IdentityError::Invalid(
                "a group description is at most 1024 characters".into(),
            ));
        }
        let oid = new_guid();
        let conn = self.conn();
        insert_object(
            &conn,
            &oid,
            tenant_id,
            ObjectKind::Group,
            display_name,
            description,
            self.now(),
        )?;
        groups_where(&conn, "object_id = ?1", &[&oid])?
            .pop()
            .ok_or(IdentityError::NotFound("group"))
    }

    /// A group by object id.
    pub fn group(&self, object_id: &str) -> IdResult<Option<Group>> {
        Ok(groups_where(
            &self.conn(),
            "object_id = ?1",
            &[&object_id.to_ascii_lowercase()],
        )?
        .pop())
    }

    /// All groups of a tenant.
    pub fn list_groups(&self, tenant_id: &str) -> IdResult<Vec<Group>> {
        groups_where(&self.conn(), "tenant_id = ?1", &[&tenant_id])
    }

    /// Adds a user or service principal to a group. Returns false if it was already a member.
    pub fn add_group_member(&self, group_id: &str, member_id: &str) -> IdResult<bool> {
        let (gid, mid) = (
            group_id.to_ascii_lowercase(),
            member_id.to_ascii_lowercase(),
        );
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        match object_in(&tx, &gid)? {
            Some(o) if o.kind == ObjectKind::Group => {}
            _ => return Err(IdentityError::NotFound("group")),
        }
        match object_in(&tx, &mid)? {
            None => return Err(IdentityError::NotFound("member")),
            Some(o) if o.kind == ObjectKind::Group => {
                return Err(IdentityError::Invalid(
                    "groups cannot be members of groups in qws".into(),
                ))
            }
            Some(_) => {}
        }
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM id_group_members WHERE group_id = ?1",
            [&gid],
            |r| r.get(0),
        )?;
        if count as usize >= MAX_GROUP_MEMBERS {
            return Err(IdentityError::LimitReached(format!(
                "a group has at most {MAX_GROUP_MEMBERS} members"
            )));
        }
        let n = tx.execute(
            "INSERT OR IGNORE INTO id_group_members (group_id, member_id) VALUES (?1, ?2)",
            params![gid, mid],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// Removes a member; returns whether it was one.
    pub fn remove_group_member(&self, group_id: &str, member_id: &str) -> IdResult<bool> {
        let n = self.conn().execute(
            "DELETE FROM id_group_members WHERE group_id = ?1 AND member_id = ?2",
            params![
                group_id.to_ascii_lowercase(),
                member_id.to_ascii_lowercase()
            ],
        )?;
        Ok(n > 0)
    }

    /// The members of a group.
    pub fn group_members(&self, group_id: &str) -> IdResult<Vec<GroupMember>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT o.object_id, o.kind, o.display_name FROM id_group_members m
             JOIN id_objects o ON o.object_id = m.member_id WHERE m.group_id = ?1 ORDER BY o.display_name, o.object_id",
        )?;
        let rows = st.query_map([group_id.to_ascii_lowercase()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (object_id, kind, display_name) = row?;
            out.push(GroupMember {
                object_id,
                kind: if kind == "User" {
                    ObjectKind::User
                } else {
                    ObjectKind::ServicePrincipal
                },
                display_name,
            });
        }
        Ok(out)
    }

    /// The groups a user or service principal belongs to.
    pub fn groups_of(&self, member_id: &str) -> IdResult<Vec<String>> {
        group_ids_of(&self.conn(), &member_id.to_ascii_lowercase())
    }
}
