//! The entry point: a [`Checker`] built once from validated configuration, checking many images
//! concurrently and returning a [`Report`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
use crate::engine::schedule::Scheduler;
use crate::model::challenge::{BearerChallenge, Challenge};
use crate::model::credentials::{Candidates, Credential, CredentialSource, LocatedCredential};
use crate::model::platform::{self, Platform};
use crate::model::reference::{Digest, Reference};
use crate::model::wire::GrantedAccess;
use crate::net::dns::{Dns, DnsConfig, DnsSetupError};
use crate::net::transport::{self, HttpClients, TlsConfigs, TlsMode, TransportSetupError};
use crate::registry::auth::{self, Access, AuthFailure, TokenCache, TokenRequest};
use crate::report::{HubBudget, ImageReport, RegistryReport, Report, Source};
use crate::stages::manifest::{self, AccessContext};
use crate::stages::probe::{self, Endpoint, Net, Probe, StageLog};

/// The default deadline for one image, all stages together.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest timeout accepted for one image.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// The default number of images checked at once.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// The default number of images of one registry checked at once, so one deploy does not flood a
/// registry (most answer 16 streams on one HTTP/2 connection without queueing).
pub const DEFAULT_REGISTRY_CONCURRENCY: usize = 16;
/// Where Docker Hub's registry API lives (references say `docker.io`).
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Why a [`Checker`] could not be built: the configuration is wrong, not a registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The DNS resolver could not be set up.
    #[error(transparent)]
    Dns(#[from] DnsSetupError),
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
    /// Zero concurrency or a zero timeout.
    #[error("{setting} must be greater than zero")]
    Zero {
        /// Which setting.
        setting: &'static str,
    },
    /// A timeout longer than [`MAX_TIMEOUT`].
    #[error("the timeout must be at most {} seconds", MAX_TIMEOUT.as_secs())]
    TimeoutTooLong,
}

/// One image to check, with where it was found and what it is pulled with.
#[derive(Clone)]
pub struct ImageRequest {
    /// The reference as written.
    pub reference: String,
    /// Where it was found; empty for references given directly.
    pub sources: Vec<Source>,
    /// The credentials this image is pulled with (a pod's pull secrets), instead of the
    /// checker's own source. The same reference with different credentials is checked apart.
    pub credentials: Option<Arc<dyn CredentialSource>>,
    /// Warnings known before any network (how the image is used).
    pub warnings: Vec<Warning>,
    /// A failure known before any network (an invalid pull secret): the image is reported with
    /// it and not checked further.
    pub failure: Option<Diagnosis>,
    /// The manifest digest the tag must point at (what the push produced).
    pub expected_digest: Option<Digest>,
    /// Platforms this image must provide when the checker requires none of its own (those the
    /// pod's nodes run, from its node selector).
    pub platforms: Vec<Platform>,
}

impl std::fmt::Debug for ImageRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageRequest")
            .field("reference", &self.reference)
            .field("sources", &self.sources)
            .field("credentials", &self.credentials)
            .field("warnings", &self.warnings)
            .field("failure", &self.failure)
            .field("expected_digest", &self.expected_digest)
            .field("platforms", &self.platforms)
            .finish()
    }
}

impl ImageRequest {
    /// A reference given directly (no source file), with the checker's credentials.
    pub fn new(reference: impl Into<String>) -> ImageRequest {
        ImageRequest {
            reference: reference.into(),
            sources: Vec::new(),
            credentials: None,
            warnings: Vec::new(),
            failure: None,
            expected_digest: None,
            platforms: Vec::new(),
        }
    }

    /// The key equal requests share: the reference, the credentials they would try and what
    /// is said about them, and a failure known in advance.
    pub(crate) fn merge_key(&self, reference: Option<&Reference>) -> String {
        let name = reference.map_or_else(|| self.reference.clone(), Reference::canonical);
        let from_source = match (&self.credentials, reference) {
            (Some(source), Some(r)) => match source.candidates(r) {
                Ok(c) => {
                    let mut parts: Vec<&str> =
                        c.credentials.iter().map(|l| l.origin.as_str()).collect();
                    parts.extend(c.notes.iter().map(String::as_str));
                    parts.join("\n")
                }
                Err(e) => e.to_string(),
            },
            (Some(_), None) => "per-image".to_owned(),
            (None, _) => String::new(),
        };
        let failure = self.failure.as_ref().map_or("", |d| d.code.as_str());
        let expected = self
            .expected_digest
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let platforms = self
            .platforms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        format!("{name}\u{0}{from_source}\u{0}{failure}\u{0}{expected}\u{0}{platforms}")
    }
}

impl ImageRequest {
    /// Takes in the sources and warnings of an equal request. Sources are unique per file and
    /// line, so only warnings need checking, against a set rather than the list (a sidecar in
    /// 10,000 pods would otherwise cost 10,000² comparisons).
    pub(crate) fn absorb(&mut self, other: ImageRequest) {
        self.sources.extend(other.sources);
        if !other.warnings.is_empty() {
            let seen: std::collections::HashSet<&Warning> = self.warnings.iter().collect();
            let new: Vec<Warning> = other
                .warnings
                .into_iter()
                .filter(|w| !seen.contains(w))
                .collect();
            self.warnings.extend(new);
        }
    }
}

/// Merges equal requests — the same reference pulled with the same credentials, platforms and
/// expected digest — into one with all their sources, in the order first given.
pub(crate) fn merge_requests(requests: Vec<ImageRequest>) -> Vec<ImageRequest> {
    let mut merged: Vec<ImageRequest> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for req in requests {
        let key = req.merge_key(Reference::parse(&req.reference).ok().as_ref());
        if let Some(&i) = index.get(&key) {
            merged[i].absorb(req);
        } else {
            index.insert(key, merged.len());
            merged.push(req);
        }
    }
    merged
}

impl From<&str> for ImageRequest {
    fn from(s: &str) -> Self {
        ImageRequest::new(s)
    }
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
        }
    }
}

impl CheckerBuilder {
    /// Which DNS servers to use (default: the system's configuration).
    #[must_use]
    pub fn dns(mut self, dns: DnsConfig) -> Self {
        self.dns = dns;
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
        let dns = Arc::new(Dns::new(&self.dns)?);
        let tls = TlsConfigs::new(&self.ca_files)?;
        let http = HttpClients::new(&tls, &dns)?;
        Ok(Checker {
            inner: Arc::new(Inner {
                net: Net { dns, tls, http },
                modes,
                credentials: self.credentials,
                timeout: self.timeout,
                concurrency: self.concurrency,
                registry_concurrency: self.registry_concurrency,
                hub,
                platforms: self.platforms,
                allow_hub_pulls: self.allow_hub_pulls,
                min_hub_remaining: self.min_hub_remaining,
                verify_config_platform: self.verify_config_platform,
                tokens: TokenCache::default(),
            }),
        })
    }
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

type ProbeCell = Arc<OnceCell<Probe>>;
type BasicCell = Arc<OnceCell<Result<(), Diagnosis>>>;

#[derive(Debug)]
struct Inner {
    net: Net,
    /// Lower-cased `host[:port]` → how to talk to it.
    modes: HashMap<String, TlsMode>,
    credentials: Option<Arc<dyn CredentialSource>>,
    timeout: Duration,
    concurrency: usize,
    registry_concurrency: usize,
    hub: Option<String>,
    platforms: Vec<Platform>,
    allow_hub_pulls: bool,
    min_hub_remaining: Option<u64>,
    verify_config_platform: bool,
    tokens: TokenCache,
}

/// What one `check` call shares between its images: the registry-wide stages and Basic
/// verifications. Kept per call, so a long-lived [`Checker`] never serves yesterday's outage;
/// tokens, which expire on their own, are kept across calls.
#[derive(Debug, Default)]
struct Session {
    probes: Mutex<HashMap<Endpoint, ProbeCell>>,
    basic: Mutex<HashMap<(Endpoint, String), BasicCell>>,
}

/// Checks whether images can be pulled. Build it once ([`Checker::builder`]) and reuse it: the
/// registry-wide stages, connections and tokens are shared between the images of one `check` and
/// across calls.
#[derive(Debug, Clone)]
pub struct Checker {
    inner: Arc<Inner>,
}

impl Checker {
    /// Starts configuring a checker.
    pub fn builder() -> CheckerBuilder {
        CheckerBuilder::default()
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
            let registry = Reference::parse(&req.reference)
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
        self.inner.hub_budget(&mut images);
        Report::new(images)
    }

    /// Walks one registry as a person testing connectivity by hand would: DNS, a TCP connect to
    /// every address, TLS with the certificate, `/v2/`, the challenge, the token service's own
    /// reachability and — with credentials — whether they are accepted. `registry` is
    /// `HOST[:PORT]` as an image reference would name it (`docker.io` means Docker Hub).
    pub async fn inspect_registry(&self, registry: &str) -> RegistryReport {
        let inner = &self.inner;
        let deadline = Instant::now() + inner.timeout;
        let mut report = RegistryReport {
            version: crate::report::REPORT_VERSION,
            registry: registry.to_owned(),
            endpoint: String::new(),
            ok: false,
            stages: Vec::new(),
            addresses: Vec::new(),
            certificate: None,
            challenge: None,
            realm: None,
            credential: None,
            diagnosis: None,
            warnings: Vec::new(),
            rate_limit: None,
        };
        inner.inspect(registry, deadline, &mut report).await;
        report.ok = report.diagnosis.is_none();
        report
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
pub struct Progress<'a> {
    /// Images done so far, this one included.
    pub done: usize,
    /// Distinct images in the call (equal references counted once).
    pub total: usize,
    /// The report of the image just done.
    pub image: &'a ImageReport,
}

/// The credential situation for one image.
#[derive(Clone)]
enum Cred {
    None,
    Found(LocatedCredential),
}

impl Inner {
    async fn check_image(self: Arc<Self>, session: &Session, req: ImageRequest) -> ImageReport {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let mut report = ImageReport {
            reference: req.reference.clone(),
            canonical: None,
            registry: None,
            repository: None,
            tag: None,
            digest: None,
            media_type: None,
            size: None,
            hub_pulls: 0,
            tries: 0,
            pullable: false,
            stages: Vec::new(),
            diagnosis: None,
            warnings: Vec::new(),
            rate_limit: None,
            credential: None,
            sources: req.sources,
        };
        let reference = match Reference::parse(&req.reference) {
            Ok(r) => r,
            Err(e) => {
                let d = Diagnosis::new(Code::InvalidReference, Stage::Reference, e.to_string());
                report.stages.push(crate::report::StageResult {
                    stage: Stage::Reference,
                    ok: false,
                    elapsed_ms: 0.0,
                    detail: None,
                    shared: false,
                });
                report.diagnosis = Some(d);
                return report;
            }
        };
        report.canonical = Some(reference.canonical());
        report.registry = Some(reference.registry().to_owned());
        report.repository = Some(reference.repository().to_owned());
        report.tag = reference.tag().map(str::to_owned);
        report.warnings = crate::diagnosis::lint::reference_warnings(&reference);
        for w in req.warnings {
            if !report.warnings.contains(&w) {
                report.warnings.push(w);
            }
        }
        if let Some(d) = req.failure {
            report.diagnosis = Some(d);
            return report;
        }
        let source = req.credentials.or_else(|| self.credentials.clone());
        let expected = req.expected_digest;
        let platforms = if self.platforms.is_empty() {
            req.platforms
        } else {
            self.platforms.clone()
        };

        // A backstop: every wait below has the deadline already; this only guarantees it.
        let grace = deadline + Duration::from_secs(2);
        let run = self.stages(
            session,
            source,
            &platforms,
            &reference,
            deadline,
            &mut report,
        );
        if tokio::time::timeout_at(grace, run).await.is_err() {
            report.diagnosis = Some(Diagnosis::new(
                Code::Timeout,
                report.stages.last().map_or(Stage::Dns, |s| s.stage),
                format!(
                    "the check of {} did not finish within its deadline of {} s",
                    reference,
                    self.timeout.as_secs_f64()
                ),
            ));
        }
        if report.diagnosis.is_none()
            && let Some(expected) = expected
        {
            compare_digest(&reference, &expected, &mut report);
        }
        report.pullable = report.diagnosis.is_none();
        tracing::info!(
            image = %report.reference,
            pullable = report.pullable,
            code = report.diagnosis.as_ref().map_or("", |d| d.code.as_str()),
            "checked"
        );
        report
    }

    async fn inspect(&self, registry: &str, deadline: Instant, report: &mut RegistryReport) {
        // A repository that no one has: the walk needs a reference, not an image.
        let probe_repository = "preflight/connectivity-check";
        let given = registry.trim().trim_end_matches('/');
        let reference = match Reference::parse(&format!("{given}/{probe_repository}")) {
            Ok(r) if !given.is_empty() && !given.contains('/') => r,
            Ok(_) | Err(_) => {
                report.diagnosis = Some(Diagnosis::new(
                    Code::InvalidReference,
                    Stage::Reference,
                    format!("{registry:?} is not a registry HOST[:PORT]"),
                ));
                return;
            }
        };
        reference.registry().clone_into(&mut report.registry);
        let ep = self.endpoint(&reference);
        report.endpoint = ep.base_url();
        let probe = probe::probe(&self.net, &ep, deadline).await;
        report.stages = probe.stages;
        report.rate_limit = probe.rate_limit;
        report.certificate.clone_from(&probe.reached.certificate);
        for ip in &probe.reached.addresses {
            let addr = std::net::SocketAddr::new(*ip, ep.port);
            let started = Instant::now();
            let result = transport::connect_any(&[addr], deadline).await;
            report.addresses.push(crate::report::AddressResult {
                address: addr.to_string(),
                ok: result.is_ok(),
                elapsed_ms: probe::elapsed_ms(started),
                error: result
                    .err()
                    .and_then(|f| f.first().map(ToString::to_string)),
            });
        }
        if let Some(c) = &report.certificate
            && c.days_until_expiry < 14
        {
            report.warnings.push(Warning {
                code: WarningCode::CertificateExpiring,
                message: format!(
                    "the certificate of {} expires in {} days: renew it before nodes start refusing it",
                    ep.authority(),
                    c.days_until_expiry
                ),
            });
        }
        let pinged = match probe.outcome {
            Ok(p) => p,
            Err(d) => {
                report.diagnosis = Some(d);
                return;
            }
        };
        report.challenge = pinged.challenge.as_ref().map(probe::describe_challenge);

        let mut warnings = Vec::new();
        let candidates = self
            .candidates(
                self.credentials.clone(),
                &reference,
                deadline,
                &mut warnings,
            )
            .await;
        report.warnings.append(&mut warnings);
        let credential = candidates.credentials.into_iter().next();
        report.credential = credential.as_ref().map(|c| c.origin.clone());
        let mut log = StageLog::default();
        let started = Instant::now();
        match &pinged.challenge {
            None => log.pass(
                Stage::Auth,
                started,
                "the registry asks for no authentication",
            ),
            Some(Challenge::Bearer(b)) => {
                let realm = b.realm.clone().unwrap_or_default();
                let Ok(url) = reqwest::Url::parse(&realm) else {
                    let d = Diagnosis::new(
                        Code::AuthServerError,
                        Stage::Auth,
                        format!(
                            "the challenge names the token realm {realm:?}, which is not a URL"
                        ),
                    );
                    report.diagnosis = Some(log.fail(started, d));
                    report.stages.append(&mut log.stages);
                    return;
                };
                let realm_mode = match url.scheme() {
                    "http" => TlsMode::PlainHttp,
                    _ => match self.mode_for_url(&url) {
                        TlsMode::PlainHttp => TlsMode::Verify,
                        m => m,
                    },
                };
                let realm_ep = Endpoint {
                    host: url
                        .host_str()
                        .unwrap_or_default()
                        .trim_matches(['[', ']'])
                        .to_ascii_lowercase(),
                    port: url
                        .port_or_known_default()
                        .unwrap_or(realm_mode.default_port()),
                    mode: realm_mode,
                };
                let mut realm_log = StageLog::default();
                let reached = probe::reach(
                    &self.net,
                    &realm_ep,
                    deadline,
                    &mut realm_log,
                    &mut probe::Reached::default(),
                )
                .await;
                report.realm = Some(crate::report::RealmReport {
                    url: realm.clone(),
                    stages: realm_log.stages,
                });
                if let Err(d) = reached {
                    let d = Diagnosis::new(
                        Code::AuthServerError,
                        Stage::Auth,
                        format!("the token service {realm} cannot be reached: {}", d.message),
                    );
                    report.diagnosis = Some(log.fail(started, d));
                    report.stages.append(&mut log.stages);
                    return;
                }
                // Credentials go to a plain-HTTP realm only when its host was configured so.
                let allowed = credential
                    .as_ref()
                    .filter(|_| self.realm_takes_credentials(&url));
                let request = TokenRequest {
                    client: self.net.http.for_mode(realm_mode),
                    challenge: b,
                    repository: probe_repository,
                    credential: allowed.map(|c| (&c.credential, c.origin.as_str())),
                    deadline,
                };
                let who = allowed.map_or_else(
                    || "anonymously".to_owned(),
                    |c| format!("with {}", c.origin),
                );
                match self.tokens.pull_token(&request).await {
                    Ok(_) => log.pass(
                        Stage::Auth,
                        started,
                        format!("a token was granted {who} by {realm}"),
                    ),
                    Err(f) => {
                        let d = auth_diagnosis(&f, &realm, format!("{f} ({who})"));
                        report.diagnosis = Some(log.fail(started, d));
                    }
                }
            }
            Some(Challenge::Basic { .. }) => {
                if let Some(LocatedCredential {
                    credential: Credential::Basic { username, password },
                    origin,
                }) = &credential
                {
                    let access = Access::Header {
                        value: auth::basic_header(username, password.expose()),
                        granted: GrantedAccess::Unknown,
                    };
                    match self
                        .verify_basic(&Session::default(), &ep, origin, &access, deadline)
                        .await
                    {
                        Ok(()) => log.pass(
                            Stage::Auth,
                            started,
                            format!("Basic authentication as {username} accepted ({origin})"),
                        ),
                        Err(d) => report.diagnosis = Some(log.fail(started, d)),
                    }
                } else {
                    let d = Diagnosis::new(
                        Code::AuthRequired,
                        Stage::Auth,
                        format!(
                            "{} requires a user name and password (Basic) and no credentials were found for it",
                            reference.registry()
                        ),
                    );
                    report.diagnosis = Some(log.fail(started, d));
                }
            }
            Some(Challenge::Other { scheme }) => {
                let d = Diagnosis::new(
                    Code::AuthRequired,
                    Stage::Auth,
                    format!(
                        "{} wants {scheme} authentication, which preflight does not speak",
                        reference.registry()
                    ),
                );
                report.diagnosis = Some(log.fail(started, d));
            }
        }
        report.stages.append(&mut log.stages);
    }

    /// Docker Hub's budget against what the deploy will pull: one pull per distinct Hub image
    /// and required platform (at least one), on nodes that do not have it yet. The budget is the
    /// lowest `ratelimit-remaining` Hub sent during the check.
    fn hub_budget(&self, images: &mut [ImageReport]) {
        let is_hub = |i: &ImageReport| i.registry.as_deref() == Some("docker.io");
        let Some(remaining) = images
            .iter()
            .filter(|i| is_hub(i))
            .filter_map(|i| i.rate_limit.as_ref().and_then(|r| r.remaining))
            .min()
        else {
            return;
        };
        let distinct = images.iter().filter(|i| is_hub(i)).count();
        let platforms = self.platforms.len().max(1);
        let needed = u64::try_from(distinct * platforms).unwrap_or(u64::MAX);
        let assumption = format!(
            "{distinct} distinct Docker Hub image{} × {platforms} platform{}, each pulled once by a node that lacks it",
            if distinct == 1 { "" } else { "s" },
            if platforms == 1 { "" } else { "s" }
        );
        for image in images.iter_mut().filter(|i| is_hub(i)) {
            if let Some(floor) = self.min_hub_remaining
                && remaining < floor
                && image.diagnosis.is_none()
            {
                image.diagnosis = Some(Diagnosis::new(
                    Code::RateLimitLow,
                    Stage::Manifest,
                    format!(
                        "Docker Hub has {remaining} pulls left, below the floor of {floor} set with --min-hub-remaining"
                    ),
                ));
                image.pullable = false;
            } else if remaining < needed {
                image.warnings.push(Warning {
                    code: WarningCode::RateLimitLow,
                    message: format!(
                        "Docker Hub has {remaining} pulls left and the deploy needs about {needed} ({assumption})"
                    ),
                });
            }
        }
    }

    fn endpoint(&self, r: &Reference) -> Endpoint {
        let (host, port) = match (&self.hub, r.is_docker_hub()) {
            (Some(hub), true) => split_host_port(hub),
            (None, true) => (DOCKER_HUB_API.to_owned(), None),
            _ => (r.host().to_ascii_lowercase(), r.port()),
        };
        let mode = self.mode_for(r.registry(), &host, port);
        Endpoint {
            port: port.unwrap_or(mode.default_port()),
            host,
            mode,
        }
    }

    fn mode_for(&self, registry: &str, host: &str, port: Option<u16>) -> TlsMode {
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let mut candidates = vec![registry.to_ascii_lowercase()];
        if let Some(p) = port {
            candidates.push(format!("{bracketed}:{p}"));
        }
        candidates.push(bracketed);
        candidates
            .iter()
            .find_map(|c| self.modes.get(c).copied())
            .unwrap_or_default()
    }

    /// Credentials go to a token realm over HTTPS, or over plain HTTP only when its host was
    /// configured for plain HTTP.
    fn realm_takes_credentials(&self, url: &reqwest::Url) -> bool {
        url.scheme() == "https" || self.mode_for_url(url) == TlsMode::PlainHttp
    }

    /// The mode for a token realm's URL.
    fn mode_for_url(&self, url: &reqwest::Url) -> TlsMode {
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let port = url.port();
        let authority = match port {
            Some(p) if host.contains(':') => format!("[{host}]:{p}"),
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        self.mode_for(&authority, &host, port)
    }

    async fn probe(&self, session: &Session, ep: &Endpoint, deadline: Instant) -> (Probe, bool) {
        let cell = {
            let mut probes = session
                .probes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(probes.entry(ep.clone()).or_default())
        };
        let mut ran_here = false;
        let probe = cell
            .get_or_init(|| {
                ran_here = true;
                probe::probe(&self.net, ep, deadline)
            })
            .await
            .clone();
        (probe, !ran_here)
    }

    /// The credentials to try, from the image's own source or the checker's. A source that
    /// runs programs (credential helpers) runs on a blocking thread, within the deadline.
    async fn candidates(
        &self,
        source: Option<Arc<dyn CredentialSource>>,
        reference: &Reference,
        deadline: Instant,
        warnings: &mut Vec<Warning>,
    ) -> Candidates {
        let Some(source) = source else {
            return Candidates::default();
        };
        let r = reference.clone();
        let lookup = tokio::task::spawn_blocking(move || source.candidates(&r));
        let failure = match tokio::time::timeout_at(deadline, lookup).await {
            Ok(Ok(Ok(c))) => return c,
            Ok(Ok(Err(e))) => e.to_string(),
            Ok(Err(e)) => format!("looking up credentials failed: {e}"),
            Err(_) => "looking up credentials did not finish before the deadline".to_owned(),
        };
        warnings.push(Warning {
            code: WarningCode::CredentialUnavailable,
            message: format!("{failure}; checking anonymously"),
        });
        Candidates::default()
    }

    async fn stages(
        &self,
        session: &Session,
        source: Option<Arc<dyn CredentialSource>>,
        platforms: &[Platform],
        reference: &Reference,
        deadline: Instant,
        report: &mut ImageReport,
    ) {
        let ep = self.endpoint(reference);
        let (probe, shared) = self.probe(session, &ep, deadline).await;
        report.stages = probe
            .stages
            .iter()
            .cloned()
            .map(|mut s| {
                if shared {
                    s.elapsed_ms = 0.0;
                    s.shared = true;
                }
                s
            })
            .collect();
        report.rate_limit.clone_from(&probe.rate_limit);
        let pinged = match probe.outcome {
            Ok(p) => p,
            Err(d) => {
                report.diagnosis = Some(d);
                return;
            }
        };
        // The registry answered just as the deadline passed: say so here, rather than let the
        // credential lookup or the token request be blamed for having no time left.
        if Instant::now() >= deadline {
            report.diagnosis = Some(Diagnosis::new(
                Code::Timeout,
                Stage::Auth,
                format!(
                    "the registry's connection checks took the whole deadline of {} s; nothing was left for authentication",
                    self.timeout.as_secs_f64()
                ),
            ));
            return;
        }

        let candidates = self
            .candidates(source, reference, deadline, &mut report.warnings)
            .await;
        // The kubelet tries every matching credential in order and never falls back to
        // anonymous once one matched; with none, it pulls anonymously.
        let tries: Vec<Cred> = if candidates.credentials.is_empty() {
            vec![Cred::None]
        } else {
            candidates
                .credentials
                .into_iter()
                .map(Cred::Found)
                .collect()
        };
        let count = tries.len();
        let mut failed_tries: Vec<String> = Vec::new();
        for (i, cred) in tries.into_iter().enumerate() {
            report.diagnosis = None;
            let origin = match &cred {
                Cred::Found(c) => c.origin.clone(),
                Cred::None => String::new(),
            };
            self.try_credential(
                session, platforms, reference, &ep, &pinged, cred, deadline, report,
            )
            .await;
            let Some(d) = &report.diagnosis else { break };
            let another_may_work = matches!(
                d.code,
                Code::AuthRejected
                    | Code::AccessDenied
                    | Code::AuthRequired
                    | Code::NotFoundOrUnauthorized
            );
            if i + 1 == count || !another_may_work {
                break;
            }
            failed_tries.push(format!("{origin}: {}", d.code));
        }
        // Docker Hub's 401 hides whether the repository exists. With credentials refused, an
        // anonymous try (one token request and a HEAD, no pull) tells a little more: a public
        // image the account may not see, or nothing anyone may see.
        if report.credential.is_some()
            && report
                .diagnosis
                .as_ref()
                .is_some_and(|d| d.code == Code::NotFoundOrUnauthorized)
        {
            let mut anonymous = report.clone();
            anonymous.diagnosis = None;
            anonymous.credential = None;
            self.try_credential(
                session,
                platforms,
                reference,
                &ep,
                &pinged,
                Cred::None,
                deadline,
                &mut anonymous,
            )
            .await;
            if let Some(d) = &mut report.diagnosis {
                match &anonymous.diagnosis {
                    None => {
                        let _ = write!(
                            d.message,
                            "; anonymously it can be pulled, so the repository exists and is public: the credentials are what is refused"
                        );
                    }
                    Some(a) if a.code == Code::NotFoundOrUnauthorized => {
                        let _ = write!(
                            d.message,
                            "; anonymously too: the repository does not exist, or it is private and the account used may not pull it"
                        );
                    }
                    Some(_) => {}
                }
            }
        }
        if let Some(d) = &mut report.diagnosis {
            if !failed_tries.is_empty() {
                let _ = write!(d.message, " (also tried {})", failed_tries.join("; "));
            }
            if matches!(d.code, Code::AuthRequired | Code::NotFoundOrUnauthorized)
                && !candidates.notes.is_empty()
            {
                d.hint = format!("{}; {}", candidates.notes.join("; "), d.hint);
            }
        }
    }

    /// The `auth` and `manifest` stages with one credential (or none).
    #[allow(clippy::too_many_arguments)]
    async fn try_credential(
        &self,
        session: &Session,
        platforms: &[Platform],
        reference: &Reference,
        ep: &Endpoint,
        pinged: &crate::stages::probe::Pinged,
        cred: Cred,
        deadline: Instant,
        report: &mut ImageReport,
    ) {
        let ep = ep.clone();
        let mut log = StageLog::default();
        // Kept for a registry that asks again per repository (below).
        let retry_cred = cred.clone();
        let auth = self
            .authenticate(
                session,
                reference,
                &ep,
                pinged.challenge.as_ref(),
                cred,
                deadline,
                &mut log,
                report,
            )
            .await;
        report.stages.append(&mut log.stages);
        let Some((mut access, mut with_credentials)) = auth else {
            return;
        };

        let mut started = Instant::now();
        let mut outcome = self
            .head(&ep, reference, &access, with_credentials, deadline)
            .await;
        // Some registries answer `/v2/` anonymously and ask for authentication per repository
        // (Quay does): authenticate with the manifest's challenge and ask once more, as a
        // container runtime would.
        if pinged.challenge.is_none()
            && outcome.result.is_err()
            && let Some(challenge @ (Challenge::Bearer(_) | Challenge::Basic { .. })) =
                &outcome.challenge
        {
            let auth = self
                .authenticate(
                    session,
                    reference,
                    &ep,
                    Some(challenge),
                    retry_cred,
                    deadline,
                    &mut log,
                    report,
                )
                .await;
            report.stages.append(&mut log.stages);
            let Some((retried, retried_with_credentials)) = auth else {
                return;
            };
            (access, with_credentials) = (retried, retried_with_credentials);
            started = Instant::now();
            outcome = self
                .head(&ep, reference, &access, with_credentials, deadline)
                .await;
        }
        report.tries = outcome.tries;
        if outcome.rate_limit.is_some() {
            report.rate_limit = outcome.rate_limit;
        }
        match outcome.result {
            Ok(found) => {
                let mut detail = String::new();
                if let Some(d) = &found.digest {
                    let _ = write!(detail, "{d}");
                } else {
                    detail.push_str("exists (the registry sent no Docker-Content-Digest)");
                }
                if let Some(m) = &found.media_type {
                    let _ = write!(detail, ", {m}");
                }
                if let Some(s) = found.size {
                    let _ = write!(detail, ", {s} bytes");
                }
                log.pass(Stage::Manifest, started, detail);
                report.digest = found.digest;
                report.media_type = found.media_type;
                report.size = found.size;
                if !platforms.is_empty() {
                    self.check_platforms(
                        platforms, &ep, reference, &access, deadline, &mut log, report,
                    )
                    .await;
                }
            }
            Err(d) => report.diagnosis = Some(log.fail(started, d)),
        }
        report.stages.append(&mut log.stages);
    }

    /// The `platform` stage: every required platform in the index. A GET of the index is a
    /// pull on Docker Hub: spent only when allowed, and counted.
    #[allow(clippy::too_many_arguments)]
    async fn check_platforms(
        &self,
        platforms: &[Platform],
        ep: &Endpoint,
        reference: &Reference,
        access: &Access,
        deadline: Instant,
        log: &mut StageLog,
        report: &mut ImageReport,
    ) {
        let wanted = platforms
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let media_type = report.media_type.clone().unwrap_or_default();
        let single = !platform::is_index(Some(&media_type));
        if single && !self.verify_config_platform {
            report.warnings.push(Warning {
                code: WarningCode::PlatformUnchecked,
                message: format!(
                    "{} is a single-platform manifest ({media_type}): its platform is only in its config, which is read only with --verify-config-platform, so {wanted} was not checked",
                    reference.original()
                ),
            });
            return;
        }
        if reference.is_docker_hub() && !self.allow_hub_pulls {
            report.warnings.push(Warning {
                code: WarningCode::PlatformUnchecked,
                message: format!(
                    "{wanted} not checked: reading the index of {} is a GET that Docker Hub counts as a pull; pass --allow-hub-pulls to spend one",
                    reference.original()
                ),
            });
            return;
        }
        let started = Instant::now();
        let manifest_ref = report
            .digest
            .clone()
            .unwrap_or_else(|| reference.manifest_reference());
        let fetched = if single {
            platform::config_platform(
                &self.net,
                ep,
                reference.repository(),
                &manifest_ref,
                &media_type,
                access,
                deadline,
            )
            .await
            .map(|p| vec![p])
        } else {
            platform::fetch(
                &self.net,
                ep,
                reference.repository(),
                &manifest_ref,
                &media_type,
                access,
                deadline,
            )
            .await
        };
        if reference.is_docker_hub() {
            report.hub_pulls += 1;
        }
        let offered = match fetched {
            Ok(o) => o,
            Err(why) => {
                let d = match why {
                    platform::FetchFailure::Http { failure, url } => {
                        probe::http_diagnosis(&failure, Stage::Platform, &url)
                    }
                    platform::FetchFailure::Other(message) => {
                        Diagnosis::new(Code::RegistryError, Stage::Platform, message)
                    }
                };
                report.diagnosis = Some(log.fail(started, d));
                return;
            }
        };
        let listed = offered
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let missing: Vec<String> = platforms
            .iter()
            .filter(|p| !offered.iter().any(|o| p.served_by(o)))
            .map(ToString::to_string)
            .collect();
        if missing.is_empty() {
            log.pass(Stage::Platform, started, format!("offers {listed}"));
        } else {
            let offers = if listed.is_empty() {
                "no platform at all".to_owned()
            } else {
                listed
            };
            let d = Diagnosis::new(
                Code::PlatformMissing,
                Stage::Platform,
                format!(
                    "{} has no manifest for {}; it offers {offers}",
                    reference.original(),
                    missing.join(", ")
                ),
            );
            report.diagnosis = Some(log.fail(started, d));
        }
    }

    /// The manifest HEAD with the access obtained.
    async fn head(
        &self,
        ep: &Endpoint,
        reference: &Reference,
        access: &Access,
        with_credentials: bool,
        deadline: Instant,
    ) -> manifest::Outcome {
        let ctx = AccessContext {
            with_credentials,
            hides_missing: reference.is_docker_hub(),
            granted: access.granted(),
        };
        manifest::head(&self.net, ep, reference, access, ctx, deadline).await
    }

    /// The `auth` stage. `None` when it failed (the diagnosis is in `report`); else the access to
    /// use and whether credentials went into it.
    #[allow(clippy::too_many_arguments)]
    async fn authenticate(
        &self,
        session: &Session,
        reference: &Reference,
        ep: &Endpoint,
        challenge: Option<&Challenge>,
        cred: Cred,
        deadline: Instant,
        log: &mut StageLog,
        report: &mut ImageReport,
    ) -> Option<(Access, bool)> {
        let started = Instant::now();
        let registry = reference.registry();
        let fail = |log: &mut StageLog, report: &mut ImageReport, d: Diagnosis| {
            report.diagnosis = Some(log.fail(started, d));
            None
        };
        match challenge {
            None => {
                log.pass(
                    Stage::Auth,
                    started,
                    "the registry asks for no authentication",
                );
                Some((Access::Anonymous, false))
            }
            Some(Challenge::Basic { .. }) => match cred {
                Cred::None => fail(
                    log,
                    report,
                    Diagnosis::new(
                        Code::AuthRequired,
                        Stage::Auth,
                        format!(
                            "{registry} requires a user name and password (Basic) and no credentials were found for it"
                        ),
                    ),
                ),
                Cred::Found(LocatedCredential {
                    credential: Credential::Basic { username, password },
                    origin,
                    ..
                }) => {
                    report.credential = Some(origin.clone());
                    let header = auth::basic_header(&username, password.expose());
                    let access = Access::Header {
                        value: header,
                        granted: GrantedAccess::Unknown,
                    };
                    match self
                        .verify_basic(session, ep, &origin, &access, deadline)
                        .await
                    {
                        Ok(()) => {
                            log.pass(
                                Stage::Auth,
                                started,
                                format!("Basic authentication as {username} accepted ({origin})"),
                            );
                            Some((access, true))
                        }
                        Err(d) => fail(log, report, d),
                    }
                }
                Cred::Found(c) => {
                    report.credential = Some(c.origin.clone());
                    fail(
                        log,
                        report,
                        Diagnosis::new(
                            Code::AuthRejected,
                            Stage::Auth,
                            format!(
                                "{registry} wants a user name and password (Basic), but the credential found ({}) is an identity token, which only a token service accepts",
                                c.origin
                            ),
                        ),
                    )
                }
            },
            Some(Challenge::Bearer(b)) => {
                self.bearer(reference, b, cred, deadline, log, report, started)
                    .await
            }
            Some(Challenge::Other { scheme }) => fail(
                log,
                report,
                Diagnosis::new(
                    Code::AuthRequired,
                    Stage::Auth,
                    format!(
                        "{registry} wants {scheme} authentication, which preflight does not speak"
                    ),
                ),
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn bearer(
        &self,
        reference: &Reference,
        challenge: &BearerChallenge,
        cred: Cred,
        deadline: Instant,
        log: &mut StageLog,
        report: &mut ImageReport,
        started: Instant,
    ) -> Option<(Access, bool)> {
        let realm = challenge.realm.as_deref().unwrap_or_default();
        let realm_url = reqwest::Url::parse(realm).ok();
        let realm_mode = realm_url
            .as_ref()
            .map_or(TlsMode::Verify, |u| self.mode_for_url(u));
        let located = match cred {
            Cred::Found(c) => Some(c),
            Cred::None => None,
        };
        // Credentials go to a realm over plain HTTP only when that host was configured for it.
        let credential = match located {
            Some(c)
                if realm_url
                    .as_ref()
                    .is_some_and(|u| !self.realm_takes_credentials(u)) =>
            {
                report.warnings.push(Warning {
                    code: WarningCode::CredentialUnavailable,
                    message: format!(
                        "credentials from {} were not sent to the token service {realm}: it is plain HTTP and its host was not configured with --plain-http",
                        c.origin
                    ),
                });
                None
            }
            other => other,
        };
        if let Some(c) = &credential {
            report.credential = Some(c.origin.clone());
        }
        let request = TokenRequest {
            client: self.net.http.for_mode(realm_mode),
            challenge,
            repository: reference.repository(),
            credential: credential
                .as_ref()
                .map(|c| (&c.credential, c.origin.as_str())),
            deadline,
        };
        let who = credential.as_ref().map_or_else(
            || "anonymously".to_owned(),
            |c| format!("with {}", c.origin),
        );
        match self.tokens.pull_token(&request).await {
            Ok(access) => {
                let with_credentials = credential.is_some();
                if let GrantedAccess::Actions(actions) = access.granted()
                    && !actions.iter().any(|a| a == "pull" || a == "*")
                    && !reference.is_docker_hub()
                {
                    let d = if with_credentials {
                        Diagnosis::new(
                            Code::AccessDenied,
                            Stage::Auth,
                            format!(
                                "the token service {realm} granted no pull access to {} {who}: the account may not pull it, or the repository does not exist",
                                reference.repository()
                            ),
                        )
                    } else {
                        Diagnosis::new(
                            Code::AuthRequired,
                            Stage::Auth,
                            format!(
                                "the token service {realm} grants no anonymous pull access to {}: credentials are needed and none were found for {}",
                                reference.repository(),
                                reference.registry()
                            ),
                        )
                    };
                    report.diagnosis = Some(log.fail(started, d));
                    return None;
                }
                log.pass(Stage::Auth, started, format!("token from {realm} {who}"));
                Some((access, with_credentials))
            }
            Err(f) => {
                let mut msg = f.to_string();
                if credential.is_some() {
                    let _ = write!(msg, " (credentials {who})");
                }
                let d = auth_diagnosis(&f, realm, msg);
                report.diagnosis = Some(log.fail(started, d));
                None
            }
        }
    }

    /// Checks Basic credentials once per registry and credential with `GET /v2/`.
    async fn verify_basic(
        &self,
        session: &Session,
        ep: &Endpoint,
        origin: &str,
        access: &Access,
        deadline: Instant,
    ) -> Result<(), Diagnosis> {
        let cell = {
            let mut m = session
                .basic
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(m.entry((ep.clone(), origin.to_owned())).or_default())
        };
        cell.get_or_init(|| async {
            let url = format!("{}/v2/", ep.base_url());
            let started = Instant::now();
            let req = access.apply(self.net.http.for_mode(ep.mode).get(&url));
            let resp = match tokio::time::timeout_at(deadline, req.send()).await {
                Err(_) => return Err(probe::timeout_diagnosis(Stage::Auth, &url, started)),
                Ok(Err(e)) => {
                    let f = transport::classify_reqwest(&e, &ep.host);
                    return Err(probe::http_diagnosis(&f, Stage::Auth, &url));
                }
                Ok(Ok(r)) => r,
            };
            match resp.status() {
                s if s.is_success() => Ok(()),
                StatusCode::UNAUTHORIZED => Err(Diagnosis::new(
                    Code::AuthRejected,
                    Stage::Auth,
                    format!(
                        "{} rejected the user name and password from {origin} (401)",
                        ep.authority()
                    ),
                )),
                StatusCode::FORBIDDEN => Err(Diagnosis::new(
                    Code::AccessDenied,
                    Stage::Auth,
                    format!(
                        "{} accepted the credentials from {origin} but refuses access (403)",
                        ep.authority()
                    ),
                )),
                StatusCode::TOO_MANY_REQUESTS => Err(probe::rate_limited(
                    Stage::Auth,
                    &url,
                    resp.headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()),
                    None,
                    "",
                )),
                s => Err(Diagnosis::new(
                    Code::RegistryError,
                    Stage::Auth,
                    format!("GET {url} with credentials answered {s}"),
                )),
            }
        })
        .await
        .clone()
    }
}

/// The tag must point at what the push produced: anything else means the push went elsewhere,
/// or someone re-tagged since.
fn compare_digest(reference: &Reference, expected: &Digest, report: &mut ImageReport) {
    let what = reference
        .tag()
        .map_or_else(|| reference.canonical(), |t| format!("tag {t}"));
    match report.digest.as_deref() {
        Some(found) if found == expected.to_string() => {}
        Some(found) => {
            if let Some(last) = report.stages.last_mut() {
                last.ok = false;
            }
            report.diagnosis = Some(Diagnosis::new(
                Code::DigestMismatch,
                Stage::Manifest,
                format!(
                    "{what} of {}/{} points at {found}, but {expected} was expected",
                    reference.registry(),
                    reference.repository()
                ),
            ));
        }
        None => report.warnings.push(Warning {
            code: WarningCode::DigestUnverified,
            message: format!(
                "{expected} was expected, but the registry sent no Docker-Content-Digest to compare it with"
            ),
        }),
    }
}

/// The diagnosis for a failed token request, `message` saying what happened and with what.
fn auth_diagnosis(f: &AuthFailure, realm: &str, message: String) -> Diagnosis {
    let code = match f {
        AuthFailure::Required { .. } => Code::AuthRequired,
        AuthFailure::Rejected { .. } => Code::AuthRejected,
        AuthFailure::Denied { .. } => Code::AccessDenied,
        AuthFailure::RateLimited { retry_after, .. } => {
            // Keeps the Retry-After hint of any 429.
            let mut d = probe::rate_limited(Stage::Auth, realm, retry_after.as_deref(), None, "");
            d.message = message;
            return d;
        }
        _ => Code::AuthServerError,
    };
    Diagnosis::new(code, Stage::Auth, message)
}

fn split_host_port(s: &str) -> (String, Option<u16>) {
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
    fn host_port_split() {
        assert_eq!(split_host_port("a:5000"), ("a".into(), Some(5000)));
        assert_eq!(split_host_port("[::1]:443"), ("::1".into(), Some(443)));
        assert_eq!(split_host_port("a"), ("a".into(), None));
    }
}
