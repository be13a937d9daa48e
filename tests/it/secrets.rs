//! Credentials never appear in any output, at any log level, and go only where they belong.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::common::{docker_config, path_str, preflight, run_cmd, write_config};
use crate::support::fake::{
    FakeResponse, FakeServer, challenge, image_ok, manifest_ok, v2_ok, v2_or_image,
};
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

/// Every report format `check -o` has.
const FORMATS: [&str; 5] = ["human", "json", "junit", "gitlab", "sarif"];

/// stdout and stderr of `check -o FORMAT ARGS…` at trace level (`-vvv`; the canary test below
/// uses `RUST_LOG=trace`), for every format in [`FORMATS`] order (so `[2]` is the JSON report).
fn every_output(args: &[&str]) -> Vec<String> {
    let mut outs = Vec::new();
    for format in FORMATS {
        let mut cmd = preflight();
        cmd.args(["-vvv", "check", "-o", format]).args(args);
        let r = run_cmd(&mut cmd);
        assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
        assert!(r.stderr.contains("TRACE"), "trace logging was on");
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
        assert!(!req.as_text().contains(CANARY), "{req:?}");
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

/// Where the canary may go, and where it must not, with fakes that record what they receive:
///
/// - `reg` asks for a token from `realm`, a plain-HTTP token service whose host *is* configured
///   with `--plain-http`: the credentials go there, and the token it grants (itself a canary)
///   goes to `reg`. `reg` redirects one manifest to `elsewhere`, another host.
/// - `reg2` asks for a token from `foreign`, plain HTTP and not configured: anonymous only.
///   `reg2` is named `localhost:PORT`, so `foreign` (on 127.0.0.1) is not on its host: a realm
///   beside its own plain-HTTP registry would get the credentials, as the node's runtime sends
///   them.
/// - `reg3` asks for Basic credentials itself.
struct Scoped {
    reg: FakeServer,
    realm: FakeServer,
    elsewhere: FakeServer,
    reg2: FakeServer,
    foreign: FakeServer,
    reg3: FakeServer,
}

const USER: &str = "deployer";
/// What `realm` grants for the canary credentials; must be no more visible than they are.
const TOKEN_CANARY: &str = "CANARY-token-b81c";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn basic_canary() -> String {
    format!("Basic {}", b64(&format!("{USER}:{CANARY}")))
}

fn bearer_challenge(realm: &str) -> FakeResponse {
    challenge(format!(r#"Bearer realm="{realm}/token",service="reg""#))
}

impl Scoped {
    fn start() -> Scoped {
        let elsewhere = FakeServer::plain(|_| manifest_ok());
        let realm = FakeServer::plain(|req| {
            if req.header("authorization") == Some(basic_canary().as_str()) {
                FakeResponse::new(200)
                    .json(serde_json::json!({"token": TOKEN_CANARY, "expires_in": 300}))
            } else {
                FakeResponse::new(401)
            }
        });
        let (realm_url, target) = (realm.base_url(), elsewhere.base_url());
        let reg = FakeServer::plain(move |req| {
            let bearer = format!("Bearer {TOKEN_CANARY}");
            if req.header("authorization") != Some(bearer.as_str()) {
                return bearer_challenge(&realm_url);
            }
            match req.path_only() {
                "/v2/" => v2_ok(),
                "/v2/team/moved/manifests/v1" => {
                    FakeResponse::new(307).header("location", format!("{target}{}", req.path))
                }
                _ => image_ok(req),
            }
        });
        let foreign = FakeServer::plain(|_| {
            FakeResponse::new(200)
                .json(serde_json::json!({"token": "anonymous-token", "expires_in": 300}))
        });
        let foreign_url = foreign.base_url();
        let reg2 = FakeServer::plain(move |req| match req.header("authorization") {
            Some("Bearer anonymous-token") => v2_or_image(req),
            _ => bearer_challenge(&foreign_url),
        });
        let reg3 = FakeServer::plain(|req| {
            if req.header("authorization") != Some(basic_canary().as_str()) {
                return challenge(r#"Basic realm="reg3""#);
            }
            v2_or_image(req)
        });
        Scoped {
            reg,
            realm,
            elsewhere,
            reg2,
            foreign,
            reg3,
        }
    }

    /// The images, in report order, with the code each must end with.
    fn images(&self) -> Vec<(String, Option<&'static str>)> {
        vec![
            (format!("{}/team/app:v1", self.reg.host()), None),
            (
                format!("{}/team/moved:v1", self.reg.host()),
                Some("registry-error"),
            ),
            (format!("{}/team/app:v1", self.reg2_name()), None),
            (format!("{}/team/app:v1", self.reg3.host()), None),
        ]
    }

    /// `reg2` by the name `localhost`, another host than its realm's 127.0.0.1.
    fn reg2_name(&self) -> String {
        format!("localhost:{}", self.reg2.addr.port())
    }

    /// `--plain-http` for the registries and the one realm that may have the credentials.
    fn plain_http(&self) -> Vec<String> {
        [&self.reg, &self.realm, &self.reg3]
            .iter()
            .map(|f| f.host())
            .chain([self.reg2_name()])
            .flat_map(|h| ["--plain-http".to_owned(), h])
            .collect()
    }

    /// `{"auths": …}` with the canary for each registry.
    fn auths(&self) -> serde_json::Value {
        let auth = b64(&format!("{USER}:{CANARY}"));
        let mut auths = serde_json::Map::new();
        for reg in [self.reg.host(), self.reg2_name(), self.reg3.host()] {
            auths.insert(reg, serde_json::json!({ "auth": auth }));
        }
        serde_json::json!({ "auths": auths })
    }

    /// A Deployment with every image, naming the pull Secret `regcred` when `secret` is given,
    /// and that Secret.
    fn manifests(&self, secret: Option<&str>) -> String {
        let mut yaml = String::from(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\n  namespace: shop\nspec:\n  template:\n    spec:\n",
        );
        if secret.is_some() {
            yaml.push_str("      imagePullSecrets:\n        - name: regcred\n");
        }
        yaml.push_str("      containers:\n");
        for (i, (image, _)) in self.images().iter().enumerate() {
            let _ = writeln!(yaml, "        - name: c{i}\n          image: {image}");
        }
        if let Some(data) = secret {
            let _ = write!(
                yaml,
                "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\n  namespace: shop\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {data}\n"
            );
        }
        yaml
    }
}

#[test]
fn a_canary_credential_reaches_only_its_registries_and_realm_and_no_output() {
    let fakes = Scoped::start();
    let dir = tempfile::tempdir().unwrap();
    let plain = fakes.plain_http();
    let plain: Vec<&str> = plain.iter().map(String::as_str).collect();
    let images = fakes.images();
    let auths = fakes.auths();

    // Source 1: --docker-config, images on the command line.
    let config = write_config(dir.path(), &auths);
    let mut by_config = plain.clone();
    by_config.extend(["--docker-config", path_str(&config)]);
    by_config.extend(images.iter().map(|(i, _)| i.as_str()));

    // Source 2: a pull Secret in the manifests, named by the pod.
    let secret_data = b64(&auths.to_string());
    let with_secret = dir.path().join("with-secret.yaml");
    std::fs::write(&with_secret, fakes.manifests(Some(&secret_data))).unwrap();
    let mut by_secret = plain.clone();
    by_secret.extend(["-f", path_str(&with_secret)]);

    // Source 3: the CI job's DOCKER_AUTH_CONFIG, for the manifests' images.
    let bare = dir.path().join("bare.yaml");
    std::fs::write(&bare, fakes.manifests(None)).unwrap();
    let mut by_ci = plain.clone();
    by_ci.extend(["--credentials", "ci", "-f", path_str(&bare)]);

    let forms = [
        CANARY.to_owned(),
        b64(&format!("{USER}:{CANARY}")),
        TOKEN_CANARY.to_owned(),
        secret_data.clone(),
    ];
    let forms: Vec<&str> = forms.iter().map(String::as_str).collect();
    for (source, args, env) in [
        ("--docker-config", &by_config, None),
        ("pull secret", &by_secret, None),
        ("DOCKER_AUTH_CONFIG", &by_ci, Some(auths.to_string())),
    ] {
        for format in FORMATS {
            let mut cmd = preflight();
            cmd.env("RUST_LOG", "trace")
                .args(["check", "-o", format])
                .args(args.iter());
            if let Some(value) = &env {
                cmd.env("DOCKER_AUTH_CONFIG", value);
            }
            let r = run_cmd(&mut cmd);
            assert_eq!(
                r.code, 1,
                "{source}, -o {format}: only the redirected image fails\n{}\n{}",
                r.stdout, r.stderr
            );
            assert!(r.stderr.contains("TRACE"), "trace logging was on");
            if format == "json" {
                for (i, (image, code)) in images.iter().enumerate() {
                    assert_eq!(
                        r.code_of(i).as_deref(),
                        *code,
                        "{source}: {image}\n{}",
                        r.stdout
                    );
                    let credential = r.image(i)["credential"].clone();
                    assert!(
                        credential.is_string() || i == 2,
                        "{source}: {image} used the credentials: {credential}"
                    );
                }
            }
            for (name, out) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
                for form in &forms {
                    assert!(
                        !out.contains(form),
                        "{source}, -o {format}: {form:?} in {name}:\n{out}"
                    );
                }
            }
        }
    }

    // Where the credentials went: to the realm configured for plain HTTP and to the Basic
    // registry, and the token only to the registry it was granted for…
    let has = |fake: &FakeServer, value: &str| {
        fake.requests()
            .iter()
            .any(|r| r.header("authorization") == Some(value))
    };
    assert!(has(&fakes.realm, &basic_canary()), "the realm got them");
    assert!(
        has(&fakes.reg3, &basic_canary()),
        "the Basic registry got them"
    );
    assert!(has(&fakes.reg, &format!("Bearer {TOKEN_CANARY}")));
    // …and nowhere else: not to the unconfigured plain-HTTP realm, not to the redirect target,
    // not as Basic to registries that asked for tokens.
    assert!(
        fakes.elsewhere.requests().is_empty(),
        "a redirect to another host was followed: {:?}",
        fakes.elsewhere.requests()
    );
    for (name, fake) in [
        ("foreign realm", &fakes.foreign),
        ("token registry", &fakes.reg),
        ("second token registry", &fakes.reg2),
    ] {
        let requests = fake.requests();
        assert!(!requests.is_empty(), "{name} was asked");
        for req in requests {
            let seen = req.as_text();
            for form in &forms[..2] {
                assert!(!seen.contains(form), "{name} received {form:?}: {seen}");
            }
            if name != "token registry" {
                assert!(!seen.contains(TOKEN_CANARY), "{name}: {seen}");
            }
        }
    }
    for req in fakes.foreign.requests() {
        assert!(req.header("authorization").is_none(), "{req:?}");
    }
}
