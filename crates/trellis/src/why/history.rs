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
use trellis_engine::provenance::{self, RowCause};
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
    let cause = match &e.cause {
        Cause::Rule {
            rule,
            exec,
            inputs,
            sent,
        } => RowCause::Rule {
            rule: log.name_of(*rule),
            exec: *exec,
            inputs,
            sent: *sent,
        },
        Cause::Received { from, exec } => RowCause::Received {
            from: from.map(|n| log.nodes[n as usize].as_str()),
            exec: *exec,
        },
        Cause::Fact => RowCause::Base("fact"),
        Cause::Injected => RowCause::Base("inject"),
        Cause::Timer => RowCause::Base("timer"),
    };
    let mut out = Vec::new();
    let relation = log.name_of(e.relation);
    let time = Value::Float(e.time);
    provenance::rows(
        &node,
        relation,
        &e.tuple,
        e.id,
        cause,
        &time,
        |rule_exec, row| {
            out.push((if rule_exec { 0 } else { 1 }, row));
        },
    );
    out
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
