//! The sans-IO OverLog node (docs/language.md §5).
//!
//! A [`Node`] is a deterministic state machine. A driver (the CLI's local
//! runner, the network runtime, the simulator) feeds it inputs (received
//! tuples, injected tuples, the current time) and collects its [`Output`]:
//! tuples to send, watch records, runtime errors. It never reads a clock, a
//! socket or a random source of its own: time comes from the driver and
//! randomness from a seeded ChaCha generator.
//!
//! ```text
//! driver: node.start(t0); loop { node.receive(..); while node.step(now, &mut out) {} ;
//!                                 deliver(out.sends); sleep_until(node.next_wakeup()) }
//! ```

mod eval;
pub mod harness;
mod node;
mod params;
pub mod provenance;
mod rounds;
mod sends;
mod stats;
mod table;

use std::sync::Arc;

use trellis_plan::{RelId, RuleId};
use trellis_value::Value;

pub use eval::RuleError;
pub use node::{
    Blocked, ConfigError, InputError, Node, NodeConfig, RuleAbsence, RuleWhyNot, WhyNot, why_not,
};
pub use params::{NodeParams, ParamSource, Placement};
pub use provenance::{Cause, Derivation, ExecId, TupleId};
pub use sends::{Outgoing, Sends};
pub use stats::{RelationStats, Stats};

/// A tuple: its fields, the location first. Shared, so cloning is cheap.
pub type Tuple = Arc<[Value]>;

/// Virtual or wall-clock time in nanoseconds, from an origin the driver
/// chooses. `f_now()` reads it as seconds.
pub type Time = u64;

pub const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Everything a node produced while stepping; the driver drains it.
#[derive(Debug, Default)]
pub struct Output {
    /// Tuples for other nodes (self-addressed ones stay inside the node).
    pub sends: Sends,
    /// Watch records, in the order things happened.
    pub records: Vec<Record>,
    /// Derivations dropped by a runtime error, and runaway cascades stopped.
    pub problems: Vec<Problem>,
    /// How each tuple of a traced relation came to be (provenance), in
    /// the order things happened.
    pub provenance: Vec<Derivation>,
}

impl Output {
    pub fn clear(&mut self) {
        self.sends.clear();
        self.records.clear();
        self.problems.clear();
        self.provenance.clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Insert,
    Delete,
    Refresh,
    Event,
    Send,
    Recv,
    /// A row about to be written (P2's AddAction, `a`).
    Add,
    /// A delete about to be applied (P2's DeleteAction, `z`).
    Remove,
}

impl RecordKind {
    pub const ALL: [RecordKind; 8] = [
        RecordKind::Insert,
        RecordKind::Delete,
        RecordKind::Refresh,
        RecordKind::Event,
        RecordKind::Send,
        RecordKind::Recv,
        RecordKind::Add,
        RecordKind::Remove,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Insert => "insert",
            RecordKind::Delete => "delete",
            RecordKind::Refresh => "refresh",
            RecordKind::Event => "event",
            RecordKind::Send => "send",
            RecordKind::Recv => "recv",
            RecordKind::Add => "add",
            RecordKind::Remove => "remove",
        }
    }

    /// Whether a watch with `modes` prints records of this kind.
    pub fn watched_by(self, modes: &trellis_plan::WatchModes) -> bool {
        match self {
            RecordKind::Insert => modes.insert,
            RecordKind::Refresh => modes.refresh,
            RecordKind::Delete => modes.delete,
            RecordKind::Event => modes.event,
            RecordKind::Send => modes.send,
            RecordKind::Recv => modes.receive,
            RecordKind::Add => modes.add,
            RecordKind::Remove => modes.remove,
        }
    }
}

/// One watched happening.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub time: Time,
    pub tick: u64,
    pub kind: RecordKind,
    pub relation: RelId,
    pub tuple: Tuple,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A derivation was dropped; the node carries on.
    Eval {
        time: Time,
        tick: u64,
        rule: RuleId,
        error: RuleError,
    },
    /// Too many ticks at one instant: the cascade was stopped.
    Runaway {
        time: Time,
        tick: u64,
        ticks: u32,
        rules: Vec<RuleId>,
    },
}
