//! Job webhooks against a real server: a receiver on loopback gets signed events, a 500 is
//! retried with the same event id, a delivery owed when the server stops is made after a
//! restart, non-loopback hosts are refused at registration, and creation and deletion are
//! audited.

use crate::common::dp::{Dp, BELL};
use crate::common::*;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver saw, and what it answers next.
#[derive(Default)]
struct Receiver {
    requests: Mutex<Vec<(HeaderMap, String)>>,
    /// Status of the answers; 0 means "500 once, then 200".
    answer: AtomicU16,
}

async fn receive(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: String) -> StatusCode {
    let n = {
        let mut reqs = r.requests.lock().unwrap();
        reqs.push((headers, body));
        reqs.len()
    };
    match r.answer.load(Ordering::SeqCst) {
        0 if n == 1 => StatusCode::INTERNAL_SERVER_ERROR,
        0 => StatusCode::OK,
        s => StatusCode::from_u16(s).unwrap(),
    }
}

/// A receiver on 127.0.0.1; its URL.
async fn start_receiver(r: Arc<Receiver>) -> String {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://127.0.0.1:{}/hook", addr.port())
}

/// Waits until the receiver has seen `n` requests.
async fn wait_for_requests(r: &Receiver, n: usize) -> Vec<(HeaderMap, String)> {
    let deadline = tokio::time::Instant::now() + WAIT_DEADLINE;
    loop {
        let seen = r.requests.lock().unwrap().clone();
        if seen.len() >= n {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the receiver saw {} requests, not {n}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The receiver's check, as the README describes it: HMAC-SHA256 with the secret over
/// `t.body`, compared with `v1`.
fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = Some(x.to_string()),
            Some(("v1", x)) => v1 = Some(x.to_string()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, format!("{t}.{body}").as_bytes(), &expected).is_ok()
}

fn hooks_path(t: &TestServer) -> String {
    format!("{}/webhooks", t.ws_path("qws", "dev"))
}

async fn register(t: &TestServer, name: &str, url: &str) -> reqwest::Response {
    t.arm(
        Method::PUT,
        &format!("{}/{name}", hooks_path(t)),
        Some(json!({"properties": {"url": url}})),
    )
    .await
}

async fn deliveries(t: &TestServer, name: &str) -> Vec<Value> {
    let r = t
        .arm(
            Method::GET,
            &format!("{}/{name}/deliveries", hooks_path(t)),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["value"].as_array().unwrap().clone()
}

#[tokio::test]
async fn signed_events_are_retried_after_a_500_and_audited() {
    let t = TestServer::start().await;
    let receiver = Arc::new(Receiver::default());
    let url = start_receiver(receiver.clone()).await;

    // Registration: loopback accepted, other hosts refused before anything is stored.
    for bad in [
        "http://10.1.2.3/hook",
        "http://example.com/hook",
        "http://169.254.169.254/",
    ] {
        let r = register(&t, "bad", bad).await;
        let e = expect_error(r, 400, "WebhookUrlNotAllowed").await;
        assert!(e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not allowed"));
    }
    let r = register(&t, "ci", &url).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created: Value = r.json().await.unwrap();
    let secret = created["properties"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["properties"]["url"], url);
    let r = register(&t, "CI", &url).await;
    expect_error(r, 409, "WebhookExists").await;

    // The secret is never shown again.
    let r = t.arm(Method::GET, &hooks_path(&t), None).await;
    let listed: Value = r.json().await.unwrap();
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    assert!(!listed.to_string().contains(&secret));
    let r = t
        .arm(Method::GET, &format!("{}/ci", hooks_path(&t)), None)
        .await;
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains(&secret));

    let dp = Dp::new(&t).await;
    dp.submit("hooked", BELL).await;
    let job = dp.wait("hooked").await;

    // First attempt answered 500, the second 200: the same event, signed, twice.
    let seen = wait_for_requests(&receiver, 2).await;
    let (h1, b1) = &seen[0];
    let (h2, b2) = &seen[1];
    assert_eq!(h1["qws-event-id"], h2["qws-event-id"]);
    assert_eq!(h1["qws-delivery-attempt"], "1");
    assert_eq!(h2["qws-delivery-attempt"], "2");
    assert_eq!(b1, b2);
    for (h, b) in [(h1, b1), (h2, b2)] {
        let sig = h["qws-signature"].to_str().unwrap();
        assert!(verify(&secret, sig, b), "signature does not verify: {sig}");
        assert!(!verify(&secret, sig, &b.replace("Succeeded", "Failed")));
        assert!(!verify("whsec_other", sig, b));
    }
    let event: Value = serde_json::from_str(b2).unwrap();
    assert_eq!(event["id"], h1["qws-event-id"].to_str().unwrap());
    assert_eq!(event["type"], "job.terminal");
    assert_eq!(event["data"]["id"], "hooked");
    assert_eq!(event["data"]["status"], job["status"]);
    assert_eq!(event["data"]["target"], "ionq.simulator");
    assert_eq!(
        event["data"]["workspaceId"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        t.ws_path("qws", "dev").to_lowercase()
    );

    // The delivery's record: succeeded at the second attempt.
    let deadline = tokio::time::Instant::now() + WAIT_DEADLINE;
    let d = loop {
        let list = deliveries(&t, "ci").await;
        assert_eq!(list.len(), 1, "{list:?}");
        if list[0]["state"] == "Succeeded" {
            break list[0].clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(d["attempts"], 2);
    assert_eq!(d["lastStatusCode"], 200);
    assert_eq!(d["eventId"], event["id"]);

    let r = t
        .arm(Method::DELETE, &format!("{}/ci", hooks_path(&t)), None)
        .await;
    assert_eq!(r.status(), 200);
    let r = t
        .arm(Method::DELETE, &format!("{}/ci", hooks_path(&t)), None)
        .await;
    assert_eq!(r.status(), 204);
    let r = t
        .arm(Method::GET, &format!("{}/ci", hooks_path(&t)), None)
        .await;
    expect_error(r, 404, "WebhookNotFound").await;

    let actions: Vec<(String, String)> = t
        .audit_lines()
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_string(),
                l["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let target = format!("{}/webhooks/ci", t.ws_path("qws", "dev")).to_lowercase();
    for action in [
        "Microsoft.Quantum/Workspaces/webhooks/write",
        "Microsoft.Quantum/Workspaces/webhooks/delete",
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, tg)| a == action && tg.to_lowercase() == target),
            "{action} not audited: {actions:?}"
        );
    }
    assert!(!std::fs::read_to_string(t.data_dir().join("audit.log"))
        .unwrap()
        .contains(&secret));
}

#[tokio::test]
async fn a_pending_delivery_is_made_after_a_restart() {
    let t = TestServer::start().await;
    let receiver = Arc::new(Receiver::default());
    receiver.answer.store(503, Ordering::SeqCst);
    let url = start_receiver(receiver.clone()).await;
    assert_eq!(register(&t, "later", &url).await.status(), 201);
    let dp = Dp::new(&t).await;
    dp.submit("before-restart", BELL).await;
    dp.wait("before-restart").await;
    wait_for_requests(&receiver, 1).await;
    let dir = t.stop().await;

    // The receiver recovers while the server is down; the new server delivers what was owed.
    receiver.answer.store(200, Ordering::SeqCst);
    let before = receiver.requests.lock().unwrap().len();
    let t = TestServer::start_in(dir, |_| {}).await;
    let seen = wait_for_requests(&receiver, before + 1).await;
    let event: Value = serde_json::from_str(&seen.last().unwrap().1).unwrap();
    assert_eq!(event["data"]["id"], "before-restart");
    let deadline = tokio::time::Instant::now() + WAIT_DEADLINE;
    loop {
        let list = deliveries(&t, "later").await;
        if list[0]["state"] == "Succeeded" {
            assert!(list[0]["attempts"].as_u64().unwrap() >= 2);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Sessions too: closing one is its terminal status.
    let dp = Dp::new(&t).await;
    let r = dp
        .call(
            Method::PUT,
            "/sessions/hooked-session",
            Some(json!({"target": "ionq.simulator"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let seen_before = receiver.requests.lock().unwrap().len();
    let r = dp
        .call(Method::POST, "/sessions/hooked-session:close", None)
        .await;
    assert_eq!(r.status(), 200);
    let seen = wait_for_requests(&receiver, seen_before + 1).await;
    let event: Value = serde_json::from_str(&seen.last().unwrap().1).unwrap();
    assert_eq!(event["type"], "session.terminal");
    assert_eq!(event["data"]["id"], "hooked-session");
    assert_eq!(event["data"]["itemType"], "Session");
}

#[tokio::test]
async fn webhook_names_are_checked_on_every_route() {
    let t = TestServer::start().await;
    let hooks = hooks_path(&t);
    let too_long = "x".repeat(65);
    for bad in ["bad%20name", "caf%C3%A9", too_long.as_str()] {
        let r = register(&t, bad, "http://127.0.0.1:9/hook").await;
        expect_error(r, 400, "InvalidWebhookName").await;
        for (method, path) in [
            (Method::GET, format!("{hooks}/{bad}")),
            (Method::DELETE, format!("{hooks}/{bad}")),
            (Method::GET, format!("{hooks}/{bad}/deliveries")),
        ] {
            let r = t.arm(method, &path, None).await;
            expect_error(r, 400, "InvalidWebhookName").await;
        }
    }
    // The longest name, with every kind of character allowed, is accepted.
    let longest = format!("A-b_c.{}", "9".repeat(58));
    let r = register(&t, &longest, "http://127.0.0.1:9/hook").await;
    assert_eq!(r.status(), 201);
    let r = t
        .arm(Method::GET, &format!("{hooks}/{longest}"), None)
        .await;
    assert_eq!(r.status(), 200);
}
