//! Template deployments (`Microsoft.Resources/deployments`) against a real server, driven with
//! the request `az quantum workspace create` sends (without `--skip-role-assignment`): its
//! template, its parameters, its api-versions, its polling.
//!
//! The template is read from the quantum extension's wheel when one is found (`QWS_QUANTUM_WHEEL`,
//! `$QWS_SHARED_DIR/wheels/…`,
//! or `shared/wheels/quantum-1.0.0b16-py3-none-any.whl` in a parent directory); otherwise a
//! template of the same shape is used ([`same_shape_template`]).

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

const DEPLOY_V: &str = "2025-04-01";
const WHEEL: &str = "quantum-1.0.0b16-py3-none-any.whl";
const TEMPLATE_IN_WHEEL: &str =
    "azext_quantum/operations/templates/create-workspace-and-assign-role.json";
const STORAGE_ACCOUNT_CONTRIBUTOR: &str = "17d1049b-9a84-46fb-8f53-869881c3d3ab";
const STORAGE_BLOB_DATA_CONTRIBUTOR: &str = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";

fn find_wheel() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("QWS_QUANTUM_WHEEL") {
        return Some(p.into());
    }
    if let Ok(d) = std::env::var("QWS_SHARED_DIR") {
        let candidate = std::path::Path::new(&d).join("wheels").join(WHEEL);
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let mut dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    loop {
        let candidate = dir.join("shared").join("wheels").join(WHEEL);
        if candidate.is_file() {
            return Some(candidate);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// The extension's own template (read from the wheel with Python's zipfile), if available.
fn wheel_template() -> Option<Value> {
    let wheel = find_wheel()?;
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())",
        ])
        .arg(&wheel)
        .arg(TEMPLATE_IN_WHEEL)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

/// A template with the shape of the extension's: a workspace with a system identity, then a
/// nested deployment (outer scope) holding a storage account with a `fileServices` child and two
/// role assignments for the workspace's identity on the account.
fn same_shape_template() -> Value {
    let principal = "[reference(concat('Microsoft.Quantum/Workspaces/', parameters('quantumWorkspaceName')), '2025-12-15-preview', 'Full').identity.principalId]";
    let assignment = |role_var: &str| {
        json!({
            "type": "Microsoft.Storage/storageAccounts/providers/roleAssignments",
            "apiVersion": "2020-04-01-preview",
            "name": format!("[concat(parameters('storageAccountName'), '/Microsoft.Authorization/', guid(reference(concat('Microsoft.Quantum/Workspaces/', parameters('quantumWorkspaceName')), '2025-12-15-preview', 'Full').identity.principalId, variables('{role_var}')))]"),
            "location": "[parameters('storageAccountLocation')]",
            "dependsOn": ["[parameters('storageAccountId')]"],
            "properties": {
                "roleDefinitionId": format!("[resourceId('Microsoft.Authorization/roleDefinitions', variables('{role_var}'))]"),
                "principalId": principal,
                "principalType": "ServicePrincipal"
            }
        })
    };
    let string = json!({"type": "string"});
    json!({
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {
            "quantumWorkspaceName": string, "location": string,
            "tags": {"type": "object", "defaultValue": {}},
            "providers": {"type": "array"},
            "storageAccountName": string, "storageAccountId": string, "storageAccountLocation": string,
            "storageAccountSku": string, "storageAccountKind": string, "storageAccountDeploymentName": string,
            "storageAccountAllowSharedKeyAccess": {"type": "bool", "defaultValue": false}
        },
        "functions": [],
        "variables": {
            "storageAccountContributorRoleId": STORAGE_ACCOUNT_CONTRIBUTOR,
            "storageBlobDataContributorRoleId": STORAGE_BLOB_DATA_CONTRIBUTOR
        },
        "resources": [
            {
                "type": "Microsoft.Quantum/workspaces", "apiVersion": "2025-12-15-preview",
                "name": "[parameters('quantumWorkspaceName')]", "location": "[parameters('location')]",
                "tags": "[parameters('tags')]", "identity": {"type": "SystemAssigned"},
                "properties": {"providers": "[parameters('providers')]", "storageAccount": "[parameters('storageAccountId')]"}
            },
            {
                "type": "Microsoft.Resources/deployments", "apiVersion": "2019-10-01",
                "name": "[parameters('storageAccountDeploymentName')]",
                "dependsOn": ["[resourceId('Microsoft.Quantum/Workspaces', parameters('quantumWorkspaceName'))]"],
                "properties": {
                    "mode": "Incremental",
                    "template": {
                        "$schema": "https://schema.management.azure.com/schemas/2015-01-01/deploymentTemplate.json#",
                        "contentVersion": "1.0.0.0",
                        "resources": [
                            {
                                "type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-05-01",
                                "name": "[parameters('storageAccountName')]", "location": "[parameters('storageAccountLocation')]",
                                "sku": {"name": "[parameters('storageAccountSku')]"}, "kind": "[parameters('storageAccountKind')]",
                                "properties": {"allowBlobPublicAccess": false,
                                    "allowSharedKeyAccess": "[parameters('storageAccountAllowSharedKeyAccess')]",
                                    "minimumTlsVersion": "TLS1_2"},
                                "resources": [{
                                    "type": "fileServices", "apiVersion": "2019-06-01", "name": "default",
                                    "dependsOn": ["[parameters('storageAccountId')]"],
                                    "properties": {"cors": {"corsRules": [{"allowedOrigins": ["*"], "allowedMethods": ["GET"],
                                        "allowedHeaders": ["*"], "exposedHeaders": ["*"], "maxAgeInSeconds": 180}]}}
                                }]
                            },
                            assignment("storageAccountContributorRoleId"),
                            assignment("storageBlobDataContributorRoleId")
                        ]
                    }
                }
            }
        ],
        "outputs": {}
    })
}

fn template() -> Value {
    match wheel_template() {
        Some(t) => t,
        None => {
            eprintln!(
                "note: quantum extension wheel not found; using a template of the same shape"
            );
            same_shape_template()
        }
    }
}

/// The parameters `az quantum workspace create -g G -w W -l eastus -a STORAGE -r ionq/pay-as-you-go-cred`
/// builds (azext_quantum/operations/workspace.py `create`).
fn parameters(t: &TestServer, rg: &str, ws: &str, account: &str) -> Value {
    json!({
        "quantumWorkspaceName": {"value": ws},
        "location": {"value": "eastus"},
        "tags": {"value": {}},
        "providers": {"value": [{"providerId": "ionq", "providerSku": "pay-as-you-go-cred"}]},
        "storageAccountName": {"value": account},
        "storageAccountId": {"value": format!("/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{account}", t.sub())},
        "storageAccountLocation": {"value": "eastus"},
        "storageAccountSku": {"value": "Standard_LRS"},
        "storageAccountKind": {"value": "StorageV2"},
        "storageAccountAllowSharedKeyAccess": {"value": false},
        "storageAccountDeploymentName": {"value": "Microsoft.StorageAccount-01-Dec-2026-10-00-00"}
    })
}

fn deployment_path(t: &TestServer, rg: &str, name: &str) -> String {
    // The SDK spells the group segment in lower case.
    format!(
        "/subscriptions/{}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}?api-version={DEPLOY_V}",
        t.sub()
    )
}

async fn json_of(r: reqwest::Response) -> Value {
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {v}");
    v
}

/// PUTs a deployment and polls its `Azure-AsyncOperation` until it is terminal; returns the
/// final status document.
async fn deploy(t: &TestServer, rg: &str, name: &str, template: Value, parameters: Value) -> Value {
    let r = t
        .arm(
            Method::PUT,
            &deployment_path(t, rg, name),
            Some(json!({"properties": {"mode": "Incremental", "template": template, "parameters": parameters}})),
        )
        .await;
    assert!(r.status() == 201 || r.status() == 200, "{}", r.status());
    let status_url = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let accepted: Value = r.json().await.unwrap();
    assert!(
        matches!(
            accepted["properties"]["provisioningState"].as_str(),
            Some("Accepted" | "Running" | "Succeeded")
        ),
        "{accepted}"
    );
    let token = t.mgmt_token().await;
    let deadline = tokio::time::Instant::now() + WAIT_DEADLINE;
    loop {
        let s: Value = json_of(
            t.https
                .get(&status_url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        )
        .await;
        if s["status"] != "Running" {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deployment {name} never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn states(ops: &Value) -> Vec<(String, String)> {
    ops["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["properties"]["targetResource"]["resourceType"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                o["properties"]["provisioningState"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn az_quantum_workspace_create_deployment_succeeds_and_the_workspace_is_usable() {
    let t = TestServer::start().await;
    t.create_group("azq").await;
    let (ws, account) = ("ws-arm", "qwsarmstore01");
    // What the extension reads first: the group's storage accounts (none yet).
    let listed = json_of(
        t.arm(
            Method::GET,
            &format!(
                "{}/providers/Microsoft.Storage/storageAccounts?api-version=2025-08-01",
                t.rg_path("azq")
            ),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(listed["value"], json!([]));

    let name = format!("Microsoft.AzureQuantum-{ws}");
    let s = deploy(
        &t,
        "azq",
        &name,
        template(),
        parameters(&t, "azq", ws, account),
    )
    .await;
    assert_eq!(s["status"], "Succeeded", "{s}");

    // The deployment and its nested deployment, with one operation per resource.
    let d = json_of(
        t.arm(Method::GET, &deployment_path(&t, "azq", &name), None)
            .await,
    )
    .await;
    assert_eq!(d["name"], name);
    assert_eq!(d["type"], "Microsoft.Resources/deployments");
    assert_eq!(d["properties"]["provisioningState"], "Succeeded");
    assert_eq!(d["properties"]["mode"], "Incremental");
    assert_eq!(
        d["properties"]["parameters"]["quantumWorkspaceName"]["value"],
        ws
    );
    let outputs: Vec<&str> = d["properties"]["outputResources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect();
    assert!(
        outputs.contains(&t.ws_path("azq", ws).as_str()),
        "{outputs:?}"
    );
    let ops_path =
        |n: &str| deployment_path(&t, "azq", n).replace("?api-version", "/operations?api-version");
    let ops = json_of(t.arm(Method::GET, &ops_path(&name), None).await).await;
    assert_eq!(
        states(&ops),
        [
            (
                "Microsoft.Quantum/workspaces".to_string(),
                "Succeeded".to_string()
            ),
            (
                "Microsoft.Resources/deployments".to_string(),
                "Succeeded".to_string()
            )
        ]
    );
    let nested = "Microsoft.StorageAccount-01-Dec-2026-10-00-00";
    let nested_ops = json_of(t.arm(Method::GET, &ops_path(nested), None).await).await;
    let mut nested_types: Vec<(String, String)> = states(&nested_ops);
    nested_types.sort();
    assert_eq!(
        nested_types,
        [
            ("Microsoft.Storage/storageAccounts", "Succeeded"),
            (
                "Microsoft.Storage/storageAccounts/fileServices",
                "Succeeded"
            ),
            (
                "Microsoft.Storage/storageAccounts/providers/roleAssignments",
                "Succeeded"
            ),
            (
                "Microsoft.Storage/storageAccounts/providers/roleAssignments",
                "Succeeded"
            ),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let all = json_of(
        t.arm(
            Method::GET,
            &format!("/subscriptions/{}/resourcegroups/azq/providers/Microsoft.Resources/deployments/?api-version={DEPLOY_V}", t.sub()),
            None,
        )
        .await,
    )
    .await;
    let mut names: Vec<&str> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [name.as_str(), nested]);

    // The workspace, with its managed identity and its storage account.
    let w = json_of(t.arm(Method::GET, &t.ws_path("azq", ws), None).await).await;
    assert_eq!(w["properties"]["provisioningState"], "Succeeded");
    assert_eq!(w["identity"]["type"], "SystemAssigned");
    let principal = w["identity"]["principalId"].as_str().unwrap().to_string();
    let account_id = format!("/subscriptions/{}/resourceGroups/azq/providers/Microsoft.Storage/storageAccounts/{account}", t.sub());
    assert_eq!(w["properties"]["storageAccount"], account_id);
    let a = json_of(
        t.arm(
            Method::GET,
            &format!("{account_id}?api-version=2025-08-01"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(a["sku"]["tier"], "Standard");
    assert_eq!(a["properties"]["allowSharedKeyAccess"], false);

    // The two role assignments, stored for the workspace's identity on the account.
    let ra = json_of(
        t.arm(
            Method::GET,
            &format!("{account_id}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()&api-version=2022-04-01"),
            None,
        )
        .await,
    )
    .await;
    let mut granted: Vec<String> = ra["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["properties"]["principalId"] == principal.as_str())
        .map(|a| {
            a["properties"]["roleDefinitionId"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    granted.sort();
    assert_eq!(
        granted,
        [STORAGE_ACCOUNT_CONTRIBUTOR, STORAGE_BLOB_DATA_CONTRIBUTOR]
    );

    // Usable at once: keys, and a job container in the account.
    let dp = crate::common::dp::Dp::of(&t, "azq", ws).await;
    let r = dp
        .call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({"containerName": "job-after-arm"})),
        )
        .await;
    assert_eq!(r.status(), 200);

    // Running the same deployment again changes nothing and succeeds (Incremental).
    let s = deploy(
        &t,
        "azq",
        &name,
        template(),
        parameters(&t, "azq", ws, account),
    )
    .await;
    assert_eq!(s["status"], "Succeeded", "{s}");

    let actions: Vec<String> = t
        .audit_lines()
        .iter()
        .map(|l| l["action"].as_str().unwrap().to_string())
        .collect();
    for a in [
        "Microsoft.Resources/deployments/write",
        "createWorkspace",
        "Microsoft.Authorization/roleAssignments/write",
    ] {
        assert!(actions.contains(&a.to_string()), "{a} audited");
    }
}

async fn refused(t: &TestServer, name: &str, template: Value) -> String {
    let r = t
        .arm(
            Method::PUT,
            &deployment_path(t, "azq", name),
            Some(json!({"properties": {"mode": "Incremental", "template": template, "parameters": {}}})),
        )
        .await;
    let v = expect_error(r, 400, "InvalidTemplate").await;
    // Nothing was deployed or recorded.
    expect_error(
        t.arm(Method::GET, &deployment_path(t, "azq", name), None)
            .await,
        404,
        "DeploymentNotFound",
    )
    .await;
    v["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn invalid_templates_are_refused_before_anything_is_deployed() {
    let t = TestServer::start().await;
    t.create_group("azq").await;
    let ws = |name: &str, extra: Value| {
        let mut r = json!({"type": "Microsoft.Quantum/workspaces", "apiVersion": "2025-12-15-preview",
            "name": name, "location": "eastus", "properties": {"providers": []}});
        r.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        r
    };
    let m = refused(
        &t,
        "d1",
        json!({"resources": [ws("ws1", json!({"location": "[uniqueString('x')]"}))]}),
    )
    .await;
    assert!(m.contains("'uniqueString'") && m.contains("'ws1'"), "{m}");
    let m = refused(
        &t,
        "d2",
        json!({"resources": [{"type": "Microsoft.Compute/virtualMachines", "name": "vm1"}]}),
    )
    .await;
    assert!(
        m.contains("Microsoft.Compute/virtualMachines") && m.contains("'vm1'"),
        "{m}"
    );
    let m = refused(
        &t,
        "d3",
        json!({"resources": [ws("a", json!({"dependsOn": ["b"]})), ws("b", json!({"dependsOn": ["a"]}))]}),
    )
    .await;
    assert!(m.contains("Circular dependency"), "{m}");
    let m = refused(
        &t,
        "d4",
        json!({"parameters": {"n": {"type": "string"}}, "resources": []}),
    )
    .await;
    assert!(m.contains("'n' is not provided"), "{m}");
    for body in [
        json!({"properties": {"mode": "Complete", "template": {"resources": []}}}),
        json!({"properties": {"mode": "Incremental"}}),
        json!({"properties": {"mode": "Incremental", "templateLink": {"uri": "https://example.invalid/t.json"}}}),
    ] {
        let r = t
            .arm(Method::PUT, &deployment_path(&t, "azq", "d5"), Some(body))
            .await;
        assert_eq!(r.status(), 400);
    }
    let r = t
        .arm(
            Method::PUT,
            &deployment_path(&t, "nogroup", "d6"),
            Some(json!({"properties": {"mode": "Incremental", "template": {"resources": []}}})),
        )
        .await;
    expect_error(r, 404, "ResourceGroupNotFound").await;
    let r = t
        .arm(Method::GET, &deployment_path(&t, "azq", "bad%20name"), None)
        .await;
    expect_error(r, 400, "InvalidDeploymentName").await;
    assert!(
        t.arm(Method::GET, &t.ws_path("azq", "ws1"), None)
            .await
            .status()
            == 404
    );
}

#[tokio::test]
async fn a_failing_resource_fails_the_deployment_and_reports_what_was_deployed() {
    let t = TestServer::start().await;
    t.create_group("azq").await;
    t.create_group("other").await;
    // The storage account name is taken by an account in another group.
    let r = t
        .arm(
            Method::PUT,
            &format!(
                "{}/providers/Microsoft.Storage/storageAccounts/qwstaken01?api-version=2025-08-01",
                t.rg_path("other")
            ),
            Some(
                json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
            ),
        )
        .await;
    assert_eq!(r.status(), 202);
    let s = deploy(
        &t,
        "azq",
        "partly",
        template(),
        parameters(&t, "azq", "ws-partly", "qwstaken01"),
    )
    .await;
    assert_eq!(s["status"], "Failed", "{s}");
    assert_eq!(s["error"]["code"], "DeploymentFailed");
    let text = s["error"].to_string();
    assert!(text.contains("StorageAccountAlreadyTaken"), "{text}");

    // The workspace was deployed (and stays, as in ARM); the failure is on the storage account.
    let d = json_of(
        t.arm(Method::GET, &deployment_path(&t, "azq", "partly"), None)
            .await,
    )
    .await;
    assert_eq!(d["properties"]["provisioningState"], "Failed");
    assert_eq!(d["properties"]["error"]["code"], "DeploymentFailed");
    let ops = json_of(
        t.arm(
            Method::GET,
            &deployment_path(&t, "azq", "partly")
                .replace("?api-version", "/operations?api-version"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        states(&ops),
        [
            (
                "Microsoft.Quantum/workspaces".to_string(),
                "Succeeded".to_string()
            ),
            (
                "Microsoft.Resources/deployments".to_string(),
                "Failed".to_string()
            )
        ]
    );
    let nested = json_of(
        t.arm(
            Method::GET,
            &deployment_path(&t, "azq", "Microsoft.StorageAccount-01-Dec-2026-10-00-00")
                .replace("?api-version", "/operations?api-version"),
            None,
        )
        .await,
    )
    .await;
    let failed = &nested["value"][0]["properties"];
    assert_eq!(failed["provisioningState"], "Failed");
    assert_eq!(failed["targetResource"]["resourceName"], "qwstaken01");
    assert_eq!(
        failed["statusMessage"]["error"]["code"],
        "StorageAccountAlreadyTaken"
    );
    assert_eq!(
        nested["value"].as_array().unwrap().len(),
        1,
        "nothing after the failure was attempted"
    );
    assert_eq!(
        t.arm(Method::GET, &t.ws_path("azq", "ws-partly"), None)
            .await
            .status(),
        200
    );

    // An unknown operation id is a 404.
    let r = t
        .arm(
            Method::GET,
            &deployment_path(&t, "azq", "partly")
                .replace("?api-version", "/operationStatuses/nope?api-version"),
            None,
        )
        .await;
    expect_error(r, 404, "OperationNotFound").await;
}
