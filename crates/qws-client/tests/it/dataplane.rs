//! The SDK's data plane against a real qws server (started in-process on ephemeral loopback
//! ports with a temp data dir).

use std::time::Duration;

use crate::common::Server;

use qws_client::jobs::{JobFormat, ListJobsOptions, SubmitJobOptions, WaitOptions};
use qws_client::sessions::OpenSessionOptions;
use qws_client::targets::TargetsOptions;
use qws_client::{Workspace, WorkspaceOptions};

const BELL_QASM: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\nqreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n";
const BELL_IONQ: &str =
    r#"{"qubits":2,"circuit":[{"gate":"h","targets":[0]},{"gate":"cnot","control":0,"target":1}]}"#;

fn quick_wait() -> Option<WaitOptions> {
    Some(WaitOptions {
        timeout: Duration::from_secs(120),
        initial_interval: Duration::from_millis(50),
        max_interval: Duration::from_millis(500),
        progress: None,
    })
}

#[tokio::test]
async fn connection_string_targets_jobs_results_and_lists() {
    let server = Server::start().await;
    let ws = server.workspace();

    let targets = ws.targets(None).await.unwrap();
    assert!(targets.iter().any(|t| t.id == "ionq.simulator"));
    let ionq = ws
        .targets(Some(TargetsOptions {
            provider_id: Some("IONQ".into()),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert!(!ionq.is_empty());
    assert!(ionq
        .iter()
        .all(|t| t.provider_id.as_deref() == Some("ionq")));

    // OpenQASM on a Quantinuum target: counts of a Bell state.
    let job = ws
        .submit_job(
            "quantinuum.sim.h2-1e",
            BELL_QASM.as_bytes().to_vec(),
            Some(SubmitJobOptions {
                name: Some("bell-qasm".into()),
                shots: Some(200),
                tags: vec!["sdk-test".into()],
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let id = job.id.clone().unwrap();
    assert_eq!(
        job.input_data_format.as_deref(),
        Some("honeywell.openqasm.v1")
    );
    assert_eq!(job.input_params.as_ref().unwrap()["shots"], 200);
    // Job reads carry a freshly minted SAS: the path names the input blob.
    let input_uri = job.input_data_uri.as_deref().unwrap();
    let (input_path, sas) = input_uri.split_once('?').unwrap_or((input_uri, ""));
    assert!(
        input_path.ends_with(&format!("job-{id}/inputData")),
        "{input_uri}"
    );
    assert!(sas.contains("sig="), "{input_uri}");
    let done = ws.wait_for_job(&id, quick_wait()).await.unwrap();
    assert_eq!(done.status(), "Succeeded", "{:?}", done.error_data);
    let results = ws.job_results(&done).await.unwrap();
    let counts = results.counts.unwrap();
    assert_eq!(counts.values().sum::<u64>(), 200);
    // The H2-1 emulator is noisy (about 0.4% of Bell shots go wrong with its published
    // rates); the correlation still dominates.
    let correlated: u64 = counts
        .iter()
        .filter(|(k, _)| *k == "00" || *k == "11")
        .map(|(_, c)| c)
        .sum();
    assert!(correlated >= 150, "{counts:?}");

    // IonQ JSON: probabilities by basis-state index.
    let job = ws
        .submit_job(
            "ionq.simulator",
            BELL_IONQ.as_bytes().to_vec(),
            Some(SubmitJobOptions {
                format: Some(JobFormat::for_input_format("ionq.circuit.v1")),
                shots: Some(100),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let ionq_id = job.id.clone().unwrap();
    let done = ws.wait_for_job(&ionq_id, quick_wait()).await.unwrap();
    let results = ws.job_results(&done).await.unwrap();
    assert_eq!(results.format, "ionq.quantum-results.v1");
    let total: f64 = results.probabilities.values().sum();
    assert!((total - 1.0).abs() < 1e-6);
    assert!(results.probabilities.keys().all(|k| k == "0" || k == "3"));

    // With `wait`, the submission's answer is the ended job: its results read at once.
    let waited = ws
        .submit_job(
            "ionq.simulator",
            BELL_IONQ.as_bytes().to_vec(),
            Some(SubmitJobOptions {
                shots: Some(100),
                wait: Some(Duration::from_secs(60)),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    assert_eq!(
        waited.headers().get("preference-applied").unwrap(),
        "wait=60"
    );
    let waited = waited.into_model().unwrap();
    assert_eq!(waited.status(), "Succeeded", "{:?}", waited.error_data);
    let results = ws.job_results(&waited).await.unwrap();
    assert!(results.probabilities.keys().all(|k| k == "0" || k == "3"));
    ws.delete_job(waited.id.as_deref().unwrap()).await.unwrap();

    // Listing with a filter, then deleting.
    let listed = ws
        .list_jobs(Some(ListJobsOptions {
            name_prefix: Some("bell-".into()),
            ..Default::default()
        }))
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id.as_deref(), Some(id.as_str()));
    let all = ws.list_jobs(None).unwrap().collect().await.unwrap();
    assert_eq!(all.len(), 2);

    ws.delete_job(&ionq_id).await.unwrap();
    let gone = ws.get_job(&ionq_id).await.unwrap_err();
    assert_eq!(gone.status(), Some(404));
    server.stop().await;
}

#[tokio::test]
async fn failures_wrong_keys_and_timeouts_are_clear_errors() {
    let server = Server::start().await;
    let ws = server.workspace();

    // A bad program fails the job; asking for its results says why.
    let job = ws
        .submit_job(
            "quantinuum.sim.h2-1e",
            b"OPENQASM 2.0;\nqreg q[1];\nnot_a_gate q[0];\n".to_vec(),
            Some(SubmitJobOptions {
                shots: Some(10),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let done = ws
        .wait_for_job(job.id.as_deref().unwrap(), quick_wait())
        .await
        .unwrap();
    assert_eq!(done.status(), "Failed");
    let e = ws.job_results(&done).await.unwrap_err();
    assert_eq!(e.code(), Some("JobNotSucceeded"));

    // A zero timeout returns a Timeout error unless the job is already over.
    let job = ws
        .submit_job("ionq.simulator", BELL_IONQ.as_bytes().to_vec(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let r = ws
        .wait_for_job(
            job.id.as_deref().unwrap(),
            Some(WaitOptions {
                timeout: Duration::ZERO,
                ..Default::default()
            }),
        )
        .await;
    match r {
        Ok(j) => assert!(j.is_terminal()),
        Err(e) => assert_eq!(e.code(), Some("Timeout")),
    }

    // A wrong key is a 401 whose text never contains the key.
    let cs = server.s("primaryConnectionString");
    let key = cs
        .split(';')
        .find_map(|p| p.strip_prefix("ApiKey="))
        .unwrap()
        .to_owned();
    let wrong_key = format!("{}x", &key[..key.len() - 1]);
    let bad = Workspace::from_connection_string(&cs.replace(&key, &wrong_key)).unwrap();
    let e = bad.targets(None).await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    let shown = format!("{e} {e:?} {bad:?}");
    assert!(
        !shown.contains(&wrong_key) && !shown.contains(&key),
        "{shown}"
    );

    // Unknown jobs are 404s.
    let e = ws
        .get_job("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    server.stop().await;
}

#[tokio::test]
async fn arm_resolution_by_resource_id_triple_and_name() {
    let server = Server::start().await;
    let (sub, rg, name) = (
        server.s("subscriptionId"),
        server.s("resourceGroup"),
        server.s("workspaceName"),
    );
    let opts = WorkspaceOptions::from(server.tls());
    let by_id = Workspace::builder()
        .resource_id(format!(
            "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Quantum/Workspaces/{name}"
        ))
        .arm_endpoint(server.s("armEndpoint"))
        .credential(server.service_principal())
        .options(opts.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(by_id.location(), "eastus");
    assert_eq!(by_id.endpoint().as_str(), server.s("endpointUri"));
    assert!(!by_id.targets(None).await.unwrap().is_empty());

    let by_triple = Workspace::builder()
        .subscription_id(&sub)
        .resource_group(&rg)
        .name(&name)
        .location("East US")
        .arm_endpoint(server.s("armEndpoint"))
        .credential(server.service_principal())
        .options(opts.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(by_triple.resource_id(), by_id.resource_id());

    let by_name = Workspace::builder()
        .name(&name)
        .arm_endpoint(server.s("armEndpoint"))
        .credential(server.service_principal())
        .options(opts.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(by_name.subscription_id(), sub);
    assert_eq!(by_name.resource_group(), rg);
    // A job through the token-authenticated data plane.
    let job = by_name
        .submit_job("ionq.simulator", BELL_IONQ.as_bytes().to_vec(), None)
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let done = by_name
        .wait_for_job(job.id.as_deref().unwrap(), quick_wait())
        .await
        .unwrap();
    assert!(done.is_success());

    // A second workspace of the same name in another group makes the name ambiguous.
    let arm = qws_client::arm::ArmClient::new(
        &server.s("armEndpoint"),
        match server.service_principal() {
            qws_client::Credential::Token(t) => t,
            other => panic!("{other:?}"),
        },
        Some(server.tls().into()),
    )
    .unwrap();
    let group: qws_client::arm::ResourceGroup =
        serde_json::from_value(serde_json::json!({"location": "eastus"})).unwrap();
    arm.create_or_update_resource_group(&sub, "other-rg", &group, None)
        .await
        .unwrap();
    // Names are unique per region, so the twin that makes the name ambiguous lives elsewhere.
    let twin: qws_client::arm::Workspace =
        serde_json::from_value(serde_json::json!({"location": "westus", "properties": {}}))
            .unwrap();
    let created = arm
        .create_or_update_workspace(&sub, "other-rg", &name, &twin, None)
        .await;
    created.unwrap();
    let ambiguous = Workspace::builder()
        .name(&name)
        .arm_endpoint(server.s("armEndpoint"))
        .credential(server.service_principal())
        .options(opts.clone())
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        ambiguous.code(),
        Some("AmbiguousWorkspaceName"),
        "{ambiguous}"
    );
    assert!(ambiguous.message().contains("other-rg"), "{ambiguous}");

    let missing = Workspace::builder()
        .name("nosuchworkspace")
        .arm_endpoint(server.s("armEndpoint"))
        .credential(server.service_principal())
        .options(opts.clone())
        .build()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("WorkspaceNotFound"), "{missing}");

    let missing = Workspace::builder()
        .subscription_id(&sub)
        .resource_group(&rg)
        .name("nosuchworkspace")
        .arm_endpoint(server.s("armEndpoint"))
        .credential(server.service_principal())
        .options(opts)
        .build()
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(404), "{missing}");
    server.stop().await;
}

#[tokio::test]
async fn sessions_and_quotas() {
    let server = Server::start().await;
    let ws = server.workspace();
    let session = ws
        .open_session(
            "ionq.simulator",
            Some(OpenSessionOptions {
                name: Some("my-session".into()),
                job_failure_policy: Some("Abort".into()),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    let sid = session.id.clone().unwrap();
    assert_eq!(session.item_type.as_deref(), Some("Session"));
    let job = ws
        .submit_job(
            "ionq.simulator",
            BELL_IONQ.as_bytes().to_vec(),
            Some(SubmitJobOptions {
                session_id: Some(sid.clone()),
                ..Default::default()
            }),
        )
        .await
        .unwrap()
        .into_model()
        .unwrap();
    assert_eq!(job.session_id.as_deref(), Some(sid.as_str()));
    let in_session = ws.list_session_jobs(&sid).unwrap().collect().await.unwrap();
    assert_eq!(in_session.len(), 1);
    let sessions = ws.list_sessions().unwrap().collect().await.unwrap();
    assert!(sessions
        .iter()
        .any(|s| s.id.as_deref() == Some(sid.as_str())));
    // Closing a session whose jobs did not fail ends it Succeeded, as read back.
    let closed = ws.close_session(&sid).await.unwrap().into_model().unwrap();
    assert_eq!(closed.id.as_deref(), Some(sid.as_str()));
    assert_eq!(closed.status.as_deref(), Some("Succeeded"), "{closed:?}");
    let again = ws.get_session(&sid).await.unwrap().into_model().unwrap();
    assert_eq!(again.id.as_deref(), Some(sid.as_str()));
    assert_eq!(again.status.as_deref(), Some("Succeeded"), "{again:?}");
    // One jobs quota per provider of the workspace, ionq's counting the job just submitted.
    let quotas = ws.list_quotas().unwrap().collect_json().await.unwrap();
    assert!(!quotas.is_empty());
    assert!(
        quotas.iter().all(|q| q["dimension"] == "jobs"),
        "{quotas:?}"
    );
    let ionq = quotas
        .iter()
        .find(|q| q["providerId"] == "ionq")
        .unwrap_or_else(|| panic!("no ionq quota in {quotas:?}"));
    assert!(ionq["utilization"].as_f64().unwrap() >= 1.0, "{ionq}");
    assert!(ionq["limit"].as_f64().unwrap() > 0.0, "{ionq}");
    server.stop().await;
}
