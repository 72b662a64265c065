//! The README's demo is a function of (program, scenario, seed): its trace
//! hash is pinned here. The hash is SipHash-1-3 under fixed keys over
//! delivered frames' bytes and wire-encoded records (see `sim/trace.rs`),
//! so it is the same in every build. If a change alters what the demo does
//! (or how the trace is folded), this test fails: check the change is
//! meant, then update the hash here, in README.md and in docs/simulator.md.

use std::path::Path;

use trellis_engine::Time;
use trellis_sim::{NANOS, Options, Quiet, Scenario, Simulation};

const DEMO_TRACE_HASH: u64 = 0xcde3_3fff_8718_6aa0;

#[test]
fn the_readme_demo_converges_with_its_pinned_trace_hash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let scenario =
        Scenario::load(&root.join("examples/chord/demo.toml")).expect("the demo scenario");
    let options = trellis_sim::parse_options(&scenario, &[]);
    let loaded = trellis_plan::load_file(&root.join("examples/chord.olg"), &options)
        .unwrap_or_else(|d| panic!("chord.olg does not compile:\n{d:?}"));
    let mut sim = Simulation::new(loaded.plan, scenario, &Options::default()).expect("valid");
    // Every frame decodes (checked as the run goes: a codec bug fails the
    // test in its first virtual second, not after the whole run).
    let end = 240 * NANOS as Time;
    for second in 1..=240 {
        sim.run_until(second * NANOS as Time, &mut Quiet);
        assert_eq!(
            sim.stats.frames_undecodable, 0,
            "frames did not decode by {second} s: the codec is broken"
        );
    }
    assert_eq!(sim.now(), end);
    // The ring converged, every node holding its true successor at the end.
    let ring = sim.ring().expect("the demo has a [ring]");
    assert!(ring.converged_at.is_some(), "the ring never converged");
    let &(_, right, live) = ring.checks.last().expect("checks ran");
    assert_eq!((right, live), (200, 200));
    assert_eq!(
        sim.trace_hash(),
        DEMO_TRACE_HASH,
        "the demo's trace hash is {:016x}",
        sim.trace_hash()
    );
}
