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
