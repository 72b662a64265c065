//! What the scenario puts into a run: its scheduled events (injections,
//! crashes, restarts, partitions) and its workloads, from tuple templates.

use rand::RngExt;
use trellis_engine::Tuple;
use trellis_value::{Id, Value};

use super::queue::{Class, Payload};
use super::trace::Happening;
use super::{NANOS, Observer, Simulation, to_time};
use crate::Fault;
use crate::scenario::{Action, NodeRef};
use crate::template::{Template, TemplateField};

/// A template tuple from a scenario (`lookup(@ADDR, RANDID, ADDR, SEQ)`).
impl Simulation {
    pub(super) fn resolve(&mut self, node: &NodeRef) -> Option<usize> {
        match node {
            NodeRef::Index(i) => Some(*i),
            NodeRef::Random => {
                if self.live.is_empty() {
                    return None;
                }
                let k = self.rng.random_range(0..self.live.len());
                Some(self.live[k] as usize)
            }
        }
    }

    pub(super) fn scenario_event(&mut self, i: usize, observer: &mut dyn Observer) {
        let action = self.scenario.events[i].action.clone();
        self.trace.happening(Happening::Scenario, i, self.now);
        match action {
            Action::Inject { node, .. } => {
                if let Some(n) = self.resolve(&node) {
                    let template = self
                        .event_templates
                        .remove(&i)
                        .expect("parsed at build time");
                    self.inject(n, &template, None, observer);
                    self.event_templates.insert(i, template);
                }
            }
            Action::Crash { node } => {
                if let Some(n) = self.resolve(&node) {
                    self.crash(n);
                }
            }
            Action::Restart { node } => {
                if let Some(n) = self.resolve(&node) {
                    self.start_node(n, observer);
                }
            }
            Action::Partition {
                name,
                groups,
                oneway,
            } => {
                self.net.partition(&name, &groups, oneway);
                self.stats.faults.push((self.now, Fault::Partition(name)));
            }
            Action::Heal { name } => {
                self.net.heal(&name);
                self.stats.faults.push((self.now, Fault::Heal(name)));
            }
        }
    }

    pub(super) fn workload(&mut self, i: usize, observer: &mut dyn Observer) {
        let w = self.scenario.workloads[i].clone();
        if w.stop.is_some_and(|stop| self.now > to_time(stop)) {
            return;
        }
        let rate = match (w.per_node, w.rate) {
            (Some(p), _) => p * self.live.len().max(1) as f64,
            (None, Some(r)) => r,
            (None, None) => unreachable!("validated"),
        };
        // With copies > 1, the same random ID goes to several distinct live
        // nodes at once (do different nodes get the same answer?).
        let copies = w.copies.min(self.live.len());
        let shared = (copies > 1).then(|| Id::random(&mut self.rng));
        let mut chosen: Vec<usize> = Vec::with_capacity(copies);
        while chosen.len() < copies {
            let k = self.rng.random_range(0..self.live.len());
            let n = self.live[k] as usize;
            if !chosen.contains(&n) {
                chosen.push(n);
            }
        }
        let template = std::mem::replace(
            &mut self.templates[i],
            Template {
                relation: String::new(),
                fields: Vec::new(),
            },
        );
        for n in chosen {
            self.inject(n, &template, shared, observer);
        }
        self.templates[i] = template;
        if rate > 0.0 {
            let next = self.now + to_time(1.0 / rate).max(1);
            self.queue.push(
                next,
                u32::MAX,
                Class::Workload,
                i as u32,
                Payload::Workload(i),
            );
        }
    }

    /// Inject a template tuple at node `i`; `RANDID` is `shared` when given.
    pub(super) fn inject(
        &mut self,
        i: usize,
        template: &Template,
        shared: Option<Id>,
        observer: &mut dyn Observer,
    ) {
        let s = self.slot[i];
        let address = self.nodes[s].address.clone();
        if self.nodes[s].node.is_none() {
            return;
        }
        let seq = self.stats.injected;
        let fields: Vec<Value> = template
            .fields
            .iter()
            .map(|f| match f {
                TemplateField::Value(v) => v.clone(),
                TemplateField::Addr => Value::Str(address.clone()),
                TemplateField::RandId => {
                    Value::Id(shared.unwrap_or_else(|| Id::random(&mut self.rng)))
                }
                TemplateField::Seq => Value::Int(seq as i64),
                TemplateField::Now => Value::Float(self.now as f64 / NANOS),
            })
            .collect();
        let tuple = Tuple::from(fields);
        let node = self.nodes[s].node.as_mut().expect("checked above");
        match node.inject(&template.relation, tuple.clone()) {
            Ok(()) => {
                self.stats.injected += 1;
                if let Some(rel) = self.plan.lookup(&template.relation) {
                    self.measurements.observe_inject(rel, &tuple, self.now);
                    self.trace.injection(self.now, i, rel, &tuple);
                }
                self.step(i, observer);
            }
            Err(_) => self.stats.dropped_inputs += 1,
        }
    }
}
