//! The pipeline against a canned HTTP server on 127.0.0.1: which answers are retried, how long
//! it waits, how many attempts it makes, and what each attempt carries.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::credentials::{AccessToken, BoxFuture, TokenCredential};
use crate::secret::Secret;
use crate::test_peer::{error_body, reply, serve};

/// Retries without real waiting unless a test asks for it.
fn fast() -> ClientOptions {
    ClientOptions {
        retry: RetryOptions {
            initial_delay: Duration::from_millis(1),
            ..RetryOptions::default()
        },
        ..ClientOptions::default()
    }
}

fn anonymous(options: &ClientOptions) -> Pipeline {
    Pipeline::new(options, AuthPolicy::Anonymous).unwrap()
}

fn url(base: &str) -> url::Url {
    url::Url::parse(&format!("{base}/x")).unwrap()
}

fn err(status: u16) -> String {
    reply(status, &[], &error_body(status))
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn transient_failures_of_a_get_are_retried_under_one_request_id() {
    let peer = serve(vec![err(503), err(500), reply(200, &[], "{}")]).await;
    let answer = anonymous(&fast())
        .send(Request::new(Method::GET, url(&peer.url)))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let seen = peer.requests();
    assert_eq!(seen.len(), 3);
    let ids: Vec<_> = seen
        .iter()
        .map(|h| header(h, "x-ms-client-request-id").unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
}

#[tokio::test]
async fn attempts_are_bounded_and_the_last_answer_is_returned() {
    let peer = serve(vec![err(502); 6]).await;
    let answer = anonymous(&fast())
        .send(Request::new(Method::DELETE, url(&peer.url)))
        .await
        .unwrap();
    assert_eq!(answer.status, 502);
    assert_eq!(answer.into_error(ErrorKind::Other).code(), Some("S502"));
    assert_eq!(peer.requests().len(), 4, "one try plus three retries");

    let never = ClientOptions {
        retry: RetryOptions::none(),
        ..fast()
    };
    let peer = serve(vec![err(503); 2]).await;
    let answer = anonymous(&never)
        .send(Request::new(Method::GET, url(&peer.url)))
        .await
        .unwrap();
    assert_eq!((answer.status, peer.requests().len()), (503, 1));
}

#[tokio::test]
async fn a_post_is_repeated_only_when_the_server_did_not_process_it_or_asks() {
    let send = |peer_url: String| async move {
        let request =
            Request::new(Method::POST, url(&peer_url)).body("text/plain", b"payload".to_vec());
        anonymous(&fast()).send(request).await.unwrap().status
    };

    let peer = serve(vec![err(429), reply(200, &[], "{}")]).await;
    assert_eq!(send(peer.url.clone()).await, 429);
    assert_eq!(
        peer.requests().len(),
        1,
        "429 without Retry-After: not repeated"
    );

    let peer = serve(vec![err(502), reply(200, &[], "{}")]).await;
    assert_eq!(send(peer.url.clone()).await, 502);
    assert_eq!(peer.requests().len(), 1);

    let peer = serve(vec![err(503), reply(200, &[], "{}")]).await;
    assert_eq!(send(peer.url.clone()).await, 200);
    assert_eq!(peer.requests().len(), 2);

    let asked = reply(429, &[("retry-after", "0")], &error_body(429));
    let peer = serve(vec![asked, reply(200, &[], "{}")]).await;
    assert_eq!(send(peer.url.clone()).await, 200);
    let seen = peer.requests();
    assert_eq!(seen.len(), 2);
    assert!(seen
        .iter()
        .all(|h| header(h, "content-length") == Some("7")));
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    for status in [400, 401, 403, 404, 409] {
        let peer = serve(vec![err(status), reply(200, &[], "{}")]).await;
        let answer = anonymous(&fast())
            .send(Request::new(Method::GET, url(&peer.url)))
            .await
            .unwrap();
        assert_eq!((answer.status, peer.requests().len()), (status, 1));
    }
}

#[tokio::test]
async fn retry_after_is_waited_for_up_to_the_cap() {
    // Honoured: a one-second Retry-After makes the retry wait about a second.
    let asked = reply(503, &[("retry-after", "1")], &error_body(503));
    let peer = serve(vec![asked, reply(200, &[], "{}")]).await;
    let started = Instant::now();
    let answer = anonymous(&fast())
        .send(Request::new(Method::GET, url(&peer.url)))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );

    // Capped: an hour-long Retry-After (here as an HTTP-date) waits only max_delay.
    let in_an_hour = (OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        ))
        .unwrap();
    let asked = reply(429, &[("retry-after", &in_an_hour)], &error_body(429));
    let peer = serve(vec![asked, reply(200, &[], "{}")]).await;
    let capped = ClientOptions {
        retry: RetryOptions {
            max_delay: Duration::from_millis(50),
            ..RetryOptions::default()
        },
        ..fast()
    };
    let started = Instant::now();
    let answer = anonymous(&capped)
        .send(Request::new(Method::GET, url(&peer.url)))
        .await
        .unwrap();
    assert_eq!((answer.status, peer.requests().len()), (200, 2));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_ok_status_with_retry_after_is_returned_not_retried() {
    let accepted = reply(202, &[("retry-after", "0")], "");
    let peer = serve(vec![accepted, reply(200, &[], "{}")]).await;
    let answer = anonymous(&fast())
        .send(Request::new(Method::PUT, url(&peer.url)))
        .await
        .unwrap();
    assert_eq!((answer.status, peer.requests().len()), (202, 1));
}

struct CountingCredential(AtomicUsize);

impl TokenCredential for CountingCredential {
    fn get_token<'a>(&'a self, scopes: &'a [&'a str]) -> BoxFuture<'a, Result<AccessToken>> {
        Box::pin(async move {
            assert_eq!(scopes, ["scope/.default"]);
            let n = self.0.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken {
                token: Secret::new(format!("token-{n}")),
                expires_on: OffsetDateTime::now_utc() + time::Duration::hours(1),
            })
        })
    }
}

#[tokio::test]
async fn bearer_tokens_are_cached_across_attempts_and_requests() {
    let credential = Arc::new(CountingCredential(AtomicUsize::new(0)));
    let pipeline = Pipeline::new(
        &fast(),
        AuthPolicy::bearer(credential.clone(), "scope/.default"),
    )
    .unwrap();
    let peer = serve(vec![err(503), reply(200, &[], "{}"), reply(200, &[], "{}")]).await;
    for _ in 0..2 {
        let answer = pipeline
            .send(Request::new(Method::GET, url(&peer.url)))
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
    }
    assert_eq!(credential.0.load(Ordering::SeqCst), 1);
    let seen = peer.requests();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|h| header(h, "authorization") == Some("Bearer token-0")));
}

#[tokio::test]
async fn api_keys_go_in_their_header_and_never_to_clear_text_remote_hosts() {
    let pipeline = Pipeline::new(
        &fast(),
        AuthPolicy::ApiKey {
            header: "x-ms-quantum-api-key",
            key: Secret::new("k3y"),
        },
    )
    .unwrap();
    let peer = serve(vec![reply(200, &[], "{}")]).await;
    pipeline
        .send(Request::new(Method::GET, url(&peer.url)))
        .await
        .unwrap();
    assert_eq!(
        header(&peer.requests()[0], "x-ms-quantum-api-key"),
        Some("k3y")
    );
    assert!(!format!("{pipeline:?}").contains("k3y"));

    let e = pipeline
        .send(Request::new(Method::GET, url("http://example.com")))
        .await
        .unwrap_err();
    assert!(e.message().contains("refusing to send credentials"), "{e}");
}

#[tokio::test]
async fn transport_errors_are_not_retried() {
    // A port with nothing listening: the error comes back at once, as an Io error.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let slow = ClientOptions {
        retry: RetryOptions {
            initial_delay: Duration::from_secs(20),
            ..RetryOptions::default()
        },
        ..ClientOptions::default()
    };
    let started = Instant::now();
    let e = anonymous(&slow)
        .send(Request::new(Method::GET, url(&closed)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Io);
    assert!(started.elapsed() < Duration::from_secs(15));
}
