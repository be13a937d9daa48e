//! A real HTTP proxy: tinyproxy from Debian, as the nodes' `HTTPS_PROXY` would be.
//!
//! tinyproxy resolves the targets it is asked for with the system resolver. The suite's
//! registries listen on loopback, and a loopback IP literal is never proxied (Go's rule), so a
//! test reaches its registry through the proxy by name: tinyproxy runs in a private mount
//! namespace (`unshare -m`, as the runtimes in `runtime.rs` do) with an `/etc/hosts` of the
//! test's own bind-mounted over the machine's.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{ManagedChild, require_tool};

/// How tinyproxy is configured beyond the defaults.
#[derive(Debug, Default)]
pub struct ProxyOptions<'a> {
    /// Names tinyproxy resolves (its `/etc/hosts`).
    pub hosts: &'a [(&'a str, IpAddr)],
    /// `ConnectPort` rules: CONNECT only to these ports (none: any port).
    pub connect_ports: &'a [u16],
    /// `BasicAuth USER PASSWORD`: every request must carry them.
    pub basic_auth: Option<(&'a str, &'a str)>,
}

/// tinyproxy on `127.0.0.1:PORT`; killed on Drop.
#[derive(Debug)]
pub struct Tinyproxy {
    pub addr: SocketAddr,
    log_file: PathBuf,
    _child: ManagedChild,
    _dir: TempDir,
}

impl Tinyproxy {
    /// tinyproxy resolving `hosts`, with no other rule.
    pub fn start(hosts: &[(&str, IpAddr)]) -> Tinyproxy {
        Tinyproxy::with(&ProxyOptions {
            hosts,
            ..ProxyOptions::default()
        })
    }

    pub fn with(options: &ProxyOptions<'_>) -> Tinyproxy {
        let tinyproxy = require_tool("tinyproxy");
        let unshare = require_tool("unshare");
        let dir = tempfile::Builder::new()
            .prefix("preflight-tinyproxy-")
            .tempdir()
            .expect("temp dir");
        // tinyproxy cannot listen on port 0: take a free port and hand it over.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let log_file = dir.path().join("tinyproxy.log");
        let mut conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nLogLevel Info\n\
             LogFile \"{}\"\nPidFile \"{}\"\n",
            log_file.display(),
            dir.path().join("tinyproxy.pid").display()
        );
        for p in options.connect_ports {
            let _ = writeln!(conf, "ConnectPort {p}");
        }
        if let Some((user, password)) = options.basic_auth {
            let _ = writeln!(conf, "BasicAuth {user} {password}");
        }
        let conf_path = dir.path().join("tinyproxy.conf");
        std::fs::write(&conf_path, conf).expect("write tinyproxy.conf");
        let mut hosts = "127.0.0.1 localhost\n".to_owned();
        for (name, ip) in options.hosts {
            let _ = writeln!(hosts, "{ip} {name}");
        }
        let hosts_path = dir.path().join("hosts");
        std::fs::write(&hosts_path, hosts).expect("write hosts");

        let mut cmd = Command::new(unshare);
        cmd.args(["-m", "sh", "-c"])
            .arg(r#"mount --bind "$1" /etc/hosts && shift && exec "$@""#)
            .arg("sh")
            .arg(&hosts_path)
            .arg(tinyproxy)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path);
        let mut child = ManagedChild::spawn("tinyproxy", cmd);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_exit() {
                panic!(
                    "tinyproxy exited ({status}); log:\n{}\n{}",
                    child.log(),
                    std::fs::read_to_string(&log_file).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "tinyproxy does not accept connections on {addr}; log:\n{}",
                std::fs::read_to_string(&log_file).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Tinyproxy {
            addr,
            log_file,
            _child: child,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// tinyproxy's log file: a `Request (file descriptor N): METHOD TARGET HTTP/1.1` line per
    /// request.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// The request lines tinyproxy logged (`CONNECT host:port HTTP/1.1`, `GET http://… HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|l| l.split_once("): ").filter(|_| l.contains("Request (")))
            .map(|(_, r)| r.to_owned())
            .collect()
    }
}
