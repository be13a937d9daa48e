//! Docker Hub's rate-limit headers (`ratelimit-limit: 100;w=21600`, `ratelimit-remaining`,
//! `docker-ratelimit-source`) and `Retry-After`. Pure parsing, no I/O; never panics.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// The pull budget a registry reported on a response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    /// Pulls allowed per window.
    pub limit: Option<u64>,
    /// Pulls left in the current window.
    pub remaining: Option<u64>,
    /// The window length in seconds.
    pub window_seconds: Option<u64>,
    /// Whose budget it is: the client IP for anonymous pulls, an account id when authenticated.
    pub source: Option<String>,
}

impl RateLimit {
    /// Reads the rate-limit headers through `get` (a case-insensitive header lookup).
    /// `None` when the response carries none of them (which, on Docker Hub, means unlimited).
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<RateLimit> {
        let limit = get("ratelimit-limit").map(parse_quota);
        let remaining = get("ratelimit-remaining").map(parse_quota);
        let source = get("docker-ratelimit-source")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(128).collect::<String>());
        if limit.is_none() && remaining.is_none() && source.is_none() {
            return None;
        }
        let (limit, lw) = limit.unwrap_or_default();
        let (remaining, rw) = remaining.unwrap_or_default();
        Some(RateLimit {
            limit,
            remaining,
            window_seconds: lw.or(rw),
            source,
        })
    }

    /// `76 of 100 pulls left per 21600 s, source 203.0.113.7`.
    pub fn describe(&self) -> String {
        let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        let mut s = format!("{} of {} pulls left", n(self.remaining), n(self.limit));
        if let Some(w) = self.window_seconds {
            let _ = write!(s, " per {w} s");
        }
        if let Some(src) = &self.source {
            let _ = write!(s, ", source {src}");
        }
        s
    }
}

/// `100;w=21600` → (Some(100), Some(21600)). Unknown parameters are ignored.
fn parse_quota(v: &str) -> (Option<u64>, Option<u64>) {
    let mut parts = v.split(';');
    let n = parts.next().and_then(|s| s.trim().parse().ok());
    let mut w = None;
    for p in parts {
        if let Some((k, val)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("w")
        {
            w = val.trim().parse().ok();
        }
    }
    (n, w)
}

/// `Retry-After` as a delay. Only the delta-seconds form is read; an HTTP date gives `None`
/// (the raw header is still worth showing, so callers keep it).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(h: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        }
    }

    #[test]
    fn hub_headers() {
        let h = [
            ("RateLimit-Limit", "100;w=21600"),
            ("RateLimit-Remaining", "76;w=21600"),
            ("docker-ratelimit-source", "203.0.113.7"),
        ];
        assert_eq!(
            RateLimit::from_headers(lookup(&h)),
            Some(RateLimit {
                limit: Some(100),
                remaining: Some(76),
                window_seconds: Some(21600),
                source: Some("203.0.113.7".into()),
            })
        );
    }

    #[test]
    fn absent_and_malformed() {
        assert_eq!(RateLimit::from_headers(lookup(&[])), None);
        let h = [("ratelimit-limit", "lots;w=soon;x")];
        assert_eq!(
            RateLimit::from_headers(lookup(&h)),
            Some(RateLimit::default())
        );
        let h = [("ratelimit-remaining", "0")];
        assert_eq!(
            RateLimit::from_headers(lookup(&h)).unwrap().remaining,
            Some(0)
        );
    }

    #[test]
    fn retry_after() {
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
