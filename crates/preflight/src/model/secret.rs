//! A string that must never reach a log, a report or an error message.
//!
//! Passwords and tokens travel through the checker inside [`Secret`]. Its `Debug` is redacted
//! and it has no `Display`, so `{:?}` of anything holding one — a credential, a parsed config,
//! an error — stays safe to print. The text is reached only through [`Secret::expose`], whose
//! name makes every use stand out in review.

use std::fmt;

/// A secret string (password, token). `Debug` prints `Secret(****)`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret text, for the one place that has to send it (an `Authorization` header, a
    /// token request). Never format it into a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string. Safe to report: it tells nothing about a
    /// non-empty value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A fixed text, so that not even the length leaks (nor whether the secret is empty).
        f.write_str("Secret(****)")
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Secret {
        Secret(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Secret {
        Secret(secret.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    const CANARY: &str = "canary-7f3a9c-hunter2";

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new(CANARY);
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert_eq!(format!("{s:#?}"), "Secret(****)");
    }

    #[test]
    fn debug_does_not_reveal_length_or_emptiness() {
        assert_eq!(
            format!("{:?}", Secret::new("")),
            format!("{:?}", Secret::new(CANARY))
        );
    }

    #[test]
    fn debug_of_a_container_is_redacted() {
        #[derive(Debug)]
        #[allow(dead_code)] // read only through Debug, which is the point of the test
        struct Login {
            user: String,
            password: Secret,
        }
        let login = Login {
            user: "alice".into(),
            password: CANARY.into(),
        };
        let text = format!("{login:?} {login:#?}");
        assert!(!text.contains(CANARY), "{text}");
        assert!(text.contains("alice"));
    }

    #[test]
    fn expose_returns_the_text() {
        assert_eq!(Secret::new(CANARY).expose(), CANARY);
    }

    #[test]
    fn is_empty() {
        assert!(Secret::new("").is_empty());
        assert!(!Secret::new("x").is_empty());
    }

    #[test]
    fn conversions_agree() {
        let from_string = Secret::from(CANARY.to_owned());
        let from_str = Secret::from(CANARY);
        assert_eq!(from_string, from_str);
        assert_eq!(from_str, Secret::new(CANARY));
        assert_ne!(from_str, Secret::new("other"));
        assert_eq!(from_str.clone(), from_str);
    }
}
