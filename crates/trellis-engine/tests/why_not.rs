//! Why-not (negative provenance): where each rule that could derive a
//! missing tuple stops, on the node whose tables it reads, and what is
//! missing below it.

use std::sync::Arc;

use trellis_engine::harness::{Harness, Quiet};
use trellis_engine::{Blocked, NANOS_PER_SECOND, Node, NodeConfig, WhyNot, why_not};
use trellis_syntax::ParseOptions;
use trellis_value::Value;

const PROGRAM: &str = r#"
materialize(member, infinity, infinity, keys(1, 2)).
materialize(banned, infinity, infinity, keys(1, 2)).
materialize(score, infinity, infinity, keys(1, 2)).
materialize(partner, infinity, infinity, keys(1, 2)).
materialize(peer, infinity, infinity, keys(1, 2)).
materialize(ok, infinity, infinity, keys(1, 2)).
materialize(big, infinity, infinity, keys(1, 2)).
materialize(pair, infinity, infinity, keys(1, 2, 3)).
materialize(got, infinity, infinity, keys(1, 2, 3)).
external(ev). external(partner).
member(@"a", "x").
banned(@"a", "x").
score(@"a", "x", 5).
peer(@"a", "b").
r1 ok(@N, X) :- member(@N, X), notin banned(@N, X).
r2 pair(@N, X, Y) :- member(@N, X), partner(@N, X, Y).
r3 big(@N, X, V) :- score(@N, X, V), V > 10.
r4 out(@N, X) :- ev(@N, X), member(@N, X).
s1 got(@B, A, X) :- peer(@A, B), member(@A, X).
"#;

fn s(x: &str) -> Value {
    Value::str(x)
}

fn started() -> Harness {
    let plan = Arc::new(
        trellis_plan::load_str("t.olg", PROGRAM, &ParseOptions::default())
            .unwrap_or_else(|d| panic!("{d:?}"))
            .plan,
    );
    let mut h = Harness::new(0);
    h.latency = NANOS_PER_SECOND / 100;
    for (i, a) in ["a", "b"].into_iter().enumerate() {
        h.add(Node::new(plan.clone(), NodeConfig::new(a, i as u64)).expect("a node"));
    }
    h
}

fn ask(h: &Harness, node: usize, relation: &str, pattern: &[Option<Value>]) -> WhyNot {
    let nodes: Vec<&Node> = (0..2).map(|i| h.node(i)).collect();
    let n = h.node(node);
    let rel = n.plan().lookup(relation).expect("a relation");
    why_not(&nodes, n, rel, pattern, 3)
}

fn only(w: &WhyNot) -> (&Blocked, Vec<(String, Value)>) {
    assert_eq!(w.rules.len(), 1, "{w:#?}");
    let a = &w.rules[0].absence;
    (&a.blocked, a.bindings.clone())
}

fn binding(name: &str, v: Value) -> (String, Value) {
    (name.to_string(), v)
}

#[test]
fn a_notin_that_found_a_row_blocks() {
    let mut h = started();
    h.run_until(NANOS_PER_SECOND, &mut Quiet);
    let w = ask(&h, 0, "ok", &[Some(s("a")), Some(s("x"))]);
    assert!(!w.exists);
    let (blocked, bindings) = only(&w);
    let banned = h.node(0).plan().lookup("banned").unwrap();
    assert_eq!(
        blocked,
        &Blocked::Negated {
            atom: 1,
            relation: banned,
            found: vec![s("a"), s("x")].into()
        }
    );
    assert_eq!(bindings, [binding("N", s("a")), binding("X", s("x"))]);
}

#[test]
fn a_missing_join_partner_blocks_and_is_asked_about_in_turn() {
    let mut h = started();
    h.run_until(NANOS_PER_SECOND, &mut Quiet);
    let w = ask(&h, 0, "pair", &[Some(s("a")), Some(s("x")), None]);
    let partner = h.node(0).plan().lookup("partner").unwrap();
    let (blocked, _) = only(&w);
    assert_eq!(
        blocked,
        &Blocked::NoMatch {
            atom: 1,
            relation: partner,
            pattern: vec![Some(s("a")), Some(s("x")), None]
        }
    );
    // Nothing derives `partner`: it only arrives.
    let below = w.rules[0].below.as_ref().expect("asked below");
    assert!(below.arrives_only && !below.exists && below.rules.is_empty());

    // With the partner there, the rule derives it (and next tick it is there).
    let partner_row = vec![s("a"), s("x"), s("y")];
    h.node_mut(0).inject("partner", partner_row.into()).unwrap();
    h.run_until(2 * NANOS_PER_SECOND, &mut Quiet);
    assert!(ask(&h, 0, "pair", &[Some(s("a")), None, None]).exists);
}

#[test]
fn a_false_condition_blocks_with_its_bindings() {
    let mut h = started();
    h.run_until(NANOS_PER_SECOND, &mut Quiet);
    let w = ask(&h, 0, "big", &[Some(s("a")), Some(s("x")), None]);
    let (blocked, bindings) = only(&w);
    assert_eq!(blocked, &Blocked::Condition("(V > 10)".into()));
    assert!(
        bindings.contains(&binding("V", Value::Int(5))),
        "{bindings:?}"
    );
}

#[test]
fn a_rule_triggered_by_an_event_waits_for_the_event() {
    let mut h = started();
    h.run_until(NANOS_PER_SECOND, &mut Quiet);
    let w = ask(&h, 0, "out", &[Some(s("a")), Some(s("x"))]);
    let ev = h.node(0).plan().lookup("ev").unwrap();
    assert_eq!(
        only(&w).0,
        &Blocked::NoMatch {
            atom: 0,
            relation: ev,
            pattern: vec![Some(s("a")), Some(s("x"))]
        }
    );
    assert!(w.rules[0].below.as_ref().unwrap().arrives_only);
}

#[test]
fn a_lost_message_is_a_rule_that_derives_it_on_the_sender() {
    let mut h = started();
    // `a` sends got(@b, a, x) at its first tick; lose it in flight.
    h.run_until(NANOS_PER_SECOND / 200, &mut Quiet);
    let k = h
        .in_flight()
        .position(|m| m.tuple[0] == s("b"))
        .expect("the send is in flight");
    h.lose(k);
    h.run_until(NANOS_PER_SECOND, &mut Quiet);
    let w = ask(&h, 1, "got", &[Some(s("b")), Some(s("a")), Some(s("x"))]);
    assert!(!w.exists);
    let (blocked, _) = only(&w);
    assert_eq!(blocked, &Blocked::Derives);
    assert_eq!(&*w.rules[0].absence.node, "a", "evaluated on the sender");
    // Where the tuple does not name the sender, every node is asked and
    // the one that came closest answers.
    let w = ask(&h, 1, "got", &[Some(s("b")), None, Some(s("x"))]);
    assert_eq!(only(&w).0, &Blocked::Derives);
    assert_eq!((&*w.rules[0].absence.node, w.rules[0].tied), ("a", 1));
}
