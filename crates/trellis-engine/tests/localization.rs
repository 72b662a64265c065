//! Localization over tables, as a property: the rules of
//! `examples/p2/reachability.olg` (`reach` from `link`, both tables, the
//! recursive rule reading two nodes) run on several nodes of the engine's harness computes at every
//! node exactly what a centralized transitive closure says it reaches, on
//! rings and on random graphs (fixed seeds), with links arriving at once or
//! in two batches after the first has settled.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trellis_engine::harness::{Harness, Quiet};
use trellis_engine::{NANOS_PER_SECOND, Node, NodeConfig, Time};
use trellis_plan::Plan;
use trellis_syntax::ParseOptions;
use trellis_value::Value;

const EXAMPLE: &str = include_str!("../../../examples/p2/reachability.olg");

/// The example's tables and reachability rules, without the rules that
/// make its ring: here the links are the test's.
const RULES: [&str; 4] = [
    "materialize(link, infinity, infinity, keys(1, 2)).",
    "materialize(reach, infinity, infinity, keys(1, 2)).",
    "r1 reach(@X, Y) :- link(@X, Y).",
    "r2 reach(@X, Z) :- link(@X, Y), reach(@Y, Z).",
];

type Edges = BTreeSet<(usize, usize)>;

fn plan() -> Arc<Plan> {
    for rule in RULES {
        assert!(EXAMPLE.contains(rule), "the example has `{rule}`");
    }
    let loaded = trellis_plan::load_str(
        "reachability.olg",
        &RULES.join("\n"),
        &ParseOptions::default(),
    )
    .expect("the rules compile");
    Arc::new(loaded.plan)
}

fn address(i: usize) -> String {
    format!("n{i}")
}

/// What each node reaches, by a centralized transitive closure.
fn closure(nodes: usize, edges: &Edges) -> Vec<BTreeSet<usize>> {
    let mut reach: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); nodes];
    for &(a, b) in edges {
        reach[a].insert(b);
    }
    loop {
        let mut changed = false;
        for &(a, b) in edges {
            let via: Vec<usize> = reach[b].iter().copied().collect();
            for z in via {
                changed |= reach[a].insert(z);
            }
        }
        if !changed {
            return reach;
        }
    }
}

/// Run the program on `nodes` nodes, the links arriving in `batches` (each
/// once the one before has settled); what each node's `reach` holds.
fn run(plan: &Arc<Plan>, nodes: usize, batches: &[Edges], latency: Time) -> Vec<BTreeSet<usize>> {
    let mut h = Harness::new(0);
    h.latency = latency;
    for i in 0..nodes {
        let node = Node::new(plan.clone(), NodeConfig::new(address(i), i as u64)).expect("a node");
        h.add(node);
    }
    let index: BTreeMap<String, usize> = (0..nodes).map(|i| (address(i), i)).collect();
    for batch in batches {
        for &(a, b) in batch {
            let link = vec![Value::str(&address(a)), Value::str(&address(b))];
            h.node_mut(a)
                .inject("link", link.into())
                .expect("link is a table of the program");
        }
        // No timers: the nodes settle, and the harness runs out of work.
        h.run_until(h.now() + 1000 * NANOS_PER_SECOND, &mut Quiet);
        assert_eq!(h.next_time(), None, "the nodes settled");
    }
    (0..nodes)
        .map(|i| {
            h.node(i)
                .table("reach")
                .expect("reach is a table")
                .iter()
                .map(|row| match &row[1] {
                    Value::Str(s) => index[&**s],
                    v => panic!("reach holds an address, not {v:?}"),
                })
                .collect()
        })
        .collect()
}

fn check(plan: &Arc<Plan>, what: &str, nodes: usize, edges: &Edges) {
    let expected = closure(nodes, edges);
    // At once, then half first and the rest once that has settled: new
    // links re-fire the rule at the first location, and the reach rows
    // they make re-fire it at the second.
    let (first, second): (Edges, Edges) =
        edges
            .iter()
            .enumerate()
            .fold(Default::default(), |(mut a, mut b), (i, e)| {
                if i % 2 == 0 {
                    a.insert(*e)
                } else {
                    b.insert(*e)
                };
                (a, b)
            });
    for (batches, latency) in [
        (vec![edges.clone()], 0),
        (vec![first, second], NANOS_PER_SECOND / 100),
    ] {
        let got = run(plan, nodes, &batches, latency);
        assert_eq!(
            got,
            expected,
            "{what}: {nodes} nodes, links {edges:?} in {} batch(es)",
            batches.len()
        );
    }
}

#[test]
fn rings_reach_every_node() {
    let plan = plan();
    for nodes in 3..=8 {
        let ring: Edges = (0..nodes).map(|i| (i, (i + 1) % nodes)).collect();
        check(&plan, "ring", nodes, &ring);
    }
}

#[test]
fn random_graphs_match_a_central_transitive_closure() {
    let plan = plan();
    for seed in 0..24 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let nodes = rng.random_range(2..=8);
        let edges: Edges = (0..nodes)
            .flat_map(|a| (0..nodes).map(move |b| (a, b)))
            .filter(|_| rng.random_bool(0.25))
            .collect();
        check(&plan, &format!("seed {seed}"), nodes, &edges);
    }
}
