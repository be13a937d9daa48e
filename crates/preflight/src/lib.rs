//! Find out why a container image will not pull — before Kubernetes does.
//!
//! `preflight` checks that image references can really be pulled, the way a node would pull
//! them, and when one cannot, names the cause with a stable code and a hint. Each image runs
//! through ordered stages — `reference`, `dns`, `tcp`, `tls`, `ping`, `auth`, `manifest`,
//! `platform`, `blobs` (the config and layers; [`Depth`]) — and the first failing stage decides
//! the [`Diagnosis`]. The registry-wide stages run once per
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
//! # How a check flows
//!
//! The folders are the architecture; each imports only the ones above it in this list, and none
//! knows that a CLI exists:
//!
//! ```text
//!  inputs ──► ImageRequest ──► engine ──► stages ──► registry ──► net
//!  (files)                     (pipeline) (dns…platform) (API, auth)  (dns, tcp, tls, http)
//!                                 │
//!                                 └──► report (Report, ImageReport, Diagnosis with code + hint)
//! ```
//!
//! - [`model`] — pure domain types, no I/O: references and digests, platforms, credentials and
//!   secrets, Docker Hub's rate-limit headers, challenges and the registry's wire formats.
//! - [`inputs`] — files and environment turned into plain data: Kubernetes manifests, Docker's
//!   and podman's credential files, the CI runner's variables, pull Secrets and the kubelet's
//!   keyring, digests files, and the [`plan`] that turns them into
//!   [`ImageRequest`]s. The engine never reads a file.
//! - [`net`] — name resolution, TCP, TLS and HTTP, each failure enum classified in one place.
//! - [`registry`] — the registry API on top: endpoints and every URL, the TLS mode of each host,
//!   how registries differ (one profile per registry), Basic and token access with a token cache,
//!   and a repository's tags.
//! - [`stages`] — one module per contract stage (`dns`, `tcp`, `tls`, `ping`, `auth`, `manifest`,
//!   `platform`, `blobs`), each a function from what came before to what it finds or the [`Diagnosis`]
//!   that ends the check.
//! - [`engine`] — the [`Checker`] and its builder, request merging, the scheduler, the per-image
//!   pipeline (the stage order and the credential loop, written once), the registry walk and
//!   Docker Hub's budget.
//! - [`diagnosis`] — one table of every code, failure and warning alike, with its stages and hint.
//! - [`report`] — the result as data, serializable to the contract's JSON.
//! - [`explain`] — on top of all: pods already failing, as `kubectl` prints them, turned into
//!   causes (the runtime's message classified) and checked again live.
//!
//! `ARCHITECTURE.md` at the repository root says where a new stage, input, output format, runtime
//! or registry quirk goes.

#![deny(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr, clippy::exit)]

pub mod diagnosis;
pub mod engine;
pub mod explain;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod inputs;
pub mod model;
pub mod net;
pub mod registry;
pub mod report;
pub mod stages;

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
pub use engine::checker::{BuildError, Checker, CheckerBuilder, Depth, ImageRequest};
pub use inputs::ci_credentials::CiCredentials;
pub use inputs::docker_config::{DockerConfig, HelperRunner};
pub use model::credentials::{Candidates, Credential, CredentialSource, LocatedCredential};
pub use model::platform::Platform;
pub use model::reference::Reference;
pub use net::TlsMode;
pub use net::dns::DnsConfig;
pub use registry::runtime::{ContainerdLine, Runtime, RuntimeError};
pub use report::{ImageReport, Report, Source};

// Compiles the README's code so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
