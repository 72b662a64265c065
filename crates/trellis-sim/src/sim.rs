//! The discrete-event loop: many engines, one virtual clock, one queue.
//!
//! Determinism: every queue entry is ordered by (time, class, target node,
//! source node, sequence), where nodes are numbered by their
//! position in the scenario (never by where they sit in memory); every node
//! and every sender has its own random stream seeded from (seed, address,
//! incarnation). So a run is a function of (program, scenario, seed), and
//! the order nodes are stored in cannot change it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Pareto};
use rustc_hash::FxHasher;
use trellis_engine::{Node, NodeConfig, Output, Problem, Record, RecordKind, Time, Tuple};
use trellis_plan::{Channel, Plan, RelId, WatchModes};
use trellis_syntax::ast::{ExprKind, Statement};
use trellis_syntax::{ParseOptions, SourceMap};
use trellis_value::{Id, Value};
use trellis_wire::Sizer;

use crate::measure::Measurements;
use crate::network::{Fate, NetworkModel};
use crate::scenario::{Action, ChurnModel, NodeRef, Scenario};
use crate::{SimError, Stats};

pub const NANOS: f64 = 1e9;

fn to_time(seconds: f64) -> Time {
    (seconds.max(0.0) * NANOS) as Time
}

/// Parameters every simulated node gets unless the scenario or `-D` says
/// otherwise.
pub const DEFAULT_PARAMS: [(&str, &str); 2] = [("LANDMARK", "first"), ("NODEID", "sha1")];

/// The parse options a program needs to run in this scenario: its defines,
/// and the per-node parameters (`NODEID`, `LANDMARK`, ...).
pub fn parse_options(scenario: &Scenario, defines: &[(String, String)]) -> ParseOptions {
    let mut all: BTreeMap<String, String> = scenario.defines.clone();
    for (k, v) in defines {
        all.insert(k.clone(), v.clone());
    }
    let mut params: Vec<String> = DEFAULT_PARAMS.iter().map(|(k, _)| k.to_string()).collect();
    for k in scenario.params.keys() {
        if !params.contains(k) {
            params.push(k.clone());
        }
    }
    ParseOptions {
        defines: all.into_iter().collect(),
        node_params: params,
    }
}

/// Sees what happens, as it happens (the CLI prints and draws progress).
pub trait Observer {
    /// A watch record of a relation the program watches.
    fn record(&mut self, _plan: &Plan, _node: &str, _record: &Record) {}
    fn problem(&mut self, _plan: &Plan, _node: &str, _problem: &Problem) {}
    /// Called about once per virtual second.
    fn progress(&mut self, _now: Time, _end: Time) {}
    /// A trace-hash checkpoint.
    fn checkpoint(&mut self, _now: Time, _hash: u64) {}
}

/// An observer that sees nothing.
pub struct Quiet;
impl Observer for Quiet {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Scenario,
    Churn,
    Start,
    Deliver,
    Workload,
    Wake,
    Checkpoint,
    RingCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: Time,
    /// At one instant: scenario actions first, then churn, starts,
    /// deliveries, workloads, and wake-ups last.
    class: Class,
    target: u32,
    source: u32,
    seq: u64,
}

#[derive(Debug)]
enum Payload {
    Scenario(usize),
    SessionEnd,
    Rejoin,
    Start,
    Deliver(Arc<[SentTuple]>),
    Workload(usize),
    Wake(u32),
    Checkpoint,
    RingCheck,
}

struct Entry(Key, Payload);

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

struct SimNode {
    index: u32,
    address: Arc<str>,
    params: BTreeMap<String, Value>,
    node: Option<Node>,
    incarnation: u32,
    /// The wake-up already queued for this node, if any.
    wake: Option<Time>,
    /// The sender's random stream (network fates).
    rng: ChaCha8Rng,
    sent: u64,
    /// Position in `Simulation::live`, when alive.
    live_pos: Option<usize>,
}

/// A template tuple from a scenario (`lookup(@ADDR, RANDID, ADDR, SEQ)`).
struct Template {
    relation: String,
    fields: Vec<TemplateField>,
}

enum TemplateField {
    Value(Value),
    Addr,
    RandId,
    Seq,
    Now,
}

/// A tuple in a frame: its relation, fields, and whether it deletes.
type SentTuple = (RelId, Tuple, bool);

pub struct Simulation {
    plan: Arc<Plan>,
    /// Watch modes as the program wrote them (what gets printed); the plan
    /// itself watches more, for measurements.
    printed: Vec<Option<WatchModes>>,
    scenario: Scenario,
    nodes: Vec<SimNode>,
    /// Scenario index -> storage index.
    slot: Vec<usize>,
    live: Vec<u32>,
    queue: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    now: Time,
    end: Time,
    seed: u64,
    net: NetworkModel,
    rng: ChaCha8Rng,
    templates: Vec<Template>,
    event_templates: BTreeMap<usize, Template>,
    sizer: Sizer,
    trace: u64,
    pub stats: Stats,
    measurements: Measurements,
    checkpoint_every: Option<Time>,
    out: Output,
    ring: Option<RingState>,
    /// The parameter holding ring identifiers, with a `[ring]`.
    ring_id: Option<String>,
    /// Per link, when its last frame on a reliable channel arrives.
    fifo: rustc_hash::FxHashMap<(u32, u32), Time>,
    /// The engine counters of crashed incarnations (a live node keeps its
    /// own).
    retired: trellis_engine::Stats,
}

/// What the simulator knows about a ring of identifiers: every live node's
/// identifier, hence the true successor of any key.
pub struct RingState {
    successor: RelId,
    field: usize,
    every: Time,
    /// Live identifiers, and the node holding each.
    live: BTreeMap<Id, u32>,
    /// (time, nodes whose successor is right, live nodes).
    pub checks: Vec<(Time, usize, usize)>,
    /// The first check at which every live node had its true successor.
    pub converged_at: Option<Time>,
}

impl RingState {
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
}

/// How to set the simulation up beyond the scenario.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Store nodes in a shuffled order (to test that storage order does not
    /// matter).
    pub shuffle_storage: bool,
    /// Print the trace hash every so many seconds (to bisect divergence).
    pub checkpoint_every: Option<f64>,
}

fn mix(trace: u64, digest: u64) -> u64 {
    (trace.rotate_left(5) ^ digest).wrapping_mul(0x517c_c1b7_2722_0a95)
}

fn seed_for(seed: u64, what: &str, address: &str, incarnation: u32) -> u64 {
    let mut h = FxHasher::default();
    seed.hash(&mut h);
    what.hash(&mut h);
    address.hash(&mut h);
    incarnation.hash(&mut h);
    h.finish()
}

impl Simulation {
    pub fn new(
        mut plan: Plan,
        scenario: Scenario,
        options: &Options,
    ) -> Result<Simulation, SimError> {
        scenario.validate()?;
        let n = scenario.simulation.nodes;
        let seed = scenario.simulation.seed;
        let printed: Vec<Option<WatchModes>> = plan.relations.iter().map(|r| r.watch).collect();
        let measurements = Measurements::new(&scenario.measures, &plan)?;
        for rel in measurements.relations() {
            plan.relations[rel.0 as usize].watch = Some(WatchModes::ALL);
        }
        let plan = Arc::new(plan);
        let net = NetworkModel::new(&scenario.network, n)?;
        let addresses: Vec<Arc<str>> = (0..n)
            .map(|i| Arc::from(scenario.simulation.address.replace("{i}", &i.to_string())))
            .collect();
        let mut params_spec: BTreeMap<String, String> = DEFAULT_PARAMS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        params_spec.extend(scenario.params.clone());
        let mut param_rng = ChaCha8Rng::seed_from_u64(seed_for(seed, "params", "", 0));
        let mut nodes: Vec<SimNode> = Vec::with_capacity(n);
        for (i, address) in addresses.iter().enumerate() {
            let mut params = BTreeMap::new();
            for (name, how) in &params_spec {
                if !plan.node_params.contains(name) {
                    continue;
                }
                let v = match how.as_str() {
                    "sha1" => Value::Id(trellis_value::sha1_id(address)),
                    "random" => Value::Id(random_id(&mut param_rng)),
                    "first" => Value::Str(addresses[0].clone()),
                    "address" => Value::Str(address.clone()),
                    "index" => Value::Int(i as i64),
                    other => {
                        return Err(SimError::Param {
                            name: name.clone(),
                            value: other.to_string(),
                        });
                    }
                };
                params.insert(name.clone(), v);
            }
            nodes.push(SimNode {
                index: i as u32,
                address: address.clone(),
                params,
                node: None,
                incarnation: 0,
                wake: None,
                rng: ChaCha8Rng::seed_from_u64(seed_for(seed, "net", address, 0)),
                sent: 0,
                live_pos: None,
            });
        }
        if options.shuffle_storage {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
            for i in (1..nodes.len()).rev() {
                let j = rng.random_range(0..=i);
                nodes.swap(i, j);
            }
        }
        let mut slot = vec![0; n];
        for (s, node) in nodes.iter().enumerate() {
            slot[node.index as usize] = s;
        }
        let templates = scenario
            .workloads
            .iter()
            .map(|w| Template::parse(&w.tuple, &scenario))
            .collect::<Result<Vec<_>, _>>()?;
        let mut event_templates = BTreeMap::new();
        for (i, e) in scenario.events.iter().enumerate() {
            if let Action::Inject { tuple, .. } = &e.action {
                event_templates.insert(i, Template::parse(tuple, &scenario)?);
            }
        }
        let end = to_time(scenario.simulation.duration);
        let ring = match &scenario.ring {
            None => None,
            Some(r) => {
                let rel = plan.lookup(&r.successor.relation).ok_or_else(|| {
                    SimError::Ring(format!(
                        "the program has no relation `{}`",
                        r.successor.relation
                    ))
                })?;
                let arity = plan.relation(rel).arity;
                if r.successor.field == 0 || r.successor.field > arity {
                    return Err(SimError::Ring(format!(
                        "field {} is out of range: `{}` has {arity} fields",
                        r.successor.field, r.successor.relation
                    )));
                }
                if !plan.node_params.contains(&r.id) {
                    return Err(SimError::Ring(format!(
                        "the program does not use the parameter `{}` that holds ring identifiers",
                        r.id
                    )));
                }
                if nodes
                    .iter()
                    .any(|n| !matches!(n.params.get(&r.id), Some(Value::Id(_))))
                {
                    return Err(SimError::Ring(format!(
                        "params.{} must give every node an ID (\"sha1\" or \"random\")",
                        r.id
                    )));
                }
                Some(RingState {
                    successor: rel,
                    field: r.successor.field - 1,
                    every: to_time(r.check_every).max(1),
                    live: BTreeMap::new(),
                    checks: Vec::new(),
                    converged_at: None,
                })
            }
        };
        let ring_id = scenario.ring.as_ref().map(|r| r.id.clone());
        let mut sim = Simulation {
            stats: Stats::new(&plan, n),
            retired: trellis_engine::Stats::new(&plan),
            plan,
            printed,
            nodes,
            slot,
            live: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            now: 0,
            end,
            seed,
            net,
            rng: ChaCha8Rng::seed_from_u64(seed_for(seed, "sim", "", 0)),
            templates,
            event_templates,
            sizer: Sizer::default(),
            trace: 0,
            measurements,
            checkpoint_every: options.checkpoint_every.map(to_time).filter(|t| *t > 0),
            out: Output::default(),
            ring,
            ring_id,
            fifo: Default::default(),
            scenario,
        };
        sim.schedule_initial();
        Ok(sim)
    }

    fn push(&mut self, time: Time, target: u32, class: Class, source: u32, payload: Payload) {
        self.seq += 1;
        // The sequence breaks ties only between entries of one source
        // (per-source order is itself deterministic).
        self.queue.push(Reverse(Entry(
            Key {
                time,
                class,
                target,
                source,
                seq: self.seq,
            },
            payload,
        )));
    }

    fn schedule_initial(&mut self) {
        let interval = to_time(self.scenario.simulation.start_interval);
        for i in 0..self.nodes.len() as u32 {
            self.push(interval * i as u64, i, Class::Start, i, Payload::Start);
        }
        let events: Vec<Time> = self.scenario.events.iter().map(|e| to_time(e.at)).collect();
        for (i, at) in events.into_iter().enumerate() {
            self.push(
                at,
                u32::MAX,
                Class::Scenario,
                i as u32,
                Payload::Scenario(i),
            );
        }
        let workloads: Vec<Time> = self
            .scenario
            .workloads
            .iter()
            .map(|w| to_time(w.start))
            .collect();
        for (i, at) in workloads.into_iter().enumerate() {
            self.push(
                at,
                u32::MAX,
                Class::Workload,
                i as u32,
                Payload::Workload(i),
            );
        }
        if let Some(c) = self.scenario.churn.clone() {
            let start = to_time(c.start);
            for i in 0..self.nodes.len() {
                if c.exempt.contains(&i) {
                    continue;
                }
                let session = self.session_time();
                self.push(
                    start + session,
                    i as u32,
                    Class::Churn,
                    i as u32,
                    Payload::SessionEnd,
                );
            }
        }
        if let Some(every) = self.checkpoint_every {
            self.push(every, u32::MAX, Class::Checkpoint, 0, Payload::Checkpoint);
        }
        if let Some(every) = self.ring.as_ref().map(|r| r.every) {
            self.push(every, u32::MAX, Class::RingCheck, 0, Payload::RingCheck);
        }
    }

    fn session_time(&mut self) -> Time {
        let c = self.scenario.churn.as_ref().expect("churn is configured");
        let seconds = match c.model {
            ChurnModel::Exponential => Exp::new(std::f64::consts::LN_2 / c.median_session)
                .expect("validated positive")
                .sample(&mut self.rng),
            ChurnModel::Pareto => {
                let scale = c.median_session / 2f64.powf(1.0 / c.shape);
                Pareto::new(scale, c.shape)
                    .expect("validated positive")
                    .sample(&mut self.rng)
            }
        };
        to_time(seconds).max(1)
    }

    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    pub fn address(&self, index: usize) -> &str {
        &self.nodes[self.slot[index]].address
    }

    pub fn live_count(&self) -> usize {
        self.live.len()
    }

    /// Every node's engine counters added up (ticks, runtime errors by
    /// rule, key conflicts, ...), crashed incarnations included.
    pub fn engine_stats(&self) -> trellis_engine::Stats {
        let mut total = self.retired.clone();
        for sn in &self.nodes {
            if let Some(node) = &sn.node {
                total.add(node.stats());
            }
        }
        total
    }

    /// The rows of a table at a node (scenario index), if it is alive.
    pub fn table(&self, index: usize, name: &str) -> Option<Vec<Tuple>> {
        self.nodes[self.slot[index]].node.as_ref()?.table(name)
    }

    /// The node's engine, if it is alive.
    pub fn node(&self, index: usize) -> Option<&Node> {
        self.nodes[self.slot[index]].node.as_ref()
    }

    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn measurements(&self) -> &Measurements {
        &self.measurements
    }

    pub fn ring(&self) -> Option<&RingState> {
        self.ring.as_ref()
    }

    /// How many live nodes hold their true successor.
    fn check_ring(&mut self) {
        let Some(ring) = &self.ring else { return };
        let name = &self.plan.relation(ring.successor).name;
        let mut right = 0;
        for (id, &i) in &ring.live {
            let Some(node) = self.nodes[self.slot[i as usize]].node.as_ref() else {
                continue;
            };
            let truth = ring.next_after(id);
            let held = node.table(name).unwrap_or_default();
            if held
                .iter()
                .any(|t| matches!(&t[ring.field], Value::Id(s) if Some(*s) == truth))
            {
                right += 1;
            }
        }
        let live = ring.live.len();
        let now = self.now;
        let ring = self.ring.as_mut().expect("checked above");
        ring.checks.push((now, right, live));
        if right == live && live > 0 && ring.converged_at.is_none() {
            ring.converged_at = Some(now);
        }
    }

    /// Run until the scenario's duration.
    pub fn run(&mut self, observer: &mut dyn Observer) {
        let end = self.end;
        self.run_until(end, observer);
    }

    /// Run every entry due up to and including `until`.
    pub fn run_until(&mut self, until: Time, observer: &mut dyn Observer) {
        let mut next_progress = self.now;
        while let Some(Reverse(entry)) = self.queue.peek() {
            if entry.0.time > until {
                break;
            }
            let Reverse(Entry(key, payload)) = self.queue.pop().expect("peeked");
            self.now = key.time;
            if self.now >= next_progress {
                observer.progress(self.now, self.end);
                next_progress = self.now + NANOS as Time;
            }
            self.stats.queue_entries += 1;
            self.handle(key, payload, observer);
        }
        self.now = self.now.max(until);
        observer.progress(self.now, self.end);
    }

    fn handle(&mut self, key: Key, payload: Payload, observer: &mut dyn Observer) {
        match payload {
            Payload::Start => self.start_node(key.target as usize, observer),
            Payload::Wake(incarnation) => {
                let s = self.slot[key.target as usize];
                if self.nodes[s].incarnation == incarnation && self.nodes[s].wake == Some(key.time)
                {
                    self.nodes[s].wake = None;
                    self.step(key.target as usize, observer);
                }
            }
            Payload::Deliver(messages) => self.deliver(
                key.source as usize,
                key.target as usize,
                &messages,
                observer,
            ),
            Payload::Scenario(i) => self.scenario_event(i, observer),
            Payload::Workload(i) => self.workload(i, observer),
            Payload::SessionEnd => {
                let i = key.target as usize;
                if self.nodes[self.slot[i]].node.is_some() {
                    self.crash(i);
                    let after = to_time(self.scenario.churn.as_ref().expect("churn").rejoin_after);
                    self.push(
                        self.now + after,
                        i as u32,
                        Class::Churn,
                        i as u32,
                        Payload::Rejoin,
                    );
                }
            }
            Payload::Rejoin => {
                let i = key.target as usize;
                if self.nodes[self.slot[i]].node.is_none() {
                    self.start_node(i, observer);
                }
                let session = self.session_time();
                self.push(
                    self.now + session,
                    i as u32,
                    Class::Churn,
                    i as u32,
                    Payload::SessionEnd,
                );
            }
            Payload::RingCheck => {
                self.check_ring();
                let every = self
                    .ring
                    .as_ref()
                    .expect("scheduled only with a ring")
                    .every;
                self.push(
                    self.now + every,
                    u32::MAX,
                    Class::RingCheck,
                    0,
                    Payload::RingCheck,
                );
            }
            Payload::Checkpoint => {
                observer.checkpoint(self.now, self.trace);
                self.stats.checkpoints.push((self.now, self.trace));
                if let Some(every) = self.checkpoint_every {
                    self.push(
                        self.now + every,
                        u32::MAX,
                        Class::Checkpoint,
                        0,
                        Payload::Checkpoint,
                    );
                }
            }
        }
    }

    fn start_node(&mut self, i: usize, observer: &mut dyn Observer) {
        let s = self.slot[i];
        let sn = &mut self.nodes[s];
        if sn.node.is_some() {
            return;
        }
        sn.incarnation += 1;
        let mut config = NodeConfig::new(
            sn.address.to_string(),
            seed_for(self.seed, "node", &sn.address, sn.incarnation),
        );
        config.params = sn.params.clone();
        let limits = &self.scenario.simulation;
        if let Some(n) = limits.max_ticks_per_instant {
            config.max_ticks_per_instant = n;
        }
        if let Some(n) = limits.max_derivations_per_tick {
            config.max_derivations_per_tick = n;
        }
        let mut node = Node::new(self.plan.clone(), config)
            .expect("parameters were resolved when the simulation was built");
        node.start(self.now);
        sn.node = Some(node);
        sn.live_pos = Some(self.live.len());
        self.live.push(i as u32);
        if let (Some(ring), Some(name)) = (&mut self.ring, &self.ring_id)
            && let Some(Value::Id(id)) = sn.params.get(name)
        {
            ring.live.insert(*id, i as u32);
        }
        if sn.incarnation > 1 {
            self.stats.restarts += 1;
        }
        self.trace = mix(self.trace, 0xA11CE ^ (i as u64) << 8 ^ self.now);
        self.step(i, observer);
    }

    fn crash(&mut self, i: usize) {
        let s = self.slot[i];
        let sn = &mut self.nodes[s];
        let Some(node) = sn.node.take() else {
            return;
        };
        self.retired.add(node.stats());
        sn.wake = None;
        let pos = sn.live_pos.take().expect("a live node has a position");
        self.live.swap_remove(pos);
        if let Some(&moved) = self.live.get(pos) {
            let ms = self.slot[moved as usize];
            self.nodes[ms].live_pos = Some(pos);
        }
        self.stats.crashes += 1;
        if let (Some(ring), Some(name)) = (&mut self.ring, &self.ring_id)
            && let Some(Value::Id(id)) = self.nodes[s].params.get(name)
        {
            ring.live.remove(id);
        }
        self.trace = mix(self.trace, 0xDEAD ^ (i as u64) << 8 ^ self.now);
    }

    fn deliver(
        &mut self,
        from: usize,
        to: usize,
        messages: &[SentTuple],
        observer: &mut dyn Observer,
    ) {
        let s = self.slot[to];
        let Some(node) = self.nodes[s].node.as_mut() else {
            self.stats.frames_to_dead += 1;
            return;
        };
        let mut h = FxHasher::default();
        (self.now, from, to).hash(&mut h);
        for (rel, tuple, delete) in messages {
            (rel.0, &**tuple, delete).hash(&mut h);
            // The plan is the same everywhere, so ids resolve.
            if node.receive_id(*rel, tuple.clone(), *delete).is_err() {
                self.stats.dropped_inputs += 1;
            }
        }
        self.trace = mix(self.trace, h.finish());
        self.stats.frames_delivered += 1;
        self.step(to, observer);
    }

    /// Run a node's due ticks, route its output, and queue its next wake-up.
    fn step(&mut self, i: usize, observer: &mut dyn Observer) {
        let s = self.slot[i];
        let now = self.now;
        let mut out = std::mem::take(&mut self.out);
        {
            let Some(node) = self.nodes[s].node.as_mut() else {
                return;
            };
            while node.step(now, &mut out) {}
        }
        let address = self.nodes[s].address.clone();
        let mut h = FxHasher::default();
        for r in &out.records {
            (r.time, r.tick, r.kind as u8, r.relation.0, &*r.tuple).hash(&mut h);
            self.measurements.observe(r, now, self.ring.as_ref());
            if self.printed[r.relation.0 as usize].is_some_and(|w| mode_on(w, r.kind)) {
                observer.record(&self.plan, &address, r);
            }
        }
        for p in &out.problems {
            self.stats.problems += 1;
            observer.problem(&self.plan, &address, p);
        }
        self.trace = mix(self.trace, h.finish());
        self.route(i, &mut out);
        out.clear();
        self.out = out;
        self.schedule_wake(i);
    }

    fn schedule_wake(&mut self, i: usize) {
        let s = self.slot[i];
        let sn = &mut self.nodes[s];
        let Some(next) = sn.node.as_ref().and_then(Node::next_wakeup) else {
            return;
        };
        if sn.wake.is_some_and(|w| w <= next) {
            return;
        }
        sn.wake = Some(next);
        let inc = sn.incarnation;
        self.push(next, i as u32, Class::Wake, i as u32, Payload::Wake(inc));
    }

    /// Batch a node's sends per destination into frames and give each to the
    /// network.
    fn route(&mut self, from: usize, out: &mut Output) {
        if out.sends.is_empty() {
            return;
        }
        // Per destination, and apart for relations on a reliable channel.
        let mut frames: BTreeMap<(Arc<str>, bool), Vec<SentTuple>> = BTreeMap::new();
        for m in out.sends.iter() {
            let reliable = self.plan.relation(m.relation).channel == Some(Channel::Tcp);
            frames
                .entry((m.destination().clone(), reliable))
                .or_default()
                .push((m.relation, m.tuple(), m.delete));
        }
        out.sends.clear();
        let second = (self.now / NANOS as Time) as usize;
        let sender = self.nodes[self.slot[from]].address.clone();
        for ((dest, reliable), messages) in frames {
            let mut bytes = self.sizer.frame_overhead(&sender, false) as u64;
            for (rel, tuple, delete) in &messages {
                let name = &self.plan.relation(*rel).name;
                let len = self.sizer.message_len(name, tuple, *delete) as u64;
                bytes += len;
                self.stats.count_message(*rel, from, second, len);
            }
            self.stats.count_frame(from, second, bytes);
            let Some(to) = self.index_of(&dest) else {
                self.stats.frames_to_unknown += 1;
                continue;
            };
            let sn = &mut self.nodes[self.slot[from]];
            sn.sent += 1;
            let fate = if reliable {
                self.net.reliable_fate(from, to, &mut sn.rng)
            } else {
                self.net.fate(from, to, &mut sn.rng)
            };
            let messages: Arc<[SentTuple]> = messages.into();
            match fate {
                Fate::Cut => self.stats.frames_cut += 1,
                Fate::Lost => self.stats.frames_lost += 1,
                Fate::Deliver(first, dup) => {
                    let mut at = self.now + first;
                    if reliable {
                        // FIFO per link: never before the previous frame
                        // (the queue breaks ties in push order).
                        let last = self.fifo.entry((from as u32, to as u32)).or_default();
                        at = at.max(*last);
                        *last = at;
                    }
                    self.push(
                        at,
                        to as u32,
                        Class::Deliver,
                        from as u32,
                        Payload::Deliver(messages.clone()),
                    );
                    if let Some(d) = dup {
                        self.stats.frames_duplicated += 1;
                        self.push(
                            self.now + d,
                            to as u32,
                            Class::Deliver,
                            from as u32,
                            Payload::Deliver(messages),
                        );
                    }
                }
            }
        }
    }

    fn index_of(&self, address: &str) -> Option<usize> {
        // Addresses are the scenario's pattern with the index in place of {i}.
        let pattern = &self.scenario.simulation.address;
        let (prefix, suffix) = pattern.split_once("{i}")?;
        let digits = address.strip_prefix(prefix)?.strip_suffix(suffix)?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return None;
        }
        let i: usize = digits.parse().ok()?;
        (i < self.nodes.len()).then_some(i)
    }

    fn resolve(&mut self, node: &NodeRef) -> Option<usize> {
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

    fn scenario_event(&mut self, i: usize, observer: &mut dyn Observer) {
        let action = self.scenario.events[i].action.clone();
        self.trace = mix(self.trace, 0x5CE ^ (i as u64) << 8 ^ self.now);
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
            } => self.net.partition(&name, &groups, oneway),
            Action::Heal { name } => {
                self.net.heal(&name);
            }
        }
    }

    fn workload(&mut self, i: usize, observer: &mut dyn Observer) {
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
        let shared = (copies > 1).then(|| random_id(&mut self.rng));
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
            self.push(
                next,
                u32::MAX,
                Class::Workload,
                i as u32,
                Payload::Workload(i),
            );
        }
    }

    /// Inject a template tuple at node `i`; `RANDID` is `shared` when given.
    fn inject(
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
                    Value::Id(shared.unwrap_or_else(|| random_id(&mut self.rng)))
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
                    let mut h = FxHasher::default();
                    (self.now, i, rel.0, &*tuple).hash(&mut h);
                    self.trace = mix(self.trace, h.finish());
                }
                self.step(i, observer);
            }
            Err(_) => self.stats.dropped_inputs += 1,
        }
    }
}

fn mode_on(w: WatchModes, kind: RecordKind) -> bool {
    match kind {
        RecordKind::Insert | RecordKind::Refresh => w.insert,
        RecordKind::Delete => w.delete,
        RecordKind::Event => w.event,
        RecordKind::Send => w.send,
        RecordKind::Recv => w.receive,
    }
}

fn random_id(rng: &mut ChaCha8Rng) -> Id {
    let mut bytes = [0u8; 20];
    rng.fill(&mut bytes[..]);
    Id::from_be_bytes(bytes)
}

impl Template {
    /// Parse `rel(@ADDR, RANDID, 5, "x")` with the scenario's macros.
    fn parse(text: &str, scenario: &Scenario) -> Result<Template, SimError> {
        let mut options = parse_options(scenario, &[]);
        options.node_params = ["ADDR", "RANDID", "SEQ", "NOW"].map(String::from).to_vec();
        let mut sources = SourceMap::new();
        let source = format!("{}.", text.trim().trim_end_matches('.'));
        let bad = |problem: String| SimError::Tuple {
            tuple: text.to_string(),
            problem,
        };
        let parsed = trellis_syntax::parse_str("scenario tuple", &source, &options, &mut sources)
            .map_err(|errors| {
            bad(errors
                .iter()
                .map(|e| trellis_syntax::render(&sources, e, trellis_syntax::Style::Plain))
                .collect())
        })?;
        let [Statement::Fact(fact)] = parsed.program.statements.as_slice() else {
            return Err(bad(
                "expected one tuple, such as `lookup(@ADDR, RANDID, ADDR, SEQ)`".into(),
            ));
        };
        let fields = fact
            .atom
            .args
            .iter()
            .map(|a| match &a.kind {
                ExprKind::Literal(v) => Ok(TemplateField::Value(v.clone())),
                ExprKind::NodeParam(p) => Ok(match p.as_str() {
                    "ADDR" | "LOCALADDRESS" => TemplateField::Addr,
                    "RANDID" => TemplateField::RandId,
                    "SEQ" => TemplateField::Seq,
                    "NOW" => TemplateField::Now,
                    other => return Err(bad(format!("`{other}` has no value here"))),
                }),
                _ => Err(bad(
                    "fields must be constants, macros, ADDR, RANDID, SEQ or NOW".into(),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Template {
            relation: fact.atom.relation.name.clone(),
            fields,
        })
    }
}
