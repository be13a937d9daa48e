//! The node's real runtimes as test oracles: containerd (Debian's 1.6, driven through `ctr`) and
//! podman (Debian's 4.3, i.e. containers/image, the library CRI-O pulls with).
//!
//! Both run with state of their own under a temporary directory, never the machine's: containerd
//! gets its own config, root, state and socket; podman its own storage, `registries.conf`,
//! `containers.conf`, signature policy and auth file. Both use the system resolver, which has no
//! port in its configuration, so a pull that needs the suite's DNS server runs in a private mount
//! namespace with a `resolv.conf` of ours bind-mounted over `/etc/resolv.conf` ([`NodeDns`]); the
//! machine's own file is never touched.
//!
//! Every process has a deadline and is killed when it passes: nothing here can hang a test.
//! When a runtime cannot run (not installed, not root) the caller panics with the reason: an
//! oracle that is absent must not let a test pass.

use std::ffi::OsString;
use std::fmt;
use std::fmt::Write as _;
use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::ManagedChild;
use super::dns::DnsServer;

/// A pull on loopback takes well under a second; a runtime still busy after this is stuck (a
/// black-holed connect costs containerd 30 s per dial), and is killed.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(30);

/// containerd is ready in ~20 ms; the margin is for a loaded machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Variables of the calling shell that would change what a runtime does: proxies (Go honours
/// them), podman's and Docker's configuration and credential locations.
const CLEARED_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "DOCKER_CONFIG",
    "REGISTRY_AUTH_FILE",
    "CONTAINERS_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINERS_STORAGE_CONF",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "CONTAINER_HOST",
    "CONTAINER_CONNECTION",
];

/// How one pull ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOutcome {
    /// The runtime exited 0: the image was pulled (and, for containerd, unpacked).
    pub ok: bool,
    /// What the runtime printed on stderr (stdout appended when stderr is empty), or the note
    /// that it was killed at the deadline.
    pub stderr: String,
}

impl fmt::Display for RuntimeOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ok {
            f.write_str("pulled")
        } else {
            write!(f, "failed: {}", self.stderr.trim())
        }
    }
}

/// The node's configuration as each runtime takes it. Fields a runtime has no use for are
/// ignored by it: `hosts_dir` and `plain_http` are containerd's, `registries_conf` and
/// `cert_dir` podman's.
#[derive(Debug, Clone, Default)]
pub struct PullConfig {
    /// containerd's `config_path`: `HOST[:PORT]/hosts.toml` below it (`ctr --hosts-dir`).
    pub hosts_dir: Option<PathBuf>,
    /// `(user, password)`: `ctr --user U:P`, `podman --creds U:P`.
    pub credentials: Option<(String, String)>,
    /// `ctr --plain-http`: the default scheme for hosts without configuration.
    pub plain_http: bool,
    /// `--platform os/arch[/variant]`; without it each runtime picks the machine's.
    pub platform: Option<String>,
    /// podman's `registries.conf` (`CONTAINERS_REGISTRIES_CONF`); an empty one when `None`.
    pub registries_conf: Option<PathBuf>,
    /// podman's `--cert-dir`: `*.crt` files trusted as CAs. An empty directory when `None`, so
    /// the machine's `/etc/containers/certs.d` never lends a CA.
    pub cert_dir: Option<PathBuf>,
    /// A `resolv.conf` to resolve names with instead of the machine's (see [`NodeDns`]).
    pub resolv_conf: Option<PathBuf>,
    /// How long the pull may take before it is killed; [`PULL_TIMEOUT`] when `None`. A row that
    /// makes the runtime wait out a dial timeout needs minutes.
    pub timeout: Option<Duration>,
}

/// The suite's DNS server where a runtime can use it: dnsmasq on port 53 of a loopback address
/// of its own, and a `resolv.conf` that names it, for [`PullConfig::resolv_conf`].
pub struct NodeDns {
    /// `IP:53`, for preflight's `--dns-server`.
    pub addr: SocketAddr,
    pub resolv_conf: PathBuf,
    // In a mutex only to make `NodeDns` shareable between the threads of a table test.
    server: Mutex<DnsServer>,
    _dir: TempDir,
}

impl fmt::Debug for NodeDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeDns")
            .field("addr", &self.addr)
            .field("resolv_conf", &self.resolv_conf)
            .finish_non_exhaustive()
    }
}

impl NodeDns {
    /// Serves `names` like [`DnsServer::start`] (any other name is NXDOMAIN).
    pub fn start(names: &[(&str, IpAddr)]) -> NodeDns {
        require_root("the runtimes' DNS server (port 53)");
        let server = DnsServer::start_on_port_53(names);
        let dir = temp_dir("preflight-resolv-");
        let resolv_conf = dir.path().join("resolv.conf");
        // No search list, and no second server that could answer what ours refuses.
        let text = format!(
            "nameserver {}\noptions timeout:2 attempts:1\n",
            server.addr.ip()
        );
        std::fs::write(&resolv_conf, text).expect("write resolv.conf");
        NodeDns {
            addr: server.addr,
            resolv_conf,
            server: Mutex::new(server),
            _dir: dir,
        }
    }

    /// dnsmasq's last lines, each query included.
    pub fn log(&self) -> String {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .log()
    }
}

/// A containerd daemon of the test's own; killed on Drop.
///
/// Its content store is shared by every namespace, so each [`Containerd::ctr_pull`] runs in a
/// fresh namespace *and* the caller pulls content no other pull has fetched (a blob already in
/// the store is not fetched again, which would hide a fault). Distinct repositories per case
/// give distinct content with the suite's seeding.
pub struct Containerd {
    pub socket: PathBuf,
    // Declared before `dir`: the daemon dies before its root is removed. In a mutex only to
    // make `Containerd` shareable between the threads of a table test.
    child: Mutex<ManagedChild>,
    dir: TempDir,
    namespaces: AtomicUsize,
}

impl fmt::Debug for Containerd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Containerd")
            .field("socket", &self.socket)
            .field("pid", &self.child.lock().map(|c| c.pid()).ok())
            .finish_non_exhaustive()
    }
}

impl Containerd {
    /// Writes a config (version 2; root, state, sockets and the `opt` plugin's directory in a
    /// temporary directory; the CRI plugin and the snapshotters that need special filesystems
    /// disabled), starts `containerd --config FILE` and waits for its socket.
    ///
    /// Panics, saying why, when containerd cannot run here.
    pub fn start() -> Containerd {
        require_root("containerd");
        let containerd = require_runtime("containerd");
        require_runtime("ctr");
        let dir = temp_dir("preflight-containerd-");
        let base = dir.path();
        let socket = base.join("containerd.sock");
        let mut config = String::from("version = 2\n");
        let _ = writeln!(config, "root = {}", toml_str(&base.join("root")));
        let _ = writeln!(config, "state = {}", toml_str(&base.join("state")));
        config.push_str(
            "disabled_plugins = [\n  \"io.containerd.grpc.v1.cri\",\n  \
             \"io.containerd.snapshotter.v1.btrfs\",\n  \"io.containerd.snapshotter.v1.zfs\",\n  \
             \"io.containerd.snapshotter.v1.devmapper\",\n  \"io.containerd.snapshotter.v1.aufs\",\n]\n",
        );
        let _ = write!(
            config,
            "[grpc]\n  address = {}\n[ttrpc]\n  address = {}\n[debug]\n  address = \"\"\n\
             [metrics]\n  address = \"\"\n[plugins.\"io.containerd.internal.v1.opt\"]\n  path = {}\n",
            toml_str(&socket),
            toml_str(&base.join("containerd.sock.ttrpc")),
            toml_str(&base.join("opt")),
        );
        let config_path = base.join("config.toml");
        std::fs::write(&config_path, config).expect("write containerd config");

        let mut cmd = Command::new(containerd);
        cmd.arg("--config").arg(&config_path);
        clear_env(&mut cmd);
        let mut child = ManagedChild::spawn("containerd", cmd);
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while UnixStream::connect(&socket).is_err() {
            if let Some(status) = child.try_exit() {
                thread::sleep(Duration::from_millis(50));
                panic!(
                    "containerd exited at startup ({status}); log:\n{}",
                    child.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "containerd's socket {} did not appear within {STARTUP_TIMEOUT:?}; log:\n{}",
                socket.display(),
                child.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
        Containerd {
            socket,
            child: Mutex::new(child),
            dir,
            namespaces: AtomicUsize::new(0),
        }
    }

    /// `ctr images pull` of `reference` in a namespace no other pull used: manifest, config,
    /// every layer, and the unpack into a snapshot, as the CRI plugin does for the kubelet.
    pub fn ctr_pull(&self, reference: &str, config: &PullConfig) -> RuntimeOutcome {
        let namespace = format!("oracle-{}", self.namespaces.fetch_add(1, Ordering::Relaxed));
        let mut args: Vec<OsString> = vec![
            "--address".into(),
            self.socket.clone().into(),
            "--namespace".into(),
            namespace.into(),
            "images".into(),
            "pull".into(),
        ];
        if let Some(dir) = &config.hosts_dir {
            args.extend(["--hosts-dir".into(), dir.clone().into()]);
        }
        if let Some((user, password)) = &config.credentials {
            args.extend(["--user".into(), format!("{user}:{password}").into()]);
        }
        if config.plain_http {
            args.push("--plain-http".into());
        }
        if let Some(platform) = &config.platform {
            args.extend(["--platform".into(), platform.into()]);
        }
        args.push(reference.into());
        let mut cmd = runtime_command("ctr", &args, config.resolv_conf.as_deref());
        cmd.env("HOME", self.dir.path());
        run_with_deadline(cmd, config.timeout.unwrap_or(PULL_TIMEOUT))
    }

    /// The daemon's last log lines, for a failure message.
    pub fn log(&self) -> String {
        self.child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .log()
    }
}

/// `podman pull` of `reference` into storage of its own (vfs, in a temporary directory removed
/// afterwards, so nothing is cached between pulls), with podman's configuration files all ours.
///
/// Panics, saying why, when podman cannot run here.
pub fn podman_pull(reference: &str, config: &PullConfig) -> RuntimeOutcome {
    require_root("podman");
    require_runtime("podman");
    let dir = temp_dir("preflight-podman-");
    let base = dir.path();
    for sub in ["root", "run", "tmp", "home", "certs"] {
        std::fs::create_dir_all(base.join(sub)).expect("create podman directories");
    }
    let write = |name: &str, text: &str| {
        let path = base.join(name);
        std::fs::write(&path, text).expect("write podman configuration");
        path
    };
    let containers_conf = write("containers.conf", "");
    let storage_conf = write(
        "storage.conf",
        &format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = {}\nrunroot = {}\n",
            toml_str(&base.join("root")),
            toml_str(&base.join("run")),
        ),
    );
    let policy = write(
        "policy.json",
        r#"{"default": [{"type": "insecureAcceptAnything"}]}"#,
    );
    // podman refuses an auth file that is named but absent; an empty one lends no credentials.
    let auth_file = write("auth.json", "{}");
    let registries_conf = config.registries_conf.clone().unwrap_or_else(|| {
        write(
            "registries.conf",
            "unqualified-search-registries = []\nshort-name-mode = \"disabled\"\n",
        )
    });
    let cert_dir = config
        .cert_dir
        .clone()
        .unwrap_or_else(|| base.join("certs"));

    let mut args: Vec<OsString> = vec![
        "--root".into(),
        base.join("root").into(),
        "--runroot".into(),
        base.join("run").into(),
        "--tmpdir".into(),
        base.join("tmp").into(),
        "--storage-driver".into(),
        "vfs".into(),
        "--events-backend".into(),
        "none".into(),
        "--cgroup-manager".into(),
        "cgroupfs".into(),
        "pull".into(),
        "--quiet".into(),
        "--signature-policy".into(),
        policy.into(),
        "--cert-dir".into(),
        cert_dir.into(),
    ];
    if let Some((user, password)) = &config.credentials {
        args.extend(["--creds".into(), format!("{user}:{password}").into()]);
    }
    if let Some(platform) = &config.platform {
        args.extend(["--platform".into(), platform.into()]);
    }
    args.push(reference.into());
    let mut cmd = runtime_command("podman", &args, config.resolv_conf.as_deref());
    cmd.env("HOME", base.join("home"))
        .env("TMPDIR", base.join("tmp"))
        .env("CONTAINERS_CONF", containers_conf)
        .env("CONTAINERS_STORAGE_CONF", storage_conf)
        .env("CONTAINERS_REGISTRIES_CONF", registries_conf)
        .env("REGISTRY_AUTH_FILE", auth_file);
    run_with_deadline(cmd, config.timeout.unwrap_or(PULL_TIMEOUT))
}

/// Writes containerd's `DIR/HOST[:PORT]/hosts.toml` for one registry reached at `url`
/// (`http://…` or `https://…`), and returns `DIR` for [`PullConfig::hosts_dir`].
///
/// The URL is both a `[host."URL"]` table (containerd 1.6 ignores a file without one) and the
/// `server`, each with the same `ca` / `skip_verify`, so that no host containerd falls back to
/// has settings the test did not state.
pub fn write_hosts_dir(
    dir: &Path,
    host: &str,
    url: &str,
    ca: Option<&Path>,
    skip_verify: bool,
) -> PathBuf {
    let root = dir.join("hosts.d");
    let host_dir = root.join(host);
    std::fs::create_dir_all(&host_dir).expect("create hosts.toml directory");
    let mut settings = Vec::new();
    if let Some(ca) = ca {
        settings.push(format!("ca = {}", toml_str(ca)));
    }
    if skip_verify {
        settings.push("skip_verify = true".to_owned());
    }
    let mut text = format!(
        "server = {}
",
        toml_quote(url)
    );
    for line in &settings {
        let _ = writeln!(text, "{line}");
    }
    let _ = writeln!(
        text,
        "\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]",
        toml_quote(url)
    );
    for line in &settings {
        let _ = writeln!(text, "  {line}");
    }
    std::fs::write(host_dir.join("hosts.toml"), text).expect("write hosts.toml");
    root
}

/// Writes a podman `registries.conf` with one `[[registry]]` for `location` (`HOST[:PORT]`),
/// `insecure` as given (podman then tries HTTPS without verification, then plain HTTP), and no
/// short-name search; returns its path for [`PullConfig::registries_conf`].
pub fn write_registries_conf(dir: &Path, location: &str, insecure: bool) -> PathBuf {
    let path = dir.join("registries.conf");
    let text = format!(
        "unqualified-search-registries = []\nshort-name-mode = \"disabled\"\n\n\
         [[registry]]\nlocation = {}\ninsecure = {insecure}\n",
        toml_quote(location)
    );
    std::fs::write(&path, text).expect("write registries.conf");
    path
}

/// A `--cert-dir` holding `ca` as `ca.crt`; returns the directory.
pub fn write_cert_dir(dir: &Path, ca: &Path) -> PathBuf {
    let certs = dir.join("certs.d");
    std::fs::create_dir_all(&certs).expect("create cert dir");
    std::fs::copy(ca, certs.join("ca.crt")).expect("copy CA into cert dir");
    certs
}

/// `program ARGS…`, inside a private mount namespace with `resolv_conf` over
/// `/etc/resolv.conf` when one is given. `unshare -m` makes mounts private by default, so the
/// bind mount is never seen outside; `exec` keeps the runtime's pid the one we kill.
fn runtime_command(program: &str, args: &[OsString], resolv_conf: Option<&Path>) -> Command {
    let mut cmd = match resolv_conf {
        None => Command::new(program),
        Some(resolv) => {
            let mut cmd = Command::new(require_runtime("unshare"));
            cmd.args(["-m", "sh", "-c"])
                .arg(r#"mount --bind "$1" /etc/resolv.conf && shift && exec "$@""#)
                .arg("sh")
                .arg(resolv)
                .arg(program);
            cmd
        }
    };
    cmd.args(args);
    clear_env(&mut cmd);
    cmd
}

fn clear_env(cmd: &mut Command) {
    for var in CLEARED_ENV {
        cmd.env_remove(var);
    }
}

/// Runs `cmd` to completion or until `timeout`, then kills it; stdout and stderr are read on
/// their own threads so a chatty process cannot block on a full pipe.
fn run_with_deadline(mut cmd: Command, timeout: Duration) -> RuntimeOutcome {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = read(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let stderr = read(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let mut stderr = stderr.join().unwrap_or_default();
    if stderr.trim().is_empty() {
        stderr = stdout;
    }
    match status {
        Some(status) => RuntimeOutcome {
            ok: status.success(),
            stderr,
        },
        None => RuntimeOutcome {
            ok: false,
            stderr: format!("killed after {timeout:?} (a runtime must not hang a test)\n{stderr}"),
        },
    }
}

/// The runtimes need root here (containerd's snapshots, podman's storage, the mount namespace).
fn require_root(what: &str) {
    let uid = std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid());
    assert!(
        uid == 0,
        "{what} needs root to run as the node's runtime (uid is {uid}); the oracle tests fail \
         rather than pass without the real runtimes: run them as root (CI does)"
    );
}

/// The path of a runtime's program, or a panic saying how to get it.
fn require_runtime(name: &str) -> PathBuf {
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path_var).collect();
    dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    dirs.iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: the oracle tests compare preflight with the real \
                 runtimes and fail without them; run scripts/test.sh (it installs containerd and \
                 podman from Debian)"
            )
        })
}

fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .expect("create temp dir")
}

/// A TOML basic string: JSON's quoting is valid TOML.
fn toml_quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn toml_str(path: &Path) -> String {
    toml_quote(&path.display().to_string())
}
