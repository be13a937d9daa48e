//! Diagnoses of the network layer's failures, for whichever stage met them: one function per
//! failure enum, so a DNS, TCP, TLS or HTTP failure reads the same in every stage.

use std::fmt::Write as _;

use tokio::time::Instant;

use crate::diagnosis::{Code, Diagnosis, Stage};
use crate::model::ratelimit::{self, RateLimit};
use crate::model::wire;
use crate::net::dns::DnsFailure;
use crate::net::proxy::ProxyFailure;
use crate::net::tls;
use crate::net::{http::HttpFailure, tcp::TcpFailure, tls::TlsFailure};

/// The diagnosis for a 429, with `Retry-After` and the rate-limit headers.
pub(crate) fn rate_limited(
    stage: Stage,
    url: &str,
    retry_after: Option<&str>,
    limit: Option<&RateLimit>,
    body: &str,
) -> Diagnosis {
    let mut msg = format!("{url} answered 429 Too Many Requests");
    if let Some(rl) = limit {
        let _ = write!(msg, " ({})", rl.describe());
    }
    let hub_message = wire::decode_errors(body.as_bytes()).into_iter().next();
    if let Some(e) = hub_message {
        let _ = write!(msg, ": {}", e.message);
    }
    let mut d = Diagnosis::new(Code::RateLimited, stage, msg);
    if let Some(wait) = retry_after.and_then(ratelimit::parse_retry_after) {
        d = d.with_hint(format!(
            "retry after {} s (Retry-After); authenticate (docker login / imagePullSecrets) for a higher limit, or mirror the image",
            wait.as_secs()
        ));
    }
    d
}

/// A diagnosis for a DNS failure.
pub(crate) fn dns_diagnosis(f: &DnsFailure) -> Diagnosis {
    let code = match f {
        DnsFailure::NxDomain { .. } => Code::DnsNxdomain,
        DnsFailure::NoAddress { .. } => Code::DnsNoAddress,
        DnsFailure::Timeout { .. } => Code::DnsTimeout,
        DnsFailure::Config { .. } => Code::DnsConfig,
        DnsFailure::Answered { .. } | DnsFailure::Server { .. } => Code::DnsError,
    };
    Diagnosis::new(code, Stage::Dns, f.to_string())
}

/// A diagnosis for a failed connect to every address.
pub(crate) fn tcp_diagnosis(authority: &str, failures: &[TcpFailure]) -> Diagnosis {
    let code = if failures
        .iter()
        .any(|f| matches!(f, TcpFailure::Timeout { .. }))
    {
        Code::TcpTimeout
    } else if !failures.is_empty()
        && failures
            .iter()
            .all(|f| matches!(f, TcpFailure::Refused { .. }))
    {
        Code::TcpRefused
    } else {
        Code::TcpUnreachable
    };
    let each = match failures {
        // One address: the authority already names it.
        [only] => {
            let text = only.to_string();
            text.split_once(": ")
                .map_or_else(|| text.clone(), |(_, why)| why.to_owned())
        }
        many => many
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    };
    Diagnosis::new(
        code,
        Stage::Tcp,
        format!("cannot connect to {authority}: {each}"),
    )
}

/// `proxy-error` for the node's proxy failing on the way to `target` (a URL or `host:port`), at
/// `stage`: `dns` for the proxy's own name, `tcp` for the connection and the tunnel.
pub(crate) fn proxy_diagnosis(f: &ProxyFailure, stage: Stage, target: &str) -> Diagnosis {
    let hint = match f {
        ProxyFailure::Resolve { .. } => {
            "the proxy's own name does not resolve: check --proxy (the runtime's HTTPS_PROXY) and the DNS the nodes use".to_owned()
        }
        ProxyFailure::Connect { .. } => {
            "nothing accepts connections at the proxy's address: check that the proxy runs and --proxy's host and port (the runtime's HTTPS_PROXY)".to_owned()
        }
        // 407 is the standard's; some proxies (tinyproxy) answer 401.
        ProxyFailure::Refused {
            status: 401 | 407, ..
        } => {
            "the proxy wants credentials: give them in the proxy URL (http://USER:PASSWORD@HOST:PORT), as the runtime's HTTPS_PROXY must".to_owned()
        }
        ProxyFailure::Refused { status: 403 | 405, target, .. } => format!(
            "the proxy forbids a tunnel to {target}: allow CONNECT to that port in its rules (squid http_access / SSL_ports, tinyproxy ConnectPort), or list the registry in --no-proxy (the runtime's NO_PROXY) if the nodes reach it directly"
        ),
        ProxyFailure::Refused { status: 502..=504, target, .. } => format!(
            "the proxy cannot resolve or reach {target} itself: its DNS and network must reach the registry, or list the registry in --no-proxy (the runtime's NO_PROXY) if the nodes reach it directly"
        ),
        ProxyFailure::Malformed { .. } => {
            "this address does not answer like an HTTP proxy: check --proxy's host and port (the runtime's HTTPS_PROXY)".to_owned()
        }
        ProxyFailure::Refused { .. }
        | ProxyFailure::Tunnel { .. }
        | ProxyFailure::Timeout { .. }
        | ProxyFailure::Io { .. } => Code::ProxyError.hint().to_owned(),
    };
    Diagnosis::new(Code::ProxyError, stage, format!("{target}: {f}")).with_hint(hint)
}

/// A diagnosis for a failed handshake; `seen` is the certificate read without verification.
pub(crate) fn tls_diagnosis(
    f: &TlsFailure,
    authority: &str,
    seen: Option<&tls::CertificateSummary>,
) -> Diagnosis {
    let code = match f {
        TlsFailure::UnknownIssuer { .. } => Code::TlsUnknownIssuer,
        TlsFailure::Expired { .. } => Code::TlsExpired,
        TlsFailure::HostnameMismatch { .. } => Code::TlsHostnameMismatch,
        TlsFailure::ServerSpeaksHttp => Code::TlsServerSpeaksHttp,
        TlsFailure::Timeout { .. } => Code::Timeout,
        _ => Code::TlsHandshake,
    };
    let mut msg = format!("{authority}: {f}");
    if let Some(cert) = seen {
        let _ = write!(msg, " ({})", cert.describe());
    }
    Diagnosis::new(code, Stage::Tls, msg)
}

/// A diagnosis for an HTTP exchange that failed below the HTTP level.
pub(crate) fn http_diagnosis(f: &HttpFailure, stage: Stage, url: &str) -> Diagnosis {
    match f {
        HttpFailure::Timeout => Diagnosis::new(
            Code::Timeout,
            stage,
            format!("{url}: no answer before the deadline"),
        ),
        HttpFailure::Connect(t) => tcp_diagnosis(url, std::slice::from_ref(t)),
        HttpFailure::Tls(t) => tls_diagnosis(t, url, None),
        // Where reqwest met it, as a connect failure is: on the way to the host.
        HttpFailure::Proxy(p) => proxy_diagnosis(p, Stage::Tcp, url),
        HttpFailure::Redirects { detail } => Diagnosis::new(
            Code::RegistryError,
            stage,
            format!("{url}: the registry's redirects do not end: {detail}"),
        ),
        HttpFailure::Protocol { detail } => Diagnosis::new(
            Code::RegistryError,
            stage,
            format!("{url}: the registry broke the HTTP exchange: {detail}"),
        ),
        HttpFailure::BodyTooLarge { limit } => Diagnosis::new(
            Code::RegistryError,
            stage,
            format!("{url}: the response body is larger than {limit} bytes"),
        ),
    }
}

/// A diagnosis for a deadline passed while waiting on `url`.
pub(crate) fn timeout_diagnosis(stage: Stage, url: &str, started: Instant) -> Diagnosis {
    late_diagnosis(stage, &format!("{url}: no answer"), started)
}

/// `timeout` in `stage`: `what` did not happen within the time since `started`, which ended
/// at the image's deadline.
pub(crate) fn late_diagnosis(stage: Stage, what: &str, started: Instant) -> Diagnosis {
    Diagnosis::new(
        Code::Timeout,
        stage,
        format!(
            "{what} within {} ms, before the deadline of this image",
            started.elapsed().as_millis()
        ),
    )
}
