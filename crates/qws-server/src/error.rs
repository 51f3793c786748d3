//! [`ApiError`]: every management- and data-plane failure, rendered as ARM's `ErrorResponse`;
//! and what the three error formats (ARM JSON, Storage XML in [`crate::planes::blob::error`], OAuth2 in
//! [`crate::planes::identity`]) share: extra headers carried as [`ErrorHeaders`] and set through
//! [`WithHeaders`], and the cause of a 500 kept as [`InternalCause`] and logged once, when the
//! error is answered (`IntoResponse`), not when it is built (a built error may be dropped or
//! replaced before anyone sees it).

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use qws_core::names::NameError;
use qws_core::ErrorResponse;
use qws_store::StoreError;

/// Extra headers of an error answer (`WWW-Authenticate`, `Retry-After`, `Content-Range`, …).
#[derive(Debug, Clone, Default)]
pub struct ErrorHeaders(Vec<(HeaderName, String)>);

impl ErrorHeaders {
    /// Sets `name` (replacing an earlier value).
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.retain(|(n, _)| *n != name);
        self.0.push((name, value.into()));
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Writes them into a response; a value that is not a valid header value is left out.
    pub fn apply(self, headers: &mut HeaderMap) {
        for (name, value) in self.0 {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.insert(name, v);
            }
        }
    }
}

/// The header setters every error type offers, written once.
pub trait WithHeaders: Sized {
    /// The error's headers.
    fn headers_mut(&mut self) -> &mut ErrorHeaders;

    /// Adds (or replaces) a response header.
    fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers_mut().set(name, value);
        self
    }

    /// `Retry-After: secs`.
    fn with_retry_after(self, secs: u64) -> Self {
        self.with_header(header::RETRY_AFTER, secs.to_string())
    }

    /// A `WWW-Authenticate` challenge.
    fn with_www_authenticate(self, challenge: impl Into<String>) -> Self {
        self.with_header(header::WWW_AUTHENTICATE, challenge)
    }
}

/// Why a request failed with a 500: logged when the error is answered, never sent.
#[derive(Debug, Clone)]
pub struct InternalCause {
    /// What was being done.
    pub context: String,
    /// The underlying error's text.
    pub error: String,
}

impl InternalCause {
    /// Records a cause.
    pub fn new(context: &str, cause: &dyn std::fmt::Display) -> InternalCause {
        InternalCause {
            context: context.to_string(),
            error: cause.to_string(),
        }
    }

    /// Logs it; `plane` names the answering service.
    pub fn log(&self, plane: &str) {
        tracing::error!(context = %self.context, error = %self.error, "{plane} internal error");
    }
}

/// An error with its HTTP status, ARM code, message and optional extra headers.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// ARM `error.code`.
    pub code: String,
    /// ARM `error.message`. Never contains secrets.
    pub message: String,
    /// ARM `error.target` (the offending field).
    pub target: Option<String>,
    /// Extra headers (`WWW-Authenticate` on 401s, `Retry-After` on 429s, …).
    pub headers: ErrorHeaders,
    /// The cause of a 500, logged when answered.
    pub cause: Option<Box<InternalCause>>,
}

impl WithHeaders for ApiError {
    fn headers_mut(&mut self) -> &mut ErrorHeaders {
        &mut self.headers
    }
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            target: None,
            headers: ErrorHeaders::default(),
            cause: None,
        }
    }

    /// Sets the target field.
    pub fn with_target(mut self, target: impl Into<String>) -> ApiError {
        self.target = Some(target.into());
        self
    }

    /// 400 with a code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `InvalidRequestContent` naming a field.
    pub fn invalid_content(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::bad_request("InvalidRequestContent", message).with_target(field)
    }

    /// 404 `ResourceGroupNotFound`.
    pub fn resource_group_not_found(rg: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
    }

    /// 404 `ResourceNotFound` for a workspace.
    pub fn workspace_not_found(rg: &str, ws: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!(
                "The Resource 'Microsoft.Quantum/workspaces/{ws}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    /// 404 `SubscriptionNotFound`.
    pub fn subscription_not_found(sub: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        )
    }

    /// 500 with a generic message; the cause is logged when answered, never returned.
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The server encountered an internal error. Please retry the request.",
        );
        e.cause = Some(Box::new(InternalCause::new(context, cause)));
        e
    }

    /// The ARM body.
    pub fn body(&self) -> ErrorResponse {
        let mut e = ErrorResponse::new(&self.code, &self.message);
        e.error.target = self.target.clone();
        e
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> ApiError {
        ApiError::bad_request(e.code, e.message).with_target(e.field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::KeysDisabled => ApiError::bad_request(
                "ApiKeysDisabled",
                "Access keys are disabled for this workspace. Enable them (apiKeyEnabled: true) before regenerating keys.",
            ),
            StoreError::LocationChange { existing } => ApiError::bad_request(
                "InvalidResourceLocation",
                format!("The resource already exists in location '{existing}'. A resource with the same name cannot be created in another location."),
            )
            .with_target("location"),
            StoreError::NameNotAvailable { name, location } => ApiError::new(
                StatusCode::CONFLICT,
                "WorkspaceNameNotAvailable",
                format!("The workspace name '{name}' is already in use in location '{location}'. Workspace names must be unique within a region across all subscriptions and resource groups; choose another name or location."),
            )
            .with_target("name"),
            StoreError::ResourceGroupNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceGroupNotFound",
                "The resource group could not be found.",
            ),
            StoreError::WorkspaceNotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                "The workspace was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            ),
            other => ApiError::internal("store", &other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            cause.log("ARM");
        }
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        let h = resp.headers_mut();
        h.insert("x-ms-failure-cause", HeaderValue::from_static("gateway"));
        self.headers.apply(h);
        resp
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

/// Runs `f` and returns what it logged (tests of the error types).
#[cfg(test)]
pub(crate) fn logged(f: impl FnOnce()) -> String {
    test_support::logged(f)
}

#[cfg(test)]
mod test_support {
    use std::sync::{Arc, Mutex};

    pub(super) fn logged(f: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Sink::default();
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let out = sink.0.lock().unwrap().clone();
        String::from_utf8(out).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_is_logged_once_when_answered() {
        let log = logged(|| {
            let e = ApiError::internal("store", &"disk on fire");
            let _dropped = ApiError::internal("store", &"never answered");
            let resp = e.into_response();
            assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        });
        assert_eq!(log.matches("disk on fire").count(), 1, "{log}");
        assert!(!log.contains("never answered"), "{log}");
    }

    #[test]
    fn headers_are_carried_to_the_response() {
        let resp = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", "m")
            .with_retry_after(7)
            .with_www_authenticate("Bearer x")
            .with_retry_after(9)
            .into_response();
        let h = resp.headers();
        assert_eq!(h[header::RETRY_AFTER], "9");
        assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer x");
        assert_eq!(h["x-ms-failure-cause"], "gateway");
    }
}
