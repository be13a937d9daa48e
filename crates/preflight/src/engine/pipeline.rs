//! The per-image pipeline: the stage order, written once. The registry-wide stages run once per
//! registry in a [`Session`] and are shared; then, for each credential the node would try, `auth`
//! → `manifest` → `platform` → `blobs` (at [`Depth::Blobs`], the default); then the expected
//! digest. The credential loop and the deadline are handled here and nowhere else; what each
//! stage did goes into one [`Trail`], from which the image's report is made.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::diagnosis::lint;
use crate::diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
use crate::engine::checker::Depth;
use crate::engine::checker::Inner;
use crate::engine::request::ImageRequest;
use crate::engine::route::Hop;
use crate::model::credentials::{Candidates, CredentialSource, LocatedCredential};
use crate::model::platform::Platform;
use crate::model::reference::{Digest, Reference};
use crate::registry::endpoint::Endpoint;
use crate::report::{HostRole, HostTried, ImageReport, StageResult};
use crate::stages::auth::{self, AuthEnv, AuthRequest, BasicChecks, Purpose};
use crate::stages::blobs::{self, BlobChecks, Wanted};
use crate::stages::manifest;
use crate::stages::platform::{self, Allowance};
use crate::stages::probe::{self, Pinged, Probe};
use crate::stages::{Target, Trail, digest};

type ProbeCell = Arc<OnceCell<Probe>>;

/// How long a mirror that is not the last host gets to answer its connection checks, whatever
/// the image's deadline: the runtime would go on to the next host, after its own dial timeout.
const MIRROR_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// What one `check` call shares between its images: the registry-wide stages and Basic
/// verifications. Kept per call, so a long-lived checker never serves yesterday's outage; tokens,
/// which expire on their own, are kept across calls.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Per endpoint, and whether probed under a mirror's short deadline: a mirror's quick
    /// give-up is never the answer for a host given the image's whole deadline.
    probes: Mutex<HashMap<(Endpoint, bool), ProbeCell>>,
    pub(crate) basic: BasicChecks,
    blobs: BlobChecks,
}

/// One image, parsed, with what it is checked with.
struct Image {
    reference: Reference,
    source: Option<Arc<dyn CredentialSource>>,
    platforms: Vec<Platform>,
    expected: Option<Digest>,
}

impl Inner {
    /// Checks one image: the reference, then the pipeline within the image's deadline.
    pub(crate) async fn check_image(
        self: Arc<Self>,
        session: &Session,
        req: ImageRequest,
    ) -> ImageReport {
        let mut report = ImageReport::new(req.reference.clone(), req.sources);
        let reference =
            match Reference::parse_with(&req.reference, self.runtime.reference_grammar()) {
                Ok(r) => r,
                Err(e) => {
                    report.stages.push(StageResult {
                        stage: Stage::Reference,
                        ok: false,
                        elapsed_ms: 0.0,
                        detail: None,
                        shared: false,
                    });
                    report.diagnosis = Some(Diagnosis::new(
                        Code::InvalidReference,
                        Stage::Reference,
                        e.to_string(),
                    ));
                    return report;
                }
            };
        report.canonical = Some(reference.canonical());
        report.registry = Some(reference.registry().to_owned());
        report.repository = Some(reference.repository().to_owned());
        report.tag = reference.tag().map(str::to_owned);
        report.runtime = Some(self.runtime.to_string());
        let mut trail = Trail {
            warnings: lint::reference_warnings(&reference),
            ..Trail::default()
        };
        for w in req.warnings {
            if !trail.warnings.contains(&w) {
                trail.warnings.push(w);
            }
        }
        let outcome = if let Some(d) = req.failure {
            Err(d)
        } else {
            let image = Image {
                source: req.credentials.or_else(|| self.credentials.clone()),
                platforms: if self.platforms.is_empty() {
                    req.platforms
                } else {
                    self.platforms.clone()
                },
                expected: req.expected_digest,
                reference,
            };
            self.within_deadline(session, &image, &mut trail).await
        };
        trail.into_report(&mut report, outcome);
        tracing::info!(
            image = %report.reference,
            pullable = report.pullable,
            code = report.diagnosis.as_ref().map_or("", |d| d.code.as_str()),
            "checked"
        );
        report
    }

    /// The pipeline, with a backstop: every wait in it has the deadline already; this only
    /// guarantees it.
    async fn within_deadline(
        &self,
        session: &Session,
        image: &Image,
        trail: &mut Trail,
    ) -> Result<(), Diagnosis> {
        let deadline = Instant::now() + self.timeout;
        let grace = deadline + Duration::from_secs(2);
        let run = self.pipeline(session, image, deadline, trail);
        match tokio::time::timeout_at(grace, run).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Diagnosis::new(
                Code::Timeout,
                trail.stages.last().map_or(Stage::Dns, |s| s.stage),
                format!(
                    "the check of {} did not finish within its deadline of {} s",
                    image.reference,
                    self.timeout.as_secs_f64()
                ),
            )),
        }
    }

    /// The hosts the node's runtime tries, in order, each through the whole pipeline until one
    /// can serve the image; then the expected digest. When none can, the registry's own answer
    /// is the diagnosis (the mirrors' are in `hosts_tried`).
    async fn pipeline(
        &self,
        session: &Session,
        image: &Image,
        deadline: Instant,
        trail: &mut Trail,
    ) -> Result<(), Diagnosis> {
        let route = match self.route(&image.reference, deadline).await {
            Ok(route) => route,
            Err(d) => return Err(trail.fail(Instant::now(), d)),
        };
        let mut tried: Vec<HostTried> = Vec::new();
        // Hosts that failed before the last: (url, role, why).
        let mut failed_before: Vec<(String, HostRole, Diagnosis)> = Vec::new();
        let count = route.hops.len();
        let before = trail.warnings.clone();
        let mut outcome = Ok(());
        for (i, hop) in route.hops.iter().enumerate() {
            let mut attempt = Trail::default();
            // A mirror that does not answer costs the runtime its dial timeout; preflight gives
            // it a short deadline of its own and goes on, as the runtime would, only sooner.
            let probe_deadline = if i + 1 < count {
                deadline.min(Instant::now() + MIRROR_PROBE_TIMEOUT)
            } else {
                deadline
            };
            outcome = self
                .through(
                    session,
                    image,
                    hop,
                    [probe_deadline, deadline],
                    &mut attempt,
                    &mut tried,
                )
                .await;
            trail.adopt(&before, attempt);
            match &outcome {
                Ok(()) => break,
                Err(d) if i + 1 < count => {
                    let url = tried.last().map_or_else(String::new, |t| t.url.clone());
                    failed_before.push((url, hop.role, d.clone()));
                }
                Err(_) => {}
            }
        }
        if tried.len() > 1 {
            trail.hosts_tried = tried;
        }
        match outcome {
            Ok(()) => {
                for (url, _, d) in failed_before.iter().filter(|f| f.1 == HostRole::Mirror) {
                    trail.warn(self.dead_mirror_warning(url, d, trail.host.as_deref()));
                }
            }
            Err(d) => {
                if failed_before.is_empty() {
                    return Err(d);
                }
                let also = failed_before
                    .iter()
                    .map(|(url, _, m)| format!("{url}: {}", m.code))
                    .collect::<Vec<_>>()
                    .join("; ");
                return Err(d.with_message_suffix(format!(" (tried before it: {also})")));
            }
        }
        let reference = &image.reference;
        match &image.expected {
            Some(expected) => {
                let found = trail.manifest.as_ref().and_then(|m| m.digest.clone());
                digest::compare(reference, expected, found.as_deref(), trail)
            }
            None => Ok(()),
        }
    }

    /// A mirror failed and a later host served the image: the runtime pulls, after waiting on
    /// the mirror when it did not answer.
    fn dead_mirror_warning(&self, url: &str, d: &Diagnosis, served_by: Option<&str>) -> Warning {
        let next = served_by.unwrap_or("the next host");
        let delay = if matches!(d.code, Code::TcpTimeout | Code::Timeout | Code::DnsTimeout) {
            format!(
                "; it did not answer, so {} waits about {} s on it (its dial timeout) before each pull goes on",
                self.runtime,
                self.runtime.dead_mirror_delay_secs()
            )
        } else {
            String::new()
        };
        Warning::new(
            WarningCode::MirrorUnavailable,
            format!(
                "mirror {url} cannot serve the image ({}: {}); the node pulls from {next}{delay}",
                d.code, d.message
            ),
        )
    }

    /// One host's pipeline: its registry-wide stages (falling back to plain HTTP as the runtime
    /// does), the credentials to try for it, and each credential's stages.
    async fn through(
        &self,
        session: &Session,
        image: &Image,
        hop: &Hop,
        [probe_deadline, deadline]: [Instant; 2],
        trail: &mut Trail,
        tried: &mut Vec<HostTried>,
    ) -> Result<(), Diagnosis> {
        let (ep, pinged) = match self
            .reach_hop(session, hop, [probe_deadline, deadline], trail, tried)
            .await
        {
            Ok(reached) => reached,
            Err((ep, d)) => {
                trail.host = Some(ep.base_url());
                tried.push(HostTried::new(ep.base_url(), hop.role, Some(d.code)));
                return Err(d.with_registry_hint(hop.profile.flavor));
            }
        };
        trail.host = Some(ep.base_url());
        // The registry answered just as the deadline passed: say so here, rather than let the
        // credential lookup or the token request be blamed for having no time left.
        if Instant::now() >= deadline {
            let d = Diagnosis::new(
                Code::Timeout,
                Stage::Auth,
                format!(
                    "the registry's connection checks took the whole deadline of {} s; nothing was left for authentication",
                    self.timeout.as_secs_f64()
                ),
            );
            tried.push(HostTried::new(ep.base_url(), hop.role, Some(d.code)));
            return Err(d);
        }
        let candidates = candidates(
            image.source.clone(),
            &hop.reference,
            deadline,
            &mut trail.warnings,
        )
        .await;
        let target = Target {
            net: &self.net,
            ep: &ep,
            profile: hop.profile,
            reference: &hop.reference,
            deadline,
        };
        let outcome = self
            .each_credential(
                session,
                target,
                &pinged,
                candidates,
                &image.platforms,
                trail,
            )
            .await;
        tried.push(HostTried::new(
            ep.base_url(),
            hop.role,
            outcome.as_ref().err().map(|d| d.code),
        ));
        outcome.map_err(|d| d.with_registry_hint(hop.profile.flavor))
    }

    /// The registry-wide stages of one host, and the runtime's fallback to plain HTTP when
    /// HTTPS fails the way it falls back on (the HTTPS try is then in `tried`).
    async fn reach_hop(
        &self,
        session: &Session,
        hop: &Hop,
        deadlines: [Instant; 2],
        trail: &mut Trail,
        tried: &mut Vec<HostTried>,
    ) -> Result<(Endpoint, Pinged), (Endpoint, Diagnosis)> {
        match self.shared_probe(session, &hop.ep, deadlines, trail).await {
            Ok(pinged) => Ok((hop.ep.clone(), pinged)),
            Err(d) => match hop.fallback_after(d.code) {
                Some(plain) => {
                    tried.push(HostTried::new(hop.ep.base_url(), hop.role, Some(d.code)));
                    match self.shared_probe(session, &plain, deadlines, trail).await {
                        Ok(pinged) => Ok((plain, pinged)),
                        Err(d) => Err((plain, d)),
                    }
                }
                None => Err((hop.ep.clone(), d)),
            },
        }
    }

    /// The registry-wide stages, run by the first image of the registry and shared by the rest
    /// (whose copies are marked shared and take no time).
    async fn shared_probe(
        &self,
        session: &Session,
        ep: &Endpoint,
        [deadline, image_deadline]: [Instant; 2],
        trail: &mut Trail,
    ) -> Result<Pinged, Diagnosis> {
        let short = deadline < image_deadline;
        let cell = {
            let mut probes = session
                .probes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(probes.entry((ep.clone(), short)).or_default())
        };
        let mut ran_here = false;
        let probe = cell
            .get_or_init(|| {
                ran_here = true;
                probe::probe(&self.net, ep, deadline)
            })
            .await;
        trail.stages = probe
            .stages
            .iter()
            .cloned()
            .map(|mut s| {
                if !ran_here {
                    s.elapsed_ms = 0.0;
                    s.shared = true;
                }
                s
            })
            .collect();
        trail.rate_limit.clone_from(&probe.rate_limit);
        probe.outcome.clone()
    }

    /// Tries every credential in order, as the kubelet does: it never falls back to anonymous
    /// once one matched, and with none it pulls anonymously. A try that fails in a way another
    /// credential may not is final.
    async fn each_credential(
        &self,
        session: &Session,
        target: Target<'_>,
        pinged: &Pinged,
        candidates: Candidates,
        platforms: &[Platform],
        trail: &mut Trail,
    ) -> Result<(), Diagnosis> {
        let tries: Vec<Option<LocatedCredential>> = if candidates.credentials.is_empty() {
            vec![None]
        } else {
            candidates.credentials.into_iter().map(Some).collect()
        };
        let count = tries.len();
        let mut failed_tries: Vec<String> = Vec::new();
        let mut last = Ok(());
        for (i, cred) in tries.iter().enumerate() {
            last = self
                .attempt(session, target, pinged, cred.as_ref(), platforms, trail)
                .await;
            let Err(d) = &last else { break };
            if i + 1 == count || !another_may_work(d.code) {
                break;
            }
            let origin = cred.as_ref().map_or("", |c| c.origin.as_str());
            failed_tries.push(format!("{origin}: {}", d.code));
        }
        let Err(mut d) = last else { return Ok(()) };
        if trail.credential.is_some() && target.profile.stale_credentials_possible(d.code, d.stage)
        {
            self.explain_hidden(session, target, pinged, platforms, &mut d)
                .await;
        }
        if !failed_tries.is_empty() {
            d = d.with_message_suffix(format!(" (also tried {})", failed_tries.join("; ")));
        }
        if matches!(d.code, Code::AuthRequired | Code::NotFoundOrUnauthorized)
            && !candidates.notes.is_empty()
        {
            d = d.with_hint_prefix(candidates.notes.join("; "));
        }
        Err(d)
    }

    /// A registry that hides whether a repository exists (Docker Hub) refused the credentials,
    /// or one whose stale credentials break public pulls (GHCR, ECR Public) refused them: an
    /// anonymous try (one token request and a HEAD, no pull) tells a little more — a public
    /// image the credentials are refused for, or nothing anyone may see.
    async fn explain_hidden(
        &self,
        session: &Session,
        target: Target<'_>,
        pinged: &Pinged,
        platforms: &[Platform],
        d: &mut Diagnosis,
    ) {
        let mut scratch = Trail::default();
        let anonymous = self
            .attempt(session, target, pinged, None, platforms, &mut scratch)
            .await;
        match anonymous {
            Ok(()) => d.message.push_str(
                "; anonymously it can be pulled, so the repository exists and is public: the credentials are what is refused",
            ),
            Err(a) if a.code == Code::NotFoundOrUnauthorized => d.message.push_str(
                "; anonymously too: the repository does not exist, or it is private and the account used may not pull it",
            ),
            Err(_) => {}
        }
    }

    /// One credential's stages; credentials kept from a plain-HTTP token service fail the attempt
    /// as `credentials-withheld` when it could not complete without them, else they are a warning.
    async fn attempt(
        &self,
        session: &Session,
        target: Target<'_>,
        pinged: &Pinged,
        cred: Option<&LocatedCredential>,
        platforms: &[Platform],
        trail: &mut Trail,
    ) -> Result<(), Diagnosis> {
        let outcome = self
            .stages_with(session, target, pinged, cred, platforms, trail)
            .await;
        let Some(withheld) = trail.withheld.take() else {
            return outcome;
        };
        match outcome {
            Err(d) if another_may_work(d.code) => Err(withheld.failure(&d)),
            other => {
                trail.warn(withheld.warning());
                other
            }
        }
    }

    /// The `auth`, `manifest`, `platform` and `blobs` stages with one credential (or none).
    async fn stages_with(
        &self,
        session: &Session,
        target: Target<'_>,
        pinged: &Pinged,
        cred: Option<&LocatedCredential>,
        platforms: &[Platform],
        trail: &mut Trail,
    ) -> Result<(), Diagnosis> {
        let env = AuthEnv {
            net: &self.net,
            tokens: &self.tokens,
            basic: &session.basic,
            hosts: &self.hosts,
            runtime: self.runtime,
        };
        let request = AuthRequest {
            ep: target.ep,
            registry: target.reference.registry(),
            repository: target.reference.repository(),
            profile: target.profile,
            purpose: Purpose::Pull,
            deadline: target.deadline,
        };
        let mut authed =
            auth::authenticate(env, request, pinged.challenge.as_ref(), cred, trail).await?;
        // For the pull path the manifest is read at once (a GET): unless a GET is a pull that
        // was not allowed.
        let with_body =
            self.depth == Depth::Blobs && (self.allow_hub_pulls || !target.profile.counts_pulls());
        let mut started = Instant::now();
        let mut outcome =
            manifest::head(target, &authed.access, authed.with_credentials, with_body).await;
        // Some registries answer `/v2/` anonymously and ask for authentication per repository
        // (Quay does): authenticate with the manifest's challenge and ask once more, as a
        // container runtime would.
        if pinged.challenge.is_none()
            && outcome.result.is_err()
            && let Some(
                challenge @ (crate::model::challenge::Challenge::Bearer(_)
                | crate::model::challenge::Challenge::Basic { .. }),
            ) = &outcome.challenge
        {
            authed = auth::authenticate(env, request, Some(challenge), cred, trail).await?;
            started = Instant::now();
            outcome =
                manifest::head(target, &authed.access, authed.with_credentials, with_body).await;
        }
        trail.tries = outcome.tries;
        if outcome.rate_limit.is_some() {
            trail.rate_limit = outcome.rate_limit;
        }
        if with_body && target.profile.counts_pulls() {
            trail.hub_pulls += 1;
        }
        let found = outcome.result.map_err(|d| trail.fail(started, d))?;
        trail.pass(Stage::Manifest, started, manifest::describe_found(&found));
        trail.manifest = Some(found.summary());
        if !platforms.is_empty() {
            trail.platforms = platforms.iter().map(ToString::to_string).collect();
            let allowance = Allowance {
                hub_pulls: self.allow_hub_pulls,
                config: self.verify_config_platform,
            };
            platform::check(target, &authed.access, allowance, platforms, &found, trail).await?;
        }
        if self.depth != Depth::Blobs {
            return Ok(());
        }
        let assumed = [Platform {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
        }];
        let wanted = if platforms.is_empty() {
            trail.platforms = vec![assumed[0].to_string()];
            trail.platform_assumed = true;
            Wanted {
                platforms: &assumed,
                assumed: true,
            }
        } else {
            Wanted {
                platforms,
                assumed: false,
            }
        };
        blobs::check(
            target,
            &authed.access,
            &found,
            &wanted,
            self.allow_hub_pulls,
            &session.blobs,
            trail,
        )
        .await
    }
}

impl Trail {
    /// Writes what the stages found, and the outcome, into the image's report.
    fn into_report(self, report: &mut ImageReport, outcome: Result<(), Diagnosis>) {
        report.stages = self.stages;
        report.warnings = self.warnings;
        report.credential = self.credential;
        report.hub_pulls = self.hub_pulls;
        report.tries = self.tries;
        report.rate_limit = self.rate_limit;
        report.platforms = self.platforms;
        report.platform_assumed = self.platform_assumed;
        report.host = self.host;
        report.hosts_tried = self.hosts_tried;
        if let Some(found) = self.manifest {
            report.digest = found.digest;
            report.media_type = found.media_type;
            report.size = found.size;
        }
        report.diagnosis = outcome.err();
        report.pullable = report.diagnosis.is_none();
    }
}

/// Whether a failure with one credential leaves hope for the next one.
fn another_may_work(code: Code) -> bool {
    matches!(
        code,
        Code::AuthRejected | Code::AccessDenied | Code::AuthRequired | Code::NotFoundOrUnauthorized
    )
}

/// The credentials to try, from the image's own source or the checker's. A source that runs
/// programs (credential helpers) runs on a blocking thread, within the deadline. A source that
/// fails is a warning, and the image is checked anonymously.
pub(crate) async fn candidates(
    source: Option<Arc<dyn CredentialSource>>,
    reference: &Reference,
    deadline: Instant,
    warnings: &mut Vec<Warning>,
) -> Candidates {
    let Some(source) = source else {
        return Candidates::default();
    };
    let r = reference.clone();
    let lookup = tokio::task::spawn_blocking(move || source.resolve(&r, deadline.into_std()));
    let failure = match tokio::time::timeout_at(deadline, lookup).await {
        Ok(Ok(Ok(mut c))) => {
            warnings.append(&mut c.warnings);
            return c;
        }
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
