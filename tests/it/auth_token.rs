//! A TLS registry with token authentication and a token server run by the tests: full rights,
//! rights on some repositories only, anonymous access to a public repository, refresh tokens, a
//! failing token service, and Docker Hub's 401-for-missing behaviour.

use crate::common::{check, docker_config, expect_code, path_str, write_config};
use crate::support::pki::Pki;
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind};
use crate::support::token::{TokenMode, TokenServer};

struct Tokens {
    pki: Pki,
    server: TokenServer,
    reg: Registry,
    dir: tempfile::TempDir,
}

fn tokens() -> Tokens {
    let pki = Pki::new();
    let server = TokenServer::start(&pki);
    let reg = Registry::tls_token(&pki, &server.realm, &server.service, &server.issuer);
    for (repo, kind) in [
        ("team/app", ImageKind::OciIndex),
        ("public/base", ImageKind::OciManifest),
        ("private/secret-app", ImageKind::DockerList),
    ] {
        let auth = seed::bearer_for_push(&pki, &server.service, &server.issuer, repo);
        seed::push(
            &reg.base_url(),
            Some(&auth),
            Some(&pki.ca.pem_path),
            repo,
            "v1",
            kind,
        );
    }
    Tokens {
        pki,
        server,
        reg,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Tokens {
    fn run(&self, config: Option<&std::path::Path>, images: &[&str]) -> crate::common::Run {
        let refs: Vec<String> = images
            .iter()
            .map(|i| format!("{}/{i}", self.reg.host()))
            .collect();
        let mut a = vec!["--ca-file", path_str(&self.pki.ca.pem_path)];
        if let Some(c) = config {
            a.extend(["--docker-config", path_str(c)]);
        }
        a.extend(refs.iter().map(String::as_str));
        check(&a)
    }

    fn config(&self, user: &str, password: &str) -> std::path::PathBuf {
        docker_config(self.dir.path(), &[(&self.reg.host(), user, password)])
    }
}

#[test]
fn full_rights_pull_everything_with_one_token_per_repository() {
    let t = tokens();
    let config = t.config("admin", "admin-pass");
    let r = t.run(
        Some(&config),
        &[
            "team/app:v1",
            "private/secret-app:v1",
            "team/app:v2",
            "team/app",
        ],
    );
    let j = r.json();
    assert_eq!(r.code_of(0), None, "{}", r.stdout);
    assert_eq!(r.code_of(1), None, "{}", r.stdout);
    assert_eq!(r.code_of(2).as_deref(), Some("manifest-unknown"));
    assert_eq!(
        r.code_of(3).as_deref(),
        Some("manifest-unknown"),
        "latest was never pushed"
    );
    assert_eq!(
        j["images"][0]["media_type"],
        "application/vnd.oci.image.index.v1+json"
    );
    assert!(
        j["images"][0]["credential"]
            .as_str()
            .unwrap()
            .contains("docker-config")
    );
    let token_requests = t.server.requests();
    // With a password, containerd (the default runtime) asks with an OAuth2 POST: the scope is
    // in the form.
    let for_team: Vec<_> = token_requests
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("repository%3Ateam%2Fapp%3Apull"))
        .collect();
    assert_eq!(
        for_team.len(),
        1,
        "one token for team/app shared by three images: {token_requests:?}"
    );
    assert_eq!(for_team[0].method, "POST");
    assert!(String::from_utf8_lossy(&for_team[0].body).starts_with("grant_type=password&"));
}

#[test]
fn limited_rights_pull_only_their_repositories() {
    let t = tokens();
    let config = t.config("limited", "limited-pass");
    let r = t.run(Some(&config), &["team/app:v1", "private/secret-app:v1"]);
    assert_eq!(r.code_of(0), None, "{}", r.stdout);
    assert_eq!(
        r.code_of(1).as_deref(),
        Some("access-denied"),
        "{}",
        r.stdout
    );
    let d = &r.image(1)["diagnosis"];
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("granted no pull access"),
        "{d}"
    );
}

#[test]
fn anonymous_pulls_public_and_needs_credentials_elsewhere() {
    let t = tokens();
    let r = t.run(None, &["public/base:v1", "team/app:v1"]);
    assert_eq!(r.code_of(0), None, "{}", r.stdout);
    assert!(r.image(0)["credential"].is_null());
    assert_eq!(
        r.code_of(1).as_deref(),
        Some("auth-required"),
        "{}",
        r.stdout
    );
    assert_eq!(r.image(1)["diagnosis"]["stage"], "auth");
}

#[test]
fn wrong_password_is_auth_rejected_by_the_token_service() {
    let t = tokens();
    let config = t.config("admin", "not-the-password");
    let r = t.run(Some(&config), &["team/app:v1"]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("auth-rejected"),
        "{}",
        r.stdout
    );
    assert_eq!(r.image(0)["diagnosis"]["stage"], "auth");
}

#[test]
fn an_identity_token_is_exchanged_with_a_post() {
    let t = tokens();
    let good = write_config(
        t.dir.path(),
        &serde_json::json!({ "auths": { t.reg.host(): { "auth": "YWRtaW46", "identitytoken": "admin-refresh-token" } } }),
    );
    let r = t.run(Some(&good), &["private/secret-app:v1"]);
    assert_eq!(r.code_of(0), None, "{}\n{}", r.stdout, r.stderr);
    assert!(t.server.requests().iter().any(|r| r.method == "POST"));

    let bad_dir = tempfile::tempdir().unwrap();
    let bad = write_config(
        bad_dir.path(),
        &serde_json::json!({ "auths": { t.reg.host(): { "identitytoken": "expired-refresh-token" } } }),
    );
    let r = t.run(Some(&bad), &["private/secret-app:v1"]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("auth-rejected"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_failing_token_service_is_auth_server_error() {
    let t = tokens();
    t.server.set_mode(TokenMode::Fail500);
    let r = t.run(None, &["public/base:v1"]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("auth-server-error"),
        "{}",
        r.stdout
    );

    t.server.set_mode(TokenMode::Garbage);
    let r = t.run(None, &["public/base:v1"]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("auth-server-error"),
        "{}",
        r.stdout
    );
}

#[test]
fn an_unreachable_token_service_is_auth_server_error() {
    let pki = Pki::new();
    let port = crate::support::net::refused_port();
    let realm = format!("https://127.0.0.1:{port}/token");
    let reg = Registry::tls_token(
        &pki,
        &realm,
        "preflight-test-registry",
        "preflight-test-issuer",
    );
    let image = expect_code(
        &[
            "--ca-file",
            path_str(&pki.ca.pem_path),
            "--timeout",
            "5",
            &format!("{}/team/app:v1", reg.host()),
        ],
        "auth-server-error",
    );
    assert!(
        image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached")
    );
}

#[test]
fn docker_hub_hides_a_missing_repository_behind_401() {
    // The token registry stands in for registry-1.docker.io: like Hub, it answers 401
    // insufficient_scope for a repository the caller may not see, whether or not it exists.
    let t = tokens();
    let r = check(&[
        "--ca-file",
        path_str(&t.pki.ca.pem_path),
        "--docker-hub-registry",
        &t.reg.host(),
        "docker.io/someone/does-not-exist:v1",
        "public/base:v1",
    ]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("not-found-or-unauthorized"),
        "{}",
        r.stdout
    );
    let image = r.image(0);
    assert_eq!(image["registry"], "docker.io");
    assert_eq!(image["canonical"], "docker.io/someone/does-not-exist:v1");
    assert_eq!(
        r.code_of(1),
        None,
        "Hub's public/base pulls anonymously: {}",
        r.stdout
    );
}

#[test]
fn docker_hub_401_with_credentials_is_compared_with_anonymous() {
    let t = tokens();
    let config = docker_config(
        t.dir.path(),
        &[("https://index.docker.io/v1/", "limited", "limited-pass")],
    );
    let r = check(&[
        "--ca-file",
        path_str(&t.pki.ca.pem_path),
        "--docker-hub-registry",
        &t.reg.host(),
        "--docker-config",
        path_str(&config),
        "docker.io/someone/does-not-exist:v1",
    ]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("not-found-or-unauthorized"),
        "{}",
        r.stdout
    );
    let image = r.image(0);
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains("with the credentials used") && message.contains("anonymously too"),
        "{message}"
    );
    assert!(
        image["credential"]
            .as_str()
            .unwrap()
            .contains("index.docker.io")
    );
}
