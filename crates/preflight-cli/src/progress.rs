//! The progress bar of `preflight check`: drawn on stderr only for a person at a terminal, and
//! only once a run has lasted long enough to be worth one; never in CI logs or quiet mode.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use preflight::checker::Progress;

/// A run shorter than this draws nothing.
const SHOW_AFTER: Duration = Duration::from_millis(750);

/// Whether a bar may be drawn at all: stderr is a terminal, not a CI job, not `TERM=dumb`, and
/// no log beyond warnings was asked for (`-q`, `-v`, `RUST_LOG`): log lines would tear the bar.
pub(crate) fn wanted(quiet: bool, verbose: u8) -> bool {
    !quiet
        && verbose == 0
        && std::env::var_os("RUST_LOG").is_none()
        && std::io::stderr().is_terminal()
        && std::env::var_os("CI").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// A bar that appears after [`SHOW_AFTER`], counting images done and those that failed.
pub(crate) struct Bar {
    shown: Option<ProgressBar>,
    reveal: Option<tokio::task::JoinHandle<()>>,
    failed: usize,
}

impl Bar {
    pub(crate) fn new(enabled: bool) -> Bar {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} {pos}/{len} images [{bar:30}] {elapsed} {msg}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        // Shown by a timer, so a run waiting on one slow registry shows it is alive too.
        let reveal = bar.clone().map(|bar| {
            tokio::spawn(async move {
                tokio::time::sleep(SHOW_AFTER).await;
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(120));
            })
        });
        Bar {
            shown: bar,
            reveal,
            failed: 0,
        }
    }

    pub(crate) fn update(&mut self, p: Progress<'_>) {
        let Some(bar) = &self.shown else { return };
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        if !p.image.pullable {
            self.failed += 1;
            bar.set_message(format!("{} not pullable", self.failed));
        }
    }

    /// Clears the bar before the report is written.
    pub(crate) fn finish(self) {
        if let Some(reveal) = self.reveal {
            reveal.abort();
        }
        if let Some(bar) = self.shown {
            bar.finish_and_clear();
        }
    }
}
