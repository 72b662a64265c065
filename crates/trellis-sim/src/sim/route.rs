//! Routing: a node's sends go through the one outbound path the network
//! runtime uses (batched per destination and transport, encoded into real
//! frames cut at the transport's limit), each frame's fate is drawn from
//! the network model, and a delivered frame is decoded by the real decoder
//! before the receiving node sees its tuples.

use std::sync::Arc;

use trellis_engine::{Output, Time};
use trellis_frames::{Packed, Transport, hand_to_node};

use super::queue::{Class, Payload};
use super::{NANOS, Observer, Simulation};
use crate::network::Fate;

impl Simulation {
    pub(super) fn deliver(
        &mut self,
        from: usize,
        to: usize,
        frame: &[u8],
        observer: &mut dyn Observer,
    ) {
        let s = self.slot[to];
        let Some(node) = self.nodes[s].node.as_mut() else {
            self.stats.frames_to_dead += 1;
            return;
        };
        let mut messages = std::mem::take(&mut self.messages);
        let envelope =
            match trellis_wire::decode_shared(frame, None, &mut messages, &mut self.strings) {
                Ok(envelope) => envelope,
                Err(_) => {
                    // Frames are never corrupted in flight here: the codec is wrong.
                    self.stats.frames_undecodable += 1;
                    self.messages = messages;
                    return;
                }
            };
        self.trace.frame(self.now, from, to, frame);
        let dropped = &mut self.stats.dropped_inputs;
        hand_to_node(node, &envelope.sender, &mut messages, |_, _| *dropped += 1);
        self.messages = messages;
        self.stats.frames_delivered += 1;
        self.step(to, observer);
    }

    /// Pack a node's sends into frames and give each to the network.
    pub(super) fn route(&mut self, from: usize, out: &mut Output) {
        if out.sends.is_empty() {
            return;
        }
        let second = (self.now / NANOS as Time) as usize;
        let mut packed = std::mem::take(&mut self.packed);
        let s = self.slot[from];
        for transport in self.nodes[s].outbound.transports() {
            let stats = &mut self.stats;
            self.nodes[s]
                .outbound
                .pack(transport, &out.sends, &mut packed, |m, bytes| {
                    stats.count_message(m.relation, from, second, bytes as u64)
                });
            for p in packed.drain(..) {
                match p {
                    Packed::Frame {
                        destination, bytes, ..
                    } => self.send_frame(from, &destination, transport, bytes, second),
                    Packed::Oversize { .. } => self.stats.tuples_oversize += 1,
                }
            }
        }
        out.sends.clear();
        self.packed = packed;
    }

    /// One frame into the network: lost, cut, delayed or duplicated as the
    /// model says (never lost or duplicated on a stream transport).
    fn send_frame(
        &mut self,
        from: usize,
        destination: &str,
        transport: Transport,
        bytes: Vec<u8>,
        second: usize,
    ) {
        self.stats.count_frame(from, second, bytes.len() as u64);
        let Some(to) = self.index_of(destination) else {
            self.stats.frames_to_unknown += 1;
            return;
        };
        let sn = &mut self.nodes[self.slot[from]];
        sn.sent += 1;
        let reliable = transport == Transport::Tcp;
        let fate = if reliable {
            self.net.reliable_fate(from, to, &mut sn.rng)
        } else {
            self.net.fate(from, to, &mut sn.rng)
        };
        // Shared (not copied) by a duplicate.
        let frame = Arc::new(bytes);
        match fate {
            Fate::Cut => self.stats.frames_cut += 1,
            Fate::Lost => self.stats.frames_lost += 1,
            Fate::Deliver(first, dup) => {
                let mut at = self.now + first;
                if reliable {
                    // FIFO per link: never before the previous frame (the
                    // queue breaks ties in push order).
                    let last = self.fifo.entry((from as u32, to as u32)).or_default();
                    at = at.max(*last);
                    *last = at;
                }
                self.queue.push(
                    at,
                    to as u32,
                    Class::Deliver,
                    from as u32,
                    Payload::Deliver(frame.clone()),
                );
                if let Some(d) = dup {
                    self.stats.frames_duplicated += 1;
                    self.queue.push(
                        self.now + d,
                        to as u32,
                        Class::Deliver,
                        from as u32,
                        Payload::Deliver(frame),
                    );
                }
            }
        }
    }

    pub(super) fn index_of(&self, address: &str) -> Option<usize> {
        // Addresses are the scenario's pattern with the index in place of {i}.
        let pattern = &self.scenario.simulation.address;
        let (prefix, suffix) = pattern.split_once("{i}")?;
        let digits = address.strip_prefix(prefix)?.strip_suffix(suffix)?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return None;
        }
        let i: usize = digits.parse().ok()?;
        (i < self.nodes.len()).then_some(i)
    }
}
