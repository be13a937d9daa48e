//! The result of a check, as data: what the CLI renders and `-o json` prints.
//! The field names are the contract's: `docs/contract.md` ("The JSON report") and
//! `docs/report.schema.json`, which the test suite holds every report to.

use serde::Serialize;

use crate::diagnosis::{Code, Diagnosis, Stage, Warning};
use crate::model::ratelimit::RateLimit;

/// The version of the report format.
pub const REPORT_VERSION: u32 = 1;

/// The outcome of checking a set of images.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Report format version (1).
    pub version: u32,
    /// Whether every image can be pulled.
    pub pullable: bool,
    /// Counts.
    pub summary: Summary,
    /// One entry per distinct image, in the order they were given.
    pub images: Vec<ImageReport>,
}

impl Report {
    /// Builds a report from image results, computing the summary.
    pub fn new(images: Vec<ImageReport>) -> Report {
        let pullable = images.iter().filter(|i| i.pullable).count();
        let warnings = images.iter().map(|i| i.warnings.len()).sum();
        let hub_pulls_spent = images.iter().map(|i| u64::from(i.hub_pulls)).sum();
        Report {
            version: REPORT_VERSION,
            pullable: pullable == images.len(),
            summary: Summary {
                images: images.len(),
                pullable,
                not_pullable: images.len() - pullable,
                warnings,
                hub_pulls_spent,
            },
            images,
        }
    }
}

/// Counts over the images of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Distinct images checked.
    pub images: usize,
    /// How many can be pulled.
    pub pullable: usize,
    /// How many cannot.
    pub not_pullable: usize,
    /// Warnings over all images.
    pub warnings: usize,
    /// Manifest GETs sent to Docker Hub, each of which it counts as a pull.
    pub hub_pulls_spent: u64,
}

/// Where an image reference was found (a manifest file, a line, an object, a container).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct Source {
    /// The file, as given.
    pub file: String,
    /// The 1-based line of the `image:` value.
    pub line: Option<usize>,
    /// `Kind/namespace/name`.
    pub object: Option<String>,
    /// The container's name (an image volume's name, for an image volume).
    pub container: Option<String>,
    /// Where in the object the image is used, as a field path: the container
    /// (`spec.template.spec.containers[0]`, `spec.workerGroupSpecs[1].template.spec.containers[0]`)
    /// or the image volume (`spec.volumes[2].image`).
    pub path: Option<String>,
}

/// What a host is to the image's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum HostRole {
    /// A mirror the node's configuration names, tried before the registry.
    Mirror,
    /// The registry itself (or the location the node's configuration rewrites it to).
    Server,
}

/// One host the pull went to, and what it answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HostTried {
    /// `scheme://host:port` as it was tried.
    pub url: String,
    /// A mirror, or the registry itself.
    pub role: HostRole,
    /// Why the image could not be pulled from it; null when it could.
    pub code: Option<Code>,
}

impl HostTried {
    pub(crate) fn new(url: String, role: HostRole, code: Option<Code>) -> HostTried {
        HostTried { url, role, code }
    }
}

/// The outcome of one stage.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StageResult {
    /// Which stage.
    pub stage: Stage,
    /// Whether it passed.
    pub ok: bool,
    /// How long it took, in milliseconds (0 when shared with an earlier image of the registry).
    pub elapsed_ms: f64,
    /// What it found (addresses, TLS version and certificate, challenge, digest…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The result was taken from an earlier image on the same registry (its `elapsed_ms` is 0).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared: bool,
}

/// The outcome for one image.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ImageReport {
    /// The reference as written.
    pub reference: String,
    /// The fully qualified form, `docker.io/library/nginx:latest`; null when invalid.
    pub canonical: Option<String>,
    /// The registry after normalization (`docker.io`, `localhost:5000`).
    pub registry: Option<String>,
    /// The repository path (`library/nginx`).
    pub repository: Option<String>,
    /// The tag as written, `latest` when neither tag nor digest was written, null for digest-only.
    pub tag: Option<String>,
    /// The manifest digest the registry returned (`Docker-Content-Digest`).
    pub digest: Option<String>,
    /// The manifest's media type.
    pub media_type: Option<String>,
    /// The manifest's size in bytes.
    pub size: Option<u64>,
    /// Docker Hub pulls this check spent (a GET of an index to check platforms).
    #[serde(skip_serializing_if = "is_zero")]
    pub hub_pulls: u32,
    /// How many times the manifest HEAD was sent (transient 502/503/504 and broken connections
    /// are retried within the deadline); omitted when once.
    #[serde(skip_serializing_if = "at_most_once")]
    pub tries: u32,
    /// Whether the image can be pulled.
    pub pullable: bool,
    /// Each stage run, in order.
    pub stages: Vec<StageResult>,
    /// Why it cannot be pulled; null when it can.
    pub diagnosis: Option<Diagnosis>,
    /// Things worth knowing that do not fail the check.
    pub warnings: Vec<Warning>,
    /// The registry's rate-limit headers, when it sent them.
    pub rate_limit: Option<RateLimit>,
    /// Where the credentials came from (never the credentials); null for anonymous access.
    pub credential: Option<String>,
    /// Where the reference was found; empty for images given on the command line.
    pub sources: Vec<Source>,
    /// The platforms checked (required ones, or the node's default when none was); omitted when
    /// no platform was checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<String>,
    /// The platforms were assumed (`linux/amd64`), not required; omitted when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub platform_assumed: bool,
    /// The node runtime whose rules the check followed (`containerd 2`, `cri-o`, `docker`);
    /// null when the reference is invalid.
    pub runtime: Option<String>,
    /// The host that decided the verdict (`scheme://host:port`: a mirror, or the registry);
    /// null when no host was contacted.
    pub host: Option<String>,
    /// Every host tried, in order, when there was more than one (mirrors, or a fallback from
    /// HTTPS to plain HTTP); omitted otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts_tried: Vec<HostTried>,
}

impl ImageReport {
    /// The report of an image not checked yet: nothing known but where it was found.
    pub(crate) fn new(reference: String, sources: Vec<Source>) -> ImageReport {
        ImageReport {
            reference,
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
            sources,
            platforms: Vec::new(),
            platform_assumed: false,
            runtime: None,
            host: None,
            hosts_tried: Vec::new(),
        }
    }

    /// The first stage that failed.
    pub fn failed_stage(&self) -> Option<Stage> {
        self.diagnosis.as_ref().map(|d| d.stage)
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn at_most_once(n: &u32) -> bool {
    *n <= 1
}

/// What `preflight registry` found about one registry: each stage with its timing, every
/// address tried, the certificate, the authentication challenge, the token service's own
/// reachability and, with credentials, whether they were accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RegistryReport {
    /// Report format version (1).
    pub version: u32,
    /// The registry as given, normalized (`docker.io`, `localhost:5000`).
    pub registry: String,
    /// The URL its API was reached at.
    pub endpoint: String,
    /// Whether everything that was tried worked.
    pub ok: bool,
    /// `dns`, `tcp`, `tls`, `ping`, `auth`, in order.
    pub stages: Vec<StageResult>,
    /// A TCP connect to each address the name resolved to.
    pub addresses: Vec<AddressResult>,
    /// The certificate the registry presented (TLS only).
    pub certificate: Option<crate::net::tls::CertificateSummary>,
    /// The `WWW-Authenticate` challenge of `/v2/`, described; null when none.
    pub challenge: Option<String>,
    /// The token service named by a Bearer challenge: its own `dns`, `tcp`, `tls`.
    pub realm: Option<RealmReport>,
    /// Where the credentials tried came from; null when none were found.
    pub credential: Option<String>,
    /// Why the registry cannot be used; null when it can.
    pub diagnosis: Option<Diagnosis>,
    /// Things worth knowing (a certificate expiring soon).
    pub warnings: Vec<Warning>,
    /// Rate-limit headers of `/v2/`, when sent.
    pub rate_limit: Option<RateLimit>,
}

impl RegistryReport {
    /// The report of a registry not walked yet.
    pub(crate) fn new(registry: String) -> RegistryReport {
        RegistryReport {
            version: REPORT_VERSION,
            registry,
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
        }
    }
}

/// One address and whether a TCP connect to it worked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct AddressResult {
    /// `ip:port`.
    pub address: String,
    /// Whether the connect succeeded.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub elapsed_ms: f64,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The token service's reachability.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RealmReport {
    /// The realm URL.
    pub url: String,
    /// Its `dns`, `tcp` and `tls` stages.
    pub stages: Vec<StageResult>,
}

/// Docker Hub's pull budget for one identity (`preflight ratelimit`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct HubBudget {
    /// Report format version (1).
    pub version: u32,
    /// The limit, remaining pulls, window and source Hub reported; null when it sent none.
    pub rate_limit: Option<RateLimit>,
    /// Hub sent no rate-limit headers: this identity is not limited.
    pub unlimited: bool,
    /// Where the credentials came from; null for anonymous (the budget of this IP address).
    pub credential: Option<String>,
    /// Why the budget could not be read.
    pub diagnosis: Option<Diagnosis>,
}
