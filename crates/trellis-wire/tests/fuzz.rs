//! Frames from the network never make the decoder panic, a keyed frame
//! changed in any way is refused, and a keyed frame taken once is refused
//! when it comes again.
//!
//! Inputs are random bytes, and real frames (plain and keyed) mutated the
//! way a hostile network or a broken sender would: bytes flipped, the frame
//! cut short, a stretch repeated, junk inserted.

use std::sync::Arc;

use proptest::prelude::*;
use trellis_value::{Id, Value};
use trellis_wire::{ClusterKey, Gate, Signing, WireMessage, decode, encode};

#[path = "../../../tests/support/fuzz_config.rs"]
mod fuzz_config;
use fuzz_config::fuzz_config;

const NODE: &str = "127.0.0.1:9001";

fn key() -> ClusterKey {
    ClusterKey::new(b"0123456789abcdef0123456789abcdef".to_vec())
}

fn signing() -> Signing {
    Signing {
        key: key(),
        stream: 0,
        first_epoch: 1,
    }
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        "[a-z0-9:.]{0,12}".prop_map(|s| Value::str(&s)),
        any::<[u8; 20]>().prop_map(|b| Value::Id(Id::from_be_bytes(b))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop::collection::vec(inner, 0..4).prop_map(|v| Value::List(v.into()))
    })
}

fn messages() -> impl Strategy<Value = Vec<WireMessage>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["succ", "ping", "lookup", "x"]),
            prop::collection::vec(value(), 0..6),
            any::<bool>(),
        )
            .prop_map(|(relation, tuple, delete)| WireMessage {
                relation: Arc::from(relation),
                tuple: tuple.into(),
                delete,
                derivation: None,
            }),
        0..6,
    )
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Cut(usize),
    Repeat(usize, usize),
    Insert(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, bits)| Mutation::Flip(at, bits)),
        any::<usize>().prop_map(Mutation::Cut),
        (any::<usize>(), 1..64usize).prop_map(|(at, len)| Mutation::Repeat(at, len)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(at, junk)| Mutation::Insert(at, junk)),
    ]
}

/// Apply the mutations; true if the bytes changed.
fn mutate(frame: &mut Vec<u8>, mutations: &[Mutation]) -> bool {
    let before = frame.clone();
    for m in mutations {
        let len = frame.len().max(1);
        match m {
            Mutation::Flip(at, bits) => {
                if let Some(b) = frame.get_mut(at % len) {
                    *b ^= bits;
                }
            }
            Mutation::Cut(at) => frame.truncate(at % len),
            Mutation::Repeat(at, n) => {
                let from = (at % len).min(frame.len());
                let to = (from + n).min(frame.len());
                let stretch = frame[from..to].to_vec();
                frame.splice(to..to, stretch);
            }
            Mutation::Insert(at, junk) => {
                let at = (at % len).min(frame.len());
                frame.splice(at..at, junk.iter().copied());
            }
        }
    }
    *frame != before
}

proptest! {
    #![proptest_config(fuzz_config(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode(&bytes, None);
        prop_assert!(decode(&bytes, Some(&key())).is_err());
    }

    #[test]
    fn mutated_frames_never_panic_and_keyed_ones_are_refused(
        messages in messages(),
        keyed in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let key = keyed.then(key);
        let sign = keyed.then(signing);
        let mut frame = encode("127.0.0.1:9000", NODE, &messages, sign.as_ref());
        let decoded = decode(&frame, key.as_ref()).expect("an unchanged frame decodes");
        prop_assert_eq!(decoded.messages.len(), messages.len());
        if keyed {
            let mut gate = Gate::new([Arc::from(NODE)], 16);
            let envelope = trellis_wire::Envelope {
                sender: decoded.sender.clone(),
                session: decoded.session.clone(),
            };
            prop_assert!(gate.admit(&envelope).is_ok());
            prop_assert!(gate.admit(&envelope).is_err(), "a replayed frame was taken");
        }
        let changed = mutate(&mut frame, &mutations);
        let result = decode(&frame, key.as_ref());
        if keyed && changed {
            prop_assert!(result.is_err(), "a changed keyed frame was accepted");
        }
    }
}
