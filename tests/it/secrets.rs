//! Credentials never appear in any output, at any log level, and go only where they belong.

use base64::Engine as _;

use crate::common::{docker_config, path_str, preflight, run_cmd, write_config};
use crate::support::fake::{FakeResponse, FakeServer};
use crate::support::pki::Pki;
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind};
use crate::support::token::TokenServer;

const CANARY: &str = "CANARY-s3cret-7f3a9";

fn assert_no_secret(outputs: &[&str], secrets: &[&str]) {
    for out in outputs {
        for s in secrets {
            assert!(!out.contains(s), "secret {s:?} leaked into output:\n{out}");
        }
        // No bearer token (a JWT starts with base64 of `{"`) either.
        assert!(!out.contains("eyJ"), "a token leaked into output:\n{out}");
    }
}

fn every_output(args: &[&str]) -> Vec<String> {
    let mut outs = Vec::new();
    for format in ["human", "json"] {
        let mut cmd = preflight();
        cmd.env("RUST_LOG", "trace")
            .args(["check", "-o", format])
            .args(args);
        let r = run_cmd(&mut cmd);
        assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
        assert!(
            r.stderr.contains("TRACE") || r.stderr.contains("DEBUG"),
            "trace logging was on"
        );
        outs.push(r.stdout);
        outs.push(r.stderr);
    }
    outs
}

#[test]
fn basic_credentials_never_appear_at_trace_level() {
    let pki = Pki::new();
    let reg = Registry::tls_basic(&pki, &pki.server, &[("admin", CANARY)]);
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("admin:{CANARY}"))
    );
    seed::push(
        &reg.base_url(),
        Some(&auth),
        Some(&pki.ca.pem_path),
        "team/app",
        "v1",
        ImageKind::OciManifest,
    );
    let dir = tempfile::tempdir().unwrap();
    let host = reg.host();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("admin:{CANARY}"));

    // Accepted…
    let good = docker_config(dir.path(), &[(&host, "admin", CANARY)]);
    let image = format!("{host}/team/app:v1");
    let outs = every_output(&[
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "--docker-config",
        path_str(&good),
        &image,
    ]);
    assert!(outs[2].contains("\"pullable\": true"), "{}", outs[2]);
    assert_no_secret(
        &outs.iter().map(String::as_str).collect::<Vec<_>>(),
        &[CANARY, &encoded],
    );

    // …and rejected.
    let wrong = format!("{CANARY}-wrong");
    let wrong_encoded = base64::engine::general_purpose::STANDARD.encode(format!("admin:{wrong}"));
    let bad_dir = tempfile::tempdir().unwrap();
    let bad = docker_config(bad_dir.path(), &[(&host, "admin", &wrong)]);
    let outs = every_output(&[
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "--docker-config",
        path_str(&bad),
        &image,
    ]);
    assert!(outs[2].contains("auth-rejected"), "{}", outs[2]);
    assert_no_secret(
        &outs.iter().map(String::as_str).collect::<Vec<_>>(),
        &[CANARY, &wrong_encoded],
    );
}

#[test]
fn token_flow_secrets_never_appear_at_trace_level() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki);
    let reg = Registry::tls_token(&pki, &server.realm, &server.service, &server.issuer);
    let push = seed::bearer_for_push(&pki, &server.service, &server.issuer, "team/app");
    seed::push(
        &reg.base_url(),
        Some(&push),
        Some(&pki.ca.pem_path),
        "team/app",
        "v1",
        ImageKind::OciManifest,
    );
    let dir = tempfile::tempdir().unwrap();
    let host = reg.host();
    let image = format!("{host}/team/app:v1");

    let good = docker_config(dir.path(), &[(&host, "admin", "admin-pass")]);
    let outs = every_output(&[
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "--docker-config",
        path_str(&good),
        &image,
    ]);
    assert!(outs[2].contains("\"pullable\": true"), "{}", outs[2]);
    assert_no_secret(
        &outs.iter().map(String::as_str).collect::<Vec<_>>(),
        &["admin-pass"],
    );

    let refresh = format!("{CANARY}-refresh");
    let bad_dir = tempfile::tempdir().unwrap();
    let bad = write_config(
        bad_dir.path(),
        &serde_json::json!({ "auths": { host.clone(): { "identitytoken": refresh } } }),
    );
    let outs = every_output(&[
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "--docker-config",
        path_str(&bad),
        &image,
    ]);
    assert!(outs[2].contains("auth-rejected"), "{}", outs[2]);
    assert_no_secret(
        &outs.iter().map(String::as_str).collect::<Vec<_>>(),
        &[CANARY],
    );
}

#[test]
fn credentials_are_not_sent_to_a_plain_http_realm() {
    // A TLS registry whose challenge names a token realm over plain HTTP.
    let realm = FakeServer::plain(|_| {
        FakeResponse::new(200).json(serde_json::json!({"token": "not-a-jwt"}))
    });
    let pki = Pki::new();
    let realm_url = format!("{}/token", realm.base_url());
    let reg = Registry::tls_token(
        &pki,
        &realm_url,
        "preflight-test-registry",
        "preflight-test-issuer",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = docker_config(dir.path(), &[(&reg.host(), "admin", CANARY)]);
    let mut cmd = preflight();
    cmd.args([
        "check",
        "-o",
        "json",
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "--docker-config",
        path_str(&config),
    ])
    .arg(format!("{}/team/app:v1", reg.host()));
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let requests = realm.requests();
    assert!(!requests.is_empty(), "the realm was asked anonymously");
    for req in &requests {
        assert!(
            req.headers.iter().all(|(k, _)| k != "authorization"),
            "credentials reached a plain-HTTP realm: {req:?}"
        );
        let body = String::from_utf8_lossy(&req.body);
        assert!(!body.contains(CANARY) && !req.path.contains(CANARY));
    }
    let j = r.json();
    let warnings = j["images"][0]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["code"] == "credential-unavailable"),
        "the user is told why the credentials were not used: {warnings:?}"
    );
}
