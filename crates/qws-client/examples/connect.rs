//! Connect to a workspace and list its targets, like the docs' first snippet:
//!
//! ```python
//! from azure.quantum import Workspace
//! workspace = Workspace.from_connection_string(connection_string)
//! for target in workspace.get_targets(): print(target.name)
//! ```
//!
//! Run with `AZURE_QUANTUM_CONNECTION_STRING` set (a qws server prints it on first start and
//! stores it as `primaryConnectionString` in `bootstrap.json`):
//! `cargo run -p qws-client --example connect`

use qws_client::Workspace;

#[tokio::main(flavor = "current_thread")]
async fn main() -> qws_client::Result<()> {
    let workspace = Workspace::from_env()?;
    println!(
        "workspace {} in {} at {}",
        workspace.name(),
        workspace.location(),
        workspace.endpoint()
    );
    for target in workspace.targets(None).await? {
        println!(
            "{:<32} {:<12} {:>6} s",
            target.id,
            target.current_availability.unwrap_or_default(),
            target.average_queue_time.unwrap_or_default()
        );
    }
    Ok(())
}
