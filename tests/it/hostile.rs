//! Hostile servers: registries and token services that stall, trickle, flood or redirect where
//! they should not. Every case asserts the exact diagnosis code, its stage, and a time bound
//! measured around the whole run: either the deadline (`--timeout`) plus a little, or — for a
//! server that gives itself away — well within it. Volume is streamed by the fakes
//! ([`Tail`]), so a 1 GiB body costs the test nothing, and the fake reports how much it got to
//! write before the client hung up.

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::common::{Run, docker_config, path_str, preflight, run_cmd};
use crate::support::fake::{
    DIGEST, FakeRequest, FakeResponse, FakeServer, Streamed, Tail, challenge, manifest_ok, v2_ok,
    v2_or_image,
};
use crate::support::net::Silent;
use crate::support::pki::Pki;

/// The per-image deadline every case runs with.
const TIMEOUT: Duration = Duration::from_secs(3);
/// What a run may take beyond the deadline: starting the process and writing the report. Less
/// than the checker's own backstop (2 s past the deadline), so a wait the library forgot to
/// bound fails here instead of being rescued by it.
const SLACK: Duration = Duration::from_millis(1500);
/// The bound for a server that gives itself away at once: nothing should wait for the deadline.
const FAST: Duration = Duration::from_secs(2);

const GIB: u64 = 1 << 30;

/// `preflight check -o json --timeout 3 ARGS…`, timed.
fn timed_check<S: AsRef<OsStr>>(args: &[S]) -> (Run, Duration) {
    let mut cmd = preflight();
    cmd.args(["check", "-o", "json", "--timeout"])
        .arg(TIMEOUT.as_secs().to_string())
        .args(args);
    let started = Instant::now();
    let run = run_cmd(&mut cmd);
    (run, started.elapsed())
}

/// `--plain-http HOST EXTRA… HOST/app:v1`: the arguments that check one image on a plain-HTTP fake.
fn plain(fake: &FakeServer, extra: &[&str]) -> Vec<String> {
    let host = fake.host();
    let mut args = vec!["--plain-http".to_owned(), host.clone()];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args.push(format!("{host}/app:v1"));
    args
}

/// Checks one image, asserts it fails with `code` in `stage`, with `fragment` in the message,
/// within `bound`, and returns its report.
fn expect_failure<S: AsRef<OsStr>>(
    args: &[S],
    code: &str,
    stage: &str,
    fragment: &str,
    bound: Duration,
) -> Value {
    let (run, took) = timed_check(args);
    assert_eq!(
        run.code_of(0).as_deref(),
        Some(code),
        "expected {code}\nstdout:\n{}\nstderr:\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let image = run.image(0);
    assert_eq!(image["diagnosis"]["stage"], stage, "{image:#}");
    let message = image["diagnosis"]["message"].as_str().unwrap_or_default();
    assert!(
        !message.contains("did not finish within its deadline"),
        "only the checker's backstop ended this wait: {message}"
    );
    assert!(message.contains(fragment), "{image:#}");
    assert!(took < bound, "took {took:?}, bound {bound:?}: {image:#}");
    image
}

/// Checks one image and asserts it fails with `timeout` in `stage`, no sooner than the deadline
/// and no later than the slack after it, with `fragment` in the message.
fn expect_timeout_at_deadline<S: AsRef<OsStr>>(args: &[S], stage: &str, fragment: &str) -> Value {
    let started = Instant::now();
    let image = expect_failure(args, "timeout", stage, fragment, TIMEOUT + SLACK);
    assert!(started.elapsed() >= TIMEOUT, "gave up before the deadline");
    image
}

/// A plain-HTTP registry whose `/v2/` is answered by `ping` and everything else by `rest`.
fn registry(
    ping: impl Fn() -> FakeResponse + Send + Sync + 'static,
    rest: impl Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static,
) -> FakeServer {
    FakeServer::plain(move |req| {
        if req.path == "/v2/" {
            ping()
        } else {
            rest(req)
        }
    })
}

/// Waits for the fake's one tail to end and asserts the client hung up on it.
fn hung_up_on(fake: &FakeServer) -> Streamed {
    let streams = fake.wait_streams(1, Duration::from_secs(5));
    let [streamed] = streams.as_slice() else {
        panic!("expected one streamed answer, got {streams:?}");
    };
    assert!(
        streamed.client_closed,
        "the client never hung up: {streamed:?}"
    );
    *streamed
}

#[test]
fn a_registry_that_never_finishes_its_headers_times_out_in_ping() {
    let fake = FakeServer::plain(|_| FakeResponse::raw("HTTP/1.1 200 OK\r\n").then(Tail::Stall));
    expect_timeout_at_deadline(&plain(&fake, &[]), "ping", "/v2/");
    // Released at the deadline, not held until the process exited.
    let streamed = hung_up_on(&fake);
    assert!(streamed.lasted < TIMEOUT + SLACK, "{streamed:?}");
}

#[test]
fn a_registry_that_trickles_its_headers_times_out_in_ping() {
    // A header line a byte a second: every read makes progress, none completes the head.
    let fake = FakeServer::plain(|_| {
        FakeResponse::raw("HTTP/1.1 200 OK\r\n").then(Tail::Trickle {
            bytes: b"x-slow: 1\r\n".to_vec(),
            every: Duration::from_secs(1),
        })
    });
    expect_timeout_at_deadline(&plain(&fake, &[]), "ping", "/v2/");
    let streamed = hung_up_on(&fake);
    assert!(
        (1..=5).contains(&streamed.written),
        "a byte a second for about three seconds: {streamed:?}"
    );
}

#[test]
fn a_registry_that_trickles_its_ping_body_times_out_in_ping() {
    // Complete, registry-looking headers; then a body of 1000 bytes, one a second.
    let fake = registry(
        || {
            FakeResponse::new(200)
                .header("docker-distribution-api-version", "registry/2.0")
                .header("content-type", "application/json")
                .header("content-length", "1000")
                .body("{")
                .then(Tail::Trickle {
                    bytes: b" ".to_vec(),
                    every: Duration::from_secs(1),
                })
        },
        |_| manifest_ok(),
    );
    expect_timeout_at_deadline(&plain(&fake, &[]), "ping", "/v2/");
    hung_up_on(&fake);
    assert!(
        fake.requests().iter().all(|r| r.path == "/v2/"),
        "nothing is asked after the deadline passed: {:?}",
        fake.requests()
    );
}

#[test]
fn gigabyte_bodies_are_read_only_up_to_their_caps() {
    // `/v2/` and the image index each answer with 1 GiB (declared, and streamed for as long as
    // anyone reads). The ping needs none of it; the index is capped at a few MiB, wherever it is
    // read: by the manifest stage's GET at the default depth, by the platform stage at `--depth
    // manifest` (after a HEAD).
    let huge = || {
        FakeResponse::new(200)
            .header("docker-distribution-api-version", "registry/2.0")
            .header("content-type", "application/json")
            .header("content-length", GIB.to_string())
            .then(Tail::Repeat {
                chunk: vec![b' '; 64 * 1024],
                total: GIB,
            })
    };
    for (depth, stage) in [("blobs", "manifest"), ("manifest", "platform")] {
        let fake = registry(huge, move |req| {
            if req.method == "HEAD" {
                FakeResponse::new(200)
                    .header("content-type", "application/vnd.oci.image.index.v1+json")
                    .header("docker-content-digest", DIGEST)
                    .header("content-length", GIB.to_string())
            } else {
                huge()
            }
        });
        let image = expect_failure(
            &plain(&fake, &["--platform", "linux/amd64", "--depth", depth]),
            "registry-error",
            stage,
            "larger than",
            FAST,
        );
        let ping = image["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == "ping")
            .unwrap();
        assert_eq!(ping["ok"], true, "a registry header and a 200 are enough");

        let streams = fake.wait_streams(2, Duration::from_secs(5));
        assert_eq!(streams.len(), 2, "{depth}: {streams:?}");
        for s in &streams {
            // Socket buffers on loopback hold a few MiB; the client itself read far less.
            assert!(
                s.client_closed && s.written < 64 << 20,
                "{depth}: the client kept reading: {s:?}"
            );
        }
    }
}

#[test]
fn endless_headers_are_a_registry_error_at_once() {
    let fake = FakeServer::plain(|_| {
        FakeResponse::raw("HTTP/1.1 200 OK\r\n").then(Tail::Repeat {
            chunk: b"x-filler: 0123456789abcdef0123456789abcdef\r\n".to_vec(),
            total: u64::MAX,
        })
    });
    expect_failure(
        &plain(&fake, &[]),
        "registry-error",
        "ping",
        "too large",
        FAST,
    );
    let streamed = hung_up_on(&fake);
    assert!(streamed.written < 64 << 20, "{streamed:?}");
}

#[test]
fn a_plain_http_registry_that_hangs_up_is_a_registry_error_before_the_deadline() {
    // preflight then asks whether the port speaks TLS (was --plain-http a mistake?); this server
    // waits for a request line that a ClientHello never completes, so only a bounded probe
    // keeps the question from taking the deadline.
    let fake = FakeServer::plain(|_| FakeResponse::hang_up());
    expect_failure(
        &plain(&fake, &[]),
        "registry-error",
        "ping",
        "broke the HTTP exchange",
        FAST,
    );
}

/// Checks an image on a registry that sends clients to `tokens` for a token (and grants the
/// manifest to any bearer); asserts `auth-server-error` with `fragment` in the message within
/// `bound`. Returns the registry and the image's report.
fn expect_token_failure(
    tokens: &FakeServer,
    fragment: &str,
    bound: Duration,
) -> (FakeServer, Value) {
    let realm = format!("{}/token", tokens.base_url());
    let reg = FakeServer::plain(move |req| match req.header("authorization") {
        Some(a) if a.starts_with("Bearer ") => v2_or_image(req),
        _ => challenge(format!(r#"Bearer realm="{realm}",service="reg""#)),
    });
    let image = expect_failure(
        &plain(&reg, &[]),
        "auth-server-error",
        "auth",
        fragment,
        bound,
    );
    (reg, image)
}

#[test]
fn a_token_service_answering_100_mb_of_json_is_auth_server_error_at_once() {
    const SIZE: u64 = 100 << 20;
    let opening = br#"{"token":""#;
    let tokens = FakeServer::plain(move |_| {
        FakeResponse::new(200)
            .header("content-type", "application/json")
            .header("content-length", SIZE.to_string())
            .body(opening.to_vec())
            .then(Tail::Repeat {
                chunk: vec![b'a'; 64 * 1024],
                total: SIZE - opening.len() as u64,
            })
    });
    expect_token_failure(&tokens, "larger than", FAST);
    let streamed = hung_up_on(&tokens);
    assert!(streamed.written < 64 << 20, "{streamed:?}");
}

#[test]
fn a_token_service_that_trickles_its_token_is_auth_server_error_at_the_deadline() {
    let tokens = FakeServer::plain(|_| {
        FakeResponse::new(200)
            .header("content-type", "application/json")
            .header("content-length", "4096")
            .body(r#"{"token":""#)
            .then(Tail::Trickle {
                bytes: b"a".to_vec(),
                every: Duration::from_secs(1),
            })
    });
    let started = Instant::now();
    let (reg, _) = expect_token_failure(&tokens, "deadline", TIMEOUT + SLACK);
    assert!(started.elapsed() >= TIMEOUT, "gave up before the deadline");
    hung_up_on(&tokens);
    assert!(
        reg.requests().iter().all(|r| r.method != "HEAD"),
        "no manifest request without a token"
    );
}

#[test]
fn a_token_service_answering_malformed_json_is_auth_server_error() {
    let tokens = FakeServer::plain(|_| {
        FakeResponse::new(200)
            .header("content-type", "application/json")
            .body(r#"{"token": "abc", "expires_in": 300"#)
    });
    expect_token_failure(&tokens, "not JSON", FAST);
    assert_eq!(tokens.requests().len(), 1, "asked once, not in a loop");
}

#[test]
fn a_redirect_loop_is_a_registry_error_at_once() {
    let fake = registry(v2_ok, |req| {
        FakeResponse::new(307).header("location", req.path.clone())
    });
    expect_failure(
        &plain(&fake, &[]),
        "registry-error",
        "manifest",
        "redirect",
        FAST,
    );
    // The manifest is asked with a GET at the default depth (a HEAD at `--depth manifest`).
    let asked = fake
        .requests()
        .iter()
        .filter(|r| r.path_only().contains("/manifests/"))
        .count();
    assert!(
        (2..=6).contains(&asked),
        "a loop is followed a few times, once: {asked} manifest requests"
    );
}

const USER: &str = "deployer";
const CANARY: &str = "CANARY-hostile-4d1e";

fn basic_canary() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{CANARY}"))
    )
}

/// Asserts that nothing `fake` received carries the canary, raw or encoded.
fn received_no_canary(fake: &FakeServer) {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{CANARY}"));
    for req in fake.requests() {
        let seen = req.as_text();
        assert!(
            !seen.contains(CANARY) && !seen.contains(&encoded),
            "the credentials reached {}: {seen}",
            fake.host()
        );
        assert!(req.header("authorization").is_none(), "{seen}");
    }
}

#[test]
fn a_manifest_redirect_to_another_host_is_not_followed_with_credentials() {
    let elsewhere = FakeServer::plain(|_| manifest_ok());
    let target = elsewhere.base_url();
    let expected = basic_canary();
    let reg = FakeServer::plain(move |req| {
        if req.header("authorization") != Some(expected.as_str()) {
            return challenge(r#"Basic realm="reg""#);
        }
        if req.path == "/v2/" {
            v2_ok()
        } else {
            FakeResponse::new(307).header("location", format!("{target}{}", req.path))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = docker_config(dir.path(), &[(&reg.host(), USER, CANARY)]);
    let image = expect_failure(
        &plain(&reg, &["--docker-config", path_str(&config)]),
        "registry-error",
        "manifest",
        &elsewhere.host(),
        FAST,
    );
    let message = image["diagnosis"]["message"].as_str().unwrap();
    assert!(message.contains("redirect"), "{message}");
    assert!(
        reg.requests()
            .iter()
            .any(|r| r.path_only().contains("/manifests/") && r.header("authorization").is_some()),
        "the registry itself got the credentials"
    );
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect was followed: {:?}",
        elsewhere.requests()
    );
}

/// A plain-HTTP token service that grants a token only to `USER:CANARY`.
fn canary_realm() -> FakeServer {
    let expected = basic_canary();
    FakeServer::plain(move |req| {
        if req.header("authorization") == Some(expected.as_str()) {
            FakeResponse::new(200).json(serde_json::json!({"token": "granted", "expires_in": 300}))
        } else {
            FakeResponse::new(401).json(serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}))
        }
    })
}

/// A registry that wants a token from `realm`, over TLS with `pki` or else plain HTTP.
fn registry_asking(realm: &FakeServer, pki: Option<&Pki>) -> FakeServer {
    let url = format!("{}/token", realm.base_url());
    let handler = move |req: &FakeRequest| {
        if req.header("authorization") == Some("Bearer granted") {
            return v2_or_image(req);
        }
        challenge(format!(r#"Bearer realm="{url}",service="reg""#))
    };
    match pki {
        Some(pki) => FakeServer::tls(&pki.server, handler),
        None => FakeServer::plain(handler),
    }
}

/// A TLS registry whose token realm is `realm` (plain HTTP, on another port), and a realm that
/// grants a token only to `USER:CANARY`.
fn registry_with_plain_realm(pki: &Pki) -> (FakeServer, FakeServer) {
    let realm = canary_realm();
    (registry_asking(&realm, Some(pki)), realm)
}

#[test]
fn basic_credentials_go_to_a_plain_http_realm_only_when_its_host_is_configured() {
    let pki = Pki::new();
    let (reg, realm) = registry_with_plain_realm(&pki);
    let dir = tempfile::tempdir().unwrap();
    let config = docker_config(dir.path(), &[(&reg.host(), USER, CANARY)]);
    let image_ref = format!("{}/team/app:v1", reg.host());
    let base = [
        "--ca-file",
        path_str(&pki.ca.pem_path),
        "--docker-config",
        path_str(&config),
    ];

    // Not configured: the realm is asked anonymously, refuses, and the image fails for the
    // credentials kept home, naming the flag that would send them (issue 13: never "none found"
    // when some were found).
    let mut args = base.to_vec();
    args.push(&image_ref);
    let image = expect_failure(
        &args,
        "credentials-withheld",
        "auth",
        "were withheld from the token service",
        FAST,
    );
    assert!(!realm.requests().is_empty(), "the realm was asked");
    received_no_canary(&realm);
    let hint = image["diagnosis"]["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!("--plain-http {}", realm.host())),
        "{hint}"
    );
    assert!(
        !image["diagnosis"]["message"]
            .as_str()
            .unwrap()
            .contains("no credentials were found"),
        "{image}"
    );

    // Configured: the same credentials go there, and the image pulls.
    realm.clear_requests();
    let realm_host = realm.host();
    let mut args = base.to_vec();
    args.extend(["--plain-http", &realm_host, &image_ref]);
    let (run, took) = timed_check(&args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(took < FAST, "{took:?}");
    let expected = basic_canary();
    assert!(
        realm
            .requests()
            .iter()
            .any(|r| r.header("authorization") == Some(expected.as_str())),
        "the configured realm got the credentials: {:?}",
        realm.requests()
    );
}

#[test]
fn a_tls_server_that_reads_the_client_hello_and_stalls_times_out_in_tls() {
    let stall = Silent::new();
    let addr = stall.addr.to_string();
    let image = expect_timeout_at_deadline(&[&format!("{addr}/app:v1")], "tls", "handshake");
    let tcp = image["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "tcp")
        .unwrap();
    assert_eq!(tcp["ok"], true);
    // The server really got a handshake to stall on: a TLS record of type handshake (22)
    // holding a ClientHello (1).
    let received = stall.received();
    assert!(
        received
            .iter()
            .any(|r| r.len() > 5 && r[0] == 0x16 && r[5] == 0x01),
        "no ClientHello reached the server: {received:?}"
    );
}

#[test]
fn an_index_that_trickles_times_out_in_the_stage_that_reads_it() {
    // The manifest stage's GET reads the index at the default depth; at `--depth manifest` the
    // manifest stage sends a HEAD and the platform stage reads the index by digest.
    for (depth, stage, fragment) in [
        ("blobs", "manifest", "/manifests/v1"),
        ("manifest", "platform", "/manifests/sha256:"),
    ] {
        let fake = registry(v2_ok, |req| {
            let index = FakeResponse::new(200)
                .header("content-type", "application/vnd.oci.image.index.v1+json")
                .header("docker-content-digest", DIGEST);
            if req.method == "HEAD" {
                index.header("content-length", "1000")
            } else {
                index
                    .header("content-length", "1000")
                    .body("{")
                    .then(Tail::Trickle {
                        bytes: b" ".to_vec(),
                        every: Duration::from_secs(1),
                    })
            }
        });
        let image = expect_timeout_at_deadline(
            &plain(&fake, &["--platform", "linux/amd64", "--depth", depth]),
            stage,
            fragment,
        );
        assert!(
            image["warnings"].as_array().is_none_or(Vec::is_empty),
            "the timeout is the whole finding, with no warning beside it: {image:#}"
        );
        hung_up_on(&fake);
    }
}

#[test]
fn a_plain_http_realm_beside_a_plain_http_registry_gets_the_credentials() {
    // The token service on another port of a registry configured for plain HTTP: the node's
    // runtime sends the credentials there, and so does the check.
    let realm = canary_realm();
    let reg = registry_asking(&realm, None);
    let dir = tempfile::tempdir().unwrap();
    let config = docker_config(dir.path(), &[(&reg.host(), USER, CANARY)]);
    let image_ref = format!("{}/team/app:v1", reg.host());
    let reg_host = reg.host();
    let (run, _) = timed_check(&[
        "--plain-http",
        &reg_host,
        "--docker-config",
        path_str(&config),
        &image_ref,
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        realm
            .requests()
            .iter()
            .any(|r| r.header("authorization") == Some(basic_canary().as_str())),
        "{:?}",
        realm.requests()
    );
}
