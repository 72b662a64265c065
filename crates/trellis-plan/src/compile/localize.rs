//! Localization: a rule whose body reads tuples at several locations
//! becomes one rule per location, in order of first appearance, each
//! shipping the bindings the later stages need to the next location as a
//! generated relation `<rule>_loc<k>`. What a stage reads only from tables
//! it ships into a generated table there (P2's planner does the same), so
//! that new rows at either location re-fire the rule; anything else is
//! shipped as an event. Every rule left reads a single location.

use std::collections::BTreeSet;

use trellis_syntax::ast::{self, ExprKind};
use trellis_value::Value;

use super::{AtomIr, Compiler, CondIr, RuleIr, atom_vars, expr_vars};
use crate::error::PlanError;
use crate::plan::{RelId, RelationKind, TableSpec};

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

/// What one stage ships to the next location.
struct Shipped {
    atom: AtomIr,
    /// For a generated table: the variables of its key, and its lifetime.
    table: Option<(BTreeSet<String>, Option<u64>)>,
}

impl Compiler<'_> {
    /// Split a rule whose body reads several locations into one rule per
    /// location (docs/language.md §5.7). Each stage's bindings travel to the
    /// next location as a generated relation `<rule>_loc<k>`: a table when
    /// everything the stage reads is a table (so new rows on either side
    /// re-fire the rule, as in P2), else an event.
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
                retract: false,
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
        // Stages that ship a table: every positive atom up to them a table.
        let mut ships_table = vec![false; n - 1];
        for k in 0..n - 1 {
            let previous = k == 0 || ships_table[k - 1];
            ships_table[k] = previous
                && stage_atoms[k]
                    .iter()
                    .filter(|a| !a.negated)
                    .all(|a| self.is_table(a.relation));
        }
        // The key variables of each shipping stage's tables.
        let mut key_vars: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n];
        // Assignments of node parameters in key columns, at their stage.
        let mut stage_conds: Vec<Vec<CondIr>> = vec![Vec::new(); n];
        for k in (0..n - 1).filter(|&k| ships_table[k]) {
            for a in stage_atoms[k].iter_mut().filter(|a| !a.negated) {
                let vars = self.key_vars(a, &mut stage_conds[k]);
                key_vars[k].extend(vars);
            }
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
        for (k, conds) in stage_conds.iter().enumerate() {
            for c in conds {
                if let CondIr::Assign(var, _) = c {
                    bound[k].insert(var.name.clone());
                }
            }
        }
        // Place each condition and assignment at the earliest stage where
        // its variables are bound; what never is goes last (and fails the
        // safety check there).
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
        let mut shipped: Option<Shipped> = None;
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
            // A shipped table's key and lifetime carry on into the next.
            let mut table = ships_table.get(k).copied().unwrap_or(false).then(|| {
                let mut lifetime = self.lifetime_of(&stage_atoms[k]);
                let mut key = key_vars[k].clone();
                if let Some(Shipped {
                    table: Some((previous_key, previous_lifetime)),
                    ..
                }) = &shipped
                {
                    key.extend(previous_key.iter().cloned());
                    lifetime = shorter(lifetime, *previous_lifetime);
                }
                (key, lifetime)
            });
            let mut body = Vec::new();
            body.extend(shipped.take().map(|s| s.atom));
            body.extend(stage_atoms[k].iter().cloned());
            let stage_name = format!("{name}_loc{}", k + 1);
            let retract = table.is_some();
            let (head, head_delete) = if k + 1 == n {
                (rule.head.clone(), delete)
            } else {
                // Ship the bindings the later stages need (and a table's
                // key) to the next location.
                let next = &locations[k + 1];
                let loc_expr = match next {
                    LocTerm::Var(v) => ast::ExprKind::Var(v.clone()),
                    LocTerm::Const(c) => ast::ExprKind::Literal(c.clone()),
                    LocTerm::Param(p) => ast::ExprKind::NodeParam(p.clone()),
                    LocTerm::Other => unreachable!("atom locations are checked"),
                };
                let key = table.as_ref().map(|(key, _)| key);
                let carried: Vec<&String> = bound_so_far
                    .iter()
                    .filter(|v| {
                        used_from[k + 1].contains(*v) || key.is_some_and(|k| k.contains(*v))
                    })
                    .collect();
                let mut args = vec![ast::Expr {
                    kind: loc_expr,
                    span: rule.span,
                }];
                args.extend(carried.iter().map(|v| ast::Expr {
                    kind: ExprKind::Var((*v).clone()),
                    span: rule.span,
                }));
                let mut shipped_name = format!("{name}_loc{}", k + 2);
                while self.plan.lookup(&shipped_name).is_some() {
                    shipped_name.push('_');
                }
                let kind = match &table {
                    // Rows at one node share the location, so it adds
                    // nothing to the key but keeps it non-empty.
                    Some((key, lifetime)) => RelationKind::Table(TableSpec {
                        lifetime_nanos: *lifetime,
                        max_size: None,
                        key: std::iter::once(0)
                            .chain((1..args.len()).filter(|&i| key.contains(carried[i - 1])))
                            .collect(),
                        lattices: Vec::new(),
                    }),
                    None => RelationKind::Event,
                };
                let rel = self.add_relation(&shipped_name, args.len(), kind, true, Some(rule.span));
                shipped = Some(Shipped {
                    atom: AtomIr {
                        relation: rel,
                        negated: false,
                        args: args.clone(),
                    },
                    table: table.take(),
                });
                let head = ast::Atom {
                    relation: ast::Ident {
                        name: shipped_name,
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
                retract,
            });
        }
        stages
    }

    fn is_table(&self, rel: RelId) -> bool {
        matches!(self.plan.relation(rel).kind, RelationKind::Table(_))
    }

    /// The shortest lifetime of the stage's tables (`None`: infinity).
    fn lifetime_of(&self, atoms: &[AtomIr]) -> Option<u64> {
        atoms
            .iter()
            .filter(|a| !a.negated)
            .filter_map(|a| match &self.plan.relation(a.relation).kind {
                RelationKind::Table(spec) => Some(spec.lifetime_nanos),
                _ => None,
            })
            .fold(None, shorter)
    }

    /// The variables that hold a table atom's key columns, so that a shipped
    /// row can be replaced and deleted by its source's key. A `_` there
    /// becomes a fresh variable, and a node parameter one assigned from it
    /// (rows from different nodes must not share a key); a constant is the
    /// same for every row and needs none.
    fn key_vars(&mut self, atom: &mut AtomIr, assigns: &mut Vec<CondIr>) -> BTreeSet<String> {
        let declared = self
            .declared_keys
            .get(&atom.relation)
            .cloned()
            .unwrap_or_default();
        let columns: Vec<usize> = if declared.is_empty() {
            (0..atom.args.len()).collect()
        } else {
            declared
                .into_iter()
                .filter(|&c| c < atom.args.len())
                .collect()
        };
        let mut vars = BTreeSet::new();
        for c in columns {
            let arg = &mut atom.args[c];
            match &arg.kind {
                ExprKind::Var(v) => {
                    vars.insert(v.clone());
                }
                ExprKind::Wildcard => {
                    let fresh = self.fresh_var();
                    arg.kind = ExprKind::Var(fresh.clone());
                    vars.insert(fresh);
                }
                ExprKind::NodeParam(_) => {
                    let fresh = self.fresh_var();
                    let var = ast::Ident {
                        name: fresh.clone(),
                        span: arg.span,
                    };
                    assigns.push(CondIr::Assign(var, arg.clone()));
                    vars.insert(fresh);
                }
                _ => {}
            }
        }
        vars
    }

    /// A variable name no program can write (`#` is not an identifier's).
    fn fresh_var(&mut self) -> String {
        self.fresh_vars += 1;
        format!("Key#{}", self.fresh_vars)
    }
}

fn shorter(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
