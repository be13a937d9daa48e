//! The path the transport items had before `net` was split into `tcp`, [`tls`](super::tls) and
//! `http`; kept so `preflight::transport::TlsMode` and its neighbours still name the same items.

pub use super::tls::CertificateSummary;
pub use super::{TlsMode, TransportSetupError};
