//! Blob error paths that guard data: foreign, tampered, expired and under-privileged SAS tokens,
//! path traversal (checked on the file system too), oversized bodies, deleted workspaces.

use crate::common::blob::*;
use crate::common::TestServer;
use reqwest::Method;
use time::{Duration, OffsetDateTime};

async fn put(t: &TestServer, url: &str, body: &'static str) -> reqwest::Response {
    t.http
        .put(url)
        .header("x-ms-blob-type", "BlockBlob")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Replaces one query parameter's value.
fn set_param(url: &str, key: &str, value: &str) -> String {
    let (base, q) = url.split_once('?').unwrap();
    let q: Vec<String> = q
        .split('&')
        .map(|kv| {
            if kv.split('=').next() == Some(key) {
                format!("{key}={value}")
            } else {
                kv.to_string()
            }
        })
        .collect();
    format!("{base}?{}", q.join("&"))
}

fn param<'a>(url: &'a str, key: &str) -> &'a str {
    url.split_once('?')
        .unwrap()
        .1
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap()
}

#[tokio::test]
async fn a_sas_never_reaches_another_workspace() {
    let t = TestServer::start().await;
    t.create_group("rg-b").await;
    t.create_workspace("rg-b", "ws-b").await;
    let (a, b) = (bootstrap_uid(&t), ws_uid(&t, "rg-b", "ws-b"));
    assert_ne!(a, b);
    // Same container and blob names in both workspaces.
    let sas_a = container_sas(&t, &a, "job-same", "racwl");
    let sas_b = container_sas(&t, &b, "job-same", "racwl");
    assert_eq!(
        put(&t, &blob_in(&sas_a, "inputData"), "data of A")
            .await
            .status(),
        201
    );
    assert_eq!(
        put(&t, &blob_in(&sas_b, "inputData"), "data of B")
            .await
            .status(),
        201
    );
    let get = |u: String| {
        let c = t.http.clone();
        async move { c.get(u).send().await.unwrap() }
    };
    assert_eq!(
        get(blob_in(&sas_a, "inputData"))
            .await
            .text()
            .await
            .unwrap(),
        "data of A"
    );
    assert_eq!(
        get(blob_in(&sas_b, "inputData"))
            .await
            .text()
            .await
            .unwrap(),
        "data of B"
    );
    // A blob only in B is invisible to A.
    assert_eq!(
        put(&t, &blob_in(&sas_b, "only-b"), "secret").await.status(),
        201
    );
    expect_xml_error(get(blob_in(&sas_a, "only-b")).await, 404, "BlobNotFound").await;
    let list_a = t
        .http
        .get(with_query(&sas_a, "restype=container&comp=list"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!list_a.contains("only-b"), "{list_a}");
    // Re-pointing A's SAS at B (the workspace id is signed) is refused.
    let forged = set_param(&sas_a, "si", &b);
    expect_xml_error(
        get(blob_in(&forged, "inputData")).await,
        403,
        "AuthenticationFailed",
    )
    .await;
    expect_xml_error(
        put(&t, &blob_in(&forged, "x"), "x").await,
        403,
        "AuthenticationFailed",
    )
    .await;
    // Nor can a container SAS be moved to another container of the same workspace.
    let other = container_sas(&t, &a, "job-other", "racwl");
    assert_eq!(
        put(&t, &blob_in(&other, "inputData"), "other")
            .await
            .status(),
        201
    );
    let moved = sas_a.replace("/job-same?", "/job-other?");
    expect_xml_error(
        get(blob_in(&moved, "inputData")).await,
        403,
        "AuthenticationFailed",
    )
    .await;
    // On disk, each workspace has its own tree.
    let root = t.data_dir().join("blobs");
    assert!(root.join(&a).join("job-same").is_dir());
    assert!(root.join(&b).join("job-same").is_dir());
    assert_eq!(
        std::fs::read_dir(root.join(&b).join("job-same"))
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".blob"))
            .count(),
        2
    );
}

#[tokio::test]
async fn tampered_expired_and_underprivileged_tokens_are_refused() {
    let t = TestServer::start().await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-auth", "racwl");
    let url = blob_in(&sas, "inputData");
    assert_eq!(put(&t, &url, "payload").await.status(), 201);

    // Any change to a signed field, or to the signature, gives the same uniform 403.
    let sig = param(&url, "sig").to_string();
    let mut flipped = sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let variants = [
        set_param(&url, "sig", &String::from_utf8(flipped).unwrap()),
        set_param(&url, "sig", "not-base64!"),
        set_param(&url, "sig", ""),
        set_param(&url, "sp", "racwdl"),
        set_param(&url, "se", "2099-01-01T00%3A00%3A00Z"),
        set_param(&url, "st", "2000-01-01T00%3A00%3A00Z"),
        set_param(&url, "sv", "2020-01-01"),
        set_param(&url, "sr", "b"),
        set_param(&url, "si", "00000000-0000-0000-0000-000000000000"),
        url.replace("&sig=", "&x=1&sig=")
            .replace(&format!("sig={sig}"), "sig="),
        format!("{url}&sig={sig}"),
        url.replace(&format!("&sig={sig}"), ""),
    ];
    let mut messages = std::collections::BTreeSet::new();
    for v in &variants {
        let r = t.http.get(v).send().await.unwrap();
        let body = expect_xml_error(r, 403, "AuthenticationFailed").await;
        messages.insert(body);
    }
    assert_eq!(messages.len(), 1, "uniform message: {messages:?}");

    // Expired (and not-yet-valid) tokens.
    let expired = qws_server::planes::blob::mint_container_sas(
        &t.srv().state,
        &uid,
        &primary_holder(&t, &uid),
        "job-auth",
        "racwl",
        OffsetDateTime::now_utc() - Duration::seconds(1),
    );
    let r = t
        .http
        .get(blob_in(&expired, "inputData"))
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 403, "AuthenticationFailed").await;
    let r = put(&t, &blob_in(&expired, "new"), "x").await;
    expect_xml_error(r, 403, "AuthenticationFailed").await;

    // A blob SAS is for that blob only.
    let blob_sas = qws_server::planes::blob::mint_blob_sas(
        &t.srv().state,
        &uid,
        &primary_holder(&t, &uid),
        "job-auth",
        "inputData",
        "r",
        OffsetDateTime::now_utc() + Duration::minutes(10),
    );
    assert_eq!(
        t.http
            .get(&blob_sas)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "payload"
    );
    assert_eq!(put(&t, &blob_in(&sas, "other"), "o").await.status(), 201);
    let other = blob_sas.replace("/inputData?", "/other?");
    expect_xml_error(
        t.http.get(&other).send().await.unwrap(),
        403,
        "AuthenticationFailed",
    )
    .await;
    let container_call = blob_sas.replace("/inputData?", "?") + "&restype=container&comp=list";
    expect_xml_error(
        t.http.get(&container_call).send().await.unwrap(),
        403,
        "AuthenticationFailed",
    )
    .await;

    // Missing permissions: read-only cannot write, write-only cannot read.
    let read_only = container_sas(&t, &uid, "job-auth", "r");
    let r = put(&t, &blob_in(&read_only, "inputData"), "overwrite").await;
    expect_xml_error(r, 403, "AuthorizationPermissionMismatch").await;
    let r = t
        .http
        .put(with_query(
            &blob_in(&read_only, "b"),
            "comp=block&blockid=QUFB",
        ))
        .body("x")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 403, "AuthorizationPermissionMismatch").await;
    let r = t
        .http
        .put(with_query(&blob_in(&read_only, "b"), "comp=blocklist"))
        .body("<BlockList></BlockList>")
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 403, "AuthorizationPermissionMismatch").await;
    let write_only = container_sas(&t, &uid, "job-auth", "w");
    let r = t
        .http
        .get(blob_in(&write_only, "inputData"))
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 403, "AuthorizationPermissionMismatch").await;
    // Create-only may add new blobs but never overwrite.
    let create_only = container_sas(&t, &uid, "job-auth", "c");
    assert_eq!(
        put(&t, &blob_in(&create_only, "fresh"), "f").await.status(),
        201
    );
    let r = put(&t, &blob_in(&create_only, "inputData"), "overwrite").await;
    expect_xml_error(r, 403, "AuthorizationPermissionMismatch").await;
    for (h, v) in [("if-match", "*"), ("if-none-match", "\"0x1\"")] {
        let r = t
            .http
            .put(blob_in(&create_only, "inputData"))
            .header("x-ms-blob-type", "BlockBlob")
            .header(h, v)
            .body("overwrite")
            .send()
            .await
            .unwrap();
        expect_xml_error(r, 403, "AuthorizationPermissionMismatch").await;
    }
    // The data is untouched by all of the above.
    let r = t.http.get(&url).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "payload");
}

#[tokio::test]
async fn deleting_a_workspace_revokes_its_sas() {
    let t = TestServer::start().await;
    t.create_group("rg-d").await;
    t.create_workspace("rg-d", "ws-d").await;
    let uid = ws_uid(&t, "rg-d", "ws-d");
    let sas = container_sas(&t, &uid, "job-d", "racwl");
    assert_eq!(
        put(&t, &blob_in(&sas, "inputData"), "x").await.status(),
        201
    );
    let r = t
        .arm(Method::DELETE, &t.ws_path("rg-d", "ws-d"), None)
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let status = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    // Refused as soon as the deletion is accepted, before it finishes.
    let r = t.http.get(blob_in(&sas, "inputData")).send().await.unwrap();
    expect_xml_error(r, 403, "AuthenticationFailed").await;
    let token = t.mgmt_token().await;
    let s = t.https.get(status).bearer_auth(token).send().await.unwrap();
    assert_eq!(
        s.json::<serde_json::Value>().await.unwrap()["status"],
        "Succeeded"
    );
    let r = t.http.get(blob_in(&sas, "inputData")).send().await.unwrap();
    expect_xml_error(r, 403, "AuthenticationFailed").await;
    // Its data is gone from disk, and other workspaces keep theirs.
    assert!(!t.data_dir().join("blobs").join(&uid).exists());
    let keep = bootstrap_uid(&t);
    let kept = container_sas(&t, &keep, "job-keep", "racwl");
    assert_eq!(
        put(&t, &blob_in(&kept, "inputData"), "k").await.status(),
        201
    );
    // Deleting a resource group purges the data of its workspaces too.
    t.create_group("rg-e").await;
    t.create_workspace("rg-e", "ws-e").await;
    let uid_e = ws_uid(&t, "rg-e", "ws-e");
    let sas_e = container_sas(&t, &uid_e, "job-e", "racwl");
    assert_eq!(
        put(&t, &blob_in(&sas_e, "inputData"), "e").await.status(),
        201
    );
    let r = t.arm(Method::DELETE, &t.rg_path("rg-e"), None).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert!(!t.data_dir().join("blobs").join(&uid_e).exists());
    assert_eq!(
        t.http
            .get(blob_in(&kept, "inputData"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "k"
    );
}

#[tokio::test]
async fn path_traversal_cannot_escape_storage() {
    let t = TestServer::start().await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-trav", "racwl");
    let q = query_of(&sas);
    let addr = t.srv().http_addr;
    let before = files_under(t.dir.path());
    let host = format!("Host: 127.1:{}", addr.port());
    // Raw requests: these paths reach the server exactly as written.
    let paths = [
        "/job-trav/../../../../etc/passwd",
        "/job-trav/..%2F..%2F..%2Fescape",
        "/job-trav/%2e%2e/%2e%2e/escape",
        "/job-trav/a/%2E%2E/%2e%2e/escape",
        "/job-trav/./escape",
        "/job-trav/%2Ftmp%2Fescape",
        "/job-trav/a%5C..%5C..%5Cescape",
        "/job-trav/a%00b",
        "/job-trav/a%0Ab",
        "/job-trav/%FF%FE",
        "/..%2Fjob-trav/escape",
        "/%2e%2e/escape",
        "/job-trav%2F..%2F..%2Fescape",
    ];
    for p in paths {
        let r = raw(
            addr,
            &format!(
                "PUT {p}?{q} HTTP/1.1\r\n{host}\r\nx-ms-blob-type: BlockBlob\r\nx-ms-version: 2026-10-06\r\nContent-Length: 7"
            ),
            b"escaped",
        )
        .await;
        assert!(
            r.status == 400 || r.status == 403,
            "{p}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.header("x-ms-error-code").is_some(), "{p}");
        let r = raw(addr, &format!("GET {p}?{q} HTTP/1.1\r\n{host}"), b"").await;
        assert!(r.status == 400 || r.status == 403, "{p}: GET {}", r.status);
    }
    // Absolute-form and an over-long blob name.
    let r = raw(
        addr,
        &format!(
            "GET http://127.1:{}/job-trav/../x?{q} HTTP/1.1\r\n{host}",
            addr.port()
        ),
        b"",
    )
    .await;
    assert!(
        r.status == 400 || r.status == 403,
        "absolute form: {}",
        r.status
    );
    let long = "a".repeat(1025);
    let r = raw(
        addr,
        &format!("GET /job-trav/{long}?{q} HTTP/1.1\r\n{host}"),
        b"",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("x-ms-error-code"), Some("InvalidResourceName"));

    // Nothing was written anywhere: the only new file may be the container's description
    // (written where the file system keeps no creation times).
    let after = files_under(t.dir.path());
    let new: Vec<_> = after.iter().filter(|p| !before.contains(p)).collect();
    assert!(
        new.iter()
            .all(|p| p.ends_with("container.json") || p.ends_with("audit.log")),
        "{new:?}"
    );
    assert!(!t.dir.path().join("escape").exists());
    assert!(!t.data_dir().join("blobs").join("escape").exists());

    // Repeated slashes count as one (before the SAS check), so `//tmp/escape` is the blob
    // `tmp/escape` of this same container, never an absolute path.
    let r = raw(
        addr,
        &format!("PUT /job-trav//tmp//escape?{q} HTTP/1.1\r\n{host}\r\nx-ms-blob-type: BlockBlob\r\nx-ms-version: 2026-10-06\r\nContent-Length: 7"),
        b"inside!",
    )
    .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = t
        .http
        .get(blob_in(&sas, "tmp/escape"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "inside!");

    // Legal names with dots and encoded characters are stored under hashed file names.
    let weird = "dir/..a/b..c/%25literal%20percent";
    let r = t
        .http
        .put(blob_in(&sas, weird))
        .header("x-ms-blob-type", "BlockBlob")
        .body("fine")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = t.http.get(blob_in(&sas, weird)).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "fine");
    let container_dir = t.data_dir().join("blobs").join(&uid).join("job-trav");
    for f in files_under(&t.data_dir().join("blobs")) {
        assert!(f.starts_with(&container_dir), "{f:?}");
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            name == "container.json"
                || (name.starts_with("b-") && name.ends_with(".blob") && name.len() == 2 + 64 + 5),
            "{name}"
        );
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_and_leave_nothing_behind() {
    let t = TestServer::start_with(|c| {
        c.blob.max_blob_size = 64 * 1024;
        c.blob.max_block_size = 16 * 1024;
    })
    .await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-big", "racwl");
    let url = blob_in(&sas, "inputData");
    // Declared too large: refused before the body is read.
    let r = t
        .http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .body(vec![7u8; 64 * 1024 + 1])
        .send()
        .await
        .unwrap();
    let body = expect_xml_error(r, 413, "RequestBodyTooLarge").await;
    assert!(body.contains("65536"), "{body}");
    // Exactly at the bound is fine.
    let r = t
        .http
        .put(&url)
        .header("x-ms-blob-type", "BlockBlob")
        .body(vec![7u8; 64 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Chunked (no Content-Length): cut off while streaming.
    let addr = t.srv().http_addr;
    let q = query_of(&sas);
    let mut chunked = Vec::new();
    for _ in 0..80 {
        chunked.extend_from_slice(format!("{:x}\r\n", 1024).as_bytes());
        chunked.extend_from_slice(&[1u8; 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = raw(
        addr,
        &format!(
            "PUT /job-big/chunked?{q} HTTP/1.1\r\nHost: 127.1:{}\r\nx-ms-blob-type: BlockBlob\r\nTransfer-Encoding: chunked",
            addr.port()
        ),
        &chunked,
    )
    .await;
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-ms-error-code"), Some("RequestBodyTooLarge"));
    // Blocks have their own bound.
    let r = t
        .http
        .put(with_query(
            &blob_in(&sas, "blocks"),
            "comp=block&blockid=QUFB",
        ))
        .body(vec![0u8; 16 * 1024 + 1])
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 413, "RequestBodyTooLarge").await;
    // …and the committed size of a block list is bounded by the blob bound.
    for i in 0..5 {
        let id = format!("QUF{}", ["B", "C", "D", "E", "F"][i]);
        let r = t
            .http
            .put(with_query(
                &blob_in(&sas, "blocks"),
                &format!("comp=block&blockid={id}"),
            ))
            .body(vec![0u8; 16 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let list: String = ["B", "C", "D", "E", "F"]
        .iter()
        .map(|s| format!("<Latest>QUF{s}</Latest>"))
        .collect();
    let r = t
        .http
        .put(with_query(&blob_in(&sas, "blocks"), "comp=blocklist"))
        .body(format!("<BlockList>{list}</BlockList>"))
        .send()
        .await
        .unwrap();
    expect_xml_error(r, 413, "RequestBodyTooLarge").await;
    // Refused uploads left no temporary files and no blobs.
    let container = t.data_dir().join("blobs").join(&uid).join("job-big");
    assert_eq!(std::fs::read_dir(container.join("tmp")).unwrap().count(), 0);
    for name in ["chunked", "blocks"] {
        let r = t.http.get(blob_in(&sas, name)).send().await.unwrap();
        expect_xml_error(r, 404, "BlobNotFound").await;
    }
}

#[tokio::test]
async fn repeated_sas_failures_are_throttled_per_address() {
    let t = TestServer::start_with(|c| c.auth.failure_limit = 5).await;
    let uid = bootstrap_uid(&t);
    let sas = container_sas(&t, &uid, "job-throttle", "racwl");
    let good = blob_in(&sas, "inputData");
    assert_eq!(put(&t, &good, "x").await.status(), 201);
    let bad = set_param(&good, "sig", "AAAA");
    for _ in 0..5 {
        let r = t.http.get(&bad).send().await.unwrap();
        expect_xml_error(r, 403, "AuthenticationFailed").await;
    }
    let r = t.http.get(&bad).send().await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    expect_xml_error(r, 503, "ServerBusy").await;
    // Only failing attempts are throttled: a valid SAS from the same address still works.
    let r = t.http.get(&good).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "x");
}

#[tokio::test]
async fn a_container_claimed_by_one_workspace_is_refused_to_another() {
    use crate::common::dp::Dp;
    let t = TestServer::start().await;
    t.create_group("rg-c").await;
    t.create_workspace("rg-c", "ws-c").await;
    let (owner, other) = (Dp::new(&t).await, Dp::of(&t, "rg-c", "ws-c").await);
    let (owner_uid, other_uid) = (bootstrap_uid(&t), ws_uid(&t, "rg-c", "ws-c"));
    let body = serde_json::json!({"containerName": "job-claimed"});
    let r = owner.sas_uri(body.clone()).await;
    assert_eq!(r.status(), 200);
    let blobs = t.data_dir().join("blobs");
    assert!(blobs.join(&owner_uid).join("job-claimed").is_dir());
    let r = other.sas_uri(body.clone()).await;
    assert_eq!(r.status(), 409);
    let e: serde_json::Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "ContainerNotInWorkspace", "{e}");
    // Refused before anything was created in the other workspace's namespace.
    assert!(!blobs.join(&other_uid).join("job-claimed").exists());
    // The owner asking again gets its container again.
    let r = owner.sas_uri(body).await;
    assert_eq!(r.status(), 200);
}
