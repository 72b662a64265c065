//! TCP: length-prefixed frames (4 bytes, big-endian, then the frame).
//!
//! Outgoing, one writer task per destination owns the connection: opened
//! lazily on the first frame, reused, re-established after a break with
//! exponential backoff. While no connection can be had, frames are dropped
//! and counted (`no_connection`); a failed write counts the frames it held
//! (`connection_broken`); a destination that falls more than
//! [`QUEUE_LIMIT`] bytes behind loses further frames (`queue_overflow`).
//! The writer also watches its connection for the peer closing it (peers
//! never write on connections they accepted), so a dead peer is noticed
//! before the next frame is written into the void.
//!
//! Incoming, a listener accepts up to [`MAX_INBOUND`] connections; each is
//! read frame by frame, decoded on its own task and handed to the driver.
//! A length above the wire limit (`oversized`) or a stream that ends inside
//! a frame (`truncated`) closes that connection, counted; a frame that does
//! not decode is counted and the stream goes on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout};
use trellis_frames::Transport;
use trellis_wire::MAX_FRAME;

use crate::config::NetError;
use crate::inbound::Inbound;
use crate::stats::Counters;
use crate::warning::Warning;

/// Bytes queued for one destination before further frames are dropped.
pub const QUEUE_LIMIT: u64 = 64 << 20;
/// Inbound connections served at once; more are closed and counted.
pub const MAX_INBOUND: usize = 256;
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A write that makes no progress this long breaks the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A frame must arrive whole within this time once it has begun.
const FRAME_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames written with one system call, at most this many bytes.
const WRITE_BATCH: usize = 1 << 20;

pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, NetError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NetError::Bind {
            transport: Transport::Tcp,
            addr,
            source,
        })
}

/// Accept connections and read frames from each.
pub(crate) async fn listen(listener: TcpListener, inbound: Inbound) {
    let counters = inbound.counters();
    let slots = Arc::new(Semaphore::new(MAX_INBOUND));
    // Readers live in a set, so stopping the listener stops them too.
    let mut readers = JoinSet::new();
    loop {
        // Reap finished readers as we go.
        while readers.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, _from)) => match slots.clone().try_acquire_owned() {
                Ok(permit) => {
                    counters.lock().inbound_connections += 1;
                    let _ = stream.set_nodelay(true);
                    let inbound = inbound.clone();
                    readers.spawn(async move {
                        read_frames(stream, inbound).await;
                        drop(permit);
                    });
                }
                Err(_) => {
                    counters.lock().inbound_refused += 1;
                    drop(stream);
                }
            },
            Err(_) => {
                // Out of file descriptors and the like: wait, carry on.
                counters.lock().receive_errors += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Read length-prefixed frames until the stream ends or breaks.
pub(crate) async fn read_frames(stream: TcpStream, inbound: Inbound) {
    let counters = inbound.counters();
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    let mut len = [0u8; 4];
    let mut buf = Vec::new();
    loop {
        // Between frames, the end of the stream is a clean close.
        match r.read(&mut len[..1]).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => {
                counters.lock().receive_errors += 1;
                return;
            }
        }
        if !matches!(
            timeout(FRAME_TIMEOUT, r.read_exact(&mut len[1..])).await,
            Ok(Ok(_))
        ) {
            counters.lock().decode_error("truncated");
            return;
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_FRAME {
            counters.lock().decode_error("oversized");
            return;
        }
        // Grow the buffer as bytes arrive, not to what the prefix claims.
        buf.clear();
        let read = timeout(FRAME_TIMEOUT, (&mut r).take(n as u64).read_to_end(&mut buf)).await;
        if !matches!(read, Ok(Ok(k)) if k == n) {
            counters.lock().decode_error("truncated");
            return;
        }
        if !inbound.frame(&buf, n + 4).await {
            return;
        }
        if buf.capacity() > 4 * WRITE_BATCH {
            buf = Vec::new();
        }
    }
}

/// Frames queued for one destination and not yet written or counted lost.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub frames: AtomicU64,
    pub tuples: AtomicU64,
    pub bytes: AtomicU64,
}

impl Queue {
    fn add(&self, tuples: u64, bytes: u64) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.tuples.fetch_add(tuples, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn sub(&self, frames: u64, tuples: u64, bytes: u64) {
        self.frames.fetch_sub(frames, Ordering::Relaxed);
        self.tuples.fetch_sub(tuples, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

pub(crate) struct Outgoing {
    bytes: Vec<u8>,
    tuples: u64,
}

/// The sending side of one destination.
pub(crate) struct Peer {
    pub tx: mpsc::UnboundedSender<Outgoing>,
    pub queue: Arc<Queue>,
    pub handle: JoinHandle<()>,
}

impl Peer {
    pub fn spawn(
        destination: Arc<str>,
        counters: Counters,
        warnings: mpsc::UnboundedSender<Warning>,
    ) -> Peer {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue::default());
        let handle = tokio::spawn(write_frames(
            destination,
            rx,
            queue.clone(),
            counters,
            warnings,
        ));
        Peer { tx, queue, handle }
    }

    /// Queue a frame; false when it was dropped (queue full or writer gone),
    /// already counted.
    pub fn send(&self, bytes: Vec<u8>, tuples: u64, counters: &Counters) -> bool {
        let len = bytes.len() as u64;
        if self.queue.bytes.load(Ordering::Relaxed) + len > QUEUE_LIMIT {
            counters.lock().lose("queue_overflow", 1, tuples);
            return false;
        }
        self.queue.add(tuples, len);
        if self.tx.send(Outgoing { bytes, tuples }).is_err() {
            self.queue.sub(1, tuples, len);
            counters.lock().lose("shutdown", 1, tuples);
            return false;
        }
        true
    }
}

enum Wake {
    Frame(Option<Outgoing>),
    Closed(String),
}

async fn write_frames(
    destination: Arc<str>,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    queue: Arc<Queue>,
    counters: Counters,
    warnings: mpsc::UnboundedSender<Warning>,
) {
    let mut conn: Option<TcpStream> = None;
    let mut backoff = INITIAL_BACKOFF;
    let mut retry_at: Option<Instant> = None;
    let mut troubled = false;
    let mut buf: Vec<u8> = Vec::new();
    let mut probe = [0u8; 64];
    let mut batch: Vec<Outgoing> = Vec::new();
    loop {
        let wake = match conn.as_mut() {
            Some(stream) => tokio::select! {
                f = rx.recv() => Wake::Frame(f),
                r = stream.read(&mut probe) => match r {
                    Ok(0) => Wake::Closed("closed by the peer".into()),
                    Ok(_) => continue, // peers do not write here; ignore
                    Err(e) => Wake::Closed(e.to_string()),
                },
            },
            None => Wake::Frame(rx.recv().await),
        };
        let first = match wake {
            Wake::Frame(Some(f)) => f,
            Wake::Frame(None) => break,
            Wake::Closed(reason) => {
                conn = None;
                troubled = true;
                counters.lock().connections_lost += 1;
                let _ = warnings.send(Warning::ConnectionLost {
                    destination: destination.clone(),
                    error: reason,
                });
                continue;
            }
        };
        batch.clear();
        let mut size = first.bytes.len();
        batch.push(first);
        while size < WRITE_BATCH {
            match rx.try_recv() {
                Ok(f) => {
                    size += f.bytes.len();
                    batch.push(f);
                }
                Err(_) => break,
            }
        }
        let frames = batch.len() as u64;
        let tuples: u64 = batch.iter().map(|f| f.tuples).sum();
        let bytes: u64 = batch.iter().map(|f| f.bytes.len() as u64).sum();

        if conn.is_none() {
            if retry_at.is_some_and(|t| Instant::now() < t) {
                counters.lock().lose("no_connection", frames, tuples);
                queue.sub(frames, tuples, bytes);
                continue;
            }
            match timeout(CONNECT_TIMEOUT, TcpStream::connect(&*destination)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    conn = Some(stream);
                    backoff = INITIAL_BACKOFF;
                    retry_at = None;
                    counters.lock().connections_opened += 1;
                    if troubled {
                        troubled = false;
                        let _ = warnings.send(Warning::Reconnected {
                            destination: destination.clone(),
                        });
                    }
                }
                failed => {
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".to_string(),
                    };
                    {
                        let mut c = counters.lock();
                        c.connect_failures += 1;
                        c.lose("no_connection", frames, tuples);
                    }
                    queue.sub(frames, tuples, bytes);
                    let _ = warnings.send(Warning::ConnectFailed {
                        destination: destination.clone(),
                        error,
                        retry_in: backoff,
                    });
                    troubled = true;
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        let Some(stream) = conn.as_mut() else {
            continue;
        };
        buf.clear();
        for f in &batch {
            buf.extend_from_slice(&(f.bytes.len() as u32).to_be_bytes());
            buf.extend_from_slice(&f.bytes);
        }
        let written = timeout(WRITE_TIMEOUT, stream.write_all(&buf)).await;
        match written {
            Ok(Ok(())) => {
                let mut c = counters.lock();
                c.frames_sent += frames;
                c.tuples_sent += tuples;
                c.bytes_sent += buf.len() as u64;
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "write timed out".to_string(),
                };
                conn = None;
                troubled = true;
                retry_at = None;
                {
                    let mut c = counters.lock();
                    c.connections_lost += 1;
                    c.lose("connection_broken", frames, tuples);
                }
                let _ = warnings.send(Warning::ConnectionLost {
                    destination: destination.clone(),
                    error,
                });
            }
        }
        queue.sub(frames, tuples, bytes);
        if buf.capacity() > 4 * WRITE_BATCH {
            buf = Vec::new();
        }
    }
    if let Some(mut stream) = conn {
        let _ = stream.shutdown().await;
    }
}
