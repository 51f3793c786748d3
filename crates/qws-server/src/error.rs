//! [`ApiError`]: every management-plane failure, rendered as ARM's `ErrorResponse`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use qws_core::names::NameError;
use qws_core::ErrorResponse;
use qws_store::StoreError;

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
    /// `WWW-Authenticate` challenge for 401s.
    pub www_authenticate: Option<String>,
    /// `Retry-After` seconds for 429s.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            target: None,
            www_authenticate: None,
            retry_after: None,
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

    /// 500 with a generic message; the cause is logged, not returned.
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%context, error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "The server encountered an internal error. Please retry the request.",
        )
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
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        let h = resp.headers_mut();
        h.insert("x-ms-failure-cause", HeaderValue::from_static("gateway"));
        if let Some(c) = self
            .www_authenticate
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            h.insert(header::WWW_AUTHENTICATE, c);
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;
