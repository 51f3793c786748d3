//! The one retry policy of every request this crate sends (data plane, ARM, Resource Graph,
//! blob transfers, token requests), following the Azure SDKs' rules:
//!
//! 1. Only error answers (status 400 and above) are retried; a `2xx` with `Retry-After` (an ARM
//!    long-running operation's 202) is a polling hint, not a failure.
//! 2. Any error answer that carries a usable `Retry-After` is retried, whatever the method: the
//!    service says it did not act on the request and when to come back.
//! 3. Without `Retry-After`, idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) are
//!    retried on 408, 429, 500, 502, 503 and 504; POST and PATCH (which may have had an effect)
//!    only on 500, 503 and 504.
//! 4. The wait is the server's `retry-after-ms` / `x-ms-retry-after-ms` (milliseconds) or
//!    `Retry-After` (delta-seconds or an HTTP-date); otherwise exponential backoff from
//!    [`initial_delay`](RetryOptions::initial_delay), doubling per retry with ±20 % jitter.
//!    Either way the wait is capped at [`max_delay`](RetryOptions::max_delay).
//! 5. At most [`max_retries`](RetryOptions::max_retries) retries, so at most `max_retries + 1`
//!    attempts; the last answer is returned as it came.
//!
//! Transport errors (connection refused, TLS failure, timeout) are not retried: the request may
//! have reached the service, and an unreachable server should be reported at once.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use time::OffsetDateTime;

/// How failed requests are retried (see the [module docs](self) for the rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryOptions {
    /// Retries after the first attempt (default 3, so at most 4 attempts). `0` disables retries.
    pub max_retries: u32,
    /// First backoff when the server gives no `Retry-After` (default 0.8 s); doubles per retry.
    pub initial_delay: Duration,
    /// Longest wait before a retry, for backoff and for the server's `Retry-After` alike
    /// (default 30 s), so a server cannot park the client for an unbounded time.
    pub max_delay: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        RetryOptions {
            max_retries: 3,
            initial_delay: Duration::from_millis(800),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryOptions {
    /// Options that never retry.
    pub fn none() -> Self {
        RetryOptions {
            max_retries: 0,
            ..RetryOptions::default()
        }
    }

    /// Whether to retry an answer, and after how long. `retries_done` counts the retries
    /// already made for this request; `now` is the clock an HTTP-date `Retry-After` is read
    /// against.
    pub(crate) fn delay_before_retry(
        &self,
        method: &Method,
        status: u16,
        headers: &HeaderMap,
        retries_done: u32,
        now: OffsetDateTime,
    ) -> Option<Duration> {
        if status < 400 || retries_done >= self.max_retries {
            return None;
        }
        let server_wait = retry_after(headers, now);
        if server_wait.is_none() && !is_retryable_status(method, status) {
            return None;
        }
        let wait = server_wait.unwrap_or_else(|| self.backoff(retries_done, jitter_factor()));
        Some(wait.min(self.max_delay))
    }

    /// `initial_delay · 2^retries_done · jitter`, capped at `max_delay`.
    fn backoff(&self, retries_done: u32, jitter: f64) -> Duration {
        let exponential = self
            .initial_delay
            .saturating_mul(1u32 << retries_done.min(20));
        exponential.mul_f64(jitter).min(self.max_delay)
    }
}

/// Whether `method` may be repeated after `status` when the server gave no `Retry-After`.
fn is_retryable_status(method: &Method, status: u16) -> bool {
    let idempotent = [
        Method::GET,
        Method::HEAD,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
    ]
    .contains(method);
    if idempotent {
        matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
    } else {
        // A POST or PATCH answered 408, 429 or 502 may have been applied; 500/503/504 are the
        // answers the Azure SDKs treat as "not processed" for every method.
        matches!(status, 500 | 503 | 504)
    }
}

/// The server's requested wait: `retry-after-ms` or `x-ms-retry-after-ms` (milliseconds), else
/// `Retry-After` as delta-seconds or an HTTP-date (a date in the past means "now"). Unusable
/// values count as absent. Not capped here.
pub(crate) fn retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = text(name).and_then(|v| v.parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let value = text("retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the HTTP-date form servers send.
fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(value, format)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// A factor in [0.8, 1.2) so clients that failed together do not retry in lockstep. The
/// randomness comes from a v4 UUID (already a dependency) rather than a new RNG crate.
fn jitter_factor() -> f64 {
    let random = (uuid::Uuid::new_v4().as_u128() >> 64) as u64;
    0.8 + 0.4 * (random as f64 / u64::MAX as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2026-03-01 12:00:00 UTC)
    }

    fn retries(method: Method, status: u16, h: &HeaderMap) -> bool {
        RetryOptions::default()
            .delay_before_retry(&method, status, h, 0, now())
            .is_some()
    }

    #[test]
    fn idempotent_methods_retry_transient_statuses_only() {
        let none = HeaderMap::new();
        for method in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            for status in [408, 429, 500, 502, 503, 504] {
                assert!(retries(method.clone(), status, &none), "{method} {status}");
            }
            for status in [200, 202, 204, 301, 400, 401, 403, 404, 409, 412, 501, 505] {
                assert!(!retries(method.clone(), status, &none), "{method} {status}");
            }
        }
    }

    #[test]
    fn post_and_patch_retry_only_unprocessed_statuses_or_on_request() {
        let none = HeaderMap::new();
        for method in [Method::POST, Method::PATCH] {
            for status in [500, 503, 504] {
                assert!(retries(method.clone(), status, &none), "{method} {status}");
            }
            for status in [400, 408, 429, 502] {
                assert!(!retries(method.clone(), status, &none), "{method} {status}");
            }
            // The server asking for a retry overrides the method rule.
            let asked = headers(&[("retry-after", "2")]);
            for status in [408, 429, 502] {
                assert!(retries(method.clone(), status, &asked), "{method} {status}");
            }
        }
    }

    #[test]
    fn retry_after_on_any_error_is_honoured_but_success_is_never_retried() {
        let asked = headers(&[("retry-after", "4")]);
        let o = RetryOptions::default();
        assert_eq!(
            o.delay_before_retry(&Method::POST, 409, &asked, 0, now()),
            Some(Duration::from_secs(4))
        );
        // An ARM long-running operation's 202 carries Retry-After as a polling hint.
        assert_eq!(
            o.delay_before_retry(&Method::PUT, 202, &asked, 0, now()),
            None
        );
        // An unusable Retry-After is as good as none.
        let garbage = headers(&[("retry-after", "soon")]);
        assert!(!retries(Method::POST, 429, &garbage));
    }

    #[test]
    fn retry_after_parses_seconds_milliseconds_and_http_dates() {
        let at = |pairs: &[(&'static str, &str)]| retry_after(&headers(pairs), now());
        assert_eq!(at(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(at(&[("retry-after", " 0 ")]), Some(Duration::ZERO));
        assert_eq!(
            at(&[("retry-after", "Sun, 01 Mar 2026 12:00:09 GMT")]),
            Some(Duration::from_secs(9))
        );
        assert_eq!(
            at(&[("retry-after", "Sat, 28 Feb 2026 12:00:00 GMT")]),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(
            at(&[("retry-after-ms", "1500"), ("retry-after", "9")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            at(&[("x-ms-retry-after-ms", "250")]),
            Some(Duration::from_millis(250))
        );
        for bad in ["-1", "1.5", "tomorrow", "Sun, 01 Mar 2026 12:00:09 PST", ""] {
            assert_eq!(at(&[("retry-after", bad)]), None, "{bad:?}");
        }
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn waits_are_capped() {
        let o = RetryOptions::default();
        let hour = headers(&[("retry-after", "3600")]);
        assert_eq!(
            o.delay_before_retry(&Method::GET, 503, &hour, 0, now()),
            Some(Duration::from_secs(30))
        );
        let far = headers(&[("retry-after", "Mon, 02 Mar 2026 12:00:00 GMT")]);
        assert_eq!(
            o.delay_before_retry(&Method::GET, 429, &far, 0, now()),
            Some(Duration::from_secs(30))
        );
        let many = RetryOptions {
            max_retries: 40,
            ..RetryOptions::default()
        };
        assert_eq!(many.backoff(39, 1.19), Duration::from_secs(30));
    }

    #[test]
    fn backoff_doubles_from_the_initial_delay_with_bounded_jitter() {
        let o = RetryOptions::default();
        assert_eq!(o.backoff(0, 1.0), Duration::from_millis(800));
        assert_eq!(o.backoff(1, 1.0), Duration::from_millis(1600));
        assert_eq!(o.backoff(2, 1.0), Duration::from_millis(3200));
        assert_eq!(o.backoff(1, 0.8), Duration::from_millis(1280));
        for _ in 0..100 {
            let j = jitter_factor();
            assert!((0.8..1.2).contains(&j), "{j}");
        }
        let d = o
            .delay_before_retry(&Method::GET, 500, &HeaderMap::new(), 1, now())
            .unwrap();
        assert!(
            d >= Duration::from_millis(1280) && d < Duration::from_millis(1920),
            "{d:?}"
        );
    }

    #[test]
    fn retries_are_bounded() {
        let o = RetryOptions::default();
        let none = HeaderMap::new();
        let asked = headers(&[("retry-after", "0")]);
        assert!(o
            .delay_before_retry(&Method::GET, 503, &none, 2, now())
            .is_some());
        assert!(o
            .delay_before_retry(&Method::GET, 503, &none, 3, now())
            .is_none());
        assert!(o
            .delay_before_retry(&Method::POST, 429, &asked, 3, now())
            .is_none());
        assert!(RetryOptions::none()
            .delay_before_retry(&Method::GET, 503, &none, 0, now())
            .is_none());
    }
}
