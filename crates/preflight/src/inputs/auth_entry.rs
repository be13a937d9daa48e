//! One registry entry of a Docker config — an `auths` entry of `config.json`, or of the config
//! inside a pull Secret — decoded as Go decodes it.
//!
//! Docker (`AuthConfig`) and the kubelet (`DockerConfigEntry`) read the same JSON with structs
//! of their own: they type-check different fields and split `auth` by different rules. The
//! [`Decoder`] says whose rules apply; everything else is shared, so that the two readings
//! cannot drift apart where the programs agree. Errors name the field and the JSON type, never
//! a value.

use serde_json::{Map, Value};

use crate::model::credentials::{
    AuthTextError, GO_RAW_STD_BASE64, GO_STD_BASE64, decode_auth_text, go_json_field as field,
    json_kind as kind,
};

/// Whose rules decode the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// Docker's `AuthConfig`, for a `config.json`.
    Docker,
    /// The kubelet's `DockerConfigEntry.UnmarshalJSON`, for a pull Secret.
    Kubelet,
}

/// What an entry holds, after `auth` has overridden `username` and `password`. Every field is
/// empty when absent.
#[derive(Debug, Default)]
pub(crate) struct EntryFields {
    pub(crate) username: String,
    pub(crate) password: String,
    /// Never type-checked by the kubelet, which does not read it: anything but a string is
    /// empty here.
    pub(crate) identity_token: String,
}

/// Why an entry is refused. The message is the problem, without the entry's key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EntryError {
    #[error("the entry is {kind}, expected an object")]
    NotAnObject { kind: &'static str },
    #[error("{field} is {kind}, expected a string")]
    NotAString {
        field: &'static str,
        kind: &'static str,
    },
    #[error(transparent)]
    AuthText {
        #[from]
        source: AuthTextError,
    },
    /// The decoded `auth` has no `:`; each decoder words it as it always has.
    #[error("{}", .decoder.no_colon())]
    NoColon { decoder: Decoder },
    /// Docker refuses an `auth` whose user name is empty; the kubelet accepts it.
    #[error("auth has an empty user name before ':'")]
    EmptyUser,
}

/// Decodes one entry by `decoder`'s rules. `null` is an empty entry, as Go decodes it.
pub(crate) fn read_entry(entry: &Value, decoder: Decoder) -> Result<EntryFields, EntryError> {
    let entry = match entry {
        Value::Object(entry) => entry,
        Value::Null => return Ok(EntryFields::default()),
        other => return Err(EntryError::NotAnObject { kind: kind(other) }),
    };
    // Go type-checks every string field its struct declares, used or not; fields it does not
    // declare are skipped unread. Checked in a fixed order, so that the message is stable.
    for name in decoder.declared_fields() {
        if let Some(other) = field(entry, name).filter(|v| !v.is_string()) {
            return Err(EntryError::NotAString {
                field: name,
                kind: kind(other),
            });
        }
    }
    let auth = string_or_empty(entry, "auth");
    // As in Docker and the kubelet, `auth` overrides the separate fields.
    let (username, password) = if auth.is_empty() {
        (
            string_or_empty(entry, "username"),
            string_or_empty(entry, "password"),
        )
    } else {
        decoder.decode_auth(&auth)?
    };
    Ok(EntryFields {
        username,
        password,
        identity_token: string_or_empty(entry, "identitytoken"),
    })
}

/// A field's string, or empty for anything else: called once the declared fields are checked.
fn string_or_empty(entry: &Map<String, Value>, name: &str) -> String {
    match field(entry, name) {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

impl Decoder {
    /// The string fields of the decoder's struct, in the order they are checked.
    fn declared_fields(self) -> &'static [&'static str] {
        match self {
            Decoder::Docker => &[
                "auth",
                "username",
                "password",
                "identitytoken",
                "email",
                "serveraddress",
                "registrytoken",
            ],
            Decoder::Kubelet => &["username", "password", "email", "auth"],
        }
    }

    /// Splits `auth` (base64 of `user:password`) at the first `:`.
    ///
    /// Docker decodes padded base64, refuses an empty user name and drops NULs around the
    /// password. The kubelet (`decodeDockerConfigFieldAuth`) decodes padded base64 when `auth`
    /// ends in `=` and unpadded otherwise, and keeps both parts as they are.
    fn decode_auth(self, auth: &str) -> Result<(String, String), EntryError> {
        let engine = match self {
            Decoder::Kubelet if !auth.trim().ends_with('=') => &GO_RAW_STD_BASE64,
            Decoder::Docker | Decoder::Kubelet => &GO_STD_BASE64,
        };
        let text = decode_auth_text(engine, auth)?;
        let Some((user, password)) = text.split_once(':') else {
            return Err(EntryError::NoColon { decoder: self });
        };
        match self {
            Decoder::Docker if user.is_empty() => Err(EntryError::EmptyUser),
            Decoder::Docker => Ok((user.to_owned(), password.trim_matches('\0').to_owned())),
            Decoder::Kubelet => Ok((user.to_owned(), password.to_owned())),
        }
    }

    fn no_colon(self) -> &'static str {
        match self {
            Decoder::Docker => "auth has no ':' between user and password",
            Decoder::Kubelet => {
                "auth has no ':' between user name and password (it must be base64 of user:password)"
            }
        }
    }
}
