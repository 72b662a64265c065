//! How a node's runtime is set up, the errors that stop it starting, and
//! address resolution.

use std::net::SocketAddr;
use std::time::Duration;

use trellis_frames::Transport;
use trellis_wire::{ClusterKey, DecodeLimits, MAX_DECODED, MAX_FRAME, MAX_MESSAGES};

use crate::resolver::ResolveLimits;

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
    /// a valid tag are dropped and counted; so are frames for another node
    /// and replays.
    pub key: Option<ClusterKey>,
    /// What other hosts may make this node hold.
    pub limits: NetLimits,
    /// Other names the node answers to (`--also-known-as`): tuples and
    /// authenticated frames addressed to one are this node's.
    pub also_known_as: Vec<String>,
    /// Senders' streams whose replay windows are kept (`--replay-senders`).
    pub replay_senders: usize,
    /// How looking destinations' names up is bounded.
    pub resolve: ResolveLimits,
}

/// Bounds on what the network may make a node hold: each has a default, a
/// `trellis run` flag, and a line in docs/networking.md ("Limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetLimits {
    /// Messages in one received frame (`--max-frame-messages`).
    pub frame_messages: usize,
    /// Decoded bytes of one received frame (`--max-frame-decoded`).
    pub frame_decoded: usize,
    /// Decoded bytes of received frames not yet taken by the node, over all
    /// sockets (`--max-decoded`): a socket waits before decoding more.
    pub decoded: usize,
    /// Bytes of TCP frames being read, over all connections, past each
    /// connection's first [`SMALL_FRAME`] (`--max-reading`).
    pub reading: usize,
    /// Inbound TCP connections at once (`--max-inbound`).
    pub inbound: usize,
    /// An inbound TCP connection with no frame begun this long is closed
    /// (`--idle-timeout`).
    pub idle_timeout: Duration,
    /// A TCP frame must arrive whole this long after its first byte
    /// (`--frame-timeout`).
    pub frame_timeout: Duration,
    /// Outbound TCP destinations with a connection at once (`--max-peers`).
    pub peers: usize,
    /// An outbound TCP destination sent nothing this long is forgotten and
    /// its connection closed (`--peer-idle-timeout`).
    pub peer_idle: Duration,
    /// Warnings about destinations shown per minute; the rest are counted
    /// (`--max-warnings-per-minute`).
    pub warnings_per_minute: usize,
}

/// A TCP frame up to this size is read into its connection's own buffer;
/// a larger one draws on [`NetLimits::reading`].
pub const SMALL_FRAME: usize = 64 << 10;

impl Default for NetLimits {
    fn default() -> NetLimits {
        NetLimits {
            frame_messages: MAX_MESSAGES,
            frame_decoded: MAX_DECODED,
            decoded: 64 << 20,
            reading: 8 << 20,
            inbound: 256,
            idle_timeout: Duration::from_secs(60),
            frame_timeout: Duration::from_secs(15),
            peers: 1024,
            peer_idle: Duration::from_secs(30),
            warnings_per_minute: 20,
        }
    }
}

/// Limits that cannot work together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{name} must be at least 1")]
    Zero { name: &'static str },
    #[error("{name} must be at least {min} ({why}), not {value}")]
    TooSmall {
        name: &'static str,
        value: usize,
        min: usize,
        why: &'static str,
    },
}

impl NetLimits {
    /// The bounds one received frame is decoded within.
    pub fn decode(&self) -> DecodeLimits {
        DecodeLimits {
            messages: self.frame_messages,
            decoded_bytes: self.frame_decoded,
        }
    }

    /// Every count at least 1; the shared budgets large enough for one
    /// frame each, so that no frame waits for a budget it can never have.
    pub fn check(&self) -> Result<(), LimitError> {
        for (name, value) in [
            ("max-frame-messages", self.frame_messages),
            ("max-frame-decoded", self.frame_decoded),
            ("max-inbound", self.inbound),
            ("max-peers", self.peers),
        ] {
            if value == 0 {
                return Err(LimitError::Zero { name });
            }
        }
        for (name, value) in [
            ("idle-timeout", self.idle_timeout),
            ("frame-timeout", self.frame_timeout),
            ("peer-idle-timeout", self.peer_idle),
        ] {
            if value.is_zero() {
                return Err(LimitError::Zero { name });
            }
        }
        if self.decoded < self.frame_decoded {
            return Err(LimitError::TooSmall {
                name: "max-decoded",
                value: self.decoded,
                min: self.frame_decoded,
                why: "max-frame-decoded: one frame must fit",
            });
        }
        if self.reading < MAX_FRAME {
            return Err(LimitError::TooSmall {
                name: "max-reading",
                value: self.reading,
                min: MAX_FRAME,
                why: "the largest TCP frame must fit",
            });
        }
        Ok(())
    }
}

impl NetConfig {
    /// A node known as `address`, listening at `bind`, with the default
    /// limits and no other names.
    pub fn new(
        address: impl Into<String>,
        bind: SocketAddr,
        transport: Transport,
        key: Option<ClusterKey>,
    ) -> NetConfig {
        NetConfig {
            address: address.into(),
            bind,
            transport,
            key,
            also_known_as: Vec::new(),
            replay_senders: trellis_wire::DEFAULT_SENDERS,
            resolve: ResolveLimits::default(),
            limits: NetLimits::default(),
        }
    }
}

/// Errors that stop a runtime from starting, or a one-shot send.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("limits: {0}")]
    Limits(#[from] LimitError),
    #[error("{address} did not take the frame: {reason}")]
    NotTaken {
        address: String,
        reason: &'static str,
    },
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
