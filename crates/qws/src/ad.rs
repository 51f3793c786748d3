//! `qws ad user|sp|group …`, named like `az ad`: directory administration through the server's
//! `/qws/directory` API. Secrets (a new service principal's password) are printed once, to
//! stdout, as `az ad sp create-for-rbac` and `az ad sp credential reset` print them.

use anyhow::{bail, Context};
use reqwest::Method;
use serde_json::{json, Value};

use crate::mgmt::output::{self, cell, Table};
use crate::mgmt::{GlobalArgs, Session};

const DIRECTORY: &str = "/qws/directory";
/// Sent for form's sake: the directory routes are versionless.
const API_VERSION: &str = "2026-12-01";

/// `qws ad …`.
#[derive(clap::Args)]
pub struct AdArgs {
    #[command(subcommand)]
    command: AdCommand,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(clap::Subcommand)]
enum AdCommand {
    /// Users: create, list, show, update, delete.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Service principals: create-for-rbac, list, show, delete, credential.
    Sp {
        #[command(subcommand)]
        command: SpCommand,
    },
    /// Groups: create, list, show, delete, member.
    Group {
        #[command(subcommand)]
        command: GroupCommand,
    },
}

#[derive(clap::Subcommand)]
enum UserCommand {
    /// Create a user.
    Create {
        #[arg(long = "display-name")]
        display_name: String,
        /// `name@domain`.
        #[arg(long = "user-principal-name")]
        user_principal_name: String,
        /// Initial password (8 to 256 characters, three of: lower case, upper case, digits, symbols).
        #[arg(long)]
        password: String,
        /// Create the account disabled with `false`.
        #[arg(long = "account-enabled")]
        account_enabled: Option<bool>,
    },
    /// List users.
    List,
    /// Show a user (object id or user principal name).
    Show {
        #[arg(long)]
        id: String,
    },
    /// Change a user's display name, password or enabled state.
    Update {
        #[arg(long)]
        id: String,
        #[arg(long = "display-name")]
        display_name: Option<String>,
        /// New password; the user's refresh tokens are revoked.
        #[arg(long)]
        password: Option<String>,
        /// `false` disables sign-in and revokes refresh tokens.
        #[arg(long = "account-enabled")]
        account_enabled: Option<bool>,
    },
    /// Delete a user.
    Delete {
        #[arg(long)]
        id: String,
    },
}

#[derive(clap::Subcommand)]
enum SpCommand {
    /// Create a service principal with a client secret, optionally granting it a role.
    CreateForRbac {
        /// Display name.
        #[arg(short = 'n', long)]
        name: String,
        /// Role to assign (name or id); needs --scopes.
        #[arg(long)]
        role: Option<String>,
        /// Scopes at which to assign --role.
        #[arg(long, num_args = 1..)]
        scopes: Vec<String>,
        /// Secret lifetime in years.
        #[arg(long, default_value_t = 1)]
        years: u32,
    },
    /// List service principals.
    List,
    /// Show a service principal (object id or application id).
    Show {
        #[arg(long)]
        id: String,
    },
    /// Delete a service principal.
    Delete {
        #[arg(long)]
        id: String,
    },
    /// Client secrets: reset, list, delete.
    Credential {
        #[command(subcommand)]
        command: CredentialCommand,
    },
}

#[derive(clap::Subcommand)]
enum CredentialCommand {
    /// Create a new secret; without --append every other secret is removed.
    Reset {
        /// Object id or application id.
        #[arg(long)]
        id: String,
        /// Keep the existing secrets.
        #[arg(long)]
        append: bool,
        /// Label for the secret.
        #[arg(long = "display-name")]
        display_name: Option<String>,
        /// Secret lifetime in years.
        #[arg(long, default_value_t = 1)]
        years: u32,
    },
    /// List secrets (metadata only).
    List {
        #[arg(long)]
        id: String,
    },
    /// Delete one secret.
    Delete {
        #[arg(long)]
        id: String,
        #[arg(long = "key-id")]
        key_id: String,
    },
}

#[derive(clap::Subcommand)]
enum GroupCommand {
    /// Create a group.
    Create {
        #[arg(long = "display-name")]
        display_name: String,
        /// Accepted for az compatibility (qws groups have no mail).
        #[arg(long = "mail-nickname")]
        mail_nickname: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// List groups.
    List,
    /// Show a group (object id or display name).
    Show {
        #[arg(short = 'g', long)]
        group: String,
    },
    /// Delete a group.
    Delete {
        #[arg(short = 'g', long)]
        group: String,
    },
    /// Members: add, remove, list.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
}

#[derive(clap::Subcommand)]
enum MemberCommand {
    /// Add a user or service principal (by object id).
    Add {
        #[arg(short = 'g', long)]
        group: String,
        #[arg(long = "member-id")]
        member_id: String,
    },
    /// Remove a member.
    Remove {
        #[arg(short = 'g', long)]
        group: String,
        #[arg(long = "member-id")]
        member_id: String,
    },
    /// List members.
    List {
        #[arg(short = 'g', long)]
        group: String,
    },
}

/// Runs `qws ad …`.
pub fn run(args: AdArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn call(
    session: &Session,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    crate::role::send(
        session,
        method,
        &format!("{DIRECTORY}/{path}"),
        API_VERSION,
        &[],
        body,
    )
    .await
}

fn list_of(v: Value) -> Vec<Value> {
    match v.get("value") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    }
}

fn expiry(years: u32) -> String {
    let end = time::OffsetDateTime::now_utc() + time::Duration::days(365 * i64::from(years));
    qws_core::time_fmt::seconds_z(end)
}

async fn run_async(args: AdArgs) -> anyhow::Result<()> {
    let session = Session::open()?;
    let out = args.global;
    match args.command {
        AdCommand::User { command } => user(&session, out, command).await,
        AdCommand::Sp { command } => sp(&session, out, command).await,
        AdCommand::Group { command } => group(&session, out, command).await,
    }
}

fn print_users(out: GlobalArgs, json: Value, rows: &[Value]) -> anyhow::Result<()> {
    let columns = [
        ("UserPrincipalName", "/userPrincipalName"),
        ("DisplayName", "/displayName"),
        ("Id", "/id"),
        ("AccountEnabled", "/accountEnabled"),
    ];
    output::print(out.output, &json, &Table::of(&columns, rows))
}

async fn user(session: &Session, out: GlobalArgs, cmd: UserCommand) -> anyhow::Result<()> {
    match cmd {
        UserCommand::Create {
            display_name,
            user_principal_name,
            password,
            account_enabled,
        } => {
            let mut body = json!({
                "displayName": display_name,
                "userPrincipalName": user_principal_name,
                "passwordProfile": {"password": password},
            });
            if let Some(e) = account_enabled {
                body["accountEnabled"] = Value::Bool(e);
            }
            let u = call(session, Method::POST, "users", Some(body)).await?;
            print_users(out, u.clone(), &[u])
        }
        UserCommand::List => {
            let users = list_of(call(session, Method::GET, "users", None).await?);
            print_users(out, Value::Array(users.clone()), &users)
        }
        UserCommand::Show { id } => {
            let u = call(session, Method::GET, &format!("users/{id}"), None).await?;
            print_users(out, u.clone(), &[u])
        }
        UserCommand::Update {
            id,
            display_name,
            password,
            account_enabled,
        } => {
            let mut body = json!({});
            if let Some(n) = display_name {
                body["displayName"] = Value::String(n);
            }
            if let Some(p) = password {
                body["passwordProfile"] = json!({ "password": p });
            }
            if let Some(e) = account_enabled {
                body["accountEnabled"] = Value::Bool(e);
            }
            if body.as_object().is_some_and(|o| o.is_empty()) {
                bail!("nothing to update: pass --display-name, --password or --account-enabled");
            }
            let u = call(session, Method::PATCH, &format!("users/{id}"), Some(body)).await?;
            print_users(out, u.clone(), &[u])
        }
        UserCommand::Delete { id } => {
            call(session, Method::DELETE, &format!("users/{id}"), None).await?;
            Ok(())
        }
    }
}

fn print_sps(out: GlobalArgs, json: Value, rows: &[Value]) -> anyhow::Result<()> {
    let columns = [
        ("DisplayName", "/displayName"),
        ("AppId", "/appId"),
        ("Id", "/id"),
        ("Type", "/servicePrincipalType"),
        ("AccountEnabled", "/accountEnabled"),
    ];
    output::print(out.output, &json, &Table::of(&columns, rows))
}

/// Prints a new secret the way `az` does, with a warning on stderr.
fn print_secret(out: GlobalArgs, json: Value) -> anyhow::Result<()> {
    eprintln!(
        "WARNING: the output includes a secret. Keep it out of logs and source control; it cannot be shown again."
    );
    let columns = [
        ("AppId", "/appId"),
        ("DisplayName", "/displayName"),
        ("Password", "/password"),
        ("Tenant", "/tenant"),
    ];
    output::print_item(out.output, &json, &columns)
}

async fn sp(session: &Session, out: GlobalArgs, cmd: SpCommand) -> anyhow::Result<()> {
    let tenant = session.config.tenant_id.clone().unwrap_or_default();
    match cmd {
        SpCommand::CreateForRbac {
            name,
            role,
            scopes,
            years,
        } => {
            if role.is_some() == scopes.is_empty() {
                bail!("--role and --scopes go together");
            }
            // Resolve the role first so a typo creates nothing.
            let mut role_ids = Vec::new();
            if let Some(r) = &role {
                for s in &scopes {
                    role_ids.push(crate::role::resolve_role(session, s, r).await?);
                }
            }
            let sp = call(
                session,
                Method::POST,
                "servicePrincipals",
                Some(json!({ "displayName": name })),
            )
            .await?;
            let oid = cell(&sp, "/id");
            let cred = call(
                session,
                Method::POST,
                &format!("servicePrincipals/{oid}/addPassword"),
                Some(json!({"passwordCredential": {"displayName": "rbac", "endDateTime": expiry(years)}})),
            )
            .await?;
            for (scope, role_id) in scopes.iter().zip(&role_ids) {
                let path = format!(
                    "{}/providers/Microsoft.Authorization/roleAssignments/{}",
                    scope.trim_end_matches('/'),
                    uuid::Uuid::new_v4()
                );
                crate::role::send(
                    session,
                    Method::PUT,
                    &path,
                    crate::role::ASSIGNMENTS_API_VERSION,
                    &[],
                    Some(json!({"properties": {"roleDefinitionId": role_id, "principalId": oid, "principalType": "ServicePrincipal"}})),
                )
                .await?;
            }
            print_secret(
                out,
                json!({
                    "appId": cell(&sp, "/appId"),
                    "displayName": cell(&sp, "/displayName"),
                    "password": cell(&cred, "/secretText"),
                    "tenant": tenant,
                }),
            )
        }
        SpCommand::List => {
            let sps = list_of(call(session, Method::GET, "servicePrincipals", None).await?);
            print_sps(out, Value::Array(sps.clone()), &sps)
        }
        SpCommand::Show { id } => {
            let s = call(
                session,
                Method::GET,
                &format!("servicePrincipals/{id}"),
                None,
            )
            .await?;
            print_sps(out, s.clone(), &[s])
        }
        SpCommand::Delete { id } => {
            call(
                session,
                Method::DELETE,
                &format!("servicePrincipals/{id}"),
                None,
            )
            .await?;
            Ok(())
        }
        SpCommand::Credential { command } => match command {
            CredentialCommand::Reset {
                id,
                append,
                display_name,
                years,
            } => {
                let action = if append {
                    "addPassword"
                } else {
                    "resetPassword"
                };
                let mut pc = json!({ "endDateTime": expiry(years) });
                if let Some(d) = display_name {
                    pc["displayName"] = Value::String(d);
                }
                let sp = call(
                    session,
                    Method::GET,
                    &format!("servicePrincipals/{id}"),
                    None,
                )
                .await?;
                let cred = call(
                    session,
                    Method::POST,
                    &format!("servicePrincipals/{id}/{action}"),
                    Some(json!({ "passwordCredential": pc })),
                )
                .await?;
                print_secret(
                    out,
                    json!({
                        "appId": cell(&sp, "/appId"),
                        "password": cell(&cred, "/secretText"),
                        "tenant": tenant,
                    }),
                )
            }
            CredentialCommand::List { id } => {
                let sp = call(
                    session,
                    Method::GET,
                    &format!("servicePrincipals/{id}"),
                    None,
                )
                .await?;
                let creds = match sp.get("passwordCredentials") {
                    Some(Value::Array(a)) => a.clone(),
                    _ => Vec::new(),
                };
                let columns = [
                    ("KeyId", "/keyId"),
                    ("DisplayName", "/displayName"),
                    ("Hint", "/hint"),
                    ("EndDateTime", "/endDateTime"),
                ];
                let table = Table::of(&columns, &creds);
                output::print(out.output, &Value::Array(creds), &table)
            }
            CredentialCommand::Delete { id, key_id } => {
                call(
                    session,
                    Method::POST,
                    &format!("servicePrincipals/{id}/removePassword"),
                    Some(json!({ "keyId": key_id })),
                )
                .await?;
                Ok(())
            }
        },
    }
}

/// A group's object id from an object id or a display name (which must be unique).
async fn group_id(session: &Session, group: &str) -> anyhow::Result<String> {
    if group.len() == 36 && uuid::Uuid::parse_str(group).is_ok() {
        return Ok(group.to_string());
    }
    let all = list_of(call(session, Method::GET, "groups", None).await?);
    let found: Vec<&Value> = all
        .iter()
        .filter(|g| cell(g, "/displayName") == group)
        .collect();
    match found.as_slice() {
        [one] => Ok(cell(one, "/id")),
        [] => bail!("no group is named '{group}'"),
        _ => bail!("more than one group is named '{group}'; use its object id"),
    }
}

fn print_groups(out: GlobalArgs, json: Value, rows: &[Value]) -> anyhow::Result<()> {
    let columns = [
        ("DisplayName", "/displayName"),
        ("Id", "/id"),
        ("Description", "/description"),
    ];
    output::print(out.output, &json, &Table::of(&columns, rows))
}

async fn group(session: &Session, out: GlobalArgs, cmd: GroupCommand) -> anyhow::Result<()> {
    match cmd {
        GroupCommand::Create {
            display_name,
            mail_nickname: _,
            description,
        } => {
            let g = call(
                session,
                Method::POST,
                "groups",
                Some(json!({"displayName": display_name, "description": description})),
            )
            .await?;
            print_groups(out, g.clone(), &[g])
        }
        GroupCommand::List => {
            let groups = list_of(call(session, Method::GET, "groups", None).await?);
            print_groups(out, Value::Array(groups.clone()), &groups)
        }
        GroupCommand::Show { group } => {
            let id = group_id(session, &group).await?;
            let g = call(session, Method::GET, &format!("groups/{id}"), None).await?;
            print_groups(out, g.clone(), &[g])
        }
        GroupCommand::Delete { group } => {
            let id = group_id(session, &group).await?;
            call(session, Method::DELETE, &format!("groups/{id}"), None).await?;
            Ok(())
        }
        GroupCommand::Member { command } => match command {
            MemberCommand::Add { group, member_id } => {
                let id = group_id(session, &group).await?;
                call(
                    session,
                    Method::POST,
                    &format!("groups/{id}/members"),
                    Some(json!({ "id": member_id })),
                )
                .await?;
                Ok(())
            }
            MemberCommand::Remove { group, member_id } => {
                let id = group_id(session, &group).await?;
                call(
                    session,
                    Method::DELETE,
                    &format!("groups/{id}/members/{member_id}"),
                    None,
                )
                .await?;
                Ok(())
            }
            MemberCommand::List { group } => {
                let id = group_id(session, &group).await?;
                let members = list_of(
                    call(session, Method::GET, &format!("groups/{id}/members"), None).await?,
                );
                let columns = [
                    ("DisplayName", "/displayName"),
                    ("Id", "/id"),
                    ("Type", "/@odata.type"),
                ];
                let table = Table::of(&columns, &members);
                output::print(out.output, &Value::Array(members), &table)
            }
        },
    }
}
