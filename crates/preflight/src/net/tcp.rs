//! TCP connects: the `tcp` stage and the per-address report.
//!
//! The stage connects with tokio directly rather than through reqwest, which folds a refused
//! port, a black hole and a TLS problem into one opaque connect error. An `io::Error` from a
//! connect is classified here, in [`classify_connect`], and only here: the HTTP layer hands the
//! connect errors it finds inside reqwest's errors to the same function.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

/// Why no TCP connection could be made to one address.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum TcpFailure {
    /// Connection refused.
    #[error("{addr}: connection refused")]
    Refused {
        /// The address tried.
        addr: SocketAddr,
        /// The system's error.
        #[source]
        source: Arc<io::Error>,
    },
    /// The connect did not complete in time.
    #[error("{addr}: connect timed out after {waited_ms} ms")]
    Timeout {
        /// The address tried.
        addr: SocketAddr,
        /// How long we waited.
        waited_ms: u128,
        /// The system's error, when the system gave up before our deadline did.
        #[source]
        source: Option<Arc<io::Error>>,
    },
    /// No route, or any other reason the system gave.
    #[error("{addr}: {source}")]
    Unreachable {
        /// The address tried.
        addr: SocketAddr,
        /// The system's error: its words are the message.
        #[source]
        source: Arc<io::Error>,
    },
}

/// Classifies the error of a connect to `addr`.
pub(crate) fn classify_connect(addr: SocketAddr, e: io::Error) -> TcpFailure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => TcpFailure::Refused {
            addr,
            source: Arc::new(e),
        },
        io::ErrorKind::TimedOut => TcpFailure::Timeout {
            addr,
            waited_ms: 0,
            source: Some(Arc::new(e)),
        },
        _ => TcpFailure::Unreachable {
            addr,
            source: Arc::new(e),
        },
    }
}

/// Connects to the first address that answers, giving each a fair share of the time left.
pub(crate) async fn connect_any(
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), Vec<TcpFailure>> {
    let mut failures = Vec::new();
    for (i, &addr) in addrs.iter().enumerate() {
        let now = Instant::now();
        if now >= deadline {
            failures.push(TcpFailure::Timeout {
                addr,
                waited_ms: 0,
                source: None,
            });
            break;
        }
        let left = u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        let share = (deadline - now) / left;
        let attempt_deadline = now + share.max(Duration::from_secs(1)).min(deadline - now);
        match tokio::time::timeout_at(attempt_deadline, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok((stream, addr));
            }
            Ok(Err(e)) => failures.push(classify_connect(addr, e)),
            Err(_) => failures.push(TcpFailure::Timeout {
                addr,
                waited_ms: now.elapsed().as_millis(),
                source: None,
            }),
        }
    }
    Err(failures)
}
