//! `--proxy` / `--no-proxy`: the nodes' HTTP proxy, a real tinyproxy. Registries are reached by
//! name (`registry.preflight.test`), which tinyproxy resolves from an `/etc/hosts` of its own: a
//! loopback IP literal is never proxied, as in Go's `httpproxy`.

use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value;

use crate::common::{check, expect_code, expect_pullable, path_str, run};
use crate::support::dns::DnsServer;
use crate::support::net;
use crate::support::pki::Pki;
use crate::support::proxy::{ProxyOptions, Tinyproxy};
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const NAME: &str = "registry.preflight.test";

/// A TLS registry with `app:v1`, named `registry.preflight.test:PORT`.
struct TlsRegistry {
    pki: Pki,
    _reg: Registry,
    host: String,
}

impl TlsRegistry {
    fn new() -> TlsRegistry {
        let pki = Pki::new();
        let reg = Registry::tls(&pki.server);
        seed::push(
            &reg.base_url(),
            None,
            Some(&pki.ca.pem_path),
            "app",
            "v1",
            ImageKind::OciManifest,
        );
        TlsRegistry {
            host: format!("{NAME}:{}", reg.addr.port()),
            pki,
            _reg: reg,
        }
    }

    fn image(&self) -> String {
        format!("{}/app:v1", self.host)
    }

    fn ca(&self) -> &str {
        path_str(&self.pki.ca.pem_path)
    }
}

fn stage<'a>(image: &'a Value, name: &str) -> &'a Value {
    image["stages"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stage"] == name))
        .unwrap_or_else(|| panic!("no {name} stage in {image:#}"))
}

fn message(image: &Value) -> &str {
    image["diagnosis"]["message"].as_str().unwrap_or_default()
}

#[test]
fn proxy_tls_registry_by_name_goes_through_a_connect_tunnel() {
    let r = TlsRegistry::new();
    let proxy = Tinyproxy::start(&[(NAME, LOCAL)]);
    let image = r.image();
    let j = expect_pullable(&[
        "--proxy",
        &proxy.url(),
        "--ca-file",
        r.ca(),
        "--depth",
        "blobs",
        &image,
    ]);
    let img = &j["images"][0];
    let dns = stage(img, "dns")["detail"].as_str().unwrap();
    assert!(dns.contains(&format!("via proxy {}", proxy.url())), "{dns}");
    let tcp = stage(img, "tcp")["detail"].as_str().unwrap();
    assert!(tcp.contains(&format!("CONNECT {}", r.host)), "{tcp}");
    let connect = format!("CONNECT {} HTTP/1.1", r.host);
    let requests = proxy.requests();
    assert!(
        requests.iter().filter(|q| **q == connect).count() >= 2,
        "the tcp stage's tunnel and the HTTP client's: {requests:?}\n{}",
        proxy.log()
    );
}

#[test]
fn proxy_refused_port_is_proxy_error_naming_the_proxy() {
    let r = TlsRegistry::new();
    let dead = format!("http://127.0.0.1:{}", net::refused_port());
    let image = r.image();
    let img = expect_code(
        &["--proxy", &dead, "--ca-file", r.ca(), &image],
        "proxy-error",
    );
    assert_eq!(img["diagnosis"]["stage"], "tcp");
    let msg = message(&img);
    assert!(
        msg.contains(&format!("cannot connect to the proxy {dead}")),
        "{msg}"
    );
    assert!(msg.contains("connection refused"), "{msg}");
}

#[test]
fn proxy_connect_port_rule_is_proxy_error_with_the_proxys_answer() {
    let r = TlsRegistry::new();
    let proxy = Tinyproxy::with(&ProxyOptions {
        hosts: &[(NAME, LOCAL)],
        connect_ports: &[443],
        ..ProxyOptions::default()
    });
    let image = r.image();
    let img = expect_code(
        &["--proxy", &proxy.url(), "--ca-file", r.ca(), &image],
        "proxy-error",
    );
    assert_eq!(img["diagnosis"]["stage"], "tcp");
    let msg = message(&img);
    assert!(
        msg.contains(&format!(
            "the proxy {} answered CONNECT {} with 403",
            proxy.url(),
            r.host
        )),
        "{msg}"
    );
    let hint = img["diagnosis"]["hint"].as_str().unwrap();
    assert!(hint.contains("ConnectPort"), "{hint}");
}

#[test]
fn proxy_bypassed_by_no_proxy_goes_direct() {
    let r = TlsRegistry::new();
    let proxy = Tinyproxy::start(&[(NAME, LOCAL)]);
    // Direct, preflight resolves the name itself.
    let dns = DnsServer::start(&[(NAME, LOCAL)]);
    let image = r.image();
    for no_proxy in [NAME, "preflight.test", ".preflight.test", &r.host] {
        let j = expect_pullable(&[
            "--proxy",
            &proxy.url(),
            "--no-proxy",
            &format!("example.com, {no_proxy}"),
            "--dns-server",
            &dns.addr.to_string(),
            "--ca-file",
            r.ca(),
            &image,
        ]);
        let tcp = stage(&j["images"][0], "tcp")["detail"].as_str().unwrap();
        assert!(!tcp.contains("proxy"), "{no_proxy}: {tcp}");
    }
    assert!(
        proxy.requests().is_empty(),
        "nothing goes through the proxy: {}",
        proxy.log()
    );
}

#[test]
fn proxy_never_used_for_a_loopback_ip_literal() {
    let reg = Registry::plain_with("app", "v1");
    let dead = format!("http://127.0.0.1:{}", net::refused_port());
    let image = format!("{}/app:v1", reg.host());
    let j = expect_pullable(&["--proxy", &dead, "--plain-http", &reg.host(), &image]);
    let tcp = stage(&j["images"][0], "tcp")["detail"].as_str().unwrap();
    assert_eq!(tcp, format!("connected to {}", reg.addr));
}

#[test]
fn proxy_plain_http_registry_by_name_in_absolute_form() {
    let reg = Registry::plain_with("app", "v1");
    let proxy = Tinyproxy::start(&[(NAME, LOCAL)]);
    let host = format!("{NAME}:{}", reg.addr.port());
    let image = format!("{host}/app:v1");
    let j = expect_pullable(&["--proxy", &proxy.url(), "--plain-http", &host, &image]);
    let tcp = stage(&j["images"][0], "tcp")["detail"].as_str().unwrap();
    assert!(
        tcp.contains(&format!("connected to proxy {}", proxy.url())),
        "{tcp}"
    );
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .any(|q| q.starts_with(&format!("GET http://{host}/v2/ "))),
        "{requests:?}"
    );
    // The whole pull path (the default depth): the manifest GET and the blobs, all in absolute
    // form through the proxy.
    assert!(
        requests
            .iter()
            .any(|q| q.starts_with(&format!("GET http://{host}/v2/app/manifests/v1 "))),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .any(|q| q.starts_with(&format!("HEAD http://{host}/v2/app/blobs/sha256:"))),
        "{requests:?}"
    );
}

#[test]
fn proxy_credentials_are_sent_and_never_shown() {
    const PASSWORD: &str = "hunter2-proxy-secret";
    let r = TlsRegistry::new();
    let proxy = Tinyproxy::with(&ProxyOptions {
        hosts: &[(NAME, LOCAL)],
        basic_auth: Some(("alice", PASSWORD)),
        ..ProxyOptions::default()
    });
    let with_auth = format!("http://alice:{PASSWORD}@{}", proxy.addr);
    let shown = format!("http://***@{}", proxy.addr);
    let image = r.image();
    let assert_hidden = |what: &str, out: &str| {
        assert!(!out.contains(PASSWORD), "{what} shows the password:\n{out}");
    };

    // Accepted: tinyproxy answers 407 without them, so they went out, on both tunnels.
    for output in ["json", "human"] {
        let run = run(&[
            "-vvv",
            "check",
            "-o",
            output,
            "--proxy",
            &with_auth,
            "--ca-file",
            r.ca(),
            &image,
        ]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert_hidden("stdout", &run.stdout);
        assert_hidden("stderr", &run.stderr);
        if output == "json" {
            let dns = stage(&run.json()["images"][0], "dns")["detail"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(dns.contains(&shown), "{dns}");
        }
    }

    // Refused: the message names the proxy, redacted.
    let wrong = format!("http://alice:{PASSWORD}-wrong@{}", proxy.addr);
    let img = expect_code(
        &["--proxy", &wrong, "--ca-file", r.ca(), &image],
        "proxy-error",
    );
    let msg = message(&img);
    assert!(
        msg.contains(&format!("the proxy {shown} answered CONNECT")),
        "{msg}"
    );
    // tinyproxy answers 401 where the standard says 407.
    assert!(msg.contains(" 401 ") || msg.contains(" 407 "), "{msg}");
    let hint = img["diagnosis"]["hint"].as_str().unwrap();
    assert!(hint.contains("credentials"), "{hint}");
    let all = check(&["-vvv", "--proxy", &wrong, "--ca-file", r.ca(), &image]);
    assert_hidden("stdout", &all.stdout);
    assert_hidden("stderr", &all.stderr);

    // The registry walk too.
    let walk = run(&[
        "-vvv",
        "registry",
        "-o",
        "json",
        "--proxy",
        &with_auth,
        "--ca-file",
        r.ca(),
        &r.host,
    ]);
    assert_eq!(walk.code, 0, "{}\n{}", walk.stdout, walk.stderr);
    assert_hidden("registry stdout", &walk.stdout);
    assert_hidden("registry stderr", &walk.stderr);

    // A proxy URL that is refused before any I/O.
    let bad = run(&[
        "check",
        "--proxy",
        &format!("socks5://alice:{PASSWORD}@{}", proxy.addr),
        &image,
    ]);
    assert_eq!(bad.code, 2, "{}\n{}", bad.stdout, bad.stderr);
    assert!(
        bad.stderr.contains("only http:// proxies"),
        "{}",
        bad.stderr
    );
    assert_hidden("usage error", &bad.stderr);
}

#[test]
fn proxy_registry_walk_goes_through_the_proxy() {
    let r = TlsRegistry::new();
    let proxy = Tinyproxy::start(&[(NAME, LOCAL)]);
    let walk = run(&[
        "registry",
        "-o",
        "json",
        "--proxy",
        &proxy.url(),
        "--ca-file",
        r.ca(),
        &r.host,
    ]);
    assert_eq!(walk.code, 0, "{}\n{}", walk.stdout, walk.stderr);
    let connect = format!("CONNECT {} HTTP/1.1", r.host);
    assert!(proxy.requests().contains(&connect), "{}", proxy.log());
}
