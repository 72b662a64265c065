//! Within-tick stratification (docs/language.md §5.2): an aggregate or `notin`
//! over a relation runs only once that relation is complete for the tick.
//!
//! Only event relations derived locally matter: tables are fixed for the
//! whole tick (writes land between ticks) and sent tuples arrive in a later
//! tick, so neither can close a cycle within one.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

use crate::error::PlanError;
use crate::plan::{Plan, RelId, RelationKind, Route};

/// Assign strata to event relations and rules, or name the cycle through an
/// aggregate or negation that makes that impossible.
pub(crate) fn stratify(plan: &mut Plan) -> Result<(), PlanError> {
    // Edges body relation -> head relation, for rules deriving local events;
    // the weight is 1 when the edge goes through an aggregate or `notin`.
    let mut graph: DiGraphMap<u32, u32> = DiGraphMap::new();
    let mut edge_rule: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for (r, rule) in plan.rules.iter().enumerate() {
        if rule.head.route != Route::LocalEvent {
            continue;
        }
        let head = rule.head.relation.0;
        for atom in &rule.body {
            if matches!(plan.relation(atom.relation).kind, RelationKind::Table(_)) {
                continue;
            }
            let weight = u32::from(atom.negated || rule.head.aggregate.is_some());
            let from = atom.relation.0;
            let old = graph.edge_weight(from, head).copied().unwrap_or(0);
            if weight >= old {
                graph.add_edge(from, head, weight);
                edge_rule.insert((from, head), r);
            }
        }
    }

    for scc in tarjan_scc(&graph) {
        for &from in &scc {
            for &to in &scc {
                if graph.edge_weight(from, to) == Some(&1) {
                    let cycle = cycle_through(&graph, from, to, plan);
                    let rule = &plan.rules[edge_rule[&(from, to)]];
                    let through = if rule.head.aggregate.is_some() {
                        format!("the aggregate in rule `{}`", rule.name)
                    } else {
                        format!("`notin` in rule `{}`", rule.name)
                    };
                    return Err(PlanError::Unstratifiable {
                        through,
                        cycle,
                        span: rule.span,
                    });
                }
            }
        }
    }

    // A rule runs after what it reads is complete (one stratum later through
    // an aggregate or `notin`); a locally derived event is complete once
    // every rule deriving it has run. Iterate to the fixpoint: at most one
    // round per relation, since no cycle goes through a weight-1 edge.
    let n = plan.relations.len();
    let mut stratum = vec![0usize; n];
    let rule_stratum = |rule: &crate::plan::RulePlan, stratum: &[usize]| {
        let bump = usize::from(rule.head.aggregate.is_some());
        rule.body
            .iter()
            .map(|a| stratum[a.relation.0 as usize] + bump.max(usize::from(a.negated)))
            .max()
            .unwrap_or(0)
    };
    for _ in 0..=n {
        let mut changed = false;
        for rule in &plan.rules {
            if rule.head.route != Route::LocalEvent {
                continue;
            }
            let s = rule_stratum(rule, &stratum);
            let head = &mut stratum[rule.head.relation.0 as usize];
            if s > *head {
                *head = s;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for (rel, s) in plan.relations.iter_mut().zip(&stratum) {
        rel.stratum = *s;
    }
    let mut strata: Vec<Vec<_>> = Vec::new();
    for rule in &mut plan.rules {
        rule.stratum = rule_stratum(rule, &stratum);
        if strata.len() <= rule.stratum {
            strata.resize(rule.stratum + 1, Vec::new());
        }
        strata[rule.stratum].push(rule.id);
    }
    plan.strata = strata;
    Ok(())
}

/// `a -> b -> ... -> a`, starting with the edge `from -> to`.
fn cycle_through(graph: &DiGraphMap<u32, u32>, from: u32, to: u32, plan: &Plan) -> String {
    // Breadth-first from `to` until `from` (same component, so reachable).
    let mut prev: BTreeMap<u32, u32> = BTreeMap::new();
    let mut seen = BTreeSet::from([to]);
    let mut queue = VecDeque::from([to]);
    while let Some(n) = queue.pop_front() {
        if n == from {
            break;
        }
        for m in graph.neighbors(n) {
            if seen.insert(m) {
                prev.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    let mut back = vec![from];
    let mut cur = from;
    while cur != to {
        cur = prev[&cur];
        back.push(cur);
    }
    back.reverse();
    std::iter::once(from)
        .chain(back)
        .map(|r| format!("`{}`", plan.relation(RelId(r)).name))
        .collect::<Vec<_>>()
        .join(" -> ")
}
