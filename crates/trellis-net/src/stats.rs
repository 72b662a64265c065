//! What the runtime counts: traffic, decode errors by kind, refused tuples,
//! and everything lost on the way out, with the reason.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::json;
use trellis_engine::InputError;
use trellis_frames::Transport;
use trellis_wire::WireError;

/// Frames and tuples lost for one reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lost {
    pub frames: u64,
    pub tuples: u64,
}

/// Traffic over one transport.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub frames_sent: u64,
    pub tuples_sent: u64,
    pub bytes_sent: u64,
    pub frames_received: u64,
    pub tuples_received: u64,
    pub bytes_received: u64,
}

/// A node's network counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetStats {
    /// The run's transport (a `channel` may add the other).
    pub transport: Transport,
    /// The traffic fields below are over every transport; this splits them.
    pub by_transport: BTreeMap<&'static str, Traffic>,
    pub frames_sent: u64,
    pub tuples_sent: u64,
    pub bytes_sent: u64,
    pub frames_received: u64,
    pub tuples_received: u64,
    pub bytes_received: u64,
    /// Frames that arrived but were dropped, by kind: `bad_magic`,
    /// `bad_checksum`, `bad_tag`, `missing_tag`, `malformed`, `truncated`,
    /// `oversized`, `too_many_messages`, `too_large_decoded`,
    /// `frame_timeout`, ...
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// Tuples of well-formed frames that the node refused (the engine also
    /// counts them in `dropped_inputs`): `unknown_relation`, `arity`,
    /// `periodic`, `not_here` (located at another node), `lattice` (a field not
    /// of its column's lattice).
    pub refused_tuples: BTreeMap<&'static str, u64>,
    /// Outgoing frames and tuples that never left, by reason:
    /// `oversize`, `unresolvable`, `send_error`, `no_connection`,
    /// `connection_broken`, `queue_overflow`, `peer_limit`, `shutdown`.
    pub lost: BTreeMap<&'static str, Lost>,
    /// Tuples refused because a single one does not fit in a frame, by
    /// relation.
    pub oversize_by_relation: BTreeMap<String, u64>,
    /// TCP: connections this node opened, failed attempts, connections that
    /// broke, inbound connections accepted and refused (over the limit).
    pub connections_opened: u64,
    pub connect_failures: u64,
    pub connections_lost: u64,
    pub inbound_connections: u64,
    pub inbound_refused: u64,
    /// Inbound connections closed to make room for a new one (they had not
    /// sent a frame that decoded), and for idling past the timeout.
    pub inbound_evicted: u64,
    pub inbound_idle_closed: u64,
    /// Frames that waited for the budget of decoded frames, and TCP frames
    /// that waited for the budget of frames being read.
    pub decoded_waits: u64,
    pub reading_waits: u64,
    /// Outbound TCP peers in the table now, and forgotten so far (idle, or
    /// to make room).
    pub peers: u64,
    pub peers_evicted: u64,
    /// Warnings about destinations over the per-minute limit, not shown.
    pub warnings_suppressed: u64,
    /// Socket errors while receiving (the node carries on).
    pub receive_errors: u64,
}

impl NetStats {
    /// Frames written to `transport`.
    pub fn sent(&mut self, transport: Transport, frames: u64, tuples: u64, bytes: u64) {
        self.frames_sent += frames;
        self.tuples_sent += tuples;
        self.bytes_sent += bytes;
        let t = self.by_transport.entry(transport.as_str()).or_default();
        t.frames_sent += frames;
        t.tuples_sent += tuples;
        t.bytes_sent += bytes;
    }

    /// Bytes read from `transport`, whether or not they decode.
    pub fn read(&mut self, transport: Transport, bytes: u64) {
        self.bytes_received += bytes;
        self.by_transport
            .entry(transport.as_str())
            .or_default()
            .bytes_received += bytes;
    }

    /// A frame of `tuples` handed to the node from `transport`.
    pub fn received(&mut self, transport: Transport, tuples: u64) {
        self.frames_received += 1;
        self.tuples_received += tuples;
        let t = self.by_transport.entry(transport.as_str()).or_default();
        t.frames_received += 1;
        t.tuples_received += tuples;
    }

    pub fn new(transport: Transport) -> NetStats {
        NetStats {
            transport,
            by_transport: BTreeMap::new(),
            frames_sent: 0,
            tuples_sent: 0,
            bytes_sent: 0,
            frames_received: 0,
            tuples_received: 0,
            bytes_received: 0,
            decode_errors: BTreeMap::new(),
            refused_tuples: BTreeMap::new(),
            lost: BTreeMap::new(),
            oversize_by_relation: BTreeMap::new(),
            connections_opened: 0,
            connect_failures: 0,
            connections_lost: 0,
            inbound_connections: 0,
            inbound_refused: 0,
            inbound_evicted: 0,
            inbound_idle_closed: 0,
            decoded_waits: 0,
            reading_waits: 0,
            peers: 0,
            peers_evicted: 0,
            warnings_suppressed: 0,
            receive_errors: 0,
        }
    }

    pub fn decode_errors_total(&self) -> u64 {
        self.decode_errors.values().sum()
    }

    pub fn lost_tuples_total(&self) -> u64 {
        self.lost.values().map(|l| l.tuples).sum()
    }

    pub fn lose(&mut self, reason: &'static str, frames: u64, tuples: u64) {
        let l = self.lost.entry(reason).or_default();
        l.frames += frames;
        l.tuples += tuples;
    }

    pub fn decode_error(&mut self, kind: &'static str) {
        *self.decode_errors.entry(kind).or_default() += 1;
    }

    pub fn to_json(&self) -> serde_json::Value {
        let lost: serde_json::Map<String, serde_json::Value> = self
            .lost
            .iter()
            .map(|(k, l)| {
                (
                    k.to_string(),
                    json!({"frames": l.frames, "tuples": l.tuples}),
                )
            })
            .collect();
        let by_transport: serde_json::Map<String, serde_json::Value> = self
            .by_transport
            .iter()
            .map(|(k, t)| {
                (
                    k.to_string(),
                    json!({"frames_sent": t.frames_sent, "tuples_sent": t.tuples_sent,
                           "bytes_sent": t.bytes_sent, "frames_received": t.frames_received,
                           "tuples_received": t.tuples_received, "bytes_received": t.bytes_received}),
                )
            })
            .collect();
        json!({
            "transport": self.transport.as_str(),
            "by_transport": by_transport,
            "frames_sent": self.frames_sent,
            "tuples_sent": self.tuples_sent,
            "bytes_sent": self.bytes_sent,
            "frames_received": self.frames_received,
            "tuples_received": self.tuples_received,
            "bytes_received": self.bytes_received,
            "decode_errors": self.decode_errors,
            "decode_errors_total": self.decode_errors_total(),
            "refused_tuples": self.refused_tuples,
            "lost": lost,
            "lost_tuples_total": self.lost_tuples_total(),
            "oversize_by_relation": self.oversize_by_relation,
            "connections_opened": self.connections_opened,
            "connect_failures": self.connect_failures,
            "connections_lost": self.connections_lost,
            "inbound_connections": self.inbound_connections,
            "inbound_refused": self.inbound_refused,
            "inbound_evicted": self.inbound_evicted,
            "inbound_idle_closed": self.inbound_idle_closed,
            "decoded_waits": self.decoded_waits,
            "reading_waits": self.reading_waits,
            "peers": self.peers,
            "peers_evicted": self.peers_evicted,
            "warnings_suppressed": self.warnings_suppressed,
            "receive_errors": self.receive_errors,
        })
    }

    /// A few lines for people.
    pub fn to_text(&self) -> String {
        // Both transports when a `channel` uses the other one.
        let used: Vec<&str> = self.by_transport.keys().copied().collect();
        let label = if used.len() > 1 {
            used.join(" and ")
        } else {
            self.transport.to_string()
        };
        let mut out = format!(
            "  network ({label}): sent {} tuples in {} frames ({} bytes); received {} tuples in {} frames ({} bytes)\n",
            self.tuples_sent,
            self.frames_sent,
            self.bytes_sent,
            self.tuples_received,
            self.frames_received,
            self.bytes_received
        );
        if !self.decode_errors.is_empty() {
            let parts: Vec<String> = self
                .decode_errors
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            out.push_str(&format!(
                "  dropped incoming frames: {}\n",
                parts.join(", ")
            ));
        }
        if !self.refused_tuples.is_empty() {
            let parts: Vec<String> = self
                .refused_tuples
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            out.push_str(&format!("  refused tuples: {}\n", parts.join(", ")));
        }
        if !self.lost.is_empty() {
            let parts: Vec<String> = self
                .lost
                .iter()
                .map(|(k, l)| format!("{} tuples in {} frames ({k})", l.tuples, l.frames))
                .collect();
            out.push_str(&format!("  lost on the way out: {}\n", parts.join(", ")));
        }
        for (rel, n) in &self.oversize_by_relation {
            out.push_str(&format!(
                "  {n} `{rel}` tuples were too large for one frame\n"
            ));
        }
        if (self.connections_opened
            + self.connect_failures
            + self.connections_lost
            + self.inbound_connections
            + self.inbound_refused)
            > 0
        {
            out.push_str(&format!(
                "  connections: {} opened, {} failed attempts, {} broke; {} inbound, {} refused, {} closed to make room, {} closed idle\n",
                self.connections_opened,
                self.connect_failures,
                self.connections_lost,
                self.inbound_connections,
                self.inbound_refused,
                self.inbound_evicted,
                self.inbound_idle_closed
            ));
        }
        if self.decoded_waits + self.reading_waits > 0 {
            out.push_str(&format!(
                "  memory limits: {} frames waited to be decoded, {} to be read\n",
                self.decoded_waits, self.reading_waits
            ));
        }
        if self.peers_evicted > 0 {
            out.push_str(&format!(
                "  {} outbound peers forgotten (idle, or to make room)\n",
                self.peers_evicted
            ));
        }
        if self.warnings_suppressed > 0 {
            out.push_str(&format!(
                "  {} warnings about destinations not shown (over the per-minute limit)\n",
                self.warnings_suppressed
            ));
        }
        if self.receive_errors > 0 {
            out.push_str(&format!(
                "  {} socket receive errors\n",
                self.receive_errors
            ));
        }
        out
    }
}

/// The name a decode error is counted under.
pub fn wire_error_kind(e: &WireError) -> &'static str {
    match e {
        WireError::TooShort(_) => "too_short",
        WireError::TooLarge { .. } => "too_large",
        WireError::BadMagic => "bad_magic",
        WireError::BadVersion(_) => "bad_version",
        WireError::BadChecksum => "bad_checksum",
        WireError::MissingTag => "missing_tag",
        WireError::BadTag => "bad_tag",
        WireError::UnexpectedTag => "unexpected_tag",
        WireError::TooManyMessages { .. } => "too_many_messages",
        WireError::TooLargeDecoded { .. } => "too_large_decoded",
        WireError::Malformed(_) => "malformed",
        WireError::BadValue(_) => "bad_value",
    }
}

pub fn input_error_kind(e: &InputError) -> &'static str {
    match e {
        InputError::UnknownRelation(_) => "unknown_relation",
        InputError::Arity { .. } => "arity",
        InputError::Periodic => "periodic",
        InputError::NotHere { .. } => "not_here",
        InputError::Lattice { .. } => "lattice",
    }
}

/// Counters shared by the driver and its socket tasks; a clone (from
/// [`crate::Driver::counters`]) reads them while the node runs.
#[derive(Debug, Clone)]
pub struct Counters(Arc<Mutex<NetStats>>);

impl Counters {
    pub(crate) fn new(transport: Transport) -> Counters {
        Counters(Arc::new(Mutex::new(NetStats::new(transport))))
    }

    /// Never panics: a poisoned lock still holds valid counters.
    pub(crate) fn lock(&self) -> MutexGuard<'_, NetStats> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn snapshot(&self) -> NetStats {
        self.lock().clone()
    }
}
