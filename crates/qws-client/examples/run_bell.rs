//! Submit a Bell circuit and print its results, like the docs' OpenQASM snippet:
//!
//! ```python
//! target = workspace.get_targets("quantinuum.sim.h2-1e")
//! job = target.submit(bell_qasm, name="bell", shots=100)
//! print(job.get_results())
//! ```
//!
//! `AZURE_QUANTUM_CONNECTION_STRING=… cargo run -p qws-client --example run_bell [target]`

use qws_client::jobs::{SubmitJobOptions, WaitOptions};
use qws_client::Workspace;

const BELL: &str = "OPENQASM 2.0;
include \"qelib1.inc\";
qreg q[2];
creg c[2];
h q[0];
cx q[0],q[1];
measure q -> c;
";

#[tokio::main(flavor = "current_thread")]
async fn main() -> qws_client::Result<()> {
    let target = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "quantinuum.sim.h2-1e".to_owned());
    let workspace = Workspace::from_env()?;
    let job = workspace
        .submit_job(
            &target,
            BELL.as_bytes().to_vec(),
            Some(SubmitJobOptions {
                name: Some("bell".into()),
                shots: Some(100),
                ..Default::default()
            }),
        )
        .await?
        .into_model()?;
    let id = job.id.clone().unwrap_or_default();
    println!("submitted {id}");
    let job = workspace
        .wait_for_job(&id, Some(WaitOptions::default()))
        .await?;
    println!("status {}", job.status());
    let results = workspace.job_results(&job).await?;
    for (outcome, p) in &results.probabilities {
        println!("{outcome}: {p:.3}");
    }
    Ok(())
}
