//! `qws role assignment create|list|delete` and `qws role definition list`, named and behaving
//! like `az role …`: they talk ARM `Microsoft.Authorization` at a scope (default: the default
//! subscription) and need no directory look-up, since principals are given by object id.

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::Value;

use crate::mgmt::output::{self, cell, Table};
use crate::mgmt::{GlobalArgs, Session};

/// api-version `az role assignment` sends.
pub const ASSIGNMENTS_API_VERSION: &str = "2022-04-01";
/// api-version `az role definition` sends.
pub const DEFINITIONS_API_VERSION: &str = "2022-05-01-preview";

/// `qws role …`.
#[derive(clap::Args)]
pub struct RoleArgs {
    #[command(subcommand)]
    command: RoleCommand,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(clap::Subcommand)]
enum RoleCommand {
    /// Role assignments: create, list, delete.
    Assignment {
        #[command(subcommand)]
        command: AssignmentCommand,
    },
    /// Role definitions: list.
    Definition {
        #[command(subcommand)]
        command: DefinitionCommand,
    },
}

#[derive(clap::Args)]
struct ScopeArgs {
    /// Scope: /subscriptions/{id}[/resourceGroups/{rg}[/providers/…]] (default: the default
    /// subscription).
    #[arg(long)]
    scope: Option<String>,
    /// Subscription id used when --scope is absent (default: `qws account set`).
    #[arg(long)]
    subscription: Option<String>,
}

#[derive(clap::Subcommand)]
enum AssignmentCommand {
    /// Grant a role to a user, group or service principal at a scope.
    Create {
        /// Object id of the user, group or service principal.
        #[arg(long = "assignee-object-id")]
        assignee_object_id: String,
        /// User, Group or ServicePrincipal.
        #[arg(long = "assignee-principal-type")]
        assignee_principal_type: Option<String>,
        /// Role name (e.g. Reader) or role definition id / GUID.
        #[arg(long)]
        role: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Free text stored with the assignment.
        #[arg(long)]
        description: Option<String>,
        /// The assignment's GUID name (default: a new one).
        #[arg(long)]
        name: Option<String>,
    },
    /// List role assignments at a scope (default: exactly the scope; see --all and
    /// --include-inherited).
    List {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Only assignments of this object id.
        #[arg(long)]
        assignee: Option<String>,
        /// Only assignments of this role (name or id).
        #[arg(long)]
        role: Option<String>,
        /// Also assignments below the scope.
        #[arg(long)]
        all: bool,
        /// Also assignments above the scope (inherited here).
        #[arg(long = "include-inherited")]
        include_inherited: bool,
        /// With --assignee: also assignments of the groups it belongs to.
        #[arg(long = "include-groups")]
        include_groups: bool,
    },
    /// Delete role assignments, by id or by assignee, role and scope.
    Delete {
        /// Full resource ids of assignments to delete.
        #[arg(long, num_args = 1..)]
        ids: Vec<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Object id whose assignments at the scope are deleted.
        #[arg(long)]
        assignee: Option<String>,
        /// Only assignments of this role (name or id).
        #[arg(long)]
        role: Option<String>,
        /// Accepted for az compatibility; qws never prompts.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

#[derive(clap::Subcommand)]
enum DefinitionCommand {
    /// List role definitions available at a scope.
    List {
        /// Only the role with this name.
        #[arg(short = 'n', long)]
        name: Option<String>,
        #[command(flatten)]
        scope: ScopeArgs,
        /// Only custom roles.
        #[arg(long = "custom-role-only")]
        custom_role_only: bool,
    },
}

/// Runs `qws role …`.
pub fn run(args: RoleArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: RoleArgs) -> anyhow::Result<()> {
    let session = Session::open()?;
    let out = args.global;
    match args.command {
        RoleCommand::Assignment { command } => match command {
            AssignmentCommand::Create {
                assignee_object_id,
                assignee_principal_type,
                role,
                scope,
                description,
                name,
            } => {
                let scope = scope_of(&session, &scope)?;
                let role_id = resolve_role(&session, &scope, &role).await?;
                let name = name.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                let mut properties = serde_json::json!({
                    "roleDefinitionId": role_id,
                    "principalId": assignee_object_id,
                });
                if let Some(t) = assignee_principal_type {
                    properties["principalType"] = Value::String(t);
                }
                if let Some(d) = description {
                    properties["description"] = Value::String(d);
                }
                let created = send(
                    &session,
                    Method::PUT,
                    &assignment_path(&scope, Some(&name)),
                    ASSIGNMENTS_API_VERSION,
                    &[],
                    Some(serde_json::json!({ "properties": properties })),
                )
                .await?;
                let names = role_names(&session, &scope).await?;
                print_assignments(out, created.clone(), vec![created], &names)
            }
            AssignmentCommand::List {
                scope,
                assignee,
                role,
                all,
                include_inherited,
                include_groups,
            } => {
                let scope = scope_of(&session, &scope)?;
                let role_id = match &role {
                    Some(r) => Some(resolve_role(&session, &scope, r).await?),
                    None => None,
                };
                let found = list_assignments(
                    &session,
                    &scope,
                    assignee.as_deref(),
                    include_groups,
                    all,
                    include_inherited,
                    role_id.as_deref(),
                )
                .await?;
                let names = role_names(&session, &scope).await?;
                print_assignments(out, Value::Array(found.clone()), found, &names)
            }
            AssignmentCommand::Delete {
                ids,
                scope,
                assignee,
                role,
                yes: _,
            } => {
                let targets: Vec<String> = if !ids.is_empty() {
                    ids
                } else {
                    if assignee.is_none() && role.is_none() {
                        bail!("name the assignments to delete: --ids, or --assignee and/or --role (with --scope)");
                    }
                    let scope = scope_of(&session, &scope)?;
                    let role_id = match &role {
                        Some(r) => Some(resolve_role(&session, &scope, r).await?),
                        None => None,
                    };
                    list_assignments(
                        &session,
                        &scope,
                        assignee.as_deref(),
                        false,
                        false,
                        false,
                        role_id.as_deref(),
                    )
                    .await?
                    .iter()
                    .map(|a| cell(a, "/id"))
                    .collect()
                };
                if targets.is_empty() {
                    bail!("no matching role assignment found");
                }
                for id in targets {
                    send(
                        &session,
                        Method::DELETE,
                        &id,
                        ASSIGNMENTS_API_VERSION,
                        &[],
                        None,
                    )
                    .await?;
                }
                Ok(())
            }
        },
        RoleCommand::Definition {
            command:
                DefinitionCommand::List {
                    name,
                    scope,
                    custom_role_only,
                },
        } => {
            let scope = scope_of(&session, &scope)?;
            let mut roles = list_definitions(&session, &scope, name.as_deref()).await?;
            if custom_role_only {
                roles.retain(|r| cell(r, "/properties/type") == "CustomRole");
            }
            let columns = [
                ("Name", "/properties/roleName"),
                ("Type", "/properties/type"),
                ("Description", "/properties/description"),
            ];
            let table = Table::of(&columns, &roles);
            output::print(out.output, &Value::Array(roles), &table)
        }
    }
}

/// `--scope`, else `/subscriptions/{default}`; a trailing `/` is dropped.
fn scope_of(session: &Session, args: &ScopeArgs) -> anyhow::Result<String> {
    let scope = match &args.scope {
        Some(s) => s.trim_end_matches('/').to_string(),
        None => format!(
            "/subscriptions/{}",
            session.subscription(&args.subscription)?
        ),
    };
    if !scope.starts_with("/subscriptions/") {
        bail!("--scope must start with /subscriptions/{{id}}");
    }
    Ok(scope)
}

fn assignment_path(scope: &str, name: Option<&str>) -> String {
    let base = format!("{scope}/providers/Microsoft.Authorization/roleAssignments");
    match name {
        Some(n) => format!("{base}/{n}"),
        None => base,
    }
}

/// One request to a path given as `/a/b/c` (each segment re-encoded); returns the body JSON.
pub(crate) async fn send(
    session: &Session,
    method: Method,
    path: &str,
    api_version: &str,
    query: &[(&str, &str)],
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    Ok(session
        .arm
        .send_json(method, &segments, api_version, query, body)
        .await?
        .json()?)
}

fn is_guid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// A role name or id → a role definition id. GUIDs and ids are used as given (as `az` does);
/// names are looked up at the scope and must match exactly one role.
pub(crate) async fn resolve_role(
    session: &Session,
    scope: &str,
    role: &str,
) -> anyhow::Result<String> {
    if role.starts_with('/') {
        return Ok(role.to_string());
    }
    let sub = scope.split('/').nth(2).unwrap_or_default();
    if is_guid(role) {
        return Ok(format!(
            "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"
        ));
    }
    let found = list_definitions(session, scope, Some(role)).await?;
    match found.as_slice() {
        [one] => Ok(cell(one, "/id")),
        [] => bail!("role '{role}' doesn't exist at scope '{scope}'"),
        _ => bail!("more than one role is named '{role}'; use its id"),
    }
}

async fn list_definitions(
    session: &Session,
    scope: &str,
    name: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let filter = name.map(|n| format!("roleName eq '{}'", n.replace('\'', "''")));
    let query: Vec<(&str, &str)> = filter.iter().map(|f| ("$filter", f.as_str())).collect();
    let body = send(
        session,
        Method::GET,
        &format!("{scope}/providers/Microsoft.Authorization/roleDefinitions"),
        DEFINITIONS_API_VERSION,
        &query,
        None,
    )
    .await?;
    Ok(values(body))
}

fn values(body: Value) -> Vec<Value> {
    match body {
        Value::Object(mut m) => match m.remove("value") {
            Some(Value::Array(v)) => v,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// GUID of a role definition id, lower-cased.
fn role_guid(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase()
}

/// Lists assignments as `az role assignment list` does: at exactly the scope unless `all`
/// (also below) or `include_inherited` (also above).
async fn list_assignments(
    session: &Session,
    scope: &str,
    assignee: Option<&str>,
    include_groups: bool,
    all: bool,
    include_inherited: bool,
    role_id: Option<&str>,
) -> anyhow::Result<Vec<Value>> {
    let mut clauses = Vec::new();
    if !all {
        clauses.push("atScope()".to_string());
    }
    match (assignee, include_groups) {
        (Some(a), true) => clauses.push(format!("assignedTo('{a}')")),
        (Some(a), false) => clauses.push(format!("principalId eq '{a}'")),
        _ => {}
    }
    let filter = clauses.join(" and ");
    let query: Vec<(&str, &str)> = if filter.is_empty() {
        Vec::new()
    } else {
        vec![("$filter", filter.as_str())]
    };
    let body = send(
        session,
        Method::GET,
        &assignment_path(scope, None),
        ASSIGNMENTS_API_VERSION,
        &query,
        None,
    )
    .await?;
    let scope_key = scope.to_ascii_lowercase();
    let mut found = values(body);
    found.retain(|a| {
        let s = cell(a, "/properties/scope").to_ascii_lowercase();
        let here_or_below = s == scope_key || s.starts_with(&format!("{scope_key}/"));
        (include_inherited || here_or_below)
            && role_id
                .is_none_or(|r| role_guid(&cell(a, "/properties/roleDefinitionId")) == role_guid(r))
    });
    Ok(found)
}

/// Role GUID → role name, for the table.
async fn role_names(
    session: &Session,
    scope: &str,
) -> anyhow::Result<std::collections::HashMap<String, String>> {
    Ok(list_definitions(session, scope, None)
        .await?
        .iter()
        .map(|r| {
            (
                cell(r, "/name").to_ascii_lowercase(),
                cell(r, "/properties/roleName"),
            )
        })
        .collect())
}

fn print_assignments(
    global: GlobalArgs,
    json: Value,
    rows: Vec<Value>,
    names: &std::collections::HashMap<String, String>,
) -> anyhow::Result<()> {
    let mut table = Table::new(&["Principal", "PrincipalType", "Role", "Scope", "Name"]);
    for a in &rows {
        let guid = role_guid(&cell(a, "/properties/roleDefinitionId"));
        table.row(vec![
            cell(a, "/properties/principalId"),
            cell(a, "/properties/principalType"),
            names.get(&guid).cloned().unwrap_or(guid),
            cell(a, "/properties/scope"),
            cell(a, "/name"),
        ]);
    }
    output::print(global.output, &json, &table)
}
