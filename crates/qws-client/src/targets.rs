//! Targets: `GET {ws}/providerStatus`, flattened into one [`TargetStatus`] per target.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::workspace::{Pager, Workspace};

/// One provider and its targets, as `providerStatus` reports them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// Provider id (`ionq`, `quantinuum`, `microsoft-qc`…).
    pub id: String,
    /// `Available`, `Degraded` or `Unavailable`.
    #[serde(default)]
    pub current_availability: Option<String>,
    /// The provider's targets.
    #[serde(default)]
    pub targets: Vec<TargetStatus>,
}

/// One target.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetStatus {
    /// Target id (`ionq.simulator`…).
    pub id: String,
    /// `Available`, `Degraded` or `Unavailable`.
    #[serde(default)]
    pub current_availability: Option<String>,
    /// Average queue time in seconds.
    #[serde(default)]
    pub average_queue_time: Option<i64>,
    /// Status page URL.
    #[serde(default)]
    pub status_page: Option<String>,
    /// Qubit count, when reported.
    #[serde(default)]
    pub num_qubits: Option<i64>,
    /// QIR target profile (`Base`, `Adaptive_RI`…), when reported.
    #[serde(default)]
    pub target_profile: Option<String>,
    /// The provider this target belongs to (filled in by [`Workspace::targets`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
}

/// Options for [`Workspace::targets`].
#[derive(Debug, Clone, Default)]
pub struct TargetsOptions {
    /// Only targets of this provider (case-insensitive).
    pub provider_id: Option<String>,
    /// Only the target with this id (case-insensitive).
    pub target_id: Option<String>,
}

impl Workspace {
    /// Pages of providers with their targets (`GET {ws}/providerStatus`).
    pub fn list_providers(&self) -> Result<Pager<ProviderStatus>> {
        Ok(Pager::new(self.clone(), self.url(&["providerStatus"])?))
    }

    /// Every target, optionally filtered by provider or id (filtering is client-side, as in the
    /// Python client's `get_targets`).
    pub async fn targets(&self, options: Option<TargetsOptions>) -> Result<Vec<TargetStatus>> {
        let options = options.unwrap_or_default();
        let providers = self.list_providers()?.collect().await?;
        let mut out = Vec::new();
        for p in providers {
            if let Some(want) = &options.provider_id {
                if !p.id.eq_ignore_ascii_case(want) {
                    continue;
                }
            }
            for mut t in p.targets {
                if let Some(want) = &options.target_id {
                    if !t.id.eq_ignore_ascii_case(want) {
                        continue;
                    }
                }
                t.provider_id = Some(p.id.clone());
                out.push(t);
            }
        }
        Ok(out)
    }
}
