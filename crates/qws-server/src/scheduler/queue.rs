//! The waiting-job queue: one FIFO per workspace, served round-robin.
//!
//! A single FIFO lets one workspace that submits a thousand jobs make every other workspace wait
//! behind all of them. Here each workspace keeps its own order (its jobs still run oldest
//! first), and workers take from the workspaces in turn, skipping any workspace or principal
//! that already runs as many jobs as it may ([`Caps`]). Counts of queued jobs per workspace and
//! per principal are kept alongside so submissions can be refused before they are stored.

use std::collections::{HashMap, VecDeque};

/// A queued job: its workspace, id and the principal that submitted it (`createdBy`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueuedJob {
    /// Internal uid of the workspace.
    pub workspace: String,
    /// Job id.
    pub id: String,
    /// `createdBy` of the job: the key name or the client id.
    pub principal: String,
}

/// Per-workspace and per-principal limits (0 means no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Jobs of one workspace that may run at once.
    pub running_per_workspace: usize,
    /// Jobs of one principal that may run at once.
    pub running_per_principal: usize,
    /// Waiting jobs one workspace may have.
    pub queued_per_workspace: usize,
    /// Waiting jobs one principal may have.
    pub queued_per_principal: usize,
}

/// Why a submission is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The whole queue is full.
    QueueFull,
    /// The workspace has as many waiting jobs as it may.
    WorkspaceQueueFull(usize),
    /// The principal has as many waiting jobs as it may.
    PrincipalQueueFull(usize),
}

fn under(cap: usize, n: usize) -> bool {
    cap == 0 || n < cap
}

/// See the module docs.
#[derive(Debug, Default)]
pub struct FairQueue {
    per_workspace: HashMap<String, VecDeque<QueuedJob>>,
    /// Workspaces with waiting jobs, in the order they will next be served.
    turn: VecDeque<String>,
    queued_by_principal: HashMap<String, usize>,
    running_by_workspace: HashMap<String, usize>,
    running_by_principal: HashMap<String, usize>,
    len: usize,
}

fn decrement(map: &mut HashMap<String, usize>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl FairQueue {
    /// Waiting jobs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether one more job of `workspace` by `principal` may wait, given `max_queue` overall.
    pub fn admits(
        &self,
        workspace: &str,
        principal: &str,
        caps: &Caps,
        max_queue: usize,
    ) -> Result<(), Refusal> {
        if self.len >= max_queue {
            return Err(Refusal::QueueFull);
        }
        let ws = self.per_workspace.get(workspace).map_or(0, VecDeque::len);
        if !under(caps.queued_per_workspace, ws) {
            return Err(Refusal::WorkspaceQueueFull(caps.queued_per_workspace));
        }
        let pr = self
            .queued_by_principal
            .get(principal)
            .copied()
            .unwrap_or(0);
        if !under(caps.queued_per_principal, pr) {
            return Err(Refusal::PrincipalQueueFull(caps.queued_per_principal));
        }
        Ok(())
    }

    /// Appends a job to its workspace's FIFO.
    pub fn push(&mut self, job: QueuedJob) {
        *self
            .queued_by_principal
            .entry(job.principal.clone())
            .or_default() += 1;
        let fifo = self.per_workspace.entry(job.workspace.clone()).or_default();
        if fifo.is_empty() {
            self.turn.push_back(job.workspace.clone());
        }
        fifo.push_back(job);
        self.len += 1;
    }

    /// Takes the next job that may run: workspaces in turn, the oldest job of the first
    /// workspace whose running jobs (and whose oldest job's principal's) are under the caps.
    /// The job counts as running until [`FairQueue::finished`].
    pub fn pop(&mut self, caps: &Caps) -> Option<QueuedJob> {
        for _ in 0..self.turn.len() {
            let ws = self.turn.pop_front()?;
            let fifo = self
                .per_workspace
                .get_mut(&ws)
                .expect("turn lists queued workspaces");
            let head = fifo.front().expect("queued workspaces are non-empty");
            let ws_running = self.running_by_workspace.get(&ws).copied().unwrap_or(0);
            let pr_running = self
                .running_by_principal
                .get(&head.principal)
                .copied()
                .unwrap_or(0);
            if !under(caps.running_per_workspace, ws_running)
                || !under(caps.running_per_principal, pr_running)
            {
                self.turn.push_back(ws);
                continue;
            }
            let job = fifo.pop_front().expect("checked above");
            if fifo.is_empty() {
                self.per_workspace.remove(&ws);
            } else {
                self.turn.push_back(ws);
            }
            self.len -= 1;
            decrement(&mut self.queued_by_principal, &job.principal);
            *self
                .running_by_workspace
                .entry(job.workspace.clone())
                .or_default() += 1;
            *self
                .running_by_principal
                .entry(job.principal.clone())
                .or_default() += 1;
            return Some(job);
        }
        None
    }

    /// A job taken by [`FairQueue::pop`] no longer runs.
    pub fn finished(&mut self, job: &QueuedJob) {
        decrement(&mut self.running_by_workspace, &job.workspace);
        decrement(&mut self.running_by_principal, &job.principal);
    }

    /// Removes a waiting job; true if it was queued.
    pub fn remove(&mut self, workspace: &str, id: &str) -> bool {
        let Some(fifo) = self.per_workspace.get_mut(workspace) else {
            return false;
        };
        let Some(pos) = fifo.iter().position(|j| j.id == id) else {
            return false;
        };
        let job = fifo.remove(pos).expect("position is in range");
        if fifo.is_empty() {
            self.per_workspace.remove(workspace);
            self.turn.retain(|w| w != workspace);
        }
        self.len -= 1;
        decrement(&mut self.queued_by_principal, &job.principal);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(ws: &str, id: &str, who: &str) -> QueuedJob {
        QueuedJob {
            workspace: ws.into(),
            id: id.into(),
            principal: who.into(),
        }
    }

    const OPEN: Caps = Caps {
        running_per_workspace: 0,
        running_per_principal: 0,
        queued_per_workspace: 0,
        queued_per_principal: 0,
    };

    fn ids(q: &mut FairQueue, caps: &Caps, n: usize) -> Vec<String> {
        (0..n).filter_map(|_| q.pop(caps).map(|j| j.id)).collect()
    }

    #[test]
    fn workspaces_take_turns_and_each_keeps_its_order() {
        let mut q = FairQueue::default();
        for i in 0..4 {
            q.push(job("busy", &format!("b{i}"), "ci"));
        }
        q.push(job("other", "o0", "alice"));
        q.push(job("other", "o1", "alice"));
        assert_eq!(q.len(), 6);
        assert_eq!(ids(&mut q, &OPEN, 6), ["b0", "o0", "b1", "o1", "b2", "b3"]);
        assert!(q.is_empty());
        assert_eq!(q.pop(&OPEN), None);
    }

    #[test]
    fn a_workspace_at_its_running_cap_is_skipped_until_a_job_finishes() {
        let caps = Caps {
            running_per_workspace: 1,
            ..OPEN
        };
        let mut q = FairQueue::default();
        q.push(job("busy", "b0", "ci"));
        q.push(job("busy", "b1", "ci"));
        let first = q.pop(&caps).unwrap();
        assert_eq!(first.id, "b0");
        assert_eq!(q.pop(&caps), None, "busy already runs its one job");
        q.push(job("other", "o0", "alice"));
        assert_eq!(q.pop(&caps).unwrap().id, "o0");
        q.finished(&first);
        assert_eq!(q.pop(&caps).unwrap().id, "b1");
    }

    #[test]
    fn a_principal_at_its_running_cap_waits_across_workspaces() {
        let caps = Caps {
            running_per_principal: 1,
            ..OPEN
        };
        let mut q = FairQueue::default();
        q.push(job("w1", "a", "ci"));
        q.push(job("w2", "b", "ci"));
        q.push(job("w3", "c", "alice"));
        let a = q.pop(&caps).unwrap();
        assert_eq!(a.id, "a");
        assert_eq!(q.pop(&caps).unwrap().id, "c", "ci's job in w2 must wait");
        assert_eq!(q.pop(&caps), None);
        q.finished(&a);
        assert_eq!(q.pop(&caps).unwrap().id, "b");
    }

    #[test]
    fn queued_caps_refuse_per_workspace_per_principal_and_overall() {
        let caps = Caps {
            queued_per_workspace: 2,
            queued_per_principal: 3,
            ..OPEN
        };
        let mut q = FairQueue::default();
        q.push(job("w1", "a", "ci"));
        q.push(job("w1", "b", "ci"));
        assert_eq!(
            q.admits("w1", "alice", &caps, 100),
            Err(Refusal::WorkspaceQueueFull(2))
        );
        assert_eq!(q.admits("w2", "ci", &caps, 100), Ok(()));
        q.push(job("w2", "c", "ci"));
        assert_eq!(
            q.admits("w3", "ci", &caps, 100),
            Err(Refusal::PrincipalQueueFull(3))
        );
        assert_eq!(q.admits("w3", "alice", &caps, 3), Err(Refusal::QueueFull));
        // Taking a job frees its queued slots.
        q.pop(&caps).unwrap();
        assert_eq!(q.admits("w1", "ci", &caps, 100), Ok(()));
    }

    #[test]
    fn remove_drops_a_waiting_job_and_its_counts() {
        let caps = Caps {
            queued_per_principal: 1,
            ..OPEN
        };
        let mut q = FairQueue::default();
        q.push(job("w1", "a", "ci"));
        assert!(q.admits("w2", "ci", &caps, 100).is_err());
        assert!(!q.remove("w1", "zzz"));
        assert!(!q.remove("w9", "a"));
        assert!(q.remove("w1", "a"));
        assert!(q.is_empty());
        assert_eq!(q.admits("w2", "ci", &caps, 100), Ok(()));
        assert_eq!(q.pop(&caps), None);
    }
}
