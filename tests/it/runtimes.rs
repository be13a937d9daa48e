//! The node runtime profiles (`--runtime`, `--runtime-version`): each runtime's own rule for
//! loopback registries, and containerd's token POST, against real registries on loopback.
//! Reached as `127.0.0.1:PORT` on purpose: the loopback rule is what these tests are about
//! (every other TLS test reaches its registry by name).

use std::net::{IpAddr, Ipv4Addr};

use crate::common::{check, docker_config, path_str};
use crate::support::dns::DnsServer;
use crate::support::pki::Pki;
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind};
use crate::support::token::{TokenMode, TokenServer};

/// The runtime flags of each profile checked here.
const CONTAINERD_2: &[&str] = &["--runtime", "containerd"];
const CONTAINERD_1_6: &[&str] = &["--runtime", "containerd", "--runtime-version", "1.6"];
const CONTAINERD_1_7: &[&str] = &["--runtime", "containerd", "--runtime-version", "1.7.27"];
const CRI_O: &[&str] = &["--runtime", "cri-o"];
const DOCKER: &[&str] = &["--runtime", "docker"];

/// preflight's verdict for `image` under `runtime`: `None` when pullable, else the code; and
/// the image's report.
fn verdict(runtime: &[&str], extra: &[&str], image: &str) -> (Option<String>, serde_json::Value) {
    let mut args: Vec<&str> = runtime.to_vec();
    args.extend(extra);
    args.push(image);
    let run = check(&args);
    (run.code_of(0), run.image(0))
}

#[test]
fn plain_http_registry_on_a_loopback_address_per_runtime() {
    let reg = Registry::plain_with("rt/app", "v1");
    let image = format!("{}/rt/app:v1", reg.host());
    let port = reg.addr.port();

    // containerd 2: HTTPS without verification first, then plain HTTP when the server answers
    // in it; both tries are in the report.
    let (code, report) = verdict(CONTAINERD_2, &[], &image);
    assert_eq!(code, None, "{report:#}");
    assert_eq!(report["runtime"], "containerd 2");
    assert_eq!(report["host"], format!("http://127.0.0.1:{port}"));
    let tried = report["hosts_tried"].as_array().expect("hosts_tried");
    assert_eq!(tried.len(), 2, "{report:#}");
    assert_eq!(tried[0]["url"], format!("https://127.0.0.1:{port}"));
    assert_eq!(tried[0]["code"], "tls-server-speaks-http");
    assert_eq!(tried[1]["code"], serde_json::Value::Null);
    assert_eq!(tried[1]["role"], "server");

    // containerd 1.6 (and 1.7 without a hosts directory): plain HTTP to a loopback address.
    for old in [CONTAINERD_1_6, CONTAINERD_1_7] {
        let (code, report) = verdict(old, &[], &image);
        assert_eq!(code, None, "{report:#}");
        assert_eq!(report["host"], format!("http://127.0.0.1:{port}"));
        assert!(report.get("hosts_tried").is_none(), "one try: {report:#}");
    }
    // Docker: 127.0.0.0/8 is insecure by default, HTTPS then HTTP.
    let (code, report) = verdict(DOCKER, &[], &image);
    assert_eq!(code, None, "{report:#}");
    assert_eq!(report["runtime"], "docker");
    // CRI-O has no loopback rule: HTTPS, which the registry does not speak.
    let (code, _) = verdict(CRI_O, &[], &image);
    assert_eq!(code.as_deref(), Some("tls-server-speaks-http"));
    // --plain-http states how the nodes reach it, in every profile.
    let (code, _) = verdict(CRI_O, &["--plain-http", &reg.host()], &image);
    assert_eq!(code, None);
}

#[test]
fn tls_registry_with_an_untrusted_certificate_on_a_loopback_address_per_runtime() {
    let pki = Pki::new();
    let reg = Registry::tls(&pki.server);
    seed::push(
        &reg.base_url(),
        None,
        Some(&pki.ca.pem_path),
        "rt/app",
        "v1",
        ImageKind::OciManifest,
    );
    let image = format!("{}/rt/app:v1", reg.host());

    // containerd 2 does not verify a loopback registry's certificate.
    let (code, report) = verdict(CONTAINERD_2, &[], &image);
    assert_eq!(code, None, "{report:#}");
    assert!(report["host"].as_str().unwrap().starts_with("https://"));
    // containerd 1.6 talks plain HTTP to it: the TLS registry answers 400.
    let (code, _) = verdict(CONTAINERD_1_6, &[], &image);
    assert_eq!(code.as_deref(), Some("plain-http-to-tls"));
    // Docker: insecure, so unverified HTTPS works.
    let (code, _) = verdict(DOCKER, &[], &image);
    assert_eq!(code, None);
    // CRI-O verifies: the test CA is not trusted without --ca-file.
    let (code, _) = verdict(CRI_O, &[], &image);
    assert_eq!(code.as_deref(), Some("tls-unknown-issuer"));
    let (code, _) = verdict(CRI_O, &["--ca-file", path_str(&pki.ca.pem_path)], &image);
    assert_eq!(code, None);
}

#[test]
fn a_name_that_resolves_to_loopback_is_local_only_to_docker() {
    let reg = Registry::plain_with("rt/app", "v1");
    let dns = DnsServer::start(&[("registry.preflight.test", IpAddr::V4(Ipv4Addr::LOCALHOST))]);
    let dns_addr = dns.addr.to_string();
    let image = format!("registry.preflight.test:{}/rt/app:v1", reg.addr.port());
    let extra = ["--dns-server", dns_addr.as_str()];
    // containerd decides by the host as written: a name is not local, so HTTPS, verified.
    for rt in [CONTAINERD_2, CONTAINERD_1_6, CRI_O] {
        let (code, _) = verdict(rt, &extra, &image);
        assert_eq!(code.as_deref(), Some("tls-server-speaks-http"), "{rt:?}");
    }
    // Docker resolves it: 127.0.0.1 is in its insecure range.
    let (code, report) = verdict(DOCKER, &extra, &image);
    assert_eq!(code, None, "{report:#}");
}

#[test]
fn containerd_asks_for_a_token_with_an_oauth2_post_and_cri_o_with_a_get() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki);
    let reg = Registry::tls_token(&pki, &server.realm, &server.service, &server.issuer);
    let auth = seed::bearer_for_push(&pki, &server.service, &server.issuer, "team/app");
    seed::push(
        &reg.base_url(),
        Some(&auth),
        Some(&pki.ca.pem_path),
        "team/app",
        "v1",
        ImageKind::OciManifest,
    );
    server.set_mode(TokenMode::PostNotImplemented);
    let dir = tempfile::tempdir().unwrap();
    let config = docker_config(dir.path(), &[(&reg.host(), "admin", "admin-pass")]);
    let extra = [
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "--docker-config",
        path_str(&config),
    ];
    let image = format!("{}/team/app:v1", reg.host());
    // containerd posts the password, gets 501, and does not retry with a GET.
    let (code, report) = verdict(CONTAINERD_2, &extra, &image);
    assert_eq!(code.as_deref(), Some("auth-server-error"), "{report:#}");
    let message = report["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains("OAuth2 password POST with 501"),
        "{message}"
    );
    assert!(!message.contains("admin-pass"), "{message}");
    // CRI-O and Docker ask with a GET, which works.
    for rt in [CRI_O, DOCKER] {
        let (code, report) = verdict(rt, &extra, &image);
        assert_eq!(code, None, "{rt:?}: {report:#}");
    }
    let posts = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1, "only containerd posts");
}

#[test]
fn bad_runtime_flags_are_bad_input() {
    for (args, says) in [
        (
            &["--runtime", "rkt", "x/y:1"][..],
            "unknown runtime \"rkt\"",
        ),
        (
            &[
                "--runtime",
                "containerd",
                "--runtime-version",
                "1.5",
                "x/y:1",
            ][..],
            "unknown containerd version",
        ),
        (
            &["--runtime", "docker", "--runtime-version", "28", "x/y:1"][..],
            "applies to containerd only",
        ),
    ] {
        let run = check(args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
}

#[test]
fn docker_insecure_registries_fall_back_to_plain_http() {
    let reg = Registry::plain_with("rt/app", "v1");
    let dns = DnsServer::start(&[("registry.preflight.test", IpAddr::V4(Ipv4Addr::LOCALHOST))]);
    let dns_addr = dns.addr.to_string();
    let host = format!("registry.preflight.test:{}", reg.addr.port());
    let image = format!("{host}/rt/app:v1");
    // Docker's insecure-registries (--insecure-skip-tls-verify HOST under --runtime docker):
    // unverified HTTPS, then plain HTTP. (The name resolves to 127.0.0.1, in Docker's insecure
    // range as well; that the flag alone does it is a unit test of the route, since the suite
    // has no non-loopback address to reach.)
    let extra = [
        "--dns-server",
        dns_addr.as_str(),
        "--insecure-skip-tls-verify",
        host.as_str(),
    ];
    let (code, report) = verdict(DOCKER, &extra, &image);
    assert_eq!(code, None, "{report:#}");
    assert_eq!(report["host"], format!("http://{host}"));
    // containerd's skip_verify is only that: HTTPS without verification.
    let (code, _) = verdict(CONTAINERD_2, &extra, &image);
    assert_eq!(code.as_deref(), Some("tls-server-speaks-http"));
}
