//! The Trellis wire format. One frame carries the tuples one node sends
//! another in one flush:
//!
//! ```text
//! "TRLS" | version (1 byte) | flags (1 byte) | CRC32C of the rest (4 bytes, LE)
//!        | sender | [session] | messages | [HMAC-SHA256 tag, 32 bytes]
//! session = destination | stream (1 byte) | epoch (varint) | sequence (varint)
//! ```
//!
//! The sender, the session and the messages are postcard (serde's compact
//! codec: LEB128 varints, zigzag integers, length-prefixed strings). An
//! authenticated frame (flag bit 0) carries a [`Session`] under its tag: the
//! destination it is for, and its place in its sender's stream to that
//! destination, which a receiver's [`Gate`] admits once. A message is a head
//! byte (bit 0: a deletion; bit 1: the relation's name follows; bit 2: a
//! derivation reference follows), the name when the relation differs from
//! the previous message's, the reference (6 bytes, little-endian: the
//! sender's 48-bit ID of the derivation that made the tuple, when it traces
//! provenance), and the tuple as a sequence of values. A run of tuples of
//! one relation names it once.
//!
//! The CRC catches corruption; the tag (present when the cluster has a key)
//! proves the frame came from a member of this cluster, unaltered, for the
//! destination it names, and with the session no frame can be taken twice.
//! Decoding never
//! recurses deeper than [`MAX_DEPTH`] lists, however the frame was crafted,
//! and builds each value once, straight from the bytes: strings repeated in
//! a frame (addresses, mostly) become one shared string.

mod cost;
mod decode;
mod encode;
mod gate;

use hmac::{Hmac, KeyInit};
use sha2::Sha256;
use std::num::NonZeroU64;
use std::sync::Arc;
use trellis_value::Value;

pub use cost::{DecodeLimits, MAX_DECODED, MAX_MESSAGES, message_cost};
pub use decode::{Decoded, SharedStrings, decode, decode_into, decode_limited, decode_shared};
pub use encode::{EncodedFrame, Encoder, Oversize, encode, encode_tuple};
pub use gate::{DEFAULT_SENDERS, Gate, Replay, WINDOW};

pub const MAGIC: &[u8; 4] = b"TRLS";
/// Version 4 lets a message carry a derivation reference (provenance);
/// version 3 put a session (destination, stream, epoch, sequence) in
/// authenticated frames; version 2 named each run of a relation once;
/// version 1 named every message.
pub const VERSION: u8 = 4;
/// Magic, version, flags and checksum.
const HEADER: usize = 10;
/// Where the checksum sits; it covers every byte after it.
const CRC: std::ops::Range<usize> = 6..10;
const TAG: usize = 32;
const FLAG_TAGGED: u8 = 1;
/// Message head bits.
const HEAD_DELETE: u8 = 1;
const HEAD_NAMED: u8 = 2;
const HEAD_DERIVATION: u8 = 4;
/// A derivation reference's size on the wire; its ID's higher bits are 0.
pub const REFERENCE_BYTES: usize = 6;
/// Frames above this size are refused, whatever the transport.
pub const MAX_FRAME: usize = 4 << 20;
/// Lists nest at most this deep on the wire.
pub const MAX_DEPTH: usize = 32;

/// One tuple on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct WireMessage {
    pub relation: Arc<str>,
    pub tuple: Arc<[Value]>,
    pub delete: bool,
    /// The sender's derivation of the tuple, when it traces provenance
    /// (48 bits: [`REFERENCE_BYTES`] on the wire; never 0). Not zero, so
    /// that a message stays 48 bytes decoded: what a frame may cost a
    /// receiver is bounded by its size on the wire (`cost.rs`).
    pub derivation: Option<NonZeroU64>,
}

const _: () = assert!(std::mem::size_of::<WireMessage>() <= 48);

/// A decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub sender: Arc<str>,
    /// Present exactly when the frame is authenticated.
    pub session: Option<Session>,
    pub messages: Vec<WireMessage>,
}

/// Who sent a frame, and where it stands in its sender's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub sender: Arc<str>,
    pub session: Option<Session>,
}

/// Where an authenticated frame belongs: the destination its sender wrote
/// it for, and its place in the sender's stream of frames there. A stream
/// is one of the sender's transports to one destination; its epoch is
/// larger than any epoch the sender used before (it starts from the
/// sender's boot time), and its sequence numbers count frames from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub destination: Arc<str>,
    pub stream: u8,
    pub epoch: u64,
    pub sequence: u64,
}

/// What an authenticating sender signs with: the cluster key, its stream
/// number (one per transport, so frames of two transports are never
/// compared), and the first epoch its streams take. The first epoch must
/// exceed every epoch the sender's previous incarnation used: the time it
/// started, in nanoseconds, is (each new destination takes the next one).
#[derive(Debug, Clone)]
pub struct Signing {
    pub key: ClusterKey,
    pub stream: u8,
    pub first_epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {0} bytes is shorter than a header")]
    TooShort(usize),
    #[error("frame of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("not a Trellis frame (bad magic)")]
    BadMagic,
    #[error("unsupported wire version {0} (this node speaks {VERSION})")]
    BadVersion(u8),
    #[error("checksum mismatch: the frame was corrupted")]
    BadChecksum,
    #[error("frame has no authentication tag, and this cluster requires one")]
    MissingTag,
    #[error("authentication tag is invalid: wrong cluster key or tampered frame")]
    BadTag,
    #[error("frame is authenticated, but this node has no cluster key")]
    UnexpectedTag,
    #[error("frame holds more than {limit} messages")]
    TooManyMessages { limit: usize },
    #[error("frame decodes to more than {limit} bytes")]
    TooLargeDecoded { limit: usize },
    #[error("malformed frame body: {0}")]
    Malformed(#[from] postcard::Error),
    #[error("malformed value: {0}")]
    BadValue(&'static str),
}

/// Why a well-formed, authenticated frame was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the frame is for {destination}, not for this node")]
    Misdirected { destination: Arc<str> },
    #[error(transparent)]
    Replay(#[from] Replay),
}

/// A cluster key for HMAC-SHA256 frame tags.
#[derive(Clone)]
pub struct ClusterKey(Vec<u8>);

impl ClusterKey {
    pub fn new(bytes: impl Into<Vec<u8>>) -> ClusterKey {
        ClusterKey(bytes.into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterKey(..)")
    }
}

/// Value tags, as postcard writes enum variants (a varint; one byte here).
mod tag {
    pub const NULL: u32 = 0;
    pub const BOOL: u32 = 1;
    pub const INT: u32 = 2;
    pub const FLOAT: u32 = 3;
    pub const STR: u32 = 4;
    pub const ID: u32 = 5;
    pub const LIST: u32 = 6;
}

#[cfg(test)]
mod tests;
