//! Storage accounts, template deployments, and the workspace ⇄ blob-namespace mapping.
//!
//! A storage account's uid is a blob namespace (`<data dir>/blobs/<uid>/…`). The job data of a
//! workspace lives in [`Store::blob_namespace`]: the namespace of the storage account its
//! `storageAccount` id names, when qws has that account, otherwise the workspace's own uid
//! (workspaces created without a qws storage account keep their data to themselves, as before).

use super::{from_json, now_nanos, to_json, write_tx, Result, Store, StoreError};
use crate::db::{params, OptionalExtension};
use qws_core::models::Tags;
use qws_core::names::{ResourceGroupName, StorageAccountName};
use qws_core::resource_id::{DeploymentId, ResourceGroupId, StorageAccountId, WorkspaceId};
use serde_json::Value;

/// What a storage account PUT sets.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageAccountSpec {
    /// Normalized location.
    pub location: String,
    /// Tags.
    pub tags: Tags,
    /// SKU name (`Standard_LRS`, …).
    pub sku: String,
    /// Kind (`StorageV2`, …).
    pub kind: String,
    /// Settable properties (`allowBlobPublicAccess`, `allowSharedKeyAccess`,
    /// `minimumTlsVersion`, …) as a JSON object.
    pub properties: Value,
}

/// A stored storage account.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageAccountRecord {
    /// Internal id, and the account's blob namespace.
    pub uid: String,
    /// Resource id (resource group as created).
    pub id: StorageAccountId,
    /// What was set.
    pub spec: StorageAccountSpec,
    /// Unix nanoseconds.
    pub created_at: i64,
}

/// Why a storage account PUT was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConflict {
    /// The name belongs to an account in another resource group or subscription.
    NameTaken,
    /// The account exists in another location.
    LocationChange(String),
    /// The resource group does not exist.
    GroupNotFound,
}

/// A stored deployment: its ARM document and its per-resource operations.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentRecord {
    /// The deployment's ARM representation.
    pub doc: Value,
    /// Its operations (JSON array).
    pub operations: Value,
}

const SA_COLUMNS: &str = "a.uid, a.subscription_id, (SELECT name FROM resource_groups g WHERE g.subscription_id = a.subscription_id AND g.name_key = a.rg_key),
     a.name, a.location, a.tags, a.sku, a.kind, a.properties, a.created_at";

fn sa_from_row(r: &crate::db::Row<'_>) -> crate::db::Result<[Option<String>; 9]> {
    let mut out: [Option<String>; 9] = Default::default();
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = r.get(i)?;
    }
    Ok(out)
}

fn finish_sa(row: ([Option<String>; 9], i64)) -> Result<StorageAccountRecord> {
    let ([uid, sub, rg, name, location, tags, sku, kind, props], created_at) = row;
    let corrupt = || StoreError::Corrupt("storage account row".into());
    let group = ResourceGroupId::parse(
        sub.as_deref().ok_or_else(corrupt)?,
        rg.as_deref().ok_or_else(corrupt)?,
    )
    .map_err(|e| StoreError::Corrupt(e.message))?;
    let account = StorageAccountName::parse(name.as_deref().ok_or_else(corrupt)?)
        .map_err(|e| StoreError::Corrupt(e.message))?;
    Ok(StorageAccountRecord {
        uid: uid.ok_or_else(corrupt)?,
        id: group.storage_account(account),
        spec: StorageAccountSpec {
            location: location.ok_or_else(corrupt)?,
            tags: from_json(tags.as_deref().ok_or_else(corrupt)?)?,
            sku: sku.ok_or_else(corrupt)?,
            kind: kind.ok_or_else(corrupt)?,
            properties: from_json(props.as_deref().ok_or_else(corrupt)?)?,
        },
        created_at,
    })
}

fn query_accounts(
    conn: &crate::db::Conn,
    filter: &str,
    args: &[&dyn crate::db::ToSql],
) -> Result<Vec<StorageAccountRecord>> {
    let sql = format!("SELECT {SA_COLUMNS} FROM storage_accounts a WHERE {filter}");
    let mut st = conn.prepare(&sql)?;
    let rows = st.query_map(args, |r| Ok((sa_from_row(r)?, r.get::<_, i64>(9)?)))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(finish_sa(row?)?);
    }
    Ok(out)
}

impl Store {
    // ---- storage accounts -------------------------------------------------------------------

    /// Creates or updates a storage account. Names are unique on the server: a name used by an
    /// account in another group or subscription is refused, as is a change of location.
    pub fn put_storage_account(
        &self,
        id: &StorageAccountId,
        spec: &StorageAccountSpec,
    ) -> Result<std::result::Result<(StorageAccountRecord, bool), StorageConflict>> {
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        let sub = id.group.subscription.to_string();
        let rg_key = id.group.resource_group.key();
        let group: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM resource_groups WHERE subscription_id = ?1 AND name_key = ?2",
                params![sub, rg_key],
                |r| r.get(0),
            )
            .optional()?;
        if group.is_none() {
            return Ok(Err(StorageConflict::GroupNotFound));
        }
        let existing = query_accounts(&tx, "a.name = ?1", &[&id.account.as_str()])?.pop();
        let created = match &existing {
            Some(a)
                if a.id.group.subscription != id.group.subscription
                    || a.id.group.resource_group.key() != rg_key =>
            {
                return Ok(Err(StorageConflict::NameTaken))
            }
            Some(a) if a.spec.location != spec.location => {
                return Ok(Err(StorageConflict::LocationChange(
                    a.spec.location.clone(),
                )))
            }
            Some(a) => {
                tx.execute(
                    "UPDATE storage_accounts SET tags = ?2, sku = ?3, kind = ?4, properties = ?5 WHERE uid = ?1",
                    params![a.uid, to_json(&spec.tags), spec.sku, spec.kind, spec.properties.to_string()],
                )?;
                false
            }
            None => {
                tx.execute(
                    "INSERT INTO storage_accounts (uid, subscription_id, rg_key, name, location, tags, sku, kind, properties, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        uuid::Uuid::new_v4().to_string(),
                        sub,
                        rg_key,
                        id.account.as_str(),
                        spec.location,
                        to_json(&spec.tags),
                        spec.sku,
                        spec.kind,
                        spec.properties.to_string(),
                        now_nanos()
                    ],
                )?;
                true
            }
        };
        let rec = query_accounts(&tx, "a.name = ?1", &[&id.account.as_str()])?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("storage account vanished".into()))?;
        tx.commit()?;
        Ok(Ok((rec, created)))
    }

    /// A storage account by id (resource group case-insensitive).
    pub fn get_storage_account(
        &self,
        id: &StorageAccountId,
    ) -> Result<Option<StorageAccountRecord>> {
        Ok(query_accounts(
            &self.conn(),
            "a.subscription_id = ?1 AND a.rg_key = ?2 AND a.name = ?3",
            &[
                &id.group.subscription.to_string(),
                &id.group.resource_group.key(),
                &id.account.as_str(),
            ],
        )?
        .pop())
    }

    /// Whether any account on the server has this name.
    pub fn storage_account_name_taken(&self, name: &StorageAccountName) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM storage_accounts WHERE name = ?1",
                [name.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .is_some())
    }

    /// The accounts of a subscription (optionally one resource group), by group then name.
    pub fn list_storage_accounts(
        &self,
        sub: &qws_core::names::SubscriptionId,
        rg: Option<&ResourceGroupName>,
    ) -> Result<Vec<StorageAccountRecord>> {
        let conn = self.conn();
        match rg {
            Some(rg) => query_accounts(
                &conn,
                "a.subscription_id = ?1 AND a.rg_key = ?2 ORDER BY a.name LIMIT 1000",
                &[&sub.to_string(), &rg.key()],
            ),
            None => query_accounts(
                &conn,
                "a.subscription_id = ?1 ORDER BY a.rg_key, a.name LIMIT 1000",
                &[&sub.to_string()],
            ),
        }
    }

    /// Deletes a storage account; returns it if it existed. Its blob namespace becomes an
    /// orphan for the caller to purge.
    pub fn delete_storage_account(
        &self,
        id: &StorageAccountId,
    ) -> Result<Option<StorageAccountRecord>> {
        let found = self.get_storage_account(id)?;
        if let Some(a) = &found {
            self.conn()
                .execute("DELETE FROM storage_accounts WHERE uid = ?1", [&a.uid])?;
        }
        Ok(found)
    }

    // ---- blob namespaces ---------------------------------------------------------------------

    /// Where the job data of workspace `workspace_uid` lives: the uid of the qws storage account
    /// its `storageAccount` names, else the workspace's own uid; `None` if the workspace does
    /// not exist or is being deleted. The one place this mapping is decided.
    pub fn blob_namespace(&self, workspace_uid: &str) -> Result<Option<String>> {
        let conn = self.conn();
        let row: Option<(Option<String>, Option<String>)> = conn
            .query_row(
                "SELECT storage_account, deleting_op FROM workspaces WHERE uid = ?1",
                [workspace_uid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        // A workspace being deleted no longer reaches its data.
        let Some((storage_account, None)) = row else {
            return Ok(None);
        };
        let account = match storage_account.as_deref().and_then(StorageAccountId::parse) {
            Some(id) => query_accounts(
                &conn,
                "a.subscription_id = ?1 AND a.rg_key = ?2 AND a.name = ?3",
                &[
                    &id.group.subscription.to_string(),
                    &id.group.resource_group.key(),
                    &id.account.as_str(),
                ],
            )?
            .pop(),
            None => None,
        };
        Ok(Some(
            account.map_or_else(|| workspace_uid.to_string(), |a| a.uid),
        ))
    }

    /// Whether a blob namespace still has an owner (a workspace or a storage account).
    pub fn blob_namespace_in_use(&self, namespace: &str) -> Result<bool> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM workspaces WHERE uid = ?1 UNION ALL SELECT 1 FROM storage_accounts WHERE uid = ?1 LIMIT 1",
                [namespace],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .is_some())
    }

    // ---- workspace deletion -------------------------------------------------------------------

    /// Marks a workspace as being deleted by operation `op` (kept if it is already being
    /// deleted). Returns the record as marked, or `None` if it does not exist.
    pub fn mark_workspace_deleting(
        &self,
        ws: &WorkspaceId,
        op: &str,
    ) -> Result<Option<super::WorkspaceRecord>> {
        self.conn().execute(
            "UPDATE workspaces SET deleting_op = COALESCE(deleting_op, ?4)
             WHERE subscription_id = ?1 AND rg_key = ?2 AND name_key = ?3",
            params![
                ws.subscription.to_string(),
                ws.resource_group.key(),
                ws.workspace.key(),
                op
            ],
        )?;
        self.get_workspace(ws)
    }

    /// Workspaces whose deletion was interrupted (e.g. by a restart): `(id, operation)`.
    pub fn workspaces_being_deleted(&self) -> Result<Vec<(WorkspaceId, String)>> {
        let conn = self.conn();
        let ws = Self::query_workspaces(&conn, "deleting_op IS NOT NULL LIMIT 1000", &[])?;
        Ok(ws
            .into_iter()
            .filter_map(|w| Some((w.id().ok()?, w.deleting_op.clone()?)))
            .collect())
    }

    // ---- deployments ----------------------------------------------------------------------------

    /// Creates or replaces a deployment's record.
    pub fn put_deployment(&self, id: &DeploymentId, rec: &DeploymentRecord) -> Result<()> {
        self.conn().execute(
            "INSERT INTO deployments (subscription_id, rg_key, name_key, doc, operations, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(subscription_id, rg_key, name_key) DO UPDATE SET doc = excluded.doc,
               operations = excluded.operations, updated_at = excluded.updated_at",
            params![
                id.group.subscription.to_string(),
                id.group.resource_group.key(),
                id.deployment.key(),
                rec.doc.to_string(),
                rec.operations.to_string(),
                now_nanos()
            ],
        )?;
        Ok(())
    }

    /// A deployment's record.
    pub fn get_deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentRecord>> {
        let row: Option<(String, String)> = self
            .conn()
            .query_row(
                "SELECT doc, operations FROM deployments WHERE subscription_id = ?1 AND rg_key = ?2 AND name_key = ?3",
                params![
                    id.group.subscription.to_string(),
                    id.group.resource_group.key(),
                    id.deployment.key()
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(d, o)| {
            Ok(DeploymentRecord {
                doc: from_json(&d)?,
                operations: from_json(&o)?,
            })
        })
        .transpose()
    }

    /// The deployments of a resource group (documents only), by name; at most 800, as ARM keeps.
    pub fn list_deployments(&self, group: &ResourceGroupId) -> Result<Vec<Value>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT doc FROM deployments WHERE subscription_id = ?1 AND rg_key = ?2 ORDER BY name_key LIMIT 800",
        )?;
        let rows = st.query_map(
            params![group.subscription.to_string(), group.resource_group.key()],
            |r| r.get::<_, String>(0),
        )?;
        let mut out = Vec::new();
        for d in rows {
            out.push(from_json(&d?)?);
        }
        Ok(out)
    }
}
