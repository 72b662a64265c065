//! What provenance costs (issue #14): Chord on 1,000 simulated nodes for
//! 600 virtual seconds (the scale benchmark's scenario), with provenance
//! off (the baseline, in the same run), on for every relation, and on with
//! every node also keeping `ruleExec`/`tupleTable` (bounded as by
//! default). Each mode runs in a child process of its own, so that each
//! has its own peak memory; the table gives wall time, peak memory and
//! bytes on the wire, each as a ratio to the baseline.
//!
//! Run: `cargo bench -p trellis-sim --bench provenance` (add `-- 200` for
//! another node count).

use std::process::Command;
use std::time::Instant;

use trellis_plan::ProvenanceLimits;
use trellis_sim::{Options, Quiet, Simulation};

#[path = "support/chord_scenario.rs"]
mod chord_scenario;
use chord_scenario::scenario;

const CHORD: &str = include_str!("../../../examples/chord.olg");
const MODES: [&str; 3] = ["off", "on", "on+tables"];

/// One mode's run, in this process: wall seconds, wire bytes, messages,
/// queue entries, peak KiB.
fn child(mode: &str, nodes: usize) {
    // The lookups without their measurement, as the numbers recorded.
    let mut scenario = scenario(nodes, 600.0);
    scenario.measures.clear();
    let options = trellis_sim::parse_options(&scenario, &[]);
    let mut plan = trellis_plan::load_str("chord.olg", CHORD, &options)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan;
    if mode != "off" {
        plan.trace_all();
    }
    if mode == "on+tables" {
        plan.keep_provenance_tables(ProvenanceLimits::default());
    }
    let mut sim = Simulation::new(plan, scenario, &Options::default()).expect("simulation");
    let t = Instant::now();
    sim.run(&mut Quiet);
    let wall = t.elapsed().as_secs_f64();
    println!(
        "{wall} {} {} {} {}",
        sim.stats.bytes,
        sim.stats.messages,
        sim.stats.queue_entries,
        trellis_sim::peak_memory_kib().unwrap_or(0)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nodes: usize = args
        .iter()
        .find(|a| a.parse::<usize>().is_ok())
        .map_or(1_000, |n| n.parse().expect("a node count"));
    if let Some(i) = args.iter().position(|a| a == "--mode") {
        child(&args[i + 1], nodes);
        return;
    }
    let me = std::env::current_exe().expect("the benchmark's path");
    let runs: Vec<Vec<f64>> = MODES
        .iter()
        .map(|mode| {
            let out = Command::new(&me)
                .args(["--mode", mode, &nodes.to_string()])
                .output()
                .expect("the child runs");
            assert!(out.status.success(), "{mode}: {out:?}");
            let text = String::from_utf8(out.stdout).expect("text");
            let line = text.lines().last().expect("a result line");
            line.split(' ')
                .map(|x| x.parse().expect("a number"))
                .collect()
        })
        .collect();
    println!(
        "| {nodes} nodes x 600 s | wall s | wall / off | peak MiB | memory / off | wire bytes | bytes / off | messages | events |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    let base = &runs[0];
    for (mode, r) in MODES.iter().zip(&runs) {
        println!(
            "| provenance {mode} | {:.1} | {:.2}x | {:.0} | {:.2}x | {} | {:.3}x | {} | {} |",
            r[0],
            r[0] / base[0],
            r[4] / 1024.0,
            r[4] / base[4],
            r[1],
            r[1] / base[1],
            r[2],
            r[3],
        );
    }
}
