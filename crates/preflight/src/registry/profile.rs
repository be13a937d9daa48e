//! How registries differ, in one place: a [`Profile`] is resolved once from a registry's name, and
//! every stage asks it instead of testing for a registry by name. Adding a registry's behaviour is
//! one [`Flavor`] (or one field) here and the one question a stage asks.
//!
//! | behaviour | spec registries | Docker Hub |
//! |---|---|---|
//! | API host | the registry's own | `registry-1.docker.io` (references say `docker.io`) |
//! | a missing repository | 404 `NAME_UNKNOWN` | 401, as for a private one |
//! | a manifest GET | free | a pull, counted against a budget |
//! | a token without `pull` | refused: a diagnosis of its own | said for missing repositories too: the `HEAD` explains |
//! | rate-limit headers | rarely | on every manifest answer |
//!
//! Registries that answer `/v2/` anonymously and challenge per repository (Quay) need no entry:
//! the pipeline re-authenticates with a manifest's challenge for every registry.

use crate::model::reference::Reference;

/// The kinds of registry whose answers differ from the distribution spec's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Flavor {
    /// A registry that answers as the distribution spec says.
    Spec,
    /// Docker Hub.
    DockerHub,
}

/// What a registry does where registries differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Profile {
    pub(crate) flavor: Flavor,
}

impl Profile {
    /// The profile of the registry `reference` names.
    pub(crate) fn of(reference: &Reference) -> Profile {
        let flavor = if reference.is_docker_hub() {
            Flavor::DockerHub
        } else {
            Flavor::Spec
        };
        Profile { flavor }
    }

    /// The host (and port) that serves the registry API, unless the checker redirects Docker Hub
    /// to a stand-in (`hub`).
    pub(crate) fn api_host<'a>(self, reference: &'a Reference, hub: Option<&'a str>) -> &'a str {
        match (self.flavor, hub) {
            (Flavor::DockerHub, Some(stand_in)) => stand_in,
            _ => reference.api_host(),
        }
    }

    /// A missing repository is answered 401, as a private one is: the two cannot be told apart.
    pub(crate) fn hides_missing(self) -> bool {
        self.flavor == Flavor::DockerHub
    }

    /// A manifest or blob GET counts as a pull against the account's budget.
    pub(crate) fn counts_pulls(self) -> bool {
        self.flavor == Flavor::DockerHub
    }

    /// A token that grants no `pull` means the account may not pull. Docker Hub grants no actions
    /// for a repository that does not exist either, and its manifest `HEAD` says more.
    pub(crate) fn trusts_granted_actions(self) -> bool {
        self.flavor != Flavor::DockerHub
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_and_the_rest() {
        let hub = Reference::parse("nginx").unwrap();
        let p = Profile::of(&hub);
        assert!(p.hides_missing() && p.counts_pulls());
        assert!(!p.trusts_granted_actions());
        assert_eq!(p.api_host(&hub, None), "registry-1.docker.io");
        assert_eq!(p.api_host(&hub, Some("127.0.0.1:5000")), "127.0.0.1:5000");

        let own = Reference::parse("registry.example:5000/shop/app:v1").unwrap();
        let p = Profile::of(&own);
        assert!(!p.hides_missing() && !p.counts_pulls());
        assert!(p.trusts_granted_actions());
        assert_eq!(p.api_host(&own, Some("x:1")), "registry.example:5000");
    }
}
