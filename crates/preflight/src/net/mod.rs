//! The network layer: name resolution, TCP connects, TLS handshakes and the shared HTTP clients.
//! Each foreign error (io, hickory, rustls, reqwest) is classified once, here, into a failure enum
//! the layers above ask yes/no questions of.

pub mod dns;
pub mod transport;

use std::sync::Arc;

/// The network machinery every stage shares: the resolver, the TLS configurations and the HTTP
/// clients built on both.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) dns: Arc<dns::Dns>,
    pub(crate) tls: transport::TlsConfigs,
    pub(crate) http: transport::HttpClients,
}
