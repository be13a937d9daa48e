//! What registries send back besides headers: the error envelope of the distribution spec
//! (`{"errors":[{"code":"MANIFEST_UNKNOWN",…}]}`, and Docker Hub's `{"message":"toomanyrequests: …"}`),
//! token responses, and the manifest media types. Pure decoding, no I/O; never panics.

use base64::Engine as _;
use serde::Deserialize;

/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The `Accept` header for manifest requests: all four types (the two indexes above, the OCI image
/// manifest and Docker's schema 2), so that a registry never converts
/// (a Docker list asked without `Accept` comes back as schema 1 with another digest) nor refuses
/// (an OCI index asked without its type is a 404 on the CNCF registry).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// An error code from the distribution spec's error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The repository name is not known to the registry.
    NameUnknown,
    /// The repository name is invalid.
    NameInvalid,
    /// The manifest (tag or digest) is not known.
    ManifestUnknown,
    /// Authentication required.
    Unauthorized,
    /// Access to the resource was denied.
    Denied,
    /// Too many requests.
    TooManyRequests,
    /// The operation is not supported.
    Unsupported,
    /// Any other code, as sent.
    Other(String),
}

impl ErrorCode {
    fn from_wire(code: &str) -> ErrorCode {
        match code.to_ascii_uppercase().as_str() {
            "NAME_UNKNOWN" => ErrorCode::NameUnknown,
            "NAME_INVALID" => ErrorCode::NameInvalid,
            "MANIFEST_UNKNOWN" => ErrorCode::ManifestUnknown,
            "UNAUTHORIZED" => ErrorCode::Unauthorized,
            "DENIED" => ErrorCode::Denied,
            "TOOMANYREQUESTS" => ErrorCode::TooManyRequests,
            "UNSUPPORTED" => ErrorCode::Unsupported,
            _ => ErrorCode::Other(code.chars().take(64).collect()),
        }
    }
}

/// One decoded registry error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryError {
    /// The code.
    pub code: ErrorCode,
    /// The registry's message, trimmed to a sane length.
    pub message: String,
}

/// Decodes an error body. Empty when the body is not one of the known shapes.
pub fn decode_errors(body: &[u8]) -> Vec<RegistryError> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        errors: Vec<Item>,
        #[serde(default)]
        message: Option<String>,
        // OAuth2 (RFC 6749 §5.2), as token endpoints answer a refresh-token POST.
        #[serde(default)]
        error: Option<serde_json::Value>,
        #[serde(default)]
        error_description: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: Option<String>,
    }
    let Ok(env) = serde_json::from_slice::<Envelope>(body) else {
        return Vec::new();
    };
    let mut out: Vec<RegistryError> = env
        .errors
        .into_iter()
        .map(|e| RegistryError {
            code: ErrorCode::from_wire(&e.code),
            message: shorten(e.message.as_deref().unwrap_or("")),
        })
        .collect();
    // Docker Hub: {"message":"toomanyrequests: You have reached your pull rate limit…"}
    if out.is_empty()
        && let Some(m) = env.message
    {
        let code = m.split(':').next().unwrap_or("").trim();
        out.push(RegistryError {
            code: ErrorCode::from_wire(code),
            message: shorten(&m),
        });
    }
    if out.is_empty()
        && let Some(serde_json::Value::String(code)) = env.error
    {
        let description = match env.error_description {
            Some(serde_json::Value::String(d)) => format!("{code}: {d}"),
            _ => code.clone(),
        };
        out.push(RegistryError {
            code: ErrorCode::from_wire(&code),
            message: shorten(&description),
        });
    }
    out
}

/// The first `max` characters of a server-supplied text, on one line.
pub(crate) fn shorten(s: &str) -> String {
    const MAX: usize = 300;
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out.trim().to_owned()
}

/// A token endpoint's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenResponse {
    /// The bearer token (`token`, or `access_token` for OAuth2-style endpoints).
    pub token: String,
    /// Lifetime in seconds, when given.
    pub expires_in: Option<u64>,
}

/// Why a token response could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenDecodeError {
    /// Not JSON of the expected shape.
    #[error("the token response is not JSON: {reason}")]
    NotJson {
        /// What the parser said.
        reason: String,
    },
    /// JSON without a token.
    #[error("the token response has neither \"token\" nor \"access_token\"")]
    NoToken,
}

/// Decodes a token endpoint's body.
pub fn decode_token(body: &[u8]) -> Result<TokenResponse, TokenDecodeError> {
    #[derive(Deserialize)]
    struct Raw {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<serde_json::Value>,
    }
    let raw: Raw = serde_json::from_slice(body).map_err(|e| TokenDecodeError::NotJson {
        reason: shorten(&e.to_string()),
    })?;
    let token = raw
        .token
        .filter(|t| !t.is_empty())
        .or(raw.access_token.filter(|t| !t.is_empty()))
        .ok_or(TokenDecodeError::NoToken)?;
    Ok(TokenResponse {
        token,
        expires_in: raw.expires_in.and_then(|v| v.as_u64()),
    })
}

/// What a Docker-style JWT says it grants for one repository, read without verifying the
/// signature (the registry verifies it; we only want to explain its answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantedAccess {
    /// The token is not a JWT with an `access` claim: nothing can be said.
    Unknown,
    /// The actions granted on the repository (empty: the token grants nothing there).
    Actions(Vec<String>),
}

/// Reads the `access` claim of a JWT for `repository:NAME`.
pub fn granted_access(token: &str, repository: &str) -> GrantedAccess {
    #[derive(Deserialize)]
    struct Claims {
        access: Option<Vec<Access>>,
    }
    #[derive(Deserialize)]
    struct Access {
        #[serde(rename = "type", default)]
        kind: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        actions: Vec<String>,
    }
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return GrantedAccess::Unknown;
    };
    if payload.len() > 64 * 1024 {
        return GrantedAccess::Unknown;
    }
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return GrantedAccess::Unknown;
    };
    let Ok(claims) = serde_json::from_slice::<Claims>(&bytes) else {
        return GrantedAccess::Unknown;
    };
    let Some(access) = claims.access else {
        return GrantedAccess::Unknown;
    };
    GrantedAccess::Actions(
        access
            .into_iter()
            .filter(|a| a.kind == "repository" && a.name == repository)
            .flat_map(|a| a.actions)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_errors() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v9"}}]}"#;
        assert_eq!(
            decode_errors(body),
            vec![RegistryError {
                code: ErrorCode::ManifestUnknown,
                message: "manifest unknown".into()
            }]
        );
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#;
        assert_eq!(decode_errors(body)[0].code, ErrorCode::NameUnknown);
    }

    #[test]
    fn hub_and_garbage() {
        let body = br#"{"message":"toomanyrequests: You have reached your pull rate limit."}"#;
        assert_eq!(decode_errors(body)[0].code, ErrorCode::TooManyRequests);
        assert!(decode_errors(b"404 page not found\n").is_empty());
        assert!(decode_errors(b"").is_empty());
        assert!(
            decode_errors(br#"{"errors":[{"code":"WEIRD"}]}"#)[0].code
                == ErrorCode::Other("WEIRD".into())
        );
        assert!(decode_errors(br#"{"errors":3}"#).is_empty());
    }

    #[test]
    fn tokens() {
        assert_eq!(
            decode_token(br#"{"token":"abc","expires_in":300}"#).unwrap(),
            TokenResponse {
                token: "abc".into(),
                expires_in: Some(300)
            }
        );
        assert_eq!(decode_token(br#"{"access_token":"x"}"#).unwrap().token, "x");
        assert_eq!(
            decode_token(br#"{"token":""}"#),
            Err(TokenDecodeError::NoToken)
        );
        assert!(matches!(
            decode_token(b"<html>"),
            Err(TokenDecodeError::NotJson { .. })
        ));
    }

    #[test]
    fn jwt_access() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let tok = |claims: &str| format!("{}.{}.sig", enc(r#"{"alg":"RS256"}"#), enc(claims));
        let t = tok(r#"{"access":[{"type":"repository","name":"team/app","actions":["pull"]}]}"#);
        assert_eq!(
            granted_access(&t, "team/app"),
            GrantedAccess::Actions(vec!["pull".into()])
        );
        assert_eq!(granted_access(&t, "other"), GrantedAccess::Actions(vec![]));
        let t = tok(r#"{"access":[]}"#);
        assert_eq!(
            granted_access(&t, "team/app"),
            GrantedAccess::Actions(vec![])
        );
        assert_eq!(granted_access(&tok("{}"), "a"), GrantedAccess::Unknown);
        assert_eq!(granted_access("opaque", "a"), GrantedAccess::Unknown);
        assert_eq!(granted_access("a.%%%.c", "a"), GrantedAccess::Unknown);
    }
}
