//! Expected-digest files: buildx metadata JSON, bake output, or `IMAGE@sha256:…` lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::digests::ExpectedDigests;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut expected = ExpectedDigests::new();
    let _ = expected.add_file("digests.json", text);
    let _ = expected.add_argument(text);
    let _ = expected.len();
});
