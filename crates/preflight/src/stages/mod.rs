//! One module per stage of the contract. Each stage is a function from what the stages before it
//! found to what it finds, or the [`Diagnosis`] that ends the image's check,
//! and records what it did (stage results, warnings, the credential used) in one trail the engine
//! turns into the image's report:
//!
//! - `probe` — the registry-wide `dns` → `tcp` → `tls` stages and `ping` (`GET /v2/`), run once
//!   per registry and shared by its images;
//! - `auth` — pull access: Basic, or a token from the realm of a `Bearer` challenge (the registry
//!   walk runs it too);
//! - `manifest` — the manifest (a `GET` at the default depth, else a `HEAD`), and why it failed;
//! - `platform` — the platforms an index offers (or a config declares), against those required;
//! - `blobs` — the rest of the pull path: the platform's manifest, the config (verified) and every
//!   layer, through redirects to storage (`--depth blobs`, the default);
//! - `digest` — the digest the tag points at, against the one the push produced.
//!
//! The order is written once, in the engine's pipeline. A new stage is a module here, a variant of
//! [`Stage`], its codes in the code table, and one line in the pipeline.

pub(crate) mod auth;
pub(crate) mod blobs;
pub(crate) mod digest;
pub(crate) mod manifest;
pub(crate) mod ping;
pub(crate) mod platform;
pub(crate) mod probe;

use tokio::time::Instant;

use crate::diagnosis::{Diagnosis, Stage, Warning};
use crate::model::ratelimit::RateLimit;
use crate::model::reference::Reference;
use crate::net::Net;
use crate::registry::endpoint::Endpoint;
use crate::registry::profile::Profile;
use crate::report::StageResult;
use crate::stages::manifest::Found;

/// The image a per-image stage works on, where its registry is reached, and until when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) net: &'a Net,
    pub(crate) ep: &'a Endpoint,
    pub(crate) profile: Profile,
    pub(crate) reference: &'a Reference,
    pub(crate) deadline: Instant,
}

/// What the stages did, for the report: each stage's result with its timing, the warnings they
/// raised, and which credential went out.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    pub(crate) stages: Vec<StageResult>,
    pub(crate) warnings: Vec<Warning>,
    /// Where the credential used came from (its origin, never its secret).
    pub(crate) credential: Option<String>,
    /// GETs that Docker Hub counts as pulls.
    pub(crate) hub_pulls: u32,
    /// The manifest found, once the `manifest` stage passed.
    pub(crate) manifest: Option<Found>,
    /// How many times the manifest `HEAD` was sent.
    pub(crate) tries: u32,
    /// The registry's rate-limit headers, the latest seen.
    pub(crate) rate_limit: Option<RateLimit>,
    /// Credentials the `auth` stage kept from a plain-HTTP token service, in this attempt.
    pub(crate) withheld: Option<crate::stages::auth::Withheld>,
    /// The index the `platform` stage read (its reference and body), for the `blobs` stage.
    pub(crate) index: Option<(String, Vec<u8>)>,
    /// The platforms checked, and whether they were assumed.
    pub(crate) platforms: Vec<String>,
    pub(crate) platform_assumed: bool,
    /// The host that decided (`scheme://host:port`).
    pub(crate) host: Option<String>,
    /// Every host tried, when more than one was.
    pub(crate) hosts_tried: Vec<crate::report::HostTried>,
}

impl Trail {
    /// Records a stage that passed, with what it found.
    pub(crate) fn pass(&mut self, stage: Stage, started: Instant, detail: impl Into<String>) {
        self.push(stage, started, true, Some(detail.into()));
    }

    /// Records the stage of `d` as failed and hands `d` back.
    pub(crate) fn fail(&mut self, started: Instant, d: Diagnosis) -> Diagnosis {
        self.push(d.stage, started, false, None);
        d
    }

    /// Records a warning.
    pub(crate) fn warn(&mut self, w: Warning) {
        self.warnings.push(w);
    }

    /// Takes what one host's attempt recorded as the image's own: its stages, findings and
    /// warnings after `before`, the warnings raised before any host was tried (an earlier
    /// host's attempt leaves nothing behind).
    pub(crate) fn adopt(&mut self, before: &[Warning], attempt: Trail) {
        let hosts_tried = std::mem::take(&mut self.hosts_tried);
        *self = attempt;
        let mut warnings = before.to_vec();
        for w in std::mem::take(&mut self.warnings) {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        self.warnings = warnings;
        self.hosts_tried = hosts_tried;
    }

    fn push(&mut self, stage: Stage, started: Instant, ok: bool, detail: Option<String>) {
        let ms = elapsed_ms(started);
        tracing::debug!(%stage, ok, elapsed_ms = ms, detail = detail.as_deref().unwrap_or(""), "stage finished");
        self.stages.push(StageResult {
            stage,
            ok,
            elapsed_ms: ms,
            detail,
            shared: false,
        });
    }
}

/// Milliseconds since `started`, to a tenth: as precise as a network timing deserves.
pub(crate) fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}
