//! Role assignments and custom role definitions, and the access check that combines them.
//!
//! Inheritance is answered by key look-ups: an assignment applies at a scope when its lower-cased
//! scope is one of that scope's ancestors (or the scope itself), so "what applies here" is one
//! indexed `IN (…)` query, never a scan.

use super::groups::group_ids_of;
use super::{object_in, AccessGrants, IdResult, Identity, IdentityError};
use crate::db::{params, params_from_iter, Conn, OptionalExtension};
use qws_core::rbac::{
    self, builtin_role, builtin_role_by_name, builtin_roles, ActionKind, Decision, Permission,
    PrincipalType, RoleAssignment, RoleDefinition, RoleType, Scope,
};

/// A role-assignment PUT.
#[derive(Debug, Clone, Copy)]
pub struct AssignmentRequest<'r> {
    /// The assignment's GUID name.
    pub name: &'r str,
    /// Where it applies.
    pub scope: &'r Scope,
    /// The role: a GUID or any of ARM's role-definition id forms.
    pub role_definition_id: &'r str,
    /// The principal's object id.
    pub principal_id: &'r str,
    /// The principal type the caller stated, if any; must match the directory.
    pub principal_type: Option<PrincipalType>,
    /// Free text.
    pub description: Option<&'r str>,
    /// Object id of the caller (recorded as created/updated by).
    pub actor: Option<&'r str>,
}

const RA_COLUMNS: &str =
    "name, scope, role_definition_id, principal_id, principal_type, description,
     created_at, updated_at, created_by, updated_by";

fn row_to_assignment(
    r: &crate::db::Row<'_>,
) -> crate::db::Result<(RoleAssignment, String, String)> {
    let scope: String = r.get(1)?;
    let ptype: String = r.get(4)?;
    Ok((
        RoleAssignment {
            name: r.get(0)?,
            scope: Scope::root(),
            role_definition_id: r.get(2)?,
            principal_id: r.get(3)?,
            principal_type: PrincipalType::User,
            description: r.get(5)?,
            created_on: r.get(6)?,
            updated_on: r.get(7)?,
            created_by: r.get(8)?,
            updated_by: r.get(9)?,
        },
        scope,
        ptype,
    ))
}

fn assignments_where(
    conn: &Conn,
    clause: &str,
    args: Vec<String>,
) -> IdResult<Vec<RoleAssignment>> {
    let sql = format!(
        "SELECT {RA_COLUMNS} FROM id_role_assignments WHERE {clause} ORDER BY scope_key, name"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), row_to_assignment)?;
    let mut out = Vec::new();
    for row in rows {
        let (mut a, scope, ptype) = row?;
        a.scope = Scope::parse(&scope)
            .map_err(|e| crate::store::StoreError::Corrupt(format!("assignment scope: {e}")))?;
        a.principal_type = PrincipalType::parse(&ptype).ok_or_else(|| {
            crate::store::StoreError::Corrupt(format!("principal type '{ptype}'"))
        })?;
        out.push(a);
    }
    Ok(out)
}

fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ancestor_keys(scope: &Scope) -> Vec<String> {
    scope
        .ancestors_and_self()
        .iter()
        .map(|s| s.key().to_string())
        .collect()
}

/// The principal and every group it belongs to.
fn principal_and_groups(conn: &Conn, principal_id: &str) -> IdResult<Vec<String>> {
    let pid = principal_id.to_ascii_lowercase();
    let mut ids = group_ids_of(conn, &pid)?;
    ids.push(pid);
    Ok(ids)
}

fn effective_in(conn: &Conn, principal_id: &str, scope: &Scope) -> IdResult<Vec<RoleAssignment>> {
    let principals = principal_and_groups(conn, principal_id)?;
    let keys = ancestor_keys(scope);
    let clause = format!(
        "principal_id IN ({}) AND scope_key IN ({})",
        placeholders(1, principals.len()),
        placeholders(1 + principals.len(), keys.len())
    );
    assignments_where(conn, &clause, principals.into_iter().chain(keys).collect())
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRole {
    role_name: String,
    description: String,
    permissions: Vec<Permission>,
    assignable_scopes: Vec<String>,
}

fn custom_roles_where(
    conn: &Conn,
    clause: &str,
    args: Vec<String>,
) -> IdResult<Vec<RoleDefinition>> {
    let sql = format!(
        "SELECT id, doc, created_at, created_by, updated_at, updated_by FROM id_role_definitions WHERE {clause} ORDER BY role_name_key"
    );
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, doc, created, created_by, updated, updated_by) = row?;
        let d: StoredRole = serde_json::from_str(&doc)
            .map_err(|e| crate::store::StoreError::Corrupt(format!("role definition: {e}")))?;
        out.push(RoleDefinition {
            id,
            role_name: d.role_name,
            description: d.description,
            role_type: RoleType::Custom,
            permissions: d.permissions,
            assignable_scopes: d.assignable_scopes,
            created_on: Some(created),
            updated_on: Some(updated),
            created_by,
            updated_by,
        });
    }
    Ok(out)
}

fn role_in(conn: &Conn, guid: &str) -> IdResult<Option<RoleDefinition>> {
    if let Some(b) = builtin_role(guid) {
        return Ok(Some(b.clone()));
    }
    Ok(custom_roles_where(conn, "id = ?1", vec![guid.to_ascii_lowercase()])?.pop())
}

impl Identity<'_> {
    // ---- role assignments ---------------------------------------------------------------

    /// Creates a role assignment, or re-PUTs an identical one (`created` = false). Refuses an
    /// unknown role, a scope outside the role's assignable scopes, an unknown principal, a stated
    /// principal type that does not match the directory, a duplicate of another assignment, and a
    /// change of an existing assignment's scope, role or principal.
    pub fn put_role_assignment(
        &self,
        req: AssignmentRequest<'_>,
    ) -> IdResult<(RoleAssignment, bool)> {
        let name = uuid::Uuid::parse_str(req.name)
            .ok()
            .filter(|_| req.name.len() == 36)
            .ok_or_else(|| {
                IdentityError::Invalid(format!(
                    "the role assignment name '{}' is not a GUID",
                    req.name
                ))
            })?
            .to_string();
        let role_id = rbac::parse_role_definition_id(req.role_definition_id).ok_or_else(|| {
            IdentityError::Invalid(format!(
                "the role definition id '{}' is malformed",
                req.role_definition_id
            ))
        })?;
        let pid = req.principal_id.to_ascii_lowercase();
        if let Some(d) = req.description {
            if d.chars().count() > 1024 {
                return Err(IdentityError::Invalid(
                    "a description is at most 1024 characters".into(),
                ));
            }
        }
        let now = self.now();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let role = role_in(&tx, &role_id)?
            .ok_or_else(|| IdentityError::RoleDefinitionNotFound(role_id.clone()))?;
        if !role.is_assignable_at(req.scope) {
            return Err(IdentityError::RoleNotAssignableAtScope {
                role: role_id,
                scope: req.scope.to_string(),
            });
        }
        let principal =
            object_in(&tx, &pid)?.ok_or_else(|| IdentityError::PrincipalNotFound(pid.clone()))?;
        let ptype = principal.kind.principal_type();
        if let Some(stated) = req.principal_type {
            if stated != ptype {
                return Err(IdentityError::Invalid(format!(
                    "the principal {pid} is a {}, not a {}",
                    ptype.as_str(),
                    stated.as_str()
                )));
            }
        }
        if let Some(existing) = assignments_where(&tx, "name = ?1", vec![name.clone()])?.pop() {
            if existing.scope.key() != req.scope.key()
                || existing.role_definition_id != role_id
                || existing.principal_id != pid
            {
                return Err(IdentityError::AssignmentUpdateNotPermitted);
            }
            tx.execute(
                "UPDATE id_role_assignments SET description = ?2, updated_at = ?3, updated_by = ?4 WHERE name = ?1",
                params![name, req.description, now, req.actor],
            )?;
            let rec = assignments_where(&tx, "name = ?1", vec![name])?
                .pop()
                .ok_or(IdentityError::NotFound("role assignment"))?;
            tx.commit()?;
            return Ok((rec, false));
        }
        let dup: Option<String> = tx
            .query_row(
                "SELECT name FROM id_role_assignments WHERE scope_key = ?1 AND role_definition_id = ?2 AND principal_id = ?3",
                params![req.scope.key(), role_id, pid],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(existing) = dup {
            return Err(IdentityError::AssignmentExists { existing });
        }
        tx.execute(
            "INSERT INTO id_role_assignments (name, scope, scope_key, role_definition_id, principal_id, principal_type,
               description, created_at, created_by, updated_at, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?9)",
            params![
                name,
                req.scope.as_str(),
                req.scope.key(),
                role_id,
                pid,
                ptype.as_str(),
                req.description,
                now,
                req.actor
            ],
        )?;
        let rec = assignments_where(&tx, "name = ?1", vec![name])?
            .pop()
            .ok_or(IdentityError::NotFound("role assignment"))?;
        tx.commit()?;
        Ok((rec, true))
    }

    /// A role assignment by name.
    pub fn role_assignment(&self, name: &str) -> IdResult<Option<RoleAssignment>> {
        Ok(assignments_where(&self.conn(), "name = ?1", vec![name.to_ascii_lowercase()])?.pop())
    }

    /// Deletes a role assignment; returns it if it existed.
    pub fn delete_role_assignment(&self, name: &str) -> IdResult<Option<RoleAssignment>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let found = assignments_where(&tx, "name = ?1", vec![name.to_ascii_lowercase()])?.pop();
        if found.is_some() {
            tx.execute(
                "DELETE FROM id_role_assignments WHERE name = ?1",
                [name.to_ascii_lowercase()],
            )?;
        }
        tx.commit()?;
        Ok(found)
    }

    /// Assignments at `scope` or above it: those that apply there (`$filter=atScope()`).
    pub fn role_assignments_at_or_above(&self, scope: &Scope) -> IdResult<Vec<RoleAssignment>> {
        let keys = ancestor_keys(scope);
        let clause = format!("scope_key IN ({})", placeholders(1, keys.len()));
        assignments_where(&self.conn(), &clause, keys)
    }

    /// Assignments above, at or below `scope` (an unfiltered list at a scope).
    pub fn role_assignments_around(&self, scope: &Scope) -> IdResult<Vec<RoleAssignment>> {
        let mut args = ancestor_keys(scope);
        let n = args.len();
        let below = if scope.key() == "/" {
            "1 = 1".to_string()
        } else {
            args.push(format!("{}/%", like_escape(scope.key())));
            format!("scope_key LIKE ?{} ESCAPE '\\'", n + 1)
        };
        let clause = format!("scope_key IN ({}) OR {below}", placeholders(1, n));
        assignments_where(&self.conn(), &clause, args)
    }

    /// Assignments naming exactly this principal (`$filter=principalId eq '…'`).
    pub fn role_assignments_of_principal(
        &self,
        principal_id: &str,
    ) -> IdResult<Vec<RoleAssignment>> {
        assignments_where(
            &self.conn(),
            "principal_id = ?1",
            vec![principal_id.to_ascii_lowercase()],
        )
    }

    /// Assignments of the principal and of its groups (`$filter=assignedTo('…')`).
    pub fn role_assignments_assigned_to(
        &self,
        principal_id: &str,
    ) -> IdResult<Vec<RoleAssignment>> {
        let conn = self.conn();
        let ids = principal_and_groups(&conn, principal_id)?;
        let clause = format!("principal_id IN ({})", placeholders(1, ids.len()));
        assignments_where(&conn, &clause, ids)
    }

    /// What an access decision reads, per request: every assignment of the principal and of its
    /// groups, at any scope, with the fields a decision needs (name, scope, role, principal;
    /// description and timestamps left empty), and the custom roles they name.
    ///
    /// Served from [`AccessCache`] while the database's change version (see [`crate::change`])
    /// is the one it was read at: any change to an identity table, by this process or another
    /// sharing the database, moves the version on. The version is read before the rows, so a
    /// change racing with the read makes the entry stale rather than wrong. Otherwise one indexed
    /// query through a cached statement, plus one more only when a custom role is named.
    pub fn access_of(&self, principal_id: &str) -> IdResult<std::sync::Arc<AccessGrants>> {
        let pid = principal_id.to_ascii_lowercase();
        let generation = self.store.change_version()?;
        if let Some(hit) = self.store.access_cache.get(&pid, generation) {
            return Ok(hit);
        }
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT name, scope, role_definition_id, principal_id, principal_type FROM id_role_assignments
             WHERE principal_id = ?1
                OR principal_id IN (SELECT group_id FROM id_group_members WHERE member_id = ?1)",
        )?;
        let rows = st.query_map([&pid], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut assignments = Vec::new();
        for row in rows {
            let (name, scope, role, principal, ptype) = row?;
            assignments.push(RoleAssignment {
                name,
                scope: Scope::parse(&scope).map_err(|e| {
                    crate::store::StoreError::Corrupt(format!("assignment scope: {e}"))
                })?,
                role_definition_id: role,
                principal_id: principal,
                principal_type: PrincipalType::parse(&ptype).ok_or_else(|| {
                    crate::store::StoreError::Corrupt(format!("principal type '{ptype}'"))
                })?,
                description: None,
                created_on: 0,
                updated_on: 0,
                created_by: None,
                updated_by: None,
            });
        }
        drop(st);
        let mut custom: Vec<String> = assignments
            .iter()
            .filter(|a| builtin_role(&a.role_definition_id).is_none())
            .map(|a| a.role_definition_id.clone())
            .collect();
        let custom_roles = if custom.is_empty() {
            Vec::new()
        } else {
            custom.sort();
            custom.dedup();
            let clause = format!("id IN ({})", placeholders(1, custom.len()));
            custom_roles_where(&conn, &clause, custom)?
        };
        let grants = std::sync::Arc::new(AccessGrants {
            assignments,
            custom_roles,
        });
        self.store.access_cache.put(pid, generation, grants.clone());
        Ok(grants)
    }

    /// The assignments that apply to the principal at `scope`: its own and its groups', at the
    /// scope or above.
    pub fn effective_role_assignments(
        &self,
        principal_id: &str,
        scope: &Scope,
    ) -> IdResult<Vec<RoleAssignment>> {
        effective_in(&self.conn(), principal_id, scope)
    }

    /// The access decision for a principal: may it perform `action` (of `kind`) at `scope`? Reads
    /// the current assignments, memberships and custom roles under one lock; deny by default.
    pub fn check_access(
        &self,
        principal_id: &str,
        action: &str,
        kind: ActionKind,
        scope: &Scope,
    ) -> IdResult<Decision> {
        let conn = self.conn();
        let assignments = effective_in(&conn, principal_id, scope)?;
        let mut custom: Vec<String> = assignments
            .iter()
            .map(|a| a.role_definition_id.clone())
            .filter(|id| builtin_role(id).is_none())
            .collect();
        custom.sort();
        custom.dedup();
        let customs = if custom.is_empty() {
            Vec::new()
        } else {
            let clause = format!("id IN ({})", placeholders(1, custom.len()));
            custom_roles_where(&conn, &clause, custom)?
        };
        Ok(rbac::check(&assignments, &customs, action, kind, scope))
    }

    // ---- role definitions ---------------------------------------------------------------

    /// Creates or replaces a custom role (validated with
    /// [`RoleDefinition::custom_from_properties`]). Names are unique per tenant, built-in names
    /// included, compared case-insensitively.
    pub fn put_custom_role(
        &self,
        def: &RoleDefinition,
        actor: Option<&str>,
    ) -> IdResult<(RoleDefinition, bool)> {
        if def.role_type != RoleType::Custom || builtin_role(&def.id).is_some() {
            return Err(IdentityError::BuiltInRole);
        }
        if builtin_role_by_name(&def.role_name).is_some() {
            return Err(IdentityError::RoleNameTaken(def.role_name.clone()));
        }
        let id = def.id.to_ascii_lowercase();
        let name_key = def.role_name.to_lowercase();
        let doc = serde_json::to_string(&StoredRole {
            role_name: def.role_name.clone(),
            description: def.description.clone(),
            permissions: def.permissions.clone(),
            assignable_scopes: def.assignable_scopes.clone(),
        })
        .expect("plain data serializes");
        let now = self.now();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let holder: Option<String> = tx
            .query_row(
                "SELECT id FROM id_role_definitions WHERE role_name_key = ?1",
                [&name_key],
                |r| r.get(0),
            )
            .optional()?;
        if holder.as_deref().is_some_and(|h| h != id) {
            return Err(IdentityError::RoleNameTaken(def.role_name.clone()));
        }
        let n = tx.execute(
            "UPDATE id_role_definitions SET role_name_key = ?2, doc = ?3, updated_at = ?4, updated_by = ?5 WHERE id = ?1",
            params![id, name_key, doc, now, actor],
        )?;
        let created = n == 0;
        if created {
            tx.execute(
                "INSERT INTO id_role_definitions (id, role_name_key, doc, created_at, created_by, updated_at, updated_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?5)",
                params![id, name_key, doc, now, actor],
            )?;
        }
        let rec = custom_roles_where(&tx, "id = ?1", vec![id])?
            .pop()
            .ok_or(IdentityError::NotFound("role definition"))?;
        tx.commit()?;
        Ok((rec, created))
    }

    /// A role definition, built-in or custom, by GUID or any ARM id form.
    pub fn role_definition(&self, id: &str) -> IdResult<Option<RoleDefinition>> {
        let Some(guid) = rbac::parse_role_definition_id(id) else {
            return Ok(None);
        };
        role_in(&self.conn(), &guid)
    }

    /// Built-in roles then custom roles, optionally only those named `role_name`
    /// (case-insensitive, as `$filter=roleName eq '…'`).
    pub fn role_definitions(&self, role_name: Option<&str>) -> IdResult<Vec<RoleDefinition>> {
        let mut out: Vec<RoleDefinition> = builtin_roles().to_vec();
        out.extend(self.custom_roles()?);
        if let Some(n) = role_name {
            out.retain(|r| r.role_name.to_lowercase() == n.to_lowercase());
        }
        Ok(out)
    }

    /// All custom roles.
    pub fn custom_roles(&self) -> IdResult<Vec<RoleDefinition>> {
        custom_roles_where(&self.conn(), "1 = 1", vec![])
    }

    /// Deletes a custom role; refused for built-in roles and while assignments use it. Returns the
    /// deleted role if it existed.
    pub fn delete_custom_role(&self, id: &str) -> IdResult<Option<RoleDefinition>> {
        let Some(guid) = rbac::parse_role_definition_id(id) else {
            return Ok(None);
        };
        if builtin_role(&guid).is_some() {
            return Err(IdentityError::BuiltInRole);
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some(found) = custom_roles_where(&tx, "id = ?1", vec![guid.clone()])?.pop() else {
            return Ok(None);
        };
        let uses: i64 = tx.query_row(
            "SELECT COUNT(*) FROM id_role_assignments WHERE role_definition_id = ?1",
            [&guid],
            |r| r.get(0),
        )?;
        if uses > 0 {
            return Err(IdentityError::RoleHasAssignments(uses as usize));
        }
        tx.execute("DELETE FROM id_role_definitions WHERE id = ?1", [&guid])?;
        tx.commit()?;
        Ok(Some(found))
    }
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
