//! Scenarios: what to simulate, as a TOML file (documented in
//! docs/simulator.md). Everything has a default, so an empty scenario is a
//! static network of `--nodes` nodes with 50 ms links.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trellis_engine::NodeParams;
use trellis_syntax::ParseOptions;

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub simulation: Simulation,
    /// `-D` definitions for every node.
    #[serde(default)]
    pub defines: BTreeMap<String, String>,
    /// Per-node values: `NODEID = "sha1"` or `"random"`, `LANDMARK =
    /// "first"` (node 0's address) or a literal value.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    #[serde(default)]
    pub network: Network,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    #[serde(default, rename = "event")]
    pub events: Vec<Event>,
    #[serde(default, rename = "workload")]
    pub workloads: Vec<Workload>,
    #[serde(default, rename = "measure")]
    pub measures: Vec<Measure>,
    /// Ring checks for DHTs such as Chord.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<Ring>,
}

/// A ring of identifiers (Chord and its kin): the simulator knows every live
/// node's identifier, so it knows the true successor of any key and can
/// check the program's answers and neighbour tables against it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ring {
    /// The per-node parameter holding the node's ring identifier.
    #[serde(default = "default_ring_id")]
    pub id: String,
    /// Where each node keeps its successor's identifier, e.g.
    /// `{ relation = "bestSucc", field = 2 }` (1-based).
    pub successor: Field,
    /// Seconds between checks of every node's successor.
    #[serde(default = "default_check_every")]
    pub check_every: f64,
}

/// A field of a relation.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub relation: String,
    pub field: usize,
}

fn default_ring_id() -> String {
    "NODEID".into()
}
fn default_check_every() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Simulation {
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// Virtual seconds to run.
    #[serde(default = "default_duration")]
    pub duration: f64,
    #[serde(default)]
    pub seed: u64,
    /// Node addresses: `{i}` is replaced by the node's number.
    #[serde(default = "default_address")]
    pub address: String,
    /// Seconds between node start-ups (0: all at once). Staggering joins
    /// spreads load the way real deployments do.
    #[serde(default)]
    pub start_interval: f64,
    /// Runaway bounds of every node (defaults: the engine's, 10,000 ticks
    /// at one instant and 1,000,000 derivations in one tick).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ticks_per_instant: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_derivations_per_tick: Option<usize>,
    /// The most nodes this scenario may run (default `DEFAULT_MAX_NODES`):
    /// a bound on the simulation's memory, raised deliberately.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<usize>,
}

fn default_nodes() -> usize {
    10
}
fn default_duration() -> f64 {
    60.0
}
fn default_address() -> String {
    "node{i}:9000".into()
}

impl Default for Simulation {
    fn default() -> Self {
        Simulation {
            nodes: default_nodes(),
            duration: default_duration(),
            seed: 0,
            address: default_address(),
            start_interval: 0.0,
            max_ticks_per_instant: None,
            max_derivations_per_tick: None,
            max_nodes: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub latency: Latency,
    /// Probability that a frame is lost.
    #[serde(default)]
    pub loss: f64,
    /// Probability that a frame is delivered twice.
    #[serde(default)]
    pub duplicate: f64,
    #[serde(default, rename = "link")]
    pub links: Vec<Link>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency: Latency::default(),
            loss: 0.0,
            duplicate: 0.0,
            links: Vec::new(),
        }
    }
}

/// One-way latency of a frame, in milliseconds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Latency {
    Constant {
        ms: f64,
    },
    Uniform {
        min_ms: f64,
        max_ms: f64,
    },
    Normal {
        mean_ms: f64,
        stddev_ms: f64,
    },
    Exponential {
        mean_ms: f64,
    },
    /// A file of round-trip times in ms, one row per node (whitespace
    /// separated); node i uses row `i % rows`. One-way latency is half.
    Matrix {
        file: PathBuf,
    },
}

impl Default for Latency {
    fn default() -> Self {
        Latency::Constant { ms: 50.0 }
    }
}

/// Overrides for the frames from one node to another.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub from: usize,
    pub to: usize,
    #[serde(default)]
    pub latency: Option<Latency>,
    #[serde(default)]
    pub loss: Option<f64>,
    #[serde(default)]
    pub duplicate: Option<f64>,
}

/// Nodes leave and are replaced: each session lasts a time drawn from the
/// distribution; then the node crashes and, after `rejoin_after` seconds,
/// starts again as a fresh process (the population stays near its size).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    #[serde(default = "default_churn_model")]
    pub model: ChurnModel,
    /// Median session time in seconds.
    pub median_session: f64,
    /// Pareto shape (only for `pareto`).
    #[serde(default = "default_pareto_shape")]
    pub shape: f64,
    /// Churn starts at this time (let the system form first).
    #[serde(default)]
    pub start: f64,
    #[serde(default = "default_rejoin")]
    pub rejoin_after: f64,
    /// Nodes that never churn (e.g. the landmark).
    #[serde(default)]
    pub exempt: Vec<usize>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChurnModel {
    Exponential,
    Pareto,
}

fn default_churn_model() -> ChurnModel {
    ChurnModel::Exponential
}
fn default_pareto_shape() -> f64 {
    2.0
}
fn default_rejoin() -> f64 {
    1.0
}

/// Something that happens at a given time. (serde cannot deny unknown
/// fields through `flatten`; the action's own fields are checked.)
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Event {
    /// Virtual time in seconds.
    pub at: f64,
    #[serde(flatten)]
    pub action: Action,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "action", rename_all = "lowercase", deny_unknown_fields)]
pub enum Action {
    /// Deliver a tuple to a node (a number, or "random" for a random live
    /// node). In the tuple, `ADDR` is that node's address.
    Inject {
        node: NodeRef,
        tuple: String,
    },
    Crash {
        node: NodeRef,
    },
    Restart {
        node: NodeRef,
    },
    /// Cut the frames between the groups (from each group to every other;
    /// with `oneway`, only from the first group to the others).
    Partition {
        name: String,
        groups: Vec<Vec<usize>>,
        #[serde(default)]
        oneway: bool,
    },
    Heal {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeRef {
    Index(usize),
    Random,
}

impl Serialize for NodeRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            NodeRef::Index(i) => s.serialize_u64(*i as u64),
            NodeRef::Random => s.serialize_str("random"),
        }
    }
}

impl<'de> Deserialize<'de> for NodeRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Index(usize),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Index(i) => Ok(NodeRef::Index(i)),
            Raw::Name(s) if s == "random" => Ok(NodeRef::Random),
            Raw::Name(s) => Err(serde::de::Error::custom(format!(
                "node must be a number or \"random\", not {s:?}"
            ))),
        }
    }
}

/// Inject tuples at a rate: `per_node` per second at every live node, or
/// `rate` per second at random live nodes, from `start` to `stop`; each
/// injection goes to `copies` distinct nodes. In the
/// tuple, `ADDR` is the chosen node's address, `RANDID` a random ID, `SEQ` a
/// number unique in the run, `NOW` the time in seconds.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub tuple: String,
    #[serde(default)]
    pub per_node: Option<f64>,
    #[serde(default)]
    pub rate: Option<f64>,
    #[serde(default)]
    pub start: f64,
    #[serde(default)]
    pub stop: Option<f64>,
    /// Inject each tuple at this many distinct live nodes at once, with the
    /// same `RANDID` (to measure whether they get the same answer).
    #[serde(default = "one")]
    pub copies: usize,
}

fn one() -> usize {
    1
}

/// A user measurement from watched relations: a *start* tuple and an *end*
/// tuple matched on a key field give a latency; sends of a *hop* relation
/// with the same key between them count hops.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Measure {
    pub name: String,
    pub start: Point,
    pub end: Point,
    #[serde(default)]
    pub hops: Option<Point>,
    /// With a `[ring]`: check each result. `key` is the end tuple's field
    /// holding the looked-up key, `answer` the field holding the answer's
    /// identifier; correct when it is the key's true successor among the
    /// live nodes when the result arrives.
    #[serde(default)]
    pub check: Option<Check>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub key: usize,
    pub answer: usize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub relation: String,
    /// 1-based field holding the key that matches start, end and hops.
    pub key: usize,
    /// What happening counts: `inject`, `send`, `recv`, `event` or `insert`.
    #[serde(default = "default_on")]
    pub on: On,
}

fn default_on() -> On {
    On::Event
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum On {
    Inject,
    Send,
    Recv,
    Event,
    Insert,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scenario {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("scenario: {0}")]
    Invalid(String),
}

impl Scenario {
    /// The scenario as TOML (with every default spelled out), for replay.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("scenarios serialize")
    }

    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut scenario: Scenario =
            toml::from_str(&text).map_err(|source| ScenarioError::Parse {
                path: path.to_path_buf(),
                source: Box::new(source),
            })?;
        // Relative files are relative to the scenario.
        if let Latency::Matrix { file } = &mut scenario.network.latency
            && file.is_relative()
        {
            *file = path.parent().unwrap_or(Path::new(".")).join(&*file);
        }
        Ok(scenario)
    }

    /// Check what serde cannot: ranges and references to nodes.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let n = self.simulation.nodes;
        let bad = |m: String| Err(ScenarioError::Invalid(m));
        if n == 0 {
            return bad("simulation.nodes must be at least 1".into());
        }
        let max_nodes = self.simulation.max_nodes.unwrap_or(DEFAULT_MAX_NODES);
        if n > max_nodes {
            let gib = n as f64 * NODE_BYTES_ESTIMATE as f64 / (1u64 << 30) as f64;
            return bad(format!(
                "simulation.nodes = {n} is more than the bound of {max_nodes} nodes \
                 (at least {NODE_BYTES_ESTIMATE} bytes a node before it runs, about {gib:.1} GiB); \
                 raise simulation.max_nodes (or --max-nodes) if the machine has the memory"
            ));
        }
        if !self.simulation.address.contains("{i}") {
            return bad("simulation.address must contain {i}, e.g. \"node{i}:9000\"".into());
        }
        // Every time, rate and count is finite and non-negative: NaN and
        // negative values used to be accepted and hang or misorder a run.
        let nonneg = |v: f64, what: &str| -> Result<(), ScenarioError> {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(ScenarioError::Invalid(format!(
                    "{what} must be a finite number >= 0, not {v}"
                )))
            }
        };
        nonneg(self.simulation.duration, "simulation.duration")?;
        nonneg(self.simulation.start_interval, "simulation.start_interval")?;
        if self.simulation.max_ticks_per_instant == Some(0) {
            return bad("simulation.max_ticks_per_instant must be at least 1".into());
        }
        if self.simulation.max_derivations_per_tick == Some(0) {
            return bad("simulation.max_derivations_per_tick must be at least 1".into());
        }
        check_latency(&self.network.latency, "network.latency")?;
        let prob = |p: f64, what: &str| -> Result<(), ScenarioError> {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(ScenarioError::Invalid(format!(
                    "{what} must be between 0 and 1, not {p}"
                )))
            }
        };
        prob(self.network.loss, "network.loss")?;
        prob(self.network.duplicate, "network.duplicate")?;
        for l in &self.network.links {
            if l.from >= n || l.to >= n {
                return bad(format!(
                    "network.link {}->{}: there are {n} nodes",
                    l.from, l.to
                ));
            }
            prob(l.loss.unwrap_or(0.0), "network.link.loss")?;
            prob(l.duplicate.unwrap_or(0.0), "network.link.duplicate")?;
            if let Some(lat) = &l.latency {
                check_latency(lat, "network.link.latency")?;
            }
        }
        for e in &self.events {
            nonneg(e.at, "event at")?;
            let node = match &e.action {
                Action::Inject { node, .. } | Action::Crash { node } | Action::Restart { node } => {
                    Some(node)
                }
                Action::Partition { groups, .. } => {
                    if let Some(i) = groups.iter().flatten().find(|i| **i >= n) {
                        return bad(format!("partition names node {i}; there are {n} nodes"));
                    }
                    None
                }
                Action::Heal { .. } => None,
            };
            if let Some(NodeRef::Index(i)) = node
                && *i >= n
            {
                return bad(format!(
                    "event at {}s names node {i}; there are {n} nodes",
                    e.at
                ));
            }
        }
        self.check_event_order()?;
        if let Some(c) = &self.churn {
            if c.median_session.is_nan() || c.median_session <= 0.0 {
                return bad("churn.median_session must be positive".into());
            }
            if c.model == ChurnModel::Pareto && (c.shape.is_nan() || c.shape <= 0.0) {
                return bad("churn.shape must be positive".into());
            }
            nonneg(c.start, "churn.start")?;
            nonneg(c.rejoin_after, "churn.rejoin_after")?;
        }
        if let Some(r) = &self.ring
            && !(r.check_every.is_finite() && r.check_every >= MIN_CHECK_EVERY)
        {
            return bad(format!(
                "ring.check_every must be at least {MIN_CHECK_EVERY} s (1 ms), not {}",
                r.check_every
            ));
        }
        if self.ring.is_none()
            && let Some(m) = self.measures.iter().find(|m| m.check.is_some())
        {
            return bad(format!(
                "measure {:?} checks results, which needs a [ring] section",
                m.name
            ));
        }
        for w in &self.workloads {
            if w.copies == 0 {
                return bad(format!("workload {:?}: copies must be at least 1", w.tuple));
            }
            if w.per_node.is_none() == w.rate.is_none() {
                return bad(format!(
                    "workload {:?}: give exactly one of per_node or rate",
                    w.tuple
                ));
            }
            let what = |f: &str| format!("workload {:?}: {f}", w.tuple);
            if let Some(p) = w.per_node {
                nonneg(p, &what("per_node"))?;
            }
            if let Some(r) = w.rate {
                nonneg(r, &what("rate"))?;
                if r > MAX_WORKLOAD_RATE {
                    return bad(format!(
                        "workload {:?}: rate must be at most {MAX_WORKLOAD_RATE} per second \
                         (one tuple per microsecond), not {r}",
                        w.tuple
                    ));
                }
            }
            nonneg(w.start, &what("start"))?;
            if let Some(s) = w.stop {
                nonneg(s, &what("stop"))?;
            }
        }
        for (k, v) in &self.params {
            let ok = v == "sha1" || v == "random" || v == "first" || !v.is_empty();
            if !ok {
                return bad(format!("params.{k} is empty"));
            }
        }
        Ok(())
    }
}

impl Scenario {
    /// Events that would be silently ignored: at or after the run's end, a
    /// `heal` of a partition no earlier event creates, a `restart` of a
    /// node that no earlier event crashes (and churn cannot have taken
    /// down). Events run in time order, in file order at one time.
    fn check_event_order(&self) -> Result<(), ScenarioError> {
        let bad =
            |e: &Event, m: String| Err(ScenarioError::Invalid(format!("event at {}s: {m}", e.at)));
        let mut order: Vec<(usize, &Event)> = self.events.iter().enumerate().collect();
        order.sort_by(|a, b| a.1.at.total_cmp(&b.1.at).then(a.0.cmp(&b.0)));
        let duration = self.simulation.duration;
        let churns = |i: usize| self.churn.as_ref().is_some_and(|c| !c.exempt.contains(&i));
        let mut partitions: Vec<&str> = Vec::new();
        // Nodes an earlier event may have crashed; `random` may be any.
        let mut crashed: Vec<usize> = Vec::new();
        let mut random_crash = false;
        for (_, e) in order {
            if e.at >= duration {
                return bad(
                    e,
                    format!(
                        "the run ends at {duration}s (simulation.duration), so it never happens"
                    ),
                );
            }
            match &e.action {
                Action::Partition { name, .. } => partitions.push(name),
                Action::Heal { name } if !partitions.contains(&name.as_str()) => {
                    return bad(
                        e,
                        format!(
                            "heal of partition {name:?}, which is not in place: no earlier partition \
                             event creates it (or an earlier heal removed it)"
                        ),
                    );
                }
                Action::Crash {
                    node: NodeRef::Index(i),
                } => crashed.push(*i),
                Action::Crash {
                    node: NodeRef::Random,
                } => random_crash = true,
                Action::Restart {
                    node: NodeRef::Index(i),
                } if !random_crash && !crashed.contains(i) && !churns(*i) => {
                    return bad(
                        e,
                        format!(
                            "restart of node {i}, which is alive then: no earlier crash event takes \
                             it down (since its last restart) and churn does not, so the restart \
                             does nothing"
                        ),
                    );
                }
                Action::Heal { name } => partitions.retain(|p| p != name),
                Action::Restart {
                    node: NodeRef::Index(i),
                } => crashed.retain(|c| c != i),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The most nodes a simulation runs unless `simulation.max_nodes` (or
/// `trellis sim --max-nodes`) raises it: a simulation allocates per-node
/// state up front, and 10^7 nodes tried single allocations of many GB.
pub const DEFAULT_MAX_NODES: usize = 1_000_000;
/// A lower estimate of one simulated node's memory at start, in bytes (its
/// engine, tables and network state; measured at about 7.8 KB a node for
/// examples/pingpong.olg), used in the message when `simulation.nodes` is
/// over the bound.
pub const NODE_BYTES_ESTIMATE: usize = 8 * 1024;

/// The smallest `ring.check_every`, in seconds: checking the ring more
/// often than every millisecond floods the run with checks.
pub const MIN_CHECK_EVERY: f64 = 1e-3;
/// The largest workload `rate`, in tuples per second: one tuple per
/// microsecond of virtual time.
pub const MAX_WORKLOAD_RATE: f64 = 1e6;

/// Latency parameters are finite and non-negative (a standard deviation
/// included).
fn check_latency(l: &Latency, what: &str) -> Result<(), ScenarioError> {
    let params: Vec<(&str, f64)> = match l {
        Latency::Constant { ms } => vec![("ms", *ms)],
        Latency::Uniform { min_ms, max_ms } => vec![("min_ms", *min_ms), ("max_ms", *max_ms)],
        Latency::Normal { mean_ms, stddev_ms } => {
            vec![("mean_ms", *mean_ms), ("stddev_ms", *stddev_ms)]
        }
        Latency::Exponential { mean_ms } => vec![("mean_ms", *mean_ms)],
        Latency::Matrix { .. } => vec![],
    };
    for (name, v) in params {
        if !(v.is_finite() && v >= 0.0) {
            return Err(ScenarioError::Invalid(format!(
                "{what}.{name} must be a finite number >= 0, not {v}"
            )));
        }
    }
    Ok(())
}

/// The parse options a program needs to run in this scenario: its defines,
/// and the per-node parameters (`NODEID`, `LANDMARK`, ...).
pub fn parse_options(scenario: &Scenario, defines: &[(String, String)]) -> ParseOptions {
    let mut all: BTreeMap<String, String> = scenario.defines.clone();
    for (k, v) in defines {
        all.insert(k.clone(), v.clone());
    }
    // Every node gets the standard parameters (`NodeParams`) unless the
    // scenario or `-D` says otherwise.
    let mut params: Vec<String> = NodeParams::standard().names().map(String::from).collect();
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
