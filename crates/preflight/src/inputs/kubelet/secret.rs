//! Pull Secrets decoded the way the kubelet decodes them: the Secret's type and key, the
//! docker config inside, and each registry entry (`DockerConfigEntry.UnmarshalJSON`). Apart
//! from the keyring because a Secret is decoded once, when the manifests are read, and its
//! errors are the user's to fix in YAML, while matching happens per image.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::inputs::auth_entry::{Decoder, EntryError, EntryFields, read_entry};
use crate::inputs::json_error::{serde_problem, value_start};
use crate::model::credentials::{
    Credential, GO_STD_BASE64, go_json_field as field, json_kind as kind,
};
use crate::model::secret::Secret;

pub(super) const TYPE_DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
pub(super) const TYPE_DOCKERCFG: &str = "kubernetes.io/dockercfg";
pub(super) const KEY_DOCKER_CONFIG_JSON: &str = ".dockerconfigjson";
pub(super) const KEY_DOCKERCFG: &str = ".dockercfg";
/// The type the API server gives a secret that names none.
const DEFAULT_SECRET_TYPE: &str = "Opaque";

/// An image pull secret, decoded the way the kubelet decodes it.
///
/// `Debug` is safe to print: credentials are held as [`Credential`]s, whose secrets are redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSecret {
    pub(super) namespace: String,
    pub(super) name: String,
    /// Every registry key, in byte order (the kubelet walks a Go map, whose order is random;
    /// a fixed order keeps reports stable).
    pub(super) entries: Vec<SecretEntry>,
    /// Top-level keys of a `.dockerconfigjson` that look like registries but sit outside
    /// `auths`, where the kubelet never looks: kept only to explain a missing match.
    pub(super) misplaced: Vec<String>,
}

/// One registry key of a secret and what the kubelet sends for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SecretEntry {
    pub(super) key: String,
    /// `None` when the entry has neither user name nor password: the kubelet still sends it,
    /// and the runtime pulls anonymously with it.
    pub(super) credential: Option<Credential>,
    /// The entry has an `identitytoken`, which the kubelet drops.
    pub(super) identity_token: bool,
}

impl PullSecret {
    /// Decodes a Secret of type `kubernetes.io/dockerconfigjson` or `kubernetes.io/dockercfg`.
    ///
    /// `data` holds base64 values as in the Secret's `data:`; `string_data` plain values
    /// (`stringData:` wins per key, as the API server does). A `secret_type` of `None` is
    /// `Opaque`, as the API server defaults it.
    ///
    /// The errors tell apart a secret the kubelet silently ignores ([`PullSecretError::WrongType`],
    /// [`PullSecretError::MissingKey`]) from one it cannot decode, which makes every pull of
    /// the pod fail ([`PullSecretError::Json`], [`PullSecretError::InvalidEntry`]).
    pub fn decode(
        namespace: &str,
        name: &str,
        secret_type: Option<&str>,
        data: &BTreeMap<String, String>,
        string_data: &BTreeMap<String, String>,
    ) -> Result<PullSecret, PullSecretError> {
        let at = SecretName { namespace, name };
        let found = secret_type.unwrap_or(DEFAULT_SECRET_TYPE);
        let (key, legacy) = match found {
            TYPE_DOCKER_CONFIG_JSON => (KEY_DOCKER_CONFIG_JSON, false),
            TYPE_DOCKERCFG => (KEY_DOCKERCFG, true),
            _ => {
                return Err(PullSecretError::WrongType {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    found: found.to_owned(),
                });
            }
        };
        let bytes = if let Some(plain) = string_data.get(key) {
            plain.as_bytes().to_vec()
        } else if let Some(encoded) = data.get(key) {
            // Go's base64 decoder skips line breaks, which YAML block scalars leave in.
            let compact: String = encoded
                .chars()
                .filter(|c| !matches!(c, '\r' | '\n'))
                .collect();
            GO_STD_BASE64
                .decode(compact)
                .map_err(|_| PullSecretError::Base64 {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    key: key.to_owned(),
                })?
        } else {
            return Err(PullSecretError::MissingKey {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                key,
            });
        };
        if bytes.is_empty() {
            // The kubelet skips an empty value; the API server refuses it as invalid JSON.
            return Err(at.json(1, 1, "the value is empty, where a JSON object was expected"));
        }
        // Go's JSON decoder puts U+FFFD for invalid UTF-8 inside strings, and refuses it
        // elsewhere; a lossy conversion does the same.
        let text = String::from_utf8_lossy(&bytes);
        let top: Value = serde_json::from_str(&text).map_err(|err| at.json_from_serde(&err))?;

        let mut secret = PullSecret {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            entries: Vec::new(),
            misplaced: Vec::new(),
        };
        let auths = match &top {
            // Go decodes `null` into an empty value, without error.
            Value::Null => None,
            Value::Object(top) if legacy => Some(top),
            Value::Object(top) => {
                check_http_headers(top).map_err(|problem| at.invalid("HttpHeaders", problem))?;
                secret.misplaced = top
                    .iter()
                    .filter(|(k, v)| {
                        v.is_object()
                            && !k.eq_ignore_ascii_case("auths")
                            && looks_like_registry_key(k)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                secret.misplaced.sort();
                match field(top, "auths") {
                    None => None,
                    Some(Value::Object(auths)) => Some(auths),
                    Some(other) => {
                        return Err(at.invalid(
                            "auths",
                            format!("auths is {}, expected an object", kind(other)),
                        ));
                    }
                }
            }
            other => {
                let (line, column) = value_start(&text);
                return Err(at.json(
                    line,
                    column,
                    &format!("the top level is {}, expected an object", kind(other)),
                ));
            }
        };
        for (key, entry) in auths.into_iter().flatten() {
            let (credential, identity_token) =
                parse_entry(entry).map_err(|problem| at.invalid(key, problem))?;
            secret.entries.push(SecretEntry {
                key: key.clone(),
                credential,
                identity_token,
            });
        }
        // serde_json's map order depends on a crate feature; byte order does not.
        secret.entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(secret)
    }

    /// The secret's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The secret's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every registry key the kubelet indexes, as written and in byte order — including keys
    /// whose entry holds no user name or password.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.key.as_str())
    }
}

/// Why a pull secret cannot be used. Never contains a credential or the secret's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PullSecretError {
    /// The secret is neither `kubernetes.io/dockerconfigjson` nor `kubernetes.io/dockercfg`;
    /// the kubelet ignores such a secret for image pulls.
    #[error(
        "secret {namespace}/{name} has type {found}, which the kubelet ignores for image pulls (it reads only kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg)"
    )]
    WrongType {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// The type it has (`Opaque` when none was written).
        found: String,
    },
    /// The key the type calls for (`.dockerconfigjson` or `.dockercfg`) is in neither `data`
    /// nor `stringData`; the kubelet ignores the secret.
    #[error("secret {namespace}/{name} has no {key} key, so the kubelet ignores it")]
    MissingKey {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// The key that is missing.
        key: &'static str,
    },
    /// The value under `data` is not base64; the API server refuses such a secret.
    #[error(
        "secret {namespace}/{name}: data {key} is not valid base64 (values under data: are base64-encoded; plain text belongs under stringData:)"
    )]
    Base64 {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// The data key whose value is not base64.
        key: String,
    },
    /// The docker config in the secret is not JSON, or its top level is not an object; the
    /// kubelet then fails every pull of the pod.
    #[error(
        "secret {namespace}/{name}: the docker config is not usable JSON at line {line}, column {column}: {problem}"
    )]
    Json {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// 1-based line within the decoded docker config.
        line: usize,
        /// 1-based column within that line, in bytes.
        column: usize,
        /// What is wrong; never quotes the content.
        problem: String,
    },
    /// An entry (or a top-level field such as `auths`) has a value the kubelet refuses,
    /// failing every pull of the pod.
    #[error("secret {namespace}/{name}, key {key:?}: {problem}")]
    InvalidEntry {
        /// The secret's namespace.
        namespace: String,
        /// The secret's name.
        name: String,
        /// The registry key, or the top-level field, that is wrong.
        key: String,
        /// What is wrong, e.g. "auth is not valid base64"; never quotes a value.
        problem: String,
    },
}

/// Which secret an error is about.
struct SecretName<'a> {
    namespace: &'a str,
    name: &'a str,
}

impl SecretName<'_> {
    fn json(&self, line: usize, column: usize, problem: &str) -> PullSecretError {
        PullSecretError::Json {
            namespace: self.namespace.to_owned(),
            name: self.name.to_owned(),
            line,
            column,
            problem: problem.to_owned(),
        }
    }

    /// A `serde_json` error by category and position only: its message can quote the input,
    /// and the input holds secrets.
    fn json_from_serde(&self, err: &serde_json::Error) -> PullSecretError {
        self.json(err.line(), err.column(), serde_problem(err))
    }

    fn invalid(&self, key: &str, problem: impl fmt::Display) -> PullSecretError {
        PullSecretError::InvalidEntry {
            namespace: self.namespace.to_owned(),
            name: self.name.to_owned(),
            key: key.to_owned(),
            problem: problem.to_string(),
        }
    }
}

/// `HttpHeaders` is the one other field the kubelet's `DockerConfigJSON` declares, as a map of
/// strings; Go refuses the whole secret when it has another shape.
fn check_http_headers(top: &Map<String, Value>) -> Result<(), HttpHeadersError> {
    match field(top, "HttpHeaders") {
        None => Ok(()),
        Some(Value::Object(headers)) => match headers
            .values()
            .find(|v| !matches!(v, Value::String(_) | Value::Null))
        {
            Some(other) => Err(HttpHeadersError::HeaderNotAString { kind: kind(other) }),
            None => Ok(()),
        },
        Some(other) => Err(HttpHeadersError::NotAnObject { kind: kind(other) }),
    }
}

/// Why `HttpHeaders` makes Go refuse the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum HttpHeadersError {
    #[error("HttpHeaders is {kind}, expected an object")]
    NotAnObject { kind: &'static str },
    #[error("a header in HttpHeaders is {kind}, expected a string")]
    HeaderNotAString { kind: &'static str },
}

/// Whether a stray top-level key reads as a registry, so that `{"r.io": {…}}` written without
/// `auths` gets a hint while config.json's own fields (`credHelpers`, `proxies`) do not.
fn looks_like_registry_key(key: &str) -> bool {
    key.contains(['.', ':']) || key.eq_ignore_ascii_case("localhost")
}

/// One entry, decoded as `DockerConfigEntry.UnmarshalJSON` does: the credential the kubelet
/// sends and whether an ignored `identitytoken` was there. Unlike Docker, an empty user name
/// in `auth` is accepted and NULs are kept.
fn parse_entry(entry: &Value) -> Result<(Option<Credential>, bool), EntryError> {
    let EntryFields {
        username,
        password,
        identity_token,
    } = read_entry(entry, Decoder::Kubelet)?;
    let credential = (!username.is_empty() || !password.is_empty()).then(|| Credential::Basic {
        username,
        password: Secret::new(password),
    });
    Ok((credential, !identity_token.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::kubelet::PodCredentials;
    use crate::inputs::kubelet::test_support::*;
    use crate::model::credentials::CredentialSource as _;

    fn only_credential(secret: &PullSecret) -> Credential {
        assert_eq!(secret.entries.len(), 1, "{secret:?}");
        secret.entries[0].credential.clone().expect("a credential")
    }

    #[test]
    fn dockerconfigjson_from_data() {
        let json = format!(
            r#"{{"auths": {{"registry.io": {{"auth": "{}"}}}}}}"#,
            b64("alice:pw:with:colons")
        );
        let secret = PullSecret::decode(
            "shop",
            "regcred",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKER_CONFIG_JSON, &b64(&json))]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!((secret.namespace(), secret.name()), ("shop", "regcred"));
        assert_eq!(secret.keys().collect::<Vec<_>>(), ["registry.io"]);
        assert_eq!(only_credential(&secret), basic("alice", "pw:with:colons"));
        let found = keyring(&[&secret]).matches(&reference("registry.io/app"));
        assert_eq!(found[0].origin, "secret shop/regcred, key registry.io");
    }

    #[test]
    fn dockercfg_from_data() {
        let json =
            r#"{"https://registry.io": {"username": "bob", "password": "pw", "email": "b@x.io"}}"#;
        let secret = PullSecret::decode(
            "ns",
            "legacy",
            Some(TYPE_DOCKERCFG),
            &map(&[(KEY_DOCKERCFG, &b64(json))]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(only_credential(&secret), basic("bob", "pw"));
        assert_eq!(
            keyring(&[&secret])
                .matches(&reference("registry.io/x"))
                .len(),
            1
        );
    }

    #[test]
    fn data_with_line_breaks_decodes_like_go() {
        let encoded = b64(r#"{"auths": {"r.io": {"username": "u", "password": "p"}}}"#);
        let (a, b) = encoded.split_at(10);
        let secret = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKER_CONFIG_JSON, &format!("{a}\n{b}\r\n"))]),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(only_credential(&secret), basic("u", "p"));
    }

    #[test]
    fn string_data_wins_over_data() {
        let plain = r#"{"auths": {"r.io": {"username": "from-string-data", "password": "p"}}}"#;
        let encoded = b64(r#"{"auths": {"r.io": {"username": "from-data", "password": "p"}}}"#);
        let secret = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKER_CONFIG_JSON, &encoded)]),
            &map(&[(KEY_DOCKER_CONFIG_JSON, plain)]),
        )
        .unwrap();
        assert_eq!(only_credential(&secret), basic("from-string-data", "p"));
        // stringData does not need to be base64, and wins even over bad data.
        let secret = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKER_CONFIG_JSON, "%%% not base64")]),
            &map(&[(KEY_DOCKER_CONFIG_JSON, plain)]),
        )
        .unwrap();
        assert_eq!(only_credential(&secret), basic("from-string-data", "p"));
    }

    #[test]
    fn wrong_type_is_refused() {
        for (secret_type, found) in [
            (None, "Opaque"),
            (Some("Opaque"), "Opaque"),
            (Some("kubernetes.io/basic-auth"), "kubernetes.io/basic-auth"),
            (
                Some("kubernetes.io/DockerConfigJson"),
                "kubernetes.io/DockerConfigJson",
            ),
        ] {
            let err = PullSecret::decode(
                "ns",
                "s",
                secret_type,
                &BTreeMap::new(),
                &map(&[(KEY_DOCKER_CONFIG_JSON, "{}")]),
            )
            .unwrap_err();
            assert_eq!(
                err,
                PullSecretError::WrongType {
                    namespace: "ns".into(),
                    name: "s".into(),
                    found: found.into()
                }
            );
        }
        let err =
            PullSecret::decode("ns", "s", None, &BTreeMap::new(), &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret ns/s has type Opaque, which the kubelet ignores for image pulls (it reads only kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg)"
        );
    }

    #[test]
    fn missing_key_is_refused() {
        // The other type's key does not count.
        let err = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKER_CONFIG_JSON),
            &map(&[(KEY_DOCKERCFG, &b64("{}"))]),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PullSecretError::MissingKey {
                namespace: "ns".into(),
                name: "s".into(),
                key: KEY_DOCKER_CONFIG_JSON
            }
        );
        let err = PullSecret::decode(
            "ns",
            "s",
            Some(TYPE_DOCKERCFG),
            &BTreeMap::new(),
            &BTreeMap::new(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret ns/s has no .dockercfg key, so the kubelet ignores it"
        );
    }

    #[test]
    fn bad_base64_is_refused_without_echo() {
        for value in [
            format!("{{\"auths\": {{\"r.io\": {{\"password\": \"{CANARY}\"}}}}}}"),
            format!("{}=", b64(CANARY)),
            CANARY.to_owned(),
        ] {
            let err = PullSecret::decode(
                "ns",
                "s",
                Some(TYPE_DOCKER_CONFIG_JSON),
                &map(&[(KEY_DOCKER_CONFIG_JSON, &value)]),
                &BTreeMap::new(),
            )
            .unwrap_err();
            assert_eq!(
                err,
                PullSecretError::Base64 {
                    namespace: "ns".into(),
                    name: "s".into(),
                    key: KEY_DOCKER_CONFIG_JSON.into()
                }
            );
            assert_no_canary(&renderings(&err));
        }
    }

    #[test]
    fn bad_json_has_line_and_column() {
        let err = decode_json(
            "ns",
            "s",
            "{\n  \"auths\": {\n    \"r.io\": {\"auth\" \"x\"}\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            PullSecretError::Json {
                namespace: "ns".into(),
                name: "s".into(),
                line: 3,
                column: 21,
                problem: "not valid JSON".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "secret ns/s: the docker config is not usable JSON at line 3, column 21: not valid JSON"
        );
        let err = decode_json("ns", "s", "{\"auths\": {").unwrap_err();
        assert!(
            matches!(&err, PullSecretError::Json { line: 1, problem, .. } if problem.contains("ends early")),
            "{err:?}"
        );
        let err = decode_json("ns", "s", "\n  [1]").unwrap_err();
        assert!(
            matches!(&err, PullSecretError::Json { line: 2, column: 3, problem, .. } if problem == "the top level is an array, expected an object"),
            "{err:?}"
        );
        // Go's json.Unmarshal refuses anything after the value.
        let err = decode_json("ns", "s", "{} {}").unwrap_err();
        assert!(matches!(err, PullSecretError::Json { .. }), "{err:?}");
        let err = decode_json("ns", "s", "").unwrap_err();
        assert!(
            matches!(&err, PullSecretError::Json { problem, .. } if problem.contains("empty")),
            "{err:?}"
        );
    }

    #[test]
    fn null_and_empty_configs_have_no_keys() {
        for json in ["null", "{}", r#"{"auths": null}"#, r#"{"auths": {}}"#] {
            assert_eq!(json_secret("ns", "s", json).keys().count(), 0, "{json}");
        }
    }

    #[test]
    fn bad_entries_are_refused() {
        let cases = [
            (
                format!(
                    r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#,
                    b64("no-colon")
                ),
                "r.io",
                "auth has no ':'",
            ),
            (
                r#"{"auths": {"r.io": {"auth": "!!!!"}}}"#.to_owned(),
                "r.io",
                "auth is not valid base64",
            ),
            (
                r#"{"auths": {"r.io": {"auth": "YWJj=YWJj"}}}"#.to_owned(),
                "r.io",
                "auth is not valid base64",
            ),
            (
                r#"{"auths": {"r.io": {"auth": 5}}}"#.to_owned(),
                "r.io",
                "auth is a number, expected a string",
            ),
            (
                r#"{"auths": {"r.io": {"username": ["u"]}}}"#.to_owned(),
                "r.io",
                "username is an array",
            ),
            (
                r#"{"auths": {"r.io": {"email": true}}}"#.to_owned(),
                "r.io",
                "email is a boolean",
            ),
            (
                r#"{"auths": {"r.io": "x"}}"#.to_owned(),
                "r.io",
                "the entry is a string",
            ),
            (r#"{"auths": []}"#.to_owned(), "auths", "auths is an array"),
            (
                r#"{"HttpHeaders": 5, "auths": {}}"#.to_owned(),
                "HttpHeaders",
                "HttpHeaders is a number",
            ),
            (
                r#"{"HttpHeaders": {"X-A": 1}}"#.to_owned(),
                "HttpHeaders",
                "a header in HttpHeaders is a number",
            ),
        ];
        for (json, key, problem) in cases {
            let err = decode_json("ns", "s", &json).unwrap_err();
            match &err {
                PullSecretError::InvalidEntry {
                    key: k, problem: p, ..
                } => {
                    assert_eq!(k, key, "{json}");
                    assert!(p.contains(problem), "{json}: {p}");
                }
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn entries_decode_like_the_kubelet() {
        // `auth` wins over the separate fields.
        let s = json_secret(
            "ns",
            "s",
            &format!(
                r#"{{"auths": {{"r.io": {{"auth": "{}", "username": "x", "password": "y"}}}}}}"#,
                b64("alice:pw")
            ),
        );
        assert_eq!(only_credential(&s), basic("alice", "pw"));
        // Unpadded auth (RawStdEncoding), an empty user and NULs are all kept as Go keeps them.
        let unpadded = b64(":pw\0").trim_end_matches('=').to_owned();
        let s = json_secret(
            "ns",
            "s",
            &format!(r#"{{"auths": {{"r.io": {{"auth": "{unpadded}"}}}}}}"#),
        );
        assert_eq!(only_credential(&s), basic("", "pw\0"));
        // Field names match in any case, as in Go; unknown and ignored fields are not checked.
        let s = json_secret(
            "ns",
            "s",
            r#"{"Auths": {"r.io": {"Username": "bob", "PASSWORD": "pw", "serveraddress": 5, "identitytoken": 7}}, "credHelpers": {"r.io": "x"}, "credsStore": 1}"#,
        );
        assert_eq!(only_credential(&s), basic("bob", "pw"));
        assert!(!s.entries[0].identity_token);
    }

    #[test]
    fn identity_tokens_are_ignored_like_the_kubelet() {
        let s = json_secret(
            "ns",
            "s",
            &format!(
                r#"{{"auths": {{"acr.io": {{"auth": "{}", "identitytoken": "{CANARY}"}}, "t.io": {{"identitytoken": "{CANARY}"}}}}}}"#,
                b64("00000000-0000:")
            ),
        );
        assert_eq!(s.keys().collect::<Vec<_>>(), ["acr.io", "t.io"]);
        assert_eq!(s.entries[0].credential, Some(basic("00000000-0000", "")));
        assert!(s.entries[0].identity_token);
        assert_eq!(s.entries[1].credential, None);
        assert!(s.entries[1].identity_token);
        let pod = PodCredentials::new(&[&s], None);
        let found = pod.candidates(&reference("acr.io/app")).unwrap();
        assert_eq!(found.credentials[0].credential, basic("00000000-0000", ""));
        assert_eq!(
            found.notes,
            [
                "secret ns/s, key acr.io: the kubelet ignores identitytoken and sends only the user name and password"
            ]
        );
        assert_no_canary(&format!("{s:?} {pod:?} {found:?}"));
    }

    #[test]
    fn canary_never_in_errors() {
        let auth = b64(&format!("user:{CANARY}"));
        let jsons = [
            format!(r#"{{"auths": {{"r.io": {{"auth": "{CANARY}"}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": {{"auth": "{auth}x"}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#, b64(CANARY)),
            format!(r#"{{"auths": {{"r.io": {{"password": ["{CANARY}"]}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": {{"password": {{"x": "{CANARY}"}}}}}}}}"#),
            format!(r#"{{"auths": {{"r.io": "{CANARY}"}}}}"#),
            format!(r#"{{"auths": "{CANARY}"}}"#),
            format!(r#""{CANARY}""#),
            format!(r#"{{"auths": {{"r.io": {{"password": "{CANARY}" "#),
            format!(r#"{{"auths": {{"r.io": {{"password": {CANARY}}}}}}}"#),
            format!("{{\"auths\": {{\"r.io\": {{\"password\": \"{CANARY}\u{1}\"}}}}}}"),
            format!(r#"{{"auths": {{"r.io": {{"auth": "{auth}", "username": 1}}}}}}"#),
            format!(r#"{{"HttpHeaders": {{"X": ["{CANARY}"]}}}}"#),
        ];
        for json in &jsons {
            let err = decode_json("ns", "s", json).unwrap_err();
            assert_no_canary(&renderings(&err));
            // The same content given base64-encoded under data.
            let err = PullSecret::decode(
                "ns",
                "s",
                Some(TYPE_DOCKER_CONFIG_JSON),
                &map(&[(KEY_DOCKER_CONFIG_JSON, &b64(json))]),
                &BTreeMap::new(),
            )
            .unwrap_err();
            assert_no_canary(&renderings(&err));
        }
    }
}
