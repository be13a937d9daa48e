//! Credentials and where they come from: the types every credential source shares, and the
//! trait the checker asks. Sources: [`crate::inputs::docker_config`] (the CI runner's `config.json`) and
//! any a user plugs in.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::model::reference::Reference;
use crate::model::secret::Secret;

/// A credential for one registry.
///
/// `Debug` is safe to print: the secret parts are [`Secret`]s.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// A user name and password, sent as HTTP Basic (to the registry or its token service).
    Basic {
        /// The user name.
        username: String,
        /// The password (or an access token used as one).
        password: Secret,
    },
    /// An `identitytoken`: an `OAuth2` refresh token, exchanged at the token service.
    IdentityToken {
        /// The user name stored beside the token; may be empty.
        username: String,
        /// The refresh token.
        token: Secret,
    },
}

/// A credential and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocatedCredential {
    /// The credential.
    pub credential: Credential,
    /// Where it came from, for the report, e.g.
    /// `docker-config /root/.docker/config.json, key localhost:5443`. Never contains the secret.
    pub origin: String,
}

/// Where the checker gets credentials for a registry. Users plug their own.
pub trait CredentialSource: Send + Sync + fmt::Debug {
    /// The credential for `registry`, if there is one.
    ///
    /// `registry` is the normalized registry of an image reference: `docker.io`,
    /// `localhost:5000`, `ghcr.io`, `[::1]:5000`.
    fn lookup(&self, registry: &str) -> Result<Option<LocatedCredential>, CredentialError>;

    /// Every credential to try for `reference`, in order. When the list is not empty the checker
    /// tries each in turn and never falls back to anonymous access (the kubelet's rule); when it
    /// is empty, access is anonymous. The default is [`lookup`](Self::lookup) of the registry.
    fn candidates(&self, reference: &Reference) -> Result<Candidates, CredentialError> {
        Ok(Candidates {
            credentials: self.lookup(reference.registry())?.into_iter().collect(),
            ..Candidates::default()
        })
    }

    /// The credentials the check tries for `reference`, found before `deadline`. Unlike
    /// [`candidates`](Self::candidates), which only reads what is known (the inventory and the
    /// merging of equal images use it), this may run programs that reach outside, such as the
    /// kubelet's credential provider plugins. The default is `candidates`.
    fn resolve(
        &self,
        reference: &Reference,
        deadline: std::time::Instant,
    ) -> Result<Candidates, CredentialError> {
        let _ = deadline;
        self.candidates(reference)
    }
}

/// The credentials to try for one image, and what is worth telling about the choice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// In the order to try them.
    pub credentials: Vec<LocatedCredential>,
    /// Things the user should know, e.g. a credential under a key that nearly matches.
    pub notes: Vec<String>,
    /// The kubelet's credential provider plugins that would be asked for the image (by
    /// [`candidates`](CredentialSource::candidates)) or were asked (by
    /// [`resolve`](CredentialSource::resolve)), in the kubelet's order.
    pub providers: Vec<String>,
    /// What went wrong while finding the credentials without stopping the check, e.g. a
    /// credential provider plugin that failed: the image is checked with the others.
    pub warnings: Vec<crate::diagnosis::Warning>,
}

/// Why no credential could be looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// config.json names a credential helper for this registry, and this config was not given a
    /// [`HelperRunner`](crate::inputs::docker_config::HelperRunner) (the kubelet never runs a node's
    /// helpers). The checker turns this into a warning and continues anonymously.
    #[error(
        "docker config {path} sends {registry} to the credential helper docker-credential-{helper}, which preflight does not run yet"
    )]
    HelperNotSupported {
        /// The helper's name, without the `docker-credential-` prefix.
        helper: String,
        /// The registry looked up.
        registry: String,
        /// The config file that names the helper.
        path: PathBuf,
    },
    /// The credential helper that the config names for this registry is not installed: no
    /// executable `docker-credential-HELPER` in any directory of the search path. Docker fails
    /// the pull the same way.
    #[error(
        "credential helper docker-credential-{helper} (for {registry}) is not installed: it is not on PATH"
    )]
    HelperMissing {
        /// The helper's name, without the `docker-credential-` prefix.
        helper: String,
        /// The registry looked up.
        registry: String,
    },
    /// The credential helper ran and failed (other than by saying it has no credential).
    #[error(
        "credential helper docker-credential-{helper} failed for {registry} ({status}): {message}"
    )]
    HelperFailed {
        /// The helper's name, without the `docker-credential-` prefix.
        helper: String,
        /// The registry looked up.
        registry: String,
        /// How it ended, e.g. `exit status: 3`, or `not run` when it could not be started.
        status: String,
        /// The first line the helper wrote to stderr (else stdout), cleaned of control
        /// characters and cut to 200 characters. A helper prints its credential only on success,
        /// so a failure's output holds none; output that looks like JSON is withheld anyway.
        message: String,
    },
    /// The credential helper did not finish in time; it was killed.
    #[error(
        "credential helper docker-credential-{helper} did not answer for {registry} within {seconds} s and was stopped"
    )]
    HelperTimeout {
        /// The helper's name, without the `docker-credential-` prefix.
        helper: String,
        /// The registry looked up.
        registry: String,
        /// The time limit, in whole seconds (rounded up).
        seconds: u64,
    },
    /// The credential helper succeeded but its output is not a credential. The output is never
    /// shown: it may hold the secret.
    #[error(
        "credential helper docker-credential-{helper} answered for {registry} with output that is not a credential (not shown: it may hold a secret)"
    )]
    HelperOutput {
        /// The helper's name, without the `docker-credential-` prefix.
        helper: String,
        /// The registry looked up.
        registry: String,
    },
}

/// Go's `base64.StdEncoding`, which Docker and the kubelet decode `auth` with: padding is
/// required, but non-zero trailing bits are accepted (Go is lenient there unless told to be
/// strict). Any other setting would refuse what they accept, or accept what they refuse.
pub(crate) const GO_STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Go's `base64.RawStdEncoding`, which the kubelet uses for an `auth` that does not end in `=`:
/// padding refused, non-zero trailing bits accepted.
pub(crate) const GO_RAW_STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Why an `auth` value does not decode to text. Says what kind of problem it is, never which
/// character: the input is a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthTextError {
    /// Not base64 for the decoder used. The decoder's own error is not kept: its message
    /// quotes the offending byte, a byte of the secret.
    #[error("auth is not valid base64 ({why})")]
    Base64 {
        /// What kind of problem, in words that name no character.
        why: &'static str,
    },
    /// The bytes are not UTF-8.
    #[error("auth does not decode to UTF-8 text")]
    NotUtf8 {
        /// Where the bytes stop being UTF-8: offsets only. Not `FromUtf8Error`, whose `Debug`
        /// shows the bytes, the secret.
        #[source]
        source: std::str::Utf8Error,
    },
}

/// Decodes an `auth` value to text, skipping line breaks anywhere as Go's decoder does.
pub(crate) fn decode_auth_text(
    engine: &GeneralPurpose,
    auth: &str,
) -> Result<String, AuthTextError> {
    let compact: String = auth.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let bytes = engine
        .decode(compact)
        .map_err(|err| AuthTextError::Base64 {
            why: match err {
                base64::DecodeError::InvalidByte(..) => "a character outside the base64 alphabet",
                base64::DecodeError::InvalidLength(_) => "its length is impossible for base64",
                base64::DecodeError::InvalidLastSymbol(..) => {
                    "its last character is impossible for base64"
                }
                base64::DecodeError::InvalidPadding => "missing or misplaced '=' padding",
            },
        })?;
    // A `Secret` holds text; a lossy conversion would silently send another password.
    String::from_utf8(bytes).map_err(|err| AuthTextError::NotUtf8 {
        source: err.utf8_error(),
    })
}

/// A field of a JSON object as Go's `encoding/json` — hence Docker and the kubelet — finds it:
/// the exact name, else a spelling that differs only in ASCII case (Go takes the last of several
/// such spellings in document order; this takes the first in map order). `null` counts as
/// absent: Go leaves the field untouched.
pub(crate) fn go_json_field<'a>(
    object: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    object
        .get(name)
        .or_else(|| {
            object
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .filter(|v| !v.is_null())
}

/// The JSON type of a value, for messages that must not show the value itself.
pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
