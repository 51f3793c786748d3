//! Azure Storage error responses: `<Error><Code>…</Code><Message>…</Message></Error>` with the
//! code repeated in `x-ms-error-code`.

use super::xml::escape;
use crate::error::{ErrorHeaders, InternalCause, WithHeaders};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use qws_store::blobs::BlobError;

/// One storage error.
#[derive(Debug, Clone)]
pub struct StorageError {
    /// HTTP status.
    pub status: StatusCode,
    /// Azure Storage error code (`BlobNotFound`, …).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// Extra headers (e.g. `Content-Range: bytes */len` on 416).
    pub headers: ErrorHeaders,
    /// The cause of a 500, logged when answered.
    pub cause: Option<Box<InternalCause>>,
}

impl WithHeaders for StorageError {
    fn headers_mut(&mut self) -> &mut ErrorHeaders {
        &mut self.headers
    }
}

impl StorageError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        StorageError {
            status,
            code,
            message: message.into(),
            headers: ErrorHeaders::default(),
            cause: None,
        }
    }

    /// The uniform refusal of a missing, malformed, tampered, expired or foreign SAS.
    pub fn auth_failed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthenticationFailed",
            "Server failed to authenticate the request. The shared access signature is missing, malformed, expired, or not valid for this resource.",
        )
    }

    /// A valid SAS without the needed permission.
    pub fn permission(needed: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AuthorizationPermissionMismatch",
            format!("This request is not authorized to perform this operation using this permission (needs '{needed}')."),
        )
    }

    /// 400 with a code.
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 500 (the cause is logged when answered, never returned).
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "The server encountered an internal error. Please retry the request.",
        );
        e.cause = Some(Box::new(InternalCause::new(context, cause)));
        e
    }

    /// 413 for a body beyond `limit` bytes.
    pub fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestBodyTooLarge",
            format!("The request body is too large and exceeds the maximum permissible limit of {limit} bytes."),
        )
    }
}

impl From<BlobError> for StorageError {
    fn from(e: BlobError) -> Self {
        use StatusCode as S;
        match e {
            BlobError::ContainerNotFound => {
                Self::new(S::NOT_FOUND, "ContainerNotFound", e.to_string())
            }
            BlobError::BlobNotFound => Self::new(S::NOT_FOUND, "BlobNotFound", e.to_string()),
            BlobError::BlobAlreadyExists => {
                Self::new(S::CONFLICT, "BlobAlreadyExists", e.to_string())
            }
            BlobError::ConditionNotMet => {
                Self::new(S::PRECONDITION_FAILED, "ConditionNotMet", e.to_string())
            }
            BlobError::InvalidName(m) => Self::bad("InvalidResourceName", m),
            BlobError::InvalidBlockList(m) => Self::bad("InvalidBlockList", m),
            BlobError::TooLarge(m) => Self::new(S::PAYLOAD_TOO_LARGE, "RequestBodyTooLarge", m),
            BlobError::Corrupt | BlobError::Io(_) => Self::internal("blob store", &e),
        }
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            cause.log("blob service");
        }
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code,
            escape(&self.message)
        );
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        h.insert("x-ms-error-code", HeaderValue::from_static(self.code));
        self.headers.apply(h);
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_is_logged_once_when_answered() {
        let log = crate::error::logged(|| {
            let e = StorageError::internal("blob store", &"disk on fire");
            let _dropped = StorageError::internal("blob store", &"never answered");
            assert_eq!(
                e.into_response().status(),
                StatusCode::INTERNAL_SERVER_ERROR
            );
        });
        assert_eq!(log.matches("disk on fire").count(), 1, "{log}");
        assert!(!log.contains("never answered"), "{log}");
    }

    #[test]
    fn headers_are_carried_to_the_response() {
        let resp = StorageError::new(StatusCode::SERVICE_UNAVAILABLE, "ServerBusy", "m")
            .with_retry_after(3)
            .with_header(header::CONTENT_RANGE, "bytes */9")
            .into_response();
        let h = resp.headers();
        assert_eq!(h[header::RETRY_AFTER], "3");
        assert_eq!(h[header::CONTENT_RANGE], "bytes */9");
        assert_eq!(h["x-ms-error-code"], "ServerBusy");
    }
}
