//! Inputs: files and environment turned into plain data the engine consumes — Kubernetes
//! manifests, Docker's and podman's credential files, the CI runner's variables, pull Secrets and
//! the kubelet's keyring, digests files, CRI-O's `registries.conf`, and the plan that turns all of
//! them into image requests.
//! The engine never reads a file.

pub(crate) mod auth_entry;
pub mod ci_credentials;
pub mod digests;
pub mod docker_config;
pub(crate) mod hosts_dir;
pub(crate) mod json_error;
pub mod kubelet;
pub mod manifests;
pub mod plan;
pub(crate) mod registries_conf;
