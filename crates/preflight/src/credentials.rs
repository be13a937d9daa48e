//! Credentials and where they come from: the types every credential source shares, and the
//! trait the checker asks. Sources: [`crate::docker_config`] (the CI runner's `config.json`) and
//! any a user plugs in.

use std::fmt;
use std::path::PathBuf;

use crate::reference::Reference;
use crate::secret::Secret;

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
            notes: Vec::new(),
        })
    }
}

/// The credentials to try for one image, and what is worth telling about the choice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// In the order to try them.
    pub credentials: Vec<LocatedCredential>,
    /// Things the user should know, e.g. a credential under a key that nearly matches.
    pub notes: Vec<String>,
}

/// Why no credential could be looked up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// config.json names a credential helper for this registry; helpers are not run yet (a later
    /// feature). The checker turns this into a warning and continues anonymously.
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
}
