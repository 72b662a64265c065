//! What every socket task does with a frame it received: decode it, count
//! it, and hand it to the driver. Decoded frames' message vectors come back
//! from the driver emptied, so a busy receiver allocates none, and short
//! strings (addresses, mostly) are shared from frame to frame.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use trellis_wire::{ClusterKey, Envelope, Frame, Gate, SharedStrings, WireMessage};

use crate::stats::{Counters, wire_error_kind};

/// Emptied message vectors kept for reuse.
const SPARES: usize = 16;
/// A vector grown past this many messages is not kept.
const SPARE_CAPACITY: usize = 1 << 16;
/// Distinct short strings shared across frames (then forgotten at once).
const SHARED_STRINGS: usize = 4096;

#[derive(Clone)]
pub(crate) struct Inbound {
    key: Option<ClusterKey>,
    tx: mpsc::Sender<Frame>,
    counters: Counters,
    spares: Arc<Mutex<Vec<Vec<WireMessage>>>>,
    /// One cache for all the node's socket tasks (they share its thread).
    strings: Arc<Mutex<SharedStrings>>,
    /// Authenticated frames: for this node, and new (one gate for every
    /// transport: a replay on the other transport is still a replay).
    gate: Arc<Mutex<Gate>>,
}

impl Inbound {
    pub fn new(
        key: Option<ClusterKey>,
        tx: mpsc::Sender<Frame>,
        counters: Counters,
        gate: Arc<Mutex<Gate>>,
    ) -> Inbound {
        Inbound {
            key,
            tx,
            counters,
            spares: Arc::default(),
            strings: Arc::new(Mutex::new(SharedStrings::new(SHARED_STRINGS))),
            gate,
        }
    }

    /// Make received copies of the node's own address the node's string.
    pub fn adopt(&self, address: Arc<str>) {
        self.strings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .adopt(address);
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Decode one frame that took `wire_bytes` on the wire (a TCP frame's
    /// length prefix included) and hand it over; false once the driver has
    /// stopped.
    pub async fn frame(&self, bytes: &[u8], wire_bytes: usize) -> bool {
        let mut messages = self.take();
        let decoded = {
            let mut strings = self.strings.lock().unwrap_or_else(|e| e.into_inner());
            trellis_wire::decode_shared(bytes, self.key.as_ref(), &mut messages, &mut strings)
        };
        // Checked once the whole frame decoded (and its tag held), so only
        // a frame that is taken counts as seen.
        let admitted = decoded.as_ref().map_err(wire_error_kind).and_then(|e| {
            let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            gate.admit(e).map_err(|r| r.kind())
        });
        {
            let mut c = self.counters.lock();
            c.bytes_received += wire_bytes as u64;
            if let Err(kind) = admitted {
                c.decode_error(kind);
            }
        }
        match (decoded, admitted) {
            (Ok(Envelope { sender, session }), Ok(())) => self
                .tx
                .send(Frame {
                    sender,
                    session,
                    messages,
                })
                .await
                .is_ok(),
            _ => {
                self.give(messages);
                true
            }
        }
    }

    /// A delivered frame's messages, for a later frame.
    pub fn give(&self, mut messages: Vec<WireMessage>) {
        if messages.capacity() > SPARE_CAPACITY {
            return;
        }
        messages.clear();
        let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
        if spares.len() < SPARES {
            spares.push(messages);
        }
    }

    fn take(&self) -> Vec<WireMessage> {
        let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
        spares.pop().unwrap_or_default()
    }
}
