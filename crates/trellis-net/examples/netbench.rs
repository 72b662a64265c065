//! Network benchmark: two Trellis nodes on loopback against plain tokio
//! programs that send the same bytes without Trellis, in the same run.
//!
//! ```text
//! cargo run --release -p trellis-net --example netbench [-- --quick] [--runs N] [--payload BYTES]
//! ```
//!
//! - **Throughput**, one way, for payloads of 16, 64 and 256 bytes (or
//!   `--payload`): the sender's node derives a batch of 1,024 `data` tuples
//!   from each `gen` tuple it is handed and sends them (a frame per
//!   destination per tick, cut at the transport's limit); the receiver's
//!   node takes each into a tick. Three plain tokio programs send the same
//!   bytes: the issue's baseline, a plain sender that sends each tuple's
//!   frame as it comes (encoded up front, one datagram or `write` each);
//!   a hand-written batching program that builds, encodes and decodes the
//!   same tuples with the same codec; and the transport's ceiling, the very
//!   frames Trellis sends, encoded up front, with a receiver that only
//!   counts them. All keep the same window of tuples in flight, over
//!   sockets with the same kernel buffers.
//! - **Latency**, ping-pong: a rule answers each ping with a pong and the
//!   pinger's rule sends the next ping on the pong; the baseline echoes the
//!   same frame. Round trips are timed at the pinger.
//!
//! Each node runs on its own thread with its own tokio runtime, as two
//! processes would. For round trips, a program's two endpoints (Trellis's
//! nodes, or the client and the echo server) are pinned to vCPUs 0 and 1,
//! as on two hosts, and then both to vCPU 0, where no hop waits for the
//! other vCPU to wake (on a VM, a wake-up across vCPUs costs tens of
//! microseconds, more than a hop's own work). Throughput runs are not
//! pinned: the scheduler places the endpoints and the harness's threads.
//!
//! `NETBENCH_PROFILE=throughput` or `=latency` runs Trellis alone, for
//! `perf record`; `NETBENCH_PROFILE=stages` times the throughput run's
//! stages (the sender's tick, encoding, decoding, the receiver's tick) in
//! one thread without sockets, in nanoseconds per tuple.
//! `NETBENCH_PROFILE=provenance` runs Trellis's throughput with provenance
//! off and on for every relation, alternating, and reports the ratio.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use trellis_engine::{Node, NodeConfig, Output, RecordKind, Tuple};
use trellis_net::{Driver, Injector, NetConfig, NetStats, Observer, Transport, WallClock};
use trellis_plan::Plan;
use trellis_value::Value;
use trellis_wire::{Encoder, WireMessage};

/// `t1` derives one batch of `data` tuples from each `gen` event, joining
/// it with the `seq` table (one row per tuple of a batch, given as facts).
const PROGRAM: &str = "
materialize(seq, infinity, infinity, keys(1, 2)).
watchmod(data, \"c\").
watchmod(pong, \"c\").
t1 data(@D, B + I, P) :- gen(@X, D, B, P), seq(@X, I).
l1 ping(@P, X, K) :- start(@X, P, K).
l2 pong(@X, P, K) :- ping(@P, X, K).
l3 ping(@P, X, K1) :- pong(@X, P, K), K > 0, K1 := K - 1.
";

/// Payload sizes measured, in bytes: a small field, a typical P2 message
/// (Chord's `lookup` carries two addresses and two IDs, about 70 bytes),
/// a large one.
const PAYLOADS: [usize; 3] = [16, 64, 256];

struct Settings {
    tuples: u64,
    batch: u64,
    window: u64,
    rounds: usize,
    warmup: usize,
}

/// The string every `data` tuple carries, `len` bytes.
fn payload(len: usize) -> Value {
    let text: String = (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    Value::str(&text)
}

/// The program, with `batch` rows of `seq`; `traced`, with provenance on
/// for every relation.
fn plan(batch: u64, traced: bool) -> Arc<Plan> {
    let options = trellis_syntax::ParseOptions::default();
    let mut program = PROGRAM.to_string();
    for i in 0..batch {
        program.push_str(&format!("seq(LOCALADDRESS, {i}).\n"));
    }
    match trellis_plan::load_str("netbench", &program, &options) {
        Ok(mut l) => {
            if traced {
                l.plan.trace_all();
            }
            Arc::new(l.plan)
        }
        Err(d) => panic!("{d:?}"),
    }
}

/// Where a program's two endpoints run.
#[derive(Clone, Copy, PartialEq)]
enum Placement {
    /// On vCPUs 0 and 1, as on two hosts: every hop wakes the other vCPU.
    Apart,
    /// Both on vCPU 0: no hop waits for another vCPU to wake, so what each
    /// hop costs shows most.
    Together,
}

/// Round trips are measured in both placements.
const PLACEMENTS: [Placement; 2] = [Placement::Apart, Placement::Together];

impl Placement {
    /// The vCPUs of the first endpoint (sender, pinger) and the second.
    fn cpus(self) -> [usize; 2] {
        match self {
            Placement::Apart => [0, 1],
            Placement::Together => [0, 0],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Placement::Apart => "apart",
            Placement::Together => "together",
        }
    }
}

/// Run the calling thread on `cpu` only. Where the OS refuses (a machine
/// with one vCPU), say so and run unpinned.
fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    let pinned = set
        .set(cpu)
        .and_then(|()| sched_setaffinity(Pid::from_raw(0), &set));
    if let Err(e) = pinned {
        eprintln!("netbench: cannot pin a thread to vCPU {cpu} ({e}); it runs unpinned");
    }
}

/// Counts received `data` tuples; times `pong` arrivals.
#[derive(Default)]
struct Shared {
    received: Arc<AtomicU64>,
    /// When each pong arrived, kept by the node's own thread: the harness
    /// neither locks nor polls anything while round trips are timed.
    pongs: Vec<Instant>,
    /// Told once this many pongs have arrived.
    all_pongs: Option<(usize, std::sync::mpsc::Sender<()>)>,
}

impl Observer for Shared {
    fn output(&mut self, node: &Node, out: &Output) {
        let data = node.plan().lookup("data");
        let pong = node.plan().lookup("pong");
        let mut n = 0;
        for r in &out.records {
            if r.kind != RecordKind::Recv {
                continue;
            }
            if Some(r.relation) == data {
                n += 1;
            } else if Some(r.relation) == pong {
                self.pongs.push(Instant::now());
                if let Some((want, done)) = &self.all_pongs
                    && self.pongs.len() == *want
                {
                    let _ = done.send(());
                }
            }
        }
        if n > 0 {
            self.received.fetch_add(n, Ordering::Relaxed);
        }
    }
}

struct NodeHandle {
    injector: Injector,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<(NetStats, Shared)>,
}

fn start_node(
    plan: &Arc<Plan>,
    addr: &str,
    transport: Transport,
    shared: Shared,
    cpu: Option<usize>,
) -> NodeHandle {
    let plan = plan.clone();
    let addr = addr.to_string();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread_name = format!("node-{addr}");
    let thread = std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || {
            if let Some(cpu) = cpu {
                pin(cpu);
            }
            // As `trellis run` builds it.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let clock = WallClock::start();
                let bind: SocketAddr = addr.parse().expect("address");
                let config = NetConfig::new(addr.clone(), bind, transport, None);
                let driver = Driver::bind(config, &plan, clock).await.expect("bind");
                let mut node = Node::new(plan, NodeConfig::new(addr, 1)).expect("node");
                node.start(clock.now());
                ready_tx.send(driver.injector()).expect("ready");
                let mut observer = shared;
                let stats = driver
                    .run(
                        &mut node,
                        async {
                            let _ = stop_rx.await;
                        },
                        &mut observer,
                    )
                    .await;
                (stats, observer)
            })
        })
        .expect("thread");
    let injector = ready_rx.recv().expect("node started");
    NodeHandle {
        injector,
        stop: stop_tx,
        thread,
    }
}

impl NodeHandle {
    fn stop(self) -> (NetStats, Shared) {
        let _ = self.stop.send(());
        self.thread.join().expect("node thread")
    }
}

/// Wait until `counter` reaches `target`, or makes no progress for
/// `stall`; returns the count reached.
fn wait_progress(counter: &AtomicU64, target: u64, stall: Duration) -> u64 {
    let mut last = counter.load(Ordering::Relaxed);
    let mut since = Instant::now();
    loop {
        let now = counter.load(Ordering::Relaxed);
        if now >= target {
            return now;
        }
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() > stall {
            return now;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

struct Throughput {
    sent: u64,
    received: u64,
    seconds: f64,
}

impl Throughput {
    fn rate(&self) -> f64 {
        self.received as f64 / self.seconds
    }
}

/// Keep at most `window` tuples in flight: send a batch whenever the
/// receiver has caught up enough; write off what a stall shows was lost
/// (UDP may lose).
fn windowed(s: &Settings, received: &AtomicU64, mut send_batch: impl FnMut(u64)) -> Throughput {
    let start = Instant::now();
    let mut sent = 0u64;
    let mut lost = 0u64;
    while sent < s.tuples {
        if sent + s.batch > s.window {
            let target = (sent + s.batch - s.window).saturating_sub(lost);
            let got = wait_progress(received, target, Duration::from_millis(50));
            if got < target {
                lost += sent.saturating_sub(got + lost);
            }
        }
        send_batch(sent);
        sent += s.batch;
    }
    wait_progress(
        received,
        sent.saturating_sub(lost),
        Duration::from_millis(200),
    );
    Throughput {
        sent,
        received: received.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// The two endpoints' addresses on loopback.
fn loopback(ports: (u16, u16)) -> (String, String) {
    (
        format!("127.0.0.1:{}", ports.0),
        format!("127.0.0.1:{}", ports.1),
    )
}

fn trellis_throughput(
    s: &Settings,
    transport: Transport,
    ports: (u16, u16),
    payload_len: usize,
    traced: bool,
) -> (Throughput, NetStats) {
    let plan = plan(s.batch, traced);
    let (a, b) = loopback(ports);
    let rx_shared = Shared::default();
    let received = rx_shared.received.clone();
    let receiver = start_node(&plan, &b, transport, rx_shared, None);
    let sender = start_node(&plan, &a, transport, Shared::default(), None);
    let dest = Value::str(&b);
    let me = Value::str(&a);
    let payload = payload(payload_len);
    let result = windowed(s, &received, |from| {
        let tuple: Tuple = vec![
            me.clone(),
            dest.clone(),
            Value::Int(from as i64),
            payload.clone(),
        ]
        .into();
        sender.injector.inject("gen", tuple);
    });
    let (stats, _) = sender.stop();
    receiver.stop();
    (result, stats)
}

/// The frames for the `count` tuples from `first` on, cut by Trellis's
/// encoder at the transport's frame limit, as the sender's driver cuts
/// them (`one_each`: a frame per tuple). Each with its tuple count.
#[allow(clippy::too_many_arguments)]
fn frames(
    first: u64,
    count: u64,
    one_each: bool,
    from: &str,
    to: &Value,
    payload: &Value,
    transport: Transport,
) -> Vec<(Vec<u8>, u64)> {
    let mut encoder = Encoder::new(from, None, transport.frame_limit());
    let relation: Arc<str> = Arc::from("data");
    let mut done = Vec::new();
    for i in first..first + count {
        // Built as a program that sends tuples builds them.
        let tuple: Tuple = vec![to.clone(), Value::Int(i as i64), payload.clone()].into();
        encoder
            .push(&relation, &tuple, false, &mut done)
            .expect("a tuple fits a frame");
        if one_each {
            encoder.finish(&mut done);
        }
    }
    encoder.finish(&mut done);
    done.into_iter()
        .map(|f| (f.bytes, f.messages as u64))
        .collect()
}

/// A UDP socket with the kernel buffers Trellis asks for.
fn udp_socket(addr: &str) -> UdpSocket {
    let addr: SocketAddr = addr.parse().expect("address");
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .expect("socket");
    let _ = socket.set_recv_buffer_size(4 << 20);
    let _ = socket.set_send_buffer_size(4 << 20);
    socket.set_nonblocking(true).expect("nonblocking");
    socket.bind(&addr.into()).expect("bind");
    UdpSocket::from_std(socket.into()).expect("tokio socket")
}

/// What the baseline does per frame besides moving its bytes.
#[derive(Clone, Copy, PartialEq)]
enum Work {
    /// Nothing: the frame is encoded once, up front, and the receiver only
    /// counts frames (the transport's ceiling for these bytes).
    None,
    /// What a hand-written program that sends these tuples must do: build
    /// each batch's tuples, encode them with the same codec, and decode
    /// every frame it receives back into tuples.
    Codec,
}

/// `one_each`: a frame per tuple (a plain program that sends each tuple as
/// it comes), else the frames Trellis sends.
fn baseline_throughput(
    s: &Settings,
    transport: Transport,
    ports: (u16, u16),
    one_each: bool,
    work: Work,
    payload_len: usize,
) -> Throughput {
    let (a, b) = loopback(ports);
    let payload = payload(payload_len);
    let to = Value::str(&b);
    let batch = s.batch;
    // Every batch in the same frames: only the integers differ from one
    // batch to the next, so the codec's work is the same.
    let fixed = frames(0, batch, one_each, &a, &to, &payload, transport);
    let fresh = {
        let a = a.clone();
        move |first: u64| frames(first, batch, one_each, &a, &to, &payload, transport)
    };
    // Tuples credited for one received frame: counted by decoding it, or,
    // with no work, looked up by its length among the fixed frames.
    let mut counts = std::collections::HashMap::new();
    for (bytes, n) in &fixed {
        let known = *counts.entry(bytes.len()).or_insert(*n);
        assert_eq!(
            known, *n,
            "two fixed frames of one length hold different counts"
        );
    }
    let s_batch = batch;
    let credit = move |bytes: &[u8]| -> u64 {
        match work {
            Work::None => counts.get(&bytes.len()).copied().unwrap_or(0),
            Work::Codec => trellis_wire::decode(bytes, None).map_or(0, |f| f.messages.len() as u64),
        }
    };
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // Receiver thread: count frames, credit `batch` tuples per frame.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let rx = {
        let received = received.clone();
        let stop = stop.clone();
        let b = b.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                match transport {
                    Transport::Udp => {
                        let sock = udp_socket(&b);
                        ready_tx.send(()).unwrap();
                        let mut buf = vec![0u8; 65_536];
                        while !stop.load(Ordering::Relaxed) {
                            if let Ok(Ok((n, _))) = tokio::time::timeout(
                                Duration::from_millis(50),
                                sock.recv_from(&mut buf),
                            )
                            .await
                            {
                                received.fetch_add(credit(&buf[..n]), Ordering::Relaxed);
                            }
                        }
                    }
                    Transport::Tcp => {
                        let listener = TcpListener::bind(&b).await.unwrap();
                        ready_tx.send(()).unwrap();
                        let (stream, _) = listener.accept().await.unwrap();
                        let mut r = tokio::io::BufReader::with_capacity(64 * 1024, stream);
                        let mut len = [0u8; 4];
                        let mut buf = Vec::new();
                        while r.read_exact(&mut len).await.is_ok() {
                            buf.resize(u32::from_be_bytes(len) as usize, 0);
                            if r.read_exact(&mut buf).await.is_err() {
                                break;
                            }
                            received.fetch_add(credit(&buf), Ordering::Relaxed);
                        }
                    }
                }
            });
        })
    };
    ready_rx.recv().unwrap();
    // Sender thread: sends a frame whenever told to.
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let tx = {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (go_atx, mut go_arx) = tokio::sync::mpsc::unbounded_channel();
                std::thread::spawn(move || {
                    while go_rx.recv().is_ok() {
                        if go_atx.send(()).is_err() {
                            break;
                        }
                    }
                });
                match transport {
                    Transport::Udp => {
                        let sock = udp_socket(&a);
                        let to: SocketAddr = b.parse().unwrap();
                        let mut first = 0;
                        while go_arx.recv().await.is_some() {
                            let sent = if work == Work::Codec {
                                fresh(first)
                            } else {
                                Vec::new()
                            };
                            let batch = if work == Work::Codec { &sent } else { &fixed };
                            for (bytes, _) in batch {
                                let _ = sock.send_to(bytes, to).await;
                            }
                            first += s_batch;
                        }
                    }
                    Transport::Tcp => {
                        let mut stream = TcpStream::connect(&b).await.unwrap();
                        stream.set_nodelay(true).unwrap();
                        // One write per frame, as a program that sends each
                        // frame as it comes would.
                        let prefixed = |frame: &[u8]| {
                            let mut framed = (frame.len() as u32).to_be_bytes().to_vec();
                            framed.extend_from_slice(frame);
                            framed
                        };
                        let framed: Vec<Vec<u8>> = fixed.iter().map(|(f, _)| prefixed(f)).collect();
                        let mut first = 0;
                        while go_arx.recv().await.is_some() {
                            if work == Work::Codec {
                                for (bytes, _) in fresh(first) {
                                    stream.write_all(&prefixed(&bytes)).await.unwrap();
                                }
                            } else {
                                for bytes in &framed {
                                    stream.write_all(bytes).await.unwrap();
                                }
                            }
                            first += s_batch;
                        }
                    }
                }
            });
        })
    };
    let result = windowed(s, &received, |_| {
        let _ = go_tx.send(());
    });
    drop(go_tx);
    let _ = tx.join();
    stop.store(true, Ordering::Relaxed);
    let _ = rx.join();
    result
}

fn percentiles(mut rtts: Vec<Duration>) -> (Duration, Duration) {
    rtts.sort();
    if rtts.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    let at = |q: f64| rtts[((rtts.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn trellis_latency(
    s: &Settings,
    transport: Transport,
    ports: (u16, u16),
    placement: Placement,
) -> (Duration, Duration) {
    let plan = plan(0, false);
    let (a, b) = loopback(ports);
    let total = s.rounds + s.warmup;
    let (done_tx, done) = std::sync::mpsc::channel();
    let shared = Shared {
        all_pongs: Some((total, done_tx)),
        ..Shared::default()
    };
    let [cpu_a, cpu_b] = placement.cpus();
    let ponger = start_node(&plan, &b, transport, Shared::default(), Some(cpu_b));
    let pinger = start_node(&plan, &a, transport, shared, Some(cpu_a));
    let start: Tuple = vec![Value::str(&a), Value::str(&b), Value::Int(total as i64 - 1)].into();
    pinger.injector.inject("start", start);
    // A lost ping (UDP) ends the exchange: time what arrived.
    let _ = done.recv_timeout(Duration::from_secs(60));
    let (_, pinger) = pinger.stop();
    ponger.stop();
    let rtts: Vec<Duration> = pinger
        .pongs
        .windows(2)
        .skip(s.warmup)
        .map(|w| w[1] - w[0])
        .collect();
    percentiles(rtts)
}

fn baseline_latency(
    s: &Settings,
    transport: Transport,
    ports: (u16, u16),
    placement: Placement,
) -> (Duration, Duration) {
    let [cpu_a, cpu_b] = placement.cpus();
    let (a, b) = loopback(ports);
    let ping = trellis_wire::encode(
        &a,
        &b,
        &[WireMessage {
            relation: Arc::from("ping"),
            tuple: vec![Value::str(&b), Value::str(&a), Value::Int(1000)].into(),
            delete: false,
            derivation: None,
        }],
        None,
    );
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let b = b.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            pin(cpu_b);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                match transport {
                    Transport::Udp => {
                        let sock = udp_socket(&b);
                        ready_tx.send(()).unwrap();
                        let mut buf = vec![0u8; 65_536];
                        while !stop.load(Ordering::Relaxed) {
                            if let Ok(Ok((n, from))) = tokio::time::timeout(
                                Duration::from_millis(50),
                                sock.recv_from(&mut buf),
                            )
                            .await
                            {
                                let _ = sock.send_to(&buf[..n], from).await;
                            }
                        }
                    }
                    Transport::Tcp => {
                        let listener = TcpListener::bind(&b).await.unwrap();
                        ready_tx.send(()).unwrap();
                        let (mut stream, _) = listener.accept().await.unwrap();
                        stream.set_nodelay(true).unwrap();
                        let mut len = [0u8; 4];
                        let mut buf = Vec::new();
                        while stream.read_exact(&mut len).await.is_ok() {
                            buf.resize(u32::from_be_bytes(len) as usize, 0);
                            if stream.read_exact(&mut buf).await.is_err() {
                                break;
                            }
                            let mut out = len.to_vec();
                            out.extend_from_slice(&buf);
                            if stream.write_all(&out).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        })
    };
    ready_rx.recv().unwrap();
    let (rounds, warmup) = (s.rounds, s.warmup);
    let client = std::thread::spawn(move || {
        pin(cpu_a);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut rtts = Vec::with_capacity(rounds);
            match transport {
                Transport::Udp => {
                    let sock = UdpSocket::bind(&a).await.unwrap();
                    let to: SocketAddr = b.parse().unwrap();
                    let mut buf = vec![0u8; 65_536];
                    for i in 0..rounds + warmup {
                        let t = Instant::now();
                        sock.send_to(&ping, to).await.unwrap();
                        match tokio::time::timeout(Duration::from_secs(1), sock.recv_from(&mut buf))
                            .await
                        {
                            Ok(Ok(_)) if i >= warmup => rtts.push(t.elapsed()),
                            _ => {}
                        }
                    }
                }
                Transport::Tcp => {
                    let mut stream = TcpStream::connect(&b).await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    let mut framed = (ping.len() as u32).to_be_bytes().to_vec();
                    framed.extend_from_slice(&ping);
                    let mut back = vec![0u8; framed.len()];
                    for i in 0..rounds + warmup {
                        let t = Instant::now();
                        stream.write_all(&framed).await.unwrap();
                        stream.read_exact(&mut back).await.unwrap();
                        if i >= warmup {
                            rtts.push(t.elapsed());
                        }
                    }
                }
            }
            rtts
        })
    });
    let rtts = client.join().expect("client thread");
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    percentiles(rtts)
}

/// The throughput run's path in one thread, without sockets or tokio: the
/// sender's tick, encoding, decoding and the receiver's tick, timed apart.
/// Prints each stage's nanoseconds per tuple (where the time goes; not a
/// comparison).
fn stages(s: &Settings, payload_len: usize) {
    let plan = plan(s.batch, false);
    let (a, b) = ("127.0.0.1:1", "127.0.0.1:2");
    let mut sender = Node::new(plan.clone(), NodeConfig::new(a, 1)).expect("node");
    let mut receiver = Node::new(plan.clone(), NodeConfig::new(b, 2)).expect("node");
    sender.start(0);
    receiver.start(0);
    let mut outbound = trellis_frames::Outbound::new(&plan, a, None, Transport::Udp);
    let (mut out, mut packed) = (Output::default(), Vec::new());
    // Decoded frames, and emptied message vectors for the next ones (as
    // the driver recycles them).
    let (mut frames, mut spare) = (Vec::new(), Vec::new());
    let (me, dest, payload) = (Value::str(a), Value::str(b), payload(payload_len));
    let mut spent = [Duration::ZERO; 4];
    let mut tuples = 0u64;
    let mut first = 0u64;
    while first < s.tuples {
        let t0 = Instant::now();
        let gen_tuple = vec![
            me.clone(),
            dest.clone(),
            Value::Int(first as i64),
            payload.clone(),
        ];
        sender.inject("gen", gen_tuple.into()).expect("declared");
        while sender.step(0, &mut out) {}
        let t1 = Instant::now();
        outbound.pack(Transport::Udp, &out.sends, &mut packed, |_, _| {});
        out.clear();
        let t2 = Instant::now();
        for p in packed.drain(..) {
            if let trellis_frames::Packed::Frame { bytes, .. } = p {
                let mut messages: Vec<WireMessage> = spare.pop().unwrap_or_default();
                trellis_wire::decode_into(&bytes, None, &mut messages).expect("decodes");
                frames.push(messages);
                outbound.recycle(Transport::Udp, bytes);
            }
        }
        let t3 = Instant::now();
        for mut messages in frames.drain(..) {
            tuples += messages.len() as u64;
            trellis_frames::hand_to_node(
                &mut receiver,
                sender.shared_address(),
                &mut messages,
                |r, e| panic!("`{r}` refused: {e}"),
            );
            spare.push(messages);
            while receiver.step(0, &mut out) {}
            out.clear();
        }
        let t4 = Instant::now();
        for (d, (from, to)) in spent
            .iter_mut()
            .zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)])
        {
            *d += to - from;
        }
        first += s.batch;
    }
    let ns = |d: Duration| d.as_secs_f64() * 1e9 / tuples as f64;
    println!(
        "payload {payload_len}: ns/tuple: sender's tick {:.0}, encode {:.0}, decode {:.0}, receiver's tick {:.0}",
        ns(spent[0]),
        ns(spent[1]),
        ns(spent[2]),
        ns(spent[3])
    );
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A figure drawn from one run's round trips: baseline p50 and p99, then
/// Trellis's.
type Stat = fn(&[f64; 4]) -> f64;

/// One run's throughput figures for one transport and payload.
struct Throughputs {
    same_frames: f64,
    codec: f64,
    one_per_frame: f64,
    trellis: f64,
    tuples_per_frame: f64,
    bytes_per_tuple: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let number = |flag: &str| -> Option<usize> {
        let i = args.iter().position(|a| a == flag)?;
        args.get(i + 1)?.parse().ok()
    };
    let runs = number("--runs").unwrap_or(if quick { 1 } else { 3 });
    let payloads: Vec<usize> = match number("--payload") {
        Some(n) => vec![n],
        None => PAYLOADS.to_vec(),
    };
    let batch = 1024;
    let s = Settings {
        tuples: if quick { 100_000 } else { 2_000_000 },
        batch,
        window: batch * 8,
        rounds: if quick { 500 } else { 10_000 },
        warmup: 200,
    };
    println!(
        "netbench: {} tuples one way in batches of {} (window {}), payloads of {payloads:?} bytes; {} ping-pong rounds; median of {runs} runs (ratios: the median of the runs' own ratios)",
        s.tuples, s.batch, s.window, s.rounds,
    );
    // `NETBENCH_PROFILE=throughput` or `=latency`: one Trellis run per
    // transport (the first payload) and no baselines, for `perf record`;
    // `=stages`: each stage's cost in process, per payload.
    let profile = std::env::var("NETBENCH_PROFILE").ok();
    if profile.as_deref() == Some("stages") {
        for &len in &payloads {
            stages(&s, len);
        }
        return;
    }
    if profile.as_deref() == Some("provenance") {
        provenance(&s, runs, &payloads);
        return;
    }
    let mut throughput_rows = Vec::new();
    let mut latency_rows = Vec::new();
    for (k, transport) in [Transport::Udp, Transport::Tcp].into_iter().enumerate() {
        let p = 24_000 + 20 * k as u16;
        if let Some(what) = &profile {
            if what == "latency" {
                for placement in PLACEMENTS {
                    let (p50, p99) = trellis_latency(&s, transport, (p + 6, p + 7), placement);
                    println!(
                        "{transport}, {}: RTT p50 {:.1} p99 {:.1} us",
                        placement.name(),
                        us(p50),
                        us(p99)
                    );
                }
            } else {
                let (t, _) = trellis_throughput(&s, transport, (p + 2, p + 3), payloads[0], false);
                println!("{transport}: {:.0} tuples/s", t.rate());
            }
            continue;
        }
        let mut latencies: [Vec<[f64; 4]>; 2] = Default::default();
        let mut throughputs: Vec<Vec<Throughputs>> = payloads.iter().map(|_| Vec::new()).collect();
        for r in 0..runs {
            // Round trips first: runs after the throughput runs measured
            // Trellis slower and the baseline not, on this VM.
            for (placement, rows) in PLACEMENTS.into_iter().zip(&mut latencies) {
                let (bl50, bl99) = baseline_latency(&s, transport, (p + 4, p + 5), placement);
                let (tl50, tl99) = trellis_latency(&s, transport, (p + 6, p + 7), placement);
                println!(
                    "{transport} run {}, {}: RTT baseline p50 {:.1} p99 {:.1} us, trellis p50 {:.1} p99 {:.1} us",
                    r + 1,
                    placement.name(),
                    us(bl50),
                    us(bl99),
                    us(tl50),
                    us(tl99)
                );
                rows.push([us(bl50), us(bl99), us(tl50), us(tl99)]);
            }
            for (i, &len) in payloads.iter().enumerate() {
                let base = baseline_throughput(&s, transport, (p, p + 1), false, Work::None, len);
                let codec =
                    baseline_throughput(&s, transport, (p + 10, p + 11), false, Work::Codec, len);
                let single =
                    baseline_throughput(&s, transport, (p + 8, p + 9), true, Work::None, len);
                let (trel, stats) = trellis_throughput(&s, transport, (p + 2, p + 3), len, false);
                let t = Throughputs {
                    same_frames: base.rate(),
                    codec: codec.rate(),
                    one_per_frame: single.rate(),
                    trellis: trel.rate(),
                    tuples_per_frame: stats.tuples_sent as f64 / stats.frames_sent.max(1) as f64,
                    bytes_per_tuple: stats.bytes_sent as f64 / stats.tuples_sent.max(1) as f64,
                };
                println!(
                    "{transport} run {} payload {len}: throughput baseline (1 tuple/frame) {:.0}, codec program {:.0}, ceiling (same frames) {:.0}, trellis {:.0} tuples/s ({} of {} arrived, {:.0} tuples/frame, {:.1} bytes/tuple)",
                    r + 1,
                    t.one_per_frame,
                    t.codec,
                    t.same_frames,
                    t.trellis,
                    trel.received,
                    trel.sent,
                    t.tuples_per_frame,
                    t.bytes_per_tuple,
                );
                throughputs[i].push(t);
            }
        }
        for (i, &len) in payloads.iter().enumerate() {
            let all = &throughputs[i];
            let m = |f: fn(&Throughputs) -> f64| median(all.iter().map(f).collect());
            throughput_rows.push((
                transport,
                len,
                [
                    m(|t| t.same_frames),
                    m(|t| t.codec),
                    m(|t| t.one_per_frame),
                    m(|t| t.trellis),
                    m(|t| t.tuples_per_frame),
                    m(|t| t.bytes_per_tuple),
                    // Each run compares programs run back to back: its
                    // ratio cancels what the VM was doing at the time.
                    m(|t| t.trellis / t.same_frames),
                    m(|t| t.trellis / t.codec),
                    m(|t| t.trellis / t.one_per_frame),
                    // What the codec alone leaves of the ceiling.
                    m(|t| t.codec / t.same_frames),
                ],
            ));
        }
        for (placement, rows) in PLACEMENTS.into_iter().zip(&latencies) {
            let m = |f: Stat| median(rows.iter().map(f).collect());
            let worst = |f: Stat| rows.iter().map(f).fold(0.0, f64::max);
            let r50: Stat = |l| l[2] / l[0];
            let r99: Stat = |l| l[3] / l[1];
            latency_rows.push((
                transport,
                placement,
                [
                    m(|l| l[0]),
                    m(|l| l[1]),
                    m(|l| l[2]),
                    m(|l| l[3]),
                    m(r50),
                    m(r99),
                    worst(r50),
                    worst(r99),
                ],
            ));
        }
    }
    if profile.is_some() {
        return;
    }
    println!(
        "\n| transport | payload (bytes) | bytes/tuple on the wire | baseline: plain, 1 tuple per frame (tuples/s) | batching codec program (tuples/s) | ceiling: same frames (tuples/s) | Trellis (tuples/s) | Trellis tuples/frame | Trellis / baseline (target 0.5) | Trellis / codec program | Trellis / ceiling | codec program / ceiling | ceiling, Trellis (Gbit/s on the wire) |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    // Tuples/s at `bpt` bytes each, as a link's bit rate (frame headers
    // included, IP and UDP/TCP headers not).
    let gbit = |tuples: f64, bpt: f64| tuples * bpt * 8.0 / 1e9;
    for (
        t,
        len,
        [
            b,
            codec,
            one,
            r,
            tpf,
            bpt,
            vs_b,
            vs_codec,
            vs_one,
            codec_vs_b,
        ],
    ) in throughput_rows
    {
        println!(
            "| {t} | {len} | {bpt:.1} | {one:.0} | {codec:.0} | {b:.0} | {r:.0} | {tpf:.0} | {vs_one:.2} | {vs_codec:.2} | {vs_b:.2} | {codec_vs_b:.2} | {:.1}, {:.2} |",
            gbit(b, bpt),
            gbit(r, bpt),
        );
    }
    println!(
        "\n| transport | endpoints (apart: vCPUs 0 and 1; together: 0) | baseline RTT p50 / p99 (us) | Trellis RTT p50 / p99 (us) | RTT ratio p50 / p99 | worst run's ratio p50 / p99 |"
    );
    println!("|---|---|--:|--:|--:|--:|");
    for (t, placement, [bl50, bl99, tl50, tl99, r50, r99, w50, w99]) in latency_rows {
        println!(
            "| {t} | {} | {bl50:.1} / {bl99:.1} | {tl50:.1} / {tl99:.1} | {r50:.2} / {r99:.2} | {w50:.2} / {w99:.2} |",
            placement.name()
        );
    }
}

/// Trellis's throughput with provenance off and on (every relation
/// traced: each tuple derived is recorded and carries its derivation's
/// 6-byte reference), alternating, per transport and payload.
fn provenance(s: &Settings, runs: usize, payloads: &[usize]) {
    println!(
        "\n| transport | payload (bytes) | off (tuples/s) | on (tuples/s) | on / off | bytes/tuple off | bytes/tuple on |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|");
    for (k, transport) in [Transport::Udp, Transport::Tcp].into_iter().enumerate() {
        let p = 24_100 + 20 * k as u16;
        for &len in payloads {
            let mut rows = Vec::new();
            for _ in 0..runs {
                let (off, off_stats) = trellis_throughput(s, transport, (p, p + 1), len, false);
                let (on, on_stats) = trellis_throughput(s, transport, (p + 2, p + 3), len, true);
                let per = |st: &NetStats| st.bytes_sent as f64 / st.tuples_sent.max(1) as f64;
                rows.push([
                    off.rate(),
                    on.rate(),
                    on.rate() / off.rate(),
                    per(&off_stats),
                    per(&on_stats),
                ]);
            }
            let m = |i: usize| median(rows.iter().map(|r| r[i]).collect());
            println!(
                "| {transport} | {len} | {:.0} | {:.0} | {:.2} | {:.1} | {:.1} |",
                m(0),
                m(1),
                m(2),
                m(3),
                m(4)
            );
        }
    }
}
