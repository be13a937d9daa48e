//! A quick reader for the YAML manifests are written in: block mappings and sequences, plain
//! scalars (on one line or folded over several), quoted scalars on one line, literal and folded
//! block scalars, flow collections on one line, and comments. It reads a document several times
//! faster than the event parser, and builds the same tree with the same lines.
//!
//! Anything else — anchors, aliases, tags, directives, multi-line quoted or flow nodes, tabs,
//! control characters, escapes it does not know, anything invalid or ambiguous — makes it give
//! up on the document ([`Bail`]); the caller then reads it with the event parser, which is the
//! reference for every tree and every error. Giving up is always correct; the only thing this
//! reader must never do is accept a document the event parser reads differently or refuses.
//! The differential tests in `yaml.rs` and the `yaml_documents` fuzz target hold it to that.
//!
//! A document may also be only checked (`Check`), not built: the stream reader uses that for
//! the kinds its caller ignores, which are most of an install bundle's bytes (CRD schemas).

use std::borrow::Cow;

use super::{MAX_DEPTH, MapFrame, Node, Scalar, Value, resolve_plain};

/// The document needs the event parser.
#[derive(Debug)]
pub(super) struct Bail;

type Read<T> = Result<T, Bail>;

/// Deeper documents are left to the event parser, which reports the limit.
const DEPTH: usize = MAX_DEPTH - 2;

/// Longest implicit key read here, in bytes from its start to its `:` (the event parser
/// drops a key whose `:` is more than 1024 characters away).
const MAX_KEY: usize = 1000;

/// What a document's nodes become: a tree ([`Build`]) or nothing but the checks that the tree
/// would have made (duplicate keys) and the document's kind ([`Check`]).
pub(super) trait Sink<'a> {
    type Node;
    type Map;
    type List;
    fn scalar(&mut self, line: usize, kind: Scalar, text: Cow<'a, str>) -> Self::Node;
    /// A plain scalar, typed as YAML types it.
    fn plain(&mut self, line: usize, text: Cow<'a, str>) -> Self::Node {
        self.scalar(line, resolve_plain(&text), text)
    }
    fn new_map(&mut self) -> Self::Map;
    fn entry(&mut self, map: &mut Self::Map, key: Cow<'a, str>, value: Self::Node) -> Read<()>;
    fn map(&mut self, line: usize, map: Self::Map) -> Read<Self::Node>;
    fn new_list(&mut self) -> Self::List;
    fn item(&mut self, list: &mut Self::List, item: Self::Node);
    fn list(&mut self, line: usize, list: Self::List) -> Self::Node;
}

/// Builds the tree the event parser's reader builds.
pub(super) struct Build;

impl<'a> Sink<'a> for Build {
    type Node = Node<'a>;
    type Map = MapFrame<'a>;
    type List = Vec<Node<'a>>;

    fn scalar(&mut self, line: usize, kind: Scalar, text: Cow<'a, str>) -> Node<'a> {
        Node {
            line,
            value: Value::Scalar(kind, text),
        }
    }
    fn new_map(&mut self) -> Self::Map {
        MapFrame::default()
    }
    fn entry(&mut self, map: &mut Self::Map, key: Cow<'a, str>, value: Node<'a>) -> Read<()> {
        if map.contains(&key) {
            return Err(Bail);
        }
        map.insert(key, value);
        Ok(())
    }
    fn map(&mut self, line: usize, map: Self::Map) -> Read<Node<'a>> {
        Ok(Node {
            line,
            value: Value::Map(map.finish().map_err(|_| Bail)?),
        })
    }
    fn new_list(&mut self) -> Vec<Node<'a>> {
        Vec::new()
    }
    fn item(&mut self, list: &mut Vec<Node<'a>>, item: Node<'a>) {
        list.push(item);
    }
    fn list(&mut self, line: usize, items: Vec<Node<'a>>) -> Node<'a> {
        Node {
            line,
            value: Value::List(items),
        }
    }
}

/// Checks a document without building it, and learns its kind. The keys of the mappings
/// being read are on one stack, each mapping's from where it starts.
#[derive(Default)]
pub(super) struct Check<'a> {
    keys: Vec<Cow<'a, str>>,
}

/// Keys compared one by one: larger mappings are left to the event parser's index.
const MAX_CHECKED_KEYS: usize = 64;

/// What [`Check`] keeps of a node: a scalar's text when it may be a string, and a mapping's
/// `kind` when that is a string.
pub(super) enum Checked<'a> {
    Other,
    String(Cow<'a, str>),
    Plain(Cow<'a, str>),
    Map(Option<Cow<'a, str>>),
}

impl<'a> Sink<'a> for Check<'a> {
    type Node = Checked<'a>;
    /// Where the mapping's keys start on the stack, and its kind.
    type Map = (usize, Option<Cow<'a, str>>);
    type List = ();

    fn scalar(&mut self, _: usize, kind: Scalar, text: Cow<'a, str>) -> Checked<'a> {
        match kind {
            Scalar::String => Checked::String(text),
            _ => Checked::Other,
        }
    }
    fn plain(&mut self, _: usize, text: Cow<'a, str>) -> Checked<'a> {
        // Typed only if it turns out to be the kind.
        Checked::Plain(text)
    }
    fn new_map(&mut self) -> Self::Map {
        (self.keys.len(), None)
    }
    fn entry(
        &mut self,
        (start, kind): &mut Self::Map,
        key: Cow<'a, str>,
        value: Checked<'a>,
    ) -> Read<()> {
        let keys = &self.keys[*start..];
        if keys.len() >= MAX_CHECKED_KEYS || keys.contains(&key) {
            return Err(Bail);
        }
        if key == "kind" {
            match value {
                Checked::String(text) => *kind = Some(text),
                Checked::Plain(text) if resolve_plain(&text) == Scalar::String => {
                    *kind = Some(text);
                }
                _ => {}
            }
        }
        self.keys.push(key);
        Ok(())
    }
    fn map(&mut self, _: usize, (start, kind): Self::Map) -> Read<Checked<'a>> {
        self.keys.truncate(start);
        Ok(Checked::Map(kind))
    }
    fn new_list(&mut self) {}
    fn item(&mut self, (): &mut (), _: Checked<'a>) {}
    fn list(&mut self, _: usize, (): ()) -> Checked<'a> {
        Checked::Other
    }
}

/// Whether `chunk` holds only what this reader handles at the byte level: printable ASCII,
/// line feeds, and UTF-8 outside the characters YAML treats specially (C1 controls and NEL,
/// the byte order mark, line and paragraph separators, non-characters).
pub(super) fn plain_bytes(chunk: &[u8]) -> bool {
    // Blocks of plain ASCII first, without a branch per byte.
    let mut blocks = chunk.chunks_exact(64);
    let ascii = blocks.by_ref().all(|block| {
        block.iter().fold(true, |ok, &b| {
            // Not short-circuiting: the block is checked with vector instructions.
            #[allow(clippy::needless_bitwise_bool)]
            let plain = (0x20..0x7f).contains(&b) | (b == b'\n');
            ok & plain
        })
    }) && blocks
        .remainder()
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) || b == b'\n');
    ascii || plain_utf8(chunk)
}

/// [`plain_bytes`], byte by byte.
fn plain_utf8(chunk: &[u8]) -> bool {
    let mut i = 0;
    while i < chunk.len() {
        match chunk[i] {
            // Printable ASCII and line feeds; other UTF-8 lead and continuation bytes (the
            // text is a valid `str`).
            b'\n' | 0x20..=0x7e | 0x80..=0xc1 | 0xc3..=0xe1 | 0xe3..=0xee | 0xf0..=0xff => i += 1,
            0xc2 => {
                // U+0080..U+009F: C1 controls, NEL among them.
                if chunk.get(i + 1).is_none_or(|&n| n < 0xa0) {
                    return false;
                }
                i += 2;
            }
            0xe2 => {
                // U+2028 and U+2029 (line and paragraph separators).
                if chunk.get(i + 1) == Some(&0x80) && matches!(chunk.get(i + 2), Some(0xa8 | 0xa9))
                {
                    return false;
                }
                i += 1;
            }
            0xef => {
                // U+FEFF (byte order mark), U+FFFE and U+FFFF.
                match (chunk.get(i + 1), chunk.get(i + 2)) {
                    (Some(0xbb), Some(0xbf)) | (Some(0xbf), Some(0xbe | 0xbf)) => return false,
                    _ => i += 1,
                }
            }
            // Tabs, carriage returns and control characters.
            _ => return false,
        }
    }
    true
}

/// Reads one document: `chunk` is a byte range of `text` that starts at a line, on line
/// `line`, with its `---` marker line if it has one, and ends before the next marker. `None`
/// for a document with no node (blank, comments).
pub(super) fn document<'a, S: Sink<'a>>(
    text: &'a str,
    chunk: std::ops::Range<usize>,
    line: usize,
    sink: &mut S,
) -> Read<Option<S::Node>> {
    let mut r = Reader {
        text,
        b: text.as_bytes(),
        end: chunk.end,
        pos: chunk.start,
        eol: chunk.start,
        line,
        indent: 0,
        tied: false,
        sink,
    };
    r.load();
    if r.b[r.pos..r.eol].starts_with(b"---") {
        // A marker (followed by a space or nothing), and nothing but a comment after it.
        let rest = r.pos + 3;
        if !(rest == r.eol || is_space(r.b[rest]) && r.blank_from(rest)) {
            return Err(Bail);
        }
        r.next_line();
    }
    if !r.skip_blank() {
        return if r.tied { Err(Bail) } else { Ok(None) };
    }
    let root = r.block_node(r.pos + r.indent, -1, 0)?;
    if r.skip_blank() || r.tied {
        return Err(Bail);
    }
    Ok(Some(root))
}

struct Reader<'a, 's, S> {
    text: &'a str,
    b: &'a [u8],
    /// End of the document's bytes.
    end: usize,
    /// Start of the current line.
    pos: usize,
    /// End of the current line (its `\n`, or `end`).
    eol: usize,
    /// The current line's number.
    line: usize,
    /// Spaces the current line starts with.
    indent: usize,
    /// Whether a line starts with what may tie the document to another.
    tied: bool,
    sink: &'s mut S,
}

fn is_space(b: u8) -> bool {
    b == b' '
}

impl<'a, S: Sink<'a>> Reader<'a, '_, S> {
    /// Finds the end and the indentation of the line at `pos`.
    fn load(&mut self) {
        let rest = &self.b[self.pos..self.end];
        self.eol = self.pos + memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        self.indent = rest.iter().take_while(|&&b| is_space(b)).count();
        self.tied |= rest.first().copied().is_some_and(ties);
    }

    fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    fn next_line(&mut self) {
        self.pos = (self.eol + 1).min(self.end);
        if self.eol < self.end {
            self.line += 1;
        }
        self.load();
    }

    /// Whether the line from `at` holds only spaces and perhaps a comment.
    fn blank_from(&self, at: usize) -> bool {
        let mut i = at;
        while i < self.eol && is_space(self.b[i]) {
            i += 1;
        }
        i == self.eol || (self.b[i] == b'#' && (i == at || is_space(self.b[i - 1])))
    }

    /// Moves to the next line with a node on it; `false` at the end of the document.
    fn skip_blank(&mut self) -> bool {
        loop {
            if self.at_end() {
                return false;
            }
            let first = self.pos + self.indent;
            if first < self.eol && self.b[first] != b'#' {
                return true;
            }
            self.next_line();
        }
    }

    fn str(&self, from: usize, to: usize) -> &'a str {
        // Every boundary used is next to an ASCII byte.
        self.text.get(from..to).unwrap_or_default()
    }

    /// A node starting at byte `at` of the current line, where its lines must be indented more
    /// than `parent`: a block mapping or sequence, or whatever may stand after a key.
    fn block_node(&mut self, at: usize, parent: isize, depth: usize) -> Read<S::Node> {
        if depth >= DEPTH {
            return Err(Bail);
        }
        let column = at - self.pos;
        if self.is_entry(at) {
            return self.sequence(at, depth);
        }
        if self.key_end(at)?.is_some() {
            return self.mapping(at, depth);
        }
        // A scalar or a flow node on a line of its own stands at the line's start; a block
        // scalar there is left to the event parser (its indentation rules differ).
        if at == self.pos + self.indent && matches!(self.b[at], b'|' | b'>') {
            return Err(Bail);
        }
        let started_line = at == self.pos + self.indent;
        self.value(
            at,
            parent,
            if started_line {
                column.cast_signed()
            } else {
                parent + 1
            },
            depth,
        )
    }

    /// If a mapping key starts at `at`: where it ends and where its `:` is.
    fn key_end(&self, at: usize) -> Read<Option<(usize, usize)>> {
        let b = self.b;
        let eol = self.eol;
        let colon_at = |i: usize| -> Option<usize> {
            let mut j = i;
            while j < eol && is_space(b[j]) {
                j += 1;
            }
            (j < eol && b[j] == b':' && (j + 1 == eol || is_space(b[j + 1]))).then_some(j)
        };
        match b[at] {
            b'\'' | b'"' => {
                let close = self.quote_end(at)?;
                Ok(colon_at(close + 1).map(|c| (close + 1, c)))
            }
            _ if !plain_start(b, at, eol) => Ok(None),
            _ => {
                let mut i = at;
                while i < eol {
                    match b[i] {
                        b':' if i + 1 == eol || is_space(b[i + 1]) => {
                            let mut end = i;
                            while is_space(b[end - 1]) {
                                end -= 1;
                            }
                            return Ok(Some((end, i)));
                        }
                        b'#' if is_space(b[i - 1]) => return Ok(None),
                        _ => i += 1,
                    }
                }
                Ok(None)
            }
        }
    }

    /// The closing quote of the quoted scalar opening at `at`, on the same line.
    fn quote_end(&self, at: usize) -> Read<usize> {
        let quote = self.b[at];
        let mut i = at + 1;
        while i < self.eol {
            let c = self.b[i];
            if c == quote {
                if quote == b'\'' && self.b.get(i + 1) == Some(&b'\'') && i + 1 < self.eol {
                    i += 2;
                    continue;
                }
                return Ok(i);
            }
            if c == b'\\' && quote == b'"' {
                i += 2;
                continue;
            }
            i += 1;
        }
        Err(Bail)
    }

    /// The text of the quoted scalar from `at` to its closing quote `close`.
    fn quoted(&self, at: usize, close: usize) -> Read<Cow<'a, str>> {
        let inner = self.str(at + 1, close);
        if self.b[at] == b'\'' {
            if inner.contains('\'') {
                return Ok(Cow::Owned(inner.replace("''", "'")));
            }
            return Ok(Cow::Borrowed(inner));
        }
        if !inner.contains('\\') {
            return Ok(Cow::Borrowed(inner));
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            out.push(match chars.next() {
                Some('\\') => '\\',
                Some('"') => '"',
                Some('/') => '/',
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some('0') => '\0',
                Some(' ') => ' ',
                _ => return Err(Bail),
            });
        }
        Ok(Cow::Owned(out))
    }

    /// A block mapping whose first key starts at `at`; its keys stand at that column.
    fn mapping(&mut self, at: usize, depth: usize) -> Read<S::Node> {
        let column = at - self.pos;
        let first_line = self.line;
        let mut map = self.sink.new_map();
        let mut key_at = at;
        loop {
            let Some((key_end, colon)) = self.key_end(key_at)? else {
                return Err(Bail);
            };
            // Measured to the `:`, as the event parser measures a simple key.
            if colon - key_at > MAX_KEY {
                return Err(Bail);
            }
            let key = match self.b[key_at] {
                b'\'' | b'"' => self.quoted(key_at, key_end - 1)?,
                _ => {
                    let key = self.str(key_at, key_end);
                    if key == "<<" {
                        return Err(Bail);
                    }
                    Cow::Borrowed(key)
                }
            };
            let key_line = self.line;
            let value = if self.blank_from(colon + 1) {
                // The value is on the lines below, or is empty.
                self.next_line();
                if !self.skip_blank() {
                    self.sink.scalar(key_line, Scalar::Null, Cow::Borrowed("~"))
                } else if self.indent > column {
                    self.block_node(self.pos + self.indent, column.cast_signed(), depth + 1)?
                } else if self.indent == column && self.is_entry(self.pos + self.indent) {
                    // A sequence written at the key's own indentation.
                    self.sequence(self.pos + self.indent, depth + 1)?
                } else {
                    self.sink.scalar(key_line, Scalar::Null, Cow::Borrowed("~"))
                }
            } else {
                let mut v = colon + 1;
                while is_space(self.b[v]) {
                    v += 1;
                }
                if self.is_entry(v) || self.key_end(v)?.is_some() {
                    // `a: - b` and `a: b: c` are errors.
                    return Err(Bail);
                }
                self.value(v, column.cast_signed(), column.cast_signed() + 1, depth + 1)?
            };
            self.skip_blank();
            self.sink.entry(&mut map, key, value)?;
            if self.at_end() || self.indent < column {
                break;
            }
            if self.indent > column {
                return Err(Bail);
            }
            key_at = self.pos + column;
        }
        self.sink.map(first_line, map)
    }

    fn is_entry(&self, at: usize) -> bool {
        at < self.eol && self.b[at] == b'-' && (at + 1 == self.eol || is_space(self.b[at + 1]))
    }

    /// A block sequence whose first `-` is at `at`; its entries stand at that column.
    fn sequence(&mut self, at: usize, depth: usize) -> Read<S::Node> {
        if depth >= DEPTH {
            return Err(Bail);
        }
        let column = at - self.pos;
        let first_line = self.line;
        let mut list = self.sink.new_list();
        let mut dash = at;
        loop {
            if !self.is_entry(dash) {
                return Err(Bail);
            }
            let dash_line = self.line;
            let item = if self.blank_from(dash + 1) {
                self.next_line();
                if self.skip_blank() && self.indent > column {
                    self.block_node(self.pos + self.indent, column.cast_signed(), depth + 1)?
                } else {
                    self.sink
                        .scalar(dash_line, Scalar::Null, Cow::Borrowed("~"))
                }
            } else {
                let mut v = dash + 1;
                while is_space(self.b[v]) {
                    v += 1;
                }
                self.block_node(v, column.cast_signed(), depth + 1)?
            };
            self.skip_blank();
            self.sink.item(&mut list, item);
            if self.at_end() || self.indent < column {
                break;
            }
            if self.indent > column || !self.is_entry(self.pos + column) {
                // At the column of a mapping's key: the sequence was that key's value.
                if self.indent == column {
                    break;
                }
                return Err(Bail);
            }
            dash = self.pos + column;
        }
        Ok(self.sink.list(first_line, list))
    }

    /// A scalar or flow node at `at`, after a key or a `-`; what follows it on the line must
    /// be a comment. A plain scalar continues on the lines below indented at least `fold`
    /// (and more than `parent`). Leaves the reader on the line after the node.
    fn value(&mut self, at: usize, parent: isize, fold: isize, depth: usize) -> Read<S::Node> {
        let line = self.line;
        let node = match self.b[at] {
            b'\'' | b'"' => {
                let close = self.quote_end(at)?;
                if !self.blank_after(close + 1) {
                    return Err(Bail);
                }
                let text = self.quoted(at, close)?;
                self.next_line();
                self.sink.scalar(line, Scalar::String, text)
            }
            b'{' | b'[' => {
                let (node, end) = self.flow(at, depth)?;
                if !self.blank_after(end) {
                    return Err(Bail);
                }
                self.next_line();
                node
            }
            b'|' | b'>' => self.block_scalar(at, parent)?,
            _ if plain_start(self.b, at, self.eol) => self.plain(at, parent.max(fold - 1))?,
            _ => return Err(Bail),
        };
        Ok(node)
    }

    /// Whether what follows a node ending at `at` is at most spaces and a comment.
    fn blank_after(&self, at: usize) -> bool {
        at == self.eol || (is_space(self.b[at]) && self.blank_from(at))
    }

    /// A plain scalar at `at` in block context, continued on the following lines that are
    /// indented more than `parent`.
    fn plain(&mut self, at: usize, parent: isize) -> Read<S::Node> {
        let line = self.line;
        let (end, comment) = self.plain_end(at, self.eol)?;
        let first = self.str(at, end);
        self.next_line();
        if comment {
            return Ok(self.sink.plain(line, Cow::Borrowed(first)));
        }
        let mut text: Option<String> = None;
        let mut breaks = 0;
        loop {
            if self.at_end() {
                break;
            }
            let start = self.pos + self.indent;
            if start == self.eol {
                // A blank line: a line break if the scalar goes on.
                breaks += 1;
                self.next_line();
                continue;
            }
            if self.indent.cast_signed() <= parent || self.b[start] == b'#' {
                break;
            }
            if !self.plain_continues(start) {
                return Err(Bail);
            }
            let (end, comment) = self.plain_end(start, self.eol)?;
            let out = text.get_or_insert_with(|| first.to_owned());
            if breaks == 0 {
                out.push(' ');
            }
            for _ in 0..breaks {
                out.push('\n');
            }
            breaks = 0;
            out.push_str(self.str(start, end));
            self.next_line();
            if comment {
                break;
            }
        }
        if breaks > 0 && !self.at_end() && self.indent.cast_signed() > parent {
            // Blank lines then something indented that is not part of the scalar.
            return Err(Bail);
        }
        let text = text.map_or(Cow::Borrowed(first), Cow::Owned);
        Ok(self.sink.plain(line, text))
    }

    /// Whether a line starting at `start` may continue a plain scalar: nothing on it that the
    /// event parser could read as an indicator or a key.
    fn plain_continues(&self, start: usize) -> bool {
        !matches!(
            self.b[start],
            b'-' | b'?'
                | b':'
                | b','
                | b'['
                | b']'
                | b'{'
                | b'}'
                | b'#'
                | b'&'
                | b'*'
                | b'!'
                | b'|'
                | b'>'
                | b'\''
                | b'"'
                | b'%'
                | b'@'
                | b'`'
        )
    }

    /// Where a plain scalar starting at `at` ends on its line (trailing spaces trimmed), and
    /// whether a comment follows. A `: ` inside it is an error here (or a key, which the
    /// caller has ruled out).
    fn plain_end(&self, at: usize, eol: usize) -> Read<(usize, bool)> {
        let b = self.b;
        let mut i = at;
        let mut comment = false;
        while i < eol {
            match b[i] {
                b':' if i + 1 == eol || is_space(b[i + 1]) => return Err(Bail),
                b'#' if i > at && is_space(b[i - 1]) => {
                    comment = true;
                    break;
                }
                _ => i += 1,
            }
        }
        let mut end = i;
        while end > at && is_space(b[end - 1]) {
            end -= 1;
        }
        Ok((end, comment))
    }

    /// A literal (`|`) or folded (`>`) block scalar whose header is at `at`, in a collection
    /// indented `parent`. Leaves the reader on the first line after it.
    fn block_scalar(&mut self, at: usize, parent: isize) -> Read<S::Node> {
        let literal = self.b[at] == b'|';
        let mut i = at + 1;
        let chomp = match self.b.get(i) {
            Some(b'-') => {
                i += 1;
                Chomp::Strip
            }
            Some(b'+') => {
                i += 1;
                Chomp::Keep
            }
            _ => Chomp::Clip,
        };
        if !self.blank_after(i) {
            // An indentation indicator, or anything else.
            return Err(Bail);
        }
        self.next_line();
        if self.at_end() || self.pos + self.indent == self.eol {
            // Empty, or starting with blank lines: left to the event parser.
            return Err(Bail);
        }
        let indent = self.indent;
        if indent.cast_signed() <= parent {
            return Err(Bail);
        }
        let line = self.line;
        let mut out = String::new();
        let mut breaks = 0usize;
        let mut any = false;
        loop {
            if self.at_end() {
                break;
            }
            let start = self.pos + self.indent;
            if start == self.eol {
                if self.indent > indent {
                    // Spaces beyond the indentation are content.
                    return Err(Bail);
                }
                // A last line without its line feed breaks nothing.
                breaks += usize::from(self.eol < self.end);
                self.next_line();
                continue;
            }
            if self.indent < indent {
                break;
            }
            if self.indent > indent && !literal {
                // A more-indented line in a folded scalar keeps its breaks.
                return Err(Bail);
            }
            if any {
                if literal {
                    out.push('\n');
                    out.extend(std::iter::repeat_n('\n', breaks));
                } else if breaks == 0 {
                    out.push(' ');
                } else {
                    out.extend(std::iter::repeat_n('\n', breaks));
                }
            }
            breaks = 0;
            any = true;
            out.push_str(self.str(self.pos + indent, self.eol));
            self.next_line();
        }
        match chomp {
            Chomp::Strip => {}
            Chomp::Clip => out.push('\n'),
            Chomp::Keep => out.extend(std::iter::repeat_n('\n', breaks + 1)),
        }
        Ok(self.sink.scalar(line, Scalar::String, Cow::Owned(out)))
    }

    /// A flow collection (or a scalar inside one) at `at`, all on the current line: the node
    /// and the byte after it.
    fn flow(&mut self, at: usize, depth: usize) -> Read<(S::Node, usize)> {
        if depth >= DEPTH {
            return Err(Bail);
        }
        let line = self.line;
        let b = self.b;
        let eol = self.eol;
        let skip = |mut i: usize| {
            while i < eol && is_space(b[i]) {
                i += 1;
            }
            i
        };
        match b[at] {
            b'{' => {
                let mut map = self.sink.new_map();
                let mut i = skip(at + 1);
                if i < eol && b[i] == b'}' {
                    return Ok((self.sink.map(line, map)?, i + 1));
                }
                loop {
                    let (key, end) = self.flow_key(i)?;
                    let key_at = i;
                    i = skip(end);
                    // Measured to the `:`, as the event parser measures a simple key.
                    if i - key_at > MAX_KEY {
                        return Err(Bail);
                    }
                    if !(i < eol && b[i] == b':' && i + 1 < eol && is_space(b[i + 1])) {
                        return Err(Bail);
                    }
                    i = skip(i + 1);
                    if i >= eol || matches!(b[i], b',' | b'}') {
                        return Err(Bail);
                    }
                    let (value, end) = self.flow(i, depth + 1)?;
                    self.sink.entry(&mut map, key, value)?;
                    i = skip(end);
                    match b.get(i) {
                        Some(b',') if i < eol => {
                            i = skip(i + 1);
                            if i >= eol || b[i] == b'}' {
                                return Err(Bail);
                            }
                        }
                        Some(b'}') if i < eol => return Ok((self.sink.map(line, map)?, i + 1)),
                        _ => return Err(Bail),
                    }
                }
            }
            b'[' => {
                let mut list = self.sink.new_list();
                let mut i = skip(at + 1);
                if i < eol && b[i] == b']' {
                    return Ok((self.sink.list(line, list), i + 1));
                }
                loop {
                    if i >= eol || matches!(b[i], b',' | b']') {
                        return Err(Bail);
                    }
                    let (item, end) = self.flow(i, depth + 1)?;
                    self.sink.item(&mut list, item);
                    i = skip(end);
                    match b.get(i) {
                        Some(b',') if i < eol => i = skip(i + 1),
                        Some(b']') if i < eol => return Ok((self.sink.list(line, list), i + 1)),
                        _ => return Err(Bail),
                    }
                    if i >= eol || b[i] == b']' {
                        return Err(Bail);
                    }
                }
            }
            b'\'' | b'"' => {
                let close = self.quote_end(at)?;
                let text = self.quoted(at, close)?;
                Ok((self.sink.scalar(line, Scalar::String, text), close + 1))
            }
            _ => {
                let end = self.flow_plain_end(at)?;
                Ok((self.sink.plain(line, Cow::Borrowed(self.str(at, end))), end))
            }
        }
    }

    /// A key in a flow mapping (a plain or quoted scalar) at `at`: its text and the byte after it.
    fn flow_key(&self, at: usize) -> Read<(Cow<'a, str>, usize)> {
        if at >= self.eol {
            return Err(Bail);
        }
        match self.b[at] {
            b'\'' | b'"' => {
                let close = self.quote_end(at)?;
                Ok((self.quoted(at, close)?, close + 1))
            }
            _ => {
                let end = self.flow_plain_end(at)?;
                let key = self.str(at, end);
                if key == "<<" {
                    return Err(Bail);
                }
                Ok((Cow::Borrowed(key), end))
            }
        }
    }

    /// Where a plain scalar at `at` inside a flow collection ends (trailing spaces trimmed).
    fn flow_plain_end(&self, at: usize) -> Read<usize> {
        let (b, eol) = (self.b, self.eol);
        if at >= eol || !plain_start(b, at, eol) {
            return Err(Bail);
        }
        let mut i = at;
        while i < eol {
            match b[i] {
                b',' | b']' | b'}' => break,
                b'[' | b'{' => return Err(Bail),
                b':' if i + 1 == eol || is_space(b[i + 1]) => break,
                // `:` before a flow indicator, and `#` after a space, are left alone.
                b':' if matches!(b[i + 1], b',' | b']' | b'}' | b'[' | b'{') => return Err(Bail),
                b'#' if is_space(b[i - 1]) => return Err(Bail),
                _ => i += 1,
            }
        }
        let mut end = i;
        while end > at && is_space(b[end - 1]) {
            end -= 1;
        }
        if end == at {
            return Err(Bail);
        }
        Ok(end)
    }
}

#[derive(Clone, Copy)]
enum Chomp {
    Strip,
    Clip,
    Keep,
}

/// Whether a line starting with `first` may tie its document to another, which the event
/// parser then decides: `%` starts a directive (of the next document), `...` ends a document
/// (after which another may start without `---`). Plain scalars starting with a dot at column 0
/// are rare enough to leave to it as well.
pub(super) fn ties(first: u8) -> bool {
    matches!(first, b'%' | b'.')
}

/// Whether a plain scalar may start at `at`: not at an indicator, except `-` before a
/// character that cannot make it one (`--flag`, `-1`).
fn plain_start(b: &[u8], at: usize, eol: usize) -> bool {
    match b[at] {
        b'-' => {
            at + 1 < eol && !matches!(b[at + 1], b' ' | b',' | b'[' | b']' | b'{' | b'}' | b'#')
        }
        b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
        | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' | b' ' => false,
        _ => true,
    }
}
