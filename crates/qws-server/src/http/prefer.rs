//! The `Prefer: wait=N` request preference (RFC 7240 §4.3): how long a client is willing to
//! wait for a request's processing to end before it is answered.
//!
//! qws honours it on job submission: `PUT jobs/{id}` with `Prefer: wait=5` answers once the job
//! has ended, or after 5 seconds, whichever comes first, so a client that sends it reads a small
//! job's outcome in the submission's answer instead of polling for it. Without the header
//! (every Azure client) the answer comes as soon as the job is stored, as Azure's does.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use std::convert::Infallible;
use std::time::Duration;

/// The request header.
pub const PREFER: HeaderName = HeaderName::from_static("prefer");
/// The response header naming the preferences honoured.
pub const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// The longest wait honoured: a submission is never held open longer than this.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The `wait` preference of a request (`None` when absent or malformed), capped at [`MAX_WAIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreferWait(pub Option<Duration>);

impl PreferWait {
    /// The `Preference-Applied` value that tells the client its wait was honoured.
    pub fn applied(wait: Duration) -> HeaderValue {
        HeaderValue::from_str(&format!("wait={}", wait.as_secs()))
            .expect("digits are a valid header value")
    }
}

/// Reads `wait` from the values of every `Prefer` header: preferences are separated by commas,
/// parameters of one preference by semicolons, and the value may be quoted. A malformed or
/// absent value is ignored (preferences are optional by definition); the first `wait` counts.
pub fn wait_of<'a>(values: impl IntoIterator<Item = &'a HeaderValue>) -> Option<Duration> {
    values
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|pref| {
            let token = pref.split(';').next()?.trim();
            let (name, value) = token.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("wait") {
                return None;
            }
            let value = value.trim().trim_matches('"');
            // Delta-seconds: digits only, bounded before parsing so no length overflows.
            if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let secs: u64 = value.parse().ok()?;
            Some(Duration::from_secs(secs).min(MAX_WAIT))
        })
}

impl<S: Send + Sync> FromRequestParts<S> for PreferWait {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PreferWait(wait_of(parts.headers.get_all(PREFER))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(values: &[&str]) -> Option<u64> {
        let values: Vec<HeaderValue> = values
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        wait_of(&values).map(|d| d.as_secs())
    }

    #[test]
    fn wait_is_read_among_other_preferences() {
        assert_eq!(wait(&["wait=5"]), Some(5));
        assert_eq!(wait(&["respond-async, wait=10"]), Some(10));
        assert_eq!(wait(&["return=minimal", "WAIT = \"3\"; x=y"]), Some(3));
        assert_eq!(wait(&["wait=0"]), Some(0));
    }

    #[test]
    fn a_long_wait_is_capped() {
        assert_eq!(wait(&["wait=3600"]), Some(MAX_WAIT.as_secs()));
        assert_eq!(wait(&["wait=9999999999"]), Some(MAX_WAIT.as_secs()));
    }

    #[test]
    fn malformed_or_absent_waits_are_ignored() {
        for v in [
            "",
            "wait",
            "wait=",
            "wait=-1",
            "wait=1.5",
            "wait=99999999999999999999",
            "waiting=3",
            "respond-async",
        ] {
            assert_eq!(wait(&[v]), None, "{v:?}");
        }
        assert_eq!(wait(&[]), None);
    }
}
