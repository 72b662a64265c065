//! The ring oracle: with a `[ring]`, the simulator knows every live node's
//! identifier, hence the true successor of any key, and checks lookup
//! answers and successor tables against it.

use std::collections::BTreeMap;

use trellis_engine::{Node, Time};
use trellis_plan::{Plan, RelId};
use trellis_value::{Id, Value};

use crate::SimError;
use crate::scenario::Ring;

/// What the simulator knows about a ring of identifiers.
pub struct RingState {
    /// The per-node parameter holding a node's identifier.
    param: String,
    pub(crate) successor: RelId,
    /// The successor relation's field holding the successor's identifier.
    field: usize,
    pub(crate) every: Time,
    /// Live identifiers, and the node (scenario index) holding each.
    live: BTreeMap<Id, u32>,
    /// (time, nodes whose successor is right, live nodes).
    pub checks: Vec<(Time, usize, usize)>,
    /// The first check at which every live node had its true successor.
    pub converged_at: Option<Time>,
}

impl RingState {
    /// Check the scenario's `[ring]` against the program and every node's
    /// parameters; the oracle checks successors `every` so often.
    pub(crate) fn new<'a>(
        spec: &Ring,
        every: Time,
        plan: &Plan,
        mut params: impl Iterator<Item = &'a BTreeMap<String, Value>>,
    ) -> Result<RingState, SimError> {
        let rel = plan.lookup(&spec.successor.relation).ok_or_else(|| {
            SimError::Ring(format!(
                "the program has no relation `{}`",
                spec.successor.relation
            ))
        })?;
        let arity = plan.relation(rel).arity;
        if spec.successor.field == 0 || spec.successor.field > arity {
            return Err(SimError::Ring(format!(
                "field {} is out of range: `{}` has {arity} fields",
                spec.successor.field, spec.successor.relation
            )));
        }
        if !plan.node_params.contains(&spec.id) {
            return Err(SimError::Ring(format!(
                "the program does not use the parameter `{}` that holds ring identifiers",
                spec.id
            )));
        }
        if params.any(|p| !matches!(p.get(&spec.id), Some(Value::Id(_)))) {
            return Err(SimError::Ring(format!(
                "params.{} must give every node an ID (\"sha1\" or \"random\")",
                spec.id
            )));
        }
        Ok(RingState {
            param: spec.id.clone(),
            successor: rel,
            field: spec.successor.field - 1,
            every,
            live: BTreeMap::new(),
            checks: Vec::new(),
            converged_at: None,
        })
    }

    /// Node `index`, with these parameters, is up.
    pub(crate) fn join(&mut self, index: u32, params: &BTreeMap<String, Value>) {
        if let Some(Value::Id(id)) = params.get(&self.param) {
            self.live.insert(*id, index);
        }
    }

    /// The node with these parameters is down.
    pub(crate) fn leave(&mut self, params: &BTreeMap<String, Value>) {
        if let Some(Value::Id(id)) = params.get(&self.param) {
            self.live.remove(id);
        }
    }

    /// The first live identifier at or after `key`, clockwise.
    pub fn successor_of(&self, key: &Id) -> Option<Id> {
        self.live
            .range(*key..)
            .next()
            .or_else(|| self.live.iter().next())
            .map(|(id, _)| *id)
    }

    /// The first live identifier strictly after `id`, clockwise.
    fn next_after(&self, id: &Id) -> Option<Id> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.live
            .range((Excluded(*id), Unbounded))
            .next()
            .or_else(|| self.live.iter().next())
            .map(|(id, _)| *id)
    }

    /// Count the live nodes (found by scenario index) that hold their true
    /// successor, at `now`.
    pub(crate) fn check<'a>(
        &mut self,
        now: Time,
        plan: &Plan,
        node: impl Fn(u32) -> Option<&'a Node>,
    ) {
        let name = &plan.relation(self.successor).name;
        let mut right = 0;
        for (id, &i) in &self.live {
            let Some(node) = node(i) else {
                continue;
            };
            let truth = self.next_after(id);
            let held = node.table(name).unwrap_or_default();
            if held
                .iter()
                .any(|t| matches!(&t[self.field], Value::Id(s) if Some(*s) == truth))
            {
                right += 1;
            }
        }
        let live = self.live.len();
        self.checks.push((now, right, live));
        if right == live && live > 0 && self.converged_at.is_none() {
            self.converged_at = Some(now);
        }
    }
}
