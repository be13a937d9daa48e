//! The credentials a pod's image pull gets from the kubelet: its pull secrets and the node's
//! `config.json`, matched against the image exactly the way the kubelet matches them.
//!
//! A pull that works with `docker pull` on a laptop can still fail on a node, because the
//! kubelet picks credentials by rules of its own (Kubernetes `pkg/credentialprovider`):
//!
//! - Every key of a secret is turned into an index key (`BasicDockerKeyring.Add` in
//!   `keyring.go`): `https://` is put in front unless the key starts with a lower-case `http://`
//!   or `https://`, the result goes through Go's `url.Parse` (a key it refuses is ignored), a
//!   leading `/v1/` or `/v2/` of the path is cut to `/`, and the index key is the host (with its
//!   port) followed by the path unless that is empty or `/`.
//! - A lookup (`BasicDockerKeyring.Lookup`, `URLsMatch`) compares each index key with the
//!   image's name as `distribution/reference` normalizes it (`docker.io/library/nginx`, the
//!   registry spelled as written otherwise): the ports must be equal as text, the hosts must
//!   have as many dot-separated labels, each label of the key is a glob (Go's `filepath.Match`:
//!   `*`, `?`, `[...]`, case-sensitive) for the image's label, and the key's path must be a plain
//!   string prefix of the image's (`registry.io/te` matches `registry.io/team/app`).
//! - The index is sorted in reverse byte order, so `quay.io/team` comes before `quay.io`, and
//!   ALL matching credentials are returned in that order; entries under one index key keep the
//!   order they were added in.
//! - Only when nothing matched, an image that "looks like Docker Hub" (`isDefaultRegistryMatch`:
//!   `docker.io/…`, `index.docker.io/…`, or a first component without `.` or `:` — which
//!   includes `localhost/…`) gets the credentials under the index key `index.docker.io`, which
//!   is what `https://index.docker.io/v1/`, `index.docker.io/v1/` and `index.docker.io` become.
//! - A pod's secrets (its `imagePullSecrets`, then its `ServiceAccount`'s) form one keyring; the
//!   node's credentials another. The pod's matches come first (`UnionDockerKeyring`), then the
//!   node's. When anything matched, the kubelet tries each credential in turn and never falls
//!   back to an anonymous pull.
//! - An entry is decoded by `DockerConfigEntry.UnmarshalJSON` (`config.go`): `auth` (base64 of
//!   `user:password`, split at the first `:`) overrides `username` and `password`; `email` is
//!   type-checked too; `identitytoken`, `credHelpers` and `credsStore` are ignored — the kubelet
//!   never sends an identity token and never runs a helper.
//!
//! Errors and `Debug` output of this module never contain a password, a token, an `auth`
//! value or a secret's encoded data; JSON errors are rebuilt from `serde_json`'s category and
//! position, since its messages can quote the input.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv6Addr;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::inputs::auth_entry::{Decoder, EntryError, EntryFields, read_entry};
use crate::inputs::docker_config::DockerConfig;
use crate::inputs::json_error::{serde_problem, value_start};
use crate::model::credentials::{
    Candidates, Credential, CredentialError, CredentialSource, GO_STD_BASE64, LocatedCredential,
    go_json_field as field, json_kind as kind,
};
use crate::model::reference::Reference;
use crate::model::secret::Secret;
use crate::model::similar::edit_distance_within;

const TYPE_DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
const TYPE_DOCKERCFG: &str = "kubernetes.io/dockercfg";
const KEY_DOCKER_CONFIG_JSON: &str = ".dockerconfigjson";
const KEY_DOCKERCFG: &str = ".dockercfg";
/// The type the API server gives a secret that names none.
const DEFAULT_SECRET_TYPE: &str = "Opaque";
/// The domain `distribution/reference` gives Docker Hub images.
const HUB_DOMAIN: &str = "docker.io";
/// The kubelet's `defaultRegistryHost`: the index key its Docker Hub fallback reads.
const HUB_INDEX_KEY: &str = "index.docker.io";
/// Host names are at most 253 characters; anything much longer is not worth a typo hint, and
/// bounding the edit distance keeps hostile input cheap.
const MAX_HINT_HOST: usize = 255;

// --- pull secrets ------------------------------------------------------------------------

/// An image pull secret, decoded the way the kubelet decodes it.
///
/// `Debug` is safe to print: credentials are held as [`Credential`]s, whose secrets are redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecret {
    namespace: String,
    name: String,
    /// Every registry key, in byte order (the kubelet walks a Go map, whose order is random;
    /// a fixed order keeps reports stable).
    entries: Vec<SecretEntry>,
    /// Top-level keys of a `.dockerconfigjson` that look like registries but sit outside
    /// `auths`, where the kubelet never looks: kept only to explain a missing match.
    misplaced: Vec<String>,
}

/// One registry key of a secret and what the kubelet sends for it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SecretEntry {
    key: String,
    /// `None` when the entry has neither user name nor password: the kubelet still sends it,
    /// and the runtime pulls anonymously with it.
    credential: Option<Credential>,
    /// The entry has an `identitytoken`, which the kubelet drops.
    identity_token: bool,
}

impl PullSecret {
    /// Decodes a Secret of type `kubernetes.io/dockerconfigjson` or `kubernetes.io/dockercfg`.
    ///
    /// `data` holds base64 values as in the Secret's `data:`; `string_data` plain values
    /// (`stringData:` wins per key, as the API server does). A `secret_type` of `None` is
    /// `Opaque`, as the API server defaults it.
    ///
    /// The errors tell apart a secret the kubelet silently ignores ([`PullSecretError::WrongType`],
    /// [`PullSecretError::MissingKey`]) from one it cannot decode, which makes every pull of
    /// the pod fail ([`PullSecretError::Json`], [`PullSecretError::InvalidEntry`]).
    pub fn decode(
        namespace: &str,
        name: &str,
        secret_type: Option<&str>,
        data: &BTreeMap<String, String>,
        string_data: &BTreeMap<String, String>,
    ) -> Result<PullSecret, PullSecretError> {
        let at = SecretName { namespace, name };
        let found = secret_type.unwrap_or(DEFAULT_SECRET_TYPE);
        let (key, legacy) = match found {
            TYPE_DOCKER_CONFIG_JSON => (KEY_DOCKER_CONFIG_JSON, false),
            TYPE_DOCKERCFG => (KEY_DOCKERCFG, true),
            _ => {
                return Err(PullSecretError::WrongType {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    found: found.to_owned(),
                });
            }
        };
        let bytes = if let Some(plain) = string_data.get(key) {
            plain.as_bytes().to_vec()
        } else if let Some(encoded) = data.get(key) {
            // Go's base64 decoder skips line breaks, which YAML block scalars leave in.
            let compact: String = encoded
                .chars()
                .filter(|c| !matches!(c, '\r' | '\n'))
                .collect();
            GO_STD_BASE64
                .decode(compact)
                .map_err(|_| PullSecretError::Base64 {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    key: key.to_owned(),
                })?
        } else {
            return Err(PullSecretError::MissingKey {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                key,
            });
        };
        if bytes.is_empty() {
            // The kubelet skips an empty value; the API server refuses it as invalid JSON.
            return Err(at.json(1, 1, "the value is empty, where a JSON object was expected"));
        }
        // Go's JSON decoder puts U+FFFD for invalid UTF-8 inside strings, and refuses it
        // elsewhere; a lossy conversion does the same.
        let text = String::from_utf8_lossy(&bytes);
        let top: Value = serde_json::from_str(&text).map_err(|err| at.json_from_serde(&err))?;

        let mut secret = PullSecret {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            entries: Vec::new(),
            misplaced: Vec::new(),
        };
        let auths = match &top {
            // Go decodes `null` into an empty value, without error.
            Value::Null => None,
            Value::Object(top) if legacy => Some(top),
            Value::Object(top) => {
                check_http_headers(top).map_err(|problem| at.invalid("HttpHeaders", problem))?;
                secret.misplaced = top
                    .iter()
                    .filter(|(k, v)| {
                        v.is_object()
                            && !k.eq_ignore_ascii_case("auths")
                            && looks_like_registry_key(k)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                secret.misplaced.sort();
                match field(top, "auths") {
                    None => None,
                    Some(Value::Object(auths)) => Some(auths),
                    Some(other) => {
                        return Err(at.invalid(
                            "auths",
                            format!("auths is {}, expected an object", kind(other)),
                        ));
                    }
                }
            }
            other => {
                let (line, column) = value_start(&text);
                return Err(at.json(
                    line,
                    column,
                    &format!("the top level is {}, expected an object", kind(other)),
                ));
            }
        };
        for (key, entry) in auths.into_iter().flatten() {
            let (credential, identity_token) =
                parse_entry(entry).map_err(|problem| at.invalid(key, problem))?;
            secret.entries.push(SecretEntry {
                key: key.clone(),
                credential,
                identity_token,
            });
        }
        // serde_json's map order depends on a crate feature; byte order does not.
        secret.entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(secret)
    }

    /// The secret's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The secret's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every registry key the kubelet indexes, as written and in byte order — including keys
    /// whose entry holds no user name or password.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key.as_str())
    }
}

/// Why a pull secret cannot be used. Never contains a credential or the secret's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PullSecretError {
    /// The secret is neither `kubernetes.io/dockerconfigjson` nor `kubernetes.io/dockercfg`;
    /// the kubelet ignores such a secret for image pulls.
    #[error(
        "secret {namespace}/{name} has type {found}, which the kubelet ignores for image pulls (it reads only kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg)"
    )]
    WrongType {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// The type it has (`Opaque` when none was written).
        found: String,
    },
    /// The key the type calls for (`.dockerconfigjson` or `.dockercfg`) is in neither `data`
    /// nor `stringData`; the kubelet ignores the secret.
    #[error("secret {namespace}/{name} has no {key} key, so the kubelet ignores it")]
    MissingKey {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// The key that is missing.
        key: &'static str,
    },
    /// The value under `data` is not base64; the API server refuses such a secret.
    #[error(
        "secret {namespace}/{name}: data {key} is not valid base64 (values under data: are base64-encoded; plain text belongs under stringData:)"
    )]
    Base64 {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// The data key whose value is not base64.
        key: String,
    },
    /// The docker config in the secret is not JSON, or its top level is not an object; the
    /// kubelet then fails every pull of the pod.
    #[error(
        "secret {namespace}/{name}: the docker config is not usable JSON at line {line}, column {column}: {problem}"
    )]
    Json {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// 1-based line within the decoded docker config.
        line: usize,
        /// 1-based column within that line, in bytes.
        column: usize,
        /// What is wrong; never quotes the content.
        problem: String,
    },
    /// An entry (or a top-level field such as `auths`) has a value the kubelet refuses,
    /// failing every pull of the pod.
    #[error("secret {namespace}/{name}, key {key:?}: {problem}")]
    InvalidEntry {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// The registry key, or the top-level field, that is wrong.
        key: String,
        /// What is wrong, e.g. "auth is not valid base64"; never quotes a value.
        problem: String,
    },
}

/// Which secret an error is about.
struct SecretName<'a> {
    namespace: &'a str,
    name: &'a str,
}

impl SecretName<'_> {
    fn json(&self, line: usize, column: usize, problem: &str) -> PullSecretError {
        PullSecretError::Json {
            namespace: self.namespace.to_owned(),
            name: self.name.to_owned(),
            line,
            column,
            problem: problem.to_owned(),
        }
    }

    /// A `serde_json` error by category and position only: its message can quote the input,
    /// and the input holds secrets.
    fn json_from_serde(&self, err: &serde_json::Error) -> PullSecretError {
        self.json(err.line(), err.column(), serde_problem(err))
    }

    fn invalid(&self, key: &str, problem: impl fmt::Display) -> PullSecretError {
        PullSecretError::InvalidEntry {
            namespace: self.namespace.to_owned(),
            name: self.name.to_owned(),
            key: key.to_owned(),
            problem: problem.to_string(),
        }
    }
}

/// `HttpHeaders` is the one other field the kubelet's `DockerConfigJSON` declares, as a map of
/// strings; Go refuses the whole secret when it has another shape.
fn check_http_headers(top: &Map<String, Value>) -> Result<(), HttpHeadersError> {
    match field(top, "HttpHeaders") {
        None => Ok(()),
        Some(Value::Object(headers)) => match headers
            .values()
            .find(|v| !matches!(v, Value::String(_) | Value::Null))
        {
            Some(other) => Err(HttpHeadersError::HeaderNotAString { kind: kind(other) }),
            None => Ok(()),
        },
        Some(other) => Err(HttpHeadersError::NotAnObject { kind: kind(other) }),
    }
}

/// Why `HttpHeaders` makes Go refuse the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum HttpHeadersError {
    #[error("HttpHeaders is {kind}, expected an object")]
    NotAnObject { kind: &'static str },
    #[error("a header in HttpHeaders is {kind}, expected a string")]
    HeaderNotAString { kind: &'static str },
}

/// Whether a stray top-level key reads as a registry, so that `{"r.io": {…}}` written without
/// `auths` gets a hint while config.json's own fields (`credHelpers`, `proxies`) do not.
fn looks_like_registry_key(key: &str) -> bool {
    key.contains(['.', ':']) || key.eq_ignore_ascii_case("localhost")
}

/// One entry, decoded as `DockerConfigEntry.UnmarshalJSON` does: the credential the kubelet
/// sends and whether an ignored `identitytoken` was there. Unlike Docker, an empty user name
/// in `auth` is accepted and NULs are kept.
fn parse_entry(entry: &Value) -> Result<(Option<Credential>, bool), EntryError> {
    let EntryFields {
        username,
        password,
        identity_token,
    } = read_entry(entry, Decoder::Kubelet)?;
    let credential = (!username.is_empty() || !password.is_empty()).then(|| Credential::Basic {
        username,
        password: Secret::new(password),
    });
    Ok((credential, !identity_token.is_empty()))
}


// --- Go's URL parsing, as far as the keyring depends on it ----------------------------------

/// What Go's `url.Parse` makes of `https://…` or `http://…`: the host (with port, `%`-escapes
/// decoded) and the decoded path, or `None` where Go returns an error. The query and fragment
/// are cut off, as Go does, which is why a `?` in a key ends it.
fn go_url_parse(raw: &str) -> Option<(String, String)> {
    let (url, fragment) = match raw.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (raw, None),
    };
    if fragment.is_some_and(|f| !valid_escapes(f)) {
        return None;
    }
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let host = parse_authority(authority)?;
    let path = unescape(path.as_bytes(), false)?;
    Some((host, path))
}

/// Go's `parseAuthority`: user info (validated, then dropped) before the last `@`, then the host.
fn parse_authority(authority: &str) -> Option<String> {
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c);
            if !userinfo.chars().all(allowed) || !valid_escapes(userinfo) {
                return None;
            }
            host
        }
        None => authority,
    };
    parse_host(host)
}

/// Go's `parseHost`: a bracketed IPv6 literal or a name, an optional `:digits` port, and only
/// the characters a host may hold.
fn parse_host(host: &str) -> Option<String> {
    if host.starts_with('[') {
        let close = host.rfind(']')?;
        if !valid_optional_port(host.get(close + 1..)?) {
            return None;
        }
        // Go (since 1.24.8 / 1.25.2) accepts only an IPv6 address between brackets. A zone
        // (`%25eth0`) is refused here, where Go accepts it: no image reference has one, so
        // such a key can never match either way.
        host.get(1..close)?.parse::<Ipv6Addr>().ok()?;
    } else if let Some(colon) = host.rfind(':')
        && !valid_optional_port(host.get(colon..)?)
    {
        return None;
    }
    unescape(host.as_bytes(), true)
}

/// Go's `validOptionalPort`: nothing, or `:` and digits (any number of them, even none).
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether every `%` starts a two-digit hex escape.
fn valid_escapes(text: &str) -> bool {
    unescape(text.as_bytes(), false).is_some()
}

/// Go's `unescape` for a path (`host == false`) or a host: `%XX` decoded; in a host, only
/// non-ASCII bytes (and `%25`) may be escaped, and ASCII outside letters, digits and
/// `-._~!$&'()*+,;=:[]<>"` is refused.
fn unescape(text: &[u8], host: bool) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b == b'%' {
            let hi = text.get(i + 1).copied().and_then(hex_value)?;
            let lo = text.get(i + 2).copied().and_then(hex_value)?;
            if host && hi < 8 && !(hi == 2 && lo == 5) {
                return None;
            }
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            if host && b < 0x80 && !allowed_in_host(b) {
                return None;
            }
            out.push(b);
            i += 1;
        }
    }
    // Go keeps the bytes; they only ever meet ASCII image names, which no invalid UTF-8 (nor
    // the U+FFFD that replaces it) can match.
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn allowed_in_host(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b)
}

/// Go's `net.SplitHostPort`, whose failure makes the kubelet take the whole host as the name
/// and no port.
fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let colon = hostport.rfind(':')?;
    let (host, open_from, close_from) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != colon {
            return None;
        }
        (hostport.get(1..end)?, 1, end + 1)
    } else {
        let host = hostport.get(..colon)?;
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport.get(open_from..)?.contains('[') || hostport.get(close_from..)?.contains(']') {
        return None;
    }
    Some((host, hostport.get(colon + 1..)?))
}

/// A key or an image name as `URLsMatch` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UrlParts {
    /// The host split at dots (the whole host, port included, when `SplitHostPort` refused it).
    labels: Vec<String>,
    /// The port as written; empty for none.
    port: String,
    /// The path, decoded; empty for none.
    path: String,
}

impl UrlParts {
    /// The kubelet's `ParseSchemelessURL` then `SplitURL`.
    fn parse_schemeless(text: &str) -> Option<UrlParts> {
        let (host, path) = go_url_parse(&format!("https://{text}"))?;
        let (name, port) = split_host_port(&host).unwrap_or((&host, ""));
        Some(UrlParts {
            labels: name.split('.').map(str::to_owned).collect(),
            port: port.to_owned(),
            path,
        })
    }

    /// `URLsMatch(self, target)`: same port, as many labels, each label a glob, and the path
    /// a plain prefix.
    fn matches(&self, target: &UrlParts) -> bool {
        self.port == target.port
            && target.path.starts_with(&self.path)
            && self.hosts_match(target, true)
    }

    fn hosts_match(&self, target: &UrlParts, case_sensitive: bool) -> bool {
        self.labels.len() == target.labels.len()
            && self.labels.iter().zip(&target.labels).all(|(glob, label)| {
                if case_sensitive {
                    glob_match(glob, label)
                } else {
                    glob_match(&glob.to_ascii_lowercase(), &label.to_ascii_lowercase())
                }
            })
    }
}

/// The kubelet's index key for a key as written (`BasicDockerKeyring.Add`); `None` for a key
/// it cannot parse and so ignores.
fn index_key(key: &str) -> Option<String> {
    let value = if key.starts_with("https://") || key.starts_with("http://") {
        key.to_owned()
    } else {
        format!("https://{key}")
    };
    let (host, path) = go_url_parse(&value)?;
    let effective = if path.starts_with("/v2/") || path.starts_with("/v1/") {
        path.get(3..).unwrap_or_default()
    } else {
        &path
    };
    Some(if effective.is_empty() || effective == "/" {
        host
    } else {
        host + effective
    })
}

// --- globs ---------------------------------------------------------------------------------

/// One element of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Glob {
    /// `*`: any run of characters.
    Star,
    /// `?`: any one character.
    Any,
    /// A character, written as is or escaped with `\`.
    Literal(char),
    /// `[...]` or `[^...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    fn matches_one(&self, c: char) -> bool {
        // Go's `*` and `?` never cross its separator; host labels never hold one, but the rule
        // costs nothing.
        match self {
            Glob::Star | Glob::Any => c != '/',
            Glob::Literal(l) => *l == c,
            Glob::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// Go's `filepath.Match` on Unix for one host label. A malformed pattern (an unclosed or empty
/// class, a dangling `\`) matches nothing: Go returns `ErrBadPattern`, which the kubelet
/// treats as no match.
fn glob_match(pattern: &str, name: &str) -> bool {
    let Some(globs) = compile_glob(pattern) else {
        return false;
    };
    let name: Vec<char> = name.chars().collect();
    // Every element but `*` takes exactly one character, so the leftmost match of each run
    // between stars is always safe: backtracking to the last star is enough (and is what Go's
    // chunk-by-chunk search amounts to).
    let (mut g, mut n) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while let Some(&c) = name.get(n) {
        match globs.get(g) {
            Some(Glob::Star) => {
                last_star = Some((g, n));
                g += 1;
            }
            Some(glob) if glob.matches_one(c) => {
                g += 1;
                n += 1;
            }
            _ => {
                // Let the last star take one more character and retry after it. A star cannot
                // take a separator, and no earlier star could take it either.
                let Some((star, from)) = last_star else {
                    return false;
                };
                if name.get(from).is_none_or(|&s| !Glob::Star.matches_one(s)) {
                    return false;
                }
                last_star = Some((star, from + 1));
                g = star + 1;
                n = from + 1;
            }
        }
    }
    globs
        .get(g..)
        .is_some_and(|rest| rest.iter().all(|glob| *glob == Glob::Star))
}

/// Parses a glob with Go's syntax; `None` where Go reports `ErrBadPattern`.
fn compile_glob(pattern: &str) -> Option<Vec<Glob>> {
    let mut chars = pattern.chars().peekable();
    let mut globs = Vec::new();
    while let Some(c) = chars.next() {
        globs.push(match c {
            '*' => Glob::Star,
            '?' => Glob::Any,
            '\\' => Glob::Literal(chars.next()?),
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    // `]` closes the class only after at least one range: `[]` is malformed.
                    if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    let lo = class_char(&mut chars)?;
                    let hi = if chars.next_if_eq(&'-').is_some() {
                        class_char(&mut chars)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Glob::Class { negated, ranges }
            }
            other => Glob::Literal(other),
        });
    }
    Some(globs)
}

/// One end of a range in a class, as Go's `getEsc`: `-` and `]` must be escaped, and the
/// pattern must not end here.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    match chars.next()? {
        '-' | ']' => None,
        '\\' => chars.next(),
        c => Some(c),
    }
}

// --- the keyring ---------------------------------------------------------------------------

/// One keyring: the kubelet's `BasicDockerKeyring`, built from pull secrets or from the node's
/// `config.json`, with the kubelet's matching, order and Docker Hub fallback.
///
/// `Debug` is safe to print: credentials are held as [`Credential`]s, whose secrets are redacted.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// In the order added; matching sorts by index key.
    entries: Vec<KeyringEntry>,
}

#[derive(Debug, Clone)]
struct KeyringEntry {
    /// Where the key is written, for hints: `secret shop/regcred`, `node docker-config PATH`.
    source: String,
    /// The key as written.
    key: String,
    /// `{source}, key {key}`: the credential's origin.
    origin: String,
    /// The kubelet's index key; `None` when it cannot parse the key and ignores it.
    index: Option<String>,
    /// The index key parsed again, as every lookup does; `None` when that fails, and the key
    /// never matches.
    pattern: Option<UrlParts>,
    /// What the kubelet sends; `None` for an entry without user name and password, which the
    /// kubelet sends empty (the runtime then pulls anonymously).
    credential: Option<Credential>,
    /// An `identitytoken` was there, and the kubelet dropped it.
    identity_token: bool,
    /// A top-level key of a `.dockerconfigjson`, outside `auths`: never used, only hinted at.
    misplaced: bool,
}

/// A key as it may be shown: without user information (`user:password@`).
fn shown_key(key: &str) -> String {
    let (scheme, rest) = match key.find("://") {
        Some(i) => key.split_at(i + 3),
        None => ("", key),
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rest = match rest[..host_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{scheme}{rest}")
}

impl KeyringEntry {
    fn new(source: &str, key: &str, credential: Option<Credential>, identity_token: bool) -> Self {
        let index = index_key(key);
        let pattern = index.as_deref().and_then(UrlParts::parse_schemeless);
        // A key may carry `user:password@` (Go's URL parse drops it for matching): what is shown
        // never does.
        let shown = shown_key(key);
        KeyringEntry {
            source: source.to_owned(),
            origin: format!("{source}, key {shown}"),
            key: shown,
            index,
            pattern,
            credential,
            identity_token,
            misplaced: false,
        }
    }

    fn located(&self) -> Option<LocatedCredential> {
        self.credential.clone().map(|credential| LocatedCredential {
            credential,
            origin: self.origin.clone(),
        })
    }
}

/// An image as the kubelet looks it up.
#[derive(Debug)]
struct Image {
    /// `distribution/reference`'s `Name()`: `docker.io/library/nginx`, `Registry.io:5000/app`.
    name: String,
    /// The registry part of `name`.
    domain: String,
    /// `name` as `URLsMatch` sees it.
    target: Option<UrlParts>,
    /// The kubelet's `isDefaultRegistryMatch`, which decides whether the `index.docker.io`
    /// credentials apply when nothing else matched.
    default_registry: bool,
}

impl Image {
    fn from_reference(reference: &Reference) -> Image {
        let domain = if reference.is_docker_hub() {
            // `distribution/reference` folds only the exact `index.docker.io` into `docker.io`;
            // a Hub name in capitals (`Docker.IO/x`) stays as written there. We fold every
            // spelling, as `Reference` does: such names do not reach real manifests.
            HUB_DOMAIN.to_owned()
        } else {
            // `distribution/reference` keeps the registry as written, and the kubelet's globs
            // are case-sensitive: `Registry.io` and `registry.io` are different to it.
            reference
                .original()
                .split_once('/')
                .map(|(domain, _)| domain)
                .filter(|domain| domain.eq_ignore_ascii_case(reference.registry()))
                .unwrap_or(reference.registry())
                .to_owned()
        };
        Image::new(format!("{domain}/{}", reference.repository()), domain)
    }

    /// A registry without a repository, for [`CredentialSource::lookup`]: keys with a path
    /// never match it.
    fn from_registry(registry: &str) -> Image {
        // A lone `ghcr.io` would read as a Docker Hub repository to `isDefaultRegistryMatch`;
        // judged as an image of that registry, it does not.
        let mut image = Image::new(registry.to_owned(), registry.to_owned());
        image.default_registry = default_registry_match(&format!("{registry}/image"));
        image
    }

    fn new(name: String, domain: String) -> Image {
        Image {
            target: UrlParts::parse_schemeless(&name),
            default_registry: default_registry_match(&name),
            name,
            domain,
        }
    }
}

/// The kubelet's `isDefaultRegistryMatch` for an image name.
fn default_registry_match(name: &str) -> bool {
    let mut parts = name.splitn(2, '/');
    let first = parts.next().unwrap_or_default();
    if first.is_empty() {
        return false;
    }
    if parts.next().is_none() || first == HUB_DOMAIN || first == HUB_INDEX_KEY {
        return true;
    }
    !first.contains(['.', ':'])
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Adds every key of a pull secret, with the origin `secret {namespace}/{name}, key {key}`.
    pub fn add_secret(&mut self, secret: &PullSecret) {
        let source = format!("secret {}/{}", secret.namespace, secret.name);
        for entry in &secret.entries {
            self.entries.push(KeyringEntry::new(
                &source,
                &entry.key,
                entry.credential.clone(),
                entry.identity_token,
            ));
        }
        for key in &secret.misplaced {
            let mut entry = KeyringEntry::new(&source, key, None, false);
            entry.misplaced = true;
            self.entries.push(entry);
        }
    }

    /// Adds the `auths` of the node's `config.json`, with the origin
    /// `node docker-config {path}, key {key}`. Credential helpers are ignored, as the kubelet
    /// ignores them.
    ///
    /// The file was parsed with Docker's rules; an `identitytoken` entry becomes what the
    /// kubelet sends for it: the user name alone, or nothing when there is none.
    pub fn add_docker_config(&mut self, config: &DockerConfig) {
        let source = format!("node docker-config {}", config.path().display());
        for (key, credential) in config.entries() {
            let (credential, identity_token) = match credential {
                // The kubelet reads no identity token; Docker's parse dropped the password that
                // may have stood beside it, which for registries issuing such tokens is empty.
                Credential::IdentityToken { username, .. } => (
                    (!username.is_empty()).then(|| Credential::Basic {
                        username: username.clone(),
                        password: Secret::new(""),
                    }),
                    true,
                ),
                other => (Some(other.clone()), false),
            };
            self.entries
                .push(KeyringEntry::new(&source, key, credential, identity_token));
        }
    }

    /// Every credential the kubelet would try for `reference`, in its order: most specific
    /// index key first (reverse byte order), entries under one key in the order added.
    /// Entries without user name and password take part in matching but are left out: the
    /// runtime would pull anonymously with them.
    pub fn matches(&self, reference: &Reference) -> Vec<LocatedCredential> {
        self.lookup(&Image::from_reference(reference))
            .into_iter()
            .filter_map(KeyringEntry::located)
            .collect()
    }

    /// Keys that do not match `reference` but nearly do — the same host with another port,
    /// another letter case, a path that is not a prefix, a scheme the kubelet does not strip,
    /// a key it cannot parse, a glob that spans the wrong number of labels, a host within two
    /// edits — as sentences such as "secret shop/regcred has key myregistry.com:443, which
    /// does not match myregistry.com (ports must be equal)".
    pub fn near_misses(&self, reference: &Reference) -> Vec<String> {
        self.near_misses_for(&Image::from_reference(reference))
    }

    /// `BasicDockerKeyring.Lookup`, keeping the entries (empty ones included: they count as a
    /// match, which turns off the Docker Hub fallback).
    fn lookup(&self, image: &Image) -> Vec<&KeyringEntry> {
        let mut found: Vec<&KeyringEntry> = match &image.target {
            Some(target) => self
                .entries
                .iter()
                .filter(|e| !e.misplaced && e.pattern.as_ref().is_some_and(|p| p.matches(target)))
                .collect(),
            None => Vec::new(),
        };
        // Stable, so that entries under one index key keep the order they were added in.
        found.sort_by(|a, b| b.index.cmp(&a.index));
        if found.is_empty() && image.default_registry {
            found = self
                .entries
                .iter()
                .filter(|e| !e.misplaced && e.index.as_deref() == Some(HUB_INDEX_KEY))
                .collect();
        }
        found
    }

    fn near_misses_for(&self, image: &Image) -> Vec<String> {
        let matched = self.lookup(image);
        let mut hints: Vec<String> = Vec::new();
        for entry in &self.entries {
            if matched.iter().any(|m| std::ptr::eq(*m, entry)) {
                continue;
            }
            let Some(miss) = near_miss(entry, image, &matched) else {
                continue;
            };
            let target = if miss.whole_name {
                &image.name
            } else {
                &image.domain
            };
            let hint = format!(
                "{} has key {}, which does not match {target} ({})",
                entry.source,
                entry.key.escape_debug(),
                miss.reason
            );
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        hints
    }

    /// The kubelet's notes on entries that matched: what it sends differs from what is written.
    fn match_notes(matched: &[&KeyringEntry], notes: &mut Vec<String>) {
        for entry in matched {
            if entry.identity_token {
                notes.push(format!(
                    "{}: the kubelet ignores identitytoken and sends only the user name and password",
                    entry.origin
                ));
            } else if entry.credential.is_none() {
                notes.push(format!(
                    "{} matches but holds no user name or password: the kubelet tries it as an anonymous pull",
                    entry.origin
                ));
            }
        }
    }
}

/// Why a key nearly matches.
struct NearMiss {
    reason: String,
    /// Whether the reason is about the path, so the hint names the whole image.
    whole_name: bool,
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "each ends a `return` in near_miss, whose answer is an Option"
)]
impl NearMiss {
    fn host(reason: impl Into<String>) -> Option<NearMiss> {
        Some(NearMiss {
            reason: reason.into(),
            whole_name: false,
        })
    }

    fn path(reason: impl Into<String>) -> Option<NearMiss> {
        Some(NearMiss {
            reason: reason.into(),
            whole_name: true,
        })
    }
}

/// Why `entry` does not match `image` although it looks meant for it; `None` when it is
/// simply another registry's key.
fn near_miss(entry: &KeyringEntry, image: &Image, matched: &[&KeyringEntry]) -> Option<NearMiss> {
    let key = entry.key.as_str();
    if key.eq_ignore_ascii_case("auths") {
        return NearMiss::host(
            "a kubernetes.io/dockercfg secret has no \"auths\" wrapper: its registries are top-level keys, and this content belongs in a kubernetes.io/dockerconfigjson secret",
        );
    }
    let loose_key = loose_host(key);
    let loose_image = loose_host(&image.domain);
    let distance = edit_distance_within(&loose_key, &loose_image, MAX_HINT_HOST);
    let related = distance.is_some_and(|d| d <= 2) || loose_glob_match(&loose_key, &loose_image);
    let target = image.target.as_ref()?;
    if entry.misplaced {
        let would_match = entry.pattern.as_ref().is_some_and(|p| p.matches(target));
        if !(related || would_match) {
            return None;
        }
        return NearMiss::host(
            "it sits outside \"auths\", the only part of a .dockerconfigjson the kubelet reads",
        );
    }
    // Fixing the key of an entry without a credential would not help.
    entry.credential.as_ref()?;
    let Some(pattern) = &entry.pattern else {
        if !related {
            return None;
        }
        return NearMiss::host(
            "the kubelet cannot parse the key as a URL (a character a host name may not hold, a bad %-escape or a bad port) and ignores it",
        );
    };
    if entry.index.as_deref() == Some(HUB_INDEX_KEY)
        && image.default_registry
        && let Some(first) = matched.first()
    {
        return NearMiss::path(format!(
            "the kubelet falls back to index.docker.io keys only when no other key matches, and {} does",
            first.origin
        ));
    }
    if pattern.hosts_match(target, true) {
        if pattern.port != target.port {
            return NearMiss::host("ports must be equal");
        }
        if !target.path.starts_with(&pattern.path) {
            let mut reason = format!(
                "the key's path {} is not a prefix of the image's path {}",
                pattern.path.escape_debug(),
                target.path
            );
            if pattern.path == "/v1" || pattern.path == "/v2" {
                reason.push_str("; only /v1/ and /v2/ with the trailing slash are ignored");
            }
            return NearMiss::path(reason);
        }
        return None;
    }
    if pattern.hosts_match(target, false) {
        return NearMiss::host("the kubelet compares host names case-sensitively");
    }
    if key.contains(['?', '#']) && related {
        return NearMiss::host(
            "the kubelet reads '?' or '#' in a key as the start of a URL query or fragment, and ignores the rest of the key",
        );
    }
    if let Some(rest) = foreign_scheme_rest(key) {
        let stripped = index_key(rest).and_then(|k| UrlParts::parse_schemeless(&k));
        if stripped.is_some_and(|p| p.matches(target)) {
            return NearMiss::host(
                "the kubelet strips only a lower-case http:// or https:// in front of a key",
            );
        }
    }
    if image.domain == HUB_DOMAIN
        && (loose_key == HUB_DOMAIN
            || loose_key.ends_with(".docker.io")
            || loose_key.ends_with("docker.com"))
    {
        return NearMiss::host(
            "for Docker Hub images the kubelet uses keys for docker.io, or index.docker.io without a path such as https://index.docker.io/v1/",
        );
    }
    if pattern.labels.len() != target.labels.len()
        && pattern.labels.iter().any(|l| l.contains('*'))
        && star_suffix_matches(pattern, target)
    {
        return NearMiss::host(format!(
            "'*' stands for exactly one label: the key's host has {} labels, the image's {}",
            pattern.labels.len(),
            target.labels.len()
        ));
    }
    if let [label] = pattern.labels.as_slice()
        && label.starts_with('[')
        && pattern.port.is_empty()
        && loose_key == loose_image
    {
        return NearMiss::host(
            "the kubelet cannot match an IPv6 address without a port: its glob reads the brackets as a character class",
        );
    }
    if pattern.port.is_empty()
        && pattern.labels.last().is_some_and(|l| l.contains(':'))
        && pattern.labels.iter().any(|l| l.contains('['))
        && related
    {
        return NearMiss::host(
            "the kubelet cannot split the port off a host that contains '[', so this key never matches",
        );
    }
    match distance {
        Some(d @ 1..=2) => NearMiss::host(format!(
            "the host differs from the image's by {d} character{}",
            if d == 1 { "" } else { "s" }
        )),
        _ => None,
    }
}

/// The rest of a key written with a scheme the kubelet does not strip (`HTTPS://`, `docker://`).
fn foreign_scheme_rest(key: &str) -> Option<&str> {
    let (scheme, rest) = key.split_once("://")?;
    let plain = scheme == "http" || scheme == "https";
    (!plain && !scheme.is_empty() && !scheme.contains('/')).then_some(rest)
}

/// Whether the labels after a key's last wildcard label end the image's host, e.g.
/// `*.example.com` for `example.com` or `a.b.example.com`.
fn star_suffix_matches(pattern: &UrlParts, target: &UrlParts) -> bool {
    let tail: Vec<&String> = pattern
        .labels
        .iter()
        .rev()
        .take_while(|l| !l.contains(['*', '?', '[']))
        .collect();
    !tail.is_empty()
        && target.labels.len() >= tail.len()
        && target
            .labels
            .iter()
            .rev()
            .zip(&tail)
            .all(|(t, p)| t.eq_ignore_ascii_case(p))
}

/// A key's host as a person reads it: lower-case, without scheme, user, port or path.
fn loose_host(text: &str) -> String {
    let lower = text.trim().to_ascii_lowercase();
    let rest = match lower.split_once("://") {
        Some((scheme, rest)) if !scheme.contains('/') => rest,
        _ => lower.as_str(),
    };
    let rest = rest.split('/').next().unwrap_or_default();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = match rest.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => rest.split(':').next().unwrap_or_default(),
    };
    host.to_owned()
}

/// Whether a key's loose host, read as globs per label, matches the image's loose host.
fn loose_glob_match(key: &str, image: &str) -> bool {
    let keys: Vec<&str> = key.split('.').collect();
    let images: Vec<&str> = image.split('.').collect();
    keys.len() == images.len() && keys.iter().zip(&images).all(|(k, i)| glob_match(k, i))
}

// --- a pod's credentials -------------------------------------------------------------------

/// What one pod gives the kubelet: its pull secrets (the pod's `imagePullSecrets` then its
/// `ServiceAccount`'s, in order, already resolved) and the node's credentials.
#[derive(Debug)]
pub struct PodCredentials {
    /// All the pod's secrets in one keyring, as the kubelet builds it: the order across secrets
    /// is by index key, not by secret.
    pod: Keyring,
    node: Option<Keyring>,
}

impl PodCredentials {
    /// The credentials of a pod with these secrets, on a node with this `config.json` (if any).
    pub fn new(pod_secrets: &[&PullSecret], node: Option<&DockerConfig>) -> PodCredentials {
        let mut pod = Keyring::new();
        for secret in pod_secrets {
            pod.add_secret(secret);
        }
        let node = node.map(|config| {
            let mut keyring = Keyring::new();
            keyring.add_docker_config(config);
            keyring
        });
        PodCredentials { pod, node }
    }

    /// The kubelet's `UnionDockerKeyring` lookup: the pod's matches, then the node's, each
    /// keyring with its own Docker Hub fallback.
    fn candidates_for(&self, image: &Image) -> Candidates {
        let keyrings: Vec<&Keyring> = std::iter::once(&self.pod).chain(&self.node).collect();
        let mut credentials = Vec::new();
        let mut notes = Vec::new();
        for keyring in &keyrings {
            let matched = keyring.lookup(image);
            Keyring::match_notes(&matched, &mut notes);
            credentials.extend(matched.into_iter().filter_map(KeyringEntry::located));
        }
        if credentials.is_empty() {
            for keyring in &keyrings {
                notes.extend(keyring.near_misses_for(image));
            }
        }
        Candidates { credentials, notes }
    }
}

impl CredentialSource for PodCredentials {
    /// The first credential for a repository-less name on `registry`: keys with a path never
    /// match it. [`candidates`](CredentialSource::candidates) is the faithful answer.
    fn lookup(&self, registry: &str) -> Result<Option<LocatedCredential>, CredentialError> {
        Ok(self
            .candidates_for(&Image::from_registry(registry))
            .credentials
            .into_iter()
            .next())
    }

    /// The pod keyring's matches, then the node keyring's; when none is usable, the notes
    /// carry the near misses of both.
    fn candidates(&self, reference: &Reference) -> Result<Candidates, CredentialError> {
        Ok(self.candidates_for(&Image::from_reference(reference)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "canary-2c8d1e-pa55";

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn basic(username: &str, password: &str) -> Credential {
        Credential::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    /// A `.dockerconfigjson` secret from its JSON, given as `stringData`.
    fn json_secret(namespace: &str, name: &str, json: &str) -> PullSecret {
        decode_json(namespace, name, json).unwrap()
    }

    fn decode_json(namespace: &str, name: &str, json: &str) -> Result<PullSecret, PullSecretError> {
        PullSecret::decode(
            namespace,
            name,
            Some(TYPE_DOCKER_CONFIG_JSON),
            &BTreeMap::new(),
            &map(&[(KEY_DOCKER_CONFIG_JSON, json)]),
        )
    }

    /// A secret with one Basic entry per key, each with the key as its user name.
    fn keys_secret(namespace: &str, name: &str, keys: &[&str]) -> PullSecret {
        let entries: Vec<String> = keys
            .iter()
            .map(|k| {
                let k = serde_json::to_string(k).unwrap();
                format!("{k}: {{\"username\": {k}, \"password\": \"pw\"}}")
            })
            .collect();
        json_secret(
            namespace,
            name,
            &format!("{{\"auths\": {{{}}}}}", entries.join(",")),
        )
    }

    fn keyring(secrets: &[&PullSecret]) -> Keyring {
        let mut keyring = Keyring::new();
        for secret in secrets {
            keyring.add_secret(secret);
        }
        keyring
    }

    fn reference(image: &str) -> Reference {
        Reference::parse(image).unwrap_or_else(|e| panic!("{image}: {e}"))
    }

    /// The user names (= keys, see `keys_secret`) of the matches, in order.
    fn matched_users(keyring: &Keyring, image: &str) -> Vec<String> {
        keyring
            .matches(&reference(image))
            .into_iter()
            .map(|c| match c.credential {
                Credential::Basic { username, .. } => username,
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    // --- key matching ------------------------------------------------------------------

    #[test]
    #[allow(clippy::too_many_lines, reason = "one table")]
    fn key_matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            // Hosts, schemes and the /v1/ /v2/ suffixes.
            ("registry.io", "registry.io/app", true),
            ("registry.io", "other.io/app", false),
            ("registry.io", "sub.registry.io/app", false),
            ("https://registry.io", "registry.io/app", true),
            ("http://registry.io", "registry.io/app", true),
            ("https://registry.io/", "registry.io/app", true),
            ("https://registry.io/v1/", "registry.io/app", true),
            ("https://registry.io/v2/", "registry.io/app", true),
            ("registry.io/v2/", "registry.io/app", true),
            // Only a lower-case scheme is stripped; any other reads as a host "HTTPS:".
            ("HTTPS://registry.io", "registry.io/app", false),
            ("docker://registry.io", "registry.io/app", false),
            ("user@registry.io", "registry.io/app", true),
            // Paths: a plain string prefix, after a leading /v1/ or /v2/ is cut.
            ("registry.io/team", "registry.io/team/app", true),
            ("registry.io/team", "registry.io/other/app", false),
            ("registry.io/te", "registry.io/team/app", true),
            ("registry.io/team/app", "registry.io/team/app2", true),
            ("registry.io/team/app/", "registry.io/team/app", false),
            ("registry.io/v1", "registry.io/app", false),
            ("registry.io/v2/team", "registry.io/team/app", true),
            (
                "https://registry.io/v1/team",
                "registry.io/other/app",
                false,
            ),
            ("registry.io/te%61m", "registry.io/team/app", true),
            // Ports: equal as text, or both absent.
            ("registry.io:5000", "registry.io:5000/app", true),
            ("registry.io:5000", "registry.io/app", false),
            ("registry.io", "registry.io:5000/app", false),
            ("registry.io:5001", "registry.io:5000/app", false),
            ("myregistry.com:443", "myregistry.com/app", false),
            ("registry.io:05000", "registry.io:5000/app", false),
            ("registry.io:", "registry.io/app", true),
            ("localhost:5000", "localhost:5000/app", true),
            ("registry.io:50x0", "registry.io:5000/app", false),
            // Globs, one per label.
            ("*.example.com", "a.example.com/app", true),
            ("*.example.com", "example.com/app", false),
            ("*.example.com", "a.b.example.com/app", false),
            ("*.*.example.com", "a.b.example.com/app", true),
            ("reg*.example.com", "registry.example.com/app", true),
            ("*.example.com:5000", "a.example.com:5000/app", true),
            ("*", "localhost/app", true),
            ("reg[a-z]stry.io", "registry.io/app", true),
            ("reg[a-c]stry.io", "registry.io/app", false),
            ("reg[!x]stry.io", "registry.io/app", false),
            ("re[e-h]istry.io", "registry.io/app", true),
            // '^' may not appear in a URL host: Go refuses the key.
            ("reg[^x]stry.io", "registry.io/app", false),
            ("reg[istry.io", "registry.io/app", false),
            ("reg[]istry.io", "registry.io/app", false),
            ("reg[a-]istry.io", "registry.io/app", false),
            // With a port, '[' makes SplitHostPort fail and the port is never split off.
            ("reg[a-z]stry.io:5000", "registry.io:5000/app", false),
            // '?' starts the URL's query: "registr" is all that is left of the host.
            ("registr?.io", "registry.io/app", false),
            ("registry.io?x", "registry.io/app", true),
            ("registry.io#x", "registry.io/app", true),
            (" registry.io", "registry.io/app", false),
            ("", "registry.io/app", false),
            // Docker Hub.
            ("https://index.docker.io/v1/", "nginx", true),
            ("index.docker.io/v1/", "library/nginx", true),
            ("index.docker.io", "someone/app:v1", true),
            ("http://index.docker.io/v2/", "docker.io/someone/app", true),
            ("docker.io", "nginx", true),
            ("https://docker.io", "index.docker.io/library/nginx", true),
            ("docker.io/library", "nginx", true),
            ("docker.io/library", "someone/app", false),
            ("docker.io/nginx", "nginx", false),
            ("registry-1.docker.io", "nginx", false),
            ("*.docker.io", "nginx", false),
            ("https://index.docker.io/v1/library", "nginx", false),
            ("https://index.docker.io/v1/", "ghcr.io/org/app", false),
            ("https://index.docker.io/v1/", "localhost:5000/app", false),
            // The kubelet's isDefaultRegistryMatch reads `localhost/app` as Docker Hub.
            ("https://index.docker.io/v1/", "localhost/app", true),
            // IPv6.
            ("[::1]:5000", "[::1]:5000/app", true),
            ("[::1]:5000", "[::1]:5001/app", false),
            (
                "http://[2001:db8::1]:5000/v2/",
                "[2001:db8::1]:5000/app",
                true,
            ),
            ("[::1]", "[::1]/app", false),
            ("[2001:DB8::1]:5000", "[2001:db8::1]:5000/app", false),
            ("[1.2.3.4]:5000", "1.2.3.4:5000/app", false),
            // Letter case: the kubelet's globs are case-sensitive, and the image keeps its
            // registry as written.
            ("Registry.IO", "registry.io/app", false),
            ("registry.io", "Registry.IO/app", false),
            ("Registry.IO", "Registry.IO/app", true),
        ];
        assert!(cases.len() >= 40, "only {} cases", cases.len());
        for &(key, image, want) in cases {
            let keyring = keyring(&[&keys_secret("ns", "s", &[key])]);
            let got = !keyring.matches(&reference(image)).is_empty();
            assert_eq!(got, want, "key {key:?} for image {image}");
        }
    }

    #[test]
    fn index_keys_are_the_kubelets() {
        for (key, want) in [
            ("https://index.docker.io/v1/", Some("index.docker.io")),
            ("index.docker.io/v1/", Some("index.docker.io")),
            ("registry.io/v2/team/", Some("registry.io/team/")),
            ("registry.io/", Some("registry.io")),
            ("registry.io/v1", Some("registry.io/v1")),
            ("HTTPS://registry.io", Some("HTTPS://registry.io")),
            ("user:pw@registry.io:5000", Some("registry.io:5000")),
            ("registry.io?query/path", Some("registry.io")),
            ("reg[^x].io", None),
            ("reg istry.io", None),
            ("registry.io:port", None),
            ("registry.io/%zz", None),
            ("[::1", None),
            ("registry.io\u{7}", None),
        ] {
            assert_eq!(index_key(key).as_deref(), want, "{key:?}");
        }
    }

    #[test]
    fn split_host_port_is_gos() {
        for (hostport, want) in [
            ("r.io:5000", Some(("r.io", "5000"))),
            ("r.io", None),
            ("r.io:", Some(("r.io", ""))),
            ("[::1]:5000", Some(("::1", "5000"))),
            ("[::1]", None),
            ("a:b:c", None),
            ("r[a].io:5000", None),
            ("[::1]x:5000", None),
        ] {
            assert_eq!(split_host_port(hostport), want, "{hostport}");
        }
    }

    #[test]
    fn globs_follow_go_path_match() {
        for (pattern, name, want) in [
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "abbbc", true),
            ("a*b*c", "axbxbxc", true),
            ("a*b*c", "axbxbx", false),
            ("*", "", true),
            ("?", "", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("??", "ab", true),
            ("[abc]", "b", true),
            ("[abc]", "d", false),
            ("[a-c]x", "bx", true),
            ("[^a-c]", "d", true),
            ("[^a-c]", "b", false),
            ("[a-cx-z]", "y", true),
            ("[z-a]", "m", false),
            ("[\\]]", "]", true),
            ("[\\-]", "-", true),
            ("a\\*", "a*", true),
            ("a\\*", "ab", false),
            ("[]", "]", false),
            ("[", "[", false),
            ("[a", "a", false),
            ("[a-", "a", false),
            ("[a-]", "a", false),
            ("[-a]", "-", false),
            ("[^]", "x", false),
            ("a\\", "a", false),
            ("a[", "a", false),
            ("*[", "x", false),
            ("a/b", "a/b", true),
            ("a*", "a/b", false),
            ("a?b", "a/b", false),
            ("é*", "éa", true),
        ] {
            assert_eq!(glob_match(pattern, name), want, "{pattern:?} vs {name:?}");
        }
    }

    #[test]
    fn most_specific_key_first_and_all_matches_returned() {
        let secret = keys_secret(
            "ns",
            "s",
            &[
                "registry.io",
                "registry.io/team",
                "https://registry.io/v2/",
                "*.io",
                "registry.io/team/app",
                "other.io",
            ],
        );
        let keyring = keyring(&[&secret]);
        // Reverse byte order of index keys: registry.io/team/app > registry.io/team >
        // registry.io > *.io; the two keys that both become `registry.io` keep byte order.
        assert_eq!(
            matched_users(&keyring, "registry.io/team/app:v1"),
            [
                "registry.io/team/app",
                "registry.io/team",
                "https://registry.io/v2/",
                "registry.io",
                "*.io",
            ]
        );
    }

    #[test]
    fn order_spans_secrets_by_index_key_then_secret_order() {
        let first = keys_secret("ns", "first", &["registry.io"]);
        let second = keys_secret("ns", "second", &["registry.io/team", "registry.io"]);
        let keyring = keyring(&[&first, &second]);
        let found = keyring.matches(&reference("registry.io/team/app"));
        let origins: Vec<&str> = found.iter().map(|c| c.origin.as_str()).collect();
        assert_eq!(
            origins,
            [
                "secret ns/second, key registry.io/team",
                "secret ns/first, key registry.io",
                "secret ns/second, key registry.io",
            ]
        );
    }

    #[test]
    fn hub_fallback_only_when_nothing_else_matches() {
        let secret = keys_secret(
            "ns",
            "s",
            &["https://index.docker.io/v1/", "docker.io/library"],
        );
        let keyring = keyring(&[&secret]);
        assert_eq!(matched_users(&keyring, "nginx"), ["docker.io/library"]);
        assert_eq!(
            matched_users(&keyring, "someone/app"),
            ["https://index.docker.io/v1/"]
        );
        // An empty entry counts as a match too, and hides the fallback.
        let secret = json_secret(
            "ns",
            "s",
            r#"{"auths": {"docker.io": {}, "index.docker.io": {"username": "u", "password": "p"}}}"#,
        );
        let keyring = self::keyring(&[&secret]);
        assert!(keyring.matches(&reference("nginx")).is_empty());
        let hints = keyring.near_misses(&reference("nginx"));
        assert_eq!(
            hints,
            [
                "secret ns/s has key index.docker.io, which does not match docker.io/library/nginx (the kubelet falls back to index.docker.io keys only when no other key matches, and secret ns/s, key docker.io does)"
            ]
        );
    }

    #[test]
    fn pod_secrets_come_before_the_node_and_each_has_its_own_fallback() {
        let pod = keys_secret("ns", "s", &["docker.io"]);
        let node = DockerConfig::parse(
            r#"{"auths": {"https://index.docker.io/v1/": {"username": "node", "password": "p"}, "docker.io/library/nginx": {"username": "node2", "password": "p"}}}"#,
            std::path::Path::new("/var/lib/kubelet/config.json"),
        )
        .unwrap();
        let pod_credentials = PodCredentials::new(&[&pod], Some(&node));
        let found = pod_credentials.candidates(&reference("nginx")).unwrap();
        let origins: Vec<&str> = found
            .credentials
            .iter()
            .map(|c| c.origin.as_str())
            .collect();
        assert_eq!(
            origins,
            [
                "secret ns/s, key docker.io",
                "node docker-config /var/lib/kubelet/config.json, key docker.io/library/nginx",
            ]
        );
        assert!(found.notes.is_empty(), "{:?}", found.notes);
        // The node keyring's own fallback applies when its other keys miss.
        let found = pod_credentials
            .candidates(&reference("someone/app"))
            .unwrap();
        let origins: Vec<&str> = found
            .credentials
            .iter()
            .map(|c| c.origin.as_str())
            .collect();
        assert_eq!(
            origins,
            [
                "secret ns/s, key docker.io",
                "node docker-config /var/lib/kubelet/config.json, key https://index.docker.io/v1/",
            ]
        );
        // lookup() gives the first candidate for a registry.
        let first = pod_credentials.lookup("docker.io").unwrap().unwrap();
        assert_eq!(first.origin, "secret ns/s, key docker.io");
        assert_eq!(pod_credentials.lookup("ghcr.io").unwrap(), None);
    }

    #[test]
    fn lookup_by_registry_ignores_keys_with_a_path() {
        let secret = keys_secret("ns", "s", &["registry.io/team", "localhost:5000"]);
        let pod = PodCredentials::new(&[&secret], None);
        assert_eq!(pod.lookup("registry.io").unwrap(), None);
        assert_eq!(
            pod.lookup("localhost:5000").unwrap().unwrap().credential,
            basic("localhost:5000", "pw")
        );
    }

    #[test]
    fn node_identity_tokens_become_what_the_kubelet_sends() {
        let node = DockerConfig::parse(
            &format!(
                r#"{{"auths": {{"acr.io": {{"auth": "{}", "identitytoken": "{CANARY}"}}, "t.io": {{"identitytoken": "{CANARY}"}}}}}}"#,
                b64("00000000-0000:")
            ),
            std::path::Path::new("/root/.docker/config.json"),
        )
        .unwrap();
        let pod = PodCredentials::new(&[], Some(&node));
        let found = pod.candidates(&reference("acr.io/app")).unwrap();
        assert_eq!(found.credentials.len(), 1);
        assert_eq!(found.credentials[0].credential, basic("00000000-0000", ""));
        assert_eq!(
            found.notes,
            [
                "node docker-config /root/.docker/config.json, key acr.io: the kubelet ignores identitytoken and sends only the user name and password"
            ]
        );
        let found = pod.candidates(&reference("t.io/app")).unwrap();
        assert!(found.credentials.is_empty());
        assert_no_canary(&format!("{pod:?} {found:?}"));
    }

    #[test]
    fn pod_credentials_are_a_usable_trait_object() {
        let secret = keys_secret("ns", "s", &["r.io"]);
        let source: std::sync::Arc<dyn CredentialSource> =
            std::sync::Arc::new(PodCredentials::new(&[&secret], None));
        assert!(source.lookup("r.io").unwrap().is_some());
        assert_eq!(
            source
                .candidates(&reference("r.io/app"))
                .unwrap()
                .credentials
                .len(),
            1
        );
    }

    // --- near misses ---------------------------------------------------------------------

    fn hints(keys: &[&str], image: &str) -> Vec<String> {
        keyring(&[&keys_secret("shop", "regcred", keys)]).near_misses(&reference(image))
    }

    #[test]
    fn near_miss_on_port() {
        assert_eq!(
            hints(&["myregistry.com:443"], "myregistry.com/shop/app:v1"),
            [
                "secret shop/regcred has key myregistry.com:443, which does not match myregistry.com (ports must be equal)"
            ]
        );
        assert_eq!(
            hints(&["localhost"], "localhost:5000/app"),
            [
                "secret shop/regcred has key localhost, which does not match localhost:5000 (ports must be equal)"
            ]
        );
    }

    #[test]
    fn near_miss_reasons() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "Registry.io",
                "registry.io/app",
                "(the kubelet compares host names case-sensitively)",
            ),
            (
                "registry.io/team",
                "registry.io/other/app",
                "which does not match registry.io/other/app (the key's path /team is not a prefix of the image's path /other/app)",
            ),
            (
                "registry.io/v1",
                "registry.io/app",
                "only /v1/ and /v2/ with the trailing slash are ignored",
            ),
            (
                "HTTPS://registry.io",
                "registry.io/app",
                "(the kubelet strips only a lower-case http:// or https:// in front of a key)",
            ),
            (
                "docker://registry.io/v2/",
                "registry.io/app",
                "strips only a lower-case",
            ),
            ("registr?.io", "registry.io/app", "'?' or '#' in a key"),
            ("reg istry.io", "registry.io/app", "cannot parse the key"),
            (
                "registry.io:port",
                "registry.io/app",
                "cannot parse the key",
            ),
            (
                "registry-1.docker.io",
                "nginx",
                "for Docker Hub images the kubelet uses keys for docker.io",
            ),
            (
                "https://index.docker.io/v1/library",
                "nginx",
                "for Docker Hub images",
            ),
            (
                "*.example.com",
                "example.com/app",
                "'*' stands for exactly one label: the key's host has 3 labels, the image's 2",
            ),
            (
                "*.example.com",
                "a.b.example.com/app",
                "the key's host has 3 labels, the image's 4",
            ),
            (
                "[::1]",
                "[::1]/app",
                "cannot match an IPv6 address without a port",
            ),
            (
                "reg[a-z]stry.io:5000",
                "registry.io:5000/app",
                "cannot split the port off",
            ),
            (
                "myregsitry.com",
                "myregistry.com/app",
                "(the host differs from the image's by 2 characters)",
            ),
            (
                "ghcr.io",
                "gcr.io/app",
                "(the host differs from the image's by 1 character)",
            ),
        ];
        for (key, image, want) in cases {
            let got = hints(&[key], image);
            assert_eq!(got.len(), 1, "{key} / {image}: {got:?}");
            assert!(got[0].contains(want), "{key} / {image}: {}", got[0]);
            assert!(
                got[0].starts_with("secret shop/regcred has key "),
                "{}",
                got[0]
            );
        }
    }

    #[test]
    fn unrelated_and_matching_keys_are_not_near_misses() {
        assert!(hints(&["quay.io", "registry.io"], "ghcr.io/org/app").is_empty());
        assert!(hints(&["ghcr.io"], "ghcr.io/org/app").is_empty());
        assert!(hints(&["example.com"], "registry.io/app").is_empty());
    }

    #[test]
    fn near_miss_keys_are_escaped() {
        let got = hints(&["registry.io\n"], "registry.io/app");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("key registry.io\\n,"), "{}", got[0]);
    }

    #[test]
    fn misplaced_and_wrapped_keys_get_hints() {
        // A .dockercfg-shaped config under .dockerconfigjson: no auths at all.
        let secret = json_secret(
            "ns",
            "s",
            r#"{"registry.io": {"username": "u", "password": "p"}}"#,
        );
        assert_eq!(secret.keys().count(), 0);
        let pod = PodCredentials::new(&[&secret], None);
        let found = pod.candidates(&reference("registry.io/app")).unwrap();
        assert!(found.credentials.is_empty());
        assert_eq!(
            found.notes,
            [
                "secret ns/s has key registry.io, which does not match registry.io (it sits outside \"auths\", the only part of a .dockerconfigjson the kubelet reads)"
            ]
        );
        // A config.json-shaped config in a kubernetes.io/dockercfg secret.
        let secret = PullSecret::decode(
            "ns",
            "old",
            Some(TYPE_DOCKERCFG),
            &BTreeMap::new(),
            &map(&[(
                KEY_DOCKERCFG,
                r#"{"auths": {"registry.io": {"username": "u", "password": "p"}}}"#,
            )]),
        )
        .unwrap();
        assert_eq!(secret.keys().collect::<Vec<_>>(), ["auths"]);
        let pod = PodCredentials::new(&[&secret], None);
        let found = pod.candidates(&reference("registry.io/app")).unwrap();
        assert!(found.credentials.is_empty());
        assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
        assert!(
            found.notes[0].contains("has no \"auths\" wrapper"),
            "{:?}",
            found.notes
        );
    }

    #[test]
    fn notes_come_from_both_keyrings_only_when_nothing_matches() {
        let secret = keys_secret("shop", "regcred", &["myregistry.com:443"]);
        let node = DockerConfig::parse(
            r#"{"auths": {"https://myregistry.com/v1/team": {"username": "n", "password": "p"}}}"#,
            std::path::Path::new("/var/lib/kubelet/config.json"),
        )
        .unwrap();
        let pod = PodCredentials::new(&[&secret], Some(&node));
        let found = pod
            .candidates(&reference("myregistry.com/shop/app"))
            .unwrap();
        assert!(found.credentials.is_empty());
        assert_eq!(
            found.notes,
            [
                "secret shop/regcred has key myregistry.com:443, which does not match myregistry.com (ports must be equal)",
                "node docker-config /var/lib/kubelet/config.json has key https://myregistry.com/v1/team, which does not match myregistry.com/shop/app (the key's path /team is not a prefix of the image's path /shop/app)",
            ]
        );
        let found = pod
            .candidates(&reference("myregistry.com/team/app"))
            .unwrap();
        assert_eq!(found.credentials.len(), 1);
        assert!(found.notes.is_empty(), "{:?}", found.notes);
    }

    #[test]
    fn an_empty_entry_that_matches_is_noted() {
        let secret = json_secret(
            "ns",
            "s",
            r#"{"auths": {"registry.io": {}, "other.io": null}}"#,
        );
        assert_eq!(
            secret.keys().collect::<Vec<_>>(),
            ["other.io", "registry.io"]
        );
        let pod = PodCredentials::new(&[&secret], None);
        let found = pod.candidates(&reference("registry.io/app")).unwrap();
        assert!(found.credentials.is_empty());
        assert_eq!(
            found.notes,
            [
                "secret ns/s, key registry.io matches but holds no user name or password: the kubelet tries it as an anonymous pull"
            ]
        );
    }

    // --- decoding ------------------------------------------------------------------------

    fn only_credential(secret: &PullSecret) -> Credential {
        assert_eq!(secret.entries.len(), 1, "{secret:?}");
        secret.entries[0].credential.clone().expect("a credential")
    }

    #[test]
    fn dockerconfigjson_from_data() {
        let json = format!(
            r#"{{"auths": {{"registry.io": {{"auth": "{}"}}}}}}"#,
            b64("alice:pw:with:colons")
        );
        let secret = PullSecret::decode(
            "shop",
            "regcred",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKER_CONFIG_JSON, &b64(&json))]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!((secret.namespace(), secret.name()), ("shop", "regcred"));
        assert_eq!(secret.keys().collect::<Vec<_>>(), ["registry.io"]);
        assert_eq!(only_credential(&secret), basic("alice", "pw:with:colons"));
        let found = keyring(&[&secret]).matches(&reference("registry.io/app"));
        assert_eq!(found[0].origin, "secret shop/regcred, key registry.io");
    }

    #[test]
    fn dockercfg_from_data() {
        let json =
            r#"{"https://registry.io": {"username": "bob", "password": "pw", "email": "b@x.io"}}"#;
        let secret = PullSecret::decode(
            "ns",
            "legacy",
            Some(TYPE_DOCKERCFG),
            &map(&[(KEY_DOCKERCFG, &b64(json))]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(only_credential(&secret), basic("bob", "pw"));
        assert_eq!(
            keyring(&[&secret])
                .matches(&reference("registry.io/x"))
                .len(),
            1
        );
    }

    #[test]
    fn data_with_line_breaks_decodes_like_go() {
        let encoded = b64(r#"{"auths": {"r.io": {"username": "u", "password": "p"}}}"#);
        let (a, b) = encoded.split_at(10);
        let secret = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKER_CONFIG_JSON, &format!("{a}\n{b}\r\n"))]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(only_credential(&secret), basic("u", "p"));
    }

    #[test]
    fn string_data_wins_over_data() {
        let plain = r#"{"auths": {"r.io": {"username": "from-string-data", "password": "p"}}}"#;
        let encoded = b64(r#"{"auths": {"r.io": {"username": "from-data", "password": "p"}}}"#);
        let secret = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKER_CONFIG_JSON, &encoded)]),
            &map(&[(KEY_DOCKER_CONFIG_JSON, plain)]),
        )
        .unwrap();
        assert_eq!(only_credential(&secret), basic("from-string-data", "p"));
        // stringData does not need to be base64, and wins even over bad data.
        let secret = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKER_CONFIG_JSON, "%%% not base64")]),
            &map(&[(KEY_DOCKER_CONFIG_JSON, plain)]),
        )
        .unwrap();
        assert_eq!(only_credential(&secret), basic("from-string-data", "p"));
    }

    #[test]
    fn wrong_type_is_refused() {
        for (secret_type, found) in [
            (None, "Opaque"),
            (Some("Opaque"), "Opaque"),
            (Some("kubernetes.io/basic-auth"), "kubernetes.io/basic-auth"),
            (
                Some("kubernetes.io/DockerConfigJson"),
                "kubernetes.io/DockerConfigJson",
            ),
        ] {
            let err = PullSecret::decode(
                "ns",
                "s",
                secret_type,
                &BTreeMap::new(),
                &map(&[(KEY_DOCKER_CONFIG_JSON, "{}")]),
            )
            .unwrap_err();
            assert_eq!(
                err,
                PullSecretError::WrongType {
                    namespace: "ns".into(),
                    name: "s".into(),
                    found: found.into()
                }
            );
        }
        let err =
            PullSecret::decode("ns", "s", None, &BTreeMap::new(), &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret ns/s has type Opaque, which the kubelet ignores for image pulls (it reads only kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg)"
        );
    }

    #[test]
    fn missing_key_is_refused() {
        // The other type's key does not count.
        let err = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKERCFG, &b64("{}"))]),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PullSecretError::MissingKey {
                namespace: "ns".into(),
                name: "s".into(),
                key: KEY_DOCKER_CONFIG_JSON
            }
        );
        let err = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKERCFG),
            &BTreeMap::new(),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret ns/s has no .dockercfg key, so the kubelet ignores it"
        );
    }

    #[test]
    fn bad_base64_is_refused_without_echo() {
        for value in [
            format!("{{\"auths\": {{\"r.io\": {{\"password\": \"{CANARY}\"}}}}}}"),
            format!("{}=", b64(CANARY)),
            CANARY.to_owned(),
        ] {
            let err = PullSecret::decode(
                "ns",
                "s",
                Some(TYPE_DOCKER_CONFIG_JSON),
                &map(&[(KEY_DOCKER_CONFIG_JSON, &value)]),
                &BTreeMap::new(),
            )
            .unwrap_err();
            assert_eq!(
                err,
                PullSecretError::Base64 {
                    namespace: "ns".into(),
                    name: "s".into(),
                    key: KEY_DOCKER_CONFIG_JSON.into()
                }
            );
            assert_no_canary(&renderings(&err));
        }
    }

    #[test]
    fn bad_json_has_line_and_column() {
        let err = decode_json(
            "ns",
            "s",
            "{\n  \"auths\": {\n    \"r.io\": {\"auth\" \"x\"}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            PullSecretError::Json {
                namespace: "ns".into(),
                name: "s".into(),
                line: 3,
                column: 21,
                problem: "not valid JSON".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "secret ns/s: the docker config is not usable JSON at line 3, column 21: not valid JSON"
        );
        let err = decode_json("ns", "s", "{\"auths\": {").unwrap_err();
        assert!(
            matches!(&err, PullSecretError::Json { line: 1, problem, .. } if problem.contains("ends early")),
            "{err:?}"
        );
        let err = decode_json("ns", "s", "\n  [1]").unwrap_err();
        assert!(
            matches!(&err, PullSecretError::Json { line: 2, column: 3, problem, .. } if problem == "the top level is an array, expected an object"),
            "{err:?}"
        );
        // Go's json.Unmarshal refuses anything after the value.
        let err = decode_json("ns", "s", "{} {}").unwrap_err();
        assert!(matches!(err, PullSecretError::Json { .. }), "{err:?}");
        let err = decode_json("ns", "s", "").unwrap_err();
        assert!(
            matches!(&err, PullSecretError::Json { problem, .. } if problem.contains("empty")),
            "{err:?}"
        );
    }

    #[test]
    fn null_and_empty_configs_have_no_keys() {
        for json in ["null", "{}", r#"{"auths": null}"#, r#"{"auths": {}}"#] {
            assert_eq!(json_secret("ns", "s", json).keys().count(), 0, "{json}");
        }
    }

    #[test]
    fn bad_entries_are_refused() {
        let cases = [
            (
                format!(
                    r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
                    b64("no-colon")
                ),
                "r.io",
                "auth has no ':'",
            ),
            (
                r#"{"auths": {"r.io": {"auth": "!!!!"}}}"#.to_owned(),
                "r.io",
                "auth is not valid base64",
            ),
            (
                r#"{"auths": {"r.io": {"auth": "YWJj=YWJj"}}}"#.to_owned(),
                "r.io",
                "auth is not valid base64",
            ),
            (
                r#"{"auths": {"r.io": {"auth": 5}}}"#.to_owned(),
                "r.io",
                "auth is a number, expected a string",
            ),
            (
                r#"{"auths": {"r.io": {"username": ["u"]}}}"#.to_owned(),
                "r.io",
                "username is an array",
            ),
            (
                r#"{"auths": {"r.io": {"email": true}}}"#.to_owned(),
                "r.io",
                "email is a boolean",
            ),
            (
                r#"{"auths": {"r.io": "x"}}"#.to_owned(),
                "r.io",
                "the entry is a string",
            ),
            (r#"{"auths": []}"#.to_owned(), "auths", "auths is an array"),
            (
                r#"{"HttpHeaders": 5, "auths": {}}"#.to_owned(),
                "HttpHeaders",
                "HttpHeaders is a number",
            ),
            (
                r#"{"HttpHeaders": {"X-A": 1}}"#.to_owned(),
                "HttpHeaders",
                "a header in HttpHeaders is a number",
            ),
        ];
        for (json, key, problem) in cases {
            let err = decode_json("ns", "s", &json).unwrap_err();
            match &err {
                PullSecretError::InvalidEntry {
                    key: k, problem: p, ..
                } => {
                    assert_eq!(k, key, "{json}");
                    assert!(p.contains(problem), "{json}: {p}");
                }
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn entries_decode_like_the_kubelet() {
        // `auth` wins over the separate fields.
        let s = json_secret(
            "ns",
            "s",
            &format!(
                r#"{{"auths": {{"r.io": {{"auth": "{}", "username": "x", "password": "y"}}}}}}"#,
                b64("alice:pw")
            ),
        );
        assert_eq!(only_credential(&s), basic("alice", "pw"));
        // Unpadded auth (RawStdEncoding), an empty user and NULs are all kept as Go keeps them.
        let unpadded = b64(":pw\0").trim_end_matches('=').to_owned();
        let s = json_secret(
            "ns",
            "s",
            &format!(r#"{{"auths": {{"r.io": {{"auth": "{unpadded}"}}}}}}"#),
        );
        assert_eq!(only_credential(&s), basic("", "pw\0"));
        // Field names match in any case, as in Go; unknown and ignored fields are not checked.
        let s = json_secret(
            "ns",
            "s",
            r#"{"Auths": {"r.io": {"Username": "bob", "PASSWORD": "pw", "serveraddress": 5, "identitytoken": 7}}, "credHelpers": {"r.io": "x"}, "credsStore": 1}"#,
        );
        assert_eq!(only_credential(&s), basic("bob", "pw"));
        assert!(!s.entries[0].identity_token);
    }

    #[test]
    fn identity_tokens_are_ignored_like_the_kubelet() {
        let s = json_secret(
            "ns",
            "s",
            &format!(
                r#"{{"auths": {{"acr.io": {{"auth": "{}", "identitytoken": "{CANARY}"}}, "t.io": {{"identitytoken": "{CANARY}"}}}}}}"#,
                b64("00000000-0000:")
            ),
        );
        assert_eq!(s.keys().collect::<Vec<_>>(), ["acr.io", "t.io"]);
        assert_eq!(s.entries[0].credential, Some(basic("00000000-0000", "")));
        assert!(s.entries[0].identity_token);
        assert_eq!(s.entries[1].credential, None);
        assert!(s.entries[1].identity_token);
        let pod = PodCredentials::new(&[&s], None);
        let found = pod.candidates(&reference("acr.io/app")).unwrap();
        assert_eq!(found.credentials[0].credential, basic("00000000-0000", ""));
        assert_eq!(
            found.notes,
            [
                "secret ns/s, key acr.io: the kubelet ignores identitytoken and sends only the user name and password"
            ]
        );
        assert_no_canary(&format!("{s:?} {pod:?} {found:?}"));
    }

    // --- secrets never leak --------------------------------------------------------------

    /// Every rendering of an error a user or log could see.
    fn renderings(err: &PullSecretError) -> String {
        format!("{err}\n{err:?}\n{err:#?}")
    }

    fn assert_no_canary(text: &str) {
        assert!(!text.contains(CANARY), "secret leaked: {text}");
        assert!(
            !text.contains(&b64(CANARY)),
            "encoded secret leaked: {text}"
        );
        assert!(
            !text.contains(&b64(&format!("user:{CANARY}"))),
            "auth leaked: {text}"
        );
    }

    #[test]
    fn canary_never_in_errors() {
        let auth = b64(&format!("user:{CANARY}"));
        let jsons = [
            format!(r#"{{"auths": {{"r.io": {{"auth": "{CANARY}"}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": {{"auth": "{auth}x"}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#, b64(CANARY)),
            format!(r#"{{"auths": {{"r.io": {{"password": ["{CANARY}"]}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": {{"password": {{"x": "{CANARY}"}}}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": "{CANARY}"}}}}"#),
            format!(r#"{{"auths": "{CANARY}"}}"#),
            format!(r#""{CANARY}""#),
            format!(r#"{{"auths": {{"r.io": {{"password": "{CANARY}" "#),
            format!(r#"{{"auths": {{"r.io": {{"password": {CANARY}}}}}}}"#),
            format!("{{\"auths\": {{\"r.io\": {{\"password\": \"{CANARY}\u{1}\"}}}}}}"),
            format!(r#"{{"auths": {{"r.io": {{"auth": "{auth}", "username": 1}}}}}}"#),
            format!(r#"{{"HttpHeaders": {{"X": ["{CANARY}"]}}}}"#),
        ];
        for json in &jsons {
            let err = decode_json("ns", "s", json).unwrap_err();
            assert_no_canary(&renderings(&err));
            // The same content given base64-encoded under data.
            let err = PullSecret::decode(
                "ns",
                "s",
                Some(TYPE_DOCKER_CONFIG_JSON),
                &map(&[(KEY_DOCKER_CONFIG_JSON, &b64(json))]),
                &BTreeMap::new(),
            )
            .unwrap_err();
            assert_no_canary(&renderings(&err));
        }
    }

    #[test]
    fn canary_never_in_debug_of_secret_keyring_or_candidates() {
        use std::fmt::Write as _;
        let secret = json_secret(
            "ns",
            "s",
            &format!(
                r#"{{"auths": {{"a.io": {{"auth": "{}"}}, "b.io": {{"username": "u", "password": "{CANARY}"}}, "c.io": {{"identitytoken": "{CANARY}"}}, "a.io:5000": {{"auth": "{}"}}}}}}"#,
                b64(&format!("user:{CANARY}")),
                b64(&format!("user:{CANARY}")),
            ),
        );
        let keyring = keyring(&[&secret]);
        let pod = PodCredentials::new(&[&secret], None);
        let mut text = format!("{secret:?} {secret:#?} {keyring:?} {pod:#?}");
        for image in ["a.io/x", "b.io/x", "c.io/x", "a.io:5001/x", "d.io/x"] {
            let found = pod.candidates(&reference(image)).unwrap();
            write!(
                text,
                "{found:?} {:?}",
                keyring.near_misses(&reference(image))
            )
            .unwrap();
            for c in &found.credentials {
                text.push_str(&c.origin);
            }
        }
        assert_no_canary(&text);
        // The secrets are there, though: only their printing is redacted.
        let found = pod.candidates(&reference("b.io/x")).unwrap();
        assert_eq!(found.credentials[0].credential, basic("u", CANARY));
    }

    // --- arbitrary input -------------------------------------------------------------------

    /// xorshift64: deterministic, so a failure reproduces.
    struct Xorshift(u64);

    impl Xorshift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap()
        }

        fn text(&mut self, alphabet: &[char], max: usize) -> String {
            let len = self.below(max + 1);
            (0..len)
                .map(|_| alphabet[self.below(alphabet.len())])
                .collect()
        }
    }

    #[test]
    fn arbitrary_keys_and_configs_never_panic() {
        let key_alphabet: Vec<char> = "ab.io:5[]^-*?\\/%#@![]:.."
            .chars()
            .chain([
                '2', 'f', 'é', ' ', '\u{0}', 'v', '1', 'h', 't', 'p', 's', 'A',
            ])
            .collect();
        let json_alphabet: Vec<char> =
            r#"{}[]":,auths ername pwod\1=.x"#.chars().chain(['é', '\n', '\u{1}']).collect();
        let images: Vec<Reference> = [
            "nginx",
            "registry.io/team/app",
            "a.io:5000/x",
            "[::1]:5000/x",
            "localhost/x",
            "Ab.Io/x",
        ]
        .iter()
        .map(|i| reference(i))
        .collect();
        let mut rng = Xorshift(0x2545_F491_4F6C_DD1D);
        for _ in 0..3_000 {
            let keys: Vec<String> = (0..3).map(|_| rng.text(&key_alphabet, 24)).collect();
            let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let keyring = keyring(&[&keys_secret("ns", "s", &key_refs)]);
            for image in &images {
                let _ = keyring.matches(image);
                let _ = keyring.near_misses(image);
            }
            let pattern = rng.text(&key_alphabet, 12);
            let name = rng.text(&key_alphabet, 12);
            let _ = glob_match(&pattern, &name);
            let _ = split_host_port(&name);
            let json = rng.text(&json_alphabet, 40);
            let _ = decode_json("ns", "s", &json);
            let _ = PullSecret::decode(
                "ns",
                "s",
                Some(TYPE_DOCKERCFG),
                &map(&[(KEY_DOCKERCFG, &json)]),
                &BTreeMap::new(),
            );
        }
    }

    #[test]
    fn keys_with_user_information_are_never_shown() {
        assert_eq!(
            shown_key("https://robot:S3CRET@r.example.com/v1/"),
            "https://r.example.com/v1/"
        );
        assert_eq!(shown_key("robot:S3CRET@r.example.com"), "r.example.com");
        assert_eq!(
            shown_key("r.example.com/path?q#x"),
            "r.example.com/path?q#x"
        );
        assert_eq!(shown_key("r.example.com/a@b"), "r.example.com/a@b");
        assert_eq!(shown_key("ünïcode@h"), "h");
    }
}
