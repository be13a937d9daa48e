//! The network layer, in the order a pull goes through it:
//!
//! - [`dns`] — name resolution (hickory), shared by the `dns` stage and every HTTP connection.
//! - `tcp` — connects, one address after another, within the image's deadline.
//! - [`tls`] — the rustls configurations, handshakes, the certificate seen, and the probes that
//!   tell TLS from plain HTTP on a port.
//! - `proxy` — the node's HTTP proxy: Go's `NO_PROXY` rules and the `CONNECT` tunnel.
//! - `http` — the shared reqwest clients (through the proxy where it applies), retries and
//!   bounded body reads.
//!
//! Each layer owns its failure enum and classifies the foreign errors of its own library (io,
//! hickory, rustls, reqwest) in exactly one function, so the stages above ask plain questions of
//! plain enums and never match error text. A layer imports only the layers before it; nothing
//! in `net` imports the stages, the engine, the registry flows or the diagnoses: it knows
//! neither what a check is nor that a CLI exists.
//!
//! What every layer shares lives here: the [`TlsMode`] a registry is reached with, and the
//! [`TransportSetupError`] of building the TLS configurations and HTTP clients.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

pub mod dns;
pub(crate) mod http;
pub(crate) mod proxy;
pub use proxy::ProxyUrlError;
pub(crate) mod tcp;
pub mod tls;
#[doc(hidden)]
pub mod transport;

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
    // The cause is text inside the message, not a `#[source]`: the CLI prints an error's
    // `Caused by:` chain, and this message has always said it on one line.
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

/// The network machinery every stage shares: the resolver, the TLS configurations and the HTTP
/// clients built on both.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) dns: Arc<dns::Dns>,
    pub(crate) tls: tls::TlsConfigs,
    pub(crate) http: http::HttpClients,
    /// The node's proxy, if it has one.
    pub(crate) proxy: Option<Arc<proxy::ProxyConfig>>,
}

impl Net {
    /// The proxy a connection to `host` (as in a URL) on `port` goes through, if any.
    pub(crate) fn proxy_for(&self, host: &str, port: u16) -> Option<&proxy::ProxyUrl> {
        self.proxy.as_deref().and_then(|p| p.for_host(host, port))
    }
}
