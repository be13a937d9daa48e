//! Docker Hub's pull budget against what the deploy will pull: a warning when the remaining
//! pulls will not cover it, a failure below the floor set with `--min-hub-remaining`.

use crate::diagnosis::{Code, Diagnosis, Stage, Warning, WarningCode};
use crate::engine::checker::Inner;
use crate::model::reference::DOCKER_HUB;
use crate::report::ImageReport;

/// Docker Hub's budget against what the deploy will pull: one pull per distinct Hub image
/// and required platform (at least one), on nodes that do not have it yet. The budget is the
/// lowest `ratelimit-remaining` Hub sent during the check.
pub(crate) fn apply(inner: &Inner, images: &mut [ImageReport]) {
    let is_hub = |i: &ImageReport| i.registry.as_deref() == Some(DOCKER_HUB);
    let Some(remaining) = images
        .iter()
        .filter(|i| is_hub(i))
        .filter_map(|i| i.rate_limit.as_ref().and_then(|r| r.remaining))
        .min()
    else {
        return;
    };
    let distinct = images.iter().filter(|i| is_hub(i)).count();
    let platforms = inner.platforms.len().max(1);
    let needed = u64::try_from(distinct * platforms).unwrap_or(u64::MAX);
    let assumption = format!(
        "{distinct} distinct Docker Hub image{} × {platforms} platform{}, each pulled once by a node that lacks it",
        if distinct == 1 { "" } else { "s" },
        if platforms == 1 { "" } else { "s" }
    );
    for image in images.iter_mut().filter(|i| is_hub(i)) {
        if let Some(floor) = inner.min_hub_remaining
            && remaining < floor
            && image.diagnosis.is_none()
        {
            image.diagnosis = Some(Diagnosis::new(
                Code::RateLimitLow,
                Stage::Manifest,
                format!(
                    "Docker Hub has {remaining} pulls left, below the floor of {floor} set with --min-hub-remaining"
                ),
            ));
            image.pullable = false;
        } else if remaining < needed {
            image.warnings.push(Warning {
                code: WarningCode::RateLimitLow,
                message: format!(
                    "Docker Hub has {remaining} pulls left and the deploy needs about {needed} ({assumption})"
                ),
            });
        }
    }
}
