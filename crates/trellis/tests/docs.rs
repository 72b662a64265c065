//! docs/networking.md is executable: this test checks that the page shows
//! exactly the commands below, then runs each as written (in a scratch
//! directory holding `examples/`; `--json` added so the output can be
//! checked, and Ctrl-C sent where a person would press it). The multi-host
//! commands run in tests/multihost.rs; here they are only compared.

mod support;

use std::collections::BTreeMap;

use nix::sys::signal::Signal;
use serde_json::Value;
use support::{MULTIHOST, Proc, json_id, last_tuple, records, root, shell_words};
use trellis_value::Id;

/// The `sh` commands of the page, in order.
const COMMANDS: [&str; 10] = [
    "trellis run examples/pingpong.olg --addr 127.0.0.1:11000 -D PEER=\\\"127.0.0.1:11001\\\"",
    "trellis run examples/pingpong.olg --addr 127.0.0.1:11001 -D PEER=\\\"127.0.0.1:11000\\\"",
    "trellis run examples/pingpong.olg --addr 127.0.0.1:11002 -D PEER=\\\"127.0.0.1:11000\\\"",
    "trellis inject 127.0.0.1:11000 'peer(@LOCALADDRESS, \"127.0.0.1:11002\")'",
    "trellis cluster examples/ring.olg --nodes 8",
    "trellis cluster examples/narada.olg --nodes 5",
    "(umask 077; head -c 32 /dev/urandom > cluster.key)",
    "trellis cluster examples/narada.olg --nodes 5 --transport tcp --cluster-key cluster.key",
    "trellis cluster examples/chord.olg --nodes 8 --watch bestSucc --watch lookupResults",
    "trellis inject 127.0.0.1:11003 'lookup(@LOCALADDRESS, 0xaaf4c61ddcc5e8a2dabede0f3b482cd9aea9434dI, LOCALADDRESS, 1)'",
];

fn page_commands() -> Vec<String> {
    commands_of("docs/networking.md")
}

/// The `sh` commands of a page.
fn commands_of(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(page)).unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    // Blocks may be indented (in a list).
    for line in text.lines().map(str::trim_start) {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if in_sh && !line.is_empty() && !line.starts_with('#') {
            commands.push(line.to_string());
        }
    }
    commands
}

/// docs/security.md shows only commands this page shows (and so runs).
#[test]
fn the_security_guide_shows_only_tested_commands() {
    let shown = commands_of("docs/security.md");
    assert!(!shown.is_empty());
    for command in shown {
        assert!(COMMANDS.contains(&command.as_str()), "{command}");
    }
}

#[test]
fn the_page_shows_exactly_the_tested_commands() {
    let mut expected: Vec<String> = COMMANDS.iter().map(|c| c.to_string()).collect();
    expected.extend(MULTIHOST.iter().map(|(_, c)| c.to_string()));
    assert_eq!(page_commands(), expected);
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root().join("examples"), dir.path().join("examples")).unwrap();
        Scratch { dir }
    }

    /// Start `trellis ...` (the command's words after `trellis`, plus
    /// `extra`).
    fn start(&self, name: &str, command: &str, extra: &[&str]) -> Proc {
        let mut words = shell_words(command);
        assert_eq!(words.remove(0), "trellis");
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        Proc::spawn_in(self.dir.path(), name, &args)
    }

    fn shell(&self, command: &str) {
        let status = std::process::Command::new("sh")
            .args(["-c", command])
            .current_dir(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "{command}");
    }
}

fn rtt_peers(lines: &[Value], node: &str) -> Vec<String> {
    records(lines, node, "rtt", &["event"])
        .filter_map(|r| r["tuple"][1].as_str().map(String::from))
        .collect()
}

/// Ctrl-C: the node stops cleanly and prints its summary.
fn interrupt(p: &mut Proc) -> Value {
    p.signal(Signal::SIGINT);
    let status = p.wait_exit();
    assert!(status.success(), "{}: {status}\n{}", p.name, p.stderr());
    let s = p.summary();
    assert_eq!(s["stopped_by"], "interrupt");
    s
}

fn member_counts(lines: &[Value]) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    for l in lines {
        if l["relation"] == "members" && l["kind"] == "event" {
            let t = l["tuple"].as_array().unwrap();
            counts.insert(t[0].as_str().unwrap().to_string(), t[1].as_i64().unwrap());
        }
    }
    counts
}

/// Run `trellis inject ...` as written, in the page's directory.
fn inject(page: &Scratch, command: &str) {
    let mut words = shell_words(command);
    assert_eq!(words.remove(0), "trellis");
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    support::trellis_ok(page.dir.path(), &words);
}

fn interrupt_cluster(p: &mut Proc, nodes: usize) {
    p.signal(Signal::SIGINT);
    let status = p.wait_exit();
    assert!(status.success(), "{}\n{}", p.name, p.stderr());
    let lines = p.json();
    let stopped: Vec<&Value> = lines
        .iter()
        .filter_map(|l| l.get("summary"))
        .filter(|s| s["stopped_by"] == "terminate")
        .collect();
    assert_eq!(stopped.len(), nodes, "every node stopped cleanly");
    assert!(
        lines
            .iter()
            .any(|l| l["cluster"] == "done" && l["failed"] == 0)
    );
}

#[test]
fn the_commands_on_the_page_work() {
    let page = Scratch::new();
    let [
        a,
        b,
        c,
        point,
        ring,
        narada,
        keygen,
        narada_key,
        chord,
        lookup,
    ] = COMMANDS;

    // Two nodes ping each other.
    let mut na = page.start("11000", a, &["--json"]);
    let mut nb = page.start("11001", b, &["--json"]);
    na.wait_for("round trips at 11000", |l| {
        rtt_peers(l, "127.0.0.1:11000").len() >= 2
    });
    nb.wait_for("round trips at 11001", |l| {
        rtt_peers(l, "127.0.0.1:11001").len() >= 2
    });

    // A third node; inject points 11000 at it.
    let mut nc = page.start("11002", c, &["--json"]);
    nc.wait_listening();
    inject(&page, point);
    na.wait_for("11000 to ping 11002", |l| {
        rtt_peers(l, "127.0.0.1:11000")
            .iter()
            .any(|p| p == "127.0.0.1:11002")
    });
    for n in [&mut na, &mut nb, &mut nc] {
        let s = interrupt(n);
        assert_eq!(s["net"]["decode_errors_total"], 0);
    }

    // The ring.
    let mut cluster = page.start("ring", ring, &["--json"]);
    cluster.wait_for("every node's succ and succ2", |l| {
        (0..8).all(|i| {
            let n = format!("127.0.0.1:{}", 11000 + i);
            records(l, &n, "succ", &["insert"]).count() > 0
                && records(l, &n, "succ2", &["insert"]).count() > 0
        })
    });
    interrupt_cluster(&mut cluster, 8);

    // The membership mesh, then with a key over TCP.
    let five: Vec<String> = (0..5).map(|i| format!("127.0.0.1:{}", 11000 + i)).collect();
    let converged = |l: &[Value]| {
        let counts = member_counts(l);
        five.iter().all(|n| counts.get(n) == Some(&4))
    };
    let mut cluster = page.start("narada", narada, &["--json"]);
    cluster.wait_for("4 members everywhere", converged);
    interrupt_cluster(&mut cluster, 5);

    page.shell(keygen);
    let mut cluster = page.start("narada-key", narada_key, &["--json"]);
    cluster.wait_for("4 members everywhere, authenticated", converged);
    interrupt_cluster(&mut cluster, 5);
    let authenticated = cluster
        .json()
        .iter()
        .filter(|l| l["authenticated"] == true)
        .count();
    assert_eq!(authenticated, 5);

    // Chord: once every node's best successor is the true one, the lookup
    // is answered at node 3 with the key's true successor.
    let mut ring: Vec<(Id, String)> = (0..8)
        .map(|i| format!("127.0.0.1:{}", 11000 + i))
        .map(|a| (trellis_value::sha1_id(&a), a))
        .collect();
    ring.sort();
    let mut cluster = page.start("chord", chord, &["--json"]);
    cluster.wait_for("every node's true successor", |l| {
        ring.iter().enumerate().all(|(k, (_, node))| {
            let next = ring[(k + 1) % ring.len()].0;
            last_tuple(l, node, "bestSucc", &["insert", "refresh"])
                .is_some_and(|t| json_id(&t[1]) == Some(next))
        })
    });
    inject(&page, lookup);
    let key = trellis_value::sha1_id("hello");
    let owner = ring.iter().find(|(id, _)| *id >= key).unwrap_or(&ring[0]);
    assert_eq!(owner.1, "127.0.0.1:11002", "the page's example");
    cluster.wait_for("the lookup's answer", |l| {
        records(l, "127.0.0.1:11003", "lookupResults", &["recv"]).any(|r| r["tuple"][4] == 1)
    });
    let answer = last_tuple(
        &cluster.json(),
        "127.0.0.1:11003",
        "lookupResults",
        &["recv"],
    )
    .cloned()
    .unwrap();
    assert_eq!(json_id(&answer[1]), Some(key));
    assert_eq!(json_id(&answer[2]), Some(owner.0));
    assert_eq!(answer[3], owner.1.as_str());
    interrupt_cluster(&mut cluster, 8);
}
