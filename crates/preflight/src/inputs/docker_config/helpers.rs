//! Credential helpers (`docker-credential-NAME get`), run the way Docker runs them: found on a
//! search path, asked once per helper and server, answers cached, output decoded without ever
//! quoting a secret. The process itself — pipes, deadline, killing its group — is `process`'s.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::model::credentials::{Credential, CredentialError, go_json_field as field};
use crate::model::secret::Secret;

use super::process::{Captured, executable_names, is_executable, read_capped, stop, wait_until};
use super::{HUB_INDEX_HOST, HUB_KEY, HUB_REGISTRY};

/// The length, in characters, to which a failing helper's message is cut.
const HELPER_MESSAGE_CHARS: usize = 200;

/// What a helper says, on stdout, when it has no credential for the server. Docker compares the
/// whole trimmed output with `credentials not found in native keychain`; helpers outside
/// Docker's own set vary the wording, and some print it on stderr, so any output containing
/// this (in any case) counts.
const HELPER_NOT_FOUND: &str = "credentials not found";

/// The `Username` with which a helper marks its `Secret` as an identity token.
const HELPER_TOKEN_USERNAME: &str = "<token>";

/// Runs credential helpers (`docker-credential-NAME get`) the way Docker runs them, with a time
/// limit, and remembers each answer.
///
/// A helper is found in the directories of a `PATH`-like list (the process's `PATH` unless
/// [`HelperRunner::search_path`] says otherwise), gets `get` as its only argument and the server
/// URL on stdin (see [`HelperRunner::server_url`]), and answers with
/// `{"ServerURL": …, "Username": …, "Secret": …}` on stdout; a `Username` of `<token>` makes the
/// `Secret` an identity token.
///
/// Each (helper, server URL) runs once for the life of the runner and of its clones, which share
/// the answers, failures included: 200 images on one registry, or a helper that hangs, cost one
/// run. Concurrent lookups of the same pair wait for the one run; different pairs run in
/// parallel. Runs block the calling thread (the checker calls from a blocking thread).
#[derive(Clone)]
pub struct HelperRunner {
    /// `PATH`-like list of directories; `None` reads the process's `PATH` when a helper runs.
    search_path: Option<OsString>,
    /// How long a helper may take, from start until its output is complete.
    timeout: Duration,
    /// Variables set for the helpers only, on top of the inherited environment.
    env: Vec<(OsString, OsString)>,
    /// Shared by clones.
    cache: Arc<Mutex<HelperCache>>,
}

impl HelperRunner {
    /// The time limit unless [`HelperRunner::timeout`] sets another: helpers that talk to a
    /// cloud (ECR, GCR) take a second or two; ten covers a slow network without stalling CI.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A runner that finds helpers on the process's `PATH`, with [`Self::DEFAULT_TIMEOUT`].
    pub fn new() -> HelperRunner {
        HelperRunner {
            search_path: None,
            timeout: Self::DEFAULT_TIMEOUT,
            env: Vec::new(),
            cache: Arc::default(),
        }
    }

    /// Finds helpers in these directories instead of the process's `PATH`: a list in the
    /// platform's `PATH` syntax (`:`-separated on Unix). As in Go's `exec.LookPath` since 1.19,
    /// empty and relative entries are skipped: a helper is never run from the working directory.
    #[must_use]
    pub fn search_path(self, dirs: impl Into<OsString>) -> HelperRunner {
        HelperRunner {
            search_path: Some(dirs.into()),
            // Other settings may give other answers.
            cache: Arc::default(),
            ..self
        }
    }

    /// How long a helper may take before it is killed and the lookup fails with
    /// [`CredentialError::HelperTimeout`].
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> HelperRunner {
        HelperRunner {
            timeout,
            cache: Arc::default(),
            ..self
        }
    }

    /// Sets a variable in the helpers' environment only (the process's stays as it is).
    #[must_use]
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> HelperRunner {
        self.env.push((key.into(), value.into()));
        self.cache = Arc::default();
        self
    }

    /// What Docker writes to a helper's stdin for `registry` (an image reference's registry):
    /// `https://index.docker.io/v1/` for Docker Hub (`docker.io`, `index.docker.io`), and the
    /// registry itself — host, with its port if any — for every other. That is the key Docker
    /// looks credentials up under (docker/cli `ResolveAuthConfig`: `index.Name`, or
    /// `IndexServer` when the index is official), and its native store passes that key to
    /// the helper unchanged. `registry-1.docker.io` is not official in Docker, so it is passed as
    /// it is.
    pub fn server_url(registry: &str) -> String {
        if registry.eq_ignore_ascii_case(HUB_REGISTRY)
            || registry.eq_ignore_ascii_case(HUB_INDEX_HOST)
        {
            HUB_KEY.to_owned()
        } else {
            registry.to_owned()
        }
    }

    /// Asks `docker-credential-HELPER` for the credential of `registry`, or returns the answer
    /// it gave before. `Ok(None)` when the helper says it has none (or answers with an empty
    /// user name and secret).
    pub fn get(&self, helper: &str, registry: &str) -> Result<Option<Credential>, CredentialError> {
        let server_url = Self::server_url(registry);
        let cell = {
            // A panic elsewhere while the map was locked leaves it intact: entries are inserted
            // whole.
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(
                cache
                    .entry((helper.to_owned(), server_url.clone()))
                    .or_default(),
            )
        };
        // The map is unlocked while the helper runs, so other pairs are not held up; the cell
        // makes concurrent askers of this pair wait for the one run.
        cell.get_or_init(|| self.run(helper, &server_url, registry))
            .clone()
    }

    /// Runs the helper once.
    fn run(&self, helper: &str, server_url: &str, registry: &str) -> HelperAnswer {
        let failure = |failure: RunFailure| match failure {
            RunFailure::Missing => CredentialError::HelperMissing {
                helper: helper.to_owned(),
                registry: registry.to_owned(),
            },
            RunFailure::TimedOut => CredentialError::HelperTimeout {
                helper: helper.to_owned(),
                registry: registry.to_owned(),
                seconds: self.timeout.as_secs() + u64::from(self.timeout.subsec_nanos() > 0),
            },
            RunFailure::Failed { status, message } => CredentialError::HelperFailed {
                helper: helper.to_owned(),
                registry: registry.to_owned(),
                status,
                message,
            },
        };
        // A name with a path in it would run a program outside the search path (GitLab Runner
        // refuses these too).
        if helper.is_empty() || helper.contains(['/', '\\']) || helper == "." || helper == ".." {
            return Err(failure(RunFailure::failed(
                "not run",
                "the helper name is not a plain program name",
            )));
        }
        let Some(program) = self.find(helper) else {
            return Err(failure(RunFailure::Missing));
        };
        let (status, stdout, stderr) = self.execute(&program, server_url).map_err(failure)?;

        if status.success() {
            // stdout holds the secret: it is parsed, never quoted.
            let credential = if stdout.truncated {
                Err(())
            } else {
                parse_helper_output(&stdout.bytes)
            };
            return credential.map_err(|()| CredentialError::HelperOutput {
                helper: helper.to_owned(),
                registry: registry.to_owned(),
            });
        }
        if [&stdout.bytes, &stderr.bytes].iter().any(|bytes| {
            String::from_utf8_lossy(bytes)
                .to_ascii_lowercase()
                .contains(HELPER_NOT_FOUND)
        }) {
            return Ok(None);
        }
        // `exit status: 3`, or on Unix `signal: 9 (SIGKILL)`.
        Err(failure(RunFailure::Failed {
            status: status.to_string(),
            message: failure_message(&stderr.bytes, &stdout.bytes),
        }))
    }

    /// Runs `program get` with `server_url` on its stdin, until it exits and its output is
    /// complete or the time limit is spent.
    fn execute(
        &self,
        program: &Path,
        server_url: &str,
    ) -> Result<(ExitStatus, Captured, Captured), RunFailure> {
        let mut command = Command::new(program);
        command
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Its own process group, so that a timeout stops the helper's children too.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let deadline = Instant::now() + self.timeout;
        let mut child = match command.spawn() {
            Ok(child) => child,
            // Removed between the search and the start.
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Err(RunFailure::Missing),
            Err(err) => return Err(RunFailure::failed("not started", err.to_string())),
        };
        if let Some(mut stdin) = child.stdin.take() {
            // A few hundred bytes fit in any pipe buffer, so this cannot block. A helper that
            // exits without reading makes it fail, which its exit status will tell better.
            let _ = stdin.write_all(server_url.as_bytes());
            // Dropped here: the helper sees the end of its input, as from Docker.
        }
        let stdout = child.stdout.take().map(read_capped);
        let stderr = child.stderr.take().map(read_capped);
        let (Some(Ok(stdout)), Some(Ok(stderr))) = (stdout, stderr) else {
            stop(&mut child);
            return Err(RunFailure::failed(
                "not run",
                "could not start a thread to read its output",
            ));
        };
        let status = match wait_until(&mut child, deadline) {
            Ok(Some(status)) => status,
            Ok(None) => {
                stop(&mut child);
                return Err(RunFailure::TimedOut);
            }
            Err(err) => {
                stop(&mut child);
                return Err(RunFailure::failed(
                    "unknown",
                    format!("waiting for it failed: {err}"),
                ));
            }
        };
        // A process the helper started can hold its pipes open after it exits; its output is
        // complete only when they close, and that must happen within the time limit too.
        let (Some(stdout), Some(stderr)) = (stdout.collect(deadline), stderr.collect(deadline))
        else {
            return Err(RunFailure::TimedOut);
        };
        Ok((status, stdout, stderr))
    }

    /// The helper's executable: the first `docker-credential-HELPER` in the search path.
    fn find(&self, helper: &str) -> Option<PathBuf> {
        let search_path = match &self.search_path {
            Some(dirs) => dirs.clone(),
            None => std::env::var_os("PATH")?,
        };
        let name = format!("docker-credential-{helper}");
        std::env::split_paths(&search_path)
            .filter(|dir| dir.is_absolute())
            .flat_map(|dir| executable_names(&name).map(move |n| dir.join(n)))
            .find(|candidate| is_executable(candidate))
    }
}

/// What a helper run yields.
type HelperAnswer = Result<Option<Credential>, CredentialError>;

/// Answers by (helper, server URL); each cell is filled by exactly one run.
type HelperCache = HashMap<(String, String), Arc<OnceLock<HelperAnswer>>>;

/// Why a run ended without an answer to decode; [`HelperRunner::run`] names the helper and
/// registry.
enum RunFailure {
    /// No executable, or it vanished before it started.
    Missing,
    /// The time limit was spent.
    TimedOut,
    /// It could not run, or ran and failed.
    Failed { status: String, message: String },
}

impl RunFailure {
    fn failed(status: &str, message: impl Into<String>) -> RunFailure {
        RunFailure::Failed {
            status: status.to_owned(),
            message: message.into(),
        }
    }
}

impl Default for HelperRunner {
    fn default() -> HelperRunner {
        HelperRunner::new()
    }
}

impl fmt::Debug for HelperRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the settings: the cached answers are credentials (redacted, but of no use here),
        // and the helpers' variables may be secrets.
        f.debug_struct("HelperRunner")
            .field("search_path", &self.search_path)
            .field("timeout", &self.timeout)
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A successful helper's stdout, decoded as Docker decodes it: the first JSON value, field
/// names in any case, unknown fields ignored. `Err` when it is not a credential; the error
/// carries nothing, so that nothing of the output can reach a message.
fn parse_helper_output(stdout: &[u8]) -> Result<Option<Credential>, ()> {
    let text = String::from_utf8_lossy(stdout);
    // Nothing at all is an error for Go's decoder too.
    let Some(Ok(value)) = serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .next()
    else {
        return Err(());
    };
    let object = match value {
        Value::Object(object) => object,
        // Go decodes `null` into the credentials as "nothing": an empty credential.
        Value::Null => return Ok(None),
        _ => return Err(()),
    };
    let text = |name: &str| -> Result<String, ()> {
        match field(&object, name) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(()),
        }
    };
    // Type-checked like the fields used, since Go would refuse a wrong type there too.
    text("ServerURL")?;
    let username = text("Username")?;
    let secret = text("Secret")?;
    Ok(if username == HELPER_TOKEN_USERNAME {
        // Docker keeps no user name with an identity token from a helper; an empty token leaves
        // it nothing to send.
        (!secret.is_empty()).then(|| Credential::IdentityToken {
            username: String::new(),
            token: Secret::new(secret),
        })
    } else if username.is_empty() && secret.is_empty() {
        // What Docker then sends is no credential at all.
        None
    } else {
        Some(Credential::Basic {
            username,
            password: Secret::new(secret),
        })
    })
}

/// What a failing helper said: the first non-blank line of stderr, else of stdout, without
/// control characters (which could rewrite a terminal or a log line), cut to
/// [`HELPER_MESSAGE_CHARS`]. Helpers print the credential only when they succeed, so a failure's
/// output holds none; a line that looks like JSON is withheld all the same, in case a helper
/// printed a credential and then failed.
pub(crate) fn failure_message(stderr: &[u8], stdout: &[u8]) -> String {
    let first_line = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .map(str::to_owned)
    };
    let Some(line) = first_line(stderr).or_else(|| first_line(stdout)) else {
        return "(no output)".to_owned();
    };
    if line.starts_with(['{', '[', '"']) {
        return "(output not shown: it looks like JSON, which could hold a credential)".to_owned();
    }
    let clean: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut chars = clean.chars();
    let mut message: String = chars.by_ref().take(HELPER_MESSAGE_CHARS).collect();
    if chars.next().is_some() {
        message.push('…');
    }
    message
}
