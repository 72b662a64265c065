//! `trellis why DIR --program QUERY.olg`: an OverLog program over a run's
//! provenance (docs/provenance.md, "Asking the history").
//!
//! Every line of DIR/provenance.jsonl becomes the `ruleExec` and
//! `tupleTable` rows it made on its node (the engine's own row builders),
//! kept as history: keyed on every field, so the same tuple derived at two
//! times is two rows, and unbounded. One engine node per node of the run
//! holds its rows, the nodes run the query in the engine's harness until
//! nothing is left to do (rules that read several nodes work as on the
//! network), and every table the query declares is printed.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trellis_engine::harness::{Harness, Quiet};
use trellis_engine::provenance::{rule_exec_row, tuple_table_row};
use trellis_engine::{NANOS_PER_SECOND, Node, NodeConfig, NodeParams, Placement, Tuple};
use trellis_plan::{Plan, RULE_EXEC, TUPLE_TABLE};
use trellis_syntax::ParseOptions;
use trellis_value::Value;

use super::load::{Cause, Entry, Log};
use crate::common::style;
use crate::output;

/// Virtual seconds the query may run (its timers, if it has any).
const QUERY_SECONDS: u64 = 60;

pub fn query(dir: &Path, program: &Path, json: bool) -> ExitCode {
    let mut plan = match trellis_plan::load_file(program, &ParseOptions::default()) {
        Ok(loaded) => {
            eprint!("{}", trellis_render::render_all(&loaded.warnings, style()));
            loaded.plan
        }
        Err(d) => {
            eprint!("{}", trellis_render::render_all(&d, style()));
            return ExitCode::FAILURE;
        }
    };
    let Some((rule_exec, tuple_table)) = plan.provenance_tables() else {
        eprintln!(
            "error: {} reads neither `{RULE_EXEC}` nor `{TUPLE_TABLE}`: a query over provenance reads them",
            program.display()
        );
        return ExitCode::from(2);
    };
    plan.provenance_history();
    let log = match Log::load(dir) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = Arc::new(plan);
    let mut h = Harness::new(0);
    for (i, address) in log.nodes.iter().enumerate() {
        let mut config = NodeConfig::new(address.clone(), i as u64);
        config.params = NodeParams::standard().values(
            |_| true,
            &Placement::alone(address),
            &mut ChaCha8Rng::seed_from_u64(i as u64),
        );
        match Node::new(plan.clone(), config) {
            Ok(node) => h.add(node),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
    }
    let names = [
        plan.relation(rule_exec).name.clone(),
        plan.relation(tuple_table).name.clone(),
    ];
    for e in &log.entries {
        for (which, row) in rows(&log, e) {
            let node = h.node_mut(e.node as usize);
            if let Err(err) = node.inject(&names[which], Tuple::from(row)) {
                eprintln!("error: {err}");
                return ExitCode::from(2);
            }
        }
    }
    for second in 1..=QUERY_SECONDS {
        if h.next_time().is_none() {
            break;
        }
        h.run_until(second * NANOS_PER_SECOND, &mut Quiet);
    }
    print_tables(&plan, &h, log.nodes.len(), json);
    ExitCode::SUCCESS
}

/// The rows one line of the log made on its node: (0 for `ruleExec`, 1
/// for `tupleTable`, row), as the node made them.
fn rows(log: &Log, e: &Entry) -> Vec<(usize, Vec<Value>)> {
    let node = Value::str(&log.nodes[e.node as usize]);
    let time = Value::Float(e.time);
    let relation = log.name_of(e.relation);
    let address = |n: &Option<u32>| n.map_or(Value::Null, |n| Value::str(&log.nodes[n as usize]));
    let mut rows = Vec::new();
    let (source, exec, how) = match &e.cause {
        Cause::Rule {
            rule,
            exec,
            inputs,
            sent,
        } => {
            let to = e.tuple.first().cloned().unwrap_or(Value::Null);
            let rule = log.name_of(*rule);
            rows.push((
                0,
                rule_exec_row(&node, rule, inputs, e.id, to, &time, *exec),
            ));
            if *sent {
                return rows;
            }
            (node.clone(), *exec, "rule")
        }
        Cause::Received { from, exec } => (address(from), exec.unwrap_or(0), "recv"),
        Cause::Fact => (node.clone(), 0, "fact"),
        Cause::Injected => (node.clone(), 0, "inject"),
        Cause::Timer => (node.clone(), 0, "timer"),
    };
    let row = tuple_table_row(&node, e.id, relation, &e.tuple, source, exec, how, &time);
    rows.push((1, row));
    rows
}

/// Every table the query declared, every node's rows, sorted.
fn print_tables(plan: &Plan, h: &Harness, nodes: usize, json: bool) {
    let declared = plan.relations.iter().filter(|r| {
        r.span.is_some()
            && !r.generated
            && r.name != RULE_EXEC
            && r.name != TUPLE_TABLE
            && matches!(r.kind, trellis_plan::RelationKind::Table(_))
    });
    let mut text = String::new();
    for r in declared {
        let mut rows: Vec<Tuple> = (0..nodes)
            .flat_map(|i| h.node(i).table(&r.name).unwrap_or_default())
            .collect();
        rows.sort();
        if json {
            for row in &rows {
                let line =
                    serde_json::json!({ "relation": r.name, "tuple": output::tuple_json(row) });
                text.push_str(&format!("{line}\n"));
            }
            continue;
        }
        let s = if rows.len() == 1 { "" } else { "s" };
        text.push_str(&format!("{}: {} row{s}\n", r.name, rows.len()));
        for row in &rows {
            let fields: Vec<String> = row.iter().map(Value::literal).collect();
            text.push_str(&format!("  {}({})\n", r.name, fields.join(", ")));
        }
    }
    output::stdout(format_args!("{text}"));
}
