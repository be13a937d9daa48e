//! The images a Kubernetes deploy will pull, read from its manifests.
//!
//! [`discover`] lists the manifest files under a path; [`extract`] reads one file's text — a
//! stream of YAML documents, or JSON — and returns every container image with the file and line
//! it was written on, the object and container that use it, and what the kubelet pulls it with
//! (namespace, `imagePullSecrets`, service account, pull policy). The `Secret` and
//! `ServiceAccount` objects of the input come back too, because they decide which credentials a
//! pull gets.
//!
//! YAML is read with granit-parser, the event parser under serde-saphyr, into a small tree with
//! line numbers: serde-saphyr's `Spanned` gives lines too, but deserializing through it recurses
//! (some 40 KB of stack per nesting level in a debug build), ran 2.5 times slower, and needs Rust
//! 1.89, where building the tree from events takes no recursion and little code.
//!
//! What is read, and how:
//!
//! - Documents are separated by `---`; empty documents are skipped. JSON is read as YAML (it is
//!   a subset), so a `.json` file holds one object or a `List`.
//! - Anchors and aliases are resolved, and so are `<<:` merge keys (explicit keys win over merged
//!   ones). A value reached through an alias or a merge key gets the line of the alias or of the
//!   `<<:` entry: the line always falls inside the object it is reported for.
//! - `kind: List`, and any kind ending in `List` that has `items:`, stands for its items, each
//!   read like a document of its own. An item without `kind` takes the list's kind without the
//!   `List` suffix (a `DeploymentList`'s items are `Deployment`s), as the API returns them.
//! - The pod spec is at `spec` for a `Pod`; `spec.template.spec` for a `Deployment`,
//!   `ReplicaSet`, `StatefulSet`, `DaemonSet`, `Job` or `ReplicationController`;
//!   `spec.jobTemplate.spec.template.spec` for a `CronJob`; `template.spec` for a `PodTemplate`.
//!   Any other kind (an Argo `Rollout`, a Knative `Service`, a KEDA `ScaledJob`…) counts as a
//!   workload when `spec.template.spec` or `spec.jobTemplate.spec.template.spec` is a mapping
//!   with a `containers` list: an unknown kind whose fields only look alike is left alone rather
//!   than failing the whole file.
//! - Images are listed per pod spec as pulled: `initContainers`, then `containers`, then
//!   `ephemeralContainers`, each in order.
//! - A document that is a mapping without `kind` is ignored, not an error: templating tools
//!   (helm) now and then emit such fragments, and the API server would reject them anyway.
//!   Objects that carry no pod spec and are not a `Secret` or a `ServiceAccount` are ignored.
//! - A field written as `null` counts as absent, as it does for the API server — except
//!   `image: null`, which is reported like any other `image:` that is not a string. A container
//!   without `image:` is skipped (the API server will refuse it, with a better message).
//! - Scalars are typed as `kubectl` types them (YAML 1.1, where `yes`, `on` and `y` are booleans
//!   too): `image: 1.0` is a number and is reported as one (quote it to make it a string). Mapping
//!   keys are taken as written: `y:` is the key `y`.
//! - Duplicate keys in a mapping are a syntax error, as they are for `kubectl`.
//!
//! A file is rejected whole at its first problem, in file order. The parse is bounded — anchors
//! and aliases may copy at most 1,000,000 nodes per file, and nesting (aliases included) may go
//! 100 levels deep — so a hostile file (a "billion laughs" alias bomb) is an error, not a hang or
//! an exhausted memory. Documents are read one at a time, each turned into data and dropped, so
//! memory stays a small multiple of the input. Error messages never quote the values of the
//! input, so a Secret's data cannot leak through them.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use granit_parser::{ErrorKind, Event, Parser, ScalarStyle, ScanError, Tag};

use crate::report::Source;

/// Nodes that anchors and aliases may copy in one file: far above any real manifest, far below
/// memory trouble.
const MAX_EXPANDED_NODES: usize = 1_000_000;

/// Nesting cap: real objects (even CRDs with deep schemas) stay well below it. The tree is built
/// without recursion, but copying, reading and dropping it recurse, so its depth must be bounded.
const MAX_DEPTH: usize = 100;

/// Extensions of the files [`discover`] picks from a directory (`kubectl apply -f DIR`'s set).
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Where an image is used and what the kubelet will pull it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// The `image:` value as written (YAML's own unquoting aside, nothing trimmed).
    pub reference: String,
    /// The file, the 1-based line of the `image:` value, the object as `Kind/namespace/name`,
    /// and the container's name.
    pub source: Source,
    /// The workload's `metadata.namespace`, `default` when absent.
    pub namespace: String,
    /// The pod spec's `imagePullSecrets[].name`, in order.
    pub image_pull_secrets: Vec<String>,
    /// `spec.serviceAccountName`, else the deprecated `spec.serviceAccount`, else `default`.
    pub service_account: String,
    /// The container's `imagePullPolicy` as written.
    pub pull_policy: Option<String>,
    /// Which list of the pod spec the container is in.
    pub container_kind: ContainerKind,
    /// The platforms (`OS/ARCH`) the pod's nodes run, from `nodeSelector` and required node
    /// affinity on `kubernetes.io/arch` and `kubernetes.io/os`; empty when the pod does not say.
    pub node_platforms: Vec<String>,
}

/// Which list of a pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `containers`.
    Container,
    /// `initContainers`.
    Init,
    /// `ephemeralContainers`.
    Ephemeral,
}

/// A `Secret` object found in the input (any type; the caller decides what it is good for).
///
/// Its `Debug` shows the keys of `data` and `stringData`, never their values.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretObject {
    /// `metadata.namespace`, `default` when absent.
    pub namespace: String,
    /// `metadata.name` (else `metadata.generateName`, else `(unnamed)`).
    pub name: String,
    /// `type:` as written.
    pub secret_type: Option<String>,
    /// `data:` values as written (base64 text).
    pub data: BTreeMap<String, String>,
    /// `stringData:` values as written.
    pub string_data: BTreeMap<String, String>,
    /// The file, the line the object starts on, and the object as `Secret/namespace/name`.
    pub source: Source,
}

impl fmt::Debug for SecretObject {
    // By hand, because the values are credentials: only the keys are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretObject")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("secret_type", &self.secret_type)
            .field("data", &self.data.keys().collect::<Vec<_>>())
            .field("string_data", &self.string_data.keys().collect::<Vec<_>>())
            .field("source", &self.source)
            .finish()
    }
}

/// A `ServiceAccount` object found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountObject {
    /// `metadata.namespace`, `default` when absent.
    pub namespace: String,
    /// `metadata.name` (else `metadata.generateName`, else `(unnamed)`).
    pub name: String,
    /// Its `imagePullSecrets[].name`, in order.
    pub image_pull_secrets: Vec<String>,
    /// The file, the line the object starts on, and the object as
    /// `ServiceAccount/namespace/name`.
    pub source: Source,
}

/// What manifests hold that matters for pulling images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extraction {
    /// Every image use, in input order.
    pub images: Vec<ImageUse>,
    /// Every `Secret`, in input order.
    pub secrets: Vec<SecretObject>,
    /// Every `ServiceAccount`, in input order.
    pub service_accounts: Vec<ServiceAccountObject>,
}

impl Extraction {
    /// Appends another extraction (the next file's) to this one.
    pub fn merge(&mut self, other: Extraction) {
        self.images.extend(other.images);
        self.secrets.extend(other.secrets);
        self.service_accounts.extend(other.service_accounts);
    }
}

/// Why manifests could not be read. Lines and columns are 1-based (0 when the parser could not
/// tell). No message quotes a value of the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// A file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path, as given or as found under the given directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid YAML (or JSON).
    #[error("{file}:{line}:{column}: {problem}")]
    Syntax {
        /// The file, as given to [`extract`].
        file: String,
        /// Where the parser stopped.
        line: usize,
        /// Where the parser stopped.
        column: usize,
        /// What is wrong.
        problem: String,
    },
    /// A document (or a `List` item) is not a mapping.
    #[error("{file}:{line}: a document must be a Kubernetes object (a mapping), found a {found}")]
    NotAnObject {
        /// The file, as given to [`extract`].
        file: String,
        /// Where the document starts.
        line: usize,
        /// What it is instead: `list`, `string`, `number`, `boolean`.
        found: &'static str,
    },
    /// A field that matters here has the wrong type.
    #[error("{file}:{line}: {field} {problem}")]
    InvalidField {
        /// The file, as given to [`extract`].
        file: String,
        /// The line of the field's value.
        line: usize,
        /// The field, as named in the object: `image`, `containers[1]`, `metadata.name`.
        field: String,
        /// What is wrong with it: `must be a string, found a mapping`.
        problem: String,
    },
    /// The input exceeds the limits that keep hostile files from hanging the parse.
    #[error("{file}:{line}: {problem}")]
    TooComplex {
        /// The file, as given to [`extract`].
        file: String,
        /// Where the limit was crossed.
        line: usize,
        /// Which limit.
        problem: String,
    },
}

/// Extracts from one file's text. `file` is the name to put in sources (as the user gave it, or
/// `-` / `<stdin>`).
pub fn extract(file: &str, text: &str) -> Result<Extraction, ManifestError> {
    extract_in(file, text, "default")
}

/// Stands for "no namespace written" while a file is read; never in a result.
const NO_NAMESPACE: &str = "";

/// Like [`extract`], with objects that name no namespace placed in `namespace` — as
/// `kubectl apply -n` and `helm install --namespace` place them.
pub fn extract_in(file: &str, text: &str, namespace: &str) -> Result<Extraction, ManifestError> {
    let namespace = if namespace.is_empty() {
        "default"
    } else {
        namespace
    };
    let mut all = read(text).map_err(|p| p.in_file(file))?;
    // Objects are read before the namespace they default to is known here: fill it in, in the
    // namespace field and in the `Kind//name` slot of the object's name.
    let place = |ns: &mut String, source: &mut Source| {
        if ns.is_empty() {
            namespace.clone_into(ns);
            if let Some(object) = &mut source.object {
                *object = object.replacen("//", &format!("/{namespace}/"), 1);
            }
        }
    };
    for i in &mut all.images {
        place(&mut i.namespace, &mut i.source);
    }
    for s in &mut all.secrets {
        place(&mut s.namespace, &mut s.source);
    }
    for a in &mut all.service_accounts {
        place(&mut a.namespace, &mut a.source);
    }
    // Documents are turned into data while the parse still runs (one tree in memory at a
    // time), where the file name is not at hand: it is filled in here.
    let sources = all
        .images
        .iter_mut()
        .map(|i| &mut i.source)
        .chain(all.secrets.iter_mut().map(|s| &mut s.source))
        .chain(all.service_accounts.iter_mut().map(|s| &mut s.source));
    for source in sources {
        file.clone_into(&mut source.file);
    }
    Ok(all)
}

/// The manifest files under `path`: the file itself, or a directory walked recursively for
/// `.yaml`, `.yml`, `.json` (sorted, so output is deterministic; symlink loops must not hang).
///
/// A file given directly is returned whatever its name. Symbolic links are followed; a
/// directory reached twice (through a link loop, say) is walked once.
pub fn discover(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManifestError::Read { path, source }
    };
    if !std::fs::metadata(path).map_err(read_error(path))?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    // An explicit stack rather than recursion: directory depth is up to the file system.
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        // Canonical paths identify a directory however it was reached, which is what stops
        // symlink loops.
        if !seen.insert(std::fs::canonicalize(&dir).map_err(read_error(&dir))?) {
            continue;
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(read_error(&dir))? {
            entries.push(entry.map_err(read_error(&dir))?.path());
        }
        entries.sort();
        // Reversed onto the stack, so subdirectories are walked in sorted order.
        for entry in entries.into_iter().rev() {
            let is_manifest = entry
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e));
            match std::fs::metadata(&entry) {
                Ok(meta) if meta.is_dir() => pending.push(entry),
                Ok(meta) if meta.is_file() && is_manifest => found.push(entry),
                // A dangling link is only worth failing for when it would have been read.
                Err(source) if is_manifest => {
                    return Err(ManifestError::Read {
                        path: entry,
                        source,
                    });
                }
                Ok(_) | Err(_) => {}
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Reads a YAML stream and hands each document's tree to [`object`] as soon as it is complete,
/// so that only one document is in memory at a time. The tree is built with an explicit stack of
/// open collections, not by recursion.
fn read(text: &str) -> Result<Extraction, Problem> {
    let options = granit_parser::options! {
        emit_comments: false,
        // Just above ours, which is checked on every collection; the scanner reads flow
        // collections ahead of the events, and its limit may trip first (same message).
        flow_nesting_limit: MAX_DEPTH + 1,
        block_nesting_limit: MAX_DEPTH + 1,
    };
    let mut reader = Reader::default();
    for event in Parser::new_from_str_with_options(text, options) {
        let (event, span) = event.map_err(|e| scan_problem(&e))?;
        let line = span.start.line();
        let at = (line, span.start.col().saturating_add(1));
        match event {
            // Anchors belong to their document.
            Event::DocumentStart(..) => reader.anchors.clear(),
            Event::Scalar(text, style, anchor, tag) => {
                let kind = resolve(&text, style, tag.as_deref());
                reader.add(
                    Node {
                        line,
                        value: Value::Scalar(kind, text),
                    },
                    anchor,
                    at,
                )?;
            }
            Event::Alias(id) => {
                let Some(target) = reader.anchors.get(&id) else {
                    // An anchor still open is one the alias is inside of: endless.
                    if reader.stack.iter().any(|open| open.anchor == id) {
                        return Err(Problem::TooComplex {
                            line,
                            problem: "an alias refers to a node that contains it".to_owned(),
                        });
                    }
                    return Err(unknown_anchor(at));
                };
                let node = copy(target, Some(line), reader.stack.len(), &mut reader.copied)?;
                reader.add(node, 0, at)?;
            }
            // Only emitted on request, which is not made; but it stands where a node would.
            Event::UnresolvedAlias(_) => return Err(unknown_anchor(at)),
            Event::SequenceStart(_, anchor, _) => {
                reader.open(at, anchor, Frame::List(Vec::new()))?;
            }
            Event::MappingStart(_, anchor, _) => {
                reader.open(at, anchor, Frame::Map(MapFrame::default()))?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                // The parser balances collections; an unbalanced end is ignored rather than
                // trusted.
                if let Some(open) = reader.stack.pop() {
                    let value = match open.frame {
                        Frame::List(items) => Value::List(items),
                        Frame::Map(map) => Value::Map(map.finish()?),
                    };
                    let node = Node {
                        line: open.line,
                        value,
                    };
                    // A collection is where it starts (a mapping key, say, is reported there).
                    reader.add(node, open.anchor, (open.line, open.column))?;
                }
            }
            _ => {}
        }
    }
    Ok(reader.out)
}

fn unknown_anchor((line, column): (usize, usize)) -> Problem {
    Problem::Syntax {
        line,
        column,
        problem: "alias references an unknown anchor".to_owned(),
    }
}

fn too_deep(line: usize) -> Problem {
    Problem::TooComplex {
        line,
        problem: format!("nesting is deeper than {MAX_DEPTH} levels"),
    }
}

fn scan_problem(error: &ScanError) -> Problem {
    let line = error.marker().line();
    if matches!(error.kind(), ErrorKind::RecursionLimitExceeded) {
        return too_deep(line);
    }
    // The parser's messages say what it expected, not what the input holds, except for this
    // one, whose character could be the start of a Secret's value: the column says where.
    let text = match error.kind() {
        ErrorKind::UnexpectedCharacter { .. } => "unexpected character".to_owned(),
        kind => kind.to_string(),
    };
    // In this crate's style: lowercase, no trailing period.
    let text = text.trim().trim_end_matches('.');
    let mut problem = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if c.is_control() {
            problem.push(' ');
        } else if i == 0 {
            problem.extend(c.to_lowercase());
        } else {
            problem.push(c);
        }
    }
    Problem::Syntax {
        line,
        column: error.marker().col().saturating_add(1),
        problem,
    }
}

/// The type YAML gives a scalar, as far as this module cares. Plain scalars are typed the way
/// `kubectl` types them (YAML 1.1: `yes` and `on` are booleans too), since that decides what
/// the API server receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Null,
    String,
    Boolean,
    Number,
    /// A plain `<<`: a merge key where a key stands, a string anywhere else.
    Merge,
}

fn resolve(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Scalar {
    if let Some(tag) = tag {
        for (suffix, scalar) in [
            ("str", Scalar::String),
            ("null", Scalar::Null),
            ("bool", Scalar::Boolean),
            ("int", Scalar::Number),
            ("float", Scalar::Number),
        ] {
            if tag.is_yaml_core_schema_tag(suffix) {
                return scalar;
            }
        }
    }
    if style != ScalarStyle::Plain {
        return Scalar::String;
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
        "true" | "True" | "TRUE" | "false" | "False" | "FALSE" | "yes" | "Yes" | "YES" | "no"
        | "No" | "NO" | "on" | "On" | "ON" | "off" | "Off" | "OFF" | "y" | "Y" | "n" | "N" => {
            Scalar::Boolean
        }
        "<<" => Scalar::Merge,
        _ if is_number(text) => Scalar::Number,
        _ => Scalar::String,
    }
}

/// YAML's integers (decimal, `0x`, `0o`, `0b`, with `_` separators) and floats (`1.0`, `.5`,
/// `1e3`, `.inf`, `.nan`).
fn is_number(text: &str) -> bool {
    fn digits(text: &str, radix: u32) -> bool {
        text.chars().all(|c| c == '_' || c.is_digit(radix)) && text.chars().any(|c| c != '_')
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unsigned.strip_prefix(prefix) {
            return digits(rest, radix);
        }
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (mantissa, ""),
    };
    let decimal = |t: &str| t.chars().all(|c| c == '_' || c.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    !whole.starts_with('_')
        && decimal(whole)
        && decimal(fraction)
        && mantissa.chars().any(|c| c.is_ascii_digit())
        && exponent_ok
}

/// A copy of an anchored node, for an alias (with the alias's line throughout) or for the anchor
/// table, to be placed inside `depth` collections. Every node copied counts against
/// [`MAX_EXPANDED_NODES`], and its nesting against [`MAX_DEPTH`]: aliases of aliases could
/// otherwise grow both without bound from a few lines of input.
fn copy<'a>(
    node: &Node<'a>,
    line: Option<usize>,
    depth: usize,
    copied: &mut usize,
) -> Result<Node<'a>, Problem> {
    let here = line.unwrap_or(node.line);
    *copied += 1;
    if *copied > MAX_EXPANDED_NODES {
        return Err(Problem::TooComplex {
            line: here,
            problem: format!("aliases expand to more than {MAX_EXPANDED_NODES} nodes"),
        });
    }
    let value = match &node.value {
        Value::Scalar(kind, text) => Value::Scalar(*kind, text.clone()),
        // The same bound as for collections read from the text (see `Reader::open`).
        _ if depth >= MAX_DEPTH => return Err(too_deep(here)),
        Value::List(items) => Value::List(
            items
                .iter()
                .map(|item| copy(item, line, depth + 1, copied))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(entries) => Value::Map(
            entries
                .iter()
                .map(|(key, value)| Ok((key.clone(), copy(value, line, depth + 1, copied)?)))
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Node { line: here, value })
}

#[derive(Default)]
struct Reader<'a> {
    /// The collections being read, outermost first.
    stack: Vec<Open<'a>>,
    /// Copies of the anchored nodes of the current document, by the parser's anchor id.
    anchors: HashMap<usize, Node<'a>>,
    /// Nodes copied for anchors and aliases so far in the file.
    copied: usize,
    out: Extraction,
}

/// A collection being read, with where it starts.
struct Open<'a> {
    line: usize,
    column: usize,
    anchor: usize,
    frame: Frame<'a>,
}

enum Frame<'a> {
    List(Vec<Node<'a>>),
    Map(MapFrame<'a>),
}

impl<'a> Reader<'a> {
    fn open(
        &mut self,
        (line, column): (usize, usize),
        anchor: usize,
        frame: Frame<'a>,
    ) -> Result<(), Problem> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(too_deep(line));
        }
        self.stack.push(Open {
            line,
            column,
            anchor,
            frame,
        });
        Ok(())
    }

    /// A complete node, at `at`: into its collection or, at the top, a document to read.
    fn add(&mut self, node: Node<'a>, anchor: usize, at: (usize, usize)) -> Result<(), Problem> {
        if anchor != 0 {
            let copy = copy(&node, None, self.stack.len(), &mut self.copied)?;
            self.anchors.insert(anchor, copy);
        }
        match self.stack.last_mut() {
            // An empty document.
            None if node.is_null() => Ok(()),
            None => object(&node, None, &mut self.out),
            Some(Open {
                frame: Frame::List(items),
                ..
            }) => {
                items.push(node);
                Ok(())
            }
            Some(Open {
                frame: Frame::Map(map),
                ..
            }) => map.add(node, at),
        }
    }
}

/// A mapping being read: its entries so far, and the key waiting for its value.
#[derive(Default)]
struct MapFrame<'a> {
    entries: Vec<(Cow<'a, str>, Node<'a>)>,
    /// The keys, once there are enough of them for a linear search to cost.
    index: Option<HashSet<Cow<'a, str>>>,
    /// The key read last, and whether it is a merge key.
    key: Option<(Cow<'a, str>, bool)>,
    /// The values of `<<:` entries, merged when the mapping ends.
    merges: Vec<Node<'a>>,
}

impl<'a> MapFrame<'a> {
    fn add(&mut self, node: Node<'a>, (line, column): (usize, usize)) -> Result<(), Problem> {
        match self.key.take() {
            Some((key, false)) => self.insert(key, node),
            Some((_, true)) => self.merges.push(node),
            None => {
                let found = node.value.name();
                let Value::Scalar(kind, key) = node.value else {
                    return Err(Problem::Syntax {
                        line,
                        column,
                        problem: format!("a mapping key must be a scalar, found a {found}"),
                    });
                };
                let merge = kind == Scalar::Merge;
                // As for kubectl: which of two values would count is anyone's guess.
                if !merge && self.contains(&key) {
                    return Err(Problem::Syntax {
                        line,
                        column,
                        problem: format!("duplicate key {key:?}"),
                    });
                }
                self.key = Some((key, merge));
            }
        }
        Ok(())
    }

    fn contains(&self, key: &str) -> bool {
        match &self.index {
            Some(index) => index.contains(key),
            None => self.entries.iter().any(|(k, _)| k == key),
        }
    }

    fn insert(&mut self, key: Cow<'a, str>, value: Node<'a>) {
        if let Some(index) = &mut self.index {
            index.insert(key.clone());
        } else if self.entries.len() >= 16 {
            let keys = self.entries.iter().map(|(k, _)| k.clone());
            self.index = Some(keys.chain([key.clone()]).collect());
        }
        self.entries.push((key, value));
    }

    /// The entries, merge keys applied: explicit keys win over merged ones, and earlier merge
    /// sources over later ones.
    fn finish(mut self) -> Result<Vec<(Cow<'a, str>, Node<'a>)>, Problem> {
        for merge in std::mem::take(&mut self.merges) {
            let sources = match merge.value {
                Value::List(items) => items,
                _ => vec![merge],
            };
            for source in sources {
                match source.value {
                    Value::Map(entries) => {
                        for (key, value) in entries {
                            if !self.contains(&key) {
                                self.insert(key, value);
                            }
                        }
                    }
                    Value::Scalar(Scalar::Null, _) => {}
                    other => {
                        return Err(Problem::InvalidField {
                            line: source.line,
                            field: "<<".to_owned(),
                            problem: format!(
                                "must be a mapping or a list of mappings, found a {}",
                                other.name()
                            ),
                        });
                    }
                }
            }
        }
        Ok(self.entries)
    }
}

/// A YAML node with the line it is written on. Scalars borrow from the input where they can.
#[derive(Debug)]
struct Node<'a> {
    line: usize,
    value: Value<'a>,
}

#[derive(Debug)]
enum Value<'a> {
    Scalar(Scalar, Cow<'a, str>),
    List(Vec<Node<'a>>),
    /// Entries in input order, without duplicates (they are refused).
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl Value<'_> {
    fn name(&self) -> &'static str {
        match self {
            Value::Scalar(Scalar::Null, _) => "null",
            Value::Scalar(Scalar::String | Scalar::Merge, _) => "string",
            Value::Scalar(Scalar::Boolean, _) => "boolean",
            Value::Scalar(Scalar::Number, _) => "number",
            Value::List(_) => "list",
            Value::Map(_) => "mapping",
        }
    }
}

impl<'a> Node<'a> {
    /// The value under `key` as written, `null` included; `None` when absent or not a mapping.
    fn entry(&self, key: &str) -> Option<&Node<'a>> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value under `key`, with `null` counting as absent (as it does for the API server).
    fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.entry(key).filter(|n| !n.is_null())
    }

    /// The string under `key`; `Err` carries the node when it is there but not a string.
    fn string(&self, key: &str) -> Result<Option<&str>, &Node<'a>> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => node.as_str().map(Some).ok_or(node),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(Scalar::String | Scalar::Merge, text) => Some(text),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.value, Value::Scalar(Scalar::Null, _))
    }

    fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }
}

/// A [`ManifestError`] before the file name is known.
#[derive(Debug)]
enum Problem {
    Syntax {
        line: usize,
        column: usize,
        problem: String,
    },
    TooComplex {
        line: usize,
        problem: String,
    },
    NotAnObject {
        line: usize,
        found: &'static str,
    },
    InvalidField {
        line: usize,
        field: String,
        problem: String,
    },
}

impl Problem {
    /// `field` must be a `wanted`, and `node` is not.
    fn wrong_type(field: impl Into<String>, wanted: &str, node: &Node<'_>) -> Problem {
        Problem::InvalidField {
            line: node.line,
            field: field.into(),
            problem: format!("must be a {wanted}, found a {}", node.value.name()),
        }
    }

    fn in_file(self, file: &str) -> ManifestError {
        let file = file.to_owned();
        match self {
            Problem::Syntax {
                line,
                column,
                problem,
            } => ManifestError::Syntax {
                file,
                line,
                column,
                problem,
            },
            Problem::TooComplex { line, problem } => ManifestError::TooComplex {
                file,
                line,
                problem,
            },
            Problem::NotAnObject { line, found } => {
                ManifestError::NotAnObject { file, line, found }
            }
            Problem::InvalidField {
                line,
                field,
                problem,
            } => ManifestError::InvalidField {
                file,
                line,
                field,
                problem,
            },
        }
    }
}

/// A string field: absent or null is `None`, anything but a string is an error naming `field`.
fn string_field<'a>(
    node: &'a Node<'_>,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, Problem> {
    node.string(key)
        .map_err(|bad| Problem::wrong_type(field, "string", bad))
}

/// The object's identity, from `metadata`.
struct Meta<'a> {
    namespace: &'a str,
    name: &'a str,
}

impl<'a> Meta<'a> {
    fn read(object: &'a Node<'_>) -> Result<Meta<'a>, Problem> {
        let Some(metadata) = object.get("metadata") else {
            return Ok(Meta {
                namespace: NO_NAMESPACE,
                name: "(unnamed)",
            });
        };
        if !metadata.is_map() {
            return Err(Problem::wrong_type("metadata", "mapping", metadata));
        }
        // An empty namespace is unset for the API server too; `extract_in` fills it in.
        let namespace = string_field(metadata, "namespace", "metadata.namespace")?
            .filter(|s| !s.is_empty())
            .unwrap_or(NO_NAMESPACE);
        let name = match string_field(metadata, "name", "metadata.name")?.filter(|s| !s.is_empty())
        {
            Some(name) => name,
            None => string_field(metadata, "generateName", "metadata.generateName")?
                .filter(|s| !s.is_empty())
                .unwrap_or("(unnamed)"),
        };
        Ok(Meta { namespace, name })
    }

    fn source(&self, kind: &str, line: usize) -> Source {
        Source {
            file: String::new(),
            line: Some(line),
            object: Some(format!("{kind}/{}/{}", self.namespace, self.name)),
            container: None,
        }
    }
}

/// Reads one object (a document or a `List` item) into `out`. `implied_kind` is the kind of a
/// typed list's items.
fn object(
    node: &Node<'_>,
    implied_kind: Option<&str>,
    out: &mut Extraction,
) -> Result<(), Problem> {
    match node.value {
        Value::Map(_) => {}
        // An empty `List` item, like an empty document.
        Value::Scalar(Scalar::Null, _) => return Ok(()),
        _ => {
            return Err(Problem::NotAnObject {
                line: node.line,
                found: node.value.name(),
            });
        }
    }
    let Some(kind) = string_field(node, "kind", "kind")?.or(implied_kind) else {
        return Ok(());
    };
    if kind.ends_with("List")
        && let Some(items) = node.get("items")
    {
        let Value::List(items) = &items.value else {
            return Err(Problem::wrong_type("items", "list", items));
        };
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        for item in items {
            object(item, item_kind, out)?;
        }
        return Ok(());
    }
    match kind {
        "Secret" => secret(node, out),
        "ServiceAccount" => service_account(node, out),
        "Pod" => workload(node, kind, &["spec"], out),
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => workload(node, kind, &["spec", "template", "spec"], out),
        "CronJob" => workload(
            node,
            kind,
            &["spec", "jobTemplate", "spec", "template", "spec"],
            out,
        ),
        "PodTemplate" => workload(node, kind, &["template", "spec"], out),
        _ => {
            const PATHS: [&[&str]; 2] = [
                &["spec", "template", "spec"],
                &["spec", "jobTemplate", "spec", "template", "spec"],
            ];
            for path in PATHS {
                let spec = path
                    .iter()
                    .try_fold(node, |at, key| at.get(key).filter(|n| n.is_map()));
                if let Some(spec) = spec
                    && spec
                        .get("containers")
                        .is_some_and(|c| matches!(c.value, Value::List(_)))
                {
                    let meta = Meta::read(node)?;
                    return pod_spec(spec, kind, &meta, out);
                }
            }
            Ok(())
        }
    }
}

/// A kind known to carry a pod spec at `path`: a step that is not a mapping is an error, a
/// missing one means there is nothing to pull.
fn workload(
    node: &Node<'_>,
    kind: &str,
    path: &[&str],
    out: &mut Extraction,
) -> Result<(), Problem> {
    let meta = Meta::read(node)?;
    let mut at = node;
    for (depth, key) in path.iter().enumerate() {
        let Some(next) = at.get(key) else {
            return Ok(());
        };
        if !next.is_map() {
            return Err(Problem::wrong_type(
                path[..=depth].join("."),
                "mapping",
                next,
            ));
        }
        at = next;
    }
    pod_spec(at, kind, &meta, out)
}

/// The platforms a pod is scheduled on, from what it requires of nodes: `nodeSelector` and the
/// `In` expressions of required node affinity on the well-known OS and architecture labels (the
/// `beta.` ones too). Scheduling fields of the wrong shape are the API server's to refuse: they
/// are ignored here rather than failing the file. The OS defaults to `linux`.
fn node_platforms(spec: &Node<'_>) -> Vec<String> {
    const OS: [&str; 2] = ["kubernetes.io/os", "beta.kubernetes.io/os"];
    const ARCH: [&str; 2] = ["kubernetes.io/arch", "beta.kubernetes.io/arch"];
    let mut oses: Vec<String> = Vec::new();
    let mut arches: Vec<String> = Vec::new();
    let mut note = |key: &str, value: &str| {
        let target = if OS.contains(&key) {
            &mut oses
        } else if ARCH.contains(&key) {
            &mut arches
        } else {
            return;
        };
        if !target.iter().any(|v| v == value) {
            target.push(value.to_owned());
        }
    };
    if let Some(Value::Map(entries)) = spec.get("nodeSelector").map(|n| &n.value) {
        for (key, value) in entries {
            if let Some(v) = value.as_str() {
                note(key, v);
            }
        }
    }
    let terms = spec
        .get("affinity")
        .and_then(|a| a.get("nodeAffinity"))
        .and_then(|n| n.get("requiredDuringSchedulingIgnoredDuringExecution"))
        .and_then(|r| r.get("nodeSelectorTerms"));
    if let Some(Value::List(terms)) = terms.map(|t| &t.value) {
        for term in terms {
            let Some(Value::List(exprs)) = term.get("matchExpressions").map(|e| &e.value) else {
                continue;
            };
            for expr in exprs {
                let (Some(key), Some("In")) = (
                    expr.get("key").and_then(Node::as_str),
                    expr.get("operator").and_then(Node::as_str),
                ) else {
                    continue;
                };
                if let Some(Value::List(values)) = expr.get("values").map(|v| &v.value) {
                    for v in values.iter().filter_map(Node::as_str) {
                        note(key, v);
                    }
                }
            }
        }
    }
    if arches.is_empty() {
        return Vec::new();
    }
    if oses.is_empty() {
        oses.push("linux".to_owned());
    }
    oses.iter()
        .flat_map(|os| arches.iter().map(move |arch| format!("{os}/{arch}")))
        .collect()
}

fn pod_spec(
    spec: &Node<'_>,
    kind: &str,
    meta: &Meta<'_>,
    out: &mut Extraction,
) -> Result<(), Problem> {
    let image_pull_secrets = pull_secret_names(spec)?;
    // An empty name is unset for the API server, which then looks at the next field.
    let service_account = match string_field(spec, "serviceAccountName", "serviceAccountName")?
        .filter(|s| !s.is_empty())
    {
        Some(name) => name,
        None => string_field(spec, "serviceAccount", "serviceAccount")?
            .filter(|s| !s.is_empty())
            .unwrap_or("default"),
    };
    let object = format!("{kind}/{}/{}", meta.namespace, meta.name);
    let node_platforms = node_platforms(spec);
    let lists = [
        ("initContainers", ContainerKind::Init),
        ("containers", ContainerKind::Container),
        ("ephemeralContainers", ContainerKind::Ephemeral),
    ];
    for (key, container_kind) in lists {
        let Some(list) = spec.get(key) else {
            continue;
        };
        let Value::List(containers) = &list.value else {
            return Err(Problem::wrong_type(key, "list", list));
        };
        for (index, container) in containers.iter().enumerate() {
            if !container.is_map() {
                return Err(Problem::wrong_type(
                    format!("{key}[{index}]"),
                    "mapping",
                    container,
                ));
            }
            let name = string_field(container, "name", "name")?;
            let pull_policy = string_field(container, "imagePullPolicy", "imagePullPolicy")?;
            // `entry`, not `get`: `image: null` is a wrong type here, not an absent image.
            let Some(image) = container.entry("image") else {
                continue;
            };
            let Some(reference) = image.as_str() else {
                return Err(Problem::wrong_type("image", "string", image));
            };
            out.images.push(ImageUse {
                reference: reference.to_owned(),
                source: Source {
                    file: String::new(),
                    line: Some(image.line),
                    object: Some(object.clone()),
                    container: name.map(str::to_owned),
                },
                namespace: meta.namespace.to_owned(),
                image_pull_secrets: image_pull_secrets.clone(),
                service_account: service_account.to_owned(),
                pull_policy: pull_policy.map(str::to_owned),
                container_kind,
                node_platforms: node_platforms.clone(),
            });
        }
    }
    Ok(())
}

/// `imagePullSecrets: [{name: …}]` of a pod spec or a `ServiceAccount`. Entries without a name
/// are skipped (the API server accepts and ignores them).
fn pull_secret_names(node: &Node<'_>) -> Result<Vec<String>, Problem> {
    let Some(list) = node.get("imagePullSecrets") else {
        return Ok(Vec::new());
    };
    let Value::List(items) = &list.value else {
        return Err(Problem::wrong_type("imagePullSecrets", "list", list));
    };
    let mut names = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match &item.value {
            Value::Scalar(Scalar::Null, _) => {}
            // `imagePullSecrets: [regcred]` is a common slip, and kubectl refuses it too.
            Value::Map(_) => {
                let name = item.string("name").map_err(|bad| {
                    Problem::wrong_type(format!("imagePullSecrets[{index}].name"), "string", bad)
                })?;
                if let Some(name) = name.filter(|n| !n.is_empty()) {
                    names.push(name.to_owned());
                }
            }
            _ => {
                return Err(Problem::wrong_type(
                    format!("imagePullSecrets[{index}]"),
                    "mapping",
                    item,
                ));
            }
        }
    }
    Ok(names)
}

fn secret(node: &Node<'_>, out: &mut Extraction) -> Result<(), Problem> {
    let meta = Meta::read(node)?;
    let secret_type = string_field(node, "type", "type")?.map(str::to_owned);
    let data = string_map(node, "data")?;
    let string_data = string_map(node, "stringData")?;
    out.secrets.push(SecretObject {
        namespace: meta.namespace.to_owned(),
        name: meta.name.to_owned(),
        secret_type,
        data,
        string_data,
        source: meta.source("Secret", node.line),
    });
    Ok(())
}

/// A Secret's `data` or `stringData`. A null value is an empty one, as for the API server.
fn string_map(node: &Node<'_>, key: &str) -> Result<BTreeMap<String, String>, Problem> {
    let mut map = BTreeMap::new();
    let Some(field) = node.get(key) else {
        return Ok(map);
    };
    let Value::Map(entries) = &field.value else {
        return Err(Problem::wrong_type(key, "mapping", field));
    };
    for (name, value) in entries {
        let text = match value.as_str() {
            Some(text) => text.to_owned(),
            None if value.is_null() => String::new(),
            // Names the key and the type only: the value is a credential.
            None => {
                return Err(Problem::wrong_type(
                    format!("{key}.{name}"),
                    "string",
                    value,
                ));
            }
        };
        map.insert(name.clone().into_owned(), text);
    }
    Ok(map)
}

fn service_account(node: &Node<'_>, out: &mut Extraction) -> Result<(), Problem> {
    let meta = Meta::read(node)?;
    let image_pull_secrets = pull_secret_names(node)?;
    out.service_accounts.push(ServiceAccountObject {
        namespace: meta.namespace.to_owned(),
        name: meta.name.to_owned(),
        image_pull_secrets,
        source: meta.source("ServiceAccount", node.line),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/manifests"
    );

    fn fixture(name: &str) -> Result<Extraction, ManifestError> {
        let path = format!("{FIXTURES}/{name}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        extract(name, &text)
    }

    fn ok(name: &str) -> Extraction {
        let extraction = fixture(name).unwrap_or_else(|e| panic!("{e}"));
        let files = extraction
            .images
            .iter()
            .map(|i| &i.source)
            .chain(extraction.secrets.iter().map(|s| &s.source))
            .chain(extraction.service_accounts.iter().map(|s| &s.source));
        for source in files {
            assert_eq!(source.file, name);
        }
        extraction
    }

    /// One line per image use, every field in it, so that a whole fixture reads at a glance.
    fn rows(extraction: &Extraction) -> Vec<String> {
        extraction
            .images
            .iter()
            .map(|i| {
                format!(
                    "{} @{} {} {} ns={} secrets={} sa={} policy={} {:?}",
                    i.reference,
                    i.source.line.map_or("?".to_owned(), |l| l.to_string()),
                    i.source.object.as_deref().unwrap_or("?"),
                    i.source.container.as_deref().unwrap_or("-"),
                    i.namespace,
                    i.image_pull_secrets.join(","),
                    i.service_account,
                    i.pull_policy.as_deref().unwrap_or("-"),
                    i.container_kind,
                )
            })
            .collect()
    }

    fn err(name: &str, text: &str) -> ManifestError {
        match extract(name, text) {
            Ok(e) => panic!("expected an error, got {e:?}"),
            Err(e) => e,
        }
    }

    fn images(text: &str) -> Vec<String> {
        rows(&extract("t.yaml", text).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn workloads_of_every_kind() {
        let e = ok("workloads.yaml");
        assert_eq!(
            rows(&e),
            [
                "busybox:1.36 @15 Pod/shop/debug-shell wait-db ns=shop secrets=regcred sa=builder policy=- Init",
                "registry.example.com/tools/shell:2.0 @18 Pod/shop/debug-shell shell ns=shop secrets=regcred sa=builder policy=Always Container",
                "nicolaka/netshoot@sha256:0000000000000000000000000000000000000000000000000000000000000000 @22 Pod/shop/debug-shell debugger ns=shop secrets=regcred sa=builder policy=- Ephemeral",
                "registry.example.com/shop/payment-app:v2.1.3 @41 Deployment/shop/payment-app app ns=shop secrets=regcred,backup-cred sa=default policy=- Container",
                "envoyproxy/envoy:v1.30.1 @43 Deployment/shop/payment-app sidecar ns=shop secrets=regcred,backup-cred sa=default policy=IfNotPresent Container",
                "nginx @57 ReplicaSet/default/legacy-rs web ns=default secrets= sa=old-style policy=- Container",
                "alpine:3.19 @69 StatefulSet/data/db init-perms ns=data secrets= sa=default policy=- Init",
                "postgres:16 @72 StatefulSet/data/db postgres ns=data secrets= sa=default policy=- Container",
                "quay.io/prometheus/node-exporter:v1.8.0 @84 DaemonSet/kube-system/node-agent agent ns=kube-system secrets= sa=default policy=- Container",
                "registry.example.com/shop/migrate:v2.1.3 @96 Job/shop/migrate- migrate ns=shop secrets= sa=default policy=- Container",
                "gcr.io/google-samples/hello-app:1.0 @108 ReplicationController/default/old-rc app ns=default secrets= sa=default policy=- Container",
                "registry.example.com/shop/report:latest @124 CronJob/shop/nightly-report report ns=shop secrets= sa=reporter policy=- Container",
                "ghcr.io/example/worker:1.4 @136 PodTemplate/shop/worker-template worker ns=shop secrets= sa=default policy=- Container",
            ]
        );
        assert_eq!(
            e.secrets,
            [SecretObject {
                namespace: "shop".into(),
                name: "regcred".into(),
                secret_type: Some("kubernetes.io/dockerconfigjson".into()),
                data: BTreeMap::from([(".dockerconfigjson".into(), "eyJhdXRocyI6e319".into())]),
                string_data: BTreeMap::new(),
                source: Source {
                    file: "workloads.yaml".into(),
                    line: Some(138),
                    object: Some("Secret/shop/regcred".into()),
                    container: None,
                },
            }]
        );
        assert_eq!(
            e.service_accounts,
            [ServiceAccountObject {
                namespace: "shop".into(),
                name: "builder".into(),
                image_pull_secrets: vec!["regcred".into()],
                source: Source {
                    file: "workloads.yaml".into(),
                    line: Some(147),
                    object: Some("ServiceAccount/shop/builder".into()),
                    container: None,
                },
            }]
        );
    }

    #[test]
    fn lists_and_typed_lists() {
        let e = ok("list.yaml");
        assert_eq!(
            rows(&e),
            [
                "nginx:1.27 @14 Deployment/web/frontend web ns=web secrets= sa=default policy=- Container",
                "ghcr.io/example/api:3.2 @37 Deployment/web/api api ns=web secrets= sa=default policy=- Container",
                "ghcr.io/example/worker:3.2 @45 Deployment/default/worker worker ns=default secrets= sa=default policy=- Container",
            ]
        );
        assert_eq!(e.secrets.len(), 1);
        let tls = &e.secrets[0];
        assert_eq!(
            (
                tls.namespace.as_str(),
                tls.name.as_str(),
                tls.secret_type.as_deref()
            ),
            ("web", "tls", Some("kubernetes.io/tls"))
        );
        assert!(tls.data.is_empty());
        assert_eq!(
            tls.string_data,
            BTreeMap::from([
                ("tls.crt".into(), "CERT".into()),
                ("tls.key".into(), "KEY".into())
            ])
        );
        assert_eq!(tls.source.line, Some(15));
        assert_eq!(tls.source.object.as_deref(), Some("Secret/web/tls"));
        assert!(e.service_accounts.is_empty());
    }

    #[test]
    fn argo_rollout() {
        let e = ok("crd-rollout.yaml");
        assert_eq!(
            rows(&e),
            [
                "registry.example.com/shop/checkout:v1.9.0 @21 Rollout/shop/checkout checkout ns=shop secrets= sa=checkout policy=- Container"
            ]
        );
        assert!(e.secrets.is_empty() && e.service_accounts.is_empty());
    }

    #[test]
    fn knative_service() {
        let e = ok("knative.yaml");
        // Knative lets the single container go unnamed.
        assert_eq!(
            rows(&e),
            [
                "ghcr.io/knative/helloworld-go:latest @15 Service/serverless/hello - ns=serverless secrets=ghcr sa=default policy=- Container"
            ]
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let e = ok("anchors.yaml");
        // Through an alias or a merge key, the line is that of the alias or the `<<:` entry.
        assert_eq!(
            rows(&e),
            [
                "registry.example.com/shop/app:v3 @17 Deployment/shop/blue app ns=shop secrets= sa=default policy=IfNotPresent Container",
                "registry.example.com/shop/app:v3 @20 Deployment/shop/blue metrics ns=shop secrets= sa=default policy=- Container",
                "registry.example.com/shop/app:v3 @30 Deployment/shop/green app ns=shop secrets= sa=default policy=IfNotPresent Container",
                "registry.example.com/shop/app:v4-rc1 @33 Deployment/shop/green app-canary ns=shop secrets= sa=default policy=IfNotPresent Container",
                "registry.example.com/shop/app:v3 @34 Deployment/shop/green app-merged ns=shop secrets= sa=default policy=IfNotPresent Container",
            ]
        );
    }

    #[test]
    fn json_deployment() {
        let e = ok("deploy.json");
        assert_eq!(
            e,
            Extraction {
                images: vec![ImageUse {
                    reference: "registry.example.com/shop/json-app:1.0.0".into(),
                    source: Source {
                        file: "deploy.json".into(),
                        line: Some(15),
                        object: Some("Deployment/shop/json-app".into()),
                        container: Some("app".into()),
                    },
                    namespace: "shop".into(),
                    image_pull_secrets: vec!["regcred".into()],
                    service_account: "default".into(),
                    pull_policy: Some("Always".into()),
                    container_kind: ContainerKind::Container,
                    node_platforms: vec![],
                }],
                secrets: vec![],
                service_accounts: vec![],
            }
        );
    }

    #[test]
    fn empty_documents_are_skipped() {
        assert_eq!(
            rows(&ok("empty-docs.yaml")),
            ["busybox @14 Pod/default/lone c ns=default secrets= sa=default policy=- Container"]
        );
        assert_eq!(extract("-", "").ok(), Some(Extraction::default()));
        assert_eq!(
            extract("-", "---\n# nothing\n---\n~\n...\n").ok(),
            Some(Extraction::default())
        );
    }

    #[test]
    fn bad_syntax() {
        let e = fixture("bad-syntax.yaml").unwrap_err();
        assert!(
            matches!(
                &e,
                ManifestError::Syntax {
                    line: 9,
                    column: 6,
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "bad-syntax.yaml:9:6: while parsing a block collection, did not find expected '-' indicator"
        );
    }

    #[test]
    fn top_level_list() {
        let e = fixture("not-object.yaml").unwrap_err();
        assert!(
            matches!(
                &e,
                ManifestError::NotAnObject {
                    line: 11,
                    found: "list",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "not-object.yaml:11: a document must be a Kubernetes object (a mapping), found a list"
        );
    }

    #[test]
    fn image_mapping() {
        let e = fixture("image-not-string.yaml").unwrap_err();
        assert!(
            matches!(&e, ManifestError::InvalidField { line: 10, field, .. } if field == "image"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "image-not-string.yaml:10: image must be a string, found a mapping"
        );
    }

    #[test]
    fn image_float() {
        let e = fixture("image-float.yaml").unwrap_err();
        assert!(
            matches!(&e, ManifestError::InvalidField { line: 8, field, .. } if field == "image"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "image-float.yaml:8: image must be a string, found a number"
        );
        // Quoted, it is a string like any other.
        assert_eq!(
            images("kind: Pod\nspec:\n  containers:\n    - image: \"1.0\"\n"),
            ["1.0 @4 Pod/default/(unnamed) - ns=default secrets= sa=default policy=- Container"]
        );
    }

    #[test]
    fn alias_bomb() {
        let e = fixture("alias-bomb.yaml").unwrap_err();
        assert!(
            matches!(&e, ManifestError::TooComplex { line: 7, .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "alias-bomb.yaml:7: aliases expand to more than 1000000 nodes"
        );
    }

    #[test]
    fn discover_walks_sorted_and_filtered() {
        let dir = Path::new(FIXTURES).join("dir");
        assert_eq!(
            discover(&dir).unwrap(),
            [dir.join("a.yaml"), dir.join("b").join("c.yml")]
        );
        // A file given directly is taken whatever its extension.
        let txt = dir.join("ignored.txt");
        assert_eq!(discover(&txt).unwrap(), [txt]);
        let missing = dir.join("missing.yaml");
        let e = discover(&missing).unwrap_err();
        assert!(matches!(&e, ManifestError::Read { path, .. } if *path == missing));
        assert_eq!(e.to_string(), format!("cannot read {}", missing.display()));
    }

    #[cfg(unix)]
    #[test]
    fn discover_survives_symlink_loops() {
        use std::os::unix::fs::symlink;

        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x.yaml"), "kind: Pod\n").unwrap();
        std::fs::write(root.path().join("top.json"), "{}").unwrap();
        symlink(root.path(), sub.join("loop")).unwrap();
        symlink(sub.join("x.yaml"), root.path().join("link.yml")).unwrap();
        symlink(
            root.path().join("nowhere"),
            root.path().join("dangling.txt"),
        )
        .unwrap();
        assert_eq!(
            discover(root.path()).unwrap(),
            [
                root.path().join("link.yml"),
                sub.join("x.yaml"),
                root.path().join("top.json"),
            ]
        );
        symlink(
            root.path().join("nowhere"),
            root.path().join("dangling.yaml"),
        )
        .unwrap();
        assert!(matches!(
            discover(root.path()),
            Err(ManifestError::Read { path, .. }) if path == root.path().join("dangling.yaml")
        ));
    }

    #[test]
    fn image_lines_point_at_the_value() {
        // In a flow mapping spread over lines, the line of the value, not of the key or `{`.
        assert_eq!(
            images("kind: Pod\nspec:\n  containers: [{name: a,\n    image:\n      b}]\n"),
            ["b @5 Pod/default/(unnamed) a ns=default secrets= sa=default policy=- Container"]
        );
        // Windows line ends, a byte order mark.
        assert_eq!(
            images(
                "\u{feff}kind: Pod\r\nspec:\r\n  containers:\r\n  - name: a\r\n    image: x\r\n"
            ),
            ["x @5 Pod/default/(unnamed) a ns=default secrets= sa=default policy=- Container"]
        );
        // JSON indented with tabs, which YAML would refuse as indentation.
        assert_eq!(
            images(
                "{\n\t\"kind\": \"Pod\",\n\t\"spec\": {\"containers\": [\n\t\t{\"image\": \"x\"}\n\t]}\n}\n"
            ),
            ["x @4 Pod/default/(unnamed) - ns=default secrets= sa=default policy=- Container"]
        );
    }

    #[test]
    fn what_is_ignored() {
        // No kind; no pod spec; no image; an unknown kind whose fields only look alike.
        let text = "metadata: {name: x}\nspec: {containers: [{image: a}]}\n---\n\
                    kind: ConfigMap\ndata: {image: b}\n---\n\
                    kind: Pod\nspec: {containers: [{name: no-image}]}\n---\n\
                    kind: Widget\nspec: {template: {spec: {containers: {image: c}}}}\n---\n\
                    kind: Widget\nspec: {template: [1]}\n---\n\
                    kind: Deployment\nspec: {replicas: 1}\n";
        assert_eq!(extract("t.yaml", text).ok(), Some(Extraction::default()));
    }

    #[test]
    fn other_kinds_with_a_pod_template() {
        // KEDA's ScaledJob carries a Job template.
        assert_eq!(
            images(
                "kind: ScaledJob\nmetadata: {name: q, namespace: jobs}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: w, image: worker}]\n"
            ),
            ["worker @8 ScaledJob/jobs/q w ns=jobs secrets= sa=default policy=- Container"]
        );
    }

    #[test]
    fn names_namespaces_and_service_accounts() {
        // Null and empty count as unset; generateName stands in for a missing name.
        assert_eq!(
            images(
                "kind: Pod\nmetadata: {namespace: ~, generateName: run-}\nspec:\n  serviceAccountName: ''\n  serviceAccount: legacy\n  imagePullSecrets: [{name: a}, {}, ~, {name: ''}, {name: b}]\n  containers: [{image: x}]\n"
            ),
            ["x @7 Pod/default/run- - ns=default secrets=a,b sa=legacy policy=- Container"]
        );
        assert_eq!(
            images(
                "kind: Pod\nmetadata: {namespace: '', name: p}\nspec: {containers: [{image: x}]}\n"
            ),
            ["x @3 Pod/default/p - ns=default secrets= sa=default policy=- Container"]
        );
    }

    #[test]
    fn invalid_fields() {
        let cases = [
            (
                "kind: Pod\nspec:\n  containers:\n    image: x\n",
                "t.yaml:4: containers must be a list, found a mapping",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - nginx\n",
                "t.yaml:4: containers[0] must be a mapping, found a string",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - image:\n",
                "t.yaml:4: image must be a string, found a null",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - {image: [a]}\n",
                "t.yaml:4: image must be a string, found a list",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - {name: 7, image: a}\n",
                "t.yaml:4: name must be a string, found a number",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - {imagePullPolicy: true, image: a}\n",
                "t.yaml:4: imagePullPolicy must be a string, found a boolean",
            ),
            (
                "kind: Pod\nspec:\n  imagePullSecrets: [regcred]\n  containers: []\n",
                "t.yaml:3: imagePullSecrets[0] must be a mapping, found a string",
            ),
            (
                "kind: Pod\nspec:\n  imagePullSecrets: {name: regcred}\n",
                "t.yaml:3: imagePullSecrets must be a list, found a mapping",
            ),
            (
                "kind: Pod\nspec:\n  serviceAccountName: {a: b}\n",
                "t.yaml:3: serviceAccountName must be a string, found a mapping",
            ),
            (
                "kind: Pod\nmetadata:\n  name: [a]\nspec: {}\n",
                "t.yaml:3: metadata.name must be a string, found a list",
            ),
            (
                "kind: Pod\nmetadata: x\n",
                "t.yaml:2: metadata must be a mapping, found a string",
            ),
            (
                "kind: [Pod]\n",
                "t.yaml:1: kind must be a string, found a list",
            ),
            (
                "kind: Deployment\nspec:\n  template: []\n",
                "t.yaml:3: spec.template must be a mapping, found a list",
            ),
            (
                "kind: Pod\nspec: 3\n",
                "t.yaml:2: spec must be a mapping, found a number",
            ),
            (
                "kind: List\nitems: {}\n",
                "t.yaml:2: items must be a list, found a mapping",
            ),
            (
                "kind: ServiceAccount\nimagePullSecrets: [{name: 1}]\n",
                "t.yaml:2: imagePullSecrets[0].name must be a string, found a number",
            ),
            (
                "kind: Secret\ntype: 1\n",
                "t.yaml:2: type must be a string, found a number",
            ),
            (
                "kind: Secret\ndata: []\n",
                "t.yaml:2: data must be a mapping, found a list",
            ),
        ];
        for (text, message) in cases {
            let e = err("t.yaml", text);
            assert!(matches!(e, ManifestError::InvalidField { .. }), "{e:?}");
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn documents_that_are_not_objects() {
        for (text, message) in [
            (
                "hello\n",
                "t.yaml:1: a document must be a Kubernetes object (a mapping), found a string",
            ),
            (
                "kind: Pod\n---\n\n42\n",
                "t.yaml:4: a document must be a Kubernetes object (a mapping), found a number",
            ),
            (
                "kind: List\nitems:\n  - true\n",
                "t.yaml:3: a document must be a Kubernetes object (a mapping), found a boolean",
            ),
        ] {
            let e = err("t.yaml", text);
            assert!(matches!(e, ManifestError::NotAnObject { .. }), "{e:?}");
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn syntax_errors() {
        for (text, message) in [
            (
                "kind: Pod\nkind: Pod\n",
                "t.yaml:2:1: duplicate key \"kind\"",
            ),
            (
                "kind: Pod\nspec: *nowhere\n",
                "t.yaml:2:7: while parsing node, found unknown anchor",
            ),
            (
                "kind: Pod\nspec: [a, b\n",
                "t.yaml:2:7: unclosed bracket '['",
            ),
            (
                "kind: Pod\n? [a]\n: b\n",
                "t.yaml:2:3: a mapping key must be a scalar, found a list",
            ),
        ] {
            let e = err("t.yaml", text);
            assert!(matches!(e, ManifestError::Syntax { .. }), "{e:?}");
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn limits() {
        let nested = |depth: usize| {
            format!(
                "kind: Pod\nx: {}{}\n",
                "[".repeat(depth - 1),
                "]".repeat(depth - 1)
            )
        };
        // At the limit, built by recursion on a test thread's 2 MiB stack.
        assert!(extract("t.yaml", &nested(MAX_DEPTH)).is_ok());
        for text in [nested(MAX_DEPTH + 1), nested(100_000)] {
            let e = err("t.yaml", &text);
            assert!(
                matches!(e, ManifestError::TooComplex { line: 2, .. }),
                "{e:?}"
            );
            assert_eq!(e.to_string(), "t.yaml:2: nesting is deeper than 100 levels");
        }
        let mut block = String::from("kind: Pod\n");
        for indent in 0..1000 {
            block.push_str(&" ".repeat(indent));
            block.push_str("a:\n");
        }
        let e = err("t.yaml", &block);
        assert_eq!(
            e.to_string(),
            "t.yaml:102: nesting is deeper than 100 levels"
        );
        let e = err("t.yaml", "kind: Pod\nx: &x [*x]\n");
        assert!(
            matches!(e, ManifestError::TooComplex { line: 2, .. }),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "t.yaml:2: an alias refers to a node that contains it"
        );
    }

    #[test]
    fn scalar_types() {
        for (text, expected) in [
            ("1.0", Scalar::Number),
            ("1", Scalar::Number),
            ("-42", Scalar::Number),
            ("+1_000", Scalar::Number),
            ("0x1F", Scalar::Number),
            ("0o17", Scalar::Number),
            ("0b101", Scalar::Number),
            (".5", Scalar::Number),
            ("1.", Scalar::Number),
            ("1e3", Scalar::Number),
            ("6.02E+23", Scalar::Number),
            ("-.inf", Scalar::Number),
            (".NaN", Scalar::Number),
            ("yes", Scalar::Boolean),
            ("Off", Scalar::Boolean),
            ("n", Scalar::Boolean),
            ("~", Scalar::Null),
            ("", Scalar::Null),
            ("nginx", Scalar::String),
            ("nginx:1.27", Scalar::String),
            ("1.2.3", Scalar::String),
            ("v1", Scalar::String),
            ("1e", Scalar::String),
            ("e1", Scalar::String),
            (".", Scalar::String),
            ("-", Scalar::String),
            ("_1", Scalar::String),
            ("0x", Scalar::String),
            ("-.nan", Scalar::String),
            ("12:30", Scalar::String),
            ("2024-01-01", Scalar::String),
        ] {
            assert_eq!(
                resolve(text, ScalarStyle::Plain, None),
                expected,
                "{text:?}"
            );
        }
        assert_eq!(
            resolve("1.0", ScalarStyle::DoubleQuoted, None),
            Scalar::String
        );
        assert_eq!(
            resolve("yes", ScalarStyle::SingleQuoted, None),
            Scalar::String
        );
        // Explicit tags win over the text.
        assert_eq!(
            images("kind: Pod\nspec: {containers: [{image: !!str 1.0}]}\n"),
            ["1.0 @2 Pod/default/(unnamed) - ns=default secrets= sa=default policy=- Container"]
        );
        assert_eq!(
            err(
                "t.yaml",
                "kind: Pod\nspec: {containers: [{image: !!int \"7\"}]}\n"
            )
            .to_string(),
            "t.yaml:2: image must be a string, found a number"
        );
        // A tag of another schema changes nothing.
        assert_eq!(
            images("kind: Pod\nspec: {containers: [{image: !custom nginx}]}\n"),
            ["nginx @2 Pod/default/(unnamed) - ns=default secrets= sa=default policy=- Container"]
        );
    }

    #[test]
    fn merge_keys() {
        // Explicit keys win wherever they stand; earlier merge sources win over later ones.
        let text = "kind: Pod\nx:\n  - &a {name: a, image: ia, imagePullPolicy: Always}\n  - &b {name: b, image: ib}\nspec:\n  containers:\n    - name: mine\n      <<: [*b, *a]\n";
        assert_eq!(
            images(text),
            [
                "ib @8 Pod/default/(unnamed) mine ns=default secrets= sa=default policy=Always Container"
            ]
        );
        // A quoted `<<` is an ordinary key.
        let text = "kind: Pod\nspec:\n  containers:\n    - {\"<<\": {image: merged}, name: c}\n";
        assert_eq!(images(text), Vec::<String>::new());
        let e = err("t.yaml", "kind: Pod\nspec:\n  <<: [{a: b}, 3]\n");
        assert!(
            matches!(&e, ManifestError::InvalidField { field, .. } if field == "<<"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "t.yaml:3: << must be a mapping or a list of mappings, found a number"
        );
    }

    #[test]
    fn duplicate_keys_in_large_mappings() {
        use std::fmt::Write as _;

        let mut text = String::from("kind: ConfigMap\ndata:\n");
        for i in 0..100 {
            let _ = writeln!(text, "  k{i}: v");
        }
        assert!(extract("t.yaml", &text).is_ok());
        text.push_str("  k42: again\n");
        assert_eq!(
            err("t.yaml", &text).to_string(),
            "t.yaml:103:3: duplicate key \"k42\""
        );
        // A merged key that is also written is not a duplicate.
        assert!(extract("t.yaml", "a: &a {k: 1}\nb: {<<: *a, k: 2}\n").is_ok());
    }

    #[test]
    fn aliases_cannot_nest_past_the_limit() {
        // Each line aliases the one before inside 30 more levels: `d` would be 121 deep.
        let wrap = |inner: &str| format!("{}{inner}{}", "[".repeat(30), "]".repeat(30));
        let text = format!(
            "kind: Pod\na: &a {}\nb: &b {}\nc: &c {}\nd: {}\n",
            wrap("x"),
            wrap("*a"),
            wrap("*b"),
            wrap("*c")
        );
        let e = err("t.yaml", &text);
        assert!(
            matches!(e, ManifestError::TooComplex { line: 5, .. }),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "t.yaml:5: nesting is deeper than 100 levels");
    }

    #[test]
    fn no_panic_on_mangled_input() {
        // A small deterministic fuzzer: fixtures with YAML's special characters inserted,
        // replaced and removed at pseudo-random places.
        const SPECIAL: &[&str] = &[
            "\n", " ", "  ", "\t", ":", "- ", "-", "[", "]", "{", "}", ",", "&a ", "*a", "*", "&",
            "<<: ", "!", "!!", "'", "\"", "|", ">", "#", "%", "@", "`", "?", "---\n", "...\n",
            "\\", "\u{feff}", "é", "\r", "\0",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            usize::try_from(seed % u64::try_from(bound.max(1)).unwrap_or(1)).unwrap_or(0)
        };
        for name in ["workloads.yaml", "anchors.yaml", "deploy.json", "list.yaml"] {
            let original = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
            for _ in 0..300 {
                let mut text = original.clone();
                for _ in 0..=next(4) {
                    let mut at = next(text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    let mut end = (at + next(8)).min(text.len());
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    match next(3) {
                        0 => text.insert_str(at, SPECIAL[next(SPECIAL.len())]),
                        1 => text.replace_range(at..end, SPECIAL[next(SPECIAL.len())]),
                        _ => text.replace_range(at..end, ""),
                    }
                }
                if let Err(e) = extract(name, &text) {
                    // Whatever went wrong, the message is one line in this crate's style.
                    let message = e.to_string();
                    assert!(
                        !message.contains('\n') && !message.ends_with('.'),
                        "{message:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn secrets_never_leak() {
        let text = "kind: Secret\nmetadata: {name: s}\ndata:\n  y: czNjcjN0\nstringData:\n  password: hunter2\n";
        let e = extract("t.yaml", text).unwrap();
        // `y` stays a key, not the YAML 1.1 boolean.
        assert_eq!(
            e.secrets[0].data,
            BTreeMap::from([("y".into(), "czNjcjN0".into())])
        );
        let debug = format!("{e:?}");
        assert!(
            debug.contains("\"password\"") && debug.contains("\"y\""),
            "{debug}"
        );
        assert!(
            !debug.contains("hunter2") && !debug.contains("czNjcjN0"),
            "{debug}"
        );

        let e = err("t.yaml", "kind: Secret\nstringData:\n  port: 5432\n");
        assert_eq!(
            e.to_string(),
            "t.yaml:3: stringData.port must be a string, found a number"
        );
        for text in [
            "kind: Secret\ndata:\n  a: \"hunter2\\q\"\n",
            "kind: Secret\ndata:\n  a: \"hunter2\n",
            "kind: Secret\ndata:\n  a: hunter2\n  a: hunter2\n",
            "kind: Secret\ndata:\n  a: hunter2\n b: x\n",
            "kind: Secret\ndata:\n  a: @hunter2\n",
        ] {
            let e = err("t.yaml", text);
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
        }
    }

    #[test]
    fn merge_appends() {
        let mut all = ok("crd-rollout.yaml");
        all.merge(ok("knative.yaml"));
        assert_eq!(all.images.len(), 2);
        assert_eq!(all.images[1].source.file, "knative.yaml");
    }

    #[test]
    fn no_panic_on_truncated_input() {
        // Every prefix of real manifests: unterminated scalars, collections, aliases, escapes.
        for name in ["anchors.yaml", "deploy.json", "list.yaml"] {
            let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
            for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                let _ = extract(name, &text[..end]);
            }
        }
    }

    #[test]
    fn ten_thousand_deployments() {
        use std::fmt::Write as _;

        let mut text = String::new();
        for i in 0..10_000 {
            let _ = write!(
                text,
                "---\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: ns}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app-{i}:v1\n"
            );
        }
        let e = extract("big.yaml", &text).unwrap();
        assert_eq!(e.images.len(), 10_000);
        let last = &e.images[9_999];
        assert_eq!(last.reference, "registry.example.com/app-9999:v1");
        assert_eq!(last.source.line, Some(9 * 10_000));
    }

    #[test]
    fn node_platforms_come_from_selectors_and_required_affinity() {
        let text = "kind: Pod\nmetadata: {name: p}\nspec:\n  nodeSelector: {kubernetes.io/os: linux, kubernetes.io/arch: arm64, disk: ssd}\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n          - matchExpressions:\n              - {key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}\n              - {key: kubernetes.io/arch, operator: NotIn, values: [s390x]}\n  containers:\n    - {name: a, image: app:v1}\n";
        let e = extract("p.yaml", text).unwrap();
        assert_eq!(e.images[0].node_platforms, ["linux/arm64", "linux/amd64"]);
        let plain = extract(
            "p.yaml",
            "kind: Pod\nspec:\n  nodeSelector: {disk: ssd}\n  containers: [{name: a, image: x}]\n",
        )
        .unwrap();
        assert!(plain.images[0].node_platforms.is_empty());
        let odd = extract("p.yaml", "kind: Pod\nspec:\n  nodeSelector: [1]\n  affinity: 3\n  containers: [{name: a, image: x}]\n").unwrap();
        assert!(
            odd.images[0].node_platforms.is_empty(),
            "odd shapes are ignored, not fatal"
        );
    }
}
