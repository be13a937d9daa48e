//! Test support for the `it` integration tests.
//!
//! Real servers (CNCF distribution as `docker-registry`, `dnsmasq`) run as
//! child processes; behaviour a real server cannot produce (odd status codes,
//! stalls, garbage) comes from in-process fakes. Every helper is synchronous so
//! a plain `#[test] fn` can use it: in-process servers own a thread with their
//! own tokio runtime, which also keeps them usable from inside `#[tokio::test]`
//! (no nested `block_on`). Everything binds 127.0.0.1:0 and is torn down on
//! Drop, so tests need no global state and can run in parallel or in separate
//! processes (nextest).

// Each test uses only some of the helpers; the rest would otherwise warn.
#![allow(dead_code)]

pub mod dns;
pub mod fake;
pub mod net;
pub mod pki;
pub mod proxy;
pub mod registry;
pub mod runtime;
pub mod schema;
pub mod seed;
pub mod token;

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Finds `name` on `PATH`, falling back to the sbin directories that are not
/// on a non-root user's `PATH` (dnsmasq lives in /usr/sbin).
///
/// Panics when the tool is missing: tests against real servers must fail
/// loudly rather than silently skip, or CI would go green without coverage.
pub fn require_tool(name: &str) -> PathBuf {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path_var).collect();
    for extra in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        dirs.push(PathBuf::from(extra));
    }
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: run scripts/test.sh \
                 (it installs every server and tool the tests need)"
            )
        })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How many output lines a [`ManagedChild`] keeps for post-mortem output.
const LOG_LINES: usize = 200;

/// A child process whose stdout and stderr are drained continuously.
///
/// Draining matters: a server that logs every request would block once the
/// pipe buffer (64 KiB) fills, which would look like a hang in the code under
/// test. The last [`LOG_LINES`] lines are kept so a failing test can print
/// what the server saw. Drop kills and reaps the child.
pub struct ManagedChild {
    name: String,
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
    lines: Receiver<String>,
}

impl fmt::Debug for ManagedChild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedChild")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl ManagedChild {
    /// Spawns `cmd` with piped output; `name` labels panics and logs.
    pub fn spawn(name: &str, mut cmd: Command) -> ManagedChild {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_LINES)));
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            drain(out, Arc::clone(&log), tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            drain(err, Arc::clone(&log), tx);
        }
        ManagedChild {
            name: name.to_owned(),
            child,
            log,
            lines: rx,
        }
    }

    /// Waits until `pick` returns `Some` for an output line, and returns it.
    ///
    /// Panics with the collected log if the deadline passes or the child
    /// exits first, so a broken server config shows its own error message.
    pub fn wait_for_line<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return found;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{} did not become ready within {timeout:?}; log:\n{}",
                        self.name,
                        self.log()
                    );
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // Both pipes closed: the process is gone (or closing).
                    let status = self.child.wait().ok();
                    panic!(
                        "{} exited during startup ({status:?}); log:\n{}",
                        self.name,
                        self.log()
                    );
                }
            }
        }
    }

    /// The exit status if the child has already exited.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines the child printed (stdout and stderr interleaved).
    pub fn log(&self) -> String {
        let log = self
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut text = String::new();
        for line in log.iter() {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Process id, e.g. to tell apart two instances in a failure message.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ManagedChild {
    fn drop(&mut self) {
        // Ignore errors: the child may already have exited on its own.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn drain(pipe: impl Read + Send + 'static, log: Arc<Mutex<VecDeque<String>>>, tx: Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(pipe).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            {
                let mut log = log
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if log.len() == LOG_LINES {
                    log.pop_front();
                }
                log.push_back(line.clone());
            }
            // Nobody listens once startup is over; that is fine, keep draining.
            let _ = tx.send(line);
        }
    });
}
