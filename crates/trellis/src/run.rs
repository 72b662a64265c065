//! `trellis run`: one node, either on the network (UDP or TCP, wall clock,
//! until stopped) or alone (`--transport none`: local delivery, wall or
//! virtual clock, until nothing is left to do).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use trellis_engine::harness::{Harness, Observer as HarnessObserver};
use trellis_engine::{
    NANOS_PER_SECOND, Node, NodeConfig, NodeParams, Outgoing, Output, Placement, Time,
};
use trellis_net::{Driver, NetConfig, Observer, Transport, WallClock, Warning};
use trellis_plan::{Plan, RelationKind};
use trellis_syntax::ParseOptions;

use crate::cli::{Clock, RunArgs, TransportArg};
use crate::common::{CLUSTER_PARENT, add_watches, parse_fact, parse_options, read_key};
use crate::output;
use crate::provenance;
use crate::signals::{StopRequest, StopSignals, stop_requests};
use crate::watch_filter::WatchFilter;

pub fn run(args: &RunArgs) -> ExitCode {
    let transport = match (args.net.transport, args.clock) {
        (None, Clock::Virtual) | (Some(TransportArg::None), _) => None,
        (None, Clock::Wall) => Some(Transport::Udp),
        (Some(t), Clock::Wall) => t.net(),
        (Some(t), Clock::Virtual) => {
            eprintln!(
                "error: --clock virtual runs a single node; it cannot use --transport {} (drop --clock, or use --transport none)",
                t.as_str()
            );
            return ExitCode::from(2);
        }
    };
    if transport.is_none()
        && (args.net.cluster_key.is_some() || args.net.bind.is_some() || args.net.limits.any())
    {
        eprintln!(
            "error: --cluster-key, --bind and the network limits need a network transport (udp or tcp)"
        );
        return ExitCode::from(2);
    }
    if let Err(e) = args.net.limits.limits().check() {
        eprintln!("error: --{e}");
        return ExitCode::from(2);
    }
    let filter = match WatchFilter::new(&args.watch_filter, Vec::new()) {
        Ok(f) => f,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let id = &args.identity;
    if transport.is_none()
        && (id.replay_senders.is_some()
            || id.resolve_timeout.is_some()
            || id.resolve_cache.is_some()
            || id.resolve_queue.is_some())
    {
        eprintln!("error: --replay-senders and --resolve-* need a network transport (udp or tcp)");
        return ExitCode::from(2);
    }
    let options = parse_options(&args.program);
    // A node that traces anything answers `trellis why ADDR` through the
    // why rules, added to its program (docs/provenance.md).
    let mut plan = match provenance::load_live(&args.program, &options, &args.provenance) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    if let Err(message) = add_watches(&mut plan, &args.watch) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    provenance::apply(&args.provenance, &mut plan, true);
    let plan = Arc::new(plan);
    let mut config = NodeConfig::new(args.addr.clone(), args.seed);
    args.limits.apply(&mut config);
    // A lone node is its own first node, so its own landmark; its
    // identifier is its address's SHA-1. (The standard parameters draw no
    // random bits; the generator is there for the policy's sake.)
    config.params = NodeParams::standard().values(
        |_| true,
        &Placement::alone(&args.addr),
        &mut ChaCha8Rng::seed_from_u64(args.seed),
    );
    let mut node = match Node::new(plan.clone(), config) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for name in &args.identity.also_known_as {
        node.answer_to(name);
    }
    match transport {
        None => run_local(args, &options, &plan, node, filter),
        Some(transport) => run_network(args, &options, &plan, node, transport, filter),
    }
}

/// What ended a lone node's run, for its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocalStop {
    /// `--for` ran out.
    Duration,
    /// No timer, delivery or input left.
    Idle,
    Signal(StopRequest),
}

impl LocalStop {
    fn as_str(self) -> &'static str {
        match self {
            LocalStop::Duration => "duration",
            LocalStop::Idle => "idle",
            LocalStop::Signal(r) => r.as_str(),
        }
    }
}

/// A timer that fires forever, described for a message: the run on the
/// virtual clock would jump from firing to firing without end.
fn endless_timer(plan: &Plan) -> Option<String> {
    plan.timers
        .iter()
        .find(|t| t.count == 0)
        .map(|t| format!("`periodic` every {}s without a count", t.period.literal()))
}

/// A single node with local delivery (`--transport none`).
fn run_local(
    args: &RunArgs,
    options: &ParseOptions,
    plan: &Arc<Plan>,
    node: Node,
    filter: WatchFilter,
) -> ExitCode {
    if args.clock == Clock::Virtual
        && args.duration.is_none()
        && let Some(timer) = endless_timer(plan)
    {
        eprintln!(
            "error: --clock virtual stops when nothing is left to do, and this program's timer \
             ({timer}) never stops: give --for SECONDS"
        );
        return ExitCode::from(2);
    }
    // Before anything can take time, so no stop request is missed.
    let stops = match stop_requests() {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("error: cannot watch for Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    };
    let wall_origin = Instant::now();
    let origin: Time = match args.clock {
        Clock::Wall => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as Time),
        Clock::Virtual => 0,
    };
    let deadline = args
        .duration
        .map(|s| origin + (s.max(0.0) * NANOS_PER_SECOND as f64) as Time);
    // The engine's own harness drives the node, as in the engine's tests.
    let mut harness = Harness::new(origin);
    let n = harness.add(node);
    for text in &args.facts {
        match parse_fact("--fact", text, options, &args.addr) {
            Ok((relation, tuple)) => {
                if let Err(e) = harness.node_mut(n).inject(&relation, tuple) {
                    eprintln!("error: --fact {text}: {e}");
                    return ExitCode::from(2);
                }
            }
            Err(message) => {
                eprint!("{message}");
                return ExitCode::from(2);
            }
        }
    }

    let mut printer = LocalPrinter {
        plan,
        addr: &args.addr,
        origin,
        json: args.json,
        filter,
        undeliverable: BTreeSet::new(),
        dropped_sends: 0,
    };
    let stopped = match args.clock {
        Clock::Virtual => loop {
            if let Ok(request) = stops.try_recv() {
                break LocalStop::Signal(request);
            }
            match (harness.next_time(), deadline) {
                (Some(t), Some(d)) if t > d => {}
                (Some(t), _) => {
                    harness.run_instant(t, &mut printer);
                    continue;
                }
                (None, None) => break LocalStop::Idle,
                (None, Some(_)) => {}
            }
            // The virtual clock jumps to the end of `--for`.
            harness.run_until(deadline.expect("matched above"), &mut printer);
            break LocalStop::Duration;
        },
        Clock::Wall => loop {
            let now = origin + wall_origin.elapsed().as_nanos() as Time;
            if deadline.is_some_and(|d| now > d) {
                break LocalStop::Duration;
            }
            harness.run_instant(now, &mut printer);
            let Some(next) = harness.next_time() else {
                break LocalStop::Idle;
            };
            let target = deadline.map_or(next, |d| next.min(d));
            let now = origin + wall_origin.elapsed().as_nanos() as Time;
            // Sleeps until the next wake-up, or until a stop request.
            let wait = Duration::from_nanos(target.saturating_sub(now));
            match stops.recv_timeout(wait) {
                Ok(request) => break LocalStop::Signal(request),
                Err(RecvTimeoutError::Timeout) => {}
                // The signal thread never ends while `stops` lives.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
        },
    };
    let dropped_sends = printer.dropped_sends;
    let node = harness.node(n);
    let end = match args.clock {
        Clock::Virtual => harness.now(),
        Clock::Wall => origin + wall_origin.elapsed().as_nanos() as Time,
    };
    let elapsed = output::seconds(end, origin);
    let mut extra = serde_json::json!({
        "undelivered_sends": dropped_sends,
        "stopped_by": stopped.as_str(),
    });
    if args.net.tables {
        extra["tables"] = tables_json(node);
    }
    if args.json {
        output::stdout(format_args!(
            "{}\n",
            output::summary_json(plan, &args.addr, elapsed, node.stats(), extra)
        ));
    } else {
        eprint!(
            "{}",
            output::summary_text(plan, &args.addr, elapsed, node.stats())
        );
        if dropped_sends > 0 {
            eprintln!("  {dropped_sends} tuples for other nodes were not delivered");
        }
        if args.net.tables {
            eprint!("{}", tables_text(node));
        }
        eprintln!("  stopped by: {}", stopped.as_str());
    }
    ExitCode::SUCCESS
}

/// Prints a lone node's output and notes the sends it cannot deliver.
struct LocalPrinter<'a> {
    plan: &'a Plan,
    addr: &'a str,
    origin: Time,
    json: bool,
    filter: WatchFilter,
    undeliverable: BTreeSet<Arc<str>>,
    dropped_sends: u64,
}

impl HarnessObserver for LocalPrinter<'_> {
    fn output(&mut self, _node: &Node, out: &Output) {
        print_output(
            self.plan,
            self.addr,
            self.origin,
            out,
            self.json,
            &self.filter,
        );
    }

    fn undeliverable(&mut self, _node: &Node, send: Outgoing<'_>) {
        self.dropped_sends += 1;
        if self.undeliverable.insert(send.destination().clone()) && !self.json {
            eprintln!(
                "note: tuples for {} are not delivered: `trellis run` runs a single node",
                send.destination()
            );
        }
    }
}

/// Watch records and problems, as text or JSON lines. Records go to
/// stdout; problems to stderr as text, to stdout as JSON.
fn print_output(
    plan: &Plan,
    addr: &str,
    origin: Time,
    out: &Output,
    json: bool,
    filter: &WatchFilter,
) {
    let mut stdout = std::io::stdout().lock();
    for r in &out.records {
        if !filter.shows(None, r.kind.as_str(), r.time.saturating_sub(origin)) {
            continue;
        }
        // A closed stdout (`| head`) must not stop the node.
        let _ = writeln!(
            stdout,
            "{}",
            output::record_line(plan, addr, origin, r, json)
        );
    }
    for p in &out.problems {
        let line = output::problem_line(plan, addr, origin, p, json);
        if json {
            let _ = writeln!(stdout, "{line}");
        } else {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    }
}

/// Prints what the network driver reports.
struct Printer {
    addr: String,
    origin: Time,
    clock: WallClock,
    json: bool,
    filter: WatchFilter,
}

impl Observer for Printer {
    fn output(&mut self, node: &Node, out: &Output) {
        print_output(
            node.plan(),
            &self.addr,
            self.origin,
            out,
            self.json,
            &self.filter,
        );
    }

    fn warning(&mut self, _node: &Node, warning: &Warning) {
        if self.json {
            let line = serde_json::json!({
                "node": self.addr,
                "time": output::seconds(self.clock.now(), self.origin),
                "warning": warning.kind(),
                "message": warning.to_string(),
            });
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        } else {
            let _ = writeln!(std::io::stderr(), "warning: {}: {warning}", self.addr);
        }
    }
}

/// A node started by `trellis cluster` gets SIGTERM when the cluster
/// process ends, however it ends (even killed), so no node outlives it.
/// False if the cluster is already gone.
fn follow_cluster() -> bool {
    #[cfg(target_os = "linux")]
    if let Some(parent) = std::env::var(CLUSTER_PARENT)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    {
        let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
        return nix::unistd::getppid().as_raw() == parent;
    }
    true
}

/// A node on the network, until Ctrl-C, SIGTERM or `--for`.
fn run_network(
    args: &RunArgs,
    options: &ParseOptions,
    plan: &Arc<Plan>,
    mut node: Node,
    transport: Transport,
    filter: WatchFilter,
) -> ExitCode {
    if let Some(s) = args.duration
        && !(s.is_finite() && s >= 0.0)
    {
        eprintln!("error: --for {s}: expected a number of seconds, 0 or more");
        return ExitCode::from(2);
    }
    if !follow_cluster() {
        eprintln!("error: the cluster that started this node is gone");
        return ExitCode::FAILURE;
    }
    let key = match &args.net.cluster_key {
        Some(path) => match read_key(path) {
            Ok(k) => Some(k),
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let mut facts = Vec::new();
    for text in &args.facts {
        match parse_fact("--fact", text, options, &args.addr) {
            Ok(fact) => facts.push((text, fact)),
            Err(message) => {
                eprint!("{message}");
                return ExitCode::from(2);
            }
        }
    }
    // One thread: the engine is single-threaded, and cross-thread wake-ups
    // would cost latency (see BENCHMARKS.md, Network).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Before anything can take time, so no stop request is missed.
        let signals = StopSignals::register();
        let bind_text = args.net.bind.as_deref().unwrap_or(&args.addr);
        let bind = match trellis_net::resolve(bind_text).await {
            Ok(a) => a,
            Err(e) => {
                eprintln!(
                    "error: --{} {e}",
                    if args.net.bind.is_some() {
                        "bind"
                    } else {
                        "addr"
                    }
                );
                return ExitCode::from(2);
            }
        };
        let clock = WallClock::start();
        let mut config = NetConfig::new(args.addr.clone(), bind, transport, key);
        config.limits = args.net.limits.limits();
        args.identity.apply(&mut config);
        let driver = match Driver::bind(config, node.plan(), clock).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Before the facts: one located at the bound address's literal
        // form is this node's.
        for name in driver.other_names() {
            node.answer_to(name);
        }
        let origin = clock.origin();
        node.start(clock.now());
        for (text, (relation, tuple)) in facts {
            if let Err(e) = node.inject(&relation, tuple) {
                eprintln!("error: --fact {text}: {e}");
                return ExitCode::from(2);
            }
        }
        let local = driver.local_addr();
        if args.json {
            let line = serde_json::json!({
                "node": args.addr, "time": 0.0, "listening": local.to_string(),
                "transport": transport.as_str(),
                "authenticated": args.net.cluster_key.is_some(),
                "names": node.names().collect::<Vec<_>>(),
            });
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        } else {
            // Relations that declare another transport with `channel`.
            let others: Vec<String> = node
                .plan()
                .relations
                .iter()
                .filter_map(|r| {
                    let c = Transport::from(r.channel?);
                    (c != transport).then(|| format!("{c} for `{}`", r.name))
                })
                .collect();
            let aliases: Vec<&str> = node.names().skip(1).collect();
            eprintln!(
                "trellis: node {} listening on {transport} {local}{}{}{}; Ctrl-C stops it",
                args.addr,
                if others.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", others.join(", "))
                },
                if aliases.is_empty() {
                    String::new()
                } else {
                    format!(", also known as {}", aliases.join(", "))
                },
                if args.net.cluster_key.is_some() {
                    " (frames authenticated)"
                } else {
                    ""
                }
            );
        }
        let mut printer = Printer {
            addr: args.addr.clone(),
            origin,
            clock,
            json: args.json,
            filter,
        };
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<&'static str>();
        let duration = args.duration;
        let watcher = tokio::spawn(async move {
            let reason = stop_signal(signals, duration).await;
            let _ = stop_tx.send(reason);
        });
        let mut reason = "stopped";
        let stop = async {
            if let Ok(r) = stop_rx.await {
                reason = r;
            }
        };
        let net = driver.run(&mut node, stop, &mut printer).await;
        watcher.abort();
        let elapsed = output::seconds(clock.now(), origin);
        if args.json {
            let mut extra = serde_json::json!({
                "stopped_by": reason,
                "listening": local.to_string(),
                "net": net.to_json(),
            });
            if args.net.tables {
                extra["tables"] = tables_json(&node);
            }
            let _ = writeln!(
                std::io::stdout().lock(),
                "{}",
                output::summary_json(plan, &args.addr, elapsed, node.stats(), extra)
            );
        } else {
            let mut text = output::summary_text(plan, &args.addr, elapsed, node.stats());
            text.push_str(&net.to_text());
            if args.net.tables {
                text.push_str(&tables_text(&node));
            }
            text.push_str(&format!("  stopped by: {reason}\n"));
            let _ = write!(std::io::stderr(), "{text}");
        }
        ExitCode::SUCCESS
    })
}

/// Ctrl-C, SIGTERM, or the end of `--for`: whichever comes first.
async fn stop_signal(mut signals: StopSignals, duration: Option<f64>) -> &'static str {
    let deadline = async {
        match duration {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s.clamp(0.0, 1e9))).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        request = signals.next() => request.as_str(),
        _ = deadline => "duration",
    }
}

fn table_names(node: &Node) -> Vec<String> {
    node.plan()
        .relations
        .iter()
        .filter(|r| matches!(r.kind, RelationKind::Table(_)))
        .map(|r| r.name.clone())
        .collect()
}

/// `{"table": [[fields...], ...]}`, rows sorted.
pub fn tables_json(node: &Node) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for name in table_names(node) {
        let mut rows = node.table(&name).unwrap_or_default();
        rows.sort();
        map.insert(
            name,
            serde_json::Value::Array(rows.iter().map(output::tuple_json).collect()),
        );
    }
    serde_json::Value::Object(map)
}

fn tables_text(node: &Node) -> String {
    let mut out = String::new();
    for name in table_names(node) {
        let mut rows = node.table(&name).unwrap_or_default();
        rows.sort();
        out.push_str(&format!("  table {name}: {} rows\n", rows.len()));
        for row in rows {
            let fields: Vec<String> = row.iter().map(|v| v.literal()).collect();
            out.push_str(&format!("    {name}({})\n", fields.join(", ")));
        }
    }
    out
}
