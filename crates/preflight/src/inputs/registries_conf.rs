//! CRI-O's `registries.conf`: where a node running CRI-O really pulls an image from, and what a
//! short name such as `nginx` resolves to there.
//!
//! CRI-O does not read the file itself; containers/image does. The rules here are that
//! library's, read at commit `df7e80d` (5.37.0-dev, August 2025), and each rule's doc comment
//! names the file it comes from:
//!
//! - `pkg/sysregistriesv2/system_registries_v2.go` — decoding, validation, drop-ins, prefix
//!   matching, `location` rewriting, mirrors, and the deprecated v1 format it still converts;
//! - `pkg/sysregistriesv2/shortnames.go` — `[aliases]`;
//! - `pkg/shortnames/shortnames.go` — short-name resolution and `short-name-mode`;
//! - `docker/docker_image_src.go` and `docker/docker_client.go` — the order sources are tried
//!   in, which `insecure` applies to each, and where `blocked` is enforced.
//!
//! containers/image decodes with `BurntSushi/toml` v1.5.0, whose `decode.go` matches a key to a
//! field exactly or else ignoring ASCII case, and leaves unknown keys alone (containers/image
//! logs them at debug level only). We do the same and add a warning naming the file and line,
//! since a misspelt `insecure` silently changes how a node pulls.
//!
//! Which files: containers/image reads `/etc/containers/registries.conf`, then every `*.conf`
//! directly in `/etc/containers/registries.conf.d`, in file-name order (CRI-O's
//! `--registries-conf` and `--registries-conf-dir` replace those paths). [`RegistriesConf::load`]
//! models that pair relative to the file given (`FILE` and `FILE.d`);
//! [`RegistriesConf::load_with_drop_ins`] takes the directory explicitly. Not modelled: the
//! per-user `$HOME/.config/containers/registries.conf{,.d}` that containers/image prefers or adds
//! when neither path is set (for CRI-O, running as root, `/root/.config/…`), and the
//! machine-written `/var/cache/containers/short-name-aliases.conf`, whose aliases win over these.
//!
//! One known difference: `toml` reads TOML 1.1, `BurntSushi/toml` v1.5.0 only 1.0 (unless
//! `BURNTSUSHI_TOML_110` is set in CRI-O's environment), so a file using 1.1's additions — a
//! newline or trailing comma in an inline table, `\e` or `\xHH` escapes — loads here and fails
//! on the node.
//!
//! Pure data after [`RegistriesConf::load`]: nothing here touches the network.

// The pipeline wires these in next; until then only the tests use them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::model::reference::Reference;

type Value<'i> = Spanned<DeValue<'i>>;

/// The keys of the top-level table: the v2 format's, then the v1 format's one table.
const TOP_KEYS: [&str; 7] = [
    "registry",
    "unqualified-search-registries",
    "credential-helpers",
    "short-name-mode",
    "additional-layer-store-auth-helper",
    "aliases",
    "registries",
];
const REGISTRY_KEYS: [&str; 7] = [
    "prefix",
    "location",
    "insecure",
    "blocked",
    "mirror-by-digest-only",
    "pull-from-mirror",
    "mirror",
];
const MIRROR_KEYS: [&str; 3] = ["location", "insecure", "pull-from-mirror"];
const V1_KEYS: [&str; 3] = ["search", "insecure", "block"];

/// `registries.conf` and its drop-ins, merged the way containers/image merges them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RegistriesConf {
    /// One entry per prefix, in byte order of the prefix: containers/image sorts them so, and the
    /// first of equally long matches wins (`system_registries_v2.go`, `postProcessRegistries`
    /// and `findRegistryWithParsedConfig`).
    registries: BTreeMap<String, RegistryEntry>,
    /// `unqualified-search-registries`, in order.
    search: Vec<String>,
    /// The file that set `search` (the main file when none did).
    search_origin: PathBuf,
    /// `short-name-mode`; `None` when no file set it.
    mode: Option<ShortNameMode>,
    /// `[aliases]` by short name; an empty value erases an alias set by an earlier file.
    aliases: BTreeMap<String, Alias>,
    warnings: Vec<String>,
}

/// One `[[registry]]` table after validation.
#[derive(Debug, Clone)]
struct RegistryEntry {
    prefix: String,
    /// Empty only for a `*.example.com` prefix: then references are used as they are.
    location: String,
    insecure: bool,
    blocked: bool,
    mirror_by_digest_only: bool,
    mirrors: Vec<Mirror>,
    file: PathBuf,
}

#[derive(Debug, Clone)]
struct Mirror {
    location: String,
    insecure: bool,
    pull_from: PullFrom,
}

/// A mirror's `pull-from-mirror`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PullFrom {
    /// `all`, or not written.
    All,
    DigestOnly,
    TagOnly,
}

#[derive(Debug, Clone)]
struct Alias {
    /// `registry/repository`, normalized; `None` when the alias was erased with `""`.
    value: Option<String>,
    file: PathBuf,
}

/// `short-name-mode`: what happens when a short name has more than one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ShortNameMode {
    /// Ask on a terminal; without one (always, under CRI-O) refuse an ambiguous name.
    Enforcing,
    /// Ask on a terminal; without one try every candidate. The default.
    Permissive,
    /// Try every candidate, never ask.
    Disabled,
}

/// One place CRI-O tries, in the order of [`RegistriesConf::pull_sources`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PullSource {
    /// `host[:port]` to contact, after the rewrite.
    pub(crate) registry: String,
    /// The repository on that host, after the rewrite.
    pub(crate) repository: String,
    /// HTTPS without certificate verification, then plain HTTP if that fails.
    pub(crate) insecure: bool,
    /// A mirror, not the primary location.
    pub(crate) mirror: bool,
    /// Set when the rewritten name itself falls under a blocked `[[registry]]`: containers/image
    /// then fails this source without contacting it and moves on to the next.
    pub(crate) blocked: Option<Blocked>,
}

/// A `[[registry]]` with `blocked = true`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("registry {prefix} is blocked in {}", .file.display())]
pub(crate) struct Blocked {
    /// The `[[registry]]` prefix that matched.
    pub(crate) prefix: String,
    /// The file that configured it.
    pub(crate) file: PathBuf,
}

/// Why CRI-O would not try any source for a reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PullRefused {
    /// Every source falls under a blocked `[[registry]]`; this is the primary's.
    #[error(transparent)]
    Blocked(#[from] Blocked),
    /// A `location` rewrite gives something containers/image cannot parse as a canonical
    /// reference (`rewriteReference` uses `reference.ParseNamed`), which fails the whole pull.
    #[error(
        "{}: [[registry]] prefix {prefix:?} rewrites {reference} to {rewritten:?}, which is not a canonical image reference",
        .file.display()
    )]
    Rewrite {
        /// The `[[registry]]` prefix that matched.
        prefix: String,
        /// The reference being pulled.
        reference: String,
        /// What the rewrite produced.
        rewritten: String,
        /// The file that configured the registry.
        file: PathBuf,
    },
}

/// What a reference without a registry host resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ShortName {
    /// The reference names its registry (`quay.io/x`, `localhost/x`, `host:5000/x`).
    NotShort,
    /// An `[aliases]` entry: this one reference, whatever the mode.
    Alias(String),
    /// These references, tried in order until one pulls.
    Candidates(Vec<String>),
    /// `enforcing` with more than one search registry: CRI-O refuses the pull.
    Ambiguous {
        /// What the name could have meant.
        candidates: Vec<String>,
    },
    /// No alias and no `unqualified-search-registries`: the pull fails.
    NoSearchRegistries,
}

/// Why `registries.conf` (or a drop-in) is refused, as containers/image refuses it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ConfError {
    /// The file cannot be read.
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The drop-in directory exists but cannot be listed.
    #[error("cannot list the drop-in directory {}", .path.display())]
    ReadDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// TOML is UTF-8; this byte is not.
    #[error("{}:{line}:{column}: invalid UTF-8", .path.display())]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    /// Not TOML. The problem is `toml`'s message alone: its `Display` repeats the position and
    /// quotes the line, which this error already locates.
    #[error("{}:{line}:{column}: {problem}", .path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        problem: String,
    },
    /// A value of the wrong type (`BurntSushi/toml` refuses these).
    #[error("{}:{line}:{column}: `{key}` must be {expected}, not {found}", .path.display())]
    Type {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        expected: &'static str,
        found: &'static str,
    },
    /// A value containers/image's validation refuses.
    #[error("{}:{line}: {problem}", .path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    /// `[registries.search]` and friends beside v2 keys.
    #[error(
        "{}: mixes the v1 format ([registries.search], [registries.insecure], [registries.block]) with the v2 format",
        .path.display()
    )]
    MixedFormats { path: PathBuf },
    /// A drop-in in the v1 format.
    #[error("{}: a drop-in must use the v2 format, not [registries.*]", .path.display())]
    V1DropIn { path: PathBuf },
}

impl RegistriesConf {
    /// Reads `path` and the `*.conf` files directly in `path` + `.d` (so
    /// `/etc/containers/registries.conf.d` for `/etc/containers/registries.conf`, the default
    /// pair), merged the way containers/image merges them. A missing drop-in directory is fine;
    /// a missing `path` is not, as in containers/image when the path is given explicitly.
    pub(crate) fn load(path: &Path) -> Result<RegistriesConf, ConfError> {
        let mut dir = path.as_os_str().to_owned();
        dir.push(".d");
        Self::load_with_drop_ins(path, Some(Path::new(&dir)))
    }

    /// Reads `path`, then each drop-in of `drop_ins` (CRI-O's `--registries-conf-dir`) in
    /// file-name order, each updating what came before (`system_registries_v2.go`,
    /// `tryUpdatingCache` and `updateWithConfigurationFrom`): a `[[registry]]` replaces the one
    /// with the same prefix, `unqualified-search-registries`, `short-name-mode` and each alias
    /// replace earlier values when present.
    pub(crate) fn load_with_drop_ins(
        path: &Path,
        drop_ins: Option<&Path>,
    ) -> Result<RegistriesConf, ConfError> {
        let mut warnings = Vec::new();
        let bytes = fs::read(path).map_err(|source| ConfError::Read {
            path: path.to_owned(),
            source,
        })?;
        let main = parse_file(path, &bytes, false, &mut warnings)?;
        let mut conf = RegistriesConf {
            search_origin: path.to_owned(),
            ..RegistriesConf::default()
        };
        conf.merge(path, main);
        for file in drop_ins.map(drop_in_files).transpose()?.unwrap_or_default() {
            let bytes = match fs::read(&file) {
                Ok(bytes) => bytes,
                // Removed since the directory was listed: containers/image ignores that race.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(ConfError::Read { path: file, source }),
            };
            let update = parse_file(&file, &bytes, true, &mut warnings)?;
            conf.merge(&file, update);
        }
        conf.warnings = warnings;
        Ok(conf)
    }

    /// One file's text on its own, without drop-ins, as if read from `path`: what the fuzz
    /// target exercises.
    pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<RegistriesConf, ConfError> {
        let mut warnings = Vec::new();
        let file = parse_file(path, bytes, false, &mut warnings)?;
        let mut conf = RegistriesConf {
            search_origin: path.to_owned(),
            warnings,
            ..RegistriesConf::default()
        };
        conf.merge(path, file);
        Ok(conf)
    }

    /// What containers/image accepts but preflight doubts, as `FILE:LINE: …`: unknown keys.
    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// `short-name-mode` as configured; `permissive` when no file sets it
    /// (`shortnames.go`, `defaultShortNameMode`).
    pub(crate) fn short_name_mode(&self) -> ShortNameMode {
        self.mode.unwrap_or(ShortNameMode::Permissive)
    }

    /// The file whose `unqualified-search-registries` are in force.
    pub(crate) fn search_origin(&self) -> &Path {
        &self.search_origin
    }

    /// Where CRI-O pulls a fully qualified `reference` from, in the order it tries them
    /// (`docker_image_src.go`, `newImageSource`; `system_registries_v2.go`,
    /// `PullSourcesFromReference`): the mirrors of the `[[registry]]` with the longest matching
    /// prefix, those that apply to a tag or a digest reference, then its primary location. Each
    /// is the reference with the prefix replaced by the endpoint's `location`. Without a
    /// matching `[[registry]]`, the reference itself.
    ///
    /// A reference with both a tag and a digest is pulled by digest: CRI-O drops the tag
    /// (`internal/storage/references`, `RegistryImageReferenceFromRaw`).
    ///
    /// `blocked` is enforced per source, on the rewritten name (`docker_client.go`,
    /// `newDockerClient`), so a blocked registry's mirrors are still tried. When every source is
    /// blocked, the answer is [`PullRefused::Blocked`].
    pub(crate) fn pull_sources(
        &self,
        reference: &Reference,
    ) -> Result<Vec<PullSource>, PullRefused> {
        let name = format!("{}/{}", reference.registry(), reference.repository());
        let Some(entry) = self.find_registry(&name) else {
            return Ok(vec![PullSource {
                registry: reference.registry().to_owned(),
                repository: reference.repository().to_owned(),
                insecure: false,
                mirror: false,
                blocked: None,
            }]);
        };
        let full = match reference.digest() {
            Some(digest) => format!("{name}@{digest}"),
            None => format!("{name}:{}", reference.tag().unwrap_or("latest")),
        };
        let digested = reference.digest().is_some();
        let mut sources = Vec::new();
        for mirror in entry.mirrors.iter().filter(|m| entry.uses(m, digested)) {
            sources.push(self.source(entry, &mirror.location, mirror.insecure, &full, true)?);
        }
        sources.push(self.source(entry, &entry.location, entry.insecure, &full, false)?);
        if sources.iter().all(|source| source.blocked.is_some()) {
            let primary = sources.pop().and_then(|source| source.blocked);
            return Err(PullRefused::Blocked(
                primary.unwrap_or_else(|| entry.blocked()),
            ));
        }
        Ok(sources)
    }

    /// What a short name resolves to under the configured `short-name-mode`. See
    /// [`RegistriesConf::short_name_with_mode`].
    pub(crate) fn short_name(&self, original: &str) -> ShortName {
        self.short_name_with_mode(original, self.short_name_mode())
    }

    /// What `original`, as written in the pod spec, resolves to when it names no registry host
    /// (`pkg/shortnames/shortnames.go`, `Resolve`, without a terminal): an alias of its name
    /// (tag and digest set aside, then put back), else each `unqualified-search-registries`
    /// entry in front of it; in `enforcing` mode more than one of those is refused.
    ///
    /// The mode is a parameter because CRI-O overrides the file's: from 1.34 it passes its own
    /// `short_name_mode` from `crio.conf` (`enforcing` unless set to `disabled`), and before
    /// that it always passed `disabled` (CRI-O `internal/storage/image.go`,
    /// `CandidatesForPotentiallyShortImageName`; `pkg/config/config.go`, `SetSystemContext`).
    ///
    /// Candidates are canonical references (`docker.io/library/nginx:latest`) when they parse.
    pub(crate) fn short_name_with_mode(&self, original: &str, mode: ShortNameMode) -> ShortName {
        if names_registry(original) {
            return ShortName::NotShort;
        }
        let (name, tag, digest) = split_name(original);
        if let Some(Alias {
            value: Some(value), ..
        }) = self.aliases.get(name)
        {
            return ShortName::Alias(complete(value, tag, digest));
        }
        if self.search.is_empty() {
            return ShortName::NoSearchRegistries;
        }
        let candidates: Vec<String> = self
            .search
            .iter()
            .map(|registry| complete(&format!("{registry}/{name}"), tag, digest))
            .collect();
        if mode == ShortNameMode::Enforcing && candidates.len() > 1 {
            ShortName::Ambiguous { candidates }
        } else {
            ShortName::Candidates(candidates)
        }
    }

    /// The `[[registry]]` whose prefix matches `name` (`registry/repository`) longest; the first
    /// in prefix order among equally long ones (`system_registries_v2.go`, `FindRegistry`).
    fn find_registry(&self, name: &str) -> Option<&RegistryEntry> {
        let mut best: Option<&RegistryEntry> = None;
        for entry in self.registries.values() {
            if !entry.prefix.is_empty()
                && matching_prefix(name, &entry.prefix).is_some()
                && best.is_none_or(|b| entry.prefix.len() > b.prefix.len())
            {
                best = Some(entry);
            }
        }
        best
    }

    /// One source: `full` rewritten from `entry`'s prefix to `location`, and whether that name
    /// is blocked.
    fn source(
        &self,
        entry: &RegistryEntry,
        location: &str,
        insecure: bool,
        full: &str,
        mirror: bool,
    ) -> Result<PullSource, PullRefused> {
        let rewritten = rewrite(full, &entry.prefix, location);
        let physical = rewritten.as_deref().and_then(canonical_reference);
        let Some(physical) = physical else {
            return Err(PullRefused::Rewrite {
                prefix: entry.prefix.clone(),
                reference: full.to_owned(),
                rewritten: rewritten.unwrap_or_default(),
                file: entry.file.clone(),
            });
        };
        let name = format!("{}/{}", physical.registry(), physical.repository());
        let blocked = self
            .find_registry(&name)
            .filter(|found| found.blocked)
            .map(RegistryEntry::blocked);
        Ok(PullSource {
            registry: physical.registry().to_owned(),
            repository: physical.repository().to_owned(),
            insecure,
            mirror,
            blocked,
        })
    }

    /// Folds one file in (`updateWithConfigurationFrom`).
    fn merge(&mut self, file: &Path, update: FileConf) {
        self.registries.extend(update.registries);
        if let Some(search) = update.search {
            self.search = search;
            file.clone_into(&mut self.search_origin);
        }
        if update.mode.is_some() {
            self.mode = update.mode;
        }
        for (name, value) in update.aliases {
            let file = file.to_owned();
            self.aliases.insert(name, Alias { value, file });
        }
    }
}

impl RegistryEntry {
    /// Whether a mirror serves a tag (`digested == false`) or a digest reference
    /// (`PullSourcesFromReference`): `mirror-by-digest-only` limits all mirrors to digests,
    /// otherwise each mirror's `pull-from-mirror` decides.
    fn uses(&self, mirror: &Mirror, digested: bool) -> bool {
        if self.mirror_by_digest_only {
            return digested;
        }
        match mirror.pull_from {
            PullFrom::DigestOnly => digested,
            PullFrom::TagOnly => !digested,
            PullFrom::All => true,
        }
    }

    fn blocked(&self) -> Blocked {
        Blocked {
            prefix: self.prefix.clone(),
            file: self.file.clone(),
        }
    }
}

/// How much of `reference` (a `registry[/path][:tag|@digest]` string) `prefix` matches, or
/// `None` (`system_registries_v2.go`, `refMatchingPrefix`). The character after the prefix must
/// be `/`, `:` or `@` — so `example.com` also matches `example.com:5000/…`, which containers/image
/// calls unintended but still does. A `*.example.com` prefix matches any subdomain at the first
/// `.example.com` in the host (`refMatchingSubdomainPrefix`).
fn matching_prefix(reference: &str, prefix: &str) -> Option<usize> {
    let end = if let Some(domain) = prefix.strip_prefix('*') {
        let start = reference.find(domain)?;
        if reference[..start].contains('/') {
            return None;
        }
        start + domain.len()
    } else {
        if !reference.starts_with(prefix) {
            return None;
        }
        prefix.len()
    };
    match reference.as_bytes().get(end) {
        None | Some(b'/' | b':' | b'@') => Some(end),
        Some(_) => None,
    }
}

/// `location` followed by what `prefix` did not match (`Endpoint.rewriteReference`); an empty
/// location (only allowed with a wildcard prefix) leaves the reference as it is.
fn rewrite(reference: &str, prefix: &str, location: &str) -> Option<String> {
    let end = matching_prefix(reference, prefix)?;
    if location.is_empty() {
        return Some(reference.to_owned());
    }
    Some(format!("{location}{}", reference.get(end..)?))
}

/// `rewritten` parsed, if it is canonical as `reference.ParseNamed` demands: written the way
/// normalization would write it (`docker.io/nginx:1` is refused, `docker.io/library/nginx:1`
/// is not). Case is ignored because [`Reference`] lower-cases host names and Docker does not.
fn canonical_reference(rewritten: &str) -> Option<Reference> {
    let parsed = Reference::parse(rewritten).ok()?;
    parsed
        .to_string()
        .eq_ignore_ascii_case(rewritten)
        .then_some(parsed)
}

/// Whether a reference as written names its registry: its first path component contains `.` or
/// `:` or is `localhost` (`pkg/shortnames/shortnames.go`, `parseUnnormalizedShortName`).
/// Unlike Docker's normalization, an upper-case first component does not count.
fn names_registry(original: &str) -> bool {
    original
        .split_once('/')
        .is_some_and(|(first, _)| first.contains(['.', ':']) || first == "localhost")
}

/// `name[:tag][@digest]` split into its parts; the `:` of a tag comes after the last `/`.
fn split_name(original: &str) -> (&str, Option<&str>, Option<&str>) {
    let (name_and_tag, digest) = match original.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (original, None),
    };
    let last = name_and_tag.rfind('/').map_or(0, |slash| slash + 1);
    match name_and_tag[last..].find(':') {
        Some(colon) => (
            &name_and_tag[..last + colon],
            Some(&name_and_tag[last + colon + 1..]),
            digest,
        ),
        None => (name_and_tag, None, digest),
    }
}

/// `name` with the tag and digest put back, `:latest` when there is neither
/// (`shortnames.go`, `addCandidate` and `TagNameOnly`), in canonical form when it parses.
fn complete(name: &str, tag: Option<&str>, digest: Option<&str>) -> String {
    let mut candidate = name.to_owned();
    if let Some(tag) = tag {
        candidate.push(':');
        candidate.push_str(tag);
    }
    if let Some(digest) = digest {
        candidate.push('@');
        candidate.push_str(digest);
    }
    if tag.is_none() && digest.is_none() {
        candidate.push_str(":latest");
    }
    Reference::parse(&candidate).map_or(candidate, |r| r.canonical())
}

/// The `*.conf` files directly in `dir`, in file-name order as Go's `filepath.WalkDir` lists
/// them (`dropInConfigs`): no subdirectories, and a missing directory is no drop-ins.
fn drop_in_files(dir: &Path) -> Result<Vec<PathBuf>, ConfError> {
    let read_dir_error = |source| ConfError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_dir_error(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_dir_error)?;
        // Like WalkDir, a symbolic link is not followed to see whether it is a directory.
        let is_dir = entry.file_type().map_err(read_dir_error)?.is_dir();
        if !is_dir && entry.file_name().as_encoded_bytes().ends_with(b".conf") {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// One file, decoded and validated on its own (`loadConfigFile`).
#[derive(Debug, Default)]
struct FileConf {
    /// By prefix; the first table of a prefix wins within a file (`postProcessRegistries`).
    registries: BTreeMap<String, RegistryEntry>,
    /// `None` when the key is absent: only a present list (even `[]`) replaces an earlier one.
    search: Option<Vec<String>>,
    mode: Option<ShortNameMode>,
    /// `None` erases an alias.
    aliases: BTreeMap<String, Option<String>>,
}

/// A `[[registry]]` (or `[[registry.mirror]]`) as written, before validation.
#[derive(Debug, Default)]
struct RawRegistry {
    line: usize,
    prefix: String,
    location: String,
    insecure: bool,
    blocked: bool,
    mirror_by_digest_only: bool,
    pull_from_mirror: String,
    mirrors: Vec<RawRegistry>,
}

/// The v2 keys as written. `Option`s are `Some` when the key is present at all, which is what
/// containers/image's "is this format in use" test (`hasSetField`) looks at.
#[derive(Debug, Default)]
struct RawV2 {
    registries: Option<Vec<RawRegistry>>,
    search: Option<Vec<(String, usize)>>,
    credential_helpers: Option<Vec<(String, usize)>>,
    mode: (String, usize),
    layer_store_helper: String,
    aliases: Option<Vec<(String, String, usize)>>,
}

impl RawV2 {
    fn is_set(&self) -> bool {
        self.registries.is_some()
            || self.search.is_some()
            || self.credential_helpers.is_some()
            || !self.mode.0.is_empty()
            || !self.layer_store_helper.is_empty()
            || self.aliases.is_some()
    }
}

/// `[registries.search]`, `[registries.insecure]`, `[registries.block]`: each `registries` list.
#[derive(Debug, Default)]
struct RawV1 {
    search: Option<Vec<(String, usize)>>,
    insecure: Option<Vec<(String, usize)>>,
    block: Option<Vec<(String, usize)>>,
}

/// Decodes and validates one file. `drop_in` refuses the v1 format, as for drop-ins.
fn parse_file(
    path: &Path,
    bytes: &[u8],
    drop_in: bool,
    warnings: &mut Vec<String>,
) -> Result<FileConf, ConfError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let valid = String::from_utf8_lossy(&bytes[..e.valid_up_to()]);
        let (line, column) = position(&valid, valid.len());
        ConfError::NotUtf8 {
            path: path.to_owned(),
            line,
            column,
        }
    })?;
    let table = DeTable::parse(text).map_err(|e| {
        let (line, column) = position(text, e.span().map_or(text.len(), |span| span.start));
        ConfError::Syntax {
            path: path.to_owned(),
            line,
            column,
            problem: e.message().to_owned(),
        }
    })?;
    let mut decoder = Decoder {
        path,
        text,
        warnings,
    };
    let [registry, search, helpers, mode, layer_store, aliases, v1] =
        decoder.fields(table.get_ref(), TOP_KEYS, "");
    let mut v2 = RawV2 {
        registries: registry.map(|v| decoder.registries(v)).transpose()?,
        search: search
            .map(|v| decoder.strings(v, TOP_KEYS[1]))
            .transpose()?,
        credential_helpers: helpers
            .map(|v| decoder.strings(v, TOP_KEYS[2]))
            .transpose()?,
        mode: match mode {
            Some(v) => (decoder.string(v, TOP_KEYS[3])?, decoder.line(v.span())),
            None => (String::new(), 0),
        },
        layer_store_helper: layer_store
            .map(|v| decoder.string(v, TOP_KEYS[4]))
            .transpose()?
            .unwrap_or_default(),
        aliases: aliases.map(|v| decoder.aliases(v)).transpose()?,
    };
    let v1 = v1.map(|v| decoder.v1(v)).transpose()?.unwrap_or_default();
    if v1.search.is_some() || v1.insecure.is_some() || v1.block.is_some() {
        if drop_in {
            return Err(ConfError::V1DropIn {
                path: path.to_owned(),
            });
        }
        if v2.is_set() {
            return Err(ConfError::MixedFormats {
                path: path.to_owned(),
            });
        }
        v2 = decoder.convert_v1(v1)?;
    }
    decoder.validate(v2)
}

/// `offset` in `text` as a 1-based line and column (in characters).
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// The name of a TOML value's type, as errors say it.
fn kind(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Decoding one file: typed values out of the TOML tree, errors and warnings located in it.
struct Decoder<'a> {
    path: &'a Path,
    text: &'a str,
    warnings: &'a mut Vec<String>,
}

impl Decoder<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        position(self.text, span.start).0
    }

    /// The values of `names` in `table`, matched as `BurntSushi/toml` matches struct fields
    /// (`decode.go`, `unifyStruct`): exactly, or else ignoring ASCII case. Other keys are
    /// warned about and ignored.
    fn fields<'t, 'i, const N: usize>(
        &mut self,
        table: &'t DeTable<'i>,
        names: [&str; N],
        context: &str,
    ) -> [Option<&'t Value<'i>>; N] {
        let mut found = [None; N];
        let mut exact = [false; N];
        for (key, value) in table {
            let key_text: &str = key.get_ref();
            if let Some(i) = names.iter().position(|name| *name == key_text) {
                found[i] = Some(value);
                exact[i] = true;
            } else if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(key_text)) {
                if !exact[i] {
                    found[i] = Some(value);
                }
            } else {
                self.warnings.push(format!(
                    "{}:{}: unknown key `{context}{key_text}` is ignored, by containers/image too",
                    self.path.display(),
                    self.line(key.span()),
                ));
            }
        }
        found
    }

    fn type_error(&self, value: &Value<'_>, key: &str, expected: &'static str) -> ConfError {
        let (line, column) = position(self.text, value.span().start);
        ConfError::Type {
            path: self.path.to_owned(),
            line,
            column,
            key: key.to_owned(),
            expected,
            found: kind(value.get_ref()),
        }
    }

    fn invalid(&self, line: usize, problem: String) -> ConfError {
        ConfError::Invalid {
            path: self.path.to_owned(),
            line,
            problem,
        }
    }

    fn string(&self, value: &Value<'_>, key: &str) -> Result<String, ConfError> {
        match value.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            _ => Err(self.type_error(value, key, "a string")),
        }
    }

    /// A boolean; `false` when absent.
    fn boolean(&self, value: Option<&Value<'_>>, key: &str) -> Result<bool, ConfError> {
        let Some(value) = value else {
            return Ok(false);
        };
        match value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.type_error(value, key, "a boolean")),
        }
    }

    /// An array of strings, each with its line.
    fn strings(&self, value: &Value<'_>, key: &str) -> Result<Vec<(String, usize)>, ConfError> {
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.type_error(value, key, "an array of strings"));
        };
        items
            .iter()
            .map(|item| Ok((self.string(item, key)?, self.line(item.span()))))
            .collect()
    }

    fn table<'t, 'i>(&self, value: &'t Value<'i>, key: &str) -> Result<&'t DeTable<'i>, ConfError> {
        match value.get_ref() {
            DeValue::Table(table) => Ok(table),
            _ => Err(self.type_error(value, key, "a table")),
        }
    }

    /// `[[registry]]` tables, or an array of inline tables.
    fn registries(&mut self, value: &Value<'_>) -> Result<Vec<RawRegistry>, ConfError> {
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.type_error(value, "registry", "an array of tables"));
        };
        items.iter().map(|item| self.registry(item)).collect()
    }

    fn registry(&mut self, value: &Value<'_>) -> Result<RawRegistry, ConfError> {
        let table = self.table(value, "registry")?;
        let [
            prefix,
            location,
            insecure,
            blocked,
            by_digest,
            pull_from,
            mirrors,
        ] = self.fields(table, REGISTRY_KEYS, "registry.");
        let text = |v: Option<&Value<'_>>, key| {
            v.map(|v| self.string(v, key))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        let mut registry = RawRegistry {
            line: self.line(value.span()),
            prefix: text(prefix, "registry.prefix")?,
            location: text(location, "registry.location")?,
            insecure: self.boolean(insecure, "registry.insecure")?,
            blocked: self.boolean(blocked, "registry.blocked")?,
            mirror_by_digest_only: self.boolean(by_digest, "registry.mirror-by-digest-only")?,
            pull_from_mirror: text(pull_from, "registry.pull-from-mirror")?,
            mirrors: Vec::new(),
        };
        if let Some(mirrors) = mirrors {
            let DeValue::Array(items) = mirrors.get_ref() else {
                return Err(self.type_error(mirrors, "registry.mirror", "an array of tables"));
            };
            for item in items {
                registry.mirrors.push(self.mirror(item)?);
            }
        }
        Ok(registry)
    }

    fn mirror(&mut self, value: &Value<'_>) -> Result<RawRegistry, ConfError> {
        let table = self.table(value, "registry.mirror")?;
        let [location, insecure, pull_from] = self.fields(table, MIRROR_KEYS, "registry.mirror.");
        let text = |v: Option<&Value<'_>>, key| {
            v.map(|v| self.string(v, key))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        Ok(RawRegistry {
            line: self.line(value.span()),
            location: text(location, "registry.mirror.location")?,
            insecure: self.boolean(insecure, "registry.mirror.insecure")?,
            pull_from_mirror: text(pull_from, "registry.mirror.pull-from-mirror")?,
            ..RawRegistry::default()
        })
    }

    /// `[aliases]`: short name → reference, both strings.
    fn aliases(&self, value: &Value<'_>) -> Result<Vec<(String, String, usize)>, ConfError> {
        let table = self.table(value, "aliases")?;
        table
            .iter()
            .map(|(name, value)| {
                let key = format!("aliases.{}", name.get_ref());
                Ok((
                    name.get_ref().to_string(),
                    self.string(value, &key)?,
                    self.line(name.span()),
                ))
            })
            .collect()
    }

    /// The v1 `[registries]` table.
    fn v1(&mut self, value: &Value<'_>) -> Result<RawV1, ConfError> {
        let table = self.table(value, "registries")?;
        let [search, insecure, block] = self.fields(table, V1_KEYS, "registries.");
        let mut list = |value: Option<&Value<'_>>, name: &str| -> Result<_, ConfError> {
            let Some(value) = value else { return Ok(None) };
            let key = format!("registries.{name}");
            let table = self.table(value, &key)?;
            let context = format!("{key}.");
            let [registries] = self.fields(table, ["registries"], &context);
            registries
                .map(|v| self.strings(v, &format!("{key}.registries")))
                .transpose()
        };
        Ok(RawV1 {
            search: list(search, "search")?,
            insecure: list(insecure, "insecure")?,
            block: list(block, "block")?,
        })
    }

    /// The v1 lists as v2 registries (`V1RegistriesConf.ConvertToV2`): one registry per
    /// location, in order of first mention, blocked ones first.
    fn convert_v1(&self, v1: RawV1) -> Result<RawV2, ConfError> {
        let mut registries: Vec<RawRegistry> = Vec::new();
        let blocked = v1.block.unwrap_or_default().into_iter().map(|e| (e, true));
        let insecure = v1
            .insecure
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e, false));
        for ((location, line), is_block) in blocked.chain(insecure) {
            let location = parse_location(&location).map_err(|p| self.invalid(line, p))?;
            let registry =
                if let Some(index) = registries.iter().position(|r| r.location == location) {
                    &mut registries[index]
                } else {
                    registries.push(RawRegistry {
                        line,
                        prefix: location.clone(),
                        location,
                        ..RawRegistry::default()
                    });
                    registries
                        .last_mut()
                        .unwrap_or_else(|| unreachable!("just pushed"))
                };
            if is_block {
                registry.blocked = true;
            } else {
                registry.insecure = true;
            }
        }
        Ok(RawV2 {
            registries: Some(registries),
            search: v1.search,
            ..RawV2::default()
        })
    }
}

/// Validation, as `postProcessRegistries` and then `loadConfigFile` do it.
impl Decoder<'_> {
    fn validate(&self, v2: RawV2) -> Result<FileConf, ConfError> {
        let mut entries = Vec::new();
        for raw in v2.registries.unwrap_or_default() {
            entries.push(self.validate_registry(&raw)?);
        }
        self.check_conflicts(&entries)?;
        let search = v2
            .search
            .map(|list| self.validate_search(list))
            .transpose()?;
        let mode = self.validate_mode(&v2.mode)?;
        for (entry, line) in &entries {
            if entry.prefix.starts_with("*.") && entry.prefix.contains(['/', '@', ':']) {
                return Err(self.invalid(
                    *line,
                    format!(
                        "a wildcard prefix must look like *.example.com, without `/`, `@` or `:`; {:?} does not",
                        entry.prefix
                    ),
                ));
            }
        }
        let aliases = self.validate_aliases(v2.aliases.unwrap_or_default())?;
        let mut registries = BTreeMap::new();
        for (entry, _) in entries {
            // Only the first table of a prefix counts; containers/image drops the others.
            registries.entry(entry.prefix.clone()).or_insert(entry);
        }
        Ok(FileConf {
            registries,
            search,
            mode,
            aliases,
        })
    }

    /// One `[[registry]]`: `prefix` defaults to `location`, and only a wildcard prefix may go
    /// without a `location`; `pull-from-mirror` belongs to mirrors only.
    fn validate_registry(&self, raw: &RawRegistry) -> Result<(RegistryEntry, usize), ConfError> {
        let line = raw.line;
        let location = parse_location(&raw.location).map_err(|p| self.invalid(line, p))?;
        let prefix = if raw.prefix.is_empty() {
            if location.is_empty() {
                return Err(self.invalid(
                    line,
                    "[[registry]] sets neither `prefix` nor `location`".into(),
                ));
            }
            location.clone()
        } else {
            let prefix = parse_location(&raw.prefix).map_err(|p| self.invalid(line, p))?;
            if !prefix.starts_with("*.") && location.is_empty() {
                return Err(self.invalid(
                    line,
                    format!("[[registry]] {prefix:?} has no `location`, which only a *.example.com prefix may omit"),
                ));
            }
            prefix
        };
        if !raw.pull_from_mirror.is_empty() {
            return Err(self.invalid(
                line,
                format!("`pull-from-mirror` belongs in a [[registry.mirror]], not in [[registry]] {prefix:?}"),
            ));
        }
        let mirrors = raw
            .mirrors
            .iter()
            .map(|mirror| self.validate_mirror(mirror, &prefix, raw.mirror_by_digest_only))
            .collect::<Result<_, _>>()?;
        let entry = RegistryEntry {
            prefix,
            location,
            insecure: raw.insecure,
            blocked: raw.blocked,
            mirror_by_digest_only: raw.mirror_by_digest_only,
            mirrors,
            file: self.path.to_owned(),
        };
        Ok((entry, line))
    }

    fn validate_mirror(
        &self,
        raw: &RawRegistry,
        prefix: &str,
        by_digest_only: bool,
    ) -> Result<Mirror, ConfError> {
        let line = raw.line;
        let location = parse_location(&raw.location).map_err(|p| self.invalid(line, p))?;
        if location.is_empty() {
            return Err(self.invalid(line, format!("a mirror of {prefix:?} has no `location`")));
        }
        if by_digest_only && !raw.pull_from_mirror.is_empty() {
            return Err(self.invalid(
                line,
                format!("mirror {location:?} sets `pull-from-mirror`, but [[registry]] {prefix:?} sets `mirror-by-digest-only`; only one may be set"),
            ));
        }
        let pull_from = match raw.pull_from_mirror.as_str() {
            "" | "all" => PullFrom::All,
            "digest-only" => PullFrom::DigestOnly,
            "tag-only" => PullFrom::TagOnly,
            other => {
                return Err(self.invalid(
                    line,
                    format!("mirror {location:?}: `pull-from-mirror` must be \"all\", \"digest-only\" or \"tag-only\", not {other:?}"),
                ));
            }
        };
        Ok(Mirror {
            location,
            insecure: raw.insecure,
            pull_from,
        })
    }

    /// Tables naming the same location (or wildcard prefix) must agree on `insecure` and
    /// `blocked`.
    fn check_conflicts(&self, entries: &[(RegistryEntry, usize)]) -> Result<(), ConfError> {
        let mut seen: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for (entry, line) in entries {
            let key = if entry.location.is_empty() {
                &entry.prefix
            } else {
                &entry.location
            };
            let (insecure, blocked) = *seen.entry(key).or_insert((entry.insecure, entry.blocked));
            let setting = if insecure == entry.insecure {
                (blocked != entry.blocked).then_some("blocked")
            } else {
                Some("insecure")
            };
            if let Some(setting) = setting {
                return Err(self.invalid(
                    *line,
                    format!(
                        "registry {key:?} is configured more than once with different `{setting}`"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Each entry must be `host[:port]` (the domain part of `docker/reference`'s grammar).
    fn validate_search(&self, list: Vec<(String, usize)>) -> Result<Vec<String>, ConfError> {
        list.into_iter()
            .map(|(entry, line)| {
                let registry = parse_location(&entry).map_err(|p| self.invalid(line, p))?;
                if is_domain(&registry) {
                    Ok(registry)
                } else {
                    Err(self.invalid(
                        line,
                        format!(
                            "unqualified-search-registries entry {registry:?} is not a host[:port]"
                        ),
                    ))
                }
            })
            .collect()
    }

    /// `system_registries_v2.go`, `parseShortNameMode`; empty means "not set here".
    fn validate_mode(
        &self,
        (mode, line): &(String, usize),
    ) -> Result<Option<ShortNameMode>, ConfError> {
        match mode.as_str() {
            "" => Ok(None),
            "enforcing" => Ok(Some(ShortNameMode::Enforcing)),
            "permissive" => Ok(Some(ShortNameMode::Permissive)),
            "disabled" => Ok(Some(ShortNameMode::Disabled)),
            other => Err(self.invalid(
                *line,
                format!("short-name-mode must be \"enforcing\", \"permissive\" or \"disabled\", not {other:?}"),
            )),
        }
    }

    /// Every bad alias at once, as `newShortNameAliasCache` reports them; `""` erases.
    fn validate_aliases(
        &self,
        list: Vec<(String, String, usize)>,
    ) -> Result<BTreeMap<String, Option<String>>, ConfError> {
        let mut aliases = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, value, line) in list {
            let value = validate_alias_name(&name).and_then(|()| parse_alias_value(&value));
            match value {
                Ok(value) => {
                    aliases.insert(name, value);
                }
                Err(problem) => problems.push((line, problem)),
            }
        }
        match problems.first() {
            None => Ok(aliases),
            Some(&(line, _)) => {
                let all: Vec<String> = problems
                    .into_iter()
                    .map(|(line, problem)| format!("line {line}: {problem}"))
                    .collect();
                Err(self.invalid(line, format!("invalid [aliases]: {}", all.join("; "))))
            }
        }
    }
}

/// A `location` or `prefix` as containers/image takes it (`parseLocation`): trailing `/`s
/// dropped, and no URL scheme.
fn parse_location(input: &str) -> Result<String, String> {
    let trimmed = input.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err(format!(
            "location {input:?} has a URI scheme; write host[:port][/path]"
        ));
    }
    Ok(trimmed.to_owned())
}

/// `docker/reference`'s domain: dot-separated labels of letters, digits and inner `-`, then an
/// optional `:port` (no IPv6 literal: containers/image's copy of the grammar has none).
fn is_domain(text: &str) -> bool {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    };
    let label = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    port.is_none_or(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        && host.split('.').all(label)
}

/// The left side of an alias: a short name, without tag or digest (`shortnames.go`,
/// `validateShortName`).
fn validate_alias_name(name: &str) -> Result<(), String> {
    let parsed = Reference::parse(name).map_err(|e| format!("short name {name:?}: {e}"))?;
    if parsed.digest().is_some() || parsed.has_explicit_tag() {
        return Err(format!("short name {name:?} must not have a tag or digest"));
    }
    if names_registry(name) {
        return Err(format!("short name {name:?} must not name a registry"));
    }
    Ok(())
}

/// The right side: a reference with a registry and no tag or digest, normalized
/// (`shortnames.go`, `parseShortNameValue`); `""` erases the alias.
fn parse_alias_value(value: &str) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let parsed = Reference::parse(value).map_err(|e| format!("alias {value:?}: {e}"))?;
    if parsed.digest().is_some() || parsed.has_explicit_tag() {
        return Err(format!("alias {value:?} must not have a tag or digest"));
    }
    if !names_registry(value) {
        return Err(format!(
            "alias {value:?} must name a registry and a repository"
        ));
    }
    Ok(Some(format!(
        "{}/{}",
        parsed.registry(),
        parsed.repository()
    )))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A `registries.conf` with these contents and drop-ins, in a directory that lives as long
    /// as the returned guard.
    struct Files {
        dir: tempfile::TempDir,
    }

    impl Files {
        fn new(main: &str) -> Files {
            let dir = tempfile::tempdir().unwrap();
            fs::write(dir.path().join("registries.conf"), main).unwrap();
            Files { dir }
        }

        fn drop_in(self, name: &str, text: &str) -> Files {
            let drop_ins = self.dir.path().join("registries.conf.d");
            fs::create_dir_all(&drop_ins).unwrap();
            fs::write(drop_ins.join(name), text).unwrap();
            self
        }

        fn main(&self) -> PathBuf {
            self.dir.path().join("registries.conf")
        }

        fn load(&self) -> Result<RegistriesConf, ConfError> {
            RegistriesConf::load(&self.main())
        }
    }

    fn load(text: &str) -> RegistriesConf {
        Files::new(text).load().unwrap()
    }

    fn parse(text: &str) -> Result<FileConf, ConfError> {
        parse_file(Path::new("r.conf"), text.as_bytes(), false, &mut Vec::new())
    }

    fn reference(text: &str) -> Reference {
        Reference::parse(text).unwrap()
    }

    /// Sources as `registry/repository`, with ` mirror`, ` insecure` and ` blocked` marks.
    fn sources(conf: &RegistriesConf, image: &str) -> Vec<String> {
        conf.pull_sources(&reference(image))
            .unwrap()
            .into_iter()
            .map(|s| {
                let mut line = format!("{}/{}", s.registry, s.repository);
                for (set, mark) in [(s.mirror, " mirror"), (s.insecure, " insecure")] {
                    if set {
                        line.push_str(mark);
                    }
                }
                if let Some(blocked) = s.blocked {
                    line.push_str(" blocked by ");
                    line.push_str(&blocked.prefix);
                }
                line
            })
            .collect()
    }

    fn invalid_problem(text: &str) -> (usize, String) {
        match parse(text) {
            Err(ConfError::Invalid { line, problem, .. }) => (line, problem),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn location_rewrites_the_prefix() {
        let conf = load(
            r#"
            [[registry]]
            prefix = "example.com/foo"
            location = "internal.example/bar"
            "#,
        );
        let found = conf
            .pull_sources(&reference("example.com/foo/app:1.2"))
            .unwrap();
        assert_eq!(
            found,
            vec![PullSource {
                registry: "internal.example".into(),
                repository: "bar/app".into(),
                insecure: false,
                mirror: false,
                blocked: None,
            }]
        );
        // The prefix matches whole path components only.
        assert_eq!(
            sources(&conf, "example.com/foobar/app"),
            ["example.com/foobar/app"]
        );
        // The prefix may be the whole repository.
        assert_eq!(
            sources(&conf, "example.com/foo:1"),
            ["internal.example/bar"]
        );
    }

    #[test]
    fn a_registry_without_prefix_is_its_location() {
        let conf = load("[[registry]]\nlocation = \"reg.example/\"\ninsecure = true\n");
        assert_eq!(
            sources(&conf, "reg.example/a/b:1"),
            ["reg.example/a/b insecure"]
        );
    }

    #[test]
    fn the_longest_prefix_wins() {
        let conf = load(
            r#"
            [[registry]]
            prefix = "example.com"
            location = "a.example"
            [[registry]]
            prefix = "example.com/team/app"
            location = "c.example/app"
            [[registry]]
            prefix = "example.com/team"
            location = "b.example"
            "#,
        );
        assert_eq!(sources(&conf, "example.com/team/web:1"), ["b.example/web"]);
        assert_eq!(sources(&conf, "example.com/team/app:1"), ["c.example/app"]);
        assert_eq!(
            sources(&conf, "example.com/teams/web:1"),
            ["a.example/teams/web"]
        );
        assert_eq!(sources(&conf, "other.example/x:1"), ["other.example/x"]);
    }

    #[test]
    fn a_host_prefix_also_matches_the_host_with_a_port() {
        // containers/image calls this unintended, and does it.
        let conf = load("[[registry]]\nlocation = \"example.com\"\ninsecure = true\n");
        assert_eq!(
            sources(&conf, "example.com:5000/app:1"),
            ["example.com:5000/app insecure"]
        );
    }

    #[test]
    fn a_wildcard_prefix_matches_subdomains() {
        let conf = load(
            r#"
            [[registry]]
            prefix = "*.example.com"
            insecure = true
            [[registry]]
            prefix = "*.corp.example"
            location = "mirror.local/corp"
            "#,
        );
        assert_eq!(
            sources(&conf, "a.b.example.com/app:1"),
            ["a.b.example.com/app insecure"]
        );
        assert_eq!(sources(&conf, "example.com/app:1"), ["example.com/app"]);
        assert_eq!(
            sources(&conf, "a.example.community/app:1"),
            ["a.example.community/app"]
        );
        assert_eq!(
            sources(&conf, "x.corp.example/team/app:1"),
            ["mirror.local/corp/team/app"]
        );
    }

    #[test]
    fn matching_prefix_follows_containers_image() {
        let cases: [(&str, &str, Option<usize>); 12] = [
            ("docker.io/library/busybox", "docker.io", Some(9)),
            ("docker.io/library/busybox", "docker.io/library", Some(17)),
            ("docker.io/libraryx/busybox", "docker.io/library", None),
            ("docker.io", "docker.io/library", None),
            ("example.com:5000/x", "example.com", Some(11)),
            ("example.com:50000/x", "example.com:5000", None),
            ("example.com/foo:bar", "example.com/foo:bar", Some(19)),
            ("example.com/foo@sha256:ab", "example.com/foo", Some(15)),
            ("a.example.com/x", "*.example.com", Some(13)),
            ("example.com/a.example.com/x", "*.example.com", None),
            ("a.example.com.evil/x", "*.example.com", None),
            ("a.example.com:5000/x", "*.example.com", Some(13)),
        ];
        for (reference, prefix, expected) in cases {
            assert_eq!(
                matching_prefix(reference, prefix),
                expected,
                "{reference} {prefix}"
            );
        }
    }

    #[test]
    fn mirrors_come_first_in_order_then_the_primary() {
        let conf = load(
            r#"
            [[registry]]
            prefix = "docker.io"
            location = "docker.io"
            [[registry.mirror]]
            location = "mirror.gcr.io"
            [[registry.mirror]]
            location = "cache.local:5000/hub"
            insecure = true
            "#,
        );
        assert_eq!(
            sources(&conf, "nginx:1.25"),
            [
                "mirror.gcr.io/library/nginx mirror",
                "cache.local:5000/hub/library/nginx mirror insecure",
                "docker.io/library/nginx",
            ]
        );
    }

    #[test]
    fn pull_from_mirror_chooses_mirrors_by_tag_or_digest() {
        let conf = load(
            r#"
            [[registry]]
            location = "quay.io"
            [[registry.mirror]]
            location = "digests.local"
            pull-from-mirror = "digest-only"
            [[registry.mirror]]
            location = "tags.local"
            pull-from-mirror = "tag-only"
            [[registry.mirror]]
            location = "all.local"
            pull-from-mirror = "all"
            "#,
        );
        assert_eq!(
            sources(&conf, "quay.io/org/app:1"),
            [
                "tags.local/org/app mirror",
                "all.local/org/app mirror",
                "quay.io/org/app"
            ]
        );
        let by_digest = format!("quay.io/org/app@{DIGEST}");
        assert_eq!(
            sources(&conf, &by_digest),
            [
                "digests.local/org/app mirror",
                "all.local/org/app mirror",
                "quay.io/org/app"
            ]
        );
        // A tag and a digest: CRI-O pulls by digest.
        let both = format!("quay.io/org/app:1@{DIGEST}");
        assert_eq!(sources(&conf, &both)[0], "digests.local/org/app mirror");
    }

    #[test]
    fn mirror_by_digest_only_skips_mirrors_for_tags() {
        let conf = load(
            r#"
            [[registry]]
            location = "quay.io"
            mirror-by-digest-only = true
            [[registry.mirror]]
            location = "one.local"
            [[registry.mirror]]
            location = "two.local"
            "#,
        );
        assert_eq!(sources(&conf, "quay.io/app:1"), ["quay.io/app"]);
        assert_eq!(
            sources(&conf, &format!("quay.io/app@{DIGEST}")),
            [
                "one.local/app mirror",
                "two.local/app mirror",
                "quay.io/app"
            ]
        );
    }

    #[test]
    fn mirror_by_digest_only_refuses_pull_from_mirror() {
        let (line, problem) = invalid_problem(
            "[[registry]]\nlocation = \"quay.io\"\nmirror-by-digest-only = true\n\
             [[registry.mirror]]\nlocation = \"m.local\"\npull-from-mirror = \"all\"\n",
        );
        assert_eq!(line, 4);
        assert_eq!(
            problem,
            "mirror \"m.local\" sets `pull-from-mirror`, but [[registry]] \"quay.io\" sets \
             `mirror-by-digest-only`; only one may be set"
        );
    }

    #[test]
    fn a_blocked_registry_refuses_the_pull() {
        let files = Files::new("[[registry]]\nlocation = \"evil.example\"\nblocked = true\n");
        let conf = files.load().unwrap();
        let refused = conf
            .pull_sources(&reference("evil.example/app:1"))
            .unwrap_err();
        assert_eq!(
            refused,
            PullRefused::Blocked(Blocked {
                prefix: "evil.example".into(),
                file: files.main(),
            })
        );
        assert_eq!(
            refused.to_string(),
            format!(
                "registry evil.example is blocked in {}",
                files.main().display()
            )
        );
    }

    #[test]
    fn a_blocked_registry_still_has_its_mirrors_tried() {
        let conf = load(
            r#"
            [[registry]]
            location = "evil.example"
            blocked = true
            [[registry.mirror]]
            location = "good.example"
            [[registry.mirror]]
            location = "evil.example/copy"
            "#,
        );
        assert_eq!(
            sources(&conf, "evil.example/app:1"),
            [
                "good.example/app mirror",
                "evil.example/copy/app mirror blocked by evil.example",
                "evil.example/app blocked by evil.example",
            ]
        );
    }

    #[test]
    fn a_rewrite_that_is_not_canonical_fails_the_pull() {
        let conf = load("[[registry]]\nprefix = \"quay.io\"\nlocation = \"docker.io\"\n");
        let refused = conf
            .pull_sources(&reference("quay.io/nginx:1"))
            .unwrap_err();
        assert!(
            matches!(&refused, PullRefused::Rewrite { rewritten, .. } if rewritten == "docker.io/nginx:1"),
            "{refused:?}"
        );
        // `library/` written out is canonical.
        assert_eq!(
            sources(&conf, "quay.io/library/nginx:1"),
            ["docker.io/library/nginx"]
        );
    }

    #[test]
    fn drop_ins_override_in_file_name_order() {
        let files = Files::new(
            r#"
            unqualified-search-registries = ["docker.io", "quay.io"]
            short-name-mode = "enforcing"
            [[registry]]
            prefix = "example.com"
            location = "main.example"
            [[registry]]
            location = "kept.example"
            insecure = true
            "#,
        )
        .drop_in(
            "20-late.conf",
            "[[registry]]\nprefix = \"example.com\"\nlocation = \"late.example\"\n",
        )
        .drop_in(
            "10-early.conf",
            "unqualified-search-registries = [\"registry.local\"]\n\
             [[registry]]\nprefix = \"example.com\"\nlocation = \"early.example\"\n",
        )
        .drop_in("30-ignored.conf.bak", "this is not TOML")
        .drop_in("40-no-search.conf", "short-name-mode = \"disabled\"\n");
        fs::create_dir(files.dir.path().join("registries.conf.d/50-dir.conf")).unwrap();
        let conf = files.load().unwrap();
        assert_eq!(sources(&conf, "example.com/app:1"), ["late.example/app"]);
        assert_eq!(
            sources(&conf, "kept.example/app:1"),
            ["kept.example/app insecure"]
        );
        assert_eq!(conf.search, ["registry.local"]);
        assert_eq!(
            conf.search_origin(),
            files.dir.path().join("registries.conf.d/10-early.conf")
        );
        assert_eq!(conf.short_name_mode(), ShortNameMode::Disabled);
    }

    #[test]
    fn an_empty_search_list_in_a_drop_in_clears_it() {
        let files = Files::new("unqualified-search-registries = [\"docker.io\"]\n")
            .drop_in("a.conf", "unqualified-search-registries = []\n");
        let conf = files.load().unwrap();
        assert_eq!(conf.short_name("nginx"), ShortName::NoSearchRegistries);
    }

    #[test]
    fn a_drop_in_must_use_the_v2_format() {
        let files =
            Files::new("").drop_in("a.conf", "[registries.search]\nregistries = [\"a.io\"]\n");
        assert!(matches!(files.load(), Err(ConfError::V1DropIn { .. })));
    }

    #[test]
    fn the_main_file_must_exist_but_drop_ins_need_not() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("registries.conf");
        assert!(matches!(
            RegistriesConf::load(&missing),
            Err(ConfError::Read { .. })
        ));
        fs::write(&missing, "").unwrap();
        let conf = RegistriesConf::load_with_drop_ins(&missing, Some(&dir.path().join("nope")));
        assert!(conf.unwrap().registries.is_empty());
    }

    #[test]
    fn short_names_use_the_search_registries() {
        let one = load(
            "unqualified-search-registries = [\"docker.io\"]\nshort-name-mode = \"enforcing\"\n",
        );
        assert_eq!(
            one.short_name("nginx"),
            ShortName::Candidates(vec!["docker.io/library/nginx:latest".into()])
        );
        let two = load(
            "unqualified-search-registries = [\"quay.io\", \"docker.io\"]\n\
             short-name-mode = \"enforcing\"\n",
        );
        let candidates = vec![
            "quay.io/nginx:1.25".to_owned(),
            "docker.io/library/nginx:1.25".to_owned(),
        ];
        assert_eq!(
            two.short_name("nginx:1.25"),
            ShortName::Ambiguous {
                candidates: candidates.clone()
            }
        );
        for mode in [ShortNameMode::Permissive, ShortNameMode::Disabled] {
            assert_eq!(
                two.short_name_with_mode("nginx:1.25", mode),
                ShortName::Candidates(candidates.clone())
            );
        }
        assert_eq!(
            two.short_name_with_mode(&format!("org/app@{DIGEST}"), ShortNameMode::Disabled),
            ShortName::Candidates(vec![
                format!("quay.io/org/app@{DIGEST}"),
                format!("docker.io/org/app@{DIGEST}"),
            ])
        );
    }

    #[test]
    fn the_default_mode_is_permissive() {
        let conf = load("unqualified-search-registries = [\"quay.io\", \"docker.io\"]\n");
        assert_eq!(conf.short_name_mode(), ShortNameMode::Permissive);
        assert!(matches!(conf.short_name("nginx"), ShortName::Candidates(c) if c.len() == 2));
    }

    #[test]
    fn references_that_name_a_registry_are_not_short() {
        let conf = load("unqualified-search-registries = [\"docker.io\"]\n");
        for original in ["quay.io/app", "localhost/app", "host:5000/app:1", "a.b/c/d"] {
            assert_eq!(conf.short_name(original), ShortName::NotShort, "{original}");
        }
        let empty = load("");
        assert_eq!(
            empty.short_name("library/nginx"),
            ShortName::NoSearchRegistries
        );
    }

    #[test]
    fn an_alias_wins_over_the_search_registries() {
        let files = Files::new(
            r#"
            unqualified-search-registries = ["quay.io", "docker.io"]
            short-name-mode = "enforcing"
            [aliases]
            "nginx" = "docker.io/nginx"
            "app" = "registry.example/team/app"
            "#,
        )
        .drop_in("erase.conf", "[aliases]\n\"app\" = \"\"\n");
        let conf = files.load().unwrap();
        assert_eq!(
            conf.short_name("nginx:1.25"),
            ShortName::Alias("docker.io/library/nginx:1.25".into())
        );
        assert_eq!(
            conf.short_name("nginx"),
            ShortName::Alias("docker.io/library/nginx:latest".into())
        );
        // Erased by the drop-in: back to the (ambiguous) search registries.
        assert!(matches!(
            conf.short_name("app"),
            ShortName::Ambiguous { .. }
        ));
    }

    #[test]
    fn bad_aliases_are_all_reported() {
        let (line, problem) = invalid_problem(
            "[aliases]\n\"quay.io/x\" = \"quay.io/x\"\n\"y\" = \"quay.io/y:1\"\n\"z\" = \"z/z\"\n",
        );
        assert_eq!(line, 2);
        assert_eq!(
            problem,
            "invalid [aliases]: line 2: short name \"quay.io/x\" must not name a registry; \
             line 3: alias \"quay.io/y:1\" must not have a tag or digest; \
             line 4: alias \"z/z\" must name a registry and a repository"
        );
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let files = Files::new(
            "unqualified-search-registries = [\"docker.io\"]\n[[registry]\nlocation = 1\n",
        );
        let error = files.load().unwrap_err();
        let ConfError::Syntax {
            line,
            column,
            problem,
            ..
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!((*line, *column), (2, 12));
        assert_eq!(problem, "unclosed array table, expected `]`");
        assert_eq!(
            error.to_string(),
            format!("{}:2:12: {problem}", files.main().display())
        );
    }

    #[test]
    fn unknown_keys_are_warned_about_with_their_line() {
        let files = Files::new(
            "unqualified-search-registries = [\"docker.io\"]\n\
             credential-helpers = [\"containers-auth.json\"]\n\
             [[registry]]\nlocation = \"reg.example\"\ninsecur = true\n\
             [[registry.mirror]]\nlocation = \"m.example\"\nblocked = true\n",
        );
        let conf = files.load().unwrap();
        let path = files.main().display().to_string();
        assert_eq!(
            conf.warnings(),
            [
                format!(
                    "{path}:5: unknown key `registry.insecur` is ignored, by containers/image too"
                ),
                format!(
                    "{path}:8: unknown key `registry.mirror.blocked` is ignored, by containers/image too"
                ),
            ]
        );
        assert_eq!(sources(&conf, "reg.example/app:1")[1], "reg.example/app");
    }

    #[test]
    fn keys_match_ignoring_case_like_burntsushi_toml() {
        let conf = load("[[Registry]]\nLocation = \"reg.example\"\nINSECURE = true\n");
        assert!(conf.warnings().is_empty());
        assert_eq!(
            sources(&conf, "reg.example/app:1"),
            ["reg.example/app insecure"]
        );
    }

    #[test]
    fn values_of_the_wrong_type_are_refused() {
        let error =
            parse("[[registry]]\nlocation = \"r.example\"\ninsecure = \"yes\"\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "r.conf:3:12: `registry.insecure` must be a boolean, not a string"
        );
        for text in [
            "unqualified-search-registries = \"docker.io\"",
            "unqualified-search-registries = [1]",
            "[registry]\nlocation = \"a.io\"",
            "[[registry]]\nlocation = \"a.io\"\n[registry.mirror]\nlocation = \"b.io\"",
            "[aliases]\nx = 1",
            "short-name-mode = true",
            "[registries]\nsearch = 1",
        ] {
            assert!(matches!(parse(text), Err(ConfError::Type { .. })), "{text}");
        }
    }

    #[test]
    fn containers_image_validation_is_followed() {
        let cases = [
            (
                "[[registry]]\nlocation = \"https://a.io\"",
                "location \"https://a.io\" has a URI scheme; write host[:port][/path]",
            ),
            (
                "[[registry]]\ninsecure = true",
                "[[registry]] sets neither `prefix` nor `location`",
            ),
            (
                "[[registry]]\nprefix = \"a.io\"",
                "[[registry]] \"a.io\" has no `location`, which only a *.example.com prefix may omit",
            ),
            (
                "[[registry]]\nprefix = \"*.a.io/x\"",
                "a wildcard prefix must look like *.example.com, without `/`, `@` or `:`; \"*.a.io/x\" does not",
            ),
            (
                "[[registry]]\nlocation = \"a.io\"\npull-from-mirror = \"all\"",
                "`pull-from-mirror` belongs in a [[registry.mirror]], not in [[registry]] \"a.io\"",
            ),
            (
                "[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\ninsecure = true",
                "a mirror of \"a.io\" has no `location`",
            ),
            (
                "[[registry]]\nlocation = \"a.io\"\n[[registry.mirror]]\nlocation = \"b.io\"\npull-from-mirror = \"some\"",
                "mirror \"b.io\": `pull-from-mirror` must be \"all\", \"digest-only\" or \"tag-only\", not \"some\"",
            ),
            (
                "[[registry]]\nlocation = \"a.io\"\n[[registry]]\nprefix = \"b.io\"\nlocation = \"a.io\"\ninsecure = true",
                "registry \"a.io\" is configured more than once with different `insecure`",
            ),
            (
                "unqualified-search-registries = [\"quay.io/org\"]",
                "unqualified-search-registries entry \"quay.io/org\" is not a host[:port]",
            ),
            (
                "short-name-mode = \"prompt\"",
                "short-name-mode must be \"enforcing\", \"permissive\" or \"disabled\", not \"prompt\"",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(invalid_problem(text).1, expected, "{text}");
        }
    }

    #[test]
    fn the_first_table_of_a_prefix_wins_within_a_file() {
        let conf = load(
            "[[registry]]\nprefix = \"a.io\"\nlocation = \"one.io\"\n\
             [[registry]]\nprefix = \"a.io\"\nlocation = \"two.io\"\n",
        );
        assert_eq!(sources(&conf, "a.io/x:1"), ["one.io/x"]);
    }

    #[test]
    fn the_v1_format_is_converted() {
        let conf = load(
            "[registries.search]\nregistries = [\"a.io//\", \"b.io\"]\n\
             [registries.block]\nregistries = [\"bad.io\"]\n\
             [registries.insecure]\nregistries = [\"bad.io/\", \"plain.io\"]\n",
        );
        assert_eq!(conf.search, ["a.io", "b.io"]);
        assert_eq!(sources(&conf, "plain.io/x:1"), ["plain.io/x insecure"]);
        assert!(matches!(
            conf.pull_sources(&reference("bad.io/x:1")),
            Err(PullRefused::Blocked(Blocked { prefix, .. })) if prefix == "bad.io"
        ));
    }

    #[test]
    fn mixing_v1_and_v2_is_refused() {
        for text in [
            "unqualified-search-registries = [\"a.io\"]\n[registries.search]\nregistries = [\"a.io\"]\n",
            // Empty lists count as set, for both formats.
            "unqualified-search-registries = []\n[registries.block]\nregistries = []\n",
        ] {
            assert!(
                matches!(parse(text), Err(ConfError::MixedFormats { .. })),
                "{text}"
            );
        }
        // An empty v1 table without its list is not the v1 format.
        assert!(parse("unqualified-search-registries = []\n[registries.search]\n").is_ok());
    }

    #[test]
    fn non_utf8_is_located() {
        let bytes = b"[[registry]]\nlocation = \"r\xffx\"\n";
        let error = parse_file(Path::new("r.conf"), bytes, false, &mut Vec::new()).unwrap_err();
        assert_eq!(error.to_string(), "r.conf:2:14: invalid UTF-8");
    }

    #[test]
    fn hostile_input_does_not_panic() {
        let deep = 100_000;
        let inputs: Vec<Vec<u8>> = vec![
            format!("a = {}{}", "[".repeat(deep), "]".repeat(deep)).into_bytes(),
            format!("a = {}", "{ b = ".repeat(deep)).into_bytes(),
            format!("[{}]", vec!["a"; deep].join(".")).into_bytes(),
            format!("{} = 1", vec!["registry"; deep].join(".")).into_bytes(),
            format!("[[registry]]\nlocation = \"{}\"", "a".repeat(8 << 20)).into_bytes(),
            format!("[[registry]]\nprefix = \"*.{}\"\n", "é".repeat(1000)).into_bytes(),
            b"\xff\xfe\x00\x00[[registry]]".to_vec(),
            b"\0\0\0".to_vec(),
            b"[[registry]]\nlocation = \"\0\"\n[[registry.mirror]]\nlocation = \"\\u0000\""
                .to_vec(),
        ];
        for bytes in inputs {
            let _ = parse_file(Path::new("r.conf"), &bytes, false, &mut Vec::new());
        }
    }

    #[test]
    fn odd_configurations_resolve_without_panic() {
        let conf = load(
            r#"
            unqualified-search-registries = ["a.io", "b.io:5000"]
            [[registry]]
            prefix = "*.é.example"
            [[registry]]
            prefix = "a.io/x"
            location = "ééé"
            [[registry]]
            prefix = "b.io:5000"
            location = "c.io/"
            [[registry.mirror]]
            location = "a.io/x/"
            "#,
        );
        for image in [
            "a.io/x/y:1",
            "b.io:5000/q:1",
            "é.example/x:1",
            "x.é.example/y:1",
        ] {
            if let Ok(image) = Reference::parse(image) {
                let _ = conf.pull_sources(&image);
            }
        }
        for name in ["", "@", ":", "/", "a/", "x:y@z", "a:b/c", "é"] {
            let _ = conf.short_name(name);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_files_never_panic(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("[[registry]]\n".to_owned()),
                    Just("[[registry.mirror]]\n".to_owned()),
                    Just("[aliases]\n".to_owned()),
                    Just("[registries.search]\n".to_owned()),
                    "(prefix|location|insecure|blocked|pull-from-mirror|mirror-by-digest-only|unqualified-search-registries|short-name-mode|registries|x) = (\"[a-z*./:@]{0,12}\"|true|1|\\[\"[a-z.:]{0,8}\"\\]|\\{\\})\n",
                    "[ -~\n]{0,20}",
                ],
                0..12,
            ),
            image in "[a-z*./:@]{1,20}",
        ) {
            let text = parts.concat();
            let Ok(conf) = RegistriesConf::parse(Path::new("r.conf"), text.as_bytes()) else {
                return Ok(());
            };
            if let Ok(image) = Reference::parse(&image) {
                let _ = conf.pull_sources(&image);
            }
            let _ = conf.short_name(&image);
        }
    }
}
