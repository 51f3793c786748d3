//! The directory administration API (`/qws/directory/…`): users, service principals and their
//! secrets, groups and members; authorized through RBAC at the subscription, audited, secrets
//! shown once.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

const PASSWORD: &str = "Correct-Horse-42";

/// Client-credentials token for a service principal created through the API.
async fn token_for(t: &TestServer, app_id: &str, secret: &str) -> reqwest::Response {
    t.client_credentials(app_id, secret, "https://management.azure.com/.default")
        .await
}

async fn ok_json(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status);
    r.json().await.unwrap()
}

#[tokio::test]
async fn users_create_show_update_delete() {
    let t = TestServer::start().await;
    let r = t
        .arm(
            Method::POST,
            "/qws/directory/users",
            Some(
                json!({"userPrincipalName": "alice@qws.local", "displayName": "Alice",
                        "passwordProfile": {"password": PASSWORD}}),
            ),
        )
        .await;
    let alice = ok_json(r, 201).await;
    let id = alice["id"].as_str().unwrap().to_string();
    assert_eq!(alice["userPrincipalName"], "alice@qws.local");
    assert_eq!(alice["displayName"], "Alice");
    assert_eq!(alice["accountEnabled"], true);
    assert!(!alice.to_string().contains(PASSWORD));

    let r = t
        .arm(
            Method::POST,
            "/qws/directory/users",
            Some(
                json!({"userPrincipalName": "ALICE@qws.local", "displayName": "Again",
                        "passwordProfile": {"password": PASSWORD}}),
            ),
        )
        .await;
    expect_error(r, 409, "ObjectConflict").await;
    let r = t
        .arm(
            Method::POST,
            "/qws/directory/users",
            Some(
                json!({"userPrincipalName": "bob@qws.local", "displayName": "Bob",
                        "passwordProfile": {"password": "short"}}),
            ),
        )
        .await;
    expect_error(r, 400, "InvalidPassword").await;
    let r = t
        .arm(
            Method::POST,
            "/qws/directory/users",
            Some(
                json!({"userPrincipalName": "not an upn", "displayName": "X",
                        "passwordProfile": {"password": PASSWORD}}),
            ),
        )
        .await;
    expect_error(r, 400, "InvalidRequestContent").await;

    // By object id and by user principal name.
    for key in [id.as_str(), "alice@qws.local"] {
        let r = t
            .arm(Method::GET, &format!("/qws/directory/users/{key}"), None)
            .await;
        assert_eq!(ok_json(r, 200).await["id"], id.as_str());
    }
    let list = ok_json(t.arm(Method::GET, "/qws/directory/users", None).await, 200).await;
    // Alice and the portal administrator created at first start.
    let upns: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(upns.len(), 2, "{upns:?}");
    assert!(upns.contains(&"alice@qws.local") && upns.contains(&"admin@qws.local"));

    let r = t
        .arm(
            Method::PATCH,
            &format!("/qws/directory/users/{id}"),
            Some(json!({"displayName": "Alice A.", "accountEnabled": false,
                        "passwordProfile": {"password": "Another-Pass-77"}})),
        )
        .await;
    let updated = ok_json(r, 200).await;
    assert_eq!(updated["displayName"], "Alice A.");
    assert_eq!(updated["accountEnabled"], false);

    let r = t
        .arm(Method::DELETE, &format!("/qws/directory/users/{id}"), None)
        .await;
    assert_eq!(r.status(), 204);
    let r = t
        .arm(Method::GET, &format!("/qws/directory/users/{id}"), None)
        .await;
    expect_error(r, 404, "ResourceNotFound").await;

    let audit = std::fs::read_to_string(t.data_dir().join("audit.log")).unwrap();
    for action in [
        "Microsoft.Directory/users/create",
        "Microsoft.Directory/users/password/update",
        "Microsoft.Directory/users/delete",
    ] {
        assert!(audit.contains(action), "audit of {action}");
    }
    assert!(!audit.contains(PASSWORD) && !audit.contains("Another-Pass-77"));
}

#[tokio::test]
async fn service_principal_secrets_sign_in_rotate_and_admin_only() {
    let t = TestServer::start().await;
    let r = t
        .arm(
            Method::POST,
            "/qws/directory/servicePrincipals",
            Some(json!({"displayName": "ci"})),
        )
        .await;
    let sp = ok_json(r, 201).await;
    let (oid, app) = (
        sp["id"].as_str().unwrap().to_string(),
        sp["appId"].as_str().unwrap().to_string(),
    );
    assert_eq!(sp["servicePrincipalType"], "Application");
    assert_eq!(sp["passwordCredentials"], json!([]));

    let r = t
        .arm(
            Method::POST,
            &format!("/qws/directory/servicePrincipals/{app}/addPassword"),
            Some(json!({"passwordCredential": {"displayName": "ci secret"}})),
        )
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let cred = ok_json(r, 200).await;
    let secret = cred["secretText"].as_str().unwrap().to_string();
    assert_eq!(cred["hint"], &secret[..3]);
    assert_eq!(cred["displayName"], "ci secret");
    assert!(cred["endDateTime"].as_str().unwrap().ends_with('Z'));
    let first_key = cred["keyId"].as_str().unwrap().to_string();

    // The secret signs in; listing shows metadata only.
    assert_eq!(token_for(&t, &app, &secret).await.status(), 200);
    let shown = ok_json(
        t.arm(
            Method::GET,
            &format!("/qws/directory/servicePrincipals/{oid}"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(shown["passwordCredentials"][0]["keyId"], first_key.as_str());
    assert!(!shown.to_string().contains(&secret));

    // A principal without a role is refused.
    let v: Value = token_for(&t, &app, &secret).await.json().await.unwrap();
    let sp_token = v["access_token"].as_str().unwrap().to_string();
    let r = t
        .arm_with(&sp_token, Method::GET, "/qws/directory/users", None)
        .await;
    expect_error(r, 403, "AuthorizationFailed").await;

    // Reset replaces every secret: the old one stops working.
    let r = t
        .arm(
            Method::POST,
            &format!("/qws/directory/servicePrincipals/{oid}/resetPassword"),
            Some(json!({"passwordCredential": {"endDateTime": "2099-01-01T00:00:00Z"}})),
        )
        .await;
    let reset = ok_json(r, 200).await;
    let new_secret = reset["secretText"].as_str().unwrap().to_string();
    assert_eq!(reset["endDateTime"], "2099-01-01T00:00:00Z");
    assert_eq!(token_for(&t, &app, &secret).await.status(), 401);
    assert_eq!(token_for(&t, &app, &new_secret).await.status(), 200);
    let key = reset["keyId"].as_str().unwrap().to_string();
    let r = t
        .arm(
            Method::POST,
            &format!("/qws/directory/servicePrincipals/{oid}/removePassword"),
            Some(json!({"keyId": key})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(token_for(&t, &app, &new_secret).await.status(), 401);
    let r = t
        .arm(
            Method::POST,
            &format!("/qws/directory/servicePrincipals/{oid}/removePassword"),
            Some(json!({"keyId": key})),
        )
        .await;
    expect_error(r, 404, "ResourceNotFound").await;
    let r = t
        .arm(
            Method::POST,
            &format!("/qws/directory/servicePrincipals/{oid}/addPassword"),
            Some(json!({"passwordCredential": {"endDateTime": "yesterday"}})),
        )
        .await;
    expect_error(r, 400, "InvalidRequestContent").await;

    // The administrator cannot be deleted; others can.
    let admin = t.b("clientId");
    let r = t
        .arm(
            Method::DELETE,
            &format!("/qws/directory/servicePrincipals/{admin}"),
            None,
        )
        .await;
    expect_error(r, 400, "InvalidRequestContent").await;
    let r = t
        .arm(
            Method::DELETE,
            &format!("/qws/directory/servicePrincipals/{oid}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);

    let audit = std::fs::read_to_string(t.data_dir().join("audit.log")).unwrap();
    assert!(audit.contains("Microsoft.Directory/servicePrincipals/credentials/update"));
    assert!(!audit.contains(&secret) && !audit.contains(&new_secret));

    let r = t
        .https
        .get(format!("{}/qws/directory/users", t.https_url()))
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "AuthenticationFailed").await;
}

#[tokio::test]
async fn groups_members_and_group_role_assignments() {
    let t = TestServer::start().await;
    t.create_group("rg").await;
    let user = ok_json(
        t.arm(
            Method::POST,
            "/qws/directory/users",
            Some(
                json!({"userPrincipalName": "carol@qws.local", "displayName": "Carol",
                        "passwordProfile": {"password": PASSWORD}}),
            ),
        )
        .await,
        201,
    )
    .await;
    let uid = user["id"].as_str().unwrap().to_string();
    let group = ok_json(
        t.arm(
            Method::POST,
            "/qws/directory/groups",
            Some(json!({"displayName": "researchers", "description": "lab"})),
        )
        .await,
        201,
    )
    .await;
    let gid = group["id"].as_str().unwrap().to_string();
    assert_eq!(group["securityEnabled"], true);

    let r = t
        .arm(
            Method::POST,
            &format!("/qws/directory/groups/{gid}/members"),
            Some(json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{uid}")})),
        )
        .await;
    assert_eq!(r.status(), 204);
    let members = ok_json(
        t.arm(
            Method::GET,
            &format!("/qws/directory/groups/{gid}/members"),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(members["value"][0]["id"], uid.as_str());
    assert_eq!(members["value"][0]["@odata.type"], "#microsoft.graph.user");

    // A role given to the group is listed for its member with assignedTo(), not principalId.
    let name = uuid::Uuid::new_v4().to_string();
    let r = t
        .arm(
            Method::PUT,
            &format!(
                "{}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01",
                t.rg_path("rg")
            ),
            Some(json!({"properties": {
                "roleDefinitionId": "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
                "principalId": gid, "principalType": "Group"}})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let list = |f: String| {
        let t = &t;
        async move {
            let path = format!(
                "/subscriptions/{}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter={}",
                t.sub(),
                f.replace(' ', "%20").replace('\'', "%27")
            );
            ok_json(t.arm(Method::GET, &path, None).await, 200).await["value"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(list(format!("assignedTo('{uid}')")).await, 1);
    assert_eq!(list(format!("principalId eq '{uid}'")).await, 0);

    let r = t
        .arm(
            Method::DELETE,
            &format!("/qws/directory/groups/{gid}/members/{uid}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(list(format!("assignedTo('{uid}')")).await, 0);
    let r = t
        .arm(
            Method::DELETE,
            &format!("/qws/directory/groups/{gid}/members/{uid}"),
            None,
        )
        .await;
    expect_error(r, 404, "ResourceNotFound").await;

    let groups = ok_json(t.arm(Method::GET, "/qws/directory/groups", None).await, 200).await;
    assert_eq!(groups["value"].as_array().unwrap().len(), 1);
    let r = t
        .arm(
            Method::DELETE,
            &format!("/qws/directory/groups/{gid}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = t
        .arm(Method::GET, &format!("/qws/directory/groups/{gid}"), None)
        .await;
    expect_error(r, 404, "ResourceNotFound").await;
}

/// A service principal with a secret and a management token, holding `role` (a built-in role
/// id) at the default subscription.
async fn principal_with_role(t: &TestServer, name: &str, role: &str) -> (String, String) {
    let sp = ok_json(
        t.arm(
            Method::POST,
            "/qws/directory/servicePrincipals",
            Some(json!({"displayName": name})),
        )
        .await,
        201,
    )
    .await;
    let (oid, app) = (
        sp["id"].as_str().unwrap().to_string(),
        sp["appId"].as_str().unwrap().to_string(),
    );
    let cred = ok_json(
        t.arm(
            Method::POST,
            &format!("/qws/directory/servicePrincipals/{oid}/addPassword"),
            Some(json!({"passwordCredential": {}})),
        )
        .await,
        200,
    )
    .await;
    let sub = t.sub();
    let r = t
        .arm(
            Method::PUT,
            &format!(
                "/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                uuid::Uuid::new_v4()
            ),
            Some(json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
                "principalId": oid, "principalType": "ServicePrincipal"}})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = token_for(t, &app, cred["secretText"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    (oid, v["access_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn access_administrators_manage_the_directory_contributors_only_read_it() {
    const UAA: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
    const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    let t = TestServer::start().await;
    let (_, uaa) = principal_with_role(&t, "access admin", UAA).await;
    let (_, contributor) = principal_with_role(&t, "contributor", CONTRIBUTOR).await;
    let (_, owner) = principal_with_role(&t, "owner", OWNER).await;

    // User Access Administrator: creates a service principal and gives it a secret.
    let sp = ok_json(
        t.arm_with(
            &uaa,
            Method::POST,
            "/qws/directory/servicePrincipals",
            Some(json!({"displayName": "ci"})),
        )
        .await,
        201,
    )
    .await;
    let ci = sp["id"].as_str().unwrap().to_string();
    let add = format!("/qws/directory/servicePrincipals/{ci}/addPassword");
    let body = json!({"passwordCredential": {}});
    let r = t
        .arm_with(&uaa, Method::POST, &add, Some(body.clone()))
        .await;
    assert_eq!(r.status(), 200);

    // Contributor: reads, but changes nothing, and learns no secret.
    let r = t
        .arm_with(
            &contributor,
            Method::GET,
            "/qws/directory/servicePrincipals",
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = t
        .arm_with(&contributor, Method::POST, &add, Some(body.clone()))
        .await;
    let e = expect_error(r, 403, "AuthorizationFailed").await;
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Microsoft.Authorization/servicePrincipals/credentials/write"));
    let r = t
        .arm_with(
            &contributor,
            Method::DELETE,
            &format!("/qws/directory/servicePrincipals/{ci}"),
            None,
        )
        .await;
    expect_error(r, 403, "AuthorizationFailed").await;

    // Even an Owner of the subscription cannot take over the bootstrap administrator.
    let admin = t.b("clientId");
    for (method, path, body) in [
        (
            Method::POST,
            format!("/qws/directory/servicePrincipals/{admin}/addPassword"),
            Some(body.clone()),
        ),
        (
            Method::PATCH,
            format!("/qws/directory/servicePrincipals/{admin}"),
            Some(json!({"displayName": "mine now"})),
        ),
    ] {
        let r = t.arm_with(&owner, method, &path, body).await;
        expect_error(r, 403, "AuthorizationFailed").await;
    }
    // The Owner manages everyone else.
    let r = t
        .arm_with(
            &owner,
            Method::DELETE,
            &format!("/qws/directory/servicePrincipals/{ci}"),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
}
