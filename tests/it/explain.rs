//! `preflight explain`: kubectl's output in, causes and verdicts out. The messages of the live
//! cases are produced by the real containerd (`ctr`) of the suite, pulling the same image the
//! pod names, wrapped as the CRI plugin, gRPC and the kubelet wrap them (see
//! `explain::classify`'s sources); the oracle (`oracle.rs`) classifies every fault case's text
//! from both runtimes.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{Run, path_str, preflight, run, run_cmd};
use crate::support::registry::Registry;
use crate::support::runtime::{Containerd, NodeDns, PullConfig, write_hosts_dir};
use crate::support::seed::{self, ImageKind};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/explain");
const NAME: &str = "registry.preflight.test";

fn explain(args: &[&str]) -> Run {
    let mut all = vec!["explain"];
    all.extend_from_slice(args);
    run(&all)
}

#[test]
fn explain_backoff_status_takes_the_cause_from_the_newest_event() {
    let r = explain(&[
        "-f",
        &format!("{FIXTURES}/backoff-events.yaml"),
        "--offline",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["version"], 1);
    assert_eq!(j["summary"]["containers"], 2);
    assert_eq!(j["summary"]["unchecked"], 2);
    let c = &j["containers"][0];
    assert_eq!(c["object"], "Pod/shop/web-7d9f-abcde");
    assert_eq!(c["owner"], "Deployment/shop/web");
    assert_eq!(c["container"], "migrate");
    assert_eq!(c["container_type"], "init");
    assert_eq!(c["reason"], "ImagePullBackOff");
    assert_eq!(c["message_from"], "event");
    // The newest Failed event (not the older DNS one, not the BackOff one).
    assert_eq!(c["cause"], "manifest-unknown");
    assert_eq!(c["verdict"], "unchecked");
    assert_eq!(c["last_try"], "2026-11-27T22:01:05Z");
    assert_eq!(c["retry_by"], "2026-11-27T22:06:05Z");
    assert!(c.get("check").is_none(), "{c}");
    let e = &j["containers"][1];
    assert_eq!(e["container"], "debugger");
    assert_eq!(e["container_type"], "ephemeral");
    assert_eq!(e["message_from"], "status");
    assert_eq!(e["cause"], "auth-required");
    // The app container is waiting on its init container, not on a pull.
    assert!(!r.stdout.contains("\"container\": \"app\""));
}

#[test]
fn explain_never_prints_secret_data() {
    let file = format!("{FIXTURES}/backoff-events.yaml");
    for output in ["human", "json"] {
        for offline in [true, false] {
            let mut args = vec![
                "-f",
                &file,
                "-o",
                output,
                "-vvv",
                "--timeout",
                "2s",
                "--dns-server",
                "127.0.0.1:9",
            ];
            if offline {
                args.push("--offline");
            }
            let r = explain(&args);
            let all = format!("{}{}", r.stdout, r.stderr);
            for secret in [
                "s3cr3t-hunter2",
                "dGVzdDpzM2NyM3QtaHVudGVyMg",
                "eyJhdXRocyI6",
            ] {
                assert!(!all.contains(secret), "{output} offline={offline}: {all}");
            }
        }
    }
}

#[test]
fn explain_bad_input_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "not-k8s.json",
            "{\"foo\": 1}\n",
            "not-k8s.json:1: not a Kubernetes object",
        ),
        (
            "truncated.json",
            "{\"kind\": \"List\",\n \"items\": [\n  {\"kind\": \"Pod\",\n",
            "truncated.json:3:3: unclosed bracket",
        ),
        (
            "no-status.yaml",
            "kind: Pod\nmetadata: {name: p, namespace: shop}\nspec:\n  containers: [{name: a, image: r.io/a:v1}]\n",
            "no-status.yaml:1: Pod/shop/p has no status",
        ),
    ];
    for (name, text, want) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let r = explain(&["-f", path_str(&path), "--offline"]);
        assert_eq!(r.code, 2, "{name}: {r:?}");
        assert!(r.stderr.contains(want), "{name}: {}", r.stderr);
    }
    // A Pod without status beside one that can be explained: the other is still reported.
    let both = dir.path().join("both.yaml");
    std::fs::write(
        &both,
        format!(
            "{}---\n{}",
            cases[2].1,
            pod_yaml("ok", "r.io/a:v1", "ErrImagePull", "manifest unknown")
        ),
    )
    .unwrap();
    let r = explain(&["-f", path_str(&both), "--offline", "-o", "json"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.json()["containers"][0]["cause"], "manifest-unknown");
    // A truncated file beside a good one: the good one is explained, the bad one named.
    let truncated = dir.path().join("truncated.json");
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        pod_yaml("ok", "r.io/a:v1", "ErrImagePull", "manifest unknown"),
    )
    .unwrap();
    let r = explain(&[
        "-f",
        path_str(&truncated),
        "-f",
        path_str(&good),
        "--offline",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(r.json()["summary"]["containers"], 1);
    assert!(r.stderr.contains("truncated.json:3:3"), "{}", r.stderr);
}

#[test]
fn explain_nothing_failing_exits_0() {
    let r = run_cmd(preflight().args(["explain", "-f", "-", "--offline"]).write_stdin(
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]},\"status\":{\"containerStatuses\":[{\"name\":\"a\",\"state\":{\"running\":{}}}]}}",
    ));
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("no container is failing"), "{}", r.stdout);
}

#[test]
fn explain_unknown_message_is_unclassified_with_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(
        &path,
        pod_yaml(
            "p",
            "r.io/a:v1",
            "ErrImagePull",
            "the flux capacitor melted",
        ),
    )
    .unwrap();
    let r = explain(&["-f", path_str(&path), "--offline", "-o", "json"]);
    assert_eq!(r.code, 1);
    let c = &r.json()["containers"][0];
    assert_eq!(c["cause"], "unclassified");
    assert_eq!(c["message"], "the flux capacitor melted");
}

/// A Pod in `shop`, its one container waiting with `reason` and `message`.
fn pod_yaml(name: &str, image: &str, reason: &str, message: &str) -> String {
    let pod = pod_json(name, image, reason, message, None);
    format!("{pod}\n")
}

fn pod_json(name: &str, image: &str, reason: &str, message: &str, node: Option<&str>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": image}]},
        "status": {"containerStatuses": [{
            "name": "app", "image": image,
            "state": {"waiting": {"reason": reason, "message": message}}
        }]}
    })
}

/// The real ctr's error for pulling `image` with this configuration (its last `ctr:` line).
fn ctr_error(containerd: &Containerd, image: &str, config: &PullConfig) -> String {
    let outcome = containerd.ctr_pull(image, config);
    assert!(!outcome.ok, "ctr pulled {image}");
    outcome
        .stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("ctr: "))
        .unwrap_or_else(|| panic!("no ctr error in {}", outcome.stderr))
        .to_owned()
}

/// A `kubectl get pods,events -o json` List with one pod whose status says only Back-off and
/// whose Failed event carries `inner` as containerd's CRI plugin and the kubelet wrap it.
fn backoff_list(image: &str, inner: &str) -> Value {
    let mut pod = pod_json(
        "web-1",
        image,
        "ImagePullBackOff",
        &format!("Back-off pulling image {image:?}"),
        None,
    );
    pod["metadata"]["ownerReferences"] =
        json!([{"kind": "Deployment", "name": "web", "controller": true}]);
    json!({
        "apiVersion": "v1",
        "kind": "List",
        "items": [pod, {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web-1.1", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-1", "fieldPath": "spec.containers{app}"},
            "reason": "Failed",
            "message": format!(
                "Failed to pull image {image:?}: rpc error: code = NotFound desc = failed to pull and unpack image {image:?}: {inner}"
            ),
            "lastTimestamp": "2026-11-27T22:01:05Z"
        }]
    })
}

fn write(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path_str(&path).to_owned()
}

#[test]
fn oracle_explain_missing_tag_then_pushed_is_now_pullable() {
    let dns = NodeDns::start(&[(NAME, IpAddr::V4(Ipv4Addr::LOCALHOST))]);
    let containerd = Containerd::start();
    let registry = Registry::plain_with("explain/web", "v1");
    let host = format!("{NAME}:{}", registry.addr.port());
    let image = format!("{host}/explain/web:v2");
    let dir = tempfile::tempdir().unwrap();
    let config = PullConfig {
        hosts_dir: Some(write_hosts_dir(
            dir.path(),
            &host,
            &format!("http://{host}"),
            None,
            false,
        )),
        resolv_conf: Some(dns.resolv_conf.clone()),
        ..PullConfig::default()
    };
    let inner = ctr_error(&containerd, &image, &config);
    let list = write(dir.path(), "pods.json", &backoff_list(&image, &inner));
    let dns_arg = dns.addr.to_string();
    let live = [
        "-f",
        list.as_str(),
        "--dns-server",
        dns_arg.as_str(),
        "--plain-http",
        host.as_str(),
        "-o",
        "json",
    ];

    let r = explain(&live);
    assert_eq!(r.code, 1, "{r:?}");
    let c = &r.json()["containers"][0];
    assert_eq!(c["cause"], "manifest-unknown", "{c}");
    assert_eq!(c["verdict"], "still-failing", "{c}");
    assert_eq!(c["same_cause"], true, "{c}");
    assert_eq!(c["check"]["diagnosis"]["code"], "manifest-unknown", "{c}");
    assert_eq!(c["owner"], "Deployment/shop/web");

    // The fix: the tag is pushed. The runtime's message is the same; the verdict is not.
    seed::push(
        &registry.base_url(),
        None,
        None,
        "explain/web",
        "v2",
        ImageKind::OciManifest,
    );
    let r = explain(&live);
    assert_eq!(r.code, 0, "{r:?}");
    let c = &r.json()["containers"][0];
    assert_eq!(c["cause"], "manifest-unknown");
    assert_eq!(c["verdict"], "now-pullable", "{c}");
    assert_eq!(c["retry_by"], "2026-11-27T22:06:05Z");
    let hint = c["hint"].as_str().unwrap();
    assert!(
        hint.contains("kubectl rollout restart deployment/web -n shop"),
        "{hint}"
    );
    assert!(c["check"]["pullable"].as_bool().unwrap());

    // --offline: no check, whatever the registry says.
    let r = explain(&["-f", list.as_str(), "--offline", "-o", "json"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.json()["containers"][0]["verdict"], "unchecked");
}

#[test]
fn oracle_explain_dns_failure_only_the_node_sees_is_node_only() {
    // The node's resolver knows nothing; the one given to preflight knows the registry.
    let node_dns = NodeDns::start(&[]);
    let dns = NodeDns::start(&[(NAME, IpAddr::V4(Ipv4Addr::LOCALHOST))]);
    let containerd = Containerd::start();
    let registry = Registry::plain_with("explain/dns", "v1");
    let host = format!("{NAME}:{}", registry.addr.port());
    let image = format!("{host}/explain/dns:v1");
    let dir = tempfile::tempdir().unwrap();
    let config = PullConfig {
        hosts_dir: Some(write_hosts_dir(
            dir.path(),
            &host,
            &format!("http://{host}"),
            None,
            false,
        )),
        resolv_conf: Some(node_dns.resolv_conf.clone()),
        ..PullConfig::default()
    };
    let inner = ctr_error(&containerd, &image, &config);
    assert!(inner.contains("no such host"), "{inner}");
    let list = write(dir.path(), "pods.json", &backoff_list(&image, &inner));
    let dns_arg = dns.addr.to_string();
    let r = explain(&[
        "-f",
        list.as_str(),
        "--dns-server",
        dns_arg.as_str(),
        "--plain-http",
        host.as_str(),
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    let c = &r.json()["containers"][0];
    assert_eq!(c["cause"], "dns-nxdomain", "{c}");
    assert_eq!(c["verdict"], "node-only", "{c}");
    assert!(c["hint"].as_str().unwrap().contains("resolv.conf"), "{c}");
    // Human output names it too.
    let r = explain(&[
        "-f",
        list.as_str(),
        "--dns-server",
        dns_arg.as_str(),
        "--plain-http",
        host.as_str(),
    ]);
    assert!(r.stdout.contains("verdict: node-only"), "{}", r.stdout);
}

/// A live check that cannot resolve anything proves nothing about the node: `unchecked`, with
/// the check's `dns-config` in `check`, not `still-failing`.
#[test]
fn explain_without_a_resolver_configuration_is_unchecked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = path_str(&dir.path().join("resolv.conf")).to_owned();
    let image = format!("{NAME}/explain/dns:v1");
    // The text Go's resolver gives a runtime whose server knows no such name (`explain::classify`).
    let inner = format!(
        "failed to resolve reference \"{image}\": failed to do request: Head \"https://{NAME}/v2/explain/dns/manifests/v1\": dial tcp: lookup {NAME} on 10.96.0.10:53: no such host"
    );
    let list = write(dir.path(), "pods.json", &backoff_list(&image, &inner));
    let r = explain(&[
        "-f",
        list.as_str(),
        "--resolv-conf",
        missing.as_str(),
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    let c = &r.json()["containers"][0];
    assert_eq!(c["cause"], "dns-nxdomain", "{c}");
    assert_eq!(c["verdict"], "unchecked", "{c}");
    assert_eq!(c["check"]["diagnosis"]["code"], "dns-config", "{c}");
    let hint = c["hint"].as_str().unwrap();
    assert!(
        hint.starts_with("not checked from here") && hint.contains(&missing),
        "{hint}"
    );
}

#[test]
fn explain_junit_fails_each_container_not_now_pullable() {
    let r = explain(&[
        "-f",
        &format!("{FIXTURES}/backoff-events.yaml"),
        "--offline",
        "-o",
        "junit",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stdout.contains("<testsuite name=\"Deployment/shop/web\""),
        "{}",
        r.stdout
    );
    assert_eq!(r.stdout.matches("<failure").count(), 2, "{}", r.stdout);
    assert!(
        r.stdout.contains("type=\"manifest-unknown\""),
        "{}",
        r.stdout
    );
    for format in ["gitlab", "sarif"] {
        let r = explain(&[
            "-f",
            &format!("{FIXTURES}/backoff-events.yaml"),
            "--offline",
            "-o",
            format,
        ]);
        assert_eq!(r.code, 2);
        assert!(
            r.stderr.contains("use human, json or junit"),
            "{}",
            r.stderr
        );
    }
}

/// The human report: one block per owner, the runtime's own text, cause, verdict and hint.
#[test]
fn explain_human_report_snapshot() {
    let r = explain(&[
        "-f",
        &format!("{FIXTURES}/backoff-events.yaml"),
        "--offline",
    ]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!("explain_human_offline", r.stdout);
}
