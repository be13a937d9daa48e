//! End-to-end tests of the `preflight` binary against real servers on loopback: the CNCF
//! registry (plain, TLS + htpasswd, TLS + token auth), dnsmasq, and in-process fakes only for what
//! a real registry cannot be made to do. One binary, many modules, to keep link time down.

mod common;
mod support;

mod auth_basic;
mod auth_token;
mod ci_creds;
mod ci_reports;
mod cli;
mod cli_edges;
mod cloud_registries;
mod contract;
mod credential_providers;
mod explain;
mod hostile;
mod hub_budget;
mod image;
mod kube;
mod library;
mod network;
mod node_config;
mod oracle;
mod pins;
mod platforms;
mod proxy;
mod pull_path;
mod reference_parsers;
mod registry_answers;
mod registry_cmd;
mod registry_quirks;
mod runtimes;
mod scale;
mod secrets;
mod snapshots;
mod templates;
