//! The kubelet's credential provider plugins, run as the kubelet runs them (Kubernetes
//! `pkg/credentialprovider/plugin/plugin.go`):
//!
//! - A provider is asked only for an image whose name (`registry.io:5000/team/app`, as
//!   `ParseImageName` gives it: no tag, no digest, Docker Hub spelled `docker.io/library/…`)
//!   matches one of its `matchImages`, with the keyring's URL matching.
//! - It runs as `BIN_DIR/NAME ARGS…`, with the kubelet's environment plus the provider's `env`
//!   (which wins), a `CredentialProviderRequest` on stdin, and a time limit of one minute.
//! - Its stdout must be a `CredentialProviderResponse` of the request's `apiVersion`, decoded
//!   strictly; `cacheKeyType` must be `Image`, `Registry` or `Global`. The `auth` map's keys
//!   are keyring keys: all providers' answers form one keyring, tried after the pod's secrets
//!   and the node's `config.json`.
//! - A response is cached under the image name, its registry (the name up to the first `/`), or
//!   one global key, for `cacheDuration`, else the provider's `defaultCacheDuration`; zero means
//!   not cached. Lookups try the image, then the registry, then the global key.
//! - Any failure is logged by the kubelet and the provider gives nothing: the pull goes on with
//!   the other credentials. Here each failure is a warning with its own code.
//! - A provider with `tokenAttributes` (KEP-4412) is asked with the pod's service account: the
//!   kubelet reads the `ServiceAccount`, gives the provider nothing for the pod when one of the
//!   `requiredServiceAccountAnnotationKeys` is missing from it, else requests a token bound to
//!   the pod for the provider's audience and sends it with the required and present optional
//!   annotations. preflight cannot request such a token (it has no cluster access). From the
//!   `ServiceAccounts` in the inputs it says which pods the kubelet would skip
//!   (`credential-provider-annotation-missing`); for the others it runs the plugin only with a
//!   token the user gave for that service account and the provider's audience
//!   ([`ServiceAccountToken`]), with the annotations of the `ServiceAccount` in the inputs, and
//!   otherwise says the plugin needs a token it does not have
//!   (`credential-provider-token-unavailable`), naming the provider, the audience and the
//!   service account. Without a run, the verdict is the pull without the provider. Answers are
//!   cached per service account (its namespace, name and the annotations sent; one token per
//!   service account here, so `cacheType: Token` is the same), and a plugin that returns the
//!   token itself as a password is refused unless `cacheType` is `Token`, as the kubelet does.
//!
//! Where preflight differs, on purpose: one provider runs one plugin at a time (so that a check
//! of hundreds of images of one registry asks it once, where the kubelet would start one per
//! image that arrives before the first answer); a failure is remembered for the rest of the
//! check rather than retried per image; and a plugin gets at most half of the time left to the
//! image (never more than the kubelet's minute), so that the pull without it can still be
//! checked. The plugin runs on this machine with this machine's identity — in CI, the job's,
//! not the node's.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::diagnosis::{Warning, WarningCode};
use crate::inputs::docker_config::helpers::failure_message;
use crate::inputs::docker_config::process::{is_executable, read_capped, stop, wait_until};
use crate::model::credentials::Credential;
use crate::model::secret::Secret;

use super::keyring::{Image, Keyring, KeyringEntry};
use super::provider_config::{
    CredentialProvider, CredentialProviderConfig, TokenAttributes, TokenCacheType,
    parse_go_duration,
};
use super::sa_token::ServiceAccountToken;

/// The kubelet's time limit for one plugin run.
pub const KUBELET_PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);
/// The cache key of a `Global` response.
const GLOBAL_CACHE_KEY: &str = "global";
/// What is said of every credential a plugin gave.
const IDENTITY_NOTE: &str = "ran here with this machine's identity, not the node's";

/// The node's credential provider plugins: the parsed config, the bin directory, and what the
/// plugins answered so far in this check.
pub struct CredentialProviders {
    config: CredentialProviderConfig,
    bin_dir: PathBuf,
    timeout: Duration,
    /// One per provider, in the config's order.
    state: Vec<Mutex<ProviderState>>,
    /// Tokens given for plugins with `tokenAttributes`.
    tokens: Vec<ServiceAccountToken>,
}

#[derive(Default)]
struct ProviderState {
    /// Keyed by the cache key and, for a token plugin, the service account's key.
    cache: HashMap<String, CachedAnswer>,
    /// Failures, remembered for the rest of the check: per service account for a token plugin
    /// (its key; empty for the others).
    failures: HashMap<String, Warning>,
    runs: usize,
}

/// What a run of a token plugin sends besides the image.
struct TokenRun<'a> {
    token: &'a ServiceAccountToken,
    annotations: BTreeMap<String, String>,
    /// The service account part of cache keys.
    key: String,
    cache_type: TokenCacheType,
}

struct CachedAnswer {
    auth: Vec<AuthEntry>,
    expires: Instant,
}

/// One `auth` entry of a response.
#[derive(Clone)]
struct AuthEntry {
    key: String,
    /// `None` when user name and password are both empty: the runtime pulls anonymously.
    credential: Option<Credential>,
}

impl fmt::Debug for CredentialProviders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialProviders")
            .field("config", &self.config.path())
            .field(
                "providers",
                &self
                    .config
                    .providers
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("bin_dir", &self.bin_dir)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The service account of the pod an image is pulled for, as far as the inputs show it: what
/// providers with `tokenAttributes` depend on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PodServiceAccount {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's `serviceAccountName` (`default` when it names none, as the API server sets it).
    pub name: String,
    /// The `ServiceAccount`'s annotations when the object is in the inputs; `None` when it is not.
    pub annotations: Option<BTreeMap<String, String>>,
}

impl PodServiceAccount {
    /// The service account `namespace/name`, with its annotations if the inputs hold it.
    pub fn new(
        namespace: impl Into<String>,
        name: impl Into<String>,
        annotations: Option<BTreeMap<String, String>>,
    ) -> Self {
        PodServiceAccount {
            namespace: namespace.into(),
            name: name.into(),
            annotations,
        }
    }
}

/// What the providers give one image.
#[derive(Debug, Default)]
pub(super) struct ProviderAnswer {
    /// Every provider's `auth` entries, in the config's order, as one keyring.
    pub(super) keyring: Keyring,
    /// One per provider that failed or gave nothing for the image.
    pub(super) warnings: Vec<Warning>,
}

impl CredentialProviders {
    /// The plugins of `config`, found in `bin_dir` (the kubelet's
    /// `--image-credential-provider-bin-dir`), each run with the kubelet's time limit.
    pub fn new(config: CredentialProviderConfig, bin_dir: impl Into<PathBuf>) -> Self {
        let state = config
            .providers
            .iter()
            .map(|_| Mutex::new(ProviderState::default()))
            .collect();
        CredentialProviders {
            config,
            bin_dir: bin_dir.into(),
            timeout: KUBELET_PLUGIN_TIMEOUT,
            state,
            tokens: Vec::new(),
        }
    }

    /// Service account tokens for the plugins with `tokenAttributes`: a plugin is run for a
    /// pod only with a token of the pod's service account whose audiences hold the provider's.
    #[must_use]
    pub fn service_account_tokens(mut self, tokens: Vec<ServiceAccountToken>) -> Self {
        self.tokens = tokens;
        self
    }

    /// Another time limit per run than the kubelet's minute (which also stays the upper bound
    /// whatever the image's deadline).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The config.
    pub fn config(&self) -> &CredentialProviderConfig {
        &self.config
    }

    /// The bin directory.
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// How many times each provider's plugin was started so far, in the config's order.
    pub fn runs(&self) -> Vec<(String, usize)> {
        self.config
            .providers
            .iter()
            .zip(&self.state)
            .map(|(p, s)| (p.name.clone(), lock(s).runs))
            .collect()
    }

    /// The names of the providers the kubelet would ask for `reference`, in its order, without
    /// running any.
    pub fn matching(&self, reference: &crate::model::reference::Reference) -> Vec<&str> {
        self.matching_image(&Image::from_reference(reference))
    }

    /// What the plugins alone give `reference`, as the kubelet would try it after the pod's
    /// secrets and the node's `config.json`: their credentials in the kubelet's order, the
    /// providers asked, and a warning for each that failed or gave nothing. Runs the plugins
    /// (or takes their answers from this check's cache), each ending before `deadline`.
    pub fn credentials_for(
        &self,
        reference: &crate::model::reference::Reference,
        deadline: Option<Instant>,
    ) -> crate::model::credentials::Candidates {
        let image = Image::from_reference(reference);
        let answer = self.answer(&image, deadline, None);
        crate::model::credentials::Candidates {
            credentials: answer
                .keyring
                .lookup(&image)
                .into_iter()
                .filter_map(KeyringEntry::located)
                .collect(),
            providers: self
                .matching_image(&image)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            warnings: answer.warnings,
            ..Default::default()
        }
    }

    pub(super) fn matching_image(&self, image: &Image) -> Vec<&str> {
        self.providers_for(image).map(|p| p.name.as_str()).collect()
    }

    /// The providers whose `matchImages` take `image`, in the config's order.
    fn providers_for<'s, 'i>(
        &'s self,
        image: &'i Image,
    ) -> impl Iterator<Item = &'s CredentialProvider> + use<'s, 'i> {
        let target = image.target.as_ref();
        self.config
            .providers
            .iter()
            .filter(move |p| target.is_some_and(|t| p.matches_name(t)))
    }

    /// What the kubelet would do with each matching provider that wants a service account
    /// token, for a pod with `account` (none: no pod is known), without running anything: one
    /// warning per such provider (they are never run here).
    pub(super) fn token_warnings(
        &self,
        image: &Image,
        account: Option<&PodServiceAccount>,
    ) -> Vec<Warning> {
        self.providers_for(image)
            .filter_map(|p| {
                let attributes = p.token_attributes.as_ref()?;
                self.token_plan(p, attributes, account).err()
            })
            .collect()
    }

    /// Asks every matching provider for `image`, from the cache when it can, each run ending
    /// before `deadline` (if any). A provider that wants the service account token of the pod
    /// (`account`) is not run: it gives its warning.
    pub(super) fn answer(
        &self,
        image: &Image,
        deadline: Option<Instant>,
        account: Option<&PodServiceAccount>,
    ) -> ProviderAnswer {
        let mut answer = ProviderAnswer::default();
        let Some(target) = &image.target else {
            return answer;
        };
        for (provider, state) in self.config.providers.iter().zip(&self.state) {
            if !provider.matches_name(target) {
                continue;
            }
            let token = match &provider.token_attributes {
                None => None,
                Some(attributes) => {
                    // A missing plugin stops the kubelet whatever the pods: that comes first.
                    let plan = self
                        .installed(provider)
                        .and_then(|()| self.token_plan(provider, attributes, account));
                    match plan {
                        Ok(run) => Some(run),
                        Err(warning) => {
                            answer.warnings.push(warning);
                            continue;
                        }
                    }
                }
            };
            let mut state = lock(state);
            let auth = match self.auth_for(provider, &mut state, image, deadline, token.as_ref()) {
                Ok(auth) => auth,
                Err(warning) => {
                    answer.warnings.push(warning);
                    continue;
                }
            };
            drop(state);
            let source = format!("credential provider {}", provider.name);
            let note = match &token {
                Some(run) => format!(
                    "ran here with the token given for ServiceAccount {}/{} and this machine's identity, not the node's",
                    run.token.namespace, run.token.name
                ),
                None => IDENTITY_NOTE.to_owned(),
            };
            let mut own = Keyring::new();
            for entry in &auth {
                let mut e = KeyringEntry::new(&source, &entry.key, entry.credential.clone(), false);
                e.origin = format!("{} ({note})", e.origin);
                own.entries.push(e.clone());
                answer.keyring.entries.push(e);
            }
            if own.lookup(image).is_empty() {
                let keys: Vec<String> = auth.iter().map(|a| format!("{:?}", a.key)).collect();
                answer.warnings.push(Warning::new(
                    WarningCode::CredentialProviderNoMatch,
                    if keys.is_empty() {
                        format!(
                            "credential provider {} returned no credential for {}; checked without it",
                            provider.name, image.name
                        )
                    } else {
                        format!(
                            "credential provider {} returned credentials for {}, none of which matches {}; checked without it",
                            provider.name,
                            keys.join(", "),
                            image.name
                        )
                    },
                ));
            }
        }
        answer
    }

    /// The provider's `auth` for the image: cached, else from a run (cached as the response
    /// says), else the warning of its failure.
    fn auth_for(
        &self,
        provider: &CredentialProvider,
        state: &mut ProviderState,
        image: &Image,
        deadline: Option<Instant>,
        token: Option<&TokenRun<'_>>,
    ) -> Result<Vec<AuthEntry>, Warning> {
        let account_key = token.map_or("", |t| t.key.as_str());
        if let Some(failure) = state.failures.get(account_key) {
            return Err(failure.clone());
        }
        let registry = registry_of(&image.name);
        let now = Instant::now();
        for key in [image.name.as_str(), registry, GLOBAL_CACHE_KEY] {
            if let Some(cached) = state.cache.get(&cache_key(key, account_key))
                && cached.expires > now
            {
                return Ok(cached.auth.clone());
            }
        }
        let mut limit = self.timeout.min(KUBELET_PLUGIN_TIMEOUT);
        if let Some(deadline) = deadline {
            limit = limit.min(deadline.saturating_duration_since(now) / 2);
        }
        state.runs += 1;
        let response = self.run(provider, &image.name, limit, token).and_then(|r| {
            // The kubelet's guard: a plugin passing the token through must say the answer
            // lives as long as the token.
            let echoed = token.is_some_and(|t| {
                t.cache_type != TokenCacheType::Token
                    && r.auth.iter().any(|a| {
                        matches!(&a.credential, Some(Credential::Basic { password, .. })
                            if password.expose() == t.token.secret().expose())
                    })
            });
            if echoed {
                return Err(RunFailure::Response(
                    "it returned the service account token itself as a password, which the kubelet refuses unless tokenAttributes.cacheType is Token".into(),
                ));
            }
            Ok(r)
        });
        let response = match response {
            Ok(response) => response,
            Err(failure) => {
                let warning = failure.warning(provider, &self.bin_dir, &image.name, limit);
                state
                    .failures
                    .insert(account_key.to_owned(), warning.clone());
                return Err(warning);
            }
        };
        let key = match response.cache_key {
            CacheKeyType::Image => image.name.clone(),
            CacheKeyType::Registry => registry.to_owned(),
            CacheKeyType::Global => GLOBAL_CACHE_KEY.to_owned(),
        };
        let duration = match response.cache_duration {
            Some(nanos) => u64::try_from(nanos).ok().map(Duration::from_nanos),
            None => Some(provider.default_cache_duration),
        };
        if let Some(duration) = duration.filter(|d| !d.is_zero())
            && let Some(expires) = Instant::now().checked_add(duration)
        {
            state.cache.insert(
                cache_key(&key, account_key),
                CachedAnswer {
                    auth: response.auth.clone(),
                    expires,
                },
            );
        }
        Ok(response.auth)
    }

    /// Whether the provider's executable is there, as the kubelet checks at start.
    fn installed(&self, provider: &CredentialProvider) -> Result<(), Warning> {
        let program = self.bin_dir.join(&provider.name);
        let failure = if !program.is_file() {
            RunFailure::Missing
        } else if !is_executable(&program) {
            RunFailure::NotExecutable
        } else {
            return Ok(());
        };
        Err(failure.warning(provider, &self.bin_dir, "", Duration::ZERO))
    }

    /// What the kubelet would do with a token plugin for a pod with `account`: run it with a
    /// token given here and the annotations, or the warning saying why it gives nothing.
    fn token_plan<'t>(
        &'t self,
        provider: &CredentialProvider,
        attributes: &TokenAttributes,
        account: Option<&PodServiceAccount>,
    ) -> Result<TokenRun<'t>, Warning> {
        let warning = token_warning(provider, attributes, account);
        // The annotation check comes before any token, as in the kubelet.
        if warning.code == WarningCode::CredentialProviderAnnotationMissing {
            return Err(warning);
        }
        let Some(account) = account else {
            return Err(warning);
        };
        let sa = format!("{}/{}", account.namespace, account.name);
        let given: Vec<&ServiceAccountToken> = self
            .tokens
            .iter()
            .filter(|t| t.namespace == account.namespace && t.name == account.name)
            .collect();
        let Some(token) = given.iter().find(|t| t.is_for(&attributes.audience)) else {
            if given.is_empty() {
                return Err(warning);
            }
            let audiences: Vec<String> = given
                .iter()
                .flat_map(|t| t.audiences.iter().map(|a| format!("{a:?}")))
                .collect();
            return Err(Warning::new(
                WarningCode::CredentialProviderTokenUnavailable,
                format!(
                    "credential provider {} is not run: the token given for ServiceAccount {sa} is for the audience {}, not {:?}; checked without it",
                    provider.name,
                    audiences.join(", "),
                    attributes.audience
                ),
            ));
        };
        let required = &attributes.required_annotation_keys;
        let annotations: BTreeMap<String, String> = match &account.annotations {
            Some(known) => required
                .iter()
                .chain(&attributes.optional_annotation_keys)
                .filter_map(|k| known.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
            None if required.is_empty() => BTreeMap::new(),
            None => {
                return Err(Warning::new(
                    WarningCode::CredentialProviderAnnotationMissing,
                    format!(
                        "ServiceAccount {sa} is not in the inputs, and credential provider {} is asked only for service accounts with the annotation{} {}: not run (pass the ServiceAccount with -f to check with its annotations); checked without it",
                        provider.name,
                        if required.len() == 1 { "" } else { "s" },
                        required.join(", ")
                    ),
                ));
            }
        };
        let mut key = format!("{}\u{0}{}", account.namespace, account.name);
        for (k, v) in &annotations {
            let _ = write!(key, "\u{0}{k}={v}");
        }
        Ok(TokenRun {
            token,
            annotations,
            key,
            cache_type: attributes.cache_type,
        })
    }

    /// Runs the plugin once for `image` (with the token and annotations of a token plugin).
    fn run(
        &self,
        provider: &CredentialProvider,
        image: &str,
        limit: Duration,
        token: Option<&TokenRun<'_>>,
    ) -> Result<Response, RunFailure> {
        let program = self.bin_dir.join(&provider.name);
        if !program.is_file() {
            return Err(RunFailure::Missing);
        }
        if !is_executable(&program) {
            return Err(RunFailure::NotExecutable);
        }
        let mut request = serde_json::json!({
            "kind": "CredentialProviderRequest",
            "apiVersion": provider.api_version,
            "image": image,
        });
        if let Some(run) = token {
            request["serviceAccountToken"] = run.token.secret().expose().into();
            if !run.annotations.is_empty() {
                request["serviceAccountAnnotations"] = serde_json::json!(run.annotations);
            }
        }
        // The kubelet's JSON encoder ends the document with a newline.
        let request = request.to_string() + "\n";
        let mut command = Command::new(&program);
        command
            .args(&provider.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The kubelet's environment, then the provider's own, which wins.
        for (name, value) in &provider.env {
            command.env(name, value);
        }
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let deadline = Instant::now() + limit;
        let mut child = command
            .spawn()
            .map_err(|e| RunFailure::Failed("not started".into(), e.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            // A request is a few hundred bytes: it fits in the pipe. A plugin that exits without
            // reading it is judged by its exit status.
            let _ = stdin.write_all(request.as_bytes());
        }
        let stdout = child.stdout.take().map(read_capped);
        let stderr = child.stderr.take().map(read_capped);
        let (Some(Ok(stdout)), Some(Ok(stderr))) = (stdout, stderr) else {
            stop(&mut child);
            return Err(RunFailure::Failed(
                "not run".into(),
                "could not start a thread to read its output".into(),
            ));
        };
        let status = match wait_until(&mut child, deadline) {
            Ok(Some(status)) => status,
            Ok(None) => {
                stop(&mut child);
                return Err(RunFailure::TimedOut);
            }
            Err(e) => {
                stop(&mut child);
                return Err(RunFailure::Failed(
                    "unknown".into(),
                    format!("waiting for it failed: {e}"),
                ));
            }
        };
        let (Some(stdout), Some(stderr)) = (stdout.collect(deadline), stderr.collect(deadline))
        else {
            return Err(RunFailure::TimedOut);
        };
        if !status.success() {
            // Its stderr only: stdout is where a credential would be.
            let stderr = match token {
                Some(run) => redact_token(&stderr.bytes, run.token.secret().expose()),
                None => stderr.bytes,
            };
            return Err(RunFailure::Failed(
                status.to_string(),
                failure_message(&stderr, &[]),
            ));
        }
        if stdout.truncated {
            return Err(RunFailure::Response(
                "its output is larger than any credential response".into(),
            ));
        }
        parse_response(&stdout.bytes, &provider.api_version).map_err(RunFailure::Response)
    }
}

/// Why a provider with `tokenAttributes` gives nothing here, for a pod with `account`.
fn token_warning(
    provider: &CredentialProvider,
    attributes: &TokenAttributes,
    account: Option<&PodServiceAccount>,
) -> Warning {
    let name = &provider.name;
    let audience = &attributes.audience;
    let Some(account) = account else {
        return Warning::new(
            WarningCode::CredentialProviderTokenUnavailable,
            format!(
                "credential provider {name} is not run: it wants the pod's service account token for the audience {audience:?}, and no pod is known here; checked without it"
            ),
        );
    };
    let sa = format!("{}/{}", account.namespace, account.name);
    let required = &attributes.required_annotation_keys;
    if let Some(annotations) = &account.annotations {
        let missing: Vec<&str> = required
            .iter()
            .filter(|k| !annotations.contains_key(k.as_str()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Warning::new(
                WarningCode::CredentialProviderAnnotationMissing,
                format!(
                    "ServiceAccount {sa} lacks the annotation{} {} that credential provider {name} requires (tokenAttributes.requiredServiceAccountAnnotationKeys): the kubelet does not ask {name} for this pod's images; checked without it",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join(", ")
                ),
            );
        }
    }
    let mut message = format!(
        "credential provider {name} is not run: it needs a token of ServiceAccount {sa} for the audience {audience:?}, which only the kubelet can request"
    );
    match &account.annotations {
        Some(annotations) => {
            let passed: Vec<&str> = required
                .iter()
                .chain(&attributes.optional_annotation_keys)
                .filter(|k| annotations.contains_key(k.as_str()))
                .map(String::as_str)
                .collect();
            if !passed.is_empty() {
                let _ = write!(
                    message,
                    " (with the annotation{} {} of the ServiceAccount)",
                    if passed.len() == 1 { "" } else { "s" },
                    passed.join(", ")
                );
            }
        }
        None if !required.is_empty() => {
            let _ = write!(
                message,
                "; the ServiceAccount is not in the inputs, and the kubelet asks {name} only if it has the annotation{} {}",
                if required.len() == 1 { "" } else { "s" },
                required.join(", ")
            );
        }
        None => {}
    }
    message.push_str("; checked without it");
    Warning::new(WarningCode::CredentialProviderTokenUnavailable, message)
}

/// What a token plugin printed, with the token and each of its parts (a JWT's header, claims
/// and signature) replaced, before a line of it goes into a message.
fn redact_token(output: &[u8], token: &str) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(output).into_owned();
    let mut parts: Vec<&str> = vec![token];
    parts.extend(token.split('.').filter(|p| p.len() >= 8));
    for part in parts {
        if !part.is_empty() {
            text = text.replace(part, "(service account token)");
        }
    }
    text.into_bytes()
}

/// A cache key: the kubelet's (image, registry or global) and the service account's part.
fn cache_key(base: &str, account: &str) -> String {
    if account.is_empty() {
        base.to_owned()
    } else {
        format!("{base}\u{0}{account}")
    }
}

fn lock(state: &Mutex<ProviderState>) -> std::sync::MutexGuard<'_, ProviderState> {
    // A panic while holding the lock leaves a cache that is still consistent.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The kubelet's `parseRegistry`: the image name up to its first `/`.
fn registry_of(name: &str) -> &str {
    name.split('/').next().unwrap_or(name)
}

/// Why a run gave nothing.
enum RunFailure {
    Missing,
    NotExecutable,
    TimedOut,
    /// Not started, or exited unsuccessfully: how, and the first line of its stderr.
    Failed(String, String),
    /// Its stdout is not a response the kubelet accepts: why, never what.
    Response(String),
}

impl RunFailure {
    fn warning(
        self,
        provider: &CredentialProvider,
        bin_dir: &Path,
        image: &str,
        limit: Duration,
    ) -> Warning {
        let name = &provider.name;
        let program = bin_dir.join(name);
        let (code, message) = match self {
            RunFailure::Missing => (
                WarningCode::CredentialProviderMissing,
                format!(
                    "credential provider {name}: {} does not exist (a kubelet with this config does not start)",
                    program.display()
                ),
            ),
            RunFailure::NotExecutable => (
                WarningCode::CredentialProviderMissing,
                format!(
                    "credential provider {name}: {} is not executable (a kubelet with this config does not start)",
                    program.display()
                ),
            ),
            RunFailure::TimedOut => (
                WarningCode::CredentialProviderTimeout,
                format!(
                    "credential provider {name} did not answer for {image} within {:.1} s and was stopped (the kubelet waits {} s)",
                    limit.as_secs_f64(),
                    KUBELET_PLUGIN_TIMEOUT.as_secs()
                ),
            ),
            RunFailure::Failed(status, said) => (
                WarningCode::CredentialProviderFailed,
                format!("credential provider {name} failed for {image} ({status}): {said}"),
            ),
            RunFailure::Response(why) => (
                WarningCode::CredentialProviderInvalidResponse,
                format!(
                    "credential provider {name} answered for {image} with a response the kubelet rejects: {why}"
                ),
            ),
        };
        Warning::new(
            code,
            format!("{message}; checked without it, as the kubelet pulls without it"),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheKeyType {
    Image,
    Registry,
    Global,
}

/// A decoded `CredentialProviderResponse`.
struct Response {
    cache_key: CacheKeyType,
    /// Nanoseconds; `None` for the provider's default.
    cache_duration: Option<i128>,
    auth: Vec<AuthEntry>,
}

/// Decodes a plugin's stdout as the kubelet does, strictly. Errors say what is wrong, never
/// what was written: the output may hold a secret.
fn parse_response(bytes: &[u8], api_version: &str) -> Result<Response, String> {
    use serde_json::Value;
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "it is not JSON ({} at line {} column {})",
            match e.classify() {
                serde_json::error::Category::Eof => "it ends too early",
                serde_json::error::Category::Syntax => "a syntax error",
                serde_json::error::Category::Data => "a wrong value",
                serde_json::error::Category::Io => "unreadable",
            },
            e.line(),
            e.column()
        )
    })?;
    let Value::Object(object) = value else {
        return Err("it is not a JSON object".into());
    };
    let string = |field: &str| match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(format!(
            "{field} must be a string, found {}",
            crate::model::credentials::json_kind(other)
        )),
    };
    let got = string("apiVersion")?.unwrap_or_default();
    if got != api_version {
        return Err(format!(
            "its apiVersion is {got:?}, and the request's was {api_version:?}"
        ));
    }
    let kind = string("kind")?.unwrap_or_default();
    if kind != "CredentialProviderResponse" {
        return Err(format!(
            "its kind is {kind:?}, not CredentialProviderResponse"
        ));
    }
    for key in object.keys() {
        if ![
            "kind",
            "apiVersion",
            "cacheKeyType",
            "cacheDuration",
            "auth",
            "serviceAccountTokenCacheType",
        ]
        .contains(&key.as_str())
        {
            return Err(format!(
                "it has an unknown field {key:?} (decoded strictly)"
            ));
        }
    }
    let cache_key = match string("cacheKeyType")?.unwrap_or_default() {
        "Image" => CacheKeyType::Image,
        "Registry" => CacheKeyType::Registry,
        "Global" => CacheKeyType::Global,
        other => {
            return Err(format!(
                "its cacheKeyType {other:?} is not Image, Registry or Global"
            ));
        }
    };
    let cache_duration = match string("cacheDuration")? {
        None => None,
        Some(text) => Some(
            parse_go_duration(text)
                .ok_or_else(|| format!("its cacheDuration {text:?} is not a Go duration"))?,
        ),
    };
    let mut auth = Vec::new();
    match object.get("auth") {
        None | Some(Value::Null) => {}
        Some(Value::Object(entries)) => {
            for (key, entry) in entries {
                let fields = match entry {
                    Value::Object(fields) => fields,
                    Value::Null => {
                        auth.push(AuthEntry {
                            key: key.clone(),
                            credential: None,
                        });
                        continue;
                    }
                    other => {
                        return Err(format!(
                            "auth[{key:?}] must be an object, found {}",
                            crate::model::credentials::json_kind(other)
                        ));
                    }
                };
                let mut username = String::new();
                let mut password = String::new();
                for (field, value) in fields {
                    let slot = match field.as_str() {
                        "username" => &mut username,
                        "password" => &mut password,
                        _ => {
                            return Err(format!(
                                "auth[{key:?}] has an unknown field {field:?} (decoded strictly)"
                            ));
                        }
                    };
                    match value {
                        Value::String(s) => s.clone_into(slot),
                        Value::Null => {}
                        other => {
                            return Err(format!(
                                "auth[{key:?}].{field} must be a string, found {}",
                                crate::model::credentials::json_kind(other)
                            ));
                        }
                    }
                }
                let credential =
                    (!username.is_empty() || !password.is_empty()).then(|| Credential::Basic {
                        username,
                        password: Secret::new(password),
                    });
                auth.push(AuthEntry {
                    key: key.clone(),
                    credential,
                });
            }
        }
        Some(other) => {
            return Err(format!(
                "auth must be an object, found {}",
                crate::model::credentials::json_kind(other)
            ));
        }
    }
    Ok(Response {
        cache_key,
        cache_duration,
        auth,
    })
}

/// The parsers of outside input here, for the fuzz target: a config file, and a response to a
/// `v1` request, as debug text that holds no secret.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_parse(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(text) = std::str::from_utf8(bytes) {
        match CredentialProviderConfig::parse(text, Path::new("fuzz.yaml")) {
            Ok(config) => {
                for p in &config.providers {
                    out.push(format!("{} {:?}", p.name, p.match_images));
                }
            }
            Err(e) => out.push(e.to_string()),
        }
        let _ = parse_go_duration(text);
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        match super::sa_token::fuzz_audiences(text) {
            Ok(audiences) => out.extend(audiences),
            Err(why) => out.push(why.to_owned()),
        }
    }
    match parse_response(bytes, super::provider_config::PLUGIN_API_VERSIONS[0]) {
        Ok(r) => {
            out.push(format!("{:?} {:?}", r.cache_key, r.cache_duration));
            out.extend(r.auth.into_iter().map(|a| a.key));
        }
        Err(e) => out.push(e),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "credentialprovider.kubelet.k8s.io/v1";

    #[test]
    fn responses_are_decoded_strictly() {
        let ok = parse_response(
            br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1",
                "cacheKeyType":"Registry","cacheDuration":"5m",
                "auth":{"*.registry.io":{"username":"u","password":"p"},"other.io":{}}}"#,
            V1,
        )
        .unwrap();
        assert_eq!(ok.cache_key, CacheKeyType::Registry);
        assert_eq!(ok.cache_duration, Some(300_000_000_000));
        let keys: Vec<&str> = ok.auth.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["*.registry.io", "other.io"]);
        assert!(ok.auth[1].credential.is_none());

        for (body, why) in [
            (&b"not json"[..], "it is not JSON"),
            (b"[]", "not a JSON object"),
            (
                br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","cacheKeyType":"Image"}"#,
                "apiVersion is \"credentialprovider.kubelet.k8s.io/v1beta1\"",
            ),
            (
                br#"{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image"}"#,
                "kind is \"CredentialProviderRequest\"",
            ),
            (
                br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"image"}"#,
                "cacheKeyType \"image\" is not",
            ),
            (
                br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}"#,
                "cacheKeyType \"\" is not",
            ),
            (
                br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image","Auth":{}}"#,
                "unknown field \"Auth\"",
            ),
            (
                br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image","cacheDuration":"1 hour"}"#,
                "cacheDuration \"1 hour\"",
            ),
            (
                br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image","auth":{"r.io":{"username":"u","password":7}}}"#,
                "auth[\"r.io\"].password must be a string, found a number",
            ),
            (
                br#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image","auth":{"r.io":{"user":"SECRET-CANARY"}}}"#,
                "unknown field \"user\"",
            ),
        ] {
            let Err(e) = parse_response(body, V1) else {
                panic!("accepted {}", String::from_utf8_lossy(body));
            };
            assert!(e.contains(why), "{e}");
            assert!(!e.contains("SECRET-CANARY"), "{e}");
        }
        let e = parse_response(br#"{"password":"SECRET-CANARY"#, V1)
            .err()
            .unwrap();
        assert!(!e.contains("SECRET-CANARY"), "{e}");
    }

    /// A bin directory with one script per provider, each counting its runs.
    struct Bin {
        dir: tempfile::TempDir,
    }

    impl Bin {
        fn new() -> Bin {
            Bin {
                dir: tempfile::tempdir().unwrap(),
            }
        }

        fn script(&self, name: &str, body: &str) {
            use std::os::unix::fs::PermissionsExt as _;
            let path = self.dir.path().join(name);
            let counter = self.dir.path().join(format!("{name}.runs"));
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\necho x >> {}\ncat >/dev/null\n{body}\n",
                    counter.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        fn answering(&self, name: &str, cache_key: &str, extra: &str, auth: &str) {
            self.script(
                name,
                &format!(
                    "echo '{{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"{V1}\",\"cacheKeyType\":\"{cache_key}\"{extra},\"auth\":{auth}}}'"
                ),
            );
        }

        fn providers(&self, yaml: &str) -> CredentialProviders {
            let config = CredentialProviderConfig::parse(
                &format!(
                    "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n{yaml}"
                ),
                Path::new("cp.yaml"),
            )
            .unwrap();
            CredentialProviders::new(config, self.dir.path())
        }
    }

    fn provider(name: &str, matches: &str) -> String {
        format!(
            "  - name: {name}\n    matchImages: [{matches}]\n    defaultCacheDuration: 1h\n    apiVersion: {V1}\n"
        )
    }

    fn image(text: &str) -> Image {
        Image::from_reference(&crate::model::reference::Reference::parse(text).unwrap())
    }

    fn origins(answer: &ProviderAnswer, text: &str) -> Vec<String> {
        answer
            .keyring
            .lookup(&image(text))
            .iter()
            .map(|e| e.origin.clone())
            .collect()
    }

    #[test]
    fn cache_keys_order_and_remembered_failures() {
        let bin = Bin::new();
        let auth =
            r#"{"r.io":{"username":"u","password":"p"},"*.io":{"username":"w","password":"p"}}"#;
        bin.answering("registry", "Registry", "", auth);
        bin.answering("global", "Global", "", auth);
        bin.answering("image", "Image", r#","cacheDuration":"0s""#, auth);
        bin.script("broken", "exit 1");
        let providers = bin.providers(&format!(
            "{}{}{}{}",
            provider("registry", "r.io"),
            provider("global", "\"*.io\""),
            provider("image", "r.io/team"),
            provider("broken", "r.io"),
        ));
        for name in ["r.io/team/a", "r.io/team/b", "r.io/other", "q.io/x"] {
            let answer = providers.answer(&image(name), None, None);
            // Only `broken` fails, and says so for every image it matches.
            let codes: Vec<WarningCode> = answer.warnings.iter().map(|w| w.code).collect();
            let broken = name.starts_with("r.io");
            assert_eq!(
                codes,
                if broken {
                    vec![WarningCode::CredentialProviderFailed]
                } else {
                    vec![]
                },
                "{name}"
            );
        }
        // `registry` once for r.io, `global` once for everything, `image` (not cached) per
        // image of r.io/team, `broken` once: its failure is remembered.
        assert_eq!(
            providers.runs(),
            [
                ("registry".to_owned(), 1),
                ("global".to_owned(), 1),
                ("image".to_owned(), 2),
                ("broken".to_owned(), 1),
            ]
        );
        // All answers form one keyring: most specific key first, providers in the file's order.
        let answer = providers.answer(&image("r.io/team/a"), None, None);
        assert_eq!(
            origins(&answer, "r.io/team/a"),
            [
                "credential provider registry, key r.io (ran here with this machine's identity, not the node's)",
                "credential provider global, key r.io (ran here with this machine's identity, not the node's)",
                "credential provider image, key r.io (ran here with this machine's identity, not the node's)",
                "credential provider registry, key *.io (ran here with this machine's identity, not the node's)",
                "credential provider global, key *.io (ran here with this machine's identity, not the node's)",
                "credential provider image, key *.io (ran here with this machine's identity, not the node's)",
            ]
        );
        assert_eq!(
            providers.matching(&crate::model::reference::Reference::parse("r.io/team/x").unwrap()),
            ["registry", "global", "image", "broken"]
        );
    }

    /// Providers with `tokenAttributes` are never started: the kubelet's decision for the pod's
    /// service account is predicted from its annotations, and a missing plugin comes first.
    #[test]
    fn token_providers_are_predicted_not_run() {
        let bin = Bin::new();
        let auth = r#"{"r.io":{"username":"u","password":"p"}}"#;
        bin.answering("sts", "Registry", "", auth);
        let token = |name: &str, keys: &str| {
            format!(
                "{}    tokenAttributes:\n      serviceAccountTokenAudience: sts.example\n      cacheType: ServiceAccount\n      requireServiceAccount: true\n{keys}",
                provider(name, "r.io")
            )
        };
        let providers = bin.providers(&format!(
            "{}{}",
            token(
                "sts",
                "      requiredServiceAccountAnnotationKeys: [example.com/role]\n      optionalServiceAccountAnnotationKeys: [example.com/region]\n"
            ),
            token("absent", ""),
        ));
        let annotated = |pairs: &[(&str, &str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        let cases = [
            (
                PodServiceAccount::new("shop", "builder", annotated(&[("other", "x")])),
                WarningCode::CredentialProviderAnnotationMissing,
                "ServiceAccount shop/builder lacks the annotation example.com/role that credential provider sts requires",
            ),
            (
                PodServiceAccount::new(
                    "shop",
                    "builder",
                    annotated(&[("example.com/role", "r"), ("example.com/region", "eu")]),
                ),
                WarningCode::CredentialProviderTokenUnavailable,
                "it needs a token of ServiceAccount shop/builder for the audience \"sts.example\", which only the kubelet can request (with the annotations example.com/role, example.com/region of the ServiceAccount)",
            ),
            (
                PodServiceAccount::new("shop", "default", None),
                WarningCode::CredentialProviderTokenUnavailable,
                "the ServiceAccount is not in the inputs, and the kubelet asks sts only if it has the annotation example.com/role",
            ),
        ];
        for (account, code, text) in &cases {
            for warnings in [
                providers
                    .answer(&image("r.io/app"), None, Some(account))
                    .warnings,
                providers.token_warnings(&image("r.io/app"), Some(account)),
            ] {
                assert_eq!(warnings[0].code, *code, "{warnings:?}");
                assert!(warnings[0].message.contains(text), "{warnings:?}");
            }
        }
        // The plugin that is not installed: the kubelet would not start; only `answer` looks.
        let answer = providers.answer(&image("r.io/app"), None, Some(&cases[1].0));
        assert_eq!(
            answer.warnings[1].code,
            WarningCode::CredentialProviderMissing
        );
        assert!(answer.keyring.entries.is_empty());
        // No pod: said so.
        let answer = providers.answer(&image("r.io/app"), None, None);
        assert!(answer.warnings[0].message.contains("no pod is known here"));
        // Never started.
        assert_eq!(
            providers.runs(),
            [("sts".to_owned(), 0), ("absent".to_owned(), 0)]
        );
        assert!(!bin.dir.path().join("sts.runs").exists());
    }

    #[test]
    fn docker_hub_images_are_asked_by_their_full_name() {
        let bin = Bin::new();
        bin.script(
            "hub",
            &format!(
                "echo '{{\"kind\":\"CredentialProviderResponse\",\"apiVersion\":\"{V1}\",\"cacheKeyType\":\"Image\",\"auth\":{{\"docker.io\":{{\"username\":\"u\",\"password\":\"p\"}}}}}}'"
            ),
        );
        let providers = bin.providers(&provider("hub", "docker.io"));
        let answer = providers.answer(&image("nginx:1.27"), None, None);
        assert!(answer.warnings.is_empty(), "{:?}", answer.warnings);
        assert_eq!(image("nginx:1.27").name, "docker.io/library/nginx");
        assert_eq!(origins(&answer, "nginx").len(), 1);
        // The public view of the same: credentials, providers asked, no warning.
        let found = providers.credentials_for(
            &crate::model::reference::Reference::parse("nginx").unwrap(),
            None,
        );
        assert_eq!(found.providers, ["hub"]);
        assert!(found.warnings.is_empty());
        assert_eq!(
            found.credentials[0].credential,
            Credential::Basic {
                username: "u".into(),
                password: Secret::new("p")
            }
        );
        // A pattern without the Hub's name does not match it.
        assert!(
            providers
                .matching(&crate::model::reference::Reference::parse("ghcr.io/x").unwrap())
                .is_empty()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Configs and responses made of the characters their grammars branch on never panic.
        #[test]
        fn arbitrary_configs_and_responses_never_panic(
            text in "[a-zA-Z0-9:./*\\[\\]{}\",\\- \n]{0,200}",
            cut in 0_usize..400,
        ) {
            let _ = CredentialProviderConfig::parse(&text, Path::new("p.yaml"));
            let _ = parse_response(text.as_bytes(), V1);
            let _ = parse_go_duration(&text);
            // Valid documents cut anywhere.
            for whole in [
                "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: p\n    matchImages: [\"*.r.io:5000/x\"]\n    defaultCacheDuration: 1h30m\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n    env: [{name: A, value: b}]\n",
                r#"{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Image","cacheDuration":"1m","auth":{"r.io":{"username":"u","password":"p"}}}"#,
            ] {
                let end = whole.floor_char_boundary(cut.min(whole.len()));
                let part = &whole[..end];
                let _ = CredentialProviderConfig::parse(part, Path::new("p.yaml"));
                let _ = parse_response(part.as_bytes(), V1);
            }
        }
    }

    #[test]
    fn the_registry_is_the_name_up_to_the_first_slash() {
        assert_eq!(registry_of("r.io:5000/team/app"), "r.io:5000");
        assert_eq!(registry_of("docker.io/library/nginx"), "docker.io");
        assert_eq!(registry_of("r.io"), "r.io");
    }
}
