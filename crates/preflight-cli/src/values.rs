//! Flag values clap cannot check by itself: a registry `HOST[:PORT]` (for `--plain-http`,
//! `--insecure-skip-tls-verify` and `preflight registry`) and a duration (`--timeout`). A mistaken value is answered with what
//! was probably meant, at parse time, so it exits 2 before anything runs.

/// Why a value is not a bare `HOST[:PORT]`.
#[derive(Debug, PartialEq, Eq)]
enum NotAHost<'a> {
    /// `true`, `false`: the flag was taken for a switch.
    Switch,
    /// `http://reg:5000`: the scheme, and the host behind it.
    Scheme { scheme: &'a str, host: &'a str },
    /// `reg:5000/shop/web:v1`: an image reference (or a URL path); the part before the first `/`.
    Path { first: &'a str },
    /// `reg.local:v1`, `nginx@sha256:…`: a name with a tag or a digest.
    Tagged,
    /// `reg:99999`, `reg:0`.
    BadPort,
}

/// The `HOST[:PORT]` of `value`, or why it is not one. What is left (empty, whitespace, a port
/// out of range, IPv6 without brackets) the library's builder checks.
fn classify(value: &str) -> Result<&str, NotAHost<'_>> {
    let v = value.trim();
    if ["true", "false"].contains(&v.to_ascii_lowercase().as_str()) {
        return Err(NotAHost::Switch);
    }
    if let Some((scheme, rest)) = v.split_once("://") {
        let host = rest.split('/').next().unwrap_or_default();
        return Err(NotAHost::Scheme { scheme, host });
    }
    if let Some((first, _)) = v.split_once('/') {
        return Err(NotAHost::Path { first });
    }
    if v.contains('@') {
        return Err(NotAHost::Tagged);
    }
    // A port is digits; `name:v1` is a tag. `[::1]:5000` keeps its colons inside the brackets.
    let after_host = match v.strip_prefix('[') {
        Some(rest) => rest.split_once(']').map_or("", |(_, after)| after),
        None if v.matches(':').count() == 1 => &v[v.find(':').unwrap_or_default()..],
        None => "",
    };
    if let Some(port) = after_host.strip_prefix(':') {
        if !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NotAHost::Tagged);
        }
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(NotAHost::BadPort);
        }
    }
    Ok(v)
}

/// Whether the first part of a path is a registry host, as Docker decides it.
fn looks_like_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost"
}

/// The value of a host flag (`--plain-http`, `--insecure-skip-tls-verify`).
pub(crate) fn host_flag(value: &str, flag: &str) -> Result<String, String> {
    match classify(value) {
        Ok(host) => Ok(host.to_owned()),
        Err(NotAHost::Switch) => Err(format!(
            "{flag} names a registry, it is not a switch: write {flag} HOST[:PORT], e.g. {flag} localhost:5000"
        )),
        Err(NotAHost::Scheme { host, .. }) => Err(format!(
            "give the host without a scheme: {flag} {}",
            or_placeholder(host)
        )),
        Err(NotAHost::Path { first }) if looks_like_registry(first) => Err(format!(
            "{value} is an image reference, not a registry host; did you mean {flag} {first} {value}?"
        )),
        Err(NotAHost::Path { .. } | NotAHost::Tagged) => Err(format!(
            "{value} is an image reference, not a registry host; did you mean {flag} HOST[:PORT] {value}?"
        )),
        Err(NotAHost::BadPort) => Err(PORT.to_owned()),
    }
}

/// How `preflight registry` should reach the registry it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryArg {
    /// `HOST[:PORT]`, as image references name the registry.
    pub(crate) host: String,
    /// `http://` (plain HTTP) or `https://` written before it; `None` when bare.
    pub(crate) scheme: Option<Scheme>,
}

/// The scheme of `preflight registry http(s)://HOST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

/// The argument of `preflight registry`: `HOST[:PORT]`, or a URL of the registry
/// (`http://HOST[:PORT]`, `https://HOST[:PORT]`, with `/` or `/v2/` after it), whose scheme says
/// whether it speaks plain HTTP.
pub(crate) fn registry_arg(value: &str) -> Result<RegistryArg, String> {
    let v = value.trim();
    let (scheme, rest) = match v.split_once("://") {
        Some((s, rest)) if s.eq_ignore_ascii_case("http") => (Some(Scheme::Http), rest),
        Some((s, rest)) if s.eq_ignore_ascii_case("https") => (Some(Scheme::Https), rest),
        Some((s, rest)) => {
            let host = rest.split('/').next().unwrap_or_default();
            return Err(format!(
                "{s}:// is not a registry URL: give HOST[:PORT], or http:// (plain HTTP) or https:// before it, e.g. preflight registry {}",
                or_placeholder(host)
            ));
        }
        None => (None, v),
    };
    // A pasted API URL is still the registry.
    let bare = rest.trim_end_matches('/');
    let bare = bare.strip_suffix("/v2").unwrap_or(bare);
    match classify(bare) {
        Ok(host) if !host.is_empty() => Ok(RegistryArg {
            host: host.to_owned(),
            scheme,
        }),
        Ok(_) => Err(
            "give the registry's HOST[:PORT], e.g. preflight registry registry.example.com"
                .to_owned(),
        ),
        Err(NotAHost::Path { first }) if looks_like_registry(first) => Err(format!(
            "{value} is an image reference, not a registry; did you mean preflight registry {first} (or preflight check {value})?"
        )),
        Err(NotAHost::BadPort) => Err(PORT.to_owned()),
        Err(_) => Err(format!(
            "{value} is not a registry HOST[:PORT] (e.g. registry.example.com, localhost:5000, http://localhost:5000); to check an image, use preflight check {value}"
        )),
    }
}

/// The longest `--timeout`: an image's check never needs more than an hour.
const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// `--timeout`: seconds (`30`, `2.5`) or a duration as Go and kubectl write them (`30s`, `2m`,
/// `1m30s`, `500ms`, `1h`), more than 0 and at most an hour.
pub(crate) fn timeout(value: &str) -> Result<std::time::Duration, String> {
    let junk = || {
        format!("{value:?} is not a number of seconds or a duration (30, 30s, 2m, 1m30s, 500ms)")
    };
    let v = value.trim();
    let secs = if let Ok(n) = v.parse::<f64>() {
        n
    } else {
        let mut total = 0.0;
        let mut rest = v;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(junk)?;
            let (number, after) = rest.split_at(digits);
            let number: f64 = number.parse().map_err(|_| junk())?;
            let unit_len = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_len);
            let scale = match unit {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return Err(junk()),
            };
            total += number * scale;
            rest = after;
        }
        if v.is_empty() {
            return Err(junk());
        }
        total
    };
    if !(secs.is_finite() && secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
        return Err(format!(
            "{value} is not more than 0 and at most {MAX_TIMEOUT_SECS} seconds (1h)"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

const PORT: &str = "the port is not a number from 1 to 65535";

fn or_placeholder(host: &str) -> &str {
    if host.is_empty() { "HOST[:PORT]" } else { host }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_flag_values() {
        let flag = "--plain-http";
        for ok in [
            "reg:5000",
            "localhost",
            "127.0.0.1:5601",
            "[::1]:5000",
            "Registry.Example.com",
        ] {
            assert_eq!(host_flag(ok, flag).as_deref(), Ok(ok), "{ok}");
        }
        for (bad, says) in [
            ("true", "not a switch"),
            ("FALSE", "not a switch"),
            ("http://reg:5000", "without a scheme: --plain-http reg:5000"),
            (
                "https://reg:5000/v2/",
                "without a scheme: --plain-http reg:5000",
            ),
            (
                "127.0.0.1:5601/shop/web:v1",
                "did you mean --plain-http 127.0.0.1:5601 127.0.0.1:5601/shop/web:v1?",
            ),
            ("shop/web:v1", "--plain-http HOST[:PORT] shop/web:v1?"),
            ("reg.local:v1", "image reference"),
            ("nginx@sha256:abc", "image reference"),
            ("reg:99999", "1 to 65535"),
            ("reg:", "1 to 65535"),
        ] {
            let e = host_flag(bad, flag).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn registry_args() {
        let r = |h: &str, s| {
            Ok(RegistryArg {
                host: h.to_owned(),
                scheme: s,
            })
        };
        assert_eq!(registry_arg("reg:5000"), r("reg:5000", None));
        assert_eq!(
            registry_arg("http://127.0.0.1:5601"),
            r("127.0.0.1:5601", Some(Scheme::Http))
        );
        assert_eq!(
            registry_arg("HTTPS://reg.example.com/v2/"),
            r("reg.example.com", Some(Scheme::Https))
        );
        assert_eq!(registry_arg("docker.io/"), r("docker.io", None));
        for (bad, says) in [
            (
                "reg.example.com/some/path",
                "preflight registry reg.example.com",
            ),
            ("oci://reg:5000", "preflight registry reg:5000"),
            ("http://", "HOST[:PORT]"),
            ("", "HOST[:PORT]"),
            ("nginx:1.27", "preflight check nginx:1.27"),
            ("reg.example:99999", "1 to 65535"),
        ] {
            let e = registry_arg(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn timeouts() {
        use std::time::Duration;
        for (given, secs) in [
            ("30", 30.0),
            ("2.5", 2.5),
            ("30s", 30.0),
            ("2m", 120.0),
            ("1m30s", 90.0),
            ("500ms", 0.5),
            ("1h", 3600.0),
            ("1.5m", 90.0),
            (" 45s ", 45.0),
        ] {
            assert_eq!(timeout(given), Ok(Duration::from_secs_f64(secs)), "{given}");
        }
        for bad in [
            "", "s", "soon", "30x", "1m30", "m5", "1..5s", "-5", "0", "0s", "61m", "inf", "NaN",
        ] {
            assert!(timeout(bad).is_err(), "{bad}");
        }
    }
}
