//! Helpers for the blob tests: SAS URLs minted through the library for a running test server,
//! and a raw HTTP/1.1 client for requests that reqwest would normalise (`..`, `%2e%2e`).
#![allow(dead_code)]

use crate::common::TestServer;
use qws_core::resource_id::WorkspaceId;
use std::io::{Read, Write};
use time::{Duration, OffsetDateTime};

/// The uid of workspace `rg/ws`.
pub fn ws_uid(t: &TestServer, rg: &str, ws: &str) -> String {
    let id = WorkspaceId::from_parts(&t.sub(), rg, ws).unwrap();
    t.srv()
        .state
        .store
        .get_workspace(&id)
        .unwrap()
        .expect("workspace exists")
        .uid
}

/// The uid of the bootstrap workspace.
pub fn bootstrap_uid(t: &TestServer) -> String {
    ws_uid(t, &t.b("resourceGroup"), &t.b("workspaceName"))
}

/// The holder of SAS minted with the workspace's current primary key.
pub fn primary_holder(t: &TestServer, uid: &str) -> qws_server::planes::blob::sas::SasHolder {
    qws_server::planes::blob::sas::key_holder(
        &t.srv().state.store,
        uid,
        qws_core::keys::KeySlot::Primary,
    )
    .unwrap()
    .expect("keys enabled")
}

/// Creates `container` for `uid` (as `storage/sasUri` does) and mints a container SAS URL.
pub fn container_sas(t: &TestServer, uid: &str, container: &str, perms: &str) -> String {
    t.srv()
        .state
        .blobs
        .create_container(uid, container)
        .unwrap();
    qws_server::planes::blob::mint_container_sas(
        &t.srv().state,
        uid,
        &primary_holder(t, uid),
        container,
        perms,
        OffsetDateTime::now_utc() + Duration::hours(1),
    )
}

/// `<container SAS>` → `<base>/<container>/<blob>?<sas>`.
pub fn blob_in(container_sas: &str, blob: &str) -> String {
    let (base, q) = container_sas.split_once('?').unwrap();
    format!("{base}/{blob}?{q}")
}

/// Adds query parameters to a URL that already has a query.
pub fn with_query(url: &str, extra: &str) -> String {
    format!("{url}&{extra}")
}

/// The query of a SAS URL.
pub fn query_of(url: &str) -> String {
    url.split_once('?').unwrap().1.to_string()
}

/// Asserts a storage XML error and returns the body.
pub async fn expect_xml_error(r: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(r.status().as_u16(), status, "status for expected {code}");
    assert_eq!(
        r.headers()
            .get("x-ms-error-code")
            .map(|v| v.to_str().unwrap().to_string())
            .as_deref(),
        Some(code)
    );
    assert!(r.headers().contains_key("x-ms-request-id"));
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("<?xml") && body.contains(&format!("<Error><Code>{code}</Code><Message>")),
        "{body}"
    );
    body
}

/// A raw HTTP/1.1 response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `head` (request line and headers, without the final blank line) plus `body` exactly as
/// given, on a fresh connection, and reads the response (the server closes after it).
pub async fn raw(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> RawResponse {
    let head = format!("{head}\r\nConnection: close\r\n\r\n");
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        // The server may answer (and close) before reading everything.
        let _ = s.write_all(&body);
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("response head");
        let text = String::from_utf8_lossy(&buf[..split]).to_string();
        let mut lines = text.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        RawResponse {
            status,
            headers,
            body: buf[split + 4..].to_vec(),
        }
    })
    .await
    .unwrap()
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
