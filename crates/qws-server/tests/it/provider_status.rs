//! `providerStatus` lists only providers that have targets: a provider with none
//! (`microsoft-qc`) would be an empty node in tools that draw it as a tree.

use crate::common::dp::Dp;
use crate::common::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

async fn listed(dp: &Dp<'_>) -> Vec<(String, usize)> {
    let v: Value = dp
        .call(Method::GET, "/providerStatus", None)
        .await
        .json()
        .await
        .unwrap();
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["targets"].as_array().unwrap().len(),
            )
        })
        .collect()
}

#[tokio::test]
async fn providers_without_targets_are_not_listed() {
    let t = TestServer::start().await;
    let r = t
        .arm(
            Method::PUT,
            &t.ws_path("qws", "mixed"),
            Some(
                json!({"location": "eastus", "identity": {"type": "SystemAssigned"},
                "properties": {"apiKeyEnabled": true, "providers": [
                    {"providerId": "ionq", "providerSku": "pay-as-you-go-cred"},
                    {"providerId": "microsoft-qc", "providerSku": "learn-and-develop"}]}}),
            ),
        )
        .await;
    assert_eq!(r.status(), 201);
    let mixed = listed(&Dp::of(&t, "qws", "mixed").await).await;
    assert_eq!(
        mixed.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["ionq"]
    );
    // The default workspace (every provider) has no empty node either.
    let all = listed(&Dp::new(&t).await).await;
    assert!(!all.is_empty());
    assert!(all.iter().all(|(_, n)| *n > 0), "{all:?}");
    assert!(!all.iter().any(|(id, _)| id == "microsoft-qc"), "{all:?}");
}

/// The body is built once and served from memory; a change to the workspace's providers,
/// made by another connection to the database (another node), shows on the next request.
#[tokio::test]
async fn a_provider_change_shows_on_the_next_request() {
    let t = TestServer::start().await;
    let p = t.ws_path("qws", "changing");
    let body = |providers: Value| {
        json!({"location": "eastus", "identity": {"type": "SystemAssigned"},
               "properties": {"apiKeyEnabled": true, "providers": providers}})
    };
    let ionq = json!([{"providerId": "ionq", "providerSku": "pay-as-you-go-cred"}]);
    let r = t.arm(Method::PUT, &p, Some(body(ionq))).await;
    assert_eq!(r.status(), 201);
    let dp = Dp::of(&t, "qws", "changing").await;
    let ids = |l: Vec<(String, usize)>| l.into_iter().map(|(id, _)| id).collect::<Vec<_>>();
    assert_eq!(ids(listed(&dp).await), ["ionq"]);
    assert_eq!(ids(listed(&dp).await), ["ionq"]);

    let dir = t.data_dir();
    let (crypto, _) = qws_store::crypto::Crypto::load_or_create(&dir).unwrap();
    let other =
        qws_store::Store::open_target(&qws_store::db::test_cluster::target_for_dir(&dir), crypto)
            .unwrap();
    let id = qws_core::resource_id::WorkspaceId::from_parts(&t.sub(), "qws", "changing").unwrap();
    let w = other.get_workspace(&id).unwrap().unwrap();
    let mut providers = w.providers.clone();
    let mut quantinuum = providers[0].clone();
    quantinuum.provider_id = Some("quantinuum".into());
    providers.push(quantinuum);
    let spec = qws_store::WorkspaceSpec {
        location: w.location.clone(),
        tags: w.tags.clone(),
        providers,
        storage_account: w.storage_account.clone(),
        identity_type: w.identity_type.clone(),
        api_key_enabled: true,
        workspace_kind: w.workspace_kind.clone(),
    };
    let actor = qws_store::Actor {
        name: "other-node".into(),
        kind: "Application".into(),
    };
    other.put_workspace(&id, &spec, &actor).unwrap();
    let now = ids(listed(&dp).await);
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now.contains(&"quantinuum".to_string()), "{now:?}");
}

/// Paging is part of what is cached: a page of one and the whole list are different bodies,
/// each with its own `nextLink`, and each served again unchanged.
#[tokio::test]
async fn pages_are_cached_apart() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    let get = |q: &'static str| {
        let dp = &dp;
        async move {
            let v: Value = dp
                .call(Method::GET, &format!("/providerStatus{q}"), None)
                .await
                .json()
                .await
                .unwrap();
            v
        }
    };
    let all = get("").await;
    let one = get("?top=1").await;
    let second = get("?top=1&skip=1").await;
    assert!(all["value"].as_array().unwrap().len() > 2, "{all}");
    assert!(all["nextLink"].is_null(), "{all}");
    assert_eq!(one["value"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["value"][0], all["value"][0]);
    assert_eq!(second["value"][0], all["value"][1]);
    assert!(
        one["nextLink"].as_str().unwrap().contains("skip=1"),
        "{one}"
    );
    assert!(
        second["nextLink"].as_str().unwrap().contains("skip=2"),
        "{second}"
    );
    assert_eq!(get("?top=1").await, one);
    assert_eq!(get("").await, all);
}
