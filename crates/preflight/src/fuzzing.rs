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
