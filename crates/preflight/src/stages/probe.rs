//! The registry-wide stages — `dns`, `tcp`, `tls`, then [`ping`](super::ping) — run once per
//! registry endpoint and shared by every image on it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::time::Instant;

use crate::diagnosis::Diagnosis;
use crate::diagnosis::Stage;
use crate::diagnosis::network::{dns_diagnosis, tcp_diagnosis, tls_diagnosis};
use crate::model::challenge::Challenge;
use crate::model::ratelimit::RateLimit;
use crate::net::Net;
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

/// The `dns`, `tcp` and `tls` stages: the address that answered, or why none did.
pub(crate) async fn reach(
    net: &Net,
    ep: &Endpoint,
    deadline: Instant,
    log: &mut Trail,
    reached: &mut Reached,
) -> Result<SocketAddr, Diagnosis> {
    // dns
    let started = Instant::now();
    // Always a fresh answer: a long-lived checker must see a registry move or disappear.
    let ips = match net.dns.lookup(&ep.host, deadline).await {
        Ok(ips) => ips,
        Err(f) => return Err(log.fail(started, dns_diagnosis(&f))),
    };
    reached.addresses.clone_from(&ips);
    let listed = ips
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let detail = if ep.host.parse::<std::net::IpAddr>().is_ok() {
        format!("{} is an IP address, nothing to resolve", ep.host)
    } else {
        format!("{} → {listed} (via {})", ep.host, net.dns.label())
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
    let mut settled = vec![connected.ip()];
    settled.extend(ips.iter().copied().filter(|ip| *ip != connected.ip()));
    net.dns.settle(&ep.host, settled);
    log.pass(Stage::Tcp, started, format!("connected to {connected}"));

    // tls
    if ep.mode == TlsMode::PlainHttp {
        drop(stream);
    } else {
        let started = Instant::now();
        let config = net.tls.for_mode(ep.mode);
        match tls::handshake(stream, connected, &ep.host, config, deadline).await {
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
                reached.certificate = session.certificate;
                log.pass(Stage::Tls, started, detail);
            }
            Err(f) => {
                let seen = match f {
                    TlsFailure::UnknownIssuer { .. } | TlsFailure::Expired { .. } => {
                        tls::peek_certificate(
                            connected,
                            &ep.host,
                            Arc::clone(&net.tls.skip),
                            deadline,
                        )
                        .await
                    }
                    _ => None,
                };
                let mut d = tls_diagnosis(&f, &ep.authority(), seen.as_ref());
                if matches!(f, TlsFailure::UnknownIssuer { .. }) {
                    let _ = write!(
                        d.message,
                        "; trusted: {} root certificates from the system store and --ca-file",
                        net.tls.roots
                    );
                }
                return Err(log.fail(started, d));
            }
        }
    }
    Ok(connected)
}
