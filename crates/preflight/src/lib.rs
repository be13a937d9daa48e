//! Find out why a container image will not pull — before Kubernetes does.
//!
//! `preflight` checks that image references can really be pulled, the way a node would pull
//! them, and when one cannot, names the cause with a stable code and a hint. Each image runs
//! through ordered stages — `reference`, `dns`, `tcp`, `tls`, `ping`, `auth`, `manifest` — and
//! the first failing stage decides the [`Diagnosis`]. The registry-wide stages run once per
//! registry and are shared by all its images; connections and tokens are reused.
//!
//! ```no_run
//! use preflight::{Checker, ImageRequest};
//!
//! # async fn run() -> Result<(), preflight::BuildError> {
//! let checker = Checker::builder()
//!     .plain_http("localhost:5000")
//!     .build()?;
//! let report = checker
//!     .check(vec![ImageRequest::new("localhost:5000/shop/payment-app:v2.1.3")])
//!     .await;
//! for image in &report.images {
//!     match &image.diagnosis {
//!         None => println!("{} pullable at {:?}", image.reference, image.digest),
//!         Some(d) => println!("{}: {} ({}): {}", image.reference, d.code, d.stage, d.hint),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The modules follow the data, lower layers never importing higher ones:
//!
//! - [`reference`] — parse and normalize image references exactly like Docker.
//! - [`dns`] — hickory-resolver, shared by the `dns` stage and every HTTP connection.
//! - [`transport`] — TCP connects, TLS handshakes, the shared HTTP clients, failure classification.
//! - [`challenge`] — `WWW-Authenticate` parsing (Basic, Bearer).
//! - [`wire`] — the registry's wire formats: media types, error bodies, token responses.
//! - [`secret`], [`credentials`], [`docker_config`] — credentials and where they come from
//!   (Docker's `config.json` and its credential helpers), never printed.
//! - [`ci_credentials`] — the CI runner's credentials: `DOCKER_AUTH_CONFIG`, Docker's and podman's files,
//!   GitLab's `CI_REGISTRY_*` variables.
//! - [`kubelet`] — pull Secrets and the kubelet's keyring: which credentials a node tries for an image.
//! - `auth` — Basic and the token flow, with a token cache per scope and credential.
//! - `probe` — the registry-wide stages `dns` → `tcp` → `tls` → `ping`.
//! - `manifest` — the `HEAD` of the manifest, and why it failed.
//! - `tags` — the tags of a repository, and the closest to a missing one.
//! - [`platform`] — the platforms an image index offers, against those required.
//! - [`ratelimit`] — Docker Hub's rate-limit headers.
//! - [`lint`] — warnings about how an image is referenced and pulled.
//! - [`digests`] — the digests a push produced (`--expect-digest`, buildx metadata, `IMAGE@sha256:…` lines).
//! - [`diagnosis`] — the stable codes and their hints.
//! - [`report`] — the result as data, serializable to the contract's JSON.
//! - [`checker`] — the [`Checker`] that ties the stages together.
//!
//! Inputs produce plain data the checker consumes:
//!
//! - [`manifests`] — Kubernetes YAML/JSON to the images used, with file, line, object and
//!   container, and the pull Secrets and service accounts beside them.
//! - [`plan`] — from manifests to image requests, each with the credentials its node would try.

#![deny(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod diagnosis;
pub mod engine;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod inputs;
pub mod model;
pub mod net;
pub(crate) mod registry;
pub mod report;
pub(crate) mod stages;

// The paths modules had before the folders: kept for the CLI, the fuzz targets and embedders.
#[doc(hidden)]
pub use diagnosis::lint;
#[doc(hidden)]
pub use engine::checker;
#[doc(hidden)]
pub use inputs::{ci_credentials, digests, docker_config, kubelet, manifests, plan};
#[doc(hidden)]
pub use model::{credentials, platform, ratelimit, reference, secret};
#[doc(hidden)]
pub use net::{dns, transport};

pub use diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
pub use engine::checker::{BuildError, Checker, CheckerBuilder, ImageRequest};
pub use inputs::ci_credentials::CiCredentials;
pub use inputs::docker_config::{DockerConfig, HelperRunner};
pub use model::credentials::{Candidates, Credential, CredentialSource, LocatedCredential};
pub use model::platform::Platform;
pub use model::reference::Reference;
pub use net::TlsMode;
pub use net::dns::DnsConfig;
pub use report::{ImageReport, Report, Source};

// Compiles the README's code so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
