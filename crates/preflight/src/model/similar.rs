//! How far apart two strings are, for "did you mean" hints: a missing tag's nearest tags, a
//! pull secret's key that nearly names the image's registry. Pure, so that both hints rank
//! candidates by the same measure.

/// The Levenshtein distance over characters: how many single-character insertions, deletions
/// and substitutions turn `a` into `b`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // One row of the table at a time: the previous row is all the next one needs.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// [`edit_distance`], or `None` when either string is longer than `max_chars` characters: the
/// cost grows with the product of the lengths, and hints read input that may be hostile.
pub(crate) fn edit_distance_within(a: &str, b: &str, max_chars: usize) -> Option<usize> {
    if a.chars().count() > max_chars || b.chars().count() > max_chars {
        return None;
    }
    Some(edit_distance(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_table() {
        let cases = [
            ("", "", 0),
            ("", "abc", 3),
            ("abc", "", 3),
            ("abc", "abc", 0),
            ("abc", "abd", 1),
            ("abc", "ab", 1),
            ("ab", "abc", 1),
            ("kitten", "sitting", 3),
            ("flaw", "lawn", 2),
            ("v1.2.3", "v1.2.4", 1),
            ("registry.io", "regsitry.io", 2),
            ("myregistry.com", "myregistry.con", 1),
            ("héllo", "hello", 1),
            ("日本", "日本語", 1),
        ];
        for (a, b, want) in cases {
            assert_eq!(edit_distance(a, b), want, "{a:?} ~ {b:?}");
            assert_eq!(edit_distance(b, a), want, "{b:?} ~ {a:?} (symmetric)");
        }
    }

    #[test]
    fn edit_distance_within_bounds_the_length_in_characters() {
        let cases = [
            ("abc", "abd", 3, Some(1)),
            ("abcd", "abd", 3, None),
            ("abd", "abcd", 3, None),
            // Characters, not bytes: three two-byte characters are within three.
            ("ééé", "éèé", 3, Some(1)),
            ("", "", 0, Some(0)),
        ];
        for (a, b, max, want) in cases {
            assert_eq!(
                edit_distance_within(a, b, max),
                want,
                "{a:?} ~ {b:?} within {max}"
            );
        }
    }
}
