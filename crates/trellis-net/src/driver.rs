//! The driver loop: the engine's clock, inputs and outputs, on tokio.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use trellis_engine::{InputError, Node, Output, Tuple};
use trellis_frames::{Outbound, Packed, Transport, hand_to_node};
use trellis_plan::Plan;
use trellis_wire::{Frame, Gate, Signing};

use crate::budget::Budget;
use crate::clock::WallClock;
use crate::config::{NetConfig, NetError};
use crate::inbound::{Inbound, Incoming};
use crate::resolver::{Answer, Lookup, LostWhy, Names, Parked, Resolve, SystemResolver};
use crate::stats::{Counters, NetStats, input_error_kind};
use crate::warning::Warning;
use crate::{tcp, udp};

/// Frames waiting for the driver; socket tasks wait when it is full.
const INCOMING_QUEUE: usize = 4096;
/// A tick takes at most this many input tuples, and fewer when its inputs
/// make many sends: see [`Pace`].
const TICK_INPUTS: usize = 1024;
/// About how many tuples a tick should send.
const TICK_SENDS: usize = 1024;
/// How long a stopping node lets its TCP writers finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// Distinct refused-tuple warnings reported (all are counted).
const REFUSED_WARNINGS: usize = 32;
/// Distinct warnings remembered for de-duplication.
const WARNINGS_REMEMBERED: usize = 1024;
/// The window of `warnings_per_minute`.
const WARNING_WINDOW: Duration = Duration::from_secs(60);
/// How often idle TCP peers are looked for, at most.
const PEER_SWEEP: Duration = Duration::from_secs(1);

/// What the driver reports while it runs.
pub trait Observer {
    /// After each round of ticks: the node's watch records and problems
    /// (sends are the driver's business).
    fn output(&mut self, node: &Node, out: &Output);
    /// Trouble on the network, reported once per situation.
    fn warning(&mut self, node: &Node, warning: &Warning) {
        let _ = (node, warning);
    }
}

/// Hands tuples to a running node as if the user injected them.
#[derive(Debug, Clone)]
pub struct Injector(mpsc::UnboundedSender<(String, Tuple)>);

impl Injector {
    /// False once the driver has stopped.
    pub fn inject(&self, relation: &str, tuple: Tuple) -> bool {
        self.0.send((relation.to_string(), tuple)).is_ok()
    }
}

/// The sending side of the transports this node uses.
#[derive(Default)]
struct Senders {
    udp: Option<UdpOut>,
    /// TCP connections by destination.
    tcp: Option<HashMap<Arc<str>, tcp::Peer>>,
    /// TCP writer tasks alive, in the table or finishing after it.
    writers: tcp::Writers,
    /// When idle TCP peers are next looked for.
    sweep_at: Option<Instant>,
}

struct UdpOut {
    socket: Arc<UdpSocket>,
    names: Names,
}

/// A node's network runtime: bound sockets, ready to drive a node.
pub struct Driver {
    config: NetConfig,
    clock: WallClock,
    counters: Counters,
    incoming: mpsc::Receiver<Incoming>,
    /// The socket tasks' side: frames' emptied vectors go back through it.
    inbound: Inbound,
    injected: mpsc::UnboundedReceiver<(String, Tuple)>,
    inject_tx: mpsc::UnboundedSender<(String, Tuple)>,
    warnings: mpsc::UnboundedReceiver<Warning>,
    warn_tx: mpsc::UnboundedSender<Warning>,
    warned: HashSet<String>,
    refused_warnings: usize,
    /// Destination warnings shown in the current window, and when it began.
    window: (Instant, usize),
    senders: Senders,
    /// Finished lookups of destinations' names.
    answers: mpsc::UnboundedReceiver<Answer>,
    /// The names this node answers to besides its address.
    other_names: Vec<String>,
    tasks: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
}

impl Driver {
    /// Bind the run's transport at `config.bind`, and the other one too
    /// when `plan` declares a relation on it (`channel(name, tcp).`), at the
    /// same address; start receiving. Must be called inside a tokio runtime.
    pub async fn bind(
        config: NetConfig,
        plan: &Plan,
        clock: WallClock,
    ) -> Result<Driver, NetError> {
        config.limits.check()?;
        let counters = Counters::new(config.transport);
        let (incoming_tx, incoming) = mpsc::channel(INCOMING_QUEUE);
        // Filled in once the address is bound (its literal form is a name).
        let gate = Arc::new(Mutex::new(Gate::new([], config.replay_senders)));
        let inbound = Inbound::new(
            config.key.clone(),
            config.limits.decode(),
            Budget::new(config.limits.decoded),
            incoming_tx,
            counters.clone(),
            gate.clone(),
        );
        let (names, answers) = Names::new(Arc::new(SystemResolver), config.resolve);
        let mut names = Some(names);
        let (inject_tx, injected) = mpsc::unbounded_channel();
        let (warn_tx, warnings) = mpsc::unbounded_channel();
        let mut tasks = Vec::new();
        let mut transports = vec![config.transport];
        for r in &plan.relations {
            if let Some(t) = r.channel.map(Transport::from)
                && !transports.contains(&t)
            {
                transports.push(t);
            }
        }
        let mut senders = Senders::default();
        // The first bind fixes the port (it may be 0); the second takes the
        // same one.
        let mut addr = config.bind;
        for transport in transports {
            let err = |source| NetError::Bind {
                transport,
                addr,
                source,
            };
            match transport {
                Transport::Udp => {
                    let socket = Arc::new(udp::bind(addr)?);
                    addr = socket.local_addr().map_err(err)?;
                    tasks.push(tokio::spawn(udp::receive(socket.clone(), inbound.clone())));
                    senders.udp = Some(UdpOut {
                        socket,
                        names: names.take().expect("one UDP socket"),
                    });
                }
                Transport::Tcp => {
                    let listener = tcp::bind(addr).await?;
                    addr = listener.local_addr().map_err(err)?;
                    tasks.push(tokio::spawn(tcp::listen(
                        listener,
                        inbound.clone(),
                        config.limits,
                    )));
                    senders.tcp = Some(HashMap::new());
                }
            }
        }
        let local_addr = addr;
        let other_names = other_names(&config, local_addr);
        *gate.lock().unwrap_or_else(|e| e.into_inner()) = Gate::new(
            std::iter::once(config.address.as_str())
                .chain(other_names.iter().map(String::as_str))
                .map(Arc::from),
            config.replay_senders,
        );
        Ok(Driver {
            config,
            clock,
            counters,
            incoming,
            inbound,
            injected,
            inject_tx,
            warnings,
            warn_tx,
            warned: HashSet::new(),
            refused_warnings: 0,
            window: (Instant::now(), 0),
            senders,
            answers,
            other_names,
            tasks,
            local_addr,
        })
    }

    /// The names this node answers to besides its address (for
    /// [`Node::answer_to`]): `NetConfig::also_known_as`, and the literal
    /// form of the bound address when that is not its address and not a
    /// wildcard. [`Driver::run`] gives them to the node.
    pub fn other_names(&self) -> &[String] {
        &self.other_names
    }

    /// Look destinations' names up with `resolver` instead of the system's
    /// (a test's, say).
    pub fn set_resolver(&mut self, resolver: Arc<dyn Resolve>) {
        if let Some(udp) = &mut self.senders.udp {
            udp.names.set_resolver(resolver);
        }
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn clock(&self) -> WallClock {
        self.clock
    }

    pub fn injector(&self) -> Injector {
        Injector(self.inject_tx.clone())
    }

    /// The counters so far.
    pub fn stats(&self) -> NetStats {
        self.counters.snapshot()
    }

    /// A handle on the live counters, readable while the node runs.
    pub fn counters(&self) -> Counters {
        self.counters.clone()
    }

    /// Drive a started node until `stop` completes; returns the network
    /// counters. The node is left as it was at the stop, for a summary.
    pub async fn run(
        mut self,
        node: &mut Node,
        stop: impl Future<Output = ()>,
        observer: &mut impl Observer,
    ) -> NetStats {
        tokio::pin!(stop);
        self.inbound.adopt(node.shared_address().clone());
        for name in &self.other_names {
            node.answer_to(name);
        }
        // Epochs from the wall clock's nanoseconds: a restarted node's
        // streams start above any its previous run used.
        let signing = self.config.key.clone().map(|key| Signing {
            key,
            stream: 0,
            first_epoch: self.clock.now(),
        });
        let mut frames = Outbound::new(
            node.plan(),
            &self.config.address,
            signing,
            self.config.transport,
        );
        let transports: Vec<Transport> = frames.transports().collect();
        let mut out = Output::default();
        let mut packed = Vec::new();
        let mut pace = Pace::default();
        loop {
            let now = self.clock.now();
            while node.step(now, &mut out) {}
            pace.learn(out.sends.len());
            if !out.records.is_empty() || !out.problems.is_empty() {
                observer.output(node, &out);
            }
            for &transport in &transports {
                frames.pack(transport, &out.sends, &mut packed, |_, _| {});
                if !packed.is_empty() {
                    self.transmit(transport, &mut packed, &mut frames, node, observer)
                        .await;
                    if transport == Transport::Tcp && self.input_waiting() {
                        // Let the connection writers (tasks on this thread)
                        // put the frames on the wire before the next tick.
                        // With no input waiting, the driver is about to
                        // wait anyway, and the writers run then.
                        tokio::task::yield_now().await;
                    }
                }
            }
            out.clear();

            self.sweep_peers();
            let wake = node
                .next_wakeup()
                .map(|t| Instant::from_std(self.clock.instant_at(t)));
            let wake = match (wake, self.senders.sweep_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = &mut stop => break,
                Some(w) = self.warnings.recv() => self.warn(node, observer, w),
                Some((name, answer)) = self.answers.recv() => {
                    self.resolved(name, answer, &mut frames, node, observer).await;
                }
                Some(first) = self.injected.recv() => {
                    let limit = pace.limit();
                    self.inject(node, first, observer);
                    let mut taken = 1;
                    while taken < limit {
                        match self.injected.try_recv() {
                            Ok(next) => self.inject(node, next, observer),
                            Err(_) => break,
                        }
                        taken += 1;
                    }
                    pace.took(taken);
                }
                incoming = self.incoming.recv() => {
                    if let Some(Incoming { frame, transport, share }) = incoming {
                        let limit = pace.limit();
                        let mut taken = self.deliver(node, (frame, transport), observer);
                        drop(share);
                        // Frames go in whole.
                        while taken < limit {
                            match self.incoming.try_recv() {
                                Ok(Incoming { frame, transport, share }) => {
                                    taken += self.deliver(node, (frame, transport), observer);
                                    drop(share);
                                }
                                Err(_) => break,
                            }
                        }
                        pace.took(taken);
                    }
                }
                _ = sleep => {}
            }
        }
        let counters = self.counters.clone();
        self.shutdown().await;
        counters.snapshot()
    }

    /// Whether a frame or an injected tuple is ready for the next tick.
    fn input_waiting(&self) -> bool {
        !self.incoming.is_empty() || !self.injected.is_empty()
    }

    fn warn(&mut self, node: &Node, observer: &mut impl Observer, w: Warning) {
        let key = w.key();
        if w.is_about_a_destination()
            && !self.warned.contains(&key)
            && !self.within_rate(node, observer)
        {
            return;
        }
        if let Warning::Refused { .. } = w {
            // Senders choose relation names: report a few, count them all.
            if self.refused_warnings >= REFUSED_WARNINGS {
                return;
            }
            if !self.warned.contains(&key) {
                self.refused_warnings += 1;
            }
        }
        if let Warning::Reconnected { destination } = &w {
            // Trouble with this destination is news again.
            let key = Warning::ConnectionLost {
                destination: destination.clone(),
                error: String::new(),
            }
            .key();
            if !self.warned.remove(&key) {
                return;
            }
            observer.warning(node, &w);
            return;
        }
        if self.warned.len() >= WARNINGS_REMEMBERED {
            self.warned.clear();
        }
        if self.warned.insert(key) {
            observer.warning(node, &w);
        }
    }

    /// Whether another destination warning may be shown this minute; past
    /// the limit, warnings are counted and one says so.
    fn within_rate(&mut self, node: &Node, observer: &mut impl Observer) -> bool {
        let now = Instant::now();
        let (start, shown) = &mut self.window;
        if now.duration_since(*start) >= WARNING_WINDOW {
            *start = now;
            *shown = 0;
        }
        let limit = self.config.limits.warnings_per_minute;
        *shown += 1;
        if *shown <= limit {
            return true;
        }
        self.counters.lock().warnings_suppressed += 1;
        if *shown == limit + 1 {
            observer.warning(node, &Warning::Suppressed { per_minute: limit });
        }
        false
    }

    /// Forget TCP peers sent nothing for the idle timeout (their writers
    /// close the connections), at most once a [`PEER_SWEEP`].
    fn sweep_peers(&mut self) {
        let Some(peers) = self.senders.tcp.as_mut() else {
            return;
        };
        let now = Instant::now();
        if self.senders.sweep_at.is_some_and(|t| now < t) {
            return;
        }
        let idle = self.config.limits.peer_idle;
        let before = peers.len();
        peers.retain(|_, p| !(p.is_idle() && now.duration_since(p.last_used) >= idle));
        {
            let mut c = self.counters.lock();
            c.peers_evicted += (before - peers.len()) as u64;
            c.peers = peers.len() as u64;
        }
        self.senders.sweep_at = (!peers.is_empty()).then(|| now + PEER_SWEEP.min(idle));
    }

    /// The peer for `destination`, made if there is room: the table holds
    /// at most `max_peers`, and writers still finishing for peers that went
    /// count too, up to as many again. A full table forgets a quarter of
    /// its peers at once (one pass for many new ones): the least recently
    /// used of those without a connection first, then of those with
    /// nothing queued, so a flood of made-up destinations does not push out
    /// the peers that answer.
    fn peer(&mut self, destination: &Arc<str>) -> Option<&mut tcp::Peer> {
        let limit = self.config.limits.peers;
        let senders = &mut self.senders;
        let peers = senders.tcp.as_mut().expect("bound for its relations");
        if !peers.contains_key(destination) {
            if peers.len() >= limit {
                let mut order: Vec<_> = peers
                    .iter()
                    .map(|(d, p)| ((p.is_connected(), !p.is_idle(), p.last_used), d.clone()))
                    .collect();
                let forget = (limit / 4).max(1);
                order.select_nth_unstable_by(forget - 1, |a, b| a.0.cmp(&b.0));
                for (_, d) in &order[..forget] {
                    peers.remove(d);
                }
                self.counters.lock().peers_evicted += forget as u64;
            }
            if senders.writers.alive() >= 2 * limit {
                return None;
            }
            let peer = tcp::Peer::spawn(
                destination.clone(),
                self.counters.clone(),
                self.warn_tx.clone(),
                &senders.writers,
            );
            peers.insert(destination.clone(), peer);
            self.counters.lock().peers = peers.len() as u64;
            if senders.sweep_at.is_none() {
                senders.sweep_at = Some(Instant::now() + PEER_SWEEP);
            }
        }
        peers.get_mut(destination)
    }

    fn inject(
        &mut self,
        node: &mut Node,
        (relation, tuple): (String, Tuple),
        observer: &mut impl Observer,
    ) {
        if let Err(e) = node.inject(&relation, tuple) {
            let w = Warning::Refused {
                sender: Arc::from("injector"),
                relation: Arc::from(relation.as_str()),
                error: refusal(&e),
            };
            self.warn(node, observer, w);
        }
    }

    /// Hand a frame's tuples to the node; returns how many it held.
    fn deliver(
        &mut self,
        node: &mut Node,
        (frame, transport): (Frame, Transport),
        observer: &mut impl Observer,
    ) -> usize {
        let tuples = frame.messages.len();
        self.counters.lock().received(transport, tuples as u64);
        let Frame {
            sender,
            mut messages,
            ..
        } = frame;
        let mut refused = Vec::new();
        hand_to_node(node, &sender, &mut messages, |relation, e| {
            refused.push((relation.clone(), e))
        });
        for (relation, e) in refused {
            *self
                .counters
                .lock()
                .refused_tuples
                .entry(input_error_kind(&e))
                .or_default() += 1;
            let w = Warning::Refused {
                sender: sender.clone(),
                relation,
                error: refusal(&e),
            };
            self.warn(node, observer, w);
        }
        self.inbound.give(messages);
        tuples
    }

    async fn transmit(
        &mut self,
        transport: Transport,
        packed: &mut Vec<Packed>,
        frames: &mut Outbound,
        node: &Node,
        observer: &mut impl Observer,
    ) {
        for p in packed.drain(..) {
            let (destination, bytes, tuples) = match p {
                Packed::Frame {
                    destination,
                    bytes,
                    tuples,
                } => (destination, bytes, tuples as u64),
                Packed::Oversize {
                    destination,
                    relation,
                    bytes,
                } => {
                    {
                        let mut c = self.counters.lock();
                        c.lose("oversize", 0, 1);
                        *c.oversize_by_relation
                            .entry(relation.to_string())
                            .or_default() += 1;
                    }
                    let w = Warning::Oversize {
                        destination,
                        relation,
                        bytes,
                        limit: transport.frame_limit(),
                        transport,
                    };
                    self.warn(node, observer, w);
                    continue;
                }
            };
            let warning = match transport {
                Transport::Udp => {
                    let udp = self.senders.udp.as_mut().expect("bound for its relations");
                    match udp.names.lookup(&destination, (bytes, tuples)) {
                        Lookup::Ready(addr, datagram) => {
                            self.send_datagram(addr, &destination, datagram, frames)
                                .await
                        }
                        Lookup::Parked => None,
                        Lookup::Lost(datagram, why) => self.lose(destination, datagram, why),
                    }
                }
                Transport::Tcp => {
                    let counters = self.counters.clone();
                    match self.peer(&destination) {
                        Some(peer) => {
                            peer.send(bytes, tuples, &counters);
                        }
                        None => counters.lock().lose("peer_limit", 1, tuples),
                    }
                    None
                }
            };
            if let Some(w) = warning {
                self.warn(node, observer, w);
            }
        }
    }

    /// One datagram to a resolved address; a warning if it failed.
    async fn send_datagram(
        &mut self,
        addr: SocketAddr,
        destination: &Arc<str>,
        (bytes, tuples): Parked,
        frames: &mut Outbound,
    ) -> Option<Warning> {
        let udp = self.senders.udp.as_ref().expect("bound for its relations");
        match udp.socket.send_to(&bytes, addr).await {
            Ok(n) => {
                self.counters
                    .lock()
                    .sent(Transport::Udp, 1, tuples, n as u64);
                frames.recycle(Transport::Udp, bytes);
                None
            }
            Err(e) => {
                self.counters.lock().lose("send_error", 1, tuples);
                Some(Warning::SendFailed {
                    destination: destination.clone(),
                    error: e.to_string(),
                })
            }
        }
    }

    /// Count a datagram that will not be sent; the warning to give.
    fn lose(
        &mut self,
        destination: Arc<str>,
        (_, tuples): Parked,
        why: LostWhy,
    ) -> Option<Warning> {
        match why {
            LostWhy::Unresolvable(reason) => {
                self.counters.lock().lose("unresolvable", 1, tuples);
                Some(Warning::Unresolvable {
                    destination,
                    reason,
                })
            }
            LostWhy::QueueFull => {
                self.counters.lock().lose("resolve_queue_full", 1, tuples);
                None
            }
        }
    }

    /// A destination's name resolved (or failed): send the datagrams that
    /// waited for it, or count them lost.
    async fn resolved(
        &mut self,
        name: Arc<str>,
        answer: Result<SocketAddr, String>,
        frames: &mut Outbound,
        node: &Node,
        observer: &mut impl Observer,
    ) {
        let Some(udp) = self.senders.udp.as_mut() else {
            return;
        };
        let waiting = udp.names.answer(name.clone(), answer.clone());
        for datagram in waiting {
            let warning = match &answer {
                Ok(addr) => self.send_datagram(*addr, &name, datagram, frames).await,
                Err(reason) => self.lose(
                    name.clone(),
                    datagram,
                    LostWhy::Unresolvable(reason.clone()),
                ),
            };
            if let Some(w) = warning {
                self.warn(node, observer, w);
            }
        }
    }

    /// Let TCP writers finish what is queued (briefly), count the rest (and
    /// datagrams waiting for a lookup) as lost, and stop the socket tasks.
    async fn shutdown(mut self) {
        if let Some(udp) = &mut self.senders.udp {
            // Datagrams still waiting for their destination's lookup.
            let (frames, tuples) = udp.names.drain_parked();
            if frames > 0 {
                self.counters.lock().lose("shutdown", frames, tuples);
            }
        }
        if let Some(peers) = &mut self.senders.tcp {
            let deadline = Instant::now() + SHUTDOWN_GRACE;
            let mut waiting = Vec::new();
            for (_, peer) in peers.drain() {
                let tcp::Peer {
                    tx, queue, handle, ..
                } = peer;
                drop(tx); // the writer finishes what is queued, then ends
                waiting.push((queue, handle));
            }
            for (queue, mut handle) in waiting {
                if tokio::time::timeout_at(deadline, &mut handle)
                    .await
                    .is_err()
                {
                    handle.abort();
                    let frames = queue.frames.load(Ordering::Relaxed);
                    let tuples = queue.tuples.load(Ordering::Relaxed);
                    if frames > 0 {
                        self.counters.lock().lose("shutdown", frames, tuples);
                    }
                }
            }
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// How many inputs the next tick takes. A tick's sends leave when it ends,
/// so a tick that takes every waiting input makes the next hop wait for all
/// of them: taking about a frame's worth of sends' inputs lets this node
/// work on the next tick while the next hop works on this one (measured in
/// BENCHMARKS.md, network section).
#[derive(Debug, Default)]
struct Pace {
    /// Inputs taken since the last tick.
    taken: usize,
    /// Sends per input, from the last tick that took inputs.
    fan_out: Option<f64>,
}

impl Pace {
    fn took(&mut self, inputs: usize) {
        self.taken += inputs;
    }

    /// After a round of ticks that made `sends` sends.
    fn learn(&mut self, sends: usize) {
        if self.taken > 0 {
            self.fan_out = Some(sends as f64 / self.taken as f64);
            self.taken = 0;
        }
    }

    fn limit(&self) -> usize {
        match self.fan_out {
            Some(f) if f > 0.0 => ((TICK_SENDS as f64 / f) as usize).clamp(1, TICK_INPUTS),
            _ => TICK_INPUTS,
        }
    }
}

/// Why a tuple was refused, for the operator: a tuple located at a name
/// the node does not know says how to make it one.
fn refusal(e: &InputError) -> String {
    match e {
        InputError::NotHere { .. } => {
            format!("{e}; if that is a name of this node, start it with --also-known-as")
        }
        _ => e.to_string(),
    }
}

/// The names a node bound at `bound` answers to besides its address.
fn other_names(config: &NetConfig, bound: SocketAddr) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let literal = (!bound.ip().is_unspecified()).then(|| bound.to_string());
    for name in config.also_known_as.iter().cloned().chain(literal) {
        if name != config.address && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_takes_a_frame_s_worth_of_sends() {
        let mut pace = Pace::default();
        // Nothing known yet: a full tick's worth.
        assert_eq!(pace.limit(), TICK_INPUTS);
        // Each input made 256 sends: four inputs fill a tick.
        pace.took(8);
        pace.learn(8 * 256);
        assert_eq!(pace.limit(), TICK_SENDS / 256);
        // A round of ticks without inputs (timers) teaches nothing.
        pace.learn(5_000);
        assert_eq!(pace.limit(), TICK_SENDS / 256);
        // Inputs that send nothing: the input bound holds.
        pace.took(100);
        pace.learn(0);
        assert_eq!(pace.limit(), TICK_INPUTS);
        // A huge fan-out still takes one input at a time.
        pace.took(1);
        pace.learn(1_000_000);
        assert_eq!(pace.limit(), 1);
    }
}
