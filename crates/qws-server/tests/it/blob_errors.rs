//! Blob error codes, each in the protocol's own shape: a bad container name given to the data
//! plane's `sasUri` (ARM JSON `InvalidBlobDetails`; the blob layer's `InvalidContainerName`
//! mapping is not reachable through any route), and `InvalidMetadata`, `UnsupportedHeader` and
//! `UnsupportedHttpVerb` from the blob endpoint (storage XML), none of which stores anything.

use crate::common::blob::*;
use crate::common::dp::Dp;
use crate::common::*;
use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_bad_container_name_for_a_sas_is_invalid_blob_details_in_json() {
    let t = TestServer::start().await;
    let dp = Dp::new(&t).await;
    for bad in ["Upper", "a", "under_score", "-lead", "x--double"] {
        let r = dp
            .call(
                Method::POST,
                "/storage/sasUri",
                Some(json!({"containerName": bad})),
            )
            .await;
        let e = expect_error(r, 400, "InvalidBlobDetails").await;
        let msg = e["error"]["message"].as_str().unwrap();
        assert!(msg.contains("container name is not valid"), "{bad}: {e}");
    }
}

#[tokio::test]
async fn blob_request_errors_are_storage_xml_and_change_nothing() {
    let t = TestServer::start().await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-errs", "racwld");
    let url = blob_in(&sas, "inputData");
    let put = |builder: reqwest::RequestBuilder| {
        builder
            .header("x-ms-blob-type", "BlockBlob")
            .body("payload")
    };

    // Metadata names must be identifiers, values ASCII.
    let r = put(t.http.put(&url))
        .header("x-ms-meta-1bad", "v")
        .send()
        .await
        .unwrap();
    let body = expect_xml_error(r, 400, "InvalidMetadata").await;
    assert!(body.contains("identifiers"), "{body}");
    let r = put(t.http.put(&url))
        .header(
            "x-ms-meta-name",
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )
        .send()
        .await
        .unwrap();
    let body = expect_xml_error(r, 400, "InvalidMetadata").await;
    assert!(body.contains("ASCII"), "{body}");

    // Both conditional headers at once.
    let r = put(t.http.put(&url))
        .header("if-match", "\"0x1\"")
        .header("if-none-match", "*")
        .send()
        .await
        .unwrap();
    let body = expect_xml_error(r, 400, "UnsupportedHeader").await;
    assert!(body.contains("If-Match"), "{body}");

    // None of them stored a blob.
    let r = t.http.get(&url).send().await.unwrap();
    expect_xml_error(r, 404, "BlobNotFound").await;

    // A verb the blob and container resources do not have.
    let r = t.http.patch(&url).send().await.unwrap();
    expect_xml_error(r, 405, "UnsupportedHttpVerb").await;
    let container = with_query(&sas, "restype=container");
    let r = t.http.post(&container).send().await.unwrap();
    expect_xml_error(r, 405, "UnsupportedHttpVerb").await;
}
