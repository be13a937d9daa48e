//! Loopback endpoints that fail at the TCP level: refused, connect that
//! never completes, and connected-but-silent. Each maps to a distinct
//! diagnosis, and none can be produced by a well-behaved server.

use std::fmt;
use std::io::{ErrorKind, Read as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A loopback port with nothing listening, so connects are refused at once.
///
/// Bound and released: the kernel does not hand the same ephemeral port out
/// again right away, so the window for another process to grab it is tiny.
pub fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind probe listener");
    listener.local_addr().expect("probe address").port()
}

/// A listener whose accept queue is full, so new connects hang (SYNs are
/// dropped) until the client's connect timeout fires.
///
/// Loopback has no unroutable address to point at, and the private ranges
/// are off limits here, so the hang is made locally: `listen(0)` leaves room
/// for a single queued connection, which we fill and never accept.
pub struct BlackHole {
    pub addr: SocketAddr,
    _listener: TcpListener,
    /// Queued, never accepted; kept open so the queue stays full.
    fillers: Vec<TcpStream>,
}

impl fmt::Debug for BlackHole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlackHole")
            .field("addr", &self.addr)
            .field("fillers", &self.fillers.len())
            .finish_non_exhaustive()
    }
}

impl BlackHole {
    pub fn new() -> BlackHole {
        BlackHole::bound_to([127, 0, 0, 1])
    }

    /// A black hole on one port of every loopback address (127.x.y.z): as many black-holed
    /// "registries" as the tests want from one listener. `addr` is its 127.0.0.1 side.
    pub fn every_loopback_address() -> BlackHole {
        BlackHole::bound_to([0, 0, 0, 0])
    }

    fn bound_to(ip: [u8; 4]) -> BlackHole {
        let listener = listen_with_backlog_zero(ip);
        let port = listener.local_addr().expect("black hole address").port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut fillers = Vec::new();
        // Connect until one attempt stalls: that proves the queue is full.
        // The bound keeps a kernel that behaves differently from looping.
        for _ in 0..8 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                Ok(stream) => fillers.push(stream),
                Err(e) if e.kind() == ErrorKind::TimedOut => {
                    return BlackHole {
                        addr,
                        _listener: listener,
                        fillers,
                    };
                }
                Err(e) => panic!("filling black hole accept queue: {e}"),
            }
        }
        panic!(
            "accept queue of {addr} never filled after {} connects",
            fillers.len()
        );
    }
}

impl Default for BlackHole {
    fn default() -> Self {
        BlackHole::new()
    }
}

fn listen_with_backlog_zero(ip: [u8; 4]) -> TcpListener {
    // std always listens with a large backlog; tokio's TcpSocket lets us pick
    // it. Registering with tokio needs a runtime, hence the throw-away one;
    // the listener is turned back into a std one before it goes away.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime for listen(0)");
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("create socket");
        socket
            .bind(SocketAddr::from((ip, 0)))
            .expect("bind black hole");
        let listener = socket.listen(0).expect("listen(0)");
        listener.into_std().expect("tokio listener into std")
    })
}

/// Accepts TCP connections and never sends a byte (nor closes them until
/// dropped): a TLS server that stalls mid-handshake, or a registry that
/// never answers. What the clients send is read and kept (the first
/// [`RECEIVED_MAX`] bytes of each connection), so a test can show that the
/// server really got, say, a `ClientHello` and stalled after it.
pub struct Silent {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

/// How much of each connection's input a [`Silent`] keeps.
pub const RECEIVED_MAX: usize = 16 * 1024;

impl fmt::Debug for Silent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Silent")
            .field("addr", &self.addr)
            .field("accepted", &self.connections())
            .finish_non_exhaustive()
    }
}

impl Silent {
    pub fn new() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind silent listener");
        let addr = listener.local_addr().expect("silent address");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let held = Arc::new(Mutex::new(Vec::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, accepted, held, received) = (
                Arc::clone(&stop),
                Arc::clone(&accepted),
                Arc::clone(&held),
                Arc::clone(&received),
            );
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        accepted.fetch_add(1, Ordering::SeqCst);
                        if let Ok(reader) = stream.try_clone() {
                            keep_input(reader, &received, &stop);
                        }
                        // Held, not dropped: closing would end the client's
                        // wait with EOF instead of a timeout.
                        held.lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(stream);
                    }
                }
            })
        };
        Silent {
            addr,
            stop,
            accepted,
            held,
            received,
            thread: Some(thread),
        }
    }

    /// Connections accepted so far (proves the client got past connect).
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// What each connection has sent so far, in order of acceptance.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Reads what one connection sends into a new slot of `received`, on its own
/// thread, until the peer closes, [`RECEIVED_MAX`] bytes are kept, or `stop`.
/// Reading never answers: the peer still waits for a reply that never comes.
fn keep_input(mut reader: TcpStream, received: &Arc<Mutex<Vec<Vec<u8>>>>, stop: &Arc<AtomicBool>) {
    let slot = {
        let mut all = received.lock().unwrap_or_else(PoisonError::into_inner);
        all.push(Vec::new());
        all.len() - 1
    };
    let (received, stop) = (Arc::clone(received), Arc::clone(stop));
    // The timeout only lets the thread see `stop`; the connection stays open.
    let _ = reader.set_read_timeout(Some(Duration::from_millis(100)));
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut kept = 0;
        while kept < RECEIVED_MAX && !stop.load(Ordering::SeqCst) {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let n = n.min(RECEIVED_MAX - kept);
                    kept += n;
                    received.lock().unwrap_or_else(PoisonError::into_inner)[slot]
                        .extend_from_slice(&buf[..n]);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
    });
}

impl Default for Silent {
    fn default() -> Self {
        Silent::new()
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}
