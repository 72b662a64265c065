//! The harness itself: nodes on one virtual clock, sends between them in
//! flight for the harness's latency, lost when a test says so, and sends to
//! other addresses handed to the observer.

use std::sync::Arc;

use trellis_engine::harness::{Harness, Observer};
use trellis_engine::{NANOS_PER_SECOND, Node, NodeConfig, Outgoing, Output, Time};
use trellis_syntax::ParseOptions;

/// `a` pings `b` once at start; `b` answers; `a` also pings an address no
/// node has.
const PROGRAM: &str = r#"
ping("a", "b").
ping("a", "elsewhere").
p1 pong(@P, Me) :- ping(@Me, P).
watch(pong).
"#;

const MS: Time = NANOS_PER_SECOND / 1000;

#[derive(Default)]
struct Seen {
    /// (time, node) of every pong the nodes watched arrive.
    pongs: Vec<(Time, String)>,
    undeliverable: Vec<String>,
}

impl Observer for Seen {
    fn output(&mut self, node: &Node, out: &Output) {
        for r in &out.records {
            self.pongs.push((r.time, node.address().to_string()));
        }
    }

    fn undeliverable(&mut self, _node: &Node, send: Outgoing<'_>) {
        self.undeliverable.push(send.destination().to_string());
    }
}

fn harness(latency: Time) -> Harness {
    let plan = Arc::new(
        trellis_plan::load_str("t.olg", PROGRAM, &ParseOptions::default())
            .expect("compiles")
            .plan,
    );
    let mut h = Harness::new(0);
    h.latency = latency;
    for (i, address) in ["a", "b"].into_iter().enumerate() {
        let node = Node::new(plan.clone(), NodeConfig::new(address, i as u64)).expect("a node");
        h.add(node);
    }
    h
}

#[test]
fn sends_arrive_after_the_latency_on_the_virtual_clock() {
    let mut h = harness(10 * MS);
    let mut seen = Seen::default();
    h.run_until(5 * MS, &mut seen);
    // The pong from a to b is in flight until 10 ms.
    assert!(seen.pongs.iter().all(|(_, n)| n != "b"));
    assert_eq!(h.in_flight().count(), 1);
    assert_eq!(h.in_flight().next().map(|m| m.at), Some(10 * MS));
    h.run_until(NANOS_PER_SECOND, &mut seen);
    assert!(seen.pongs.contains(&(10 * MS, "b".to_string())));
    assert_eq!(seen.undeliverable, ["elsewhere"]);
    assert_eq!(h.now(), NANOS_PER_SECOND);
}

#[test]
fn a_lost_send_never_arrives() {
    let mut h = harness(10 * MS);
    let mut seen = Seen::default();
    h.run_until(0, &mut seen);
    let lost = h.lose(0).expect("one send in flight");
    assert_eq!(h.node(lost.to).address(), "b");
    h.run_until(NANOS_PER_SECOND, &mut seen);
    assert!(seen.pongs.iter().all(|(_, n)| n != "b"));
    assert_eq!(
        h.node(1)
            .stats()
            .relations
            .iter()
            .map(|r| r.receives)
            .sum::<u64>(),
        0
    );
}

#[test]
fn an_expired_row_leaves_a_table_dump_when_it_expires() {
    // A row with a 5 s lifetime and nothing else to do until 20 s: the node
    // wakes at 5 s, so a dump at 5.5 s no longer shows it.
    let program = "materialize(soft, 5, infinity, keys(1, 2)).\n\
                   soft(LOCALADDRESS, 1).\n\
                   r1 t(@N) :- periodic(@N, E, 20, 1).\n";
    let plan = Arc::new(
        trellis_plan::load_str("t.olg", program, &ParseOptions::default())
            .expect("compiles")
            .plan,
    );
    let mut h = Harness::new(0);
    let n = h.add(Node::new(plan, NodeConfig::new("a", 0)).expect("a node"));
    h.run_until(4 * NANOS_PER_SECOND, &mut Seen::default());
    assert_eq!(h.node(n).table("soft").expect("a table").len(), 1);
    assert_eq!(h.node(n).next_wakeup(), Some(5 * NANOS_PER_SECOND));
    h.run_until(
        5 * NANOS_PER_SECOND + NANOS_PER_SECOND / 2,
        &mut Seen::default(),
    );
    assert_eq!(h.node(n).table("soft").expect("a table"), []);
}
