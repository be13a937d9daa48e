//! `--depth blobs`: what a node's pull reads past the manifest, against the real registry whose
//! storage a test damages (a blob deleted, a config's bytes changed, a platform manifest gone),
//! and a fake registry that redirects blobs to a storage host (what the CNCF registry's
//! filesystem driver cannot do; S3, GCS and Azure-backed registries answer blob GETs with 307).

use std::path::PathBuf;

use crate::common::{expect_code, expect_pullable};
use crate::support::dns::DnsServer;
use crate::support::fake::{FakeRequest, FakeResponse, FakeServer, v2_ok};
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind, Pushed};

/// Where the registry keeps the bytes of blob `digest` (`sha256:…`).
fn blob_data(reg: &Registry, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    reg.dir
        .path()
        .join("storage/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

fn pushed(reg: &Registry, repo: &str, kind: ImageKind) -> (String, Pushed) {
    let p = seed::push(&reg.base_url(), None, None, repo, "v1", kind);
    (format!("{}/{repo}:v1", reg.host()), p)
}

fn blobs_args<'a>(reg: &'a str, image: &'a str) -> [&'a str; 5] {
    ["--depth", "blobs", "--plain-http", reg, image]
}

#[test]
fn a_whole_image_is_pullable_and_the_assumed_platform_is_said() {
    let reg = Registry::plain();
    let host = reg.host();
    for (repo, kind) in [
        ("shop/single", ImageKind::OciManifest),
        ("shop/docker", ImageKind::DockerV2),
        ("shop/multi", ImageKind::OciIndex),
        ("shop/list", ImageKind::DockerList),
    ] {
        let (image, _) = pushed(&reg, repo, kind);
        let report = expect_pullable(&blobs_args(&host, &image));
        let img = &report["images"][0];
        assert_eq!(
            img["platforms"],
            serde_json::json!(["linux/amd64"]),
            "{repo}"
        );
        assert_eq!(img["platform_assumed"], true, "{repo}");
        let stages: Vec<&str> = img["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages.last(), Some(&"blobs"), "{repo}: {stages:?}");
    }
}

#[test]
fn depth_manifest_reads_nothing_past_the_head() {
    let reg = Registry::plain();
    let host = reg.host();
    let (image, p) = pushed(&reg, "shop/app", ImageKind::OciManifest);
    std::fs::remove_file(blob_data(&reg, &p.blobs[1])).unwrap();
    let report = expect_pullable(&["--depth", "manifest", "--plain-http", &host, &image]);
    assert!(report["images"][0].get("platforms").is_none());
}

#[test]
fn a_missing_layer_is_blob_unknown() {
    let reg = Registry::plain();
    let host = reg.host();
    let (image, p) = pushed(&reg, "shop/app", ImageKind::OciManifest);
    let layer = &p.blobs[1];
    std::fs::remove_file(blob_data(&reg, layer)).unwrap();
    let img = expect_code(&blobs_args(&host, &image), "blob-unknown");
    assert_eq!(img["diagnosis"]["stage"], "blobs");
    let message = img["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains(layer.as_str()) && message.contains("layer"),
        "{message}"
    );
}

#[test]
fn a_missing_config_is_blob_unknown() {
    let reg = Registry::plain();
    let host = reg.host();
    let (image, p) = pushed(&reg, "shop/app", ImageKind::OciManifest);
    std::fs::remove_file(blob_data(&reg, &p.blobs[0])).unwrap();
    let img = expect_code(&blobs_args(&host, &image), "blob-unknown");
    assert!(
        img["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("config blob")
    );
}

#[test]
fn a_config_with_other_bytes_is_blob_digest_mismatch() {
    let reg = Registry::plain();
    let host = reg.host();
    let (image, p) = pushed(&reg, "shop/app", ImageKind::OciManifest);
    let path = blob_data(&reg, &p.blobs[0]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let img = expect_code(&blobs_args(&host, &image), "blob-digest-mismatch");
    assert_eq!(img["diagnosis"]["stage"], "blobs");
}

#[test]
fn an_index_without_the_assumed_platform_is_platform_missing() {
    let reg = Registry::plain();
    let host = reg.host();
    let (image, _) = pushed(&reg, "shop/multi", ImageKind::OciIndex);
    // The index offers linux/amd64 and linux/arm64: a node of another platform has nothing.
    let img = expect_code(
        &[
            "--depth",
            "blobs",
            "--platform",
            "linux/s390x",
            "--plain-http",
            &host,
            &image,
        ],
        "platform-missing",
    );
    assert_eq!(img["diagnosis"]["stage"], "platform");
    assert_eq!(img["platform_assumed"], serde_json::Value::Null);
}

#[test]
fn a_platform_manifest_gone_from_storage_is_platform_manifest_missing() {
    let reg = Registry::plain();
    let host = reg.host();
    let (image, p) = pushed(&reg, "shop/multi", ImageKind::OciIndex);
    let amd64 = p
        .children
        .iter()
        .find(|c| c.platform.as_deref() == Some("linux/amd64"))
        .unwrap();
    std::fs::remove_file(blob_data(&reg, &amd64.digest)).unwrap();
    let img = expect_code(&blobs_args(&host, &image), "platform-manifest-missing");
    assert_eq!(img["diagnosis"]["stage"], "platform");
    // The other platform still pulls.
    expect_pullable(&[
        "--depth",
        "blobs",
        "--platform",
        "linux/arm64",
        "--plain-http",
        &host,
        &image,
    ]);
}

/// A registry that serves one image whose blobs it redirects (307) to `storage`, as registries
/// on object storage do (distribution's `storage.redirect`, ECR, GCR, Docker Hub).
fn redirecting_registry(storage: String) -> FakeServer {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = seed::sha256_digest(config);
    let layer_digest = seed::sha256_digest(b"layer");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": 5}],
    })
    .to_string();
    let manifest_digest = seed::sha256_digest(manifest.as_bytes());
    FakeServer::plain(move |req: &FakeRequest| {
        let path = req.path_only();
        if path == "/v2/" {
            v2_ok()
        } else if path.contains("/manifests/") {
            FakeResponse::new(200)
                .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                .header("docker-content-digest", manifest_digest.as_str())
                .body(manifest.clone())
        } else if let Some(digest) = path.rsplit('/').next().filter(|_| path.contains("/blobs/")) {
            FakeResponse::new(307).header(
                "location",
                format!("{storage}/blobs/{digest}?X-Signature=secret-signature"),
            )
        } else {
            FakeResponse::new(404)
        }
    })
}

#[test]
fn blobs_redirected_to_a_storage_host_that_does_not_exist_are_blob_storage_unreachable() {
    let dns = DnsServer::start(&[]);
    let reg = redirecting_registry("http://storage.nx.preflight.test".to_owned());
    let host = reg.host();
    let image = format!("{host}/shop/app:v1");
    let img = expect_code(
        &[
            "--depth",
            "blobs",
            "--dns-server",
            &dns.addr.to_string(),
            "--plain-http",
            &host,
            &image,
        ],
        "blob-storage-unreachable",
    );
    let message = img["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains("http://storage.nx.preflight.test")
            && message.contains("dns stage (dns-nxdomain)"),
        "{message}"
    );
    assert!(!message.contains("secret-signature"), "{message}");
}

#[test]
fn blobs_redirected_to_a_reachable_storage_host_are_read_there_without_credentials() {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let storage = FakeServer::plain(move |req: &FakeRequest| {
        if req.method == "GET" {
            FakeResponse::new(200).body(config.to_vec())
        } else {
            FakeResponse::new(200).header("content-length", "5")
        }
    });
    let reg = redirecting_registry(storage.base_url());
    let host = reg.host();
    let image = format!("{host}/shop/app:v1");
    expect_pullable(&["--depth", "blobs", "--plain-http", &host, &image]);
    let asked = storage.requests();
    assert_eq!(asked.len(), 2, "config GET and layer HEAD: {asked:?}");
    assert!(asked.iter().all(|r| r.header("authorization").is_none()));
}

#[test]
fn an_index_is_read_once_by_the_stages_that_need_it() {
    let reg = Registry::plain();
    let host = reg.host();
    let (image, p) = pushed(&reg, "shop/multi", ImageKind::OciIndex);
    expect_pullable(&[
        "--depth",
        "blobs",
        "--platform",
        "linux/amd64",
        "--plain-http",
        &host,
        &image,
    ]);
    // The manifest stage GETs the index by tag; the platform and blobs stages use what it read.
    // Besides it: the amd64 manifest by digest, and no HEAD at all.
    let log = reg.log();
    let manifest_requests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" /v2/shop/multi/manifests/") && !l.contains("\"PUT "))
        .collect();
    let index = manifest_requests
        .iter()
        .filter(|l| l.contains("/manifests/v1 ") || l.contains(&p.digest))
        .count();
    assert_eq!(index, 1, "{manifest_requests:#?}");
    assert_eq!(manifest_requests.len(), 2, "{manifest_requests:#?}");
}
