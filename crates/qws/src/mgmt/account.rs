//! `qws login`, `qws logout` and `qws account list|show|set`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::Value;

use super::config::{Bootstrap, Config};
use super::output::{self, cell, Table};
use super::{arm_client, GlobalArgs, Session};

/// `qws login`.
#[derive(clap::Args)]
pub struct LoginArgs {
    /// Sign in with a service principal (-u, -p, --tenant) instead of a local bootstrap.json.
    #[arg(long)]
    service_principal: bool,
    /// Client (application) id of the service principal.
    #[arg(short = 'u', long = "username", requires = "service_principal")]
    username: Option<String>,
    /// Client secret of the service principal (or env QWS_CLIENT_SECRET).
    #[arg(
        short = 'p',
        long = "password",
        env = "QWS_CLIENT_SECRET",
        hide_env_values = true
    )]
    password: Option<String>,
    /// Tenant id of the service principal.
    #[arg(long, requires = "service_principal")]
    tenant: Option<String>,
    /// Server URL (ARM endpoint), e.g. https://127.0.0.1:8443. Default: from bootstrap.json.
    #[arg(long)]
    server: Option<String>,
    /// Token authority, when it is not the server itself (e.g. https://login.microsoftonline.com).
    #[arg(long)]
    authority: Option<String>,
    /// PEM file with the CA certificate to trust (a qws server's ca.pem); default:
    /// $REQUESTS_CA_BUNDLE or $SSL_CERT_FILE.
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Data directory of a local `qws serve` whose bootstrap.json to use (default ./.qws).
    #[arg(long, conflicts_with = "service_principal")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    global: GlobalArgs,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let mut config = Config::load()?;
    if args.service_principal {
        let (Some(user), Some(password), Some(tenant)) =
            (args.username, args.password, args.tenant)
        else {
            bail!("--service-principal needs -u/--username, -p/--password and --tenant");
        };
        let Some(server) = args.server.or(config.server.clone()) else {
            bail!("--server is required (no server remembered from an earlier login)");
        };
        if args.ca_file.is_some() || config.server.as_deref() != Some(server.as_str()) {
            config.ca_file = args.ca_file;
        }
        config.server = Some(server);
        config.authority = args.authority;
        config.tenant_id = Some(tenant);
        config.client_id = Some(user);
        config.client_secret = Some(password);
    } else {
        let data_dir = args.data_dir.unwrap_or_else(|| PathBuf::from(".qws"));
        let b = Bootstrap::read(&data_dir)?;
        let Some(server) = args.server.or(b.https_url) else {
            bail!("bootstrap.json has no httpsUrl; pass --server");
        };
        config.server = Some(server);
        config.authority = args.authority;
        config.ca_file = args.ca_file.or(b.ca_file).map(absolute);
        config.tenant_id = Some(b.tenant_id);
        config.client_id = Some(b.client_id);
        config.client_secret = Some(b.client_secret);
        if b.subscription_id.is_some() {
            config.subscription = b.subscription_id;
        }
        if b.resource_group.is_some() {
            config.group = b.resource_group;
        }
        if b.workspace_name.is_some() {
            config.workspace = b.workspace_name;
        }
        if b.location.is_some() {
            config.location = b.location;
        }
    }
    // Prove the credentials work before remembering them: get a token and list subscriptions.
    let arm = arm_client(&config)?;
    let subscriptions = arm.list_subscriptions(None)?.collect_json().await?;
    let known = |id: &str| {
        subscriptions
            .iter()
            .any(|s| cell(s, "/subscriptionId") == id)
    };
    match &config.subscription {
        Some(s) if known(s) => {}
        _ => config.subscription = subscriptions.first().map(|s| cell(s, "/subscriptionId")),
    }
    config.save()?;
    print_subscriptions(args.global, &config, subscriptions)
}

pub fn logout() -> anyhow::Result<()> {
    let mut config = Config::load()?;
    config.client_secret = None;
    config.client_id = None;
    config.tenant_id = None;
    config.save()
}

/// Makes a path absolute so the config works from any directory.
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// `qws account …`.
#[derive(clap::Args)]
pub struct AccountArgs {
    #[command(subcommand)]
    command: AccountCommand,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(clap::Subcommand)]
enum AccountCommand {
    /// List the subscriptions the signed-in principal can use.
    List,
    /// Show the default subscription.
    Show,
    /// Set the default subscription.
    Set {
        /// Subscription id (or display name).
        #[arg(short = 's', long)]
        subscription: String,
    },
}

pub async fn run(args: AccountArgs) -> anyhow::Result<()> {
    let session = Session::open()?;
    match args.command {
        AccountCommand::List => {
            let subs = session.arm.list_subscriptions(None)?.collect_json().await?;
            print_subscriptions(args.global, &session.config, subs)
        }
        AccountCommand::Show => {
            let id = session.subscription(&None)?;
            let sub = session.arm.get_subscription(&id, None).await?.json()?;
            print_subscriptions_table(args.global, &session.config, sub.clone(), vec![sub])
        }
        AccountCommand::Set { subscription } => {
            let subs = session.arm.list_subscriptions(None)?.collect_json().await?;
            let found = subs.iter().find(|s| {
                cell(s, "/subscriptionId").eq_ignore_ascii_case(&subscription)
                    || cell(s, "/displayName") == subscription
            });
            let Some(found) = found else {
                bail!(
                    "SubscriptionNotFound: The subscription '{subscription}' could not be found."
                );
            };
            let mut config = session.config;
            config.subscription = Some(cell(found, "/subscriptionId"));
            config
                .save()
                .context("cannot save the default subscription")
        }
    }
}

fn print_subscriptions(
    global: GlobalArgs,
    config: &Config,
    subs: Vec<Value>,
) -> anyhow::Result<()> {
    print_subscriptions_table(global, config, Value::Array(subs.clone()), subs)
}

fn print_subscriptions_table(
    global: GlobalArgs,
    config: &Config,
    json: Value,
    rows: Vec<Value>,
) -> anyhow::Result<()> {
    let mut table = Table::new(&["Name", "SubscriptionId", "State", "IsDefault"]);
    for s in &rows {
        let id = cell(s, "/subscriptionId");
        let is_default = config.subscription.as_deref() == Some(id.as_str());
        table.row(vec![
            cell(s, "/displayName"),
            id,
            cell(s, "/state"),
            is_default.to_string(),
        ]);
    }
    output::print(global.output, &json, &table)
}
