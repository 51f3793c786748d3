//! Job webhooks: delivering the events that [`qws_store::webhooks`] records when a job or
//! session reaches a terminal status.
//!
//! * [`destination`]: which URLs a webhook may name (loopback, or hosts the operator allowed
//!   with `--webhook-allow-host`), checked at registration and again, on the resolved
//!   addresses, at every delivery.
//! * [`signature`]: the `Qws-Signature` header, HMAC-SHA256 over `timestamp.body`.
//! * [`spawn_worker`]: the delivery loop. It claims due deliveries from the store (a lease, so
//!   a delivery cut short by a crash is sent again), posts them without following redirects,
//!   and records each attempt; failures are retried with exponential backoff, up to
//!   [`MAX_ATTEMPTS`].

pub mod destination;
pub mod signature;

use destination::DestinationPolicy;
use qws_store::webhooks::{DeliveryState, DueDelivery};
use qws_store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Attempts at one delivery before it is given up (`Failed`).
pub const MAX_ATTEMPTS: u32 = 10;
/// Wait before the second attempt; doubled after each further failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(600);
/// Time allowed for one attempt (connect, send, answer head).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries sent at once (the in-memory queue: the rest wait in the store).
pub const CONCURRENCY: usize = 8;
/// How long a claimed delivery is not claimed again.
const LEASE: Duration = Duration::from_secs(60);
/// How often the store is asked for due deliveries.
const POLL: Duration = Duration::from_millis(500);
/// Finished deliveries are listed for this long, then forgotten.
const HISTORY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Header: the event id, the same at every attempt (receivers deduplicate on it).
pub const EVENT_ID_HEADER: &str = "qws-event-id";
/// Header: the attempt number, from 1.
pub const ATTEMPT_HEADER: &str = "qws-delivery-attempt";

/// Wait after failed attempt `attempts` (1-based) before the next.
pub fn backoff(attempts: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    FIRST_RETRY.saturating_mul(factor).min(MAX_RETRY)
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Starts the delivery loop on the current runtime.
pub fn spawn_worker(store: Arc<Store>, policy: Arc<DestinationPolicy>) {
    tokio::spawn(async move {
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut last_prune = 0i64;
        loop {
            let free = permits.available_permits();
            if free > 0 {
                let st = store.clone();
                let now = now_ms();
                let claimed = tokio::task::spawn_blocking(move || {
                    if now - last_prune > 3_600_000 {
                        let _ = st.prune_webhook_deliveries(now - HISTORY.as_millis() as i64);
                    }
                    st.claim_webhook_deliveries(now, LEASE.as_millis() as i64, free)
                })
                .await;
                if now - last_prune > 3_600_000 {
                    last_prune = now;
                }
                match claimed {
                    Ok(Ok(due)) => {
                        for d in due {
                            let Ok(permit) = permits.clone().acquire_owned().await else {
                                return;
                            };
                            let (store, policy) = (store.clone(), policy.clone());
                            tokio::spawn(async move {
                                deliver(&store, &policy, d).await;
                                drop(permit);
                            });
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "webhook deliveries could not be read")
                    }
                    Err(e) => tracing::warn!(error = %e, "webhook delivery task failed"),
                }
            }
            tokio::time::sleep(POLL).await;
        }
    });
}

/// One attempt at one delivery, and its record.
async fn deliver(store: &Arc<Store>, policy: &DestinationPolicy, due: DueDelivery) {
    let attempt = due.delivery.attempts + 1;
    let (status, error) = match send(policy, &due, attempt).await {
        Ok(s) if (200..300).contains(&s) => (Some(s), None),
        Ok(s) => (Some(s), Some(format!("the receiver answered {s}"))),
        Err(e) => (None, Some(e)),
    };
    let now = now_ms();
    let (state, next) = match (&error, attempt >= MAX_ATTEMPTS) {
        (None, _) => (DeliveryState::Succeeded, now),
        (Some(_), true) => (DeliveryState::Failed, now),
        (Some(_), false) => (
            DeliveryState::Pending,
            now + backoff(attempt).as_millis() as i64,
        ),
    };
    if let Some(e) = &error {
        tracing::info!(event = %due.delivery.event_id, attempt, error = %e, "webhook delivery failed");
    }
    let st = store.clone();
    let d = due.delivery.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        st.record_webhook_attempt(&d, state, status, error.as_deref(), now, next)
    })
    .await;
    if !matches!(recorded, Ok(Ok(()))) {
        tracing::warn!(event = %due.delivery.event_id, "a webhook attempt could not be recorded");
    }
}

/// Posts the event; the HTTP status, or why there was none.
async fn send(policy: &DestinationPolicy, due: &DueDelivery, attempt: u32) -> Result<u16, String> {
    let url = policy.check_url(&due.url).map_err(|e| e.0)?;
    let addrs = policy.resolve(&url).await.map_err(|e| e.0)?;
    let host = url.host_str().unwrap_or_default().to_string();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(ATTEMPT_TIMEOUT)
        // The addresses just checked, so that a second lookup cannot point elsewhere.
        .resolve_to_addrs(&host, &addrs)
        .user_agent(concat!("qws-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let body = due.delivery.payload.clone();
    let sig = signature::header_value(due.secret.as_bytes(), timestamp, body.as_bytes());
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(signature::HEADER, sig)
        .header(EVENT_ID_HEADER, &due.delivery.event_id)
        .header(ATTEMPT_HEADER, attempt.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "no answer in time".to_string()
            } else if e.is_connect() {
                "cannot connect".to_string()
            } else {
                "the request failed".to_string()
            }
        })?;
    Ok(resp.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(12), MAX_RETRY);
        assert_eq!(backoff(99), MAX_RETRY);
    }
}
