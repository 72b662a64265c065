//! `trellis run`: one node, local delivery.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use trellis_engine::{NANOS_PER_SECOND, Node, NodeConfig, Output, Time, Tuple};
use trellis_plan::{Plan, WatchModes};
use trellis_syntax::ast::{ExprKind, Statement};
use trellis_syntax::{ParseOptions, SourceMap};
use trellis_value::Value;

use crate::cli::{Clock, RunArgs};
use crate::output;

pub fn run(args: &RunArgs) -> ExitCode {
    let options = crate::parse_options(&args.program);
    let Some(mut plan) = crate::load(&args.program, &options) else {
        return ExitCode::FAILURE;
    };
    if let Err(message) = add_watches(&mut plan, &args.watch) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let plan = Arc::new(plan);
    let mut config = NodeConfig::new(args.addr.clone(), args.seed);
    // A lone node is its own landmark; its identifier is its address's SHA-1.
    config.params.insert(
        "NODEID".into(),
        Value::Id(trellis_value::sha1_id(&args.addr)),
    );
    config
        .params
        .insert("LANDMARK".into(), Value::str(&args.addr));
    let mut node = match Node::new(plan.clone(), config) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };

    let wall_origin = Instant::now();
    let origin: Time = match args.clock {
        Clock::Wall => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as Time),
        Clock::Virtual => 0,
    };
    let deadline = args
        .duration
        .map(|s| origin + (s.max(0.0) * NANOS_PER_SECOND as f64) as Time);
    node.start(origin);
    for text in &args.facts {
        match parse_fact(text, &options, &args.addr) {
            Ok((relation, tuple)) => {
                if let Err(e) = node.inject(&relation, tuple) {
                    eprintln!("error: --fact {text}: {e}");
                    return ExitCode::from(2);
                }
            }
            Err(message) => {
                eprint!("{message}");
                return ExitCode::from(2);
            }
        }
    }

    let now = |virtual_now: Time| match args.clock {
        Clock::Wall => origin + wall_origin.elapsed().as_nanos() as Time,
        Clock::Virtual => virtual_now,
    };
    let mut virtual_now = origin;
    let mut out = Output::default();
    let mut undeliverable = BTreeSet::new();
    let mut dropped_sends = 0u64;
    loop {
        let t = now(virtual_now);
        if deadline.is_some_and(|d| t > d) {
            break;
        }
        while node.step(t, &mut out) {
            for r in &out.records {
                println!(
                    "{}",
                    output::record_line(&plan, &args.addr, origin, r, args.json)
                );
            }
            for p in &out.problems {
                let line = output::problem_line(&plan, &args.addr, origin, p, args.json);
                if args.json {
                    println!("{line}");
                } else {
                    eprintln!("{line}");
                }
            }
            for m in &out.sends {
                dropped_sends += 1;
                if undeliverable.insert(m.destination.clone()) && !args.json {
                    eprintln!(
                        "note: tuples for {} are not delivered: `trellis run` runs a single node",
                        m.destination
                    );
                }
            }
            out.clear();
        }
        let next = node.next_wakeup();
        if args.clock == Clock::Virtual {
            if let Some(d) = deadline.filter(|d| next.is_none_or(|n| n > *d)) {
                // Nothing more before the deadline: the run lasts until it.
                virtual_now = d;
                break;
            }
        }
        let Some(next) = next else {
            break;
        };
        match args.clock {
            Clock::Virtual => virtual_now = next,
            Clock::Wall => {
                let target = deadline.map_or(next, |d| next.min(d));
                let t = now(0);
                if target > t {
                    std::thread::sleep(Duration::from_nanos(target - t));
                }
            }
        }
    }
    let elapsed = output::seconds(now(virtual_now), origin);
    if args.json {
        println!(
            "{}",
            output::summary_json(
                &plan,
                &args.addr,
                elapsed,
                node.stats(),
                serde_json::json!({ "undelivered_sends": dropped_sends }),
            )
        );
    } else {
        eprint!(
            "{}",
            output::summary_text(&plan, &args.addr, elapsed, node.stats())
        );
        if dropped_sends > 0 {
            eprintln!("  {dropped_sends} tuples for other nodes were not delivered");
        }
    }
    ExitCode::SUCCESS
}

/// `--watch REL` / `--watch all`.
pub fn add_watches(plan: &mut Plan, names: &[String]) -> Result<(), String> {
    for name in names {
        if name == "all" {
            for r in plan.relations.iter_mut() {
                r.watch = Some(WatchModes::ALL);
            }
            continue;
        }
        let id = plan
            .lookup(name)
            .ok_or_else(|| format!("--watch {name}: no such relation in the program"))?;
        plan.relations[id.0 as usize].watch = Some(WatchModes::ALL);
    }
    Ok(())
}

/// Parse `rel(args)` given with `--fact`, with the program's macros.
pub fn parse_fact(
    text: &str,
    options: &ParseOptions,
    address: &str,
) -> Result<(String, Tuple), String> {
    let mut sources = SourceMap::new();
    let source = format!("{}.", text.trim().trim_end_matches('.'));
    let parsed =
        trellis_syntax::parse_str("--fact", &source, options, &mut sources).map_err(|errors| {
            errors
                .iter()
                .map(|e| trellis_syntax::render(&sources, e, crate::style()))
                .collect::<String>()
        })?;
    let [Statement::Fact(fact)] = parsed.program.statements.as_slice() else {
        return Err(format!(
            "error: --fact expects one tuple such as `link(\"{address}\", 1)`, got `{text}`\n"
        ));
    };
    let mut fields = Vec::new();
    for arg in &fact.atom.args {
        match &arg.kind {
            ExprKind::Literal(v) => fields.push(v.clone()),
            ExprKind::NodeParam(p) if p == trellis_plan::LOCAL_ADDRESS => {
                fields.push(Value::str(address))
            }
            _ => {
                return Err(format!(
                    "error: --fact `{text}`: fields must be constants\n"
                ));
            }
        }
    }
    Ok((fact.atom.relation.name.clone(), Tuple::from(fields)))
}
