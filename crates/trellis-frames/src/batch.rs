//! Batching: the tuples a node sends one destination in one flush go in one
//! frame, split message by message when the frame would exceed the
//! transport's limit.

use std::collections::HashMap;
use std::sync::Arc;

use trellis_engine::{Outgoing, Sends};
use trellis_plan::Plan;
use trellis_wire::{EncodedFrame, Encoder, Signing};

/// Destinations looked up by a scan, before the rest by hashing.
const SCANNED: usize = 8;

/// One unit of output for the transport.
#[derive(Debug, Clone, PartialEq)]
pub enum Packed {
    /// An encoded frame for `destination` holding `tuples` tuples.
    Frame {
        destination: Arc<str>,
        bytes: Vec<u8>,
        tuples: usize,
    },
    /// A single tuple that does not fit in a frame: refused.
    Oversize {
        destination: Arc<str>,
        relation: Arc<str>,
        bytes: usize,
    },
}

/// Groups a flush's sends per destination and encodes them.
pub struct Batcher {
    encoder: Encoder,
    /// Relation names by `RelId`.
    names: Vec<Arc<str>>,
    /// Per destination, the indices of its sends.
    groups: Vec<(Arc<str>, Vec<usize>)>,
    /// The groups after the first [`SCANNED`], by destination.
    index: HashMap<Arc<str>, usize>,
    frames: Vec<EncodedFrame>,
}

impl Batcher {
    /// `limit`: the largest frame, in bytes, the transport carries; with
    /// `signing`, frames are authenticated.
    pub fn new(plan: &Plan, sender: &str, signing: Option<Signing>, limit: usize) -> Batcher {
        Batcher {
            encoder: Encoder::new(sender, signing, limit),
            names: plan
                .relations
                .iter()
                .map(|r| Arc::from(r.name.as_str()))
                .collect(),
            groups: Vec::new(),
            index: HashMap::new(),
            frames: Vec::new(),
        }
    }

    /// Give back a sent frame's bytes, to write a later frame in.
    pub fn recycle(&mut self, bytes: Vec<u8>) {
        self.encoder.recycle(bytes);
    }

    /// Frames for the sends `keep` picks, destinations in order of first
    /// appearance and tuples in the order the node produced them. A batch
    /// too large for one frame is cut message by message. `sized` learns
    /// each packed tuple's size in its frame.
    pub fn pack(
        &mut self,
        sends: &Sends,
        keep: impl Fn(&Outgoing) -> bool,
        out: &mut Vec<Packed>,
        mut sized: impl FnMut(Outgoing<'_>, usize),
    ) {
        let mut used = 0;
        let mut last: Option<usize> = None;
        for (i, m) in sends.iter().enumerate() {
            if !keep(&m) {
                continue;
            }
            let destination = m.destination();
            // Runs of sends to one destination are the common case: check
            // the previous destination (its pointer first: `Arc`'s `==`
            // compares bytes) before hashing.
            let same = last.filter(|&g| {
                let d = &self.groups[g].0;
                Arc::ptr_eq(d, destination) || d == destination
            });
            let found = same.or_else(|| {
                // A flush has few destinations, most often: look through
                // the first few before hashing.
                self.groups[..used.min(SCANNED)]
                    .iter()
                    .position(|(d, _)| Arc::ptr_eq(d, destination) || d == destination)
                    .or_else(|| (used > SCANNED).then(|| self.index.get(destination).copied())?)
            });
            let slot = match found {
                Some(g) => g,
                None => {
                    // Group vectors are kept (empty) from flush to flush.
                    if used == self.groups.len() {
                        self.groups.push((destination.clone(), Vec::new()));
                    } else {
                        self.groups[used].0 = destination.clone();
                    }
                    if used >= SCANNED {
                        self.index.insert(destination.clone(), used);
                    }
                    used += 1;
                    used - 1
                }
            };
            last = Some(slot);
            self.groups[slot].1.push(i);
        }
        self.index.clear();
        for (destination, indices) in &mut self.groups[..used] {
            self.encoder.address(destination);
            for &i in indices.iter() {
                let m = sends.get(i);
                let relation = &self.names[m.relation.0 as usize];
                match self.encoder.push_traced(
                    relation,
                    m.fields,
                    m.delete,
                    m.derivation,
                    &mut self.frames,
                ) {
                    Ok(bytes) => sized(m, bytes),
                    Err(o) => out.push(Packed::Oversize {
                        destination: destination.clone(),
                        relation: relation.clone(),
                        bytes: o.bytes,
                    }),
                }
            }
            indices.clear();
            self.encoder.finish(&mut self.frames);
            out.extend(self.frames.drain(..).map(|f| Packed::Frame {
                destination: destination.clone(),
                bytes: f.bytes,
                tuples: f.messages,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_value::Value;

    fn plan() -> Plan {
        let options = trellis_syntax::ParseOptions::default();
        trellis_plan::load_str("t", "big(@A, X) :- go(@B, A, X).\n", &options)
            .expect("compiles")
            .plan
    }

    fn send(sends: &mut Sends, plan: &Plan, dest: &str, payload: usize) {
        let mut fields = vec![Value::str(dest), Value::str(&"x".repeat(payload))];
        sends.push(
            plan.lookup("big").expect("declared"),
            &mut fields,
            false,
            None,
        );
    }

    #[test]
    fn one_frame_per_destination() {
        let plan = plan();
        let mut b = Batcher::new(&plan, "me:1", None, 60_000);
        let mut sends = Sends::default();
        send(&mut sends, &plan, "a:1", 10);
        send(&mut sends, &plan, "b:1", 10);
        send(&mut sends, &plan, "a:1", 11);
        let mut out = Vec::new();
        b.pack(&sends, |_| true, &mut out, |_, _| {});
        assert_eq!(out.len(), 2);
        let Packed::Frame {
            destination,
            bytes,
            tuples,
        } = &out[0]
        else {
            panic!("a frame")
        };
        assert_eq!(&**destination, "a:1");
        assert_eq!(*tuples, 2);
        let frame = trellis_wire::decode(bytes, None).expect("decodes");
        assert_eq!(frame.messages.len(), 2);
        assert_eq!(&*frame.sender, "me:1");

        // Only the sends `keep` picks (those of one transport, say).
        out.clear();
        b.pack(
            &sends,
            |s| s.fields[1] != Value::str(&"x".repeat(10)),
            &mut out,
            |_, _| {},
        );
        assert_eq!(out.len(), 1);
        assert!(
            matches!(&out[0], Packed::Frame { destination, tuples: 1, .. } if &**destination == "a:1")
        );
    }

    #[test]
    fn many_destinations_each_get_one_frame() {
        // More destinations than are found by a scan: the rest are hashed.
        let plan = plan();
        let mut b = Batcher::new(&plan, "me:1", None, 60_000);
        let mut sends = Sends::default();
        for round in 0..3 {
            for d in 0..20 {
                send(&mut sends, &plan, &format!("n{d}:1"), round);
            }
        }
        let mut out = Vec::new();
        b.pack(&sends, |_| true, &mut out, |_, _| {});
        assert_eq!(out.len(), 20);
        for (d, p) in out.iter().enumerate() {
            let Packed::Frame {
                destination,
                tuples,
                ..
            } = p
            else {
                panic!("a frame")
            };
            assert_eq!(&**destination, format!("n{d}:1"));
            assert_eq!(*tuples, 3);
        }
    }

    #[test]
    fn large_batches_split_and_huge_tuples_are_refused() {
        let plan = plan();
        let key = trellis_wire::ClusterKey::new(b"k".to_vec());
        let signing = Signing {
            key: key.clone(),
            stream: 0,
            first_epoch: 1,
        };
        for (key, signing) in [(None, None), (Some(key), Some(signing))] {
            let mut b = Batcher::new(&plan, "me:1", signing, 60_000);
            let mut sends = Sends::default();
            for i in 0..101 {
                send(
                    &mut sends,
                    &plan,
                    "a:1",
                    if i == 50 { 70_000 } else { 1000 },
                );
            }
            let mut out = Vec::new();
            b.pack(&sends, |_| true, &mut out, |_, _| {});
            let mut tuples = 0;
            let mut oversize = 0;
            for p in &out {
                match p {
                    Packed::Frame {
                        bytes, tuples: n, ..
                    } => {
                        assert!(bytes.len() <= 60_000, "{} bytes", bytes.len());
                        let frame = trellis_wire::decode(bytes, key.as_ref()).expect("decodes");
                        assert_eq!(frame.messages.len(), *n);
                        tuples += n;
                    }
                    Packed::Oversize {
                        relation, bytes, ..
                    } => {
                        assert_eq!(&**relation, "big");
                        assert!(*bytes > 60_000);
                        oversize += 1;
                    }
                }
            }
            assert_eq!(tuples, 100);
            assert_eq!(oversize, 1);
            assert!(out.len() >= 3);
        }
    }
}
