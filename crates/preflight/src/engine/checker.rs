//! The entry point: a [`Checker`] built once from validated configuration, checking many images
//! concurrently and returning a [`Report`]. The builder rejects bad configuration before any I/O;
//! each `check` call gets a fresh session, so a long-lived checker never reuses stale answers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::engine::pipeline::Session;
pub use crate::engine::request::ImageRequest;
use crate::engine::request::merge_requests;
use crate::engine::schedule::Scheduler;
use crate::inputs::hosts_dir::{HostsDir, HostsFile};
use crate::inputs::registries_conf::RegistriesConf;
use crate::model::credentials::CredentialSource;
use crate::model::platform::Platform;
use crate::model::reference::Reference;
use crate::net::Net;
use crate::net::dns::{Dns, DnsConfig};
use crate::net::proxy::{ProxyConfig, RawProxyUrl};
use crate::net::{ProxyUrlError, TlsMode, TransportSetupError, http::HttpClients, tls::TlsConfigs};
use crate::registry::auth::TokenCache;
use crate::registry::endpoint::Endpoint;
use crate::registry::hosts::HostModes;
use crate::registry::profile::Profile;
use crate::registry::runtime::Runtime;
use crate::report::{HubBudget, ImageReport, RegistryReport, Report};

/// The default deadline for one image, all stages together.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest timeout accepted for one image.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// The default number of images checked at once.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// The default number of images of one registry checked at once, so one deploy does not flood a
/// registry (most answer 16 streams on one HTTP/2 connection without queueing).
pub const DEFAULT_REGISTRY_CONCURRENCY: usize = 16;

/// How much of the pull path a check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Depth {
    /// The manifest exists (a `HEAD`), and the required platforms are in its index. Cheaper, and
    /// on Docker Hub it spends no pull; but a missing layer or config blob passes.
    Manifest,
    /// What a node's pull reads (the default): for each platform it pulls (required ones, else
    /// `linux/amd64`), its manifest, the config blob (its bytes verified) and every layer,
    /// through redirects to storage. On Docker Hub only with
    /// [`allow_hub_pulls`](CheckerBuilder::allow_hub_pulls): each manifest GET is a pull there.
    #[default]
    Blobs,
}

/// Why a [`Checker`] could not be built: the configuration is wrong, not a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// TLS or the HTTP client could not be set up (for example an unreadable CA file).
    #[error(transparent)]
    Transport(#[from] TransportSetupError),
    /// A registry host given for plain HTTP or skipped verification is not `HOST[:PORT]`.
    #[error("{setting} {value:?} is not HOST[:PORT]: {problem}")]
    InvalidHost {
        /// Which setting (`plain HTTP host`, `skip-verify host`).
        setting: &'static str,
        /// What was given.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The same registry was configured both for plain HTTP and for skipped verification.
    #[error(
        "{host} is configured both for plain HTTP and for HTTPS without verification: choose one"
    )]
    ConflictingModes {
        /// The registry.
        host: String,
    },
    /// The proxy URL is not an `http://` URL (the value is shown with its credentials hidden).
    #[error(transparent)]
    Proxy(#[from] ProxyUrlError),
    /// Zero concurrency or a zero timeout.
    #[error("{setting} must be greater than zero")]
    Zero {
        /// Which setting.
        setting: &'static str,
    },
    /// A timeout longer than [`MAX_TIMEOUT`].
    #[error("the timeout must be at most {} seconds", MAX_TIMEOUT.as_secs())]
    TimeoutTooLong,
    /// The node's registry configuration (`registries.conf`, a hosts directory) is refused as
    /// the runtime would refuse it; the message names the file and line.
    #[error("{message}")]
    NodeConfig {
        /// What is wrong, and where.
        message: String,
    },
    /// A node configuration given for a runtime that does not read it.
    #[error("{what} is read by {reads} only, and the runtime is {runtime}: pass --runtime {flag}")]
    ConfigForAnotherRuntime {
        /// The configuration (`--registries-conf`).
        what: &'static str,
        /// The runtime that reads it.
        reads: &'static str,
        /// The `--runtime` value that does.
        flag: &'static str,
        /// The runtime configured.
        runtime: String,
    },
}

/// Configures a [`Checker`]. Every setting has a sensible default; `build` validates them all.
#[derive(Debug, Clone)]
pub struct CheckerBuilder {
    dns: DnsConfig,
    ca_files: Vec<PathBuf>,
    plain_http: Vec<String>,
    skip_verify: Vec<String>,
    credentials: Option<Arc<dyn CredentialSource>>,
    timeout: Duration,
    concurrency: usize,
    registry_concurrency: usize,
    docker_hub_registry: Option<String>,
    platforms: Vec<Platform>,
    allow_hub_pulls: bool,
    min_hub_remaining: Option<u64>,
    verify_config_platform: bool,
    depth: Depth,
    runtime: Runtime,
    registries_conf: Option<PathBuf>,
    hosts_dir: Option<PathBuf>,
    proxy: Option<RawProxyUrl>,
    no_proxy: String,
}

impl Default for CheckerBuilder {
    fn default() -> Self {
        CheckerBuilder {
            dns: DnsConfig::System,
            ca_files: Vec::new(),
            plain_http: Vec::new(),
            skip_verify: Vec::new(),
            credentials: None,
            timeout: DEFAULT_TIMEOUT,
            concurrency: DEFAULT_CONCURRENCY,
            registry_concurrency: DEFAULT_REGISTRY_CONCURRENCY,
            docker_hub_registry: None,
            platforms: Vec::new(),
            allow_hub_pulls: false,
            min_hub_remaining: None,
            verify_config_platform: false,
            depth: Depth::default(),
            runtime: Runtime::default(),
            registries_conf: None,
            hosts_dir: None,
            proxy: None,
            no_proxy: String::new(),
        }
    }
}

impl CheckerBuilder {
    /// Which DNS servers to use (default: the system's configuration). The configuration is read
    /// on the first name a check resolves, never by `build`: a missing or unusable one is the
    /// `dns-config` diagnosis of each image that needed a name. It is read once per `Checker`,
    /// which keeps the resolver (or why there is none): build a new `Checker` to read it again.
    #[must_use]
    pub fn dns(mut self, dns: DnsConfig) -> Self {
        self.dns = dns;
        self
    }

    /// Reaches registries through the node's HTTP proxy, as its runtime does with `HTTPS_PROXY`
    /// and `HTTP_PROXY` (one proxy for both): `http://[USER:PASSWORD@]HOST[:PORT]`, `http://`
    /// when no scheme is given. `https` targets go through a `CONNECT` tunnel. Hosts `localhost`
    /// and loopback IP literals never use it. The environment's proxy variables are never read.
    #[must_use]
    pub fn proxy(mut self, url: impl Into<String>) -> Self {
        self.proxy = Some(RawProxyUrl(url.into()));
        self
    }

    /// The node's `NO_PROXY`: hosts reached directly, with Go's rules (`*`, CIDRs and IPs for IP
    /// literals, `example.com` with its sub-domains, `.example.com` only them, `host:port`).
    /// Without [`proxy`](Self::proxy) it changes nothing.
    #[must_use]
    pub fn no_proxy(mut self, list: impl Into<String>) -> Self {
        self.no_proxy = list.into();
        self
    }

    /// Trusts the CA certificates in this PEM file, in addition to the system roots.
    #[must_use]
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Talks plain HTTP to this registry (`HOST[:PORT]`; without a port, every port of the host).
    #[must_use]
    pub fn plain_http(mut self, host: impl Into<String>) -> Self {
        self.plain_http.push(host.into());
        self
    }

    /// Talks HTTPS to this registry without verifying its certificate.
    #[must_use]
    pub fn insecure_skip_tls_verify(mut self, host: impl Into<String>) -> Self {
        self.skip_verify.push(host.into());
        self
    }

    /// Where credentials come from (default: none, everything anonymous).
    #[must_use]
    pub fn credentials(mut self, source: Arc<dyn CredentialSource>) -> Self {
        self.credentials = Some(source);
        self
    }

    /// The deadline for one image, all stages together.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many images are checked at once over all registries (default
    /// [`DEFAULT_CONCURRENCY`]); each registry also has its own limit,
    /// [`CheckerBuilder::registry_concurrency`].
    #[must_use]
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// How many images of one registry are checked at once, at most (default
    /// [`DEFAULT_REGISTRY_CONCURRENCY`]); the overall limit is [`CheckerBuilder::concurrency`].
    #[must_use]
    pub fn registry_concurrency(mut self, n: usize) -> Self {
        self.registry_concurrency = n;
        self
    }

    /// Requires image indexes to hold a manifest for this platform (repeatable).
    #[must_use]
    pub fn platform(mut self, platform: Platform) -> Self {
        if !self.platforms.contains(&platform) {
            self.platforms.push(platform);
        }
        self
    }

    /// Lets platform checks GET indexes on Docker Hub, which counts each GET as a pull.
    #[must_use]
    pub fn allow_hub_pulls(mut self, allow: bool) -> Self {
        self.allow_hub_pulls = allow;
        self
    }

    /// Checks the platform of single-platform manifests too, from their config blob (a GET of
    /// the manifest and one of the config: on Docker Hub, a pull).
    #[must_use]
    pub fn verify_config_platform(mut self, verify: bool) -> Self {
        self.verify_config_platform = verify;
        self
    }

    /// How much of the pull path to read (default [`Depth::Blobs`], what a node's pull reads).
    #[must_use]
    pub fn depth(mut self, depth: Depth) -> Self {
        self.depth = depth;
        self
    }

    /// The runtime on the nodes, whose rules the check follows (default containerd 2).
    #[must_use]
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = runtime;
        self
    }

    /// The nodes' `registries.conf` (CRI-O; its `FILE.d/*.conf` drop-ins are read too): mirrors,
    /// rewrites, `insecure`, `blocked` and short names, as CRI-O applies them.
    #[must_use]
    pub fn registries_conf(mut self, path: impl Into<PathBuf>) -> Self {
        self.registries_conf = Some(path.into());
        self
    }

    /// The nodes' containerd registry host directory (`config_path`: `HOST[:PORT]/hosts.toml`,
    /// `_default`): mirrors tried in order, then the server, each reached as its table says; the
    /// CA files it names are trusted.
    #[must_use]
    pub fn hosts_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.hosts_dir = Some(path.into());
        self
    }

    /// Fails the Docker Hub images of a check when Hub's remaining pulls are below `n`.
    #[must_use]
    pub fn min_hub_remaining(mut self, n: u64) -> Self {
        self.min_hub_remaining = Some(n);
        self
    }

    /// Sends `docker.io` references to this `HOST[:PORT]` instead of `registry-1.docker.io`
    /// (for tests against a stand-in for Docker Hub).
    #[doc(hidden)]
    #[must_use]
    pub fn docker_hub_registry(mut self, host: impl Into<String>) -> Self {
        self.docker_hub_registry = Some(host.into());
        self
    }

    /// Validates the configuration and builds the checker.
    pub fn build(self) -> Result<Checker, BuildError> {
        if self.timeout.is_zero() {
            return Err(BuildError::Zero {
                setting: "the timeout",
            });
        }
        if self.timeout > MAX_TIMEOUT {
            return Err(BuildError::TimeoutTooLong);
        }
        if self.concurrency == 0 {
            return Err(BuildError::Zero {
                setting: "the concurrency",
            });
        }
        if self.registry_concurrency == 0 {
            return Err(BuildError::Zero {
                setting: "the per-registry concurrency",
            });
        }
        let mut modes = HashMap::new();
        for (hosts, mode, setting) in [
            (&self.plain_http, TlsMode::PlainHttp, "plain HTTP host"),
            (&self.skip_verify, TlsMode::SkipVerify, "skip-verify host"),
        ] {
            for h in hosts {
                let key = validate_host(h, setting)?;
                if let Some(previous) = modes.insert(key.clone(), mode)
                    && previous != mode
                {
                    return Err(BuildError::ConflictingModes { host: key });
                }
            }
        }
        let hub = match &self.docker_hub_registry {
            Some(h) => Some(validate_host(h, "Docker Hub registry")?),
            None => None,
        };
        let mut notes = Vec::new();
        let registries = match &self.registries_conf {
            Some(_) if self.runtime != Runtime::CriO => {
                return Err(BuildError::ConfigForAnotherRuntime {
                    what: "--registries-conf",
                    reads: "CRI-O",
                    flag: "cri-o",
                    runtime: self.runtime.to_string(),
                });
            }
            Some(path) => {
                let conf = RegistriesConf::load(path).map_err(|e| BuildError::NodeConfig {
                    message: with_causes(&e),
                })?;
                notes.extend(conf.warnings().iter().cloned());
                Some(conf)
            }
            None => None,
        };
        let mut ca_files = self.ca_files.clone();
        let hosts_dir = match (&self.hosts_dir, self.runtime) {
            (None, _) => None,
            (Some(path), Runtime::Containerd(line)) => {
                let node_config = |e: &dyn std::error::Error| BuildError::NodeConfig {
                    message: with_causes(e),
                };
                let dir = HostsDir::open(path).map_err(|e| node_config(&e))?;
                let scan = dir.scan(line).map_err(|e| node_config(&e))?;
                ca_files.extend(scan.ca);
                notes.extend(scan.notes);
                Some(dir)
            }
            (Some(_), runtime) => {
                return Err(BuildError::ConfigForAnotherRuntime {
                    what: "--hosts-dir",
                    reads: "containerd",
                    flag: "containerd",
                    runtime: runtime.to_string(),
                });
            }
        };
        let proxy = match &self.proxy {
            Some(raw) => Some(Arc::new(ProxyConfig::parse(&raw.0, &self.no_proxy)?)),
            None => None,
        };
        let dns = Arc::new(Dns::new(&self.dns));
        let tls = TlsConfigs::new(&ca_files)?;
        let http = HttpClients::new(&tls, &dns, proxy.as_ref())?;
        Ok(Checker {
            inner: Arc::new(Inner {
                net: Net {
                    dns,
                    tls,
                    http,
                    proxy,
                },
                hosts: HostModes::new(modes),
                credentials: self.credentials,
                timeout: self.timeout,
                concurrency: self.concurrency,
                registry_concurrency: self.registry_concurrency,
                hub,
                platforms: self.platforms,
                allow_hub_pulls: self.allow_hub_pulls,
                min_hub_remaining: self.min_hub_remaining,
                verify_config_platform: self.verify_config_platform,
                depth: self.depth,
                runtime: self.runtime,
                registries,
                hosts_dir,
                hosts_files: std::sync::Mutex::default(),
                notes,
                tokens: TokenCache::default(),
            }),
        })
    }
}

/// An error's message followed by its causes', as one line.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

/// Checks `HOST[:PORT]` and returns it lower-cased.
fn validate_host(value: &str, setting: &'static str) -> Result<String, BuildError> {
    let bad = |problem| BuildError::InvalidHost {
        setting,
        value: value.to_owned(),
        problem,
    };
    let v = value.trim();
    if v.is_empty() {
        return Err(bad("it is empty"));
    }
    if v.contains("://") {
        return Err(bad("give the host without a scheme"));
    }
    if v.contains('/') {
        return Err(bad("give the host without a path"));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains whitespace"));
    }
    let port = if v.starts_with('[') {
        match v.find(']') {
            Some(end) => v[end + 1..].strip_prefix(':'),
            None => return Err(bad("an IPv6 address needs its closing bracket")),
        }
    } else if v.matches(':').count() > 1 {
        return Err(bad("write an IPv6 address in brackets, like [::1]:5000"));
    } else {
        v.split_once(':').map(|(_, p)| p)
    };
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(bad("the port is not a number from 1 to 65535"));
    }
    Ok(v.to_ascii_lowercase())
}

/// The checker's validated configuration and what it keeps across calls (connections, tokens).
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) net: Net,
    pub(crate) hosts: HostModes,
    pub(crate) credentials: Option<Arc<dyn CredentialSource>>,
    pub(crate) timeout: Duration,
    pub(crate) concurrency: usize,
    pub(crate) registry_concurrency: usize,
    /// A stand-in for Docker Hub's API host (tests).
    pub(crate) hub: Option<String>,
    pub(crate) platforms: Vec<Platform>,
    pub(crate) allow_hub_pulls: bool,
    pub(crate) min_hub_remaining: Option<u64>,
    pub(crate) verify_config_platform: bool,
    pub(crate) depth: Depth,
    pub(crate) runtime: Runtime,
    /// CRI-O's registries configuration, under `--runtime cri-o`.
    pub(crate) registries: Option<RegistriesConf>,
    /// containerd's registry host directory, under `--runtime containerd`.
    pub(crate) hosts_dir: Option<HostsDir>,
    /// Its `hosts.toml` per registry, read once (`None`: containerd's defaults apply).
    pub(crate) hosts_files: std::sync::Mutex<HashMap<String, Option<Arc<HostsFile>>>>,
    /// What reading the node's configuration noticed (unknown keys, files the runtime ignores).
    pub(crate) notes: Vec<String>,
    pub(crate) tokens: TokenCache,
}

impl Inner {
    /// Where the registry of `r` is reached, and how.
    pub(crate) fn endpoint(&self, r: &Reference) -> Endpoint {
        let api = Profile::of(r).api_host(r, self.hub.as_deref());
        let (host, port) = split_host_port(api);
        let host = host.to_ascii_lowercase();
        let mode = self.hosts.mode_for(r.registry(), &host, port);
        Endpoint {
            port: port.unwrap_or(mode.default_port()),
            host,
            mode,
        }
    }
}

/// Checks whether images can be pulled. Build it once ([`Checker::builder`]) and reuse it: the
/// registry-wide stages, connections and tokens are shared between the images of one `check` and
/// across calls.
#[derive(Debug, Clone)]
pub struct Checker {
    pub(crate) inner: Arc<Inner>,
}

impl Checker {
    /// Starts configuring a checker.
    pub fn builder() -> CheckerBuilder {
        CheckerBuilder::default()
    }

    /// What reading the nodes' registry configuration noticed that does not stop a check: keys
    /// the runtime ignores, files it skips; each names its file and line.
    pub fn config_notes(&self) -> &[String] {
        &self.inner.notes
    }

    /// Checks every image, `concurrency` at a time and at most `registry_concurrency` of one
    /// registry, and reports on each distinct one (the same reference twice is checked once, with
    /// both sources), in the order first given.
    pub async fn check(&self, images: Vec<ImageRequest>) -> Report {
        self.check_with_progress(images, |_| {}).await
    }

    /// [`Checker::check`], calling `progress` as each image is done (in completion order), e.g.
    /// to drive a progress bar.
    pub async fn check_with_progress(
        &self,
        images: Vec<ImageRequest>,
        mut progress: impl FnMut(Progress<'_>),
    ) -> Report {
        let merged = merge_requests(images);
        let count = merged.len();
        let keyed = merged.into_iter().enumerate().map(|(i, req)| {
            // Keyed as the shared probes are, so `host` and `host:443` are one registry. An
            // unparseable reference fails without a request; those share one key of their own.
            let registry =
                Reference::parse_with(&req.reference, self.inner.runtime.reference_grammar())
                    .ok()
                    .map(|r| self.inner.endpoint(&r));
            (registry, (i, req))
        });
        let mut schedule = Scheduler::new(
            keyed,
            self.inner.concurrency,
            self.inner.registry_concurrency,
        );
        let session = Arc::new(Session::default());
        let mut tasks = JoinSet::new();
        let mut results: Vec<Option<ImageReport>> = vec![None; count];
        let mut done = 0;
        loop {
            while let Some((registry, (i, req))) = schedule.next() {
                let inner = Arc::clone(&self.inner);
                let session = Arc::clone(&session);
                tasks.spawn(async move {
                    let report = inner.check_image(&session, req).await;
                    (registry, i, report)
                });
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            match joined {
                Ok((registry, i, report)) => {
                    schedule.finished(registry);
                    done += 1;
                    progress(Progress {
                        done,
                        total: count,
                        image: &report,
                    });
                    results[i] = Some(report);
                }
                // A panic in a check is a bug: surface it rather than print a partial report.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Tasks are never cancelled.
                Err(_) => {}
            }
        }
        let mut images: Vec<ImageReport> = results.into_iter().flatten().collect();
        crate::engine::budget::apply(&self.inner, &mut images);
        Report::new(images)
    }

    /// Walks one registry as a person testing connectivity by hand would: DNS, a TCP connect to
    /// every address, TLS with the certificate, `/v2/`, the challenge, the token service's own
    /// reachability and — with credentials — whether they are accepted. `registry` is
    /// `HOST[:PORT]` as an image reference would name it (`docker.io` means Docker Hub).
    pub async fn inspect_registry(&self, registry: &str) -> RegistryReport {
        crate::engine::inspect::walk(&self.inner, registry).await
    }

    /// Docker Hub's pull budget for the identity a check would use, read without spending a
    /// pull: a HEAD of `ratelimitpreview/test`, which Hub answers with its rate-limit headers.
    pub async fn docker_hub_budget(&self) -> HubBudget {
        let image = self
            .check_one("docker.io/ratelimitpreview/test:latest")
            .await;
        let limit = image.rate_limit.clone();
        HubBudget {
            version: crate::report::REPORT_VERSION,
            unlimited: image.diagnosis.is_none() && limit.is_none(),
            rate_limit: limit,
            credential: image.credential,
            diagnosis: image.diagnosis,
        }
    }

    /// Checks one image.
    pub async fn check_one(&self, reference: &str) -> ImageReport {
        Arc::clone(&self.inner)
            .check_image(&Session::default(), ImageRequest::new(reference))
            .await
    }
}

/// How far a [`Checker::check_with_progress`] call is.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Progress<'a> {
    /// Images done so far, this one included.
    pub done: usize,
    /// Distinct images in the call (equal references counted once).
    pub total: usize,
    /// The report of the image just done.
    pub image: &'a ImageReport,
}

/// `HOST[:PORT]` into the host (IPv6 without brackets) and the port, if one is written.
pub(crate) fn split_host_port(s: &str) -> (String, Option<u16>) {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (
            host.to_owned(),
            after.strip_prefix(':').and_then(|p| p.parse().ok()),
        );
    }
    match s.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().ok()),
        None => (s.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_settings_are_validated() {
        assert_eq!(
            validate_host("LocalHost:5000", "x").unwrap(),
            "localhost:5000"
        );
        assert_eq!(validate_host("[::1]:5000", "x").unwrap(), "[::1]:5000");
        assert_eq!(validate_host("reg.example", "x").unwrap(), "reg.example");
        for bad in [
            "",
            "http://reg",
            "reg/path",
            "reg:0",
            "reg:70000",
            "reg:x",
            "::1",
            "[::1",
            "a b",
        ] {
            assert!(validate_host(bad, "x").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn conflicting_modes_are_refused() {
        let e = Checker::builder()
            .plain_http("reg:5000")
            .insecure_skip_tls_verify("REG:5000")
            .build()
            .unwrap_err();
        assert!(matches!(e, BuildError::ConflictingModes { .. }), "{e}");
    }

    #[test]
    fn zero_settings_are_refused() {
        assert!(Checker::builder().concurrency(0).build().is_err());
        assert!(Checker::builder().timeout(Duration::ZERO).build().is_err());
        assert!(Checker::builder().timeout(Duration::MAX).build().is_err());
    }

    #[test]
    fn bad_proxies_are_refused_without_their_password() {
        let e = Checker::builder()
            .proxy("socks5://user:hunter2@proxy:1080")
            .build()
            .unwrap_err();
        assert!(matches!(e, BuildError::Proxy(_)), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let b = Checker::builder().proxy("http://user:hunter2@proxy:3128");
        assert!(!format!("{b:?}").contains("hunter2"));
        assert!(b.build().is_ok());
    }

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port("a:5000"), ("a".into(), Some(5000)));
        assert_eq!(split_host_port("[::1]:443"), ("::1".into(), Some(443)));
        assert_eq!(split_host_port("a"), ("a".into(), None));
    }
}
