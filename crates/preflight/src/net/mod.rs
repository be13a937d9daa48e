//! The network layer: name resolution, TCP connects, TLS handshakes and the shared HTTP clients.
//! Each foreign error (io, hickory, rustls, reqwest) is classified once, here, into a failure enum
//! the layers above ask yes/no questions of.

pub mod dns;
pub mod transport;
