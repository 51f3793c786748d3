//! The narrow views of the store the job scheduler works through.
//!
//! [`JobQueueStore`] is the job and session metadata the scheduler reads and moves through
//! their statuses; [`JobDataStore`] is the job data (input and output blobs). The scheduler
//! depends on these traits only, not on the server's state, so it can be tested against a
//! store in a temporary directory and another backend can implement them.

use crate::blobs::{BlobHeaders, BlobStore};
use crate::jobs::{JobStore, Stored, Transition};
use crate::leases::{Attempt, Leased, Renewal};
use crate::store::Result;
use qws_core::jobs::{Job, JobStatus, Lifecycle, Session, SessionStatus};
use std::fmt;
use std::time::Duration;

/// Job and session metadata, as the scheduler uses it.
pub trait JobQueueStore: Send + Sync + fmt::Debug {
    /// Takes back the attempt of a job set aside on purpose (a graceful shutdown).
    fn release_attempt(&self, workspace_uid: &str, id: &str) -> Result<()>;
    /// Attempts counted so far (0 for an unknown job).
    fn attempts(&self, workspace_uid: &str, id: &str) -> Result<u32>;
    /// One job.
    fn job(&self, workspace_uid: &str, id: &str) -> Result<Option<Stored<Job>>>;
    /// One session.
    fn session(&self, workspace_uid: &str, id: &str) -> Result<Option<Stored<Session>>>;
    /// Jobs in `status` across all workspaces, oldest first, at most `limit` (restart
    /// recovery).
    fn jobs_in_status(&self, status: JobStatus, limit: usize) -> Result<Vec<Stored<Job>>>;
    /// Ids of a session's jobs in `status`, oldest first, at most `limit`.
    fn session_jobs_in_status(
        &self,
        workspace_uid: &str,
        session_id: &str,
        status: JobStatus,
        limit: usize,
    ) -> Result<Vec<String>>;
    /// Moves a job from one of `from` to `to` (see [`JobStore::transition`]).
    fn transition_job(
        &self,
        workspace_uid: &str,
        id: &str,
        from: &[JobStatus],
        to: JobStatus,
        edit: &mut dyn FnMut(&mut Job),
    ) -> Result<Transition<Job>>;
    /// Moves a session from one of `from` to `to` (see [`JobStore::transition`]).
    fn transition_session(
        &self,
        workspace_uid: &str,
        id: &str,
        from: &[SessionStatus],
        to: SessionStatus,
        edit: &mut dyn FnMut(&mut Session),
    ) -> Result<Transition<Session>>;

    // ---- leases (see `crate::leases`): which node runs a job ------------------------------

    /// Takes a job's lease for `owner` if nobody holds a live one.
    fn claim_lease(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool>;
    /// Takes a waiting job's lease for `owner`, counts the attempt (unless `max_attempts` were
    /// made) and reads the job, in one transaction (see [`JobStore::claim_attempt`]). Called
    /// before the scheduler touches the program, so a program that kills the process is counted.
    fn claim_attempt(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        ttl: Duration,
        max_attempts: u32,
    ) -> Result<Attempt>;
    /// Extends `owner`'s lease and reads the job's status.
    fn renew_lease(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Renewal>;
    /// Gives up `owner`'s lease of a job.
    fn release_lease(&self, workspace_uid: &str, id: &str, owner: &str) -> Result<()>;
    /// Drops every lease `owner` holds (a node starting).
    fn release_leases_of(&self, owner: &str) -> Result<usize>;
    /// Drops expired leases of jobs that have ended or are gone.
    fn drop_stale_leases(&self) -> Result<usize>;
    /// Jobs in `status` without a live lease, oldest first, as (workspace uid, id).
    fn claimable_jobs(&self, status: JobStatus, limit: usize) -> Result<Vec<(String, String)>>;
    /// Claims the oldest job in `status` without a live lease for `owner` (nodes claiming at
    /// once get different jobs); `None` when there is none.
    fn claim_next(
        &self,
        status: JobStatus,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<(String, String)>>;
    /// [`JobQueueStore::transition_job`], only while `owner` holds the lease; `release` gives
    /// the lease up with the move.
    #[allow(clippy::too_many_arguments)]
    fn transition_job_leased(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        from: &[JobStatus],
        to: JobStatus,
        release: bool,
        edit: &mut dyn FnMut(&mut Job),
    ) -> Result<Leased<Job>>;
}

impl JobQueueStore for JobStore {
    fn release_attempt(&self, workspace_uid: &str, id: &str) -> Result<()> {
        JobStore::release_attempt(self, workspace_uid, id)
    }
    fn attempts(&self, workspace_uid: &str, id: &str) -> Result<u32> {
        JobStore::attempts(self, workspace_uid, id)
    }
    fn job(&self, workspace_uid: &str, id: &str) -> Result<Option<Stored<Job>>> {
        self.get::<Job>(workspace_uid, id)
    }
    fn session(&self, workspace_uid: &str, id: &str) -> Result<Option<Stored<Session>>> {
        self.get::<Session>(workspace_uid, id)
    }
    fn jobs_in_status(&self, status: JobStatus, limit: usize) -> Result<Vec<Stored<Job>>> {
        let mut out = Vec::new();
        for row in self.jobs_with_status(&[status.as_str()], limit)? {
            // A document that no longer parses cannot be run; it is left as it is.
            if let Some(job) = self.get::<Job>(&row.workspace_uid, &row.id).ok().flatten() {
                out.push(job);
            }
        }
        Ok(out)
    }
    fn session_jobs_in_status(
        &self,
        workspace_uid: &str,
        session_id: &str,
        status: JobStatus,
        limit: usize,
    ) -> Result<Vec<String>> {
        self.session_job_ids(workspace_uid, session_id, status.as_str(), limit)
    }
    fn transition_job(
        &self,
        workspace_uid: &str,
        id: &str,
        from: &[JobStatus],
        to: JobStatus,
        edit: &mut dyn FnMut(&mut Job),
    ) -> Result<Transition<Job>> {
        self.transition(workspace_uid, id, from, to, edit)
    }
    fn transition_session(
        &self,
        workspace_uid: &str,
        id: &str,
        from: &[SessionStatus],
        to: SessionStatus,
        edit: &mut dyn FnMut(&mut Session),
    ) -> Result<Transition<Session>> {
        self.transition(workspace_uid, id, from, to, edit)
    }
    fn claim_lease(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool> {
        JobStore::claim_lease(self, workspace_uid, id, owner, ttl)
    }
    fn claim_attempt(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        ttl: Duration,
        max_attempts: u32,
    ) -> Result<Attempt> {
        JobStore::claim_attempt(self, workspace_uid, id, owner, ttl, max_attempts)
    }
    fn renew_lease(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        ttl: Duration,
    ) -> Result<Renewal> {
        JobStore::renew_lease(self, workspace_uid, id, owner, ttl)
    }
    fn release_lease(&self, workspace_uid: &str, id: &str, owner: &str) -> Result<()> {
        JobStore::release_lease(self, workspace_uid, id, owner)
    }
    fn release_leases_of(&self, owner: &str) -> Result<usize> {
        JobStore::release_leases_of(self, owner)
    }
    fn drop_stale_leases(&self) -> Result<usize> {
        JobStore::drop_stale_leases(self)
    }
    fn claimable_jobs(&self, status: JobStatus, limit: usize) -> Result<Vec<(String, String)>> {
        JobStore::claimable_jobs(self, status.as_str(), limit)
    }
    fn claim_next(
        &self,
        status: JobStatus,
        owner: &str,
        ttl: Duration,
    ) -> Result<Option<(String, String)>> {
        JobStore::claim_next(self, status.as_str(), owner, ttl)
    }
    fn transition_job_leased(
        &self,
        workspace_uid: &str,
        id: &str,
        owner: &str,
        from: &[JobStatus],
        to: JobStatus,
        release: bool,
        edit: &mut dyn FnMut(&mut Job),
    ) -> Result<Leased<Job>> {
        self.transition_leased(workspace_uid, id, owner, from, to, release, edit)
    }
}

/// Reading a job's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The bytes as stored, with their `Content-Encoding`.
    Found {
        /// Stored bytes.
        data: Vec<u8>,
        /// `Content-Encoding` (e.g. `gzip`), if any.
        content_encoding: Option<String>,
    },
    /// No such blob (or container).
    NotFound,
    /// Larger than the limit (its stored length); not read.
    TooLarge(u64),
}

/// A job data failure, as text (backends differ in their error types).
pub type DataError = Box<dyn std::error::Error + Send + Sync>;

/// Job data, as the scheduler uses it.
pub trait JobDataStore: Send + Sync + fmt::Debug {
    /// Reads an input blob of at most `max_bytes` stored bytes.
    fn read_input(
        &self,
        workspace_uid: &str,
        container: &str,
        blob: &str,
        max_bytes: u64,
    ) -> std::result::Result<Input, DataError>;
    /// Writes (replaces) an output blob as `application/json`.
    fn write_output(
        &self,
        workspace_uid: &str,
        container: &str,
        blob: &str,
        data: &[u8],
    ) -> std::result::Result<(), DataError>;
    /// `(container, blob)` named by a blob URL of a job document (`blob` is `None` for a
    /// container URL). By default the URL is read container-first (`…/<container>/<blob>`);
    /// a store whose URLs carry a longer base (an account in the path) strips it first.
    fn locate(&self, url: &str) -> Option<(String, Option<String>)> {
        crate::blobs::parse_blob_url(url)
    }
}

impl JobDataStore for BlobStore {
    fn read_input(
        &self,
        workspace_uid: &str,
        container: &str,
        blob: &str,
        max_bytes: u64,
    ) -> std::result::Result<Input, DataError> {
        let Some(props) = self
            .blob_props(workspace_uid, container, blob)
            .ok()
            .flatten()
        else {
            return Ok(Input::NotFound);
        };
        if props.length > max_bytes {
            return Ok(Input::TooLarge(props.length));
        }
        match self.get_blob(workspace_uid, container, blob)? {
            Some((data, props)) => Ok(Input::Found {
                data,
                content_encoding: props.content_encoding,
            }),
            None => Ok(Input::NotFound),
        }
    }
    fn write_output(
        &self,
        workspace_uid: &str,
        container: &str,
        blob: &str,
        data: &[u8],
    ) -> std::result::Result<(), DataError> {
        let headers = BlobHeaders {
            content_type: Some("application/json".into()),
            ..Default::default()
        };
        self.put_blob(workspace_uid, container, blob, data, headers, false)?;
        Ok(())
    }
}
