//! Platforms: `OS/ARCH[/VARIANT]` as `--platform` and indexes name them, which one serves which,
//! and reading them from an index or an image config. No I/O: the `platform` stage fetches.

use std::fmt;

use serde::Deserialize;

use crate::model::reference::Digest;
use crate::model::wire;

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

/// Why an index, a manifest or an image config says nothing about platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The index is not JSON.
    #[error("the index is not valid JSON")]
    IndexNotJson,
    /// The manifest has no `config` descriptor.
    #[error("the manifest names no config")]
    NoConfig,
    /// The manifest's config digest does not parse.
    #[error("the manifest's config digest is not valid")]
    ConfigDigestInvalid,
    /// The image config is not JSON.
    #[error("the image config is not valid JSON")]
    ConfigNotJson,
    /// A descriptor's digest does not parse.
    #[error("a descriptor's digest is not valid")]
    DescriptorDigestInvalid,
}

/// Whether a media type is an index (a manifest per platform).
pub(crate) fn is_index(media_type: Option<&str>) -> bool {
    matches!(
        media_type,
        Some(wire::OCI_INDEX | wire::DOCKER_MANIFEST_LIST)
    )
}

/// Reads the platforms an index offers, attestation entries (`unknown/unknown`) left out.
pub(crate) fn offered(body: &[u8]) -> Result<Vec<Platform>, BodyError> {
    #[derive(Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        platform: Option<WirePlatform>,
    }
    let index: Index = serde_json::from_slice(body).map_err(|_| BodyError::IndexNotJson)?;
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

/// The digest of the config blob a single-platform manifest names.
pub(crate) fn config_digest(manifest: &[u8]) -> Result<Digest, BodyError> {
    #[derive(Deserialize)]
    struct Manifest {
        config: Descriptor,
    }
    #[derive(Deserialize)]
    struct Descriptor {
        digest: String,
    }
    let manifest: Manifest = serde_json::from_slice(manifest).map_err(|_| BodyError::NoConfig)?;
    Digest::parse(&manifest.config.digest).map_err(|_| BodyError::ConfigDigestInvalid)
}

/// The platform an image config blob says it was built for.
pub(crate) fn image_config_platform(config: &[u8]) -> Result<Platform, BodyError> {
    let config: WirePlatform =
        serde_json::from_slice(config).map_err(|_| BodyError::ConfigNotJson)?;
    Ok(config.into_platform())
}

/// A platform as indexes and image configs spell it (`os`, `architecture`, `variant`).
#[derive(Deserialize)]
pub(crate) struct WirePlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

impl WirePlatform {
    pub(crate) fn into_platform(self) -> Platform {
        Platform {
            os: self.os,
            architecture: self.architecture,
            variant: self.variant.filter(|v| !v.is_empty()),
        }
    }
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
