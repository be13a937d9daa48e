//! Rough edges a new user hit on the command line, each reproduced before it was fixed: reports
//! that threw the result away, host flags that swallowed images, options shown where they do
//! nothing, durations, `--strict` without a reason, unrendered templates, CI paths.

use crate::common::{path_str, run};
use crate::support::registry::Registry;

#[test]
fn an_unwritable_report_path_keeps_the_result_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.sarif");
    let r = run(&[
        "check",
        "-o",
        "json",
        "--report",
        &format!("sarif={}", path_str(&ok)),
        "--report",
        "junit=/no/such/dir/x.xml",
        "Bad:Ref:X",
    ]);
    assert_eq!(r.code, 2, "still a failed run: {}", r.stderr);
    let j = r.json();
    assert_eq!(j["images"][0]["diagnosis"]["code"], "invalid-reference");
    assert!(
        r.stderr.contains("junit report") && r.stderr.contains("/no/such/dir/x.xml"),
        "names which report failed: {}",
        r.stderr
    );
    assert!(ok.exists(), "the other reports are still written");
}

/// A run that fails before doing anything: exit 2, nothing on stdout, `says` on stderr.
fn expect_usage_error(args: &[&str], says: &str) {
    let r = run(args);
    assert_eq!(r.code, 2, "exit 2 for {args:?}; stderr:\n{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing on stdout: {}", r.stdout);
    assert!(
        r.stderr.contains(says),
        "stderr should say {says:?}:\n{}",
        r.stderr
    );
}

#[test]
fn a_host_flag_does_not_swallow_the_image_or_take_true_for_a_host() {
    expect_usage_error(
        &["check", "--plain-http", "127.0.0.1:5601/shop/web:v1"],
        "did you mean --plain-http 127.0.0.1:5601 127.0.0.1:5601/shop/web:v1?",
    );
    expect_usage_error(
        &["check", "--plain-http=true", "127.0.0.1:5601/shop/web:v1"],
        "not a switch",
    );
    expect_usage_error(
        &[
            "check",
            "--insecure-skip-tls-verify",
            "false",
            "reg.example.com/a:v1",
        ],
        "not a switch",
    );
    expect_usage_error(
        &[
            "check",
            "--insecure-skip-tls-verify",
            "https://reg.example.com/v2/",
            "reg.example.com/a:v1",
        ],
        "--insecure-skip-tls-verify reg.example.com",
    );
    expect_usage_error(
        &["check", "--plain-http", "reg.local:v1", "reg.local/a:v1"],
        "image reference",
    );
}

#[test]
fn registry_takes_an_http_url_once_and_an_image_reference_is_bad_input() {
    let reg = Registry::plain();
    let host = reg.host();
    let r = run(&["registry", "-o", "json", &format!("http://{host}")]);
    assert_eq!(
        r.code, 0,
        "http:// means plain HTTP: {}\n{}",
        r.stdout, r.stderr
    );
    assert_eq!(r.json()["endpoint"], format!("http://{host}"));
    assert_eq!(r.json()["registry"], host.as_str());

    // https:// means TLS, which this registry does not speak.
    let r = run(&["registry", "-o", "json", &format!("https://{host}/v2/")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["diagnosis"]["code"], "tls-server-speaks-http");

    expect_usage_error(
        &[
            "registry",
            "--plain-http",
            &host,
            &format!("https://{host}"),
        ],
        "https://",
    );
    expect_usage_error(
        &["registry", "reg.example.com/some/path"],
        "did you mean preflight registry reg.example.com",
    );
    expect_usage_error(
        &["registry", "oci://reg.example.com"],
        "preflight registry reg.example.com",
    );
    expect_usage_error(&["registry", "nginx:1.27"], "preflight check nginx:1.27");
}
