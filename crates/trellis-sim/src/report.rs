//! What a run produced: a one-screen summary, JSON, CSV files and plots.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use serde_json::json;
use trellis_engine::{RelationStats, Stats};
use trellis_plan::Plan;

use crate::sim::NANOS;
use crate::{Fault, SimError, Simulation};

/// The numbers of a finished run.
#[derive(Debug, Clone)]
pub struct Report {
    pub program: String,
    pub nodes: usize,
    pub live_at_end: usize,
    pub virtual_seconds: f64,
    pub seed: u64,
    pub wall_seconds: f64,
    pub queue_entries: u64,
    pub peak_memory_kib: Option<u64>,
    pub trace_hash: u64,
    pub json: serde_json::Value,
}

/// An engine's counters as JSON, the `engine` object of `summary.json` and
/// the body of `trellis run --json`'s summary: relations and rules by name,
/// only those with something to show.
pub fn engine_stats_json(stats: &Stats, plan: &Plan) -> serde_json::Value {
    let relations: serde_json::Map<String, serde_json::Value> = plan
        .relations
        .iter()
        .zip(&stats.relations)
        .filter(|(_, s)| **s != RelationStats::default())
        .map(|(r, s)| {
            (
                r.name.clone(),
                json!({
                    "inserts": s.inserts, "replacements": s.replacements,
                    "refreshes": s.refreshes, "deletes": s.deletes,
                    "expirations": s.expirations, "evictions": s.evictions,
                    "events": s.events, "sends": s.sends, "receives": s.receives,
                }),
            )
        })
        .collect();
    let errors: serde_json::Map<String, serde_json::Value> = plan
        .rules
        .iter()
        .zip(&stats.rule_errors)
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| (r.name.clone(), json!(n)))
        .collect();
    json!({
        "ticks": stats.ticks,
        "relations": relations,
        "errors": stats.errors(),
        "errors_by_rule": errors,
        "key_conflicts": stats.key_conflicts,
        "dropped_inputs": stats.dropped_inputs,
        "runaways": stats.runaways,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Keys looked up by several nodes (a workload with `copies`), and how many
/// of them got one answer from all: the end tuples' `check.answer` fields
/// grouped by their `check.key` fields.
fn consistency(m: &crate::MeasureState) -> (usize, usize) {
    let Some(check) = m.check() else {
        return (0, 0);
    };
    let mut answers: std::collections::BTreeMap<&trellis_value::Value, Vec<&trellis_value::Value>> =
        std::collections::BTreeMap::new();
    for s in &m.samples {
        answers
            .entry(&s.result[check.key - 1])
            .or_default()
            .push(&s.result[check.answer - 1]);
    }
    let several: Vec<_> = answers.values().filter(|a| a.len() > 1).collect();
    let consistent = several
        .iter()
        .filter(|a| a.iter().all(|x| *x == a[0]))
        .count();
    (several.len(), consistent)
}

/// Peak resident memory of this process (Linux), in KiB.
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Report {
    pub fn new(sim: &Simulation, program: &str, wall_seconds: f64) -> Report {
        let plan = sim.plan();
        let st = &sim.stats;
        let secs = sim.now() as f64 / NANOS;
        let n = st.per_node.len();
        let relations: serde_json::Map<String, serde_json::Value> = plan
            .relations
            .iter()
            .zip(&st.per_relation)
            .filter(|(_, (m, _))| *m > 0)
            .map(|(r, (m, b))| (r.name.clone(), json!({"messages": m, "bytes": b})))
            .collect();
        let measures: Vec<serde_json::Value> = sim
            .measurements()
            .measures
            .iter()
            .map(|m| {
                let mut lat: Vec<f64> = m
                    .samples
                    .iter()
                    .map(|s| (s.end - s.start) as f64 / 1e6)
                    .collect();
                lat.sort_by(f64::total_cmp);
                let mut hops: Vec<f64> = m
                    .samples
                    .iter()
                    .filter_map(|s| s.hops)
                    .map(|h| h as f64)
                    .collect();
                hops.sort_by(f64::total_cmp);
                let checked = m.samples.iter().filter(|s| s.correct.is_some()).count();
                let (groups, consistent) = consistency(m);
                let correct = m.samples.iter().filter(|s| s.correct == Some(true)).count();
                json!({
                    "name": m.name,
                    "started": m.started,
                    "completed": m.samples.len(),
                    "incomplete": m.incomplete(),
                    // Which: the measure's key (a request ID) of each.
                    "incomplete_keys": m.incomplete_keys().map(key_json).collect::<Vec<_>>(),
                    "checked": checked,
                    "correct": correct,
                    "correct_fraction": if checked > 0 { json!(correct as f64 / checked as f64) } else { serde_json::Value::Null },
                    "keys_asked_by_several": groups,
                    "consistent_keys": consistent,
                    "consistent_fraction": if groups > 0 { json!(consistent as f64 / groups as f64) } else { serde_json::Value::Null },
                    "latency_ms": {"mean": mean(&lat), "p50": percentile(&lat, 50.0),
                                   "p90": percentile(&lat, 90.0), "p99": percentile(&lat, 99.0)},
                    "hops": if hops.is_empty() { serde_json::Value::Null } else {
                        json!({"mean": mean(&hops), "p50": percentile(&hops, 50.0),
                               "max": m.samples.iter().filter_map(|s| s.hops).max()})
                    },
                })
            })
            .collect();
        let per_node_rate = if n > 0 && secs > 0.0 {
            st.bytes as f64 / n as f64 / secs
        } else {
            0.0
        };
        let json = json!({
            "program": program,
            "nodes": n,
            "live_at_end": sim.live_count(),
            "virtual_seconds": secs,
            "seed": sim.seed(),
            "wall_seconds": wall_seconds,
            "queue_entries": st.queue_entries,
            "entries_per_second": st.queue_entries as f64 / wall_seconds.max(1e-9),
            "peak_memory_kib": peak_memory_kib(),
            "messages": st.messages,
            "bytes": st.bytes,
            "bytes_per_node_per_second": per_node_rate,
            "frames": {"sent": st.frames_sent, "delivered": st.frames_delivered, "lost": st.frames_lost,
                       "cut": st.frames_cut, "duplicated": st.frames_duplicated, "to_dead_nodes": st.frames_to_dead,
                       "to_unknown_addresses": st.frames_to_unknown, "undecodable": st.frames_undecodable,
                       "in_flight_at_end": sim.frames_in_flight()},
            "oversize_tuples": st.tuples_oversize,
            "dropped_inputs": st.dropped_inputs,
            "injected": st.injected,
            "crashes": st.crashes,
            "restarts": st.restarts,
            "runtime_problems": st.problems,
            "engine": engine_stats_json(&sim.engine_stats(), plan),
            "relations": relations,
            "measures": measures,
            "ring": sim.ring().map(|r| {
                let last = r.checks.last().copied();
                json!({
                    "converged_at": r.converged_at.map(|t| t as f64 / NANOS),
                    "right_at_end": last.map(|(_, right, _)| right),
                    "live_at_end": last.map(|(_, _, live)| live),
                })
            }),
            "trace_hash": format!("{:016x}", sim.trace_hash()),
        });
        Report {
            program: program.to_string(),
            nodes: n,
            live_at_end: sim.live_count(),
            virtual_seconds: secs,
            seed: sim.seed(),
            wall_seconds,
            queue_entries: st.queue_entries,
            peak_memory_kib: peak_memory_kib(),
            trace_hash: sim.trace_hash(),
            json,
        }
    }

    /// The one-screen text summary.
    pub fn text(&self) -> String {
        let j = &self.json;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "simulated {} for {:.1} virtual seconds: {} nodes ({} live at the end), seed {}",
            self.program, self.virtual_seconds, self.nodes, self.live_at_end, self.seed
        );
        let _ = writeln!(
            s,
            "  wall time {:.2}s ({:.1}x real time), {} events ({:.0}/s){}",
            self.wall_seconds,
            self.virtual_seconds / self.wall_seconds.max(1e-9),
            self.queue_entries,
            self.queue_entries as f64 / self.wall_seconds.max(1e-9),
            self.peak_memory_kib.map_or(String::new(), |k| format!(
                ", peak memory {:.1} MiB",
                k as f64 / 1024.0
            ))
        );
        let _ = writeln!(
            s,
            "  traffic: {} messages, {} bytes; {:.1} bytes/s per node",
            j["messages"],
            j["bytes"],
            j["bytes_per_node_per_second"].as_f64().unwrap_or(0.0)
        );
        let f = &j["frames"];
        // Every frame sent, and every duplicate, ends in exactly one of
        // these, so the line adds up.
        let _ = write!(
            s,
            "  frames: {} sent and {} duplicates = {} delivered + {} lost + {} cut by partitions + {} to dead nodes",
            f["sent"], f["duplicated"], f["delivered"], f["lost"], f["cut"], f["to_dead_nodes"]
        );
        for (key, what) in [
            ("to_unknown_addresses", "to unknown addresses"),
            ("undecodable", "undecodable"),
        ] {
            if f[key].as_u64() != Some(0) {
                let _ = write!(s, " + {} {what}", f[key]);
            }
        }
        let _ = writeln!(s, " + {} in flight at the end", f["in_flight_at_end"]);
        if f["undecodable"].as_u64() != Some(0) {
            let _ = writeln!(
                s,
                "  error: {} frames did not decode on delivery (a codec bug)",
                f["undecodable"]
            );
        }
        if j["oversize_tuples"].as_u64() != Some(0) {
            let _ = writeln!(
                s,
                "  {} tuples were too large for a frame and refused",
                j["oversize_tuples"]
            );
        }
        if j["crashes"].as_u64() != Some(0) || j["restarts"].as_u64() != Some(0) {
            let _ = writeln!(
                s,
                "  faults: {} crashes, {} restarts",
                j["crashes"], j["restarts"]
            );
        }
        let e = &j["engine"];
        let _ = write!(
            s,
            "  engine: {} ticks, {} key conflicts, {} runtime errors",
            e["ticks"], e["key_conflicts"], e["errors"]
        );
        if let Some(by_rule) = e["errors_by_rule"].as_object().filter(|m| !m.is_empty()) {
            let parts: Vec<String> = by_rule.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let _ = write!(s, " (by rule: {})", parts.join(", "));
        }
        for (key, what) in [
            ("runaways", "runaway cascades stopped"),
            ("dropped_inputs", "inputs refused"),
        ] {
            if e[key].as_u64().is_some_and(|n| n > 0) {
                let _ = write!(s, ", {} {what}", e[key]);
            }
        }
        let _ = writeln!(s);
        if j["runtime_problems"].as_u64() != Some(0) {
            let _ = writeln!(
                s,
                "  runtime problems: {} (see the output above)",
                j["runtime_problems"]
            );
        }
        if let Some(rels) = j["relations"].as_object() {
            let mut top: Vec<(&String, u64, u64)> = rels
                .iter()
                .map(|(k, v)| {
                    (
                        k,
                        v["messages"].as_u64().unwrap_or(0),
                        v["bytes"].as_u64().unwrap_or(0),
                    )
                })
                .collect();
            top.sort_by_key(|(_, _, b)| std::cmp::Reverse(*b));
            let parts: Vec<String> = top
                .iter()
                .take(5)
                .map(|(k, m, b)| format!("{k} {m} msgs/{b} B"))
                .collect();
            if !parts.is_empty() {
                let _ = writeln!(s, "  by relation: {}", parts.join(", "));
            }
        }
        if let Some(r) = j["ring"].as_object() {
            let live = r["live_at_end"].as_u64().unwrap_or(0);
            let right = r["right_at_end"].as_u64().unwrap_or(0);
            match r["converged_at"].as_f64() {
                Some(t) => {
                    let _ = writeln!(
                        s,
                        "  ring: converged at {t:.1}s; at the end {right} of {live} live nodes have their true successor"
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "  ring: not converged; at the end {right} of {live} live nodes have their true successor"
                    );
                }
            }
        }
        for m in j["measures"].as_array().into_iter().flatten() {
            let l = &m["latency_ms"];
            let _ = write!(
                s,
                "  {}: {} started, {} completed, {} incomplete",
                m["name"].as_str().unwrap_or(""),
                m["started"],
                m["completed"],
                m["incomplete"],
            );
            if let (Some(mean), Some(p50), Some(p99)) =
                (l["mean"].as_f64(), l["p50"].as_f64(), l["p99"].as_f64())
            {
                let _ = write!(s, "; latency mean {mean:.1} ms, p50 {p50:.1}, p99 {p99:.1}");
            }
            if let Some(f) = m["correct_fraction"].as_f64() {
                let _ = write!(
                    s,
                    "; {:.2}% of {} checked answers correct",
                    f * 100.0,
                    m["checked"]
                );
            }
            if let Some(f) = m["consistent_fraction"].as_f64() {
                let _ = write!(
                    s,
                    "; {:.2}% of {} keys asked by several nodes answered consistently",
                    f * 100.0,
                    m["keys_asked_by_several"]
                );
            }
            if let Some(h) = m["hops"].as_object() {
                let _ = write!(
                    s,
                    "; hops mean {:.2}, max {}",
                    h["mean"].as_f64().unwrap_or(f64::NAN),
                    h["max"]
                );
                if j["ring"].is_object() && self.live_at_end > 1 {
                    let _ = write!(
                        s,
                        " (1/2 log2 N = {:.2})",
                        (self.live_at_end as f64).log2() / 2.0
                    );
                }
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "  trace hash {:016x}", self.trace_hash);
        s
    }
}

fn write(path: &Path, text: &str) -> Result<(), SimError> {
    std::fs::write(path, text).map_err(|source| SimError::Write {
        path: path.display().to_string(),
        source,
    })
}

/// Write the run's files into `dir`: summary.json, traffic.csv,
/// relations.csv, nodes.csv, one CSV per measure, and plots (SVG and PNG).
pub fn write_outputs(
    sim: &Simulation,
    report: &Report,
    dir: &Path,
    run_toml: &str,
) -> Result<Vec<String>, SimError> {
    std::fs::create_dir_all(dir).map_err(|source| SimError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let mut written = Vec::new();
    let mut put = |name: &str, text: &str| -> Result<(), SimError> {
        write(&dir.join(name), text)?;
        written.push(name.to_string());
        Ok(())
    };
    put("run.toml", run_toml)?;
    put(
        "summary.json",
        &serde_json::to_string_pretty(&report.json).expect("JSON values serialize"),
    )?;
    let st = &sim.stats;
    let n = st.per_node.len().max(1) as f64;
    let rates = traffic_per_node(&st.per_second, n, sim.now() as f64 / NANOS);
    let mut csv = String::from("second,messages,bytes,bytes_per_node_per_second\n");
    for ((sec, (m, b)), rate) in st.per_second.iter().enumerate().zip(&rates) {
        let rate = rate.map_or(String::new(), |r| format!("{r:.1}"));
        let _ = writeln!(csv, "{sec},{m},{b},{rate}");
    }
    put("traffic.csv", &csv)?;
    let traffic: Vec<(f64, f64)> = rates
        .iter()
        .enumerate()
        .filter_map(|(sec, rate)| Some((sec as f64, (*rate)?)))
        .collect();
    let mut csv = String::from("relation,messages,bytes\n");
    for (r, (m, b)) in sim.plan().relations.iter().zip(&st.per_relation) {
        if *m > 0 {
            let _ = writeln!(csv, "{},{m},{b}", r.name);
        }
    }
    put("relations.csv", &csv)?;
    let mut csv = String::from("node,frames,messages,bytes\n");
    for (i, (f, m, b)) in st.per_node.iter().enumerate() {
        let _ = writeln!(csv, "{},{f},{m},{b}", sim.address(i));
    }
    put("nodes.csv", &csv)?;
    if !st.checkpoints.is_empty() {
        let mut csv = String::from("time,trace_hash\n");
        for (t, h) in &st.checkpoints {
            let _ = writeln!(csv, "{:.3},{h:016x}", *t as f64 / NANOS);
        }
        put("checkpoints.csv", &csv)?;
    }
    if let Some(ring) = sim.ring() {
        let mut csv = String::from("time,right,live\n");
        for (t, right, live) in &ring.checks {
            let _ = writeln!(csv, "{:.3},{right},{live}", *t as f64 / NANOS);
        }
        put("ring.csv", &csv)?;
    }
    for m in &sim.measurements().measures {
        let mut csv = String::from("key,start,end,latency_ms,hops,correct,result\n");
        for s in &m.samples {
            let result: Vec<String> = s.result.iter().map(|v| v.literal()).collect();
            let _ = writeln!(
                csv,
                "{},{:.6},{:.6},{:.3},{},{},\"{}\"",
                s.key.literal().replace(',', ";"),
                s.start as f64 / NANOS,
                s.end as f64 / NANOS,
                (s.end - s.start) as f64 / 1e6,
                s.hops.map_or(String::new(), |h| h.to_string()),
                s.correct.map_or(String::new(), |c| c.to_string()),
                result.join(" ").replace('"', "'")
            );
        }
        put(&format!("measure-{}.csv", m.name), &csv)?;
    }

    let faults = fault_marks(&st.faults);
    for ext in ["svg", "png"] {
        let name = format!("traffic.{ext}");
        line_plot(
            &dir.join(&name),
            "Traffic per node",
            "virtual time (s)",
            "bytes/s per node",
            &traffic,
            &faults,
        )?;
        written.push(name);
    }
    if let Some(ring) = sim.ring() {
        let points: Vec<(f64, f64)> = ring
            .checks
            .iter()
            .map(|(t, right, live)| (*t as f64 / NANOS, *right as f64 / (*live).max(1) as f64))
            .collect();
        for ext in ["svg", "png"] {
            let name = format!("ring.{ext}");
            line_plot(
                &dir.join(&name),
                "Nodes holding their true successor",
                "virtual time (s)",
                "fraction of live nodes",
                &points,
                &faults,
            )?;
            written.push(name);
        }
    }
    for m in &sim.measurements().measures {
        let mut lat: Vec<f64> = m
            .samples
            .iter()
            .map(|s| (s.end - s.start) as f64 / 1e6)
            .collect();
        lat.sort_by(f64::total_cmp);
        if !lat.is_empty() {
            let cdf: Vec<(f64, f64)> = lat
                .iter()
                .enumerate()
                .map(|(i, l)| (*l, (i + 1) as f64 / lat.len() as f64))
                .collect();
            for ext in ["svg", "png"] {
                let name = format!("latency-{}.{ext}", m.name);
                line_plot(
                    &dir.join(&name),
                    &format!("{}: latency CDF", m.name),
                    "latency (ms)",
                    "fraction",
                    &cdf,
                    &[],
                )?;
                written.push(name);
            }
        }
        let hops: Vec<u64> = m.samples.iter().filter_map(|s| s.hops).collect();
        if !hops.is_empty() {
            for ext in ["svg", "png"] {
                let name = format!("hops-{}.{ext}", m.name);
                histogram(&dir.join(&name), &format!("{}: hops", m.name), &hops)?;
                written.push(name);
            }
        }
    }
    Ok(written)
}

fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // PNGs need glyphs; the embedded DejaVu Sans works on any machine.
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> SimError {
    SimError::Plot {
        path: path.display().to_string(),
        problem: e.to_string(),
    }
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// Bytes per node per second of virtual time, for each second of the run.
/// The last second is usually cut short by the run's end: its rate is over
/// the part that was run; bytes sent at the very end instant (a second of
/// no length) have no rate.
fn traffic_per_node(per_second: &[(u64, u64)], nodes: f64, end: f64) -> Vec<Option<f64>> {
    per_second
        .iter()
        .enumerate()
        .map(|(s, (_, b))| {
            let covered = (end - s as f64).min(1.0);
            (covered > 0.0).then(|| *b as f64 / nodes / covered)
        })
        .collect()
}

/// Vertical marks for the faults, as (time in seconds, legend entry).
fn fault_marks(faults: &[(trellis_engine::Time, Fault)]) -> Vec<(f64, &'static str)> {
    faults
        .iter()
        .map(|(t, f)| (*t as f64 / NANOS, f.kind()))
        .collect()
}

fn line_plot(
    path: &Path,
    title: &str,
    x: &str,
    y: &str,
    points: &[(f64, f64)],
    marks: &[(f64, &str)],
) -> Result<(), SimError> {
    draw_chart(path, title, x, y, &[("", points.to_vec())], marks)
}

/// A line chart of several named series, as SVG or PNG by the file's
/// extension (the evaluation draws its figures with it too).
pub fn line_chart(
    path: &Path,
    title: &str,
    x: &str,
    y: &str,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<(), SimError> {
    draw_chart(path, title, x, y, series, &[])
}

fn draw_chart(
    path: &Path,
    title: &str,
    x: &str,
    y: &str,
    series: &[(&str, Vec<(f64, f64)>)],
    marks: &[(f64, &str)],
) -> Result<(), SimError> {
    register_font();
    let result = if path.extension().is_some_and(|e| e == "svg") {
        draw_lines(
            SVGBackend::new(path, (800, 480)).into_drawing_area(),
            (title, x, y),
            series,
            marks,
        )
    } else {
        draw_lines(
            BitMapBackend::new(path, (800, 480)).into_drawing_area(),
            (title, x, y),
            series,
            marks,
        )
    };
    result.map_err(|e| plot_error(path, e))
}

/// Draw the series, and a vertical line at each mark, one colour and one
/// legend entry per kind of mark.
fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    (title, x, y): (&str, &str, &str),
    series: &[(&str, Vec<(f64, f64)>)],
    marks: &[(f64, &str)],
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (mut xmin, mut xmax, mut ymax) = (0.0_f64, 1.0_f64, 1e-9_f64);
    for p in series.iter().flat_map(|(_, p)| p.iter()) {
        xmin = xmin.min(p.0);
        xmax = xmax.max(p.0);
        ymax = ymax.max(p.1);
    }
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xmin..xmax, 0.0..ymax * 1.1)?;
    chart.configure_mesh().x_desc(x).y_desc(y).draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let drawn = chart.draw_series(LineSeries::new(points.iter().copied(), color))?;
        if !name.is_empty() {
            drawn
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        }
    }
    let mut kinds: Vec<&str> = marks.iter().map(|(_, k)| *k).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for (i, kind) in kinds.iter().enumerate() {
        let color = Palette99::pick(series.len() + i).mix(0.6);
        let lines = marks
            .iter()
            .filter(|(_, k)| k == kind)
            .map(|(t, _)| PathElement::new(vec![(*t, 0.0), (*t, ymax * 1.1)], color));
        chart
            .draw_series(lines)?
            .label(*kind)
            .legend(move |(x, y)| PathElement::new(vec![(x + 8, y - 6), (x + 8, y + 6)], color));
    }
    if !kinds.is_empty() || series.iter().any(|(n, _)| !n.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn histogram(path: &Path, title: &str, values: &[u64]) -> Result<(), SimError> {
    register_font();
    let max = values.iter().copied().max().unwrap_or(0);
    let mut counts = vec![0u64; max as usize + 1];
    for v in values {
        counts[*v as usize] += 1;
    }
    let result = if path.extension().is_some_and(|e| e == "svg") {
        draw_histogram(
            SVGBackend::new(path, (800, 480)).into_drawing_area(),
            title,
            &counts,
        )
    } else {
        draw_histogram(
            BitMapBackend::new(path, (800, 480)).into_drawing_area(),
            title,
            &counts,
        )
    };
    result.map_err(|e| plot_error(path, e))
}

fn draw_histogram<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    counts: &[u64],
) -> PlotResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let max = counts.len() as u64;
    // Counts are whole: an integer axis labels them `7000`, not `7000.0`.
    let top = counts.iter().copied().max().unwrap_or(1);
    let ymax = top + top / 10 + 1;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((0u64..max).into_segmented(), 0u64..ymax)?;
    chart
        .configure_mesh()
        .x_desc("hops")
        .y_desc("count")
        .draw()?;
    chart.draw_series(
        Histogram::vertical(&chart)
            .style(BLUE.filled())
            .data(counts.iter().enumerate().map(|(h, c)| (h as u64, *c))),
    )?;
    root.present()?;
    Ok(())
}

/// A measure's key in JSON: integers as numbers, anything else as its
/// literal.
fn key_json(v: &trellis_value::Value) -> serde_json::Value {
    match v {
        trellis_value::Value::Int(i) => json!(i),
        v => json!(v.literal()),
    }
}

#[cfg(test)]
mod tests {
    use super::{histogram, traffic_per_node};

    #[test]
    fn a_histogram_labels_counts_as_integers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hops.svg");
        let hops: Vec<u64> = (0..7000).map(|i| i % 3).collect();
        histogram(&path, "hops", &hops).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        let labels: Vec<&str> = svg.lines().filter(|l| l.parse::<f64>().is_ok()).collect();
        assert!(!labels.is_empty(), "{svg}");
        assert!(labels.iter().all(|l| !l.contains('.')), "{labels:?}");
    }

    #[test]
    fn a_partial_last_second_is_a_rate_over_its_length() {
        // 2 nodes, 2.5 s: the third second ran for half a second.
        let rates = traffic_per_node(&[(0, 200), (0, 200), (0, 100)], 2.0, 2.5);
        assert_eq!(rates, vec![Some(100.0), Some(100.0), Some(100.0)]);
        // Bytes sent at the end instant itself have no rate.
        let rates = traffic_per_node(&[(0, 200), (0, 200), (0, 50)], 2.0, 2.0);
        assert_eq!(rates, vec![Some(100.0), Some(100.0), None]);
    }
}
