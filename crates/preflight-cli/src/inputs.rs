//! Reading the deploy's manifests (`-f`) and pull secrets (`--pull-secrets`) into the library's
//! plain data. Reading files is all that happens here; extraction and planning are the library's.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};
use preflight::DockerConfig;
use preflight::kubelet::{CredentialProviderConfig, CredentialProviders, ServiceAccountToken};
use preflight::manifests::{self, Extraction, ManifestError};
use preflight::plan::{self, CredentialMode, Plan, PlanOptions, Shard};

use crate::{RunError, UsageError};

/// Whose credentials images from manifests are checked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum CredentialsArg {
    /// As the node would pull: the pod's imagePullSecrets, its ServiceAccount's, then
    /// --node-docker-config.
    Kubelet,
    /// As this CI job would: --docker-config, DOCKER_AUTH_CONFIG, ~/.docker/config.json,
    /// podman's auth.json, GitLab's CI_REGISTRY_* variables.
    Ci,
}

/// The kubelet's credential provider plugins (`check`, `images`, `explain`).
#[derive(Debug, Args)]
pub(crate) struct ProviderArgs {
    /// The kubelet's CredentialProviderConfig (YAML or JSON), or a directory of them (*.json,
    /// *.yaml, *.yml, merged in name order): its credential provider plugins are asked after the
    /// pod's pull secrets and --node-docker-config, as the kubelet asks them. `check` and
    /// `explain` run them (here, with this machine's identity); `images` only names them.
    /// Plugins that want the pod's service account token (tokenAttributes) are never run.
    /// Needs --image-credential-provider-bin-dir.
    #[arg(long = "image-credential-provider-config", value_name = "FILE|DIR")]
    pub(crate) config: Option<PathBuf>,

    /// The directory of the credential provider plugins' executables.
    /// Needs --image-credential-provider-config.
    #[arg(long = "image-credential-provider-bin-dir", value_name = "DIR")]
    pub(crate) bin_dir: Option<PathBuf>,

    /// A token of the service account NAMESPACE/NAME, for the plugins with tokenAttributes
    /// whose audience its `aud` claim holds (e.g. from `kubectl create token NAME -n NAMESPACE
    /// --audience AUDIENCE`): `check` and `explain` run them with it for pods of that service
    /// account. Never printed (repeatable).
    #[arg(
        long = "image-credential-provider-token",
        value_name = "NAMESPACE/NAME=FILE"
    )]
    pub(crate) tokens: Vec<String>,
}

/// Where the deploy comes from.
#[derive(Debug, Args)]
pub(crate) struct InputArgs {
    /// Kubernetes manifests: a file, a directory (walked for .yaml/.yml/.json), or - for stdin
    /// (repeatable).
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub(crate) files: Vec<PathBuf>,

    /// A file of pull Secrets (e.g. `kubectl get secret NAME -o yaml`), used like Secrets
    /// found in the manifests (repeatable).
    #[arg(long = "pull-secrets", value_name = "PATH")]
    pull_secrets: Vec<PathBuf>,

    /// The node's own config.json, tried after the pod's pull secrets (as the kubelet does).
    #[arg(long = "node-docker-config", value_name = "PATH")]
    node_docker_config: Option<PathBuf>,

    #[command(flatten)]
    pub(crate) providers: ProviderArgs,

    /// Whose credentials images from manifests are checked with [default: kubelet].
    /// Images named on the command line always use the CI job's.
    #[arg(long, value_enum, value_name = "kubelet|ci")]
    pub(crate) credentials: Option<CredentialsArg>,

    /// A pull secret a pod names but the inputs lack fails the image (default: a warning,
    /// since it may exist in the cluster).
    #[arg(long)]
    require_pull_secrets: bool,

    /// Go on past unreadable or malformed input files and invalid pull secrets: report what
    /// could be read, then exit 2 all the same.
    #[arg(long)]
    pub(crate) keep_going: bool,

    /// The namespace of objects that name none, as `kubectl apply -n` / `helm install
    /// --namespace` would place them.
    #[arg(short = 'n', long, value_name = "NAMESPACE", default_value = "default")]
    namespace: String,

    /// Check only this part of the images, for a `parallel:` CI job: INDEX/TOTAL, 1-based,
    /// split by registry and repository [default: CI_NODE_INDEX/CI_NODE_TOTAL when set].
    #[arg(long, value_name = "INDEX/TOTAL", value_parser = parse_shard)]
    pub(crate) shard: Option<Shard>,

    /// Accept manifests that reference no image at all (by default that fails: an empty render
    /// usually means the templating failed upstream).
    #[arg(long)]
    pub(crate) allow_empty: bool,
}

/// What the inputs gave, and what could not be read (only with `--keep-going`).
pub(crate) struct Loaded {
    pub(crate) plan: Plan,
    pub(crate) problems: Vec<String>,
}

/// Reads every input, extracts and plans. Without `--keep-going` the first problem is the error.
pub(crate) fn load(args: &InputArgs) -> Result<Loaded, RunError> {
    let mut problems: Vec<String> = Vec::new();
    let mut extraction = Extraction::default();
    let mut stdin_used = false;
    for path in &args.files {
        let result = if path.as_os_str() == "-" {
            if stdin_used {
                return Err(UsageError("-f - can be given only once".into()).into());
            }
            stdin_used = true;
            read_stdin()
                .map_err(ReadError::from)
                .and_then(|text| extract("<stdin>", &text, &args.namespace))
                .map(|e| (e, Vec::new()))
        } else {
            read_tree(path, &args.namespace, args.keep_going)
        };
        match result {
            Ok((e, errors)) => {
                extraction.merge(e);
                problems.extend(errors.iter().map(ToString::to_string));
            }
            Err(e) if args.keep_going => problems.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    for path in &args.pull_secrets {
        match read_tree(path, &args.namespace, args.keep_going) {
            // Only what says who may pull: Secrets and ServiceAccounts, not the workloads.
            Ok((e, errors)) => {
                extraction.merge(Extraction {
                    images: Vec::new(),
                    secrets: e.secrets,
                    service_accounts: e.service_accounts,
                });
                problems.extend(errors.iter().map(ToString::to_string));
            }
            Err(e) if args.keep_going => problems.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    if !args.files.is_empty()
        && extraction.images.is_empty()
        && !args.allow_empty
        && problems.is_empty()
    {
        return Err(UsageError(
            "the manifests reference no image: an empty render usually means the templating failed upstream (pass --allow-empty if this is expected)".into(),
        )
        .into());
    }
    let node_config = match &args.node_docker_config {
        Some(p) => Some(Arc::new(DockerConfig::load(p)?)),
        None => None,
    };
    let credential_providers = credential_providers(
        &args.providers,
        args.credentials == Some(CredentialsArg::Ci),
    )?;
    let options = PlanOptions {
        mode: match args.credentials {
            Some(CredentialsArg::Ci) => CredentialMode::Ci,
            _ => CredentialMode::Kubelet,
        },
        node_config,
        require_pull_secrets: args.require_pull_secrets,
        credential_providers,
    };
    let plan = plan::plan(&extraction, &options);
    for request in &plan.requests {
        // Valid YAML can still be a template, when only the image is templated (and quoted).
        if request.reference.contains("{{") {
            let at = request
                .sources
                .first()
                .map_or_else(String::new, |s| match s.line {
                    Some(l) => format!("{}:{l}: ", s.file),
                    None => format!("{}: ", s.file),
                });
            let message = format!(
                "{at}image {:?} is an unrendered Helm template: {RENDER_FIRST}",
                request.reference
            );
            if !args.keep_going {
                return Err(UsageError(message).into());
            }
            problems.push(message);
        }
    }
    for (source, e) in &plan.invalid_secrets {
        let at = match source.line {
            Some(l) => format!("{}:{l}", source.file),
            None => source.file.clone(),
        };
        let message = format!("{at}: {e}");
        if !args.keep_going {
            return Err(UsageError(message).into());
        }
        problems.push(message);
    }
    Ok(Loaded { plan, problems })
}

/// `--image-credential-provider-config` with `--image-credential-provider-bin-dir`: both or
/// neither, for the kubelet's credentials, with a directory that exists (the kubelet does not
/// start otherwise) and a valid config.
pub(crate) fn credential_providers(
    args: &ProviderArgs,
    ci_credentials: bool,
) -> Result<Option<Arc<CredentialProviders>>, RunError> {
    let (config, bin_dir) = match (&args.config, &args.bin_dir) {
        (None, None) if !args.tokens.is_empty() => {
            return Err(UsageError(
                "--image-credential-provider-token needs --image-credential-provider-config and --image-credential-provider-bin-dir: it is for their plugins".into(),
            )
            .into());
        }
        (None, None) => return Ok(None),
        (Some(config), Some(bin_dir)) => (config, bin_dir),
        (Some(_), None) => {
            return Err(UsageError(
                "--image-credential-provider-config needs --image-credential-provider-bin-dir (the directory of the plugins' executables), as the kubelet does".into(),
            )
            .into());
        }
        (None, Some(_)) => {
            return Err(UsageError(
                "--image-credential-provider-bin-dir needs --image-credential-provider-config (the CredentialProviderConfig naming the plugins), as the kubelet does".into(),
            )
            .into());
        }
    };
    if ci_credentials {
        return Err(UsageError(
            "--image-credential-provider-config gives the node's credentials: use it with --credentials kubelet (the default), not --credentials ci".into(),
        )
        .into());
    }
    if !bin_dir.is_dir() {
        return Err(UsageError(format!(
            "--image-credential-provider-bin-dir {}: not a directory (a kubelet given it does not start)",
            bin_dir.display()
        ))
        .into());
    }
    let config = CredentialProviderConfig::load(config)?;
    let mut tokens = Vec::new();
    for given in &args.tokens {
        let Some((account, file)) = given.split_once('=') else {
            return Err(UsageError(format!(
                "--image-credential-provider-token {given:?}: expected NAMESPACE/NAME=FILE"
            ))
            .into());
        };
        let text = std::fs::read_to_string(file).map_err(|e| {
            UsageError(format!(
                "--image-credential-provider-token {account}: cannot read {file}: {e}"
            ))
        })?;
        // The error names the file, never what it holds.
        let token = ServiceAccountToken::parse(account, &text).map_err(|e| {
            UsageError(format!(
                "--image-credential-provider-token {account}={file}: {e}"
            ))
        })?;
        tokens.push(token);
    }
    Ok(Some(Arc::new(
        CredentialProviders::new(config, bin_dir).service_account_tokens(tokens),
    )))
}

/// Every manifest under `path`. With `keep_going`, a bad file is set aside and the others are
/// still read; without it, the first bad file is the error.
fn parse_shard(s: &str) -> Result<Shard, String> {
    Shard::parse(s).map_err(|e| e.to_string())
}

/// `--shard`, else GitLab's `parallel:` variables.
pub(crate) fn shard(args: &InputArgs) -> Result<Option<Shard>, RunError> {
    if args.shard.is_some() {
        return Ok(args.shard);
    }
    match (
        std::env::var("CI_NODE_INDEX"),
        std::env::var("CI_NODE_TOTAL"),
    ) {
        (Ok(i), Ok(n)) => Shard::parse(&format!("{i}/{n}"))
            .map(Some)
            .map_err(|e| UsageError(format!("CI_NODE_INDEX/CI_NODE_TOTAL: {e}")).into()),
        _ => Ok(None),
    }
}

fn read_tree(
    path: &Path,
    namespace: &str,
    keep_going: bool,
) -> Result<(Extraction, Vec<ReadError>), ReadError> {
    let mut all = Extraction::default();
    let mut errors = Vec::new();
    for file in manifests::discover(path)? {
        let read = std::fs::read_to_string(&file)
            .map_err(|source| {
                ReadError::from(ManifestError::Read {
                    path: file.clone(),
                    source,
                })
            })
            .and_then(|text| extract(&file.display().to_string(), &text, namespace));
        match read {
            Ok(e) => all.merge(e),
            Err(e) if keep_going => errors.push(e),
            Err(e) => return Err(e),
        }
    }
    Ok((all, errors))
}

/// What to do with a Helm chart's template instead of checking it.
const RENDER_FIRST: &str =
    "render it first: helm template RELEASE CHART [-f values.yaml] | preflight check -f -";

/// Extracts the images of one file; a file that does not parse and holds `{{` is taken for an
/// unrendered Helm template, and named so.
fn extract(file: &str, text: &str, namespace: &str) -> Result<Extraction, ReadError> {
    manifests::extract_in(file, text, namespace).map_err(|e| {
        // The first `{{` outside a comment: a rendered manifest may hold Go templates in a
        // ConfigMap, but then it parses.
        let template = text
            .lines()
            .position(|l| l.find("{{").is_some_and(|at| !l[..at].contains('#')));
        match template {
            Some(i)
                if matches!(
                    e,
                    ManifestError::Syntax { .. } | ManifestError::NotAnObject { .. }
                ) =>
            {
                ReadError::Unrendered {
                    file: file.to_owned(),
                    line: i + 1,
                    source: e,
                }
            }
            _ => ReadError::Manifest(e),
        }
    })
}

/// A manifest that could not be read, or a Helm template given where rendered YAML belongs.
#[derive(Debug)]
pub(crate) enum ReadError {
    Manifest(ManifestError),
    Unrendered {
        file: String,
        /// The first line with `{{`.
        line: usize,
        /// What the YAML parser said.
        source: ManifestError,
    },
}

impl From<ManifestError> for ReadError {
    fn from(e: ManifestError) -> Self {
        ReadError::Manifest(e)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Manifest(e) => e.fmt(f),
            ReadError::Unrendered { file, line, .. } => write!(
                f,
                "{file}:{line}: this is an unrendered Helm template ({{{{ … }}}}), not a manifest: {RENDER_FIRST}"
            ),
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the manifest error is the message, its cause is the cause.
            ReadError::Manifest(e) => e.source(),
            ReadError::Unrendered { source, .. } => Some(source),
        }
    }
}

pub(crate) fn read_stdin() -> Result<String, ManifestError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|source| ManifestError::Read {
            path: PathBuf::from("<stdin>"),
            source,
        })?;
    Ok(text)
}
