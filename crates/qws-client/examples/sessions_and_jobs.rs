//! Sessions, job listing and quotas, like the docs' snippets
//!
//! ```python
//! with target.open_session(name="my-session") as session:
//!     job = target.submit(circuit, shots=10)
//! for job in workspace.list_jobs(): print(job.id, job.details.status)
//! print(workspace.get_quotas())
//! ```
//!
//! `AZURE_QUANTUM_CONNECTION_STRING=… cargo run -p qws-client --example sessions_and_jobs`

use qws_client::jobs::{ListJobsOptions, SubmitJobOptions};
use qws_client::sessions::OpenSessionOptions;
use qws_client::Workspace;

const CIRCUIT: &str = r#"{"qubits":1,"circuit":[{"gate":"h","targets":[0]}]}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> qws_client::Result<()> {
    let workspace = Workspace::from_env()?;
    let session = workspace
        .open_session(
            "ionq.simulator",
            Some(OpenSessionOptions {
                name: Some("my-session".into()),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    let session_id = session.id.clone().unwrap_or_default();
    for _ in 0..2 {
        workspace
            .submit_job(
                "ionq.simulator",
                CIRCUIT.as_bytes().to_vec(),
                Some(SubmitJobOptions {
                    session_id: Some(session_id.clone()),
                    shots: Some(10),
                    ..Default::default()
                }),
            )
            .await?;
    }
    workspace.close_session(&session_id).await?;

    let mut pager = workspace.list_jobs(Some(ListJobsOptions {
        orderby: Some("CreationTime desc".into()),
        ..Default::default()
    }))?;
    while let Some(page) = pager.next_page().await {
        for job in page? {
            println!(
                "{} {} {}",
                job.id.unwrap_or_default(),
                job.target.unwrap_or_default(),
                job.status.unwrap_or_default()
            );
        }
    }
    for quota in workspace.list_quotas()?.collect().await? {
        println!(
            "{} {}: {}/{}",
            quota.provider_id.unwrap_or_default(),
            quota.dimension.unwrap_or_default(),
            quota.utilization.unwrap_or_default(),
            quota.limit.unwrap_or_default()
        );
    }
    Ok(())
}
