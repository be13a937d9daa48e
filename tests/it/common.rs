//! Running the binary and reading its report.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use assert_cmd::Command;
use base64::Engine as _;
use serde_json::Value;

use crate::support::schema::Schema;

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
    check_json_outputs(cmd, &run);
    run
}

/// The contract's JSON Schema, `docs/report.schema.json`, checked whole when loaded.
pub fn report_schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let path = repo_root().join("docs/report.schema.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Schema::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where in the schema each command's `-o json` output is described.
const SCHEMA_OF: &[(&str, &str)] = &[
    ("check", "#"),
    ("images", "#/$defs/images_output"),
    ("registry", "#/$defs/registry_output"),
    ("ratelimit", "#/$defs/ratelimit_output"),
    ("explain", "#/$defs/explain_output"),
];

/// Asserts that `text`, what `preflight COMMAND -o json` printed, is what the schema describes.
pub fn assert_valid_output(command: &str, text: &str) {
    let Some((_, pointer)) = SCHEMA_OF.iter().find(|(c, _)| *c == command) else {
        panic!(
            "`preflight {command} -o json` has no schema: describe its output in \
             docs/report.schema.json and name it in SCHEMA_OF (tests/it/common.rs)"
        );
    };
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| {
        panic!("the JSON output of preflight {command} is not JSON ({e}):\n{text}")
    });
    if let Err(errors) = report_schema().validate(pointer, &value) {
        panic!(
            "the JSON output of preflight {command} does not match docs/report.schema.json \
             ({pointer}):\n  {}\noutput:\n{text}",
            errors.join("\n  ")
        );
    }
}

/// Every run is also a schema test: a JSON report on stdout (`-o json`) and every
/// `--report json=PATH` file the run wrote must match `docs/report.schema.json`.
fn check_json_outputs(cmd: &Command, run: &Run) {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args
        .iter()
        .any(|a| matches!(a.as_str(), "-h" | "--help" | "-V" | "--version"))
    {
        return;
    }
    // The command: the first argument that is neither an option nor a global option's value.
    let mut command = None;
    let mut skip = false;
    for a in &args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if a == "--color" {
            skip = true;
        } else if !a.starts_with('-') {
            command = Some(a.as_str());
            break;
        }
    }
    let Some(command) = command else { return };
    let mut format = None;
    let mut report_files = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = |a: &str, long: &str, short: Option<&str>| -> Option<String> {
            if let Some(v) = a.strip_prefix(&format!("{long}=")) {
                return Some(v.to_owned());
            }
            let s = short?;
            a.strip_prefix(s)
                .filter(|v| !v.is_empty())
                .map(|v| v.trim_start_matches('=').to_owned())
        };
        if a == "-o" || a == "--output" {
            format = it.next().cloned();
        } else if let Some(v) = value(a, "--output", Some("-o")) {
            format = Some(v);
        } else if a == "--report" {
            report_files.extend(it.next().cloned());
        } else if let Some(v) = value(a, "--report", None) {
            report_files.push(v);
        }
    }
    if format.as_deref() == Some("json") && !run.stdout.trim().is_empty() {
        assert_valid_output(command, &run.stdout);
    }
    for spec in report_files {
        // A relative path is the run's, which may not be this process's directory.
        if let Some(path) = spec.strip_prefix("json=")
            && let Ok(text) = std::fs::read_to_string(
                cmd.get_current_dir()
                    .map_or_else(|| PathBuf::from(path), |dir| dir.join(path)),
            )
        {
            assert_valid_output(command, &text);
        }
    }
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
