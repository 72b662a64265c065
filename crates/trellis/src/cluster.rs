//! `trellis cluster FILE --nodes N`: N `trellis run` processes on
//! 127.0.0.1, their output merged and labelled, their deaths reported.

use std::io::Write as _;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;
use trellis_engine::{NodeParams, ParamSource, Placement};

use crate::cli::{ClusterArgs, NodeIdMode};
use crate::common::{CLUSTER_PARENT, load, parse_options, read_key};
use crate::signals::StopSignals;
use crate::watch_filter::WatchFilter;

/// How long nodes get to stop after SIGTERM before they are killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The generator `--node-id random` draws from, seeded by `--seed`.
pub fn id_rng(args: &ClusterArgs) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(args.seed)
}

/// What every node is given: `LANDMARK` is node 0, `NODEID` as
/// `--node-id` says.
fn node_params(args: &ClusterArgs) -> NodeParams {
    let mut params = NodeParams::standard();
    match args.node_id {
        NodeIdMode::Sha1 => params.set("NODEID", ParamSource::Sha1),
        NodeIdMode::Random => params.set("NODEID", ParamSource::Random),
        NodeIdMode::None => params.remove("NODEID"),
    }
    params
}

/// The `trellis run` arguments of node `index`.
pub fn node_args(args: &ClusterArgs, index: usize, ids: &mut ChaCha8Rng) -> (String, Vec<String>) {
    let port = args.base_port as usize + index;
    let addr = format!("127.0.0.1:{port}");
    let mut argv = vec![
        "run".to_string(),
        args.program.file.display().to_string(),
        "--addr".into(),
        addr.clone(),
        "--transport".into(),
        args.transport.as_str().into(),
        "--seed".into(),
        args.seed.wrapping_add(index as u64).to_string(),
        // The cluster printed the program's warnings once, before the nodes
        // started.
        "-A".into(),
        trellis_plan::ALL_WARNINGS.into(),
    ];
    let defined = |name: &str| args.program.defines.iter().any(|d| d.name == name);
    for d in &args.program.defines {
        argv.push("-D".into());
        argv.push(format!("{}={}", d.name, d.value));
    }
    if let Some(s) = args.program.semantics {
        argv.push("--semantics".into());
        argv.push(trellis_plan::Semantics::from(s).as_str().into());
    }
    // The standard node parameters, with node 0 as the first node, unless
    // `-D` defines them.
    let first = format!("127.0.0.1:{}", args.base_port);
    let place = Placement {
        address: &addr,
        index,
        first: &first,
    };
    for (name, value) in node_params(args).values(|name| !defined(name), &place, ids) {
        argv.push("-D".into());
        argv.push(format!("{name}={}", value.literal()));
    }
    if let Some(key) = &args.cluster_key {
        argv.push("--cluster-key".into());
        argv.push(key.display().to_string());
    }
    if let Some(s) = args.duration {
        argv.push("--for".into());
        argv.push(s.to_string());
    }
    for w in &args.watch {
        argv.push("--watch".into());
        argv.push(w.clone());
    }
    argv.extend(WatchFilter::args(&args.watch_filter));
    if args.json {
        argv.push("--json".into());
    }
    if let Some(n) = args.limits.max_ticks_per_instant {
        argv.push("--max-ticks-per-instant".into());
        argv.push(n.to_string());
    }
    if let Some(n) = args.limits.max_derivations_per_tick {
        argv.push("--max-derivations-per-tick".into());
        argv.push(n.to_string());
    }
    argv.extend(args.net_limits.to_argv());
    argv.extend(args.provenance.to_argv());
    (addr, argv)
}

enum Event {
    Line {
        index: usize,
        stderr: bool,
        text: String,
    },
    Exit {
        index: usize,
        status: Result<std::process::ExitStatus, String>,
    },
}

struct Member {
    addr: String,
    pid: Option<u32>,
    alive: bool,
}

pub fn cluster(args: &ClusterArgs) -> ExitCode {
    if args.nodes == 0 {
        eprintln!("error: --nodes must be at least 1");
        return ExitCode::from(2);
    }
    if args.base_port as usize + args.nodes - 1 > u16::MAX as usize {
        eprintln!(
            "error: ports {}..{} do not fit: lower --base-port or --nodes",
            args.base_port,
            args.base_port as usize + args.nodes - 1
        );
        return ExitCode::from(2);
    }
    if let Some(s) = args.duration
        && !(s.is_finite() && s >= 0.0)
    {
        eprintln!("error: --for {s}: expected a number of seconds, 0 or more");
        return ExitCode::from(2);
    }
    // Check the limits, the key and the program once here rather than N
    // times in the nodes.
    if let Err(e) = args.net_limits.limits().check() {
        eprintln!("error: --{e}");
        return ExitCode::from(2);
    }
    if let Some(path) = &args.cluster_key
        && let Err(message) = read_key(path)
    {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    if let Err(code) = load(&args.program, &parse_options(&args.program)) {
        return code;
    }
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot find the trellis executable: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(supervise(args, exe))
}

async fn supervise(args: &ClusterArgs, exe: std::path::PathBuf) -> ExitCode {
    // Registered once, before the nodes start: a request that arrives while
    // the loop below prints is queued for it, not lost.
    let mut signals = StopSignals::register();
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let mut members = Vec::new();
    let mut ids = id_rng(args);
    for index in 0..args.nodes {
        let (addr, argv) = node_args(args, index, &mut ids);
        let spawned = Command::new(&exe)
            .args(&argv)
            .env(CLUSTER_PARENT, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                report(
                    args.json,
                    serde_json::json!({"cluster": "spawn_failed", "index": index, "node": addr, "error": e.to_string()}),
                    &format!("cluster: cannot start node {index} ({addr}): {e}"),
                );
                members.push(Member {
                    addr,
                    pid: None,
                    alive: false,
                });
                continue;
            }
        };
        let pid = child.id();
        report(
            args.json,
            serde_json::json!({"cluster": "started", "index": index, "node": addr, "pid": pid}),
            &format!(
                "cluster: node {index} ({addr}) started, pid {}",
                pid.map_or_else(|| "?".into(), |p| p.to_string())
            ),
        );
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::join!(
                forward(stdout, index, false, tx.clone()),
                forward(stderr, index, true, tx.clone())
            );
            let status = child.wait().await.map_err(|e| e.to_string());
            let _ = tx.send(Event::Exit { index, status });
        });
        members.push(Member {
            addr,
            pid,
            alive: true,
        });
    }
    drop(tx);

    let mut failed = members.iter().filter(|m| !m.alive).count();
    let mut stopping: Option<tokio::time::Instant> = None;
    let mut killed = false;
    loop {
        if members.iter().all(|m| !m.alive) {
            break;
        }
        let grace = async {
            match stopping {
                Some(at) if !killed => tokio::time::sleep_until(at + STOP_GRACE).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            event = rx.recv() => match event {
                Some(Event::Line { index, stderr, text }) => {
                    print_line(args.json, &members[index].addr, index, stderr, &text);
                }
                Some(Event::Exit { index, status }) => {
                    let m = &mut members[index];
                    m.alive = false;
                    let ok = exited(args.json, index, &m.addr, &status, stopping.is_some());
                    if !ok {
                        failed += 1;
                    }
                }
                None => break,
            },
            _ = signals.next() => {
                if stopping.is_none() {
                    report(args.json, serde_json::json!({"cluster": "stopping"}),
                        "cluster: stopping every node (again to kill them)");
                    stopping = Some(tokio::time::Instant::now());
                    signal_all(&members, nix::sys::signal::Signal::SIGTERM);
                } else {
                    killed = true;
                    signal_all(&members, nix::sys::signal::Signal::SIGKILL);
                }
            }
            _ = grace => {
                killed = true;
                report(args.json, serde_json::json!({"cluster": "killing"}),
                    "cluster: nodes still running after the grace period: killing them");
                signal_all(&members, nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
    report(
        args.json,
        serde_json::json!({"cluster": "done", "nodes": members.len(), "failed": failed}),
        &format!(
            "cluster: all {} nodes stopped; {failed} failed",
            members.len()
        ),
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn forward(
    pipe: Option<impl AsyncRead + Unpin>,
    index: usize,
    stderr: bool,
    tx: mpsc::UnboundedSender<Event>,
) {
    let Some(pipe) = pipe else {
        return;
    };
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(text)) = lines.next_line().await {
        if tx
            .send(Event::Line {
                index,
                stderr,
                text,
            })
            .is_err()
        {
            return;
        }
    }
}

fn signal_all(members: &[Member], signal: nix::sys::signal::Signal) {
    for m in members.iter().filter(|m| m.alive) {
        if let Some(pid) = m.pid.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
    }
}

/// Report a node's exit; true when it ended well (exit 0, or stopped by
/// the cluster).
fn exited(
    json: bool,
    index: usize,
    addr: &str,
    status: &Result<std::process::ExitStatus, String>,
    stopping: bool,
) -> bool {
    use std::os::unix::process::ExitStatusExt;
    let (code, signal, ok, what) = match status {
        Ok(s) => {
            let ok = s.success() || (stopping && s.signal().is_some());
            let what = match (s.code(), s.signal()) {
                (Some(0), _) => "stopped".to_string(),
                (Some(c), _) => format!("died: exited with code {c}"),
                (None, Some(sig)) => format!(
                    "died: killed by signal {sig}{}",
                    nix::sys::signal::Signal::try_from(sig)
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                ),
                (None, None) => "died".to_string(),
            };
            (s.code(), s.signal(), ok, what)
        }
        Err(e) => (None, None, false, format!("lost: {e}")),
    };
    let text = if ok || stopping {
        format!("cluster: node {index} ({addr}) {what}")
    } else {
        format!("cluster: node {index} ({addr}) {what}; the other nodes carry on")
    };
    report(
        json,
        serde_json::json!({"cluster": "exited", "index": index, "node": addr,
                           "code": code, "signal": signal, "success": ok}),
        &text,
    );
    ok
}

fn report(json: bool, value: serde_json::Value, text: &str) {
    if json {
        let _ = writeln!(std::io::stdout().lock(), "{value}");
    } else {
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

fn print_line(json: bool, addr: &str, index: usize, stderr: bool, text: &str) {
    if json {
        let value = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(mut map)) if !stderr => {
                map.insert("index".into(), index.into());
                serde_json::Value::Object(map)
            }
            _ => serde_json::json!({
                "index": index, "node": addr,
                if stderr { "stderr" } else { "stdout" }: text,
            }),
        };
        let _ = writeln!(std::io::stdout().lock(), "{value}");
    } else if stderr {
        let _ = writeln!(std::io::stderr().lock(), "[{index}] {text}");
    } else {
        let _ = writeln!(std::io::stdout().lock(), "[{index}] {text}");
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use trellis_value::Value;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> ClusterArgs {
        let mut argv = vec!["trellis", "cluster", "prog.olg"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Cluster(c) => c,
            other => panic!("{other:?}"),
        }
    }

    fn value_of<'a>(argv: &'a [String], define: &str) -> Option<&'a str> {
        argv.iter()
            .filter_map(|a| a.strip_prefix(&format!("{define}=")))
            .next_back()
    }

    #[test]
    fn nodes_get_ports_landmark_ids_and_seeds() {
        let args = parse(&[
            "--nodes",
            "3",
            "--base-port",
            "12000",
            "--for",
            "5",
            "--json",
        ]);
        let (addr, argv) = node_args(&args, 2, &mut id_rng(&args));
        assert_eq!(addr, "127.0.0.1:12002");
        let text = argv.join(" ");
        assert!(text.starts_with("run prog.olg --addr 127.0.0.1:12002 --transport udp --seed 2"));
        assert_eq!(value_of(&argv, "LANDMARK"), Some("\"127.0.0.1:12000\""));
        let id = Value::Id(trellis_value::sha1_id("127.0.0.1:12002")).literal();
        assert_eq!(value_of(&argv, "NODEID"), Some(id.as_str()));
        assert!(text.contains("--for 5") && text.ends_with("--json"));
        // The cluster prints the program's warnings once, not once per node.
        assert!(text.contains("-A warnings"));
    }

    #[test]
    fn user_defines_win_and_random_ids_follow_the_seed() {
        let args = parse(&[
            "--nodes",
            "2",
            "-D",
            "LANDMARK=\"10.0.0.9:1\"",
            "--node-id",
            "random",
            "--seed",
            "4",
            "--transport",
            "tcp",
        ]);
        let ids = |args: &ClusterArgs| {
            let mut state = id_rng(args);
            (0..2)
                .map(|i| {
                    let (_, argv) = node_args(args, i, &mut state);
                    assert_eq!(value_of(&argv, "LANDMARK"), Some("\"10.0.0.9:1\""));
                    assert!(argv.join(" ").contains("--transport tcp"));
                    value_of(&argv, "NODEID").expect("an id").to_string()
                })
                .collect::<Vec<_>>()
        };
        let first = ids(&args);
        assert_ne!(first[0], first[1]);
        assert!(first[0].starts_with("0x") && first[0].ends_with('I'));
        assert_eq!(first, ids(&args), "same seed, same ids");
        let none = parse(&["--nodes", "1", "--node-id", "none"]);
        let (_, argv) = node_args(&none, 0, &mut id_rng(&none));
        assert_eq!(value_of(&argv, "NODEID"), None);
    }

    /// Every node gets the cluster's network limits, as `run` flags that
    /// parse back to the same limits.
    #[test]
    fn nodes_get_the_network_limits() {
        let args = parse(&[
            "--nodes",
            "2",
            "--transport",
            "tcp",
            "--max-inbound",
            "8",
            "--idle-timeout",
            "2.5",
            "--max-reading",
            "8388608",
            "--max-warnings-per-minute",
            "0",
        ]);
        let (_, argv) = node_args(&args, 1, &mut id_rng(&args));
        let mut run = vec!["trellis".to_string()];
        run.extend(argv);
        let Command::Run(r) = Cli::try_parse_from(run).expect("parses").command else {
            panic!("not run");
        };
        let limits = r.net.limits.limits();
        assert_eq!(limits, args.net_limits.limits());
        assert_eq!(limits.inbound, 8);
        assert_eq!(limits.idle_timeout, std::time::Duration::from_millis(2500));
        assert_eq!(limits.warnings_per_minute, 0);
        assert_eq!(limits.peers, trellis_net::NetLimits::default().peers);
    }

    /// Every node traces as the cluster was told to, within its bounds.
    #[test]
    fn nodes_get_the_provenance_flags() {
        let args = parse(&[
            "--nodes",
            "2",
            "--provenance",
            "--provenance-lifetime",
            "2.5",
            "--provenance-rows",
            "9",
        ]);
        let (_, argv) = node_args(&args, 1, &mut id_rng(&args));
        let mut run = vec!["trellis".to_string()];
        run.extend(argv);
        let Command::Run(r) = Cli::try_parse_from(run).expect("parses").command else {
            panic!("not run");
        };
        assert!(r.provenance.provenance);
        assert_eq!(r.provenance.limits(), args.provenance.limits());
        assert_eq!(
            r.provenance.limits(),
            trellis_plan::ProvenanceLimits {
                lifetime_nanos: Some(2_500_000_000),
                max_rows: Some(9),
            }
        );
        let plain = parse(&["--nodes", "1"]);
        let (_, argv) = node_args(&plain, 0, &mut id_rng(&plain));
        assert!(!argv.iter().any(|a| a.starts_with("--provenance")));
    }
}
