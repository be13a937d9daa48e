//! Manifests, indexes and image configs: the platforms offered, the config digest, the platform
//! a config declares; then tag suggestions over the strings found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::fuzzing;

fuzz_target!(|data: &[u8]| {
    if let Ok(platforms) = fuzzing::index_platforms(data) {
        let wanted = preflight::Platform::parse("linux/arm64").expect("a valid platform");
        let _ = platforms.iter().any(|p| wanted.served_by(p));
    }
    let _ = fuzzing::manifest_config_digest(data);
    let _ = fuzzing::config_platform(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let mut words = text.split_whitespace();
        if let Some(wanted) = words.next() {
            let tags: Vec<String> = words.take(200).map(str::to_owned).collect();
            let _ = fuzzing::suggest(wanted, &tags);
        }
    }
});
