//! The CALM analysis for people: `explain --calm` (text), `graph --calm`
//! (DOT or Mermaid, coloured) and `check --calm` (a warning per point of
//! order, with its source).

use std::fmt::Write;

use miette::Diagnostic;
use thiserror::Error;
use trellis_syntax::{FileId, SourceDiagnostic, Span};

use super::{Calm, Label, NonMonotone, PointOfOrder};
use crate::explain::GraphFormat;
use crate::plan::*;

fn is_table(plan: &Plan, id: RelId) -> bool {
    matches!(plan.relation(id).kind, RelationKind::Table(_))
}

fn rel(plan: &Plan, id: RelId) -> &str {
    &plan.relation(id).name
}

/// The rule as the user wrote it: a localization stage is named after its
/// rule.
fn rule_name(plan: &Plan, id: RuleId) -> &str {
    let rule = plan.rule(id);
    rule.origin.as_deref().unwrap_or(&rule.name)
}

fn seconds(nanos: u64) -> String {
    format!("{}s", nanos as f64 / 1e9)
}

/// The operation, in a few words.
fn operation(plan: &Plan, reason: &NonMonotone) -> String {
    match reason {
        NonMonotone::Negation { relation } => format!("notin `{}`", rel(plan, *relation)),
        NonMonotone::Aggregate { function } => format!("aggregate {}", aggregate(*function)),
        NonMonotone::Deletion { relation } => format!("deletes from `{}`", rel(plan, *relation)),
        NonMonotone::Replacement { relation } => {
            format!("replaces `{}` rows by key", rel(plan, *relation))
        }
        NonMonotone::TransientRead { event, table } => format!(
            "event `{}` reads table `{}`",
            rel(plan, *event),
            rel(plan, *table)
        ),
        NonMonotone::Expiry {
            relation,
            lifetime_nanos,
        } => format!(
            "reads soft state `{}` (lifetime {})",
            rel(plan, *relation),
            seconds(*lifetime_nanos)
        ),
        NonMonotone::Eviction { relation, max_size } => {
            format!("reads `{}` (at most {max_size} rows)", rel(plan, *relation))
        }
        NonMonotone::Clock => "reads the clock (f_now)".into(),
        NonMonotone::LatticeRead { relation, column } => format!(
            "reads lattice `{}` field {} as a plain value",
            rel(plan, *relation),
            column + 1
        ),
    }
}

fn aggregate(f: AggregateFn) -> &'static str {
    match f {
        AggregateFn::Min => "min",
        AggregateFn::Max => "max",
        AggregateFn::Count => "count",
        AggregateFn::Sum => "sum",
        AggregateFn::Avg => "avg",
    }
}

/// What could go wrong, in one sentence.
fn consequence(
    plan: &Plan,
    point: &PointOfOrder,
    (reason, input): &(NonMonotone, RelId),
) -> String {
    let rule = rule_name(plan, point.rule);
    let head = rel(plan, plan.rule(point.rule).head.relation);
    let input_id = *input;
    let input = rel(plan, input_id);
    match reason {
        NonMonotone::Negation { relation } => format!(
            "`{rule}` derives `{head}` only if no matching `{}` is there when it runs; a `{input}` that arrives later does not take it back",
            rel(plan, *relation)
        ),
        NonMonotone::Aggregate { function } if !is_table(plan, input_id) => format!(
            "the {} that `{rule}` computes over one tick's `{input}` events depends on which of them arrive in the same tick",
            aggregate(*function)
        ),
        NonMonotone::Aggregate { function } => format!(
            "the {} that `{rule}` computes changes as `{input}` arrives; which value `{head}` gets depends on when it runs",
            aggregate(*function)
        ),
        NonMonotone::Deletion { relation } => format!(
            "`{rule}` deletes `{}` rows when `{input}` arrives; whether other rules read them first depends on message order",
            rel(plan, *relation)
        ),
        NonMonotone::Replacement { relation } => format!(
            "`{rule}` overwrites the `{}` row with the same key; the last write wins, and which write is last depends on the order `{input}` arrives in",
            rel(plan, *relation)
        ),
        NonMonotone::TransientRead { event, table } => format!(
            "the result of `{rule}` depends on whether `{}` arrives before `{}`: each `{}` meets only the `{}` rows already there",
            rel(plan, *table),
            rel(plan, *event),
            rel(plan, *event),
            rel(plan, *table)
        ),
        NonMonotone::Expiry {
            relation,
            lifetime_nanos,
        } => format!(
            "`{rule}` sees a `{}` row only within {} of its arrival; whether it does depends on when `{input}` arrives",
            rel(plan, *relation),
            seconds(*lifetime_nanos)
        ),
        NonMonotone::Eviction { relation, max_size } => format!(
            "`{}` keeps at most {max_size} rows; which ones `{rule}` sees depends on the order they arrived in",
            rel(plan, *relation)
        ),
        NonMonotone::Clock => {
            format!("`{rule}` reads the clock; its result depends on when `{input}` arrives")
        }
        NonMonotone::LatticeRead { relation, column } => format!(
            "`{rule}` uses field {} of `{}` as it is when it runs; a later merge into it can leave the `{head}` it derived out of date",
            column + 1,
            rel(plan, *relation)
        ),
    }
}

/// What would fix it.
fn remedy(plan: &Plan, _: &PointOfOrder, (reason, input): &(NonMonotone, RelId)) -> String {
    let input = rel(plan, *input);
    match reason {
        NonMonotone::Negation { .. }
        | NonMonotone::Aggregate { .. }
        | NonMonotone::Deletion { .. } => format!(
            "coordinate here (wait until every `{input}` that can arrive has: a barrier, a quorum, consensus), or keep the state in a lattice so that it only grows"
        ),
        NonMonotone::Replacement { relation } => format!(
            "key `{}` on all its fields to keep every version, or merge versions with a lattice (e.g. the max of a version number)",
            rel(plan, *relation)
        ),
        NonMonotone::TransientRead { event, .. } => format!(
            "materialize `{}` so that later rows still meet it, or have its sender retry until it is answered",
            rel(plan, *event)
        ),
        NonMonotone::Expiry { relation, .. } | NonMonotone::Eviction { relation, .. } => format!(
            "refresh `{}` on a timer so a missed row comes back, or make it hard state",
            rel(plan, *relation)
        ),
        NonMonotone::Clock => {
            "compare times on one node only, or carry the time in the tuple".into()
        }
        NonMonotone::LatticeRead { .. } => format!(
            "use it only through monotone functions into a lattice column (f_size, f_member, f_mapGet, f_gcValue, f_max) or through a threshold that stays true (`>=` on a max, `<=` on a min), or coordinate here (wait until every `{input}` that can arrive has)"
        ),
    }
}

/// Why it may be benign, if the analysis knows a reason.
fn benign(plan: &Plan, point: &PointOfOrder) -> Option<String> {
    let by = point.refreshed_by?;
    let state = rel(plan, plan.rule(by).head.relation);
    Some(format!(
        "`{}` re-derives `{state}` on a timer, so a missed or stale row heals at the next refresh (P2's soft state)",
        rule_name(plan, by)
    ))
}

/// Every distinct sentence `say` makes of the point's operations.
fn each(
    plan: &Plan,
    point: &PointOfOrder,
    say: fn(&Plan, &PointOfOrder, &(NonMonotone, RelId)) -> String,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for reason in &point.reasons {
        let s = say(plan, point, reason);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The operations, in a few words.
fn operations(plan: &Plan, point: &PointOfOrder) -> String {
    let mut ops: Vec<String> = Vec::new();
    for (reason, _) in &point.reasons {
        let op = operation(plan, reason);
        if !ops.contains(&op) {
            ops.push(op);
        }
    }
    ops.join("; ")
}

/// How asynchrony reaches the point: `a` (sent) → `b` (`r3`) → here, one
/// path per input.
fn paths(plan: &Plan, point: &PointOfOrder) -> Vec<String> {
    point
        .paths
        .iter()
        .map(|path| {
            let mut parts = Vec::new();
            for (rule, r) in path {
                parts.push(match rule {
                    None => format!("`{}` (sent between nodes)", rel(plan, *r)),
                    Some(rule) => format!("`{}` (by `{}`)", rel(plan, *r), rule_name(plan, *rule)),
                });
            }
            parts.push("here".into());
            parts.join(" → ")
        })
        .collect()
}

/// `explain --calm`: relations sent between nodes, every rule's monotonicity,
/// the points of order and the outputs' labels. `locate` prints a span as
/// `file:line`.
pub fn explain_calm(plan: &Plan, calm: &Calm, locate: &dyn Fn(Span) -> String) -> String {
    let mut out = String::new();
    let w = &mut out;
    let names = |ids: &mut dyn Iterator<Item = usize>| -> String {
        let names: Vec<String> = ids
            .map(|i| format!("`{}`", plan.relations[i].name))
            .collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    };
    let _ = writeln!(
        w,
        "Sent between nodes (asynchronous): {}",
        names(&mut (0..plan.relations.len()).filter(|i| calm.sent[*i]))
    );
    let _ = writeln!(
        w,
        "Derived from them: {}",
        names(
            &mut (0..plan.relations.len()).filter(|i| !calm.sent[*i] && calm.tainted[*i].is_some())
        )
    );
    let lattices: Vec<String> = plan
        .relations
        .iter()
        .filter_map(|r| match &r.kind {
            RelationKind::Table(spec) if !spec.lattices.is_empty() => Some((r, spec)),
            _ => None,
        })
        .flat_map(|(r, spec)| {
            spec.lattices
                .iter()
                .map(move |(c, l)| format!("`{}` field {} ({l})", r.name, c + 1))
        })
        .collect();
    if !lattices.is_empty() {
        let _ = writeln!(w, "Lattice columns (writes merge): {}", lattices.join(", "));
    }
    let _ = writeln!(w, "\nRules:");
    for rule in &plan.rules {
        let reasons = &calm.rules[rule.id.0 as usize];
        let head = plan.relation(rule.head.relation);
        let merges = match &head.kind {
            RelationKind::Table(spec) => !rule.head.delete && !spec.lattices.is_empty(),
            _ => false,
        };
        let what = if reasons.is_empty() && merges {
            format!("monotone (merges into `{}`)", head.name)
        } else if reasons.is_empty() {
            "monotone".to_string()
        } else {
            let ops: Vec<String> = reasons.iter().map(|r| operation(plan, r)).collect();
            format!("non-monotone: {}", ops.join("; "))
        };
        let _ = writeln!(w, "  {}: {what}", rule.name);
    }
    let healed = calm
        .points
        .iter()
        .filter(|p| p.refreshed_by.is_some())
        .count();
    let _ = writeln!(
        w,
        "\nPoints of order: {} ({healed} healed by a refresh)",
        calm.points.len()
    );
    for (i, point) in calm.points.iter().enumerate() {
        let _ = writeln!(
            w,
            "  {}. `{}` at {}: {}",
            i + 1,
            rule_name(plan, point.rule),
            locate(plan.rule(point.rule).span),
            operations(plan, point)
        );
        for p in paths(plan, point) {
            let _ = writeln!(w, "     asynchrony: {p}");
        }
        for s in each(plan, point, consequence) {
            let _ = writeln!(w, "     what can go wrong: {s}");
        }
        for s in each(plan, point, remedy) {
            let _ = writeln!(w, "     fix: {s}");
        }
        if let Some(why) = benign(plan, point) {
            let _ = writeln!(w, "     benign: {why}");
        }
    }
    let _ = writeln!(
        w,
        "\nOutputs (watched, sent between nodes, or read by no rule):"
    );
    if calm.outputs.is_empty() {
        let _ = writeln!(w, "  none");
    }
    for (r, label) in &calm.outputs {
        let _ = writeln!(
            w,
            "  {}: {} (Bloom: {})",
            rel(plan, *r),
            label.as_str(),
            label.bloom()
        );
    }
    out
}

/// `graph --calm`: relations and rules, rules coloured by what the analysis
/// found (green monotone, orange non-monotone, red a point of order),
/// relations sent between nodes drawn dashed, sends as dashed edges.
pub fn graph_calm(plan: &Plan, calm: &Calm, format: GraphFormat) -> String {
    let mut out = String::new();
    let w = &mut out;
    let escape = |s: &str| s.replace('"', "'");
    let colour = |rule: &RulePlan| {
        if calm.points_in(rule.id).next().is_some() {
            "red"
        } else if !calm.is_monotone(rule.id) {
            "orange"
        } else {
            "green"
        }
    };
    let used = |i: usize| {
        plan.rules.iter().any(|r| {
            r.head.relation.0 as usize == i || r.body.iter().any(|a| a.relation.0 as usize == i)
        })
    };
    match format {
        GraphFormat::Dot => {
            let _ = writeln!(
                w,
                "digraph calm {{\n  rankdir=LR;\n  node [fontname=\"monospace\"];"
            );
            for (i, r) in plan.relations.iter().enumerate().filter(|(i, _)| used(*i)) {
                let shape = match r.kind {
                    RelationKind::Table(_) => "box",
                    _ => "ellipse",
                };
                let style = if calm.sent[i] { ", style=dashed" } else { "" };
                let label = calm
                    .outputs
                    .iter()
                    .find(|(o, _)| o.0 as usize == i)
                    .map_or(String::new(), |(_, l)| format!("\\n{}", l.as_str()));
                let _ = writeln!(
                    w,
                    "  rel{i} [label=\"{}{label}\", shape={shape}{style}];",
                    escape(&r.name)
                );
            }
            for rule in &plan.rules {
                let _ = writeln!(
                    w,
                    "  rule{} [label=\"{}\", shape=cds, style=filled, fillcolor={}];",
                    rule.id.0,
                    escape(&rule.name),
                    colour(rule)
                );
                for atom in &rule.body {
                    let style = if atom.negated {
                        " [style=dotted, label=\"notin\"]"
                    } else {
                        ""
                    };
                    let _ = writeln!(w, "  rel{} -> rule{}{style};", atom.relation.0, rule.id.0);
                }
                let style = if rule.head.route == Route::Send {
                    " [style=dashed, label=\"send\"]"
                } else {
                    ""
                };
                let _ = writeln!(
                    w,
                    "  rule{} -> rel{}{style};",
                    rule.id.0, rule.head.relation.0
                );
            }
            let _ = writeln!(w, "}}");
        }
        GraphFormat::Mermaid => {
            let _ = writeln!(w, "flowchart LR");
            for (i, r) in plan.relations.iter().enumerate().filter(|(i, _)| used(*i)) {
                let name = escape(&r.name);
                let label = calm
                    .outputs
                    .iter()
                    .find(|(o, _)| o.0 as usize == i)
                    .map_or(String::new(), |(_, l)| format!("<br/>{}", l.as_str()));
                match r.kind {
                    RelationKind::Table(_) => {
                        let _ = writeln!(w, "  rel{i}[(\"{name}{label}\")]");
                    }
                    _ => {
                        let _ = writeln!(w, "  rel{i}([\"{name}{label}\"])");
                    }
                }
                if calm.sent[i] {
                    let _ = writeln!(w, "  style rel{i} stroke-dasharray: 5 5");
                }
            }
            for rule in &plan.rules {
                let _ = writeln!(w, "  rule{}{{{{\"{}\"}}}}", rule.id.0, escape(&rule.name));
                let _ = writeln!(w, "  style rule{} fill:{}", rule.id.0, colour(rule));
                for atom in &rule.body {
                    let arrow = if atom.negated { "-. notin .->" } else { "-->" };
                    let _ = writeln!(w, "  rel{} {arrow} rule{}", atom.relation.0, rule.id.0);
                }
                let arrow = if rule.head.route == Route::Send {
                    "-. send .->"
                } else {
                    "-->"
                };
                let _ = writeln!(w, "  rule{} {arrow} rel{}", rule.id.0, rule.head.relation.0);
            }
        }
    }
    out
}

/// A point of order as a warning (`check --calm`).
#[derive(Debug, Clone, Error, Diagnostic)]
#[error("point of order in `{rule}`: {operation}")]
#[diagnostic(code(trellis::calm::point_of_order), severity(Warning), help("{help}"))]
pub struct PointOfOrderWarning {
    pub rule: String,
    pub operation: String,
    /// What can go wrong, the fix and, if known, why it may be benign.
    pub help: String,
    #[label("{consequence}")]
    pub span: Span,
    pub consequence: String,
}

impl SourceDiagnostic for PointOfOrderWarning {
    fn file(&self) -> FileId {
        self.span.file
    }
}

/// One warning per point of order, in program order.
pub fn warnings(plan: &Plan, calm: &Calm) -> Vec<PointOfOrderWarning> {
    calm.points
        .iter()
        .map(|point| {
            let mut help = format!(
                "asynchrony: {}; fix: {}",
                paths(plan, point).join("; "),
                each(plan, point, remedy).join("; or ")
            );
            if let Some(why) = benign(plan, point) {
                help.push_str(&format!("; benign: {why}"));
            }
            PointOfOrderWarning {
                rule: rule_name(plan, point.rule).to_string(),
                operation: operations(plan, point),
                help,
                span: plan.rule(point.rule).span,
                consequence: each(plan, point, consequence).join("; "),
            }
        })
        .collect()
}

impl Label {
    /// Bloom's name for the label (CIDR 2011).
    pub fn bloom(self) -> &'static str {
        match self {
            Label::Confluent => "confluent",
            Label::Asynchronous => "A (asynchronous)",
            Label::NonMonotone => "N (non-monotonic)",
            Label::OrderDependent => "D (diffluent)",
        }
    }
}
