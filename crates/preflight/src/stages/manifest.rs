//! The `manifest` stage: `HEAD /v2/NAME/manifests/REF` with every manifest type accepted, and,
//! when it fails, finding out *why* without spending a pull.
//!
//! This is written on reqwest rather than oci-client: oci-client hides the response headers
//! (digest, rate limits, `WWW-Authenticate` errors) and retries a failed HEAD as a GET, which on
//! Docker Hub spends a pull and loses the HEAD's answer.

use std::fmt::Write as _;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, SET_COOKIE, WWW_AUTHENTICATE,
};
use tokio::time::Instant;

use crate::diagnosis::network::{http_diagnosis, rate_limited, timeout_diagnosis};
use crate::diagnosis::{Code, Diagnosis, Stage};
use crate::model::challenge::Challenge;
use crate::model::ratelimit::RateLimit;
use crate::model::reference::Reference;
use crate::model::wire::{self, ErrorCode, GrantedAccess};
use crate::net::http;
use crate::registry::auth::Access;
use crate::registry::profile::Forbidden;
use crate::registry::tags;
use crate::stages::Target;

/// The most of a manifest read.
const MANIFEST_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The most of an error body read.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// What the registry said about an existing manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Found {
    pub(crate) digest: Option<String>,
    pub(crate) media_type: Option<String>,
    pub(crate) size: Option<u64>,
    /// The manifest itself, when the stage read it (a GET, for `--depth blobs`).
    pub(crate) body: Option<Vec<u8>>,
}

impl Found {
    /// What the report keeps of it: everything but the body, which only the stages after read.
    pub(crate) fn summary(&self) -> Found {
        Found {
            digest: self.digest.clone(),
            media_type: self.media_type.clone(),
            size: self.size,
            body: None,
        }
    }

    /// How to name this manifest again: by the digest the registry said, else as the reference
    /// does.
    pub(crate) fn reference(&self, reference: &Reference) -> String {
        self.digest
            .clone()
            .unwrap_or_else(|| reference.manifest_reference())
    }
}

/// How access was obtained, to explain a refusal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccessContext<'a> {
    /// Credentials were sent (to the registry or its token realm).
    pub(crate) with_credentials: bool,
    /// What the token says it grants, when it says.
    pub(crate) granted: &'a GrantedAccess,
}

/// The outcome of the manifest stage.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) result: Result<Found, Diagnosis>,
    pub(crate) rate_limit: Option<RateLimit>,
    /// The challenge of a 401, for a registry that asks only per repository.
    pub(crate) challenge: Option<Challenge>,
    /// How many times the HEAD was sent (transient failures are retried).
    pub(crate) tries: u32,
}

/// What the stage says of a manifest it found.
pub(crate) fn describe_found(found: &Found) -> String {
    let mut detail = String::new();
    if let Some(d) = &found.digest {
        let _ = write!(detail, "{d}");
    } else {
        detail.push_str("exists (the registry sent no Docker-Content-Digest)");
    }
    if let Some(m) = &found.media_type {
        let _ = write!(detail, ", {m}");
    }
    if let Some(s) = found.size {
        let _ = write!(detail, ", {s} bytes");
    }
    detail
}

impl Outcome {
    /// The stage failed before the registry said anything of the manifest.
    fn failed(d: Diagnosis, tries: u32) -> Outcome {
        Outcome {
            result: Err(d),
            rate_limit: None,
            challenge: None,
            tries,
        }
    }
}

fn header(h: &HeaderMap, name: impl reqwest::header::AsHeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The stage: asks for the manifest of the target's reference with `access` — a `HEAD`, or with
/// `with_body` a `GET` that also reads it (the pull path's first read, one request instead of
/// two; never on a registry that counts a GET as a pull unless that was allowed).
pub(crate) async fn head(
    target: Target<'_>,
    access: &Access,
    with_credentials: bool,
    with_body: bool,
) -> Outcome {
    let Target { ep, reference, .. } = target;
    let ctx = AccessContext {
        with_credentials,
        granted: access.granted(),
    };
    let url = ep.manifest_url(reference.repository(), &reference.manifest_reference());
    let (status, headers, body, tries) = match send(target, access, &url, with_body).await {
        Ok(answer) => answer,
        Err(failed) => return failed,
    };
    let method = if with_body { "GET" } else { "HEAD" };
    let rate_limit = RateLimit::from_headers(|n| header(&headers, n));
    let challenge = (status == StatusCode::UNAUTHORIZED)
        .then(|| header(&headers, WWW_AUTHENTICATE).and_then(Challenge::parse))
        .flatten();
    let what = describe_ref(reference);
    let result = match status {
        s if s.is_success() => Ok(Found {
            digest: header(&headers, "docker-content-digest").map(str::to_owned),
            media_type: header(&headers, CONTENT_TYPE)
                .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned()),
            size: header(&headers, CONTENT_LENGTH)
                .and_then(|v| v.parse().ok())
                .or_else(|| body.as_ref().and_then(|b| u64::try_from(b.len()).ok())),
            body,
        }),
        StatusCode::UNAUTHORIZED => Err(unauthorized(target, &headers, ctx)),
        StatusCode::FORBIDDEN => Err(forbidden(target, access, &url, ctx, body.as_deref()).await),
        StatusCode::BAD_REQUEST
            if ctx.with_credentials && target.profile.bad_request_is_expired_token() =>
        {
            Err(Diagnosis::new(
                Code::AuthRejected,
                Stage::Manifest,
                format!(
                    "{} answered 400 without a challenge to the token obtained with the credentials used: {} answers so for an expired token",
                    reference.registry(),
                    target.profile.flavor.name(),
                ),
            )
            .answered_by(target.profile.flavor))
        }
        StatusCode::NOT_FOUND if target.profile.hides_missing() => {
            let d = Diagnosis::new(
                Code::ManifestUnknown,
                Stage::Manifest,
                format!(
                    "{what} does not exist in {}/{}",
                    reference.registry(),
                    reference.repository()
                ),
            );
            Err(with_suggestions(target, access, d).await)
        }
        StatusCode::NOT_FOUND => Err(not_found(target, access, body.as_deref()).await),
        StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(
            Stage::Manifest,
            &url,
            header(&headers, "retry-after"),
            rate_limit.as_ref(),
            "",
        )),
        s if s.is_server_error() => {
            let profile = target
                .profile
                .recognise(header(&headers, SET_COOKIE));
            let mut msg = format!(
                "{method} {url} answered {s}{}",
                if tries > 1 {
                    format!(" ({tries} tries)")
                } else {
                    String::new()
                }
            );
            if let Some(note) = profile.server_error_note() {
                let _ = write!(msg, "; {note}");
            }
            Err(Diagnosis::new(Code::RegistryError, Stage::Manifest, msg).answered_by(profile.flavor))
        }
        // Only a redirect the client would not follow gets here: one to another origin.
        s if s.is_redirection() => Err(Diagnosis::new(
            Code::RegistryError,
            Stage::Manifest,
            redirected(method, &url, s, header(&headers, LOCATION)),
        )),
        s => Err(Diagnosis::new(
            Code::RegistryError,
            Stage::Manifest,
            format!("{method} {url} answered an unexpected {s}"),
        )),
    };
    Outcome {
        result,
        rate_limit,
        challenge,
        tries,
    }
}

/// Sends the manifest request (retried when the registry fails transiently): its status,
/// headers, the body when asked for and the answer is a success or a 404 (whose error body tells
/// a missing repository from a missing tag), and the tries it took.
async fn send(
    target: Target<'_>,
    access: &Access,
    url: &str,
    with_body: bool,
) -> Result<(StatusCode, HeaderMap, Option<Vec<u8>>, u32), Outcome> {
    let Target {
        net, ep, deadline, ..
    } = target;
    let client = net.http.for_mode(ep.mode);
    let started = Instant::now();
    let build = || {
        let req = if with_body {
            client.get(url)
        } else {
            client.head(url)
        };
        access.apply(req.header(ACCEPT, wire::MANIFEST_ACCEPT))
    };
    let (sent, tries) = http::send_retrying(build, &net.http, &ep.host, deadline).await;
    let resp = match sent {
        http::Sent::TimedOut => {
            return Err(Outcome::failed(
                timeout_diagnosis(Stage::Manifest, url, started),
                tries,
            ));
        }
        http::Sent::Failed(f) => {
            return Err(Outcome::failed(
                http_diagnosis(&f, Stage::Manifest, url),
                tries,
            ));
        }
        http::Sent::Response(r) => r,
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    if with_body && matches!(status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN) {
        // An error body that cannot be read is one without codes: the 404 still decides.
        let body = http::read_body(resp, ERROR_BODY_LIMIT, &ep.host, deadline).await;
        return Ok((status, headers, Some(body.unwrap_or_default()), tries));
    }
    if !(with_body && status.is_success()) {
        return Ok((status, headers, None, tries));
    }
    match http::read_body(resp, MANIFEST_BODY_LIMIT, &ep.host, deadline).await {
        Ok(body) => Ok((status, headers, Some(body), tries)),
        Err(f) => Err(Outcome::failed(
            http_diagnosis(&f, Stage::Manifest, url),
            tries,
        )),
    }
}

/// Says where a manifest request was redirected, naming only the target's origin: the rest of a
/// storage URL may be a signed, secret-bearing query.
fn redirected(method: &str, url: &str, status: StatusCode, location: Option<&str>) -> String {
    let target = location.and_then(|l| reqwest::Url::parse(url).ok()?.join(l).ok());
    match target {
        Some(t) => format!(
            "{method} {url} answered {status}, a redirect to {} that is not followed: registries serve manifests themselves, and credentials never go to another host",
            t.origin().ascii_serialization()
        ),
        None => format!("{method} {url} answered {status} without a usable Location"),
    }
}

fn describe_ref(reference: &Reference) -> String {
    match (reference.digest(), reference.tag()) {
        (Some(d), _) => format!("digest {d}"),
        (None, Some(t)) => format!("tag {t}"),
        (None, None) => "the manifest".to_owned(),
    }
}

/// Explains a 401 on the manifest from the challenge's `error=` and what the token granted.
fn unauthorized(target: Target<'_>, headers: &HeaderMap, ctx: AccessContext<'_>) -> Diagnosis {
    let reference = target.reference;
    let challenge = header(headers, WWW_AUTHENTICATE).and_then(Challenge::parse);
    let error = challenge.as_ref().and_then(Challenge::error).unwrap_or("");
    let repo = format!("{}/{}", reference.registry(), reference.repository());
    let granted = match ctx.granted {
        GrantedAccess::Actions(a) if a.is_empty() => {
            " (the token grants no access to it)".to_owned()
        }
        GrantedAccess::Actions(a) => format!(" (the token grants {})", a.join(",")),
        GrantedAccess::Unknown => String::new(),
    };
    let how = if ctx.with_credentials {
        "with the credentials used"
    } else {
        "anonymously"
    };
    if error == "invalid_token" {
        return Diagnosis::new(
            Code::AuthServerError,
            Stage::Manifest,
            format!("the registry refused the token its own token service issued for {repo} (invalid_token)"),
        )
        .with_hint("the registry and its token service disagree (service name, issuer or signing certificate): fix the registry's token configuration");
    }
    if target.profile.hides_missing() {
        return Diagnosis::new(
            Code::NotFoundOrUnauthorized,
            Stage::Manifest,
            format!(
                "{repo} answered 401 {how}{granted}: {} says this both for a repository that does not exist and for a private one you may not pull",
                target.profile.flavor.name(),
            ),
        )
        .with_hint(if ctx.with_credentials {
            "check the repository name for typos; if it is private, give the account used access to it"
        } else {
            "check the repository name for typos; if it is private, log in (docker login) and give the pod an imagePullSecret"
        });
    }
    if ctx.with_credentials {
        let mut msg = format!("{repo}: access refused {how}{granted}");
        if error == "insufficient_scope" {
            msg.push_str(" — or the repository does not exist, which this registry does not reveal to accounts without access");
        }
        Diagnosis::new(Code::AccessDenied, Stage::Manifest, msg)
    } else {
        Diagnosis::new(
            Code::AuthRequired,
            Stage::Manifest,
            format!("{repo} cannot be pulled anonymously{granted}: the registry wants credentials"),
        )
    }
}

/// A 403 on the manifest, as this registry means it: refused access, a missing repository it
/// will not admit to, its firewall, or expired credentials. The body is read (a `GET`, never
/// on a registry that counts pulls) only where the profile needs it.
async fn forbidden(
    target: Target<'_>,
    access: &Access,
    url: &str,
    ctx: AccessContext<'_>,
    read: Option<&[u8]>,
) -> Diagnosis {
    let reference = target.reference;
    let profile = target.profile;
    let repo = format!("{}/{}", reference.registry(), reference.repository());
    let fetched;
    let body = match read {
        Some(b) => Some(b),
        None if profile.reads_forbidden_body() && !profile.counts_pulls() => {
            fetched = error_answer(target, url, access)
                .await
                .filter(|(status, _)| !status.is_success())
                .map(|(_, body)| body);
            fetched.as_deref()
        }
        None => None,
    };
    let how = if ctx.with_credentials {
        "with the credentials used"
    } else {
        "anonymously"
    };
    match profile.forbidden(body) {
        Forbidden::HidesMissing => Diagnosis::new(
            Code::NotFoundOrUnauthorized,
            Stage::Manifest,
            format!(
                "{repo} answered 403 {how}: {} says this both for a repository that does not exist and for one the {} may not pull",
                profile.flavor.name(),
                if ctx.with_credentials {
                    "account"
                } else {
                    "anonymous client"
                },
            ),
        ),
        Forbidden::IpDenied(said) => Diagnosis::new(
            Code::RegistryIpDenied,
            Stage::Manifest,
            format!("{repo} refused this client's address (403): {said}"),
        ),
        Forbidden::Expired(said) if ctx.with_credentials => Diagnosis::new(
            Code::AuthRejected,
            Stage::Manifest,
            format!(
                "{repo} refused the credentials used with 403 and a plain-text body, as {} answers an expired token: \"{said}\"",
                profile.flavor.name()
            ),
        ),
        Forbidden::Denied | Forbidden::Expired(_) if ctx.with_credentials => Diagnosis::new(
            Code::AccessDenied,
            Stage::Manifest,
            format!(
                "{} refused access to {} with the credentials used (403)",
                reference.registry(),
                reference.repository(),
            ),
        ),
        Forbidden::Denied | Forbidden::Expired(_) => Diagnosis::new(
            Code::AuthRequired,
            Stage::Manifest,
            format!(
                "{} refused anonymous access to {} (403): no credentials were found for it",
                reference.registry(),
                reference.repository(),
            ),
        ),
    }
}

/// GETs `url` (as the manifest is asked, never a pull on registries that count them): its
/// status, and the body of an error answer (empty for a success, which is not read). `None`
/// when no answer could be read before the deadline.
async fn error_answer(
    target: Target<'_>,
    url: &str,
    access: &Access,
) -> Option<(StatusCode, Vec<u8>)> {
    let Target {
        net, ep, deadline, ..
    } = target;
    let client = net.http.for_mode(ep.mode);
    let req = access.apply(client.get(url).header(ACCEPT, wire::MANIFEST_ACCEPT));
    let resp = tokio::time::timeout_at(deadline, req.send())
        .await
        .ok()?
        .ok()?;
    let status = resp.status();
    if status.is_success() {
        return Some((status, Vec::new()));
    }
    let body = http::read_body(resp, ERROR_BODY_LIMIT, &ep.host, deadline)
        .await
        .ok()?;
    Some((status, body))
}

/// A 404 on the manifest: the spec's registry says `MANIFEST_UNKNOWN` whether the tag or the whole
/// repository is missing, so the error body alone cannot tell; `tags/list` answers `NAME_UNKNOWN`
/// for a missing repository. Neither GET counts as a pull. `read` is the manifest's error body
/// when the stage's own request was a GET: it is not asked for again.
async fn not_found(target: Target<'_>, access: &Access, read: Option<&[u8]>) -> Diagnosis {
    let Target { ep, reference, .. } = target;
    let what = describe_ref(reference);
    let repo = format!("{}/{}", reference.registry(), reference.repository());
    let first = if let Some(body) = read {
        error_codes(body)
    } else {
        let manifest_url = ep.manifest_url(reference.repository(), &reference.manifest_reference());
        error_code(target, &manifest_url, access).await
    };
    let profile = target
        .profile
        .recognise_codes(first.as_deref().unwrap_or_default());
    let codes = match first {
        Some(codes) if codes.contains(&ErrorCode::NameUnknown) => Some(codes),
        _ => {
            let tags_url = ep.tags_url(reference.repository(), 1);
            error_code(target, &tags_url, access).await
        }
    };
    let profile = profile.recognise_codes(codes.as_deref().unwrap_or_default());
    // `Some([])`: tags/list answered 2xx, so the repository exists.
    let repository_exists = codes.as_ref().is_some_and(Vec::is_empty);
    if codes.is_some_and(|c| profile.says_repository_missing(&c)) {
        return Diagnosis::new(
            Code::RepositoryNotFound,
            Stage::Manifest,
            format!("repository {repo} does not exist"),
        )
        .with_hint(format!(
            "check the repository name for typos, and that the image was pushed to {} (not another registry)",
            reference.registry()
        ))
        .answered_by(profile.flavor);
    }
    let mut msg = format!("{what} does not exist in {repo}");
    if repository_exists {
        let _ = write!(msg, " (the repository exists)");
    }
    let d = Diagnosis::new(Code::ManifestUnknown, Stage::Manifest, msg).answered_by(profile.flavor);
    with_suggestions(target, access, d).await
}

/// For a missing tag: lists the repository's tags and names the closest ones. A registry that
/// refuses the listing is said to, rather than guessed about.
async fn with_suggestions(target: Target<'_>, access: &Access, mut d: Diagnosis) -> Diagnosis {
    let Target {
        net,
        ep,
        reference,
        deadline,
        ..
    } = target;
    let Some(wanted) = reference.tag().filter(|_| reference.digest().is_none()) else {
        return d;
    };
    match tags::list(net, ep, reference.repository(), access, deadline).await {
        Ok(found) => {
            d.suggestions = tags::suggest(wanted, &found);
            if found.is_empty() {
                d.message.push_str("; the repository has no tags at all");
            } else if !d.suggestions.is_empty() {
                d.hint = format!(
                    "did you mean {}? Otherwise push the tag, or fix it in the manifest",
                    d.suggestions.join(", ")
                );
            } else {
                let _ = write!(
                    d.message,
                    "; none of its {} tags is close (e.g. {})",
                    found.len(),
                    found.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                );
            }
        }
        Err(tags::Unlisted::Refused(status)) => {
            let _ = write!(
                d.message,
                "; the registry refused to list its tags ({status})"
            );
        }
        Err(tags::Unlisted::Failed(why)) => {
            let _ = write!(d.message, "; its tags could not be listed: {why}");
        }
    }
    d
}

/// GETs `url` and decodes the error codes of a 404 body. `None` when the answer was not a 404 or
/// had no decodable errors; `Some(vec![])` for a 200.
async fn error_code(target: Target<'_>, url: &str, access: &Access) -> Option<Vec<ErrorCode>> {
    match error_answer(target, url, access).await? {
        (status, _) if status.is_success() => Some(Vec::new()),
        (StatusCode::NOT_FOUND, body) => error_codes(&body),
        _ => None,
    }
}

/// The error codes of a 404's body; `None` when it has none that decode.
fn error_codes(body: &[u8]) -> Option<Vec<ErrorCode>> {
    let codes: Vec<ErrorCode> = wire::decode_errors(body)
        .into_iter()
        .map(|e| e.code)
        .collect();
    if codes.is_empty() { None } else { Some(codes) }
}
