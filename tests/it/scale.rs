//! What makes hundreds of images cheap, counted at the servers: one manifest request per
//! distinct image, each blob once per repository, one token per scope, connections reused, and
//! the per-registry limit; then the human output's colour, quiet and verbose modes.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{check, preflight, run_cmd};
use crate::support::fake::{
    CONFIG_DIGEST, DIGEST, FakeRequest, FakeResponse, FakeServer, LAYER_DIGEST, MANIFEST,
    challenge, image_ok, manifest_ok, v2_ok,
};

/// The `scope` query parameter of a token request, percent-decoded enough for `/` and `:`.
fn scope_of(req: &FakeRequest) -> String {
    req.query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("scope="))
        .unwrap_or_default()
        .replace("%2F", "/")
        .replace("%3A", ":")
}

#[test]
fn one_manifest_request_per_distinct_image_each_blob_once_and_one_token_per_scope() {
    let tokens = FakeServer::plain(|req| {
        let scope = scope_of(req);
        FakeResponse::new(200).json(serde_json::json!({ "token": format!("tok-{scope}") }))
    });
    let realm = format!("{}/token", tokens.base_url());
    let registry = FakeServer::plain(move |req| {
        if req.path == "/v2/" {
            return challenge(format!(r#"Bearer realm="{realm}",service="fake""#));
        }
        // /v2/REPO/manifests/TAG and /v2/REPO/blobs/DIGEST want the token for REPO.
        let repo = req
            .path_only()
            .strip_prefix("/v2/")
            .and_then(|p| {
                p.rsplit_once("/manifests/")
                    .or_else(|| p.rsplit_once("/blobs/"))
            })
            .map(|(repo, _)| repo.to_owned())
            .unwrap_or_default();
        let scope = format!("repository:{repo}:pull");
        if req.header("authorization") == Some(&format!("Bearer tok-{scope}")) {
            image_ok(req)
        } else {
            challenge(format!(
                r#"Bearer realm="{realm}",service="fake",scope="{scope}""#
            ))
        }
    });
    let host = registry.host();
    // 3 repositories × 10 tags, each named twice, once more with the default tag spelled out.
    let mut refs = Vec::new();
    for round in 0..2 {
        for repo in ["team/a", "team/b", "other/c"] {
            for tag in 0..10 {
                refs.push(format!("{host}/{repo}:v{tag}"));
            }
            if round == 0 {
                refs.push(format!("{host}/{repo}"));
            } else {
                refs.push(format!("{host}/{repo}:latest"));
            }
        }
    }
    let repos = ["other/c", "team/a", "team/b"];
    // The default depth reads each manifest with one GET (the pull path needs its body), and
    // every tag of a repository is the same image: its config and layer are read once per
    // repository. `--depth manifest` sends one HEAD per image and no GET.
    for depth in ["blobs", "manifest"] {
        registry.clear_requests();
        tokens.clear_requests();
        let mut args: Vec<&str> = vec!["--plain-http", &host, "--concurrency", "8"];
        args.extend(["--depth", depth]);
        args.extend(refs.iter().map(String::as_str));
        let r = check(&args);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert_eq!(r.json()["summary"]["images"], 33, "{}", r.stdout);

        let want = if depth == "blobs" { "GET" } else { "HEAD" };
        let mut per_image: HashMap<String, usize> = HashMap::new();
        let mut blobs: Vec<String> = Vec::new();
        for req in registry.requests() {
            if req.header("authorization").is_none() {
                continue;
            }
            if req.path_only().contains("/manifests/") {
                assert_eq!(req.method, want, "{depth}: {req:?}");
                *per_image.entry(req.path.clone()).or_default() += 1;
            } else {
                blobs.push(format!("{} {}", req.method, req.path));
            }
        }
        assert_eq!(per_image.len(), 33, "{depth}: {per_image:?}");
        assert!(
            per_image.values().all(|&n| n == 1),
            "{depth}: exactly one authorized manifest request per distinct image: {per_image:?}"
        );
        blobs.sort();
        let mut expected: Vec<String> = match depth {
            "blobs" => repos
                .iter()
                .flat_map(|repo| {
                    [
                        format!("GET /v2/{repo}/blobs/{CONFIG_DIGEST}"),
                        format!("HEAD /v2/{repo}/blobs/{LAYER_DIGEST}"),
                    ]
                })
                .collect(),
            _ => Vec::new(),
        };
        expected.sort();
        assert_eq!(blobs, expected, "{depth}: each blob once per repository");

        let scopes: Vec<String> = tokens.requests().iter().map(scope_of).collect();
        let mut distinct = scopes.clone();
        distinct.sort();
        distinct.dedup();
        let wanted: Vec<String> = repos
            .iter()
            .map(|r| format!("repository:{r}:pull"))
            .collect();
        assert_eq!(distinct, wanted, "{depth}");
        assert_eq!(
            scopes.len(),
            3,
            "{depth}: one token request per scope: {scopes:?}"
        );
    }
    // HTTP/1.1 fake: connections are reused, never one per image. Up to 8 in flight, the tcp
    // stage's own connect, and a few more when a request starts just before a finished one
    // has gone back to the pool; twice, for the two runs.
    assert!(
        registry.connections() <= 32,
        "{} connections for 33 images at concurrency 8, twice",
        registry.connections()
    );
}

/// Counts manifest requests in flight at one fake and across all of them.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

fn slow_registry(own: Arc<InFlight>, all: Arc<InFlight>) -> FakeServer {
    FakeServer::plain(move |req| {
        if req.path == "/v2/" {
            return v2_ok();
        }
        own.enter();
        all.enter();
        std::thread::sleep(Duration::from_millis(150));
        own.leave();
        all.leave();
        image_ok(req)
    })
}

#[test]
fn one_registry_gets_no_more_than_its_limit_while_others_go_ahead() {
    let all = Arc::new(InFlight::default());
    let (a_count, b_count) = (Arc::new(InFlight::default()), Arc::new(InFlight::default()));
    let a = slow_registry(Arc::clone(&a_count), Arc::clone(&all));
    let b = slow_registry(Arc::clone(&b_count), Arc::clone(&all));
    let (ha, hb) = (a.host(), b.host());
    // Registry A's images first: with a limit per registry, B's must not wait behind them.
    let mut refs: Vec<String> = (0..8).map(|i| format!("{ha}/app:v{i}")).collect();
    refs.extend((0..8).map(|i| format!("{hb}/app:v{i}")));
    let mut args: Vec<&str> = vec![
        "--plain-http",
        &ha,
        "--plain-http",
        &hb,
        "--concurrency",
        "8",
        "--registry-concurrency",
        "2",
    ];
    args.extend(refs.iter().map(String::as_str));
    let r = check(&args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(
        a_count.peak(),
        2,
        "registry A's peak of concurrent manifest requests"
    );
    assert_eq!(
        b_count.peak(),
        2,
        "registry B's peak of concurrent manifest requests"
    );
    assert!(
        all.peak() >= 3,
        "B's images ran beside A's, not after them (peak {} across both)",
        all.peak()
    );
}

#[test]
fn the_per_registry_limit_is_validated() {
    let r = crate::common::run(&["check", "--registry-concurrency", "0", "example.com/a:v1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--registry-concurrency"), "{}", r.stderr);
}

/// One pullable image, one with a warning (an expected digest the registry does not send, so
/// it cannot be verified), one missing; the two that exist are the fake image, blobs and all.
fn mixed_registry() -> FakeServer {
    FakeServer::plain(move |req| match req.path_only() {
        "/v2/" => v2_ok(),
        "/v2/app/manifests/good" => manifest_ok(),
        "/v2/app/manifests/nodigest" => FakeResponse::new(200)
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(MANIFEST),
        p if p.starts_with("/v2/app/blobs/") => image_ok(req),
        _ => FakeResponse::new(404).json(serde_json::json!({
            "errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]
        })),
    })
}

fn human(server: &FakeServer, extra: &[&str], no_color: bool) -> crate::common::Run {
    let host = server.host();
    let mut cmd = preflight();
    if !no_color {
        cmd.env_remove("NO_COLOR");
    }
    cmd.args(["check", "--plain-http", &host])
        .args(extra)
        .arg("--expect-digest")
        .arg(format!("{host}/app:nodigest={DIGEST}"))
        .arg(format!("{host}/app:good"))
        .arg(format!("{host}/app:nodigest"))
        .arg(format!("{host}/app:gone"))
        // The tag listing for the suggestion is not what this test is about.
        .arg("--timeout")
        .arg("5");
    run_cmd(&mut cmd)
}

#[test]
fn colour_only_when_asked_and_never_with_no_color() {
    let server = mixed_registry();
    // Not a terminal: no colour by default.
    let plain = human(&server, &[], false);
    assert_eq!(plain.code, 1, "{}", plain.stderr);
    assert!(!plain.stdout.contains('\x1b'), "{}", plain.stdout);
    let lines: Vec<&str> = plain.stdout.lines().take(3).collect();
    assert!(lines[0].starts_with("✓ "), "{lines:?}");
    assert!(
        lines[1].starts_with("⚠ "),
        "pullable with a warning: {lines:?}"
    );
    assert!(lines[2].starts_with("✗ "), "{lines:?}");

    let forced = human(&server, &["--color", "always"], false);
    assert!(
        forced.stdout.contains("\x1b[1;31m✗\x1b[0m"),
        "{}",
        forced.stdout
    );
    assert!(
        forced.stdout.contains("\x1b[32m✓\x1b[0m"),
        "{}",
        forced.stdout
    );
    // Same text once the escapes are gone.
    let stripped = strip_ansi(&forced.stdout);
    assert_eq!(stripped, plain.stdout);

    let vetoed = human(&server, &["--color", "always"], true);
    assert!(
        !vetoed.stdout.contains('\x1b'),
        "NO_COLOR wins: {}",
        vetoed.stdout
    );
    // No progress bar off a terminal, even for a run that takes a while.
    assert!(!forced.stderr.contains('\r'), "{:?}", forced.stderr);
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('m').map_or(after.len(), |e| e + 1);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[test]
fn quiet_shows_only_what_needs_attention_and_verbose_logs_more() {
    let server = mixed_registry();
    let quiet = human(&server, &["-q"], true);
    assert_eq!(quiet.code, 1);
    assert!(!quiet.stdout.contains("✓ "), "{}", quiet.stdout);
    assert!(quiet.stdout.contains("⚠ "), "{}", quiet.stdout);
    assert!(
        quiet.stdout.contains("manifest-unknown"),
        "{}",
        quiet.stdout
    );
    assert!(
        quiet
            .stdout
            .contains("3 images: 2 pullable, 1 not pullable"),
        "{}",
        quiet.stdout
    );
    assert!(
        quiet.stderr.is_empty(),
        "quiet logs only errors: {}",
        quiet.stderr
    );

    let normal = human(&server, &[], true);
    assert!(!normal.stderr.contains(" INFO "), "{}", normal.stderr);
    let verbose = human(&server, &["-v"], true);
    assert!(verbose.stderr.contains(" INFO "), "{}", verbose.stderr);
    assert!(!verbose.stderr.contains(" DEBUG "), "{}", verbose.stderr);
    let debug = human(&server, &["-vv"], true);
    assert!(debug.stderr.contains(" DEBUG "), "{}", debug.stderr);
    // The report on stdout is the same whatever the log level.
    assert_eq!(verbose.stdout, normal.stdout);

    let both = human(&server, &["-q", "-v"], true);
    assert_eq!(both.code, 2, "-q and -v contradict: {}", both.stderr);
}

#[test]
fn a_progress_bar_is_drawn_for_a_long_run_on_a_terminal_only() {
    let server = slow_registry(Arc::default(), Arc::default());
    let host = server.host();
    let bin = assert_cmd::cargo::cargo_bin("preflight");
    let mut command = format!(
        "{} check --plain-http {host} --registry-concurrency 1",
        bin.display()
    );
    let refs: Vec<String> = (0..8).map(|i| format!("{host}/app:v{i}")).collect();
    command = format!("{command} {}", refs.join(" "));
    let screen = on_a_terminal(&command, None);
    assert!(
        screen.contains("/8 images ["),
        "no bar on a terminal: {screen:?}"
    );
    assert!(
        screen.contains("\x1b[32m✓"),
        "colour on a terminal: {screen:?}"
    );
    // The same run in a CI job, on a terminal still: no bar.
    let screen = on_a_terminal(&command, Some("true"));
    assert!(
        !screen.contains("images ["),
        "a bar in a CI log: {screen:?}"
    );
}

/// What a terminal shows of `command`, run by `script` (util-linux, on every Debian machine)
/// with `CI` set to `ci` or unset.
fn on_a_terminal(command: &str, ci: Option<&str>) -> String {
    let mut script = std::process::Command::new("script");
    script
        .args(["-qec", command, "/dev/null"])
        .env("HOME", "/nonexistent/preflight-test-home")
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG");
    match ci {
        Some(v) => script.env("CI", v),
        None => script.env_remove("CI"),
    };
    let out = script.output().expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{screen}");
    screen
}

/// The most file descriptors the process had open, sampled while it runs.
fn peak_fds(child: &mut std::process::Child) -> usize {
    let dir = format!("/proc/{}/fd", child.id());
    let mut peak = 0;
    loop {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            peak = peak.max(entries.count());
        }
        if child.try_wait().expect("wait for preflight").is_some() {
            return peak;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn ten_thousand_images_on_a_thousand_black_holed_registries_stay_bounded() {
    use std::fmt::Write as _;
    use std::io::Read as _;
    use std::process::Stdio;

    let hole = crate::support::net::BlackHole::every_loopback_address();
    let port = hole.addr.port();
    // 1,000 registries (127.0.A.B:PORT) × 10 repositories, every connect black-holed.
    let mut manifest = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for r in 0..1000u32 {
        let host = format!("127.0.{}.{}:{port}", 10 + r / 250, 1 + r % 250);
        let _ = writeln!(
            manifest,
            "- kind: Pod\n  metadata: {{name: p{r}}}\n  spec:\n    containers:"
        );
        for app in 0..10 {
            let _ = writeln!(
                manifest,
                "    - {{name: c{app}, image: {host}/app{app}:v1}}"
            );
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("many.yaml");
    std::fs::write(&file, manifest).expect("write manifest");

    let (concurrency, timeout_s) = (200usize, 1u64);
    let started = std::time::Instant::now();
    let mut child = crate::common::preflight_process()
        .args(["check", "-o", "json", "-f"])
        .arg(&file)
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--timeout", &timeout_s.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("preflight starts");
    // The report is large: read it on a thread, so the pipe never fills and stalls the run.
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).expect("read report");
        text
    });
    let peak = peak_fds(&mut child);
    let elapsed = started.elapsed();
    let text = reader.join().expect("reader");
    crate::common::assert_valid_output("check", &text);
    let report: serde_json::Value = serde_json::from_str(&text).expect("JSON report");

    eprintln!("10,000 images on 1,000 black-holed registries: {elapsed:?}, peak {peak} fds");
    // The issue's bound is deadline × ceil(images / concurrency) = 50 s; probes of different
    // registries run side by side, so this holds far inside it.
    let bound = Duration::from_secs(timeout_s * 10_000u64.div_ceil(concurrency as u64));
    assert!(
        elapsed < bound.min(Duration::from_secs(30)),
        "took {elapsed:?}, bound {bound:?}"
    );
    assert!(
        peak <= concurrency + 64,
        "peak of {peak} open file descriptors at concurrency {concurrency}"
    );
    let images = report["images"].as_array().expect("images");
    assert_eq!(images.len(), 10_000);
    for image in images {
        assert_eq!(
            image["diagnosis"]["code"], "tcp-timeout",
            "every image times out at TCP, none runs out of descriptors: {image}"
        );
    }
}

#[test]
fn a_tls_registry_is_checked_over_one_http2_connection() {
    use crate::support::pki::Pki;
    use crate::support::registry::Registry;
    use crate::support::seed::{self, ImageKind};

    let pki = Pki::new();
    let reg = Registry::tls(&pki.server);
    for tag in ["v1", "v2", "v3"] {
        seed::push(
            &reg.base_url(),
            None,
            Some(&pki.ca.pem_path),
            "team/app",
            tag,
            ImageKind::OciManifest,
        );
    }
    let host = reg.host();
    let refs: Vec<String> = (0..12)
        .map(|i| format!("{host}/team/app:v{}", 1 + i % 3))
        .chain((0..9).map(|i| format!("{host}/team/app{i}:v1")))
        .collect();
    let mut args: Vec<&str> = vec![
        "--ca-file",
        crate::common::path_str(&pki.ca.pem_path),
        "--concurrency",
        "8",
    ];
    args.extend(refs.iter().map(String::as_str));
    let r = check(&args);
    assert_eq!(r.json()["summary"]["images"], 12, "{}", r.stdout);
    let log = reg.log();
    // One manifest request per distinct image: a GET at the default depth.
    let manifests: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"GET /v2/team/app") && l.contains("/manifests/v"))
        .collect();
    assert_eq!(
        manifests.len(),
        12,
        "one manifest request per distinct image:\n{log}"
    );
    assert!(
        log.lines()
            .filter(|l| l.contains(" /v2/") && l.contains("preflight/"))
            .all(|l| l.contains("HTTP/2.0\"")),
        "HTTP/2 for every request:\n{log}"
    );
    // The registry's own log names the client's address and port for every request: all of
    // preflight's (ping, HEADs, the GETs that tell a missing repository apart) share one
    // connection. The tls stage's handshake, which sends no request, is not among them.
    let mut connections: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("msg=\"response completed") && l.contains("preflight/"))
        .filter_map(|l| l.split("http.request.remoteaddr=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let requests = connections.len();
    connections.sort_unstable();
    connections.dedup();
    assert!(requests >= 13, "{requests} requests seen:\n{log}");
    assert_eq!(connections.len(), 1, "{connections:?}");
}
