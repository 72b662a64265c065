//! The driver with real sockets on 127.0.0.1, nodes in-process (each on
//! its own thread and runtime, as separate processes would be): batching
//! and splitting over UDP, TCP connections that break and come back, and
//! the invariant that every tuple a node sends is either written to the
//! network or counted as lost.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use trellis_engine::{Stats, Tuple};
use trellis_net::{NetConfig, Resolve, Transport, Warning};
use trellis_plan::Plan;
use trellis_value::Value;

use support::{Watch, plan, run_configured, run_node, wait_until};

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
    // Counted under the transport each went on, and the summary says both.
    let (tcp, udp) = (na.by_transport["tcp"], na.by_transport["udp"]);
    assert_eq!((tcp.tuples_sent, udp.tuples_sent), (1, 1));
    assert!(tcp.bytes_sent > 100_000 && udp.bytes_sent < 1_000);
    let (tcp, udp) = (nb.by_transport["tcp"], nb.by_transport["udp"]);
    assert_eq!((tcp.tuples_received, udp.tuples_received), (1, 1));
    assert_eq!(tcp.bytes_received + udp.bytes_received, nb.bytes_received);
    assert!(
        na.to_text()
            .starts_with("  network (tcp and udp): sent 2 tuples")
    );
    assert_eq!(na.to_json()["by_transport"]["tcp"]["tuples_sent"], 1);
}

/// Answers for the names it knows at once, never for the others (a
/// resolver that hangs); counts the lookups.
struct Scripted {
    known: Vec<(&'static str, std::net::SocketAddr)>,
    asked: Arc<AtomicU64>,
}

impl Resolve for Scripted {
    fn lookup(
        &self,
        name: &str,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::io::Result<Vec<std::net::SocketAddr>>> + Send>>
    {
        self.asked.fetch_add(1, Ordering::Relaxed);
        match self.known.iter().find(|(n, _)| *n == name) {
            Some(&(_, addr)) => Box::pin(std::future::ready(Ok(vec![addr]))),
            None => Box::pin(std::future::pending()),
        }
    }
}

/// Node a pings two destinations by name every 20 ms: `fast.test`, which
/// resolves to node b (b answers to that name), and `slow.test`, whose
/// lookup never finishes.
const PINGER: &str = "\
materialize(dest, infinity, infinity, keys(1, 2)).
p1 ping(@D, A) :- periodic(@A, E, 0.02), dest(@A, D).
watch(ping).
";

fn pinger(b: &str, b_name: &'static str) -> (Arc<Plan>, Scripted, Arc<AtomicU64>) {
    let asked = Arc::new(AtomicU64::new(0));
    let resolver = Scripted {
        known: vec![(b_name, b.parse().unwrap())],
        asked: asked.clone(),
    };
    (plan(PINGER), resolver, asked)
}

fn dests(a: &str, names: &[&str]) -> Vec<(&'static str, Tuple)> {
    names
        .iter()
        .map(|n| ("dest", vec![Value::str(a), Value::str(n)].into()))
        .collect()
}

#[test]
fn a_hanging_lookup_delays_only_its_own_datagrams() {
    let (a, b) = ("127.0.0.1:25850", "127.0.0.1:25851");
    let (p, resolver, asked) = pinger(b, "fast.test:25851");
    let mut config_b = NetConfig::new(b, b.parse().unwrap(), Transport::Udp, None);
    config_b.also_known_as = vec!["fast.test:25851".into()];
    let wb = Watch::default();
    let rb = run_configured(&p, config_b, None, wb.clone(), vec![]);
    let mut config_a = NetConfig::new(a, a.parse().unwrap(), Transport::Udp, None);
    config_a.resolve.queue = 3;
    config_a.resolve.timeout = Duration::from_secs(3600);
    let ra = run_configured(
        &p,
        config_a,
        Some(Arc::new(resolver)),
        Watch::default(),
        dests(a, &["slow.test:1", "fast.test:25851"]),
    );
    // b hears a's pings, by the name it answers to, while the lookup of
    // slow.test is still pending: a's loop never waited for it.
    wait_until("b hears 20 pings and slow.test's queue fills", || {
        wb.count("ping") >= 20
            && ra
                .counters
                .snapshot()
                .lost
                .get("resolve_queue_full")
                .is_some_and(|l| l.tuples >= 1)
    });
    let (na, sa) = ra.stop();
    let (_, sb) = rb.stop();
    // Each name was looked up once: answers are cached, and a pending
    // lookup is not started again.
    assert_eq!(asked.load(Ordering::Relaxed), 2);
    // Every ping was sent or counted lost; the three still waiting for
    // slow.test when the node stopped are lost at shutdown.
    assert_eq!(
        sends(&p, &sa, "ping"),
        na.tuples_sent + na.lost_tuples_total()
    );
    assert_eq!(na.lost["shutdown"].tuples, 3, "{na:?}");
    assert!(!na.lost.contains_key("unresolvable"), "{na:?}");
    assert_eq!(sb.dropped_inputs, 0);
}

#[test]
fn a_lookup_that_times_out_loses_its_datagrams_counted() {
    let (a, b) = ("127.0.0.1:25852", "127.0.0.1:25853");
    let (p, resolver, _) = pinger(b, "fast.test:25853");
    let mut config_a = NetConfig::new(a, a.parse().unwrap(), Transport::Udp, None);
    config_a.resolve.queue = 2;
    config_a.resolve.timeout = Duration::from_millis(100);
    let wa = Watch::default();
    let ra = run_configured(
        &p,
        config_a,
        Some(Arc::new(resolver)),
        wa.clone(),
        dests(a, &["slow.test:1"]),
    );
    wait_until("the two waiting pings are lost as unresolvable", || {
        ra.counters
            .snapshot()
            .lost
            .get("unresolvable")
            .is_some_and(|l| l.tuples >= 2)
    });
    let (na, sa) = ra.stop();
    assert_eq!(
        sends(&p, &sa, "ping"),
        na.tuples_sent + na.lost_tuples_total()
    );
    let warnings = wa.warnings.lock().unwrap();
    assert!(
        warnings.iter().any(|w| matches!(
            w,
            Warning::Unresolvable { destination, reason }
                if &**destination == "slow.test:1" && reason.contains("no answer within")
        )),
        "{warnings:?}"
    );
}

#[test]
fn localhost_resolves_through_the_system_resolver() {
    let (a, b) = ("127.0.0.1:25854", "127.0.0.1:25855");
    let p = plan(PINGER);
    let mut config_b = NetConfig::new(b, b.parse().unwrap(), Transport::Udp, None);
    config_b.also_known_as = vec!["localhost:25855".into()];
    let wb = Watch::default();
    let rb = run_configured(&p, config_b, None, wb.clone(), vec![]);
    let ra = run_node(
        &p,
        a,
        Transport::Udp,
        Watch::default(),
        dests(a, &["localhost:25855"]),
    );
    wait_until("b hears a ping sent to localhost", || wb.count("ping") >= 1);
    ra.stop();
    let (_, sb) = rb.stop();
    assert_eq!(sb.dropped_inputs, 0);
}

/// With a cluster key, a node pinged under two of its names takes both
/// streams (each name is a stream of its own, numbered by the sender), and
/// nothing is refused as stale or replayed.
#[test]
fn authenticated_streams_to_two_names_of_a_node_are_both_taken() {
    let (a, b) = ("127.0.0.1:25856", "127.0.0.1:25857");
    let (p, resolver, _) = pinger(b, "b.test:25857");
    let key = trellis_net::ClusterKey::new(b"a cluster key of 32 bytes, ok...".to_vec());
    let mut config_b = NetConfig::new(b, b.parse().unwrap(), Transport::Udp, Some(key.clone()));
    config_b.also_known_as = vec!["b.test:25857".into()];
    let wb = Watch::default();
    let rb = run_configured(&p, config_b, None, wb.clone(), vec![]);
    let config_a = NetConfig::new(a, a.parse().unwrap(), Transport::Udp, Some(key));
    let ra = run_configured(
        &p,
        config_a,
        Some(Arc::new(resolver)),
        Watch::default(),
        dests(a, &[b, "b.test:25857"]),
    );
    wait_until("b hears 40 pings", || wb.count("ping") >= 40);
    ra.stop();
    let (nb, sb) = rb.stop();
    assert!(nb.decode_errors.is_empty(), "{nb:?}");
    assert_eq!(sb.dropped_inputs, 0);
}
