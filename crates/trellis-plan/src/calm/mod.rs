//! CALM analysis: which rules are monotone, which relations arrive over the
//! network, and the *points of order*: the places where a non-monotone
//! operation consumes input whose arrival order the network decides, so
//! that the result can depend on that order (Alvaro et al., "Consistency
//! Analysis in Bloom: a CALM and Collected Approach", CIDR 2011). The rules
//! of the analysis are in docs/language.md §6 and the guide is docs/calm.md.
//!
//! The analysis reads the plan after localization, so the stages of a rule
//! that reads several nodes are linked by the sends that really happen.

use std::collections::VecDeque;

use trellis_value::Value;

use crate::plan::*;

mod lattice;
mod report;

pub use report::{PointOfOrderWarning, explain_calm, graph_calm, warnings};

/// Why a rule is not monotone: an operation whose output can shrink or
/// change as its input grows, or that depends on when it runs.
#[derive(Debug, Clone, PartialEq)]
pub enum NonMonotone {
    /// `notin relation`: a tuple arriving later would have blocked the
    /// derivation.
    Negation { relation: RelId },
    /// An aggregate over the rule's join: its value changes as rows arrive.
    Aggregate { function: AggregateFn },
    /// `delete`: removes rows that other rules may or may not have read.
    Deletion { relation: RelId },
    /// A write into a table keyed on fewer than all its fields replaces the
    /// row with the same key: the last write wins.
    Replacement { relation: RelId },
    /// An event joined with a table sees the table's rows as they are when
    /// it arrives; a row that arrives later is never matched with it.
    TransientRead { event: RelId, table: RelId },
    /// Reads a soft-state table, whose rows expire after their lifetime.
    Expiry {
        relation: RelId,
        lifetime_nanos: u64,
    },
    /// Reads a table of bounded size, whose rows can be evicted.
    Eviction { relation: RelId, max_size: usize },
    /// Calls `f_now`: the result depends on when the rule runs.
    Clock,
    /// Uses the value of a lattice column other than through a monotone
    /// function into a lattice or a threshold: it sees the value as it is
    /// when the rule runs, and a later merge can change the answer.
    LatticeRead { relation: RelId, column: usize },
}

/// A non-monotone operation of a rule fed by input whose order the network
/// decides.
#[derive(Debug, Clone, PartialEq)]
pub struct PointOfOrder {
    pub rule: RuleId,
    /// The rule's non-monotone operations fed by the network, each with the
    /// input whose arrival order matters to it (at least one).
    pub reasons: Vec<(NonMonotone, RelId)>,
    /// How asynchrony reaches each of those inputs: relations from where it
    /// enters (a relation sent between nodes, or an external input) to the
    /// input, each with the rule that derives it from the one before
    /// (`None` for the first).
    pub paths: Vec<Vec<(Option<RuleId>, RelId)>>,
    /// A rule triggered by a timer that re-derives the soft state involved,
    /// which makes an expiry, eviction or stale read heal itself.
    pub refreshed_by: Option<RuleId>,
}

/// A Bloom-style label of an output relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Label {
    /// Deterministic and monotone: the same whatever the order.
    Confluent,
    /// Fed by the network through monotone rules only: its contents may
    /// arrive in any order and at any time, but end the same.
    Asynchronous,
    /// A non-monotone rule feeds it, but none consumes network input.
    NonMonotone,
    /// A point of order feeds it: its contents can depend on message order
    /// (Bloom's *diffluent*). Coordinate, or make the state a lattice.
    OrderDependent,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Confluent => "confluent",
            Label::Asynchronous => "asynchronous",
            Label::NonMonotone => "non-monotone",
            Label::OrderDependent => "order-dependent",
        }
    }
}

/// The analysis of one plan.
#[derive(Debug, Clone)]
pub struct Calm {
    /// Per relation: tuples of it travel between nodes (it is a send's head,
    /// or an input from outside that no rule derives).
    pub sent: Vec<bool>,
    /// Per relation: its contents depend on network input, directly or
    /// through rules (the predecessor on the shortest path, if any).
    pub tainted: Vec<Option<Taint>>,
    /// Per rule: why it is not monotone (empty: monotone).
    pub rules: Vec<Vec<NonMonotone>>,
    pub points: Vec<PointOfOrder>,
    /// Output relations (watched, sent between nodes, or read by no rule)
    /// and their labels.
    pub outputs: Vec<(RelId, Label)>,
}

/// How network input reaches a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taint {
    /// It travels between nodes itself.
    Sent,
    /// Derived by `rule` from `from`, which is tainted.
    Via { rule: RuleId, from: RelId },
}

impl Calm {
    pub fn is_monotone(&self, rule: RuleId) -> bool {
        self.rules[rule.0 as usize].is_empty()
    }

    /// Points of order in `rule`.
    pub fn points_in(&self, rule: RuleId) -> impl Iterator<Item = &PointOfOrder> {
        self.points.iter().filter(move |p| p.rule == rule)
    }

    fn path_to(&self, mut rel: RelId) -> Vec<(Option<RuleId>, RelId)> {
        let mut path = Vec::new();
        while let Some(taint) = self.tainted[rel.0 as usize] {
            match taint {
                Taint::Sent => {
                    path.push((None, rel));
                    break;
                }
                Taint::Via { rule, from } => {
                    path.push((Some(rule), rel));
                    rel = from;
                }
            }
        }
        path.reverse();
        path
    }
}

/// Analyse a plan.
pub fn analyze(plan: &Plan) -> Calm {
    let n = plan.relations.len();
    let derived: Vec<bool> = (0..n)
        .map(|i| {
            plan.rules.iter().any(|r| r.head.relation.0 as usize == i)
                || plan.facts.iter().any(|f| f.relation.0 as usize == i)
        })
        .collect();
    let read: Vec<bool> = (0..n)
        .map(|i| {
            plan.rules
                .iter()
                .any(|r| r.body.iter().any(|a| a.relation.0 as usize == i))
        })
        .collect();
    // Sent between nodes: a send's head, or an input from outside (read but
    // never derived here: injected or received).
    let sent: Vec<bool> = (0..n)
        .map(|i| {
            let rel = &plan.relations[i];
            plan.rules
                .iter()
                .any(|r| r.head.relation.0 as usize == i && r.head.route == Route::Send)
                || (read[i] && !derived[i] && rel.kind != RelationKind::Periodic)
        })
        .collect();
    let tainted = taint(plan, &sent);
    let refreshers = timer_driven(plan);
    let mut calm = Calm {
        sent,
        tainted,
        rules: plan.rules.iter().map(|r| non_monotone(plan, r)).collect(),
        points: Vec::new(),
        outputs: Vec::new(),
    };
    for rule in &plan.rules {
        // One point per rule: its operations fed by the network together.
        let mut point = PointOfOrder {
            rule: rule.id,
            reasons: Vec::new(),
            paths: Vec::new(),
            refreshed_by: None,
        };
        let mut inputs_seen = Vec::new();
        for reason in &calm.rules[rule.id.0 as usize] {
            let Some(input) = inputs(rule, reason)
                .into_iter()
                .find(|i| calm.tainted[i.0 as usize].is_some())
            else {
                continue;
            };
            point.reasons.push((reason.clone(), input));
            point.refreshed_by = point
                .refreshed_by
                .or_else(|| refreshed(plan, &refreshers, reason));
            if !inputs_seen.contains(&input) {
                inputs_seen.push(input);
                point.paths.push(calm.path_to(input));
            }
        }
        if !point.reasons.is_empty() {
            calm.points.push(point);
        }
    }
    calm.outputs = outputs(plan, &calm, &read);
    calm
}

/// Shortest paths from the relations sent between nodes to every relation
/// derived from them (negation and aggregation carry taint too).
fn taint(plan: &Plan, sent: &[bool]) -> Vec<Option<Taint>> {
    let mut tainted: Vec<Option<Taint>> = sent.iter().map(|s| s.then_some(Taint::Sent)).collect();
    let mut queue: VecDeque<RelId> = (0..sent.len())
        .filter(|i| sent[*i])
        .map(|i| RelId(i as u32))
        .collect();
    while let Some(rel) = queue.pop_front() {
        for rule in &plan.rules {
            let head = rule.head.relation;
            if tainted[head.0 as usize].is_none() && rule.body.iter().any(|a| a.relation == rel) {
                tainted[head.0 as usize] = Some(Taint::Via {
                    rule: rule.id,
                    from: rel,
                });
                queue.push_back(head);
            }
        }
    }
    tainted
}

/// The non-monotone operations of a rule, in body order.
fn non_monotone(plan: &Plan, rule: &RulePlan) -> Vec<NonMonotone> {
    let mut reasons = Vec::new();
    // A timer that fires forever reads its tables again at every firing,
    // so a row that arrives late is met at the next one: not a transient
    // read.
    let events: Vec<RelId> = rule
        .body
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            !a.negated && !is_table(plan, a.relation) && !fires_forever(plan, rule, *i)
        })
        .map(|(_, a)| a.relation)
        .collect();
    for atom in &rule.body {
        let rel = plan.relation(atom.relation);
        if atom.negated {
            reasons.push(NonMonotone::Negation {
                relation: atom.relation,
            });
            continue;
        }
        let RelationKind::Table(spec) = &rel.kind else {
            continue;
        };
        if let Some(&event) = events.first() {
            reasons.push(NonMonotone::TransientRead {
                event,
                table: atom.relation,
            });
        }
        if let Some(lifetime_nanos) = spec.lifetime_nanos {
            reasons.push(NonMonotone::Expiry {
                relation: atom.relation,
                lifetime_nanos,
            });
        }
        // A table keyed on its location alone holds one row per node: a
        // bound never evicts more than the key replaces.
        if let Some(max_size) = spec.max_size
            && spec.key != [0]
        {
            reasons.push(NonMonotone::Eviction {
                relation: atom.relation,
                max_size,
            });
        }
    }
    if let Some(a) = &rule.head.aggregate {
        reasons.push(NonMonotone::Aggregate {
            function: a.function,
        });
    }
    let head = plan.relation(rule.head.relation);
    if rule.head.delete {
        reasons.push(NonMonotone::Deletion {
            relation: rule.head.relation,
        });
    } else if let RelationKind::Table(spec) = &head.kind
        && spec.key.len() < head.arity
        && !spec.merges_only(head.arity)
        && rule.head.route != Route::Send
    {
        reasons.push(NonMonotone::Replacement {
            relation: rule.head.relation,
        });
    }
    if reads_clock(rule) {
        reasons.push(NonMonotone::Clock);
    }
    reasons.extend(lattice::reveals(plan, rule));
    // A self-join reads one table twice: one reason each.
    let mut unique: Vec<NonMonotone> = Vec::with_capacity(reasons.len());
    for r in reasons {
        if !unique.contains(&r) {
            unique.push(r);
        }
    }
    unique
}

/// Body atom `atom` is `periodic` without a count (or a count of 0).
fn fires_forever(plan: &Plan, rule: &RulePlan, atom: usize) -> bool {
    if plan.relation(rule.body[atom].relation).kind != RelationKind::Periodic {
        return false;
    }
    let count = rule
        .strands
        .iter()
        .flat_map(|s| &s.steps)
        .find_map(|step| match step {
            Step::Scan {
                atom: a, pattern, ..
            }
            | Step::Join {
                atom: a, pattern, ..
            } if *a == atom => pattern.get(3),
            _ => None,
        });
    match count {
        Some(Field::Const(Value::Int(n))) => *n == 0,
        _ => true,
    }
}

fn is_table(plan: &Plan, rel: RelId) -> bool {
    matches!(plan.relation(rel).kind, RelationKind::Table(_))
}

fn reads_clock(rule: &RulePlan) -> bool {
    fn in_expr(e: &Expr) -> bool {
        match e {
            Expr::Call(f, args) => f.0.name == "f_now" || args.iter().any(in_expr),
            Expr::Unary(_, a) => in_expr(a),
            Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => in_expr(a) || in_expr(b),
            Expr::In {
                value, low, high, ..
            } => in_expr(value) || in_expr(low) || in_expr(high),
            Expr::Var(_) | Expr::Const(_) | Expr::Param(_) => false,
        }
    }
    rule.head.fields.iter().any(in_expr)
        || rule
            .strands
            .iter()
            .flat_map(|s| &s.steps)
            .any(|step| match step {
                Step::Filter(e) | Step::Assign(_, e) => in_expr(e),
                Step::Join { key, .. } | Step::NotIn { key, .. } => key.iter().any(in_expr),
                Step::Scan { .. } | Step::MarkGroup => false,
            })
}

/// The relations whose arrival order decides what a non-monotone operation
/// does (Bloom's rule: the source of the non-monotone edge).
fn inputs(rule: &RulePlan, reason: &NonMonotone) -> Vec<RelId> {
    let body = || {
        let mut rels: Vec<RelId> = rule.body.iter().map(|a| a.relation).collect();
        rels.sort_unstable();
        rels.dedup();
        rels
    };
    match reason {
        NonMonotone::Negation { relation }
        | NonMonotone::Expiry { relation, .. }
        | NonMonotone::Eviction { relation, .. }
        | NonMonotone::LatticeRead { relation, .. } => vec![*relation],
        NonMonotone::TransientRead { table, .. } => vec![*table],
        NonMonotone::Aggregate { .. }
        | NonMonotone::Deletion { .. }
        | NonMonotone::Replacement { .. }
        | NonMonotone::Clock => body(),
    }
}

/// Relations derived, directly or through other rules, from a timer: per
/// relation, the first rule on the way.
fn timer_driven(plan: &Plan) -> Vec<Option<RuleId>> {
    let mut driven: Vec<Option<RuleId>> = vec![None; plan.relations.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for rule in &plan.rules {
            let head = rule.head.relation.0 as usize;
            if driven[head].is_some() || rule.head.delete {
                continue;
            }
            let by_timer = rule.body.iter().any(|a| {
                !a.negated
                    && (plan.relation(a.relation).kind == RelationKind::Periodic
                        || driven[a.relation.0 as usize].is_some())
            });
            if by_timer {
                driven[head] = Some(rule.id);
                changed = true;
            }
        }
    }
    driven
}

/// The timer-driven rule that rewrites the soft state a point of order is
/// about, if there is one: then a stale or missing row heals at the next
/// refresh.
fn refreshed(plan: &Plan, driven: &[Option<RuleId>], reason: &NonMonotone) -> Option<RuleId> {
    let state = match reason {
        NonMonotone::Expiry { relation, .. }
        | NonMonotone::Eviction { relation, .. }
        | NonMonotone::Replacement { relation } => *relation,
        NonMonotone::TransientRead { table, .. } => *table,
        _ => return None,
    };
    let RelationKind::Table(_) = plan.relation(state).kind else {
        return None;
    };
    // A rule writing `state` whose body is timer-driven: one with a timer
    // of its own first, the rule that really refreshes.
    let writers = || {
        plan.rules
            .iter()
            .filter(|r| r.head.relation == state && !r.head.delete)
    };
    let reads = |r: &RulePlan, driven_too: bool| {
        r.body.iter().any(|a| {
            !a.negated
                && (plan.relation(a.relation).kind == RelationKind::Periodic
                    || (driven_too && driven[a.relation.0 as usize].is_some()))
        })
    };
    writers()
        .find(|r| reads(r, false))
        .or_else(|| writers().find(|r| reads(r, true)))
        .map(|r| r.id)
}

/// Outputs: relations watched, sent between nodes or read by no rule; each
/// labelled by what feeds it.
fn outputs(plan: &Plan, calm: &Calm, read: &[bool]) -> Vec<(RelId, Label)> {
    let mut out = Vec::new();
    for (i, rel) in plan.relations.iter().enumerate() {
        let derived = plan.rules.iter().any(|r| r.head.relation.0 as usize == i);
        let output = rel.watch.is_some() || !read[i] || calm.sent[i];
        if rel.generated || !derived || !output {
            continue;
        }
        let feeding = upstream_rules(plan, RelId(i as u32));
        let label = if feeding.iter().any(|r| calm.points_in(*r).next().is_some()) {
            Label::OrderDependent
        } else if feeding.iter().any(|r| !calm.is_monotone(*r)) {
            Label::NonMonotone
        } else if calm.tainted[i].is_some() {
            Label::Asynchronous
        } else {
            Label::Confluent
        };
        out.push((RelId(i as u32), label));
    }
    out
}

/// Every rule that feeds `rel`, directly or through other relations.
fn upstream_rules(plan: &Plan, rel: RelId) -> Vec<RuleId> {
    let mut seen_rel = vec![false; plan.relations.len()];
    let mut rules = Vec::new();
    let mut seen_rule = vec![false; plan.rules.len()];
    let mut queue = VecDeque::from([rel]);
    seen_rel[rel.0 as usize] = true;
    while let Some(r) = queue.pop_front() {
        for rule in plan.rules.iter().filter(|x| x.head.relation == r) {
            if seen_rule[rule.id.0 as usize] {
                continue;
            }
            seen_rule[rule.id.0 as usize] = true;
            rules.push(rule.id);
            for atom in &rule.body {
                if !seen_rel[atom.relation.0 as usize] {
                    seen_rel[atom.relation.0 as usize] = true;
                    queue.push_back(atom.relation);
                }
            }
        }
    }
    rules
}
