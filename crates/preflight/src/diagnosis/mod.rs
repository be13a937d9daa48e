//! What a check concludes: the [`Stage`]s of the pipeline, a failure as a [`Diagnosis`], and a
//! [`Warning`].
//!
//! The codes they carry live in one table, in `codes.rs`: every failure and warning code with its
//! text, severity, stages and hint in one row. [`lint`] holds the warnings read from the inputs
//! alone, before any network.

mod codes;
pub mod lint;
pub(crate) mod network;

use std::fmt;

use serde::Serialize;

pub use codes::{Code, Stages, WarningCode};

use crate::registry::profile::Flavor;

/// The stages an image goes through, in order. The first failing stage decides the diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Stage {
    /// Parsing and normalizing the reference.
    Reference,
    /// Resolving the registry host name.
    Dns,
    /// Opening a TCP connection to the registry.
    Tcp,
    /// The TLS handshake.
    Tls,
    /// `GET /v2/`: is it a registry, and how does it want to be authenticated?
    Ping,
    /// Obtaining pull access for the repository.
    Auth,
    /// `HEAD` of the manifest.
    Manifest,
    /// Checking an image index for the required platforms.
    Platform,
    /// The rest of the pull path: the platform's manifest, the config blob (its bytes verified)
    /// and every layer, through any redirect to storage (`--depth blobs`).
    Blobs,
}

impl Stage {
    /// Every stage, in pipeline order (the order of the contract's table).
    pub const ALL: &'static [Stage] = &[
        Stage::Reference,
        Stage::Dns,
        Stage::Tcp,
        Stage::Tls,
        Stage::Ping,
        Stage::Auth,
        Stage::Manifest,
        Stage::Platform,
        Stage::Blobs,
    ];

    /// The stage's name as it appears in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reference => "reference",
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::Tls => "tls",
            Stage::Ping => "ping",
            Stage::Auth => "auth",
            Stage::Manifest => "manifest",
            Stage::Platform => "platform",
            Stage::Blobs => "blobs",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an image cannot be pulled, where it was found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The stable code.
    pub code: Code,
    /// The stage that failed.
    pub stage: Stage,
    /// What happened, specific to this image.
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// What is there instead, closest first (the tags nearest a missing one); omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
    /// The kind of registry that gave the answer, once known: it chooses the registry's own
    /// hint ([`Diagnosis::with_registry_hint`]).
    #[serde(skip)]
    pub(crate) registry: Option<Flavor>,
}

impl Diagnosis {
    /// A diagnosis with the code's general hint.
    pub fn new(code: Code, stage: Stage, message: impl Into<String>) -> Self {
        debug_assert!(
            code.stages().contains(stage),
            "{code} is not a cause of the {stage} stage: add the stage to the code table"
        );
        Diagnosis {
            code,
            stage,
            message: message.into(),
            hint: code.hint().to_owned(),
            suggestions: Vec::new(),
            registry: None,
        }
    }

    /// Notes the kind of registry an answer showed (Harbor, known only by its answers), for
    /// [`Diagnosis::with_registry_hint`].
    #[must_use]
    pub(crate) fn answered_by(mut self, registry: Flavor) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Adds what to check next on this kind of registry (its CLI or console) after the hint,
    /// from the registry hints beside the code table: the kind the answer showed, else
    /// `registry` (the one its name gives away). Adding it twice adds it once.
    #[must_use]
    pub(crate) fn with_registry_hint(mut self, registry: Flavor) -> Self {
        let registry = *self.registry.get_or_insert(registry);
        if let Some(extra) = codes::registry_hint(self.code, registry)
            && !self.hint.contains(extra)
        {
            self.hint = format!("{}; {extra}", self.hint);
        }
        self
    }

    /// Replaces the general hint with one specific to this case.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    /// Puts a note specific to this case before the general hint, as `NOTE; HINT`: for what the
    /// check learned on the way (a credential key that nearly matched) while the hint still applies.
    #[must_use]
    pub fn with_hint_prefix(mut self, note: impl AsRef<str>) -> Self {
        self.hint = format!("{}; {}", note.as_ref(), self.hint);
        self
    }

    /// Appends `suffix` to the message as it is, for detail found after the diagnosis was made
    /// (the other credentials tried, what the repository's tag list showed). The caller writes the
    /// separator (`"; "`, `" ("`).
    #[must_use]
    pub fn with_message_suffix(mut self, suffix: impl AsRef<str>) -> Self {
        self.message.push_str(suffix.as_ref());
        self
    }

    /// Sets what is there instead, closest first (the tags nearest a missing one). The hint is
    /// left alone: a caller that wants `did you mean …?` writes it with [`Diagnosis::with_hint`].
    #[must_use]
    pub fn with_suggestions(mut self, suggestions: Vec<String>) -> Self {
        self.suggestions = suggestions;
        self
    }
}

/// Something worth knowing that does not make the image unpullable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub struct Warning {
    /// The stable code.
    pub code: WarningCode,
    /// What was noticed.
    pub message: String,
}

impl Warning {
    /// A warning with its code and what was noticed. Its general hint is `code.hint()`; reports
    /// leave it out, since the message says what to look at.
    pub fn new(code: WarningCode, message: impl Into<String>) -> Self {
        Warning {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_in_the_contracts_order() {
        let names: Vec<_> = Stage::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "reference",
                "dns",
                "tcp",
                "tls",
                "ping",
                "auth",
                "manifest",
                "platform",
                "blobs"
            ]
        );
        // Pipeline order is also `Ord`'s order, which code stage lists rely on.
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
        // A new stage breaks this match: add it here, and to `ALL` in pipeline order.
        for stage in Stage::ALL {
            match stage {
                Stage::Reference
                | Stage::Dns
                | Stage::Tcp
                | Stage::Tls
                | Stage::Ping
                | Stage::Auth
                | Stage::Manifest
                | Stage::Platform
                | Stage::Blobs => {}
            }
        }
    }

    #[test]
    fn builders_change_only_their_field() {
        let d = Diagnosis::new(
            Code::ManifestUnknown,
            Stage::Manifest,
            "tag v1 does not exist",
        )
        .with_message_suffix("; the repository has no tags at all")
        .with_hint_prefix("note")
        .with_suggestions(vec!["v2".to_owned()]);
        assert_eq!(d.code, Code::ManifestUnknown);
        assert_eq!(d.stage, Stage::Manifest);
        assert_eq!(
            d.message,
            "tag v1 does not exist; the repository has no tags at all"
        );
        assert_eq!(d.hint, format!("note; {}", Code::ManifestUnknown.hint()));
        assert_eq!(d.suggestions, ["v2"]);
    }

    #[test]
    fn registry_hint_is_added_once_for_the_kind_the_answer_showed() {
        let d = Diagnosis::new(Code::RepositoryNotFound, Stage::Manifest, "m")
            .answered_by(Flavor::Harbor)
            .with_registry_hint(Flavor::Spec)
            .with_registry_hint(Flavor::Spec);
        assert_eq!(d.hint.matches("Harbor").count(), 2, "{}", d.hint);
        assert!(d.hint.starts_with(Code::RepositoryNotFound.hint()));
        // A registry without hints, or a code without one, keeps the general hint.
        let d = Diagnosis::new(Code::RepositoryNotFound, Stage::Manifest, "m")
            .with_registry_hint(Flavor::Spec);
        assert_eq!(d.hint, Code::RepositoryNotFound.hint());
        let d = Diagnosis::new(Code::TcpRefused, Stage::Tcp, "m").with_registry_hint(Flavor::Ecr);
        assert_eq!(d.hint, Code::TcpRefused.hint());
        // The kind never shows in the JSON.
        let d = Diagnosis::new(Code::RegistryError, Stage::Manifest, "m")
            .with_registry_hint(Flavor::Harbor);
        assert!(serde_json::to_value(&d).unwrap().get("registry").is_none());
    }

    #[test]
    fn json_shape_is_unchanged() {
        let d = Diagnosis::new(Code::ManifestUnknown, Stage::Manifest, "m");
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({
                "code": "manifest-unknown",
                "stage": "manifest",
                "message": "m",
                "hint": Code::ManifestUnknown.hint(),
            })
        );
        let w = Warning::new(WarningCode::LatestTag, "m");
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            serde_json::json!({ "code": "latest-tag", "message": "m" })
        );
    }
}
