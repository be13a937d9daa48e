//! Entry points for the fuzz targets under `fuzz/`: the crate-private parsers of what registries
//! send, reachable from outside only with the `fuzzing` feature. Not part of the library's API.

use crate::model::platform::{self, BodyError, Platform};
use crate::model::reference::Digest;

/// The platforms an index body offers.
///
/// # Errors
/// The body is not an index.
pub fn index_platforms(body: &[u8]) -> Result<Vec<Platform>, BodyError> {
    platform::offered(body)
}

/// The config digest a single-platform manifest body names.
///
/// # Errors
/// The body names no valid config digest.
pub fn manifest_config_digest(body: &[u8]) -> Result<Digest, BodyError> {
    platform::config_digest(body)
}

/// The platform an image config blob declares.
///
/// # Errors
/// The blob is not an image config.
pub fn config_platform(body: &[u8]) -> Result<Platform, BodyError> {
    platform::image_config_platform(body)
}

/// The `rel="next"` target of a `Link` header.
#[must_use]
pub fn next_link(header: &str) -> Option<String> {
    crate::registry::tags::next_link(header)
}

/// Tag suggestions for a missing tag.
#[must_use]
pub fn suggest(wanted: &str, tags: &[String]) -> Vec<String> {
    crate::registry::tags::suggest(wanted, tags)
}

/// The registry error bodies `body` holds (the distribution envelope, Docker Hub's and `OAuth2`
/// shapes), each as its debug text.
#[must_use]
pub fn registry_errors(body: &[u8]) -> Vec<String> {
    crate::model::wire::decode_errors(body)
        .iter()
        .map(|e| format!("{e:?}"))
        .collect()
}

/// A token endpoint's answer, as its debug text when it decodes.
#[must_use]
pub fn token_response(body: &[u8]) -> Option<String> {
    crate::model::wire::decode_token(body)
        .ok()
        .map(|t| format!("{t:?}"))
}

/// What a JWT says it grants on `repository`, as debug text.
#[must_use]
pub fn granted_access(token: &str, repository: &str) -> String {
    format!(
        "{:?}",
        crate::model::wire::granted_access(token, repository)
    )
}

/// A `WWW-Authenticate` value parsed: its scheme, its `error=` and its debug text.
#[must_use]
pub fn challenge(header: &str) -> Option<(String, Option<String>, String)> {
    crate::model::challenge::Challenge::parse(header).map(|c| {
        (
            c.scheme().to_owned(),
            c.error().map(str::to_owned),
            format!("{c:?}"),
        )
    })
}

/// A `registries.conf` parsed, then asked where a few references pull from and what a few
/// short names resolve to, each answer as debug text.
#[must_use]
pub fn registries_conf(bytes: &[u8]) -> Vec<String> {
    use crate::inputs::registries_conf::{RegistriesConf, ShortNameMode};
    use crate::model::reference::Reference;

    let conf = match RegistriesConf::parse(std::path::Path::new("registries.conf"), bytes) {
        Ok(conf) => conf,
        Err(e) => return vec![e.to_string()],
    };
    let mut answers = conf.warnings().to_vec();
    for image in [
        "nginx",
        "registry.example.com:5000/team/app:v1",
        "a.b.example.com/x/y@sha256:0000000000000000000000000000000000000000000000000000000000000000",
    ] {
        let reference = Reference::parse(image).expect("a valid reference");
        answers.push(format!("{:?}", conf.pull_sources(&reference)));
    }
    for name in ["nginx", "team/app:1", "app@sha256:00", "localhost/x"] {
        for mode in [ShortNameMode::Enforcing, ShortNameMode::Disabled] {
            answers.push(format!("{:?}", conf.short_name_with_mode(name, mode)));
        }
    }
    answers
}

/// Whether a request to `host` on `port` goes through the proxy under the `NO_PROXY` `list`.
#[must_use]
pub fn uses_proxy(list: &str, host: &str, port: u16) -> bool {
    crate::net::proxy::NoProxy::parse(list).uses_proxy(host, port)
}

/// Parses a proxy URL; the error's text (shown redacted) when it is refused.
///
/// # Errors
/// The URL is not an `http://` proxy URL.
pub fn proxy_url(value: &str) -> Result<(), String> {
    crate::net::proxy::ProxyUrl::parse(value)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A containerd `hosts.toml` parsed for `registry.example:5000` under each version line: the
/// hosts and warnings, or the error, as debug text.
#[must_use]
pub fn hosts_toml(bytes: &[u8]) -> Vec<String> {
    use crate::inputs::hosts_dir::parse_hosts_file;
    use crate::registry::runtime::ContainerdLine;

    let dir = std::path::Path::new("/etc/containerd/certs.d/registry.example:5000");
    let file = dir.join("hosts.toml");
    [
        ContainerdLine::V1_6,
        ContainerdLine::V1_7,
        ContainerdLine::V2,
    ]
    .into_iter()
    .map(
        |line| match parse_hosts_file(&file, dir, bytes, "registry.example:5000", line) {
            Ok(parsed) => format!("{:?} {:?}", parsed.hosts, parsed.warnings),
            Err(e) => e.to_string(),
        },
    )
    .collect()
}

/// A kubelet `CredentialProviderConfig` parsed and validated, and the same bytes decoded as a
/// plugin's `CredentialProviderResponse` to a `v1` request: what each found, or its error.
#[must_use]
pub fn credential_providers(bytes: &[u8]) -> Vec<String> {
    crate::inputs::kubelet::fuzz_credential_providers(bytes)
}

/// A `resolv.conf` as the resolver reads it: its servers, search domains and options, or what is
/// wrong with it (the lines skipped, from 1), as debug text.
#[must_use]
pub fn resolv_conf(bytes: &[u8]) -> String {
    match crate::net::dns::parse_resolv_conf(bytes) {
        Ok((config, options)) => format!("{config:?} {options:?}"),
        Err(problem) => problem,
    }
}

/// Whether the quick YAML reader and the event parser read `text` the same way (trees, lines,
/// errors), with and without skipping CRDs; the two readings when they do not.
///
/// # Errors
/// The readings differ, as debug text.
pub fn yaml_readers(text: &str) -> Result<(), String> {
    for skip in [false, true] {
        let [quick, events] = crate::inputs::manifests::yaml::readings(text, skip);
        if quick != events {
            return Err(format!(
                "skip={skip}\nquick:  {quick:?}\nevents: {events:?}"
            ));
        }
    }
    Ok(())
}
