//! The cloud registries' profiles: each test stands in for one registry under its own host name
//! (ECR, ECR Public, Artifact Registry, gcr.io, ACR, GHCR, Quay) or answering like Harbor, on
//! loopback: a DNS server of the test's own answers the name with 127.0.0.1 and the fake presents
//! a certificate for it ([`CLOUD_NAMES`]). Each fake replays the status, headers and body the
//! registry is documented to send, with the source of each shape beside it; each test asserts
//! the exact code, and that the hint names the registry's own tool or console.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::common::{docker_config, expect_code, path_str, run};
use crate::support::dns::DnsServer;
use crate::support::fake::{FakeRequest, FakeResponse, FakeServer, challenge, image_ok};
use crate::support::pki::{CLOUD_NAMES, Pki};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const ECR_PUBLIC: &str = "public.ecr.aws";
const ARTIFACT_REGISTRY: &str = "europe-west1-docker.pkg.dev";
const GCR: &str = "gcr.io";
const ACR: &str = "myregistry.azurecr.io";
const GHCR: &str = "ghcr.io";
const QUAY: &str = "quay.io";
const HARBOR: &str = "harbor.preflight.test";

/// One registry's stand-in, reached by its name through the test's DNS server.
struct Cloud {
    _pki: Pki,
    _dns: DnsServer,
    fake: FakeServer,
    /// `NAME:PORT`, as references and credential keys write it.
    host: String,
    dns_addr: String,
    ca: String,
    dir: TempDir,
}

impl Cloud {
    /// Starts the fake for `name`; `answer` gets each request and the fake's own base URL
    /// (`https://NAME:PORT`), to name its token realm.
    fn start(
        name: &str,
        answer: impl Fn(&FakeRequest, &str) -> FakeResponse + Send + Sync + 'static,
    ) -> Cloud {
        assert!(CLOUD_NAMES.contains(&name), "{name} has no certificate");
        let pki = Pki::new();
        let names: Vec<(&str, IpAddr)> = CLOUD_NAMES.iter().map(|n| (*n, LOCAL)).collect();
        let dns = DnsServer::start(&names);
        let base = Arc::new(OnceLock::<String>::new());
        let seen = Arc::clone(&base);
        let fake = FakeServer::tls(&pki.cloud, move |req| {
            answer(req, seen.get().map_or("", String::as_str))
        });
        let host = format!("{name}:{}", fake.addr.port());
        base.set(format!("https://{host}")).unwrap();
        Cloud {
            dns_addr: dns.addr.to_string(),
            ca: path_str(&pki.ca.pem_path).to_owned(),
            _pki: pki,
            _dns: dns,
            fake,
            host,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Checks `HOST/path` (anonymously, or with `user:password` for the host in a Docker config)
    /// and asserts `code`; returns the image's report.
    fn expect(&self, path: &str, credentials: Option<(&str, &str)>, code: &str) -> Value {
        let image = format!("{}/{path}", self.host);
        let config = credentials.map(|(user, password)| {
            docker_config(self.dir.path(), &[(&self.host, user, password)])
        });
        let mut args = vec!["--dns-server", &self.dns_addr, "--ca-file", &self.ca];
        if let Some(c) = &config {
            args.extend(["--docker-config", path_str(c)]);
        }
        args.push(&image);
        let report = expect_code(&args, code);
        // Everything went to the stand-in: nothing was asked of another host.
        assert!(!self.fake.requests().is_empty());
        report
    }
}

fn hint(report: &Value) -> &str {
    report["diagnosis"]["hint"].as_str().unwrap()
}

fn message(report: &Value) -> &str {
    report["diagnosis"]["message"].as_str().unwrap()
}

fn stage(report: &Value) -> &str {
    report["diagnosis"]["stage"].as_str().unwrap()
}

/// A token endpoint's answer.
fn token(value: &str) -> FakeResponse {
    FakeResponse::new(200).json(json!({"token": value, "expires_in": 300}))
}

/// Whether a token request carries credentials: Basic on a GET, or the password of an `OAuth2`
/// POST (containerd's way).
fn sends_credentials(req: &FakeRequest) -> bool {
    req.header("authorization").is_some() || req.method == "POST"
}

/// The registry's error envelope with one error.
fn errors(status: u16, code: &str, message: &str) -> FakeResponse {
    FakeResponse::new(status)
        .header("docker-distribution-api-version", "registry/2.0")
        .json(json!({"errors": [{"code": code, "message": message}]}))
}

fn is_manifest(req: &FakeRequest) -> bool {
    req.path_only().contains("/manifests/")
}

// ---------------------------------------------------------------------------------------------
// Amazon ECR (private). `/v2/` challenges for Basic; `docker login` stores the user `AWS` and a
// 12-hour token as the password.

/// ECR's `/v2/`: a Basic challenge — ECR's login is HTTP Basic, the user `AWS` and the token of
/// `aws ecr get-login-password` as password (the AWS CLI's documentation of that command), which
/// the ECR credential helper and the kubelet's ecr-credential-provider hand out the same way.
fn ecr_v2(req: &FakeRequest, base: &str) -> Option<FakeResponse> {
    (req.path == "/v2/").then(|| match req.header("authorization") {
        Some(a) if a.starts_with("Basic ") => FakeResponse::new(200)
            .header("docker-distribution-api-version", "registry/2.0")
            .json(json!({})),
        _ => challenge(format!(
            r#"Basic realm="{base}/",service="ecr.amazonaws.com""#
        )),
    })
}

#[test]
fn ecr_missing_repository_is_repository_not_found() {
    let ecr = Cloud::start(ECR, |req, base| {
        if let Some(v2) = ecr_v2(req, base) {
            return v2;
        }
        // ECR names the repository and the account (REGISTRY-FACTS.md, "Cloud registries").
        errors(
            404,
            "NAME_UNKNOWN",
            "The repository with name 'shop/app' does not exist in the registry with id '123456789012'",
        )
    });
    let r = ecr.expect(
        "shop/app:v1",
        Some(("AWS", "ecr-token")),
        "repository-not-found",
    );
    assert!(hint(&r).contains("aws ecr describe-repositories"), "{r}");
}

#[test]
fn ecr_iam_denial_is_access_denied() {
    let ecr = Cloud::start(ECR, |req, base| {
        if let Some(v2) = ecr_v2(req, base) {
            return v2;
        }
        // IAM's refusal is a JSON DENIED naming the action (REGISTRY-FACTS.md).
        errors(
            403,
            "DENIED",
            "User: arn:aws:sts::123456789012:assumed-role/ci/job is not authorized to perform: ecr:BatchGetImage on resource: arn:aws:ecr:us-east-1:123456789012:repository/shop/app",
        )
    });
    let r = ecr.expect("shop/app:v1", Some(("AWS", "ecr-token")), "access-denied");
    assert_eq!(stage(&r), "manifest");
    assert!(hint(&r).contains("ecr:BatchGetImage"), "{r}");
    assert!(hint(&r).contains("aws ecr get-repository-policy"), "{r}");
}

#[test]
fn ecr_expired_token_is_auth_rejected_at_the_manifest() {
    let ecr = Cloud::start(ECR, |req, base| {
        if let Some(v2) = ecr_v2(req, base) {
            return v2;
        }
        if req.header("authorization").is_none() {
            return challenge(format!(
                r#"Basic realm="{base}/",service="ecr.amazonaws.com""#
            ));
        }
        // An expired token: 403 with a JSON string, not an error envelope
        // (awslabs/amazon-ecr-credential-helper#7: "error parsing HTTP 403 response body").
        FakeResponse::new(403)
            .header("content-type", "application/json")
            .body(r#""Your Authorization Token has expired. Please run 'aws ecr get-login' to fetch a new one.""#)
    });
    let r = ecr.expect("shop/app:v1", Some(("AWS", "old-token")), "auth-rejected");
    assert_eq!(stage(&r), "manifest");
    assert!(
        message(&r).contains("Your Authorization Token has expired"),
        "{r}"
    );
    assert!(hint(&r).contains("aws ecr get-login-password"), "{r}");
    // The token itself never shows.
    assert!(!r.to_string().contains("old-token"));
}

// ---------------------------------------------------------------------------------------------
// Amazon ECR Public: anonymous pulls work; a stale login breaks them.

fn ecr_public(
    with_credentials: impl Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static,
) -> Cloud {
    Cloud::start(ECR_PUBLIC, move |req, base| {
        if req.path_only() == "/token" {
            // Basic credentials get the token of the stale login; anyone else an anonymous one.
            return token(if sends_credentials(req) {
                "stale-login-token"
            } else {
                "anonymous-token"
            });
        }
        match req.header("authorization") {
            Some("Bearer anonymous-token") => image_ok(req),
            Some("Bearer stale-login-token") if req.path != "/v2/" => with_credentials(req),
            _ => challenge(format!(
                r#"Bearer realm="{base}/token",service="public.ecr.aws""#
            )),
        }
    })
}

#[test]
fn ecr_public_expired_token_is_auth_rejected_and_anonymous_works() {
    // An expired bearer token: 400 with no challenge (aws/containers-roadmap#2835).
    let ecr = ecr_public(|_| FakeResponse::new(400).json(json!({})));
    let r = ecr.expect("team/app:v1", Some(("AWS", "expired")), "auth-rejected");
    assert_eq!(stage(&r), "manifest");
    assert!(message(&r).contains("anonymously it can be pulled"), "{r}");
    assert!(hint(&r).contains("docker logout public.ecr.aws"), "{r}");
}

#[test]
fn ecr_public_stale_login_403_says_anonymous_works() {
    // A stale login: 403 where an anonymous pull works (awslabs/eksdemo PR#68).
    let ecr = ecr_public(|_| FakeResponse::new(403));
    let r = ecr.expect(
        "team/app:v1",
        Some(("AWS", "stale")),
        "not-found-or-unauthorized",
    );
    assert!(message(&r).contains("anonymously it can be pulled"), "{r}");
    assert!(hint(&r).contains("aws ecr-public describe-images"), "{r}");
}

// ---------------------------------------------------------------------------------------------
// Artifact Registry and gcr.io: a missing repository and a forbidden one are the same DENIED.

fn google(host: &'static str) -> Cloud {
    Cloud::start(host, move |req, base| {
        if req.path_only() == "/v2/token" {
            return token("google-token");
        }
        if req.header("authorization").is_none() {
            return challenge(format!(
                r#"Bearer realm="{base}/v2/token",service="{host}""#
            ));
        }
        // terraform-google-modules/terraform-google-kubernetes-engine#1779: "denied: Permission
        // \"artifactregistry.repositories.downloadArtifacts\" denied on resource … (or it may not
        // exist)".
        errors(
            403,
            "DENIED",
            "Permission \"artifactregistry.repositories.downloadArtifacts\" denied on resource \"projects/shop/locations/europe-west1/repositories/apps\" (or it may not exist)",
        )
    })
}

#[test]
fn artifact_registry_denied_is_not_found_or_unauthorized() {
    for host in [ARTIFACT_REGISTRY, GCR] {
        let g = google(host);
        let r = g.expect("shop/apps/app:v1", None, "not-found-or-unauthorized");
        assert_eq!(stage(&r), "manifest");
        assert!(message(&r).contains("Artifact Registry"), "{r}");
        assert!(
            hint(&r).contains("gcloud artifacts docker images list"),
            "{r}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Azure Container Registry.

fn acr_challenge(base: &str) -> FakeResponse {
    challenge(format!(
        r#"Bearer realm="{base}/oauth2/token",service="{ACR}""#
    ))
}

#[test]
fn acr_missing_repository_is_not_found_or_unauthorized() {
    let acr = Cloud::start(ACR, |req, base| {
        if req.path_only() == "/oauth2/token" {
            return token("acr-token");
        }
        if !is_manifest(req) || req.header("authorization").is_none() {
            return acr_challenge(base);
        }
        // Azure/acr#359, #841: 401 UNAUTHORIZED "authentication required, visit
        // https://aka.ms/acr/authorization" for a repository that does not exist.
        errors(
            401,
            "UNAUTHORIZED",
            "authentication required, visit https://aka.ms/acr/authorization for more information.",
        )
        .header(
            "www-authenticate",
            format!(
                r#"Bearer realm="{base}/oauth2/token",service="{ACR}",scope="repository:shop/app:pull",error="insufficient_scope""#
            ),
        )
    });
    let r = acr.expect("shop/app:v1", None, "not-found-or-unauthorized");
    assert!(message(&r).contains("Azure Container Registry"), "{r}");
    assert!(hint(&r).contains("az acr repository show-tags"), "{r}");
}

/// ACR's firewall refusal (docker/build-push-action#1214, Azure/acr#633).
fn acr_firewall() -> FakeResponse {
    errors(
        403,
        "DENIED",
        "client with IP '203.0.113.7' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.",
    )
}

#[test]
fn acr_firewall_at_v2_is_registry_ip_denied() {
    // docker/build-push-action#1214: `GET /v2/` answered the firewall's DENIED.
    let acr = Cloud::start(ACR, |_, _| acr_firewall());
    let r = acr.expect("shop/app:v1", None, "registry-ip-denied");
    assert_eq!(stage(&r), "ping");
    assert!(message(&r).contains("203.0.113.7"), "{r}");
    assert!(hint(&r).contains("az acr network-rule list"), "{r}");
}

#[test]
fn acr_firewall_in_the_registry_walk_names_the_network_rules() {
    let acr = Cloud::start(ACR, |_, _| acr_firewall());
    let r = run(&[
        "registry",
        "-o",
        "json",
        "--dns-server",
        &acr.dns_addr,
        "--ca-file",
        &acr.ca,
        &acr.host,
    ]);
    let j = r.json();
    assert_eq!(j["diagnosis"]["code"], "registry-ip-denied", "{}", r.stdout);
    assert!(
        j["diagnosis"]["hint"]
            .as_str()
            .unwrap()
            .contains("az acr network-rule list"),
        "{}",
        r.stdout
    );
}

#[test]
fn acr_firewall_at_the_manifest_is_registry_ip_denied() {
    // Azure/acr#633: the manifest HEAD answered the firewall's DENIED.
    let acr = Cloud::start(ACR, |req, base| {
        if req.path_only() == "/oauth2/token" {
            return token("acr-token");
        }
        if !is_manifest(req) || req.header("authorization").is_none() {
            return acr_challenge(base);
        }
        acr_firewall()
    });
    let r = acr.expect("shop/app:v1", None, "registry-ip-denied");
    assert_eq!(stage(&r), "manifest");
    assert!(hint(&r).contains("az acr network-rule list"), "{r}");
}

// ---------------------------------------------------------------------------------------------
// GHCR: the token service refuses a missing package as a private one, and stale credentials
// even for a public one.

fn ghcr() -> Cloud {
    Cloud::start(GHCR, |req, base| {
        if req.path_only() == "/token" {
            let public = req.query().is_some_and(|q| q.contains("public%2Fapp"));
            return if sends_credentials(req) {
                // A stale token: "denied: denied" (groundnuty/k8s-wait-for#70, kcl-lang/cli#67).
                errors(403, "DENIED", "denied")
            } else if public {
                token("anonymous-token")
            } else {
                // A package that does not exist, or is private: the anonymous token is refused
                // with 403 (ai-runway/airunway#89).
                errors(403, "DENIED", "requested access to the resource is denied")
            };
        }
        match req.header("authorization") {
            Some("Bearer anonymous-token") => image_ok(req),
            _ => challenge(format!(r#"Bearer realm="{base}/token",service="ghcr.io""#)),
        }
    })
}

#[test]
fn ghcr_missing_package_is_not_found_or_unauthorized() {
    let r = ghcr().expect("someone/missing:v1", None, "not-found-or-unauthorized");
    assert_eq!(stage(&r), "auth");
    assert!(message(&r).contains("GHCR"), "{r}");
    assert!(hint(&r).contains("package settings"), "{r}");
}

#[test]
fn ghcr_stale_token_on_a_public_package_says_anonymous_works() {
    let r = ghcr().expect(
        "someone/public/app:v1",
        Some(("someone", "ghp_expired")),
        "not-found-or-unauthorized",
    );
    assert!(message(&r).contains("anonymously it can be pulled"), "{r}");
    assert!(hint(&r).contains("GitHub"), "{r}");
    assert!(!r.to_string().contains("ghp_expired"));
}

// ---------------------------------------------------------------------------------------------
// Quay: 401 for a missing repository and a forbidden one alike.

#[test]
fn quay_missing_repository_is_not_found_or_unauthorized() {
    let quay = Cloud::start(QUAY, |req, base| {
        if req.path_only() == "/v2/auth" {
            return token("quay-token");
        }
        if req.path == "/v2/" {
            // genuinetools/reg#198: `/v2/` answers 401 with a JSON error of its own.
            return FakeResponse::new(401)
                .header("docker-distribution-api-version", "registry/2.0")
                .header(
                    "www-authenticate",
                    format!(r#"Bearer realm="{base}/v2/auth",service="quay.io""#),
                )
                .json(json!({"error": "Invalid bearer token format"}));
        }
        // quay/quay PR#1054: 401 for a repository that does not exist, as for a private one.
        errors(401, "UNAUTHORIZED", "access to the requested resource is not authorized")
            .header(
                "www-authenticate",
                format!(
                    r#"Bearer realm="{base}/v2/auth",service="quay.io",scope="repository:team/missing:pull""#
                ),
            )
    });
    let r = quay.expect("team/missing:v1", None, "not-found-or-unauthorized");
    assert!(message(&r).contains("Quay"), "{r}");
    assert!(hint(&r).contains("https://quay.io/repository/"), "{r}");
}

// ---------------------------------------------------------------------------------------------
// Harbor: recognised by its answers on any host.

/// Harbor's headers: its `sid` session cookie (cue-lang/cue#2982).
fn harbor(resp: FakeResponse) -> FakeResponse {
    resp.header(
        "set-cookie",
        "sid=6b7c1fcc5a1b5ebe57855e47e59b994c; Path=/; HttpOnly",
    )
    .header("x-request-id", "47fbdf786a2ae80604d959f6ea855839")
}

#[test]
fn harbor_not_found_tells_a_missing_repository_from_a_missing_tag() {
    let h = Cloud::start(HARBOR, |req, _| {
        if req.path == "/v2/" {
            return harbor(
                FakeResponse::new(200)
                    .header("docker-distribution-api-version", "registry/2.0")
                    .json(json!({})),
            );
        }
        let path = req.path_only();
        if path.starts_with("/v2/project/app/") {
            // The repository exists: its tag list answers, the missing tag is Harbor's
            // NOT_FOUND "artifact … not found" (goharbor/harbor#16515).
            if path.ends_with("/tags/list") {
                return harbor(
                    FakeResponse::new(200).json(json!({"name": "project/app", "tags": ["v1"]})),
                );
            }
            return harbor(errors(
                404,
                "NOT_FOUND",
                "artifact project/app:v2 not found",
            ));
        }
        // A repository that does not exist: NOT_FOUND "repository … not found", for its
        // manifests and its tag list alike (goharbor/harbor#16515, cue-lang/cue#2982).
        harbor(errors(
            404,
            "NOT_FOUND",
            "repository project/missing not found",
        ))
    });
    let r = h.expect("project/missing:v1", None, "repository-not-found");
    assert!(hint(&r).contains("Harbor"), "{r}");
    let r = h.expect("project/app:v2", None, "manifest-unknown");
    assert!(hint(&r).contains("did you mean v1"), "{r}");
    assert!(hint(&r).contains("Harbor"), "{r}");
}

#[test]
fn harbor_500_for_a_missing_project_says_so() {
    let h = Cloud::start(HARBOR, |req, _| {
        if req.path == "/v2/" {
            return harbor(
                FakeResponse::new(200)
                    .header("docker-distribution-api-version", "registry/2.0")
                    .json(json!({})),
            );
        }
        // goharbor/harbor#12010: Harbor before 2.1 answers 500 for an image whose project does
        // not exist.
        harbor(FakeResponse::new(500).body("internal server error"))
    });
    let r = h.expect("app:v1", None, "registry-error");
    assert!(message(&r).contains("project"), "{r}");
    assert!(hint(&r).contains("Harbor"), "{r}");
}
