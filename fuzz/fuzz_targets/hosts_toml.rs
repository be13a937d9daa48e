//! containerd's `hosts.toml`: parsing, URL rules and defaults, under every version line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = preflight::fuzzing::hosts_toml(data);
});
