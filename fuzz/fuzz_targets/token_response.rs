//! Token endpoint answers, and the JWT access claim read from a token for the diagnosis.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::fuzzing;

fuzz_target!(|data: &[u8]| {
    let _ = fuzzing::token_response(data);
    // The token itself as a JWT, whatever the body was.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fuzzing::granted_access(text, "team/app");
    }
});
