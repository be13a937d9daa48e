//! One module per stage of the contract, each a function from what the stages before it found to
//! what it finds, or a diagnosis: the registry-wide `dns` → `tcp` → `tls` → `ping` ([`probe`]),
//! then per image `manifest`.

pub(crate) mod manifest;
pub(crate) mod probe;
