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
