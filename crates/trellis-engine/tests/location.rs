//! A node keeps only tuples located at itself (issue #13 items 2 and 15):
//! a received or injected tuple whose location is another node is refused
//! and counted, whatever its relation; one located at another of the node's
//! names is taken as located at its address.

use std::sync::Arc;

use trellis_engine::{InputError, Node, NodeConfig, Output, Tuple};
use trellis_syntax::ParseOptions;
use trellis_value::Value;

const PROGRAM: &str = r#"
materialize(peer, infinity, 1, keys(1)).
peer("127.0.0.1:11000", "127.0.0.1:11001").
"#;

fn node() -> Node {
    let plan = Arc::new(
        trellis_plan::load_str("t.olg", PROGRAM, &ParseOptions::default())
            .expect("compiles")
            .plan,
    );
    let mut node = Node::new(plan, NodeConfig::new("127.0.0.1:11000", 1)).expect("a node");
    node.start(0);
    node
}

fn peer(location: &str, to: &str) -> Tuple {
    Tuple::from(vec![Value::str(location), Value::str(to)])
}

fn run(node: &mut Node) {
    let mut out = Output::default();
    while node.step(0, &mut out) {}
}

#[test]
fn a_tuple_for_another_node_is_refused_and_counted() {
    let mut node = node();
    run(&mut node);
    let before = node.table("peer").expect("a table");
    for location in ["10.9.9.9:1", "localhost:11000"] {
        let received = node.receive("peer", peer(location, "x"), false);
        assert_eq!(
            received,
            Err(InputError::NotHere {
                location: format!("\"{location}\""),
                address: "127.0.0.1:11000".into(),
            })
        );
    }
    let injected = node.inject("peer", peer("127.0.0.1:9999", "x"));
    assert!(matches!(injected, Err(InputError::NotHere { .. })));
    // Not a string, or no field at all where the location goes.
    let odd = Tuple::from(vec![Value::Int(7), Value::str("x")]);
    assert!(matches!(
        node.receive("peer", odd, false),
        Err(InputError::NotHere { .. })
    ));
    run(&mut node);
    assert_eq!(node.table("peer").expect("a table"), before);
    assert_eq!(node.stats().dropped_inputs, 4);
}

#[test]
fn a_tuple_at_another_name_of_the_node_is_located_at_its_address() {
    let mut node = node();
    node.answer_to("localhost:11000");
    assert_eq!(
        node.names().collect::<Vec<_>>(),
        ["127.0.0.1:11000", "localhost:11000"]
    );
    node.receive("peer", peer("localhost:11000", "127.0.0.1:11002"), false)
        .expect("taken");
    run(&mut node);
    // Stored at the node's address: it replaced the row of that key, as a
    // tuple naming the address would have.
    assert_eq!(
        node.table("peer").expect("a table"),
        [peer("127.0.0.1:11000", "127.0.0.1:11002")]
    );
    assert_eq!(node.stats().dropped_inputs, 0);
}
