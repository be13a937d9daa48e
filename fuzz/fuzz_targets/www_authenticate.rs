//! `WWW-Authenticate` header values, as any server may send them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::challenge::Challenge;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(challenge) = Challenge::parse(header) {
        let _ = (
            challenge.scheme().len(),
            challenge.error(),
            format!("{challenge:?}"),
        );
    }
});
