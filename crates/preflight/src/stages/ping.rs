//! The `ping` stage: `GET /v2/` — is this a registry, and how does it want to be authenticated?

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;
use tokio::time::Instant;

use crate::diagnosis::network::{http_diagnosis, late_diagnosis, rate_limited, timeout_diagnosis};
use crate::diagnosis::{Code, Diagnosis, Stage};
use crate::model::challenge::Challenge;
use crate::model::ratelimit::RateLimit;
use crate::model::wire;
use crate::net::Net;
use crate::net::{TlsMode, http::HttpFailure};
use crate::net::{http, tls};
use crate::registry::endpoint::Endpoint;
use crate::registry::profile::Profile;
use crate::stages::Trail;
use crate::stages::probe::Pinged;

/// The most of a `/v2/` body read to tell a registry from a web page.
const PING_BODY_LIMIT: usize = 64 * 1024;

/// The `ping` stage: `GET /v2/`, and how the registry wants to be authenticated.
pub(crate) async fn ping(
    net: &Net,
    ep: &Endpoint,
    connected: Option<SocketAddr>,
    deadline: Instant,
    log: &mut Trail,
    rate_limit: &mut Option<RateLimit>,
) -> Result<Pinged, Diagnosis> {
    let started = Instant::now();
    let url = ep.ping_url();
    let resp = send(net, ep, connected, &url, deadline)
        .await
        .map_err(|d| log.fail(started, d))?;
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
    let body = http::read_body(resp, PING_BODY_LIMIT, &ep.host, deadline).await;
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
                    || speaks_tls(net, ep, connected, deadline).await) =>
        {
            Err(log.fail(started, plain_http_to_tls(&ep.authority())))
        }
        StatusCode::FORBIDDEN
            if let Some(said) = Profile::of_host(&ep.host).ping_ip_denied(text.as_bytes()) =>
        {
            Err(log.fail(
                started,
                Diagnosis::new(
                    Code::RegistryIpDenied,
                    Stage::Ping,
                    format!("{url} refuses this client's address (403): {said}"),
                ),
            ))
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

/// Sends `GET /v2/`; a plain-HTTP request that breaks on a port that speaks TLS is
/// `plain-http-to-tls`, not a protocol error.
async fn send(
    net: &Net,
    ep: &Endpoint,
    connected: Option<SocketAddr>,
    url: &str,
    deadline: Instant,
) -> Result<reqwest::Response, Diagnosis> {
    let started = Instant::now();
    let client = net.http.for_mode(ep.mode);
    match tokio::time::timeout_at(deadline, client.get(url).send()).await {
        Err(_) => Err(timeout_diagnosis(Stage::Ping, url, started)),
        Ok(Err(e)) => {
            let failure = net.http.classify(&e, &ep.host);
            if ep.mode == TlsMode::PlainHttp
                && matches!(failure, HttpFailure::Protocol { .. })
                && speaks_tls(net, ep, connected, deadline).await
            {
                return Err(plain_http_to_tls(&ep.authority()));
            }
            Err(http_diagnosis(&failure, Stage::Ping, url))
        }
        Ok(Ok(r)) => Ok(r),
    }
}

/// Whether the registry's port speaks TLS; not asked through a proxy (its address is unknown).
async fn speaks_tls(
    net: &Net,
    ep: &Endpoint,
    connected: Option<SocketAddr>,
    deadline: Instant,
) -> bool {
    match connected {
        Some(addr) => tls::speaks_tls(addr, &ep.host, Arc::clone(&net.tls.skip), deadline).await,
        None => false,
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
