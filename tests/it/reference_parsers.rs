//! The node runtime's reference parser decides what is a valid image name: the same reference
//! is checked under each runtime's rules (`docs/runtimes.md`, "the reference parser").

use crate::common::check;
use crate::support::net;

/// The verdict's code for `image` under `--runtime RUNTIME [--runtime-version V]`.
fn code_under(runtime: &[&str], image: &str) -> Option<String> {
    let mut args = runtime.to_vec();
    args.extend(["--timeout", "5", image]);
    check(&args).code_of(0)
}

#[test]
fn a_long_path_is_valid_where_only_the_path_is_measured() {
    // 250 characters of path: within distribution/reference v0.6's 255, but with the registry
    // `127.0.0.1:PORT/` the whole name is over 255, which containerd 1.6's and containers/image's
    // copies refuse.
    let port = net::refused_port();
    let image = format!("127.0.0.1:{port}/{}:v1", "a".repeat(250));
    // Accepted: the check goes on to the network and finds nothing listening.
    assert_eq!(
        code_under(&["--runtime", "containerd"], &image).as_deref(),
        Some("tcp-refused")
    );
    assert_eq!(
        code_under(&["--runtime", "docker"], &image).as_deref(),
        Some("tcp-refused")
    );
    for runtime in [
        &["--runtime", "cri-o"][..],
        &["--runtime", "containerd", "--runtime-version", "1.6"],
    ] {
        let run = check(&[runtime, &["--timeout", "5", &image][..]].concat());
        assert_eq!(
            run.code_of(0).as_deref(),
            Some("invalid-reference"),
            "{runtime:?}"
        );
        let message = run.image(0)["diagnosis"]["message"].to_string();
        assert!(message.contains("longer than 255"), "{message}");
    }
}

#[test]
fn ipv6_hosts_per_runtime() {
    let port = net::refused_port();
    let image = format!("[::1]:{port}/app:v1");
    assert_eq!(
        code_under(&["--runtime", "containerd"], &image).as_deref(),
        Some("tcp-refused")
    );
    let run = check(&["--runtime", "cri-o", "--timeout", "5", &image]);
    assert_eq!(run.code_of(0).as_deref(), Some("invalid-reference"));
    assert!(
        run.image(0)["diagnosis"]["message"]
            .to_string()
            .contains("IPv6"),
        "{}",
        run.stdout
    );
    // No runtime accepts an IPv6 address with an embedded dotted IPv4 address.
    for runtime in ["containerd", "docker", "cri-o"] {
        assert_eq!(
            code_under(
                &["--runtime", runtime],
                "[2001:db8:3:4::192.0.2.33]:5000/debian"
            )
            .as_deref(),
            Some("invalid-reference"),
            "{runtime}"
        );
    }
}
