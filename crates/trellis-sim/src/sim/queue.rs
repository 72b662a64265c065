//! The simulator's one queue: every future happening, ordered by (time,
//! class, target node, source node, sequence), so a run never depends on
//! where nodes sit in memory.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use trellis_engine::Time;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Class {
    Scenario,
    Churn,
    Start,
    Deliver,
    Workload,
    Wake,
    Checkpoint,
    RingCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key {
    pub time: Time,
    /// At one instant: scenario actions first, then churn, starts,
    /// deliveries, workloads, and wake-ups last.
    pub class: Class,
    pub target: u32,
    pub source: u32,
    seq: u64,
}

#[derive(Debug)]
pub(super) enum Payload {
    Scenario(usize),
    SessionEnd,
    Rejoin,
    Start,
    /// A frame's bytes, as the encoder wrote them.
    Deliver(Arc<Vec<u8>>),
    Workload(usize),
    Wake(u32),
    Checkpoint,
    RingCheck,
}

struct Entry(Key, Payload);

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

#[derive(Default)]
pub(super) struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

impl Queue {
    pub fn push(&mut self, time: Time, target: u32, class: Class, source: u32, payload: Payload) {
        self.seq += 1;
        // The sequence breaks ties only between entries of one source
        // (per-source order is itself deterministic).
        self.heap.push(Reverse(Entry(
            Key {
                time,
                class,
                target,
                source,
                seq: self.seq,
            },
            payload,
        )));
    }

    /// The first entry due at or before `until`, taken off the queue.
    pub fn pop_due(&mut self, until: Time) -> Option<(Key, Payload)> {
        if self.heap.peek()?.0.0.time > until {
            return None;
        }
        let Reverse(Entry(key, payload)) = self.heap.pop()?;
        Some((key, payload))
    }

    /// Frames still on their way (delivered after the run's end, if ever).
    pub fn frames_in_flight(&self) -> u64 {
        self.heap
            .iter()
            .filter(|Reverse(Entry(_, p))| matches!(p, Payload::Deliver(_)))
            .count() as u64
    }
}
