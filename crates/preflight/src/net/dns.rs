//! Name resolution through hickory-resolver, shared by the `dns` stage and by every HTTP
//! connection: the addresses the check resolved are the addresses it connects to.
//!
//! The first layer of `net`: it imports none of the others. A hickory error is classified
//! here, in `Dns::classify`, and only here, so the `dns` stage and the HTTP layer (which meets
//! these failures inside reqwest's errors) tell an NXDOMAIN from a timeout the same way.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use tokio::time::Instant;

/// Which DNS servers to ask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsConfig {
    /// The system's configuration (`/etc/resolv.conf`, `/etc/hosts`).
    #[default]
    System,
    /// One server, asked over UDP and TCP.
    Server(SocketAddr),
}

/// Why a name did not resolve. Classified here, once, from hickory's errors.
///
/// The messages are complete on their own; hickory's error is kept as the source for code. When
/// the failure reaches reqwest through [`HttpResolver`], the HTTP layer's text stops here.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum DnsFailure {
    /// NXDOMAIN: the name does not exist.
    #[error("{host} does not exist (NXDOMAIN from {resolver})")]
    NxDomain {
        /// The name looked up.
        host: String,
        /// Which resolver answered.
        resolver: String,
        /// hickory's error.
        #[source]
        source: NetError,
    },
    /// The name exists but has no A or AAAA record.
    #[error("{host} exists but has no A or AAAA record (asked {resolver})")]
    NoAddress {
        /// The name looked up.
        host: String,
        /// Which resolver answered.
        resolver: String,
        /// hickory's error, when it said so (rather than an empty answer).
        #[source]
        source: Option<NetError>,
    },
    /// No answer before the deadline.
    #[error("no answer for {host} from {resolver} within {waited_ms} ms")]
    Timeout {
        /// The name looked up.
        host: String,
        /// Which resolver was asked.
        resolver: String,
        /// How long we waited.
        waited_ms: u128,
        /// hickory's error, when hickory gave up before our deadline did.
        #[source]
        source: Option<NetError>,
    },
    /// The server answered the query with an error code: SERVFAIL, REFUSED….
    #[error("resolving {host} through {resolver} failed: the server answered {code}")]
    Answered {
        /// The name looked up.
        host: String,
        /// Which resolver was asked.
        resolver: String,
        /// The response code.
        code: ResponseCode,
        /// hickory's error.
        #[source]
        source: NetError,
    },
    /// The server could not be asked: an I/O or protocol error.
    #[error("resolving {host} through {resolver} failed: {source}")]
    Server {
        /// The name looked up.
        host: String,
        /// Which resolver was asked.
        resolver: String,
        /// hickory's error: its words are the message.
        #[source]
        source: NetError,
    },
}

/// Why a resolver could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsSetupError {
    /// The system configuration could not be read.
    #[error("cannot read the system DNS configuration")]
    SystemConfig {
        /// hickory's error.
        #[source]
        source: NetError,
    },
    /// The resolver could not be built.
    #[error("cannot build the DNS resolver")]
    Build {
        /// hickory's error.
        #[source]
        source: NetError,
    },
}

/// The resolver: hickory plus the addresses already settled per host.
pub(crate) struct Dns {
    resolver: TokioResolver,
    label: String,
    settled: Mutex<HashMap<String, Vec<IpAddr>>>,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns")
            .field("resolver", &self.label)
            .finish_non_exhaustive()
    }
}

impl Dns {
    pub(crate) fn new(config: &DnsConfig) -> Result<Dns, DnsSetupError> {
        let provider = TokioRuntimeProvider::default();
        let (mut builder, label) = match config {
            DnsConfig::System => (
                TokioResolver::builder(provider)
                    .map_err(|source| DnsSetupError::SystemConfig { source })?,
                "the system resolver".to_owned(),
            ),
            DnsConfig::Server(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                let cfg = ResolverConfig::from_name_servers(vec![ns]);
                let mut b = TokioResolver::builder_with_config(cfg, provider);
                b.options_mut().use_hosts_file = ResolveHosts::Never;
                (b, format!("DNS server {addr}"))
            }
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        // Our own deadline bounds the wait; these only pace hickory's retries inside it.
        opts.timeout = Duration::from_secs(2);
        opts.attempts = 2;
        let resolver = builder
            .build()
            .map_err(|source| DnsSetupError::Build { source })?;
        Ok(Dns {
            resolver,
            label,
            settled: Mutex::new(HashMap::new()),
        })
    }

    /// Which resolver this is, for messages.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The addresses for an HTTP connection: those the `dns` stage settled on, else a lookup.
    pub(crate) async fn resolve(
        &self,
        host: &str,
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, DnsFailure> {
        if let Some(ips) = self.settled_for(host) {
            return Ok(ips);
        }
        self.lookup(host, deadline).await
    }

    /// Asks the resolver for `host` (A and AAAA) before `deadline`, ignoring what was settled
    /// before. IP literals resolve to themselves.
    pub(crate) async fn lookup(
        &self,
        host: &str,
        deadline: Instant,
    ) -> Result<Vec<IpAddr>, DnsFailure> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let started = Instant::now();
        let fqdn = if host.ends_with('.') || !host.contains('.') {
            // A single label (`myregistry`) is what nodes resolve through their search domains.
            host.to_owned()
        } else {
            // A dotted registry host is fully qualified: do not walk the search list first.
            format!("{host}.")
        };
        let result = tokio::time::timeout_at(deadline, self.resolver.lookup_ip(fqdn)).await;
        let lookup = match result {
            Err(_) => {
                return Err(DnsFailure::Timeout {
                    host: host.to_owned(),
                    resolver: self.label.clone(),
                    waited_ms: started.elapsed().as_millis(),
                    source: None,
                });
            }
            Ok(Err(e)) => return Err(self.classify(host, &e, started)),
            Ok(Ok(lookup)) => lookup,
        };
        let ips: Vec<IpAddr> = lookup.iter().collect();
        if ips.is_empty() {
            return Err(DnsFailure::NoAddress {
                host: host.to_owned(),
                resolver: self.label.clone(),
                source: None,
            });
        }
        Ok(ips)
    }

    /// Records the addresses connections to `host` must use, the one that answered first.
    pub(crate) fn settle(&self, host: &str, ips: Vec<IpAddr>) {
        if let Ok(mut m) = self.settled.lock() {
            m.insert(host.to_ascii_lowercase(), ips);
        }
    }

    fn settled_for(&self, host: &str) -> Option<Vec<IpAddr>> {
        self.settled
            .lock()
            .ok()
            .and_then(|m| m.get(&host.to_ascii_lowercase()).cloned())
    }

    /// Classifies hickory's error for a lookup of `host` started at `started`.
    fn classify(&self, host: &str, e: &NetError, started: Instant) -> DnsFailure {
        let host = host.to_owned();
        let resolver = self.label.clone();
        let source = e.clone();
        match e {
            NetError::Dns(DnsError::NoRecordsFound(nr))
                if nr.response_code == ResponseCode::NXDomain =>
            {
                DnsFailure::NxDomain {
                    host,
                    resolver,
                    source,
                }
            }
            NetError::Dns(DnsError::NoRecordsFound(nr))
                if nr.response_code == ResponseCode::NoError =>
            {
                DnsFailure::NoAddress {
                    host,
                    resolver,
                    source: Some(source),
                }
            }
            NetError::Timeout => DnsFailure::Timeout {
                host,
                resolver,
                waited_ms: started.elapsed().as_millis(),
                source: Some(source),
            },
            NetError::Dns(
                DnsError::ResponseCode(code)
                | DnsError::NoRecordsFound(hickory_resolver::net::NoRecords {
                    response_code: code,
                    ..
                }),
            ) => DnsFailure::Answered {
                host,
                resolver,
                code: *code,
                source,
            },
            _ => DnsFailure::Server {
                host,
                resolver,
                source,
            },
        }
    }
}

/// Plugs [`Dns`] into reqwest, so HTTP connections use the addresses the check settled on.
#[derive(Debug, Clone)]
pub(crate) struct HttpResolver(pub(crate) Arc<Dns>);

impl reqwest::dns::Resolve for HttpResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = Arc::clone(&self.0);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // reqwest's own timeouts bound this too; this deadline keeps it finite regardless.
            let deadline = Instant::now() + Duration::from_secs(30);
            let ips = dns.resolve(&host, deadline).await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}
