//! Fuzzes connection-string parsing: any text parses or is refused, and a parsed string
//! survives formatting and parsing again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qws_core::connection_string::ConnectionString;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cs) = ConnectionString::parse(text) {
        let again = ConnectionString::parse(&cs.to_secret_string())
            .expect("a formatted connection string parses");
        assert_eq!(again.to_secret_string(), cs.to_secret_string());
        let _ = cs.azure_region();
    }
});
