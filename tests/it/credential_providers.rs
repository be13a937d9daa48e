//! The kubelet's credential provider plugins (`--image-credential-provider-config`,
//! `--image-credential-provider-bin-dir`): real executables written here (POSIX `sh` scripts)
//! answering `CredentialProviderRequest`s, against the real TLS registries of the suite (htpasswd
//! Basic, and the token flow). Each failure the kubelet tolerates is a warning with its own code,
//! and the verdict is that of the pull without the plugin.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Run, docker_config, path_str, preflight, run_cmd};
use crate::support::pki::Pki;
use crate::support::registry::{Registry, basic_auth};
use crate::support::seed::{self, ImageKind};
use crate::support::token::TokenServer;

const V1: &str = "credentialprovider.kubelet.k8s.io/v1";
const PASSWORD: &str = "PLUGIN-CANARY-9d2e1";

/// A TLS Basic registry holding `shop/app0..n:v1`, a bin directory and a work directory.
struct Node {
    pki: Pki,
    reg: Registry,
    dir: tempfile::TempDir,
}

impl Node {
    fn basic(repos: usize) -> Node {
        let pki = Pki::new();
        let reg = Registry::tls_basic(&pki, &pki.server, &[("deployer", PASSWORD)]);
        for i in 0..repos {
            seed::push(
                &reg.base_url(),
                Some(&basic_auth("deployer", PASSWORD)),
                Some(&pki.ca.pem_path),
                &format!("shop/app{i}"),
                "v1",
                ImageKind::OciManifest,
            );
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        Node { pki, reg, dir }
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// The kubelet's two flags: `config` (a file or a directory) and this node's plugins.
    fn flags(&self, config: impl AsRef<std::path::Path>) -> [std::ffi::OsString; 4] {
        [
            "--image-credential-provider-config".into(),
            config.as_ref().into(),
            "--image-credential-provider-bin-dir".into(),
            self.bin().into(),
        ]
    }

    fn image(&self, i: usize) -> String {
        format!("{}/shop/app{i}:v1", self.reg.host())
    }

    /// The plugin `name`: a script that counts its runs in `NAME.count`, keeps its stdin, args
    /// and `FOO` in `NAME.request`, then runs `body`.
    fn plugin(&self, name: &str, body: &str) -> PathBuf {
        let work = self.dir.path().display();
        let script = format!(
            "#!/bin/sh\necho run >> {work}/{name}.count\ncat > {work}/{name}.request\necho \"args=$* FOO=$FOO\" >> {work}/{name}.request\n{body}\n"
        );
        let path = self.bin().join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A plugin that answers `response` (JSON).
    fn answering(&self, name: &str, response: &Value) -> PathBuf {
        self.plugin(name, &format!("cat <<'EOF'\n{response}\nEOF"))
    }

    fn runs(&self, name: &str) -> usize {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.count")))
            .map_or(0, |s| s.lines().count())
    }

    fn request(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.request"))).unwrap()
    }

    /// A config with one provider per `(name, matchImages, extra fields)`.
    fn config(&self, providers: &[(&str, &[&str], &str)]) -> PathBuf {
        let mut text = String::from(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n",
        );
        for (name, matches, extra) in providers {
            let _ = write!(
                text,
                "  - name: {name}\n    apiVersion: {V1}\n    defaultCacheDuration: 10m\n    matchImages:\n"
            );
            for m in *matches {
                let _ = writeln!(text, "      - \"{m}\"");
            }
            for line in extra.lines() {
                let _ = writeln!(text, "    {line}");
            }
        }
        let path = self.dir.path().join("credential-providers.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Pods using `images`, in namespace `shop`, with `secrets` as their imagePullSecrets.
    fn manifests(&self, images: &[String], secrets: &[&str]) -> PathBuf {
        let mut text = String::new();
        for (i, image) in images.iter().enumerate() {
            let _ = write!(
                text,
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  namespace: shop\nspec:\n  containers:\n    - name: c\n      image: {image}\n"
            );
            if !secrets.is_empty() {
                text.push_str("  imagePullSecrets:\n");
                for s in secrets {
                    let _ = writeln!(text, "    - name: {s}");
                }
            }
        }
        let path = self.dir.path().join("deploy.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `check -o json --ca-file … -f MANIFESTS --image-credential-provider-config CONFIG
    /// --image-credential-provider-bin-dir BIN extra…`.
    fn check(&self, manifests: &Path, config: &Path, extra: &[&str]) -> Run {
        let mut cmd = preflight();
        cmd.args(["check", "-o", "json", "--ca-file"])
            .arg(&self.pki.ca.pem_path)
            .arg("-f")
            .arg(manifests)
            .args(self.flags(config))
            .args(extra);
        run_cmd(&mut cmd)
    }
}

fn response(cache_key: &str, auth: &Value) -> Value {
    serde_json::json!({
        "kind": "CredentialProviderResponse",
        "apiVersion": V1,
        "cacheKeyType": cache_key,
        "auth": auth,
    })
}

fn good_auth(host: &str) -> Value {
    serde_json::json!({ host: { "username": "deployer", "password": PASSWORD } })
}

fn warnings(image: &Value) -> Vec<(String, String)> {
    image["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["code"].as_str().unwrap().to_owned(),
                w["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_plugins_password_makes_the_image_pullable_and_the_report_names_the_provider() {
    let node = Node::basic(1);
    node.answering(
        "ecr-credential-provider",
        &response("Registry", &good_auth(&node.reg.host())),
    );
    let config = node.config(&[(
        "ecr-credential-provider",
        &[&node.reg.host()],
        "args: [get-credentials]\nenv:\n  - name: FOO\n    value: from-config",
    )]);
    let manifests = node.manifests(&[node.image(0)], &[]);
    let r = node.check(&manifests, &config, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let image = r.image(0);
    let credential = image["credential"].as_str().unwrap();
    assert_eq!(
        credential,
        format!(
            "credential provider ecr-credential-provider, key {} (ran here with this machine's identity, not the node's)",
            node.reg.host()
        )
    );
    assert!(warnings(&image).is_empty(), "{image}");
    // The request the kubelet sends: the image without tag, the provider's apiVersion; its
    // args and env.
    let request = node.request("ecr-credential-provider");
    let (json, rest) = request.split_once('\n').unwrap_or((&request, ""));
    let sent: Value = serde_json::from_str(json).unwrap();
    assert_eq!(
        sent,
        serde_json::json!({
            "kind": "CredentialProviderRequest",
            "apiVersion": V1,
            "image": format!("{}/shop/app0", node.reg.host()),
        })
    );
    assert_eq!(rest.trim(), "args=get-credentials FOO=from-config");
}

#[test]
fn the_token_registry_takes_a_plugins_credential_too() {
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
    let node = Node {
        pki,
        reg,
        dir: tempfile::tempdir().unwrap(),
    };
    std::fs::create_dir(node.bin()).unwrap();
    let host = node.reg.host();
    node.answering(
        "gcp",
        &response(
            "Global",
            &serde_json::json!({ "127.0.0.*": { "username": "nobody", "password": "x" },
                                 host.clone(): { "username": "admin", "password": "admin-pass" } }),
        ),
    );
    let config = node.config(&[("gcp", &[&host], "")]);
    let manifests = node.manifests(&[format!("{host}/team/app:v1")], &[]);
    let r = node.check(&manifests, &config, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.image(0)["credential"]
            .as_str()
            .unwrap()
            .starts_with(&format!("credential provider gcp, key {host} ")),
        "{}",
        r.stdout
    );
    // Without the plugin: the token service refuses anonymous pulls.
    let bare = node.manifests(&[format!("{host}/team/app:v1")], &[]);
    let mut cmd = preflight();
    cmd.args(["check", "-o", "json", "--ca-file"])
        .arg(&node.pki.ca.pem_path)
        .arg("-f")
        .arg(&bare);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 1, "{}", r.stdout);
}

#[test]
fn twenty_images_of_one_registry_ask_the_plugin_once_as_the_cache_key_says() {
    let node = Node::basic(20);
    let images: Vec<String> = (0..20).map(|i| node.image(i)).collect();
    let manifests = node.manifests(&images, &[]);
    let host = node.reg.host();

    node.answering("per-registry", &response("Registry", &good_auth(&host)));
    let config = node.config(&[("per-registry", &[&host], "")]);
    let r = node.check(&manifests, &config, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["summary"]["pullable"], 20, "{}", r.stdout);
    assert_eq!(node.runs("per-registry"), 1);

    // Image: one run per repository.
    node.answering("per-image", &response("Image", &good_auth(&host)));
    let config = node.config(&[("per-image", &[&host], "")]);
    let r = node.check(&manifests, &config, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(node.runs("per-image"), 20);

    // A cacheDuration of 0 turns the cache off, whatever the key.
    let mut uncached = response("Global", &good_auth(&host));
    uncached["cacheDuration"] = "0s".into();
    node.answering("uncached", &uncached);
    let config = node.config(&[("uncached", &[&host], "")]);
    let r = node.check(&manifests, &config, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(node.runs("uncached"), 20);
}

#[test]
fn match_images_and_auth_keys_are_matched_like_the_keyring() {
    let node = Node::basic(1);
    let host = node.reg.host();
    let port = host.rsplit_once(':').unwrap().1.to_owned();
    node.answering("p", &response("Image", &good_auth(&host)));
    let manifests = node.manifests(&[node.image(0)], &[]);

    // A glob per label, the port equal, the path a prefix: asked.
    for pattern in [
        format!("127.*.*.1:{port}"),
        format!("1*.0.0.1:{port}/shop"),
        format!("{host}/shop/app0"),
    ] {
        let config = node.config(&[("p", &[&pattern], "")]);
        let r = node.check(&manifests, &config, &[]);
        assert_eq!(r.code, 0, "{pattern}: {}\n{}", r.stdout, r.stderr);
    }
    // Not asked: no port, another port, more labels, another path.
    for pattern in [
        "127.0.0.1".to_owned(),
        "127.0.0.1:1".to_owned(),
        format!("*.127.0.0.1:{port}"),
        format!("{host}/team"),
    ] {
        let before = node.runs("p");
        let config = node.config(&[("p", &[&pattern], "")]);
        let r = node.check(&manifests, &config, &[]);
        assert_eq!(
            r.code_of(0).as_deref(),
            Some("auth-required"),
            "{pattern}: {}",
            r.stdout
        );
        assert_eq!(
            node.runs("p"),
            before,
            "{pattern}: the plugin was not asked"
        );
        assert!(warnings(&r.image(0)).is_empty(), "{pattern}: {}", r.stdout);
    }

    // Names only, through `images` (no network, no plugin run): hosts with globs.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deploy.yaml");
    let named = [
        "a.registry.preflight.test:5000/team/app:v1",
        "a.b.registry.preflight.test:5000/team/app:v1",
        "registry.preflight.test:5000/team/app:v1",
        "registry.preflight.test:5000/other/app:v1",
        "a.registry.preflight.test/team/app:v1",
    ];
    let mut text = String::new();
    for (i, image) in named.iter().enumerate() {
        let _ = write!(
            text,
            "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\nspec:\n  containers:\n    - name: c\n      image: {image}\n"
        );
    }
    std::fs::write(&file, text).unwrap();
    let config = node.config(&[
        ("globbed", &["*.registry.preflight.test:5000"], ""),
        ("team", &["registry.preflight.test:5000/team"], ""),
    ]);
    let mut cmd = preflight();
    cmd.args(["images", "-o", "json", "-f"])
        .arg(&file)
        .args(node.flags(&config));
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    let asked: Vec<Value> = j["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["credential_providers"].clone())
        .collect();
    assert_eq!(
        asked,
        [
            serde_json::json!(["globbed"]),
            Value::Null,
            serde_json::json!(["team"]),
            Value::Null,
            Value::Null,
        ],
        "{}",
        r.stdout
    );
    assert_eq!(node.runs("globbed") + node.runs("team"), 0);
    // The human listing names it too.
    let mut cmd = preflight();
    cmd.args(["images", "-f"])
        .arg(&file)
        .args(node.flags(&config));
    let r = run_cmd(&mut cmd);
    assert!(
        r.stdout
            .contains("credential providers (asked by `check`, not run here): globbed"),
        "{}",
        r.stdout
    );
}

/// Each failure the kubelet survives: the warning code, the provider named, and the verdict
/// of the pull without it (`auth-required`: the registry wants credentials).
#[test]
fn every_plugin_failure_is_its_own_warning_and_the_pull_goes_on_without_it() {
    let node = Node::basic(1);
    let host = node.reg.host();
    let manifests = node.manifests(&[node.image(0)], &[]);
    let bad_version = serde_json::json!({
        "kind": "CredentialProviderResponse",
        "apiVersion": "credentialprovider.kubelet.k8s.io/v1beta1",
        "cacheKeyType": "Image",
        "auth": good_auth(&host),
    });
    let bad_kind = serde_json::json!({
        "kind": "CredentialProviderRequest",
        "apiVersion": V1,
        "cacheKeyType": "Image",
        "auth": good_auth(&host),
    });
    let bad_key = response("Node", &good_auth(&host));
    let elsewhere = response(
        "Image",
        &serde_json::json!({ "other.example.com": { "username": "deployer", "password": PASSWORD } }),
    );
    let cases: Vec<(&str, Option<String>, &str, &str)> = vec![
        (
            "absent",
            None,
            "credential-provider-missing",
            "does not exist",
        ),
        (
            "exits",
            Some(format!(
                "echo 'boom: no instance metadata' >&2\necho '{{\"auth\":{{\"x\":{{\"password\":\"{PASSWORD}\"}}}}}}'\nexit 3"
            )),
            "credential-provider-failed",
            "exit status: 3): boom: no instance metadata",
        ),
        (
            "garbage",
            Some(format!("echo 'password={PASSWORD} not json'")),
            "credential-provider-invalid-response",
            "it is not JSON",
        ),
        (
            "old-version",
            Some(format!("cat <<'EOF'\n{bad_version}\nEOF")),
            "credential-provider-invalid-response",
            "apiVersion is \"credentialprovider.kubelet.k8s.io/v1beta1\"",
        ),
        (
            "wrong-kind",
            Some(format!("cat <<'EOF'\n{bad_kind}\nEOF")),
            "credential-provider-invalid-response",
            "kind is \"CredentialProviderRequest\"",
        ),
        (
            "bad-cache-key",
            Some(format!("cat <<'EOF'\n{bad_key}\nEOF")),
            "credential-provider-invalid-response",
            "cacheKeyType \"Node\" is not Image, Registry or Global",
        ),
        (
            "elsewhere",
            Some(format!("cat <<'EOF'\n{elsewhere}\nEOF")),
            "credential-provider-no-match",
            "returned credentials for \"other.example.com\", none of which matches",
        ),
        (
            "nothing",
            Some(format!(
                "cat <<'EOF'\n{}\nEOF",
                response("Image", &Value::Null)
            )),
            "credential-provider-no-match",
            "returned no credential for",
        ),
    ];
    for (name, body, code, says) in &cases {
        if let Some(body) = body {
            node.plugin(name, body);
        }
        let config = node.config(&[(name, &[&host], "")]);
        let r = node.check(&manifests, &config, &[]);
        assert_eq!(r.code, 1, "{name}: {}\n{}", r.stdout, r.stderr);
        let image = r.image(0);
        assert_eq!(
            image["diagnosis"]["code"], "auth-required",
            "{name}: {image}"
        );
        let found = warnings(&image);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert_eq!(found[0].0, *code, "{name}: {found:?}");
        assert!(
            found[0].1.contains(&format!("credential provider {name}")),
            "{name}: {found:?}"
        );
        assert!(found[0].1.contains(says), "{name}: {found:?}");
        assert!(!r.stdout.contains(PASSWORD), "{name}: {}", r.stdout);
        assert!(!r.stderr.contains(PASSWORD), "{name}: {}", r.stderr);
    }

    // Not executable.
    let path = node.answering("no-exec", &response("Image", &good_auth(&host)));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = node.config(&[("no-exec", &[&host], "")]);
    let r = node.check(&manifests, &config, &[]);
    let found = warnings(&r.image(0));
    assert_eq!(found[0].0, "credential-provider-missing", "{found:?}");
    assert!(found[0].1.contains("is not executable"), "{found:?}");
    assert_eq!(r.code_of(0).as_deref(), Some("auth-required"));

    // A failing plugin beside the node's config.json: pulled with what remains.
    let node_config = docker_config(node.dir.path(), &[(&host, "deployer", PASSWORD)]);
    let config = node.config(&[("exits", &[&host], "")]);
    let r = node.check(
        &manifests,
        &config,
        &["--node-docker-config", path_str(&node_config)],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let image = r.image(0);
    assert!(
        image["credential"]
            .as_str()
            .unwrap()
            .starts_with("node docker-config"),
        "{image}"
    );
    assert_eq!(warnings(&image)[0].0, "credential-provider-failed");
}

#[test]
fn a_hanging_plugin_is_stopped_within_the_deadline() {
    let node = Node::basic(1);
    let host = node.reg.host();
    let marker = node.dir.path().join("still-running");
    node.plugin("hangs", &format!("sleep 30\ntouch {}", marker.display()));
    let config = node.config(&[("hangs", &[&host], "")]);
    let manifests = node.manifests(&[node.image(0)], &[]);
    let started = Instant::now();
    let r = node.check(&manifests, &config, &["--timeout", "6s"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let image = r.image(0);
    assert_eq!(image["diagnosis"]["code"], "auth-required", "{image}");
    let found = warnings(&image);
    assert_eq!(found[0].0, "credential-provider-timeout", "{found:?}");
    assert!(
        found[0].1.contains("did not answer for") && found[0].1.contains("the kubelet waits 60 s"),
        "{found:?}"
    );
    // Its whole process group was stopped: the sleep never finishes.
    std::thread::sleep(Duration::from_secs(1));
    assert!(!marker.exists());
}

#[test]
fn the_pods_secrets_and_the_nodes_config_come_before_the_plugins() {
    let node = Node::basic(1);
    let host = node.reg.host();
    node.answering("p", &response("Registry", &good_auth(&host)));
    let config = node.config(&[("p", &[&host], "")]);
    // A pull secret with a wrong password: tried first, refused, then the plugin's.
    let secret = serde_json::json!({ "auths": { host.clone(): {
        "auth": base64_of("deployer:wrong") } } });
    let mut manifests =
        std::fs::read_to_string(node.manifests(&[node.image(0)], &["regcred"])).unwrap();
    let _ = write!(
        manifests,
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: shop\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{secret}'\n"
    );
    let file = node.dir.path().join("with-secret.yaml");
    std::fs::write(&file, manifests).unwrap();
    let r = node.check(&file, &config, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let image = r.image(0);
    assert!(
        image["credential"]
            .as_str()
            .unwrap()
            .starts_with("credential provider p,"),
        "{image}"
    );
    // The node's config.json, when right, is the one used: it comes before the plugin's.
    let node_config = docker_config(node.dir.path(), &[(&host, "deployer", PASSWORD)]);
    let plain = node.manifests(&[node.image(0)], &[]);
    let r = node.check(
        &plain,
        &config,
        &["--node-docker-config", path_str(&node_config)],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.image(0)["credential"]
            .as_str()
            .unwrap()
            .starts_with("node docker-config"),
        "{}",
        r.stdout
    );
}

#[test]
fn plugin_secrets_never_appear_at_trace_level() {
    let node = Node::basic(1);
    let host = node.reg.host();
    node.answering("p", &response("Registry", &good_auth(&host)));
    let config = node.config(&[("p", &[&host], "")]);
    let manifests = node.manifests(&[node.image(0)], &[]);
    for format in ["human", "json", "junit", "gitlab", "sarif"] {
        let mut cmd = preflight();
        cmd.args(["-vvv", "check", "-o", format, "--ca-file"])
            .arg(&node.pki.ca.pem_path)
            .arg("-f")
            .arg(&manifests)
            .args(node.flags(&config));
        let r = run_cmd(&mut cmd);
        assert_eq!(r.code, 0, "{format}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("TRACE"), "trace logging was on");
        for out in [&r.stdout, &r.stderr] {
            assert!(!out.contains(PASSWORD), "{format}: leaked:\n{out}");
            assert!(
                !out.contains(&base64_of(&format!("deployer:{PASSWORD}"))),
                "{format}: leaked:\n{out}"
            );
        }
    }
}

#[test]
fn flags_and_config_errors_exit_2_with_the_file_and_line() {
    let node = Node::basic(0);
    let manifests = node.manifests(&["r.example/app:v1".to_owned()], &[]);
    let config = node.config(&[("p", &["r.example"], "")]);
    let usage = |args: &[&str], says: &str| {
        let mut cmd = preflight();
        cmd.args(["check", "-f", path_str(&manifests)]).args(args);
        let r = run_cmd(&mut cmd);
        assert_eq!(r.code, 2, "{args:?}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    };
    usage(
        &["--image-credential-provider-config", path_str(&config)],
        "--image-credential-provider-config needs --image-credential-provider-bin-dir",
    );
    usage(
        &["--image-credential-provider-bin-dir", path_str(&node.bin())],
        "--image-credential-provider-bin-dir needs --image-credential-provider-config",
    );
    usage(
        &[
            "--image-credential-provider-config",
            path_str(&config),
            "--image-credential-provider-bin-dir",
            "/nonexistent/bin",
        ],
        "/nonexistent/bin: not a directory",
    );
    usage(
        &[
            "--credentials",
            "ci",
            "--image-credential-provider-config",
            path_str(&config),
            "--image-credential-provider-bin-dir",
            path_str(&node.bin()),
        ],
        "use it with --credentials kubelet",
    );
    let bad = node.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: bin/ecr\n    matchImages: [r.example]\n    defaultCacheDuration: 1h\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
    )
    .unwrap();
    usage(
        &[
            "--image-credential-provider-config",
            path_str(&bad),
            "--image-credential-provider-bin-dir",
            path_str(&node.bin()),
        ],
        &format!("{}:4: providers[0].name cannot contain '/'", bad.display()),
    );
}

fn base64_of(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `explain` asks the node's plugins for the live check as `check` does: a pod that failed with a
/// 401 is `still-failing` without them and `now-pullable` with a plugin that gives the password.
#[test]
fn explain_asks_the_plugins_for_the_live_check() {
    let node = Node::basic(1);
    node.answering(
        "acr-credential-provider",
        &response("Registry", &good_auth(&node.reg.host())),
    );
    let config = node.config(&[("acr-credential-provider", &[&node.reg.host()], "")]);
    let image = node.image(0);
    // containerd's 401 as the kubelet reports it (the shape of the oracle's basic-no-credentials row).
    let message = format!(
        "rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": pulling from host {} failed with status code [manifests v1]: 401 Unauthorized",
        node.reg.host()
    );
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {"containers": [{"name": "app", "image": image}]},
        "status": {"containerStatuses": [{"name": "app", "image": image,
            "state": {"waiting": {"reason": "ErrImagePull", "message": message}}}]}
    });
    let pods = node.dir.path().join("pods.json");
    std::fs::write(&pods, pod.to_string()).unwrap();
    let explain = |with_plugins: bool| {
        let mut cmd = preflight();
        cmd.args(["explain", "-o", "json", "--ca-file"])
            .arg(&node.pki.ca.pem_path)
            .arg("-f")
            .arg(&pods);
        if with_plugins {
            cmd.args(node.flags(&config));
        }
        run_cmd(&mut cmd)
    };
    let without = explain(false);
    assert_eq!(without.code, 1, "{}\n{}", without.stdout, without.stderr);
    let c = &without.json()["containers"][0];
    assert_eq!(c["cause"], "auth-required", "{c}");
    assert_eq!(c["verdict"], "still-failing", "{c}");
    assert_eq!(node.runs("acr-credential-provider"), 0);

    let with = explain(true);
    assert_eq!(with.code, 0, "{}\n{}", with.stdout, with.stderr);
    let c = &with.json()["containers"][0];
    assert_eq!(c["verdict"], "now-pullable", "{c}");
    assert!(
        c["check"]["credential"]
            .as_str()
            .is_some_and(|s| s.starts_with("credential provider acr-credential-provider")),
        "{c}"
    );
    assert_eq!(node.runs("acr-credential-provider"), 1);
    assert!(!with.stdout.contains(PASSWORD) && !with.stderr.contains(PASSWORD));
}

/// A kubelet given a directory reads its `*.json`, `*.yaml` and `*.yml` files in name order
/// (nothing else), and asks the providers of all of them in that order: here the first file's
/// plugin gives a wrong password, the second's the right one, and the pull works with the second.
#[test]
fn a_directory_of_configs_is_merged_in_name_order() {
    let node = Node::basic(1);
    let host = node.reg.host();
    node.answering(
        "first",
        &response(
            "Registry",
            &serde_json::json!({ host.clone(): { "username": "deployer", "password": "wrong" } }),
        ),
    );
    node.answering("second", &response("Registry", &good_auth(&host)));
    let dir = node.dir.path().join("credential-providers.d");
    std::fs::create_dir(&dir).unwrap();
    let provider = |name: &str| {
        format!(
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: {name}\n    apiVersion: {V1}\n    defaultCacheDuration: 10m\n    matchImages: [\"{host}\"]\n"
        )
    };
    std::fs::write(dir.join("20-second.yaml"), provider("second")).unwrap();
    std::fs::write(dir.join("10-first.yml"), provider("first")).unwrap();
    // Not read by the kubelet: were they, the check would stop on them.
    std::fs::write(dir.join("README.md"), "not: [yaml").unwrap();
    std::fs::write(dir.join("30-off.yaml.disabled"), "not: [yaml").unwrap();
    std::fs::write(dir.join("40-upper.YAML"), "not: [yaml").unwrap();
    let manifests = node.manifests(&[node.image(0)], &[]);

    let r = node.check(&manifests, &dir, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let image = r.image(0);
    assert!(
        image["credential"]
            .as_str()
            .unwrap()
            .starts_with("credential provider second,"),
        "{image}"
    );
    assert_eq!((node.runs("first"), node.runs("second")), (1, 1));

    let mut cmd = preflight();
    cmd.args(["images", "-o", "json", "-f"])
        .arg(&manifests)
        .args(node.flags(&dir));
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        r.image(0)["credential_providers"],
        serde_json::json!(["first", "second"])
    );

    // The same name in two files: exit 2, naming the second file and line and the first.
    std::fs::write(dir.join("50-again.json"), {
        let v = serde_json::json!({"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig",
            "providers": [{"name": "first", "apiVersion": V1, "defaultCacheDuration": "1m", "matchImages": [host.clone()]}]});
        v.to_string()
    })
    .unwrap();
    let r = node.check(&manifests, &dir, &[]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{}:1: providers[].name: duplicate provider name \"first\" (first at {}:4)",
            dir.join("50-again.json").display(),
            dir.join("10-first.yml").display()
        )),
        "{}",
        r.stderr
    );
    std::fs::remove_file(dir.join("50-again.json")).unwrap();

    // A bad file names itself and its line.
    std::fs::write(
        dir.join("15-bad.yaml"),
        provider("bad").replace("10m", "ten minutes"),
    )
    .unwrap();
    let r = node.check(&manifests, &dir, &[]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{}:6: providers[0].defaultCacheDuration \"ten minutes\" is not a Go duration",
            dir.join("15-bad.yaml").display()
        )),
        "{}",
        r.stderr
    );

    // A directory with no config file: the kubelet does not start.
    let empty = node.dir.path().join("empty.d");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "").unwrap();
    let r = node.check(&manifests, &empty, &[]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{}: the directory holds no config file (*.json, *.yaml, *.yml)",
            empty.display()
        )),
        "{}",
        r.stderr
    );
}

const TOKEN_CANARY: &str = "SA-TOKEN-CANARY-7c41";
const AUDIENCE: &str = "sts.example.test";

/// A JWT-shaped token for `audiences` whose signature is the canary (nothing verifies it).
fn sa_token(audiences: &[&str]) -> String {
    use base64::Engine as _;
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let claims = serde_json::json!({"aud": audiences, "sub": "system:serviceaccount:shop:builder"});
    format!(
        "{}.{}.{}",
        b(r#"{"alg":"RS256","kid":"k"}"#),
        b(&claims.to_string()),
        b(TOKEN_CANARY)
    )
}

/// The image in `images[]` whose reference is `reference`.
fn by_reference(run: &Run, reference: &str) -> Value {
    run.json()["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reference"] == reference)
        .unwrap_or_else(|| panic!("{reference} not in {}", run.stdout))
        .clone()
}

/// A node with a plugin `sts` (tokenAttributes, KEP-4412) that gives the registry's password
/// only when the request carries `token` and the role annotation, and pods of three service
/// accounts: `builder` (annotated, in the inputs), `plain` (in the inputs, without the required
/// annotation) and `ghost` (not in the inputs).
struct TokenNode {
    node: Node,
    config: PathBuf,
    manifests: PathBuf,
}

impl TokenNode {
    fn new(cache_type: &str, plugin_body: Option<&str>) -> TokenNode {
        let node = Node::basic(3);
        let host = node.reg.host();
        let good = response("Registry", &good_auth(&host));
        let work = node.dir.path().display().to_string();
        let token = sa_token(&[AUDIENCE, "other"]);
        let body = plugin_body.map_or_else(
            || {
                format!(
                    "grep -q '\"serviceAccountToken\":\"{token}\"' {work}/sts.request || exit 3\ngrep -q '\"example.com/role\":\"arn:role/builder\"' {work}/sts.request || exit 4\ncat <<'EOF'\n{good}\nEOF"
                )
            },
            str::to_owned,
        );
        node.plugin("sts", &body);
        let config = node.config(&[(
            "sts",
            &[&host],
            &format!("tokenAttributes:\n  serviceAccountTokenAudience: {AUDIENCE}\n  cacheType: {cache_type}\n  requireServiceAccount: true\n  requiredServiceAccountAnnotationKeys: [example.com/role]\n  optionalServiceAccountAnnotationKeys: [example.com/region]"),
        )]);
        let mut text = String::from(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: builder\n  namespace: shop\n  annotations:\n    example.com/role: arn:role/builder\n    example.com/region: eu\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: plain\n  namespace: shop\n",
        );
        for (i, account) in ["builder", "plain", "ghost"].iter().enumerate() {
            let _ = write!(
                text,
                "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p{i}\n  namespace: shop\nspec:\n  serviceAccountName: {account}\n  containers:\n    - name: c\n      image: {}\n",
                node.image(i)
            );
        }
        let manifests = node.dir.path().join("token-deploy.yaml");
        std::fs::write(&manifests, text).unwrap();
        TokenNode {
            node,
            config,
            manifests,
        }
    }

    fn token_file(&self, audiences: &[&str]) -> PathBuf {
        let path = self
            .node
            .dir
            .path()
            .join(format!("token-{}", audiences.join("-")));
        std::fs::write(&path, format!("{}\n", sa_token(audiences))).unwrap();
        path
    }

    fn check(&self, extra: &[&str]) -> Run {
        self.node.check(&self.manifests, &self.config, extra)
    }
}

fn only_warning(image: &Value) -> (String, String) {
    let found = warnings(image);
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// Without a token, the plugin is never started: the pod whose `ServiceAccount` lacks the required
/// annotation is one the kubelet skips (`credential-provider-annotation-missing`); the others
/// need a token only the kubelet can request (`credential-provider-token-unavailable`), each
/// warning naming the provider, the audience and the service account. The verdict is the pull
/// without the plugin. `images` says the same without running anything.
#[test]
fn token_providers_without_a_token_are_predicted_from_the_service_accounts() {
    let t = TokenNode::new("ServiceAccount", None);
    let r = t.check(&[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let builder = by_reference(&r, &t.node.image(0));
    assert_eq!(builder["diagnosis"]["code"], "auth-required", "{builder}");
    let (code, message) = only_warning(&builder);
    assert_eq!(code, "credential-provider-token-unavailable");
    assert!(
        message.contains(&format!(
            "credential provider sts is not run: it needs a token of ServiceAccount shop/builder for the audience \"{AUDIENCE}\", which only the kubelet can request (with the annotations example.com/role, example.com/region of the ServiceAccount)"
        )),
        "{message}"
    );
    let plain = by_reference(&r, &t.node.image(1));
    assert_eq!(plain["diagnosis"]["code"], "auth-required", "{plain}");
    let (code, message) = only_warning(&plain);
    assert_eq!(code, "credential-provider-annotation-missing");
    assert!(
        message.contains("ServiceAccount shop/plain lacks the annotation example.com/role that credential provider sts requires"),
        "{message}"
    );
    let ghost = by_reference(&r, &t.node.image(2));
    let (code, message) = only_warning(&ghost);
    assert_eq!(code, "credential-provider-token-unavailable");
    assert!(
        message.contains("ServiceAccount shop/ghost")
            && message.contains("the ServiceAccount is not in the inputs, and the kubelet asks sts only if it has the annotation example.com/role"),
        "{message}"
    );
    assert_eq!(t.node.runs("sts"), 0);

    let mut cmd = preflight();
    cmd.args(["images", "-o", "json", "-f"])
        .arg(&t.manifests)
        .args(t.node.flags(&t.config));
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for (i, code, says) in [
        (
            0,
            "credential-provider-token-unavailable",
            "ServiceAccount shop/builder",
        ),
        (
            1,
            "credential-provider-annotation-missing",
            "shop/plain lacks the annotation example.com/role",
        ),
        (
            2,
            "credential-provider-token-unavailable",
            "ServiceAccount shop/ghost",
        ),
    ] {
        let image = by_reference(&r, &t.node.image(i));
        assert_eq!(
            image["credential_providers"],
            serde_json::json!(["sts"]),
            "{image}"
        );
        let found = warnings(&image);
        assert!(
            found.iter().any(|(c, m)| c == code && m.contains(says)),
            "{i}: {found:?}"
        );
    }
    // The human listing says it too.
    let mut cmd = preflight();
    cmd.args(["images", "-f"])
        .arg(&t.manifests)
        .args(t.node.flags(&t.config));
    let r = run_cmd(&mut cmd);
    assert!(
        r.stdout.contains("credential-provider-annotation-missing")
            && r.stdout
                .contains("shop/plain lacks the annotation example.com/role"),
        "{}",
        r.stdout
    );
    assert_eq!(t.node.runs("sts"), 0);
}

/// With a token given for a service account and the provider's audience, the plugin is run for
/// that service account's pods with the token and the `ServiceAccount`'s annotations, as the
/// kubelet sends them, and its password makes the image pullable. The other pods are as without
/// a token. The token never appears in any output, at any verbosity.
#[test]
fn token_providers_run_with_a_token_given_for_the_service_account() {
    let t = TokenNode::new("ServiceAccount", None);
    let token = t.token_file(&[AUDIENCE, "other"]);
    let flag = format!("shop/builder={}", token.display());
    let r = t.check(&["--image-credential-provider-token", &flag]);
    let builder = by_reference(&r, &t.node.image(0));
    assert!(builder["pullable"].as_bool().unwrap(), "{builder}");
    assert_eq!(
        builder["credential"],
        format!(
            "credential provider sts, key {} (ran here with the token given for ServiceAccount shop/builder and this machine's identity, not the node's)",
            t.node.reg.host()
        )
    );
    assert!(warnings(&builder).is_empty(), "{builder}");
    // The request, as the kubelet sends it.
    let request = t.node.request("sts");
    let sent: Value = serde_json::from_str(request.lines().next().unwrap()).unwrap();
    assert_eq!(sent["serviceAccountToken"], sa_token(&[AUDIENCE, "other"]));
    assert_eq!(
        sent["serviceAccountAnnotations"],
        serde_json::json!({"example.com/role": "arn:role/builder", "example.com/region": "eu"})
    );
    assert_eq!(sent["image"], format!("{}/shop/app0", t.node.reg.host()));
    let (code, _) = only_warning(&by_reference(&r, &t.node.image(1)));
    assert_eq!(code, "credential-provider-annotation-missing");
    let (code, _) = only_warning(&by_reference(&r, &t.node.image(2)));
    assert_eq!(code, "credential-provider-token-unavailable");
    assert_eq!(t.node.runs("sts"), 1);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);

    // A token of another audience is not sent.
    let other = t.token_file(&["other"]);
    let r = t.check(&[
        "--image-credential-provider-token",
        &format!("shop/builder={}", other.display()),
    ]);
    let (code, message) = only_warning(&by_reference(&r, &t.node.image(0)));
    assert_eq!(code, "credential-provider-token-unavailable");
    assert!(
        message.contains(&format!(
            "the token given for ServiceAccount shop/builder is for the audience \"other\", not \"{AUDIENCE}\""
        )),
        "{message}"
    );
    assert_eq!(t.node.runs("sts"), 1);

    // Never printed: every format, trace logging, and `images` given the token.
    for format in ["human", "json", "junit", "gitlab", "sarif"] {
        let mut cmd = preflight();
        cmd.args(["-vvv", "check", "-o", format, "--ca-file"])
            .arg(&t.node.pki.ca.pem_path)
            .arg("-f")
            .arg(&t.manifests)
            .args(t.node.flags(&t.config))
            .args(["--image-credential-provider-token", &flag]);
        let r = run_cmd(&mut cmd);
        assert_eq!(r.code, 1, "{format}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains("TRACE"), "trace logging was on");
        for out in [&r.stdout, &r.stderr] {
            assert!(!out.contains(TOKEN_CANARY), "{format}: leaked:\n{out}");
            assert!(
                !out.contains(&sa_token(&[AUDIENCE, "other"])),
                "{format}: leaked"
            );
            assert!(!out.contains(PASSWORD), "{format}: leaked:\n{out}");
        }
    }
    let mut cmd = preflight();
    cmd.args(["-vvv", "images", "-o", "json", "-f"])
        .arg(&t.manifests)
        .args(t.node.flags(&t.config))
        .args(["--image-credential-provider-token", &flag]);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    // With a token, nothing is missing for builder: `check` would run the plugin.
    assert!(
        warnings(&by_reference(&r, &t.node.image(0))).is_empty(),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(TOKEN_CANARY) && !r.stderr.contains(TOKEN_CANARY));
}

/// The kubelet refuses an answer whose password is the token it sent unless `cacheType` is
/// `Token`; a plugin that fails with the token fails for that service account, and the error
/// never shows the token.
#[test]
fn a_token_echoed_as_password_needs_cache_type_token() {
    let echo = |node_dir: &str| {
        format!(
            "token=$(sed 's/.*\"serviceAccountToken\":\"\\([^\"]*\\)\".*/\\1/' {node_dir}/sts.request | head -n 1)\nhost=$(sed 's/.*\"image\":\"\\([^/\"]*\\)\\/.*/\\1/' {node_dir}/sts.request | head -n 1)\nprintf '{{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"{V1}\",\"cacheKeyType\":\"Registry\",\"auth\":{{\"%s\":{{\"username\":\"deployer\",\"password\":\"%s\"}}}}}}\\n' \"$host\" \"$token\"\necho \"failed for token $token\" >&2"
        )
    };
    for (cache_type, code) in [
        ("ServiceAccount", "credential-provider-invalid-response"),
        ("Token", "auth-rejected"),
    ] {
        let probe = TokenNode::new(cache_type, Some("exit 0"));
        let dir = probe.node.dir.path().display().to_string();
        probe.node.plugin("sts", &echo(&dir));
        let token = probe.token_file(&[AUDIENCE]);
        let r = probe.check(&[
            "--image-credential-provider-token",
            &format!("shop/builder={}", token.display()),
        ]);
        let image = by_reference(&r, &probe.node.image(0));
        assert_eq!(probe.node.runs("sts"), 1, "{cache_type}");
        if code == "auth-rejected" {
            // Accepted as the credential: the registry refuses the token as a password.
            assert_eq!(image["diagnosis"]["code"], "auth-rejected", "{image}");
            assert!(warnings(&image).is_empty(), "{image}");
        } else {
            assert_eq!(image["diagnosis"]["code"], "auth-required", "{image}");
            let (found, message) = only_warning(&image);
            assert_eq!(found, code);
            assert!(
                message.contains("returned the service account token itself as a password"),
                "{message}"
            );
        }
        assert!(
            !r.stdout.contains(TOKEN_CANARY) && !r.stderr.contains(TOKEN_CANARY),
            "{cache_type}"
        );
    }
    // A plugin that fails and prints the token on stderr: the first line of stderr is shown,
    // as for any plugin; the token is not.
    let t = TokenNode::new("ServiceAccount", Some("exit 0"));
    let dir = t.node.dir.path().display().to_string();
    t.node.plugin(
        "sts",
        &format!("sed 's/.*\"serviceAccountToken\":\"\\([^\"]*\\)\".*/token \\1 refused/' {dir}/sts.request >&2\nexit 1"),
    );
    let token = t.token_file(&[AUDIENCE]);
    let r = t.check(&[
        "--image-credential-provider-token",
        &format!("shop/builder={}", token.display()),
    ]);
    let (code, _) = only_warning(&by_reference(&r, &t.node.image(0)));
    assert_eq!(code, "credential-provider-failed");
    assert!(
        !r.stdout.contains(TOKEN_CANARY) && !r.stderr.contains(TOKEN_CANARY),
        "{}",
        r.stdout
    );
}

/// Bad token flags exit 2, naming the flag and the file, never the token.
#[test]
fn token_flag_errors_exit_2_without_the_token() {
    let t = TokenNode::new("ServiceAccount", None);
    let not_jwt = t.node.dir.path().join("not-a-jwt");
    std::fs::write(&not_jwt, TOKEN_CANARY).unwrap();
    for (flag, says) in [
        (
            format!("shop/builder={}", not_jwt.display()),
            format!(
                "--image-credential-provider-token shop/builder={}: the token is not a JWT (it is not three parts separated by '.')",
                not_jwt.display()
            ),
        ),
        (
            format!("builder={}", not_jwt.display()),
            "\"builder\" is not NAMESPACE/NAME".to_owned(),
        ),
        (
            "shop/builder".to_owned(),
            "expected NAMESPACE/NAME=FILE".to_owned(),
        ),
        (
            "shop/builder=/nonexistent/token".to_owned(),
            "cannot read /nonexistent/token".to_owned(),
        ),
    ] {
        let r = t.check(&["--image-credential-provider-token", &flag]);
        assert_eq!(r.code, 2, "{flag}: {}\n{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(&says), "{flag}: {}", r.stderr);
        assert!(!r.stderr.contains(TOKEN_CANARY), "{}", r.stderr);
    }
    let mut cmd = preflight();
    cmd.args(["images", "-f"])
        .arg(&t.manifests)
        .args(["--image-credential-provider-token", "shop/builder=/x"]);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("--image-credential-provider-token needs --image-credential-provider-config"),
        "{}",
        r.stderr
    );
}

/// `explain` predicts the token plugin for the pod's own service account, from the
/// `ServiceAccount` in kubectl's output, and runs it with a token given for it.
#[test]
fn explain_asks_a_token_plugin_with_the_pods_service_account() {
    let t = TokenNode::new("ServiceAccount", None);
    let image = t.node.image(0);
    let message = format!(
        "rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": pulling from host {} failed with status code [manifests v1]: 401 Unauthorized",
        t.node.reg.host()
    );
    let pods = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "builder", "namespace": "shop",
                      "annotations": {"example.com/role": "arn:role/builder"}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "web-1", "namespace": "shop"},
         "spec": {"serviceAccountName": "builder", "containers": [{"name": "app", "image": image}]},
         "status": {"containerStatuses": [{"name": "app", "image": image,
            "state": {"waiting": {"reason": "ErrImagePull", "message": message}}}]}}
    ]});
    let file = t.node.dir.path().join("pods.json");
    std::fs::write(&file, pods.to_string()).unwrap();
    // The token the node's plugin expects (see `TokenNode`).
    let token = t.token_file(&[AUDIENCE, "other"]);
    let explain = |with_token: bool| {
        let mut cmd = preflight();
        cmd.args(["explain", "-o", "json", "--ca-file"])
            .arg(&t.node.pki.ca.pem_path)
            .arg("-f")
            .arg(&file)
            .args(t.node.flags(&t.config));
        if with_token {
            cmd.arg("--image-credential-provider-token")
                .arg(format!("shop/builder={}", token.display()));
        }
        run_cmd(&mut cmd)
    };
    let without = explain(false);
    assert_eq!(without.code, 1, "{}\n{}", without.stdout, without.stderr);
    let c = &without.json()["containers"][0];
    assert_eq!(c["verdict"], "still-failing", "{c}");
    assert!(
        without
            .stdout
            .contains("credential-provider-token-unavailable")
            && without.stdout.contains("ServiceAccount shop/builder"),
        "{}",
        without.stdout
    );
    assert_eq!(t.node.runs("sts"), 0);

    let with = explain(true);
    assert_eq!(with.code, 0, "{}\n{}", with.stdout, with.stderr);
    let c = &with.json()["containers"][0];
    assert_eq!(c["verdict"], "now-pullable", "{c}");
    assert_eq!(t.node.runs("sts"), 1);
    assert!(!with.stdout.contains(TOKEN_CANARY) && !with.stderr.contains(TOKEN_CANARY));
}
