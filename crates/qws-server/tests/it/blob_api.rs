//! The blob subset against a real server: uploads, ranged downloads, blocks, listing, container
//! calls, routing next to the ARM 404, and durability across a restart.

use crate::common::blob::*;
use crate::common::{url_encode, TestServer};
use reqwest::Method;

const XMS: &str = "2026-10-06";

#[tokio::test]
async fn upload_download_round_trip_with_ranges_and_conditions() {
    let t = TestServer::start().await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-round", "racwl");
    assert!(sas.starts_with(&format!(
        "http://127.1:{}/job-round?",
        t.srv().http_addr.port()
    )));
    let url = blob_in(&sas, "inputData");
    let payload = br#"{"qubits":2,"circuit":[{"gate":"h","targets":[0]}]}"#;
    let r = t
        .http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .header("x-ms-blob-content-type", "application/json")
        .header("x-ms-blob-content-encoding", "identity")
        .header("x-ms-meta-purpose", "test")
        .header("if-none-match", "*")
        .header("x-ms-version", XMS)
        .header("content-type", "application/octet-stream")
        .body(payload.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with("\"0x"), "{etag}");
    assert!(r.headers().contains_key("last-modified"));
    assert_eq!(r.headers()["x-ms-request-server-encrypted"], "true");
    assert_eq!(r.headers()["x-ms-version"], XMS);
    // Content-MD5 of the payload, as Azure computes it for single-shot uploads.
    let md5 = r.headers()["content-md5"].to_str().unwrap().to_string();
    assert_eq!(md5, "wG5uNRyi1ovm2PJ/4Fzjzg==");
    let r = t
        .http
        .put(blob_in(&sas, "md5-checked"))
        .header("x-ms-blob-type", "BlockBlob")
        .header("content-md5", "AAAAAAAAAAAAAAAAAAAAAA==")
        .body(payload.to_vec())
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 400, "Md5Mismatch").await;
    let r = t
        .http
        .put(blob_in(&sas, "md5-checked"))
        .header("x-ms-blob-type", "BlockBlob")
        .header("content-md5", &md5)
        .body(payload.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // The SDK's first download: a 32 MiB range, answered 206 with Content-Range.
    let r = t
        .http
        .get(&url)
        .header("x-ms-range", "bytes=0-33554431")
        .header("x-ms-version", XMS)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    let h = r.headers().clone();
    assert_eq!(
        h["content-range"],
        format!("bytes 0-{}/{}", payload.len() - 1, payload.len()).as_str()
    );
    assert_eq!(h["etag"], etag.as_str());
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["content-encoding"], "identity");
    assert_eq!(h["accept-ranges"], "bytes");
    assert_eq!(h["x-ms-blob-type"], "BlockBlob");
    assert_eq!(h["x-ms-meta-purpose"], "test");
    assert!(h.contains_key("x-ms-creation-time"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), payload);

    // A middle range, with the ETag the SDK sends on follow-up chunks.
    let r = t
        .http
        .get(&url)
        .header("x-ms-range", "bytes=2-8")
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 2-8/{}", payload.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), &payload[2..=8]);
    // Standard Range header and suffix ranges work too.
    let r = t
        .http
        .get(&url)
        .header("range", "bytes=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.bytes().await.unwrap().as_ref(),
        &payload[payload.len() - 3..]
    );

    // Full download.
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("content-range"));
    assert_eq!(r.bytes().await.unwrap().as_ref(), payload);

    // HEAD: properties without a body.
    let r = t.http.head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-length"],
        payload.len().to_string().as_str()
    );
    assert_eq!(r.headers()["etag"], etag.as_str());
    assert!(r.bytes().await.unwrap().is_empty());

    // Unsatisfiable range, stale ETag, and If-None-Match on an existing blob.
    let r = t
        .http
        .get(&url)
        .header("x-ms-range", "bytes=1000-2000")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes */{}", payload.len()).as_str()
    );
    expect_xml_error(r, 416, "InvalidRange").await;
    let r = t
        .http
        .get(&url)
        .header("if-match", "\"0x1\"")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 412, "ConditionNotMet").await;
    let r = t
        .http
        .get(&url)
        .header("x-ms-range", "bytes=x-y")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 400, "InvalidHeaderValue").await;
    let r = t
        .http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .header("if-none-match", "*")
        .body("again")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 409, "BlobAlreadyExists").await;
    // The original survived the refused overwrite.
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().as_ref(), payload);

    // Unconditional overwrite replaces content and ETag, keeps the creation time.
    let created = t.http.head(&url).send().await.unwrap().headers()["x-ms-creation-time"].clone();
    let r = t
        .http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .body("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_ne!(r.headers()["etag"], etag.as_str());
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.headers()["x-ms-creation-time"], created);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.text().await.unwrap(), "v2");

    // Missing blobs and containers.
    let r = t.http.get(blob_in(&sas, "nope")).send().await.unwrap();
    expect_xml_error(r, 404, "BlobNotFound").await;
    let r = t.http.put(&url).body("no type").send().await.unwrap();
    expect_xml_error(r, 400, "MissingRequiredHeader").await;
    let r = t
        .http
        .put(&url)
        .header("x-ms-blob-type", "PageBlob")
        .body("x")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 400, "InvalidHeaderValue").await;

    // Empty blobs: a range GET is unsatisfiable (the SDK then downloads without a range).
    let empty = blob_in(&sas, "empty");
    let r = t
        .http
        .put(&empty)
        .header("x-ms-blob-type", "BlockBlob")
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = t
        .http
        .get(&empty)
        .header("x-ms-range", "bytes=0-100")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 416, "InvalidRange").await;
    let r = t.http.get(&empty).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.unwrap().is_empty());

    // Delete needs `d`.
    let r = t.http.delete(&empty).send().await.unwrap();
    expect_xml_error(r, 403, "AuthorizationPermissionMismatch").await;
    let del = container_sas(&t, &uid, "job-round", "rd");
    let r = t.http.delete(blob_in(&del, "empty")).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let r = t.http.get(&empty).send().await.unwrap();
    expect_xml_error(r, 404, "BlobNotFound").await;
}

fn block_id(n: u32) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("block-{n:06}"))
}

#[tokio::test]
async fn large_upload_through_blocks_and_block_list_errors() {
    let t = TestServer::start().await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-blocks", "racwl");
    let url = blob_in(&sas, "big/input.bin");
    let chunk = 1024 * 1024;
    let data: Vec<u8> = (0..5 * chunk + 123).map(|i| (i * 31 % 251) as u8).collect();
    let mut ids = Vec::new();
    for (n, part) in data.chunks(chunk).enumerate() {
        let id = block_id(n as u32);
        let r = t
            .http
            .put(with_query(
                &url,
                &format!("comp=block&blockid={}", url_encode(&id)),
            ))
            .body(part.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        ids.push(id);
    }
    // Not visible before the block list is committed.
    let r = t.http.get(&url).send().await.unwrap();
    expect_xml_error(r, 404, "BlobNotFound").await;
    let list = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>{}</BlockList>",
        ids.iter()
            .map(|i| format!("<Latest>{i}</Latest>"))
            .collect::<String>()
    );
    let r = t
        .http
        .put(with_query(&url, "comp=blocklist"))
        .header("x-ms-blob-content-type", "application/x-test")
        .body(list.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("etag"));
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-test");
    assert_eq!(r.bytes().await.unwrap().as_ref(), data.as_slice());

    // Uncommitted blocks were consumed: listing them again as Uncommitted fails.
    let uncommitted = list.replace("Latest>", "Uncommitted>");
    let r = t
        .http
        .put(with_query(&url, "comp=blocklist"))
        .body(uncommitted)
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 400, "InvalidBlockList").await;
    // Committed blocks can be reused (reordered).
    let reordered = format!(
        "<BlockList><Committed>{}</Committed><Committed>{}</Committed></BlockList>",
        ids[1], ids[0]
    );
    let r = t
        .http
        .put(with_query(&url, "comp=blocklist"))
        .body(reordered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let got = t
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..chunk], &data[chunk..2 * chunk]);
    assert_eq!(&got[chunk..], &data[..chunk]);

    // Malformed XML names the position; bad block ids are rejected.
    for bad in [
        "<BlockList><Latest>abc</Latest>",
        "<BlockList><Oops>x</Oops></BlockList>",
        "not xml",
    ] {
        let r = t
            .http
            .put(with_query(&url, "comp=blocklist"))
            .body(bad)
            .send()
            .await
            .unwrap();
        let body = expect_xml_error(r, 400, "InvalidXmlDocument").await;
        assert!(body.contains("byte"), "{body}");
    }
    let r = t
        .http
        .put(with_query(&url, "comp=block&blockid=%21%21"))
        .body("x")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 400, "InvalidQueryParameterValue").await;
    let r = t
        .http
        .put(with_query(&url, "comp=block"))
        .body("x")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 400, "MissingRequiredQueryParameter").await;
    let r = t
        .http
        .put(with_query(&url, "comp=blocklist"))
        .body(format!(
            "<BlockList><Latest>{}</Latest><Latest>QQ==</Latest></BlockList>",
            ids[0]
        ))
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 400, "InvalidBlockList").await;
}

#[tokio::test]
async fn list_blobs_xml_paging_and_container_calls() {
    let t = TestServer::start().await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-list", "racwl");
    for (name, body) in [
        ("inputData", "{}"),
        ("attach/b", "bb"),
        ("attach/a", "a"),
        ("x&<y>", "xy"),
    ] {
        let r = t
            .http
            .put(blob_in(&sas, &url_encode(name)))
            .header("x-ms-blob-type", "BlockBlob")
            .header("x-ms-blob-content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{name}");
    }
    let list = |extra: &str| with_query(&sas, &format!("restype=container&comp=list{extra}"));
    let r = t.http.get(list("")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/xml");
    let x = r.text().await.unwrap();
    assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"http://127.1:"));
    assert!(x.contains("ContainerName=\"job-list\""));
    let names: Vec<&str> = x
        .split("<Name>")
        .skip(1)
        .map(|s| s.split("</Name>").next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["attach/a", "attach/b", "inputData", "x&amp;&lt;y&gt;"]
    );
    assert!(x.contains(
        "<Content-Length>2</Content-Length><Content-Type>application/json</Content-Type>"
    ));
    assert!(x.contains("<BlobType>BlockBlob</BlobType>"));
    assert!(x.contains("<Etag>0x"));
    assert!(x.ends_with("<NextMarker /></EnumerationResults>"));

    let x = t
        .http
        .get(list("&prefix=attach%2F&maxresults=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(x.contains("<Prefix>attach/</Prefix>"));
    assert!(x.contains("<MaxResults>1</MaxResults>"));
    assert!(x.contains("<Name>attach/a</Name>"));
    assert!(x.contains("<NextMarker>attach/b</NextMarker>"));
    let x = t
        .http
        .get(list("&prefix=attach%2F&maxresults=1&marker=attach%2Fb"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        x.contains("<Name>attach/b</Name>") && x.contains("<NextMarker />"),
        "{x}"
    );
    let r = t.http.get(list("&maxresults=0")).send().await.unwrap();
    expect_xml_error(r, 400, "OutOfRangeQueryParameterValue").await;
    // Listing needs `l`.
    let no_list = container_sas(&t, &uid, "job-list", "rw");
    let r = t
        .http
        .get(with_query(&no_list, "restype=container&comp=list"))
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 403, "AuthorizationPermissionMismatch").await;

    // Container properties and creation through a SAS.
    let r = t
        .http
        .get(with_query(&sas, "restype=container"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-ms-lease-state"], "available");
    let fresh = qws_server::planes::blob::mint_container_sas(
        &t.srv().state,
        &uid,
        &primary_holder(&t, &uid),
        "job-fresh",
        "racwl",
        time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    );
    let r = t
        .http
        .get(with_query(&fresh, "restype=container"))
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 404, "ContainerNotFound").await;
    let r = t
        .http
        .put(blob_in(&fresh, "x"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("x")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 404, "ContainerNotFound").await;
    let r = t
        .http
        .put(with_query(&fresh, "restype=container"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = t
        .http
        .put(with_query(&fresh, "restype=container"))
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 409, "ContainerAlreadyExists").await;
    let r = t
        .http
        .get(with_query(&fresh, "restype=container&comp=list"))
        .send()
        .await
        .unwrap();
    let x = r.text().await.unwrap();
    assert!(x.contains("<Blobs></Blobs>"), "{x}");
}

#[tokio::test]
async fn routing_keeps_arm_404_and_refuses_shared_key() {
    let t = TestServer::start().await;
    // No blob signal: the ARM 404 stays.
    let r = t
        .http
        .get(format!("{}/job-x/inputData", t.http_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "NotFound");
    let r = t
        .http
        .get(format!(
            "{}/subscriptions/x/nothing?sv=1&sig=2",
            t.http_url()
        ))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["error"]["code"].is_string());
    // Blob-looking requests without a SAS get storage XML.
    let r = t
        .http
        .get(format!("{}/job-x/inputData", t.http_url()))
        .header("x-ms-version", XMS)
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 403, "NoAuthenticationInformation").await;
    let r = t
        .http
        .request(
            Method::PUT,
            format!("{}/devstoreaccount1/job-x?restype=container", t.http_url()),
        )
        .header("authorization", "SharedKey devstoreaccount1:abc")
        .header("x-ms-version", XMS)
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 403, "KeyBasedAuthenticationNotPermitted").await;
    // The HTTPS listener serves blobs as well.
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-tls", "racwl");
    let https = sas.replace(
        &format!("http://127.1:{}", t.srv().http_addr.port()),
        &t.https_url(),
    );
    let r = t
        .https
        .put(blob_in(&https, "inputData"))
        .header("x-ms-blob-type", "BlockBlob")
        .body("over tls")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = t.http.get(blob_in(&sas, "inputData")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "over tls");
}

#[tokio::test]
async fn job_data_survives_a_restart() {
    let t = TestServer::start().await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-durable", "racwl");
    let url = blob_in(&sas, "outputData");
    let r = t
        .http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .header("x-ms-blob-content-type", "application/json")
        .body(r#"{"histogram":{"00":0.5,"11":0.5}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let etag = r.headers()["etag"].clone();
    let container_headers = |r: &reqwest::Response| {
        assert_eq!(r.status(), 200);
        (
            r.headers()["etag"].clone(),
            r.headers()["last-modified"].clone(),
        )
    };
    let r = t
        .http
        .get(with_query(&sas, "restype=container"))
        .send()
        .await
        .unwrap();
    let container_before = container_headers(&r);
    let dir = t.stop().await;
    let t = TestServer::start_in(dir, |_| {}).await;
    // The port changed; the SAS (same master key) is still valid on the new listener.
    let port_now = t.srv().http_addr.port();
    let q = query_of(&url);
    let moved = format!("http://127.1:{port_now}/job-durable/outputData?{q}");
    // The container's properties (derived from its directory) are the same after the restart.
    let r = t
        .http
        .get(format!(
            "http://127.1:{port_now}/job-durable?{q}&restype=container"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(container_headers(&r), container_before);
    let r = t
        .http
        .get(&moved)
        .header("x-ms-range", "bytes=0-33554431")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["etag"], etag);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"histogram":{"00":0.5,"11":0.5}}"#
    );
    // Blob and container calls of the library agree.
    let (data, props) = t
        .srv()
        .state
        .blobs
        .get_blob(&uid, "job-durable", "outputData")
        .unwrap()
        .unwrap();
    assert_eq!(props.length as usize, data.len());
    assert_eq!(
        qws_server::planes::blob::parse_blob_url(&moved),
        Some(("job-durable".to_string(), Some("outputData".to_string())))
    );
}
