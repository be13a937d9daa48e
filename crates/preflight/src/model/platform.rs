//! The `platform` stage: an image index must hold a manifest for every platform the nodes run.
//! Reading the index takes a GET of it, which Docker Hub counts as a pull.

use std::fmt;

use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use serde::Deserialize;
use tokio::time::Instant;

use crate::model::wire;
use crate::net::transport;
use crate::registry::auth::Access;
use crate::stages::probe::{Endpoint, Net};

/// `OS/ARCH[/VARIANT]`, as `--platform` and an index's entries name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `linux`, `windows`.
    pub os: String,
    /// `amd64`, `arm64`, `arm`.
    pub architecture: String,
    /// `v7`, `v8`; `None` when not given.
    pub variant: Option<String>,
}

/// Why a platform string does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not OS/ARCH[/VARIANT] (e.g. linux/amd64, linux/arm64/v8)")]
pub struct PlatformError {
    /// What was given.
    pub input: String,
}

impl Platform {
    /// Parses `OS/ARCH[/VARIANT]`.
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let err = || PlatformError {
            input: s.to_owned(),
        };
        let parts: Vec<&str> = s.split('/').collect();
        let valid = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(|p| valid(p)) {
            return Err(err());
        }
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: parts[1].to_ascii_lowercase(),
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    /// Whether an index entry for `offered` serves this platform. A required platform without a
    /// variant takes any; `arm64` means `arm64/v8` unless said otherwise, as runtimes treat it.
    pub fn served_by(&self, offered: &Platform) -> bool {
        if self.os != offered.os || self.architecture != offered.architecture {
            return false;
        }
        let normal = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_owned()),
            (_, v) => v.map(str::to_owned),
        };
        match &self.variant {
            None => true,
            Some(_) => normal(self) == normal(offered),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Whether a media type is an index (a manifest per platform).
pub(crate) fn is_index(media_type: Option<&str>) -> bool {
    matches!(
        media_type,
        Some(wire::OCI_INDEX | wire::DOCKER_MANIFEST_LIST)
    )
}

/// Reads the platforms an index offers, attestation entries (`unknown/unknown`) left out.
pub(crate) fn offered(body: &[u8]) -> Result<Vec<Platform>, String> {
    #[derive(Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        platform: Option<WirePlatform>,
    }
    let index: Index =
        serde_json::from_slice(body).map_err(|_| "the index is not valid JSON".to_owned())?;
    let mut out: Vec<Platform> = Vec::new();
    for e in index.manifests {
        let Some(p) = e.platform else { continue };
        if p.os == "unknown" && p.architecture == "unknown" {
            continue;
        }
        let p = p.into_platform();
        if !out.contains(&p) {
            out.push(p);
        }
    }
    Ok(out)
}

/// GETs the index named by `manifest_ref` and returns what it offers.
pub(crate) async fn fetch(
    net: &Net,
    ep: &Endpoint,
    repository: &str,
    manifest_ref: &str,
    media_type: &str,
    access: &Access,
    deadline: Instant,
) -> Result<Vec<Platform>, FetchFailure> {
    let url = format!("{}/v2/{repository}/manifests/{manifest_ref}", ep.base_url());
    let client = net.http.for_mode(ep.mode);
    let req = access.apply(client.get(&url).header(ACCEPT, media_type));
    match get(req, &url, &ep.host, deadline).await? {
        (body, None) => Ok(offered(&body)?),
        (_, Some(_)) => Err(format!("GET {url} redirected to another host").into()),
    }
}

/// Why the platforms could not be read.
#[derive(Debug)]
pub(crate) enum FetchFailure {
    /// The exchange with `url` failed (deadline, connection, TLS, protocol, size). The URL is
    /// shown without its query, which for a storage redirect is a signature.
    Http {
        failure: transport::HttpFailure,
        url: String,
    },
    /// An answer that was not the document asked for, or a document that says nothing usable.
    Other(String),
}

impl From<String> for FetchFailure {
    fn from(message: String) -> Self {
        FetchFailure::Other(message)
    }
}

impl FetchFailure {
    fn http(failure: transport::HttpFailure, url: &str) -> Self {
        FetchFailure::Http {
            failure,
            url: format!("GET {}", without_query(url)),
        }
    }
}

/// `url` as messages show it: a storage redirect's query is its signature.
fn without_query(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

/// The most of an index, manifest or config read.
const CONFIG_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Reads a single-platform manifest's platform from its config blob: a GET of the manifest (a
/// pull on Docker Hub) and one of the config. Registries often redirect blobs to storage on
/// another host; that redirect is followed with a new request that carries no credentials.
pub(crate) async fn config_platform(
    net: &Net,
    ep: &Endpoint,
    repository: &str,
    manifest_ref: &str,
    media_type: &str,
    access: &Access,
    deadline: Instant,
) -> Result<Platform, FetchFailure> {
    let client = net.http.for_mode(ep.mode);
    let manifest_url = format!("{}/v2/{repository}/manifests/{manifest_ref}", ep.base_url());
    let body = get(
        access.apply(client.get(&manifest_url).header(ACCEPT, media_type)),
        &manifest_url,
        &ep.host,
        deadline,
    )
    .await?;
    let digest = config_digest(&body.0)?;
    let blob_url = format!("{}/v2/{repository}/blobs/{digest}", ep.base_url());
    let (bytes, location) = get(
        access.apply(client.get(&blob_url)),
        &blob_url,
        &ep.host,
        deadline,
    )
    .await?;
    let bytes = match location {
        None => bytes,
        Some(target) => {
            let host = reqwest::Url::parse(&target)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            get(
                net.http
                    .for_mode(crate::net::transport::TlsMode::Verify)
                    .get(&target),
                &target,
                &host,
                deadline,
            )
            .await?
            .0
        }
    };
    Ok(image_config_platform(&bytes)?)
}

/// The digest of the config blob a single-platform manifest names.
pub(crate) fn config_digest(manifest: &[u8]) -> Result<crate::model::reference::Digest, String> {
    #[derive(Deserialize)]
    struct Manifest {
        config: Descriptor,
    }
    #[derive(Deserialize)]
    struct Descriptor {
        digest: String,
    }
    let manifest: Manifest =
        serde_json::from_slice(manifest).map_err(|_| "the manifest names no config".to_owned())?;
    crate::model::reference::Digest::parse(&manifest.config.digest)
        .map_err(|_| "the manifest's config digest is not valid".to_owned())
}

/// The platform an image config blob says it was built for.
pub(crate) fn image_config_platform(config: &[u8]) -> Result<Platform, String> {
    let config: WirePlatform = serde_json::from_slice(config)
        .map_err(|_| "the image config is not valid JSON".to_owned())?;
    Ok(config.into_platform())
}

/// A platform as indexes and image configs spell it (`os`, `architecture`, `variant`).
#[derive(Deserialize)]
struct WirePlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl WirePlatform {
    fn into_platform(self) -> Platform {
        Platform {
            os: self.os,
            architecture: self.architecture,
            variant: self.variant.filter(|v| !v.is_empty()),
        }
    }
}

/// Sends a GET; the body of a 200, or the `Location` of a redirect the client did not follow.
async fn get(
    req: reqwest::RequestBuilder,
    url: &str,
    host: &str,
    deadline: Instant,
) -> Result<(Vec<u8>, Option<String>), FetchFailure> {
    let resp = match tokio::time::timeout_at(deadline, req.send()).await {
        Err(_) => return Err(FetchFailure::http(transport::HttpFailure::Timeout, url)),
        Ok(Err(e)) => {
            return Err(FetchFailure::http(
                transport::classify_reqwest(&e, host),
                url,
            ));
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    let shown = without_query(url);
    if status.is_redirection() {
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
            .map(str::to_owned);
        return match location {
            Some(l) => Ok((Vec::new(), Some(l))),
            None => Err(format!("GET {shown} answered {status} without a usable Location").into()),
        };
    }
    if status != StatusCode::OK {
        return Err(format!("GET {shown} answered {status}").into());
    }
    let body = transport::read_body(resp, CONFIG_BODY_LIMIT, host, deadline)
        .await
        .map_err(|e| FetchFailure::http(e, url))?;
    Ok((body, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn parsing() {
        assert_eq!(p("linux/amd64").to_string(), "linux/amd64");
        assert_eq!(p("Linux/ARM64/V8").to_string(), "linux/arm64/v8");
        for bad in [
            "",
            "linux",
            "linux/",
            "/amd64",
            "a/b/c/d",
            "linux/am d64",
            "linux//v7",
        ] {
            assert!(Platform::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn matching() {
        assert!(p("linux/amd64").served_by(&p("linux/amd64")));
        assert!(!p("linux/amd64").served_by(&p("linux/arm64")));
        assert!(
            p("linux/arm").served_by(&p("linux/arm/v7")),
            "no variant asked: any"
        );
        assert!(!p("linux/arm/v6").served_by(&p("linux/arm/v7")));
        assert!(
            p("linux/arm64/v8").served_by(&p("linux/arm64")),
            "arm64 is v8"
        );
        assert!(p("linux/arm64").served_by(&p("linux/arm64/v8")));
        assert!(!p("windows/amd64").served_by(&p("linux/amd64")));
    }

    #[test]
    fn index_entries() {
        let body = br#"{"schemaVersion":2,"manifests":[
            {"digest":"sha256:a","platform":{"os":"linux","architecture":"amd64"}},
            {"digest":"sha256:b","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"digest":"sha256:c","platform":{"os":"unknown","architecture":"unknown"}},
            {"digest":"sha256:d"}]}"#;
        let got: Vec<String> = offered(body)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["linux/amd64", "linux/arm64/v8"]);
        assert!(offered(b"not json").is_err());
        assert!(offered(b"{}").unwrap().is_empty());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::Platform;

    proptest! {
        #[test]
        fn a_parsed_platform_prints_as_it_parses(
            s in "[a-z0-9]{1,8}/[a-z0-9_]{1,8}(/[a-z0-9]{1,4})?"
        ) {
            let p = Platform::parse(&s).map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
            let again = Platform::parse(&p.to_string())
                .map_err(|e| TestCaseError::fail(format!("{p}: {e}")))?;
            prop_assert_eq!(again, p);
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(s in "\\PC{0,40}") {
            if let Ok(p) = Platform::parse(&s) {
                prop_assert_eq!(Platform::parse(&p.to_string()).ok(), Some(p));
            }
        }
    }
}
