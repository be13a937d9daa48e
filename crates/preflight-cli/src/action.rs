//! `preflight action`, the GitHub Action's entry point (`action.yml`). The action runs the
//! project's image, which has no shell: the runner's inputs (`INPUT_MANIFESTS`, `INPUT_IMAGES`,
//! `INPUT_ARGS`) are turned into `preflight check` arguments here, and the results go where a
//! step's results go — annotations on stdout (`-o github`), the JSON report in the workspace,
//! `pullable` and `report` in `$GITHUB_OUTPUT`, the Markdown summary appended to
//! `$GITHUB_STEP_SUMMARY`.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::UsageError;
use crate::ci_reports::{self, ProjectRoot};

/// The JSON report's name, in the workspace, which later steps see as their working directory.
pub(crate) const REPORT_FILE: &str = "preflight-report.json";

/// What the runner gives the step.
#[derive(Debug)]
pub(crate) struct Step {
    manifests: String,
    images: String,
    args: String,
    workspace: PathBuf,
    output: Option<PathBuf>,
    summary: Option<PathBuf>,
}

impl Step {
    pub(crate) fn from_env() -> Step {
        let text = |name: &str| {
            std::env::var_os(name)
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        let path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Step {
            manifests: text("INPUT_MANIFESTS"),
            images: text("INPUT_IMAGES"),
            args: text("INPUT_ARGS"),
            workspace: path("GITHUB_WORKSPACE")
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_default(),
            output: path("GITHUB_OUTPUT"),
            summary: path("GITHUB_STEP_SUMMARY"),
        }
    }

    /// `preflight check -o github IMAGE... -f MANIFEST... ARGS... --report json=WORKSPACE/…`:
    /// images and manifests are separated by white space (a YAML block of one per line reads
    /// well), `args` is split like a shell's words, with '…' and "…" quoting.
    pub(crate) fn check_argv(&self) -> Result<Vec<OsString>, UsageError> {
        let mut argv: Vec<OsString> = ["preflight", "check", "-o", "github"]
            .into_iter()
            .map(OsString::from)
            .collect();
        argv.extend(self.images.split_whitespace().map(OsString::from));
        for m in self.manifests.split_whitespace() {
            argv.push("-f".into());
            argv.push(m.into());
        }
        argv.extend(split_words(&self.args)?.into_iter().map(OsString::from));
        let mut report = OsString::from("json=");
        report.push(self.workspace.join(REPORT_FILE));
        argv.push("--report".into());
        argv.push(report);
        Ok(argv)
    }

    /// The step's outputs (`pullable`, and `report`, relative to the workspace as later steps
    /// read it) and its summary; each only when the runner named its file.
    pub(crate) fn finish(&self, report: &preflight::Report, strict: bool) -> io::Result<()> {
        let append = |path: &PathBuf| {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot write to {}: {e}", path.display()))
                })
        };
        if let Some(path) = &self.output {
            let mut file = append(path)?;
            writeln!(file, "pullable={}", report.pullable)?;
            writeln!(file, "report={REPORT_FILE}")?;
        }
        if let Some(path) = &self.summary {
            let mut file = io::BufWriter::new(append(path)?);
            ci_reports::markdown(&mut file, report, &ProjectRoot::for_github(), strict)?;
            file.flush()?;
        }
        Ok(())
    }
}

/// Splits `text` into words at white space; '…' keeps everything literally, "…" too but for
/// `\"` and `\\`, a backslash outside quotes keeps the next character. No variables, no globs:
/// nothing runs a shell.
fn split_words(text: &str) -> Result<Vec<String>, UsageError> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(unclosed('\'', text)),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(unclosed('"', text)),
                        },
                        Some(c) => w.push(c),
                        None => return Err(unclosed('"', text)),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(c) = chars.next() {
                    w.push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

fn unclosed(quote: char, text: &str) -> UsageError {
    UsageError(format!(
        "the action's args input has an unclosed {quote}: {text}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_shell_words() {
        for (text, words) in [
            ("", vec![]),
            (
                "  --strict\n --platform linux/arm64 ",
                vec!["--strict", "--platform", "linux/arm64"],
            ),
            (
                "--ca-file 'my certs/ca.pem'",
                vec!["--ca-file", "my certs/ca.pem"],
            ),
            (
                r#"--ca-file "a \"b\" \\c""#,
                vec!["--ca-file", r#"a "b" \c"#],
            ),
            (r"a\ b c''d", vec!["a b", "cd"]),
            ("''", vec![""]),
        ] {
            assert_eq!(split_words(text).unwrap(), words, "{text:?}");
        }
        for bad in ["'a", "\"a", "\"a\\"] {
            assert!(split_words(bad).is_err(), "{bad:?}");
        }
    }
}
