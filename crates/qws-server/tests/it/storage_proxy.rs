//! `{workspace}/storage/proxy`: blob requests relayed in-process to the blob named in
//! `x-proxy-to`, only for this workspace's own containers.

use crate::common::blob::*;
use crate::common::dp::{Dp, DV};
use crate::common::TestServer;
use reqwest::Method;
use serde_json::{json, Value};

/// A container SAS of the workspace behind `dp`, created through `storage/sasUri`.
async fn sas_for(dp: &Dp<'_>, container: &str) -> String {
    let r = dp
        .call(
            Method::POST,
            "/storage/sasUri",
            Some(json!({ "containerName": container })),
        )
        .await;
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["sasUri"]
        .as_str()
        .unwrap()
        .to_string()
}

fn proxy(dp: &Dp<'_>, m: Method, target: &str) -> reqwest::RequestBuilder {
    dp.t.http
        .request(m, format!("{}/storage/proxy?api-version={DV}", dp.base))
        .header("x-ms-quantum-api-key", &dp.key)
        .header("x-proxy-to", target)
}

#[tokio::test]
async fn upload_then_download_round_trips_with_ranges() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    let sas = sas_for(&dp, "job-proxy").await;
    let target = blob_in(&sas, "inputData");
    let r = proxy(&dp, Method::PUT, &target)
        .header("x-ms-blob-type", "BlockBlob")
        .header("Content-Type", "text/plain")
        .body("0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    let r = proxy(&dp, Method::GET, &target).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/plain");
    assert_eq!(r.text().await.unwrap(), "0123456789");

    // A target without any SAS works too: the workspace credential is what authorises.
    let bare = target.split('?').next().unwrap().to_string();
    for h in ["x-ms-range", "Range"] {
        let r = proxy(&dp, Method::GET, &bare)
            .header(h, "bytes=2-4")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206, "{h}");
        assert_eq!(r.text().await.unwrap(), "234");
    }
    // The editor extension's URL form: `{endpoint}{resourceId}` with a doubled slash.
    let url = format!(
        "{}/{}/storage/proxy?api-version={DV}",
        t.http_url(),
        t.ws_path("qws", "dev")
    );
    let r = t
        .http
        .get(url)
        .header("x-ms-quantum-api-key", &dp.key)
        .header("x-proxy-to", &target)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn missing_or_repeated_header_is_refused() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    let r =
        dp.t.http
            .get(format!("{}/storage/proxy?api-version={DV}", dp.base))
            .header("x-ms-quantum-api-key", &dp.key)
            .send()
            .await
            .unwrap();
    expect_xml_error(r, 400, "MissingRequiredHeader").await;
}

#[tokio::test]
async fn needs_this_workspaces_credential() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "other").await;
    let dp = Dp::new(&t).await;
    let other = Dp::of(&t, "qws", "other").await;
    let sas = sas_for(&dp, "job-mine").await;
    let target = blob_in(&sas, "inputData");
    let r = t
        .http
        .get(format!("{}/storage/proxy?api-version={DV}", dp.base))
        .header("x-proxy-to", &target)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The other workspace's key on this workspace's path: 401 like any wrong key.
    let r = t
        .http
        .get(format!("{}/storage/proxy?api-version={DV}", dp.base))
        .header("x-ms-quantum-api-key", &other.key)
        .header("x-proxy-to", &target)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn another_workspaces_container_is_refused() {
    let t = TestServer::start().await;
    t.create_workspace("qws", "other").await;
    let mine = Dp::new(&t).await;
    let other = Dp::of(&t, "qws", "other").await;
    let sas = sas_for(&other, "job-theirs").await;
    let target = blob_in(&sas, "inputData");
    let r = proxy(&other, Method::PUT, &target)
        .header("x-ms-blob-type", "BlockBlob")
        .body("secret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Even with the other workspace's valid SAS in the target, my key cannot read or overwrite it.
    let r = proxy(&mine, Method::GET, &target).send().await.unwrap();
    let body = expect_xml_error(r, 403, "AuthorizationFailure").await;
    assert!(!body.contains("secret"));
    let r = proxy(&mine, Method::PUT, &target)
        .header("x-ms-blob-type", "BlockBlob")
        .body("overwritten")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 403, "AuthorizationFailure").await;
    let r = proxy(&other, Method::GET, &target).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "secret");
    // A container nobody created is refused the same way.
    let r = proxy(
        &mine,
        Method::GET,
        &blob_in(&sas.replace("job-theirs", "job-nobody"), "x"),
    )
    .send()
    .await
    .unwrap();
    expect_xml_error(r, 403, "AuthorizationFailure").await;
}

#[tokio::test]
async fn foreign_hosts_and_non_blob_targets_are_refused() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    let sas = sas_for(&dp, "job-host").await;
    let own = blob_in(&sas, "inputData");
    let (_, path) = own.split_once("://").unwrap();
    let path = path.split_once('/').unwrap().1;
    let targets = [
        format!("http://169.254.169.254/{path}"),
        format!("https://example.invalid/{path}"),
        format!("http://127.0.0.2:{}/{path}", t.srv().http_addr.port()),
        "file:///etc/passwd".to_string(),
        // A container, not a blob.
        sas.clone(),
        // Dot segments never resolve into another container.
        own.replace("/inputData", "/../job-other/inputData"),
        "not a url".to_string(),
    ];
    for target in targets {
        let r = proxy(&dp, Method::GET, &target).send().await.unwrap();
        assert_eq!(r.status(), 400, "{target}");
        expect_xml_error(r, 400, "InvalidProxyTarget").await;
    }
}

#[tokio::test]
async fn oversize_upload_is_refused_with_the_blob_limit() {
    let t = TestServer::start_with(|c| c.blob.max_blob_size = 1024).await;
    let dp = Dp::new(&t).await;
    let sas = sas_for(&dp, "job-big").await;
    let target = blob_in(&sas, "inputData");
    let r = proxy(&dp, Method::PUT, &target)
        .header("x-ms-blob-type", "BlockBlob")
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 413, "RequestBodyTooLarge").await;
    let r = proxy(&dp, Method::GET, &target).send().await.unwrap();
    expect_xml_error(r, 404, "BlobNotFound").await;
    // Blob type is passed through: a missing one gets the blob service's own error.
    let r = proxy(&dp, Method::PUT, &target)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
