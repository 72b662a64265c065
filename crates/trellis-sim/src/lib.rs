//! Deterministic simulation of many Trellis nodes in one process: the same
//! sans-IO engine as the real runtime, a virtual clock, a modelled network
//! (latency, loss, duplication, partitions), crashes, restarts and churn,
//! scripted by a TOML scenario. A run is a function of (program, scenario,
//! seed): the same inputs give the same trace hash on any machine.

mod measure;
mod network;
mod report;
mod ring;
mod scenario;
mod sim;
mod template;

use trellis_plan::{Plan, RelId};
use trellis_syntax::{SourceMap, SyntaxError};

pub use measure::{MeasureState, Measurements, Sample};
pub use network::{MIN_LATENCY, NetworkError};
pub use report::{Report, engine_stats_json, line_chart, peak_memory_kib, write_outputs};
pub use ring::RingState;
pub use scenario::*;
pub use sim::{NANOS, Observer, Options, Quiet, Simulation};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(
        "params.{name} = {value:?}: expected \"sha1\", \"random\", \"first\", \"address\" or \"index\""
    )]
    Param { name: String, value: String },
    #[error("scenario tuple `{tuple}`: {problem}")]
    Tuple { tuple: String, problem: String },
    /// A scenario tuple the parser rejects: its diagnostics, with the source
    /// they point into, for the command line to render.
    #[error("scenario tuple `{tuple}`: {}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    TupleSyntax {
        tuple: String,
        sources: SourceMap,
        errors: Vec<SyntaxError>,
    },
    #[error("measure `{name}`: {problem}")]
    Measure { name: String, problem: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("ring: {0}")]
    Ring(String),
    #[error("cannot draw {path}: {problem}")]
    Plot { path: String, problem: String },
}

/// Counters of a whole run.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub queue_entries: u64,
    pub frames_sent: u64,
    pub frames_delivered: u64,
    pub frames_lost: u64,
    pub frames_cut: u64,
    pub frames_duplicated: u64,
    pub frames_to_dead: u64,
    pub frames_to_unknown: u64,
    /// Frames the decoder refused on delivery (nothing corrupts frames in
    /// flight, so each is a codec bug).
    pub frames_undecodable: u64,
    /// Tuples too large for a frame of their transport, refused.
    pub tuples_oversize: u64,
    pub dropped_inputs: u64,
    pub injected: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub problems: u64,
    pub bytes: u64,
    pub messages: u64,
    /// Messages and bytes per relation.
    pub per_relation: Vec<(u64, u64)>,
    /// Frames, messages and bytes sent per node.
    pub per_node: Vec<(u64, u64, u64)>,
    /// Messages and bytes per virtual second.
    pub per_second: Vec<(u64, u64)>,
    pub checkpoints: Vec<(trellis_engine::Time, u64)>,
    /// Crashes, restarts, partitions and heals, in order, for the plots.
    pub faults: Vec<(trellis_engine::Time, Fault)>,
}

/// A fault the scenario or churn caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    Crash(usize),
    Restart(usize),
    Partition(String),
    Heal(String),
}

impl Fault {
    /// What kind of fault: a plot's legend entry.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Crash(_) => "crash",
            Fault::Restart(_) => "restart",
            Fault::Partition(_) => "partition",
            Fault::Heal(_) => "heal",
        }
    }
}

impl Stats {
    fn new(plan: &Plan, nodes: usize) -> Stats {
        Stats {
            per_relation: vec![(0, 0); plan.relations.len()],
            per_node: vec![(0, 0, 0); nodes],
            ..Stats::default()
        }
    }

    fn count_message(&mut self, rel: RelId, node: usize, second: usize, bytes: u64) {
        let r = &mut self.per_relation[rel.0 as usize];
        r.0 += 1;
        r.1 += bytes;
        self.per_node[node].1 += 1;
        self.messages += 1;
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, (0, 0));
        }
        self.per_second[second].0 += 1;
    }

    fn count_frame(&mut self, node: usize, second: usize, bytes: u64) {
        self.frames_sent += 1;
        self.bytes += bytes;
        self.per_node[node].0 += 1;
        self.per_node[node].2 += bytes;
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, (0, 0));
        }
        self.per_second[second].1 += bytes;
    }
}
