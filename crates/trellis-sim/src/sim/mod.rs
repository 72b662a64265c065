//! The discrete-event loop: many engines, one virtual clock, one queue.
//!
//! Determinism: every queue entry is ordered by (time, class, target node,
//! source node, sequence), where nodes are numbered by their
//! position in the scenario (never by where they sit in memory); every node
//! and every sender has its own random stream seeded from (seed, address,
//! incarnation). So a run is a function of (program, scenario, seed), and
//! the order nodes are stored in cannot change it.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Pareto};
use trellis_engine::{
    Derivation, Node, NodeConfig, NodeParams, Output, ParamSource, Placement, Problem, Record,
    Time, Tuple,
};
use trellis_frames::{Outbound, Transport};
use trellis_plan::{Plan, WatchModes};
use trellis_value::Value;

mod inputs;
mod queue;
mod route;
mod trace;

use crate::measure::Measurements;
use crate::network::NetworkModel;
use crate::ring::RingState;
use crate::scenario::{Action, ChurnModel, Scenario};
use crate::template::Template;
use crate::{Fault, SimError, Stats};
use queue::{Class, Key, Payload, Queue};
use trace::{Happening, Trace, seed_for};

pub const NANOS: f64 = 1e9;

fn to_time(seconds: f64) -> Time {
    (seconds.max(0.0) * NANOS) as Time
}

/// Sees what happens, as it happens (the CLI prints and draws progress).
pub trait Observer {
    /// A crash, restart, partition or heal, as it happens (a node is
    /// named by its scenario index: `Simulation::address`).
    fn fault(&mut self, _now: Time, _fault: &Fault) {}
    /// A watch record of a relation the program watches.
    fn record(&mut self, _plan: &Plan, _node: &str, _record: &Record) {}
    fn problem(&mut self, _plan: &Plan, _node: &str, _problem: &Problem) {}
    /// How a tuple of a traced relation came to be on `node` (provenance),
    /// in the order things happened.
    fn provenance(&mut self, _plan: &Plan, _node: &str, _derivation: &Derivation) {}
    /// Called about once per virtual second.
    fn progress(&mut self, _now: Time, _end: Time) {}
    /// A trace-hash checkpoint.
    fn checkpoint(&mut self, _now: Time, _hash: u64) {}
    /// Asked before each queue entry: true ends the run there (Ctrl-C),
    /// the clock left where it is.
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// An observer that sees nothing.
pub struct Quiet;
impl Observer for Quiet {}

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
    /// The node's sends on their way to frames (the network runtime's path).
    outbound: Outbound,
}

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
    queue: Queue,
    now: Time,
    end: Time,
    seed: u64,
    net: NetworkModel,
    rng: ChaCha8Rng,
    templates: Vec<Template>,
    event_templates: BTreeMap<usize, Template>,
    trace: Trace,
    /// The frames of one activation being packed, and a delivered frame's
    /// messages (kept, so routing allocates no vectors of its own).
    packed: Vec<trellis_frames::Packed>,
    messages: Vec<trellis_wire::WireMessage>,
    /// Short strings of delivered frames, shared by every node (each node's
    /// address is its engine's own copy): a received address is equal to
    /// the receiver's by pointer, as it would be without a codec.
    strings: trellis_wire::SharedStrings,
    pub stats: Stats,
    measurements: Measurements,
    checkpoint_every: Option<Time>,
    out: Output,
    ring: Option<RingState>,
    /// Per link, when its last frame on a reliable channel arrives.
    fifo: rustc_hash::FxHashMap<(u32, u32), Time>,
    /// The engine counters of crashed incarnations (a live node keeps its
    /// own).
    retired: trellis_engine::Stats,
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
            let watch = &mut plan.relations[rel.0 as usize].watch;
            *watch = Some(watch.unwrap_or_default().union(WatchModes::PLAIN));
        }
        let plan = Arc::new(plan);
        let net = NetworkModel::new(&scenario.network, n)?;
        let addresses: Vec<Arc<str>> = (0..n)
            .map(|i| Arc::from(scenario.simulation.address.replace("{i}", &i.to_string())))
            .collect();
        // The one node-parameter policy, with the scenario's `[params]`;
        // only parameters the program uses are given (and checked).
        let uses = |name: &str| plan.node_params.iter().any(|p| p == name);
        let mut node_params = NodeParams::standard();
        for (name, how) in scenario.params.iter().filter(|(name, _)| uses(name)) {
            let source = ParamSource::parse(how).ok_or_else(|| SimError::Param {
                name: name.clone(),
                value: how.clone(),
            })?;
            node_params.set(name.clone(), source);
        }
        let mut param_rng = ChaCha8Rng::seed_from_u64(seed_for(seed, "params", "", 0));
        let mut nodes: Vec<SimNode> = Vec::with_capacity(n);
        for (i, address) in addresses.iter().enumerate() {
            let place = Placement {
                address,
                index: i,
                first: &addresses[0],
            };
            let params = node_params.values(uses, &place, &mut param_rng);
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
                outbound: Outbound::new(&plan, address, None, Transport::Udp),
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
            .map(|w| {
                let t = Template::parse(&w.tuple, &scenario)?;
                t.check(&w.tuple, &plan)?;
                Ok(t)
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        let mut event_templates = BTreeMap::new();
        for (i, e) in scenario.events.iter().enumerate() {
            if let Action::Inject { tuple, .. } = &e.action {
                let t = Template::parse(tuple, &scenario)?;
                t.check(tuple, &plan)?;
                event_templates.insert(i, t);
            }
        }
        let end = to_time(scenario.simulation.duration);
        let ring = scenario
            .ring
            .as_ref()
            .map(|r| {
                let every = to_time(r.check_every).max(1);
                RingState::new(r, every, &plan, nodes.iter().map(|n| &n.params))
            })
            .transpose()?;
        let mut sim = Simulation {
            stats: Stats::new(&plan, n),
            retired: trellis_engine::Stats::new(&plan),
            plan,
            printed,
            nodes,
            slot,
            live: Vec::new(),
            queue: Queue::default(),
            now: 0,
            end,
            seed,
            net,
            rng: ChaCha8Rng::seed_from_u64(seed_for(seed, "sim", "", 0)),
            templates,
            event_templates,
            trace: Trace::default(),
            packed: Vec::new(),
            messages: Vec::new(),
            strings: trellis_wire::SharedStrings::new(4096 + 4 * n),
            measurements,
            checkpoint_every: options.checkpoint_every.map(to_time).filter(|t| *t > 0),
            out: Output::default(),
            ring,
            fifo: Default::default(),
            scenario,
        };
        sim.schedule_initial();
        Ok(sim)
    }

    fn schedule_initial(&mut self) {
        let interval = to_time(self.scenario.simulation.start_interval);
        for i in 0..self.nodes.len() as u32 {
            self.queue
                .push(interval * i as u64, i, Class::Start, i, Payload::Start);
        }
        let events: Vec<Time> = self.scenario.events.iter().map(|e| to_time(e.at)).collect();
        for (i, at) in events.into_iter().enumerate() {
            self.queue.push(
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
            self.queue.push(
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
                self.queue.push(
                    start + session,
                    i as u32,
                    Class::Churn,
                    i as u32,
                    Payload::SessionEnd,
                );
            }
        }
        if let Some(every) = self.checkpoint_every {
            self.queue
                .push(every, u32::MAX, Class::Checkpoint, 0, Payload::Checkpoint);
        }
        if let Some(every) = self.ring.as_ref().map(|r| r.every) {
            self.queue
                .push(every, u32::MAX, Class::RingCheck, 0, Payload::RingCheck);
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

    /// The engines of the live nodes, by scenario index.
    pub fn live_nodes(&self) -> Vec<&Node> {
        (0..self.slot.len()).filter_map(|i| self.node(i)).collect()
    }

    /// The engine of the live node at `address`, if there is one.
    pub fn node_at(&self, address: &str) -> Option<&Node> {
        (0..self.slot.len())
            .find(|&i| self.address(i) == address)
            .and_then(|i| self.node(i))
    }

    /// Frames sent but not yet delivered or dropped.
    pub fn frames_in_flight(&self) -> u64 {
        self.queue.frames_in_flight()
    }

    pub fn trace_hash(&self) -> u64 {
        self.trace.value()
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

    /// Run until the scenario's duration (or the observer's stop);
    /// whether it got there.
    pub fn run(&mut self, observer: &mut dyn Observer) -> bool {
        let end = self.end;
        self.run_until(end, observer)
    }

    /// Run every entry due up to and including `until`, unless the
    /// observer asks to stop first; whether the run reached `until`.
    pub fn run_until(&mut self, until: Time, observer: &mut dyn Observer) -> bool {
        let mut next_progress = self.now;
        loop {
            if observer.stop_requested() {
                observer.progress(self.now, self.end);
                return false;
            }
            let Some((key, payload)) = self.queue.pop_due(until) else {
                break;
            };
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
        true
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
                    self.crash(i, observer);
                    let after = to_time(self.scenario.churn.as_ref().expect("churn").rejoin_after);
                    self.queue.push(
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
                self.queue.push(
                    self.now + session,
                    i as u32,
                    Class::Churn,
                    i as u32,
                    Payload::SessionEnd,
                );
            }
            Payload::RingCheck => {
                if let Some(ring) = &mut self.ring {
                    let (nodes, slot) = (&self.nodes, &self.slot);
                    ring.check(self.now, &self.plan, |i| {
                        nodes[slot[i as usize]].node.as_ref()
                    });
                }
                let every = self
                    .ring
                    .as_ref()
                    .expect("scheduled only with a ring")
                    .every;
                self.queue.push(
                    self.now + every,
                    u32::MAX,
                    Class::RingCheck,
                    0,
                    Payload::RingCheck,
                );
            }
            Payload::Checkpoint => {
                observer.checkpoint(self.now, self.trace.value());
                self.stats.checkpoints.push((self.now, self.trace.value()));
                if let Some(every) = self.checkpoint_every {
                    self.queue.push(
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
        self.strings.adopt(node.shared_address().clone());
        sn.node = Some(node);
        sn.live_pos = Some(self.live.len());
        self.live.push(i as u32);
        if let Some(ring) = &mut self.ring {
            ring.join(i as u32, &sn.params);
        }
        if sn.incarnation > 1 {
            self.stats.restarts += 1;
            self.fault(Fault::Restart(i), observer);
        }
        self.trace.happening(Happening::Start, i, self.now);
        self.step(i, observer);
    }

    fn crash(&mut self, i: usize, observer: &mut dyn Observer) {
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
        self.fault(Fault::Crash(i), observer);
        if let Some(ring) = &mut self.ring {
            ring.leave(&self.nodes[s].params);
        }
        self.trace.happening(Happening::Crash, i, self.now);
    }

    /// A fault happened now: kept for the plots, shown to the observer.
    fn fault(&mut self, fault: Fault, observer: &mut dyn Observer) {
        observer.fault(self.now, &fault);
        self.stats.faults.push((self.now, fault));
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
        self.trace.records(&out.records);
        for r in &out.records {
            self.measurements.observe(r, now, self.ring.as_ref());
            if self.printed[r.relation.0 as usize].is_some_and(|w| r.kind.watched_by(&w)) {
                observer.record(&self.plan, &address, r);
            }
        }
        for p in &out.problems {
            self.stats.problems += 1;
            observer.problem(&self.plan, &address, p);
        }
        for d in &out.provenance {
            observer.provenance(&self.plan, &address, d);
        }
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
        self.queue
            .push(next, i as u32, Class::Wake, i as u32, Payload::Wake(inc));
    }
}
