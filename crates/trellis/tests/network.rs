//! Real processes on 127.0.0.1: `trellis run` and `trellis cluster` over
//! UDP and TCP. Every test uses its own ports, polls the JSON output for
//! convergence (no sleep-and-assert) and cleans its processes up.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::{Proc, example, last_tuple, records};

fn pingpong(name: &str, addr: &str, peer: &str, extra: &[&str]) -> Proc {
    let peer_define = format!("PEER=\"{peer}\"");
    let file = example("pingpong.olg");
    let mut args = vec!["run", &file, "--addr", addr, "-D", &peer_define, "--json"];
    args.extend_from_slice(extra);
    Proc::spawn(name, &args)
}

fn rtts(lines: &[Value], node: &str) -> usize {
    records(lines, node, "rtt", &["event"]).count()
}

fn ping_pong(transport: &str, a: &str, b: &str, extra: &[&str]) {
    let mut args = vec!["--transport", transport];
    args.extend_from_slice(extra);
    let mut na = pingpong("a", a, b, &args);
    let mut nb = pingpong("b", b, a, &args);
    na.wait_for("two round trips at a", |l| rtts(l, a) >= 2);
    nb.wait_for("two round trips at b", |l| rtts(l, b) >= 2);
    for (n, addr) in [(&mut na, a), (&mut nb, b)] {
        let s = n.stop();
        assert_eq!(s["stopped_by"], "terminate");
        assert_eq!(s["node"], addr);
        assert_eq!(s["errors"], 0);
        assert_eq!(s["dropped_inputs"], 0);
        assert_eq!(s["net"]["transport"], transport);
        assert_eq!(s["net"]["decode_errors_total"], 0);
        assert!(s["net"]["tuples_received"].as_u64().unwrap() >= 4, "{s}");
        assert!(s["relations"]["pong"]["receives"].as_u64().unwrap() >= 2);
    }
}

#[test]
fn ping_pong_over_udp() {
    ping_pong("udp", "127.0.0.1:25100", "127.0.0.1:25101", &[]);
}

#[test]
fn ping_pong_over_tcp() {
    ping_pong("tcp", "127.0.0.1:25110", "127.0.0.1:25111", &[]);
}

#[test]
fn ping_pong_with_a_cluster_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cluster.key");
    std::fs::write(&key, b"correct horse battery staple 32B").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let key = key.display().to_string();
    ping_pong(
        "udp",
        "127.0.0.1:25120",
        "127.0.0.1:25121",
        &["--cluster-key", &key],
    );
    ping_pong(
        "tcp",
        "127.0.0.1:25122",
        "127.0.0.1:25123",
        &["--cluster-key", &key],
    );
}

/// The latest `members(@X, N)` count per node.
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

fn all_have(lines: &[Value], nodes: &[String], n: i64) -> bool {
    let counts = member_counts(lines);
    nodes.iter().all(|a| counts.get(a) == Some(&n))
}

fn addrs(base: u16, n: u16) -> Vec<String> {
    (0..n).map(|i| format!("127.0.0.1:{}", base + i)).collect()
}

#[test]
fn narada_mesh_of_five_converges() {
    let file = example("narada.olg");
    let mut cluster = Proc::spawn(
        "cluster",
        &[
            "cluster",
            &file,
            "--nodes",
            "5",
            "--base-port",
            "25200",
            "--transport",
            "tcp",
            "--json",
        ],
    );
    let nodes = addrs(25200, 5);
    cluster.wait_for("every node to know 4 live members", |l| {
        all_have(l, &nodes, 4)
    });
    cluster.signal(nix::sys::signal::Signal::SIGTERM);
    let status = cluster.wait_exit();
    assert!(status.success(), "{}", cluster.stderr());
    let lines = cluster.json();
    let summaries: Vec<&Value> = lines.iter().filter_map(|l| l.get("summary")).collect();
    assert_eq!(summaries.len(), 5);
    for s in summaries {
        assert_eq!(s["errors"], 0, "{s}");
        assert_eq!(s["net"]["decode_errors_total"], 0, "{s}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l["cluster"] == "done" && l["failed"] == 0)
    );
}

/// Node → (successor's address, successor's ID).
type Successors = BTreeMap<String, (String, String)>;

/// succ and succ2 per node, from the latest insert/refresh records.
fn ring_state(lines: &[Value], nodes: &[String]) -> Option<(Successors, BTreeMap<String, String>)> {
    let mut succ = BTreeMap::new();
    let mut succ2 = BTreeMap::new();
    for n in nodes {
        let s = last_tuple(lines, n, "succ", &["insert", "refresh"])?;
        succ.insert(
            n.clone(),
            (s[1].as_str()?.to_string(), s[2].as_str()?.to_string()),
        );
        let s2 = last_tuple(lines, n, "succ2", &["insert", "refresh"])?;
        succ2.insert(n.clone(), s2[1].as_str()?.to_string());
    }
    Some((succ, succ2))
}

/// IDs print as `0x<hex>I`; zero-padded hex compares like the number.
fn parse_id(s: &str) -> Option<String> {
    let hex = s.strip_prefix("0x")?.strip_suffix('I')?;
    Some(format!("{hex:0>40}"))
}

fn ring_converged(lines: &[Value], nodes: &[String]) -> bool {
    let Some((succ, succ2)) = ring_state(lines, nodes) else {
        return false;
    };
    // Each node's ID, as others name it in their succ tuples.
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    for (a, ai) in succ.values() {
        match parse_id(ai) {
            Some(id) => {
                ids.insert(a.clone(), id);
            }
            None => return false,
        }
    }
    if ids.len() != nodes.len() {
        return false; // someone is nobody's successor yet
    }
    // Ring order: each node's successor is the next ID clockwise.
    let mut order: Vec<(&String, &String)> = ids.iter().map(|(a, i)| (i, a)).collect();
    order.sort();
    for (k, (_, a)) in order.iter().enumerate() {
        let next = order[(k + 1) % order.len()].1;
        if &succ[*a].0 != next {
            return false;
        }
    }
    // The localized rule: succ2 is the successor's successor.
    nodes.iter().all(|n| succ2[n] == succ[&succ[n].0].0)
}

#[test]
fn ring_of_eight_converges_with_a_localized_rule() {
    let file = example("ring.olg");
    let mut cluster = Proc::spawn(
        "cluster",
        &[
            "cluster",
            &file,
            "--nodes",
            "8",
            "--base-port",
            "25300",
            "--json",
        ],
    );
    let nodes = addrs(25300, 8);
    cluster.wait_for("the ring to form, succ2 included", |l| {
        ring_converged(l, &nodes)
    });
    cluster.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(cluster.wait_exit().success(), "{}", cluster.stderr());
    let lines = cluster.json();
    // The localized stages really travelled between nodes.
    let shipped: u64 = lines
        .iter()
        .filter_map(|l| l.get("summary"))
        .map(|s| s["relations"]["s3_loc2"]["receives"].as_u64().unwrap_or(0))
        .sum();
    assert!(shipped >= 8, "s3_loc2 was received {shipped} times");
}

/// Every node has a `reach` row for every node (the ring made by the
/// landmark: some of them many hops away).
fn everyone_reaches_everyone(lines: &[Value], nodes: &[String]) -> bool {
    nodes.iter().all(|n| {
        let reached: std::collections::BTreeSet<&str> = records(lines, n, "reach", &["insert"])
            .filter_map(|r| r["tuple"][1].as_str())
            .collect();
        nodes.iter().all(|m| reached.contains(m.as_str()))
    })
}

#[test]
fn reachability_across_five_processes_reaches_every_node() {
    let file = example("p2/reachability.olg");
    let mut cluster = Proc::spawn(
        "cluster",
        &[
            "cluster",
            &file,
            "--nodes",
            "5",
            "--base-port",
            "25800",
            "--json",
        ],
    );
    let nodes = addrs(25800, 5);
    cluster.wait_for("every node to reach every node", |l| {
        everyone_reaches_everyone(l, &nodes)
    });
    cluster.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(cluster.wait_exit().success(), "{}", cluster.stderr());
    // The localized rule shipped link rows into the generated table.
    let shipped: u64 = cluster
        .json()
        .iter()
        .filter_map(|l| l.get("summary"))
        .map(|s| s["relations"]["r2_loc2"]["inserts"].as_u64().unwrap_or(0))
        .sum();
    assert!(shipped >= 5, "r2_loc2 got {shipped} rows");
}

#[test]
fn a_killed_node_is_reported_and_the_others_carry_on() {
    let file = example("narada.olg");
    let mut cluster = Proc::spawn(
        "cluster",
        &[
            "cluster",
            &file,
            "--nodes",
            "4",
            "--base-port",
            "25400",
            "--json",
        ],
    );
    let nodes = addrs(25400, 4);
    cluster.wait_for("every node to know 3 live members", |l| {
        all_have(l, &nodes, 3)
    });
    let victim = cluster
        .json()
        .iter()
        .find(|l| l["cluster"] == "started" && l["index"] == 3)
        .and_then(|l| l["pid"].as_i64())
        .expect("node 3's pid");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    cluster.wait_for("the cluster to report node 3's death", |l| {
        l.iter().any(|l| {
            l["cluster"] == "exited" && l["index"] == 3 && l["signal"] == 9 && l["success"] == false
        })
    });
    // The survivors notice (soft state) and keep running: 2 live members each.
    let survivors = &nodes[..3];
    cluster.wait_for("the survivors to count 2 live members", |l| {
        // Only records after the death count.
        let from = l
            .iter()
            .position(|l| l["cluster"] == "exited")
            .unwrap_or(l.len());
        all_have(&l[from..], survivors, 2)
    });
    cluster.signal(nix::sys::signal::Signal::SIGTERM);
    let status = cluster.wait_exit();
    assert_eq!(
        status.code(),
        Some(1),
        "a node failed, so the cluster fails"
    );
    let lines = cluster.json();
    assert!(
        lines
            .iter()
            .any(|l| l["cluster"] == "done" && l["failed"] == 1)
    );
    let summaries = lines.iter().filter(|l| l.get("summary").is_some()).count();
    assert_eq!(summaries, 3, "the survivors stopped cleanly");
}

#[test]
fn inject_drives_a_live_node() {
    for (transport, port) in [("udp", 25500), ("tcp", 25510)] {
        let addr = format!("127.0.0.1:{port}");
        let file = example("pingpong.olg");
        // A node alone (its own peer): it only answers pings.
        let mut node = Proc::spawn(
            "node",
            &[
                "run",
                &file,
                "--addr",
                &addr,
                "--transport",
                transport,
                "--json",
                "--watch",
                "ping",
            ],
        );
        node.wait_listening();
        // As in docs/networking.md.
        let stderr = support::trellis_ok(
            &support::root(),
            &[
                "inject",
                &addr,
                "ping(@LOCALADDRESS, \"127.0.0.1:1\", 42)",
                "--transport",
                transport,
            ],
        );
        assert!(stderr.contains("sent ping("));
        node.wait_for("the injected ping", |l| {
            records(l, &addr, "ping", &["recv"]).any(|r| r["tuple"][2] == 42)
        });
        let s = node.stop();
        assert_eq!(s["relations"]["ping"]["receives"], 1);
        // The pong went to 127.0.0.1:1, which is nobody: over UDP it just
        // leaves, over TCP it is counted as lost.
        if transport == "tcp" {
            assert_eq!(s["net"]["lost"]["no_connection"]["tuples"], 1, "{s}");
        }
    }
    // A tuple that does not live at ADDR is refused before sending.
    let out = support::trellis()
        .args([
            "inject",
            "127.0.0.1:25520",
            "ping(\"127.0.0.1:9\", \"x\", 1)",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("location"));
}

/// Over TCP, `inject` fails when the node does not take its frame: here
/// the frame carries a tag the keyless node refuses. A node's network
/// limits are checked before it starts.
#[test]
fn inject_over_tcp_fails_when_the_node_does_not_take_the_tuple() {
    let addr = "127.0.0.1:25530";
    let file = example("pingpong.olg");
    let mut node = Proc::spawn(
        "node",
        &[
            "run",
            &file,
            "--addr",
            addr,
            "--transport",
            "tcp",
            "--json",
            "--idle-timeout",
            "5",
        ],
    );
    node.wait_listening();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cluster.key");
    std::fs::write(&key, [7u8; 32]).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = support::trellis()
        .args(["inject", addr, "ping(@LOCALADDRESS, \"127.0.0.1:1\", 42)"])
        .args(["--transport", "tcp", "--cluster-key"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did not take the frame"), "{stderr}");
    let s = node.stop();
    assert_eq!(s["net"]["decode_errors"]["unexpected_tag"], 1, "{s}");
    assert_eq!(s["net"]["frames_received"], 0, "{s}");

    let out = support::trellis()
        .args(["run", &file, "--transport", "tcp", "--max-reading", "1000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--max-reading must be at least"),
        "{stderr}"
    );
}

#[test]
fn a_tuple_too_large_for_a_datagram_is_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("big.olg");
    std::fs::write(
        &prog,
        "materialize(peer, infinity, 1, keys(1)).\n\
         peer(LOCALADDRESS, PEER).\n\
         watchmod(huge, \"c\").\n\
         g0 grow(@X, \"x\", 0) :- periodic(@X, E, 0, 1).\n\
         g1 grow(@X, S, N) :- grow(@X, S0, N0), N0 < 17, S := S0 + S0, N := N0 + 1.\n\
         g2 huge(@P, X, S) :- grow(@X, S, N), N == 17, peer(@X, P), P != X.\n\
         g3 small(@P, X) :- grow(@X, S, N), N == 17, peer(@X, P), P != X.\n",
    )
    .unwrap();
    let prog = prog.display().to_string();
    for (transport, a, b) in [
        ("udp", "127.0.0.1:25600", "127.0.0.1:25601"),
        ("tcp", "127.0.0.1:25602", "127.0.0.1:25603"),
    ] {
        let peer_b = format!("PEER=\"{b}\"");
        let peer_a = format!("PEER=\"{a}\"");
        let mut rb = Proc::spawn(
            "b",
            &[
                "run",
                &prog,
                "--addr",
                b,
                "-D",
                &peer_a,
                "--transport",
                transport,
                "--json",
                "--watch",
                "small",
            ],
        );
        rb.wait_listening();
        let mut ra = Proc::spawn(
            "a",
            &[
                "run",
                &prog,
                "--addr",
                a,
                "-D",
                &peer_b,
                "--transport",
                transport,
                "--json",
            ],
        );
        // b hears from a: the small tuple always, the huge one only over TCP.
        rb.wait_for("a's small tuple", |l| {
            records(l, b, "small", &["recv"]).count() >= 1
        });
        if transport == "tcp" {
            rb.wait_for("a's huge tuple", |l| {
                records(l, b, "huge", &["recv"]).count() >= 1
            });
        } else {
            ra.wait_for("the oversize warning", |l| {
                l.iter().any(|l| {
                    l["warning"] == "oversize"
                        && l["message"].as_str().is_some_and(|m| m.contains("`huge`"))
                })
            });
        }
        let sa = ra.stop();
        let sb = rb.stop();
        if transport == "udp" {
            assert_eq!(sa["net"]["oversize_by_relation"]["huge"], 1, "{sa}");
            assert_eq!(sa["net"]["lost"]["oversize"]["tuples"], 1, "{sa}");
            assert_eq!(
                sb["relations"]["huge"]["receives"].as_u64().unwrap_or(0),
                0,
                "{sb}"
            );
        } else {
            assert_eq!(sb["relations"]["huge"]["receives"], 1, "{sb}");
        }
    }
}

/// Alive, not a zombie.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|rest| rest.trim().to_string()))
        .is_some_and(|rest| !rest.starts_with('Z'))
}

#[test]
fn nodes_do_not_outlive_a_killed_cluster() {
    let file = example("pingpong.olg");
    let mut cluster = Proc::spawn(
        "cluster",
        &[
            "cluster",
            &file,
            "--nodes",
            "2",
            "--base-port",
            "25900",
            "--json",
        ],
    );
    cluster.wait_for("both nodes listening", |l| {
        l.iter().filter(|l| l.get("listening").is_some()).count() == 2
    });
    let pids: Vec<i32> = cluster
        .json()
        .iter()
        .filter(|l| l["cluster"] == "started")
        .filter_map(|l| l["pid"].as_i64())
        .map(|p| p as i32)
        .collect();
    assert_eq!(pids.len(), 2);
    cluster.signal(nix::sys::signal::Signal::SIGKILL);
    cluster.wait_exit();
    let start = std::time::Instant::now();
    while pids.iter().any(|&p| running(p)) {
        assert!(
            start.elapsed() < support::TIMEOUT,
            "nodes outlived the cluster"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Issue #13 items 2 and 15: `trellis inject localhost:PORT
/// 'peer(@LOCALADDRESS, ...)'` at a node whose address is `127.0.0.1:PORT`
/// replaced its `peer` row. Now a tuple located at a name the node does
/// not answer to is refused and counted; with `--also-known-as` the name is
/// the node's, and the row is stored at its address. A `--fact` located
/// elsewhere is an error.
#[test]
fn a_node_keeps_only_tuples_located_at_its_names() {
    let inject = |target: &str| {
        support::trellis_ok(
            &support::root(),
            &["inject", target, "peer(@LOCALADDRESS, \"127.0.0.1:11001\")"],
        )
    };
    let (a, a_alias) = ("127.0.0.1:25530", "localhost:25530");
    let mut na = pingpong("a", a, "127.0.0.1:25539", &["--tables"]);
    na.wait_listening();
    inject(a_alias);
    na.wait_for("the refusal", |l| {
        l.iter().any(|l| l["warning"] == "refused")
    });
    let s = na.stop();
    assert_eq!(s["net"]["refused_tuples"]["not_here"], 1, "{s}");
    assert_eq!(
        s["tables"]["peer"],
        serde_json::json!([[a, "127.0.0.1:25539"]])
    );

    let (b, b_alias) = ("127.0.0.1:25535", "localhost:25535");
    let mut nb = pingpong(
        "b",
        b,
        "127.0.0.1:25539",
        &["--tables", "--watch", "peer", "--also-known-as", b_alias],
    );
    nb.wait_listening();
    let names = nb.json().into_iter().find(|l| l.get("listening").is_some());
    assert_eq!(
        names.expect("a listening line")["names"],
        serde_json::json!([b, b_alias])
    );
    inject(b_alias);
    nb.wait_for("the new peer", |l| {
        records(l, b, "peer", &["recv"]).any(|r| r["tuple"][1] == "127.0.0.1:11001")
    });
    let s = nb.stop();
    assert_eq!(s["dropped_inputs"], 0, "{s}");
    assert_eq!(
        s["tables"]["peer"],
        serde_json::json!([[b, "127.0.0.1:11001"]])
    );

    let out = support::trellis()
        .args([
            "run",
            &example("pingpong.olg"),
            "--clock",
            "virtual",
            "--for",
            "1",
            "--fact",
            "peer(\"127.0.0.1:9999\", \"x\")",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("located at \"127.0.0.1:9999\", which is not this node (127.0.0.1:10000)"),
        "{stderr}"
    );
}
