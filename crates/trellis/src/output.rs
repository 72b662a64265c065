//! Printing what nodes do: watch records, runtime problems and summaries,
//! as text for people or as JSON lines for programs.

use serde_json::json;
use trellis_engine::{Problem, Record, Stats, Time, Tuple};
use trellis_plan::Plan;
use trellis_sim::Fault;
use trellis_value::Value;

/// Write to stdout, ignoring errors: a closed stdout (`trellis sim ... |
/// head -1`) must not panic the command, as `print!` would. Every write to
/// stdout goes through here (or ignores its error the same way).
pub fn stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_fmt(args);
}

/// Seconds since `origin`, for display.
pub fn seconds(time: Time, origin: Time) -> f64 {
    time.saturating_sub(origin) as f64 / 1e9
}

pub fn tuple_text(plan: &Plan, relation: trellis_plan::RelId, tuple: &Tuple) -> String {
    let fields: Vec<String> = tuple.iter().map(|v| v.literal()).collect();
    format!("{}({})", plan.relation(relation).name, fields.join(", "))
}

pub fn tuple_json(tuple: &Tuple) -> serde_json::Value {
    serde_json::Value::Array(tuple.iter().map(value_json).collect())
}

/// JSON has no IDs or non-finite numbers: IDs become `"0x...I"` strings
/// and non-finite floats the strings `"inf"`, `"-inf"`, `"nan"`.
pub fn value_json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => J::Number(n),
            None if f.is_nan() => J::from("nan"),
            None if *f > 0.0 => J::from("inf"),
            None => J::from("-inf"),
        },
        Value::Str(s) => J::from(&**s),
        Value::Id(id) => J::String(id.to_string()),
        Value::List(items) => J::Array(items.iter().map(value_json).collect()),
    }
}

pub fn record_line(plan: &Plan, node: &str, origin: Time, r: &Record, as_json: bool) -> String {
    if as_json {
        json!({
            "node": node,
            "time": seconds(r.time, origin),
            "tick": r.tick,
            "kind": r.kind.as_str(),
            "relation": plan.relation(r.relation).name,
            "tuple": tuple_json(&r.tuple),
        })
        .to_string()
    } else {
        format!(
            "{:>9.3}s {node} tick {:<5} {:<7} {}",
            seconds(r.time, origin),
            r.tick,
            r.kind.as_str(),
            tuple_text(plan, r.relation, &r.tuple)
        )
    }
}

/// A fault in the simulator's watch stream; `address` names a node by its
/// scenario index.
pub fn fault_line<'a>(
    time: Time,
    fault: &'a Fault,
    address: impl Fn(usize) -> &'a str,
    as_json: bool,
) -> String {
    let at = seconds(time, 0);
    let kind = fault.kind();
    match (fault, as_json) {
        (Fault::Crash(i) | Fault::Restart(i), true) => {
            json!({"time": at, "fault": kind, "node": address(*i)}).to_string()
        }
        (Fault::Partition(name) | Fault::Heal(name), true) => {
            json!({"time": at, "fault": kind, "name": name}).to_string()
        }
        (Fault::Crash(i) | Fault::Restart(i), false) => {
            format!("{at:>9.3}s {} {kind}", address(*i))
        }
        (Fault::Partition(name) | Fault::Heal(name), false) => {
            format!("{at:>9.3}s {kind} `{name}`")
        }
    }
}

pub fn problem_line(plan: &Plan, node: &str, origin: Time, p: &Problem, as_json: bool) -> String {
    match p {
        Problem::Eval {
            time,
            tick,
            rule,
            error,
        } => {
            let rule = &plan.rule(*rule).name;
            if as_json {
                json!({"node": node, "time": seconds(*time, origin), "tick": tick,
                       "problem": "eval", "rule": rule, "message": error.to_string()})
                .to_string()
            } else {
                format!(
                    "error: rule `{rule}` at {node} (t={:.3}s, tick {tick}): {error}; that derivation was dropped",
                    seconds(*time, origin)
                )
            }
        }
        Problem::Runaway {
            time,
            tick,
            ticks,
            rules,
        } => {
            let names: Vec<&str> = rules.iter().map(|r| plan.rule(*r).name.as_str()).collect();
            if as_json {
                json!({"node": node, "time": seconds(*time, origin), "tick": tick,
                       "problem": "runaway", "ticks": ticks, "rules": names})
                .to_string()
            } else if *ticks == 0 {
                format!(
                    "warning: at {node} (t={:.3}s, tick {tick}) one tick made too many derivations; it was stopped and its writes and sends dropped (raise the bound with --max-derivations-per-tick). Rules involved: {}",
                    seconds(*time, origin),
                    names.join(", ")
                )
            } else {
                format!(
                    "warning: at {node} (t={:.3}s) {ticks} ticks ran at one instant; the cascade was stopped (raise the bound with --max-ticks-per-instant). Rules involved: {}",
                    seconds(*time, origin),
                    names.join(", ")
                )
            }
        }
    }
}

pub fn summary_json(
    plan: &Plan,
    node: &str,
    elapsed: f64,
    stats: &Stats,
    extra: serde_json::Value,
) -> String {
    let mut s = trellis_sim::engine_stats_json(stats, plan);
    s["node"] = json!(node);
    s["time"] = json!(elapsed);
    if let serde_json::Value::Object(extra) = extra {
        for (k, v) in extra {
            s[k] = v;
        }
    }
    json!({ "summary": s }).to_string()
}

pub fn summary_text(plan: &Plan, node: &str, elapsed: f64, stats: &Stats) -> String {
    let mut out = format!(
        "summary: {node} ran {} ticks in {elapsed:.3}s; {} runtime errors, {} key conflicts, {} dropped inputs, {} runaway cascades\n",
        stats.ticks,
        stats.errors(),
        stats.key_conflicts,
        stats.dropped_inputs,
        stats.runaways
    );
    for (r, s) in plan.relations.iter().zip(&stats.relations) {
        let mut parts = Vec::new();
        for (n, what) in [
            (s.inserts, "inserts"),
            (s.replacements, "replacements"),
            (s.refreshes, "refreshes"),
            (s.deletes, "deletes"),
            (s.expirations, "expired"),
            (s.evictions, "evicted"),
            (s.events, "events"),
            (s.sends, "sent"),
            (s.receives, "received"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if !parts.is_empty() {
            out.push_str(&format!("  {:<20} {}\n", r.name, parts.join(", ")));
        }
    }
    for (rule, n) in plan.rules.iter().zip(&stats.rule_errors) {
        if *n > 0 {
            out.push_str(&format!(
                "  rule `{}`: {n} derivations dropped by errors\n",
                rule.name
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use trellis_value::Id;

    #[test]
    fn json_values() {
        let v = Value::List(
            [
                Value::Null,
                Value::Bool(true),
                Value::Int(3),
                Value::Float(0.5),
                Value::Float(f64::INFINITY),
                Value::Float(f64::NEG_INFINITY),
                Value::Float(f64::NAN),
                Value::str("s"),
                Value::Id(Id::from_u64(16)),
            ]
            .into(),
        );
        assert_eq!(
            value_json(&v),
            json!([null, true, 3, 0.5, "inf", "-inf", "nan", "s", "0x10I"])
        );
    }
}
