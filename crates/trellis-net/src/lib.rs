//! The Trellis network runtime: a thin tokio driver around the sans-IO
//! engine ([`trellis_engine::Node`]), in the spirit of quinn around
//! quinn-proto.
//!
//! The engine decides everything; this crate only moves bytes and time:
//!
//! ```text
//! loop {
//!     wait for the earliest of: the node's next wake-up, an incoming frame,
//!                               an injected tuple, the stop signal;
//!     hand received tuples to `Node::receive`;
//!     while node.step(now, &mut out) {}        // one tick at a time
//!     report out.records / out.problems;       // to an [`Observer`]
//!     flush out.sends: one frame per destination, encoded with trellis-wire
//! }
//! ```
//!
//! Two transports ([`Transport`]):
//!
//! - **UDP**, an unreliable channel in Lampson's sense: frames may be lost,
//!   duplicated or reordered. A batch larger than [`MAX_DATAGRAM`] is split
//!   into several frames, message by message; a single tuple too large for a
//!   datagram is refused, counted and reported with its relation.
//! - **TCP**, a reliable FIFO channel while a connection is up: frames are
//!   length-prefixed (4 bytes, big-endian); connections are opened lazily,
//!   reused, and re-established with exponential backoff. Frames that could
//!   not be written (no connection, broken connection, queue overflow,
//!   shutdown) are counted as lost with the reason, never dropped silently.
//!
//! Nothing that arrives can crash a node: every decode error is counted by
//! kind ([`NetStats::decode_errors`]), and a well-formed frame whose tuple
//! names an unknown relation or has the wrong arity is refused by
//! `Node::receive` and counted.
//!
//! Time is nanoseconds since the Unix epoch ([`WallClock`]), so `f_now()` is
//! wall-clock seconds; it advances monotonically from the start.

mod client;
mod driver;
mod inbound;
mod stats;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use trellis_engine::Time;
pub use trellis_wire::ClusterKey;

pub use client::send_once;
pub use driver::{Driver, Injector, Observer, Warning};
pub use stats::{Counters, Lost, NetStats};
pub use trellis_frames::{MAX_DATAGRAM, MAX_STREAM_FRAME, Transport};

/// How a node's runtime is set up.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The node's address as the program sees it (`LOCALADDRESS`); also
    /// the sender written into every frame.
    pub address: String,
    /// Where to listen; usually `address` resolved, but a node behind NAT
    /// or in a container may bind `0.0.0.0:PORT` and be known by another
    /// name.
    pub bind: SocketAddr,
    pub transport: Transport,
    /// With a key, every frame carries an HMAC-SHA256 tag and frames without
    /// a valid tag are dropped and counted.
    pub key: Option<ClusterKey>,
}

/// Errors that stop a runtime from starting, or a one-shot send.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot resolve `{address}`: {reason}")]
    Resolve { address: String, reason: String },
    #[error("cannot bind {transport} on {addr}: {source}")]
    Bind {
        transport: Transport,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("timed out connecting to {address}")]
    ConnectTimeout { address: String },
    #[error("cannot send to {address}: {source}")]
    Send {
        address: String,
        source: std::io::Error,
    },
    #[error(
        "a `{relation}` tuple takes {bytes} bytes on the wire, more than a {transport} frame can carry ({limit} bytes)"
    )]
    Oversize {
        relation: String,
        bytes: usize,
        limit: usize,
        transport: Transport,
    },
}

/// Resolve `host:port` to one socket address (the first the resolver
/// gives), without blocking the runtime for literal addresses.
pub async fn resolve(address: &str) -> Result<SocketAddr, NetError> {
    if let Ok(a) = address.parse::<SocketAddr>() {
        return Ok(a);
    }
    let err = |reason: String| NetError::Resolve {
        address: address.to_string(),
        reason,
    };
    if !address.contains(':') {
        return Err(err("expected HOST:PORT".into()));
    }
    match tokio::net::lookup_host(address).await {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| err("the resolver returned no address".into())),
        Err(e) => Err(err(e.to_string())),
    }
}

/// The wall clock as the engine sees it: nanoseconds since the Unix epoch,
/// read at start and then advanced by a monotonic clock (so the node's time
/// never goes backwards when the system clock is adjusted).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    origin: Time,
    start: Instant,
}

impl WallClock {
    pub fn start() -> WallClock {
        let origin = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as Time);
        WallClock {
            origin,
            start: Instant::now(),
        }
    }

    /// The time the clock was started, in engine time.
    pub fn origin(&self) -> Time {
        self.origin
    }

    pub fn now(&self) -> Time {
        self.origin + self.start.elapsed().as_nanos() as Time
    }

    /// The monotonic instant at which engine time `t` comes.
    pub fn instant_at(&self, t: Time) -> Instant {
        let after = Duration::from_nanos(t.saturating_sub(self.origin));
        // A wake-up centuries away is as good as never.
        self.start
            .checked_add(after)
            .unwrap_or_else(|| self.start + Duration::from_secs(100 * 365 * 86_400))
    }
}
