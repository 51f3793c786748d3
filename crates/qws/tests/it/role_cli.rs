//! `qws role assignment create|list|delete` and `qws role definition list` against a real
//! `qws serve`.

use crate::common::cli::Server;

const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

#[test]
fn role_assignments_create_list_delete_and_definitions() {
    let server = Server::start_and_login();
    let sub = server.get("subscriptionId");
    let (rg, ws) = (server.get("resourceGroup"), server.get("workspaceName"));
    let workspace = server.json(&["workspace", "show", "-g", &rg, "-w", &ws, "-o", "json"]);
    let mi = workspace["identity"]["principalId"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws_scope = workspace["id"].as_str().unwrap().to_owned();
    let rg_scope = format!("/subscriptions/{sub}/resourceGroups/{rg}");

    // By role name (looked up at the scope) and by role GUID.
    let created = server.json(&[
        "role",
        "assignment",
        "create",
        "--assignee-object-id",
        &mi,
        "--assignee-principal-type",
        "ServicePrincipal",
        "--role",
        "Quantum Workspace Data Contributor",
        "--scope",
        &ws_scope,
        "-o",
        "json",
    ]);
    assert_eq!(created["properties"]["principalId"], mi.as_str());
    assert_eq!(created["properties"]["scope"], ws_scope.as_str());
    assert!(created["properties"]["roleDefinitionId"]
        .as_str()
        .unwrap()
        .ends_with("c1410b24-3e69-4857-8f86-4d0a2e603250"));
    let by_id = server.json(&[
        "role",
        "assignment",
        "create",
        "--assignee-object-id",
        &mi,
        "--assignee-principal-type",
        "ServicePrincipal",
        "--role",
        READER,
        "--scope",
        &rg_scope,
        "-o",
        "json",
    ]);
    assert_eq!(by_id["properties"]["scope"], rg_scope.as_str());

    // A duplicate is the server's 409, printed as code: message.
    let dup = server.fails(&[
        "role",
        "assignment",
        "create",
        "--assignee-object-id",
        &mi,
        "--role",
        "Reader",
        "--scope",
        &rg_scope,
    ]);
    assert!(dup.contains("RoleAssignmentExists"), "{dup}");
    let unknown = server.fails(&[
        "role",
        "assignment",
        "create",
        "--assignee-object-id",
        &mi,
        "--role",
        "No Such Role",
        "--scope",
        &rg_scope,
    ]);
    assert!(unknown.contains("No Such Role"), "{unknown}");

    // Exactly at the scope by default; --include-inherited adds the group's; --all below.
    let at_ws = server.json(&[
        "role",
        "assignment",
        "list",
        "--scope",
        &ws_scope,
        "-o",
        "json",
    ]);
    assert_eq!(at_ws.as_array().unwrap().len(), 1, "{at_ws}");
    let inherited = server.json(&[
        "role",
        "assignment",
        "list",
        "--scope",
        &ws_scope,
        "--include-inherited",
        "--assignee",
        &mi,
        "-o",
        "json",
    ]);
    assert_eq!(inherited.as_array().unwrap().len(), 2, "{inherited}");
    let all = server.json(&[
        "role",
        "assignment",
        "list",
        "--scope",
        &rg_scope,
        "--all",
        "--assignee",
        &mi,
        "-o",
        "json",
    ]);
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let table = server.run(&["role", "assignment", "list", "--scope", &ws_scope]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("Quantum Workspace Data Contributor") && table.contains(&mi),
        "{table}"
    );
    let tsv = server.run(&[
        "role",
        "assignment",
        "list",
        "--scope",
        &rg_scope,
        "-o",
        "tsv",
    ]);
    let tsv = String::from_utf8_lossy(&tsv.stdout).into_owned();
    assert!(
        tsv.lines()
            .any(|l| l.starts_with(&format!("{mi}\tServicePrincipal\tReader\t"))),
        "{tsv}"
    );

    // Delete by assignee + role + scope, and by id.
    let del = server.run(&[
        "role",
        "assignment",
        "delete",
        "--assignee",
        &mi,
        "--role",
        "Reader",
        "--scope",
        &rg_scope,
    ]);
    assert!(del.status.success(), "{del:?}");
    let id = created["id"].as_str().unwrap();
    let del = server.run(&["role", "assignment", "delete", "--ids", id]);
    assert!(del.status.success(), "{del:?}");
    let left = server.json(&[
        "role",
        "assignment",
        "list",
        "--scope",
        &rg_scope,
        "--all",
        "--assignee",
        &mi,
        "-o",
        "json",
    ]);
    assert_eq!(left, serde_json::json!([]));

    // Definitions: all built-ins, one by name, none custom yet.
    let defs = server.json(&["role", "definition", "list", "-o", "json"]);
    assert!(defs.as_array().unwrap().len() >= 7, "{defs}");
    let one = server.json(&[
        "role",
        "definition",
        "list",
        "--name",
        "Reader",
        "-o",
        "json",
    ]);
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["name"], READER);
    let custom = server.json(&[
        "role",
        "definition",
        "list",
        "--custom-role-only",
        "-o",
        "json",
    ]);
    assert_eq!(custom, serde_json::json!([]));
}
