//! Builders and assertions the tests of every part of the keyring share: secrets from JSON or
//! from a list of keys, keyrings, references, and the canary that must never be printed.

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::model::credentials::Credential;
use crate::model::reference::Reference;
use crate::model::secret::Secret;

use super::secret::{KEY_DOCKER_CONFIG_JSON, TYPE_DOCKER_CONFIG_JSON};
use super::{Keyring, PullSecret, PullSecretError};

pub(super) const CANARY: &str = "canary-2c8d1e-pa55";

pub(super) fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

pub(super) fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub(super) fn basic(username: &str, password: &str) -> Credential {
    Credential::Basic {
        username: username.into(),
        password: Secret::new(password),
    }
}

/// A `.dockerconfigjson` secret from its JSON, given as `stringData`.
pub(super) fn json_secret(namespace: &str, name: &str, json: &str) -> PullSecret {
    decode_json(namespace, name, json).unwrap()
}

pub(super) fn decode_json(
    namespace: &str,
    name: &str,
    json: &str,
) -> Result<PullSecret, PullSecretError> {
    PullSecret::decode(
        namespace,
        name,
        Some(TYPE_DOCKER_CONFIG_JSON),
        &BTreeMap::new(),
        &map(&[(KEY_DOCKER_CONFIG_JSON, json)]),
    )
}

/// A secret with one Basic entry per key, each with the key as its user name.
pub(super) fn keys_secret(namespace: &str, name: &str, keys: &[&str]) -> PullSecret {
    let entries: Vec<String> = keys
        .iter()
        .map(|k| {
            let k = serde_json::to_string(k).unwrap();
            format!("{k}: {{\"username\": {k}, \"password\": \"pw\"}}")
        })
        .collect();
    json_secret(
        namespace,
        name,
        &format!("{{\"auths\": {{{}}}}}", entries.join(",")),
    )
}

pub(super) fn keyring(secrets: &[&PullSecret]) -> Keyring {
    let mut keyring = Keyring::new();
    for secret in secrets {
        keyring.add_secret(secret);
    }
    keyring
}

pub(super) fn reference(image: &str) -> Reference {
    Reference::parse(image).unwrap_or_else(|e| panic!("{image}: {e}"))
}

/// The user names (= keys, see `keys_secret`) of the matches, in order.
pub(super) fn matched_users(keyring: &Keyring, image: &str) -> Vec<String> {
    keyring
        .matches(&reference(image))
        .into_iter()
        .map(|c| match c.credential {
            Credential::Basic { username, .. } => username,
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

// --- secrets never leak --------------------------------------------------------------

/// Every rendering of an error a user or log could see.
pub(super) fn renderings(err: &PullSecretError) -> String {
    format!("{err}\n{err:?}\n{err:#?}")
}

pub(super) fn assert_no_canary(text: &str) {
    assert!(!text.contains(CANARY), "secret leaked: {text}");
    assert!(
        !text.contains(&b64(CANARY)),
        "encoded secret leaked: {text}"
    );
    assert!(
        !text.contains(&b64(&format!("user:{CANARY}"))),
        "auth leaked: {text}"
    );
}
