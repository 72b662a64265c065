//! Hostile-network benchmark: one Trellis node (its own process, TCP,
//! default limits) answers a legitimate peer's pings while attackers on
//! 127.0.0.1 try the four attacks of issue #13:
//!
//! - **amplification**: 40 connections each sending 4 MiB frames of empty
//!   messages (over 50 bytes each decoded, 2 on the wire), again and again;
//! - **idle**: 300 connections opened and left silent, reopened when closed;
//! - **half frames**: 255 connections each declaring a 4 MiB frame and
//!   sending all of it but the last byte, reopened when closed;
//! - **peer table**: pings that name ever new sender addresses
//!   (127.x.y.z:9, where nothing listens), so the node answers a new
//!   destination each time.
//!
//! ```text
//! cargo run --release -p trellis-net --example hostile [-- --quiet SECONDS --attack SECONDS]
//!     [--only amplification|idle|half|peers]
//! ```
//!
//! The pinger sends one ping at a time (the next when the pong arrives, or
//! after a 2 s timeout, a failure) for `--quiet` seconds with no attack and
//! then for `--attack` seconds under all four attacks at once; it prints
//! the round trips' median and 99th percentile and the share of pings
//! answered in each phase, the node's peak resident memory (VmHWM of its
//! process, so the attackers' memory is not counted) and its counters.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use trellis_engine::{Node, NodeConfig, Output, RecordKind, Tuple};
use trellis_net::{Driver, NetConfig, Observer, Transport, WallClock};
use trellis_plan::Plan;
use trellis_value::Value;
use trellis_wire::{MAX_FRAME, WireMessage};

const PROGRAM: &str = "
watchmod(pong, \"c\").
p1 ping(@N, X, K) :- start(@X, N, K).
p2 pong(@X, N, K) :- ping(@N, X, K).
";
const NODE: &str = "127.0.0.1:27100";
const PINGER: &str = "127.0.0.1:27101";
const PING_TIMEOUT: Duration = Duration::from_secs(2);

fn plan() -> Arc<Plan> {
    let options = trellis_syntax::ParseOptions::default();
    match trellis_plan::load_str("hostile", PROGRAM, &options) {
        Ok(l) => Arc::new(l.plan),
        Err(d) => panic!("{d:?}"),
    }
}

/// Runs a node until `stop` resolves; returns its counters.
async fn serve(
    addr: &str,
    observer: &mut impl Observer,
    stop: impl Future<Output = ()>,
    injector: impl FnOnce(trellis_net::Injector),
) -> trellis_net::NetStats {
    let plan = plan();
    let clock = WallClock::start();
    let config = NetConfig::new(addr, addr.parse().expect("address"), Transport::Tcp, None);
    let driver = Driver::bind(config, &plan, clock).await.expect("bind");
    let mut node = Node::new(plan, NodeConfig::new(addr.to_string(), 1)).expect("node");
    node.start(clock.now());
    injector(driver.injector());
    driver.run(&mut node, stop, observer).await
}

struct Quiet;

impl Observer for Quiet {
    fn output(&mut self, _: &Node, _: &Output) {}
}

/// The node's process: serve until stdin closes, then print the counters.
fn node_process() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let stats = rt.block_on(async {
        let stop = async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
            })
            .await;
        };
        serve(NODE, &mut Quiet, stop, |_| {}).await
    });
    println!("{}", stats.to_json());
}

/// The pinger's observer: the time each pong arrived, by its number.
struct Pongs(std::sync::mpsc::Sender<i64>);

impl Observer for Pongs {
    fn output(&mut self, node: &Node, out: &Output) {
        for r in &out.records {
            if r.kind == RecordKind::Recv
                && node.plan().relation(r.relation).name == "pong"
                && let Some(Value::Int(k)) = r.tuple.get(2)
            {
                let _ = self.0.send(*k);
            }
        }
    }
}

/// One ping at a time for `length`: round trips of those answered, and how
/// many were sent.
fn ping_phase(
    injector: &trellis_net::Injector,
    pongs: &std::sync::mpsc::Receiver<i64>,
    next: &mut i64,
    length: Duration,
) -> (Vec<Duration>, u64) {
    let end = Instant::now() + length;
    let mut rtts = Vec::new();
    let mut sent = 0;
    while Instant::now() < end {
        *next += 1;
        let k = *next;
        let start: Tuple = vec![Value::str(PINGER), Value::str(NODE), Value::Int(k)].into();
        let at = Instant::now();
        injector.inject("start", start);
        sent += 1;
        let deadline = at + PING_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match pongs.recv_timeout(left) {
                Ok(got) if got == k => {
                    rtts.push(at.elapsed());
                    break;
                }
                Ok(_) => continue, // a late pong of an earlier ping
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (rtts, sent)
}

fn framed(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// A 4 MiB frame of empty messages.
fn amplifying_frame() -> Vec<u8> {
    let empty = WireMessage {
        relation: Arc::from("ping"),
        tuple: Vec::new().into(),
        delete: false,
        derivation: None,
    };
    let mut n = MAX_FRAME / 2 - 64;
    loop {
        let f = trellis_wire::encode("attacker", NODE, &vec![empty.clone(); n], None);
        if f.len() <= MAX_FRAME {
            return framed(&f);
        }
        n -= 1024;
    }
}

/// A frame of pings from addresses never seen before (`127.x.y.z:9`).
fn peer_table_frame(first: u32, count: u32) -> Vec<u8> {
    let messages: Vec<WireMessage> = (first..first + count)
        .map(|i| {
            let from = format!(
                "127.{}.{}.{}:9",
                1 + (i >> 16) % 250,
                (i >> 8) & 255,
                i & 255
            );
            WireMessage {
                relation: Arc::from("ping"),
                tuple: vec![Value::str(NODE), Value::str(&from), Value::Int(0)].into(),
                delete: false,
                derivation: None,
            }
        })
        .collect();
    framed(&trellis_wire::encode("attacker", NODE, &messages, None))
}

/// The attacks, or the one named, until `stop`; returns bytes the
/// attackers wrote.
async fn attack(stop: Arc<AtomicBool>, only: Option<String>) -> u64 {
    let on = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let written = Arc::new(AtomicU64::new(0));
    let amplifying = Arc::new(amplifying_frame());
    let mut tasks = Vec::new();
    let running = move || !stop.load(Ordering::Relaxed);
    for _ in 0..if on("amplification") { 40 } else { 0 } {
        let (frame, written, running) = (amplifying.clone(), written.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            while running() {
                let Ok(mut s) = TcpStream::connect(NODE).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                while running() && s.write_all(&frame).await.is_ok() {
                    written.fetch_add(frame.len() as u64, Ordering::Relaxed);
                }
            }
        }));
    }
    for _ in 0..if on("idle") { 300 } else { 0 } {
        let running = running.clone();
        tasks.push(tokio::spawn(async move {
            while running() {
                let Ok(mut s) = TcpStream::connect(NODE).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                // Silent until the node closes it.
                let mut b = [0u8; 1];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut b).await;
            }
        }));
    }
    let half = Arc::new({
        let mut v = ((MAX_FRAME - 1) as u32).to_be_bytes().to_vec();
        v.resize(4 + MAX_FRAME - 2, 0);
        v
    });
    for _ in 0..if on("half") { 255 } else { 0 } {
        let (half, written, running) = (half.clone(), written.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            while running() {
                let Ok(mut s) = TcpStream::connect(NODE).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                if s.write_all(&half).await.is_ok() {
                    written.fetch_add(half.len() as u64, Ordering::Relaxed);
                }
                let mut b = [0u8; 1];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut b).await;
            }
        }));
    }
    if on("peers") {
        let (written, running) = (written.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            let mut next = 0u32;
            while running() {
                let Ok(mut s) = TcpStream::connect(NODE).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                while running() {
                    let frame = peer_table_frame(next, 1000);
                    next = next.wrapping_add(1000);
                    if s.write_all(&frame).await.is_err() {
                        break;
                    }
                    written.fetch_add(frame.len() as u64, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }));
    }
    while running() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for t in tasks {
        t.abort();
    }
    written.load(Ordering::Relaxed)
}

fn percentile(rtts: &mut [Duration], p: f64) -> f64 {
    if rtts.is_empty() {
        return f64::NAN;
    }
    rtts.sort();
    let i = ((rtts.len() - 1) as f64 * p).round() as usize;
    rtts[i].as_secs_f64() * 1e3
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("node") {
        node_process();
        return;
    }
    let quiet = Duration::from_secs(arg("--quiet", 10));
    let under_attack = Duration::from_secs(arg("--attack", 30));
    let only = {
        let args: Vec<String> = std::env::args().collect();
        args.iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1).cloned())
    };
    let mut node = Command::new(std::env::current_exe().expect("this program"))
        .arg("node")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node process");
    let node_pid = node.id();
    std::thread::sleep(Duration::from_millis(500));

    // The pinger: a node of its own, on its own thread.
    let (pong_tx, pongs) = std::sync::mpsc::channel();
    let (inj_tx, inj_rx) = std::sync::mpsc::channel();
    let (stop_pinger, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let pinger = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut observer = Pongs(pong_tx);
            let stop = async {
                let _ = stop_rx.await;
            };
            serve(PINGER, &mut observer, stop, |i| {
                inj_tx.send(i).expect("main")
            })
            .await
        })
    });
    let injector = inj_rx.recv().expect("pinger started");
    let mut next = 0;
    let (mut calm, calm_sent) = ping_phase(&injector, &pongs, &mut next, quiet);
    let hwm_calm = vm_hwm_kib(node_pid);

    let stop = Arc::new(AtomicBool::new(false));
    let attackers = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(attack(stop, only))
        })
    };
    std::thread::sleep(Duration::from_secs(2)); // the attacks get going
    let (mut hostile, hostile_sent) = ping_phase(&injector, &pongs, &mut next, under_attack);
    stop.store(true, Ordering::Relaxed);
    let attack_bytes = attackers.join().expect("attackers");
    let hwm = vm_hwm_kib(node_pid);

    let _ = stop_pinger.send(());
    let _ = pinger.join();
    if let Some(mut stdin) = node.stdin.take() {
        let _ = stdin.write_all(b"\n");
    }
    let out = node.wait_with_output().expect("node output");
    let stats = String::from_utf8_lossy(&out.stdout);

    let line = |name: &str, rtts: &mut Vec<Duration>, sent: u64| {
        println!(
            "{name:<14} pings {sent:>5}  answered {:>5.1}%  rtt p50 {:>8.3} ms  p99 {:>8.3} ms",
            100.0 * rtts.len() as f64 / sent.max(1) as f64,
            percentile(rtts, 0.5),
            percentile(rtts, 0.99)
        );
    };
    line("no attack", &mut calm, calm_sent);
    line("under attack", &mut hostile, hostile_sent);
    println!(
        "ratio (attack/none): p50 {:.2}x, answered {:.3}",
        percentile(&mut hostile, 0.5) / percentile(&mut calm, 0.5),
        (hostile.len() as f64 / hostile_sent.max(1) as f64)
            / (calm.len() as f64 / calm_sent.max(1) as f64)
    );
    let mib = |k: Option<u64>| k.map_or(f64::NAN, |k| k as f64 / 1024.0);
    println!(
        "node peak memory (VmHWM): {:.1} MiB before the attack, {:.1} MiB after it",
        mib(hwm_calm),
        mib(hwm)
    );
    println!(
        "attackers wrote {:.1} MiB; node counters: {}",
        attack_bytes as f64 / (1 << 20) as f64,
        stats.trim()
    );
}
