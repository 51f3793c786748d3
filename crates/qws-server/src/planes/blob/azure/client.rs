//! The few Blob service REST operations qws makes itself against a storage account, each signed
//! with SharedKey: create, list and delete containers; put, inspect and read blobs.
//!
//! Responses are bounded (listings per page, blobs by the caller's limit); errors carry the
//! service's status and `x-ms-error-code`, never a key or a signature.

use super::account::Account;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::collections::BTreeMap;
use std::time::Duration;

/// The `x-ms-version` of qws's own requests.
pub const API_VERSION: &str = "2021-12-02";
/// Largest List Containers page read.
const MAX_LISTING_BYTES: usize = 8 * 1024 * 1024;
/// Largest error body read (for its code and message).
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// Pages of a container listing followed at most (5,000 containers each).
const MAX_LISTING_PAGES: usize = 1000;

/// A failed storage request.
#[derive(Debug, thiserror::Error)]
pub enum AzureError {
    /// The service answered with an error status.
    #[error("storage account answered {status} {code}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// `x-ms-error-code` (or the XML `Code`).
        code: String,
        /// The XML `Message`, first line.
        message: String,
    },
    /// The account could not be reached or the answer was malformed or too large.
    #[error("storage account request failed: {0}")]
    Transport(String),
}

/// A container as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerItem {
    /// Name.
    pub name: String,
    /// User metadata (names lowercase).
    pub metadata: BTreeMap<String, String>,
}

/// A blob's size and `Content-Encoding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobInfo {
    /// Length in bytes.
    pub length: u64,
    /// `Content-Encoding`, if any.
    pub content_encoding: Option<String>,
}

/// A SharedKey client of one account's Blob service.
#[derive(Clone, Debug)]
pub struct BlobClient {
    account: Account,
    http: reqwest::Client,
}

impl BlobClient {
    /// A client for `account`.
    pub fn new(account: Account) -> Result<BlobClient, AzureError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| AzureError::Transport(e.to_string()))?;
        Ok(BlobClient { account, http })
    }

    /// The account.
    pub fn account(&self) -> &Account {
        &self.account
    }

    fn url(&self, container: Option<&str>, blob: Option<&str>, query: &[(&str, &str)]) -> url::Url {
        let mut s = self.account.blob_endpoint().to_string();
        if let Some(c) = container {
            s.push('/');
            s.push_str(c);
        } else {
            s.push('/');
        }
        if let Some(b) = blob {
            s.push('/');
            s.push_str(&crate::planes::blob::sas::encode_blob_path(b));
        }
        let mut u = url::Url::parse(&s).expect("the endpoint was validated as a URL");
        if !query.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        u
    }

    /// Sends a signed request. `headers` are the operation's own; the date, version, length
    /// and authorization are added here.
    async fn send(
        &self,
        method: Method,
        url: url::Url,
        mut headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, AzureError> {
        let date = time::OffsetDateTime::now_utc()
            .format(&time::macros::format_description!(
                "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
            ))
            .expect("a fixed format");
        headers.insert("x-ms-date", HeaderValue::from_str(&date).expect("ASCII"));
        headers.insert("x-ms-version", HeaderValue::from_static(API_VERSION));
        let len = body.as_ref().map_or(0, Vec::len);
        if body.is_some() || method == Method::PUT {
            headers.insert(reqwest::header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        let auth = self.account.shared_key(method.as_str(), &url, &headers);
        headers.insert(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_str(&auth).map_err(|_| AzureError::Transport("bad header".into()))?,
        );
        let mut req = self.http.request(method, url).headers(headers);
        if let Some(b) = body {
            req = req.body(b);
        }
        req.send()
            .await
            .map_err(|e| AzureError::Transport(e.without_url().to_string()))
    }

    /// Reads at most `max` bytes of a body; `None` if it is longer.
    async fn read_bounded(
        mut resp: reqwest::Response,
        max: usize,
    ) -> Result<Option<Vec<u8>>, AzureError> {
        let mut out = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| AzureError::Transport(e.without_url().to_string()))?
        {
            if out.len() + chunk.len() > max {
                return Ok(None);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Some(out))
    }

    async fn error(resp: reqwest::Response) -> AzureError {
        let status = resp.status().as_u16();
        let header_code = resp
            .headers()
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Self::read_bounded(resp, MAX_ERROR_BYTES)
            .await
            .ok()
            .flatten()
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let code = header_code
            .or_else(|| tag_text(&text, "Code").map(unescape))
            .unwrap_or_default();
        let message = tag_text(&text, "Message")
            .map(unescape)
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(300)
            .collect();
        AzureError::Status {
            status,
            code,
            message,
        }
    }

    /// Creates a container with `metadata`; `Ok(false)` if it already existed.
    pub async fn create_container(
        &self,
        name: &str,
        metadata: &[(&str, &str)],
    ) -> Result<bool, AzureError> {
        let mut h = HeaderMap::new();
        for (k, v) in metadata {
            let name = HeaderName::from_bytes(format!("x-ms-meta-{k}").as_bytes())
                .map_err(|_| AzureError::Transport("bad metadata name".into()))?;
            let value = HeaderValue::from_str(v)
                .map_err(|_| AzureError::Transport("bad metadata value".into()))?;
            h.insert(name, value);
        }
        let url = self.url(Some(name), None, &[("restype", "container")]);
        let resp = self.send(Method::PUT, url, h, None).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::CONFLICT => match Self::error(resp).await {
                AzureError::Status { code, .. } if code == "ContainerAlreadyExists" => Ok(false),
                e => Err(e),
            },
            _ => Err(Self::error(resp).await),
        }
    }

    /// Deletes a container; `Ok(false)` if there was none.
    pub async fn delete_container(&self, name: &str) -> Result<bool, AzureError> {
        let url = self.url(Some(name), None, &[("restype", "container")]);
        let resp = self
            .send(Method::DELETE, url, HeaderMap::new(), None)
            .await?;
        match resp.status() {
            StatusCode::ACCEPTED | StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Self::error(resp).await),
        }
    }

    /// A one-container listing: the account answers and accepts the key.
    pub async fn ping(&self) -> Result<(), AzureError> {
        let url = self.url(None, None, &[("comp", "list"), ("maxresults", "1")]);
        let resp = self.send(Method::GET, url, HeaderMap::new(), None).await?;
        if resp.status() != StatusCode::OK {
            return Err(Self::error(resp).await);
        }
        Ok(())
    }

    /// Every container of the account with its metadata (all pages).
    pub async fn list_containers(&self) -> Result<Vec<ContainerItem>, AzureError> {
        let mut out = Vec::new();
        let mut marker = String::new();
        for _ in 0..MAX_LISTING_PAGES {
            let mut q = vec![("comp", "list"), ("include", "metadata")];
            if !marker.is_empty() {
                q.push(("marker", marker.as_str()));
            }
            let url = self.url(None, None, &q);
            let resp = self.send(Method::GET, url, HeaderMap::new(), None).await?;
            if resp.status() != StatusCode::OK {
                return Err(Self::error(resp).await);
            }
            let body = Self::read_bounded(resp, MAX_LISTING_BYTES)
                .await?
                .ok_or_else(|| AzureError::Transport("container listing too large".into()))?;
            let text = String::from_utf8_lossy(&body);
            out.extend(parse_containers(&text));
            marker = tag_text(&text, "NextMarker")
                .map(unescape)
                .unwrap_or_default();
            if marker.is_empty() {
                return Ok(out);
            }
        }
        Err(AzureError::Transport(
            "container listing has too many pages".into(),
        ))
    }

    /// Writes (replaces) a block blob in one request.
    pub async fn put_blob(
        &self,
        container: &str,
        blob: &str,
        data: Vec<u8>,
        content_type: &str,
    ) -> Result<(), AzureError> {
        let mut h = HeaderMap::new();
        h.insert("x-ms-blob-type", HeaderValue::from_static("BlockBlob"));
        h.insert(
            "x-ms-blob-content-type",
            HeaderValue::from_str(content_type)
                .map_err(|_| AzureError::Transport("bad content type".into()))?,
        );
        let url = self.url(Some(container), Some(blob), &[]);
        let resp = self.send(Method::PUT, url, h, Some(data)).await?;
        match resp.status() {
            StatusCode::CREATED => Ok(()),
            _ => Err(Self::error(resp).await),
        }
    }

    /// A blob's length and encoding; `None` if the blob (or its container) does not exist.
    pub async fn blob_info(
        &self,
        container: &str,
        blob: &str,
    ) -> Result<Option<BlobInfo>, AzureError> {
        let url = self.url(Some(container), Some(blob), &[]);
        let resp = self.send(Method::HEAD, url, HeaderMap::new(), None).await?;
        match resp.status() {
            StatusCode::OK => {
                let h = resp.headers();
                let length = h
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| AzureError::Transport("blob without Content-Length".into()))?;
                let content_encoding = h
                    .get(reqwest::header::CONTENT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty())
                    .map(str::to_string);
                Ok(Some(BlobInfo {
                    length,
                    content_encoding,
                }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(AzureError::Status {
                status: resp.status().as_u16(),
                code: resp
                    .headers()
                    .get("x-ms-error-code")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string(),
                message: String::new(),
            }),
        }
    }

    /// A blob's bytes, at most `max`; `Ok(None)` if it does not exist, an error if it is
    /// longer than `max`.
    pub async fn get_blob(
        &self,
        container: &str,
        blob: &str,
        max: u64,
    ) -> Result<Option<Vec<u8>>, AzureError> {
        let url = self.url(Some(container), Some(blob), &[]);
        let resp = self.send(Method::GET, url, HeaderMap::new(), None).await?;
        match resp.status() {
            StatusCode::OK => {
                let max = usize::try_from(max).unwrap_or(usize::MAX);
                Self::read_bounded(resp, max)
                    .await?
                    .map(Some)
                    .ok_or_else(|| AzureError::Transport("blob larger than allowed".into()))
            }
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(Self::error(resp).await),
        }
    }
}

/// The text of the first `<tag>…</tag>` (`None` for an absent or empty-element tag).
fn tag_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The containers of a List Containers page.
fn parse_containers(xml: &str) -> Vec<ContainerItem> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<Container>") {
        let after = &rest[start + "<Container>".len()..];
        let Some(end) = after.find("</Container>") else {
            break;
        };
        let item = &after[..end];
        rest = &after[end..];
        let Some(name) = tag_text(item, "Name") else {
            continue;
        };
        let mut metadata = BTreeMap::new();
        if let Some(meta) = tag_text(item, "Metadata") {
            let mut m = meta;
            while let Some(open) = m.find('<') {
                let Some(close) = m[open..].find('>') else {
                    break;
                };
                let key = &m[open + 1..open + close];
                if key.starts_with('/') || key.ends_with('/') {
                    m = &m[open + close + 1..];
                    continue;
                }
                let body = &m[open + close + 1..];
                let Some(v_end) = body.find(&format!("</{key}>")) else {
                    break;
                };
                metadata.insert(key.to_ascii_lowercase(), unescape(&body[..v_end]));
                m = &body[v_end..];
            }
        }
        out.push(ContainerItem {
            name: unescape(name),
            metadata,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_listing_pages_are_read() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://x/"><Containers><Container><Name>job-1</Name><Properties><Etag>0x1</Etag></Properties><Metadata><qwsnamespace>ws-a</qwsnamespace><Other>v&amp;w</Other></Metadata></Container><Container><Name>plain</Name><Properties /></Container></Containers><NextMarker>m2</NextMarker></EnumerationResults>"#;
        let items = parse_containers(xml);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].name, "job-1");
        assert_eq!(items[0].metadata["qwsnamespace"], "ws-a");
        assert_eq!(items[0].metadata["other"], "v&w");
        assert!(items[1].metadata.is_empty());
        assert_eq!(tag_text(xml, "NextMarker"), Some("m2"));
        assert_eq!(tag_text("<NextMarker />", "NextMarker"), None);
    }
}
