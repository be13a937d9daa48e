//! JSON errors told by category and position only. `serde_json`'s messages can quote the input
//! (`invalid type: string "…"`), and the inputs here — a `config.json`, a pull Secret — hold
//! secrets.

/// What kind of problem a `serde_json` error is, in words that quote nothing.
pub(crate) fn serde_problem(err: &serde_json::Error) -> &'static str {
    match err.classify() {
        serde_json::error::Category::Eof => {
            "the JSON ends early (an object, array or string is not closed)"
        }
        serde_json::error::Category::Syntax => "not valid JSON",
        serde_json::error::Category::Data => "a value of the wrong type",
        serde_json::error::Category::Io => "read error",
    }
}

/// Line and column (1-based, column in bytes like `serde_json`'s) of the first JSON value.
pub(crate) fn value_start(json: &str) -> (usize, usize) {
    let start = json.len() - json.trim_start_matches([' ', '\t', '\n', '\r']).len();
    let before = json.get(..start).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = start - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_start_table() {
        let cases = [
            ("{}", (1, 1)),
            ("  []", (1, 3)),
            ("\n\n  1", (3, 3)),
            ("\r\n\t\"x\"", (2, 2)),
            ("", (1, 1)),
        ];
        for (json, want) in cases {
            assert_eq!(value_start(json), want, "{json:?}");
        }
    }
}
