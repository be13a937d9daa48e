//! The registry walk (`preflight registry`): one registry, step by step, as a person testing
//! connectivity by hand would — the shared stages, a TCP connect to every address, the
//! certificate, the challenge, the token service's own reachability and, with credentials,
//! whether they are accepted. It runs the same stage functions as a check.

use std::net::SocketAddr;

use tokio::time::Instant;

use crate::diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
use crate::engine::checker::Inner;
use crate::engine::pipeline::candidates;
use crate::model::challenge::Challenge;
use crate::model::reference::Reference;
use crate::net::tcp;
use crate::registry::endpoint::Endpoint;
use crate::registry::profile::Profile;
use crate::report::{AddressResult, RealmReport, RegistryReport};
use crate::stages::auth::{self, AuthEnv, AuthRequest, BasicChecks, Purpose};
use crate::stages::ping::describe_challenge;
use crate::stages::probe::{self, Reached};
use crate::stages::{Trail, elapsed_ms};

/// A repository that no one has: the walk needs a reference, not an image.
const PROBE_REPOSITORY: &str = "preflight/connectivity-check";

/// Walks `registry` (`HOST[:PORT]` as an image reference names it; `docker.io` is Docker Hub).
pub(crate) async fn walk(inner: &Inner, registry: &str) -> RegistryReport {
    let deadline = Instant::now() + inner.timeout;
    let mut report = RegistryReport::new(registry.to_owned());
    let given = registry.trim().trim_end_matches('/');
    let reference = match Reference::parse(&format!("{given}/{PROBE_REPOSITORY}")) {
        Ok(r) if !given.is_empty() && !given.contains('/') => r,
        Ok(_) | Err(_) => {
            report.diagnosis = Some(Diagnosis::new(
                Code::InvalidReference,
                Stage::Reference,
                format!("{registry:?} is not a registry HOST[:PORT]"),
            ));
            return report;
        }
    };
    reference.registry().clone_into(&mut report.registry);
    let flavor = Profile::of(&reference).flavor;
    report.diagnosis = walk_stages(inner, &reference, deadline, &mut report)
        .await
        .err()
        .map(|d| d.with_registry_hint(flavor));
    report.ok = report.diagnosis.is_none();
    report
}

/// The shared stages, every address, then authentication.
async fn walk_stages(
    inner: &Inner,
    reference: &Reference,
    deadline: Instant,
    report: &mut RegistryReport,
) -> Result<(), Diagnosis> {
    let ep = inner.endpoint(reference);
    report.endpoint = ep.base_url();
    let probe = probe::probe(&inner.net, &ep, deadline).await;
    report.stages = probe.stages;
    report.rate_limit = probe.rate_limit;
    report.certificate.clone_from(&probe.reached.certificate);
    report.addresses = connect_each(&ep, &probe.reached, deadline).await;
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
    let pinged = probe.outcome?;
    report.challenge = pinged.challenge.as_ref().map(describe_challenge);

    let candidates = candidates(
        inner.credentials.clone(),
        reference,
        deadline,
        &mut report.warnings,
    )
    .await;
    let credential = candidates.credentials.into_iter().next();
    report.credential = credential.as_ref().map(|c| c.origin.clone());
    let mut trail = Trail::default();
    let outcome = async {
        if let Some(Challenge::Bearer(b)) = &pinged.challenge {
            let realm = b.realm.clone().unwrap_or_default();
            let (realm_report, reached) = reach_realm(inner, &realm, deadline, &mut trail).await;
            report.realm = realm_report;
            reached?;
        }
        let basic = BasicChecks::default();
        let env = AuthEnv {
            net: &inner.net,
            tokens: &inner.tokens,
            basic: &basic,
            hosts: &inner.hosts,
            runtime: inner.runtime,
        };
        let request = AuthRequest {
            ep: &ep,
            registry: reference.registry(),
            repository: PROBE_REPOSITORY,
            profile: Profile::of(reference),
            purpose: Purpose::Walk,
            deadline,
        };
        auth::authenticate(
            env,
            request,
            pinged.challenge.as_ref(),
            credential.as_ref(),
            &mut trail,
        )
        .await
    }
    .await;
    report.stages.append(&mut trail.stages);
    outcome.map(|_| ())
}

/// A TCP connect to every address the name resolved to.
async fn connect_each(ep: &Endpoint, reached: &Reached, deadline: Instant) -> Vec<AddressResult> {
    let mut results = Vec::new();
    for ip in &reached.addresses {
        let addr = SocketAddr::new(*ip, ep.port);
        let started = Instant::now();
        let result = tcp::connect_any(&[addr], deadline).await;
        results.push(AddressResult {
            address: addr.to_string(),
            ok: result.is_ok(),
            elapsed_ms: elapsed_ms(started),
            error: result
                .err()
                .and_then(|f| f.first().map(ToString::to_string)),
        });
    }
    results
}

/// The token service's own `dns`, `tcp` and `tls` (its report, when its URL parses): a realm
/// that cannot be reached fails the `auth` stage before any token is asked for.
async fn reach_realm(
    inner: &Inner,
    realm: &str,
    deadline: Instant,
    trail: &mut Trail,
) -> (Option<RealmReport>, Result<(), Diagnosis>) {
    let started = Instant::now();
    let Ok(url) = reqwest::Url::parse(realm) else {
        return (
            None,
            Err(trail.fail(
                started,
                Diagnosis::new(
                    Code::AuthServerError,
                    Stage::Auth,
                    format!("the challenge names the token realm {realm:?}, which is not a URL"),
                ),
            )),
        );
    };
    let realm_ep = Endpoint::of_url(&url, inner.hosts.realm_mode(&url));
    let mut realm_trail = Trail::default();
    let reached = probe::reach(
        &inner.net,
        &realm_ep,
        deadline,
        &mut realm_trail,
        &mut Reached::default(),
    )
    .await;
    let report = RealmReport {
        url: realm.to_owned(),
        stages: realm_trail.stages,
    };
    let reached = reached.map(|_| ()).map_err(|d| {
        trail.fail(
            started,
            Diagnosis::new(
                Code::AuthServerError,
                Stage::Auth,
                format!("the token service {realm} cannot be reached: {}", d.message),
            ),
        )
    });
    (Some(report), reached)
}
