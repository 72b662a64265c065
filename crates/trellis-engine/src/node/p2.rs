//! P2's event-at-a-time execution (docs/language.md, "P2 compatibility"),
//! as P2's runtime ran a program (EVITA §2.2.2, P2's `p2core/scheduler.C`):
//!
//! - one external item per fixpoint: an input (received, injected, a
//!   fact, a tuple the node sent itself), a `periodic` firing, or the
//!   insertion of a row that an earlier fixpoint wrote, in arrival order;
//! - each event of a fixpoint runs through the rules on its own (a *pass*):
//!   the events it derives are queued, in derivation order, and each gets a
//!   pass of its own, so an event derived twice is two events;
//! - an aggregate triggered by an event (or an insertion) is computed for
//!   that event alone;
//! - table writes, inserts and deletes in the order derived, take effect
//!   when the fixpoint ends (P2's CommitManager), and every row they insert
//!   is queued as an insertion for a later fixpoint;
//! - sends leave when the fixpoint ends, each as often as it was derived;
//!   a tuple addressed to the node itself is handled in the fixpoint (an
//!   event of it, or a write), as P2 kept it off the network.
//!
//! The fixpoint shares the tick's phases (expiry, report, sending, the
//! end) and the strands' evaluation with tick semantics; only the order of
//! work differs.

use std::collections::VecDeque;

use trellis_plan::{Plan, RelId, RuleId};

use super::{Deltas, Input, Node, Taken, Tick, recycle};
use crate::eval::{Ctx, Sink, drop_noop_writes, emit_groups};
use crate::provenance::Cause;
use crate::rounds::Rounds;
use crate::{Output, Problem, Time, Tuple};

/// An item that gets a fixpoint of its own.
#[derive(Debug)]
enum External {
    Input(Input),
    Periodic(Tuple),
    /// A row an earlier fixpoint inserted.
    Insertion(RelId, Tuple),
}

/// One run of the rules within a fixpoint.
#[derive(Debug)]
enum Pass {
    Event(RelId, Tuple),
    Insertion(RelId, Tuple),
}

/// What P2 semantics keeps between fixpoints.
pub(super) struct State {
    /// Items waiting for a fixpoint, in arrival order.
    queue: VecDeque<External>,
    /// The current fixpoint's passes still to run.
    passes: VecDeque<Pass>,
    /// Per relation: the rules its events or insertions trigger, in
    /// program order.
    triggered: Vec<Vec<RuleId>>,
}

impl State {
    pub fn new(plan: &Plan) -> State {
        let mut triggered = vec![Vec::new(); plan.relations.len()];
        for rule in &plan.rules {
            // A rule's strands say what triggers it; an aggregate's one
            // strand reads every positive atom.
            let mut relations: Vec<RelId> = rule
                .strands
                .iter()
                .flat_map(|s| match s.trigger {
                    Some(t) => vec![rule.body[t].relation],
                    None => rule
                        .body
                        .iter()
                        .filter(|a| !a.negated)
                        .map(|a| a.relation)
                        .collect(),
                })
                .collect();
            relations.sort_unstable();
            relations.dedup();
            for rel in relations {
                triggered[rel.0 as usize].push(rule.id);
            }
        }
        State {
            queue: VecDeque::new(),
            passes: VecDeque::new(),
            triggered,
        }
    }

    /// Something waits for a fixpoint.
    pub fn has_work(&self) -> bool {
        !self.queue.is_empty()
    }
}

impl Node {
    /// P2 semantics' `step`: one fixpoint for the next item, if any.
    pub(super) fn step_p2(&mut self, now: Time, out: &mut Output) -> bool {
        self.admit(now);
        let Some(next) = self.p2.queue.pop_front() else {
            // Woken for an expiry alone (`next_wakeup`): remove and report
            // the rows now (§5.5), or the node would be woken again at once.
            let due = self.next_expiry().is_some_and(|t| t <= now);
            if due {
                self.expire(now, out);
            }
            return due;
        };
        // A cascade is insertions begetting insertions at one instant;
        // inputs and timers come from outside it.
        if matches!(next, External::Insertion(..)) {
            if self.last_tick_time == Some(now) {
                self.ticks_at_instant += 1;
            } else {
                self.ticks_at_instant = 1;
                self.last_tick_time = Some(now);
            }
            if self.ticks_at_instant > self.config.max_ticks_per_instant {
                self.stop_insertions(now, out);
                return false;
            }
        }
        self.fixpoint_p2(now, next, out);
        true
    }

    /// Received and injected tuples, then due timers, join the queue.
    fn admit(&mut self, now: Time) {
        let queue = &mut self.p2.queue;
        queue.extend(self.inbox.drain(..).map(External::Input));
        let mut fired = Vec::new();
        self.due_timers(now, &mut fired);
        self.p2
            .queue
            .extend(fired.into_iter().map(External::Periodic));
    }

    /// 5.9 in P2 semantics: too many fixpoints of insertions at one
    /// instant. Drop the queued insertions, report the rules, carry on.
    fn stop_insertions(&mut self, now: Time, out: &mut Output) {
        self.p2
            .queue
            .retain(|e| !matches!(e, External::Insertion(..)));
        self.stats.runaways += 1;
        out.problems.push(Problem::Runaway {
            time: now,
            tick: self.tick,
            ticks: self.ticks_at_instant - 1,
            rules: self.rules_last_tick.clone(),
        });
        self.ticks_at_instant = 0;
        self.last_tick_time = None;
    }

    /// One fixpoint, phase by phase, for one external item.
    fn fixpoint_p2(&mut self, now: Time, next: External, out: &mut Output) {
        self.tick += 1;
        self.stats.ticks += 1;
        self.env.now = now;
        let mut tick = Tick::default();
        self.expire(now, out);
        let first = match next {
            External::Input(input) => match self.take_input(input, now, out) {
                Taken::Nothing => None,
                Taken::Event(rel, tuple) => Some(Pass::Event(rel, tuple)),
                Taken::Delta(rel, tuple) => Some(Pass::Insertion(rel, tuple)),
            },
            External::Periodic(tuple) => {
                let periodic = self.periodic();
                if self.plan.relation(periodic).traced {
                    self.traced_input(periodic, &tuple, Cause::Timer, out);
                }
                Some(Pass::Event(periodic, tuple))
            }
            External::Insertion(rel, tuple) => Some(Pass::Insertion(rel, tuple)),
        };
        self.p2.passes.extend(first);
        self.passes(&mut tick, out);
        self.report(now, &mut tick, out);
        self.commit(now, out);
        self.trace(now, out);
        self.send(out);
        self.end_tick(&tick);
    }

    /// The fixpoint's passes, each event or insertion through the rules it
    /// triggers, until none is left.
    fn passes(&mut self, tick: &mut Tick, out: &mut Output) {
        let plan = self.plan.clone();
        let mut derived = std::mem::take(&mut self.derived);
        tick.fired = vec![false; plan.rules.len()];
        let mut budget = self.config.max_derivations_per_tick;
        let window = Rounds::new().window();
        while let Some(pass) = self.p2.passes.pop_front() {
            let (rel, insertion) = match pass {
                Pass::Event(rel, tuple) => {
                    self.add_event(rel, tuple, 0, tick, out);
                    (rel, None)
                }
                Pass::Insertion(rel, tuple) => (rel, Some(tuple)),
            };
            let mut sink = Sink::new(&mut self.env, &mut self.stats.rule_firings);
            sink.budget = budget;
            sink.local_address = Some(self.address.clone());
            derived.lend(&mut sink);
            let ctx = Ctx {
                plan: &plan,
                tables: &self.tables,
                events: &self.events,
                params: &self.params,
                read: &self.read,
                tick: self.tick,
                window,
                deltas: Deltas::Row(insertion.as_deref().map(|t| (rel, t))),
            };
            for &rid in &self.p2.triggered[rel.0 as usize] {
                let rule = plan.rule(rid);
                let before = sink.firings[rid.0 as usize];
                for strand in &rule.strands {
                    if strand.trigger.is_none_or(|t| rule.body[t].relation == rel) {
                        super::run_strand(&ctx, &mut sink, rule, strand);
                    }
                }
                if sink.exhausted {
                    // A partial fold is no aggregate to emit.
                    tick.fired[rid.0 as usize] = true;
                    break;
                }
                if rule.head.aggregate.is_some() {
                    emit_groups(&plan, &self.tables, &mut sink, rule);
                }
                if sink.firings[rid.0 as usize] != before {
                    tick.fired[rid.0 as usize] = true;
                }
            }
            drop_noop_writes(&plan, &self.tables, &mut sink);
            budget = sink.budget;
            tick.bound_hit = sink.exhausted;
            tick.errors.extend(derived.take_back(sink));
            // The event has had its pass: later passes see only their own.
            self.events[rel.0 as usize].clear();
            if tick.bound_hit {
                derived.new_events.clear();
                self.p2.passes.clear();
                break;
            }
            for (rel, tuple) in derived.new_events.drain(..) {
                self.stats.relations[rel.0 as usize].events += 1;
                self.p2.passes.push_back(Pass::Event(rel, tuple));
            }
        }
        self.derived = derived;
    }

    /// The fixpoint's writes, in the order derived; every row inserted
    /// (a delta, §5.3) is queued for a fixpoint of its own. Rows are
    /// stamped with the next tick, as in tick semantics, so two writes of
    /// one key in one commit are a key conflict.
    fn commit(&mut self, now: Time, out: &mut Output) {
        let plan = self.plan.clone();
        let next = self.tick + 1;
        let writes = std::mem::take(&mut self.derived.writes);
        let mut fields = std::mem::take(&mut self.derived.write_fields);
        for w in &writes {
            let range = w.start..w.start + plan.relation(w.relation).arity;
            let row = &mut fields[range];
            if w.delete {
                self.delete_row(w.relation, row, out);
                continue;
            }
            let tuple = self.read_by_rules[w.relation.0 as usize].then(|| Tuple::from(&*row));
            if self.insert_row(w.relation, row, w.hash, now, next, out)
                && let Some(tuple) = tuple
            {
                let tuple = self.as_stored(w.relation, tuple);
                self.p2
                    .queue
                    .push_back(External::Insertion(w.relation, tuple));
            }
        }
        // The queue holds the insertions: no tick of deltas is pending.
        self.deltas_pending = false;
        self.derived.writes = recycle(writes);
        self.derived.write_fields = recycle(fields);
    }
}
