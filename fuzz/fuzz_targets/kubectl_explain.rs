//! What `kubectl get pods,events -o json|yaml` prints, read by `explain`: Pods' statuses, Events,
//! Nodes and owners, the failing containers selected and their messages classified.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::explain::{self, Stream};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut stream = Stream::default();
    if stream.read("fuzz.json", text).is_err() {
        return;
    }
    let explanation = explain::explain_offline(&stream);
    let _ = explanation.needs_attention();
    // The classifier alone, on the raw text as a message.
    let _ = explain::classify::classify(text, text);
});
