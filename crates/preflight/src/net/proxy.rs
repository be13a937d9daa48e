//! The node's HTTP proxy: its URL, the `NO_PROXY` decision, and the `CONNECT` tunnel the `tcp`
//! stage opens through it.
//!
//! containerd and CRI-O reach registries through Go's `http.ProxyFromEnvironment`, whose rules
//! are golang.org/x/net `http/httpproxy` (`useProxy`, `init` and the matchers): [`NoProxy`]
//! follows them exactly, as a pure function of the request's host and port, so a check takes the
//! route the node's runtime takes. One proxy serves both `http` and `https` targets (the node's
//! `HTTPS_PROXY` and `HTTP_PROXY` are, in practice, the same); `https` targets go through a
//! `CONNECT host:port` tunnel with TLS end to end, `http` ones are sent to the proxy in absolute
//! form (by reqwest).
//!
//! A proxy URL may hold credentials. They are sent as `Proxy-Authorization: Basic` and never
//! shown: every message, `Debug` and detail prints the URL as `http://***@HOST:PORT`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use base64::Engine as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::net::dns::DnsFailure;
use crate::net::tcp::{self, TcpFailure};

/// The node's proxy: where it is and what bypasses it.
#[derive(Debug, Clone)]
pub(crate) struct ProxyConfig {
    pub(crate) url: ProxyUrl,
    pub(crate) no_proxy: NoProxy,
}

impl ProxyConfig {
    /// Parses `--proxy` and `--no-proxy`.
    pub(crate) fn parse(url: &str, no_proxy: &str) -> Result<ProxyConfig, ProxyUrlError> {
        Ok(ProxyConfig {
            url: ProxyUrl::parse(url)?,
            no_proxy: NoProxy::parse(no_proxy),
        })
    }

    /// The proxy a request to `url` goes through, or `None` when it goes directly.
    pub(crate) fn for_url(&self, url: &reqwest::Url) -> Option<&ProxyUrl> {
        let port = url.port_or_known_default()?;
        if !matches!(url.scheme(), "http" | "https") {
            return None;
        }
        self.for_host(url.host_str()?, port)
    }

    /// The proxy a request to `host` (as in a URL: IPv6 in brackets) on `port` goes through.
    pub(crate) fn for_host(&self, host: &str, port: u16) -> Option<&ProxyUrl> {
        self.no_proxy.uses_proxy(host, port).then_some(&self.url)
    }
}

/// A proxy URL as a configuration holds it: shown redacted, parsed only by [`ProxyUrl::parse`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RawProxyUrl(pub(crate) String);

impl fmt::Debug for RawProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_text(&self.0))
    }
}

/// Hides the user-info of a URL that may not parse: everything between `://` (or the start) and
/// the last `@` before the path.
pub(crate) fn redact_text(s: &str) -> String {
    let (scheme, rest) = s.split_once("://").map_or(("", s), |(a, b)| (a, b));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..end].rfind('@') else {
        return s.to_owned();
    };
    let sep = if scheme.is_empty() && !s.contains("://") {
        ""
    } else {
        "://"
    };
    format!("{scheme}{sep}***@{}", &rest[at + 1..])
}

/// An `http://` proxy: host, port, and the credentials sent to it (never shown).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyUrl {
    /// As in a URL: an IPv6 address in brackets.
    host: String,
    port: u16,
    auth: Option<(String, String)>,
}

/// Why a proxy URL is not usable. The value is shown redacted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyUrlError {
    /// Not a URL, or no host.
    #[error("the proxy {value:?} is not a URL of the form http://[USER:PASSWORD@]HOST[:PORT]")]
    Invalid {
        /// The value, its credentials hidden.
        value: String,
    },
    /// Another scheme than `http`.
    #[error(
        "the proxy {value:?} uses {scheme}://, but only http:// proxies are supported (an https:// target still goes through them in a CONNECT tunnel)"
    )]
    Scheme {
        /// The value, its credentials hidden.
        value: String,
        /// The scheme given.
        scheme: String,
    },
}

impl ProxyUrl {
    /// Parses a proxy URL as Go's `httpproxy.parseProxy` does: without a scheme it is
    /// `http://VALUE`; the port defaults to 80; a path is ignored.
    pub(crate) fn parse(value: &str) -> Result<ProxyUrl, ProxyUrlError> {
        let shown = redact_text(value.trim());
        let invalid = || ProxyUrlError::Invalid {
            value: shown.clone(),
        };
        let value = value.trim();
        let full = if value.contains("://") {
            value.to_owned()
        } else {
            format!("http://{value}")
        };
        let url = reqwest::Url::parse(&full).map_err(|_| invalid())?;
        if url.scheme() != "http" {
            return Err(ProxyUrlError::Scheme {
                value: shown.clone(),
                scheme: url.scheme().to_owned(),
            });
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(invalid)?;
        let auth = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            Some((
                percent_decode(url.username()),
                percent_decode(url.password().unwrap_or_default()),
            ))
        };
        Ok(ProxyUrl {
            host: host.to_owned(),
            port: url.port_or_known_default().unwrap_or(80),
            auth,
        })
    }

    /// The host without IPv6 brackets, to resolve.
    pub(crate) fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }

    /// `http://HOST:PORT`, without the credentials, for reqwest (which gets them apart).
    pub(crate) fn without_credentials(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// The user name and password, for `Proxy-Authorization: Basic`.
    pub(crate) fn credentials(&self) -> Option<(&str, &str)> {
        self.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    fn authorization(&self) -> Option<String> {
        self.credentials().map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        })
    }
}

/// `http://***@HOST:PORT` with credentials, `http://HOST:PORT` without.
impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = if self.auth.is_some() { "***@" } else { "" };
        write!(f, "http://{auth}{}:{}", self.host, self.port)
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `NO_PROXY`, parsed as Go's `httpproxy` parses it (`config.init`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NoProxy {
    all: bool,
    ips: Vec<IpMatch>,
    domains: Vec<DomainMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum IpMatch {
    Cidr { net: IpAddr, prefix: u8 },
    Ip { ip: IpAddr, port: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct DomainMatch {
    /// With a leading dot: `.example.com`.
    suffix: String,
    port: String,
    /// Also the apex (`example.com` written without a dot or `*`).
    apex: bool,
}

impl NoProxy {
    /// Parses a comma-separated list: entries trimmed and lower-cased, empty ones skipped, `*`
    /// bypasses everything, a CIDR or an IP (with a port) matches IP-literal hosts, anything else
    /// is a domain (`example.com` with its sub-domains, `.example.com` and `*.example.com` only
    /// the sub-domains), with a port when written `host:port`.
    pub(crate) fn parse(list: &str) -> NoProxy {
        let mut np = NoProxy::default();
        for entry in list.split(',') {
            let p = entry.trim().to_lowercase();
            if p.is_empty() {
                continue;
            }
            if p == "*" {
                return NoProxy {
                    all: true,
                    ..NoProxy::default()
                };
            }
            if let Some((net, prefix)) = parse_cidr(&p) {
                np.ips.push(IpMatch::Cidr { net, prefix });
                continue;
            }
            let (mut phost, pport) = match split_host_port(&p) {
                Some((h, port)) => {
                    if h.is_empty() {
                        continue;
                    }
                    (h.to_owned(), port.to_owned())
                }
                None => (p.clone(), String::new()),
            };
            if let Some(ip) = parse_ip(&phost) {
                np.ips.push(IpMatch::Ip { ip, port: pport });
                continue;
            }
            if phost.is_empty() {
                continue;
            }
            if phost.starts_with("*.") {
                phost.remove(0);
            }
            let apex = !phost.starts_with('.');
            if apex {
                phost.insert(0, '.');
            }
            np.domains.push(DomainMatch {
                suffix: idna_suffix(phost),
                port: pport,
                apex,
            });
        }
        np
    }

    /// Go's `useProxy`: whether a request to `host` (as in a URL: IPv6 in brackets) on `port`
    /// goes through the proxy. `localhost` and loopback IP literals never do; a name that
    /// resolves to a loopback address does, unless listed (no DNS is asked).
    pub(crate) fn uses_proxy(&self, host: &str, port: u16) -> bool {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return true;
        }
        if host == "localhost" {
            return false;
        }
        let ip = parse_ip(host);
        if ip.is_some_and(is_loopback) {
            return false;
        }
        if self.all {
            return false;
        }
        let host = host.trim().to_lowercase();
        let port = port.to_string();
        if let Some(ip) = ip {
            let ip = canonical(ip);
            for m in &self.ips {
                let hit = match m {
                    IpMatch::Cidr { net, prefix } => cidr_contains(*net, *prefix, ip),
                    IpMatch::Ip { ip: want, port: p } => {
                        canonical(*want) == ip && (p.is_empty() || *p == port)
                    }
                };
                if hit {
                    return false;
                }
            }
            // Domain entries never match an IP literal.
            return true;
        }
        !self.domains.iter().any(|m| {
            (host.ends_with(&m.suffix) || (m.apex && host == m.suffix[1..]))
                && (m.port.is_empty() || m.port == port)
        })
    }
}

/// Go's `idnaASCII` on a domain entry (`.bücher.example` → `.xn--bcher-kva.example`).
fn idna_suffix(dotted: String) -> String {
    if dotted.is_ascii() {
        return dotted;
    }
    reqwest::Url::parse(&format!("http://{}/", &dotted[1..]))
        .ok()
        .and_then(|u| u.host_str().map(|h| format!(".{h}")))
        .unwrap_or(dotted)
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse().ok()
}

/// IPv4-mapped IPv6 addresses are their IPv4 address, as Go's `net.IP` treats them.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    canonical(ip).is_loopback()
}

/// `ADDR/PREFIX`, as Go's `net.ParseCIDR` reads it.
fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, prefix) = s.split_once('/')?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok()?;
    let ip: IpAddr = addr.parse().ok()?;
    match ip {
        IpAddr::V4(_) if prefix <= 32 => Some((ip, prefix)),
        IpAddr::V6(v6) if prefix <= 128 => match v6.to_ipv4_mapped() {
            // An IPv4-mapped network is the IPv4 network (Go compares 4-byte forms).
            Some(v4) if prefix >= 96 => Some((IpAddr::V4(v4), prefix - 96)),
            _ => Some((ip, prefix)),
        },
        _ => None,
    }
}

fn cidr_contains(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Go's `net.SplitHostPort`: `None` where it returns an error.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let i = s.rfind(':')?;
    let (host, j, k) = if s.starts_with('[') {
        let end = s.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&s[1..end], 1, end + 1)
    } else {
        let host = &s[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if s[j..].contains('[') || s[k..].contains(']') {
        return None;
    }
    Some((host, &s[i + 1..]))
}

/// Why the proxy could not carry a connection. Every message names the proxy, credentials hidden.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum ProxyFailure {
    /// The proxy's own name did not resolve.
    #[error("the proxy {proxy} cannot be resolved: {source}")]
    Resolve {
        /// The proxy, redacted.
        proxy: String,
        /// The resolver's answer.
        #[source]
        source: DnsFailure,
    },
    /// No connection to the proxy: refused, unreachable, timed out.
    #[error("cannot connect to the proxy {proxy}: {}", describe_connect(.failures))]
    Connect {
        /// The proxy, redacted.
        proxy: String,
        /// Each address tried.
        failures: Vec<TcpFailure>,
    },
    /// The proxy answered `CONNECT` with another status than 2xx.
    #[error("the proxy {proxy} answered CONNECT {target} with {status} {reason}")]
    Refused {
        /// The proxy, redacted.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
    },
    /// The proxy refused the tunnel, as reqwest reports it (without the status).
    #[error("the proxy {proxy} did not open a tunnel to {target}: {detail}")]
    Tunnel {
        /// The proxy, redacted.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// reqwest's words.
        detail: String,
    },
    /// The answer to `CONNECT` was not HTTP, too long, or cut short.
    #[error("the proxy {proxy} answered CONNECT {target} with {detail}")]
    Malformed {
        /// The proxy, redacted.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// What was wrong.
        detail: String,
    },
    /// No answer to `CONNECT` before the deadline.
    #[error("the proxy {proxy} did not answer CONNECT {target} within {waited_ms} ms")]
    Timeout {
        /// The proxy, redacted.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// How long we waited.
        waited_ms: u128,
    },
    /// The connection to the proxy failed while asking.
    #[error("the connection to the proxy {proxy} failed during CONNECT {target}: {source}")]
    Io {
        /// The proxy, redacted.
        proxy: String,
        /// `host:port` asked for.
        target: String,
        /// The system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

fn describe_connect(failures: &[TcpFailure]) -> String {
    if failures.is_empty() {
        return "no address to connect to".to_owned();
    }
    failures
        .iter()
        .map(|f| {
            let text = f.to_string();
            // reqwest does not say which address it tried.
            match text.split_once(": ") {
                Some(("0.0.0.0:0", why)) => why.to_owned(),
                _ => text,
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The most of a `CONNECT` answer's status line and headers read.
const ANSWER_LIMIT: usize = 16 * 1024;

/// An open tunnel and what the proxy said.
#[derive(Debug)]
pub(crate) struct Tunnel {
    pub(crate) stream: TcpStream,
    /// The proxy's address connected to.
    pub(crate) proxy_addr: SocketAddr,
    /// The proxy's status line, e.g. `HTTP/1.1 200 Connection established`.
    pub(crate) status_line: String,
}

/// Connects to the proxy at one of `addrs` before `deadline`.
pub(crate) async fn connect(
    proxy: &ProxyUrl,
    addrs: &[IpAddr],
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), ProxyFailure> {
    let addrs: Vec<SocketAddr> = addrs
        .iter()
        .map(|ip| SocketAddr::new(*ip, proxy.port))
        .collect();
    tcp::connect_any(&addrs, deadline)
        .await
        .map_err(|failures| ProxyFailure::Connect {
            proxy: proxy.to_string(),
            failures,
        })
}

/// Connects to the proxy at one of `addrs` and asks it for a tunnel to `target` (`host:port`,
/// IPv6 in brackets), all before `deadline`. The stream returned carries the target's bytes.
pub(crate) async fn tunnel(
    proxy: &ProxyUrl,
    addrs: &[IpAddr],
    target: &str,
    deadline: Instant,
) -> Result<Tunnel, ProxyFailure> {
    let (mut stream, proxy_addr) = connect(proxy, addrs, deadline).await?;
    let started = Instant::now();
    let mut request = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: preflight/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Some(auth) = proxy.authorization() {
        request.push_str("Proxy-Authorization: ");
        request.push_str(&auth);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        read_head(&mut stream).await
    };
    let head = match tokio::time::timeout_at(deadline, exchange).await {
        Err(_) => {
            return Err(ProxyFailure::Timeout {
                proxy: proxy.to_string(),
                target: target.to_owned(),
                waited_ms: started.elapsed().as_millis(),
            });
        }
        Ok(Err(e)) => {
            return Err(ProxyFailure::Io {
                proxy: proxy.to_string(),
                target: target.to_owned(),
                source: Arc::new(e),
            });
        }
        Ok(Ok(head)) => head,
    };
    let malformed = |detail: String| ProxyFailure::Malformed {
        proxy: proxy.to_string(),
        target: target.to_owned(),
        detail,
    };
    let head = match head {
        Head::Complete(h) => h,
        Head::Closed(seen) if seen.is_empty() => {
            return Err(malformed("nothing: it closed the connection".to_owned()));
        }
        Head::Closed(_) => {
            return Err(malformed(
                "an answer cut short: it closed the connection".to_owned(),
            ));
        }
        Head::TooLong => {
            return Err(malformed(format!(
                "headers longer than {ANSWER_LIMIT} bytes"
            )));
        }
    };
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or_default().trim().to_owned();
    let Some((status, reason)) = parse_status_line(&status_line) else {
        return Err(malformed(format!(
            "something that is not HTTP ({:?})",
            status_line.chars().take(60).collect::<String>()
        )));
    };
    if !(200..300).contains(&status) {
        return Err(ProxyFailure::Refused {
            proxy: proxy.to_string(),
            target: target.to_owned(),
            status,
            reason,
        });
    }
    Ok(Tunnel {
        stream,
        proxy_addr,
        status_line,
    })
}

enum Head {
    Complete(Vec<u8>),
    Closed(Vec<u8>),
    TooLong,
}

/// Reads up to the blank line that ends the headers, one byte at a time: nothing of the tunnel's
/// own bytes may be read here (a server that speaks first would lose them).
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Head> {
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    loop {
        if stream.read(&mut byte).await? == 0 {
            return Ok(Head::Closed(head));
        }
        head.push(byte[0]);
        if head.ends_with(b"\r\n\r\n") || head.ends_with(b"\n\n") {
            return Ok(Head::Complete(head));
        }
        if head.len() >= ANSWER_LIMIT {
            return Ok(Head::TooLong);
        }
    }
}

/// `HTTP/1.x NNN reason` → status and reason.
fn parse_status_line(line: &str) -> Option<(u16, String)> {
    let rest = line.strip_prefix("HTTP/1.")?;
    let (_, rest) = rest.split_once(' ')?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    if code.len() != 3 {
        return None;
    }
    let status = code.parse().ok()?;
    Some((status, reason.trim().to_owned()))
}

/// `host:port` of a target, IPv6 in brackets (as `Endpoint::host` holds it or bare).
pub(crate) fn target_authority(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `httpproxy` tests (`proxy_test.go` `UseProxyTests` and friends) and the rules of
    /// `runtime-rules.md` §8.
    #[test]
    fn no_proxy_table() {
        let cases: &[(&str, &str, u16, bool)] = &[
            // (NO_PROXY, host, port, proxied)
            ("", "registry.example.com", 443, true),
            ("", "localhost", 5000, false),
            ("", "127.0.0.1", 5000, false),
            ("", "127.9.9.9", 443, false),
            ("", "[::1]", 5000, false),
            ("", "[::ffff:127.0.0.1]", 5000, false),
            // A name that resolves to loopback is proxied: no DNS is asked.
            ("", "registry.localtest.me", 443, true),
            ("", "10.1.2.3", 443, true),
            ("*", "registry.example.com", 443, false),
            ("*", "10.1.2.3", 80, false),
            ("a.com, *", "registry.example.com", 443, false),
            // Domains: apex and sub-domains.
            ("example.com", "example.com", 443, false),
            ("example.com", "registry.example.com", 443, false),
            ("example.com", "notexample.com", 443, true),
            ("Example.COM ", "registry.example.com", 443, false),
            // Leading dot or `*.`: sub-domains only.
            (".example.com", "example.com", 443, true),
            (".example.com", "registry.example.com", 443, false),
            ("*.example.com", "example.com", 443, true),
            ("*.example.com", "a.b.example.com", 443, false),
            // host:port requires the port; the request's is canonical (443 / 80).
            ("example.com:5000", "registry.example.com", 5000, false),
            ("example.com:5000", "registry.example.com", 443, true),
            ("example.com:443", "registry.example.com", 443, false),
            // IPs and CIDRs match IP literals only.
            ("10.0.0.0/8", "10.1.2.3", 443, false),
            ("10.0.0.0/8", "11.1.2.3", 443, true),
            ("10.0.0.0/8", "ten.example.com", 443, true),
            ("10.1.2.3", "10.1.2.3", 443, false),
            ("10.1.2.3:5000", "10.1.2.3", 5000, false),
            ("10.1.2.3:5000", "10.1.2.3", 443, true),
            ("fd00::/8", "[fd00::1]", 443, false),
            ("fd00::/8", "[fe80::1]", 443, true),
            ("[fd00::1]:5000", "[fd00::1]", 5000, false),
            ("fd00::1", "[fd00::1]", 443, false),
            ("10.0.0.0/8", "[::ffff:10.0.0.1]", 443, false),
            // Domain entries never match an IP literal.
            ("1.2.3.4.example", "1.2.3.4", 443, true),
            // Malformed entries are skipped, not fatal.
            (
                ":80, [, ]:, registry.example.com",
                "registry.example.com",
                443,
                false,
            ),
            (",,, ", "registry.example.com", 443, true),
        ];
        for (list, host, port, want) in cases {
            let got = NoProxy::parse(list).uses_proxy(host, *port);
            assert_eq!(got, *want, "NO_PROXY={list:?} {host}:{port}");
        }
    }

    #[test]
    fn config_decides_per_url() {
        let c = ProxyConfig::parse("proxy.internal:3128", "registry.internal").unwrap();
        let url = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(c.for_url(&url("https://registry.internal/v2/")).is_none());
        assert!(c.for_url(&url("https://auth.example.com/token")).is_some());
        assert!(c.for_url(&url("http://127.0.0.1:5000/v2/")).is_none());
        assert!(c.for_url(&url("http://localhost:5000/v2/")).is_none());
        assert!(c.for_url(&url("http://s3.example.com/blob")).is_some());
    }

    #[test]
    fn proxy_urls() {
        let p = ProxyUrl::parse("proxy.internal:3128").unwrap();
        assert_eq!(p.to_string(), "http://proxy.internal:3128");
        let p = ProxyUrl::parse("http://proxy.internal").unwrap();
        assert_eq!(p.port, 80);
        let p = ProxyUrl::parse("http://us%40r:p%3Ass@proxy:3128/").unwrap();
        assert_eq!(p.to_string(), "http://***@proxy:3128");
        assert_eq!(format!("{p:?}"), "ProxyUrl(http://***@proxy:3128)");
        assert_eq!(p.credentials(), Some(("us@r", "p:ss")));
        assert_eq!(p.without_credentials(), "http://proxy:3128");
        let p = ProxyUrl::parse("http://[fd00::1]:3128").unwrap();
        assert_eq!(p.bare_host(), "fd00::1");
        assert_eq!(p.to_string(), "http://[fd00::1]:3128");

        let e = ProxyUrl::parse("https://user:hunter2@proxy:3128").unwrap_err();
        assert!(matches!(e, ProxyUrlError::Scheme { .. }), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(e.to_string().contains("https://***@proxy:3128"), "{e}");
        let e = ProxyUrl::parse("socks5://proxy:1080").unwrap_err();
        assert!(matches!(e, ProxyUrlError::Scheme { .. }), "{e}");
        let e = ProxyUrl::parse("http://user:hunter2@").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = ProxyUrl::parse("http://us er:hunter2@pro xy:99999").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn redaction() {
        for (raw, shown) in [
            ("http://u:p@proxy:3128", "http://***@proxy:3128"),
            ("u:p@proxy:3128", "***@proxy:3128"),
            ("http://proxy:3128", "http://proxy:3128"),
            ("http://u:p@proxy:3128/x@y", "http://***@proxy:3128/x@y"),
            ("http://u:p@q@proxy", "http://***@proxy"),
        ] {
            assert_eq!(redact_text(raw), shown, "{raw}");
        }
        assert_eq!(
            format!("{:?}", RawProxyUrl("http://u:secret@p:1".into())),
            "\"http://***@p:1\""
        );
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line("HTTP/1.1 200 Connection established"),
            Some((200, "Connection established".to_owned()))
        );
        assert_eq!(
            parse_status_line("HTTP/1.0 403 Forbidden"),
            Some((403, "Forbidden".to_owned()))
        );
        assert_eq!(
            parse_status_line("HTTP/1.1 200"),
            Some((200, String::new()))
        );
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1 20x OK"), None);
    }

    #[test]
    fn split_host_port_like_go() {
        assert_eq!(split_host_port("a.com:80"), Some(("a.com", "80")));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", "80")));
        assert_eq!(split_host_port("a.com:"), Some(("a.com", "")));
        assert_eq!(split_host_port("a.com"), None);
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("[::1]"), None);
        assert_eq!(split_host_port("[::1]x:80"), None);
    }

    proptest::proptest! {
        /// Any list and any host: a decision, never a panic.
        #[test]
        fn never_panics(list in ".{0,64}", host in ".{0,32}", port: u16) {
            let _ = NoProxy::parse(&list).uses_proxy(&host, port);
            let _ = ProxyUrl::parse(&list);
            let _ = redact_text(&list);
            let _ = parse_status_line(&host);
        }
    }
}
