//! What `kubectl get pods,events,secrets,serviceaccounts,nodes,replicasets,deployments -o json`
//! prints, read into plain data: Pods with their containers' states, Events, Nodes and the
//! workloads that own Pods. Secrets, `ServiceAccounts` and the Pods' specs come through the
//! manifest reader (`inputs/manifests`), with its line numbers, `List`s and YAML handling.
//!
//! Fields of the wrong type are read as absent: `kubectl` printed them, and one odd field
//! should not keep the other pods from being explained. What cannot be explained is an input
//! error with its file and line: a document that is no Kubernetes object, and a Pod without
//! `status` (a manifest, not what `kubectl get` prints).

use crate::inputs::manifests::{self, ContainerKind, Extraction, ManifestError, Node, Value};

/// Everything read from the inputs.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Stream {
    /// Pod specs (for credentials and platforms), Secrets and `ServiceAccounts`.
    pub extraction: Extraction,
    /// Every Pod, in input order.
    pub pods: Vec<Pod>,
    /// Every Event about a Pod.
    pub events: Vec<Event>,
    /// Every Node.
    pub nodes: Vec<NodeInfo>,
    /// Workloads that may own Pods (`ReplicaSets`, Deployments, Jobs…), by name.
    pub workloads: Vec<Workload>,
    /// Problems that keep part of the input from being explained (exit 2), the rest read.
    pub errors: Vec<String>,
    /// Things the reader noticed that do not stop it.
    pub warnings: Vec<String>,
}

/// A Pod as `kubectl get` prints it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Pod {
    /// `metadata.namespace` (`default` when absent).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The file it was read from.
    pub file: String,
    /// The line it starts on.
    pub line: usize,
    /// `spec.nodeName`.
    pub node_name: Option<String>,
    /// The controlling `ownerReferences` entry (else the first), as `(kind, name)`.
    pub owner: Option<(String, String)>,
    /// The containers' states, init, regular then ephemeral.
    pub containers: Vec<ContainerState>,
}

/// One entry of a Pod's `initContainerStatuses`, `containerStatuses` or
/// `ephemeralContainerStatuses`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ContainerState {
    /// Which list.
    pub kind: ContainerKind,
    /// `name`.
    pub name: String,
    /// `image` in the status (the spec's image is preferred where known).
    pub image: Option<String>,
    /// `state.waiting.reason`.
    pub reason: Option<String>,
    /// `state.waiting.message`.
    pub message: Option<String>,
    /// The line of the status entry.
    pub line: usize,
}

/// An Event about a Pod (`v1` or `events.k8s.io/v1`).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Event {
    /// The Pod's namespace.
    pub namespace: String,
    /// The Pod's name.
    pub pod: String,
    /// `involvedObject.fieldPath` (`spec.containers{app}`).
    pub field_path: Option<String>,
    /// `reason` (`Failed`, `BackOff`, `Pulling`).
    pub reason: String,
    /// `message` (`note` for `events.k8s.io`).
    pub message: String,
    /// The newest time the event names (`lastTimestamp`, `eventTime`, `series.lastObservedTime`,
    /// `firstTimestamp`), RFC 3339 as written.
    pub time: Option<String>,
    /// The file it was read from.
    pub file: String,
    /// The line it starts on.
    pub line: usize,
}

/// A Node: where its pods run, and with what.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NodeInfo {
    /// `metadata.name`.
    pub name: String,
    /// `kubernetes.io/os` and `kubernetes.io/arch` labels as `OS/ARCH`, when both are there.
    pub platform: Option<String>,
    /// `status.nodeInfo.containerRuntimeVersion` (`containerd://1.7.27`).
    pub runtime_version: Option<String>,
}

/// A workload object that may own Pods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Workload {
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// Its own controlling owner, `(kind, name)`.
    pub owner: Option<(String, String)>,
}

const WORKLOADS: [&str; 7] = [
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

impl Stream {
    /// Reads one file's text (`file` names it in messages). A syntax error rejects the file;
    /// a Pod without status is recorded in [`Stream::errors`] and the rest is read.
    pub fn read(&mut self, file: &str, text: &str) -> Result<(), ManifestError> {
        let mut objects = 0usize;
        let mut unknown: Option<usize> = None;
        let extraction = manifests::read_objects(file, text, &mut |node, kind| {
            objects += 1;
            match kind {
                None => {
                    unknown.get_or_insert(node.line);
                }
                Some("Pod") => self.pod(file, node),
                Some("Event") => self.event(file, node),
                Some("Node") => self.node(node),
                Some(k) if WORKLOADS.contains(&k) => self.workload(k, node),
                Some(_) => {}
            }
            Ok(())
        })?;
        if let Some(line) = unknown {
            self.errors.push(format!(
                "{file}:{line}: not a Kubernetes object (no kind): explain reads what kubectl get -o json|yaml prints"
            ));
        } else if objects == 0 {
            self.warnings
                .push(format!("{file}: no Kubernetes objects in the input"));
        }
        self.extraction.merge(extraction);
        Ok(())
    }

    fn pod(&mut self, file: &str, node: &Node<'_>) {
        let (namespace, name) = meta(node);
        let Some(status) = node.get("status").filter(|s| s.is_map()) else {
            self.errors.push(format!(
                "{file}:{}: Pod/{namespace}/{name} has no status: explain reads Pods as kubectl get prints them, not manifests",
                node.line
            ));
            return;
        };
        let mut containers = Vec::new();
        for (key, kind) in [
            ("initContainerStatuses", ContainerKind::Init),
            ("containerStatuses", ContainerKind::Container),
            ("ephemeralContainerStatuses", ContainerKind::Ephemeral),
        ] {
            for entry in list(status.get(key)) {
                let Some(name) = text(entry, &["name"]) else {
                    continue;
                };
                let waiting = entry.get("state").and_then(|s| s.get("waiting"));
                containers.push(ContainerState {
                    kind,
                    name: name.to_owned(),
                    image: text(entry, &["image"]).map(str::to_owned),
                    reason: waiting
                        .and_then(|w| text(w, &["reason"]))
                        .map(str::to_owned),
                    message: waiting
                        .and_then(|w| text(w, &["message"]))
                        .map(str::to_owned),
                    line: entry.line,
                });
            }
        }
        self.pods.push(Pod {
            namespace,
            name,
            file: file.to_owned(),
            line: node.line,
            node_name: text(node, &["spec", "nodeName"]).map(str::to_owned),
            owner: owner(node),
            containers,
        });
    }

    fn event(&mut self, file: &str, node: &Node<'_>) {
        // core/v1 names the object `involvedObject`, events.k8s.io/v1 `regarding`.
        let Some(object) = node.get("involvedObject").or_else(|| node.get("regarding")) else {
            return;
        };
        if text(object, &["kind"]) != Some("Pod") {
            return;
        }
        let Some(pod) = text(object, &["name"]) else {
            return;
        };
        let namespace = text(object, &["namespace"])
            .or_else(|| text(node, &["metadata", "namespace"]))
            .unwrap_or("default");
        let times = [
            text(node, &["lastTimestamp"]),
            text(node, &["deprecatedLastTimestamp"]),
            text(node, &["series", "lastObservedTime"]),
            text(node, &["eventTime"]),
            text(node, &["firstTimestamp"]),
        ];
        // RFC 3339 in UTC as the API server writes it orders as text.
        let time = times.into_iter().flatten().max().map(str::to_owned);
        self.events.push(Event {
            namespace: namespace.to_owned(),
            pod: pod.to_owned(),
            field_path: text(object, &["fieldPath"]).map(str::to_owned),
            reason: text(node, &["reason"]).unwrap_or_default().to_owned(),
            message: text(node, &["message"])
                .or_else(|| text(node, &["note"]))
                .unwrap_or_default()
                .to_owned(),
            time,
            file: file.to_owned(),
            line: node.line,
        });
    }

    fn node(&mut self, node: &Node<'_>) {
        let (_, name) = meta(node);
        let labels = node.get("metadata").and_then(|m| m.get("labels"));
        let label = |key: &str| labels.and_then(|l| text(l, &[key]));
        let platform = match (label("kubernetes.io/os"), label("kubernetes.io/arch")) {
            (Some(os), Some(arch)) => Some(format!("{os}/{arch}")),
            (None, Some(arch)) => Some(format!("linux/{arch}")),
            _ => None,
        };
        self.nodes.push(NodeInfo {
            name,
            platform,
            runtime_version: text(node, &["status", "nodeInfo", "containerRuntimeVersion"])
                .map(str::to_owned),
        });
    }

    fn workload(&mut self, kind: &str, node: &Node<'_>) {
        let (namespace, name) = meta(node);
        self.workloads.push(Workload {
            kind: kind.to_owned(),
            namespace,
            name,
            owner: owner(node),
        });
    }
}

/// The string at `path` under `node`; absent, null or not a string is `None`.
fn text<'n>(node: &'n Node<'_>, path: &[&str]) -> Option<&'n str> {
    path.iter()
        .try_fold(node, |at, key| at.get(key))
        .and_then(Node::as_str)
}

fn list<'n, 'a>(node: Option<&'n Node<'a>>) -> &'n [Node<'a>] {
    match node.map(|n| &n.value) {
        Some(Value::List(items)) => items,
        _ => &[],
    }
}

fn meta(node: &Node<'_>) -> (String, String) {
    let namespace = text(node, &["metadata", "namespace"])
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    let name = text(node, &["metadata", "name"])
        .filter(|s| !s.is_empty())
        .unwrap_or("(unnamed)");
    (namespace.to_owned(), name.to_owned())
}

/// The controlling owner reference, else the first one.
fn owner(node: &Node<'_>) -> Option<(String, String)> {
    let refs = list(node.get("metadata").and_then(|m| m.get("ownerReferences")));
    let controller = refs.iter().find(|r| {
        matches!(
            r.get("controller").map(|c| &c.value),
            Some(Value::Scalar(_, v)) if v == "true"
        )
    });
    let chosen = controller.or(refs.first())?;
    Some((
        text(chosen, &["kind"])?.to_owned(),
        text(chosen, &["name"])?.to_owned(),
    ))
}
