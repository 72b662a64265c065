//! What other hosts may make a node hold (issue #13, items 10, 12, 13 and
//! 14), on 127.0.0.1 with short timeouts: every assertion is on the node's
//! counters, waited for with a generous deadline, never on how long
//! something took.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use trellis_net::{ClusterKey, NetError, NetLimits, Transport, Warning};
use trellis_value::Value;
use trellis_wire::{MAX_FRAME, MAX_MESSAGES, WireMessage};

use support::{Running, Watch, plan, run_limited, wait_until};

const PROGRAM: &str = "watchmod(ping, \"c\").\nt1 pong(@S, N) :- ping(@N, S).\n";

fn ping(node: &str, from: &str) -> WireMessage {
    WireMessage {
        relation: Arc::from("ping"),
        tuple: vec![Value::str(node), Value::str(from)].into(),
        delete: false,
        derivation: None,
    }
}

/// A frame as it travels over TCP: its length, then its bytes.
fn framed(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

fn inject(node: &str, key: Option<&ClusterKey>) -> Result<usize, NetError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(trellis_net::send_once(
        node,
        Transport::Tcp,
        key,
        "tester",
        &[ping(node, "127.0.0.1:1")],
    ))
}

fn tcp_node(addr: &str, limits: NetLimits, watch: &Watch) -> Running {
    run_limited(
        &plan(PROGRAM),
        addr,
        Transport::Tcp,
        limits,
        watch.clone(),
        vec![],
    )
}

/// Item 10: a frame of many empty messages (2 bytes each on the wire, over
/// 50 decoded) is refused as soon as it passes the limit, and the
/// connection goes on.
#[test]
fn a_frame_of_too_many_messages_is_refused_and_the_stream_goes_on() {
    let node = "127.0.0.1:25900";
    let w = Watch::default();
    let r = tcp_node(node, NetLimits::default(), &w);
    let empty = WireMessage {
        relation: Arc::from("ping"),
        tuple: Vec::new().into(),
        delete: false,
        derivation: None,
    };
    let flood = trellis_wire::encode("x", node, &vec![empty; MAX_MESSAGES + 1], None);
    let good = trellis_wire::encode("x", node, &[ping(node, "127.0.0.1:1")], None);
    let mut s = TcpStream::connect(node).unwrap();
    s.write_all(&framed(&flood)).unwrap();
    s.write_all(&framed(&good)).unwrap();
    wait_until("the good frame", || w.count("ping") == 1);
    let (net, _) = r.stop();
    assert_eq!(
        net.decode_errors.get("too_many_messages"),
        Some(&1),
        "{net:?}"
    );
    assert_eq!(net.frames_received, 1);
    assert!(
        net.refused_tuples.is_empty(),
        "nothing of the flood reached the node"
    );
}

/// Item 12: idle connections holding every slot do not lock a peer out
/// (the oldest that never sent a frame makes room), and idle ones are
/// closed after the timeout.
#[test]
fn idle_connections_make_room_and_time_out() {
    let node = "127.0.0.1:25901";
    let limits = NetLimits {
        inbound: 4,
        idle_timeout: Duration::from_millis(500),
        ..NetLimits::default()
    };
    let w = Watch::default();
    let r = tcp_node(node, limits, &w);
    let idle: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(node).unwrap()).collect();
    wait_until("four idle connections", || {
        r.counters.snapshot().inbound_connections == 4
    });
    inject(node, None).expect("taken, although every slot was held");
    assert_eq!(w.count("ping"), 1);
    wait_until("the other idle connections closed", || {
        r.counters.snapshot().inbound_idle_closed >= 3
    });
    drop(idle);
    let (net, _) = r.stop();
    assert_eq!(net.inbound_evicted, 1, "{net:?}");
    assert_eq!(net.inbound_refused, 0);
}

/// Item 12: `inject` over TCP fails when the node does not take its frame:
/// a wrong key, or no room (every slot held by a peer that authenticated).
#[test]
fn inject_fails_when_the_node_does_not_take_the_tuple() {
    let node = "127.0.0.1:25902";
    let limits = NetLimits {
        inbound: 1,
        ..NetLimits::default()
    };
    let w = Watch::default();
    let r = tcp_node(node, limits, &w);
    let key = ClusterKey::new(vec![7u8; 32]);
    let e = inject(node, Some(&key)).expect_err("the node has no key");
    assert!(matches!(e, NetError::NotTaken { .. }), "{e}");
    inject(node, None).expect("taken");
    wait_until("the injected ping", || w.count("ping") == 1);
    // A peer that sent a valid frame keeps the only slot.
    let mut peer = TcpStream::connect(node).unwrap();
    let good = trellis_wire::encode("peer", node, &[ping(node, "127.0.0.1:2")], None);
    peer.write_all(&framed(&good)).unwrap();
    wait_until("the peer's ping", || w.count("ping") == 2);
    let e = inject(node, None).expect_err("no room");
    assert!(
        matches!(e, NetError::NotTaken { .. } | NetError::Send { .. }),
        "{e}"
    );
    drop(peer);
    let (net, _) = r.stop();
    assert_eq!(net.decode_errors.get("unexpected_tag"), Some(&1));
    assert_eq!(net.inbound_refused, 1, "{net:?}");
    assert_eq!(w.count("ping"), 2);
}

/// Item 13: frames sent all but their last byte hold at most the reading
/// budget (the others wait for it, reading nothing), are dropped at the
/// frame timeout, and small frames go on meanwhile.
#[test]
fn half_sent_frames_wait_for_the_reading_budget_and_time_out() {
    let node = "127.0.0.1:25903";
    let limits = NetLimits {
        reading: MAX_FRAME,
        frame_timeout: Duration::from_secs(2),
        ..NetLimits::default()
    };
    let w = Watch::default();
    let r = tcp_node(node, limits, &w);
    let mut attackers = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(node).unwrap();
        s.write_all(&(MAX_FRAME as u32 - 1).to_be_bytes()).unwrap();
        s.write_all(&vec![0u8; 100 << 10]).unwrap();
        attackers.push(s);
    }
    wait_until("two frames waiting for the budget", || {
        r.counters.snapshot().reading_waits == 2
    });
    inject(node, None).expect("a small frame needs no share of the budget");
    wait_until("all three dropped at the frame timeout", || {
        r.counters.snapshot().decode_errors.get("frame_timeout") == Some(&3)
    });
    for mut s in attackers {
        // The node closed them.
        let mut b = [0u8; 1];
        assert!(matches!(s.read(&mut b), Ok(0) | Err(_)));
    }
    let (net, _) = r.stop();
    assert_eq!(w.count("ping"), 1);
    assert_eq!(net.frames_received, 1, "{net:?}");
}

/// Item 14: a node told of many destinations keeps at most `peers` of them
/// (the least recently used go), forgets idle ones, accounts for every
/// tuple, and shows a bounded number of warnings.
#[test]
fn the_peer_table_is_bounded_and_forgets_idle_peers() {
    let node = "127.0.0.1:25904";
    let limits = NetLimits {
        peers: 4,
        peer_idle: Duration::from_millis(300),
        warnings_per_minute: 3,
        ..NetLimits::default()
    };
    // Nothing listens on these ports: each connection is refused.
    let pings: Vec<_> = (0..40)
        .map(|i| {
            let from = format!("127.0.0.1:{}", 26000 + i);
            ("ping", vec![Value::str(node), Value::str(&from)].into())
        })
        .collect();
    let w = Watch::default();
    let r = run_limited(
        &plan(PROGRAM),
        node,
        Transport::Tcp,
        limits,
        w.clone(),
        pings,
    );
    wait_until("every pong written or counted lost", || {
        let n = r.counters.snapshot();
        n.tuples_sent + n.lost_tuples_total() == 40
    });
    wait_until("idle peers forgotten", || r.counters.snapshot().peers == 0);
    let (net, _) = r.stop();
    assert!(net.peers_evicted >= 4, "{net:?}");
    let warned = w.warnings.lock().unwrap().clone();
    let about: Vec<_> = warned
        .iter()
        .filter(|w| matches!(w, Warning::ConnectFailed { .. }))
        .collect();
    assert!(about.len() <= 3, "{warned:?}");
    assert!(
        warned
            .iter()
            .any(|w| matches!(w, Warning::Suppressed { per_minute: 3 })),
        "{warned:?}"
    );
    assert!(net.warnings_suppressed >= 1, "{net:?}");
}
