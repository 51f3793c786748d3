//! Job leases: which node runs a job, until when.
//!
//! Several qws nodes may share one database. A node runs a job only while it holds the job's
//! lease: a row naming the node and an expiry. It takes the lease with [`JobStore::claim_lease`]
//! (which succeeds only when nobody holds a live lease; a worker uses
//! [`JobStore::claim_attempt`], which also counts the attempt and reads the job in the same
//! commit), renews it while the job runs
//! ([`JobStore::renew_lease`], which also reports the job's status, so a cancellation made
//! through another node is seen), and gives it up with the job's final status change
//! ([`JobStore::transition_leased`], which makes that change only while it still holds the
//! lease, in one transaction). A node that dies stops renewing; once the lease has expired,
//! another node claims it and runs the job again. So a job ends once, by one node, even when two
//! nodes believed for a while that they ran it.
//!
//! On SQLite, lease changes (claim, renewal, release) are committed without a disk flush of
//! their own: a lease means something only while its node runs, and the nodes sharing a SQLite
//! file all stop when the machine does; the job's final status change, which releases the
//! lease, is flushed.
//!
//! Times are unix milliseconds from the node's clock: nodes sharing a database must have
//! synchronized clocks (they differ by much less than a lease's lifetime).
//!
//! The lease itself is one `INSERT … ON CONFLICT … DO UPDATE … WHERE` (insert, or take over an
//! expired lease), atomic in SQLite and PostgreSQL alike. On PostgreSQL a claim first locks the
//! job's row with `FOR UPDATE SKIP LOCKED` and takes none of the store's write lock (`crate::db`):
//! nodes claiming at once never wait for each other, and [`JobStore::claim_next`] hands them
//! different jobs. On SQLite claims are serialized by its single writer, as every write. The
//! scan for claimable jobs ([`JobStore::claimable_jobs`]) is a plain read. A cancellation made
//! through another node is seen by the renewal loop, at most one renewal period later.
//!
//! The table, `dp_job_leases`, is created by a numbered migration (`crate::schema`).

use crate::db::{params, Conn, Dialect, OptionalExtension};
use crate::jobs::{
    attempts_in, count_attempt, flushed_alone, item_exists, read_item, stored, transition_in,
    unflushed, JobStore, Stored, Transition,
};
use crate::store::{write_tx, Result};
use qws_core::jobs::{Item, Job, JobStatus};
use std::time::Duration;

/// Unix milliseconds now.
pub fn now_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

fn expiry(ttl: Duration) -> i64 {
    now_millis().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
}

/// The outcome of [`JobStore::renew_lease`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Still held, now until `ttl` from now; the job's current status (`None`: the job was
    /// deleted).
    Held(Option<String>),
    /// Another node holds the lease now, or nobody does: stop working on the job.
    Lost,
}

/// The outcome of [`JobStore::transition_leased`].
#[derive(Debug, Clone, PartialEq)]
pub enum Leased<T> {
    /// The lease was held; the transition's own outcome. When the move was made, the lease is
    /// released with it.
    Held(Transition<T>),
    /// This node does not hold the lease; nothing changed.
    NotHeld,
}

/// The outcome of [`JobStore::claim_attempt`].
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// Somebody (this node included) holds a live lease on the job: nothing changed.
    NotClaimed,
    /// The job is gone or no longer `Waiting`: nothing to run. A lease the claim may have
    /// taken is the caller's to release.
    NotWaiting,
    /// The lease is `owner`'s, but the job was already started this many times (the most it
    /// may be): not counted again; the caller fails it.
    Exhausted(u32),
    /// The lease is `owner`'s and this attempt (`attempt`, counting from 1) is on record; the
    /// job as stored.
    Started {
        /// The job.
        job: Box<Stored<Job>>,
        /// Attempts counted so far, this one included.
        attempt: u32,
    },
}

/// Rounds of [`JobStore::claim_next`] that may each lose a job to another node.
const CLAIM_ROUNDS: usize = 64;

/// The atomic lease upsert: inserts `owner`'s lease, or takes over an expired one; 1 when the
/// lease is now `owner`'s, 0 when somebody holds a live one.
fn take_lease(
    conn: &Conn,
    workspace_uid: &str,
    id: &str,
    owner: &str,
    ttl: Duration,
) -> Result<usize> {
    Ok(conn.execute(
        "INSERT INTO dp_job_leases (workspace_uid, job_id, owner, expires_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (workspace_uid, job_id) DO UPDATE
            SET owner = excluded.owner, expires_at = excluded.expires_at
          WHERE dp_job_leases.expires_at <= ?5",
        params![workspace_uid, id, owner, expiry(ttl), now_millis()],
    )?)
}

/// Jobs in status `?1` that nobody holds a live lease on at time `?2`, oldest first; `tail`
/// ends the statement (its `LIMIT`, and on PostgreSQL the row lock of a claim).
fn claimable_sql(tail: &str) -> String {
    format!(
        "SELECT i.workspace_uid, i.id FROM dp_items i
           LEFT JOIN dp_job_leases l ON l.workspace_uid = i.workspace_uid AND l.job_id = i.id
          WHERE i.status = ?1 AND i.item_type = 'Job'
            AND (l.job_id IS NULL OR l.expires_at <= ?2)
          ORDER BY i.created_at {tail}"
    )
}

/// PostgreSQL: locks the job's row for the rest of `conn`'s transaction. With `skip_locked`, a
/// row another transaction holds is skipped instead of waited for; false then (and when the
/// job does not exist).
fn lock_job_row(conn: &Conn, workspace_uid: &str, id: &str, skip_locked: bool) -> Result<bool> {
    let sql = if skip_locked {
        "SELECT 1 FROM dp_items WHERE workspace_uid = ?1 AND id = ?2 FOR UPDATE SKIP LOCKED"
    } else {
        "SELECT 1 FROM dp_items WHERE workspace_uid = ?1 AND id = ?2 FOR UPDATE"
    };
    Ok(conn
        .query_row(sql, params![workspace_uid, id], |r| r.get::<_, i64>(0))
        .optional()?
        .is_some())
}

fn lease_owner(conn: &Conn, workspace_uid: &str, id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT owner FROM dp_job_leases WHERE workspace_uid = ?1 AND job_id = ?2",
            params![workspace_uid, id],
            |r| r.get(0),
        )
        .optional()?)
}

impl JobStore {
    /// Takes the lease of a job for `owner` until `ttl` from now. Succeeds only when nobody
    /// holds a live lease on it, not even `owner` itself: a node never runs one job twice at
    /// once.
    pub fn claim_lease(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let mut conn = self.conn();
        if conn.dialect() == Dialect::Sqlite {
            return unflushed(&mut conn, |conn| {
                Ok(take_lease(conn, workspace_uid, id, owner, ttl)? == 1)
            });
        }
        let tx = conn.concurrent_transaction()?;
        // The job's row is locked for the claim; a row another node is claiming right now is
        // skipped: that node gets the job, this one moves on at once instead of waiting.
        if !lock_job_row(&tx, workspace_uid, id, true)? {
            return Ok(false);
        }
        let n = take_lease(&tx, workspace_uid, id, owner, ttl)?;
        tx.commit()?;
        Ok(n == 1)
    }

    /// Takes a waiting job's lease for `owner` (as [`JobStore::claim_lease`]) and, in the same
    /// transaction, counts the attempt ([`JobStore::begin_attempt`]) and reads the job: what a
    /// worker does before it touches the program, in one commit. An attempt is counted only
    /// while the job has been started fewer than `max_attempts` times.
    ///
    /// Not flushed on its own on SQLite ([`unflushed`], like every lease change and attempt
    /// count): a lease means something only while its node runs, and every node sharing a
    /// SQLite file stops with the machine; the attempt survives the process dying, which is
    /// what it guards against.
    pub fn claim_attempt(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        ttl: Duration,
        max_attempts: u32,
    ) -> Result<Attempt> {
        let mut conn = self.conn();
        unflushed(&mut conn, |conn| {
            let tx = conn.concurrent_transaction()?;
            // PostgreSQL: the job's row is locked for the claim, skipped when another node is
            // claiming it right now (see `claim_lease`).
            if tx.dialect() == Dialect::Postgres && !lock_job_row(&tx, workspace_uid, id, true)? {
                return Ok(if item_exists(&tx, workspace_uid, id)? {
                    Attempt::NotClaimed
                } else {
                    Attempt::NotWaiting
                });
            }
            if take_lease(&tx, workspace_uid, id, owner, ttl)? != 1 {
                return Ok(Attempt::NotClaimed);
            }
            let job = stored::<Job>(read_item(&tx, workspace_uid, id)?)?
                .filter(|j| j.item.status() == JobStatus::Waiting);
            let outcome = match job {
                None => Attempt::NotWaiting,
                Some(job) => {
                    let before = attempts_in(&tx, workspace_uid, id)?;
                    if before >= max_attempts {
                        Attempt::Exhausted(before)
                    } else {
                        match count_attempt(&tx, workspace_uid, id)? {
                            Some(attempt) => Attempt::Started {
                                job: Box::new(job),
                                attempt,
                            },
                            None => Attempt::NotWaiting,
                        }
                    }
                }
            };
            // The lease is kept whatever the job's state: the caller ends its work on the job
            // (failing it, or nothing) and then releases it.
            tx.commit()?;
            Ok(outcome)
        })
    }

    /// Claims the oldest job in `status` that nobody holds a live lease on, for `owner` until
    /// `ttl` from now; `None` when there is none. On PostgreSQL the candidate is picked with
    /// `FOR UPDATE SKIP LOCKED`: nodes claiming at once pick different jobs and never wait for
    /// each other. On SQLite the claim runs in one immediate transaction (one writer at a time).
    pub fn claim_next(
        &self,
        status: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<(String, String)>> {
        let mut conn = self.conn();
        let lock = match conn.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE OF i SKIP LOCKED",
        };
        let pick = claimable_sql(&format!("LIMIT 1{lock}"));
        // A candidate whose lease another node took (and committed) after this statement's
        // snapshot is refused by the lease upsert; the next round sees that lease and picks
        // another job. Each such round means another node claimed a job, so it ends.
        for _ in 0..CLAIM_ROUNDS {
            let tx = conn.concurrent_transaction()?;
            let picked: Option<(String, String)> = tx
                .query_row(&pick, params![status, now_millis()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            let Some((ws, id)) = picked else {
                return Ok(None);
            };
            if take_lease(&tx, &ws, &id, owner, ttl)? == 1 {
                tx.commit()?;
                return Ok(Some((ws, id)));
            }
        }
        Ok(None)
    }

    /// Extends `owner`'s lease to `ttl` from now, and reads the job's status. An expired lease
    /// that nobody took over is still `owner`'s and is renewed.
    pub fn renew_lease(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Renewal> {
        // Not flushed on its own (see `claim_attempt`): only a live node's lease matters.
        let mut conn = self.conn();
        unflushed(&mut conn, |conn| {
            let n = conn.execute(
                "UPDATE dp_job_leases SET expires_at = ?4
                  WHERE workspace_uid = ?1 AND job_id = ?2 AND owner = ?3",
                params![workspace_uid, id, owner, expiry(ttl)],
            )?;
            if n != 1 {
                return Ok(Renewal::Lost);
            }
            let status = conn
                .query_row(
                    "SELECT status FROM dp_items WHERE workspace_uid = ?1 AND id = ?2",
                    params![workspace_uid, id],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(Renewal::Held(status))
        })
    }

    /// Gives up `owner`'s lease of a job (nothing happens if another node holds it).
    pub fn release_lease(&self, workspace_uid: &str, id: &str, owner: &str) -> Result<()> {
        // Not flushed on its own (see `claim_attempt`): a release lost with the machine leaves
        // the lease of a process that is gone, which the next start drops or lets expire.
        let mut conn = self.conn();
        unflushed(&mut conn, |conn| {
            conn.execute(
                "DELETE FROM dp_job_leases WHERE workspace_uid = ?1 AND job_id = ?2 AND owner = ?3",
                params![workspace_uid, id, owner],
            )?;
            Ok(())
        })
    }

    /// Drops every lease of `owner`: a node that starts holds none, whatever a previous process
    /// with its id left behind (so a restarted node recovers its own jobs at once instead of
    /// after their leases expire).
    pub fn release_leases_of(&self, owner: &str) -> Result<usize> {
        Ok(self
            .conn()
            .execute("DELETE FROM dp_job_leases WHERE owner = ?1", params![owner])?)
    }

    /// Drops every lease: for a node that knows it is the only one (it holds the data
    /// directory exclusively), every lease is a dead process's.
    pub fn release_all_leases(&self) -> Result<usize> {
        Ok(self.conn().execute("DELETE FROM dp_job_leases", [])?)
    }

    /// Drops expired leases of jobs that are no longer `Waiting` or `Executing` (or are gone).
    /// A claim is a plain insert, so a node can claim a job another node has just finished
    /// (both had queued it); it lets go at once, unless it dies first. Nobody would ever take
    /// such a lease over (only unfinished jobs are claimable), so it is swept here.
    pub fn drop_stale_leases(&self) -> Result<usize> {
        Ok(self.conn().execute(
            "DELETE FROM dp_job_leases
              WHERE expires_at <= ?1
                AND NOT EXISTS (SELECT 1 FROM dp_items i
                                 WHERE i.workspace_uid = dp_job_leases.workspace_uid
                                   AND i.id = dp_job_leases.job_id
                                   AND i.status IN ('Waiting', 'Executing'))",
            params![now_millis()],
        )?)
    }

    /// Jobs in `status` that nobody holds a live lease on, oldest first, at most `limit`, as
    /// (workspace uid, job id). Waiting ones are free to run; Executing ones were left by a node
    /// that stopped.
    pub fn claimable_jobs(&self, status: &str, limit: usize) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        // A plain read: the claim itself is the atomic step, so two nodes that list the same
        // job race only in `claim_lease`, where one wins.
        let mut stmt = conn.prepare_cached(&claimable_sql("LIMIT ?3"))?;
        let rows = stmt.query_map(
            params![
                status,
                now_millis(),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(rows.collect::<crate::db::Result<Vec<_>>>()?)
    }

    /// [`JobStore::transition`], made only while `owner` holds the job's lease (live or expired
    /// but not taken over), in the same transaction. When the move is made and `to` ends the
    /// node's work on the job (`release`), the lease is released with it.
    #[allow(clippy::too_many_arguments)]
    pub fn transition_leased<T: Item>(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        from: &[T::Status],
        to: T::Status,
        release: bool,
        edit: &mut dyn FnMut(&mut T),
    ) -> Result<Leased<T>> {
        let mut conn = self.conn();
        if !flushed_alone::<T>(to) {
            return unflushed(&mut conn, |conn| {
                Self::transition_leased_in(conn, workspace_uid, id, owner, from, to, release, edit)
            });
        }
        Self::transition_leased_in(&mut conn, workspace_uid, id, owner, from, to, release, edit)
    }

    /// [`JobStore::transition_leased`] on a connection.
    #[allow(clippy::too_many_arguments)]
    fn transition_leased_in<T: Item>(
        conn: &mut Conn,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        from: &[T::Status],
        to: T::Status,
        release: bool,
        edit: &mut dyn FnMut(&mut T),
    ) -> Result<Leased<T>> {
        let tx = match conn.dialect() {
            Dialect::Sqlite => write_tx(conn)?,
            // Not the store's write lock, which would serialize every job's start and end
            // across all nodes: the job's row lock is enough. A claim takes that lock too, so
            // the lease's owner cannot change under it; every other change of the job waits
            // for it; and the rows this transaction writes besides (webhook deliveries, the
            // lease) are its own job's.
            Dialect::Postgres => {
                let tx = conn.concurrent_transaction()?;
                lock_job_row(&tx, workspace_uid, id, false)?;
                tx
            }
        };
        if lease_owner(&tx, workspace_uid, id)?.as_deref() != Some(owner) {
            return Ok(Leased::NotHeld);
        }
        let out = transition_in(&tx, workspace_uid, id, from, to, edit)?;
        if matches!(out, Transition::Done(_)) {
            if release {
                tx.execute(
                    "DELETE FROM dp_job_leases WHERE workspace_uid = ?1 AND job_id = ?2",
                    params![workspace_uid, id],
                )?;
            }
            tx.commit()?;
        }
        Ok(Leased::Held(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::ItemRow;
    use qws_core::jobs::{Job, JobStatus};

    const TTL: Duration = Duration::from_secs(30);

    /// Two job stores on one database file, as two nodes have.
    fn two_nodes() -> (tempfile::TempDir, JobStore, JobStore) {
        let dir = tempfile::tempdir().unwrap();
        let (crypto, _) = crate::crypto::Crypto::load_or_create(dir.path()).unwrap();
        let _store = crate::Store::open(dir.path(), crypto).unwrap();
        let a = JobStore::open(dir.path()).unwrap();
        let b = JobStore::open(dir.path()).unwrap();
        (dir, a, b)
    }

    fn add_job(s: &JobStore, id: &str, t: i64) {
        let doc = serde_json::json!({
            "id": id, "name": id, "providerId": "ionq", "target": "ionq.simulator",
            "itemType": "Job", "status": "Waiting", "containerUri": "http://h/c",
            "inputDataUri": "http://h/c/inputData", "inputDataFormat": "ionq.circuit.v1",
            "outputDataFormat": "ionq.quantum-results.v1", "outputDataUri": "http://h/c/outputData",
            "creationTime": "2026-11-01T00:00:00.0000000Z", "createdBy": "k", "createdByType": "Key",
        });
        assert!(s
            .insert_item(&ItemRow {
                workspace_uid: "w".into(),
                id: id.into(),
                item_type: "Job".into(),
                session_id: None,
                status: "Waiting".into(),
                created_at: t,
                doc: doc.to_string(),
            })
            .unwrap());
    }

    fn expire_all(s: &JobStore) {
        s.conn()
            .execute("UPDATE dp_job_leases SET expires_at = 0", [])
            .unwrap();
    }

    fn start(s: &JobStore, owner: &str, id: &str) -> Leased<Job> {
        s.transition_leased::<Job>(
            "w",
            id,
            owner,
            &[JobStatus::Waiting],
            JobStatus::Executing,
            false,
            &mut |_| {},
        )
        .unwrap()
    }

    fn finish(s: &JobStore, owner: &str, id: &str, to: JobStatus) -> Leased<Job> {
        s.transition_leased::<Job>(
            "w",
            id,
            owner,
            &[JobStatus::Executing],
            to,
            true,
            &mut |_| {},
        )
        .unwrap()
    }

    #[test]
    fn one_node_claims_a_job_the_other_is_refused_even_itself() {
        let (_d, a, b) = two_nodes();
        add_job(&a, "j", 1);
        assert!(a.claim_lease("w", "j", "A", TTL).unwrap());
        assert!(!b.claim_lease("w", "j", "B", TTL).unwrap());
        assert!(
            !a.claim_lease("w", "j", "A", TTL).unwrap(),
            "no second run on A"
        );
        assert_eq!(b.claimable_jobs("Waiting", 10).unwrap(), vec![]);
        a.release_lease("w", "j", "B").unwrap();
        assert!(
            !b.claim_lease("w", "j", "B", TTL).unwrap(),
            "B cannot release A's"
        );
        a.release_lease("w", "j", "A").unwrap();
        assert_eq!(
            b.claimable_jobs("Waiting", 10).unwrap(),
            vec![("w".to_string(), "j".to_string())]
        );
        assert!(b.claim_lease("w", "j", "B", TTL).unwrap());
    }

    fn lease_count(s: &JobStore) -> i64 {
        s.conn()
            .query_row("SELECT count(*) FROM dp_job_leases", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn expired_leases_of_ended_jobs_are_swept_and_no_other() {
        let (_d, a, b) = two_nodes();
        for (id, t) in [("done", 1), ("waiting", 2), ("running", 3), ("live", 4)] {
            add_job(&a, id, t);
        }
        // "done" ended on A; B claimed it afterwards (it had queued it too) and died.
        assert!(a.claim_lease("w", "done", "A", TTL).unwrap());
        assert!(matches!(
            start(&a, "A", "done"),
            Leased::Held(Transition::Done(_))
        ));
        assert!(matches!(
            finish(&a, "A", "done", JobStatus::Succeeded),
            Leased::Held(Transition::Done(_))
        ));
        assert!(b.claim_lease("w", "done", "B", TTL).unwrap());
        // Unfinished jobs with expired leases (a dead node's) stay for a takeover.
        assert!(b.claim_lease("w", "waiting", "B", TTL).unwrap());
        assert!(b.claim_lease("w", "running", "B", TTL).unwrap());
        assert!(matches!(
            start(&b, "B", "running"),
            Leased::Held(Transition::Done(_))
        ));
        expire_all(&a);
        // A live lease of an ended job is its holder's to give up.
        assert!(a.claim_lease("w", "live", "A", TTL).unwrap());
        a.transition::<Job>(
            "w",
            "live",
            &[JobStatus::Waiting],
            JobStatus::Cancelled,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(lease_count(&a), 4);

        assert_eq!(b.drop_stale_leases().unwrap(), 1);
        assert_eq!(lease_count(&a), 3);
        assert!(!a.claim_lease("w", "live", "B", TTL).unwrap());
        let mut claimable = a.claimable_jobs("Waiting", 10).unwrap();
        claimable.extend(a.claimable_jobs("Executing", 10).unwrap());
        assert_eq!(
            claimable,
            vec![
                ("w".to_string(), "waiting".to_string()),
                ("w".to_string(), "running".to_string())
            ]
        );
    }

    fn started_attempt(a: Attempt) -> u32 {
        match a {
            Attempt::Started { job, attempt } => {
                assert_eq!(job.item.status, JobStatus::Waiting);
                attempt
            }
            other => panic!("not started: {other:?}"),
        }
    }

    #[test]
    fn a_claimed_attempt_holds_the_lease_counts_the_attempt_and_reads_the_job() {
        let (_d, a, b) = two_nodes();
        add_job(&a, "j", 1);
        assert_eq!(
            a.claim_attempt("w", "nope", "A", TTL, 3).unwrap(),
            Attempt::NotWaiting,
            "no such job"
        );
        assert_eq!(
            started_attempt(a.claim_attempt("w", "j", "A", TTL, 3).unwrap()),
            1
        );
        assert_eq!(a.attempts("w", "j").unwrap(), 1);
        // The lease is A's: B is refused, and so is A itself, without counting anything.
        assert_eq!(
            b.claim_attempt("w", "j", "B", TTL, 3).unwrap(),
            Attempt::NotClaimed
        );
        assert_eq!(
            a.claim_attempt("w", "j", "A", TTL, 3).unwrap(),
            Attempt::NotClaimed
        );
        assert_eq!(a.attempts("w", "j").unwrap(), 1);
        assert!(matches!(
            start(&a, "A", "j"),
            Leased::Held(Transition::Done(_))
        ));
        // A died while executing; its lease expired and the job went back to Waiting.
        expire_all(&a);
        assert!(b.claim_lease("w", "j", "B", TTL).unwrap());
        b.transition_leased::<Job>(
            "w",
            "j",
            "B",
            &[JobStatus::Executing],
            JobStatus::Waiting,
            true,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            started_attempt(b.claim_attempt("w", "j", "B", TTL, 3).unwrap()),
            2
        );
        b.release_lease("w", "j", "B").unwrap();
        assert_eq!(
            started_attempt(a.claim_attempt("w", "j", "A", TTL, 3).unwrap()),
            3
        );
        a.release_lease("w", "j", "A").unwrap();
        // Started as often as it may be: claimed (so the caller can fail it), not counted.
        assert_eq!(
            b.claim_attempt("w", "j", "B", TTL, 3).unwrap(),
            Attempt::Exhausted(3)
        );
        assert_eq!(a.attempts("w", "j").unwrap(), 3);
        assert_eq!(
            a.renew_lease("w", "j", "A", TTL).unwrap(),
            Renewal::Lost,
            "B holds it"
        );
        b.release_lease("w", "j", "B").unwrap();
        // A job that is no longer waiting is claimed but not counted.
        a.transition::<Job>(
            "w",
            "j",
            &[JobStatus::Waiting],
            JobStatus::Cancelled,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            a.claim_attempt("w", "j", "A", TTL, 9).unwrap(),
            Attempt::NotWaiting
        );
        assert_eq!(a.attempts("w", "j").unwrap(), 3);
    }

    #[test]
    fn renewal_reports_the_status_and_a_lost_lease() {
        let (_d, a, b) = two_nodes();
        add_job(&a, "j", 1);
        assert!(a.claim_lease("w", "j", "A", TTL).unwrap());
        assert_eq!(
            a.renew_lease("w", "j", "A", TTL).unwrap(),
            Renewal::Held(Some("Waiting".into()))
        );
        // Cancelled through the other node: the renewal sees it.
        b.transition::<Job>(
            "w",
            "j",
            &[JobStatus::Waiting],
            JobStatus::Cancelled,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            a.renew_lease("w", "j", "A", TTL).unwrap(),
            Renewal::Held(Some("Cancelled".into()))
        );
        assert_eq!(b.renew_lease("w", "j", "B", TTL).unwrap(), Renewal::Lost);
        b.delete_item("w", "j").unwrap();
        assert_eq!(
            a.renew_lease("w", "j", "A", TTL).unwrap(),
            Renewal::Held(None)
        );
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_the_first_owner_can_no_longer_finish() {
        let (_d, a, b) = two_nodes();
        add_job(&a, "j", 1);
        assert!(a.claim_lease("w", "j", "A", TTL).unwrap());
        assert!(matches!(
            start(&a, "A", "j"),
            Leased::Held(Transition::Done(_))
        ));
        assert_eq!(b.claimable_jobs("Executing", 10).unwrap(), vec![]);
        // A stops renewing (killed); its lease expires.
        expire_all(&a);
        assert_eq!(
            b.claimable_jobs("Executing", 10).unwrap(),
            vec![("w".to_string(), "j".to_string())]
        );
        assert!(b.claim_lease("w", "j", "B", TTL).unwrap());
        assert_eq!(a.renew_lease("w", "j", "A", TTL).unwrap(), Renewal::Lost);
        // A comes back and tries to finish: refused, nothing changes.
        assert_eq!(finish(&a, "A", "j", JobStatus::Succeeded), Leased::NotHeld);
        assert_eq!(
            b.get::<Job>("w", "j").unwrap().unwrap().item.status,
            JobStatus::Executing
        );
        // B finishes; the lease goes with the final status.
        assert!(matches!(
            finish(&b, "B", "j", JobStatus::Succeeded),
            Leased::Held(Transition::Done(_))
        ));
        assert_eq!(b.renew_lease("w", "j", "B", TTL).unwrap(), Renewal::Lost);
    }

    #[test]
    fn a_job_is_finished_once_a_second_finish_is_refused() {
        let (_d, a, b) = two_nodes();
        add_job(&a, "j", 1);
        assert!(a.claim_lease("w", "j", "A", TTL).unwrap());
        start(&a, "A", "j");
        assert!(matches!(
            finish(&a, "A", "j", JobStatus::Succeeded),
            Leased::Held(Transition::Done(_))
        ));
        // Again through A (no lease any more) and through B after claiming the free lease.
        assert_eq!(finish(&a, "A", "j", JobStatus::Failed), Leased::NotHeld);
        assert!(b.claim_lease("w", "j", "B", TTL).unwrap());
        assert!(matches!(
            finish(&b, "B", "j", JobStatus::Failed),
            Leased::Held(Transition::Refused(_))
        ));
        let job = a.get::<Job>("w", "j").unwrap().unwrap().item;
        assert_eq!(job.status, JobStatus::Succeeded);
    }

    #[test]
    fn a_restarted_node_drops_its_old_leases_only() {
        let (_d, a, b) = two_nodes();
        add_job(&a, "j1", 1);
        add_job(&a, "j2", 2);
        assert!(a.claim_lease("w", "j1", "A", TTL).unwrap());
        assert!(b.claim_lease("w", "j2", "B", TTL).unwrap());
        assert_eq!(a.release_leases_of("A").unwrap(), 1);
        assert_eq!(
            a.claimable_jobs("Waiting", 10).unwrap(),
            vec![("w".to_string(), "j1".to_string())]
        );
    }

    /// Runs `claim` on nodes A and B at once for `rounds` rounds (each round starts on both
    /// together, after both finished the previous one); what A and B got in each round.
    fn claim_in_lockstep<T: Send>(
        a: &JobStore,
        b: &JobStore,
        rounds: usize,
        claim: impl Fn(&JobStore, &str, usize) -> T + Sync,
    ) -> Vec<(T, T)> {
        let barrier = std::sync::Barrier::new(2);
        let side = |s: &JobStore, owner: &str| -> Vec<T> {
            (0..rounds)
                .map(|round| {
                    barrier.wait();
                    claim(s, owner, round)
                })
                .collect()
        };
        let (got_a, got_b) = std::thread::scope(|t| {
            let ta = t.spawn(|| side(a, "A"));
            let tb = t.spawn(|| side(b, "B"));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        got_a.into_iter().zip(got_b).collect()
    }

    #[test]
    fn nodes_claiming_at_once_get_different_jobs_and_never_both_fail() {
        let (_d, a, b) = two_nodes();
        const JOBS: usize = 24;
        for k in 0..JOBS {
            add_job(&a, &format!("j{k:02}"), k as i64);
        }
        let rounds = claim_in_lockstep(&a, &b, JOBS + 2, |s, owner, _| {
            s.claim_next("Waiting", owner, TTL).unwrap()
        });
        let mut claimed = Vec::new();
        for (round, (got_a, got_b)) in rounds.iter().enumerate() {
            if claimed.len() < JOBS {
                assert!(
                    got_a.is_some() || got_b.is_some(),
                    "round {round}: both failed with {} jobs left",
                    JOBS - claimed.len()
                );
            }
            claimed.extend(got_a.iter().chain(got_b).map(|(_, id)| id.clone()));
        }
        claimed.sort();
        let all: Vec<String> = (0..JOBS).map(|k| format!("j{k:02}")).collect();
        assert_eq!(claimed, all, "every job claimed exactly once");
        assert_eq!(a.claim_next("Waiting", "A", TTL).unwrap(), None);
        // An expired lease makes its job claimable again, by either node.
        expire_all(&a);
        assert!(b.claim_next("Waiting", "B", TTL).unwrap().is_some());
    }

    #[test]
    fn two_nodes_claiming_one_job_at_once_never_both_get_it() {
        let (_d, a, b) = two_nodes();
        const JOBS: usize = 16;
        for k in 0..JOBS {
            add_job(&a, &format!("j{k:02}"), k as i64);
        }
        let rounds = claim_in_lockstep(&a, &b, JOBS, |s, owner, round| {
            s.claim_lease("w", &format!("j{round:02}"), owner, TTL)
                .unwrap()
        });
        for (round, (got_a, got_b)) in rounds.into_iter().enumerate() {
            // Exactly one: whoever locks the job's row first takes the lease; the other finds
            // the row locked (PostgreSQL: skipped, no waiting) or the lease live.
            assert!(got_a != got_b, "round {round}: A {got_a}, B {got_b}");
            let holder = lease_owner(&a.conn(), "w", &format!("j{round:02}")).unwrap();
            assert_eq!(holder.as_deref(), Some(if got_a { "A" } else { "B" }));
        }
    }
}
