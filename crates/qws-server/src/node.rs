//! This node's part in a group of qws nodes sharing one database and one job-data store.
//!
//! Every node answers every API request unless its role says otherwise; job execution is
//! shared through leases (see `qws_store::leases` and [`crate::scheduler`]).

/// What a node does (`qws serve --role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NodeRole {
    /// Serves the API and runs jobs (one node alone, or every node alike).
    #[default]
    All,
    /// Serves the API; runs no jobs (submissions wait for a worker node).
    Api,
    /// Runs jobs; its listeners answer only `/healthz` and `/readyz`.
    Worker,
}

impl NodeRole {
    /// Whether this node takes jobs from the queue.
    pub fn runs_jobs(self) -> bool {
        matches!(self, NodeRole::All | NodeRole::Worker)
    }

    /// Whether this node serves the API (management, data plane, blobs, tokens, portal).
    pub fn serves_api(self) -> bool {
        matches!(self, NodeRole::All | NodeRole::Api)
    }
}

/// This machine's host name (`localhost` when it cannot be read).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most that much.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// The default node id: `HOST:PORT` of the HTTP listener. Stable across restarts (so that a
/// restarted node takes its own jobs back at once) and distinct for nodes on one machine.
pub fn default_node_id(http_port: u16) -> String {
    format!("{}:{http_port}", host_name())
}
