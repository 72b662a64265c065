//! What ends a run: `--for`, nothing left to do, or Ctrl-C / SIGTERM, and
//! that every run prints its summary however it ends. Interrupts are sent
//! to a child process once it has printed its first watch record (no fixed
//! sleeps); every wait is bounded.

mod support;

use support::{run_trellis as trellis, text, write_file as program};

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const TRELLIS: &str = env!("CARGO_BIN_EXE_trellis");

/// A heartbeat every second, forever.
const ENDLESS: &str = "watch(beat).\nr1 beat(@N, E) :- periodic(@N, E, 1).\n";

#[test]
fn a_virtual_run_with_an_endless_timer_needs_for() {
    let dir = tempfile::tempdir().unwrap();
    let endless = program(dir.path(), "endless.olg", ENDLESS);
    let out = trellis(&["run", &endless, "--clock", "virtual"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("never stops: give --for SECONDS"), "{err}");
    assert!(err.contains("`periodic` every 1s without a count"), "{err}");

    let out = trellis(&["run", &endless, "--clock", "virtual", "--for", "3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("stopped by: duration"),
        "{}",
        text(&out.stderr)
    );

    // Timers with a count end: the run stops when nothing is left.
    let counted = program(
        dir.path(),
        "counted.olg",
        "watch(beat).\nr1 beat(@N, E) :- periodic(@N, E, 1, 3).\n",
    );
    let out = trellis(&["run", &counted, "--clock", "virtual"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("ran 3 ticks in 3.000s"), "{err}");
    assert!(err.contains("stopped by: idle"), "{err}");
}

/// Start `args`, wait for its first line on stdout, send `signal`, and
/// return everything it printed (stdout, stderr) once it exits.
fn interrupted(args: &[&str], signal: Signal) -> (String, String) {
    let mut child = Command::new(TRELLIS)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the trellis binary runs");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (ready_tx, ready_rx) = mpsc::channel();
    // Read everything, so a full pipe never blocks the child.
    let out_reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.is_empty() {
                let _ = ready_tx.send(());
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    let err_reader =
        std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let ready = ready_rx.recv_timeout(Duration::from_secs(60));
    kill(Pid::from_raw(child.id() as i32), signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} did not stop within 60 s of {signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out_reader.join().unwrap(), err_reader.join().unwrap());
    assert!(ready.is_ok(), "{args:?} printed nothing: {err}");
    assert!(status.success(), "{args:?} {status}: {err}");
    (out, err)
}

#[test]
fn an_interrupted_run_prints_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let endless = program(dir.path(), "endless.olg", ENDLESS);
    // Alone on the wall clock, until Ctrl-C.
    let (_, err) = interrupted(&["run", &endless, "--transport", "none"], Signal::SIGINT);
    assert!(err.contains("summary: 127.0.0.1:10000 ran"), "{err}");
    assert!(err.contains("stopped by: interrupt"), "{err}");
    // On the virtual clock, stopped long before its end.
    let (out, _) = interrupted(
        &[
            "run", &endless, "--clock", "virtual", "--for", "1e12", "--json",
        ],
        Signal::SIGTERM,
    );
    let summary = out.lines().last().unwrap();
    let summary: serde_json::Value = serde_json::from_str(summary).unwrap();
    assert_eq!(summary["summary"]["stopped_by"], "terminate", "{summary}");
    // The simulator, interrupted mid-run, reports how far it got.
    let (out, _) = interrupted(
        &["sim", &endless, "--nodes", "3", "--for", "1e12"],
        Signal::SIGINT,
    );
    assert!(out.contains("simulated "), "{out}");
    assert!(out.contains("stopped by: interrupt"), "{out}");
}
