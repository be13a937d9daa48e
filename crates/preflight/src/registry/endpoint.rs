//! Where one registry is reached and how, and the URLs of its API: every registry URL in the
//! crate is built here.

use crate::net::TlsMode;

/// Where one registry is reached and how.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Endpoint {
    /// The host to resolve and to name in TLS (no brackets around IPv6).
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) mode: TlsMode,
}

impl Endpoint {
    /// The endpoint a URL names (a token realm's): its host, its port or the scheme's, and `mode`.
    pub(crate) fn of_url(url: &reqwest::Url, mode: TlsMode) -> Endpoint {
        Endpoint {
            host: url_host(url),
            port: url.port_or_known_default().unwrap_or(mode.default_port()),
            mode,
        }
    }

    /// `host:port` as it goes in a URL (IPv6 in brackets).
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `https://host:port` (or `http://`).
    pub(crate) fn base_url(&self) -> String {
        format!("{}://{}", self.mode.scheme(), self.authority())
    }

    /// `GET /v2/`: is it a registry, and how does it want to be authenticated.
    pub(crate) fn ping_url(&self) -> String {
        format!("{}/v2/", self.base_url())
    }

    /// The manifest `reference` (a tag or a digest) of `repository`.
    pub(crate) fn manifest_url(&self, repository: &str, reference: &str) -> String {
        format!("{}/v2/{repository}/manifests/{reference}", self.base_url())
    }

    /// The blob `digest` of `repository`.
    pub(crate) fn blob_url(&self, repository: &str, digest: &str) -> String {
        format!("{}/v2/{repository}/blobs/{digest}", self.base_url())
    }

    /// The first page of `repository`'s tags, `n` at most.
    pub(crate) fn tags_url(&self, repository: &str, n: usize) -> String {
        format!("{}/v2/{repository}/tags/list?n={n}", self.base_url())
    }

    /// A path the registry gave (a `Link` to the next page), on this endpoint.
    pub(crate) fn path_url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }
}

/// A URL's host, lower-cased and without the brackets of an IPv6 address.
pub(crate) fn url_host(url: &reqwest::Url) -> String {
    url.host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ep = Endpoint {
            host: "::1".into(),
            port: 5000,
            mode: TlsMode::PlainHttp,
        };
        assert_eq!(ep.ping_url(), "http://[::1]:5000/v2/");
        assert_eq!(
            ep.manifest_url("shop/app", "v1"),
            "http://[::1]:5000/v2/shop/app/manifests/v1"
        );
        assert_eq!(
            ep.blob_url("a", "sha256:00"),
            "http://[::1]:5000/v2/a/blobs/sha256:00"
        );
        assert_eq!(ep.tags_url("a", 1), "http://[::1]:5000/v2/a/tags/list?n=1");
        let realm = reqwest::Url::parse("https://Auth.Example/token").unwrap();
        let r = Endpoint::of_url(&realm, TlsMode::Verify);
        assert_eq!((r.host.as_str(), r.port), ("auth.example", 443));
    }
}
