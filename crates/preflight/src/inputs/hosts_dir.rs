//! containerd's registry host configuration directory (the CRI plugin's `config_path`, usually
//! `/etc/containerd/certs.d`): which `hosts.toml` containerd reads for a registry, and the hosts it
//! then tries, in its order, with their TLS files, headers and capabilities.
//!
//! # What is modelled, and where it comes from
//!
//! Everything below is read from containerd's `remotes/docker/config/hosts.go` and
//! `config_unix.go` (1.6 and 1.7; `core/remotes/docker/config/` in 2.x). A [`ContainerdLine`]
//! stands for the newest release of its line that we read: v1.6.39, v1.7.34 and v2.3.4; where an
//! older patch release of the line behaves differently and the file shows it, a warning says so.
//!
//! - **Which directory** (`HostDirFromRoot`, `hostPaths`, `hostDirectory`): `HOST_PORT_` for
//!   `HOST:PORT`, then the registry's name as written, then `_default`; the first that exists.
//! - **Which file** (`loadHostDir`): `hosts.toml`; when it is absent or empty, the directory's
//!   Docker-style certificate files (`loadCertFiles`: `*.crt` are CAs, `*.cert` client
//!   certificates with their `*.key`). When containerd cannot decode `hosts.toml` it logs the
//!   error and uses those certificate files too; see [`HostsDirError::containerd_ignores_file`].
//! - **Which hosts** (`parseHostsFile`, `getSortedHosts`, `parseHostConfig`): every
//!   `[host."URL"]` in file order, then `server`; URLs without a scheme get `https://`; the path
//!   gets `/v2` unless it ends with it or `override_path` is set; empty `capabilities` means all.
//!   1.x orders hosts by where go-toml v1 first saw them; 2.x reads only `[host."URL"…]` table
//!   headers with go-toml v2's unstable parser, so a host written as an inline table or with
//!   dotted keys is ignored there.
//! - **The server when `server` is absent** (`ConfigureHosts`): `https://registry-1.docker.io` for
//!   `docker.io`, localhost's port-dependent scheme, else `https://HOST`, with path `/v2` and every
//!   capability; the file's top-level `ca`, `client`, `skip_verify` and `header` still apply.
//! - **Keys**: go-toml v1 (1.x) matches a field written as its tag or in upper case, go-toml v2
//!   (2.x) in any case; other keys are ignored (a warning here).
//!
//! Not modelled: Windows' host paths (they drop the `:`), a `config_path` listing several
//! directories (the CRI plugin tries each in turn), TOML 1.1 syntax that go-toml would refuse (the
//! `toml` crate reads TOML 1.1), and whether the CA and client files exist or parse.

// The pipeline wires these in next: until then nothing outside the tests uses them.
#![allow(dead_code)]

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeString, DeTable, DeValue};

/// containerd's version lines where host configuration differs (each read at its newest
/// release: v1.6.39, v1.7.34, v2.3.4).
pub(crate) use crate::registry::runtime::ContainerdLine;

impl ContainerdLine {
    /// Whether a key as written in the file names the field whose tag is `field`: go-toml v1's
    /// `valueFromTree` tries the tag, its lower- and upper-case forms; go-toml v2's
    /// `structFieldPath` also compares the key lower-cased.
    fn key_is(self, written: &str, field: &str) -> bool {
        match self {
            ContainerdLine::V1_6 | ContainerdLine::V1_7 => {
                written == field || written == field.to_ascii_uppercase()
            }
            ContainerdLine::V2 => written.eq_ignore_ascii_case(field),
        }
    }

    /// `dial_timeout` and the `referrers` capability exist from 2.x on (hosts.go, v2.3.4).
    fn is_v2(self) -> bool {
        self == ContainerdLine::V2
    }
}

/// How a host is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// What containerd may do with a host (`docker.HostCapabilities`).
#[allow(clippy::struct_excessive_bools)] // containerd's capability bits, one flag each
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Capabilities {
    /// Fetch content by digest.
    pub(crate) pull: bool,
    /// Resolve a tag to a digest.
    pub(crate) resolve: bool,
    /// Push content.
    pub(crate) push: bool,
    /// Ask for referrers (2.x only).
    pub(crate) referrers: bool,
}

impl Capabilities {
    const NONE: Capabilities = Capabilities {
        pull: false,
        resolve: false,
        push: false,
        referrers: false,
    };

    /// containerd's default when a host names none: all it knows (hosts.go `parseHostConfig`;
    /// 2.x adds `referrers`).
    fn all(line: ContainerdLine) -> Capabilities {
        Capabilities {
            pull: true,
            resolve: true,
            push: true,
            referrers: line.is_v2(),
        }
    }
}

/// Where a [`HostsFile`]'s hosts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigSource {
    /// The directory's `hosts.toml`.
    HostsToml,
    /// The directory's Docker-style certificate files: `hosts.toml` is absent or empty, or
    /// containerd ignores it (see the warnings).
    CertFiles,
}

/// The configuration containerd uses for one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostsFile {
    /// The `hosts.toml` read, or the directory when there is none.
    pub(crate) path: PathBuf,
    /// Whether the hosts come from `hosts.toml` or the certificate files.
    pub(crate) source: ConfigSource,
    /// The hosts to try, in containerd's order: each `[host."URL"]`, then the server.
    pub(crate) hosts: Vec<HostEntry>,
    /// What containerd ignores, as `FILE:LINE: …`, in line order.
    pub(crate) warnings: Vec<String>,
}

/// One host containerd tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostEntry {
    /// As configured. containerd 1.7.24+ and 2.x try HTTPS first on an `http` host with TLS
    /// settings unless its port is 80 (1.6.25+ and 1.7.8–1.7.23: unless it has no port or 80).
    pub(crate) scheme: Scheme,
    /// Lower-case; IPv6 without brackets.
    pub(crate) host: String,
    /// The port written, if any.
    pub(crate) port: Option<u16>,
    /// The API's path prefix: `/v2` by default.
    pub(crate) path: String,
    /// What containerd may do with this host.
    pub(crate) capabilities: Capabilities,
    /// CA files, made absolute as containerd does.
    pub(crate) ca: Vec<PathBuf>,
    /// Client certificates with their key, if in a separate file.
    pub(crate) client: Vec<(PathBuf, Option<PathBuf>)>,
    /// `skip_verify`, if set (containerd sets it for its default localhost server).
    pub(crate) skip_verify: Option<bool>,
    /// Extra headers, one pair per value, in file order.
    pub(crate) headers: Vec<(String, String)>,
    /// 2.x's `dial_timeout`: `None` is no limit of containerd's own; zero is a negative
    /// `dial_timeout`, with which every dial fails at once.
    pub(crate) dial_timeout: Option<Duration>,
    /// The upstream server (always last), not a mirror.
    pub(crate) is_server: bool,
}

/// Why containerd's configuration for a registry cannot be known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum HostsDirError {
    /// The configured directory is something else.
    #[error("{}: not a directory", path.display())]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A directory or file that exists and cannot be read: containerd fails the pull too.
    #[error("cannot read {}", path.display())]
    Read {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// `hosts.toml` is not TOML (or not UTF-8).
    #[error("{}:{line}:{column}: {message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// 1-based, in characters.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A value of the wrong type.
    #[error("{}:{line}: `{key}` must be {expected}, not {found}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// Of the value.
        line: usize,
        /// The key it belongs to.
        key: String,
        /// What containerd accepts.
        expected: &'static str,
        /// The value's TOML type.
        found: &'static str,
    },
    /// A host URL Go's `url.Parse` refuses.
    #[error("{}:{line}: cannot parse `{url}` as a URL: {reason}", path.display())]
    InvalidUrl {
        /// The file.
        path: PathBuf,
        /// Of the URL.
        line: usize,
        /// As written.
        url: String,
        /// Go's complaint, in our words.
        reason: String,
    },
    /// A host URL containerd accepts but cannot reach: no host name, a scheme other than
    /// http and https, a port out of range. containerd tries it and each request fails.
    #[error("{}:{line}: `{url}` cannot be reached: {reason}", path.display())]
    UnusableUrl {
        /// The file.
        path: PathBuf,
        /// Of the URL.
        line: usize,
        /// As written.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A capability containerd does not know.
    #[error(
        "{}:{line}: unknown capability `{name}` (containerd {line_name} knows {known})",
        path.display()
    )]
    UnknownCapability {
        /// The file.
        path: PathBuf,
        /// Of the name.
        line: usize,
        /// As written.
        name: String,
        /// `1.6`, `1.7` or `2.x`.
        line_name: &'static str,
        /// The capabilities that line knows.
        known: &'static str,
    },
    /// A `client` pair that is not a pair.
    #[error("{}:{line}: a `client` pair must have 2 paths, not {count}", path.display())]
    ClientPair {
        /// The file.
        path: PathBuf,
        /// Of the pair.
        line: usize,
        /// How many paths it has.
        count: usize,
    },
    /// A `dial_timeout` Go's `time.ParseDuration` refuses.
    #[error(
        "{}:{line}: `dial_timeout` `{value}` is not a duration such as `30s` or `1m30s`",
        path.display()
    )]
    DialTimeout {
        /// The file.
        path: PathBuf,
        /// Of the value.
        line: usize,
        /// As written.
        value: String,
    },
    /// The registry name given to [`HostsDir::lookup`] has a port that is not one.
    #[error("registry `{registry}`: {reason}")]
    Registry {
        /// As given.
        registry: String,
        /// What is wrong.
        reason: String,
    },
}

impl HostsDirError {
    /// Whether containerd, rather than failing, logs "failed to decode hosts.toml" and uses the
    /// directory's certificate files instead (`loadHostDir`, every line): a syntax error, a wrong
    /// type, a URL `url.Parse` refuses, an unknown capability, a bad pair or duration.
    pub(crate) fn containerd_ignores_file(&self) -> bool {
        matches!(
            self,
            HostsDirError::Syntax { .. }
                | HostsDirError::WrongType { .. }
                | HostsDirError::InvalidUrl { .. }
                | HostsDirError::UnknownCapability { .. }
                | HostsDirError::ClientPair { .. }
                | HostsDirError::DialTimeout { .. }
        )
    }
}

/// containerd's registry host configuration directory.
#[derive(Debug, Clone)]
pub(crate) struct HostsDir {
    root: PathBuf,
}

impl HostsDir {
    /// Checks that the directory exists and is a directory.
    pub(crate) fn open(path: &Path) -> Result<HostsDir, HostsDirError> {
        let metadata = std::fs::metadata(path).map_err(|source| HostsDirError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if !metadata.is_dir() {
            return Err(HostsDirError::NotADirectory {
                path: path.to_path_buf(),
            });
        }
        Ok(HostsDir {
            root: path.to_path_buf(),
        })
    }

    /// The configuration containerd uses for `registry` (`HOST[:PORT]` as written in an image
    /// reference: `docker.io`, `reg.example:5000`, `[::1]:5000`): from the first of its
    /// directories that exists, else `_default`, else `None` (containerd's built-in defaults).
    pub(crate) fn lookup(
        &self,
        registry: &str,
        line: ContainerdLine,
    ) -> Result<Option<HostsFile>, HostsDirError> {
        match self.host_dir(registry)? {
            Some(dir) => load_host_dir(&dir, registry, line).map(Some),
            None => Ok(None),
        }
    }

    /// Reads every host directory once, as the checker is built: the CA files the nodes trust
    /// through it, and what containerd would ignore or log — each `FILE:LINE: …`. A file
    /// containerd cannot parse is ignored by containerd (it logs the error and uses the
    /// directory's certificate files), so it is a note here too; an unreadable directory is an
    /// error.
    pub(crate) fn scan(&self, line: ContainerdLine) -> Result<Scan, HostsDirError> {
        let mut scan = Scan::default();
        let entries = std::fs::read_dir(&self.root).map_err(|source| HostsDirError::Read {
            path: self.root.clone(),
            source,
        })?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        for name in names {
            let registry = registry_of_dir(&name);
            match self.lookup(&registry, line) {
                Ok(Some(file)) => {
                    for host in &file.hosts {
                        scan.ca.extend(host.ca.iter().cloned());
                    }
                    scan.notes.extend(file.warnings);
                }
                Ok(None) => {}
                Err(e) if e.containerd_ignores_file() => scan.notes.push(format!(
                    "{e}: containerd ignores this hosts.toml (it logs \"failed to decode hosts.toml\") and pulls from {registry} with its defaults"
                )),
                Err(e) => return Err(e),
            }
        }
        scan.ca.sort();
        scan.ca.dedup();
        Ok(scan)
    }

    /// `HostDirFromRoot` (hosts.go): the first candidate that exists, whatever kind of file it is
    /// (containerd only stats it); an error other than "does not exist" is containerd's error.
    fn host_dir(&self, registry: &str) -> Result<Option<PathBuf>, HostsDirError> {
        for candidate in host_paths(&self.root, registry) {
            match std::fs::metadata(&candidate) {
                Ok(_) => return Ok(Some(candidate)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(HostsDirError::Read {
                        path: candidate,
                        source,
                    });
                }
            }
        }
        Ok(None)
    }
}

/// What [`HostsDir::scan`] found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Every CA file a hosts.toml names.
    pub(crate) ca: Vec<PathBuf>,
    /// What containerd ignores or logs.
    pub(crate) notes: Vec<String>,
}

/// The registry a host directory is for: `HOST_PORT_` is `HOST:PORT`, `_default` any.
fn registry_of_dir(name: &str) -> String {
    if let Some(stem) = name.strip_suffix('_')
        && let Some((host, port)) = stem.rsplit_once('_')
        && !host.is_empty()
        && port.parse::<u16>().is_ok()
    {
        return format!("{host}:{port}");
    }
    name.to_owned()
}

/// `hostPaths` (`config_unix.go`, every line): `HOST_PORT_` when the name has a `:` after its first
/// character (`hostDirectory` turns the last `:PORT` into `_PORT_`), then the name, then
/// `_default`.
fn host_paths(root: &Path, registry: &str) -> Vec<PathBuf> {
    let mut paths = Vec::with_capacity(3);
    if let Some(idx) = registry.rfind(':').filter(|&idx| idx > 0) {
        let (host, port) = (&registry[..idx], &registry[idx + 1..]);
        paths.push(go_join(root, &format!("{host}_{port}_")));
    }
    paths.push(go_join(root, registry));
    paths.push(go_join(root, "_default"));
    paths
}

/// `loadHostDir` (hosts.go): `hosts.toml`, or the certificate files when it is absent or empty.
fn load_host_dir(
    dir: &Path,
    registry: &str,
    line: ContainerdLine,
) -> Result<HostsFile, HostsDirError> {
    let file = go_join(dir, "hosts.toml");
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(HostsDirError::Read { path: file, source }),
    };
    if bytes.is_empty() {
        let server = default_server(registry, line, cert_files(dir)?)?;
        return Ok(HostsFile {
            path: dir.to_path_buf(),
            source: ConfigSource::CertFiles,
            hosts: vec![server],
            warnings: Vec::new(),
        });
    }
    parse_hosts_file(&file, dir, &bytes, registry, line)
}

/// Reads one `hosts.toml` (`parseHostsFile`, hosts.go) and resolves its hosts for `registry`.
pub(crate) fn parse_hosts_file(
    file: &Path,
    dir: &Path,
    bytes: &[u8],
    registry: &str,
    line: ContainerdLine,
) -> Result<HostsFile, HostsDirError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = line_col(bytes, e.valid_up_to());
        HostsDirError::Syntax {
            path: file.to_path_buf(),
            line,
            column,
            message: "invalid UTF-8".into(),
        }
    })?;
    let doc = DeTable::parse(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |span| line_col(bytes, span.start));
        let message = e.message().trim_end().to_string();
        HostsDirError::Syntax {
            path: file.to_path_buf(),
            line,
            column,
            message,
        }
    })?;
    let root = doc.get_ref();
    let mut ctx = Ctx {
        file,
        base: dir,
        text,
        line_starts: std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        containerd: line,
        warnings: Vec::new(),
    };
    if line == ContainerdLine::V1_6 && !root.contains_key("host") {
        // getSortedHosts (hosts.go, v1.6.x and v1.7.0–v1.7.31) fails with "invalid `host`
        // tree" when there is no `host` table, parseHostsFile fails, and loadHostDir falls back
        // to the certificate files: the whole file, `server` and `ca` included, is ignored.
        ctx.warn(
            0,
            "containerd 1.6 ignores this file: it has no `[host.\"URL\"]` table, so it fails \
             with \"invalid `host` tree\" and uses the directory's certificate files instead",
        );
        let server = default_server(registry, line, cert_files(dir)?)?;
        return Ok(HostsFile {
            path: file.to_path_buf(),
            source: ConfigSource::CertFiles,
            hosts: vec![server],
            warnings: ctx.finish(),
        });
    }
    let parsed = read_document(&mut ctx, root)?;
    let hosts = resolve_hosts(&mut ctx, registry, parsed)?;
    Ok(HostsFile {
        path: file.to_path_buf(),
        source: ConfigSource::HostsToml,
        hosts,
        warnings: ctx.finish(),
    })
}

/// The file being read, for positions, relative paths and warnings.
struct Ctx<'a> {
    file: &'a Path,
    base: &'a Path,
    text: &'a str,
    /// Where each line starts, so a position's line is a binary search away.
    line_starts: Vec<usize>,
    containerd: ContainerdLine,
    warnings: Vec<(usize, String)>,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    fn warn(&mut self, offset: usize, message: &str) {
        let line = self.line_of(offset);
        self.warnings
            .push((line, format!("{}:{line}: {message}", self.file.display())));
    }

    fn finish(mut self) -> Vec<String> {
        self.warnings.sort_by_key(|(line, _)| *line);
        self.warnings
            .into_iter()
            .map(|(_, warning)| warning)
            .collect()
    }

    fn wrong_type(
        &self,
        key: &Spanned<DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
        expected: &'static str,
    ) -> HostsDirError {
        HostsDirError::WrongType {
            path: self.file.to_path_buf(),
            line: self.line_of(value.span().start),
            key: key.get_ref().to_string(),
            expected,
            found: value.get_ref().type_str(),
        }
    }

    /// `makeAbsPath` (hosts.go): absolute paths as written, others joined to the directory.
    fn abs_path(&self, path: &str) -> PathBuf {
        if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            go_join(self.base, path)
        }
    }
}

/// One host's settings as written (`hostFileConfig`, hosts.go).
#[derive(Debug, Clone, Default)]
struct RawHost {
    capabilities: Option<Capabilities>,
    ca: Vec<PathBuf>,
    client: Vec<(PathBuf, Option<PathBuf>)>,
    skip_verify: Option<bool>,
    headers: Vec<(String, String)>,
    override_path: bool,
    dial_timeout: Option<Duration>,
}

/// A `[host."URL"]` table.
#[derive(Debug, Clone)]
struct Mirror {
    url: String,
    offset: usize,
    config: RawHost,
}

/// A document's settings, before the server's defaults.
struct Parsed {
    mirrors: Vec<Mirror>,
    server: Option<(String, usize)>,
    root: RawHost,
}

const FIELDS: [&str; 7] = [
    "capabilities",
    "ca",
    "client",
    "skip_verify",
    "header",
    "override_path",
    "dial_timeout",
];

fn read_document(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> Result<Parsed, HostsDirError> {
    let config = read_host_config(ctx, root, true)?;
    let mut server = None;
    for (key, value) in root {
        if server.is_none() && ctx.containerd.key_is(key.get_ref(), "server") {
            let DeValue::String(url) = value.get_ref() else {
                return Err(ctx.wrong_type(key, value, "a string"));
            };
            server = Some((url.to_string(), value.span().start));
        }
    }
    let mirrors = read_mirrors(ctx, root)?;
    Ok(Parsed {
        mirrors,
        server,
        root: config,
    })
}

/// One table's settings; unknown keys are warnings, as go-toml ignores them.
fn read_host_config(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    at_root: bool,
) -> Result<RawHost, HostsDirError> {
    let mut raw = RawHost::default();
    for (key, value) in table {
        let name: &str = key.get_ref();
        let line = ctx.containerd;
        let field = FIELDS
            .iter()
            .copied()
            .find(|field| line.key_is(name, field) && (*field != "dial_timeout" || line.is_v2()));
        match field {
            Some("capabilities") => raw.capabilities = read_capabilities(ctx, key, value)?,
            Some("ca") => raw.ca = read_paths(ctx, key, value)?,
            Some("client") => raw.client = read_client(ctx, key, value)?,
            Some("skip_verify") => raw.skip_verify = Some(read_bool(ctx, key, value)?),
            Some("header") => raw.headers = read_headers(ctx, key, value)?,
            Some("override_path") => raw.override_path = read_bool(ctx, key, value)?,
            Some(_) => raw.dial_timeout = read_dial_timeout(ctx, key, value)?,
            None if at_root && (name == "host" || line.key_is(name, "server")) => {}
            None => ctx.warn(
                key.span().start,
                &format!("unknown key `{name}` (containerd ignores it)"),
            ),
        }
    }
    Ok(raw)
}

/// The `[host."URL"]` tables, in containerd's order (`getSortedHosts`, hosts.go).
fn read_mirrors(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> Result<Vec<Mirror>, HostsDirError> {
    let Some((key, value)) = root.get_key_value("host") else {
        if ctx.containerd == ContainerdLine::V1_7 {
            ctx.warn(
                0,
                "containerd 1.7.0 to 1.7.31 ignore this file: it has no `[host.\"URL\"]` table \
                 (fixed in 1.7.32)",
            );
        }
        return Ok(Vec::new());
    };
    let DeValue::Table(table) = value.get_ref() else {
        return Err(ctx.wrong_type(key, value, "a table"));
    };
    let mut mirrors = Vec::with_capacity(table.len());
    for (url, value) in table {
        let DeValue::Table(config) = value.get_ref() else {
            return Err(ctx.wrong_type(url, value, "a table"));
        };
        let config = read_host_config(ctx, config, false)?;
        mirrors.push(Mirror {
            url: url.get_ref().to_string(),
            offset: url.span().start,
            config,
        });
    }
    // go-toml v1 sorts the hosts by the line where each was first seen (1.x).
    mirrors.sort_by_key(|mirror| mirror.offset);
    if ctx.containerd.is_v2() {
        return Ok(order_as_v2(ctx, &mirrors));
    }
    Ok(mirrors)
}

/// 2.x's `getSortedHosts` (core/remotes/docker/config/hosts.go, v2.3.4) lists `[host.URL…]` table
/// headers only, skipping a header that names the same host as the one before it: a host written
/// otherwise is never tried, one whose headers are interleaved with another's is tried twice.
fn order_as_v2(ctx: &mut Ctx<'_>, mirrors: &[Mirror]) -> Vec<Mirror> {
    let names = host_headers(ctx.text);
    let in_headers: HashSet<&str> = names.iter().map(String::as_str).collect();
    for mirror in mirrors {
        if !in_headers.contains(mirror.url.as_str()) {
            let message = format!(
                "containerd 2.x ignores host `{}`: it reads hosts only from `[host.\"URL\"]` \
                 table headers",
                mirror.url
            );
            ctx.warn(mirror.offset, &message);
        }
    }
    let by_url: HashMap<&str, &Mirror> = mirrors
        .iter()
        .map(|mirror| (mirror.url.as_str(), mirror))
        .collect();
    let mut seen = HashSet::with_capacity(names.len());
    let mut ordered: Vec<Mirror> = Vec::with_capacity(names.len());
    for name in &names {
        if let Some(&mirror) = by_url.get(name.as_str()) {
            if !seen.insert(name.as_str()) {
                let message = format!(
                    "containerd 2.x tries host `{name}` twice: its tables are not together"
                );
                ctx.warn(mirror.offset, &message);
            }
            ordered.push(mirror.clone());
        }
    }
    ordered
}

fn read_bool(
    ctx: &Ctx<'_>,
    key: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<bool, HostsDirError> {
    value
        .get_ref()
        .as_bool()
        .ok_or_else(|| ctx.wrong_type(key, value, "a boolean"))
}

/// `capabilities` (`parseHostConfig`): names in any case; none means containerd's default.
fn read_capabilities(
    ctx: &mut Ctx<'_>,
    key: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<Option<Capabilities>, HostsDirError> {
    let expected = "an array of strings";
    let Some(items) = value.get_ref().as_array() else {
        return Err(ctx.wrong_type(key, value, expected));
    };
    if items.is_empty() {
        return Ok(None);
    }
    let line = ctx.containerd;
    let mut capabilities = Capabilities::NONE;
    for item in &**items {
        let Some(name) = item.get_ref().as_str() else {
            return Err(ctx.wrong_type(key, item, expected));
        };
        match name.to_lowercase().as_str() {
            "pull" => capabilities.pull = true,
            "resolve" => capabilities.resolve = true,
            "push" => capabilities.push = true,
            "referrers" if line.is_v2() => {
                capabilities.referrers = true;
                ctx.warn(
                    item.span().start,
                    "containerd 2.0 and 2.1 do not know the capability `referrers` and ignore \
                     this file (2.2.0 added it)",
                );
            }
            _ => {
                let (line_name, known) = match line {
                    ContainerdLine::V1_6 => ("1.6", "pull, resolve, push"),
                    ContainerdLine::V1_7 => ("1.7", "pull, resolve, push"),
                    ContainerdLine::V2 => ("2.x", "pull, resolve, push, referrers"),
                };
                return Err(HostsDirError::UnknownCapability {
                    path: ctx.file.to_path_buf(),
                    line: ctx.line_of(item.span().start),
                    name: name.to_string(),
                    line_name,
                    known,
                });
            }
        }
    }
    Ok(Some(capabilities))
}

/// `ca`: a path or an array of paths.
fn read_paths(
    ctx: &Ctx<'_>,
    key: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<Vec<PathBuf>, HostsDirError> {
    match value.get_ref() {
        DeValue::String(path) => Ok(vec![ctx.abs_path(path)]),
        DeValue::Array(items) => items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::String(path) => Ok(ctx.abs_path(path)),
                _ => Err(ctx.wrong_type(key, item, "a string")),
            })
            .collect(),
        _ => Err(ctx.wrong_type(key, value, "a string or an array of strings")),
    }
}

/// `client`: a path, or an array of paths and `[certificate, key]` pairs.
fn read_client(
    ctx: &Ctx<'_>,
    key: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<Vec<(PathBuf, Option<PathBuf>)>, HostsDirError> {
    let items = match value.get_ref() {
        DeValue::String(path) => return Ok(vec![(ctx.abs_path(path), None)]),
        DeValue::Array(items) => items,
        _ => return Err(ctx.wrong_type(key, value, "a string or an array")),
    };
    let mut pairs = Vec::with_capacity(items.len());
    for item in &**items {
        match item.get_ref() {
            DeValue::String(path) => pairs.push((ctx.abs_path(path), None)),
            DeValue::Array(_) => {
                let paths = read_paths(ctx, key, item)?;
                let [certificate, key] =
                    <[PathBuf; 2]>::try_from(paths).map_err(|paths| HostsDirError::ClientPair {
                        path: ctx.file.to_path_buf(),
                        line: ctx.line_of(item.span().start),
                        count: paths.len(),
                    })?;
                // containerd makes an empty key path absolute too: the directory, not "none".
                pairs.push((certificate, Some(key)));
            }
            _ => return Err(ctx.wrong_type(key, item, "a string or an array of 2 strings")),
        }
    }
    Ok(pairs)
}

/// `header`: each value a string or an array of strings, kept in file order (containerd's is a
/// Go map, sent in no particular order; names are kept as written).
fn read_headers(
    ctx: &Ctx<'_>,
    key: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<Vec<(String, String)>, HostsDirError> {
    let Some(table) = value.get_ref().as_table() else {
        return Err(ctx.wrong_type(key, value, "a table"));
    };
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    let mut headers = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        let name_text = name.get_ref().to_string();
        match value.get_ref() {
            DeValue::String(text) => headers.push((name_text, text.to_string())),
            DeValue::Array(items) => {
                for item in &**items {
                    let Some(text) = item.get_ref().as_str() else {
                        return Err(ctx.wrong_type(name, item, "a string"));
                    };
                    headers.push((name_text.clone(), text.to_string()));
                }
            }
            _ => return Err(ctx.wrong_type(name, value, "a string or an array of strings")),
        }
    }
    Ok(headers)
}

/// 2.x's `dial_timeout`: Go's `time.ParseDuration`; empty means unset.
fn read_dial_timeout(
    ctx: &mut Ctx<'_>,
    key: &Spanned<DeString<'_>>,
    value: &Spanned<DeValue<'_>>,
) -> Result<Option<Duration>, HostsDirError> {
    let Some(text) = value.get_ref().as_str() else {
        return Err(ctx.wrong_type(key, value, "a string"));
    };
    if text.is_empty() {
        return Ok(None);
    }
    ctx.warn(
        key.span().start,
        "containerd 2.0.0 to 2.0.6 ignore `dial_timeout` (2.0.7 and 2.1.0 added it)",
    );
    match parse_go_duration(text) {
        Some((_, 0)) => Ok(None),
        Some((false, nanos)) => Ok(Some(Duration::from_nanos(
            u64::try_from(nanos).unwrap_or(u64::MAX),
        ))),
        Some((true, _)) => {
            ctx.warn(
                value.span().start,
                "a negative `dial_timeout` makes every dial fail at once",
            );
            Ok(Some(Duration::ZERO))
        }
        None => Err(HostsDirError::DialTimeout {
            path: ctx.file.to_path_buf(),
            line: ctx.line_of(value.span().start),
            value: text.to_string(),
        }),
    }
}

/// The hosts in order, the server last with containerd's defaults when it has no host
/// (`ConfigureHosts`, hosts.go).
fn resolve_hosts(
    ctx: &mut Ctx<'_>,
    registry: &str,
    parsed: Parsed,
) -> Result<Vec<HostEntry>, HostsDirError> {
    let mut hosts = Vec::with_capacity(parsed.mirrors.len() + 1);
    for mirror in parsed.mirrors {
        let Some(entry) = url_entry(ctx, &mirror.url, mirror.offset, mirror.config, false)? else {
            return Err(HostsDirError::UnusableUrl {
                path: ctx.file.to_path_buf(),
                line: ctx.line_of(mirror.offset),
                url: mirror.url,
                reason: "it has no host name".into(),
            });
        };
        hosts.push(entry);
    }
    let server = match &parsed.server {
        Some((url, offset)) if !url.is_empty() => {
            url_entry(ctx, url, *offset, parsed.root.clone(), true)?
        }
        _ => None,
    };
    if let Some(server) = server {
        hosts.push(server);
        return Ok(hosts);
    }
    if parsed.root.capabilities.is_some() || parsed.root.override_path {
        let offset = parsed.server.as_ref().map_or(0, |(_, offset)| *offset);
        ctx.warn(
            offset,
            "without a `server` host, containerd ignores the top-level `capabilities` and \
             `override_path`",
        );
    }
    hosts.push(default_server(registry, ctx.containerd, parsed.root)?);
    Ok(hosts)
}

/// The parts of a host's URL that locate it.
struct Endpoint {
    scheme: Scheme,
    host: String,
    port: Option<u16>,
    path: String,
}

impl HostEntry {
    fn new(
        endpoint: Endpoint,
        config: RawHost,
        capabilities: Capabilities,
        is_server: bool,
    ) -> Self {
        HostEntry {
            scheme: endpoint.scheme,
            host: endpoint.host.to_lowercase(),
            port: endpoint.port,
            path: endpoint.path,
            capabilities,
            ca: config.ca,
            client: config.client,
            skip_verify: config.skip_verify,
            headers: config.headers,
            dial_timeout: config.dial_timeout,
            is_server,
        }
    }
}

/// A host from its URL (`parseHostConfig`, hosts.go); `None` when the URL has no host, which for
/// the server means containerd's defaults.
fn url_entry(
    ctx: &mut Ctx<'_>,
    url: &str,
    offset: usize,
    config: RawHost,
    is_server: bool,
) -> Result<Option<HostEntry>, HostsDirError> {
    // Only the prefix `http` counts as a scheme: `HTTP://x` becomes `https://HTTP://x`.
    let full: Cow<'_, str> = if url.starts_with("http") {
        Cow::Borrowed(url)
    } else {
        Cow::Owned(format!("https://{url}"))
    };
    let line = ctx.line_of(offset);
    let path = ctx.file.to_path_buf();
    let parsed = parse_go_url(&full).map_err(|reason| HostsDirError::InvalidUrl {
        path: path.clone(),
        line,
        url: url.to_string(),
        reason,
    })?;
    if parsed.host.is_empty() {
        return Ok(None);
    }
    if parsed.userinfo {
        ctx.warn(
            offset,
            &format!("containerd ignores the user name and password in `{url}`"),
        );
    }
    if parsed.query_or_fragment {
        ctx.warn(
            offset,
            &format!("containerd ignores the query and fragment in `{url}`"),
        );
    }
    let unusable = |reason: String| HostsDirError::UnusableUrl {
        path: path.clone(),
        line,
        url: url.to_string(),
        reason,
    };
    let scheme = match parsed.scheme.as_str() {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => {
            return Err(unusable(format!(
                "containerd speaks http and https, not `{other}`"
            )));
        }
    };
    let (host, port) = split_host_port(&parsed.host).map_err(unusable)?;
    let capabilities = config
        .capabilities
        .unwrap_or(Capabilities::all(ctx.containerd));
    let api_path = api_path(&parsed.path, config.override_path);
    let endpoint = Endpoint {
        scheme,
        host,
        port,
        path: api_path,
    };
    Ok(Some(HostEntry::new(
        endpoint,
        config,
        capabilities,
        is_server,
    )))
}

/// The API's path prefix: the URL's path cleaned, with `/v2` added unless it ends with it or
/// `override_path` is set (`parseHostConfig`). `https://reg/` gives `//v2`, as in containerd.
fn api_path(path: &str, override_path: bool) -> String {
    if path.is_empty() {
        return if override_path {
            String::new()
        } else {
            "/v2".into()
        };
    }
    let mut cleaned = go_clean(path);
    if !cleaned.ends_with("/v2") && !override_path {
        cleaned.push_str("/v2");
    }
    cleaned
}

/// The server containerd uses when none is configured (`ConfigureHosts`, hosts.go): Docker Hub's
/// real host for `docker.io`; for localhost and loopback addresses `https` on no port or 443,
/// else `http`, with verification skipped unless the port is 80 (v1.6.25+, v1.7.8+ and 2.x; before
/// that `http` and skipped always); else `https://HOST`. The path is `/v2` with every capability,
/// whatever the top level says; its TLS files and headers still apply.
fn default_server(
    registry: &str,
    line: ContainerdLine,
    config: RawHost,
) -> Result<HostEntry, HostsDirError> {
    let (host, port) = if registry == "docker.io" {
        ("registry-1.docker.io".to_string(), None)
    } else {
        split_host_port(registry).map_err(|reason| HostsDirError::Registry {
            registry: registry.to_string(),
            reason,
        })?
    };
    let mut config = config;
    let scheme = if registry != "docker.io" && is_localhost(&host) {
        if port != Some(80) {
            config.skip_verify = Some(true);
        }
        if matches!(port, None | Some(443)) {
            Scheme::Https
        } else {
            Scheme::Http
        }
    } else {
        Scheme::Https
    };
    let endpoint = Endpoint {
        scheme,
        host,
        port,
        path: "/v2".into(),
    };
    Ok(HostEntry::new(
        endpoint,
        config,
        Capabilities::all(line),
        true,
    ))
}

/// `docker.IsLocalhost`: `localhost` or a loopback address.
fn is_localhost(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|ip| ip.is_loopback())
        }
        Err(_) => false,
    }
}

/// `HOST[:PORT]` or `[IPV6][:PORT]` into the host without brackets and the port; several colons
/// without brackets are all host, as Go's `SplitHostPort` refuses to split them.
fn split_host_port(host_port: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let Some((host, after)) = rest.rsplit_once(']') else {
            return Err("missing `]` after an IPv6 address".into());
        };
        (host, after.strip_prefix(':'))
    } else if host_port.matches(':').count() == 1 {
        host_port
            .split_once(':')
            .map_or((host_port, None), |(host, port)| (host, Some(port)))
    } else {
        (host_port, None)
    };
    if host.is_empty() {
        return Err("it has no host name".into());
    }
    let port = match port {
        None | Some("") => None,
        Some(port) => Some(
            port.parse::<u16>()
                .map_err(|_| format!("port `{port}` is not a port number"))?,
        ),
    };
    Ok((host.to_string(), port))
}

/// The parts of Go's `url.URL` containerd uses.
#[derive(Debug, PartialEq, Eq)]
struct GoUrl {
    scheme: String,
    /// `Host`: with its port, IPv6 in brackets.
    host: String,
    /// `Path`, unescaped.
    path: String,
    userinfo: bool,
    query_or_fragment: bool,
}

/// Go's `url.Parse` (net/url), as far as containerd's hosts go: what it refuses, and where it puts
/// the host and path.
fn parse_go_url(raw: &str) -> Result<GoUrl, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("invalid control character in URL".into());
    }
    let (rest, fragment) = raw
        .split_once('#')
        .map_or((raw, false), |(rest, _)| (rest, true));
    let (scheme, rest) = go_scheme(rest)?;
    let (rest, query) = rest
        .split_once('?')
        .map_or((rest, false), |(rest, _)| (rest, true));
    let mut url = GoUrl {
        scheme,
        host: String::new(),
        path: String::new(),
        userinfo: false,
        query_or_fragment: query || fragment,
    };
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            return Ok(url); // opaque: no host, no path
        }
        if rest
            .split('/')
            .next()
            .is_some_and(|segment| segment.contains(':'))
        {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    let mut path = rest;
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, tail) = after.find('/').map_or((after, ""), |i| after.split_at(i));
        let host = match authority.rfind('@') {
            Some(i) => {
                url.userinfo = true;
                &authority[i + 1..]
            }
            None => authority,
        };
        url.host = go_host(host)?;
        path = tail;
    }
    url.path = percent_decode(path).ok_or("invalid URL escape")?;
    Ok(url)
}

/// Go's `getScheme`: letters, then letters, digits, `+`, `-`, `.` up to a `:`; lower-cased.
fn go_scheme(raw: &str) -> Result<(String, &str), String> {
    for (i, c) in raw.char_indices() {
        match c {
            'a'..='z' | 'A'..='Z' => {}
            '0'..='9' | '+' | '-' | '.' if i > 0 => {}
            ':' if i == 0 => return Err("missing protocol scheme".into()),
            ':' => return Ok((raw[..i].to_ascii_lowercase(), &raw[i + 1..])),
            _ => return Ok((String::new(), raw)),
        }
    }
    Ok((String::new(), raw))
}

/// Go's `parseHost`: a port of digits after the last `:` (or after `]`), and only the
/// characters Go allows in a host; `%XX` escapes only of non-ASCII bytes or `%25`.
fn go_host(host: &str) -> Result<String, String> {
    let colon_port = if host.starts_with('[') {
        let Some(i) = host.rfind(']') else {
            return Err("missing ']' in host".into());
        };
        &host[i + 1..]
    } else {
        host.rfind(':').map_or("", |i| &host[i..])
    };
    let port_ok = colon_port.is_empty()
        || colon_port
            .strip_prefix(':')
            .is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()));
    if !port_ok {
        return Err(format!("invalid port {colon_port:?} after host"));
    }
    let bytes = host.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let escape = bytes.get(i + 1..i + 3).unwrap_or_default();
            let valid = escape.len() == 2
                && escape.iter().all(u8::is_ascii_hexdigit)
                && (escape[0] >= b'8' || escape.eq_ignore_ascii_case(b"25"));
            if !valid {
                return Err("invalid URL escape in host".into());
            }
            i += 3;
            continue;
        }
        let allowed =
            b >= 0x80 || b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b);
        if !allowed {
            return Err(format!(
                "invalid character {:?} in host name",
                char::from(b)
            ));
        }
        i += 1;
    }
    percent_decode(host).ok_or_else(|| "invalid URL escape in host".into())
}

/// `%XX` escapes decoded; `None` for a `%` not followed by two hex digits.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `path.Clean` for URL paths.
fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            segment => parts.push(segment),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Join(base, elem)`: joined, then cleaned lexically (`..` removes the component
/// before it without looking at symbolic links); a leading `/` in `elem` does not make it absolute.
fn go_join(base: &Path, elem: &str) -> PathBuf {
    let joined = base.join(elem.trim_start_matches('/'));
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => parts.push(component),
            },
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        PathBuf::from(".")
    } else {
        parts.iter().collect()
    }
}

/// Go's `time.ParseDuration`: `[-+]` then numbers (with fractions) each with a unit of `ns`,
/// `us`/`µs`, `ms`, `s`, `m` or `h`; `0` alone. Returns whether it is negative and its size in
/// nanoseconds, `None` where Go refuses (including more than 2^63-1 ns).
pub(crate) fn parse_go_duration(text: &str) -> Option<(bool, u128)> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some((negative, 0));
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(after) => after.split_at(after.bytes().take_while(u8::is_ascii_digit).count()),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        total = total.checked_add(scaled(int, frac, scale)?)?;
        rest = after;
    }
    let limit = u128::from(i64::MAX.unsigned_abs()) + u128::from(negative);
    (total <= limit).then_some((negative, total))
}

/// `int.frac` times `scale`, with the fraction truncated to nanoseconds as Go does; `None` on
/// overflow.
fn scaled(int: &str, frac: &str, scale: u128) -> Option<u128> {
    let mut whole: u128 = 0;
    for digit in int.bytes() {
        whole = whole
            .checked_mul(10)?
            .checked_add(u128::from(digit - b'0'))?;
    }
    let mut numerator: u128 = 0;
    let mut denominator: u128 = 1;
    // Go's `leadingFraction` keeps the digits that fit in an int64 (18 or 19) and drops the
    // rest; 19 here keeps `numerator * scale` far inside u128 (a longer fraction once overflowed
    // it: found by the credential_providers fuzz target).
    for digit in frac.bytes().take(19) {
        numerator = numerator * 10 + u128::from(digit - b'0');
        denominator *= 10;
    }
    whole
        .checked_mul(scale)?
        .checked_add(numerator.checked_mul(scale)? / denominator)
}

/// `loadCertFiles` (hosts.go, every line): in name order, `*.crt` are CAs and `*.cert` client
/// certificates, with `NAME.key` as the key when it exists. Directories are skipped.
fn cert_files(dir: &Path) -> Result<RawHost, HostsDirError> {
    let read_error = |source| HostsDirError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(RawHost::default()),
        Err(source) => return Err(read_error(source)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_error)?;
        if !entry.file_type().map_err(read_error)?.is_dir() {
            names.push(entry.file_name());
        }
    }
    names.sort();
    let mut raw = RawHost::default();
    for name in names {
        let bytes = name.as_encoded_bytes();
        let path = dir.join(&name);
        if bytes.ends_with(b".crt") {
            raw.ca.push(path);
        } else if bytes.ends_with(b".cert") {
            let key = if bytes == b".cert" {
                dir.join(".key")
            } else {
                path.with_extension("key")
            };
            let key = match std::fs::metadata(&key) {
                Ok(_) => Some(key),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(source) => return Err(HostsDirError::Read { path: key, source }),
            };
            raw.client.push((path, key));
        }
    }
    Ok(raw)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &[u8], offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or_default();
    let line = before.split(|&b| b == b'\n').count();
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = before
        .get(start..)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    (line, column)
}

/// The hosts named by `[host.NAME…]` table headers, in order, as go-toml v2's unstable parser
/// gives them to 2.x's `getSortedHosts`; a header naming the same host as the one before it is
/// skipped, `[host]` alone and `[[…]]` do not count.
fn host_headers(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for raw in table_headers(text) {
        // Re-parse the header alone so its keys are unquoted and unescaped as TOML says.
        let header = format!("[{raw}]");
        let Ok(doc) = DeTable::parse(&header) else {
            continue;
        };
        let Some((first, value)) = doc.get_ref().iter().next() else {
            continue;
        };
        let second = value
            .get_ref()
            .as_table()
            .and_then(|table| table.iter().next());
        let Some((second, _)) = second.filter(|_| first.get_ref() == "host") else {
            continue;
        };
        if names.last().map(String::as_str) != Some(second.get_ref()) {
            names.push(second.get_ref().to_string());
        }
    }
    names
}

/// The key text of every `[…]` table header (not `[[…]]`) of a document that parsed.
fn table_headers(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut headers = Vec::new();
    let mut i = 0;
    let mut depth = 0usize; // open `[` and `{` inside a value
    let mut at_start = true; // at the start of an expression
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\n' => {
                at_start |= depth == 0;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                i = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |n| i + n);
            }
            b'"' | b'\'' => {
                i = skip_string(bytes, i);
                at_start = false;
            }
            b'[' if at_start && depth == 0 => {
                let array = bytes.get(i + 1) == Some(&b'[');
                let start = i + 1 + usize::from(array);
                let end = header_end(bytes, start);
                if !array {
                    headers.extend(text.get(start..end));
                }
                i = end + 1 + usize::from(array);
                at_start = false;
            }
            b'[' | b'{' => {
                depth += 1;
                i += 1;
                at_start = false;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => {
                at_start = false;
                i += 1;
            }
        }
    }
    headers
}

/// Where the `]` that closes a header starting at `start` is, skipping quoted keys.
fn header_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while let Some(&b) = bytes.get(i) {
        match b {
            b']' => return i,
            b'"' | b'\'' => i = skip_string(bytes, i),
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Past the TOML string starting at `start` (basic, literal, or their multi-line forms).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let quote = bytes.get(start).copied().unwrap_or(b'"');
    let escapes = quote == b'"';
    let triple = [quote; 3];
    let multi = bytes.get(start..start + 3) == Some(&triple[..]);
    let mut i = start + if multi { 3 } else { 1 };
    while let Some(&b) = bytes.get(i) {
        if escapes && b == b'\\' {
            i += 2;
        } else if multi && bytes.get(i..i + 3) == Some(&triple[..]) {
            i += 3;
            // A multi-line string may end with one or two quotes of its own before the
            // closing three.
            for _ in 0..2 {
                if bytes.get(i) == Some(&quote) {
                    i += 1;
                }
            }
            return i;
        } else if !multi && b == quote {
            return i + 1;
        } else if !multi && b == b'\n' {
            return i;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;
    use std::fs;

    use proptest::prelude::*;
    use tempfile::TempDir;

    use super::*;
    use ContainerdLine::{V1_6, V1_7, V2};

    const LINES: [ContainerdLine; 3] = [V1_6, V1_7, V2];

    /// A `config_path` holding `files` (relative path, contents).
    fn root_with(files: &[(&str, &str)]) -> TempDir {
        let root = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = root.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        root
    }

    fn lookup(root: &TempDir, registry: &str, line: ContainerdLine) -> HostsFile {
        HostsDir::open(root.path())
            .unwrap()
            .lookup(registry, line)
            .unwrap()
            .unwrap()
    }

    fn lookup_err(root: &TempDir, registry: &str, line: ContainerdLine) -> HostsDirError {
        HostsDir::open(root.path())
            .unwrap()
            .lookup(registry, line)
            .unwrap_err()
    }

    /// A host with nothing but its location set, and containerd's default capabilities.
    fn host(
        scheme: Scheme,
        host: &str,
        port: Option<u16>,
        path: &str,
        line: ContainerdLine,
    ) -> HostEntry {
        HostEntry {
            scheme,
            host: host.into(),
            port,
            path: path.into(),
            capabilities: Capabilities::all(line),
            ca: Vec::new(),
            client: Vec::new(),
            skip_verify: None,
            headers: Vec::new(),
            dial_timeout: None,
            is_server: false,
        }
    }

    fn server(scheme: Scheme, name: &str, port: Option<u16>, line: ContainerdLine) -> HostEntry {
        HostEntry {
            is_server: true,
            ..host(scheme, name, port, "/v2", line)
        }
    }

    fn caps(pull: bool, resolve: bool, push: bool) -> Capabilities {
        Capabilities {
            pull,
            resolve,
            push,
            referrers: false,
        }
    }

    #[test]
    fn mirrors_are_tried_in_file_order_then_the_server() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "server = \"https://reg.example\"\n\n\
             [host.\"https://mirror-b.example\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n\
             [host.\"http://mirror-a.example:8080\"]\n  capabilities = [\"pull\"]\n",
        )]);
        for line in LINES {
            let file = lookup(&root, "reg.example", line);
            assert_eq!(file.path, root.path().join("reg.example/hosts.toml"));
            assert_eq!(file.source, ConfigSource::HostsToml);
            assert_eq!(
                file.hosts,
                vec![
                    HostEntry {
                        capabilities: caps(true, true, false),
                        ..host(Scheme::Https, "mirror-b.example", None, "/v2", line)
                    },
                    HostEntry {
                        capabilities: caps(true, false, false),
                        ..host(Scheme::Http, "mirror-a.example", Some(8080), "/v2", line)
                    },
                    server(Scheme::Https, "reg.example", None, line),
                ],
                "{line:?}"
            );
            assert_eq!(file.warnings, Vec::<String>::new(), "{line:?}");
        }
    }

    #[test]
    fn an_absent_server_is_https_to_the_registry_with_every_capability() {
        let root = root_with(&[(
            "Reg.Example/hosts.toml",
            "capabilities = [\"pull\"]\n[host.\"mirror.example\"]\n",
        )]);
        let file = lookup(&root, "Reg.Example", V2);
        assert_eq!(
            file.hosts,
            vec![
                host(Scheme::Https, "mirror.example", None, "/v2", V2),
                server(Scheme::Https, "reg.example", None, V2),
            ]
        );
        assert_eq!(
            file.hosts[1].capabilities,
            Capabilities {
                pull: true,
                resolve: true,
                push: true,
                referrers: true
            }
        );
        let path = root.path().join("Reg.Example/hosts.toml");
        assert_eq!(
            file.warnings,
            vec![format!(
                "{}:1: without a `server` host, containerd ignores the top-level `capabilities` \
                 and \
                 `override_path`",
                path.display()
            )]
        );
    }

    #[test]
    fn docker_io_without_server_is_registry_1_docker_io() {
        let root = root_with(&[("docker.io/hosts.toml", "[host.\"https://mirror.gcr.io\"]\n")]);
        for line in LINES {
            let file = lookup(&root, "docker.io", line);
            assert_eq!(
                file.hosts,
                vec![
                    host(Scheme::Https, "mirror.gcr.io", None, "/v2", line),
                    server(Scheme::Https, "registry-1.docker.io", None, line),
                ]
            );
        }
    }

    #[test]
    fn host_port_looks_in_host_port_underscores_first_then_the_name() {
        let both = root_with(&[
            (
                "reg.example_5000_/hosts.toml",
                "server = \"https://a.example\"\n[host]\n",
            ),
            (
                "reg.example:5000/hosts.toml",
                "server = \"https://b.example\"\n[host]\n",
            ),
        ]);
        let file = lookup(&both, "reg.example:5000", V1_7);
        assert_eq!(file.path, both.path().join("reg.example_5000_/hosts.toml"));
        assert_eq!(
            file.hosts,
            vec![server(Scheme::Https, "a.example", None, V1_7)]
        );

        let colon = root_with(&[(
            "reg.example:5000/hosts.toml",
            "server = \"https://b.example\"\n[host]\n",
        )]);
        let file = lookup(&colon, "reg.example:5000", V1_7);
        assert_eq!(file.path, colon.path().join("reg.example:5000/hosts.toml"));
        assert_eq!(
            file.hosts,
            vec![server(Scheme::Https, "b.example", None, V1_7)]
        );

        // Loopback on another port: containerd's default is http with verification skipped.
        let ipv6 = root_with(&[("[::1]_5000_/hosts.toml", "[host]\n")]);
        let file = lookup(&ipv6, "[::1]:5000", V2);
        assert_eq!(file.path, ipv6.path().join("[::1]_5000_/hosts.toml"));
        assert_eq!(
            file.hosts,
            vec![HostEntry {
                skip_verify: Some(true),
                ..server(Scheme::Http, "::1", Some(5000), V2)
            }]
        );
    }

    #[test]
    fn host_paths_follow_containerds_naming() {
        let root = Path::new("/etc/containerd/certs.d");
        let paths = |registry| host_paths(root, registry);
        assert_eq!(
            paths("reg.example:5000"),
            ["reg.example_5000_", "reg.example:5000", "_default"].map(|p| root.join(p))
        );
        assert_eq!(
            paths("docker.io"),
            ["docker.io", "_default"].map(|p| root.join(p))
        );
        assert_eq!(
            paths("[::1]:5000"),
            ["[::1]_5000_", "[::1]:5000", "_default"].map(|p| root.join(p))
        );
        // filepath.Join: a leading `/` stays inside the root.
        assert_eq!(paths("/x")[0], root.join("x"));
    }

    #[test]
    fn default_applies_when_the_registry_has_no_directory() {
        let root = root_with(&[(
            "_default/hosts.toml",
            "server = \"https://fallback.example\"\n[host]\n",
        )]);
        let file = lookup(&root, "other.example", V2);
        assert_eq!(file.path, root.path().join("_default/hosts.toml"));
        assert_eq!(
            file.hosts,
            vec![server(Scheme::Https, "fallback.example", None, V2)]
        );

        let empty = root_with(&[]);
        assert!(
            HostsDir::open(empty.path())
                .unwrap()
                .lookup("other.example", V2)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn override_path_keeps_the_path_and_otherwise_v2_is_added() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "[host.\"https://m1.example/custom/api\"]\n  override_path = true\n\
             [host.\"https://m2.example/custom/api\"]\n\
             [host.\"https://m3.example/v2\"]\n\
             [host.\"https://m4.example/\"]\n\
             [host.\"m5.example:5000/a/../b/./\"]\n\
             [host.\"https://m6.example\"]\n  override_path = true\n",
        )]);
        let file = lookup(&root, "reg.example", V1_7);
        let located: Vec<_> = file
            .hosts
            .iter()
            .map(|h| (h.host.as_str(), h.port, h.path.as_str()))
            .collect();
        assert_eq!(
            located,
            vec![
                ("m1.example", None, "/custom/api"),
                ("m2.example", None, "/custom/api/v2"),
                ("m3.example", None, "/v2"),
                ("m4.example", None, "//v2"),
                ("m5.example", Some(5000), "/b/v2"),
                ("m6.example", None, ""),
                ("reg.example", None, "/v2"),
            ]
        );
    }

    #[test]
    fn capabilities_default_to_all_and_explicit_ones_are_case_insensitive() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "[host.\"https://a.example\"]\n  capabilities = [\"PULL\", \"Resolve\"]\n\
             [host.\"https://b.example\"]\n  capabilities = []\n\
             [host.\"https://c.example\"]\n  capabilities = [\"push\"]\n",
        )]);
        for line in LINES {
            let got: Vec<_> = lookup(&root, "reg.example", line)
                .hosts
                .iter()
                .map(|h| h.capabilities)
                .collect();
            assert_eq!(
                got,
                vec![
                    caps(true, true, false),
                    Capabilities::all(line),
                    caps(false, false, true),
                    Capabilities::all(line)
                ]
            );
        }
    }

    #[test]
    fn referrers_is_a_capability_from_2_x_only() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "[host.\"https://a.example\"]\n  capabilities = [\"pull\", \"referrers\"]\n",
        )]);
        let path = root.path().join("reg.example/hosts.toml");
        let file = lookup(&root, "reg.example", V2);
        assert_eq!(
            file.hosts[0].capabilities,
            Capabilities {
                pull: true,
                resolve: false,
                push: false,
                referrers: true
            }
        );
        assert_eq!(
            file.warnings,
            vec![format!(
                "{}:2: containerd 2.0 and 2.1 do not know the capability `referrers` and ignore \
                 this file \
                 (2.2.0 added it)",
                path.display()
            )]
        );
        let err = lookup_err(&root, "reg.example", V1_7);
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: unknown capability `referrers` (containerd 1.7 knows pull, resolve, push)",
                path.display()
            )
        );
        assert!(err.containerd_ignores_file());
    }

    #[test]
    fn relative_tls_paths_are_joined_to_the_hosts_directory() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "server = \"https://reg.example\"\nca = \"certs/ca.crt\"\n\
             client = [[\"client.cert\", \"client.key\"], \"both.pem\"]\n\
             [host.\"https://mirror.example\"]\n\
               ca = [\"/etc/ssl/abs.crt\", \"../shared/./ca.crt\"]\n\
               client = \"/abs/client.pem\"\n",
        )]);
        let dir = root.path().join("reg.example");
        let file = lookup(&root, "reg.example", V1_6);
        assert_eq!(
            file.hosts,
            vec![
                HostEntry {
                    ca: vec![
                        PathBuf::from("/etc/ssl/abs.crt"),
                        root.path().join("shared/ca.crt")
                    ],
                    client: vec![(PathBuf::from("/abs/client.pem"), None)],
                    ..host(Scheme::Https, "mirror.example", None, "/v2", V1_6)
                },
                HostEntry {
                    ca: vec![dir.join("certs/ca.crt")],
                    client: vec![
                        (dir.join("client.cert"), Some(dir.join("client.key"))),
                        (dir.join("both.pem"), None),
                    ],
                    ..server(Scheme::Https, "reg.example", None, V1_6)
                },
            ]
        );
    }

    #[test]
    fn a_client_pair_must_have_two_paths() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "client = [[\"a\", \"b\", \"c\"]]\n[host]\n",
        )]);
        let err = lookup_err(&root, "reg.example", V2);
        let path = root.path().join("reg.example/hosts.toml");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:1: a `client` pair must have 2 paths, not 3",
                path.display()
            )
        );
    }

    #[test]
    fn skip_verify_is_kept_per_host_and_must_be_a_boolean() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "server = \"https://reg.example\"\nskip_verify = false\n\
             [host.\"https://a.example\"]\n  skip_verify = true\n[host.\"https://b.example\"]\n",
        )]);
        let got: Vec<_> = lookup(&root, "reg.example", V2)
            .hosts
            .iter()
            .map(|h| h.skip_verify)
            .collect();
        assert_eq!(got, vec![Some(true), None, Some(false)]);

        let bad = root_with(&[(
            "reg.example/hosts.toml",
            "[host.\"https://a.example\"]\nskip_verify = \"yes\"\n",
        )]);
        let err = lookup_err(&bad, "reg.example", V1_6);
        let path = bad.path().join("reg.example/hosts.toml");
        assert_eq!(
            err.to_string(),
            format!(
                "{}:2: `skip_verify` must be a boolean, not string",
                path.display()
            )
        );
        assert!(err.containerd_ignores_file());
    }

    #[test]
    fn headers_take_strings_and_arrays_in_file_order() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "[host.\"https://m.example\".header]\n  x-b = \"one\"\n  x-a = [\"two\", \"three\"]\n",
        )]);
        let file = lookup(&root, "reg.example", V1_7);
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            file.hosts[0].headers,
            pairs(&[("x-b", "one"), ("x-a", "two"), ("x-a", "three")])
        );
        assert_eq!(file.hosts[1].headers, Vec::new());
    }

    #[test]
    fn unknown_keys_are_warnings_with_their_line() {
        let text = "server = \"https://reg.example\"\nmirrors = [\"x\"]\n\
                    [host.\"https://m.example\"]\n  capabilities = [\"pull\"]\n\
                    insecure = true\n  server = \"x\"\n\
                    \x20 Ca = \"a.crt\"\n  CA = \"b.crt\"\n  dial_timeout = \"1m30s\"\n";
        let root = root_with(&[("reg.example/hosts.toml", text)]);
        let path = root.path().join("reg.example/hosts.toml");
        let dir = root.path().join("reg.example");
        let at = |line: usize, key: &str| {
            format!(
                "{}:{line}: unknown key `{key}` (containerd ignores it)",
                path.display()
            )
        };

        // go-toml v1 knows `ca` and `CA`, not `Ca`; 1.x has no `dial_timeout`.
        let file = lookup(&root, "reg.example", V1_6);
        assert_eq!(
            file.warnings,
            vec![
                at(2, "mirrors"),
                at(5, "insecure"),
                at(6, "server"),
                at(7, "Ca"),
                at(9, "dial_timeout")
            ]
        );
        assert_eq!(file.hosts[0].ca, vec![dir.join("b.crt")]);
        assert_eq!(file.hosts[0].dial_timeout, None);

        // go-toml v2 matches any case; the later key wins, as both set one field.
        let file = lookup(&root, "reg.example", V2);
        let new_in_2_0_7 = format!(
            "{}:9: containerd 2.0.0 to 2.0.6 ignore `dial_timeout` (2.0.7 and 2.1.0 added it)",
            path.display()
        );
        assert_eq!(
            file.warnings,
            vec![
                at(2, "mirrors"),
                at(5, "insecure"),
                at(6, "server"),
                new_in_2_0_7
            ]
        );
        assert_eq!(file.hosts[0].ca.len(), 1);
        assert_eq!(file.hosts[0].dial_timeout, Some(Duration::from_secs(90)));
    }

    #[test]
    fn a_toml_syntax_error_names_file_line_and_column() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "server = \"https://reg.example\"\n[host.\"https://m.example\"\n\
            capabilities = [\"pull\"]\n",
        )]);
        let err = lookup_err(&root, "reg.example", V2);
        let path = root.path().join("reg.example/hosts.toml");
        let HostsDirError::Syntax { line, column, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!((*line, *column), (2, 26));
        assert_eq!(
            err.to_string(),
            format!("{}:2:26: unclosed table, expected `]`", path.display())
        );
        assert!(err.containerd_ignores_file());
    }

    #[test]
    fn containerd_1_6_ignores_a_file_without_host_tables_and_uses_the_certificate_files() {
        let root = root_with(&[
            (
                "reg.example/hosts.toml",
                "server = \"https://mirror.example\"\nca = \"ca.pem\"\n",
            ),
            ("reg.example/other.crt", ""),
        ]);
        let dir = root.path().join("reg.example");
        let path = dir.join("hosts.toml");

        let file = lookup(&root, "reg.example", V1_6);
        assert_eq!(file.source, ConfigSource::CertFiles);
        assert_eq!(file.path, path);
        assert_eq!(
            file.hosts,
            vec![HostEntry {
                ca: vec![dir.join("other.crt")],
                ..server(Scheme::Https, "reg.example", None, V1_6)
            }]
        );
        assert_eq!(
            file.warnings,
            vec![format!(
                "{}:1: containerd 1.6 ignores this file: it has no `[host.\"URL\"]` table, so it \
                 fails with \
                 \"invalid `host` tree\" and uses the directory's certificate files instead",
                path.display()
            )]
        );

        let mirror = |line| {
            vec![HostEntry {
                ca: vec![dir.join("ca.pem")],
                ..server(Scheme::Https, "mirror.example", None, line)
            }]
        };
        let file = lookup(&root, "reg.example", V1_7);
        assert_eq!(
            (file.source, &file.hosts),
            (ConfigSource::HostsToml, &mirror(V1_7))
        );
        assert_eq!(
            file.warnings,
            vec![format!(
                "{}:1: containerd 1.7.0 to 1.7.31 ignore this file: it has no `[host.\"URL\"]` \
                 table (fixed in \
                 1.7.32)",
                path.display()
            )]
        );
        let file = lookup(&root, "reg.example", V2);
        assert_eq!(
            (file.source, &file.hosts, file.warnings.len()),
            (ConfigSource::HostsToml, &mirror(V2), 0)
        );
    }

    #[test]
    fn without_hosts_toml_the_docker_certificate_files_apply() {
        let root = root_with(&[
            ("reg.example/a.crt", ""),
            ("reg.example/b.cert", ""),
            ("reg.example/b.key", ""),
            ("reg.example/c.cert", ""),
            ("reg.example/hosts.toml", ""),
            ("reg.example/sub.crt/x", ""),
        ]);
        let dir = root.path().join("reg.example");
        let file = lookup(&root, "reg.example", V1_7);
        assert_eq!(file.source, ConfigSource::CertFiles);
        assert_eq!(file.path, dir);
        assert_eq!(
            file.hosts,
            vec![HostEntry {
                ca: vec![dir.join("a.crt")],
                client: vec![
                    (dir.join("b.cert"), Some(dir.join("b.key"))),
                    (dir.join("c.cert"), None)
                ],
                ..server(Scheme::Https, "reg.example", None, V1_7)
            }]
        );
    }

    #[test]
    fn containerd_2_reads_hosts_only_from_table_headers() {
        let root = root_with(&[(
            "reg.example/hosts.toml",
            "[host]\n\"https://inline.example\" = { capabilities = [\"pull\"] }\n\
             [host.\"https://a.example\"]\n[host.\"https://b.example\"]\n\
             [host.\"https://a.example\".header]\nx = \"1\"\n",
        )]);
        let names = |file: &HostsFile| {
            file.hosts
                .iter()
                .map(|h| h.host.clone())
                .collect::<Vec<_>>()
        };
        let file = lookup(&root, "reg.example", V1_7);
        assert_eq!(
            names(&file),
            ["inline.example", "a.example", "b.example", "reg.example"]
        );
        let file = lookup(&root, "reg.example", V2);
        assert_eq!(
            names(&file),
            ["a.example", "b.example", "a.example", "reg.example"]
        );
        let path = root.path().join("reg.example/hosts.toml");
        assert_eq!(
            file.warnings,
            vec![
                format!(
                    "{}:2: containerd 2.x ignores host `https://inline.example`: it reads hosts \
                     only from \
                     `[host.\"URL\"]` table headers",
                    path.display()
                ),
                format!(
                    "{}:3: containerd 2.x tries host `https://a.example` twice: its tables are \
                     not together",
                    path.display()
                ),
            ]
        );
    }

    #[test]
    fn localhost_defaults_depend_on_the_port() {
        let root = root_with(&[("_default/hosts.toml", "[host]\n")]);
        let defaults = |registry| lookup(&root, registry, V1_7).hosts.pop().unwrap();
        let entry = defaults("localhost");
        assert_eq!(
            (entry.scheme, entry.port, entry.skip_verify),
            (Scheme::Https, None, Some(true))
        );
        let entry = defaults("localhost:80");
        assert_eq!(
            (entry.scheme, entry.port, entry.skip_verify),
            (Scheme::Http, Some(80), None)
        );
        let entry = defaults("127.0.0.1:5000");
        assert_eq!(
            (entry.scheme, entry.port, entry.skip_verify),
            (Scheme::Http, Some(5000), Some(true))
        );
        let entry = defaults("reg.example:5000");
        assert_eq!(
            (entry.scheme, entry.port, entry.skip_verify),
            (Scheme::Https, Some(5000), None)
        );
    }

    #[test]
    fn urls_parse_as_go_parses_them() {
        let ok = |raw: &str| parse_go_url(raw).map(|u| (u.scheme, u.host, u.path));
        let owned = |s: &str, h: &str, p: &str| Ok((s.to_string(), h.to_string(), p.to_string()));
        assert_eq!(
            ok("HTTPS://Reg.Example:5000/a%2Fb"),
            owned("https", "Reg.Example:5000", "/a/b")
        );
        assert_eq!(ok("https://[::1]:5000"), owned("https", "[::1]:5000", ""));
        assert_eq!(
            ok("https://user:pw@reg.example/x?q#f"),
            owned("https", "reg.example", "/x")
        );
        assert_eq!(ok("https:opaque"), owned("https", "", ""));
        assert_eq!(ok("http_foo"), owned("", "", "http_foo"));
        assert_eq!(
            ok("https://reg.example:x"),
            Err("invalid port \":x\" after host".to_string())
        );
        assert_eq!(ok("https://[::1"), Err("missing ']' in host".to_string()));
        assert_eq!(
            ok("https://reg example"),
            Err("invalid character ' ' in host name".to_string())
        );
        assert_eq!(
            ok("https://reg\n"),
            Err("invalid control character in URL".to_string())
        );
        assert_eq!(ok("https://reg/%zz"), Err("invalid URL escape".to_string()));
        assert_eq!(ok(":x"), Err("missing protocol scheme".to_string()));
    }

    #[test]
    fn unreachable_and_unparsable_hosts_are_errors() {
        let cases = [
            (
                "[host.\"https://reg.example:99999\"]\n",
                "`https://reg.example:99999` cannot be reached: port `99999` is not a port number",
                false,
            ),
            (
                "[host.\"https://reg.example:x\"]\n",
                "cannot parse `https://reg.example:x` as a URL: invalid port \":x\" after host",
                true,
            ),
            (
                "[host.\"httpx://x\"]\n",
                "`httpx://x` cannot be reached: containerd speaks http and https, not `httpx`",
                false,
            ),
            (
                "[host.\"https://\"]\n",
                "`https://` cannot be reached: it has no host name",
                false,
            ),
        ];
        for (text, message, ignored) in cases {
            let root = root_with(&[("reg.example/hosts.toml", text)]);
            let err = lookup_err(&root, "reg.example", V2);
            let path = root.path().join("reg.example/hosts.toml");
            assert_eq!(
                err.to_string(),
                format!("{}:1: {message}", path.display()),
                "{text}"
            );
            assert_eq!(err.containerd_ignores_file(), ignored, "{text}");
        }
    }

    #[test]
    fn a_url_without_http_prefix_gets_https_even_with_another_scheme() {
        // `https://ftp://x`: Go's host is `ftp:` (an empty port), its path `//x`.
        let root = root_with(&[("reg.example/hosts.toml", "[host.\"ftp://x\"]\n")]);
        let file = lookup(&root, "reg.example", V1_6);
        assert_eq!(
            file.hosts[0],
            host(Scheme::Https, "ftp", None, "/x/v2", V1_6)
        );
    }

    #[test]
    fn paths_clean_as_go_cleans_them() {
        assert_eq!(go_clean("/a/../../b/./c/"), "/b/c");
        assert_eq!(go_clean("/"), "/");
        assert_eq!(go_clean("a/../.."), "..");
        assert_eq!(
            go_join(Path::new("/r/d"), "../x/./y"),
            PathBuf::from("/r/x/y")
        );
        assert_eq!(go_join(Path::new("/r/d"), ""), PathBuf::from("/r/d"));
        assert_eq!(go_join(Path::new("/"), "../../x"), PathBuf::from("/x"));
    }

    #[test]
    fn durations_parse_as_go_parses_them() {
        let cases: [(&str, Option<(bool, u128)>); 12] = [
            ("30s", Some((false, 30_000_000_000))),
            ("1m30s", Some((false, 90_000_000_000))),
            ("1.5h", Some((false, 5_400_000_000_000))),
            ("-2ms", Some((true, 2_000_000))),
            ("+.5us", Some((false, 500))),
            ("3\u{b5}s", Some((false, 3_000))),
            ("0", Some((false, 0))),
            ("", None),
            ("10", None),
            ("1d", None),
            (".s", None),
            ("9223372036854775808ns", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_go_duration(text), want, "{text}");
        }
        assert_eq!(
            parse_go_duration("-9223372036854775808ns"),
            Some((true, 9_223_372_036_854_775_808))
        );
        // A fraction of 30 and more digits (a fuzzer's find: it overflowed).
        assert_eq!(
            parse_go_duration("11s.44444444444444444444444444444441s"),
            Some((false, 11_444_444_444))
        );
        assert!(parse_go_duration(&format!("1.{}h", "9".repeat(40))).is_some());
    }

    #[test]
    fn wrong_types_name_key_line_and_types() {
        let cases = [
            ("host = 1\n", 1, "`host` must be a table, not integer"),
            (
                "[[host.\"https://m\"]]\n",
                1,
                "`https://m` must be a table, not array",
            ),
            (
                "server = 5\n[host]\n",
                1,
                "`server` must be a string, not integer",
            ),
            (
                "[host]\n[host.\"https://m\"]\ncapabilities = \"pull\"\n",
                3,
                "`capabilities` must be an array of strings, not string",
            ),
            (
                "ca = [\"a\", 1]\n[host]\n",
                1,
                "`ca` must be a string, not integer",
            ),
            (
                "[host]\n[host.\"https://m\".header]\nx = 1\n",
                3,
                "`x` must be a string or an array of strings, not integer",
            ),
        ];
        for (text, line, message) in cases {
            let root = root_with(&[("reg.example/hosts.toml", text)]);
            let path = root.path().join("reg.example/hosts.toml");
            let err = lookup_err(&root, "reg.example", V2);
            assert_eq!(
                err.to_string(),
                format!("{}:{line}: {message}", path.display()),
                "{text}"
            );
        }
    }

    /// Parses `bytes` as the `hosts.toml` of `reg.example:5000` in a directory that does not exist.
    fn parse(bytes: &[u8], line: ContainerdLine) -> Result<HostsFile, HostsDirError> {
        let dir = Path::new("/nonexistent/reg.example_5000_");
        parse_hosts_file(
            &dir.join("hosts.toml"),
            dir,
            bytes,
            "reg.example:5000",
            line,
        )
    }

    #[test]
    fn hostile_files_are_refused_without_panicking() {
        let deep_arrays = format!("a = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let deep_tables = format!("[{}]\n", vec!["host"; 50_000].join("."));
        let deep_inline = format!("a = {}{}\n", "{b = ".repeat(50_000), "}".repeat(50_000));
        for text in [deep_arrays, deep_tables, deep_inline] {
            for line in LINES {
                // The toml crate's recursion limit; go-toml would read on.
                let err = parse(text.as_bytes(), line).unwrap_err();
                assert!(
                    matches!(err, HostsDirError::Syntax { line: 1, .. }),
                    "{err}"
                );
            }
        }
        let huge_value = format!(
            "[host.\"https://{}\"]\nca = \"{}\"\n",
            "a".repeat(1 << 18),
            "b".repeat(1 << 20)
        );
        let many_hosts = (0..10_000).fold(String::new(), |mut text, i| {
            writeln!(text, "[host.\"https://m{i}.example\"]").unwrap();
            text
        });
        for (text, hosts) in [(huge_value, 2), (many_hosts, 10_001)] {
            for line in LINES {
                assert_eq!(parse(text.as_bytes(), line).unwrap().hosts.len(), hosts);
            }
        }
        let err = parse(b"server = \"https://a\"\n# caf\xe9\n", V1_6).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/nonexistent/reg.example_5000_/hosts.toml:2:6: invalid UTF-8"
        );
    }

    #[test]
    fn the_scanner_survives_strings_that_look_like_headers() {
        let text = "a = \"\"\"\n[host.\"https://x\"]\n\"\"\"\nb = [\n  [\"c\"],\n]\n\
                    d = '''\n[host.y]'''''\n\
                    [host.\"https://z\"] # [host.w]\n";
        assert_eq!(host_headers(text), ["https://z"]);
        let file = parse(text.as_bytes(), V2).unwrap();
        assert_eq!(
            file.hosts
                .iter()
                .map(|h| h.host.as_str())
                .collect::<Vec<_>>(),
            ["z", "reg.example"]
        );
    }

    /// Lines of table headers, keys with values, multi-line string quotes and comments.
    const TOML_LIKE: &str = concat!(
        "(",
        "\\[{1,2}(host|\"https://[a-z:/\\[\\]%.]{0,12}\")(\\.[a-z\"]{1,8}){0,3}\\]{1,2}\n",
        "|[a-z_A-Z]{1,12} = ",
        "(\"[a-z:/%.\\[\\]]{0,16}\"|true|\\[\"[a-z]{0,6}\"\\]|\\{\\}|[0-9]{1,3})\n",
        "|'''\n|#.*\n",
        "){0,12}",
    );

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..512)
        ) {
            for line in LINES {
                let _ = parse(&bytes, line);
            }
        }

        #[test]
        fn any_toml_like_text_parses_or_fails_without_panicking(
            text in TOML_LIKE
        ) {
            for line in LINES {
                let _ = parse(text.as_bytes(), line);
            }
        }
    }
}
