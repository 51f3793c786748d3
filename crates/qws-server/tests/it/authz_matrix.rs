//! The authorization matrix: every route the server authorizes (from its own route table) ×
//! every kind of caller × every scope level, against Azure's rules.
//!
//! [`ROUTES`] is the one table: method, path template and the action (or data action) the route
//! needs, and how the answer shows the decision. The test fails when the server routes a method
//! and path that the table lacks (or the table names one it does not route), so a new route
//! cannot go unclassified.
//!
//! Callers: each role below assigned at the subscription, the resource group `mx` or the
//! workspace `mx/mxw`; no role; Owner at a sibling group/workspace; a role held through a group;
//! a disabled principal (refused at once, 401); and a principal whose secret expired (refused a
//! token). Expectations are computed here from the roles' published permissions (read through
//! the roleDefinitions API), with a matcher of the test's own, and Azure's scope inheritance.

use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

const RA_V: &str = "api-version=2022-04-01";
const DV: &str = "api-version=2026-01-15-preview";

const OWNER: &str = "Owner";
const CONTRIBUTOR: &str = "Contributor";
const READER: &str = "Reader";
const UAA: &str = "User Access Administrator";
const DATA_CONTRIBUTOR: &str = "Quantum Workspace Data Contributor";
const DATA_READER: &str = "Quantum Workspace Data Reader";
const QW_OWNER: &str = "Quantum Workspace Owner";
const ROLES: &[&str] = &[
    OWNER,
    CONTRIBUTOR,
    READER,
    UAA,
    DATA_CONTRIBUTOR,
    DATA_READER,
    QW_OWNER,
];

/// Where a route's target lies (the authorization scope of its request).
#[derive(Debug, Clone, Copy, PartialEq)]
enum At {
    /// No scope: any authenticated, enabled principal.
    Tenant,
    /// `/` (tenant root).
    Root,
    Sub,
    /// `/subscriptions/{sub}/providers/Microsoft.Quantum/locations/eastus`.
    Location,
    Rg,
    Ws,
    /// A resource under the group other than the workspace (a storage account's blob service).
    Nested,
}

/// How the answer shows the decision.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shows {
    /// Allowed: anything but 401/403. Refused: 403 `AuthorizationFailed`.
    Status,
    /// Always 200; the target (the workspace `mxw`, group `mx` or the subscription) appears in
    /// the list only when allowed.
    Listed,
}

/// What a route needs.
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// Just an authenticated, enabled principal.
    Anyone,
    /// A control-plane action at the target.
    Action(&'static str),
    /// A data action at the target.
    Data(&'static str),
    /// Reading a subscription: any role assignment in it (ARM shows it to anyone with a role
    /// anywhere inside).
    SubscriptionRead,
}

#[derive(Clone, Copy)]
struct Row {
    method: &'static str,
    path: &'static str,
    needs: Needs,
    at: At,
    shows: Shows,
}

const fn row(method: &'static str, path: &'static str, needs: Needs, at: At) -> Row {
    Row {
        method,
        path,
        needs,
        at,
        shows: Shows::Status,
    }
}

const fn listed(method: &'static str, path: &'static str, needs: Needs, at: At) -> Row {
    Row {
        method,
        path,
        needs,
        at,
        shows: Shows::Listed,
    }
}

use At::*;
use Needs::*;

const WS: &str =
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}";
const WS_READ: &str = "Microsoft.Quantum/Workspaces/read";
const JOBS_READ: &str = "Microsoft.Quantum/Workspaces/jobs/read";
const JOBS_WRITE: &str = "Microsoft.Quantum/Workspaces/jobs/write";
const RA_READ: &str = "Microsoft.Authorization/roleAssignments/read";
const RA_WRITE: &str = "Microsoft.Authorization/roleAssignments/write";
const RA_DELETE: &str = "Microsoft.Authorization/roleAssignments/delete";
const RD_READ: &str = "Microsoft.Authorization/roleDefinitions/read";
const RD_WRITE: &str = "Microsoft.Authorization/roleDefinitions/write";
const RD_DELETE: &str = "Microsoft.Authorization/roleDefinitions/delete";
const STORAGE: &str = "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{account}";
const STORAGE_READ: &str = "Microsoft.Storage/storageAccounts/read";
const DEPLOYMENTS: &str =
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments";
const DEPLOYMENT_READ: &str = "Microsoft.Resources/deployments/read";

macro_rules! ws {
    ($tail:literal) => {
        concat!(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces/{ws}",
            $tail
        )
    };
}

/// The `Microsoft.Authorization` rows at one scope pattern.
macro_rules! authz {
    ($scope:literal, $at:expr) => {
        [
            row("GET", concat!($scope, "/providers/Microsoft.Authorization/roleAssignments"), Action(RA_READ), $at),
            row("GET", concat!($scope, "/providers/Microsoft.Authorization/roleAssignments/{assignment}"), Action(RA_READ), $at),
            row("PUT", concat!($scope, "/providers/Microsoft.Authorization/roleAssignments/{assignment}"), Action(RA_WRITE), $at),
            row("DELETE", concat!($scope, "/providers/Microsoft.Authorization/roleAssignments/{assignment}"), Action(RA_DELETE), $at),
            row("GET", concat!($scope, "/providers/Microsoft.Authorization/roleDefinitions"), Action(RD_READ), $at),
            row("GET", concat!($scope, "/providers/Microsoft.Authorization/roleDefinitions/{definition}"), Action(RD_READ), $at),
            row("PUT", concat!($scope, "/providers/Microsoft.Authorization/roleDefinitions/{definition}"), Action(RD_WRITE), $at),
            row("DELETE", concat!($scope, "/providers/Microsoft.Authorization/roleDefinitions/{definition}"), Action(RD_DELETE), $at),
        ]
    };
}

const DIR_READ: &str = "Microsoft.Authorization/directoryObjects/read";
const DIR_WRITE: &str = "Microsoft.Authorization/directoryObjects/write";
const DIR_DELETE: &str = "Microsoft.Authorization/directoryObjects/delete";
const DIR_SECRETS: &str = "Microsoft.Authorization/servicePrincipals/credentials/write";

/// THE table.
#[rustfmt::skip]
fn routes() -> Vec<Row> {
    let mut v = vec![
        // ---- management plane
        listed("GET", "/subscriptions", SubscriptionRead, Sub),
        row("GET", "/subscriptions/{sub}", SubscriptionRead, Sub),
        row("GET", "/tenants", Anyone, Tenant),
        listed("GET", "/subscriptions/{sub}/resourceGroups", Action("Microsoft.Resources/subscriptions/resourceGroups/read"), Rg),
        row("GET", "/subscriptions/{sub}/resourceGroups/{rg}", Action("Microsoft.Resources/subscriptions/resourceGroups/read"), Rg),
        row("HEAD", "/subscriptions/{sub}/resourceGroups/{rg}", Action("Microsoft.Resources/subscriptions/resourceGroups/read"), Rg),
        row("PUT", "/subscriptions/{sub}/resourceGroups/{rg}", Action("Microsoft.Resources/subscriptions/resourceGroups/write"), Rg),
        row("DELETE", "/subscriptions/{sub}/resourceGroups/{rg}", Action("Microsoft.Resources/subscriptions/resourceGroups/delete"), Rg),
        listed("GET", "/subscriptions/{sub}/resources", Action(WS_READ), Ws),
        listed("GET", "/subscriptions/{sub}/resourceGroups/{rg}/resources", Action(WS_READ), Ws),
        listed("GET", "/subscriptions/{sub}/providers/Microsoft.Quantum/workspaces", Action(WS_READ), Ws),
        listed("GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/workspaces", Action(WS_READ), Ws),
        row("GET", WS, Action(WS_READ), Ws),
        row("PUT", WS, Action("Microsoft.Quantum/Workspaces/write"), Ws),
        row("PATCH", WS, Action("Microsoft.Quantum/Workspaces/write"), Ws),
        row("DELETE", WS, Action("Microsoft.Quantum/Workspaces/delete"), Ws),
        row("POST", ws!("/listKeys"), Action("Microsoft.Quantum/Workspaces/listKeys/action"), Ws),
        row("POST", ws!("/regenerateKey"), Action("Microsoft.Quantum/Workspaces/regenerateKey/action"), Ws),
        // qws's own: workspace access tokens
        row("GET", ws!("/accessTokens"), Action("Microsoft.Quantum/Workspaces/accessTokens/read"), Ws),
        row("GET", ws!("/accessTokens/{name}"), Action("Microsoft.Quantum/Workspaces/accessTokens/read"), Ws),
        row("PUT", ws!("/accessTokens/{name}"), Action("Microsoft.Quantum/Workspaces/accessTokens/write"), Ws),
        row("DELETE", ws!("/accessTokens/{name}"), Action("Microsoft.Quantum/Workspaces/accessTokens/delete"), Ws),
        // qws's own: the workspace's activity log (Azure's action for reading it) and job webhooks
        row("GET", ws!("/activityLog"), Action("Microsoft.Insights/eventtypes/values/read"), Ws),
        row("GET", ws!("/webhooks"), Action("Microsoft.Quantum/Workspaces/webhooks/read"), Ws),
        row("GET", ws!("/webhooks/{name}"), Action("Microsoft.Quantum/Workspaces/webhooks/read"), Ws),
        row("PUT", ws!("/webhooks/{name}"), Action("Microsoft.Quantum/Workspaces/webhooks/write"), Ws),
        row("DELETE", ws!("/webhooks/{name}"), Action("Microsoft.Quantum/Workspaces/webhooks/delete"), Ws),
        row("GET", ws!("/webhooks/{name}/deliveries"), Action("Microsoft.Quantum/Workspaces/webhooks/read"), Ws),
        row("POST", "/subscriptions/{sub}/providers/Microsoft.Quantum/locations/{loc}/checkNameAvailability", Action("Microsoft.Quantum/locations/checkNameAvailability/action"), Location),
        row("GET", "/subscriptions/{sub}/providers/Microsoft.Quantum/locations/{loc}/offerings", Action("Microsoft.Quantum/locations/offerings/read"), Location),
        row("GET", "/subscriptions/{sub}/providers/Microsoft.Quantum/locations/{loc}/operationStatuses/{id}", Action("Microsoft.Quantum/locations/operationStatuses/read"), Ws),
        row("GET", "/subscriptions/{sub}/providers/Microsoft.Quantum/locations/{loc}/operationResults/{id}", Action("Microsoft.Quantum/locations/operationStatuses/read"), Ws),
        row("GET", "/providers/Microsoft.Quantum/operations", Anyone, Tenant),
        // storage accounts (the account `mx/mxsa` lies in the group: a role at the group or
        // above reaches it, a role at the workspace does not)
        listed("GET", "/subscriptions/{sub}/providers/Microsoft.Storage/storageAccounts", Action(STORAGE_READ), Rg),
        listed("GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts", Action(STORAGE_READ), Rg),
        row("GET", STORAGE, Action(STORAGE_READ), Rg),
        row("PUT", STORAGE, Action("Microsoft.Storage/storageAccounts/write"), Rg),
        row("DELETE", STORAGE, Action("Microsoft.Storage/storageAccounts/delete"), Rg),
        row("POST", "/subscriptions/{sub}/providers/Microsoft.Storage/checkNameAvailability", Action("Microsoft.Storage/checknameavailability/read"), Sub),
        // template deployments (in the group)
        row("GET", DEPLOYMENTS, Action(DEPLOYMENT_READ), Rg),
        row("GET", concat!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments", "/"), Action(DEPLOYMENT_READ), Rg),
        row("GET", concat!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments", "/{deployment}"), Action(DEPLOYMENT_READ), Rg),
        row("PUT", concat!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments", "/{deployment}"), Action("Microsoft.Resources/deployments/write"), Rg),
        row("GET", concat!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments", "/{deployment}/operationStatuses/{operation}"), Action("Microsoft.Resources/deployments/operationstatuses/read"), Rg),
        row("GET", concat!("/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Resources/deployments", "/{deployment}/operations"), Action("Microsoft.Resources/deployments/operations/read"), Rg),
        listed("POST", "/providers/Microsoft.ResourceGraph/resources", Action(WS_READ), Ws),
        // ---- data plane
        row("GET", ws!("/providerStatus"), Data(JOBS_READ), Ws),
        row("POST", ws!("/storage/sasUri"), Data(JOBS_WRITE), Ws),
        row("GET", ws!("/storage/proxy"), Data(JOBS_READ), Ws),
        row("PUT", ws!("/storage/proxy"), Data(JOBS_WRITE), Ws),
        row("POST", ws!("/storage/proxy"), Data(JOBS_WRITE), Ws),
        row("GET", ws!("/jobs"), Data(JOBS_READ), Ws),
        row("GET", ws!("/jobs/{id}"), Data(JOBS_READ), Ws),
        row("PUT", ws!("/jobs/{id}"), Data(JOBS_WRITE), Ws),
        row("PATCH", ws!("/jobs/{id}"), Data(JOBS_WRITE), Ws),
        row("DELETE", ws!("/jobs/{id}"), Data(JOBS_WRITE), Ws),
        row("POST", ws!("/jobs/{id}"), Data(JOBS_WRITE), Ws),
        row("GET", ws!("/quotas"), Data(JOBS_READ), Ws),
        row("GET", ws!("/sessions"), Data(JOBS_READ), Ws),
        row("GET", ws!("/sessions/{id}"), Data(JOBS_READ), Ws),
        row("PUT", ws!("/sessions/{id}"), Data(JOBS_WRITE), Ws),
        row("POST", ws!("/sessions/{id}"), Data(JOBS_WRITE), Ws),
        row("GET", ws!("/sessions/{id}/jobs"), Data(JOBS_READ), Ws),
        row("GET", ws!("/topLevelItems"), Data(JOBS_READ), Ws),
        // ---- directory (tenant-wide objects: decided at the subscription's scope)
        row("GET", "/qws/directory/users", Action(DIR_READ), Sub),
        row("POST", "/qws/directory/users", Action(DIR_WRITE), Sub),
        row("GET", "/qws/directory/users/{id}", Action(DIR_READ), Sub),
        row("PATCH", "/qws/directory/users/{id}", Action(DIR_WRITE), Sub),
        row("DELETE", "/qws/directory/users/{id}", Action(DIR_DELETE), Sub),
        row("GET", "/qws/directory/servicePrincipals", Action(DIR_READ), Sub),
        row("POST", "/qws/directory/servicePrincipals", Action(DIR_WRITE), Sub),
        row("GET", "/qws/directory/servicePrincipals/{id}", Action(DIR_READ), Sub),
        row("PATCH", "/qws/directory/servicePrincipals/{id}", Action(DIR_WRITE), Sub),
        row("DELETE", "/qws/directory/servicePrincipals/{id}", Action(DIR_DELETE), Sub),
        row("POST", "/qws/directory/servicePrincipals/{id}/addPassword", Action(DIR_SECRETS), Sub),
        row("POST", "/qws/directory/servicePrincipals/{id}/resetPassword", Action(DIR_SECRETS), Sub),
        row("POST", "/qws/directory/servicePrincipals/{id}/removePassword", Action(DIR_SECRETS), Sub),
        row("GET", "/qws/directory/groups", Action(DIR_READ), Sub),
        row("POST", "/qws/directory/groups", Action(DIR_WRITE), Sub),
        row("GET", "/qws/directory/groups/{id}", Action(DIR_READ), Sub),
        row("DELETE", "/qws/directory/groups/{id}", Action(DIR_DELETE), Sub),
        row("GET", "/qws/directory/groups/{id}/members", Action(DIR_READ), Sub),
        row("POST", "/qws/directory/groups/{id}/members", Action(DIR_WRITE), Sub),
        row("DELETE", "/qws/directory/groups/{id}/members/{member}", Action(DIR_WRITE), Sub),
    ];
    // ---- Microsoft.Authorization at every scope pattern
    v.extend(authz!("/subscriptions/{sub}", Sub));
    v.extend(authz!("/subscriptions/{sub}/resourceGroups/{rg}", Rg));
    v.extend(authz!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}", Ws));
    v.extend(authz!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}/{type2}/{name2}", Nested));
    // Role definitions are readable by every signed-in principal at the tenant root (they are
    // the same for everyone); creating one there is nobody's but a root Owner's.
    v.extend([
        row("GET", "/providers/Microsoft.Authorization/roleDefinitions", Anyone, Tenant),
        row("GET", "/providers/Microsoft.Authorization/roleDefinitions/{definition}", Anyone, Tenant),
        row("PUT", "/providers/Microsoft.Authorization/roleDefinitions/{definition}", Action(RD_WRITE), Root),
        row("DELETE", "/providers/Microsoft.Authorization/roleDefinitions/{definition}", Action(RD_DELETE), Root),
    ]);
    v
}

// ---- the expectation model (the test's own, from Azure's documented rules) --------------------

/// Azure's action patterns: `*` matches any run of characters, case-insensitively.
fn glob(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == a;
    }
    let mut rest = a.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

/// A role's permissions as the roleDefinitions API publishes them.
#[derive(Clone, Debug)]
struct Perms {
    actions: Vec<String>,
    not_actions: Vec<String>,
    data_actions: Vec<String>,
    not_data_actions: Vec<String>,
}

impl Perms {
    fn grants(&self, needs: Needs) -> bool {
        let m = |list: &[String], a: &str| list.iter().any(|p| glob(p, a));
        match needs {
            Action(a) => m(&self.actions, a) && !m(&self.not_actions, a),
            Data(a) => m(&self.data_actions, a) && !m(&self.not_data_actions, a),
            Anyone | SubscriptionRead => true,
        }
    }
}

/// `outer` is `inner` or above it (whole segments, case-insensitive).
fn contains(outer: &str, inner: &str) -> bool {
    let (o, i) = (outer.to_ascii_lowercase(), inner.to_ascii_lowercase());
    o == "/" || i == o || i.starts_with(&format!("{o}/"))
}

/// A caller of the matrix.
#[derive(Clone)]
struct Caller {
    label: String,
    /// (role permissions, scope) of every assignment that reaches it.
    grants: Vec<(Perms, String)>,
    token_mgmt: String,
    token_dp: String,
    /// Refused at authentication (401) whatever the route.
    refused: bool,
}

impl Caller {
    fn allowed(&self, needs: Needs, target: &str) -> bool {
        match needs {
            Anyone => true,
            SubscriptionRead => self
                .grants
                .iter()
                .any(|(_, s)| contains(target, s) || contains(s, target)),
            _ => self
                .grants
                .iter()
                .any(|(p, s)| contains(s, target) && p.grants(needs)),
        }
    }
}

// ---- the world -------------------------------------------------------------------------------

struct World {
    sub: String,
    /// Path parameter values.
    params: HashMap<&'static str, String>,
    scopes: HashMap<&'static str, String>,
    op_id: String,
    bystander: String,
    member_group: String,
    assignments: Vec<(String, Value)>,
}

impl World {
    fn target(&self, at: At) -> String {
        let s = |k: &str| self.scopes[k].clone();
        match at {
            Tenant | Root => "/".into(),
            Sub => s("sub"),
            Location => format!("{}/providers/Microsoft.Quantum/locations/eastus", s("sub")),
            Rg => s("rg"),
            Ws => s("ws"),
            Nested => s("nested"),
        }
    }

    /// The route's path with its parameters filled in.
    fn fill(&self, row: &Row) -> String {
        let mut p = row.path.to_string();
        let nested = row.at == Nested;
        for (k, v) in &self.params {
            let v = match (*k, nested) {
                ("ns", true) => "Microsoft.Storage".to_string(),
                ("type", true) => "storageAccounts".to_string(),
                ("name", true) => "mxsa".to_string(),
                _ => v.clone(),
            };
            p = p.replace(&format!("{{{k}}}"), &v);
        }
        p
    }
}

async fn new_sp(
    t: &TestServer,
    name: &str,
    secret_end: Option<String>,
) -> (String, String, String) {
    let r = t
        .arm(
            Method::POST,
            "/qws/directory/servicePrincipals",
            Some(json!({"displayName": name})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let sp: Value = r.json().await.unwrap();
    let (oid, app) = (
        sp["id"].as_str().unwrap().to_string(),
        sp["appId"].as_str().unwrap().to_string(),
    );
    let mut cred = json!({"displayName": "s"});
    if let Some(end) = secret_end {
        cred["endDateTime"] = json!(end);
    }
    let r = t
        .arm(
            Method::POST,
            &format!("/qws/directory/servicePrincipals/{app}/addPassword"),
            Some(json!({ "passwordCredential": cred })),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let secret = r.json::<Value>().await.unwrap()["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    (oid, app, secret)
}

async fn sign_in(t: &TestServer, app: &str, secret: &str, scope: &str) -> reqwest::Response {
    t.https
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            t.https_url(),
            t.b("tenantId")
        ))
        .form(&[
            ("client_id", app),
            ("grant_type", "client_credentials"),
            ("client_secret", secret),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
}

async fn token(t: &TestServer, app: &str, secret: &str, scope: &str) -> String {
    let r = sign_in(t, app, secret, scope).await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn assign(t: &TestServer, w: &mut World, scope: &str, role_id: &str, oid: &str, kind: &str) {
    let path = format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{}?{RA_V}",
        uuid::Uuid::new_v4()
    );
    let body = json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role_id}", w.sub),
        "principalId": oid, "principalType": kind}});
    let r = t.arm(Method::PUT, &path, Some(body.clone())).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    w.assignments.push((path, body));
}

/// Assigns each of `roles` to `principal` at `scope`; returns the grants the matrix expects
/// the principal (or a member of the group) to hold from them.
async fn grant(
    t: &TestServer,
    w: &mut World,
    perms: &HashMap<&str, (String, Perms)>,
    roles: &[&str],
    scope: &str,
    principal: &str,
    kind: &str,
) -> Vec<(Perms, String)> {
    let mut grants = vec![];
    for role in roles {
        assign(t, w, scope, &perms[role].0, principal, kind).await;
        grants.push((perms[role].1.clone(), scope.to_string()));
    }
    grants
}

/// The `principalType` of an assignment to a service principal.
const SP: &str = "ServicePrincipal";
const MGMT: &str = "https://management.azure.com/.default";
const QUANTUM: &str = "https://quantum.microsoft.com/.default";

/// A caller that signs in as `app` now, holding `grants`.
async fn signed_in(
    t: &TestServer,
    label: String,
    app: &str,
    secret: &str,
    grants: Vec<(Perms, String)>,
) -> Caller {
    Caller {
        label,
        grants,
        token_mgmt: token(t, app, secret, MGMT).await,
        token_dp: token(t, app, secret, QUANTUM).await,
        refused: false,
    }
}

/// The storage account `mx/mxsa`, as the administrator.
async fn create_account(t: &TestServer) {
    let r = t
        .arm(
            Method::PUT,
            &format!(
                "{}/providers/Microsoft.Storage/storageAccounts/mxsa?api-version=2023-05-01",
                t.rg_path("mx")
            ),
            Some(
                json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
            ),
        )
        .await;
    assert!(
        [200, 201, 202].contains(&r.status().as_u16()),
        "{}",
        r.text().await.unwrap()
    );
}

/// Puts back what an allowed destructive request removed: the group, the workspace, and every
/// assignment (PUT again under the same name).
async fn restore(t: &TestServer, w: &World) {
    t.create_group("mx").await;
    // A deletion under way answers 409 until it has finished.
    let mut tries = 0;
    let r = loop {
        let r = t
            .arm(
                Method::PUT,
                &t.ws_path("mx", "mxw"),
                Some(json!({"location": "eastus", "properties": {"providers": [{"providerId": "ionq", "providerSku": "pay-as-you-go-cred"}], "apiKeyEnabled": true}})),
            )
            .await;
        tries += 1;
        if r.status() != 409 || tries > 200 {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert!(r.status() == 200 || r.status() == 201, "{}", r.status());
    create_account(t).await;
    for (path, body) in &w.assignments {
        let r = t.arm(Method::PUT, path, Some(body.clone())).await;
        assert!(
            r.status() == 200 || r.status() == 201,
            "{}",
            r.text().await.unwrap()
        );
    }
}

/// The request a row is exercised with: method, URL, body, token audience (data plane or not).
fn request(w: &World, row: &Row) -> (Method, String, Option<Value>, bool) {
    let path = w.fill(row);
    let data_plane = matches!(row.needs, Data(_));
    let method = Method::from_bytes(row.method.as_bytes()).unwrap();
    let fresh = uuid::Uuid::new_v4().to_string();
    let mut path = path
        .replace(
            "/roleAssignments/{assignment}",
            &format!("/roleAssignments/{fresh}"),
        )
        .replace(
            "/roleDefinitions/{definition}",
            &format!("/roleDefinitions/{fresh}"),
        );
    let body = match (row.method, row.path) {
        ("PUT", p) if p.ends_with("/resourceGroups/{rg}") => Some(json!({"location": "eastus"})),
        ("PUT", WS) => Some(
            json!({"location": "eastus", "properties": {"providers": [{"providerId": "ionq", "providerSku": "pay-as-you-go-cred"}], "apiKeyEnabled": true}}),
        ),
        ("PATCH", WS) => Some(json!({"tags": {"matrix": "1"}})),
        ("POST", p) if p.ends_with("/regenerateKey") => Some(json!({"keyType": "Secondary"})),
        ("POST", p) if p.ends_with("Microsoft.Quantum/locations/{loc}/checkNameAvailability") => {
            Some(json!({"name": "free-name-1", "type": "Microsoft.Quantum/Workspaces"}))
        }
        ("POST", p) if p.ends_with("ResourceGraph/resources") => Some(
            json!({"query": "Resources | where type =~ 'microsoft.quantum/workspaces' | where name =~ 'mxw'"}),
        ),
        ("PUT", p) if p.ends_with("/roleAssignments/{assignment}") => Some(json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7", w.sub),
            "principalId": w.bystander, "principalType": "ServicePrincipal"}})),
        ("PUT", p) if p.ends_with("/roleDefinitions/{definition}") => {
            let scope = w.target(row.at);
            let scope = if scope == "/" { w.target(Sub) } else { scope };
            Some(
                json!({"properties": {"roleName": format!("matrix {fresh}"), "type": "CustomRole",
                "permissions": [{"actions": ["Microsoft.Quantum/Workspaces/read"]}], "assignableScopes": [scope]}}),
            )
        }
        ("PUT", p) if p.ends_with("/webhooks/{name}") => {
            Some(json!({"properties": {"url": "http://127.0.0.1:9/matrix"}}))
        }
        ("PUT", p) if p.ends_with("/accessTokens/{name}") => {
            Some(json!({"properties": {"access": "Read",
            "expiresOn": qws_core::time_fmt::seconds_z(time::OffsetDateTime::now_utc() + time::Duration::hours(1))}}))
        }
        ("PUT", STORAGE) => Some(
            json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
        ),
        ("POST", p) if p.ends_with("Microsoft.Storage/checkNameAvailability") => {
            Some(json!({"name": "matrixfree1", "type": "Microsoft.Storage/storageAccounts"}))
        }
        ("POST", p) if p.ends_with("/storage/sasUri") => Some(json!({"containerName": "matrix"})),
        ("PUT", p) if p.ends_with("/jobs/{id}") => Some(
            json!({"id": fresh, "containerUri": "https://x/y", "inputDataFormat": "qir.v1", "providerId": "microsoft-qc", "target": "microsoft.estimator"}),
        ),
        ("PATCH", p) if p.ends_with("/jobs/{id}") => {
            Some(json!([{"op": "replace", "path": "/name", "value": "x"}]))
        }
        ("PUT", p) if p.ends_with("/sessions/{id}") => Some(
            json!({"id": fresh, "providerId": "microsoft-qc", "target": "microsoft.estimator"}),
        ),
        ("POST", "/qws/directory/users") => Some(
            json!({"userPrincipalName": format!("m{}@qws.local", &fresh[..8]), "displayName": "m", "passwordProfile": {"password": "Matrix-Pass-1"}}),
        ),
        ("POST", "/qws/directory/servicePrincipals") | ("POST", "/qws/directory/groups") => {
            Some(json!({"displayName": format!("m{fresh}")}))
        }
        ("PATCH", p) if p.starts_with("/qws/directory/") => {
            Some(json!({"displayName": "bystander"}))
        }
        ("POST", p) if p.ends_with("/addPassword") => {
            Some(json!({"passwordCredential": {"displayName": "m"}}))
        }
        ("POST", p) if p.ends_with("/resetPassword") => {
            Some(json!({"passwordCredential": {"displayName": "m"}}))
        }
        ("POST", p) if p.ends_with("/removePassword") => {
            Some(json!({"keyId": uuid::Uuid::new_v4()}))
        }
        ("POST", p) if p.ends_with("/members") => Some(json!({"id": w.bystander})),
        (m, _) if m == "PUT" || m == "POST" || m == "PATCH" => Some(json!({})),
        _ => None,
    };
    // Directory objects a caller may change without disturbing the matrix: the bystander and its
    // group; a user id that does not exist (the decision comes first).
    if row.path.starts_with("/qws/directory/users/") {
        path = path.replace(&w.params["id"], &uuid::Uuid::new_v4().to_string());
    } else if row.path.starts_with("/qws/directory/servicePrincipals/") {
        path = path.replace(&w.params["id"], &w.bystander);
    } else if row.path.starts_with("/qws/directory/groups/") {
        path = path
            .replace(&w.params["id"], &w.member_group)
            .replace(&w.params["member"], &w.bystander);
    }
    for kind in ["operationStatuses", "operationResults"] {
        if row.path.ends_with(&format!("/{kind}/{{id}}")) {
            path = path.replace(
                &format!("{kind}/{}", w.params["id"]),
                &format!("{kind}/{}", w.op_id),
            );
        }
    }
    let version = if data_plane {
        DV
    } else if path.contains("Microsoft.Authorization") {
        RA_V
    } else {
        "api-version=2023-11-13-preview"
    };
    let version = if row.path.contains("Microsoft.Storage") {
        "api-version=2023-05-01"
    } else if row.path.contains("Microsoft.Resources/deployments") {
        "api-version=2025-04-01"
    } else {
        version
    };
    let version = if row.path.contains("roleDefinitions") {
        "api-version=2022-05-01-preview"
    } else {
        version
    };
    (method, format!("{path}?{version}"), body, data_plane)
}

/// Whether the route is destructive for the world (run last, one at a time, then restored).
fn destructive(row: &Row) -> bool {
    row.method == "DELETE"
        && (row.path == WS || row.path == STORAGE || row.path.ends_with("/resourceGroups/{rg}"))
}

struct Outcome {
    problem: Option<String>,
    /// Expected to be allowed.
    expected: bool,
    /// Allowed and answered with success (may have changed something).
    allowed: bool,
}

async fn exercise(t: &TestServer, w: &World, row: &Row, c: &Caller) -> Outcome {
    let target = w.target(row.at);
    let expect = !c.refused && c.allowed(row.needs, &target);
    let (method, url, body, dp) = request(w, row);
    let token = if dp { &c.token_dp } else { &c.token_mgmt };
    let mut req = t
        .https
        .request(method, format!("{}{}", t.https_url(), url))
        .bearer_auth(token);
    req = match body {
        Some(b) => req.json(&b),
        None => req.header("content-length", "0"),
    };
    if row.path.ends_with("/storage/proxy") {
        req = req.header("x-proxy-to", format!("{}/matrix/blob", t.https_url()));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let what = format!(
        "{} {} as {} ({status}: {})",
        row.method,
        url,
        c.label,
        text.chars().take(200).collect::<String>()
    );
    let problem = if c.refused {
        (status != 401).then(|| format!("expected 401: {what}"))
    } else if row.shows == Shows::Listed {
        if status != 200 {
            Some(format!("expected a 200 list: {what}"))
        } else {
            let needle = match row.path {
                "/subscriptions" => w.sub.clone(),
                "/subscriptions/{sub}/resourceGroups" => "/resourceGroups/mx\"".to_string(),
                p if p.ends_with("/storageAccounts") => "/storageAccounts/mxsa\"".to_string(),
                _ => "mxw".to_string(),
            };
            let shown = text
                .to_ascii_lowercase()
                .contains(&needle.to_ascii_lowercase());
            (shown != expect).then(|| {
                format!(
                    "expected {} listed: {what}",
                    if expect { "" } else { "not" }
                )
            })
        }
    } else if expect {
        (status == 401 || status == 403).then(|| format!("FALSE REFUSAL: {what}"))
    } else if status != 403 || (row.method != "HEAD" && !text.contains("AuthorizationFailed")) {
        Some(format!("FALSE ALLOW (or not AuthorizationFailed): {what}"))
    } else {
        None
    };
    let problem =
        problem.or_else(|| (expect && status >= 500).then(|| format!("server error: {what}")));
    Outcome {
        problem,
        expected: expect,
        allowed: expect && status < 300,
    }
}

#[tokio::test]
async fn every_route_answers_every_caller_at_every_scope_as_azure_does() {
    // Workspace deletions finish at once (ARM's asynchronous delete; nothing here polls it).
    let t = TestServer::start_with(|c| {
        c.auth.failure_limit = 1_000_000;
        c.mgmt.delete_grace = std::time::Duration::from_millis(10);
    })
    .await;
    let sub = t.sub();

    // ---- the table covers exactly what the server routes
    let table: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(table.len(), routes().len(), "a row is listed twice");
    let served: BTreeSet<(String, String)> = qws_server::routes::route_table()
        .into_iter()
        .map(|d| (d.method.to_string(), d.path))
        .collect();
    let missing: Vec<_> = served.difference(&table).collect();
    let extra: Vec<_> = table.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the matrix: {missing:#?}"
    );
    assert!(
        extra.is_empty(),
        "rows for routes the server does not serve: {extra:#?}"
    );

    // ---- the world: mx/mxw, a sibling sib/sibw
    t.create_group("mx").await;
    let created = t
        .arm(
            Method::PUT,
            &t.ws_path("mx", "mxw"),
            Some(json!({"location": "eastus", "properties": {"providers": [{"providerId": "ionq", "providerSku": "pay-as-you-go-cred"}], "apiKeyEnabled": true}})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let op_url = created.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let op_id = op_url
        .split("operationStatuses/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    create_account(&t).await;
    t.create_group("sib").await;
    t.create_workspace("sib", "sibw").await;
    let (bystander, _, _) = new_sp(&t, "bystander", None).await;
    let r = t
        .arm(
            Method::POST,
            "/qws/directory/groups",
            Some(json!({"displayName": "bystanders"})),
        )
        .await;
    let member_group = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let scopes: HashMap<&'static str, String> = [
        ("sub", format!("/subscriptions/{sub}")),
        ("rg", t.rg_path("mx")),
        ("ws", t.ws_path("mx", "mxw")),
        (
            "nested",
            format!(
                "{}/providers/Microsoft.Storage/storageAccounts/mxsa/blobServices/default",
                t.rg_path("mx")
            ),
        ),
        ("sib_rg", t.rg_path("sib")),
        ("sib_ws", t.ws_path("sib", "sibw")),
    ]
    .into_iter()
    .collect();
    let params: HashMap<&'static str, String> = [
        ("sub", sub.clone()),
        ("rg", "mx".into()),
        ("ws", "mxw".into()),
        ("loc", "eastus".into()),
        ("ns", "Microsoft.Quantum".into()),
        ("type", "workspaces".into()),
        ("name", "mxw".into()),
        ("type2", "blobServices".into()),
        ("name2", "default".into()),
        ("id", "0b6a3e7c-0000-4000-8000-000000000001".into()),
        ("member", "0b6a3e7c-0000-4000-8000-000000000002".into()),
        ("account", "mxsa".into()),
        ("deployment", "mxdep".into()),
        ("operation", "0b6a3e7c-0000-4000-8000-000000000003".into()),
    ]
    .into_iter()
    .collect();
    let mut w = World {
        sub: sub.clone(),
        params,
        scopes,
        op_id,
        bystander,
        member_group,
        assignments: vec![],
    };

    // ---- roles, as published
    let mut perms: HashMap<&str, (String, Perms)> = HashMap::new();
    for name in ROLES {
        let r = t
            .arm(
                Method::GET,
                &format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName eq '{name}'&api-version=2022-05-01-preview"),
                None,
            )
            .await;
        let v: Value = r.json().await.unwrap();
        let d = &v["value"][0];
        assert_eq!(d["properties"]["roleName"], *name, "{v}");
        let list = |k: &str| -> Vec<String> {
            d["properties"]["permissions"][0][k]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        perms.insert(
            name,
            (
                d["name"].as_str().unwrap().to_string(),
                Perms {
                    actions: list("actions"),
                    not_actions: list("notActions"),
                    data_actions: list("dataActions"),
                    not_data_actions: list("notDataActions"),
                },
            ),
        );
    }

    // ---- callers
    let mut callers: Vec<Caller> = vec![];
    let levels = [
        ("subscription", "sub"),
        ("resource group", "rg"),
        ("workspace", "ws"),
    ];
    for role in ROLES {
        for (level, key) in levels {
            let (oid, app, secret) = new_sp(&t, &format!("{role} at {level}"), None).await;
            let scope = w.scopes[key].clone();
            let grants = grant(&t, &mut w, &perms, &[role], &scope, &oid, SP).await;
            let label = format!("{role} at the {level}");
            callers.push(signed_in(&t, label, &app, &secret, grants).await);
        }
    }
    let (_, app, secret) = new_sp(&t, "no role", None).await;
    let label = "a principal without roles".into();
    callers.push(signed_in(&t, label, &app, &secret, vec![]).await);
    for (level, key) in [("resource group", "sib_rg"), ("workspace", "sib_ws")] {
        let (oid, app, secret) = new_sp(&t, &format!("sibling {level}"), None).await;
        let scope = w.scopes[key].clone();
        let roles = [OWNER, QW_OWNER];
        let grants = grant(&t, &mut w, &perms, &roles, &scope, &oid, SP).await;
        let label = format!("Owner of the sibling {level}");
        callers.push(signed_in(&t, label, &app, &secret, grants).await);
    }
    for (level, key) in levels {
        let (oid, app, secret) = new_sp(&t, &format!("group member at {level}"), None).await;
        let r = t
            .arm(
                Method::POST,
                "/qws/directory/groups",
                Some(json!({"displayName": format!("team at {level}")})),
            )
            .await;
        let group = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = t
            .arm(
                Method::POST,
                &format!("/qws/directory/groups/{group}/members"),
                Some(json!({"id": oid})),
            )
            .await;
        assert_eq!(r.status(), 204);
        let scope = w.scopes[key].clone();
        let roles = [CONTRIBUTOR, DATA_READER];
        let grants = grant(&t, &mut w, &perms, &roles, &scope, &group, "Group").await;
        let label = format!("Contributor and Data Reader through a group at the {level}");
        callers.push(signed_in(&t, label, &app, &secret, grants).await);
    }
    let mut expiring = vec![];
    let mut last_expiry = time::OffsetDateTime::now_utc();
    for (level, key) in levels {
        // Disabled after its tokens were issued: refused from the next request on.
        let (oid, app, secret) = new_sp(&t, &format!("disabled at {level}"), None).await;
        let scope = w.scopes[key].clone();
        assign(&t, &mut w, &scope, &perms[OWNER].0, &oid, SP).await;
        let (m, d) = (
            token(&t, &app, &secret, MGMT).await,
            token(&t, &app, &secret, QUANTUM).await,
        );
        let r = t
            .arm(
                Method::PATCH,
                &format!("/qws/directory/servicePrincipals/{oid}"),
                Some(json!({"accountEnabled": false})),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        callers.push(Caller {
            label: format!("a disabled Owner at the {level}"),
            grants: vec![],
            token_mgmt: m,
            token_dp: d,
            refused: true,
        });
        // Owner whose only secret expires in two seconds (counted from now: on a loaded machine
        // the loop takes longer than that, and an expiry already past is refused at creation).
        let expiry = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
        last_expiry = expiry;
        let soon = qws_core::time_fmt::seconds_z(expiry);
        let (oid, app, secret) = new_sp(&t, &format!("expiring at {level}"), Some(soon)).await;
        assign(&t, &mut w, &scope, &perms[OWNER].0, &oid, SP).await;
        expiring.push((app, secret));
    }

    // ---- expired secrets: no token, so no route
    let wait = last_expiry - time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
    for (app, secret) in &expiring {
        for scope in [MGMT, QUANTUM] {
            let r = sign_in(&t, app, secret, scope).await;
            assert_eq!(r.status(), 401, "an expired secret signs in");
        }
    }

    // ---- the matrix: harmless routes concurrently, destructive ones last, one at a time
    let rows = routes();
    let (gentle, harsh): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| !destructive(r));
    let mut problems = vec![];
    let mut checked = 0usize;
    let mut expected_allowed = 0usize;
    let t = Arc::new(t);
    let shared = Arc::new((w, callers));
    for chunk in gentle.chunks(4) {
        let mut set = tokio::task::JoinSet::new();
        for row in chunk {
            for i in 0..shared.1.len() {
                let (t, shared, row) = (t.clone(), shared.clone(), **row);
                set.spawn(async move { exercise(&t, &shared.0, &row, &shared.1[i]).await });
            }
        }
        while let Some(o) = set.join_next().await {
            let o = o.unwrap();
            checked += 1;
            expected_allowed += usize::from(o.expected);
            problems.extend(o.problem);
        }
    }
    let (w, callers) = (&shared.0, &shared.1);
    for row in harsh {
        for c in callers.iter() {
            let o = exercise(&t, w, row, c).await;
            checked += 1;
            expected_allowed += usize::from(o.expected);
            problems.extend(o.problem);
            if o.allowed {
                restore(&t, w).await;
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {checked} checks differ from Azure's rules:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(checked, rows.len() * callers.len());
    // Both answers are well represented (a matrix of refusals alone would prove little).
    assert!(
        expected_allowed > checked / 5 && expected_allowed < checked * 4 / 5,
        "{expected_allowed} of {checked} allowed"
    );
}

/// The routes that need no credentials by design (the health probes) are declared apart from
/// the authorized ones, are not in the matrix, and answer a caller without credentials.
#[tokio::test]
async fn unauthenticated_routes_are_declared_apart_and_answer_without_credentials() {
    let t = TestServer::start().await;
    let open = qws_server::routes::unauthenticated_route_table();
    assert!(!open.is_empty());
    let authorized = qws_server::routes::route_table();
    let http = reqwest::Client::new();
    for def in &open {
        assert!(
            !authorized
                .iter()
                .any(|a| a.method == def.method && a.path == def.path),
            "{} {} is both authorized and open",
            def.method,
            def.path
        );
        assert_eq!(def.method, "GET", "probes only read");
        let r = http
            .get(format!("{}{}", t.http_url(), def.path))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", def.path);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["status"], "ok", "{}: {body}", def.path);
    }
    let paths: Vec<&str> = open.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["/healthz", "/readyz"]);
}
