//! Where the node's runtime sends an image's pull: the hosts it tries, in order (the mirrors its
//! registry configuration names, then the registry itself), how it reaches each (the TLS mode
//! configured, or the runtime's default for a host nothing configures, with its fallback to
//! plain HTTP), and the reference as each host is asked for it.

use std::net::IpAddr;

use tokio::time::Instant;

use crate::engine::checker::{Inner, split_host_port};
use crate::model::reference::Reference;
use crate::net::TlsMode;
use crate::registry::endpoint::Endpoint;
use crate::registry::profile::Profile;
use crate::registry::runtime::{Fallback, Transport};
use crate::report::HostRole;

/// One host a pull may go to.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub(crate) role: HostRole,
    /// Where it is reached, with the first mode tried.
    pub(crate) ep: Endpoint,
    /// Whether the reference (or the configuration) wrote a port: without one, a fallback to
    /// plain HTTP goes to port 80.
    pub(crate) explicit_port: bool,
    /// When the runtime gives up on HTTPS for it.
    pub(crate) fallback: Option<Fallback>,
    /// The image as this host is asked for it (a mirror or a rewritten location has its own
    /// host, and may have its own repository path).
    pub(crate) reference: Reference,
    pub(crate) profile: Profile,
}

impl Hop {
    /// The endpoint a fallback to plain HTTP goes to, if the runtime falls back after `code`.
    pub(crate) fn fallback_after(&self, code: crate::diagnosis::Code) -> Option<Endpoint> {
        use crate::diagnosis::Code;
        let falls = match self.fallback? {
            Fallback::WhenServerSpeaksHttp => {
                code == Code::TlsServerSpeaksHttp
                    || (!self.explicit_port && code == Code::TcpRefused)
            }
            Fallback::OnAnyFailure => !matches!(
                code,
                Code::DnsNxdomain | Code::DnsNoAddress | Code::DnsTimeout | Code::DnsError
            ),
        };
        falls.then(|| Endpoint {
            host: self.ep.host.clone(),
            port: if self.explicit_port {
                self.ep.port
            } else {
                TlsMode::PlainHttp.default_port()
            },
            mode: TlsMode::PlainHttp,
        })
    }
}

/// The hosts an image's pull goes to, in the order the runtime tries them.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) hops: Vec<Hop>,
}

impl Inner {
    /// The route of `reference` under the node's runtime and configuration.
    pub(crate) async fn route(&self, reference: &Reference, deadline: Instant) -> Route {
        let server = self.server_hop(reference, deadline).await;
        Route { hops: vec![server] }
    }

    /// The registry itself: configured per host, else the runtime's default for it.
    async fn server_hop(&self, reference: &Reference, deadline: Instant) -> Hop {
        let profile = Profile::of(reference);
        let api = profile.api_host(reference, self.hub.as_deref());
        let (host, port) = split_host_port(api);
        let host = host.to_ascii_lowercase();
        let transport = match self.hosts.configured(reference.registry(), &host, port) {
            Some(mode) => Transport::only(mode),
            None => {
                let addresses = self.addresses_for_transport(&host, deadline).await;
                self.runtime
                    .default_transport(&host, port, &addresses, false)
            }
        };
        Hop {
            role: HostRole::Server,
            ep: Endpoint {
                port: port.unwrap_or(transport.first.default_port()),
                host,
                mode: transport.first,
            },
            explicit_port: port.is_some(),
            fallback: transport.fallback,
            reference: reference.clone(),
            profile,
        }
    }

    /// The addresses of `host`, when the runtime chooses its transport by address (Docker);
    /// none otherwise, or when the name does not resolve (the `dns` stage says why).
    async fn addresses_for_transport(&self, host: &str, deadline: Instant) -> Vec<IpAddr> {
        if !self.runtime.transport_needs_addresses() {
            return Vec::new();
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return vec![ip];
        }
        self.net
            .dns
            .lookup(host, deadline)
            .await
            .unwrap_or_default()
    }
}
