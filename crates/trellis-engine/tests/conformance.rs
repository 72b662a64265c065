//! The conformance suite, in process: every `tests/conformance/*.olg`
//! program runs on one node driven by the engine's [`Harness`] (virtual
//! clock, node `n1`), and its watch records, counters and reports are
//! compared with what the file expects (see `support/spec.rs` for the
//! format). One test per file: `cargo test -p trellis-engine s55_key_conflict`
//! runs one.

#[path = "support/spec.rs"]
mod spec;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use spec::{Spec, compare, parse_spec, summary_checks};
use trellis_engine::harness::{Harness, Observer};
use trellis_engine::{
    NANOS_PER_SECOND, Node, NodeConfig, NodeParams, Output, Placement, Problem, Stats, Tuple,
};
use trellis_plan::{Plan, Semantics, WatchModes};
use trellis_syntax::{GroundField, ParseOptions, SourceMap, parse_ground};
use trellis_value::Value;

const NODE: &str = "n1";

/// What one run printed: watch records as the expectation writes them,
/// and the warnings and problems it reported.
#[derive(Default, PartialEq, Debug)]
struct Run {
    records: Vec<String>,
    reports: String,
    stats: Stats,
}

struct Printer<'a> {
    plan: &'a Plan,
    run: &'a mut Run,
}

impl Observer for Printer<'_> {
    fn output(&mut self, _node: &Node, out: &Output) {
        for r in &out.records {
            self.run.records.push(format!(
                "{:.3} {} {} {}",
                r.time as f64 / NANOS_PER_SECOND as f64,
                r.tick,
                r.kind.as_str(),
                tuple_text(self.plan, r.relation, &r.tuple)
            ));
        }
        for p in &out.problems {
            let line = match p {
                Problem::Eval { rule, error, .. } => {
                    format!("error: rule `{}`: {error}", self.plan.rule(*rule).name)
                }
                Problem::Runaway { ticks, rules, .. } => {
                    let names: Vec<&str> = rules
                        .iter()
                        .map(|r| self.plan.rule(*r).name.as_str())
                        .collect();
                    let what = if *ticks == 0 {
                        "one tick made too many derivations"
                    } else {
                        "the cascade was stopped"
                    };
                    format!("warning: {what}. Rules involved: {}", names.join(", "))
                }
            };
            let _ = writeln!(self.run.reports, "{line}");
        }
    }
}

fn tuple_text(plan: &Plan, relation: trellis_plan::RelId, tuple: &Tuple) -> String {
    let fields: Vec<String> = tuple.iter().map(|v| v.literal()).collect();
    format!("{}({})", plan.relation(relation).name, fields.join(", "))
}

/// The value after `name` in the arguments.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == name)?;
    Some(args.get(i + 1).expect("a flag's value").as_str())
}

fn options(spec: &Spec) -> ParseOptions {
    ParseOptions {
        defines: spec
            .defines
            .iter()
            .map(|d| {
                let (name, value) = d.split_once('=').expect("NAME=VALUE");
                (name.to_string(), value.to_string())
            })
            .collect(),
        node_params: NodeParams::standard().names().map(String::from).collect(),
    }
}

/// A `--fact` tuple: constants and `LOCALADDRESS`.
fn fact(text: &str, options: &ParseOptions) -> (String, Tuple) {
    let tuple = parse_ground("--fact", text, options, &mut SourceMap::new())
        .unwrap_or_else(|e| panic!("--fact {text}: {e:?}"));
    let fields: Vec<Value> = tuple
        .fields
        .into_iter()
        .map(|f| match f {
            GroundField::Value(v) => v,
            GroundField::Param(p) if p == trellis_plan::LOCAL_ADDRESS => Value::str(NODE),
            GroundField::Param(p) => panic!("--fact {text}: {p} is not a constant"),
        })
        .collect();
    (tuple.relation, Tuple::from(fields))
}

/// Run the program as `trellis run FILE --addr n1 --clock virtual` would,
/// with `extra` arguments after the spec's.
fn run(file: &Path, spec: &Spec, extra: &[&str]) -> Result<Run, String> {
    let mut args = spec.args.clone();
    args.extend(extra.iter().map(|s| s.to_string()));
    let options = options(spec);
    let loaded = trellis_plan::load_file(file, &options).map_err(|d| format!("{d:?}"))?;
    let mut plan = loaded.plan;
    let mut run = Run::default();
    for w in &loaded.warnings.warnings {
        let _ = writeln!(run.reports, "warning: {w}");
    }
    if let Some(name) = flag(&args, "--semantics") {
        plan.semantics = Semantics::from_name(name).expect("--semantics tick|p2");
    }
    if flag(&args, "--watch") == Some("all") {
        for r in &mut plan.relations {
            r.watch = Some(WatchModes::PLAIN);
        }
    }
    let plan = Arc::new(plan);
    let seed = flag(&args, "--seed").map_or(7, |s| s.parse().expect("--seed N"));
    let mut config = NodeConfig::new(NODE, seed);
    if let Some(n) = flag(&args, "--max-derivations-per-tick") {
        config.max_derivations_per_tick = n.parse().expect("--max-derivations-per-tick N");
    }
    if let Some(n) = flag(&args, "--max-ticks-per-instant") {
        config.max_ticks_per_instant = n.parse().expect("--max-ticks-per-instant N");
    }
    // As `trellis run` gives them: a lone node is its own first node.
    config.params = NodeParams::standard().values(
        |_| true,
        &Placement::alone(NODE),
        &mut ChaCha8Rng::seed_from_u64(seed),
    );
    let node = Node::new(plan.clone(), config).map_err(|e| e.to_string())?;
    let mut harness = Harness::new(0);
    let n = harness.add(node);
    for (i, a) in args.iter().enumerate() {
        if a == "--fact" {
            let (relation, tuple) = fact(&args[i + 1], &options);
            harness
                .node_mut(n)
                .inject(&relation, tuple)
                .map_err(|e| e.to_string())?;
        }
    }
    let seconds: f64 = flag(&args, "--for").map_or(10.0, |s| s.parse().expect("--for SECONDS"));
    let mut printer = Printer {
        plan: &plan,
        run: &mut run,
    };
    harness.run_until((seconds * NANOS_PER_SECOND as f64) as u64, &mut printer);
    run.stats = harness.node(n).stats().clone();
    Ok(run)
}

/// A summary key (`errors`, `errors_by_rule.r1`, `relations.msg.sends`, ...)
/// read from the node's counters.
fn counter(plan: &Plan, stats: &Stats, key: &str) -> Option<u64> {
    let parts: Vec<&str> = key.split('.').collect();
    Some(match parts.as_slice() {
        ["errors"] => stats.errors(),
        ["runaways"] => stats.runaways,
        ["key_conflicts"] => stats.key_conflicts,
        ["dropped_inputs"] => stats.dropped_inputs,
        ["ticks"] => stats.ticks,
        ["errors_by_rule", rule] => {
            let i = plan.rules.iter().position(|r| r.name == *rule)?;
            stats.rule_errors[i]
        }
        ["relations", relation, what] => {
            let s = &stats.relations[plan.lookup(relation)?.0 as usize];
            match *what {
                "inserts" => s.inserts,
                "replacements" => s.replacements,
                "refreshes" => s.refreshes,
                "deletes" => s.deletes,
                "expirations" => s.expirations,
                "evictions" => s.evictions,
                "events" => s.events,
                "sends" => s.sends,
                "receives" => s.receives,
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// Check one program; panics with a report of everything that differs.
fn check(name: &str) {
    let file = spec::dir().join(format!("{name}.olg"));
    let text = std::fs::read_to_string(&file).expect("a conformance program");
    let spec = parse_spec(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut problems = String::new();
    // A program that shows a difference runs in both semantics.
    let tick: &[&str] = match spec.expect_p2 {
        Some(_) => &["--semantics", "tick"],
        None => &[],
    };
    let first = run(&file, &spec, tick).unwrap_or_else(|e| panic!("{name} does not run: {e}"));
    let expected = spec.expect.as_deref().unwrap_or_default();
    if let Some(diff) = compare(expected, &first.records) {
        let _ = write!(
            problems,
            "  watch output differs (- expected, + actual):\n{diff}"
        );
    }
    if let Some(expected) = &spec.expect_p2 {
        let p2 = run(&file, &spec, &["--semantics", "p2"])
            .unwrap_or_else(|e| panic!("{name} does not run in P2 semantics: {e}"));
        if let Some(diff) = compare(expected, &p2.records) {
            let _ = write!(
                problems,
                "  watch output in P2 semantics differs (- expected, + actual):\n{diff}"
            );
        }
    }
    for s in &spec.stderr {
        if !first.reports.contains(s.as_str()) {
            let _ = writeln!(problems, "  the run's reports lack `{s}`");
        }
    }
    let plan = trellis_plan::load_file(&file, &options(&spec))
        .expect("it loaded once")
        .plan;
    for (key, want) in summary_checks(&spec) {
        match counter(&plan, &first.stats, &key) {
            Some(v) if want.parse::<f64>() == Ok(v as f64) => {}
            Some(v) => {
                let _ = writeln!(problems, "  summary {key}: expected {want}, got {v}");
            }
            None => {
                let _ = writeln!(problems, "  no counter `{key}`");
            }
        }
    }
    if let Some(extra) = &spec.repeat {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let a = run(&file, &spec, &extra).expect("runs");
        let b = run(&file, &spec, &extra).expect("runs");
        if a != b {
            let _ = write!(
                problems,
                "  two runs with {extra:?} differ (- first, + second):\n{}",
                spec::diff(&a.records, &b.records)
            );
        }
    }
    if !problems.is_empty() {
        let _ = write!(problems, "  reports were:\n{}", first.reports);
        panic!("{name}.olg:\n{problems}");
    }
}

#[test]
fn shell_words_split_like_a_shell() {
    assert_eq!(
        spec::shell_words(r#"--for 5 --fact 'e(LOCALADDRESS, 1)' X=\"s\" "a\"b""#).unwrap(),
        [
            "--for",
            "5",
            "--fact",
            "e(LOCALADDRESS, 1)",
            "X=\"s\"",
            "a\"b"
        ]
    );
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name));
            }
        )*

        /// Every program in the directory has its test above.
        #[test]
        fn every_program_has_a_test() {
            let named = [$(stringify!($name)),*];
            for file in spec::programs() {
                let stem = file.file_stem().unwrap_or_default().to_string_lossy().into_owned();
                assert!(
                    named.contains(&stem.as_str()),
                    "{} has no test: add `{stem}` to the conformance! list",
                    file.display()
                );
            }
        }
    };
}

conformance! {
    aggregate_location,
    delete_rules,
    functions,
    id_arithmetic,
    intervals_id,
    intervals_int,
    lattice_merge,
    macros_define,
    macros_ifdef,
    macros_include,
    macros_localaddress,
    notin,
    notin_wildcard,
    p2_atomicity,
    p2mode_aggregate_per_event,
    p2mode_event_bag,
    p2mode_expiry_wakes_the_node,
    p2mode_no_strata,
    p2mode_one_input_per_fixpoint,
    p2mode_pragma,
    p2mode_runaway,
    p2mode_self_send,
    p2mode_send_bag,
    p2mode_successor_bound,
    p2mode_table_aggregate,
    p2mode_write_order,
    periodic,
    periodic_nonnegative,
    runtime_errors,
    s51_inputs,
    s52_strata,
    s53_combination_once,
    s53_old_rows_do_not_refire,
    s53_refresh_extends_lifetime,
    s53_replacement_refires,
    s54_aggregate_whole_join,
    s54_empty_group,
    s55_expiry_then_reinsert,
    s55_expiry_wakes_the_node,
    s55_key_conflict,
    s55_key_conflict_order,
    s55_key_conflict_repeat_wins,
    s55_lifetime_expiry,
    s55_max_size_eviction,
    s55_writes_next_tick,
    s56_local_constant,
    s56_self_send,
    s56_sent_delete,
    s56_sent_once,
    s57_localization,
    s57_localization_keys,
    s57_localization_soft_state,
    s57_localization_tables,
    s58_determinism,
    s59_runaway,
    s59_runaway_errors,
    s59_runaway_growing_values,
    s59_runaway_sends,
    syntax_forms,
    summary_events,
    table_keys,
    values,
    watch_letters,
    watch_unread_receive,
}
