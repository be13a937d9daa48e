//! The registry API on top of the network layer: how a registry is reached, access (Basic and the
//! token flow, with a token cache), and the tags of a repository.

pub(crate) mod auth;
pub(crate) mod tags;
