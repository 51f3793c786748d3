//! The one request pipeline every client in this crate sends through: an HTTP client, an
//! [`AuthPolicy`] and the crate's [`RetryOptions`], in the manner of the Azure SDK for Rust's
//! `Pipeline` with its bearer-token and retry policies.
//!
//! Callers build a [`Request`], the pipeline sends it (authenticating and, by the rules in
//! [`crate::retry`], retrying each attempt) and hands back the last [`RawResponse`] whatever its
//! status: what counts as success, and how an error body is decoded, is the caller's business.

mod auth;

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use time::OffsetDateTime;

pub(crate) use auth::AuthPolicy;

use crate::error::{Error, ErrorKind, Result};
use crate::http::{is_safe_for_secrets, read_body, ClientOptions};
use crate::response::Response;
use crate::retry::RetryOptions;

/// An HTTP client with authentication and retries.
#[derive(Debug)]
pub(crate) struct Pipeline {
    http: reqwest::Client,
    auth: AuthPolicy,
    retry: RetryOptions,
}

impl Pipeline {
    /// A pipeline over a new HTTP client built from `options`.
    pub(crate) fn new(options: &ClientOptions, auth: AuthPolicy) -> Result<Pipeline> {
        Ok(Pipeline {
            http: options.build_http_client()?,
            auth,
            retry: options.retry.clone(),
        })
    }

    /// A pipeline sharing this one's connection pool and retry rules, without credentials (for
    /// SAS URLs, which carry their own authorization).
    pub(crate) fn anonymous(&self) -> Pipeline {
        Pipeline {
            http: self.http.clone(),
            auth: AuthPolicy::Anonymous,
            retry: self.retry.clone(),
        }
    }

    /// Sends `request`, retrying as [`crate::retry`] describes, and returns the last answer.
    pub(crate) async fn send(&self, request: Request) -> Result<RawResponse> {
        if self.auth.sends_secret() && !is_safe_for_secrets(&request.url) {
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "refusing to send credentials to {}: use https (http is allowed only on loopback)",
                    request.url
                ),
            ));
        }
        // One id for every attempt, so the service's logs show the retries of one call together.
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut retries_done = 0;
        loop {
            let response = self.send_once(&request, &request_id).await?;
            let delay = self.retry.delay_before_retry(
                &request.method,
                response.status,
                &response.headers,
                retries_done,
                OffsetDateTime::now_utc(),
            );
            match delay {
                Some(delay) => {
                    retries_done += 1;
                    sleep(delay).await;
                }
                None => return Ok(response),
            }
        }
    }

    async fn send_once(&self, request: &Request, request_id: &str) -> Result<RawResponse> {
        let mut builder = self
            .http
            .request(request.method.clone(), request.url.clone())
            .header("x-ms-client-request-id", request_id);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        builder = match &request.body {
            Some((content_type, bytes)) => builder
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(bytes.clone()),
            // Some front ends reject a body-less POST or PUT without an explicit length (ARM
            // `listKeys` is such a POST).
            None if matches!(request.method, Method::POST | Method::PUT | Method::PATCH) => {
                builder.header(reqwest::header::CONTENT_LENGTH, "0")
            }
            None => builder,
        };
        let builder = self.auth.authorize(builder).await?;
        let response = builder.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_body(response).await?;
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }
}

async fn sleep(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// One request, kept whole so every attempt sends the same bytes.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    method: Method,
    url: url::Url,
    headers: Vec<(&'static str, String)>,
    body: Option<(String, bytes::Bytes)>,
}

impl Request {
    /// A request without headers or body.
    pub(crate) fn new(method: Method, url: url::Url) -> Self {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header. An invalid value surfaces as an error when the request is sent.
    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Sets the body and its content type.
    pub(crate) fn body(mut self, content_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.body = Some((content_type.into(), bytes.into()));
        self
    }

    /// Sets a JSON body.
    pub(crate) fn json<B: serde::Serialize + ?Sized>(self, body: &B) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::new(
                ErrorKind::DataConversion,
                format!("cannot encode request: {e}"),
            )
        })?;
        Ok(self.body("application/json", bytes))
    }
}

/// The answer to the last attempt of a request: any status.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl RawResponse {
    /// Whether the status is 2xx.
    pub(crate) fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The typed response.
    pub(crate) fn into_response<T>(self) -> Response<T> {
        Response::new(self.status, self.headers, self.body)
    }

    /// The error for this answer, decoded from an ARM or OAuth2 error body.
    pub(crate) fn into_error(self, kind: ErrorKind) -> Error {
        Error::from_response(kind, self.status, &self.body)
    }

    /// The typed response when the status is one of `ok`, else the service's error.
    pub(crate) fn expect<T>(self, ok: &[u16]) -> Result<Response<T>> {
        if ok.contains(&self.status) {
            Ok(self.into_response())
        } else {
            let status = self.status;
            Err(self.into_error(ErrorKind::HttpResponse { status }))
        }
    }
}

#[cfg(test)]
mod tests;
