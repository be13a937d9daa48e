//! The kubelet's `BasicDockerKeyring`: keys from pull Secrets or a node's `config.json`, turned
//! into index keys, and the lookup that decides which credentials an image gets and in which
//! order, with the Docker Hub fallback.

use crate::inputs::docker_config::DockerConfig;
use crate::model::credentials::{Credential, LocatedCredential};
use crate::model::reference::Reference;
use crate::model::secret::Secret;

use super::secret::PullSecret;
use super::url::{UrlParts, index_key};
use super::{HUB_DOMAIN, HUB_INDEX_KEY};

/// One keyring: the kubelet's `BasicDockerKeyring`, built from pull secrets or from the node's
/// `config.json`, with the kubelet's matching, order and Docker Hub fallback.
///
/// `Debug` is safe to print: credentials are held as [`Credential`]s, whose secrets are redacted.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// In the order added; matching sorts by index key.
    pub(super) entries: Vec<KeyringEntry>,
}

#[derive(Debug, Clone)]
pub(super) struct KeyringEntry {
    /// Where the key is written, for hints: `secret shop/regcred`, `node docker-config PATH`.
    pub(super) source: String,
    /// The key as written.
    pub(super) key: String,
    /// `{source}, key {key}`: the credential's origin.
    pub(super) origin: String,
    /// The kubelet's index key; `None` when it cannot parse the key and ignores it.
    pub(super) index: Option<String>,
    /// The index key parsed again, as every lookup does; `None` when that fails, and the key
    /// never matches.
    pub(super) pattern: Option<UrlParts>,
    /// What the kubelet sends; `None` for an entry without user name and password, which the
    /// kubelet sends empty (the runtime then pulls anonymously).
    pub(super) credential: Option<Credential>,
    /// An `identitytoken` was there, and the kubelet dropped it.
    pub(super) identity_token: bool,
    /// A top-level key of a `.dockerconfigjson`, outside `auths`: never used, only hinted at.
    pub(super) misplaced: bool,
}

/// A key as it may be shown: without user information (`user:password@`).
fn shown_key(key: &str) -> String {
    let (scheme, rest) = match key.find("://") {
        Some(i) => key.split_at(i + 3),
        None => ("", key),
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let rest = match rest[..host_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{scheme}{rest}")
}

impl KeyringEntry {
    pub(super) fn new(
        source: &str,
        key: &str,
        credential: Option<Credential>,
        identity_token: bool,
    ) -> Self {
        let index = index_key(key);
        let pattern = index.as_deref().and_then(UrlParts::parse_schemeless);
        // A key may carry `user:password@` (Go's URL parse drops it for matching): what is shown
        // never does.
        let shown = shown_key(key);
        KeyringEntry {
            source: source.to_owned(),
            origin: format!("{source}, key {shown}"),
            key: shown,
            index,
            pattern,
            credential,
            identity_token,
            misplaced: false,
        }
    }

    pub(super) fn located(&self) -> Option<LocatedCredential> {
        self.credential.clone().map(|credential| LocatedCredential {
            credential,
            origin: self.origin.clone(),
        })
    }
}

/// An image as the kubelet looks it up.
#[derive(Debug)]
pub(super) struct Image {
    /// `distribution/reference`'s `Name()`: `docker.io/library/nginx`, `Registry.io:5000/app`.
    pub(super) name: String,
    /// The registry part of `name`.
    pub(super) domain: String,
    /// `name` as `URLsMatch` sees it.
    pub(super) target: Option<UrlParts>,
    /// The kubelet's `isDefaultRegistryMatch`, which decides whether the `index.docker.io`
    /// credentials apply when nothing else matched.
    pub(super) default_registry: bool,
}

impl Image {
    pub(super) fn from_reference(reference: &Reference) -> Image {
        let domain = if reference.is_docker_hub() {
            // `distribution/reference` folds only the exact `index.docker.io` into `docker.io`;
            // a Hub name in capitals (`Docker.IO/x`) stays as written there. We fold every
            // spelling, as `Reference` does: such names do not reach real manifests.
            HUB_DOMAIN.to_owned()
        } else {
            // `distribution/reference` keeps the registry as written, and the kubelet's globs
            // are case-sensitive: `Registry.io` and `registry.io` are different to it.
            reference
                .original()
                .split_once('/')
                .map(|(domain, _)| domain)
                .filter(|domain| domain.eq_ignore_ascii_case(reference.registry()))
                .unwrap_or(reference.registry())
                .to_owned()
        };
        Image::new(format!("{domain}/{}", reference.repository()), domain)
    }

    /// A registry without a repository, for [`CredentialSource::lookup`]: keys with a path
    /// never match it.
    pub(super) fn from_registry(registry: &str) -> Image {
        // A lone `ghcr.io` would read as a Docker Hub repository to `isDefaultRegistryMatch`;
        // judged as an image of that registry, it does not.
        let mut image = Image::new(registry.to_owned(), registry.to_owned());
        image.default_registry = default_registry_match(&format!("{registry}/image"));
        image
    }

    fn new(name: String, domain: String) -> Image {
        Image {
            target: UrlParts::parse_schemeless(&name),
            default_registry: default_registry_match(&name),
            name,
            domain,
        }
    }
}

/// The kubelet's `isDefaultRegistryMatch` for an image name.
fn default_registry_match(name: &str) -> bool {
    let mut parts = name.splitn(2, '/');
    let first = parts.next().unwrap_or_default();
    if first.is_empty() {
        return false;
    }
    if parts.next().is_none() || first == HUB_DOMAIN || first == HUB_INDEX_KEY {
        return true;
    }
    !first.contains(['.', ':'])
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Keyring {
        Keyring::default()
    }

    /// Adds every key of a pull secret, with the origin `secret {namespace}/{name}, key {key}`.
    pub fn add_secret(&mut self, secret: &PullSecret) {
        let source = format!("secret {}/{}", secret.namespace, secret.name);
        for entry in &secret.entries {
            self.entries.push(KeyringEntry::new(
                &source,
                &entry.key,
                entry.credential.clone(),
                entry.identity_token,
            ));
        }
        for key in &secret.misplaced {
            let mut entry = KeyringEntry::new(&source, key, None, false);
            entry.misplaced = true;
            self.entries.push(entry);
        }
    }

    /// Adds the `auths` of the node's `config.json`, with the origin
    /// `node docker-config {path}, key {key}`. Credential helpers are ignored, as the kubelet
    /// ignores them.
    ///
    /// The file was parsed with Docker's rules; an `identitytoken` entry becomes what the
    /// kubelet sends for it: the user name alone, or nothing when there is none.
    pub fn add_docker_config(&mut self, config: &DockerConfig) {
        let source = format!("node docker-config {}", config.path().display());
        for (key, credential) in config.entries() {
            let (credential, identity_token) = match credential {
                // The kubelet reads no identity token; Docker's parse dropped the password that
                // may have stood beside it, which for registries issuing such tokens is empty.
                Credential::IdentityToken { username, .. } => (
                    (!username.is_empty()).then(|| Credential::Basic {
                        username: username.clone(),
                        password: Secret::new(""),
                    }),
                    true,
                ),
                other => (Some(other.clone()), false),
            };
            self.entries
                .push(KeyringEntry::new(&source, key, credential, identity_token));
        }
    }

    /// Every credential the kubelet would try for `reference`, in its order: most specific
    /// index key first (reverse byte order), entries under one key in the order added.
    /// Entries without user name and password take part in matching but are left out: the
    /// runtime would pull anonymously with them.
    pub fn matches(&self, reference: &Reference) -> Vec<LocatedCredential> {
        self.lookup(&Image::from_reference(reference))
            .into_iter()
            .filter_map(KeyringEntry::located)
            .collect()
    }

    /// Keys that do not match `reference` but nearly do — the same host with another port,
    /// another letter case, a path that is not a prefix, a scheme the kubelet does not strip,
    /// a key it cannot parse, a glob that spans the wrong number of labels, a host within two
    /// edits — as sentences such as "secret shop/regcred has key myregistry.com:443, which
    /// does not match myregistry.com (ports must be equal)".
    pub fn near_misses(&self, reference: &Reference) -> Vec<String> {
        self.near_misses_for(&Image::from_reference(reference))
    }

    /// `BasicDockerKeyring.Lookup`, keeping the entries (empty ones included: they count as a
    /// match, which turns off the Docker Hub fallback).
    pub(super) fn lookup(&self, image: &Image) -> Vec<&KeyringEntry> {
        let mut found: Vec<&KeyringEntry> = match &image.target {
            Some(target) => self
                .entries
                .iter()
                .filter(|e| !e.misplaced && e.pattern.as_ref().is_some_and(|p| p.matches(target)))
                .collect(),
            None => Vec::new(),
        };
        // Stable, so that entries under one index key keep the order they were added in.
        found.sort_by(|a, b| b.index.cmp(&a.index));
        if found.is_empty() && image.default_registry {
            found = self
                .entries
                .iter()
                .filter(|e| !e.misplaced && e.index.as_deref() == Some(HUB_INDEX_KEY))
                .collect();
        }
        found
    }

    /// The kubelet's notes on entries that matched: what it sends differs from what is written.
    pub(super) fn match_notes(matched: &[&KeyringEntry], notes: &mut Vec<String>) {
        for entry in matched {
            if entry.identity_token {
                notes.push(format!(
                    "{}: the kubelet ignores identitytoken and sends only the user name and password",
                    entry.origin
                ));
            } else if entry.credential.is_none() {
                notes.push(format!(
                    "{} matches but holds no user name or password: the kubelet tries it as an anonymous pull",
                    entry.origin
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::kubelet::PodCredentials;
    use crate::inputs::kubelet::test_support::*;
    use crate::model::credentials::CredentialSource as _;

    #[test]
    #[allow(clippy::too_many_lines, reason = "one table")]
    fn key_matching_table() {
        let cases: &[(&str, &str, bool)] = &[
            // Hosts, schemes and the /v1/ /v2/ suffixes.
            ("registry.io", "registry.io/app", true),
            ("registry.io", "other.io/app", false),
            ("registry.io", "sub.registry.io/app", false),
            ("https://registry.io", "registry.io/app", true),
            ("http://registry.io", "registry.io/app", true),
            ("https://registry.io/", "registry.io/app", true),
            ("https://registry.io/v1/", "registry.io/app", true),
            ("https://registry.io/v2/", "registry.io/app", true),
            ("registry.io/v2/", "registry.io/app", true),
            // Only a lower-case scheme is stripped; any other reads as a host "HTTPS:".
            ("HTTPS://registry.io", "registry.io/app", false),
            ("docker://registry.io", "registry.io/app", false),
            ("user@registry.io", "registry.io/app", true),
            // Paths: a plain string prefix, after a leading /v1/ or /v2/ is cut.
            ("registry.io/team", "registry.io/team/app", true),
            ("registry.io/team", "registry.io/other/app", false),
            ("registry.io/te", "registry.io/team/app", true),
            ("registry.io/team/app", "registry.io/team/app2", true),
            ("registry.io/team/app/", "registry.io/team/app", false),
            ("registry.io/v1", "registry.io/app", false),
            ("registry.io/v2/team", "registry.io/team/app", true),
            (
                "https://registry.io/v1/team",
                "registry.io/other/app",
                false,
            ),
            ("registry.io/te%61m", "registry.io/team/app", true),
            // Ports: equal as text, or both absent.
            ("registry.io:5000", "registry.io:5000/app", true),
            ("registry.io:5000", "registry.io/app", false),
            ("registry.io", "registry.io:5000/app", false),
            ("registry.io:5001", "registry.io:5000/app", false),
            ("myregistry.com:443", "myregistry.com/app", false),
            ("registry.io:05000", "registry.io:5000/app", false),
            ("registry.io:", "registry.io/app", true),
            ("localhost:5000", "localhost:5000/app", true),
            ("registry.io:50x0", "registry.io:5000/app", false),
            // Globs, one per label.
            ("*.example.com", "a.example.com/app", true),
            ("*.example.com", "example.com/app", false),
            ("*.example.com", "a.b.example.com/app", false),
            ("*.*.example.com", "a.b.example.com/app", true),
            ("reg*.example.com", "registry.example.com/app", true),
            ("*.example.com:5000", "a.example.com:5000/app", true),
            ("*", "localhost/app", true),
            ("reg[a-z]stry.io", "registry.io/app", true),
            ("reg[a-c]stry.io", "registry.io/app", false),
            ("reg[!x]stry.io", "registry.io/app", false),
            ("re[e-h]istry.io", "registry.io/app", true),
            // '^' may not appear in a URL host: Go refuses the key.
            ("reg[^x]stry.io", "registry.io/app", false),
            ("reg[istry.io", "registry.io/app", false),
            ("reg[]istry.io", "registry.io/app", false),
            ("reg[a-]istry.io", "registry.io/app", false),
            // With a port, '[' makes SplitHostPort fail and the port is never split off.
            ("reg[a-z]stry.io:5000", "registry.io:5000/app", false),
            // '?' starts the URL's query: "registr" is all that is left of the host.
            ("registr?.io", "registry.io/app", false),
            ("registry.io?x", "registry.io/app", true),
            ("registry.io#x", "registry.io/app", true),
            (" registry.io", "registry.io/app", false),
            ("", "registry.io/app", false),
            // Docker Hub.
            ("https://index.docker.io/v1/", "nginx", true),
            ("index.docker.io/v1/", "library/nginx", true),
            ("index.docker.io", "someone/app:v1", true),
            ("http://index.docker.io/v2/", "docker.io/someone/app", true),
            ("docker.io", "nginx", true),
            ("https://docker.io", "index.docker.io/library/nginx", true),
            ("docker.io/library", "nginx", true),
            ("docker.io/library", "someone/app", false),
            ("docker.io/nginx", "nginx", false),
            ("registry-1.docker.io", "nginx", false),
            ("*.docker.io", "nginx", false),
            ("https://index.docker.io/v1/library", "nginx", false),
            ("https://index.docker.io/v1/", "ghcr.io/org/app", false),
            ("https://index.docker.io/v1/", "localhost:5000/app", false),
            // The kubelet's isDefaultRegistryMatch reads `localhost/app` as Docker Hub.
            ("https://index.docker.io/v1/", "localhost/app", true),
            // IPv6.
            ("[::1]:5000", "[::1]:5000/app", true),
            ("[::1]:5000", "[::1]:5001/app", false),
            (
                "http://[2001:db8::1]:5000/v2/",
                "[2001:db8::1]:5000/app",
                true,
            ),
            ("[::1]", "[::1]/app", false),
            ("[2001:DB8::1]:5000", "[2001:db8::1]:5000/app", false),
            ("[1.2.3.4]:5000", "1.2.3.4:5000/app", false),
            // Letter case: the kubelet's globs are case-sensitive, and the image keeps its
            // registry as written.
            ("Registry.IO", "registry.io/app", false),
            ("registry.io", "Registry.IO/app", false),
            ("Registry.IO", "Registry.IO/app", true),
        ];
        assert!(cases.len() >= 40, "only {} cases", cases.len());
        for &(key, image, want) in cases {
            let keyring = keyring(&[&keys_secret("ns", "s", &[key])]);
            let got = !keyring.matches(&reference(image)).is_empty();
            assert_eq!(got, want, "key {key:?} for image {image}");
        }
    }

    #[test]
    fn most_specific_key_first_and_all_matches_returned() {
        let secret = keys_secret(
            "ns",
            "s",
            &[
                "registry.io",
                "registry.io/team",
                "https://registry.io/v2/",
                "*.io",
                "registry.io/team/app",
                "other.io",
            ],
        );
        let keyring = keyring(&[&secret]);
        // Reverse byte order of index keys: registry.io/team/app > registry.io/team >
        // registry.io > *.io; the two keys that both become `registry.io` keep byte order.
        assert_eq!(
            matched_users(&keyring, "registry.io/team/app:v1"),
            [
                "registry.io/team/app",
                "registry.io/team",
                "https://registry.io/v2/",
                "registry.io",
                "*.io",
            ]
        );
    }

    #[test]
    fn order_spans_secrets_by_index_key_then_secret_order() {
        let first = keys_secret("ns", "first", &["registry.io"]);
        let second = keys_secret("ns", "second", &["registry.io/team", "registry.io"]);
        let keyring = keyring(&[&first, &second]);
        let found = keyring.matches(&reference("registry.io/team/app"));
        let origins: Vec<&str> = found.iter().map(|c| c.origin.as_str()).collect();
        assert_eq!(
            origins,
            [
                "secret ns/second, key registry.io/team",
                "secret ns/first, key registry.io",
                "secret ns/second, key registry.io",
            ]
        );
    }

    #[test]
    fn hub_fallback_only_when_nothing_else_matches() {
        let secret = keys_secret(
            "ns",
            "s",
            &["https://index.docker.io/v1/", "docker.io/library"],
        );
        let keyring = keyring(&[&secret]);
        assert_eq!(matched_users(&keyring, "nginx"), ["docker.io/library"]);
        assert_eq!(
            matched_users(&keyring, "someone/app"),
            ["https://index.docker.io/v1/"]
        );
        // An empty entry counts as a match too, and hides the fallback.
        let secret = json_secret(
            "ns",
            "s",
            r#"{"auths": {"docker.io": {}, "index.docker.io": {"username": "u", "password": "p"}}}"#,
        );
        let keyring = self::keyring(&[&secret]);
        assert!(keyring.matches(&reference("nginx")).is_empty());
        let hints = keyring.near_misses(&reference("nginx"));
        assert_eq!(
            hints,
            [
                "secret ns/s has key index.docker.io, which does not match docker.io/library/nginx (the kubelet falls back to index.docker.io keys only when no other key matches, and secret ns/s, key docker.io does)"
            ]
        );
    }

    #[test]
    fn node_identity_tokens_become_what_the_kubelet_sends() {
        let node = DockerConfig::parse(
            &format!(
                r#"{{"auths": {{"acr.io": {{"auth": "{}", "identitytoken": "{CANARY}"}}, "t.io": {{"identitytoken": "{CANARY}"}}}}}}"#,
                b64("00000000-0000:")
            ),
            std::path::Path::new("/root/.docker/config.json"),
        )
        .unwrap();
        let pod = PodCredentials::new(&[], Some(&node));
        let found = pod.candidates(&reference("acr.io/app")).unwrap();
        assert_eq!(found.credentials.len(), 1);
        assert_eq!(found.credentials[0].credential, basic("00000000-0000", ""));
        assert_eq!(
            found.notes,
            [
                "node docker-config /root/.docker/config.json, key acr.io: the kubelet ignores identitytoken and sends only the user name and password"
            ]
        );
        let found = pod.candidates(&reference("t.io/app")).unwrap();
        assert!(found.credentials.is_empty());
        assert_no_canary(&format!("{pod:?} {found:?}"));
    }

    #[test]
    fn keys_with_user_information_are_never_shown() {
        assert_eq!(
            shown_key("https://robot:S3CRET@r.example.com/v1/"),
            "https://r.example.com/v1/"
        );
        assert_eq!(shown_key("robot:S3CRET@r.example.com"), "r.example.com");
        assert_eq!(
            shown_key("r.example.com/path?q#x"),
            "r.example.com/path?q#x"
        );
        assert_eq!(shown_key("r.example.com/a@b"), "r.example.com/a@b");
        assert_eq!(shown_key("ünïcode@h"), "h");
    }
}
