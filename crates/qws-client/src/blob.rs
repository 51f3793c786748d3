//! Job data in blob storage through SAS URLs: `POST {ws}/storage/sasUri`, Put Blob and a ranged
//! Get Blob (`x-ms-range`, answered `206` with `Content-Range`), as the Azure Quantum client does.
//!
//! Blob requests carry only the SAS query string, never the workspace credential; they go through
//! the workspace's anonymous pipeline, so they follow the crate's retry rules ([`crate::retry`]).

use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, Result};
use crate::http::MAX_RESPONSE_BYTES;
use crate::pipeline::Request;
use crate::workspace::Workspace;

/// Storage service version sent with blob requests.
const BLOB_VERSION: &str = "2026-10-06";
/// A SAS that expires sooner than this is renewed before use (as the Python client does).
const SAS_RENEW_MARGIN: time::Duration = time::Duration::minutes(5);

fn data_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::DataConversion, message)
}

/// The blob URL `{container}/{blob}?{sas}` for a container SAS URL.
pub(crate) fn blob_url(container_sas: &str, blob: &str) -> Result<url::Url> {
    let mut url = url::Url::parse(container_sas)
        .map_err(|e| data_error(format!("the service returned a bad SAS URL: {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(data_error("the service returned a non-http SAS URL"));
    }
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|_| data_error("the service returned a SAS URL without a path"))?;
        segments.pop_if_empty();
        segments.push(blob);
    }
    Ok(url)
}

/// Whether a blob URL carries a SAS (`se=`) valid for at least five more minutes.
pub(crate) fn has_fresh_sas(url: &url::Url) -> bool {
    url.query_pairs()
        .find(|(k, _)| k == "se")
        .and_then(|(_, v)| {
            OffsetDateTime::parse(&v, &time::format_description::well_known::Rfc3339).ok()
        })
        .is_some_and(|se| se - SAS_RENEW_MARGIN > OffsetDateTime::now_utc())
}

/// Splits `…/{container}/{blob…}` (the container is the first path segment, as the service
/// emits it) into container and blob names.
pub(crate) fn container_and_blob(url: &url::Url) -> Result<(String, String)> {
    let path = url.path().trim_start_matches('/');
    let (container, blob) = path
        .split_once('/')
        .ok_or_else(|| data_error(format!("blob URL {url} has no container/blob path")))?;
    if container.is_empty() || blob.is_empty() {
        return Err(data_error(format!(
            "blob URL {url} has no container/blob path"
        )));
    }
    let decode = |s: &str| {
        percent_decode(s).ok_or_else(|| data_error(format!("blob URL {url} is badly encoded")))
    };
    Ok((decode(container)?, decode(blob)?))
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Workspace {
    /// Asks the service for a SAS URL (`POST {ws}/storage/sasUri`): for the container, or for
    /// one blob in it. The service creates the container.
    pub async fn sas_uri(&self, container: &str, blob: Option<&str>) -> Result<String> {
        let mut body = serde_json::json!({ "containerName": container });
        if let Some(b) = blob {
            body["blobName"] = b.into();
        }
        let url = self.url(&["storage", "sasUri"])?;
        let json = self
            .send_json::<(), _>(reqwest::Method::POST, url, &body, &[200])
            .await?
            .json()?;
        json.get("sasUri")
            .and_then(|s| s.as_str())
            .map(str::to_owned)
            .ok_or_else(|| data_error("storage/sasUri answered without a sasUri"))
    }

    /// Uploads `data` as `blob` in the container of `container_sas` (Put Blob, `If-None-Match: *`)
    /// and returns the blob URL without the SAS.
    pub async fn upload_blob(
        &self,
        container_sas: &str,
        blob: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> Result<String> {
        if data.len() > MAX_RESPONSE_BYTES * 2 {
            return Err(Error::new(
                ErrorKind::Other,
                format!(
                    "input of {} bytes is larger than the 64 MiB single-upload limit",
                    data.len()
                ),
            ));
        }
        let url = blob_url(container_sas, blob)?;
        let request = Request::new(reqwest::Method::PUT, url.clone())
            .header("x-ms-blob-type", "BlockBlob")
            .header("x-ms-blob-content-type", content_type)
            .header("x-ms-version", BLOB_VERSION)
            .header("if-none-match", "*")
            .body("application/octet-stream", data);
        let response = self.inner.blob_pipeline.send(request).await?;
        if response.status != 201 && response.status != 200 {
            return Err(blob_error(response.status, &response.body));
        }
        // The service's own spelling of the host (e.g. `127.1`, which URL parsing would turn
        // into `127.0.0.1`) matters to clients that parse blob URLs, so keep it.
        let base = container_sas
            .split(['?', '#'])
            .next()
            .unwrap_or(container_sas);
        Ok(format!(
            "{}/{}",
            base.trim_end_matches('/'),
            url.path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or(blob)
        ))
    }

    /// Downloads a blob with a ranged GET (`x-ms-range: bytes=0-33554431`). Answers must be
    /// `206` with `Content-Range` (or a plain `200`); blobs over 32 MiB are refused.
    pub async fn download_blob(&self, blob_sas: &url::Url) -> Result<Vec<u8>> {
        let request = Request::new(reqwest::Method::GET, blob_sas.clone())
            .header("x-ms-range", format!("bytes=0-{}", MAX_RESPONSE_BYTES - 1))
            .header("x-ms-version", BLOB_VERSION);
        let response = self.inner.blob_pipeline.send(request).await?;
        let status = response.status;
        let content_range = response
            .headers
            .get(reqwest::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.body;
        match status {
            200 => Ok(body),
            206 => {
                // `bytes 0-N/TOTAL`: the whole blob must have come back in this one range.
                let total = content_range
                    .as_deref()
                    .and_then(|r| r.rsplit('/').next())
                    .and_then(|t| t.parse::<u64>().ok())
                    .ok_or_else(|| data_error("206 answer without a valid Content-Range"))?;
                if total > body.len() as u64 {
                    return Err(data_error(format!(
                        "blob of {total} bytes is larger than the {MAX_RESPONSE_BYTES}-byte download limit"
                    )));
                }
                Ok(body)
            }
            _ => Err(blob_error(status, &body)),
        }
    }
}

/// Decodes a blob XML error (`<Error><Code>…</Code><Message>…</Message></Error>`).
fn blob_error(status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(&body[..body.len().min(2000)]);
    let between = |tag: &str| {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&close)? + start;
        Some(text[start..end].to_owned())
    };
    match between("Code") {
        Some(code) => Error::with_code(
            ErrorKind::HttpResponse { status },
            code,
            between("Message").unwrap_or_default(),
        ),
        None => Error::from_response(ErrorKind::HttpResponse { status }, status, body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_urls_keep_the_sas_and_split_back() {
        let u = blob_url(
            "http://127.1:8080/job-1?sv=1&se=2099-01-01T00%3A00%3A00Z&sig=x",
            "inputData",
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:8080/job-1/inputData?sv=1&se=2099-01-01T00%3A00%3A00Z&sig=x"
        );
        assert!(has_fresh_sas(&u));
        let (c, b) = container_and_blob(&u).unwrap();
        assert_eq!((c.as_str(), b.as_str()), ("job-1", "inputData"));
        let stale = url::Url::parse("http://h/c/b?se=2000-01-01T00%3A00%3A00Z").unwrap();
        assert!(!has_fresh_sas(&stale));
        assert!(!has_fresh_sas(&url::Url::parse("http://h/c/b").unwrap()));
        assert!(container_and_blob(&url::Url::parse("http://h/c").unwrap()).is_err());
    }

    #[test]
    fn blob_errors_decode_the_xml_code() {
        let e = blob_error(
            404,
            b"<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code><Message>nope</Message></Error>",
        );
        assert_eq!(e.code(), Some("BlobNotFound"));
        assert_eq!(e.status(), Some(404));
    }
}
