//! Docker Hub's pull budget: `preflight ratelimit` against a fake Hub (TLS, token realm on another
//! loopback port, rate-limit headers), and the budget against what a deploy needs.

use std::sync::{Arc, Mutex};

use crate::common::{check, path_str, run};
use crate::support::fake::{FakeResponse, FakeServer, challenge};
use crate::support::pki::Pki;

struct FakeHub {
    pki: Pki,
    hub: FakeServer,
    _auth: FakeServer,
    remaining: Arc<Mutex<u64>>,
}

/// A stand-in for registry-1.docker.io with its token service on another port.
fn fake_hub() -> FakeHub {
    let pki = Pki::new();
    let auth = FakeServer::tls(&pki.server, |_| {
        FakeResponse::new(200).json(serde_json::json!({"token": "hub-token", "expires_in": 300}))
    });
    let realm = format!("https://{}/token", auth.host());
    let remaining = Arc::new(Mutex::new(76u64));
    let left = Arc::clone(&remaining);
    let hub = FakeServer::tls(&pki.server, move |req| {
        if req.header("authorization") != Some("Bearer hub-token") {
            return challenge(format!(
                r#"Bearer realm="{realm}",service="registry.docker.io""#
            ));
        }
        if req.path == "/v2/" {
            return FakeResponse::new(200).json(serde_json::json!({}));
        }
        let remaining = *left.lock().unwrap();
        FakeResponse::new(200)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .header(
                "docker-content-digest",
                format!("sha256:{}", "7".repeat(64)),
            )
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", format!("{remaining};w=21600"))
            .header("docker-ratelimit-source", "192.0.2.10")
    });
    FakeHub {
        pki,
        hub,
        _auth: auth,
        remaining,
    }
}

impl FakeHub {
    fn args(&self) -> Vec<String> {
        vec![
            "--ca-file".into(),
            path_str(&self.pki.ca.pem_path).into(),
            "--docker-hub-registry".into(),
            self.hub.host(),
        ]
    }
}

#[test]
fn ratelimit_reads_the_budget_without_spending_a_pull() {
    let h = fake_hub();
    let mut args = vec!["ratelimit".to_owned(), "-o".into(), "json".into()];
    args.extend(h.args());
    let r = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        j["rate_limit"],
        serde_json::json!({"limit": 100, "remaining": 76, "window_seconds": 21600, "source": "192.0.2.10"})
    );
    assert_eq!(j["unlimited"], false);
    let requests = h.hub.requests();
    assert!(
        requests
            .iter()
            .any(|q| q.method == "HEAD" && q.path.contains("ratelimitpreview/test"))
    );
    assert!(
        requests
            .iter()
            .all(|q| q.method != "GET" || q.path == "/v2/"),
        "no manifest GET, no pull spent: {requests:?}"
    );

    let mut human = vec!["ratelimit".to_owned()];
    human.extend(h.args());
    let r = run(&human.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        r.stdout.contains("76 of 100 pulls left per 21600 s"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_deploy_needing_more_than_the_budget_warns_or_fails() {
    let h = fake_hub();
    *h.remaining.lock().unwrap() = 2;
    let mut args = h.args();
    args.extend(["nginx:1.27".into(), "redis:7".into(), "busybox:1.36".into()]);
    let r = check(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "a warning: {}", r.stdout);
    let w = &r.image(0)["warnings"];
    assert!(
        w.as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "rate-limit-low"
                && w["message"].as_str().unwrap().contains("needs about 3")),
        "{w}"
    );

    args.extend(["--min-hub-remaining".into(), "10".into()]);
    let r = check(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(r.code_of(0).as_deref(), Some("rate-limit-low"));
}

#[test]
fn the_pull_path_on_docker_hub_is_left_unchecked_without_allow_hub_pulls() {
    let fake = fake_hub();
    let mut args: Vec<String> = vec!["--depth".into(), "blobs".into()];
    args.extend(fake.args());
    args.push("nginx:1.27".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = check(&args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let image = r.image(0);
    let warnings = image["warnings"].as_array().unwrap();
    assert!(
        warnings.iter().any(|w| w["code"] == "blobs-unchecked"),
        "{warnings:?}"
    );
    assert_eq!(r.json()["summary"]["hub_pulls_spent"], 0);
    // A HEAD only: no GET that Hub would count as a pull.
    let gets: Vec<String> = fake
        .hub
        .requests()
        .iter()
        .filter(|q| q.method == "GET" && q.path != "/v2/")
        .map(|q| q.path.clone())
        .collect();
    assert!(gets.is_empty(), "{gets:?}");
}
