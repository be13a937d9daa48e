//! A credential helper's process: finding its executable, reading both pipes at once with a
//! cap, waiting with a deadline, and killing it with its children. Apart from the runner because
//! this is about processes, not credentials: nothing here reads what a helper says.

use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The most a helper may write to stdout or stderr that is kept; the rest is read and dropped,
/// so that a chatty helper neither blocks on a full pipe nor fills memory. A credential is a few
/// kilobytes at most (cloud identity tokens included).
const HELPER_OUTPUT_CAP: usize = 64 * 1024;

/// The names under which a helper's executable may exist: on Windows with `.exe` first, as Go's
/// `exec.LookPath` (hence Docker) finds it; elsewhere the name itself.
pub(crate) fn executable_names(name: &str) -> impl Iterator<Item = String> + use<> {
    let names = if cfg!(windows) {
        vec![format!("{name}.exe"), name.to_owned()]
    } else {
        vec![name.to_owned()]
    };
    names.into_iter()
}

/// Whether `path` is a file that may be executed.
pub(crate) fn is_executable(path: &Path) -> bool {
    let Ok(metadata) = fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        metadata.is_file()
    }
}

/// Kills a helper and reaps it, so that no zombie is left behind.
pub(crate) fn stop(child: &mut Child) {
    // The whole group: a helper script's own children (a `sleep`, a keychain client) would
    // otherwise outlive it. `kill(1)` does it without unsafe code; if it is missing, the helper
    // itself is still killed below.
    #[cfg(unix)]
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    // Both fail only when the helper has already exited and been reaped: nothing left to do.
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits for the helper to exit, until `deadline`; `Ok(None)` when it is still running then.
pub(crate) fn wait_until(child: &mut Child, deadline: Instant) -> io::Result<Option<ExitStatus>> {
    // Short pauses first, since most helpers answer in milliseconds; longer ones later, so that a
    // slow helper does not cost a busy loop.
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Output read from one of a helper's pipes.
pub(crate) struct Captured {
    /// The first [`HELPER_OUTPUT_CAP`] bytes.
    pub(crate) bytes: Vec<u8>,
    /// Whether there was more.
    pub(crate) truncated: bool,
}

/// A pipe being read to its end on a thread of its own.
pub(crate) struct PipeReader(mpsc::Receiver<Captured>);

impl PipeReader {
    /// The output, once the pipe has closed; `None` when it is still open at `deadline`. The
    /// thread is then left to finish by itself when the pipe closes: it owns nothing but it.
    pub(crate) fn collect(self, deadline: Instant) -> Option<Captured> {
        self.0
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .ok()
    }
}

/// Reads `pipe` to its end on a new thread, keeping the first [`HELPER_OUTPUT_CAP`] bytes. Read
/// on threads, both pipes are drained at once: a helper filling one while we wait on the other
/// cannot block.
pub(crate) fn read_capped(pipe: impl Read + Send + 'static) -> io::Result<PipeReader> {
    let (sender, receiver) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name("credential-helper-output".into())
        .spawn(move || {
            let mut pipe = pipe;
            let mut captured = Captured {
                bytes: Vec::new(),
                truncated: false,
            };
            let mut buffer = [0_u8; 8192];
            loop {
                match pipe.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(n) => {
                        let room = HELPER_OUTPUT_CAP - captured.bytes.len();
                        captured.truncated |= n > room;
                        captured.bytes.extend_from_slice(&buffer[..n.min(room)]);
                    }
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    // Whatever was read is all there will be.
                    Err(_) => break,
                }
            }
            // The receiver is gone when the run gave up waiting; the output is not wanted then.
            let _ = sender.send(captured);
        })?;
    Ok(PipeReader(receiver))
}
