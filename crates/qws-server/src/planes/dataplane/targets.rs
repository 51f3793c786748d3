//! Targets a workspace offers (from its `properties.providers`, or every qws provider when the
//! list is empty) and `GET providerStatus`.

use super::auth::Caller;
use super::ListQuery;
use crate::error::ApiResult;
use crate::http::conn::BaseUrl;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use qws_core::catalog::{ProviderInfo, TargetInfo, PROVIDERS};
use qws_store::change::VersionedCache;
use qws_store::WorkspaceRecord;
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The providers of a workspace, in catalog order.
pub fn workspace_providers(ws: &WorkspaceRecord) -> Vec<&'static ProviderInfo> {
    let ids: Vec<String> = ws
        .providers
        .iter()
        .filter_map(|p| p.provider_id.as_deref())
        .map(str::to_ascii_lowercase)
        .collect();
    PROVIDERS
        .iter()
        .filter(|p| ids.is_empty() || ids.iter().any(|i| i == p.id))
        .collect()
}

/// Looks a target up among the workspace's providers.
pub fn find_target(
    ws: &WorkspaceRecord,
    target: &str,
) -> Option<(&'static ProviderInfo, &'static TargetInfo)> {
    workspace_providers(ws).into_iter().find_map(|p| {
        p.targets
            .iter()
            .find(|t| t.id.eq_ignore_ascii_case(target))
            .map(|t| (p, t))
    })
}

/// The output format a target produces for an input format.
pub fn output_format_for(input_format: &str) -> &'static str {
    match input_format {
        "ionq.circuit.v1" => "ionq.quantum-results.v1",
        "honeywell.openqasm.v1" => "honeywell.quantum-results.v1",
        "rigetti.quil.v1" => "rigetti.quil-results.v1",
        _ => "microsoft.quantum-results.v2",
    }
}

fn target_status(state: &AppState, t: &TargetInfo) -> Value {
    json!({
        "id": t.id,
        "currentAvailability": "Available",
        "averageQueueTime": state.dataplane.scheduler.average_queue_time(t.id),
        "statusPage": null,
        "numQubits": t.num_qubits,
        "targetProfile": t.target_profile,
        "averageQueueTimeHighPriority": null,
        "averageQueueTimeStandardPriority": null,
        "metadata": null,
    })
}

/// Most `providerStatus` bodies kept; the cache is emptied when full.
const MAX_CACHED_BODIES: usize = 1024;

/// `providerStatus` bodies, serialized once and served as shared bytes.
///
/// A body is a function of the workspace's provider list (fixed catalog otherwise), the request's
/// base URL, path and paging query (the `nextLink`), and the targets' average queue times. All
/// but the last are the cache key; the queue times are the stamp: every entry was built at one
/// [`crate::scheduler::Scheduler::queue_times_version`], and a newer version empties the cache.
/// So a cached body is byte for byte what building it again would give. Access is not cached
/// here: the caller was authenticated (and its workspace read) before the body is looked up.
#[derive(Debug)]
pub struct ProviderStatusCache(VersionedCache<String, Bytes>);

impl Default for ProviderStatusCache {
    fn default() -> Self {
        ProviderStatusCache(VersionedCache::new(MAX_CACHED_BODIES))
    }
}

impl ProviderStatusCache {
    /// The body under `key` at queue-time version `stamp`, built by `build` if not cached.
    /// Built outside the cache's lock; a body built at an older stamp is served to its own
    /// request but never kept once a newer stamp has been seen.
    fn get_or_build(&self, key: String, stamp: u64, build: impl FnOnce() -> Bytes) -> Bytes {
        if let Some(body) = self.0.get(stamp, &key) {
            return body;
        }
        let body = build();
        self.0.put(stamp, key, body.clone());
        body
    }

    /// Bodies cached now (for tests).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a `providerStatus` body depends on besides the queue times: see [`ProviderStatusCache`].
fn provider_status_key(
    providers: &[&ProviderInfo],
    base: &str,
    path: &str,
    q: &ListQuery,
) -> String {
    let mut key = String::with_capacity(base.len() + path.len() + 64);
    for p in providers {
        key.push_str(p.id);
        key.push(',');
    }
    let _ = write!(
        key,
        "\n{base}\n{path}\n{}\n{}\n{}\n{}\n{}",
        q.skip,
        q.top,
        q.api_version.as_deref().unwrap_or("\u{0}"),
        q.filter.as_deref().unwrap_or("\u{0}"),
        q.orderby.as_deref().unwrap_or("\u{0}"),
    );
    key
}

/// `GET {ws}/providerStatus`: one page of providers with their targets.
pub async fn provider_status(
    caller: Caller,
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    q: ListQuery,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let providers = workspace_providers(&caller.ws);
    let key = provider_status_key(&providers, &base, uri.path(), &q);
    // Read before building: a body built from newer queue times than its stamp is only
    // replaced sooner, never served after a change.
    let stamp = state.dataplane.scheduler.queue_times_version();
    let body = state
        .dataplane
        .provider_status
        .get_or_build(key, stamp, || {
            // A provider with no targets (`microsoft-qc`, a billing plan here) would show as an
            // empty, unusable node in tools that draw providerStatus as a tree; only providers
            // that can run something are listed.
            let all: Vec<Value> = providers
                .iter()
                .filter(|p| !p.targets.is_empty())
                .map(|p| {
                    let targets: Vec<Value> =
                        p.targets.iter().map(|t| target_status(&state, t)).collect();
                    json!({"id": p.id, "currentAvailability": "Available", "targets": targets})
                })
                .collect();
            let page = super::page(all, &q, &base, uri.path());
            Bytes::from(serde_json::to_vec(&page).expect("a JSON value serializes"))
        });
    Ok(([(CONTENT_TYPE, "application/json")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_is_built_once_per_key_and_stamp() {
        let cache = ProviderStatusCache::default();
        let mut builds = 0;
        let mut get = |key: &str, stamp: u64, text: &'static str| {
            cache.get_or_build(key.into(), stamp, || {
                builds += 1;
                Bytes::from_static(text.as_bytes())
            })
        };
        assert_eq!(get("a", 1, "one"), "one");
        assert_eq!(get("a", 1, "not built"), "one");
        assert_eq!(get("b", 1, "two"), "two");
        // New queue times: everything is built again.
        assert_eq!(get("a", 2, "three"), "three");
        assert_eq!(get("b", 2, "four"), "four");
        assert_eq!(builds, 4);
    }

    #[test]
    fn a_body_built_at_an_old_stamp_is_not_kept_after_a_newer_one() {
        let cache = ProviderStatusCache::default();
        cache.get_or_build("a".into(), 2, || Bytes::from_static(b"new"));
        // A request that read the stamp before the change finishes after it.
        let old = cache.get_or_build("b".into(), 1, || Bytes::from_static(b"old"));
        assert_eq!(old, "old");
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.get_or_build("b".into(), 2, || Bytes::from_static(b"fresh")),
            "fresh"
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = ProviderStatusCache::default();
        for i in 0..MAX_CACHED_BODIES + 10 {
            cache.get_or_build(i.to_string(), 0, || Bytes::from_static(b"x"));
        }
        assert!(cache.len() <= MAX_CACHED_BODIES);
        assert!(!cache.is_empty());
    }

    #[test]
    fn every_input_of_a_body_is_in_its_key() {
        let q = ListQuery {
            api_version: Some("2026-01-15-preview".into()),
            filter: None,
            orderby: None,
            skip: 0,
            top: 100,
        };
        let ionq: Vec<&ProviderInfo> = PROVIDERS.iter().filter(|p| p.id == "ionq").collect();
        let all: Vec<&ProviderInfo> = PROVIDERS.iter().collect();
        let base = provider_status_key(&ionq, "http://a", "/ws/providerStatus", &q);
        let mut others = vec![
            provider_status_key(&all, "http://a", "/ws/providerStatus", &q),
            provider_status_key(&ionq, "http://b", "/ws/providerStatus", &q),
            provider_status_key(&ionq, "http://a", "/other/providerStatus", &q),
        ];
        for change in 0..5 {
            let mut q2 = q.clone();
            match change {
                0 => q2.skip = 1,
                1 => q2.top = 1,
                2 => q2.api_version = None,
                3 => q2.filter = Some("x".into()),
                _ => q2.orderby = Some("x".into()),
            }
            others.push(provider_status_key(
                &ionq,
                "http://a",
                "/ws/providerStatus",
                &q2,
            ));
        }
        for o in &others {
            assert_ne!(&base, o);
        }
    }
}
