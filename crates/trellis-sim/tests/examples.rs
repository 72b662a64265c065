//! The example programs of `examples/` do what examples/README.md says: each
//! runs in the simulator and the distributed result is checked.

use std::collections::{BTreeMap, BTreeSet};

use trellis_engine::Time;
use trellis_sim::{NANOS, Options, Quiet, Scenario, Simulation};
use trellis_value::Value;

const COUNTER: &str = include_str!("../../../examples/counter.olg");
const PATHVECTOR: &str = include_str!("../../../examples/pathvector.olg");
const GOSSIP: &str = include_str!("../../../examples/gossip.olg");
const CHAT: &str = include_str!("../../../examples/chat.olg");
const REACHABILITY: &str = include_str!("../../../examples/p2/reachability.olg");

/// Compile `program` as the CLI would for this scenario; it must be
/// warning-free, as `trellis check` shows it.
fn build(name: &str, program: &str, toml: &str) -> Simulation {
    let scenario: Scenario = toml::from_str(toml).expect("valid scenario");
    let options = trellis_sim::parse_options(&scenario, &[]);
    let loaded = trellis_plan::load_str(name, program, &options)
        .unwrap_or_else(|d| panic!("{name} does not compile:\n{d:?}"));
    assert!(
        loaded.warnings.is_empty(),
        "{name} has warnings:\n{:?}",
        loaded.warnings
    );
    Simulation::new(loaded.plan, scenario, &Options::default()).expect("valid simulation")
}

fn at(seconds: f64) -> Time {
    (seconds * NANOS) as Time
}

fn text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.literal(),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

fn address(i: usize) -> String {
    format!("node{i}:9000")
}

// ---- counter.olg ------------------------------------------------------------

fn counters(sim: &Simulation, nodes: usize) -> Vec<i64> {
    (0..nodes)
        .map(|i| {
            let rows = sim.table(i, "counter").expect("node is up");
            assert_eq!(rows.len(), 1, "one counter per node");
            assert_eq!(text(&rows[0][0]), address(i));
            int(&rows[0][1])
        })
        .collect()
}

#[test]
fn counter_counts_once_a_second_up_to_its_count() {
    let toml = "[simulation]\nnodes = 5\nduration = 15\n";
    let mut sim = build("counter.olg", COUNTER, toml);
    sim.run_until(at(0.5), &mut Quiet);
    assert_eq!(counters(&sim, 5), [0; 5], "the fact, before any firing");
    sim.run_until(at(5.5), &mut Quiet);
    assert_eq!(counters(&sim, 5), [5; 5]);
    sim.run(&mut Quiet);
    assert_eq!(counters(&sim, 5), [10; 5], "COUNT firings, then it stops");
    assert_eq!(sim.stats.messages, 0, "a counter talks to nobody");
}

#[test]
fn counter_count_can_be_changed_with_a_define() {
    let toml = "[simulation]\nnodes = 2\nduration = 15\n[defines]\nCOUNT = \"3\"\n";
    let mut sim = build("counter.olg", COUNTER, toml);
    sim.run(&mut Quiet);
    assert_eq!(counters(&sim, 2), [3, 3]);
}

// ---- pathvector.olg -----------------------------------------------------------

const PATHVECTOR_NODES: usize = 7;
const INF: i64 = i64::MAX / 4;

/// All-pairs shortest path costs by Floyd–Warshall.
fn floyd_warshall(n: usize, links: &BTreeMap<(usize, usize), i64>) -> Vec<Vec<i64>> {
    let mut d = vec![vec![INF; n]; n];
    for (i, row) in d.iter_mut().enumerate() {
        row[i] = 0;
    }
    for (&(a, b), &c) in links {
        d[a][b] = d[a][b].min(c);
    }
    for k in 0..n {
        for i in 0..n {
            for j in 0..n {
                if d[i][k] + d[k][j] < d[i][j] {
                    d[i][j] = d[i][k] + d[k][j];
                }
            }
        }
    }
    d
}

fn node_index(v: &Value) -> usize {
    let s = text(v);
    s.strip_prefix("node")
        .and_then(|r| r.strip_suffix(":9000"))
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("not a node address: {s}"))
}

fn path_of(v: &Value) -> Vec<usize> {
    match v {
        Value::List(items) => items.iter().map(node_index).collect(),
        other => panic!("not a path: {other:?}"),
    }
}

#[test]
fn pathvector_finds_every_shortest_path() {
    // Uneven latencies, so that paths arrive in every order.
    let toml = r#"
[simulation]
nodes = 7
duration = 20
seed = 3
[network]
latency = { kind = "uniform", min_ms = 5, max_ms = 120 }
"#;
    let mut sim = build("pathvector.olg", PATHVECTOR, toml);
    sim.run(&mut Quiet);

    // The topology, as the nodes hold it: every link in both directions.
    let mut links = BTreeMap::new();
    for i in 0..PATHVECTOR_NODES {
        for row in sim.table(i, "link").expect("up") {
            assert_eq!(node_index(&row[0]), i, "links live at their source");
            links.insert((i, node_index(&row[1])), int(&row[2]));
        }
    }
    assert_eq!(links.len(), 22, "11 links, both ways");
    for (&(a, b), c) in &links {
        assert_eq!(links.get(&(b, a)), Some(c), "link {a}-{b} is symmetric");
    }
    let dist = floyd_warshall(PATHVECTOR_NODES, &links);
    // The example is not trivial: some shortest paths avoid the direct link.
    assert!(dist[0][1] < links[&(0, 1)] && dist[3][5] < links[&(3, 5)]);

    for (i, dist_from_i) in dist.iter().enumerate() {
        let costs: BTreeMap<usize, i64> = sim
            .table(i, "bestCost")
            .expect("up")
            .iter()
            .map(|r| (node_index(&r[1]), int(&r[2])))
            .collect();
        let expected: BTreeMap<usize, i64> = (0..PATHVECTOR_NODES)
            .filter(|&j| j != i)
            .map(|j| (j, dist_from_i[j]))
            .collect();
        assert_eq!(costs, expected, "best costs at node {i}");

        let best = sim.table(i, "bestPath").expect("up");
        assert_eq!(
            best.len(),
            PATHVECTOR_NODES - 1,
            "one best path per destination"
        );
        for row in &best {
            let (dest, path, cost) = (node_index(&row[1]), path_of(&row[2]), int(&row[3]));
            assert_eq!(cost, dist_from_i[dest], "{i} -> {dest}: {path:?}");
            assert_eq!(path.first(), Some(&i), "{path:?} starts here");
            assert_eq!(path.last(), Some(&dest), "{path:?} ends at {dest}");
            let hops: i64 = path
                .windows(2)
                .map(|w| {
                    *links
                        .get(&(w[0], w[1]))
                        .unwrap_or_else(|| panic!("{path:?}: no link {}-{}", w[0], w[1]))
                })
                .sum();
            assert_eq!(hops, cost, "{path:?} costs what it says");
        }
        // Every path heard of is loop-free.
        for row in sim.table(i, "path").expect("up") {
            let path = path_of(&row[2]);
            let distinct: BTreeSet<usize> = path.iter().copied().collect();
            assert_eq!(distinct.len(), path.len(), "{path:?} has a loop");
        }
    }
}

// ---- gossip.olg ------------------------------------------------------------------

fn gossip_scenario(loss: f64) -> String {
    format!(
        r#"
[simulation]
nodes = 12
duration = 30
seed = 1
[network]
loss = {loss}
[[event]]
at = 5
action = "inject"
node = 7
tuple = 'rumour(@ADDR, 1, "the cake is a lie")'
"#
    )
}

/// How many nodes know the rumour (and check what they know).
fn informed(sim: &Simulation) -> usize {
    (0..12)
        .filter(|&i| {
            let rows = sim.table(i, "rumour").expect("up");
            for r in &rows {
                assert_eq!((int(&r[1]), text(&r[2]).as_str()), (1, "the cake is a lie"));
            }
            !rows.is_empty()
        })
        .count()
}

#[test]
fn gossip_reaches_every_node() {
    let mut sim = build("gossip.olg", GOSSIP, &gossip_scenario(0.0));
    sim.run_until(at(4.9), &mut Quiet);
    assert_eq!(informed(&sim), 0, "nobody knows before it is told");
    for i in 0..12 {
        let members = sim.table(i, "member").expect("up").len();
        assert_eq!(members, 11, "node {i} knows every other node");
    }
    sim.run_until(at(5.5), &mut Quiet);
    let early = informed(&sim);
    assert!((1..=3).contains(&early), "{early} nodes after one round");
    sim.run(&mut Quiet);
    assert_eq!(informed(&sim), 12);
}

#[test]
fn gossip_reaches_every_node_despite_loss() {
    let mut sim = build("gossip.olg", GOSSIP, &gossip_scenario(0.2));
    sim.run(&mut Quiet);
    let lost = sim.stats.frames_lost as f64 / sim.stats.frames_sent as f64;
    assert!((0.15..0.25).contains(&lost), "lost {lost:.2} of the frames");
    assert_eq!(informed(&sim), 12);
}

// ---- chat.olg ---------------------------------------------------------------------

#[test]
fn chat_relays_every_message_to_every_client() {
    let toml = r#"
[simulation]
nodes = 6
duration = 10
[network]
latency = { kind = "uniform", min_ms = 10, max_ms = 90 }
[[event]]
at = 3
action = "inject"
node = 2
tuple = 'say(@ADDR, "hello from node 2")'
[[event]]
at = 3.01
action = "inject"
node = 4
tuple = 'say(@ADDR, "hi, node 4 here")'
"#;
    let mut sim = build("chat.olg", CHAT, toml);
    sim.run(&mut Quiet);
    let clients = 1..6;
    // Every client's hello, and the two messages said by nodes 2 and 4.
    let mut expected: BTreeSet<(String, String)> = clients
        .clone()
        .map(|c| (address(c), "hello, I just joined".to_string()))
        .collect();
    expected.insert((address(2), "hello from node 2".into()));
    expected.insert((address(4), "hi, node 4 here".into()));
    for c in clients {
        let heard: BTreeSet<(String, String)> = sim
            .table(c, "heard")
            .expect("up")
            .iter()
            .map(|r| (text(&r[1]), text(&r[2])))
            .collect();
        assert_eq!(heard, expected, "client {c}");
    }
    let members: BTreeSet<String> = sim
        .table(0, "member")
        .expect("up")
        .iter()
        .map(|r| text(&r[1]))
        .collect();
    assert_eq!(
        members,
        (1..6).map(address).collect(),
        "the server's members"
    );
    assert!(
        sim.table(0, "heard").expect("up").is_empty(),
        "the server is not a member"
    );
}

// ---- p2/reachability.olg --------------------------------------------------------

/// Each node's rows of a two-field table, as node indexes.
fn pairs(sim: &Simulation, nodes: usize, table: &str) -> BTreeSet<(usize, usize)> {
    (0..nodes)
        .flat_map(|i| sim.table(i, table).expect("node is up"))
        .map(|row| (node_index(&row[0]), node_index(&row[1])))
        .collect()
}

#[test]
fn reachability_reaches_every_node_of_the_ring_many_hops_away() {
    const NODES: usize = 6;
    let toml = format!("[simulation]\nnodes = {NODES}\nduration = 10\n");
    let mut sim = build("reachability.olg", REACHABILITY, &toml);
    sim.run(&mut Quiet);
    let links = pairs(&sim, NODES, "link");
    // The transitive closure of the links the landmark made, centrally.
    let mut closure = links.clone();
    loop {
        let grown: BTreeSet<(usize, usize)> = links
            .iter()
            .flat_map(|&(x, y)| {
                closure
                    .iter()
                    .filter(move |c| c.0 == y)
                    .map(move |c| (x, c.1))
            })
            .chain(closure.iter().copied())
            .collect();
        if grown == closure {
            break;
        }
        closure = grown;
    }
    assert_eq!(pairs(&sim, NODES, "reach"), closure);
    // A ring: everyone reaches everyone, up to NODES hops away.
    assert_eq!(closure.len(), NODES * NODES, "links {links:?}");
}
