//! Diagnosis codes: one stable kebab-case code per cause, each with the hint written beside it.
//!
//! The codes are public interface (CI pipelines match on them); add new ones, never rename.

pub mod lint;
pub(crate) mod network;

use std::fmt;

use serde::Serialize;

/// The stages an image goes through, in order. The first failing stage decides the diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Stage {
    /// Parsing and normalizing the reference.
    Reference,
    /// Resolving the registry host name.
    Dns,
    /// Opening a TCP connection to the registry.
    Tcp,
    /// The TLS handshake.
    Tls,
    /// `GET /v2/`: is it a registry, and how does it want to be authenticated?
    Ping,
    /// Obtaining pull access for the repository.
    Auth,
    /// `HEAD` of the manifest.
    Manifest,
    /// Checking an image index for the required platforms.
    Platform,
}

impl Stage {
    /// The stage's name as it appears in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reference => "reference",
            Stage::Dns => "dns",
            Stage::Tcp => "tcp",
            Stage::Tls => "tls",
            Stage::Ping => "ping",
            Stage::Auth => "auth",
            Stage::Manifest => "manifest",
            Stage::Platform => "platform",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, hint = $hint:literal; )*) => {
        /// Why an image cannot be pulled. Each code names exactly one cause.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in the order of the contract's table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable kebab-case code.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $code, )* }
            }

            /// What to do about it, in general terms. A diagnosis may carry a more specific hint.
            pub fn hint(self) -> &'static str {
                match self { $( Code::$variant => $hint, )* }
            }
        }
    };
}

codes! {
    /// Not a valid image reference.
    InvalidReference = "invalid-reference",
        hint = "fix the image reference: [REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST], repository in lower case";
    /// The registry host name does not exist.
    DnsNxdomain = "dns-nxdomain",
        hint = "check the registry host name for typos; if it is internal, make sure CI and the nodes use a DNS server that knows it";
    /// The name exists but has no A/AAAA record.
    DnsNoAddress = "dns-no-address",
        hint = "the name exists but has no address record: add an A or AAAA record, or use the registry's real host name";
    /// No DNS answer in time.
    DnsTimeout = "dns-timeout",
        hint = "the DNS server did not answer in time: check the resolver configuration and that UDP/TCP port 53 is reachable";
    /// The DNS server failed.
    DnsError = "dns-error",
        hint = "the DNS server failed the query (SERVFAIL, REFUSED or unreachable): check the resolver and the zone";
    /// Nothing listens on that port.
    TcpRefused = "tcp-refused",
        hint = "nothing listens on that port: check the port in the reference and that the registry is running";
    /// The TCP connect timed out.
    TcpTimeout = "tcp-timeout",
        hint = "the connection timed out: a firewall or security group probably drops traffic to this port";
    /// No route to the host or network.
    TcpUnreachable = "tcp-unreachable",
        hint = "no route to the registry: check the network, VPN or routing between CI/nodes and the registry";
    /// Certificate signed by an authority the client does not trust.
    TlsUnknownIssuer = "tls-unknown-issuer",
        hint = "the certificate's issuer is not trusted: pass its CA with --ca-file here, and install it on every node (containerd certs.d) before deploying";
    /// Certificate expired or not yet valid.
    TlsExpired = "tls-expired",
        hint = "the registry's certificate is expired or not yet valid: renew it (and check the clocks)";
    /// Certificate not valid for this host name.
    TlsHostnameMismatch = "tls-hostname-mismatch",
        hint = "the certificate does not cover this host name: use a name listed in its SANs, or reissue the certificate";
    /// The server answered a TLS handshake in plain HTTP.
    TlsServerSpeaksHttp = "tls-server-speaks-http",
        hint = "the registry speaks plain HTTP: pass --plain-http for it here, and configure the nodes' runtime for an insecure registry (or better, enable TLS)";
    /// Any other handshake failure.
    TlsHandshake = "tls-handshake",
        hint = "the TLS handshake failed: check the protocol versions and ciphers the registry (or a proxy in front of it) accepts";
    /// `--plain-http` was given but the server expects TLS.
    PlainHttpToTls = "plain-http-to-tls",
        hint = "the registry expects TLS: remove --plain-http for it";
    /// `/v2/` is not a registry API.
    NotARegistry = "not-a-registry",
        hint = "this host and port do not serve the registry API at /v2/: check the registry host and port (a web server or proxy answered)";
    /// The configured proxy refused or failed the connection.
    ProxyError = "proxy-error",
        hint = "the proxy refused or failed the connection: check HTTPS_PROXY/NO_PROXY";
    /// The registry wants credentials and none were available.
    AuthRequired = "auth-required",
        hint = "the registry requires credentials: docker login (for CI) and an imagePullSecret (for the pod)";
    /// Credentials were sent and rejected.
    AuthRejected = "auth-rejected",
        hint = "the credentials were rejected: check the user name, password or token (it may have expired or been revoked)";
    /// Authenticated, but not allowed to pull this repository.
    AccessDenied = "access-denied",
        hint = "these credentials are valid but may not pull this repository: grant the account pull access, or use credentials that have it";
    /// The token service failed or could not be reached.
    AuthServerError = "auth-server-error",
        hint = "the registry's token service failed or could not be reached: check the realm host named in the challenge";
    /// The repository does not exist.
    RepositoryNotFound = "repository-not-found",
        hint = "the repository does not exist on this registry: check the image name, or push it";
    /// The tag or digest does not exist in the repository.
    ManifestUnknown = "manifest-unknown",
        hint = "push the tag, or fix the tag in the manifest";
    /// The registry hides whether the repository is missing or private.
    NotFoundOrUnauthorized = "not-found-or-unauthorized",
        hint = "the repository is either missing or private: check the name, and if it is private provide credentials that can pull it";
    /// The index has no manifest for a required platform.
    PlatformMissing = "platform-missing",
        hint = "build and push the image for the missing platform (docker buildx build --platform ...)";
    /// The tag does not point at the expected digest.
    DigestMismatch = "digest-mismatch",
        hint = "the tag points at another image than the one pushed: check the push target, or pin the digest";
    /// 429 / TOOMANYREQUESTS.
    RateLimited = "rate-limited",
        hint = "the registry is rate limiting: wait for Retry-After, authenticate (Docker Hub gives accounts a larger budget), or use a mirror";
    /// The registry answered 5xx or broke the protocol.
    RegistryError = "registry-error",
        hint = "the registry failed: retry later, and check its status and logs";
    /// The deadline passed in a stage after the connection was made.
    Timeout = "timeout",
        hint = "the registry connected but did not answer in time: raise --timeout, or check the registry's load";
    /// A pull Secret the pod names is not usable: wrong type, or data that does not decode.
    PullSecretInvalid = "pull-secret-invalid",
        hint = "recreate the Secret: kubectl create secret docker-registry NAME --docker-server=REGISTRY --docker-username=USER --docker-password=…";
    /// Docker Hub's remaining pulls are below the floor set with `--min-hub-remaining`.
    RateLimitLow = "rate-limit-low",
        hint = "wait for the window to reset, authenticate (docker login / imagePullSecrets) for a larger budget, or mirror the images";
    /// The pod names a pull Secret that is not in the inputs (and `--require-pull-secrets` was given).
    PullSecretMissing = "pull-secret-missing",
        hint = "create the Secret in the pod's namespace, or pass it with --pull-secrets (kubectl get secret NAME -o yaml)";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why an image cannot be pulled, where it was found, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// The stable code.
    pub code: Code,
    /// The stage that failed.
    pub stage: Stage,
    /// What happened, specific to this image.
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// What is there instead, closest first (the tags nearest a missing one); omitted when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<String>,
}

impl Diagnosis {
    /// A diagnosis with the code's general hint.
    pub fn new(code: Code, stage: Stage, message: impl Into<String>) -> Self {
        Diagnosis {
            code,
            stage,
            message: message.into(),
            hint: code.hint().to_owned(),
            suggestions: Vec::new(),
        }
    }

    /// Replaces the general hint with one specific to this case.
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }
}

/// Warning codes: they do not fail a check unless the caller asks for strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningCode {
    /// The reference names the `latest` tag explicitly.
    LatestTag,
    /// The reference has neither tag nor digest, so `latest` is implied.
    ImplicitLatest,
    /// Docker Hub's remaining pull budget is below what the deploy needs.
    RateLimitLow,
    /// A credential could not be used (for example a credential helper this version does not run).
    CredentialUnavailable,
    /// The pod names a pull Secret the inputs do not have (it may exist in the cluster).
    PullSecretMissing,
    /// The pod names a Secret that is not a pull secret; the kubelet skips it.
    PullSecretInvalid,
    /// `imagePullPolicy: Always` with a mutable tag: each restart may run a different image.
    AlwaysPullMutableTag,
    /// `imagePullPolicy: IfNotPresent` or `Never` with `latest`: nodes keep whatever they pulled first.
    StaleLatest,
    /// A digest was expected but the registry sent none to compare with.
    DigestUnverified,
    /// Platforms were asked for but not checked (Docker Hub without `--allow-hub-pulls`, or a
    /// single-platform manifest whose platform is only in its config).
    PlatformUnchecked,
    /// The registry's certificate expires within 14 days.
    CertificateExpiring,
}

impl WarningCode {
    /// Every warning code.
    pub const ALL: &'static [WarningCode] = &[
        WarningCode::LatestTag,
        WarningCode::ImplicitLatest,
        WarningCode::RateLimitLow,
        WarningCode::CredentialUnavailable,
        WarningCode::PullSecretMissing,
        WarningCode::PullSecretInvalid,
        WarningCode::AlwaysPullMutableTag,
        WarningCode::StaleLatest,
        WarningCode::DigestUnverified,
        WarningCode::PlatformUnchecked,
        WarningCode::CertificateExpiring,
    ];

    /// The stable kebab-case code.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::LatestTag => "latest-tag",
            WarningCode::ImplicitLatest => "implicit-latest",
            WarningCode::RateLimitLow => "rate-limit-low",
            WarningCode::CredentialUnavailable => "credential-unavailable",
            WarningCode::PullSecretMissing => "pull-secret-missing",
            WarningCode::PullSecretInvalid => "pull-secret-invalid",
            WarningCode::AlwaysPullMutableTag => "always-pull-mutable-tag",
            WarningCode::StaleLatest => "stale-latest",
            WarningCode::DigestUnverified => "digest-unverified",
            WarningCode::PlatformUnchecked => "platform-unchecked",
            WarningCode::CertificateExpiring => "certificate-expiring",
        }
    }
}

impl Serialize for WarningCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Something worth knowing that does not make the image unpullable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Warning {
    /// The stable code.
    pub code: WarningCode,
    /// What was noticed.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_unique_kebab_case_and_hinted() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(
                s.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{s} is not kebab-case"
            );
            assert!(!code.hint().is_empty(), "{s} has no hint");
            assert!(!code.hint().ends_with('.'), "{s} hint ends with a period");
        }
        for w in WarningCode::ALL {
            // A missing pull secret is a warning, or a failure under --require-pull-secrets; an
            // unusable one a warning when the kubelet skips it, a failure when it breaks the
            // pull: the causes that are deliberately both.
            if matches!(
                w,
                WarningCode::PullSecretMissing
                    | WarningCode::PullSecretInvalid
                    | WarningCode::RateLimitLow
            ) {
                assert!(Code::ALL.iter().any(|c| c.as_str() == w.as_str()));
                continue;
            }
            assert!(
                seen.insert(w.as_str()),
                "warning {} reuses a code",
                w.as_str()
            );
        }
    }

    #[test]
    fn contract_codes_present() {
        let all: HashSet<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        for c in [
            "invalid-reference",
            "dns-nxdomain",
            "dns-no-address",
            "dns-timeout",
            "dns-error",
            "tcp-refused",
            "tcp-timeout",
            "tcp-unreachable",
            "tls-unknown-issuer",
            "tls-expired",
            "tls-hostname-mismatch",
            "tls-server-speaks-http",
            "tls-handshake",
            "plain-http-to-tls",
            "not-a-registry",
            "proxy-error",
            "auth-required",
            "auth-rejected",
            "access-denied",
            "auth-server-error",
            "repository-not-found",
            "manifest-unknown",
            "not-found-or-unauthorized",
            "platform-missing",
            "digest-mismatch",
            "rate-limited",
            "registry-error",
            "timeout",
        ] {
            assert!(all.contains(c), "missing contract code {c}");
        }
    }
}
