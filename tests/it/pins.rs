//! What users run names this release: the image pinned in the GitLab component, the GitHub
//! Action, the README, the example workflow, `deploy/` and the Argo CD and Flux examples equals the
//! workspace version (docs/release.md moves them together), never `:latest` or `@main`; and
//! preflight itself finds nothing to warn about in the manifests it ships.

use std::path::{Path, PathBuf};

use crate::common::run;

const IMAGE: &str = "registry.gitlab.com/preflight/preflight";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The workspace version (`[workspace.package] version`).
fn version() -> String {
    let manifest = read("Cargo.toml");
    let version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("version = "))
        .unwrap()
        .trim_matches('"')
        .to_owned();
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    version
}

/// Every file users copy or include, or that documents them.
fn shipped_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "action.yml", ".gitlab-ci.yml", "Containerfile"]
        .iter()
        .map(|f| root().join(f))
        .collect();
    let mut dirs = vec![
        root().join("templates"),
        root().join("examples"),
        root().join("deploy"),
        root().join("docs"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|e| ["yml", "yaml", "md"].contains(&e.to_str().unwrap_or("")))
            {
                files.push(path);
            }
        }
    }
    files
}

/// What follows each occurrence of `prefix` in `text`: the tag or ref, up to a character no tag
/// has.
fn after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

/// A placeholder in prose (`:VERSION`, `@X.Y.Z-action`) or a shell variable in a command
/// (`@$new`, where nothing is read), not a pin.
fn placeholder(tag: &str) -> bool {
    if tag.is_empty() {
        return true;
    }
    let base = tag
        .strip_suffix("-debug")
        .or_else(|| tag.strip_suffix("-action"))
        .unwrap_or(tag);
    base.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && base.chars().all(|c| c.is_ascii_uppercase() || c == '.')
}

#[test]
fn every_pin_names_the_workspace_version() {
    let version = version();
    let allowed = [
        version.clone(),
        format!("{version}-debug"),
        format!("{version}-action"),
    ];
    let mut pins = 0;
    for file in shipped_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        for tag in after(&text, &format!("{IMAGE}:")) {
            assert!(
                allowed.contains(&tag.to_owned()) || placeholder(tag),
                "{name}: {IMAGE}:{tag} is not this release ({version})"
            );
            pins += 1;
        }
        // The component (…/preflight/preflight/preflight@REF) and the action
        // (preflight/preflight@REF).
        for reference in after(&text, "preflight/preflight@") {
            assert!(
                reference == version || placeholder(reference),
                "{name}: preflight/preflight@{reference} is not this release ({version})"
            );
            pins += 1;
        }
    }
    assert!(pins >= 8, "the pins are found ({pins})");

    // The places that must hold a pin do.
    let action = read("action.yml");
    assert!(
        action.contains(&format!("image: docker://{IMAGE}:{version}-action")),
        "{action}"
    );
    let component = read("templates/preflight.yml");
    assert!(
        component.contains(&format!("default: {IMAGE}:{version}-debug")),
        "{component}"
    );
    let readme = read("README.md");
    assert!(readme.contains(&format!("preflight/preflight/preflight@{version}")));
    assert!(readme.contains(&format!("uses: preflight/preflight@{version}")));
    assert!(
        read("examples/github/preflight.yml").contains(&format!("preflight/preflight@{version}"))
    );
    assert!(!readme.contains("@main") && !component.contains("@main"));
}

#[test]
fn pins_that_drift_are_caught() {
    // The check above reads these the same way: a moved or floating pin does not pass.
    let text =
        format!("image: {IMAGE}:latest\n- component: x/preflight/preflight/preflight@main\n");
    assert_eq!(after(&text, &format!("{IMAGE}:")), ["latest"]);
    assert_eq!(after(&text, "preflight/preflight@"), ["main"]);
    assert!(!placeholder("latest") && !placeholder("main") && !placeholder("0.0.9"));
    assert!(placeholder("VERSION") && placeholder("X.Y.Z-action"));
}

/// The manifests that run preflight on the cluster: deploy/ and the Argo CD and Flux examples.
const CLUSTER_FILES: &[&str] = &[
    "deploy/job.yaml",
    "deploy/daemonset.yaml",
    "examples/argocd/preflight-presync.yaml",
    "examples/flux/preflight/job.yaml",
];

#[test]
fn deploy_and_the_gitops_examples_run_the_pinned_image_with_no_warning() {
    let version = version();
    let paths: Vec<String> = ["deploy", "examples/argocd", "examples/flux"]
        .iter()
        .map(|d| root().join(d).display().to_string())
        .collect();
    let mut args = vec!["images", "-o", "json"];
    for p in &paths {
        args.extend(["-f", p.as_str()]);
    }
    let r = run(&args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let report = r.json();
    assert_eq!(report["summary"]["warnings"], 0, "{report:#}");
    assert_eq!(report["summary"]["invalid"], 0, "{report:#}");
    let images = report["images"].as_array().unwrap();
    for image in images {
        assert_ne!(image["tag"], "latest", "{image:#}");
        assert!(
            image["tag"].is_string() || image["digest"].is_string(),
            "{image:#}"
        );
        assert!(
            image["warnings"].as_array().is_none_or(Vec::is_empty),
            "{image:#}"
        );
    }
    let ours = images
        .iter()
        .find(|i| i["repository"] == "preflight/preflight")
        .expect("preflight's image is found");
    assert_eq!(ours["registry"], "registry.gitlab.com");
    assert_eq!(ours["tag"], version.as_str());
    let files: Vec<&str> = ours["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap())
        .collect();
    for want in CLUSTER_FILES {
        assert!(
            files.iter().any(|f| f.ends_with(want)),
            "{want} runs {IMAGE}:{version}: {files:?}"
        );
    }

    // How they run it: on the node's network, with its runtime's registry configuration and
    // CA bundle read-only, the JSON report to the log, unprivileged, bounded.
    for file in CLUSTER_FILES {
        let text = read(file);
        for needed in [
            "hostNetwork: true",
            "/etc/containerd/certs.d",
            "--hosts-dir",
            "--ca-file",
            "configMap:",
            "runAsNonRoot: true",
            "readOnlyRootFilesystem: true",
            "allowPrivilegeEscalation: false",
            "limits:",
        ] {
            assert!(text.contains(needed), "{file} has {needed}");
        }
        assert!(
            text.contains("-o, json") || text.contains("- -o\n            - json"),
            "{file} prints the JSON report"
        );
        let mounts = text.matches("readOnly: true").count();
        assert!(mounts >= 3, "{file}: every mount read-only ({mounts})");
    }
}
