//! `--no-proxy` lists and proxy URLs, as a user may write them: a decision or an error, never a
//! panic, and never the credentials in an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `LIST\nHOST`: the list, and the host asked about.
    let (list, host) = text
        .split_once('\n')
        .unwrap_or((text, "registry.example.com"));
    for port in [80, 443, 5000] {
        let _ = fuzzing::uses_proxy(list, host, port);
    }
    let _ = fuzzing::proxy_url(list);
});
