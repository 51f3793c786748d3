//! Shared access signatures minted and verified by qws.
//!
//! A SAS is an HMAC-SHA256 (key derived from the master key, see
//! [`qws_store::crypto::Crypto::blob_sas_sign`]) over a canonical string naming the workspace, the
//! [`SasHolder`] it was minted for, the container (and blob for `sr=b`), the permissions, the
//! validity window and the version. The Python storage SDK forwards only the query parameters it
//! knows as SAS parameters (a private name would be dropped on the way back), so the workspace
//! uid travels in `si` and the holder in `skoid` (+ `skv`, the key version).
//!
//! A SAS lives no longer than the access it was minted under: one minted for an access-key caller
//! names the key slot and its version and is refused once that key is regenerated, keys are
//! disabled, or the workspace is deleted; one minted for a bearer-token caller names the
//! principal and is refused once the principal or the workspace is gone. The check is made on
//! every request ([`verify`]), so revocation takes effect at once.
//!
//! URLs use the host `127.1` by default (see [`blob_base_url`]): with `127.0.0.1` or `localhost`
//! the storage SDK parses paths Azurite-style (`/<account>/<container>/<blob>`), while the quantum
//! SDK takes the first segment as the container.

use crate::error::ApiResult;
use crate::state::AppState;
use base64::Engine;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use qws_core::keys::KeySlot;
pub use qws_store::blobs::{parse_blob_path, parse_blob_url};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The `sv` qws writes (the storage API version the Python SDK sends).
pub const SAS_VERSION: &str = "2026-10-06";
/// Clock skew tolerated on `st`.
pub const START_SKEW: time::Duration = time::Duration::minutes(5);
/// Container permissions the quantum client needs (read, add, create, write, list).
pub const CONTAINER_PERMISSIONS: &str = "racwl";
/// Blob permissions for downloads.
pub const READ_PERMISSION: &str = "r";

const PERMISSION_ORDER: &str = "racwdl";

/// Characters kept literally in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// Characters kept literally in a blob path (segments separated by `/`).
const PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

/// Whose access a SAS stands on; the SAS is valid only while that access is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SasHolder {
    /// An access-key caller: the key's slot and its version at minting.
    Key {
        /// Primary or secondary.
        slot: KeySlot,
        /// Bumped by every regeneration of that key.
        version: i64,
    },
    /// A bearer-token caller: the principal's object id.
    Principal {
        /// The `oid` of the principal.
        object_id: String,
    },
}

impl SasHolder {
    /// `(skoid, skv)` as written into the query.
    fn query_values(&self) -> (String, Option<String>) {
        match self {
            SasHolder::Key { slot, version } => (
                slot.as_str().to_ascii_lowercase(),
                Some(version.to_string()),
            ),
            SasHolder::Principal { object_id } => (object_id.clone(), None),
        }
    }

    /// Reads `skoid`/`skv`: a key slot needs a version, a principal id must not have one.
    fn from_query(skoid: &str, skv: Option<&str>) -> Option<SasHolder> {
        let slot = match skoid {
            "primary" => Some(KeySlot::Primary),
            "secondary" => Some(KeySlot::Secondary),
            _ => None,
        };
        match (slot, skv) {
            (Some(slot), Some(v)) => Some(SasHolder::Key {
                slot,
                version: v.parse().ok().filter(|n: &i64| *n > 0)?,
            }),
            (None, None) if uuid::Uuid::parse_str(skoid).is_ok() => Some(SasHolder::Principal {
                object_id: skoid.to_string(),
            }),
            _ => None,
        }
    }

    /// The holder as signed (typed, so a key and a principal can never sign alike).
    fn signed(&self) -> String {
        let mut out = String::new();
        self.write_signed(&mut out);
        out
    }

    /// Appends [`SasHolder::signed`] to `out`.
    fn write_signed(&self, out: &mut String) {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = match self {
            SasHolder::Key { slot, version } => write!(out, "key:{}:{version}", slot.as_str()),
            SasHolder::Principal { object_id } => write!(out, "principal:{object_id}"),
        };
    }
}

/// The holder of a SAS minted for `caller`: its key and that key's current version, or its
/// principal. Fails (uniform 401) when that access has gone meanwhile.
pub async fn holder_for(
    state: &AppState,
    caller: &crate::planes::dataplane::auth::Caller,
) -> ApiResult<SasHolder> {
    // Read while authenticating this request, at its change version: no second lookup.
    if let Some(holder) = &caller.holder {
        return Ok(holder.clone());
    }
    let uid = caller.ws.uid.clone();
    let by_key = caller.created_by_type == "Key";
    let who = caller.created_by.clone();
    let object_id = caller.object_id.clone();
    let holder = state
        .db(move |s| {
            if by_key {
                let slot = if who == "SecondaryKey" {
                    KeySlot::Secondary
                } else {
                    KeySlot::Primary
                };
                Ok(s.live_key_version(&uid, slot)?
                    .map(|version| SasHolder::Key { slot, version }))
            } else if let Some(oid) = object_id {
                // A signed-in user's token names the application it came through, not the
                // user: the holder is the caller's own object (user or service principal).
                Ok(principal_is_live(s, &oid)?.then_some(SasHolder::Principal { object_id: oid }))
            } else {
                Ok(s.principal_by_client_id(&who)?
                    .map(|p| SasHolder::Principal {
                        object_id: p.object_id,
                    }))
            }
        })
        .await?;
    holder.ok_or_else(|| crate::planes::dataplane::auth::unauthorized(state))
}

/// The holder for SAS minted with the workspace's current key in `slot` (for tools and tests);
/// `None` while that key is not usable.
pub fn key_holder(
    store: &qws_store::Store,
    ws_uid: &str,
    slot: KeySlot,
) -> qws_store::Result<Option<SasHolder>> {
    Ok(store
        .live_key_version(ws_uid, slot)?
        .map(|version| SasHolder::Key { slot, version }))
}

/// True while the access `holder` stands on still exists for workspace `ws_uid`.
fn holder_is_live(
    store: &qws_store::Store,
    ws_uid: &str,
    holder: &SasHolder,
) -> qws_store::Result<bool> {
    Ok(match holder {
        SasHolder::Key { slot, version } => {
            store.live_key_version(ws_uid, *slot)? == Some(*version)
        }
        SasHolder::Principal { object_id } => {
            principal_is_live(store, object_id)? && store.get_workspace_by_uid(ws_uid)?.is_some()
        }
    })
}

/// True while `object_id` is a service principal, or an enabled user.
fn principal_is_live(store: &qws_store::Store, object_id: &str) -> qws_store::Result<bool> {
    if store.principal_by_object_id(object_id)?.is_some() {
        return Ok(true);
    }
    Ok(store
        .identity()
        .user(object_id)
        .map_err(qws_store::StoreError::from)?
        .is_some_and(|u| u.enabled))
}

/// What a verified SAS grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasGrant {
    /// Workspace uid whose data the SAS addresses.
    pub workspace_uid: String,
    /// The blob namespace that workspace's data lives in (its storage account's, or its own).
    pub namespace: String,
    /// Whose access it stands on.
    pub holder: SasHolder,
    /// Container.
    pub container: String,
    /// `Some(blob)` for a blob SAS (`sr=b`), `None` for a container SAS.
    pub blob: Option<String>,
    /// Canonical permission letters (`racwdl` subset).
    pub permissions: String,
    /// Expiry.
    pub expiry: OffsetDateTime,
}

impl SasGrant {
    /// True if the SAS carries permission letter `p`.
    pub fn allows(&self, p: char) -> bool {
        self.permissions.contains(p)
    }
}

/// Why a SAS was refused (callers answer all of these with one uniform 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SasRefusal {
    /// No SAS parameters at all.
    Missing,
    /// Malformed, wrong signature, not yet valid, expired or for another resource.
    Invalid,
}

/// Canonical permission letters: known letters only, each once, in `racwdl` order.
pub fn canonical_permissions(p: &str) -> String {
    PERMISSION_ORDER
        .chars()
        .filter(|c| p.contains(*c))
        .collect()
}

/// The signed fields of a SAS, in string-to-sign order.
struct Signed<'a> {
    sv: &'a str,
    ws: &'a str,
    holder: &'a SasHolder,
    sr: &'a str,
    container: &'a str,
    blob: Option<&'a str>,
    sp: &'a str,
    st: &'a str,
    se: &'a str,
}

impl Signed<'_> {
    fn string_to_sign(&self) -> String {
        format!(
            "qws-blob-sas-v2\n{}\n{}\n{}\n{}\n/{}/{}\n{}\n{}\n{}",
            self.sv,
            self.ws,
            self.holder.signed(),
            self.sr,
            self.container,
            self.blob.unwrap_or(""),
            self.sp,
            self.st,
            self.se
        )
    }
}

/// The public base of blob URLs, without trailing slash: the job data backend's
/// ([`super::backend::JobDataBackend::base_url`]).
pub fn blob_base_url(state: &AppState) -> String {
    state.job_data.base_url().to_string()
}

/// The base of qws's own blob URLs: `--blob-public-url` if set, else the HTTP listener with
/// `127.0.0.1` spelled `127.1` (see the module docs).
pub fn own_blob_base_url(public_url: Option<&str>, http_listener: &str) -> String {
    if let Some(u) = public_url {
        return u.trim_end_matches('/').to_string();
    }
    let http = http_listener.trim_end_matches('/');
    match http.strip_prefix("http://127.0.0.1:") {
        Some(port) => format!("http://127.1:{port}"),
        None => http.to_string(),
    }
}

/// Checks a `--blob-public-url` value: an `http(s)://host[:port][/path]` URL without query or
/// fragment. Returns it without the trailing slash. Avoid `localhost`/`127.0.0.1` hosts: the
/// storage SDK would parse paths Azurite-style (see the module docs).
pub fn normalize_blob_public_url(u: &str) -> Result<String, String> {
    let parsed = url::Url::parse(u).map_err(|e| format!("'{u}' is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(format!(
            "'{u}' must be an http(s) URL without query, e.g. http://127.1:8080"
        ));
    }
    // Keep the caller's host spelling: URL libraries rewrite `127.1` to `127.0.0.1`.
    Ok(u.trim_end_matches('/').to_string())
}

/// Percent-encodes a blob name for a URL path (keeps `/`).
pub fn encode_blob_path(blob: &str) -> String {
    utf8_percent_encode(blob, PATH).to_string()
}

/// Most URLs a [`SasCache`] holds; a full cache starts over.
pub const SAS_CACHE_MAX: usize = 4096;

/// SAS URLs qws signed for served job documents, reused while their expiry is the same:
/// stamped with the expiry (unix seconds; callers round it down to the minute, see
/// [`mint_cached`]), so a later expiry replaces every URL held and an earlier one is never
/// served or kept.
///
/// Reuse is exact: a URL is a function of what it is keyed by (workspace, [`SasHolder`] with
/// its key version, container, blob, permissions; the expiry is the stamp) and of the signing
/// key, which derives from the master key and is fixed for the process. A regenerated key has a
/// new version, so its holder misses and gets a fresh signature; a caller whose access went is
/// refused before anything is minted. Only `st` may be up to a minute earlier than a fresh
/// mint's. URLs a backend presigns with its own key are never kept.
pub type SasCache = qws_store::change::VersionedCache<String, String>;

/// The stamp of URLs expiring at `expiry` (never before the epoch: they lie in the future).
fn expiry_stamp(expiry: OffsetDateTime) -> u64 {
    expiry.unix_timestamp().max(0) as u64
}

/// The [`SasCache`] key: every input of the URL but the expiry. Only the blob name may hold a
/// newline, so it comes last.
fn cache_key(
    ws_uid: &str,
    holder: &SasHolder,
    container: &str,
    blob: Option<&str>,
    sp: &str,
) -> String {
    let mut key = String::with_capacity(
        ws_uid.len() + container.len() + sp.len() + blob.map_or(0, str::len) + 64,
    );
    key.push_str(ws_uid);
    key.push('\n');
    holder.write_signed(&mut key);
    key.push('\n');
    key.push_str(container);
    key.push('\n');
    key.push_str(sp);
    key.push('\n');
    match blob {
        Some(b) => {
            key.push('b');
            key.push_str(b);
        }
        None => key.push('c'),
    }
    key
}

/// A SAS URL for a served job document, through the state's [`SasCache`]: valid until
/// `lifetime` after the start of the current minute (so between `lifetime` less a minute and
/// `lifetime` from now). `blob` `None` gives a container SAS.
pub fn mint_cached(
    state: &AppState,
    ws_uid: &str,
    holder: &SasHolder,
    container: &str,
    blob: Option<&str>,
    perms: &str,
    lifetime: time::Duration,
) -> String {
    let now = OffsetDateTime::now_utc();
    let minute = OffsetDateTime::from_unix_timestamp(now.unix_timestamp().div_euclid(60) * 60)
        .unwrap_or(now);
    let cache = Some(&state.job_sas);
    mint(
        state,
        ws_uid,
        holder,
        container,
        blob,
        perms,
        minute + lifetime,
        cache,
    )
}

#[allow(clippy::too_many_arguments)]
fn mint(
    state: &AppState,
    ws_uid: &str,
    holder: &SasHolder,
    container: &str,
    blob: Option<&str>,
    perms: &str,
    expiry: OffsetDateTime,
    cache: Option<&SasCache>,
) -> String {
    let sp = canonical_permissions(perms);
    let start = OffsetDateTime::now_utc() - START_SKEW;
    // A backend with its own key (an Azure account) signs for itself.
    if let Some(url) = state.job_data.presign(&super::backend::SasRequest {
        container,
        blob,
        permissions: &sp,
        start,
        expiry,
    }) {
        return url;
    }
    let key = cache.map(|_| cache_key(ws_uid, holder, container, blob, &sp));
    if let (Some(cache), Some(key)) = (cache, &key) {
        if let Some(url) = cache.get(expiry_stamp(expiry), key) {
            return url;
        }
    }
    let url = sign(state, ws_uid, holder, container, blob, &sp, start, expiry);
    if let (Some(cache), Some(key)) = (cache, key) {
        cache.put(expiry_stamp(expiry), key, url.clone());
    }
    url
}

/// The URL of a SAS qws signs itself (`sp` canonical).
#[allow(clippy::too_many_arguments)]
fn sign(
    state: &AppState,
    ws_uid: &str,
    holder: &SasHolder,
    container: &str,
    blob: Option<&str>,
    sp: &str,
    start: OffsetDateTime,
    expiry: OffsetDateTime,
) -> String {
    let sr = if blob.is_some() { "b" } else { "c" };
    let st = qws_core::time_fmt::seconds_z(start);
    let se = qws_core::time_fmt::seconds_z(expiry);
    let sts = Signed {
        sv: SAS_VERSION,
        ws: ws_uid,
        holder,
        sr,
        container,
        blob,
        sp,
        st: &st,
        se: &se,
    }
    .string_to_sign();
    let sig = base64::engine::general_purpose::STANDARD
        .encode(state.store.crypto().blob_sas_sign(sts.as_bytes()));
    let enc = |v: &str| utf8_percent_encode(v, QUERY_VALUE).to_string();
    let path = match blob {
        Some(b) => format!("{container}/{}", encode_blob_path(b)),
        None => container.to_string(),
    };
    let (skoid, skv) = holder.query_values();
    let skv = skv.map(|v| format!("&skv={v}")).unwrap_or_default();
    format!(
        "{}/{path}?sv={SAS_VERSION}&st={}&se={}&sr={sr}&sp={sp}&si={}&skoid={}{skv}&sig={}",
        blob_base_url(state),
        enc(&st),
        enc(&se),
        enc(ws_uid),
        enc(&skoid),
        enc(&sig)
    )
}

/// A container SAS URL
/// `<base>/<container>?sv=…&st=…&se=…&sr=c&sp=…&si=<ws uid>&skoid=<holder>[&skv=<key version>]&sig=…`.
/// `perms` is a subset of `racwdl` (unknown letters are ignored).
pub fn mint_container_sas(
    state: &AppState,
    ws_uid: &str,
    holder: &SasHolder,
    container: &str,
    perms: &str,
    expiry: OffsetDateTime,
) -> String {
    mint(state, ws_uid, holder, container, None, perms, expiry, None)
}

/// A blob SAS URL `<base>/<container>/<blob>?…&sr=b&…`, valid for that blob only.
pub fn mint_blob_sas(
    state: &AppState,
    ws_uid: &str,
    holder: &SasHolder,
    container: &str,
    blob: &str,
    perms: &str,
    expiry: OffsetDateTime,
) -> String {
    mint(
        state,
        ws_uid,
        holder,
        container,
        Some(blob),
        perms,
        expiry,
        None,
    )
}

/// The container URL without a SAS (`<base>/<container>`), as stored in job documents.
pub fn container_url(state: &AppState, container: &str) -> String {
    format!("{}/{container}", blob_base_url(state))
}

/// The blob URL without a SAS (`<base>/<container>/<blob>`), e.g. for `inputDataUri`.
pub fn blob_url(state: &AppState, container: &str, blob: &str) -> String {
    format!(
        "{}/{container}/{}",
        blob_base_url(state),
        encode_blob_path(blob)
    )
}

/// Like [`parse_blob_url`], but only for URLs of the job data's blob endpoint: the URL must start
/// with the public blob base ([`blob_base_url`]) or, when qws serves the data, the HTTP
/// listener's own URL (`127.0.0.1` is the socket `127.1` names), scheme and host compared
/// case-insensitively. Also returns the raw
/// query (`""` when absent). Anything else, e.g. another storage account, is `None`.
pub fn parse_own_blob_url(state: &AppState, url: &str) -> Option<(String, Option<String>, String)> {
    let mut bases = vec![blob_base_url(state)];
    if state.job_data.served_by_qws() {
        bases.push(state.urls.http.trim_end_matches('/').to_string());
    }
    let path = bases.iter().find_map(|base| {
        let head = url.get(..base.len())?;
        head.eq_ignore_ascii_case(base)
            .then(|| url[base.len()..].strip_prefix('/'))
            .flatten()
    })?;
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path, ""),
    };
    if path.contains('#') || query.contains('#') {
        return None;
    }
    let (container, blob) = parse_blob_path(path)?;
    Some((container, blob, query.to_string()))
}

/// Splits a raw query into percent-decoded pairs (`+` is kept literally: qws encodes its
/// values, and base64 signatures contain `+`). `None` on bad encoding or a repeated SAS key.
pub fn query_pairs(query: &str) -> Option<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = percent_decode_str(k).decode_utf8().ok()?.into_owned();
        let v = percent_decode_str(v).decode_utf8().ok()?.into_owned();
        out.push((k, v));
    }
    if out.len() > 64 {
        return None;
    }
    Some(out)
}

const SAS_KEYS: [&str; 9] = ["sv", "st", "se", "sr", "sp", "si", "skoid", "skv", "sig"];

/// True if the query carries any SAS parameter.
pub fn has_sas(pairs: &[(String, String)]) -> bool {
    pairs.iter().any(|(k, _)| SAS_KEYS.contains(&k.as_str()))
}

/// Verifies a SAS for a request on `container` (and `blob`, if the request addresses a blob):
/// the signature (in constant time, before any field is interpreted), the validity window, and
/// that the access it was minted under (its [`SasHolder`]) still exists. The grant carries the
/// blob namespace the workspace's data lives in ([`qws_store::Store::blob_namespace`]).
pub async fn verify(
    state: &AppState,
    pairs: &[(String, String)],
    container: &str,
    blob: Option<&str>,
    now: OffsetDateTime,
) -> Result<SasGrant, SasRefusal> {
    let mut grant = verify_signature(state, pairs, container, blob, now)?;
    let key = (grant.workspace_uid.clone(), grant.holder.clone());
    // Found live at the current change version: still live (every change to keys, principals,
    // workspaces and storage accounts moves the version). A version that cannot be read
    // caches nothing.
    let version = state.store.change_version().ok();
    if let Some(namespace) = version.and_then(|v| state.dataplane.live_holders.get(v, &key)) {
        grant.namespace = namespace;
        return Ok(grant);
    }
    let (uid, holder) = key.clone();
    let live = state
        .db(move |s| {
            if !holder_is_live(s, &uid, &holder)? {
                return Ok(None);
            }
            s.blob_namespace(&uid)
        })
        .await;
    match live {
        Ok(Some(namespace)) => {
            if let Some(v) = version {
                state.dataplane.live_holders.put(v, key, namespace.clone());
            }
            grant.namespace = namespace;
            Ok(grant)
        }
        Ok(None) => Err(SasRefusal::Invalid),
        Err(e) => {
            tracing::warn!(error = %e.message, "SAS holder check failed");
            Err(SasRefusal::Invalid)
        }
    }
}

/// SAS holders found live, each with the blob namespace of its workspace's data, remembered
/// between changes (see [`verify`]).
pub type LiveHolders = qws_store::change::VersionedCache<(String, SasHolder), String>;

/// Most holders remembered at once.
pub const LIVE_HOLDERS_MAX: usize = 4096;

/// The stateless part of [`verify`]: signature, fields and validity window.
fn verify_signature(
    state: &AppState,
    pairs: &[(String, String)],
    container: &str,
    blob: Option<&str>,
    now: OffsetDateTime,
) -> Result<SasGrant, SasRefusal> {
    if !has_sas(pairs) {
        return Err(SasRefusal::Missing);
    }
    let find = |k: &str| -> Result<Option<&str>, SasRefusal> {
        let mut it = pairs.iter().filter(|(n, _)| n == k);
        let v = it.next();
        if it.next().is_some() {
            return Err(SasRefusal::Invalid);
        }
        Ok(v.map(|v| v.1.as_str()))
    };
    let get = |k: &str| find(k)?.ok_or(SasRefusal::Invalid);
    let (sv, st, se, sr, sp, ws, skoid, sig) = (
        get("sv")?,
        get("st")?,
        get("se")?,
        get("sr")?,
        get("sp")?,
        get("si")?,
        get("skoid")?,
        get("sig")?,
    );
    let skv = find("skv")?;
    if [skoid, skv.unwrap_or("")].iter().any(|v| v.len() > 100) {
        return Err(SasRefusal::Invalid);
    }
    let holder = SasHolder::from_query(skoid, skv).ok_or(SasRefusal::Invalid)?;
    let signed_blob = match sr {
        "c" => None,
        "b" => Some(blob.ok_or(SasRefusal::Invalid)?),
        _ => return Err(SasRefusal::Invalid),
    };
    if sig.len() > 200 || [sv, st, se, sp, ws].iter().any(|v| v.len() > 100) {
        return Err(SasRefusal::Invalid);
    }
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .map_err(|_| SasRefusal::Invalid)?;
    let sts = Signed {
        sv,
        ws,
        holder: &holder,
        sr,
        container,
        blob: signed_blob,
        sp,
        st,
        se,
    }
    .string_to_sign();
    if !state.store.crypto().blob_sas_verify(sts.as_bytes(), &sig) {
        return Err(SasRefusal::Invalid);
    }
    let start = OffsetDateTime::parse(st, &Rfc3339).map_err(|_| SasRefusal::Invalid)?;
    let expiry = OffsetDateTime::parse(se, &Rfc3339).map_err(|_| SasRefusal::Invalid)?;
    if now + START_SKEW < start || now >= expiry {
        return Err(SasRefusal::Invalid);
    }
    Ok(SasGrant {
        workspace_uid: ws.to_string(),
        namespace: ws.to_string(),
        holder,
        container: container.to_string(),
        blob: signed_blob.map(str::to_string),
        permissions: canonical_permissions(sp),
        expiry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_container_first_urls() {
        assert_eq!(
            parse_blob_url("http://127.1:8080/job-1/inputData?sv=x&sig=y"),
            Some(("job-1".into(), Some("inputData".into())))
        );
        assert_eq!(
            parse_blob_url("https://a.blob.core.windows.net/job-1?sv=x"),
            Some(("job-1".into(), None))
        );
        assert_eq!(
            parse_blob_url("http://127.1:1/job-1/a%2Fb/c%20d"),
            Some(("job-1".into(), Some("a/b/c d".into())))
        );
        assert_eq!(parse_blob_url("http://127.1:1/job-1/a/%2e%2e/b"), None);
        assert_eq!(parse_blob_url("http://127.1:1/UPPER/x"), None);
        assert_eq!(parse_blob_url("not a url"), None);
    }

    #[test]
    fn public_url_option_is_checked() {
        assert_eq!(
            normalize_blob_public_url("http://127.1:8080/").unwrap(),
            "http://127.1:8080"
        );
        assert!(normalize_blob_public_url("ftp://x").is_err());
        assert!(normalize_blob_public_url("http://x/?a=b").is_err());
        assert!(normalize_blob_public_url("nonsense").is_err());
    }

    #[test]
    fn holders_round_trip_and_malformed_ones_are_refused() {
        let oid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        for h in [
            SasHolder::Key {
                slot: KeySlot::Primary,
                version: 3,
            },
            SasHolder::Key {
                slot: KeySlot::Secondary,
                version: 1,
            },
            SasHolder::Principal {
                object_id: oid.into(),
            },
        ] {
            let (skoid, skv) = h.query_values();
            assert_eq!(SasHolder::from_query(&skoid, skv.as_deref()), Some(h));
        }
        for (skoid, skv) in [
            ("primary", None),
            ("primary", Some("0")),
            ("primary", Some("-1")),
            ("primary", Some("x")),
            ("Primary", Some("1")),
            (oid, Some("1")),
            ("not-a-guid", None),
            ("", None),
        ] {
            assert_eq!(SasHolder::from_query(skoid, skv), None, "{skoid} {skv:?}");
        }
        // A key and a principal never sign alike.
        let key = SasHolder::Key {
            slot: KeySlot::Primary,
            version: 1,
        };
        assert_ne!(
            key.signed(),
            SasHolder::Principal {
                object_id: oid.into()
            }
            .signed()
        );
    }

    #[test]
    fn the_cache_keys_every_input_and_keeps_one_expiry() {
        let key = |version, container, blob: Option<&str>, sp| {
            let holder = SasHolder::Key {
                slot: KeySlot::Primary,
                version,
            };
            cache_key("ws", &holder, container, blob, sp)
        };
        let base = key(1, "job-1", Some("outputData"), "r");
        for other in [
            key(2, "job-1", Some("outputData"), "r"),
            key(1, "job-2", Some("outputData"), "r"),
            key(1, "job-1", Some("inputData"), "r"),
            key(1, "job-1", None, "r"),
            key(1, "job-1", Some("outputData"), "racwl"),
        ] {
            assert_ne!(base, other);
        }
        let principal = SasHolder::Principal {
            object_id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
        };
        assert_ne!(
            base,
            cache_key("ws", &principal, "job-1", Some("outputData"), "r")
        );

        let cache = SasCache::new(SAS_CACHE_MAX);
        let t0 = expiry_stamp(time::macros::datetime!(2050-01-02 03:04:00 UTC));
        let t1 = expiry_stamp(time::macros::datetime!(2050-01-02 03:05:00 UTC));
        cache.put(t0, base.clone(), "u0".into());
        assert_eq!(cache.get(t0, &base).as_deref(), Some("u0"));
        assert_eq!(cache.get(t1, &base), None, "another expiry");
        cache.put(t1, base.clone(), "u1".into());
        assert_eq!(cache.get(t0, &base), None, "the older minute is gone");
        cache.put(t0, base.clone(), "late".into());
        assert_eq!(
            cache.get(t1, &base).as_deref(),
            Some("u1"),
            "an older put is dropped"
        );
        for i in 0..SAS_CACHE_MAX + 10 {
            cache.put(t1, format!("k{i}"), "u".into());
        }
        assert!(cache.len() <= SAS_CACHE_MAX);
    }

    #[test]
    fn permissions_are_canonical() {
        assert_eq!(canonical_permissions("lwcar"), "racwl");
        assert_eq!(canonical_permissions("rxr"), "r");
        assert_eq!(
            qws_core::time_fmt::seconds_z(time::macros::datetime!(2050-01-02 03:04:05 UTC)),
            "2050-01-02T03:04:05Z"
        );
    }
}
