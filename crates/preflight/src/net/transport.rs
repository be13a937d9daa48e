//! The path the transport items had before `net` was split into `tcp`, [`tls`](super::tls) and
//! `http`; kept so `preflight::transport::TlsMode` and its neighbours still name the same items.

pub use super::tls::CertificateSummary;
pub use super::{TlsMode, TransportSetupError};

pub(crate) use super::http::{
    HttpClients, HttpFailure, Sent, classify_reqwest, read_body, send_retrying,
};
pub(crate) use super::tcp::{TcpFailure, connect_any};
pub(crate) use super::tls::{TlsConfigs, TlsFailure, handshake, peek_certificate, speaks_tls};
