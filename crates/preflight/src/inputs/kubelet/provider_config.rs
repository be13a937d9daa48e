//! The kubelet's `CredentialProviderConfig` (`--image-credential-provider-config`): the file
//! that names the credential provider plugins, read and validated as the kubelet reads and
//! validates it (Kubernetes `pkg/credentialprovider/plugin/config.go`):
//!
//! - YAML or JSON, decoded strictly: an unknown field, or a value of the wrong type, is an
//!   error (the kubelet's codec factory is built with `EnableStrict`); field names are
//!   case-sensitive.
//! - `kind: CredentialProviderConfig` in the group `kubelet.config.k8s.io` (`v1`, `v1beta1` or
//!   `v1alpha1`).
//! - `providers` has at least one entry; each has a `name` that is a file name (no `/`, no
//!   space, not `.` or `..`) and unique, an `apiVersion` among the plugin API's versions, at
//!   least one `matchImages` entry that parses as a schemeless URL, and a
//!   `defaultCacheDuration` (a Go duration, not negative). `args` and `env` are optional.
//! - `tokenAttributes` (KEP-4412, service account tokens for plugins), only with the plugin API
//!   `v1`: `serviceAccountTokenAudience`, `requireServiceAccount` and `cacheType` (`Token` or
//!   `ServiceAccount`) are required; the annotation keys are qualified names (compared in lower
//!   case), unique within each list, never in both lists, and required keys need
//!   `requireServiceAccount: true`.
//!
//! The path may also be a directory (kubelets since 1.34, kubernetes/kubernetes#131658): its
//! entries that are not directories and whose names end in `.json`, `.yaml` or `.yml` (Go's
//! `filepath.Ext`, case-sensitive; symbolic links are read like files) are decoded one by one in
//! byte order of their names, and their providers concatenated in that order. A directory
//! without such a file is an error; a file may list no provider as long as the others give one;
//! a provider name used twice, in one file or across files, is an error.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::inputs::manifests::yaml::{self, Node, Problem, Scalar, Value};

use super::url::UrlParts;

/// The `kind` of the file.
const CONFIG_KIND: &str = "CredentialProviderConfig";
/// The versions of the file's API the kubelet decodes.
const CONFIG_API_VERSIONS: [&str; 3] = [
    "kubelet.config.k8s.io/v1",
    "kubelet.config.k8s.io/v1beta1",
    "kubelet.config.k8s.io/v1alpha1",
];
/// The versions of the plugin exec API (`apiVersions` in the kubelet's `plugin.go`).
pub(crate) const PLUGIN_API_VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];

/// A parsed and validated `CredentialProviderConfig`: one file, or the files of a directory
/// merged as the kubelet merges them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialProviderConfig {
    /// The providers, in the files' order (the order the kubelet asks them in).
    pub providers: Vec<CredentialProvider>,
    path: PathBuf,
    files: Vec<PathBuf>,
}

/// One `providers[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CredentialProvider {
    /// The executable's file name in the bin directory.
    pub name: String,
    /// The image patterns (globs in the host's labels) for which the plugin is asked.
    pub match_images: Vec<String>,
    /// How long a response is kept when it gives no `cacheDuration`.
    pub default_cache_duration: Duration,
    /// The plugin API version of the request, which the response must echo.
    pub api_version: String,
    /// The plugin's arguments.
    pub args: Vec<String>,
    /// Environment variables added to (and overriding) the kubelet's own.
    pub env: Vec<(String, String)>,
    /// `tokenAttributes`: the plugin wants the pod's service account token.
    pub token_attributes: Option<TokenAttributes>,
    /// The file the entry is in.
    pub file: PathBuf,
    /// The line of the entry in the file.
    pub line: usize,
    patterns: Vec<UrlParts>,
}

/// A provider's `tokenAttributes` (KEP-4412): what the kubelet sends the plugin of the pod's
/// service account.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenAttributes {
    /// The audience of the service account token the kubelet requests for the plugin.
    pub audience: String,
    /// How the kubelet caches the plugin's answers per token or per service account.
    pub cache_type: TokenCacheType,
    /// Whether the plugin is asked only for pods with a service account.
    pub require_service_account: bool,
    /// Annotations the pod's service account must have, or the kubelet does not ask the plugin.
    pub required_annotation_keys: Vec<String>,
    /// Annotations passed to the plugin when the service account has them.
    pub optional_annotation_keys: Vec<String>,
}

/// `tokenAttributes.cacheType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenCacheType {
    /// `Token`: answers are kept per token (so, here, per service account and token).
    Token,
    /// `ServiceAccount`: answers are kept per service account (namespace, name, UID and the
    /// annotations passed).
    ServiceAccount,
}

impl CredentialProvider {
    /// Whether an image name as the kubelet sends it (`registry.io:5000/team/app`,
    /// `docker.io/library/nginx`) matches one of `matchImages`: the kubelet's `URLsMatchStr`.
    pub(super) fn matches_name(&self, target: &UrlParts) -> bool {
        self.patterns.iter().any(|p| p.matches(target))
    }
}

/// Why the file cannot be used: the file, the line, the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ProviderConfigError {
    /// The file (or the directory, for a problem of the directory).
    pub file: PathBuf,
    /// The line (1-based; 1 for problems of the whole file; 0 for a problem of a directory,
    /// which is then not printed).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ProviderConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.problem)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.problem)
        }
    }
}

impl CredentialProviderConfig {
    /// Reads and validates the file at `path`, or the config files of the directory at `path`
    /// (see the module's documentation).
    pub fn load(path: &Path) -> Result<CredentialProviderConfig, ProviderConfigError> {
        let whole = |problem: String| ProviderConfigError {
            file: path.to_owned(),
            line: 0,
            problem,
        };
        let metadata = std::fs::metadata(path)
            .map_err(|e| whole(format!("cannot read the credential provider config: {e}")))?;
        if !metadata.is_dir() {
            let text = read_file(path)?;
            return CredentialProviderConfig::parse(&text, path);
        }
        let files = config_files(path).map_err(|e| {
            whole(format!(
                "cannot list the credential provider config directory: {e}"
            ))
        })?;
        if files.is_empty() {
            return Err(whole(
                "the directory holds no config file (*.json, *.yaml, *.yml): a kubelet given it does not start".into(),
            ));
        }
        // Every file is decoded before any is merged, as the kubelet does: a broken file is
        // reported before a name that two files share.
        let mut decoded = Vec::with_capacity(files.len());
        for file in &files {
            let text = read_file(file)?;
            decoded.push(decode_file(&text, file)?.0);
        }
        let mut providers = Vec::new();
        for more in decoded {
            merge(&mut providers, more)?;
        }
        if providers.is_empty() {
            return Err(whole(format!(
                "none of its {} config files lists a provider: at least 1 item in plugins is required",
                files.len()
            )));
        }
        Ok(CredentialProviderConfig {
            providers,
            path: path.to_owned(),
            files,
        })
    }

    /// Parses and validates `text`, read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<CredentialProviderConfig, ProviderConfigError> {
        let (decoded, line) = decode_file(text, path)?;
        let mut providers = Vec::new();
        merge(&mut providers, decoded)?;
        if providers.is_empty() {
            return Err(ProviderConfigError {
                file: path.to_owned(),
                line,
                problem: "providers: at least 1 item in plugins is required".into(),
            });
        }
        Ok(CredentialProviderConfig {
            providers,
            path: path.to_owned(),
            files: vec![path.to_owned()],
        })
    }

    /// The file or directory this was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The files read, in the order their providers were taken.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }
}

fn read_file(path: &Path) -> Result<String, ProviderConfigError> {
    std::fs::read_to_string(path).map_err(|e| ProviderConfigError {
        file: path.to_owned(),
        line: 1,
        problem: format!("cannot read the credential provider config: {e}"),
    })
}

/// The kubelet's choice of files in a config directory: entries that are not directories
/// (symbolic links are not followed to decide), named `*.json`, `*.yaml` or `*.yml`, in byte
/// order of their paths.
fn config_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut names: Vec<OsString> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            continue;
        }
        let name = entry.file_name();
        if is_config_name(name.as_encoded_bytes()) {
            names.push(name);
        }
    }
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

/// Go's `filepath.Ext(name)` is `.json`, `.yaml` or `.yml`: the part from the last `.`, even
/// when the name starts there (`.yaml` is a config file), compared exactly.
fn is_config_name(name: &[u8]) -> bool {
    let Some(dot) = name.iter().rposition(|&b| b == b'.') else {
        return false;
    };
    matches!(&name[dot..], b".json" | b".yaml" | b".yml")
}

/// Appends one file's providers, refusing a name already taken (the kubelet's merge).
fn merge(
    providers: &mut Vec<CredentialProvider>,
    more: Vec<CredentialProvider>,
) -> Result<(), ProviderConfigError> {
    for provider in more {
        if let Some(first) = providers.iter().find(|p| p.name == provider.name) {
            let at = if first.file == provider.file {
                format!("line {}", first.line)
            } else {
                format!("{}:{}", first.file.display(), first.line)
            };
            return Err(ProviderConfigError {
                file: provider.file.clone(),
                line: provider.line,
                problem: format!(
                    "providers[].name: duplicate provider name {:?} (first at {at}): names must be unique across all config files",
                    provider.name
                ),
            });
        }
        providers.push(provider);
    }
    Ok(())
}

/// One file, decoded strictly and each provider validated: its providers (perhaps none) and
/// the line of its `providers` field.
fn decode_file(
    text: &str,
    path: &Path,
) -> Result<(Vec<CredentialProvider>, usize), ProviderConfigError> {
    let error = |line: usize, problem: String| ProviderConfigError {
        file: path.to_owned(),
        line,
        problem,
    };
    let mut found: Decoded<Option<(Vec<CredentialProvider>, usize)>> = Ok(None);
    let read = yaml::read_documents(text, &mut |document| {
        // The first document that is not empty is the file, as the kubelet's YAML to JSON
        // conversion reads it.
        if document.is_null() || !matches!(found, Ok(None)) {
            return Ok(());
        }
        found = decode(document, path).map(Some);
        Ok(())
    });
    if let Err(problem) = read {
        let (line, text) = problem_text(problem);
        return Err(error(line, text));
    }
    match found {
        Ok(Some(decoded)) => Ok(decoded),
        Ok(None) => Err(error(
            1,
            "the file is empty: a CredentialProviderConfig needs apiVersion, kind and providers"
                .into(),
        )),
        Err((line, problem)) => Err(error(line, problem)),
    }
}

fn problem_text(problem: Problem) -> (usize, String) {
    match problem {
        Problem::Syntax {
            line,
            column,
            problem,
        } => (line, format!("column {column}: {problem}")),
        Problem::TooComplex { line, problem } => (line, problem),
        Problem::NotAnObject { line, found } => {
            (line, format!("expected a mapping, found a {found}"))
        }
        Problem::InvalidField {
            line,
            field,
            problem,
        } => (line, format!("{field} {problem}")),
    }
}

type Decoded<T> = Result<T, (usize, String)>;

/// Refuses a field not in `known`, as the kubelet's strict decoding does.
fn only_fields(node: &Node<'_>, known: &[&str], at: &str) -> Decoded<()> {
    if let Value::Map(entries) = &node.value {
        for (key, value) in entries {
            if !known.contains(&key.as_ref()) {
                return Err((
                    value.line,
                    format!(
                        "unknown field {at}{key:?} (the kubelet decodes this file strictly; known: {})",
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn wrong_type(field: &str, wanted: &str, node: &Node<'_>) -> (usize, String) {
    (
        node.line,
        format!("{field} must be a {wanted}, found a {}", node.value.name()),
    )
}

/// A string field; `null` and absence are `None`.
fn string_field<'n>(node: &'n Node<'_>, key: &str, field: &str) -> Decoded<Option<&'n str>> {
    match node.get(key) {
        None => Ok(None),
        Some(n) => n
            .as_str()
            .map(Some)
            .ok_or_else(|| wrong_type(field, "string", n)),
    }
}

/// A list field; `null` and absence are empty.
fn list_field<'n, 'a>(node: &'n Node<'a>, key: &str, field: &str) -> Decoded<&'n [Node<'a>]> {
    match node.get(key) {
        None => Ok(&[]),
        Some(Node {
            value: Value::List(items),
            ..
        }) => Ok(items),
        Some(n) => Err(wrong_type(field, "list", n)),
    }
}

fn decode(root: &Node<'_>, path: &Path) -> Decoded<(Vec<CredentialProvider>, usize)> {
    if !root.is_map() {
        return Err(wrong_type("the document", "mapping", root));
    }
    only_fields(root, &["apiVersion", "kind", "providers"], "")?;
    let kind = string_field(root, "kind", "kind")?;
    if kind != Some(CONFIG_KIND) {
        return Err((
            root.get("kind").map_or(root.line, |n| n.line),
            format!(
                "kind is {}, expected {CONFIG_KIND}",
                kind.map_or_else(|| "missing".to_owned(), |k| format!("{k:?}"))
            ),
        ));
    }
    let api_version = string_field(root, "apiVersion", "apiVersion")?;
    if !api_version.is_some_and(|v| CONFIG_API_VERSIONS.contains(&v)) {
        return Err((
            root.get("apiVersion").map_or(root.line, |n| n.line),
            format!(
                "apiVersion is {}, expected one of {}",
                api_version.map_or_else(|| "missing".to_owned(), |v| format!("{v:?}")),
                CONFIG_API_VERSIONS.join(", ")
            ),
        ));
    }
    let items = list_field(root, "providers", "providers")?;
    let mut providers: Vec<CredentialProvider> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        providers.push(decode_provider(item, i, path)?);
    }
    Ok((
        providers,
        root.entry("providers").map_or(root.line, |n| n.line),
    ))
}

fn decode_provider(node: &Node<'_>, i: usize, path: &Path) -> Decoded<CredentialProvider> {
    let at = format!("providers[{i}]");
    if !node.is_map() {
        return Err(wrong_type(&at, "mapping", node));
    }
    only_fields(
        node,
        &[
            "name",
            "matchImages",
            "defaultCacheDuration",
            "apiVersion",
            "args",
            "env",
            "tokenAttributes",
        ],
        &format!("{at}."),
    )?;
    let line_of = |key: &str| node.entry(key).map_or(node.line, |n| n.line);

    let name = string_field(node, "name", &format!("{at}.name"))?.unwrap_or_default();
    let name_problem = if name.is_empty() {
        Some("is required")
    } else if name.contains('/') {
        Some("cannot contain '/': it is a file name in the bin directory, not a path")
    } else if name.contains(' ') {
        Some("cannot contain spaces")
    } else if name == "." || name == ".." {
        Some("cannot be '.' or '..'")
    } else {
        None
    };
    if let Some(problem) = name_problem {
        return Err((line_of("name"), format!("{at}.name {problem}")));
    }

    let api_version = string_field(node, "apiVersion", &format!("{at}.apiVersion"))?;
    match api_version {
        None | Some("") => {
            return Err((
                line_of("apiVersion"),
                format!("{at}.apiVersion is required"),
            ));
        }
        Some(v) if !PLUGIN_API_VERSIONS.contains(&v) => {
            return Err((
                line_of("apiVersion"),
                format!(
                    "{at}.apiVersion {v:?} is not supported: use one of {}",
                    PLUGIN_API_VERSIONS.join(", ")
                ),
            ));
        }
        Some(_) => {}
    }

    let mut match_images = Vec::new();
    let mut patterns = Vec::new();
    for (j, item) in list_field(node, "matchImages", &format!("{at}.matchImages"))?
        .iter()
        .enumerate()
    {
        let field = format!("{at}.matchImages[{j}]");
        let text = item
            .as_str()
            .ok_or_else(|| wrong_type(&field, "string", item))?;
        let Some(pattern) = UrlParts::parse_schemeless(text) else {
            return Err((
                item.line,
                format!("{field} {text:?} is invalid: it does not parse as a URL without scheme"),
            ));
        };
        match_images.push(text.to_owned());
        patterns.push(pattern);
    }
    if match_images.is_empty() {
        return Err((
            line_of("matchImages"),
            format!("{at}.matchImages: at least 1 item in matchImages is required"),
        ));
    }

    let Some(duration) = string_field(
        node,
        "defaultCacheDuration",
        &format!("{at}.defaultCacheDuration"),
    )?
    else {
        return Err((
            line_of("defaultCacheDuration"),
            format!("{at}.defaultCacheDuration is required (e.g. \"12h\")"),
        ));
    };
    let default_cache_duration = match parse_go_duration(duration) {
        Some(nanos) if nanos < 0 => {
            return Err((
                line_of("defaultCacheDuration"),
                format!("{at}.defaultCacheDuration must be greater than or equal to 0"),
            ));
        }
        Some(nanos) => Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)),
        None => {
            return Err((
                line_of("defaultCacheDuration"),
                format!(
                    "{at}.defaultCacheDuration {duration:?} is not a Go duration (e.g. \"12h\", \"1m30s\", \"0\")"
                ),
            ));
        }
    };

    let mut args = Vec::new();
    for (j, item) in list_field(node, "args", &format!("{at}.args"))?
        .iter()
        .enumerate()
    {
        let text = item
            .as_str()
            .ok_or_else(|| wrong_type(&format!("{at}.args[{j}]"), "string", item))?;
        args.push(text.to_owned());
    }

    let mut env = Vec::new();
    for (j, item) in list_field(node, "env", &format!("{at}.env"))?
        .iter()
        .enumerate()
    {
        let field = format!("{at}.env[{j}]");
        if !item.is_map() {
            return Err(wrong_type(&field, "mapping", item));
        }
        only_fields(item, &["name", "value"], &format!("{field}."))?;
        let name = string_field(item, "name", &format!("{field}.name"))?.unwrap_or_default();
        let value = string_field(item, "value", &format!("{field}.value"))?.unwrap_or_default();
        env.push((name.to_owned(), value.to_owned()));
    }

    let token_attributes = match node.get("tokenAttributes") {
        None => None,
        Some(attributes) => Some(decode_token_attributes(
            attributes,
            &format!("{at}.tokenAttributes"),
            api_version,
        )?),
    };

    Ok(CredentialProvider {
        name: name.to_owned(),
        match_images,
        default_cache_duration,
        api_version: api_version.unwrap_or_default().to_owned(),
        args,
        env,
        token_attributes,
        file: path.to_owned(),
        line: node.line,
        patterns,
    })
}

/// `tokenAttributes`, with the kubelet's rules (`validateCredentialProviderConfig`).
fn decode_token_attributes(
    attributes: &Node<'_>,
    field: &str,
    api_version: Option<&str>,
) -> Decoded<TokenAttributes> {
    if !attributes.is_map() {
        return Err(wrong_type(field, "mapping", attributes));
    }
    only_fields(
        attributes,
        &[
            "serviceAccountTokenAudience",
            "cacheType",
            "requireServiceAccount",
            "requiredServiceAccountAnnotationKeys",
            "optionalServiceAccountAnnotationKeys",
        ],
        &format!("{field}."),
    )?;
    let line_of = |key: &str| attributes.entry(key).map_or(attributes.line, |n| n.line);
    let audience = string_field(
        attributes,
        "serviceAccountTokenAudience",
        &format!("{field}.serviceAccountTokenAudience"),
    )?
    .unwrap_or_default();
    if audience.is_empty() {
        return Err((
            line_of("serviceAccountTokenAudience"),
            format!("{field}.serviceAccountTokenAudience is required"),
        ));
    }
    let require_service_account = match attributes.get("requireServiceAccount") {
        Some(Node {
            value: Value::Scalar(Scalar::Boolean, text),
            ..
        }) => yaml_true(text),
        Some(other) => {
            return Err(wrong_type(
                &format!("{field}.requireServiceAccount"),
                "boolean",
                other,
            ));
        }
        None => {
            return Err((
                attributes.line,
                format!("{field}.requireServiceAccount is required (true or false)"),
            ));
        }
    };
    if api_version != Some(PLUGIN_API_VERSIONS[0]) {
        return Err((
            attributes.line,
            format!("{field} is only supported for {}", PLUGIN_API_VERSIONS[0]),
        ));
    }
    let keys = |name: &str| -> Decoded<Vec<String>> {
        let list_at = format!("{field}.{name}");
        let mut out: Vec<String> = Vec::new();
        for (j, item) in list_field(attributes, name, &list_at)?.iter().enumerate() {
            let key = item
                .as_str()
                .ok_or_else(|| wrong_type(&format!("{list_at}[{j}]"), "string", item))?;
            if let Err(why) = qualified_name(&key.to_lowercase()) {
                return Err((
                    item.line,
                    format!("{list_at}[{j}] {key:?} is invalid: {why}"),
                ));
            }
            if out.iter().any(|k| k == key) {
                return Err((
                    item.line,
                    format!("{list_at}[{j}]: duplicate value {key:?}"),
                ));
            }
            out.push(key.to_owned());
        }
        Ok(out)
    };
    let required_annotation_keys = keys("requiredServiceAccountAnnotationKeys")?;
    let optional_annotation_keys = keys("optionalServiceAccountAnnotationKeys")?;
    if !require_service_account && !required_annotation_keys.is_empty() {
        return Err((
            line_of("requiredServiceAccountAnnotationKeys"),
            format!(
                "{field}.requiredServiceAccountAnnotationKeys: requireServiceAccount cannot be false when requiredServiceAccountAnnotationKeys is set"
            ),
        ));
    }
    if let Some(both) = required_annotation_keys
        .iter()
        .find(|k| optional_annotation_keys.contains(k))
    {
        return Err((
            line_of("optionalServiceAccountAnnotationKeys"),
            format!("{field}: annotation key {both:?} cannot be both required and optional"),
        ));
    }
    let cache_type = match string_field(attributes, "cacheType", &format!("{field}.cacheType"))? {
        None | Some("") => {
            return Err((
                line_of("cacheType"),
                format!("{field}.cacheType is required: ServiceAccount or Token"),
            ));
        }
        Some("Token") => TokenCacheType::Token,
        Some("ServiceAccount") => TokenCacheType::ServiceAccount,
        Some(other) => {
            return Err((
                line_of("cacheType"),
                format!("{field}.cacheType {other:?} is not supported: ServiceAccount or Token"),
            ));
        }
    };
    Ok(TokenAttributes {
        audience: audience.to_owned(),
        cache_type,
        require_service_account,
        required_annotation_keys,
        optional_annotation_keys,
    })
}

/// A YAML 1.1 boolean scalar that means true (the decoder has already typed it a boolean).
fn yaml_true(text: &str) -> bool {
    matches!(
        text,
        "true" | "True" | "TRUE" | "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
    )
}

/// Kubernetes' `IsQualifiedName`: an optional DNS subdomain prefix and `/`, then a name of at
/// most 63 characters, alphanumeric at both ends with `-`, `_` and `.` inside.
fn qualified_name(key: &str) -> Result<(), &'static str> {
    let (prefix, name) = match key.split_once('/') {
        None => (None, key),
        Some((_, rest)) if rest.contains('/') => {
            return Err("a qualified name has at most one '/'");
        }
        Some((prefix, name)) => (Some(prefix), name),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("the prefix before '/' must be non-empty");
        }
        if prefix.len() > 253 {
            return Err("the prefix must be no more than 253 characters");
        }
        let label_ok = |l: &str| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        };
        if !prefix.split('.').all(label_ok) {
            return Err(
                "the prefix must be a DNS subdomain: lower-case alphanumeric labels separated by '.', '-' inside",
            );
        }
    }
    if name.is_empty() {
        return Err("the name part must be non-empty");
    }
    if name.len() > 63 {
        return Err("the name part must be no more than 63 characters");
    }
    let b = name.as_bytes();
    let inner_ok = b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if !inner_ok || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return Err(
            "the name part must be alphanumeric at both ends, with only '-', '_' and '.' inside",
        );
    }
    Ok(())
}

/// Go's `time.ParseDuration` in signed nanoseconds (the parser `hosts.toml` uses), `None`
/// where Go returns an error.
pub(crate) fn parse_go_duration(text: &str) -> Option<i128> {
    let (negative, nanos) = crate::inputs::hosts_dir::parse_go_duration(text)?;
    let nanos = i128::try_from(nanos).ok()?;
    Some(if negative { -nanos } else { nanos })
}

impl fmt::Display for CredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: ecr-credential-provider
    matchImages:
      - "*.dkr.ecr.*.amazonaws.com"
      - "registry.example.com:5000/team"
    defaultCacheDuration: "12h"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args: ["get-credentials", "--verbose"]
    env:
      - name: AWS_PROFILE
        value: node
  - name: acr
    matchImages: ["*.azurecr.io"]
    defaultCacheDuration: "0"
    apiVersion: credentialprovider.kubelet.k8s.io/v1beta1
"#;

    fn parse(text: &str) -> Result<CredentialProviderConfig, ProviderConfigError> {
        CredentialProviderConfig::parse(text, Path::new("/etc/kubernetes/cp.yaml"))
    }

    #[test]
    fn a_valid_file_is_read_in_order() {
        let config = parse(GOOD).unwrap();
        let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["ecr-credential-provider", "acr"]);
        let ecr = &config.providers[0];
        assert_eq!(ecr.default_cache_duration, Duration::from_secs(12 * 3600));
        assert_eq!(ecr.args, ["get-credentials", "--verbose"]);
        assert_eq!(ecr.env, [("AWS_PROFILE".to_owned(), "node".to_owned())]);
        assert_eq!(ecr.line, 4);
        assert_eq!(config.providers[1].default_cache_duration, Duration::ZERO);
        assert_eq!(config.path(), Path::new("/etc/kubernetes/cp.yaml"));
    }

    #[test]
    fn json_is_read_too() {
        let config = parse(
            r#"{"apiVersion": "kubelet.config.k8s.io/v1alpha1", "kind": "CredentialProviderConfig",
               "providers": [{"name": "p", "matchImages": ["r.io"], "defaultCacheDuration": "1m30s",
               "apiVersion": "credentialprovider.kubelet.k8s.io/v1alpha1"}]}"#,
        )
        .unwrap();
        assert_eq!(
            config.providers[0].default_cache_duration,
            Duration::from_secs(90)
        );
    }

    #[test]
    fn invalid_files_name_the_line_and_problem() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 1, "the file is empty"),
            ("kind: [", 1, "column"),
            (
                "apiVersion: kubelet.config.k8s.io/v1\nkind: KubeletConfiguration\nproviders: []\n",
                2,
                "kind is \"KubeletConfiguration\", expected CredentialProviderConfig",
            ),
            (
                "apiVersion: v1\nkind: CredentialProviderConfig\n",
                1,
                "apiVersion is \"v1\", expected one of",
            ),
            (
                "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n",
                3,
                "at least 1 item in plugins is required",
            ),
            (
                "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nprovider: []\n",
                3,
                "unknown field \"provider\"",
            ),
        ];
        for (text, line, problem) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert!(e.problem.contains(problem), "{text:?}: {e}");
            assert!(e.to_string().starts_with("/etc/kubernetes/cp.yaml:"), "{e}");
        }
    }

    /// Each provider rule of the kubelet's `validateCredentialProviderConfig`, one at a time.
    #[test]
    fn provider_rules_are_the_kubelets() {
        let head =
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n";
        let provider = |fields: &str| format!("{head}  - {fields}\n");
        let ok = "matchImages: [r.io]\n    defaultCacheDuration: 1h\n    apiVersion: credentialprovider.kubelet.k8s.io/v1";
        let cases: Vec<(String, usize, &str)> = vec![
            (
                provider(&format!("name: bin/p\n    {ok}")),
                4,
                "cannot contain '/'",
            ),
            (
                provider(&format!("name: my p\n    {ok}")),
                4,
                "cannot contain spaces",
            ),
            (
                provider(&format!("name: ..\n    {ok}")),
                4,
                "cannot be '.' or '..'",
            ),
            (
                provider(&format!("name: \"\"\n    {ok}")),
                4,
                "name is required",
            ),
            (
                provider(&format!("name: 7\n    {ok}")),
                4,
                "must be a string, found a number",
            ),
            (
                format!("{head}  - name: p\n    {ok}\n  - name: p\n    {ok}\n"),
                8,
                "duplicate provider name \"p\" (first at line 4)",
            ),
            (
                provider(
                    "name: p\n    matchImages: []\n    defaultCacheDuration: 1h\n    apiVersion: credentialprovider.kubelet.k8s.io/v1",
                ),
                5,
                "at least 1 item in matchImages is required",
            ),
            (
                provider(
                    "name: p\n    matchImages: [\"r.io:port\"]\n    defaultCacheDuration: 1h\n    apiVersion: credentialprovider.kubelet.k8s.io/v1",
                ),
                5,
                "matchImages[0] \"r.io:port\" is invalid",
            ),
            (
                provider(
                    "name: p\n    matchImages: [r.io]\n    apiVersion: credentialprovider.kubelet.k8s.io/v1",
                ),
                4,
                "defaultCacheDuration is required",
            ),
            (
                provider(
                    "name: p\n    matchImages: [r.io]\n    defaultCacheDuration: -1s\n    apiVersion: credentialprovider.kubelet.k8s.io/v1",
                ),
                6,
                "greater than or equal to 0",
            ),
            (
                provider(
                    "name: p\n    matchImages: [r.io]\n    defaultCacheDuration: 10\n    apiVersion: credentialprovider.kubelet.k8s.io/v1",
                ),
                6,
                "must be a string",
            ),
            (
                provider(
                    "name: p\n    matchImages: [r.io]\n    defaultCacheDuration: 10 days\n    apiVersion: credentialprovider.kubelet.k8s.io/v1",
                ),
                6,
                "not a Go duration",
            ),
            (
                provider("name: p\n    matchImages: [r.io]\n    defaultCacheDuration: 1h"),
                4,
                "apiVersion is required",
            ),
            (
                provider(
                    "name: p\n    matchImages: [r.io]\n    defaultCacheDuration: 1h\n    apiVersion: client.authentication.k8s.io/v1",
                ),
                7,
                "is not supported",
            ),
            (
                provider(&format!("name: p\n    {ok}\n    matchImage: [r.io]")),
                8,
                "unknown field providers[0].\"matchImage\"",
            ),
            (
                provider(&format!(
                    "name: p\n    {ok}\n    env:\n      - name: A\n        valu: b"
                )),
                10,
                "unknown field providers[0].env[0].\"valu\"",
            ),
            (
                provider(&format!(
                    "name: p\n    {ok}\n    tokenAttributes:\n      cacheType: Token"
                )),
                9,
                "serviceAccountTokenAudience is required",
            ),
        ];
        for (text, line, problem) in &cases {
            let e = parse(text).unwrap_err();
            assert!(e.problem.contains(problem), "{text}\n→ {e}");
            assert_eq!(e.line, *line, "{text}\n→ {e}");
        }
        // tokenAttributes complete: accepted, and recorded.
        let config = parse(&provider(&format!(
            "name: p\n    {ok}\n    tokenAttributes:\n      serviceAccountTokenAudience: a\n      cacheType: Token\n      requireServiceAccount: true"
        )))
        .unwrap();
        let attributes = config.providers[0].token_attributes.as_ref().unwrap();
        assert_eq!(attributes.audience, "a");
        assert_eq!(attributes.cache_type, TokenCacheType::Token);
        assert!(attributes.require_service_account);
    }

    /// The kubelet's `tokenAttributes` rules, one at a time, each with its line.
    #[test]
    fn token_attributes_rules_are_the_kubelets() {
        let head = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: p\n    matchImages: [r.io]\n    defaultCacheDuration: 1h\n";
        let v1 = "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n";
        let with =
            |api: &str, attributes: &str| format!("{head}{api}    tokenAttributes:\n{attributes}");
        let good = "      serviceAccountTokenAudience: sts.example\n      cacheType: ServiceAccount\n      requireServiceAccount: true\n";
        let cases: Vec<(String, usize, &str)> = vec![
            (
                with(
                    v1,
                    "      cacheType: Token\n      requireServiceAccount: true\n",
                ),
                9,
                "serviceAccountTokenAudience is required",
            ),
            (
                with(
                    v1,
                    "      serviceAccountTokenAudience: a\n      cacheType: Token\n",
                ),
                9,
                "requireServiceAccount is required",
            ),
            (
                with(
                    v1,
                    "      serviceAccountTokenAudience: a\n      cacheType: Token\n      requireServiceAccount: \"true\"\n",
                ),
                11,
                "requireServiceAccount must be a boolean",
            ),
            (
                with(
                    "    apiVersion: credentialprovider.kubelet.k8s.io/v1beta1\n",
                    good,
                ),
                9,
                "only supported for credentialprovider.kubelet.k8s.io/v1",
            ),
            (
                with(
                    v1,
                    "      serviceAccountTokenAudience: a\n      requireServiceAccount: true\n",
                ),
                9,
                "cacheType is required: ServiceAccount or Token",
            ),
            (
                with(
                    v1,
                    "      serviceAccountTokenAudience: a\n      cacheType: Pod\n      requireServiceAccount: true\n",
                ),
                10,
                "cacheType \"Pod\" is not supported",
            ),
            (
                with(
                    v1,
                    &format!(
                        "{good}      requiredServiceAccountAnnotationKeys: [\"a.io/x\", \"a.io/x\"]\n"
                    ),
                ),
                12,
                "duplicate value \"a.io/x\"",
            ),
            (
                with(
                    v1,
                    &format!("{good}      optionalServiceAccountAnnotationKeys: [\"-bad\"]\n"),
                ),
                12,
                "\"-bad\" is invalid: the name part must be alphanumeric at both ends",
            ),
            (
                with(
                    v1,
                    &format!("{good}      optionalServiceAccountAnnotationKeys: [\"a/b/c\"]\n"),
                ),
                12,
                "at most one '/'",
            ),
            (
                with(
                    v1,
                    &format!(
                        "{good}      requiredServiceAccountAnnotationKeys: [\"Bad_Prefix.io/x\"]\n"
                    ),
                ),
                12,
                "the prefix must be a DNS subdomain",
            ),
            (
                with(
                    v1,
                    "      serviceAccountTokenAudience: a\n      cacheType: Token\n      requireServiceAccount: false\n      requiredServiceAccountAnnotationKeys: [a.io/role]\n",
                ),
                12,
                "requireServiceAccount cannot be false when requiredServiceAccountAnnotationKeys is set",
            ),
            (
                with(
                    v1,
                    &format!(
                        "{good}      requiredServiceAccountAnnotationKeys: [a.io/role]\n      optionalServiceAccountAnnotationKeys: [a.io/role]\n"
                    ),
                ),
                13,
                "\"a.io/role\" cannot be both required and optional",
            ),
            (
                with(v1, &format!("{good}      audience: x\n")),
                12,
                "unknown field providers[0].tokenAttributes.\"audience\"",
            ),
        ];
        for (text, line, problem) in &cases {
            let e = parse(text).unwrap_err();
            assert!(e.problem.contains(problem), "{text}\n→ {e}");
            assert_eq!(e.line, *line, "{text}\n→ {e}");
        }
        // Keys are compared in lower case against the rule (upper case is fine), and kept as
        // written.
        let config = parse(&with(
            v1,
            &format!("{good}      requiredServiceAccountAnnotationKeys: [\"EKS.Amazonaws.com/Role-ARN\"]\n      optionalServiceAccountAnnotationKeys: [plain]\n"),
        ))
        .unwrap();
        let attributes = config.providers[0].token_attributes.as_ref().unwrap();
        assert_eq!(attributes.cache_type, TokenCacheType::ServiceAccount);
        assert_eq!(
            attributes.required_annotation_keys,
            ["EKS.Amazonaws.com/Role-ARN"]
        );
        assert_eq!(attributes.optional_annotation_keys, ["plain"]);
    }

    #[test]
    fn config_names_are_gos_extensions() {
        for (name, config) in [
            ("a.yaml", true),
            ("a.yml", true),
            ("a.json", true),
            (".yaml", true),
            ("b.conf.json", true),
            ("a.YAML", false),
            ("a.yaml~", false),
            ("a.json.bak", false),
            ("yaml", false),
            ("a.jsonl", false),
        ] {
            assert_eq!(is_config_name(name.as_bytes()), config, "{name}");
        }
    }

    const ONE: &str = "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n  - name: NAME\n    matchImages: [r.io]\n    defaultCacheDuration: 1h\n    apiVersion: credentialprovider.kubelet.k8s.io/v1\n";

    #[test]
    fn a_directory_is_merged_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("20-b.yaml", &ONE.replace("NAME", "b"));
        write(
            "10-a.json",
            r#"{"apiVersion":"kubelet.config.k8s.io/v1","kind":"CredentialProviderConfig","providers":[{"name":"a","matchImages":["r.io"],"defaultCacheDuration":"1h","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}]}"#,
        );
        write(
            "30-empty.yml",
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders: []\n",
        );
        // Not config files: another extension, an upper-case one, a directory with a config name.
        write("00-z.yaml.bak", "not: [yaml");
        write("00-z.YAML", "not: [yaml");
        std::fs::create_dir(dir.path().join("00-sub.yaml")).unwrap();
        let config = CredentialProviderConfig::load(dir.path()).unwrap();
        let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(config.providers[1].file, dir.path().join("20-b.yaml"));
        assert_eq!(config.providers[1].line, 4);
        assert_eq!(
            config.files(),
            [
                dir.path().join("10-a.json"),
                dir.path().join("20-b.yaml"),
                dir.path().join("30-empty.yml")
            ]
        );
        assert_eq!(config.path(), dir.path());

        // The same name in two files: the second file and line, and where the first is.
        write("40-a-again.yaml", &ONE.replace("NAME", "a"));
        let e = CredentialProviderConfig::load(dir.path()).unwrap_err();
        assert_eq!(e.file, dir.path().join("40-a-again.yaml"));
        assert_eq!(e.line, 4);
        assert!(
            e.problem.contains(&format!(
                "duplicate provider name \"a\" (first at {}:1)",
                dir.path().join("10-a.json").display()
            )),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("40-a-again.yaml")).unwrap();

        // A broken file names itself.
        write(
            "25-broken.yaml",
            &ONE.replace("NAME", "c").replace("1h", "1 hour"),
        );
        let e = CredentialProviderConfig::load(dir.path()).unwrap_err();
        assert_eq!(e.file, dir.path().join("25-broken.yaml"));
        assert_eq!(e.line, 6);
        assert!(e.to_string().contains("25-broken.yaml:6: "), "{e}");
    }

    #[test]
    fn directories_without_providers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = CredentialProviderConfig::load(dir.path()).unwrap_err();
        assert!(e.problem.contains("holds no config file"), "{e}");
        assert_eq!(e.line, 0);
        assert_eq!(
            e.to_string(),
            format!("{}: {}", dir.path().display(), e.problem)
        );
        std::fs::write(
            dir.path().join("a.yaml"),
            "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\n",
        )
        .unwrap();
        let e = CredentialProviderConfig::load(dir.path()).unwrap_err();
        assert!(
            e.problem
                .contains("none of its 1 config files lists a provider"),
            "{e}"
        );
        // An empty file is an error even in a directory, as for the kubelet's decoder.
        std::fs::write(dir.path().join("b.yaml"), "").unwrap();
        let e = CredentialProviderConfig::load(dir.path()).unwrap_err();
        assert_eq!(e.file, dir.path().join("b.yaml"));
        assert!(e.problem.contains("the file is empty"), "{e}");
    }

    #[test]
    fn go_durations_are_signed() {
        assert_eq!(parse_go_duration("12h"), Some(43_200_000_000_000));
        assert_eq!(parse_go_duration("-1s"), Some(-1_000_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("1d"), None);
    }
}
