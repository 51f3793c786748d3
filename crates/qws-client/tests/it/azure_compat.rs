//! The SDK unchanged against the Azure host names: a server in `--azure-compat` mode hands out
//! connection strings with `QuantumEndpoint=https://eastus.quantum.azure.com/`, and with
//! `HTTPS_PROXY` set to its proxy the SDK reaches it exactly as it would reach Azure Quantum (and
//! ARM at the default `https://management.azure.com/`).
//!
//! The proxy environment variables are process-wide, so the test runs in a process of its own,
//! where it sets them before any client exists.

use std::time::Duration;

use crate::common::own_process::in_own_process;
use crate::common::Server;
use qws_client::jobs::{SubmitJobOptions, WaitOptions};
use qws_client::{Workspace, WorkspaceOptions};

const BELL_QASM: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";

#[tokio::test]
async fn canonical_connection_strings_and_arm_work_through_the_proxy() {
    if !in_own_process("azure_compat::canonical_connection_strings_and_arm_work_through_the_proxy")
    {
        return;
    }
    let server = Server::start_with(|config| config.listeners.azure_compat = true).await;
    let proxy = server.s("proxyUrl");
    assert!(proxy.starts_with("http://127.0.0.1:"), "{proxy}");
    // reqwest reads the standard proxy variables, as requests does for the Python client.
    std::env::set_var("HTTPS_PROXY", &proxy);
    std::env::set_var("NO_PROXY", "127.0.0.1,127.1,localhost");

    let cs = server.s("primaryConnectionString");
    assert!(
        cs.ends_with(";QuantumEndpoint=https://eastus.quantum.azure.com/;"),
        "{cs}"
    );
    let options = WorkspaceOptions::from(server.tls());
    let ws = Workspace::from_connection_string_with_options(&cs, Some(options.clone())).unwrap();
    assert_eq!(ws.location(), "eastus");
    assert!(ws
        .targets(None)
        .await
        .unwrap()
        .iter()
        .any(|t| t.id == "quantinuum.sim.h2-1e"));
    let job = ws
        .submit_job(
            "quantinuum.sim.h2-1e",
            BELL_QASM.as_bytes().to_vec(),
            Some(SubmitJobOptions {
                shots: Some(50),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let done = ws
        .wait_for_job(
            job.id.as_deref().unwrap(),
            Some(WaitOptions {
                timeout: Duration::from_secs(120),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let counts = ws.job_results(&done).await.unwrap().counts.unwrap();
    assert_eq!(counts.values().sum::<u64>(), 50);

    // ARM at its default address (management.azure.com, through the proxy); the token service
    // is reached directly.
    let by_name = Workspace::builder()
        .name(server.s("workspaceName"))
        .credential(server.service_principal())
        .options(options)
        .build()
        .await
        .unwrap();
    assert_eq!(by_name.subscription_id(), server.s("subscriptionId"));
    assert!(!by_name.targets(None).await.unwrap().is_empty());
    server.stop().await;
}
