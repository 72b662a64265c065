//! Provenance (docs/language.md §8): what the engine records of each
//! derivation, checked against trees computed by hand, across nodes, in
//! `ruleExec`/`tupleTable`, within its bounds, and the same in two runs.

use std::sync::Arc;

use trellis_engine::harness::{Harness, Observer, Quiet};
use trellis_engine::provenance::{exec_id, tuple_id};
use trellis_engine::{Cause, Derivation, NANOS_PER_SECOND, Node, NodeConfig, Output, Tuple};
use trellis_plan::{Plan, ProvenanceLimits};
use trellis_syntax::ParseOptions;
use trellis_value::Value;

/// `a` tells `b` of its edge; `b` joins that with its own edge and tells
/// `c`: `twohop(@c, a)` at `c` has a history on all three nodes.
const TWO_HOPS: &str = r#"
materialize(edge, infinity, infinity, keys(1, 2)).
edge(@"a", "b").
edge(@"b", "c").
e1 hop(@B, A) :- edge(@A, B).
e2 twohop(@C, A) :- hop(@B, A), edge(@B, C).
"#;

fn plan(text: &str) -> Plan {
    trellis_plan::load_str("t.olg", text, &ParseOptions::default())
        .unwrap_or_else(|d| panic!("does not compile: {d:?}"))
        .plan
}

fn harness(plan: Plan, nodes: &[&str]) -> Harness {
    let plan = Arc::new(plan);
    let mut h = Harness::new(0);
    h.latency = NANOS_PER_SECOND / 100;
    for (i, address) in nodes.iter().enumerate() {
        h.add(Node::new(plan.clone(), NodeConfig::new(*address, i as u64)).expect("a node"));
    }
    h
}

/// Every derivation recorded, with the node that recorded it.
#[derive(Default)]
struct Recorded(Vec<(String, Derivation)>);

impl Observer for Recorded {
    fn output(&mut self, node: &Node, out: &Output) {
        for d in &out.provenance {
            self.0.push((node.address().to_string(), d.clone()));
        }
    }
}

impl Recorded {
    /// The derivations of `relation(fields)` recorded on `node`.
    fn of(&self, plan: &Plan, node: &str, relation: &str, fields: &[Value]) -> Vec<&Derivation> {
        let rel = plan.lookup(relation).expect("a relation");
        self.0
            .iter()
            .filter(|(n, d)| n == node && d.relation == rel && &*d.tuple == fields)
            .map(|(_, d)| d)
            .collect()
    }
}

fn s(x: &str) -> Value {
    Value::str(x)
}

fn run(plan: &Plan, nodes: &[&str], seconds: u64) -> Recorded {
    let mut h = harness(plan.clone(), nodes);
    let mut seen = Recorded::default();
    h.run_until(seconds * NANOS_PER_SECOND, &mut seen);
    seen
}

#[test]
fn a_tree_across_three_nodes_is_the_one_computed_by_hand() {
    let mut plan = plan(&format!("{TWO_HOPS}trace(twohop).\n"));
    assert!(plan.relation(plan.lookup("edge").unwrap()).traced);
    assert!(plan.relation(plan.lookup("hop").unwrap()).traced);
    let seen = run(&plan, &["a", "b", "c"], 1);

    let edge_ab = tuple_id("edge", &[s("a"), s("b")]);
    let edge_bc = tuple_id("edge", &[s("b"), s("c")]);
    let hop = tuple_id("hop", &[s("b"), s("a")]);
    let twohop = tuple_id("twohop", &[s("c"), s("a")]);
    let e1 = exec_id("e1", "a", hop, &[edge_ab]);
    let e2 = exec_id("e2", "b", twohop, &[hop, edge_bc]);

    let only = |node, rel, fields: &[Value]| {
        let found = seen.of(&plan, node, rel, fields);
        assert_eq!(found.len(), 1, "{rel}{fields:?} on {node}: {found:?}");
        (found[0].id, found[0].cause.clone())
    };
    // On c: received from b, made there by e2.
    let at_c = only("c", "twohop", &[s("c"), s("a")]);
    assert_eq!(at_c.0, twohop);
    assert_eq!(
        at_c.1,
        Cause::Received {
            from: Some(Arc::from("b")),
            exec: Some(e2)
        }
    );
    // On b: e2 from the hop a sent and b's own edge, sent on to c.
    let e2_rule = plan.rules.iter().find(|r| r.name == "e2").unwrap().id;
    assert_eq!(
        only("b", "twohop", &[s("c"), s("a")]).1,
        Cause::Rule {
            rule: e2_rule,
            exec: e2,
            inputs: vec![hop, edge_bc],
            sent: true
        }
    );
    assert_eq!(
        only("b", "hop", &[s("b"), s("a")]).1,
        Cause::Received {
            from: Some(Arc::from("a")),
            exec: Some(e1)
        }
    );
    assert_eq!(only("b", "edge", &[s("b"), s("c")]), (edge_bc, Cause::Fact));
    // On a: e1 from a's edge, a fact.
    let e1_rule = plan.rules.iter().find(|r| r.name == "e1").unwrap().id;
    assert_eq!(
        only("a", "hop", &[s("b"), s("a")]).1,
        Cause::Rule {
            rule: e1_rule,
            exec: e1,
            inputs: vec![edge_ab],
            sent: true
        }
    );
    assert_eq!(only("a", "edge", &[s("a"), s("b")]), (edge_ab, Cause::Fact));
    // e1 also ran on b (edge b->c, a hop to c) and c got that hop; e2
    // found no edge on c: nothing else happened.
    assert_eq!(seen.0.len(), 8, "{:#?}", seen.0);

    // Untraced, nothing is recorded and no send carries a reference.
    plan.relations.iter_mut().for_each(|r| r.traced = false);
    let mut h = harness(plan, &["a", "b", "c"]);
    let mut none = Recorded::default();
    h.run_until(NANOS_PER_SECOND / 200, &mut none);
    assert!(h.in_flight().all(|m| m.derivation.is_none()));
    h.run_until(NANOS_PER_SECOND, &mut none);
    assert!(none.0.is_empty());
}

#[test]
fn aggregates_timers_and_injections_are_causes_too() {
    let mut plan = plan(
        r#"
        materialize(vote, infinity, infinity, keys(1, 2)).
        external(ballot).
        v1 vote(@N, V) :- ballot(@N, V).
        v2 tally(@N, count<V>) :- vote(@N, V), tick(@N).
        t1 tick(@N) :- periodic(@N, E, 1, 1).
        "#,
    );
    plan.trace_all();
    let mut h = harness(plan.clone(), &["n"]);
    for v in ["x", "y"] {
        h.node_mut(0)
            .inject("ballot", Tuple::from(vec![s("n"), s(v)]))
            .unwrap();
    }
    let mut seen = Recorded::default();
    h.run_until(2 * NANOS_PER_SECOND, &mut seen);
    let ballot = |v| tuple_id("ballot", &[s("n"), s(v)]);
    assert_eq!(
        seen.of(&plan, "n", "ballot", &[s("n"), s("x")])[0].cause,
        Cause::Injected
    );
    let periodic = &seen
        .0
        .iter()
        .find(|(_, d)| d.cause == Cause::Timer)
        .expect("a timer")
        .1;
    let tick = tuple_id("tick", &[s("n")]);
    let tally = seen.of(&plan, "n", "tally", &[s("n"), Value::Int(2)]);
    let Cause::Rule { inputs, .. } = &tally[0].cause else {
        panic!("{tally:?}");
    };
    // Every vote it counted, each with the tick that triggered the fold.
    let votes = [
        tuple_id("vote", &[s("n"), s("x")]),
        tuple_id("vote", &[s("n"), s("y")]),
    ];
    assert_eq!(inputs, &vec![votes[0], tick, votes[1], tick]);
    let Cause::Rule { inputs, .. } = &seen.of(&plan, "n", "vote", &[s("n"), s("y")])[0].cause
    else {
        panic!("a vote comes from a rule");
    };
    assert_eq!(inputs, &vec![ballot("y")]);
    let Cause::Rule { inputs, .. } = &seen.of(&plan, "n", "tick", &[s("n")])[0].cause else {
        panic!("tick comes from a rule");
    };
    assert_eq!(inputs, &vec![periodic.id]);
}

/// The walk of examples/provenance/why.olg, on the three nodes, asked by
/// a fourth that keeps the answers.
#[test]
fn the_why_walk_in_overlog_finds_the_whole_tree_across_nodes() {
    let why = include_str!("../../../examples/provenance/why.olg");
    let requester = r#"
        materialize(steps, infinity, infinity, keys(1, 2, 3, 4, 5)).
        materialize(firings, infinity, infinity, keys(1, 2, 3)).
        k1 steps(@R, N, T, How, Src) :- whyTuple(@R, Q, N, T, Tuple, How, Src, X, Time).
        k2 firings(@R, N, Rule) :- whyRule(@R, Q, N, X, Rule, Inputs, Time).
    "#;
    let plan = plan(&format!("{TWO_HOPS}trace(twohop).\n{why}{requester}"));
    // The walk itself is not traced: it is derived from provenance.
    assert!(!plan.relation(plan.lookup("whyTuple").unwrap()).traced);
    let mut h = harness(plan, &["a", "b", "c", "me"]);
    h.run_until(NANOS_PER_SECOND, &mut Quiet);
    let twohop = tuple_id("twohop", &[s("c"), s("a")]);
    let query = vec![s("c"), Value::Int(1), Value::Int(twohop as i64), s("me")];
    h.node_mut(2)
        .inject("whyQuery", Tuple::from(query))
        .unwrap();
    h.run_until(2 * NANOS_PER_SECOND, &mut Quiet);

    let rows = |table: &str| {
        let mut rows: Vec<String> = (h.node(3).table(table).expect("a table").iter())
            .map(|t| t.iter().map(Value::literal).collect::<Vec<_>>().join(", "))
            .collect();
        rows.sort();
        rows
    };
    let id = |rel: &str, fields: &[&str]| {
        let fields: Vec<Value> = fields.iter().map(|x| s(x)).collect();
        tuple_id(rel, &fields) as i64
    };
    let mut steps = vec![
        format!(r#""me", "c", {}, "recv", "b""#, id("twohop", &["c", "a"])),
        format!(r#""me", "b", {}, "recv", "a""#, id("hop", &["b", "a"])),
        format!(r#""me", "b", {}, "fact", "b""#, id("edge", &["b", "c"])),
        format!(r#""me", "a", {}, "fact", "a""#, id("edge", &["a", "b"])),
    ];
    steps.sort();
    assert_eq!(rows("steps"), steps);
    assert_eq!(
        rows("firings"),
        [r#""me", "a", "e1""#, r#""me", "b", "e2""#]
    );
}

#[test]
fn the_tables_stay_within_their_bounds_and_count_what_they_drop() {
    let mut plan = plan(
        r#"
        materialize(seen, infinity, infinity, keys(1, 2)).
        s1 seen(@N, E) :- periodic(@N, E, 1).
        c1 count(@N, C) :- seen(@N, C).
        "#,
    );
    plan.trace_all();
    plan.keep_provenance_tables(ProvenanceLimits {
        lifetime_nanos: None,
        max_rows: Some(10),
    });
    let mut h = harness(plan.clone(), &["n"]);
    h.run_until(100 * NANOS_PER_SECOND, &mut Quiet);
    let node = h.node(0);
    for name in ["ruleExec", "tupleTable"] {
        let rows = node.table(name).unwrap().len();
        assert_eq!(rows, 10, "{name}");
        let rel = plan.lookup(name).unwrap();
        let stats = &node.stats().relations[rel.0 as usize];
        // 100 timer firings, each with a derivation of `seen` and `count`.
        assert!(stats.evictions >= 190, "{name}: {stats:?}");
    }
}

#[test]
fn two_runs_of_the_same_seeds_record_the_same_provenance() {
    let program = r#"
        materialize(link, infinity, infinity, keys(1, 2)).
        link(@"a", "b"). link(@"b", "c"). link(@"c", "a").
        g1 gossip(@B, A, R) :- periodic(@A, E, 1, 5), link(@A, B), R := f_rand() % 10.
        g2 heard(@N, max<R>) :- gossip(@N, A, R).
    "#;
    let mut plan = plan(program);
    plan.trace_all();
    let runs: Vec<Vec<(String, Derivation)>> =
        (0..2).map(|_| run(&plan, &["a", "b", "c"], 10).0).collect();
    assert!(runs[0].len() > 40, "{}", runs[0].len());
    assert_eq!(runs[0], runs[1]);
}

#[test]
fn p2_semantics_records_the_same_tree() {
    let plan = plan(&format!("semantics(p2).\n{TWO_HOPS}trace(twohop).\n"));
    let seen = run(&plan, &["a", "b", "c"], 1);
    let hop = tuple_id("hop", &[s("b"), s("a")]);
    let edge_bc = tuple_id("edge", &[s("b"), s("c")]);
    let twohop = tuple_id("twohop", &[s("c"), s("a")]);
    let e2 = exec_id("e2", "b", twohop, &[hop, edge_bc]);
    let at_c = seen.of(&plan, "c", "twohop", &[s("c"), s("a")]);
    assert_eq!(
        at_c[0].cause,
        Cause::Received {
            from: Some(Arc::from("b")),
            exec: Some(e2)
        }
    );
    let at_b = seen.of(&plan, "b", "twohop", &[s("c"), s("a")]);
    assert!(
        matches!(&at_b[0].cause, Cause::Rule { inputs, sent: true, .. } if inputs == &vec![hop, edge_bc]),
        "{at_b:?}"
    );
}
