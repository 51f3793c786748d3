//! The blob service handlers. Every request is authorised by a qws SAS ([`super::sas::verify`])
//! and addresses `/<container>[/<blob>]` of the workspace named inside that SAS.

use super::body::FileBody;
use super::error::StorageError;
use super::sas::{self, SasGrant, SasRefusal};
use super::xml::{self, escape};
use crate::audit::AuditAction;
use crate::auth::gate::{self, Failure, Rejection};
use crate::auth::ratelimit::GuessTarget;
use crate::error::WithHeaders;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use percent_encoding::percent_decode_str;
use qws_store::blobs::{
    BlobHeaders, BlobProps, BlobStore, ContainerProps, StagedUpload, WriteCondition,
    MAX_BLOCKS_PER_BLOB,
};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// Largest Put Block List body (50 000 entries of a 64-byte id, base64, with tags).
pub const MAX_BLOCK_LIST_BODY: usize = 8 * 1024 * 1024;
/// Largest `maxresults` of List Blobs (and the default).
pub const MAX_LIST_RESULTS: usize = 5000;
/// Upload bytes gathered before one blocking write (bounds memory per upload).
const WRITE_CHUNK: usize = 256 * 1024;
/// An upload that sends nothing for this long is abandoned (it holds a connection and a file).
pub const BODY_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

type Result<T> = std::result::Result<T, StorageError>;

/// Blobs up to this size are read whole by the blocking call that opens them (one hop to the
/// blocking pool per download); larger ones are streamed from the file.
const READ_WHOLE_MAX: u64 = 64 * 1024;

/// A blob opened for Get Blob: its content already read, or the file to stream it from.
enum Opened {
    Whole(bytes::Bytes),
    File(std::fs::File),
}

/// Serves one blob request; always answers in the storage shape, with `x-ms-request-id`,
/// `x-ms-version` and `Date`.
pub async fn handle(state: AppState, req: Request) -> Response {
    let version = req
        .headers()
        .get("x-ms-version")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 32 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or(sas::SAS_VERSION)
        .to_string();
    // With job data in an external account, qws's endpoint holds none: say where it lives.
    let answer = if state.job_data.served_by_qws() {
        dispatch(state, req).await
    } else {
        Err(StorageError::new(
            StatusCode::BAD_REQUEST,
            "BlobDataElsewhere",
            format!(
                "Job data of this server lives in its storage account at {}; use the SAS URL storage/sasUri returns.",
                state.job_data.base_url()
            ),
        ))
    };
    let mut resp = match answer {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    let h = resp.headers_mut();
    h.insert(
        "x-ms-request-id",
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("uuid is ASCII"),
    );
    if let Ok(v) = HeaderValue::from_str(&version) {
        h.insert("x-ms-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&http_date(OffsetDateTime::now_utc())) {
        h.insert(header::DATE, v);
    }
    resp
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: OffsetDateTime) -> String {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[t.weekday().number_days_from_monday() as usize],
        t.day(),
        MONTHS[u8::from(t.month()) as usize - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The request target: container and optional blob, decoded and validated.
fn parse_target(path: &str) -> Result<(String, Option<String>)> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let (c, rest) = match path.split_once('/') {
        Some((c, r)) => (c, Some(r)),
        None => (path, None),
    };
    let invalid_uri = || {
        StorageError::bad(
            "InvalidUri",
            "The requested URI does not represent any resource on the server.",
        )
    };
    let container = percent_decode_str(c)
        .decode_utf8()
        .map_err(|_| invalid_uri())?
        .into_owned();
    qws_store::blobs::validate_container_name(&container)?;
    let blob = match rest.filter(|r| !r.is_empty()) {
        Some(r) => {
            let b = percent_decode_str(r)
                .decode_utf8()
                .map_err(|_| invalid_uri())?
                .into_owned();
            qws_store::blobs::validate_blob_name(&b)?;
            Some(b)
        }
        None => None,
    };
    Ok((container, blob))
}

fn query_get<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn header_str<'a>(h: &'a HeaderMap, k: &str) -> Option<&'a str> {
    h.get(k).and_then(|v| v.to_str().ok())
}

async fn dispatch(state: AppState, req: Request) -> Result<Response> {
    if header_str(req.headers(), "authorization").is_some_and(|v| v.starts_with("SharedKey")) {
        return Err(StorageError::new(
            StatusCode::FORBIDDEN,
            "KeyBasedAuthenticationNotPermitted",
            "Shared Key authorization is not supported by qws. Use the SAS URI returned by POST …/storage/sasUri.",
        ));
    }
    let client = req
        .extensions()
        .get::<crate::http::conn::ConnInfo>()
        .map_or_else(|| ([0, 0, 0, 0], 0).into(), |c| c.remote);
    let (container, blob) = parse_target(req.uri().path())?;
    let pairs = sas::query_pairs(req.uri().query().unwrap_or("")).ok_or_else(|| {
        StorageError::bad(
            "InvalidQueryParameterValue",
            "The query string is malformed.",
        )
    })?;
    // Verified first; only a failure is counted (per address and per workspace the SAS names),
    // audited and, over the limit, answered 503 ServerBusy as storage clients expect.
    let verification = async {
        let refused = |e: StorageError, reason: &str| {
            let claimed = query_get(&pairs, "si").unwrap_or("");
            let failure = Failure::anonymous(
                client,
                AuditAction::BlobAuthenticate,
                &format!("/{container}"),
                reason,
            )
            .guessing(GuessTarget::new("sas workspace", claimed));
            Rejection::Credential(e, failure)
        };
        let grant = match sas::verify(
            &state,
            &pairs,
            &container,
            blob.as_deref(),
            OffsetDateTime::now_utc(),
        )
        .await
        {
            Ok(g) => g,
            Err(SasRefusal::Missing) => return Err(refused(StorageError::new(
                StatusCode::FORBIDDEN,
                "NoAuthenticationInformation",
                "Server failed to authenticate the request. This request needs a shared access signature in the query string.",
            ), "NoAuthenticationInformation")),
            Err(SasRefusal::Invalid) => {
                return Err(refused(StorageError::auth_failed(), "AuthenticationFailed"))
            }
        };
        // A SAS outlives nothing: once its workspace is deleted (or being deleted) it stops
        // working — `sas::verify` grants only a workspace that has a blob namespace.
        Ok(grant)
    };
    let grant = gate::authenticate(&state, verification, |retry| {
        StorageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServerBusy",
            "Too many failed authentication attempts; retry later.",
        )
        .with_retry_after(retry)
    })
    .await?;
    let restype = query_get(&pairs, "restype");
    let comp = query_get(&pairs, "comp");
    let method = req.method().clone();
    let ctx = Ctx {
        state,
        grant,
        container,
    };
    match (blob, restype, comp) {
        (None, Some("container"), Some("list")) if method == Method::GET => ctx.list(&pairs).await,
        (None, Some("container"), None) => match method {
            Method::PUT => ctx.create_container().await,
            Method::GET | Method::HEAD => ctx.container_properties().await,
            Method::DELETE => ctx.delete_container().await,
            _ => Err(unsupported_verb()),
        },
        (None, _, _) => Err(StorageError::bad(
            "InvalidQueryParameterValue",
            "A container request needs restype=container (with comp=list to list blobs).",
        )),
        (Some(blob), None, None) => match method {
            Method::PUT => ctx.put_blob(&blob, req).await,
            Method::GET => ctx.get_blob(&blob, req.headers(), true).await,
            Method::HEAD => ctx.get_blob(&blob, req.headers(), false).await,
            Method::DELETE => ctx.delete_blob(&blob).await,
            _ => Err(unsupported_verb()),
        },
        (Some(blob), None, Some("block")) if method == Method::PUT => {
            let id = query_get(&pairs, "blockid")
                .ok_or_else(|| {
                    StorageError::bad(
                        "MissingRequiredQueryParameter",
                        "A query parameter that's mandatory for this request is not specified: blockid.",
                    )
                })?
                .to_string();
            ctx.put_block(&blob, &id, req).await
        }
        (Some(blob), None, Some("blocklist")) if method == Method::PUT => {
            ctx.put_block_list(&blob, req).await
        }
        _ => Err(StorageError::bad(
            "InvalidQueryParameterValue",
            "The combination of method, restype and comp is not supported by qws.",
        )),
    }
}

fn unsupported_verb() -> StorageError {
    StorageError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "UnsupportedHttpVerb",
        "The resource doesn't support the specified HTTP verb.",
    )
}

struct Ctx {
    state: AppState,
    grant: SasGrant,
    container: String,
}

fn set(h: &mut HeaderMap, k: &'static str, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        h.insert(k, v);
    }
}

fn status_only(status: StatusCode) -> Response {
    let mut r = (status, Body::empty()).into_response();
    set(r.headers_mut(), "content-length", "0");
    r
}

fn write_condition(h: &HeaderMap) -> Result<WriteCondition> {
    let unquote = |v: &str| v.trim().trim_matches('"').to_string();
    match (header_str(h, "if-match"), header_str(h, "if-none-match")) {
        (Some(_), Some(_)) => Err(StorageError::bad(
            "UnsupportedHeader",
            "qws supports only one of If-Match and If-None-Match per request.",
        )),
        (Some(m), None) => Ok(WriteCondition::IfMatch(unquote(m))),
        (None, Some(n)) if n.trim() == "*" => Ok(WriteCondition::IfNoneMatchStar),
        (None, Some(n)) => Ok(WriteCondition::IfNoneMatch(unquote(n))),
        (None, None) => Ok(WriteCondition::None),
    }
}

fn blob_headers(h: &HeaderMap) -> Result<BlobHeaders> {
    let pick = |a: &str, b: &str| {
        header_str(h, a)
            .or_else(|| header_str(h, b))
            .map(str::to_string)
    };
    let mut metadata = BTreeMap::new();
    for (k, v) in h {
        if let Some(name) = k.as_str().strip_prefix("x-ms-meta-") {
            let v = v.to_str().map_err(|_| {
                StorageError::bad("InvalidMetadata", "Metadata values must be ASCII.")
            })?;
            // Azure requires C# identifiers, which also keeps them valid XML element names.
            let ident = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ident {
                return Err(StorageError::bad(
                    "InvalidMetadata",
                    "Metadata names must be identifiers (a letter or underscore, then letters, digits or underscores).",
                ));
            }
            metadata.insert(name.to_string(), v.to_string());
        }
    }
    Ok(BlobHeaders {
        content_type: pick("x-ms-blob-content-type", "content-type")
            .or_else(|| Some("application/octet-stream".into())),
        content_encoding: pick("x-ms-blob-content-encoding", "content-encoding"),
        content_md5: header_str(h, "x-ms-blob-content-md5").map(str::to_string),
        metadata,
    })
}

fn declared_length(h: &HeaderMap) -> Option<u64> {
    header_str(h, "content-length").and_then(|v| v.parse().ok())
}

/// The blob (or block) an upload writes.
#[derive(Clone)]
struct UploadTarget {
    blobs: std::sync::Arc<BlobStore>,
    ws: String,
    container: String,
    blob: String,
    block_id: Option<String>,
}

impl UploadTarget {
    /// Starts the staged upload (checks the names and that the container exists).
    fn open(&self) -> qws_store::blobs::BlobResult<StagedUpload> {
        match &self.block_id {
            None => self
                .blobs
                .begin_upload(&self.ws, &self.container, &self.blob),
            Some(id) => self
                .blobs
                .begin_block(&self.ws, &self.container, &self.blob, id),
        }
    }

    /// Appends `bytes` to `staged`, starting the upload first when there is none yet
    /// (blocking: creates and writes the file).
    fn append(
        &self,
        staged: Option<StagedUpload>,
        bytes: &[u8],
    ) -> qws_store::blobs::BlobResult<StagedUpload> {
        let mut staged = match staged {
            Some(s) => s,
            None => self.open()?,
        };
        staged.write(bytes)?;
        Ok(staged)
    }

    /// The size bound of the upload.
    fn limit(&self) -> u64 {
        self.blobs.upload_limit(self.block_id.is_some())
    }
}

/// An upload's body as it arrived: the staged upload holding what was written so far (none
/// while the body fits in one chunk) and the bytes after that, still in memory.
struct Received {
    staged: Option<StagedUpload>,
    tail: Vec<u8>,
}

impl Received {
    /// The staged upload holding the whole body (blocking). Called by the blocking call that
    /// commits it, so a small upload (a job's input) takes one hop to the blocking pool, not three.
    fn into_staged(self, target: &UploadTarget) -> qws_store::blobs::BlobResult<StagedUpload> {
        target.append(self.staged, &self.tail)
    }
}

/// Reads a request body, writing it to a staged upload a chunk at a time (never holding more
/// than one chunk) and refusing as soon as the bound would be crossed. A body of at most one
/// chunk is left in memory, unstaged.
async fn receive(body: Body, target: UploadTarget) -> Result<Received> {
    let mut body = body;
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let limit = target.limit();
    let mut staged: Option<StagedUpload> = None;
    loop {
        let next = tokio::time::timeout(BODY_IDLE_TIMEOUT, body.frame())
            .await
            .map_err(|_| {
                StorageError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "OperationTimedOut",
                    "The request body stopped arriving; the upload was abandoned.",
                )
            })?;
        let frame = match next {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(_)) => {
                return Err(StorageError::bad(
                    "InvalidInput",
                    "The request body could not be read completely.",
                ))
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let written = staged.as_ref().map_or(0, StagedUpload::len);
        if written + (buf.len() + data.len()) as u64 > limit {
            return Err(StorageError::too_large(limit));
        }
        buf.extend_from_slice(&data);
        crate::metrics::blob_bytes_in(data.len() as u64);
        if buf.len() >= WRITE_CHUNK {
            let (chunk, target) = (std::mem::take(&mut buf), target.clone());
            staged = Some(blocking(move || target.append(staged, &chunk)).await?);
        }
    }
    Ok(Received { staged, tail: buf })
}

/// Runs `f` on the blocking pool (file-system work).
async fn on_blocking_pool<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StorageError::internal("blocking task", &e))?
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, qws_store::blobs::BlobError> + Send + 'static,
) -> Result<T> {
    on_blocking_pool(move || f().map_err(StorageError::from)).await
}

fn props_headers(h: &mut HeaderMap, p: &BlobProps) {
    set(h, "etag", &p.etag_header());
    set(h, "last-modified", &http_date(p.last_modified));
}

fn container_headers(h: &mut HeaderMap, p: &ContainerProps) {
    set(h, "etag", &format!("\"{}\"", p.etag));
    set(h, "last-modified", &http_date(p.last_modified));
}

/// A parsed byte range: `(start, Some(end inclusive) | None = to the end)` or a suffix length.
enum RangeSpec {
    From(u64, Option<u64>),
    Suffix(u64),
}

fn parse_range(v: &str) -> Option<RangeSpec> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return b.parse().ok().map(RangeSpec::Suffix);
    }
    let start: u64 = a.parse().ok()?;
    if b.is_empty() {
        return Some(RangeSpec::From(start, None));
    }
    let end: u64 = b.parse().ok()?;
    (end >= start).then_some(RangeSpec::From(start, Some(end)))
}

impl Ctx {
    /// The blob namespace the request addresses.
    fn ws(&self) -> String {
        self.grant.namespace.clone()
    }

    /// Where an upload of `blob` (a block of it, with `block_id`) goes.
    fn upload_target(&self, blob: &str, block_id: Option<&str>) -> UploadTarget {
        UploadTarget {
            blobs: self.state.blobs.clone(),
            ws: self.ws(),
            container: self.container.clone(),
            blob: blob.to_string(),
            block_id: block_id.map(str::to_string),
        }
    }

    fn need(&self, any_of: &str) -> Result<()> {
        if any_of.chars().any(|p| self.grant.allows(p)) {
            Ok(())
        } else {
            Err(StorageError::permission(any_of))
        }
    }

    /// Write permission: `w`, or `c` which may only create (never overwrite). Returns the
    /// condition to apply and whether it was imposed by a create-only SAS.
    fn write_condition_for(&self, cond: WriteCondition) -> Result<(WriteCondition, bool)> {
        self.need("wc")?;
        if self.grant.allows('w') {
            return Ok((cond, false));
        }
        match cond {
            WriteCondition::None => Ok((WriteCondition::IfNoneMatchStar, true)),
            WriteCondition::IfNoneMatchStar => Ok((cond, false)),
            // Conditions on an existing version mean overwriting, which needs `w`.
            WriteCondition::IfMatch(_) | WriteCondition::IfNoneMatch(_) => {
                Err(StorageError::permission("w"))
            }
        }
    }

    async fn create_container(&self) -> Result<Response> {
        self.need("cw")?;
        let (blobs, ws, c) = (self.state.blobs.clone(), self.ws(), self.container.clone());
        let created = blocking(move || {
            let created = blobs.create_container(&ws, &c)?;
            Ok((created, blobs.container_props(&ws, &c)?))
        })
        .await?;
        match created {
            (true, Some(p)) => {
                let mut r = status_only(StatusCode::CREATED);
                container_headers(r.headers_mut(), &p);
                Ok(r)
            }
            _ => Err(StorageError::new(
                StatusCode::CONFLICT,
                "ContainerAlreadyExists",
                "The specified container already exists.",
            )),
        }
    }

    async fn container_properties(&self) -> Result<Response> {
        let (blobs, ws, c) = (self.state.blobs.clone(), self.ws(), self.container.clone());
        let p = blocking(move || blobs.container_props(&ws, &c))
            .await?
            .ok_or_else(|| StorageError::from(qws_store::blobs::BlobError::ContainerNotFound))?;
        let mut r = status_only(StatusCode::OK);
        let h = r.headers_mut();
        container_headers(h, &p);
        set(h, "x-ms-lease-state", "available");
        set(h, "x-ms-lease-status", "unlocked");
        set(h, "x-ms-has-immutability-policy", "false");
        set(h, "x-ms-has-legal-hold", "false");
        Ok(r)
    }

    async fn delete_container(&self) -> Result<Response> {
        self.need("d")?;
        let (blobs, ws, c) = (self.state.blobs.clone(), self.ws(), self.container.clone());
        if blocking(move || blobs.delete_container(&ws, &c)).await? {
            Ok(status_only(StatusCode::ACCEPTED))
        } else {
            Err(qws_store::blobs::BlobError::ContainerNotFound.into())
        }
    }

    async fn put_blob(&self, blob: &str, req: Request) -> Result<Response> {
        let h = req.headers();
        match header_str(h, "x-ms-blob-type") {
            None => {
                return Err(StorageError::bad(
                    "MissingRequiredHeader",
                    "An HTTP header that's mandatory for this request is not specified: x-ms-blob-type.",
                ))
            }
            Some("BlockBlob") => {}
            Some(_) => {
                return Err(StorageError::bad(
                    "InvalidHeaderValue",
                    "qws stores block blobs only: x-ms-blob-type must be BlockBlob.",
                ))
            }
        }
        let (cond, create_only) = self.write_condition_for(write_condition(h)?)?;
        let headers = blob_headers(h)?;
        let max = self.state.blobs.limits().max_blob_size;
        if declared_length(h).is_some_and(|n| n > max) {
            return Err(StorageError::too_large(max));
        }
        let target = self.upload_target(blob, None);
        let claimed_md5 = header_str(req.headers(), "content-md5").map(str::to_string);
        let received = receive(req.into_body(), target.clone()).await?;
        let props = on_blocking_pool(move || {
            let staged = received.into_staged(&target)?;
            check_md5(claimed_md5.as_deref(), &staged)?;
            Ok(target.blobs.commit_upload(staged, headers, cond)?)
        })
        .await
        .map_err(|e| create_only_refusal(e, create_only))?;
        Ok(self.written(&props))
    }

    fn written(&self, p: &BlobProps) -> Response {
        let mut r = status_only(StatusCode::CREATED);
        let h = r.headers_mut();
        props_headers(h, p);
        if let Some(md5) = &p.content_md5 {
            set(h, "content-md5", md5);
        }
        set(h, "x-ms-request-server-encrypted", "true");
        r
    }

    async fn put_block(&self, blob: &str, id: &str, req: Request) -> Result<Response> {
        self.need("wc")?;
        qws_store::blobs::decode_block_id(id).map_err(|_| {
            StorageError::bad(
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid: blockid must be base64 of 1 to 64 bytes.",
            )
        })?;
        let max = self.state.blobs.limits().max_block_size;
        if declared_length(req.headers()).is_some_and(|n| n > max) {
            return Err(StorageError::too_large(max));
        }
        let target = self.upload_target(blob, Some(id));
        let claimed_md5 = header_str(req.headers(), "content-md5").map(str::to_string);
        let received = receive(req.into_body(), target.clone()).await?;
        on_blocking_pool(move || {
            let staged = received.into_staged(&target)?;
            check_md5(claimed_md5.as_deref(), &staged)?;
            Ok(target.blobs.commit_block(staged)?)
        })
        .await?;
        let mut r = status_only(StatusCode::CREATED);
        set(r.headers_mut(), "x-ms-request-server-encrypted", "true");
        Ok(r)
    }

    async fn put_block_list(&self, blob: &str, req: Request) -> Result<Response> {
        let (cond, create_only) = self.write_condition_for(write_condition(req.headers())?)?;
        let headers = blob_headers(req.headers())?;
        if declared_length(req.headers()).is_some_and(|n| n > MAX_BLOCK_LIST_BODY as u64) {
            return Err(StorageError::too_large(MAX_BLOCK_LIST_BODY as u64));
        }
        let bytes = tokio::time::timeout(
            BODY_IDLE_TIMEOUT,
            axum::body::to_bytes(req.into_body(), MAX_BLOCK_LIST_BODY),
        )
        .await
        .map_err(|_| {
            StorageError::new(
                StatusCode::REQUEST_TIMEOUT,
                "OperationTimedOut",
                "The block list did not arrive in time.",
            )
        })?
        .map_err(|_| StorageError::too_large(MAX_BLOCK_LIST_BODY as u64))?;
        let list = xml::parse_block_list(&bytes).map_err(|e| {
            StorageError::bad(
                "InvalidXmlDocument",
                format!("XML specified is not syntactically valid: {e}."),
            )
        })?;
        if list.len() > MAX_BLOCKS_PER_BLOB {
            return Err(StorageError::bad(
                "InvalidBlockList",
                format!("A block list may name at most {MAX_BLOCKS_PER_BLOB} blocks."),
            ));
        }
        let (blobs, ws, c, b) = (
            self.state.blobs.clone(),
            self.ws(),
            self.container.clone(),
            blob.to_string(),
        );
        let props = blocking(move || blobs.put_block_list(&ws, &c, &b, &list, headers, cond))
            .await
            .map_err(|e| create_only_refusal(e, create_only))?;
        Ok(self.written(&props))
    }

    async fn get_blob(&self, blob: &str, h: &HeaderMap, with_body: bool) -> Result<Response> {
        self.need("r")?;
        let (blobs, ws, c, b) = (
            self.state.blobs.clone(),
            self.ws(),
            self.container.clone(),
            blob.to_string(),
        );
        // One hop to the blocking pool opens the blob and, if it is small, reads it.
        let (opened, props) = blocking(move || {
            let (mut file, props) = blobs.open_blob(&ws, &c, &b)?;
            if !with_body || props.length > READ_WHOLE_MAX {
                return Ok((Opened::File(file), props));
            }
            let mut data = vec![0u8; props.length as usize];
            std::io::Read::read_exact(&mut file, &mut data)?;
            Ok((Opened::Whole(bytes::Bytes::from(data)), props))
        })
        .await?;
        let unquote = |v: &str| v.trim().trim_matches('"').to_string();
        if let Some(m) = header_str(h, "if-match") {
            let m = unquote(m);
            if m != "*" && m != props.etag {
                return Err(StorageError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "ConditionNotMet",
                    "The condition specified using HTTP conditional header(s) is not met.",
                ));
            }
        }
        if let Some(n) = header_str(h, "if-none-match") {
            let n = unquote(n);
            if n == "*" || n == props.etag {
                let mut r = status_only(StatusCode::NOT_MODIFIED);
                props_headers(r.headers_mut(), &props);
                return Ok(r);
            }
        }
        let len = props.length;
        let range = match header_str(h, "x-ms-range").or_else(|| header_str(h, "range")) {
            None => None,
            Some(v) => Some(parse_range(v).ok_or_else(|| {
                StorageError::bad(
                    "InvalidHeaderValue",
                    "The value for the range header is not valid: use bytes=<start>-[<end>].",
                )
            })?),
        };
        let (status, start, count) = match range {
            None => (StatusCode::OK, 0, len),
            Some(spec) => {
                let (start, end) = match spec {
                    RangeSpec::From(s, e) => (s, e.unwrap_or(u64::MAX).min(len.saturating_sub(1))),
                    RangeSpec::Suffix(n) => (len.saturating_sub(n), len.saturating_sub(1)),
                };
                if start >= len || (matches!(spec, RangeSpec::Suffix(0))) {
                    return Err(StorageError::new(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "InvalidRange",
                        "The range specified is invalid for the current size of the resource.",
                    )
                    .with_header(header::CONTENT_RANGE, format!("bytes */{len}")));
                }
                (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
            }
        };
        let body = if with_body && count > 0 {
            // Counted when the download starts: the bytes this response sends.
            crate::metrics::blob_bytes_out(count);
            match opened {
                // `start + count <= length`, checked above.
                Opened::Whole(data) => {
                    Body::from(data.slice(start as usize..(start + count) as usize))
                }
                Opened::File(file) => {
                    let file = blocking(move || {
                        use std::io::{Seek, SeekFrom};
                        let mut file = file;
                        file.seek(SeekFrom::Start(start))?;
                        Ok(file)
                    })
                    .await?;
                    Body::new(FileBody::new(file, count))
                }
            }
        } else {
            Body::empty()
        };
        let mut r = (status, body).into_response();
        let hm = r.headers_mut();
        set(hm, "content-length", &count.to_string());
        if status == StatusCode::PARTIAL_CONTENT {
            set(
                hm,
                "content-range",
                &format!("bytes {start}-{}/{len}", start + count - 1),
            );
        } else if let Some(md5) = &props.content_md5 {
            set(hm, "content-md5", md5);
        }
        props_headers(hm, &props);
        set(
            hm,
            "content-type",
            props
                .content_type
                .as_deref()
                .unwrap_or("application/octet-stream"),
        );
        if let Some(e) = &props.content_encoding {
            set(hm, "content-encoding", e);
        }
        set(hm, "accept-ranges", "bytes");
        set(hm, "x-ms-blob-type", "BlockBlob");
        set(hm, "x-ms-creation-time", &http_date(props.creation_time));
        set(hm, "x-ms-lease-state", "available");
        set(hm, "x-ms-lease-status", "unlocked");
        set(hm, "x-ms-server-encrypted", "true");
        for (k, v) in &props.metadata {
            if let (Ok(name), Ok(val)) = (
                header::HeaderName::from_bytes(format!("x-ms-meta-{k}").as_bytes()),
                HeaderValue::from_str(v),
            ) {
                hm.insert(name, val);
            }
        }
        Ok(r)
    }

    async fn delete_blob(&self, blob: &str) -> Result<Response> {
        self.need("d")?;
        let (blobs, ws, c, b) = (
            self.state.blobs.clone(),
            self.ws(),
            self.container.clone(),
            blob.to_string(),
        );
        if blocking(move || blobs.delete_blob(&ws, &c, &b)).await? {
            Ok(status_only(StatusCode::ACCEPTED))
        } else {
            Err(qws_store::blobs::BlobError::BlobNotFound.into())
        }
    }

    async fn list(&self, pairs: &[(String, String)]) -> Result<Response> {
        self.need("l")?;
        if query_get(pairs, "delimiter").is_some() {
            return Err(StorageError::bad(
                "InvalidQueryParameterValue",
                "qws lists blobs flat: the delimiter parameter is not supported.",
            ));
        }
        let prefix = query_get(pairs, "prefix").unwrap_or("").to_string();
        let marker = query_get(pairs, "marker")
            .filter(|m| !m.is_empty())
            .map(str::to_string);
        let max = match query_get(pairs, "maxresults") {
            None => MAX_LIST_RESULTS,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIST_RESULTS).contains(&n) => n,
                _ => {
                    return Err(StorageError::bad(
                        "OutOfRangeQueryParameterValue",
                        format!("maxresults must be an integer from 1 to {MAX_LIST_RESULTS}."),
                    ))
                }
            },
        };
        let with_metadata =
            query_get(pairs, "include").is_some_and(|i| i.split(',').any(|x| x == "metadata"));
        let (blobs, ws, c) = (self.state.blobs.clone(), self.ws(), self.container.clone());
        let (p2, m2) = (prefix.clone(), marker.clone());
        let page = blocking(move || blobs.list_blobs(&ws, &c, &p2, m2.as_deref(), max)).await?;
        let mut x = String::with_capacity(256 + page.blobs.len() * 512);
        x.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
        x.push_str(&format!(
            "<EnumerationResults ServiceEndpoint=\"{}/\" ContainerName=\"{}\">",
            escape(&sas::blob_base_url(&self.state)),
            escape(&self.container)
        ));
        if !prefix.is_empty() {
            x.push_str(&format!("<Prefix>{}</Prefix>", escape(&prefix)));
        }
        if let Some(m) = &marker {
            x.push_str(&format!("<Marker>{}</Marker>", escape(m)));
        }
        if query_get(pairs, "maxresults").is_some() {
            x.push_str(&format!("<MaxResults>{max}</MaxResults>"));
        }
        x.push_str("<Blobs>");
        for b in &page.blobs {
            x.push_str(&format!(
                "<Blob><Name>{}</Name><Properties><Creation-Time>{}</Creation-Time><Last-Modified>{}</Last-Modified><Etag>{}</Etag><Content-Length>{}</Content-Length>",
                escape(&b.name),
                http_date(b.creation_time),
                http_date(b.last_modified),
                escape(&b.etag),
                b.length
            ));
            if let Some(t) = &b.content_type {
                x.push_str(&format!("<Content-Type>{}</Content-Type>", escape(t)));
            }
            if let Some(e) = &b.content_encoding {
                x.push_str(&format!(
                    "<Content-Encoding>{}</Content-Encoding>",
                    escape(e)
                ));
            }
            if let Some(m) = &b.content_md5 {
                x.push_str(&format!("<Content-MD5>{}</Content-MD5>", escape(m)));
            }
            x.push_str("<BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties>");
            if with_metadata {
                x.push_str("<Metadata>");
                for (k, v) in &b.metadata {
                    x.push_str(&format!("<{k}>{}</{k}>", escape(v)));
                }
                x.push_str("</Metadata>");
            }
            x.push_str("</Blob>");
        }
        x.push_str("</Blobs>");
        match &page.next_marker {
            Some(m) => x.push_str(&format!("<NextMarker>{}</NextMarker>", escape(m))),
            None => x.push_str("<NextMarker />"),
        }
        x.push_str("</EnumerationResults>");
        let mut r = (StatusCode::OK, x).into_response();
        set(r.headers_mut(), "content-type", "application/xml");
        Ok(r)
    }
}

/// Verifies a request's `Content-MD5` against the bytes received (transport integrity).
fn check_md5(claimed: Option<&str>, staged: &StagedUpload) -> Result<()> {
    match claimed {
        Some(c) if c.trim() != qws_store::blobs::BlobStore::staged_md5(staged) => {
            Err(StorageError::bad(
                "Md5Mismatch",
                "The MD5 value specified in the request did not match the MD5 value calculated by the server.",
            ))
        }
        _ => Ok(()),
    }
}

/// With a create-only SAS (`c` without `w`), an existing blob is a permission problem.
fn create_only_refusal(e: StorageError, create_only: bool) -> StorageError {
    if create_only && e.code == "BlobAlreadyExists" {
        StorageError::permission("w")
    } else {
        e
    }
}
