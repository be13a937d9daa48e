//! The credentials a pod's image pull gets from the kubelet: its pull secrets and the node's
//! `config.json`, matched against the image exactly the way the kubelet matches them.
//!
//! A pull that works with `docker pull` on a laptop can still fail on a node, because the
//! kubelet picks credentials by rules of its own (Kubernetes `pkg/credentialprovider`):
//!
//! - Every key of a secret is turned into an index key (`BasicDockerKeyring.Add` in
//!   `keyring.go`): `https://` is put in front unless the key starts with a lower-case `http://`
//!   or `https://`, the result goes through Go's `url.Parse` (a key it refuses is ignored), a
//!   leading `/v1/` or `/v2/` of the path is cut to `/`, and the index key is the host (with its
//!   port) followed by the path unless that is empty or `/`.
//! - A lookup (`BasicDockerKeyring.Lookup`, `URLsMatch`) compares each index key with the
//!   image's name as `distribution/reference` normalizes it (`docker.io/library/nginx`, the
//!   registry spelled as written otherwise): the ports must be equal as text, the hosts must
//!   have as many dot-separated labels, each label of the key is a glob (Go's `filepath.Match`:
//!   `*`, `?`, `[...]`, case-sensitive) for the image's label, and the key's path must be a plain
//!   string prefix of the image's (`registry.io/te` matches `registry.io/team/app`).
//! - The index is sorted in reverse byte order, so `quay.io/team` comes before `quay.io`, and
//!   ALL matching credentials are returned in that order; entries under one index key keep the
//!   order they were added in.
//! - Only when nothing matched, an image that "looks like Docker Hub" (`isDefaultRegistryMatch`:
//!   `docker.io/…`, `index.docker.io/…`, or a first component without `.` or `:` — which
//!   includes `localhost/…`) gets the credentials under the index key `index.docker.io`, which
//!   is what `https://index.docker.io/v1/`, `index.docker.io/v1/` and `index.docker.io` become.
//! - A pod's secrets (its `imagePullSecrets`, then its `ServiceAccount`'s) form one keyring; the
//!   node's credentials another. The pod's matches come first (`UnionDockerKeyring`), then the
//!   node's. When anything matched, the kubelet tries each credential in turn and never falls
//!   back to an anonymous pull.
//! - An entry is decoded by `DockerConfigEntry.UnmarshalJSON` (`config.go`): `auth` (base64 of
//!   `user:password`, split at the first `:`) overrides `username` and `password`; `email` is
//!   type-checked too; `identitytoken`, `credHelpers` and `credsStore` are ignored — the kubelet
//!   never sends an identity token and never runs a helper.
//!
//! Errors and `Debug` output of this module never contain a password, a token, an `auth`
//! value or a secret's encoded data; JSON errors are rebuilt from `serde_json`'s category and
//! position, since its messages can quote the input.
//!
//! The parts, in the order the data flows: `secret` decodes a Secret into a [`PullSecret`];
//! `keyring` indexes its keys and matches images, with Go's URL parsing (`url`) and globs
//! (`glob`); `near_miss` explains keys that nearly match; [`PodCredentials`], here, unions a
//! pod's keyring with its node's.

mod glob;
mod keyring;
mod near_miss;
mod provider_config;
mod providers;
mod sa_token;
mod secret;
#[cfg(test)]
mod test_support;
mod url;

pub use keyring::Keyring;
pub use provider_config::{
    CredentialProvider, CredentialProviderConfig, ProviderConfigError, TokenAttributes,
    TokenCacheType,
};
pub use providers::{CredentialProviders, KUBELET_PLUGIN_TIMEOUT, PodServiceAccount};
pub use sa_token::{ServiceAccountToken, TokenError};
pub use secret::{PullSecret, PullSecretError};

#[cfg(feature = "fuzzing")]
pub(crate) use providers::fuzz_parse as fuzz_credential_providers;

use std::sync::Arc;
use std::time::Instant;

use crate::inputs::docker_config::DockerConfig;
use crate::model::credentials::{Candidates, CredentialError, CredentialSource, LocatedCredential};
use crate::model::reference::Reference;

use keyring::{Image, KeyringEntry};

/// The domain `distribution/reference` gives Docker Hub images.
const HUB_DOMAIN: &str = "docker.io";
/// The kubelet's `defaultRegistryHost`: the index key its Docker Hub fallback reads.
const HUB_INDEX_KEY: &str = "index.docker.io";

/// What one pod gives the kubelet: its pull secrets (the pod's `imagePullSecrets` then its
/// `ServiceAccount`'s, in order, already resolved) and the node's credentials.
#[derive(Debug)]
pub struct PodCredentials {
    /// All the pod's secrets in one keyring, as the kubelet builds it: the order across secrets
    /// is by index key, not by secret.
    pod: Keyring,
    node: Option<Keyring>,
    /// The node's credential provider plugins, asked after its `config.json`.
    providers: Option<Arc<CredentialProviders>>,
    /// The pod's service account, for the plugins that want its token.
    service_account: Option<PodServiceAccount>,
}

impl PodCredentials {
    /// The credentials of a pod with these secrets, on a node with this `config.json` (if any).
    pub fn new(pod_secrets: &[&PullSecret], node: Option<&DockerConfig>) -> PodCredentials {
        let mut pod = Keyring::new();
        for secret in pod_secrets {
            pod.add_secret(secret);
        }
        let node = node.map(|config| {
            let mut keyring = Keyring::new();
            keyring.add_docker_config(config);
            keyring
        });
        PodCredentials {
            pod,
            node,
            providers: None,
            service_account: None,
        }
    }

    /// The pod's service account, which credential provider plugins with `tokenAttributes`
    /// depend on (without it they are reported as having no pod).
    #[must_use]
    pub fn with_service_account(mut self, account: Option<PodServiceAccount>) -> Self {
        self.service_account = account;
        self
    }

    /// The same, with the node's credential provider plugins: the kubelet's
    /// `UnionDockerKeyring` of the pod's secrets, then the node's `config.json`, then what the
    /// plugins answer. They are run only by [`resolve`](CredentialSource::resolve);
    /// [`candidates`](CredentialSource::candidates) names those that would be asked.
    #[must_use]
    pub fn with_providers(mut self, providers: Option<Arc<CredentialProviders>>) -> Self {
        self.providers = providers;
        self
    }

    /// The kubelet's `UnionDockerKeyring` lookup: the pod's matches, then the node's, each
    /// keyring with its own Docker Hub fallback.
    fn candidates_for(&self, image: &Image) -> Candidates {
        let mut found = self.keyrings_for(image, None);
        if let Some(providers) = &self.providers {
            found.providers = providers
                .matching_image(image)
                .into_iter()
                .map(str::to_owned)
                .collect();
            found.warnings = providers.token_warnings(image, self.service_account.as_ref());
        }
        found
    }

    /// The pod's keyring, the node's, and the plugins' answers as a third keyring.
    fn keyrings_for(&self, image: &Image, plugins: Option<&Keyring>) -> Candidates {
        let keyrings: Vec<&Keyring> = std::iter::once(&self.pod)
            .chain(&self.node)
            .chain(plugins)
            .collect();
        let mut credentials = Vec::new();
        let mut notes = Vec::new();
        for keyring in &keyrings {
            let matched = keyring.lookup(image);
            Keyring::match_notes(&matched, &mut notes);
            credentials.extend(matched.into_iter().filter_map(KeyringEntry::located));
        }
        if credentials.is_empty() {
            for keyring in &keyrings {
                notes.extend(keyring.near_misses_for(image));
            }
        }
        Candidates {
            credentials,
            notes,
            ..Candidates::default()
        }
    }
}

impl CredentialSource for PodCredentials {
    /// The first credential for a repository-less name on `registry`: keys with a path never
    /// match it. [`candidates`](CredentialSource::candidates) is the faithful answer.
    fn lookup(&self, registry: &str) -> Result<Option<LocatedCredential>, CredentialError> {
        Ok(self
            .candidates_for(&Image::from_registry(registry))
            .credentials
            .into_iter()
            .next())
    }

    /// The pod keyring's matches, then the node keyring's; when none is usable, the notes
    /// carry the near misses of both.
    fn candidates(&self, reference: &Reference) -> Result<Candidates, CredentialError> {
        Ok(self.candidates_for(&Image::from_reference(reference)))
    }

    /// As [`candidates`](Self::candidates), with the plugins run (or their answers taken from
    /// this check's cache): their credentials come after the pod's and the node's, and each
    /// plugin that fails or gives nothing for the image is a warning.
    fn resolve(
        &self,
        reference: &Reference,
        deadline: Instant,
    ) -> Result<Candidates, CredentialError> {
        let image = Image::from_reference(reference);
        let Some(providers) = &self.providers else {
            return Ok(self.candidates_for(&image));
        };
        let answer = providers.answer(&image, Some(deadline), self.service_account.as_ref());
        let mut found = self.keyrings_for(&image, Some(&answer.keyring));
        found.providers = providers
            .matching_image(&image)
            .into_iter()
            .map(str::to_owned)
            .collect();
        found.warnings = answer.warnings;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::select;

    use super::*;
    use crate::inputs::kubelet::glob::glob_match;
    use crate::inputs::kubelet::secret::{KEY_DOCKERCFG, TYPE_DOCKERCFG};
    use crate::inputs::kubelet::test_support::*;
    use crate::inputs::kubelet::url::split_host_port;

    #[test]
    fn pod_secrets_come_before_the_node_and_each_has_its_own_fallback() {
        let pod = keys_secret("ns", "s", &["docker.io"]);
        let node = DockerConfig::parse(
            r#"{"auths": {"https://index.docker.io/v1/": {"username": "node", "password": "p"}, "docker.io/library/nginx": {"username": "node2", "password": "p"}}}"#,
            std::path::Path::new("/var/lib/kubelet/config.json"),
        )
        .unwrap();
        let pod_credentials = PodCredentials::new(&[&pod], Some(&node));
        let found = pod_credentials.candidates(&reference("nginx")).unwrap();
        let origins: Vec<&str> = found
            .credentials
            .iter()
            .map(|c| c.origin.as_str())
            .collect();
        assert_eq!(
            origins,
            [
                "secret ns/s, key docker.io",
                "node docker-config /var/lib/kubelet/config.json, key docker.io/library/nginx",
            ]
        );
        assert!(found.notes.is_empty(), "{:?}", found.notes);
        // The node keyring's own fallback applies when its other keys miss.
        let found = pod_credentials
            .candidates(&reference("someone/app"))
            .unwrap();
        let origins: Vec<&str> = found
            .credentials
            .iter()
            .map(|c| c.origin.as_str())
            .collect();
        assert_eq!(
            origins,
            [
                "secret ns/s, key docker.io",
                "node docker-config /var/lib/kubelet/config.json, key https://index.docker.io/v1/",
            ]
        );
        // lookup() gives the first candidate for a registry.
        let first = pod_credentials.lookup("docker.io").unwrap().unwrap();
        assert_eq!(first.origin, "secret ns/s, key docker.io");
        assert_eq!(pod_credentials.lookup("ghcr.io").unwrap(), None);
    }

    #[test]
    fn lookup_by_registry_ignores_keys_with_a_path() {
        let secret = keys_secret("ns", "s", &["registry.io/team", "localhost:5000"]);
        let pod = PodCredentials::new(&[&secret], None);
        assert_eq!(pod.lookup("registry.io").unwrap(), None);
        assert_eq!(
            pod.lookup("localhost:5000").unwrap().unwrap().credential,
            basic("localhost:5000", "pw")
        );
    }

    #[test]
    fn pod_credentials_are_a_usable_trait_object() {
        let secret = keys_secret("ns", "s", &["r.io"]);
        let source: std::sync::Arc<dyn CredentialSource> =
            std::sync::Arc::new(PodCredentials::new(&[&secret], None));
        assert!(source.lookup("r.io").unwrap().is_some());
        assert_eq!(
            source
                .candidates(&reference("r.io/app"))
                .unwrap()
                .credentials
                .len(),
            1
        );
    }

    #[test]
    fn notes_come_from_both_keyrings_only_when_nothing_matches() {
        let secret = keys_secret("shop", "regcred", &["myregistry.com:443"]);
        let node = DockerConfig::parse(
            r#"{"auths": {"https://myregistry.com/v1/team": {"username": "n", "password": "p"}}}"#,
            std::path::Path::new("/var/lib/kubelet/config.json"),
        )
        .unwrap();
        let pod = PodCredentials::new(&[&secret], Some(&node));
        let found = pod
            .candidates(&reference("myregistry.com/shop/app"))
            .unwrap();
        assert!(found.credentials.is_empty());
        assert_eq!(
            found.notes,
            [
                "secret shop/regcred has key myregistry.com:443, which does not match myregistry.com (ports must be equal)",
                "node docker-config /var/lib/kubelet/config.json has key https://myregistry.com/v1/team, which does not match myregistry.com/shop/app (the key's path /team is not a prefix of the image's path /shop/app)",
            ]
        );
        let found = pod
            .candidates(&reference("myregistry.com/team/app"))
            .unwrap();
        assert_eq!(found.credentials.len(), 1);
        assert!(found.notes.is_empty(), "{:?}", found.notes);
    }

    #[test]
    fn an_empty_entry_that_matches_is_noted() {
        let secret = json_secret(
            "ns",
            "s",
            r#"{"auths": {"registry.io": {}, "other.io": null}}"#,
        );
        assert_eq!(
            secret.keys().collect::<Vec<_>>(),
            ["other.io", "registry.io"]
        );
        let pod = PodCredentials::new(&[&secret], None);
        let found = pod.candidates(&reference("registry.io/app")).unwrap();
        assert!(found.credentials.is_empty());
        assert_eq!(
            found.notes,
            [
                "secret ns/s, key registry.io matches but holds no user name or password: the kubelet tries it as an anonymous pull"
            ]
        );
    }

    #[test]
    fn canary_never_in_debug_of_secret_keyring_or_candidates() {
        use std::fmt::Write as _;
        let secret = json_secret(
            "ns",
            "s",
            &format!(
                r#"{{"auths": {{"a.io": {{"auth": "{}"}}, "b.io": {{"username": "u", "password": "{CANARY}"}}, "c.io": {{"identitytoken": "{CANARY}"}}, "a.io:5000": {{"auth": "{}"}}}}}}"#,
                b64(&format!("user:{CANARY}")),
                b64(&format!("user:{CANARY}")),
            ),
        );
        let keyring = keyring(&[&secret]);
        let pod = PodCredentials::new(&[&secret], None);
        let mut text = format!("{secret:?} {secret:#?} {keyring:?} {pod:#?}");
        for image in ["a.io/x", "b.io/x", "c.io/x", "a.io:5001/x", "d.io/x"] {
            let found = pod.candidates(&reference(image)).unwrap();
            write!(
                text,
                "{found:?} {:?}",
                keyring.near_misses(&reference(image))
            )
            .unwrap();
            for c in &found.credentials {
                text.push_str(&c.origin);
            }
        }
        assert_no_canary(&text);
        // The secrets are there, though: only their printing is redacted.
        let found = pod.candidates(&reference("b.io/x")).unwrap();
        assert_eq!(found.credentials[0].credential, basic("u", CANARY));
    }

    /// Up to `max` characters of `alphabet`.
    fn text(alphabet: &[char], max: usize) -> impl Strategy<Value = String> + use<> {
        vec(select(alphabet.to_vec()), 0..=max).prop_map(String::from_iter)
    }

    /// What keys are made of: the characters URL parsing, globs and ports branch on.
    fn key_text(max: usize) -> impl Strategy<Value = String> {
        let alphabet: Vec<char> = "ab.io:5[]^-*?\\/%#@![]:.."
            .chars()
            .chain([
                '2', 'f', 'é', ' ', '\u{0}', 'v', '1', 'h', 't', 'p', 's', 'A',
            ])
            .collect();
        text(&alphabet, max)
    }

    /// What a docker config is made of, enough to reach every decoding error.
    fn json_text(max: usize) -> impl Strategy<Value = String> {
        let alphabet: Vec<char> =
            r#"{}[]":,auths ername pwod\1=.x"#.chars().chain(['é', '\n', '\u{1}']).collect();
        text(&alphabet, max)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn arbitrary_keys_and_configs_never_panic(
            keys in vec(key_text(24), 3),
            pattern in key_text(12),
            name in key_text(12),
            json in json_text(40),
        ) {
            let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
            let keyring = keyring(&[&keys_secret("ns", "s", &key_refs)]);
            for image in [
                "nginx",
                "registry.io/team/app",
                "a.io:5000/x",
                "[::1]:5000/x",
                "localhost/x",
                "Ab.Io/x",
            ] {
                let image = reference(image);
                let _ = keyring.matches(&image);
                let _ = keyring.near_misses(&image);
            }
            let _ = glob_match(&pattern, &name);
            let _ = split_host_port(&name);
            let _ = decode_json("ns", "s", &json);
            let _ = PullSecret::decode(
                "ns",
                "s",
                Some(TYPE_DOCKERCFG),
                &map(&[(KEY_DOCKERCFG, &json)]),
                &BTreeMap::new(),
            );
        }
    }
}
