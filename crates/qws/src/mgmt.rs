//! Client commands (login, account, group, workspace, …).

#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Sign in to a qws server.
    Login,
}

pub fn run(_cmd: ClientCommand) -> anyhow::Result<()> {
    anyhow::bail!("not implemented yet")
}
