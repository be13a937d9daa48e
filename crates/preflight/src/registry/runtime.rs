//! The node's container runtime: every rule in which containerd, CRI-O and Docker pull
//! differently lives here, as a method of [`Runtime`], and nowhere else. The stages ask the
//! runtime; none of them tests which runtime it is.
//!
//! The table of differences, with the source each row was read from, is in
//! `docs/runtimes.md`; a new difference is one method here, one row there, and a test.

use std::fmt;
use std::net::IpAddr;

use crate::model::reference::Grammar;
use crate::net::TlsMode;

/// A containerd version line, where containerd's rules differ between lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ContainerdLine {
    /// containerd 1.6 (Debian bookworm ships 1.6.20).
    V1_6,
    /// containerd 1.7.
    V1_7,
    /// containerd 2.x, the current line.
    V2,
}

/// The container runtime on the nodes, whose rules decide how an image is pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Runtime {
    /// containerd through its CRI plugin (what the kubelet talks to on most clusters).
    Containerd(ContainerdLine),
    /// CRI-O (`OpenShift`), which pulls with `containers/image`.
    CriO,
    /// Docker Engine (cri-dockerd, or a CI machine's own pulls).
    Docker,
}

impl Default for Runtime {
    /// containerd 2: what Kubernetes nodes run today.
    fn default() -> Self {
        Runtime::Containerd(ContainerdLine::V2)
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runtime::Containerd(ContainerdLine::V1_6) => f.write_str("containerd 1.6"),
            Runtime::Containerd(ContainerdLine::V1_7) => f.write_str("containerd 1.7"),
            Runtime::Containerd(ContainerdLine::V2) => f.write_str("containerd 2"),
            Runtime::CriO => f.write_str("cri-o"),
            Runtime::Docker => f.write_str("docker"),
        }
    }
}

/// A runtime name or version line that is not one of those modelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Not `containerd`, `cri-o` or `docker`.
    #[error("unknown runtime {0:?}: use containerd, cri-o or docker")]
    Unknown(String),
    /// A containerd version outside the modelled lines.
    #[error(
        "unknown containerd version {0:?}: use 1.6, 1.7 or 2 (a full version like 1.7.27 works too)"
    )]
    UnknownLine(String),
    /// A version given for a runtime whose rules do not differ by version here.
    #[error("--runtime-version applies to containerd only; {0} has one set of rules here")]
    NoLines(String),
}

impl Runtime {
    /// The runtime named `kind` (`containerd`, `cri-o`, `docker`), at `version` — for containerd
    /// a line (`1.6`, `1.7`, `2`) or a full version (`1.7.27`, `v2.0.4`, as a node reports it).
    pub fn parse(kind: &str, version: Option<&str>) -> Result<Runtime, RuntimeError> {
        let runtime = match kind.trim().to_ascii_lowercase().as_str() {
            "containerd" => {
                let line = version.map_or(Ok(ContainerdLine::V2), parse_line)?;
                return Ok(Runtime::Containerd(line));
            }
            "cri-o" | "crio" => Runtime::CriO,
            "docker" => Runtime::Docker,
            _ => return Err(RuntimeError::Unknown(kind.to_owned())),
        };
        match version {
            Some(_) => Err(RuntimeError::NoLines(runtime.to_string())),
            None => Ok(runtime),
        }
    }

    /// How the runtime reaches a registry host nothing configures: `host` and `port` as the
    /// reference (or a mirror's URL) writes them; for Docker, the addresses the host resolves to;
    /// `hosts_dir` whether the node has containerd's registry host directory (`config_path`).
    ///
    /// - containerd treats a host written as `localhost` or a loopback IP as local (never by
    ///   resolving it). Without a hosts directory, 1.6 and 1.7 take the CRI plugin's old path:
    ///   plain HTTP only. Through the hosts directory (always in 2.x, whose CRI plugin sets one
    ///   by default), 1.7 and 2 try HTTPS without verification on a port other than 80 and 443,
    ///   falling back to plain HTTP when the server answers in it; `localhost` without a port,
    ///   or on 443, is HTTPS without verification; on port 80, plain HTTP. 1.6.20 (Debian's)
    ///   talks plain HTTP to local hosts either way.
    /// - Docker treats a registry whose address is in 127.0.0.0/8 (or `::1`) as insecure:
    ///   HTTPS without verification, then plain HTTP on any failure.
    /// - CRI-O has no loopback rule: HTTPS, verified, unless registries.conf says `insecure`.
    pub(crate) fn default_transport(
        self,
        host: &str,
        port: Option<u16>,
        resolved: &[IpAddr],
        hosts_dir: bool,
    ) -> Transport {
        match self {
            Runtime::Containerd(line) if is_local_as_written(host) => {
                let configure_hosts =
                    line == ContainerdLine::V2 || (hosts_dir && line == ContainerdLine::V1_7);
                match port {
                    _ if !configure_hosts => Transport::only(TlsMode::PlainHttp),
                    None | Some(443) => Transport::only(TlsMode::SkipVerify),
                    Some(80) => Transport::only(TlsMode::PlainHttp),
                    Some(_) => Transport {
                        first: TlsMode::SkipVerify,
                        fallback: Some(Fallback::WhenServerSpeaksHttp),
                    },
                }
            }
            Runtime::Docker if !resolved.is_empty() && resolved.iter().all(IpAddr::is_loopback) => {
                Transport::insecure()
            }
            _ => Transport::only(TlsMode::Verify),
        }
    }

    /// Whether the runtime needs the host's addresses to choose its transport (Docker's
    /// insecure range is by address).
    pub(crate) fn transport_needs_addresses(self) -> bool {
        self == Runtime::Docker
    }

    /// Whether, with a username and password, the runtime asks the token service with an
    /// `OAuth2` POST (`grant_type=password`) before any GET. containerd does; containers/image
    /// and Docker send a GET with Basic credentials.
    pub(crate) fn posts_password_grant(self) -> bool {
        matches!(self, Runtime::Containerd(_))
    }

    /// Whether a refused `OAuth2` POST is retried as a GET, given its status and whether a
    /// username was posted: containerd retries on 400, 401 and 404, and on 405 when it posted
    /// a username (not an identity token) — `remotes/docker/authorizer.go`, every tag from
    /// v1.6.0 to v2.3.
    pub(crate) fn post_falls_back_to_get(self, status: u16, with_username: bool) -> bool {
        self.posts_password_grant()
            && (matches!(status, 400 | 401 | 404) || (status == 405 && with_username))
    }

    /// The copy of the reference parser the runtime applies to an image name: current
    /// `distribution/reference` for Docker and containerd 2 (and 1.7, whose later releases vendor
    /// it), containerd 1.6's own older copy, `containers/image`'s for CRI-O.
    pub(crate) fn reference_grammar(self) -> Grammar {
        match self {
            Runtime::Containerd(ContainerdLine::V1_6) => Grammar::ContainerdCopy,
            Runtime::Containerd(_) | Runtime::Docker => Grammar::Distribution,
            Runtime::CriO => Grammar::ContainersImage,
        }
    }

    /// How long the runtime waits on a mirror that does not answer before trying the next host
    /// (seen here: containerd ~60 s, podman ~120 s).
    pub(crate) fn dead_mirror_delay_secs(self) -> u64 {
        match self {
            Runtime::Containerd(_) => 60,
            Runtime::CriO => 120,
            Runtime::Docker => 30,
        }
    }
}

/// How a host is reached: the first mode tried, and the one fallen back to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Transport {
    pub(crate) first: TlsMode,
    pub(crate) fallback: Option<Fallback>,
}

impl Transport {
    /// One mode, no fallback.
    pub(crate) fn only(mode: TlsMode) -> Transport {
        Transport {
            first: mode,
            fallback: None,
        }
    }

    /// HTTPS without verification, then plain HTTP on any failure (Docker's insecure
    /// registries, CRI-O's `insecure = true`).
    pub(crate) fn insecure() -> Transport {
        Transport {
            first: TlsMode::SkipVerify,
            fallback: Some(Fallback::OnAnyFailure),
        }
    }
}

/// When a runtime gives up on HTTPS for a host and talks plain HTTP to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Fallback {
    /// Only when the server answered the TLS handshake in plain HTTP (containerd's HTTP
    /// fallback for local hosts).
    WhenServerSpeaksHttp,
    /// When HTTPS failed in any way before the registry answered (Docker, containers/image).
    OnAnyFailure,
}

/// A containerd version line from `1.6`, `1.7`, `2`, or a full version.
fn parse_line(v: &str) -> Result<ContainerdLine, RuntimeError> {
    let bare = v.trim().trim_start_matches('v');
    let mut parts = bare.split('.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next();
    match (major, minor) {
        ("1", Some("6")) => Ok(ContainerdLine::V1_6),
        ("1", Some("7")) => Ok(ContainerdLine::V1_7),
        ("2", _) => Ok(ContainerdLine::V2),
        _ => Err(RuntimeError::UnknownLine(v.to_owned())),
    }
}

/// containerd's "local" host: `localhost` or a loopback IP, as written (never resolved).
pub(crate) fn is_local_as_written(host: &str) -> bool {
    let bare = host.trim_matches(['[', ']']);
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn names_and_lines() {
        assert_eq!(Runtime::parse("containerd", None), Ok(Runtime::default()));
        for (v, line) in [
            ("1.6", ContainerdLine::V1_6),
            ("v1.6.20", ContainerdLine::V1_6),
            ("1.7.27", ContainerdLine::V1_7),
            ("2", ContainerdLine::V2),
            ("2.1.4", ContainerdLine::V2),
        ] {
            assert_eq!(
                Runtime::parse("containerd", Some(v)),
                Ok(Runtime::Containerd(line))
            );
        }
        assert_eq!(Runtime::parse("CRI-O", None), Ok(Runtime::CriO));
        assert_eq!(Runtime::parse("docker", None), Ok(Runtime::Docker));
        assert!(matches!(
            Runtime::parse("containerd", Some("1.5")),
            Err(RuntimeError::UnknownLine(_))
        ));
        assert!(matches!(
            Runtime::parse("cri-o", Some("1.30")),
            Err(RuntimeError::NoLines(_))
        ));
        assert!(matches!(
            Runtime::parse("rkt", None),
            Err(RuntimeError::Unknown(_))
        ));
        assert_eq!(Runtime::CriO.to_string(), "cri-o");
        assert_eq!(
            Runtime::Containerd(ContainerdLine::V1_6).to_string(),
            "containerd 1.6"
        );
    }

    #[test]
    fn loopback_rules_per_runtime() {
        let lo = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
        let only = Transport::only;
        let v16 = Runtime::Containerd(ContainerdLine::V1_6);
        let v17 = Runtime::Containerd(ContainerdLine::V1_7);
        let v2 = Runtime::default();
        for hosts_dir in [false, true] {
            assert_eq!(
                v16.default_transport("127.0.0.1", Some(5000), &[], hosts_dir),
                only(TlsMode::PlainHttp)
            );
            assert_eq!(
                v16.default_transport("localhost", None, &[], hosts_dir),
                only(TlsMode::PlainHttp)
            );
        }
        // 1.7: the old CRI path without a hosts directory, ConfigureHosts with one.
        assert_eq!(
            v17.default_transport("localhost", Some(5000), &[], false),
            only(TlsMode::PlainHttp)
        );
        let fallback = Transport {
            first: TlsMode::SkipVerify,
            fallback: Some(Fallback::WhenServerSpeaksHttp),
        };
        assert_eq!(
            v17.default_transport("localhost", Some(5000), &[], true),
            fallback
        );
        assert_eq!(
            v2.default_transport("[::1]", Some(5000), &[], false),
            fallback
        );
        assert_eq!(
            v2.default_transport("localhost", None, &[], false),
            only(TlsMode::SkipVerify)
        );
        assert_eq!(
            v2.default_transport("localhost", Some(443), &[], false),
            only(TlsMode::SkipVerify)
        );
        assert_eq!(
            v2.default_transport("127.0.0.2", Some(80), &[], false),
            only(TlsMode::PlainHttp)
        );
        // By the host as written, never by what a name resolves to.
        for rt in [v16, v17, v2] {
            assert_eq!(
                rt.default_transport("registry.test", Some(5000), &lo, true),
                only(TlsMode::Verify)
            );
        }
        // Docker: by the resolved address.
        assert_eq!(
            Runtime::Docker.default_transport("registry.test", None, &lo, false),
            Transport::insecure()
        );
        assert_eq!(
            Runtime::Docker.default_transport("registry.test", None, &[], false),
            only(TlsMode::Verify)
        );
        assert_eq!(
            Runtime::CriO.default_transport("127.0.0.1", Some(5000), &lo, false),
            only(TlsMode::Verify)
        );
    }

    #[test]
    fn token_post_fallback() {
        let c = Runtime::default();
        assert!(c.posts_password_grant() && !Runtime::CriO.posts_password_grant());
        assert!(c.post_falls_back_to_get(404, false));
        assert!(!c.post_falls_back_to_get(405, false));
        assert!(c.post_falls_back_to_get(405, true));
        assert!(!c.post_falls_back_to_get(501, true));
        assert!(!c.post_falls_back_to_get(403, true));
    }
}
