//! What *is* there when a tag is not: the repository's tags (`GET /v2/NAME/tags/list`, following
//! `Link` pagination within bounds) and the few closest to the tag asked for — version-aware, so
//! `v2.1.3` suggests `v2.1.2` before `v2.2.0`.

use reqwest::StatusCode;
use reqwest::header::LINK;
use serde::Deserialize;
use tokio::time::Instant;

use crate::net::Net;
use crate::net::http;
use crate::registry::auth::Access;
use crate::registry::endpoint::Endpoint;

/// Tags asked for per page.
pub(crate) const PAGE_SIZE: usize = 100;
/// The most pages followed.
const MAX_PAGES: usize = 50;
/// The most of one page's body read.
const PAGE_BODY_LIMIT: usize = 1024 * 1024;
/// How many suggestions to give.
const MAX_SUGGESTIONS: usize = 3;

/// Why the tags could not be listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unlisted {
    /// The registry refused (401/403/404…): say so rather than guess.
    Refused(u16),
    /// The request failed or the answer was not a tag list.
    Failed(String),
}

/// Lists the repository's tags, page after page, until the list ends, `MAX_PAGES` pages were
/// read or the deadline comes. A partial list (deadline, page bound) is still returned.
pub(crate) async fn list(
    net: &Net,
    ep: &Endpoint,
    repository: &str,
    access: &Access,
    deadline: Instant,
) -> Result<Vec<String>, Unlisted> {
    #[derive(Deserialize)]
    struct Page {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    let client = net.http.for_mode(ep.mode);
    let mut url = ep.tags_url(repository, PAGE_SIZE);
    let mut tags = Vec::new();
    for page in 0..MAX_PAGES {
        let sent = tokio::time::timeout_at(deadline, access.apply(client.get(&url)).send()).await;
        let resp = match sent {
            Ok(Ok(r)) => r,
            Ok(Err(e)) if page == 0 => {
                return Err(Unlisted::Failed(
                    net.http.classify(&e, &ep.host).to_string(),
                ));
            }
            Err(_) if page == 0 => return Err(Unlisted::Failed("no answer in time".into())),
            // A later page failing still leaves the tags read so far.
            _ => break,
        };
        let status = resp.status();
        if status != StatusCode::OK {
            if page == 0 {
                return Err(Unlisted::Refused(status.as_u16()));
            }
            break;
        }
        let next_page = resp
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let Ok(body) = http::read_body(resp, PAGE_BODY_LIMIT, &ep.host, deadline).await else {
            break;
        };
        match serde_json::from_slice::<Page>(&body) {
            Ok(p) => tags.extend(p.tags.unwrap_or_default()),
            Err(_) if page == 0 => {
                return Err(Unlisted::Failed("the answer is not a tag list".into()));
            }
            Err(_) => break,
        }
        // The link is relative to the registry; one that leaves it is not followed.
        match next_page {
            Some(path) if path.starts_with('/') => url = ep.path_url(&path),
            _ => break,
        }
    }
    Ok(tags)
}

/// The `rel="next"` target of a `Link` header: `</v2/x/tags/list?n=100&last=b>; rel="next"`.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        params
            .split(';')
            .any(|p| {
                let p = p.trim().to_ascii_lowercase();
                p == "rel=\"next\"" || p == "rel=next"
            })
            .then(|| target.to_owned())
    })
}

/// A tag read as a version: `v2.1.3`, `2.1`, `1.27.0-alpine`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version<'a> {
    numbers: Vec<u64>,
    /// What follows the numbers (`-rc1`, `-alpine`), empty for a release.
    suffix: &'a str,
}

fn version(tag: &str) -> Option<Version<'_>> {
    let body = tag.strip_prefix(['v', 'V']).unwrap_or(tag);
    let end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (numeric, suffix) = body.split_at(end);
    if numeric.is_empty() || numeric.starts_with('.') || numeric.ends_with('.') {
        return None;
    }
    let numbers = numeric
        .split('.')
        .map(str::parse)
        .collect::<Result<Vec<u64>, _>>()
        .ok()?;
    Some(Version { numbers, suffix })
}

/// How far `candidate` is from `wanted`; lower is closer. `None`: not worth suggesting.
fn distance(wanted: &str, candidate: &str) -> Option<u64> {
    if candidate == wanted {
        return None;
    }
    if let (Some(w), Some(c)) = (version(wanted), version(candidate))
        && w.numbers.len() == c.numbers.len()
        && w.numbers.first() == c.numbers.first()
    {
        // The first number that differs decides, weighted by its place: a patch away beats a
        // minor away; an earlier release beats a later one at the same distance (the tag was
        // probably bumped once too often).
        let mut score = 0u64;
        for (i, (a, b)) in w.numbers.iter().zip(&c.numbers).enumerate() {
            if a != b {
                let place = u32::try_from(w.numbers.len() - i).unwrap_or(u32::MAX);
                let weight = 1000u64.saturating_pow(place);
                let later = u64::from(b > a);
                score =
                    weight.saturating_mul(a.abs_diff(*b).saturating_mul(2).saturating_add(later));
                break;
            }
        }
        // The same numbers with another suffix (`-rc1`) are next door.
        if score == 0 {
            score = 1;
        }
        if w.suffix != c.suffix {
            score = score.saturating_add(1);
        }
        return Some(score);
    }
    let d = crate::model::similar::edit_distance(wanted, candidate);
    let allowed = (wanted.chars().count() / 3).max(2);
    // Text distances rank after every version of the same major.
    (d <= allowed).then(|| 1_000_000_000_000 + u64::try_from(d).unwrap_or(u64::MAX))
}

/// The tags closest to `wanted`, closest first; `latest` when nothing is close and it exists.
pub(crate) fn suggest(wanted: &str, tags: &[String]) -> Vec<String> {
    let mut scored: Vec<(u64, &String)> = tags
        .iter()
        .filter_map(|t| distance(wanted, t).map(|d| (d, t)))
        .collect();
    scored.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let mut out: Vec<String> = scored
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, t)| t.clone())
        .collect();
    if out.is_empty() && wanted != "latest" && tags.iter().any(|t| t == "latest") {
        out.push("latest".to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn versions_suggest_the_nearest_release_first() {
        let t = tags(&["v2.1.0", "v2.1.1", "v2.1.2", "v2.2.0", "latest"]);
        assert_eq!(suggest("v2.1.3", &t), ["v2.1.2", "v2.1.1", "v2.1.0"]);
        let t = tags(&["v2.1.2", "v2.1.3-rc1", "v2.2.0", "v3.0.0"]);
        assert_eq!(suggest("v2.1.3", &t), ["v2.1.3-rc1", "v2.1.2", "v2.2.0"]);
        let t = tags(&["1.27.0", "1.27.1", "1.26.3"]);
        assert_eq!(suggest("1.27.2", &t)[0], "1.27.1");
    }

    #[test]
    fn text_tags_suggest_by_edit_distance_and_latest_last() {
        let t = tags(&["stable", "staging", "latest"]);
        assert_eq!(suggest("stabel", &t), ["stable"]);
        let t = tags(&["latest", "main"]);
        assert_eq!(suggest("v9.9.9", &t), ["latest"]);
        assert!(suggest("latest", &tags(&["latest"])).is_empty());
        assert!(suggest("x", &[]).is_empty());
    }

    #[test]
    fn version_parsing_never_panics() {
        for t in [
            "",
            "v",
            ".",
            "1.",
            ".1",
            "v1..2",
            "99999999999999999999999",
            "v1.2.3-ü",
            "ü",
            "1.2.3.4.5",
        ] {
            let _ = version(t);
            let _ = suggest(t, &tags(&["v1.2.3", "1", "latest", "ü"]));
        }
    }

    #[test]
    fn next_links() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?n=100&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=100&last=b")
        );
        assert_eq!(next_link(r#"<https://x/y>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
