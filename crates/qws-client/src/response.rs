//! A raw service response with a typed view of its body.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};

/// A successful service response: status, headers and the body, which can be decoded into `T`
/// ([`into_model`](Self::into_model)) or kept as the exact JSON the service sent
/// ([`json`](Self::json)).
pub struct Response<T> {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
    model: PhantomData<fn() -> T>,
}

impl<T> Response<T> {
    pub(crate) fn new(status: u16, headers: reqwest::header::HeaderMap, body: Vec<u8>) -> Self {
        Response {
            status,
            headers,
            body,
            model: PhantomData,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        &self.headers
    }

    /// The raw body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as JSON exactly as the service sent it (`null` for an empty body).
    pub fn json(&self) -> Result<serde_json::Value> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::DataConversion,
                format!("response is not JSON: {e}"),
            )
        })
    }

    /// Reinterprets the body as another model type.
    pub(crate) fn cast<U>(self) -> Response<U> {
        Response::new(self.status, self.headers, self.body)
    }
}

impl<T: DeserializeOwned> Response<T> {
    /// Decodes the body into the model type.
    pub fn into_model(self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::DataConversion,
                format!(
                    "unexpected response body for {}: {e}",
                    std::any::type_name::<T>()
                ),
            )
        })
    }
}

// The body may hold access keys (listKeys), so Debug shows only its size.
impl<T> std::fmt::Debug for Response<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish()
    }
}
