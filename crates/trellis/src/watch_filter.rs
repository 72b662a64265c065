//! Narrowing the watch stream (`--watch-kind`, `--watch-from`,
//! `--watch-until`, and the simulator's `--watch-node`): which records and
//! fault events get printed. Runtime problems are always printed.

use clap::{Args, ValueEnum};
use trellis_engine::{NANOS_PER_SECOND, Time};

/// A kind of line in the watch stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchKind {
    Insert,
    Refresh,
    Delete,
    Event,
    Send,
    Recv,
    /// A row about to be written (`watchmod` letter `a`).
    Add,
    /// A delete about to be applied (`watchmod` letter `z`).
    Remove,
    Crash,
    Restart,
    Partition,
    Heal,
    /// Crash, restart, partition and heal.
    Fault,
}

impl WatchKind {
    fn covers(self, kind: &str) -> bool {
        let name = match self {
            WatchKind::Insert => "insert",
            WatchKind::Refresh => "refresh",
            WatchKind::Delete => "delete",
            WatchKind::Event => "event",
            WatchKind::Send => "send",
            WatchKind::Recv => "recv",
            WatchKind::Add => "add",
            WatchKind::Remove => "remove",
            WatchKind::Crash => "crash",
            WatchKind::Restart => "restart",
            WatchKind::Partition => "partition",
            WatchKind::Heal => "heal",
            WatchKind::Fault => {
                return matches!(kind, "crash" | "restart" | "partition" | "heal");
            }
        };
        name == kind
    }
}

/// The filter flags every runner shares.
#[derive(Debug, Clone, Default, Args)]
pub struct WatchFilterArgs {
    /// Print only watch lines of this kind (repeatable): insert, refresh,
    /// delete, event, send, recv, add, remove, and in `sim` the faults
    /// crash, restart, partition, heal (`fault` for all four).
    #[arg(long = "watch-kind", value_enum, value_name = "KIND")]
    pub kinds: Vec<WatchKind>,
    /// Print watch lines from this second of the run on.
    #[arg(long = "watch-from", value_name = "SECONDS", value_parser = seconds)]
    pub from: Option<f64>,
    /// Print watch lines up to this second of the run.
    #[arg(long = "watch-until", value_name = "SECONDS", value_parser = seconds)]
    pub until: Option<f64>,
}

fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err("expected a number of seconds, 0 or more".into()),
    }
}

/// Which watch lines to print.
#[derive(Debug, Clone, Default)]
pub struct WatchFilter {
    kinds: Vec<WatchKind>,
    from: Time,
    until: Option<Time>,
    nodes: Vec<String>,
}

impl WatchFilter {
    /// `nodes` empty: every node.
    pub fn new(args: &WatchFilterArgs, nodes: Vec<String>) -> Result<WatchFilter, String> {
        if let (Some(from), Some(until)) = (args.from, args.until)
            && from > until
        {
            return Err(format!(
                "--watch-from {from} is after --watch-until {until}: no line would be printed"
            ));
        }
        let nanos = |s: f64| (s * NANOS_PER_SECOND as f64) as Time;
        Ok(WatchFilter {
            kinds: args.kinds.clone(),
            from: args.from.map_or(0, nanos),
            until: args.until.map(nanos),
            nodes,
        })
    }

    /// Whether a line of `kind` about `node` (none: the whole network) at
    /// `since_start` into the run is printed.
    pub fn shows(&self, node: Option<&str>, kind: &str, since_start: Time) -> bool {
        (self.kinds.is_empty() || self.kinds.iter().any(|k| k.covers(kind)))
            && since_start >= self.from
            && self.until.is_none_or(|u| since_start <= u)
            && node.is_none_or(|n| self.nodes.is_empty() || self.nodes.iter().any(|m| m == n))
    }

    /// The filter's flags, for a node started by `trellis cluster`.
    pub fn args(args: &WatchFilterArgs) -> Vec<String> {
        let mut argv = Vec::new();
        for k in &args.kinds {
            argv.push("--watch-kind".into());
            argv.push(
                k.to_possible_value()
                    .expect("no variant is skipped")
                    .get_name()
                    .to_string(),
            );
        }
        if let Some(s) = args.from {
            argv.extend(["--watch-from".into(), s.to_string()]);
        }
        if let Some(s) = args.until {
            argv.extend(["--watch-until".into(), s.to_string()]);
        }
        argv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(kinds: &[WatchKind], from: Option<f64>, until: Option<f64>) -> WatchFilter {
        let args = WatchFilterArgs {
            kinds: kinds.to_vec(),
            from,
            until,
        };
        WatchFilter::new(&args, vec!["b".into()]).unwrap()
    }

    #[test]
    fn kinds_nodes_and_window() {
        let everything = WatchFilter::default();
        assert!(everything.shows(Some("a"), "refresh", 0));
        let f = filter(&[WatchKind::Insert, WatchKind::Fault], Some(1.0), Some(2.0));
        let s = NANOS_PER_SECOND;
        assert!(f.shows(Some("b"), "insert", s));
        assert!(
            !f.shows(Some("b"), "refresh", s),
            "refreshes are their own kind"
        );
        assert!(f.shows(Some("b"), "crash", 2 * s));
        assert!(
            f.shows(None, "partition", s),
            "the network's faults pass the node filter"
        );
        assert!(!f.shows(Some("a"), "insert", s), "another node");
        assert!(!f.shows(Some("b"), "insert", s / 2), "before the window");
        assert!(!f.shows(Some("b"), "insert", 3 * s), "after the window");
    }

    #[test]
    fn an_empty_window_is_refused() {
        let args = WatchFilterArgs {
            kinds: Vec::new(),
            from: Some(5.0),
            until: Some(1.0),
        };
        assert!(WatchFilter::new(&args, Vec::new()).is_err());
        assert_eq!(
            WatchFilter::args(&WatchFilterArgs {
                kinds: vec![WatchKind::Recv, WatchKind::Fault],
                from: Some(1.5),
                until: None,
            }),
            [
                "--watch-kind",
                "recv",
                "--watch-kind",
                "fault",
                "--watch-from",
                "1.5"
            ]
        );
    }
}
