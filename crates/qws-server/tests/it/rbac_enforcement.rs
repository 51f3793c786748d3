//! Azure RBAC decides what every principal but the bootstrap administrator may do: deny by
//! default, role assignments at the scope or above grant their role's actions, data actions
//! only through `dataActions`, and a change applies to the very next request with the same
//! token. The managed identity holds only the roles `--msi-role` gives it.

use crate::common::dp::DV;
use crate::common::roles::{CONTRIBUTOR, DATA_CONTRIBUTOR, RA_V, READER};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// A new service principal with a secret.
async fn principal(t: &TestServer) -> (String, String, String) {
    service_principal(t, "researcher").await
}

async fn token(t: &TestServer, app: &str, secret: &str, scope: &str) -> String {
    let r = t.client_credentials(app, secret, scope).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Assigns `role` to `oid` at `scope` as the administrator; returns the assignment's path.
async fn assign(t: &TestServer, scope: &str, role: &str, oid: &str) -> String {
    let path = format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{}?{RA_V}",
        uuid::Uuid::new_v4()
    );
    let r = t
        .arm(
            Method::PUT,
            &path,
            Some(json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", t.sub()),
                "principalId": oid, "principalType": "ServicePrincipal"}})),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    path
}

async fn status(t: &TestServer, token: &str, method: Method, path: &str) -> (u16, Value) {
    let r = t.arm_with(token, method, path, None).await;
    let s = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (s, body)
}

#[tokio::test]
async fn roles_grant_exactly_their_actions_from_the_next_request_on() {
    let t = TestServer::start().await;
    let (oid, app, secret) = principal(&t).await;
    let mgmt = token(&t, &app, &secret, "https://management.azure.com/.default").await;
    let ws = t.ws_path("qws", "dev");

    // No role: every action refused with Azure's message naming the caller and the action.
    let (s, body) = status(&t, &mgmt, Method::GET, &ws).await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(body["error"]["code"], "AuthorizationFailed");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains(&app) && msg.contains(&oid), "{msg}");
    assert!(msg.contains("Microsoft.Quantum/Workspaces/read"), "{msg}");

    // Reader at the workspace: read, but not list keys; nothing at a sibling workspace.
    t.create_workspace("qws", "sibling").await;
    let reader = assign(&t, &ws, READER, &oid).await;
    assert_eq!(status(&t, &mgmt, Method::GET, &ws).await.0, 200);
    let keys = format!("{ws}/listKeys");
    assert_eq!(status(&t, &mgmt, Method::POST, &keys).await.0, 403);
    let sibling = t.ws_path("qws", "sibling");
    assert_eq!(status(&t, &mgmt, Method::GET, &sibling).await.0, 403);

    // Contributor on the resource group: keys of both workspaces, by inheritance.
    let group = format!("/subscriptions/{}/resourceGroups/qws", t.sub());
    let contributor = assign(&t, &group, CONTRIBUTOR, &oid).await;
    assert_eq!(status(&t, &mgmt, Method::POST, &keys).await.0, 200);
    assert_eq!(
        status(&t, &mgmt, Method::POST, &format!("{sibling}/listKeys"))
            .await
            .0,
        200
    );
    // Contributor cannot grant roles (Microsoft.Authorization/*/Write is a notAction).
    let grant = format!(
        "{ws}/providers/Microsoft.Authorization/roleAssignments/{}?{RA_V}",
        uuid::Uuid::new_v4()
    );
    let r = t
        .arm_with(
            &mgmt,
            Method::PUT,
            &grant,
            Some(json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{READER}", t.sub()),
                "principalId": oid, "principalType": "ServicePrincipal"}})),
        )
        .await;
    assert_eq!(r.status(), 403);

    // Removing the assignment takes effect on the next request, same token.
    assert_eq!(
        status(&t, &t.mgmt_token().await, Method::DELETE, &contributor)
            .await
            .0,
        200
    );
    assert_eq!(status(&t, &mgmt, Method::POST, &keys).await.0, 403);
    assert_eq!(
        status(&t, &t.mgmt_token().await, Method::DELETE, &reader)
            .await
            .0,
        200
    );
    assert_eq!(status(&t, &mgmt, Method::GET, &ws).await.0, 403);
}

#[tokio::test]
async fn jobs_need_a_data_role_even_for_a_contributor() {
    let t = TestServer::start().await;
    let (oid, app, secret) = principal(&t).await;
    let data = token(&t, &app, &secret, "https://quantum.microsoft.com/.default").await;
    let ws = t.ws_path("qws", "dev");
    let jobs = format!("{}{ws}/jobs?api-version={DV}", t.https_url());
    let list = |tok: String| {
        let req = t.https.get(&jobs).bearer_auth(tok);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(list(data.clone()).await, 403);
    assign(&t, &ws, CONTRIBUTOR, &oid).await;
    assert_eq!(
        list(data.clone()).await,
        403,
        "control roles grant no data actions"
    );
    assign(&t, &ws, DATA_CONTRIBUTOR, &oid).await;
    assert_eq!(list(data).await, 200);
}

async fn msi_token(t: &TestServer, resource: &str) -> String {
    let r = t.msi_request(resource).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_managed_identity_is_a_contributor_and_data_contributor_not_an_owner() {
    let t = TestServer::start().await;
    let mgmt = msi_token(&t, "https://management.azure.com").await;
    let ws = t.ws_path("qws", "dev");
    assert_eq!(status(&t, &mgmt, Method::GET, &ws).await.0, 200);
    assert_eq!(
        status(&t, &mgmt, Method::POST, &format!("{ws}/listKeys"))
            .await
            .0,
        200
    );
    let grant = format!(
        "{ws}/providers/Microsoft.Authorization/roleAssignments/{}?{RA_V}",
        uuid::Uuid::new_v4()
    );
    let (someone, _, _) = principal(&t).await;
    let r = t
        .arm_with(
            &mgmt,
            Method::PUT,
            &grant,
            Some(json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{READER}", t.sub()),
                "principalId": someone, "principalType": "ServicePrincipal"}})),
        )
        .await;
    assert_eq!(r.status(), 403, "{}", r.text().await.unwrap());
    let data = msi_token(&t, "https://quantum.microsoft.com").await;
    let r = t
        .https
        .get(format!("{}{ws}/jobs?api-version={DV}", t.https_url()))
        .bearer_auth(data)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn msi_role_sets_what_the_managed_identity_may_do() {
    let t = TestServer::start_with(|c| c.auth.msi_roles = vec!["Reader".into()]).await;
    let mgmt = msi_token(&t, "https://management.azure.com").await;
    let ws = t.ws_path("qws", "dev");
    assert_eq!(status(&t, &mgmt, Method::GET, &ws).await.0, 200);
    assert_eq!(
        status(&t, &mgmt, Method::POST, &format!("{ws}/listKeys"))
            .await
            .0,
        403
    );
    let dir = t.stop().await;
    // The roles are set anew at every start: Administrator restores full access.
    let t = TestServer::start_in(dir, |c| c.auth.msi_roles = vec!["Administrator".into()]).await;
    let mgmt = msi_token(&t, "https://management.azure.com").await;
    assert_eq!(
        status(&t, &mgmt, Method::POST, &format!("{ws}/listKeys"))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn an_unknown_msi_role_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = qws_server::ServerConfig::ephemeral(dir.path().join("data"));
    config.auth.msi_roles = vec!["Galactic Emperor".into()];
    let Err(e) = qws_server::start(config).await else {
        panic!("an unknown role must stop the server")
    };
    let text = format!("{e:#}");
    assert!(
        text.contains("--msi-role 'Galactic Emperor': no role has that name"),
        "{text}"
    );
    let mut config = qws_server::ServerConfig::ephemeral(dir.path().join("data2"));
    config.auth.msi_roles = vec!["Administrator".into(), "Reader".into()];
    let Err(e) = qws_server::start(config).await else {
        panic!("Administrator with another role must stop the server")
    };
    assert!(format!("{e:#}").contains("cannot be combined"), "{e:#}");
}
