//! The images a Kubernetes deploy will pull, read from its manifests.
//!
//! [`discover`] lists the manifest files under a path; [`extract`] reads one file's text — a
//! stream of YAML documents, or JSON — and returns every container image with the file and line
//! it was written on, the object and container that use it, and what the kubelet pulls it with
//! (namespace, `imagePullSecrets`, service account, pull policy). The `Secret` and
//! `ServiceAccount` objects of the input come back too, because they decide which credentials a
//! pull gets.
//!
//! YAML is read with granit-parser, the event parser under serde-saphyr, into a small tree with
//! line numbers: serde-saphyr's `Spanned` gives lines too, but deserializing through it recurses
//! (some 40 KB of stack per nesting level in a debug build), ran 2.5 times slower, and needs Rust
//! 1.89, where building the tree from events takes no recursion and little code.
//!
//! What is read, and how:
//!
//! - Documents are separated by `---`; empty documents are skipped. JSON is read as YAML (it is
//!   a subset), so a `.json` file holds one object or a `List`.
//! - Anchors and aliases are resolved, and so are `<<:` merge keys (explicit keys win over merged
//!   ones). A value reached through an alias or a merge key gets the line of the alias or of the
//!   `<<:` entry: the line always falls inside the object it is reported for.
//! - `kind: List`, and any kind ending in `List` that has `items:`, stands for its items, each
//!   read like a document of its own. An item without `kind` takes the list's kind without the
//!   `List` suffix (a `DeploymentList`'s items are `Deployment`s), as the API returns them.
//! - The pod spec is at `spec` for a `Pod`; `spec.template.spec` for a `Deployment`,
//!   `ReplicaSet`, `StatefulSet`, `DaemonSet`, `Job` or `ReplicationController`;
//!   `spec.jobTemplate.spec.template.spec` for a `CronJob`; `template.spec` for a `PodTemplate`.
//!   Any other kind (an Argo `Rollout`, a Knative `Service`, a KEDA `ScaledJob`…) counts as a
//!   workload when `spec.template.spec` or `spec.jobTemplate.spec.template.spec` is a mapping
//!   with a `containers` list.
//! - Pod templates nested anywhere else in an object are found too, whatever its kind: a mapping
//!   whose `containers` is a list of mappings, one at least with an `image` string, is a pod
//!   spec (a `RayCluster`'s `spec.workerGroupSpecs[1].template.spec`, an `AnalysisTemplate`'s
//!   `spec.metrics[0].provider.job.spec.template.spec`, a Kubeflow `TrainingRuntime`'s
//!   `replicatedJobs`…). So is an Argo Workflows template (a mapping whose `container` or
//!   `script` is a mapping with an `image` string: its `initContainers`, `container`, `script`
//!   and `sidecars`) and a Tekton task spec (a mapping whose `steps` are such a list: its `steps`
//!   and `sidecars`). A CRD's schema (`containers: {type: array, items: …}`) has not that shape;
//!   `CustomResourceDefinition` objects, `metadata` and `status` are not searched at all. What
//!   only looks like a template — a field of the wrong type in it — is left alone rather than
//!   failing the whole file: the object's controller, not the API server, decides what it means.
//!   The kind's own pod spec is not found twice.
//! - A nested pod spec is pulled with its own `imagePullSecrets` and `serviceAccountName`, else
//!   with none and the namespace's `default` service account, as a bare pod. An Argo or Tekton
//!   template takes them from the nearest mapping around it that has them (an Argo `Workflow`'s
//!   `spec`). This is what the kubelet gets when the operator copies the template into the pod
//!   as written; an operator may create pods differently (inject pull secrets, set its own
//!   service account), which no manifest shows.
//! - Every image use has the field path of its container in the object, in `source.path`:
//!   `spec.template.spec.containers[0]`, `spec.templates[1].container`, `spec.steps[0]`.
//! - `volumes[].image.reference` in a pod spec is an image too (an image volume, pulled by the
//!   kubelet since Kubernetes 1.31), with the volume's name for a container name and
//!   `image.pullPolicy` for its pull policy, at `….volumes[2].image`.
//! - Images are listed per pod spec as pulled: `initContainers`, then `containers`, then
//!   `ephemeralContainers`, each in order, then image volumes.
//! - A document that is a mapping without `kind` is ignored, not an error: templating tools
//!   (helm) now and then emit such fragments, and the API server would reject them anyway.
//!   Objects that carry no pod spec and are not a `Secret` or a `ServiceAccount` are ignored.
//! - A field written as `null` counts as absent, as it does for the API server — except
//!   `image: null`, which is reported like any other `image:` that is not a string. A container
//!   without `image:` is skipped (the API server will refuse it, with a better message).
//! - Scalars are typed as `kubectl` types them (YAML 1.1, where `yes`, `on` and `y` are booleans
//!   too): `image: 1.0` is a number and is reported as one (quote it to make it a string). Mapping
//!   keys are taken as written: `y:` is the key `y`.
//! - Duplicate keys in a mapping are a syntax error, as they are for `kubectl`.
//!
//! A file is rejected whole at its first problem, in file order. The parse is bounded — anchors
//! and aliases may copy at most 1,000,000 nodes per file, and nesting (aliases included) may go
//! 100 levels deep — so a hostile file (a "billion laughs" alias bomb) is an error, not a hang or
//! an exhausted memory. Documents are read one at a time, each turned into data and dropped, so
//! memory stays a small multiple of the input. Error messages never quote the values of the
//! input, so a Secret's data cannot leak through them.
//!
//! The parts: `yaml` turns text into trees with lines, `objects` reads Kubernetes objects from
//! them; this module holds what comes out and the file-level entry points.

mod objects;
pub(crate) mod yaml;

pub(crate) use yaml::{Node, Problem, Value};

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::report::Source;

/// Extensions of the files [`discover`] picks from a directory (`kubectl apply -f DIR`'s set).
const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Where an image is used and what the kubelet will pull it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    /// The `image:` value as written (YAML's own unquoting aside, nothing trimmed).
    pub reference: String,
    /// The file, the 1-based line of the `image:` value, the object as `Kind/namespace/name`,
    /// and the container's name.
    pub source: Source,
    /// The workload's `metadata.namespace`, `default` when absent.
    pub namespace: String,
    /// The pod spec's `imagePullSecrets[].name`, in order.
    pub image_pull_secrets: Vec<String>,
    /// `spec.serviceAccountName`, else the deprecated `spec.serviceAccount`, else `default`.
    pub service_account: String,
    /// The container's `imagePullPolicy` as written.
    pub pull_policy: Option<String>,
    /// Which list of the pod spec the container is in.
    pub container_kind: ContainerKind,
    /// The platforms (`OS/ARCH`) the pod's nodes run, from `nodeSelector` and required node
    /// affinity on `kubernetes.io/arch` and `kubernetes.io/os`; empty when the pod does not say.
    pub node_platforms: Vec<String>,
}

/// Which list of a pod spec a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `containers`.
    Container,
    /// `initContainers`.
    Init,
    /// `ephemeralContainers`.
    Ephemeral,
    /// `volumes[].image`: an image the kubelet pulls as a volume; `source.container` is the
    /// volume's name.
    ImageVolume,
}

/// A `Secret` object found in the input (any type; the caller decides what it is good for).
///
/// Its `Debug` shows the keys of `data` and `stringData`, never their values.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretObject {
    /// `metadata.namespace`, `default` when absent.
    pub namespace: String,
    /// `metadata.name` (else `metadata.generateName`, else `(unnamed)`).
    pub name: String,
    /// `type:` as written.
    pub secret_type: Option<String>,
    /// `data:` values as written (base64 text).
    pub data: BTreeMap<String, String>,
    /// `stringData:` values as written.
    pub string_data: BTreeMap<String, String>,
    /// The file, the line the object starts on, and the object as `Secret/namespace/name`.
    pub source: Source,
}

impl fmt::Debug for SecretObject {
    // By hand, because the values are credentials: only the keys are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretObject")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("secret_type", &self.secret_type)
            .field("data", &self.data.keys().collect::<Vec<_>>())
            .field("string_data", &self.string_data.keys().collect::<Vec<_>>())
            .field("source", &self.source)
            .finish()
    }
}

/// A `ServiceAccount` object found in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountObject {
    /// `metadata.namespace`, `default` when absent.
    pub namespace: String,
    /// `metadata.name` (else `metadata.generateName`, else `(unnamed)`).
    pub name: String,
    /// Its `imagePullSecrets[].name`, in order.
    pub image_pull_secrets: Vec<String>,
    /// Its `metadata.annotations` (what credential provider plugins with `tokenAttributes` are
    /// given).
    pub annotations: BTreeMap<String, String>,
    /// The file, the line the object starts on, and the object as
    /// `ServiceAccount/namespace/name`.
    pub source: Source,
}

/// What manifests hold that matters for pulling images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extraction {
    /// Every image use, in input order.
    pub images: Vec<ImageUse>,
    /// Every `Secret`, in input order.
    pub secrets: Vec<SecretObject>,
    /// Every `ServiceAccount`, in input order.
    pub service_accounts: Vec<ServiceAccountObject>,
}

impl Extraction {
    /// Appends another extraction (the next file's) to this one.
    pub fn merge(&mut self, other: Extraction) {
        self.images.extend(other.images);
        self.secrets.extend(other.secrets);
        self.service_accounts.extend(other.service_accounts);
    }
}

/// Why manifests could not be read. Lines and columns are 1-based (0 when the parser could not
/// tell). No message quotes a value of the input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// A file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path, as given or as found under the given directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid YAML (or JSON).
    #[error("{file}:{line}:{column}: {problem}")]
    Syntax {
        /// The file, as given to [`extract`].
        file: String,
        /// Where the parser stopped.
        line: usize,
        /// Where the parser stopped.
        column: usize,
        /// What is wrong.
        problem: String,
    },
    /// A document (or a `List` item) is not a mapping.
    #[error("{file}:{line}: a document must be a Kubernetes object (a mapping), found a {found}")]
    NotAnObject {
        /// The file, as given to [`extract`].
        file: String,
        /// Where the document starts.
        line: usize,
        /// What it is instead: `list`, `string`, `number`, `boolean`.
        found: &'static str,
    },
    /// A field that matters here has the wrong type.
    #[error("{file}:{line}: {field} {problem}")]
    InvalidField {
        /// The file, as given to [`extract`].
        file: String,
        /// The line of the field's value.
        line: usize,
        /// The field, as named in the object: `image`, `containers[1]`, `metadata.name`.
        field: String,
        /// What is wrong with it: `must be a string, found a mapping`.
        problem: String,
    },
    /// The input exceeds the limits that keep hostile files from hanging the parse.
    #[error("{file}:{line}: {problem}")]
    TooComplex {
        /// The file, as given to [`extract`].
        file: String,
        /// Where the limit was crossed.
        line: usize,
        /// Which limit.
        problem: String,
    },
}

/// Extracts from one file's text. `file` is the name to put in sources (as the user gave it, or
/// `-` / `<stdin>`).
pub fn extract(file: &str, text: &str) -> Result<Extraction, ManifestError> {
    extract_in(file, text, "default")
}

/// Stands for "no namespace written" while a file is read; never in a result.
const NO_NAMESPACE: &str = "";

/// Like [`extract`], with objects that name no namespace placed in `namespace` — as
/// `kubectl apply -n` and `helm install --namespace` place them.
pub fn extract_in(file: &str, text: &str, namespace: &str) -> Result<Extraction, ManifestError> {
    let namespace = if namespace.is_empty() {
        "default"
    } else {
        namespace
    };
    let mut all = Extraction::default();
    yaml::read_documents_skipping(text, &objects::ignored_kind, &mut |document| {
        objects::object(document, None, &mut all)
    })
    .map_err(|p| p.in_file(file))?;
    finish(&mut all, file, namespace);
    Ok(all)
}

/// Places objects read without a namespace in `namespace`, and names the file in every source.
fn finish(all: &mut Extraction, file: &str, namespace: &str) {
    // Objects are read before the namespace they default to is known here: fill it in, in the
    // namespace field and in the `Kind//name` slot of the object's name.
    let place = |ns: &mut String, source: &mut Source| {
        if ns.is_empty() {
            namespace.clone_into(ns);
            if let Some(object) = &mut source.object {
                *object = object.replacen("//", &format!("/{namespace}/"), 1);
            }
        }
    };
    for i in &mut all.images {
        place(&mut i.namespace, &mut i.source);
    }
    for s in &mut all.secrets {
        place(&mut s.namespace, &mut s.source);
    }
    for a in &mut all.service_accounts {
        place(&mut a.namespace, &mut a.source);
    }
    // Documents are turned into data while the parse still runs (one tree in memory at a
    // time), where the file name is not at hand: it is filled in here.
    let sources = all
        .images
        .iter_mut()
        .map(|i| &mut i.source)
        .chain(all.secrets.iter_mut().map(|s| &mut s.source))
        .chain(all.service_accounts.iter_mut().map(|s| &mut s.source));
    for source in sources {
        file.clone_into(&mut source.file);
    }
}

/// What [`read_objects`] hands each object to: the object and its kind.
pub(crate) type OnObject<'f> = dyn FnMut(&Node<'_>, Option<&str>) -> Result<(), Problem> + 'f;

/// For readers of other kinds in the same streams (`explain` reads Pods' status, Events and
/// Nodes): every object of `text` is handed to `on_object` with its kind (`None` for a mapping
/// without one), `List`s flattened as [`extract`] flattens them; pod specs, Secrets and
/// `ServiceAccounts` go into the returned [`Extraction`] as [`extract`] reads them.
pub(crate) fn read_objects(
    file: &str,
    text: &str,
    on_object: &mut OnObject<'_>,
) -> Result<Extraction, ManifestError> {
    let mut all = Extraction::default();
    yaml::read_documents(text, &mut |document| {
        each_object(document, None, &mut |node, kind| {
            objects::object(node, kind, &mut all)?;
            on_object(node, kind)
        })
    })
    .map_err(|p| p.in_file(file))?;
    finish(&mut all, file, "default");
    Ok(all)
}

/// Calls `f` on `node`, or on each item when it is a `List`, with the object's kind.
fn each_object(
    node: &Node<'_>,
    implied_kind: Option<&str>,
    f: &mut OnObject<'_>,
) -> Result<(), Problem> {
    match node.value {
        Value::Map(_) => {}
        Value::Scalar(yaml::Scalar::Null, _) => return Ok(()),
        _ => {
            return Err(Problem::NotAnObject {
                line: node.line,
                found: node.value.name(),
            });
        }
    }
    let kind = match node.string("kind") {
        Ok(kind) => kind.or(implied_kind),
        Err(bad) => return Err(Problem::wrong_type("kind", "string", bad)),
    };
    if let Some(kind) = kind
        && kind.ends_with("List")
        && let Some(items) = node.get("items")
    {
        let Value::List(items) = &items.value else {
            return Err(Problem::wrong_type("items", "list", items));
        };
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        for item in items {
            each_object(item, item_kind, f)?;
        }
        return Ok(());
    }
    f(node, kind)
}

/// The manifest files under `path`: the file itself, or a directory walked recursively for
/// `.yaml`, `.yml`, `.json` (sorted, so output is deterministic; symlink loops must not hang).
///
/// A file given directly is returned whatever its name. Symbolic links are followed; a
/// directory reached twice (through a link loop, say) is walked once. Entries whose name starts
/// with `..` are skipped: a Kubernetes `ConfigMap` or `Secret` volume keeps its files in
/// `..data` (a link to a `..TIMESTAMP` directory) and links each key beside it, so each file
/// would be read twice.
pub fn discover(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let read_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManifestError::Read { path, source }
    };
    if !std::fs::metadata(path).map_err(read_error(path))?.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    // An explicit stack rather than recursion: directory depth is up to the file system.
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        // Canonical paths identify a directory however it was reached, which is what stops
        // symlink loops.
        if !seen.insert(std::fs::canonicalize(&dir).map_err(read_error(&dir))?) {
            continue;
        }
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(read_error(&dir))? {
            let entry = entry.map_err(read_error(&dir))?;
            if !entry.file_name().as_encoded_bytes().starts_with(b"..") {
                entries.push(entry.path());
            }
        }
        entries.sort();
        // Reversed onto the stack, so subdirectories are walked in sorted order.
        for entry in entries.into_iter().rev() {
            let is_manifest = entry
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e));
            match std::fs::metadata(&entry) {
                Ok(meta) if meta.is_dir() => pending.push(entry),
                Ok(meta) if meta.is_file() && is_manifest => found.push(entry),
                // A dangling link is only worth failing for when it would have been read.
                Err(source) if is_manifest => {
                    return Err(ManifestError::Read {
                        path: entry,
                        source,
                    });
                }
                Ok(_) | Err(_) => {}
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) const FIXTURES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/manifests"
    );

    pub(super) fn fixture(name: &str) -> Result<Extraction, ManifestError> {
        let path = format!("{FIXTURES}/{name}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        extract(name, &text)
    }

    pub(super) fn ok(name: &str) -> Extraction {
        let extraction = fixture(name).unwrap_or_else(|e| panic!("{e}"));
        let files = extraction
            .images
            .iter()
            .map(|i| &i.source)
            .chain(extraction.secrets.iter().map(|s| &s.source))
            .chain(extraction.service_accounts.iter().map(|s| &s.source));
        for source in files {
            assert_eq!(source.file, name);
        }
        extraction
    }

    /// One line per image use, every field in it, so that a whole fixture reads at a glance.
    pub(super) fn rows(extraction: &Extraction) -> Vec<String> {
        extraction
            .images
            .iter()
            .map(|i| {
                format!(
                    "{} @{} {} {} ns={} secrets={} sa={} policy={} {:?}",
                    i.reference,
                    i.source.line.map_or("?".to_owned(), |l| l.to_string()),
                    i.source.object.as_deref().unwrap_or("?"),
                    i.source.container.as_deref().unwrap_or("-"),
                    i.namespace,
                    i.image_pull_secrets.join(","),
                    i.service_account,
                    i.pull_policy.as_deref().unwrap_or("-"),
                    i.container_kind,
                )
            })
            .collect()
    }

    pub(super) fn err(name: &str, text: &str) -> ManifestError {
        match extract(name, text) {
            Ok(e) => panic!("expected an error, got {e:?}"),
            Err(e) => e,
        }
    }

    pub(super) fn images(text: &str) -> Vec<String> {
        rows(&extract("t.yaml", text).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn json_deployment() {
        let e = ok("deploy.json");
        assert_eq!(
            e,
            Extraction {
                images: vec![ImageUse {
                    reference: "registry.example.com/shop/json-app:1.0.0".into(),
                    source: Source {
                        file: "deploy.json".into(),
                        line: Some(15),
                        object: Some("Deployment/shop/json-app".into()),
                        container: Some("app".into()),
                        path: Some("spec.template.spec.containers[0]".into()),
                    },
                    namespace: "shop".into(),
                    image_pull_secrets: vec!["regcred".into()],
                    service_account: "default".into(),
                    pull_policy: Some("Always".into()),
                    container_kind: ContainerKind::Container,
                    node_platforms: vec![],
                }],
                secrets: vec![],
                service_accounts: vec![],
            }
        );
    }

    #[test]
    fn image_float() {
        let e = fixture("image-float.yaml").unwrap_err();
        assert!(
            matches!(&e, ManifestError::InvalidField { line: 8, field, .. } if field == "image"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "image-float.yaml:8: image must be a string, found a number"
        );
        // Quoted, it is a string like any other.
        assert_eq!(
            images("kind: Pod\nspec:\n  containers:\n    - image: \"1.0\"\n"),
            ["1.0 @4 Pod/default/(unnamed) - ns=default secrets= sa=default policy=- Container"]
        );
    }

    #[test]
    fn discover_walks_sorted_and_filtered() {
        let dir = Path::new(FIXTURES).join("dir");
        assert_eq!(
            discover(&dir).unwrap(),
            [dir.join("a.yaml"), dir.join("b").join("c.yml")]
        );
        // A file given directly is taken whatever its extension.
        let txt = dir.join("ignored.txt");
        assert_eq!(discover(&txt).unwrap(), [txt]);
        let missing = dir.join("missing.yaml");
        let e = discover(&missing).unwrap_err();
        assert!(matches!(&e, ManifestError::Read { path, .. } if *path == missing));
        assert_eq!(e.to_string(), format!("cannot read {}", missing.display()));
    }

    #[cfg(unix)]
    #[test]
    fn a_configmap_volume_is_read_once_by_its_keys() {
        use std::os::unix::fs::symlink;
        // The kubelet's layout: ..TIMESTAMP/KEY, ..data -> ..TIMESTAMP, KEY -> ..data/KEY.
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("..2026_11_27_22_00_00.123456789");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("deploy.yaml"), "kind: Pod\n").unwrap();
        symlink(&data, root.path().join("..data")).unwrap();
        symlink(
            root.path().join("..data/deploy.yaml"),
            root.path().join("deploy.yaml"),
        )
        .unwrap();
        assert_eq!(
            discover(root.path()).unwrap(),
            [root.path().join("deploy.yaml")]
        );
    }

    #[test]
    fn discover_survives_symlink_loops() {
        use std::os::unix::fs::symlink;

        let root = tempfile::tempdir().unwrap();
        let sub = root.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("x.yaml"), "kind: Pod\n").unwrap();
        std::fs::write(root.path().join("top.json"), "{}").unwrap();
        symlink(root.path(), sub.join("loop")).unwrap();
        symlink(sub.join("x.yaml"), root.path().join("link.yml")).unwrap();
        symlink(
            root.path().join("nowhere"),
            root.path().join("dangling.txt"),
        )
        .unwrap();
        assert_eq!(
            discover(root.path()).unwrap(),
            [
                root.path().join("link.yml"),
                sub.join("x.yaml"),
                root.path().join("top.json"),
            ]
        );
        symlink(
            root.path().join("nowhere"),
            root.path().join("dangling.yaml"),
        )
        .unwrap();
        assert!(matches!(
            discover(root.path()),
            Err(ManifestError::Read { path, .. }) if path == root.path().join("dangling.yaml")
        ));
    }

    #[test]
    fn image_lines_point_at_the_value() {
        // In a flow mapping spread over lines, the line of the value, not of the key or `{`.
        assert_eq!(
            images("kind: Pod\nspec:\n  containers: [{name: a,\n    image:\n      b}]\n"),
            ["b @5 Pod/default/(unnamed) a ns=default secrets= sa=default policy=- Container"]
        );
        // Windows line ends, a byte order mark.
        assert_eq!(
            images(
                "\u{feff}kind: Pod\r\nspec:\r\n  containers:\r\n  - name: a\r\n    image: x\r\n"
            ),
            ["x @5 Pod/default/(unnamed) a ns=default secrets= sa=default policy=- Container"]
        );
        // JSON indented with tabs, which YAML would refuse as indentation.
        assert_eq!(
            images(
                "{\n\t\"kind\": \"Pod\",\n\t\"spec\": {\"containers\": [\n\t\t{\"image\": \"x\"}\n\t]}\n}\n"
            ),
            ["x @4 Pod/default/(unnamed) - ns=default secrets= sa=default policy=- Container"]
        );
    }

    #[test]
    fn secrets_never_leak() {
        let text = "kind: Secret\nmetadata: {name: s}\ndata:\n  y: czNjcjN0\nstringData:\n  password: hunter2\n";
        let e = extract("t.yaml", text).unwrap();
        // `y` stays a key, not the YAML 1.1 boolean.
        assert_eq!(
            e.secrets[0].data,
            BTreeMap::from([("y".into(), "czNjcjN0".into())])
        );
        let debug = format!("{e:?}");
        assert!(
            debug.contains("\"password\"") && debug.contains("\"y\""),
            "{debug}"
        );
        assert!(
            !debug.contains("hunter2") && !debug.contains("czNjcjN0"),
            "{debug}"
        );

        let e = err("t.yaml", "kind: Secret\nstringData:\n  port: 5432\n");
        assert_eq!(
            e.to_string(),
            "t.yaml:3: stringData.port must be a string, found a number"
        );
        for text in [
            "kind: Secret\ndata:\n  a: \"hunter2\\q\"\n",
            "kind: Secret\ndata:\n  a: \"hunter2\n",
            "kind: Secret\ndata:\n  a: hunter2\n  a: hunter2\n",
            "kind: Secret\ndata:\n  a: hunter2\n b: x\n",
            "kind: Secret\ndata:\n  a: @hunter2\n",
        ] {
            let e = err("t.yaml", text);
            assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
        }
    }

    #[test]
    fn ten_thousand_deployments() {
        use std::fmt::Write as _;

        let mut text = String::new();
        for i in 0..10_000 {
            let _ = write!(
                text,
                "---\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: ns}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app-{i}:v1\n"
            );
        }
        let e = extract("big.yaml", &text).unwrap();
        assert_eq!(e.images.len(), 10_000);
        let last = &e.images[9_999];
        assert_eq!(last.reference, "registry.example.com/app-9999:v1");
        assert_eq!(last.source.line, Some(9 * 10_000));
    }
}
