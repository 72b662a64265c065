//! Batching: the tuples a node sends one destination in one flush go in one
//! frame, split message by message when the frame would exceed the
//! transport's limit.

use std::collections::HashMap;
use std::sync::Arc;

use trellis_engine::Message;
use trellis_plan::Plan;
use trellis_wire::{ClusterKey, EncodedMessages, WireMessage};

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
    sender: Arc<str>,
    key: Option<ClusterKey>,
    limit: usize,
    /// Relation names by `RelId`, shared so messages clone cheaply.
    names: Vec<Arc<str>>,
    encoded: EncodedMessages,
    groups: Vec<(Arc<str>, Vec<WireMessage>)>,
    index: HashMap<Arc<str>, usize>,
}

impl Batcher {
    /// `limit`: the largest frame, in bytes, the transport carries.
    pub fn new(plan: &Plan, sender: &str, key: Option<ClusterKey>, limit: usize) -> Batcher {
        Batcher {
            sender: Arc::from(sender),
            key,
            limit,
            names: plan
                .relations
                .iter()
                .map(|r| Arc::from(r.name.as_str()))
                .collect(),
            encoded: EncodedMessages::default(),
            groups: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Frames for `sends`, destinations in order of first appearance and
    /// tuples in the order the node produced them.
    pub fn pack(&mut self, sends: &[Message], out: &mut Vec<Packed>) {
        let mut last: Option<usize> = None;
        for m in sends {
            // Runs of sends to one destination are the common case: check
            // the previous destination before hashing.
            let same = last.filter(|&i| {
                let d = &self.groups[i].0;
                Arc::ptr_eq(d, &m.destination) || **d == *m.destination
            });
            let slot = match same.or_else(|| self.index.get(&m.destination).copied()) {
                Some(i) => i,
                None => {
                    self.groups.push((m.destination.clone(), Vec::new()));
                    self.index
                        .insert(m.destination.clone(), self.groups.len() - 1);
                    self.groups.len() - 1
                }
            };
            let relation = self
                .names
                .get(m.relation.0 as usize)
                .cloned()
                .unwrap_or_else(|| Arc::from("?"));
            last = Some(slot);
            self.groups[slot].1.push(WireMessage {
                relation,
                tuple: m.tuple.clone(),
                delete: m.delete,
            });
        }
        let groups = std::mem::take(&mut self.groups);
        self.index.clear();
        for (destination, messages) in &groups {
            self.pack_messages(destination, messages, out);
        }
        self.groups = groups;
        self.groups.clear();
    }

    /// Frames for messages to one destination: each message is encoded
    /// once, then the batch is cut greedily into frames within the limit.
    pub fn pack_messages(
        &mut self,
        destination: &Arc<str>,
        messages: &[WireMessage],
        out: &mut Vec<Packed>,
    ) {
        if messages.is_empty() {
            return;
        }
        let key = self.key.as_ref();
        let tagged = key.is_some();
        let sender = &*self.sender;
        let encoded = &mut self.encoded;
        encoded.encode(messages);
        let fits = |range: std::ops::Range<usize>| {
            trellis_wire::frame_overhead(sender, range.len(), tagged) + encoded.body_len(range)
                <= self.limit
        };
        let push = |range: std::ops::Range<usize>, out: &mut Vec<Packed>| {
            if !range.is_empty() {
                out.push(Packed::Frame {
                    destination: destination.clone(),
                    bytes: encoded.frame(sender, range.clone(), key),
                    tuples: range.len(),
                });
            }
        };
        let mut start = 0;
        for (i, m) in messages.iter().enumerate() {
            if !fits(i..i + 1) {
                push(start..i, out);
                out.push(Packed::Oversize {
                    destination: destination.clone(),
                    relation: m.relation.clone(),
                    bytes: trellis_wire::frame_overhead(sender, 1, tagged)
                        + encoded.body_len(i..i + 1),
                });
                start = i + 1;
            } else if !fits(start..i + 1) {
                push(start..i, out);
                start = i;
            }
        }
        push(start..messages.len(), out);
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

    fn message(plan: &Plan, dest: &str, payload: usize) -> Message {
        Message {
            destination: Arc::from(dest),
            relation: plan.lookup("big").expect("declared"),
            tuple: vec![Value::str(dest), Value::str(&"x".repeat(payload))].into(),
            delete: false,
        }
    }

    #[test]
    fn one_frame_per_destination() {
        let plan = plan();
        let mut b = Batcher::new(&plan, "me:1", None, 60_000);
        let sends = vec![
            message(&plan, "a:1", 10),
            message(&plan, "b:1", 10),
            message(&plan, "a:1", 11),
        ];
        let mut out = Vec::new();
        b.pack(&sends, &mut out);
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
    }

    #[test]
    fn large_batches_split_and_huge_tuples_are_refused() {
        let plan = plan();
        let key = ClusterKey::new(b"k".to_vec());
        for key in [None, Some(key)] {
            let mut b = Batcher::new(&plan, "me:1", key.clone(), 60_000);
            let mut sends: Vec<Message> = (0..100).map(|_| message(&plan, "a:1", 1000)).collect();
            sends.insert(50, message(&plan, "a:1", 70_000));
            let mut out = Vec::new();
            b.pack(&sends, &mut out);
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
