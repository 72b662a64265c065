//! examples/p2/chord.olg, Chord written as P2 wrote it, as 8 real processes
//! on 127.0.0.1 (`trellis cluster`) in P2 semantics: the ring forms, every
//! lookup injected with `trellis inject` is answered by its key's true
//! successor, and no successor list ever grows past its bound (plus the
//! rows not yet evicted: see `SLACK`).
//!
//! The protocol's periods are shortened with `-D` so the ring forms in
//! seconds; nothing is asserted about time, only about what the nodes say,
//! with generous deadlines.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use support::json_id;
use trellis_value::{Id, Value};

const NODES: usize = 8;
const BASE_PORT: u16 = 23_300;
/// The program's `SUCCESSORS`.
const BOUND: usize = 4;
/// Rows a list may hold beyond the bound for a moment: a received row is
/// inserted and evicted in one fixpoint, but a row a rule writes (the
/// join's `c6`, the landmark's own row `c4`) is evicted in its insertion's
/// fixpoint, after it was committed; a received row may arrive between.
const SLACK: usize = 2;

struct Cluster(Child);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn address(i: usize) -> String {
    format!("127.0.0.1:{}", BASE_PORT + i as u16)
}

/// The true successor of `key` among the nodes: the first ID at or after it.
fn successor(ids: &[(Id, String)], key: Id) -> &(Id, String) {
    ids.iter().find(|(id, _)| *id >= key).unwrap_or(&ids[0])
}

fn start() -> (Cluster, Receiver<serde_json::Value>) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .current_dir(root)
        .args([
            "cluster",
            "examples/p2/chord.olg",
            "--nodes",
            &NODES.to_string(),
            "--base-port",
            &BASE_PORT.to_string(),
            "--transport",
            "udp",
            "--json",
            "--watch",
            "bestSucc",
            "--watch",
            "succ",
            "--watch",
            "lookupResults",
            "--for",
            "300",
            "-D",
            "STABILIZEPERIOD=1",
            "-D",
            "PINGPERIOD=1",
            "-D",
            "FINGERFIXPERIOD=1",
            "-D",
            "JOINPERIOD=1",
            "-D",
            "RECHECKPERIOD=3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("trellis cluster starts");
    let stdout = child.stdout.take().expect("piped");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && tx.send(v).is_err()
            {
                break;
            }
        }
    });
    (Cluster(child), rx)
}

/// Each node's successor list (by the key, the successor's identifier),
/// and the longest any list has been.
#[derive(Default)]
struct Lists {
    rows: BTreeMap<String, BTreeSet<String>>,
    longest: usize,
}

impl Lists {
    fn follow(&mut self, r: &serde_json::Value) {
        if r["relation"] != "succ" {
            return;
        }
        let (Some(node), key) = (r["node"].as_str(), r["tuple"][1].to_string()) else {
            return;
        };
        let list = self.rows.entry(node.to_string()).or_default();
        match r["kind"].as_str() {
            Some("insert") => {
                list.insert(key);
            }
            Some("delete") => {
                list.remove(&key);
            }
            _ => {}
        }
        self.longest = self.longest.max(list.len());
    }
}

#[test]
fn p2_chord_on_eight_processes_keeps_lists_bounded_and_answers_lookups() {
    let mut ids: Vec<(Id, String)> = (0..NODES)
        .map(|i| (trellis_value::sha1_id(&address(i)), address(i)))
        .collect();
    ids.sort();
    let (_cluster, records) = start();
    let mut lists = Lists::default();

    // Convergence: every node's latest bestSucc is its true successor.
    let mut best: BTreeMap<String, Id> = BTreeMap::new();
    let converged = |best: &BTreeMap<String, Id>| {
        ids.iter().enumerate().all(|(k, (_, addr))| {
            let next = &ids[(k + 1) % ids.len()].0;
            best.get(addr) == Some(next)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    while !converged(&best) {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "the ring did not converge: {best:?}");
        let Ok(r) = records.recv_timeout(left) else {
            continue;
        };
        lists.follow(&r);
        if r["relation"] == "bestSucc"
            && matches!(r["kind"].as_str(), Some("insert" | "refresh"))
            && let (Some(node), Some(s)) = (r["node"].as_str(), json_id(&r["tuple"][1]))
        {
            best.insert(node.to_string(), s);
        }
    }

    // Lookups from two nodes for eight keys each, with request ids 1000+.
    let mut expected: BTreeMap<i64, Id> = BTreeMap::new();
    let mut request = 1000i64;
    for from in [0, 5] {
        for k in 0..8u64 {
            let key = Id::from_u64(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ from as u64)
                .wrapping_mul(Id::from_u64(0x1_0000_0001))
                .wrapping_shl(80);
            let tuple = format!(
                "lookup(@LOCALADDRESS, {}, \"{}\", {request})",
                Value::Id(key).literal(),
                address(from)
            );
            support::trellis_ok(
                &support::root(),
                &["inject", &address(from), &tuple, "--transport", "udp"],
            );
            expected.insert(request, successor(&ids, key).0);
            request += 1;
        }
    }

    // Every lookup is answered at its requester (an event there: a result
    // the requester derives itself is never received) with the true
    // successor.
    let mut answered: BTreeMap<i64, Id> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.len() < expected.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "only {} of {} lookups were answered",
            answered.len(),
            expected.len()
        );
        let Ok(r) = records.recv_timeout(left) else {
            continue;
        };
        lists.follow(&r);
        if r["relation"] == "lookupResults"
            && r["kind"] == "event"
            && let (Some(e), Some(s)) = (r["tuple"][4].as_i64(), json_id(&r["tuple"][2]))
            && expected.contains_key(&e)
        {
            answered.insert(e, s);
        }
    }
    for (e, truth) in &expected {
        assert_eq!(answered.get(e), Some(truth), "lookup {e} answered wrongly");
    }
    assert!(
        lists.longest <= BOUND + SLACK,
        "a successor list held {} rows: {:?}",
        lists.longest,
        lists.rows
    );
}
