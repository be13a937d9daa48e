//! The quick YAML reader against the event parser: on any text, the same documents (trees and
//! lines) and the same error, with and without skipping CRDs. A difference is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(difference) = preflight::fuzzing::yaml_readers(text) {
        panic!("the readers disagree on {text:?}\n{difference}");
    }
});
