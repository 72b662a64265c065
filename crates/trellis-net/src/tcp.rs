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
//! Incoming, a listener accepts up to [`NetLimits::inbound`] connections;
//! when they are all taken, a new one closes the oldest that has not yet
//! sent a frame that decoded (with the cluster key, if any: one that has
//! not authenticated), and is refused if there is none. Each is read frame
//! by frame, decoded on its own task and handed to the driver. A
//! connection with no frame begun for [`NetLimits::idle_timeout`] is
//! closed, as is one whose frame does not arrive whole within
//! [`NetLimits::frame_timeout`] (`frame_timeout`); a length above the wire
//! limit (`oversized`) or a stream that ends inside a frame (`truncated`)
//! closes it too, counted; a frame that does not decode is counted and the
//! stream goes on. A frame up to [`SMALL_FRAME`] is read into the
//! connection's own buffer; a larger one first takes its length from the
//! budget all connections share ([`NetLimits::reading`]). When the peer
//! ends the stream between frames, the node answers [`ACK`] and how many
//! frames it took, which `trellis inject` waits for.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout, timeout_at};
use trellis_frames::Transport;
use trellis_wire::MAX_FRAME;

use crate::budget::{Budget, Share};
use crate::config::{NetError, NetLimits, SMALL_FRAME};
use crate::inbound::{Delivery, Inbound};
use crate::stats::Counters;
use crate::warning::Warning;

/// Bytes queued for one destination before further frames are dropped.
pub const QUEUE_LIMIT: u64 = 64 << 20;
/// What a node writes when an inbound stream ends between frames, followed
/// by the number of frames it took (4 bytes, big-endian).
pub const ACK: &[u8; 4] = b"TRLA";
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A write that makes no progress this long breaks the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Frames written with one system call, at most this many bytes.
const WRITE_BATCH: usize = 1 << 20;
/// Each inbound connection's read buffer.
const READ_BUFFER: usize = 64 << 10;

pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, NetError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NetError::Bind {
            transport: Transport::Tcp,
            addr,
            source,
        })
}

/// One inbound connection, as the listener sees it.
#[derive(Default)]
struct Slot {
    /// A frame from this peer decoded (with the key, if any).
    proven: AtomicBool,
    /// Asked to close, to make room.
    evicted: AtomicBool,
    evict: Notify,
}

/// Accept connections and read frames from each.
pub(crate) async fn listen(listener: TcpListener, inbound: Inbound, limits: NetLimits) {
    let counters = inbound.counters().clone();
    let reading = Budget::new(limits.reading);
    // In accept order; a reader holds its slot while it runs.
    let mut open: VecDeque<Arc<Slot>> = VecDeque::new();
    // Readers live in a set, so stopping the listener stops them too.
    let mut readers = JoinSet::new();
    loop {
        // Reap finished readers as we go.
        while readers.try_join_next().is_some() {}
        match listener.accept().await {
            Ok((stream, _from)) => {
                open.retain(|s| Arc::strong_count(s) > 1);
                let serving = open
                    .iter()
                    .filter(|s| !s.evicted.load(Ordering::Relaxed))
                    .count();
                if serving >= limits.inbound {
                    let victim = open.iter().find(|s| {
                        !s.proven.load(Ordering::Relaxed) && !s.evicted.load(Ordering::Relaxed)
                    });
                    let Some(victim) = victim else {
                        counters.lock().inbound_refused += 1;
                        drop(stream);
                        continue;
                    };
                    victim.evicted.store(true, Ordering::Relaxed);
                    victim.evict.notify_one();
                    counters.lock().inbound_evicted += 1;
                }
                counters.lock().inbound_connections += 1;
                let _ = stream.set_nodelay(true);
                let slot = Arc::new(Slot::default());
                open.push_back(slot.clone());
                let reader = Reader {
                    inbound: inbound.clone(),
                    limits,
                    reading: reading.clone(),
                    slot,
                };
                readers.spawn(reader.run(stream));
            }
            Err(_) => {
                // Out of file descriptors and the like: wait, carry on.
                counters.lock().receive_errors += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// What reading the next frame came to.
enum Step {
    /// A whole frame of this many bytes, and its share of the reading
    /// budget if it needed one.
    Frame(usize, Option<Share>),
    /// The stream ended between frames.
    End,
    /// No frame begun within the idle timeout.
    Idle,
    /// Closed to make room for another peer.
    Evicted,
    /// Dropped, counted as a decode error of this kind.
    Dropped(&'static str),
    /// The socket failed.
    Failed,
}

struct Reader {
    inbound: Inbound,
    limits: NetLimits,
    reading: Budget,
    slot: Arc<Slot>,
}

impl Reader {
    /// Read length-prefixed frames until the stream ends, breaks, idles or
    /// is closed to make room.
    async fn run(self, stream: TcpStream) {
        let counters = self.inbound.counters().clone();
        let mut r = BufReader::with_capacity(READ_BUFFER, stream);
        let mut buf = Vec::new();
        let mut taken: u32 = 0;
        loop {
            let step = tokio::select! {
                biased;
                _ = self.slot.evict.notified() => Step::Evicted,
                step = self.next_frame(&mut r, &mut buf) => step,
            };
            match step {
                Step::Frame(n, share) => {
                    match self.inbound.frame(&buf, n + 4, Transport::Tcp).await {
                        Delivery::Taken => {
                            taken = taken.saturating_add(1);
                            self.slot.proven.store(true, Ordering::Relaxed);
                        }
                        Delivery::Dropped => {}
                        Delivery::Stopped => return,
                    }
                    drop(share);
                    if buf.capacity() > SMALL_FRAME {
                        buf = Vec::new();
                    }
                    // One frame per turn: a connection with many frames
                    // waiting does not keep the others (and the driver)
                    // waiting behind them.
                    tokio::task::yield_now().await;
                }
                Step::End => {
                    let mut ack = [0u8; 8];
                    ack[..4].copy_from_slice(ACK);
                    ack[4..].copy_from_slice(&taken.to_be_bytes());
                    // Peers that do not wait for it are gone: no matter.
                    let _ = timeout(self.limits.frame_timeout, r.get_mut().write_all(&ack)).await;
                    return;
                }
                Step::Idle => {
                    counters.lock().inbound_idle_closed += 1;
                    return;
                }
                Step::Evicted => return,
                Step::Dropped(kind) => {
                    counters.lock().decode_error(kind);
                    return;
                }
                Step::Failed => {
                    counters.lock().receive_errors += 1;
                    return;
                }
            }
        }
    }

    async fn next_frame(&self, r: &mut BufReader<TcpStream>, buf: &mut Vec<u8>) -> Step {
        let mut len = [0u8; 4];
        // Between frames, the end of the stream is a clean close.
        match timeout(self.limits.idle_timeout, r.read(&mut len[..1])).await {
            Err(_) => return Step::Idle,
            Ok(Ok(0)) => return Step::End,
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Step::Failed,
        }
        let deadline = Instant::now() + self.limits.frame_timeout;
        match timeout_at(deadline, r.read_exact(&mut len[1..])).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return Step::Dropped("truncated"),
            Err(_) => return Step::Dropped("frame_timeout"),
        }
        let n = u32::from_be_bytes(len) as usize;
        if n > MAX_FRAME {
            return Step::Dropped("oversized");
        }
        let share = if n > SMALL_FRAME {
            match self.reading.try_take(n) {
                Some(share) => Some(share),
                None => {
                    self.inbound.counters().lock().reading_waits += 1;
                    match timeout_at(deadline, self.reading.take(n)).await {
                        Ok(share) => Some(share),
                        Err(_) => return Step::Dropped("frame_timeout"),
                    }
                }
            }
        } else {
            None
        };
        // The frame's bytes are accounted for (its own allowance or its
        // share): hold room for all of them.
        buf.clear();
        buf.reserve_exact(n);
        match timeout_at(deadline, (&mut *r).take(n as u64).read_to_end(buf)).await {
            Ok(Ok(k)) if k == n => Step::Frame(n, share),
            Ok(_) => Step::Dropped("truncated"),
            Err(_) => Step::Dropped("frame_timeout"),
        }
    }
}

/// Frames queued for one destination and not yet written or counted lost,
/// and whether its writer holds a connection.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub frames: AtomicU64,
    pub tuples: AtomicU64,
    pub bytes: AtomicU64,
    pub connected: AtomicBool,
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
    /// When a frame was last queued for it.
    pub last_used: Instant,
}

/// Writer tasks alive: those of the peer table, and those of peers taken
/// out of it that are still writing what they had queued.
#[derive(Debug, Clone, Default)]
pub(crate) struct Writers(Arc<AtomicUsize>);

impl Writers {
    pub fn alive(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counts a writer task down when it ends, however it ends.
struct Alive(Writers);

impl Drop for Alive {
    fn drop(&mut self) {
        (self.0).0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Peer {
    pub fn spawn(
        destination: Arc<str>,
        counters: Counters,
        warnings: mpsc::UnboundedSender<Warning>,
        writers: &Writers,
    ) -> Peer {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Arc::new(Queue::default());
        writers.0.fetch_add(1, Ordering::Relaxed);
        let alive = Alive(writers.clone());
        let q = queue.clone();
        let handle = tokio::spawn(async move {
            let _alive = alive;
            write_frames(destination, rx, q, counters, warnings).await;
        });
        Peer {
            tx,
            queue,
            handle,
            last_used: Instant::now(),
        }
    }

    /// Nothing queued or being written.
    pub fn is_idle(&self) -> bool {
        self.queue.frames.load(Ordering::Relaxed) == 0
    }

    pub fn is_connected(&self) -> bool {
        self.queue.connected.load(Ordering::Relaxed)
    }

    /// Queue a frame; false when it was dropped (queue full or writer gone),
    /// already counted.
    pub fn send(&mut self, bytes: Vec<u8>, tuples: u64, counters: &Counters) -> bool {
        self.last_used = Instant::now();
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
                queue.connected.store(false, Ordering::Relaxed);
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
                    queue.connected.store(true, Ordering::Relaxed);
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
                counters
                    .lock()
                    .sent(Transport::Tcp, frames, tuples, buf.len() as u64);
            }
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "write timed out".to_string(),
                };
                conn = None;
                queue.connected.store(false, Ordering::Relaxed);
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
