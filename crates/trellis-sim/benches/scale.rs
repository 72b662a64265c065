//! Simulator scale: Chord with 1,000 nodes for 600 virtual seconds and with
//! 10,000 nodes for 60, reporting wall time, simulated events per second
//! and peak memory. The baseline in the same run is the simulator's own
//! floor: the same nodes and network running a program that only pings its
//! neighbour, so the ratio shows what the protocol's rules cost on top.
//!
//! Run: `cargo bench -p trellis-sim --bench scale` (add `-- 1000` or
//! `-- 10000` for one size).

use std::time::Instant;

use trellis_sim::{Options, Quiet, Scenario, Simulation};

#[path = "support/chord_scenario.rs"]
mod chord_scenario;
use chord_scenario::scenario;

const CHORD: &str = include_str!("../../../examples/chord.olg");

/// Each node pings its successor by address every second: the same timers,
/// queue and network, almost no rules.
const FLOOR: &str = r#"
materialize(node, infinity, 1, keys(1)).
node(LOCALADDRESS, NODEID).
p1 ping(@L, N) :- periodic(@N, E, 1), L := LANDMARK, N != L.
p2 pong(@N, L) :- ping(@L, N).
"#;

struct Run {
    wall: f64,
    entries: u64,
    completed: usize,
    started: u64,
    hops: f64,
}

fn run(program: &str, scenario: Scenario, measured: bool) -> Run {
    let mut scenario = scenario;
    if !measured {
        scenario.workloads.clear();
        scenario.measures.clear();
    }
    let options = trellis_sim::parse_options(&scenario, &[]);
    let plan = trellis_plan::load_str("bench.olg", program, &options)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan;
    let mut sim = Simulation::new(plan, scenario, &Options::default()).expect("simulation");
    let t = Instant::now();
    sim.run(&mut Quiet);
    let wall = t.elapsed().as_secs_f64();
    let (completed, started, hops) = match sim.measurements().measures.first() {
        Some(m) => {
            let h: Vec<u64> = m.samples.iter().filter_map(|s| s.hops).collect();
            (
                m.samples.len(),
                m.started,
                h.iter().sum::<u64>() as f64 / h.len().max(1) as f64,
            )
        }
        None => (0, 0, 0.0),
    };
    Run {
        wall,
        entries: sim.stats.queue_entries,
        completed,
        started,
        hops,
    }
}

fn main() {
    let sizes: Vec<(usize, f64)> = match std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        Some(n) => {
            let n: usize = n.parse().expect("a node count");
            vec![(n, if n >= 10_000 { 60.0 } else { 600.0 })]
        }
        None => vec![(1_000, 600.0), (10_000, 60.0)],
    };
    println!(
        "| nodes | virtual s | program | wall s | events | events/s | lookups done | mean hops | wall / floor |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (nodes, seconds) in sizes {
        let floor = run(FLOOR, scenario(nodes, seconds), false);
        let chord = run(CHORD, scenario(nodes, seconds), true);
        for (name, r) in [("ping floor", &floor), ("chord.olg", &chord)] {
            println!(
                "| {nodes} | {seconds} | {name} | {:.1} | {} | {:.0} | {} | {:.2} | {:.1}x |",
                r.wall,
                r.entries,
                r.entries as f64 / r.wall,
                if r.started > 0 {
                    format!("{}/{}", r.completed, r.started)
                } else {
                    "-".into()
                },
                r.hops,
                r.wall / floor.wall,
            );
        }
    }
    if let Some(kib) = trellis_sim::peak_memory_kib() {
        println!(
            "\npeak memory of the whole benchmark process: {:.0} MiB",
            kib as f64 / 1024.0
        );
    }
}
