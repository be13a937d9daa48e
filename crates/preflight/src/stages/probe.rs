//! The registry-wide stages — `dns`, `tcp`, `tls`, `ping` — run once per registry endpoint and
//! shared by every image on it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;
use tokio::time::Instant;

use crate::diagnosis::{Code, Diagnosis, Stage};
use crate::model::challenge::Challenge;
use crate::model::ratelimit::{self, RateLimit};
use crate::model::wire;
use crate::net::dns::{Dns, DnsFailure};
use crate::net::transport::{
    self, HttpClients, HttpFailure, TcpFailure, TlsConfigs, TlsFailure, TlsMode,
};
use crate::report::StageResult;

/// The most of a `/v2/` body read to tell a registry from a web page.
const PING_BODY_LIMIT: usize = 64 * 1024;

/// Where one registry is reached and how.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Endpoint {
    /// The host to resolve and to name in TLS (no brackets around IPv6).
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) mode: TlsMode,
}

impl Endpoint {
    /// `host:port` as it goes in a URL (IPv6 in brackets).
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `https://host:port` (or `http://`).
    pub(crate) fn base_url(&self) -> String {
        format!("{}://{}", self.mode.scheme(), self.authority())
    }
}

/// The shared machinery every stage uses.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) dns: Arc<Dns>,
    pub(crate) tls: TlsConfigs,
    pub(crate) http: HttpClients,
}

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
    pub(crate) certificate: Option<transport::CertificateSummary>,
}

/// Records stage results with their timings.
#[derive(Debug, Default)]
pub(crate) struct StageLog {
    pub(crate) stages: Vec<StageResult>,
}

impl StageLog {
    pub(crate) fn pass(&mut self, stage: Stage, started: Instant, detail: impl Into<String>) {
        self.push(stage, started, true, Some(detail.into()));
    }

    pub(crate) fn fail(&mut self, started: Instant, d: Diagnosis) -> Diagnosis {
        self.push(d.stage, started, false, None);
        d
    }

    fn push(&mut self, stage: Stage, started: Instant, ok: bool, detail: Option<String>) {
        let ms = elapsed_ms(started);
        tracing::debug!(%stage, ok, elapsed_ms = ms, detail = detail.as_deref().unwrap_or(""), "stage finished");
        self.stages.push(StageResult {
            stage,
            ok,
            elapsed_ms: ms,
            detail,
            shared: false,
        });
    }
}

/// Milliseconds since `started`, to a tenth: as precise as a network timing deserves.
pub(crate) fn elapsed_ms(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}

/// Runs dns → tcp → tls → ping for one endpoint.
pub(crate) async fn probe(net: &Net, ep: &Endpoint, deadline: Instant) -> Probe {
    let mut log = StageLog::default();
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
    log: &mut StageLog,
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
    let (stream, connected) = match transport::connect_any(&addrs, deadline).await {
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
        match transport::handshake(stream, connected, &ep.host, config, deadline).await {
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
                        transport::peek_certificate(
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

/// The `ping` stage: `GET /v2/`, and how the registry wants to be authenticated.
async fn ping(
    net: &Net,
    ep: &Endpoint,
    connected: SocketAddr,
    deadline: Instant,
    log: &mut StageLog,
    rate_limit: &mut Option<RateLimit>,
) -> Result<Pinged, Diagnosis> {
    let started = Instant::now();
    let url = format!("{}/v2/", ep.base_url());
    let client = net.http.for_mode(ep.mode);
    let sent = tokio::time::timeout_at(deadline, client.get(&url).send()).await;
    let resp = match sent {
        Err(_) => return Err(log.fail(started, timeout_diagnosis(Stage::Ping, &url, started))),
        Ok(Err(e)) => {
            let failure = transport::classify_reqwest(&e, &ep.host);
            if ep.mode == TlsMode::PlainHttp
                && matches!(failure, HttpFailure::Protocol { .. })
                && transport::speaks_tls(connected, &ep.host, Arc::clone(&net.tls.skip), deadline)
                    .await
            {
                return Err(log.fail(started, plain_http_to_tls(&ep.authority())));
            }
            return Err(log.fail(started, http_diagnosis(&failure, Stage::Ping, &url)));
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    *rate_limit = RateLimit::from_headers(|n| headers.get(n).and_then(|v| v.to_str().ok()));
    let api_version = headers
        .get("docker-distribution-api-version")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let challenge = headers
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(Challenge::parse);
    let body = transport::read_body(resp, PING_BODY_LIMIT, &ep.host, deadline).await;
    // A body that outlives the deadline is this stage's timeout, not something later stages
    // should inherit with no time left. A body that is cut short or too long just says nothing.
    if matches!(body, Err(HttpFailure::Timeout)) {
        let what = format!("{url} answered {status} but its body did not finish");
        return Err(log.fail(started, late_diagnosis(Stage::Ping, &what, started)));
    }
    let text = body
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();

    let version_note = api_version
        .as_deref()
        .map(|v| format!(", {v}"))
        .unwrap_or_default();
    match status {
        StatusCode::OK if api_version.is_some() || looks_like_json_object(&text) => {
            log.pass(
                Stage::Ping,
                started,
                format!("GET /v2/ → 200{version_note}, no authentication asked"),
            );
            Ok(Pinged { challenge: None })
        }
        StatusCode::UNAUTHORIZED => match challenge {
            // Any scheme passes here; the auth stage explains one nobody speaks.
            Some(c) => {
                log.pass(
                    Stage::Ping,
                    started,
                    format!("GET /v2/ → 401{version_note}, {}", describe_challenge(&c)),
                );
                Ok(Pinged { challenge: Some(c) })
            }
            None if api_version.is_some() => Err(log.fail(
                started,
                Diagnosis::new(
                    Code::RegistryError,
                    Stage::Ping,
                    format!("{url} answered 401 without a WWW-Authenticate challenge"),
                ),
            )),
            None => Err(log.fail(started, not_a_registry(&url, status, &text))),
        },
        // Go says "Client sent an HTTP request to an HTTPS server", nginx "The plain HTTP request
        // was sent to HTTPS port": rather than trust wording, ask the port for TLS.
        StatusCode::BAD_REQUEST
            if ep.mode == TlsMode::PlainHttp
                && (text.contains("HTTPS server")
                    || transport::speaks_tls(connected, &ep.host, Arc::clone(&net.tls.skip), deadline)
                        .await) =>
        {
            Err(log.fail(started, plain_http_to_tls(&ep.authority())))
        }
        StatusCode::FORBIDDEN if api_version.is_some() => Err(log.fail(
            started,
            Diagnosis::new(
                Code::AccessDenied,
                Stage::Ping,
                format!("{url} refuses this client (403){}", said(&text)),
            )
            .with_hint("the registry refuses this client before any login: check IP allow-lists, firewall or WAF rules in front of it, for CI and for the nodes"),
        )),
        StatusCode::TOO_MANY_REQUESTS => {
            let retry = headers.get("retry-after").and_then(|v| v.to_str().ok());
            Err(log.fail(started, rate_limited(Stage::Ping, &url, retry, rate_limit.as_ref(), &text)))
        }
        s if s.is_server_error() => Err(log.fail(
            started,
            Diagnosis::new(
                Code::RegistryError,
                Stage::Ping,
                format!("{url} answered {s}{}", said(&text)),
            ),
        )),
        s => Err(log.fail(
            started,
            if api_version.is_some() {
                Diagnosis::new(
                    Code::NotARegistry,
                    Stage::Ping,
                    format!("{url} answered {s}: it names a registry API version but does not serve /v2/"),
                )
            } else {
                not_a_registry(&url, s, &text)
            },
        )),
    }
}

fn looks_like_json_object(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

pub(crate) fn describe_challenge(c: &Challenge) -> String {
    match c {
        Challenge::Basic { realm } => match realm {
            Some(r) => format!("Basic authentication (realm {r:?})"),
            None => "Basic authentication".to_owned(),
        },
        Challenge::Bearer(b) => {
            let mut s = format!(
                "token authentication at {}",
                b.realm.as_deref().unwrap_or("(no realm)")
            );
            if let Some(service) = &b.service {
                let _ = write!(s, " for service {service}");
            }
            s
        }
        Challenge::Other { scheme } => format!("{scheme} authentication"),
    }
}

/// `: <the registry's error message>` when the body carries one, else empty.
pub(crate) fn said(body: &str) -> String {
    wire::decode_errors(body.as_bytes())
        .into_iter()
        .next()
        .map(|e| format!(": {}", e.message))
        .unwrap_or_default()
}

fn not_a_registry(url: &str, status: StatusCode, body: &str) -> Diagnosis {
    let what = if body.trim_start().starts_with('<') {
        " with an HTML page"
    } else {
        ""
    };
    Diagnosis::new(
        Code::NotARegistry,
        Stage::Ping,
        format!(
            "{url} answered {status}{what} and no Docker-Distribution-API-Version header: this is not a registry API"
        ),
    )
}

fn plain_http_to_tls(authority: &str) -> Diagnosis {
    Diagnosis::new(
        Code::PlainHttpToTls,
        Stage::Ping,
        format!("{authority} expects TLS, but --plain-http was given for it"),
    )
}

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
        _ => Code::DnsError,
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

/// A diagnosis for a failed handshake; `seen` is the certificate read without verification.
pub(crate) fn tls_diagnosis(
    f: &TlsFailure,
    authority: &str,
    seen: Option<&transport::CertificateSummary>,
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
