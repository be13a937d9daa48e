//! An in-process HTTP/1.1 server driven by a closure, for what a real
//! registry can't be made to do: odd status codes, broken challenges, rate
//! limits, truncated bodies, hang-ups.
//!
//! Hand-rolled rather than built on hyper because the test binary must not
//! grow dependencies, and because a fake has to be able to misbehave (send
//! a wrong Content-Length, raw bytes, or nothing) which a correct HTTP
//! library prevents.
//!
//! Misbehaviour that takes time or volume — headers that never end, a byte a
//! second, a 1 GiB body — is a [`Tail`] after the response: streamed piece by
//! piece (never held in memory) while the fake watches for the client hanging
//! up, and recorded as a [`Streamed`] so a test can tell that the client
//! stopped reading early.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use super::pki::{CertFiles, rustls_server_config};

/// Largest request head (request line + headers) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted; blob pushes in tests are tiny.
const MAX_BODY: usize = 16 * 1024 * 1024;

type Handler = dyn Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static;

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRequest {
    pub method: String,
    /// Request target as sent: path plus `?query`.
    pub path: String,
    /// In arrival order; names lower-cased, values as sent.
    pub headers: Vec<(String, String)>,
    /// Decoded body (chunked transfer coding removed).
    pub body: Vec<u8>,
}

impl FakeRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query string.
    pub fn path_only(&self) -> &str {
        self.path
            .split_once('?')
            .map_or(self.path.as_str(), |(p, _)| p)
    }

    /// The raw query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, q)| q)
    }

    /// Everything the request carried (method, target, headers, body) as one text, to search
    /// for a secret that must not have arrived.
    pub fn as_text(&self) -> String {
        format!(
            "{} {} {:?} {}",
            self.method,
            self.path,
            self.headers,
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// What the handler wants sent back.
///
/// `status == 0` is a sentinel for misbehaviour that is not an HTTP response
/// at all: `body` is written verbatim (possibly nothing) and the connection is
/// closed. Use [`FakeResponse::hang_up`] and [`FakeResponse::raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Streamed after everything else; the connection is closed after it.
    pub tail: Option<Tail>,
}

/// Bytes sent after a response (or after [`FakeResponse::raw`] bytes), one
/// piece at a time, for as long as the client keeps the connection open.
/// Nothing here is ever allocated whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Nothing more; the connection stays open until the client closes it.
    Stall,
    /// `chunk` over and over, `total` bytes in all, as fast as the client
    /// reads (`u64::MAX`: without end).
    Repeat { chunk: Vec<u8>, total: u64 },
    /// `bytes` one at a time, `every` apart, cycling without end.
    Trickle { bytes: Vec<u8>, every: Duration },
}

/// How one [`Tail`] went, seen from the fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streamed {
    /// Tail bytes written into the socket (some may still sit in kernel
    /// buffers, unread, when the client hangs up).
    pub written: u64,
    /// The client closed the connection before the tail was done.
    pub client_closed: bool,
    /// From the start of the tail to its end.
    pub lasted: Duration,
}

impl FakeResponse {
    pub fn new(status: u16) -> FakeResponse {
        FakeResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            tail: None,
        }
    }

    /// Streams `tail` after the response, then closes the connection.
    #[must_use]
    pub fn then(mut self, tail: Tail) -> FakeResponse {
        self.tail = Some(tail);
        self
    }

    /// Adds a header. A `content-length` here is sent as given (even if it
    /// is a lie, for truncated-body tests); `connection: close` closes the
    /// connection after this response.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> FakeResponse {
        self.headers.push((name.into(), value.into()));
        self
    }

    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> FakeResponse {
        self.body = body.into();
        self
    }

    /// JSON body; sets `content-type: application/json` unless already set.
    // By value so call sites can write `.json(json!({...}))`.
    #[allow(clippy::needless_pass_by_value)]
    #[must_use]
    pub fn json(mut self, value: serde_json::Value) -> FakeResponse {
        if !self.has_header("content-type") {
            self.headers
                .push(("content-type".to_owned(), "application/json".to_owned()));
        }
        self.body = value.to_string().into_bytes();
        self
    }

    /// Close the connection without sending a single byte.
    pub fn hang_up() -> FakeResponse {
        FakeResponse::new(0)
    }

    /// Send `bytes` verbatim instead of a well-formed response, then close.
    pub fn raw(bytes: impl Into<Vec<u8>>) -> FakeResponse {
        FakeResponse::new(0).body(bytes)
    }

    fn has_header(&self, name: &str) -> bool {
        self.header_value(name).is_some()
    }

    fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The fake image every fake registry can serve whole, so that a check at the default depth
/// (`blobs`) reads what a node's pull reads: its manifest ([`manifest_ok`]), its config blob
/// (GET, verified) and its one layer (HEAD) ([`blob_ok`]). One platform, `linux/amd64`, the
/// platform a check assumes. The digests are written out so they can be used in patterns and
/// `format!`; a test below checks each is the hash of its bytes.
pub const MANIFEST: &str = concat!(
    r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
    r#""config":{"mediaType":"application/vnd.oci.image.config.v1+json","#,
    r#""digest":"sha256:c5b1d63604f273462ef36fadac3182d43ae6a6138731cf594b314835cf1c034f","size":78},"#,
    r#""layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","#,
    r#""digest":"sha256:dac1d7cfa95021764849fd102524e141488c5e3a90f861dbb5a12d9ac8584f85","size":5}]}"#,
);
/// The digest of [`MANIFEST`].
pub const DIGEST: &str = "sha256:237751b92a0f7669f719ea64cc6483e02cbb55f2e3681459177fd18732bec0db";
/// The fake image's config blob.
pub const CONFIG: &[u8] =
    br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
/// The digest of [`CONFIG`].
pub const CONFIG_DIGEST: &str =
    "sha256:c5b1d63604f273462ef36fadac3182d43ae6a6138731cf594b314835cf1c034f";
/// The fake image's one layer.
pub const LAYER: &[u8] = b"layer";
/// The digest of [`LAYER`].
pub const LAYER_DIGEST: &str =
    "sha256:dac1d7cfa95021764849fd102524e141488c5e3a90f861dbb5a12d9ac8584f85";

/// `/v2/` of a registry that lets anyone in.
pub fn v2_ok() -> FakeResponse {
    FakeResponse::new(200)
        .header("docker-distribution-api-version", "registry/2.0")
        .json(serde_json::json!({}))
}

/// A manifest answer: the fake image's OCI manifest [`MANIFEST`], digest [`DIGEST`]. A HEAD gets
/// the headers (its length included) and no body.
pub fn manifest_ok() -> FakeResponse {
    FakeResponse::new(200)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .header("docker-content-digest", DIGEST)
        .body(MANIFEST)
}

/// The fake image's config or layer when `req` asks for one (`…/blobs/DIGEST`), in any
/// repository; `None` for anything else.
pub fn blob_ok(req: &FakeRequest) -> Option<FakeResponse> {
    let digest = req.path_only().rsplit_once("/blobs/")?.1;
    let bytes = [(CONFIG_DIGEST, CONFIG), (LAYER_DIGEST, LAYER)]
        .into_iter()
        .find_map(|(d, bytes)| (d == digest).then_some(bytes))?;
    Some(
        FakeResponse::new(200)
            .header("content-type", "application/octet-stream")
            .header("docker-content-digest", digest)
            .body(bytes),
    )
}

/// The fake image, whatever is asked of it: its blobs ([`blob_ok`]), else its manifest
/// ([`manifest_ok`]), as a registry that has every tag of it.
pub fn image_ok(req: &FakeRequest) -> FakeResponse {
    blob_ok(req).unwrap_or_else(manifest_ok)
}

/// `401` with the given `WWW-Authenticate` challenge, as a registry answers a request it wants
/// credentials for, e.g. `Basic realm="reg"` or `Bearer realm="…",service="reg"`.
pub fn challenge(www_authenticate: impl Into<String>) -> FakeResponse {
    FakeResponse::new(401)
        .header("docker-distribution-api-version", "registry/2.0")
        .header("www-authenticate", www_authenticate)
}

/// What an authorized request gets from a registry that has every image: [`v2_ok`] for `/v2/`,
/// the fake image ([`image_ok`]) for anything else.
pub fn v2_or_image(req: &FakeRequest) -> FakeResponse {
    if req.path == "/v2/" {
        v2_ok()
    } else {
        image_ok(req)
    }
}

/// A running fake; stops (and frees the port) on Drop.
pub struct FakeServer {
    pub addr: SocketAddr,
    tls: bool,
    requests: Arc<Mutex<Vec<FakeRequest>>>,
    connections: Arc<AtomicUsize>,
    streams: Arc<Mutex<Vec<Streamed>>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeServer")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl FakeServer {
    /// Plain-HTTP fake. The handler runs on a blocking thread, so it may
    /// sleep to simulate a slow server without stalling other connections.
    pub fn plain(
        handler: impl Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static,
    ) -> FakeServer {
        FakeServer::start(None, Arc::new(handler))
    }

    /// HTTPS fake presenting `cert` (ALPN http/1.1 only).
    pub fn tls(
        cert: &CertFiles,
        handler: impl Fn(&FakeRequest) -> FakeResponse + Send + Sync + 'static,
    ) -> FakeServer {
        let acceptor = TlsAcceptor::from(rustls_server_config(cert));
        FakeServer::start(Some(acceptor), Arc::new(handler))
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` or `https://…`, without a trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Every request received so far, in arrival order (recorded before the
    /// handler runs, so a request is visible even if its handler panicked).
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn clear_requests(&self) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// TCP connections accepted so far; lets tests check connection reuse.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The tails streamed so far, in the order they ended. A tail still
    /// running is not here yet: see [`FakeServer::wait_streams`].
    pub fn streams(&self) -> Vec<Streamed> {
        self.streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `timeout` until `n` tails have ended, and returns them
    /// (fewer if the time ran out). The client's hang-up reaches the fake a
    /// moment after the client process is gone, hence the wait.
    pub fn wait_streams(&self, n: usize, timeout: Duration) -> Vec<Streamed> {
        let deadline = Instant::now() + timeout;
        loop {
            let streams = self.streams();
            if streams.len() >= n || Instant::now() >= deadline {
                return streams;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn start(acceptor: Option<TlsAcceptor>, handler: Arc<Handler>) -> FakeServer {
        // Bind before returning so the port is accepting as soon as the
        // caller has the address; no readiness polling needed.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake server");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("fake server address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let tls = acceptor.is_some();

        let thread = {
            let shared = Shared {
                handler,
                requests: Arc::clone(&requests),
                streams: Arc::clone(&streams),
            };
            let connections = Arc::clone(&connections);
            thread::Builder::new()
                .name(format!("fake-http-{}", addr.port()))
                .spawn(move || {
                    serve(listener, acceptor, shared, connections, shutdown_rx);
                })
                .expect("spawn fake server thread")
        };

        FakeServer {
            addr,
            tls,
            requests,
            connections,
            streams,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What every connection of one fake shares.
#[derive(Clone)]
struct Shared {
    handler: Arc<Handler>,
    requests: Arc<Mutex<Vec<FakeRequest>>>,
    streams: Arc<Mutex<Vec<Streamed>>>,
}

fn serve(
    listener: std::net::TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Shared,
    connections: Arc<AtomicUsize>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("fake server runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("register listener");
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    connections.fetch_add(1, Ordering::SeqCst);
                    let shared = shared.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        if let Some(acceptor) = acceptor {
                            // A failed handshake is often the point of the
                            // test (client rejects our certificate): drop it.
                            if let Ok(tls) = acceptor.accept(stream).await {
                                serve_connection(tls, shared).await;
                            }
                        } else {
                            serve_connection(stream, shared).await;
                        }
                    });
                }
            }
        }
    });
    // Connection tasks are cancelled here. A handler still sleeping on the
    // blocking pool is not waited for beyond this, so Drop stays quick.
    rt.shutdown_timeout(Duration::from_millis(500));
}

/// Why a connection stops being served.
enum Stop {
    /// Peer closed or I/O failed: nothing more to send.
    Gone,
    /// Malformed or oversized request: answer with this status, then close.
    Reject(u16),
}

async fn serve_connection<S>(mut stream: S, shared: Shared)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Bytes read but not consumed yet; may hold a pipelined next request.
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let (request, keep_alive) = match read_request(&mut stream, &mut buf).await {
            Ok(parsed) => parsed,
            Err(Stop::Gone) => return,
            Err(Stop::Reject(status)) => {
                let reply = format!(
                    "HTTP/1.1 {status} {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    reason(status)
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.shutdown().await;
                return;
            }
        };
        shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request.clone());

        let is_head = request.method.eq_ignore_ascii_case("HEAD");
        let response = {
            let handler = Arc::clone(&shared.handler);
            match tokio::task::spawn_blocking(move || handler(&request)).await {
                Ok(response) => response,
                // The panic message is already on stderr; make it visible
                // to the client as a server error rather than a hang.
                Err(_) => FakeResponse::new(500).body("fake handler panicked"),
            }
        };

        if response.status == 0 {
            if !response.body.is_empty() {
                let _ = stream.write_all(&response.body).await;
                let _ = stream.flush().await;
            }
            if let Some(tail) = &response.tail {
                let streamed = stream_tail(stream, tail).await;
                record(&shared.streams, streamed);
                return;
            }
            let _ = stream.shutdown().await;
            return;
        }

        let close = response.tail.is_some()
            || !keep_alive
            || response
                .header_value("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let bytes = encode_response(&response, is_head, close);
        if stream.write_all(&bytes).await.is_err() || stream.flush().await.is_err() {
            return;
        }
        if let Some(tail) = &response.tail {
            let streamed = stream_tail(stream, tail).await;
            record(&shared.streams, streamed);
            return;
        }
        if close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

fn record(streams: &Mutex<Vec<Streamed>>, streamed: Streamed) {
    streams
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(streamed);
}

/// Writes `tail` until it is done or the client hangs up. The read half is
/// watched meanwhile: a client that closes shows up as EOF at once, where a
/// write into a dead socket may succeed for a while (kernel buffers), and a
/// stall or trickle would otherwise not notice at all.
async fn stream_tail<S>(stream: S, tail: &Tail) -> Streamed
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let started = Instant::now();
    // Shared by both futures below; whichever wins, the count survives.
    let written = AtomicU64::new(0);
    let hung_up = async {
        // Anything the client still sends (a pipelined request) is ignored.
        let mut sink = [0u8; 1024];
        loop {
            match reader.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let write = async {
        match tail {
            Tail::Stall => std::future::pending::<bool>().await,
            Tail::Repeat { chunk, total } => {
                if chunk.is_empty() {
                    return true;
                }
                let mut sent = 0u64;
                while sent < *total {
                    let left = usize::try_from(*total - sent).unwrap_or(usize::MAX);
                    let piece = &chunk[..chunk.len().min(left)];
                    if writer.write_all(piece).await.is_err() {
                        return false;
                    }
                    sent += piece.len() as u64;
                    written.store(sent, Ordering::SeqCst);
                }
                let _ = writer.flush().await;
                let _ = writer.shutdown().await;
                true
            }
            Tail::Trickle { bytes, every } => {
                for byte in bytes.iter().cycle() {
                    if writer.write_all(std::slice::from_ref(byte)).await.is_err()
                        || writer.flush().await.is_err()
                    {
                        return false;
                    }
                    written.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(*every).await;
                }
                // An empty `bytes`: nothing to trickle, so just hold on.
                std::future::pending::<bool>().await
            }
        }
    };
    let finished = tokio::select! {
        () = hung_up => false,
        done = write => done,
    };
    Streamed {
        written: written.load(Ordering::SeqCst),
        client_closed: !finished,
        lasted: started.elapsed(),
    }
}

/// Reads one request; returns it and whether the client allows keep-alive.
async fn read_request<S>(stream: &mut S, buf: &mut Vec<u8>) -> Result<(FakeRequest, bool), Stop>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let head_end = loop {
        if let Some(pos) = find(buf, b"\r\n\r\n") {
            if pos > MAX_HEAD {
                return Err(Stop::Reject(431));
            }
            break pos;
        }
        if buf.len() > MAX_HEAD {
            return Err(Stop::Reject(431));
        }
        if fill(stream, buf).await? == 0 {
            return Err(Stop::Gone);
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);

    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Stop::Reject(400));
    };
    if method.is_empty() || path.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(Stop::Reject(400));
    }

    let mut headers = Vec::new();
    for line in lines {
        // Obsolete line folding is a request-smuggling vector; refuse it.
        if line.starts_with([' ', '\t']) {
            return Err(Stop::Reject(400));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Stop::Reject(400));
        };
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(Stop::Reject(400));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v): &(String, String)| v.as_str())
    };

    let connection = get("connection").unwrap_or_default().to_ascii_lowercase();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let chunked =
        get("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let length = match get("content-length") {
        _ if chunked => None,
        None => Some(0),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n > MAX_BODY => return Err(Stop::Reject(413)),
            Ok(n) => Some(n),
            Err(_) => return Err(Stop::Reject(400)),
        },
    };
    if get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) && length != Some(0) {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| Stop::Gone)?;
    }

    let body = match length {
        Some(n) => {
            while buf.len() < n {
                if fill(stream, buf).await? == 0 {
                    return Err(Stop::Gone);
                }
            }
            buf.drain(..n).collect()
        }
        None => read_chunked(stream, buf).await?,
    };

    let request = FakeRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body,
    };
    Ok((request, keep_alive))
}

async fn read_chunked<S>(stream: &mut S, buf: &mut Vec<u8>) -> Result<Vec<u8>, Stop>
where
    S: AsyncRead + Unpin,
{
    let mut body = Vec::new();
    loop {
        let line = read_line(stream, buf).await?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| Stop::Reject(400))?;
        if size == 0 {
            // Trailers, up to the empty line; their content is ignored.
            while !read_line(stream, buf).await?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(Stop::Reject(413));
        }
        while buf.len() < size + 2 {
            if fill(stream, buf).await? == 0 {
                return Err(Stop::Gone);
            }
        }
        if &buf[size..size + 2] != b"\r\n" {
            return Err(Stop::Reject(400));
        }
        body.extend(buf.drain(..size));
        buf.drain(..2);
    }
}

async fn read_line<S>(stream: &mut S, buf: &mut Vec<u8>) -> Result<String, Stop>
where
    S: AsyncRead + Unpin,
{
    loop {
        if let Some(pos) = find(buf, b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..pos]).into_owned();
            buf.drain(..pos + 2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(Stop::Reject(400));
        }
        if fill(stream, buf).await? == 0 {
            return Err(Stop::Gone);
        }
    }
}

async fn fill<S>(stream: &mut S, buf: &mut Vec<u8>) -> Result<usize, Stop>
where
    S: AsyncRead + Unpin,
{
    // Straight into the Vec's spare capacity: a stack buffer here would be
    // held in every connection's future.
    buf.reserve(16 * 1024);
    stream.read_buf(buf).await.map_err(|_| Stop::Gone)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn encode_response(response: &FakeResponse, is_head: bool, close: bool) -> Vec<u8> {
    let status = response.status;
    let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
    for (name, value) in &response.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    // Always framed by Content-Length so keep-alive works. An explicit one
    // from the handler wins (HEAD advertising a size, or deliberate lies).
    if !response.has_header("content-length") {
        out.extend_from_slice(format!("content-length: {}\r\n", response.body.len()).as_bytes());
    }
    if close && !response.has_header("connection") {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    let bodyless = is_head || (100..200).contains(&status) || status == 204 || status == 304;
    if !bodyless {
        out.extend_from_slice(&response.body);
    }
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[test]
fn the_fake_images_digests_are_the_hashes_of_its_bytes() {
    use super::seed::sha256_digest;
    assert_eq!(sha256_digest(MANIFEST.as_bytes()), DIGEST);
    assert_eq!(sha256_digest(CONFIG), CONFIG_DIGEST);
    assert_eq!(sha256_digest(LAYER), LAYER_DIGEST);
    let manifest: serde_json::Value = serde_json::from_str(MANIFEST).unwrap();
    assert_eq!(manifest["config"]["digest"], CONFIG_DIGEST);
    assert_eq!(manifest["config"]["size"], CONFIG.len());
    assert_eq!(manifest["layers"][0]["digest"], LAYER_DIGEST);
    assert_eq!(manifest["layers"][0]["size"], LAYER.len());
}
