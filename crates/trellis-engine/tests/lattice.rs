//! Lattice columns at a node's edge: received and injected tuples merge
//! into the stored row like derived ones, in any order and any number of
//! times, and a tuple whose lattice field is not of its lattice is
//! refused and counted (docs/language.md, "Lattices").

use std::sync::Arc;

use trellis_engine::{InputError, Node, NodeConfig, Output, Tuple};
use trellis_syntax::ParseOptions;
use trellis_value::Value;

const ADDRESS: &str = "127.0.0.1:11000";

const PROGRAM: &str = r#"
materialize(votes, infinity, infinity, keys(1, 2)).
lattice(votes, 3, set).
materialize(size, infinity, infinity, keys(1, 2)).
lattice(size, 3, max).
external(votes).
s1 size(@N, K, f_size(S)) :- votes(@N, K, S).
"#;

fn node() -> Node {
    node_in("")
}

/// The program, with `extra` statements (a `semantics(...)`).
fn node_in(extra: &str) -> Node {
    let program = format!("{PROGRAM}{extra}");
    let plan = Arc::new(
        trellis_plan::load_str("t.olg", &program, &ParseOptions::default())
            .expect("compiles")
            .plan,
    );
    let mut node = Node::new(plan, NodeConfig::new(ADDRESS, 1)).expect("a node");
    node.start(0);
    node
}

fn run(node: &mut Node) {
    let mut out = Output::default();
    while node.step(0, &mut out) {}
}

fn votes(voters: &[&str]) -> Tuple {
    let set = Value::List(voters.iter().map(|v| Value::str(v)).collect());
    Tuple::from(vec![Value::str(ADDRESS), Value::str("k"), set])
}

fn stored(node: &Node) -> Vec<Tuple> {
    node.table("votes").expect("a table")
}

#[test]
fn received_sets_merge_in_any_order_and_repetition() {
    let orders: [&[&[&str]]; 3] = [
        &[&["b", "a"], &["c"], &["a"]],
        &[&["c"], &["a"], &["a"], &["b", "a"]],
        &[&["a"], &["c", "b"]],
    ];
    for order in orders {
        let mut node = node();
        for (i, voters) in order.iter().enumerate() {
            // Some in one batch, some in ticks of their own.
            node.receive("votes", votes(voters), false).expect("taken");
            if i % 2 == 1 {
                run(&mut node);
            }
        }
        run(&mut node);
        assert_eq!(stored(&node), vec![votes(&["a", "b", "c"])], "{order:?}");
    }
}

/// A rule triggered by a received row sees the row as merged, in both
/// semantics (in P2's, the row starts a pass of its own).
#[test]
fn rules_see_the_merged_row() {
    for semantics in ["", "semantics(p2)."] {
        let mut node = node_in(semantics);
        node.receive("votes", votes(&["b", "a"]), false)
            .expect("taken");
        run(&mut node);
        node.receive("votes", votes(&["c"]), false).expect("taken");
        run(&mut node);
        let size = Tuple::from(vec![Value::str(ADDRESS), Value::str("k"), Value::Int(3)]);
        assert_eq!(
            node.table("size").expect("a table"),
            vec![size],
            "{semantics:?}"
        );
    }
}

#[test]
fn a_value_not_of_the_lattice_is_refused_and_counted() {
    let mut node = node();
    let bad = Tuple::from(vec![Value::str(ADDRESS), Value::str("k"), Value::Int(3)]);
    match node.inject("votes", bad) {
        Err(InputError::Lattice {
            relation,
            position,
            error,
        }) => {
            assert_eq!((relation.as_str(), position), ("votes", 3));
            assert_eq!(
                error.to_string(),
                "a `set` value must be a list (its elements are the set), found 3"
            );
        }
        other => panic!("expected a lattice refusal, got {other:?}"),
    }
    assert_eq!(node.stats().dropped_inputs, 1);
    run(&mut node);
    assert!(stored(&node).is_empty());
}
