//! The plan in words (`trellis explain`) and as a dataflow graph
//! (`trellis graph`, DOT or Mermaid).

use std::fmt::Write;

use crate::plan::*;

/// Print an expression with the rule's variable names.
pub fn expr_to_string(e: &Expr, vars: &[String], params: &[String]) -> String {
    let p = |e: &Expr| expr_to_string(e, vars, params);
    match e {
        Expr::Var(v) => vars[*v as usize].clone(),
        Expr::Const(c) => c.literal(),
        Expr::Param(i) => params[*i as usize].clone(),
        Expr::Unary(op, a) => format!("{}{}", op.symbol(), p(a)),
        Expr::Binary(op, a, b) => format!("({} {} {})", p(a), op.symbol(), p(b)),
        Expr::And(a, b) => format!("({} && {})", p(a), p(b)),
        Expr::Or(a, b) => format!("({} || {})", p(a), p(b)),
        Expr::Call(f, args) => {
            let args: Vec<String> = args.iter().map(p).collect();
            format!("{}({})", f.0.name, args.join(", "))
        }
        Expr::In {
            value,
            low,
            high,
            low_closed,
            high_closed,
        } => format!(
            "{} in {}{}, {}{}",
            p(value),
            if *low_closed { '[' } else { '(' },
            p(low),
            p(high),
            if *high_closed { ']' } else { ')' }
        ),
    }
}

fn pattern_to_string(plan: &Plan, rel: RelId, pattern: &[Field], vars: &[String]) -> String {
    let fields: Vec<String> = pattern
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let s = match f {
                Field::Bind(v) | Field::Check(v) => vars[*v as usize].clone(),
                Field::Const(c) => c.literal(),
                Field::Param(p) => plan.node_params[*p as usize].clone(),
                Field::Any => "_".into(),
            };
            if i == 0 { format!("@{s}") } else { s }
        })
        .collect();
    format!("{}({})", plan.relation(rel).name, fields.join(", "))
}

fn columns(cols: &[usize]) -> String {
    let cols: Vec<String> = cols.iter().map(|c| (c + 1).to_string()).collect();
    format!("({})", cols.join(", "))
}

fn seconds(nanos: u64) -> String {
    let s = nanos as f64 / 1e9;
    format!("{s}s")
}

/// The head of a rule, as written after planning.
fn head_to_string(plan: &Plan, rule: &RulePlan) -> String {
    let fields: Vec<String> = rule
        .head
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let s = match &rule.head.aggregate {
                Some(a) if a.position == i => {
                    let var = a
                        .var
                        .map_or("*".to_string(), |v| rule.var_names[v as usize].clone());
                    format!("{}<{var}>", aggregate_name(a.function))
                }
                _ => expr_to_string(f, &rule.var_names, &plan.node_params),
            };
            if i == 0 { format!("@{s}") } else { s }
        })
        .collect();
    format!(
        "{}{}({})",
        if rule.head.delete { "delete " } else { "" },
        plan.relation(rule.head.relation).name,
        fields.join(", ")
    )
}

fn aggregate_name(f: AggregateFn) -> &'static str {
    match f {
        AggregateFn::Min => "min",
        AggregateFn::Max => "max",
        AggregateFn::Count => "count",
        AggregateFn::Sum => "sum",
        AggregateFn::Avg => "avg",
    }
}

fn step_to_string(plan: &Plan, rule: &RulePlan, step: &Step) -> String {
    let vars = &rule.var_names;
    let rel = |atom: usize| rule.body[atom].relation;
    let via = |index: &Option<IndexId>, atom: usize, key: &[Expr]| match index {
        Some(i) => {
            let cols = &plan.relation(rel(atom)).indexes[i.0 as usize];
            let key: Vec<String> = key
                .iter()
                .map(|k| expr_to_string(k, vars, &plan.node_params))
                .collect();
            format!("index on {} = ({})", columns(cols), key.join(", "))
        }
        None => "scan".to_string(),
    };
    let rows = |r: &Rows| match r {
        Rows::All => "",
        Rows::Old => " [old rows only]",
    };
    match step {
        Step::Scan {
            atom,
            rows: r,
            pattern,
        } => format!(
            "for each {} {}{}",
            if rule.strands.iter().any(|s| s.trigger.is_some()) {
                "new"
            } else {
                "tuple of"
            },
            pattern_to_string(plan, rel(*atom), pattern, vars),
            rows(r)
        ),
        Step::Join {
            atom,
            index,
            key,
            rows: r,
            pattern,
        } => format!(
            "join {} by {}{}",
            pattern_to_string(plan, rel(*atom), pattern, vars),
            via(index, *atom, key),
            rows(r)
        ),
        Step::NotIn {
            atom,
            index,
            key,
            pattern,
        } => format!(
            "require no {} (by {})",
            pattern_to_string(plan, rel(*atom), pattern, vars),
            via(index, *atom, key)
        ),
        Step::Filter(e) => format!("select {}", expr_to_string(e, vars, &plan.node_params)),
        Step::Assign(v, e) => format!(
            "assign {} := {}",
            vars[*v as usize],
            expr_to_string(e, vars, &plan.node_params)
        ),
        Step::MarkGroup => "open the group (empty groups still produce a result)".to_string(),
    }
}

fn route_to_string(plan: &Plan, rule: &RulePlan) -> String {
    let name = &plan.relation(rule.head.relation).name;
    match (rule.head.route, rule.head.delete) {
        (Route::LocalTable, false) => format!("insert into table {name} at the end of the tick"),
        (Route::LocalTable, true) => format!("delete from table {name} at the end of the tick"),
        (Route::LocalEvent, _) => format!("emit event {name} in this tick"),
        (Route::Send, delete) => {
            let dest = expr_to_string(&rule.head.fields[0], &rule.var_names, &plan.node_params);
            format!(
                "send {}{name} to {dest} at the end of the tick",
                if delete { "a deletion of " } else { "" }
            )
        }
    }
}

/// The plan in words: relations, strata, and every rule strand.
pub fn explain(plan: &Plan) -> String {
    let mut out = String::new();
    let w = &mut out;
    let how = match plan.semantics {
        Semantics::Tick => "ticks: inputs taken as a set, strata to a fixpoint",
        Semantics::P2 => {
            "P2's event-at-a-time execution: one input per fixpoint, each event on its own"
        }
    };
    let _ = writeln!(w, "Semantics: {} ({how})", plan.semantics);
    let _ = writeln!(w, "Relations:");
    for r in &plan.relations {
        if r.kind == RelationKind::Periodic
            && !plan.rules.iter().any(|rule| {
                rule.body
                    .iter()
                    .any(|a| plan.relation(a.relation).name == r.name)
            })
        {
            continue;
        }
        let kind = match &r.kind {
            RelationKind::Table(t) => format!(
                "table, key {}, lifetime {}, max size {}",
                columns(&t.key),
                t.lifetime_nanos.map_or("infinity".into(), seconds),
                t.max_size.map_or("infinity".into(), |n| n.to_string())
            ),
            RelationKind::Event => format!("event, stratum {}", r.stratum),
            RelationKind::Periodic => "built-in timer event".into(),
        };
        if r.watch_only {
            let _ = write!(w, "  {} (any fields): {kind}", r.name);
        } else {
            let _ = write!(w, "  {} ({} fields): {kind}", r.name, r.arity);
        }
        if let RelationKind::Table(t) = &r.kind {
            for (c, lattice) in &t.lattices {
                let _ = write!(w, "; field {} merges by {lattice}", c + 1);
            }
        }
        if r.generated {
            let _ = write!(w, "; generated by localization");
        }
        if !r.indexes.is_empty() {
            let idx: Vec<String> = r.indexes.iter().map(|c| columns(c)).collect();
            let _ = write!(w, "; indexes on {}", idx.join(", "));
        }
        if r.watch.is_some() {
            let _ = write!(w, "; watched");
        }
        if let Some(c) = r.channel {
            let _ = write!(w, "; sent on {c}");
        }
        let _ = writeln!(w);
    }
    if !plan.timers.is_empty() {
        let _ = writeln!(w, "\nTimers:");
        for t in &plan.timers {
            let count = if t.count == 0 {
                "forever".to_string()
            } else {
                format!("{} times", t.count)
            };
            let _ = writeln!(w, "  every {}, {count}", seconds(t.period_nanos));
        }
    }
    let _ = writeln!(w, "\nStrata (within a tick):");
    for (i, rules) in plan.strata.iter().enumerate() {
        let names: Vec<&str> = rules.iter().map(|r| plan.rule(*r).name.as_str()).collect();
        let _ = writeln!(w, "  {i}: {}", names.join(", "));
    }
    let _ = writeln!(w, "\nRules:");
    for rule in &plan.rules {
        let _ = writeln!(
            w,
            "  {} (stratum {}): {}",
            rule.name,
            rule.stratum,
            head_to_string(plan, rule)
        );
        if let Some(origin) = &rule.origin {
            let _ = writeln!(
                w,
                "    localized: a stage of rule `{origin}`, which reads several nodes"
            );
        }
        if rule.retract {
            let _ = writeln!(
                w,
                "    a deleted, evicted or replaced row of its tables runs its strand again, sending deletes"
            );
        }
        for strand in &rule.strands {
            match strand.trigger {
                Some(t) => {
                    let _ = writeln!(
                        w,
                        "    strand triggered by new {}:",
                        plan.relation(rule.body[t].relation).name
                    );
                }
                None => {
                    let _ = writeln!(
                        w,
                        "    aggregate over the whole join, for each group with a new tuple:"
                    );
                }
            }
            for (i, step) in strand.steps.iter().enumerate() {
                let _ = writeln!(w, "      {}. {}", i + 1, step_to_string(plan, rule, step));
            }
            let _ = writeln!(
                w,
                "      {}. {}",
                strand.steps.len() + 1,
                route_to_string(plan, rule)
            );
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

/// The dataflow graph: relations as nodes, each rule strand as a chain of
/// operators (trigger, joins, selections, assignments, projection, route).
pub fn graph(plan: &Plan, format: GraphFormat) -> String {
    let mut out = String::new();
    let w = &mut out;
    let escape = |s: &str| s.replace('"', "'").replace('<', "‹").replace('>', "›");
    let used: Vec<bool> = plan
        .relations
        .iter()
        .enumerate()
        .map(|(i, _)| {
            plan.rules.iter().any(|r| {
                r.head.relation.0 as usize == i || r.body.iter().any(|a| a.relation.0 as usize == i)
            }) || plan.facts.iter().any(|f| f.relation.0 as usize == i)
        })
        .collect();
    match format {
        GraphFormat::Dot => {
            let _ = writeln!(
                w,
                "digraph plan {{\n  rankdir=LR;\n  node [fontname=\"monospace\"];"
            );
            for (i, r) in plan.relations.iter().enumerate() {
                if !used[i] {
                    continue;
                }
                let shape = match r.kind {
                    RelationKind::Table(_) => "box",
                    _ => "ellipse",
                };
                let _ = writeln!(
                    w,
                    "  rel{i} [label=\"{}\", shape={shape}];",
                    escape(&r.name)
                );
            }
            for rule in &plan.rules {
                for (s, strand) in rule.strands.iter().enumerate() {
                    let id = |k: usize| format!("r{}s{s}o{k}", rule.id.0);
                    let _ = writeln!(
                        w,
                        "  subgraph cluster_r{}s{s} {{\n    label=\"{}\";",
                        rule.id.0,
                        escape(&rule.name)
                    );
                    for (k, step) in strand.steps.iter().enumerate() {
                        let _ = writeln!(
                            w,
                            "    {} [label=\"{}\", shape=note];",
                            id(k),
                            escape(&step_to_string(plan, rule, step))
                        );
                    }
                    let last = strand.steps.len();
                    let _ = writeln!(
                        w,
                        "    {} [label=\"{}\", shape=cds];\n  }}",
                        id(last),
                        escape(&route_to_string(plan, rule))
                    );
                    for k in 0..last {
                        let _ = writeln!(w, "  {} -> {};", id(k), id(k + 1));
                    }
                    for (k, step) in strand.steps.iter().enumerate() {
                        if let Step::Scan { atom, .. }
                        | Step::Join { atom, .. }
                        | Step::NotIn { atom, .. } = step
                        {
                            let style = if matches!(step, Step::NotIn { .. }) {
                                " [style=dashed]"
                            } else {
                                ""
                            };
                            let _ = writeln!(
                                w,
                                "  rel{} -> {}{style};",
                                rule.body[*atom].relation.0,
                                id(k)
                            );
                        }
                    }
                    let _ = writeln!(w, "  {} -> rel{};", id(last), rule.head.relation.0);
                }
            }
            let _ = writeln!(w, "}}");
        }
        GraphFormat::Mermaid => {
            let _ = writeln!(w, "flowchart LR");
            for (i, r) in plan.relations.iter().enumerate() {
                if !used[i] {
                    continue;
                }
                let name = escape(&r.name);
                match r.kind {
                    RelationKind::Table(_) => {
                        let _ = writeln!(w, "  rel{i}[(\"{name}\")]");
                    }
                    _ => {
                        let _ = writeln!(w, "  rel{i}([\"{name}\"])");
                    }
                }
            }
            for rule in &plan.rules {
                for (s, strand) in rule.strands.iter().enumerate() {
                    let id = |k: usize| format!("r{}s{s}o{k}", rule.id.0);
                    let _ = writeln!(
                        w,
                        "  subgraph r{}s{s}[\"{}\"]",
                        rule.id.0,
                        escape(&rule.name)
                    );
                    for (k, step) in strand.steps.iter().enumerate() {
                        let _ = writeln!(
                            w,
                            "    {}[\"{}\"]",
                            id(k),
                            escape(&step_to_string(plan, rule, step))
                        );
                    }
                    let last = strand.steps.len();
                    let _ = writeln!(
                        w,
                        "    {}[/\"{}\"/]\n  end",
                        id(last),
                        escape(&route_to_string(plan, rule))
                    );
                    for k in 0..last {
                        let _ = writeln!(w, "  {} --> {}", id(k), id(k + 1));
                    }
                    for (k, step) in strand.steps.iter().enumerate() {
                        if let Step::Scan { atom, .. }
                        | Step::Join { atom, .. }
                        | Step::NotIn { atom, .. } = step
                        {
                            let arrow = if matches!(step, Step::NotIn { .. }) {
                                "-.->"
                            } else {
                                "-->"
                            };
                            let _ = writeln!(
                                w,
                                "  rel{} {arrow} {}",
                                rule.body[*atom].relation.0,
                                id(k)
                            );
                        }
                    }
                    let _ = writeln!(w, "  {} --> rel{}", id(last), rule.head.relation.0);
                }
            }
        }
    }
    out
}
