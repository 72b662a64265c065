//! A deterministic driver for nodes in one process: virtual time, and
//! delivery of every send under the harness's control (as quinn-proto tests
//! its connection state machine with a pair of endpoints and a virtual
//! clock). The engine's own tests run the conformance programs through it,
//! and `trellis run` without a network drives its single node with it.
//!
//! Time moves only when the harness is told to advance. At each instant,
//! sends due are delivered first (in the order they were sent), then every
//! node with work runs its ticks, in the order nodes were added; a send to a
//! node of the harness is in flight for [`Harness::latency`]; a send to any
//! other address is handed to the observer as undeliverable.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::{Node, Outgoing, Output, Time, Tuple};
use trellis_plan::RelId;

/// What the harness reports as nodes run.
pub trait Observer {
    /// A node's output after its ticks at one instant (its sends already
    /// taken by the harness).
    fn output(&mut self, _node: &Node, _out: &Output) {}
    /// A send to an address no node of the harness has.
    fn undeliverable(&mut self, _node: &Node, _send: Outgoing<'_>) {}
}

/// An observer that sees nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// A tuple travelling between two nodes of the harness.
#[derive(Debug, Clone, PartialEq)]
pub struct InFlight {
    /// When it arrives.
    pub at: Time,
    /// The index of the node that sent it, and of the node it goes to.
    pub from: usize,
    pub to: usize,
    /// The sender's derivation of it, when traced (provenance).
    pub derivation: Option<crate::ExecId>,
    pub relation: RelId,
    pub tuple: Tuple,
    pub delete: bool,
}

/// Nodes, a virtual clock and the tuples between them.
pub struct Harness {
    nodes: Vec<Node>,
    now: Time,
    /// How long a send between two nodes of the harness travels.
    pub latency: Time,
    /// In the order sent; arrival times never decrease along it (one
    /// latency for all).
    in_flight: VecDeque<InFlight>,
    out: Output,
}

impl Harness {
    /// An empty harness whose clock reads `start`.
    pub fn new(start: Time) -> Harness {
        Harness {
            nodes: Vec::new(),
            now: start,
            latency: 0,
            in_flight: VecDeque::new(),
            out: Output::default(),
        }
    }

    /// Add a node and start it now; returns its index.
    pub fn add(&mut self, mut node: Node) -> usize {
        node.start(self.now);
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn node(&self, index: usize) -> &Node {
        &self.nodes[index]
    }

    /// A node, to inject into it or read its tables.
    pub fn node_mut(&mut self, index: usize) -> &mut Node {
        &mut self.nodes[index]
    }

    /// The tuples in flight, the next to arrive first.
    pub fn in_flight(&self) -> impl Iterator<Item = &InFlight> {
        self.in_flight.iter()
    }

    /// Drop the `k`th tuple in flight (a lost message); returns it.
    pub fn lose(&mut self, k: usize) -> Option<InFlight> {
        self.in_flight.remove(k)
    }

    /// When something next happens: a delivery or a node's wake-up.
    pub fn next_time(&self) -> Option<Time> {
        let wake = self.nodes.iter().filter_map(Node::next_wakeup).min();
        let arrival = self.in_flight.front().map(|m| m.at);
        match (wake, arrival) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .map(|t| t.max(self.now))
    }

    /// Run everything due up to and including `until`, instant by instant,
    /// and leave the clock at `until` (or where it was, if later).
    pub fn run_until(&mut self, until: Time, observer: &mut impl Observer) {
        while let Some(t) = self.next_time().filter(|t| *t <= until) {
            self.run_instant(t, observer);
        }
        self.now = self.now.max(until);
    }

    /// Run what is due at `now` (a wall-clock driver calls this with the
    /// time it woke at): deliveries, then every node's ticks, until nothing
    /// more is due at this instant.
    pub fn run_instant(&mut self, now: Time, observer: &mut impl Observer) {
        self.now = self.now.max(now);
        loop {
            while self.in_flight.front().is_some_and(|m| m.at <= self.now) {
                let m = self.in_flight.pop_front().expect("checked");
                // Refusals are counted by the node; the plan is the same
                // for every node, so relation ids resolve.
                let from = self.nodes[m.from].shared_address().clone();
                let _ = self.nodes[m.to].receive_from(
                    m.relation,
                    m.tuple,
                    m.delete,
                    &from,
                    m.derivation,
                );
            }
            let mut ran = false;
            for i in 0..self.nodes.len() {
                ran |= self.step_node(i, observer);
            }
            let due = self.in_flight.front().is_some_and(|m| m.at <= self.now);
            if !ran && !due {
                break;
            }
        }
    }

    /// Run one node's due ticks and route its sends; whether any tick ran.
    fn step_node(&mut self, i: usize, observer: &mut impl Observer) -> bool {
        let mut out = std::mem::take(&mut self.out);
        let mut ran = false;
        while self.nodes[i].step(self.now, &mut out) {
            ran = true;
        }
        if ran || !out.problems.is_empty() {
            observer.output(&self.nodes[i], &out);
        }
        for send in out.sends.iter() {
            match self.index_of(send.destination()) {
                Some(to) => self.in_flight.push_back(InFlight {
                    at: self.now + self.latency,
                    from: i,
                    derivation: send.derivation,
                    to,
                    relation: send.relation,
                    tuple: send.tuple(),
                    delete: send.delete,
                }),
                None => observer.undeliverable(&self.nodes[i], send),
            }
        }
        out.clear();
        self.out = out;
        ran
    }

    fn index_of(&self, address: &Arc<str>) -> Option<usize> {
        self.nodes.iter().position(|n| n.address() == &**address)
    }
}
