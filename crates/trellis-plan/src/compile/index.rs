//! Index choice: a join or `notin` on a table reads the index on the
//! columns its pattern binds (never the location column, the same for every
//! row on a node), declared on the relation the first time a strand asks.

use super::rule::RuleBuilder;
use crate::plan::*;

impl RuleBuilder<'_, '_> {
    /// The index on a table's bound columns (never the location column,
    /// which is the same for every row on a node), with the key expressions.
    pub(super) fn index_for(
        &mut self,
        rel: RelId,
        pattern: &[Field],
    ) -> (Option<IndexId>, Vec<Expr>) {
        let relation = &mut self.c.plan.relations[rel.0 as usize];
        if !matches!(relation.kind, RelationKind::Table(_)) {
            return (None, Vec::new());
        }
        let mut columns = Vec::new();
        let mut key = Vec::new();
        for (col, f) in pattern.iter().enumerate().skip(1) {
            let e = match f {
                Field::Check(v) => Expr::Var(*v),
                Field::Const(c) => Expr::Const(c.clone()),
                Field::Param(p) => Expr::Param(*p),
                Field::Bind(_) | Field::Any => continue,
            };
            columns.push(col);
            key.push(e);
        }
        if columns.is_empty() {
            return (None, Vec::new());
        }
        let id = match relation.indexes.iter().position(|c| *c == columns) {
            Some(i) => i,
            None => {
                relation.indexes.push(columns);
                relation.indexes.len() - 1
            }
        };
        (Some(IndexId(id as u32)), key)
    }
}
