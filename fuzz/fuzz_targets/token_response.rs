//! Token endpoint answers, and the JWT access claim read from a token for the diagnosis.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = wire::decode_token(data) {
        let _ = format!("{token:?}");
    }
    // The token itself as a JWT, whatever the body was.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = wire::granted_access(text, "team/app");
    }
});
