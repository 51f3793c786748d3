//! Repeated slashes in a request path count as one, before routing, authentication and SAS checks:
//! Azure clients build `{endpoint}{resourceId}` with an endpoint ending in `/`.

use crate::common::blob::*;
use crate::common::dp::{Dp, DV};
use crate::common::{expect_error, TestServer};

/// `http://host:port//subscriptions/…` from a base `http://host:port/subscriptions/…`.
fn doubled(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    format!("{scheme}://{host}//{}", path.replace('/', "//"))
}

#[tokio::test]
async fn data_plane_with_key_and_arm_with_token_accept_doubled_slashes() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    let url = format!("{}/providerStatus?api-version={DV}", doubled(&dp.base));
    assert!(url.contains("//subscriptions//"), "{url}");
    let r = t
        .http
        .get(&url)
        .header("x-ms-quantum-api-key", &dp.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let token = t.mgmt_token().await;
    let ws = t.ws_path("qws", "dev");
    let r = t
        .http
        .get(format!(
            "{}/{ws}?api-version=2023-11-13-preview",
            t.http_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let r = t
        .http
        .get(format!(
            "{}//metadata//endpoints?api-version=2022-09-01",
            t.http_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.json::<serde_json::Value>().await.unwrap()["resourceManager"].is_string());
}

#[tokio::test]
async fn unknown_paths_keep_their_errors() {
    let t = TestServer::start().await;
    let r = t
        .http
        .get(format!("{}//no//such//thing", t.http_url()))
        .send()
        .await
        .unwrap();
    expect_error(r, 404, "NotFound").await;
    let token = t.mgmt_token().await;
    let r = t
        .http
        .get(format!(
            "{}//{}//nonsense?api-version=2023-11-13-preview",
            t.http_url(),
            t.ws_path("qws", "dev")
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn collapsing_cannot_reach_another_workspace() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "other").await;
    let a = Dp::new(&t).await;
    let b = Dp::of(&t, "qws", "other").await;
    b.submit("secret-job", crate::common::dp::BELL).await;
    let base_b = t.ws_path("qws", "other");
    // Every attempt uses A's key; none may list B's jobs.
    let attempts = [
        format!("{}//..//..//other//jobs", a.base),
        format!("{}/..//other/jobs", a.base),
        format!("{}%2F..%2F..%2Fother/jobs", a.base),
        format!("{}%2F%2Fother/jobs", a.base),
        format!("{}{base_b}//jobs", t.http_url()),
        format!("{}//{base_b}//jobs", t.http_url()),
    ];
    for url in attempts {
        let r = t
            .http
            .get(format!("{url}?api-version={DV}"))
            .header("x-ms-quantum-api-key", &a.key)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(!body.contains("secret-job"), "{url} leaked B: {body}");
        assert!(status >= 400, "{url} answered {status}: {body}");
    }
    // The same doubled path with B's own key does work (the attempts failed on the key, not
    // on the slashes).
    let r = t
        .http
        .get(format!("{}//{base_b}//jobs?api-version={DV}", t.http_url()))
        .header("x-ms-quantum-api-key", &b.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("secret-job"));
}

#[tokio::test]
async fn blob_sas_with_doubled_slashes_verifies_against_the_collapsed_path() {
    let t = TestServer::start().await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-dbl", "racwl");
    let (base, q) = sas.split_once('?').unwrap();
    let put = format!("{}//inputData?{q}", doubled(base));
    let r = t
        .http
        .put(&put)
        .header("x-ms-blob-type", "BlockBlob")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = t.http.get(blob_in(&sas, "inputData")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello");
    // A signature for another container still fails when slashes are doubled.
    let other = container_sas(&t, &uid, "job-else", "racwl");
    let (_, q_else) = other.split_once('?').unwrap();
    let r = t
        .http
        .get(format!("{}//inputData?{q_else}", doubled(base)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
