//! The audit log rotates without losing a line under concurrent requests, and reads back as the
//! workspace's activity log, filtered and paged.

use crate::common::*;
use qws_server::audit::AuditRotation;
use reqwest::Method;
use serde_json::Value;
use std::time::Duration;

/// Every line of every audit file.
fn all_audit_lines(dir: &std::path::Path) -> (Vec<Value>, usize) {
    let mut lines = Vec::new();
    let mut files = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("audit.log") {
            files += 1;
            for l in std::fs::read_to_string(e.path()).unwrap().lines() {
                lines.push(serde_json::from_str(l).expect("a whole JSON line"));
            }
        }
    }
    (lines, files)
}

#[tokio::test]
async fn rotation_keeps_every_line_and_the_activity_log_pages_through_them() {
    let t = TestServer::start_with(|c| {
        c.audit = AuditRotation {
            max_bytes: 4096,
            max_age: Duration::ZERO,
            keep: 1000,
        };
    })
    .await;
    let ws = t.ws_path("qws", "dev");
    let start =
        qws_core::time_fmt::seconds_z(time::OffsetDateTime::now_utc() - time::Duration::seconds(1));
    let token = t.mgmt_token().await;

    // 96 audited requests, 12 at a time.
    const N: usize = 96;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (https, url, token) = (
            t.https.clone(),
            format!("{}{ws}/listKeys?api-version={V}", t.https_url()),
            token.clone(),
        );
        tasks.spawn(async move {
            for _ in 0..N / 12 {
                let r = https
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-length", "0")
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let (lines, files) = all_audit_lines(&t.data_dir());
    assert!(files > 3, "the log rotated ({files} files)");
    let list_keys = lines
        .iter()
        .filter(|l| l["action"] == "listKeys" && l["target"].as_str() == Some(ws.as_str()))
        .count();
    assert_eq!(list_keys, N, "every audited request has exactly one line");

    // The activity log: filtered by time, caller and operation, 10 a page, newest first.
    let caller = lines.iter().find(|l| l["action"] == "listKeys").unwrap()["principal"]
        .as_str()
        .unwrap()
        .to_string();
    let filter = format!(
        "eventTimestamp ge '{start}' and caller eq '{caller}' and operationName eq 'listKeys'"
    );
    let mut url = format!(
        "{}{ws}/activityLog?api-version={V}&$top=10&$filter={}",
        t.https_url(),
        url_encode(&filter)
    );
    let mut events = Vec::new();
    let mut pages = 0;
    loop {
        let r = t.https.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let page: Value = r.json().await.unwrap();
        let value = page["value"].as_array().unwrap();
        assert!(value.len() <= 10);
        events.extend(value.iter().cloned());
        pages += 1;
        match page["nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
        // New lines between pages do not disturb the paging.
        t.list_keys("qws", "dev").await;
    }
    assert!(pages >= 10);
    assert!(events.len() >= N);
    let times: Vec<&str> = events
        .iter()
        .map(|e| e["eventTimestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    for e in &events {
        assert_eq!(e["operationName"]["value"], "listKeys");
        assert_eq!(e["caller"], caller.as_str());
        assert_eq!(e["resourceId"], ws.as_str());
        assert_eq!(e["status"]["value"], "Succeeded");
    }

    // A caller that did nothing here has no events; a bad filter is refused.
    let r = t
        .arm(
            Method::GET,
            &format!(
                "{ws}/activityLog?$filter={}",
                url_encode("caller eq 'app:nobody'")
            ),
            None,
        )
        .await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["value"].as_array().unwrap().len(), 0);
    let r = t
        .arm(
            Method::GET,
            &format!("{ws}/activityLog?$filter={}", url_encode("status eq 'x'")),
            None,
        )
        .await;
    expect_error(r, 400, "InvalidFilter").await;
    let r = t
        .arm(Method::GET, &format!("{ws}/activityLog?$top=0"), None)
        .await;
    expect_error(r, 400, "InvalidQueryParameterValue").await;
}
