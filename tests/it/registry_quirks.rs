//! Registries that behave as real ones do in the wild but the CNCF registry cannot be made to:
//! per-repository authentication, `OAuth2` errors, redirects, short-lived tokens, 403s. In-process
//! fakes; each case asserts the exact code, and what reached which server.

use std::sync::{Arc, Mutex};

use crate::common::{check, expect_code, expect_pullable, path_str, write_config};
use crate::support::fake::{
    DIGEST, FakeRequest, FakeResponse, FakeServer, blob_ok, challenge, image_ok, manifest_ok,
    v2_ok, v2_or_image,
};
use crate::support::pki::Pki;

/// A token endpoint answering with `respond`, on plain HTTP.
fn token_server(
    respond: impl Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static,
) -> FakeServer {
    FakeServer::plain(respond)
}

/// A registry that allows `/v2/` anonymously but wants a token per repository (as Quay does).
fn per_repository_registry(realm: String) -> FakeServer {
    FakeServer::plain(move |req| {
        if req.path == "/v2/" {
            return v2_ok();
        }
        match req.header("authorization") {
            Some("Bearer per-repo-token") => image_ok(req),
            _ => challenge(format!(
                r#"Bearer realm="{realm}",service="quay-like",scope="repository:team/app:pull""#
            )),
        }
    })
}

#[test]
fn authentication_asked_only_per_repository_is_followed() {
    let tokens = token_server(|_| {
        FakeResponse::new(200)
            .json(serde_json::json!({"token": "per-repo-token", "expires_in": 300}))
    });
    let realm = format!("{}/token", tokens.base_url());
    let reg = per_repository_registry(realm);
    let host = reg.host();
    let report = expect_pullable(&["--plain-http", &host, &format!("{host}/team/app:v1")]);
    assert_eq!(report["images"][0]["digest"], DIGEST);
    let stages: Vec<&str> = report["images"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["dns", "tcp", "ping", "auth", "auth", "manifest", "blobs"]
    );
    assert_eq!(tokens.requests().len(), 1);
}

#[test]
fn short_lived_tokens_do_not_loop() {
    let tokens = token_server(|_| {
        FakeResponse::new(200).json(serde_json::json!({"token": "per-repo-token", "expires_in": 1}))
    });
    let realm = format!("{}/token", tokens.base_url());
    let reg = per_repository_registry(realm);
    let host = reg.host();
    let images: Vec<String> = (0..5).map(|i| format!("{host}/team/app:v{i}")).collect();
    let mut args = vec!["--plain-http", host.as_str()];
    args.extend(images.iter().map(String::as_str));
    expect_pullable(&args);
    let n = tokens.requests().len();
    assert!((1..=5).contains(&n), "{n} token requests for 5 images");
}

/// A TLS registry whose `/v2/` asks for a token from `realm`.
fn token_registry(pki: &Pki, realm: String) -> FakeServer {
    FakeServer::tls(&pki.server, move |req| {
        if req.header("authorization").is_some() {
            return v2_or_image(req);
        }
        challenge(format!(r#"Bearer realm="{realm}",service="reg""#))
    })
}

#[test]
fn a_refused_identity_token_is_auth_rejected() {
    let pki = Pki::new();
    let realm = FakeServer::tls(&pki.server, |_| {
        FakeResponse::new(400).json(serde_json::json!({"error": "invalid_grant", "error_description": "refresh token expired"}))
    });
    let reg = token_registry(&pki, format!("https://{}/token", realm.host()));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &serde_json::json!({"auths": {reg.host(): {"identitytoken": "old-refresh"}}}),
    );
    let image = expect_code(
        &[
            "--ca-file",
            path_str(&pki.ca.pem_path),
            "--docker-config",
            path_str(&config),
            &format!("{}/team/app:v1", reg.host()),
        ],
        "auth-rejected",
    );
    assert!(
        image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("refresh token expired")
    );
}

#[test]
fn a_refresh_token_does_not_follow_a_redirect_to_another_host() {
    let pki = Pki::new();
    let elsewhere =
        FakeServer::plain(|_| FakeResponse::new(200).json(serde_json::json!({"token": "stolen"})));
    let target = format!("{}/steal", elsewhere.base_url());
    let realm = FakeServer::tls(&pki.server, move |_| {
        FakeResponse::new(307).header("location", &target)
    });
    let reg = token_registry(&pki, format!("https://{}/token", realm.host()));
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &serde_json::json!({"auths": {reg.host(): {"identitytoken": "CANARY-refresh"}}}),
    );
    let image = expect_code(
        &[
            "--ca-file",
            path_str(&pki.ca.pem_path),
            "--docker-config",
            path_str(&config),
            &format!("{}/team/app:v1", reg.host()),
        ],
        "auth-server-error",
    );
    assert!(
        image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("redirect")
    );
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.requests()
    );
}

#[test]
fn a_token_service_failure_is_not_remembered_by_a_long_lived_checker() {
    let failing = Arc::new(Mutex::new(true));
    let flag = Arc::clone(&failing);
    let pki = Pki::new();
    let realm = FakeServer::tls(&pki.server, move |_| {
        if *flag.lock().unwrap() {
            FakeResponse::new(500)
        } else {
            FakeResponse::new(200).json(serde_json::json!({"token": "fine", "expires_in": 300}))
        }
    });
    let reg = token_registry(&pki, format!("https://{}/token", realm.host()));
    let image = format!("{}/team/app:v1", reg.host());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let checker = preflight::Checker::builder()
            .ca_file(pki.ca.pem_path.clone())
            .build()
            .unwrap();
        let first = checker.check_one(&image).await;
        assert_eq!(
            first.diagnosis.map(|d| d.code),
            Some(preflight::Code::AuthServerError)
        );
        *failing.lock().unwrap() = false;
        let second = checker.check_one(&image).await;
        assert!(second.pullable, "{:?}", second.diagnosis);
    });
}

#[test]
fn forbidden_answers_are_told_apart() {
    // 403 on /v2/ from something that says it is a registry: an allow-list in front of it.
    let walled = FakeServer::plain(|_| {
        FakeResponse::new(403).header("docker-distribution-api-version", "registry/2.0")
    });
    let host = walled.host();
    let image = expect_code(
        &["--plain-http", &host, &format!("{host}/app:v1")],
        "access-denied",
    );
    assert_eq!(image["diagnosis"]["stage"], "ping");

    // 403 on the manifest, anonymously: credentials are what is missing.
    let private = FakeServer::plain(|req| {
        if req.path == "/v2/" {
            v2_ok()
        } else {
            FakeResponse::new(403)
        }
    });
    let host = private.host();
    let image = expect_code(
        &["--plain-http", &host, &format!("{host}/app:v1")],
        "auth-required",
    );
    assert_eq!(image["diagnosis"]["stage"], "manifest");
}

#[test]
fn a_token_service_rate_limit_keeps_retry_after() {
    let pki = Pki::new();
    let realm = FakeServer::tls(&pki.server, |_| {
        FakeResponse::new(429).header("retry-after", "45")
    });
    let reg = token_registry(&pki, format!("https://{}/token", realm.host()));
    let r = check(&[
        "--ca-file",
        path_str(&pki.ca.pem_path),
        &format!("{}/team/app:v1", reg.host()),
    ]);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("rate-limited"),
        "{}",
        r.stdout
    );
    let image = r.image(0);
    assert_eq!(image["diagnosis"]["stage"], "auth");
    assert!(image["diagnosis"]["hint"].as_str().unwrap().contains("45"));
}

#[test]
fn transient_failures_are_retried_within_the_deadline() {
    let manifest_requests = Arc::new(Mutex::new(0u32));
    let count = Arc::clone(&manifest_requests);
    let flaky = FakeServer::plain(move |req| {
        if req.path == "/v2/" {
            return v2_ok();
        }
        // The blobs, read once the manifest was found, are not what fails here.
        if let Some(blob) = blob_ok(req) {
            return blob;
        }
        let mut n = count.lock().unwrap();
        *n += 1;
        if *n <= 2 {
            FakeResponse::new(503)
        } else {
            manifest_ok()
        }
    });
    let host = flaky.host();
    let report = expect_pullable(&["--plain-http", &host, &format!("{host}/shop/app:v1")]);
    assert_eq!(report["images"][0]["tries"], 3, "{report}");
    assert_eq!(*manifest_requests.lock().unwrap(), 3);

    let down = FakeServer::plain(|req| {
        if req.path == "/v2/" {
            v2_ok()
        } else {
            FakeResponse::new(503)
        }
    });
    let host = down.host();
    let started = std::time::Instant::now();
    let image = expect_code(
        &[
            "--plain-http",
            &host,
            "--timeout",
            "5",
            &format!("{host}/shop/app:v1"),
        ],
        "registry-error",
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(image["tries"], 3);
    // A GET at the default depth, a HEAD at `--depth manifest`: three either way.
    let tries = down
        .requests()
        .iter()
        .filter(|r| r.path_only().contains("/manifests/"))
        .count();
    assert_eq!(tries, 3, "bounded: three tries, no more");
}
