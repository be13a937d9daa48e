//! Docker Hub's `ratelimit-*` headers, `Retry-After` and the tag list's `Link` header.
//! The input is read as header lines, `name: value`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use preflight::fuzzing;
use preflight::ratelimit::{RateLimit, parse_retry_after};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let headers: Vec<(String, &str)> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim()))
        .collect();
    let get = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
    if let Some(limit) = RateLimit::from_headers(get) {
        let _ = limit.describe();
    }
    for (_, value) in &headers {
        let _ = parse_retry_after(value);
        let _ = fuzzing::next_link(value);
    }
});
