//! The node's real runtimes as the oracle: every row is a fault the suite can build, checked by
//! preflight and pulled by containerd (`ctr`) and podman (containers/image, CRI-O's library),
//! all three given the same node configuration. When preflight and a runtime disagree,
//! preflight is wrong until proven otherwise; a disagreement that is right is a row with its
//! reason, never a skipped row.
//!
//! Each row gets registries of its own and a repository named after it, so no two pulls fetch
//! the same content (containerd's content store is shared between namespaces, and a cached blob
//! would hide a missing one). Registries are reached as `registry.preflight.test:PORT` through
//! the suite's DNS server, never as `localhost` or `127.0.0.1`, which containerd 1.6 talks
//! plain HTTP to by default: the transport is what the row configures, not a loopback rule.
//!
//! preflight checks every row twice, each time given a runtime's own configuration: under
//! `--runtime containerd --runtime-version 1.6` (Debian's containerd) with the hosts directory
//! `ctr --hosts-dir` reads, and under `--runtime cri-o` with podman's `registries.conf` and CA.
//! Each verdict is compared with that runtime's pull. Both check the whole pull path (the default
//! depth); rows marked `depth_blobs` are faults only that finds (a blob, a platform manifest).
//! Rows with a node configuration of their own (mirrors, rewrites, blocked registries, short
//! names, a hosts.toml containerd 1.6 ignores) write it once and give the same files to all.
//!
//! `cargo nextest run -p preflight-cli -E 'test(/oracle/)' --no-capture` prints every row with
//! what each of the three said and how long it took.

use std::any::Any;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{check, docker_config, path_str};
use crate::support::net;
use crate::support::pki::Pki;
use crate::support::registry::{Registry, basic_auth};
use crate::support::runtime::{
    Containerd, NodeDns, PullConfig, RuntimeOutcome, podman_pull, write_cert_dir, write_hosts_dir,
    write_registries_conf,
};
use crate::support::seed::{self, ImageKind, Pushed};
use crate::support::token::{TokenMode, TokenServer};

/// The name every row's registry is reached by; the test certificates are valid for it.
const NAME: &str = "registry.preflight.test";
/// A name the suite's DNS server does not know: NXDOMAIN.
const UNKNOWN_NAME: &str = "absent.preflight.test";
const USER: &str = "admin";
const PASSWORD: &str = "admin-pass";

/// What preflight says of the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Pullable,
    /// Not pullable, with this diagnosis code.
    Code(&'static str),
}

/// What a runtime does with the same image and configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pull {
    Pulls,
    /// Fails, and its error contains this text, which names the same cause as preflight's code;
    /// `…` stands for anything (ports, digests, temporary paths), the parts in order.
    Fails(&'static str),
}

struct Row {
    /// Also the repository's name, so it is kebab-case.
    name: &'static str,
    build: fn(&Env, &str) -> Case,
    /// preflight's verdict under the containerd profile of the Debian containerd
    /// (`--runtime containerd --runtime-version 1.6`), given containerd's configuration.
    preflight: Verdict,
    /// preflight's verdict under `--runtime cri-o`, given podman's configuration, where it
    /// differs from `preflight`'s.
    cri_o: Option<Verdict>,
    containerd: Pull,
    podman: Pull,
    /// Found only by a whole pull (`--depth blobs`), not by `--depth manifest`.
    depth_blobs: bool,
    /// Why a runtime's verdict differs from preflight's, when that is right.
    disagreement: Option<&'static str>,
}

/// A runtime's configuration for a row, which preflight is given too.
enum Node<'a> {
    Containerd(&'a PullConfig),
    CriO(&'a PullConfig),
}

/// What every row shares: one DNS server, one PKI, one containerd.
struct Env {
    dns: NodeDns,
    pki: Pki,
    containerd: Containerd,
}

/// How the node reaches the row's registry.
#[derive(Debug, Clone)]
enum Transport {
    /// `--plain-http HOST`; hosts.toml `[host."http://HOST"]`; registries.conf `insecure = true`.
    PlainHttp,
    /// HTTPS, verified; the CA given to everyone (`--ca-file`, hosts.toml `ca`, `--cert-dir`),
    /// or to no one.
    Tls { ca: Option<PathBuf> },
}

/// One row's fixture: the image, the node's configuration for its registry, and the servers,
/// kept alive until the row is done.
struct Case {
    image: String,
    /// `HOST:PORT` of the image's registry.
    host: String,
    transport: Transport,
    credentials: Option<(&'static str, &'static str)>,
    /// A hosts directory of the row's own, instead of one `hosts.toml` for `host`.
    hosts_dir: Option<PathBuf>,
    /// A `registries.conf` of the row's own, instead of one `[[registry]]` for `host`.
    registries_conf: Option<PathBuf>,
    /// The runtimes wait out a dial timeout: give their pulls minutes.
    slow: bool,
    /// Held only so they outlive the row.
    servers: Vec<Box<dyn Any>>,
}

impl Case {
    fn new(registry_host: String, repo_and_tag: &str, transport: Transport) -> Case {
        Case {
            image: format!("{registry_host}/{repo_and_tag}"),
            host: registry_host,
            transport,
            credentials: None,
            hosts_dir: None,
            registries_conf: None,
            slow: false,
            servers: Vec::new(),
        }
    }

    /// The node configuration, written by the row: `hosts` is the hosts directory's content
    /// (`HOST-DIR/hosts.toml` → text), `conf` the `registries.conf`.
    fn with_node_config(mut self, hosts: &[(&str, &str)], conf: &str) -> Case {
        let dir = tempfile::tempdir().expect("node config dir");
        let root = dir.path().join("hosts.d");
        std::fs::create_dir_all(&root).expect("create hosts dir");
        for (host, text) in hosts {
            let at = root.join(host);
            std::fs::create_dir_all(&at).expect("create host dir");
            std::fs::write(at.join("hosts.toml"), text).expect("write hosts.toml");
        }
        let conf_path = dir.path().join("registries.conf");
        std::fs::write(&conf_path, conf).expect("write registries.conf");
        self.hosts_dir = Some(root);
        self.registries_conf = Some(conf_path);
        self.keep(dir)
    }

    fn keep(mut self, server: impl Any) -> Case {
        self.servers.push(Box::new(server));
        self
    }

    fn with_credentials(mut self, user: &'static str, password: &'static str) -> Case {
        self.credentials = Some((user, password));
        self
    }

    fn ca(&self) -> Option<&Path> {
        match &self.transport {
            Transport::PlainHttp => None,
            Transport::Tls { ca } => ca.as_deref(),
        }
    }

    fn url(&self) -> String {
        let scheme = match self.transport {
            Transport::PlainHttp => "http",
            Transport::Tls { .. } => "https",
        };
        format!("{scheme}://{}", self.host)
    }

    /// preflight's flags for the same node configuration as a runtime's: containerd's hosts
    /// directory under the containerd 1.6 profile, podman's `registries.conf` and CA under the
    /// CRI-O profile.
    fn preflight_args(&self, env: &Env, dir: &Path, node: &Node<'_>) -> Vec<String> {
        let mut args = vec!["--dns-server".to_owned(), env.dns.addr.to_string()];
        match node {
            Node::Containerd(config) => {
                args.extend(
                    ["--runtime", "containerd", "--runtime-version", "1.6"].map(str::to_owned),
                );
                if let Some(hosts) = &config.hosts_dir {
                    args.extend(["--hosts-dir".to_owned(), path_str(hosts).to_owned()]);
                }
            }
            Node::CriO(config) => {
                args.extend(["--runtime", "cri-o"].map(str::to_owned));
                if let Some(conf) = &config.registries_conf {
                    args.extend(["--registries-conf".to_owned(), path_str(conf).to_owned()]);
                }
                if let (Some(_), Some(ca)) = (&config.cert_dir, self.ca()) {
                    args.extend(["--ca-file".to_owned(), path_str(ca).to_owned()]);
                }
            }
        }
        if let Some((user, password)) = self.credentials {
            let config = docker_config(dir, &[(&self.host, user, password)]);
            args.extend(["--docker-config".to_owned(), path_str(&config).to_owned()]);
        }
        args.push(self.image.clone());
        args
    }

    /// containerd's view of the same: a hosts directory with this registry's `hosts.toml`.
    fn containerd_config(&self, env: &Env, dir: &Path) -> PullConfig {
        PullConfig {
            hosts_dir: Some(self.hosts_dir.clone().unwrap_or_else(|| {
                write_hosts_dir(dir, &self.host, &self.url(), self.ca(), false)
            })),
            credentials: self.credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            resolv_conf: Some(env.dns.resolv_conf.clone()),
            timeout: self.slow.then_some(SLOW_PULL),
            ..PullConfig::default()
        }
    }

    /// podman's view of the same: a `registries.conf` and a certificate directory.
    fn podman_config(&self, env: &Env, dir: &Path) -> PullConfig {
        let insecure = matches!(self.transport, Transport::PlainHttp);
        PullConfig {
            registries_conf: Some(
                self.registries_conf
                    .clone()
                    .unwrap_or_else(|| write_registries_conf(dir, &self.host, insecure)),
            ),
            cert_dir: self.ca().map(|ca| write_cert_dir(dir, ca)),
            credentials: self.credentials.map(|(u, p)| (u.to_owned(), p.to_owned())),
            resolv_conf: Some(env.dns.resolv_conf.clone()),
            timeout: self.slow.then_some(SLOW_PULL),
            ..PullConfig::default()
        }
    }
}

/// How long a runtime may wait out a black-holed mirror (seen: containerd ~60 s, podman ~120 s).
const SLOW_PULL: Duration = Duration::from_secs(200);

/// `registry.preflight.test:PORT` for a registry listening on loopback.
fn named(registry: &Registry) -> String {
    format!("{NAME}:{}", registry.addr.port())
}

/// The registry's own URL (by IP) for seeding; seeding is not what a row tests.
fn plain_registry(repo: &str, kind: ImageKind) -> (Registry, Pushed) {
    let registry = Registry::plain();
    let pushed = seed::push(&registry.base_url(), None, None, repo, "v1", kind);
    (registry, pushed)
}

fn tls_registry(env: &Env, repo: &str) -> Registry {
    let registry = Registry::tls(&env.pki.server);
    seed::push(
        &registry.base_url(),
        None,
        Some(&env.pki.ca.pem_path),
        repo,
        "v1",
        ImageKind::OciManifest,
    );
    registry
}

fn basic_registry(env: &Env, repo: &str) -> Registry {
    let registry = Registry::tls_basic(&env.pki, &env.pki.server, &[(USER, PASSWORD)]);
    seed::push(
        &registry.base_url(),
        Some(&basic_auth(USER, PASSWORD)),
        Some(&env.pki.ca.pem_path),
        repo,
        "v1",
        ImageKind::OciManifest,
    );
    registry
}

fn ca_for_all(env: &Env) -> Transport {
    Transport::Tls {
        ca: Some(env.pki.ca.pem_path.clone()),
    }
}

// The fixtures, one per row. Each takes the shared environment and the row's repository.

fn plain_http_pullable(_: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::OciManifest);
    Case::new(
        named(&registry),
        &format!("{repo}:v1"),
        Transport::PlainHttp,
    )
    .keep(registry)
}

fn tls_with_ca_pullable(env: &Env, repo: &str) -> Case {
    let registry = tls_registry(env, repo);
    Case::new(named(&registry), &format!("{repo}:v1"), ca_for_all(env)).keep(registry)
}

fn basic_right_password(env: &Env, repo: &str) -> Case {
    let registry = basic_registry(env, repo);
    Case::new(named(&registry), &format!("{repo}:v1"), ca_for_all(env))
        .with_credentials(USER, PASSWORD)
        .keep(registry)
}

fn token_auth(env: &Env, repo: &str) -> Case {
    let (tokens, registry) = token_registry(env, repo);
    Case::new(named(&registry), &format!("{repo}:v1"), ca_for_all(env))
        .with_credentials(USER, PASSWORD)
        .keep(registry)
        .keep(tokens)
}

fn missing_tag(_: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::OciManifest);
    Case::new(
        named(&registry),
        &format!("{repo}:v2"),
        Transport::PlainHttp,
    )
    .keep(registry)
}

fn missing_repository(_: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::OciManifest);
    Case::new(
        named(&registry),
        &format!("{repo}-absent:v1"),
        Transport::PlainHttp,
    )
    .keep(registry)
}

fn basic_no_credentials(env: &Env, repo: &str) -> Case {
    let registry = basic_registry(env, repo);
    Case::new(named(&registry), &format!("{repo}:v1"), ca_for_all(env)).keep(registry)
}

fn basic_wrong_password(env: &Env, repo: &str) -> Case {
    let registry = basic_registry(env, repo);
    Case::new(named(&registry), &format!("{repo}:v1"), ca_for_all(env))
        .with_credentials(USER, "wrong-pass")
        .keep(registry)
}

fn tls_ca_not_given(env: &Env, repo: &str) -> Case {
    let registry = tls_registry(env, repo);
    Case::new(
        named(&registry),
        &format!("{repo}:v1"),
        Transport::Tls { ca: None },
    )
    .keep(registry)
}

fn refused(env: &Env, repo: &str) -> Case {
    let host = format!("{NAME}:{}", net::refused_port());
    Case::new(host, &format!("{repo}:v1"), ca_for_all(env))
}

fn unknown_name(env: &Env, repo: &str) -> Case {
    Case::new(
        format!("{UNKNOWN_NAME}:5000"),
        &format!("{repo}:v1"),
        ca_for_all(env),
    )
}

fn docker_list_pullable(_: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::DockerList);
    Case::new(
        named(&registry),
        &format!("{repo}:v1"),
        Transport::PlainHttp,
    )
    .keep(registry)
}

/// A TLS registry presenting `which` certificate, the CA given to everyone. Nothing is pushed
/// (the seeding client would refuse the certificate too): the handshake fails before any
/// content matters.
fn tls_presenting(
    env: &Env,
    repo: &str,
    which: fn(&Pki) -> &crate::support::pki::CertFiles,
) -> Case {
    let registry = Registry::tls(which(&env.pki));
    Case::new(named(&registry), &format!("{repo}:v1"), ca_for_all(env)).keep(registry)
}

fn tls_wrong_host(env: &Env, repo: &str) -> Case {
    tls_presenting(env, repo, |pki| &pki.wrong_host)
}

fn tls_expired(env: &Env, repo: &str) -> Case {
    tls_presenting(env, repo, |pki| &pki.expired)
}

/// The node is told the registry speaks TLS; it speaks plain HTTP.
fn tls_to_plain_registry(env: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::OciManifest);
    Case::new(named(&registry), &format!("{repo}:v1"), ca_for_all(env)).keep(registry)
}

/// The node is told the registry speaks plain HTTP; it speaks TLS.
fn plain_http_to_tls_registry(env: &Env, repo: &str) -> Case {
    let registry = tls_registry(env, repo);
    Case::new(
        named(&registry),
        &format!("{repo}:v1"),
        Transport::PlainHttp,
    )
    .keep(registry)
}

/// A token registry where the anonymous token pulls `public/…` (the token server's rule).
fn token_registry(env: &Env, repo: &str) -> (TokenServer, Registry) {
    let tokens = TokenServer::start(&env.pki);
    let registry = Registry::tls_token(&env.pki, &tokens.realm, &tokens.service, &tokens.issuer);
    let auth = seed::bearer_for_push(&env.pki, &tokens.service, &tokens.issuer, repo);
    seed::push(
        &registry.base_url(),
        Some(&auth),
        Some(&env.pki.ca.pem_path),
        repo,
        "v1",
        ImageKind::OciIndex,
    );
    (tokens, registry)
}

fn token_anonymous_public(env: &Env, repo: &str) -> Case {
    let public = format!("public/{}", repo.replace('/', "-"));
    let (tokens, registry) = token_registry(env, &public);
    Case::new(named(&registry), &format!("{public}:v1"), ca_for_all(env))
        .keep(registry)
        .keep(tokens)
}

/// `limited` may pull only `team/…`: its token for this repository grants nothing.
fn token_insufficient_scope(env: &Env, repo: &str) -> Case {
    let (tokens, registry) = token_registry(env, repo);
    Case::new(named(&registry), &format!("{repo}:v1"), ca_for_all(env))
        .with_credentials("limited", "limited-pass")
        .keep(registry)
        .keep(tokens)
}

/// A full image pushed, then its layer's data file removed from the registry's storage.
fn layer_blob_missing(_: &Env, repo: &str) -> Case {
    let (registry, pushed) = plain_registry(repo, ImageKind::OciManifest);
    let layer = registry.blob_data(&pushed.blobs[1]);
    std::fs::remove_file(&layer).unwrap_or_else(|e| panic!("remove {}: {e}", layer.display()));
    Case::new(
        named(&registry),
        &format!("{repo}:v1"),
        Transport::PlainHttp,
    )
    .keep(registry)
}

/// A full image pushed, then its config blob's bytes changed on disk (same length).
fn config_blob_corrupted(_: &Env, repo: &str) -> Case {
    let (registry, pushed) = plain_registry(repo, ImageKind::OciManifest);
    let config = registry.blob_data(&pushed.blobs[0]);
    let mut bytes = std::fs::read(&config).expect("read config blob");
    bytes.reverse();
    std::fs::write(&config, bytes).expect("corrupt config blob");
    Case::new(
        named(&registry),
        &format!("{repo}:v1"),
        Transport::PlainHttp,
    )
    .keep(registry)
}

/// An OCI index over linux/arm64 and linux/ppc64le only; the node is linux/amd64.
fn index_without_node_platform(_: &Env, repo: &str) -> Case {
    let registry = Registry::plain();
    seed::push_index(
        &registry.base_url(),
        None,
        None,
        repo,
        "v1",
        &[("linux", "arm64"), ("linux", "ppc64le")],
    );
    Case::new(
        named(&registry),
        &format!("{repo}:v1"),
        Transport::PlainHttp,
    )
    .keep(registry)
}

/// An OCI index over linux/amd64 and linux/arm64, then the amd64 manifest deleted through the
/// API: the index still names it.
fn platform_manifest_deleted(_: &Env, repo: &str) -> Case {
    let (registry, pushed) = plain_registry(repo, ImageKind::OciIndex);
    let amd64 = pushed
        .children
        .iter()
        .find(|c| c.platform.as_deref() == Some("linux/amd64"))
        .expect("the index has linux/amd64");
    seed::delete_manifest(&registry.base_url(), None, None, repo, &amd64.digest);
    Case::new(
        named(&registry),
        &format!("{repo}:v1"),
        Transport::PlainHttp,
    )
    .keep(registry)
}

/// A token service that answers the `OAuth2` POST with 501 and a GET as usual; credentials
/// configured.
fn token_post_not_implemented(env: &Env, repo: &str) -> Case {
    let (tokens, registry) = token_registry(env, repo);
    tokens.set_mode(TokenMode::PostNotImplemented);
    Case::new(named(&registry), &format!("{repo}:v1"), ca_for_all(env))
        .with_credentials(USER, PASSWORD)
        .keep(registry)
        .keep(tokens)
}

/// A TLS registry reached as `localhost:PORT` with no host configuration (the CA trusted where
/// a runtime takes one for every registry: podman's cert dir, preflight's --ca-file).
fn tls_on_localhost_unconfigured(env: &Env, repo: &str) -> Case {
    let registry = tls_registry(env, repo);
    let host = format!("localhost:{}", registry.addr.port());
    Case::new(host, &format!("{repo}:v1"), ca_for_all(env))
        .with_node_config(&[], "")
        .keep(registry)
}

/// A plain-HTTP registry on `127.0.0.1:PORT`, nothing configured for it.
fn plain_http_on_loopback_unconfigured(_: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::OciManifest);
    Case::new(
        registry.host(),
        &format!("{repo}:v1"),
        Transport::Tls { ca: None },
    )
    .with_node_config(&[], "")
    .keep(registry)
}

/// `hosts.toml` / `registries.conf` naming `mirror` before the registry at `upstream`, both
/// plain HTTP.
fn with_mirror(case: Case, upstream: &str, mirror: &str) -> Case {
    let hosts = format!(
        "server = \"http://{upstream}\"\n\n[host.\"http://{mirror}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    );
    let conf = format!(
        "[[registry]]\nlocation = \"{upstream}\"\ninsecure = true\n\n[[registry.mirror]]\nlocation = \"{mirror}\"\ninsecure = true\n"
    );
    case.with_node_config(&[(upstream, &hosts)], &conf)
}

/// The mirror has the image; the registry it mirrors does not.
fn mirror_serves_what_upstream_lacks(_: &Env, repo: &str) -> Case {
    let (mirror, _) = plain_registry(repo, ImageKind::OciManifest);
    let upstream = Registry::plain();
    let up = named(&upstream);
    let case = Case::new(up.clone(), &format!("{repo}:v1"), Transport::PlainHttp);
    with_mirror(case, &up, &named(&mirror))
        .keep(mirror)
        .keep(upstream)
}

/// The mirror refuses connections; the registry serves the image.
fn mirror_refused_upstream_serves(_: &Env, repo: &str) -> Case {
    let (upstream, _) = plain_registry(repo, ImageKind::OciManifest);
    let up = named(&upstream);
    let dead = format!("{NAME}:{}", net::refused_port());
    let case = Case::new(up.clone(), &format!("{repo}:v1"), Transport::PlainHttp);
    with_mirror(case, &up, &dead).keep(upstream)
}

/// The mirror never answers a connection; the registry serves the image. The runtimes wait
/// out their dial timeout (a minute or two) before going on.
fn mirror_black_holed_upstream_serves(_: &Env, repo: &str) -> Case {
    let (upstream, _) = plain_registry(repo, ImageKind::OciManifest);
    let up = named(&upstream);
    let hole = net::BlackHole::new();
    let dead = format!("{NAME}:{}", hole.addr.port());
    let mut case = Case::new(up.clone(), &format!("{repo}:v1"), Transport::PlainHttp);
    case.slow = true;
    with_mirror(case, &up, &dead).keep(upstream).keep(hole)
}

/// `hosts.toml` with `server` and `ca` and no `[host]` table: containerd 1.6 ignores the whole
/// file, CA included.
fn hosts_toml_without_host_table(env: &Env, repo: &str) -> Case {
    let registry = tls_registry(env, repo);
    let host = named(&registry);
    let hosts = format!(
        "server = \"https://{host}\"\nca = {:?}\n",
        path_str(&env.pki.ca.pem_path)
    );
    let conf = format!("[[registry]]\nlocation = \"{host}\"\n");
    Case::new(host.clone(), &format!("{repo}:v1"), ca_for_all(env))
        .with_node_config(&[(&host, &hosts)], &conf)
        .keep(registry)
}

/// registries.conf blocks the registry; containerd has no such setting.
fn registry_blocked(_: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::OciManifest);
    let host = named(&registry);
    let hosts = format!(
        "server = \"http://{host}\"\n\n[host.\"http://{host}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    );
    let conf = format!("[[registry]]\nlocation = \"{host}\"\ninsecure = true\nblocked = true\n");
    Case::new(host.clone(), &format!("{repo}:v1"), Transport::PlainHttp)
        .with_node_config(&[(&host, &hosts)], &conf)
        .keep(registry)
}

/// The image is named by a registry the DNS does not know; registries.conf rewrites that
/// prefix to the real registry. containerd has no rewrites.
fn location_rewrite(_: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::OciManifest);
    let host = named(&registry);
    let conf = format!(
        "[[registry]]\nprefix = \"{UNKNOWN_NAME}\"\nlocation = \"{host}\"\ninsecure = true\n"
    );
    Case::new(
        UNKNOWN_NAME.to_owned(),
        &format!("{repo}:v1"),
        Transport::PlainHttp,
    )
    .with_node_config(&[], &conf)
    .keep(registry)
}

/// A short name (`oracle/…:v1`, no registry), with one or two search registries.
fn short_name_with(repo: &str, search: &[&str], registry: Registry) -> Case {
    let list = search
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut registries = String::new();
    for s in search {
        let _ = write!(
            registries,
            "\n[[registry]]\nlocation = {s:?}\ninsecure = true\n"
        );
    }
    let conf = format!(
        "unqualified-search-registries = [{list}]\nshort-name-mode = \"enforcing\"\n{registries}"
    );
    let mut case = Case::new(
        search[0].to_owned(),
        &format!("{repo}:v1"),
        Transport::PlainHttp,
    )
    .with_node_config(&[], &conf)
    .keep(registry);
    case.image = format!("{repo}:v1");
    case
}

fn short_name_one_search_registry(_: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::OciManifest);
    let host = named(&registry);
    short_name_with(repo, &[&host], registry)
}

fn short_name_ambiguous(_: &Env, repo: &str) -> Case {
    let (registry, _) = plain_registry(repo, ImageKind::OciManifest);
    let host = named(&registry);
    let other = format!("{NAME}:{}", net::refused_port());
    short_name_with(repo, &[&host, &other], registry)
}

const ROWS: &[Row] = &[
    Row {
        name: "plain-http-pullable",
        build: plain_http_pullable,
        preflight: Verdict::Pullable,
        cri_o: None,
        containerd: Pull::Pulls,
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "tls-with-ca-pullable",
        build: tls_with_ca_pullable,
        preflight: Verdict::Pullable,
        cri_o: None,
        containerd: Pull::Pulls,
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "basic-right-password-pullable",
        build: basic_right_password,
        preflight: Verdict::Pullable,
        cri_o: None,
        containerd: Pull::Pulls,
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "token-auth-pullable",
        build: token_auth,
        preflight: Verdict::Pullable,
        cri_o: None,
        containerd: Pull::Pulls,
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "token-anonymous-public-pullable",
        build: token_anonymous_public,
        preflight: Verdict::Pullable,
        cri_o: None,
        containerd: Pull::Pulls,
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "docker-list-pullable",
        build: docker_list_pullable,
        preflight: Verdict::Pullable,
        cri_o: None,
        containerd: Pull::Pulls,
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "missing-tag",
        build: missing_tag,
        preflight: Verdict::Code("manifest-unknown"),
        cri_o: None,
        containerd: Pull::Fails("failed to resolve reference … missing-tag:v2: not found"),
        podman: Pull::Fails("reading manifest v2 in … manifest unknown"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "missing-repository",
        build: missing_repository,
        preflight: Verdict::Code("repository-not-found"),
        cri_o: None,
        containerd: Pull::Fails("failed to resolve reference … repository-absent:v1: not found"),
        podman: Pull::Fails("reading manifest v1 in … manifest unknown"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "basic-no-credentials",
        build: basic_no_credentials,
        preflight: Verdict::Code("auth-required"),
        cri_o: None,
        containerd: Pull::Fails("failed with status code [manifests v1]: 401 Unauthorized"),
        podman: Pull::Fails("unauthorized: authentication required"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "basic-wrong-password",
        build: basic_wrong_password,
        preflight: Verdict::Code("auth-rejected"),
        cri_o: None,
        containerd: Pull::Fails("failed with status code [manifests v1]: 401 Unauthorized"),
        podman: Pull::Fails("unauthorized: authentication required"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "tls-ca-not-given",
        build: tls_ca_not_given,
        preflight: Verdict::Code("tls-unknown-issuer"),
        cri_o: None,
        containerd: Pull::Fails("x509: certificate signed by unknown authority"),
        podman: Pull::Fails("x509: certificate signed by unknown authority"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "token-insufficient-scope",
        build: token_insufficient_scope,
        preflight: Verdict::Code("access-denied"),
        cri_o: None,
        containerd: Pull::Fails("insufficient_scope: authorization failed"),
        podman: Pull::Fails("denied: requested access to the resource is denied"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "tls-wrong-host",
        build: tls_wrong_host,
        preflight: Verdict::Code("tls-hostname-mismatch"),
        cri_o: None,
        containerd: Pull::Fails(
            "x509: certificate is valid for other.preflight.test, not registry.preflight.test",
        ),
        podman: Pull::Fails(
            "x509: certificate is valid for other.preflight.test, not registry.preflight.test",
        ),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "tls-expired",
        build: tls_expired,
        preflight: Verdict::Code("tls-expired"),
        cri_o: None,
        containerd: Pull::Fails("x509: certificate has expired or is not yet valid"),
        podman: Pull::Fails("x509: certificate has expired or is not yet valid"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "tls-to-plain-registry",
        build: tls_to_plain_registry,
        preflight: Verdict::Code("tls-server-speaks-http"),
        cri_o: None,
        containerd: Pull::Fails("http: server gave HTTP response to HTTPS client"),
        podman: Pull::Fails("http: server gave HTTP response to HTTPS client"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "plain-http-to-tls-registry",
        build: plain_http_to_tls_registry,
        preflight: Verdict::Code("plain-http-to-tls"),
        // registries.conf's nearest to plain HTTP is `insecure = true`: HTTPS without
        // verification first, then HTTP — so a CRI-O node so configured pulls.
        cri_o: Some(Verdict::Pullable),
        containerd: Pull::Fails("failed with status code [manifests v1]: 400 Bad Request"),
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "tcp-refused",
        build: refused,
        preflight: Verdict::Code("tcp-refused"),
        cri_o: None,
        containerd: Pull::Fails("dial tcp 127.0.0.1:… connect: connection refused"),
        podman: Pull::Fails("dial tcp 127.0.0.1:… connect: connection refused"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "dns-nxdomain",
        build: unknown_name,
        preflight: Verdict::Code("dns-nxdomain"),
        cri_o: None,
        containerd: Pull::Fails("lookup absent.preflight.test on … no such host"),
        podman: Pull::Fails("lookup absent.preflight.test on … no such host"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "layer-blob-missing",
        build: layer_blob_missing,
        preflight: Verdict::Code("blob-unknown"),
        cri_o: None,
        containerd: Pull::Fails(
            "could not fetch content descriptor … layer.v1.tar+gzip) from remote: not found",
        ),
        podman: Pull::Fails("reading blob sha256:… registry 404 (Not Found)"),
        depth_blobs: true,
        disagreement: None,
    },
    Row {
        name: "config-blob-corrupted",
        build: config_blob_corrupted,
        preflight: Verdict::Code("blob-digest-mismatch"),
        cri_o: None,
        containerd: Pull::Fails("unexpected commit digest"),
        podman: Pull::Fails("config.json digest … does not match expected"),
        depth_blobs: true,
        disagreement: None,
    },
    Row {
        name: "index-without-node-platform",
        build: index_without_node_platform,
        preflight: Verdict::Code("platform-missing"),
        cri_o: None,
        containerd: Pull::Fails("no match for platform in manifest"),
        podman: Pull::Fails("no image found in image index for architecture amd64"),
        depth_blobs: true,
        disagreement: None,
    },
    Row {
        name: "platform-manifest-deleted",
        build: platform_manifest_deleted,
        preflight: Verdict::Code("platform-manifest-missing"),
        cri_o: None,
        containerd: Pull::Fails("content at … /manifests/sha256:… not found"),
        podman: Pull::Fails("reading manifest sha256:… manifest unknown"),
        depth_blobs: true,
        disagreement: None,
    },
    Row {
        name: "token-post-not-implemented",
        build: token_post_not_implemented,
        preflight: Verdict::Code("auth-server-error"),
        // containers/image asks with a GET, which works.
        cri_o: Some(Verdict::Pullable),
        containerd: Pull::Fails("failed to fetch oauth token: unexpected status: 501"),
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "tls-on-localhost-unconfigured",
        build: tls_on_localhost_unconfigured,
        preflight: Verdict::Code("plain-http-to-tls"),
        cri_o: Some(Verdict::Pullable),
        containerd: Pull::Fails("400 Bad Request"),
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "plain-http-on-loopback-unconfigured",
        build: plain_http_on_loopback_unconfigured,
        preflight: Verdict::Pullable,
        cri_o: Some(Verdict::Code("tls-server-speaks-http")),
        containerd: Pull::Pulls,
        podman: Pull::Fails("http: server gave HTTP response to HTTPS client"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "mirror-serves-what-upstream-lacks",
        build: mirror_serves_what_upstream_lacks,
        preflight: Verdict::Pullable,
        cri_o: None,
        containerd: Pull::Pulls,
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "mirror-refused-upstream-serves",
        build: mirror_refused_upstream_serves,
        preflight: Verdict::Pullable,
        cri_o: None,
        containerd: Pull::Pulls,
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "mirror-black-holed-upstream-serves",
        build: mirror_black_holed_upstream_serves,
        preflight: Verdict::Pullable,
        cri_o: None,
        containerd: Pull::Pulls,
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "hosts-toml-without-host-table",
        build: hosts_toml_without_host_table,
        preflight: Verdict::Code("tls-unknown-issuer"),
        cri_o: Some(Verdict::Pullable),
        containerd: Pull::Fails("x509: certificate signed by unknown authority"),
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "registry-blocked",
        build: registry_blocked,
        preflight: Verdict::Pullable,
        cri_o: Some(Verdict::Code("registry-blocked")),
        containerd: Pull::Pulls,
        podman: Pull::Fails("is blocked in"),
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "location-rewrite",
        build: location_rewrite,
        preflight: Verdict::Code("dns-nxdomain"),
        cri_o: Some(Verdict::Pullable),
        containerd: Pull::Fails("no such host"),
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "short-name-one-search-registry",
        build: short_name_one_search_registry,
        // containerd makes docker.io/… of a short name, which the node cannot resolve here.
        preflight: Verdict::Code("dns-nxdomain"),
        cri_o: Some(Verdict::Pullable),
        containerd: Pull::Fails("no such host"),
        podman: Pull::Pulls,
        depth_blobs: false,
        disagreement: None,
    },
    Row {
        name: "short-name-ambiguous",
        build: short_name_ambiguous,
        preflight: Verdict::Code("dns-nxdomain"),
        cri_o: Some(Verdict::Code("short-name-ambiguous")),
        containerd: Pull::Fails("no such host"),
        podman: Pull::Fails("short-name resolution enforced but cannot prompt without a TTY"),
        depth_blobs: false,
        disagreement: None,
    },
];

/// What one row saw.
struct Seen {
    /// preflight's code under the containerd and the CRI-O profiles, `None` when it says
    /// pullable.
    preflight: [Option<String>; 2],
    preflight_output: [String; 2],
    containerd: RuntimeOutcome,
    podman: RuntimeOutcome,
    /// `preflight explain` over a Pod whose event carries containerd's and podman's real
    /// error, checked live under that runtime's profile; `None` where the runtime pulled.
    explained: [Option<crate::common::Run>; 2],
    /// Building the fixture, then preflight, containerd and podman.
    took: [Duration; 4],
}

fn run_row(env: &Env, row: &Row) -> Seen {
    let mut lap = Instant::now();
    let mut took = [Duration::ZERO; 4];
    let mut time = |i: usize| {
        took[i] = lap.elapsed();
        lap = Instant::now();
    };
    let dir = tempfile::tempdir().expect("row temp dir");
    let case = (row.build)(env, &format!("oracle/{}", row.name));
    time(0);

    let ctr_dir = dir.path().join("containerd");
    let podman_dir = dir.path().join("podman");
    for d in [&ctr_dir, &podman_dir] {
        std::fs::create_dir_all(d).expect("create runtime config dir");
    }
    let ctr_config = case.containerd_config(env, &ctr_dir);
    let podman_config = case.podman_config(env, &podman_dir);
    let mut preflight = [None, None];
    let mut preflight_output = [String::new(), String::new()];
    for (i, node) in [Node::Containerd(&ctr_config), Node::CriO(&podman_config)]
        .iter()
        .enumerate()
    {
        let args = case.preflight_args(env, dir.path(), node);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = check(&args);
        preflight[i] = run.code_of(0);
        preflight_output[i] = format!("{}\n{}", run.stdout, run.stderr);
    }
    time(1);

    // Both runtimes at once: a row that makes them wait out a dial timeout waits once.
    let ((containerd, ctr_took), (podman, podman_took)) = std::thread::scope(|scope| {
        let ctr = scope.spawn(|| {
            let started = Instant::now();
            (
                env.containerd.ctr_pull(&case.image, &ctr_config),
                started.elapsed(),
            )
        });
        let started = Instant::now();
        let podman = (podman_pull(&case.image, &podman_config), started.elapsed());
        let ctr = ctr.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (ctr, podman)
    });
    took[2] = ctr_took;
    took[3] = podman_took;
    let explained = [
        (&containerd, Node::Containerd(&ctr_config), "containerd"),
        (&podman, Node::CriO(&podman_config), "podman"),
    ]
    .map(|(outcome, node, runtime)| {
        let inner = runtime_error(runtime, &outcome.stderr).filter(|_| !outcome.ok)?;
        Some(explain_live(env, &case, dir.path(), &node, runtime, &inner))
    });
    Seen {
        preflight,
        preflight_output,
        containerd,
        podman,
        explained,
        took,
    }
}

/// The runtime's error `inner` wrapped as the node reports it: containerd's by its CRI plugin
/// (`failed to pull and unpack image`), gRPC and the kubelet's `Failed` event; CRI-O's by gRPC
/// and the kubelet's v1.32 back-off status.
fn wrapped(runtime: &str, image: &str, inner: &str) -> String {
    if runtime == "containerd" {
        format!(
            "Failed to pull image {image:?}: rpc error: code = Unknown desc = failed to pull and unpack image {image:?}: {inner}"
        )
    } else {
        format!(
            "Back-off pulling image {image:?}: ErrImagePull: rpc error: code = Unknown desc = {inner}"
        )
    }
}

/// `preflight explain -o json` over kubectl-shaped JSON: a Pod backing off, its Failed event
/// (containerd) or status (CRI-O) carrying the runtime's real error, and, for rows with
/// credentials, the pull Secret the Pod names — checked live with the runtime's configuration.
fn explain_live(
    env: &Env,
    case: &Case,
    dir: &Path,
    node: &Node<'_>,
    runtime: &str,
    inner: &str,
) -> crate::common::Run {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let image = &case.image;
    let message = wrapped(runtime, image, inner);
    let backoff = format!("Back-off pulling image {image:?}");
    let status_message = if runtime == "containerd" {
        &backoff
    } else {
        &message
    };
    let mut items = vec![serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {
            "imagePullSecrets": if case.credentials.is_some() { serde_json::json!([{"name": "regcred"}]) } else { serde_json::json!([]) },
            "containers": [{"name": "app", "image": image}]
        },
        "status": {"containerStatuses": [{
            "name": "app", "image": image,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": status_message}}
        }]}
    })];
    if runtime == "containerd" {
        items.push(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "web-1.1", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-1", "fieldPath": "spec.containers{app}"},
            "reason": "Failed",
            "message": message,
            "lastTimestamp": "2026-11-27T22:01:05Z"
        }));
    }
    if let Some((user, password)) = case.credentials {
        let config = serde_json::json!({"auths": {&case.host: {"auth": b64(&format!("{user}:{password}"))}}});
        items.push(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "regcred", "namespace": "shop"},
            "data": {".dockerconfigjson": b64(&config.to_string())}
        }));
    }
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items});
    let path = dir.join(format!("explain-{runtime}.json"));
    std::fs::write(&path, list.to_string()).expect("write the kubectl output");
    let mut args = case.preflight_args(env, dir, node);
    // Not the image (the Pod names it), nor the CI job's credentials (the Pod's Secret is).
    args.pop();
    if let Some(at) = args.iter().position(|a| a == "--docker-config") {
        args.drain(at..at + 2);
    }
    let mut all = vec![
        "explain".to_owned(),
        "-o".to_owned(),
        "json".to_owned(),
        "-f".to_owned(),
        path_str(&path).to_owned(),
    ];
    all.extend(args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    crate::common::run(&all)
}

/// Where a row's expectation and what was seen differ; empty when they agree.
fn problems(row: &Row, seen: &Seen) -> Vec<String> {
    let mut problems = Vec::new();
    let code = |v: Verdict| match v {
        Verdict::Pullable => None,
        Verdict::Code(code) => Some(code),
    };
    for (i, (profile, expected)) in [
        ("containerd 1.6", row.preflight),
        ("cri-o", row.cri_o.unwrap_or(row.preflight)),
    ]
    .into_iter()
    .enumerate()
    {
        if seen.preflight[i].as_deref() != code(expected) {
            problems.push(format!(
                "preflight ({profile}): expected {expected:?}, got {:?}\n{}",
                seen.preflight[i], seen.preflight_output[i]
            ));
        }
    }
    for (runtime, expected, outcome) in [
        ("containerd", row.containerd, &seen.containerd),
        ("podman", row.podman, &seen.podman),
    ] {
        let matches = match expected {
            Pull::Pulls => outcome.ok,
            Pull::Fails(pattern) => !outcome.ok && contains_in_order(&outcome.stderr, pattern),
        };
        if !matches {
            problems.push(format!("{runtime}: expected {expected:?}, got {outcome}"));
        }
    }
    problems
}

/// The table must say why a runtime disagrees with preflight, and only then.
#[test]
fn every_disagreement_in_the_oracle_table_has_a_reason() {
    for row in ROWS {
        let cri_o = row.cri_o.unwrap_or(row.preflight);
        let agree = (row.containerd == Pull::Pulls) == (row.preflight == Verdict::Pullable)
            && (row.podman == Pull::Pulls) == (cri_o == Verdict::Pullable);
        assert_eq!(
            agree,
            row.disagreement.is_none(),
            "row {}: a runtime that disagrees with preflight needs a reason, and a reason needs \
             a disagreement",
            row.name
        );
    }
}

#[test]
fn oracle_real_runtimes_agree_with_preflight() {
    let dns = NodeDns::start(&[(NAME, IpAddr::V4(Ipv4Addr::LOCALHOST))]);
    let env = Env {
        dns,
        pki: Pki::new(),
        containerd: Containerd::start(),
    };
    let started = Instant::now();
    let seen: Vec<Seen> = std::thread::scope(|scope| {
        let handles: Vec<_> = ROWS
            .iter()
            .map(|row| {
                let env = &env;
                std::thread::Builder::new()
                    .name(format!("oracle-{}", row.name))
                    .spawn_scoped(scope, move || run_row(env, row))
                    .expect("spawn row thread")
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });

    let mut table = String::new();
    let mut failures = String::new();
    for (row, seen) in ROWS.iter().zip(&seen) {
        let _ = writeln!(
            table,
            "{:<30} (fixture {:.2}s) preflight {:.2}s: {}{}\n    containerd {:.2}s: {}\n    podman {:.2}s: {}",
            row.name,
            seen.took[0].as_secs_f64(),
            seen.took[1].as_secs_f64(),
            match (&seen.preflight[0], &seen.preflight[1]) {
                (a, b) if a == b => a.clone().unwrap_or_else(|| "pullable".to_owned()),
                (a, b) => format!(
                    "{} (cri-o: {})",
                    a.as_deref().unwrap_or("pullable"),
                    b.as_deref().unwrap_or("pullable")
                ),
            },
            if row.depth_blobs { " (pull path)" } else { "" },
            seen.took[2].as_secs_f64(),
            first_line(&seen.containerd),
            seen.took[3].as_secs_f64(),
            first_line(&seen.podman),
        );
        for problem in problems(row, seen)
            .into_iter()
            .chain(explain_problems(row, seen))
        {
            let _ = writeln!(failures, "row {}: {problem}", row.name);
        }
    }
    eprintln!(
        "oracle: {} rows in {:.2}s\n{table}",
        ROWS.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "preflight and the real runtimes disagree, or a runtime failed for another cause:\n\
         {failures}\ncontainerd's log:\n{}\nDNS log:\n{}",
        env.containerd.log(),
        env.dns.log()
    );
}

/// Where a runtime's text says less than preflight finds, the cause `explain` gives it is the
/// coarser one the text supports: `(row, runtime, cause, why)`.
const EXPLAIN_COARSER: &[(&str, &str, &str, &str)] = &[
    (
        "missing-repository",
        "containerd",
        "manifest-unknown",
        "containerd says `not found` for a missing tag and a missing repository alike",
    ),
    (
        "missing-repository",
        "podman",
        "manifest-unknown",
        "containers/image says `manifest unknown` for both (the registry's MANIFEST_UNKNOWN)",
    ),
    (
        "basic-wrong-password",
        "containerd",
        "auth-required",
        "a 401 does not say whether credentials were sent",
    ),
    (
        "basic-wrong-password",
        "podman",
        "auth-required",
        "`unauthorized: authentication required` whether credentials were sent or not",
    ),
    (
        "token-insufficient-scope",
        "containerd",
        "not-found-or-unauthorized",
        "containerd words it `repository does not exist or may require authorization`",
    ),
    (
        "plain-http-to-tls-registry",
        "containerd",
        "registry-error",
        "`400 Bad Request` only: the text does not say a TLS server refused plain HTTP",
    ),
    (
        "tls-on-localhost-unconfigured",
        "containerd",
        "registry-error",
        "`400 Bad Request` only, as above",
    ),
];

/// The runtime's own error in what its CLI printed: ctr's last `ctr: …` line, podman's last
/// `Error: …` to the end (its errors may span lines); their log lines are not the error.
fn runtime_error(runtime: &str, stderr: &str) -> Option<String> {
    let prefix = if runtime == "containerd" {
        "ctr: "
    } else {
        "Error: "
    };
    let at = stderr
        .match_indices(prefix)
        .map(|(i, _)| i)
        .filter(|&i| i == 0 || stderr[..i].ends_with('\n'))
        .last()?;
    let text = &stderr[at + prefix.len()..];
    Some(if runtime == "containerd" {
        text.lines().next().unwrap_or_default().to_owned()
    } else {
        text.trim_end().to_owned()
    })
}

/// `explain`'s classification of every failing pull's real text, wrapped as the node reports it
/// (containerd: the CRI plugin's `failed to pull and unpack image`, gRPC's status and the
/// kubelet's `Failed` event; CRI-O: gRPC's status and the v1.32 back-off status), against the
/// row's code for that runtime's profile.
fn explain_problems(row: &Row, seen: &Seen) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, (runtime, verdict, outcome)) in [
        ("containerd", row.preflight, &seen.containerd),
        ("podman", row.cri_o.unwrap_or(row.preflight), &seen.podman),
    ]
    .into_iter()
    .enumerate()
    {
        let Verdict::Code(code) = verdict else {
            continue;
        };
        if outcome.ok {
            continue;
        }
        let Some(inner) = runtime_error(runtime, &outcome.stderr) else {
            problems.push(format!("explain: no {runtime} error found in {outcome}"));
            continue;
        };
        let image = format!("registry.preflight.test/oracle/{}:v1", row.name);
        let message = wrapped(runtime, &image, &inner);
        let want = EXPLAIN_COARSER
            .iter()
            .find(|(r, rt, _, _)| *r == row.name && *rt == runtime)
            .map_or(code, |(_, _, coarser, _)| *coarser);
        let got = preflight::explain::classify::classify(&message, &image);
        if got.code.map(preflight::Code::as_str) != Some(want) {
            problems.push(format!(
                "explain: {runtime}'s message classified {:?}, expected {want}: {message}",
                got.code.map(preflight::Code::as_str)
            ));
        }
        // The binary, end to end: the fault is still there, so the live check fails too.
        let Some(run) = &seen.explained[i] else {
            problems.push(format!("explain: {runtime} failed but explain did not run"));
            continue;
        };
        let j: serde_json::Value = serde_json::from_str(&run.stdout).unwrap_or_default();
        let c = &j["containers"][0];
        if run.code != 1 || c["cause"] != want || c["verdict"] != "still-failing" {
            problems.push(format!(
                "explain ({runtime}): expected exit 1, cause {want}, still-failing; got exit {}, cause {}, verdict {}\n{}\n{}",
                run.code, c["cause"], c["verdict"], run.stdout, run.stderr
            ));
        }
    }
    problems
}

/// Every coarser mapping names a row that fails with that runtime.
#[test]
fn explain_coarser_mappings_name_failing_rows() {
    for (row, runtime, _, why) in EXPLAIN_COARSER {
        let r = ROWS
            .iter()
            .find(|r| r.name == *row)
            .unwrap_or_else(|| panic!("no oracle row {row}"));
        let pull = if *runtime == "containerd" {
            r.containerd
        } else {
            r.podman
        };
        assert!(matches!(pull, Pull::Fails(_)), "{row} {runtime}: {why}");
    }
}

/// Whether `text` holds the parts of `pattern` between its `…`, in order.
fn contains_in_order(text: &str, pattern: &str) -> bool {
    let mut rest = text;
    for part in pattern.split('…').map(str::trim).filter(|p| !p.is_empty()) {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn first_line(outcome: &RuntimeOutcome) -> String {
    if outcome.ok {
        return "pulled".to_owned();
    }
    let last = outcome
        .stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    format!("failed: {last}")
}
