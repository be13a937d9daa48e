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
//! - `tokenAttributes` (service account tokens for plugins) is accepted with its required
//!   fields; preflight has no pod token to send, so such a provider is reported, not run.
//!
//! The kubelet also accepts a directory of such files; this reads one file.

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

/// A parsed and validated `CredentialProviderConfig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialProviderConfig {
    /// The providers, in the file's order (the order the kubelet asks them in).
    pub providers: Vec<CredentialProvider>,
    path: PathBuf,
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
    /// Whether `tokenAttributes` is set: the plugin wants the pod's service account token.
    pub wants_service_account_token: bool,
    /// The line of the entry in the file.
    pub line: usize,
    patterns: Vec<UrlParts>,
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
#[error("{}:{line}: {problem}", file.display())]
pub struct ProviderConfigError {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based; 1 for problems of the whole file).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl CredentialProviderConfig {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<CredentialProviderConfig, ProviderConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProviderConfigError {
            file: path.to_owned(),
            line: 1,
            problem: format!("cannot read the credential provider config: {e}"),
        })?;
        CredentialProviderConfig::parse(&text, path)
    }

    /// Parses and validates `text`, read from `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<CredentialProviderConfig, ProviderConfigError> {
        let error = |line: usize, problem: String| ProviderConfigError {
            file: path.to_owned(),
            line,
            problem,
        };
        let mut found: Result<Option<CredentialProviderConfig>, (usize, String)> = Ok(None);
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
            Ok(Some(config)) => Ok(config),
            Ok(None) => Err(error(
                1,
                "the file is empty: a CredentialProviderConfig needs apiVersion, kind and providers"
                    .into(),
            )),
            Err((line, problem)) => Err(error(line, problem)),
        }
    }

    /// The file this was read from.
    pub fn path(&self) -> &Path {
        &self.path
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

fn decode(root: &Node<'_>, path: &Path) -> Decoded<CredentialProviderConfig> {
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
    if items.is_empty() {
        return Err((
            root.entry("providers").map_or(root.line, |n| n.line),
            "providers: at least 1 item in plugins is required".into(),
        ));
    }
    let mut providers: Vec<CredentialProvider> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let provider = decode_provider(item, i)?;
        if let Some(first) = providers.iter().find(|p| p.name == provider.name) {
            return Err((
                item.line,
                format!(
                    "providers[{i}].name: duplicate value {:?} (first at line {})",
                    provider.name, first.line
                ),
            ));
        }
        providers.push(provider);
    }
    Ok(CredentialProviderConfig {
        providers,
        path: path.to_owned(),
    })
}

fn decode_provider(node: &Node<'_>, i: usize) -> Decoded<CredentialProvider> {
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

    let wants_service_account_token = match node.get("tokenAttributes") {
        None => false,
        Some(attributes) => {
            let field = format!("{at}.tokenAttributes");
            if !attributes.is_map() {
                return Err(wrong_type(&field, "mapping", attributes));
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
            if string_field(
                attributes,
                "serviceAccountTokenAudience",
                &format!("{field}.serviceAccountTokenAudience"),
            )?
            .is_none_or(str::is_empty)
            {
                return Err((
                    attributes.line,
                    format!("{field}.serviceAccountTokenAudience is required"),
                ));
            }
            if !matches!(
                attributes.get("requireServiceAccount"),
                Some(Node {
                    value: Value::Scalar(Scalar::Boolean, _),
                    ..
                })
            ) {
                return Err((
                    attributes.line,
                    format!("{field}.requireServiceAccount is required (true or false)"),
                ));
            }
            if api_version != Some(PLUGIN_API_VERSIONS[0]) {
                return Err((
                    attributes.line,
                    format!("{field} is only supported for {}", PLUGIN_API_VERSIONS[0]),
                ));
            }
            true
        }
    };

    Ok(CredentialProvider {
        name: name.to_owned(),
        match_images,
        default_cache_duration,
        api_version: api_version.unwrap_or_default().to_owned(),
        args,
        env,
        wants_service_account_token,
        line: node.line,
        patterns,
    })
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
                "duplicate value \"p\" (first at line 4)",
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
        assert!(config.providers[0].wants_service_account_token);
    }

    #[test]
    fn go_durations_are_signed() {
        assert_eq!(parse_go_duration("12h"), Some(43_200_000_000_000));
        assert_eq!(parse_go_duration("-1s"), Some(-1_000_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("1d"), None);
    }
}
