//! Go's `url.Parse` and `net.SplitHostPort`, as far as the keyring depends on them: what the
//! kubelet makes of a key (its index key, or nothing when Go refuses it) and of an image name.
//! Written out rather than taken from a URL crate because the kubelet's matching follows Go's
//! quirks — a `?` ends a key, a bad `%`-escape drops it — and a WHATWG parser differs on each.

use std::net::Ipv6Addr;

use super::glob::glob_match;

/// What Go's `url.Parse` makes of `https://…` or `http://…`: the host (with port, `%`-escapes
/// decoded) and the decoded path, or `None` where Go returns an error. The query and fragment
/// are cut off, as Go does, which is why a `?` in a key ends it.
fn go_url_parse(raw: &str) -> Option<(String, String)> {
    let (url, fragment) = match raw.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (raw, None),
    };
    if fragment.is_some_and(|f| !valid_escapes(f)) {
        return None;
    }
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return None;
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let host = parse_authority(authority)?;
    let path = unescape(path.as_bytes(), false)?;
    Some((host, path))
}

/// Go's `parseAuthority`: user info (validated, then dropped) before the last `@`, then the host.
fn parse_authority(authority: &str) -> Option<String> {
    let host = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let allowed = |c: char| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c);
            if !userinfo.chars().all(allowed) || !valid_escapes(userinfo) {
                return None;
            }
            host
        }
        None => authority,
    };
    parse_host(host)
}

/// Go's `parseHost`: a bracketed IPv6 literal or a name, an optional `:digits` port, and only
/// the characters a host may hold.
fn parse_host(host: &str) -> Option<String> {
    if host.starts_with('[') {
        let close = host.rfind(']')?;
        if !valid_optional_port(host.get(close + 1..)?) {
            return None;
        }
        // Go (since 1.24.8 / 1.25.2) accepts only an IPv6 address between brackets. A zone
        // (`%25eth0`) is refused here, where Go accepts it: no image reference has one, so
        // such a key can never match either way.
        host.get(1..close)?.parse::<Ipv6Addr>().ok()?;
    } else if let Some(colon) = host.rfind(':')
        && !valid_optional_port(host.get(colon..)?)
    {
        return None;
    }
    unescape(host.as_bytes(), true)
}

/// Go's `validOptionalPort`: nothing, or `:` and digits (any number of them, even none).
fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether every `%` starts a two-digit hex escape.
fn valid_escapes(text: &str) -> bool {
    unescape(text.as_bytes(), false).is_some()
}

/// Go's `unescape` for a path (`host == false`) or a host: `%XX` decoded; in a host, only
/// non-ASCII bytes (and `%25`) may be escaped, and ASCII outside letters, digits and
/// `-._~!$&'()*+,;=:[]<>"` is refused.
fn unescape(text: &[u8], host: bool) -> Option<String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b == b'%' {
            let hi = text.get(i + 1).copied().and_then(hex_value)?;
            let lo = text.get(i + 2).copied().and_then(hex_value)?;
            if host && hi < 8 && !(hi == 2 && lo == 5) {
                return None;
            }
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            if host && b < 0x80 && !allowed_in_host(b) {
                return None;
            }
            out.push(b);
            i += 1;
        }
    }
    // Go keeps the bytes; they only ever meet ASCII image names, which no invalid UTF-8 (nor
    // the U+FFFD that replaces it) can match.
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

fn allowed_in_host(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.~!$&'()*+,;=:[]<>\"".contains(&b)
}

/// Go's `net.SplitHostPort`, whose failure makes the kubelet take the whole host as the name
/// and no port.
pub(super) fn split_host_port(hostport: &str) -> Option<(&str, &str)> {
    let colon = hostport.rfind(':')?;
    let (host, open_from, close_from) = if hostport.starts_with('[') {
        let end = hostport.find(']')?;
        if end + 1 != colon {
            return None;
        }
        (hostport.get(1..end)?, 1, end + 1)
    } else {
        let host = hostport.get(..colon)?;
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if hostport.get(open_from..)?.contains('[') || hostport.get(close_from..)?.contains(']') {
        return None;
    }
    Some((host, hostport.get(colon + 1..)?))
}

/// A key or an image name as `URLsMatch` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UrlParts {
    /// The host split at dots (the whole host, port included, when `SplitHostPort` refused it).
    pub(super) labels: Vec<String>,
    /// The port as written; empty for none.
    pub(super) port: String,
    /// The path, decoded; empty for none.
    pub(super) path: String,
}

impl UrlParts {
    /// The kubelet's `ParseSchemelessURL` then `SplitURL`.
    pub(super) fn parse_schemeless(text: &str) -> Option<UrlParts> {
        let (host, path) = go_url_parse(&format!("https://{text}"))?;
        let (name, port) = split_host_port(&host).unwrap_or((&host, ""));
        Some(UrlParts {
            labels: name.split('.').map(str::to_owned).collect(),
            port: port.to_owned(),
            path,
        })
    }

    /// `URLsMatch(self, target)`: same port, as many labels, each label a glob, and the path
    /// a plain prefix.
    pub(super) fn matches(&self, target: &UrlParts) -> bool {
        self.port == target.port
            && target.path.starts_with(&self.path)
            && self.hosts_match(target, true)
    }

    pub(super) fn hosts_match(&self, target: &UrlParts, case_sensitive: bool) -> bool {
        self.labels.len() == target.labels.len()
            && self.labels.iter().zip(&target.labels).all(|(glob, label)| {
                if case_sensitive {
                    glob_match(glob, label)
                } else {
                    glob_match(&glob.to_ascii_lowercase(), &label.to_ascii_lowercase())
                }
            })
    }
}

/// The kubelet's index key for a key as written (`BasicDockerKeyring.Add`); `None` for a key
/// it cannot parse and so ignores.
pub(super) fn index_key(key: &str) -> Option<String> {
    let value = if key.starts_with("https://") || key.starts_with("http://") {
        key.to_owned()
    } else {
        format!("https://{key}")
    };
    let (host, path) = go_url_parse(&value)?;
    let effective = if path.starts_with("/v2/") || path.starts_with("/v1/") {
        path.get(3..).unwrap_or_default()
    } else {
        &path
    };
    Some(if effective.is_empty() || effective == "/" {
        host
    } else {
        host + effective
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_keys_are_the_kubelets() {
        for (key, want) in [
            ("https://index.docker.io/v1/", Some("index.docker.io")),
            ("index.docker.io/v1/", Some("index.docker.io")),
            ("registry.io/v2/team/", Some("registry.io/team/")),
            ("registry.io/", Some("registry.io")),
            ("registry.io/v1", Some("registry.io/v1")),
            ("HTTPS://registry.io", Some("HTTPS://registry.io")),
            ("user:pw@registry.io:5000", Some("registry.io:5000")),
            ("registry.io?query/path", Some("registry.io")),
            ("reg[^x].io", None),
            ("reg istry.io", None),
            ("registry.io:port", None),
            ("registry.io/%zz", None),
            ("[::1", None),
            ("registry.io\u{7}", None),
        ] {
            assert_eq!(index_key(key).as_deref(), want, "{key:?}");
        }
    }

    #[test]
    fn split_host_port_is_gos() {
        for (hostport, want) in [
            ("r.io:5000", Some(("r.io", "5000"))),
            ("r.io", None),
            ("r.io:", Some(("r.io", ""))),
            ("[::1]:5000", Some(("::1", "5000"))),
            ("[::1]", None),
            ("a:b:c", None),
            ("r[a].io:5000", None),
            ("[::1]x:5000", None),
        ] {
            assert_eq!(split_host_port(hostport), want, "{hostport}");
        }
    }
}
