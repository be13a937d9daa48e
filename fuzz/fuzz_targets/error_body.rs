//! Registry error bodies: the distribution envelope, Docker Hub's and OAuth2 shapes, or anything.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for e in preflight::wire::decode_errors(data) {
        let _ = format!("{e:?}");
    }
});
