//! `QWS_MASTER_KEY` instead of a master key file, and a wrong master key refusing to start.
//! Environment variables are process-wide, so this test runs in a process of its own.

use crate::common::own_process::in_own_process;
use base64::Engine;

#[tokio::test]
async fn master_key_from_the_environment() {
    if !in_own_process("master_key::master_key_from_the_environment") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 32]);
    std::env::set_var("QWS_MASTER_KEY", &key);
    let s = qws_server::start(qws_server::ServerConfig::ephemeral(&data))
        .await
        .unwrap();
    s.shutdown().await;
    assert!(
        !data.join("master.key").exists(),
        "no key file when the environment supplies it"
    );

    // Restart with the same key works; a different key is refused with a clear error.
    let s = qws_server::start(qws_server::ServerConfig::ephemeral(&data))
        .await
        .unwrap();
    s.shutdown().await;
    std::env::set_var(
        "QWS_MASTER_KEY",
        base64::engine::general_purpose::STANDARD.encode([7u8; 32]),
    );
    let err = format!(
        "{:#}",
        qws_server::start(qws_server::ServerConfig::ephemeral(&data))
            .await
            .unwrap_err()
    );
    assert!(err.contains("master key"), "{err}");
    std::env::set_var("QWS_MASTER_KEY", "too-short");
    let err = format!(
        "{:#}",
        qws_server::start(qws_server::ServerConfig::ephemeral(&data))
            .await
            .unwrap_err()
    );
    assert!(err.contains("QWS_MASTER_KEY"), "{err}");
    std::env::remove_var("QWS_MASTER_KEY");
}
