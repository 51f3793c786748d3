//! `qws group create|list|show|delete`.

use qws_client::arm::ResourceGroup;
use serde_json::Value;

use super::output::{self, Table};
use super::{GlobalArgs, Session};

/// `qws group …`.
#[derive(clap::Args)]
pub struct GroupArgs {
    #[command(subcommand)]
    command: GroupCommand,
    #[command(flatten)]
    global: GlobalArgs,
}

#[derive(clap::Args)]
struct NameArgs {
    /// Resource group name.
    #[arg(
        short = 'n',
        long = "name",
        visible_alias = "resource-group",
        short_alias = 'g'
    )]
    name: String,
    /// Subscription id (default: `qws account set`).
    #[arg(long)]
    subscription: Option<String>,
}

#[derive(clap::Subcommand)]
enum GroupCommand {
    /// Create (or update) a resource group.
    Create {
        #[command(flatten)]
        name: NameArgs,
        /// Location, e.g. eastus (default: the server's location).
        #[arg(short = 'l', long)]
        location: Option<String>,
    },
    /// List resource groups.
    List {
        /// Subscription id (default: `qws account set`).
        #[arg(long)]
        subscription: Option<String>,
    },
    /// Show one resource group.
    Show {
        #[command(flatten)]
        name: NameArgs,
    },
    /// Delete a resource group and every workspace in it.
    Delete {
        #[command(flatten)]
        name: NameArgs,
        /// Accepted for az compatibility; qws never prompts.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

pub async fn run(args: GroupArgs) -> anyhow::Result<()> {
    let session = Session::open()?;
    let out = args.global;
    match args.command {
        GroupCommand::Create { name, location } => {
            let sub = session.subscription(&name.subscription)?;
            let body = ResourceGroup {
                location: session.location(&location)?,
                ..ResourceGroup::default()
            };
            let group = session
                .arm
                .create_or_update_resource_group(&sub, &name.name, &body, None)
                .await?
                .json()?;
            print_groups(out, group.clone(), vec![group])
        }
        GroupCommand::List { subscription } => {
            let sub = session.subscription(&subscription)?;
            let groups = session
                .arm
                .list_resource_groups(&sub, None)?
                .collect_json()
                .await?;
            print_groups(out, Value::Array(groups.clone()), groups)
        }
        GroupCommand::Show { name } => {
            let sub = session.subscription(&name.subscription)?;
            let group = session
                .arm
                .get_resource_group(&sub, &name.name, None)
                .await?
                .json()?;
            print_groups(out, group.clone(), vec![group])
        }
        GroupCommand::Delete { name, yes: _ } => {
            let sub = session.subscription(&name.subscription)?;
            session
                .arm
                .delete_resource_group(&sub, &name.name, None)
                .await?;
            Ok(())
        }
    }
}

fn print_groups(global: GlobalArgs, json: Value, rows: Vec<Value>) -> anyhow::Result<()> {
    let columns = [
        ("Name", "/name"),
        ("Location", "/location"),
        ("ProvisioningState", "/properties/provisioningState"),
    ];
    output::print(global.output, &json, &Table::of(&columns, &rows))
}
