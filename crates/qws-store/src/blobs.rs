//! Job data: the durable store behind the Azure Blob subset.
//!
//! Layout under the data directory:
//!
//! ```text
//! blobs/<workspace uid>/<container>/                      a container (properties: its creation time)
//! blobs/<workspace uid>/<container>/container.json        properties, where no creation time is kept
//! blobs/<workspace uid>/<container>/b-<sha256(name)>.blob one file per committed blob
//! blobs/<workspace uid>/<container>/blocks/<sha256(name)>/<hex(block id)>   uncommitted blocks
//! blobs/<workspace uid>/<container>/tmp/                  uploads in progress
//! blobs/.trash/                                           deleted containers being removed
//! ```
//!
//! No path component is ever taken from a caller's string: the workspace uid and container name
//! are validated against strict character sets, and blob names and block ids only appear on disk
//! as hex digests. A blob file holds the content followed by its properties (JSON), the JSON
//! length (u64 LE) and a magic tag, so content and properties are replaced together by one atomic
//! rename, and a reader holding an open file always sees a consistent pair.

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use time::OffsetDateTime;

/// Default largest blob (256 MiB).
pub const DEFAULT_MAX_BLOB_SIZE: u64 = 256 * 1024 * 1024;
/// Default largest block of a block upload (100 MiB, Azure's limit).
pub const DEFAULT_MAX_BLOCK_SIZE: u64 = 100 * 1024 * 1024;
/// Most uncommitted blocks kept per blob.
pub const MAX_UNCOMMITTED_BLOCKS: usize = 50_000;
/// Most entries in a block list.
pub const MAX_BLOCKS_PER_BLOB: usize = 50_000;
/// Largest decoded block id (bytes).
pub const MAX_BLOCK_ID_BYTES: usize = 64;
/// Largest total size of user metadata (names + values).
pub const MAX_METADATA_BYTES: usize = 8 * 1024;
/// Longest blob name (characters).
pub const MAX_BLOB_NAME_CHARS: usize = 1024;
/// Uncommitted blocks older than this are discarded at start-up (Azure keeps them a week).
pub const UNCOMMITTED_BLOCK_LIFETIME: std::time::Duration =
    std::time::Duration::from_secs(7 * 24 * 3600);

/// How old an upload file or a container being deleted must be before a node sweeping a
/// shared blob directory removes it (another node may still be writing it).
pub const SHARED_LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

const MAGIC: &[u8; 8] = b"QWSBLOB1";
const MAX_TRAILER: u64 = 4 * 1024 * 1024;
const CONTAINER_FILE: &str = "container.json";

/// Errors of the blob store. Messages name the rule that failed, never file-system paths.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The container does not exist.
    #[error("The specified container does not exist.")]
    ContainerNotFound,
    /// The blob does not exist.
    #[error("The specified blob does not exist.")]
    BlobNotFound,
    /// `If-None-Match: *` and the blob exists.
    #[error("The specified blob already exists.")]
    BlobAlreadyExists,
    /// An `If-Match` / `If-None-Match` precondition failed.
    #[error("The condition specified using HTTP conditional header(s) is not met.")]
    ConditionNotMet,
    /// A container name, blob name, block id or workspace id breaks the naming rules.
    #[error("{0}")]
    InvalidName(String),
    /// A block list refers to blocks that do not exist or is otherwise malformed.
    #[error("{0}")]
    InvalidBlockList(String),
    /// A size or count bound was exceeded.
    #[error("{0}")]
    TooLarge(String),
    /// Stored data could not be read back (damaged file).
    #[error("stored blob data is damaged")]
    Corrupt,
    /// The file system failed.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias of the blob store.
pub type BlobResult<T> = std::result::Result<T, BlobError>;

/// Size bounds of the store.
#[derive(Debug, Clone, Copy)]
pub struct BlobLimits {
    /// Largest blob in bytes (single PUT or committed block list).
    pub max_blob_size: u64,
    /// Largest single block in bytes.
    pub max_block_size: u64,
}

impl Default for BlobLimits {
    fn default() -> Self {
        BlobLimits {
            max_blob_size: DEFAULT_MAX_BLOB_SIZE,
            max_block_size: DEFAULT_MAX_BLOCK_SIZE,
        }
    }
}

/// Headers a writer sets on a blob (`x-ms-blob-content-type`, …).
#[derive(Debug, Clone, Default)]
pub struct BlobHeaders {
    /// Returned as `Content-Type`.
    pub content_type: Option<String>,
    /// Returned as `Content-Encoding`.
    pub content_encoding: Option<String>,
    /// Returned as `Content-MD5` (base64). When absent, single-shot uploads store the MD5 qws
    /// computes (as Azure does); block lists store none.
    pub content_md5: Option<String>,
    /// User metadata (`x-ms-meta-<name>`), names lowercase.
    pub metadata: BTreeMap<String, String>,
}

/// A block of the committed block list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommittedBlock {
    /// Block id as the client sent it (base64).
    pub id: String,
    /// Size in bytes.
    pub size: u64,
}

/// Properties of a committed blob.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobProps {
    /// Blob name.
    pub name: String,
    /// Content length in bytes.
    pub length: u64,
    /// ETag without quotes (`0x…`).
    pub etag: String,
    /// Last write.
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
    /// First creation of this blob name.
    #[serde(with = "time::serde::rfc3339")]
    pub creation_time: OffsetDateTime,
    /// Stored content type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// Stored content encoding.
    #[serde(default)]
    pub content_encoding: Option<String>,
    /// Stored Content-MD5.
    #[serde(default)]
    pub content_md5: Option<String>,
    /// User metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Committed blocks (empty for single-shot uploads).
    #[serde(default)]
    pub committed_blocks: Vec<CommittedBlock>,
}

impl BlobProps {
    /// The ETag header value (quoted).
    pub fn etag_header(&self) -> String {
        format!("\"{}\"", self.etag)
    }
}

/// Properties of a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerProps {
    /// ETag without quotes.
    pub etag: String,
    /// Creation (= last modification; containers carry no writable properties here).
    #[serde(with = "time::serde::rfc3339")]
    pub last_modified: OffsetDateTime,
}

/// A write precondition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Unconditional.
    None,
    /// `If-None-Match: *`: fail with [`BlobError::BlobAlreadyExists`] if the blob exists.
    IfNoneMatchStar,
    /// `If-Match: <etag>` (unquoted, or `*`): the blob must exist with that ETag.
    IfMatch(String),
    /// `If-None-Match: <etag>`: fail if the blob exists with that ETag.
    IfNoneMatch(String),
}

/// Which list a block-list entry is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSource {
    /// Uncommitted if present, else committed.
    Latest,
    /// The current committed list.
    Committed,
    /// The uncommitted blocks.
    Uncommitted,
}

/// One entry of Put Block List.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRef {
    /// Block id (base64, as sent).
    pub id: String,
    /// Where to find it.
    pub source: BlockSource,
}

/// A page of List Blobs.
#[derive(Debug, Clone)]
pub struct BlobPage {
    /// Blobs in name order.
    pub blobs: Vec<BlobProps>,
    /// Name to pass as `marker` for the next page, if any.
    pub next_marker: Option<String>,
}

enum StagedKind {
    Blob,
    Block { id_hex: String },
}

/// An upload in progress: a temporary file that becomes a blob ([`BlobStore::commit_upload`]) or a
/// block ([`BlobStore::commit_block`]). Writes beyond the bound fail with
/// [`BlobError::TooLarge`]; dropping it without committing removes the temporary file.
pub struct StagedUpload {
    ws: String,
    container: String,
    blob: String,
    kind: StagedKind,
    path: PathBuf,
    file: Option<File>,
    written: u64,
    limit: u64,
    md5: md5::Md5,
}

impl std::fmt::Debug for StagedUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StagedUpload")
            .field("container", &self.container)
            .field("blob", &self.blob)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl StagedUpload {
    /// Appends bytes, enforcing the size bound before anything is written.
    pub fn write(&mut self, data: &[u8]) -> BlobResult<()> {
        if self.written + data.len() as u64 > self.limit {
            return Err(BlobError::TooLarge(format!(
                "The request body is too large and exceeds the maximum permissible limit of {} bytes.",
                self.limit
            )));
        }
        let f = self.file.as_mut().ok_or(BlobError::Corrupt)?;
        f.write_all(data)?;
        self.md5.update(data);
        self.written += data.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.written
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.written == 0
    }

    /// The size bound of this upload.
    pub fn limit(&self) -> u64 {
        self.limit
    }
}

impl Drop for StagedUpload {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Uploads larger than this flush their data before taking the commit lock (see `finish_blob`).
const SYNC_SEPARATELY_ABOVE: u64 = 1 << 20;

/// The blob store (one per data directory; cheap operations, safe to share).
#[derive(Debug)]
pub struct BlobStore {
    root: PathBuf,
    limits: BlobLimits,
    /// Serialises the check-and-rename of commits (preconditions, block bounds).
    commit_lock: Mutex<()>,
}

// ---------------------------------------------------------------------------------------------
// Names

/// Reads `(container, blob)` from a container-first blob URL (`…/<container>/<blob…>`, query
/// ignored); `blob` is `None` for a container URL. Names are percent-decoded and validated.
/// The host is not checked; the server checks URLs a client hands in against its own blob endpoint.
pub fn parse_blob_url(url: &str) -> Option<(String, Option<String>)> {
    // Parsed by hand: URL libraries resolve `..`/`%2e%2e` segments, which could move a path into
    // another container; here such a segment makes the blob name invalid instead.
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_once('/')?;
    if authority.is_empty() {
        return None;
    }
    parse_blob_path(path)
}

/// `<container>[/<blob…>]` of a URL path (after the base), decoded and validated.
pub fn parse_blob_path(path: &str) -> Option<(String, Option<String>)> {
    let (c, rest) = match path.split_once('/') {
        Some((c, rest)) => (c, Some(rest)),
        None => (path, None),
    };
    let container = percent_decode_str(c).decode_utf8().ok()?.into_owned();
    validate_container_name(&container).ok()?;
    let blob = match rest.filter(|r| !r.is_empty()) {
        Some(r) => {
            let b = percent_decode_str(r).decode_utf8().ok()?.into_owned();
            validate_blob_name(&b).ok()?;
            Some(b)
        }
        None => None,
    };
    Some((container, blob))
}

/// Checks a container name against Azure's rules: 3–63 characters, lowercase letters, digits and
/// hyphens, starting and ending with a letter or digit, no consecutive hyphens.
pub fn validate_container_name(name: &str) -> BlobResult<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(BlobError::InvalidName(
            "The specified container name is not valid: use 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.".into(),
        ))
    }
}

/// Checks a blob name: 1–1024 characters, no control characters or backslashes, and no empty,
/// `.` or `..` path segments (so no leading, trailing or doubled `/`).
pub fn validate_blob_name(name: &str) -> BlobResult<()> {
    let bad = |why: &str| {
        Err(BlobError::InvalidName(format!(
            "The specified blob name is not valid: {why}."
        )))
    };
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_BLOB_NAME_CHARS {
        return bad("it must have 1 to 1024 characters");
    }
    if name.chars().any(|c| c.is_control()) {
        return bad("it must not contain control characters");
    }
    if name.contains('\\') {
        return bad("it must not contain backslashes");
    }
    if name
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("path segments must not be empty, '.' or '..'");
    }
    Ok(())
}

/// Checks a workspace uid (the store's stable id): 1–64 ASCII letters, digits or hyphens.
pub fn validate_workspace_uid(uid: &str) -> BlobResult<()> {
    if (1..=64).contains(&uid.len()) && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(())
    } else {
        Err(BlobError::InvalidName("invalid workspace id".into()))
    }
}

/// Decodes and checks a block id (base64, 1–64 bytes decoded); returns the decoded bytes.
pub fn decode_block_id(id: &str) -> BlobResult<Vec<u8>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(id)
        .map_err(|_| {
            BlobError::InvalidName("The specified block id is not valid base64.".into())
        })?;
    if bytes.is_empty() || bytes.len() > MAX_BLOCK_ID_BYTES {
        return Err(BlobError::InvalidName(format!(
            "The specified block id must decode to 1 to {MAX_BLOCK_ID_BYTES} bytes."
        )));
    }
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

fn name_digest(name: &str) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, name.as_bytes()).as_ref())
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    if qws_core::keys::fill_random(&mut b).is_err() {
        // Uniqueness (not secrecy) is what matters for temporary names and ETags.
        let t = OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_le_bytes();
        for (i, x) in b.iter_mut().enumerate() {
            *x = t[i % t.len()];
        }
    }
    hex(&b)
}

fn new_etag() -> String {
    format!("0x{}", random_hex(8).to_ascii_uppercase())
}

fn now() -> OffsetDateTime {
    // Whole seconds: HTTP dates carry no fractions, so round-tripped values compare equal.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

fn metadata_size(m: &BTreeMap<String, String>) -> usize {
    m.iter().map(|(k, v)| k.len() + v.len()).sum()
}

fn check_headers(h: &BlobHeaders) -> BlobResult<()> {
    if metadata_size(&h.metadata) > MAX_METADATA_BYTES {
        return Err(BlobError::TooLarge(format!(
            "The metadata exceeds the limit of {MAX_METADATA_BYTES} bytes."
        )));
    }
    for v in [&h.content_type, &h.content_encoding, &h.content_md5]
        .into_iter()
        .flatten()
    {
        if v.len() > 1024 {
            return Err(BlobError::TooLarge(
                "A content header exceeds 1024 bytes.".into(),
            ));
        }
    }
    Ok(())
}

fn dir_builder(recursive: bool) -> fs::DirBuilder {
    let mut b = fs::DirBuilder::new();
    b.recursive(recursive);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b
}

/// Creates `path` and any missing parents, each 0700.
fn private_dir(path: &Path) -> std::io::Result<()> {
    dir_builder(true).create(path)
}

/// Creates the one directory `path` (0700) if missing; its parent must exist. Used inside a
/// container, so a container deleted meanwhile is never brought back by a recursive create.
fn private_subdir(path: &Path) -> std::io::Result<()> {
    match dir_builder(false).create(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        other => other,
    }
}

/// Makes an existing directory 0700 (data written before directories were created private).
fn tighten_dir(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = fs::symlink_metadata(path) {
            if m.is_dir() && m.permissions().mode() & 0o077 != 0 {
                let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// `ContainerNotFound` when `container` vanished (deleted meanwhile), else the I/O error.
fn gone_or(e: std::io::Error, container: &Path) -> BlobError {
    if container.is_dir() {
        e.into()
    } else {
        BlobError::ContainerNotFound
    }
}

fn sync_dir(path: &Path) {
    // Makes a rename durable; not supported everywhere, and best effort is the norm.
    if let Ok(d) = File::open(path) {
        let _ = d.sync_all();
    }
}

/// A container's properties derived from its directory: last modified = the directory's creation
/// time (whole seconds; containers carry no writable properties here, and blob writes do not
/// modify a container), ETag = a digest of that time to the nanosecond and the inode, so a
/// container deleted and created again gets a new one. Stable across restarts: nothing in it
/// changes while the directory lives. `None` where the file system does not record creation
/// times.
fn props_of_dir(dir: &Path) -> Option<ContainerProps> {
    let meta = fs::metadata(dir).ok()?;
    let created = OffsetDateTime::from(meta.created().ok()?);
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0u64;
    let digest = name_digest(&format!("{}:{inode}", created.unix_timestamp_nanos()));
    Some(ContainerProps {
        etag: format!("0x{}", digest[..16].to_ascii_uppercase()),
        last_modified: created.replace_nanosecond(0).unwrap_or(created),
    })
}

/// Reads the properties trailer of a blob file; leaves the cursor at an unspecified position.
fn read_trailer(f: &mut File) -> BlobResult<BlobProps> {
    let total = f.metadata()?.len();
    if total < 16 {
        return Err(BlobError::Corrupt);
    }
    f.seek(SeekFrom::Start(total - 16))?;
    let mut tail = [0u8; 16];
    f.read_exact(&mut tail)?;
    if &tail[8..] != MAGIC {
        return Err(BlobError::Corrupt);
    }
    let json_len = u64::from_le_bytes(tail[..8].try_into().expect("8 bytes"));
    if json_len > MAX_TRAILER || json_len > total - 16 {
        return Err(BlobError::Corrupt);
    }
    let data_len = total - 16 - json_len;
    f.seek(SeekFrom::Start(data_len))?;
    let mut json = vec![0u8; json_len as usize];
    f.read_exact(&mut json)?;
    let props: BlobProps = serde_json::from_slice(&json).map_err(|_| BlobError::Corrupt)?;
    if props.length != data_len {
        return Err(BlobError::Corrupt);
    }
    Ok(props)
}

fn write_trailer(f: &mut File, props: &BlobProps) -> BlobResult<()> {
    let json = serde_json::to_vec(props).map_err(|_| BlobError::Corrupt)?;
    f.write_all(&json)?;
    f.write_all(&(json.len() as u64).to_le_bytes())?;
    f.write_all(MAGIC)?;
    Ok(())
}

impl BlobStore {
    /// Opens (creating) `data_dir/blobs` and removes leftovers of interrupted work: temporary
    /// uploads, containers being deleted, and uncommitted blocks older than a week.
    pub fn open(data_dir: &Path, limits: BlobLimits) -> BlobResult<BlobStore> {
        Self::open_root(data_dir.join("blobs"), limits, std::time::Duration::ZERO)
    }

    /// Opens (creating) the store directly at `root`, a directory several qws nodes may share
    /// (`--blob-backend dir:PATH`). Leftovers are only removed once they are older than
    /// [`SHARED_LEFTOVER_AGE`]: an upload in progress on another node is not a leftover.
    pub fn open_shared(root: &Path, limits: BlobLimits) -> BlobResult<BlobStore> {
        Self::open_root(root.to_path_buf(), limits, SHARED_LEFTOVER_AGE)
    }

    fn open_root(
        root: PathBuf,
        limits: BlobLimits,
        leftover_age: std::time::Duration,
    ) -> BlobResult<BlobStore> {
        private_dir(&root)?;
        tighten_dir(&root);
        let store = BlobStore {
            root,
            limits,
            commit_lock: Mutex::new(()),
        };
        store.sweep(leftover_age);
        Ok(store)
    }

    /// The configured bounds.
    pub fn limits(&self) -> BlobLimits {
        self.limits
    }

    fn sweep(&self, leftover_age: std::time::Duration) {
        let now = std::time::SystemTime::now();
        let is_leftover = |p: &Path| {
            leftover_age.is_zero()
                || fs::symlink_metadata(p)
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| now.duration_since(m).unwrap_or_default() >= leftover_age)
        };
        if let Ok(trash) = fs::read_dir(self.root.join(".trash")) {
            for t in trash.flatten().filter(|t| is_leftover(&t.path())) {
                let _ = fs::remove_dir_all(t.path());
            }
        }
        let Ok(workspaces) = fs::read_dir(&self.root) else {
            return;
        };
        let cutoff = std::time::SystemTime::now()
            .checked_sub(UNCOMMITTED_BLOCK_LIFETIME)
            .unwrap_or(std::time::UNIX_EPOCH);
        for ws in workspaces.flatten() {
            tighten_dir(&ws.path());
            let Ok(containers) = fs::read_dir(ws.path()) else {
                continue;
            };
            for c in containers.flatten() {
                let p = c.path();
                tighten_dir(&p);
                if let Ok(tmp) = fs::read_dir(p.join("tmp")) {
                    for t in tmp.flatten().filter(|t| is_leftover(&t.path())) {
                        let _ = fs::remove_file(t.path());
                    }
                }
                if let Ok(blocks) = fs::read_dir(p.join("blocks")) {
                    for b in blocks.flatten() {
                        let old = b
                            .metadata()
                            .and_then(|m| m.modified())
                            .map(|m| m < cutoff)
                            .unwrap_or(false);
                        if old {
                            let _ = fs::remove_dir_all(b.path());
                        }
                    }
                }
            }
        }
    }

    fn container_dir(&self, ws: &str, container: &str) -> BlobResult<PathBuf> {
        validate_workspace_uid(ws)?;
        validate_container_name(container)?;
        Ok(self.root.join(ws).join(container))
    }

    fn existing_container_dir(&self, ws: &str, container: &str) -> BlobResult<PathBuf> {
        let dir = self.container_dir(ws, container)?;
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(BlobError::ContainerNotFound)
        }
    }

    fn blob_path(dir: &Path, blob: &str) -> PathBuf {
        dir.join(format!("b-{}.blob", name_digest(blob)))
    }

    fn blocks_dir(dir: &Path, blob: &str) -> PathBuf {
        dir.join("blocks").join(name_digest(blob))
    }

    /// Creates a container; `Ok(false)` if it already existed. Returns once the container is
    /// durable: its directory entry (and a new namespace directory's) is flushed.
    ///
    /// One disk flush on the usual path: where the file system records a directory's creation
    /// time, the container's properties are derived from its directory ([`props_of_dir`]), so
    /// there is no properties file to write and sync; elsewhere `container.json` is written as
    /// before (two flushes more).
    pub fn create_container(&self, ws: &str, container: &str) -> BlobResult<bool> {
        let dir = self.container_dir(ws, container)?;
        let ws_dir = self.root.join(ws);
        let new_namespace = !ws_dir.is_dir();
        if new_namespace {
            private_dir(&ws_dir)?;
        }
        match dir_builder(false).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        if props_of_dir(&dir).is_none() {
            let props = ContainerProps {
                etag: new_etag(),
                last_modified: now(),
            };
            let json = serde_json::to_vec(&props).map_err(|_| BlobError::Corrupt)?;
            crate::crypto::write_private_atomic(&dir.join(CONTAINER_FILE), &json)?;
            sync_dir(&dir);
        }
        sync_dir(&ws_dir);
        if new_namespace {
            sync_dir(&self.root);
        }
        Ok(true)
    }

    /// True if the container exists.
    pub fn container_exists(&self, ws: &str, container: &str) -> BlobResult<bool> {
        Ok(self.container_dir(ws, container)?.is_dir())
    }

    /// Properties of a container, `None` if it does not exist.
    pub fn container_props(&self, ws: &str, container: &str) -> BlobResult<Option<ContainerProps>> {
        let dir = self.container_dir(ws, container)?;
        if !dir.is_dir() {
            return Ok(None);
        }
        // A container created before properties were derived (or on a file system without
        // creation times) keeps the file it was created with.
        match fs::read(dir.join(CONTAINER_FILE)) {
            Ok(b) => Ok(Some(
                serde_json::from_slice(&b).map_err(|_| BlobError::Corrupt)?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Created concurrently on a file system without creation times and not yet
                // described: report it as brand new.
                Ok(Some(props_of_dir(&dir).unwrap_or_else(|| ContainerProps {
                    etag: "0x0".into(),
                    last_modified: now(),
                })))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn trash(&self, path: &Path) -> BlobResult<bool> {
        let trash = self.root.join(".trash");
        private_dir(&trash)?;
        let target = trash.join(random_hex(12));
        match fs::rename(path, &target) {
            Ok(()) => {
                let _ = fs::remove_dir_all(&target);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes a container and all its blobs; `Ok(false)` if it did not exist.
    pub fn delete_container(&self, ws: &str, container: &str) -> BlobResult<bool> {
        let dir = self.container_dir(ws, container)?;
        let _g = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.trash(&dir)
    }

    /// Deletes every container of a workspace (when the workspace is deleted).
    pub fn delete_workspace(&self, ws: &str) -> BlobResult<()> {
        validate_workspace_uid(ws)?;
        let _g = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.trash(&self.root.join(ws)).map(|_| ())
    }

    /// The workspace uids that have blob data (to purge data of deleted workspaces).
    pub fn workspace_uids(&self) -> BlobResult<Vec<String>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.root)?.flatten() {
            if let Some(name) = e.file_name().to_str() {
                if validate_workspace_uid(name).is_ok() && e.path().is_dir() {
                    out.push(name.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// The size bound of an upload: the maximum block size for a block (`is_block`), else the
    /// maximum blob size.
    pub fn upload_limit(&self, is_block: bool) -> u64 {
        if is_block {
            self.limits.max_block_size
        } else {
            self.limits.max_blob_size
        }
    }

    /// Starts a blob upload (single-shot Put Blob); bound: the maximum blob size.
    pub fn begin_upload(&self, ws: &str, container: &str, blob: &str) -> BlobResult<StagedUpload> {
        validate_blob_name(blob)?;
        self.stage(
            ws,
            container,
            blob,
            StagedKind::Blob,
            self.upload_limit(false),
        )
    }

    /// Starts a block upload (Put Block); bound: the maximum block size.
    pub fn begin_block(
        &self,
        ws: &str,
        container: &str,
        blob: &str,
        block_id: &str,
    ) -> BlobResult<StagedUpload> {
        validate_blob_name(blob)?;
        let id_hex = hex(&decode_block_id(block_id)?);
        self.stage(
            ws,
            container,
            blob,
            StagedKind::Block { id_hex },
            self.upload_limit(true),
        )
    }

    fn stage(
        &self,
        ws: &str,
        container: &str,
        blob: &str,
        kind: StagedKind,
        limit: u64,
    ) -> BlobResult<StagedUpload> {
        let dir = self.existing_container_dir(ws, container)?;
        let tmp = dir.join("tmp");
        private_subdir(&tmp).map_err(|e| gone_or(e, &dir))?;
        let path = tmp.join(format!("{}.tmp", random_hex(12)));
        let file = crate::crypto::create_private_file(&path)?;
        Ok(StagedUpload {
            ws: ws.to_string(),
            container: container.to_string(),
            blob: blob.to_string(),
            kind,
            path,
            file: Some(file),
            written: 0,
            limit,
            md5: md5::Md5::default(),
        })
    }

    fn check_condition(existing: Option<&BlobProps>, cond: &WriteCondition) -> BlobResult<()> {
        match (cond, existing) {
            (WriteCondition::None, _) => Ok(()),
            (WriteCondition::IfNoneMatchStar, Some(_)) => Err(BlobError::BlobAlreadyExists),
            (WriteCondition::IfNoneMatchStar, None) => Ok(()),
            (WriteCondition::IfMatch(e), Some(p)) if e == "*" || *e == p.etag => Ok(()),
            (WriteCondition::IfMatch(_), _) => Err(BlobError::ConditionNotMet),
            (WriteCondition::IfNoneMatch(e), Some(p)) if e == "*" || *e == p.etag => {
                Err(BlobError::ConditionNotMet)
            }
            (WriteCondition::IfNoneMatch(_), _) => Ok(()),
        }
    }

    fn read_props_at(path: &Path) -> BlobResult<Option<BlobProps>> {
        match File::open(path) {
            Ok(mut f) => Ok(Some(read_trailer(&mut f)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Commits a staged blob: checks the precondition, appends the properties, syncs and renames
    /// it into place, and discards the blob's uncommitted blocks.
    pub fn commit_upload(
        &self,
        staged: StagedUpload,
        headers: BlobHeaders,
        cond: WriteCondition,
    ) -> BlobResult<BlobProps> {
        if !matches!(staged.kind, StagedKind::Blob) {
            return Err(BlobError::InvalidBlockList(
                "a staged block cannot be committed as a blob".into(),
            ));
        }
        let mut headers = headers;
        if headers.content_md5.is_none() {
            use base64::Engine;
            headers.content_md5 =
                Some(base64::engine::general_purpose::STANDARD.encode(staged.md5.clone().finish()));
        }
        self.finish_blob(staged, headers, cond, Vec::new(), None)
    }

    /// The MD5 of what was written so far (base64), to check a request's `Content-MD5`.
    pub fn staged_md5(staged: &StagedUpload) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(staged.md5.clone().finish())
    }

    fn finish_blob(
        &self,
        mut staged: StagedUpload,
        headers: BlobHeaders,
        cond: WriteCondition,
        committed_blocks: Vec<CommittedBlock>,
        expect_etag: Option<Option<String>>,
    ) -> BlobResult<BlobProps> {
        check_headers(&headers)?;
        let dir = self.existing_container_dir(&staged.ws, &staged.container)?;
        let target = Self::blob_path(&dir, &staged.blob);
        // A large upload's data reaches the disk before the commit lock is taken, so other
        // commits do not wait for it; a small one (job inputs and results) is made durable by
        // the one sync below, with its trailer: one disk flush fewer on the job path.
        if staged.written > SYNC_SEPARATELY_ABOVE {
            let f = staged.file.as_mut().ok_or(BlobError::Corrupt)?;
            f.sync_data()?;
        }
        let _g = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        if !dir.is_dir() {
            return Err(BlobError::ContainerNotFound);
        }
        let existing = Self::read_props_at(&target)?;
        Self::check_condition(existing.as_ref(), &cond)?;
        if let Some(expected) = expect_etag {
            // A block list that reused committed blocks must replace the version it read.
            if existing.as_ref().map(|p| p.etag.clone()) != expected {
                return Err(BlobError::ConditionNotMet);
            }
        }
        let t = now();
        let props = BlobProps {
            name: staged.blob.clone(),
            length: staged.written,
            etag: new_etag(),
            last_modified: t,
            creation_time: existing.as_ref().map(|p| p.creation_time).unwrap_or(t),
            content_type: headers.content_type,
            content_encoding: headers.content_encoding,
            content_md5: headers.content_md5,
            metadata: headers.metadata,
            committed_blocks,
        };
        let mut f = staged.file.take().ok_or(BlobError::Corrupt)?;
        let result = (|| {
            write_trailer(&mut f, &props)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&staged.path, &target)?;
            sync_dir(&dir);
            Ok::<_, BlobError>(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&staged.path);
            return Err(e);
        }
        let _ = fs::remove_dir_all(Self::blocks_dir(&dir, &staged.blob));
        Ok(props)
    }

    /// Single-shot Put Blob from memory (used by the scheduler to write results).
    pub fn put_blob(
        &self,
        ws: &str,
        container: &str,
        blob: &str,
        data: &[u8],
        headers: BlobHeaders,
        if_none_match_star: bool,
    ) -> BlobResult<BlobProps> {
        let mut staged = self.begin_upload(ws, container, blob)?;
        staged.write(data)?;
        let cond = if if_none_match_star {
            WriteCondition::IfNoneMatchStar
        } else {
            WriteCondition::None
        };
        self.commit_upload(staged, headers, cond)
    }

    /// Stores a staged block as uncommitted (replacing a block with the same id).
    pub fn commit_block(&self, mut staged: StagedUpload) -> BlobResult<()> {
        let StagedKind::Block { id_hex } = &staged.kind else {
            return Err(BlobError::InvalidBlockList(
                "a staged blob cannot be committed as a block".into(),
            ));
        };
        let dir = self.existing_container_dir(&staged.ws, &staged.container)?;
        let blocks = Self::blocks_dir(&dir, &staged.blob);
        let target = blocks.join(id_hex);
        let f = staged.file.take().ok_or(BlobError::Corrupt)?;
        f.sync_all()?;
        drop(f);
        let result = (|| {
            let _g = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
            private_subdir(&dir.join("blocks")).map_err(|e| gone_or(e, &dir))?;
            private_subdir(&blocks).map_err(|e| gone_or(e, &dir))?;
            let (mut count, mut total) = (0usize, 0u64);
            for e in fs::read_dir(&blocks)?.flatten() {
                if e.file_name().to_str() == Some(id_hex.as_str()) {
                    continue;
                }
                count += 1;
                total += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
            if count + 1 > MAX_UNCOMMITTED_BLOCKS {
                return Err(BlobError::TooLarge(format!(
                    "The blob already has the maximum of {MAX_UNCOMMITTED_BLOCKS} uncommitted blocks."
                )));
            }
            let bound = self.limits.max_blob_size + self.limits.max_block_size;
            if total + staged.written > bound {
                return Err(BlobError::TooLarge(format!(
                    "The uncommitted blocks of this blob would exceed {bound} bytes."
                )));
            }
            fs::rename(&staged.path, &target)?;
            sync_dir(&blocks);
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&staged.path);
        }
        result
    }

    /// Put Block from memory.
    pub fn put_block(
        &self,
        ws: &str,
        container: &str,
        blob: &str,
        block_id: &str,
        data: &[u8],
    ) -> BlobResult<()> {
        let mut staged = self.begin_block(ws, container, blob, block_id)?;
        staged.write(data)?;
        self.commit_block(staged)
    }

    /// Put Block List: assembles the listed blocks into the blob (bounded by the maximum blob
    /// size), commits it like a Put Blob, and discards all uncommitted blocks of the blob.
    pub fn put_block_list(
        &self,
        ws: &str,
        container: &str,
        blob: &str,
        list: &[BlockRef],
        headers: BlobHeaders,
        cond: WriteCondition,
    ) -> BlobResult<BlobProps> {
        validate_blob_name(blob)?;
        if list.len() > MAX_BLOCKS_PER_BLOB {
            return Err(BlobError::TooLarge(format!(
                "A block list may name at most {MAX_BLOCKS_PER_BLOB} blocks."
            )));
        }
        let mut id_len = None;
        let mut decoded = Vec::with_capacity(list.len());
        for r in list {
            let bytes = decode_block_id(&r.id)
                .map_err(|_| BlobError::InvalidBlockList("The specified block list is invalid: a block id is not valid base64 of 1 to 64 bytes.".into()))?;
            if *id_len.get_or_insert(bytes.len()) != bytes.len() {
                return Err(BlobError::InvalidBlockList(
                    "The specified block list is invalid: all block ids of a blob must have the same length.".into(),
                ));
            }
            decoded.push(hex(&bytes));
        }
        let dir = self.existing_container_dir(ws, container)?;
        let blocks = Self::blocks_dir(&dir, blob);
        let target = Self::blob_path(&dir, blob);
        // The committed version (for `Committed`/`Latest` entries), read from one open file.
        let mut current: Option<(File, BlobProps)> = match File::open(&target) {
            Ok(mut f) => {
                let p = read_trailer(&mut f)?;
                Some((f, p))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let committed_offsets: BTreeMap<String, (u64, u64)> = match &current {
            Some((_, p)) => {
                let mut off = 0;
                let mut m = BTreeMap::new();
                for b in &p.committed_blocks {
                    m.entry(b.id.clone()).or_insert((off, b.size));
                    off += b.size;
                }
                m
            }
            None => BTreeMap::new(),
        };
        let mut staged = self.begin_upload(ws, container, blob)?;
        let mut used_committed = false;
        let mut out_blocks = Vec::with_capacity(list.len());
        let mut buf = vec![0u8; 1024 * 1024];
        for (r, id_hex) in list.iter().zip(&decoded) {
            let uncommitted = blocks.join(id_hex);
            let from_uncommitted = match r.source {
                BlockSource::Uncommitted => true,
                BlockSource::Committed => false,
                BlockSource::Latest => uncommitted.is_file(),
            };
            let size = if from_uncommitted {
                let mut f = File::open(&uncommitted).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => BlobError::InvalidBlockList(
                        "The specified block list is invalid: an uncommitted block does not exist."
                            .into(),
                    ),
                    _ => e.into(),
                })?;
                copy_into(&mut f, u64::MAX, &mut staged, &mut buf)?
            } else {
                let Some(&(off, size)) = committed_offsets.get(&r.id) else {
                    return Err(BlobError::InvalidBlockList(
                        "The specified block list is invalid: a committed block does not exist."
                            .into(),
                    ));
                };
                let (f, _) = current.as_mut().ok_or(BlobError::Corrupt)?;
                f.seek(SeekFrom::Start(off))?;
                used_committed = true;
                copy_into(f, size, &mut staged, &mut buf)?
            };
            out_blocks.push(CommittedBlock {
                id: r.id.clone(),
                size,
            });
        }
        let expect = used_committed.then(|| current.as_ref().map(|(_, p)| p.etag.clone()));
        self.finish_blob(staged, headers, cond, out_blocks, expect)
    }

    /// Opens a blob for reading: the file (content is bytes `0..props.length`) and its properties.
    pub fn open_blob(
        &self,
        ws: &str,
        container: &str,
        blob: &str,
    ) -> BlobResult<(File, BlobProps)> {
        validate_blob_name(blob)?;
        let dir = self.existing_container_dir(ws, container)?;
        let mut f = match File::open(Self::blob_path(&dir, blob)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::BlobNotFound)
            }
            Err(e) => return Err(e.into()),
        };
        let props = read_trailer(&mut f)?;
        if props.name != blob {
            return Err(BlobError::Corrupt);
        }
        f.seek(SeekFrom::Start(0))?;
        Ok((f, props))
    }

    /// Properties of a blob, `None` if the blob or container does not exist.
    pub fn blob_props(
        &self,
        ws: &str,
        container: &str,
        blob: &str,
    ) -> BlobResult<Option<BlobProps>> {
        match self.open_blob(ws, container, blob) {
            Ok((_, p)) => Ok(Some(p)),
            Err(BlobError::BlobNotFound | BlobError::ContainerNotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a whole blob into memory, `None` if the blob or container does not exist. Bounded by
    /// the maximum blob size; prefer [`BlobStore::open_blob`] for streaming.
    pub fn get_blob(
        &self,
        ws: &str,
        container: &str,
        blob: &str,
    ) -> BlobResult<Option<(Vec<u8>, BlobProps)>> {
        let (mut f, props) = match self.open_blob(ws, container, blob) {
            Ok(x) => x,
            Err(BlobError::BlobNotFound | BlobError::ContainerNotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut data = vec![0u8; props.length as usize];
        f.read_exact(&mut data)?;
        Ok(Some((data, props)))
    }

    /// Deletes a blob and its uncommitted blocks; `Ok(false)` if it did not exist.
    pub fn delete_blob(&self, ws: &str, container: &str, blob: &str) -> BlobResult<bool> {
        validate_blob_name(blob)?;
        let dir = self.existing_container_dir(ws, container)?;
        let _g = self.commit_lock.lock().unwrap_or_else(|p| p.into_inner());
        let _ = fs::remove_dir_all(Self::blocks_dir(&dir, blob));
        match fs::remove_file(Self::blob_path(&dir, blob)) {
            Ok(()) => {
                sync_dir(&dir);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// List Blobs: names starting with `prefix`, from `marker` (inclusive) on, at most `max`.
    pub fn list_blobs(
        &self,
        ws: &str,
        container: &str,
        prefix: &str,
        marker: Option<&str>,
        max: usize,
    ) -> BlobResult<BlobPage> {
        let dir = self.existing_container_dir(ws, container)?;
        let mut all = Vec::new();
        for e in fs::read_dir(&dir)?.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if !(name.starts_with("b-") && name.ends_with(".blob")) {
                continue;
            }
            // A blob deleted or replaced meanwhile is simply skipped or read in its new version.
            let Ok(Some(p)) = Self::read_props_at(&e.path()) else {
                continue;
            };
            if p.name.starts_with(prefix) && marker.is_none_or(|m| p.name.as_str() >= m) {
                all.push(p);
            }
        }
        all.sort_by(|a, b| a.name.cmp(&b.name));
        let max = max.max(1);
        let next_marker = all.get(max).map(|p| p.name.clone());
        all.truncate(max);
        Ok(BlobPage {
            blobs: all,
            next_marker,
        })
    }

    /// The directory holding a workspace's containers (tests check nothing escapes it).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

/// Copies at most `limit` bytes from `src` into `dst`; returns the count.
fn copy_into(
    src: &mut File,
    limit: u64,
    dst: &mut StagedUpload,
    buf: &mut [u8],
) -> BlobResult<u64> {
    let mut copied = 0u64;
    while copied < limit {
        let want = (limit - copied).min(buf.len() as u64) as usize;
        let n = src.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        dst.write(&buf[..n])?;
        copied += n as u64;
    }
    if limit != u64::MAX && copied != limit {
        return Err(BlobError::Corrupt);
    }
    Ok(copied)
}

/// MD5 (RFC 1321), only to fill `Content-MD5` like Azure does for single-shot uploads; never
/// used for security.
pub mod md5 {
    /// Streaming MD5 state.
    #[derive(Clone)]
    pub struct Md5 {
        state: [u32; 4],
        buf: [u8; 64],
        buf_len: usize,
        total: u64,
    }

    const SHIFTS: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];

    fn table() -> &'static [u32; 64] {
        static T: std::sync::OnceLock<[u32; 64]> = std::sync::OnceLock::new();
        T.get_or_init(|| {
            let mut t = [0u32; 64];
            for (i, v) in t.iter_mut().enumerate() {
                *v = ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32;
            }
            t
        })
    }

    impl Default for Md5 {
        fn default() -> Self {
            Md5 {
                state: [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
                buf: [0; 64],
                buf_len: 0,
                total: 0,
            }
        }
    }

    impl Md5 {
        fn block(&mut self, chunk: &[u8]) {
            let k = table();
            let mut m = [0u32; 16];
            for (i, w) in m.iter_mut().enumerate() {
                *w = u32::from_le_bytes(chunk[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
            }
            let [mut a, mut b, mut c, mut d] = self.state;
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(f.rotate_left(SHIFTS[i]));
            }
            for (s, v) in self.state.iter_mut().zip([a, b, c, d]) {
                *s = s.wrapping_add(v);
            }
        }

        /// Adds bytes.
        pub fn update(&mut self, mut data: &[u8]) {
            self.total = self.total.wrapping_add(data.len() as u64);
            if self.buf_len > 0 {
                let take = (64 - self.buf_len).min(data.len());
                self.buf[self.buf_len..self.buf_len + take].copy_from_slice(&data[..take]);
                self.buf_len += take;
                data = &data[take..];
                if self.buf_len < 64 {
                    return;
                }
                let buf = self.buf;
                self.block(&buf);
                self.buf_len = 0;
            }
            let mut chunks = data.chunks_exact(64);
            for c in &mut chunks {
                self.block(c);
            }
            let rest = chunks.remainder();
            self.buf[..rest.len()].copy_from_slice(rest);
            self.buf_len = rest.len();
        }

        /// The digest.
        pub fn finish(mut self) -> [u8; 16] {
            let bits = self.total.wrapping_mul(8);
            let mut pad = vec![0x80u8];
            let len_after = (self.buf_len + 1) % 64;
            pad.extend(std::iter::repeat_n(0u8, (56 + 64 - len_after) % 64));
            pad.extend_from_slice(&bits.to_le_bytes());
            let total = self.total;
            self.update(&pad);
            self.total = total;
            let mut out = [0u8; 16];
            for (i, s) in self.state.iter().enumerate() {
                out[i * 4..i * 4 + 4].copy_from_slice(&s.to_le_bytes());
            }
            out
        }
    }

    /// One-shot digest.
    pub fn digest(data: &[u8]) -> [u8; 16] {
        let mut m = Md5::default();
        m.update(data);
        m.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, BlobStore) {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(d.path(), BlobLimits::default()).unwrap();
        (d, s)
    }

    #[test]
    fn md5_matches_rfc_1321_vectors() {
        let h = |d: &[u8]| hex(&md5::digest(d));
        assert_eq!(h(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(h(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            h(b"The quick brown fox jumps over the lazy dog"),
            "9e107d9d372bb6826bd81d3542a419d6"
        );
        assert_eq!(
            h(b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
        // Streaming in odd pieces gives the same digest.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut m = md5::Md5::default();
        for c in data.chunks(13) {
            m.update(c);
        }
        assert_eq!(m.finish(), md5::digest(&data));
    }

    #[test]
    fn names() {
        for ok in ["abc", "job-1234", "a1b", &"a".repeat(63)] {
            validate_container_name(ok).unwrap();
        }
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "a--b",
            "ABC",
            "a_b",
            "..",
            "a/b",
            &"a".repeat(64),
        ] {
            assert!(validate_container_name(bad).is_err(), "{bad}");
        }
        for ok in ["inputData", "a/b/c", "résumé", "x.y", "..a"] {
            validate_blob_name(ok).unwrap();
        }
        for bad in [
            "", "..", "a/../b", "./a", "/a", "a/", "a//b", "a\\b", "a\0b", "a\nb",
        ] {
            assert!(validate_blob_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_blob_name(&"x".repeat(1025)).is_err());
        assert!(validate_workspace_uid("../x").is_err());
    }

    #[test]
    fn container_properties_come_from_the_directory_and_survive_a_reopen() {
        let (d, s) = store();
        assert!(s.create_container("ws1", "job-a").unwrap());
        let dir = d.path().join("blobs/ws1/job-a");
        let derived = props_of_dir(&dir).is_some();
        // Where the file system keeps creation times, no properties file is written (and no
        // flush spent on one); elsewhere the file is the record.
        assert_eq!(dir.join(CONTAINER_FILE).exists(), !derived);
        let first = s.container_props("ws1", "job-a").unwrap().unwrap();
        assert_ne!(first.etag, "0x0");
        // Blob writes do not modify the container.
        s.put_blob("ws1", "job-a", "x", b"1", BlobHeaders::default(), false)
            .unwrap();
        let again = s.container_props("ws1", "job-a").unwrap().unwrap();
        assert_eq!(
            (&again.etag, again.last_modified),
            (&first.etag, first.last_modified)
        );
        // A restart reads the same properties.
        drop(s);
        let s = BlobStore::open(d.path(), BlobLimits::default()).unwrap();
        let reopened = s.container_props("ws1", "job-a").unwrap().unwrap();
        assert_eq!(
            (&reopened.etag, reopened.last_modified),
            (&first.etag, first.last_modified)
        );
        // Deleted and created again: a new container, a new ETag.
        assert!(s.delete_container("ws1", "job-a").unwrap());
        assert!(s.container_props("ws1", "job-a").unwrap().is_none());
        assert!(s.create_container("ws1", "job-a").unwrap());
        let recreated = s.container_props("ws1", "job-a").unwrap().unwrap();
        assert_ne!(recreated.etag, first.etag);
        assert!(!s.create_container("ws1", "job-a").unwrap());
    }

    #[test]
    fn a_container_written_with_a_properties_file_keeps_its_properties() {
        let (d, s) = store();
        assert!(s.create_container("ws1", "job-a").unwrap());
        let stored = ContainerProps {
            etag: "0x8D00000000000001".into(),
            last_modified: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        };
        let file = d.path().join("blobs/ws1/job-a").join(CONTAINER_FILE);
        fs::write(&file, serde_json::to_vec(&stored).unwrap()).unwrap();
        let p = s.container_props("ws1", "job-a").unwrap().unwrap();
        assert_eq!(
            (p.etag, p.last_modified),
            (stored.etag, stored.last_modified)
        );
    }

    #[test]
    fn round_trip_conditions_and_list() {
        let (_d, s) = store();
        assert!(s.create_container("ws1", "job-a").unwrap());
        assert!(!s.create_container("ws1", "job-a").unwrap());
        let h = BlobHeaders {
            content_type: Some("application/json".into()),
            ..Default::default()
        };
        let p = s
            .put_blob("ws1", "job-a", "inputData", b"{}", h.clone(), true)
            .unwrap();
        assert_eq!(p.length, 2);
        assert!(matches!(
            s.put_blob("ws1", "job-a", "inputData", b"x", h.clone(), true),
            Err(BlobError::BlobAlreadyExists)
        ));
        let (data, got) = s.get_blob("ws1", "job-a", "inputData").unwrap().unwrap();
        assert_eq!(data, b"{}");
        assert_eq!(got.etag, p.etag);
        assert_eq!(got.content_type.as_deref(), Some("application/json"));
        assert!(s.get_blob("ws2", "job-a", "inputData").unwrap().is_none());
        s.put_blob("ws1", "job-a", "b/2", b"2", h.clone(), false)
            .unwrap();
        s.put_blob("ws1", "job-a", "b/1", b"1", h, false).unwrap();
        let page = s.list_blobs("ws1", "job-a", "b/", None, 1).unwrap();
        assert_eq!(page.blobs[0].name, "b/1");
        assert_eq!(page.next_marker.as_deref(), Some("b/2"));
        let page = s.list_blobs("ws1", "job-a", "", Some("b/2"), 10).unwrap();
        let names: Vec<_> = page.blobs.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["b/2", "inputData"]);
        assert!(page.next_marker.is_none());
        assert_eq!(s.workspace_uids().unwrap(), ["ws1"]);
        assert!(s.delete_container("ws1", "job-a").unwrap());
        assert!(!s.container_exists("ws1", "job-a").unwrap());
    }

    #[test]
    fn blocks_commit_and_reuse() {
        let (_d, s) = store();
        s.create_container("w", "c-1").unwrap();
        let id = |n: u32| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(format!("{n:08}"))
        };
        s.put_block("w", "c-1", "big", &id(1), b"hello ").unwrap();
        s.put_block("w", "c-1", "big", &id(2), b"world").unwrap();
        let list = vec![
            BlockRef {
                id: id(1),
                source: BlockSource::Latest,
            },
            BlockRef {
                id: id(2),
                source: BlockSource::Uncommitted,
            },
        ];
        let p = s
            .put_block_list(
                "w",
                "c-1",
                "big",
                &list,
                BlobHeaders::default(),
                WriteCondition::None,
            )
            .unwrap();
        assert_eq!(p.length, 11);
        // Uncommitted blocks are gone; committed ones can be reused.
        assert!(matches!(
            s.put_block_list(
                "w",
                "c-1",
                "big",
                &list,
                BlobHeaders::default(),
                WriteCondition::None
            ),
            Err(BlobError::InvalidBlockList(_))
        ));
        let again = vec![
            BlockRef {
                id: id(2),
                source: BlockSource::Committed,
            },
            BlockRef {
                id: id(1),
                source: BlockSource::Latest,
            },
        ];
        s.put_block_list(
            "w",
            "c-1",
            "big",
            &again,
            BlobHeaders::default(),
            WriteCondition::None,
        )
        .unwrap();
        let (data, _) = s.get_blob("w", "c-1", "big").unwrap().unwrap();
        assert_eq!(data, b"worldhello ");
    }

    #[test]
    fn bounds_are_enforced() {
        let d = tempfile::tempdir().unwrap();
        let s = BlobStore::open(
            d.path(),
            BlobLimits {
                max_blob_size: 10,
                max_block_size: 4,
            },
        )
        .unwrap();
        s.create_container("w", "c-1").unwrap();
        assert!(matches!(
            s.put_blob("w", "c-1", "x", &[0; 11], BlobHeaders::default(), false),
            Err(BlobError::TooLarge(_))
        ));
        assert!(matches!(
            s.put_block("w", "c-1", "x", "AAAA", &[0; 5]),
            Err(BlobError::TooLarge(_))
        ));
        // Nothing is left behind in tmp.
        let tmp = d.path().join("blobs/w/c-1/tmp");
        assert_eq!(fs::read_dir(tmp).unwrap().count(), 0);
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn directories_are_0700_and_files_0600_even_when_created_before() {
        let d = tempfile::tempdir().unwrap();
        // Data written by an older qws: world-readable directories.
        let old = d.path().join("blobs/w0/job-old");
        fs::create_dir_all(&old).unwrap();
        for p in [
            d.path().join("blobs"),
            d.path().join("blobs/w0"),
            old.clone(),
        ] {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let s = BlobStore::open(d.path(), BlobLimits::default()).unwrap();
        for p in [d.path().join("blobs"), d.path().join("blobs/w0"), old] {
            assert_eq!(mode(&p), 0o700, "{}", p.display());
        }
        s.create_container("w1", "job-a").unwrap();
        s.put_blob("w1", "job-a", "in", b"x", BlobHeaders::default(), false)
            .unwrap();
        s.put_block("w1", "job-a", "big", "AAAA", b"y").unwrap();
        let root = d.path().join("blobs");
        let mut dirs = vec![root.clone()];
        let mut seen_files = 0;
        while let Some(dir) = dirs.pop() {
            assert_eq!(mode(&dir), 0o700, "{}", dir.display());
            for e in fs::read_dir(&dir).unwrap().flatten() {
                if e.path().is_dir() {
                    dirs.push(e.path());
                } else {
                    seen_files += 1;
                    assert_eq!(mode(&e.path()), 0o600, "{}", e.path().display());
                }
            }
        }
        assert!(seen_files >= 2, "the blob and the block");
    }

    #[test]
    fn writes_into_a_deleted_workspace_fail_and_recreate_nothing() {
        let (d, s) = store();
        s.create_container("w1", "job-a").unwrap();
        let staged = s.begin_upload("w1", "job-a", "outputData").unwrap();
        let block = s.begin_block("w1", "job-a", "outputData", "AAAA").unwrap();
        s.delete_workspace("w1").unwrap();
        // A scheduler writing a result after the workspace was deleted gets ContainerNotFound.
        assert!(matches!(
            s.put_blob(
                "w1",
                "job-a",
                "outputData",
                b"{}",
                BlobHeaders::default(),
                false
            ),
            Err(BlobError::ContainerNotFound)
        ));
        assert!(matches!(
            s.commit_upload(staged, BlobHeaders::default(), WriteCondition::None),
            Err(BlobError::ContainerNotFound)
        ));
        assert!(matches!(
            s.commit_block(block),
            Err(BlobError::ContainerNotFound)
        ));
        assert!(
            !d.path().join("blobs/w1").exists(),
            "no directory of the deleted workspace came back"
        );
    }

    #[test]
    fn a_shared_directory_keeps_fresh_uploads_of_other_nodes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("shared");
        let s = BlobStore::open_shared(&root, BlobLimits::default()).unwrap();
        s.create_container("w1", "job-a").unwrap();
        s.put_blob("w1", "job-a", "in", b"x", BlobHeaders::default(), false)
            .unwrap();
        let tmp = root.join("w1/job-a/tmp");
        fs::create_dir_all(&tmp).unwrap();
        let (fresh, old) = (tmp.join("fresh.tmp"), tmp.join("old.tmp"));
        fs::write(&fresh, b"being written by another node").unwrap();
        fs::write(&old, b"left by a crash").unwrap();
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - SHARED_LEFTOVER_AGE * 2)
            .unwrap();
        // Another node opening the same directory.
        let other = BlobStore::open_shared(&root, BlobLimits::default()).unwrap();
        assert!(fresh.exists(), "a fresh upload is not a leftover");
        assert!(!old.exists(), "an old one is");
        assert_eq!(
            other.get_blob("w1", "job-a", "in").unwrap().unwrap().0,
            b"x"
        );
    }
}
