//! How each registry host is reached: the TLS mode configured per `HOST[:PORT]` (plain HTTP, or
//! HTTPS without verification), looked up for registries and for the token realms they name.

use std::collections::HashMap;

use crate::net::TlsMode;
use crate::registry::endpoint::{Endpoint, url_host};

/// The TLS mode of every configured host; any other host is HTTPS, verified.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostModes {
    /// Lower-cased `host[:port]` (IPv6 in brackets) → how to talk to it.
    modes: HashMap<String, TlsMode>,
}

impl HostModes {
    /// Modes keyed by validated, lower-cased `HOST[:PORT]`.
    pub(crate) fn new(modes: HashMap<String, TlsMode>) -> HostModes {
        HostModes { modes }
    }

    /// The mode for a registry named `registry`, reached at `host` and `port`: the registry's own
    /// name first, then `host:port`, then the host on every port.
    pub(crate) fn mode_for(&self, registry: &str, host: &str, port: Option<u16>) -> TlsMode {
        self.configured(registry, host, port).unwrap_or_default()
    }

    /// The mode configured for a registry ([`HostModes::mode_for`]), if any was.
    pub(crate) fn configured(
        &self,
        registry: &str,
        host: &str,
        port: Option<u16>,
    ) -> Option<TlsMode> {
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let mut candidates = vec![registry.to_ascii_lowercase()];
        if let Some(p) = port {
            candidates.push(format!("{bracketed}:{p}"));
        }
        candidates.push(bracketed);
        candidates.iter().find_map(|c| self.modes.get(c).copied())
    }

    /// The mode configured for the host of a URL (a token realm's).
    fn mode_for_url(&self, url: &reqwest::Url) -> TlsMode {
        let host = url_host(url);
        let port = url.port();
        let authority = match port {
            Some(p) if host.contains(':') => format!("[{host}]:{p}"),
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        self.mode_for(&authority, &host, port)
    }

    /// How a token realm is reached: its scheme decides TLS, and an `https` realm on a host
    /// configured to skip verification skips it.
    pub(crate) fn realm_mode(&self, url: &reqwest::Url) -> TlsMode {
        if url.scheme() == "http" {
            return TlsMode::PlainHttp;
        }
        match self.mode_for_url(url) {
            TlsMode::PlainHttp => TlsMode::Verify,
            m => m,
        }
    }

    /// Credentials go to a token realm over HTTPS; over plain HTTP only when its host was
    /// configured for plain HTTP, or it is on the host of `registry` and that registry is itself
    /// reached over plain HTTP (a token service beside its registry, on another port).
    pub(crate) fn realm_takes_credentials(&self, url: &reqwest::Url, registry: &Endpoint) -> bool {
        url.scheme() == "https"
            || self.mode_for_url(url) == TlsMode::PlainHttp
            || (registry.mode == TlsMode::PlainHttp && url_host(url) == registry.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_name_then_host_port_then_host() {
        let modes = HostModes::new(HashMap::from([
            ("reg:5000".to_owned(), TlsMode::PlainHttp),
            ("[::1]".to_owned(), TlsMode::SkipVerify),
        ]));
        assert_eq!(
            modes.mode_for("reg:5000", "reg", Some(5000)),
            TlsMode::PlainHttp
        );
        assert_eq!(
            modes.mode_for("reg:5001", "reg", Some(5001)),
            TlsMode::Verify
        );
        assert_eq!(
            modes.mode_for("[::1]:9", "::1", Some(9)),
            TlsMode::SkipVerify
        );
        let tls_registry = Endpoint {
            host: "reg".into(),
            port: 443,
            mode: TlsMode::Verify,
        };
        let plain_registry = Endpoint {
            mode: TlsMode::PlainHttp,
            ..tls_registry.clone()
        };
        let plain = reqwest::Url::parse("http://reg:5000/token").unwrap();
        assert!(modes.realm_takes_credentials(&plain, &tls_registry));
        assert_eq!(modes.realm_mode(&plain), TlsMode::PlainHttp);
        // Beside the image's plain-HTTP registry, on another port: its token service.
        let beside = reqwest::Url::parse("http://reg:5001/token").unwrap();
        assert!(modes.realm_takes_credentials(&beside, &plain_registry));
        assert!(!modes.realm_takes_credentials(&beside, &tls_registry));
        let other = reqwest::Url::parse("http://auth.example:5001/token").unwrap();
        assert!(!modes.realm_takes_credentials(&other, &plain_registry));
        let tls = reqwest::Url::parse("https://reg:5000/token").unwrap();
        assert_eq!(modes.realm_mode(&tls), TlsMode::Verify);
    }
}
