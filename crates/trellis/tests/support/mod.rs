//! Helpers for tests that run real `trellis` processes: spawn, collect
//! their JSON lines, poll for a condition (never sleep-and-assert), stop
//! them with a signal, and always clean up.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../../../trellis-engine/tests/support/spec.rs"]
pub mod spec;

/// Long enough for a loaded 2-core machine; tests poll, so a fast machine
/// finishes early.
pub const TIMEOUT: Duration = Duration::from_secs(90);

pub fn trellis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trellis"))
}

/// Run `trellis` with `args` in `dir` and return what it printed on
/// stderr; panics, with that text, if it fails.
pub fn trellis_ok(dir: &std::path::Path, args: &[&str]) -> String {
    let out = trellis().args(args).current_dir(dir).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "trellis {args:?}: {stderr}");
    stderr
}

/// The workspace root (for `examples/...`).
/// Run `trellis` with `args` to the end and keep what it printed.
pub fn run_trellis(args: &[&str]) -> std::process::Output {
    trellis()
        .args(args)
        .output()
        .expect("the trellis binary runs")
}

/// Bytes a process printed, as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Write `body` to `dir/name`; the path, for a command line.
pub fn write_file(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

pub fn example(name: &str) -> String {
    root().join("examples").join(name).display().to_string()
}

/// `trellis sim examples/PROGRAM --scenario examples/SCENARIO -q
/// --provenance --out DIR`, which must succeed.
pub fn simulate_traced(program: &str, scenario: &str, dir: &std::path::Path) {
    let (program, scenario) = (example(program), example(scenario));
    let out = dir.to_str().expect("a UTF-8 path");
    let args = [
        "sim",
        &program,
        "--scenario",
        &scenario,
        "-q",
        "--provenance",
        "--out",
        out,
    ];
    let run = run_trellis(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
}

/// A running process whose stdout and stderr lines are collected.
pub struct Proc {
    pub name: String,
    child: Option<Child>,
    out: Arc<Mutex<Vec<String>>>,
    err: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    pub status: Option<ExitStatus>,
}

fn collect(
    pipe: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            match line {
                Ok(l) => into.lock().unwrap().push(l),
                Err(_) => break,
            }
        }
    })
}

impl Proc {
    pub fn spawn(name: &str, args: &[&str]) -> Proc {
        Proc::from_command(name, trellis().args(args).current_dir(root()))
    }

    /// `trellis ARGS` in `dir`.
    pub fn spawn_in(dir: &std::path::Path, name: &str, args: &[&str]) -> Proc {
        Proc::from_command(name, trellis().args(args).current_dir(dir))
    }

    /// Another program (e.g. `ip netns exec NS trellis ...`).
    pub fn spawn_program(name: &str, program: &str, args: &[&str]) -> Proc {
        Proc::from_command(name, Command::new(program).args(args).current_dir(root()))
    }

    fn from_command(name: &str, command: &mut Command) -> Proc {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn trellis");
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), out.clone()),
            collect(child.stderr.take().unwrap(), err.clone()),
        ];
        Proc {
            name: name.to_string(),
            child: Some(child),
            out,
            err,
            readers,
            status: None,
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    pub fn stdout(&self) -> Vec<String> {
        self.out.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().join("\n")
    }

    /// stdout's JSON lines (others skipped).
    pub fn json(&self) -> Vec<Value> {
        self.out
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Poll until `pred` holds over the JSON lines so far; panics with the
    /// output after `TIMEOUT` or if the process exits first.
    pub fn wait_for(&mut self, what: &str, pred: impl Fn(&[Value]) -> bool) {
        let start = Instant::now();
        loop {
            if pred(&self.json()) {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                // One last look: the lines may have arrived with the exit.
                self.join_readers();
                if pred(&self.json()) {
                    return;
                }
                panic!(
                    "{}: exited ({status}) before {what}\nstdout:\n{}\nstderr:\n{}",
                    self.name,
                    self.stdout().join("\n"),
                    self.stderr()
                );
            }
            if start.elapsed() > TIMEOUT {
                panic!(
                    "{}: timed out waiting for {what}\nstdout (last 40):\n{}\nstderr:\n{}",
                    self.name,
                    tail(&self.stdout(), 40),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for the `listening` line a network node prints once bound.
    pub fn wait_listening(&mut self) {
        self.wait_for("listening", |lines| {
            lines.iter().any(|l| l.get("listening").is_some())
        });
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        if let Some(c) = &self.child {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), signal);
        }
    }

    /// Wait for the process to exit (it must, within `TIMEOUT`).
    pub fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        let Some(mut child) = self.child.take() else {
            return self.status.expect("exited");
        };
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.status = Some(status);
                self.join_readers();
                return status;
            }
            if start.elapsed() > TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{}: did not exit\nstderr:\n{}", self.name, self.stderr());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, wait, and return the `summary` object.
    pub fn stop(&mut self) -> Value {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let status = self.wait_exit();
        assert!(
            status.success(),
            "{}: {status}\n{}",
            self.name,
            self.stderr()
        );
        self.summary()
    }

    pub fn summary(&self) -> Value {
        self.json()
            .into_iter()
            .rev()
            .find_map(|v| v.get("summary").cloned())
            .unwrap_or_else(|| panic!("{}: no summary\nstderr:\n{}", self.name, self.stderr()))
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The ID a JSON record shows as `"0x...I"`.
pub fn json_id(v: &Value) -> Option<trellis_value::Id> {
    trellis_value::Id::parse_hex(v.as_str()?.strip_prefix("0x")?.strip_suffix('I')?)
}

pub fn tail(lines: &[String], n: usize) -> String {
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The records of `relation` (with `kind` in `kinds`) at `node`.
pub fn records<'a>(
    lines: &'a [Value],
    node: &'a str,
    relation: &'a str,
    kinds: &'a [&'a str],
) -> impl Iterator<Item = &'a Value> + 'a {
    lines.iter().filter(move |l| {
        l["node"] == node && l["relation"] == relation && kinds.iter().any(|k| l["kind"] == *k)
    })
}

/// The last tuple of `relation` seen at `node`.
pub fn last_tuple<'a>(
    lines: &'a [Value],
    node: &str,
    relation: &str,
    kinds: &[&str],
) -> Option<&'a Vec<Value>> {
    lines
        .iter()
        .rev()
        .find(|l| {
            l["node"] == node && l["relation"] == relation && kinds.iter().any(|k| l["kind"] == *k)
        })
        .and_then(|l| l["tuple"].as_array())
}

/// Split a command line like a POSIX shell (quotes and backslashes), as
/// the conformance programs' headers are split.
pub fn shell_words(text: &str) -> Vec<String> {
    spec::shell_words(text).unwrap_or_else(|e| panic!("{e}"))
}

/// The multi-host commands of docs/networking.md, as the namespace test
/// runs them: (host, command). The docs test checks the page shows these.
pub const MULTIHOST: [(&str, &str); 4] = [
    (
        "a",
        "trellis run examples/pingpong.olg --addr 10.231.0.1:11000 -D PEER=\\\"10.231.0.2:11000\\\"",
    ),
    (
        "b",
        "trellis run examples/pingpong.olg --addr 10.231.0.2:11000 -D PEER=\\\"10.231.0.1:11000\\\"",
    ),
    (
        "a",
        "trellis run examples/pingpong.olg --addr 10.231.0.1:11010 -D PEER=\\\"10.231.0.2:11010\\\" --transport tcp --bind 0.0.0.0:11010",
    ),
    (
        "b",
        "trellis run examples/pingpong.olg --addr 10.231.0.2:11010 -D PEER=\\\"10.231.0.1:11010\\\" --transport tcp --bind 0.0.0.0:11010",
    ),
];
