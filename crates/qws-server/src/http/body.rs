//! Request bodies: bounded, JSON-parsed with the failing field named in the ARM error.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// Largest management-plane request body.
pub const MAX_MGMT_BODY: usize = 1024 * 1024;

/// A JSON body of type `T`. An empty body parses as `{}` only when `T` allows it.
#[derive(Debug)]
pub struct ArmJson<T>(pub T);

/// Parses JSON, naming the failing field path in the error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::bad_request(
                "InvalidRequestContent",
                format!("The request content is not valid JSON: {inner}."),
            )
        } else {
            let field = if path == "." { "(body)".to_string() } else { path };
            ApiError::invalid_content(
                &field,
                format!("The request content was invalid and could not be deserialized: '{field}': {inner}."),
            )
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ArmJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        // The limit itself is the router's DefaultBodyLimit layer (MAX_MGMT_BODY).
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLarge",
                    format!("The request body exceeds the limit of {MAX_MGMT_BODY} bytes."),
                )
            } else {
                ApiError::bad_request(
                    "InvalidRequestContent",
                    "The request body could not be read.",
                )
            }
        })?;
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        parse_json(bytes).map(ArmJson)
    }
}
