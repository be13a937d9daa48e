//! The kubelet's credential provider config file and a plugin's response.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = preflight::fuzzing::credential_providers(data);
});
