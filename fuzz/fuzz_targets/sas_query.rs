//! Fuzzes what a blob request's URL feeds the SAS check before any signature is computed: the
//! query string's pairs, the permission string and blob URLs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qws_server::planes::blob::sas::{canonical_permissions, has_sas, parse_blob_url, query_pairs};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(pairs) = query_pairs(text) {
        let _ = has_sas(&pairs);
        for (_, v) in &pairs {
            let _ = canonical_permissions(v);
        }
    }
    let _ = parse_blob_url(text);
});
