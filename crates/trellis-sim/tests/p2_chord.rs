//! examples/p2/chord.olg, Chord written as P2 wrote it (event-driven
//! successor eviction), in the simulator: in P2 semantics its successor
//! lists stay within their bound, the ring forms and lookups are answered
//! by the key's true successor; in tick semantics the same rules evict one
//! successor per tick and the lists grow (docs/language.md, "P2
//! compatibility"). A P2 run replays bit for bit from its seed.

use trellis_plan::Semantics;
use trellis_sim::{Options, Quiet, Scenario, Simulation};
use trellis_value::Value;

const PROGRAM: &str = include_str!("../../../examples/p2/chord.olg");
const SCENARIO: &str = include_str!("../../../examples/p2/chord.toml");
/// The program's `SUCCESSORS`.
const BOUND: usize = 4;

/// The example scenario with `nodes` nodes for `seconds`, in `semantics`.
fn simulate(semantics: Semantics, nodes: usize, seconds: f64) -> Simulation {
    let mut scenario: Scenario = toml::from_str(SCENARIO).expect("valid scenario");
    scenario.simulation.nodes = nodes;
    scenario.simulation.duration = seconds;
    let options = trellis_sim::parse_options(&scenario, &[]);
    let loaded = trellis_plan::load_str("chord.olg", PROGRAM, &options)
        .unwrap_or_else(|d| panic!("chord.olg does not compile:\n{d:?}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let mut plan = loaded.plan;
    assert_eq!(plan.semantics, Semantics::P2, "the program asks for P2");
    plan.semantics = semantics;
    let mut sim = Simulation::new(plan, scenario, &Options::default()).expect("valid simulation");
    sim.run(&mut Quiet);
    sim
}

/// Every node's successor-list length.
fn list_lengths(sim: &Simulation, nodes: usize) -> Vec<usize> {
    (0..nodes)
        .map(|i| sim.table(i, "succ").expect("no node crashes").len())
        .collect()
}

/// Nodes whose best successor is not the next identifier on the ring,
/// with their successor lists.
fn wrong_successors(sim: &Simulation, nodes: usize) -> Vec<(usize, Vec<String>)> {
    let id = |i: usize| sim.table(i, "node").expect("up")[0][1].clone();
    let mut ring: Vec<(Value, usize)> = (0..nodes).map(|i| (id(i), i)).collect();
    ring.sort();
    (0..ring.len())
        .filter_map(|k| {
            let (_, i) = &ring[k];
            let (next, _) = &ring[(k + 1) % ring.len()];
            let best = sim.table(*i, "bestSucc").expect("up");
            let right = best.first().is_some_and(|b| &b[1] == next);
            let list = sim.table(*i, "succ").expect("up");
            (!right).then(|| (*i, list.iter().map(|t| t[2].literal()).collect()))
        })
        .collect()
}

/// The lookups measured, and how many the key's true successor answered.
fn lookups(sim: &Simulation) -> (usize, usize) {
    let m = &sim.measurements().measures[0];
    let correct = m.samples.iter().filter(|s| s.correct == Some(true)).count();
    (m.samples.len(), correct)
}

#[test]
fn p2_semantics_keeps_successor_lists_bounded_and_lookups_right() {
    let nodes = 50;
    let sim = simulate(Semantics::P2, nodes, 240.0);
    let lengths = list_lengths(&sim, nodes);
    assert!(
        lengths.iter().all(|&n| (1..=BOUND).contains(&n)),
        "successor lists: {lengths:?}"
    );
    let ring = sim.ring().expect("the scenario checks the ring");
    let (_, right, live) = *ring.checks.last().expect("checked");
    assert_eq!(
        (right, live),
        (nodes, nodes),
        "wrong best successors: {:?}",
        wrong_successors(&sim, nodes)
    );
    let (done, correct) = lookups(&sim);
    assert!(done > 1000, "{done} lookups completed");
    assert_eq!(
        correct, done,
        "every lookup answered by the key's successor"
    );
    for i in 0..nodes {
        let best = sim.table(i, "bestSucc").expect("up");
        assert!(matches!(best[0][1], Value::Id(_)), "node {i}: {best:?}");
    }
}

#[test]
fn tick_semantics_lets_the_same_successor_lists_grow() {
    // Fewer nodes and seconds: the growing lists make this run slow.
    let nodes = 20;
    let sim = simulate(Semantics::Tick, nodes, 60.0);
    let lengths = list_lengths(&sim, nodes);
    let longest = lengths.iter().max().copied().unwrap_or(0);
    assert!(
        longest > 2 * BOUND,
        "one eviction per tick should let lists grow: {lengths:?}"
    );
}

#[test]
fn p2_semantics_replays_bit_for_bit() {
    // The same program, scenario and seed: the same run (§5.8).
    let first = simulate(Semantics::P2, 10, 60.0);
    let second = simulate(Semantics::P2, 10, 60.0);
    assert_eq!(first.trace_hash(), second.trace_hash());
    assert_eq!(
        first.engine_stats().ticks,
        second.engine_stats().ticks,
        "the same fixpoints"
    );
}
