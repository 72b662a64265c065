//! Hostile input at a node's UDP and TCP ports: random bytes, truncated
//! frames, bad checksums, wrong or missing cluster keys, unknown relations,
//! wrong arities, tuples for another node, replayed and misdirected
//! authenticated frames. The node keeps running (it still answers afterwards),
//! counts every one of them in its `--json` summary, and its tables are
//! unchanged.

mod support;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Proc, records};
use trellis_value::Value as V;
use trellis_wire::{ClusterKey, Signing, WireMessage};

const PROGRAM: &str = "\
materialize(item, infinity, infinity, keys(1, 2)).
item(LOCALADDRESS, 1, \"one\").
item(LOCALADDRESS, 2, \"two\").
watch(probed).
p1 probed(@X, N) :- probe(@X, N).
";

fn message(relation: &str, fields: Vec<V>) -> WireMessage {
    WireMessage {
        relation: Arc::from(relation),
        tuple: fields.into(),
        delete: false,
        derivation: None,
    }
}

/// A frame for `to`; with `key`, signed as the first frame of a stream
/// newer than any before, so that sending a probe again is no replay.
fn encode(sender: &str, to: &str, messages: &[WireMessage], key: Option<&ClusterKey>) -> Vec<u8> {
    static EPOCH: AtomicU64 = AtomicU64::new(1);
    let signing = key.map(|key| Signing {
        key: key.clone(),
        stream: 0,
        first_epoch: EPOCH.fetch_add(1, Ordering::Relaxed),
    });
    trellis_wire::encode(sender, to, messages, signing.as_ref())
}

fn probe(addr: &str, n: i64) -> WireMessage {
    message("probe", vec![V::str(addr), V::Int(n)])
}

/// Deterministic junk (xorshift), never starting with the magic.
fn junk(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    if let Some(b) = out.first_mut() {
        *b = 0xFF;
    }
    out
}

/// The bad frames, each with the decode-error kind it must be counted as.
fn bad_frames(addr: &str, node_key: Option<&ClusterKey>) -> Vec<(Vec<u8>, &'static str)> {
    let other = ClusterKey::new(b"not the cluster key".to_vec());
    let good = encode("attacker", addr, &[probe(addr, 666)], node_key);
    let mut frames = vec![
        (junk(3, 1), "too_short"),
        (junk(100, 2), "bad_magic"),
        (junk(2000, 3), "bad_magic"),
        (good[..good.len() / 2].to_vec(), "bad_checksum"), // truncated
        (good[..6].to_vec(), "too_short"),                 // truncated hard
    ];
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    frames.push((flipped, "bad_checksum"));
    let mut magic = good.clone();
    magic[0] = b'X';
    frames.push((magic, "bad_magic"));
    // A valid header and checksum around a body that is not a frame body.
    let mut malformed = good[..10].to_vec();
    malformed[5] = 0; // untagged
    malformed.extend_from_slice(&[0xFF; 12]);
    let crc = crc32c(&malformed[10..]);
    malformed[6..10].copy_from_slice(&crc.to_le_bytes());
    if node_key.is_none() {
        frames.push((malformed, "malformed"));
        frames.push((
            encode("attacker", addr, &[probe(addr, 667)], Some(&other)),
            "unexpected_tag",
        ));
    } else {
        frames.push((malformed, "missing_tag"));
        frames.push((
            encode("attacker", addr, &[probe(addr, 667)], Some(&other)),
            "bad_tag",
        ));
        frames.push((
            encode("attacker", addr, &[probe(addr, 668)], None),
            "missing_tag",
        ));
    }
    frames
}

/// Well-formed frames whose tuples the node must refuse (and count).
fn refused_frames(addr: &str, key: Option<&ClusterKey>) -> Vec<Vec<u8>> {
    vec![
        encode(
            "attacker",
            addr,
            &[message("nosuch", vec![V::str(addr)])],
            key,
        ),
        encode(
            "attacker",
            addr,
            &[message("probe", vec![V::str(addr), V::Int(1), V::Int(2)])],
            key,
        ),
        encode(
            "attacker",
            addr,
            &[message(
                "periodic",
                vec![V::str(addr), V::Int(1), V::Int(1), V::Int(0)],
            )],
            key,
        ),
        // A row for another node (issue #13 items 2, 15): never stored.
        encode(
            "attacker",
            addr,
            &[message(
                "item",
                vec![V::str("10.9.9.9:1"), V::Int(3), V::str("x")],
            )],
            key,
        ),
    ]
}

/// CRC32C (Castagnoli), bitwise: enough for building test frames.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn start(name: &str, addr: &str, transport: &str, key: Option<&str>) -> (Proc, String) {
    let dir =
        std::env::temp_dir().join(format!("trellis-faults-{}", addr.replace([':', '.'], "-")));
    std::fs::create_dir_all(&dir).unwrap();
    let prog = dir.join("faults.olg");
    std::fs::write(&prog, PROGRAM).unwrap();
    let prog = prog.display().to_string();
    let mut args = vec![
        "run",
        &prog,
        "--addr",
        addr,
        "--transport",
        transport,
        "--json",
        "--tables",
    ];
    if let Some(k) = key {
        args.extend_from_slice(&["--cluster-key", k]);
    }
    let mut p = Proc::spawn(name, &args);
    p.wait_listening();
    (p, prog)
}

/// Send a valid probe until the node answers (proves it is alive and, the
/// socket being FIFO, that everything sent before was processed).
fn probe_until_seen(
    node: &mut Proc,
    addr: &str,
    send: &mut dyn FnMut(&[u8]),
    key: Option<&ClusterKey>,
) {
    let start = Instant::now();
    loop {
        send(&encode("tester", addr, &[probe(addr, 7)], key));
        let seen = node
            .json()
            .iter()
            .any(|l| l["relation"] == "probed" && l["tuple"][1] == 7);
        if seen {
            return;
        }
        assert!(
            start.elapsed() < support::TIMEOUT,
            "node never answered:\n{}",
            node.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn expected_errors(frames: &[(Vec<u8>, &'static str)]) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    for (_, kind) in frames {
        let n = m.get(*kind).and_then(Value::as_u64).unwrap_or(0);
        m.insert(kind.to_string(), json!(n + 1));
    }
    m
}

fn check_summary(s: &Value, addr: &str, errors: &serde_json::Map<String, Value>) {
    assert_eq!(
        s["net"]["decode_errors"],
        Value::Object(errors.clone()),
        "{s}"
    );
    assert_eq!(
        s["net"]["refused_tuples"],
        json!({"unknown_relation": 1, "arity": 1, "periodic": 1, "not_here": 1}),
        "{s}"
    );
    assert_eq!(s["dropped_inputs"], 4, "{s}");
    assert_eq!(s["errors"], 0);
    // The tables hold the facts and nothing else.
    assert_eq!(
        s["tables"],
        json!({"item": [[addr, 1, "one"], [addr, 2, "two"]]}),
        "{s}"
    );
    assert!(
        s["relations"]["probed"]["events"].as_u64().unwrap() >= 1,
        "{s}"
    );
}

/// Only the tester's probes got through, none of the attacker's.
fn only_good_probes(node: &Proc, addr: &str) {
    let lines = node.json();
    let probed: Vec<&Value> = records(&lines, addr, "probed", &["event"]).collect();
    assert!(!probed.is_empty());
    assert!(probed.iter().all(|r| r["tuple"][1] == 7), "{probed:?}");
}

fn udp_faults(addr: &str, key_file: Option<&str>, key: Option<&ClusterKey>) {
    let (mut node, _prog) = start("udp-node", addr, "udp", key_file);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let bad = bad_frames(addr, key);
    for (bytes, _) in &bad {
        socket.send_to(bytes, addr).unwrap();
    }
    // An empty datagram too.
    socket.send_to(&[], addr).unwrap();
    for bytes in refused_frames(addr, key) {
        socket.send_to(&bytes, addr).unwrap();
    }
    probe_until_seen(
        &mut node,
        addr,
        &mut |b| {
            socket.send_to(b, addr).unwrap();
        },
        key,
    );
    let s = node.stop();
    let mut errors = expected_errors(&bad);
    let n = errors.get("too_short").and_then(Value::as_u64).unwrap_or(0);
    errors.insert("too_short".into(), json!(n + 1));
    check_summary(&s, addr, &errors);
    only_good_probes(&node, addr);
}

/// Write bytes on a fresh connection, then wait until the node closes it
/// (so it has processed everything).
fn tcp_session(addr: &str, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(support::TIMEOUT)).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

fn prefixed(frame: &[u8]) -> Vec<u8> {
    let mut out = (frame.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(frame);
    out
}

fn tcp_faults(addr: &str, key_file: Option<&str>, key: Option<&ClusterKey>) {
    let (mut node, _prog) = start("tcp-node", addr, "tcp", key_file);
    let bad = bad_frames(addr, key);
    // Bad frames, properly length-prefixed, on one connection: the stream
    // stays in step and each is counted.
    let mut stream = Vec::new();
    for (bytes, _) in &bad {
        stream.extend_from_slice(&prefixed(bytes));
    }
    for bytes in refused_frames(addr, key) {
        stream.extend_from_slice(&prefixed(&bytes));
    }
    tcp_session(addr, &stream);
    // Raw junk: its first bytes read as a length far over the limit.
    tcp_session(addr, &junk(5000, 9));
    // A frame cut off mid-way, and a length prefix cut off mid-way.
    let good = prefixed(&encode("attacker", addr, &[probe(addr, 669)], key));
    tcp_session(addr, &good[..good.len() - 3]);
    tcp_session(addr, &[0, 0]);
    // A connection that says nothing is fine.
    tcp_session(addr, &[]);
    let mut conn = TcpStream::connect(addr).unwrap();
    probe_until_seen(
        &mut node,
        addr,
        &mut |b| {
            conn.write_all(&prefixed(b)).unwrap();
        },
        key,
    );
    drop(conn);
    let s = node.stop();
    let mut errors = expected_errors(&bad);
    errors.insert("oversized".into(), json!(1));
    errors.insert("truncated".into(), json!(2));
    check_summary(&s, addr, &errors);
    only_good_probes(&node, addr);
    assert!(s["net"]["inbound_connections"].as_u64().unwrap() >= 6);
}

#[test]
fn garbage_at_the_udp_port() {
    udp_faults("127.0.0.1:25700", None, None);
}

#[test]
fn garbage_at_the_tcp_port() {
    tcp_faults("127.0.0.1:25710", None, None);
}

fn key_file(name: &str) -> (String, ClusterKey) {
    let path = std::env::temp_dir().join(format!("trellis-faults-{name}.key"));
    let secret = b"the cluster's secret, 32 bytes..";
    std::fs::write(&path, secret).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    (path.display().to_string(), ClusterKey::new(secret.to_vec()))
}

#[test]
fn garbage_and_wrong_keys_at_an_authenticated_udp_port() {
    let (file, key) = key_file("udp");
    udp_faults("127.0.0.1:25720", Some(&file), Some(&key));
}

#[test]
fn garbage_and_wrong_keys_at_an_authenticated_tcp_port() {
    let (file, key) = key_file("tcp");
    tcp_faults("127.0.0.1:25730", Some(&file), Some(&key));
}

/// Issue #13 item 11: a captured authenticated frame sent again is
/// refused (one ping replayed 100 times made 100 pongs), and so is a well
/// signed frame written for another node.
#[test]
fn a_replayed_or_misdirected_authenticated_frame_is_refused_and_counted() {
    let (file, key) = key_file("replay");
    let addr = "127.0.0.1:25740";
    let (mut node, _prog) = start("replay-node", addr, "udp", Some(&file));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let captured = encode("127.0.0.1:25741", addr, &[probe(addr, 5)], Some(&key));
    for _ in 0..100 {
        socket.send_to(&captured, addr).unwrap();
    }
    let elsewhere = encode(
        "127.0.0.1:25741",
        "127.0.0.1:25742",
        &[probe(addr, 6)],
        Some(&key),
    );
    socket.send_to(&elsewhere, addr).unwrap();
    probe_until_seen(
        &mut node,
        addr,
        &mut |b| {
            socket.send_to(b, addr).unwrap();
        },
        Some(&key),
    );
    let s = node.stop();
    assert_eq!(
        s["net"]["decode_errors"],
        json!({"replayed": 99, "misdirected": 1}),
        "{s}"
    );
    let lines = node.json();
    let probed: Vec<&Value> = records(&lines, addr, "probed", &["event"])
        .filter(|r| r["tuple"][1] != 7)
        .collect();
    assert_eq!(probed.len(), 1, "{probed:?}");
    assert_eq!(probed[0]["tuple"][1], 5);
}
