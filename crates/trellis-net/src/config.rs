//! How a node's runtime is set up, the errors that stop it starting, and
//! address resolution.

use std::net::SocketAddr;

use trellis_frames::Transport;
use trellis_wire::ClusterKey;

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
    /// Other names the node answers to (`--also-known-as`): tuples and
    /// authenticated frames addressed to one are this node's.
    pub also_known_as: Vec<String>,
    /// Senders' streams whose replay windows are kept (`--replay-senders`).
    pub replay_senders: usize,
    /// How looking destinations' names up is bounded.
    pub resolve: ResolveLimits,
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
        }
    }
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
