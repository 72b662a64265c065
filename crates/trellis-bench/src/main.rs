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

use trellis_engine::{Node, NodeConfig, Output};
use trellis_plan::Plan;

const USAGE: &str = "usage: trellis-bench [tc | join | all] [--runs N]";

/// Which benchmarks to run, and how often.
#[derive(Debug, PartialEq)]
struct Options {
    tc: bool,
    join: bool,
    runs: usize,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut command = None;
    let mut runs = 3;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                let n = args.next().ok_or("--runs needs a number")?;
                runs = n
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--runs: `{n}` is not a positive number"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            "tc" | "join" | "all" if command.is_none() => command = Some(arg),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    let command = command.as_deref().unwrap_or("all");
    Ok(Options {
        tc: command != "join",
        join: command != "tc",
        runs,
    })
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    print_machine();
    if options.tc {
        tc::run(options.runs);
    }
    if options.join {
        join::run(options.runs);
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

    fn args(s: &str) -> Result<Options, String> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn arguments() {
        let all = Options {
            tc: true,
            join: true,
            runs: 3,
        };
        assert_eq!(args(""), Ok(all));
        let tc = args("tc --runs 5").unwrap();
        assert!(tc.tc && !tc.join && tc.runs == 5);
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
