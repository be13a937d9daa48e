//! The `blobs` stage (`--depth blobs`): the rest of what a node's pull reads. For each platform the
//! node pulls, its manifest (from the index, by digest), the config blob (fetched, its bytes
//! verified against the digest: it is small) and every layer (a `HEAD`). A blob the registry
//! redirects to storage on another host is asked of that host too, without the registry's
//! credentials, as runtimes do. Blobs are checked once per repository and digest, storage hosts
//! once per origin, for the whole check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::diagnosis::network::http_diagnosis;
use crate::diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
use crate::model::image::{self, Descriptor, ImageManifest};
use crate::model::platform::{self, Platform};
use crate::model::wire;
use crate::net::TlsMode;
use crate::net::http::{self, HttpClients, HttpFailure};
use crate::registry::auth::Access;
use crate::registry::endpoint::Endpoint;
use crate::stages::manifest::Found;
use crate::stages::probe::{self, Reached};
use crate::stages::{Target, Trail};

/// The most of a manifest or config read.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

type Verdict = Arc<OnceCell<Result<(), Diagnosis>>>;

/// What one check has learned of blobs and storage hosts, shared by its images.
#[derive(Debug, Default)]
pub(crate) struct BlobChecks {
    blobs: Mutex<HashMap<(Endpoint, String, String), Verdict>>,
    storage: Mutex<HashMap<String, Verdict>>,
}

impl BlobChecks {
    fn blob(&self, ep: &Endpoint, repository: &str, digest: &str) -> Verdict {
        let mut m = self
            .blobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (ep.clone(), repository.to_owned(), digest.to_owned());
        Arc::clone(m.entry(key).or_default())
    }

    fn storage(&self, origin: &str) -> Verdict {
        let mut m = self
            .storage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(m.entry(origin.to_owned()).or_default())
    }
}

/// The platforms a pull reads, and whether they were assumed (none required: a node's default).
#[derive(Debug, Clone)]
pub(crate) struct Wanted<'a> {
    pub(crate) platforms: &'a [Platform],
    pub(crate) assumed: bool,
}

/// The stage. `hub_pulls` allows the manifest GETs Docker Hub counts as pulls.
pub(crate) async fn check(
    target: Target<'_>,
    access: &Access,
    found: &Found,
    wanted: &Wanted<'_>,
    hub_pulls: bool,
    checks: &BlobChecks,
    trail: &mut Trail,
) -> Result<(), Diagnosis> {
    let reference = target.reference;
    if target.profile.counts_pulls() && !hub_pulls {
        trail.warn(Warning {
            code: WarningCode::BlobsUnchecked,
            message: format!(
                "the config and layers of {} were not checked: reading its manifest is a GET that Docker Hub counts as a pull; pass --allow-hub-pulls to spend one",
                reference.original()
            ),
        });
        return Ok(());
    }
    let started = Instant::now();
    let manifests = manifests_to_pull(target, access, found, wanted, trail)
        .await
        .map_err(|d| trail.fail(started, d))?;
    let mut blobs: Vec<(Descriptor, bool)> = Vec::new();
    for m in &manifests {
        let each = std::iter::once((m.config.clone(), true))
            .chain(m.layers.iter().map(|l| (l.clone(), false)));
        for (d, is_config) in each {
            if !blobs.iter().any(|(b, _)| b.digest == d.digest) {
                blobs.push((d, is_config));
            }
        }
    }
    let results = futures_util::future::join_all(
        blobs
            .iter()
            .map(|(d, is_config)| checked_blob(target, access, d, *is_config, checks)),
    )
    .await;
    if let Some(d) = results.into_iter().find_map(Result::err) {
        return Err(trail.fail(started, d));
    }
    let layers = blobs.len() - manifests.len().min(blobs.len());
    let platforms = wanted
        .platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    trail.pass(
        Stage::Blobs,
        started,
        format!(
            "{} manifest{} for {platforms}{}: config verified, {layers} layer{} present",
            manifests.len(),
            if manifests.len() == 1 { "" } else { "s" },
            if wanted.assumed { " (assumed)" } else { "" },
            if layers == 1 { "" } else { "s" },
        ),
    );
    Ok(())
}

/// The image manifests a node of each wanted platform pulls: the manifest itself, or from an
/// index the entry its platform matcher picks, fetched by digest.
async fn manifests_to_pull(
    target: Target<'_>,
    access: &Access,
    found: &Found,
    wanted: &Wanted<'_>,
    trail: &mut Trail,
) -> Result<Vec<ImageManifest>, Diagnosis> {
    let manifest_ref = found.reference(target.reference);
    // Read once: by the manifest stage (a GET), or the platform stage (the index).
    let (body, media_type) = match (&found.body, trail.index.take()) {
        (Some(body), _) => (body.clone(), found.media_type.clone().unwrap_or_default()),
        (None, Some((read, body))) if read == manifest_ref => (body, wire::OCI_INDEX.to_owned()),
        _ => get_manifest(target, access, &manifest_ref, trail).await?,
    };
    if !platform::is_index(Some(&media_type)) {
        return image::image_manifest(&body)
            .map(|m| vec![m])
            .map_err(|e| bad_body(target, &e.to_string()));
    }
    let entries = image::index_entries(&body).map_err(|e| bad_body(target, &e.to_string()))?;
    let mut manifests = Vec::new();
    for p in wanted.platforms {
        let Some(entry) = image::select(&entries, p) else {
            return Err(platform_missing(target, p, wanted.assumed, &entries));
        };
        let digest = entry.descriptor.digest.to_string();
        let (body, _) = match get_manifest(target, access, &digest, trail).await {
            Err(d) if d.code == Code::BlobUnknown => {
                return Err(Diagnosis::new(
                    Code::PlatformManifestMissing,
                    Stage::Platform,
                    format!(
                        "the index of {} names {digest} for {p}, but the registry has no such manifest (404)",
                        target.reference.original()
                    ),
                ));
            }
            other => other?,
        };
        manifests.push(image::image_manifest(&body).map_err(|e| bad_body(target, &e.to_string()))?);
    }
    Ok(manifests)
}

fn bad_body(target: Target<'_>, why: &str) -> Diagnosis {
    Diagnosis::new(
        Code::RegistryError,
        Stage::Blobs,
        format!(
            "the manifest of {} is not usable: {why}",
            target.reference.original()
        ),
    )
}

fn platform_missing(
    target: Target<'_>,
    wanted: &Platform,
    assumed: bool,
    entries: &[image::IndexEntry],
) -> Diagnosis {
    let offered: Vec<String> = entries
        .iter()
        .filter_map(|e| e.platform.as_ref())
        .filter(|p| p.os != "unknown")
        .map(ToString::to_string)
        .collect();
    let offers = if offered.is_empty() {
        "no platform at all".to_owned()
    } else {
        offered.join(", ")
    };
    let why = if assumed {
        " (assumed: no --platform given and no node selector names one; nodes pull this one by default)"
    } else {
        ""
    };
    Diagnosis::new(
        Code::PlatformMissing,
        Stage::Platform,
        format!(
            "{} has no manifest for {wanted}{why}; it offers {offers}",
            target.reference.original()
        ),
    )
}

/// GETs a manifest by tag or digest: its body and media type. A 404 is `blob-unknown` here, which
/// the caller names for what was missing.
async fn get_manifest(
    target: Target<'_>,
    access: &Access,
    reference: &str,
    trail: &mut Trail,
) -> Result<(Vec<u8>, String), Diagnosis> {
    let ep = target.ep;
    let url = ep.manifest_url(target.reference.repository(), reference);
    let client = target.net.http.for_mode(ep.mode);
    let build = || access.apply(client.get(&url).header(ACCEPT, wire::MANIFEST_ACCEPT));
    if target.profile.counts_pulls() {
        trail.hub_pulls += 1;
    }
    let resp = send(build, &target.net.http, &ep.host, &url, target.deadline).await?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return Err(Diagnosis::new(
            Code::BlobUnknown,
            Stage::Blobs,
            format!("GET {url} answered 404"),
        ));
    }
    if !status.is_success() {
        return Err(Diagnosis::new(
            Code::RegistryError,
            Stage::Blobs,
            format!("GET {url} answered {status}"),
        ));
    }
    let media_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .unwrap_or_default();
    let body = http::read_body(resp, BODY_LIMIT, &ep.host, target.deadline)
        .await
        .map_err(|f| http_diagnosis(&f, Stage::Blobs, &url))?;
    Ok((body, media_type))
}

/// A request to the registry, retried as the manifest's is after a connection that broke (a
/// pooled connection a proxy or the registry closed) or 502/503/504, within the deadline.
async fn send(
    build: impl Fn() -> reqwest::RequestBuilder,
    clients: &HttpClients,
    host: &str,
    url: &str,
    deadline: Instant,
) -> Result<reqwest::Response, Diagnosis> {
    match http::send_retrying(build, clients, host, deadline).await.0 {
        http::Sent::TimedOut => Err(http_diagnosis(&HttpFailure::Timeout, Stage::Blobs, url)),
        http::Sent::Failed(f) => Err(http_diagnosis(&f, Stage::Blobs, url)),
        http::Sent::Response(r) => Ok(r),
    }
}

/// One blob, once per check for its repository and digest.
async fn checked_blob(
    target: Target<'_>,
    access: &Access,
    blob: &Descriptor,
    is_config: bool,
    checks: &BlobChecks,
) -> Result<(), Diagnosis> {
    let digest = blob.digest.to_string();
    let cell = checks.blob(target.ep, target.reference.repository(), &digest);
    cell.get_or_init(|| check_blob(target, access, blob, is_config, checks))
        .await
        .clone()
}

/// The config is fetched and its bytes hashed; a layer is asked for with `HEAD`. Either may be
/// redirected to storage, which is then asked the same, without credentials.
async fn check_blob(
    target: Target<'_>,
    access: &Access,
    blob: &Descriptor,
    is_config: bool,
    checks: &BlobChecks,
) -> Result<(), Diagnosis> {
    let ep = target.ep;
    let digest = blob.digest.to_string();
    let url = ep.blob_url(target.reference.repository(), &digest);
    let client = target.net.http.for_mode(ep.mode);
    let build = || {
        access.apply(if is_config {
            client.get(&url)
        } else {
            client.head(&url)
        })
    };
    let resp = send(build, &target.net.http, &ep.host, &url, target.deadline).await?;
    let what = if is_config { "config" } else { "layer" };
    let status = resp.status();
    let resp = if status.is_redirection() {
        let Some(location) = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| reqwest::Url::parse(&url).ok()?.join(l).ok())
        else {
            return Err(Diagnosis::new(
                Code::RegistryError,
                Stage::Blobs,
                format!("GET {url} answered {status} without a usable Location"),
            ));
        };
        from_storage(target, &location, is_config, checks).await?
    } else {
        resp
    };
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return Err(Diagnosis::new(
            Code::BlobUnknown,
            Stage::Blobs,
            format!(
                "the {what} blob {digest} of {} is not in the registry (404)",
                target.reference.original()
            ),
        ));
    }
    if !status.is_success() {
        return Err(Diagnosis::new(
            Code::RegistryError,
            Stage::Blobs,
            format!("the {what} blob {digest}: {url} answered {status}"),
        ));
    }
    if !is_config {
        return Ok(());
    }
    let host = resp.url().host_str().unwrap_or_default().to_owned();
    let bytes = http::read_body(resp, BODY_LIMIT, &host, target.deadline)
        .await
        .map_err(|f| http_diagnosis(&f, Stage::Blobs, &url))?;
    let computed = sha256(&bytes);
    if blob.digest.algorithm() == "sha256" && computed != blob.digest.hex() {
        return Err(Diagnosis::new(
            Code::BlobDigestMismatch,
            Stage::Blobs,
            format!(
                "the config blob of {} is {digest}, but the {} bytes served hash to sha256:{computed}",
                target.reference.original(),
                bytes.len()
            ),
        ));
    }
    Ok(())
}

/// Asks the storage host a blob was redirected to, without the registry's credentials. The host's
/// reachability is learned once per origin; each blob is still asked.
async fn from_storage(
    target: Target<'_>,
    location: &reqwest::Url,
    is_config: bool,
    checks: &BlobChecks,
) -> Result<reqwest::Response, Diagnosis> {
    let origin = location.origin().ascii_serialization();
    let host = location.host_str().unwrap_or_default().to_owned();
    let client = target.net.http.for_mode(TlsMode::Verify);
    let req = if is_config {
        client.get(location.clone())
    } else {
        client.head(location.clone())
    };
    let shown = format!("{origin}{}", location.path());
    let unreachable = |f: &HttpFailure| {
        let d = http_diagnosis(f, Stage::Blobs, &shown);
        let code = match d.code {
            Code::RegistryError | Code::ProxyError => d.code,
            _ => Code::BlobStorageUnreachable,
        };
        Diagnosis::new(
            code,
            Stage::Blobs,
            format!(
                "the registry redirects blobs of {} to {origin}, which cannot be used ({}): {}",
                target.reference.original(),
                d.code,
                d.message
            ),
        )
    };
    // The storage host's own dns, tcp and tls, once per origin: a node that cannot resolve or
    // reach it fails every blob there.
    let verdict = checks.storage(&origin);
    let reached = verdict
        .get_or_init(|| async {
            let mode = if location.scheme() == "http" {
                TlsMode::PlainHttp
            } else {
                TlsMode::Verify
            };
            let ep = Endpoint::of_url(location, mode);
            let mut trail = Trail::default();
            probe::reach(
                target.net,
                &ep,
                target.deadline,
                &mut trail,
                &mut Reached::default(),
            )
            .await
            .map(|_| ())
            .map_err(|d| {
                // The node's proxy failing is the proxy's cause, wherever it was going.
                let code = match d.code {
                    Code::ProxyError => Code::ProxyError,
                    _ => Code::BlobStorageUnreachable,
                };
                Diagnosis::new(
                    code,
                    Stage::Blobs,
                    format!(
                        "the registry redirects blobs of {} to {origin}, which cannot be reached at its {} stage ({}): {}",
                        target.reference.original(),
                        d.stage,
                        d.code,
                        d.message
                    ),
                )
            })
        })
        .await;
    if let Err(d) = reached {
        return Err(d.clone());
    }
    let sent = tokio::time::timeout_at(target.deadline, req.send()).await;
    match sent {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(e)) => Err(unreachable(&target.net.http.classify(&e, &host))),
        Err(_) => Err(unreachable(&HttpFailure::Timeout)),
    }
}

fn sha256(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let d = digest::digest(&digest::SHA256, bytes);
    let mut hex = String::with_capacity(64);
    for b in d.as_ref() {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}
