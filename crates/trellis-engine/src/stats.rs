//! Counters a node keeps; drivers print and aggregate them.

use trellis_plan::Plan;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationStats {
    pub inserts: u64,
    pub replacements: u64,
    pub refreshes: u64,
    pub deletes: u64,
    pub expirations: u64,
    pub evictions: u64,
    pub events: u64,
    pub sends: u64,
    pub receives: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub ticks: u64,
    /// Per relation, indexed by `RelId`.
    pub relations: Vec<RelationStats>,
    /// Derivations dropped by a runtime error, per rule (indexed by `RuleId`).
    pub rule_errors: Vec<u64>,
    /// Rule firings (derived head tuples), per rule.
    pub rule_firings: Vec<u64>,
    /// Two different writes to one key in one tick.
    pub key_conflicts: u64,
    /// Received or injected tuples for unknown relations or with the wrong
    /// number of fields.
    pub dropped_inputs: u64,
    /// Cascades stopped by the runaway bound.
    pub runaways: u64,
}

impl Stats {
    pub fn new(plan: &Plan) -> Stats {
        Stats {
            relations: vec![RelationStats::default(); plan.relations.len()],
            rule_errors: vec![0; plan.rules.len()],
            rule_firings: vec![0; plan.rules.len()],
            ..Stats::default()
        }
    }

    /// Fold another node's counters (same plan) into these: a driver's
    /// totals over many nodes or incarnations.
    pub fn add(&mut self, other: &Stats) {
        self.ticks += other.ticks;
        for (a, b) in self.relations.iter_mut().zip(&other.relations) {
            a.inserts += b.inserts;
            a.replacements += b.replacements;
            a.refreshes += b.refreshes;
            a.deletes += b.deletes;
            a.expirations += b.expirations;
            a.evictions += b.evictions;
            a.events += b.events;
            a.sends += b.sends;
            a.receives += b.receives;
        }
        for (a, b) in self.rule_errors.iter_mut().zip(&other.rule_errors) {
            *a += b;
        }
        for (a, b) in self.rule_firings.iter_mut().zip(&other.rule_firings) {
            *a += b;
        }
        self.key_conflicts += other.key_conflicts;
        self.dropped_inputs += other.dropped_inputs;
        self.runaways += other.runaways;
    }

    pub fn errors(&self) -> u64 {
        self.rule_errors.iter().sum()
    }
}
