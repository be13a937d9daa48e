//! The CI job's own credentials: credential helpers (working, failing, hanging), GitLab's
//! variables and `DOCKER_AUTH_CONFIG`, against the real TLS + Basic registry.

use std::time::{Duration, Instant};

use crate::common::{Run, path_str, preflight, run_cmd, write_config};
use crate::support::pki::Pki;
use crate::support::registry::{Registry, basic_auth};
use crate::support::seed::{self, ImageKind};

fn helpers_dir() -> String {
    format!(
        "{}/../../tests/fixtures/helpers",
        env!("CARGO_MANIFEST_DIR")
    )
}

struct Ci {
    pki: Pki,
    reg: Registry,
    dir: tempfile::TempDir,
}

fn ci() -> Ci {
    let pki = Pki::new();
    let reg = Registry::tls_basic(
        &pki,
        &pki.server,
        &[
            ("helper-user", "helper-pass"),
            ("gitlab-ci-token", "job-token-123"),
        ],
    );
    seed::push(
        &reg.base_url(),
        Some(&basic_auth("helper-user", "helper-pass")),
        Some(&pki.ca.pem_path),
        "group/app",
        "v1",
        ImageKind::OciManifest,
    );
    Ci {
        pki,
        reg,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Ci {
    fn run(&self, envs: &[(&str, String)], extra: &[&str]) -> Run {
        let mut cmd = preflight();
        let path = format!(
            "{}:{}",
            helpers_dir(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env("PATH", path)
            .args([
                "check",
                "-o",
                "json",
                "--ca-file",
                path_str(&self.pki.ca.pem_path),
            ])
            .args(extra)
            .arg(format!("{}/group/app:v1", self.reg.host()));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        run_cmd(&mut cmd)
    }

    fn helper_config(&self, helper: &str) -> String {
        let path = write_config(
            self.dir.path(),
            &serde_json::json!({ "credHelpers": { self.reg.host(): helper } }),
        );
        path_str(&path).to_owned()
    }
}

#[test]
fn a_working_credential_helper_is_run() {
    let c = ci();
    let config = c.helper_config("preflight-ok");
    let r = c.run(&[], &["--docker-config", &config]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let credential = r.image(0)["credential"].as_str().unwrap().to_owned();
    assert!(credential.contains("preflight-ok"), "{credential}");
}

#[test]
fn a_failing_credential_helper_is_reported() {
    let c = ci();
    let config = c.helper_config("preflight-fail");
    let r = c.run(&[], &["--docker-config", &config]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("auth-required"),
        "{}",
        r.stdout
    );
    let warning = &r.image(0)["warnings"][0];
    assert_eq!(warning["code"], "credential-unavailable");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("keychain locked"),
        "{warning}"
    );

    let missing = c.helper_config("preflight-not-installed");
    let r = c.run(&[], &["--docker-config", &missing]);
    let warning = &r.image(0)["warnings"][0];
    assert_eq!(warning["code"], "credential-unavailable");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("preflight-not-installed"),
        "{warning}"
    );
}

#[test]
fn a_hanging_credential_helper_is_cut_off_by_the_deadline() {
    let c = ci();
    let config = c.helper_config("preflight-hang");
    let started = Instant::now();
    let r = c.run(&[], &["--docker-config", &config, "--timeout", "2"]);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let warning = &r.image(0)["warnings"][0];
    assert_eq!(warning["code"], "credential-unavailable", "{}", r.stdout);
}

#[test]
fn gitlab_registry_variables_are_used_for_their_registry() {
    let c = ci();
    let envs = [
        ("CI_REGISTRY", c.reg.host()),
        ("CI_REGISTRY_USER", "gitlab-ci-token".to_owned()),
        ("CI_JOB_TOKEN", "job-token-123".to_owned()),
    ];
    let r = c.run(&envs, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let credential = r.image(0)["credential"].as_str().unwrap().to_owned();
    assert!(credential.contains("CI_REGISTRY"), "{credential}");
    assert!(!r.stdout.contains("job-token-123") && !r.stderr.contains("job-token-123"));
}

#[test]
fn docker_auth_config_is_read() {
    let c = ci();
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "helper-user:helper-pass",
    );
    let config = serde_json::json!({ "auths": { c.reg.host(): { "auth": auth } } }).to_string();
    let r = c.run(&[("DOCKER_AUTH_CONFIG", config)], &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.image(0)["credential"]
            .as_str()
            .unwrap()
            .contains("DOCKER_AUTH_CONFIG")
    );
}
