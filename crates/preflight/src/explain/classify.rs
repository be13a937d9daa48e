//! The runtime's pull error, as the kubelet reports it, to a diagnosis code: the one table of
//! message shapes.
//!
//! The text a Pod's status or a `Failed` event carries is the runtime's error inside two
//! wrappings, peeled here first:
//!
//! - the kubelet's (`pkg/kubelet/images/image_manager.go` at v1.33.0, `pullImage` and
//!   `evalCRIPullErr`): the event `Failed to pull image "IMAGE": ERR`; the status message `ERR`,
//!   or `image pull failed for IMAGE because the registry is unavailable: ERR` (and `… because
//!   the signature validation failed…`); while backing off, `Back-off pulling image "IMAGE"`,
//!   from v1.32 followed by `: ErrImagePull: ERR`;
//! - gRPC's, since the runtime answers over CRI: `rpc error: code = CODE desc = ERR`
//!   (grpc-go `internal/status/status.go`, `(*Status).Error`).
//!
//! What is left is the runtime's own text: containerd's CRI plugin wraps it once more
//! (`failed to pull and unpack image "REF": ERR`, `pkg/cri/server/image_pull.go` `PullImage` in
//! 1.6/1.7, `internal/cri/server/images/image_pull.go` in 2.x), CRI-O passes containers/image's
//! errors through, cri-dockerd Docker Engine's. The table's rows then match parts of that text,
//! in order, first match wins: the more specific shapes come first (a proxy's DNS failure
//! before a registry's, a token endpoint's 401 before a registry's).
//!
//! Rows for containerd 1.6 and podman 4.3 (containers/image 5.23, CRI-O's library) are checked
//! against the texts the real runtimes print in the suite's oracle (`tests/it/oracle.rs`); the
//! others cite the source the shape was read from. A text no row matches is `unclassified`:
//! a wrong cause would send the engineer the wrong way at 3 AM, an honest "unknown" with the
//! text shown does not.
//!
//! Where the runtime's text says less than a check finds, the row gives the coarser cause the
//! text does support, and says so: containerd reports a missing tag and a missing repository
//! alike as `not found` (so does containers/image, as `manifest unknown`), and a 401 does not
//! say whether credentials were sent.

use crate::diagnosis::Code;

/// One message shape: the parts that must appear, in order, and the cause they name.
#[derive(Debug)]
pub struct Shape {
    /// Substrings that must all appear in the text, in this order.
    pub parts: &'static [&'static str],
    /// The cause.
    pub code: Code,
    /// Where the text comes from: the runtime (or library) that prints it.
    pub from: &'static str,
    /// The source the shape was read from (file and function, at a tag), and why this code
    /// where it is not plain.
    pub source: &'static str,
}

/// Every shape, in the order they are tried.
pub const SHAPES: &[Shape] = &[
    // --- The kubelet's own failures, before any runtime.
    Shape {
        parts: &["Failed to apply default image tag"],
        code: Code::InvalidReference,
        from: "kubelet",
        source: "kubernetes v1.33.0 pkg/kubelet/images/image_manager.go EnsureImageExists (InvalidImageName)",
    },
    Shape {
        parts: &["couldn't parse image"],
        code: Code::InvalidReference,
        from: "kubelet",
        source: "kubernetes v1.27.0 pkg/kubelet/images/image_manager.go applyDefaultImageTag",
    },
    Shape {
        parts: &["invalid reference format"],
        code: Code::InvalidReference,
        from: "containerd, docker",
        source: "distribution/reference v0.6.0 reference.go ErrReferenceInvalidFormat",
    },
    // --- A proxy between the node and the registry: before the DNS and TCP rows, which its
    // own failures contain.
    Shape {
        parts: &["proxyconnect"],
        code: Code::ProxyError,
        from: "Go net/http (containerd, CRI-O, docker)",
        source: "Go 1.22 net/http/transport.go (*Transport).dialConn: `proxyconnect tcp: ERR`",
    },
    // --- Blob storage (a redirect target) before the registry's own network rows.
    // --- Name resolution (Go's resolver, which every runtime uses).
    Shape {
        parts: &["lookup ", "i/o timeout"],
        code: Code::DnsTimeout,
        from: "Go net",
        source: "Go 1.22 net/dnsclient_unix.go (*Resolver).tryOneName: DNSError with IsTimeout, `lookup NAME on SERVER: … i/o timeout`",
    },
    Shape {
        parts: &["lookup ", "server misbehaving"],
        code: Code::DnsError,
        from: "Go net",
        source: "Go 1.22 net/dnsclient_unix.go errServerMisbehaving (SERVFAIL, REFUSED)",
    },
    Shape {
        parts: &["lookup ", "no such host"],
        code: Code::DnsNxdomain,
        from: "Go net (containerd, CRI-O, docker)",
        source: "Go 1.22 net/dnsclient_unix.go errNoSuchHost; seen from ctr 1.6.20 and podman 4.3.1 (oracle row dns-nxdomain). Go says the same of a name with no address record: the live check tells dns-no-address apart",
    },
    // --- TCP.
    Shape {
        parts: &["connect: connection refused"],
        code: Code::TcpRefused,
        from: "Go net",
        source: "Go 1.22 net/net.go OpError over ECONNREFUSED; seen from ctr and podman (oracle row tcp-refused)",
    },
    Shape {
        parts: &["dial tcp", "i/o timeout"],
        code: Code::TcpTimeout,
        from: "Go net",
        source: "Go 1.22 net/dial.go, os.ErrDeadlineExceeded (`i/o timeout`) on connect",
    },
    Shape {
        parts: &["connect: connection timed out"],
        code: Code::TcpTimeout,
        from: "Go net",
        source: "Go 1.22 net/net.go OpError over ETIMEDOUT",
    },
    Shape {
        parts: &["connect: no route to host"],
        code: Code::TcpUnreachable,
        from: "Go net",
        source: "Go 1.22 net/net.go OpError over EHOSTUNREACH",
    },
    Shape {
        parts: &["connect: network is unreachable"],
        code: Code::TcpUnreachable,
        from: "Go net",
        source: "Go 1.22 net/net.go OpError over ENETUNREACH",
    },
    // --- TLS (Go's crypto/x509 and crypto/tls texts).
    Shape {
        parts: &["x509: certificate signed by unknown authority"],
        code: Code::TlsUnknownIssuer,
        from: "Go crypto/x509",
        source: "Go 1.22 crypto/x509/verify.go UnknownAuthorityError.Error; seen from ctr and podman (oracle row tls-ca-not-given)",
    },
    Shape {
        parts: &["x509: certificate has expired or is not yet valid"],
        code: Code::TlsExpired,
        from: "Go crypto/x509",
        source: "Go 1.22 crypto/x509/verify.go CertificateInvalidError (Expired); seen from ctr and podman (oracle row tls-expired)",
    },
    Shape {
        parts: &["x509: certificate is valid for"],
        code: Code::TlsHostnameMismatch,
        from: "Go crypto/x509",
        source: "Go 1.22 crypto/x509/verify.go HostnameError.Error; seen from ctr and podman (oracle row tls-wrong-host)",
    },
    Shape {
        parts: &["x509: certificate is not valid for any names"],
        code: Code::TlsHostnameMismatch,
        from: "Go crypto/x509",
        source: "Go 1.22 crypto/x509/verify.go HostnameError.Error (no SANs)",
    },
    Shape {
        parts: &["server gave HTTP response to HTTPS client"],
        code: Code::TlsServerSpeaksHttp,
        from: "Go net/http",
        source: "Go 1.22 net/http/client.go (*Client).send; seen from ctr and podman (oracle row tls-to-plain-registry)",
    },
    Shape {
        parts: &["remote error: tls: "],
        code: Code::TlsHandshake,
        from: "Go crypto/tls",
        source: "Go 1.22 crypto/tls/alert.go (an alert from the server)",
    },
    Shape {
        parts: &["tls: first record does not look like a TLS handshake"],
        code: Code::TlsHandshake,
        from: "Go crypto/tls",
        source: "Go 1.22 crypto/tls/conn.go (*Conn).readRecordOrCCS",
    },
    // --- CRI-O's registries.conf and short names, before any registry is asked.
    Shape {
        parts: &["is blocked in"],
        code: Code::RegistryBlocked,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 docker/docker_image_src.go newImageSource (`registry %s is blocked in %s`); seen from podman (oracle row registry-blocked)",
    },
    Shape {
        parts: &["short-name resolution enforced but cannot prompt without a TTY"],
        code: Code::ShortNameAmbiguous,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 pkg/shortnames/shortnames.go Resolve (enforcing mode, several search registries); seen from podman (oracle row short-name-ambiguous)",
    },
    Shape {
        parts: &[
            "short-name",
            "did not resolve to an alias and no unqualified-search registries are defined",
        ],
        code: Code::ShortNameUnresolved,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 pkg/shortnames/shortnames.go Resolve",
    },
    // --- Token services, before the registry's own 401s.
    Shape {
        parts: &["failed to fetch oauth token", "401"],
        code: Code::AuthRejected,
        from: "containerd",
        source: "containerd v1.7.27 remotes/docker/auth/fetch.go FetchTokenWithOAuth (the token service refused the user name and password)",
    },
    Shape {
        parts: &["failed to fetch oauth token"],
        code: Code::AuthServerError,
        from: "containerd",
        source: "containerd v1.7.27 remotes/docker/authorizer.go fetchToken; seen from ctr (oracle row token-post-not-implemented: `unexpected status: 501`)",
    },
    Shape {
        parts: &["failed to fetch anonymous token"],
        code: Code::AuthServerError,
        from: "containerd",
        source: "containerd v1.7.27 remotes/docker/authorizer.go fetchToken",
    },
    Shape {
        parts: &["requesting bearer token"],
        code: Code::AuthServerError,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 docker/docker_client.go getBearerToken",
    },
    // --- Registries that hide whether a repository exists.
    Shape {
        parts: &["repository does not exist or may require"],
        code: Code::NotFoundOrUnauthorized,
        from: "containerd 1.7+, docker",
        source: "containerd v1.7.27 remotes/docker/resolver.go (`pull access denied, repository does not exist or may require authorization`); moby v28.5.2 distribution/errors.go (`… may require 'docker login'`)",
    },
    Shape {
        parts: &["insufficient_scope"],
        code: Code::AccessDenied,
        from: "containerd",
        source: "containerd v1.6.20 remotes/docker/auth (the challenge's error=insufficient_scope); seen from ctr (oracle row token-insufficient-scope)",
    },
    Shape {
        parts: &["requested access to the resource is denied"],
        code: Code::AccessDenied,
        from: "CRI-O (containers/image), docker",
        source: "distribution v2.8 registry/api/errcode DENIED, relayed by containers/image v5.23.1 docker/errors.go; seen from podman (oracle row token-insufficient-scope)",
    },
    Shape {
        parts: &["403 Forbidden"],
        code: Code::AccessDenied,
        from: "containerd",
        source: "containerd v1.7.27 remotes/errors/errors.go ErrUnexpectedStatus (`unexpected status from GET request to URL: 403 Forbidden`)",
    },
    Shape {
        parts: &["401 Unauthorized"],
        code: Code::AuthRequired,
        from: "containerd",
        source: "containerd v1.6.20 remotes/docker/resolver.go; seen from ctr (oracle rows basic-no-credentials, basic-wrong-password). A 401 does not say whether credentials were sent: auth-required is what the text supports; the live check tells auth-rejected apart",
    },
    Shape {
        parts: &["unauthorized: "],
        code: Code::AuthRequired,
        from: "CRI-O (containers/image), docker",
        source: "distribution v2.8 registry/api/errcode UNAUTHORIZED (`unauthorized: authentication required`), relayed by containers/image v5.23.1 docker/errors.go; seen from podman (oracle rows basic-no-credentials, basic-wrong-password), the same coarser cause",
    },
    // --- The pull path past the manifest.
    Shape {
        parts: &["no match for platform in manifest"],
        code: Code::PlatformMissing,
        from: "containerd",
        source: "containerd v1.6.20 images/image.go Manifest; seen from ctr (oracle row index-without-node-platform)",
    },
    Shape {
        parts: &["no image found in image index for architecture"],
        code: Code::PlatformMissing,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 manifest/oci_index.go ChooseInstance; seen from podman (oracle row index-without-node-platform)",
    },
    Shape {
        parts: &["no image found in manifest list for architecture"],
        code: Code::PlatformMissing,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 manifest/docker_schema2_list.go ChooseInstance",
    },
    Shape {
        parts: &["does not match the specified platform"],
        code: Code::PlatformMissing,
        from: "docker",
        source: "moby v28.5.2 daemon/images/image.go (`image with reference %s was found but does not match the specified platform`)",
    },
    Shape {
        parts: &["could not fetch content descriptor", "not found"],
        code: Code::BlobUnknown,
        from: "containerd",
        source: "containerd v1.6.20 remotes/docker/fetcher.go Fetch; seen from ctr (oracle row layer-blob-missing)",
    },
    Shape {
        parts: &["reading blob", "404"],
        code: Code::BlobUnknown,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 docker/docker_image_src.go GetBlob; seen from podman (oracle row layer-blob-missing)",
    },
    Shape {
        parts: &["reading blob", "blob unknown"],
        code: Code::BlobUnknown,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 docker/docker_image_src.go GetBlob with distribution's BLOB_UNKNOWN body",
    },
    Shape {
        parts: &["unexpected commit digest"],
        code: Code::BlobDigestMismatch,
        from: "containerd",
        source: "containerd v1.6.20 content/local/writer.go Commit; seen from ctr (oracle row config-blob-corrupted)",
    },
    Shape {
        parts: &["digest", "does not match expected"],
        code: Code::BlobDigestMismatch,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 copy/single.go (config digest check); seen from podman (oracle row config-blob-corrupted)",
    },
    Shape {
        parts: &["Digest did not match"],
        code: Code::BlobDigestMismatch,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 internal/putblobdigest and copy/blob.go (`Digest did not match, expected …`)",
    },
    // A manifest fetched by digest, once the tag resolved: the index's entry for the node's
    // platform (`manifest_by_digest` turns it into manifest-unknown when the image itself is
    // pinned by that digest).
    Shape {
        parts: &["content at", "/manifests/sha256:", "not found"],
        code: Code::PlatformManifestMissing,
        from: "containerd",
        source: "containerd v1.6.20 remotes/docker/fetcher.go Fetch (`content at URL not found`); seen from ctr (oracle row platform-manifest-deleted)",
    },
    Shape {
        parts: &["reading manifest sha256:", "manifest unknown"],
        code: Code::PlatformManifestMissing,
        from: "CRI-O (containers/image)",
        source: "containers/image v5.23.1 docker/docker_image_src.go fetchManifest (`reading manifest DIGEST in REPO`); seen from podman (oracle row platform-manifest-deleted)",
    },
    // --- The manifest itself.
    Shape {
        parts: &["name unknown"],
        code: Code::RepositoryNotFound,
        from: "CRI-O (containers/image), docker",
        source: "distribution v2.8 registry/api/v2/errors.go NAME_UNKNOWN (`repository name not known to registry`), relayed by containers/image and moby",
    },
    Shape {
        parts: &["failed to resolve reference", "not found"],
        code: Code::ManifestUnknown,
        from: "containerd",
        source: "containerd v1.6.20 remotes/docker/resolver.go Resolve (`REF: not found`) under pull.go's `failed to resolve reference`; seen from ctr (oracle rows missing-tag and missing-repository: containerd says not found for both, so manifest-unknown, the cause the text supports; the live check tells repository-not-found apart)",
    },
    Shape {
        parts: &["manifest unknown"],
        code: Code::ManifestUnknown,
        from: "CRI-O (containers/image), docker",
        source: "distribution v2.8 registry/api/v2/errors.go MANIFEST_UNKNOWN, relayed by containers/image v5.23.1 docker/docker_image_src.go fetchManifest; seen from podman (oracle rows missing-tag and missing-repository, alike)",
    },
    Shape {
        parts: &["manifest for", "not found"],
        code: Code::ManifestUnknown,
        from: "docker",
        source: "moby v28.5.2 distribution/errors.go (`manifest for REF not found`)",
    },
    // --- Limits and failures of the registry.
    Shape {
        parts: &["429 Too Many Requests"],
        code: Code::RateLimited,
        from: "containerd",
        source: "containerd v1.7.27 remotes/errors/errors.go ErrUnexpectedStatus",
    },
    Shape {
        parts: &["toomanyrequests"],
        code: Code::RateLimited,
        from: "CRI-O (containers/image), docker",
        source: "distribution v2.8 registry/api/errcode TOOMANYREQUESTS (Docker Hub's `You have reached your pull rate limit`)",
    },
    Shape {
        parts: &["500 Internal Server Error"],
        code: Code::RegistryError,
        from: "containerd, CRI-O",
        source: "containerd v1.7.27 remotes/errors/errors.go ErrUnexpectedStatus; containers/image v5.23.1 docker/errors.go",
    },
    Shape {
        parts: &["502 Bad Gateway"],
        code: Code::RegistryError,
        from: "containerd, CRI-O",
        source: "containerd v1.7.27 remotes/errors/errors.go ErrUnexpectedStatus",
    },
    Shape {
        parts: &["503 Service Unavailable"],
        code: Code::RegistryError,
        from: "containerd, CRI-O",
        source: "containerd v1.7.27 remotes/errors/errors.go ErrUnexpectedStatus",
    },
    Shape {
        parts: &["400 Bad Request"],
        code: Code::RegistryError,
        from: "containerd",
        source: "containerd v1.6.20 remotes/docker/resolver.go; seen from ctr (oracle rows plain-http-to-tls-registry and tls-on-localhost-unconfigured, where a TLS server refused a plain-HTTP request): the text says only that the server refused the request, so registry-error; the live check tells plain-http-to-tls apart",
    },
    Shape {
        parts: &["context deadline exceeded"],
        code: Code::Timeout,
        from: "Go context (containerd, CRI-O)",
        source: "Go 1.22 context/context.go DeadlineExceeded (the runtime's or the kubelet's deadline for the pull)",
    },
    Shape {
        parts: &["cancel pulling image", "no progress"],
        code: Code::Timeout,
        from: "containerd",
        source: "containerd v1.7.27 pkg/cri/server/image_pull.go (image_pull_progress_timeout)",
    },
];

/// What a message says, once unwrapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The cause, `None` when no shape matches.
    pub code: Option<Code>,
    /// The runtime's own text, the kubelet's and gRPC's wrapping peeled off.
    pub inner: String,
    /// The gRPC status code the CRI answered with, when the text carries one (`NotFound`,
    /// `Unknown`…).
    pub grpc_code: Option<String>,
    /// The index of the matching row in [`SHAPES`].
    pub shape: Option<usize>,
}

/// Classifies a pull error as a Pod's status or a `Failed` event carries it. `image` is the
/// container's image as written (to tell an index's manifest from a pinned one).
pub fn classify(message: &str, image: &str) -> Classified {
    let (inner, grpc_code) = peel(message);
    let shape = SHAPES
        .iter()
        .position(|s| contains_in_order(&inner, s.parts));
    let code = shape.map(|i| {
        let code = SHAPES[i].code;
        if code == Code::PlatformManifestMissing && pinned_to(image, &inner) {
            // The image's own digest is what is missing, not an index's entry.
            Code::ManifestUnknown
        } else {
            code
        }
    });
    Classified {
        code,
        inner,
        grpc_code,
        shape,
    }
}

/// Whether `image` is pinned to a digest that `text` names.
fn pinned_to(image: &str, text: &str) -> bool {
    image
        .split_once('@')
        .is_some_and(|(_, digest)| !digest.is_empty() && text.contains(digest))
}

/// Removes the kubelet's and gRPC's wrapping; returns the runtime's text and the gRPC code.
pub fn peel(message: &str) -> (String, Option<String>) {
    let mut text = message.trim();
    // The status while backing off: `Back-off pulling image "IMAGE"` and, from v1.32, `: REASON:
    // ERR` with the reason of the last real try.
    if let Some(rest) = text.strip_prefix("Back-off pulling image ") {
        text = after_quoted(rest).unwrap_or("");
        text = text.strip_prefix(':').unwrap_or(text).trim_start();
        for reason in [
            "ErrImagePull:",
            "RegistryUnavailable:",
            "SignatureValidationFailed:",
        ] {
            if let Some(rest) = text.strip_prefix(reason) {
                text = rest.trim_start();
                break;
            }
        }
    }
    // The `Failed` event.
    if let Some(rest) = text.strip_prefix("Failed to pull image ") {
        text = after_quoted(rest).map_or(text, |r| r.strip_prefix(':').unwrap_or(r).trim_start());
    }
    // evalCRIPullErr's rewordings: `image pull failed for IMAGE because the registry is
    // unavailable: ERR`; the detail may be absent (then the text stays as it is).
    for marker in [
        " because the registry is unavailable",
        " because the signature validation failed",
    ] {
        if text.starts_with("image pull failed for ")
            && let Some(at) = text.find(marker)
        {
            let rest = text[at + marker.len()..]
                .trim_start_matches(['.', ':'])
                .trim();
            if !rest.is_empty() {
                text = rest;
            }
        }
    }
    // gRPC's status: `rpc error: code = NotFound desc = ERR`.
    let mut grpc_code = None;
    if let Some(rest) = text.strip_prefix("rpc error: code = ")
        && let Some((code, desc)) = rest.split_once(" desc = ")
    {
        grpc_code = Some(code.trim().to_owned());
        text = desc;
    }
    (text.trim().to_owned(), grpc_code)
}

/// The text after a leading Go-quoted string (`"…"`, with `\"` escapes), or `None`.
fn after_quoted(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return Some(&rest[i + 1..]),
            _ => escaped = false,
        }
    }
    None
}

/// Whether `text` holds every part, in order, each after the end of the one before.
fn contains_in_order(text: &str, parts: &[&str]) -> bool {
    let mut rest = text;
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(message: &str) -> Option<&'static str> {
        classify(message, "registry.example.com/app:v1")
            .code
            .map(Code::as_str)
    }

    #[test]
    fn the_issue_example_peels_to_containerd_not_found() {
        let m = "Failed to pull image \"myregistry.com/payment-app:v2.1.3\": rpc error: code = NotFound desc = failed to pull and unpack image \"myregistry.com/payment-app:v2.1.3\": failed to resolve reference \"myregistry.com/payment-app:v2.1.3\": myregistry.com/payment-app:v2.1.3: not found";
        let c = classify(m, "myregistry.com/payment-app:v2.1.3");
        assert_eq!(c.code, Some(Code::ManifestUnknown));
        assert_eq!(c.grpc_code.as_deref(), Some("NotFound"));
        assert!(
            c.inner.starts_with("failed to pull and unpack image"),
            "{}",
            c.inner
        );
    }

    #[test]
    fn kubelet_wrappings() {
        // v1.32+: the back-off status carries the last try's error.
        let m = "Back-off pulling image \"r.io/a:v1\": ErrImagePull: rpc error: code = Unknown desc = x509: certificate signed by unknown authority";
        assert_eq!(
            peel(m),
            (
                "x509: certificate signed by unknown authority".into(),
                Some("Unknown".into())
            )
        );
        // Before: nothing left to classify.
        assert_eq!(
            peel("Back-off pulling image \"r.io/a:v1\""),
            (String::new(), None)
        );
        assert_eq!(code("Back-off pulling image \"r.io/a:v1\""), None);
        // evalCRIPullErr's rewording, with and without detail.
        let m = "image pull failed for r.io/a:v1 because the registry is unavailable: dial tcp 10.0.0.1:443: connect: connection refused";
        assert_eq!(code(m), Some("tcp-refused"));
        let m = "image pull failed for r.io/a:v1 because the registry is unavailable.";
        assert_eq!(classify(m, "r.io/a:v1").code, None);
        // A quoted image with an escaped quote does not end the peel early.
        assert_eq!(
            peel("Failed to pull image \"a\\\"b\": rpc error: code = NotFound desc = x").0,
            "x"
        );
    }

    #[test]
    fn shapes_from_sources() {
        for (message, want) in [
            (
                "proxyconnect tcp: dial tcp: lookup proxy.corp on 10.0.0.2:53: no such host",
                "proxy-error",
            ),
            (
                "Get \"https://r.io/v2/\": dial tcp: lookup r.io on 10.0.0.2:53: read udp 10.0.0.5:4444->10.0.0.2:53: i/o timeout",
                "dns-timeout",
            ),
            (
                "dial tcp: lookup r.io on 10.0.0.2:53: server misbehaving",
                "dns-error",
            ),
            ("dial tcp 10.0.0.1:443: i/o timeout", "tcp-timeout"),
            (
                "dial tcp 10.0.0.1:443: connect: no route to host",
                "tcp-unreachable",
            ),
            (
                "tls: failed to verify certificate: x509: certificate is not valid for any names, but wanted to match r.io",
                "tls-hostname-mismatch",
            ),
            ("remote error: tls: handshake failure", "tls-handshake"),
            (
                "failed to fetch oauth token: unexpected status from POST request to https://auth/token: 401 Unauthorized",
                "auth-rejected",
            ),
            (
                "pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed",
                "not-found-or-unauthorized",
            ),
            (
                "Error response from daemon: pull access denied for x, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
                "not-found-or-unauthorized",
            ),
            (
                "unexpected status from HEAD request to https://r.io/v2/a/manifests/v1: 403 Forbidden",
                "access-denied",
            ),
            (
                "Error response from daemon: manifest for r.io/a:v9 not found: manifest unknown: manifest unknown",
                "manifest-unknown",
            ),
            (
                "unexpected status from HEAD request to https://r.io/v2/a/manifests/v1: 429 Too Many Requests",
                "rate-limited",
            ),
            (
                "toomanyrequests: You have reached your pull rate limit.",
                "rate-limited",
            ),
            (
                "unexpected status from GET request to https://r.io/v2/a/blobs/sha256:00: 503 Service Unavailable",
                "registry-error",
            ),
            (
                "reading manifest v1 in r.io/a: name unknown: repository name not known to registry",
                "repository-not-found",
            ),
            (
                "Failed to apply default image tag \"A:B:C\": couldn't parse image name \"A:B:C\": invalid reference format",
                "invalid-reference",
            ),
            (
                "failed to pull and unpack image \"r.io/a:v1\": failed to resolve reference \"r.io/a:v1\": failed to do request: Head \"https://r.io/v2/a/manifests/v1\": context deadline exceeded",
                "timeout",
            ),
            (
                "short-name \"app\" did not resolve to an alias and no unqualified-search registries are defined in \"/etc/containers/registries.conf\"",
                "short-name-unresolved",
            ),
        ] {
            assert_eq!(code(message), Some(want), "{message}");
        }
    }

    #[test]
    fn unknown_text_is_unclassified() {
        for message in [
            "",
            "something went wrong",
            "Container image \"a:v1\" is not present with pull policy of Never",
            "image pull failed for a:v1 because the signature validation failed",
        ] {
            assert_eq!(code(message), None, "{message}");
        }
    }

    #[test]
    fn a_pinned_image_missing_is_its_manifest_not_an_index_entry() {
        let d = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let m = format!("reading manifest {d} in r.io/a: manifest unknown");
        assert_eq!(
            classify(&m, "r.io/a:v1").code,
            Some(Code::PlatformManifestMissing)
        );
        assert_eq!(
            classify(&m, &format!("r.io/a@{d}")).code,
            Some(Code::ManifestUnknown)
        );
    }

    #[test]
    fn every_row_cites_a_source_and_is_reachable() {
        for (i, shape) in SHAPES.iter().enumerate() {
            assert!(!shape.parts.is_empty() && !shape.source.is_empty() && !shape.from.is_empty());
            // Its own parts, joined, match it or an earlier row on purpose: never a later one.
            let text = shape.parts.join(" ");
            let first = SHAPES
                .iter()
                .position(|s| contains_in_order(&text, s.parts))
                .expect("a row matches its own parts");
            assert_eq!(
                first, i,
                "row {i} ({:?}) is shadowed by row {first}",
                shape.parts
            );
        }
    }

    #[test]
    fn peel_never_panics_on_odd_text() {
        for m in [
            "Back-off pulling image ",
            "Back-off pulling image \"",
            "Back-off pulling image \"\\",
            "Failed to pull image \"é\\\"",
            "rpc error: code = ",
            "image pull failed for  because the registry is unavailable",
        ] {
            let _ = classify(m, "x");
        }
    }
}
