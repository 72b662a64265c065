//! Planning time against rule length: a chain of N table atoms
//! (`e(@N, X0, X1), e(@N, X1, X2), ...`), which plans to N strands of N
//! steps each. BENCHMARKS.md, "Planning long rules":
//!
//! ```text
//! cargo run --release -p trellis-plan --example long_rule -- 100 200 400 800 1200
//! ```

use std::time::Instant;

use trellis_syntax::ParseOptions;

fn chain(n: usize) -> String {
    let body: Vec<String> = (0..n).map(|i| format!("e(@N, X{i}, X{})", i + 1)).collect();
    format!(
        "materialize(e, infinity, infinity, keys(1, 2, 3)).\n\
         r1 p(@N, X0, X{n}) :- {}.\n",
        body.join(", ")
    )
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("rule lengths, in atoms"))
        .collect();
    for n in sizes {
        let text = chain(n);
        // Best of 3: the least disturbed by the machine's other work.
        let best = (0..3)
            .map(|_| {
                let start = Instant::now();
                let loaded = trellis_plan::load_str("chain.olg", &text, &ParseOptions::default())
                    .expect("the chain compiles");
                let elapsed = start.elapsed();
                assert_eq!(loaded.plan.rules[0].strands.len(), n);
                elapsed
            })
            .min()
            .expect("three runs");
        println!("{n:>5} atoms: {:>9.1} ms", best.as_secs_f64() * 1e3);
    }
}
