//! One coarse error type for every client call.
//!
//! Service errors keep the service's own `code` and `message` (ARM `ErrorResponse`
//! `{"error":{"code","message"}}` or OAuth2 `{"error","error_description"}`), so a caller can match
//! on the code and show the message unchanged. Errors never carry secrets: request bodies are not
//! included, and transport errors name only the URL.

use std::fmt;

/// The broad category of an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The service answered with a non-success HTTP status.
    HttpResponse {
        /// The HTTP status code.
        status: u16,
    },
    /// The token service refused to issue a token, or its discovery document was unusable.
    Credential,
    /// The request could not be sent or the response could not be read (connection, TLS, timeout).
    Io,
    /// A response body did not have the expected shape.
    DataConversion,
    /// Invalid input or configuration on the client side (bad URL, unreadable CA file, …).
    Other,
}

/// A client error: its kind, the service's error code if any, and a message.
///
/// `Display` prints `code: message` when there is a code (for example
/// `ResourceGroupNotFound: Resource group 'x' could not be found.`) and the message otherwise.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    code: Option<String>,
    message: String,
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Creates an error of the given kind with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            code: None,
            message: message.into(),
        }
    }

    /// Creates an error carrying a service error code.
    pub fn with_code(kind: ErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            kind,
            code: Some(code.into()),
            message: message.into(),
        }
    }

    /// The error category.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The service's error code (ARM `error.code`, or OAuth2 `error`), when the service sent one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status, when the error is a service response.
    pub fn status(&self) -> Option<u16> {
        match self.kind {
            ErrorKind::HttpResponse { status } => Some(status),
            _ => None,
        }
    }

    /// Decodes an error response body. Recognises the ARM shape `{"error":{"code","message"}}` and
    /// the OAuth2 shape `{"error":"invalid_client","error_description":"…"}`; anything else becomes
    /// a generic error named after the HTTP status with a short, bounded excerpt of the body.
    pub(crate) fn from_response(kind: ErrorKind, status: u16, body: &[u8]) -> Self {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
            match value.get("error") {
                Some(serde_json::Value::Object(detail)) => {
                    let code = detail.get("code").and_then(|c| c.as_str());
                    let message = detail.get("message").and_then(|m| m.as_str());
                    if let Some(code) = code {
                        return Error::with_code(kind, code, message.unwrap_or(""));
                    }
                }
                Some(serde_json::Value::String(code)) => {
                    let message = value
                        .get("error_description")
                        .and_then(|m| m.as_str())
                        .unwrap_or("");
                    return Error::with_code(kind, code.clone(), message);
                }
                _ => {}
            }
        }
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error");
        let code = format!("Http{status}");
        let text = String::from_utf8_lossy(&body[..body.len().min(300)])
            .trim()
            .to_owned();
        let message = if text.is_empty() {
            format!("the service answered {status} {reason}")
        } else {
            format!("the service answered {status} {reason}: {text}")
        };
        Error::with_code(kind, code, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) if self.message.is_empty() => write!(f, "{code}"),
            Some(code) => write!(f, "{code}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display names the URL but never a body or header, so it is safe to show. The
        // source chain is flattened into the message because callers print `Display` only.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Error::new(ErrorKind::Io, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_arm_error_response() {
        let body = br#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'x' could not be found."}}"#;
        let e = Error::from_response(ErrorKind::HttpResponse { status: 404 }, 404, body);
        assert_eq!(e.code(), Some("ResourceGroupNotFound"));
        assert_eq!(e.status(), Some(404));
        assert_eq!(
            e.to_string(),
            "ResourceGroupNotFound: Resource group 'x' could not be found."
        );
    }

    #[test]
    fn decodes_oauth_error_response() {
        let body = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#;
        let e = Error::from_response(ErrorKind::Credential, 401, body);
        assert_eq!(e.code(), Some("invalid_client"));
        assert_eq!(e.kind(), &ErrorKind::Credential);
        assert!(e.to_string().starts_with("invalid_client: AADSTS7000215"));
    }

    #[test]
    fn unknown_bodies_become_a_bounded_generic_error() {
        let body = vec![b'x'; 10_000];
        let e = Error::from_response(ErrorKind::HttpResponse { status: 502 }, 502, &body);
        assert_eq!(e.code(), Some("Http502"));
        assert!(e.message().len() < 400);
        let empty = Error::from_response(ErrorKind::HttpResponse { status: 500 }, 500, b"");
        assert_eq!(
            empty.to_string(),
            "Http500: the service answered 500 Internal Server Error"
        );
    }
}
