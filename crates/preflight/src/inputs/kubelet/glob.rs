//! Go's `filepath.Match`, with which the kubelet matches each label of a key's host (`*.io`,
//! `reg?.example.com`, `[a-c].io`) against the image's. Its own file because it is a small
//! language of its own, with Go's edge cases (malformed patterns match nothing).

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
pub(super) fn glob_match(pattern: &str, name: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
