//! `trellis-bench`: Trellis measured side by side with its peers.
//!
//! ```text
//! trellis-bench [tc | join | all] [--runs N]
//! ```
//!
//! `tc` runs transitive closure in Trellis, ascent and datafrog; `join`
//! pushes Chord-style lookups through a 3-way join and compares with a
//! hand-written loop; `all` (the default) runs both. Every figure is the
//! median of `--runs` (default 3) measurements; results go to stdout as
//! Markdown.

mod join;
mod tc;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use trellis_engine::{Node, NodeConfig, Output};
use trellis_plan::Plan;

/// Trellis measured side by side with its peers; results go to stdout as
/// Markdown. Build with `--release`: debug numbers are meaningless.
#[derive(Debug, Parser)]
#[command(name = "trellis-bench")]
struct Args {
    /// Which benchmarks: `tc` (transitive closure in Trellis, ascent and
    /// datafrog), `join` (Chord lookups through a 3-way join against a
    /// hand-written loop), or `all`.
    #[arg(value_enum, default_value_t = Which::All)]
    which: Which,
    /// Every figure is the median of this many measurements.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = positive)]
    runs: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Which {
    Tc,
    Join,
    All,
}

fn positive(text: &str) -> Result<usize, String> {
    text.parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("`{text}` is not a positive number"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    print_machine();
    if args.which != Which::Join {
        tc::run(args.runs);
    }
    if args.which != Which::Tc {
        join::run(args.runs);
    }
    ExitCode::SUCCESS
}

/// The facts that make the numbers comparable: cores, CPU, compiler.
fn print_machine() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let profile = if cfg!(debug_assertions) {
        "debug (numbers are meaningless; use --release)"
    } else {
        "release"
    };
    println!("# Trellis benchmarks\n");
    println!("- nproc: {cores}");
    println!("- CPU: {cpu}");
    println!("- rustc: {rustc}");
    println!("- build: {profile}\n");
}

/// Compile an OverLog program held in memory; panics on diagnostics.
fn compile(name: &str, text: &str) -> Arc<Plan> {
    let loaded = trellis_plan::load_str(name, text, &trellis_syntax::ParseOptions::default())
        .unwrap_or_else(|d| panic!("{name} does not compile:\n{d:?}"));
    Arc::new(loaded.plan)
}

/// A started node named `n` that never stops a cascade.
fn new_node(plan: &Arc<Plan>) -> Node {
    let mut config = NodeConfig::new("n", 1);
    config.max_ticks_per_instant = u32::MAX;
    config.max_derivations_per_tick = usize::MAX;
    let mut node = Node::new(plan.clone(), config).expect("no node parameters");
    node.start(0);
    node
}

/// Step at time 0 until quiescent; `each` sees every tick's output. Panics
/// on any runtime problem: a benchmark must not measure a broken run.
fn run_to_quiescence(node: &mut Node, out: &mut Output, mut each: impl FnMut(&Output)) {
    while node.step(0, out) {
        assert!(
            out.problems.is_empty(),
            "Trellis reported problems: {:?}",
            out.problems
        );
        each(out);
        out.clear();
    }
}

/// Time one call.
fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let start = Instant::now();
    let value = f();
    (start.elapsed(), value)
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64())
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("trellis-bench").chain(s.split_whitespace()))
    }

    #[test]
    fn arguments() {
        let all = args("").unwrap();
        assert!(all.which == Which::All && all.runs == 3);
        let tc = args("tc --runs 5").unwrap();
        assert!(tc.which == Which::Tc && tc.runs == 5);
        assert!(args("--runs 0").is_err());
        assert!(args("tc join").is_err());
        assert!(args("bogus").is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(thousands(499_500), "499,500");
        assert_eq!(thousands(12), "12");
        assert_eq!(thousands(1_000_000), "1,000,000");
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(ratio(ms(3), ms(2)), "1.50x");
    }
}
