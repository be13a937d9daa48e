//! The `platform` stage: an image index must hold a manifest for every platform the nodes run; a
//! single-platform manifest's platform is in its config blob. Reading either takes a GET, which
//! Docker Hub counts as a pull: spent only when allowed, and counted.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, LOCATION};
use tokio::time::Instant;

use crate::diagnosis::network::http_diagnosis;
use crate::diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
use crate::model::platform::{self, BodyError, Platform};
use crate::net::http;
use crate::net::{TlsMode, http::HttpClients, http::HttpFailure};
use crate::registry::auth::Access;
use crate::stages::manifest::Found;
use crate::stages::{Target, Trail};

/// The most of an index, manifest or config read.
const CONFIG_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// What the stage may spend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allowance {
    /// GETs on Docker Hub, which count as pulls.
    pub(crate) hub_pulls: bool,
    /// Reading a single-platform manifest's config blob.
    pub(crate) config: bool,
}

/// The stage: every platform in `platforms` offered by the manifest `found`. A platform that
/// cannot be checked without spending what is not allowed is a warning, not a failure.
pub(crate) async fn check(
    target: Target<'_>,
    access: &Access,
    allowance: Allowance,
    platforms: &[Platform],
    found: &Found,
    trail: &mut Trail,
) -> Result<(), Diagnosis> {
    let reference = target.reference;
    let wanted = list(platforms);
    let media_type = found.media_type.clone().unwrap_or_default();
    let single = !platform::is_index(Some(&media_type));
    if single && !allowance.config {
        trail.warn(Warning {
            code: WarningCode::PlatformUnchecked,
            message: format!(
                "{} is a single-platform manifest ({media_type}): its platform is only in its config, which is read only with --verify-config-platform, so {wanted} was not checked",
                reference.original()
            ),
        });
        return Ok(());
    }
    if target.profile.counts_pulls() && !allowance.hub_pulls {
        trail.warn(Warning {
            code: WarningCode::PlatformUnchecked,
            message: format!(
                "{wanted} not checked: reading the index of {} is a GET that Docker Hub counts as a pull; pass --allow-hub-pulls to spend one",
                reference.original()
            ),
        });
        return Ok(());
    }
    let started = Instant::now();
    let manifest_ref = found.reference(reference);
    let fetched = if let (false, Some(body)) = (single, &found.body) {
        // The manifest stage read the index already.
        platform::offered(body).map_err(FetchFailure::from)
    } else if single {
        config_platform(target, &manifest_ref, &media_type, access)
            .await
            .map(|p| vec![p])
    } else {
        index_platforms(target, &manifest_ref, &media_type, access)
            .await
            .map(|(offered, body)| {
                // The `blobs` stage reads the same index: it is not asked for twice.
                trail.index = Some((manifest_ref.clone(), body));
                offered
            })
    };
    let reused = !single && found.body.is_some();
    if target.profile.counts_pulls() && !reused {
        trail.hub_pulls += 1;
    }
    let offered = fetched.map_err(|why| trail.fail(started, why.diagnosis()))?;
    let missing: Vec<&Platform> = platforms
        .iter()
        .filter(|p| !offered.iter().any(|o| p.served_by(o)))
        .collect();
    let listed = list(&offered);
    if missing.is_empty() {
        trail.pass(Stage::Platform, started, format!("offers {listed}"));
        return Ok(());
    }
    let offers = if listed.is_empty() {
        "no platform at all".to_owned()
    } else {
        listed
    };
    let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
    Err(trail.fail(
        started,
        Diagnosis::new(
            Code::PlatformMissing,
            Stage::Platform,
            format!(
                "{} has no manifest for {}; it offers {offers}",
                reference.original(),
                missing.join(", ")
            ),
        ),
    ))
}

fn list(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the platforms could not be read.
#[derive(Debug)]
enum FetchFailure {
    /// The exchange with `url` failed (deadline, connection, TLS, protocol, size). The URL is
    /// shown without its query, which for a storage redirect is a signature.
    Http { failure: HttpFailure, url: String },
    /// The index was redirected to another host.
    Redirected { url: String },
    /// A redirect without a `Location` that could be followed.
    NoLocation { url: String, status: StatusCode },
    /// An answer that was not the document asked for.
    Status { url: String, status: StatusCode },
    /// A document that says nothing usable.
    Body(BodyError),
}

impl From<BodyError> for FetchFailure {
    fn from(e: BodyError) -> Self {
        FetchFailure::Body(e)
    }
}

impl FetchFailure {
    fn http(failure: HttpFailure, url: &str) -> Self {
        FetchFailure::Http {
            failure,
            url: format!("GET {}", without_query(url)),
        }
    }

    fn diagnosis(self) -> Diagnosis {
        let other = |message: String| Diagnosis::new(Code::RegistryError, Stage::Platform, message);
        match self {
            FetchFailure::Http { failure, url } => http_diagnosis(&failure, Stage::Platform, &url),
            FetchFailure::Redirected { url } => {
                other(format!("GET {url} redirected to another host"))
            }
            FetchFailure::NoLocation { url, status } => other(format!(
                "GET {url} answered {status} without a usable Location"
            )),
            FetchFailure::Status { url, status } => other(format!("GET {url} answered {status}")),
            FetchFailure::Body(e) => other(e.to_string()),
        }
    }
}

/// `url` as messages show it: a storage redirect's query is its signature.
fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

/// GETs the index named by `manifest_ref` and returns what it offers, and its body.
async fn index_platforms(
    target: Target<'_>,
    manifest_ref: &str,
    media_type: &str,
    access: &Access,
) -> Result<(Vec<Platform>, Vec<u8>), FetchFailure> {
    let ep = target.ep;
    let url = ep.manifest_url(target.reference.repository(), manifest_ref);
    let client = target.net.http.for_mode(ep.mode);
    let req = access.apply(client.get(&url).header(ACCEPT, media_type));
    match get(req, &target.net.http, &url, &ep.host, target.deadline).await? {
        (body, None) => Ok((platform::offered(&body)?, body)),
        (_, Some(_)) => Err(FetchFailure::Redirected { url }),
    }
}

/// Reads a single-platform manifest's platform from its config blob: a GET of the manifest (a
/// pull on Docker Hub) and one of the config. Registries often redirect blobs to storage on
/// another host; that redirect is followed with a new request that carries no credentials.
async fn config_platform(
    target: Target<'_>,
    manifest_ref: &str,
    media_type: &str,
    access: &Access,
) -> Result<Platform, FetchFailure> {
    let (ep, deadline) = (target.ep, target.deadline);
    let repository = target.reference.repository();
    let client = target.net.http.for_mode(ep.mode);
    let manifest_url = ep.manifest_url(repository, manifest_ref);
    let req = access.apply(client.get(&manifest_url).header(ACCEPT, media_type));
    let (manifest, _) = get(req, &target.net.http, &manifest_url, &ep.host, deadline).await?;
    let digest = platform::config_digest(&manifest)?;
    let blob_url = ep.blob_url(repository, &digest.to_string());
    let req = access.apply(client.get(&blob_url));
    let (bytes, location) = get(req, &target.net.http, &blob_url, &ep.host, deadline).await?;
    let bytes = match location {
        None => bytes,
        Some(target_url) => {
            let host = reqwest::Url::parse(&target_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            let storage = target.net.http.for_mode(TlsMode::Verify);
            get(
                storage.get(&target_url),
                &target.net.http,
                &target_url,
                &host,
                deadline,
            )
            .await?
            .0
        }
    };
    Ok(platform::image_config_platform(&bytes)?)
}

/// Sends a GET; the body of a 200, or the `Location` of a redirect the client did not follow.
async fn get(
    req: reqwest::RequestBuilder,
    clients: &HttpClients,
    url: &str,
    host: &str,
    deadline: Instant,
) -> Result<(Vec<u8>, Option<String>), FetchFailure> {
    let resp = match tokio::time::timeout_at(deadline, req.send()).await {
        Err(_) => return Err(FetchFailure::http(HttpFailure::Timeout, url)),
        Ok(Err(e)) => {
            return Err(FetchFailure::http(clients.classify(&e, host), url));
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    let shown = without_query(url).to_owned();
    if status.is_redirection() {
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
            .map(str::to_owned);
        return match location {
            Some(l) => Ok((Vec::new(), Some(l))),
            None => Err(FetchFailure::NoLocation { url: shown, status }),
        };
    }
    if status != StatusCode::OK {
        return Err(FetchFailure::Status { url: shown, status });
    }
    let body = http::read_body(resp, CONFIG_BODY_LIMIT, host, deadline)
        .await
        .map_err(|e| FetchFailure::http(e, url))?;
    Ok((body, None))
}
