//! `resolv.conf` files, as a container or a node may have them: the resolver's configuration or
//! a message naming what is wrong and where, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::fuzzing;

fuzz_target!(|data: &[u8]| {
    let described = fuzzing::resolv_conf(data);
    assert!(!described.is_empty());
});
