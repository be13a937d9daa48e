//! Why a key does not match an image although it looks meant for it: the hints shown when no
//! credential matched. Apart from the keyring because it is diagnosis, not the kubelet's rules:
//! nothing here changes which credentials are tried.

use crate::model::similar::edit_distance_within;

use super::glob::glob_match;
use super::keyring::{Image, Keyring, KeyringEntry};
use super::url::{UrlParts, index_key};
use super::{HUB_DOMAIN, HUB_INDEX_KEY};

/// Host names are at most 253 characters; anything much longer is not worth a typo hint, and
/// bounding the edit distance keeps hostile input cheap.
const MAX_HINT_HOST: usize = 255;

impl Keyring {
    /// One hint per entry that nearly matches `image`, in the order added, without repeats.
    pub(super) fn near_misses_for(&self, image: &Image) -> Vec<String> {
        let matched = self.lookup(image);
        let mut hints: Vec<String> = Vec::new();
        for entry in &self.entries {
            if matched.iter().any(|m| std::ptr::eq(*m, entry)) {
                continue;
            }
            let Some(miss) = near_miss(entry, image, &matched) else {
                continue;
            };
            let target = if miss.whole_name {
                &image.name
            } else {
                &image.domain
            };
            let hint = format!(
                "{} has key {}, which does not match {target} ({})",
                entry.source,
                entry.key.escape_debug(),
                miss.reason
            );
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        hints
    }
}

/// Why a key nearly matches.
struct NearMiss {
    reason: String,
    /// Whether the reason is about the path, so the hint names the whole image.
    whole_name: bool,
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "each ends a `return` in near_miss, whose answer is an Option"
)]
impl NearMiss {
    fn host(reason: impl Into<String>) -> Option<NearMiss> {
        Some(NearMiss {
            reason: reason.into(),
            whole_name: false,
        })
    }

    fn path(reason: impl Into<String>) -> Option<NearMiss> {
        Some(NearMiss {
            reason: reason.into(),
            whole_name: true,
        })
    }
}

/// Why `entry` does not match `image` although it looks meant for it; `None` when it is
/// simply another registry's key.
fn near_miss(entry: &KeyringEntry, image: &Image, matched: &[&KeyringEntry]) -> Option<NearMiss> {
    let key = entry.key.as_str();
    if key.eq_ignore_ascii_case("auths") {
        return NearMiss::host(
            "a kubernetes.io/dockercfg secret has no \"auths\" wrapper: its registries are top-level keys, and this content belongs in a kubernetes.io/dockerconfigjson secret",
        );
    }
    let loose_key = loose_host(key);
    let loose_image = loose_host(&image.domain);
    let distance = edit_distance_within(&loose_key, &loose_image, MAX_HINT_HOST);
    let related = distance.is_some_and(|d| d <= 2) || loose_glob_match(&loose_key, &loose_image);
    let target = image.target.as_ref()?;
    if entry.misplaced {
        let would_match = entry.pattern.as_ref().is_some_and(|p| p.matches(target));
        if !(related || would_match) {
            return None;
        }
        return NearMiss::host(
            "it sits outside \"auths\", the only part of a .dockerconfigjson the kubelet reads",
        );
    }
    // Fixing the key of an entry without a credential would not help.
    entry.credential.as_ref()?;
    let Some(pattern) = &entry.pattern else {
        if !related {
            return None;
        }
        return NearMiss::host(
            "the kubelet cannot parse the key as a URL (a character a host name may not hold, a bad %-escape or a bad port) and ignores it",
        );
    };
    if entry.index.as_deref() == Some(HUB_INDEX_KEY)
        && image.default_registry
        && let Some(first) = matched.first()
    {
        return NearMiss::path(format!(
            "the kubelet falls back to index.docker.io keys only when no other key matches, and {} does",
            first.origin
        ));
    }
    if pattern.hosts_match(target, true) {
        if pattern.port != target.port {
            return NearMiss::host("ports must be equal");
        }
        if !target.path.starts_with(&pattern.path) {
            let mut reason = format!(
                "the key's path {} is not a prefix of the image's path {}",
                pattern.path.escape_debug(),
                target.path
            );
            if pattern.path == "/v1" || pattern.path == "/v2" {
                reason.push_str("; only /v1/ and /v2/ with the trailing slash are ignored");
            }
            return NearMiss::path(reason);
        }
        return None;
    }
    if pattern.hosts_match(target, false) {
        return NearMiss::host("the kubelet compares host names case-sensitively");
    }
    if key.contains(['?', '#']) && related {
        return NearMiss::host(
            "the kubelet reads '?' or '#' in a key as the start of a URL query or fragment, and ignores the rest of the key",
        );
    }
    if let Some(rest) = foreign_scheme_rest(key) {
        let stripped = index_key(rest).and_then(|k| UrlParts::parse_schemeless(&k));
        if stripped.is_some_and(|p| p.matches(target)) {
            return NearMiss::host(
                "the kubelet strips only a lower-case http:// or https:// in front of a key",
            );
        }
    }
    if image.domain == HUB_DOMAIN
        && (loose_key == HUB_DOMAIN
            || loose_key.ends_with(".docker.io")
            || loose_key.ends_with("docker.com"))
    {
        return NearMiss::host(
            "for Docker Hub images the kubelet uses keys for docker.io, or index.docker.io without a path such as https://index.docker.io/v1/",
        );
    }
    if pattern.labels.len() != target.labels.len()
        && pattern.labels.iter().any(|l| l.contains('*'))
        && star_suffix_matches(pattern, target)
    {
        return NearMiss::host(format!(
            "'*' stands for exactly one label: the key's host has {} labels, the image's {}",
            pattern.labels.len(),
            target.labels.len()
        ));
    }
    if let [label] = pattern.labels.as_slice()
        && label.starts_with('[')
        && pattern.port.is_empty()
        && loose_key == loose_image
    {
        return NearMiss::host(
            "the kubelet cannot match an IPv6 address without a port: its glob reads the brackets as a character class",
        );
    }
    if pattern.port.is_empty()
        && pattern.labels.last().is_some_and(|l| l.contains(':'))
        && pattern.labels.iter().any(|l| l.contains('['))
        && related
    {
        return NearMiss::host(
            "the kubelet cannot split the port off a host that contains '[', so this key never matches",
        );
    }
    match distance {
        Some(d @ 1..=2) => NearMiss::host(format!(
            "the host differs from the image's by {d} character{}",
            if d == 1 { "" } else { "s" }
        )),
        _ => None,
    }
}

/// The rest of a key written with a scheme the kubelet does not strip (`HTTPS://`, `docker://`).
fn foreign_scheme_rest(key: &str) -> Option<&str> {
    let (scheme, rest) = key.split_once("://")?;
    let plain = scheme == "http" || scheme == "https";
    (!plain && !scheme.is_empty() && !scheme.contains('/')).then_some(rest)
}

/// Whether the labels after a key's last wildcard label end the image's host, e.g.
/// `*.example.com` for `example.com` or `a.b.example.com`.
fn star_suffix_matches(pattern: &UrlParts, target: &UrlParts) -> bool {
    let tail: Vec<&String> = pattern
        .labels
        .iter()
        .rev()
        .take_while(|l| !l.contains(['*', '?', '[']))
        .collect();
    !tail.is_empty()
        && target.labels.len() >= tail.len()
        && target
            .labels
            .iter()
            .rev()
            .zip(&tail)
            .all(|(t, p)| t.eq_ignore_ascii_case(p))
}

/// A key's host as a person reads it: lower-case, without scheme, user, port or path.
fn loose_host(text: &str) -> String {
    let lower = text.trim().to_ascii_lowercase();
    let rest = match lower.split_once("://") {
        Some((scheme, rest)) if !scheme.contains('/') => rest,
        _ => lower.as_str(),
    };
    let rest = rest.split('/').next().unwrap_or_default();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = match rest.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => rest.split(':').next().unwrap_or_default(),
    };
    host.to_owned()
}

/// Whether a key's loose host, read as globs per label, matches the image's loose host.
fn loose_glob_match(key: &str, image: &str) -> bool {
    let keys: Vec<&str> = key.split('.').collect();
    let images: Vec<&str> = image.split('.').collect();
    keys.len() == images.len() && keys.iter().zip(&images).all(|(k, i)| glob_match(k, i))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::inputs::kubelet::secret::{KEY_DOCKERCFG, TYPE_DOCKERCFG};
    use crate::inputs::kubelet::test_support::*;
    use crate::inputs::kubelet::{PodCredentials, PullSecret};
    use crate::model::credentials::CredentialSource as _;

    fn hints(keys: &[&str], image: &str) -> Vec<String> {
        keyring(&[&keys_secret("shop", "regcred", keys)]).near_misses(&reference(image))
    }

    #[test]
    fn near_miss_on_port() {
        assert_eq!(
            hints(&["myregistry.com:443"], "myregistry.com/shop/app:v1"),
            [
                "secret shop/regcred has key myregistry.com:443, which does not match myregistry.com (ports must be equal)"
            ]
        );
        assert_eq!(
            hints(&["localhost"], "localhost:5000/app"),
            [
                "secret shop/regcred has key localhost, which does not match localhost:5000 (ports must be equal)"
            ]
        );
    }

    #[test]
    fn near_miss_reasons() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "Registry.io",
                "registry.io/app",
                "(the kubelet compares host names case-sensitively)",
            ),
            (
                "registry.io/team",
                "registry.io/other/app",
                "which does not match registry.io/other/app (the key's path /team is not a prefix of the image's path /other/app)",
            ),
            (
                "registry.io/v1",
                "registry.io/app",
                "only /v1/ and /v2/ with the trailing slash are ignored",
            ),
            (
                "HTTPS://registry.io",
                "registry.io/app",
                "(the kubelet strips only a lower-case http:// or https:// in front of a key)",
            ),
            (
                "docker://registry.io/v2/",
                "registry.io/app",
                "strips only a lower-case",
            ),
            ("registr?.io", "registry.io/app", "'?' or '#' in a key"),
            ("reg istry.io", "registry.io/app", "cannot parse the key"),
            (
                "registry.io:port",
                "registry.io/app",
                "cannot parse the key",
            ),
            (
                "registry-1.docker.io",
                "nginx",
                "for Docker Hub images the kubelet uses keys for docker.io",
            ),
            (
                "https://index.docker.io/v1/library",
                "nginx",
                "for Docker Hub images",
            ),
            (
                "*.example.com",
                "example.com/app",
                "'*' stands for exactly one label: the key's host has 3 labels, the image's 2",
            ),
            (
                "*.example.com",
                "a.b.example.com/app",
                "the key's host has 3 labels, the image's 4",
            ),
            (
                "[::1]",
                "[::1]/app",
                "cannot match an IPv6 address without a port",
            ),
            (
                "reg[a-z]stry.io:5000",
                "registry.io:5000/app",
                "cannot split the port off",
            ),
            (
                "myregsitry.com",
                "myregistry.com/app",
                "(the host differs from the image's by 2 characters)",
            ),
            (
                "ghcr.io",
                "gcr.io/app",
                "(the host differs from the image's by 1 character)",
            ),
        ];
        for (key, image, want) in cases {
            let got = hints(&[key], image);
            assert_eq!(got.len(), 1, "{key} / {image}: {got:?}");
            assert!(got[0].contains(want), "{key} / {image}: {}", got[0]);
            assert!(
                got[0].starts_with("secret shop/regcred has key "),
                "{}",
                got[0]
            );
        }
    }

    #[test]
    fn unrelated_and_matching_keys_are_not_near_misses() {
        assert!(hints(&["quay.io", "registry.io"], "ghcr.io/org/app").is_empty());
        assert!(hints(&["ghcr.io"], "ghcr.io/org/app").is_empty());
        assert!(hints(&["example.com"], "registry.io/app").is_empty());
    }

    #[test]
    fn near_miss_keys_are_escaped() {
        let got = hints(&["registry.io\n"], "registry.io/app");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].contains("key registry.io\\n,"), "{}", got[0]);
    }

    #[test]
    fn misplaced_and_wrapped_keys_get_hints() {
        // A .dockercfg-shaped config under .dockerconfigjson: no auths at all.
        let secret = json_secret(
            "ns",
            "s",
            r#"{"registry.io": {"username": "u", "password": "p"}}"#,
        );
        assert_eq!(secret.keys().count(), 0);
        let pod = PodCredentials::new(&[&secret], None);
        let found = pod.candidates(&reference("registry.io/app")).unwrap();
        assert!(found.credentials.is_empty());
        assert_eq!(
            found.notes,
            [
                "secret ns/s has key registry.io, which does not match registry.io (it sits outside \"auths\", the only part of a .dockerconfigjson the kubelet reads)"
            ]
        );
        // A config.json-shaped config in a kubernetes.io/dockercfg secret.
        let secret = PullSecret::decode(
            "ns",
            "old",
            Some(TYPE_DOCKERCFG),
            &BTreeMap::new(),
            &map(&[(
                KEY_DOCKERCFG,
                r#"{"auths": {"registry.io": {"username": "u", "password": "p"}}}"#,
            )]),
        )
        .unwrap();
        assert_eq!(secret.keys().collect::<Vec<_>>(), ["auths"]);
        let pod = PodCredentials::new(&[&secret], None);
        let found = pod.candidates(&reference("registry.io/app")).unwrap();
        assert!(found.credentials.is_empty());
        assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
        assert!(
            found.notes[0].contains("has no \"auths\" wrapper"),
            "{:?}",
            found.notes
        );
    }
}
