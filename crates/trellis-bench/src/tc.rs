//! Transitive closure: Trellis (materialized tables, one node), ascent and
//! datafrog on the same graphs, results checked to be the same size.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trellis_engine::{Output, Tuple};
use trellis_plan::Plan;
use trellis_value::Value;

use crate::{compile, median, millis, new_node, ratio, run_to_quiescence, thousands, timed};

const PROGRAM: &str = "\
materialize(link, infinity, infinity, keys(1,2,3)).
materialize(path, infinity, infinity, keys(1,2,3)).
r1 path(@N, X, Y) :- link(@N, X, Y).
r2 path(@N, X, Z) :- link(@N, X, Y), path(@N, Y, Z).
";

/// Seed of the random graph.
pub const SEED: u64 = 2026;

/// One graph to close.
struct Graph {
    name: String,
    edges: Vec<(u32, u32)>,
    /// The closure's size when it is known in advance.
    expected: Option<usize>,
}

/// `0 -> 1 -> ... -> n-1`: the longest derivation chain, `n(n-1)/2` paths.
fn chain(n: u32) -> Graph {
    let n64 = u64::from(n);
    Graph {
        name: format!("chain, {} nodes", thousands(n64)),
        edges: (0..n - 1).map(|x| (x, x + 1)).collect(),
        expected: Some((n64 * (n64 - 1) / 2) as usize),
    }
}

/// `edges` distinct directed edges between `nodes` nodes (no self-loops),
/// drawn from ChaCha8 seeded with [`SEED`].
fn random_graph(nodes: u32, edges: usize) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let mut set = BTreeSet::new();
    while set.len() < edges {
        let x = rng.random_range(0..nodes);
        let y = rng.random_range(0..nodes);
        if x != y {
            set.insert((x, y));
        }
    }
    Graph {
        name: format!(
            "random, {} nodes, {} edges (seed {SEED})",
            thousands(u64::from(nodes)),
            thousands(edges as u64)
        ),
        edges: set.into_iter().collect(),
        expected: None,
    }
}

/// Trellis: inject the links, tick until quiescent. Returns the time, the
/// number of paths and the number of ticks.
fn trellis(plan: &Arc<Plan>, edges: &[(u32, u32)]) -> (Duration, usize, u64) {
    let n = Value::str("n");
    let links: Vec<Tuple> = edges
        .iter()
        .map(|&(x, y)| Tuple::from(vec![n.clone(), Value::Int(x.into()), Value::Int(y.into())]))
        .collect();
    let (time, node) = timed(|| {
        let mut node = new_node(plan);
        for link in links {
            node.inject("link", link).expect("link/3");
        }
        run_to_quiescence(&mut node, &mut Output::default(), |_| {});
        node
    });
    let paths = node.table("path").expect("a table").len();
    (time, paths, node.tick())
}

ascent::ascent! {
    /// The closure in ascent (sequential, hash-indexed semi-naive).
    struct AscentTc;
    relation link(u32, u32);
    relation path(u32, u32);
    path(x, y) <-- link(x, y);
    path(x, z) <-- link(x, y), path(y, z);
}

fn ascent(edges: &[(u32, u32)]) -> (Duration, usize) {
    let (time, program) = timed(|| {
        let mut program = AscentTc {
            link: edges.to_vec(),
            ..AscentTc::default()
        };
        program.run();
        program
    });
    (time, program.path.len())
}

/// The classic datafrog closure: `path(y, z)` keyed by `y`, joined with
/// `link` keyed by its target.
fn datafrog(edges: &[(u32, u32)]) -> (Duration, usize) {
    let (time, paths) = timed(|| {
        let mut iteration = datafrog::Iteration::new();
        let link_by_target: datafrog::Relation<(u32, u32)> =
            edges.iter().map(|&(x, y)| (y, x)).collect();
        let path = iteration.variable::<(u32, u32)>("path");
        path.extend(edges.iter().copied());
        while iteration.changed() {
            path.from_join(&path, &link_by_target, |_y, &z, &x| (x, z));
        }
        path.complete()
    });
    (time, paths.len())
}

/// Run the benchmark and print its table.
pub fn run(runs: usize) {
    let plan = compile("tc.olg", PROGRAM);
    println!("## Transitive closure\n");
    println!(
        "Median of {runs} run(s); wall time from the edges in memory to the closure \
         computed (Trellis: node creation, injection, ticks to quiescence).\n"
    );
    println!(
        "| graph | paths | Trellis ticks | Trellis | ascent | datafrog | Trellis/ascent | Trellis/datafrog |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|");
    for graph in [chain(1_000), random_graph(2_000, 10_000)] {
        let (mut t, mut a, mut d) = (Vec::new(), Vec::new(), Vec::new());
        let (mut ticks, mut paths) = (0, 0);
        for _ in 0..runs {
            let (time, trellis_paths, n) = trellis(&plan, &graph.edges);
            t.push(time);
            ticks = n;
            let (time, ascent_paths) = ascent(&graph.edges);
            a.push(time);
            let (time, datafrog_paths) = datafrog(&graph.edges);
            d.push(time);
            let expected = graph.expected.unwrap_or(ascent_paths);
            assert!(
                trellis_paths == expected && ascent_paths == expected && datafrog_paths == expected,
                "{}: the closures differ: Trellis {trellis_paths}, ascent {ascent_paths}, \
                 datafrog {datafrog_paths} paths (expected {expected})",
                graph.name
            );
            paths = expected;
        }
        let (t, a, d) = (median(&t), median(&a), median(&d));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            graph.name,
            thousands(paths as u64),
            thousands(ticks),
            millis(t),
            millis(a),
            millis(d),
            ratio(t, a),
            ratio(t, d)
        );
    }
    println!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_closures_agree() {
        let plan = compile("tc.olg", PROGRAM);
        let small = chain(20);
        assert_eq!(trellis(&plan, &small.edges).1, 190);
        assert_eq!(ascent(&small.edges).1, 190);
        assert_eq!(datafrog(&small.edges).1, 190);
        let cycle: Vec<(u32, u32)> = (0..5).map(|x| (x, (x + 1) % 5)).collect();
        assert_eq!(trellis(&plan, &cycle).1, 25);
        assert_eq!(ascent(&cycle).1, 25);
        assert_eq!(datafrog(&cycle).1, 25);
    }

    #[test]
    fn random_graph_is_deterministic() {
        let a = random_graph(50, 200);
        assert_eq!(a.edges.len(), 200);
        assert_eq!(a.edges, random_graph(50, 200).edges);
        assert!(a.edges.iter().all(|&(x, y)| x != y && x < 50 && y < 50));
    }
}
