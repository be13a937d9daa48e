//! The registry-wide stages against real servers: DNS through dnsmasq, refused and black-holed
//! connects, certificates made by the tests, plain HTTP against TLS both ways, and in-process fakes
//! for what a real registry does not do (not a registry, 429, 500, silence).

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use crate::common::{check, expect_code, expect_pullable, path_str};
use crate::support::dns::DnsServer;
use crate::support::fake::{FakeResponse, FakeServer, MANIFEST, blob_ok, manifest_ok};
use crate::support::net::{self, BlackHole, Silent};
use crate::support::pki::Pki;
use crate::support::registry::Registry;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn dns_args(dns: &DnsServer) -> String {
    dns.addr.to_string()
}

/// The suite's registries listen on loopback, which every runtime treats as special (containerd
/// 2 skips verification for a loopback address, see `runtimes.rs`): a TLS outcome is asserted on
/// a registry reached by name, `registry.preflight.test:PORT` through a DNS server of its own.
struct Named {
    _dns: DnsServer,
    dns: String,
    host: String,
}

impl Named {
    fn new(reg: &Registry) -> Named {
        let dns = DnsServer::start(&[("registry.preflight.test", LOCAL)]);
        Named {
            dns: dns_args(&dns),
            host: format!("registry.preflight.test:{}", reg.addr.port()),
            _dns: dns,
        }
    }

    /// `--dns-server ADDR`, then `extra`, then the image `repo:tag` on the named registry.
    fn args<'a>(&'a self, extra: &[&'a str], image: &'a str) -> Vec<String> {
        let mut args = vec!["--dns-server".to_owned(), self.dns.clone()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.push(format!("{}/{image}", self.host));
        args
    }
}

fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn dns_nxdomain() {
    let dns = DnsServer::start(&[]);
    let image = expect_code(
        &["--dns-server", &dns_args(&dns), "nx.preflight.test/app:v1"],
        "dns-nxdomain",
    );
    assert_eq!(image["diagnosis"]["stage"], "dns");
    assert!(
        image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("nx.preflight.test")
    );
}

#[test]
fn dns_no_address() {
    let dns = DnsServer::start(&[]);
    expect_code(
        &[
            "--dns-server",
            &dns_args(&dns),
            "noaddr.preflight.test/app:v1",
        ],
        "dns-no-address",
    );
}

#[test]
fn dns_timeout_within_the_deadline() {
    let dns = DnsServer::start(&[]);
    let started = Instant::now();
    expect_code(
        &[
            "--dns-server",
            &dns_args(&dns),
            "--timeout",
            "2",
            "timeout.preflight.test/app:v1",
        ],
        "dns-timeout",
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// A DNS server that answers every query with SERVFAIL — what a broken upstream does, and what
/// dnsmasq cannot be told to do for one name.
fn servfail_server() -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let mut reply = buf[..n].to_vec();
            reply[2] = 0x80 | (buf[2] & 0x79); // QR, same opcode and RD
            reply[3] = 0x80 | 2; // RA, RCODE=SERVFAIL
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

#[test]
fn dns_server_failure_is_dns_error() {
    let addr = servfail_server();
    let image = expect_code(
        &[
            "--dns-server",
            &addr.to_string(),
            "--timeout",
            "5",
            "registry.preflight.test/app:v1",
        ],
        "dns-error",
    );
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains("SERVFAIL") || message.contains("Server Failure"),
        "{message}"
    );
}

#[test]
fn a_name_resolved_by_the_dns_server_is_the_one_connected_to() {
    let dns = DnsServer::start(&[("registry.preflight.test", LOCAL)]);
    let reg = Registry::plain_with("shop/app", "v1");
    let named = format!("registry.preflight.test:{}", reg.addr.port());
    let report = expect_pullable(&[
        "--dns-server",
        &dns_args(&dns),
        "--plain-http",
        &named,
        &format!("{named}/shop/app:v1"),
    ]);
    let detail = report["images"][0]["stages"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("127.0.0.1"), "{detail}");
}

/// A resolver configuration that is not there: `--resolv-conf` naming a file that does not exist,
/// as a minimal container without `/etc/resolv.conf` is.
fn missing_resolv_conf() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = path_str(&dir.path().join("resolv.conf")).to_owned();
    (dir, path)
}

#[test]
fn an_ip_literal_registry_needs_no_resolver_configuration() {
    let reg = Registry::plain_with("shop/app", "v1");
    let (_dir, missing) = missing_resolv_conf();
    let host = reg.host();
    let report = expect_pullable(&[
        "--resolv-conf",
        &missing,
        "--plain-http",
        &host,
        &format!("{host}/shop/app:v1"),
    ]);
    let dns = &report["images"][0]["stages"][0];
    assert_eq!(dns["stage"], "dns");
    assert_eq!(dns["ok"], true);
    assert!(
        dns["detail"]
            .as_str()
            .unwrap()
            .contains("nothing to resolve"),
        "{dns}"
    );
}

#[test]
fn a_named_registry_without_resolver_configuration_is_dns_config_for_that_image_only() {
    let reg = Registry::plain_with("shop/app", "v1");
    let (_dir, missing) = missing_resolv_conf();
    let host = reg.host();
    let named = format!("registry.preflight.test:{}", reg.addr.port());
    let r = check(&[
        "--resolv-conf",
        &missing,
        "--plain-http",
        &host,
        "--plain-http",
        &named,
        &format!("{named}/shop/app:v1"),
        &format!("{host}/shop/app:v1"),
    ]);
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let report = r.json();
    let images = report["images"].as_array().unwrap();
    let named_image = images
        .iter()
        .find(|i| i["registry"] == named.as_str())
        .unwrap();
    assert_eq!(
        named_image["diagnosis"]["code"], "dns-config",
        "{named_image}"
    );
    assert_eq!(named_image["diagnosis"]["stage"], "dns");
    let message = named_image["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains(&missing) && message.contains("does not exist"),
        "{message}"
    );
    let ip_image = images
        .iter()
        .find(|i| i["registry"] == host.as_str())
        .unwrap();
    assert_eq!(ip_image["pullable"], true, "{ip_image}");
}

#[test]
fn a_malformed_resolver_configuration_is_dns_config_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolv.conf");
    // No line names a usable server: `nameserver` wants an IP address.
    std::fs::write(&path, "search corp.example\nnameserver dns.corp.example\n").unwrap();
    let path = path_str(&path).to_owned();
    let image = expect_code(
        &["--resolv-conf", &path, "registry.preflight.test/app:v1"],
        "dns-config",
    );
    assert_eq!(image["diagnosis"]["stage"], "dns");
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains(&path) && message.contains("registry.preflight.test"),
        "{message}"
    );
    assert!(message.contains("line 2"), "{message}");
}

/// The proxy's own name cannot be resolved without a resolver either: the configuration is at
/// fault, not the proxy (`dns-config`, not `proxy-error`).
#[test]
fn a_named_proxy_without_resolver_configuration_is_dns_config() {
    let (_dir, missing) = missing_resolv_conf();
    let image = expect_code(
        &[
            "--resolv-conf",
            &missing,
            "--proxy",
            "http://proxy.preflight.test:3128",
            "registry.preflight.test/app:v1",
        ],
        "dns-config",
    );
    assert_eq!(image["diagnosis"]["stage"], "dns");
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot resolve proxy.preflight.test") && message.contains(&missing),
        "{message}"
    );
}

#[test]
fn an_unreadable_resolver_configuration_is_dns_config() {
    // A directory where the file should be: read(2) fails with EISDIR, even for root.
    let dir = tempfile::tempdir().unwrap();
    let path = path_str(dir.path()).to_owned();
    let image = expect_code(
        &["--resolv-conf", &path, "registry.preflight.test/app:v1"],
        "dns-config",
    );
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains(&path) && message.contains("cannot be read"),
        "{message}"
    );
}

/// The default, the system's `/etc/resolv.conf`, read only when a name needs it: the binary runs
/// in a mount namespace of its own (`unshare --mount`, root) where an empty file hides the
/// machine's, so an IP-literal registry is pullable and a named one is `dns-config` naming
/// `/etc/resolv.conf`. Outside the namespace nothing changes.
#[test]
fn without_a_usable_system_resolv_conf_only_names_fail() {
    let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| {
        use std::os::unix::fs::MetadataExt as _;
        m.uid()
    });
    assert_eq!(
        uid, 0,
        "hiding /etc/resolv.conf needs root (a mount namespace): run as root, as CI does"
    );
    let reg = Registry::plain_with("shop/app", "v1");
    let host = reg.host();
    let named = format!("registry.preflight.test:{}", reg.addr.port());
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("resolv.conf");
    std::fs::write(&empty, "").unwrap();
    let bin = crate::common::preflight_process();
    let mut cmd = std::process::Command::new("unshare");
    for (key, value) in bin.get_envs() {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(r#"mount --bind "$0" /etc/resolv.conf && exec "$@""#)
        .arg(&empty)
        .arg(bin.get_program())
        .args([
            "check",
            "-o",
            "json",
            "--timeout",
            "20",
            "--plain-http",
            &host,
        ])
        .args(["--plain-http", &named])
        .args([
            format!("{host}/shop/app:v1"),
            format!("{named}/shop/app:v1"),
        ]);
    let out = assert_cmd::Command::from_std(cmd)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("unshare runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    crate::common::assert_valid_output("check", &stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let images = report["images"].as_array().unwrap();
    let by_registry = |r: &str| images.iter().find(|i| i["registry"] == r).unwrap();
    assert_eq!(by_registry(&host)["pullable"], true, "{report}");
    let d = &by_registry(&named)["diagnosis"];
    assert_eq!(d["code"], "dns-config", "{d}");
    assert_eq!(
        d["message"],
        format!(
            "cannot resolve registry.preflight.test: the resolver configuration /etc/resolv.conf \
             is unusable: no nameservers found in config"
        ),
        "{d}"
    );
}

/// `--resolv-conf` asks the servers its file names. A `resolv.conf` has no port, so the DNS
/// server listens on port 53 of a loopback address of its own (root, as the oracle tests).
#[test]
fn resolv_conf_names_the_servers_that_are_asked() {
    let dns = DnsServer::start_on_port_53(&[("registry.preflight.test", LOCAL)]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resolv.conf");
    std::fs::write(
        &path,
        format!(
            "nameserver {}\noptions timeout:2 attempts:1\n",
            dns.addr.ip()
        ),
    )
    .unwrap();
    let path = path_str(&path).to_owned();
    let reg = Registry::plain_with("shop/app", "v1");
    let named = format!("registry.preflight.test:{}", reg.addr.port());
    let report = expect_pullable(&[
        "--resolv-conf",
        &path,
        "--plain-http",
        &named,
        &format!("{named}/shop/app:v1"),
    ]);
    let detail = report["images"][0]["stages"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains("127.0.0.1") && detail.contains(&path),
        "{detail}"
    );
    // And a name the server does not know is its NXDOMAIN, not a configuration problem.
    let image = expect_code(
        &["--resolv-conf", &path, "nx.preflight.test/app:v1"],
        "dns-nxdomain",
    );
    assert!(
        image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains(&path),
        "{image}"
    );
}

#[test]
fn tcp_refused() {
    let port = net::refused_port();
    let image = expect_code(&[&format!("127.0.0.1:{port}/app:v1")], "tcp-refused");
    assert_eq!(image["diagnosis"]["stage"], "tcp");
}

#[test]
fn tcp_timeout_on_a_black_hole() {
    let hole = BlackHole::new();
    let started = Instant::now();
    expect_code(
        &["--timeout", "2", &format!("{}/app:v1", hole.addr)],
        "tcp-timeout",
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn tcp_unreachable() {
    // TCP to a multicast address fails at once with "network unreachable" on Linux.
    expect_code(
        &["--timeout", "5", "224.0.0.1:5000/app:v1"],
        "tcp-unreachable",
    );
}

fn tls_registry(pki: &Pki, which: fn(&Pki) -> &crate::support::pki::CertFiles) -> Registry {
    Registry::tls_basic(pki, which(pki), &[("admin", "admin-pass")])
}

#[test]
fn tls_unknown_issuer_without_the_ca() {
    let pki = Pki::new();
    let reg = tls_registry(&pki, |p| &p.server);
    let named = Named::new(&reg);
    let image = expect_code(&refs(&named.args(&[], "app:v1")), "tls-unknown-issuer");
    assert_eq!(image["diagnosis"]["stage"], "tls");
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(
        message.contains("issued by"),
        "the certificate seen is described: {message}"
    );
}

#[test]
fn tls_unknown_issuer_from_another_ca() {
    let pki = Pki::new();
    let reg = tls_registry(&pki, |p| &p.unknown_ca_server);
    let named = Named::new(&reg);
    let ca = path_str(&pki.ca.pem_path);
    expect_code(
        &refs(&named.args(&["--ca-file", ca], "app:v1")),
        "tls-unknown-issuer",
    );
}

#[test]
fn tls_expired() {
    let pki = Pki::new();
    let reg = tls_registry(&pki, |p| &p.expired);
    let named = Named::new(&reg);
    let ca = path_str(&pki.ca.pem_path);
    let image = expect_code(
        &refs(&named.args(&["--ca-file", ca], "app:v1")),
        "tls-expired",
    );
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(message.contains("expired"), "{message}");
}

#[test]
fn tls_hostname_mismatch() {
    let pki = Pki::new();
    let reg = tls_registry(&pki, |p| &p.wrong_host);
    let named = Named::new(&reg);
    let ca = path_str(&pki.ca.pem_path);
    let image = expect_code(
        &refs(&named.args(&["--ca-file", ca], "app:v1")),
        "tls-hostname-mismatch",
    );
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(message.contains("other.preflight.test"), "{message}");
}

#[test]
fn trusted_tls_records_the_certificate() {
    let pki = Pki::new();
    let reg = Registry::tls_basic(&pki, &pki.server, &[("admin", "admin-pass")]);
    // Credentials are needed past ping; the tls stage is what this test reads.
    let image = expect_code(
        &[
            "--ca-file",
            path_str(&pki.ca.pem_path),
            &format!("{}/app:v1", reg.host()),
        ],
        "auth-required",
    );
    let tls = &image["stages"][2];
    assert_eq!(tls["stage"], "tls");
    assert_eq!(tls["ok"], true);
    let detail = tls["detail"].as_str().unwrap();
    assert!(detail.contains("TLSv1.3"), "{detail}");
    assert!(detail.contains("127.0.0.1"), "SANs listed: {detail}");
    assert!(detail.contains("expires in"), "{detail}");
}

#[test]
fn skip_verify_accepts_an_untrusted_certificate() {
    let pki = Pki::new();
    let reg = tls_registry(&pki, |p| &p.unknown_ca_server);
    let host = reg.host();
    // Past TLS, the registry asks for credentials: proof the handshake was accepted.
    let image = expect_code(
        &[
            "--insecure-skip-tls-verify",
            &host,
            &format!("{host}/app:v1"),
        ],
        "auth-required",
    );
    assert!(
        image["stages"][2]["detail"]
            .as_str()
            .unwrap()
            .contains("not verified")
    );
}

#[test]
fn tls_client_meeting_a_plain_http_registry() {
    let reg = Registry::plain();
    let named = Named::new(&reg);
    let image = expect_code(&refs(&named.args(&[], "app:v1")), "tls-server-speaks-http");
    assert_eq!(image["diagnosis"]["stage"], "tls");
}

#[test]
fn plain_http_client_meeting_a_tls_registry() {
    let pki = Pki::new();
    let reg = tls_registry(&pki, |p| &p.server);
    let host = reg.host();
    let image = expect_code(
        &["--plain-http", &host, &format!("{host}/app:v1")],
        "plain-http-to-tls",
    );
    assert_eq!(image["diagnosis"]["stage"], "ping");
}

#[test]
fn tls_handshake_with_a_server_that_is_not_tls() {
    // An SSH server on the registry port: neither TLS nor HTTP.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = conn.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let image = expect_code(
        &["--timeout", "5", &format!("{addr}/app:v1")],
        "tls-handshake",
    );
    assert_eq!(image["diagnosis"]["stage"], "tls");
}

#[test]
fn a_web_server_is_not_a_registry() {
    let web = FakeServer::plain(|_req| {
        FakeResponse::new(404)
            .header("content-type", "text/html")
            .body(b"<html><body>Not Found</body></html>".to_vec())
    });
    let host = web.host();
    let image = expect_code(
        &["--plain-http", &host, &format!("{host}/app:v1")],
        "not-a-registry",
    );
    assert_eq!(image["diagnosis"]["stage"], "ping");
}

#[test]
fn a_login_page_on_v2_is_not_a_registry() {
    let web = FakeServer::plain(|_req| {
        FakeResponse::new(200)
            .header("content-type", "text/html")
            .body(b"<!doctype html><title>Sign in</title>".to_vec())
    });
    let host = web.host();
    expect_code(
        &["--plain-http", &host, &format!("{host}/app:v1")],
        "not-a-registry",
    );
}

/// A registry whose manifests are answered by `manifest`, and which has the fake image's blobs.
fn registry_that(manifest: impl Fn() -> FakeResponse + Send + Sync + 'static) -> FakeServer {
    FakeServer::plain(move |req| {
        if req.path == "/v2/" {
            FakeResponse::new(200)
                .header("docker-distribution-api-version", "registry/2.0")
                .json(serde_json::json!({}))
        } else if let Some(blob) = blob_ok(req) {
            blob
        } else {
            manifest()
        }
    })
}

#[test]
fn too_many_requests_is_rate_limited_with_retry_after_and_budget() {
    let fake = registry_that(|| {
        FakeResponse::new(429)
            .header("retry-after", "120")
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", "0;w=21600")
            .header("docker-ratelimit-source", "192.0.2.7")
            .json(serde_json::json!({"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}))
    });
    let host = fake.host();
    let image_ref = format!("{host}/app:v1");
    // The manifest is asked with a GET at the default depth and with a HEAD at `--depth
    // manifest`, where a refused HEAD is otherwise asked again as a GET.
    for (depth, method) in [(None, "GET"), (Some("manifest"), "HEAD")] {
        fake.clear_requests();
        let mut args = vec!["--plain-http", host.as_str(), image_ref.as_str()];
        if let Some(depth) = depth {
            args.extend(["--depth", depth]);
        }
        let image = expect_code(&args, "rate-limited");
        assert_eq!(image["diagnosis"]["stage"], "manifest");
        assert!(image["diagnosis"]["hint"].as_str().unwrap().contains("120"));
        assert_eq!(
            image["rate_limit"],
            serde_json::json!({"limit": 100, "remaining": 0, "window_seconds": 21600, "source": "192.0.2.7"})
        );
        let asked: Vec<String> = fake
            .requests()
            .iter()
            .filter(|r| r.path != "/v2/")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert_eq!(
            asked,
            [format!("{method} /v2/app/manifests/v1")],
            "a 429 is not retried in a loop, nor asked again another way ({depth:?})"
        );
    }
}

#[test]
fn rate_limit_headers_are_read_on_success() {
    let fake = registry_that(|| {
        manifest_ok()
            .header("ratelimit-limit", "100;w=21600")
            .header("ratelimit-remaining", "76;w=21600")
    });
    let host = fake.host();
    let report = expect_pullable(&["--plain-http", &host, &format!("{host}/app:v1")]);
    assert_eq!(report["images"][0]["rate_limit"]["remaining"], 76);
    assert_eq!(report["images"][0]["size"], MANIFEST.len());
}

#[test]
fn server_errors_are_registry_error() {
    let fake = registry_that(|| FakeResponse::new(500).body(b"internal error".to_vec()));
    let host = fake.host();
    let image = expect_code(
        &["--plain-http", &host, &format!("{host}/app:v1")],
        "registry-error",
    );
    assert_eq!(image["diagnosis"]["stage"], "manifest");

    let down = FakeServer::plain(|_| FakeResponse::new(503));
    let host = down.host();
    let image = expect_code(
        &["--plain-http", &host, &format!("{host}/app:v1")],
        "registry-error",
    );
    assert_eq!(image["diagnosis"]["stage"], "ping");
}

#[test]
fn a_registry_that_never_answers_times_out_within_the_deadline() {
    let silent = Silent::new();
    let host = silent.addr.to_string();
    let started = Instant::now();
    let image = expect_code(
        &[
            "--plain-http",
            &host,
            "--timeout",
            "2",
            &format!("{host}/app:v1"),
        ],
        "timeout",
    );
    assert_eq!(image["diagnosis"]["stage"], "ping");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(8),
        "took {took:?}"
    );
}

#[test]
fn a_tls_server_that_stalls_in_the_handshake_times_out() {
    let silent = Silent::new();
    let started = Instant::now();
    let image = expect_code(
        &["--timeout", "2", &format!("{}/app:v1", silent.addr)],
        "timeout",
    );
    assert_eq!(image["diagnosis"]["stage"], "tls");
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn registries_fail_independently() {
    let reg = Registry::plain_with("shop/app", "v1");
    let host = reg.host();
    let port = net::refused_port();
    let r = check(&[
        "--plain-http",
        &host,
        &format!("{host}/shop/app:v1"),
        &format!("127.0.0.1:{port}/shop/app:v1"),
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(r.code_of(0), None);
    assert_eq!(r.code_of(1).as_deref(), Some("tcp-refused"));
    let j = r.json();
    assert_eq!(j["pullable"], false);
    assert_eq!(j["summary"]["pullable"], 1);
}
