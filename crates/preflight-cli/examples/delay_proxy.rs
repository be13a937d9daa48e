//! A TCP proxy that adds network latency in user space, for benchmarks on loopback where kernel
//! netem is not available (used by `scripts/bench-compare.sh --rtt MS`).
//!
//! ```text
//! delay_proxy LISTEN_ADDR UPSTREAM_ADDR DELAY_MS     e.g. delay_proxy 127.0.0.1:0 127.0.0.1:5000 10
//! ```
//!
//! It prints the address it listens on as the first line of stdout, then serves until killed.
//! DELAY is the one-way delay (it may have a fraction); the round trip is RTT = 2 × DELAY:
//! - every chunk read from either side is written to the other side DELAY after it was read, in
//!   order; chunks in flight are not limited by round trips (only by a bounded queue), so
//!   pipelining and throughput are kept, and a request and its response on an established
//!   connection cost exactly one RTT;
//! - a new connection costs one more RTT, like TCP's handshake before the client's first byte
//!   can leave: the client's connect returns at once (loopback), but nothing is read from either
//!   side until 2 × DELAY after the accept, so bytes the client sent earlier leave as if sent at
//!   the end of the handshake: the first request on a new connection costs two RTTs. The
//!   upstream connection is made at once and adds no delay of its own.
//!
//! Tokio's timers have millisecond granularity, so each delay may be up to about 1 ms longer.
//! An EOF is passed on (shutdown of the write side) after the last delayed chunk; an error on
//! either connection closes both.

use std::io::{self, Write as _};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

/// Chunks queued in each direction; with reads of at most `CHUNK` bytes, at most 16 MiB in flight.
const QUEUE: usize = 1024;
const CHUNK: usize = 16 * 1024;

#[tokio::main]
async fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, upstream, delay] = args.as_slice() else {
        usage()
    };
    let delay = match delay.parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms >= 0.0 => Duration::from_secs_f64(ms / 1000.0),
        _ => usage(),
    };
    let listener = TcpListener::bind(listen).await?;
    println!("{}", listener.local_addr()?);
    io::stdout().flush()?;
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(client, &upstream, delay).await {
                        eprintln!("delay_proxy: {e}");
                    }
                });
            }
            // Out of descriptors, say: keep serving the connections already open, and retry.
            Err(e) => {
                eprintln!("delay_proxy: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: delay_proxy LISTEN_ADDR UPSTREAM_ADDR DELAY_MS");
    std::process::exit(2);
}

/// Proxies one connection until both directions have ended, or either fails.
async fn serve(client: TcpStream, upstream: &str, delay: Duration) -> io::Result<()> {
    let handshake_done = Instant::now() + 2 * delay;
    let server = TcpStream::connect(upstream).await?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    sleep_until(handshake_done).await;
    // The first error drops every half, which closes both connections.
    tokio::try_join!(
        pipe(client_read, server_write, delay),
        pipe(server_read, client_write, delay)
    )?;
    Ok(())
}

/// Copies `from` to `to`, each chunk `delay` after it was read, then shuts `to` down.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) -> io::Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let read = async move {
        let mut buf = vec![0; CHUNK];
        loop {
            let n = from.read(&mut buf).await?;
            // At EOF, returning drops `tx`: the writer ends after the chunks still queued.
            let chunk = (Instant::now() + delay, buf[..n].to_vec());
            if n == 0 || tx.send(chunk).await.is_err() {
                return io::Result::Ok(());
            }
        }
    };
    let write = async move {
        while let Some((deliver_at, bytes)) = rx.recv().await {
            sleep_until(deliver_at).await;
            to.write_all(&bytes).await?;
        }
        to.shutdown().await
    };
    tokio::try_join!(read, write)?;
    Ok(())
}
