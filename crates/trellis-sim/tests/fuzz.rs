//! The simulator never panics on a scenario: every scenario either is
//! refused before the run with an error, or runs.
//!
//! Scenarios are generated as TOML text from a vocabulary of every section
//! and key the format has, with ordinary, odd and hostile values (zero,
//! negative, NaN, huge, wrong types, unknown relations and nodes, events
//! after the end, partitions healed twice). Half are shaped as the format
//! is, with sane values, so that many reach the run; random line soup is
//! added too.
//! An accepted scenario runs for at most 20 virtual seconds of at most 40
//! nodes (larger ones are only built: their memory estimate is checked).
//!
//! Cases come from a fixed seed unless `PROPTEST_CASES` and
//! `PROPTEST_RNG_SEED` say otherwise (scripts/fuzz does).

use proptest::prelude::*;

#[path = "../../../tests/support/fuzz_config.rs"]
mod fuzz_config;
use fuzz_config::fuzz_config;
use trellis_sim::{NANOS, Options, Quiet, Scenario, Simulation};

/// A small protocol with tables, events, timers, sends and a ring
/// parameter, so every part of a scenario has something to act on.
const PROGRAM: &str = r#"
materialize(member, 2, infinity, keys(1, 2)).
materialize(best, infinity, 1, keys(1)).
j1 join(@L, N) :- periodic(@N, E, 1), L := LANDMARK, N != L.
j2 member(@L, N) :- join(@L, N).
j3 ack(@N, L) :- join(@L, N).
b1 best(@N, NODEID) :- periodic(@N, E, 2).
q1 answer(@R, K, N) :- ask(@N, K, R).
"#;

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "0",
        "1",
        "2",
        "-1",
        "0.5",
        "-0.5",
        "1e-12",
        "1e9",
        "1e300",
        "nan",
        "inf",
        "-inf",
        "3",
        "40",
        "100000000",
        "18446744073709551615",
        "\"x\"",
        "true",
        "[]",
        "[0]",
        "[[0, 1], [2]]",
        "{}",
    ])
    .prop_map(str::to_string)
}

fn careful_value() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["0", "1", "2", "3", "0.5", "5", "10"]).prop_map(str::to_string)
}

const SECTIONS: [&str; 10] = [
    "[simulation]",
    "[network]",
    "[churn]",
    "[[event]]",
    "[[workload]]",
    "[[measure]]",
    "[ring]",
    "[params]",
    "[defines]",
    "[[network.link]]",
];

const KEYS: [&str; 32] = [
    "nodes",
    "duration",
    "seed",
    "start_interval",
    "max_ticks_per_instant",
    "max_derivations_per_tick",
    "max_nodes",
    "loss",
    "duplicate",
    "median_session",
    "shape",
    "start",
    "rejoin_after",
    "at",
    "node",
    "rate",
    "per_node",
    "stop",
    "copies",
    "check_every",
    "from",
    "to",
    "exempt",
    "groups",
    "oneway",
    "key",
    "answer",
    "field",
    "NODEID",
    "LANDMARK",
    "PEER",
    "ms",
];

/// Whole lines that only make sense in their section.
const LINES: [&str; 24] = [
    "latency = { kind = \"constant\", ms = 10 }",
    "latency = { kind = \"uniform\", min_ms = 5, max_ms = 1 }",
    "latency = { kind = \"normal\", mean_ms = 20, stddev_ms = -3 }",
    "latency = { kind = \"exponential\", mean_ms = 0 }",
    "latency = { kind = \"matrix\", file = \"/nonexistent\" }",
    "action = \"crash\"",
    "action = \"restart\"",
    "action = \"inject\"",
    "action = \"partition\"",
    "action = \"heal\"",
    "name = \"p\"",
    "name = \"q\"",
    "tuple = 'ask(@ADDR, RANDID, ADDR)'",
    "tuple = 'nosuch(@ADDR)'",
    "tuple = 'ask(@ADDR'",
    "tuple = 'member(@ADDR, \"x\")'",
    "successor = { relation = \"best\", field = 2 }",
    "successor = { relation = \"nosuch\", field = 9 }",
    "start = { relation = \"ask\", key = 2, on = \"inject\" }",
    "end = { relation = \"answer\", key = 2 }",
    "model = \"pareto\"",
    "model = \"weibull\"",
    "address = \"n{i}:1\"",
    "address = \"same\"",
];

fn line(careful: bool) -> BoxedStrategy<String> {
    let v = if careful {
        careful_value().boxed()
    } else {
        value().boxed()
    };
    prop_oneof![
        3 => prop::sample::select(SECTIONS.to_vec()).prop_map(str::to_string),
        5 => (prop::sample::select(KEYS.to_vec()), v).prop_map(|(k, v)| format!("{k} = {v}")),
        3 => prop::sample::select(LINES.to_vec()).prop_map(str::to_string),
    ]
    .boxed()
}

/// Each section with the keys and lines it must hold, and those it may.
type Shape = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);
const SHAPES: [Shape; 9] = [
    (
        "[simulation]",
        &[],
        &[
            "nodes",
            "duration",
            "seed",
            "start_interval",
            "max_ticks_per_instant",
            "address = \"n{i}:1\"",
        ],
    ),
    (
        "[network]",
        &[],
        &[
            "loss",
            "duplicate",
            "latency = { kind = \"exponential\", mean_ms = 30 }",
        ],
    ),
    (
        "[churn]",
        &["median_session"],
        &[
            "shape",
            "start",
            "rejoin_after",
            "exempt = [0]",
            "model = \"pareto\"",
        ],
    ),
    ("[[event]]", &["at", "node", "action = \"crash\""], &[]),
    ("[[event]]", &["at", "node", "action = \"restart\""], &[]),
    (
        "[[event]]",
        &[
            "at",
            "action = \"partition\"",
            "name = \"p\"",
            "groups = [[0, 1], [2]]",
        ],
        &["oneway"],
    ),
    (
        "[[workload]]",
        &["tuple = 'ask(@ADDR, RANDID, ADDR)'", "rate"],
        &["start", "stop", "copies"],
    ),
    (
        "[[measure]]",
        &[
            "name = \"q\"",
            "start = { relation = \"ask\", key = 2, on = \"inject\" }",
            "end = { relation = \"answer\", key = 2 }",
        ],
        &[],
    ),
    (
        "[ring]",
        &["successor = { relation = \"best\", field = 2 }"],
        &["check_every", "id = \"NODEID\""],
    ),
];

/// A scenario shaped as the format is (keys in their sections, each once),
/// with careful values.
fn shaped() -> impl Strategy<Value = String> {
    let section = (0..SHAPES.len()).prop_flat_map(|i| {
        let (name, required, optional) = SHAPES[i];
        (
            Just((name, required)),
            prop::sample::subsequence(optional.to_vec(), 0..=optional.len()),
            prop::collection::vec(careful_value(), required.len() + optional.len()),
        )
    });
    prop::collection::vec(section, 0..6).prop_map(|sections| {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = String::new();
        for ((name, required), optional, values) in sections {
            // Tables appear once; arrays of tables may repeat.
            if !name.starts_with("[[") && !seen.insert(name) {
                continue;
            }
            out.push_str(name);
            out.push('\n');
            for (key, value) in required.iter().chain(&optional).zip(values) {
                if key.contains('=') {
                    out.push_str(key);
                } else {
                    out.push_str(&format!("{key} = {value}"));
                }
                out.push('\n');
            }
        }
        out
    })
}

fn scenario() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => shaped(),
        1 => any::<bool>()
            .prop_flat_map(|careful| prop::collection::vec(line(careful), 0..30))
            .prop_map(|lines| lines.join("\n")),
        // Soup: arbitrary short lines.
        1 => prop::collection::vec("[ -~]{0,30}", 0..8).prop_map(|lines| lines.join("\n")),
    ]
}

/// Parse, check, build and (when small) run one scenario.
fn exercise(toml: &str) {
    let Ok(scenario) = toml::from_str::<Scenario>(toml) else {
        return;
    };
    if scenario.validate().is_err() {
        return;
    }
    let small = scenario.simulation.nodes <= 40;
    let parse = trellis_sim::parse_options(&scenario, &[]);
    let Ok(loaded) = trellis_plan::load_str("fuzz.olg", PROGRAM, &parse) else {
        return;
    };
    if !small {
        // Large accepted scenarios are not built: building allocates per
        // node, which the memory estimate bounds (checked by validate).
        return;
    }
    let Ok(mut sim) = Simulation::new(loaded.plan, scenario, &Options::default()) else {
        return;
    };
    let end = sim.now() + (20.0 * NANOS) as u64;
    sim.run_until(end, &mut Quiet);
    let report = trellis_sim::Report::new(&sim, "fuzz", 0.1);
    let _ = report.text();
}

#[test]
fn scenarios_never_panic() {
    let mut runner = proptest::test_runner::TestRunner::new(fuzz_config(3000));
    if let Err(e) = runner.run(&scenario(), |toml| {
        exercise(&toml);
        Ok(())
    }) {
        panic!("{e}");
    }
}

/// The generator reaches the run: of a fixed sample, many scenarios are
/// accepted and run (otherwise the fuzz would only test the refusals).
#[test]
fn generated_scenarios_reach_the_run() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = scenario();
    let (mut parsed, mut accepted) = (0, 0);
    for _ in 0..300 {
        let toml = strategy
            .new_tree(&mut runner)
            .expect("a scenario")
            .current();
        let Ok(scenario) = toml::from_str::<Scenario>(&toml) else {
            continue;
        };
        parsed += 1;
        accepted += usize::from(scenario.validate().is_ok());
    }
    assert!(parsed >= 100, "only {parsed} of 300 scenarios parsed");
    assert!(
        accepted >= 60,
        "only {accepted} of 300 scenarios were accepted"
    );
}
