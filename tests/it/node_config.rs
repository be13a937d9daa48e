//! The nodes' registry configuration: CRI-O's `registries.conf` (`--registries-conf`, under
//! `--runtime cri-o`) — mirrors tried before the registry, location rewrites, `insecure`,
//! `blocked` and short names — against real registries on loopback.

use std::path::{Path, PathBuf};

use crate::common::{check, path_str};
use crate::support::net;
use crate::support::pki::Pki;
use crate::support::registry::Registry;
use crate::support::seed::{self, ImageKind};

fn conf(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("registries.conf");
    std::fs::write(&path, text).unwrap();
    path
}

fn cri_o(conf: &Path, image: &str) -> crate::common::Run {
    check(&[
        "--runtime",
        "cri-o",
        "--registries-conf",
        path_str(conf),
        image,
    ])
}

fn plain_with(repo: &str) -> Registry {
    let reg = Registry::plain();
    seed::push(
        &reg.base_url(),
        None,
        None,
        repo,
        "v1",
        ImageKind::OciManifest,
    );
    reg
}

#[test]
fn a_mirror_serves_what_the_registry_lacks() {
    let mirror = plain_with("shop/app");
    let upstream = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let conf = conf(
        dir.path(),
        &format!(
            "[[registry]]\nlocation = \"{up}\"\ninsecure = true\n[[registry.mirror]]\nlocation = \"{m}\"\ninsecure = true\n",
            up = upstream.host(),
            m = mirror.host()
        ),
    );
    let run = cri_o(&conf, &format!("{}/shop/app:v1", upstream.host()));
    assert_eq!(run.code_of(0), None, "{}", run.stdout);
    let image = run.image(0);
    assert_eq!(image["runtime"], "cri-o");
    assert_eq!(image["host"], format!("http://{}", mirror.host()));
    // The upstream lacks it: without the mirror it is not pullable.
    let bare = conf.with_file_name("bare.conf");
    std::fs::write(
        &bare,
        format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            upstream.host()
        ),
    )
    .unwrap();
    let run = cri_o(&bare, &format!("{}/shop/app:v1", upstream.host()));
    assert_eq!(
        run.code_of(0).as_deref(),
        Some("repository-not-found"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_dead_mirror_is_a_warning_when_the_registry_serves() {
    let upstream = plain_with("shop/app");
    let dead = net::refused_port();
    let dir = tempfile::tempdir().unwrap();
    let conf = conf(
        dir.path(),
        &format!(
            "[[registry]]\nlocation = \"{up}\"\ninsecure = true\n[[registry.mirror]]\nlocation = \"127.0.0.1:{dead}\"\ninsecure = true\n",
            up = upstream.host()
        ),
    );
    let run = cri_o(&conf, &format!("{}/shop/app:v1", upstream.host()));
    assert_eq!(run.code_of(0), None, "{}", run.stdout);
    let image = run.image(0);
    let tried = image["hosts_tried"].as_array().expect("hosts_tried");
    // The mirror (HTTPS, then HTTP: insecure), then the registry (HTTPS, then HTTP).
    let codes: Vec<_> = tried
        .iter()
        .map(|t| (t["role"].as_str().unwrap(), t["code"].as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("mirror", Some("tcp-refused")),
            ("mirror", Some("tcp-refused")),
            ("server", Some("tls-server-speaks-http")),
            ("server", None)
        ],
        "{image:#}"
    );
    let warning = image["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "mirror-unavailable")
        .expect("mirror-unavailable warning");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{dead}"))
    );
}

#[test]
fn insecure_means_unverified_https_then_plain_http() {
    let pki = Pki::new();
    let tls = Registry::tls(&pki.server);
    seed::push(
        &tls.base_url(),
        None,
        Some(&pki.ca.pem_path),
        "shop/app",
        "v1",
        ImageKind::OciManifest,
    );
    let plain = plain_with("shop/app");
    let dir = tempfile::tempdir().unwrap();
    let conf = conf(
        dir.path(),
        &format!(
            "[[registry]]\nlocation = \"{}\"\ninsecure = true\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            tls.host(),
            plain.host()
        ),
    );
    for reg in [&tls, &plain] {
        let run = cri_o(&conf, &format!("{}/shop/app:v1", reg.host()));
        assert_eq!(run.code_of(0), None, "{}: {}", reg.host(), run.stdout);
    }
    // Without `insecure`, the test CA is not trusted.
    let strict = conf.with_file_name("strict.conf");
    std::fs::write(
        &strict,
        format!("[[registry]]\nlocation = \"{}\"\n", tls.host()),
    )
    .unwrap();
    let run = cri_o(&strict, &format!("{}/shop/app:v1", tls.host()));
    assert_eq!(run.code_of(0).as_deref(), Some("tls-unknown-issuer"));
}

#[test]
fn a_location_rewrite_sends_the_pull_elsewhere_and_blocked_refuses_it() {
    let real = plain_with("real/app");
    let dir = tempfile::tempdir().unwrap();
    let conf = conf(
        dir.path(),
        &format!(
            "[[registry]]\nprefix = \"registry.example/team\"\nlocation = \"{}/real\"\ninsecure = true\n\
             [[registry]]\nlocation = \"blocked.example\"\nblocked = true\n",
            real.host()
        ),
    );
    let run = cri_o(&conf, "registry.example/team/app:v1");
    assert_eq!(run.code_of(0), None, "{}", run.stdout);
    assert_eq!(run.image(0)["host"], format!("http://{}", real.host()));
    let run = cri_o(&conf, "blocked.example/team/app:v1");
    assert_eq!(run.code_of(0).as_deref(), Some("registry-blocked"));
    let message = run.image(0)["diagnosis"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("blocked") && message.contains("registries.conf"),
        "{message}"
    );
}

#[test]
fn short_names_resolve_through_the_search_registries() {
    let reg = plain_with("library/app");
    let other = Registry::plain();
    let dir = tempfile::tempdir().unwrap();
    let one = conf(
        dir.path(),
        &format!(
            "unqualified-search-registries = [\"{}\"]\n[[registry]]\nlocation = \"{}\"\ninsecure = true\n",
            reg.host(),
            reg.host()
        ),
    );
    let run = cri_o(&one, "library/app:v1");
    assert_eq!(run.code_of(0), None, "{}", run.stdout);
    assert_eq!(run.image(0)["host"], format!("http://{}", reg.host()));
    // Two search registries: CRI-O (enforcing, no terminal) refuses to guess.
    let two = dir.path().join("two.conf");
    std::fs::write(
        &two,
        format!(
            "unqualified-search-registries = [\"{}\", \"{}\"]\n",
            reg.host(),
            other.host()
        ),
    )
    .unwrap();
    let run = cri_o(&two, "library/app:v1");
    assert_eq!(
        run.code_of(0).as_deref(),
        Some("short-name-ambiguous"),
        "{}",
        run.stdout
    );
    // No search registries at all.
    let none = dir.path().join("none.conf");
    std::fs::write(&none, "").unwrap();
    let run = cri_o(&none, "app:v1");
    assert_eq!(
        run.code_of(0).as_deref(),
        Some("short-name-unresolved"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_malformed_registries_conf_is_bad_input_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = conf(
        dir.path(),
        "[[registry]]\nlocation = \"a.example\"\ninsecure = yes\n",
    );
    let run = cri_o(&bad, "a.example/x:1");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("registries.conf:3"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    // Unknown keys are a note, not silence.
    let typo = conf(
        dir.path(),
        "[[registry]]\nlocation = \"a.example\"\ninsecur = true\n",
    );
    let run = check(&[
        "--runtime",
        "cri-o",
        "--registries-conf",
        path_str(&typo),
        "--timeout",
        "1",
        "127.0.0.1:1/x:1",
    ]);
    assert!(run.stderr.contains("insecur"), "{}", run.stderr);
    // A CRI-O file under another runtime is a usage error.
    let run = check(&["--registries-conf", path_str(&typo), "a.example/x:1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--runtime cri-o"), "{}", run.stderr);
}

/// containerd's hosts directory: `HOST:PORT/hosts.toml` for the registry.
fn hosts_dir(dir: &Path, registry: &str, text: &str) -> PathBuf {
    let root = dir.join("certs.d");
    std::fs::create_dir_all(root.join(registry)).unwrap();
    std::fs::write(root.join(registry).join("hosts.toml"), text).unwrap();
    root
}

#[test]
fn containerd_tries_the_hosts_toml_mirrors_in_order_then_the_server() {
    let upstream = plain_with("shop/app");
    let mirror = plain_with("shop/app");
    let dead = net::refused_port();
    let dir = tempfile::tempdir().unwrap();
    let root = hosts_dir(
        dir.path(),
        &upstream.host(),
        &format!(
            "server = \"http://{up}\"\n\n[host.\"http://127.0.0.1:{dead}\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n\
             [host.\"http://{m}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            up = upstream.host(),
            m = mirror.host()
        ),
    );
    let image = format!("{}/shop/app:v1", upstream.host());
    let run = check(&["--hosts-dir", path_str(&root), &image]);
    assert_eq!(run.code_of(0), None, "{}", run.stdout);
    let report = run.image(0);
    assert_eq!(report["host"], format!("http://{}", mirror.host()));
    let tried: Vec<_> = report["hosts_tried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["url"].as_str().unwrap().to_owned(),
                t["code"].as_str().map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        tried,
        [
            (
                format!("http://127.0.0.1:{dead}"),
                Some("tcp-refused".to_owned())
            ),
            (format!("http://{}", mirror.host()), None),
        ]
    );
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "mirror-unavailable"),
        "{report:#}"
    );
    // A mirror that may only push is not asked: the server serves.
    let push_only = hosts_dir(
        &dir.path().join("push"),
        &upstream.host(),
        &format!(
            "server = \"http://{up}\"\n\n[host.\"http://127.0.0.1:{dead}\"]\n  capabilities = [\"push\"]\n",
            up = upstream.host()
        ),
    );
    let run = check(&["--hosts-dir", path_str(&push_only), &image]);
    assert_eq!(run.code_of(0), None, "{}", run.stdout);
    assert!(run.image(0).get("hosts_tried").is_none(), "{}", run.stdout);
}

#[test]
fn a_hosts_toml_containerd_cannot_parse_is_ignored_with_a_note() {
    let upstream = plain_with("shop/app");
    let dir = tempfile::tempdir().unwrap();
    let root = hosts_dir(
        dir.path(),
        &upstream.host(),
        "server = \"http://x\"\n[host.\"http://y\"\n",
    );
    let image = format!("{}/shop/app:v1", upstream.host());
    // containerd logs the error and pulls with its defaults: for a loopback registry, containerd
    // 1.6 talks plain HTTP, which this registry speaks.
    let run = check(&[
        "--hosts-dir",
        path_str(&root),
        "--runtime-version",
        "1.6",
        &image,
    ]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("hosts.toml") && run.stderr.contains("containerd ignores"),
        "{}",
        run.stderr
    );
    // The hosts directory is containerd's: under CRI-O it is a usage error.
    let run = check(&["--runtime", "cri-o", "--hosts-dir", path_str(&root), &image]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--runtime containerd"),
        "{}",
        run.stderr
    );
}
