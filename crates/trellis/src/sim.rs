//! `trellis sim`: many nodes in one process on a virtual clock.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use trellis_engine::{Derivation, Problem, Record, Time};
use trellis_plan::Plan;
use trellis_sim::{Fault, NANOS, Observer, Options, Report, Scenario, SimError, Simulation};

use crate::cli::SimArgs;
use crate::common::{add_watches, load};
use crate::output;
use crate::provenance::{self, LogWriter};
use crate::signals::{StopRequest, stop_requests};
use crate::watch_filter::WatchFilter;

/// Prints watch records and problems, and draws the progress bar.
struct Printer {
    json: bool,
    quiet: bool,
    bar: Option<ProgressBar>,
    stops: Receiver<StopRequest>,
    stopped: Option<StopRequest>,
    filter: WatchFilter,
    /// Every node's address, by scenario index.
    addresses: Vec<String>,
    /// Where derivations go, with `--out` when the plan traces anything.
    log: Option<LogWriter>,
}

impl Printer {
    fn emit(&self, line: String, to_stdout: bool) {
        match &self.bar {
            Some(bar) if !to_stdout => bar.suspend(|| eprintln!("{line}")),
            Some(bar) => bar.suspend(|| output::stdout(format_args!("{line}\n"))),
            None if to_stdout => output::stdout(format_args!("{line}\n")),
            None => eprintln!("{line}"),
        }
    }
}

impl Observer for Printer {
    fn record(&mut self, plan: &Plan, node: &str, r: &Record) {
        if !self.quiet && self.filter.shows(Some(node), r.kind.as_str(), r.time) {
            self.emit(output::record_line(plan, node, 0, r, self.json), true);
        }
    }

    fn fault(&mut self, now: Time, fault: &Fault) {
        let node = fault.node().map(|i| self.addresses[i].as_str());
        if !self.quiet && self.filter.shows(node, fault.kind(), now) {
            let address = |i: usize| self.addresses[i].as_str();
            let line = output::fault_line(now, fault, address, self.json);
            self.emit(line, true);
        }
    }

    fn problem(&mut self, plan: &Plan, node: &str, p: &Problem) {
        let line = output::problem_line(plan, node, 0, p, self.json);
        self.emit(line, self.json);
    }

    fn provenance(&mut self, plan: &Plan, node: &str, d: &Derivation) {
        if let Some(log) = &mut self.log {
            log.write(plan, node, d);
        }
    }

    fn progress(&mut self, now: Time, end: Time) {
        if let Some(bar) = &self.bar {
            bar.set_length(end / NANOS as Time);
            bar.set_position(now / NANOS as Time);
        }
    }

    fn checkpoint(&mut self, now: Time, hash: u64) {
        let line = if self.json {
            serde_json::json!({"checkpoint": {"time": now as f64 / NANOS, "trace_hash": format!("{hash:016x}")}})
                .to_string()
        } else {
            format!(
                "checkpoint t={:.3}s trace hash {hash:016x}",
                now as f64 / NANOS
            )
        };
        self.emit(line, self.json);
    }

    fn stop_requested(&mut self) -> bool {
        if let Ok(request) = self.stops.try_recv() {
            self.stopped = Some(request);
        }
        self.stopped.is_some()
    }
}

/// The plan and scenario a `trellis sim` command line runs: the
/// scenario's file with the flags' overrides, the program loaded for it
/// with its watches and provenance. `trellis why-not` replays a run with
/// this too.
pub fn prepare(args: &SimArgs) -> Result<(Plan, Scenario), ExitCode> {
    let mut scenario = match &args.scenario {
        Some(path) => match Scenario::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return Err(ExitCode::from(2));
            }
        },
        None => Scenario::default(),
    };
    if let Some(n) = args.nodes {
        scenario.simulation.nodes = n;
    }
    if let Some(n) = args.max_nodes {
        scenario.simulation.max_nodes = Some(n);
    }
    if let Some(seed) = args.seed {
        scenario.simulation.seed = seed;
    }
    if let Some(n) = args.limits.max_ticks_per_instant {
        scenario.simulation.max_ticks_per_instant = Some(n);
    }
    if let Some(n) = args.limits.max_derivations_per_tick {
        scenario.simulation.max_derivations_per_tick = Some(n);
    }
    if let Some(d) = args.duration {
        // The scenario is checked as written (an event after its own end
        // is a mistake); `--for` then cuts the run short on purpose, so the
        // events it leaves out are dropped with a note, not refused.
        if let Err(e) = scenario.validate() {
            eprintln!("error: {e}");
            return Err(ExitCode::from(2));
        }
        scenario.simulation.duration = d;
        let before = scenario.events.len();
        scenario.events.retain(|e| e.at < d);
        let dropped = before - scenario.events.len();
        if dropped > 0 {
            let s = if dropped == 1 { "" } else { "s" };
            eprintln!("note: {dropped} scenario event{s} at or after {d}s (--for) will not run");
        }
    }
    let defines: Vec<(String, String)> = args
        .program
        .defines
        .iter()
        .map(|d| (d.name.clone(), d.value.clone()))
        .collect();
    let options = trellis_sim::parse_options(&scenario, &defines);
    let mut plan = load(&args.program, &options)?;
    if let Err(message) = add_watches(&mut plan, &args.watch) {
        eprintln!("error: {message}");
        return Err(ExitCode::from(2));
    }
    provenance::apply(&args.provenance, &mut plan, false);
    Ok((plan, scenario))
}

pub fn sim(args: &SimArgs) -> ExitCode {
    let (plan, scenario) = match prepare(args) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let log = match open_log(&plan, args) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let program = args.program.file.display().to_string();
    let sim_options = Options {
        shuffle_storage: false,
        checkpoint_every: args.checkpoints,
    };
    // Before the run can take time, so no Ctrl-C is missed.
    let stops = match stop_requests() {
        Ok(rx) => rx,
        Err(e) => {
            eprintln!("error: cannot watch for Ctrl-C: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut sim = match Simulation::new(plan, scenario.clone(), &sim_options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}", describe(&e));
            return ExitCode::from(2);
        }
    };
    let addresses: Vec<String> = (0..scenario.simulation.nodes)
        .map(|i| sim.address(i).to_string())
        .collect();
    if let Some(unknown) = args.watch_nodes.iter().find(|n| !addresses.contains(n)) {
        eprintln!(
            "error: --watch-node {unknown}: no such node (addresses look like {})",
            addresses.first().map_or("", String::as_str)
        );
        return ExitCode::from(2);
    }
    let filter = match WatchFilter::new(&args.watch_filter, args.watch_nodes.clone()) {
        Ok(f) => f,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let header = format!(
        "simulating {program}: {} nodes, {} virtual seconds, seed {}{}",
        scenario.simulation.nodes,
        scenario.simulation.duration,
        scenario.simulation.seed,
        args.scenario
            .as_ref()
            .map_or(String::new(), |p| format!(", scenario {}", p.display()))
    );
    if args.json {
        output::stdout(format_args!(
            "{}\n",
            serde_json::json!({"simulation": {"program": program, "nodes": scenario.simulation.nodes,
                "duration": scenario.simulation.duration, "seed": scenario.simulation.seed,
                "scenario": args.scenario.as_ref().map(|p| p.display().to_string())}})
        ));
    } else {
        eprintln!("{header}");
    }
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(scenario.simulation.duration.ceil() as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {pos}/{len} virtual s  [{elapsed_precise}, eta {eta}]",
            )
            .expect("a valid template"),
        );
        bar
    });
    let mut printer = Printer {
        json: args.json,
        quiet: args.quiet,
        bar,
        stops,
        stopped: None,
        filter,
        addresses,
        log,
    };
    let started = Instant::now();
    sim.run(&mut printer);
    let stopped_by = printer.stopped.map_or("duration", StopRequest::as_str);
    if let Some(bar) = &printer.bar {
        bar.finish_and_clear();
    }
    let report = Report::new(&sim, &program, started.elapsed().as_secs_f64());
    let written = match printer.log.take().map(LogWriter::finish).transpose() {
        Ok(written) => written,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let drops = provenance::drops(sim.plan(), &sim.engine_stats());
    if args.json {
        let mut line = serde_json::json!({ "summary": report.json, "stopped_by": stopped_by });
        if written.is_some() || !drops.is_empty() {
            line["provenance"] = provenance_json(args, written, &drops);
        }
        output::stdout(format_args!("{line}\n"));
    } else {
        output::stdout(format_args!(
            "{}  stopped by: {stopped_by}\n{}",
            report.text(),
            provenance_text(args, written, &drops)
        ));
    }
    if let Some(dir) = &args.out {
        let run_toml = format!(
            "# Replay this run with:\n#   {}\n# (or: trellis sim {program} --scenario {})\n{}",
            command,
            dir.join("run.toml").display(),
            scenario.to_toml()
        );
        let written =
            trellis_sim::write_outputs(&sim, &report, dir, &run_toml).and_then(|mut files| {
                write_replay(dir)?;
                files.push(REPLAY_FILE.to_string());
                Ok(files)
            });
        match written {
            Ok(files) => {
                if !args.json {
                    eprintln!(
                        "wrote {} files to {}: {}",
                        files.len(),
                        dir.display(),
                        files.join(", ")
                    );
                }
            }
            Err(e) => {
                eprintln!("error: {}", describe(&e));
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}

/// DIR/provenance.jsonl, when the run traces anything and has a `--out`
/// directory. An older log there is removed when this run writes none.
fn open_log(plan: &Plan, args: &SimArgs) -> Result<Option<LogWriter>, provenance::LogError> {
    let Some(dir) = &args.out else {
        if args.provenance.provenance {
            eprintln!(
                "note: --provenance without --out: derivations are recorded but not written \
                 (give --out DIR for `trellis why DIR ...`)"
            );
        }
        return Ok(None);
    };
    if plan.traces_anything() {
        return LogWriter::create(dir).map(Some);
    }
    if provenance::remove_stale_log(dir)? {
        eprintln!(
            "note: removed {} of an earlier run (this run traces nothing)",
            dir.join(provenance::LOG_FILE).display()
        );
    }
    Ok(None)
}

fn log_path(args: &SimArgs) -> String {
    args.out.as_ref().map_or(String::new(), |d| {
        d.join(provenance::LOG_FILE).display().to_string()
    })
}

/// The summary's provenance lines: what was written, what the bounded
/// tables dropped.
fn provenance_text(args: &SimArgs, written: Option<u64>, drops: &[(&str, u64, u64)]) -> String {
    let mut text = String::new();
    if let Some(n) = written {
        let s = if n == 1 { "" } else { "s" };
        text.push_str(&format!(
            "  provenance: {n} derivation{s} written to {}\n",
            log_path(args)
        ));
    }
    for (table, expired, evicted) in drops {
        text.push_str(&format!(
            "  provenance table {table}: {expired} rows expired, {evicted} evicted\n"
        ));
    }
    text
}

fn provenance_json(
    args: &SimArgs,
    written: Option<u64>,
    drops: &[(&str, u64, u64)],
) -> serde_json::Value {
    let tables: serde_json::Map<String, serde_json::Value> = drops
        .iter()
        .map(|(table, expired, evicted)| {
            (
                table.to_string(),
                serde_json::json!({"expirations": expired, "evictions": evicted}),
            )
        })
        .collect();
    serde_json::json!({
        "derivations": written,
        "file": written.map(|_| log_path(args)),
        "tables": tables,
    })
}

/// A simulator error for people: a scenario tuple's syntax errors rendered
/// with their source, like a program's (plain, as they always were).
fn describe(e: &SimError) -> String {
    match e {
        SimError::TupleSyntax {
            tuple,
            sources,
            errors,
        } => {
            let rendered: String = errors
                .iter()
                .map(|d| trellis_render::render(sources, d, trellis_render::Style::Plain))
                .collect();
            format!("scenario tuple `{tuple}`: {rendered}")
        }
        other => other.to_string(),
    }
}

/// The command line of a run, in its `--out` directory, for `trellis
/// why-not` to replay it to a time: `{"cwd": ..., "argv": [...]}`.
pub const REPLAY_FILE: &str = "replay.json";

fn write_replay(dir: &std::path::Path) -> Result<(), SimError> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let argv: Vec<String> = std::env::args().collect();
    let json = serde_json::json!({ "cwd": cwd.display().to_string(), "argv": argv });
    let path = dir.join(REPLAY_FILE);
    std::fs::write(&path, format!("{json}\n")).map_err(|source| SimError::Write {
        path: path.display().to_string(),
        source,
    })
}
