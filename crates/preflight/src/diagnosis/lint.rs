//! Warnings about how an image is referenced and pulled, known before any network: mutable
//! tags, `latest`, and pull policies that make them worse.

use crate::diagnosis::{Warning, WarningCode};
use crate::model::reference::Reference;

/// Warnings about the reference itself: `latest`, written or implied.
pub fn reference_warnings(r: &Reference) -> Vec<Warning> {
    let mut w = Vec::new();
    if r.digest().is_some() {
        return w;
    }
    if !r.has_explicit_tag() {
        w.push(Warning {
            code: WarningCode::ImplicitLatest,
            message: format!(
                "{} names no tag, so it means :latest, which changes under running pods; pin a version tag or a digest",
                r.original()
            ),
        });
    } else if r.tag() == Some("latest") {
        w.push(Warning {
            code: WarningCode::LatestTag,
            message: format!(
                "{} uses :latest, which changes under running pods and defaults imagePullPolicy to Always; pin a version tag or a digest",
                r.original()
            ),
        });
    }
    w
}

/// Warnings about a container's `imagePullPolicy` for this reference; `place` names the container
/// (`Deployment/shop/app container app`).
pub fn pull_policy_warnings(r: &Reference, policy: Option<&str>, place: &str) -> Vec<Warning> {
    let mut w = Vec::new();
    if r.digest().is_some() {
        return w;
    }
    let latest = r.tag() == Some("latest");
    match policy {
        Some("Always") if !latest => w.push(Warning {
            code: WarningCode::AlwaysPullMutableTag,
            message: format!(
                "{place}: imagePullPolicy Always with the mutable tag {}: every restart pulls again and may run a different image than the other replicas; pin a digest",
                r.original()
            ),
        }),
        Some(p @ ("IfNotPresent" | "Never")) if latest => w.push(Warning {
            code: WarningCode::StaleLatest,
            message: format!(
                "{place}: imagePullPolicy {p} with {}: a node keeps the latest it pulled first, so nodes run different images; use a version tag",
                r.original()
            ),
        }),
        _ => {}
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(w: &[Warning]) -> Vec<WarningCode> {
        w.iter().map(|w| w.code).collect()
    }

    #[test]
    fn reference_lints() {
        let r = |s: &str| reference_warnings(&Reference::parse(s).unwrap());
        assert_eq!(codes(&r("nginx")), [WarningCode::ImplicitLatest]);
        assert_eq!(codes(&r("nginx:latest")), [WarningCode::LatestTag]);
        assert!(r("nginx:1.27").is_empty());
        let pinned = format!("nginx@sha256:{}", "a".repeat(64));
        assert!(r(&pinned).is_empty());
    }

    #[test]
    fn pull_policy_lints() {
        let p = |s: &str, policy: &str| {
            codes(&pull_policy_warnings(
                &Reference::parse(s).unwrap(),
                Some(policy),
                "Pod/default/x container x",
            ))
        };
        assert_eq!(p("app:v1", "Always"), [WarningCode::AlwaysPullMutableTag]);
        assert!(p("app:v1", "IfNotPresent").is_empty());
        assert!(
            p("app:latest", "Always").is_empty(),
            "latest-tag already says it"
        );
        assert_eq!(p("app:latest", "IfNotPresent"), [WarningCode::StaleLatest]);
        assert_eq!(p("app", "Never"), [WarningCode::StaleLatest]);
        assert!(p(&format!("app@sha256:{}", "b".repeat(64)), "Always").is_empty());
        assert!(pull_policy_warnings(&Reference::parse("app:v1").unwrap(), None, "x").is_empty());
    }
}
