//! Kubernetes pull Secrets (`dockerconfigjson` and legacy `dockercfg`, in `data` as base64 or in
//! `stringData`), then the kubelet's key matching over the decoded entries. The first byte
//! chooses the shape; the rest is the value.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use preflight::Reference;
use preflight::kubelet::{Keyring, PullSecret};

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    let (kind, key) = if shape & 1 == 0 {
        ("kubernetes.io/dockerconfigjson", ".dockerconfigjson")
    } else {
        ("kubernetes.io/dockercfg", ".dockercfg")
    };
    let mut data_map = BTreeMap::new();
    let mut string_data = BTreeMap::new();
    if shape & 2 == 0 {
        string_data.insert(key.to_owned(), value.to_owned());
    } else {
        data_map.insert(key.to_owned(), value.to_owned());
    }
    let Ok(secret) = PullSecret::decode("ns", "regcred", Some(kind), &data_map, &string_data)
    else {
        return;
    };
    let _ = (secret.keys().count(), format!("{secret:?}"));
    let mut keyring = Keyring::new();
    keyring.add_secret(&secret);
    for image in [
        "nginx",
        "registry.example.com:5000/team/app:v1",
        "*.example.com/a",
    ] {
        if let Ok(reference) = Reference::parse(image) {
            let _ = keyring.matches(&reference);
            let _ = keyring.near_misses(&reference);
        }
    }
});
