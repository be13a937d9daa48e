//! `WWW-Authenticate` header values, as any server may send them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Some((scheme, error, debug)) = fuzzing::challenge(header) {
        let _ = (scheme.len(), error, debug);
    }
});
