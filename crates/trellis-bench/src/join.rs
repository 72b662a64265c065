//! Lookups per second through Chord's lookup rules (a 3-way join with a
//! ring-interval selection, and a `min<>` aggregate over the finger table),
//! against a hand-written loop with the same value semantics.

use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trellis_engine::{Output, RecordKind, Tuple};
use trellis_plan::Plan;
use trellis_value::{BinaryOp, Id, Value, binary, in_interval};

use crate::{compile, median, millis, new_node, ratio, run_to_quiescence, thousands, timed};

const PROGRAM: &str = "\
materialize(node, infinity, 1, keys(1)).
materialize(finger, infinity, infinity, keys(1,2)).
materialize(bestSucc, infinity, 1, keys(1)).
l1 lookupResults(@R, K, S, SI, E) :- node(@NI, N), lookup(@NI, K, R, E), bestSucc(@NI, S, SI), K in (N, S].
l2 bestLookupDist(@NI, K, R, E, min<D>) :- node(@NI, N), lookup(@NI, K, R, E), finger(@NI, I, B, BI), D := K - B - 1, B in (N, K).
";

/// Lookups injected per tick.
const BATCH: usize = 1_000;
const FINGERS: [usize; 4] = [10, 100, 1_000, 10_000];
const SEED: u64 = 2026;
/// Where the `lookupResults` go (another node, so they leave as sends).
const REQUESTER: &str = "client";

/// One node's state and the lookups it is sent.
#[derive(Clone)]
struct Ring {
    address: Value,
    /// The node's ID `N`.
    id: Value,
    /// `bestSucc`: the first finger clockwise from `N`, and its address.
    succ: Value,
    succ_address: Value,
    /// `finger(@NI, I, B, BI)` rows.
    fingers: Vec<Tuple>,
    /// `lookup(@NI, K, R, E)` events, [`BATCH`] per tick, distinct `E`.
    batches: Vec<Vec<Tuple>>,
}

impl Ring {
    fn new(fingers: usize, batches: usize) -> Ring {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        let address = Value::str("n");
        let id = Value::Id(Id::random(&mut rng));
        let fingers: Vec<Tuple> = (0..fingers)
            .map(|i| {
                Tuple::from(vec![
                    address.clone(),
                    Value::Id(Id::from_u64(i as u64)),
                    Value::Id(Id::random(&mut rng)),
                    Value::str(&format!("f{i}")),
                ])
            })
            .collect();
        let (Value::Id(n), true) = (&id, !fingers.is_empty()) else {
            unreachable!("an ID and at least one finger")
        };
        let first = fingers
            .iter()
            .min_by_key(|f| match &f[2] {
                Value::Id(b) => b.wrapping_sub(*n),
                _ => unreachable!("finger IDs are IDs"),
            })
            .expect("at least one finger");
        let requester = Value::str(REQUESTER);
        let mut e = 0;
        let batches = (0..batches)
            .map(|_| {
                (0..BATCH)
                    .map(|_| {
                        e += 1;
                        Tuple::from(vec![
                            address.clone(),
                            Value::Id(Id::random(&mut rng)),
                            requester.clone(),
                            Value::Int(e),
                        ])
                    })
                    .collect()
            })
            .collect();
        Ring {
            succ: first[2].clone(),
            succ_address: first[3].clone(),
            address,
            id,
            fingers,
            batches,
        }
    }

    fn lookups(&self) -> usize {
        self.batches.len() * BATCH
    }
}

/// What one system derived: the `lookupResults` tuples, how many
/// `bestLookupDist` tuples, and those tuples when they were collected.
#[derive(Debug, Default)]
struct Derived {
    results: Vec<Tuple>,
    dist_count: u64,
    dists: Vec<Tuple>,
}

impl Derived {
    fn sorted(mut self) -> Derived {
        self.results.sort();
        self.dists.sort();
        self
    }
}

/// Trellis: install the node's tables, then inject each batch and tick to
/// quiescence; only the batches are timed. `bestLookupDist` tuples are
/// collected when the plan watches them.
fn trellis(plan: &Arc<Plan>, ring: &Ring) -> (Duration, Derived) {
    let mut node = new_node(plan);
    let mut out = Output::default();
    let inject = |node: &mut trellis_engine::Node, relation: &str, fields: Vec<Value>| {
        node.inject(relation, Tuple::from(fields)).expect("arity");
    };
    inject(
        &mut node,
        "node",
        vec![ring.address.clone(), ring.id.clone()],
    );
    inject(
        &mut node,
        "bestSucc",
        vec![
            ring.address.clone(),
            ring.succ.clone(),
            ring.succ_address.clone(),
        ],
    );
    for f in &ring.fingers {
        node.inject("finger", f.clone()).expect("finger/4");
    }
    run_to_quiescence(&mut node, &mut out, |_| {});

    let results_rel = plan.lookup("lookupResults").expect("declared");
    let dist_rel = plan.lookup("bestLookupDist").expect("declared");
    let dists_before = node.stats().relations[dist_rel.0 as usize].events;
    let mut derived = Derived::default();
    let (time, ()) = timed(|| {
        for batch in &ring.batches {
            for lookup in batch {
                node.inject("lookup", lookup.clone()).expect("lookup/4");
            }
            run_to_quiescence(&mut node, &mut out, |out| {
                for m in out.sends.iter() {
                    if m.relation == results_rel {
                        derived.results.push(m.tuple());
                    }
                }
                for r in &out.records {
                    if r.relation == dist_rel && r.kind == RecordKind::Event {
                        derived.dists.push(r.tuple.clone());
                    }
                }
            });
        }
    });
    derived.dist_count = node.stats().relations[dist_rel.0 as usize].events - dists_before;
    (time, derived)
}

/// The same two rules written by hand over a `Vec` of finger rows, with
/// the language's interval test, arithmetic and order.
fn baseline(ring: &Ring) -> (Duration, Derived) {
    let sub = |a: &Value, b: &Value| binary(BinaryOp::Sub, a, b).expect("ID arithmetic");
    let one = Value::Int(1);
    timed(|| {
        let mut derived = Derived::default();
        for lookup in ring.batches.iter().flatten() {
            let (k, r, e) = (&lookup[1], &lookup[2], &lookup[3]);
            // l1: K in (N, S].
            if in_interval(k, &ring.id, &ring.succ, false, true).expect("IDs") {
                derived.results.push(Tuple::from(vec![
                    r.clone(),
                    k.clone(),
                    ring.succ.clone(),
                    ring.succ_address.clone(),
                    e.clone(),
                ]));
            }
            // l2: min over the fingers B in (N, K) of K - B - 1; null if none.
            let mut best = Value::Null;
            for finger in &ring.fingers {
                let b = &finger[2];
                if in_interval(b, &ring.id, k, false, false).expect("IDs") {
                    let d = sub(&sub(k, b), &one);
                    let smaller = binary(BinaryOp::Lt, &d, &best)
                        .is_ok_and(|lt| matches!(lt, Value::Bool(true)));
                    if matches!(best, Value::Null) || smaller {
                        best = d;
                    }
                }
            }
            derived.dists.push(Tuple::from(vec![
                ring.address.clone(),
                k.clone(),
                r.clone(),
                e.clone(),
                best,
            ]));
        }
        derived.dist_count = derived.dists.len() as u64;
        derived
    })
}

/// Before timing anything: on one batch, Trellis (watching
/// `bestLookupDist`) and the loop must derive exactly the same tuples.
fn check(ring: &Ring) {
    let watched = compile("lookup.olg", &format!("{PROGRAM}watch(bestLookupDist).\n"));
    let mut one = ring.clone();
    one.batches.truncate(1);
    let engine = trellis(&watched, &one).1.sorted();
    let expected = baseline(&one).1.sorted();
    assert!(
        engine.results == expected.results,
        "{} fingers: lookupResults differ: Trellis {}, loop {} tuples",
        ring.fingers.len(),
        engine.results.len(),
        expected.results.len()
    );
    if let Some((t, l)) = engine
        .dists
        .iter()
        .zip(&expected.dists)
        .find(|(t, l)| t != l)
    {
        panic!(
            "{} fingers: bestLookupDist differs: Trellis {t:?}, loop {l:?}",
            ring.fingers.len()
        );
    }
    assert_eq!(
        engine.dists.len(),
        expected.dists.len(),
        "{} fingers: bestLookupDist counts differ",
        ring.fingers.len()
    );
}

/// Run the benchmark and print its table.
pub fn run(runs: usize) {
    let plan = compile("lookup.olg", PROGRAM);
    println!("## Chord lookup join\n");
    println!(
        "Median of {runs} run(s); {} `lookup` events injected per tick, each tick run to \
         quiescence; the loop computes the same tuples from the same `Vec`s. Setup (tables) \
         is not timed.\n",
        thousands(BATCH as u64)
    );
    println!(
        "| fingers | lookups | lookupResults | bestLookupDist | Trellis | loop | Trellis lookups/s | loop lookups/s | Trellis/loop |"
    );
    println!("|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for fingers in FINGERS {
        // 1M to 2M lookup x finger combinations (20M at 10,000 fingers).
        let ring = Ring::new(fingers, (2_000 / fingers).clamp(2, 100));
        check(&ring);
        let (mut t, mut l) = (Vec::new(), Vec::new());
        let mut counts = (0, 0);
        for _ in 0..runs {
            let (time, engine) = trellis(&plan, &ring);
            t.push(time);
            let (time, expected) = baseline(&ring);
            l.push(time);
            assert!(
                engine.results.len() == expected.results.len()
                    && engine.dist_count == expected.dist_count,
                "{fingers} fingers: Trellis derived {} lookupResults and {} bestLookupDist, \
                 the loop {} and {}",
                engine.results.len(),
                engine.dist_count,
                expected.results.len(),
                expected.dist_count
            );
            counts = (engine.results.len() as u64, engine.dist_count);
        }
        let (t, l) = (median(&t), median(&l));
        let per_second = |d: Duration| thousands((ring.lookups() as f64 / d.as_secs_f64()) as u64);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(fingers as u64),
            thousands(ring.lookups() as u64),
            thousands(counts.0),
            thousands(counts.1),
            millis(t),
            millis(l),
            per_second(t),
            per_second(l),
            ratio(t, l)
        );
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_rings_agree() {
        for fingers in [1, 7, 40] {
            check(&Ring::new(fingers, 1));
        }
    }

    #[test]
    fn bestsucc_is_the_first_finger_after_n() {
        let ring = Ring::new(50, 0);
        for f in &ring.fingers {
            assert!(!in_interval(&f[2], &ring.id, &ring.succ, false, false).unwrap());
        }
    }
}
