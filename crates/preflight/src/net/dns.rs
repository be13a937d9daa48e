//! Name resolution through hickory-resolver, shared by the `dns` stage and by every HTTP
//! connection: the addresses the check resolved are the addresses it connects to.
//!
//! The first layer of `net`: it imports none of the others. A hickory error is classified
//! here, in `Dns::classify`, and only here, so the `dns` stage and the HTTP layer (which meets
//! these failures inside reqwest's errors) tell an NXDOMAIN from a timeout the same way.
//!
//! The resolver is built on the first name that needs resolving, once per run and shared by
//! every image (`Dns::resolver`): a check of IP-literal registries, or a command that resolves
//! nothing, never reads the resolver configuration. A configuration that is missing, unreadable
//! or unusable is a `DnsFailure::Config` of each lookup, kept from the first attempt, so every
//! image that needed a name is told the same thing.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use tokio::time::Instant;

/// The system's resolver configuration, which [`DnsConfig::System`] reads.
pub const SYSTEM_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Which DNS servers to ask. Whatever it names is read on the first name to resolve, not before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsConfig {
    /// The system's configuration ([`SYSTEM_RESOLV_CONF`], `/etc/hosts`).
    #[default]
    System,
    /// One server, asked over UDP and TCP.
    Server(SocketAddr),
    /// The servers, search domains and options of this `resolv.conf` file (for example a copy
    /// of a node's), instead of the system's; `/etc/hosts` still applies.
    ResolvConf(PathBuf),
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
    /// No resolver: its configuration is missing, unreadable or unusable. Nothing was asked.
    #[error("cannot resolve {host}: {problem}")]
    Config {
        /// The name to look up.
        host: String,
        /// What is wrong, naming the file: the same for every name of the run.
        problem: String,
    },
}

/// The resolver, built on first use: hickory plus the addresses already settled per host.
pub(crate) struct Dns {
    config: DnsConfig,
    label: String,
    /// hickory's resolver, or why there is none (naming the file); set once, by the first
    /// lookup of a name, and shared by every image of the run.
    resolver: tokio::sync::OnceCell<Result<TokioResolver, String>>,
    settled: Mutex<HashMap<String, Vec<IpAddr>>>,
    /// How many times a resolver was built (or failed to be): one at most.
    #[cfg(test)]
    builds: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns")
            .field("resolver", &self.label)
            .finish_non_exhaustive()
    }
}

impl Dns {
    /// A resolver for `config`, built when the first name needs it: nothing is read yet.
    pub(crate) fn new(config: &DnsConfig) -> Dns {
        let label = match config {
            DnsConfig::System => "the system resolver".to_owned(),
            DnsConfig::Server(addr) => format!("DNS server {addr}"),
            DnsConfig::ResolvConf(path) => format!("the resolvers of {}", path.display()),
        };
        Dns {
            config: config.clone(),
            label,
            resolver: tokio::sync::OnceCell::new(),
            settled: Mutex::new(HashMap::new()),
            #[cfg(test)]
            builds: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// hickory's resolver, built by the first caller (the others wait for it), or why it cannot
    /// be. The configuration is read on a blocking thread, within `deadline`; a read cut short by
    /// the deadline is tried again by the next caller.
    async fn resolver(&self, host: &str, deadline: Instant) -> Result<&TokioResolver, DnsFailure> {
        let started = Instant::now();
        let built = self.resolver.get_or_try_init(|| async {
            let config = self.config.clone();
            let read = tokio::task::spawn_blocking(move || build(&config));
            let built = match tokio::time::timeout_at(deadline, read).await {
                Err(_) => return Err(()),
                Ok(Ok(built)) => built,
                Ok(Err(e)) => Err(format!("the resolver could not be set up: {e}")),
            };
            #[cfg(test)]
            self.builds
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(built)
        });
        match built.await {
            Ok(Ok(resolver)) => Ok(resolver),
            Ok(Err(problem)) => Err(DnsFailure::Config {
                host: host.to_owned(),
                problem: problem.clone(),
            }),
            Err(()) => Err(DnsFailure::Timeout {
                host: host.to_owned(),
                resolver: self.label.clone(),
                waited_ms: started.elapsed().as_millis(),
                source: None,
            }),
        }
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
        let resolver = self.resolver(host, deadline).await?;
        let result = tokio::time::timeout_at(deadline, resolver.lookup_ip(fqdn)).await;
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

/// Builds hickory's resolver for `config`, or says why it cannot, naming the file. Blocking: it
/// reads the configuration.
fn build(config: &DnsConfig) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = match config {
        DnsConfig::System => system_builder(provider)?,
        DnsConfig::ResolvConf(path) => resolv_conf_builder(path, provider)?,
        DnsConfig::Server(addr) => {
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            let cfg = ResolverConfig::from_name_servers(vec![ns]);
            let mut b = TokioResolver::builder_with_config(cfg, provider);
            b.options_mut().use_hosts_file = ResolveHosts::Never;
            b
        }
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    // Our own deadline bounds the wait; these only pace hickory's retries inside it.
    opts.timeout = Duration::from_secs(2);
    opts.attempts = 2;
    builder
        .build()
        .map_err(|e| format!("the DNS resolver cannot be built: {e}"))
}

/// The system's configuration: [`SYSTEM_RESOLV_CONF`], read as any other `resolv.conf`.
#[cfg(all(unix, not(any(target_os = "android", target_vendor = "apple"))))]
fn system_builder(
    provider: TokioRuntimeProvider,
) -> Result<hickory_resolver::ResolverBuilder<TokioRuntimeProvider>, String> {
    resolv_conf_builder(Path::new(SYSTEM_RESOLV_CONF), provider)
}

/// The system's configuration, where it is not a `resolv.conf` file: hickory reads it.
#[cfg(not(all(unix, not(any(target_os = "android", target_vendor = "apple")))))]
fn system_builder(
    provider: TokioRuntimeProvider,
) -> Result<hickory_resolver::ResolverBuilder<TokioRuntimeProvider>, String> {
    TokioResolver::builder(provider)
        .map_err(|e| format!("the system's resolver configuration cannot be read: {e}"))
}

/// The largest `resolv.conf` read: far more than any real one.
const RESOLV_CONF_LIMIT: u64 = 64 * 1024;

/// A builder with the servers, search domains and options of the `resolv.conf` at `path`.
#[cfg(all(unix, not(any(target_os = "android", target_vendor = "apple"))))]
fn resolv_conf_builder(
    path: &Path,
    provider: TokioRuntimeProvider,
) -> Result<hickory_resolver::ResolverBuilder<TokioRuntimeProvider>, String> {
    use std::io::Read as _;
    let shown = path.display();
    let unreadable = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("the resolver configuration {shown} does not exist")
        }
        _ => format!("the resolver configuration {shown} cannot be read: {e}"),
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(RESOLV_CONF_LIMIT + 1).read_to_end(&mut bytes))
        .map_err(unreadable)?;
    if bytes.len() as u64 > RESOLV_CONF_LIMIT {
        return Err(format!(
            "the resolver configuration {shown} is larger than {} KiB",
            RESOLV_CONF_LIMIT / 1024
        ));
    }
    let (config, options) = parse_resolv_conf(&bytes)
        .map_err(|problem| format!("the resolver configuration {shown} is unusable: {problem}"))?;
    let mut builder = TokioResolver::builder_with_config(config, provider);
    *builder.options_mut() = options;
    Ok(builder)
}

/// The servers, search domains and options of a `resolv.conf`, as hickory reads it (lines it
/// cannot read are skipped, as the C library skips them); or, when that leaves nothing usable
/// (no nameserver, a search domain that is no name), why, with the lines skipped (from 1).
#[cfg(all(unix, not(any(target_os = "android", target_vendor = "apple"))))]
pub(crate) fn parse_resolv_conf(bytes: &[u8]) -> Result<(ResolverConfig, ResolverOpts), String> {
    use resolv_conf::ParseError as E;
    /// The skipped lines named in a message, at most.
    const SHOWN: usize = 3;
    let why = match hickory_resolver::system_conf::parse_resolv_conf(bytes) {
        Ok(parsed) => return Ok(parsed),
        // The I/O error is hickory's words for the configuration it refused.
        Err(NetError::Io(io)) => io.to_string(),
        Err(e) => e.to_string(),
    };
    let (_, errors) = resolv_conf::Config::parse_with_errors(bytes);
    let skipped: Vec<String> = errors
        .iter()
        .take(SHOWN)
        .map(|e| match e {
            E::InvalidUtf8(line, _) => format!("line {}: not UTF-8", line + 1),
            E::InvalidValue(line) => format!("line {}: a missing or invalid value", line + 1),
            E::InvalidOptionValue(line) => {
                format!("line {}: an option with an invalid value", line + 1)
            }
            E::InvalidOption(line) => format!("line {}: an unknown option", line + 1),
            E::InvalidDirective(line) => format!("line {}: an unknown directive", line + 1),
            E::InvalidIp(line, err) => format!("line {}: not an IP address ({err})", line + 1),
            E::ExtraData(line) => format!("line {}: extra data at the end", line + 1),
        })
        .collect();
    if skipped.is_empty() {
        return Err(why);
    }
    let more = match errors.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!("; {n} more"),
    };
    Err(format!("{why} (skipped {}{more})", skipped.join("; ")))
}

/// A `resolv.conf` file, where hickory cannot parse one.
#[cfg(not(all(unix, not(any(target_os = "android", target_vendor = "apple")))))]
fn resolv_conf_builder(
    path: &Path,
    _provider: TokioRuntimeProvider,
) -> Result<hickory_resolver::ResolverBuilder<TokioRuntimeProvider>, String> {
    Err(format!(
        "the resolver configuration {} cannot be used: resolv.conf files are read on Linux and other Unixes only",
        path.display()
    ))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    fn config_problem(f: DnsFailure) -> String {
        match f {
            DnsFailure::Config { problem, .. } => problem,
            other => panic!("not a configuration failure: {other:?}"),
        }
    }

    #[tokio::test]
    async fn ip_literals_never_read_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("resolv.conf");
        let dns = Dns::new(&DnsConfig::ResolvConf(missing.clone()));
        for ip in ["10.0.0.5", "[::1]", "::1"] {
            assert!(dns.lookup(ip, soon()).await.is_ok(), "{ip}");
        }
        assert_eq!(dns.builds.load(Ordering::SeqCst), 0);
        let problem = config_problem(dns.lookup("registry.example", soon()).await.unwrap_err());
        assert_eq!(
            problem,
            format!(
                "the resolver configuration {} does not exist",
                missing.display()
            )
        );
        assert_eq!(dns.builds.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_lookups_build_one_resolver_for_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("resolv.conf");
        let dns = Arc::new(Dns::new(&DnsConfig::ResolvConf(missing.clone())));
        let lookups: Vec<_> = (0..32)
            .map(|i| {
                let dns = Arc::clone(&dns);
                tokio::spawn(async move { dns.lookup(&format!("r{i}.example"), soon()).await })
            })
            .collect();
        for l in lookups {
            let problem = config_problem(l.await.unwrap().unwrap_err());
            assert!(problem.contains("does not exist"), "{problem}");
        }
        assert_eq!(dns.builds.load(Ordering::SeqCst), 1);
        // What the first lookup found holds for the whole run, even once the file appears.
        std::fs::write(&missing, "nameserver 127.0.0.1\n").unwrap();
        let problem = config_problem(dns.lookup("late.example", soon()).await.unwrap_err());
        assert!(problem.contains("does not exist"), "{problem}");
        assert_eq!(dns.builds.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_usable_configuration_is_built_once_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        // Loopback only; whatever answers (or refuses), the resolver exists.
        std::fs::write(
            &path,
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        )
        .unwrap();
        let dns = Arc::new(Dns::new(&DnsConfig::ResolvConf(path)));
        let lookups: Vec<_> = (0..16)
            .map(|i| {
                let dns = Arc::clone(&dns);
                tokio::spawn(async move {
                    let deadline = Instant::now() + Duration::from_millis(300);
                    dns.lookup(&format!("r{i}.preflight.invalid"), deadline)
                        .await
                })
            })
            .collect();
        for l in lookups {
            if let Err(f) = l.await.unwrap() {
                assert!(!matches!(f, DnsFailure::Config { .. }), "{f}");
            }
        }
        assert_eq!(dns.builds.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unusable_configuration_names_the_file_and_the_lines_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(
            &path,
            "# comment\nsearch corp.example\nnameserver dns.corp.example\n",
        )
        .unwrap();
        let dns = Dns::new(&DnsConfig::ResolvConf(path.clone()));
        let f = dns.lookup("registry.example", soon()).await.unwrap_err();
        assert_eq!(
            f.to_string(),
            format!(
                "cannot resolve registry.example: the resolver configuration {} is unusable: \
                 no nameservers found in config (skipped line 3: not an IP address (invalid IP \
                 address syntax))",
                path.display()
            )
        );
    }

    #[tokio::test]
    async fn an_unreadable_configuration_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let dns = Dns::new(&DnsConfig::ResolvConf(dir.path().to_owned()));
        let problem = config_problem(dns.lookup("registry.example", soon()).await.unwrap_err());
        assert!(
            problem.starts_with(&format!(
                "the resolver configuration {} cannot be read: ",
                dir.path().display()
            )),
            "{problem}"
        );
    }

    #[tokio::test]
    async fn an_oversized_configuration_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        let line = "nameserver 127.0.0.1\n";
        std::fs::write(
            &path,
            line.repeat(usize::try_from(RESOLV_CONF_LIMIT).unwrap() / line.len() + 1),
        )
        .unwrap();
        let dns = Dns::new(&DnsConfig::ResolvConf(path));
        let problem = config_problem(dns.lookup("registry.example", soon()).await.unwrap_err());
        assert!(problem.ends_with("is larger than 64 KiB"), "{problem}");
    }

    #[test]
    fn skipped_lines_are_counted_from_one_and_capped() {
        let text = "bogus\nnameserver x\noptions ndots:x\nnameserver y\nnameserver z\n";
        let problem = parse_resolv_conf(text.as_bytes()).unwrap_err();
        assert_eq!(
            problem,
            "no nameservers found in config (skipped line 1: an unknown directive; line 2: not \
             an IP address (invalid IP address syntax); line 3: an option with an invalid value; \
             2 more)"
        );
        assert!(parse_resolv_conf(b"bogus\nnameserver 10.0.0.53\n").is_ok());
        assert_eq!(
            parse_resolv_conf(b"").unwrap_err(),
            "no nameservers found in config"
        );
    }
}
