//! A real CNCF distribution registry (Debian's `docker-registry`, 2.8) as a
//! child process, so the happy paths and the auth challenges preflight sees
//! are the ones real registries send, not our idea of them.

use std::fmt;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tempfile::TempDir;

use super::pki::{CertFiles, Pki};
use super::{ManagedChild, require_tool};

/// Startup normally takes ~50 ms; the margin is for loaded CI machines.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Registry {
    pub addr: SocketAddr,
    // Declared before `dir`: fields drop in order, and the process must be
    // dead before its storage directory is deleted under it.
    child: ManagedChild,
    /// Holds config.yml, storage/ and htpasswd; removed on Drop.
    pub dir: TempDir,
    tls: bool,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

enum Auth<'a> {
    None,
    Htpasswd(PathBuf),
    Token {
        realm: &'a str,
        service: &'a str,
        issuer: &'a str,
        root_bundle: &'a Path,
    },
}

impl Registry {
    /// Plain HTTP, no auth.
    pub fn plain() -> Registry {
        Registry::start(new_dir(), None, &Auth::None)
    }

    /// Plain HTTP, no auth, with one OCI image pushed as `repo:tag`.
    pub fn plain_with(repo: &str, tag: &str) -> Registry {
        let registry = Registry::plain();
        super::seed::push(
            &registry.base_url(),
            None,
            None,
            repo,
            tag,
            super::seed::ImageKind::OciManifest,
        );
        registry
    }

    /// HTTPS with `cert` (any of the `Pki` leaves, e.g. `expired`), no auth.
    pub fn tls(cert: &CertFiles) -> Registry {
        Registry::start(new_dir(), Some(cert), &Auth::None)
    }

    /// HTTPS with `cert` and Basic auth over the given `(user, password)`s.
    /// `pki` is unused but keeps every TLS constructor reading alike.
    pub fn tls_basic(pki: &Pki, cert: &CertFiles, users: &[(&str, &str)]) -> Registry {
        let _ = pki;
        let dir = new_dir();
        let htpasswd = require_tool("htpasswd");
        let mut lines = String::new();
        for (user, pass) in users {
            // bcrypt (-B) is the only hash distribution accepts.
            let out = Command::new(&htpasswd)
                .args(["-Bbn", user, pass])
                .output()
                .expect("run htpasswd");
            assert!(
                out.status.success(),
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let line = String::from_utf8(out.stdout).expect("htpasswd output is UTF-8");
            let _ = writeln!(lines, "{}", line.trim());
        }
        let path = dir.path().join("htpasswd");
        std::fs::write(&path, lines).expect("write htpasswd");
        Registry::start(dir, Some(cert), &Auth::Htpasswd(path))
    }

    /// HTTPS with `pki.server` and token auth: `/v2/` answers
    /// `401 Bearer realm=…,service=…`, and tokens are trusted when signed by
    /// `pki.token_signer`.
    pub fn tls_token(pki: &Pki, realm: &str, service: &str, issuer: &str) -> Registry {
        let auth = Auth::Token {
            realm,
            service,
            issuer,
            root_bundle: &pki.token_signer.cert_pem,
        };
        Registry::start(new_dir(), Some(&pki.server), &auth)
    }

    /// `127.0.0.1:PORT`, the registry part of an image reference.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` or `https://…`, without a trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The file holding blob `digest` (`sha256:…`) in this registry's
    /// filesystem storage, shared by every repository that links it. Remove
    /// it for a blob missing from storage; overwrite it for corrupted bytes.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The registry's last ~200 log lines (startup and access logs); print
    /// it when a test against this registry fails.
    pub fn log(&self) -> String {
        self.child.log()
    }

    fn start(dir: TempDir, tls: Option<&CertFiles>, auth: &Auth<'_>) -> Registry {
        let binary = require_tool("docker-registry");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).expect("create registry storage dir");

        // Always our own config: the packaged /etc/docker/registry/config.yml
        // does not work out of the box. Strings are JSON-quoted, which is
        // valid YAML and safe for any temp-dir path.
        let mut config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  formatter: text\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:0\n  secret: preflight-test-secret\n",
            quote(&storage.display().to_string()),
        );
        if let Some(cert) = tls {
            let _ = write!(
                config,
                "  tls:\n    certificate: {}\n    key: {}\n",
                quote(&cert.cert_pem.display().to_string()),
                quote(&cert.key_pem.display().to_string()),
            );
        }
        match auth {
            Auth::None => {}
            Auth::Htpasswd(path) => {
                let _ = write!(
                    config,
                    "auth:\n  htpasswd:\n    realm: preflight-test\n    path: {}\n",
                    quote(&path.display().to_string()),
                );
            }
            Auth::Token {
                realm,
                service,
                issuer,
                root_bundle,
            } => {
                let _ = write!(
                    config,
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    quote(realm),
                    quote(service),
                    quote(issuer),
                    quote(&root_bundle.display().to_string()),
                );
            }
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, &config).expect("write registry config");

        let mut cmd = Command::new(binary);
        cmd.arg("serve").arg(&config_path);
        // REGISTRY_* variables override the config file; one inherited from
        // the developer's shell must not change what the tests run against.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REGISTRY_") {
                cmd.env_remove(key);
            }
        }
        let mut child = ManagedChild::spawn("docker-registry", cmd);
        // Port 0 in the config: the only way to learn the port is the log
        // line `msg="listening on 127.0.0.1:NNNNN"` (`, tls` appended for TLS).
        let addr = child.wait_for_line(STARTUP_TIMEOUT, |line| {
            let rest = &line[line.find("listening on ")? + "listening on ".len()..];
            let end = rest.find(['"', ',', ' ']).unwrap_or(rest.len());
            rest[..end].parse::<SocketAddr>().ok()
        });
        Registry {
            addr,
            child,
            dir,
            tls: tls.is_some(),
        }
    }
}

/// `Basic base64(user:pass)`: a full `Authorization` header value.
pub fn basic_auth(user: &str, pass: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{pass}")))
}

fn new_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("preflight-registry-")
        .tempdir()
        .expect("create registry temp dir")
}

fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}
