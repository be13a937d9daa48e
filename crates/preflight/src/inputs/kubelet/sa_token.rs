//! Service account tokens the user gives for credential provider plugins with
//! `tokenAttributes` (`--image-credential-provider-token NAMESPACE/NAME=FILE`).
//!
//! The kubelet requests a token bound to the pod, for the provider's
//! `serviceAccountTokenAudience`, and sends it to the plugin. preflight has no cluster access:
//! it can only send a token someone made for that service account, e.g. with
//! `kubectl create token NAME -n NAMESPACE --audience AUDIENCE`. Such a token is a JWT; its
//! payload's `aud` claim (a string or a list) says which audiences it is for, so that a token is
//! never sent to a plugin of another audience. Nothing is verified: the plugin and the cloud
//! behind it do that.
//!
//! A token is a credential: it is held in a [`Secret`], and no error or `Debug` output shows it
//! or any part of it.

use std::fmt;

use base64::Engine as _;

use crate::model::secret::Secret;

/// A token for one service account.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceAccountToken {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account's name.
    pub name: String,
    /// The audiences of the token's `aud` claim.
    pub audiences: Vec<String>,
    token: Secret,
}

impl fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountToken")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

/// Why a token cannot be used. Never holds the token or a part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The service account is not `NAMESPACE/NAME`.
    #[error("{given:?} is not NAMESPACE/NAME of a service account (e.g. shop/builder)")]
    Account {
        /// What was given.
        given: String,
    },
    /// The text is not a JWT.
    #[error(
        "the token is not a JWT ({why}): give what `kubectl create token NAME -n NAMESPACE --audience AUDIENCE` prints"
    )]
    NotAJwt {
        /// What is wrong with it, never what it holds.
        why: &'static str,
    },
}

impl ServiceAccountToken {
    /// The token `text` (surrounding white space ignored) for the service account `account`
    /// (`NAMESPACE/NAME`).
    pub fn parse(account: &str, text: &str) -> Result<ServiceAccountToken, TokenError> {
        let (namespace, name) = account
            .split_once('/')
            .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains('/'))
            .ok_or_else(|| TokenError::Account {
                given: account.to_owned(),
            })?;
        let token = text.trim();
        let audiences = audiences(token).map_err(|why| TokenError::NotAJwt { why })?;
        Ok(ServiceAccountToken {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            audiences,
            token: Secret::new(token),
        })
    }

    /// The token itself, to send to a plugin.
    pub(crate) fn secret(&self) -> &Secret {
        &self.token
    }

    /// Whether the token is for `audience`.
    pub fn is_for(&self, audience: &str) -> bool {
        self.audiences.iter().any(|a| a == audience)
    }
}

/// The `aud` claim of a JWT: three base64url parts, the second a JSON object.
fn audiences(token: &str) -> Result<Vec<String>, &'static str> {
    let mut parts = token.split('.');
    let (Some(_), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("it is not three parts separated by '.'");
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| "its payload is not base64url")?;
    let claims: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| "its payload is not JSON")?;
    let serde_json::Value::Object(claims) = claims else {
        return Err("its payload is not a JSON object");
    };
    match claims.get("aud") {
        Some(serde_json::Value::String(a)) => Ok(vec![a.clone()]),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .map(|a| {
                a.as_str()
                    .map(str::to_owned)
                    .ok_or("its aud claim holds a non-string")
            })
            .collect(),
        Some(_) => Err("its aud claim is neither a string nor a list"),
        None => Err("it has no aud claim"),
    }
}

/// For the fuzz target: whatever the bytes, an answer and no panic.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_audiences(text: &str) -> Result<Vec<String>, &'static str> {
    audiences(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CANARY: &str = "TOKEN-CANARY-51f0";

    fn jwt(claims: &str) -> String {
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.{}", b(r#"{"alg":"RS256"}"#), b(claims), b(CANARY))
    }

    #[test]
    fn audiences_come_from_the_aud_claim() {
        let t = ServiceAccountToken::parse(
            "shop/builder",
            &format!("{}\n", jwt(r#"{"aud":["sts.example","other"],"sub":"x"}"#)),
        )
        .unwrap();
        assert_eq!((t.namespace.as_str(), t.name.as_str()), ("shop", "builder"));
        assert!(t.is_for("sts.example") && t.is_for("other") && !t.is_for("sts"));
        assert_eq!(
            t.secret().expose(),
            jwt(r#"{"aud":["sts.example","other"],"sub":"x"}"#)
        );
        let one = ServiceAccountToken::parse("a/b", &jwt(r#"{"aud":"sts.example"}"#)).unwrap();
        assert_eq!(one.audiences, ["sts.example"]);
        assert!(!format!("{one:?}").contains(CANARY));
    }

    #[test]
    fn bad_tokens_and_accounts_say_why_without_the_token() {
        for (account, text, why) in [
            ("shop", jwt(r#"{"aud":"a"}"#), "is not NAMESPACE/NAME"),
            ("shop/a/b", jwt(r#"{"aud":"a"}"#), "is not NAMESPACE/NAME"),
            ("/a", jwt(r#"{"aud":"a"}"#), "is not NAMESPACE/NAME"),
            ("s/a", CANARY.to_owned(), "not three parts"),
            ("s/a", format!("a.{CANARY}!.c"), "not base64url"),
            ("s/a", jwt(CANARY), "not JSON"),
            ("s/a", jwt("[1]"), "not a JSON object"),
            ("s/a", jwt(r#"{"sub":"x"}"#), "no aud claim"),
            ("s/a", jwt(r#"{"aud":7}"#), "neither a string nor a list"),
            ("s/a", jwt(r#"{"aud":["a",7]}"#), "non-string"),
        ] {
            let e = ServiceAccountToken::parse(account, &text).unwrap_err();
            assert!(e.to_string().contains(why), "{account} {text}: {e}");
            assert!(!e.to_string().contains(CANARY), "{e}");
        }
    }
}
