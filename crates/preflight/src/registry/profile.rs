//! How registries differ, in one place: a [`Profile`] is resolved once from a registry's name, and
//! every stage asks it instead of testing for a registry by name. Adding a registry's behaviour is
//! one [`Flavor`] (or one field) here and the one question a stage asks; what to check next on
//! that registry is one row of the registry hints beside the code table (`diagnosis/codes.rs`).
//!
//! | behaviour | spec registries | Docker Hub | cloud registries |
//! |---|---|---|---|
//! | API host | the registry's own | `registry-1.docker.io` (references say `docker.io`) | their own |
//! | a missing repository | 404 `NAME_UNKNOWN` | 401, as for a private one | ACR, Quay: 401 as Hub; Artifact Registry, GHCR, ECR Public: 403 `DENIED` as for a forbidden one; Harbor: 404 `NOT_FOUND` (not a spec code) |
//! | a manifest GET | free | a pull, counted against a budget | free |
//! | a token without `pull` | refused: a diagnosis of its own | said for missing repositories too: the `HEAD` explains | as Hub where missing is hidden |
//! | a 403 | access refused | access refused | ECR: IAM denial (JSON) or an expired token (plain text); ACR: its firewall when the body says the client's IP is not allowed |
//! | rate-limit headers | rarely | on every manifest answer | rarely |
//!
//! Docker Hub and the cloud registries are recognised by host name ([`Flavor::of_host`]); Harbor
//! runs on any host and is recognised by its answers ([`Profile::recognise`]). The answers and their
//! sources are listed in `docs/registries.md`.
//!
//! Registries that answer `/v2/` anonymously and challenge per repository need no entry: the
//! pipeline re-authenticates with a manifest's challenge for every registry.

use crate::diagnosis::{Code, Stage};
use crate::model::reference::Reference;
use crate::model::wire::{self, ErrorCode};

/// The kinds of registry whose answers differ from the distribution spec's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Flavor {
    /// A registry that answers as the distribution spec says.
    Spec,
    /// Docker Hub.
    DockerHub,
    /// Amazon ECR (private): `ACCOUNT.dkr.ecr.REGION.amazonaws.com` (`.amazonaws.com.cn` in China,
    /// `dkr.ecr-fips` for FIPS endpoints).
    Ecr,
    /// Amazon ECR Public: `public.ecr.aws`.
    EcrPublic,
    /// Google Artifact Registry (`LOCATION-docker.pkg.dev`) and Container Registry (`gcr.io`,
    /// `REGION.gcr.io`), which answer alike.
    GoogleArtifactRegistry,
    /// Azure Container Registry: `NAME.azurecr.io` (`.azurecr.cn` in Azure China, `.azurecr.us`
    /// in Azure Government).
    Acr,
    /// GitHub Container Registry: `ghcr.io`.
    Ghcr,
    /// Quay: `quay.io`.
    Quay,
    /// Harbor, on any host: recognised by its answers.
    Harbor,
}

impl Flavor {
    /// The flavor a registry host name (without port) gives away. Harbor is never recognised by
    /// name.
    pub(crate) fn of_host(host: &str) -> Flavor {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = host.split('.').collect();
        let one_label_before = |suffix: &str| {
            host.strip_suffix(suffix)
                .and_then(|rest| rest.strip_suffix('.'))
                .is_some_and(|name| !name.is_empty() && !name.contains('.'))
        };
        match host.as_str() {
            "public.ecr.aws" => return Flavor::EcrPublic,
            "ghcr.io" => return Flavor::Ghcr,
            "quay.io" => return Flavor::Quay,
            "gcr.io" => return Flavor::GoogleArtifactRegistry,
            _ => {}
        }
        // ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]
        let aws = matches!(
            labels.as_slice(),
            [_, "dkr", "ecr" | "ecr-fips", _, "amazonaws", "com"]
                | [_, "dkr", "ecr" | "ecr-fips", _, "amazonaws", "com", "cn"]
        );
        if aws && labels[0].bytes().all(|b| b.is_ascii_digit()) && !labels[3].is_empty() {
            return Flavor::Ecr;
        }
        if one_label_before("gcr.io") {
            return Flavor::GoogleArtifactRegistry;
        }
        if let [location, "pkg", "dev"] = labels.as_slice()
            && location
                .strip_suffix("-docker")
                .is_some_and(|l| !l.is_empty())
        {
            return Flavor::GoogleArtifactRegistry;
        }
        if ["azurecr.io", "azurecr.cn", "azurecr.us"]
            .iter()
            .any(|s| one_label_before(s))
        {
            return Flavor::Acr;
        }
        Flavor::Spec
    }

    /// The registry's name, as messages say it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Flavor::Spec => "the registry",
            Flavor::DockerHub => "Docker Hub",
            Flavor::Ecr => "Amazon ECR",
            Flavor::EcrPublic => "Amazon ECR Public",
            Flavor::GoogleArtifactRegistry => "Artifact Registry",
            Flavor::Acr => "Azure Container Registry",
            Flavor::Ghcr => "GHCR",
            Flavor::Quay => "Quay",
            Flavor::Harbor => "Harbor",
        }
    }
}

/// What a 403 on a manifest means on this registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Forbidden {
    /// The account may not pull it: the spec's meaning.
    Denied,
    /// The registry says this for a missing repository as for a forbidden one.
    HidesMissing,
    /// The registry's firewall refuses the client's address; its message as sent.
    IpDenied(String),
    /// The credentials sent have expired; the registry's message as sent.
    Expired(String),
}

/// What a registry does where registries differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Profile {
    pub(crate) flavor: Flavor,
}

impl Profile {
    /// The profile of the registry `reference` names.
    pub(crate) fn of(reference: &Reference) -> Profile {
        let flavor = if reference.is_docker_hub() {
            Flavor::DockerHub
        } else {
            Flavor::of_host(reference.host())
        };
        Profile { flavor }
    }

    /// The profile of a registry known only by its host name (the registry-wide stages).
    pub(crate) fn of_host(host: &str) -> Profile {
        Profile {
            flavor: Flavor::of_host(host),
        }
    }

    /// The host (and port) that serves the registry API, unless the checker redirects Docker Hub
    /// to a stand-in (`hub`).
    pub(crate) fn api_host<'a>(self, reference: &'a Reference, hub: Option<&'a str>) -> &'a str {
        match (self.flavor, hub) {
            (Flavor::DockerHub, Some(stand_in)) => stand_in,
            _ => reference.api_host(),
        }
    }

    /// A missing repository is answered 401, as a private one is: the two cannot be told apart.
    /// ACR says so for a missing tag too when the account may not pull (Azure/acr#359), and
    /// Quay by design (quay/quay PR#1054).
    pub(crate) fn hides_missing(self) -> bool {
        matches!(self.flavor, Flavor::DockerHub | Flavor::Acr | Flavor::Quay)
    }

    /// A manifest or blob GET counts as a pull against the account's budget.
    pub(crate) fn counts_pulls(self) -> bool {
        self.flavor == Flavor::DockerHub
    }

    /// A token that grants no `pull` means the account may not pull. A registry that hides
    /// missing repositories grants no actions for a repository that does not exist either, and
    /// its manifest `HEAD` says more.
    pub(crate) fn trusts_granted_actions(self) -> bool {
        !self.hides_missing()
    }

    /// The profile once an answer's headers have been seen: a registry not recognised by name
    /// that sets Harbor's `sid` session cookie is Harbor (its answers carry it: cue-lang/cue#2982).
    pub(crate) fn recognise(self, set_cookie: Option<&str>) -> Profile {
        if self.flavor == Flavor::Spec
            && set_cookie.is_some_and(|c| c.trim_start().starts_with("sid="))
        {
            Profile {
                flavor: Flavor::Harbor,
            }
        } else {
            self
        }
    }

    /// The profile once an error body's codes have been seen: a registry not recognised by name
    /// that answers with the non-spec code `NOT_FOUND` is Harbor (≥ 2.1, goharbor/harbor#16515).
    pub(crate) fn recognise_codes(self, codes: &[ErrorCode]) -> Profile {
        let harbor = codes
            .iter()
            .any(|c| matches!(c, ErrorCode::Other(code) if code == HARBOR_NOT_FOUND));
        if self.flavor == Flavor::Spec && harbor {
            Profile {
                flavor: Flavor::Harbor,
            }
        } else {
            self
        }
    }

    /// Whether the error codes of a repository's `tags/list` 404 say the repository is missing:
    /// the spec's `NAME_UNKNOWN`, or Harbor's `NOT_FOUND` ("repository x not found"; its tag
    /// listing answers so only for a missing repository).
    pub(crate) fn says_repository_missing(self, tags_codes: &[ErrorCode]) -> bool {
        tags_codes.iter().any(|c| match c {
            ErrorCode::NameUnknown => true,
            ErrorCode::Other(code) => {
                code == HARBOR_NOT_FOUND && matches!(self.flavor, Flavor::Harbor | Flavor::Spec)
            }
            _ => false,
        })
    }

    /// Whether a failure with credentials may be the credentials' own fault on an image anyone
    /// may pull, so that an anonymous try is worth its requests: where missing and forbidden
    /// look alike, and where stale credentials break public pulls — GHCR's "denied: denied"
    /// (groundnuty/k8s-wait-for#70, dexidp/dex#2672) and ECR Public's 400 or 403
    /// (aws/containers-roadmap#2835, awslabs/eksdemo PR#68).
    pub(crate) fn stale_credentials_possible(self, code: Code, stage: Stage) -> bool {
        match code {
            Code::NotFoundOrUnauthorized => true,
            Code::AccessDenied | Code::AuthRejected => {
                matches!(self.flavor, Flavor::Ghcr | Flavor::EcrPublic)
                    || (code == Code::AuthRejected && stage == Stage::Manifest)
            }
            _ => false,
        }
    }

    /// Whether the token service's 403 says nothing about existence: GHCR refuses an anonymous
    /// token for a package that does not exist as for a private one (ai-runway/airunway#89), and a
    /// token with stale credentials even for a public one ("denied: denied", kcl-lang/cli#67).
    pub(crate) fn token_denial_hides_missing(self) -> bool {
        self.flavor == Flavor::Ghcr
    }

    /// Whether the answer to a 403 must be read (a `GET`) to know what it means here.
    pub(crate) fn reads_forbidden_body(self) -> bool {
        matches!(self.flavor, Flavor::Ecr | Flavor::Acr)
    }

    /// What a 403 on a manifest means on this registry, from its body when it was read.
    ///
    /// - Artifact Registry / gcr.io: `DENIED` "Permission … denied on resource … (or it may not
    ///   exist)"; GHCR: `DENIED` for a missing package as for a private one; ECR Public: 403 for a
    ///   stale login where anonymous works (awslabs/eksdemo PR#68).
    /// - ECR: an expired token is a 403 whose body is plain text, not JSON
    ///   (awslabs/amazon-ecr-credential-helper#7); IAM's refusal is a JSON `DENIED`.
    /// - ACR: its firewall answers `DENIED` "client with IP '…' is not allowed access"
    ///   (docker/build-push-action#1214, Azure/acr#633).
    pub(crate) fn forbidden(self, body: Option<&[u8]>) -> Forbidden {
        match self.flavor {
            Flavor::GoogleArtifactRegistry | Flavor::Ghcr | Flavor::EcrPublic => {
                Forbidden::HidesMissing
            }
            Flavor::Ecr => match body {
                Some(b) if !b.is_empty() && wire::decode_errors(b).is_empty() => {
                    Forbidden::Expired(plain_text(b))
                }
                _ => Forbidden::Denied,
            },
            Flavor::Acr => body
                .and_then(acr_firewall_message)
                .map_or(Forbidden::Denied, Forbidden::IpDenied),
            _ => Forbidden::Denied,
        }
    }

    /// Whether a 400 on a manifest requested with a token means the token expired: ECR Public
    /// answers an expired bearer token so, without a challenge (aws/containers-roadmap#2835).
    pub(crate) fn bad_request_is_expired_token(self) -> bool {
        self.flavor == Flavor::EcrPublic
    }

    /// Whether a refusal at `/v2/` (403) is the registry's firewall refusing the client's address,
    /// from its body: ACR's "client with IP … is not allowed access".
    pub(crate) fn ping_ip_denied(self, body: &[u8]) -> Option<String> {
        (self.flavor == Flavor::Acr)
            .then(|| acr_firewall_message(body))
            .flatten()
    }

    /// A 5xx that has a known cause on this registry: Harbor before 2.1 answers 500 for an image
    /// whose project does not exist (goharbor/harbor#12010).
    pub(crate) fn server_error_note(self) -> Option<&'static str> {
        (self.flavor == Flavor::Harbor).then_some(
            "Harbor before 2.1 answers 500 when the project (the first part of the path) does not exist",
        )
    }
}

/// Harbor's error code for something missing.
const HARBOR_NOT_FOUND: &str = "NOT_FOUND";

/// ACR's firewall refusal: a `DENIED` whose message says the client's IP is not allowed. The
/// message is the only thing that tells it from another `DENIED`.
fn acr_firewall_message(body: &[u8]) -> Option<String> {
    wire::decode_errors(body)
        .into_iter()
        .find(|e| {
            e.code == ErrorCode::Denied
                && e.message.contains("client with IP")
                && e.message.contains("not allowed")
        })
        .map(|e| e.message)
}

/// A plain-text body for a message: one line, printable, and short.
fn plain_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text
        .trim()
        .trim_matches('"')
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_and_the_rest() {
        let hub = Reference::parse("nginx").unwrap();
        let p = Profile::of(&hub);
        assert!(p.hides_missing() && p.counts_pulls());
        assert!(!p.trusts_granted_actions());
        assert_eq!(p.api_host(&hub, None), "registry-1.docker.io");
        assert_eq!(p.api_host(&hub, Some("127.0.0.1:5000")), "127.0.0.1:5000");

        let own = Reference::parse("registry.example:5000/shop/app:v1").unwrap();
        let p = Profile::of(&own);
        assert!(!p.hides_missing() && !p.counts_pulls());
        assert!(p.trusts_granted_actions());
        assert_eq!(p.api_host(&own, Some("x:1")), "registry.example:5000");
    }

    #[test]
    fn cloud_hosts() {
        use Flavor::{Acr, Ecr, EcrPublic, Ghcr, GoogleArtifactRegistry as Gar, Quay, Spec};
        for (host, want) in [
            ("123456789012.dkr.ecr.us-east-1.amazonaws.com", Ecr),
            ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn", Ecr),
            ("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com", Ecr),
            ("123456789012.DKR.ECR.eu-west-1.amazonaws.com.", Ecr),
            ("dkr.ecr.us-east-1.amazonaws.com", Spec),
            ("abc.dkr.ecr.us-east-1.amazonaws.com", Spec),
            ("123.s3.us-east-1.amazonaws.com", Spec),
            ("public.ecr.aws", EcrPublic),
            ("us-central1-docker.pkg.dev", Gar),
            ("europe-docker.pkg.dev", Gar),
            ("-docker.pkg.dev", Spec),
            ("a.b-docker.pkg.dev", Spec),
            ("gcr.io", Gar),
            ("eu.gcr.io", Gar),
            ("a.eu.gcr.io", Spec),
            ("myregistry.azurecr.io", Acr),
            ("myregistry.azurecr.cn", Acr),
            ("myregistry.azurecr.us", Acr),
            ("azurecr.io", Spec),
            ("a.b.azurecr.io", Spec),
            ("ghcr.io", Ghcr),
            ("quay.io", Quay),
            ("notquay.io", Spec),
            ("harbor.example.com", Spec),
        ] {
            assert_eq!(Flavor::of_host(host), want, "{host}");
        }
        let r = Reference::parse("myregistry.azurecr.io:8443/team/app:v1").unwrap();
        assert_eq!(Profile::of(&r).flavor, Acr);
        assert!(Profile::of(&r).hides_missing());
    }

    #[test]
    fn harbor_by_its_answers() {
        let spec = Profile::of_host("harbor.example.com");
        let codes = [ErrorCode::Other("NOT_FOUND".into())];
        assert_eq!(spec.recognise_codes(&codes).flavor, Flavor::Harbor);
        assert_eq!(
            spec.recognise_codes(&[ErrorCode::ManifestUnknown]).flavor,
            Flavor::Spec
        );
        assert_eq!(
            spec.recognise(Some("sid=6b7c; Path=/; HttpOnly")).flavor,
            Flavor::Harbor
        );
        assert_eq!(spec.recognise(Some("session=1")).flavor, Flavor::Spec);
        // A registry known by name stays what it is.
        let quay = Profile::of_host("quay.io");
        assert_eq!(quay.recognise_codes(&codes).flavor, Flavor::Quay);
        assert!(spec.says_repository_missing(&codes));
        assert!(!quay.says_repository_missing(&codes));
        assert!(quay.says_repository_missing(&[ErrorCode::NameUnknown]));
    }

    #[test]
    fn forbidden_answers() {
        let ecr = Profile::of_host("1.dkr.ecr.us-east-1.amazonaws.com");
        assert_eq!(
            ecr.forbidden(Some(b"\"Your Authorization Token has expired.\"")),
            Forbidden::Expired("Your Authorization Token has expired.".into())
        );
        let iam = br#"{"errors":[{"code":"DENIED","message":"User: x is not authorized to perform: ecr:BatchGetImage"}]}"#;
        assert_eq!(ecr.forbidden(Some(iam)), Forbidden::Denied);
        assert_eq!(ecr.forbidden(None), Forbidden::Denied);
        let acr = Profile::of_host("r.azurecr.io");
        let fw = br#"{"errors":[{"code":"DENIED","message":"client with IP '203.0.113.7' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."}]}"#;
        assert!(
            matches!(acr.forbidden(Some(fw)), Forbidden::IpDenied(m) if m.contains("203.0.113.7"))
        );
        assert!(acr.ping_ip_denied(fw).is_some());
        assert_eq!(acr.forbidden(Some(iam)), Forbidden::Denied);
        assert!(Profile::of_host("quay.io").ping_ip_denied(fw).is_none());
        assert_eq!(
            Profile::of_host("ghcr.io").forbidden(None),
            Forbidden::HidesMissing
        );
        assert_eq!(
            Profile::of_host("registry.example").forbidden(Some(fw)),
            Forbidden::Denied
        );
    }
}
