//! Storage accounts, the generic resource list's filters, and ARM's asynchronous workspace
//! delete, against a real server over HTTPS.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

const STORAGE_V: &str = "2025-08-01";
const RESOURCES_V: &str = "2024-11-01";

fn sa_path(t: &TestServer, rg: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Storage/storageAccounts/{name}?api-version={STORAGE_V}",
        t.rg_path(rg)
    )
}

fn sa_id(t: &TestServer, rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}",
        t.sub()
    )
}

async fn create_account(t: &TestServer, rg: &str, name: &str) -> Value {
    let body = json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
        "properties": {"allowBlobPublicAccess": false, "allowSharedKeyAccess": false, "minimumTlsVersion": "TLS1_2"}});
    let r = t.arm(Method::PUT, &sa_path(t, rg, name), Some(body)).await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    // The Location is the account itself, finished.
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let token = t.mgmt_token().await;
    let r = t
        .https
        .get(&location)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn json_of(r: reqwest::Response) -> Value {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {v}");
    v
}

#[tokio::test]
async fn storage_account_lifecycle_names_and_properties() {
    let t = TestServer::start().await;
    t.create_group("g1").await;
    t.create_group("g2").await;

    let a = create_account(&t, "g1", "qwsdata01").await;
    assert_eq!(a["id"], sa_id(&t, "g1", "qwsdata01"));
    assert_eq!(a["type"], "Microsoft.Storage/storageAccounts");
    assert_eq!(a["location"], "eastus");
    assert_eq!(
        a["sku"],
        json!({"name": "Standard_LRS", "tier": "Standard"})
    );
    assert_eq!(a["kind"], "StorageV2");
    let p = &a["properties"];
    assert_eq!(p["provisioningState"], "Succeeded");
    assert_eq!(p["allowSharedKeyAccess"], false);
    assert_eq!(p["allowBlobPublicAccess"], false);
    assert_eq!(p["minimumTlsVersion"], "TLS1_2");
    let blob = p["primaryEndpoints"]["blob"].as_str().unwrap();
    assert!(blob.starts_with("http") && blob.ends_with('/'), "{blob}");

    // An update answers 200 with the account; the name is unique across groups.
    let r = t
        .arm(
            Method::PUT,
            &sa_path(&t, "g1", "qwsdata01"),
            Some(
                json!({"location": "eastus", "sku": {"name": "Standard_GRS"}, "kind": "StorageV2",
                        "properties": {"allowSharedKeyAccess": true}}),
            ),
        )
        .await;
    let updated = json_of(r).await;
    assert_eq!(updated["sku"]["name"], "Standard_GRS");
    assert_eq!(updated["properties"]["allowSharedKeyAccess"], true);
    let r = t
        .arm(
            Method::PUT,
            &sa_path(&t, "g2", "qwsdata01"),
            Some(
                json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
            ),
        )
        .await;
    expect_error(r, 409, "StorageAccountAlreadyTaken").await;

    // Name rules and body validation.
    for bad in ["ab", "Upper123", "has-dash", &"a".repeat(25)] {
        let r = t
            .arm(
                Method::PUT,
                &sa_path(&t, "g1", bad),
                Some(json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"})),
            )
            .await;
        expect_error(r, 400, "AccountNameInvalid").await;
    }
    let r = t
        .arm(
            Method::PUT,
            &sa_path(&t, "g1", "nosku"),
            Some(json!({"location": "eastus", "kind": "StorageV2"})),
        )
        .await;
    expect_error(r, 400, "InvalidRequestContent").await;
    let r = t
        .arm(
            Method::PUT,
            &sa_path(&t, "g1", "badsku"),
            Some(json!({"location": "eastus", "sku": {"name": "Gold"}, "kind": "StorageV2"})),
        )
        .await;
    expect_error(r, 400, "InvalidRequestContent").await;
    let r = t
        .arm(
            Method::PUT,
            &sa_path(&t, "nogroup", "qwsdata02"),
            Some(
                json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
            ),
        )
        .await;
    expect_error(r, 404, "ResourceGroupNotFound").await;

    // checkNameAvailability.
    assert_eq!(check(&t, "qwsdata01").await["reason"], "AlreadyExists");
    assert_eq!(check(&t, "qwsdata01").await["nameAvailable"], false);
    assert_eq!(check(&t, "Bad-Name").await["reason"], "AccountNameInvalid");
    assert_eq!(check(&t, "qwsfree99").await, json!({"nameAvailable": true}));

    // Lists by group and subscription.
    create_account(&t, "g2", "qwsdata03").await;
    let names = |v: Value| -> Vec<String> {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    let in_g1 = json_of(
        t.arm(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Storage/storageAccounts?api-version={STORAGE_V}",
                t.rg_path("g1")
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(names(in_g1), ["qwsdata01"]);
    let in_sub = json_of(
        t.arm(
            Method::GET,
            &format!(
                "/subscriptions/{}/providers/Microsoft.Storage/storageAccounts?api-version={STORAGE_V}",
                t.sub()
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(names(in_sub), ["qwsdata01", "qwsdata03"]);

    // Delete: 200, then 404 on read, 204 on a second delete; the name is free again.
    let r = t
        .arm(Method::DELETE, &sa_path(&t, "g1", "qwsdata01"), None)
        .await;
    assert_eq!(r.status(), 200);
    expect_error(
        t.arm(Method::GET, &sa_path(&t, "g1", "qwsdata01"), None)
            .await,
        404,
        "ResourceNotFound",
    )
    .await;
    assert_eq!(
        t.arm(Method::DELETE, &sa_path(&t, "g1", "qwsdata01"), None)
            .await
            .status(),
        204
    );
    assert_eq!(check(&t, "qwsdata01").await, json!({"nameAvailable": true}));

    // Deleting a group deletes its accounts.
    assert_eq!(
        t.arm(Method::DELETE, &t.rg_path("g2"), None).await.status(),
        200
    );
    assert_eq!(check(&t, "qwsdata03").await, json!({"nameAvailable": true}));

    let actions: Vec<String> = t
        .audit_lines()
        .iter()
        .map(|l| l["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"Microsoft.Storage/storageAccounts/write".to_string()));
    assert!(actions.contains(&"Microsoft.Storage/storageAccounts/delete".to_string()));
}

#[tokio::test]
async fn resource_list_filters_by_group_type_location_and_tags() {
    let t = TestServer::start().await;
    t.create_group("g1").await;
    t.create_group("g2").await;
    t.create_workspace("g1", "ws-a").await;
    t.create_workspace("g2", "ws-b").await;
    let r = t
        .arm(
            Method::PATCH,
            &t.ws_path("g2", "ws-b"),
            Some(json!({"tags": {"env": "Prod"}})),
        )
        .await;
    assert_eq!(r.status(), 200);
    create_account(&t, "g1", "qwslist01").await;

    let sub = format!("/subscriptions/{}", t.sub());
    // What `az resource list -g g1` and `az quantum workspace list` (after `workspace set`) send.
    assert_eq!(
        list(&t, sub.clone(), "resourceGroup eq 'g1'").await,
        ["qwslist01", "ws-a"]
    );
    assert_eq!(
        list(
            &t,
            sub.clone(),
            "resourceGroup eq 'G1' and resourceType eq 'Microsoft.Quantum/Workspaces'"
        )
        .await,
        ["ws-a"]
    );
    assert_eq!(
        list(
            &t,
            sub.clone(),
            "resourceType eq 'Microsoft.Storage/storageAccounts'"
        )
        .await,
        ["qwslist01"]
    );
    assert_eq!(
        list(
            &t,
            sub.clone(),
            "location eq 'East US' and resourceType eq 'microsoft.quantum/workspaces'"
        )
        .await,
        ["dev", "ws-a", "ws-b"]
    );
    assert_eq!(
        list(&t, sub.clone(), "location eq 'westus'").await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(&t, sub.clone(), "tagName eq 'env' and tagValue eq 'Prod'").await,
        ["ws-b"]
    );
    assert_eq!(
        list(&t, sub.clone(), "tagName eq 'env' and tagValue eq 'prod'").await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(
            &t,
            t.rg_path("g2"),
            "resourceType eq 'Microsoft.Quantum/Workspaces'"
        )
        .await,
        ["ws-b"]
    );
    let v = json_of(
        t.arm(
            Method::GET,
            &format!(
                "{sub}/resources?$filter={}&api-version={RESOURCES_V}",
                urlencode("resourceGroup eq 'g1'")
            ),
            None,
        )
        .await,
    )
    .await;
    let ws = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "ws-a")
        .unwrap();
    assert_eq!(ws["id"], t.ws_path("g1", "ws-a"));
    assert_eq!(ws["provisioningState"], "Succeeded");
    assert!(ws["createdTime"].is_string() && ws["changedTime"].is_string());

    for bad in [
        "name eq 'x'",
        "resourceGroup eq 'g1' or location eq 'eastus'",
        "resourceGroup eq g1",
    ] {
        let r = t
            .arm(
                Method::GET,
                &format!(
                    "{sub}/resources?$filter={}&api-version={RESOURCES_V}",
                    urlencode(bad)
                ),
                None,
            )
            .await;
        expect_error(r, 400, "InvalidFilterInQueryString").await;
    }
}

async fn check(t: &TestServer, name: &str) -> Value {
    let body = json!({"name": name, "type": "Microsoft.Storage/storageAccounts"});
    let path = format!(
        "/subscriptions/{}/providers/Microsoft.Storage/checkNameAvailability?api-version={STORAGE_V}",
        t.sub()
    );
    json_of(t.arm(Method::POST, &path, Some(body)).await).await
}

async fn list(t: &TestServer, scope: String, filter: &str) -> Vec<String> {
    let path = format!(
        "{scope}/resources?$filter={}&$expand=createdTime%2CchangedTime%2CprovisioningState&api-version={RESOURCES_V}",
        urlencode(filter)
    );
    let v = json_of(t.arm(Method::GET, &path, None).await).await;
    let mut names: Vec<String> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn workspace_delete_stays_readable_as_deleting_until_the_operation_finishes() {
    // Nobody polls for an hour: only a poll finishes the deletion in this test.
    let t = TestServer::start_with(|c| c.mgmt.delete_grace = std::time::Duration::from_secs(3600))
        .await;
    t.create_group("g1").await;
    t.create_workspace("g1", "ws-del").await;
    let p = t.ws_path("g1", "ws-del");
    let token = t.mgmt_token().await;

    let r = t.arm(Method::DELETE, &p, None).await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let status_url = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(location.contains("/operationResults/"), "{location}");
    assert!(status_url.contains("/operationStatuses/"), "{status_url}");

    // Still readable, as Deleting (what `az quantum workspace delete` prints).
    let w = json_of(t.arm(Method::GET, &p, None).await).await;
    assert_eq!(w["properties"]["provisioningState"], "Deleting");
    let listed = json_of(
        t.arm(
            Method::GET,
            &format!("{}/providers/Microsoft.Quantum/workspaces", t.rg_path("g1")),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        listed["value"][0]["properties"]["provisioningState"],
        "Deleting"
    );
    // No changes while it is being deleted; a second DELETE reports the same operation.
    let r = t
        .arm(Method::PATCH, &p, Some(json!({"tags": {"a": "b"}})))
        .await;
    expect_error(r, 409, "ResourceDeleting").await;
    let r = t
        .arm(
            Method::PUT,
            &p,
            Some(json!({"location": "eastus", "properties": {"providers": []}})),
        )
        .await;
    expect_error(r, 409, "ResourceDeleting").await;
    let again = t.arm(Method::DELETE, &p, None).await;
    assert_eq!(again.status(), 202);
    assert_eq!(
        again.headers()["azure-asyncoperation"].to_str().unwrap(),
        status_url
    );

    // Polling the operation finishes it; then the workspace is gone.
    let s: Value = t
        .https
        .get(&status_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "Succeeded", "{s}");
    assert!(s["endTime"].is_string());
    expect_error(t.arm(Method::GET, &p, None).await, 404, "ResourceNotFound").await;
    let r = t
        .https
        .get(&location)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(t.arm(Method::DELETE, &p, None).await.status(), 204);
    assert!(t
        .audit_lines()
        .iter()
        .any(|l| l["action"] == "deleteWorkspace" && l["target"] == p.as_str()));
}

#[tokio::test]
async fn a_delete_nobody_polls_finishes_on_its_own() {
    let t = TestServer::start_with(|c| c.mgmt.delete_grace = std::time::Duration::from_millis(100))
        .await;
    t.create_group("g1").await;
    t.create_workspace("g1", "ws-gone").await;
    let p = t.ws_path("g1", "ws-gone");
    assert_eq!(t.arm(Method::DELETE, &p, None).await.status(), 202);
    let deadline = tokio::time::Instant::now() + WAIT_DEADLINE;
    loop {
        let r = t.arm(Method::GET, &p, None).await;
        if r.status() == 404 {
            break;
        }
        assert_eq!(r.status(), 200);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the deletion never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A workspace naming a qws storage account keeps its job data in that account: it outlives the
/// workspace, and goes with the account.
#[tokio::test]
async fn job_data_lives_in_the_workspace_storage_account() {
    let t = TestServer::start_with(|c| c.mgmt.delete_grace = std::time::Duration::from_secs(3600))
        .await;
    t.create_group("g1").await;
    create_account(&t, "g1", "qwsjobs01").await;
    let r = t
        .arm(
            Method::PUT,
            &t.ws_path("g1", "ws-sa"),
            Some(json!({"location": "eastus", "properties": {"providers": [], "storageAccount": sa_id(&t, "g1", "qwsjobs01")}})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let dp = crate::common::dp::Dp::of(&t, "g1", "ws-sa").await;
    let r = dp
        .call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": "job-in-account"})),
        )
        .await;
    let sas = json_of(r).await["sasUri"].as_str().unwrap().to_string();
    let (base, q) = sas.split_once('?').unwrap();
    let blob_url = format!("{base}/inputData?{q}");
    let r = t
        .http
        .put(&blob_url)
        .header("x-ms-blob-type", "BlockBlob")
        .header("x-ms-version", "2026-10-06")
        .body("payload-in-account")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let read = |url: String| t.http.get(url).send();
    assert_eq!(
        read(blob_url.clone()).await.unwrap().text().await.unwrap(),
        "payload-in-account"
    );

    // Deleting the account deletes the data: the workspace's SAS still verifies, but the
    // workspace now keeps its data to itself, where there is no such container.
    assert_eq!(
        t.arm(Method::DELETE, &sa_path(&t, "g1", "qwsjobs01"), None)
            .await
            .status(),
        200
    );
    let r = read(blob_url.clone()).await.unwrap();
    assert_eq!(r.status(), 404);
    let blobs = t.data_dir().join("blobs");
    assert!(
        !contains_bytes(&blobs, b"payload-in-account"),
        "the account's data was purged"
    );
}

/// True if any file under `dir` contains `needle`.
fn contains_bytes(dir: &std::path::Path, needle: &[u8]) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            contains_bytes(&p, needle)
        } else {
            std::fs::read(&p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    })
}

#[tokio::test]
async fn job_data_in_an_account_outlives_the_workspace() {
    let t = TestServer::start_with(|c| c.mgmt.delete_grace = std::time::Duration::from_secs(3600))
        .await;
    t.create_group("g1").await;
    create_account(&t, "g1", "qwsjobs02").await;
    let r = t
        .arm(
            Method::PUT,
            &t.ws_path("g1", "ws-sa2"),
            Some(json!({"location": "eastus", "properties": {"providers": [], "storageAccount": sa_id(&t, "g1", "qwsjobs02")}})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let dp = crate::common::dp::Dp::of(&t, "g1", "ws-sa2").await;
    let sas = json_of(
        dp.call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": "job-kept"})),
        )
        .await,
    )
    .await["sasUri"]
        .as_str()
        .unwrap()
        .to_string();
    let (base, q) = sas.split_once('?').unwrap();
    let r = t
        .http
        .put(format!("{base}/inputData?{q}"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("kept-after-workspace")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Delete the workspace and finish the operation by polling it.
    let r = t
        .arm(Method::DELETE, &t.ws_path("g1", "ws-sa2"), None)
        .await;
    let status_url = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let token = t.mgmt_token().await;
    let s: Value = t
        .https
        .get(&status_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "Succeeded");
    let blobs = t.data_dir().join("blobs");
    assert!(
        contains_bytes(&blobs, b"kept-after-workspace"),
        "the data stays in the account"
    );
    // A workspace without an account keeps the old behaviour: its data goes with it.
    let dev = crate::common::dp::Dp::new(&t).await;
    let sas = json_of(
        dev.call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": "job-own"})),
        )
        .await,
    )
    .await["sasUri"]
        .as_str()
        .unwrap()
        .to_string();
    let (base, q) = sas.split_once('?').unwrap();
    let r = t
        .http
        .put(format!("{base}/inputData?{q}"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("own-namespace-data")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = t.arm(Method::DELETE, &t.ws_path("qws", "dev"), None).await;
    let status_url = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let s: Value = t
        .https
        .get(&status_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"], "Succeeded");
    assert!(!contains_bytes(&blobs, b"own-namespace-data"));
    assert!(contains_bytes(&blobs, b"kept-after-workspace"));
}

#[tokio::test]
async fn a_deletion_interrupted_by_a_restart_finishes_at_the_next_start() {
    let long = |c: &mut qws_server::ServerConfig| {
        c.mgmt.delete_grace = std::time::Duration::from_secs(3600)
    };
    let t = TestServer::start_with(long).await;
    t.create_group("g1").await;
    t.create_workspace("g1", "ws-restart").await;
    let p = t.ws_path("g1", "ws-restart");
    assert_eq!(t.arm(Method::DELETE, &p, None).await.status(), 202);
    let w = json_of(t.arm(Method::GET, &p, None).await).await;
    assert_eq!(w["properties"]["provisioningState"], "Deleting");
    let dir = t.stop().await;
    let t = TestServer::start_in(dir, long).await;
    let deadline = tokio::time::Instant::now() + WAIT_DEADLINE;
    while t.arm(Method::GET, &p, None).await.status() != 404 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the interrupted deletion never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
