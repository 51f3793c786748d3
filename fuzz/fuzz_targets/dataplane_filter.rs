//! Fuzzes the data-plane list grammar (`$filter`, `$orderby`): any text parses or is refused,
//! and a parsed filter evaluates against a job document without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qws_server::planes::dataplane::filter::{compare, parse_filter, parse_orderby};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let doc = serde_json::json!({
        "id": "j1", "name": "bell", "status": "Succeeded", "target": "ionq.simulator",
        "providerId": "ionq", "itemType": "Job", "creationTime": "2026-12-01T00:00:00Z",
        "tags": ["a"], "jobType": "QuantumComputing"
    });
    let doc = doc.as_object().expect("an object");
    if let Ok(f) = parse_filter(text) {
        let _ = f.matches(doc);
    }
    if let Ok(keys) = parse_orderby(text) {
        let _ = compare(doc, doc, &keys);
    }
});
