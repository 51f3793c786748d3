//! `{workspace}/storage/proxy`: blob requests relayed through the data plane.
//!
//! Some clients (the QDK editor extension) never talk to a SAS URL themselves: they send the blob
//! request to the workspace with the target blob URL in `x-proxy-to`, authenticated like any
//! data-plane call. qws serves that in-process — there is no outbound HTTP at all, so the header
//! can never make qws reach another host:
//!
//! 1. the caller is authenticated for *this* workspace ([`Caller`]);
//! 2. the target must be a blob URL of qws's own blob endpoint ([`sas::parse_own_blob_url`]) in a
//!    container this workspace owns (the same ownership record the job PUT checks);
//! 3. any SAS in the target is ignored; the request is re-signed with a short blob SAS minted for
//!    the caller, so it reaches exactly that blob of this workspace and nothing else;
//! 4. the blob service answers it, with its size limits and Storage XML errors.

use super::auth::Caller;
use crate::planes::blob::error::StorageError;
use crate::planes::blob::sas;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Header naming the blob the request is for.
pub const PROXY_TO_HEADER: &str = "x-proxy-to";
/// Longest `x-proxy-to` considered.
pub const MAX_PROXY_TO_LEN: usize = 4096;
/// Lifetime of the SAS a relayed request is signed with (it never leaves the process).
const RELAY_SAS_LIFETIME: time::Duration = time::Duration::minutes(5);
/// Request headers passed to the blob service; everything else (credentials included) stays here.
const PASSED_HEADERS: &[&str] = &[
    "x-ms-blob-type",
    "content-type",
    "content-length",
    "transfer-encoding",
    "x-ms-range",
    "range",
    "x-ms-version",
    "x-ms-blob-content-type",
];
/// Query parameters of the target that select a blob operation (the SAS ones are replaced).
const PASSED_QUERY: &[&str] = &["comp", "blockid", "blocklisttype"];

/// `GET|PUT|POST {ws}/storage/proxy`.
pub async fn storage_proxy(
    caller: Caller,
    State(state): State<AppState>,
    req: Request,
) -> Response {
    match relay(caller, state, req).await {
        Ok(r) => r,
        Err(e) => {
            // Refused before reaching the blob service: still the storage shape it would give.
            let mut r = e.into_response();
            r.headers_mut().insert(
                "x-ms-request-id",
                axum::http::HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                    .expect("uuid is ASCII"),
            );
            r
        }
    }
}

async fn relay(caller: Caller, state: AppState, req: Request) -> Result<Response, StorageError> {
    if !state.job_data.served_by_qws() {
        // Relaying would route job data through qws, which an external account exists to avoid.
        return Err(StorageError::bad(
            "ProxyNotAvailable",
            format!(
                "Job data of this server lives in its storage account at {}: use the SAS URL storage/sasUri returns instead of the proxy.",
                sas::blob_base_url(&state)
            ),
        ));
    }
    let target = proxy_target(req.headers())?;
    let Some((container, Some(blob), query)) = sas::parse_own_blob_url(&state, &target) else {
        return Err(StorageError::bad(
            "InvalidProxyTarget",
            format!(
                "x-proxy-to must be a blob URL of this server's blob endpoint ({}/<container>/<blob>).",
                sas::blob_base_url(&state)
            ),
        ));
    };
    let (js, c) = (state.dataplane.jobs.clone(), container.clone());
    let owner = state
        .db(move |_| js.container_owner(&c))
        .await
        .map_err(|_| StorageError::internal("storage proxy", &"container owner lookup failed"))?;
    if owner.as_deref() != Some(caller.ws.uid.as_str()) {
        return Err(StorageError::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailure",
            "x-proxy-to names a container that was not created for this workspace (request one with storage/sasUri).",
        ));
    }
    let holder = sas::holder_for(&state, &caller)
        .await
        .map_err(|_| StorageError::auth_failed())?;
    let signed = sas::mint_blob_sas(
        &state,
        &caller.ws.uid,
        &holder,
        &container,
        &blob,
        "racw",
        time::OffsetDateTime::now_utc() + RELAY_SAS_LIFETIME,
    );
    let uri = relayed_uri(&state, &signed, &query)?;

    let (mut parts, body) = req.into_parts();
    let mut headers = HeaderMap::new();
    for name in PASSED_HEADERS {
        for v in parts.headers.get_all(*name) {
            headers.append(HeaderName::from_static(name), v.clone());
        }
    }
    parts.uri = uri;
    parts.headers = headers;
    Ok(crate::planes::blob::handle(state, Request::from_parts(parts, body)).await)
}

/// The `x-proxy-to` URL, or a Storage-shaped 400.
fn proxy_target(h: &HeaderMap) -> Result<String, StorageError> {
    let mut values = h.get_all(PROXY_TO_HEADER).iter();
    let (Some(v), None) = (values.next(), values.next()) else {
        return Err(StorageError::bad(
            "MissingRequiredHeader",
            "Exactly one x-proxy-to header naming the target blob URL is required.",
        ));
    };
    match v.to_str() {
        Ok(s) if !s.is_empty() && s.len() <= MAX_PROXY_TO_LEN => Ok(s.to_string()),
        _ => Err(StorageError::bad(
            "InvalidHeaderValue",
            format!("x-proxy-to must be a URL of at most {MAX_PROXY_TO_LEN} ASCII characters."),
        )),
    }
}

/// Path and query for the blob service: the freshly signed blob URL's, plus the target's
/// operation parameters (`comp`, `blockid`, …).
fn relayed_uri(state: &AppState, signed: &str, target_query: &str) -> Result<Uri, StorageError> {
    let base = sas::blob_base_url(state);
    let path_and_query = signed.get(base.len()..).unwrap_or(signed);
    let mut pq = path_and_query.to_string();
    for part in target_query.split('&') {
        let key = part.split('=').next().unwrap_or("");
        if PASSED_QUERY.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            pq.push('&');
            pq.push_str(part);
        }
    }
    pq.parse::<Uri>().map_err(|_| {
        StorageError::bad(
            "InvalidQueryParameterValue",
            "x-proxy-to has a malformed query.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn exactly_one_bounded_target_header() {
        let mut h = HeaderMap::new();
        assert_eq!(proxy_target(&h).unwrap_err().code, "MissingRequiredHeader");
        h.insert(PROXY_TO_HEADER, HeaderValue::from_static("http://a/b/c"));
        assert_eq!(proxy_target(&h).unwrap(), "http://a/b/c");
        h.append(PROXY_TO_HEADER, HeaderValue::from_static("http://a/b/d"));
        assert_eq!(proxy_target(&h).unwrap_err().code, "MissingRequiredHeader");
        let long = "x".repeat(MAX_PROXY_TO_LEN + 1);
        h.insert(PROXY_TO_HEADER, HeaderValue::from_str(&long).unwrap());
        assert_eq!(proxy_target(&h).unwrap_err().code, "InvalidHeaderValue");
    }
}
