//! The run's trace hash and the seeds of its random streams.

use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;

pub(super) fn mix(trace: u64, digest: u64) -> u64 {
    (trace.rotate_left(5) ^ digest).wrapping_mul(0x517c_c1b7_2722_0a95)
}

pub(super) fn seed_for(seed: u64, what: &str, address: &str, incarnation: u32) -> u64 {
    let mut h = FxHasher::default();
    seed.hash(&mut h);
    what.hash(&mut h);
    address.hash(&mut h);
    incarnation.hash(&mut h);
    h.finish()
}
