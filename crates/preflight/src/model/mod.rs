//! Pure domain types, without I/O: what an image reference, a digest, a platform, a challenge,
//! a rate limit, a credential and the registry's wire formats are. Everything above builds on
//! these; nothing here touches the network or the file system.

pub(crate) mod challenge;
pub mod credentials;
pub(crate) mod image;
pub mod platform;
pub mod ratelimit;
pub mod reference;
pub mod secret;
pub(crate) mod similar;
pub(crate) mod wire;
