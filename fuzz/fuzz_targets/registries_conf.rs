//! CRI-O's `registries.conf`: parsing and validation, then pull sources and short names over
//! what was read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = preflight::fuzzing::registries_conf(data);
});
