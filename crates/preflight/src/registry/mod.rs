//! The registry API on top of the network layer: where a registry is reached and every URL of its
//! API (`endpoint`), the TLS mode of each host (`hosts`), how registries differ — one profile
//! resolved per registry, the one place a registry's quirk goes (`profile`) — the node's runtime,
//! the one place a runtime's rule goes (`runtime`) — access: Basic and
//! the token flow, with a token cache (`auth`), and a repository's tags (`tags`).

pub(crate) mod auth;
pub(crate) mod endpoint;
pub(crate) mod hosts;
pub(crate) mod profile;
pub(crate) mod runtime;
pub(crate) mod tags;
