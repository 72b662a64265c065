//! The conformance programs end to end: a handful of
//! `trellis-engine/tests/conformance/*.olg` run with the `trellis run`
//! binary, text and `--json`, checked against what each file expects (the
//! engine's own tests run every one of them in process; see
//! `support/spec.rs` there for the format). These check what only the
//! command line adds: argument handling, printing, the JSON summary and
//! the messages on stderr.

#[path = "../../trellis-engine/tests/support/spec.rs"]
mod spec;

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use spec::{Spec, compare, normalise, parse_spec, summary_checks};

struct Outcome {
    stdout: String,
    stderr: String,
}

fn run(file: &Path, spec: &Spec, extra: &[String]) -> Result<Outcome, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trellis"));
    cmd.arg("run")
        .arg(file)
        .args(["--addr", "n1", "--clock", "virtual"]);
    if !spec.args.iter().any(|a| a == "--for") {
        cmd.args(["--for", "10"]);
    }
    if !spec.args.iter().any(|a| a == "--seed") {
        cmd.args(["--seed", "7"]);
    }
    cmd.args(&spec.args);
    for d in &spec.defines {
        cmd.arg("-D").arg(d);
    }
    cmd.args(extra);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run trellis: {e}"))?;
    let outcome = Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    if !out.status.success() {
        return Err(format!(
            "`trellis run` failed ({}); stderr:\n{}",
            out.status, outcome.stderr
        ));
    }
    Ok(outcome)
}

/// `    1.000s n1 tick 2     event   hello("n1", "b")` becomes
/// `1.000 2 event hello("n1", "b")`; other lines are kept as they are.
fn record(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [time, _node, "tick", tick, kind, tuple @ ..] if time.ends_with('s') => {
            format!(
                "{} {tick} {kind} {}",
                time.trim_end_matches('s'),
                tuple.join(" ")
            )
        }
        _ => normalise(line),
    }
}

fn lookup<'a>(summary: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(summary, |v, k| v.get(k))
}

fn value_matches(actual: &Value, expected: &str) -> bool {
    match serde_json::from_str::<Value>(expected) {
        Ok(Value::Number(n)) => actual.as_f64() == n.as_f64(),
        Ok(v) => *actual == v,
        Err(_) => actual.as_str() == Some(expected),
    }
}

/// Check one program; `Err` holds the report of what went wrong.
fn check(file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read: {e}"))?;
    let spec = parse_spec(&text)?;
    let mut problems = String::new();

    // A program that shows a difference runs in both semantics.
    let semantics = |name: &str| vec!["--semantics".to_string(), name.to_string()];
    let tick = match spec.expect_p2 {
        Some(_) => semantics("tick"),
        None => Vec::new(),
    };
    let text_run = run(file, &spec, &tick)?;
    let expected = spec.expect.as_deref().unwrap_or_default();
    let actual: Vec<String> = text_run.stdout.lines().map(record).collect();
    if let Some(diff) = compare(expected, &actual) {
        let _ = write!(
            problems,
            "  watch output differs (- expected, + actual):\n{diff}"
        );
    }
    if let Some(expected) = &spec.expect_p2 {
        let p2_run = run(file, &spec, &semantics("p2"))?;
        let actual: Vec<String> = p2_run.stdout.lines().map(record).collect();
        if let Some(diff) = compare(expected, &actual) {
            let _ = write!(
                problems,
                "  watch output with --semantics p2 differs (- expected, + actual):\n{diff}"
            );
        }
    }
    for s in &spec.stderr {
        if !text_run.stderr.contains(s.as_str()) {
            let _ = writeln!(problems, "  stderr lacks `{s}`");
        }
    }
    if !problems.is_empty() {
        let _ = writeln!(
            problems,
            "  stderr was:\n{}",
            text_run
                .stderr
                .lines()
                .map(|l| format!("    | {l}\n"))
                .collect::<String>()
        );
    }

    let json_run = run(file, &spec, &["--json".to_string()])?;
    let summary = json_run
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v.get("summary").cloned())
        .ok_or("the --json run printed no summary")?;
    for (key, want) in &summary_checks(&spec) {
        match lookup(&summary, key) {
            Some(v) if value_matches(v, want) => {}
            Some(v) => {
                let _ = writeln!(problems, "  summary {key}: expected {want}, got {v}");
            }
            None => {
                let _ = writeln!(problems, "  summary has no `{key}`");
            }
        }
    }

    if let Some(extra) = &spec.repeat {
        let first = run(file, &spec, extra)?;
        let second = run(file, &spec, extra)?;
        if first.stdout != second.stdout || first.stderr != second.stderr {
            let a: Vec<String> = first.stdout.lines().map(str::to_string).collect();
            let b: Vec<String> = second.stdout.lines().map(str::to_string).collect();
            let _ = write!(
                problems,
                "  two runs with {extra:?} differ (- first, + second):\n{}",
                spec::diff(&a, &b)
            );
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The programs run end to end: errors and runaways reported on stderr,
/// `--fact`, `-D`, includes, warnings, counters in the JSON summary, and
/// determinism across processes, `--semantics` and `semantics(p2).`.
const END_TO_END: [&str; 10] = [
    "p2mode_successor_bound",
    "p2mode_runaway",
    "runtime_errors",
    "s59_runaway",
    "s51_inputs",
    "macros_define",
    "macros_include",
    "syntax_forms",
    "s56_sent_once",
    "s58_determinism",
];

#[test]
fn a_few_programs_through_the_command_line() {
    let failed: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = END_TO_END
            .iter()
            .map(|name| {
                scope.spawn(move || {
                    let file = spec::dir().join(format!("{name}.olg"));
                    check(&file)
                        .err()
                        .map(|report| format!("FAIL {name}\n{report}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("a checking thread panicked"))
            .collect()
    });
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn records_drop_the_node_column() {
    assert_eq!(
        record(r#"    1.000s n1 tick 2     event   hello("n1", "b")"#),
        r#"1.000 2 event hello("n1", "b")"#
    );
    assert!(spec::line_matches(
        "1.000 * event x()",
        "1.000 17 event x()"
    ));
    assert!(!spec::line_matches(
        "1.000 * event x()",
        "1.000 17 event y()"
    ));
}
