//! The simulator does what it says: determinism, partitions, loss,
//! duplication, latency, crashes and restarts, churn.

use trellis_engine::Time;
use trellis_sim::{NANOS, Options, Quiet, Scenario, Simulation};
use trellis_value::Value;

/// Every node joins the landmark each second; the landmark keeps a soft
/// membership table and acknowledges; every node counts its ticks.
const MEMBERS: &str = r#"
materialize(member, 2, infinity, keys(1,2)).
materialize(ticks, infinity, 1, keys(1)).
ticks(LOCALADDRESS, 0).
j1 join(@L, N) :- periodic(@N, E, 1), L := LANDMARK, N != L.
j2 member(@L, N) :- join(@L, N).
j3 ack(@N, L) :- join(@L, N).
t1 ticks(@N, C + 1) :- periodic(@N, E, 1), ticks(@N, C).
"#;

fn build(program: &str, toml: &str, options: &Options) -> Simulation {
    let scenario: Scenario = toml::from_str(toml).expect("valid scenario");
    let parse = trellis_sim::parse_options(&scenario, &[]);
    let plan = trellis_plan::load_str("test.olg", program, &parse)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan;
    Simulation::new(plan, scenario, options).expect("valid simulation")
}

fn at(seconds: f64) -> Time {
    (seconds * NANOS) as Time
}

fn members_of(sim: &Simulation, node: usize) -> Vec<String> {
    let mut m: Vec<String> = sim
        .table(node, "member")
        .unwrap_or_default()
        .iter()
        .map(|t| match &t[1] {
            Value::Str(s) => s.to_string(),
            other => other.literal(),
        })
        .collect();
    m.sort();
    m
}

const LOSSY: &str = r#"
[simulation]
nodes = 12
duration = 30
seed = 1
[network]
latency = { kind = "exponential", mean_ms = 40 }
loss = 0.1
duplicate = 0.05
[[event]]
at = 10
action = "crash"
node = "random"
[[event]]
at = 12
action = "restart"
node = 3
[[workload]]
tuple = 'ack(@ADDR, "x")'
rate = 3
"#;

#[test]
fn same_inputs_same_trace_whatever_the_storage_order() {
    let run = |toml: &str, shuffle: bool| {
        let mut sim = build(
            MEMBERS,
            toml,
            &Options {
                shuffle_storage: shuffle,
                checkpoint_every: None,
            },
        );
        sim.run(&mut Quiet);
        assert!(sim.stats.frames_delivered > 100, "the run did something");
        sim.trace_hash()
    };
    let a = run(LOSSY, false);
    assert_eq!(a, run(LOSSY, false), "same seed, same trace");
    assert_eq!(a, run(LOSSY, true), "storage order does not matter");
    let other = LOSSY.replace("seed = 1", "seed = 2");
    assert_ne!(a, run(&other, false), "another seed, another trace");
}

#[test]
fn a_partition_stops_exactly_the_cut_traffic() {
    let toml = r#"
[simulation]
nodes = 4
duration = 30
[network]
latency = { kind = "constant", ms = 10 }
[[event]]
at = 5
action = "partition"
name = "split"
groups = [[0, 1], [2, 3]]
[[event]]
at = 20
action = "heal"
name = "split"
"#;
    let mut sim = build(MEMBERS, toml, &Options::default());
    let all = ["node1:9000", "node2:9000", "node3:9000"];
    sim.run_until(at(4.5), &mut Quiet);
    assert_eq!(members_of(&sim, 0), all);
    assert_eq!(sim.stats.frames_cut, 0);
    sim.run_until(at(19.5), &mut Quiet);
    // Node 1 is on the landmark's side; 2 and 3 have expired.
    assert_eq!(members_of(&sim, 0), ["node1:9000"]);
    // Two joins a second from nodes 2 and 3, for about 15 seconds.
    let cut = sim.stats.frames_cut;
    assert!((26..=32).contains(&cut), "cut {cut} frames");
    sim.run_until(at(29.5), &mut Quiet);
    assert_eq!(members_of(&sim, 0), all, "healed");
    assert_eq!(sim.stats.frames_cut, cut, "nothing cut after healing");
    assert_eq!(sim.stats.frames_lost, 0);
}

#[test]
fn a_one_way_partition_cuts_one_direction() {
    let toml = r#"
[simulation]
nodes = 3
duration = 10
[network]
latency = { kind = "constant", ms = 10 }
[[event]]
at = 0
action = "partition"
name = "deaf"
groups = [[0], [1]]
oneway = true
"#;
    let mut sim = build(MEMBERS, toml, &Options::default());
    sim.run(&mut Quiet);
    // Node 1's joins reach the landmark; the landmark's acks to node 1 are cut.
    assert_eq!(members_of(&sim, 0), ["node1:9000", "node2:9000"]);
    let cut = sim.stats.frames_cut;
    assert!((9..=10).contains(&cut), "cut {cut} acks to node 1");
}

#[test]
fn loss_at_rate_p_loses_about_p() {
    let toml = r#"
[simulation]
nodes = 21
duration = 100
seed = 7
[network]
loss = 0.3
"#;
    let mut sim = build(MEMBERS, toml, &Options::default());
    sim.run(&mut Quiet);
    let sent = sim.stats.frames_sent as f64;
    let lost = sim.stats.frames_lost as f64;
    assert!(sent > 3000.0, "sent {sent}");
    let rate = lost / sent;
    assert!((0.27..0.33).contains(&rate), "lost {rate:.3} of frames");
}

#[test]
fn duplication_and_constant_latency() {
    let toml = r#"
[simulation]
nodes = 11
duration = 50
[network]
latency = { kind = "constant", ms = 25 }
duplicate = 0.5
[[measure]]
name = "rtt"
start = { relation = "join", key = 2, on = "send" }
end = { relation = "ack", key = 1, on = "recv" }
"#;
    let mut sim = build(MEMBERS, toml, &Options::default());
    sim.run(&mut Quiet);
    let rate = sim.stats.frames_duplicated as f64 / sim.stats.frames_sent as f64;
    assert!((0.45..0.55).contains(&rate), "duplicated {rate:.3}");
    let m = &sim.measurements().measures[0];
    assert!(m.samples.len() > 300);
    // A join and its ack: two one-way trips of exactly 25 ms.
    for s in &m.samples {
        assert_eq!(s.end - s.start, at(0.050));
    }
}

#[test]
fn a_crashed_node_loses_its_soft_state_and_restarts_with_its_facts() {
    let toml = r#"
[simulation]
nodes = 3
duration = 20
[[event]]
at = 10.5
action = "crash"
node = 0
[[event]]
at = 12.5
action = "restart"
node = 0
"#;
    let mut sim = build(MEMBERS, toml, &Options::default());
    let ticks = |sim: &Simulation| match &sim.table(0, "ticks").expect("alive")[0][1] {
        Value::Int(n) => *n,
        other => panic!("{other:?}"),
    };
    sim.run_until(at(10.2), &mut Quiet);
    assert_eq!(ticks(&sim), 10);
    assert_eq!(members_of(&sim, 0).len(), 2);
    sim.run_until(at(12.0), &mut Quiet);
    assert!(sim.table(0, "ticks").is_none(), "down");
    assert_eq!(sim.live_count(), 2);
    sim.run_until(at(12.6), &mut Quiet);
    // A fresh process: its fact is back, its counter restarted, and it
    // has not heard any join yet (they come once a second).
    assert_eq!(ticks(&sim), 0);
    sim.run_until(at(15.7), &mut Quiet);
    assert_eq!(ticks(&sim), 3);
    assert_eq!(members_of(&sim, 0).len(), 2, "members rejoined");
    assert_eq!(sim.stats.crashes, 1);
    assert_eq!(sim.stats.restarts, 1);
    assert!(sim.stats.frames_to_dead > 0, "joins sent while it was down");
}

#[test]
fn churn_keeps_the_live_count_near_its_target() {
    for model in ["exponential", "pareto"] {
        let toml = format!(
            r#"
[simulation]
nodes = 60
duration = 400
seed = 3
[churn]
model = "{model}"
median_session = 30
rejoin_after = 1
start = 10
exempt = [0]
"#
        );
        let mut sim = build(MEMBERS, &toml, &Options::default());
        let mut samples = Vec::new();
        for s in (20..400).step_by(10) {
            sim.run_until(at(s as f64), &mut Quiet);
            samples.push(sim.live_count());
        }
        let mean = samples.iter().sum::<usize>() as f64 / samples.len() as f64;
        // Each node is down 1 s per ~30 s session: about 3% of the time.
        assert!(mean > 55.0 && mean <= 60.0, "{model}: mean live {mean}");
        // With a median of 30 s over 390 s, each node churns many times.
        assert!(
            sim.stats.crashes > 400,
            "{model}: {} crashes",
            sim.stats.crashes
        );
        assert_eq!(
            sim.stats.crashes,
            sim.stats.restarts + (60 - sim.live_count()) as u64
        );
        assert!(sim.node(0).is_some(), "the exempt landmark never churns");
    }
}

#[test]
fn outputs_are_written() {
    let mut sim = build(MEMBERS, LOSSY, &Options::default());
    sim.run(&mut Quiet);
    let report = trellis_sim::Report::new(&sim, "members", 0.1);
    let dir = tempfile::tempdir().unwrap();
    let files = trellis_sim::write_outputs(&sim, &report, dir.path(), "# run\n").unwrap();
    for f in [
        "summary.json",
        "traffic.csv",
        "relations.csv",
        "nodes.csv",
        "traffic.svg",
        "traffic.png",
    ] {
        assert!(files.iter().any(|w| w == f), "{f} missing from {files:?}");
        assert!(std::fs::metadata(dir.path().join(f)).unwrap().len() > 0);
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["nodes"], 12);
    assert_eq!(summary["trace_hash"], format!("{:016x}", sim.trace_hash()));
    // The scenario's crash is marked on the traffic plot, with a legend.
    let svg = std::fs::read_to_string(dir.path().join("traffic.svg")).unwrap();
    assert!(svg.contains("\ncrash\n"), "no crash mark:\n{svg}");
    // A run of 30 s can send at the end instant (second 30), which has no
    // length and so no rate.
    let csv = std::fs::read_to_string(dir.path().join("traffic.csv")).unwrap();
    let last = csv.lines().last().unwrap();
    assert!(!last.starts_with("30,") || last.ends_with(','), "{last}");
}

/// Every frame sent or duplicated ends in exactly one place, and the
/// summary line says so: loss, duplication, a crash (frames to a dead node),
/// a partition (cut frames), the landmark's crash (frames to a dead node)
/// and frames still in flight at the end.
#[test]
fn frame_totals_add_up() {
    let toml = format!(
        "{LOSSY}\n[[event]]\nat = 5\naction = \"partition\"\nname = \"p\"\ngroups = [[0, 1, 2], [3, 4, 5, 6, 7, 8, 9, 10, 11]]\n[[event]]\nat = 8\naction = \"heal\"\nname = \"p\"\n[[event]]\nat = 20\naction = \"crash\"\nnode = 0\n"
    );
    let mut sim = build(MEMBERS, &toml, &Options::default());
    sim.run(&mut Quiet);
    let report = trellis_sim::Report::new(&sim, "members", 0.1);
    let f = &report.json["frames"];
    let n = |k: &str| f[k].as_u64().unwrap_or_else(|| panic!("{k} in {f}"));
    for k in ["lost", "cut", "duplicated", "to_dead_nodes"] {
        assert!(n(k) > 0, "the scenario should produce frames {k}: {f}");
    }
    assert_eq!(
        n("sent") + n("duplicated"),
        n("delivered")
            + n("lost")
            + n("cut")
            + n("to_dead_nodes")
            + n("to_unknown_addresses")
            + n("undecodable")
            + n("in_flight_at_end"),
        "{f}"
    );
    let text = report.text();
    let line = text.lines().find(|l| l.contains("frames:")).unwrap();
    assert!(
        line.contains(&format!(
            "{} sent and {} duplicates = {} delivered",
            n("sent"),
            n("duplicated"),
            n("delivered")
        )) && line.ends_with(&format!("+ {} in flight at the end", n("in_flight_at_end"))),
        "{line}"
    );
}

/// Every node sends the landmark 50 numbered tuples twice: `seq` on a
/// reliable channel, `lossy` on the network's default, unreliable one. The
/// landmark keeps them, and flags any that arrive after a later one.
const CHANNELS: &str = r#"
channel(seq, tcp).
materialize(count, infinity, 1, keys(1)).
materialize(got, infinity, infinity, keys(1,2,3)).
materialize(gotlossy, infinity, infinity, keys(1,2,3)).
materialize(last, infinity, infinity, keys(1,2)).
materialize(late, infinity, infinity, keys(1,2,3)).
count(LOCALADDRESS, 0).
t1 tick(@N) :- periodic(@N, E, 0.1, 50).
c1 count(@N, C + 1) :- tick(@N), count(@N, C).
c2 seq(@L, N, C + 1) :- tick(@N), count(@N, C), L := LANDMARK, N != L.
c3 lossy(@L, N, C + 1) :- tick(@N), count(@N, C), L := LANDMARK, N != L.
g1 got(@L, N, C) :- seq(@L, N, C).
g2 gotlossy(@L, N, C) :- lossy(@L, N, C).
g3 last(@L, N, max<C>) :- seq(@L, N, C).
g4 late(@L, N, C) :- seq(@L, N, C), last(@L, N, P), C <= P.
"#;

#[test]
fn a_reliable_channel_neither_loses_duplicates_nor_reorders() {
    let toml = r#"
[simulation]
nodes = 6
duration = 20
seed = 3
[network]
latency = { kind = "uniform", min_ms = 10, max_ms = 900 }
loss = 0.3
duplicate = 0.3
"#;
    let mut sim = build(CHANNELS, toml, &Options::default());
    sim.run(&mut Quiet);
    let rows = |name: &str| sim.table(0, name).unwrap_or_default().len();
    assert_eq!(rows("got"), 5 * 50, "every seq arrived");
    assert_eq!(rows("late"), 0, "in order, once each");
    // The same traffic on the unreliable channel: lost, and reordered.
    assert!(rows("gotlossy") < 5 * 50 * 8 / 10, "{}", rows("gotlossy"));
    assert!(sim.stats.frames_lost > 0 && sim.stats.frames_duplicated > 0);
}

#[test]
fn a_reliable_channel_is_still_cut_by_a_partition() {
    let toml = r#"
[simulation]
nodes = 3
duration = 20
[network]
latency = { kind = "constant", ms = 5 }
[[event]]
at = 0
action = "partition"
name = "split"
groups = [[0], [1, 2]]
[[event]]
at = 3
action = "heal"
name = "split"
"#;
    let mut sim = build(CHANNELS, toml, &Options::default());
    sim.run(&mut Quiet);
    let got = sim.table(0, "got").unwrap_or_default().len();
    // The first 3 s of each sender (about 29 tuples) were cut.
    assert!((2 * 19..=2 * 22).contains(&got), "{got} arrived");
}

/// Round trips of node `n`'s join and the landmark's ack, in ms, by node.
fn round_trips(program: &str, toml: &str) -> std::collections::BTreeMap<String, Vec<f64>> {
    let mut sim = build(program, toml, &Options::default());
    sim.run(&mut Quiet);
    let mut by_node = std::collections::BTreeMap::<String, Vec<f64>>::new();
    for s in &sim.measurements().measures[0].samples {
        let node = match &s.key {
            Value::Str(a) => a.to_string(),
            other => other.literal(),
        };
        by_node
            .entry(node)
            .or_default()
            .push((s.end - s.start) as f64 / 1e6);
    }
    by_node
}

const RTT_MEASURE: &str = r#"
[[measure]]
name = "rtt"
start = { relation = "join", key = 2, on = "send" }
end = { relation = "ack", key = 1, on = "recv" }
"#;

/// Every round trip (ms) of 11 nodes over 60 s with this latency model.
fn all_round_trips(latency: &str) -> Vec<f64> {
    let toml = format!(
        "[simulation]\nnodes = 11\nduration = 60\n[network]\nlatency = {latency}\n{RTT_MEASURE}"
    );
    round_trips(MEMBERS, &toml)
        .into_values()
        .flatten()
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[test]
fn uniform_and_normal_latencies_have_their_shape() {
    let all = all_round_trips(r#"{ kind = "uniform", min_ms = 10, max_ms = 30 }"#);
    assert!(all.len() > 500);
    // Two one-way trips, each within [10, 30) ms.
    assert!(all.iter().all(|r| (20.0..60.0).contains(r)), "{all:?}");
    let m = mean(&all);
    assert!((38.0..42.0).contains(&m), "mean round trip {m:.2} ms");

    let all = all_round_trips(r#"{ kind = "normal", mean_ms = 50, stddev_ms = 5 }"#);
    let m = mean(&all);
    let sd = mean(&all.iter().map(|r| (r - m).powi(2)).collect::<Vec<_>>()).sqrt();
    assert!((98.0..102.0).contains(&m), "mean round trip {m:.2} ms");
    // The sum of two independent trips: sqrt(2) * 5 ms.
    assert!((6.0..8.2).contains(&sd), "round-trip stddev {sd:.2} ms");
}

#[test]
fn a_latency_matrix_and_a_link_override_set_exact_delays() {
    let dir = tempfile::tempdir().unwrap();
    let matrix = dir.path().join("rtt.txt");
    std::fs::write(&matrix, "# RTTs in ms\n0 40 80\n40 0 60\n80 60 0\n").unwrap();
    let toml = format!(
        "[simulation]\nnodes = 3\nduration = 20\n[network]\nlatency = {{ kind = \"matrix\", file = {:?} }}\n{RTT_MEASURE}",
        matrix.display().to_string()
    );
    let rtts = round_trips(MEMBERS, &toml);
    // One way is half the round trip: node 1 <-> 0 is 20 ms each way,
    // node 2 <-> 0 is 40 ms.
    for (node, expected) in [(1, 40.0), (2, 80.0)] {
        let samples = &rtts[&format!("node{node}:9000")];
        assert!(samples.len() >= 15, "{samples:?}");
        assert!(
            samples.iter().all(|r| (r - expected).abs() < 1e-6),
            "node {node}: {samples:?}"
        );
    }

    // Frames from node 1 to node 0 take 100 ms; everything else 10 ms.
    let toml = format!(
        "[simulation]\nnodes = 3\nduration = 20\n[network]\nlatency = {{ kind = \"constant\", ms = 10 }}\n[[network.link]]\nfrom = 1\nto = 0\nlatency = {{ kind = \"constant\", ms = 100 }}\n{RTT_MEASURE}"
    );
    let rtts = round_trips(MEMBERS, &toml);
    assert!(rtts["node1:9000"].iter().all(|r| (r - 110.0).abs() < 1e-6));
    assert!(rtts["node2:9000"].iter().all(|r| (r - 20.0).abs() < 1e-6));
}

#[test]
fn bytes_on_the_wire_are_the_real_codec_s() {
    // Node 1 sends node 0 exactly one tuple, in one frame.
    let program = r#"p1 p(@L, N, "hello", 0xabcdefI, [1, 2.5]) :- periodic(@N, E, 1, 1),
       L := LANDMARK, N != L."#;
    let program = program.replace("[1, 2.5]", "f_cons(1, f_append(2.5))");
    let mut sim = build(
        &program,
        "[simulation]\nnodes = 2\nduration = 5\n",
        &Options::default(),
    );
    sim.run(&mut Quiet);
    assert_eq!(sim.stats.frames_sent, 1);
    let (to, from) = (sim.address(0).to_string(), sim.address(1).to_string());
    let frame = trellis_wire::encode(
        &from,
        &to,
        &[trellis_wire::WireMessage {
            relation: "p".into(),
            tuple: vec![
                Value::str(&to),
                Value::str(&from),
                Value::str("hello"),
                Value::Id(trellis_value::Id::from_be_bytes({
                    let mut b = [0u8; 20];
                    b[17..].copy_from_slice(&[0xab, 0xcd, 0xef]);
                    b
                })),
                Value::List(vec![Value::Int(1), Value::Float(2.5)].into()),
            ]
            .into(),
            delete: false,
            derivation: None,
        }],
        None,
    );
    assert_eq!(sim.stats.bytes, frame.len() as u64);
}

/// Two rules write one key each second (a key conflict), and a third
/// divides by zero (a runtime error), at every node.
const CONFLICTS: &str = r#"
materialize(t, infinity, infinity, keys(1)).
r1 t(@N, 1) :- periodic(@N, E, 1).
r2 t(@N, 2) :- periodic(@N, E, 1).
r3 bad(@N, X) :- periodic(@N, E, 1), X := 1 / 0.
"#;

#[test]
fn engine_counters_add_up_over_nodes_and_incarnations() {
    let toml = r#"
[simulation]
nodes = 3
duration = 10.5
[[event]]
at = 5.5
action = "crash"
node = 1
[[event]]
at = 6.2
action = "restart"
node = 1
"#;
    let mut sim = build(CONFLICTS, toml, &Options::default());
    sim.run(&mut Quiet);
    // Firings at 1..10 s on nodes 0 and 2; on node 1 at 1..5 s, then at
    // 1..4 s after its restart at 6.2 s (7.2, ..., 10.2).
    let firings = 10 + 10 + 5 + 4;
    let report = trellis_sim::Report::new(&sim, "conflicts", 0.1);
    let engine = &report.json["engine"];
    assert_eq!(engine["key_conflicts"], firings);
    assert_eq!(engine["errors"], firings);
    assert_eq!(engine["errors_by_rule"]["r3"], firings);
    assert!(engine["ticks"].as_u64().unwrap() >= firings);
    let text = report.text();
    assert!(
        text.contains(&format!(
            "{firings} key conflicts, {firings} runtime errors (by rule: r3 {firings})"
        )),
        "{text}"
    );
}

/// The observer sees every derivation of a traced relation as it happens;
/// a received tuple names its sender and the sender's derivation.
#[test]
fn the_observer_sees_provenance_and_receipts_point_to_their_senders() {
    use trellis_engine::{Cause, Derivation};
    use trellis_plan::Plan;

    #[derive(Default)]
    struct Collect(Vec<(String, Derivation)>);
    impl trellis_sim::Observer for Collect {
        fn provenance(&mut self, _plan: &Plan, node: &str, d: &Derivation) {
            self.0.push((node.to_string(), d.clone()));
        }
    }
    let toml = "[simulation]\nnodes = 3\nduration = 2.5\nseed = 5\n";
    let program = format!("{MEMBERS}\ntrace(member).\n");
    let mut sim = build(&program, toml, &Options::default());
    let mut seen = Collect::default();
    sim.run(&mut seen);
    let plan = sim.plan().clone();
    let name = |d: &Derivation| plan.relation(d.relation).name.clone();
    let landmark = sim.address(0).to_string();
    let receipts: Vec<&(String, Derivation)> = seen
        .0
        .iter()
        .filter(|(_, d)| name(d) == "join" && matches!(d.cause, Cause::Received { .. }))
        .collect();
    // Nodes 1 and 2 join the landmark each second, from t = 1.
    assert_eq!(receipts.len(), 4, "{receipts:?}");
    for (node, d) in receipts {
        assert_eq!(*node, landmark);
        let Cause::Received {
            from: Some(from),
            exec: Some(exec),
        } = &d.cause
        else {
            panic!("a receipt without its sender: {d:?}");
        };
        let sent = seen.0.iter().find(|(n, s)| {
            n.as_str() == &**from
                && matches!(&s.cause, Cause::Rule { exec: e, sent: true, .. } if e == exec)
        });
        let (_, sent) = sent.expect("the sender's derivation was seen");
        assert_eq!((sent.id, &sent.tuple), (d.id, &d.tuple));
        assert!(sent.time < d.time, "sent before it arrived");
    }
    // `ticks` is not upstream of `member`: not traced.
    assert!(seen.0.iter().all(|(_, d)| name(d) != "ticks"));
}
