//! The driver with real sockets on 127.0.0.1, nodes in-process (each on
//! its own thread and runtime, as separate processes would be): batching
//! and splitting over UDP, TCP connections that break and come back, and
//! the invariant that every tuple a node sends is either written to the
//! network or counted as lost.

mod support;

use trellis_engine::{Stats, Tuple};
use trellis_net::{Transport, Warning};
use trellis_plan::Plan;
use trellis_value::Value;

use support::{Watch, plan, run_node, wait_until};

/// Tuples the engine sent to other nodes, for one relation.
fn sends(plan: &Plan, stats: &Stats, relation: &str) -> u64 {
    stats.relations[plan.lookup(relation).unwrap().0 as usize].sends
}

#[test]
fn udp_splits_a_large_batch_into_datagrams_and_delivers_it() {
    let p = plan("t1 data(@D, I, P) :- gen(@X, D, I, P).\nwatchmod(data, \"c\").\n");
    let (a, b) = ("127.0.0.1:25800", "127.0.0.1:25801");
    let wb = Watch::default();
    let rb = run_node(&p, b, Transport::Udp, wb.clone(), vec![]);
    let payload = Value::str(&"p".repeat(1000));
    let gens: Vec<(&'static str, Tuple)> = (0..120)
        .map(|i| {
            let t: Tuple =
                vec![Value::str(a), Value::str(b), Value::Int(i), payload.clone()].into();
            ("gen", t)
        })
        .collect();
    // All 120 gens are in the node's first tick: one batch, ~120 KB.
    let ra = run_node(&p, a, Transport::Udp, Watch::default(), gens);
    wait_until("120 tuples at b", || wb.count("data") == 120);
    let (na, sa) = ra.stop();
    let (nb, _) = rb.stop();
    assert_eq!(na.tuples_sent, 120);
    assert!(na.frames_sent >= 3, "{} frames", na.frames_sent);
    assert!(na.bytes_sent / na.frames_sent <= 60_000);
    assert_eq!(nb.tuples_received, 120);
    assert_eq!(nb.frames_received, na.frames_sent);
    assert_eq!(
        sends(&p, &sa, "data"),
        na.tuples_sent + na.lost_tuples_total()
    );
}

#[test]
fn tcp_reconnects_with_backoff_and_counts_what_it_lost() {
    let p = plan(
        "materialize(peer, infinity, 1, keys(1)).\n\
         watchmod(beat, \"c\").\n\
         b1 beat(@P, X, E) :- periodic(@X, E, 0.05), peer(@X, P).\n",
    );
    let (a, b) = ("127.0.0.1:25810", "127.0.0.1:25811");
    let peer: Tuple = vec![Value::str(a), Value::str(b)].into();
    let wa = Watch::default();
    // A starts alone: B is not there yet, so its beats are lost (counted).
    let ra = run_node(&p, a, Transport::Tcp, wa.clone(), vec![("peer", peer)]);
    wait_until("a failed connection", || {
        ra.counters.snapshot().connect_failures >= 2
    });
    let wb = Watch::default();
    let rb = run_node(&p, b, Transport::Tcp, wb.clone(), vec![]);
    wait_until("beats at b", || wb.count("beat") >= 5);
    // B goes away: A notices the closed connection.
    let _ = rb.stop();
    wait_until("a to notice", || {
        ra.counters.snapshot().connections_lost >= 1
    });
    let lost_before = ra.counters.snapshot().lost_tuples_total();
    wait_until("more losses while b is down", || {
        ra.counters.snapshot().lost_tuples_total() > lost_before
    });
    // B comes back on the same port: A reconnects by itself.
    let wb2 = Watch::default();
    let rb2 = run_node(&p, b, Transport::Tcp, wb2.clone(), vec![]);
    wait_until("beats at the new b", || wb2.count("beat") >= 5);
    let (na, sa) = ra.stop();
    let (nb2, _) = rb2.stop();
    assert!(na.connections_opened >= 2, "{na:?}");
    assert!(na.connect_failures >= 2, "{na:?}");
    assert!(na.lost["no_connection"].tuples >= 2, "{na:?}");
    assert!(nb2.tuples_received >= 5);
    // Never silently: every beat was written or counted lost.
    assert_eq!(
        sends(&p, &sa, "beat"),
        na.tuples_sent + na.lost_tuples_total(),
        "{na:?}"
    );
    let warned = wa.warnings.lock().unwrap().clone();
    assert!(
        warned
            .iter()
            .any(|w| matches!(w, Warning::ConnectFailed { .. })),
        "{warned:?}"
    );
    assert!(
        warned
            .iter()
            .any(|w| matches!(w, Warning::Reconnected { .. })),
        "{warned:?}"
    );
}

#[test]
fn an_unresolvable_destination_is_counted_not_fatal() {
    let p = plan("t1 data(@D, I) :- gen(@X, D, I).\n");
    let a = "127.0.0.1:25820";
    let gens = vec![
        (
            "gen",
            vec![Value::str(a), Value::str("127.0.0.1:99999"), Value::Int(1)].into(),
        ),
        (
            "gen",
            vec![Value::str(a), Value::str("not an address"), Value::Int(2)].into(),
        ),
    ];
    let w = Watch::default();
    let ra = run_node(&p, a, Transport::Udp, w.clone(), gens);
    wait_until("both losses", || {
        ra.counters
            .snapshot()
            .lost
            .get("unresolvable")
            .is_some_and(|l| l.tuples == 2)
    });
    let (na, sa) = ra.stop();
    assert_eq!(
        sends(&p, &sa, "data"),
        na.tuples_sent + na.lost_tuples_total()
    );
    assert_eq!(
        w.warnings
            .lock()
            .unwrap()
            .iter()
            .filter(|w| matches!(w, Warning::Unresolvable { .. }))
            .count(),
        2
    );
}

/// `channel(big, tcp).` in a UDP run: `big` travels over TCP (a connection
/// is opened; one tuple too large for a datagram arrives whole), `small`
/// over UDP, and both nodes listen on both at one port.
#[test]
fn a_relation_declared_on_tcp_travels_on_tcp_in_a_udp_run() {
    let p = plan(
        "channel(big, tcp).\n\
         watchmod(big, \"c\").\n\
         watchmod(small, \"c\").\n\
         t1 big(@D, P) :- go(@X, D, P).\n\
         t2 small(@D, 1) :- go(@X, D, P).\n",
    );
    let (a, b) = ("127.0.0.1:25830", "127.0.0.1:25831");
    let wb = Watch::default();
    let rb = run_node(&p, b, Transport::Udp, wb.clone(), vec![]);
    // Larger than any datagram: over UDP it would be refused as oversize.
    let payload = Value::str(&"p".repeat(100_000));
    let go: Tuple = vec![Value::str(a), Value::str(b), payload].into();
    let ra = run_node(&p, a, Transport::Udp, Watch::default(), vec![("go", go)]);
    wait_until("both tuples at b", || {
        wb.count("big") == 1 && wb.count("small") == 1
    });
    let (na, _) = ra.stop();
    let (nb, _) = rb.stop();
    assert_eq!(na.connections_opened, 1, "big went over a TCP connection");
    assert_eq!(nb.inbound_connections, 1);
    assert_eq!(na.frames_sent, 2, "one frame per transport");
    assert_eq!(na.tuples_sent, 2);
    assert!(na.lost.is_empty(), "{:?}", na.lost);
    assert!(na.bytes_sent > 100_000);
}
