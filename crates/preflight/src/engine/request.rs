//! What to check: an [`ImageRequest`] per image, with where it was found, the credentials its
//! node pulls with and what is known of it before any network; equal requests merged into one.

use std::collections::HashMap;
use std::sync::Arc;

use crate::diagnosis::{Diagnosis, Warning};
use crate::model::credentials::CredentialSource;
use crate::model::platform::Platform;
use crate::model::reference::{Digest, Reference};
use crate::report::Source;

/// One image to check, with where it was found and what it is pulled with.
#[derive(Clone)]
#[non_exhaustive]
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
                    parts.extend(c.providers.iter().map(String::as_str));
                    // What a provider that wants the pod's service account would do differs
                    // per service account.
                    parts.extend(c.warnings.iter().map(|w| w.message.as_str()));
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
