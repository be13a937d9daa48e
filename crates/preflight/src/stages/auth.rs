//! The `auth` stage: pull access for one repository, as the registry's challenge asks — none,
//! HTTP Basic (verified once per registry and credential), or a token from the realm of a
//! `Bearer` challenge. The registry walk runs the same stage for its probe repository.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::diagnosis::network::{http_diagnosis, rate_limited, timeout_diagnosis};
use crate::diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
use crate::model::challenge::{BearerChallenge, Challenge};
use crate::model::credentials::{Credential, LocatedCredential};
use crate::model::wire::GrantedAccess;
use crate::net::Net;
use crate::registry::auth::{self, Access, AuthFailure, TokenCache, TokenRequest};
use crate::registry::endpoint::Endpoint;
use crate::registry::hosts::HostModes;
use crate::registry::profile::Profile;
use crate::stages::Trail;

type BasicCell = Arc<OnceCell<Result<(), Diagnosis>>>;

/// The Basic verifications of one check: each registry and credential is verified once.
#[derive(Debug, Default)]
pub(crate) struct BasicChecks {
    cells: Mutex<HashMap<(Endpoint, String), BasicCell>>,
}

/// What the stage uses besides the image: the network, the token cache, the Basic verifications
/// of this check, and how hosts are reached.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthEnv<'a> {
    pub(crate) net: &'a Net,
    pub(crate) tokens: &'a TokenCache,
    pub(crate) basic: &'a BasicChecks,
    pub(crate) hosts: &'a HostModes,
    pub(crate) runtime: crate::registry::runtime::Runtime,
}

/// Why access is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// To pull an image: a token must grant `pull`.
    Pull,
    /// To walk a registry by hand: the repository is one nobody has, so only whether a token is
    /// granted at all counts.
    Walk,
}

/// Access to one repository of one registry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthRequest<'a> {
    pub(crate) ep: &'a Endpoint,
    /// The registry as references name it, for messages.
    pub(crate) registry: &'a str,
    pub(crate) repository: &'a str,
    pub(crate) profile: Profile,
    pub(crate) purpose: Purpose,
    pub(crate) deadline: Instant,
}

/// Credentials found but not sent to a plain-HTTP token service whose host was not configured
/// for plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Withheld {
    /// Where they came from.
    pub(crate) origin: String,
    /// The token service's URL, as the challenge named it.
    pub(crate) realm: String,
    /// Its `HOST[:PORT]`, as `--plain-http` takes it.
    pub(crate) realm_host: String,
}

impl Withheld {
    /// The warning when the check completed without them.
    pub(crate) fn warning(&self) -> Warning {
        Warning {
            code: WarningCode::CredentialUnavailable,
            message: format!(
                "credentials from {} were not sent to the token service {}: it is plain HTTP and its host was not configured with --plain-http",
                self.origin, self.realm
            ),
        }
    }

    /// The failure when the check could not complete without them: `anonymously` is what it came
    /// to.
    pub(crate) fn failure(&self, anonymously: &Diagnosis) -> Diagnosis {
        Diagnosis::new(
            Code::CredentialsWithheld,
            anonymously.stage,
            format!(
                "credentials from {} were withheld from the token service {}: it is plain HTTP and its host was not configured with --plain-http, and anonymously {} ({})",
                self.origin, self.realm, anonymously.message, anonymously.code
            ),
        )
        .with_hint(format!(
            "if the token service is meant to be plain HTTP, pass --plain-http {} (the nodes' runtime sends these credentials there in clear text, as containerd does); better, serve it over HTTPS",
            self.realm_host
        ))
    }
}

/// Access obtained.
#[derive(Debug, Clone)]
pub(crate) struct Authed {
    pub(crate) access: Access,
    /// Credentials went into it (to the registry or its token realm).
    pub(crate) with_credentials: bool,
}

/// The stage: access as `challenge` asks, with `cred` or anonymously.
pub(crate) async fn authenticate(
    env: AuthEnv<'_>,
    req: AuthRequest<'_>,
    challenge: Option<&Challenge>,
    cred: Option<&LocatedCredential>,
    trail: &mut Trail,
) -> Result<Authed, Diagnosis> {
    let started = Instant::now();
    let registry = req.registry;
    match challenge {
        None => {
            trail.pass(
                Stage::Auth,
                started,
                "the registry asks for no authentication",
            );
            Ok(Authed {
                access: Access::Anonymous,
                with_credentials: false,
            })
        }
        Some(Challenge::Basic { .. }) => basic(env, req, cred, trail, started).await,
        Some(Challenge::Bearer(b)) => bearer(env, req, b, cred, trail, started).await,
        Some(Challenge::Other { scheme }) => Err(trail.fail(
            started,
            Diagnosis::new(
                Code::AuthRequired,
                Stage::Auth,
                format!("{registry} wants {scheme} authentication, which preflight does not speak"),
            ),
        )),
    }
}

/// Basic: the user name and password, verified with `GET /v2/`.
async fn basic(
    env: AuthEnv<'_>,
    req: AuthRequest<'_>,
    cred: Option<&LocatedCredential>,
    trail: &mut Trail,
    started: Instant,
) -> Result<Authed, Diagnosis> {
    let registry = req.registry;
    let Some(LocatedCredential { credential, origin }) = cred else {
        return Err(trail.fail(
            started,
            Diagnosis::new(
                Code::AuthRequired,
                Stage::Auth,
                format!(
                    "{registry} requires a user name and password (Basic) and no credentials were found for it"
                ),
            ),
        ));
    };
    trail.credential = Some(origin.clone());
    let Credential::Basic { username, password } = credential else {
        return Err(trail.fail(
            started,
            Diagnosis::new(
                Code::AuthRejected,
                Stage::Auth,
                format!(
                    "{registry} wants a user name and password (Basic), but the credential found ({origin}) is an identity token, which only a token service accepts"
                ),
            ),
        ));
    };
    let access = Access::Header {
        value: auth::basic_header(username, password.expose()),
        granted: GrantedAccess::Unknown,
    };
    match verify_basic(env, req.ep, origin, &access, req.deadline).await {
        Ok(()) => {
            trail.pass(
                Stage::Auth,
                started,
                format!("Basic authentication as {username} accepted ({origin})"),
            );
            Ok(Authed {
                access,
                with_credentials: true,
            })
        }
        Err(d) => Err(trail.fail(started, d)),
    }
}

/// Bearer: a token from the realm the challenge names. Credentials go to a realm over plain HTTP
/// only when its host was configured for it.
async fn bearer(
    env: AuthEnv<'_>,
    req: AuthRequest<'_>,
    challenge: &BearerChallenge,
    cred: Option<&LocatedCredential>,
    trail: &mut Trail,
    started: Instant,
) -> Result<Authed, Diagnosis> {
    let realm = challenge.realm.as_deref().unwrap_or_default();
    let realm_url = reqwest::Url::parse(realm).ok();
    let realm_mode = realm_url
        .as_ref()
        .map_or(crate::net::TlsMode::Verify, |u| env.hosts.realm_mode(u));
    let credential = match cred {
        Some(c)
            if realm_url
                .as_ref()
                .is_some_and(|u| !env.hosts.realm_takes_credentials(u, req.ep)) =>
        {
            if req.purpose == Purpose::Pull {
                // Whether they were needed is known only at the end of the attempt.
                trail.withheld = Some(Withheld {
                    origin: c.origin.clone(),
                    realm: realm.to_owned(),
                    realm_host: realm_url.as_ref().map_or_else(String::new, |u| {
                        u.port().map_or_else(
                            || u.host_str().unwrap_or_default().to_owned(),
                            |p| format!("{}:{p}", u.host_str().unwrap_or_default()),
                        )
                    }),
                });
            }
            None
        }
        other => other,
    };
    if let Some(c) = credential
        && req.purpose == Purpose::Pull
    {
        trail.credential = Some(c.origin.clone());
    }
    let request = TokenRequest {
        client: env.net.http.for_mode(realm_mode),
        http: &env.net.http,
        challenge,
        repository: req.repository,
        credential: credential.map(|c| (&c.credential, c.origin.as_str())),
        deadline: req.deadline,
        runtime: env.runtime,
    };
    let who = credential.map_or_else(
        || "anonymously".to_owned(),
        |c| format!("with {}", c.origin),
    );
    let access = match env.tokens.pull_token(&request).await {
        Ok(access) => access,
        Err(f) => {
            let message = match (req.purpose, credential) {
                (Purpose::Pull, None) => f.to_string(),
                (Purpose::Pull, Some(_)) => format!("{f} (credentials {who})"),
                (Purpose::Walk, _) => format!("{f} ({who})"),
            };
            let d = if matches!(f, AuthFailure::Denied { .. })
                && req.profile.token_denial_hides_missing()
            {
                Diagnosis::new(
                    Code::NotFoundOrUnauthorized,
                    Stage::Auth,
                    format!(
                        "{message}: {} refuses a token so both for a repository that does not exist and for one {} may not pull",
                        req.profile.flavor.name(),
                        if credential.is_some() {
                            "the account"
                        } else {
                            "an anonymous client"
                        },
                    ),
                )
            } else {
                auth_diagnosis(&f, realm, message)
            };
            return Err(trail.fail(started, d));
        }
    };
    let with_credentials = credential.is_some();
    if req.purpose == Purpose::Pull
        && req.profile.trusts_granted_actions()
        && let GrantedAccess::Actions(actions) = access.granted()
        && !actions.iter().any(|a| a == "pull" || a == "*")
    {
        let d = if with_credentials {
            Diagnosis::new(
                Code::AccessDenied,
                Stage::Auth,
                format!(
                    "the token service {realm} granted no pull access to {} {who}: the account may not pull it, or the repository does not exist",
                    req.repository
                ),
            )
        } else {
            Diagnosis::new(
                Code::AuthRequired,
                Stage::Auth,
                format!(
                    "the token service {realm} grants no anonymous pull access to {}: credentials are needed and none were found for {}",
                    req.repository, req.registry
                ),
            )
        };
        return Err(trail.fail(started, d));
    }
    let detail = match req.purpose {
        Purpose::Pull => format!("token from {realm} {who}"),
        Purpose::Walk => format!("a token was granted {who} by {realm}"),
    };
    trail.pass(Stage::Auth, started, detail);
    Ok(Authed {
        access,
        with_credentials,
    })
}

/// Checks Basic credentials once per registry and credential with `GET /v2/`.
async fn verify_basic(
    env: AuthEnv<'_>,
    ep: &Endpoint,
    origin: &str,
    access: &Access,
    deadline: Instant,
) -> Result<(), Diagnosis> {
    let cell = {
        let mut m = env
            .basic
            .cells
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(m.entry((ep.clone(), origin.to_owned())).or_default())
    };
    cell.get_or_init(|| async {
        let url = ep.ping_url();
        let started = Instant::now();
        let req = access.apply(env.net.http.for_mode(ep.mode).get(&url));
        let resp = match tokio::time::timeout_at(deadline, req.send()).await {
            Err(_) => return Err(timeout_diagnosis(Stage::Auth, &url, started)),
            Ok(Err(e)) => {
                let f = env.net.http.classify(&e, &ep.host);
                return Err(http_diagnosis(&f, Stage::Auth, &url));
            }
            Ok(Ok(r)) => r,
        };
        basic_verdict(ep, origin, &url, &resp)
    })
    .await
    .clone()
}

/// What the registry's answer to `GET /v2/` with Basic credentials says of them.
fn basic_verdict(
    ep: &Endpoint,
    origin: &str,
    url: &str,
    resp: &reqwest::Response,
) -> Result<(), Diagnosis> {
    match resp.status() {
        s if s.is_success() => Ok(()),
        StatusCode::UNAUTHORIZED => Err(Diagnosis::new(
            Code::AuthRejected,
            Stage::Auth,
            format!(
                "{} rejected the user name and password from {origin} (401)",
                ep.authority()
            ),
        )),
        StatusCode::FORBIDDEN => Err(Diagnosis::new(
            Code::AccessDenied,
            Stage::Auth,
            format!(
                "{} accepted the credentials from {origin} but refuses access (403)",
                ep.authority()
            ),
        )),
        StatusCode::TOO_MANY_REQUESTS => Err(rate_limited(
            Stage::Auth,
            url,
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            None,
            "",
        )),
        s => Err(Diagnosis::new(
            Code::RegistryError,
            Stage::Auth,
            format!("GET {url} with credentials answered {s}"),
        )),
    }
}

/// The diagnosis for a failed token request, `message` saying what happened and with what.
pub(crate) fn auth_diagnosis(f: &AuthFailure, realm: &str, message: String) -> Diagnosis {
    let code = match f {
        AuthFailure::Required { .. } => Code::AuthRequired,
        AuthFailure::Rejected { .. } => Code::AuthRejected,
        AuthFailure::Denied { .. } => Code::AccessDenied,
        AuthFailure::RateLimited { retry_after, .. } => {
            // Keeps the Retry-After hint of any 429, with this message.
            return Diagnosis {
                message,
                ..rate_limited(Stage::Auth, realm, retry_after.as_deref(), None, "")
            };
        }
        _ => Code::AuthServerError,
    };
    Diagnosis::new(code, Stage::Auth, message)
}
