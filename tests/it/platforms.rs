//! `--platform`: an index must hold a manifest for each required platform; Docker Hub indexes are
//! read only with `--allow-hub-pulls`, and the pulls spent are counted.

use crate::common::{check, expect_code, expect_pullable, path_str};
use crate::support::fake::{FakeResponse, FakeServer, challenge};
use crate::support::pki::Pki;
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind};

fn seeded() -> (Registry, String, String, String) {
    let reg = Registry::plain();
    seed::push(
        &reg.base_url(),
        None,
        None,
        "shop/index",
        "v1",
        ImageKind::OciIndex,
    );
    seed::push(
        &reg.base_url(),
        None,
        None,
        "shop/list",
        "v1",
        ImageKind::DockerList,
    );
    seed::push(
        &reg.base_url(),
        None,
        None,
        "shop/single",
        "v1",
        ImageKind::OciManifest,
    );
    let host = reg.host();
    let index = format!("{host}/shop/index:v1");
    let list = format!("{host}/shop/list:v1");
    (reg, host, index, list)
}

#[test]
fn an_index_with_the_platform_is_pullable() {
    let (_reg, host, index, list) = seeded();
    let report = expect_pullable(&[
        "--plain-http",
        &host,
        "--platform",
        "linux/arm64",
        "--platform",
        "linux/amd64",
        &index,
        &list,
    ]);
    for i in 0..2 {
        let stages = report["images"][i]["stages"].as_array().unwrap();
        let names: Vec<&str> = stages
            .iter()
            .map(|s| s["stage"].as_str().unwrap())
            .collect();
        // At the default depth the blobs of both platforms are read after the platform stage.
        assert_eq!(
            names[names.len() - 2..],
            ["platform", "blobs"],
            "{stages:?}"
        );
        let platform = &stages[names.len() - 2];
        assert!(platform["detail"].as_str().unwrap().contains("linux/arm64"));
        assert_eq!(
            report["images"][i]["platforms"],
            serde_json::json!(["linux/arm64", "linux/amd64"])
        );
        assert!(report["images"][i].get("platform_assumed").is_none());
    }
    assert_eq!(report["summary"]["hub_pulls_spent"], 0);
}

#[test]
fn an_index_without_the_platform_is_platform_missing() {
    let (_reg, host, index, _) = seeded();
    let image = expect_code(
        &["--plain-http", &host, "--platform", "linux/s390x", &index],
        "platform-missing",
    );
    assert_eq!(image["diagnosis"]["stage"], "platform");
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains("linux/s390x")
            && message.contains("linux/amd64")
            && message.contains("linux/arm64"),
        "{message}"
    );
}

#[test]
fn a_single_manifest_is_reported_unchecked() {
    let (_reg, host, _, _) = seeded();
    let report = expect_pullable(&[
        "--plain-http",
        &host,
        "--platform",
        "linux/amd64",
        &format!("{host}/shop/single:v1"),
    ]);
    assert_eq!(
        report["images"][0]["warnings"][0]["code"],
        "platform-unchecked"
    );
}

#[test]
fn docker_hub_indexes_are_read_only_when_pulls_are_allowed() {
    let pki = Pki::new();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", "1".repeat(64)), "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", "2".repeat(64)), "size": 1, "platform": {"os": "unknown", "architecture": "unknown"}}
        ]
    })
    .to_string();
    let digest = format!("sha256:{}", "9".repeat(64));
    let hub = FakeServer::tls(&pki.server, move |req| {
        if req.path == "/v2/" {
            return FakeResponse::new(200)
                .header("docker-distribution-api-version", "registry/2.0")
                .json(serde_json::json!({}));
        }
        FakeResponse::new(200)
            .header("content-type", "application/vnd.oci.image.index.v1+json")
            .header("docker-content-digest", &digest)
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", "99;w=21600")
            .body(index.clone().into_bytes())
    });
    let base = [
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "--docker-hub-registry",
    ];
    let mut args: Vec<&str> = base.to_vec();
    let host = hub.host();
    args.extend([
        host.as_str(),
        "--platform",
        "linux/arm64",
        "library/nginx:1.27",
    ]);

    let r = check(&args);
    assert_eq!(r.code, 0, "not checked, so not failed: {}", r.stdout);
    assert_eq!(r.image(0)["warnings"][0]["code"], "platform-unchecked");
    assert!(
        hub.requests()
            .iter()
            .all(|q| q.method != "GET" || q.path == "/v2/"),
        "no manifest GET without --allow-hub-pulls: {:?}",
        hub.requests()
    );
    assert_eq!(r.json()["summary"]["hub_pulls_spent"], 0);

    args.push("--allow-hub-pulls");
    let r = check(&args);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some("platform-missing"),
        "{}",
        r.stdout
    );
    let message = r.image(0)["diagnosis"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("offers linux/amd64") && !message.contains("unknown"),
        "attestations left out: {message}"
    );
    assert_eq!(r.json()["summary"]["hub_pulls_spent"], 1);
    assert_eq!(r.image(0)["hub_pulls"], 1);
}

#[test]
fn a_single_manifests_platform_is_read_from_its_config_when_asked() {
    let (_reg, host, _, _) = seeded();
    let single = format!("{host}/shop/single:v1");
    let report = expect_pullable(&[
        "--plain-http",
        &host,
        "--platform",
        "linux/amd64",
        "--verify-config-platform",
        &single,
    ]);
    let stages: Vec<&str> = report["images"][0]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages[stages.len() - 2..], ["platform", "blobs"]);
    assert!(
        report["images"][0]["warnings"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let image = expect_code(
        &[
            "--plain-http",
            &host,
            "--platform",
            "linux/arm64",
            "--verify-config-platform",
            &single,
        ],
        "platform-missing",
    );
    assert!(
        image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("offers linux/amd64")
    );
}

/// The config of a `linux/arm64/v8` image.
fn arm64_config() -> serde_json::Value {
    serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"})
}

#[test]
fn a_config_blob_redirected_to_storage_is_fetched_without_credentials() {
    let refuse = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refusing = std::sync::Arc::clone(&refuse);
    let storage = FakeServer::plain(move |_| {
        if refusing.load(std::sync::atomic::Ordering::SeqCst) {
            return FakeResponse::new(403).body("signature expired");
        }
        FakeResponse::new(200).json(arm64_config())
    });
    let blob_target = format!("{}/bucket/config?signature=abc", storage.base_url());
    // The config's real digest and size: the default depth verifies its bytes.
    let config_digest = seed::sha256_digest(arm64_config().to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": arm64_config().to_string().len()},
        "layers": []
    })
    .to_string();
    let registry = FakeServer::plain(move |req| {
        if req.header("authorization").is_none() {
            return challenge(r#"Basic realm="test""#);
        }
        if req.path == "/v2/" {
            return FakeResponse::new(200).json(serde_json::json!({}));
        }
        if req.path.contains("/blobs/") {
            return FakeResponse::new(307).header("location", blob_target.clone());
        }
        FakeResponse::new(200)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .header(
                "docker-content-digest",
                format!("sha256:{}", "d".repeat(64)),
            )
            .body(manifest.clone().into_bytes())
    });
    let host = registry.host();
    let dir = tempfile::tempdir().unwrap();
    let config = crate::common::docker_config(dir.path(), &[(&host, "robot", "CANARY-robot-pass")]);
    let image = format!("{host}/shop/app:v1");
    let args = [
        "--plain-http",
        &host,
        "--docker-config",
        path_str(&config),
        "--platform",
        "linux/arm64",
        "--verify-config-platform",
        &image,
    ];
    // The platform stage alone (`--depth manifest`) reads the config once.
    let manifest_depth: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--depth", "manifest"])
        .collect();
    expect_pullable(&manifest_depth);
    let fetched = storage.requests();
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    // At the default depth the blobs stage verifies the config too. It reads it again: the
    // platform stage's read is not shared with it yet, one GET more than a node's pull.
    storage.clear_requests();
    expect_pullable(&args);
    let fetched = storage.requests();
    assert_eq!(fetched.len(), 2, "{fetched:?}");
    assert!(
        fetched.iter().all(|r| r.header("authorization").is_none()),
        "credentials followed the redirect: {fetched:?}"
    );

    // Storage refusing is the registry's problem, named without the URL's signature.
    refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    let failed = expect_code(&args, "registry-error");
    assert_eq!(failed["diagnosis"]["stage"], "platform", "{failed:#}");
    let message = failed["diagnosis"]["message"].as_str().unwrap();
    assert!(message.contains("/bucket/config answered 403"), "{message}");
    assert!(!message.contains("signature"), "{message}");
}
