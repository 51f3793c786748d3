//! Fuzzes bearer-token verification with a real signer: any text is refused (a forged token
//! cannot verify) without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qws_server::auth::jwt::TokenSigner;
use std::sync::OnceLock;

fn signer() -> &'static TokenSigner {
    static SIGNER: OnceLock<(tempfile::TempDir, TokenSigner)> = OnceLock::new();
    &SIGNER
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("a temp dir");
            let (crypto, _) =
                qws_store::crypto::Crypto::load_or_create(dir.path()).expect("a master key");
            let store = qws_store::Store::open(dir.path(), crypto).expect("a store");
            let signer = TokenSigner::load_or_create(&store).expect("a signer");
            (dir, signer)
        })
        .1
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert!(signer().verify(text).is_err(), "a fuzzed token verified");
});
