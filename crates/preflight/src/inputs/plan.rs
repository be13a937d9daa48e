//! From a deploy's manifests to the images to check, each with the credentials the node would
//! pull it with: the pod's `imagePullSecrets`, then its service account's, then the node's own
//! `config.json` — or, when asked, the CI runner's credentials for everything.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::diagnosis::lint;
use crate::diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
use crate::engine::request::ImageRequest;
use crate::inputs::docker_config::DockerConfig;
use crate::inputs::kubelet::{
    CredentialProviders, PodCredentials, PodServiceAccount, PullSecret, PullSecretError,
};
use crate::inputs::manifests::{Extraction, ImageUse, SecretObject};
use crate::model::credentials::CredentialSource;
use crate::model::reference::Reference;
use crate::report::Source;

/// Whose credentials images from manifests are pulled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CredentialMode {
    /// As the kubelet would: the pod's pull secrets, its service account's, then the node's.
    #[default]
    Kubelet,
    /// As this CI job would: the checker's own credential source, for every image.
    Ci,
}

/// How to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Whose credentials.
    pub mode: CredentialMode,
    /// The node's `config.json`, tried after the pod's secrets (its helpers are never run).
    pub node_config: Option<Arc<DockerConfig>>,
    /// A pull secret named by a pod but absent from the inputs fails the image, instead of a warning.
    pub require_pull_secrets: bool,
    /// The node's credential provider plugins (the kubelet's
    /// `--image-credential-provider-config` and `--image-credential-provider-bin-dir`), asked
    /// after the node's `config.json`.
    pub credential_providers: Option<Arc<CredentialProviders>>,
}

/// The images to check, and the pull Secrets in the inputs that could not be decoded.
#[derive(Debug, Default)]
pub struct Plan {
    /// One request per image use (the checker merges equal ones).
    pub requests: Vec<ImageRequest>,
    /// Secrets of a pull-secret type whose data does not decode, with where they are.
    pub invalid_secrets: Vec<(Source, PullSecretError)>,
}

const DOCKERCONFIGJSON: &str = "kubernetes.io/dockerconfigjson";
const DOCKERCFG: &str = "kubernetes.io/dockercfg";

/// What the inputs hold under one `namespace/name`.
enum SecretState {
    Usable(Arc<PullSecret>),
    /// Not a pull secret (another type, or no pull-secret key): the kubelet skips it.
    Ignored(String),
    /// A pull secret whose data does not decode.
    Invalid(String),
}

/// Plans the check of every image the manifests use.
pub fn plan(extraction: &Extraction, options: &PlanOptions) -> Plan {
    let mut out = Plan::default();
    let mut secrets: HashMap<(String, String), SecretState> = HashMap::new();
    for s in &extraction.secrets {
        let key = (s.namespace.clone(), s.name.clone());
        let state = decode(s, &mut out.invalid_secrets);
        secrets.insert(key, state);
    }
    let accounts: HashMap<(&str, &str), &[String]> = extraction
        .service_accounts
        .iter()
        .map(|sa| {
            (
                (sa.namespace.as_str(), sa.name.as_str()),
                sa.image_pull_secrets.as_slice(),
            )
        })
        .collect();
    // Pods naming the same secrets (and, when a provider wants it, the same service account)
    // share one credential source.
    let mut sources: HashMap<(String, Vec<String>, String), Arc<PodCredentials>> = HashMap::new();
    let wants_accounts = options.credential_providers.as_ref().is_some_and(|p| {
        p.config()
            .providers
            .iter()
            .any(|p| p.token_attributes.is_some())
    });

    for use_ in &extraction.images {
        let mut req = ImageRequest::new(use_.reference.clone());
        req.sources.push(use_.source.clone());
        req.platforms = use_
            .node_platforms
            .iter()
            .filter_map(|p| crate::model::platform::Platform::parse(p).ok())
            .collect();
        if let Ok(r) = Reference::parse(&use_.reference) {
            req.warnings =
                lint::pull_policy_warnings(&r, use_.pull_policy.as_deref(), &place(use_));
        }
        if options.mode == CredentialMode::Kubelet {
            let names = secret_names(use_, &accounts);
            let mut usable = Vec::new();
            for name in &names {
                match secrets.get(&(use_.namespace.clone(), name.clone())) {
                    Some(SecretState::Usable(s)) => usable.push(Arc::clone(s)),
                    Some(SecretState::Ignored(why)) => req.warnings.push(Warning {
                        code: WarningCode::PullSecretInvalid,
                        message: format!("pull secret {}/{name} is skipped: {why}", use_.namespace),
                    }),
                    Some(SecretState::Invalid(why)) => {
                        req.failure.get_or_insert_with(|| {
                            Diagnosis::new(
                                Code::PullSecretInvalid,
                                Stage::Auth,
                                format!("pull secret {}/{name}: {why}", use_.namespace),
                            )
                        });
                    }
                    None => {
                        // One message per secret, whatever pod names it: the sources say which.
                        let mut message = format!(
                            "the pull secret {}/{name} is not in the inputs (it may exist in the cluster: pass it with --pull-secrets to check with it)",
                            use_.namespace
                        );
                        let elsewhere: Vec<&str> = secrets
                            .keys()
                            .filter(|(ns, n)| n == name && *ns != use_.namespace)
                            .map(|(ns, _)| ns.as_str())
                            .collect();
                        if !elsewhere.is_empty() {
                            let _ = write!(
                                message,
                                "; a Secret of that name is in namespace {}: pods only use Secrets of their own namespace (objects without a namespace are in --namespace, default \"default\")",
                                elsewhere.join(", ")
                            );
                        }
                        if options.require_pull_secrets {
                            req.failure.get_or_insert_with(|| {
                                Diagnosis::new(Code::PullSecretMissing, Stage::Auth, message)
                            });
                        } else {
                            req.warnings.push(Warning {
                                code: WarningCode::PullSecretMissing,
                                message,
                            });
                        }
                    }
                }
            }
            let account = if wants_accounts {
                use_.service_account.clone()
            } else {
                String::new()
            };
            let key = (use_.namespace.clone(), names, account);
            let source = sources.entry(key).or_insert_with(|| {
                let refs: Vec<&PullSecret> = usable.iter().map(AsRef::as_ref).collect();
                let account = wants_accounts.then(|| {
                    let object = extraction.service_accounts.iter().rev().find(|sa| {
                        sa.namespace == use_.namespace && sa.name == use_.service_account
                    });
                    PodServiceAccount::new(
                        use_.namespace.clone(),
                        use_.service_account.clone(),
                        object.map(|sa| sa.annotations.clone()),
                    )
                });
                Arc::new(
                    PodCredentials::new(&refs, options.node_config.as_deref())
                        .with_providers(options.credential_providers.clone())
                        .with_service_account(account),
                )
            });
            let source: Arc<dyn CredentialSource> = Arc::clone(source) as Arc<dyn CredentialSource>;
            req.credentials = Some(source);
        }
        out.requests.push(req);
    }
    out
}

fn decode(s: &SecretObject, invalid: &mut Vec<(Source, PullSecretError)>) -> SecretState {
    let kind = s.secret_type.as_deref();
    if !matches!(kind, Some(DOCKERCONFIGJSON | DOCKERCFG)) {
        return SecretState::Ignored(format!(
            "its type is {}, not {DOCKERCONFIGJSON} or {DOCKERCFG}, so the kubelet ignores it",
            kind.unwrap_or("Opaque (no type given)")
        ));
    }
    match PullSecret::decode(&s.namespace, &s.name, kind, &s.data, &s.string_data) {
        Ok(p) => SecretState::Usable(Arc::new(p)),
        // The kubelet skips a pull secret without its key, as one of another type.
        Err(e @ PullSecretError::MissingKey { .. }) => SecretState::Ignored(e.to_string()),
        Err(e) => {
            let why = e.to_string();
            invalid.push((s.source.clone(), e));
            SecretState::Invalid(why)
        }
    }
}

/// The pod's `imagePullSecrets`; only when it has none, its service account's (the admission
/// plugin copies them into pods that name none), without repeats.
fn secret_names(use_: &ImageUse, accounts: &HashMap<(&str, &str), &[String]>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let own = use_.image_pull_secrets.as_slice();
    let from = if own.is_empty() {
        accounts
            .get(&(use_.namespace.as_str(), use_.service_account.as_str()))
            .copied()
            .unwrap_or_default()
    } else {
        own
    };
    for n in from {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// `Deployment/shop/app container app`, for messages.
fn place(use_: &ImageUse) -> String {
    let mut s = use_
        .source
        .object
        .clone()
        .unwrap_or_else(|| use_.source.file.clone());
    if let Some(c) = &use_.source.container {
        let _ = write!(s, " container {c}");
    }
    s
}

/// What `preflight images` lists: the images found, normalized, with no network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    /// Report format version (1).
    pub version: u32,
    /// Counts.
    pub summary: InventorySummary,
    /// One entry per distinct image (and credentials), in the order first found.
    pub images: Vec<InventoryImage>,
}

/// Counts over an inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InventorySummary {
    /// Distinct images.
    pub images: usize,
    /// Invalid references among them.
    pub invalid: usize,
    /// Warnings over all images.
    pub warnings: usize,
}

/// One image found in the inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InventoryImage {
    /// The reference as written.
    pub reference: String,
    /// The fully qualified form; null when invalid.
    pub canonical: Option<String>,
    /// The registry after normalization.
    pub registry: Option<String>,
    /// The repository path.
    pub repository: Option<String>,
    /// The tag (`latest` when none was written; null for digest-only).
    pub tag: Option<String>,
    /// The digest written in the reference.
    pub digest: Option<String>,
    /// The credentials the node would try, in order (where they come from, never what they are).
    pub credentials: Vec<String>,
    /// The kubelet's credential provider plugins that would be asked for credentials after
    /// those, in order (`images` runs none); absent when none matches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credential_providers: Vec<String>,
    /// Why the reference is invalid; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<Diagnosis>,
    /// Lints and missing pull secrets.
    pub warnings: Vec<Warning>,
    /// Where it was found.
    pub sources: Vec<Source>,
}

/// Lists the planned images without touching the network, merging equal ones as `check` does.
pub fn inventory(requests: Vec<ImageRequest>) -> Inventory {
    let merged = crate::engine::request::merge_requests(requests);
    let mut images: Vec<InventoryImage> = Vec::with_capacity(merged.len());
    for req in merged {
        let parsed = Reference::parse(&req.reference);
        let (credentials, credential_providers, provider_warnings): (
            Vec<String>,
            Vec<String>,
            Vec<Warning>,
        ) = match (&req.credentials, &parsed) {
            (Some(src), Ok(r)) => src
                .candidates(r)
                .map(|c| {
                    (
                        c.credentials.into_iter().map(|l| l.origin).collect(),
                        c.providers,
                        c.warnings,
                    )
                })
                .unwrap_or_default(),
            _ => (Vec::new(), Vec::new(), Vec::new()),
        };
        let mut image = InventoryImage {
            reference: req.reference,
            canonical: None,
            registry: None,
            repository: None,
            tag: None,
            digest: None,
            credentials,
            credential_providers,
            diagnosis: req.failure,
            warnings: Vec::new(),
            sources: req.sources,
        };
        match &parsed {
            Ok(r) => {
                image.canonical = Some(r.canonical());
                image.registry = Some(r.registry().to_owned());
                image.repository = Some(r.repository().to_owned());
                image.tag = r.tag().map(str::to_owned);
                image.digest = r.digest().map(ToString::to_string);
                image.warnings = lint::reference_warnings(r);
            }
            Err(e) => {
                image.diagnosis = Some(Diagnosis::new(
                    Code::InvalidReference,
                    Stage::Reference,
                    e.to_string(),
                ));
            }
        }
        for w in req.warnings.into_iter().chain(provider_warnings) {
            if !image.warnings.contains(&w) {
                image.warnings.push(w);
            }
        }
        images.push(image);
    }
    let invalid = images
        .iter()
        .filter(|i| {
            i.diagnosis
                .as_ref()
                .is_some_and(|d| d.code == Code::InvalidReference)
        })
        .count();
    let warnings = images.iter().map(|i| i.warnings.len()).sum();
    Inventory {
        version: crate::report::REPORT_VERSION,
        summary: InventorySummary {
            images: images.len(),
            invalid,
            warnings,
        },
        images,
    }
}

/// One part of a deploy split over `total` parallel jobs (`--shard INDEX/TOTAL`, 1-based as
/// GitLab's `CI_NODE_INDEX` is). Images are assigned by registry and repository, so every tag of
/// a repository lands in the same job and shares its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This job, from 1.
    pub index: u32,
    /// How many jobs.
    pub total: u32,
}

/// Why a shard does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not INDEX/TOTAL with 1 <= INDEX <= TOTAL (e.g. 2/4)")]
pub struct ShardError {
    /// What was given.
    pub input: String,
}

impl Shard {
    /// Parses `INDEX/TOTAL`.
    pub fn parse(s: &str) -> Result<Shard, ShardError> {
        let err = || ShardError {
            input: s.to_owned(),
        };
        let (i, n) = s.split_once('/').ok_or_else(err)?;
        let index: u32 = i.trim().parse().map_err(|_| err())?;
        let total: u32 = n.trim().parse().map_err(|_| err())?;
        if index == 0 || total == 0 || index > total {
            return Err(err());
        }
        Ok(Shard { index, total })
    }

    /// Whether `reference` belongs to this shard. Stable across runs, machines and versions
    /// (FNV-1a of `registry/repository`, not the standard library's hasher).
    pub fn contains(&self, reference: &str) -> bool {
        let key = Reference::parse(reference).map_or_else(
            |_| reference.to_owned(),
            |r| format!("{}/{}", r.registry(), r.repository()),
        );
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in key.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash % u64::from(self.total) == u64::from(self.index - 1)
    }
}

#[cfg(test)]
mod shard_tests {
    use super::*;

    #[test]
    fn shards_partition_and_keep_repositories_together() {
        let refs: Vec<String> = (0..500)
            .map(|i| format!("reg.example/team{}/app{}:v{}", i % 7, i % 40, i))
            .collect();
        for total in [1, 2, 3, 7] {
            let shards: Vec<Shard> = (1..=total).map(|index| Shard { index, total }).collect();
            for r in &refs {
                assert_eq!(
                    shards.iter().filter(|s| s.contains(r)).count(),
                    1,
                    "{r} in exactly one of {total}"
                );
            }
        }
        let s = Shard::parse("2/3").unwrap();
        assert_eq!(
            s.contains("reg.example/team1/app1:v1"),
            s.contains("reg.example/team1/app1:v2")
        );
        for bad in ["", "0/3", "4/3", "1/0", "a/b", "1-3"] {
            assert!(Shard::parse(bad).is_err(), "{bad:?}");
        }
    }
}
