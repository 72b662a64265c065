//! The one path between a node and the wire, sans-IO, shared by the network
//! runtime and the simulator (so a codec or framing bug shows up in
//! simulation, and a simulated byte is a real byte):
//!
//! - out: a tick's sends are split by transport (a relation's `channel`, or
//!   the run's), batched per destination in order of first appearance, and
//!   encoded into frames cut at the transport's limit; a tuple too large
//!   for a frame on its own is refused ([`Outbound`], [`Packed`]);
//! - in: a decoded frame's tuples are handed to the node, each run of one
//!   relation resolved once ([`hand_to_node`]).

mod batch;

use std::sync::Arc;

use trellis_engine::{InputError, Node, Outgoing, Sends};
use trellis_plan::{Channel, Plan, RelId};
use trellis_wire::{Signing, WireMessage};

pub use batch::{Batcher, Packed};

/// Frames sent as datagrams stay under this many bytes (a UDP datagram's
/// payload can be at most 65,507 bytes; we leave room).
pub const MAX_DATAGRAM: usize = 60_000;

/// Frames on a stream stay under the wire format's limit.
pub const MAX_STREAM_FRAME: usize = trellis_wire::MAX_FRAME;

/// How tuples travel between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Datagrams: may lose, duplicate and reorder.
    Udp,
    /// Length-prefixed frames over TCP connections: reliable and FIFO while
    /// a connection is up.
    Tcp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }

    /// The stream its authenticated frames belong to: a receiver checks
    /// each transport's frames for replays apart (a datagram overtakes a
    /// stream's frames freely).
    pub fn stream(self) -> u8 {
        match self {
            Transport::Udp => 0,
            Transport::Tcp => 1,
        }
    }

    /// The largest frame this transport carries.
    pub fn frame_limit(self) -> usize {
        match self {
            Transport::Udp => MAX_DATAGRAM,
            Transport::Tcp => MAX_STREAM_FRAME,
        }
    }
}

impl From<Channel> for Transport {
    fn from(c: Channel) -> Transport {
        match c {
            Channel::Udp => Transport::Udp,
            Channel::Tcp => Transport::Tcp,
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node's outbound path: one [`Batcher`] per transport its program uses.
pub struct Outbound {
    /// Each relation's transport: its `channel`, or the run's.
    route: Vec<Transport>,
    /// Some relation travels on another transport than the run's.
    mixed: bool,
    batchers: Vec<(Transport, Batcher)>,
}

impl Outbound {
    /// Frames from `sender`, authenticated with `signing` if given (each
    /// transport its own stream); relations without a `channel` travel on
    /// `default`.
    pub fn new(
        plan: &Plan,
        sender: &str,
        signing: Option<Signing>,
        default: Transport,
    ) -> Outbound {
        let route: Vec<Transport> = plan
            .relations
            .iter()
            .map(|r| r.channel.map_or(default, Transport::from))
            .collect();
        let batchers = [Transport::Udp, Transport::Tcp]
            .into_iter()
            .filter(|t| *t == default || route.contains(t))
            .map(|t| {
                let signing = signing.clone().map(|s| Signing {
                    stream: t.stream(),
                    ..s
                });
                (t, Batcher::new(plan, sender, signing, t.frame_limit()))
            })
            .collect();
        Outbound {
            mixed: route.iter().any(|t| *t != default),
            route,
            batchers,
        }
    }

    /// The transports in use, in the order [`Outbound::pack`] takes them
    /// (borrowing nothing, so the caller may pack while it iterates).
    pub fn transports(&self) -> impl Iterator<Item = Transport> + use<> {
        let all = [Transport::Udp, Transport::Tcp];
        let used = all.map(|t| self.batchers.iter().any(|(b, _)| *b == t));
        all.into_iter()
            .zip(used)
            .filter_map(|(t, used)| used.then_some(t))
    }

    /// The frames (and refusals) for the sends that travel on `transport`.
    /// `sized` learns each packed tuple's size in its frame, in bytes.
    pub fn pack(
        &mut self,
        transport: Transport,
        sends: &Sends,
        out: &mut Vec<Packed>,
        sized: impl FnMut(Outgoing<'_>, usize),
    ) {
        let (mixed, route) = (self.mixed, &self.route);
        let ours = |m: &Outgoing| !mixed || route[m.relation.0 as usize] == transport;
        batcher_of(&mut self.batchers, transport).pack(sends, ours, out, sized);
    }

    /// Give back a sent frame's bytes, to write a later frame in.
    pub fn recycle(&mut self, transport: Transport, bytes: Vec<u8>) {
        batcher_of(&mut self.batchers, transport).recycle(bytes);
    }
}

fn batcher_of(batchers: &mut [(Transport, Batcher)], transport: Transport) -> &mut Batcher {
    &mut batchers
        .iter_mut()
        .find(|(t, _)| *t == transport)
        .expect("a transport the program uses")
        .1
}

/// Hand a decoded frame's tuples, sent by `sender`, to the node, in order;
/// each refused tuple (an unknown relation, a wrong arity) goes to
/// `refused`, counted by the node. Messages of one relation come in runs
/// sharing one name, so each run's relation is looked up once. Leaves
/// `messages` empty.
pub fn hand_to_node(
    node: &mut Node,
    sender: &Arc<str>,
    messages: &mut Vec<WireMessage>,
    mut refused: impl FnMut(&Arc<str>, InputError),
) {
    let mut last: Option<(Arc<str>, Option<RelId>)> = None;
    for m in messages.drain(..) {
        let rel = match &last {
            Some((name, rel)) if Arc::ptr_eq(name, &m.relation) => *rel,
            _ => {
                let rel = node.plan().lookup(&m.relation);
                last = Some((m.relation.clone(), rel));
                rel
            }
        };
        let received = match rel {
            Some(rel) => {
                let derivation = m.derivation.map(std::num::NonZeroU64::get);
                node.receive_from(rel, m.tuple, m.delete, sender, derivation)
            }
            // The node counts and names the unknown relation.
            None => node.receive(&m.relation, m.tuple, m.delete),
        };
        if let Err(e) = received {
            refused(&m.relation, e);
        }
    }
}
