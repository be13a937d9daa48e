//! Obtaining pull access: HTTP Basic, or the Docker token flow against the realm named in a
//! `Bearer` challenge. Token-endpoint failures are decoded, never swallowed: a refused password,
//! a token with no access and a broken token service are different diagnoses.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::model::challenge::BearerChallenge;
use crate::model::credentials::Credential;
use crate::model::wire::{self, GrantedAccess};
use crate::net::http;
use crate::registry::runtime::Runtime;

/// How long a token is assumed to live when the endpoint does not say (the spec's minimum).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// The longest a token is kept, whatever the endpoint claims.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The most of a token response we read.
const TOKEN_BODY_LIMIT: usize = 256 * 1024;

/// Why access could not be obtained. Each variant is one diagnosis.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// Credentials are needed and none were available (or allowed) for this registry.
    #[error("{detail}")]
    Required {
        /// What the registry or token service said.
        detail: String,
    },
    /// Credentials were sent and refused.
    #[error("{detail}")]
    Rejected {
        /// What the registry or token service said.
        detail: String,
    },
    /// Authenticated, but not allowed.
    #[error("{detail}")]
    Denied {
        /// What the registry or token service said.
        detail: String,
    },
    /// The token service failed or was unreachable.
    #[error("{detail}")]
    Server {
        /// What went wrong.
        detail: String,
        /// The failure below it, when one was.
        #[source]
        cause: Option<ServerCause>,
    },
    /// The token service rate-limited us.
    #[error("{detail}")]
    RateLimited {
        /// What the service said.
        detail: String,
        /// Its `Retry-After`, as sent.
        retry_after: Option<String>,
    },
}

/// What a token service's failure came from, when something below it failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServerCause {
    /// The exchange with the token service.
    #[error(transparent)]
    Http(#[from] http::HttpFailure),
    /// Its answer, which was not a token.
    #[error(transparent)]
    Token(#[from] wire::TokenDecodeError),
}

impl AuthFailure {
    fn server(detail: impl Into<String>) -> AuthFailure {
        AuthFailure::Server {
            detail: detail.into(),
            cause: None,
        }
    }

    fn server_caused(detail: impl Into<String>, cause: impl Into<ServerCause>) -> AuthFailure {
        AuthFailure::Server {
            detail: detail.into(),
            cause: Some(cause.into()),
        }
    }
}

/// What to send with registry requests.
#[derive(Clone, Default)]
pub(crate) enum Access {
    /// Nothing: the registry did not ask.
    #[default]
    Anonymous,
    /// A ready `Authorization` header value (Basic or Bearer); marked sensitive.
    Header {
        value: HeaderValue,
        /// For a bearer token, what it says it grants on the repository.
        granted: GrantedAccess,
    },
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Anonymous => f.write_str("Anonymous"),
            Access::Header { granted, .. } => f
                .debug_struct("Header")
                .field("value", &"****")
                .field("granted", granted)
                .finish(),
        }
    }
}

impl Access {
    /// Adds the header to a request.
    pub(crate) fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Access::Anonymous => req,
            Access::Header { value, .. } => req.header(AUTHORIZATION, value.clone()),
        }
    }

    pub(crate) fn granted(&self) -> &GrantedAccess {
        match self {
            Access::Anonymous => &GrantedAccess::Unknown,
            Access::Header { granted, .. } => granted,
        }
    }
}

/// `Basic base64(user:pass)`, marked sensitive so no layer logs it.
pub(crate) fn basic_header(username: &str, password: &str) -> HeaderValue {
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    sensitive(&format!("Basic {encoded}"))
}

fn sensitive(s: &str) -> HeaderValue {
    // Tokens and base64 are visible ASCII; anything else could not have come from a registry.
    let mut v = HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    v.set_sensitive(true);
    v
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    realm: String,
    service: String,
    scope: String,
    /// Which credential (its origin), or empty for anonymous.
    credential: String,
}

#[derive(Clone)]
struct CachedToken {
    access: Access,
    expires: Instant,
}

type TokenCell = Arc<OnceCell<Result<CachedToken, AuthFailure>>>;

/// Tokens per (realm, service, scope, credential): concurrent images of one repository wait for
/// one request instead of each asking.
#[derive(Default)]
pub(crate) struct TokenCache {
    cells: Mutex<HashMap<TokenKey, TokenCell>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.cells.lock().map_or(0, |c| c.len());
        f.debug_struct("TokenCache").field("entries", &n).finish()
    }
}

/// Everything a token request needs.
pub(crate) struct TokenRequest<'a> {
    pub(crate) client: &'a reqwest::Client,
    /// The clients `client` is one of, to classify its failures (through the proxy or not).
    pub(crate) http: &'a crate::net::http::HttpClients,
    pub(crate) challenge: &'a BearerChallenge,
    pub(crate) repository: &'a str,
    /// The credential, when one may be sent to this realm.
    pub(crate) credential: Option<(&'a Credential, &'a str)>,
    pub(crate) deadline: Instant,
    /// The node's runtime: whether a password goes in an `OAuth2` POST first.
    pub(crate) runtime: Runtime,
}

impl TokenCache {
    /// A pull token for `repository`, from the cache when a live one exists.
    pub(crate) async fn pull_token(&self, req: &TokenRequest<'_>) -> Result<Access, AuthFailure> {
        let realm = req.challenge.realm.clone().unwrap_or_default();
        let key = TokenKey {
            realm,
            service: req.challenge.service.clone().unwrap_or_default(),
            scope: format!("repository:{}:pull", req.repository),
            credential: req
                .credential
                .map(|(_, o)| o.to_owned())
                .unwrap_or_default(),
        };
        // At most two rounds: a cached token found expired, then a fresh one, which is used
        // whatever its lifetime (a token that lives less than a round trip is still the answer).
        for _ in 0..2 {
            let cell = {
                let mut cells = self.cells.lock().map_err(|_| {
                    AuthFailure::server("internal error: token cache poisoned".to_owned())
                })?;
                let now = Instant::now();
                // Keep the cache from growing without bound in a long-lived checker.
                cells.retain(|_, c| {
                    c.get()
                        .is_none_or(|r| r.as_ref().is_ok_and(|t| t.expires > now))
                });
                Arc::clone(cells.entry(key.clone()).or_default())
            };
            let mut fetched_here = false;
            let result = cell
                .get_or_init(|| {
                    fetched_here = true;
                    fetch_token(req, &key)
                })
                .await
                .clone();
            match result {
                Ok(t) if fetched_here || t.expires > Instant::now() => return Ok(t.access),
                Ok(_) => self.forget(&key, &cell),
                Err(e) => {
                    // Failures are shared by the images waiting on this request, never kept: a
                    // fixed password or a recovered token service must be seen next time.
                    self.forget(&key, &cell);
                    return Err(e);
                }
            }
        }
        Err(AuthFailure::server(
            "the token service keeps issuing tokens that are already expired".to_owned(),
        ))
    }

    /// Drops `cell` from the cache unless another task already replaced it.
    fn forget(&self, key: &TokenKey, cell: &TokenCell) {
        if let Ok(mut cells) = self.cells.lock()
            && cells.get(key).is_some_and(|c| Arc::ptr_eq(c, cell))
        {
            cells.remove(key);
        }
    }
}

/// Asks the token service for a token: the request, its deadline, then what the answer means.
/// With a password, containerd asks with an `OAuth2` POST first and falls back to a GET only on
/// the statuses it accepts; any other refusal of the POST is the answer.
async fn fetch_token(req: &TokenRequest<'_>, key: &TokenKey) -> Result<CachedToken, AuthFailure> {
    let post = matches!(req.credential, Some((Credential::Basic { .. }, _)))
        && req.runtime.posts_password_grant();
    if post {
        let answer = send_token_request(req, key, Grant::Password).await?;
        if !req
            .runtime
            .post_falls_back_to_get(answer.status.as_u16(), true)
        {
            return answer.judge(true, req.repository);
        }
    }
    let answer = send_token_request(req, key, Grant::Default).await?;
    answer.judge(req.credential.is_some(), req.repository)
}

/// Which request asks for the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    /// A GET with Basic credentials, or a POST of an identity token.
    Default,
    /// containerd's `OAuth2` password grant: a form POST of the username and password.
    Password,
}

/// Sends one token request within the deadline and reads the answer.
async fn send_token_request(
    req: &TokenRequest<'_>,
    key: &TokenKey,
    grant: Grant,
) -> Result<TokenAnswer, AuthFailure> {
    let started = Instant::now();
    let (request, realm_host) = token_request(req, key, grant)?;
    if started >= req.deadline {
        return Err(AuthFailure::server(format!(
            "the image's deadline was spent by earlier stages before the token service at {realm_host} could be asked"
        )));
    }
    let resp = match tokio::time::timeout_at(req.deadline, request.send()).await {
        Err(_) => {
            return Err(AuthFailure::server(format!(
                "the token service at {realm_host} did not answer within {} ms",
                started.elapsed().as_millis()
            )));
        }
        Ok(Err(e)) => {
            let why = req.http.classify(&e, &realm_host);
            return Err(AuthFailure::server_caused(
                format!("the token service at {realm_host} could not be reached: {why}"),
                why,
            ));
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(64).collect::<String>());
    let body = http::read_body(resp, TOKEN_BODY_LIMIT, &realm_host, req.deadline).await;
    Ok(TokenAnswer {
        status,
        body,
        retry_after,
        realm_host,
        grant,
    })
}

/// The token request for `key`: a POST of the refresh token for an identity token (`OAuth2`), else
/// a GET with the scope, and Basic credentials when there are some. Also the realm's host.
fn token_request(
    req: &TokenRequest<'_>,
    key: &TokenKey,
    grant: Grant,
) -> Result<(reqwest::RequestBuilder, String), AuthFailure> {
    let Some(realm) = req.challenge.realm.as_deref().filter(|r| !r.is_empty()) else {
        return Err(AuthFailure::server(
            "the registry's Bearer challenge names no realm to get a token from".to_owned(),
        ));
    };
    let mut url = reqwest::Url::parse(realm)
        .map_err(|e| AuthFailure::server(format!("the token realm {realm:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(AuthFailure::server(format!(
            "the token realm {realm:?} is not an http(s) URL"
        )));
    }
    let realm_host = url.host_str().unwrap_or_default().to_owned();
    let request = match req.credential {
        Some((Credential::Basic { username, password }, _)) if grant == Grant::Password => {
            let mut form = vec![
                ("grant_type", "password"),
                ("username", username.as_str()),
                ("password", password.expose()),
                ("client_id", "preflight"),
                ("scope", key.scope.as_str()),
            ];
            if !key.service.is_empty() {
                form.push(("service", key.service.as_str()));
            }
            form_post(req.client, url, &form)
        }
        Some((Credential::IdentityToken { token, .. }, _)) => {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", token.expose()),
                ("client_id", "preflight"),
                ("scope", key.scope.as_str()),
            ];
            if !key.service.is_empty() {
                form.push(("service", key.service.as_str()));
            }
            form_post(req.client, url, &form)
        }
        cred => {
            {
                let mut q = url.query_pairs_mut();
                if !key.service.is_empty() {
                    q.append_pair("service", &key.service);
                }
                q.append_pair("scope", &key.scope);
            }
            let r = req.client.get(url);
            match cred {
                Some((Credential::Basic { username, password }, _)) => {
                    r.header(AUTHORIZATION, basic_header(username, password.expose()))
                }
                _ => r,
            }
        }
    };
    Ok((request, realm_host))
}

/// A form-encoded POST of `form` to `url`.
fn form_post(
    client: &reqwest::Client,
    url: reqwest::Url,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

/// What a token service answered.
struct TokenAnswer {
    status: StatusCode,
    body: Result<Vec<u8>, http::HttpFailure>,
    retry_after: Option<String>,
    realm_host: String,
    /// The request it answered.
    grant: Grant,
}

impl TokenAnswer {
    /// The token, or why there is none. `sent_credentials` tells a refusal of credentials from a
    /// demand for them; `repository` is what the token's access claims are read for.
    fn judge(self, sent_credentials: bool, repository: &str) -> Result<CachedToken, AuthFailure> {
        let TokenAnswer {
            status,
            body,
            retry_after,
            realm_host,
            grant,
        } = self;
        let oauth_error = body
            .as_ref()
            .ok()
            .and_then(|b| wire::decode_errors(b).into_iter().next())
            .map(|e| e.code);
        let said = || {
            body.as_ref()
                .ok()
                .and_then(|b| wire::decode_errors(b).into_iter().next())
                .map(|e| format!(": {}", e.message))
                .unwrap_or_default()
        };
        match status {
            s if s.is_success() => {
                let body = body.map_err(|e| {
                    AuthFailure::server_caused(
                        format!("reading the token from {realm_host} failed: {e}"),
                        e,
                    )
                })?;
                let t = wire::decode_token(&body).map_err(|e| {
                    AuthFailure::server_caused(format!("{realm_host} answered {s} but {e}"), e)
                })?;
                let lifetime = t
                    .expires_in
                    .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs)
                    .min(MAX_TOKEN_LIFETIME);
                // Renew a little early so a token never expires between cache and registry.
                let margin = (lifetime / 4).min(Duration::from_secs(10));
                let expires = Instant::now() + lifetime.saturating_sub(margin);
                let granted = wire::granted_access(&t.token, repository);
                Ok(CachedToken {
                    access: Access::Header {
                        value: sensitive(&format!("Bearer {}", t.token)),
                        granted,
                    },
                    expires,
                })
            }
            StatusCode::UNAUTHORIZED if sent_credentials => Err(AuthFailure::Rejected {
                detail: format!(
                    "the token service at {realm_host} rejected the credentials (401){}",
                    said()
                ),
            }),
            StatusCode::UNAUTHORIZED => Err(AuthFailure::Required {
                detail: format!(
                    "the token service at {realm_host} requires credentials (401){}",
                    said()
                ),
            }),
            StatusCode::FORBIDDEN => Err(AuthFailure::Denied {
                detail: format!(
                    "the token service at {realm_host} refused access (403){}",
                    said()
                ),
            }),
            StatusCode::TOO_MANY_REQUESTS => Err(AuthFailure::RateLimited {
                detail: format!(
                    "the token service at {realm_host} is rate limiting (429){}",
                    said()
                ),
                retry_after,
            }),
            // OAuth2 answers a refused refresh token or client with 400 and one of these codes.
            StatusCode::BAD_REQUEST
                if sent_credentials
                    && matches!(
                        &oauth_error,
                        Some(wire::ErrorCode::Other(c))
                            if matches!(c.as_str(), "invalid_grant" | "invalid_client" | "unauthorized_client")
                    ) =>
            {
                Err(AuthFailure::Rejected {
                    detail: format!(
                        "the token service at {realm_host} refused the identity token (400){}",
                        said()
                    ),
                })
            }
            s if s.is_redirection() => Err(AuthFailure::server(format!(
                "the token service at {realm_host} answered {s}, redirecting to another origin; credentials are not sent after it"
            ))),
            s if grant == Grant::Password => Err(AuthFailure::server(format!(
                "the token service at {realm_host} answered containerd's OAuth2 password POST with {s}{}; containerd does not retry with a GET on that status (CRI-O and Docker ask with a GET)",
                said()
            ))),
            s => Err(AuthFailure::server(format!(
                "the token service at {realm_host} answered {s}{}",
                said()
            ))),
        }
    }
}

fn form_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_sensitive_and_correct() {
        let h = basic_header("user", "p:ss");
        assert!(h.is_sensitive());
        assert_eq!(h.to_str().unwrap(), "Basic dXNlcjpwOnNz");
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode("repository:a/b:pull"),
            "repository%3Aa%2Fb%3Apull"
        );
        assert_eq!(form_encode("a b+c"), "a%20b%2Bc");
    }

    #[test]
    fn access_debug_hides_the_header() {
        let a = Access::Header {
            value: sensitive("Bearer s3cr3t"),
            granted: GrantedAccess::Unknown,
        };
        assert!(!format!("{a:?}").contains("s3cr3t"));
    }
}
