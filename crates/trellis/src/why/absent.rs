//! `trellis why-not DIR 'pattern' [--at SECONDS]`: why a tuple is *not* on
//! a node (docs/provenance.md, "Why not").
//!
//! The simulation is replayed from DIR's command line (`replay.json`: a
//! run is a function of its program, scenario and seed) to `--at`, and
//! the node the pattern names is asked, through the engine's
//! [`trellis_engine::why_not`], where each rule that could derive the
//! tuple stops; a missing body tuple is asked about in turn, on the node
//! that would hold it. When the run wrote provenance, the log adds the
//! sends of the tuple that never arrived: messages lost in the network or
//! sent to a node that was down.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use serde_json::{Value as J, json};
use trellis_engine::{Blocked, RuleWhyNot, WhyNot};
use trellis_plan::Plan;
use trellis_sim::{NANOS, Options, Quiet, Simulation};
use trellis_syntax::{Pattern, PatternField};
use trellis_value::Value;

use super::load::{Cause, LoadError, Log};
use crate::cli::{Cli, Command, SimArgs, WhyNotArgs, WhyNotFormat};
use crate::output;
use crate::sim::{REPLAY_FILE, prepare};

#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error(
        "{0} does not exist: it is written by `trellis sim ... --out DIR`; simulate again with \
         --out"
    )]
    Missing(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a replay file: {problem}")]
    Bad { path: PathBuf, problem: String },
}

/// The `trellis sim` command line that made DIR, its paths made absolute.
fn replay_args(dir: &Path) -> Result<SimArgs, ReplayError> {
    let path = dir.join(REPLAY_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ReplayError::Missing(path.clone()),
        _ => ReplayError::Read {
            path: path.clone(),
            source,
        },
    })?;
    let bad = |problem: String| ReplayError::Bad {
        path: path.clone(),
        problem,
    };
    let json: J = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let cwd = PathBuf::from(json["cwd"].as_str().ok_or_else(|| bad("no cwd".into()))?);
    let argv: Vec<String> = json["argv"]
        .as_array()
        .ok_or_else(|| bad("no argv".into()))?
        .iter()
        .map(|a| a.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| bad("argv holds a non-string".into()))?;
    let cli = Cli::try_parse_from(&argv).map_err(|e| bad(e.to_string()))?;
    let Command::Sim(mut args) = cli.command else {
        return Err(bad("not a `trellis sim` command line".into()));
    };
    args.program.file = cwd.join(&args.program.file);
    args.scenario = args.scenario.map(|s| cwd.join(s));
    args.out = None;
    Ok(args)
}

pub fn why_not(args: &WhyNotArgs, pattern: &Pattern) -> ExitCode {
    let sim_args = match replay_args(&args.dir) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(PatternField::Value(Value::Str(node))) = pattern.fields.first() else {
        eprintln!(
            "error: why-not asks one node: give the pattern's location as an address, e.g. `{}(@\"node3:9000\", ...)`",
            pattern.relation
        );
        return ExitCode::from(2);
    };
    let (plan, scenario) = match prepare(&sim_args) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let Some(relation) = plan.lookup(&pattern.relation) else {
        eprintln!("error: the program has no relation `{}`", pattern.relation);
        return ExitCode::from(2);
    };
    if !plan.relation(relation).fits(pattern.fields.len()) {
        eprintln!(
            "error: `{}` has {} fields, the pattern {}",
            pattern.relation,
            plan.relation(relation).arity,
            pattern.fields.len()
        );
        return ExitCode::from(2);
    }
    let end = scenario.simulation.duration;
    let at = args.at.unwrap_or(end).min(end);
    let mut sim = match Simulation::new(plan, scenario, &Options::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot replay the run: {e}");
            return ExitCode::from(2);
        }
    };
    sim.run_until((at * NANOS) as trellis_engine::Time, &mut Quiet);
    let lost = match lost_sends(&args.dir, pattern, at) {
        Ok(lost) => lost,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(at_node) = sim.node_at(node) else {
        // A node that is down holds nothing: what was sent to it is lost.
        let mut text = String::new();
        for l in &lost {
            text.push_str(&format!("{l}\n"));
        }
        text.push_str(&format!(
            "{node} is not alive at {at:.3}s: it holds nothing\n"
        ));
        output::stdout(format_args!("{text}"));
        return ExitCode::SUCCESS;
    };
    let fields: Vec<Option<Value>> = pattern
        .fields
        .iter()
        .map(|f| match f {
            PatternField::Value(v) => Some(v.clone()),
            PatternField::Var(_) | PatternField::Any => None,
        })
        .collect();
    let nodes = sim.live_nodes();
    let answer = trellis_engine::why_not(&nodes, at_node, relation, &fields, args.depth.into());
    let plan = sim.plan().clone();
    match args.format {
        WhyNotFormat::Text => {
            let mut text = String::new();
            if answer.exists {
                text.push_str(&format!(
                    "{} is on {node} at {at:.3}s: ask `trellis why` instead\n",
                    pattern_text(&plan, &answer)
                ));
            }
            for l in &lost {
                text.push_str(&format!("{l}\n"));
            }
            render_text(&plan, &answer, 0, &mut text);
            output::stdout(format_args!("{text}"));
        }
        WhyNotFormat::Json => {
            let mut j = to_json(&plan, &answer);
            j["lost"] = lost.iter().map(|l| J::from(l.to_string())).collect();
            j["at"] = J::from(at);
            output::stdout(format_args!("{j}\n"));
        }
    }
    if answer.exists {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A send of a matching tuple that the log shows left its sender and never
/// arrived at its destination, by `at`.
struct LostSend {
    rule: String,
    from: String,
    to: String,
    time: f64,
    tuple: String,
}

impl std::fmt::Display for LostSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}  <- sent by rule {} on {} at {:.3}s, never received on {} (lost in the network, or {} was down)",
            self.tuple, self.rule, self.from, self.time, self.to, self.to
        )
    }
}

fn lost_sends(dir: &Path, pattern: &Pattern, at: f64) -> Result<Vec<LostSend>, LoadError> {
    let log = match Log::load(dir) {
        Ok(log) => log,
        Err(LoadError::NoLog(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let received = |node: &str, exec: u64| {
        log.entries.iter().any(|e| {
            log.nodes[e.node as usize] == node
                && matches!(e.cause, Cause::Received { exec: Some(x), .. } if x == exec)
        })
    };
    let mut lost = Vec::new();
    for e in &log.entries {
        let Cause::Rule {
            rule,
            exec,
            sent: true,
            ..
        } = &e.cause
        else {
            continue;
        };
        if e.time > at || !pattern.matches(log.name_of(e.relation), &e.tuple) {
            continue;
        }
        let to = e.tuple.first().map_or(String::new(), |v| match v {
            Value::Str(s) => s.to_string(),
            v => v.literal(),
        });
        if !received(&to, *exec) {
            lost.push(LostSend {
                rule: log.name_of(*rule).to_string(),
                from: log.nodes[e.node as usize].clone(),
                to,
                time: e.time,
                tuple: tuple_text(log.name_of(e.relation), &e.tuple),
            });
        }
    }
    Ok(lost)
}

fn tuple_text(relation: &str, fields: &[Value]) -> String {
    let fields: Vec<String> = fields.iter().map(Value::literal).collect();
    atom_text(relation, &fields)
}

fn atom_text(relation: &str, fields: &[String]) -> String {
    match fields.split_first() {
        Some((at, [])) => format!("{relation}(@{at})"),
        Some((at, rest)) => format!("{relation}(@{at}, {})", rest.join(", ")),
        None => format!("{relation}()"),
    }
}

/// The tuple asked about, unknown fields as `_`.
fn pattern_text(plan: &Plan, w: &WhyNot) -> String {
    let fields: Vec<String> = w
        .pattern
        .iter()
        .map(|p| p.as_ref().map_or_else(|| "_".to_string(), Value::literal))
        .collect();
    atom_text(&plan.relation(w.relation).name, &fields)
}

fn render_text(plan: &Plan, w: &WhyNot, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let what = pattern_text(plan, w);
    if w.exists {
        if depth > 0 {
            out.push_str(&format!("{pad}{what}  is on {}\n", w.node));
        }
        return;
    }
    if depth == 0 {
        out.push_str(&format!("{what}  is not on {}\n", w.node));
    }
    if w.arrives_only {
        out.push_str(&format!(
            "{pad}  no rule derives `{}`: its tuples only arrive (facts, injections)\n",
            plan.relation(w.relation).name
        ));
    }
    for r in &w.rules {
        out.push_str(&format!("{pad}  {}\n", rule_line(plan, r)));
        if let Some(below) = &r.below {
            if below.exists {
                out.push_str(&format!(
                    "{pad}    {}  is on {} (but not as needed)\n",
                    pattern_text(plan, below),
                    below.node
                ));
            } else {
                out.push_str(&format!(
                    "{pad}    {}  is not on {}\n",
                    pattern_text(plan, below),
                    below.node
                ));
                render_text(plan, below, depth + 2, out);
            }
        }
    }
}

fn rule_line(plan: &Plan, r: &RuleWhyNot) -> String {
    let a = &r.absence;
    let rule = match r.tied {
        0 | 1 => plan.rule(a.rule).name.clone(),
        n => format!(
            "{} (as far on {n} nodes; one shown)",
            plan.rule(a.rule).name
        ),
    };
    let bindings = if a.bindings.is_empty() {
        String::new()
    } else {
        let b: Vec<String> = a
            .bindings
            .iter()
            .map(|(n, v)| format!("{n}={}", v.literal()))
            .collect();
        format!(" with {}", b.join(", "))
    };
    match &a.blocked {
        Blocked::NoMatch { relation, .. } => format!(
            "rule {rule} on {}: no `{}` matched{bindings}",
            a.node,
            plan.relation(*relation).name
        ),
        Blocked::Negated {
            relation, found, ..
        } => format!(
            "rule {rule} on {}: `notin {}` found {}{bindings}",
            a.node,
            plan.relation(*relation).name,
            tuple_text(&plan.relation(*relation).name, found)
        ),
        Blocked::Condition(c) => format!("rule {rule} on {}: {c} is false{bindings}", a.node),
        Blocked::Error(e) => format!("rule {rule} on {}: {e}{bindings}", a.node),
        Blocked::OtherTuples => format!("rule {rule}: derives other tuples, never this one"),
        Blocked::Derives => format!(
            "rule {rule} on {}: derives it now{bindings} (sent and not arrived: lost, in flight, or its destination was down)",
            a.node
        ),
        Blocked::Elsewhere if a.node.is_empty() => {
            format!("rule {rule}: runs on another node, and none is alive")
        }
        Blocked::Elsewhere => format!("rule {rule}: runs on {}, which is down", a.node),
    }
}

fn to_json(plan: &Plan, w: &WhyNot) -> J {
    let fields: Vec<J> = w
        .pattern
        .iter()
        .map(|p| p.as_ref().map_or(J::Null, |v| J::from(v.literal())))
        .collect();
    let rules: Vec<J> = w
        .rules
        .iter()
        .map(|r| {
            let a = &r.absence;
            let (kind, detail) = match &a.blocked {
                Blocked::NoMatch { relation, .. } => {
                    ("no_match", J::from(plan.relation(*relation).name.as_str()))
                }
                Blocked::Negated {
                    relation, found, ..
                } => (
                    "notin",
                    J::from(tuple_text(&plan.relation(*relation).name, found)),
                ),
                Blocked::Condition(c) => ("condition", J::from(c.as_str())),
                Blocked::Error(e) => ("error", J::from(e.to_string())),
                Blocked::OtherTuples => ("other_tuples", J::Null),
                Blocked::Derives => ("derives", J::Null),
                Blocked::Elsewhere => ("elsewhere", J::Null),
            };
            let bindings: serde_json::Map<String, J> = a
                .bindings
                .iter()
                .map(|(n, v)| (n.clone(), J::from(v.literal())))
                .collect();
            json!({
                "rule": plan.rule(a.rule).name,
                "node": &*a.node,
                "blocked": kind,
                "detail": detail,
                "bindings": bindings,
                "below": r.below.as_ref().map(|b| to_json(plan, b)),
            })
        })
        .collect();
    json!({
        "node": &*w.node,
        "relation": plan.relation(w.relation).name,
        "pattern": fields,
        "exists": w.exists,
        "arrives_only": w.arrives_only,
        "rules": rules,
    })
}
