//! Why are these pods in `ImagePullBackOff`, and is it fixed yet? `explain` reads what `kubectl`
//! prints (Pods, Events, Secrets, `ServiceAccounts`, Nodes, workloads), finds every container
//! that cannot pull its image, turns the runtime's message into a diagnosis code
//! ([`classify`]), and — unless asked not to — checks the same image again, live, with the
//! pod's own credentials, platform and node runtime, to say which of these it is:
//!
//! - [`Verdict::StillFailing`]: the live check fails too (its diagnosis says why);
//! - [`Verdict::NowPullable`]: the live check passes, and the cause was not the network: it
//!   is gone, and the kubelet pulls on its next try (its back-off is at most 300 s);
//! - [`Verdict::NodeOnly`]: the runtime failed at a network or TLS stage (DNS, connect,
//!   certificate, proxy) and the check from here passes: fixed since the last try, or only
//!   the node sees it;
//! - [`Verdict::Unchecked`]: no live check was made, or it could not resolve anything
//!   (`dns-config`: this machine's resolver configuration is unusable).
//!
//! The parts: `stream` reads the objects, [`classify`] holds the one table of message shapes,
//! this module selects the failing containers and decides the verdicts.

pub mod classify;
mod stream;

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::diagnosis::{Code, Stage};
use crate::engine::checker::Checker;
use crate::engine::request::ImageRequest;
use crate::inputs::manifests::ContainerKind;
use crate::inputs::plan::{self, PlanOptions};
use crate::model::platform::Platform;
use crate::registry::runtime::Runtime;
use crate::report::ImageReport;

pub use stream::{ContainerState, Event, NodeInfo, Pod, Stream, Workload};

/// The version of the explain report format.
pub const EXPLAIN_VERSION: u32 = 1;

/// The kubelet's longest image pull back-off (`MaxContainerBackOff`, 300 s, in
/// `pkg/kubelet/kubelet.go`; `imageBackOffPeriod` is 10 s doubling to it).
pub const MAX_BACKOFF_SECS: i64 = 300;

/// Waiting reasons that mean the image could not be pulled (kubelet
/// `pkg/kubelet/images/types.go`, `k8s.io/cri-api/pkg/errors`); any other reason with `Pull`
/// in it counts too, reported as written.
pub const PULL_REASONS: [&str; 6] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
    "SignatureValidationFailed",
];

/// What became of a failing container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Verdict {
    /// The live check fails too.
    StillFailing,
    /// The live check passes; the cause (not a network one) is gone.
    NowPullable,
    /// The runtime failed at a network or TLS stage, and the check from here passes.
    NodeOnly,
    /// Not checked (`--offline`), or the check could not resolve anything (`dns-config`).
    Unchecked,
}

impl Verdict {
    /// The kebab-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::StillFailing => "still-failing",
            Verdict::NowPullable => "now-pullable",
            Verdict::NodeOnly => "node-only",
            Verdict::Unchecked => "unchecked",
        }
    }
}

/// Counts over the explained containers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Failing containers found.
    pub containers: usize,
    /// Verdict `still-failing`.
    pub still_failing: usize,
    /// Verdict `now-pullable`.
    pub now_pullable: usize,
    /// Verdict `node-only`.
    pub node_only: usize,
    /// Verdict `unchecked`.
    pub unchecked: usize,
    /// Cause `unclassified`.
    pub unclassified: usize,
}

/// The answer for every failing container.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    /// Report format version (1).
    pub version: u32,
    /// Counts.
    pub summary: Summary,
    /// One entry per failing container, in input order.
    pub containers: Vec<Explained>,
    /// Things worth knowing about the input (events about pods not in it…).
    pub warnings: Vec<String>,
}

impl Explanation {
    /// Whether anything needs attention: a container still failing, seen failing only from its
    /// node, not checked, or whose cause is unknown. All `now-pullable` (or nothing failing)
    /// is fine.
    pub fn needs_attention(&self) -> bool {
        self.containers
            .iter()
            .any(|c| c.verdict != Verdict::NowPullable || c.cause == UNCLASSIFIED)
    }
}

/// The cause of a message no shape matches.
pub const UNCLASSIFIED: &str = "unclassified";

/// One failing container, explained.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Explained {
    /// The Pod, `Pod/namespace/name`.
    pub object: String,
    /// What owns it, `Kind/namespace/name`: the Deployment when its `ReplicaSet` is in the
    /// input, else the owner reference as written; null for a bare Pod.
    pub owner: Option<String>,
    /// The file and line of the container's status.
    pub file: String,
    /// The line of the container's status entry.
    pub line: usize,
    /// The container's name.
    pub container: String,
    /// `init`, `container` or `ephemeral`.
    pub container_type: &'static str,
    /// The image, as the pod spec writes it.
    pub image: String,
    /// The waiting reason (`ErrImagePull`, `ImagePullBackOff`…).
    pub reason: String,
    /// The runtime's message, as the status or the event carries it; null when neither says
    /// more than `Back-off pulling image`.
    pub message: Option<String>,
    /// Where `message` comes from: `status` or `event`.
    pub message_from: Option<&'static str>,
    /// The runtime's own text: `message` without the kubelet's and gRPC's wrapping.
    pub runtime_message: Option<String>,
    /// The diagnosis code the message names, or `unclassified`.
    pub cause: String,
    /// The gRPC status code of the CRI's answer, when the message carries one.
    pub grpc_code: Option<String>,
    /// The shape the message matched: the runtime that prints it and the source it was read
    /// from.
    pub matched: Option<String>,
    /// What became of it.
    pub verdict: Verdict,
    /// For `still-failing`: whether the live check found the same cause (or one the message
    /// cannot tell apart from it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub same_cause: Option<bool>,
    /// The newest failed pull the events show (RFC 3339).
    pub last_try: Option<String>,
    /// When the kubelet tries again at the latest: `last_try` plus the 300 s back-off cap.
    pub retry_by: Option<String>,
    /// What to do.
    pub hint: String,
    /// The node the pod is on.
    pub node: Option<String>,
    /// The runtime profile the live check followed.
    pub runtime: Option<String>,
    /// The live check's image report; absent when not checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<ImageReport>,
}

/// How to explain.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExplainOptions {
    /// The node runtime for every pod (`--runtime`); else each pod's Node's
    /// `containerRuntimeVersion` when Nodes are in the input, else the default.
    pub runtime: Option<Runtime>,
    /// Credentials as the kubelet would pick them (pull secrets given besides the stream are
    /// already in the stream's extraction).
    pub plan: PlanOptions,
}

/// A container found failing, before any live check.
#[derive(Debug, Clone)]
struct Failing {
    pod: usize,
    state: usize,
    image: String,
    message: Option<String>,
    message_from: Option<&'static str>,
    last_try: Option<String>,
    classified: classify::Classified,
}

/// Explains without a live check: every verdict `unchecked`.
pub fn explain_offline(stream: &Stream) -> Explanation {
    let failing = failing(stream);
    let explained = failing
        .iter()
        .map(|f| explained(stream, f, None, None))
        .collect();
    finish(stream, explained)
}

/// Explains with a live check of each failing image: `checker_for` builds the checker of a
/// node runtime (called once per runtime the pods' nodes run); its error ends the explanation.
pub async fn explain<E>(
    stream: &Stream,
    options: &ExplainOptions,
    checker_for: &dyn Fn(Runtime) -> Result<Checker, E>,
) -> Result<Explanation, E> {
    let failing = failing(stream);
    let planned = plan::plan(&stream.extraction, &options.plan);
    let mut by_use: HashMap<(String, String), ImageRequest> = HashMap::new();
    for req in planned.requests {
        if let Some(s) = req.sources.first()
            && let (Some(object), Some(container)) = (&s.object, &s.container)
        {
            by_use.insert((object.clone(), container.clone()), req);
        }
    }
    // Requests grouped by runtime, each tagged with its failing container.
    let mut groups: Vec<(Runtime, Vec<(usize, ImageRequest)>)> = Vec::new();
    for (i, f) in failing.iter().enumerate() {
        let pod = &stream.pods[f.pod];
        let state = &pod.containers[f.state];
        let node = pod
            .node_name
            .as_deref()
            .and_then(|n| stream.nodes.iter().find(|x| x.name == n));
        let runtime = options
            .runtime
            .or_else(|| node.and_then(|n| node_runtime(n.runtime_version.as_deref()?)))
            .unwrap_or_default();
        let key = (object(pod), state.name.clone());
        let mut req = by_use
            .get(&key)
            .cloned()
            .unwrap_or_else(|| ImageRequest::new(f.image.clone()));
        if req.platforms.is_empty()
            && let Some(p) = node
                .and_then(|n| n.platform.as_deref())
                .and_then(|p| Platform::parse(p).ok())
        {
            req.platforms.push(p);
        }
        // One source per failing container, so the report maps back to it.
        req.sources = vec![crate::report::Source {
            file: pod.file.clone(),
            line: Some(state.line),
            object: Some(key.0),
            container: Some(format!("{i}")),
            path: None,
        }];
        match groups.iter_mut().find(|(r, _)| *r == runtime) {
            Some((_, list)) => list.push((i, req)),
            None => groups.push((runtime, vec![(i, req)])),
        }
    }
    let mut checks: Vec<Option<(ImageReport, Runtime)>> = vec![None; failing.len()];
    for (runtime, list) in groups {
        let checker = checker_for(runtime)?;
        let report = checker
            .check(list.into_iter().map(|(_, r)| r).collect())
            .await;
        for image in report.images {
            for s in &image.sources {
                if let Some(i) = s.container.as_deref().and_then(|c| c.parse::<usize>().ok())
                    && i < checks.len()
                {
                    checks[i] = Some((image.clone(), runtime));
                }
            }
        }
    }
    let explained = failing
        .iter()
        .zip(checks)
        .map(|(f, check)| match check {
            Some((mut report, runtime)) => {
                // The sources were our own tags; put back the container's.
                let pod = &stream.pods[f.pod];
                report.sources = vec![crate::report::Source {
                    file: pod.file.clone(),
                    line: Some(pod.containers[f.state].line),
                    object: Some(object(pod)),
                    container: Some(pod.containers[f.state].name.clone()),
                    path: None,
                }];
                explained(stream, f, Some(report), Some(runtime))
            }
            None => explained(stream, f, None, None),
        })
        .collect();
    Ok(finish(stream, explained))
}

/// The runtime a Node reports, `containerd://1.7.27` or `cri-o://1.30.1`.
pub fn node_runtime(version: &str) -> Option<Runtime> {
    let (kind, version) = version.split_once("://")?;
    match kind {
        "containerd" => Runtime::parse("containerd", Some(version)).ok(),
        "cri-o" => Runtime::parse("cri-o", None).ok(),
        "docker" => Runtime::parse("docker", None).ok(),
        _ => None,
    }
}

fn object(pod: &Pod) -> String {
    format!("Pod/{}/{}", pod.namespace, pod.name)
}

fn is_pull_reason(reason: &str) -> bool {
    PULL_REASONS.contains(&reason) || reason.contains("Pull")
}

/// `spec.containers{NAME}` and its init and ephemeral forms, as the kubelet writes
/// `fieldPath` (`pkg/kubelet/container/ref.go` `fieldPath`).
fn field_path(kind: ContainerKind, name: &str) -> String {
    let list = match kind {
        ContainerKind::Init => "initContainers",
        ContainerKind::Ephemeral => "ephemeralContainers",
        ContainerKind::Container | ContainerKind::ImageVolume => "containers",
    };
    format!("spec.{list}{{{name}}}")
}

fn failing(stream: &Stream) -> Vec<Failing> {
    // Events by pod, and the images the pod specs name by container.
    let mut events: HashMap<(&str, &str), Vec<&Event>> = HashMap::new();
    for e in &stream.events {
        events
            .entry((e.namespace.as_str(), e.pod.as_str()))
            .or_default()
            .push(e);
    }
    let mut spec_images: HashMap<(&str, &str), &str> = HashMap::new();
    for use_ in &stream.extraction.images {
        if let (Some(o), Some(c)) = (&use_.source.object, &use_.source.container) {
            spec_images.insert((o.as_str(), c.as_str()), use_.reference.as_str());
        }
    }
    let mut out = Vec::new();
    for (p, pod) in stream.pods.iter().enumerate() {
        let object = object(pod);
        for (s, state) in pod.containers.iter().enumerate() {
            let Some(reason) = state.reason.as_deref().filter(|r| is_pull_reason(r)) else {
                continue;
            };
            let _ = reason;
            let image = spec_images
                .get(&(object.as_str(), state.name.as_str()))
                .map(|s| (*s).to_owned())
                .or_else(|| state.image.clone())
                .unwrap_or_default();
            // The pulls that failed for this container, newest last.
            let path = field_path(state.kind, &state.name);
            let quoted = format!("Failed to pull image {image:?}");
            let mut failed: Vec<&Event> = events
                .get(&(pod.namespace.as_str(), pod.name.as_str()))
                .map(|list| {
                    list.iter()
                        .copied()
                        .filter(|e| e.reason == "Failed")
                        .filter(|e| e.message.starts_with("Failed to pull image "))
                        .filter(|e| match &e.field_path {
                            Some(fp) => *fp == path,
                            None => e.message.starts_with(&quoted),
                        })
                        .collect()
                })
                .unwrap_or_default();
            // Stable: equal times keep input order, so the later one wins.
            failed.sort_by(|a, b| a.time.cmp(&b.time));
            let newest = failed.last();
            let status_says = state
                .message
                .as_deref()
                .filter(|m| !classify::peel(m).0.is_empty());
            let (message, message_from) = match (status_says, newest) {
                (Some(m), _) => (Some(m.to_owned()), Some("status")),
                (None, Some(e)) => (Some(e.message.clone()), Some("event")),
                (None, None) => (
                    state.message.clone(),
                    state.message.as_ref().map(|_| "status"),
                ),
            };
            let classified = classify::classify(message.as_deref().unwrap_or(""), &image);
            out.push(Failing {
                pod: p,
                state: s,
                image,
                message,
                message_from,
                last_try: newest.and_then(|e| e.time.clone()),
                classified,
            });
        }
    }
    out
}

fn finish(stream: &Stream, containers: Vec<Explained>) -> Explanation {
    let mut summary = Summary {
        containers: containers.len(),
        ..Summary::default()
    };
    for c in &containers {
        match c.verdict {
            Verdict::StillFailing => summary.still_failing += 1,
            Verdict::NowPullable => summary.now_pullable += 1,
            Verdict::NodeOnly => summary.node_only += 1,
            Verdict::Unchecked => summary.unchecked += 1,
        }
        if c.cause == UNCLASSIFIED {
            summary.unclassified += 1;
        }
    }
    let mut warnings = stream.warnings.clone();
    let pods: std::collections::HashSet<(&str, &str)> = stream
        .pods
        .iter()
        .map(|p| (p.namespace.as_str(), p.name.as_str()))
        .collect();
    let strays: Vec<&Event> = stream
        .events
        .iter()
        .filter(|e| !pods.contains(&(e.namespace.as_str(), e.pod.as_str())))
        .collect();
    if let Some(first) = strays.first() {
        warnings.push(format!(
            "{}:{}: {} event(s) are about pods not in the input (first: Pod/{}/{}); they are not used: pass the pods too (kubectl get pods,events -o json)",
            first.file,
            first.line,
            strays.len(),
            first.namespace,
            first.pod
        ));
    }
    Explanation {
        version: EXPLAIN_VERSION,
        summary,
        containers,
        warnings,
    }
}

/// The owner as `Kind/namespace/name`: a `ReplicaSet` in the input names its Deployment.
fn owner(stream: &Stream, pod: &Pod) -> Option<(String, String)> {
    let (kind, name) = pod.owner.clone()?;
    if kind == "ReplicaSet"
        && let Some(rs) = stream
            .workloads
            .iter()
            .find(|w| w.kind == kind && w.namespace == pod.namespace && w.name == name)
        && let Some(up) = &rs.owner
    {
        return Some(up.clone());
    }
    Some((kind, name))
}

/// Codes of the network and TLS stages: a node can fail there while this machine does not.
fn is_network(code: Code) -> bool {
    matches!(
        code,
        Code::ProxyError | Code::BlobStorageUnreachable | Code::PlainHttpToTls
    ) || matches!(code.stages(), crate::diagnosis::Stages::Only(stages)
            if stages.iter().all(|s| matches!(s, Stage::Dns | Stage::Tcp | Stage::Tls)))
}

/// Codes a runtime's message cannot tell apart (the coarser code of `classify`'s rows).
fn same_cause(message: Code, live: Code) -> bool {
    // "Repository does not exist or may require authorization" is any of these.
    if message == Code::NotFoundOrUnauthorized
        && matches!(
            live,
            Code::RepositoryNotFound
                | Code::ManifestUnknown
                | Code::AccessDenied
                | Code::AuthRequired
                | Code::AuthRejected
        )
    {
        return true;
    }
    let group = |c: Code| match c {
        Code::ManifestUnknown | Code::RepositoryNotFound | Code::NotFoundOrUnauthorized => 1,
        Code::AuthRequired | Code::AuthRejected => 2,
        Code::DnsNxdomain | Code::DnsNoAddress => 3,
        Code::RegistryError | Code::PlainHttpToTls => 4,
        _ => 0,
    };
    message == live || (group(message) != 0 && group(message) == group(live))
}

fn explained(
    stream: &Stream,
    f: &Failing,
    check: Option<ImageReport>,
    runtime: Option<Runtime>,
) -> Explained {
    let pod = &stream.pods[f.pod];
    let state = &pod.containers[f.state];
    let owner = owner(stream, pod);
    let cause = f.classified.code;
    let retry_by = f
        .last_try
        .as_deref()
        .and_then(|t| time::add_secs(t, MAX_BACKOFF_SECS));
    let restart = match owner.as_ref().map(|(k, n)| (k.as_str(), n)) {
        Some((kind @ ("Deployment" | "StatefulSet" | "DaemonSet"), name)) => format!(
            "kubectl rollout restart {}/{name} -n {}",
            kind.to_ascii_lowercase(),
            pod.namespace
        ),
        _ => format!("kubectl delete pod {} -n {}", pod.name, pod.namespace),
    };
    let backoff = match (&f.last_try, &retry_by) {
        (Some(last), Some(by)) => format!(
            "the kubelet last tried at {last} and tries again by {by} at the latest (its back-off is at most {MAX_BACKOFF_SECS} s)"
        ),
        _ => format!(
            "the kubelet tries again within {MAX_BACKOFF_SECS} s of its last try (its back-off cap)"
        ),
    };
    let (verdict, same, hint) = match &check {
        None => (
            Verdict::Unchecked,
            None,
            match cause {
                Some(c) => c.hint().to_owned(),
                None => "the runtime's message is not one preflight knows: read it above, or run without --offline to check the image live".to_owned(),
            },
        ),
        Some(report) => match &report.diagnosis {
            // This machine could not resolve anything: the node's failure is not checked.
            Some(d) if d.code == Code::DnsConfig => (
                Verdict::Unchecked,
                None,
                format!(
                    "not checked from here, which has no usable resolver ({}): {}",
                    d.message, d.hint
                ),
            ),
            Some(d) => (
                Verdict::StillFailing,
                cause.map(|c| same_cause(c, d.code)),
                d.hint.clone(),
            ),
            None if cause.is_some_and(is_network) => {
                let mut hint = format!(
                    "the pull from here works, the node's failed at {}: ",
                    cause.map_or("", Code::as_str)
                );
                hint.push_str(node_advice(cause.unwrap_or(Code::DnsError)));
                let _ = write!(
                    hint,
                    "; or it was fixed since: {backoff}. To check {} from the node itself, run preflight on it with the node's network and registry configuration: the Job in deploy/job.yaml with the nodeSelector kubernetes.io/hostname: {} (docs/node-check.md)",
                    f.image,
                    pod.node_name.as_deref().unwrap_or("NODE")
                );
                (Verdict::NodeOnly, None, hint)
            }
            None => (
                Verdict::NowPullable,
                None,
                format!("the cause is gone: {backoff}; to retry at once: {restart}"),
            ),
        },
    };
    Explained {
        object: object(pod),
        owner: owner.map(|(k, n)| format!("{k}/{}/{n}", pod.namespace)),
        file: pod.file.clone(),
        line: state.line,
        container: state.name.clone(),
        container_type: match state.kind {
            ContainerKind::Init => "init",
            ContainerKind::Ephemeral => "ephemeral",
            ContainerKind::Container | ContainerKind::ImageVolume => "container",
        },
        image: f.image.clone(),
        reason: state.reason.clone().unwrap_or_default(),
        message: f.message.clone(),
        message_from: f.message_from,
        runtime_message: f
            .message
            .as_ref()
            .map(|_| f.classified.inner.clone())
            .filter(|m| !m.is_empty()),
        cause: cause.map_or_else(|| UNCLASSIFIED.to_owned(), |c| c.as_str().to_owned()),
        grpc_code: f.classified.grpc_code.clone(),
        matched: f.classified.shape.map(|i| {
            let s = &classify::SHAPES[i];
            format!("{}: {}", s.from, s.source)
        }),
        verdict,
        same_cause: same,
        last_try: f.last_try.clone(),
        retry_by,
        hint,
        node: pod.node_name.clone(),
        runtime: runtime.map(|r| r.to_string()),
        check,
    }
}

/// Where to look on a node that fails at a network stage this machine passes.
fn node_advice(code: Code) -> &'static str {
    match code {
        Code::DnsNxdomain | Code::DnsNoAddress | Code::DnsTimeout | Code::DnsError => {
            "the runtime resolves with the node's own resolver (/etc/resolv.conf on the node, not the cluster DNS): check its nameservers and search domains, and that they know the registry's name"
        }
        Code::TcpRefused | Code::TcpTimeout | Code::TcpUnreachable => {
            "check the firewall, security groups and routes between the node and the registry (and the registry's allow-list of client addresses)"
        }
        Code::TlsUnknownIssuer
        | Code::TlsExpired
        | Code::TlsHostnameMismatch
        | Code::TlsHandshake => {
            "check the CA the node trusts for this registry (/etc/containerd/certs.d/HOST/hosts.toml, /etc/containers/certs.d/HOST, the system trust store) and any TLS-intercepting proxy on the node's path"
        }
        Code::TlsServerSpeaksHttp | Code::PlainHttpToTls => {
            "check the node's registry host configuration (containerd's hosts.toml, CRI-O's registries.conf): it sets how the node reaches this registry"
        }
        _ => {
            "check the proxy the runtime uses (HTTPS_PROXY / NO_PROXY in its systemd unit) and what it allows"
        }
    }
}

/// RFC 3339 times, as the API server writes them, without a date library.
mod time {
    /// `t` plus `secs`, in UTC (`2026-11-27T22:01:05Z`); `None` when `t` does not parse.
    pub(super) fn add_secs(t: &str, secs: i64) -> Option<String> {
        let at = parse(t)?.checked_add(secs)?;
        Some(format(at))
    }

    /// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
    #[allow(clippy::many_single_char_names)] // the calendar's own names: y, d, h, s
    pub(super) fn parse(t: &str) -> Option<i64> {
        let b = t.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        let num = |r: std::ops::Range<usize>| t.get(r)?.parse::<i64>().ok();
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        let mut rest = &t[19..];
        if let Some(frac) = rest.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            rest = &frac[digits..];
        }
        let offset = match rest {
            "Z" | "z" => 0,
            _ if rest.len() == 6 && rest.is_char_boundary(1) => {
                let sign = match &rest[..1] {
                    "+" => 1,
                    "-" => -1,
                    _ => return None,
                };
                let oh = rest.get(1..3)?.parse::<i64>().ok()?;
                let om = rest.get(4..6)?.parse::<i64>().ok()?;
                sign * (oh * 3600 + om * 60)
            }
            _ => return None,
        };
        Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
    }

    fn format(at: i64) -> String {
        let days = at.div_euclid(86_400);
        let secs = at.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }

    // Howard Hinnant's well-known day-count algorithms (public domain description).
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        (y, m, d)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn times() {
            assert_eq!(
                super::add_secs("2026-11-27T23:58:00Z", 300).as_deref(),
                Some("2026-11-28T00:03:00Z")
            );
            assert_eq!(
                super::add_secs("2024-02-28T23:59:59.123456Z", 1).as_deref(),
                Some("2024-02-29T00:00:00Z")
            );
            assert_eq!(
                super::add_secs("2026-01-01T01:00:00+01:00", 0).as_deref(),
                Some("2026-01-01T00:00:00Z")
            );
            assert_eq!(super::parse("1970-01-01T00:00:00Z"), Some(0));
            for bad in [
                "",
                "2026-11-27",
                "2026-13-01T00:00:00Z",
                "2026-11-27T00:00:00",
                "2026-11-27T00:00:00+1:00",
                "é026-11-27T00:00:00Z",
            ] {
                assert_eq!(super::parse(bad), None, "{bad}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Stream {
        let mut s = Stream::default();
        s.read("t.yaml", text).unwrap();
        s
    }

    const POD: &str = r#"
apiVersion: v1
kind: List
items:
- kind: Pod
  metadata:
    name: web-7d9f-abcde
    namespace: shop
    ownerReferences:
    - {kind: ReplicaSet, name: web-7d9f, controller: true}
  spec:
    nodeName: node-1
    initContainers: [{name: init, image: r.io/init:v1}]
    containers: [{name: app, image: r.io/app:v2}]
  status:
    initContainerStatuses:
    - name: init
      image: r.io/init:v1
      state: {waiting: {reason: ImagePullBackOff, message: 'Back-off pulling image "r.io/init:v1"'}}
    containerStatuses:
    - name: app
      image: r.io/app:v2
      state: {waiting: {reason: PodInitializing}}
- kind: ReplicaSet
  metadata:
    name: web-7d9f
    namespace: shop
    ownerReferences: [{kind: Deployment, name: web, controller: true}]
- kind: Event
  metadata: {namespace: shop}
  involvedObject: {kind: Pod, name: web-7d9f-abcde, namespace: shop, fieldPath: 'spec.initContainers{init}'}
  reason: Failed
  message: 'Failed to pull image "r.io/init:v1": rpc error: code = Unknown desc = x509: certificate signed by unknown authority'
  lastTimestamp: '2026-11-27T22:00:00Z'
- kind: Event
  metadata: {namespace: shop}
  involvedObject: {kind: Pod, name: web-7d9f-abcde, namespace: shop, fieldPath: 'spec.initContainers{init}'}
  reason: Failed
  message: 'Failed to pull image "r.io/init:v1": rpc error: code = NotFound desc = failed to pull and unpack image "r.io/init:v1": failed to resolve reference "r.io/init:v1": r.io/init:v1: not found'
  lastTimestamp: '2026-11-27T22:04:00Z'
- kind: Event
  involvedObject: {kind: Pod, name: gone, namespace: shop}
  reason: Failed
  message: x
"#;

    #[test]
    fn backoff_status_takes_the_newest_event_and_names_the_deployment() {
        let e = explain_offline(&read(POD));
        assert_eq!(e.containers.len(), 1, "{e:#?}");
        let c = &e.containers[0];
        assert_eq!(c.container, "init");
        assert_eq!(c.container_type, "init");
        assert_eq!(c.cause, "manifest-unknown");
        assert_eq!(c.message_from, Some("event"));
        assert_eq!(c.owner.as_deref(), Some("Deployment/shop/web"));
        assert_eq!(c.last_try.as_deref(), Some("2026-11-27T22:04:00Z"));
        assert_eq!(c.retry_by.as_deref(), Some("2026-11-27T22:09:00Z"));
        assert_eq!(c.verdict, Verdict::Unchecked);
        assert!(e.needs_attention());
        assert_eq!(e.summary.unchecked, 1);
        assert!(e.warnings[0].contains("Pod/shop/gone"), "{:?}", e.warnings);
    }

    #[test]
    fn without_its_replicaset_the_owner_is_the_reference_itself() {
        let text = POD.replace("- kind: ReplicaSet\n", "- kind: ConfigMap\n");
        let e = explain_offline(&read(&text));
        assert_eq!(
            e.containers[0].owner.as_deref(),
            Some("ReplicaSet/shop/web-7d9f")
        );
    }

    #[test]
    fn a_pod_without_status_is_an_error_with_its_line() {
        let s = read(
            "kind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, image: x}]\n---\nfoo: 1\n",
        );
        assert_eq!(
            s.errors,
            [
                "t.yaml:1: Pod/default/p has no status: explain reads Pods as kubectl get prints them, not manifests",
                "t.yaml:6: not a Kubernetes object (no kind): explain reads what kubectl get -o json|yaml prints",
            ]
        );
    }

    /// The runtime profile of each failing pod: `--runtime` first, else its Node's
    /// `containerRuntimeVersion`, else the default; asked for once per runtime.
    #[tokio::test]
    async fn the_live_check_follows_each_pods_node_runtime() {
        let mut text = POD.to_owned();
        text.push_str(
            "- kind: Node\n  metadata: {name: node-1, labels: {kubernetes.io/arch: arm64}}\n  status: {nodeInfo: {containerRuntimeVersion: 'cri-o://1.30.1'}}\n",
        );
        let stream = read(&text);
        assert_eq!(stream.nodes[0].platform.as_deref(), Some("linux/arm64"));
        let asked = std::sync::Mutex::new(Vec::new());
        let record = |r: Runtime| -> Result<Checker, Runtime> {
            asked.lock().unwrap().push(r);
            Err(r)
        };
        let options = ExplainOptions::default();
        assert_eq!(
            explain(&stream, &options, &record).await.err(),
            Some(Runtime::CriO)
        );
        let forced = ExplainOptions {
            runtime: Some(Runtime::Docker),
            ..ExplainOptions::default()
        };
        assert_eq!(
            explain(&stream, &forced, &record).await.err(),
            Some(Runtime::Docker)
        );
        // Without the Node, the default.
        let bare = read(POD);
        assert_eq!(
            explain(&bare, &options, &record).await.err(),
            Some(Runtime::default())
        );
        assert_eq!(asked.lock().unwrap().len(), 3);
    }

    #[test]
    fn node_runtimes() {
        assert_eq!(
            node_runtime("containerd://1.7.27")
                .map(|r| r.to_string())
                .as_deref(),
            Some("containerd 1.7")
        );
        assert_eq!(
            node_runtime("containerd://2.0.4")
                .map(|r| r.to_string())
                .as_deref(),
            Some("containerd 2")
        );
        assert_eq!(
            node_runtime("cri-o://1.30.1")
                .map(|r| r.to_string())
                .as_deref(),
            Some("cri-o")
        );
        assert_eq!(
            node_runtime("docker://27.3.1")
                .map(|r| r.to_string())
                .as_deref(),
            Some("docker")
        );
        assert_eq!(node_runtime("rkt://1"), None);
        assert_eq!(node_runtime("containerd"), None);
    }

    #[test]
    fn network_codes() {
        assert!(is_network(Code::DnsNxdomain));
        assert!(is_network(Code::TlsUnknownIssuer));
        assert!(is_network(Code::TcpRefused));
        assert!(is_network(Code::ProxyError));
        assert!(!is_network(Code::ManifestUnknown));
        assert!(!is_network(Code::AuthRequired));
        assert!(same_cause(Code::ManifestUnknown, Code::RepositoryNotFound));
        assert!(same_cause(Code::NotFoundOrUnauthorized, Code::AccessDenied));
        assert!(!same_cause(
            Code::AccessDenied,
            Code::NotFoundOrUnauthorized
        ));
        assert!(!same_cause(Code::ManifestUnknown, Code::AuthRequired));
    }
}
