//! Job webhooks: URLs a workspace registers to be told when a job or session reaches a terminal
//! status, and the deliveries owed to them.
//!
//! A webhook's signing secret comes from the OS random source, is shown once when created, and is
//! stored sealed under the master key (bound to the workspace and name). Deliveries are rows:
//! [`enqueue_terminal`] writes one per webhook of the workspace *inside the transaction that
//! makes the status terminal*, so an event is either recorded with the status or not at all, and
//! a restart finds every delivery still owed. The delivery worker (in the server) takes due rows,
//! posts them and records the outcome here.
//!
//! SQL here is kept plain (no SQLite-only syntax) so that it ports to other databases.

use crate::db::{params, OptionalExtension};
use crate::named::{new_secret, NamedItems};
use crate::{Result, Store, StoreError};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

/// Prefix of every signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Most webhooks one workspace may have.
pub const MAX_WEBHOOKS_PER_WORKSPACE: usize = 10;

/// A webhook's metadata (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The workspace's internal id.
    pub workspace_uid: String,
    /// Name as given.
    pub name: String,
    /// Where events are posted.
    pub url: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Who created it (audit name).
    pub created_by: String,
}

/// Outcome of [`Store::create_webhook`].
#[derive(Debug)]
pub enum Created {
    /// The signing secret (shown once) and the metadata.
    New(Zeroizing<String>, Webhook),
    /// A webhook of that name exists in the workspace.
    NameTaken,
    /// The workspace has [`MAX_WEBHOOKS_PER_WORKSPACE`] webhooks.
    TooMany,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Not yet delivered; tried again at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Succeeded,
    /// Every attempt failed.
    Failed,
}

impl DeliveryState {
    /// `Pending`, `Succeeded` or `Failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "Pending",
            DeliveryState::Succeeded => "Succeeded",
            DeliveryState::Failed => "Failed",
        }
    }

    fn parse(s: &str) -> DeliveryState {
        match s {
            "Succeeded" => DeliveryState::Succeeded,
            "Failed" => DeliveryState::Failed,
            _ => DeliveryState::Pending,
        }
    }
}

/// One event owed to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event's id (the same for every webhook it goes to; receivers deduplicate on it).
    pub event_id: String,
    /// The workspace's internal id.
    pub workspace_uid: String,
    /// The webhook's name key (lower case).
    pub webhook_key: String,
    /// `job.terminal` or `session.terminal`.
    pub event_type: String,
    /// The job or session id.
    pub item_id: String,
    /// The JSON body, exactly as sent (and signed) at every attempt.
    pub payload: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// Unix milliseconds of the next attempt (pending deliveries).
    pub next_attempt_at: i64,
    /// Unix milliseconds of the last attempt.
    pub last_attempt_at: Option<i64>,
    /// HTTP status of the last answer.
    pub last_status: Option<u16>,
    /// Why the last attempt failed (no answer, or not 2xx).
    pub last_error: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A due delivery with what it takes to send it (its `Debug` leaves the secret out).
pub struct DueDelivery {
    /// The delivery.
    pub delivery: Delivery,
    /// The webhook's URL.
    pub url: String,
    /// The webhook's signing secret.
    pub secret: Zeroizing<String>,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("delivery", &self.delivery)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

const HOOK_COLUMNS: &str = "workspace_uid, name, url, created_at, created_by";
const DELIVERY_COLUMNS: &str = "event_id, workspace_uid, webhook_key, event_type, item_id, payload, state, attempts, next_attempt_at, last_attempt_at, last_status, last_error, created_at";

const HOOKS: NamedItems<Webhook> = NamedItems {
    table: "ws_webhooks",
    columns: HOOK_COLUMNS,
    row: row_to_hook,
};

fn row_to_hook(r: &crate::db::Row<'_>) -> crate::db::Result<Webhook> {
    Ok(Webhook {
        workspace_uid: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        created_at: r.get(3)?,
        created_by: r.get(4)?,
    })
}

fn row_to_delivery(r: &crate::db::Row<'_>) -> crate::db::Result<Delivery> {
    let state: String = r.get(6)?;
    let status: Option<i64> = r.get(10)?;
    Ok(Delivery {
        event_id: r.get(0)?,
        workspace_uid: r.get(1)?,
        webhook_key: r.get(2)?,
        event_type: r.get(3)?,
        item_id: r.get(4)?,
        payload: r.get(5)?,
        state: DeliveryState::parse(&state),
        attempts: r.get::<_, i64>(7)?.clamp(0, u32::MAX as i64) as u32,
        next_attempt_at: r.get(8)?,
        last_attempt_at: r.get(9)?,
        last_status: status.and_then(|s| u16::try_from(s).ok()),
        last_error: r.get(11)?,
        created_at: r.get(12)?,
    })
}

/// The associated data a secret is sealed with: it cannot be moved to another webhook.
fn secret_aad(workspace_uid: &str, name_key: &str) -> Vec<u8> {
    format!("webhook|{workspace_uid}|{name_key}").into_bytes()
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Records the event "item `doc` of workspace `workspace_uid` reached terminal status `status`"
/// for every webhook of the workspace, in the caller's transaction. Nothing is written when the
/// workspace has no webhooks.
pub fn enqueue_terminal(
    tx: &crate::db::Conn,
    workspace_uid: &str,
    kind: &str,
    status: &str,
    doc: &Map<String, Value>,
) -> Result<usize> {
    let hooks: i64 = tx.query_row(
        "SELECT COUNT(*) FROM ws_webhooks WHERE workspace_uid = ?1",
        params![workspace_uid],
        |r| r.get(0),
    )?;
    if hooks == 0 {
        return Ok(0);
    }
    let workspace = tx
        .query_row(
            "SELECT w.subscription_id, g.name, w.name FROM workspaces w
               JOIN resource_groups g ON g.subscription_id = w.subscription_id AND g.name_key = w.rg_key
              WHERE w.uid = ?1",
            params![workspace_uid],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)),
        )
        .optional()?;
    let workspace_id = workspace
        .and_then(|(s, g, w)| qws_core::resource_id::WorkspaceId::from_parts(&s, &g, &w).ok())
        .map(|id| id.to_id());
    let event_id = uuid::Uuid::new_v4().to_string();
    let event_type = format!("{kind}.terminal");
    let item_id = doc
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let pick = |k: &str| doc.get(k).cloned().unwrap_or(Value::Null);
    let now = now_ms();
    let payload = json!({
        "id": event_id,
        "type": event_type,
        "time": qws_core::time_fmt::arm_precise(time::OffsetDateTime::now_utc()),
        "data": {
            "workspaceId": workspace_id,
            "itemType": pick("itemType"),
            "id": item_id,
            "name": pick("name"),
            "status": status,
            "providerId": pick("providerId"),
            "target": pick("target"),
            "sessionId": pick("sessionId"),
            "creationTime": pick("creationTime"),
            "beginExecutionTime": pick("beginExecutionTime"),
            "endExecutionTime": pick("endExecutionTime"),
            "errorData": pick("errorData"),
        }
    })
    .to_string();
    Ok(tx.execute(
        "INSERT INTO webhook_deliveries (event_id, workspace_uid, webhook_key, event_type, item_id, payload, state, attempts, next_attempt_at, created_at)
         SELECT ?1, workspace_uid, name_key, ?2, ?3, ?4, 'Pending', 0, ?5, ?5 FROM ws_webhooks WHERE workspace_uid = ?6",
        params![event_id, event_type, item_id, payload, now, workspace_uid],
    )?)
}

impl Store {
    /// Creates webhook `name` (unique per workspace, case-insensitive) posting to `url`, with a
    /// new signing secret.
    pub fn create_webhook(
        &self,
        workspace_uid: &str,
        name: &str,
        url: &str,
        created_by: &str,
        now: i64,
    ) -> Result<Created> {
        let secret = new_secret(SECRET_PREFIX)?;
        let key = name.to_lowercase();
        let sealed = self
            .crypto()
            .seal(&secret_aad(workspace_uid, &key), secret.as_bytes())?;
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM ws_webhooks WHERE workspace_uid = ?1",
            params![workspace_uid],
            |r| r.get(0),
        )?;
        let taken = tx
            .query_row(
                "SELECT 1 FROM ws_webhooks WHERE workspace_uid = ?1 AND name_key = ?2",
                params![workspace_uid, key],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if taken {
            return Ok(Created::NameTaken);
        }
        if count as usize >= MAX_WEBHOOKS_PER_WORKSPACE {
            return Ok(Created::TooMany);
        }
        tx.execute(
            "INSERT INTO ws_webhooks (workspace_uid, name_key, name, url, secret, created_at, created_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![workspace_uid, key, name, url, sealed, now, created_by],
        )?;
        tx.commit()?;
        Ok(Created::New(
            secret,
            Webhook {
                workspace_uid: workspace_uid.to_string(),
                name: name.to_string(),
                url: url.to_string(),
                created_at: now,
                created_by: created_by.to_string(),
            },
        ))
    }

    /// The workspace's webhooks, by name.
    pub fn list_webhooks(&self, workspace_uid: &str) -> Result<Vec<Webhook>> {
        HOOKS.list(self, workspace_uid)
    }

    /// One webhook by name (case-insensitive).
    pub fn get_webhook(&self, workspace_uid: &str, name: &str) -> Result<Option<Webhook>> {
        HOOKS.get(self, workspace_uid, name)
    }

    /// Deletes a webhook and the deliveries owed to it; whether there was one.
    pub fn delete_webhook(&self, workspace_uid: &str, name: &str) -> Result<bool> {
        let key = name.to_lowercase();
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        tx.execute(
            "DELETE FROM webhook_deliveries WHERE workspace_uid = ?1 AND webhook_key = ?2",
            params![workspace_uid, key],
        )?;
        let n = tx.execute(
            "DELETE FROM ws_webhooks WHERE workspace_uid = ?1 AND name_key = ?2",
            params![workspace_uid, key],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// The newest `limit` deliveries of a webhook, newest first.
    pub fn list_webhook_deliveries(
        &self,
        workspace_uid: &str,
        name: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
              WHERE workspace_uid = ?1 AND webhook_key = ?2
              ORDER BY created_at DESC, event_id DESC LIMIT ?3"
        ))?;
        let rows = st.query_map(
            params![workspace_uid, name.to_lowercase(), limit as i64],
            row_to_delivery,
        )?;
        Ok(rows.collect::<crate::db::Result<_>>()?)
    }

    /// Claims up to `limit` pending deliveries due at `now_ms`, oldest first, with their
    /// webhook's URL and secret: their next attempt is moved to `now_ms + lease_ms`, so the
    /// next poll does not take them again while they are being sent, and a delivery whose
    /// sender died (a crash, a restart) is retried when the lease runs out.
    pub fn claim_webhook_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<DueDelivery>> {
        let rows: Vec<(Delivery, String, Vec<u8>)> = {
            let mut conn = self.conn();
            let tx = crate::store::write_tx(&mut conn)?;
            let cols: String = DELIVERY_COLUMNS
                .split(", ")
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let rows: Vec<(Delivery, String, Vec<u8>)> = {
                let mut st = tx.prepare(&format!(
                    "SELECT {cols}, h.url, h.secret FROM webhook_deliveries d
                       JOIN ws_webhooks h ON h.workspace_uid = d.workspace_uid AND h.name_key = d.webhook_key
                      WHERE d.state = 'Pending' AND d.next_attempt_at <= ?1
                      ORDER BY d.next_attempt_at LIMIT ?2"
                ))?;
                let rows = st.query_map(params![now_ms, limit as i64], |r| {
                    Ok((row_to_delivery(r)?, r.get(13)?, r.get(14)?))
                })?;
                rows.collect::<crate::db::Result<_>>()?
            };
            for (d, _, _) in &rows {
                tx.execute(
                    "UPDATE webhook_deliveries SET next_attempt_at = ?1
                      WHERE event_id = ?2 AND workspace_uid = ?3 AND webhook_key = ?4",
                    params![
                        now_ms + lease_ms,
                        d.event_id,
                        d.workspace_uid,
                        d.webhook_key
                    ],
                )?;
            }
            tx.commit()?;
            rows
        };
        rows.into_iter()
            .map(|(delivery, url, sealed)| {
                let plain = self.crypto().open(
                    &secret_aad(&delivery.workspace_uid, &delivery.webhook_key),
                    &sealed,
                )?;
                let secret =
                    Zeroizing::new(String::from_utf8(plain.to_vec()).map_err(|_| {
                        StoreError::Corrupt("a webhook secret is not UTF-8".into())
                    })?);
                Ok(DueDelivery {
                    delivery,
                    url,
                    secret,
                })
            })
            .collect()
    }

    /// Records an attempt: its HTTP status or error, and either the final state or when to try
    /// again (`next_attempt_at` for a still-pending delivery).
    #[allow(clippy::too_many_arguments)]
    pub fn record_webhook_attempt(
        &self,
        d: &Delivery,
        state: DeliveryState,
        status: Option<u16>,
        error: Option<&str>,
        attempted_at_ms: i64,
        next_attempt_at_ms: i64,
    ) -> Result<()> {
        self.conn().execute(
            "UPDATE webhook_deliveries
                SET state = ?1, attempts = attempts + 1, last_attempt_at = ?2, last_status = ?3,
                    last_error = ?4, next_attempt_at = ?5
              WHERE event_id = ?6 AND workspace_uid = ?7 AND webhook_key = ?8",
            params![
                state.as_str(),
                attempted_at_ms,
                status.map(i64::from),
                error,
                next_attempt_at_ms,
                d.event_id,
                d.workspace_uid,
                d.webhook_key
            ],
        )?;
        Ok(())
    }

    /// Forgets finished deliveries created before `before_ms` (the history is kept for a while
    /// for `deliveries` listings, not forever), and deliveries whose webhook is gone (its
    /// workspace was deleted).
    pub fn prune_webhook_deliveries(&self, before_ms: i64) -> Result<usize> {
        let conn = self.conn();
        let finished = conn.execute(
            "DELETE FROM webhook_deliveries WHERE state <> 'Pending' AND created_at < ?1",
            params![before_ms],
        )?;
        let orphaned = conn.execute(
            "DELETE FROM webhook_deliveries WHERE NOT EXISTS (
                 SELECT 1 FROM ws_webhooks h
                  WHERE h.workspace_uid = webhook_deliveries.workspace_uid
                    AND h.name_key = webhook_deliveries.webhook_key)",
            [],
        )?;
        Ok(finished + orphaned)
    }
}
