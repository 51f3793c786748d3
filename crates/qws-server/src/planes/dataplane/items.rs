//! JobDetails / SessionDetails documents.
//!
//! A job document is the object the client sent (every field kept, so qiskit and cirq can read
//! their `metadata` and `inputParams` back) with the server's read-only fields set by qws:
//! `id`, `status`, times, `createdBy`/`createdByType`, `outputDataUri`, `errorData`,
//! `costEstimate`.
//!
//! No SAS is ever stored: `containerUri`, `inputDataUri` and `outputDataUri` are kept as plain
//! blob URLs and [`render_job`] serves them with SAS minted for the reading caller (reused for a
//! minute, see [`sas::SasCache`]), so a copy of the database holds no usable credential and a
//! served SAS follows the reader's access.

use crate::planes::blob::sas;
use crate::state::AppState;
use qws_store::jobs::ItemRow;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// Job statuses (exact case; the client compares case-sensitively).
pub mod status {
    /// Accepted, not started.
    pub const WAITING: &str = "Waiting";
    /// Running.
    pub const EXECUTING: &str = "Executing";
    /// Finished; output written.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Finished with `errorData`.
    pub const FAILED: &str = "Failed";
    /// Cancelled by the client.
    pub const CANCELLED: &str = "Cancelled";
}

/// Fields the client may not set; qws owns them.
pub const READ_ONLY_FIELDS: &[&str] = &[
    "id",
    "status",
    "creationTime",
    "beginExecutionTime",
    "endExecutionTime",
    "cancellationTime",
    "lastModifiedTime",
    "lastUpdatedTime",
    "createdBy",
    "createdByType",
    "lastModifiedBy",
    "lastModifiedByType",
    "costEstimate",
    "errorData",
    "isCancelling",
    "quantumComputingData",
    "usage",
    "outputDataUri",
];

/// Name of the output blob in the job container.
pub use qws_core::jobs::OUTPUT_BLOB;
/// Lifetime of the SAS on served job URIs (less up to a minute, see [`sas::mint_cached`]).
pub const OUTPUT_SAS_LIFETIME: time::Duration = time::Duration::hours(24);

/// True for a status no job leaves.
pub fn is_terminal(status: &str) -> bool {
    matches!(status, "Succeeded" | "Failed" | "Cancelled" | "Completed")
}

/// The stored document of a row.
pub fn doc_of(row: &ItemRow) -> Map<String, Value> {
    match serde_json::from_str::<Value>(&row.doc) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Serializes a document for storage.
pub fn to_text(doc: &Map<String, Value>) -> String {
    serde_json::to_string(doc).expect("JSON values serialize")
}

/// The job container named by the document's `outputDataUri` (or `containerUri`).
pub fn job_container(state: &AppState, doc: &Map<String, Value>) -> Option<String> {
    container_of(state, |k| doc.get(k).and_then(Value::as_str))
}

/// [`job_container`] of a document read through `field` (a string member by name).
fn container_of<'a>(state: &AppState, field: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    ["outputDataUri", "containerUri"]
        .iter()
        .filter_map(|k| field(k))
        .find_map(|u| state.job_data.locate(u).map(|(c, _)| c))
}

/// The input blob named by the document's `inputDataUri`, if it is in `container`.
fn input_blob(state: &AppState, input_uri: Option<&str>, container: &str) -> Option<String> {
    match state.job_data.locate(input_uri?)? {
        (c, Some(b)) if c == container => Some(b),
        _ => None,
    }
}

/// The members a job document is served with in place of the stored ones, in the order they
/// are set: `containerUri` with a container SAS (what `storage/sasUri` returns), `inputDataUri`
/// (when its blob is in the job container) and `outputDataUri` with read SAS for their blobs,
/// all on the current blob endpoint. Empty when the document names no job container. The SAS
/// come through the state's [`sas::SasCache`], so repeated reads within a minute sign nothing.
fn served_uris<'a>(
    state: &AppState,
    ws_uid: &str,
    holder: &sas::SasHolder,
    field: impl Fn(&str) -> Option<&'a str>,
) -> Vec<(&'static str, String)> {
    let Some(c) = container_of(state, &field) else {
        return Vec::new();
    };
    let mint = |blob: Option<&str>, perms: &str| {
        sas::mint_cached(state, ws_uid, holder, &c, blob, perms, OUTPUT_SAS_LIFETIME)
    };
    let mut uris = Vec::with_capacity(3);
    if let Some(b) = input_blob(state, field("inputDataUri"), &c) {
        uris.push(("inputDataUri", mint(Some(&b), sas::READ_PERMISSION)));
    }
    uris.push(("containerUri", mint(None, sas::CONTAINER_PERMISSIONS)));
    uris.push((
        "outputDataUri",
        mint(Some(OUTPUT_BLOB), sas::READ_PERMISSION),
    ));
    uris
}

/// A job document as served to a caller whose SAS stand on `holder`: the stored document with
/// the URIs of [`served_uris`].
pub fn render_job(
    state: &AppState,
    ws_uid: &str,
    holder: &sas::SasHolder,
    mut doc: Map<String, Value>,
) -> Value {
    for (k, uri) in served_uris(state, ws_uid, holder, |k| {
        doc.get(k).and_then(Value::as_str)
    }) {
        doc.insert(k.into(), Value::String(uri));
    }
    Value::Object(doc)
}

/// [`render_job`] of a stored document's text, serialized: every member but the served URIs
/// is copied as stored (no value tree is built; a document is read far more often than it is
/// written). Members keep their order; a served URI the document lacks is appended, as
/// [`render_job`] does. `None` if the text is not a JSON object or repeats a name (the caller
/// then renders the parsed document).
pub fn render_job_text(
    state: &AppState,
    ws_uid: &str,
    holder: &sas::SasHolder,
    text: &str,
) -> Option<Vec<u8>> {
    let members = serde_json::from_str::<RawMembers<'_>>(text).ok()?.0;
    if has_repeated_name(&members) {
        // A parsed document keeps one of them; what qws stores never repeats a name.
        return None;
    }
    let stored_str = |k: &str| -> Option<Cow<'_, str>> {
        let raw = members.iter().find(|(name, _)| name == k)?.1;
        Some(serde_json::from_str::<Text<'_>>(raw.get()).ok()?.0)
    };
    let strings = ["outputDataUri", "containerUri", "inputDataUri"].map(|k| (k, stored_str(k)));
    let mut uris = served_uris(state, ws_uid, holder, |k| {
        strings
            .iter()
            .find(|(name, _)| *name == k)
            .and_then(|(_, v)| v.as_deref())
    });
    let mut out = Vec::with_capacity(text.len() + uris.iter().map(|(_, u)| u.len()).sum::<usize>());
    out.push(b'{');
    let mut first = true;
    // Writes `"name":` (after a comma but for the first member); the value follows.
    let mut name_of = |out: &mut Vec<u8>, name: &str| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, name).expect("a string serializes");
        out.push(b':');
    };
    for (name, raw) in &members {
        name_of(&mut out, name);
        match uris.iter().position(|(k, _)| k == name) {
            Some(i) => {
                serde_json::to_writer(&mut out, &uris.remove(i).1).expect("a string serializes")
            }
            None => out.extend_from_slice(raw.get().as_bytes()),
        }
    }
    for (k, uri) in uris {
        name_of(&mut out, k);
        serde_json::to_writer(&mut out, &uri).expect("a string serializes");
    }
    out.push(b'}');
    Some(out)
}

/// True if two members share a name.
fn has_repeated_name(members: &[(Cow<'_, str>, &RawValue)]) -> bool {
    if members.len() <= 16 {
        return members
            .iter()
            .enumerate()
            .any(|(i, (a, _))| members[..i].iter().any(|(b, _)| a == b));
    }
    let mut seen = std::collections::HashSet::with_capacity(members.len());
    !members.iter().all(|(name, _)| seen.insert(name.as_ref()))
}

/// The members of a JSON object as written, in order (values unparsed).
struct RawMembers<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for RawMembers<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = RawMembers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Self::Value, A::Error> {
                let mut members = Vec::new();
                while let Some((Text(name), value)) = m.next_entry::<Text<'de>, &'de RawValue>()? {
                    members.push((name, value));
                }
                Ok(RawMembers(members))
            }
        }
        d.deserialize_map(Members)
    }
}

/// A JSON string, borrowed from the input unless it has escapes (serde's `Cow<str>` always
/// copies).
struct Text<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Str;
        impl<'de> serde::de::Visitor<'de> for Str {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Str)
    }
}

/// `errorData`.
pub fn error_data(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message})
}

/// Shots requested by `inputParams` (`shots`, or the older `count`), if any.
pub fn requested_shots(doc: &Map<String, Value>) -> Option<u64> {
    qws_core::jobs::requested_shots(doc.get("inputParams"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_members_keep_order_and_text_and_repeats_are_seen() {
        let text = r#"{"b":1.50,"a\"":{"x":[1, 2]},"c":"é\u00e9"}"#;
        let m = serde_json::from_str::<RawMembers<'_>>(text).unwrap().0;
        let got: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
        assert_eq!(
            got,
            [
                ("b", "1.50"),
                ("a\"", r#"{"x":[1, 2]}"#),
                ("c", r#""é\u00e9""#)
            ]
        );
        assert!(
            matches!(m[0].0, Cow::Borrowed(_)),
            "a plain name is not copied"
        );
        assert!(!has_repeated_name(&m));
        assert!(serde_json::from_str::<RawMembers<'_>>("[1]").is_err());
        let repeated = serde_json::from_str::<RawMembers<'_>>(r#"{"a":1,"b":2,"a":3}"#).unwrap();
        assert!(has_repeated_name(&repeated.0));
        let many: String = (0..40).map(|i| format!(",\"k{i}\":{i}")).collect();
        let long = format!("{{\"k39\":0{many}}}");
        assert!(has_repeated_name(
            &serde_json::from_str::<RawMembers<'_>>(&long).unwrap().0
        ));
        let distinct = format!("{{\"z\":0{many}}}");
        assert!(!has_repeated_name(
            &serde_json::from_str::<RawMembers<'_>>(&distinct).unwrap().0
        ));
    }
}
