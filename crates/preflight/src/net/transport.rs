//! TCP connects, TLS handshakes and the shared HTTP clients, with every failure classified in
//! one place (`classify_*`), so the stages above ask plain questions of plain enums.
//!
//! The `tcp` and `tls` stages use tokio and rustls directly rather than going through reqwest:
//! reqwest folds a refused port, an untrusted issuer and a plain-HTTP server into one opaque
//! connect error, and hides the certificate it saw. The HTTP requests then go through reqwest,
//! built on the same rustls configuration and the same resolver.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::net::dns::{Dns, HttpResolver};

/// How to talk to one registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// HTTPS, certificate verified against the system roots and the configured CA files.
    #[default]
    Verify,
    /// HTTPS without certificate verification (`--insecure-skip-tls-verify`).
    SkipVerify,
    /// Plain HTTP (`--plain-http`).
    PlainHttp,
}

impl TlsMode {
    /// `https` or `http`.
    pub fn scheme(self) -> &'static str {
        match self {
            TlsMode::PlainHttp => "http",
            _ => "https",
        }
    }

    /// The port a registry listens on when the reference names none.
    pub fn default_port(self) -> u16 {
        match self {
            TlsMode::PlainHttp => 80,
            _ => 443,
        }
    }
}

/// Why the transport could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportSetupError {
    /// A `--ca-file` could not be read.
    #[error("cannot read CA file {path}")]
    CaFileRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A `--ca-file` holds no usable certificate.
    #[error("CA file {path} holds no PEM certificate{detail}")]
    CaFileInvalid {
        /// The file.
        path: PathBuf,
        /// What was wrong, if known.
        detail: String,
    },
    /// rustls refused the configuration.
    #[error("cannot configure TLS")]
    Tls {
        /// rustls's error.
        #[source]
        source: rustls::Error,
    },
    /// reqwest refused the configuration.
    #[error("cannot build the HTTP client")]
    Client {
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
}

/// The two rustls configurations every connection uses.
#[derive(Debug, Clone)]
pub(crate) struct TlsConfigs {
    pub(crate) verify: Arc<ClientConfig>,
    pub(crate) skip: Arc<ClientConfig>,
    pub(crate) roots: usize,
}

impl TlsConfigs {
    pub(crate) fn new(ca_files: &[PathBuf]) -> Result<TlsConfigs, TransportSetupError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = RootCertStore::empty();
        // Unreadable system certificates are not fatal: the CA files may be all that is needed,
        // and an untrusted registry is then diagnosed as tls-unknown-issuer.
        let native = rustls_native_certs::load_native_certs();
        let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
        for path in ca_files {
            let certs = read_ca_file(path)?;
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| TransportSetupError::CaFileInvalid {
                        path: path.clone(),
                        detail: format!(": {e}"),
                    })?;
            }
        }
        let count = roots.len();
        let verify = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|source| TransportSetupError::Tls { source })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let skip = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|source| TransportSetupError::Tls { source })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth();
        Ok(TlsConfigs {
            verify: Arc::new(with_alpn(verify)),
            skip: Arc::new(with_alpn(skip)),
            roots: count,
        })
    }

    pub(crate) fn for_mode(&self, mode: TlsMode) -> Arc<ClientConfig> {
        match mode {
            TlsMode::SkipVerify => Arc::clone(&self.skip),
            _ => Arc::clone(&self.verify),
        }
    }
}

fn with_alpn(mut c: ClientConfig) -> ClientConfig {
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    c
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TransportSetupError> {
    let bytes = std::fs::read(path).map_err(|source| TransportSetupError::CaFileRead {
        path: path.to_owned(),
        source,
    })?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&bytes).collect();
    match certs {
        Ok(c) if !c.is_empty() => Ok(c),
        Ok(_) => Err(TransportSetupError::CaFileInvalid {
            path: path.to_owned(),
            detail: String::new(),
        }),
        Err(e) => Err(TransportSetupError::CaFileInvalid {
            path: path.to_owned(),
            detail: format!(": {e}"),
        }),
    }
}

/// `--insecure-skip-tls-verify`: any certificate is accepted, but handshake signatures are still
/// checked so the connection is at least a real TLS session.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Why no TCP connection could be made to one address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TcpFailure {
    /// Connection refused.
    #[error("{addr}: connection refused")]
    Refused {
        /// The address tried.
        addr: SocketAddr,
    },
    /// The connect did not complete in time.
    #[error("{addr}: connect timed out after {waited_ms} ms")]
    Timeout {
        /// The address tried.
        addr: SocketAddr,
        /// How long we waited.
        waited_ms: u128,
    },
    /// No route.
    #[error("{addr}: {detail}")]
    Unreachable {
        /// The address tried.
        addr: SocketAddr,
        /// The system's words.
        detail: String,
    },
}

fn classify_connect(addr: SocketAddr, e: &io::Error) -> TcpFailure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => TcpFailure::Refused { addr },
        io::ErrorKind::TimedOut => TcpFailure::Timeout { addr, waited_ms: 0 },
        _ => TcpFailure::Unreachable {
            addr,
            detail: e.to_string(),
        },
    }
}

/// Connects to the first address that answers, giving each a fair share of the time left.
pub(crate) async fn connect_any(
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), Vec<TcpFailure>> {
    let mut failures = Vec::new();
    for (i, &addr) in addrs.iter().enumerate() {
        let now = Instant::now();
        if now >= deadline {
            failures.push(TcpFailure::Timeout { addr, waited_ms: 0 });
            break;
        }
        let left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        let share = (deadline - now) / left;
        let attempt_deadline = now + share.max(Duration::from_secs(1)).min(deadline - now);
        match tokio::time::timeout_at(attempt_deadline, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(e)) => failures.push(classify_connect(addr, &e)),
            Err(_) => failures.push(TcpFailure::Timeout {
                addr,
                waited_ms: now.elapsed().as_millis(),
            }),
        }
    }
    Err(failures)
}

/// What the TLS handshake showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsSession {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The negotiated application protocol (`h2`, `http/1.1`), if any.
    pub alpn: Option<String>,
    /// The server's certificate, when it could be read.
    pub certificate: Option<CertificateSummary>,
}

/// The parts of a certificate a person asks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// DNS names and IP addresses the certificate is valid for.
    pub sans: Vec<String>,
    /// Days until `notAfter` (negative once expired).
    pub days_until_expiry: i64,
}

impl CertificateSummary {
    /// Reads a DER certificate; `None` when it does not parse.
    pub fn from_der(der: &[u8]) -> Option<CertificateSummary> {
        use x509_cert::der::Decode as _;
        use x509_cert::ext::pkix::SubjectAltName;
        use x509_cert::ext::pkix::name::GeneralName;

        let cert = x509_cert::Certificate::from_der(der).ok()?;
        let tbs = cert.tbs_certificate();
        let mut sans = Vec::new();
        if let Ok(Some((_, san))) = tbs.get_extension::<SubjectAltName>() {
            for name in san.0 {
                match name {
                    GeneralName::DnsName(d) => sans.push(d.as_str().to_owned()),
                    GeneralName::IpAddress(ip) => {
                        let b = ip.as_bytes();
                        if let Ok(v4) = <[u8; 4]>::try_from(b) {
                            sans.push(std::net::Ipv4Addr::from(v4).to_string());
                        } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
                            sans.push(std::net::Ipv6Addr::from(v6).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        let not_after = tbs.validity().not_after.to_unix_duration().as_secs();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let days = (i128::from(not_after) - i128::from(now)).div_euclid(86_400);
        Some(CertificateSummary {
            subject: tbs.subject().to_string(),
            issuer: tbs.issuer().to_string(),
            sans,
            days_until_expiry: i64::try_from(days).unwrap_or(i64::MIN),
        })
    }

    /// `CN=…, issued by CN=…, valid for a, b, expires in N days`.
    pub fn describe(&self) -> String {
        let mut s = format!("certificate {} issued by {}", self.subject, self.issuer);
        if !self.sans.is_empty() {
            let _ = write!(s, ", valid for {}", self.sans.join(", "));
        }
        if self.days_until_expiry < 0 {
            let _ = write!(s, ", expired {} days ago", -self.days_until_expiry);
        } else {
            let _ = write!(s, ", expires in {} days", self.days_until_expiry);
        }
        s
    }
}

/// Why a TLS handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The issuer is not trusted.
    #[error("certificate signed by an unknown authority{detail}")]
    UnknownIssuer {
        /// What the certificate says, when known.
        detail: String,
    },
    /// Expired or not yet valid.
    #[error("certificate {detail}")]
    Expired {
        /// Which of the two, and when.
        detail: String,
    },
    /// Not valid for the host name.
    #[error("certificate is not valid for {host}{detail}")]
    HostnameMismatch {
        /// The name connected to.
        host: String,
        /// The names the certificate covers, when known.
        detail: String,
    },
    /// The peer answered in plain HTTP (confirmed with a plain request).
    #[error("the server answered the TLS handshake in plain HTTP")]
    ServerSpeaksHttp,
    /// Something else.
    #[error("TLS handshake failed: {detail}")]
    Handshake {
        /// rustls's or the system's words.
        detail: String,
    },
    /// The handshake did not finish in time.
    #[error("the TLS handshake did not finish within {waited_ms} ms")]
    Timeout {
        /// How long we waited.
        waited_ms: u128,
    },
}

/// Maps a rustls error to a failure. `None` means "looks like plain HTTP, confirm it".
fn classify_rustls(e: &rustls::Error, host: &str) -> Option<TlsFailure> {
    use rustls::Error as E;
    Some(match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer {
                detail: String::new(),
            },
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsFailure::Expired {
                    detail: "has expired".to_owned(),
                }
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsFailure::Expired {
                    detail: "is not valid yet (check the clocks)".to_owned(),
                }
            }
            CertificateError::NotValidForName => TlsFailure::HostnameMismatch {
                host: host.to_owned(),
                detail: String::new(),
            },
            CertificateError::NotValidForNameContext { presented, .. } => {
                TlsFailure::HostnameMismatch {
                    host: host.to_owned(),
                    detail: if presented.is_empty() {
                        String::new()
                    } else {
                        format!(" (it covers {})", presented.join(", "))
                    },
                }
            }
            other => TlsFailure::Handshake {
                detail: format!("invalid certificate: {other:?}"),
            },
        },
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => return None,
        E::AlertReceived(alert) => TlsFailure::Handshake {
            detail: format!("the server sent the alert {alert:?}"),
        },
        other => TlsFailure::Handshake {
            detail: other.to_string(),
        },
    })
}

/// Finds a rustls error behind an `io::Error` (where tokio-rustls and hyper put it).
fn rustls_error_in(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Handshakes over `stream` with `config`, verifying the certificate for `host`.
pub(crate) async fn handshake(
    stream: TcpStream,
    addr: SocketAddr,
    host: &str,
    config: Arc<ClientConfig>,
    deadline: Instant,
) -> Result<TlsSession, TlsFailure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(bare.to_owned()).map_err(|e| TlsFailure::Handshake {
        detail: format!("{host} is not a valid TLS server name: {e}"),
    })?;
    let started = Instant::now();
    let connector = tokio_rustls::TlsConnector::from(config);
    let result = tokio::time::timeout_at(deadline, connector.connect(name, stream)).await;
    let tls = match result {
        Err(_) => {
            return Err(TlsFailure::Timeout {
                waited_ms: started.elapsed().as_millis(),
            });
        }
        Ok(Err(e)) => {
            let failure = match rustls_error_in(&e) {
                Some(re) => classify_rustls(re, bare),
                None => Some(TlsFailure::Handshake {
                    detail: match e.kind() {
                        io::ErrorKind::UnexpectedEof => {
                            "the server closed the connection during the handshake".to_owned()
                        }
                        _ => e.to_string(),
                    },
                }),
            };
            return match failure {
                Some(f) => Err(f),
                None if speaks_http(addr, host, deadline).await => {
                    Err(TlsFailure::ServerSpeaksHttp)
                }
                None => Err(TlsFailure::Handshake {
                    detail: "the server sent something that is not TLS".to_owned(),
                }),
            };
        }
        Ok(Ok(tls)) => tls,
    };
    let (_, conn) = tls.get_ref();
    let certificate = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| CertificateSummary::from_der(c.as_ref()));
    Ok(TlsSession {
        version: conn.protocol_version().map_or_else(
            || "unknown".to_owned(),
            |v| {
                v.as_str().map_or_else(
                    || format!("{v:?}"),
                    |s| s.replace('_', "v").replace("TLSv1v", "TLSv1."),
                )
            },
        ),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        certificate,
    })
}

/// Reads the certificate the server presents, without judging it (for messages about a
/// certificate that failed verification).
pub(crate) async fn peek_certificate(
    addr: SocketAddr,
    host: &str,
    skip: Arc<ClientConfig>,
    deadline: Instant,
) -> Option<CertificateSummary> {
    let stream = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    handshake(stream, addr, host, skip, deadline)
        .await
        .ok()
        .and_then(|s| s.certificate)
}

/// The longest a protocol probe ([`speaks_http`], [`speaks_tls`]) waits. A probe only refines a
/// diagnosis that is already known to be a failure, and a server of the protocol asked about
/// answers within one round trip; one that is not may stay silent, waiting for input that makes
/// sense to it, and must not take the image's whole deadline with it.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

fn probe_deadline(deadline: Instant) -> Instant {
    deadline.min(Instant::now() + PROBE_TIMEOUT)
}

/// Sends one plain-HTTP request and says whether an HTTP response came back.
pub(crate) async fn speaks_http(addr: SocketAddr, host: &str, deadline: Instant) -> bool {
    let deadline = probe_deadline(deadline);
    let probe = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        let req = format!("GET /v2/ HTTP/1.0\r\nHost: {host}\r\nUser-Agent: preflight\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"HTTP/"))
    };
    matches!(
        tokio::time::timeout_at(deadline, probe).await,
        Ok(Some(true))
    )
}

/// Says whether a TLS server answers at `addr` (any certificate accepted).
pub(crate) async fn speaks_tls(
    addr: SocketAddr,
    host: &str,
    skip: Arc<ClientConfig>,
    deadline: Instant,
) -> bool {
    let deadline = probe_deadline(deadline);
    let Ok(Ok(stream)) = tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await else {
        return false;
    };
    handshake(stream, addr, host, skip, deadline).await.is_ok()
}

/// The HTTP clients: one per TLS configuration, each with its own connection pool, sharing the
/// resolver.
#[derive(Debug, Clone)]
pub(crate) struct HttpClients {
    verify: reqwest::Client,
    skip: reqwest::Client,
}

impl HttpClients {
    pub(crate) fn new(
        tls: &TlsConfigs,
        dns: &Arc<Dns>,
    ) -> Result<HttpClients, TransportSetupError> {
        let build = |cfg: &ClientConfig| {
            reqwest::Client::builder()
                .tls_backend_preconfigured(cfg.clone())
                .dns_resolver(Arc::new(HttpResolver(Arc::clone(dns))))
                // Proxies are not supported yet; connecting directly keeps the tcp and tls stages
                // honest about what they measured.
                .no_proxy()
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
        })
    }

    pub(crate) fn for_mode(&self, mode: TlsMode) -> &reqwest::Client {
        match mode {
            TlsMode::SkipVerify => &self.skip,
            _ => &self.verify,
        }
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpFailure {
    /// The deadline passed.
    #[error("no answer within the deadline")]
    Timeout,
    /// The connection could not be made.
    #[error("{0}")]
    Connect(TcpFailure),
    /// The TLS handshake failed.
    #[error("{0}")]
    Tls(TlsFailure),
    /// Redirects that do not end: a loop, or more than the client follows.
    #[error("{detail}")]
    Redirects {
        /// What happened.
        detail: String,
    },
    /// Anything else: the peer broke the protocol, closed early, …
    #[error("{detail}")]
    Protocol {
        /// What happened.
        detail: String,
    },
    /// A body was larger than we are willing to read.
    #[error("the response body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The cap.
        limit: usize,
    },
}

/// Classifies a reqwest error by walking its causes.
pub(crate) fn classify_reqwest(e: &reqwest::Error, host: &str) -> HttpFailure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<io::Error>() {
            if let Some(re) = rustls_error_in(io) {
                return HttpFailure::Tls(classify_rustls(re, host).unwrap_or(
                    TlsFailure::Handshake {
                        detail: "the server sent something that is not TLS".to_owned(),
                    },
                ));
            }
            if e.is_connect() {
                let addr = SocketAddr::from(([0, 0, 0, 0], 0));
                return HttpFailure::Connect(classify_connect(addr, io));
            }
        }
        if let Some(re) = c.downcast_ref::<rustls::Error>() {
            return HttpFailure::Tls(classify_rustls(re, host).unwrap_or(TlsFailure::Handshake {
                detail: re.to_string(),
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

/// `outer: inner: innermost`, without repeating reqwest's URL (it carries no secrets, but is noise).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cause = e.source();
    while let Some(c) = cause {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cause = c.source();
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
    host: &str,
    deadline: Instant,
) -> (Sent, u32) {
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = match tokio::time::timeout_at(deadline, build().send()).await {
            Err(_) => return (Sent::TimedOut, tries),
            Ok(Err(e)) => Sent::Failed(classify_reqwest(&e, host)),
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
