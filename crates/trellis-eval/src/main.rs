//! `cargo run --release -p trellis-eval` regenerates EVALUATION.md.
//!
//! Every experiment runs `examples/chord.olg` in the simulator. Each one's
//! scenario is first written to `eval/scenarios/NAME.toml`, so every number
//! in the report can be reproduced with
//! `trellis sim examples/chord.olg --scenario eval/scenarios/NAME.toml`.
//! Figures go to `eval/figures/` (SVG), full outputs to `eval/out/NAME/`.
//!
//! `--quick` runs smaller sizes and shorter churn (a smoke test, not the
//! report); `--only PREFIX` runs the experiments whose names start with it
//! and leaves EVALUATION.md alone.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value as Json;
use trellis_sim::{NANOS, Options, Quiet, Report, Scenario, Simulation};

/// The protocol's constants, as the program defines them.
const PARAMETERS: &str = "SUCCS = 4 successors, stabilization every 5 s, pings every 5 s, \
                          a finger fixed every 5 s, a check of the node's place in the ring every 20 s, \
                          neighbour soft state 16 s, fingers 120 s";

struct Run {
    scenario_path: PathBuf,
    seed: u64,
    report: Report,
    /// Bytes per second per node over a window with no lookups.
    maintenance: f64,
    /// (time, fraction of live nodes holding their true successor).
    ring: Vec<(f64, f64)>,
    /// Sorted lookup latencies in ms.
    latencies: Vec<f64>,
    /// How many answered lookups took each number of hops.
    hops: Vec<u64>,
    /// When the last node joined.
    joined: f64,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn lookup_measure() -> &'static str {
    r#"
[[measure]]
name = "lookup"
start = { relation = "lookup", key = 4, on = "inject" }
end = { relation = "lookupResults", key = 5, on = "recv" }
hops = { relation = "lookup", key = 4, on = "send" }
check = { key = 2, answer = 3 }

[ring]
successor = { relation = "bestSucc", field = 2 }
check_every = 5.0
"#
}

/// Nodes join one by one over `join` seconds, the ring settles, then
/// lookups run (each key asked by two nodes).
fn static_ring(n: usize, seed: u64) -> (String, f64, f64) {
    let join = (n as f64 * 0.02).max(60.0);
    let settle = 300.0;
    let lookups = 100.0;
    let toml = format!(
        r#"# A static Chord ring of {n} nodes: joins over {join} s through node 0,
# {settle} s to settle, then {lookups} s of random-key lookups.
[simulation]
nodes = {n}
duration = {duration}
seed = {seed}
start_interval = {interval}

[network]
latency = {{ kind = "uniform", min_ms = 20, max_ms = 80 }}

[[workload]]
tuple = 'lookup(@ADDR, RANDID, ADDR, SEQ)'
rate = {rate}
copies = 2
start = {start}
{measure}"#,
        duration = join + settle + lookups,
        interval = join / n as f64,
        rate = (n as f64 / 10.0).max(20.0),
        start = join + settle,
        measure = lookup_measure(),
    );
    (toml, join, join + settle)
}

/// Wide-area latencies: nodes in five regions, RTTs between regions from a
/// table of typical Internet RTTs, plus distance within a region and jitter.
fn rtt_matrix(n: usize, seed: u64) -> String {
    // Approximate RTTs in ms between North America east/west, Europe, Asia,
    // South America.
    const BETWEEN: [[f64; 5]; 5] = [
        [0.0, 70.0, 90.0, 200.0, 130.0],
        [70.0, 0.0, 150.0, 130.0, 180.0],
        [90.0, 150.0, 0.0, 230.0, 200.0],
        [200.0, 130.0, 230.0, 0.0, 320.0],
        [130.0, 180.0, 200.0, 320.0, 0.0],
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let region: Vec<usize> = (0..n).map(|_| rng.random_range(0..5)).collect();
    let local: Vec<f64> = (0..n).map(|_| rng.random_range(2.0..25.0)).collect();
    let mut out = format!(
        "# RTTs in ms between {n} nodes in five regions (NA east, NA west, Europe, Asia, South America)\n"
    );
    for i in 0..n {
        let row: Vec<String> = (0..n)
            .map(|j| {
                let rtt = if i == j {
                    0.0
                } else {
                    BETWEEN[region[i]][region[j]] + local[i] + local[j]
                };
                format!("{rtt:.1}")
            })
            .collect();
        out.push_str(&row.join(" "));
        out.push('\n');
    }
    out
}

fn wide_area(n: usize, seed: u64, matrix: &str) -> (String, f64, f64) {
    let join = 60.0;
    let settle = 300.0;
    let toml = format!(
        r#"# {n} nodes under a wide-area latency model (RTT matrix {matrix}).
[simulation]
nodes = {n}
duration = {duration}
seed = {seed}
start_interval = {interval}

[network]
latency = {{ kind = "matrix", file = "{matrix}" }}

[[workload]]
tuple = 'lookup(@ADDR, RANDID, ADDR, SEQ)'
rate = 50
start = {start}
{measure}"#,
        duration = join + settle + 100.0,
        interval = join / n as f64,
        start = join + settle,
        measure = lookup_measure(),
    );
    (toml, join, join + settle)
}

/// Seconds of churn without lookups, over which maintenance traffic under
/// churn is measured.
const CHURN_QUIET: f64 = 100.0;

/// Churn: after the ring forms, nodes leave with sessions of the given
/// median (exponential) and come back a second later as fresh processes.
/// Lookups start `CHURN_QUIET` seconds into the churn.
fn churn(n: usize, median_minutes: f64, churn_seconds: f64, seed: u64) -> (String, f64, f64) {
    let join = n as f64 * 0.1;
    let start = join + 200.0;
    let lookups = start + CHURN_QUIET;
    let toml = format!(
        r#"# {n} Chord nodes under churn: median session {median_minutes} minutes
# (exponential), from {start} s for {churn_seconds} s; lookups from
# {lookups} s to the end, each key asked by two nodes.
[simulation]
nodes = {n}
duration = {duration}
seed = {seed}
start_interval = 0.1

[network]
latency = {{ kind = "uniform", min_ms = 20, max_ms = 80 }}

[churn]
model = "exponential"
median_session = {median}
start = {start}
rejoin_after = 1
exempt = [0]

[[workload]]
tuple = 'lookup(@ADDR, RANDID, ADDR, SEQ)'
per_node = 0.05
copies = 2
start = {lookups}
{measure}"#,
        duration = start + churn_seconds,
        median = median_minutes * 60.0,
        measure = lookup_measure(),
    );
    (toml, start, lookups)
}

fn run(name: &str, toml: &str, joined: f64, quiet_from: f64) -> Run {
    let dir = root().join("eval/scenarios");
    std::fs::create_dir_all(&dir).expect("eval/scenarios is writable");
    let scenario_path = dir.join(format!("{name}.toml"));
    std::fs::write(&scenario_path, toml).expect("scenario written");
    let scenario = Scenario::load(&scenario_path).expect("a valid scenario");
    let seed = scenario.simulation.seed;
    let options = trellis_sim::parse_options(&scenario, &[]);
    let plan = trellis_plan::load_file(&root().join("examples/chord.olg"), &options)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan;
    let started = Instant::now();
    let mut sim = Simulation::new(plan, scenario, &Options::default()).expect("simulation");
    eprint!("{name}: ");
    sim.run(&mut Quiet);
    let report = Report::new(&sim, "examples/chord.olg", started.elapsed().as_secs_f64());
    eprintln!("{:.1}s wall", report.wall_seconds);
    let out = root().join("eval/out").join(name);
    trellis_sim::write_outputs(&sim, &report, &out, toml).expect("outputs written");

    // Maintenance: the minute before lookups start (after joins settle),
    // or the whole quiet stretch if shorter.
    let per_second = &sim.stats.per_second;
    let (from, to) = (
        (quiet_from - 60.0).max(joined) as usize,
        quiet_from as usize,
    );
    let window = &per_second[from.min(per_second.len())..to.min(per_second.len())];
    let maintenance = window.iter().map(|(_, b)| *b as f64).sum::<f64>()
        / window.len().max(1) as f64
        / sim.stats.per_node.len() as f64;
    let ring = sim
        .ring()
        .map(|r| {
            r.checks
                .iter()
                .map(|(t, right, live)| (*t as f64 / NANOS, *right as f64 / (*live).max(1) as f64))
                .collect()
        })
        .unwrap_or_default();
    let mut latencies: Vec<f64> = sim.measurements().measures[0]
        .samples
        .iter()
        .map(|s| (s.end - s.start) as f64 / 1e6)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let mut hops = Vec::new();
    for h in sim.measurements().measures[0]
        .samples
        .iter()
        .filter_map(|s| s.hops)
    {
        let h = h as usize;
        if hops.len() <= h {
            hops.resize(h + 1, 0);
        }
        hops[h] += 1;
    }
    Run {
        scenario_path,
        seed,
        report,
        maintenance,
        ring,
        latencies,
        hops,
        joined,
    }
}

/// The number of rules in examples/chord.olg, as the planner counts them.
fn chord_rules() -> usize {
    let options = trellis_sim::parse_options(&Scenario::default(), &[]);
    trellis_plan::load_file(&root().join("examples/chord.olg"), &options)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan
        .rules
        .len()
}

fn lookup(r: &Run) -> &Json {
    &r.report.json["measures"][0]
}

fn pct(v: &Json) -> String {
    v.as_f64()
        .map_or("-".into(), |f| format!("{:.2}%", f * 100.0))
}

fn command(r: &Run) -> String {
    let rel = r
        .scenario_path
        .strip_prefix(root())
        .unwrap_or(&r.scenario_path)
        .display();
    format!("`trellis sim examples/chord.olg --scenario {rel}`")
}

fn figure(name: &str, title: &str, x: &str, y: &str, series: &[(&str, Vec<(f64, f64)>)]) -> String {
    let dir = root().join("eval/figures");
    std::fs::create_dir_all(&dir).expect("eval/figures is writable");
    let file = format!("{name}.svg");
    trellis_sim::line_chart(&dir.join(&file), title, x, y, series).expect("figure drawn");
    format!("![{title}](eval/figures/{file})")
}

/// Named series as [`figure`] takes them.
fn borrowed(series: &[(String, Vec<(f64, f64)>)]) -> Vec<(&str, Vec<(f64, f64)>)> {
    series
        .iter()
        .map(|(n, p)| (n.as_str(), p.clone()))
        .collect()
}

/// Which runs a figure was drawn from, and how to make each again.
fn made_from<R: std::borrow::Borrow<Run>>(runs: &[R]) -> String {
    let list: Vec<String> = runs
        .iter()
        .map(|r| {
            let r = r.borrow();
            format!("{} (seed {})", command(r), r.seed)
        })
        .collect();
    format!("*Made from:* {}.", list.join("; "))
}

/// The smallest hop count at or below which a fraction `q` of the
/// lookups fall.
fn hop_percentile(counts: &[u64], q: f64) -> usize {
    let total: u64 = counts.iter().sum();
    let mut seen = 0;
    for (h, n) in counts.iter().enumerate() {
        seen += n;
        if seen as f64 >= q * total as f64 {
            return h;
        }
    }
    counts.len().saturating_sub(1)
}

/// Today's date (UTC), `YYYY-MM-DD`, for the machine line.
fn today() -> String {
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Regenerates EVALUATION.md: Chord (`examples/chord.olg`) in the
/// simulator on static rings, wide-area latency and churn. Each
/// experiment's scenario goes to `eval/scenarios/NAME.toml` (reproduce a
/// row with `trellis sim examples/chord.olg --scenario
/// eval/scenarios/NAME.toml`), figures to `eval/figures/`, full outputs to
/// `eval/out/NAME/`. Build with `--release`.
#[derive(Debug, Parser)]
#[command(name = "trellis-eval")]
struct Args {
    /// Smaller sizes and shorter churn: a smoke test, not the report.
    #[arg(long)]
    quick: bool,
    /// Run only the experiments whose names start with PREFIX (`static-`,
    /// `wide-area`, `churn-400`, ...) and leave EVALUATION.md alone.
    #[arg(long, value_name = "PREFIX")]
    only: Option<String>,
}

fn main() {
    let Args { quick, only } = Args::parse();
    let wanted = |name: &str| only.as_ref().is_none_or(|p| name.starts_with(p.as_str()));
    let started = Instant::now();

    let sizes: &[usize] = if quick {
        &[100, 500]
    } else {
        &[100, 500, 1_000, 5_000, 10_000]
    };
    let mut statics = Vec::new();
    for &n in sizes {
        let name = format!("static-{n}");
        if wanted(&name) {
            let (toml, joined, quiet) = static_ring(n, 1);
            statics.push(run(&name, &toml, joined, quiet));
        }
    }

    let mut wide = None;
    if wanted("wide-area") {
        let n = if quick { 100 } else { 500 };
        let matrix = format!("rtt-{n}.txt");
        std::fs::create_dir_all(root().join("eval/scenarios")).expect("writable");
        std::fs::write(
            root().join("eval/scenarios").join(&matrix),
            rtt_matrix(n, 5),
        )
        .expect("matrix written");
        let (toml, joined, quiet) = wide_area(n, 2, &matrix);
        wide = Some(run(&format!("wide-area-{n}"), &toml, joined, quiet));
    }

    let churn_sizes: &[usize] = if quick { &[100] } else { &[400, 1_000] };
    let sessions: &[f64] = &[8.0, 16.0, 32.0, 64.0, 128.0];
    let churn_seconds = if quick { 600.0 } else { 3_600.0 };
    let mut churns = Vec::new();
    for &n in churn_sizes {
        for &m in sessions {
            let name = format!("churn-{n}-{m}min");
            if wanted(&name) {
                let (toml, joined, quiet) = churn(n, m, churn_seconds, 3);
                churns.push((n, m, run(&name, &toml, joined, quiet)));
            }
        }
    }
    if only.is_some() {
        eprintln!("--only: EVALUATION.md left as it is");
        return;
    }
    write_report(
        &statics,
        wide.as_ref(),
        &churns,
        churn_seconds,
        quick,
        started.elapsed().as_secs_f64(),
    );
}

fn write_report(
    statics: &[Run],
    wide: Option<&Run>,
    churns: &[(usize, f64, Run)],
    churn_seconds: f64,
    quick: bool,
    wall: f64,
) {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Evaluation: Chord in Trellis\n");
    let _ = writeln!(
        w,
        "This file is generated by `cargo run --release -p trellis-eval`{} ({:.0} s of wall time on the machine below). \
         Every experiment runs [`examples/chord.olg`](examples/chord.olg) ({} rules) in the deterministic simulator; \
         each row names its scenario file (which holds the seed) and the command that reproduces it exactly, \
         and the full outputs (CSV, plots, summary) of each run are written to `eval/out/NAME/`.\n",
        if quick { " --quick" } else { "" },
        wall,
        chord_rules()
    );
    let _ = writeln!(
        w,
        "The simulator knows every live node's identifier, so it knows the true successor of every key: \
         a lookup is **correct** when its answer is the true successor of the key among the live nodes \
         when the answer arrives; two lookups for one key issued at the same time from two different nodes \
         are **consistent** when they get the same answer; a lookup **failed** when no answer arrived before the run ended \
         (this includes the lookups still in flight at the end, a few tenths of a percent here). \
         The ring has **converged** when every live node's `bestSucc` is its true successor.\n"
    );
    let _ = writeln!(w, "Protocol parameters: {PARAMETERS}.\n");
    let _ = writeln!(
        w,
        "Machine: 2 cores, 24 GiB, rustc 1.95, release build; date {}.\n",
        today()
    );

    if !statics.is_empty() {
        let _ = writeln!(w, "## Static rings\n");
        let _ = writeln!(
            w,
            "Nodes join one by one through node 0, the ring settles for 300 s, then random-key lookups run for 100 s \
             (each key asked by two nodes). Links: 20-80 ms one way, uniform.\n"
        );
        let _ = writeln!(
            w,
            "| nodes | converged (s after the last join) | lookups | correct | consistent | failed | mean hops | 1/2 log2 N | hops vs 1/2 log2 N | maintenance (B/s per node) | scenario |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|");
        for r in statics {
            let l = lookup(r);
            let n = r.report.nodes as f64;
            let hops = l["hops"]["mean"].as_f64().unwrap_or(f64::NAN);
            let ideal = n.log2() / 2.0;
            let converged = r.report.json["ring"]["converged_at"]
                .as_f64()
                .map_or("not converged".into(), |t| format!("{:.0}", t - r.joined));
            let started = l["started"].as_f64().unwrap_or(0.0);
            let failed = l["incomplete"].as_f64().unwrap_or(0.0) / started.max(1.0);
            let _ = writeln!(
                w,
                "| {} | {converged} | {} | {} | {} | {:.2}% | {hops:.2} | {ideal:.2} | {:+.1}% | {:.0} | {} (seed {}) |",
                r.report.nodes,
                l["started"],
                pct(&l["correct_fraction"]),
                pct(&l["consistent_fraction"]),
                failed * 100.0,
                (hops / ideal - 1.0) * 100.0,
                r.maintenance,
                command(r),
                r.seed
            );
        }
        let hops: Vec<(f64, f64)> = statics
            .iter()
            .map(|r| {
                (
                    r.report.nodes as f64,
                    lookup(r)["hops"]["mean"].as_f64().unwrap_or(0.0),
                )
            })
            .collect();
        let ideal: Vec<(f64, f64)> = statics
            .iter()
            .map(|r| (r.report.nodes as f64, (r.report.nodes as f64).log2() / 2.0))
            .collect();
        let _ = writeln!(
            w,
            "\n{}\n\n{}\n",
            figure(
                "hops",
                "Mean lookup hops",
                "nodes",
                "hops",
                &[("Trellis Chord", hops), ("1/2 log2 N", ideal)]
            ),
            made_from(statics)
        );
        let _ = writeln!(
            w,
            "### Distribution of lookup hops

The fraction of answered lookups that took each number of hops \
             (a lookup answered by the node it was issued at takes 0):
"
        );
        let widest = statics.iter().map(|r| r.hops.len()).max().unwrap_or(0);
        let _ = write!(w, "| nodes | p50 | p90 | p99 | max |");
        for h in 0..widest {
            let _ = write!(w, " {h} |");
        }
        let _ = writeln!(w, "\n|---|---|---|---|---|{}", "---|".repeat(widest));
        for r in statics {
            let total: u64 = r.hops.iter().sum();
            let _ = write!(
                w,
                "| {} | {} | {} | {} | {} |",
                r.report.nodes,
                hop_percentile(&r.hops, 0.5),
                hop_percentile(&r.hops, 0.9),
                hop_percentile(&r.hops, 0.99),
                r.hops.len().saturating_sub(1)
            );
            for h in 0..widest {
                let n = r.hops.get(h).copied().unwrap_or(0);
                let _ = write!(w, " {:.1}% |", n as f64 * 100.0 / total.max(1) as f64);
            }
            let _ = writeln!(w);
        }
        let series: Vec<(String, Vec<(f64, f64)>)> = statics
            .iter()
            .map(|r| {
                let total: u64 = r.hops.iter().sum();
                let points = r
                    .hops
                    .iter()
                    .enumerate()
                    .map(|(h, n)| (h as f64, *n as f64 / total.max(1) as f64))
                    .collect();
                (format!("{} nodes", r.report.nodes), points)
            })
            .collect();
        let refs = borrowed(&series);
        let _ = writeln!(
            w,
            "\n{}\n\n{}\n",
            figure(
                "hop-distribution",
                "Lookup hops: distribution",
                "hops",
                "fraction of lookups",
                &refs
            ),
            made_from(statics)
        );
        if let Some(big) = statics
            .iter()
            .find(|r| r.report.nodes == 1_000)
            .or(statics.last())
        {
            let _ = writeln!(
                w,
                "### Convergence of a {}-node ring\n\nNodes join through one landmark, one every {:.3} s (the last at {:.0} s); \
                 the fraction of live nodes holding their true successor over time:\n\n{}\n\n{}\n",
                big.report.nodes,
                big.joined / big.report.nodes as f64,
                big.joined,
                figure(
                    "convergence",
                    "Nodes holding their true successor",
                    "virtual time (s)",
                    "fraction",
                    &[("", big.ring.clone())]
                ),
                made_from(std::slice::from_ref(big))
            );
        }
    }

    if let Some(r) = wide {
        let l = lookup(r);
        let lat = &l["latency_ms"];
        let cdf: Vec<(f64, f64)> = r
            .latencies
            .iter()
            .enumerate()
            .map(|(i, v)| (*v, (i + 1) as f64 / r.latencies.len() as f64))
            .collect();
        let _ = writeln!(
            w,
            "## Lookup latency under a wide-area latency model\n\n{} nodes placed at random in five regions; \
             round-trip times between regions from typical Internet RTTs (70 to 320 ms), plus 2 to 25 ms of \
             access distance per node (matrix in `eval/scenarios/rtt-{}.txt`).\n\n\
             | lookups | correct | mean | p50 | p90 | p99 | mean hops | scenario |\n|---|---|---|---|---|---|---|---|\n\
             | {} | {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} | {} (seed {}) |\n\n{}\n\n{}\n",
            r.report.nodes,
            r.report.nodes,
            l["started"],
            pct(&l["correct_fraction"]),
            lat["mean"].as_f64().unwrap_or(f64::NAN),
            lat["p50"].as_f64().unwrap_or(f64::NAN),
            lat["p90"].as_f64().unwrap_or(f64::NAN),
            lat["p99"].as_f64().unwrap_or(f64::NAN),
            l["hops"]["mean"].as_f64().unwrap_or(f64::NAN),
            command(r),
            r.seed,
            figure(
                "latency",
                "Lookup latency CDF (wide area)",
                "latency (ms)",
                "fraction",
                &[("", cdf)]
            ),
            made_from(std::slice::from_ref(r))
        );
    }

    if !churns.is_empty() {
        let _ = writeln!(
            w,
            "## Churn\n\nAfter the ring forms, every node but the landmark leaves after an exponentially distributed \
             session with the given median and comes back one second later as a fresh process (its soft state \
             lost). Churn runs for {:.0} minutes. Lookups start {CHURN_QUIET:.0} s into it and run to the end, 0.05 per node \
             per second, each key asked by two nodes. **Maintenance** is the protocol's own traffic under churn \
             (joins, stabilization, pings, finger fixing, repairs): bytes per second per node over the last minute \
             before lookups start. **All traffic** adds the lookups, over the whole run.\n",
            churn_seconds / 60.0
        );
        let _ = writeln!(
            w,
            "| nodes | median session | departures | lookups | correct | consistent | failed | maintenance (B/s per node) | all traffic (B/s per node) | scenario |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for (n, m, r) in churns {
            let l = lookup(r);
            let started = l["started"].as_f64().unwrap_or(0.0);
            let failed = l["incomplete"].as_f64().unwrap_or(0.0) / started.max(1.0);
            let bytes = r.report.json["bytes_per_node_per_second"]
                .as_f64()
                .unwrap_or(0.0);
            let _ = writeln!(
                w,
                "| {n} | {m} min | {} | {} | {} | {} | {:.2}% | {:.0} | {bytes:.0} | {} (seed {}) |",
                r.report.json["crashes"],
                l["started"],
                pct(&l["correct_fraction"]),
                pct(&l["consistent_fraction"]),
                failed * 100.0,
                r.maintenance,
                command(r),
                r.seed
            );
        }
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for (n, m, r) in churns {
            let name = format!("{n} nodes");
            let point = (
                *m,
                lookup(r)["correct_fraction"].as_f64().unwrap_or(0.0) * 100.0,
            );
            match series.iter_mut().find(|(s, _)| *s == name) {
                Some((_, points)) => points.push(point),
                None => series.push((name, vec![point])),
            }
        }
        let refs = borrowed(&series);
        let _ = writeln!(
            w,
            "\n{}\n\n{}\n",
            figure(
                "churn",
                "Correct lookups under churn",
                "median session (minutes)",
                "correct (%)",
                &refs
            ),
            made_from(&churns.iter().map(|(_, _, r)| r).collect::<Vec<_>>())
        );
    }

    let _ = writeln!(
        w,
        "## Compared with P2\n\nP2's evaluation (SOSP 2005, as usually summarized) ran 100 to 500 nodes and found Chord in \
         OverLog to behave like hand-written Chord: about 1/2 log2 N hops per lookup, and at 400 nodes with median \
         sessions of 64 minutes or more at least 97% consistent lookups, while sessions of 16 minutes or less hurt \
         badly. The tables above are the numbers to compare; every one of them can be regenerated, and each run's \
         trace hash (in `eval/out/NAME/summary.json`) shows whether a rerun is the same run."
    );
    std::fs::write(root().join("EVALUATION.md"), md).expect("EVALUATION.md written");
    eprintln!("wrote EVALUATION.md");
}
