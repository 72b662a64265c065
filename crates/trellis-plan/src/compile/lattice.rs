//! `lattice(name, position, kind).`: which table columns merge, checked
//! once keys and arities are known, and the constants written into them
//! (facts and rule heads) checked against their lattice.

use trellis_syntax::ast::{self, ExprKind};

use super::Compiler;
use crate::error::PlanError;
use crate::plan::*;

impl Compiler<'_> {
    pub(super) fn lattice(&mut self, l: &ast::LatticeDecl) {
        let name = &l.relation.name;
        let spec = self.plan.lookup(name).and_then(|id| {
            let rel = &self.plan.relations[id.0 as usize];
            match &rel.kind {
                RelationKind::Table(spec) => Some((id, rel.arity, spec.key.clone())),
                _ => None,
            }
        });
        let Some((id, arity, key)) = spec else {
            let hint = if self.plan.lookup(name).is_some() {
                format!(
                    "only a table's rows are merged: declare it with \
                     `materialize({name}, infinity, infinity, keys(...)).`, keyed on the fields that are not lattices"
                )
            } else {
                "no rule or fact uses it; check the spelling".to_string()
            };
            self.errors.push(PlanError::LatticeNotTable {
                relation: name.clone(),
                hint,
                span: l.relation.span,
            });
            return;
        };
        if l.position < 1 || l.position as usize > arity {
            self.errors.push(PlanError::LatticePosition {
                relation: name.clone(),
                position: l.position,
                arity,
                span: l.position_span,
            });
            return;
        }
        let column = l.position as usize - 1;
        if column == 0 || key.contains(&column) {
            let hint = if column == 0 {
                "field 1 is the location: it says where a row lives, not something to merge"
                    .to_string()
            } else if key.len() == arity {
                format!(
                    "`{name}` is keyed on all its fields (no `keys(...)`, or every field listed): \
                     list the key fields in `keys(...)` and leave field {} out",
                    l.position
                )
            } else {
                format!(
                    "rows merge under their key: leave field {} out of `keys(...)`",
                    l.position
                )
            };
            self.errors.push(PlanError::LatticeOnKey {
                relation: name.clone(),
                position: l.position,
                hint,
                span: l.position_span,
            });
            return;
        }
        let RelationKind::Table(spec) = &mut self.plan.relations[id.0 as usize].kind else {
            unreachable!("checked above")
        };
        match spec.lattice(column) {
            Some(earlier) if *earlier != l.lattice => {
                self.errors.push(PlanError::LatticeConflict {
                    relation: name.clone(),
                    position: l.position,
                    earlier: earlier.clone(),
                    span: l.lattice_span,
                });
            }
            Some(_) => {}
            None => {
                spec.lattices.push((column, l.lattice.clone()));
                spec.lattices.sort_by_key(|(c, _)| *c);
            }
        }
    }

    /// Constants and node parameters in lattice columns, in facts and rule
    /// heads, must be of the column's lattice (facts are installed without
    /// a rule to blame); anything computed is checked when it is derived.
    pub(super) fn lattice_constants(&mut self, program: &ast::Program) {
        for st in &program.statements {
            let (atom, fact) = match st {
                ast::Statement::Fact(f) => (&f.atom, true),
                ast::Statement::Rule(r) if r.delete.is_none() => (&r.head, false),
                _ => continue,
            };
            let Some(id) = self.plan.lookup(&atom.relation.name) else {
                continue;
            };
            let RelationKind::Table(spec) = &self.plan.relation(id).kind else {
                continue;
            };
            for (column, lattice) in &spec.lattices {
                let Some(arg) = atom.args.get(*column) else {
                    continue;
                };
                let found = match &arg.kind {
                    ExprKind::Literal(v) => match lattice.admit(v) {
                        Ok(_) => continue,
                        Err(e) => e.found,
                    },
                    // An address or an ID: only `max` and `min` take any value.
                    ExprKind::NodeParam(p) if !matches!(lattice, Lattice::Max | Lattice::Min) => {
                        format!("the node parameter {p}")
                    }
                    _ => continue,
                };
                let problem = format!(
                    "a `{lattice}` value must be {}, found {found}{}",
                    lattice.expected(),
                    constructor_hint(lattice, fact)
                );
                self.errors.push(PlanError::LatticeValue {
                    relation: atom.relation.name.clone(),
                    lattice: lattice.clone(),
                    position: column + 1,
                    problem,
                    span: arg.span,
                });
            }
        }
    }
}

/// How to build a value of `lattice`: in a rule, or starting from a fact,
/// which holds constants only.
fn constructor_hint(lattice: &Lattice, fact: bool) -> &'static str {
    if fact && !matches!(lattice, Lattice::Max | Lattice::Min | Lattice::Bool) {
        return "; a fact holds constants: start the field at `null` (every lattice's bottom) \
                and let rules merge values into it";
    }
    match lattice {
        Lattice::Max | Lattice::Min => "",
        Lattice::Bool => "; write `true` or `false`",
        Lattice::Set => "; write `f_append(X)` for the set of one element",
        Lattice::Map(_) => "; write `f_mapOf(K, V)` for a one-entry map",
        Lattice::GCounter => "; start at `null` and count with `f_gcInc(C, Replica, N)`",
        Lattice::PnCounter => "; start at `null` and count with `f_pnInc` / `f_pnDec`",
    }
}
