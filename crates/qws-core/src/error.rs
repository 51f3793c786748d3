//! The ARM error body (`ErrorResponse` of the v5 common types).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"error": {...}}`: every management-plane error body has this shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorResponse {
    /// The error itself.
    pub error: ErrorDetail,
}

/// One ARM error: a stable machine-readable `code` and a human-readable `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code such as `ResourceNotFound`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The field or resource the error is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Nested errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(no_recursion)]
    pub details: Vec<ErrorDetail>,
}

impl ErrorResponse {
    /// An error with a code and message only.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorResponse {
            error: ErrorDetail {
                code: code.into(),
                message: message.into(),
                target: None,
                details: Vec::new(),
            },
        }
    }

    /// Sets the `target`.
    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.error.target = Some(target.into());
        self
    }
}
