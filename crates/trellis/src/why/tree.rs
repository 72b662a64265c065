//! The walk: which tuples a pattern picks, and each one's derivation tree.
//!
//! Every step goes strictly back in the log (a rule's input is the latest
//! derivation of that tuple on the node *before* the rule's; a receipt's
//! sender derivation came before the receipt), so a walk cannot loop. What
//! it can do is meet a derivation twice (two inputs made by one timer
//! firing, say): the second time is marked [`Next::Repeat`] rather than
//! shown again, which keeps a tree linear in the log it reads.

use std::collections::{BTreeMap, HashSet};

use trellis_syntax::Pattern;
use trellis_value::Value;

use super::load::{Cause, Log, NodeIx};

/// One vertex of a derivation tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Vertex {
    /// A recorded derivation (the log's entry) and what it came from.
    Step { entry: usize, next: Next },
    /// A rule's input with no derivation on `node` before the rule's, at
    /// `before` seconds. `known`: an entry of the same tuple elsewhere or
    /// later (what the tuple was); none: the log never saw it (not traced).
    Missing {
        node: NodeIx,
        id: u64,
        before: f64,
        known: Option<usize>,
    },
}

/// Where a step leads.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// A fact, an injected tuple, a timer: nothing further.
    Base,
    /// A rule's inputs, in body order.
    Inputs(Vec<Vertex>),
    /// A received tuple: the sender's derivation.
    Sender(Box<Vertex>),
    /// A received tuple whose sender's derivation is not in the log.
    NoSender(NoSender),
    /// Shown earlier in the same tree.
    Repeat,
    /// Not followed: the depth bound.
    Cut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSender {
    /// The driver did not say who sent it.
    Unknown,
    /// The sender did not trace it (the frame carried no reference).
    NotTraced,
    /// The sender traced it, but its derivation is not in this log.
    NoRecord,
}

/// The tuples `pattern` picks: for each matching tuple on the node its
/// location names, its latest derivation there at or before `at` seconds
/// (any time when `None`). Entries, in the order they happened.
pub fn roots(log: &Log, pattern: &Pattern, at: Option<f64>) -> Vec<usize> {
    let mut latest: BTreeMap<(NodeIx, u64), usize> = BTreeMap::new();
    for (i, e) in log.entries.iter().enumerate() {
        if at.is_some_and(|t| e.time > t)
            || matches!(e.cause, Cause::Rule { sent: true, .. })
            || !pattern.matches(log.name_of(e.relation), &e.tuple)
        {
            continue;
        }
        // A tuple located elsewhere (a rule's head sent away) is not here.
        if let Some(Value::Str(location)) = e.tuple.first()
            && **location != *log.nodes[e.node as usize]
        {
            continue;
        }
        latest.insert((e.node, e.id), i);
    }
    let mut roots: Vec<usize> = latest.into_values().collect();
    roots.sort_unstable();
    roots
}

/// The derivation tree of `entry`, at most `depth` steps deep.
pub fn tree(log: &Log, entry: usize, depth: usize) -> Vertex {
    Walk {
        log,
        depth,
        shown: HashSet::new(),
    }
    .step(entry, 0)
}

struct Walk<'a> {
    log: &'a Log,
    depth: usize,
    shown: HashSet<usize>,
}

impl Walk<'_> {
    fn step(&mut self, entry: usize, depth: usize) -> Vertex {
        let e = &self.log.entries[entry];
        let base = matches!(e.cause, Cause::Fact | Cause::Injected | Cause::Timer);
        let next = if self.shown.contains(&entry) {
            Next::Repeat
        } else if base {
            self.shown.insert(entry);
            Next::Base
        } else if depth >= self.depth {
            Next::Cut
        } else {
            self.shown.insert(entry);
            self.follow(entry, depth + 1)
        };
        Vertex::Step { entry, next }
    }

    fn follow(&mut self, entry: usize, depth: usize) -> Next {
        let log = self.log;
        let e = &log.entries[entry];
        match &e.cause {
            Cause::Rule { inputs, .. } => Next::Inputs(
                inputs
                    .iter()
                    .map(|&id| match log.tuple_before(e.node, id, entry) {
                        Some(input) => self.step(input, depth),
                        None => Vertex::Missing {
                            node: e.node,
                            id,
                            before: e.time,
                            known: log.any_of(id),
                        },
                    })
                    .collect(),
            ),
            Cause::Received {
                from: Some(from),
                exec: Some(exec),
            } => match log.exec_before(*from, *exec, entry) {
                Some(sent) => Next::Sender(Box::new(self.step(sent, depth))),
                None => Next::NoSender(NoSender::NoRecord),
            },
            Cause::Received { from: None, .. } => Next::NoSender(NoSender::Unknown),
            Cause::Received { exec: None, .. } => Next::NoSender(NoSender::NotTraced),
            Cause::Fact | Cause::Injected | Cause::Timer => Next::Base,
        }
    }
}
