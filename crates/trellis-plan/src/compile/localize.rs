//! Localization: a rule whose body reads tuples at several locations
//! becomes one rule per location, in order of first appearance, each
//! shipping the bindings the later stages need to the next location as a
//! generated event `<rule>_loc<k>`. Every rule left reads a single location.

use std::collections::BTreeSet;

use trellis_syntax::ast::{self, ExprKind};
use trellis_value::Value;

use super::{AtomIr, Compiler, CondIr, RuleIr, atom_vars, expr_vars};
use crate::error::PlanError;
use crate::plan::RelationKind;

/// A location as written: rules whose head location equals their body
/// location (syntactically) stay on the node.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum LocTerm {
    Var(String),
    Const(Value),
    Param(String),
    /// An expression or anything else: never equal to a body location.
    Other,
}

impl LocTerm {
    pub(super) fn of(expr: &ast::Expr) -> LocTerm {
        match &expr.kind {
            ExprKind::Var(v) => LocTerm::Var(v.clone()),
            ExprKind::Literal(v) => LocTerm::Const(v.clone()),
            ExprKind::NodeParam(p) => LocTerm::Param(p.clone()),
            _ => LocTerm::Other,
        }
    }

    fn describe(&self) -> String {
        match self {
            LocTerm::Var(v) | LocTerm::Param(v) => v.clone(),
            LocTerm::Const(v) => v.literal(),
            LocTerm::Other => "?".into(),
        }
    }
}

impl Compiler<'_> {
    /// Split a rule whose body reads several locations into one rule per
    /// location (docs/language.md §5.7). Each stage's bindings travel to the
    /// next location as a generated event `<rule>_loc<k>`.
    pub(super) fn localize(
        &mut self,
        name: String,
        rule: &ast::Rule,
        atoms: Vec<AtomIr>,
        conds: Vec<CondIr>,
    ) -> Vec<RuleIr> {
        // Stage locations: in order of first appearance, positive atoms first.
        let mut locations: Vec<LocTerm> = Vec::new();
        for negated in [false, true] {
            for a in atoms.iter().filter(|a| a.negated == negated) {
                let loc = LocTerm::of(&a.args[0]);
                if !locations.contains(&loc) {
                    locations.push(loc);
                }
            }
        }
        let delete = rule.delete.is_some();
        if locations.len() == 1 {
            return vec![RuleIr {
                name,
                origin: None,
                span: rule.span,
                location: locations.remove(0),
                atoms,
                conds,
                head: rule.head.clone(),
                delete,
            }];
        }

        let stage_of = |a: &AtomIr| {
            let loc = LocTerm::of(&a.args[0]);
            locations
                .iter()
                .position(|l| *l == loc)
                .expect("collected above")
        };
        let n = locations.len();
        let mut stage_atoms: Vec<Vec<AtomIr>> = vec![Vec::new(); n];
        for a in &atoms {
            stage_atoms[stage_of(a)].push(a.clone());
        }
        // Variables bound by each stage's positive atoms.
        let mut bound: Vec<BTreeSet<String>> = stage_atoms
            .iter()
            .map(|s| {
                s.iter()
                    .filter(|a| !a.negated)
                    .flat_map(|a| atom_vars(&a.args).map(String::from))
                    .collect()
            })
            .collect();
        // Place each condition and assignment at the earliest stage where
        // its variables are bound; what never is goes last (and fails the
        // safety check there).
        let mut stage_conds: Vec<Vec<CondIr>> = vec![Vec::new(); n];
        for cond in conds {
            let needed: Vec<String> = cond.vars().into_iter().map(|(v, _)| v).collect();
            let mut cumulative = BTreeSet::new();
            let mut stage = n - 1;
            for (k, b) in bound.iter().enumerate() {
                cumulative.extend(b.iter().cloned());
                if needed.iter().all(|v| cumulative.contains(v)) {
                    stage = k;
                    break;
                }
            }
            if let CondIr::Assign(var, _) = &cond {
                bound[stage].insert(var.name.clone());
            }
            stage_conds[stage].push(cond);
        }
        // Each later stage's location must be bound by the stages before it.
        let mut before = BTreeSet::new();
        for k in 0..n {
            if k > 0
                && let LocTerm::Var(v) = &locations[k]
                && !before.contains(v)
            {
                let span = stage_atoms[k][0].args[0].span;
                self.errors.push(PlanError::UnboundLocation {
                    location: locations[k].describe(),
                    span,
                });
                return Vec::new();
            }
            before.extend(bound[k].iter().cloned());
        }

        // Variables used at stage k or later (including the head).
        let mut used_from: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n + 1];
        let mut head_vars = Vec::new();
        for arg in &rule.head.args {
            expr_vars(arg, &mut head_vars);
        }
        used_from[n].extend(head_vars.into_iter().map(|(v, _)| v));
        for k in (0..n).rev() {
            let mut used = used_from[k + 1].clone();
            for a in &stage_atoms[k] {
                used.extend(atom_vars(&a.args).map(String::from));
            }
            for c in &stage_conds[k] {
                used.extend(c.vars().into_iter().map(|(v, _)| v));
            }
            if let LocTerm::Var(v) = &locations[k] {
                used.insert(v.clone());
            }
            used_from[k] = used;
        }

        let mut stages = Vec::new();
        let mut carried_atom: Option<AtomIr> = None;
        let mut bound_so_far: Vec<String> = Vec::new();
        for k in 0..n {
            for a in stage_atoms[k].iter().filter(|a| !a.negated) {
                for v in atom_vars(&a.args) {
                    if !bound_so_far.iter().any(|b| b == v) {
                        bound_so_far.push(v.to_string());
                    }
                }
            }
            for c in &stage_conds[k] {
                if let CondIr::Assign(var, _) = c
                    && !bound_so_far.contains(&var.name)
                {
                    bound_so_far.push(var.name.clone());
                }
            }
            let mut body = Vec::new();
            body.extend(carried_atom.take());
            body.extend(stage_atoms[k].iter().cloned());
            let stage_name = format!("{name}_loc{}", k + 1);
            let (head, head_delete) = if k + 1 == n {
                (rule.head.clone(), delete)
            } else {
                // Ship the bindings the later stages need to the next location.
                let next = &locations[k + 1];
                let loc_expr = match next {
                    LocTerm::Var(v) => ast::ExprKind::Var(v.clone()),
                    LocTerm::Const(c) => ast::ExprKind::Literal(c.clone()),
                    LocTerm::Param(p) => ast::ExprKind::NodeParam(p.clone()),
                    LocTerm::Other => unreachable!("atom locations are checked"),
                };
                let carried: Vec<&String> = bound_so_far
                    .iter()
                    .filter(|v| used_from[k + 1].contains(*v))
                    .collect();
                let mut args = vec![ast::Expr {
                    kind: loc_expr,
                    span: rule.span,
                }];
                args.extend(carried.iter().map(|v| ast::Expr {
                    kind: ExprKind::Var((*v).clone()),
                    span: rule.span,
                }));
                let mut event_name = format!("{name}_loc{}", k + 2);
                while self.plan.lookup(&event_name).is_some() {
                    event_name.push('_');
                }
                let rel = self.add_relation(
                    &event_name,
                    args.len(),
                    RelationKind::Event,
                    true,
                    Some(rule.span),
                );
                carried_atom = Some(AtomIr {
                    relation: rel,
                    negated: false,
                    args: args.clone(),
                });
                let head = ast::Atom {
                    relation: ast::Ident {
                        name: event_name,
                        span: rule.span,
                    },
                    args,
                    location_style: ast::LocationStyle::At,
                    span: rule.span,
                };
                (head, false)
            };
            stages.push(RuleIr {
                name: stage_name,
                origin: Some(name.clone()),
                span: rule.span,
                location: locations[k].clone(),
                atoms: body,
                conds: std::mem::take(&mut stage_conds[k]),
                head,
                delete: head_delete,
            });
        }
        stages
    }
}
