//! The code table: every code, failure and warning alike, in one row with its kebab-case text,
//! severity, stages and hint; [`Code`] and [`WarningCode`] are generated from it.
//!
//! The codes are public interface (CI pipelines match on them): add rows, never rename. One table
//! keeps a code's text, hint and stages from drifting apart, and lets a test see every code at once.
//!
//! A row's severity is `failure` (a [`Code`]), `warning` (a [`WarningCode`]) or `both`: a cause that
//! is deliberately a warning in one run and a failure in another (a missing pull Secret fails only
//! under `--require-pull-secrets`). A `both` row is one variant of each enum with the same text and
//! hint, so the two can never spell it differently.
//!
//! Each row's documentation is the code's cause, and `docs/contract.md` lists the rows: its code
//! section is generated from this table (`PREFLIGHT_BLESS=1 cargo nextest run -p preflight-cli -E
//! 'test(contract)'` rewrites it, and the suite fails while the two differ). Stages are the
//! contract's; a warning's stage is the stage whose result produces it.

use std::fmt;

use serde::Serialize;

use super::Stage;
use crate::registry::profile::Flavor;

/// Where in the pipeline a code arises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stages {
    /// Any stage: causes such as a 5xx or the deadline, which stop the pipeline wherever it is
    /// (the contract's "any").
    Any,
    /// These stages, in pipeline order.
    Only(&'static [Stage]),
}

impl Stages {
    /// Whether a diagnosis of this code belongs at `stage`.
    pub fn contains(self, stage: Stage) -> bool {
        match self {
            Stages::Any => true,
            Stages::Only(stages) => stages.contains(&stage),
        }
    }
}

/// Reads the rows one at a time into the failure and warning lists (a `both` row goes into each),
/// then generates the two enums. Each list entry is `{ [docs] Variant "text" severity stages "hint" }`.
macro_rules! code_table {
    (@row [$($f:tt)*] [$($w:tt)*]) => {
        code_table!(@failures $($f)*);
        code_table!(@warnings $($w)*);
    };
    (@row [$($f:tt)*] [$($w:tt)*]
        $(#[doc = $doc:literal])* $variant:ident = $text:literal, failure,
            stages = $stages:tt, hint = $hint:literal;
        $($rest:tt)*
    ) => {
        code_table!(@row
            [$($f)* { [$($doc)*] $variant $text failure $stages $hint }]
            [$($w)*]
            $($rest)*);
    };
    (@row [$($f:tt)*] [$($w:tt)*]
        $(#[doc = $doc:literal])* $variant:ident = $text:literal, warning,
            stages = $stages:tt, hint = $hint:literal;
        $($rest:tt)*
    ) => {
        code_table!(@row
            [$($f)*]
            [$($w)* { [$($doc)*] $variant $text warning $stages $hint }]
            $($rest)*);
    };
    (@row [$($f:tt)*] [$($w:tt)*]
        $(#[doc = $doc:literal])* $variant:ident = $text:literal, both,
            stages = $stages:tt, hint = $hint:literal;
        $($rest:tt)*
    ) => {
        code_table!(@row
            [$($f)* { [$($doc)*] $variant $text both $stages $hint }]
            [$($w)* { [$($doc)*] $variant $text both $stages $hint }]
            $($rest)*);
    };

    (@row [$($f:tt)*] [$($w:tt)*] $($bad:tt)+) => {
        compile_error!(concat!("a code table row does not parse: ", stringify!($($bad)+)));
    };

    (@stages any) => { Stages::Any };
    (@stages [$($stage:ident),+]) => { Stages::Only(&[$(Stage::$stage),+]) };

    // The other enum's variant, for a `both` row.
    (@other both $enum:ident $variant:ident) => { Some($enum::$variant) };
    (@other $severity:ident $enum:ident $variant:ident) => { None };

    (@failures $({ [$($doc:literal)*] $variant:ident $text:literal $severity:ident $stages:tt $hint:literal })*) => {
        /// Why an image cannot be pulled. Each code names exactly one cause.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Code {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Code {
            /// Every code, in the order of the contract's table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable kebab-case code.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => $text, )* }
            }

            /// What to do about it, in general terms. A diagnosis may carry a more specific hint.
            pub fn hint(self) -> &'static str {
                match self { $( Code::$variant => $hint, )* }
            }

            /// The cause it names, in general terms: its row's documentation in the code table
            /// (what `docs/contract.md` lists beside the hint).
            pub fn cause(self) -> &'static str {
                match self { $( Code::$variant => concat!($($doc),*).trim_ascii(), )* }
            }

            /// The stages this cause is found at: the contract's, and where a check meets it
            /// besides (a registry that refuses a client at `/v2/` is `access-denied` at `ping`; a
            /// manifest request refused anonymously, or with a token the registry itself rejects,
            /// is `auth-required` or `auth-server-error` at `manifest`). Every diagnosis names one
            /// of them.
            pub fn stages(self) -> Stages {
                match self { $( Code::$variant => code_table!(@stages $stages), )* }
            }

            /// The warning of the same name, for a cause that is deliberately both.
            pub fn warning(self) -> Option<WarningCode> {
                match self { $( Code::$variant => code_table!(@other $severity WarningCode $variant), )* }
            }
        }
    };

    (@warnings $({ [$($doc:literal)*] $variant:ident $text:literal $severity:ident $stages:tt $hint:literal })*) => {
        /// Warning codes: they do not fail a check unless the caller asks for strictness.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum WarningCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl WarningCode {
            /// Every warning code, in the order of the code table.
            pub const ALL: &'static [WarningCode] = &[$(WarningCode::$variant,)*];

            /// The stable kebab-case code.
            pub fn as_str(self) -> &'static str {
                match self { $( WarningCode::$variant => $text, )* }
            }

            /// What to do about it, in general terms.
            pub fn hint(self) -> &'static str {
                match self { $( WarningCode::$variant => $hint, )* }
            }

            /// What it points out, in general terms: its row's documentation in the code table.
            pub fn cause(self) -> &'static str {
                match self { $( WarningCode::$variant => concat!($($doc),*).trim_ascii(), )* }
            }

            /// The stage whose result produces this warning.
            pub fn stages(self) -> Stages {
                match self { $( WarningCode::$variant => code_table!(@stages $stages), )* }
            }

            /// The failure of the same name, for a cause that is deliberately both.
            pub fn failure(self) -> Option<Code> {
                match self { $( WarningCode::$variant => code_table!(@other $severity Code $variant), )* }
            }
        }
    };

    ($($rows:tt)*) => { code_table!(@row [] [] $($rows)*); };
}

code_table! {
    /// Not a valid image reference.
    InvalidReference = "invalid-reference", failure, stages = [Reference],
        hint = "fix the image reference: [REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST], repository in lower case";
    /// The registry host name does not exist.
    DnsNxdomain = "dns-nxdomain", failure, stages = [Dns],
        hint = "check the registry host name for typos; if it is internal, make sure CI and the nodes use a DNS server that knows it";
    /// The name exists but has no A/AAAA record.
    DnsNoAddress = "dns-no-address", failure, stages = [Dns],
        hint = "the name exists but has no address record: add an A or AAAA record, or use the registry's real host name";
    /// No DNS answer in time.
    DnsTimeout = "dns-timeout", failure, stages = [Dns],
        hint = "the DNS server did not answer in time: check the resolver configuration and that UDP/TCP port 53 is reachable";
    /// The DNS server failed.
    DnsError = "dns-error", failure, stages = [Dns],
        hint = "the DNS server failed the query (SERVFAIL, REFUSED or unreachable): check the resolver and the zone";
    /// No resolver to ask: the resolver configuration (`/etc/resolv.conf`, or the `--resolv-conf`
    /// file) is missing, unreadable or has no usable nameserver. The message names the file and
    /// the problem. It is read on the first name to resolve: IP-literal registries never need it.
    DnsConfig = "dns-config", failure, stages = [Dns],
        hint = "give preflight a readable resolv.conf with at least one nameserver line (/etc/resolv.conf, or --resolv-conf FILE), or name a server with --dns-server IP[:PORT]";
    /// Nothing listens on that port.
    TcpRefused = "tcp-refused", failure, stages = [Tcp],
        hint = "nothing listens on that port: check the port in the reference and that the registry is running";
    /// The TCP connect timed out.
    TcpTimeout = "tcp-timeout", failure, stages = [Tcp],
        hint = "the connection timed out: a firewall or security group probably drops traffic to this port";
    /// No route to the host or network.
    TcpUnreachable = "tcp-unreachable", failure, stages = [Tcp],
        hint = "no route to the registry: check the network, VPN or routing between CI/nodes and the registry";
    /// Certificate signed by an authority the client does not trust.
    TlsUnknownIssuer = "tls-unknown-issuer", failure, stages = [Tls],
        hint = "the certificate's issuer is not trusted: pass its CA with --ca-file here, and install it on every node (containerd certs.d) before deploying";
    /// Certificate expired or not yet valid.
    TlsExpired = "tls-expired", failure, stages = [Tls],
        hint = "the registry's certificate is expired or not yet valid: renew it (and check the clocks)";
    /// Certificate not valid for this host name.
    TlsHostnameMismatch = "tls-hostname-mismatch", failure, stages = [Tls],
        hint = "the certificate does not cover this host name: use a name listed in its SANs, or reissue the certificate";
    /// The server answered a TLS handshake in plain HTTP.
    TlsServerSpeaksHttp = "tls-server-speaks-http", failure, stages = [Tls],
        hint = "the registry speaks plain HTTP: pass --plain-http for it here, and configure the nodes' runtime for an insecure registry (or better, enable TLS)";
    /// Any other handshake failure.
    TlsHandshake = "tls-handshake", failure, stages = [Tls],
        hint = "the TLS handshake failed: check the protocol versions and ciphers the registry (or a proxy in front of it) accepts";
    /// `--plain-http` was given but the server expects TLS.
    PlainHttpToTls = "plain-http-to-tls", failure, stages = [Ping],
        hint = "the registry expects TLS: remove --plain-http for it";
    /// `/v2/` is not a registry API.
    NotARegistry = "not-a-registry", failure, stages = [Ping],
        hint = "this host and port do not serve the registry API at /v2/: check the registry host and port (a web server or proxy answered)";
    /// The configured proxy refused or failed the connection: its name did not resolve (`dns`),
    /// it could not be connected to or refused the tunnel (`tcp`), or it did so on the way to a
    /// blob storage host (`blobs`).
    ProxyError = "proxy-error", failure, stages = [Dns, Tcp, Blobs],
        hint = "the node's proxy refused or failed the connection: check that it runs and what it allows, and --proxy / --no-proxy (the runtime's HTTPS_PROXY / NO_PROXY)";
    /// The registry wants credentials and none were available.
    AuthRequired = "auth-required", failure, stages = [Auth, Manifest],
        hint = "the registry requires credentials: docker login (for CI) and an imagePullSecret (for the pod)";
    /// Credentials were sent and rejected (at `manifest`: a registry that says so only there, as
    /// ECR and ECR Public do for an expired token).
    AuthRejected = "auth-rejected", failure, stages = [Auth, Manifest],
        hint = "the credentials were rejected: check the user name, password or token (it may have expired or been revoked)";
    /// Authenticated, but not allowed to pull this repository.
    AccessDenied = "access-denied", failure, stages = [Ping, Auth, Manifest],
        hint = "these credentials are valid but may not pull this repository: grant the account pull access, or use credentials that have it";
    /// The token service failed or could not be reached.
    AuthServerError = "auth-server-error", failure, stages = [Auth, Manifest],
        hint = "the registry's token service failed or could not be reached: check the realm host named in the challenge";
    /// The repository does not exist.
    RepositoryNotFound = "repository-not-found", failure, stages = [Manifest],
        hint = "the repository does not exist on this registry: check the image name, or push it";
    /// The tag or digest does not exist in the repository.
    ManifestUnknown = "manifest-unknown", failure, stages = [Manifest],
        hint = "push the tag, or fix the tag in the manifest";
    /// The registry hides whether the repository is missing or private (at `auth`: a token
    /// service that refuses a token alike for both, as GHCR's does).
    NotFoundOrUnauthorized = "not-found-or-unauthorized", failure, stages = [Auth, Manifest],
        hint = "the repository is either missing or private: check the name, and if it is private provide credentials that can pull it";
    /// The registry's firewall or network rules refuse this client's IP address.
    RegistryIpDenied = "registry-ip-denied", failure, stages = [Ping, Auth, Manifest],
        hint = "the registry refuses connections from this address (its firewall or network rules): allow the egress addresses of the nodes (and of CI) in the registry's network rules, or reach it through its private endpoint";
    /// The index has no manifest for a required platform.
    PlatformMissing = "platform-missing", failure, stages = [Platform],
        hint = "build and push the image for the missing platform (docker buildx build --platform ...)";
    /// The tag does not point at the expected digest.
    DigestMismatch = "digest-mismatch", failure, stages = [Manifest],
        hint = "the tag points at another image than the one pushed: check the push target, or pin the digest";
    /// 429 / TOOMANYREQUESTS.
    RateLimited = "rate-limited", failure, stages = any,
        hint = "the registry is rate limiting: wait for Retry-After, authenticate (Docker Hub gives accounts a larger budget), or use a mirror";
    /// The registry answered 5xx or broke the protocol.
    RegistryError = "registry-error", failure, stages = any,
        hint = "the registry failed: retry later, and check its status and logs";
    /// The deadline passed in a stage after the connection was made.
    Timeout = "timeout", failure, stages = any,
        hint = "the registry connected but did not answer in time: raise --timeout, or check the registry's load";
    /// A pull Secret the pod names is not usable. A warning when it is not a pull secret (another
    /// type, or no `.dockerconfigjson`/`.dockercfg` key): the kubelet skips it, and so does the
    /// check. A failure when its data does not decode (with `--keep-going`).
    PullSecretInvalid = "pull-secret-invalid", both, stages = [Auth],
        hint = "recreate the Secret: kubectl create secret docker-registry NAME --docker-server=REGISTRY --docker-username=USER --docker-password=…";
    /// Docker Hub's remaining pulls are low. A warning when they are below what the deploy needs;
    /// a failure when they are below the floor set with `--min-hub-remaining`.
    RateLimitLow = "rate-limit-low", both, stages = [Manifest],
        hint = "wait for the window to reset, authenticate (docker login / imagePullSecrets) for a larger budget, or mirror the images";
    /// The pod names a pull Secret that is not in the inputs. A warning, since it may exist in the
    /// cluster; a failure when `--require-pull-secrets` was given.
    PullSecretMissing = "pull-secret-missing", both, stages = [Auth],
        hint = "create the Secret in the pod's namespace, or pass it with --pull-secrets (kubectl get secret NAME -o yaml)";
    /// Credentials were found but kept from a plain-HTTP token service, and the check could not
    /// complete without them.
    CredentialsWithheld = "credentials-withheld", failure, stages = [Auth, Manifest],
        hint = "the token service is plain HTTP and its host was not configured for it: pass --plain-http for it if that is intended (the nodes send credentials there in clear text), or serve it over HTTPS";
    /// The index names a manifest for the node's platform that the registry does not have.
    PlatformManifestMissing = "platform-manifest-missing", failure, stages = [Platform],
        hint = "the index points at a per-platform manifest that is gone (deleted, or collected as untagged): push the image again for every platform (docker buildx build --platform … --push)";
    /// A blob the manifest names (the config or a layer) is not in the registry.
    BlobUnknown = "blob-unknown", failure, stages = [Blobs],
        hint = "the registry lacks a blob the manifest needs: push the image again, and check the registry's garbage collection and storage";
    /// A blob's bytes do not match the digest the manifest names.
    BlobDigestMismatch = "blob-digest-mismatch", failure, stages = [Blobs],
        hint = "the registry serves bytes that do not match their digest: its storage is corrupt or a proxy rewrites the content; push the image again and check the storage and any proxy";
    /// Blob downloads are redirected to a storage host that cannot be reached.
    BlobStorageUnreachable = "blob-storage-unreachable", failure, stages = [Blobs],
        hint = "the registry sends blob downloads to another host (object storage or a CDN): the nodes must resolve and reach it too, so allow it in DNS, firewalls and proxies";

    /// CRI-O's registries configuration blocks every place the image could come from.
    RegistryBlocked = "registry-blocked", failure, stages = [Reference],
        hint = "the nodes' registries.conf has `blocked = true` for this registry: pull from an allowed registry or mirror, or ask the cluster's administrators to unblock it";
    /// A short name CRI-O refuses: more than one search registry under `enforcing`.
    ShortNameAmbiguous = "short-name-ambiguous", failure, stages = [Reference],
        hint = "write the image with its registry (docker.io/library/nginx:1.27, quay.io/org/app:v1): CRI-O will not guess between search registries";
    /// A short name with no alias and no search registries to resolve it.
    ShortNameUnresolved = "short-name-unresolved", failure, stages = [Reference],
        hint = "write the image with its registry (docker.io/library/nginx:1.27), or add an alias or unqualified-search-registries to the nodes' registries.conf";

    /// The reference names the `latest` tag explicitly.
    LatestTag = "latest-tag", warning, stages = [Reference],
        hint = "pin a version tag or a digest (IMAGE:1.2.3 or IMAGE@sha256:…): latest moves with every push, so nodes may run another image than the one checked";
    /// The reference has neither tag nor digest, so `latest` is implied.
    ImplicitLatest = "implicit-latest", warning, stages = [Reference],
        hint = "write a version tag or a digest: without either the image means latest, which moves with every push";
    /// A credential exists but was not used: a credential helper failed, was missing or timed out,
    /// or the credential was withheld from a plain-HTTP token service whose host was not given to
    /// `--plain-http` and the check did not need it (else `credentials-withheld`).
    CredentialUnavailable = "credential-unavailable", warning, stages = [Auth],
        hint = "make the credential usable: check that docker-credential-NAME is on PATH and answers in time, or give the token service's host to --plain-http if credentials may go to it unencrypted";
    /// A kubelet credential provider plugin is not in the bin directory, or not executable.
    CredentialProviderMissing = "credential-provider-missing", warning, stages = [Auth],
        hint = "install the plugin as --image-credential-provider-bin-dir/NAME and make it executable, or fix the provider's name: a kubelet whose config names a missing plugin does not start";
    /// A kubelet credential provider plugin could not start or exited unsuccessfully.
    CredentialProviderFailed = "credential-provider-failed", warning, stages = [Auth],
        hint = "run the plugin by hand with a CredentialProviderRequest on stdin and read its stderr; in CI it runs with the job's identity, which may lack the cloud permissions the node has";
    /// A kubelet credential provider plugin did not answer in time and was stopped.
    CredentialProviderTimeout = "credential-provider-timeout", warning, stages = [Auth],
        hint = "check that the plugin reaches its cloud API from here (the kubelet gives it one minute); a plugin that hangs delays every pull of a matching image";
    /// A kubelet credential provider plugin answered with something the kubelet rejects.
    CredentialProviderInvalidResponse = "credential-provider-invalid-response", warning, stages = [Auth],
        hint = "make the plugin print one CredentialProviderResponse of the request's apiVersion, with cacheKeyType Image, Registry or Global and only known fields: the kubelet decodes it strictly";
    /// A kubelet credential provider plugin with `tokenAttributes` wants the pod's service account token, which only the kubelet can request: it is not run, and the image is checked without it.
    CredentialProviderTokenUnavailable = "credential-provider-token-unavailable", warning, stages = [Auth],
        hint = "the verdict is that of the pull without this plugin, which on the node gets a token of the pod's ServiceAccount for the audience named: to check with the plugin, give such a token with --image-credential-provider-token NAMESPACE/NAME=FILE (made by kubectl create token for that ServiceAccount and audience)";
    /// The pod's `ServiceAccount`, as the inputs give it, lacks an annotation a token credential provider requires: the kubelet does not ask that plugin for the pod.
    CredentialProviderAnnotationMissing = "credential-provider-annotation-missing", warning, stages = [Auth],
        hint = "annotate the ServiceAccount with every key of the provider's tokenAttributes.requiredServiceAccountAnnotationKeys (e.g. the cloud identity it maps to), or run the pod under a ServiceAccount that has them: without them the kubelet never asks this plugin for the pod's images";
    /// A kubelet credential provider plugin answered, but none of its `auth` keys matches the image.
    CredentialProviderNoMatch = "credential-provider-no-match", warning, stages = [Auth],
        hint = "check the plugin's auth keys against the image (same number of host labels, each a glob; same port; the key's path a prefix of the image's), or narrow the provider's matchImages";
    /// `imagePullPolicy: Always` with a mutable tag: each restart may run a different image.
    AlwaysPullMutableTag = "always-pull-mutable-tag", warning, stages = [Reference],
        hint = "pin the image by digest (IMAGE@sha256:…) so every restart and replica runs the same image, or push each build under a new tag";
    /// `imagePullPolicy: IfNotPresent` or `Never` with `latest`: nodes keep whatever they pulled first.
    StaleLatest = "stale-latest", warning, stages = [Reference],
        hint = "use a version tag or a digest, or set imagePullPolicy: Always, so nodes do not keep whichever latest they pulled first";
    /// A digest was expected but the registry sent none to compare with.
    DigestUnverified = "digest-unverified", warning, stages = [Manifest],
        hint = "compare the digest another way (docker buildx imagetools inspect IMAGE), and check why the registry or a proxy in front of it drops Docker-Content-Digest";
    /// Platforms were asked for but not checked (Docker Hub without `--allow-hub-pulls`, or a
    /// single-platform manifest whose platform is only in its config).
    PlatformUnchecked = "platform-unchecked", warning, stages = [Platform],
        hint = "pass --allow-hub-pulls to read Docker Hub indexes (one pull each), or --verify-config-platform to check single-platform manifests from their config";
    /// The pull path past the manifest was not checked: on Docker Hub every manifest GET is a pull.
    BlobsUnchecked = "blobs-unchecked", warning, stages = [Blobs],
        hint = "pass --allow-hub-pulls to spend a pull per manifest read, or --depth manifest to check only that the tag exists";
    /// A mirror in the node's registry configuration cannot serve the image; a later host can.
    MirrorUnavailable = "mirror-unavailable", warning, stages = any,
        hint = "fix the mirror or remove it from the nodes' registry configuration (containerd's hosts.toml, CRI-O's registries.conf): every pull tries it first, and one that does not answer delays every pull by the runtime's dial timeout";
    /// The registry's certificate expires within 14 days.
    CertificateExpiring = "certificate-expiring", warning, stages = [Tls],
        hint = "renew the registry's certificate and install it before it expires, or nodes will refuse to pull from it";
}

/// What to check next on one registry, beside a code's hint: that registry's own tool or console,
/// for the causes it reports in its own way (`docs/registries.md`). `None` where the general hint
/// is all there is to say.
pub(crate) fn registry_hint(code: Code, registry: Flavor) -> Option<&'static str> {
    use Flavor::{Acr, Ecr, EcrPublic, Ghcr, GoogleArtifactRegistry as Gar, Harbor, Quay};
    Some(match (code, registry) {
        (Code::NotFoundOrUnauthorized, Gar) => {
            "the answer of Artifact Registry is the same for a missing repository as for a forbidden one: list it with gcloud artifacts docker images list LOCATION-docker.pkg.dev/PROJECT/REPOSITORY --include-tags, and grant the nodes' service account roles/artifactregistry.reader"
        }
        (Code::NotFoundOrUnauthorized, Acr) => {
            "an ACR registry answers a missing repository (or, without pull rights, a missing tag) as a forbidden one: list the tags with az acr repository show-tags --name REGISTRY --repository REPOSITORY, and give the kubelet identity AcrPull (az aks check-acr --acr REGISTRY.azurecr.io)"
        }
        (Code::NotFoundOrUnauthorized, Ghcr) => {
            "on GHCR a missing package looks like a private one: check that the package exists under the owner's Packages on GitHub, its visibility in the package settings (Danger Zone, Change visibility), and that the token has read:packages"
        }
        (Code::NotFoundOrUnauthorized, Quay) => {
            "on Quay a missing repository looks like a private one: open https://quay.io/repository/NAMESPACE/NAME to check it exists and is public, or give a robot account read permission on it"
        }
        (Code::NotFoundOrUnauthorized, EcrPublic) => {
            "check the repository with aws ecr-public describe-images --repository-name NAME --region us-east-1; its images pull anonymously, so a stale login can be removed with docker logout public.ecr.aws"
        }
        (Code::AccessDenied, Ecr) => {
            "on ECR, IAM is checked before the repository is looked up: the identity needs ecr:BatchGetImage and ecr:GetDownloadUrlForLayer (the node role's AmazonEC2ContainerRegistryReadOnly, or the repository policy: aws ecr get-repository-policy --repository-name NAME), then check the image with aws ecr describe-images --repository-name NAME --image-ids imageTag=TAG"
        }
        (Code::AccessDenied | Code::AuthRejected, Ghcr) => {
            "a stale GHCR login is refused even for public packages: log out (docker logout ghcr.io) or log in again with a token that has read:packages, and check the package's access settings on GitHub"
        }
        (Code::AccessDenied, EcrPublic) => {
            "a stale ECR Public login is refused even for public images: log out (docker logout public.ecr.aws) or renew it with aws ecr-public get-login-password --region us-east-1"
        }
        (Code::AccessDenied, Acr) => {
            "give the identity the AcrPull role on the registry (az role assignment list --scope REGISTRY_ID), and check the repository with az acr repository show-tags --name REGISTRY --repository REPOSITORY"
        }
        (Code::AccessDenied | Code::AuthRequired, Gar) => {
            "on Artifact Registry the identity needs roles/artifactregistry.reader: CI logs in with gcloud auth configure-docker LOCATION-docker.pkg.dev, nodes use their service account; check the image with gcloud artifacts docker images list LOCATION-docker.pkg.dev/PROJECT/REPOSITORY"
        }
        (Code::AuthRequired, Ecr) => {
            "on ECR credentials are always needed: CI logs in with aws ecr get-login-password --region REGION | docker login --username AWS --password-stdin ACCOUNT.dkr.ecr.REGION.amazonaws.com, nodes through the kubelet's ecr-credential-provider or the node role"
        }
        (Code::AuthRequired, Acr) => {
            "on ACR, CI logs in with az acr login --name REGISTRY; nodes pull with the kubelet identity once the registry is attached (az aks update --attach-acr REGISTRY)"
        }
        (Code::AuthRejected, Ecr) => {
            "a login token for ECR lasts 12 hours: log in again with aws ecr get-login-password --region REGION | docker login --username AWS --password-stdin ACCOUNT.dkr.ecr.REGION.amazonaws.com (nodes get fresh tokens from the kubelet's ecr-credential-provider)"
        }
        (Code::AuthRejected, EcrPublic) => {
            "the ECR Public token expired: public images pull anonymously, so remove the login (docker logout public.ecr.aws) or renew it with aws ecr-public get-login-password --region us-east-1"
        }
        (Code::RegistryIpDenied, Acr) => {
            "see the registry's network rules with az acr network-rule list --name REGISTRY and az acr show --name REGISTRY --query publicNetworkAccess, then add the nodes' and CI's egress addresses (az acr network-rule add) or pull through the private endpoint"
        }
        (Code::RepositoryNotFound, Ecr) => {
            "list the registry's repositories with aws ecr describe-repositories --region REGION, in the account the host names"
        }
        (Code::RepositoryNotFound, Harbor) => {
            "in Harbor the first part of the path is the project: check the project and the repository in Harbor's web console (Projects), or with GET /api/v2.0/projects/PROJECT/repositories"
        }
        (Code::ManifestUnknown, Ecr) => {
            "list the repository's tags with aws ecr describe-images --repository-name NAME --region REGION"
        }
        (Code::ManifestUnknown, Acr) => {
            "list the repository's tags with az acr repository show-tags --name REGISTRY --repository REPOSITORY"
        }
        (Code::ManifestUnknown, Gar) => {
            "list the image's tags with gcloud artifacts docker tags list LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE"
        }
        (Code::ManifestUnknown, Harbor) => {
            "list the repository's artifacts in Harbor's web console (Projects, then the repository), or with GET /api/v2.0/projects/PROJECT/repositories/REPOSITORY/artifacts"
        }
        (Code::RegistryError, Harbor) => {
            "old Harbor (before 2.1) answers 500 when the project does not exist: check that the first part of the path names an existing project in Harbor's web console (Projects)"
        }
        _ => return None,
    })
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

impl fmt::Display for WarningCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for WarningCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The causes that are deliberately both: a missing pull Secret is a warning, or a failure under
    /// `--require-pull-secrets`; an unusable one a warning when the kubelet skips it, a failure when
    /// it breaks the pull; a low Hub budget a warning, or a failure under `--min-hub-remaining`.
    const BOTH: [&str; 3] = [
        "pull-secret-invalid",
        "rate-limit-low",
        "pull-secret-missing",
    ];

    fn check_text_and_hint(text: &str, hint: &str) {
        assert!(
            !text.is_empty()
                && !text.starts_with('-')
                && !text.ends_with('-')
                && !text.contains("--")
                && text.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{text} is not kebab-case"
        );
        assert!(!hint.is_empty(), "{text} has no hint");
        assert!(!hint.ends_with('.'), "{text} hint ends with a period");
        assert!(
            !hint.starts_with(|c: char| c.is_uppercase()),
            "{text} hint starts with a capital"
        );
    }

    #[test]
    fn codes_are_unique_kebab_case_and_hinted() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            check_text_and_hint(s, code.hint());
        }
        for w in WarningCode::ALL {
            let s = w.as_str();
            check_text_and_hint(s, w.hint());
            if BOTH.contains(&s) {
                assert!(
                    seen.contains(s),
                    "{s} is documented as both but is no failure"
                );
                continue;
            }
            assert!(seen.insert(s), "warning {s} reuses a code");
        }
    }

    /// The cause is the row's documentation, joined into one line for the contract's table.
    #[test]
    fn every_code_has_a_one_line_cause() {
        let causes = Code::ALL
            .iter()
            .map(|c| (c.as_str(), c.cause()))
            .chain(WarningCode::ALL.iter().map(|w| (w.as_str(), w.cause())));
        for (code, cause) in causes {
            assert!(cause.len() > 10, "{code} has no cause: document its row");
            assert!(
                !cause.contains('\n') && !cause.contains("  ") && cause.trim() == cause,
                "{code}: {cause:?}"
            );
            assert!(
                cause.starts_with(|c: char| !c.is_lowercase()),
                "{code}: {cause:?}"
            );
        }
        assert_eq!(
            Code::ProxyError.cause(),
            "The configured proxy refused or failed the connection: its name did not resolve (`dns`), \
             it could not be connected to or refused the tunnel (`tcp`), or it did so on the way to a \
             blob storage host (`blobs`)."
        );
        assert_eq!(
            Code::PullSecretMissing.cause(),
            WarningCode::PullSecretMissing.cause()
        );
    }

    #[test]
    fn both_kinds_are_the_documented_ones_with_one_text_hint_and_stage() {
        let failures: Vec<_> = Code::ALL.iter().filter_map(|c| c.warning()).collect();
        let warnings: Vec<_> = WarningCode::ALL
            .iter()
            .filter_map(|w| w.failure())
            .collect();
        let mut names: Vec<_> = failures.iter().map(|w| w.as_str()).collect();
        names.sort_unstable();
        let mut both = BOTH;
        both.sort_unstable();
        assert_eq!(names, both);
        assert_eq!(warnings.len(), BOTH.len());
        for code in warnings {
            let w = code.warning().expect("both ways");
            assert_eq!(w.failure(), Some(code));
            assert_eq!(code.as_str(), w.as_str());
            assert_eq!(code.hint(), w.hint());
            assert_eq!(code.stages(), w.stages());
        }
    }

    #[test]
    fn every_code_has_a_stage() {
        let stages = Code::ALL
            .iter()
            .map(|c| (c.as_str(), c.stages()))
            .chain(WarningCode::ALL.iter().map(|w| (w.as_str(), w.stages())));
        for (code, stages) in stages {
            if let Stages::Only(only) = stages {
                assert!(!only.is_empty(), "{code} has no stage");
                assert!(
                    only.windows(2).all(|w| w[0] < w[1]),
                    "{code}'s stages are not in pipeline order"
                );
            }
        }
    }

    /// The contract's stages of each code (`docs/contract.md`, "Diagnosis codes").
    #[test]
    fn stages_are_the_contracts() {
        use Stage::{Auth, Dns, Manifest, Ping, Platform, Reference, Tcp, Tls};
        let only = |code: &str, want: &'static [Stage]| {
            let got = Code::ALL.iter().find(|c| c.as_str() == code).unwrap();
            assert_eq!(got.stages(), Stages::Only(want), "{code}");
        };
        only("invalid-reference", &[Reference]);
        for c in [
            "dns-nxdomain",
            "dns-no-address",
            "dns-timeout",
            "dns-error",
            "dns-config",
        ] {
            only(c, &[Dns]);
        }
        for c in ["tcp-refused", "tcp-timeout", "tcp-unreachable"] {
            only(c, &[Tcp]);
        }
        // Its own name at `dns`, and a blob storage host reached through it
        // (`docs/contract.md`).
        only("proxy-error", &[Dns, Tcp, Stage::Blobs]);
        for c in [
            "tls-unknown-issuer",
            "tls-expired",
            "tls-hostname-mismatch",
            "tls-server-speaks-http",
            "tls-handshake",
        ] {
            only(c, &[Tls]);
        }
        for c in ["plain-http-to-tls", "not-a-registry"] {
            only(c, &[Ping]);
        }
        for c in ["pull-secret-invalid", "pull-secret-missing"] {
            only(c, &[Auth]);
        }
        // ECR and ECR Public say an expired token only at the manifest
        // (`docs/contract.md`, "What some codes say in detail").
        only("auth-rejected", &[Auth, Manifest]);
        only("registry-ip-denied", &[Ping, Auth, Manifest]);
        // The contract's stage, and the manifest request where a check also meets them
        // (`docs/contract.md`).
        only("auth-required", &[Auth, Manifest]);
        only("auth-server-error", &[Auth, Manifest]);
        only("access-denied", &[Ping, Auth, Manifest]);
        for c in [
            "repository-not-found",
            "manifest-unknown",
            "digest-mismatch",
            "rate-limit-low",
        ] {
            only(c, &[Manifest]);
        }
        only("not-found-or-unauthorized", &[Auth, Manifest]);
        only("platform-missing", &[Platform]);
        // `--depth blobs` (`docs/contract.md`).
        only("platform-manifest-missing", &[Platform]);
        for c in [
            "blob-unknown",
            "blob-digest-mismatch",
            "blob-storage-unreachable",
        ] {
            only(c, &[Stage::Blobs]);
        }
        for c in ["rate-limited", "registry-error", "timeout"] {
            let got = Code::ALL.iter().find(|x| x.as_str() == c).unwrap();
            assert_eq!(got.stages(), Stages::Any, "{c}");
        }
    }

    #[test]
    fn stages_contain() {
        assert!(Stages::Any.contains(Stage::Reference));
        assert!(Code::AccessDenied.stages().contains(Stage::Manifest));
        assert!(!Code::AccessDenied.stages().contains(Stage::Platform));
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

    /// The warnings `docs/contract.md` names.
    #[test]
    fn contract_warnings_present() {
        let all: HashSet<_> = WarningCode::ALL.iter().map(|w| w.as_str()).collect();
        for w in [
            "latest-tag",
            "implicit-latest",
            "rate-limit-low",
            "credential-unavailable",
            "pull-secret-missing",
            "pull-secret-invalid",
            "always-pull-mutable-tag",
            "digest-unverified",
            "platform-unchecked",
            "stale-latest",
            "certificate-expiring",
        ] {
            assert!(all.contains(w), "missing contract warning {w}");
        }
    }

    /// Every registry hint is written as the code table's hints are, and names a tool or a
    /// console to check with.
    #[test]
    fn registry_hints_are_hints() {
        use Flavor::{
            Acr, DockerHub, Ecr, EcrPublic, Ghcr, GoogleArtifactRegistry, Harbor, Quay, Spec,
        };
        let mut rows = 0;
        for code in Code::ALL {
            for flavor in [
                Spec,
                DockerHub,
                Ecr,
                EcrPublic,
                GoogleArtifactRegistry,
                Acr,
                Ghcr,
                Quay,
                Harbor,
            ] {
                let Some(hint) = registry_hint(*code, flavor) else {
                    continue;
                };
                rows += 1;
                check_text_and_hint(code.as_str(), hint);
                assert!(
                    [
                        "aws ",
                        "gcloud ",
                        "az ",
                        "GitHub",
                        "quay.io",
                        "Harbor",
                        "docker logout"
                    ]
                    .iter()
                    .any(|tool| hint.contains(tool)),
                    "{code} on {flavor:?} names no tool: {hint}"
                );
            }
            assert!(registry_hint(*code, Spec).is_none());
            assert!(registry_hint(*code, DockerHub).is_none());
        }
        assert!(rows >= 20, "{rows} registry hints");
    }

    #[test]
    fn serialized_as_the_text() {
        assert_eq!(
            serde_json::to_string(&Code::ManifestUnknown).unwrap(),
            "\"manifest-unknown\""
        );
        assert_eq!(
            serde_json::to_string(&WarningCode::LatestTag).unwrap(),
            "\"latest-tag\""
        );
        assert_eq!(WarningCode::StaleLatest.to_string(), "stale-latest");
    }
}
