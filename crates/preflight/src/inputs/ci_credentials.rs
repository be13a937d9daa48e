//! The credentials a CI job can pull with, found where the job's own tools would find them.
//!
//! A CI job (GitLab first) has its registry credentials in several places at once, and the
//! check is only worth something if it picks the one that the job's `docker pull` (or the
//! runner pulling the job's images) would pick. [`CiCredentials`] reads them all once, at
//! construction, and answers for a registry from the first that has a credential for it:
//!
//! 1. `DOCKER_AUTH_CONFIG`: a whole `config.json` in a variable, GitLab's documented way to give
//!    a job registry credentials (GitLab Runner reads it first; Docker CLI 28 reads it too).
//! 2. Docker's own file: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
//! 3. Podman's: `REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`. Same format.
//! 4. GitLab's predefined variables, for the project's own registry (`CI_REGISTRY`):
//!    `CI_REGISTRY_USER` and `CI_REGISTRY_PASSWORD`, else `gitlab-ci-token` and `CI_JOB_TOKEN`.
//!
//! With an explicit `--docker-config` file, that file is the only source. Credential helpers
//! named by any of the configs are run (they are what `docker pull` would use) when a
//! [`HelperRunner`] is given.
//!
//! The environment is passed in rather than read here, so that tests — and embedders — never
//! have to change the process's. Missing files are skipped; an unreadable or malformed one is an
//! error at construction, naming the file (or variable) and the line, never a value.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::inputs::docker_config::{ConfigError, DockerConfig, HelperRunner};
use crate::model::credentials::{
    Candidates, Credential, CredentialError, CredentialSource, LocatedCredential,
};
use crate::model::reference::Reference;
use crate::model::secret::Secret;

/// The "path" that errors about `DOCKER_AUTH_CONFIG` name, so that they point at the variable.
const DOCKER_AUTH_CONFIG_PATH: &str = "$DOCKER_AUTH_CONFIG";
/// The user name GitLab's registry takes with a job token.
const GITLAB_JOB_TOKEN_USER: &str = "gitlab-ci-token";

/// The credentials of a CI job, in the order its tools look for them (see the
/// [module](self)). `Debug` is safe to print.
#[derive(Debug)]
pub struct CiCredentials {
    /// Highest priority first.
    layers: Vec<Layer>,
}

/// One place credentials come from.
#[derive(Debug)]
enum Layer {
    /// A `config.json`-format file or variable.
    Config(DockerConfig),
    /// GitLab's predefined variables for the project's registry.
    GitLab(GitLabRegistry),
}

/// The credential GitLab gives a job for its own registry.
#[derive(Debug)]
struct GitLabRegistry {
    /// `CI_REGISTRY`, normalized: lower case, no scheme, no path.
    registry: String,
    /// The user name.
    username: String,
    /// The password or job token.
    password: Secret,
    /// E.g. `GitLab CI_REGISTRY_USER for CI_REGISTRY registry.gitlab.com`.
    origin: String,
}

impl CiCredentials {
    /// Finds the job's credentials, with `env` standing for the environment (a variable that is
    /// unset, empty or not UTF-8 should be `None` or empty; both count as unset). `docker_config`
    /// is an explicit `--docker-config` file, which is then the only source and must exist.
    /// `helpers` runs the credential helpers the configs name (its clones share its cached
    /// answers); without it they are not run and a registry sent to one is
    /// [`CredentialError::HelperNotSupported`].
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        docker_config: Option<&Path>,
        helpers: Option<&HelperRunner>,
    ) -> Result<CiCredentials, ConfigError> {
        let var = |name: &str| env(name).filter(|value| !value.is_empty());
        let with_helpers = |config: DockerConfig| match helpers {
            Some(runner) => config.with_helpers(runner.clone()),
            None => config,
        };
        let mut layers = Vec::new();

        if let Some(path) = docker_config {
            layers.push(Layer::Config(with_helpers(DockerConfig::load(path)?)));
            return Ok(CiCredentials { layers });
        }

        if let Some(json) = var("DOCKER_AUTH_CONFIG") {
            let config = DockerConfig::parse(&json, Path::new(DOCKER_AUTH_CONFIG_PATH))?
                .with_origin_name("DOCKER_AUTH_CONFIG");
            layers.push(Layer::Config(with_helpers(config)));
        }

        // The same file reached twice (REGISTRY_AUTH_FILE pointing at Docker's config) is read
        // once, under its first and higher-priority name.
        let mut seen: HashSet<PathBuf> = HashSet::new();
        let home_var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
        let docker_file = DockerConfig::default_path(
            var("DOCKER_CONFIG").as_deref().map(std::ffi::OsStr::new),
            var(home_var).as_deref().map(Path::new),
        );
        let podman_file = match var("REGISTRY_AUTH_FILE") {
            Some(file) => Some((PathBuf::from(file), "REGISTRY_AUTH_FILE")),
            None => var("XDG_RUNTIME_DIR").map(|dir| {
                (
                    Path::new(&dir).join("containers").join("auth.json"),
                    "podman auth file",
                )
            }),
        };
        let files = docker_file
            .map(|path| (path, None))
            .into_iter()
            .chain(podman_file.map(|(path, name)| (path, Some(name))));
        for (path, name) in files {
            if !seen.insert(path.clone()) {
                continue;
            }
            if let Some(config) = DockerConfig::load_if_present(&path)? {
                let config = match name {
                    Some(name) => config.with_origin_name(format!("{name} {}", path.display())),
                    None => config,
                };
                layers.push(Layer::Config(with_helpers(config)));
            }
        }

        if let Some(gitlab) = GitLabRegistry::from_env(&var) {
            layers.push(Layer::GitLab(gitlab));
        }
        Ok(CiCredentials { layers })
    }

    /// [`CiCredentials::from_env`] with the process's environment.
    pub fn discover(
        docker_config: Option<&Path>,
        helpers: Option<&HelperRunner>,
    ) -> Result<CiCredentials, ConfigError> {
        Self::from_env(|name| std::env::var(name).ok(), docker_config, helpers)
    }

    /// Where credentials were found, highest priority first, for a debug log: e.g.
    /// `DOCKER_AUTH_CONFIG`, `docker-config /root/.docker/config.json`,
    /// `GitLab CI_JOB_TOKEN for CI_REGISTRY registry.gitlab.com`. Never a value.
    pub fn sources(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|layer| match layer {
                Layer::Config(config) => config.origin_name(),
                Layer::GitLab(gitlab) => gitlab.origin.clone(),
            })
            .collect()
    }

    /// The first credential for `registry`, and the failures of the sources before it.
    fn search(&self, registry: &str) -> (Option<LocatedCredential>, Vec<CredentialError>) {
        let mut failures = Vec::new();
        for layer in &self.layers {
            let found = match layer {
                Layer::Config(config) => config.lookup(registry),
                Layer::GitLab(gitlab) => Ok(gitlab.lookup(registry)),
            };
            match found {
                Ok(Some(credential)) => return (Some(credential), failures),
                Ok(None) => {}
                // GitLab Runner goes on to the next source when one fails; so do we, and say so.
                Err(err) => failures.push(err),
            }
        }
        (None, failures)
    }
}

impl CredentialSource for CiCredentials {
    /// The first source's credential for `registry`. A source that fails (a helper that is
    /// missing, fails or hangs) is passed over; its error is returned only when no later
    /// source has a credential.
    fn lookup(&self, registry: &str) -> Result<Option<LocatedCredential>, CredentialError> {
        match self.search(registry) {
            (Some(credential), _) => Ok(Some(credential)),
            (None, failures) => match failures.into_iter().next() {
                Some(err) => Err(err),
                None => Ok(None),
            },
        }
    }

    /// As [`lookup`](Self::lookup), with a note for each source that failed before the one
    /// whose credential is used.
    fn candidates(&self, reference: &Reference) -> Result<Candidates, CredentialError> {
        match self.search(reference.registry()) {
            (Some(credential), failures) => Ok(Candidates {
                notes: failures
                    .iter()
                    .map(|err| format!("{err}; using {} instead", credential.origin))
                    .collect(),
                credentials: vec![credential],
                ..Candidates::default()
            }),
            (None, failures) => match failures.into_iter().next() {
                Some(err) => Err(err),
                None => Ok(Candidates::default()),
            },
        }
    }
}

impl GitLabRegistry {
    /// The credential for `CI_REGISTRY`, when the job has one.
    fn from_env(var: &impl Fn(&str) -> Option<String>) -> Option<GitLabRegistry> {
        let registry = normalize_registry(&var("CI_REGISTRY")?);
        if registry.is_empty() {
            return None;
        }
        let (username, password, variable) =
            match (var("CI_REGISTRY_USER"), var("CI_REGISTRY_PASSWORD")) {
                (Some(user), Some(password)) => (user, password, "CI_REGISTRY_USER"),
                _ => (
                    GITLAB_JOB_TOKEN_USER.to_owned(),
                    var("CI_JOB_TOKEN")?,
                    "CI_JOB_TOKEN",
                ),
            };
        Some(GitLabRegistry {
            origin: format!("GitLab {variable} for CI_REGISTRY {registry}"),
            registry,
            username,
            password: Secret::new(password),
        })
    }

    /// The credential, when `registry` is GitLab's.
    fn lookup(&self, registry: &str) -> Option<LocatedCredential> {
        (normalize_registry(registry) == self.registry).then(|| LocatedCredential {
            credential: Credential::Basic {
                username: self.username.clone(),
                password: self.password.clone(),
            },
            origin: self.origin.clone(),
        })
    }
}

/// A registry as written in a variable, reduced to the form image references give it: host (and
/// port) in lower case, without a scheme or a path. The port is kept: `gitlab.example.com:5050`
/// is another registry than `gitlab.example.com`, for Docker too.
fn normalize_registry(registry: &str) -> String {
    let lower = registry.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    rest.split('/').next().unwrap_or_default().to_owned()
}

// The test helpers are shell scripts.
#[cfg(all(test, unix))]
mod tests {
    use std::collections::HashMap;
    use std::fs;
    use std::time::{Duration, Instant};

    use base64::Engine as _;

    use super::*;

    /// The test credential helpers (`docker-credential-preflight-*`).
    const HELPERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/helpers");
    const CANARY: &str = "canary-ci-4e9b2f-pa55";
    /// The secret that the misbehaving test helpers print.
    const HELPER_CANARY: &str = "canary-helper-0b7d41";

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// An environment of these variables only.
    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn runner() -> HelperRunner {
        HelperRunner::new().search_path(HELPERS)
    }

    fn basic(username: &str, password: &str) -> Credential {
        Credential::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    fn auths(registry: &str, user: &str, password: &str) -> String {
        format!(
            r#"{{"auths": {{"{registry}": {{"auth": "{}"}}}}}}"#,
            b64(&format!("{user}:{password}"))
        )
    }

    fn ci(vars: &[(&str, &str)]) -> CiCredentials {
        CiCredentials::from_env(env(vars), None, Some(&runner())).unwrap()
    }

    fn found(source: &impl CredentialSource, registry: &str) -> LocatedCredential {
        source.lookup(registry).unwrap().expect("a credential")
    }

    /// Every rendering of an error a user or log could see.
    fn renderings(err: &dyn std::error::Error) -> String {
        let mut text = format!("{err}\n{err:?}\n{err:#?}");
        let mut source = err.source();
        while let Some(s) = source {
            text = format!("{text}\n{s}\n{s:?}");
            source = s.source();
        }
        text
    }

    fn assert_no_canary(text: &str) {
        for canary in [CANARY, HELPER_CANARY, "helper-pass", "helper-refresh-token"] {
            assert!(!text.contains(canary), "secret leaked: {text}");
        }
    }

    // --- helpers -------------------------------------------------------------------------

    #[test]
    fn server_url_is_what_docker_passes() {
        assert_eq!(
            HelperRunner::server_url("docker.io"),
            "https://index.docker.io/v1/"
        );
        assert_eq!(
            HelperRunner::server_url("index.docker.io"),
            "https://index.docker.io/v1/"
        );
        assert_eq!(
            HelperRunner::server_url("registry-1.docker.io"),
            "registry-1.docker.io"
        );
        assert_eq!(
            HelperRunner::server_url("registry.gitlab.com"),
            "registry.gitlab.com"
        );
        assert_eq!(HelperRunner::server_url("localhost:5000"), "localhost:5000");
        assert_eq!(HelperRunner::server_url("[::1]:5000"), "[::1]:5000");
    }

    #[test]
    fn helper_gives_basic_and_identity_token() {
        let runner = runner();
        assert_eq!(
            runner.get("preflight-ok", "r.example").unwrap(),
            Some(basic("helper-user", "helper-pass"))
        );
        assert_eq!(
            runner.get("preflight-ok", "identity.example").unwrap(),
            Some(Credential::IdentityToken {
                username: String::new(),
                token: Secret::new("helper-refresh-token"),
            })
        );
    }

    #[test]
    fn helper_not_found_is_none_and_other_failures_are_errors() {
        let runner = runner();
        assert_eq!(runner.get("preflight-fail", "none.example"), Ok(None));
        assert_eq!(
            runner.get("preflight-fail", "locked.example"),
            Err(CredentialError::HelperFailed {
                helper: "preflight-fail".into(),
                registry: "locked.example".into(),
                status: "exit status: 3".into(),
                message: "keychain locked".into(),
            })
        );
        assert_eq!(
            runner
                .get("preflight-fail", "locked.example")
                .unwrap_err()
                .to_string(),
            "credential helper docker-credential-preflight-fail failed for locked.example (exit status: 3): keychain locked"
        );
    }

    #[test]
    fn helper_missing_from_the_search_path() {
        let err = runner().get("preflight-absent", "r.example").unwrap_err();
        assert_eq!(
            err,
            CredentialError::HelperMissing {
                helper: "preflight-absent".into(),
                registry: "r.example".into(),
            }
        );
        // An empty search path, and relative entries, find nothing.
        let err = HelperRunner::new()
            .search_path("")
            .get("preflight-ok", "r.example")
            .unwrap_err();
        assert!(
            matches!(err, CredentialError::HelperMissing { .. }),
            "{err:?}"
        );
        let err = HelperRunner::new()
            .search_path("tests/fixtures/helpers")
            .get("preflight-ok", "r.example")
            .unwrap_err();
        assert!(
            matches!(err, CredentialError::HelperMissing { .. }),
            "{err:?}"
        );
    }

    #[test]
    fn search_path_is_searched_in_order_and_skips_non_executables() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("docker-credential-preflight-ok"),
            "#!/bin/sh\nexit 9\n",
        )
        .unwrap();
        // Not executable: passed over for the real helper later in the path.
        let path = std::env::join_paths([dir.path(), Path::new(HELPERS)]).unwrap();
        let runner = HelperRunner::new().search_path(path);
        assert_eq!(
            runner.get("preflight-ok", "r.example").unwrap(),
            Some(basic("helper-user", "helper-pass"))
        );
    }

    #[test]
    fn helper_names_with_a_path_are_refused() {
        for name in ["../preflight-ok", "a/b", "", ".."] {
            let err = runner().get(name, "r.example").unwrap_err();
            assert!(
                matches!(&err, CredentialError::HelperFailed { status, .. } if status == "not run"),
                "{name}: {err:?}"
            );
        }
    }

    #[test]
    fn helper_that_hangs_is_killed_at_the_timeout() {
        let runner = runner().timeout(Duration::from_secs(1));
        let start = Instant::now();
        let err = runner.get("preflight-hang", "r.example").unwrap_err();
        let elapsed = start.elapsed();
        assert_eq!(
            err,
            CredentialError::HelperTimeout {
                helper: "preflight-hang".into(),
                registry: "r.example".into(),
                seconds: 1,
            }
        );
        // The shell's `sleep` child keeps the pipes open: the bound holds regardless.
        assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
        // The answer is kept: the next lookup does not wait again.
        let start = Instant::now();
        assert!(runner.get("preflight-hang", "r.example").is_err());
        assert!(start.elapsed() < Duration::from_millis(500));
        assert_eq!(
            err.to_string(),
            "credential helper docker-credential-preflight-hang did not answer for r.example within 1 s and was stopped"
        );
    }

    #[test]
    fn helper_runs_once_per_server() {
        let dir = tempfile::tempdir().unwrap();
        let counter = dir.path().join("runs");
        let runner = runner().env("PREFLIGHT_HELPER_COUNTER", &counter);
        let config = DockerConfig::parse(
            r#"{"credsStore": "preflight-count"}"#,
            Path::new("/ci/config.json"),
        )
        .unwrap()
        .with_helpers(runner.clone());
        let config = std::sync::Arc::new(config);
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let config = std::sync::Arc::clone(&config);
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        assert_eq!(
                            found(&*config, "r.example").credential,
                            basic("count-user", "count-pass")
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(fs::read_to_string(&counter).unwrap(), "r.example\n");
        // Another server is another run; clones share the answers.
        assert!(
            runner
                .get("preflight-count", "other.example")
                .unwrap()
                .is_some()
        );
        fs::remove_file(&counter).unwrap();
        found(&*config, "other.example");
        assert!(!counter.exists(), "ran again");
        // The variable reached the helper only.
        assert!(std::env::var_os("PREFLIGHT_HELPER_COUNTER").is_none());
    }

    #[test]
    fn unparseable_and_oversized_output_is_never_shown() {
        let runner = runner();
        for helper in ["preflight-garbage", "preflight-chatty"] {
            let err = runner.get(helper, "r.example").unwrap_err();
            assert_eq!(
                err,
                CredentialError::HelperOutput {
                    helper: helper.into(),
                    registry: "r.example".into(),
                }
            );
            assert_no_canary(&renderings(&err));
        }
    }

    #[test]
    fn failing_helper_that_printed_a_credential_does_not_leak_it() {
        let err = runner().get("preflight-leaky", "r.example").unwrap_err();
        assert!(
            matches!(&err, CredentialError::HelperFailed { status, .. } if status == "exit status: 2"),
            "{err:?}"
        );
        assert_no_canary(&renderings(&err));
    }

    // --- helpers from a config -------------------------------------------------------------

    #[test]
    fn helpers_are_asked_before_auths() {
        let json = format!(
            r#"{{"auths": {{"r.example": {{"auth": "{}"}}, "none.example": {{"auth": "{}"}}, "plain.example": {{"auth": "{}"}}}},
                "credHelpers": {{"none.example": "preflight-fail", "plain.example": ""}},
                "credsStore": "preflight-ok"}}"#,
            b64("file-user:file-pass"),
            b64("file-user:file-pass"),
            b64("file-user:file-pass"),
        );
        let config = DockerConfig::parse(&json, Path::new("/ci/config.json"))
            .unwrap()
            .with_helpers(runner());
        assert!(config.runs_helpers());
        // credsStore beats the file's entry.
        let hub = found(&config, "docker.io");
        assert_eq!(hub.credential, basic("helper-user", "helper-pass"));
        assert_eq!(
            hub.origin,
            "docker-credential-preflight-ok for https://index.docker.io/v1/ (credsStore in docker-config /ci/config.json)"
        );
        assert_eq!(
            found(&config, "r.example").credential,
            basic("helper-user", "helper-pass")
        );
        // A credHelpers entry beats credsStore; its "not found" is final, as in Docker.
        assert_eq!(config.lookup("none.example"), Ok(None));
        // An empty credHelpers name sends the registry back to the file.
        let plain = found(&config, "plain.example");
        assert_eq!(plain.credential, basic("file-user", "file-pass"));
        assert_eq!(
            plain.origin,
            "docker-config /ci/config.json, key plain.example"
        );
    }

    #[test]
    fn without_a_runner_helpers_stay_unsupported() {
        let config = DockerConfig::parse(
            r#"{"credsStore": "preflight-ok"}"#,
            Path::new("/ci/config.json"),
        )
        .unwrap();
        assert!(!config.runs_helpers());
        assert!(matches!(
            config.lookup("r.example"),
            Err(CredentialError::HelperNotSupported { .. })
        ));
    }

    // --- sources and their order -----------------------------------------------------------

    /// A home with `~/.docker/config.json` holding `json`.
    fn home_with(json: &str) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        fs::create_dir(home.path().join(".docker")).unwrap();
        fs::write(home.path().join(".docker/config.json"), json).unwrap();
        home
    }

    #[test]
    fn docker_auth_config_comes_first() {
        let home = home_with(&auths("r.example", "home-user", "home-pass"));
        let home_dir = home.path().to_str().unwrap();
        let env_json = auths("r.example", "env-user", CANARY);
        let creds = ci(&[("DOCKER_AUTH_CONFIG", &env_json), ("HOME", home_dir)]);
        let got = found(&creds, "r.example");
        assert_eq!(got.credential, basic("env-user", CANARY));
        assert_eq!(got.origin, "DOCKER_AUTH_CONFIG, key r.example");
        assert_eq!(
            creds.sources(),
            [
                "DOCKER_AUTH_CONFIG".to_owned(),
                format!("docker-config {home_dir}/.docker/config.json"),
            ]
        );
        // A registry the variable lacks falls through to the file.
        let home = home_with(&auths("other.example", "home-user", "home-pass"));
        let creds = ci(&[
            ("DOCKER_AUTH_CONFIG", &env_json),
            ("HOME", home.path().to_str().unwrap()),
        ]);
        assert_eq!(
            found(&creds, "other.example").credential,
            basic("home-user", "home-pass")
        );
        assert_no_canary(&format!("{creds:?} {:?}", creds.sources()));
    }

    #[test]
    fn docker_config_dir_beats_home() {
        let home = home_with(&auths("r.example", "home-user", "home-pass"));
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("config.json"),
            auths("r.example", "dir-user", "dir-pass"),
        )
        .unwrap();
        let creds = ci(&[
            ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
            ("HOME", home.path().to_str().unwrap()),
        ]);
        let got = found(&creds, "r.example");
        assert_eq!(got.credential, basic("dir-user", "dir-pass"));
        assert_eq!(
            got.origin,
            format!(
                "docker-config {}, key r.example",
                dir.path().join("config.json").display()
            )
        );
    }

    #[test]
    fn podman_auth_file_after_docker() {
        let home = home_with(&auths("r.example", "home-user", "home-pass"));
        let runtime = tempfile::tempdir().unwrap();
        fs::create_dir(runtime.path().join("containers")).unwrap();
        let auth_json = runtime.path().join("containers/auth.json");
        fs::write(
            &auth_json,
            format!(
                r#"{{"auths": {{"r.example": {{"auth": "{}"}}, "quay.io": {{"auth": "{}"}}}}}}"#,
                b64("podman-user:podman-pass"),
                b64("quay-user:quay-pass")
            ),
        )
        .unwrap();
        let runtime_dir = runtime.path().to_str().unwrap();
        let creds = ci(&[
            ("HOME", home.path().to_str().unwrap()),
            ("XDG_RUNTIME_DIR", runtime_dir),
        ]);
        assert_eq!(
            found(&creds, "r.example").credential,
            basic("home-user", "home-pass")
        );
        let quay = found(&creds, "quay.io");
        assert_eq!(quay.credential, basic("quay-user", "quay-pass"));
        assert_eq!(
            quay.origin,
            format!("podman auth file {}, key quay.io", auth_json.display())
        );

        // REGISTRY_AUTH_FILE wins over XDG_RUNTIME_DIR.
        let other = runtime.path().join("other.json");
        fs::write(&other, auths("quay.io", "file-user", "file-pass")).unwrap();
        let creds = ci(&[
            ("XDG_RUNTIME_DIR", runtime_dir),
            ("REGISTRY_AUTH_FILE", other.to_str().unwrap()),
        ]);
        let quay = found(&creds, "quay.io");
        assert_eq!(quay.credential, basic("file-user", "file-pass"));
        assert_eq!(
            quay.origin,
            format!("REGISTRY_AUTH_FILE {}, key quay.io", other.display())
        );
        assert_eq!(creds.sources().len(), 1);
    }

    #[test]
    fn missing_files_are_skipped() {
        let empty = tempfile::tempdir().unwrap();
        let dir = empty.path().to_str().unwrap();
        let creds = ci(&[
            ("HOME", dir),
            ("DOCKER_CONFIG", dir),
            ("REGISTRY_AUTH_FILE", &format!("{dir}/nope.json")),
            ("XDG_RUNTIME_DIR", dir),
        ]);
        assert!(creds.sources().is_empty());
        assert_eq!(creds.lookup("r.example"), Ok(None));
        // Nothing set at all.
        let creds = ci(&[]);
        assert!(creds.sources().is_empty());
        assert_eq!(creds.lookup("docker.io"), Ok(None));
    }

    #[test]
    fn malformed_files_are_errors_naming_the_file() {
        let home = home_with("{\n  \"auths\": {\n    \"r.example\": {}\n    \"x\": 1\n}");
        let err =
            CiCredentials::from_env(env(&[("HOME", home.path().to_str().unwrap())]), None, None)
                .unwrap_err();
        match &err {
            ConfigError::Syntax {
                path, line, column, ..
            } => {
                assert_eq!(path, &home.path().join(".docker/config.json"));
                assert_eq!((*line, *column), (4, 5));
            }
            other => panic!("unexpected {other:?}"),
        }
        // A directory where the podman file should be is unreadable, not missing.
        let dir = tempfile::tempdir().unwrap();
        let err = CiCredentials::from_env(
            env(&[("REGISTRY_AUTH_FILE", dir.path().to_str().unwrap())]),
            None,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    }

    #[test]
    fn malformed_docker_auth_config_names_the_variable_and_position() {
        let json = format!("{{\"auths\": {{\n  \"r.example\": {{\"password\": \"{CANARY}");
        let err =
            CiCredentials::from_env(env(&[("DOCKER_AUTH_CONFIG", &json)]), None, None).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Syntax { path, line: 2, .. } if path == Path::new("$DOCKER_AUTH_CONFIG")),
            "{err:?}"
        );
        assert!(
            err.to_string().starts_with("$DOCKER_AUTH_CONFIG:2:"),
            "{err}"
        );
        assert_no_canary(&renderings(&err));

        let json = format!(r#"{{"auths": {{"r.example": {{"auth": "{CANARY}"}}}}}}"#);
        let err =
            CiCredentials::from_env(env(&[("DOCKER_AUTH_CONFIG", &json)]), None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "docker config $DOCKER_AUTH_CONFIG, key \"r.example\": auth is not valid base64 (a character outside the base64 alphabet)"
        );
        assert_no_canary(&renderings(&err));
    }

    #[test]
    fn explicit_docker_config_is_the_only_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ci.json");
        fs::write(
            &file,
            r#"{"auths": {"plain.example": {"username": "u", "password": "p"}}, "credHelpers": {"r.example": "preflight-ok"}}"#,
        )
        .unwrap();
        let vars = [
            (
                "DOCKER_AUTH_CONFIG",
                auths("other.example", "env-user", "env-pass"),
            ),
            ("CI_REGISTRY", "other.example".to_owned()),
            ("CI_JOB_TOKEN", CANARY.to_owned()),
        ];
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let creds = CiCredentials::from_env(env(&vars), Some(&file), Some(&runner())).unwrap();
        assert_eq!(
            creds.sources(),
            [format!("docker-config {}", file.display())]
        );
        assert_eq!(
            found(&creds, "r.example").credential,
            basic("helper-user", "helper-pass")
        );
        assert_eq!(found(&creds, "plain.example").credential, basic("u", "p"));
        assert_eq!(creds.lookup("other.example"), Ok(None));
        // An explicit file must exist.
        let err =
            CiCredentials::from_env(env(&[]), Some(&dir.path().join("nope")), None).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    }

    #[test]
    fn helpers_named_in_docker_auth_config_run() {
        let creds = ci(&[("DOCKER_AUTH_CONFIG", r#"{"credsStore": "preflight-ok"}"#)]);
        let got = found(&creds, "registry.example.com:5000");
        assert_eq!(got.credential, basic("helper-user", "helper-pass"));
        assert_eq!(
            got.origin,
            "docker-credential-preflight-ok for registry.example.com:5000 (credsStore in DOCKER_AUTH_CONFIG)"
        );
    }

    // --- GitLab --------------------------------------------------------------------------

    #[test]
    fn gitlab_registry_user_and_password() {
        let creds = ci(&[
            ("CI_REGISTRY", "registry.gitlab.com"),
            ("CI_REGISTRY_USER", "gitlab-ci-token"),
            ("CI_REGISTRY_PASSWORD", CANARY),
            ("CI_JOB_TOKEN", "job-token"),
        ]);
        let got = found(&creds, "registry.gitlab.com");
        assert_eq!(got.credential, basic("gitlab-ci-token", CANARY));
        assert_eq!(
            got.origin,
            "GitLab CI_REGISTRY_USER for CI_REGISTRY registry.gitlab.com"
        );
        assert_eq!(
            creds.sources(),
            ["GitLab CI_REGISTRY_USER for CI_REGISTRY registry.gitlab.com"]
        );
        assert_no_canary(&format!("{creds:?} {got:?} {}", got.origin));
    }

    #[test]
    fn gitlab_job_token_without_password() {
        let creds = ci(&[
            ("CI_REGISTRY", "Registry.GitLab.com"),
            ("CI_REGISTRY_USER", "someone"),
            ("CI_REGISTRY_PASSWORD", ""),
            ("CI_JOB_TOKEN", CANARY),
        ]);
        let got = found(&creds, "registry.gitlab.com");
        assert_eq!(got.credential, basic("gitlab-ci-token", CANARY));
        assert_eq!(
            got.origin,
            "GitLab CI_JOB_TOKEN for CI_REGISTRY registry.gitlab.com"
        );
        // No token either: no source.
        let creds = ci(&[("CI_REGISTRY", "registry.gitlab.com")]);
        assert!(creds.sources().is_empty());
    }

    #[test]
    fn gitlab_registry_must_match_with_its_port() {
        let creds = ci(&[
            ("CI_REGISTRY", "gitlab.example.com:5050"),
            ("CI_JOB_TOKEN", CANARY),
        ]);
        assert!(creds.lookup("gitlab.example.com:5050").unwrap().is_some());
        assert_eq!(creds.lookup("gitlab.example.com"), Ok(None));
        assert_eq!(creds.lookup("gitlab.example.com:5051"), Ok(None));
        assert_eq!(creds.lookup("registry.gitlab.com"), Ok(None));
        assert_eq!(creds.lookup("docker.io"), Ok(None));
        // A scheme or a trailing slash in the variable is tolerated.
        let creds = ci(&[
            ("CI_REGISTRY", "https://gitlab.example.com:5050/"),
            ("CI_JOB_TOKEN", CANARY),
        ]);
        assert!(creds.lookup("gitlab.example.com:5050").unwrap().is_some());
    }

    #[test]
    fn gitlab_variables_come_last() {
        let json = auths("registry.gitlab.com", "deploy-user", "deploy-pass");
        let creds = ci(&[
            ("DOCKER_AUTH_CONFIG", &json),
            ("CI_REGISTRY", "registry.gitlab.com"),
            ("CI_JOB_TOKEN", CANARY),
        ]);
        assert_eq!(
            found(&creds, "registry.gitlab.com").credential,
            basic("deploy-user", "deploy-pass")
        );
    }

    #[test]
    fn a_failing_source_is_passed_over_with_a_note() {
        let creds = ci(&[
            ("DOCKER_AUTH_CONFIG", r#"{"credsStore": "preflight-fail"}"#),
            ("CI_REGISTRY", "registry.gitlab.com"),
            ("CI_JOB_TOKEN", CANARY),
        ]);
        let got = found(&creds, "registry.gitlab.com");
        assert_eq!(got.credential, basic("gitlab-ci-token", CANARY));
        let reference = Reference::parse("registry.gitlab.com/group/app:1").unwrap();
        let candidates = creds.candidates(&reference).unwrap();
        assert_eq!(candidates.credentials, [got]);
        assert_eq!(
            candidates.notes,
            [
                "credential helper docker-credential-preflight-fail failed for registry.gitlab.com (exit status: 3): keychain locked; using GitLab CI_JOB_TOKEN for CI_REGISTRY registry.gitlab.com instead"
            ]
        );
        // With nothing later, the failure is the answer.
        let err = creds.lookup("ghcr.io").unwrap_err();
        assert!(
            matches!(err, CredentialError::HelperFailed { .. }),
            "{err:?}"
        );
        let reference = Reference::parse("ghcr.io/o/app:1").unwrap();
        assert!(creds.candidates(&reference).is_err());
        // "Not found" is no failure: no note.
        assert_eq!(creds.lookup("none.example"), Ok(None), "not found moves on");
    }

    // --- secrets never shown -------------------------------------------------------------

    #[test]
    fn canary_never_in_errors_debug_or_sources() {
        let json = auths("r.example", "u", CANARY);
        let creds = ci(&[
            ("DOCKER_AUTH_CONFIG", &json),
            ("CI_REGISTRY", "registry.gitlab.com"),
            ("CI_REGISTRY_USER", "u"),
            ("CI_REGISTRY_PASSWORD", CANARY),
        ]);
        let mut text = format!("{creds:?} {creds:#?} {:?}", creds.sources());
        for registry in ["r.example", "registry.gitlab.com"] {
            let got = found(&creds, registry);
            text = format!("{text} {got:?} {}", got.origin);
        }
        assert_no_canary(&text);

        // Also shows that a time limit under a second is reported rounded up.
        let runner = runner().timeout(Duration::from_millis(200));
        let hang = runner.get("preflight-hang", "r.example").unwrap_err();
        assert!(
            matches!(hang, CredentialError::HelperTimeout { seconds: 1, .. }),
            "{hang:?}"
        );
        let errors = [
            hang,
            runner.get("preflight-fail", "locked.example").unwrap_err(),
            runner.get("preflight-garbage", "r.example").unwrap_err(),
            runner.get("preflight-leaky", "r.example").unwrap_err(),
            runner.get("preflight-absent", "r.example").unwrap_err(),
        ];
        for err in &errors {
            assert_no_canary(&renderings(err));
        }
        let found_ok = runner.get("preflight-ok", "r.example").unwrap();
        assert_no_canary(&format!("{found_ok:?} {runner:?}"));
    }
}
