//! The run's trace hash and the seeds of its random streams, both derived
//! with SipHash-1-3 under fixed keys over explicit little-endian bytes
//! (tuples in their wire encoding): a specified function, so a run's seeds
//! and trace hash are the same in every build, whatever version of a
//! hashing crate or of std is linked.

use std::hash::Hasher;

use siphasher::sip::SipHasher13;
use trellis_engine::{Record, Time};
use trellis_plan::RelId;
use trellis_value::Value;

/// The keys: any fixed pair would do; changing them changes every run.
const KEYS: (u64, u64) = (0x7472_656c_6c69_7331, 0x7472_6163_655f_6b31);

fn hasher() -> SipHasher13 {
    SipHasher13::new_with_keys(KEYS.0, KEYS.1)
}

/// The seed of one random stream: the run's seed, what the stream is for,
/// the node's address and its incarnation.
pub(super) fn seed_for(seed: u64, what: &str, address: &str, incarnation: u32) -> u64 {
    let mut h = hasher();
    h.write(&seed.to_le_bytes());
    for text in [what, address] {
        h.write(&(text.len() as u64).to_le_bytes());
        h.write(text.as_bytes());
    }
    h.write(&incarnation.to_le_bytes());
    h.finish()
}

/// Everything that happened, folded into one number as it happens: two runs
/// with the same trace hash delivered the same frames and produced the same
/// records, injections, crashes and restarts at the same times.
#[derive(Default)]
pub(super) struct Trace {
    hash: u64,
    /// A tuple's wire encoding, reused.
    scratch: Vec<u8>,
}

/// What a fault or scenario step is, in the trace.
#[derive(Clone, Copy)]
pub(super) enum Happening {
    Start = 1,
    Crash = 2,
    Scenario = 3,
}

impl Trace {
    pub fn value(&self) -> u64 {
        self.hash
    }

    fn fold(&mut self, digest: u64) {
        self.hash = (self.hash.rotate_left(5) ^ digest).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn tuple(&mut self, h: &mut SipHasher13, tuple: &[Value]) {
        self.scratch.clear();
        trellis_wire::encode_tuple(&mut self.scratch, tuple);
        h.write(&(self.scratch.len() as u64).to_le_bytes());
        h.write(&self.scratch);
    }

    /// A node started or crashed, or scenario event `index` ran.
    pub fn happening(&mut self, what: Happening, index: usize, now: Time) {
        let mut h = hasher();
        h.write_u8(what as u8);
        h.write(&(index as u64).to_le_bytes());
        h.write(&now.to_le_bytes());
        self.fold(h.finish());
    }

    /// A frame delivered from node `from` to node `to`.
    pub fn frame(&mut self, now: Time, from: usize, to: usize, bytes: &[u8]) {
        let mut h = hasher();
        h.write(&now.to_le_bytes());
        h.write(&(from as u64).to_le_bytes());
        h.write(&(to as u64).to_le_bytes());
        h.write(bytes);
        self.fold(h.finish());
    }

    /// The watch records of one activation of a node.
    pub fn records(&mut self, records: &[Record]) {
        let mut h = hasher();
        for r in records {
            h.write(&r.time.to_le_bytes());
            h.write(&r.tick.to_le_bytes());
            h.write_u8(r.kind as u8);
            h.write(&r.relation.0.to_le_bytes());
            self.tuple(&mut h, &r.tuple);
        }
        self.fold(h.finish());
    }

    /// A tuple injected at node `node`.
    pub fn injection(&mut self, now: Time, node: usize, relation: RelId, tuple: &[Value]) {
        let mut h = hasher();
        h.write(&now.to_le_bytes());
        h.write(&(node as u64).to_le_bytes());
        h.write(&relation.0.to_le_bytes());
        self.tuple(&mut h, tuple);
        self.fold(h.finish());
    }
}
