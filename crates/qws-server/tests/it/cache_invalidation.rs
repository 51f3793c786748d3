//! The data plane serves keys, workspaces and grants from memory between changes; every change
//! still refuses on the very next request: a regenerated or disabled key, a deleted workspace, a
//! removed role, whether the change came through this server or through another connection to
//! the same database file (what another process or node sharing it does).

use crate::common::dp::{Dp, BELL, DV};
use crate::common::roles::{DATA_CONTRIBUTOR, RA_V};
use crate::common::*;
use qws_core::keys::KeySlot;
use qws_core::resource_id::WorkspaceId;
use qws_store::crypto::Crypto;
use qws_store::Store;
use reqwest::Method;
use serde_json::{json, Value};

/// `GET providerStatus` with an access key (or a bearer token for the data plane).
async fn provider_status(t: &TestServer, ws: &str, auth: &Auth<'_>) -> u16 {
    let url = format!(
        "{}{}/providerStatus?api-version={DV}",
        t.http_url(),
        t.ws_path("qws", ws)
    );
    let req = t.http.get(url);
    let req = match auth {
        Auth::Key(k) => req.header("x-ms-quantum-api-key", *k),
        Auth::Bearer(b) => req.bearer_auth(b),
    };
    req.send().await.unwrap().status().as_u16()
}

enum Auth<'a> {
    Key(&'a str),
    Bearer(&'a str),
}

fn key_of(v: &Value, slot: &str) -> String {
    v[slot]["key"].as_str().unwrap().to_string()
}

/// Twice, so the second answer comes from memory.
async fn accepted_twice(t: &TestServer, ws: &str, auth: &Auth<'_>) {
    assert_eq!(provider_status(t, ws, auth).await, 200);
    assert_eq!(provider_status(t, ws, auth).await, 200);
}

async fn set_keys_enabled(t: &TestServer, ws: &str, enabled: bool) {
    let p = t.ws_path("qws", ws);
    let mut w: Value = t.arm_get_json(&p).await;
    w["properties"]["apiKeyEnabled"] = json!(enabled);
    assert_eq!(t.arm(Method::PUT, &p, Some(w)).await.status(), 200);
}

#[tokio::test]
async fn keys_changed_through_the_server_are_refused_on_the_next_request() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "cached").await;
    let keys = t.list_keys("qws", "cached").await;
    let (p0, s0) = (key_of(&keys, "primaryKey"), key_of(&keys, "secondaryKey"));
    accepted_twice(&t, "cached", &Auth::Key(&p0)).await;

    // Regenerate: the old primary key is refused at once, the new one works.
    let r = t
        .arm(
            Method::POST,
            &format!("{}/regenerateKey", t.ws_path("qws", "cached")),
            Some(json!({"keys": ["Primary"]})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(provider_status(&t, "cached", &Auth::Key(&p0)).await, 401);
    let p1 = key_of(&t.list_keys("qws", "cached").await, "primaryKey");
    accepted_twice(&t, "cached", &Auth::Key(&p1)).await;

    // Disable keys: both refused at once; enabled again, both accepted.
    accepted_twice(&t, "cached", &Auth::Key(&s0)).await;
    set_keys_enabled(&t, "cached", false).await;
    assert_eq!(provider_status(&t, "cached", &Auth::Key(&p1)).await, 401);
    assert_eq!(provider_status(&t, "cached", &Auth::Key(&s0)).await, 401);
    set_keys_enabled(&t, "cached", true).await;
    accepted_twice(&t, "cached", &Auth::Key(&s0)).await;

    // Delete the workspace: its keys are refused at once.
    let r = t
        .arm(Method::DELETE, &t.ws_path("qws", "cached"), None)
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(provider_status(&t, "cached", &Auth::Key(&p1)).await, 401);
    assert_eq!(provider_status(&t, "cached", &Auth::Key(&s0)).await, 401);
}

/// A new service principal holding Quantum Workspace Data Contributor on `ws`: its data-plane
/// token and the assignment's path.
async fn data_contributor(t: &TestServer, ws: &str) -> (String, String, String) {
    let (oid, app, secret) = service_principal(t, "cached-caller").await;
    let name = uuid::Uuid::new_v4().to_string();
    let path = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{name}?{RA_V}",
        t.ws_path("qws", ws)
    );
    let r = t
        .arm(
            Method::PUT,
            &path,
            Some(json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{DATA_CONTRIBUTOR}", t.sub()),
                "principalId": oid, "principalType": "ServicePrincipal"}})),
        )
        .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = t
        .client_credentials(&app, &secret, "https://quantum.microsoft.com/.default")
        .await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    (token, path, name)
}

#[tokio::test]
async fn a_role_removed_through_the_server_is_refused_on_the_next_request() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "roles").await;
    let (token, assignment, _) = data_contributor(&t, "roles").await;
    accepted_twice(&t, "roles", &Auth::Bearer(&token)).await;
    assert_eq!(t.arm(Method::DELETE, &assignment, None).await.status(), 200);
    assert_eq!(
        provider_status(&t, "roles", &Auth::Bearer(&token)).await,
        403
    );
}

/// The server's database opened a second time, as another process sharing it would.
fn second_store(t: &TestServer) -> Store {
    let dir = t.data_dir();
    let (crypto, _) = Crypto::load_or_create(&dir).unwrap();
    // The server's own database: its SQLite file, or its PostgreSQL database in that run.
    Store::open_target(&qws_store::db::test_cluster::target_for_dir(&dir), crypto).unwrap()
}

#[tokio::test]
async fn changes_made_through_another_connection_to_the_database_are_refused_at_once() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "shared").await;
    let keys = t.list_keys("qws", "shared").await;
    let (p0, s0) = (key_of(&keys, "primaryKey"), key_of(&keys, "secondaryKey"));
    let (token, _, assignment) = data_contributor(&t, "shared").await;
    accepted_twice(&t, "shared", &Auth::Key(&p0)).await;
    accepted_twice(&t, "shared", &Auth::Key(&s0)).await;
    accepted_twice(&t, "shared", &Auth::Bearer(&token)).await;

    let other = second_store(&t);
    let id = WorkspaceId::from_parts(&t.sub(), "qws", "shared").unwrap();
    let uid = other.get_workspace(&id).unwrap().unwrap().uid;

    // A key regenerated elsewhere.
    other.regenerate_keys(&uid, &[KeySlot::Primary]).unwrap();
    assert_eq!(provider_status(&t, "shared", &Auth::Key(&p0)).await, 401);
    let p1 = other.workspace_keys(&uid).unwrap().keys[0]
        .key
        .expose()
        .to_string();
    accepted_twice(&t, "shared", &Auth::Key(&p1)).await;

    // A role removed elsewhere.
    other
        .identity()
        .delete_role_assignment(&assignment)
        .unwrap()
        .expect("the assignment existed");
    assert_eq!(
        provider_status(&t, "shared", &Auth::Bearer(&token)).await,
        403
    );

    // Keys disabled elsewhere (the workspace written back with keys off).
    let w = other.get_workspace(&id).unwrap().unwrap();
    let mut spec = qws_store::WorkspaceSpec {
        location: w.location.clone(),
        tags: w.tags.clone(),
        providers: w.providers.clone(),
        storage_account: w.storage_account.clone(),
        identity_type: w.identity_type.clone(),
        api_key_enabled: false,
        workspace_kind: w.workspace_kind.clone(),
    };
    let actor = qws_store::Actor {
        name: "other-node".into(),
        kind: "Application".into(),
    };
    other.put_workspace(&id, &spec, &actor).unwrap();
    assert_eq!(provider_status(&t, "shared", &Auth::Key(&s0)).await, 401);
    spec.api_key_enabled = true;
    other.put_workspace(&id, &spec, &actor).unwrap();
    accepted_twice(&t, "shared", &Auth::Key(&s0)).await;

    // The workspace deleted elsewhere.
    other.delete_workspace(&id).unwrap().expect("it existed");
    assert_eq!(provider_status(&t, "shared", &Auth::Key(&s0)).await, 401);
    assert_eq!(provider_status(&t, "shared", &Auth::Key(&p1)).await, 401);
}

/// Deletes the service principal a token was issued to (its `oid`).
async fn delete_principal_of(t: &TestServer, token: &str) {
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let oid = claims["oid"].as_str().unwrap();
    let r = t
        .arm(
            Method::DELETE,
            &format!("/qws/directory/servicePrincipals/{oid}"),
            None,
        )
        .await;
    assert!(r.status().is_success(), "{}", r.status());
}

/// HTTP status of an unauthenticated GET of a SAS URL.
async fn sas_get(t: &TestServer, url: &str) -> u16 {
    t.http.get(url).send().await.unwrap().status().as_u16()
}

/// The SAS a job GET hands out stand on the key as of that request (read with the key, at the
/// request's change version): after a regeneration the old ones are refused, and the new key's
/// GET hands out SAS that work.
#[tokio::test]
async fn a_job_get_mints_its_sas_on_the_key_as_of_that_request() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "holder").await;
    let dp = Dp::of(&t, "qws", "holder").await;
    dp.submit("j1", BELL).await;
    assert_eq!(dp.wait("j1").await["status"], "Succeeded");
    let output = |v: Value| v["outputDataUri"].as_str().unwrap().to_string();
    let before = output(dp.job("j1").await);
    let from_memory = output(dp.job("j1").await);
    assert_eq!(sas_get(&t, &before).await, 200);
    assert_eq!(sas_get(&t, &from_memory).await, 200);

    let r = t
        .arm(
            Method::POST,
            &format!("{}/regenerateKey", t.ws_path("qws", "holder")),
            Some(json!({"keys": ["Primary"]})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(dp.get_job("j1").await.status(), 401, "the old key");
    assert_eq!(sas_get(&t, &before).await, 403, "a SAS of the old key");
    let renewed = Dp::of(&t, "qws", "holder").await;
    let after = output(renewed.job("j1").await);
    assert_eq!(sas_get(&t, &after).await, 200, "{after}");
}

/// A job deleted, through the server or through another connection to its database, is gone
/// for the very next GET (reads on the read connections see every commit).
#[tokio::test]
async fn a_deleted_job_is_not_found_on_the_next_get() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "deleted").await;
    let dp = Dp::of(&t, "qws", "deleted").await;
    for id in ["j1", "j2"] {
        dp.submit(id, BELL).await;
        dp.wait(id).await;
        assert_eq!(dp.get_job(id).await.status(), 200);
    }
    assert_eq!(
        dp.call(Method::DELETE, "/jobs/j1", None).await.status(),
        204
    );
    assert_eq!(dp.get_job("j1").await.status(), 404);

    let other = qws_store::jobs::JobStore::open_target(
        &qws_store::db::test_cluster::target_for_dir(&t.data_dir()),
    )
    .unwrap();
    let id = WorkspaceId::from_parts(&t.sub(), "qws", "deleted").unwrap();
    let uid = second_store(&t).get_workspace(&id).unwrap().unwrap().uid;
    assert!(other.delete_item(&uid, "j2").unwrap());
    assert_eq!(dp.get_job("j2").await.status(), 404);
}

/// A token's remembered decision (caller, grants, workspace) ends with any of them: a deleted
/// principal is refused on its next request, for providerStatus and job GETs alike, and a
/// deleted workspace is not found.
#[tokio::test]
async fn a_token_is_refused_once_its_principal_or_workspace_is_gone() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "token").await;
    let dp = Dp::of(&t, "qws", "token").await;
    dp.submit("j1", BELL).await;
    dp.wait("j1").await;
    let job_get = |token: String| {
        let url = format!("{}/jobs/j1?api-version={DV}", dp.base);
        let req = t.http.get(url).bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };

    let (token, _, _) = data_contributor(&t, "token").await;
    accepted_twice(&t, "token", &Auth::Bearer(&token)).await;
    assert_eq!(job_get(token.clone()).await, 200);
    assert_eq!(job_get(token.clone()).await, 200);
    delete_principal_of(&t, &token).await;
    assert_eq!(
        provider_status(&t, "token", &Auth::Bearer(&token)).await,
        401
    );
    assert_eq!(job_get(token.clone()).await, 401);

    // Another principal's decision, then its workspace deleted.
    let (token, _, _) = data_contributor(&t, "token").await;
    accepted_twice(&t, "token", &Auth::Bearer(&token)).await;
    let r = t
        .arm(Method::DELETE, &t.ws_path("qws", "token"), None)
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    for _ in 0..100 {
        if t.arm(Method::GET, &t.ws_path("qws", "token"), None)
            .await
            .status()
            == 404
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_ne!(
        provider_status(&t, "token", &Auth::Bearer(&token)).await,
        200
    );
    assert_ne!(job_get(token).await, 200);
}

/// A SAS found valid is remembered with what it stands on until the next change: a key SAS
/// ends with its key's disabling or regeneration (through the server or another connection),
/// a principal's SAS with the principal, every SAS with its workspace.
#[tokio::test]
async fn a_remembered_sas_is_refused_once_what_it_stands_on_is_gone() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "sas").await;
    let dp = Dp::of(&t, "qws", "sas").await;
    dp.submit("j1", BELL).await;
    assert_eq!(dp.wait("j1").await["status"], "Succeeded");
    let output = |v: Value| v["outputDataUri"].as_str().unwrap().to_string();
    let twice = |url: String| {
        let t = &t;
        async move {
            assert_eq!(sas_get(t, &url).await, 200);
            assert_eq!(sas_get(t, &url).await, 200, "from memory");
        }
    };

    // Keys disabled, then enabled again: the key's SAS follows.
    let by_key = output(dp.job("j1").await);
    twice(by_key.clone()).await;
    set_keys_enabled(&t, "sas", false).await;
    assert_eq!(sas_get(&t, &by_key).await, 403, "keys disabled");
    set_keys_enabled(&t, "sas", true).await;
    twice(by_key.clone()).await;

    // The key regenerated through another connection to the database.
    let other = second_store(&t);
    let id = WorkspaceId::from_parts(&t.sub(), "qws", "sas").unwrap();
    let uid = other.get_workspace(&id).unwrap().unwrap().uid;
    other.regenerate_keys(&uid, &[KeySlot::Primary]).unwrap();
    assert_eq!(sas_get(&t, &by_key).await, 403, "a SAS of the old key");

    // A principal's SAS ends with the principal.
    let (token, _, _) = data_contributor(&t, "sas").await;
    let url = format!("{}/jobs/j1?api-version={DV}", dp.base);
    let job: Value = t
        .http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by_principal = output(job);
    twice(by_principal.clone()).await;
    delete_principal_of(&t, &token).await;
    assert_eq!(sas_get(&t, &by_principal).await, 403, "principal deleted");

    // The workspace deleted elsewhere: its fresh key's SAS go with it.
    let renewed = Dp::of(&t, "qws", "sas").await;
    let fresh = output(renewed.job("j1").await);
    twice(fresh.clone()).await;
    other.delete_workspace(&id).unwrap().expect("it existed");
    assert_eq!(sas_get(&t, &fresh).await, 403, "workspace deleted");
}
