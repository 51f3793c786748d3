//! Sessions (`{ws}/sessions`) and quotas (`{ws}/quotas`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::jobs::{check_id, JobDetails};
use crate::response::Response;
use crate::workspace::{Pager, Workspace};

/// A session as the service reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionDetails {
    /// Session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Provider id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Target id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `Session`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    /// `Waiting`, `Executing`, `Succeeded`, `Failed`, `Failure(s)`, `TimedOut`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Abort` or `Continue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_failure_policy: Option<String>,
    /// Every other field the service sent.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One quota.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Dimension (`qgs`, `jobs`…).
    #[serde(default)]
    pub dimension: Option<String>,
    /// `Workspace` or `Subscription`.
    #[serde(default)]
    pub scope: Option<String>,
    /// Provider id.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// Used so far.
    #[serde(default)]
    pub utilization: Option<f64>,
    /// Held by running jobs.
    #[serde(default)]
    pub holds: Option<f64>,
    /// Limit.
    #[serde(default)]
    pub limit: Option<f64>,
    /// `None` or `Monthly`.
    #[serde(default)]
    pub period: Option<String>,
}

/// Options for [`Workspace::open_session`].
#[derive(Debug, Clone, Default)]
pub struct OpenSessionOptions {
    /// Session id (default: a new UUID).
    pub session_id: Option<String>,
    /// Name (default `session-<id>`).
    pub name: Option<String>,
    /// Provider id (default: the target's first dot-separated part).
    pub provider_id: Option<String>,
    /// `Abort` or `Continue`.
    pub job_failure_policy: Option<String>,
}

impl Workspace {
    /// Opens a session on a target (`PUT {ws}/sessions/{id}`).
    pub async fn open_session(
        &self,
        target: &str,
        options: Option<OpenSessionOptions>,
    ) -> Result<Response<SessionDetails>> {
        let options = options.unwrap_or_default();
        let id = options
            .session_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        check_id("session", &id)?;
        let provider = options.provider_id.clone().unwrap_or_else(|| {
            target
                .split('.')
                .next()
                .unwrap_or(target)
                .to_ascii_lowercase()
        });
        let mut body = serde_json::json!({
            "name": options.name.clone().unwrap_or_else(|| format!("session-{id}")),
            "providerId": provider,
            "target": target,
            "itemType": "Session",
        });
        if let Some(p) = &options.job_failure_policy {
            body["jobFailurePolicy"] = p.clone().into();
        }
        let url = self.url(&["sessions", &id])?;
        self.send_json(reqwest::Method::PUT, url, &body, &[200, 201])
            .await
    }

    /// Gets a session.
    pub async fn get_session(&self, session_id: &str) -> Result<Response<SessionDetails>> {
        check_id("session", session_id)?;
        let url = self.url(&["sessions", session_id])?;
        self.send(reqwest::Method::GET, url, None, &[200]).await
    }

    /// Closes a session (`POST {ws}/sessions/{id}:close`).
    pub async fn close_session(&self, session_id: &str) -> Result<Response<SessionDetails>> {
        check_id("session", session_id)?;
        let url = self.url(&["sessions", &format!("{session_id}:close")])?;
        self.send(reqwest::Method::POST, url, None, &[200]).await
    }

    /// Lists sessions.
    pub fn list_sessions(&self) -> Result<Pager<SessionDetails>> {
        let mut url = self.url(&["sessions"])?;
        url.query_pairs_mut()
            .append_pair("skip", "0")
            .append_pair("top", "100");
        Ok(Pager::new(self.clone(), url))
    }

    /// Lists the jobs of a session.
    pub fn list_session_jobs(&self, session_id: &str) -> Result<Pager<JobDetails>> {
        check_id("session", session_id)?;
        let mut url = self.url(&["sessions", session_id, "jobs"])?;
        url.query_pairs_mut()
            .append_pair("skip", "0")
            .append_pair("top", "100");
        Ok(Pager::new(self.clone(), url))
    }

    /// Lists quotas (`GET {ws}/quotas`).
    pub fn list_quotas(&self) -> Result<Pager<Quota>> {
        Ok(Pager::new(self.clone(), self.url(&["quotas"])?))
    }
}
