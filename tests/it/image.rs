//! The project's image (`Containerfile`), built for real: buildah (Debian's) builds the runtime
//! stage on a base made here from the binary this suite built and its runtime libraries (base
//! images cannot be pulled here), with `--build-context build=DIR` standing in for the build
//! stage (which compiles, and RUN steps cannot run here). The image is pushed to the loopback
//! registry, checked by preflight, pulled back into empty storage, and its binary run from the
//! unpacked root file system as the image's user, with the image's entrypoint.
//!
//! `podman run` cannot start a container in this sandbox (runc fails to set the container's
//! rlimits: the sandbox withholds `CAP_SYS_RESOURCE`), hence `chroot`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{preflight, run_cmd};
use crate::support::registry::Registry;
use crate::support::require_tool;

/// A build, push or pull takes seconds on loopback; the margin is for a loaded machine.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// buildah on private vfs storage (no overlay mounts, no daemon), with registry and policy
/// configuration of its own so the machine's files decide nothing.
struct Buildah {
    dir: tempfile::TempDir,
    tool: PathBuf,
}

impl Buildah {
    fn new() -> Buildah {
        let tool = require_tool("buildah");
        let dir = tempfile::Builder::new()
            .prefix("preflight-buildah-")
            .tempdir()
            .unwrap();
        std::fs::write(
            dir.path().join("registries.conf"),
            "unqualified-search-registries = []\nshort-name-mode = \"disabled\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("policy.json"),
            r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("auth.json"), "{}").unwrap();
        Buildah { dir, tool }
    }

    /// Runs `buildah ARGS` on storage `store` (a name: separate names are separate storages);
    /// panics with its output when it fails; returns its stdout.
    fn run<S: AsRef<OsStr>>(&self, store: &str, args: &[S]) -> String {
        let base = self.dir.path();
        let mut cmd = Command::new(&self.tool);
        cmd.arg("--root")
            .arg(base.join(store).join("root"))
            .arg("--runroot")
            .arg(base.join(store).join("run"))
            .arg("--storage-driver")
            .arg("vfs")
            .args(args)
            .env("CONTAINERS_REGISTRIES_CONF", base.join("registries.conf"))
            .env("REGISTRY_AUTH_FILE", base.join("auth.json"))
            .env("BUILDAH_ISOLATION", "chroot")
            .env("TMPDIR", base);
        let out = run_with_deadline(cmd);
        assert!(
            out.status.success(),
            "buildah {:?} failed:\n{}{}",
            args.iter().map(AsRef::as_ref).collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn inspect(&self, store: &str, image: &str) -> Value {
        serde_json::from_str(&self.run(store, &["inspect", "--type", "image", image])).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn run_with_deadline(cmd: Command) -> std::process::Output {
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(STEP_TIMEOUT);
    cmd.output().expect("the command runs")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared libraries `binary` loads, and its loader, as `ldd` lists them.
fn runtime_libraries(binary: &Path) -> Vec<PathBuf> {
    let mut cmd = Command::new(require_tool("ldd"));
    cmd.arg(binary);
    let out = run_with_deadline(cmd);
    assert!(out.status.success(), "ldd {}", binary.display());
    let text = String::from_utf8(out.stdout).unwrap();
    let libs: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux… (0x…)`;
            // linux-vdso has no file.
            let path = line.split("=>").last()?.trim().split(" (").next()?.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    assert!(
        libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
        "ldd lists libc: {text}"
    );
    libs
}

/// A base image with what the binary needs to start and nothing else (no shell): its libraries
/// and loader at the paths the binary asks for, like distroless's `cc` image.
fn make_base(buildah: &Buildah, binary: &Path, name: &str) {
    let container = buildah.run("build", &["from", "scratch"]);
    let root = PathBuf::from(buildah.run("build", &["mount", &container]));
    for lib in runtime_libraries(binary) {
        let dest = root.join(lib.strip_prefix("/").unwrap());
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        // The file itself, not the link to it (merged /usr: /lib64 → usr/lib64).
        std::fs::copy(&lib, &dest).unwrap();
    }
    buildah.run("build", &["umount", &container]);
    buildah.run("build", &["commit", "--rm", "-q", &container, name]);
}

/// A stand-in for the build stage's file system: what it leaves in `/out` (see the
/// Containerfile), the binary and the CA bundle. Returns the stage's root.
fn build_stage_output(dir: &Path, binary: &Path) -> PathBuf {
    let stage = dir.join("build-stage");
    let out = stage.join("out");
    let bin = out.join("usr/local/bin");
    let certs = out.join("etc/ssl/certs");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(binary, bin.join("preflight")).unwrap();
    let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    assert!(
        bundle.is_file(),
        "{} is missing: install ca-certificates",
        bundle.display()
    );
    std::fs::copy(bundle, certs.join("ca-certificates.crt")).unwrap();
    stage
}

/// The Containerfile's `runtime` stage: its instructions, up to the next stage.
fn runtime_stage(containerfile: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in containerfile.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        current.push_str(line.trim_end_matches('\\'));
        current.push(' ');
        if !line.ends_with('\\') {
            if !current.trim().is_empty() {
                lines.push(current.trim().to_owned());
            }
            current.clear();
        }
    }
    let start = lines
        .iter()
        .position(|l| l.starts_with("FROM ") && l.ends_with(" AS runtime"))
        .expect("a stage named runtime");
    lines[start..]
        .iter()
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !l.starts_with("FROM "))
        .map(|(_, l)| l.clone())
        .collect()
}

#[test]
fn the_runtime_stage_only_copies_from_a_base_given_as_an_argument() {
    let text = std::fs::read_to_string(repo_root().join("Containerfile")).unwrap();
    let stage = runtime_stage(&text);
    assert_eq!(stage[0], "FROM ${BASE} AS runtime", "{stage:#?}");
    for l in &stage {
        let word = l.split_whitespace().next().unwrap();
        assert!(
            ["FROM", "ARG", "LABEL", "COPY", "ENV", "USER", "ENTRYPOINT"].contains(&word),
            "the runtime stage runs nothing: {l}"
        );
    }
    // The build stage's Rust image is pinned to a whole version.
    let rust = text
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUST_IMAGE="))
        .expect("ARG RUST_IMAGE");
    let tag = rust.rsplit(':').next().unwrap();
    let version = tag.split('-').next().unwrap();
    assert_eq!(
        version
            .split('.')
            .filter(|p| p.parse::<u32>().is_ok())
            .count(),
        3,
        "rust image pinned to MAJOR.MINOR.PATCH: {rust}"
    );
}

#[test]
fn the_image_builds_pushes_passes_preflight_and_runs_its_binary() {
    let started = std::time::Instant::now();
    let binary = assert_cmd::cargo::cargo_bin("preflight");
    let version = env!("CARGO_PKG_VERSION");
    let revision = "0123456789abcdef0123456789abcdef01234567";
    let buildah = Buildah::new();

    make_base(&buildah, &binary, "localhost/preflight-test-base:1");
    let out = build_stage_output(buildah.dir.path(), &binary);
    let context = buildah.path("context");
    std::fs::create_dir_all(&context).unwrap();
    let containerfile = repo_root().join("Containerfile");
    let build = |tag: &str, extra: &[&str]| {
        let mut args: Vec<String> = [
            "build",
            "--pull=never",
            "--target",
            "runtime",
            "--build-arg",
            "BASE=localhost/preflight-test-base:1",
            "--build-arg",
        ]
        .map(str::to_owned)
        .to_vec();
        args.push(format!("VERSION={version}"));
        args.push("--build-arg".into());
        args.push(format!("REVISION={revision}"));
        args.push("--build-context".into());
        args.push(format!("build={}", out.display()));
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.extend([
            "-t".into(),
            tag.into(),
            "-f".into(),
            containerfile.display().to_string(),
            context.display().to_string(),
        ]);
        buildah.run("build", &args);
    };
    build("localhost/preflight:test", &[]);
    build(
        "localhost/preflight:test-action",
        &["--build-arg", "USER_ID=0"],
    );

    let config = buildah.inspect("build", "localhost/preflight:test")["OCIv1"]["config"].clone();
    assert_eq!(config["User"], "65532:65532", "{config:#}");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/preflight"])
    );
    let labels = &config["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], version);
    assert_eq!(labels["org.opencontainers.image.revision"], revision);
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://gitlab.com/preflight/preflight"
    );
    let action =
        buildah.inspect("build", "localhost/preflight:test-action")["OCIv1"]["config"].clone();
    assert_eq!(action["User"], "0:0", "{action:#}");

    // Pushed as the pipeline pushes it: :VERSION and :COMMIT.
    let reg = Registry::plain();
    let host = reg.host();
    let by_version = format!("{host}/preflight/preflight:{version}");
    let by_commit = format!("{host}/preflight/preflight:{revision}");
    let digest_file = buildah.path("digest");
    for (i, target) in [&by_version, &by_commit].into_iter().enumerate() {
        let mut args = vec!["push".to_owned(), "--tls-verify=false".to_owned()];
        if i == 0 {
            args.push(format!("--digestfile={}", digest_file.display()));
        }
        args.push("localhost/preflight:test".into());
        args.push(format!("docker://{target}"));
        buildah.run("build", &args);
    }
    let digest = std::fs::read_to_string(&digest_file).unwrap();
    let digest = digest.trim();
    assert!(digest.starts_with("sha256:"), "{digest}");

    // preflight checks the pushed image, its config and layers (the default depth), as the
    // pipeline's dogfood job does.
    let mut cmd = preflight();
    cmd.args([
        "check",
        "-o",
        "json",
        "--plain-http",
        &host,
        "--expect-digest",
        &format!("{by_version}={digest}"),
        "--expect-digest",
        &format!("{by_commit}={digest}"),
        &by_version,
        &by_commit,
    ]);
    let r = run_cmd(&mut cmd);
    assert_eq!(r.code, 0, "{}\n{}\n{}", r.stdout, r.stderr, reg.log());
    for image in r.json()["images"].as_array().unwrap() {
        assert_eq!(image["digest"], digest, "{image:#}");
        assert_eq!(image["pullable"], true);
    }

    // Pulled back into empty storage: what the registry holds is the whole image.
    let pulled = buildah.run(
        "pulled",
        &[
            "from",
            "--tls-verify=false",
            &format!("docker://{by_version}"),
        ],
    );
    let root = PathBuf::from(buildah.run("pulled", &["mount", &pulled]));
    let image = buildah.inspect("pulled", &by_version);
    let config = &image["OCIv1"]["config"];
    let entrypoint: Vec<&str> = config["Entrypoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let user = config["User"].as_str().unwrap();
    assert!(
        !root.join("bin/sh").exists() && !root.join("usr/bin/sh").exists(),
        "no shell in the image"
    );

    // A runtime gives every container an /etc/resolv.conf (Kubernetes the pod's, with
    // hostNetwork the node's); the image has none of its own. Names are not resolved below.
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/resolv.conf"), "nameserver 127.0.0.1\n").unwrap();

    // The entrypoint, as the image's user, from the image's root: it starts with only what the
    // image holds.
    let in_image = |args: &[&str]| {
        let mut cmd = Command::new(require_tool("chroot"));
        cmd.arg(format!("--userspec={user}"))
            .arg(&root)
            .args(&entrypoint)
            .args(args)
            .env_clear()
            .env("NO_COLOR", "1");
        run_with_deadline(cmd)
    };
    let out = in_image(&["--version"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("preflight {version}")
    );
    // And the image's preflight checks the image itself, reading the CA bundle it carries.
    let out = in_image(&["check", "-o", "json", "--plain-http", &host, &by_version]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["images"][0]["digest"], digest);
    buildah.run("pulled", &["umount", &pulled]);
    eprintln!(
        "image built, pushed, checked and run in {:?}",
        started.elapsed()
    );
}
