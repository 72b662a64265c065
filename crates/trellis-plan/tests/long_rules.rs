//! A long rule plans in time about quadratic in its length, which is the
//! size of its plan (one strand per table atom, each joining all the
//! others). Planning was cubic: a 400-atom chain took 29 s in a release
//! build, 1,200 atoms now take 0.6 s (BENCHMARKS.md, "Planning long
//! rules").

use std::sync::mpsc;
use std::time::Duration;

use trellis_plan::{Step, load_str};
use trellis_syntax::ParseOptions;

#[test]
fn a_rule_of_1200_atoms_plans_within_a_generous_bound() {
    let n = 1200;
    let body: Vec<String> = (0..n).map(|i| format!("e(@N, X{i}, X{})", i + 1)).collect();
    let text = format!(
        "materialize(e, infinity, infinity, keys(1, 2, 3)).\n\
         r1 p(@N, X0, X{n}) :- {}.\n",
        body.join(", ")
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let loaded = load_str("chain.olg", &text, &ParseOptions::default()).expect("compiles");
        let strands: Vec<(usize, Vec<usize>)> = loaded.plan.rules[0]
            .strands
            .iter()
            .map(|s| {
                let atoms = s
                    .steps
                    .iter()
                    .filter_map(|step| match step {
                        Step::Scan { atom, .. } | Step::Join { atom, .. } => Some(*atom),
                        _ => None,
                    })
                    .collect();
                (s.trigger.expect("a delta strand"), atoms)
            })
            .collect();
        let _ = tx.send(strands);
    });
    // 0.6 s in a release build and 20 to 40 s in a debug one on a busy
    // machine; the cubic planner took hours.
    let strands = rx
        .recv_timeout(Duration::from_secs(300))
        .expect("planned within 5 minutes");
    assert_eq!(strands.len(), n);
    for (trigger, atoms) in &strands {
        assert_eq!(atoms.len(), n, "every atom joined once");
        // From the trigger the chain is followed both ways, the bound
        // neighbour first: right while the next atom shares a variable.
        assert_eq!(atoms[0], *trigger);
        let mut seen = atoms.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
    }
    // Strand 0 walks the chain in order.
    assert_eq!(strands[0].1, (0..n).collect::<Vec<_>>());
}
