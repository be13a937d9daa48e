//! YAML (and JSON, its subset) to trees of [`Node`]s with line numbers, one document at a time:
//! the event parser's stream built into a tree without recursion, anchors, aliases and merge
//! keys resolved, scalars typed as `kubectl` types them, and the limits that keep a hostile
//! file from exhausting memory or stack. Knows nothing of Kubernetes.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use granit_parser::{ErrorKind, Event, Parser, ScalarStyle, ScanError, Tag};

use super::ManifestError;

mod fast;

/// Nodes that anchors and aliases may copy in one file: far above any real manifest, far below
/// memory trouble.
pub(crate) const MAX_EXPANDED_NODES: usize = 1_000_000;

/// Nesting cap: real objects (even CRDs with deep schemas) stay well below it. The tree is built
/// without recursion, but copying, reading and dropping it recurse, so its depth must be bounded.
pub(crate) const MAX_DEPTH: usize = 100;

/// Reads a YAML stream and hands each document's tree to `on_document` as soon as it is
/// complete, so that only one document is in memory at a time.
pub(crate) fn read_documents<'a>(
    text: &'a str,
    on_document: &mut dyn FnMut(&Node<'a>) -> Result<(), Problem>,
) -> Result<(), Problem> {
    read_documents_skipping(text, &|_| false, on_document)
}

/// Like [`read_documents`], except that a document whose top-level `kind` is a string `skip`
/// accepts is only checked (it must still be valid YAML, without duplicate keys), never built
/// nor handed over: install bundles are mostly CRD schemas that no caller reads.
///
/// Each document is read by the quick reader of [`fast`] when it can; from the first document
/// it cannot read, the rest of the stream goes to the event parser, which builds the same trees
/// and reports every error.
pub(crate) fn read_documents_skipping<'a>(
    text: &'a str,
    skip: &dyn Fn(&str) -> bool,
    on_document: &mut dyn FnMut(&Node<'a>) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let mut start = 0;
    let mut line = 1;
    // Nodes copied for aliases, counted over the whole file as the event parser counts them.
    let mut copied = 0;
    let mut unless_skipped = |node: &Node<'a>| {
        if node.string("kind").ok().flatten().is_some_and(skip) {
            return Ok(());
        }
        on_document(node)
    };
    while start < text.len() {
        let end = next_marker(text, start);
        match quick_document(text, start..end, line, skip) {
            Ok(None) => {}
            Ok(Some(node)) if node.is_null() => {}
            Ok(Some(node)) => unless_skipped(&node)?,
            Err(fast::Bail) => {
                // The event parser reads this document alone when it can be cut out of the
                // stream (no directive or end marker ties it to its neighbours) and holds no
                // error; otherwise it reads the rest of the stream, as it would have alone.
                let before = copied;
                let mut documents = Vec::new();
                // With the next `---`, which ends the document's last node as in the stream
                // (an empty block scalar stands where the next token is).
                let with_marker = (end + 3).min(text.len());
                let alone = !ties_to_neighbours(&text.as_bytes()[start..end])
                    && read_events(
                        &text[start..with_marker],
                        line - 1,
                        &mut copied,
                        &mut |node| {
                            documents.push(node.clone());
                            Ok(())
                        },
                    )
                    .is_ok();
                if !alone {
                    copied = before;
                    return read_events(&text[start..], line - 1, &mut copied, &mut unless_skipped);
                }
                for node in &documents {
                    unless_skipped(node)?;
                }
            }
        }
        line += line_breaks(&text.as_bytes()[start..end]);
        start = end;
    }
    Ok(())
}

/// Line breaks as YAML counts them: `\n`, `\r\n` and a lone `\r`.
fn line_breaks(bytes: &[u8]) -> usize {
    let feeds = memchr::memchr_iter(b'\n', bytes).count();
    let lone_returns = memchr::memchr_iter(b'\r', bytes)
        .filter(|&i| bytes.get(i + 1) != Some(&b'\n'))
        .count();
    feeds + lone_returns
}

/// Whether a document's bytes hold a line starting with `%` (a directive, which belongs to
/// the next document) or `.` (perhaps an end marker, after which another may start).
fn ties_to_neighbours(chunk: &[u8]) -> bool {
    chunk.first().copied().is_some_and(fast::ties)
        || chunk
            .windows(2)
            .any(|w| matches!(w[0], b'\n' | b'\r') && fast::ties(w[1]))
}

/// Where the document after the one starting at `start` starts: the next line that is a
/// `---` marker, or the end.
fn next_marker(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut from = start;
    while let Some(found) = memchr::memmem::find(&bytes[from..], b"\n---") {
        let at = from + found + 1;
        if matches!(bytes.get(at + 3), None | Some(b' ' | b'\n')) {
            return at;
        }
        from = at;
    }
    text.len()
}

/// One document by the quick reader: only checked when its kind is one to skip (`None`), built
/// otherwise.
fn quick_document<'a>(
    text: &'a str,
    chunk: std::ops::Range<usize>,
    line: usize,
    skip: &dyn Fn(&str) -> bool,
) -> Result<Option<Node<'a>>, fast::Bail> {
    let bytes = &text.as_bytes()[chunk.clone()];
    let body = bytes.strip_prefix(b"---").unwrap_or(bytes);
    if !fast::plain_bytes(body) {
        return Err(fast::Bail);
    }
    if kind_hint(&text[chunk.clone()]).is_some_and(skip) {
        match fast::document(text, chunk.clone(), line, &mut fast::Check::default())? {
            None => return Ok(None),
            Some(fast::Checked::Map(Some(kind))) if skip(&kind) => return Ok(None),
            // Not the kind the line suggested: read it whole.
            Some(_) => {}
        }
    }
    fast::document(text, chunk, line, &mut fast::Build)
}

/// The plain value of the first `kind:` line at column 0, which is usually the document's
/// kind: it decides whether the document is first only checked.
fn kind_hint(chunk: &str) -> Option<&str> {
    let at = if chunk.starts_with("kind:") {
        0
    } else {
        chunk.find("\nkind:")? + 1
    };
    let rest = &chunk[at + 5..];
    let value = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let value = value.split(" #").next().unwrap_or_default().trim();
    // Quoted, it is the same kind (the check confirms it).
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|&q| value.strip_prefix(q)?.strip_suffix(q));
    Some(unquoted.unwrap_or(value))
}

/// The event parser's reading of `text`, a stream or the rest of one that starts at a line,
/// `offset` lines into the input. The tree is built with an explicit stack of open
/// collections, not by recursion.
fn read_events<'a>(
    text: &'a str,
    offset: usize,
    copied: &mut usize,
    on_document: &mut dyn FnMut(&Node<'a>) -> Result<(), Problem>,
) -> Result<(), Problem> {
    let options = granit_parser::options! {
        emit_comments: false,
        // Just above ours, which is checked on every collection; the scanner reads flow
        // collections ahead of the events, and its limit may trip first (same message).
        flow_nesting_limit: MAX_DEPTH + 1,
        block_nesting_limit: MAX_DEPTH + 1,
    };
    let mut reader = Reader {
        stack: Vec::new(),
        anchors: HashMap::new(),
        copied: *copied,
        on_document,
    };
    for event in Parser::new_from_str_with_options(text, options) {
        let (event, span) = event.map_err(|e| scan_problem(&e, offset))?;
        let line = span.start.line() + offset;
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
    *copied = reader.copied;
    Ok(())
}

/// What each reader makes of `text`: the documents handed over (as debug text, lines
/// included) and the error, by the quick reader (skipping CRDs when `skip`) and by the
/// event parser alone (its documents filtered the same way). For the differential tests and
/// the `yaml_readers` fuzz target: the two must always agree.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn readings(text: &str, skip: bool) -> [(Vec<String>, Result<(), String>); 2] {
    let is_crd = |kind: &str| kind == "CustomResourceDefinition";
    let mut quick = Vec::new();
    let result = if skip {
        read_documents_skipping(text, &is_crd, &mut |d| {
            quick.push(format!("{d:?}"));
            Ok(())
        })
    } else {
        read_documents(text, &mut |d| {
            quick.push(format!("{d:?}"));
            Ok(())
        })
    };
    let quick = (quick, result.map_err(|p| format!("{p:?}")));
    let mut events = Vec::new();
    let result = read_events(text, 0, &mut 0, &mut |d| {
        if !(skip && d.string("kind").ok().flatten().is_some_and(is_crd)) {
            events.push(format!("{d:?}"));
        }
        Ok(())
    });
    [quick, (events, result.map_err(|p| format!("{p:?}")))]
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

fn scan_problem(error: &ScanError, offset: usize) -> Problem {
    let line = error.marker().line() + offset;
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
pub(crate) enum Scalar {
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
    resolve_plain(text)
}

/// The type of a plain scalar without a tag.
fn resolve_plain(text: &str) -> Scalar {
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

struct Reader<'a, 'r> {
    /// The collections being read, outermost first.
    stack: Vec<Open<'a>>,
    /// Copies of the anchored nodes of the current document, by the parser's anchor id.
    anchors: HashMap<usize, Node<'a>>,
    /// Nodes copied for anchors and aliases so far in the file.
    copied: usize,
    /// Takes each document once its tree is complete.
    on_document: &'r mut dyn FnMut(&Node<'a>) -> Result<(), Problem>,
}

impl<'a> Reader<'a, '_> {
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
            None => (self.on_document)(&node),
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
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub(crate) line: usize,
    pub(crate) value: Value<'a>,
}

impl<'a> Node<'a> {
    /// The value under `key` as written, `null` included; `None` when absent or not a mapping.
    pub(crate) fn entry(&self, key: &str) -> Option<&Node<'a>> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value under `key`, with `null` counting as absent (as it does for the API server).
    pub(crate) fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.entry(key).filter(|n| !n.is_null())
    }

    /// The string under `key`; `Err` carries the node when it is there but not a string.
    pub(crate) fn string(&self, key: &str) -> Result<Option<&str>, &Node<'a>> {
        match self.get(key) {
            None => Ok(None),
            Some(node) => node.as_str().map(Some).ok_or(node),
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(Scalar::String | Scalar::Merge, text) => Some(text),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.value, Value::Scalar(Scalar::Null, _))
    }

    pub(crate) fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Scalar(Scalar, Cow<'a, str>),
    List(Vec<Node<'a>>),
    /// Entries in input order, without duplicates (they are refused).
    Map(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl Value<'_> {
    pub(crate) fn name(&self) -> &'static str {
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

/// A [`ManifestError`] before the file name is known.
#[derive(Debug)]
pub(crate) enum Problem {
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
    pub(crate) fn wrong_type(field: impl Into<String>, wanted: &str, node: &Node<'_>) -> Problem {
        Problem::InvalidField {
            line: node.line,
            field: field.into(),
            problem: format!("must be a {wanted}, found a {}", node.value.name()),
        }
    }

    pub(crate) fn in_file(self, file: &str) -> ManifestError {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::manifests::tests::*;
    use crate::inputs::manifests::*;

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

    /// YAML's special characters, for the mangling below.
    const SPECIAL: &[&str] = &[
        "\n", " ", "  ", "\t", ":", "- ", "-", "[", "]", "{", "}", ",", "&a ", "*a", "*", "&",
        "<<: ", "!", "!!", "'", "\"", "|", ">", "#", "%", "@", "`", "?", "---\n", "...\n", "\\",
        "\u{feff}", "é", "\r", "\0",
    ];

    /// Inserts, replaces or removes at a fraction of the text (rounded down to a char boundary).
    fn mangle(text: &mut String, (kind, at, len, special): (u8, f64, usize, usize)) {
        mangle_with(text, (kind, at, len), SPECIAL[special % SPECIAL.len()]);
    }

    /// Inserts `with`, replaces with it, or removes, at a fraction of the text.
    fn mangle_with(text: &mut String, (kind, at, len): (u8, f64, usize), with: &str) {
        let boundary = |text: &str, mut i: usize| {
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        };
        // `at` is in [0, 1): the product is at most the length, which fits.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let start = boundary(text, (at * (text.len() + 1) as f64) as usize).min(text.len());
        let end = boundary(text, (start + len).min(text.len()));
        match kind % 3 {
            0 => text.insert_str(start, with),
            1 => text.replace_range(start..end, with),
            _ => text.replace_range(start..end, ""),
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1_200))]

        /// Fixtures with YAML's special characters inserted, replaced and removed: whatever goes
        /// wrong, the message is one line in this crate's style, and nothing panics.
        #[test]
        fn no_panic_on_mangled_input(
            fixture in 0..4usize,
            edits in proptest::collection::vec((0..3u8, 0.0..1.0f64, 0..8usize, 0..64usize), 1..=5),
        ) {
            let name = ["workloads.yaml", "anchors.yaml", "deploy.json", "list.yaml"][fixture];
            let mut text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
            for edit in edits {
                mangle(&mut text, edit);
            }
            if let Err(e) = extract(name, &text) {
                let message = e.to_string();
                proptest::prop_assert!(
                    !message.contains('\n') && !message.ends_with('.'),
                    "{:?}",
                    message
                );
            }
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
    fn same_readings(text: &str) {
        for skip in [false, true] {
            let [quick, events] = readings(text, skip);
            assert_eq!(quick, events, "skip={skip} on {text:?}");
        }
    }

    /// Files with what the quick reader handles and what it leaves to the event parser.
    const SHAPES: &[&str] = &[
        "crd-bundle.yaml",
        "workloads.yaml",
        "templates.yaml",
        "workflows.yaml",
        "anchors.yaml",
        "list.yaml",
        "empty-docs.yaml",
        "knative.yaml",
        "crd-rollout.yaml",
        "bad-syntax.yaml",
        "deploy.json",
    ];

    const BLOCKS: &str = "kind: ConfigMap\ndata:\n  a: |\n    one\n      two\n\n    three\n\n  b: >-\n    folded\n    words\n\n    para\n  c: |+\n    kept\n\n\n  d: plain words\n    go on\n\n    and on\n  e: 'it''s'\n  f: \"q\\\"\\n\"\n  g:\n  - x\n  -\n  - - y\n    - z\n  -   k: v\n      l: w\n  h: {a: [1, 2.5, ~, 'x'], b: {}, c: []}  # note\n  i: -1\n  j: http://x/#y\n  k:\n    # comment\n    deep: true\n  'quoted key': 1\n  \"dq\": 2\n---\n--- # c\nkind: CustomResourceDefinition\nspec: {a: b}\n---\nkind: CustomResourceDefinition\nkind: x\n---\nkind: \"CustomResourceDefinition\"\nx: 1\n---\nkind: CustomResourceDefinition\nspec:\n  x: [a\n---\n~\n";

    #[test]
    fn the_quick_reader_reads_as_the_event_parser_does() {
        same_readings(BLOCKS);
        // Carriage returns are line breaks to YAML: the lines after them count them.
        same_readings("a: b\r\nc: d\r\n---\nkind: x\ry: z\n---\nk: v\nw: [\n");
        same_readings("a: 1\n\r%YAML 1.2\n---\nb: 2\n---\nc: *x\n");
        // A directive after a lone carriage return ties its document to the next one.
        assert!(ties_to_neighbours(b"a: 1\r%YAML 1.2\n"));
        assert!(!ties_to_neighbours(b"a: 1\n  %not at a line start\n"));
        // Keys as long as the event parser takes, spaces before the `:` included.
        let long = "k".repeat(1000);
        for spaces in [0, 24, 25, 30] {
            let pad = " ".repeat(spaces);
            same_readings(&format!("{long}{pad}: v\n"));
            same_readings(&format!("- \"{long}\"{pad}: v\n"));
            same_readings(&format!("a: {{{long}{pad}: v}}\n"));
            same_readings(&format!("kind: CustomResourceDefinition\n{long}{pad}: v\n"));
        }
        for name in SHAPES {
            let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
            same_readings(&text);
        }
    }

    /// The documents of `text` the quick reader gives up on, by first line.
    fn left_to_the_event_parser(text: &str) -> Vec<usize> {
        let (mut start, mut line, mut left) = (0, 1, Vec::new());
        while start < text.len() {
            let end = next_marker(text, start);
            if quick_document(text, start..end, line, &|_| false).is_err() {
                left.push(line);
            }
            line += text[start..end].matches('\n').count();
            start = end;
        }
        left
    }

    #[test]
    fn manifests_are_read_quickly() {
        // What real manifests are written in never needs the event parser; anchors, aliases,
        // tags and JSON's `"key":value` do.
        // Here: the duplicate `kind` and the unclosed bracket, for the parser's errors.
        assert_eq!(left_to_the_event_parser(BLOCKS), [43, 49]);
        for (name, left) in [
            ("crd-bundle.yaml", &[][..]),
            // A flow mapping written over two lines.
            ("workloads.yaml", &[58]),
            ("templates.yaml", &[]),
            ("workflows.yaml", &[]),
        ] {
            let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
            assert_eq!(left_to_the_event_parser(&text), left, "{name}");
        }
        let anchors = std::fs::read_to_string(format!("{FIXTURES}/anchors.yaml")).unwrap();
        assert!(!left_to_the_event_parser(&anchors).is_empty());
    }

    #[test]
    fn every_prefix_reads_the_same() {
        // Cut anywhere: unterminated scalars and collections, half keys, a document marker
        // without its document.
        for text in [
            BLOCKS.to_owned(),
            std::fs::read_to_string(format!("{FIXTURES}/workloads.yaml")).unwrap(),
        ] {
            for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
                same_readings(&text[..end]);
            }
        }
    }

    /// The characters that decide how YAML reads a line, for the differential mangling.
    const DECISIVE: &[&str] = &[
        "\n",
        " ",
        "  ",
        "    ",
        ":",
        ": ",
        "- ",
        "-",
        "[",
        "]",
        "{",
        "}",
        ",",
        ", ",
        "#",
        " #",
        "'",
        "''",
        "\"",
        "\\",
        "\\n",
        "|",
        "|-",
        "|+",
        ">",
        ">-",
        "|2",
        "&a ",
        "*a",
        "!",
        "?",
        "~",
        "<<: ",
        "---\n",
        "\n---\n",
        "...\n",
        "%",
        "\t",
        "\r\n",
        "\u{85}",
        "é",
        "x: y\n",
        "\n  - z\n",
        "\n\n",
        "\n    w\n",
        "kind: CustomResourceDefinition\n",
        "0x1F",
        "yes",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4_000))]

        /// Mangled manifests read the same by both readers: same trees, same lines, same
        /// errors, with and without skipping CRDs.
        #[test]
        fn mangled_manifests_read_the_same(
            fixture in 0..5usize,
            window in 0.0..1.0f64,
            edits in proptest::collection::vec((0..3u8, 0.0..1.0f64, 0..6usize, 0..64usize), 1..=4),
        ) {
            let text = match fixture {
                0 => BLOCKS.to_owned(),
                n => std::fs::read_to_string(
                    format!("{FIXTURES}/{}", ["workloads.yaml", "templates.yaml", "workflows.yaml", "crd-bundle.yaml"][n - 1]),
                ).unwrap(),
            };
            // Sixty lines of it, from a line start.
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let first = (window * lines.len() as f64) as usize;
            let mut text: String = lines[first.min(lines.len())..].iter().take(60).copied().collect();
            for (kind, at, len, special) in edits {
                mangle_with(&mut text, (kind, at, len), DECISIVE[special % DECISIVE.len()]);
            }
            for skip in [false, true] {
                let [quick, events] = readings(&text, skip);
                proptest::prop_assert_eq!(quick, events, "skip={} on {:?}", skip, text);
            }
        }
    }
}
