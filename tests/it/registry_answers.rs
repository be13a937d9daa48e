//! What the real registry answers about images: the four manifest kinds, a missing tag told from
//! a missing repository, references normalized and deduplicated, lints.

use crate::common::{check, expect_code, expect_pullable};
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind};

fn seeded() -> (Registry, Vec<(String, seed::Pushed)>) {
    let reg = Registry::plain();
    let mut pushed = Vec::new();
    for (repo, kind) in [
        ("shop/oci", ImageKind::OciManifest),
        ("shop/index", ImageKind::OciIndex),
        ("shop/docker", ImageKind::DockerV2),
        ("shop/list", ImageKind::DockerList),
    ] {
        let p = seed::push(&reg.base_url(), None, None, repo, "v2.1.2", kind);
        pushed.push((format!("{}/{repo}:v2.1.2", reg.host()), p));
    }
    (reg, pushed)
}

#[test]
fn every_manifest_kind_is_pullable_with_the_pushed_digest() {
    let (reg, pushed) = seeded();
    let host = reg.host();
    let mut args = vec!["--plain-http", host.as_str()];
    args.extend(pushed.iter().map(|(r, _)| r.as_str()));
    let report = expect_pullable(&args);
    assert_eq!(report["pullable"], true);
    assert_eq!(report["summary"]["images"], 4);
    for (i, (reference, p)) in pushed.iter().enumerate() {
        let image = &report["images"][i];
        assert_eq!(image["reference"], reference.as_str());
        assert_eq!(image["digest"], p.digest.as_str(), "{reference}");
        assert_eq!(image["media_type"], p.media_type.as_str(), "{reference}");
        assert_eq!(image["size"], p.size, "{reference}");
        assert!(image["diagnosis"].is_null());
        let stages: Vec<&str> = image["stages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["stage"].as_str().unwrap())
            .collect();
        // The default depth reads the pull path of the platform a node is assumed to be.
        assert_eq!(
            stages,
            ["dns", "tcp", "ping", "auth", "manifest", "blobs"],
            "{reference}"
        );
        assert_eq!(image["platforms"], serde_json::json!(["linux/amd64"]));
        assert_eq!(image["platform_assumed"], true, "{reference}");
    }
}

#[test]
fn a_pinned_digest_is_checked_by_digest() {
    let (reg, pushed) = seeded();
    let host = reg.host();
    let by_digest = format!("{host}/shop/oci@{}", pushed[0].1.digest);
    let report = expect_pullable(&["--plain-http", &host, &by_digest]);
    assert!(report["images"][0]["tag"].is_null());
    assert_eq!(report["images"][0]["digest"], pushed[0].1.digest.as_str());
    assert!(
        report["images"][0]["warnings"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let missing = format!("{host}/shop/oci@sha256:{}", "0".repeat(64));
    let image = expect_code(&["--plain-http", &host, &missing], "manifest-unknown");
    assert!(
        image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("digest sha256:000")
    );
}

#[test]
fn missing_tag_is_manifest_unknown() {
    let (reg, _) = seeded();
    let host = reg.host();
    let image_ref = format!("{host}/shop/oci:v2.1.3");
    // The default depth's GET reads the 404's error body; `--depth manifest` asks for it after
    // the HEAD.
    for depth in ["blobs", "manifest"] {
        let image = expect_code(
            &["--plain-http", &host, "--depth", depth, &image_ref],
            "manifest-unknown",
        );
        assert_eq!(image["diagnosis"]["stage"], "manifest");
        let message = image["diagnosis"]["message"].as_str().unwrap();
        assert!(
            message.contains("tag v2.1.3 does not exist") && message.contains("repository exists"),
            "{depth}: {message}"
        );
    }
}

#[test]
fn missing_repository_is_repository_not_found() {
    let (reg, _) = seeded();
    let host = reg.host();
    let image_ref = format!("{host}/shop/payment-api:v2.1.2");
    for depth in ["blobs", "manifest"] {
        let image = expect_code(
            &["--plain-http", &host, "--depth", depth, &image_ref],
            "repository-not-found",
        );
        assert_eq!(image["diagnosis"]["stage"], "manifest");
    }
    // The default depth's manifest GET read the error body: it was not asked for a second time.
    let log = reg.log();
    let gets = log
        .lines()
        .filter(|l| l.contains("\"GET /v2/shop/payment-api/manifests/v2.1.2 "))
        .count();
    assert_eq!(gets, 2, "one GET at each depth:\n{log}");
}

#[test]
fn invalid_reference_says_what_and_where_without_touching_the_network() {
    let r = check(&["Shop/App:v1", "localhost:5000/app:"]);
    assert_eq!(r.code, 1);
    for i in 0..2 {
        assert_eq!(r.code_of(i).as_deref(), Some("invalid-reference"));
        let image = r.image(i);
        assert_eq!(image["diagnosis"]["stage"], "reference");
        assert!(image["canonical"].is_null());
        assert_eq!(image["stages"][0]["stage"], "reference");
    }
    let first = r.image(0)["diagnosis"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        first.contains("lowercase") && first.contains("character"),
        "{first}"
    );
    let second = r.image(1)["diagnosis"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(second.contains("tag"), "{second}");
}

#[test]
fn same_image_twice_is_checked_once_and_stages_are_shared() {
    let (reg, _) = seeded();
    let host = reg.host();
    let a = format!("{host}/shop/oci:v2.1.2");
    let b = format!("{host}/shop/docker:v2.1.2");
    let report = expect_pullable(&["--plain-http", &host, "--concurrency", "1", &a, &a, &b]);
    assert_eq!(report["summary"]["images"], 2, "duplicates are merged");
    // The second image on the registry reuses dns/tcp/ping from the first.
    let second = &report["images"][1]["stages"];
    assert_eq!(second[0]["stage"], "dns");
    assert_eq!(second[0]["shared"], true);
    assert_eq!(second[0]["elapsed_ms"], 0.0);
    assert!(report["images"][0]["stages"][0].get("shared").is_none());
}

#[test]
fn latest_tags_warn_but_pass() {
    let reg = Registry::plain_with("shop/app", "latest");
    let host = reg.host();
    let explicit = format!("{host}/shop/app:latest");
    let implicit = format!("{host}/shop/app");
    let report = expect_pullable(&["--plain-http", &host, &explicit, &implicit]);
    // The same canonical reference: checked once, both spellings were the same image.
    assert_eq!(report["summary"]["images"], 1);
    assert_eq!(report["images"][0]["warnings"][0]["code"], "latest-tag");

    let report = expect_pullable(&["--plain-http", &host, &implicit]);
    assert_eq!(
        report["images"][0]["warnings"][0]["code"],
        "implicit-latest"
    );
    assert_eq!(report["images"][0]["tag"], "latest");
    assert_eq!(report["summary"]["warnings"], 1);

    let strict = check(&["--strict", "--plain-http", &host, &implicit]);
    assert_eq!(strict.code, 1, "--strict fails on warnings");
}

#[test]
fn many_images_are_checked_concurrently() {
    let reg = Registry::plain();
    let host = reg.host();
    let mut refs = Vec::new();
    for i in 0..40 {
        let repo = format!("bulk/app{}", i % 8);
        let tag = format!("v{i}");
        seed::push(
            &reg.base_url(),
            None,
            None,
            &repo,
            &tag,
            ImageKind::OciManifest,
        );
        refs.push(format!("{host}/{repo}:{tag}"));
    }
    refs.push(format!("{host}/bulk/app0:missing"));
    let mut args = vec!["--plain-http", host.as_str(), "--concurrency", "16"];
    args.extend(refs.iter().map(String::as_str));
    let r = check(&args);
    assert_eq!(r.code, 1);
    let j = r.json();
    assert_eq!(j["summary"]["images"], 41);
    assert_eq!(j["summary"]["pullable"], 40);
    assert_eq!(j["summary"]["not_pullable"], 1);
    // Order is the order given, whatever order the checks finished in.
    for (i, reference) in refs.iter().enumerate() {
        assert_eq!(j["images"][i]["reference"], reference.as_str());
    }
    assert_eq!(r.code_of(40).as_deref(), Some("manifest-unknown"));
}

#[test]
fn a_missing_tag_suggests_the_nearest_release() {
    let reg = Registry::plain();
    for tag in ["v2.1.0", "v2.1.1", "v2.1.2", "v2.2.0", "latest"] {
        seed::push(
            &reg.base_url(),
            None,
            None,
            "shop/payment-app",
            tag,
            ImageKind::OciManifest,
        );
    }
    let host = reg.host();
    let wanted = format!("{host}/shop/payment-app:v2.1.3");
    let image = expect_code(&["--plain-http", &host, &wanted], "manifest-unknown");
    let suggestions = image["diagnosis"]["suggestions"].as_array().unwrap();
    assert_eq!(suggestions[0], "v2.1.2", "{suggestions:?}");
    assert!(
        !suggestions
            .iter()
            .any(|s| s == "v2.2.0" && suggestions[0] != "v2.1.2")
    );

    let human = crate::common::run(&["check", "--plain-http", &host, &wanted]);
    assert!(
        human.stdout.contains("hint: did you mean v2.1.2"),
        "{}",
        human.stdout
    );
}

#[test]
fn tag_suggestions_follow_pagination() {
    let reg = Registry::plain();
    // More tags than one page (100): `v2.1.2` sorts after every `t…` tag, so only a second page
    // can show it.
    for i in 0..120 {
        seed::push(
            &reg.base_url(),
            None,
            None,
            "shop/many",
            &format!("t{i:03}"),
            ImageKind::OciManifest,
        );
    }
    seed::push(
        &reg.base_url(),
        None,
        None,
        "shop/many",
        "v2.1.2",
        ImageKind::OciManifest,
    );
    let host = reg.host();
    let image = expect_code(
        &["--plain-http", &host, &format!("{host}/shop/many:v2.1.3")],
        "manifest-unknown",
    );
    // The registry lists tags in lexical order, 100 a page: v2.1.2 is the 121st.
    assert_eq!(image["diagnosis"]["suggestions"][0], "v2.1.2", "{image}");
}

#[test]
fn a_registry_refusing_to_list_tags_is_said_to() {
    use crate::support::fake::{FakeResponse, FakeServer};
    let fake = FakeServer::plain(|req| {
        match (req.method.as_str(), req.path.as_str()) {
        (_, "/v2/") => FakeResponse::new(200)
            .header("docker-distribution-api-version", "registry/2.0")
            .json(serde_json::json!({})),
        (_, p) if p.contains("/tags/list") => FakeResponse::new(403),
        _ => FakeResponse::new(404).json(serde_json::json!({"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]})),
    }
    });
    let host = fake.host();
    let image = expect_code(
        &["--plain-http", &host, &format!("{host}/shop/app:v1")],
        "manifest-unknown",
    );
    assert!(image["diagnosis"].get("suggestions").is_none(), "{image}");
    assert!(
        image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("refused to list its tags (403)"),
        "{image}"
    );
}

#[test]
fn expected_digests_catch_a_retag() {
    let reg = Registry::plain();
    let pushed = seed::push(
        &reg.base_url(),
        None,
        None,
        "shop/app",
        "v1",
        ImageKind::OciManifest,
    );
    let other = seed::push(
        &reg.base_url(),
        None,
        None,
        "shop/app",
        "v0",
        ImageKind::DockerV2,
    );
    let host = reg.host();
    let image = format!("{host}/shop/app:v1");

    let right = format!("{image}={}", pushed.digest);
    expect_pullable(&["--plain-http", &host, "--expect-digest", &right, &image]);

    let wrong = format!("{image}={}", other.digest);
    let report = expect_code(
        &["--plain-http", &host, "--expect-digest", &wrong, &image],
        "digest-mismatch",
    );
    let message = report["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains(&pushed.digest) && message.contains(&other.digest),
        "both digests shown: {message}"
    );

    // A buildx metadata file, as `docker buildx build --push --metadata-file` writes it.
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("metadata.json");
    let json = serde_json::json!({
        "buildx.build.ref": "builder/builder0/xyz",
        "containerimage.descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json"},
        "containerimage.digest": other.digest,
        "image.name": format!("{image},{host}/shop/app:latest"),
    });
    std::fs::write(&meta, json.to_string()).unwrap();
    expect_code(
        &[
            "--plain-http",
            &host,
            "--digests-file",
            meta.to_str().unwrap(),
            &image,
        ],
        "digest-mismatch",
    );

    // Lines of IMAGE@DIGEST, as `crane push` prints them.
    let lines = dir.path().join("pushed.txt");
    std::fs::write(&lines, format!("{image}@{}\n", pushed.digest)).unwrap();
    expect_pullable(&[
        "--plain-http",
        &host,
        "--digests-file",
        lines.to_str().unwrap(),
        &image,
    ]);

    std::fs::write(&lines, "# header\nnot a digest\n").unwrap();
    let bad = crate::common::check(&[
        "--plain-http",
        &host,
        "--digests-file",
        lines.to_str().unwrap(),
        &image,
    ]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("pushed.txt:2"), "{}", bad.stderr);
}
