//! `preflight`: the command-line gate. Parses flags, turns them into the library's validated
//! configuration, runs the check and renders the report. Nothing else lives here.

// clap turns the doc comments below into --help text, where Markdown backticks would show.
#![allow(clippy::doc_markdown)]

mod action;
mod ci_reports;
mod explain;
mod inputs;
mod progress;
mod render;
mod values;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use preflight::digests::ExpectedDigests;
use preflight::{Checker, CiCredentials, DnsConfig, HelperRunner, ImageRequest, Platform};

/// Catch ImagePullBackOff before it happens: check that every image can really be pulled.
#[derive(Debug, Parser)]
#[command(name = "preflight", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// More detail in the log on stderr: -v info, -vv debug, -vvv trace (RUST_LOG, when set,
    /// decides instead). Secrets are never logged at any level.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// Only what failed or warns, and the summary line; no progress bar, only errors logged.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Colour in human output: auto (when stdout is a terminal), always, never. NO_COLOR, when
    /// set, always means never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorWhen::Auto, global = true)]
    color: ColorWhen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// How the run talks to the person: colour, quietness, progress.
#[derive(Debug, Clone, Copy)]
struct Ui {
    style: render::Style,
    progress: bool,
}

impl Ui {
    fn new(cli: &Cli) -> Ui {
        use std::io::IsTerminal;
        let color = !no_color()
            && match cli.color {
                ColorWhen::Always => true,
                ColorWhen::Never => false,
                ColorWhen::Auto => std::io::stdout().is_terminal(),
            };
        Ui {
            style: render::Style {
                color,
                quiet: cli.quiet,
            },
            progress: progress::wanted(cli.quiet, cli.verbose),
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that images can be pulled; exit 0 when all can, 1 when one cannot, 2 on bad input.
    Check(Box<CheckArgs>),
    /// List the images the inputs reference, normalized, with where and what credentials; no
    /// network. Exit 1 when a reference is invalid, 2 on bad input.
    Images(Box<ImagesArgs>),
    /// Walk one registry by hand: DNS, TCP to every address, TLS and its certificate, /v2/, the
    /// challenge, the token service, and whether the credentials are accepted. Exit 1 when
    /// something fails.
    Registry(Box<RegistryArgs>),
    /// Docker Hub's pull budget for the identity a check would use, read with a HEAD that costs
    /// no pull.
    Ratelimit(Box<RatelimitArgs>),
    /// Why are these pods in ImagePullBackOff, and is it fixed yet? Reads `kubectl get
    /// pods,events -o json`, classifies each failing container's runtime message and checks the
    /// image again live. Exit 0 when nothing fails or all is now pullable, 1 otherwise, 2 on bad
    /// input.
    Explain(Box<explain::ExplainArgs>),
    /// The GitHub Action's entry point (action.yml): `check` with the step's INPUT_MANIFESTS,
    /// INPUT_IMAGES and INPUT_ARGS, annotations on stdout, the JSON report in the workspace,
    /// `pullable` and `report` in $GITHUB_OUTPUT, the summary in $GITHUB_STEP_SUMMARY.
    #[command(hide = true)]
    Action,
}

#[derive(Debug, Args)]
struct RatelimitArgs {
    /// Report format: human or json.
    #[arg(short, long, value_name = "FORMAT", default_value = "human", value_parser = parse_plain_output)]
    output: PlainOutput,

    #[command(flatten)]
    net: NetArgs,
}

#[derive(Debug, Args)]
struct RegistryArgs {
    /// The registry, as image references name it: HOST[:PORT] (`docker.io` for Docker Hub), or
    /// its URL: http://HOST[:PORT] speaks plain HTTP (no --plain-http needed), https://HOST[:PORT]
    /// TLS.
    #[arg(value_name = "HOST[:PORT]", value_parser = values::registry_arg)]
    registry: values::RegistryArg,

    /// Report format: human or json.
    #[arg(short, long, value_name = "FORMAT", default_value = "human", value_parser = parse_plain_output)]
    output: PlainOutput,

    #[command(flatten)]
    net: NetArgs,
}

#[derive(Debug, Args)]
struct ImagesArgs {
    /// Image references given directly, listed with the rest.
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,

    #[command(flatten)]
    input: inputs::InputArgs,

    /// Report format: human or json.
    #[arg(short, long, value_name = "FORMAT", default_value = "human", value_parser = parse_plain_output)]
    output: PlainOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    /// Text for people.
    Human,
    /// The JSON report (one object on stdout).
    Json,
    /// JUnit XML: a testcase per image, a suite per registry (check only).
    Junit,
    /// GitLab Code Quality JSON: an issue per failure or warning at its manifest line (check only).
    Gitlab,
    /// SARIF 2.1.0 for code scanning: a result per failure or warning at its manifest line
    /// (check only).
    Sarif,
    /// GitHub Actions workflow commands: an ::error or ::warning annotation per failure or
    /// warning at its manifest line (check only).
    Github,
    /// A Markdown summary: a table of the images, verdicts, codes and hints, for
    /// $GITHUB_STEP_SUMMARY or a merge-request note (check only).
    Markdown,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// Image references, e.g. `nginx:1.27` or `registry.example.com:5000/team/app:v2.1.3`.
    #[arg(value_name = "IMAGE")]
    images: Vec<String>,

    #[command(flatten)]
    input: inputs::InputArgs,

    /// Report format.
    #[arg(short, long, value_enum, default_value_t = Output::Human)]
    output: Output,

    /// Platforms the images must provide (OS/ARCH[/VARIANT]; repeatable): every image index
    /// must hold a manifest for each.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = parse_platform)]
    platform: Vec<Platform>,

    /// Let platform checks read indexes on Docker Hub: each read is a GET, which Hub counts as a
    /// pull (reported as hub_pulls_spent). Without it, Hub images' platforms are not checked.
    #[arg(long = "allow-hub-pulls")]
    allow_hub_pulls: bool,

    /// With --platform, check single-platform manifests too, from their config blob (two
    /// GETs; on Docker Hub the manifest GET is a pull and needs --allow-hub-pulls).
    #[arg(long = "verify-config-platform")]
    verify_config_platform: bool,

    /// How much of the pull path to check: `blobs` (default), what a node's pull reads — the
    /// platform's manifest (linux/amd64 unless --platform or a node selector says), the config
    /// blob verified, every layer, and the storage host blobs are redirected to (on Docker Hub
    /// only with --allow-hub-pulls) — or `manifest`, only that the tag exists (a HEAD) and the
    /// required platforms.
    #[arg(long, value_name = "DEPTH", default_value = "blobs", value_parser = parse_depth)]
    depth: preflight::Depth,

    /// The container runtime on the nodes, whose rules the check follows: containerd (what
    /// Kubernetes nodes run), cri-o or docker. They differ in how they reach loopback and
    /// insecure registries, ask token services, and read their registry configuration.
    #[arg(long, value_name = "RUNTIME", default_value = "containerd")]
    runtime: String,

    /// The runtime's version line, where its rules differ: for containerd 1.6, 1.7 or 2 (the
    /// default), or a full version as `kubectl get nodes -o wide` shows it (1.7.27).
    #[arg(long = "runtime-version", value_name = "VERSION")]
    runtime_version: Option<String>,

    /// The nodes' CRI-O registries.conf (with --runtime cri-o; its FILE.d/*.conf drop-ins are
    /// read too): mirrors, location rewrites, insecure and blocked registries, short names.
    /// Never read from this machine's /etc: pass the nodes' file.
    #[arg(long = "registries-conf", value_name = "FILE")]
    registries_conf: Option<PathBuf>,

    /// The nodes' containerd registry host directory (containerd's config_path, e.g.
    /// /etc/containerd/certs.d): HOST[:PORT]/hosts.toml and _default/hosts.toml, with their
    /// mirrors, schemes, skip_verify and CA files. Never read from this machine: pass the nodes'.
    #[arg(long = "hosts-dir", value_name = "DIR")]
    hosts_dir: Option<PathBuf>,

    /// How many images are checked at once, over all registries. Each registry also has its own
    /// limit (--registry-concurrency): raise both to go faster against one registry.
    #[arg(long, value_name = "N", default_value_t = preflight::checker::DEFAULT_CONCURRENCY,
          value_parser = parse_concurrency)]
    concurrency: usize,

    /// How many images of one registry are checked at once, at most, so one deploy does not flood
    /// a registry.
    #[arg(long = "registry-concurrency", value_name = "N",
          default_value_t = preflight::checker::DEFAULT_REGISTRY_CONCURRENCY,
          value_parser = parse_concurrency)]
    registry_concurrency: usize,

    /// The digest an image's tag must point at, e.g. what `docker push` just produced
    /// (IMAGE=sha256:…; repeatable).
    #[arg(long = "expect-digest", value_name = "IMAGE=DIGEST")]
    expect_digest: Vec<String>,

    /// Expected digests from a file: docker buildx `--metadata-file` JSON, or lines of
    /// IMAGE@sha256:… as `crane push` prints them (repeatable).
    #[arg(long = "digests-file", value_name = "PATH")]
    digests_file: Vec<PathBuf>,

    /// Fail the Docker Hub images when Hub's remaining pulls are below N (by default a budget
    /// below what the deploy needs is a `rate-limit-low` warning).
    #[arg(long = "min-hub-remaining", value_name = "N")]
    min_hub_remaining: Option<u64>,

    /// Also write the report in FORMAT (human, json, junit, gitlab, sarif, github, markdown) to PATH, beside the
    /// main output (repeatable), e.g. --report junit=preflight.xml --report gitlab=cq.json.
    #[arg(long = "report", value_name = "FORMAT=PATH", value_parser = parse_report)]
    reports: Vec<(Output, PathBuf)>,

    /// Treat warnings (such as `latest-tag`) as failures.
    #[arg(long)]
    strict: bool,

    // Last: its help heading applies to what follows it.
    #[command(flatten)]
    net: NetArgs,
}

/// The options every network command takes (their names are part of the contract): how
/// registries are reached and trusted, whose credentials, how long to wait.
#[derive(Debug, Args)]
#[command(next_help_heading = "Network options")]
struct NetArgs {
    /// This registry speaks plain HTTP (HOST[:PORT]; repeatable).
    #[arg(long = "plain-http", value_name = "HOST[:PORT]",
          value_parser = |v: &str| values::host_flag(v, "--plain-http"))]
    plain_http: Vec<String>,

    /// Use HTTPS without certificate checks for this registry (HOST[:PORT]; repeatable).
    #[arg(long = "insecure-skip-tls-verify", value_name = "HOST[:PORT]",
          value_parser = |v: &str| values::host_flag(v, "--insecure-skip-tls-verify"))]
    insecure_skip_tls_verify: Vec<String>,

    /// Extra trusted CA certificates (PEM), added to the system roots (repeatable).
    #[arg(long = "ca-file", value_name = "PATH")]
    ca_file: Vec<PathBuf>,

    /// A Docker config.json to take the CI job's credentials from, helpers included [default:
    /// $DOCKER_AUTH_CONFIG, $DOCKER_CONFIG/config.json or ~/.docker/config.json, podman's
    /// auth.json, GitLab's CI_REGISTRY_USER/CI_REGISTRY_PASSWORD or CI_JOB_TOKEN].
    #[arg(long = "docker-config", value_name = "PATH")]
    docker_config: Option<PathBuf>,

    /// Resolve names through this DNS server instead of the system's configuration.
    #[arg(long = "dns-server", value_name = "IP[:PORT]", value_parser = parse_dns_server)]
    dns_server: Option<SocketAddr>,

    /// Resolve names with this resolv.conf (for example a copy of a node's) instead of
    /// /etc/resolv.conf. Read on the first name to resolve; if missing or unusable, each image
    /// that needs a name fails with dns-config.
    #[arg(
        long = "resolv-conf",
        value_name = "PATH",
        conflicts_with = "dns_server"
    )]
    resolv_conf: Option<PathBuf>,

    /// The deadline for one image, all stages together: seconds, or a duration such as 30s, 2m,
    /// 1m30s, 500ms (at most 1h).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = values::timeout)]
    timeout: Duration,

    /// The nodes' HTTP proxy (their runtime's HTTPS_PROXY/HTTP_PROXY): http://[USER:PASSWORD@]HOST[:PORT].
    /// Registries are reached through it as the runtime reaches them; this job's own proxy
    /// variables are never used.
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,

    /// The nodes' NO_PROXY: hosts reached directly, comma-separated (Go's rules: *, CIDR, IP,
    /// example.com with its sub-domains, .example.com only them, HOST:PORT).
    #[arg(long = "no-proxy", value_name = "LIST", requires = "proxy")]
    no_proxy: Option<String>,

    /// Send docker.io references to this HOST:PORT instead of registry-1.docker.io (tests).
    #[arg(long = "docker-hub-registry", hide = true, value_name = "HOST:PORT")]
    docker_hub_registry: Option<String>,
}

fn parse_dns_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{s:?} is not IP[:PORT] (e.g. 10.0.0.2, 10.0.0.2:5353, [::1]:53)"))
}

fn parse_platform(s: &str) -> Result<Platform, String> {
    Platform::parse(s).map_err(|e| e.to_string())
}

fn parse_report(s: &str) -> Result<(Output, PathBuf), String> {
    let (format, path) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not FORMAT=PATH (e.g. junit=preflight.xml)"))?;
    let format = Output::from_str(format, true).map_err(|_| {
        format!(
            "{format:?} is not a report format (human, json, junit, gitlab, sarif, github, markdown)"
        )
    })?;
    if path.is_empty() {
        return Err(format!("{s:?} names no file"));
    }
    Ok((format, PathBuf::from(path)))
}

fn parse_concurrency(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a whole number from 1 to 4096")),
    }
}

/// A failure of the run itself (exit code 2), with its causes.
struct RunError(Box<dyn std::error::Error + Send + Sync>);

impl<E: std::error::Error + Send + Sync + 'static> From<E> for RunError {
    fn from(e: E) -> Self {
        RunError(Box::new(e))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.quiet);
    let ui = Ui::new(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&RunError::from(e)),
    };
    let result = match cli.command {
        Command::Check(args) => runtime.block_on(check(*args, ui)),
        Command::Images(args) => images(&args, ui),
        Command::Registry(args) => runtime.block_on(registry(*args, ui)),
        Command::Ratelimit(args) => runtime.block_on(ratelimit(*args, ui)),
        Command::Explain(args) => runtime.block_on(explain::run(*args, ui.style)),
        Command::Action => runtime.block_on(github_action(ui)),
    };
    match result {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// `NO_COLOR` set to anything but the empty string turns colour off (no-color.org).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

fn init_tracing(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()) && !no_color())
        .try_init();
}

fn fail(e: &RunError) -> ExitCode {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {}", e.0);
    let mut cause = e.0.source();
    if cause.is_some() {
        let _ = writeln!(err, "\nCaused by:");
    }
    while let Some(c) = cause {
        let _ = writeln!(err, "    {c}");
        cause = c.source();
    }
    ExitCode::from(2)
}

/// The requests from the command line and the inputs, and the input problems (`--keep-going`).
fn requests(
    images: &[String],
    input: &inputs::InputArgs,
) -> Result<(Vec<ImageRequest>, Vec<String>), RunError> {
    if images.is_empty() && input.files.is_empty() {
        return Err(UsageError(
            "no images given: preflight check IMAGE... or -f PATH (see --help)".into(),
        )
        .into());
    }
    let loaded = inputs::load(input)?;
    let mut requests: Vec<ImageRequest> = images
        .iter()
        .map(|i| ImageRequest::new(i.as_str()))
        .collect();
    requests.extend(loaded.plan.requests);
    if let Some(shard) = inputs::shard(input)? {
        requests.retain(|r| shard.contains(&r.reference));
    }
    Ok((requests, loaded.problems))
}

/// Exit 2 after the report when some input could not be read (`--keep-going`).
fn report_problems(problems: &[String]) -> Option<ExitCode> {
    if problems.is_empty() {
        return None;
    }
    let mut err = std::io::stderr().lock();
    for p in problems {
        let _ = writeln!(err, "error: {p}");
    }
    Some(ExitCode::from(2))
}

fn images(args: &ImagesArgs, ui: Ui) -> Result<ExitCode, RunError> {
    let format = args.output;
    let (requests, problems) = requests(&args.images, &args.input)?;
    let inventory = preflight::plan::inventory(requests);
    // Buffered: a large inventory is hundreds of thousands of lines.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match format {
        PlainOutput::Human => render::inventory_human(&mut out, &inventory, ui.style),
        PlainOutput::Json => render::json(&mut out, &inventory),
    };
    finish(written.and_then(|()| out.flush()))?;
    if let Some(code) = report_problems(&problems) {
        return Ok(code);
    }
    Ok(if inventory.summary.invalid > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn registry(args: RegistryArgs, ui: Ui) -> Result<ExitCode, RunError> {
    let format = args.output;
    let values::RegistryArg { host, scheme } = &args.registry;
    let same = |h: &String| h.eq_ignore_ascii_case(host);
    let conflict = match scheme {
        Some(values::Scheme::Https) if args.net.plain_http.iter().any(same) => Some("--plain-http"),
        Some(values::Scheme::Http) if args.net.insecure_skip_tls_verify.iter().any(same) => {
            Some("--insecure-skip-tls-verify")
        }
        _ => None,
    };
    if let Some(flag) = conflict {
        return Err(UsageError(format!(
            "the registry's URL and {flag} {host} disagree on how to reach it: give one (http:// is plain HTTP, https:// is TLS)"
        ))
        .into());
    }
    let (checker, _) = build_checker_with(&args.net, |b| match scheme {
        Some(values::Scheme::Http) => b.plain_http(host.as_str()),
        _ => b,
    })?;
    let report = checker.inspect_registry(host).await;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match format {
        PlainOutput::Human => render::registry_human(&mut out, &report, ui.style),
        PlainOutput::Json => render::json(&mut out, &report),
    };
    finish(written.and_then(|()| out.flush()))?;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The formats of the commands other than `check`.
#[derive(Debug, Clone, Copy)]
enum PlainOutput {
    Human,
    Json,
}

/// `-o` of a command other than `check`: the CI formats are named as `check`'s.
fn parse_plain_output(s: &str) -> Result<PlainOutput, String> {
    match Output::from_str(s, true) {
        Ok(Output::Human) => Ok(PlainOutput::Human),
        Ok(Output::Json) => Ok(PlainOutput::Json),
        Ok(Output::Junit | Output::Gitlab | Output::Sarif | Output::Github | Output::Markdown) => {
            Err(format!(
                "-o {s} is a report of `preflight check`; use human or json here"
            ))
        }
        Err(_) => Err(format!("{s:?} is not a format: use human or json")),
    }
}

fn write_report(
    out: &mut impl Write,
    format: Output,
    report: &preflight::Report,
    notes: &[String],
    style: render::Style,
    strict: bool,
) -> std::io::Result<()> {
    match format {
        Output::Human => render::human(out, report, notes, style, strict),
        Output::Json => render::json(out, report),
        Output::Junit => ci_reports::junit(out, report),
        Output::Gitlab => ci_reports::gitlab(out, report, &ci_reports::ProjectRoot::from_env()),
        Output::Sarif => ci_reports::sarif(out, report, &ci_reports::ProjectRoot::from_env()),
        Output::Github => {
            ci_reports::github(out, report, &ci_reports::ProjectRoot::for_github(), strict)
        }
        Output::Markdown => {
            ci_reports::markdown(out, report, &ci_reports::ProjectRoot::from_env(), strict)
        }
    }
}

fn finish(written: std::io::Result<()>) -> Result<(), RunError> {
    match written {
        Ok(()) => Ok(()),
        // The reader went away (`| head`): nothing left to say to it.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn ratelimit(args: RatelimitArgs, ui: Ui) -> Result<ExitCode, RunError> {
    let format = args.output;
    let (checker, _) = build_checker(&args.net)?;
    let budget = checker.docker_hub_budget().await;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match format {
        PlainOutput::Human => render::budget_human(&mut out, &budget, ui.style),
        PlainOutput::Json => render::json(&mut out, &budget),
    };
    finish(written.and_then(|()| out.flush()))?;
    Ok(if budget.diagnosis.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn check(args: CheckArgs, ui: Ui) -> Result<ExitCode, RunError> {
    check_then(args, ui, |_, _| Ok(())).await
}

/// `preflight action`: the step's inputs as `check` arguments, then the step's outputs.
async fn github_action(ui: Ui) -> Result<ExitCode, RunError> {
    let step = action::Step::from_env();
    let command_line = step.check_argv()?;
    let args = match Cli::try_parse_from(&command_line) {
        Ok(Cli {
            command: Command::Check(args),
            ..
        }) => args,
        Ok(_) => unreachable!("the argument list starts with `check`"),
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            return Err(UsageError(format!(
                "the action's inputs are not valid `preflight check` arguments ({}): {}",
                command_line[1..]
                    .iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" "),
                first.strip_prefix("error: ").unwrap_or(first)
            ))
            .into());
        }
    };
    check_then(*args, ui, |report, strict| step.finish(report, strict)).await
}

/// `check`, then `then` with the report, after every output is written; an error from it is
/// exit 2 (the result is out already).
async fn check_then(
    args: CheckArgs,
    ui: Ui,
    then: impl FnOnce(&preflight::Report, bool) -> std::io::Result<()>,
) -> Result<ExitCode, RunError> {
    let runtime = preflight::Runtime::parse(&args.runtime, args.runtime_version.as_deref())?;
    let (mut requests, problems) = requests(&args.images, &args.input)?;
    let expected = expected_digests(&args)?;
    if !expected.is_empty() {
        for req in &mut requests {
            if let Ok(r) = preflight::Reference::parse(&req.reference) {
                req.expected_digest = expected.get(&r).cloned();
            }
        }
    }
    let (checker, mut notes) = build_checker_with(&args.net, |mut b| {
        b = b
            .concurrency(args.concurrency)
            .registry_concurrency(args.registry_concurrency)
            .allow_hub_pulls(args.allow_hub_pulls)
            .verify_config_platform(args.verify_config_platform)
            .depth(args.depth)
            .runtime(runtime);
        if let Some(conf) = &args.registries_conf {
            b = b.registries_conf(conf);
        }
        if let Some(dir) = &args.hosts_dir {
            b = b.hosts_dir(dir);
        }
        for p in &args.platform {
            b = b.platform(p.clone());
        }
        match args.min_hub_remaining {
            Some(n) => b.min_hub_remaining(n),
            None => b,
        }
    })?;
    notes.extend(checker.config_notes().iter().cloned());
    if requests.is_empty() {
        notes.push("the inputs reference no images".to_owned());
    }
    if args.net.proxy.is_none()
        && let Some(var) = [
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
        ]
        .into_iter()
        .find(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
    {
        notes.push(format!(
            "{var} is set, but it is this job's proxy, not the nodes': preflight does not use it; if the nodes reach registries through a proxy, give it with --proxy URL (and --no-proxy LIST)"
        ));
    }
    let mut bar = progress::Bar::new(ui.progress);
    let report = checker
        .check_with_progress(requests, |p| bar.update(p))
        .await;
    bar.finish();
    // The result first: a report file that cannot be written must not take it away.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = write_report(
        &mut out,
        args.output,
        &report,
        &notes,
        ui.style,
        args.strict,
    );
    finish(written.and_then(|()| out.flush()))?;
    drop(out);
    let mut unwritten = write_report_files(&args.reports, &report, &notes, ui.style, args.strict);
    if let Err(e) = then(&report, args.strict) {
        unwritten = true;
        let _ = writeln!(std::io::stderr().lock(), "error: {e}");
    }
    for n in &notes {
        tracing::warn!("{n}");
    }
    if let Some(code) = report_problems(&problems) {
        return Ok(code);
    }
    if unwritten {
        return Ok(ExitCode::from(2));
    }
    let strict_failed = args.strict && report.summary.warnings > 0;
    if strict_failed && args.output != Output::Human {
        // The human report names them itself; the others are read by programs.
        let mut err = std::io::stderr().lock();
        for (image, code) in render::strict_failures(&report) {
            let _ = writeln!(err, "error: --strict: {image} {code} fails the check");
        }
    }
    let failed = !report.pullable || strict_failed;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Writes each `--report FORMAT=PATH`; a file that cannot be written is reported on stderr,
/// naming the report, and the others are still written. Returns whether one failed.
fn write_report_files(
    reports: &[(Output, PathBuf)],
    report: &preflight::Report,
    notes: &[String],
    style: render::Style,
    strict: bool,
) -> bool {
    // Files get plain text whatever the terminal; quiet applies to them too.
    let style = render::Style {
        color: false,
        ..style
    };
    let mut failed = false;
    for (format, path) in reports {
        let written = std::fs::File::create(path).and_then(|file| {
            let mut w = std::io::BufWriter::new(file);
            write_report(&mut w, *format, report, notes, style, strict).and_then(|()| w.flush())
        });
        if let Err(e) = written {
            failed = true;
            let name = format
                .to_possible_value()
                .map_or_else(String::new, |v| v.get_name().to_owned());
            let _ = writeln!(
                std::io::stderr().lock(),
                "error: cannot write the {name} report to {}: {e}",
                path.display()
            );
        }
    }
    failed
}

fn expected_digests(args: &CheckArgs) -> Result<ExpectedDigests, RunError> {
    let mut expected = ExpectedDigests::new();
    for a in &args.expect_digest {
        expected.add_argument(a)?;
    }
    for path in &args.digests_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read digests file {}: {e}", path.display())))?;
        expected.add_file(&path.display().to_string(), &text)?;
    }
    Ok(expected)
}

/// Turns the network flags into a validated [`Checker`]; also returns notes for the user.
fn build_checker(net: &NetArgs) -> Result<(Checker, Vec<String>), RunError> {
    build_checker_with(net, |b| b)
}

/// Parses `--depth`.
fn parse_depth(s: &str) -> Result<preflight::Depth, String> {
    match s {
        "manifest" => Ok(preflight::Depth::Manifest),
        "blobs" => Ok(preflight::Depth::Blobs),
        _ => Err(format!("{s:?} is not a depth: give manifest or blobs")),
    }
}

/// Like [`build_checker`], with command-specific settings added by `extra`.
fn build_checker_with(
    net: &NetArgs,
    extra: impl FnOnce(preflight::CheckerBuilder) -> preflight::CheckerBuilder,
) -> Result<(Checker, Vec<String>), RunError> {
    let notes = Vec::new();
    let mut b = Checker::builder().timeout(net.timeout);
    if let Some(addr) = net.dns_server {
        b = b.dns(DnsConfig::Server(addr));
    }
    if let Some(path) = &net.resolv_conf {
        b = b.dns(DnsConfig::ResolvConf(path.clone()));
    }
    for h in &net.plain_http {
        b = b.plain_http(h.as_str());
    }
    for h in &net.insecure_skip_tls_verify {
        b = b.insecure_skip_tls_verify(h.as_str());
    }
    for f in &net.ca_file {
        b = b.ca_file(f.clone());
    }
    if let Some(h) = &net.docker_hub_registry {
        b = b.docker_hub_registry(h.as_str());
    }
    if let Some(p) = &net.proxy {
        b = b.proxy(p.as_str());
    }
    if let Some(list) = &net.no_proxy {
        b = b.no_proxy(list.as_str());
    }
    // The CI job's own credentials: --docker-config, else DOCKER_AUTH_CONFIG, Docker's and
    // podman's files and GitLab's variables, with credential helpers run under a timeout.
    // Half the image's deadline at most, so a hanging helper is reported as one before the
    // image's deadline cuts it short.
    let helpers = HelperRunner::new().timeout((net.timeout / 2).min(HelperRunner::DEFAULT_TIMEOUT));
    let ci = CiCredentials::discover(net.docker_config.as_deref(), Some(&helpers))?;
    tracing::debug!(sources = ?ci.sources(), "CI credentials");
    b = b.credentials(Arc::new(ci));
    Ok((extra(b).build()?, notes))
}

/// Misuse of the command line that clap cannot see.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}
