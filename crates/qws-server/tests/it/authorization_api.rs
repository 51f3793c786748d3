//! ARM `Microsoft.Authorization`: role assignments at every scope level, their filters and
//! errors, role definitions and custom roles, against the real server.

use crate::common::roles::{DATA_CONTRIBUTOR, OWNER, RA_V, READER};
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

const RD_V: &str = "api-version=2022-05-01-preview";

fn ra(scope: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?{RA_V}")
}

fn ra_list(scope: &str, filter: Option<&str>) -> String {
    match filter {
        None => format!("{scope}/providers/Microsoft.Authorization/roleAssignments?{RA_V}"),
        Some(f) => format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments?{RA_V}&$filter={}",
            url_encode(f)
        ),
    }
}

fn rd(scope: &str, rest: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleDefinitions{rest}")
}

fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn body(sub: &str, role: &str, principal: &str, ptype: &str) -> Value {
    json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        "principalId": principal,
        "principalType": ptype,
    }})
}

/// The object id (`oid`) of the bootstrap administrator, from its token.
fn admin_oid(token: &str) -> String {
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    claims["oid"].as_str().unwrap().to_string()
}

/// A resource group and a workspace with a system-assigned identity; returns the identity's
/// object id (a service principal to assign roles to).
async fn setup(t: &TestServer) -> String {
    t.create_group("rg").await;
    let ws = t.create_workspace("rg", "ws").await;
    ws["identity"]["principalId"].as_str().unwrap().to_string()
}

fn names(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn assignments_crud_at_every_scope_level() {
    let t = TestServer::start().await;
    let mi = setup(&t).await;
    let sub = t.sub();
    let scopes = [
        format!("/subscriptions/{sub}"),
        t.rg_path("rg"),
        t.ws_path("rg", "ws"),
        format!(
            "{}/providers/Microsoft.Storage/storageAccounts/qwsstorage",
            t.rg_path("rg")
        ),
    ];
    for scope in &scopes {
        let name = guid();
        let r = t
            .arm(
                Method::PUT,
                &ra(scope, &name),
                Some(body(&sub, READER, &mi, "ServicePrincipal")),
            )
            .await;
        assert_eq!(r.status(), 201, "create at {scope}");
        let created: Value = r.json().await.unwrap();
        assert_eq!(
            created["id"],
            format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}")
        );
        assert_eq!(created["name"], name);
        assert_eq!(created["type"], "Microsoft.Authorization/roleAssignments");
        let p = &created["properties"];
        assert_eq!(p["scope"], scope.as_str());
        assert_eq!(p["principalId"], mi);
        assert_eq!(p["principalType"], "ServicePrincipal");
        assert_eq!(
            p["roleDefinitionId"],
            format!(
                "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{READER}"
            )
        );
        assert!(p["createdOn"].as_str().unwrap().ends_with('Z'));

        let r = t.arm(Method::GET, &ra(scope, &name), None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["id"], created["id"]);

        // Re-PUT of the same assignment is an update, not a conflict.
        let r = t
            .arm(
                Method::PUT,
                &ra(scope, &name),
                Some(body(&sub, READER, &mi, "ServicePrincipal")),
            )
            .await;
        assert_eq!(r.status(), 200, "re-PUT at {scope}");

        let list: Value = t.arm_get_json(&ra_list(scope, None)).await;
        assert!(names(&list).contains(&name), "listed at {scope}: {list}");

        // The same name under another scope is not this assignment.
        if scope != &scopes[0] {
            let r = t.arm(Method::GET, &ra(&scopes[0], &name), None).await;
            expect_error(r, 404, "RoleAssignmentNotFound").await;
        }

        let r = t.arm(Method::DELETE, &ra(scope, &name), None).await;
        assert_eq!(r.status(), 200, "delete at {scope}");
        assert_eq!(r.json::<Value>().await.unwrap()["name"], name);
        let r = t.arm(Method::GET, &ra(scope, &name), None).await;
        expect_error(r, 404, "RoleAssignmentNotFound").await;
        let r = t.arm(Method::DELETE, &ra(scope, &name), None).await;
        assert_eq!(r.status(), 204, "second delete at {scope}");

        let audit = t.audit_lines();
        let target = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
        for action in [
            "Microsoft.Authorization/roleAssignments/write",
            "Microsoft.Authorization/roleAssignments/delete",
        ] {
            assert!(
                audit
                    .iter()
                    .any(|e| e["action"] == action && e["target"] == target.as_str()),
                "audit of {action} on {target}"
            );
        }
    }
}

#[tokio::test]
async fn list_filters_select_by_scope_and_principal() {
    let t = TestServer::start().await;
    let mi = setup(&t).await;
    let sub = t.sub();
    let token = t.mgmt_token().await;
    let admin = admin_oid(&token);
    let sub_scope = format!("/subscriptions/{sub}");
    let (rg, ws) = (t.rg_path("rg"), t.ws_path("rg", "ws"));
    let (at_rg, at_ws) = (guid(), guid());
    for (scope, name, role) in [(&rg, &at_rg, READER), (&ws, &at_ws, DATA_CONTRIBUTOR)] {
        let r = t
            .arm(
                Method::PUT,
                &ra(scope, name),
                Some(body(&sub, role, &mi, "ServicePrincipal")),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
    let list = |scope: String, filter: Option<String>| {
        let t = &t;
        async move {
            let r = t
                .arm(Method::GET, &ra_list(&scope, filter.as_deref()), None)
                .await;
            assert_eq!(r.status(), 200, "{scope} {filter:?}");
            r.json::<Value>().await.unwrap()
        }
    };
    // The bootstrap administrator's Owner at the subscription applies everywhere below.
    let at_ws_scope = list(ws.clone(), Some("atScope()".into())).await;
    let owners: Vec<&Value> = at_ws_scope["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["properties"]["principalId"] == admin.as_str())
        .collect();
    assert!(!owners.is_empty(), "admin's Owner inherited: {at_ws_scope}");
    assert!(owners[0]["properties"]["roleDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with(OWNER));
    assert!(names(&at_ws_scope).contains(&at_rg) && names(&at_ws_scope).contains(&at_ws));

    // atScope() at the group: itself and above, not the workspace below.
    let at_rg_scope = list(rg.clone(), Some("atScope()".into())).await;
    assert!(names(&at_rg_scope).contains(&at_rg));
    assert!(!names(&at_rg_scope).contains(&at_ws));
    // No filter: above, at and below.
    let around_rg = list(rg.clone(), None).await;
    assert!(names(&around_rg).contains(&at_rg) && names(&around_rg).contains(&at_ws));

    // principalId and assignedTo at the subscription: only the identity's two.
    let mut want = vec![at_rg.clone(), at_ws.clone()];
    want.sort();
    let by_principal = list(sub_scope.clone(), Some(format!("principalId eq '{mi}'"))).await;
    assert_eq!(names(&by_principal), want);
    let assigned = list(sub_scope.clone(), Some(format!("assignedTo('{mi}')"))).await;
    assert_eq!(names(&assigned), want);
    let combined = list(
        rg.clone(),
        Some(format!("atScope() and assignedTo('{mi}')")),
    )
    .await;
    assert_eq!(names(&combined), vec![at_rg.clone()]);

    // Paths are case-insensitive in their fixed words.
    let r = t
        .arm_with(
            &token,
            Method::GET,
            &format!(
                "/SUBSCRIPTIONS/{sub}/resourcegroups/rg/PROVIDERS/microsoft.authorization/ROLEASSIGNMENTS/{at_rg}?{RA_V}"
            ),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);

    let r = t
        .arm(
            Method::GET,
            &ra_list(&sub_scope, Some("roleName eq 'Reader'")),
            None,
        )
        .await;
    expect_error(r, 400, "InvalidFilterInQueryString").await;
    let r = t
        .arm(
            Method::GET,
            &ra_list(&sub_scope, Some("principalId eq 'bob'")),
            None,
        )
        .await;
    expect_error(r, 400, "InvalidFilterInQueryString").await;
}

#[tokio::test]
async fn assignment_errors_have_arm_codes() {
    let t = TestServer::start().await;
    let mi = setup(&t).await;
    let sub = t.sub();
    let rg = t.rg_path("rg");
    let name = guid();
    let r = t
        .arm(
            Method::PUT,
            &ra(&rg, &name),
            Some(body(&sub, READER, &mi, "ServicePrincipal")),
        )
        .await;
    assert_eq!(r.status(), 201);

    // Same principal, role and scope under another name.
    let r = t
        .arm(
            Method::PUT,
            &ra(&rg, &guid()),
            Some(body(&sub, READER, &mi, "ServicePrincipal")),
        )
        .await;
    expect_error(r, 409, "RoleAssignmentExists").await;
    // Changing the role of an existing assignment.
    let r = t
        .arm(
            Method::PUT,
            &ra(&rg, &name),
            Some(body(&sub, OWNER, &mi, "ServicePrincipal")),
        )
        .await;
    expect_error(r, 409, "RoleAssignmentUpdateNotPermitted").await;
    let r = t
        .arm(
            Method::PUT,
            &ra(&rg, &guid()),
            Some(body(&sub, &guid(), &mi, "ServicePrincipal")),
        )
        .await;
    expect_error(r, 400, "RoleDefinitionDoesNotExist").await;
    let r = t
        .arm(
            Method::PUT,
            &ra(&rg, &guid()),
            Some(body(&sub, READER, &guid(), "User")),
        )
        .await;
    expect_error(r, 400, "PrincipalNotFound").await;
    let r = t
        .arm(
            Method::PUT,
            &ra(&rg, &guid()),
            Some(body(&sub, OWNER, &mi, "User")),
        )
        .await;
    expect_error(r, 400, "UnmatchedPrincipalType").await;
    let r = t
        .arm(
            Method::PUT,
            &ra(&rg, "not-a-guid"),
            Some(body(&sub, READER, &mi, "ServicePrincipal")),
        )
        .await;
    expect_error(r, 400, "InvalidRoleAssignmentId").await;
    let r = t.arm(Method::GET, &ra(&rg, "not-a-guid"), None).await;
    expect_error(r, 400, "InvalidRoleAssignmentId").await;
    let mut with_condition = body(&sub, OWNER, &mi, "ServicePrincipal");
    with_condition["properties"]["condition"] = json!("@Resource[x] StringEquals 'y'");
    with_condition["properties"]["conditionVersion"] = json!("2.0");
    let r = t
        .arm(Method::PUT, &ra(&rg, &guid()), Some(with_condition))
        .await;
    expect_error(r, 400, "RoleAssignmentConditionNotSupported").await;
    let r = t
        .arm(
            Method::PUT,
            &ra(&rg, &guid()),
            Some(json!({"properties": {"principalId": mi}})),
        )
        .await;
    expect_error(r, 400, "InvalidRequestContent").await;

    // The scope must exist.
    let r = t
        .arm(
            Method::PUT,
            &ra(&t.rg_path("nope"), &guid()),
            Some(body(&sub, READER, &mi, "ServicePrincipal")),
        )
        .await;
    expect_error(r, 404, "ResourceGroupNotFound").await;
    let r = t
        .arm(Method::GET, &ra_list(&t.ws_path("rg", "nope"), None), None)
        .await;
    expect_error(r, 404, "ResourceNotFound").await;
    let r = t
        .arm(
            Method::GET,
            &ra_list("/subscriptions/00000000-0000-0000-0000-0000000000ff", None),
            None,
        )
        .await;
    expect_error(r, 404, "SubscriptionNotFound").await;

    // Bearer authentication like every management route.
    let r = t
        .https
        .get(format!("{}{}", t.https_url(), ra_list(&rg, None)))
        .send()
        .await
        .unwrap();
    expect_error(r, 401, "AuthenticationFailed").await;
    let r = t
        .arm(
            Method::GET,
            &format!(
                "{}{}",
                rg, "/providers/Microsoft.Authorization/roleAssignments"
            ),
            None,
        )
        .await;
    assert_eq!(r.status(), 200, "api-version appended by the helper");
}

#[tokio::test]
async fn role_definitions_list_filter_and_get() {
    let t = TestServer::start().await;
    t.create_group("rg").await;
    let sub = t.sub();
    let sub_scope = format!("/subscriptions/{sub}");
    let r = t
        .arm(Method::GET, &format!("{}?{RD_V}", rd(&sub_scope, "")), None)
        .await;
    assert_eq!(r.status(), 200);
    let all: Value = r.json().await.unwrap();
    let ids: Vec<&str> = all["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    for id in [
        OWNER,
        READER,
        DATA_CONTRIBUTOR,
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        "17d1049b-9a84-46fb-8f53-869881c3d3ab",
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    ] {
        assert!(ids.contains(&id), "built-in {id} listed");
    }

    let r = t
        .arm(
            Method::GET,
            &format!(
                "{}?{RD_V}&$filter={}",
                rd(&t.rg_path("rg"), ""),
                url_encode("roleName eq 'Quantum Workspace Data Contributor'")
            ),
            None,
        )
        .await;
    let one: Value = r.json().await.unwrap();
    let v = one["value"].as_array().unwrap();
    assert_eq!(v.len(), 1, "{one}");
    assert_eq!(v[0]["name"], DATA_CONTRIBUTOR);
    assert_eq!(
        v[0]["id"],
        format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{DATA_CONTRIBUTOR}")
    );
    assert_eq!(v[0]["properties"]["type"], "BuiltInRole");
    assert!(v[0]["properties"]["permissions"][0]["dataActions"]
        .as_array()
        .unwrap()
        .contains(&json!("Microsoft.Quantum/Workspaces/jobs/write")));

    let r = t
        .arm(
            Method::GET,
            &format!("{}?{RD_V}", rd(&sub_scope, &format!("/{READER}"))),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["properties"]["roleName"],
        "Reader"
    );
    // The tenant-level form az uses for built-in ids.
    let r = t
        .arm(
            Method::GET,
            &format!("{}?{RD_V}", rd("", &format!("/{READER}"))),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["id"],
        format!("/providers/Microsoft.Authorization/roleDefinitions/{READER}")
    );
    let r = t
        .arm(
            Method::GET,
            &format!("{}?{RD_V}", rd(&sub_scope, &format!("/{}", guid()))),
            None,
        )
        .await;
    expect_error(r, 404, "RoleDefinitionDoesNotExist").await;
    let r = t
        .arm(
            Method::GET,
            &format!(
                "{}?{RD_V}&$filter=principalId%20eq%20'x'",
                rd(&sub_scope, "")
            ),
            None,
        )
        .await;
    expect_error(r, 400, "InvalidFilterInQueryString").await;
}

#[tokio::test]
async fn custom_roles_put_assign_and_delete() {
    let t = TestServer::start().await;
    let mi = setup(&t).await;
    let sub = t.sub();
    let sub_scope = format!("/subscriptions/{sub}");
    let rg = t.rg_path("rg");
    let id = guid();
    let role = |name: &str| {
        json!({"name": id, "properties": {
            "roleName": name,
            "description": "submit jobs only",
            "type": "CustomRole",
            "permissions": [{"actions": ["Microsoft.Quantum/Workspaces/read"],
                             "dataActions": ["Microsoft.Quantum/Workspaces/jobs/write"]}],
            "assignableScopes": [rg.clone()]
        }})
    };
    let path = format!("{}?{RD_V}", rd(&sub_scope, &format!("/{id}")));
    let r = t.arm(Method::PUT, &path, Some(role("Job submitter"))).await;
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["properties"]["type"], "CustomRole");
    assert_eq!(
        created["properties"]["assignableScopes"],
        json!([rg.clone()])
    );
    let r = t
        .arm(Method::PUT, &path, Some(role("Job submitter v2")))
        .await;
    assert_eq!(r.status(), 200);
    let r = t.arm(Method::GET, &path, None).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["properties"]["roleName"],
        "Job submitter v2"
    );
    // Listed where it can be assigned (the group), by name too; not at the subscription.
    let by_name = format!(
        "{}?{RD_V}&$filter={}",
        rd(&rg, ""),
        url_encode("roleName eq 'job submitter v2'")
    );
    let listed: Value = t.arm_get_json(&by_name).await;
    assert_eq!(listed["value"][0]["name"], id.as_str(), "{listed}");
    let custom_at_sub: Value = t
        .arm_get_json(&format!(
            "{}?{RD_V}&$filter={}",
            rd(&sub_scope, ""),
            url_encode("type eq 'CustomRole'")
        ))
        .await;
    assert_eq!(custom_at_sub["value"], json!([]));

    // Assignable inside its scopes only.
    let r = t
        .arm(
            Method::PUT,
            &ra(&sub_scope, &guid()),
            Some(body(&sub, &id, &mi, "ServicePrincipal")),
        )
        .await;
    expect_error(r, 400, "InvalidRoleAssignmentScope").await;
    let assignment = guid();
    let r = t
        .arm(
            Method::PUT,
            &ra(&t.ws_path("rg", "ws"), &assignment),
            Some(body(&sub, &id, &mi, "ServicePrincipal")),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = t.arm(Method::DELETE, &path, None).await;
    expect_error(r, 409, "RoleDefinitionHasAssignments").await;
    let r = t
        .arm(
            Method::DELETE,
            &ra(&t.ws_path("rg", "ws"), &assignment),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = t.arm(Method::DELETE, &path, None).await;
    assert_eq!(r.status(), 200);
    let r = t.arm(Method::GET, &path, None).await;
    expect_error(r, 404, "RoleDefinitionDoesNotExist").await;
    let r = t.arm(Method::DELETE, &path, None).await;
    assert_eq!(r.status(), 204);

    // Built-in roles and their names are not for custom roles; bodies are validated.
    let r = t.arm(Method::PUT, &path, Some(role("Reader"))).await;
    expect_error(r, 409, "RoleDefinitionWithSameNameExists").await;
    let builtin = format!("{}?{RD_V}", rd(&sub_scope, &format!("/{READER}")));
    let r = t.arm(Method::PUT, &builtin, Some(role("Mine"))).await;
    expect_error(r, 400, "CannotModifyBuiltInRole").await;
    let r = t.arm(Method::DELETE, &builtin, None).await;
    expect_error(r, 400, "CannotModifyBuiltInRole").await;
    let mut no_actions = role("Empty");
    no_actions["properties"]["permissions"] = json!([{"actions": []}]);
    let r = t.arm(Method::PUT, &path, Some(no_actions)).await;
    expect_error(r, 400, "InvalidRoleDefinition").await;

    let audit = t.audit_lines();
    for action in [
        "Microsoft.Authorization/roleDefinitions/write",
        "Microsoft.Authorization/roleDefinitions/delete",
    ] {
        assert!(
            audit
                .iter()
                .any(|e| e["action"] == action && e["target"].as_str().unwrap().ends_with(&id)),
            "audit of {action}"
        );
    }
}
