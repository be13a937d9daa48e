//! Container image references: parsing, normalization and canonical form.
//!
//! The rules are those of Docker's `distribution/reference` (`ParseNormalizedNamed`), because
//! that is what kubelet's container runtimes apply before they pull: a reference is only worth
//! checking if we read it exactly the way the node will. Where Docker is lax (it accepts any
//! string of digits as a port) we are slightly stricter, since such a reference can never be
//! pulled anyway.
//!
//! The runtimes' copies of that parser differ in two rules, held in a [`Grammar`]: how long a
//! name may be (current `distribution/reference` limits the path to 255 characters; the older
//! copies in containerd 1.6 and `containers/image` limit the whole normalized name) and whether
//! a registry may be a bracketed IPv6 address at all (those two copies have no such rule). [`Reference::parse`] applies the strictest length rule; [`Reference::parse_with`] the
//! node runtime's. No parser accepts an IPv6 address with an embedded dotted IPv4 address
//! (`[2001:db8:3:4::192.0.2.33]`): `distribution/reference` allows only hex digits and colons.
//!
//! ```
//! use preflight::reference::Reference;
//!
//! let r = Reference::parse("nginx:1.25").unwrap();
//! assert_eq!(r.registry(), "docker.io");
//! assert_eq!(r.repository(), "library/nginx");
//! assert_eq!(r.canonical(), "docker.io/library/nginx:1.25");
//! ```

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

pub(crate) const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LENGTH: usize = 255;
const MAX_TAG_LENGTH: usize = 128;
const SUPPORTED_DIGESTS: [(&str, usize); 3] = [("sha256", 64), ("sha384", 96), ("sha512", 128)];

/// Which copy of the reference parser a reference is held to: the node runtime's
/// (`registry/runtime.rs` says which runtime uses which; `docs/runtimes.md` lists them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Grammar {
    /// Current `distribution/reference` (v0.6: Docker, the kubelet, containerd 2 and the late
    /// 1.7 releases): the repository path at most 255 characters; a bracketed IPv6 host of hex
    /// digits and colons.
    Distribution,
    /// containerd 1.6's own copy (`reference/docker`): the whole normalized name
    /// (`registry/repository`) at most 255 characters, and no IPv6 host rule.
    ContainerdCopy,
    /// `containers/image`'s copy (`docker/reference`, CRI-O and podman): the whole normalized name
    /// at most 255 characters, and a registry host is a domain name or IPv4 address only — no
    /// bracketed IPv6.
    ContainersImage,
}

/// The two rules the parsers differ in.
#[derive(Debug, Clone, Copy)]
struct Rules {
    whole_name_limit: bool,
    ipv6_hosts: bool,
}

impl Grammar {
    fn rules(self) -> Rules {
        match self {
            Grammar::Distribution => Rules {
                whole_name_limit: false,
                ipv6_hosts: true,
            },
            Grammar::ContainerdCopy | Grammar::ContainersImage => Rules {
                whole_name_limit: true,
                ipv6_hosts: false,
            },
        }
    }
}

/// What [`Reference::parse`] applies: the strictest length rule, and IPv6 hosts as current
/// `distribution/reference` has them.
const STRICTEST: Rules = Rules {
    whole_name_limit: true,
    ipv6_hosts: true,
};

/// A problem and the byte offset where it was found. Every character is checked to be ASCII
/// before anything is sliced, so from then on byte offsets are character offsets too.
type Fault = (usize, ReferenceProblem);

/// A parsed and normalized container image reference, such as `nginx:1.25` or
/// `ghcr.io/org/app@sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    original: String,
    registry: String,
    host: String,
    port: Option<u16>,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalizes an image reference the way Docker does: `nginx` becomes
    /// `docker.io/library/nginx:latest`.
    ///
    /// # Errors
    ///
    /// A [`ReferenceError`] saying what is wrong and at which character, when the input is
    /// not a reference Docker would accept (or names a port that cannot exist).
    ///
    /// The whole normalized name is held to 255 characters, the strictest of the runtimes'
    /// rules; [`Reference::parse_with`] applies one runtime's.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        parse_reference(input, STRICTEST)
            .map_err(|(offset, problem)| ReferenceError::at(input, offset, problem))
    }

    /// Parses and normalizes an image reference as the parser `grammar` names does.
    ///
    /// # Errors
    ///
    /// A [`ReferenceError`] saying what is wrong and at which character, when that parser
    /// would refuse the input.
    pub fn parse_with(input: &str, grammar: Grammar) -> Result<Self, ReferenceError> {
        parse_reference(input, grammar.rules())
            .map_err(|(offset, problem)| ReferenceError::at(input, offset, problem))
    }

    /// The reference exactly as it was given.
    #[must_use]
    pub fn original(&self) -> &str {
        &self.original
    }

    /// The registry, with its port if one was written: `docker.io`, `localhost:5000`,
    /// `[::1]:5000`. Host names are lower-cased, and `index.docker.io` becomes `docker.io`.
    #[must_use]
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The registry's host without port; an IPv6 address comes without its brackets.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The registry's port, if one was written.
    #[must_use]
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The repository path within the registry, e.g. `library/nginx`.
    #[must_use]
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag as written; `latest` when neither a tag nor a digest was written, and `None`
    /// when only a digest was.
    #[must_use]
    pub fn tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some(DEFAULT_TAG),
            (None, Some(_)) => None,
        }
    }

    /// Whether a tag was written, rather than `latest` being implied.
    #[must_use]
    pub fn has_explicit_tag(&self) -> bool {
        self.tag.is_some()
    }

    /// The digest, if one was written.
    #[must_use]
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What to ask the registry's manifest endpoint for: the digest when there is one (it is
    /// what the runtime pulls even when a tag is written too), otherwise the tag.
    #[must_use]
    pub fn manifest_reference(&self) -> String {
        self.digest.as_ref().map_or_else(
            || self.tag().unwrap_or(DEFAULT_TAG).to_owned(),
            Digest::to_string,
        )
    }

    /// The fully qualified form: `docker.io/library/nginx:latest`,
    /// `registry/repo:tag@sha256:…` when both were written, `registry/repo@sha256:…` for a
    /// digest alone. Parsing it again gives the same reference.
    #[must_use]
    pub fn canonical(&self) -> String {
        self.to_string()
    }

    /// Whether the image lives on Docker Hub.
    #[must_use]
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// The host that serves the registry API: Docker Hub's is not `docker.io` itself.
    #[must_use]
    pub fn api_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = self.tag() {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A content digest such as `sha256:e3b0…`, limited to the algorithms registries serve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digest {
    value: String,
    colon: usize,
}

impl Digest {
    /// Parses `algorithm:hex`; the algorithm must be sha256, sha384 or sha512 and the hex
    /// lower-case and of that algorithm's length.
    ///
    /// # Errors
    ///
    /// A [`ReferenceError`] saying what is wrong and at which character.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        check_characters(s)
            .and_then(|()| parse_digest(s, 0))
            .map_err(|(offset, problem)| ReferenceError::at(s, offset, problem))
    }

    /// The algorithm, e.g. `sha256`.
    #[must_use]
    pub fn algorithm(&self) -> &str {
        &self.value[..self.colon]
    }

    /// The hex-encoded hash, lower-case.
    #[must_use]
    pub fn hex(&self) -> &str {
        &self.value[self.colon + 1..]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Why an image reference (or a digest) was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {problem} (at character {column})")]
pub struct ReferenceError {
    /// The text that was refused, exactly as given.
    pub input: String,
    /// Where the problem is: a 1-based position counted in characters (not bytes). It may be
    /// one past the last character when something is missing at the end.
    pub column: usize,
    /// What is wrong.
    pub problem: ReferenceProblem,
}

impl ReferenceError {
    fn at(input: &str, offset: usize, problem: ReferenceProblem) -> Self {
        Self {
            input: input.to_owned(),
            column: offset + 1,
            problem,
        }
    }
}

/// What is wrong with a refused image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceProblem {
    /// Nothing was given.
    #[error("the reference is empty")]
    Empty,
    /// A tag or digest was written without an image name before it.
    #[error("the image name is missing")]
    MissingName,
    /// A character that no part of a reference may contain at this place: whitespace,
    /// control and non-ASCII characters anywhere, or punctuation in a repository name.
    #[error("{}", describe_character(*.found))]
    InvalidCharacter {
        /// The character.
        found: char,
    },
    /// The repository path has an upper-case letter.
    #[error("repository name must be lowercase")]
    UppercaseRepository,
    /// Two '/' in a row, or a '/' at the start or end of the repository path.
    #[error("repository path has an empty component (a doubled, leading or trailing '/')")]
    EmptyPathComponent,
    /// A '.', '_' or '-' that is not between two letters or digits, or a run of them other
    /// than `__` or dashes.
    #[error(
        "in a repository name, '.', '_', '__' and '-' may only join lowercase letters or digits"
    )]
    InvalidSeparator,
    /// The registry is neither a valid host name nor an IP address.
    #[error("registry host is not a valid host name or IP address")]
    InvalidHost,
    /// The registry port is not a number from 1 to 65535.
    #[error("registry port must be a number from 1 to 65535")]
    InvalidPort,
    /// Registry and repository together are longer than Docker allows.
    #[error("image name is longer than 255 characters ({length})")]
    NameTooLong {
        /// The length of `registry/repository` after normalization.
        length: usize,
    },
    /// The repository path is longer than `distribution/reference` allows.
    #[error("repository path is longer than 255 characters ({length})")]
    PathTooLong {
        /// The length of the repository path after normalization.
        length: usize,
    },
    /// A bracketed IPv6 registry host, which the node runtime's parser does not accept.
    #[error("the node runtime's reference parser has no rule for an IPv6 address as registry host")]
    Ipv6HostUnsupported,
    /// The reference is a bare 64-character hex string, which Docker takes for an image ID.
    #[error("a 64-character hexadecimal string is an image ID, not an image name")]
    HexOnlyName,
    /// Nothing follows the ':' that starts the tag.
    #[error("the tag after ':' is empty")]
    EmptyTag,
    /// The tag has a character other than letters, digits, '_', '.' and '-', or starts with
    /// '.' or '-'.
    #[error(
        "a tag may only contain letters, digits, '_', '.' and '-', and cannot start with '.' or '-'"
    )]
    InvalidTag,
    /// The tag is longer than 128 characters.
    #[error("tag is longer than 128 characters ({length})")]
    TagTooLong {
        /// The tag's length.
        length: usize,
    },
    /// Nothing follows the '@' that starts the digest.
    #[error("the digest after '@' is empty")]
    EmptyDigest,
    /// The digest is not `algorithm:hex` with lower-case hex digits.
    #[error("a digest must be written as <algorithm>:<lowercase hex>, e.g. sha256:4f3c…")]
    InvalidDigest,
    /// A well-formed digest whose algorithm registries do not serve.
    #[error("unsupported digest algorithm {algorithm:?} (expected sha256, sha384 or sha512)")]
    UnsupportedDigestAlgorithm {
        /// The algorithm as written.
        algorithm: String,
    },
    /// The digest's hex part has the wrong length for its algorithm.
    #[error("a {algorithm} digest has {expected} hex characters, not {found}")]
    DigestLength {
        /// The algorithm as written.
        algorithm: String,
        /// How many hex characters the algorithm produces.
        expected: usize,
        /// How many were written.
        found: usize,
    },
    /// The reference starts with a URL scheme such as `https://`.
    #[error("image references do not take a URL scheme such as \"https://\"")]
    HasScheme,
}

fn describe_character(c: char) -> String {
    if c.is_whitespace() {
        format!("whitespace ({c:?}) is not allowed")
    } else if c.is_control() {
        format!("control character {c:?} is not allowed")
    } else if !c.is_ascii() {
        format!("non-ASCII character {c:?} is not allowed")
    } else {
        format!("unexpected character {c:?}")
    }
}

/// The registry part of a reference, already normalized.
struct Registry {
    name: String,
    host: String,
    port: Option<u16>,
}

fn parse_reference(input: &str, rules: Rules) -> Result<Reference, Fault> {
    if input.is_empty() {
        return Err((0, ReferenceProblem::Empty));
    }
    check_characters(input)?;
    if has_scheme(input) {
        return Err((0, ReferenceProblem::HasScheme));
    }
    if is_image_id(input) {
        return Err((0, ReferenceProblem::HexOnlyName));
    }

    let at = input.find('@');
    let name_and_tag = at.map_or(input, |at| &input[..at]);
    // A ':' before the last '/' belongs to the registry's port, never to a tag.
    let last_slash = name_and_tag.rfind('/');
    let colon = name_and_tag
        .rfind(':')
        .filter(|&colon| last_slash.is_none_or(|slash| colon > slash));
    let name = colon.map_or(name_and_tag, |colon| &name_and_tag[..colon]);
    if name.is_empty() {
        return Err((0, ReferenceProblem::MissingName));
    }

    let (registry, path_start) = match name.find('/') {
        Some(slash) if looks_like_registry(&name[..slash]) => {
            (parse_registry(&name[..slash], rules)?, slash + 1)
        }
        _ => (
            Registry {
                name: DOCKER_HUB.to_owned(),
                host: DOCKER_HUB.to_owned(),
                port: None,
            },
            0,
        ),
    };
    let path = &name[path_start..];
    check_path(path, path_start)?;
    // Official images live under `library/`, so `nginx` and `library/nginx` are one image.
    let repository = if registry.name == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    // Docker measures the normalized name; measuring it as written would accept names whose
    // canonical form is then refused.
    let length = registry.name.len() + 1 + repository.len();
    if rules.whole_name_limit && length > MAX_NAME_LENGTH {
        return Err((0, ReferenceProblem::NameTooLong { length }));
    }
    if repository.len() > MAX_NAME_LENGTH {
        return Err((
            path_start,
            ReferenceProblem::PathTooLong {
                length: repository.len(),
            },
        ));
    }

    let tag = match colon {
        Some(colon) => {
            let tag = &name_and_tag[colon + 1..];
            check_tag(tag, colon + 1)?;
            Some(tag.to_owned())
        }
        None => None,
    };
    let digest = match at {
        Some(at) => Some(parse_digest(&input[at + 1..], at + 1)?),
        None => None,
    };

    Ok(Reference {
        original: input.to_owned(),
        registry: registry.name,
        host: registry.host,
        port: registry.port,
        repository,
        tag,
        digest,
    })
}

fn check_characters(text: &str) -> Result<(), Fault> {
    // The index counts characters, but every character before the first offender is ASCII,
    // so it is a byte offset as well.
    match text
        .chars()
        .enumerate()
        .find(|&(_, c)| !c.is_ascii_graphic())
    {
        Some((index, found)) => Err((index, ReferenceProblem::InvalidCharacter { found })),
        None => Ok(()),
    }
}

fn has_scheme(input: &str) -> bool {
    input.find("://").is_some_and(|end| {
        let scheme = &input[..end];
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
    })
}

/// Docker refuses exactly this shape (and nothing longer, such as the same with a tag), so
/// that an image ID is never mistaken for `docker.io/library/<id>`.
fn is_image_id(input: &str) -> bool {
    input.len() == 64 && input.bytes().all(is_lower_hex)
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// Docker's test for whether the text before the first '/' names a registry rather than a
/// Docker Hub namespace.
fn looks_like_registry(prefix: &str) -> bool {
    prefix.contains(['.', ':'])
        || prefix == "localhost"
        || prefix.bytes().any(|b| b.is_ascii_uppercase())
}

/// Parses the registry part, which always starts the input, so offsets are the input's.
fn parse_registry(text: &str, rules: Rules) -> Result<Registry, Fault> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        if !rules.ipv6_hosts {
            return Err((0, ReferenceProblem::Ipv6HostUnsupported));
        }
        let close = bracketed
            .find(']')
            .ok_or((0, ReferenceProblem::InvalidHost))?;
        let address = &bracketed[..close];
        // std refuses zone ids (`%eth0`), which have no place in a registry URL either.
        // `distribution/reference` allows only hex digits and colons: an embedded dotted IPv4
        // address (`::ffff:192.0.2.1`) is refused though it is a valid IPv6 address.
        if address.parse::<Ipv6Addr>().is_err()
            || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
        {
            return Err((0, ReferenceProblem::InvalidHost));
        }
        let rest_start = close + 2;
        let rest = &text[rest_start..];
        let port = match rest.strip_prefix(':') {
            Some(port) => Some(parse_port(port, rest_start + 1)?),
            None if rest.is_empty() => None,
            None => return Err((rest_start, ReferenceProblem::InvalidHost)),
        };
        (address, port)
    } else {
        let (host, port) = match text.find(':') {
            Some(colon) => (&text[..colon], Some((&text[colon + 1..], colon + 1))),
            None => (text, None),
        };
        check_host_name(host)?;
        let port = match port {
            Some((port, start)) => Some(parse_port(port, start)?),
            None => None,
        };
        (host, port)
    };

    // Host names are case-insensitive, so one spelling keeps registries comparable. The
    // exception is a lone label such as `Foo` that reads as a registry only because of its
    // capitals: lower-cased, `foo/app` would name a Docker Hub repository instead.
    let lowered = text.to_ascii_lowercase();
    let (name, host) = if !looks_like_registry(&lowered) {
        (text.to_owned(), host.to_owned())
    } else if lowered == DOCKER_HUB_LEGACY {
        (DOCKER_HUB.to_owned(), DOCKER_HUB.to_owned())
    } else {
        (lowered, host.to_ascii_lowercase())
    };
    Ok(Registry { name, host, port })
}

fn check_host_name(host: &str) -> Result<(), Fault> {
    if host.is_empty() {
        return Err((0, ReferenceProblem::InvalidHost));
    }
    let mut start = 0;
    for label in host.split('.') {
        if label.is_empty() {
            // An empty last label has no character of its own: blame the '.' before it.
            let offset = if start < host.len() { start } else { start - 1 };
            return Err((offset, ReferenceProblem::InvalidHost));
        }
        if let Some(i) = label.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            return Err((start + i, ReferenceProblem::InvalidHost));
        }
        if label.starts_with('-') {
            return Err((start, ReferenceProblem::InvalidHost));
        }
        if label.ends_with('-') {
            return Err((start + label.len() - 1, ReferenceProblem::InvalidHost));
        }
        start += label.len() + 1;
    }
    Ok(())
}

/// `start` is the offset of the port's first digit, just after its ':'.
fn parse_port(digits: &str, start: usize) -> Result<u16, Fault> {
    if digits.is_empty() {
        return Err((start - 1, ReferenceProblem::InvalidPort));
    }
    if let Some(i) = digits.find(|c: char| !c.is_ascii_digit()) {
        return Err((start + i, ReferenceProblem::InvalidPort));
    }
    // Docker accepts any run of digits, but port 0 or one above 65535 can never be dialled.
    match digits.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err((start, ReferenceProblem::InvalidPort)),
    }
}

/// `start` is the offset of the path within the input.
fn check_path(path: &str, start: usize) -> Result<(), Fault> {
    // Docker tests case before syntax, so `Nginx` gets the helpful message rather than a
    // generic one.
    if let Some(i) = path.find(|c: char| c.is_ascii_uppercase()) {
        return Err((start + i, ReferenceProblem::UppercaseRepository));
    }
    let mut offset = 0;
    for component in path.split('/') {
        if component.is_empty() {
            // An empty last component has no character of its own: blame the '/' before it.
            let at = if offset < path.len() {
                start + offset
            } else {
                (start + offset).saturating_sub(1)
            };
            return Err((at, ReferenceProblem::EmptyPathComponent));
        }
        check_path_component(component, start + offset)?;
        offset += component.len() + 1;
    }
    Ok(())
}

fn is_path_separator(b: u8) -> bool {
    matches!(b, b'.' | b'_' | b'-')
}

fn check_path_component(component: &str, start: usize) -> Result<(), Fault> {
    let bytes = component.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        if !is_path_separator(b) {
            return Err((
                start + i,
                ReferenceProblem::InvalidCharacter {
                    found: char::from(b),
                },
            ));
        }
        // Judge the whole run of separators at once, so the error points at where it starts.
        let end = bytes[i..]
            .iter()
            .position(|&b| !is_path_separator(b))
            .map_or(bytes.len(), |n| i + n);
        let run = &component[i..end];
        let allowed = matches!(run, "." | "_" | "__") || run.bytes().all(|b| b == b'-');
        if i == 0 || end == bytes.len() || !allowed {
            return Err((start + i, ReferenceProblem::InvalidSeparator));
        }
        i = end;
    }
    Ok(())
}

/// `start` is the offset of the tag's first character, just after its ':'.
fn check_tag(tag: &str, start: usize) -> Result<(), Fault> {
    if tag.is_empty() {
        return Err((start - 1, ReferenceProblem::EmptyTag));
    }
    let allowed = |(i, b): (usize, u8)| {
        b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && matches!(b, b'.' | b'-'))
    };
    if let Some(i) = tag.bytes().enumerate().position(|ib| !allowed(ib)) {
        return Err((start + i, ReferenceProblem::InvalidTag));
    }
    if tag.len() > MAX_TAG_LENGTH {
        return Err((start, ReferenceProblem::TagTooLong { length: tag.len() }));
    }
    Ok(())
}

/// `start` is the offset of the digest's first character, just after its '@' if any. The
/// text must already be known to be ASCII.
fn parse_digest(text: &str, start: usize) -> Result<Digest, Fault> {
    if text.is_empty() {
        return Err((start.saturating_sub(1), ReferenceProblem::EmptyDigest));
    }
    if let Some(i) = text.find('@') {
        return Err((start + i, ReferenceProblem::InvalidCharacter { found: '@' }));
    }
    let Some(colon) = text.find(':') else {
        return Err((start, ReferenceProblem::InvalidDigest));
    };
    let algorithm = &text[..colon];
    check_digest_algorithm(algorithm, start)?;
    let Some(&(_, expected)) = SUPPORTED_DIGESTS
        .iter()
        .find(|(name, _)| *name == algorithm)
    else {
        return Err((
            start,
            ReferenceProblem::UnsupportedDigestAlgorithm {
                algorithm: algorithm.to_owned(),
            },
        ));
    };
    let hex_start = colon + 1;
    let hex = &text[hex_start..];
    if let Some(i) = hex.bytes().position(|b| !is_lower_hex(b)) {
        return Err((start + hex_start + i, ReferenceProblem::InvalidDigest));
    }
    if hex.len() != expected {
        return Err((
            start + hex_start,
            ReferenceProblem::DigestLength {
                algorithm: algorithm.to_owned(),
                expected,
                found: hex.len(),
            },
        ));
    }
    Ok(Digest {
        value: text.to_owned(),
        colon,
    })
}

/// An algorithm is lower-case letters and digits, joined by single `+`, `.`, `_` or `-`.
fn check_digest_algorithm(algorithm: &str, start: usize) -> Result<(), Fault> {
    let bytes = algorithm.as_bytes();
    if bytes.is_empty() {
        return Err((start, ReferenceProblem::InvalidDigest));
    }
    let is_separator = |b: u8| matches!(b, b'+' | b'.' | b'_' | b'-');
    for (i, &b) in bytes.iter().enumerate() {
        let ok = if b.is_ascii_lowercase() || b.is_ascii_digit() {
            true
        } else if is_separator(b) {
            i > 0 && i + 1 < bytes.len() && !is_separator(bytes[i - 1])
        } else {
            false
        };
        if !ok {
            return Err((start + i, ReferenceProblem::InvalidDigest));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::{Index, select};
    use proptest::test_runner::{RngAlgorithm, TestRng, TestRunner};

    use super::*;

    const HEX64: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HEX96: &str = "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b";
    const HEX128: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

    /// Long or repetitive parts of the tables, spelled out once.
    fn expand(text: &str) -> String {
        text.replace("{d256}", &format!("sha256:{HEX64}"))
            .replace("{d384}", &format!("sha384:{HEX96}"))
            .replace("{d512}", &format!("sha512:{HEX128}"))
            .replace("{hex64}", HEX64)
            .replace("{hex63}", &HEX64[..63])
            .replace("{t128}", &"t".repeat(128))
            .replace("{a243}", &"a".repeat(243))
    }

    // input | registry | repository | tag ("(latest)" when implied, "-" for none) | digest | canonical
    const VALID: &str = "
nginx | docker.io | library/nginx | (latest) | - | docker.io/library/nginx:latest
nginx:1.25 | docker.io | library/nginx | 1.25 | - | docker.io/library/nginx:1.25
nginx:latest | docker.io | library/nginx | latest | - | docker.io/library/nginx:latest
library/nginx | docker.io | library/nginx | (latest) | - | docker.io/library/nginx:latest
docker.io/nginx | docker.io | library/nginx | (latest) | - | docker.io/library/nginx:latest
docker.io/library/nginx:stable-alpine | docker.io | library/nginx | stable-alpine | - | docker.io/library/nginx:stable-alpine
index.docker.io/library/nginx | docker.io | library/nginx | (latest) | - | docker.io/library/nginx:latest
index.docker.io/nginx | docker.io | library/nginx | (latest) | - | docker.io/library/nginx:latest
index.docker.io/foo/bar | docker.io | foo/bar | (latest) | - | docker.io/foo/bar:latest
Docker.IO/nginx | docker.io | library/nginx | (latest) | - | docker.io/library/nginx:latest
INDEX.DOCKER.IO/foo/bar:v1 | docker.io | foo/bar | v1 | - | docker.io/foo/bar:v1
user/app | docker.io | user/app | (latest) | - | docker.io/user/app:latest
user/app:v1 | docker.io | user/app | v1 | - | docker.io/user/app:v1
localhost/app | localhost | app | (latest) | - | localhost/app:latest
localhost:5000/app | localhost:5000 | app | (latest) | - | localhost:5000/app:latest
localhost:5000/app:v1 | localhost:5000 | app | v1 | - | localhost:5000/app:v1
LOCALHOST:5000/app | localhost:5000 | app | (latest) | - | localhost:5000/app:latest
localhost:1/app | localhost:1 | app | (latest) | - | localhost:1/app:latest
localhost:65535/app | localhost:65535 | app | (latest) | - | localhost:65535/app:latest
localhost/a/b@{d256} | localhost | a/b | - | {d256} | localhost/a/b@{d256}
127.0.0.1:5000/a/b/c:t | 127.0.0.1:5000 | a/b/c | t | - | 127.0.0.1:5000/a/b/c:t
10.0.0.1/app | 10.0.0.1 | app | (latest) | - | 10.0.0.1/app:latest
1.2.3.4:443/x/y | 1.2.3.4:443 | x/y | (latest) | - | 1.2.3.4:443/x/y:latest
[::1]:5000/app | [::1]:5000 | app | (latest) | - | [::1]:5000/app:latest
[2001:db8::1]/app | [2001:db8::1] | app | (latest) | - | [2001:db8::1]/app:latest
[2001:DB8::1]:5000/app:v1 | [2001:db8::1]:5000 | app | v1 | - | [2001:db8::1]:5000/app:v1
[::]/app | [::] | app | (latest) | - | [::]/app:latest
[fe80::1]:5000/app | [fe80::1]:5000 | app | (latest) | - | [fe80::1]:5000/app:latest
my-registry.example.com/team/app:v2.1.3 | my-registry.example.com | team/app | v2.1.3 | - | my-registry.example.com/team/app:v2.1.3
Registry.Example.com/app | registry.example.com | app | (latest) | - | registry.example.com/app:latest
Foo/bar | Foo | bar | (latest) | - | Foo/bar:latest
registry:5000/app | registry:5000 | app | (latest) | - | registry:5000/app:latest
a.b/c | a.b | c | (latest) | - | a.b/c:latest
a.b.c/d | a.b.c | d | (latest) | - | a.b.c/d:latest
xn--bcher-kva.example/app | xn--bcher-kva.example | app | (latest) | - | xn--bcher-kva.example/app:latest
host-with-dash.local:8443/x | host-with-dash.local:8443 | x | (latest) | - | host-with-dash.local:8443/x:latest
example.com:443/a/b/c/d/e/f:tag | example.com:443 | a/b/c/d/e/f | tag | - | example.com:443/a/b/c/d/e/f:tag
docker.io:443/nginx | docker.io:443 | nginx | (latest) | - | docker.io:443/nginx:latest
registry.example.com/nginx | registry.example.com | nginx | (latest) | - | registry.example.com/nginx:latest
registry.example.com/library/nginx | registry.example.com | library/nginx | (latest) | - | registry.example.com/library/nginx:latest
foo_bar/baz | docker.io | foo_bar/baz | (latest) | - | docker.io/foo_bar/baz:latest
a__b | docker.io | library/a__b | (latest) | - | docker.io/library/a__b:latest
a---b | docker.io | library/a---b | (latest) | - | docker.io/library/a---b:latest
a.b.c | docker.io | library/a.b.c | (latest) | - | docker.io/library/a.b.c:latest
org/a-b.c_d/e__f---g | docker.io | org/a-b.c_d/e__f---g | (latest) | - | docker.io/org/a-b.c_d/e__f---g:latest
example.com/a_b/c.d/e-f:1 | example.com | a_b/c.d/e-f | 1 | - | example.com/a_b/c.d/e-f:1
a | docker.io | library/a | (latest) | - | docker.io/library/a:latest
a:b | docker.io | library/a | b | - | docker.io/library/a:b
0/1 | docker.io | 0/1 | (latest) | - | docker.io/0/1:latest
9/8/7 | docker.io | 9/8/7 | (latest) | - | docker.io/9/8/7:latest
a1b2/c3d4 | docker.io | a1b2/c3d4 | (latest) | - | docker.io/a1b2/c3d4:latest
a/b/c/d/e/f/g | docker.io | a/b/c/d/e/f/g | (latest) | - | docker.io/a/b/c/d/e/f/g:latest
sha256/app | docker.io | sha256/app | (latest) | - | docker.io/sha256/app:latest
localhost | docker.io | library/localhost | (latest) | - | docker.io/library/localhost:latest
localhost:5000 | docker.io | library/localhost | 5000 | - | docker.io/library/localhost:5000
docker.io | docker.io | library/docker.io | (latest) | - | docker.io/library/docker.io:latest
{hex64}:latest | docker.io | library/{hex64} | latest | - | docker.io/library/{hex64}:latest
{hex63} | docker.io | library/{hex63} | (latest) | - | docker.io/library/{hex63}:latest
nginx:{t128} | docker.io | library/nginx | {t128} | - | docker.io/library/nginx:{t128}
nginx:_x | docker.io | library/nginx | _x | - | docker.io/library/nginx:_x
nginx:___ | docker.io | library/nginx | ___ | - | docker.io/library/nginx:___
nginx:a.-_ | docker.io | library/nginx | a.-_ | - | docker.io/library/nginx:a.-_
nginx:LATEST | docker.io | library/nginx | LATEST | - | docker.io/library/nginx:LATEST
nginx:v1.0.0-rc.1_build.5 | docker.io | library/nginx | v1.0.0-rc.1_build.5 | - | docker.io/library/nginx:v1.0.0-rc.1_build.5
nginx:1 | docker.io | library/nginx | 1 | - | docker.io/library/nginx:1
nginx@{d256} | docker.io | library/nginx | - | {d256} | docker.io/library/nginx@{d256}
nginx:1.25@{d256} | docker.io | library/nginx | 1.25 | {d256} | docker.io/library/nginx:1.25@{d256}
nginx@{d384} | docker.io | library/nginx | - | {d384} | docker.io/library/nginx@{d384}
nginx@{d512} | docker.io | library/nginx | - | {d512} | docker.io/library/nginx@{d512}
gcr.io/distroless/static:nonroot | gcr.io | distroless/static | nonroot | - | gcr.io/distroless/static:nonroot
ghcr.io/o/r@{d256} | ghcr.io | o/r | - | {d256} | ghcr.io/o/r@{d256}
ghcr.io/o/r:v1@{d512} | ghcr.io | o/r | v1 | {d512} | ghcr.io/o/r:v1@{d512}
quay.io/prometheus/node-exporter:v1.8.2 | quay.io | prometheus/node-exporter | v1.8.2 | - | quay.io/prometheus/node-exporter:v1.8.2
registry.k8s.io/pause:3.9 | registry.k8s.io | pause | 3.9 | - | registry.k8s.io/pause:3.9
registry.k8s.io/kube-apiserver:v1.30.0 | registry.k8s.io | kube-apiserver | v1.30.0 | - | registry.k8s.io/kube-apiserver:v1.30.0
mcr.microsoft.com/dotnet/aspnet:8.0 | mcr.microsoft.com | dotnet/aspnet | 8.0 | - | mcr.microsoft.com/dotnet/aspnet:8.0
public.ecr.aws/docker/library/redis:7 | public.ecr.aws | docker/library/redis | 7 | - | public.ecr.aws/docker/library/redis:7
123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:sha-abc123 | 123456789012.dkr.ecr.us-east-1.amazonaws.com | team/app | sha-abc123 | - | 123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:sha-abc123
europe-west1-docker.pkg.dev/proj/repo/img:1 | europe-west1-docker.pkg.dev | proj/repo/img | 1 | - | europe-west1-docker.pkg.dev/proj/repo/img:1
my.registry:5000/team/sub/app:v1@{d256} | my.registry:5000 | team/sub/app | v1 | {d256} | my.registry:5000/team/sub/app:v1@{d256}
example.com/{a243} | example.com | {a243} | (latest) | - | example.com/{a243}:latest
";

    fn valid_cases() -> Vec<[String; 6]> {
        expand(VALID)
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let fields: Vec<String> = line.split(" | ").map(str::to_owned).collect();
                fields
                    .try_into()
                    .unwrap_or_else(|f| panic!("malformed table row {f:?}"))
            })
            .collect()
    }

    #[test]
    fn sample_hashes_have_their_lengths() {
        assert_eq!((HEX64.len(), HEX96.len(), HEX128.len()), (64, 96, 128));
    }

    #[test]
    fn valid_references() {
        let cases = valid_cases();
        assert!(cases.len() >= 70, "only {} valid cases", cases.len());
        for [input, registry, repository, tag, digest, canonical] in &cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.original(), input);
            assert_eq!(r.registry(), registry, "{input}");
            assert_eq!(r.repository(), repository, "{input}");
            match tag.as_str() {
                "-" => assert_eq!(r.tag(), None, "{input}"),
                "(latest)" => {
                    assert_eq!(r.tag(), Some("latest"), "{input}");
                    assert!(!r.has_explicit_tag(), "{input}");
                }
                tag => {
                    assert_eq!(r.tag(), Some(tag), "{input}");
                    assert!(r.has_explicit_tag(), "{input}");
                }
            }
            let written_digest = r.digest().map(Digest::to_string);
            assert_eq!(written_digest.as_deref().unwrap_or("-"), digest, "{input}");
            assert_eq!(r.canonical(), *canonical, "{input}");
            assert_eq!(r.to_string(), *canonical, "{input}");
            assert_eq!(input.parse::<Reference>().as_ref(), Ok(&r));
        }
    }

    #[test]
    fn canonical_form_round_trips() {
        for [input, ..] in valid_cases() {
            let first = Reference::parse(&input).unwrap();
            let again = Reference::parse(&first.canonical())
                .unwrap_or_else(|e| panic!("canonical of {input} refused: {e}"));
            assert_eq!(again.canonical(), first.canonical());
            assert_eq!(
                (
                    again.registry(),
                    again.host(),
                    again.port(),
                    again.repository()
                ),
                (
                    first.registry(),
                    first.host(),
                    first.port(),
                    first.repository()
                )
            );
            assert_eq!((again.tag(), again.digest()), (first.tag(), first.digest()));
        }
    }

    #[test]
    #[allow(clippy::too_many_lines, reason = "one table")]
    fn invalid_references() {
        use ReferenceProblem as P;
        let digest_length = |algorithm: &str, expected, found| P::DigestLength {
            algorithm: algorithm.to_owned(),
            expected,
            found,
        };
        let character = |found| P::InvalidCharacter { found };
        let cases: Vec<(&str, ReferenceProblem, usize)> = vec![
            ("", P::Empty, 1),
            (":tag", P::MissingName, 1),
            ("@{d256}", P::MissingName, 1),
            (":", P::MissingName, 1),
            ("Nginx", P::UppercaseRepository, 1),
            ("docker.io/Library/nginx", P::UppercaseRepository, 11),
            ("a/B", P::UppercaseRepository, 3),
            ("user/App:v1", P::UppercaseRepository, 6),
            ("nginx:", P::EmptyTag, 6),
            ("foo/bar:", P::EmptyTag, 8),
            ("nginx:@{d256}", P::EmptyTag, 6),
            ("nginx:-bad", P::InvalidTag, 7),
            ("nginx:.bad", P::InvalidTag, 7),
            ("nginx:ba!d", P::InvalidTag, 9),
            ("nginx:{t128}x", P::TagTooLong { length: 129 }, 7),
            ("nginx@sha256:abc", digest_length("sha256", 64, 3), 14),
            ("nginx:v1@sha256:abc", digest_length("sha256", 64, 3), 17),
            ("nginx@sha256:", digest_length("sha256", 64, 0), 14),
            ("nginx@sha512:{hex64}", digest_length("sha512", 128, 64), 14),
            ("nginx@sha384:{hex64}", digest_length("sha384", 96, 64), 14),
            ("nginx@sha256:{hex64}0", digest_length("sha256", 64, 65), 14),
            (
                "nginx@md5:d41d8cd98f00b204e9800998ecf8427e",
                P::UnsupportedDigestAlgorithm {
                    algorithm: "md5".to_owned(),
                },
                7,
            ),
            (
                "nginx@sha-256:{hex64}",
                P::UnsupportedDigestAlgorithm {
                    algorithm: "sha-256".to_owned(),
                },
                7,
            ),
            (
                "nginx@sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                P::InvalidDigest,
                14,
            ),
            ("nginx@sha256:{hex63}g", P::InvalidDigest, 77),
            ("nginx@sha256", P::InvalidDigest, 7),
            ("nginx@:abc", P::InvalidDigest, 7),
            ("nginx@SHA256:{hex64}", P::InvalidDigest, 7),
            ("nginx@sha256+:{hex64}", P::InvalidDigest, 13),
            ("nginx@", P::EmptyDigest, 6),
            ("nginx:tag@", P::EmptyDigest, 10),
            ("nginx/", P::EmptyPathComponent, 6),
            ("a/", P::EmptyPathComponent, 2),
            ("a//b", P::EmptyPathComponent, 3),
            ("/nginx", P::EmptyPathComponent, 1),
            ("example.com/", P::EmptyPathComponent, 12),
            ("example.com//app", P::EmptyPathComponent, 13),
            ("a..b", P::InvalidSeparator, 2),
            ("-a", P::InvalidSeparator, 1),
            ("a-", P::InvalidSeparator, 2),
            ("_a", P::InvalidSeparator, 1),
            ("a___b", P::InvalidSeparator, 2),
            ("a._b", P::InvalidSeparator, 2),
            ("user/app./x", P::InvalidSeparator, 9),
            ("a/b!", character('!'), 4),
            ("[]/app", character('['), 1),
            ("nginx:tag:extra", character(':'), 6),
            ("a@b@c", character('@'), 4),
            ("https://registry/app", P::HasScheme, 1),
            ("docker://nginx", P::HasScheme, 1),
            ("nginx latest", character(' '), 6),
            (" nginx", character(' '), 1),
            ("nginx ", character(' '), 6),
            ("ex ample.com/app", character(' '), 3),
            ("ngi\tnx", character('\t'), 4),
            ("nginx\n", character('\n'), 6),
            ("nginx\0", character('\0'), 6),
            ("ngïnx", character('ï'), 3),
            ("nginx😀", character('😀'), 6),
            ("😀nginx:ï", character('😀'), 1),
            ("ïï/Nginx:ï", character('ï'), 1),
            ("{hex64}", P::HexOnlyName, 1),
            ("localhost:99999/app", P::InvalidPort, 11),
            ("localhost:123456/app", P::InvalidPort, 11),
            ("localhost:0/app", P::InvalidPort, 11),
            ("localhost:/app", P::InvalidPort, 10),
            ("localhost:50a0/app", P::InvalidPort, 13),
            ("host:port:x/app", P::InvalidPort, 6),
            ("[::1]:/app", P::InvalidPort, 6),
            ("[::1/app", P::InvalidHost, 1),
            ("[fe80::1%eth0]/a", P::InvalidHost, 1),
            ("[1.2.3.4]:5000/a", P::InvalidHost, 1),
            ("[::1]x/app", P::InvalidHost, 6),
            (":5000/app", P::InvalidHost, 1),
            ("my_registry.com/app", P::InvalidHost, 3),
            ("-registry.com/app", P::InvalidHost, 1),
            ("registry-.com/app", P::InvalidHost, 9),
            ("registry..com/app", P::InvalidHost, 10),
            (".registry.com/app", P::InvalidHost, 1),
            ("registry.com./app", P::InvalidHost, 13),
            ("example.com/{a243}b", P::NameTooLong { length: 256 }, 1),
        ];
        assert!(cases.len() >= 50, "only {} invalid cases", cases.len());
        for (input, problem, column) in cases {
            let input = expand(input);
            let error = Reference::parse(&input).expect_err(&input);
            assert_eq!(
                (&error.problem, error.column),
                (&problem, column),
                "{input:?}: {error}"
            );
            assert_eq!(error.input, input);
            assert!(
                error
                    .to_string()
                    .contains(&format!("at character {column}")),
                "{error}"
            );
        }
    }

    /// The upstream parsers' test vectors for bracketed IPv6 registries (distribution/reference
    /// `regexp_test.go` `TestDomainRegexp`, and its normalize tests' IPv4-embedded address), as
    /// each runtime's parser judges them: valid under `distribution/reference`, and refused by
    /// containerd 1.6's and containers/image's copies, which have no IPv6 host rule.
    #[test]
    fn ipv6_hosts_per_parser() {
        use Grammar::{ContainerdCopy, ContainersImage, Distribution};
        let valid = [
            "[fd00:1:2::3]:5000/app",
            "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:5000/app",
            "[2001:db8::1]/app:v1",
            "[::1]:5000/app",
        ];
        for input in valid {
            let r = Reference::parse_with(input, Distribution)
                .unwrap_or_else(|e| panic!("{input}: {e}"));
            assert!(r.host().contains(':'), "{input}");
            assert_eq!(Reference::parse(input).as_ref(), Ok(&r));
            for grammar in [ContainerdCopy, ContainersImage] {
                assert_eq!(
                    Reference::parse_with(input, grammar).unwrap_err().problem,
                    ReferenceProblem::Ipv6HostUnsupported,
                    "{input} ({grammar:?})"
                );
            }
        }
        // Refused by every parser: a dotted IPv4 part (distribution/reference allows only hex
        // digits and colons), a zone, a port without its colon, a doubled colon, and a
        // bracketed string that is no address.
        let invalid = [
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "[::ffff:192.0.2.1]:5000/app",
            "[fd00:1:2::3%eth0]:5000/app",
            "[fd00:1:2::3]5000/app",
            "[fd00:1:2::3]::5000/app",
            "[fd00123123123]:5000/app",
            "fd00:1:2::3:5000/app",
        ];
        for input in invalid {
            for grammar in [Distribution, ContainerdCopy, ContainersImage] {
                assert!(
                    Reference::parse_with(input, grammar).is_err(),
                    "{input} parsed under {grammar:?}"
                );
            }
        }
        // `Reference::parse`, the strictest length rule, keeps IPv6 hosts.
        let error = Reference::parse("[2001:db8:3:4::192.0.2.33]:5000/debian").unwrap_err();
        assert_eq!(error.problem, ReferenceProblem::InvalidHost);
    }

    /// The name-length vectors (distribution/reference `reference_test.go`: a path of
    /// `a/` × 127 + `a` is the longest allowed, × 128 too long): current distribution/reference
    /// measures the path only, containerd 1.6's and containers/image's copies the whole
    /// normalized name, where `docker.io/` makes the same input too long.
    #[test]
    fn name_length_per_parser() {
        use Grammar::{ContainerdCopy, ContainersImage, Distribution};
        let longest = format!("{}a:tag", "a/".repeat(127));
        let too_long = format!("{}a:tag", "a/".repeat(128));
        let r = Reference::parse_with(&longest, Distribution).unwrap();
        assert_eq!(r.repository().len(), 255);
        assert_eq!(
            Reference::parse_with(&too_long, Distribution)
                .unwrap_err()
                .problem,
            ReferenceProblem::PathTooLong { length: 257 }
        );
        for grammar in [ContainerdCopy, ContainersImage] {
            assert_eq!(
                Reference::parse_with(&longest, grammar)
                    .unwrap_err()
                    .problem,
                ReferenceProblem::NameTooLong { length: 265 },
                "{grammar:?}"
            );
        }
        // A registry host counts only where the whole name is measured.
        let hosted = format!("registry.example.com/{}", "b".repeat(240));
        assert!(Reference::parse_with(&hosted, Distribution).is_ok());
        assert_eq!(
            Reference::parse_with(&hosted, ContainersImage)
                .unwrap_err()
                .problem,
            ReferenceProblem::NameTooLong { length: 261 }
        );
    }

    #[test]
    fn name_length_is_measured_after_normalization() {
        // 250 characters as written, but `docker.io/library/` makes it 268.
        let input = "a".repeat(250);
        let error = Reference::parse(&input).unwrap_err();
        assert_eq!(error.problem, ReferenceProblem::NameTooLong { length: 268 });
    }

    #[test]
    fn accessors() {
        let r = Reference::parse("[2001:DB8::1]:5000/app:v1").unwrap();
        assert_eq!((r.host(), r.port()), ("2001:db8::1", Some(5000)));
        assert_eq!(r.api_host(), "[2001:db8::1]:5000");
        assert!(!r.is_docker_hub());

        let r = Reference::parse("Registry.Example.com:8443/app").unwrap();
        assert_eq!((r.host(), r.port()), ("registry.example.com", Some(8443)));

        let r = Reference::parse("nginx").unwrap();
        assert_eq!((r.host(), r.port()), ("docker.io", None));
        assert!(r.is_docker_hub());
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.manifest_reference(), "latest");

        let r = Reference::parse(&format!("nginx:1.25@sha256:{HEX64}")).unwrap();
        assert_eq!(r.manifest_reference(), format!("sha256:{HEX64}"));
        assert_eq!(r.tag(), Some("1.25"));
        let digest = r.digest().unwrap();
        assert_eq!((digest.algorithm(), digest.hex()), ("sha256", HEX64));

        let r = Reference::parse("index.docker.io/foo/bar:v2").unwrap();
        assert_eq!(
            (r.host(), r.api_host(), r.manifest_reference().as_str()),
            ("docker.io", "registry-1.docker.io", "v2")
        );
    }

    #[test]
    fn digests_parse_on_their_own() {
        let digest: Digest = format!("sha512:{HEX128}").parse().unwrap();
        assert_eq!((digest.algorithm(), digest.hex()), ("sha512", HEX128));
        assert_eq!(digest.to_string(), format!("sha512:{HEX128}"));

        let error = Digest::parse("sha256:abc").unwrap_err();
        assert_eq!(error.column, 8);
        assert_eq!(
            error.to_string(),
            "invalid image reference \"sha256:abc\": a sha256 digest has 64 hex characters, not 3 (at character 8)"
        );
        assert_eq!(
            Digest::parse("").unwrap_err().problem,
            ReferenceProblem::EmptyDigest
        );
        let error = Digest::parse("sha256:ä").unwrap_err();
        assert_eq!(
            (error.problem, error.column),
            (ReferenceProblem::InvalidCharacter { found: 'ä' }, 8)
        );
    }

    #[test]
    fn messages_say_what_and_where() {
        let message = |input: &str| Reference::parse(input).unwrap_err().to_string();
        assert_eq!(
            message("docker.io/Library/nginx"),
            "invalid image reference \"docker.io/Library/nginx\": repository name must be lowercase (at character 11)"
        );
        assert!(
            message(&format!("nginx:{}", "t".repeat(140)))
                .contains("tag is longer than 128 characters (140)")
        );
        assert!(message("ngi\tnx").contains("whitespace ('\\t') is not allowed"));
        assert!(
            message("ngïnx").contains("non-ASCII character 'ï' is not allowed (at character 3)")
        );
        assert!(message("a/b!").contains("unexpected character '!'"));
        for problem in [
            ReferenceProblem::Empty,
            ReferenceProblem::InvalidSeparator,
            ReferenceProblem::UnsupportedDigestAlgorithm {
                algorithm: "md5".to_owned(),
            },
        ] {
            let text = problem.to_string();
            assert!(
                !text.ends_with('.') && text.starts_with(char::is_lowercase),
                "{text}"
            );
        }
    }

    /// Text that reaches the parser's decisions: half noise over an alphabet weighted towards
    /// the punctuation it branches on, half small edits of valid references, which reach deeper.
    fn parser_input() -> impl Strategy<Value = String> {
        let mut alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
        for _ in 0..4 {
            alphabet.extend(":/@._-[]".chars());
        }
        alphabet.extend([' ', '\t', 'ï', 'é', '😀', '\u{0}', 'ß']);
        let seeds: Vec<String> = valid_cases().into_iter().map(|[input, ..]| input).collect();
        let noise = vec(select(alphabet.clone()), 0..48).prop_map(String::from_iter);
        let edit = (any::<Index>(), 0..3_u8, select(alphabet));
        let edited = (select(seeds), vec(edit, 1..=3)).prop_map(|(seed, edits)| {
            let mut chars: Vec<char> = seed.chars().collect();
            for (at, op, c) in edits {
                let at = at.index(chars.len() + 1);
                match op {
                    0 => chars.insert(at, c),
                    1 if at < chars.len() => {
                        chars.remove(at);
                    }
                    _ if at < chars.len() => chars[at] = c,
                    _ => {}
                }
            }
            String::from_iter(chars)
        });
        prop_oneof![noise, edited]
    }

    #[test]
    fn arbitrary_input_never_panics_and_accepted_input_round_trips() {
        let config = ProptestConfig {
            cases: 20_000,
            failure_persistence: None,
            ..ProptestConfig::default()
        };
        // A fixed seed, so that the count below is stable and a failure reproduces.
        let mut runner =
            TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha));
        let accepted = Cell::new(0_usize);
        let outcome = runner.run(&parser_input(), |input| {
            match Reference::parse(&input) {
                Ok(r) => {
                    accepted.set(accepted.get() + 1);
                    let again = Reference::parse(&r.canonical()).map_err(|e| {
                        TestCaseError::fail(format!(
                            "{input:?} accepted but its canonical form was not: {e}"
                        ))
                    })?;
                    prop_assert_eq!(again.canonical(), r.canonical(), "{:?}", input);
                    prop_assert_eq!(
                        (again.registry(), again.repository()),
                        (r.registry(), r.repository())
                    );
                    prop_assert_eq!(
                        (again.tag(), again.digest()),
                        (r.tag(), r.digest()),
                        "{:?}",
                        input
                    );
                }
                Err(e) => {
                    prop_assert!(
                        e.column >= 1 && e.column <= input.chars().count() + 1,
                        "{:?}: {}",
                        input,
                        e
                    );
                    let _ = e.to_string();
                }
            }
            Ok(())
        });
        if let Err(failure) = outcome {
            panic!("{failure}");
        }
        assert!(
            accepted.get() > 1_000,
            "only {} inputs were accepted: the generator misses the parser",
            accepted.get()
        );
    }
}

/// Round-trips over generated references: every part the grammar allows, in every combination.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::{Digest, Reference};

    fn domain() -> impl Strategy<Value = String> {
        let label = "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?";
        prop_oneof![
            // A dotted name, with or without a port.
            (
                proptest::collection::vec(label, 2..4),
                proptest::option::of(1u16..)
            )
                .prop_map(|(labels, port)| {
                    let host = labels.join(".");
                    port.map_or(host.clone(), |p| format!("{host}:{p}"))
                }),
            // A single label is a registry only with a port, or as `localhost`.
            (label, 1u16..).prop_map(|(l, p)| format!("{l}:{p}")),
            Just("localhost".to_owned()),
            Just("[::1]:5000".to_owned()),
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        // The first component has no dot: with one it would name a registry, as Docker reads it.
        let first = "[a-z0-9]{1,6}((_|__|-{1,2})[a-z0-9]{1,6}){0,2}";
        let component = "[a-z0-9]{1,6}(([._]|__|-{1,2})[a-z0-9]{1,6}){0,2}";
        (first, proptest::collection::vec(component, 0..3))
            .prop_map(|(f, rest)| std::iter::once(f).chain(rest).collect::<Vec<_>>().join("/"))
    }

    fn reference() -> impl Strategy<Value = String> {
        (
            proptest::option::of(domain()),
            path(),
            proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            proptest::option::of("[a-f0-9]{64}"),
        )
            .prop_map(|(domain, path, tag, digest)| {
                let mut s = domain.map_or(path.clone(), |d| format!("{d}/{path}"));
                if let Some(t) = tag {
                    s = format!("{s}:{t}");
                }
                if let Some(d) = digest {
                    s = format!("{s}@sha256:{d}");
                }
                s
            })
    }

    proptest! {
        #[test]
        fn canonical_and_display_forms_parse_back_to_the_same_reference(s in reference()) {
            let r = Reference::parse(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            for form in [r.canonical(), r.to_string()] {
                let again = Reference::parse(&form)
                    .map_err(|e| TestCaseError::fail(format!("{form} (from {s}): {e}")))?;
                prop_assert_eq!(again.canonical(), r.canonical());
                prop_assert_eq!(again.registry(), r.registry());
                prop_assert_eq!(again.repository(), r.repository());
                prop_assert_eq!(again.tag(), r.tag());
                prop_assert_eq!(again.digest(), r.digest());
            }
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(s in "\\PC{0,80}") {
            if let Ok(r) = Reference::parse(&s) {
                prop_assert_eq!(Reference::parse(&r.canonical()).map(|a| a.canonical()).ok(),
                    Some(r.canonical()));
            }
        }

        #[test]
        fn digests_round_trip(hex in "[a-f0-9]{64}") {
            let text = format!("sha256:{hex}");
            let d = Digest::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(d.to_string(), text);
            prop_assert_eq!(d.hex(), hex.as_str());
        }
    }
}
