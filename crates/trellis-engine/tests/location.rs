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

/// docs/security.md's guarded answer: a ping naming an address that is not
/// a member makes no pong (no reflection), and a member is answered in at
/// most one tick per second.
#[test]
fn the_security_guide_s_guarded_pong_reflects_nothing() {
    use trellis_engine::harness::{Harness, Observer};
    use trellis_engine::{NANOS_PER_SECOND, Outgoing, Time};

    /// Where pongs went (no node of the harness is there).
    #[derive(Default)]
    struct Pongs(Vec<String>);
    impl Observer for Pongs {
        fn undeliverable(&mut self, _node: &Node, send: Outgoing<'_>) {
            self.0.push(send.destination().to_string());
        }
    }

    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/security.md"),
    )
    .expect("the guide");
    let program: String = guide
        .split("```olg\n")
        .skip(2)
        .map(|b| b.split("```").next().expect("a block"))
        .collect();
    let plan = Arc::new(
        trellis_plan::load_str("security.md", &program, &ParseOptions::default())
            .expect("compiles")
            .plan,
    );
    let mut h = Harness::new(0);
    let n = h.add(Node::new(plan, NodeConfig::new("a:1", 1)).expect("a node"));
    let tuple = |fields: &[Value]| Tuple::from(fields.to_vec());
    let s = Value::str;
    h.node_mut(n)
        .inject("member", tuple(&[s("a:1"), s("b:1")]))
        .expect("taken");
    let ping = |h: &mut Harness, to: &str, t: i64| {
        h.node_mut(n)
            .receive("ping", tuple(&[s("a:1"), s(to), Value::Int(t)]), false)
            .expect("taken");
    };
    let mut pongs = Pongs::default();
    let mut answered: Vec<(Time, String)> = Vec::new();
    let ms = NANOS_PER_SECOND / 1000;
    for (at, to, t) in [
        (0, "victim:80", 1),
        (10, "b:1", 2),
        (20, "b:1", 3),
        (1_100, "b:1", 4),
    ] {
        h.run_until(at * ms, &mut pongs);
        ping(&mut h, to, t);
        h.run_until(at * ms + 1, &mut pongs);
        answered.extend(pongs.0.drain(..).map(|to| (at, to)));
    }
    // The victim got nothing; b one pong at 10 ms, none at 20 ms (answered
    // within the second), and one again after the second.
    assert_eq!(
        answered,
        [(10, "b:1".to_string()), (1_100, "b:1".to_string())]
    );
}
