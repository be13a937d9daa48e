//! `preflight registry HOST[:PORT]`: the walk a person does by hand at 3 AM, against the real
//! token registry and TLS + Basic registry.

use crate::common::{docker_config, path_str, run};
use crate::support::net;
use crate::support::pki::Pki;
use crate::support::registry::Registry;
use crate::support::token::TokenServer;

fn stage_names(report: &serde_json::Value, field: &str) -> Vec<String> {
    report[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_token_registry_is_walked_stage_by_stage() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki);
    let reg = Registry::tls_token(&pki, &server.realm, &server.service, &server.issuer);
    let host = reg.host();
    let ca = path_str(&pki.ca.pem_path);

    let r = run(&["registry", "-o", "json", "--ca-file", ca, &host]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["ok"], true);
    assert_eq!(
        stage_names(&j, "stages"),
        ["dns", "tcp", "tls", "ping", "auth"]
    );
    assert_eq!(j["addresses"][0]["ok"], true);
    assert!(
        j["challenge"]
            .as_str()
            .unwrap()
            .contains("token authentication")
    );
    assert_eq!(j["realm"]["url"], server.realm.as_str());
    let realm_stages: Vec<String> = j["realm"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(realm_stages, ["dns", "tcp", "tls"]);
    let days = j["certificate"]["days_until_expiry"].as_i64().unwrap();
    assert!((28..=30).contains(&days), "{days}");
    assert!(
        j["certificate"]["sans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "127.0.0.1")
    );
    assert!(
        j["stages"][4]["detail"]
            .as_str()
            .unwrap()
            .contains("anonymously")
    );

    let human = run(&["registry", "--ca-file", ca, &host]);
    assert_eq!(human.code, 0);
    assert!(human.stdout.contains("token service"), "{}", human.stdout);
    assert!(
        human.stdout.contains(" ms "),
        "timings shown: {}",
        human.stdout
    );
    assert!(human.stdout.contains("can serve pulls"), "{}", human.stdout);

    // With credentials: accepted, and rejected.
    let dir = tempfile::tempdir().unwrap();
    let good = docker_config(dir.path(), &[(&host, "admin", "admin-pass")]);
    let r = run(&[
        "registry",
        "-o",
        "json",
        "--ca-file",
        ca,
        "--docker-config",
        path_str(&good),
        &host,
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("a token was granted with docker-config"),
        "{}",
        r.stdout
    );
    let bad_dir = tempfile::tempdir().unwrap();
    let bad = docker_config(bad_dir.path(), &[(&host, "admin", "nope")]);
    let r = run(&[
        "registry",
        "-o",
        "json",
        "--ca-file",
        ca,
        "--docker-config",
        path_str(&bad),
        &host,
    ]);
    assert_eq!(r.code, 1);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["diagnosis"]["code"], "auth-rejected");
}

#[test]
fn failures_name_the_stage() {
    let port = net::refused_port();
    let r = run(&["registry", "-o", "json", &format!("127.0.0.1:{port}")]);
    assert_eq!(r.code, 1);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["diagnosis"]["code"], "tcp-refused");
    assert_eq!(j["addresses"][0]["ok"], false);

    let pki = Pki::new();
    let reg = Registry::tls_basic(&pki, &pki.server, &[("admin", "admin-pass")]);
    let r = run(&["registry", "-o", "json", &reg.host()]);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["diagnosis"]["code"], "tls-unknown-issuer", "{}", r.stdout);
    let r = run(&[
        "registry",
        "-o",
        "json",
        "--ca-file",
        path_str(&pki.ca.pem_path),
        &reg.host(),
    ]);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["diagnosis"]["code"], "auth-required", "{}", r.stdout);

    // An image reference is not a registry: bad input, exit 2 (it was exit 1 with
    // invalid-reference, and an empty endpoint, before).
    let r = run(&["registry", "reg.example.com/some/path"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("preflight registry reg.example.com"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_certificate_expiring_soon_is_warned_about() {
    let pki = Pki::new();
    let reg = Registry::tls_basic(&pki, &pki.expiring, &[("admin", "admin-pass")]);
    let dir = tempfile::tempdir().unwrap();
    let config = docker_config(dir.path(), &[(&reg.host(), "admin", "admin-pass")]);
    let r = run(&[
        "registry",
        "-o",
        "json",
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "--docker-config",
        path_str(&config),
        &reg.host(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["certificate"]["days_until_expiry"], 7);
    assert_eq!(
        j["warnings"][0]["code"], "certificate-expiring",
        "{}",
        r.stdout
    );
    assert!(
        j["stages"][4]["detail"]
            .as_str()
            .unwrap()
            .contains("Basic authentication as admin accepted")
    );
}
