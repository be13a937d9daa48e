//! TLS: the two rustls configurations every connection uses, the handshake of the `tls` stage,
//! the certificate it saw, and the probes that tell a TLS port from a plain-HTTP one.
//!
//! The stage handshakes with rustls directly rather than through reqwest, which hides the
//! certificate it saw and reports an untrusted issuer and a plain-HTTP server alike. A rustls
//! error is classified here, in `classify_rustls`, and only here: the HTTP layer hands the
//! rustls errors it finds inside reqwest's errors to the same function.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, InvalidDnsNameError, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use serde::Serialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::net::{TlsMode, TransportSetupError};

/// The two rustls configurations every connection uses.
#[derive(Debug, Clone)]
pub(crate) struct TlsConfigs {
    pub(crate) verify: Arc<ClientConfig>,
    pub(crate) skip: Arc<ClientConfig>,
    trust: Arc<TrustOnFirstUse>,
}

impl TlsConfigs {
    /// The configurations, with the CA files read now (a bad one is a setup error) and the
    /// system's roots read when a verified handshake first needs them: a check of plain-HTTP
    /// or unverified registries never pays for parsing the system store (most of a single
    /// check's own time).
    pub(crate) fn new(ca_files: &[PathBuf]) -> Result<TlsConfigs, TransportSetupError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut extra = Vec::new();
        for path in ca_files {
            for cert in read_ca_file(path)? {
                // Checked now, so a file rustls cannot use is named at once.
                RootCertStore::empty().add(cert.clone()).map_err(|e| {
                    TransportSetupError::CaFileInvalid {
                        path: path.clone(),
                        detail: format!(": {e}"),
                    }
                })?;
                extra.push(cert);
            }
        }
        let trust = Arc::new(TrustOnFirstUse {
            extra,
            provider: Arc::clone(&provider),
            signatures: AcceptAnyCertificate(Arc::clone(&provider)),
            verifier: std::sync::OnceLock::new(),
        });
        let verify = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|source| TransportSetupError::Tls { source })?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&trust) as Arc<dyn ServerCertVerifier>)
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
            trust,
        })
    }

    /// How many root certificates are trusted: the system's and the CA files'.
    pub(crate) fn roots(&self) -> usize {
        self.trust.get().1
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
/// rustls's own web PKI verification, over the system's roots and the CA files, built when the
/// first verified handshake needs it. Without any root, every certificate is of an unknown
/// issuer, as an empty root store makes it.
#[derive(Debug)]
struct TrustOnFirstUse {
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
    /// The handshake signature checks, shared with the unverified configuration.
    signatures: AcceptAnyCertificate,
    verifier: std::sync::OnceLock<(Option<Arc<dyn ServerCertVerifier>>, usize)>,
}

impl TrustOnFirstUse {
    fn get(&self) -> &(Option<Arc<dyn ServerCertVerifier>>, usize) {
        self.verifier.get_or_init(|| {
            let mut roots = RootCertStore::empty();
            // Unreadable system certificates are not fatal: the CA files may be all that is
            // needed, and an untrusted registry is then diagnosed as tls-unknown-issuer.
            let native = rustls_native_certs::load_native_certs();
            let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
            let (_added, _ignored) = roots.add_parsable_certificates(self.extra.iter().cloned());
            let count = roots.len();
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&self.provider),
            )
            .build()
            .ok()
            .map(|v| v as Arc<dyn ServerCertVerifier>);
            (verifier, count)
        })
    }
}

impl ServerCertVerifier for TrustOnFirstUse {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.get().0 {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }
    }

    // Handshake signatures are checked as for any certificate: only the chain differs.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.signatures.supported_verify_schemes()
    }
}

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

/// What the TLS handshake showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSession {
    /// `TLSv1.3`, `TLSv1.2`.
    pub(crate) version: String,
    /// The negotiated application protocol (`h2`, `http/1.1`), if any.
    pub(crate) alpn: Option<String>,
    /// The server's certificate, when it could be read.
    pub(crate) certificate: Option<CertificateSummary>,
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
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum TlsFailure {
    /// The issuer is not trusted.
    #[error("certificate signed by an unknown authority{detail}")]
    UnknownIssuer {
        /// What the certificate says, when known.
        detail: String,
        /// rustls's verdict.
        #[source]
        source: Arc<rustls::Error>,
    },
    /// Expired or not yet valid.
    #[error("certificate {detail}")]
    Expired {
        /// Which of the two, and when.
        detail: String,
        /// rustls's verdict.
        #[source]
        source: Arc<rustls::Error>,
    },
    /// Not valid for the host name.
    #[error("certificate is not valid for {host}{detail}")]
    HostnameMismatch {
        /// The name connected to.
        host: String,
        /// The names the certificate covers, when known.
        detail: String,
        /// rustls's verdict.
        #[source]
        source: Arc<rustls::Error>,
    },
    /// The peer answered in plain HTTP (confirmed with a plain request).
    #[error("the server answered the TLS handshake in plain HTTP")]
    ServerSpeaksHttp,
    /// The peer answered with something that is neither TLS nor HTTP.
    #[error("TLS handshake failed: the server sent something that is not TLS")]
    NotTls {
        /// rustls's error: the first record was not TLS.
        #[source]
        source: Arc<rustls::Error>,
    },
    /// rustls refused the handshake for another reason: an alert, a certificate it cannot use…
    #[error("TLS handshake failed: {detail}")]
    Rejected {
        /// What happened, in words.
        detail: String,
        /// rustls's error.
        #[source]
        source: Arc<rustls::Error>,
    },
    /// The connection failed under the handshake.
    #[error("TLS handshake failed: {detail}")]
    Io {
        /// What happened, in words.
        detail: String,
        /// The system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The host cannot be named in a TLS handshake.
    #[error("TLS handshake failed: {host} is not a valid TLS server name: {source}")]
    InvalidName {
        /// The host.
        host: String,
        /// Why not.
        #[source]
        source: Arc<InvalidDnsNameError>,
    },
    /// The handshake did not finish in time.
    #[error("the TLS handshake did not finish within {waited_ms} ms")]
    Timeout {
        /// How long we waited.
        waited_ms: u128,
    },
}

/// Classifies a rustls error from a handshake with `host`. `None` means "not TLS at all, perhaps
/// plain HTTP": the caller confirms it ([`TlsFailure::ServerSpeaksHttp`]) or not
/// ([`TlsFailure::NotTls`]).
pub(crate) fn classify_rustls(e: &rustls::Error, host: &str) -> Option<TlsFailure> {
    use rustls::Error as E;
    let source = Arc::new(e.clone());
    Some(match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsFailure::UnknownIssuer {
                detail: String::new(),
                source,
            },
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                TlsFailure::Expired {
                    detail: "has expired".to_owned(),
                    source,
                }
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                TlsFailure::Expired {
                    detail: "is not valid yet (check the clocks)".to_owned(),
                    source,
                }
            }
            CertificateError::NotValidForName => TlsFailure::HostnameMismatch {
                host: host.to_owned(),
                detail: String::new(),
                source,
            },
            CertificateError::NotValidForNameContext { presented, .. } => {
                TlsFailure::HostnameMismatch {
                    host: host.to_owned(),
                    detail: if presented.is_empty() {
                        String::new()
                    } else {
                        format!(" (it covers {})", presented.join(", "))
                    },
                    source,
                }
            }
            other => TlsFailure::Rejected {
                detail: format!("invalid certificate: {other:?}"),
                source,
            },
        },
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => return None,
        E::AlertReceived(alert) => TlsFailure::Rejected {
            detail: format!("the server sent the alert {alert:?}"),
            source,
        },
        other => TlsFailure::Rejected {
            detail: other.to_string(),
            source,
        },
    })
}

/// Finds a rustls error behind an `io::Error` (where tokio-rustls and hyper put it).
pub(crate) fn rustls_error_in(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Handshakes over `stream` with `config`, verifying the certificate for `host`. `addr` is the
/// server's address, asked again in plain HTTP when the answer is not TLS; `None` through a
/// proxy's tunnel, which cannot be asked again that way.
pub(crate) async fn handshake(
    stream: TcpStream,
    addr: Option<SocketAddr>,
    host: &str,
    config: Arc<ClientConfig>,
    deadline: Instant,
) -> Result<TlsSession, TlsFailure> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(bare.to_owned()).map_err(|source| TlsFailure::InvalidName {
        host: host.to_owned(),
        source: Arc::new(source),
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
        Ok(Err(e)) => return Err(handshake_failure(e, addr, host, bare, deadline).await),
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

/// Why the handshake with `host` (`bare`: without IPv6 brackets) at `addr` failed with `e`;
/// a peer that does not speak TLS is asked whether it speaks plain HTTP.
async fn handshake_failure(
    e: io::Error,
    addr: Option<SocketAddr>,
    host: &str,
    bare: &str,
    deadline: Instant,
) -> TlsFailure {
    let Some(re) = rustls_error_in(&e) else {
        return TlsFailure::Io {
            detail: match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    "the server closed the connection during the handshake".to_owned()
                }
                _ => e.to_string(),
            },
            source: Arc::new(e),
        };
    };
    if let Some(f) = classify_rustls(re, bare) {
        return f;
    }
    let source = Arc::new(re.clone());
    let Some(addr) = addr else {
        return TlsFailure::NotTls { source };
    };
    if speaks_http(addr, host, deadline).await {
        TlsFailure::ServerSpeaksHttp
    } else {
        TlsFailure::NotTls { source }
    }
}

/// Reads the certificate the server presents over a new connection `stream`, without judging it
/// (for messages about a certificate that failed verification).
pub(crate) async fn peek_certificate(
    stream: TcpStream,
    host: &str,
    skip: Arc<ClientConfig>,
    deadline: Instant,
) -> Option<CertificateSummary> {
    handshake(stream, None, host, skip, deadline)
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
    handshake(stream, Some(addr), host, skip, deadline)
        .await
        .is_ok()
}
