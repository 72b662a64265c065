//! Nodes on real sockets on 127.0.0.1, in-process (each on its own thread
//! and runtime, as separate processes would be), for the driver's tests.

#![allow(dead_code)] // each test file uses its share

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trellis_engine::{Node, NodeConfig, Output, RecordKind, Stats, Tuple};
use trellis_net::{
    Counters, Driver, NetConfig, NetLimits, NetStats, Observer, Resolve, Transport, WallClock,
    Warning,
};
use trellis_plan::Plan;

pub const TIMEOUT: Duration = Duration::from_secs(60);

pub fn plan(text: &str) -> Arc<Plan> {
    let options = trellis_syntax::ParseOptions::default();
    match trellis_plan::load_str("test", text, &options) {
        Ok(l) => Arc::new(l.plan),
        Err(d) => panic!("{d:?}"),
    }
}

/// Counts `recv` records per relation name; keeps warnings.
#[derive(Clone, Default)]
pub struct Watch {
    pub received: Arc<Mutex<std::collections::BTreeMap<String, u64>>>,
    pub warnings: Arc<Mutex<Vec<Warning>>>,
    pub changes: Arc<AtomicU64>,
}

impl Watch {
    pub fn count(&self, relation: &str) -> u64 {
        self.received
            .lock()
            .unwrap()
            .get(relation)
            .copied()
            .unwrap_or(0)
    }
}

impl Observer for Watch {
    fn output(&mut self, node: &Node, out: &Output) {
        let mut m = self.received.lock().unwrap();
        for r in &out.records {
            if r.kind == RecordKind::Recv {
                *m.entry(node.plan().relation(r.relation).name.clone())
                    .or_default() += 1;
            }
        }
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    fn warning(&mut self, _node: &Node, warning: &Warning) {
        self.warnings.lock().unwrap().push(warning.clone());
    }
}

pub struct Running {
    pub counters: Counters,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub thread: std::thread::JoinHandle<(NetStats, Stats)>,
}

impl Running {
    pub fn stop(self) -> (NetStats, Stats) {
        let _ = self.stop.send(());
        self.thread.join().expect("node thread")
    }
}

pub fn run_node(
    plan: &Arc<Plan>,
    addr: &str,
    transport: Transport,
    watch: Watch,
    inject: Vec<(&'static str, Tuple)>,
) -> Running {
    run_limited(plan, addr, transport, NetLimits::default(), watch, inject)
}

/// [`run_node`] within `limits`.
pub fn run_limited(
    plan: &Arc<Plan>,
    addr: &str,
    transport: Transport,
    limits: NetLimits,
    watch: Watch,
    inject: Vec<(&'static str, Tuple)>,
) -> Running {
    let mut config = NetConfig::new(addr, addr.parse().unwrap(), transport, None);
    config.limits = limits;
    run_configured(plan, config, None, watch, inject)
}

/// A node set up by `config`, looking names up with `resolver` if given.
pub fn run_configured(
    plan: &Arc<Plan>,
    config: NetConfig,
    resolver: Option<Arc<dyn Resolve>>,
    watch: Watch,
    inject: Vec<(&'static str, Tuple)>,
) -> Running {
    let plan = plan.clone();
    let addr = config.address.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let clock = WallClock::start();
            let mut driver = Driver::bind(config, &plan, clock).await.expect("bind");
            if let Some(r) = resolver {
                driver.set_resolver(r);
            }
            let mut node = Node::new(plan, NodeConfig::new(addr, 1)).unwrap();
            node.start(clock.now());
            for (rel, t) in inject {
                node.inject(rel, t).unwrap();
            }
            ready_tx.send(driver.counters()).unwrap();
            let mut watch = watch;
            let net = driver
                .run(
                    &mut node,
                    async {
                        let _ = stop_rx.await;
                    },
                    &mut watch,
                )
                .await;
            (net, node.stats().clone())
        })
    });
    let counters = ready_rx.recv().expect("node started");
    Running {
        counters,
        stop,
        thread,
    }
}

pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
