//! Kubernetes YAML/JSON streams: extraction of images, Secrets and ServiceAccounts, then the
//! plan that turns them into checks with credentials.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::manifests;
use preflight::plan::{self, CredentialMode, PlanOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(extraction) = manifests::extract_in("fuzz.yaml", text, "default") else {
        return;
    };
    let options = PlanOptions {
        mode: CredentialMode::Kubelet,
        ..PlanOptions::default()
    };
    let planned = plan::plan(&extraction, &options);
    let _ = plan::inventory(planned.requests);
});
