//! The management plane's 401 challenge names the authority Azure tools expect: Entra's public
//! host in `--azure-compat` mode (tools match `login.microsoftonline.com/<tenant>` to find the
//! tenant), qws's own URL otherwise.

use crate::common::TestServer;

async fn challenge(t: &TestServer) -> String {
    // As the editor extension discovers a subscription's tenant: an anonymous GET.
    let r = t
        .http
        .get(format!(
            "{}//subscriptions/{}?api-version=2020-01-01",
            t.http_url(),
            t.sub()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string()
}

fn tenant(t: &TestServer) -> String {
    t.srv().state.ids.tenant_id.clone()
}

#[tokio::test]
async fn azure_compat_names_the_entra_authority() {
    let t = TestServer::start_with(|c| c.listeners.azure_compat = true).await;
    let c = challenge(&t).await;
    assert!(
        c.contains(&format!(
            "authorization_uri=\"https://login.microsoftonline.com/{}\"",
            tenant(&t)
        )),
        "{c}"
    );
}

#[tokio::test]
async fn plain_mode_names_qws_itself() {
    let t = TestServer::start().await;
    let c = challenge(&t).await;
    assert!(
        c.contains(&format!(
            "authorization_uri=\"{}/{}\"",
            t.http_url(),
            tenant(&t)
        )),
        "{c}"
    );
    assert!(!c.contains("login.microsoftonline.com"), "{c}");
}

/// The data plane's challenge, for a request with no credential at all.
async fn data_plane_challenge(t: &TestServer) -> String {
    let r = t
        .http
        .get(format!(
            "{}{}/providerStatus?api-version=2026-01-15-preview",
            t.http_url(),
            t.ws_path("qws", "dev")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_data_plane_challenge_names_the_same_authority() {
    let t = TestServer::start_with(|c| c.listeners.azure_compat = true).await;
    let c = data_plane_challenge(&t).await;
    assert!(
        c.contains(&format!(
            "authorization_uri=\"https://login.microsoftonline.com/{}\"",
            tenant(&t)
        )),
        "{c}"
    );
    let t = TestServer::start().await;
    let c = data_plane_challenge(&t).await;
    assert!(!c.contains("login.microsoftonline.com"), "{c}");
    assert!(c.contains(&tenant(&t)), "{c}");
}
