//! Manifests in: a deploy's YAML read from files and stdin, images checked with the credentials
//! the kubelet would use — pod secrets, service account secrets, the node's config — against the
//! real TLS + Basic registry and the token registry.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::common::{Run, path_str, preflight, run_cmd};
use crate::support::pki::Pki;
use crate::support::registry::{Registry, basic_auth};
use crate::support::seed::{self, ImageKind};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A `kubernetes.io/dockerconfigjson` Secret for `key` with `user:password`.
fn pull_secret(namespace: &str, name: &str, key: &str, user: &str, password: &str) -> String {
    let config =
        serde_json::json!({ "auths": { key: { "auth": b64(&format!("{user}:{password}")) } } });
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        b64(&config.to_string())
    )
}

fn deployment(
    namespace: &str,
    name: &str,
    image: &str,
    secrets: &[&str],
    account: Option<&str>,
) -> String {
    let mut pod = String::new();
    if let Some(a) = account {
        let _ = writeln!(pod, "      serviceAccountName: {a}");
    }
    if !secrets.is_empty() {
        pod.push_str("      imagePullSecrets:\n");
        for s in secrets {
            let _ = writeln!(pod, "        - name: {s}");
        }
    }
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  template:\n    spec:\n{pod}      containers:\n        - name: app\n          image: {image}\n"
    )
}

struct Basic {
    pki: Pki,
    reg: Registry,
    dir: tempfile::TempDir,
}

fn basic() -> Basic {
    let pki = Pki::new();
    let reg = Registry::tls_basic(&pki, &pki.server, &[("deployer", "deploy-pass")]);
    seed::push(
        &reg.base_url(),
        Some(&basic_auth("deployer", "deploy-pass")),
        Some(&pki.ca.pem_path),
        "shop/payment-app",
        "v2.1.2",
        ImageKind::OciManifest,
    );
    Basic {
        pki,
        reg,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Basic {
    fn image(&self) -> String {
        format!("{}/shop/payment-app:v2.1.2", self.reg.host())
    }

    fn write(&self, name: &str, docs: &[String]) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, docs.join("---\n")).unwrap();
        path
    }

    fn check(&self, extra: &[&str]) -> Run {
        let mut cmd = preflight();
        cmd.args([
            "check",
            "-o",
            "json",
            "--ca-file",
            path_str(&self.pki.ca.pem_path),
        ])
        .args(extra);
        run_cmd(&mut cmd)
    }
}

#[test]
fn a_working_pull_secret_is_used_and_named() {
    let b = basic();
    let file = b.write(
        "deploy.yaml",
        &[
            pull_secret("shop", "regcred", &b.reg.host(), "deployer", "deploy-pass"),
            deployment("shop", "payment-app", &b.image(), &["regcred"], None),
        ],
    );
    let r = b.check(&["-f", path_str(&file)]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let image = r.image(0);
    assert_eq!(
        image["credential"],
        format!("secret shop/regcred, key {}", b.reg.host())
    );
    let source = &image["sources"][0];
    assert_eq!(source["object"], "Deployment/shop/payment-app");
    assert_eq!(source["container"], "app");
    assert_eq!(source["line"], 22, "line of the image value: {source}");
    assert!(source["file"].as_str().unwrap().ends_with("deploy.yaml"));
}

#[test]
fn a_wrong_password_is_auth_rejected_naming_the_secret() {
    let b = basic();
    let file = b.write(
        "deploy.yaml",
        &[
            pull_secret("shop", "stale-cred", &b.reg.host(), "deployer", "old-pass"),
            deployment("shop", "payment-app", &b.image(), &["stale-cred"], None),
        ],
    );
    let r = b.check(&["-f", path_str(&file)]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("auth-rejected"),
        "{}",
        r.stdout
    );
    let image = r.image(0);
    assert!(
        image["credential"]
            .as_str()
            .unwrap()
            .contains("secret shop/stale-cred")
    );
    assert!(
        image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("secret shop/stale-cred")
    );
}

#[test]
fn a_secret_for_another_host_falls_back_to_anonymous_with_a_near_miss_hint() {
    let b = basic();
    let port = b.reg.addr.port();
    // The registry is 127.0.0.1:PORT; the secret was made for another port of the same host.
    let near = format!("127.0.0.1:{}", port.wrapping_add(1));
    let file = b.write(
        "deploy.yaml",
        &[
            pull_secret("shop", "regcred", &near, "deployer", "deploy-pass"),
            deployment("shop", "payment-app", &b.image(), &["regcred"], None),
        ],
    );
    let r = b.check(&["-f", path_str(&file)]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("auth-required"),
        "{}",
        r.stdout
    );
    let image = r.image(0);
    assert!(image["credential"].is_null(), "anonymous: {image}");
    let hint = image["diagnosis"]["hint"].as_str().unwrap();
    assert!(hint.contains(&near), "near-miss hint names the key: {hint}");
}

#[test]
fn the_service_accounts_secret_is_used() {
    let b = basic();
    let account = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: deployer\n  namespace: shop\nimagePullSecrets:\n  - name: sa-cred\n".to_owned();
    let file = b.write(
        "deploy.yaml",
        &[
            account,
            pull_secret("shop", "sa-cred", &b.reg.host(), "deployer", "deploy-pass"),
            deployment("shop", "payment-app", &b.image(), &[], Some("deployer")),
        ],
    );
    let r = b.check(&["-f", path_str(&file)]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.image(0)["credential"]
            .as_str()
            .unwrap()
            .contains("secret shop/sa-cred")
    );
}

#[test]
fn a_missing_secret_warns_or_fails_when_required() {
    let b = basic();
    let file = b.write(
        "deploy.yaml",
        &[
            pull_secret("shop", "regcred", &b.reg.host(), "deployer", "deploy-pass"),
            deployment(
                "shop",
                "payment-app",
                &b.image(),
                &["not-here", "regcred"],
                None,
            ),
        ],
    );
    let r = b.check(&["-f", path_str(&file)]);
    assert_eq!(r.code, 0, "the pod's other secret works: {}", r.stdout);
    let warnings = r.image(0)["warnings"].clone();
    assert!(
        warnings
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "pull-secret-missing"
                && w["message"].as_str().unwrap().contains("shop/not-here")),
        "{warnings}"
    );
    let r = b.check(&["--require-pull-secrets", "-f", path_str(&file)]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("pull-secret-missing"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_secret_of_the_wrong_type_is_skipped_as_the_kubelet_skips_it() {
    let b = basic();
    let opaque = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: opaque\n  namespace: shop\ntype: Opaque\ndata:\n  password: c2VjcmV0\n".to_owned();
    let docs = [
        opaque,
        pull_secret("shop", "good", &b.reg.host(), "deployer", "deploy-pass"),
        deployment("shop", "alone", &b.image(), &["opaque"], None),
        deployment("shop", "with-good", &b.image(), &["opaque", "good"], None),
    ];
    let file = b.write("deploy.yaml", &docs);
    let r = b.check(&["-f", path_str(&file)]);
    // Alone, the pod pulls anonymously; with a usable secret beside it, it pulls.
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("auth-required"),
        "{}",
        r.stdout
    );
    assert_eq!(r.code_of(1), None, "{}", r.stdout);
    for i in 0..2 {
        let warnings = r.image(i)["warnings"].clone();
        assert!(
            warnings
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["code"] == "pull-secret-invalid"
                    && w["message"].as_str().unwrap().contains("Opaque")),
            "{warnings}"
        );
    }
}

#[test]
fn a_pods_own_secrets_replace_its_service_accounts() {
    let b = basic();
    let account = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: shop\nimagePullSecrets:\n  - name: sa-cred\n".to_owned();
    let docs = [
        account,
        pull_secret("shop", "sa-cred", &b.reg.host(), "deployer", "deploy-pass"),
        pull_secret("shop", "other", "other.example.com", "x", "y"),
        deployment("shop", "app", &b.image(), &["other"], None),
    ];
    let file = b.write("deploy.yaml", &docs);
    let r = b.check(&["-f", path_str(&file)]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("auth-required"),
        "the account's secret is not added: {}",
        r.stdout
    );
}

#[test]
fn objects_without_a_namespace_go_to_the_namespace_given() {
    let b = basic();
    let deploy = b.dir.path().join("render.yaml");
    let plain = deployment("shop", "payment-app", &b.image(), &["regcred"], None)
        .replace("  namespace: shop\n", "");
    std::fs::write(&deploy, plain).unwrap();
    let secrets = b.write(
        "secrets.yaml",
        &[pull_secret(
            "prod",
            "regcred",
            &b.reg.host(),
            "deployer",
            "deploy-pass",
        )],
    );
    let r = b.check(&[
        "-f",
        path_str(&deploy),
        "--pull-secrets",
        path_str(&secrets),
    ]);
    let warnings = r.image(0)["warnings"].clone();
    assert!(
        warnings
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["message"].as_str().unwrap().contains("in namespace prod")),
        "the secret in another namespace is pointed out: {warnings}"
    );
    let r = b.check(&[
        "-n",
        "prod",
        "-f",
        path_str(&deploy),
        "--pull-secrets",
        path_str(&secrets),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        r.image(0)["sources"][0]["object"],
        "Deployment/prod/payment-app"
    );
}

#[test]
fn a_password_in_a_secrets_key_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.yaml");
    let docs = [
        pull_secret(
            "shop",
            "regcred",
            "https://robot:CANARY-KEY-PASS@registry.example.com",
            "u",
            "p",
        ),
        deployment(
            "shop",
            "app",
            "registry.example.com/shop/app:v1",
            &["regcred"],
            None,
        ),
    ];
    std::fs::write(&file, docs.join("---\n")).unwrap();
    for format in ["human", "json"] {
        let mut cmd = preflight();
        cmd.args(["images", "-o", format, "-f", path_str(&file)]);
        let r = run_cmd(&mut cmd);
        assert!(
            !r.stdout.contains("CANARY") && !r.stderr.contains("CANARY"),
            "{}{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn keep_going_keeps_the_good_files_of_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a-good.yaml"),
        deployment("shop", "web", "nginx:1.27", &[], None),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b-bad.yaml"),
        "kind: Pod\nspec: [unclosed\n",
    )
    .unwrap();
    let mut cmd = preflight();
    cmd.args([
        "images",
        "-o",
        "json",
        "--keep-going",
        "-f",
        path_str(dir.path()),
    ]);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.json()["summary"]["images"], 1, "{}", r.stdout);
    assert!(r.stderr.contains("b-bad.yaml"), "{}", r.stderr);
}

#[test]
fn an_empty_render_fails_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("empty.yaml");
    std::fs::write(&file, "---\n# nothing rendered\n---\n").unwrap();
    let mut cmd = preflight();
    cmd.args(["check", "-f", path_str(&file)]);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("reference no image"), "{}", r.stderr);
    let mut cmd = preflight();
    cmd.args(["check", "--allow-empty", "-f", path_str(&file)]);
    assert_eq!(run_cmd(&mut cmd).code, 0);
}

#[test]
fn the_same_image_with_different_secrets_gets_two_answers() {
    let b = basic();
    let file = b.write(
        "deploy.yaml",
        &[
            pull_secret("shop", "good", &b.reg.host(), "deployer", "deploy-pass"),
            pull_secret("shop", "bad", &b.reg.host(), "deployer", "nope"),
            deployment("shop", "api", &b.image(), &["good"], None),
            deployment("shop", "worker", &b.image(), &["bad"], None),
            deployment("shop", "web", &b.image(), &["good"], None),
        ],
    );
    let r = b.check(&["-f", path_str(&file)]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    let j = r.json();
    assert_eq!(
        j["summary"]["images"], 2,
        "api and web merge; worker stands apart: {}",
        r.stdout
    );
    assert_eq!(r.code_of(0), None);
    assert_eq!(j["images"][0]["sources"].as_array().unwrap().len(), 2);
    assert_eq!(r.code_of(1).as_deref(), Some("auth-rejected"));
    assert_eq!(
        j["images"][1]["sources"][0]["object"],
        "Deployment/shop/worker"
    );
}

#[test]
fn the_nodes_config_is_tried_after_the_pods_secrets() {
    let b = basic();
    let file = b.write(
        "deploy.yaml",
        &[deployment("shop", "payment-app", &b.image(), &[], None)],
    );
    let node =
        crate::common::docker_config(b.dir.path(), &[(&b.reg.host(), "deployer", "deploy-pass")]);
    let r = b.check(&[
        "-f",
        path_str(&file),
        "--node-docker-config",
        path_str(&node),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.image(0)["credential"]
            .as_str()
            .unwrap()
            .starts_with("node docker-config")
    );
}

#[test]
fn ci_credentials_can_be_chosen_for_manifests() {
    let b = basic();
    let file = b.write(
        "deploy.yaml",
        &[deployment(
            "shop",
            "payment-app",
            &b.image(),
            &["regcred"],
            None,
        )],
    );
    let config =
        crate::common::docker_config(b.dir.path(), &[(&b.reg.host(), "deployer", "deploy-pass")]);
    let r = b.check(&[
        "-f",
        path_str(&file),
        "--credentials",
        "ci",
        "--docker-config",
        path_str(&config),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.image(0)["credential"]
            .as_str()
            .unwrap()
            .starts_with("docker-config")
    );
    let warnings = r.image(0)["warnings"].as_array().unwrap().clone();
    assert!(
        warnings.iter().all(|w| w["code"] != "pull-secret-missing"),
        "{warnings:?}"
    );
}

#[test]
fn helm_style_output_on_stdin_reports_every_image_with_sources() {
    let b = basic();
    let stream = format!(
        "---\n# Source: shop/templates/secret.yaml\n{}---\n# Source: shop/templates/deploy.yaml\n{}---\n# Source: shop/templates/job.yaml\napiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\n  namespace: shop\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          imagePullSecrets: [{{name: regcred}}]\n          initContainers:\n            - name: migrate\n              image: {}\n          containers:\n            - name: report\n              image: {}/shop/missing:v1\n              imagePullPolicy: Always\n---\n",
        pull_secret("shop", "regcred", &b.reg.host(), "deployer", "deploy-pass"),
        deployment("shop", "payment-app", &b.image(), &["regcred"], None),
        b.image(),
        b.reg.host(),
    );
    let mut cmd = preflight();
    cmd.args([
        "check",
        "--ca-file",
        path_str(&b.pki.ca.pem_path),
        "-f",
        "-",
    ])
    .write_stdin(stream.clone());
    let human = run_cmd(&mut cmd);
    assert_eq!(human.code, 1, "{}\n{}", human.stdout, human.stderr);
    assert!(
        human.stdout.contains("repository-not-found"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("<stdin>:"),
        "sources shown: {}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("CronJob/shop/nightly container report"),
        "{}",
        human.stdout
    );
    assert!(
        human.stdout.contains("credentials: secret shop/regcred"),
        "{}",
        human.stdout
    );

    let mut cmd = preflight();
    cmd.args([
        "check",
        "-o",
        "json",
        "--ca-file",
        path_str(&b.pki.ca.pem_path),
        "-f",
        "-",
    ])
    .write_stdin(stream);
    let r = run_cmd(&mut cmd);
    let j = r.json();
    assert_eq!(j["summary"]["images"], 2, "{}", r.stdout);
    let sources = j["images"][0]["sources"].as_array().unwrap();
    assert_eq!(
        sources.len(),
        2,
        "deployment and init container: {sources:?}"
    );
    let warnings = j["images"][1]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["code"] == "always-pull-mutable-tag"),
        "{warnings:?}"
    );
}

#[test]
fn malformed_input_exits_2_naming_file_and_line_unless_keep_going() {
    let b = basic();
    let good = b.write(
        "good.yaml",
        &[deployment("shop", "payment-app", &b.image(), &[], None)],
    );
    let bad = b.dir.path().join("bad.yaml");
    std::fs::write(&bad, "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n    - name: a\n      image: [not, a, string]\n").unwrap();
    let r = b.check(&["-f", path_str(&good), "-f", path_str(&bad)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains(&format!("{}:8", bad.display())),
        "{}",
        r.stderr
    );

    let r = b.check(&["--keep-going", "-f", path_str(&good), "-f", path_str(&bad)]);
    assert_eq!(r.code, 2, "input problems still fail the run: {}", r.stderr);
    assert_eq!(
        r.json()["summary"]["images"],
        1,
        "the good file is still checked"
    );
    assert!(r.stderr.contains("bad.yaml:8"), "{}", r.stderr);
}

#[test]
fn images_lists_without_network() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.yaml");
    let docs = [
        deployment("shop", "web", "nginx", &[], None),
        deployment(
            "shop",
            "api",
            "registry.preflight.test:5000/shop/api:v1",
            &["regcred"],
            None,
        ),
        deployment("shop", "bad", "Shop/Api:v1", &[], None),
    ];
    std::fs::write(&file, docs.join("---\n")).unwrap();
    let mut cmd = preflight();
    cmd.args(["images", "-o", "json", "-f", path_str(&file)]);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 1, "an invalid reference: {}", r.stderr);
    let j = r.json();
    assert_eq!(j["summary"]["images"], 3);
    assert_eq!(
        j["images"][0]["canonical"],
        "docker.io/library/nginx:latest"
    );
    assert_eq!(j["images"][0]["warnings"][0]["code"], "implicit-latest");
    assert!(j["images"][0].get("stages").is_none());
    assert_eq!(j["images"][1]["registry"], "registry.preflight.test:5000");
    assert!(
        j["images"][1]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "pull-secret-missing")
    );
    assert_eq!(j["images"][2]["diagnosis"]["code"], "invalid-reference");
    assert_eq!(
        j["images"][2]["sources"][0]["object"],
        "Deployment/shop/bad"
    );

    let mut cmd = preflight();
    cmd.args(["images", "-f", path_str(&file)]);
    let human = run_cmd(&mut cmd);
    assert!(
        human.stdout.contains("docker.io/library/nginx:latest"),
        "{}",
        human.stdout
    );
    assert!(human.stdout.contains("in "), "{}", human.stdout);
}

#[test]
fn pod_secrets_against_the_token_registry() {
    use crate::support::token::TokenServer;
    let pki = Pki::new();
    let server = TokenServer::start(&pki);
    let reg = Registry::tls_token(&pki, &server.realm, &server.service, &server.issuer);
    let push = seed::bearer_for_push(&pki, &server.service, &server.issuer, "private/app");
    seed::push(
        &reg.base_url(),
        Some(&push),
        Some(&pki.ca.pem_path),
        "private/app",
        "v1",
        ImageKind::OciIndex,
    );
    let image = format!("{}/private/app:v1", reg.host());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.yaml");
    let docs = [
        pull_secret("prod", "admin", &reg.host(), "admin", "admin-pass"),
        pull_secret("prod", "limited", &reg.host(), "limited", "limited-pass"),
        deployment("prod", "app", &image, &["admin"], None),
        deployment("prod", "other", &image, &["limited"], None),
        // Both secrets match: the first is refused access, the second works.
        deployment("prod", "both", &image, &["limited", "admin"], None),
    ];
    std::fs::write(&file, docs.join("---\n")).unwrap();
    let mut cmd = preflight();
    cmd.args([
        "check",
        "-o",
        "json",
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "-f",
        path_str(&file),
    ]);
    let r = run_cmd(&mut cmd);
    let j = r.json();
    assert_eq!(j["summary"]["images"], 3, "{}", r.stdout);
    assert_eq!(r.code_of(0), None, "{}", r.stdout);
    assert_eq!(
        r.code_of(1).as_deref(),
        Some("access-denied"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.code_of(2),
        None,
        "every matching secret is tried in order: {}",
        r.stdout
    );
    assert!(
        j["images"][2]["credential"]
            .as_str()
            .unwrap()
            .contains("secret prod/admin")
    );
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../../tests/fixtures/manifests/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn every_malformed_fixture_exits_2_with_file_and_line() {
    for (name, line, says) in [
        ("bad-syntax.yaml", 9, "did not find expected"),
        (
            "not-object.yaml",
            1,
            "a document must be a Kubernetes object",
        ),
        ("image-not-string.yaml", 0, "image must be a string"),
        (
            "image-float.yaml",
            8,
            "image must be a string, found a number",
        ),
        ("alias-bomb.yaml", 7, ""),
    ] {
        let path = fixture(name);
        let mut cmd = preflight();
        cmd.args(["images", "-f", &path]);
        let r = run_cmd(&mut cmd);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{name}: nothing listed: {}", r.stdout);
        assert!(
            r.stderr.contains(&format!("{name}:")),
            "{name}: {}",
            r.stderr
        );
        if line > 0 {
            assert!(
                r.stderr.contains(&format!("{name}:{line}")),
                "{name}: {}",
                r.stderr
            );
        }
        assert!(r.stderr.contains(says), "{name}: {}", r.stderr);
    }
}

#[test]
fn a_directory_is_walked_for_manifests() {
    let mut cmd = preflight();
    cmd.args(["images", "-o", "json", "-f", &fixture("dir")]);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files: Vec<String> = r.json()["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| {
            i["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["file"].as_str().unwrap().to_owned())
        })
        .collect();
    assert!(files.iter().any(|f| f.ends_with("dir/a.yaml")), "{files:?}");
    assert!(
        files.iter().any(|f| f.ends_with("dir/b/c.yml")),
        "{files:?}"
    );
    assert!(files.iter().all(|f| !f.contains("ignored")), "{files:?}");
}

#[test]
fn pull_secrets_from_a_separate_file_are_used() {
    let b = basic();
    let deploy = b.write(
        "deploy.yaml",
        &[deployment(
            "shop",
            "payment-app",
            &b.image(),
            &["regcred"],
            None,
        )],
    );
    let secrets = b.write(
        "secrets.yaml",
        &[pull_secret(
            "shop",
            "regcred",
            &b.reg.host(),
            "deployer",
            "deploy-pass",
        )],
    );
    let r = b.check(&[
        "-f",
        path_str(&deploy),
        "--pull-secrets",
        path_str(&secrets),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.image(0)["credential"]
            .as_str()
            .unwrap()
            .contains("secret shop/regcred")
    );
}

#[test]
fn an_undecodable_pull_secret_exits_2_without_echoing_it() {
    let b = basic();
    let bad = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: shop\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: '%%CANARY-not-base64%%'\n".to_owned();
    let file = b.write(
        "deploy.yaml",
        &[
            bad,
            deployment("shop", "payment-app", &b.image(), &["regcred"], None),
        ],
    );
    let r = b.check(&["-f", path_str(&file)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("deploy.yaml:1"), "{}", r.stderr);
    assert!(r.stderr.contains("shop/regcred"), "{}", r.stderr);
    assert!(!r.stderr.contains("CANARY"), "{}", r.stderr);

    let r = b.check(&["--keep-going", "-f", path_str(&file)]);
    assert_eq!(r.code, 2);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("pull-secret-invalid"),
        "{}",
        r.stdout
    );
}

#[test]
fn platforms_default_to_what_the_pods_nodes_run() {
    let reg = Registry::plain();
    seed::push(
        &reg.base_url(),
        None,
        None,
        "shop/multi",
        "v1",
        ImageKind::OciIndex,
    );
    let host = reg.host();
    let image = format!("{host}/shop/multi:v1");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.yaml");
    let arm = deployment("shop", "on-arm", &image, &[], None).replace(
        "      containers:\n",
        "      nodeSelector:\n        kubernetes.io/arch: arm64\n      containers:\n",
    );
    let s390x = deployment("shop", "on-mainframe", &image, &[], None).replace(
        "      containers:\n",
        "      affinity:\n        nodeAffinity:\n          requiredDuringSchedulingIgnoredDuringExecution:\n            nodeSelectorTerms:\n              - matchExpressions:\n                  - {key: kubernetes.io/arch, operator: In, values: [s390x, amd64]}\n      containers:\n",
    );
    std::fs::write(&file, [arm, s390x].join("---\n")).unwrap();
    let mut cmd = preflight();
    cmd.args([
        "check",
        "-o",
        "json",
        "--plain-http",
        &host,
        "-f",
        path_str(&file),
    ]);
    let r = run_cmd(&mut cmd);
    let j = r.json();
    assert_eq!(
        j["summary"]["images"], 2,
        "different platforms are checked apart: {}",
        r.stdout
    );
    assert_eq!(r.code_of(0), None, "arm64 is in the index: {}", r.stdout);
    assert_eq!(
        r.code_of(1).as_deref(),
        Some("platform-missing"),
        "{}",
        r.stdout
    );
    let message = r.image(1)["diagnosis"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("no manifest for linux/s390x;"),
        "only s390x is missing: {message}"
    );
}

#[test]
fn shards_split_a_deploy_without_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.yaml");
    let docs: Vec<String> = (0..60)
        .map(|i| {
            deployment(
                "shop",
                &format!("app{i}"),
                &format!("reg.example.com/team{}/app{}:v{i}", i % 5, i % 17),
                &[],
                None,
            )
        })
        .collect();
    std::fs::write(&file, docs.join("---\n")).unwrap();
    let list = |extra: &[&str], env: &[(&str, &str)]| -> Vec<String> {
        let mut cmd = preflight();
        cmd.args(["images", "-o", "json", "-f", path_str(&file)])
            .args(extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let r = run_cmd(&mut cmd);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.json()["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["canonical"].as_str().unwrap().to_owned())
            .collect()
    };
    let whole = list(&[], &[]);
    let mut union: Vec<String> = Vec::new();
    for i in 1..=3 {
        let part = list(&["--shard", &format!("{i}/3")], &[]);
        for r in &part {
            assert!(!union.contains(r), "{r} in two shards");
        }
        union.extend(part);
    }
    union.sort();
    let mut sorted = whole.clone();
    sorted.sort();
    assert_eq!(union, sorted, "the shards together are the whole");
    assert_eq!(
        list(&[], &[("CI_NODE_INDEX", "2"), ("CI_NODE_TOTAL", "3")]),
        list(&["--shard", "2/3"], &[])
    );
}
