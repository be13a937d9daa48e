//! Where the node's runtime sends an image's pull: the hosts it tries, in order (the mirrors its
//! registry configuration names, then the registry itself), how it reaches each (the TLS mode
//! configured, or the runtime's default for a host nothing configures, with its fallback to
//! plain HTTP), and the reference as each host is asked for it.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::time::Instant;

use crate::diagnosis::{Code, Diagnosis, Stage};
use crate::engine::checker::{Inner, split_host_port};
use crate::inputs::hosts_dir::{HostEntry, HostsFile, Scheme};
use crate::inputs::registries_conf::{PullRefused, RegistriesConf, ShortName, ShortNameMode};
use crate::model::reference::Reference;
use crate::net::TlsMode;
use crate::registry::endpoint::Endpoint;
use crate::registry::profile::Profile;
use crate::registry::runtime::{ContainerdLine, Fallback, Runtime, Transport};
use crate::report::HostRole;

/// One host a pull may go to.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub(crate) role: HostRole,
    /// Where it is reached, with the first mode tried.
    pub(crate) ep: Endpoint,
    /// Whether the reference (or the configuration) wrote a port: without one, a fallback to
    /// plain HTTP goes to port 80.
    pub(crate) explicit_port: bool,
    /// When the runtime gives up on HTTPS for it.
    pub(crate) fallback: Option<Fallback>,
    /// The image as this host is asked for it (a mirror or a rewritten location has its own
    /// host, and may have its own repository path).
    pub(crate) reference: Reference,
    pub(crate) profile: Profile,
}

impl Hop {
    /// The endpoint a fallback to plain HTTP goes to, if the runtime falls back after `code`.
    pub(crate) fn fallback_after(&self, code: crate::diagnosis::Code) -> Option<Endpoint> {
        use crate::diagnosis::Code;
        let falls = match self.fallback? {
            Fallback::WhenServerSpeaksHttp => {
                code == Code::TlsServerSpeaksHttp
                    || (!self.explicit_port && code == Code::TcpRefused)
            }
            Fallback::OnAnyFailure => !matches!(
                code,
                Code::DnsNxdomain | Code::DnsNoAddress | Code::DnsTimeout | Code::DnsError
            ),
        };
        falls.then(|| Endpoint {
            host: self.ep.host.clone(),
            port: if self.explicit_port {
                self.ep.port
            } else {
                TlsMode::PlainHttp.default_port()
            },
            mode: TlsMode::PlainHttp,
        })
    }
}

/// The hosts an image's pull goes to, in the order the runtime tries them.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) hops: Vec<Hop>,
}

impl Inner {
    /// The route of `reference` under the node's runtime and configuration, or why the runtime
    /// would not try any host (a blocked registry, a short name it refuses).
    pub(crate) async fn route(
        &self,
        reference: &Reference,
        deadline: Instant,
    ) -> Result<Route, Diagnosis> {
        let mut route = self.route_as_configured(reference, deadline).await?;
        // A host named twice (a hosts.toml mirror that is also its server) is asked once, in
        // its last place: the runtime would ask it twice, with the same answer.
        let hops = std::mem::take(&mut route.hops);
        route.hops = hops
            .iter()
            .enumerate()
            .filter(|(i, hop)| {
                !hops[i + 1..].iter().any(|later| {
                    later.ep == hop.ep && later.reference.canonical() == hop.reference.canonical()
                })
            })
            .map(|(_, hop)| hop.clone())
            .collect();
        Ok(route)
    }

    async fn route_as_configured(
        &self,
        reference: &Reference,
        deadline: Instant,
    ) -> Result<Route, Diagnosis> {
        if let (Runtime::CriO, Some(conf)) = (self.runtime, &self.registries) {
            return self.cri_o_route(conf, reference, deadline).await;
        }
        if let (Runtime::Containerd(line), Some(_)) = (self.runtime, &self.hosts_dir)
            && let Some(file) = self.hosts_file(reference.registry(), line)
        {
            return self
                .containerd_route(&file, line, reference, deadline)
                .await;
        }
        let server = self
            .hop(HostRole::Server, reference.clone(), None, deadline)
            .await;
        Ok(Route { hops: vec![server] })
    }

    /// The `hosts.toml` containerd uses for `registry`, read once per registry; `None` when none
    /// applies or containerd ignores it (the checker's notes say so).
    fn hosts_file(&self, registry: &str, line: ContainerdLine) -> Option<Arc<HostsFile>> {
        let dir = self.hosts_dir.as_ref()?;
        let mut files = self
            .hosts_files
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        files
            .entry(registry.to_owned())
            .or_insert_with(|| dir.lookup(registry, line).ok().flatten().map(Arc::new))
            .clone()
    }

    /// containerd's: the file's hosts in order, the mirrors then the server, those that may
    /// serve this reference (a tag needs `pull` and `resolve`, a digest `pull`), each reached as
    /// its table says.
    async fn containerd_route(
        &self,
        file: &HostsFile,
        line: ContainerdLine,
        reference: &Reference,
        deadline: Instant,
    ) -> Result<Route, Diagnosis> {
        let by_digest = reference.digest().is_some();
        let mut hops = Vec::new();
        for entry in &file.hosts {
            let caps = entry.capabilities;
            if !caps.pull || !(caps.resolve || by_digest) {
                continue;
            }
            let role = if entry.is_server {
                HostRole::Server
            } else {
                HostRole::Mirror
            };
            let authority = match entry.port {
                Some(p) if entry.host.contains(':') => format!("[{}]:{p}", entry.host),
                Some(p) => format!("{}:{p}", entry.host),
                None => entry.host.clone(),
            };
            // The registry itself keeps the reference as written (Docker Hub stays Docker Hub).
            let own = entry.is_server
                && Profile::of(reference)
                    .api_host(reference, None)
                    .eq_ignore_ascii_case(&authority);
            let at = if own {
                reference.clone()
            } else {
                parse_candidate(&reference_at(&authority, reference.repository(), reference))?
            };
            let transport = entry_transport(entry, line);
            hops.push(self.hop(role, at, Some(transport), deadline).await);
        }
        if hops.is_empty() {
            return Err(Diagnosis::new(
                Code::RegistryBlocked,
                Stage::Reference,
                format!(
                    "{} gives no host that may {} for {}: containerd fails with \"no resolve hosts\"",
                    file.path.display(),
                    if by_digest {
                        "pull"
                    } else {
                        "pull and resolve"
                    },
                    reference.registry()
                ),
            ));
        }
        Ok(Route { hops })
    }

    /// CRI-O's: a short name resolved as containers/image resolves it (under CRI-O's own
    /// `enforcing` mode, from `crio.conf`, not the file's), then for each candidate the mirrors
    /// of its `[[registry]]` and its location, each reached as that entry's `insecure` says.
    async fn cri_o_route(
        &self,
        conf: &RegistriesConf,
        reference: &Reference,
        deadline: Instant,
    ) -> Result<Route, Diagnosis> {
        let candidates = match conf
            .short_name_with_mode(reference.original(), ShortNameMode::Enforcing)
        {
            ShortName::NotShort => vec![reference.clone()],
            ShortName::Alias(alias) => vec![parse_candidate(&alias)?],
            ShortName::Candidates(list) => list
                .iter()
                .map(|c| parse_candidate(c))
                .collect::<Result<_, _>>()?,
            ShortName::Ambiguous { candidates } => {
                return Err(Diagnosis::new(
                    Code::ShortNameAmbiguous,
                    Stage::Reference,
                    format!(
                        "{} names no registry, and {} lists {} search registries ({}): CRI-O enforces short names and refuses the pull",
                        reference.original(),
                        conf.search_origin().display(),
                        candidates.len(),
                        candidates.join(", ")
                    ),
                ));
            }
            ShortName::NoSearchRegistries => {
                return Err(Diagnosis::new(
                    Code::ShortNameUnresolved,
                    Stage::Reference,
                    format!(
                        "{} names no registry, and the registries configuration has no alias for it and no unqualified-search-registries",
                        reference.original()
                    ),
                ));
            }
        };
        let mut hops = Vec::new();
        for candidate in &candidates {
            let sources = conf.pull_sources(candidate).map_err(|refused| {
                let code = match refused {
                    PullRefused::Blocked(_) => Code::RegistryBlocked,
                    _ => Code::InvalidReference,
                };
                Diagnosis::new(code, Stage::Reference, refused.to_string())
            })?;
            for source in sources.into_iter().filter(|s| s.blocked.is_none()) {
                let role = if source.mirror {
                    HostRole::Mirror
                } else {
                    HostRole::Server
                };
                let at = parse_candidate(&reference_at(
                    &source.registry,
                    &source.repository,
                    candidate,
                ))?;
                let transport = source.insecure.then(Transport::insecure);
                hops.push(self.hop(role, at, transport, deadline).await);
            }
        }
        Ok(Route { hops })
    }

    /// One host: reached as the flags configure it, else as the node's configuration says
    /// (`configured`), else by the runtime's default for it.
    async fn hop(
        &self,
        role: HostRole,
        reference: Reference,
        configured: Option<Transport>,
        deadline: Instant,
    ) -> Hop {
        let profile = Profile::of(&reference);
        let api = profile.api_host(&reference, self.hub.as_deref());
        let (host, port) = split_host_port(api);
        let host = host.to_ascii_lowercase();
        let transport = match self.hosts.configured(reference.registry(), &host, port) {
            // Docker's `insecure-registries`: HTTPS without verification, then plain HTTP.
            Some(TlsMode::SkipVerify) if self.runtime == Runtime::Docker => Transport::insecure(),
            Some(mode) => Transport::only(mode),
            None => {
                if let Some(t) = configured {
                    t
                } else {
                    let addresses = self.addresses_for_transport(&host, deadline).await;
                    self.runtime.default_transport(
                        &host,
                        port,
                        &addresses,
                        self.hosts_dir.is_some(),
                    )
                }
            }
        };
        Hop {
            role,
            ep: Endpoint {
                port: port.unwrap_or(transport.first.default_port()),
                host,
                mode: transport.first,
            },
            explicit_port: port.is_some(),
            fallback: transport.fallback,
            reference,
            profile,
        }
    }

    /// The addresses of `host`, when the runtime chooses its transport by address (Docker);
    /// none otherwise, or when the name does not resolve (the `dns` stage says why).
    async fn addresses_for_transport(&self, host: &str, deadline: Instant) -> Vec<IpAddr> {
        if !self.runtime.transport_needs_addresses() {
            return Vec::new();
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return vec![ip];
        }
        self.net
            .dns
            .lookup(host, deadline)
            .await
            .unwrap_or_default()
    }
}

/// How containerd reaches a host of `hosts.toml`: its scheme; `skip_verify`; and an `http` host
/// with TLS settings (`skip_verify`, `ca`, `client`) is tried over HTTPS first, falling back to
/// plain HTTP, from 1.7 on, except on port 80 (`ConfigureHosts`, v1.7.24+ and 2.x; 1.6.20, what
/// the 1.6 line models, has no fallback).
fn entry_transport(entry: &HostEntry, line: ContainerdLine) -> Transport {
    let tls_settings =
        entry.skip_verify.is_some() || !entry.ca.is_empty() || !entry.client.is_empty();
    let verify = if entry.skip_verify == Some(true) {
        TlsMode::SkipVerify
    } else {
        TlsMode::Verify
    };
    match entry.scheme {
        Scheme::Https => Transport::only(verify),
        Scheme::Http if tls_settings && line != ContainerdLine::V1_6 && entry.port != Some(80) => {
            Transport {
                first: verify,
                fallback: Some(Fallback::WhenServerSpeaksHttp),
            }
        }
        Scheme::Http => Transport::only(TlsMode::PlainHttp),
    }
}

/// A candidate or rewritten reference, parsed; one that does not parse fails the pull, as in
/// containers/image.
fn parse_candidate(text: &str) -> Result<Reference, Diagnosis> {
    Reference::parse(text).map_err(|e| {
        Diagnosis::new(
            Code::InvalidReference,
            Stage::Reference,
            format!("the registries configuration makes {text:?} of it, which is not a valid reference: {e}"),
        )
    })
}

/// The reference a host is asked for: its `registry` and `repository`, with the tag or digest
/// of `of` (by digest when it has one, as CRI-O pulls).
fn reference_at(registry: &str, repository: &str, of: &Reference) -> String {
    match of.digest() {
        Some(d) => format!("{registry}/{repository}@{d}"),
        None => format!("{registry}/{repository}:{}", of.tag().unwrap_or("latest")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::checker::Checker;
    use std::time::Duration;

    async fn hops(checker: &Checker, image: &str) -> Vec<Hop> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let reference = Reference::parse(image).unwrap();
        checker
            .inner
            .route(&reference, deadline)
            .await
            .unwrap()
            .hops
    }

    #[tokio::test]
    async fn a_skip_verify_host_is_an_insecure_registry_under_docker_only() {
        let image = "registry.example:5000/team/app:v1";
        let docker = Checker::builder()
            .runtime(Runtime::Docker)
            .insecure_skip_tls_verify("registry.example:5000")
            .build()
            .unwrap();
        let hop = &hops(&docker, image).await[0];
        assert_eq!(hop.ep.mode, TlsMode::SkipVerify);
        assert_eq!(hop.fallback, Some(Fallback::OnAnyFailure));
        let containerd = Checker::builder()
            .insecure_skip_tls_verify("registry.example:5000")
            .build()
            .unwrap();
        let hop = &hops(&containerd, image).await[0];
        assert_eq!(hop.ep.mode, TlsMode::SkipVerify);
        assert_eq!(hop.fallback, None);
    }

    #[tokio::test]
    async fn a_host_named_as_mirror_and_server_is_asked_once_as_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let host_dir = dir.path().join("registry.example:5000");
        std::fs::create_dir_all(&host_dir).unwrap();
        std::fs::write(
            host_dir.join("hosts.toml"),
            "server = \"https://registry.example:5000\"\n\n[host.\"https://registry.example:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n[host.\"https://mirror.example\"]\n",
        )
        .unwrap();
        let checker = Checker::builder().hosts_dir(dir.path()).build().unwrap();
        let route = hops(&checker, "registry.example:5000/team/app:v1").await;
        let seen: Vec<_> = route.iter().map(|h| (h.ep.authority(), h.role)).collect();
        assert_eq!(
            seen,
            [
                ("mirror.example:443".to_owned(), HostRole::Mirror),
                ("registry.example:5000".to_owned(), HostRole::Server)
            ]
        );
    }

    #[tokio::test]
    async fn without_configuration_the_route_is_the_registry() {
        let checker = Checker::builder().build().unwrap();
        let route = hops(&checker, "registry.example/team/app:v1").await;
        assert_eq!(route.len(), 1);
        assert_eq!(route[0].role, HostRole::Server);
        assert_eq!((route[0].ep.port, route[0].ep.mode), (443, TlsMode::Verify));
        // Docker Hub's API host, the reference unchanged.
        let hub = hops(&checker, "nginx:1.27").await;
        assert_eq!(hub[0].ep.host, "registry-1.docker.io");
        assert_eq!(hub[0].reference.registry(), "docker.io");
    }
}
