//! Command-line arguments: every subcommand's clap types, and nothing else.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use trellis_net::Transport;

use crate::watch_filter::WatchFilterArgs;

/// Trellis runs distributed systems written as OverLog rules.
///
/// Write a protocol as a few dozen rules with location specifiers
/// (`succ(@N, S)` lives at node N); Trellis checks it, compiles it into a
/// dataflow plan, and runs it. Start with `trellis check FILE`, then
/// `trellis explain FILE` to see what the rules compile to, then
/// `trellis run FILE`.
#[derive(Debug, Parser)]
#[command(name = "trellis", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse and analyse a program; exit 0 if clean, 1 with diagnostics.
    ///
    /// Reports syntax errors, unknown functions, arity mismatches, unsafe
    /// variables, cycles through aggregates or `notin`, and bad
    /// `materialize` arguments, each pointing at the line it is about.
    /// With `--calm`, also warns about every point of order (see `explain
    /// --calm`).
    Check(CalmArgs),
    /// Print the compiled plan in words: relations and their indexes,
    /// timers, strata, and every rule strand step by step, including the
    /// rules that localization generated.
    ///
    /// With `--calm`, print the CALM analysis instead: which relations are
    /// sent between nodes, which rules are monotone, every point of order (a
    /// non-monotone operation fed by network input, whose result can depend
    /// on message order) with what can go wrong and what would fix it, and a
    /// label for each output (docs/calm.md).
    Explain(CalmArgs),
    /// Print the dataflow graph (relations and rule strands) as DOT or
    /// Mermaid.
    ///
    /// Render DOT with `trellis graph prog.olg | dot -Tsvg > prog.svg`;
    /// paste Mermaid into any Markdown that renders it.
    Graph(GraphArgs),
    /// Run one node, printing watched tuples as they happen.
    ///
    /// The node serves on `--addr` over UDP (or `--transport tcp`) and sends
    /// tuples addressed to other nodes over the network, until Ctrl-C,
    /// SIGTERM or `--for`; then it prints a summary (with `--json`, one JSON
    /// object). With `--transport none` it runs alone: tuples it sends
    /// itself are delivered, tuples for other addresses are counted and
    /// reported, and it stops when nothing is left to do. `--clock virtual`
    /// (implies `--transport none`) jumps from one wake-up to the next, so a
    /// long run finishes at once and prints the same every time.
    Run(RunArgs),
    /// Start N nodes of one program as local processes (127.0.0.1, ports
    /// P..P+N-1), merge their output, and report any that dies.
    ///
    /// Each node gets `-D LANDMARK=\"127.0.0.1:P\"` (node 0) unless you
    /// define LANDMARK, and `-D NODEID=0x...I` (the SHA-1 of its address, or
    /// random with `--node-id random`). Ctrl-C stops them all.
    Cluster(ClusterArgs),
    /// Send one tuple to a running node, e.g.
    /// `trellis inject 127.0.0.1:11000 'ping(@LOCALADDRESS, 1)'`.
    ///
    /// `LOCALADDRESS` in the tuple is ADDR; `-D` macros work as in
    /// programs. Use the node's transport and cluster key.
    Inject(InjectArgs),
    /// Simulate many nodes in one process on a virtual clock.
    ///
    /// Every node runs the same engine as `trellis run`; the network is a
    /// model (latency, loss, duplication, partitions) and faults and churn
    /// come from a scenario file (see docs/simulator.md). A run is a function
    /// of (program, scenario, seed): rerun with the same three and you get
    /// the same trace hash. Per-node macros: `NODEID` is the SHA-1 of the
    /// node's address and `LANDMARK` the first node's address unless the
    /// scenario or `-D` says otherwise.
    Sim(SimArgs),
    /// Explain why a tuple existed in a simulated run: its derivation tree
    /// across nodes, down to facts, injected tuples and timers.
    ///
    /// Simulate with provenance first (every derivation is written to
    /// DIR/provenance.jsonl), then ask about any tuple:
    ///
    ///     trellis sim examples/provenance/relay.olg \
    ///         --scenario examples/provenance/relay.toml --provenance --out run
    ///     trellis why run 'arrived(@"node2:9000", 8, _)'
    ///
    ///     arrived(@"node2:9000", 8, 2)  <- rule r3 on node2:9000 at 4.100s
    ///       token(@"node2:9000", 8, 2)  <- received on node2:9000 at 4.100s from node1:9000
    ///         token(@"node2:9000", 8, 2)  <- rule r2 on node1:9000 at 4.050s, sent
    ///           token(@"node1:9000", 8, 1)  <- received on node1:9000 at 4.050s from node0:9000
    ///             token(@"node1:9000", 8, 1)  <- rule r1 on node0:9000 at 4.000s, sent
    ///               periodic(@"node0:9000", 9181310443481164070, 2, 2)  <- timer on node0:9000 at 4.000s
    ///               pending(@"node0:9000", 8)  <- rule r0 on node0:9000 at 3.000s
    ///                 start(@"node0:9000", 8)  <- injected on node0:9000 at 3.000s
    ///               next(@"node0:9000", "node1:9000")  <- fact on node0:9000 at 0.000s
    ///           next(@"node1:9000", "node2:9000")  <- fact on node1:9000 at 0.000s
    ///
    /// PATTERN is one atom: constants must match; `_` and variables match
    /// anything (a variable used twice matches equal values), so a pattern
    /// can pick several tuples. Each gets a tree, as it was on the node its
    /// location names: its latest derivation there at or before `--at`
    /// (default: the end of the run). A rule's inputs are their own latest
    /// derivations on that node before it; a received tuple continues at
    /// the sender's derivation. Leaves are facts, injected tuples, timers,
    /// and inputs with no record ("not traced", "no record before T"); a
    /// step shown already says "(as above)", one deeper than `--depth`
    /// "(not followed: --depth)".
    ///
    ///     trellis why run 'arrived(@"node2:9000", _, _)'            both tokens
    ///     trellis why run 'arrived(@"node2:9000", _, _)' --at 3     as they were at 3 s
    ///     trellis why run 'arrived(@N, 8, _)' --depth 2             two steps back
    ///     trellis why run 'arrived(@N, 8, _)' --format json         nested objects
    ///     trellis why run 'arrived(@N, 8, _)' --format dot | dot -Tsvg > why.svg
    ///     trellis why run 'arrived(@N, 8, _)' --format mermaid      for Markdown
    ///
    /// `json` prints one object per tuple, a line each, the tree nested (a
    /// rule's `inputs`, a receipt's `sender`); `dot` and `mermaid` draw all
    /// the trees as one graph, a cluster (subgraph) per node, tuples and
    /// rule firings as vertices, messages as dashed edges between clusters.
    ///
    /// Exit 0 when something matched, 1 when nothing did, 2 for a bad
    /// pattern, directory or log. See docs/provenance.md.
    #[command(verbatim_doc_comment)]
    Why(WhyArgs),
    /// Explain why a tuple did NOT exist on a node at a time of a
    /// simulated run: for each rule that could derive it, where it stops.
    ///
    /// The run is replayed from DIR (written by `trellis sim ... --out
    /// DIR`) to `--at`, and the node the pattern names is asked. Each rule
    /// that derives the relation runs over that node's tables with the
    /// tuple's fields bound, and the first step no match passed is shown:
    /// a body atom with no matching tuple (asked about in turn, on the node
    /// that would hold it, to `--depth`), a `notin` that found one, a
    /// condition that was false, or a rule that derives it now (a message
    /// lost or in flight). With provenance in DIR, sends of the tuple that
    /// never arrived are listed too.
    ///
    ///     trellis sim examples/provenance/relay.olg \
    ///         --scenario examples/provenance/relay.toml --provenance --out run
    ///     trellis why-not run 'arrived(@"node2:9000", 9, _)' --at 5
    ///     trellis why-not run 'arrived(@"node2:9000", 9, _)' --format json
    ///
    /// The location must be an address; other fields are constants, `_`
    /// or variables (both match anything here). A node that is down at
    /// that time holds nothing, and says so. Exit 0 when the tuple is
    /// absent (and explained), 1 when it is there after all, 2 for a bad
    /// pattern or directory. See docs/provenance.md.
    #[command(verbatim_doc_comment, name = "why-not")]
    WhyNot(WhyNotArgs),
}

#[derive(Debug, Args)]
pub struct ProgramArgs {
    /// The OverLog program (`.olg`).
    pub file: PathBuf,
    /// Define a macro, overriding the file's `#define`: `-D NAME=VALUE`.
    /// The value is taken literally, so `-D LANDMARK=\"host:port\"` is a
    /// string literal and `-D N=5` an integer; `-D NAME` alone defines NAME
    /// as 1 (as cc does). A name the program never uses is warned about.
    #[arg(short = 'D', value_name = "NAME[=VALUE]")]
    pub defines: Vec<Define>,
    /// Silence a kind of warning about the program (repeatable), e.g.
    /// `-A never_derived`; `-A warnings` silences them all.
    #[arg(short = 'A', long = "allow", value_name = "KIND", value_parser = allow_kind)]
    pub allow: Vec<String>,
    /// Execute in this semantics, whatever the program's `semantics(...)`
    /// statement says: `tick` (the default: a node takes its inputs as a
    /// set, derived tuples are sets) or `p2` (P2's event-at-a-time
    /// execution: one input per fixpoint, each event on its own, aggregates
    /// per event). See "P2 compatibility" in docs/language.md.
    #[arg(long, value_enum, value_name = "SEMANTICS")]
    pub semantics: Option<SemanticsArg>,
}

fn allow_kind(s: &str) -> Result<String, String> {
    trellis_plan::warning_kind(s).map_err(|e| e.to_string())
}

/// `--semantics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SemanticsArg {
    Tick,
    P2,
}

impl From<SemanticsArg> for trellis_plan::Semantics {
    fn from(s: SemanticsArg) -> Self {
        match s {
            SemanticsArg::Tick => trellis_plan::Semantics::Tick,
            SemanticsArg::P2 => trellis_plan::Semantics::P2,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Define {
    pub name: String,
    pub value: String,
}

impl FromStr for Define {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, value) = s.split_once('=').unwrap_or((s, "1"));
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "`{name}` is not a macro name (letters, digits and `_`)"
            ));
        }
        Ok(Define {
            name: name.to_string(),
            value: value.to_string(),
        })
    }
}

#[derive(Debug, Args)]
pub struct CalmArgs {
    #[command(flatten)]
    pub program: ProgramArgs,
    /// The CALM analysis: monotone rules, points of order, output labels.
    #[arg(long)]
    pub calm: bool,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Draw relations and rules coloured by the CALM analysis (green
    /// monotone, orange non-monotone, red a point of order; dashed: sent
    /// between nodes) instead of the rule strands.
    #[arg(long)]
    pub calm: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

impl From<GraphFormat> for trellis_plan::GraphFormat {
    fn from(f: GraphFormat) -> Self {
        match f {
            GraphFormat::Dot => trellis_plan::GraphFormat::Dot,
            GraphFormat::Mermaid => trellis_plan::GraphFormat::Mermaid,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Clock {
    /// Real time: timers fire on the wall clock.
    Wall,
    /// Virtual time: jump straight to the next wake-up.
    Virtual,
}

/// Provenance (docs/provenance.md): which derivations are recorded, and how
/// much of them a node keeps in its `ruleExec` and `tupleTable` tables.
#[derive(Debug, Args, Clone, Copy)]
pub struct ProvenanceArgs {
    /// Record how every tuple came to be (as if the program said
    /// `trace(rel).` for every relation). `trellis sim --out DIR` writes it
    /// to DIR/provenance.jsonl for `trellis why`; `run` and `cluster` keep
    /// it in each node's `ruleExec` and `tupleTable` tables.
    #[arg(long)]
    pub provenance: bool,
    /// Keep a `ruleExec` or `tupleTable` row this many seconds after its
    /// derivation was last seen.
    #[arg(long, value_name = "SECONDS", value_parser = lifetime_seconds,
          default_value_t = default_limits().0)]
    pub provenance_lifetime: f64,
    /// Keep at most this many rows in each of `ruleExec` and `tupleTable`,
    /// per node; the oldest goes first.
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>,
          default_value_t = default_limits().1)]
    pub provenance_rows: usize,
}

/// A row's lifetime: above 0, finite (at most 10^9 seconds, about 31
/// years, so that it fits the engine's nanoseconds).
fn lifetime_seconds(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(x > 0.0 && x <= 1e9) {
        return Err("expected a number of seconds above 0, at most 1000000000".into());
    }
    Ok(x)
}

/// The engine's bounds, in the flags' units.
fn default_limits() -> (f64, usize) {
    let limits = trellis_plan::ProvenanceLimits::default();
    (
        limits.lifetime_nanos.expect("a default lifetime") as f64 / 1e9,
        limits.max_rows.expect("a default size"),
    )
}

impl ProvenanceArgs {
    pub fn limits(&self) -> trellis_plan::ProvenanceLimits {
        trellis_plan::ProvenanceLimits {
            lifetime_nanos: Some((self.provenance_lifetime * 1e9) as u64),
            max_rows: Some(self.provenance_rows),
        }
    }

    /// The same flags, for a node that `trellis cluster` starts (bounds
    /// only where they are not the defaults).
    pub fn to_argv(self) -> Vec<String> {
        let mut argv = Vec::new();
        if self.provenance {
            argv.push("--provenance".to_string());
        }
        let (lifetime, rows) = default_limits();
        if self.provenance_lifetime != lifetime {
            argv.push("--provenance-lifetime".into());
            argv.push(self.provenance_lifetime.to_string());
        }
        if self.provenance_rows != rows {
            argv.push("--provenance-rows".into());
            argv.push(self.provenance_rows.to_string());
        }
        argv
    }
}

/// A node's runaway bounds (see the language reference, "runaway").
#[derive(Debug, Args, Clone, Copy)]
pub struct Limits {
    /// Stop a cascade after this many ticks at one clock instant, at
    /// least 1 [default: 10000].
    #[arg(long, value_name = "N", value_parser = at_least_one::<u32>)]
    pub max_ticks_per_instant: Option<u32>,
    /// Stop a tick after this many derivations (events, writes, sends,
    /// aggregate inputs), at least 1 [default: 1000000].
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub max_derivations_per_tick: Option<usize>,
}

/// A whole number of at least 1: a bound of 0 would stop every tick before
/// it starts and, at 0 ticks per instant, loop forever piling up reports.
fn at_least_one<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialEq + From<u8>,
    T::Err: std::fmt::Display,
{
    let n: T = s.parse().map_err(|e| format!("{e}"))?;
    if n == T::from(0u8) {
        return Err("must be at least 1".into());
    }
    Ok(n)
}

impl Limits {
    pub fn apply(&self, config: &mut trellis_engine::NodeConfig) {
        if let Some(n) = self.max_ticks_per_instant {
            config.max_ticks_per_instant = n;
        }
        if let Some(n) = self.max_derivations_per_tick {
            config.max_derivations_per_tick = n;
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub program: ProgramArgs,
    /// This node's address (`LOCALADDRESS`).
    #[arg(long, default_value = "127.0.0.1:10000", value_name = "HOST:PORT")]
    pub addr: String,
    /// Stop after this many seconds (default: when nothing is left to do).
    #[arg(long = "for", value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Seed of the node's random source (`f_rand`, `periodic`, ...).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Inject a tuple at start, e.g. `--fact 'link("127.0.0.1:10000", "b")'`.
    /// Repeatable; macros and `LOCALADDRESS` work as in the program.
    #[arg(long = "fact", value_name = "TUPLE")]
    pub facts: Vec<String>,
    /// Watch more relations than the program does (repeatable), or `all`.
    #[arg(long = "watch", value_name = "RELATION")]
    pub watch: Vec<String>,
    #[command(flatten)]
    pub watch_filter: WatchFilterArgs,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Wall-clock or virtual time.
    #[arg(long, value_enum, default_value_t = Clock::Wall)]
    pub clock: Clock,
    #[command(flatten)]
    pub net: NetArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub provenance: ProvenanceArgs,
}

/// The names a node answers to, and how it guards and resolves addresses
/// (docs/security.md, docs/networking.md "Limits").
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Another name this node answers to (repeatable), such as
    /// `localhost:11000` for a node whose `--addr` is `127.0.0.1:11000`:
    /// tuples located there, and authenticated frames sent there, are this
    /// node's. The literal form of the bound address is one already.
    #[arg(long = "also-known-as", value_name = "HOST:PORT")]
    pub also_known_as: Vec<String>,
    /// With a cluster key: keep replay windows for this many senders'
    /// streams, forgetting the one heard from longest ago beyond
    /// [default: 4096].
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub replay_senders: Option<usize>,
    /// Give up looking a destination's name up after this many seconds
    /// [default: 5].
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub resolve_timeout: Option<f64>,
    /// Cache at most this many destination names [default: 4096].
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub resolve_cache: Option<usize>,
    /// Datagrams that may wait for one name's lookup; more are lost and
    /// counted [default: 256].
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub resolve_queue: Option<usize>,
}

impl IdentityArgs {
    pub fn apply(&self, config: &mut trellis_net::NetConfig) {
        config.also_known_as.clone_from(&self.also_known_as);
        if let Some(n) = self.replay_senders {
            config.replay_senders = n;
        }
        if let Some(s) = self.resolve_timeout {
            config.resolve.timeout = std::time::Duration::from_secs_f64(s);
        }
        if let Some(n) = self.resolve_cache {
            config.resolve.names = n;
        }
        if let Some(n) = self.resolve_queue {
            config.resolve.queue = n;
        }
    }
}

/// A finite number of seconds above 0 (and at most a day).
fn positive_seconds(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(x > 0.0 && x <= 86_400.0) {
        return Err("expected a number of seconds above 0, at most 86400".into());
    }
    Ok(x)
}

#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(flatten)]
    pub program: ProgramArgs,
    /// Number of nodes (overrides the scenario).
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Allow more than 1000000 nodes, up to N (overrides the scenario's
    /// `max_nodes`): a bound on the simulation's memory.
    #[arg(long, value_name = "N")]
    pub max_nodes: Option<usize>,
    /// Scenario file (TOML): network model, faults, churn, workloads,
    /// measurements.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Seed (overrides the scenario).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Virtual seconds to simulate (overrides the scenario).
    #[arg(long = "for", value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Watch more relations than the program does (repeatable), or `all`.
    #[arg(long = "watch", value_name = "RELATION")]
    pub watch: Vec<String>,
    /// Print only this node's watch lines (repeatable): its address, e.g.
    /// `node3:9000`.
    #[arg(long = "watch-node", value_name = "ADDRESS")]
    pub watch_nodes: Vec<String>,
    #[command(flatten)]
    pub watch_filter: WatchFilterArgs,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not print watch records (the summary is still printed).
    #[arg(long, short)]
    pub quiet: bool,
    /// Write the summary, CSV files, plots and a replayable run.toml here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the trace hash every SECONDS of virtual time, to find where two
    /// runs diverge.
    #[arg(long, value_name = "SECONDS")]
    pub checkpoints: Option<f64>,
    /// Every node's runaway bounds (override the scenario's).
    #[command(flatten)]
    pub limits: Limits,
    #[command(flatten)]
    pub provenance: ProvenanceArgs,
}

/// `--transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportArg {
    /// Datagrams: may lose, duplicate or reorder tuples.
    Udp,
    /// TCP connections: reliable and in order while a connection is up.
    Tcp,
    /// No network: a single node; tuples for other addresses are counted.
    None,
}

impl TransportArg {
    pub fn net(self) -> Option<Transport> {
        match self {
            TransportArg::Udp => Some(Transport::Udp),
            TransportArg::Tcp => Some(Transport::Tcp),
            TransportArg::None => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TransportArg::Udp => "udp",
            TransportArg::Tcp => "tcp",
            TransportArg::None => "none",
        }
    }
}

/// `--transport` of the commands that need a network (`cluster`,
/// `inject`): no `none`, so their help offers only what they accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetTransportArg {
    /// Datagrams: may lose, duplicate or reorder tuples.
    Udp,
    /// TCP connections: reliable and in order while a connection is up.
    Tcp,
}

impl NetTransportArg {
    pub fn net(self) -> Transport {
        match self {
            NetTransportArg::Udp => Transport::Udp,
            NetTransportArg::Tcp => Transport::Tcp,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            NetTransportArg::Udp => "udp",
            NetTransportArg::Tcp => "tcp",
        }
    }
}

/// The network options of `trellis run`.
#[derive(Debug, Args)]
pub struct NetArgs {
    /// How tuples travel to other nodes: `udp` (the default on the wall
    /// clock), `tcp`, or `none` (a single node; the default, and the only
    /// choice, with `--clock virtual`).
    #[arg(long, value_enum)]
    pub transport: Option<TransportArg>,
    /// Authenticate every frame with HMAC-SHA256 under the key in FILE (the
    /// file's bytes are the key). Frames without a valid tag are dropped and
    /// counted. Give every node of the cluster the same file.
    #[arg(long, value_name = "FILE")]
    pub cluster_key: Option<PathBuf>,
    /// Listen on this address instead of `--addr` (e.g. `0.0.0.0:11000`);
    /// `--addr` stays the node's name, the address other nodes send to.
    #[arg(long, value_name = "HOST:PORT")]
    pub bind: Option<String>,
    /// Add every table's rows to the summary.
    #[arg(long)]
    pub tables: bool,
    #[command(flatten)]
    pub limits: NetLimitArgs,
}

/// What other hosts may make a node hold (docs/networking.md, "Limits").
/// Sizes are bytes; timeouts seconds.
#[derive(Debug, Args, Clone, Default)]
pub struct NetLimitArgs {
    /// Messages in one received frame [default: 65536].
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub max_frame_messages: Option<usize>,
    /// Decoded bytes of one received frame [default: 16777216].
    #[arg(long, value_name = "BYTES", value_parser = at_least_one::<usize>)]
    pub max_frame_decoded: Option<usize>,
    /// Decoded bytes of received frames waiting for the node, over all
    /// sockets; at least --max-frame-decoded [default: 67108864].
    #[arg(long, value_name = "BYTES")]
    pub max_decoded: Option<usize>,
    /// Bytes of TCP frames being read, over all connections, past each
    /// connection's first 64 KiB; at least 4194304 [default: 33554432].
    #[arg(long, value_name = "BYTES")]
    pub max_reading: Option<usize>,
    /// Inbound TCP connections at once [default: 256].
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub max_inbound: Option<usize>,
    /// Close an inbound TCP connection with no frame begun for this long
    /// [default: 60].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub idle_timeout: Option<Duration>,
    /// Close a TCP connection whose frame does not arrive whole within this
    /// long of its first byte [default: 15].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub frame_timeout: Option<Duration>,
    /// Outbound TCP destinations connected at once [default: 1024].
    #[arg(long, value_name = "N", value_parser = at_least_one::<usize>)]
    pub max_peers: Option<usize>,
    /// Forget an outbound TCP destination sent nothing for this long, and
    /// close its connection [default: 30].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub peer_idle_timeout: Option<Duration>,
    /// Warnings about destinations shown per minute; the rest are counted
    /// [default: 20].
    #[arg(long, value_name = "N")]
    pub max_warnings_per_minute: Option<usize>,
}

/// A positive, finite number of seconds.
fn seconds(s: &str) -> Result<Duration, String> {
    let x: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(x.is_finite() && x > 0.0 && x <= 1e9) {
        return Err("expected a number of seconds, more than 0".into());
    }
    Ok(Duration::from_secs_f64(x))
}

impl NetLimitArgs {
    /// The defaults, with the limits given instead.
    pub fn limits(&self) -> trellis_net::NetLimits {
        let mut limits = trellis_net::NetLimits::default();
        self.apply(&mut limits);
        limits
    }

    fn apply(&self, limits: &mut trellis_net::NetLimits) {
        let set = |slot: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut limits.frame_messages, self.max_frame_messages);
        set(&mut limits.frame_decoded, self.max_frame_decoded);
        set(&mut limits.decoded, self.max_decoded);
        set(&mut limits.reading, self.max_reading);
        set(&mut limits.inbound, self.max_inbound);
        set(&mut limits.peers, self.max_peers);
        set(
            &mut limits.warnings_per_minute,
            self.max_warnings_per_minute,
        );
        let set = |slot: &mut Duration, v: Option<Duration>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        set(&mut limits.idle_timeout, self.idle_timeout);
        set(&mut limits.frame_timeout, self.frame_timeout);
        set(&mut limits.peer_idle, self.peer_idle_timeout);
    }

    /// Whether any limit was given.
    pub fn any(&self) -> bool {
        !self.to_argv().is_empty()
    }

    /// The same flags, for a node that `trellis cluster` starts.
    pub fn to_argv(&self) -> Vec<String> {
        let mut argv = Vec::new();
        let mut push = |flag: &str, v: Option<String>| {
            if let Some(v) = v {
                argv.push(format!("--{flag}"));
                argv.push(v);
            }
        };
        let n = |v: Option<usize>| v.map(|v| v.to_string());
        let secs = |v: Option<Duration>| v.map(|v| v.as_secs_f64().to_string());
        push("max-frame-messages", n(self.max_frame_messages));
        push("max-frame-decoded", n(self.max_frame_decoded));
        push("max-decoded", n(self.max_decoded));
        push("max-reading", n(self.max_reading));
        push("max-inbound", n(self.max_inbound));
        push("idle-timeout", secs(self.idle_timeout));
        push("frame-timeout", secs(self.frame_timeout));
        push("max-peers", n(self.max_peers));
        push("peer-idle-timeout", secs(self.peer_idle_timeout));
        push("max-warnings-per-minute", n(self.max_warnings_per_minute));
        argv
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodeIdMode {
    /// The SHA-1 of the node's address (what `trellis run` and `trellis
    /// sim` use by default).
    Sha1,
    /// 160 random bits per node, from `--seed`.
    Random,
    /// Do not define NODEID (each node falls back to its address's SHA-1
    /// unless the program or `-D` defines it).
    None,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub program: ProgramArgs,
    /// How many nodes.
    #[arg(long)]
    pub nodes: usize,
    /// Node i listens on 127.0.0.1:(P + i).
    #[arg(long, default_value_t = 11000, value_name = "P")]
    pub base_port: u16,
    /// How tuples travel between the nodes.
    #[arg(long, value_enum, default_value_t = NetTransportArg::Udp)]
    pub transport: NetTransportArg,
    /// Authenticate frames with this key file (given to every node).
    #[arg(long, value_name = "FILE")]
    pub cluster_key: Option<PathBuf>,
    /// Each node's `NODEID`.
    #[arg(long, value_enum, default_value_t = NodeIdMode::Sha1)]
    pub node_id: NodeIdMode,
    /// Stop every node after this many seconds (default: until Ctrl-C).
    #[arg(long = "for", value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Seed: node i runs with seed + i; also seeds `--node-id random`.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Watch more relations than the program does (repeatable), or `all`.
    #[arg(long = "watch", value_name = "RELATION")]
    pub watch: Vec<String>,
    #[command(flatten)]
    pub watch_filter: WatchFilterArgs,
    /// One JSON object per line: the nodes' own lines with an `index`
    /// field added, and the cluster's reports (`"cluster": ...`).
    #[arg(long)]
    pub json: bool,
    /// Every node's runaway bounds.
    #[command(flatten)]
    pub limits: Limits,
    /// Every node's network limits.
    #[command(flatten)]
    pub net_limits: NetLimitArgs,
    /// Every node's provenance.
    #[command(flatten)]
    pub provenance: ProvenanceArgs,
}

#[derive(Debug, Args)]
pub struct InjectArgs {
    /// The node's address, HOST:PORT, as given to its `--addr`.
    pub addr: String,
    /// The tuple, e.g. `'ping(@LOCALADDRESS, 7)'`: constants and macros;
    /// its first field is the node's address (`LOCALADDRESS` means ADDR).
    pub tuple: String,
    /// The node's transport.
    #[arg(long, value_enum, default_value_t = NetTransportArg::Udp)]
    pub transport: NetTransportArg,
    /// The cluster's key file, when the node was started with one.
    #[arg(long, value_name = "FILE")]
    pub cluster_key: Option<PathBuf>,
    /// Define a macro for the tuple: `-D NAME=VALUE` (`-D NAME` alone
    /// defines NAME as 1).
    #[arg(short = 'D', value_name = "NAME[=VALUE]")]
    pub defines: Vec<Define>,
    /// The sender named in the frame.
    #[arg(long, default_value = "trellis-inject", value_name = "NAME")]
    pub from: String,
}

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The `--out` directory of `trellis sim ... --provenance`, or the
    /// address of a running node (`trellis run --provenance`) to ask.
    pub dir: PathBuf,
    /// The tuples to explain, e.g. `'lookupResults(@"node3:9000", K, _, _, _)'`.
    #[arg(required_unless_present = "program")]
    pub pattern: Option<String>,
    /// Instead of a pattern: run this OverLog program over the run's
    /// provenance (its `ruleExec` and `tupleTable`, every derivation a
    /// row) and print the tables it declares (`--format json`: a line
    /// per row).
    #[arg(long, value_name = "QUERY.olg", conflicts_with = "pattern")]
    pub program: Option<PathBuf>,
    /// Explain the tuples as they were at this virtual time, in seconds
    /// (default: the end of the run).
    #[arg(long, value_name = "SECONDS", value_parser = time_seconds)]
    pub at: Option<f64>,
    /// Follow derivations at most this many steps back, at most 1000;
    /// deeper inputs are cut and marked.
    #[arg(long, value_name = "N", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(..=MAX_DEPTH as i64))]
    pub depth: u16,
    /// Output format.
    #[arg(long, value_enum, default_value_t = WhyFormat::Text)]
    pub format: WhyFormat,
    #[command(flatten)]
    pub live: LiveWhyArgs,
}

/// How `trellis why ADDR` reaches a running node.
#[derive(Debug, Args)]
pub struct LiveWhyArgs {
    /// The transport the node runs on.
    #[arg(long, value_enum, default_value_t = NetTransportArg::Udp)]
    pub transport: NetTransportArg,
    /// The cluster's key file, when the node has one.
    #[arg(long, value_name = "FILE")]
    pub cluster_key: Option<PathBuf>,
    /// How long to wait for answers after the last one, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = time_seconds)]
    pub quiet: f64,
    /// The most seconds to wait in all.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = time_seconds)]
    pub timeout: f64,
}

/// The deepest `--depth`: the walk and its printers recurse once a step,
/// and a thousand steps stay far inside a thread's stack.
pub const MAX_DEPTH: u16 = 1000;

#[derive(Debug, Args)]
pub struct WhyNotArgs {
    /// The `--out` directory of `trellis sim`.
    pub dir: PathBuf,
    /// The tuple that is missing, e.g. `'lookupResults(@"node3:9000", K, _, _, 7)'`.
    pub pattern: String,
    /// As the run was at this virtual time, in seconds (default: its end).
    #[arg(long, value_name = "SECONDS", value_parser = time_seconds)]
    pub at: Option<f64>,
    /// Ask about missing body tuples this many levels down (at most 1000).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u16).range(..=MAX_DEPTH as i64))]
    pub depth: u16,
    /// Output format.
    #[arg(long, value_enum, default_value_t = WhyNotFormat::Text)]
    pub format: WhyNotFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WhyNotFormat {
    /// An indented tree, for people.
    Text,
    /// One JSON object: each rule, where it stopped, and what is below.
    Json,
}

/// A finite number of seconds, 0 or more.
fn time_seconds(s: &str) -> Result<f64, String> {
    let x: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if !(x.is_finite() && x >= 0.0) {
        return Err("expected a number of seconds, 0 or more".into());
    }
    Ok(x)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WhyFormat {
    /// An indented tree, for people.
    Text,
    /// One JSON object per line, per tuple: the tree as nested objects.
    Json,
    /// A Graphviz graph, one cluster per node.
    Dot,
    /// A Mermaid flowchart, one subgraph per node.
    Mermaid,
}
