//! Client commands, named like `az` / `az quantum` so its users feel at home:
//! `login`, `logout`, `account`, `group` and `workspace` (including `keys`).
//!
//! Every command talks ARM to the server remembered by `qws login` (see [`config`]); tokens are
//! obtained once per command with the stored service principal. Server errors are printed as
//! `error: <code>: <message>` and exit with status 1.

mod account;
mod audit;
pub(crate) mod config;
mod group;
pub(crate) mod output;
pub(crate) mod workspace;

use anyhow::{bail, Context};
use qws_client::arm::{ArmClient, ArmClientOptions};
use qws_client::credentials::{ClientSecretCredential, ClientSecretCredentialOptions};
use qws_client::ClientOptions;

use config::Config;
pub use output::OutputFormat;

/// Options accepted by every client command.
#[derive(clap::Args, Clone, Copy)]
pub struct GlobalArgs {
    /// Output format: table (default), json (the server's JSON) or tsv.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table, global = true)]
    pub output: OutputFormat,
}

/// The client commands, flattened into the top level of `qws`.
#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Sign in to a qws server (default: the local server's .qws/bootstrap.json) and remember it.
    Login(account::LoginArgs),
    /// Forget the stored credentials (defaults are kept).
    Logout,
    /// Subscriptions: list, show, set the default.
    Account(account::AccountArgs),
    /// Resource groups: create, list, show, delete.
    Group(group::GroupArgs),
    /// Quantum workspaces: create, list, show, set, clear, update, delete, keys, token,
    /// webhook.
    Workspace(workspace::WorkspaceArgs),
    /// A workspace's activity log (its audited operations): list, with time, caller and
    /// operation filters.
    Audit(audit::AuditArgs),
}

/// Runs one client command to completion.
pub fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime
        .block_on(async move {
            match cmd {
                ClientCommand::Login(args) => account::login(args).await,
                ClientCommand::Logout => account::logout(),
                ClientCommand::Account(args) => account::run(args).await,
                ClientCommand::Group(args) => group::run(args).await,
                ClientCommand::Workspace(args) => workspace::run(args).await,
                ClientCommand::Audit(args) => audit::run(args).await,
            }
        })
        .map_err(with_hint)
}

/// Adds a hint to transport errors whose cause users commonly hit (server down, CA not trusted).
fn with_hint(e: anyhow::Error) -> anyhow::Error {
    let Some(client_error) = e.downcast_ref::<qws_client::Error>() else {
        return e;
    };
    if client_error.kind() != &qws_client::ErrorKind::Io {
        return e;
    }
    let message = client_error.message();
    if message.contains("certificate") {
        anyhow::anyhow!(
            "{e} (is the server's CA trusted? pass --ca-file <data dir>/ca.pem to `qws login`)"
        )
    } else if message.contains("Connection refused") {
        anyhow::anyhow!("{e} (is the server running? start it with `qws serve`)")
    } else {
        e
    }
}

/// The stored config plus an ARM client authenticated with its service principal.
pub(crate) struct Session {
    pub config: Config,
    pub arm: ArmClient,
}

impl Session {
    /// Loads the config and builds the client; fails with a hint when not logged in.
    pub fn open() -> anyhow::Result<Session> {
        let config = Config::load()?;
        let arm = arm_client(&config)?;
        Ok(Session { config, arm })
    }

    /// `--subscription`, else the default subscription.
    pub fn subscription(&self, flag: &Option<String>) -> anyhow::Result<String> {
        match flag.clone().or_else(|| self.config.subscription.clone()) {
            Some(s) => Ok(s),
            None => bail!("no subscription selected: pass --subscription or run `qws account set --subscription <id>`"),
        }
    }

    /// `-g`, else the default group.
    pub fn group(&self, flag: &Option<String>) -> anyhow::Result<String> {
        match flag.clone().or_else(|| self.config.group.clone()) {
            Some(g) => Ok(g),
            None => bail!(
                "no resource group given: pass -g/--resource-group or run `qws workspace set`"
            ),
        }
    }

    /// `-w`, else the default workspace.
    pub fn workspace(&self, flag: &Option<String>) -> anyhow::Result<String> {
        match flag.clone().or_else(|| self.config.workspace.clone()) {
            Some(w) => Ok(w),
            None => bail!(
                "no workspace given: pass -w/--workspace-name or run `qws workspace set` first"
            ),
        }
    }

    /// `-l`, else the default location.
    pub fn location(&self, flag: &Option<String>) -> anyhow::Result<String> {
        match flag.clone().or_else(|| self.config.location.clone()) {
            Some(l) => Ok(l),
            None => bail!("no location given: pass -l/--location"),
        }
    }
}

/// Builds an ARM client from the stored login.
pub(crate) fn arm_client(config: &Config) -> anyhow::Result<ArmClient> {
    let login = config.login()?;
    let tls = ClientOptions {
        ca_file: config::trusted_ca(None, config.ca_file.as_deref()),
        ..ClientOptions::default()
    };
    let credential = ClientSecretCredential::new(
        login.authority,
        login.tenant_id,
        login.client_id,
        login.client_secret,
        Some(ClientSecretCredentialOptions {
            client_options: tls.clone(),
        }),
    )?;
    Ok(ArmClient::new(
        login.server,
        credential,
        Some(ArmClientOptions::from(tls)),
    )?)
}
