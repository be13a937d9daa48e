//! The registry API on top of the network layer: where a registry is reached and its URLs
//! ([`endpoint`]), how each host is reached ([`hosts`]), how registries differ ([`profile`]),
//! access — Basic and the token flow, with a token cache ([`auth`]) — and a repository's tags
//! ([`tags`]).

pub(crate) mod auth;
pub(crate) mod endpoint;
pub(crate) mod hosts;
pub(crate) mod profile;
pub(crate) mod tags;
