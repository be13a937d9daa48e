//! A Docker-style token server (the `realm` of a `Bearer` challenge), served
//! over HTTPS by the in-process fake, and the JWT minting it shares with the
//! seeding code.
//!
//! Accounts:
//! - `admin` / `admin-pass`: pull on every repository;
//! - `limited` / `limited-pass`: pull on repositories under `team/`;
//! - anonymous: pull on repositories under `public/`.
//!
//! Like Docker Hub, a known identity asking for a scope it lacks gets a token
//! with empty `actions`, not an error: the registry then answers 401
//! `insufficient_scope`, which is the case preflight has to diagnose. Only
//! wrong credentials are refused here. Push is never granted; seeding mints
//! its own tokens with [`mint_jwt`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::fake::{FakeRequest, FakeResponse, FakeServer};
use super::pki::{CertFiles, Pki};

/// The `service` the token server and `Registry::tls_token` agree on.
pub const SERVICE: &str = "preflight-test-registry";
/// The `iss` claim of tokens from [`TokenServer`].
pub const ISSUER: &str = "preflight-test-token-issuer";
/// Refresh token accepted by `POST /token`; grants admin rights.
pub const ADMIN_REFRESH_TOKEN: &str = "admin-refresh-token";
/// Lifetime of issued tokens, reported as `expires_in`.
pub const TOKEN_TTL_SECS: u64 = 300;

/// A request as the token server saw it (method, path+query, lower-cased
/// headers including `authorization`, body).
pub type RecordedRequest = FakeRequest;

/// How the token server behaves, switchable mid-test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenMode {
    #[default]
    Normal,
    /// 500 with a JSON error body.
    Fail500,
    /// 200 with a body that is not JSON.
    Garbage,
    /// `POST /token` answered 501, GET as usual: a token service without the `OAuth2` flow,
    /// which containerd fails on and CRI-O (GET only) does not notice.
    PostNotImplemented,
}

pub struct TokenServer {
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT/token`.
    pub realm: String,
    pub service: String,
    pub issuer: String,
    server: FakeServer,
    state: Arc<State>,
}

impl fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenServer")
            .field("realm", &self.realm)
            .field("service", &self.service)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

struct State {
    signer: CertFiles,
    service: String,
    issuer: String,
    mode: Mutex<TokenMode>,
}

impl TokenServer {
    /// Serves `/token` over HTTPS with `pki.server`; tokens are signed with
    /// `pki.token_signer`.
    pub fn start(pki: &Pki) -> TokenServer {
        let state = Arc::new(State {
            signer: pki.token_signer.clone(),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            mode: Mutex::new(TokenMode::Normal),
        });
        let server = {
            let state = Arc::clone(&state);
            FakeServer::tls(&pki.server, move |req| handle(&state, req))
        };
        TokenServer {
            addr: server.addr,
            realm: format!("{}/token", server.base_url()),
            service: state.service.clone(),
            issuer: state.issuer.clone(),
            server,
            state,
        }
    }

    /// Every request so far, in order; tests check which credentials
    /// reached the token server (and that none leaked elsewhere).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    pub fn set_mode(&self, mode: TokenMode) {
        *self
            .state
            .mode
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = mode;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Identity {
    Anonymous,
    Admin,
    Limited,
}

impl Identity {
    fn subject(self) -> &'static str {
        match self {
            Identity::Anonymous => "",
            Identity::Admin => "admin",
            Identity::Limited => "limited",
        }
    }

    fn may_pull(self, repo: &str) -> bool {
        match self {
            Identity::Admin => true,
            Identity::Limited => repo.starts_with("team/"),
            Identity::Anonymous => repo.starts_with("public/"),
        }
    }
}

fn login(user: &str, pass: &str) -> Option<Identity> {
    match (user, pass) {
        ("admin", "admin-pass") => Some(Identity::Admin),
        ("limited", "limited-pass") => Some(Identity::Limited),
        _ => None,
    }
}

fn handle(state: &State, req: &FakeRequest) -> FakeResponse {
    let mode = *state.mode.lock().unwrap_or_else(PoisonError::into_inner);
    match mode {
        TokenMode::Normal | TokenMode::PostNotImplemented => {}
        TokenMode::Fail500 => {
            return FakeResponse::new(500).json(json!({
                "errors": [{"code": "UNKNOWN", "message": "token service exploded (test)"}]
            }));
        }
        TokenMode::Garbage => {
            return FakeResponse::new(200)
                .header("content-type", "text/html")
                .body("<html><body>definitely not a token</body></html>");
        }
    }
    if req.path_only() != "/token" {
        return FakeResponse::new(404)
            .json(json!({"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]}));
    }
    match req.method.as_str() {
        "GET" => get_token(state, req),
        "POST" if mode == TokenMode::PostNotImplemented => FakeResponse::new(501),
        "POST" => post_token(state, req),
        _ => FakeResponse::new(405).header("allow", "GET, POST"),
    }
}

/// The classic Docker flow: `GET /token?service=…&scope=…` with optional
/// Basic credentials.
fn get_token(state: &State, req: &FakeRequest) -> FakeResponse {
    let params = parse_form(req.query().unwrap_or_default());
    let identity = match req.header("authorization") {
        None => Identity::Anonymous,
        Some(value) => match basic_credentials(value).and_then(|(u, p)| login(&u, &p)) {
            Some(identity) => identity,
            None => return unauthorized(),
        },
    };
    let scopes = scopes(&params);
    let mut body = issue(state, identity, &scopes);
    if identity == Identity::Admin && param(&params, "offline_token") == Some("true") {
        body["refresh_token"] = json!(ADMIN_REFRESH_TOKEN);
    }
    FakeResponse::new(200).json(body)
}

/// The `OAuth2` flow: form-encoded `grant_type=refresh_token` (or `password`).
fn post_token(state: &State, req: &FakeRequest) -> FakeResponse {
    let params = parse_form(&String::from_utf8_lossy(&req.body));
    let identity = match param(&params, "grant_type") {
        Some("refresh_token") => {
            if param(&params, "refresh_token") == Some(ADMIN_REFRESH_TOKEN) {
                Identity::Admin
            } else {
                return invalid_grant("refresh token is not valid");
            }
        }
        Some("password") => {
            let user = param(&params, "username").unwrap_or_default();
            let pass = param(&params, "password").unwrap_or_default();
            match login(user, pass) {
                Some(identity) => identity,
                None => return invalid_grant("incorrect username or password"),
            }
        }
        _ => {
            return FakeResponse::new(400).json(json!({
                "error": "unsupported_grant_type",
                "error_description": "only refresh_token and password grants are supported"
            }));
        }
    };
    let scopes = scopes(&params);
    let mut body = issue(state, identity, &scopes);
    body["scope"] = json!(scopes.join(" "));
    if identity == Identity::Admin && param(&params, "access_type") == Some("offline") {
        body["refresh_token"] = json!(ADMIN_REFRESH_TOKEN);
    }
    FakeResponse::new(200).json(body)
}

fn issue(state: &State, identity: Identity, scopes: &[String]) -> Value {
    let granted: Vec<(String, Vec<&str>)> = scopes
        .iter()
        .filter_map(|scope| {
            let (kind, rest) = scope.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            // Only repository scopes exist here; `registry:catalog:*` and the
            // like are silently not granted, as real servers do.
            if kind != "repository" {
                return None;
            }
            let pull_ok =
                identity.may_pull(name) && actions.split(',').any(|a| a == "pull" || a == "*");
            Some((name.to_owned(), if pull_ok { vec!["pull"] } else { vec![] }))
        })
        .collect();
    let access: Vec<(&str, &[&str])> = granted
        .iter()
        .map(|(name, actions)| (name.as_str(), actions.as_slice()))
        .collect();
    let jwt = mint_jwt(
        &state.signer,
        &state.issuer,
        &state.service,
        identity.subject(),
        &access,
        TOKEN_TTL_SECS,
    );
    json!({
        "token": jwt,
        "access_token": jwt,
        "expires_in": TOKEN_TTL_SECS,
        "issued_at": rfc3339(unix_now()),
    })
}

fn unauthorized() -> FakeResponse {
    FakeResponse::new(401).json(json!({
        "errors": [{"code": "UNAUTHORIZED", "message": "incorrect username or password"}]
    }))
}

fn invalid_grant(description: &str) -> FakeResponse {
    FakeResponse::new(401).json(json!({"error": "invalid_grant", "error_description": description}))
}

/// Signs a registry token (JWS compact form) with `signer`.
///
/// The certificate travels in the `x5c` header; distribution accepts the
/// token when that certificate chains to its `rootcertbundle` (for the
/// self-signed `Pki::token_signer`, when it *is* the bundle). RSA keys give
/// RS256, P-256 keys ES256. `access` lists `(repository, actions)`; empty
/// actions make a token that authenticates but authorises nothing.
pub fn mint_jwt(
    signer: &CertFiles,
    issuer: &str,
    service: &str,
    subject: &str,
    access: &[(&str, &[&str])],
    ttl_secs: u64,
) -> String {
    let rsa = RsaKeyPair::from_pkcs8(&signer.key_der).ok();
    let alg = if rsa.is_some() { "RS256" } else { "ES256" };
    let header = json!({"typ": "JWT", "alg": alg, "x5c": [STANDARD.encode(&signer.cert_der)]});

    let now = unix_now();
    let rng = SystemRandom::new();
    let mut jti = [0u8; 16];
    rng.fill(&mut jti).expect("random jti");
    let access: Vec<Value> = access
        .iter()
        .map(|(name, actions)| json!({"type": "repository", "name": name, "actions": actions}))
        .collect();
    let claims = json!({
        "iss": issuer,
        "sub": subject,
        "aud": service,
        "exp": now + ttl_secs,
        // Backdated a little so a registry whose clock reads slightly
        // behind ours does not reject a fresh token as not yet valid.
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": hex(&jti),
        "access": access,
    });

    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = if let Some(rsa) = rsa {
        let mut sig = vec![0u8; rsa.public_modulus_len()];
        rsa.sign(&RSA_PKCS1_SHA256, &rng, signing_input.as_bytes(), &mut sig)
            .expect("RS256 signature");
        sig
    } else {
        let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &signer.key_der)
            .expect("token signer key must be RSA or ECDSA P-256 (PKCS#8)");
        // JWS wants the fixed-width r||s form, not DER.
        ec.sign(&rng, signing_input.as_bytes())
            .expect("ES256 signature")
            .as_ref()
            .to_vec()
    };
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Decodes a JWT's claims without verifying it (for test assertions).
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("JWT has a payload segment");
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .expect("JWT payload is base64url");
    serde_json::from_slice(&bytes).expect("JWT payload is JSON")
}

fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// All requested scopes: repeated `scope` parameters, each of which may hold
/// several space-separated scopes (the `OAuth2` form).
fn scopes(params: &[(String, String)]) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()).map(str::to_owned))
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `application/x-www-form-urlencoded` (also used for query strings).
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                // A malformed escape is kept literally rather than rejected:
                // the point is to record what the client sent.
                let escaped = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = escaped {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a Unix time (no date crate in the test deps).
pub fn rfc3339(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// well-known algorithm, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
