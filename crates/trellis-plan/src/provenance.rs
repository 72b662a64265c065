//! Which relations record provenance, and the two relations it is kept in
//! (docs/language.md §8).
//!
//! A relation is *traced* when the engine records every derivation of its
//! tuples. `trace(rel).` traces `rel` and everything it is derived from
//! (the relations in the bodies of the rules that derive it, transitively,
//! across the network), so that a "why" walk reaches base facts;
//! `--provenance` traces every relation ([`Plan::trace_all`]). What is
//! derived from provenance itself is never traced: the query that walks it
//! would otherwise record its own walk.

use crate::{Plan, RelId, RelationKind, TableSpec};

/// `ruleExec(@Node, Rule, InputTupleIds, OutputTupleId, OutputNode, Time, ExecId)`.
pub const RULE_EXEC: &str = "ruleExec";
/// `tupleTable(@Node, TupleId, Tuple, SourceNode, SourceTupleId, SourceExecId, How, Time)`.
pub const TUPLE_TABLE: &str = "tupleTable";
pub const RULE_EXEC_ARITY: usize = 7;
pub const TUPLE_TABLE_ARITY: usize = 8;

/// How much provenance a node keeps in its `ruleExec` and `tupleTable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvenanceLimits {
    /// How long a row is kept after its derivation was last seen.
    pub lifetime_nanos: Option<u64>,
    /// Rows kept per table; the oldest goes first.
    pub max_rows: Option<usize>,
}

impl Default for ProvenanceLimits {
    fn default() -> Self {
        ProvenanceLimits {
            lifetime_nanos: Some(300 * 1_000_000_000),
            max_rows: Some(50_000),
        }
    }
}

/// The arity of a provenance relation, when `name` is one.
pub fn provenance_arity(name: &str) -> Option<usize> {
    match name {
        RULE_EXEC => Some(RULE_EXEC_ARITY),
        TUPLE_TABLE => Some(TUPLE_TABLE_ARITY),
        _ => None,
    }
}

/// The table a provenance relation is kept in, under `limits`: a
/// derivation's row is keyed by its node and derivation (`ruleExec`), a
/// tuple's by everything but the time it was last seen (`tupleTable`: one
/// row per way the tuple came to be).
pub fn provenance_spec(name: &str, limits: ProvenanceLimits) -> Option<TableSpec> {
    let key = match name {
        RULE_EXEC => vec![0, 6],
        TUPLE_TABLE => (0..TUPLE_TABLE_ARITY - 1).collect(),
        _ => return None,
    };
    Some(TableSpec {
        lifetime_nanos: limits.lifetime_nanos,
        max_size: limits.max_rows,
        key,
        lattices: Vec::new(),
    })
}

impl Plan {
    /// The `ruleExec` and `tupleTable` tables, when the plan has them.
    pub fn provenance_tables(&self) -> Option<(RelId, RelId)> {
        Some((self.lookup(RULE_EXEC)?, self.lookup(TUPLE_TABLE)?))
    }

    /// Does any relation record provenance?
    pub fn traces_anything(&self) -> bool {
        self.relations.iter().any(|r| r.traced)
    }

    /// Trace every relation (`--provenance`), but what provenance derives.
    pub fn trace_all(&mut self) {
        let all: Vec<RelId> = (0..self.relations.len() as u32).map(RelId).collect();
        self.trace(&all);
    }

    /// Trace `roots` and everything they are derived from.
    pub fn trace(&mut self, roots: &[RelId]) {
        let tainted = self.derived_from_provenance();
        let mut stack: Vec<RelId> = roots.to_vec();
        while let Some(rel) = stack.pop() {
            let r = &mut self.relations[rel.0 as usize];
            if r.traced || tainted[rel.0 as usize] {
                continue;
            }
            r.traced = true;
            for rule in self.rules.iter().filter(|r| r.head.relation == rel) {
                stack.extend(rule.body.iter().filter(|a| !a.negated).map(|a| a.relation));
            }
        }
    }

    /// Keep provenance in `ruleExec` and `tupleTable` too (a live node that
    /// is asked why): they are declared if the program did not mention
    /// them, with `limits`.
    pub fn keep_provenance_tables(&mut self, limits: ProvenanceLimits) {
        for name in [RULE_EXEC, TUPLE_TABLE] {
            if self.lookup(name).is_some() {
                continue;
            }
            let id = RelId(self.relations.len() as u32);
            self.relations.push(crate::Relation {
                name: name.to_string(),
                arity: provenance_arity(name).expect("a provenance relation"),
                kind: RelationKind::Table(provenance_spec(name, limits).expect("one")),
                watch: None,
                channel: None,
                generated: false,
                watch_only: false,
                indexes: Vec::new(),
                stratum: 0,
                span: None,
                traced: false,
            });
            self.by_name.insert(name.to_string(), id);
        }
    }

    /// Give the provenance tables `limits` (`--provenance-lifetime`,
    /// `--provenance-rows`), unless the program materialized them itself.
    pub fn limit_provenance(&mut self, limits: ProvenanceLimits) {
        for name in [RULE_EXEC, TUPLE_TABLE] {
            let Some(id) = self.lookup(name) else {
                continue;
            };
            let r = &mut self.relations[id.0 as usize];
            if r.span.is_none() {
                r.kind = RelationKind::Table(provenance_spec(name, limits).expect("one"));
            }
        }
    }

    /// Keep every row given to `ruleExec` and `tupleTable`, unbounded and
    /// keyed on all their fields (a run's history, read back from its log:
    /// the same tuple derived at two times is two rows), unless the
    /// program materialized them itself.
    pub fn provenance_history(&mut self) {
        for name in [RULE_EXEC, TUPLE_TABLE] {
            let Some(id) = self.lookup(name) else {
                continue;
            };
            let r = &mut self.relations[id.0 as usize];
            if r.span.is_none() {
                r.kind = RelationKind::Table(TableSpec {
                    lifetime_nanos: None,
                    max_size: None,
                    key: (0..r.arity).collect(),
                    lattices: Vec::new(),
                });
            }
        }
    }

    /// Per relation: is it the provenance tables, or derived from them?
    fn derived_from_provenance(&self) -> Vec<bool> {
        let mut tainted = vec![false; self.relations.len()];
        for (i, r) in self.relations.iter().enumerate() {
            tainted[i] = provenance_arity(&r.name).is_some();
        }
        let mut changed = true;
        while changed {
            changed = false;
            for rule in &self.rules {
                let head = rule.head.relation.0 as usize;
                if !tainted[head] && rule.body.iter().any(|a| tainted[a.relation.0 as usize]) {
                    tainted[head] = true;
                    changed = true;
                }
            }
        }
        tainted
    }

    /// Per rule: does it record its derivations? Its head is traced.
    pub fn traced_rules(&self) -> Vec<bool> {
        self.rules
            .iter()
            .map(|r| self.relation(r.head.relation).traced)
            .collect()
    }
}
