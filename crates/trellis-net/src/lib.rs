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
//! Nor can it make a node hold more than its [`NetLimits`]: a frame's
//! messages and decoded bytes, decoded frames waiting for the node, TCP
//! frames being read, inbound connections (idle and slow ones time out),
//! outbound TCP peers, and warnings per minute; each limit reached is
//! counted.
//!
//! Time is nanoseconds since the Unix epoch ([`WallClock`]), so `f_now()` is
//! wall-clock seconds; it advances monotonically from the start.

mod budget;
mod client;
mod clock;
mod config;
mod driver;
mod inbound;
mod resolver;
mod stats;
mod tcp;
mod udp;
mod warning;

pub use trellis_frames::{MAX_DATAGRAM, MAX_STREAM_FRAME, Transport};
pub use trellis_wire::ClusterKey;

pub use client::send_once;
pub use clock::WallClock;
pub use config::{LimitError, NetConfig, NetError, NetLimits, SMALL_FRAME, resolve};
pub use driver::{Driver, Injector, Observer};
pub use resolver::{REFRESH, RETRY, Resolve, ResolveLimits, SystemResolver};
pub use stats::{Counters, Lost, NetStats};
pub use warning::Warning;
