//! Registry error bodies: the distribution envelope, Docker Hub's and OAuth2 shapes, or anything.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = preflight::fuzzing::registry_errors(data);
});
