//! The registry-wide stages — `dns`, `tcp`, `tls`, then [`ping`](super::ping) — run once per
//! registry endpoint and shared by every image on it.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::diagnosis::Diagnosis;
use crate::diagnosis::Stage;
use crate::diagnosis::network::{dns_diagnosis, proxy_diagnosis, tcp_diagnosis, tls_diagnosis};
use crate::model::challenge::Challenge;
use crate::model::ratelimit::RateLimit;
use crate::net::Net;
use crate::net::dns::DnsFailure;
use crate::net::proxy::{self, ProxyFailure, ProxyUrl};
use crate::net::{TlsMode, tls::TlsFailure};
use crate::net::{tcp, tls};
use crate::registry::endpoint::Endpoint;
use crate::report::StageResult;
use crate::stages::Trail;
use crate::stages::ping::ping;

/// A registry that answered `/v2/` like a registry.
#[derive(Debug, Clone)]
pub(crate) struct Pinged {
    /// How it wants to be authenticated; `None` when `/v2/` answered 200.
    pub(crate) challenge: Option<Challenge>,
}

/// The outcome of the registry-wide stages.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub(crate) stages: Vec<StageResult>,
    pub(crate) outcome: Result<Pinged, Diagnosis>,
    pub(crate) rate_limit: Option<RateLimit>,
    /// What the `dns` and `tls` stages saw.
    pub(crate) reached: Reached,
}

/// What reaching a host showed: its addresses and, over TLS, its certificate.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reached {
    pub(crate) addresses: Vec<std::net::IpAddr>,
    pub(crate) certificate: Option<tls::CertificateSummary>,
}

/// Runs dns → tcp → tls → ping for one endpoint.
pub(crate) async fn probe(net: &Net, ep: &Endpoint, deadline: Instant) -> Probe {
    let mut log = Trail::default();
    let mut rate_limit = None;
    let mut reached = Reached::default();
    let outcome = match reach(net, ep, deadline, &mut log, &mut reached).await {
        Ok(connected) => ping(net, ep, connected, deadline, &mut log, &mut rate_limit).await,
        Err(d) => Err(d),
    };
    Probe {
        stages: log.stages,
        outcome,
        rate_limit,
        reached,
    }
}

/// The `dns`, `tcp` and `tls` stages: the registry's address that answered — `None` when it
/// was reached through the node's proxy — or why it could not be reached.
pub(crate) async fn reach(
    net: &Net,
    ep: &Endpoint,
    deadline: Instant,
    log: &mut Trail,
    reached: &mut Reached,
) -> Result<Option<SocketAddr>, Diagnosis> {
    if let Some(proxy) = net.proxy_for(&ep.host, ep.port) {
        return reach_via_proxy(net, ep, proxy, deadline, log).await;
    }
    // dns
    let started = Instant::now();
    // Always a fresh answer: a long-lived checker must see a registry move or disappear.
    let ips = match net.dns.lookup(&ep.host, deadline).await {
        Ok(ips) => ips,
        Err(f) => return Err(log.fail(started, dns_diagnosis(&f))),
    };
    reached.addresses.clone_from(&ips);
    let detail = if ep.host.parse::<std::net::IpAddr>().is_ok() {
        format!("{} is an IP address, nothing to resolve", ep.host)
    } else {
        format!("{} → {} (via {})", ep.host, listed(&ips), net.dns.label())
    };
    log.pass(Stage::Dns, started, detail);

    // tcp
    let started = Instant::now();
    let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, ep.port)).collect();
    let (stream, connected) = match tcp::connect_any(&addrs, deadline).await {
        Ok(ok) => ok,
        Err(failures) => return Err(log.fail(started, tcp_diagnosis(&ep.authority(), &failures))),
    };
    // The HTTP client must reach the address that answered, not one that black-holes.
    net.dns.settle(&ep.host, settled(&ips, connected.ip()));
    log.pass(Stage::Tcp, started, format!("connected to {connected}"));

    // tls
    if ep.mode == TlsMode::PlainHttp {
        drop(stream);
    } else {
        tls_stage(
            net,
            ep,
            stream,
            Route::Direct(connected),
            deadline,
            log,
            reached,
        )
        .await?;
    }
    Ok(Some(connected))
}

/// The same stages through the node's proxy, as a runtime takes them: `dns` resolves the proxy
/// (the proxy resolves the registry), `tcp` connects to it and, for HTTPS, opens a `CONNECT`
/// tunnel, and `tls` handshakes with the registry through the tunnel. Plain HTTP goes to the
/// proxy in absolute form, by the HTTP client: `tcp` only connects to the proxy.
async fn reach_via_proxy(
    net: &Net,
    ep: &Endpoint,
    proxy: &ProxyUrl,
    deadline: Instant,
    log: &mut Trail,
) -> Result<Option<SocketAddr>, Diagnosis> {
    // dns
    let started = Instant::now();
    let proxy_host = proxy.bare_host();
    let ips = match net.dns.lookup(proxy_host, deadline).await {
        Ok(ips) => ips,
        // No resolver at all: the proxy is not at fault.
        Err(f @ DnsFailure::Config { .. }) => return Err(log.fail(started, dns_diagnosis(&f))),
        Err(source) => {
            let f = ProxyFailure::Resolve {
                proxy: proxy.to_string(),
                source,
            };
            return Err(log.fail(started, proxy_diagnosis(&f, Stage::Dns, &ep.authority())));
        }
    };
    let resolved = if proxy_host.parse::<std::net::IpAddr>().is_ok() {
        format!("{proxy_host} is an IP address")
    } else {
        format!("{proxy_host} → {} (via {})", listed(&ips), net.dns.label())
    };
    log.pass(
        Stage::Dns,
        started,
        format!(
            "{} via proxy {proxy}, which resolves it; {resolved}",
            ep.host
        ),
    );

    // tcp
    let started = Instant::now();
    let target = proxy::target_authority(&ep.host, ep.port);
    if ep.mode == TlsMode::PlainHttp {
        let (stream, addr) = proxy::connect(proxy, &ips, deadline)
            .await
            .map_err(|f| log.fail(started, proxy_diagnosis(&f, Stage::Tcp, &ep.authority())))?;
        drop(stream);
        net.dns.settle(proxy_host, settled(&ips, addr.ip()));
        log.pass(
            Stage::Tcp,
            started,
            format!("connected to proxy {proxy} at {addr}; requests for {target} go through it"),
        );
        return Ok(None);
    }
    let tunnel = proxy::tunnel(proxy, &ips, &target, deadline)
        .await
        .map_err(|f| log.fail(started, proxy_diagnosis(&f, Stage::Tcp, &ep.authority())))?;
    net.dns
        .settle(proxy_host, settled(&ips, tunnel.proxy_addr.ip()));
    log.pass(
        Stage::Tcp,
        started,
        format!(
            "connected to proxy {proxy} at {}, CONNECT {target} → {}",
            tunnel.proxy_addr, tunnel.status_line
        ),
    );

    // tls
    let route = Route::Proxy {
        proxy,
        ips: &ips,
        target: &target,
    };
    tls_stage(
        net,
        ep,
        tunnel.stream,
        route,
        deadline,
        log,
        &mut Reached::default(),
    )
    .await?;
    Ok(None)
}

/// How the registry was reached, to reach it again for a second look at its certificate.
enum Route<'a> {
    Direct(SocketAddr),
    Proxy {
        proxy: &'a ProxyUrl,
        ips: &'a [IpAddr],
        target: &'a str,
    },
}

impl Route<'_> {
    /// The registry's own address, when it was reached directly.
    fn direct(&self) -> Option<SocketAddr> {
        match self {
            Route::Direct(addr) => Some(*addr),
            Route::Proxy { .. } => None,
        }
    }

    /// A new connection to the registry along the same route.
    async fn reconnect(&self, deadline: Instant) -> Option<TcpStream> {
        match self {
            Route::Direct(addr) => tokio::time::timeout_at(deadline, TcpStream::connect(addr))
                .await
                .ok()?
                .ok(),
            Route::Proxy { proxy, ips, target } => proxy::tunnel(proxy, ips, target, deadline)
                .await
                .ok()
                .map(|t| t.stream),
        }
    }
}

/// The `tls` stage over `stream`.
async fn tls_stage(
    net: &Net,
    ep: &Endpoint,
    stream: TcpStream,
    route: Route<'_>,
    deadline: Instant,
    log: &mut Trail,
    reached: &mut Reached,
) -> Result<(), Diagnosis> {
    let started = Instant::now();
    let config = net.tls.for_mode(ep.mode);
    match tls::handshake(stream, route.direct(), &ep.host, config, deadline).await {
        Ok(session) => {
            let mut detail = session.version.clone();
            if let Some(alpn) = &session.alpn {
                let _ = write!(detail, ", ALPN {alpn}");
            }
            if let Some(cert) = &session.certificate {
                let _ = write!(detail, ", {}", cert.describe());
            }
            if ep.mode == TlsMode::SkipVerify {
                detail.push_str(" (not verified: --insecure-skip-tls-verify)");
            }
            if let Route::Proxy { .. } = route {
                detail.push_str(" (through the proxy's tunnel)");
            }
            reached.certificate = session.certificate;
            log.pass(Stage::Tls, started, detail);
            Ok(())
        }
        Err(f) => {
            let seen = match f {
                TlsFailure::UnknownIssuer { .. } | TlsFailure::Expired { .. } => {
                    match route.reconnect(deadline).await {
                        Some(stream) => {
                            tls::peek_certificate(
                                stream,
                                &ep.host,
                                Arc::clone(&net.tls.skip),
                                deadline,
                            )
                            .await
                        }
                        None => None,
                    }
                }
                _ => None,
            };
            let mut d = tls_diagnosis(&f, &ep.authority(), seen.as_ref());
            if matches!(f, TlsFailure::UnknownIssuer { .. }) {
                let _ = write!(
                    d.message,
                    "; trusted: {} root certificates from the system store and --ca-file",
                    net.tls.roots()
                );
            }
            Err(log.fail(started, d))
        }
    }
}

/// `a, b, c`.
fn listed(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The addresses in the order connections must try them: the one that answered first.
fn settled(ips: &[IpAddr], first: IpAddr) -> Vec<IpAddr> {
    let mut settled = vec![first];
    settled.extend(ips.iter().copied().filter(|ip| *ip != first));
    settled
}
