//! `WWW-Authenticate` challenges (RFC 7235) as registries send them: `Basic realm="…"` or
//! `Bearer realm="…",service="…",scope="…",error="…"`. Pure parsing, no I/O; never panics.

use std::collections::BTreeMap;

/// One authentication challenge from a `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Challenge {
    /// HTTP Basic authentication.
    Basic {
        /// The protection space, if given.
        realm: Option<String>,
    },
    /// The Docker token flow: fetch a bearer token from `realm`.
    Bearer(BearerChallenge),
    /// A scheme preflight does not speak (e.g. `Negotiate`).
    Other {
        /// The scheme as sent.
        scheme: String,
    },
}

/// The parameters of a `Bearer` challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerChallenge {
    /// The token endpoint URL.
    pub realm: Option<String>,
    /// The `service` parameter to pass to the token endpoint.
    pub service: Option<String>,
    /// The scope the registry asks for, e.g. `repository:team/app:pull`.
    pub scope: Option<String>,
    /// Why the presented token was not enough: `insufficient_scope`, `invalid_token`, ….
    pub error: Option<String>,
    /// A human description of `error`, when the registry sends one.
    pub error_description: Option<String>,
}

impl Challenge {
    /// Parses the first challenge in a header value that preflight understands; when none is
    /// understood, the first challenge's scheme is returned as `Other`. `None` for an empty or
    /// unparseable value.
    pub fn parse(header: &str) -> Option<Challenge> {
        let challenges = parse_all(header);
        let mut first_other = None;
        for (scheme, params) in challenges {
            if scheme.eq_ignore_ascii_case("basic") {
                return Some(Challenge::Basic {
                    realm: params.get("realm").cloned(),
                });
            }
            if scheme.eq_ignore_ascii_case("bearer") {
                return Some(Challenge::Bearer(BearerChallenge {
                    realm: params.get("realm").cloned(),
                    service: params.get("service").cloned(),
                    scope: params.get("scope").cloned(),
                    error: params.get("error").cloned(),
                    error_description: params.get("error_description").cloned(),
                }));
            }
            if first_other.is_none() {
                first_other = Some(Challenge::Other { scheme });
            }
        }
        first_other
    }

    /// The scheme name in lower case (for the fuzz targets and tests: the stages match on the
    /// variant).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn scheme(&self) -> &str {
        match self {
            Challenge::Basic { .. } => "basic",
            Challenge::Bearer(_) => "bearer",
            Challenge::Other { scheme } => scheme,
        }
    }

    /// The `error=` parameter of a Bearer challenge.
    pub fn error(&self) -> Option<&str> {
        match self {
            Challenge::Bearer(b) => b.error.as_deref(),
            _ => None,
        }
    }
}

type Params = BTreeMap<String, String>;

/// Splits a header value into `(scheme, params)` pairs. Parameter names are lower-cased.
fn parse_all(header: &str) -> Vec<(String, Params)> {
    let mut out: Vec<(String, Params)> = Vec::new();
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    loop {
        p.skip_ws_and_commas();
        let Some(token) = p.token() else { break };
        p.skip_ws();
        if p.peek() == Some(b'=') {
            // `name=value` belongs to the current challenge.
            p.i += 1;
            p.skip_ws();
            let value = if p.peek() == Some(b'"') {
                p.quoted()
            } else {
                p.token().unwrap_or_default()
            };
            if let Some((_, params)) = out.last_mut() {
                params.entry(token.to_ascii_lowercase()).or_insert(value);
            }
        } else {
            // A new scheme. A token68 (`Basic abc==`) may follow; it carries no parameters we use.
            out.push((token, Params::new()));
            if p.peek().is_some_and(|c| c != b',') {
                let save = p.i;
                if let Some(_t68) = p.token() {
                    p.skip_ws();
                    if p.peek() == Some(b'=') {
                        // It was a parameter name after all: rewind and let the loop take it.
                        p.i = save;
                    } else {
                        while p.peek() == Some(b'=') {
                            p.i += 1;
                        }
                    }
                }
            }
        }
        if p.i >= p.s.len() {
            break;
        }
        // Skip junk that is neither a separator nor a token start, so the loop always advances.
        if p.peek()
            .is_some_and(|c| !is_tchar(c) && c != b',' && !c.is_ascii_whitespace())
        {
            p.i += 1;
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == b' ' || c == b'\t') {
            self.i += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        while self
            .peek()
            .is_some_and(|c| c == b' ' || c == b'\t' || c == b',')
        {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// A quoted string with backslash escapes; an unterminated one runs to the end.
    fn quoted(&mut self) -> String {
        let mut v = Vec::new();
        self.i += 1; // opening quote
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        v.push(n);
                        self.i += 1;
                    }
                }
                _ => v.push(c),
            }
        }
        String::from_utf8_lossy(&v).into_owned()
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~/:".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(h: &str) -> BearerChallenge {
        match Challenge::parse(h) {
            Some(Challenge::Bearer(b)) => b,
            other => panic!("{h}: expected bearer, got {other:?}"),
        }
    }

    #[test]
    fn registry_token_challenge() {
        let b = bearer(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(b.realm.as_deref(), Some("https://auth.docker.io/token"));
        assert_eq!(b.service.as_deref(), Some("registry.docker.io"));
        assert_eq!(b.scope.as_deref(), Some("repository:library/nginx:pull"));
        assert_eq!(b.error, None);
    }

    #[test]
    fn insufficient_scope_with_spaces_and_case() {
        let b = bearer(
            r#"bearer  Realm = "https://r/token" , service="s", scope="repository:a/b:pull", error="insufficient_scope""#,
        );
        assert_eq!(b.realm.as_deref(), Some("https://r/token"));
        assert_eq!(b.error.as_deref(), Some("insufficient_scope"));
    }

    #[test]
    fn scope_with_several_actions_and_escapes() {
        let b = bearer(
            r#"Bearer realm="https://r/t",scope="repository:a:pull,push",error_description="say \"hi\"""#,
        );
        assert_eq!(b.scope.as_deref(), Some("repository:a:pull,push"));
        assert_eq!(b.error_description.as_deref(), Some(r#"say "hi""#));
    }

    #[test]
    fn basic() {
        assert_eq!(
            Challenge::parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic {
                realm: Some("Registry Realm".into())
            })
        );
        assert_eq!(
            Challenge::parse("Basic"),
            Some(Challenge::Basic { realm: None })
        );
    }

    #[test]
    fn prefers_known_scheme_over_unknown() {
        let c = Challenge::parse(r#"Negotiate abc==, Basic realm="x""#).unwrap();
        assert_eq!(c.scheme(), "basic");
        let c = Challenge::parse("Negotiate").unwrap();
        assert_eq!(
            c,
            Challenge::Other {
                scheme: "Negotiate".into()
            }
        );
    }

    #[test]
    fn unquoted_values_and_unterminated_quote() {
        let b = bearer("Bearer realm=https://r/t,service=reg");
        assert_eq!(b.realm.as_deref(), Some("https://r/t"));
        assert_eq!(b.service.as_deref(), Some("reg"));
        let b = bearer(r#"Bearer realm="https://r/t"#);
        assert_eq!(b.realm.as_deref(), Some("https://r/t"));
    }

    #[test]
    fn garbage_never_panics() {
        for h in [
            "",
            " ",
            ",",
            "=",
            "\"",
            "==,==",
            "Bearer =",
            "Bearer ,,,",
            "\u{1F600}",
            "Bearer realm=\"\\",
            "Bearer realm=\"a\" \u{0}\u{ff}",
            "@@@ Basic",
        ] {
            let _ = Challenge::parse(h);
        }
        assert_eq!(Challenge::parse(""), None);
    }
}
