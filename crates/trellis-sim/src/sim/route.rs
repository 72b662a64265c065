//! Routing: a node's sends batched per destination into frames, each
//! frame's fate drawn from the network model, and delivery.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rustc_hash::FxHasher;
use trellis_engine::Output;
use trellis_plan::Channel;

use super::queue::{Class, Payload};
use super::trace::mix;
use super::{NANOS, Observer, SentTuple, Simulation};
use crate::network::Fate;
use trellis_engine::Time;

impl Simulation {
    pub(super) fn deliver(
        &mut self,
        from: usize,
        to: usize,
        messages: &[SentTuple],
        observer: &mut dyn Observer,
    ) {
        let s = self.slot[to];
        let Some(node) = self.nodes[s].node.as_mut() else {
            self.stats.frames_to_dead += 1;
            return;
        };
        let mut h = FxHasher::default();
        (self.now, from, to).hash(&mut h);
        for (rel, tuple, delete) in messages {
            (rel.0, &**tuple, delete).hash(&mut h);
            // The plan is the same everywhere, so ids resolve.
            if node.receive_id(*rel, tuple.clone(), *delete).is_err() {
                self.stats.dropped_inputs += 1;
            }
        }
        self.trace = mix(self.trace, h.finish());
        self.stats.frames_delivered += 1;
        self.step(to, observer);
    }

    /// Batch a node's sends per destination into frames and give each to the
    /// network.
    pub(super) fn route(&mut self, from: usize, out: &mut Output) {
        if out.sends.is_empty() {
            return;
        }
        // Per destination, and apart for relations on a reliable channel.
        let mut frames: BTreeMap<(Arc<str>, bool), Vec<SentTuple>> = BTreeMap::new();
        for m in out.sends.iter() {
            let reliable = self.plan.relation(m.relation).channel == Some(Channel::Tcp);
            frames
                .entry((m.destination().clone(), reliable))
                .or_default()
                .push((m.relation, m.tuple(), m.delete));
        }
        out.sends.clear();
        let second = (self.now / NANOS as Time) as usize;
        let sender = self.nodes[self.slot[from]].address.clone();
        for ((dest, reliable), messages) in frames {
            let mut bytes = self.sizer.frame_overhead(&sender, false) as u64;
            for (rel, tuple, delete) in &messages {
                let name = &self.plan.relation(*rel).name;
                let len = self.sizer.message_len(name, tuple, *delete) as u64;
                bytes += len;
                self.stats.count_message(*rel, from, second, len);
            }
            self.stats.count_frame(from, second, bytes);
            let Some(to) = self.index_of(&dest) else {
                self.stats.frames_to_unknown += 1;
                continue;
            };
            let sn = &mut self.nodes[self.slot[from]];
            sn.sent += 1;
            let fate = if reliable {
                self.net.reliable_fate(from, to, &mut sn.rng)
            } else {
                self.net.fate(from, to, &mut sn.rng)
            };
            let messages: Arc<[SentTuple]> = messages.into();
            match fate {
                Fate::Cut => self.stats.frames_cut += 1,
                Fate::Lost => self.stats.frames_lost += 1,
                Fate::Deliver(first, dup) => {
                    let mut at = self.now + first;
                    if reliable {
                        // FIFO per link: never before the previous frame
                        // (the queue breaks ties in push order).
                        let last = self.fifo.entry((from as u32, to as u32)).or_default();
                        at = at.max(*last);
                        *last = at;
                    }
                    self.queue.push(
                        at,
                        to as u32,
                        Class::Deliver,
                        from as u32,
                        Payload::Deliver(messages.clone()),
                    );
                    if let Some(d) = dup {
                        self.stats.frames_duplicated += 1;
                        self.queue.push(
                            self.now + d,
                            to as u32,
                            Class::Deliver,
                            from as u32,
                            Payload::Deliver(messages),
                        );
                    }
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
