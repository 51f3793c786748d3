//! Build a workspace through ARM with a service principal, like the docs' snippet
//!
//! ```python
//! workspace = Workspace(resource_id=resource_id, credential=ClientSecretCredential(...))
//! ```
//!
//! With a qws server, the values are in its `bootstrap.json`:
//! `cargo run -p qws-client --example arm_lookup -- .qws/bootstrap.json`

use qws_client::{ClientOptions, Credential, Workspace, WorkspaceOptions};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| ".qws/bootstrap.json".to_owned());
    let b: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let s = |k: &str| b[k].as_str().unwrap_or_default().to_owned();
    let tls = ClientOptions::with_ca_file(s("caFile"));
    let credential = Credential::client_secret(
        &s("authority"),
        &s("tenantId"),
        &s("clientId"),
        s("clientSecret"),
        Some(tls.clone()),
    )?;
    let resource_id = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Quantum/Workspaces/{}",
        s("subscriptionId"),
        s("resourceGroup"),
        s("workspaceName")
    );
    let workspace = Workspace::builder()
        .resource_id(resource_id)
        .arm_endpoint(s("armEndpoint"))
        .credential(credential)
        .options(WorkspaceOptions::from(tls))
        .build()
        .await?;
    println!("{} at {}", workspace.resource_id(), workspace.endpoint());
    let targets = workspace.targets(None).await?;
    println!("{} targets", targets.len());
    Ok(())
}
