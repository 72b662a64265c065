//! What every socket task does with a frame it received: take its share of
//! the decoded budget, decode it within the frame limits, count it, and
//! hand it to the driver. Decoded frames' message vectors come back from
//! the driver emptied, so a busy receiver allocates none, and short strings
//! (addresses, mostly) are shared from frame to frame.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use trellis_frames::Transport;
use trellis_wire::{ClusterKey, DecodeLimits, Frame, Gate, SharedStrings, WireMessage};

use crate::budget::{Budget, Share};
use crate::stats::{Counters, wire_error_kind};

/// Emptied message vectors kept for reuse.
const SPARES: usize = 16;
/// A vector grown past this many messages is not kept (the spares stay
/// small next to the decoded budget).
const SPARE_CAPACITY: usize = 4096;
/// Distinct short strings shared across frames (then forgotten at once).
const SHARED_STRINGS: usize = 4096;
/// Decoded bytes per byte on the wire, at most (a null value: 1 byte in,
/// 32 out), and a frame's fixed part: a frame's share of the decoded budget
/// is taken before it is decoded, from its size.
const AMPLIFICATION: usize = 32;
const FRAME_OVERHEAD: usize = 64;

/// A decoded frame and its share of the decoded budget, given back when the
/// node has taken the frame.
pub(crate) struct Incoming {
    pub frame: Frame,
    /// The transport it came on, for the counters.
    pub transport: Transport,
    pub share: Share,
}

/// What became of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Decoded and queued for the node.
    Taken,
    /// Dropped, counted.
    Dropped,
    /// The driver has stopped.
    Stopped,
}

#[derive(Clone)]
pub(crate) struct Inbound {
    key: Option<ClusterKey>,
    limits: DecodeLimits,
    decoded: Budget,
    tx: mpsc::Sender<Incoming>,
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
        limits: DecodeLimits,
        decoded: Budget,
        tx: mpsc::Sender<Incoming>,
        counters: Counters,
        gate: Arc<Mutex<Gate>>,
    ) -> Inbound {
        Inbound {
            key,
            limits,
            decoded,
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
    /// length prefix included) and hand it over.
    pub async fn frame(&self, bytes: &[u8], wire_bytes: usize, transport: Transport) -> Delivery {
        // The most this frame can decode to, taken before decoding: the
        // frames waiting for the node never hold more than the budget.
        let bound = (bytes.len() * AMPLIFICATION + FRAME_OVERHEAD).min(self.limits.decoded_bytes);
        let mut share = match self.decoded.try_take(bound) {
            Some(share) => share,
            None => {
                self.counters.lock().decoded_waits += 1;
                self.decoded.take(bound).await
            }
        };
        let limits = DecodeLimits {
            messages: self.limits.messages,
            decoded_bytes: bound,
        };
        let mut messages = self.take();
        let decoded = {
            let mut strings = self.strings.lock().unwrap_or_else(|e| e.into_inner());
            trellis_wire::decode_limited(
                bytes,
                self.key.as_ref(),
                &mut messages,
                &mut strings,
                &limits,
            )
        };
        // Checked once the whole frame decoded (and its tag held), so only
        // a frame that is taken counts as seen.
        let admitted = decoded.as_ref().map_err(wire_error_kind).and_then(|d| {
            let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            gate.admit(&d.envelope).map_err(|r| r.kind())
        });
        {
            let mut c = self.counters.lock();
            c.read(transport, wire_bytes as u64);
            if let Err(kind) = admitted {
                c.decode_error(kind);
            }
        }
        match (decoded, admitted) {
            (Ok(d), Ok(())) => {
                share.shrink_to(d.decoded_bytes);
                let frame = Frame {
                    sender: d.envelope.sender,
                    session: d.envelope.session,
                    messages,
                };
                match self
                    .tx
                    .send(Incoming {
                        frame,
                        transport,
                        share,
                    })
                    .await
                {
                    Ok(()) => Delivery::Taken,
                    Err(_) => Delivery::Stopped,
                }
            }
            _ => {
                self.give(messages);
                Delivery::Dropped
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

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_value::Value;

    fn frame_of(n: usize) -> Vec<u8> {
        let m = WireMessage {
            relation: Arc::from("r"),
            tuple: vec![Value::Int(1)].into(),
            delete: false,
            derivation: None,
        };
        trellis_wire::encode("a", "b", &vec![m; n], None)
    }

    /// Item 10: decoded frames the node has not taken yet hold at most the
    /// budget; a socket with another frame waits, before decoding it, until
    /// the node takes one.
    #[tokio::test]
    async fn a_frame_waits_for_the_decoded_budget_before_decoding() {
        let bytes = frame_of(1000);
        let bound = bytes.len() * AMPLIFICATION + FRAME_OVERHEAD;
        let (tx, mut rx) = mpsc::channel(16);
        let counters = Counters::new(trellis_frames::Transport::Tcp);
        // Room for one frame decoded and the bound of another, not more.
        let inbound = Inbound::new(
            None,
            DecodeLimits::default(),
            Budget::new(bound * 9 / 5),
            tx,
            counters.clone(),
            Arc::new(Mutex::new(Gate::new([], trellis_wire::DEFAULT_SENDERS))),
        );
        assert_eq!(
            inbound
                .frame(&bytes, bytes.len(), trellis_frames::Transport::Tcp)
                .await,
            Delivery::Taken
        );
        // The first frame was decoded and its share shrunk to its decoded
        // size, so the second fits next to it.
        assert_eq!(
            inbound
                .frame(&bytes, bytes.len(), trellis_frames::Transport::Tcp)
                .await,
            Delivery::Taken
        );
        // A third does not: it waits, decoding nothing, until one is taken.
        let third = inbound.frame(&bytes, bytes.len(), Transport::Tcp);
        tokio::pin!(third);
        tokio::select! {
            biased;
            _ = &mut third => panic!("decoded past the budget"),
            _ = std::future::ready(()) => {}
        }
        assert_eq!(counters.snapshot().decoded_waits, 1);
        assert_eq!(counters.snapshot().frames_received, 0);
        let first = rx.recv().await.expect("queued");
        assert_eq!(first.frame.messages.len(), 1000);
        drop(first);
        assert_eq!(third.await, Delivery::Taken);
    }
}
