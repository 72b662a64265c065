//! The README's demo is a function of (program, scenario, seed): its trace
//! hash is pinned here. The hash is SipHash-1-3 under fixed keys over
//! delivered frames' bytes and wire-encoded records (see `sim/trace.rs`),
//! so it is the same in every build. If a change alters what the demo does
//! (or how the trace is folded), this test fails: check the change is
//! meant, then update the hash here, in README.md and in docs/simulator.md.

use std::path::Path;

use trellis_sim::{Options, Quiet, Scenario, Simulation};

const DEMO_TRACE_HASH: u64 = 0xd93b_9706_6327_f3d8;

#[test]
fn the_readme_demo_has_its_pinned_trace_hash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenario =
        Scenario::load(&root.join("examples/chord/demo.toml")).expect("the demo scenario");
    let options = trellis_sim::parse_options(&scenario, &[]);
    let loaded = trellis_plan::load_file(&root.join("examples/chord.olg"), &options)
        .unwrap_or_else(|d| panic!("chord.olg does not compile:\n{d:?}"));
    let mut sim = Simulation::new(loaded.plan, scenario, &Options::default()).expect("valid");
    sim.run(&mut Quiet);
    assert_eq!(
        sim.trace_hash(),
        DEMO_TRACE_HASH,
        "the demo's trace hash is {:016x}",
        sim.trace_hash()
    );
}
