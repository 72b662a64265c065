//! The node: inputs, ticks (docs/language.md §5.1-§5.6, §5.9), timers and facts.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use rand::RngExt;
use rustc_hash::FxBuildHasher;
use trellis_plan::{
    Field, LOCAL_ADDRESS, Plan, RelId, RelationKind, Rows, RuleId, Semantics, Step, Strand,
};
use trellis_value::Value;

use crate::eval::{
    Ctx, Deltas, NodeEnv, RuleError, Sink, WRITE_BATCH, Write, admit_lattices, drop_noop_writes,
    emit_groups, eval, exec, matches, prefetch_probes, read_registers,
};
use crate::provenance::{Capture, Cause, Derivation, ExecId, tuple_id};
use crate::rounds::{EventSet, Round, Rounds};
use crate::stats::Stats;
use crate::table::{Insert, Table};
use crate::{Output, Problem, Record, RecordKind, Sends, Time, Tuple};

mod p2;
mod why_not;

pub use why_not::{Blocked, RuleAbsence, RuleWhyNot, WhyNot, why_not};

/// How one node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The node's address, `host:port`; also `LOCALADDRESS`.
    pub address: String,
    /// Seed of the node's random source (`f_rand`, `periodic`'s E, ...).
    pub seed: u64,
    /// Values of the plan's other node parameters (e.g. `NODEID`; see
    /// [`NodeParams`](crate::NodeParams) for the defaults every driver uses).
    pub params: BTreeMap<String, Value>,
    /// Ticks at one clock instant before a cascade is stopped (5.9).
    pub max_ticks_per_instant: u32,
    /// Derivations one tick may make (events, writes and sends derived, and
    /// aggregate inputs) before its fixpoint is stopped (5.9).
    pub max_derivations_per_tick: usize,
}

impl NodeConfig {
    pub fn new(address: impl Into<String>, seed: u64) -> NodeConfig {
        NodeConfig {
            address: address.into(),
            seed,
            params: BTreeMap::new(),
            max_ticks_per_instant: 10_000,
            max_derivations_per_tick: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the program uses `{0}`, which this node was not given a value for")]
    MissingParam(String),
}

/// A received or injected tuple that the node refused (and counted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("no relation `{0}` in this program")]
    UnknownRelation(String),
    #[error("`{relation}` has {expected} fields, the tuple has {found}")]
    Arity {
        relation: String,
        expected: usize,
        found: usize,
    },
    #[error("`periodic` tuples come from the node's timers only")]
    Periodic,
    /// The tuple's location (its first field) is not one of the names this
    /// node answers to (its address and its other names, see
    /// [`Node::answer_to`]): it belongs to another node.
    #[error("the tuple is located at {location}, which is not this node ({address})")]
    NotHere { location: String, address: String },
    /// A field of a lattice column that is not of its lattice.
    #[error("field {position} of `{relation}`: {error}")]
    Lattice {
        relation: String,
        position: usize,
        error: trellis_value::LatticeError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    Fact,
    Network,
    Local,
    Injected,
}

#[derive(Debug)]
pub(crate) struct Input {
    pub relation: RelId,
    pub tuple: Tuple,
    pub delete: bool,
    pub origin: Origin,
    /// Who sent it and by which of its derivations, when known
    /// (provenance).
    pub from: Option<(Arc<str>, Option<ExecId>)>,
}

/// What taking one input left to do.
enum Taken {
    Nothing,
    /// An event for the rules.
    Event(RelId, Tuple),
    /// A table row written as a delta (a P2 fixpoint's insertion).
    Delta(RelId, Tuple),
}

#[derive(Debug, Clone, Copy)]
struct TimerState {
    next: Time,
    /// Firings left; `None` is forever.
    left: Option<u64>,
}

/// What a tick derives, in buffers the node keeps from tick to tick (a busy
/// node's ticks allocate nothing for them; a recursive query writes
/// millions of rows).
#[derive(Default)]
struct Derived {
    /// Strands' register file.
    registers: Vec<Value>,
    /// Table writes, and their fields in one flat buffer.
    writes: Vec<Write>,
    write_fields: Vec<Value>,
    sends: Sends,
    /// One round's new events.
    new_events: Vec<(RelId, Tuple)>,
    /// The most new events one round of this tick derived (how much of
    /// `new_events` to keep).
    most_new_events: usize,
    /// Provenance capture, when the node traces anything.
    capture: Option<Capture>,
}

impl Derived {
    /// Lend the buffers to a round's sink.
    fn lend(&mut self, sink: &mut Sink) {
        sink.registers = std::mem::take(&mut self.registers);
        sink.writes = std::mem::take(&mut self.writes);
        sink.write_fields = std::mem::take(&mut self.write_fields);
        sink.sends = std::mem::take(&mut self.sends);
        sink.new_events = std::mem::take(&mut self.new_events);
        sink.capture = self.capture.take();
        if let Some(c) = &mut sink.capture {
            // Tables may have changed since the last round.
            c.ids.forget();
        }
        sink.checked = sink.writes.len();
    }

    /// Take the buffers back after the round; the round's runtime errors.
    fn take_back(&mut self, sink: Sink) -> Vec<(u32, RuleError)> {
        let Sink {
            new_events,
            writes,
            write_fields,
            sends,
            errors,
            registers,
            capture,
            ..
        } = sink;
        self.capture = capture;
        self.registers = registers;
        self.writes = writes;
        self.write_fields = write_fields;
        self.sends = sends;
        self.new_events = new_events;
        errors
    }
}

/// What one tick keeps track of while it runs.
#[derive(Default)]
struct Tick {
    /// Relations that got events (their sets are cleared at the end).
    touched: Vec<RelId>,
    /// Per rule: whether it fired (named when a cascade is stopped).
    fired: Vec<bool>,
    errors: Vec<(u32, RuleError)>,
    /// The derivation bound stopped the fixpoint.
    bound_hit: bool,
}

/// One node running a plan. See the crate docs for how drivers use it.
pub struct Node {
    plan: Arc<Plan>,
    address: Arc<str>,
    /// Other names this node answers to (an alias, the literal form of its
    /// listen address): a received tuple located at one is this node's.
    other_names: Vec<Arc<str>>,
    params: Vec<Value>,
    env: NodeEnv,
    tables: Vec<Option<Table>>,
    events: Vec<EventSet>,
    inbox: Vec<Input>,
    timers: Vec<TimerState>,
    started: bool,
    /// The latest time the node was stepped at.
    clock: Time,
    tick: u64,
    /// The last tick's writes made deltas: the next tick runs at once.
    deltas_pending: bool,
    ticks_at_instant: u32,
    last_tick_time: Option<Time>,
    rules_last_tick: Vec<RuleId>,
    stats: Stats,
    config: NodeConfig,
    /// What ticks derive, in buffers kept from tick to tick.
    derived: Derived,
    /// The tick's distinct sends, by index into `sends`.
    distinct_sends: HashTable<u32>,
    /// Per relation: the (rule, strand) pairs its new events trigger.
    triggers: Vec<Vec<(RuleId, usize)>>,
    /// Per rule: the registers something reads.
    read: Vec<Vec<bool>>,
    /// Per relation: whether some rule's body reads it.
    read_by_rules: Vec<bool>,
    /// Per table: the strands of localization stages that ship its rows
    /// into a generated table, run again when a row is removed.
    retractors: Vec<Vec<(RuleId, usize)>>,
    /// What P2 semantics keeps between fixpoints (idle in tick semantics).
    p2: p2::State,
    /// Derivations of this tick's inputs already in the output.
    traced_this_tick: usize,
}

impl Node {
    pub fn new(plan: Arc<Plan>, config: NodeConfig) -> Result<Node, ConfigError> {
        let address: Arc<str> = Arc::from(config.address.as_str());
        let params = plan
            .node_params
            .iter()
            .map(|p| {
                if p == LOCAL_ADDRESS {
                    Ok(Value::Str(address.clone()))
                } else {
                    config
                        .params
                        .get(p)
                        .cloned()
                        .ok_or_else(|| ConfigError::MissingParam(p.clone()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tables = plan
            .relations
            .iter()
            .map(|r| match &r.kind {
                RelationKind::Table(spec) => Some(Table::new(spec.clone(), r.arity, &r.indexes)),
                _ => None,
            })
            .collect();
        let events = plan.relations.iter().map(|_| EventSet::default()).collect();
        let mut triggers = vec![Vec::new(); plan.relations.len()];
        let mut retractors = vec![Vec::new(); plan.relations.len()];
        for rule in &plan.rules {
            for (i, strand) in rule.strands.iter().enumerate() {
                if let Some(t) = strand.trigger {
                    triggers[rule.body[t].relation.0 as usize].push((rule.id, i));
                    if rule.retract {
                        retractors[rule.body[t].relation.0 as usize].push((rule.id, i));
                    }
                }
            }
        }
        let read = plan.rules.iter().map(read_registers).collect();
        let mut read_by_rules = vec![false; plan.relations.len()];
        for atom in plan.rules.iter().flat_map(|r| &r.body) {
            read_by_rules[atom.relation.0 as usize] = true;
        }
        let plan_for_p2 = plan.clone();
        let derived = Derived {
            capture: Capture::new(&plan, address.clone()),
            ..Derived::default()
        };
        Ok(Node {
            stats: Stats::new(&plan),
            env: NodeEnv::new(config.seed),
            plan,
            address,
            other_names: Vec::new(),
            params,
            tables,
            events,
            inbox: Vec::new(),
            timers: Vec::new(),
            started: false,
            clock: 0,
            tick: 0,
            deltas_pending: false,
            ticks_at_instant: 0,
            last_tick_time: None,
            rules_last_tick: Vec::new(),
            config,
            read,
            derived,
            distinct_sends: HashTable::new(),
            triggers,
            read_by_rules,
            retractors,
            p2: p2::State::new(&plan_for_p2),
            traced_this_tick: 0,
        })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The node's address as the one string its own tuples share (a driver
    /// that decodes frames can make received copies the same string).
    pub fn shared_address(&self) -> &Arc<str> {
        &self.address
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Make `name` another name of this node: a received or injected tuple
    /// located there is taken as located at [`Node::address`] (its location
    /// rewritten to the address), where any other location is refused.
    pub fn answer_to(&mut self, name: &str) {
        if name != &*self.address && !self.other_names.iter().any(|n| &**n == name) {
            self.other_names.push(Arc::from(name));
        }
    }

    /// The names this node answers to: its address first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&*self.address).chain(self.other_names.iter().map(|n| &**n))
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The current tick number (0 before the first tick).
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// The rows of a table, in storage order; `None` if `name` is not a table.
    pub fn table(&self, name: &str) -> Option<Vec<Tuple>> {
        let rel = self.plan.lookup(name)?;
        let table = self.tables[rel.0 as usize].as_ref()?;
        Some(table.rows().map(|r| Tuple::from(r.fields)).collect())
    }

    /// Install the facts addressed to this node and start the timers. The
    /// first tick is due at `now`.
    pub fn start(&mut self, now: Time) {
        if self.started {
            return;
        }
        self.started = true;
        self.clock = now;
        let plan = self.plan.clone();
        for fact in &plan.facts {
            let fields: Vec<Value> = fact
                .fields
                .iter()
                .map(|e| eval(e, &[], &self.params, &mut self.env).expect("facts are constants"))
                .collect();
            if fields.first().and_then(value_str) != Some(&*self.address) {
                continue;
            }
            self.inbox.push(Input {
                relation: fact.relation,
                tuple: Tuple::from(fields),
                delete: false,
                origin: Origin::Fact,
                from: None,
            });
        }
        self.timers = plan
            .timers
            .iter()
            .map(|t| TimerState {
                next: now + t.period_nanos,
                left: (t.count > 0).then_some(t.count),
            })
            .collect();
    }

    /// A tuple from the network, for the next tick.
    pub fn receive(
        &mut self,
        relation: &str,
        tuple: Tuple,
        delete: bool,
    ) -> Result<(), InputError> {
        let rel = self.resolve(relation)?;
        self.accept(rel, tuple, delete, Origin::Network, None)
    }

    /// A tuple from the network whose relation the driver already resolved
    /// (with [`Plan::lookup`]).
    pub fn receive_id(
        &mut self,
        relation: RelId,
        tuple: Tuple,
        delete: bool,
    ) -> Result<(), InputError> {
        self.accept(relation, tuple, delete, Origin::Network, None)
    }

    /// A tuple from the network sent by `from`, which made it by its
    /// derivation `derivation` when it traced it (the frame's reference):
    /// the tuple's provenance leads back there.
    pub fn receive_from(
        &mut self,
        relation: RelId,
        tuple: Tuple,
        delete: bool,
        from: &Arc<str>,
        derivation: Option<ExecId>,
    ) -> Result<(), InputError> {
        let from = Some((from.clone(), derivation));
        self.accept(relation, tuple, delete, Origin::Network, from)
    }

    /// A tuple injected by the user (`--fact`, `trellis inject`), for the
    /// next tick.
    pub fn inject(&mut self, relation: &str, tuple: Tuple) -> Result<(), InputError> {
        let rel = self.resolve(relation)?;
        self.accept(rel, tuple, false, Origin::Injected, None)
    }

    fn resolve(&mut self, relation: &str) -> Result<RelId, InputError> {
        self.plan.lookup(relation).ok_or_else(|| {
            self.stats.dropped_inputs += 1;
            InputError::UnknownRelation(relation.to_string())
        })
    }

    fn accept(
        &mut self,
        rel: RelId,
        tuple: Tuple,
        delete: bool,
        origin: Origin,
        from: Option<(Arc<str>, Option<ExecId>)>,
    ) -> Result<(), InputError> {
        let r = self.plan.relation(rel);
        let refused = if r.kind == RelationKind::Periodic {
            Some(InputError::Periodic)
        } else if !r.fits(tuple.len()) {
            Some(InputError::Arity {
                relation: r.name.to_string(),
                expected: r.arity,
                found: tuple.len(),
            })
        } else {
            None
        };
        if let Some(e) = refused {
            self.stats.dropped_inputs += 1;
            return Err(e);
        }
        let mut tuple = self.locate(tuple).inspect_err(|_| {
            self.stats.dropped_inputs += 1;
        })?;
        if !delete
            && let RelationKind::Table(spec) = &r.kind
            && !spec.lattices.is_empty()
        {
            let mut fields = tuple.to_vec();
            if let Err((position, error)) = admit_lattices(spec, &mut fields) {
                self.stats.dropped_inputs += 1;
                return Err(InputError::Lattice {
                    relation: r.name.to_string(),
                    position,
                    error,
                });
            }
            tuple = Tuple::from(&fields[..]);
        }
        self.inbox.push(Input {
            relation: rel,
            tuple,
            delete,
            origin,
            from,
        });
        Ok(())
    }

    /// A received or injected tuple as this node keeps it: located at its
    /// address (a tuple located at another of its names is rewritten so,
    /// so that joins on the location see one node); one located elsewhere
    /// is refused, so no sender can plant rows of another node here.
    fn locate(&self, tuple: Tuple) -> Result<Tuple, InputError> {
        let location = tuple.first().and_then(value_str);
        if let Some(Value::Str(s)) = tuple.first()
            && (Arc::ptr_eq(s, &self.address) || **s == *self.address)
        {
            return Ok(tuple);
        }
        if let Some(name) = location
            && self.other_names.iter().any(|n| **n == *name)
        {
            let mut fields = tuple.to_vec();
            fields[0] = Value::Str(self.address.clone());
            return Ok(Tuple::from(fields));
        }
        Err(InputError::NotHere {
            location: tuple
                .first()
                .map_or_else(|| "nowhere".to_string(), Value::literal),
            address: self.address.to_string(),
        })
    }

    /// When the node next has work: now (inputs or deltas waiting), the next
    /// timer or row expiry, or never.
    pub fn next_wakeup(&self) -> Option<Time> {
        if !self.started {
            return None;
        }
        if !self.inbox.is_empty() || self.deltas_pending || self.p2.has_work() {
            return Some(self.clock);
        }
        let timer = self
            .timers
            .iter()
            .filter(|t| t.left != Some(0))
            .map(|t| t.next)
            .min();
        timer.into_iter().chain(self.next_expiry()).min()
    }

    /// When a row next expires: its tick removes it and reports it then,
    /// for watchers and table dumps (rules never see expired rows anyway).
    fn next_expiry(&self) -> Option<Time> {
        self.tables
            .iter()
            .flatten()
            .filter_map(Table::next_expiry)
            .min()
    }

    /// Run one tick if one is due at `now`; returns whether it ran. Drivers
    /// call it until it returns false, then sleep until [`Node::next_wakeup`].
    pub fn step(&mut self, now: Time, out: &mut Output) -> bool {
        if !self.started {
            return false;
        }
        let now = now.max(self.clock);
        self.clock = now;
        if self.plan.semantics == Semantics::P2 {
            return self.step_p2(now, out);
        }
        let timer_due = self
            .timers
            .iter()
            .any(|t| t.left != Some(0) && t.next <= now);
        if self.inbox.is_empty()
            && !self.deltas_pending
            && !timer_due
            && self.next_expiry().is_none_or(|t| t > now)
        {
            return false;
        }
        if self.last_tick_time == Some(now) {
            self.ticks_at_instant += 1;
        } else {
            self.ticks_at_instant = 1;
        }
        if self.ticks_at_instant > self.config.max_ticks_per_instant {
            self.stop_cascade(now, out);
            return false;
        }
        self.run_tick(now, out);
        true
    }

    /// 5.9: too many ticks at one instant. Drop the pending deltas and the
    /// tuples the node sent itself, report the rules, carry on.
    fn stop_cascade(&mut self, now: Time, out: &mut Output) {
        self.deltas_pending = false;
        // Skipping a tick number makes the pending deltas old rows.
        self.tick += 1;
        self.inbox.retain(|i| i.origin != Origin::Local);
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

    fn record(&self, out: &mut Output, kind: RecordKind, relation: RelId, tuple: &Tuple) {
        self.record_with(out, kind, relation, || tuple.clone());
    }

    /// Record what `tuple` makes, if `kind` records of `relation` are
    /// watched (a send's tuple is made only then).
    fn record_with(
        &self,
        out: &mut Output,
        kind: RecordKind,
        relation: RelId,
        tuple: impl FnOnce() -> Tuple,
    ) {
        let watched = self
            .plan
            .relation(relation)
            .watch
            .is_some_and(|w| kind.watched_by(&w));
        if watched {
            out.records.push(Record {
                time: self.clock,
                tick: self.tick,
                kind,
                relation,
                tuple: tuple(),
            });
        }
    }

    /// One tick, phase by phase (docs/language.md §5.1-§5.6).
    fn run_tick(&mut self, now: Time, out: &mut Output) {
        self.tick += 1;
        self.stats.ticks += 1;
        self.last_tick_time = Some(now);
        self.env.now = now;
        self.deltas_pending = false;
        let mut tick = Tick::default();
        self.expire(now, out);
        self.take_inputs(now, &mut tick, out);
        self.fire_timers(now, &mut tick, out);
        self.fixpoint(&mut tick, out);
        self.report(now, &mut tick, out);
        self.apply_writes(now, out);
        self.trace(now, out);
        self.send(out);
        self.end_tick(&tick);
    }

    /// Expiry, before anything else: rules never see an expired row.
    fn expire(&mut self, now: Time, out: &mut Output) {
        let mut removed = Vec::new();
        for i in 0..self.tables.len() {
            let Some(table) = &mut self.tables[i] else {
                continue;
            };
            table.expire(now, &mut removed);
            for tuple in removed.drain(..) {
                self.stats.relations[i].expirations += 1;
                self.record(out, RecordKind::Delete, RelId(i as u32), &tuple);
            }
        }
    }

    /// Inputs: table tuples are written now (deltas of this tick), events
    /// join this tick's event sets as round 0.
    fn take_inputs(&mut self, now: Time, tick: &mut Tick, out: &mut Output) {
        // Drained rather than dropped: the next tick's inputs reuse it.
        let mut inbox = std::mem::take(&mut self.inbox);
        let received = inbox.len();
        for input in inbox.drain(..) {
            if let Taken::Event(rel, tuple) = self.take_input(input, now, out) {
                self.add_event(rel, tuple, 0, tick, out);
            }
        }
        self.inbox = recycle_drained(inbox, received);
    }

    /// One input: a table tuple is written now, stamped with this tick; an
    /// event is handed back unless nothing reads or watches it.
    fn take_input(&mut self, input: Input, now: Time, out: &mut Output) -> Taken {
        let rel = input.relation;
        if input.origin != Origin::Fact {
            self.stats.relations[rel.0 as usize].receives += 1;
            self.record(out, RecordKind::Recv, rel, &input.tuple);
        }
        if self.plan.relation(rel).traced && !input.delete {
            let cause = match (input.origin, input.from) {
                (Origin::Fact, _) => Cause::Fact,
                (Origin::Injected, _) => Cause::Injected,
                (_, Some((from, exec))) => Cause::Received {
                    from: Some(from),
                    exec,
                },
                (_, None) => Cause::Received {
                    from: None,
                    exec: None,
                },
            };
            self.traced_input(rel, &input.tuple, cause, out);
        }
        if let Some(table) = &self.tables[rel.0 as usize] {
            if input.delete {
                self.delete_row(rel, &input.tuple, out);
                return Taken::Nothing;
            }
            let hash = table.key_hash(&input.tuple);
            let stamp = self.tick;
            if self.insert_row(rel, &mut input.tuple.to_vec(), hash, now, stamp, out) {
                return Taken::Delta(rel, self.as_stored(rel, input.tuple));
            }
            Taken::Nothing
        } else if !self.read_by_rules[rel.0 as usize]
            && !self.plan.relation(rel).watch.is_some_and(|w| w.event)
        {
            // An event no rule reads and no one watches as an event
            // (a program's output, say) has nothing to join.
            Taken::Nothing
        } else {
            Taken::Event(rel, input.tuple)
        }
    }

    /// Timers due now fire `periodic` events, round 0.
    fn fire_timers(&mut self, now: Time, tick: &mut Tick, out: &mut Output) {
        let mut fired = Vec::new();
        self.due_timers(now, &mut fired);
        let periodic = self.periodic();
        let traced = self.plan.relation(periodic).traced;
        for tuple in fired {
            if traced {
                self.traced_input(periodic, &tuple, Cause::Timer, out);
            }
            self.add_event(periodic, tuple, 0, tick, out);
        }
    }

    fn periodic(&self) -> RelId {
        self.plan
            .lookup(trellis_plan::PERIODIC)
            .expect("always declared")
    }

    /// The `periodic` tuples of the timers due now (each fires once).
    fn due_timers(&mut self, now: Time, fired: &mut Vec<Tuple>) {
        let plan = self.plan.clone();
        for (i, timer) in plan.timers.iter().enumerate() {
            let state = &mut self.timers[i];
            if state.left == Some(0) || state.next > now {
                continue;
            }
            state.next += timer.period_nanos;
            if let Some(left) = &mut state.left {
                *left -= 1;
            }
            // Never negative, as in P2: programs compute keys as `E % n`.
            let e = Value::Int(self.env.rng.random::<i64>() & i64::MAX);
            fired.push(Tuple::from(vec![
                Value::Str(self.address.clone()),
                e,
                timer.period.clone(),
                timer.count_value.clone().unwrap_or(Value::Int(0)),
            ]));
        }
    }

    /// Rules, stratum by stratum, each to a fixpoint over events
    /// (semi-naive: see [`Rounds`]). Derived writes and sends collect in
    /// the node's buffers; derived events join the tick's event sets.
    fn fixpoint(&mut self, tick: &mut Tick, out: &mut Output) {
        let plan = self.plan.clone();
        let mut derived = std::mem::take(&mut self.derived);
        let mut rounds = Rounds::new();
        tick.fired = vec![false; plan.rules.len()];
        let mut budget = self.config.max_derivations_per_tick;
        // After a stratum's first round only strands triggered by a
        // relation that just got new events can derive anything.
        let mut round_strands: Vec<(RuleId, usize)> = Vec::new();
        'strata: for (stratum_index, stratum) in plan.strata.iter().enumerate() {
            rounds.begin_stratum();
            loop {
                let mut sink = Sink::new(&mut self.env, &mut self.stats.rule_firings);
                sink.budget = budget;
                derived.lend(&mut sink);
                let ctx = Ctx {
                    plan: &plan,
                    tables: &self.tables,
                    events: &self.events,
                    params: &self.params,
                    read: &self.read,
                    tick: self.tick,
                    window: rounds.window(),
                    deltas: Deltas::Stamped,
                };
                if ctx.window.is_first() {
                    for &rid in stratum {
                        let rule = plan.rule(rid);
                        let before = sink.firings[rid.0 as usize];
                        for strand in &rule.strands {
                            run_strand(&ctx, &mut sink, rule, strand);
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
                } else {
                    for &(rid, strand) in &round_strands {
                        let rule = plan.rule(rid);
                        let before = sink.firings[rid.0 as usize];
                        run_strand(&ctx, &mut sink, rule, &rule.strands[strand]);
                        if sink.firings[rid.0 as usize] != before || sink.exhausted {
                            tick.fired[rid.0 as usize] = true;
                        }
                        if sink.exhausted {
                            break;
                        }
                    }
                }
                drop_noop_writes(&plan, &self.tables, &mut sink);
                budget = sink.budget;
                tick.bound_hit = sink.exhausted;
                tick.errors.extend(derived.take_back(sink));
                if tick.bound_hit {
                    derived.new_events.clear();
                    break 'strata;
                }
                let round = rounds.next();
                if !self.add_round(
                    &mut derived,
                    round,
                    stratum_index,
                    &mut round_strands,
                    tick,
                    out,
                ) {
                    break;
                }
                rounds.advance();
            }
        }
        self.derived = derived;
    }

    /// Add a round's derived events to the tick as `round`, and collect the
    /// strands of this stratum they trigger for the next round; false if
    /// none was new (the stratum's fixpoint is reached).
    fn add_round(
        &mut self,
        derived: &mut Derived,
        round: Round,
        stratum: usize,
        round_strands: &mut Vec<(RuleId, usize)>,
        tick: &mut Tick,
        out: &mut Output,
    ) -> bool {
        round_strands.clear();
        let mut new_events = std::mem::take(&mut derived.new_events);
        derived.most_new_events = derived.most_new_events.max(new_events.len());
        let mut added = false;
        for (rel, tuple) in new_events.drain(..) {
            if self.add_event(rel, tuple, round, tick, out) {
                added = true;
                for &(rid, strand) in &self.triggers[rel.0 as usize] {
                    if self.plan.rule(rid).stratum == stratum {
                        round_strands.push((rid, strand));
                    }
                }
            }
        }
        derived.new_events = new_events;
        round_strands.sort_unstable();
        round_strands.dedup();
        added
    }

    /// The rules that fired, a stopped tick's partial outputs dropped, and
    /// runtime errors reported.
    fn report(&mut self, now: Time, tick: &mut Tick, out: &mut Output) {
        self.rules_last_tick = tick
            .fired
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| RuleId(i as u32))
            .collect();
        if tick.bound_hit {
            // The stopped tick's outputs are partial: none of them leave it,
            // so the cascade ends here (its events were watched already).
            self.derived.writes.clear();
            self.derived.write_fields.clear();
            self.derived.sends.clear();
            if let Some(c) = &mut self.derived.capture {
                c.made.clear();
            }
            self.stats.runaways += 1;
            out.problems.push(Problem::Runaway {
                time: now,
                tick: self.tick,
                ticks: 0,
                rules: self.rules_last_tick.clone(),
            });
        }
        for (rule, error) in tick.errors.drain(..) {
            self.stats.rule_errors[rule as usize] += 1;
            out.problems.push(Problem::Eval {
                time: now,
                tick: self.tick,
                rule: RuleId(rule),
                error,
            });
        }
    }

    /// Writes, visible from the next tick: inserts, then deletes, each in
    /// evaluation order (strata, then rules in program order).
    fn apply_writes(&mut self, now: Time, out: &mut Output) {
        let plan = self.plan.clone();
        let next = self.tick + 1;
        let mut writes = std::mem::take(&mut self.derived.writes);
        let mut write_fields = std::mem::take(&mut self.derived.write_fields);
        writes.sort_by_key(|w: &Write| (plan.rule(RuleId(w.rule)).stratum, w.rule));
        let fields = |w: &Write| w.start..w.start + plan.relation(w.relation).arity;
        for batch in writes.chunks(WRITE_BATCH) {
            prefetch_probes(&self.tables, batch, |w| !w.delete);
            for w in batch.iter().filter(|w| !w.delete) {
                let tuple = &mut write_fields[fields(w)];
                self.insert_row(w.relation, tuple, w.hash, now, next, out);
            }
        }
        for w in writes.iter().filter(|w| w.delete) {
            self.delete_row(w.relation, &write_fields[fields(w)], out);
        }
        self.derived.writes = recycle(writes);
        self.derived.write_fields = recycle(write_fields);
    }

    /// An input of a traced relation came to be on this node by `cause`.
    fn traced_input(&mut self, rel: RelId, tuple: &Tuple, cause: Cause, out: &mut Output) {
        out.provenance.push(Derivation {
            time: self.clock,
            tick: self.tick,
            relation: rel,
            tuple: tuple.clone(),
            id: tuple_id(&self.plan.relation(rel).name, tuple),
            cause,
        });
        self.traced_this_tick += 1;
    }

    /// Provenance: the tick's derivations go out, and into `ruleExec` and
    /// `tupleTable` when the plan has them (rows of the next tick, as
    /// writes are), with this tick's inputs.
    fn trace(&mut self, now: Time, out: &mut Output) {
        let Some(capture) = &mut self.derived.capture else {
            return;
        };
        let inputs = out.provenance.len() - std::mem::take(&mut self.traced_this_tick);
        for m in capture.made.drain(..) {
            out.provenance.push(Derivation {
                time: now,
                tick: self.tick,
                relation: m.relation,
                tuple: m.tuple,
                id: m.id,
                cause: Cause::Rule {
                    rule: m.rule,
                    exec: m.exec,
                    inputs: m.inputs,
                    sent: m.sent,
                },
            });
        }
        let Some((rule_exec, tuple_table)) = capture.tables else {
            return;
        };
        let plan = self.plan.clone();
        let next = self.tick + 1;
        let time = Value::Float(now as f64 / crate::NANOS_PER_SECOND as f64);
        let mut rows = Vec::new();
        for d in &out.provenance[inputs..] {
            crate::provenance::derivation_rows(&plan, &self.address, d, &time, |rel, row| {
                rows.push((rel, row));
            });
        }
        for (which, mut row) in rows {
            let rel = if which { rule_exec } else { tuple_table };
            let table = self.tables[rel.0 as usize].as_ref().expect("a table");
            let hash = table.key_hash(&row);
            self.insert_row(rel, &mut row, hash, now, next, out);
        }
    }

    /// Sends: to this node itself through its inbox, else out. A tuple
    /// derived twice in one tick is sent once (derived tuples are sets).
    fn send(&mut self, out: &mut Output) {
        let mut sends = std::mem::take(&mut self.derived.sends);
        let mut repeats = Vec::new(); // indices, ascending
        // P2 sends what it derives as often as it derives it.
        if sends.len() > 1 && self.plan.semantics == Semantics::Tick {
            let hash = |j: u32| {
                let s = sends.get(j as usize);
                FxBuildHasher.hash_one((s.relation, s.fields, s.delete))
            };
            let distinct = &mut self.distinct_sends;
            distinct.clear();
            distinct.reserve(sends.len(), |&j| hash(j));
            for (i, send) in sends.iter().enumerate() {
                let entry = distinct.entry(
                    hash(i as u32),
                    |&j| sends.get(j as usize) == send,
                    |&j| hash(j),
                );
                match entry {
                    hashbrown::hash_table::Entry::Occupied(_) => repeats.push(i),
                    hashbrown::hash_table::Entry::Vacant(slot) => {
                        slot.insert(i as u32);
                    }
                }
            }
            if distinct.capacity() > 4 * sends.len().max(1024) {
                distinct.shrink_to(sends.len(), |&j| hash(j));
            }
        }
        // Repeats and sends to this node itself stay; the rest go out.
        let mut stay = repeats; // indices, ascending
        let mut repeats = std::mem::take(&mut stay).into_iter().peekable();
        for i in 0..sends.len() {
            if repeats.next_if_eq(&i).is_some() {
                stay.push(i);
                continue;
            }
            let send = sends.get(i);
            let rel = send.relation;
            self.stats.relations[rel.0 as usize].sends += 1;
            self.record_with(out, RecordKind::Send, rel, || send.tuple());
            let to = send.destination();
            if Arc::ptr_eq(to, &self.address) || *to == self.address {
                self.inbox.push(Input {
                    relation: rel,
                    tuple: send.tuple(),
                    delete: send.delete,
                    origin: Origin::Local,
                    from: Some((self.address.clone(), send.derivation)),
                });
                stay.push(i);
            }
        }
        if !stay.is_empty() {
            let mut stay = stay.into_iter().peekable();
            sends.retain(|i| stay.next_if_eq(&i).is_none());
        }
        out.sends.append(&mut sends);
        sends.recycle();
        self.derived.sends = sends;
    }

    /// The tick's events are gone; tables forget their deltas' bookkeeping.
    fn end_tick(&mut self, tick: &Tick) {
        let most = self.derived.most_new_events;
        self.derived.new_events =
            recycle_drained(std::mem::take(&mut self.derived.new_events), most);
        self.derived.most_new_events = 0;
        for rel in &tick.touched {
            self.events[rel.0 as usize].clear();
        }
        for t in self.tables.iter_mut().flatten() {
            t.compact();
        }
    }

    /// Add an event of `round` to the tick (counted, watched, and its
    /// relation remembered for the tick's end); false if the tick already
    /// has it.
    fn add_event(
        &mut self,
        rel: RelId,
        tuple: Tuple,
        round: Round,
        tick: &mut Tick,
        out: &mut Output,
    ) -> bool {
        if !self.events[rel.0 as usize].add(tuple.clone(), round) {
            return false;
        }
        tick.touched.push(rel);
        self.stats.relations[rel.0 as usize].events += 1;
        self.record(out, RecordKind::Event, rel, &tuple);
        true
    }

    /// Write a row; `hash` is its key's hash. The table may take the
    /// fields, leaving nulls. Whether the write is a delta (§5.3).
    fn insert_row(
        &mut self,
        rel: RelId,
        tuple: &mut [Value],
        hash: u64,
        now: Time,
        stamp: u64,
        out: &mut Output,
    ) -> bool {
        let i = rel.0 as usize;
        // A lattice column merges with the stored row's: the merged row is
        // what is written, watched and compared below.
        self.tables[i]
            .as_ref()
            .expect("a table")
            .merge_into(tuple, hash);
        let watch = self.plan.relation(rel).watch;
        if watch.is_some_and(|w| w.add) {
            self.record(out, RecordKind::Add, rel, &Tuple::from(&*tuple));
        }
        let watched = watch.is_some_and(|w| w.insert || w.refresh);
        let record = watched.then(|| Tuple::from(&*tuple));
        let table = self.tables[i].as_mut().expect("a table");
        // What a replaced row made is retracted: see `retract`.
        let replacing = if self.retractors[i].is_empty() {
            None
        } else {
            table
                .get_key(tuple)
                .filter(|row| *row != &*tuple)
                .map(|row| (Tuple::from(row), Tuple::from(&*tuple)))
        };
        let merges_only = table.spec.merges_only(self.plan.relation(rel).arity);
        let outcome = table.insert(tuple, hash, now, stamp);
        let mut evicted = Vec::new();
        table.evict(&mut evicted);
        let stats = &mut self.stats.relations[i];
        match &outcome {
            Insert::New => stats.inserts += 1,
            Insert::Replaced { previous_stamp, .. } => {
                stats.replacements += 1;
                // Merges into a lattice-only row cannot conflict.
                if *previous_stamp == stamp && stamp == self.tick + 1 && !merges_only {
                    self.stats.key_conflicts += 1;
                }
            }
            Insert::Refreshed { .. } => stats.refreshes += 1,
        }
        let delta = !matches!(outcome, Insert::Refreshed { extended: false });
        self.deltas_pending |= delta && stamp > self.tick;
        let kind = match outcome {
            Insert::Refreshed { .. } => RecordKind::Refresh,
            _ => RecordKind::Insert,
        };
        if let Some(tuple) = record {
            self.record(out, kind, rel, &tuple);
        }
        for t in evicted {
            self.stats.relations[i].evictions += 1;
            self.record(out, RecordKind::Delete, rel, &t);
            self.retract(rel, &t, None, out);
        }
        if let Some((old, new)) = replacing {
            self.retract(rel, &old, Some(&new), out);
        }
        delta
    }

    /// A row just written, as its table holds it: with lattice fields, the
    /// merge of what was written and what was there.
    pub(crate) fn as_stored(&self, rel: RelId, written: Tuple) -> Tuple {
        let table = self.tables[rel.0 as usize].as_ref().expect("a table");
        if table.spec.lattices.is_empty() {
            return written;
        }
        let row = table.get_key(&written).expect("the row was just written");
        Tuple::from(row)
    }

    fn delete_row(&mut self, rel: RelId, tuple: &[Value], out: &mut Output) {
        let i = rel.0 as usize;
        if !self.retractors[i].is_empty() {
            // While the row is still there: a stage that joins the table
            // with itself finds the pairs it made.
            let table = self.tables[i].as_ref().expect("a table");
            if let Some(row) = table.get_key(tuple).map(Tuple::from) {
                self.retract(rel, &row, None, out);
            }
        }
        // A retraction removes the shipped row only if it is still the one
        // it retracts: a later replacement may have overtaken it.
        if self.plan.relation(rel).generated
            && self.tables[i].as_ref().expect("a table").get_key(tuple) != Some(tuple)
        {
            return;
        }
        if self.plan.relation(rel).watch.is_some_and(|w| w.remove) {
            self.record(out, RecordKind::Remove, rel, &Tuple::from(tuple));
        }
        let table = self.tables[i].as_mut().expect("a table");
        if let Some(old) = table.delete_key(tuple) {
            self.stats.relations[i].deletes += 1;
            self.record(out, RecordKind::Delete, rel, &old);
        }
    }

    /// A row of `rel` is leaving (deleted, evicted, or replaced by
    /// `replacement`): the localization stages that shipped it into a
    /// generated table run over it once more and ship deletes of what it
    /// made (docs/language.md §5.7), sent with the tick's sends. A stage
    /// that reads nothing the replacement changed is skipped: the
    /// replacement ships the same rows again.
    fn retract(
        &mut self,
        rel: RelId,
        row: &[Value],
        replacement: Option<&[Value]>,
        out: &mut Output,
    ) {
        let retractors = &self.retractors[rel.0 as usize];
        if retractors.is_empty() {
            return;
        }
        let plan = &self.plan;
        let rounds = Rounds::new();
        let ctx = Ctx {
            plan,
            tables: &self.tables,
            events: &self.events,
            params: &self.params,
            read: &self.read,
            tick: self.tick,
            window: rounds.window(),
            deltas: Deltas::Stamped,
        };
        let mut sink = Sink::new(&mut self.env, &mut self.stats.rule_firings);
        sink.retracting = true;
        self.derived.lend(&mut sink);
        for &(rid, strand) in retractors {
            let rule = plan.rule(rid);
            let Some((Step::Scan { pattern, .. }, rest)) = rule.strands[strand].steps.split_first()
            else {
                unreachable!("a strand starts with a scan");
            };
            let read = &ctx.read[rid.0 as usize];
            if replacement.is_some_and(|new| reads_same(pattern, read, row, new)) {
                continue;
            }
            let mut regs = std::mem::take(&mut sink.registers);
            regs.clear();
            regs.resize(rule.var_names.len(), Value::Null);
            if matches(pattern, row, &mut regs, ctx.params, read) {
                exec(&ctx, &mut sink, rule, rest, &mut regs, true);
            }
            sink.registers = regs;
        }
        for (rule, error) in self.derived.take_back(sink) {
            self.stats.rule_errors[rule as usize] += 1;
            out.problems.push(Problem::Eval {
                time: self.clock,
                tick: self.tick,
                rule: RuleId(rule),
                error,
            });
        }
    }
}

/// An emptied buffer, holding on to about the capacity this tick needed.
fn recycle<T>(buffer: Vec<T>) -> Vec<T> {
    let used = buffer.len();
    recycle_drained(buffer, used)
}

/// The same for a buffer already emptied of its `used` elements.
fn recycle_drained<T>(mut buffer: Vec<T>, used: usize) -> Vec<T> {
    buffer.clear();
    if buffer.capacity() > 4 * used.max(1024) {
        buffer.shrink_to(2 * used);
    }
    buffer
}

fn value_str(v: &Value) -> Option<&str> {
    match v {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// Run one strand over the new tuples of its trigger (or, for an
/// aggregate, over everything).
pub(crate) fn run_strand<'t>(
    ctx: &Ctx<'t>,
    sink: &mut Sink<'_, 't>,
    rule: &trellis_plan::RulePlan,
    strand: &Strand,
) {
    let Some((
        Step::Scan {
            atom,
            rows,
            pattern,
        },
        rest,
    )) = strand.steps.split_first()
    else {
        unreachable!("a strand starts with a scan");
    };
    let rel = rule.body[*atom].relation;
    let aggregate = strand.trigger.is_none();
    let first = ctx.window.is_first();
    // Most strands have nothing new most of the time: check before setting
    // up registers. Table deltas trigger, and aggregates fold, once per
    // tick: in their stratum's first round.
    let idle = match &ctx.tables[rel.0 as usize] {
        Some(_) if aggregate => !first || !rule_has_news(ctx, rule),
        Some(table) => !first || !ctx.deltas.any(rel, table, ctx.tick),
        None if aggregate => !first || ctx.events[rel.0 as usize].tuples.is_empty(),
        None => ctx.events[rel.0 as usize].new_in(ctx.window).is_empty(),
    };
    if idle {
        return;
    }
    sink.follow(rule);
    // One register file, reused across strands.
    let mut regs = std::mem::take(&mut sink.registers);
    regs.clear();
    regs.resize(rule.var_names.len(), Value::Null);
    let read = &ctx.read[rule.id.0 as usize];
    match &ctx.tables[rel.0 as usize] {
        Some(table) if aggregate => {
            for row in table.rows() {
                let fresh = ctx.deltas.is_new(rel, &row, ctx.tick);
                if *rows == Rows::Old && fresh {
                    continue;
                }
                if matches(pattern, row.fields, &mut regs, ctx.params, read) {
                    let pushed = sink.push_input(*atom, rel, row.fields);
                    exec(ctx, sink, rule, rest, &mut regs, fresh);
                    sink.pop_input(pushed);
                    if sink.exhausted {
                        break;
                    }
                }
            }
        }
        Some(table) => match ctx.deltas {
            Deltas::Stamped => {
                for row in table.deltas(ctx.tick) {
                    if matches(pattern, row.fields, &mut regs, ctx.params, read) {
                        let pushed = sink.push_input(*atom, rel, row.fields);
                        exec(ctx, sink, rule, rest, &mut regs, true);
                        sink.pop_input(pushed);
                        if sink.exhausted {
                            break;
                        }
                    }
                }
            }
            Deltas::Row(row) => {
                if let Some((_, fields)) = row.filter(|(r, _)| *r == rel)
                    && matches(pattern, fields, &mut regs, ctx.params, read)
                {
                    let pushed = sink.push_input(*atom, rel, fields);
                    exec(ctx, sink, rule, rest, &mut regs, true);
                    sink.pop_input(pushed);
                }
            }
        },
        None => {
            let events = &ctx.events[rel.0 as usize];
            let visible = if aggregate {
                events.seen_in(ctx.window)
            } else {
                events.new_in(ctx.window)
            };
            for (tuple, _) in visible {
                if matches(pattern, tuple, &mut regs, ctx.params, read) {
                    let pushed = sink.push_input(*atom, rel, tuple);
                    exec(ctx, sink, rule, rest, &mut regs, true);
                    sink.pop_input(pushed);
                    if sink.exhausted {
                        break;
                    }
                }
            }
        }
    }
    sink.registers = regs;
}

/// Do two rows look the same to a scan pattern: equal in every column it
/// tests or binds into a register something reads?
fn reads_same(pattern: &[Field], read: &[bool], a: &[Value], b: &[Value]) -> bool {
    pattern
        .iter()
        .zip(a.iter().zip(b))
        .all(|(f, (a, b))| match f {
            Field::Any => true,
            Field::Bind(r) if !read[*r as usize] => true,
            _ => a == b,
        })
}

fn rule_has_news(ctx: &Ctx, rule: &trellis_plan::RulePlan) -> bool {
    rule.body
        .iter()
        .filter(|a| !a.negated)
        .any(|a| match &ctx.tables[a.relation.0 as usize] {
            Some(t) => ctx.deltas.any(a.relation, t, ctx.tick),
            None => !ctx.events[a.relation.0 as usize].tuples.is_empty(),
        })
}
