//! The command line itself: bad input exits 2 with a clear message, help names the contract's
//! options, output goes where it should.

use crate::common::{path_str, preflight, run, run_cmd};

fn expect_usage_error(args: &[&str], says: &str) {
    let r = run(args);
    assert_eq!(r.code, 2, "exit code 2 for {args:?}; stderr:\n{}", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "nothing on stdout for a failed run: {}",
        r.stdout
    );
    assert!(
        r.stderr.contains(says),
        "stderr should say {says:?}:\n{}",
        r.stderr
    );
}

#[test]
fn bad_flags_exit_2() {
    expect_usage_error(&["check"], "no images given");
    expect_usage_error(&["check", "--timeout", "0", "nginx"], "--timeout");
    expect_usage_error(&["check", "--timeout", "soon", "nginx"], "not a number");
    expect_usage_error(&["check", "--concurrency", "0", "nginx"], "--concurrency");
    expect_usage_error(
        &["check", "--dns-server", "dns.example", "nginx"],
        "IP[:PORT]",
    );
    expect_usage_error(&["check", "--platform", "linux", "nginx"], "OS/ARCH");
    expect_usage_error(&["check", "-o", "xml", "nginx"], "xml");
    expect_usage_error(
        &["check", "--plain-http", "http://reg:5000", "nginx"],
        "without a scheme",
    );
    expect_usage_error(
        &[
            "check",
            "--plain-http",
            "reg:5000",
            "--insecure-skip-tls-verify",
            "reg:5000",
            "reg:5000/app",
        ],
        "both",
    );
}

#[test]
fn unreadable_inputs_exit_2_naming_the_file() {
    expect_usage_error(
        &[
            "check",
            "--docker-config",
            "/nonexistent/config.json",
            "nginx",
        ],
        "/nonexistent/config.json",
    );
    expect_usage_error(
        &["check", "--ca-file", "/nonexistent/ca.pem", "nginx"],
        "/nonexistent/ca.pem",
    );

    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    expect_usage_error(&["check", "--ca-file", path_str(&not_pem), "nginx"], "PEM");
}

#[test]
fn malformed_docker_config_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        "{\n  \"auths\": {\n    \"reg.example\": { \"auth\": \"dXNlcjpwYXNz\" }\n  },,\n}\n",
    )
    .unwrap();
    let r = run(&["check", "--docker-config", path_str(&path), "nginx"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("{}:4:", path.display())),
        "{}",
        r.stderr
    );

    std::fs::write(
        &path,
        r#"{"auths": {"reg.example": {"auth": "%%%not-base64%%%"}}}"#,
    )
    .unwrap();
    let r = run(&["check", "--docker-config", path_str(&path), "nginx"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("reg.example"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("%%%not-base64%%%"),
        "the bad value is not echoed: {}",
        r.stderr
    );
}

#[test]
fn the_default_docker_config_comes_from_docker_config_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let mut cmd = preflight();
    cmd.env("DOCKER_CONFIG", dir.path())
        .args(["check", "nginx"]);
    let r = run_cmd(&mut cmd);
    assert_eq!(
        r.code, 2,
        "the malformed default config is reported: {}",
        r.stderr
    );
    assert!(r.stderr.contains("config.json:1:"), "{}", r.stderr);
}

#[test]
fn help_lists_every_contract_option() {
    let r = run(&["check", "--help"]);
    assert_eq!(r.code, 0);
    for flag in [
        "--output",
        "--plain-http",
        "--insecure-skip-tls-verify",
        "--ca-file",
        "--docker-config",
        "--dns-server",
        "--platform",
        "--timeout",
        "--concurrency",
    ] {
        assert!(r.stdout.contains(flag), "{flag} missing from --help");
    }
    assert!(
        !r.stdout.contains("docker-hub-registry"),
        "test-only flag stays hidden"
    );
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    use std::process::{Command, Stdio};
    let bin = assert_cmd::cargo::cargo_bin("preflight");
    let mut child = Command::new(bin)
        .args(["check", "a:b:c", "d:e:f", "g:h:i"])
        .env("HOME", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}
