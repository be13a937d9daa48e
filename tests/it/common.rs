//! Running the binary and reading its report.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use base64::Engine as _;
use serde_json::Value;

/// Variables of a CI job (GitLab sets all of these) or a shell that must not lend their
/// credentials, shard, proxy or log settings to a test: each test says what it wants.
const CLEARED_ENV: &[&str] = &[
    "DOCKER_CONFIG",
    "RUST_LOG",
    "DOCKER_AUTH_CONFIG",
    "REGISTRY_AUTH_FILE",
    "XDG_RUNTIME_DIR",
    "CI_REGISTRY",
    "CI_REGISTRY_USER",
    "CI_REGISTRY_PASSWORD",
    "CI_JOB_TOKEN",
    "CI_NODE_INDEX",
    "CI_NODE_TOTAL",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
];

/// The `preflight` binary with an environment that cannot leak the machine's own credentials or
/// log settings into a test.
pub fn preflight() -> Command {
    let mut cmd = Command::from_std(preflight_process());
    cmd.timeout(std::time::Duration::from_secs(120));
    cmd
}

/// [`preflight`] as a plain process, for tests that watch it while it runs.
pub fn preflight_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("preflight"));
    cmd.env("HOME", "/nonexistent/preflight-test-home")
        .env("NO_COLOR", "1");
    for var in CLEARED_ENV {
        cmd.env_remove(var);
    }
    cmd
}

/// One finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The diagnosis code of image `i`, or `None` when it is pullable.
    pub fn code_of(&self, i: usize) -> Option<String> {
        let j = self.json();
        let d = &j["images"][i]["diagnosis"];
        d["code"].as_str().map(str::to_owned)
    }

    pub fn image(&self, i: usize) -> Value {
        self.json()["images"][i].clone()
    }
}

pub fn run(args: &[&str]) -> Run {
    run_cmd(preflight().args(args))
}

pub fn run_cmd(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("preflight runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    record(cmd, &run);
    run
}

/// With `PREFLIGHT_RECORD=DIR`, appends every run's arguments, exit code and stdout to a file per
/// test in DIR, so the reports of the whole suite can be compared before and after a change that
/// must not alter them (`scripts/record-reports.sh`).
fn record(cmd: &Command, run: &Run) {
    use std::io::Write as _;
    let Some(dir) = std::env::var_os("PREFLIGHT_RECORD") else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .replace("::", ".");
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&dir).join(test))
        .expect("record file opens");
    writeln!(
        file,
        "$ preflight {}\nexit {}\n{}",
        args.join(" "),
        run.code,
        run.stdout
    )
    .expect("record written");
}

/// `preflight check -o json ARGS…`.
pub fn check(args: &[&str]) -> Run {
    let mut all = vec!["check", "-o", "json"];
    all.extend_from_slice(args);
    run(&all)
}

/// Checks one image and asserts it fails with `code`; returns the image's report.
pub fn expect_code(args: &[&str], code: &str) -> Value {
    let r = check(args);
    assert_eq!(
        r.code_of(0).as_deref(),
        Some(code),
        "expected {code}\nstdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
    assert_eq!(
        r.code, 1,
        "exit code for a failed image; stderr:\n{}",
        r.stderr
    );
    let image = r.image(0);
    assert_eq!(image["pullable"], false);
    let hint = image["diagnosis"]["hint"].as_str().unwrap_or_default();
    assert!(!hint.is_empty(), "no hint for {code}");
    image
}

/// Checks images and asserts every one is pullable; returns the report.
pub fn expect_pullable(args: &[&str]) -> Value {
    let r = check(args);
    assert_eq!(
        r.code, 0,
        "expected pullable\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    r.json()
}

/// Writes a Docker `config.json` with `auths` entries (`registry`, `user`, `password`) and returns
/// its path.
pub fn docker_config(dir: &Path, entries: &[(&str, &str, &str)]) -> PathBuf {
    let mut auths = serde_json::Map::new();
    for (registry, user, password) in entries {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        auths.insert((*registry).to_owned(), serde_json::json!({ "auth": auth }));
    }
    write_config(dir, &serde_json::json!({ "auths": auths }))
}

pub fn write_config(dir: &Path, value: &Value) -> PathBuf {
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    path
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}
