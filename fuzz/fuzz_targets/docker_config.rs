//! Docker's `config.json` (and podman's `auth.json`): parsing, then the kubelet's key matching
//! over what was read. Helpers are never run here.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use preflight::kubelet::Keyring;
use preflight::{DockerConfig, Reference};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = DockerConfig::parse(text, Path::new("config.json")) else {
        return;
    };
    let _ = config.entries().count();
    let _ = config.helper_for("registry.example.com");
    let mut keyring = Keyring::new();
    keyring.add_docker_config(&config);
    for image in [
        "nginx",
        "registry.example.com:5000/team/app:v1",
        "ghcr.io/o/r@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let reference = Reference::parse(image).expect("a valid reference");
        let _ = keyring.matches(&reference);
        let _ = keyring.near_misses(&reference);
    }
});
