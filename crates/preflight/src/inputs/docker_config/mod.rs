//! Credentials from Docker's `config.json`, found for a registry the way `docker pull` finds them.
//!
//! We read the file ourselves instead of using the `docker_credential` crate: that crate runs
//! credential helpers blocking and with no timeout and reports a missing helper like any other
//! failure, and the report needs what it cannot give — the file and key each credential came
//! from, and the line and column of a syntax error.
//!
//! What is honoured: `auths` (an `auth` of base64 `user:password`, or `username` and `password`,
//! or an `identitytoken`), `credHelpers` and `credsStore`. The file is decoded with Docker's
//! leniencies (an empty file, field names in any case, anything after the top-level object) and
//! refused where Docker refuses it (bad base64, an `auth` without `:`, a field of the wrong type).
//!
//! Credential helpers run only when asked for, with [`DockerConfig::with_helpers`]: the kubelet
//! never runs the helpers a node's `config.json` names, so a config standing for a node must not
//! either, while a CI job's `docker pull` does run them. Without a [`HelperRunner`], a registry
//! that Docker would send to a helper, and that has no usable `auths` entry, yields
//! [`CredentialError::HelperNotSupported`] and the checker goes on anonymously. With one, the
//! helper is asked first and its answer is final, as in Docker (see [`DockerConfig::lookup`]).
//!
//! No error, `Debug` or `Display` of this module contains a password, a token or an `auth`
//! value. That includes errors from `serde_json`, whose messages can quote the input: they are
//! rebuilt from the error's category and position only; and a helper's output, which is never
//! quoted when the helper succeeded (it then holds the secret).

pub(crate) mod helpers;
pub(crate) mod process;

pub use helpers::HelperRunner;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::inputs::auth_entry::{Decoder, EntryError, EntryFields, read_entry};
use crate::inputs::json_error::{serde_problem, value_start};
use crate::model::credentials::{
    Credential, CredentialError, CredentialSource, LocatedCredential, go_json_field as field,
    json_kind as kind,
};
use crate::model::secret::Secret;

/// The registry name that image references give Docker Hub.
const HUB_REGISTRY: &str = "docker.io";

/// The key under which `docker login` stores Docker Hub's credentials.
const HUB_KEY: &str = "https://index.docker.io/v1/";

/// The host of [`HUB_KEY`], preferred over Hub's other names when no key is exact.
const HUB_INDEX_HOST: &str = "index.docker.io";

/// Every host name a config key may use for Docker Hub.
const HUB_HOSTS: [&str; 3] = [HUB_INDEX_HOST, HUB_REGISTRY, "registry-1.docker.io"];

/// A parsed Docker `config.json`: the parts that say where credentials are.
///
/// `Debug` is safe to print: credentials are held as [`Credential`]s, whose secrets are redacted.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// The file, for error messages and credential origins.
    path: PathBuf,
    /// `auths`, by key as written; `None` for an entry with nothing usable (the `{}` that Docker
    /// writes beside a `credsStore`, or one holding only an `email`). Ordered, so that choosing
    /// among keys is deterministic.
    auths: BTreeMap<String, Option<Credential>>,
    /// `credHelpers`: key → helper name (the suffix of `docker-credential-…`).
    cred_helpers: BTreeMap<String, String>,
    /// `credsStore`, when set and not empty.
    creds_store: Option<String>,
    /// Runs the helpers this config names; `None` (the default) never runs any.
    helpers: Option<HelperRunner>,
    /// What origins call this config instead of `docker-config PATH`, e.g. `DOCKER_AUTH_CONFIG`.
    origin_name: Option<String>,
}

impl DockerConfig {
    /// Parses the text of a `config.json`. `path` is only used in errors and credential origins.
    ///
    /// Like Docker, an empty file (or `null`) is an empty configuration, and whatever follows
    /// the top-level object is ignored.
    pub fn parse(json: &str, path: &Path) -> Result<DockerConfig, ConfigError> {
        let mut config = DockerConfig {
            path: path.to_owned(),
            auths: BTreeMap::new(),
            cred_helpers: BTreeMap::new(),
            creds_store: None,
            helpers: None,
            origin_name: None,
        };
        let Some(top) = top_object(json, path)? else {
            return Ok(config);
        };
        for (key, entry) in object_field(&top, "auths", path)?.into_iter().flatten() {
            let credential = parse_entry(entry).map_err(|problem| invalid(path, key, problem))?;
            config.auths.insert(key.clone(), credential);
        }
        for (key, helper) in object_field(&top, "credHelpers", path)?
            .into_iter()
            .flatten()
        {
            let helper = match helper {
                Value::String(s) => s.clone(),
                // Go stores a null map value as "", which sends the registry back to the file.
                Value::Null => String::new(),
                other => {
                    return Err(invalid(
                        path,
                        key,
                        format!(
                            "the credHelpers value is {}, expected a helper name",
                            kind(other)
                        ),
                    ));
                }
            };
            config.cred_helpers.insert(key.clone(), helper);
        }
        match field(&top, "credsStore") {
            None => {}
            Some(Value::String(store)) => {
                // Docker treats an empty store as none.
                config.creds_store = Some(store.clone()).filter(|s| !s.is_empty());
            }
            Some(other) => {
                return Err(invalid(
                    path,
                    "credsStore",
                    format!("credsStore is {}, expected a helper name", kind(other)),
                ));
            }
        }
        Ok(config)
    }

    /// Reads and parses a `config.json`. A missing file is [`ConfigError::Read`].
    pub fn load(path: &Path) -> Result<DockerConfig, ConfigError> {
        let bytes = fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // Go's JSON decoder replaces invalid UTF-8 inside strings with U+FFFD (and rejects it
        // elsewhere as a syntax error); a lossy conversion before parsing does the same.
        Self::parse(&String::from_utf8_lossy(&bytes), path)
    }

    /// Where Docker looks when `--docker-config` is absent: `$DOCKER_CONFIG/config.json`, else
    /// `$HOME/.docker/config.json`. Empty variables count as unset, as in Docker.
    pub fn default_path(docker_config_env: Option<&OsStr>, home: Option<&Path>) -> Option<PathBuf> {
        if let Some(dir) = docker_config_env.filter(|d| !d.is_empty()) {
            return Some(Path::new(dir).join("config.json"));
        }
        home.filter(|h| !h.as_os_str().is_empty())
            .map(|h| h.join(".docker").join("config.json"))
    }

    /// Loads the config Docker would use, from the real environment (`DOCKER_CONFIG`, `HOME`).
    /// A missing default file is `Ok(None)`; an unreadable or malformed one is `Err`.
    pub fn discover() -> Result<Option<DockerConfig>, ConfigError> {
        let docker_config = std::env::var_os("DOCKER_CONFIG");
        let home = home_dir();
        match Self::default_path(docker_config.as_deref(), home.as_deref()) {
            Some(path) => Self::load_if_present(&path),
            None => Ok(None),
        }
    }

    /// [`DockerConfig::load`], with a missing file being no config rather than an error: Docker
    /// runs without a config file, and so do we.
    pub fn load_if_present(path: &Path) -> Result<Option<DockerConfig>, ConfigError> {
        match Self::load(path) {
            Ok(config) => Ok(Some(config)),
            Err(ConfigError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// The usable `auths` entries, by key as written, in key order. Helpers are not consulted.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Credential)> {
        self.auths
            .iter()
            .filter_map(|(k, c)| c.as_ref().map(|c| (k.as_str(), c)))
    }

    /// The file this config was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper that Docker would use for this registry: `credHelpers[key matching
    /// registry]`, else `credsStore`. Keys match as in `auths`. A `credHelpers` entry with an
    /// empty name means "no helper" even when `credsStore` is set, as in Docker.
    pub fn helper_for(&self, registry: &str) -> Option<&str> {
        self.helper_choice(registry).map(|choice| choice.helper)
    }

    /// The helper for `registry` and the setting that chose it.
    fn helper_choice(&self, registry: &str) -> Option<HelperChoice<'_>> {
        match matching_keys(&self.cred_helpers, registry).first() {
            Some((key, helper)) => Some(helper.as_str())
                .filter(|h| !h.is_empty())
                .map(|helper| HelperChoice {
                    helper,
                    cred_helpers_key: Some(key),
                }),
            None => self.creds_store.as_deref().map(|helper| HelperChoice {
                helper,
                cred_helpers_key: None,
            }),
        }
    }

    /// The same config, whose `credHelpers` and `credsStore` are run by `runner` (see
    /// [`DockerConfig::lookup`]). Without this, helpers are never run — right for a node's
    /// config, whose helpers the kubelet ignores.
    #[must_use]
    pub fn with_helpers(mut self, runner: HelperRunner) -> DockerConfig {
        self.helpers = Some(runner);
        self
    }

    /// Whether [`DockerConfig::with_helpers`] was given a runner.
    pub fn runs_helpers(&self) -> bool {
        self.helpers.is_some()
    }

    /// The same config, named `name` in credential origins (`NAME, key K`) instead of
    /// `docker-config PATH`: for a config that is not a `config.json` file, such as the
    /// `DOCKER_AUTH_CONFIG` variable or podman's `auth.json`. Errors still name the path given
    /// to [`DockerConfig::parse`] or [`DockerConfig::load`].
    #[must_use]
    pub fn with_origin_name(mut self, name: impl Into<String>) -> DockerConfig {
        self.origin_name = Some(name.into());
        self
    }

    /// How origins name this config: the name given to [`DockerConfig::with_origin_name`], else
    /// `docker-config PATH`.
    pub fn origin_name(&self) -> String {
        match &self.origin_name {
            Some(name) => name.clone(),
            None => format!("docker-config {}", self.path.display()),
        }
    }
}

/// The file's top-level object; `None` for an empty file or `null`, which Docker reads as an
/// empty configuration.
fn top_object(json: &str, path: &Path) -> Result<Option<Map<String, Value>>, ConfigError> {
    // Go's JSON decoder refuses a byte order mark, so Docker does too; saying so beats
    // pointing at an invisible character.
    if json.starts_with('\u{feff}') {
        return Err(ConfigError::Syntax {
            path: path.to_owned(),
            line: 1,
            column: 1,
            problem: "the file starts with a byte order mark, which Docker does not accept".into(),
        });
    }
    // Docker reads the file with one `json.Decoder.Decode`: the first JSON value counts and
    // anything after it is never looked at. A stream deserializer reproduces that.
    match serde_json::Deserializer::from_str(json)
        .into_iter::<Value>()
        .next()
    {
        None | Some(Ok(Value::Null)) => Ok(None),
        Some(Err(err)) => Err(syntax_error(path, &err)),
        Some(Ok(Value::Object(object))) => Ok(Some(object)),
        Some(Ok(other)) => {
            let (line, column) = value_start(json);
            Err(ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                problem: format!("the top level is {}, expected an object", kind(&other)),
            })
        }
    }
}

/// The object under the top-level field `name`, if there is one; a value of another type makes
/// Docker refuse the file.
fn object_field<'a>(
    top: &'a Map<String, Value>,
    name: &str,
    path: &Path,
) -> Result<Option<&'a Map<String, Value>>, ConfigError> {
    match field(top, name) {
        None => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(other) => Err(invalid(
            path,
            name,
            format!("{name} is {}, expected an object", kind(other)),
        )),
    }
}

/// A helper chosen for a registry.
struct HelperChoice<'a> {
    /// The helper's name.
    helper: &'a str,
    /// The `credHelpers` key that chose it; `None` when it is the `credsStore`.
    cred_helpers_key: Option<&'a str>,
}

impl CredentialSource for DockerConfig {
    /// With helpers (see [`DockerConfig::with_helpers`]): a registry that has a helper — its
    /// `credHelpers` entry, else `credsStore` — gets the helper's answer, and only that, as from
    /// Docker: when the helper has no credential, the registry has none here, whatever `auths`
    /// holds (Docker keeps only an `email` from the file then; with a `credsStore`, `auths`
    /// entries are the `{}` placeholders `docker login` writes). A registry without a helper
    /// gets its `auths` entry.
    ///
    /// Without helpers: a usable `auths` entry wins. Without one, a registry that Docker would
    /// send to a credential helper is [`CredentialError::HelperNotSupported`]; otherwise there
    /// is no credential. The `auths` entry is used even when a helper is configured too (Docker
    /// would ask the helper): since helpers are not run, the file's entry is the best available
    /// answer.
    fn lookup(&self, registry: &str) -> Result<Option<LocatedCredential>, CredentialError> {
        let choice = self.helper_choice(registry);
        if let (Some(runner), Some(choice)) = (&self.helpers, &choice) {
            let server_url = HelperRunner::server_url(registry);
            let setting = match choice.cred_helpers_key {
                Some(key) => format!("credHelpers key {key}"),
                None => "credsStore".to_owned(),
            };
            return Ok(runner
                .get(choice.helper, registry)?
                .map(|credential| LocatedCredential {
                    credential,
                    origin: format!(
                        "docker-credential-{} for {server_url} ({setting} in {})",
                        choice.helper,
                        self.origin_name()
                    ),
                }));
        }
        // The best-ranked key with something usable: a `{}` placeholder under the preferred key
        // must not hide a real credential under another spelling of the same host.
        let found = matching_keys(&self.auths, registry)
            .into_iter()
            .find_map(|(key, credential)| credential.as_ref().map(|c| (key, c)));
        if let Some((key, credential)) = found {
            return Ok(Some(LocatedCredential {
                credential: credential.clone(),
                origin: format!("{}, key {}", self.origin_name(), key),
            }));
        }
        match choice {
            Some(HelperChoice { helper, .. }) => Err(CredentialError::HelperNotSupported {
                helper: helper.to_owned(),
                registry: registry.to_owned(),
                path: self.path.clone(),
            }),
            None => Ok(None),
        }
    }
}

/// Why a Docker config could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read (including: it does not exist).
    #[error("cannot read docker config {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not JSON, or its top level is not an object.
    #[error("{path}:{line}:{column}: {problem}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem, in bytes.
        column: usize,
        /// What is wrong; never quotes the file's content.
        problem: String,
    },
    /// An entry is unusable, and Docker refuses the whole file for it.
    #[error("docker config {path}, key {key:?}: {problem}")]
    InvalidEntry {
        /// The file.
        path: PathBuf,
        /// The entry's key: a registry key of `auths` or `credHelpers`, or a top-level field
        /// (`auths`, `credHelpers`, `credsStore`) of the wrong type.
        key: String,
        /// What is wrong, e.g. "auth is not valid base64"; never quotes a value.
        problem: String,
    },
}

/// The home directory, from the variable Docker reads on this platform.
fn home_dir() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var).map(PathBuf::from)
}

/// One `auths` entry, decoded as Docker decodes it.
fn parse_entry(entry: &Value) -> Result<Option<Credential>, EntryError> {
    let EntryFields {
        username,
        password,
        identity_token,
    } = read_entry(entry, Decoder::Docker)?;
    Ok(if !identity_token.is_empty() {
        Some(Credential::IdentityToken {
            username,
            token: Secret::new(identity_token),
        })
    } else if !username.is_empty() || !password.is_empty() {
        Some(Credential::Basic {
            username,
            password: Secret::new(password),
        })
    } else {
        None
    })
}

/// The keys of `map` that stand for `registry`, best first.
///
/// A key matches when it is `registry` exactly, or when its host — after Docker's
/// `ConvertToHostname` (drop `http://` or `https://`, cut at the first '/') and lower-casing —
/// is the registry's. All of Docker Hub's names are one host. Several keys can match (Docker
/// would take whichever its map iteration met first); the ranking makes the choice
/// deterministic: the exact key, then (for Hub) `index.docker.io`, then an `https://` key, then
/// byte order.
fn matching_keys<'a, V>(map: &'a BTreeMap<String, V>, registry: &str) -> Vec<(&'a str, &'a V)> {
    let wanted_lower = registry.to_ascii_lowercase();
    let wanted = fold_hub(&wanted_lower);
    let hub = wanted == HUB_REGISTRY;
    let mut found: Vec<_> = map
        .iter()
        .filter_map(|(key, value)| {
            let host = key_host(key);
            let exact = key == registry || (hub && key == HUB_KEY);
            if !exact && fold_hub(&host) != wanted {
                return None;
            }
            let rank = (
                !exact,
                hub && host != HUB_INDEX_HOST,
                !key.get(..8)
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")),
            );
            Some((rank, key.as_str(), value))
        })
        .collect();
    // Stable, and the map iterates in byte order: equal ranks stay in byte order.
    found.sort_by_key(|(rank, _, _)| *rank);
    found
        .into_iter()
        .map(|(_, key, value)| (key, value))
        .collect()
}

/// The host (with port) a config key stands for.
fn key_host(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    rest.split('/').next().unwrap_or_default().to_owned()
}

/// Docker Hub's host names folded into one; any other host as it is.
fn fold_hub(host: &str) -> &str {
    if HUB_HOSTS.contains(&host) {
        HUB_REGISTRY
    } else {
        host
    }
}

/// A `serde_json` syntax error, described by its category and position only: its message can
/// quote the input (`invalid type: string "…"`), and the input holds secrets.
fn syntax_error(path: &Path, err: &serde_json::Error) -> ConfigError {
    ConfigError::Syntax {
        path: path.to_owned(),
        line: err.line(),
        column: err.column(),
        problem: serde_problem(err).into(),
    }
}

/// An [`ConfigError::InvalidEntry`].
fn invalid(path: &Path, key: &str, problem: impl fmt::Display) -> ConfigError {
    ConfigError::InvalidEntry {
        path: path.to_owned(),
        key: key.to_owned(),
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    const CANARY: &str = "canary-5b1e0d-s3cr3t";

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn path() -> &'static Path {
        Path::new("/home/u/.docker/config.json")
    }

    fn parse(json: &str) -> DockerConfig {
        DockerConfig::parse(json, path()).unwrap()
    }

    fn parse_err(json: &str) -> ConfigError {
        DockerConfig::parse(json, path()).unwrap_err()
    }

    /// A config with one `auths` entry per key, each a Basic credential whose user is the key.
    fn with_keys(keys: &[&str]) -> DockerConfig {
        let entries: Vec<String> = keys
            .iter()
            .map(|k| {
                let k = serde_json::to_string(k).unwrap();
                format!("{k}: {{\"username\": {k}, \"password\": \"pw\"}}")
            })
            .collect();
        parse(&format!("{{\"auths\": {{{}}}}}", entries.join(",")))
    }

    /// The key whose credential `lookup` returns, if any.
    fn key_for(config: &DockerConfig, registry: &str) -> Option<String> {
        config
            .lookup(registry)
            .unwrap()
            .map(|c| match c.credential {
                Credential::Basic { username, .. } => username,
                other => panic!("unexpected {other:?}"),
            })
    }

    fn basic(username: &str, password: &str) -> Credential {
        Credential::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    fn only_credential(config: &DockerConfig, registry: &str) -> Credential {
        config
            .lookup(registry)
            .unwrap()
            .expect("a credential")
            .credential
    }

    /// Every rendering of an error a user or log could see.
    fn renderings(err: &ConfigError) -> String {
        let mut text = format!("{err}\n{err:?}\n{err:#?}");
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            text = format!("{text}\n{s}\n{s:?}");
            source = s.source();
        }
        text
    }

    fn assert_no_canary(text: &str) {
        assert!(!text.contains(CANARY), "secret leaked: {text}");
        assert!(
            !text.contains(&b64(&format!("user:{CANARY}"))),
            "auth leaked: {text}"
        );
    }

    // --- entries -------------------------------------------------------------------------

    #[test]
    fn base64_auth_is_basic() {
        let config = parse(&format!(
            r#"{{"auths": {{"localhost:5443": {{"auth": "{}"}}}}}}"#,
            b64("alice:pw1")
        ));
        assert_eq!(
            only_credential(&config, "localhost:5443"),
            basic("alice", "pw1")
        );
    }

    #[test]
    fn username_and_password_fields_are_basic() {
        let config = parse(r#"{"auths": {"ghcr.io": {"username": "bob", "password": "pw2"}}}"#);
        assert_eq!(only_credential(&config, "ghcr.io"), basic("bob", "pw2"));
    }

    #[test]
    fn auth_overrides_separate_fields() {
        let config = parse(&format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}", "username": "other", "password": "other"}}}}}}"#,
            b64("alice:pw1")
        ));
        assert_eq!(only_credential(&config, "ghcr.io"), basic("alice", "pw1"));
    }

    #[test]
    fn identity_token_with_user_from_auth() {
        let user = "00000000-0000-0000-0000-000000000000";
        let config = parse(&format!(
            r#"{{"auths": {{"acr.example.io": {{"auth": "{}", "identitytoken": "refresh-1"}}}}}}"#,
            b64(&format!("{user}:"))
        ));
        assert_eq!(
            only_credential(&config, "acr.example.io"),
            Credential::IdentityToken {
                username: user.into(),
                token: Secret::new("refresh-1")
            }
        );
    }

    #[test]
    fn identity_token_alone_has_an_empty_user() {
        let config = parse(r#"{"auths": {"acr.example.io": {"identitytoken": "refresh-2"}}}"#);
        assert_eq!(
            only_credential(&config, "acr.example.io"),
            Credential::IdentityToken {
                username: String::new(),
                token: Secret::new("refresh-2")
            }
        );
    }

    #[test]
    fn password_may_contain_colons() {
        let config = parse(&format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
            b64("alice:a:b::c")
        ));
        assert_eq!(only_credential(&config, "r.io"), basic("alice", "a:b::c"));
    }

    #[test]
    fn nuls_around_the_password_are_dropped_as_docker_does() {
        let config = parse(&format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
            b64("alice:pw\0\0")
        ));
        assert_eq!(only_credential(&config, "r.io"), basic("alice", "pw"));
    }

    #[test]
    fn empty_and_email_only_entries_are_no_credential() {
        let config = parse(
            r#"{"auths": {"a.io": {}, "b.io": {"email": "x@y.z"}, "c.io": null, "d.io": {"auth": "", "identitytoken": ""}}}"#,
        );
        for registry in ["a.io", "b.io", "c.io", "d.io"] {
            assert_eq!(config.lookup(registry).unwrap(), None, "{registry}");
        }
    }

    #[test]
    fn field_names_match_in_any_case_like_go() {
        let config = parse(
            r#"{"Auths": {"a.io": {"Username": "bob", "PASSWORD": "pw"}, "b.io": {"identityToken": "t"}}, "CredsStore": "desktop"}"#,
        );
        assert_eq!(only_credential(&config, "a.io"), basic("bob", "pw"));
        assert!(matches!(
            only_credential(&config, "b.io"),
            Credential::IdentityToken { .. }
        ));
        assert_eq!(config.helper_for("c.io"), Some("desktop"));
    }

    #[test]
    fn unknown_top_level_fields_are_ignored() {
        let config = parse(
            r#"{
                "HttpHeaders": {"User-Agent": "x"},
                "psFormat": "table {{.ID}}",
                "currentContext": "desktop-linux",
                "plugins": {"a": {"b": [1, 2, {"c": null}]}},
                "auths": {"r.io": {"username": "u", "password": "p", "unknownField": 5}}
            }"#,
        );
        assert_eq!(only_credential(&config, "r.io"), basic("u", "p"));
    }

    #[test]
    fn empty_file_and_null_are_empty_configs() {
        for text in ["", "  \n\t", "null", "{}"] {
            let config = parse(text);
            assert_eq!(config.lookup("docker.io").unwrap(), None, "{text:?}");
            assert_eq!(config.helper_for("docker.io"), None);
        }
    }

    #[test]
    fn text_after_the_top_level_object_is_ignored_like_docker() {
        let config = parse("{\"auths\": {\"r.io\": {\"username\": \"u\"}}}\n{ not json at all");
        assert_eq!(only_credential(&config, "r.io"), basic("u", ""));
    }

    #[test]
    fn base64_follows_go_std_encoding() {
        // Line breaks are skipped; missing padding is refused, as by Go's StdEncoding.
        let wrapped = b64("alice:pw1");
        let wrapped = format!("{}\\n{}", &wrapped[..4], &wrapped[4..]);
        let config = parse(&format!(
            r#"{{"auths": {{"r.io": {{"auth": "{wrapped}"}}}}}}"#
        ));
        assert_eq!(only_credential(&config, "r.io"), basic("alice", "pw1"));

        let unpadded = b64("alice:pw").trim_end_matches('=').to_owned();
        assert_ne!(unpadded, b64("alice:pw"));
        let err = parse_err(&format!(
            r#"{{"auths": {{"r.io": {{"auth": "{unpadded}"}}}}}}"#
        ));
        assert!(err.to_string().contains("not valid base64"), "{err}");
    }

    // --- invalid entries -----------------------------------------------------------------

    #[test]
    fn bad_base64_is_invalid_entry_naming_the_key() {
        let err = parse_err(r#"{"auths": {"localhost:5443": {"auth": "not*base64"}}}"#);
        match &err {
            ConfigError::InvalidEntry {
                path: p,
                key,
                problem,
            } => {
                assert_eq!(p, path());
                assert_eq!(key, "localhost:5443");
                assert!(problem.starts_with("auth is not valid base64"), "{problem}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "docker config /home/u/.docker/config.json, key \"localhost:5443\": auth is not valid base64 (a character outside the base64 alphabet)"
        );
    }

    #[test]
    fn auth_without_colon_is_invalid_entry() {
        let err = parse_err(&format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
            b64("alicepw")
        ));
        assert!(
            matches!(&err, ConfigError::InvalidEntry { key, problem, .. }
                if key == "r.io" && problem == "auth has no ':' between user and password"),
            "{err:?}"
        );
    }

    #[test]
    fn auth_with_empty_user_is_invalid_entry() {
        let err = parse_err(&format!(
            r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
            b64(":pw")
        ));
        assert!(
            matches!(&err, ConfigError::InvalidEntry { key, .. } if key == "r.io"),
            "{err:?}"
        );
    }

    #[test]
    fn wrong_types_are_invalid_entries() {
        let cases = [
            (
                r#"{"auths": {"r.io": {"password": 5}}}"#,
                "r.io",
                "password is a number, expected a string",
            ),
            (
                r#"{"auths": {"r.io": ["x"]}}"#,
                "r.io",
                "the entry is an array, expected an object",
            ),
            (
                r#"{"auths": "x"}"#,
                "auths",
                "auths is a string, expected an object",
            ),
            (
                r#"{"credHelpers": {"r.io": 1}}"#,
                "r.io",
                "the credHelpers value is a number, expected a helper name",
            ),
            (
                r#"{"credHelpers": []}"#,
                "credHelpers",
                "credHelpers is an array, expected an object",
            ),
            (
                r#"{"credsStore": true}"#,
                "credsStore",
                "credsStore is a boolean, expected a helper name",
            ),
        ];
        for (json, want_key, want_problem) in cases {
            match parse_err(json) {
                ConfigError::InvalidEntry { key, problem, .. } => {
                    assert_eq!(
                        (key.as_str(), problem.as_str()),
                        (want_key, want_problem),
                        "{json}"
                    );
                }
                other => panic!("{json}: unexpected {other:?}"),
            }
        }
    }

    // --- syntax --------------------------------------------------------------------------

    #[test]
    fn syntax_error_has_line_and_column() {
        // The missing ',' is noticed at the '"' opening "b.io": line 4, column 5.
        let json = "{\n  \"auths\": {\n    \"a.io\": {}\n    \"b.io\": {}\n  }\n}\n";
        match parse_err(json) {
            ConfigError::Syntax {
                path: p,
                line,
                column,
                problem,
            } => {
                assert_eq!(p, path());
                assert_eq!((line, column), (4, 5));
                assert_eq!(problem, "not valid JSON");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            parse_err(json).to_string(),
            "/home/u/.docker/config.json:4:5: not valid JSON"
        );
    }

    #[test]
    fn truncated_file_is_an_eof_syntax_error() {
        let err = parse_err("{\n  \"auths\": {\n");
        assert!(
            matches!(&err, ConfigError::Syntax { line: 3, problem, .. } if problem.contains("ends early")),
            "{err:?}"
        );
    }

    #[test]
    fn top_level_not_an_object_is_a_syntax_error_at_the_value() {
        match parse_err("\n\n   [1, 2]") {
            ConfigError::Syntax {
                line,
                column,
                problem,
                ..
            } => {
                assert_eq!((line, column), (3, 4));
                assert_eq!(problem, "the top level is an array, expected an object");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn byte_order_mark_is_named() {
        let err = parse_err("\u{feff}{}");
        assert!(
            matches!(&err, ConfigError::Syntax { line: 1, column: 1, problem, .. } if problem.contains("byte order mark"))
        );
    }

    // --- secrets never shown -------------------------------------------------------------

    #[test]
    fn canary_never_in_syntax_errors() {
        let cases = [
            // Unterminated string holding the password.
            format!(r#"{{"auths": {{"r.io": {{"password": "{CANARY}"#),
            // Invalid escape inside the password.
            format!(r#"{{"auths": {{"r.io": {{"password": "{CANARY}\q"}}}}}}"#),
            // Control character inside the password.
            format!("{{\"auths\": {{\"r.io\": {{\"password\": \"{CANARY}\u{1}\"}}}}}}"),
            // The password where a key should be.
            format!(r#"{{"auths": {{"r.io": {{"password" "{CANARY}"}}}}}}"#),
            // The password as a bare word.
            format!(r#"{{"auths": {{"r.io": {{"password": {CANARY}}}}}}}"#),
            // Top level is the password.
            format!(r#""{CANARY}""#),
        ];
        for json in cases {
            let err = parse_err(&json);
            assert!(matches!(err, ConfigError::Syntax { .. }), "{json}: {err:?}");
            assert_no_canary(&renderings(&err));
        }
    }

    #[test]
    fn canary_never_in_entry_errors() {
        let cases = [
            format!(r#"{{"auths": {{"r.io": {{"auth": "{CANARY}"}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#, b64(CANARY)),
            format!(r#"{{"auths": {{"r.io": {{"auth": ["{CANARY}"]}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": {{"password": {{"x": "{CANARY}"}}}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": {{"identitytoken": ["{CANARY}"]}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": "{CANARY}"}}}}"#),
            format!(r#"{{"auths": "{CANARY}"}}"#),
            format!(r#"{{"credsStore": ["{CANARY}"]}}"#),
            format!(
                r#"{{"auths": {{"r.io": {{"auth": "{}", "username": 1}}}}}}"#,
                b64(&format!("user:{CANARY}"))
            ),
        ];
        for json in cases {
            let err = parse_err(&json);
            assert!(
                matches!(err, ConfigError::InvalidEntry { .. }),
                "{json}: {err:?}"
            );
            assert_no_canary(&renderings(&err));
        }
    }

    #[test]
    fn canary_never_in_debug_of_config_or_credential() {
        let config = parse(&format!(
            r#"{{"auths": {{"a.io": {{"auth": "{}"}}, "b.io": {{"identitytoken": "{CANARY}"}}, "c.io": {{"username": "u", "password": "{CANARY}"}}}}, "credsStore": "desktop"}}"#,
            b64(&format!("user:{CANARY}"))
        ));
        assert_no_canary(&format!("{config:?} {config:#?}"));
        for registry in ["a.io", "b.io", "c.io"] {
            let found = config.lookup(registry).unwrap().unwrap();
            assert_no_canary(&format!("{found:?} {found:#?} {}", found.origin));
        }
        let err = config.lookup("d.io").unwrap_err();
        assert_no_canary(&format!("{err} {err:?}"));
    }

    // --- matching keys -------------------------------------------------------------------

    #[test]
    fn hub_matches_every_spelling_with_or_without_scheme() {
        for host in ["index.docker.io", "docker.io", "registry-1.docker.io"] {
            for key in [
                host.to_owned(),
                format!("https://{host}"),
                format!("https://{host}/v1/"),
                format!("http://{host}/v2/"),
                format!("{host}/v1/"),
            ] {
                let config = with_keys(&[&key]);
                assert_eq!(
                    key_for(&config, "docker.io").as_deref(),
                    Some(key.as_str()),
                    "{key}"
                );
            }
        }
    }

    #[test]
    fn hub_prefers_the_docker_login_key() {
        let config = with_keys(&[
            "docker.io",
            "registry-1.docker.io",
            "https://index.docker.io/v1/",
            "index.docker.io",
        ]);
        assert_eq!(key_for(&config, "docker.io").as_deref(), Some(HUB_KEY));
        // Without it, a key equal to the registry is exact too.
        let config = with_keys(&[
            "docker.io",
            "https://registry-1.docker.io",
            "https://index.docker.io",
        ]);
        assert_eq!(key_for(&config, "docker.io").as_deref(), Some("docker.io"));
        // Then index.docker.io beats Hub's other names, and https:// beats no scheme.
        let config = with_keys(&[
            "https://docker.io",
            "https://registry-1.docker.io",
            "index.docker.io",
            "https://index.docker.io",
        ]);
        assert_eq!(
            key_for(&config, "docker.io").as_deref(),
            Some("https://index.docker.io")
        );
        let config = with_keys(&["https://docker.io/", "registry-1.docker.io"]);
        assert_eq!(
            key_for(&config, "docker.io").as_deref(),
            Some("https://docker.io/")
        );
    }

    #[test]
    fn hub_aliases_as_registry_also_find_hub_keys() {
        let config = with_keys(&[HUB_KEY]);
        for registry in ["index.docker.io", "registry-1.docker.io", "Docker.IO"] {
            assert_eq!(
                key_for(&config, registry).as_deref(),
                Some(HUB_KEY),
                "{registry}"
            );
        }
    }

    #[test]
    fn hub_keys_do_not_match_other_registries() {
        let config = with_keys(&[HUB_KEY, "docker.io"]);
        for registry in [
            "ghcr.io",
            "quay.io",
            "docker.io.evil.example",
            "localhost:5000",
        ] {
            assert_eq!(key_for(&config, registry), None, "{registry}");
        }
    }

    #[test]
    fn scheme_and_path_are_stripped() {
        for key in [
            "https://registry.example.com/v2/",
            "http://registry.example.com",
            "registry.example.com/some/path",
            "https://registry.example.com",
        ] {
            let config = with_keys(&[key]);
            assert_eq!(
                key_for(&config, "registry.example.com").as_deref(),
                Some(key),
                "{key}"
            );
        }
    }

    #[test]
    fn ports_matter() {
        let config = with_keys(&["localhost"]);
        assert_eq!(key_for(&config, "localhost:5000"), None);
        let config = with_keys(&["localhost:5000"]);
        assert_eq!(key_for(&config, "localhost"), None);
        assert_eq!(key_for(&config, "localhost:5001"), None);
        assert_eq!(
            key_for(&config, "localhost:5000").as_deref(),
            Some("localhost:5000")
        );
        let config = with_keys(&["http://localhost:5000/v2/"]);
        assert_eq!(
            key_for(&config, "localhost:5000").as_deref(),
            Some("http://localhost:5000/v2/")
        );
    }

    #[test]
    fn ipv6_registry_matches() {
        let config = with_keys(&["http://[::1]:5000/v2/"]);
        assert_eq!(
            key_for(&config, "[::1]:5000").as_deref(),
            Some("http://[::1]:5000/v2/")
        );
        assert_eq!(key_for(&config, "[::1]:5001"), None);
    }

    #[test]
    fn host_matches_in_any_case() {
        let config = with_keys(&["HTTPS://Registry.Example.COM/v2/"]);
        assert_eq!(
            key_for(&config, "registry.example.com").as_deref(),
            Some("HTTPS://Registry.Example.COM/v2/")
        );
    }

    #[test]
    fn precedence_exact_then_https_then_byte_order() {
        let config = with_keys(&["http://r.io", "https://r.io/v2/", "r.io", "R.IO"]);
        assert_eq!(key_for(&config, "r.io").as_deref(), Some("r.io"));
        let config = with_keys(&["http://r.io", "https://r.io/v2/", "R.IO"]);
        assert_eq!(
            key_for(&config, "r.io").as_deref(),
            Some("https://r.io/v2/")
        );
        let config = with_keys(&["r.io/b", "r.io/a", "http://r.io"]);
        assert_eq!(key_for(&config, "r.io").as_deref(), Some("http://r.io"));
        let config = with_keys(&["r.io/b", "r.io/a"]);
        assert_eq!(key_for(&config, "r.io").as_deref(), Some("r.io/a"));
    }

    #[test]
    fn a_placeholder_under_the_best_key_does_not_hide_a_credential() {
        let config = parse(&format!(
            r#"{{"auths": {{"https://index.docker.io/v1/": {{}}, "docker.io": {{"auth": "{}"}}}}}}"#,
            b64("alice:pw")
        ));
        let found = config.lookup("docker.io").unwrap().unwrap();
        assert_eq!(found.credential, basic("alice", "pw"));
        assert_eq!(
            found.origin,
            "docker-config /home/u/.docker/config.json, key docker.io"
        );
    }

    // --- helpers -------------------------------------------------------------------------

    #[test]
    fn creds_store_without_usable_entry_is_helper_not_supported() {
        let config =
            parse(r#"{"auths": {"https://index.docker.io/v1/": {}}, "credsStore": "desktop"}"#);
        assert_eq!(
            config.lookup("docker.io"),
            Err(CredentialError::HelperNotSupported {
                helper: "desktop".into(),
                registry: "docker.io".into(),
                path: path().to_owned(),
            })
        );
        // credsStore covers every registry, listed in auths or not.
        assert!(config.lookup("ghcr.io").is_err());
        assert_eq!(
            config.lookup("ghcr.io").unwrap_err().to_string(),
            "docker config /home/u/.docker/config.json sends ghcr.io to the credential helper docker-credential-desktop, which preflight does not run yet"
        );
    }

    #[test]
    fn usable_entry_wins_over_a_helper() {
        let config = parse(&format!(
            r#"{{"auths": {{"ghcr.io": {{"auth": "{}"}}}}, "credHelpers": {{"ghcr.io": "gh"}}, "credsStore": "desktop"}}"#,
            b64("alice:pw")
        ));
        assert_eq!(only_credential(&config, "ghcr.io"), basic("alice", "pw"));
        assert_eq!(config.helper_for("ghcr.io"), Some("gh"));
    }

    #[test]
    fn cred_helpers_match_like_auths_and_beat_creds_store() {
        let config = parse(
            r#"{"credHelpers": {"https://123.dkr.ecr.us-east-1.amazonaws.com/v2/": "ecr-login", "index.docker.io": "hub", "localhost:5000": ""}, "credsStore": "desktop"}"#,
        );
        assert_eq!(
            config.helper_for("123.dkr.ecr.us-east-1.amazonaws.com"),
            Some("ecr-login")
        );
        assert_eq!(config.helper_for("docker.io"), Some("hub"));
        assert_eq!(config.helper_for("ghcr.io"), Some("desktop"));
        // An empty helper name sends the registry back to the file, as in Docker.
        assert_eq!(config.helper_for("localhost:5000"), None);
        assert_eq!(config.lookup("localhost:5000"), Ok(None));
        assert!(matches!(
            config.lookup("123.dkr.ecr.us-east-1.amazonaws.com"),
            Err(CredentialError::HelperNotSupported { helper, .. }) if helper == "ecr-login"
        ));
    }

    #[test]
    fn no_entry_and_no_helper_is_none() {
        let config = parse(
            r#"{"auths": {"ghcr.io": {"username": "u", "password": "p"}}, "credsStore": ""}"#,
        );
        assert_eq!(config.helper_for("quay.io"), None);
        assert_eq!(config.lookup("quay.io"), Ok(None));
    }

    // --- files ---------------------------------------------------------------------------

    #[test]
    fn default_path_prefers_docker_config() {
        let home = Path::new("/home/u");
        assert_eq!(
            DockerConfig::default_path(Some(OsStr::new("/etc/dockercfg")), Some(home)),
            Some(PathBuf::from("/etc/dockercfg/config.json"))
        );
        assert_eq!(
            DockerConfig::default_path(Some(OsStr::new("/etc/dockercfg")), None),
            Some(PathBuf::from("/etc/dockercfg/config.json"))
        );
    }

    #[test]
    fn default_path_falls_back_to_home() {
        let home = Path::new("/home/u");
        let want = Some(PathBuf::from("/home/u/.docker/config.json"));
        assert_eq!(DockerConfig::default_path(None, Some(home)), want);
        assert_eq!(
            DockerConfig::default_path(Some(OsStr::new("")), Some(home)),
            want
        );
        assert_eq!(DockerConfig::default_path(None, None), None);
        assert_eq!(DockerConfig::default_path(None, Some(Path::new(""))), None);
    }

    #[test]
    fn load_reads_a_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        fs::write(
            &file,
            format!(
                r#"{{"auths": {{"localhost:5443": {{"auth": "{}"}}}}}}"#,
                b64("alice:pw")
            ),
        )
        .unwrap();
        let config = DockerConfig::load(&file).unwrap();
        assert_eq!(config.path(), file);
        let found = config.lookup("localhost:5443").unwrap().unwrap();
        assert_eq!(found.credential, basic("alice", "pw"));
        assert_eq!(
            found.origin,
            format!("docker-config {}, key localhost:5443", file.display())
        );
    }

    #[test]
    fn load_replaces_invalid_utf8_like_go() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        fs::write(
            &file,
            b"{\"auths\": {\"r.io\": {\"username\": \"u\", \"password\": \"p\xff\"}}}",
        )
        .unwrap();
        let config = DockerConfig::load(&file).unwrap();
        assert_eq!(only_credential(&config, "r.io"), basic("u", "p\u{fffd}"));
    }

    #[test]
    fn missing_file_is_read_error_for_load_and_none_for_discovery() {
        let dir = tempfile::tempdir().unwrap();
        let docker_config = dir.path().join("nowhere");
        let file = DockerConfig::default_path(Some(docker_config.as_os_str()), None).unwrap();
        let err = DockerConfig::load(&file).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Read { path: p, source } if p == &file && source.kind() == io::ErrorKind::NotFound),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("cannot read docker config {}", file.display())
        );
        assert!(DockerConfig::load_if_present(&file).unwrap().is_none());
    }

    #[test]
    fn discovery_reports_an_unreadable_or_malformed_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be is not "missing".
        fs::create_dir(dir.path().join("config.json")).unwrap();
        let file = DockerConfig::default_path(Some(dir.path().as_os_str()), None).unwrap();
        assert!(matches!(
            DockerConfig::load_if_present(&file),
            Err(ConfigError::Read { .. })
        ));

        let home = tempfile::tempdir().unwrap();
        fs::create_dir(home.path().join(".docker")).unwrap();
        let file = DockerConfig::default_path(None, Some(home.path())).unwrap();
        fs::write(&file, "{\"auths\": ").unwrap();
        assert!(matches!(
            DockerConfig::load_if_present(&file),
            Err(ConfigError::Syntax { .. })
        ));
        fs::write(&file, "{}").unwrap();
        assert!(DockerConfig::load_if_present(&file).unwrap().is_some());
    }

    #[test]
    fn docker_config_is_a_usable_trait_object() {
        let source: std::sync::Arc<dyn CredentialSource> =
            std::sync::Arc::new(with_keys(&["r.io"]));
        assert!(source.lookup("r.io").unwrap().is_some());
        assert!(format!("{source:?}").contains("r.io"));
    }
}
