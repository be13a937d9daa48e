//! The expected digest: the tag must point at what the push produced. Anything else means the
//! push went elsewhere, or someone re-tagged since. Part of the `manifest` stage in the contract.

use crate::diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
use crate::model::reference::{Digest, Reference};
use crate::stages::Trail;

/// Compares the digest the registry sent (`found`) with the one expected. A mismatch fails the
/// manifest stage that passed; no digest to compare with is a warning.
pub(crate) fn compare(
    reference: &Reference,
    expected: &Digest,
    found: Option<&str>,
    trail: &mut Trail,
) -> Result<(), Diagnosis> {
    let what = reference
        .tag()
        .map_or_else(|| reference.canonical(), |t| format!("tag {t}"));
    match found {
        Some(found) if found == expected.to_string() => Ok(()),
        Some(found) => {
            if let Some(last) = trail.stages.last_mut() {
                last.ok = false;
            }
            Err(Diagnosis::new(
                Code::DigestMismatch,
                Stage::Manifest,
                format!(
                    "{what} of {}/{} points at {found}, but {expected} was expected",
                    reference.registry(),
                    reference.repository()
                ),
            ))
        }
        None => {
            trail.warn(Warning {
                code: WarningCode::DigestUnverified,
                message: format!(
                    "{expected} was expected, but the registry sent no Docker-Content-Digest to compare it with"
                ),
            });
            Ok(())
        }
    }
}
