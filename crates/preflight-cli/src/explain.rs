//! `preflight explain`: flags to the library's explain configuration, and its rendering.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use preflight::explain::{ExplainOptions, Explanation, Stream, Verdict};
use preflight::manifests::{self, ManifestError};

use crate::{NetArgs, RunError, UsageError, build_checker_with, finish, render};

/// `-o` of `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExplainOutput {
    Human,
    Json,
    Junit,
}

fn parse_output(s: &str) -> Result<ExplainOutput, String> {
    match s.to_ascii_lowercase().as_str() {
        "human" => Ok(ExplainOutput::Human),
        "json" => Ok(ExplainOutput::Json),
        "junit" => Ok(ExplainOutput::Junit),
        "gitlab" | "sarif" => Err(format!(
            "-o {s} points at lines of a repository's files, which kubectl's output is not; use human, json or junit here"
        )),
        _ => Err(format!("{s:?} is not a format: use human, json or junit")),
    }
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// What kubectl prints: `kubectl get pods,events -o json` (JSON or YAML, a List or single
    /// objects), with Secrets, ServiceAccounts, Nodes and workloads in the same stream if
    /// wanted; a file, a directory (walked for .yaml/.yml/.json), or - for stdin (repeatable).
    #[arg(short = 'f', long = "file", value_name = "PATH", required = true)]
    files: Vec<PathBuf>,

    /// A file of pull Secrets and ServiceAccounts (e.g. `kubectl get secret NAME -o yaml`),
    /// used like those in the stream (repeatable).
    #[arg(long = "pull-secrets", value_name = "PATH")]
    pull_secrets: Vec<PathBuf>,

    /// Do not check the images again: classify the runtime's messages only (every verdict
    /// `unchecked`).
    #[arg(long)]
    offline: bool,

    /// Report format: human, json, or junit (a testcase per failing container, failed unless
    /// now-pullable). GitLab code quality and SARIF point at lines of a repository's files,
    /// which kubectl's output is not: they are refused.
    #[arg(short, long, value_name = "FORMAT", default_value = "human", value_parser = parse_output)]
    output: ExplainOutput,

    /// The nodes' container runtime for the live check (containerd, cri-o, docker) [default:
    /// each pod's Node's containerRuntimeVersion when Nodes are in the input, else containerd 2].
    #[arg(long, value_name = "RUNTIME")]
    runtime: Option<String>,

    /// The runtime's version line (containerd 1.6, 1.7, 2, or a full version), with --runtime.
    #[arg(long = "runtime-version", value_name = "VERSION", requires = "runtime")]
    runtime_version: Option<String>,

    /// The nodes' containerd registry host directory (certs.d), as for `check`.
    #[arg(long = "hosts-dir", value_name = "DIR")]
    hosts_dir: Option<PathBuf>,

    /// The nodes' CRI-O registries.conf, as for `check`.
    #[arg(long = "registries-conf", value_name = "FILE")]
    registries_conf: Option<PathBuf>,

    #[command(flatten)]
    providers: crate::inputs::ProviderArgs,

    #[command(flatten)]
    net: NetArgs,
}

/// Reads every input into one stream.
fn read(args: &ExplainArgs) -> Result<Stream, RunError> {
    let mut stream = Stream::default();
    let mut stdin_used = false;
    for path in &args.files {
        if path.as_os_str() == "-" {
            if stdin_used {
                return Err(UsageError("-f - can be given only once".into()).into());
            }
            stdin_used = true;
            let text = crate::inputs::read_stdin()?;
            // A file that cannot be read is an error (exit 2); the others are still explained.
            if let Err(e) = stream.read("<stdin>", &text) {
                stream.errors.push(e.to_string());
            }
            continue;
        }
        for file in manifests::discover(path)? {
            let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
                path: file.clone(),
                source,
            })?;
            if let Err(e) = stream.read(&file.display().to_string(), &text) {
                stream.errors.push(e.to_string());
            }
        }
    }
    for path in &args.pull_secrets {
        for file in manifests::discover(path)? {
            let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
                path: file.clone(),
                source,
            })?;
            let e = manifests::extract(&file.display().to_string(), &text)?;
            stream.extraction.secrets.extend(e.secrets);
            stream
                .extraction
                .service_accounts
                .extend(e.service_accounts);
        }
    }
    Ok(stream)
}

pub(crate) async fn run(args: ExplainArgs, style: render::Style) -> Result<ExitCode, RunError> {
    let forced = match &args.runtime {
        Some(r) => Some(preflight::Runtime::parse(
            r,
            args.runtime_version.as_deref(),
        )?),
        None => None,
    };
    // Checked with --offline too: a bad config is bad input either way.
    let providers = crate::inputs::credential_providers(&args.providers, false)?;
    let stream = read(&args)?;
    let explanation = if args.offline {
        preflight::explain::explain_offline(&stream)
    } else {
        let mut options = ExplainOptions::default();
        options.runtime = forced;
        options.plan.credential_providers = providers;
        let checker_for = |runtime: preflight::Runtime| {
            build_checker_with(&args.net, |mut b| {
                b = b.runtime(runtime);
                if let Some(dir) = &args.hosts_dir {
                    b = b.hosts_dir(dir);
                }
                if let Some(conf) = &args.registries_conf {
                    b = b.registries_conf(conf);
                }
                b
            })
            .map(|(checker, _)| checker)
        };
        preflight::explain::explain(&stream, &options, &checker_for).await?
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.output {
        ExplainOutput::Human => human(&mut out, &explanation, style, !stream.errors.is_empty()),
        ExplainOutput::Json => render::json(&mut out, &explanation),
        ExplainOutput::Junit => junit(&mut out, &explanation),
    };
    finish(written.and_then(|()| out.flush()))?;
    drop(out);
    let mut err = std::io::stderr().lock();
    for w in &explanation.warnings {
        let _ = writeln!(err, "warning: {w}");
    }
    if !stream.errors.is_empty() {
        for e in &stream.errors {
            let _ = writeln!(err, "error: {e}");
        }
        return Ok(ExitCode::from(2));
    }
    Ok(if explanation.needs_attention() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// At most this many characters of the runtime's message in human output (JSON has it whole).
const SHORT: usize = 240;

fn shorten(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(SHORT) {
        Some((at, _)) => format!("{}…", &one_line[..at]),
        None => one_line,
    }
}

/// One block per owner (a bare Pod is its own), each with its containers.
fn human(
    out: &mut impl Write,
    e: &Explanation,
    style: render::Style,
    input_errors: bool,
) -> std::io::Result<()> {
    let mut owners: Vec<&str> = Vec::new();
    for c in &e.containers {
        let owner = c.owner.as_deref().unwrap_or(&c.object);
        if !owners.contains(&owner) {
            owners.push(owner);
        }
    }
    for owner in owners {
        writeln!(out, "{owner}")?;
        for c in e
            .containers
            .iter()
            .filter(|c| c.owner.as_deref().unwrap_or(&c.object) == owner)
        {
            writeln!(
                out,
                "  {} container {} ({}) {}",
                c.object, c.container, c.container_type, c.image
            )?;
            let message = c
                .runtime_message
                .as_deref()
                .or(c.message.as_deref())
                .map_or_else(
                    || {
                        "(no message: the status says only Back-off and no event says more)"
                            .to_owned()
                    },
                    shorten,
                );
            writeln!(out, "    {}: {message}", c.reason)?;
            writeln!(out, "    cause:   {}", c.cause)?;
            let verdict = match c.verdict {
                Verdict::StillFailing => {
                    let live = c.check.as_ref().and_then(|r| r.diagnosis.as_ref()).map_or(
                        String::new(),
                        |d| {
                            let same = match c.same_cause {
                                Some(true) => ", the same cause",
                                Some(false) => ", another cause than the message's",
                                None => "",
                            };
                            format!(" ({}: {}{same})", d.code, d.message)
                        },
                    );
                    format!("still-failing{live}")
                }
                v => v.as_str().to_owned(),
            };
            let painted = match c.verdict {
                Verdict::NowPullable => style_paint(style, "32", &verdict),
                Verdict::Unchecked => verdict,
                _ => style_paint(style, "31", &verdict),
            };
            writeln!(out, "    verdict: {painted}")?;
            writeln!(out, "    hint:    {}", c.hint)?;
        }
        writeln!(out)?;
    }
    let s = &e.summary;
    if s.containers == 0 && input_errors {
        writeln!(
            out,
            "no failing container in what could be read (input errors on stderr)"
        )
    } else if s.containers == 0 {
        writeln!(out, "no container is failing to pull its image")
    } else {
        writeln!(
            out,
            "{} failing container(s): {} still-failing, {} now-pullable, {} node-only, {} unchecked; {} unclassified",
            s.containers, s.still_failing, s.now_pullable, s.node_only, s.unchecked, s.unclassified
        )
    }
}

fn style_paint(style: render::Style, code: &str, text: &str) -> String {
    if style.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// JUnit XML: a suite per owner, a testcase per failing container, a failure unless its verdict
/// is `now-pullable` with a known cause (what exit 0 means).
fn junit(out: &mut impl Write, e: &Explanation) -> std::io::Result<()> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut report = quick_junit::Report::new("preflight explain");
    let mut suites: Vec<(String, TestSuite)> = Vec::new();
    for c in &e.containers {
        let owner = c.owner.clone().unwrap_or_else(|| c.object.clone());
        let fine = c.verdict == Verdict::NowPullable && c.cause != preflight::explain::UNCLASSIFIED;
        let status = if fine {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_type(c.cause.as_str())
                .set_message(format!("{} ({})", c.cause, c.verdict.as_str()))
                .set_description(format!(
                    "{}\nhint: {}",
                    c.runtime_message
                        .as_deref()
                        .or(c.message.as_deref())
                        .unwrap_or(""),
                    c.hint
                ));
            s
        };
        let mut case = TestCase::new(
            format!("{} container {} {}", c.object, c.container, c.image),
            status,
        );
        case.set_classname(owner.clone());
        if let Some((_, suite)) = suites.iter_mut().find(|(o, _)| *o == owner) {
            suite.add_test_case(case);
        } else {
            let mut suite = TestSuite::new(owner.clone());
            suite.add_test_case(case);
            suites.push((owner, suite));
        }
    }
    for (_, suite) in suites {
        report.add_test_suite(suite);
    }
    report.serialize(&mut *out).map_err(std::io::Error::other)?;
    writeln!(out)
}
