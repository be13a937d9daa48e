//! A real DNS server (dnsmasq) on a loopback port, to drive preflight's DNS
//! diagnosis through a genuine resolver: names that resolve, NXDOMAIN,
//! NOERROR without addresses, and a name whose lookup never completes.
//!
//! Also a minimal hand-built DNS client ([`query`]) used to check readiness
//! and, in tests, to assert what the server answers independently of the
//! resolver under test.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{ManagedChild, require_tool};

/// Answers NXDOMAIN for every type.
pub const NX_NAME: &str = "nx.preflight.test";
/// Exists (has a TXT record) but has no A or AAAA: NOERROR, zero answers.
pub const NOADDR_NAME: &str = "noaddr.preflight.test";
/// Forwarded to a socket that never replies, so clients time out.
pub const TIMEOUT_NAME: &str = "timeout.preflight.test";

pub const TYPE_A: u16 = 1;
pub const TYPE_TXT: u16 = 16;
pub const TYPE_AAAA: u16 = 28;
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_SERVFAIL: u8 = 2;
pub const RCODE_NXDOMAIN: u8 = 3;
pub const RCODE_REFUSED: u8 = 5;

const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts at grabbing a free port; another process can take the one we
/// probed in the instant before dnsmasq binds it.
const PORT_ATTEMPTS: usize = 5;

pub struct DnsServer {
    /// UDP and TCP on 127.0.0.1.
    pub addr: SocketAddr,
    child: ManagedChild,
    /// Upstream for [`TIMEOUT_NAME`]: bound so queries are not refused by the
    /// kernel (which would end the lookup quickly), and never read.
    _blackhole: UdpSocket,
}

impl fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl DnsServer {
    /// Serves `names` (each `name → ip`, A or AAAA by address family; repeat
    /// a name for several addresses) plus the fixed [`NX_NAME`],
    /// [`NOADDR_NAME`] and [`TIMEOUT_NAME`]. Any other name is NXDOMAIN;
    /// names match exactly (no subdomains). Returns once it answers queries.
    pub fn start(names: &[(&str, IpAddr)]) -> DnsServer {
        DnsServer::launch(names, || {
            SocketAddr::from((Ipv4Addr::LOCALHOST, free_udp_and_tcp_port()))
        })
    }

    /// Like [`DnsServer::start`], but on port 53 of a loopback address of its
    /// own (127.53.x.y, 127.0.0.1 left alone), so that a `resolv.conf` can name
    /// it: `resolv.conf` has no port, and the real runtimes (containerd, podman)
    /// only read the system's resolver configuration. Needs root (port 53).
    pub fn start_on_port_53(names: &[(&str, IpAddr)]) -> DnsServer {
        DnsServer::launch(names, || {
            // Another test process may hold an address: each attempt draws a new one.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos();
            let [_, _, hi, lo] =
                (nanos ^ std::process::id().wrapping_mul(0x9e37_79b9)).to_be_bytes();
            SocketAddr::from((Ipv4Addr::new(127, 53, hi, lo.max(1)), 53))
        })
    }

    fn launch(names: &[(&str, IpAddr)], mut listen_on: impl FnMut() -> SocketAddr) -> DnsServer {
        let binary = require_tool("dnsmasq");
        let blackhole = UdpSocket::bind("127.0.0.1:0").expect("bind blackhole DNS upstream");
        let blackhole_port = blackhole.local_addr().expect("blackhole address").port();

        for attempt in 1..=PORT_ATTEMPTS {
            let addr = listen_on();
            let port = addr.port();
            let mut cmd = Command::new(&binary);
            cmd.args([
                // Foreground, not debug mode, and the log on stderr so the
                // child is ours to kill and its messages reach `log()`.
                "--keep-in-foreground",
                "--log-facility=-",
                "--log-queries",
                // Nothing from the host: no /etc/dnsmasq.conf, resolv.conf
                // upstreams or /etc/hosts, so answers depend only on us.
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--bind-interfaces",
                // Empty: no pid file to clash between parallel tests.
                "--pid-file=",
                // Stay the invoking user (root in CI) instead of switching to
                // `nobody`, which may not exist in minimal containers.
                "--user=root",
                "--cache-size=0",
            ]);
            cmd.arg(format!("--listen-address={}", addr.ip()));
            cmd.arg(format!("--port={port}"));
            // Every domain is local: never forwarded (there is no upstream),
            // so a name we did not configure is NXDOMAIN rather than
            // REFUSED, and a name with some records but not the asked type
            // is NOERROR with no answers. `--server` below is more specific
            // and still wins for the timeout name.
            cmd.arg("--local=/#/");
            // host-record (not `--address`): its names exist as a whole, so
            // an AAAA query for an A-only name gets NODATA; with `--address`
            // the other type would be forwarded and REFUSED.
            for (name, ips) in group_by_name(names) {
                cmd.arg(format!("--host-record={name},{ips}"));
            }
            cmd.arg(format!("--address=/{NX_NAME}/"));
            // A TXT record makes the name exist without any address.
            cmd.arg(format!("--txt-record={NOADDR_NAME},preflight"));
            cmd.arg(format!(
                "--server=/{TIMEOUT_NAME}/127.0.0.1#{blackhole_port}"
            ));

            let mut child = ManagedChild::spawn("dnsmasq", cmd);
            match wait_ready(&mut child, addr) {
                Ready::Yes => {
                    return DnsServer {
                        addr,
                        child,
                        _blackhole: blackhole,
                    };
                }
                Ready::PortTaken if attempt < PORT_ATTEMPTS => {}
                Ready::PortTaken | Ready::Failed => {
                    panic!("dnsmasq did not start on {addr}; log:\n{}", child.log());
                }
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// dnsmasq's last lines, including each query it logged.
    pub fn log(&self) -> String {
        self.child.log()
    }
}

/// `name → "ip1,ip2"` in first-seen order: one host-record per name.
fn group_by_name(names: &[(&str, IpAddr)]) -> Vec<(String, String)> {
    let mut grouped: Vec<(String, String)> = Vec::new();
    for (name, ip) in names {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some((_, ips)) = grouped.iter_mut().find(|(n, _)| *n == name) {
            ips.push(',');
            ips.push_str(&ip.to_string());
        } else {
            grouped.push((name, ip.to_string()));
        }
    }
    grouped
}

enum Ready {
    Yes,
    PortTaken,
    Failed,
}

fn wait_ready(child: &mut ManagedChild, addr: SocketAddr) -> Ready {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while Instant::now() < deadline {
        if child.try_exit().is_some() {
            // Give the drain threads a moment to collect the last words.
            std::thread::sleep(Duration::from_millis(50));
            return if child.log().contains("Address already in use") {
                Ready::PortTaken
            } else {
                Ready::Failed
            };
        }
        if query(addr, NX_NAME, TYPE_A, Duration::from_millis(200)).is_ok() {
            return Ready::Yes;
        }
    }
    Ready::Failed
}

fn free_udp_and_tcp_port() -> u16 {
    // dnsmasq needs the same port free for both UDP and TCP.
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind probe UDP socket");
        let port = udp.local_addr().expect("probe address").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// One resource record from an answer section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub rtype: u16,
    pub rdata: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsReply {
    pub rcode: u8,
    pub answers: Vec<DnsRecord>,
}

impl DnsReply {
    /// Addresses from the A and AAAA answers.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.answers
            .iter()
            .filter_map(|r| match (r.rtype, r.rdata.len()) {
                (TYPE_A, 4) => {
                    let b: [u8; 4] = r.rdata.as_slice().try_into().ok()?;
                    Some(IpAddr::V4(Ipv4Addr::from(b)))
                }
                (TYPE_AAAA, 16) => {
                    let b: [u8; 16] = r.rdata.as_slice().try_into().ok()?;
                    Some(IpAddr::V6(Ipv6Addr::from(b)))
                }
                _ => None,
            })
            .collect()
    }
}

/// Sends one recursive UDP query for `name`/`qtype` to `server` and waits up
/// to `timeout` for the matching reply. `Err(TimedOut)` when none comes.
pub fn query(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    timeout: Duration,
) -> std::io::Result<DnsReply> {
    use std::io::{Error, ErrorKind};

    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(server)?;
    // The ID only has to differ between concurrent queries; our own port
    // already does that, so the low bits of the clock suffice.
    let id = u16::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos()
            & 0xffff,
    )
    .unwrap_or(0);

    let mut packet = Vec::with_capacity(64);
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&0x0100u16.to_be_bytes()); // RD
    packet.extend_from_slice(&1u16.to_be_bytes()); // QDCOUNT
    packet.extend_from_slice(&[0; 6]); // AN/NS/AR counts
    for label in name.trim_end_matches('.').split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, format!("bad label in {name}")))?;
        packet.push(len);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes()); // class IN
    socket.send(&packet)?;

    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::new(
                ErrorKind::TimedOut,
                format!("no DNS reply for {name}"),
            ));
        }
        socket.set_read_timeout(Some(left))?;
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e),
        };
        if n >= 12 && buf[..2] == id.to_be_bytes() {
            return parse_reply(&buf[..n])
                .ok_or_else(|| Error::new(ErrorKind::InvalidData, "malformed DNS reply"));
        }
    }
}

fn parse_reply(msg: &[u8]) -> Option<DnsReply> {
    let rcode = msg.get(3)? & 0x0f;
    let qdcount = u16::from_be_bytes([*msg.get(4)?, *msg.get(5)?]);
    let ancount = u16::from_be_bytes([*msg.get(6)?, *msg.get(7)?]);
    let mut pos = 12;
    for _ in 0..qdcount {
        pos = skip_name(msg, pos)? + 4;
    }
    let mut answers = Vec::new();
    for _ in 0..ancount {
        pos = skip_name(msg, pos)?;
        let fixed = msg.get(pos..pos + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        pos += 10;
        let rdata = msg.get(pos..pos + rdlen)?.to_vec();
        pos += rdlen;
        answers.push(DnsRecord { rtype, rdata });
    }
    Some(DnsReply { rcode, answers })
}

/// Position just past the (possibly compressed) name starting at `pos`.
fn skip_name(msg: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            // A compression pointer ends the name in this position.
            l if l & 0xc0 == 0xc0 => return Some(pos + 2),
            l => pos += 1 + usize::from(l),
        }
    }
}
