//! Kubernetes objects read from YAML trees: where each kind keeps its pod spec, the containers
//! and what the kubelet pulls them with, and the `Secret` and `ServiceAccount` objects that
//! decide which credentials a pull gets. Errors name the field, never its value.

use std::collections::BTreeMap;

use crate::report::Source;

use super::yaml::{Node, Problem, Scalar, Value};
use super::{
    ContainerKind, Extraction, ImageUse, NO_NAMESPACE, SecretObject, ServiceAccountObject,
};

/// A string field: absent or null is `None`, anything but a string is an error naming `field`.
fn string_field<'a>(
    node: &'a Node<'_>,
    key: &str,
    field: &str,
) -> Result<Option<&'a str>, Problem> {
    node.string(key)
        .map_err(|bad| Problem::wrong_type(field, "string", bad))
}

/// The object's identity, from `metadata`.
struct Meta<'a> {
    namespace: &'a str,
    name: &'a str,
}

impl<'a> Meta<'a> {
    fn read(object: &'a Node<'_>) -> Result<Meta<'a>, Problem> {
        let Some(metadata) = object.get("metadata") else {
            return Ok(Meta {
                namespace: NO_NAMESPACE,
                name: "(unnamed)",
            });
        };
        if !metadata.is_map() {
            return Err(Problem::wrong_type("metadata", "mapping", metadata));
        }
        // An empty namespace is unset for the API server too; `extract_in` fills it in.
        let namespace = string_field(metadata, "namespace", "metadata.namespace")?
            .filter(|s| !s.is_empty())
            .unwrap_or(NO_NAMESPACE);
        let name = match string_field(metadata, "name", "metadata.name")?.filter(|s| !s.is_empty())
        {
            Some(name) => name,
            None => string_field(metadata, "generateName", "metadata.generateName")?
                .filter(|s| !s.is_empty())
                .unwrap_or("(unnamed)"),
        };
        Ok(Meta { namespace, name })
    }

    fn source(&self, kind: &str, line: usize) -> Source {
        Source {
            file: String::new(),
            line: Some(line),
            object: Some(format!("{kind}/{}/{}", self.namespace, self.name)),
            container: None,
            path: None,
        }
    }
}

/// Kinds whose objects hold no image to pull: a CRD's schema describes pod specs without being
/// one; its examples and defaults are not deployed either. Documents of these kinds are only
/// checked for valid YAML, never built (they are most of an install bundle's bytes).
pub(crate) fn ignored_kind(kind: &str) -> bool {
    kind == "CustomResourceDefinition"
}

/// Reads one object (a document or a `List` item) into `out`. `implied_kind` is the kind of a
/// typed list's items.
pub(crate) fn object(
    node: &Node<'_>,
    implied_kind: Option<&str>,
    out: &mut Extraction,
) -> Result<(), Problem> {
    match node.value {
        Value::Map(_) => {}
        // An empty `List` item, like an empty document.
        Value::Scalar(Scalar::Null, _) => return Ok(()),
        _ => {
            return Err(Problem::NotAnObject {
                line: node.line,
                found: node.value.name(),
            });
        }
    }
    let Some(kind) = string_field(node, "kind", "kind")?.or(implied_kind) else {
        return Ok(());
    };
    if kind.ends_with("List")
        && let Some(items) = node.get("items")
    {
        let Value::List(items) = &items.value else {
            return Err(Problem::wrong_type("items", "list", items));
        };
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        for item in items {
            object(item, item_kind, out)?;
        }
        return Ok(());
    }
    let pod = match kind {
        "Secret" => return secret(node, out),
        "ServiceAccount" => return service_account(node, out),
        _ if ignored_kind(kind) => return Ok(()),
        "Pod" => workload(node, kind, &["spec"], out)?,
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "Job"
        | "ReplicationController" => workload(node, kind, &["spec", "template", "spec"], out)?,
        "CronJob" => workload(
            node,
            kind,
            &["spec", "jobTemplate", "spec", "template", "spec"],
            out,
        )?,
        "PodTemplate" => workload(node, kind, &["template", "spec"], out)?,
        _ => {
            const PATHS: [&[&str]; 2] = [
                &["spec", "template", "spec"],
                &["spec", "jobTemplate", "spec", "template", "spec"],
            ];
            let mut found = None;
            for path in PATHS {
                let spec = path
                    .iter()
                    .try_fold(node, |at, key| at.get(key).filter(|n| n.is_map()));
                if let Some(spec) = spec
                    && spec
                        .get("containers")
                        .is_some_and(|c| matches!(c.value, Value::List(_)))
                {
                    let meta = Meta::read(node)?;
                    pod_spec(spec, &path.join("."), kind, &meta, out)?;
                    found = Some(spec);
                    break;
                }
            }
            found
        }
    };
    nested(node, kind, pod, out)
}

/// A kind known to carry a pod spec at `path`: a step that is not a mapping is an error, a
/// missing one means there is nothing to pull. Returns the pod spec read, if any.
fn workload<'n, 'a>(
    node: &'n Node<'a>,
    kind: &str,
    path: &[&str],
    out: &mut Extraction,
) -> Result<Option<&'n Node<'a>>, Problem> {
    let meta = Meta::read(node)?;
    let mut at = node;
    for (depth, key) in path.iter().enumerate() {
        let Some(next) = at.get(key) else {
            return Ok(None);
        };
        if !next.is_map() {
            return Err(Problem::wrong_type(
                path[..=depth].join("."),
                "mapping",
                next,
            ));
        }
        at = next;
    }
    pod_spec(at, &path.join("."), kind, &meta, out)?;
    Ok(Some(at))
}

/// What a nested template is pulled with when it does not say: the nearest enclosing mapping's
/// `imagePullSecrets` and `serviceAccountName` (an Argo `Workflow`'s spec), else nothing and the
/// namespace's `default` service account.
#[derive(Clone, Default)]
struct Inherited {
    image_pull_secrets: Vec<String>,
    service_account: Option<String>,
}

impl Inherited {
    /// What the templates under `node` inherit: its own fields where it has them (read
    /// leniently: the walk never fails a file), else what `node` inherited.
    fn under(&self, node: &Node<'_>) -> Inherited {
        let secrets = pull_secret_names(node).unwrap_or_default();
        let service_account = node
            .get("serviceAccountName")
            .and_then(Node::as_str)
            .filter(|s| !s.is_empty());
        Inherited {
            image_pull_secrets: if secrets.is_empty() {
                self.image_pull_secrets.clone()
            } else {
                secrets
            },
            service_account: service_account
                .map(str::to_owned)
                .or_else(|| self.service_account.clone()),
        }
    }
}

/// The containers of an Argo Workflows template, in the order its pod runs them.
const ARGO_TEMPLATE: [(&str, ContainerKind); 4] = [
    ("initContainers", ContainerKind::Init),
    ("container", ContainerKind::Container),
    ("script", ContainerKind::Container),
    ("sidecars", ContainerKind::Container),
];

/// The containers of a Tekton task spec.
const TEKTON_TASK: [(&str, ContainerKind); 2] = [
    ("steps", ContainerKind::Container),
    ("sidecars", ContainerKind::Container),
];

/// Everything the walk for nested templates carries.
struct Walk<'w, 'a> {
    kind: &'w str,
    meta: Meta<'w>,
    /// The pod spec the object's kind already reported, not to be reported twice.
    known: Option<*const Node<'a>>,
    path: String,
    out: &'w mut Extraction,
}

/// Pod templates anywhere in an object, besides the one its kind puts it at: a custom
/// resource's (a `RayCluster`'s head and worker groups, an `AnalysisTemplate`'s job), an Argo
/// workflow's templates, a Tekton task's steps. What only looks like one — a list that is not of
/// mappings with an `image` string, a template with fields of the wrong type — is left alone
/// rather than failing the file: the object's own controller decides what it means.
fn nested<'a>(
    node: &Node<'a>,
    kind: &str,
    known: Option<&Node<'a>>,
    out: &mut Extraction,
) -> Result<(), Problem> {
    let Value::Map(entries) = &node.value else {
        return Ok(());
    };
    let meta = Meta::read(node)?;
    let mut walk = Walk {
        kind,
        meta,
        known: known.map(std::ptr::from_ref),
        path: String::new(),
        out,
    };
    let inherited = Inherited::default();
    for (key, value) in entries {
        // Names, labels, annotations (where helm values and last-applied copies live), status.
        if matches!(key.as_ref(), "metadata" | "status" | "kind" | "apiVersion") {
            continue;
        }
        walk.path.clear();
        walk.path.push_str(key);
        walk_node(value, &inherited, &mut walk);
    }
    Ok(())
}

/// Nesting is bounded by the parser (100 levels), so recursion here is too.
fn walk_node(node: &Node<'_>, inherited: &Inherited, walk: &mut Walk<'_, '_>) {
    if walk.known.is_some_and(|k| std::ptr::eq(k, node)) {
        return;
    }
    let at = walk.path.len();
    match &node.value {
        Value::List(items) => {
            for (index, item) in items.iter().enumerate() {
                walk.path.truncate(at);
                push_index(&mut walk.path, index);
                walk_node(item, inherited, walk);
            }
        }
        Value::Map(entries) => {
            if has_images(node, "containers") {
                // A pod spec: its own fields or nothing, as for a bare pod.
                let mut found = Extraction::default();
                if pod_spec(node, &walk.path, walk.kind, &walk.meta, &mut found).is_ok() {
                    walk.out.merge(found);
                }
                return;
            }
            let here = inherited.under(node);
            // An Argo Workflows template, or a Tekton task spec.
            let lists: &[(&str, ContainerKind)] =
                if has_image(node, "container") || has_image(node, "script") {
                    &ARGO_TEMPLATE
                } else if has_images(node, "steps") {
                    &TEKTON_TASK
                } else {
                    &[]
                };
            if !lists.is_empty() {
                let mut found = Extraction::default();
                let credentials = Credentials {
                    image_pull_secrets: here.image_pull_secrets.clone(),
                    service_account: here.service_account.as_deref().unwrap_or("default"),
                    node_platforms: node_platforms(node),
                };
                if containers(
                    node,
                    &walk.path,
                    lists,
                    walk.kind,
                    &walk.meta,
                    &credentials,
                    &mut found,
                )
                .is_ok()
                {
                    walk.out.merge(found);
                }
                return;
            }
            for (key, value) in entries {
                walk.path.truncate(at);
                walk.path.push('.');
                walk.path.push_str(key);
                walk_node(value, &here, walk);
            }
        }
        Value::Scalar(..) => {}
    }
    walk.path.truncate(at);
}

fn push_index(path: &mut String, index: usize) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(path, "[{index}]");
}

/// Whether `node[key]` is a mapping with an `image` string (an Argo template's `container`).
fn has_image(node: &Node<'_>, key: &str) -> bool {
    node.get(key)
        .and_then(|c| c.get("image"))
        .is_some_and(|i| i.as_str().is_some())
}

/// Whether `node[key]` is a list of mappings, one at least with an `image` string — a pod
/// spec's `containers`, not a schema's `containers: {type: array, items: …}`.
fn has_images(node: &Node<'_>, key: &str) -> bool {
    let Some(Value::List(items)) = node.get(key).map(|l| &l.value) else {
        return false;
    };
    items.iter().all(Node::is_map)
        && items
            .iter()
            .any(|c| c.get("image").is_some_and(|i| i.as_str().is_some()))
}

/// The platforms a pod is scheduled on, from what it requires of nodes: `nodeSelector` and the
/// `In` expressions of required node affinity on the well-known OS and architecture labels (the
/// `beta.` ones too). Scheduling fields of the wrong shape are the API server's to refuse: they
/// are ignored here rather than failing the file. The OS defaults to `linux`.
fn node_platforms(spec: &Node<'_>) -> Vec<String> {
    const OS: [&str; 2] = ["kubernetes.io/os", "beta.kubernetes.io/os"];
    const ARCH: [&str; 2] = ["kubernetes.io/arch", "beta.kubernetes.io/arch"];
    let mut oses: Vec<String> = Vec::new();
    let mut arches: Vec<String> = Vec::new();
    let mut note = |key: &str, value: &str| {
        let target = if OS.contains(&key) {
            &mut oses
        } else if ARCH.contains(&key) {
            &mut arches
        } else {
            return;
        };
        if !target.iter().any(|v| v == value) {
            target.push(value.to_owned());
        }
    };
    if let Some(Value::Map(entries)) = spec.get("nodeSelector").map(|n| &n.value) {
        for (key, value) in entries {
            if let Some(v) = value.as_str() {
                note(key, v);
            }
        }
    }
    let terms = spec
        .get("affinity")
        .and_then(|a| a.get("nodeAffinity"))
        .and_then(|n| n.get("requiredDuringSchedulingIgnoredDuringExecution"))
        .and_then(|r| r.get("nodeSelectorTerms"));
    if let Some(Value::List(terms)) = terms.map(|t| &t.value) {
        for term in terms {
            let Some(Value::List(exprs)) = term.get("matchExpressions").map(|e| &e.value) else {
                continue;
            };
            for expr in exprs {
                let (Some(key), Some("In")) = (
                    expr.get("key").and_then(Node::as_str),
                    expr.get("operator").and_then(Node::as_str),
                ) else {
                    continue;
                };
                if let Some(Value::List(values)) = expr.get("values").map(|v| &v.value) {
                    for v in values.iter().filter_map(Node::as_str) {
                        note(key, v);
                    }
                }
            }
        }
    }
    if arches.is_empty() {
        return Vec::new();
    }
    if oses.is_empty() {
        oses.push("linux".to_owned());
    }
    oses.iter()
        .flat_map(|os| arches.iter().map(move |arch| format!("{os}/{arch}")))
        .collect()
}

/// What every container of a pod spec is pulled with.
struct Credentials<'c> {
    image_pull_secrets: Vec<String>,
    service_account: &'c str,
    node_platforms: Vec<String>,
}

/// A pod spec at `path` in the object: its containers and image volumes, pulled with its own
/// `imagePullSecrets` and service account.
fn pod_spec(
    spec: &Node<'_>,
    path: &str,
    kind: &str,
    meta: &Meta<'_>,
    out: &mut Extraction,
) -> Result<(), Problem> {
    let image_pull_secrets = pull_secret_names(spec)?;
    // An empty name is unset for the API server, which then looks at the next field.
    let service_account = match string_field(spec, "serviceAccountName", "serviceAccountName")?
        .filter(|s| !s.is_empty())
    {
        Some(name) => name,
        None => string_field(spec, "serviceAccount", "serviceAccount")?
            .filter(|s| !s.is_empty())
            .unwrap_or("default"),
    };
    let credentials = Credentials {
        image_pull_secrets,
        service_account,
        node_platforms: node_platforms(spec),
    };
    let lists = [
        ("initContainers", ContainerKind::Init),
        ("containers", ContainerKind::Container),
        ("ephemeralContainers", ContainerKind::Ephemeral),
    ];
    containers(spec, path, &lists, kind, meta, &credentials, out)?;
    image_volumes(spec, path, kind, meta, &credentials, out);
    Ok(())
}

/// The containers of `lists` in `spec` (a list each, or a single container: an Argo template's
/// `container` and `script`), in that order.
fn containers(
    spec: &Node<'_>,
    path: &str,
    lists: &[(&str, ContainerKind)],
    kind: &str,
    meta: &Meta<'_>,
    credentials: &Credentials<'_>,
    out: &mut Extraction,
) -> Result<(), Problem> {
    let object = format!("{kind}/{}/{}", meta.namespace, meta.name);
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    };
    for &(key, container_kind) in lists {
        let Some(list) = spec.get(key) else {
            continue;
        };
        let single = [(list, format!("{prefix}{key}"))];
        let many;
        let items: &[(&Node<'_>, String)] = match &list.value {
            Value::List(items) => {
                many = items
                    .iter()
                    .enumerate()
                    .map(|(index, c)| (c, format!("{prefix}{key}[{index}]")))
                    .collect::<Vec<_>>();
                &many
            }
            Value::Map(_) if matches!(key, "container" | "script") => &single,
            _ => return Err(Problem::wrong_type(key, "list", list)),
        };
        for (index, (container, at)) in items.iter().enumerate() {
            if !container.is_map() {
                return Err(Problem::wrong_type(
                    format!("{key}[{index}]"),
                    "mapping",
                    container,
                ));
            }
            let name = string_field(container, "name", "name")?;
            let pull_policy = string_field(container, "imagePullPolicy", "imagePullPolicy")?;
            // `entry`, not `get`: `image: null` is a wrong type here, not an absent image.
            let Some(image) = container.entry("image") else {
                continue;
            };
            let Some(reference) = image.as_str() else {
                return Err(Problem::wrong_type("image", "string", image));
            };
            out.images.push(ImageUse {
                reference: reference.to_owned(),
                source: Source {
                    file: String::new(),
                    line: Some(image.line),
                    object: Some(object.clone()),
                    container: name.map(str::to_owned),
                    path: Some(at.clone()),
                },
                namespace: meta.namespace.to_owned(),
                image_pull_secrets: credentials.image_pull_secrets.clone(),
                service_account: credentials.service_account.to_owned(),
                pull_policy: pull_policy.map(str::to_owned),
                container_kind,
                node_platforms: credentials.node_platforms.clone(),
            });
        }
    }
    Ok(())
}

/// `volumes[].image.reference`: an OCI image the kubelet pulls and mounts (Kubernetes 1.31 and
/// later). A volume of another shape is the API server's to refuse, and is ignored here.
fn image_volumes(
    spec: &Node<'_>,
    path: &str,
    kind: &str,
    meta: &Meta<'_>,
    credentials: &Credentials<'_>,
    out: &mut Extraction,
) {
    let Some(Value::List(volumes)) = spec.get("volumes").map(|v| &v.value) else {
        return;
    };
    for (index, volume) in volumes.iter().enumerate() {
        let Some(image) = volume.get("image") else {
            continue;
        };
        let Some(reference) = image.get("reference") else {
            continue;
        };
        let Some(text) = reference.as_str() else {
            continue;
        };
        let at = if path.is_empty() {
            format!("volumes[{index}].image")
        } else {
            format!("{path}.volumes[{index}].image")
        };
        out.images.push(ImageUse {
            reference: text.to_owned(),
            source: Source {
                file: String::new(),
                line: Some(reference.line),
                object: Some(format!("{kind}/{}/{}", meta.namespace, meta.name)),
                container: volume.get("name").and_then(Node::as_str).map(str::to_owned),
                path: Some(at),
            },
            namespace: meta.namespace.to_owned(),
            image_pull_secrets: credentials.image_pull_secrets.clone(),
            service_account: credentials.service_account.to_owned(),
            pull_policy: image
                .get("pullPolicy")
                .and_then(Node::as_str)
                .map(str::to_owned),
            container_kind: ContainerKind::ImageVolume,
            node_platforms: credentials.node_platforms.clone(),
        });
    }
}

/// `imagePullSecrets: [{name: …}]` of a pod spec or a `ServiceAccount`. Entries without a name
/// are skipped (the API server accepts and ignores them).
fn pull_secret_names(node: &Node<'_>) -> Result<Vec<String>, Problem> {
    let Some(list) = node.get("imagePullSecrets") else {
        return Ok(Vec::new());
    };
    let Value::List(items) = &list.value else {
        return Err(Problem::wrong_type("imagePullSecrets", "list", list));
    };
    let mut names = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match &item.value {
            Value::Scalar(Scalar::Null, _) => {}
            // `imagePullSecrets: [regcred]` is a common slip, and kubectl refuses it too.
            Value::Map(_) => {
                let name = item.string("name").map_err(|bad| {
                    Problem::wrong_type(format!("imagePullSecrets[{index}].name"), "string", bad)
                })?;
                if let Some(name) = name.filter(|n| !n.is_empty()) {
                    names.push(name.to_owned());
                }
            }
            _ => {
                return Err(Problem::wrong_type(
                    format!("imagePullSecrets[{index}]"),
                    "mapping",
                    item,
                ));
            }
        }
    }
    Ok(names)
}

fn secret(node: &Node<'_>, out: &mut Extraction) -> Result<(), Problem> {
    let meta = Meta::read(node)?;
    let secret_type = string_field(node, "type", "type")?.map(str::to_owned);
    let data = string_map(node, "data")?;
    let string_data = string_map(node, "stringData")?;
    out.secrets.push(SecretObject {
        namespace: meta.namespace.to_owned(),
        name: meta.name.to_owned(),
        secret_type,
        data,
        string_data,
        source: meta.source("Secret", node.line),
    });
    Ok(())
}

/// A Secret's `data` or `stringData`. A null value is an empty one, as for the API server.
fn string_map(node: &Node<'_>, key: &str) -> Result<BTreeMap<String, String>, Problem> {
    let mut map = BTreeMap::new();
    let Some(field) = node.get(key) else {
        return Ok(map);
    };
    let Value::Map(entries) = &field.value else {
        return Err(Problem::wrong_type(key, "mapping", field));
    };
    for (name, value) in entries {
        let text = match value.as_str() {
            Some(text) => text.to_owned(),
            None if value.is_null() => String::new(),
            // Names the key and the type only: the value is a credential.
            None => {
                return Err(Problem::wrong_type(
                    format!("{key}.{name}"),
                    "string",
                    value,
                ));
            }
        };
        map.insert(name.clone().into_owned(), text);
    }
    Ok(map)
}

fn service_account(node: &Node<'_>, out: &mut Extraction) -> Result<(), Problem> {
    let meta = Meta::read(node)?;
    let image_pull_secrets = pull_secret_names(node)?;
    // Credential provider plugins with tokenAttributes read them (KEP-4412).
    let annotations = match node.get("metadata") {
        Some(metadata) => string_map(metadata, "annotations")?,
        None => BTreeMap::new(),
    };
    out.service_accounts.push(ServiceAccountObject {
        namespace: meta.namespace.to_owned(),
        name: meta.name.to_owned(),
        image_pull_secrets,
        annotations,
        source: meta.source("ServiceAccount", node.line),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::manifests::tests::*;
    use crate::inputs::manifests::*;

    #[test]
    fn node_platforms_come_from_selectors_and_required_affinity() {
        let text = "kind: Pod\nmetadata: {name: p}\nspec:\n  nodeSelector: {kubernetes.io/os: linux, kubernetes.io/arch: arm64, disk: ssd}\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n          - matchExpressions:\n              - {key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}\n              - {key: kubernetes.io/arch, operator: NotIn, values: [s390x]}\n  containers:\n    - {name: a, image: app:v1}\n";
        let e = extract("p.yaml", text).unwrap();
        assert_eq!(e.images[0].node_platforms, ["linux/arm64", "linux/amd64"]);
        let plain = extract(
            "p.yaml",
            "kind: Pod\nspec:\n  nodeSelector: {disk: ssd}\n  containers: [{name: a, image: x}]\n",
        )
        .unwrap();
        assert!(plain.images[0].node_platforms.is_empty());
        let odd = extract("p.yaml", "kind: Pod\nspec:\n  nodeSelector: [1]\n  affinity: 3\n  containers: [{name: a, image: x}]\n").unwrap();
        assert!(
            odd.images[0].node_platforms.is_empty(),
            "odd shapes are ignored, not fatal"
        );
    }

    #[test]
    fn invalid_fields() {
        let cases = [
            (
                "kind: Pod\nspec:\n  containers:\n    image: x\n",
                "t.yaml:4: containers must be a list, found a mapping",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - nginx\n",
                "t.yaml:4: containers[0] must be a mapping, found a string",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - image:\n",
                "t.yaml:4: image must be a string, found a null",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - {image: [a]}\n",
                "t.yaml:4: image must be a string, found a list",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - {name: 7, image: a}\n",
                "t.yaml:4: name must be a string, found a number",
            ),
            (
                "kind: Pod\nspec:\n  containers:\n    - {imagePullPolicy: true, image: a}\n",
                "t.yaml:4: imagePullPolicy must be a string, found a boolean",
            ),
            (
                "kind: Pod\nspec:\n  imagePullSecrets: [regcred]\n  containers: []\n",
                "t.yaml:3: imagePullSecrets[0] must be a mapping, found a string",
            ),
            (
                "kind: Pod\nspec:\n  imagePullSecrets: {name: regcred}\n",
                "t.yaml:3: imagePullSecrets must be a list, found a mapping",
            ),
            (
                "kind: Pod\nspec:\n  serviceAccountName: {a: b}\n",
                "t.yaml:3: serviceAccountName must be a string, found a mapping",
            ),
            (
                "kind: Pod\nmetadata:\n  name: [a]\nspec: {}\n",
                "t.yaml:3: metadata.name must be a string, found a list",
            ),
            (
                "kind: Pod\nmetadata: x\n",
                "t.yaml:2: metadata must be a mapping, found a string",
            ),
            (
                "kind: [Pod]\n",
                "t.yaml:1: kind must be a string, found a list",
            ),
            (
                "kind: Deployment\nspec:\n  template: []\n",
                "t.yaml:3: spec.template must be a mapping, found a list",
            ),
            (
                "kind: Pod\nspec: 3\n",
                "t.yaml:2: spec must be a mapping, found a number",
            ),
            (
                "kind: List\nitems: {}\n",
                "t.yaml:2: items must be a list, found a mapping",
            ),
            (
                "kind: ServiceAccount\nimagePullSecrets: [{name: 1}]\n",
                "t.yaml:2: imagePullSecrets[0].name must be a string, found a number",
            ),
            (
                "kind: Secret\ntype: 1\n",
                "t.yaml:2: type must be a string, found a number",
            ),
            (
                "kind: Secret\ndata: []\n",
                "t.yaml:2: data must be a mapping, found a list",
            ),
        ];
        for (text, message) in cases {
            let e = err("t.yaml", text);
            assert!(matches!(e, ManifestError::InvalidField { .. }), "{e:?}");
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn documents_that_are_not_objects() {
        for (text, message) in [
            (
                "hello\n",
                "t.yaml:1: a document must be a Kubernetes object (a mapping), found a string",
            ),
            (
                "kind: Pod\n---\n\n42\n",
                "t.yaml:4: a document must be a Kubernetes object (a mapping), found a number",
            ),
            (
                "kind: List\nitems:\n  - true\n",
                "t.yaml:3: a document must be a Kubernetes object (a mapping), found a boolean",
            ),
        ] {
            let e = err("t.yaml", text);
            assert!(matches!(e, ManifestError::NotAnObject { .. }), "{e:?}");
            assert_eq!(e.to_string(), message);
        }
    }

    #[test]
    fn what_is_ignored() {
        // No kind; no pod spec; no image; an unknown kind whose fields only look alike.
        let text = "metadata: {name: x}\nspec: {containers: [{image: a}]}\n---\n\
                    kind: ConfigMap\ndata: {image: b}\n---\n\
                    kind: Pod\nspec: {containers: [{name: no-image}]}\n---\n\
                    kind: Widget\nspec: {template: {spec: {containers: {image: c}}}}\n---\n\
                    kind: Widget\nspec: {template: [1]}\n---\n\
                    kind: Deployment\nspec: {replicas: 1}\n";
        assert_eq!(extract("t.yaml", text).ok(), Some(Extraction::default()));
    }

    #[test]
    fn other_kinds_with_a_pod_template() {
        // KEDA's ScaledJob carries a Job template.
        assert_eq!(
            images(
                "kind: ScaledJob\nmetadata: {name: q, namespace: jobs}\nspec:\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: w, image: worker}]\n"
            ),
            ["worker @8 ScaledJob/jobs/q w ns=jobs secrets= sa=default policy=- Container"]
        );
    }

    #[test]
    fn names_namespaces_and_service_accounts() {
        // Null and empty count as unset; generateName stands in for a missing name.
        assert_eq!(
            images(
                "kind: Pod\nmetadata: {namespace: ~, generateName: run-}\nspec:\n  serviceAccountName: ''\n  serviceAccount: legacy\n  imagePullSecrets: [{name: a}, {}, ~, {name: ''}, {name: b}]\n  containers: [{image: x}]\n"
            ),
            ["x @7 Pod/default/run- - ns=default secrets=a,b sa=legacy policy=- Container"]
        );
        assert_eq!(
            images(
                "kind: Pod\nmetadata: {namespace: '', name: p}\nspec: {containers: [{image: x}]}\n"
            ),
            ["x @3 Pod/default/p - ns=default secrets= sa=default policy=- Container"]
        );
    }

    #[test]
    fn workloads_of_every_kind() {
        let e = ok("workloads.yaml");
        assert_eq!(
            rows(&e),
            [
                "busybox:1.36 @15 Pod/shop/debug-shell wait-db ns=shop secrets=regcred sa=builder policy=- Init",
                "registry.example.com/tools/shell:2.0 @18 Pod/shop/debug-shell shell ns=shop secrets=regcred sa=builder policy=Always Container",
                "nicolaka/netshoot@sha256:0000000000000000000000000000000000000000000000000000000000000000 @22 Pod/shop/debug-shell debugger ns=shop secrets=regcred sa=builder policy=- Ephemeral",
                "registry.example.com/shop/payment-app:v2.1.3 @41 Deployment/shop/payment-app app ns=shop secrets=regcred,backup-cred sa=default policy=- Container",
                "envoyproxy/envoy:v1.30.1 @43 Deployment/shop/payment-app sidecar ns=shop secrets=regcred,backup-cred sa=default policy=IfNotPresent Container",
                "nginx @57 ReplicaSet/default/legacy-rs web ns=default secrets= sa=old-style policy=- Container",
                "alpine:3.19 @69 StatefulSet/data/db init-perms ns=data secrets= sa=default policy=- Init",
                "postgres:16 @72 StatefulSet/data/db postgres ns=data secrets= sa=default policy=- Container",
                "quay.io/prometheus/node-exporter:v1.8.0 @84 DaemonSet/kube-system/node-agent agent ns=kube-system secrets= sa=default policy=- Container",
                "registry.example.com/shop/migrate:v2.1.3 @96 Job/shop/migrate- migrate ns=shop secrets= sa=default policy=- Container",
                "gcr.io/google-samples/hello-app:1.0 @108 ReplicationController/default/old-rc app ns=default secrets= sa=default policy=- Container",
                "registry.example.com/shop/report:latest @124 CronJob/shop/nightly-report report ns=shop secrets= sa=reporter policy=- Container",
                "ghcr.io/example/worker:1.4 @136 PodTemplate/shop/worker-template worker ns=shop secrets= sa=default policy=- Container",
            ]
        );
        assert_eq!(
            e.secrets,
            [SecretObject {
                namespace: "shop".into(),
                name: "regcred".into(),
                secret_type: Some("kubernetes.io/dockerconfigjson".into()),
                data: BTreeMap::from([(".dockerconfigjson".into(), "eyJhdXRocyI6e319".into())]),
                string_data: BTreeMap::new(),
                source: Source {
                    file: "workloads.yaml".into(),
                    line: Some(138),
                    object: Some("Secret/shop/regcred".into()),
                    container: None,
                    path: None,
                },
            }]
        );
        assert_eq!(
            e.service_accounts,
            [ServiceAccountObject {
                annotations: BTreeMap::new(),
                namespace: "shop".into(),
                name: "builder".into(),
                image_pull_secrets: vec!["regcred".into()],
                source: Source {
                    file: "workloads.yaml".into(),
                    line: Some(147),
                    object: Some("ServiceAccount/shop/builder".into()),
                    container: None,
                    path: None,
                },
            }]
        );
    }

    #[test]
    fn lists_and_typed_lists() {
        let e = ok("list.yaml");
        assert_eq!(
            rows(&e),
            [
                "nginx:1.27 @14 Deployment/web/frontend web ns=web secrets= sa=default policy=- Container",
                "ghcr.io/example/api:3.2 @37 Deployment/web/api api ns=web secrets= sa=default policy=- Container",
                "ghcr.io/example/worker:3.2 @45 Deployment/default/worker worker ns=default secrets= sa=default policy=- Container",
            ]
        );
        assert_eq!(e.secrets.len(), 1);
        let tls = &e.secrets[0];
        assert_eq!(
            (
                tls.namespace.as_str(),
                tls.name.as_str(),
                tls.secret_type.as_deref()
            ),
            ("web", "tls", Some("kubernetes.io/tls"))
        );
        assert!(tls.data.is_empty());
        assert_eq!(
            tls.string_data,
            BTreeMap::from([
                ("tls.crt".into(), "CERT".into()),
                ("tls.key".into(), "KEY".into())
            ])
        );
        assert_eq!(tls.source.line, Some(15));
        assert_eq!(tls.source.object.as_deref(), Some("Secret/web/tls"));
        assert!(e.service_accounts.is_empty());
    }

    #[test]
    fn argo_rollout() {
        let e = ok("crd-rollout.yaml");
        assert_eq!(
            rows(&e),
            [
                "registry.example.com/shop/checkout:v1.9.0 @21 Rollout/shop/checkout checkout ns=shop secrets= sa=checkout policy=- Container"
            ]
        );
        assert!(e.secrets.is_empty() && e.service_accounts.is_empty());
    }

    #[test]
    fn knative_service() {
        let e = ok("knative.yaml");
        // Knative lets the single container go unnamed.
        assert_eq!(
            rows(&e),
            [
                "ghcr.io/knative/helloworld-go:latest @15 Service/serverless/hello - ns=serverless secrets=ghcr sa=default policy=- Container"
            ]
        );
    }

    #[test]
    fn image_mapping() {
        let e = fixture("image-not-string.yaml").unwrap_err();
        assert!(
            matches!(&e, ManifestError::InvalidField { line: 10, field, .. } if field == "image"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "image-not-string.yaml:10: image must be a string, found a mapping"
        );
    }

    #[test]
    fn top_level_list() {
        let e = fixture("not-object.yaml").unwrap_err();
        assert!(
            matches!(
                &e,
                ManifestError::NotAnObject {
                    line: 11,
                    found: "list",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "not-object.yaml:11: a document must be a Kubernetes object (a mapping), found a list"
        );
    }
}

#[cfg(test)]
mod nested_templates {
    use crate::inputs::manifests::tests::*;
    use crate::inputs::manifests::*;

    /// One line per image use: the reference, where it is, and what it is pulled with.
    fn at(extraction: &Extraction) -> Vec<String> {
        extraction
            .images
            .iter()
            .map(|i| {
                format!(
                    "{} @{} {} {} {} secrets={} sa={} {:?}",
                    i.reference,
                    i.source.line.unwrap_or(0),
                    i.source.object.as_deref().unwrap_or("?"),
                    i.source.path.as_deref().unwrap_or("?"),
                    i.source.container.as_deref().unwrap_or("-"),
                    i.image_pull_secrets.join(","),
                    i.service_account,
                    i.container_kind,
                )
            })
            .collect()
    }

    #[test]
    fn pod_templates_nested_in_custom_resources() {
        assert_eq!(
            at(&ok("templates.yaml")),
            [
                "rayproject/ray:2.9.0 @14 RayCluster/ml/raycluster-kuberay spec.headGroupSpec.template.spec.containers[0] ray-head secrets=ray-pull sa=default Container",
                "rayproject/ray:2.9.0 @21 RayCluster/ml/raycluster-kuberay spec.workerGroupSpecs[0].template.spec.containers[0] ray-worker secrets= sa=default Container",
                "busybox:1.36 @27 RayCluster/ml/raycluster-kuberay spec.workerGroupSpecs[1].template.spec.initContainers[0] wait-gcs secrets= sa=gpu-runner Init",
                "rayproject/ray-ml:2.9.0-gpu @29 RayCluster/ml/raycluster-kuberay spec.workerGroupSpecs[1].template.spec.containers[0] ray-worker secrets= sa=gpu-runner Container",
                "rayproject/ray:2.9.0-py310 @40 RayJob/ml/rayjob-sample spec.rayClusterSpec.headGroupSpec.template.spec.containers[0] ray-head secrets= sa=default Container",
                "rayproject/ray:2.9.0-py310 @45 RayJob/ml/rayjob-sample spec.rayClusterSpec.workerGroupSpecs[0].template.spec.containers[0] ray-worker secrets= sa=default Container",
                "rayproject/ray:2.9.0-submit @48 RayJob/ml/rayjob-sample spec.submitterPodTemplate.spec.containers[0] submitter secrets= sa=default Container",
                "rayproject/ray:2.9.0-serve @62 RayService/ml/rayservice-sample spec.rayClusterConfig.headGroupSpec.template.spec.containers[0] ray-head secrets= sa=default Container",
                "registry.example.com/shop/smoke:1.0 @82 AnalysisTemplate/shop/smoke-test spec.metrics[1].provider.job.spec.template.spec.containers[0] smoke secrets= sa=default Container",
                "registry.example.com/shop/app:v1 @95 Experiment/shop/canary-exp spec.templates[0].template.spec.containers[0] app secrets= sa=default Container",
                "registry.example.com/shop/app:v2 @99 Experiment/shop/canary-exp spec.templates[1].template.spec.containers[0] app secrets= sa=default Container",
                "pytorch/pytorch:2.5.0-cuda12.4-cudnn9-runtime @116 TrainingRuntime/train/torch-distributed spec.template.spec.replicatedJobs[0].template.spec.template.spec.containers[0] node secrets= sa=default Container",
                "python:3.12-slim @126 SandboxTemplate/agents/python-sandbox spec.podTemplate.spec.containers[0] python secrets= sa=default Container",
                "ghcr.io/example/tools:1.0 @129 SandboxTemplate/agents/python-sandbox spec.podTemplate.spec.volumes[0].image tools secrets= sa=default ImageVolume",
                "ghcr.io/example/server:1.0 @137 Deployment/ml/model-server spec.template.spec.containers[0] server secrets= sa=default Container",
                "quay.io/example/model-weights:v3 @143 Deployment/ml/model-server spec.template.spec.volumes[2].image model secrets= sa=default ImageVolume",
            ]
        );
        let e = ok("templates.yaml");
        let tools = &e.images[13];
        assert_eq!(tools.pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(tools.namespace, "agents");
    }

    #[test]
    fn argo_workflows_and_tekton() {
        assert_eq!(
            at(&ok("workflows.yaml")),
            [
                "alpine/git:2.45.2 @14 Workflow/ci/build- spec.templates[1].initContainers[0] fetch secrets=ci-pull sa=argo-runner Init",
                "golang:1.23 @16 Workflow/ci/build- spec.templates[1].container - secrets=ci-pull sa=argo-runner Container",
                "docker:27-dind @19 Workflow/ci/build- spec.templates[1].sidecars[0] dind secrets=ci-pull sa=argo-runner Container",
                "python:3.12 @22 Workflow/ci/build- spec.templates[2].script - secrets=ci-pull sa=argo-runner Container",
                "registry.example.com/ci/nightly:1.0 @34 CronWorkflow/ci/nightly spec.workflowSpec.templates[0].container - secrets= sa=default Container",
                "gcr.io/kaniko-project/executor:v1.23.2 @43 Task/ci/build-push spec.steps[0] build secrets= sa=default Container",
                "registry:2 @46 Task/ci/build-push spec.sidecars[0] registry secrets= sa=default Container",
                "golangci/golangci-lint:v1.60 @56 Pipeline/ci/release spec.tasks[0].taskSpec.steps[0] lint secrets= sa=default Container",
            ]
        );
    }

    #[test]
    fn a_crd_bundle_yields_only_the_images_its_objects_use() {
        // Three CRDs with schemas describing containers, images and image volumes at length, a
        // ConfigMap and annotations that mention images, then the objects that use images.
        assert_eq!(
            at(&ok("crd-bundle.yaml")),
            [
                "quay.io/kuberay/operator:v1.2.2 @1878 Deployment/ray-system/kuberay-operator spec.template.spec.containers[0] operator secrets= sa=kuberay-operator Container",
                "rayproject/ray:2.9.0 @1888 RayCluster/ml/demo spec.headGroupSpec.template.spec.containers[0] ray-head secrets= sa=default Container",
                "rayproject/ray:2.9.0 @1893 RayCluster/ml/demo spec.workerGroupSpecs[0].template.spec.containers[0] ray-worker secrets= sa=default Container",
                "example.io/widget-sidecar:1.0 @1902 Widget/ml/w spec.containers[0] plain secrets= sa=default Container",
            ]
        );
        // The schemas yield nothing by their shape alone, not only because CRDs are skipped.
        let text = std::fs::read_to_string(format!("{FIXTURES}/crd-bundle.yaml")).unwrap();
        let schemas: String = text
            .split("\n---\n")
            .filter(|d| d.contains("kind: CustomResourceDefinition"))
            .map(|d| d.replace("kind: CustomResourceDefinition", "kind: SchemaHolder"))
            .collect::<Vec<_>>()
            .join("\n---\n");
        assert_eq!(schemas.matches("kind: SchemaHolder").count(), 3);
        assert_eq!(extract("s.yaml", &schemas).unwrap().images, []);
    }

    #[test]
    fn what_only_looks_like_a_nested_template_is_left_alone() {
        // A schema's `containers`, a list of strings, a list of mappings without an image, a
        // nested pod spec whose fields have the wrong type, a CRD's example: nothing, and no
        // error either.
        let text = "kind: Widget\nspec:\n  a: {containers: {type: array, items: {properties: {image: {type: string}}}}}\n  b: {containers: [nginx]}\n  c: {containers: [{name: x}]}\n  d: {containers: [{image: x}, nginx]}\n  e: {imagePullSecrets: [regcred], containers: [{image: y}]}\n  f: {containers: [{image: [z]}, {image: ok}]}\n  g: {container: {image: [a]}}\n  h: {steps: [{image: 7}]}\n---\n\
                    kind: CustomResourceDefinition\nspec: {versions: [{schema: {example: {containers: [{image: crd-example}]}}}]}\n---\n\
                    kind: Widget\nmetadata:\n  annotations: {values: x}\n  managedFields: [{containers: [{image: managed}]}]\nstatus: {containers: [{image: observed}]}\n";
        assert_eq!(extract("t.yaml", text).unwrap().images, []);
    }

    #[test]
    fn a_known_workload_is_reported_once() {
        // The kind's own pod spec is read as before (strictly); the walk skips it and finds
        // only what else the object holds.
        let text = "kind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: app}]\n  extra:\n    template:\n      spec:\n        containers: [{name: b, image: other}]\n---\n\
                    kind: Rollout\nmetadata: {name: r}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: app}]\n---\n\
                    kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: app}]\n";
        assert_eq!(
            at(&extract("t.yaml", text).unwrap()),
            [
                "app @6 Deployment/default/d spec.template.spec.containers[0] a secrets= sa=default Container",
                "other @10 Deployment/default/d spec.extra.template.spec.containers[0] b secrets= sa=default Container",
                "app @17 Rollout/default/r spec.template.spec.containers[0] a secrets= sa=default Container",
                "app @22 Pod/default/p spec.containers[0] a secrets= sa=default Container",
            ]
        );
    }

    #[test]
    fn known_workloads_have_paths() {
        let e = ok("workloads.yaml");
        let paths: Vec<_> = e
            .images
            .iter()
            .map(|i| i.source.path.as_deref().unwrap_or("?"))
            .collect();
        assert_eq!(
            paths,
            [
                "spec.initContainers[0]",
                "spec.containers[0]",
                "spec.ephemeralContainers[0]",
                "spec.template.spec.containers[0]",
                "spec.template.spec.containers[1]",
                "spec.template.spec.containers[0]",
                "spec.template.spec.initContainers[0]",
                "spec.template.spec.containers[0]",
                "spec.template.spec.containers[0]",
                "spec.template.spec.containers[0]",
                "spec.template.spec.containers[0]",
                "spec.jobTemplate.spec.template.spec.containers[0]",
                "template.spec.containers[0]",
            ]
        );
    }
}
