//! HTTP: the shared reqwest clients, built on the rustls configurations of [`tls`] and the
//! resolver of [`dns`], the retry of transient failures and bounded body reads.
//!
//! The clients go through the node's proxy where [`ProxyConfig`] says a request does (reqwest
//! asks it for every URL, redirects included), and never through the CI job's own
//! `HTTPS_PROXY`: that is not the node's.
//!
//! A reqwest error is classified here, in [`classify_reqwest`], and only here. reqwest wraps
//! the errors of the layers below it: the walk through its causes hands an `io::Error` from a
//! connect to [`tcp::classify_connect`] and a rustls error to [`tls::classify_rustls`], so an
//! exchange that failed below HTTP reads the same as the stage that failed there.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::ClientConfig;
use tokio::time::Instant;

use crate::net::dns::{Dns, DnsFailure, HttpResolver};
use crate::net::proxy::{self, ProxyConfig, ProxyFailure};
use crate::net::tcp::{self, TcpFailure};
use crate::net::tls::{self, TlsConfigs, TlsFailure};
use crate::net::{TlsMode, TransportSetupError};

/// The HTTP clients: one per TLS configuration, each with its own connection pool, sharing the
/// resolver.
#[derive(Debug, Clone)]
pub(crate) struct HttpClients {
    verify: reqwest::Client,
    skip: reqwest::Client,
    proxy: Option<Arc<ProxyConfig>>,
}

impl HttpClients {
    pub(crate) fn new(
        tls: &TlsConfigs,
        dns: &Arc<Dns>,
        proxy: Option<&Arc<ProxyConfig>>,
    ) -> Result<HttpClients, TransportSetupError> {
        let build = |cfg: &ClientConfig| {
            // The environment's proxy is the CI job's, not the node's: never read it.
            let mut builder = reqwest::Client::builder()
                .tls_backend_preconfigured(cfg.clone())
                .dns_resolver(Arc::new(HttpResolver(Arc::clone(dns))))
                .no_proxy();
            if let Some(config) = proxy {
                builder = builder.proxy(reqwest_proxy(config));
            }
            builder
                .redirect(same_origin_redirects())
                .connect_timeout(Duration::from_secs(10))
                .pool_idle_timeout(Duration::from_secs(60))
                .user_agent(concat!("preflight/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|source| TransportSetupError::Client { source })
        };
        Ok(HttpClients {
            verify: build(&tls.verify)?,
            skip: build(&tls.skip)?,
            proxy: proxy.cloned(),
        })
    }

    /// Classifies a reqwest error as [`classify_reqwest`] does; a connection that failed on the
    /// way to the proxy, or a tunnel it refused, is the proxy's failure.
    pub(crate) fn classify(&self, e: &reqwest::Error, host: &str) -> HttpFailure {
        let failure = classify_reqwest(e, host);
        let Some(proxy) = self
            .proxy
            .as_deref()
            .zip(e.url())
            .and_then(|(config, url)| config.for_url(url).map(|p| (p, url)))
        else {
            return failure;
        };
        let (proxy, url) = proxy;
        let target = proxy::target_authority(
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or_default(),
        );
        // Through a proxy, reqwest resolves only the proxy's name.
        if let Some(dns) = dns_failure_in(e) {
            return HttpFailure::Proxy(Box::new(ProxyFailure::Resolve {
                proxy: proxy.to_string(),
                source: dns.clone(),
            }));
        }
        match failure {
            HttpFailure::Connect(t) => HttpFailure::Proxy(Box::new(ProxyFailure::Connect {
                proxy: proxy.to_string(),
                failures: vec![t],
            })),
            // A tunnel the proxy refused: reqwest says so as a connect error with no I/O error
            // under it, and keeps the status to itself.
            HttpFailure::Protocol { detail } if e.is_connect() && url.scheme() == "https" => {
                HttpFailure::Proxy(Box::new(ProxyFailure::Tunnel {
                    proxy: proxy.to_string(),
                    target,
                    detail,
                }))
            }
            other => other,
        }
    }

    pub(crate) fn for_mode(&self, mode: TlsMode) -> &reqwest::Client {
        match mode {
            TlsMode::SkipVerify => &self.skip,
            _ => &self.verify,
        }
    }
}

/// The reqwest proxy for `config`: the same decision per URL as the `tcp` stage's.
fn reqwest_proxy(config: &Arc<ProxyConfig>) -> reqwest::Proxy {
    let decide = Arc::clone(config);
    let proxy = reqwest::Proxy::custom(move |url| {
        decide
            .for_url(url)
            .and_then(|p| reqwest::Url::parse(&p.without_credentials()).ok())
    });
    match config.url.credentials() {
        Some((user, password)) => proxy.basic_auth(user, password),
        None => proxy,
    }
}

/// Follows redirects only to the same scheme, host and port, at most five.
///
/// Registries redirect blob downloads to storage, never manifests, pings or tokens. reqwest strips
/// credential headers on a redirect to another host but re-sends a POST body on 307/308, and that
/// body may hold a refresh token: a cross-origin redirect is therefore returned as it is.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        let next = attempt.url();
        let same = next.scheme() == first.scheme()
            && next.host_str() == first.host_str()
            && next.port_or_known_default() == first.port_or_known_default();
        if attempt.previous().len() > 5 {
            attempt.error("redirected more than five times (a redirect loop?)")
        } else if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Why an HTTP exchange failed, classified once from reqwest's error.
///
/// `Redirects` and `Protocol` keep reqwest's causes as text only: [`classify_reqwest`] borrows
/// the error, and `reqwest::Error` cannot be cloned.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum HttpFailure {
    /// The deadline passed.
    #[error("no answer within the deadline")]
    Timeout,
    /// The connection could not be made.
    #[error(transparent)]
    Connect(TcpFailure),
    /// The TLS handshake failed.
    #[error(transparent)]
    Tls(TlsFailure),
    /// Redirects that do not end: a loop, or more than the client follows.
    #[error("{detail}")]
    Redirects {
        /// What happened: reqwest's chain of causes.
        detail: String,
    },
    /// Anything else: the peer broke the protocol, closed early, …
    #[error("{detail}")]
    Protocol {
        /// What happened: reqwest's chain of causes.
        detail: String,
    },
    /// The node's proxy could not carry the exchange.
    #[error(transparent)]
    Proxy(Box<ProxyFailure>),
    /// A body was larger than we are willing to read.
    #[error("the response body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The cap.
        limit: usize,
    },
}

/// Classifies a reqwest error from an exchange with `host` by walking its causes.
pub(crate) fn classify_reqwest(e: &reqwest::Error, host: &str) -> HttpFailure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            if let Some(re) = tls::rustls_error_in(io) {
                return HttpFailure::Tls(tls::classify_rustls(re, host).unwrap_or_else(|| {
                    TlsFailure::NotTls {
                        source: Arc::new(re.clone()),
                    }
                }));
            }
            if e.is_connect() {
                let addr = SocketAddr::from(([0, 0, 0, 0], 0));
                return HttpFailure::Connect(tcp::classify_connect(addr, copy_io_error(io)));
            }
        }
        if let Some(re) = c.downcast_ref::<rustls::Error>() {
            return HttpFailure::Tls(tls::classify_rustls(re, host).unwrap_or_else(|| {
                TlsFailure::Rejected {
                    detail: re.to_string(),
                    source: Arc::new(re.clone()),
                }
            }));
        }
        cause = c.source();
    }
    if e.is_timeout() {
        return HttpFailure::Timeout;
    }
    if e.is_redirect() {
        return HttpFailure::Redirects {
            detail: error_chain(e),
        };
    }
    HttpFailure::Protocol {
        detail: error_chain(e),
    }
}

/// The resolver's failure inside a reqwest error, if that is what it is.
fn dns_failure_in(e: &reqwest::Error) -> Option<&DnsFailure> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(d) = c.downcast_ref::<DnsFailure>() {
            return Some(d);
        }
        cause = c.source();
    }
    None
}

/// An owned copy of an `io::Error` borrowed from inside a reqwest error (`io::Error` is not
/// `Clone`): the same OS error, or the same kind and words.
fn copy_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// `outer: inner: innermost`, without repeating reqwest's URL (it carries no secrets, but is noise).
///
/// The walk stops at a [`DnsFailure`] (reqwest's resolver is ours): its message already says
/// everything, and its own causes are for code, not for this text.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cause = if c.is::<DnsFailure>() {
            None
        } else {
            c.source()
        };
    }
    if parts.is_empty() {
        e.to_string()
    } else {
        parts.join(": ")
    }
}

/// How many times a request is sent at most when the registry fails transiently.
pub(crate) const MAX_TRIES: u32 = 3;

/// What sending a request came to.
#[derive(Debug)]
pub(crate) enum Sent {
    /// An answer (perhaps an error status).
    Response(reqwest::Response),
    /// No answer: the exchange failed below HTTP.
    Failed(HttpFailure),
    /// The deadline passed.
    TimedOut,
}

/// Sends the request `build` makes, and again after a transient failure — a connection that
/// broke, or 502/503/504 — with a jittered backoff, at most [`MAX_TRIES`] times and only while
/// the deadline leaves room. Returns the last outcome and how many tries it took.
pub(crate) async fn send_retrying(
    build: impl Fn() -> reqwest::RequestBuilder,
    clients: &HttpClients,
    host: &str,
    deadline: Instant,
) -> (Sent, u32) {
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = match tokio::time::timeout_at(deadline, build().send()).await {
            Err(_) => return (Sent::TimedOut, tries),
            Ok(Err(e)) => Sent::Failed(clients.classify(&e, host)),
            Ok(Ok(r)) => Sent::Response(r),
        };
        let transient = match &outcome {
            Sent::Response(r) => matches!(r.status().as_u16(), 502..=504),
            Sent::Failed(f) => matches!(f, HttpFailure::Protocol { .. } | HttpFailure::Connect(_)),
            Sent::TimedOut => false,
        };
        if !transient || tries >= MAX_TRIES {
            return (outcome, tries);
        }
        // 100 ms, then 200 ms, plus up to 100 ms of jitter so that many images retrying at once
        // do not come back in step; the clock's nanoseconds are jitter enough.
        let jitter = u64::from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
                % 100,
        );
        let backoff = Duration::from_millis(100 * (1 << (tries - 1)) + jitter);
        if Instant::now() + backoff >= deadline {
            return (outcome, tries);
        }
        tokio::time::sleep(backoff).await;
    }
}

/// Reads at most `limit` bytes of a body before `deadline`.
pub(crate) async fn read_body(
    mut resp: reqwest::Response,
    limit: usize,
    host: &str,
    deadline: Instant,
) -> Result<Vec<u8>, HttpFailure> {
    let read = async {
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify_reqwest(&e, host))? {
            if buf.len() + chunk.len() > limit {
                return Err(HttpFailure::BodyTooLarge { limit });
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    tokio::time::timeout_at(deadline, read)
        .await
        .unwrap_or(Err(HttpFailure::Timeout))
}
