//! The ARM-compatible management plane over HTTPS: api-versions, resource groups, workspace CRUD
//! with LRO and delete semantics, paging, tags, validation, case-insensitive paths, catalogue
//! endpoints and the Resource Graph lookup.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn api_version_errors() {
    let t = TestServer::start().await;
    let token = t.mgmt_token().await;
    let ws = t.ws_path("qws", "dev");
    let r = t
        .arm_with(&token, Method::GET, &format!("{ws}?x=1&api-version="), None)
        .await;
    expect_error(r, 400, "MissingApiVersionParameter").await;
    let r = t
        .https
        .get(format!("{}{ws}", t.https_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "MissingApiVersionParameter").await;
    let r = t
        .arm_with(
            &token,
            Method::GET,
            &format!("{ws}?api-version=2019-11-04-preview"),
            None,
        )
        .await;
    let v = expect_error(r, 400, "NoRegisteredProviderFound").await;
    let msg = v["error"]["message"].as_str().unwrap();
    for supported in qws_server::api_version::QUANTUM_API_VERSIONS {
        assert!(msg.contains(supported), "{msg}");
    }
    for supported in qws_server::api_version::QUANTUM_API_VERSIONS {
        let r = t
            .arm_with(
                &token,
                Method::GET,
                &format!("{ws}?api-version={supported}"),
                None,
            )
            .await;
        assert_eq!(r.status(), 200, "{supported}");
    }
    let r = t
        .arm_with(
            &token,
            Method::GET,
            "/subscriptions?api-version=yesterday",
            None,
        )
        .await;
    expect_error(r, 400, "InvalidApiVersionParameter").await;
}

#[tokio::test]
async fn resource_group_crud() {
    let t = TestServer::start().await;
    let p = t.rg_path("Group-1");
    let r = t
        .arm(
            Method::PUT,
            &p,
            Some(json!({"location": "West US", "tags": {"k": "v"}})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["location"], "westus");
    assert_eq!(v["name"], "Group-1");
    assert_eq!(v["properties"]["provisioningState"], "Succeeded");
    let r = t
        .arm(Method::PUT, &p, Some(json!({"location": "westus"})))
        .await;
    assert_eq!(r.status(), 200);
    // Case-insensitive lookup through the lower-case path the CLI uses.
    let lower = format!("/subscriptions/{}/resourcegroups/group-1", t.sub());
    let r = t.arm(Method::GET, &lower, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Group-1");
    let v: Value = t
        .arm_get_json(&format!("/subscriptions/{}/resourcegroups", t.sub()))
        .await;
    let names: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Group-1", "qws"]);
    let r = t.arm(Method::DELETE, &p, None).await;
    assert_eq!(r.status(), 200);
    expect_error(
        t.arm(Method::GET, &p, None).await,
        404,
        "ResourceGroupNotFound",
    )
    .await;
    expect_error(
        t.arm(Method::DELETE, &p, None).await,
        404,
        "ResourceGroupNotFound",
    )
    .await;

    let v = expect_error(
        t.arm(
            Method::PUT,
            &t.rg_path("bad."),
            Some(json!({"location": "eastus"})),
        )
        .await,
        400,
        "InvalidResourceGroup",
    )
    .await;
    assert_eq!(v["error"]["target"], "resourceGroupName");
    let v = expect_error(
        t.arm(Method::PUT, &t.rg_path("ok"), Some(json!({}))).await,
        400,
        "LocationRequired",
    )
    .await;
    assert_eq!(v["error"]["target"], "location");
    let long = "a".repeat(91);
    expect_error(
        t.arm(
            Method::PUT,
            &t.rg_path(&long),
            Some(json!({"location": "eastus"})),
        )
        .await,
        400,
        "InvalidResourceGroup",
    )
    .await;
}

#[tokio::test]
async fn workspace_create_lro_get_update_delete() {
    let t = TestServer::start().await;
    t.create_group("rg1").await;
    let p = t.ws_path("rg1", "ws-one");
    let body = json!({"location": "eastus", "tags": {"a": "b"}, "identity": {"type": "SystemAssigned"},
        "properties": {"providers": [{"providerId": "ionq", "providerSku": "pay-as-you-go-cred"}],
                       "storageAccount": "/subscriptions/x/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa1",
                       "apiKeyEnabled": true}});
    let r = t.arm(Method::PUT, &p, Some(body.clone())).await;
    assert_eq!(r.status(), 201);
    let op = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(r.headers()["retry-after"], "1");
    let etag1 = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(op.starts_with(&t.https_url()), "{op}");
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["type"], "microsoft.quantum/workspaces");
    assert_eq!(
        created["id"],
        format!(
            "/subscriptions/{}/resourceGroups/rg1/providers/Microsoft.Quantum/workspaces/ws-one",
            t.sub()
        )
    );
    assert!(created.get("etag").is_none(), "etag is a header only");

    let token = t.mgmt_token().await;
    let status: Value = t
        .https
        .get(&op)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "Succeeded");

    let r = t.arm(Method::GET, &p, None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"].to_str().unwrap(), etag1);
    let w: Value = r.json().await.unwrap();
    assert_eq!(w["name"], "ws-one");
    assert_eq!(w["location"], "eastus");
    assert_eq!(w["tags"], json!({"a": "b"}));
    assert_eq!(w["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        w["properties"]["endpointUri"],
        format!("{}/", t.https_url())
    );
    assert_eq!(w["properties"]["apiKeyEnabled"], true);
    assert_eq!(w["properties"]["workspaceKind"], "V1");
    assert_eq!(
        w["properties"]["providers"][0]["applicationName"],
        "ws-one-ionq"
    );
    assert_eq!(w["identity"]["type"], "SystemAssigned");
    assert_eq!(w["systemData"]["createdBy"], t.b("clientId"));
    assert_eq!(w["systemData"]["createdByType"], "Application");
    assert!(w["systemData"]["createdAt"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    // Update: 200, synchronous, new ETag.
    let r = t.arm(Method::PUT, &p, Some(body)).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("azure-asyncoperation").is_none());
    assert_ne!(r.headers()["etag"].to_str().unwrap(), etag1);

    // Moving to another location is refused.
    let r = t
        .arm(Method::PUT, &p, Some(json!({"location": "westus"})))
        .await;
    expect_error(r, 400, "InvalidResourceLocation").await;

    // Delete: 202 + Location and Azure-AsyncOperation, the status completes, then 404; a
    // second delete is 204 (tests/mgmt_storage.rs covers the Deleting state in between).
    let r = t.arm(Method::DELETE, &p, None).await;
    assert_eq!(r.status(), 202);
    let status_url = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let s = t
        .https
        .get(&status_url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(s.status(), 200);
    assert_eq!(s.json::<Value>().await.unwrap()["status"], "Succeeded");
    expect_error(t.arm(Method::GET, &p, None).await, 404, "ResourceNotFound").await;
    assert_eq!(t.arm(Method::DELETE, &p, None).await.status(), 204);

    let actions: Vec<String> = t
        .audit_lines()
        .iter()
        .map(|l| l["action"].as_str().unwrap().to_string())
        .collect();
    assert!(actions.contains(&"createWorkspace".to_string()));
    assert!(actions.contains(&"deleteWorkspace".to_string()));
}

#[tokio::test]
async fn not_found_cases() {
    let t = TestServer::start().await;
    expect_error(
        t.arm(Method::GET, &t.ws_path("nope", "dev"), None).await,
        404,
        "ResourceGroupNotFound",
    )
    .await;
    let v = expect_error(
        t.arm(Method::GET, &t.ws_path("qws", "nope"), None).await,
        404,
        "ResourceNotFound",
    )
    .await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Microsoft.Quantum/workspaces/nope"));
    expect_error(
        t.arm(
            Method::PUT,
            &t.ws_path("nope", "ws1"),
            Some(json!({"location": "eastus"})),
        )
        .await,
        404,
        "ResourceGroupNotFound",
    )
    .await;
    expect_error(
        t.arm(
            Method::POST,
            &format!("{}/listKeys", t.ws_path("qws", "nope")),
            None,
        )
        .await,
        404,
        "ResourceNotFound",
    )
    .await;
    let other = uuid::Uuid::new_v4();
    expect_error(
        t.arm(Method::GET, &format!("/subscriptions/{other}/resourceGroups/qws/providers/Microsoft.Quantum/workspaces/dev"), None).await,
        404,
        "SubscriptionNotFound",
    )
    .await;
    expect_error(
        t.arm(Method::GET, "/subscriptions/not-a-guid/resourceGroups/qws/providers/Microsoft.Quantum/workspaces/dev", None).await,
        400,
        "InvalidSubscriptionId",
    )
    .await;
    expect_error(
        t.arm(
            Method::GET,
            &format!(
                "/subscriptions/{}/providers/Microsoft.Quantum/unicorns",
                t.sub()
            ),
            None,
        )
        .await,
        404,
        "InvalidResourceType",
    )
    .await;
    expect_error(
        t.arm(Method::GET, "/nothing/here", None).await,
        404,
        "NotFound",
    )
    .await;
    expect_error(
        t.arm(Method::POST, &t.ws_path("qws", "dev"), None).await,
        405,
        "MethodNotAllowed",
    )
    .await;
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let t = TestServer::start().await;
    let put = |ws: &str, body: Value| {
        let p = t.ws_path("qws", ws);
        let t = &t;
        async move { t.arm(Method::PUT, &p, Some(body)).await }
    };
    let v = expect_error(
        put("a", json!({"location": "eastus"})).await,
        400,
        "InvalidResourceName",
    )
    .await;
    assert_eq!(v["error"]["target"], "workspaceName");
    expect_error(
        put("-ab", json!({"location": "eastus"})).await,
        400,
        "InvalidResourceName",
    )
    .await;
    expect_error(
        put(&"a".repeat(55), json!({"location": "eastus"})).await,
        400,
        "InvalidResourceName",
    )
    .await;
    expect_error(
        put("a_b", json!({"location": "eastus"})).await,
        400,
        "InvalidResourceName",
    )
    .await;
    let v = expect_error(
        put("ws1", json!({"tags": {}})).await,
        400,
        "LocationRequired",
    )
    .await;
    assert_eq!(v["error"]["target"], "location");
    let v = expect_error(
        put(
            "ws1",
            json!({"location": "eastus", "properties": {"apiKeyEnabled": "yes"}}),
        )
        .await,
        400,
        "InvalidRequestContent",
    )
    .await;
    assert_eq!(v["error"]["target"], "properties.apiKeyEnabled");
    let v = expect_error(
        put("ws1", json!({"location": "eastus", "tags": ["x"]})).await,
        400,
        "InvalidRequestContent",
    )
    .await;
    assert_eq!(v["error"]["target"], "tags");
    let v = expect_error(
        put("ws1", json!({"location": 5})).await,
        400,
        "InvalidRequestContent",
    )
    .await;
    assert_eq!(v["error"]["target"], "location");
    let v = expect_error(
        put(
            "ws1",
            json!({"location": "eastus", "properties": {"workspaceKind": "V9"}}),
        )
        .await,
        400,
        "InvalidRequestContent",
    )
    .await;
    assert_eq!(v["error"]["target"], "properties.workspaceKind");
    let v = expect_error(
        put(
            "ws1",
            json!({"location": "eastus", "properties": {"providers": [{"providerSku": "x"}]}}),
        )
        .await,
        400,
        "InvalidRequestContent",
    )
    .await;
    assert_eq!(v["error"]["target"], "properties.providers[0].providerId");
    let v = expect_error(
        put(
            "ws1",
            json!({"location": "eastus", "identity": {"type": "Magic"}}),
        )
        .await,
        400,
        "InvalidRequestContent",
    )
    .await;
    assert_eq!(v["error"]["target"], "identity.type");

    let token = t.mgmt_token().await;
    let r = t
        .https
        .put(format!(
            "{}{}?api-version={V}",
            t.https_url(),
            t.ws_path("qws", "ws1")
        ))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "InvalidRequestContent").await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let r = t
        .https
        .put(format!(
            "{}{}?api-version={V}",
            t.https_url(),
            t.ws_path("qws", "ws1")
        ))
        .bearer_auth(&token)
        .body(huge)
        .send()
        .await
        .unwrap();
    expect_error(r, 413, "RequestEntityTooLarge").await;
}

#[tokio::test]
async fn paths_are_case_insensitive_and_names_keep_their_case() {
    let t = TestServer::start().await;
    t.create_group("MyGroup").await;
    t.create_workspace("MyGroup", "CamelWs").await;
    let path = format!(
        "/SUBSCRIPTIONS/{}/RESOURCEGROUPS/mygroup/PROVIDERS/microsoft.quantum/WORKSPACES/camelws",
        t.sub().to_uppercase()
    );
    let r = t.arm(Method::GET, &path, None).await;
    assert_eq!(r.status(), 200);
    let w: Value = r.json().await.unwrap();
    assert_eq!(w["name"], "CamelWs");
    assert!(w["id"]
        .as_str()
        .unwrap()
        .contains("/resourceGroups/MyGroup/providers/Microsoft.Quantum/workspaces/CamelWs"));
    let r = t.arm(Method::POST, &format!("{path}/LISTKEYS"), None).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn list_paging_follows_next_link() {
    let t = TestServer::start_with(|c| c.mgmt.page_size = 2).await;
    t.create_group("zz").await;
    for ws in ["w1", "w2", "w3"] {
        t.create_workspace("qws", ws).await;
    }
    t.create_workspace("zz", "w4").await;
    let token = t.mgmt_token().await;
    let mut url = format!(
        "{}/subscriptions/{}/providers/Microsoft.Quantum/workspaces?api-version={OLD_V}",
        t.https_url(),
        t.sub()
    );
    let mut names = vec![];
    let mut pages = 0;
    loop {
        let v: Value = t
            .https
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        let page = v["value"].as_array().unwrap();
        assert!(page.len() <= 2);
        names.extend(page.iter().map(|w| w["name"].as_str().unwrap().to_string()));
        match v["nextLink"].as_str() {
            Some(next) => {
                assert!(next.contains("api-version=2023-11-13-preview"));
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(names, ["dev", "w1", "w2", "w3", "w4"]);
    assert_eq!(pages, 3);
    let v: Value = t
        .arm_get_json(&format!(
            "{}/providers/Microsoft.Quantum/workspaces",
            t.rg_path("zz")
        ))
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    assert!(v.get("nextLink").is_none());
    let r = t
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{}/providers/Microsoft.Quantum/workspaces?$skiptoken=@@",
                t.sub()
            ),
            None,
        )
        .await;
    expect_error(r, 400, "InvalidSkipToken").await;
}

#[tokio::test]
async fn patch_replaces_tags() {
    let t = TestServer::start().await;
    let p = t.ws_path("qws", "dev");
    let r = t
        .arm(
            Method::PATCH,
            &p,
            Some(json!({"tags": {"a": "1", "b": "2"}})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = t
        .arm(Method::PATCH, &p, Some(json!({"tags": {"c": "3"}})))
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("etag").is_some());
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!({"c": "3"}));
    let w: Value = t.arm_get_json(&p).await;
    assert_eq!(w["tags"], json!({"c": "3"}));
    let v = expect_error(
        t.arm(Method::PATCH, &p, Some(json!({"tags": {"k": 1}})))
            .await,
        400,
        "InvalidRequestContent",
    )
    .await;
    assert_eq!(v["error"]["target"], "tags.k");
    expect_error(
        t.arm(
            Method::PATCH,
            &t.ws_path("qws", "nope"),
            Some(json!({"tags": {}})),
        )
        .await,
        404,
        "ResourceNotFound",
    )
    .await;
}

#[tokio::test]
async fn check_name_offerings_operations() {
    let t = TestServer::start().await;
    let base = format!(
        "/subscriptions/{}/providers/Microsoft.Quantum/locations/eastus",
        t.sub()
    );
    let check = |name: &str| {
        let body = json!({"name": name, "type": "Microsoft.Quantum/Workspaces"});
        let url = format!("{base}/checkNameAvailability");
        let t = &t;
        async move {
            t.arm(Method::POST, &url, Some(body))
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let v = check("dev").await;
    assert_eq!(
        v,
        json!({"nameAvailable": false, "reason": "AlreadyExists", "message": "Resource name already exists"})
    );
    assert_eq!(check("fresh-name").await, json!({"nameAvailable": true}));
    let v = check("-bad").await;
    assert_eq!(v["nameAvailable"], false);
    assert_eq!(v["reason"], "Invalid");

    let v: Value = t.arm_get_json(&format!("{base}/offerings")).await;
    let offers = v["value"].as_array().unwrap();
    assert!(offers.iter().any(|o| o["id"] == "ionq"));
    for o in offers {
        assert_eq!(
            o["properties"]["managedApplication"],
            json!({"publisherId": "N/A", "offerId": "N/A"})
        );
        assert_eq!(o["properties"]["skus"][0]["autoAdd"], true);
    }

    let v: Value = t
        .arm_get_json("/providers/Microsoft.Quantum/operations")
        .await;
    let names: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"Microsoft.Quantum/Workspaces/listKeys/action"));
    assert!(names.contains(&"Microsoft.Quantum/Workspaces/regenerateKey/action"));
}

#[tokio::test]
async fn resource_graph_name_lookup() {
    let t = TestServer::start().await;
    let query = |name: &str, extra: &str| {
        json!({"query": format!("\n            Resources\n            | where type =~ 'microsoft.quantum/workspaces'\n            | where name =~ '{name}'\n{extra}            | extend endpointUri = tostring(properties.endpointUri), workspaceKind = tostring(properties.workspaceKind)\n            | project name, subscriptionId, resourceGroup, location, endpointUri, workspaceKind\n        "),
               "subscriptions": [t.sub()]})
    };
    let url = "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01";
    let v: Value = t
        .arm(Method::POST, url, Some(query("DEV", "")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["count"], 1);
    assert_eq!(
        v["data"][0],
        json!({"name": "dev", "subscriptionId": t.sub(), "resourceGroup": "qws", "location": "eastus",
               "endpointUri": format!("{}/", t.https_url()), "workspaceKind": "V1"})
    );
    let v: Value = t
        .arm(
            Method::POST,
            url,
            Some(query(
                "dev",
                "                | where resourceGroup =~ 'other'\n",
            )),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"], json!([]));
    let v: Value = t
        .arm(Method::POST, url, Some(query("missing", "")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["count"], 0);
    let r = t
        .arm(
            Method::POST,
            url,
            Some(json!({"query": "Resources | summarize count()"})),
        )
        .await;
    expect_error(r, 400, "BadRequest").await;
}

#[tokio::test]
async fn subscriptions_and_tenants() {
    let t = TestServer::start().await;
    let v: Value = t
        .arm_get_json("/subscriptions?api-version=2022-12-01")
        .await;
    assert_eq!(v["value"][0]["subscriptionId"], t.sub());
    assert_eq!(v["value"][0]["tenantId"], t.b("tenantId"));
    assert_eq!(v["value"][0]["state"], "Enabled");
    let r = t
        .arm(
            Method::GET,
            &format!("/subscriptions/{}?api-version=2022-12-01", t.sub()),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = t.arm_get_json("/tenants?api-version=2022-12-01").await;
    assert_eq!(v["value"][0]["tenantId"], t.b("tenantId"));
}

#[tokio::test]
async fn generic_resource_list_as_az_quantum_workspace_list_calls_it() {
    let t = TestServer::start().await;
    t.create_group("other").await;
    t.create_workspace("other", "tagged").await;
    let r = t
        .arm(
            Method::PATCH,
            &t.ws_path("other", "tagged"),
            Some(json!({"tags": {"env": "prod"}})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let q = "$filter=resourceType%20eq%20'Microsoft.Quantum/Workspaces'&$expand=createdTime,changedTime,provisioningState&api-version=2024-11-01";
    let v: Value = t
        .arm_get_json(&format!("/subscriptions/{}/resources?{q}", t.sub()))
        .await;
    let names: Vec<&str> = v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tagged", "dev"]);
    assert_eq!(v["value"][0]["type"], "Microsoft.Quantum/Workspaces");
    assert_eq!(v["value"][0]["provisioningState"], "Succeeded");
    let v: Value = t
        .arm_get_json(&format!("{}/resources?{q}", t.rg_path("qws")))
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let tag_q =
        "$filter=tagName%20eq%20'env'%20and%20tagValue%20eq%20'prod'&api-version=2024-11-01";
    let v: Value = t
        .arm_get_json(&format!("/subscriptions/{}/resources?{tag_q}", t.sub()))
        .await;
    assert_eq!(v["value"].as_array().unwrap().len(), 1);
    let other_type =
        "$filter=resourceType%20eq%20'Microsoft.Storage/storageAccounts'&api-version=2024-11-01";
    let v: Value = t
        .arm_get_json(&format!(
            "/subscriptions/{}/resources?{other_type}",
            t.sub()
        ))
        .await;
    assert_eq!(v["value"], json!([]));
    let r = t
        .arm(
            Method::GET,
            &format!(
                "/subscriptions/{}/resources?$filter=name%20eq%20'x'&api-version=2024-11-01",
                t.sub()
            ),
            None,
        )
        .await;
    expect_error(r, 400, "InvalidFilterInQueryString").await;
}

/// `properties.providers` must name what `offerings` advertises: unknown ids and SKUs are 400s
/// naming the field and listing the offer; ARM's case-insensitive match is accepted.
#[tokio::test]
async fn workspace_providers_must_be_offered() {
    let t = TestServer::start().await;
    t.create_group("rg1").await;
    let offers: Value = t
        .arm_get_json(&format!(
            "/subscriptions/{}/providers/Microsoft.Quantum/locations/eastus/offerings",
            t.sub()
        ))
        .await;
    let offered: Vec<(String, String)> = offers["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().to_string(),
                o["properties"]["skus"][0]["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let put = |ws: &str, providers: Value| {
        let p = t.ws_path("rg1", ws);
        let t = &t;
        async move {
            t.arm(
                Method::PUT,
                &p,
                Some(json!({"location": "eastus", "properties": {"providers": providers}})),
            )
            .await
        }
    };

    let v = expect_error(
        put(
            "ws-bad",
            json!([{"providerId": "ionq", "providerSku": "pay-as-you-go-cred"},
                   {"providerId": "no-such-provider", "providerSku": "free"}]),
        )
        .await,
        400,
        "InvalidProvider",
    )
    .await;
    assert_eq!(v["error"]["target"], "properties.providers[1].providerId");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("'no-such-provider'"), "{msg}");
    for (id, _) in &offered {
        assert!(msg.contains(id.as_str()), "{msg} lists {id}");
    }

    let v = expect_error(
        put(
            "ws-bad",
            json!([{"providerId": "ionq", "providerSku": "pay-as-you-go"}]),
        )
        .await,
        400,
        "InvalidSku",
    )
    .await;
    assert_eq!(v["error"]["target"], "properties.providers[0].providerSku");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("'pay-as-you-go'")
            && msg.contains("'ionq'")
            && msg.contains("pay-as-you-go-cred"),
        "{msg}"
    );
    // Nothing was created by the refused requests.
    expect_error(
        t.arm(Method::GET, &t.ws_path("rg1", "ws-bad"), None).await,
        404,
        "ResourceNotFound",
    )
    .await;

    // Every advertised (provider, SKU) pair is accepted, in any case.
    let all: Vec<Value> = offered
        .iter()
        .map(
            |(id, sku)| json!({"providerId": id.to_uppercase(), "providerSku": sku.to_uppercase()}),
        )
        .collect();
    let r = put("ws-all", Value::Array(all)).await;
    assert_eq!(r.status(), 201);

    // An update of an existing workspace is validated the same way.
    let v = expect_error(
        put(
            "ws-all",
            json!([{"providerId": "rigetti", "providerSku": "nope"}]),
        )
        .await,
        400,
        "InvalidSku",
    )
    .await;
    assert_eq!(v["error"]["target"], "properties.providers[0].providerSku");
}

/// Workspace names are unique per region across resource groups: a second create is 409
/// `WorkspaceNameNotAvailable`; updating the owner and using another region still work.
#[tokio::test]
async fn workspace_name_is_unique_per_region() {
    let t = TestServer::start().await;
    t.create_group("rg-a").await;
    t.create_group("rg-b").await;
    let body = |loc: &str| json!({"location": loc, "properties": {"apiKeyEnabled": true}});
    let r = t
        .arm(
            Method::PUT,
            &t.ws_path("rg-a", "Unique-WS"),
            Some(body("eastus")),
        )
        .await;
    assert_eq!(r.status(), 201);

    let v = expect_error(
        t.arm(
            Method::PUT,
            &t.ws_path("rg-b", "unique-ws"),
            Some(body("East US")),
        )
        .await,
        409,
        "WorkspaceNameNotAvailable",
    )
    .await;
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("'unique-ws'") && msg.contains("'eastus'"),
        "{msg}"
    );
    expect_error(
        t.arm(Method::GET, &t.ws_path("rg-b", "unique-ws"), None)
            .await,
        404,
        "ResourceNotFound",
    )
    .await;
    // The bootstrap workspace's name is taken too (other resource group, same region).
    let r = t
        .arm(Method::PUT, &t.ws_path("rg-b", "dev"), Some(body("eastus")))
        .await;
    expect_error(r, 409, "WorkspaceNameNotAvailable").await;

    // Updating the existing workspace (same id, any case) is unaffected.
    let r = t
        .arm(
            Method::PUT,
            &t.ws_path("RG-A", "unique-ws"),
            Some(body("eastus")),
        )
        .await;
    assert_eq!(r.status(), 200);
    // Another region is fine.
    let r = t
        .arm(
            Method::PUT,
            &t.ws_path("rg-b", "unique-ws"),
            Some(body("westus")),
        )
        .await;
    assert_eq!(r.status(), 201);

    // Concurrent creates of one new name in one region: exactly one wins, the rest are 409s.
    let mut groups = vec![];
    for i in 0..6 {
        let g = format!("race{i}");
        t.create_group(&g).await;
        groups.push(g);
    }
    let token = t.mgmt_token().await;
    let mut attempts = tokio::task::JoinSet::new();
    for g in &groups {
        let req = t
            .https
            .put(format!(
                "{}{}?api-version={V}",
                t.https_url(),
                t.ws_path(g, "contested")
            ))
            .bearer_auth(&token)
            .json(&body("eastus"));
        attempts.spawn(async move { req.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = attempts.join_all().await;
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
}
