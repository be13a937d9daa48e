//! A TLS registry with htpasswd (Basic) authentication, credentials from a Docker config.json.

use crate::common::{check, docker_config, expect_code, expect_pullable, path_str, write_config};
use crate::support::pki::Pki;
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind};

struct Basic {
    pki: Pki,
    reg: Registry,
    dir: tempfile::TempDir,
}

fn basic() -> Basic {
    let pki = Pki::new();
    let reg = Registry::tls_basic(&pki, &pki.server, &[("admin", "admin-pass")]);
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "admin:admin-pass"
        )
    );
    seed::push(
        &reg.base_url(),
        Some(&auth),
        Some(&pki.ca.pem_path),
        "team/app",
        "v1",
        ImageKind::DockerV2,
    );
    Basic {
        pki,
        reg,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Basic {
    fn image(&self, path: &str) -> String {
        format!("{}/{path}", self.reg.host())
    }

    fn args<'a>(&'a self, config: Option<&'a str>, image: &'a str) -> Vec<&'a str> {
        let mut a = vec!["--ca-file", path_str(&self.pki.ca.pem_path)];
        if let Some(c) = config {
            a.extend(["--docker-config", c]);
        }
        a.push(image);
        a
    }
}

#[test]
fn no_credentials_is_auth_required() {
    let b = basic();
    let image = b.image("team/app:v1");
    let report = expect_code(&b.args(None, &image), "auth-required");
    assert_eq!(report["diagnosis"]["stage"], "auth");
    assert!(report["credential"].is_null());
}

#[test]
fn wrong_password_is_auth_rejected() {
    let b = basic();
    let config = docker_config(b.dir.path(), &[(&b.reg.host(), "admin", "wrong-pass")]);
    let image = b.image("team/app:v1");
    let report = expect_code(&b.args(Some(path_str(&config)), &image), "auth-rejected");
    assert_eq!(report["diagnosis"]["stage"], "auth");
    let origin = report["credential"].as_str().unwrap();
    assert!(
        origin.starts_with("docker-config ") && origin.ends_with(&format!("key {}", b.reg.host())),
        "{origin}"
    );
}

#[test]
fn right_password_pulls_and_names_the_credential() {
    let b = basic();
    // Docker writes keys with a scheme; matching strips it.
    let key = format!("https://{}", b.reg.host());
    let config = docker_config(b.dir.path(), &[(&key, "admin", "admin-pass")]);
    let image = b.image("team/app:v1");
    let report = expect_pullable(&b.args(Some(path_str(&config)), &image));
    let img = &report["images"][0];
    assert_eq!(
        img["media_type"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert!(img["credential"].as_str().unwrap().contains(&key));

    // Missing tag and missing repository are still told apart behind authentication.
    let missing_tag = b.image("team/app:v2");
    let r = check(&b.args(Some(path_str(&config)), &missing_tag));
    assert_eq!(r.code_of(0).as_deref(), Some("manifest-unknown"));
    let missing_repo = b.image("team/nope:v1");
    let r = check(&b.args(Some(path_str(&config)), &missing_repo));
    assert_eq!(r.code_of(0).as_deref(), Some("repository-not-found"));
}

#[test]
fn credentials_for_another_registry_are_not_used() {
    let b = basic();
    let config = docker_config(
        b.dir.path(),
        &[("other.example.com", "admin", "admin-pass")],
    );
    let image = b.image("team/app:v1");
    expect_code(&b.args(Some(path_str(&config)), &image), "auth-required");
}

#[test]
fn a_credential_helper_is_reported_not_run() {
    let b = basic();
    let config = write_config(
        b.dir.path(),
        &serde_json::json!({ "credHelpers": { b.reg.host(): "secretservice" } }),
    );
    let image = b.image("team/app:v1");
    let report = expect_code(&b.args(Some(path_str(&config)), &image), "auth-required");
    let warning = &report["warnings"][0];
    assert_eq!(warning["code"], "credential-unavailable");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("secretservice")
    );
}

#[test]
fn an_identity_token_cannot_log_in_with_basic() {
    let b = basic();
    let config = write_config(
        b.dir.path(),
        &serde_json::json!({ "auths": { b.reg.host(): { "identitytoken": "some-refresh-token" } } }),
    );
    let image = b.image("team/app:v1");
    expect_code(&b.args(Some(path_str(&config)), &image), "auth-rejected");
}
