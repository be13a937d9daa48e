//! What a pull reads: an index's entries (a manifest per platform) and an image manifest's
//! config and layers, as descriptors. Parsing only; the `blobs` stage fetches.

use serde::Deserialize;

use crate::model::platform::{BodyError, Platform, WirePlatform};
use crate::model::reference::Digest;

/// Content a manifest points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub(crate) media_type: String,
    pub(crate) digest: Digest,
    pub(crate) size: Option<u64>,
}

/// One manifest an index names, with the platform it is for (none for attestations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) descriptor: Descriptor,
    pub(crate) platform: Option<Platform>,
}

/// An image manifest: its config blob and its layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageManifest {
    pub(crate) config: Descriptor,
    pub(crate) layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct WireDescriptor {
    #[serde(default, rename = "mediaType")]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    platform: Option<WirePlatform>,
}

impl WireDescriptor {
    fn into_descriptor(self) -> Result<Descriptor, BodyError> {
        Ok(Descriptor {
            media_type: self.media_type,
            digest: Digest::parse(&self.digest).map_err(|_| BodyError::DescriptorDigestInvalid)?,
            size: self.size,
        })
    }
}

/// The entries of an index, in its order.
pub(crate) fn index_entries(body: &[u8]) -> Result<Vec<IndexEntry>, BodyError> {
    #[derive(Deserialize)]
    struct Index {
        #[serde(default)]
        manifests: Vec<WireDescriptor>,
    }
    let index: Index = serde_json::from_slice(body).map_err(|_| BodyError::IndexNotJson)?;
    index
        .manifests
        .into_iter()
        .map(|mut d| {
            let platform = d.platform.take().map(WirePlatform::into_platform);
            Ok(IndexEntry {
                descriptor: d.into_descriptor()?,
                platform,
            })
        })
        .collect()
}

/// The manifest a node of `wanted` pulls from an index: the first entry whose platform serves it,
/// as containerd's matcher picks (attestations, `unknown/unknown`, never).
pub(crate) fn select<'a>(entries: &'a [IndexEntry], wanted: &Platform) -> Option<&'a IndexEntry> {
    entries.iter().find(|e| {
        e.platform
            .as_ref()
            .is_some_and(|p| p.os != "unknown" && wanted.served_by(p))
    })
}

/// An image manifest's config and layers.
pub(crate) fn image_manifest(body: &[u8]) -> Result<ImageManifest, BodyError> {
    #[derive(Deserialize)]
    struct Manifest {
        config: Option<WireDescriptor>,
        #[serde(default)]
        layers: Vec<WireDescriptor>,
    }
    let manifest: Manifest = serde_json::from_slice(body).map_err(|_| BodyError::NoConfig)?;
    let config = manifest.config.ok_or(BodyError::NoConfig)?;
    Ok(ImageManifest {
        config: config.into_descriptor()?,
        layers: manifest
            .layers
            .into_iter()
            .map(WireDescriptor::into_descriptor)
            .collect::<Result<_, _>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn index_entries_and_selection() {
        let body = format!(
            r#"{{"manifests":[
              {{"mediaType":"m","digest":"{D1}","size":1,"platform":{{"os":"linux","architecture":"arm64"}}}},
              {{"mediaType":"m","digest":"{D2}","size":2,"platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"mediaType":"m","digest":"{D1}","platform":{{"os":"unknown","architecture":"unknown"}}}}]}}"#
        );
        let entries = index_entries(body.as_bytes()).unwrap();
        assert_eq!(entries.len(), 3);
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert_eq!(
            select(&entries, &amd64)
                .unwrap()
                .descriptor
                .digest
                .to_string(),
            D2
        );
        let v8 = Platform::parse("linux/arm64/v8").unwrap();
        assert_eq!(
            select(&entries, &v8).unwrap().descriptor.digest.to_string(),
            D1
        );
        let s390x = Platform::parse("linux/s390x").unwrap();
        assert!(select(&entries, &s390x).is_none());
    }

    #[test]
    fn image_manifests() {
        let body = format!(
            r#"{{"config":{{"mediaType":"c","digest":"{D1}","size":10}},"layers":[{{"mediaType":"l","digest":"{D2}","size":20}}]}}"#
        );
        let m = image_manifest(body.as_bytes()).unwrap();
        assert_eq!(m.config.digest.to_string(), D1);
        assert_eq!(m.layers.len(), 1);
        assert_eq!(m.layers[0].size, Some(20));
        for bad in ["", "{}", r#"{"config":{"digest":"nope"}}"#, "[1]"] {
            assert!(image_manifest(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(index_entries(br#"{"manifests":[{"digest":"x"}]}"#).is_err());
    }
}
