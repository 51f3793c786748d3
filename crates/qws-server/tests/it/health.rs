//! `/readyz` tells a load balancer whether this node can work: 503 while the job-data store is
//! unreachable, 200 again once it is back. `/healthz` only says the process answers.

use crate::common::*;

#[tokio::test]
async fn readyz_fails_while_the_blob_store_is_unreachable() {
    let t = TestServer::start().await;
    let http = reqwest::Client::new();
    let ready = || async {
        let r = http
            .get(format!("{}/readyz", t.http_url()))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(ready().await.0, 200);

    let blobs = t.data_dir().join("blobs");
    let away = t.data_dir().join("blobs-away");
    std::fs::rename(&blobs, &away).unwrap();
    let (status, body) = ready().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"]["blobStore"], "unavailable", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    let alive = http
        .get(format!("{}/healthz", t.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(alive.status(), 200, "alive all the same");

    std::fs::rename(&away, &blobs).unwrap();
    assert_eq!(ready().await.0, 200);
}
