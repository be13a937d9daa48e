//! Rough edges a new user hit on the command line, each reproduced before it was fixed: reports
//! that threw the result away, host flags that swallowed images, options shown where they do
//! nothing, durations, `--strict` without a reason, unrendered templates, CI paths.

use crate::common::{path_str, preflight, run, run_cmd};
use crate::support::pki::Pki;
use crate::support::registry::Registry;
use crate::support::token::TokenServer;

#[test]
fn an_unwritable_report_path_keeps_the_result_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.sarif");
    let r = run(&[
        "check",
        "-o",
        "json",
        "--report",
        &format!("sarif={}", path_str(&ok)),
        "--report",
        "junit=/no/such/dir/x.xml",
        "Bad:Ref:X",
    ]);
    assert_eq!(r.code, 2, "still a failed run: {}", r.stderr);
    let j = r.json();
    assert_eq!(j["images"][0]["diagnosis"]["code"], "invalid-reference");
    assert!(
        r.stderr.contains("junit report") && r.stderr.contains("/no/such/dir/x.xml"),
        "names which report failed: {}",
        r.stderr
    );
    assert!(ok.exists(), "the other reports are still written");
}

/// A run that fails before doing anything: exit 2, nothing on stdout, `says` on stderr.
fn expect_usage_error(args: &[&str], says: &str) {
    let r = run(args);
    assert_eq!(r.code, 2, "exit 2 for {args:?}; stderr:\n{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing on stdout: {}", r.stdout);
    assert!(
        r.stderr.contains(says),
        "stderr should say {says:?}:\n{}",
        r.stderr
    );
}

#[test]
fn a_host_flag_does_not_swallow_the_image_or_take_true_for_a_host() {
    expect_usage_error(
        &["check", "--plain-http", "127.0.0.1:5601/shop/web:v1"],
        "did you mean --plain-http 127.0.0.1:5601 127.0.0.1:5601/shop/web:v1?",
    );
    expect_usage_error(
        &["check", "--plain-http=true", "127.0.0.1:5601/shop/web:v1"],
        "not a switch",
    );
    expect_usage_error(
        &[
            "check",
            "--insecure-skip-tls-verify",
            "false",
            "reg.example.com/a:v1",
        ],
        "not a switch",
    );
    expect_usage_error(
        &[
            "check",
            "--insecure-skip-tls-verify",
            "https://reg.example.com/v2/",
            "reg.example.com/a:v1",
        ],
        "--insecure-skip-tls-verify reg.example.com",
    );
    expect_usage_error(
        &["check", "--plain-http", "reg.local:v1", "reg.local/a:v1"],
        "image reference",
    );
}

#[test]
fn registry_takes_an_http_url_once_and_an_image_reference_is_bad_input() {
    let reg = Registry::plain();
    let host = reg.host();
    let r = run(&["registry", "-o", "json", &format!("http://{host}")]);
    assert_eq!(
        r.code, 0,
        "http:// means plain HTTP: {}\n{}",
        r.stdout, r.stderr
    );
    assert_eq!(r.json()["endpoint"], format!("http://{host}"));
    assert_eq!(r.json()["registry"], host.as_str());

    // https:// means TLS, which this registry does not speak.
    let r = run(&["registry", "-o", "json", &format!("https://{host}/v2/")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["diagnosis"]["code"], "tls-server-speaks-http");

    expect_usage_error(
        &[
            "registry",
            "--plain-http",
            &host,
            &format!("https://{host}"),
        ],
        "https://",
    );
    expect_usage_error(
        &["registry", "reg.example.com/some/path"],
        "did you mean preflight registry reg.example.com",
    );
    expect_usage_error(
        &["registry", "oci://reg.example.com"],
        "preflight registry reg.example.com",
    );
    expect_usage_error(&["registry", "nginx:1.27"], "preflight check nginx:1.27");
}

/// Whether `--help` text lists `option` (a flag, or a value such as `junit`).
fn lists(help: &str, option: &str) -> bool {
    if !option.starts_with('-') {
        return help.contains(option);
    }
    help.lines().any(|l| {
        let l = l.trim_start();
        let l = l
            .get(..4)
            .filter(|s| s.ends_with(", "))
            .map_or(l, |_| &l[4..]);
        l.split([' ', '=']).next() == Some(option)
    })
}

#[test]
fn registry_and_ratelimit_neither_show_nor_take_check_only_options() {
    let check_only = [
        "--platform",
        "--concurrency",
        "--registry-concurrency",
        "--allow-hub-pulls",
        "--verify-config-platform",
        "--report",
        "junit",
        "sarif",
        "--strict",
    ];
    let network = [
        "--plain-http",
        "--insecure-skip-tls-verify",
        "--ca-file",
        "--docker-config",
        "--dns-server",
        "--timeout",
    ];
    for command in ["registry", "ratelimit"] {
        let help = run(&[command, "--help"]);
        assert_eq!(help.code, 0);
        for flag in check_only {
            assert!(
                !lists(&help.stdout, flag),
                "{command} --help shows {flag}:\n{}",
                help.stdout
            );
        }
        for flag in network.iter().chain(&["--quiet"]) {
            assert!(
                lists(&help.stdout, flag),
                "{command} --help lacks {flag}:\n{}",
                help.stdout
            );
        }
    }
    let help = run(&["images", "--help"]);
    for flag in check_only.iter().chain(&network) {
        assert!(
            !lists(&help.stdout, flag),
            "images --help shows {flag}:\n{}",
            help.stdout
        );
    }
    assert!(lists(&help.stdout, "--quiet"));
    let help = run(&["check", "--help"]);
    for flag in check_only.iter().chain(&network) {
        assert!(lists(&help.stdout, flag), "check --help lacks {flag}");
    }

    expect_usage_error(
        &["registry", "--platform", "linux/amd64", "reg.example.com"],
        "--platform",
    );
    expect_usage_error(
        &["registry", "--concurrency", "4", "reg.example.com"],
        "--concurrency",
    );
    expect_usage_error(&["ratelimit", "--allow-hub-pulls"], "--allow-hub-pulls");
    expect_usage_error(&["images", "--timeout", "5", "nginx"], "--timeout");
    expect_usage_error(
        &["registry", "-o", "junit", "reg.example.com"],
        "preflight check",
    );
    expect_usage_error(&["images", "-o", "sarif", "nginx"], "preflight check");
}

#[test]
fn quiet_leaves_out_what_is_fine_in_images_and_registry() {
    let r = run(&["images", "-q", "nginx:1.27", "Bad:Ref:X"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        !r.stdout.contains("nginx:1.27"),
        "a fine image is left out:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("Bad:Ref:X"), "{}", r.stdout);
    assert!(
        r.stdout.contains("2 images"),
        "the summary stays:\n{}",
        r.stdout
    );

    let reg = Registry::plain();
    let url = format!("http://{}", reg.host());
    let r = run(&["registry", "-q", &url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.contains(" dns "),
        "fine rows left out:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("can serve pulls"), "{}", r.stdout);

    let port = crate::support::net::refused_port();
    let r = run(&["registry", "-q", &format!("127.0.0.1:{port}")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        !r.stdout.contains(" dns "),
        "fine rows left out:\n{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("✗ tcp"),
        "the failing row stays:\n{}",
        r.stdout
    );
}

/// The stage rows of `registry`'s human output: lines with a ✓ or ✗ and a timing.
fn stage_rows(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.contains(" ms") && (l.contains('✓') || l.contains('✗')))
        .collect()
}

#[test]
fn registry_rows_are_aligned_coloured_and_never_without_a_detail() {
    let pki = Pki::new();
    let server = TokenServer::start(&pki);
    let reg = Registry::tls_token(&pki, &server.realm, &server.service, &server.issuer);
    let ca = path_str(&pki.ca.pem_path);
    let r = run(&["registry", "--ca-file", ca, &reg.host()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let rows = stage_rows(&r.stdout);
    assert!(
        rows.len() >= 8,
        "stages and the token service's:\n{}",
        r.stdout
    );
    // The detail starts in one column, whatever the indent and however many digits the timing has.
    let columns: Vec<usize> = rows
        .iter()
        .map(|l| l.chars().count() - l.split_once(" ms  ").map_or(0, |(_, d)| d.chars().count()))
        .collect();
    assert!(
        columns.windows(2).all(|w| w[0] == w[1]),
        "details not aligned ({columns:?}):\n{}",
        r.stdout
    );
    for row in &rows {
        let detail = row.split_once(" ms  ").map_or("", |(_, d)| d.trim());
        assert!(
            !detail.is_empty(),
            "a row without a detail: {row:?}\n{}",
            r.stdout
        );
    }

    let port = crate::support::net::refused_port();
    let r = run(&["registry", &format!("127.0.0.1:{port}")]);
    let failed = stage_rows(&r.stdout)
        .into_iter()
        .find(|l| l.contains('✗'))
        .unwrap_or_else(|| panic!("a failing row:\n{}", r.stdout));
    assert!(
        failed.contains("connection refused"),
        "the failing row says why: {failed:?}"
    );

    let mut cmd = preflight();
    cmd.env_remove("NO_COLOR").args([
        "registry",
        "--color",
        "always",
        &format!("127.0.0.1:{port}"),
    ]);
    let r = run_cmd(&mut cmd);
    assert!(
        r.stdout.contains("\x1b[32m✓"),
        "coloured like check:\n{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("\x1b[1;31m✗"),
        "coloured like check:\n{}",
        r.stdout
    );
}

const HELM_TEMPLATE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "shop.fullname" . }}
  labels:
    {{- include "shop.labels" . | nindent 4 }}
spec:
  template:
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"#;

#[test]
fn an_unrendered_helm_template_says_render_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("deployment.yaml");
    std::fs::write(&chart, HELM_TEMPLATE).unwrap();
    let says = "render it first: helm template";
    for command in ["check", "images"] {
        expect_usage_error(&[command, "-f", path_str(&chart)], says);
        expect_usage_error(
            &[command, "-f", path_str(&chart)],
            &format!("{}:4:", chart.display()),
        );
    }
    let mut cmd = preflight();
    cmd.args(["check", "-f", "-"]).write_stdin(HELM_TEMPLATE);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(says) && r.stderr.contains("<stdin>:4:"),
        "{}",
        r.stderr
    );

    // Valid YAML, as when only the image is templated: still a template, not a bad reference.
    let quoted = dir.path().join("quoted.yaml");
    std::fs::write(
        &quoted,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n    - name: app\n      image: \"{{ .Values.image }}\"\n",
    )
    .unwrap();
    expect_usage_error(&["check", "-f", path_str(&quoted)], says);
    expect_usage_error(
        &["check", "-f", path_str(&quoted)],
        &format!("{}:7:", quoted.display()),
    );
}

/// The first location of a Code Quality report and of a SARIF report, for one run each.
fn ci_paths(dir: &std::path::Path, env: &[(&str, &str)], file: &str) -> (String, String) {
    let run_format = |format: &str| {
        let mut cmd = preflight();
        cmd.current_dir(dir)
            .env_remove("CI_PROJECT_DIR")
            .env_remove("GITHUB_WORKSPACE")
            .envs(env.iter().copied())
            .args(["check", "-o", format, "-f", file]);
        let r = run_cmd(&mut cmd);
        assert_eq!(r.code, 1, "an invalid reference: {}", r.stderr);
        r.json()
    };
    let gitlab = run_format("gitlab");
    let sarif = run_format("sarif");
    (
        gitlab[0]["location"]["path"].as_str().unwrap().to_owned(),
        sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
            ["uri"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

#[test]
fn code_quality_and_sarif_paths_are_relative_to_the_project_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir(root.join("k8s")).unwrap();
    let manifest = root.join("k8s/m.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n    - name: app\n      image: Bad:Ref:X\n",
    )
    .unwrap();
    let both = |p: &str| (p.to_owned(), p.to_owned());
    let root_str = path_str(&root);
    // GitLab's checkout, written absolute.
    assert_eq!(
        ci_paths(&root, &[("CI_PROJECT_DIR", root_str)], path_str(&manifest)),
        both("k8s/m.yaml")
    );
    // GitHub's, written from a subdirectory.
    assert_eq!(
        ci_paths(
            &root.join("k8s"),
            &[("GITHUB_WORKSPACE", root_str)],
            "./m.yaml"
        ),
        both("k8s/m.yaml")
    );
    // Neither: the current directory.
    assert_eq!(ci_paths(&root, &[], "./k8s/m.yaml"), both("k8s/m.yaml"));
    // A file outside the project stays as given.
    let elsewhere = root.join("k8s/project");
    std::fs::create_dir(&elsewhere).unwrap();
    assert_eq!(
        ci_paths(
            &root,
            &[("CI_PROJECT_DIR", path_str(&elsewhere))],
            path_str(&manifest)
        ),
        both(path_str(&manifest))
    );
}

#[test]
fn strict_names_the_warnings_that_failed_it() {
    let reg = Registry::plain_with("shop/web", "latest");
    let host = reg.host();
    let image = format!("{host}/shop/web:latest");

    let r = run(&["check", "--strict", "--plain-http", &host, &image]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let named = |text: &str| {
        text.lines()
            .any(|l| l.contains("--strict") && l.contains(&image) && l.contains("latest-tag"))
    };
    assert!(named(&r.stdout), "the human report says why:\n{}", r.stdout);

    let r = run(&[
        "check",
        "-o",
        "json",
        "--strict",
        "--plain-http",
        &host,
        &image,
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.json()["pullable"], true, "the report itself is unchanged");
    assert!(named(&r.stderr), "stderr says why:\n{}", r.stderr);

    let r = run(&["check", "--plain-http", &host, &image]);
    assert_eq!(r.code, 0, "without --strict a warning passes: {}", r.stderr);
    assert!(!r.stdout.contains("--strict"), "{}", r.stdout);
}

#[test]
fn timeout_takes_durations_like_30s_and_2m() {
    for timeout in ["30", "30s", "2m", "1m30s", "500ms", "1.5", "1h"] {
        let r = run(&["check", "-o", "json", "--timeout", timeout, "Bad:Ref:X"]);
        assert_eq!(r.code, 1, "--timeout {timeout} is accepted: {}", r.stderr);
    }
    for (timeout, says) in [
        ("30x", "not a number"),
        ("s", "not a number"),
        ("1m30", "not a number"),
        ("0s", "3600"),
        ("61m", "3600"),
    ] {
        expect_usage_error(&["check", "--timeout", timeout, "Bad:Ref:X"], says);
    }
}

fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap()
}

/// The fenced blocks of a Markdown text whose info string starts with `lang`.
fn fenced<'a>(markdown: &'a str, lang: &str) -> Vec<&'a str> {
    markdown
        .split("```")
        .skip(1)
        .step_by(2)
        .filter(|b| b.starts_with(lang))
        .collect()
}

#[test]
fn readme_shows_a_whole_library_example_how_to_install_and_what_it_needs() {
    let readme = repo_file("README.md");
    let rust = fenced(&readme, "rust");
    assert!(!rust.is_empty(), "a library example");
    for block in &rust {
        // rustdoc hides `# ` lines; GitLab and GitHub show them verbatim.
        assert!(
            !block.lines().any(|l| l == "#" || l.starts_with("# ")),
            "hidden lines show as they are:\n{block}"
        );
        assert!(
            block.contains("#[tokio::main]"),
            "the runtime is named:\n{block}"
        );
    }
    assert!(
        fenced(&readme, "toml")
            .iter()
            .any(|b| b.contains("preflight =") && b.contains("tokio =")),
        "the dependency lines are shown"
    );
    assert!(readme.contains("cargo install --path crates/preflight-cli"));
    let manifest = repo_file("Cargo.toml");
    let msrv = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .unwrap()
        .trim_matches('"');
    assert!(
        readme.contains(&format!("Rust {msrv}")),
        "prerequisites name Rust {msrv}"
    );
    assert!(
        readme.contains("apt"),
        "prerequisites name Debian's apt for the scripts"
    );
    for command in ["scripts/demo.sh", "scripts/test.sh"] {
        assert!(readme.contains(command), "{command}");
    }
}

#[test]
fn demo_says_what_it_does_while_it_builds() {
    let demo = repo_file("scripts/demo.sh");
    let build = demo
        .lines()
        .position(|l| l.trim_start().starts_with("cargo build"))
        .expect("the demo builds preflight");
    let line = demo.lines().nth(build).unwrap();
    assert!(!line.contains(" -q"), "cargo shows its progress: {line}");
    assert!(
        demo.lines()
            .take(build)
            .any(|l| l.contains("echo") && l.contains("building")),
        "says it is building before it does"
    );
}

#[test]
fn cargo_doc_warnings_fail_ci() {
    // `cargo doc` warned that `reference` is both a module and a primitive, and nothing ran it:
    // CI documents the workspace with warnings denied, and the binary's docs no longer land on
    // the library's page.
    let ci = repo_file(".ci/run");
    assert!(
        ci.lines()
            .any(|l| l.starts_with("RUSTDOCFLAGS=\"-D warnings\" cargo doc")),
        "{ci}"
    );
    let cli = repo_file("crates/preflight-cli/Cargo.toml");
    assert!(cli.contains("doc = false"), "{cli}");
    let lib = repo_file("crates/preflight/src/lib.rs");
    assert!(
        !lib.contains("[`reference`]"),
        "an unqualified [`reference`] link is ambiguous"
    );
}
