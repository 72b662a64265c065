//! Lattice values in a rule: which variables hold one, and whether every
//! use of them is monotone (BloomL's rule: a lattice may only flow through
//! monotone functions into another lattice, or be tested by a threshold
//! that, once true, stays true). A use that is not reveals the value as it
//! is when the rule runs, which a later merge can change.

use trellis_value::BinaryOp;

use super::NonMonotone;
use crate::plan::*;

/// Where a lattice variable's value comes from.
#[derive(Debug, Clone)]
struct Source {
    lattice: Lattice,
    relation: RelId,
    column: usize,
}

/// The lattice reads of `rule` that are not monotone, one per lattice
/// column read.
pub(super) fn reveals(plan: &Plan, rule: &RulePlan) -> Vec<NonMonotone> {
    let mut vars: Vec<Option<Source>> = vec![None; rule.var_names.len()];
    let mut out: Vec<NonMonotone> = Vec::new();
    let mut reveal = |source: &Source| {
        let r = NonMonotone::LatticeRead {
            relation: source.relation,
            column: source.column,
        };
        if !out.contains(&r) {
            out.push(r);
        }
    };
    // Where each variable occurs in the body's atoms, over every strand (a
    // variable bound in one strand is checked in another).
    let mut occurrences: Vec<Vec<(usize, usize)>> = vec![Vec::new(); vars.len()];
    for step in rule.strands.iter().flat_map(|s| &s.steps) {
        let (atom, pattern) = match step {
            Step::Scan { atom, pattern, .. }
            | Step::Join { atom, pattern, .. }
            | Step::NotIn { atom, pattern, .. } => (*atom, pattern),
            _ => continue,
        };
        for (column, field) in pattern.iter().enumerate() {
            if let Field::Bind(v) | Field::Check(v) = field
                && !occurrences[*v as usize].contains(&(atom, column))
            {
                occurrences[*v as usize].push((atom, column));
            }
        }
    }
    for (v, places) in occurrences.iter().enumerate() {
        let lattice_place = places.iter().find_map(|&(atom, column)| {
            let body = &rule.body[atom];
            let RelationKind::Table(spec) = &plan.relation(body.relation).kind else {
                return None;
            };
            (!body.negated)
                .then(|| spec.lattice(column))
                .flatten()
                .map(|lattice| Source {
                    lattice: lattice.clone(),
                    relation: body.relation,
                    column,
                })
        });
        if let Some(source) = lattice_place {
            // Matched against anything else (a join, a notin): an
            // equality test on a value that can still grow.
            if places.len() > 1 {
                reveal(&source);
            }
            vars[v] = Some(source);
        }
    }
    if vars.iter().all(Option::is_none) {
        return out;
    }
    for step in rule.strands.iter().flat_map(|s| &s.steps) {
        match step {
            Step::Filter(e) => {
                if let Some(source) = source_in(&vars, e)
                    && kind(&vars, e) != Some(Lattice::Bool)
                {
                    reveal(&source);
                }
            }
            Step::Assign(v, e) => {
                if let Some(source) = source_in(&vars, e) {
                    match kind(&vars, e) {
                        Some(lattice) => {
                            vars[*v as usize] = Some(Source { lattice, ..source });
                        }
                        None => reveal(&source),
                    }
                }
            }
            Step::Join { key, .. } | Step::NotIn { key, .. } => {
                for e in key {
                    if let Some(source) = source_in(&vars, e) {
                        reveal(&source);
                    }
                }
            }
            Step::Scan { .. } | Step::MarkGroup => {}
        }
    }
    let head = &rule.head;
    let head_spec = match &plan.relation(head.relation).kind {
        RelationKind::Table(spec) if !head.delete => Some(spec),
        _ => None,
    };
    for (column, e) in head.fields.iter().enumerate() {
        let Some(source) = source_in(&vars, e) else {
            continue;
        };
        let into = head_spec.and_then(|s| s.lattice(column));
        if into.is_none() || kind(&vars, e).as_ref() != into {
            reveal(&source);
        }
    }
    if let Some(agg) = &head.aggregate
        && let Some(source) = agg.var.and_then(|v| vars[v as usize].clone())
    {
        reveal(&source);
    }
    out
}

/// The first lattice variable `e` mentions.
fn source_in(vars: &[Option<Source>], e: &Expr) -> Option<Source> {
    match e {
        Expr::Var(v) => vars[*v as usize].clone(),
        Expr::Const(_) | Expr::Param(_) => None,
        Expr::Unary(_, a) => source_in(vars, a),
        Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
            source_in(vars, a).or_else(|| source_in(vars, b))
        }
        Expr::Call(_, args) => args.iter().find_map(|a| source_in(vars, a)),
        Expr::In {
            value, low, high, ..
        } => source_in(vars, value)
            .or_else(|| source_in(vars, low))
            .or_else(|| source_in(vars, high)),
    }
}

/// The lattice `e`'s value moves up in as the lattice values it reads
/// grow, if it does: a lattice variable, a monotone function of one, or a
/// threshold (a `bool`). `None` for an expression that reads a lattice
/// non-monotonically (and for one that reads none).
fn kind(vars: &[Option<Source>], e: &Expr) -> Option<Lattice> {
    let free = |e: &Expr| source_in(vars, e).is_none();
    match e {
        Expr::Var(v) => vars[*v as usize].as_ref().map(|s| s.lattice.clone()),
        Expr::Call(f, args) => match (f.0.name, args.as_slice()) {
            ("f_size", [s]) if kind(vars, s) == Some(Lattice::Set) => Some(Lattice::Max),
            ("f_member", [s, x]) if kind(vars, s) == Some(Lattice::Set) && free(x) => {
                Some(Lattice::Max)
            }
            ("f_gcValue", [c]) if kind(vars, c) == Some(Lattice::GCounter) => Some(Lattice::Max),
            ("f_mapGet", [m, k]) if free(k) => match kind(vars, m) {
                Some(Lattice::Map(inner)) => Some(*inner),
                _ => None,
            },
            ("f_max", [a, b]) => same_or_free(vars, a, b, Lattice::Max),
            ("f_min", [a, b]) => same_or_free(vars, a, b, Lattice::Min),
            _ => None,
        },
        Expr::Binary(op, a, b) => {
            let (up, down) = (kind(vars, a), kind(vars, b));
            let at_least =
                |grows: &Option<Lattice>, other: &Expr| *grows == Some(Lattice::Max) && free(other);
            let at_most = |shrinks: &Option<Lattice>, other: &Expr| {
                *shrinks == Some(Lattice::Min) && free(other)
            };
            let threshold = match op {
                BinaryOp::Ge | BinaryOp::Gt => at_least(&up, b) || at_most(&down, a),
                BinaryOp::Le | BinaryOp::Lt => at_most(&up, b) || at_least(&down, a),
                BinaryOp::Eq => {
                    let is_true =
                        |x: &Expr| matches!(x, Expr::Const(trellis_value::Value::Bool(true)));
                    (up == Some(Lattice::Bool) && is_true(b))
                        || (down == Some(Lattice::Bool) && is_true(a))
                }
                _ => false,
            };
            threshold.then_some(Lattice::Bool)
        }
        // Both sides grow to true, or one is fixed.
        Expr::And(a, b) | Expr::Or(a, b) => {
            let ok = |x: &Expr| free(x) || kind(vars, x) == Some(Lattice::Bool);
            (ok(a) && ok(b)).then_some(Lattice::Bool)
        }
        Expr::Const(_) | Expr::Param(_) | Expr::Unary(..) | Expr::In { .. } => None,
    }
}

/// `f_max(A, B)` grows in `lattice` when each side does or is fixed.
fn same_or_free(vars: &[Option<Source>], a: &Expr, b: &Expr, lattice: Lattice) -> Option<Lattice> {
    let ok = |x: &Expr| source_in(vars, x).is_none() || kind(vars, x).as_ref() == Some(&lattice);
    (ok(a) && ok(b)).then_some(lattice)
}
