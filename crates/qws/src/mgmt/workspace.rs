//! `qws workspace create|list|show|set|clear|update|delete`, `qws workspace keys list|regenerate`
//! `qws workspace token create|list|revoke` and `qws workspace webhook add|list|remove|deliveries`.

use anyhow::bail;
use qws_client::arm::{KeyType, Provider, Workspace, WorkspaceProperties};
use serde_json::Value;

use super::output::{self, cell, Table};
use super::{GlobalArgs, Session};

/// `qws workspace …`.
#[derive(clap::Args)]
pub struct WorkspaceArgs {
    #[command(subcommand)]
    command: WorkspaceCommand,
    #[command(flatten)]
    global: GlobalArgs,
}

/// Which workspace: flags, else the defaults from `qws workspace set` / `qws login` (the
/// data-plane commands take the same flags).
#[derive(clap::Args, Clone)]
pub(crate) struct Target {
    /// Resource group (default: `qws workspace set`).
    #[arg(short = 'g', long = "resource-group")]
    pub(crate) group: Option<String>,
    /// Workspace name (default: `qws workspace set`).
    #[arg(short = 'w', long = "workspace-name")]
    pub(crate) workspace: Option<String>,
    /// Subscription id (default: `qws account set`).
    #[arg(long)]
    pub(crate) subscription: Option<String>,
}

#[derive(clap::Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace.
    Create {
        #[command(flatten)]
        target: Target,
        /// Location, e.g. eastus (default: the server's location).
        #[arg(short = 'l', long)]
        location: Option<String>,
        /// Storage account ARM id (optional on qws, which has its own storage).
        #[arg(short = 'a', long)]
        storage_account: Option<String>,
        /// Providers as "provider/sku, provider/sku" (default: the server's choice).
        #[arg(short = 'r', long = "provider-sku-list")]
        providers: Option<String>,
    },
    /// List workspaces in the subscription, or in one group with -g.
    List {
        /// Only this resource group.
        #[arg(short = 'g', long = "resource-group")]
        group: Option<String>,
        /// Subscription id (default: `qws account set`).
        #[arg(long)]
        subscription: Option<String>,
    },
    /// Show a workspace.
    Show {
        #[command(flatten)]
        target: Target,
    },
    /// Check that a workspace exists and make it the default for later commands.
    Set {
        #[command(flatten)]
        target: Target,
        /// Accepted for az compatibility; the location is read from the workspace.
        #[arg(short = 'l', long)]
        location: Option<String>,
    },
    /// Forget the default workspace.
    Clear,
    /// Change workspace settings.
    Update {
        #[command(flatten)]
        target: Target,
        /// Enable or disable access keys and connection strings: true or false.
        #[arg(long, value_parser = parse_bool, action = clap::ArgAction::Set, required = true)]
        enable_api_key: bool,
    },
    /// Delete a workspace.
    Delete {
        #[command(flatten)]
        target: Target,
    },
    /// Access keys and connection strings.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Workspace access tokens: named, read-only or submit, expiring credentials (qws only).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Job webhooks: URLs told when a job or session finishes, with signed events (qws only).
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
}

#[derive(clap::Subcommand)]
enum WebhookCommand {
    /// Register a webhook and print its signing secret once.
    Add {
        #[command(flatten)]
        target: Target,
        /// Webhook name (unique in the workspace).
        #[arg(long)]
        name: String,
        /// Where events are posted: a loopback URL, or a host the server allows.
        #[arg(long)]
        url: String,
    },
    /// List webhooks (never their secrets).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Delete a webhook; deliveries still owed to it are dropped.
    Remove {
        #[command(flatten)]
        target: Target,
        /// Webhook name.
        #[arg(long)]
        name: String,
    },
    /// The newest deliveries of a webhook: event, state, attempts, last answer.
    Deliveries {
        #[command(flatten)]
        target: Target,
        /// Webhook name.
        #[arg(long)]
        name: String,
    },
}

#[derive(clap::Subcommand)]
enum TokenCommand {
    /// Create a token and print it (and a connection string with it) once.
    Create {
        #[command(flatten)]
        target: Target,
        /// Token name (unique in the workspace).
        #[arg(long)]
        name: String,
        /// `read` (jobs and results) or `submit` (also submit and cancel).
        #[arg(long)]
        access: String,
        /// Lifetime: a number with s, m, h or d (e.g. 7d), at most a year.
        #[arg(
            long,
            conflicts_with = "expires_on",
            required_unless_present = "expires_on"
        )]
        expires_in: Option<String>,
        /// Expiry as an RFC 3339 time, e.g. 2027-01-31T00:00:00Z.
        #[arg(long)]
        expires_on: Option<String>,
    },
    /// List tokens: name, access, expiry, creation and last use (never the tokens).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Revoke a token; it stops working at once.
    Revoke {
        #[command(flatten)]
        target: Target,
        /// Token name.
        #[arg(long)]
        name: String,
    },
}

/// `7d`, `12h`, `30m`, `90s` → seconds.
fn parse_lifetime(s: &str) -> anyhow::Result<i64> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid --expires-in '{s}': expected e.g. 7d, 12h, 30m"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => bail!("invalid --expires-in '{s}': the unit is s, m, h or d"),
    };
    if n <= 0 {
        bail!("invalid --expires-in '{s}': must be positive");
    }
    Ok(n.saturating_mul(unit))
}

/// `{workspace id}/{collection}`, e.g. the workspace's `accessTokens` or `webhooks`.
fn items_path(r: &Resolved, collection: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Quantum/workspaces/{}/{collection}",
        r.sub, r.group, r.workspace
    )
}

fn tokens_path(r: &Resolved) -> String {
    items_path(r, "accessTokens")
}

/// `DELETE path` (a 204 for an item that was not there is success, too).
async fn delete_item(session: &Session, path: &str) -> anyhow::Result<()> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    session
        .arm
        .send_json(reqwest::Method::DELETE, &segments, TOKENS_API, &[], None)
        .await?;
    Ok(())
}

const TOKENS_API: &str = "2023-11-13-preview";

#[derive(clap::Subcommand)]
enum KeysCommand {
    /// Print the access keys and connection strings (this prints secrets).
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Regenerate keys: Primary, Secondary or Primary,Secondary. Old keys stop working at once.
    Regenerate {
        #[command(flatten)]
        target: Target,
        /// Primary, Secondary or Primary,Secondary (case-sensitive, like az).
        #[arg(long, value_delimiter = ',', required = true)]
        key_type: Vec<KeyType>,
    },
}

/// `true`/`True`/`false`/`False`, like `az quantum workspace update --enable-api-key`.
fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "true" | "True" => Ok(true),
        "false" | "False" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

pub(crate) struct Resolved {
    pub(crate) sub: String,
    pub(crate) group: String,
    pub(crate) workspace: String,
}

/// The workspace a command names (flags, else the defaults).
pub(crate) fn resolve_target(session: &Session, t: &Target) -> anyhow::Result<Resolved> {
    resolve(session, t)
}

fn resolve(session: &Session, t: &Target) -> anyhow::Result<Resolved> {
    Ok(Resolved {
        sub: session.subscription(&t.subscription)?,
        group: session.group(&t.group)?,
        workspace: session.workspace(&t.workspace)?,
    })
}

pub async fn run(args: WorkspaceArgs) -> anyhow::Result<()> {
    let session = Session::open()?;
    let out = args.global;
    let arm = &session.arm;
    match args.command {
        WorkspaceCommand::Create {
            target,
            location,
            storage_account,
            providers,
        } => {
            let r = resolve(&session, &target)?;
            let body = Workspace {
                location: session.location(&location)?,
                identity: Some(serde_json::json!({ "type": "SystemAssigned" })),
                properties: WorkspaceProperties {
                    providers: providers.as_deref().map(parse_providers).transpose()?,
                    storage_account,
                    api_key_enabled: Some(true),
                    ..WorkspaceProperties::default()
                },
                ..Workspace::default()
            };
            let ws = arm
                .create_or_update_workspace(&r.sub, &r.group, &r.workspace, &body, None)
                .await?
                .json()?;
            print_workspaces(out, ws.clone(), vec![ws])
        }
        WorkspaceCommand::List {
            group,
            subscription,
        } => {
            let sub = session.subscription(&subscription)?;
            let pager = match &group {
                Some(g) => arm.list_workspaces_by_resource_group(&sub, g, None)?,
                None => arm.list_workspaces_by_subscription(&sub, None)?,
            };
            let list = pager.collect_json().await?;
            print_workspaces(out, Value::Array(list.clone()), list)
        }
        WorkspaceCommand::Show { target } => {
            let r = resolve(&session, &target)?;
            let ws = arm
                .get_workspace(&r.sub, &r.group, &r.workspace, None)
                .await?
                .json()?;
            print_workspaces(out, ws.clone(), vec![ws])
        }
        WorkspaceCommand::Set {
            target,
            location: _,
        } => {
            let r = resolve(&session, &target)?;
            let ws = arm
                .get_workspace(&r.sub, &r.group, &r.workspace, None)
                .await?
                .json()?;
            let mut config = session.config.clone();
            config.subscription = Some(r.sub);
            config.group = Some(r.group);
            config.workspace = Some(r.workspace);
            if let Some(Value::String(loc)) = ws.get("location") {
                config.location = Some(loc.clone());
            }
            config.save()?;
            print_workspaces(out, ws.clone(), vec![ws])
        }
        WorkspaceCommand::Clear => {
            let mut config = session.config.clone();
            config.workspace = None;
            config.save()
        }
        WorkspaceCommand::Update {
            target,
            enable_api_key,
        } => {
            // Like az: read the whole workspace, flip the flag, write it back.
            let r = resolve(&session, &target)?;
            let mut ws = arm
                .get_workspace(&r.sub, &r.group, &r.workspace, None)
                .await?
                .into_model()?;
            ws.properties.api_key_enabled = Some(enable_api_key);
            let ws = arm
                .create_or_update_workspace(&r.sub, &r.group, &r.workspace, &ws, None)
                .await?
                .json()?;
            print_workspaces(out, ws.clone(), vec![ws])
        }
        WorkspaceCommand::Delete { target } => {
            let r = resolve(&session, &target)?;
            arm.delete_workspace(&r.sub, &r.group, &r.workspace, None)
                .await?;
            // Like `az quantum workspace delete`: deleting the default workspace clears it.
            let c = &session.config;
            if c.workspace.as_deref() == Some(r.workspace.as_str())
                && c.group.as_deref() == Some(r.group.as_str())
            {
                let mut config = c.clone();
                config.workspace = None;
                config.save()?;
            }
            Ok(())
        }
        WorkspaceCommand::Keys { command } => match command {
            KeysCommand::List { target } => {
                let r = resolve(&session, &target)?;
                let keys = arm
                    .list_keys(&r.sub, &r.group, &r.workspace, None)
                    .await?
                    .json()?;
                print_keys(out, keys)
            }
            KeysCommand::Regenerate { target, key_type } => {
                let r = resolve(&session, &target)?;
                let mut kinds = key_type;
                kinds.dedup();
                arm.regenerate_keys(&r.sub, &r.group, &r.workspace, &kinds, None)
                    .await?;
                Ok(())
            }
        },
        WorkspaceCommand::Token { command } => run_token(&session, out, command).await,
        WorkspaceCommand::Webhook { command } => run_webhook(&session, out, command).await,
    }
}

fn webhooks_path(r: &Resolved) -> String {
    items_path(r, "webhooks")
}

async fn run_webhook(
    session: &Session,
    out: GlobalArgs,
    command: WebhookCommand,
) -> anyhow::Result<()> {
    use reqwest::Method;
    let send = |method, path: String, body| async move {
        crate::role::send(session, method, &path, TOKENS_API, &[], body).await
    };
    match command {
        WebhookCommand::Add { target, name, url } => {
            let r = resolve(session, &target)?;
            let body = serde_json::json!({"properties": {"url": url}});
            let v = send(
                Method::PUT,
                format!("{}/{name}", webhooks_path(&r)),
                Some(body),
            )
            .await?;
            eprintln!("warning: the signing secret is shown only now; store it safely.");
            let columns = [
                ("Name", "/name"),
                ("Url", "/properties/url"),
                ("Secret", "/properties/secret"),
            ];
            output::print_item(out.output, &v, &columns)
        }
        WebhookCommand::List { target } => {
            let r = resolve(session, &target)?;
            let v = send(Method::GET, webhooks_path(&r), None).await?;
            let columns = [
                ("Name", "/name"),
                ("Url", "/properties/url"),
                ("CreatedOn", "/properties/createdOn"),
                ("CreatedBy", "/properties/createdBy"),
            ];
            output::print_list(out.output, &v, &columns)
        }
        WebhookCommand::Remove { target, name } => {
            let r = resolve(session, &target)?;
            let path = format!("{}/{name}", webhooks_path(&r));
            delete_item(session, &path).await
        }
        WebhookCommand::Deliveries { target, name } => {
            let r = resolve(session, &target)?;
            let v = send(
                Method::GET,
                format!("{}/{name}/deliveries", webhooks_path(&r)),
                None,
            )
            .await?;
            let columns = [
                ("EventId", "/eventId"),
                ("EventType", "/eventType"),
                ("ItemId", "/itemId"),
                ("State", "/state"),
                ("Attempts", "/attempts"),
                ("LastStatusCode", "/lastStatusCode"),
                ("LastError", "/lastError"),
                ("CreatedOn", "/createdOn"),
            ];
            output::print_list(out.output, &v, &columns)
        }
    }
}

async fn run_token(
    session: &Session,
    out: GlobalArgs,
    command: TokenCommand,
) -> anyhow::Result<()> {
    use reqwest::Method;
    match command {
        TokenCommand::Create {
            target,
            name,
            access,
            expires_in,
            expires_on,
        } => {
            let r = resolve(session, &target)?;
            let expires = match (expires_in, expires_on) {
                (_, Some(on)) => on,
                (Some(lifetime), None) => {
                    let at = time::OffsetDateTime::now_utc()
                        + time::Duration::seconds(parse_lifetime(&lifetime)?);
                    qws_core::time_fmt::seconds_z(at)
                }
                (None, None) => bail!("give --expires-in or --expires-on"),
            };
            let body = serde_json::json!({"properties": {"access": access, "expiresOn": expires}});
            let path = format!("{}/{name}", tokens_path(&r));
            let v =
                crate::role::send(session, Method::PUT, &path, TOKENS_API, &[], Some(body)).await?;
            eprintln!("warning: the token is shown only now; store it safely.");
            let columns = [
                ("Name", "/name"),
                ("Access", "/properties/access"),
                ("ExpiresOn", "/properties/expiresOn"),
                ("Token", "/properties/token"),
                ("ConnectionString", "/properties/connectionString"),
            ];
            output::print_item(out.output, &v, &columns)
        }
        TokenCommand::List { target } => {
            let r = resolve(session, &target)?;
            let v = crate::role::send(
                session,
                Method::GET,
                &tokens_path(&r),
                TOKENS_API,
                &[],
                None,
            )
            .await?;
            let columns = [
                ("Name", "/name"),
                ("Access", "/properties/access"),
                ("ExpiresOn", "/properties/expiresOn"),
                ("CreatedOn", "/properties/createdOn"),
                ("CreatedBy", "/properties/createdBy"),
                ("LastUsedOn", "/properties/lastUsedOn"),
                ("Hint", "/properties/hint"),
            ];
            output::print_list(out.output, &v, &columns)
        }
        TokenCommand::Revoke { target, name } => {
            let r = resolve(session, &target)?;
            let path = format!("{}/{name}", tokens_path(&r));
            delete_item(session, &path).await
        }
    }
}

/// `"ionq/pay-as-you-go-cred, microsoft-qc/learn-and-develop"` → providers.
fn parse_providers(list: &str) -> anyhow::Result<Vec<Provider>> {
    let mut providers = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((id, sku)) = item.split_once('/') else {
            bail!("invalid provider '{item}': expected provider-id/sku");
        };
        providers.push(Provider {
            provider_id: Some(id.trim().to_owned()),
            provider_sku: Some(sku.trim().to_owned()),
            ..Provider::default()
        });
    }
    Ok(providers)
}

/// The resource group segment of an ARM id (`…/resourceGroups/{rg}/…`).
fn group_of(id: &str) -> String {
    let parts: Vec<&str> = id.split('/').collect();
    parts
        .windows(2)
        .find(|w| w[0].eq_ignore_ascii_case("resourceGroups"))
        .map(|w| w[1].to_owned())
        .unwrap_or_default()
}

fn print_workspaces(global: GlobalArgs, json: Value, rows: Vec<Value>) -> anyhow::Result<()> {
    let mut table = Table::new(&[
        "Name",
        "ResourceGroup",
        "Location",
        "ProvisioningState",
        "ApiKeyEnabled",
        "Endpoint",
    ]);
    for w in &rows {
        table.row(vec![
            cell(w, "/name"),
            group_of(&cell(w, "/id")),
            cell(w, "/location"),
            cell(w, "/properties/provisioningState"),
            cell(w, "/properties/apiKeyEnabled"),
            cell(w, "/properties/endpointUri"),
        ]);
    }
    output::print(global.output, &json, &table)
}

/// Keys table: one row per key. Printing secrets here is the user's explicit request (like az).
fn print_keys(global: GlobalArgs, keys: Value) -> anyhow::Result<()> {
    let mut table = Table::new(&[
        "KeyType",
        "ApiKeyEnabled",
        "CreatedAt",
        "Key",
        "ConnectionString",
        "LastUsed",
        "LastUsedFrom",
    ]);
    for (kind, key, conn) in [
        ("Primary", "/primaryKey", "/primaryConnectionString"),
        ("Secondary", "/secondaryKey", "/secondaryConnectionString"),
    ] {
        // qws records when and from where each key was last accepted (`…KeyLastUsed`).
        let used = format!("{key}LastUsed");
        table.row(vec![
            kind.to_owned(),
            cell(&keys, "/apiKeyEnabled"),
            cell(&keys, &format!("{key}/createdAt")),
            cell(&keys, &format!("{key}/key")),
            cell(&keys, conn),
            cell(&keys, &format!("{used}/time")),
            cell(&keys, &format!("{used}/address")),
        ]);
    }
    output::print(global.output, &keys, &table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_provider_lists_and_booleans() {
        let p = parse_providers("ionq/pay-as-you-go-cred, microsoft-qc/learn-and-develop").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].provider_id.as_deref(), Some("microsoft-qc"));
        assert_eq!(p[1].provider_sku.as_deref(), Some("learn-and-develop"));
        assert!(parse_providers("ionq").is_err());
        assert_eq!(parse_bool("True"), Ok(true));
        assert_eq!(parse_bool("false"), Ok(false));
        assert!(parse_bool("yes").is_err());
        assert_eq!(parse_lifetime("7d").unwrap(), 7 * 86400);
        assert_eq!(parse_lifetime("90s").unwrap(), 90);
        assert!(parse_lifetime("7w").is_err());
        assert!(parse_lifetime("0h").is_err());
        assert!(parse_lifetime("h").is_err());
    }

    #[test]
    fn finds_the_group_in_resource_ids() {
        let id = "/subscriptions/s/resourceGroups/rg-1/providers/Microsoft.Quantum/workspaces/w";
        assert_eq!(group_of(id), "rg-1");
        assert_eq!(group_of("/subscriptions/s/resourcegroups/x"), "x");
        assert_eq!(group_of(""), "");
    }
}
