//! The conformance suite: every `tests/conformance/*.olg` program is run with
//! `trellis run` and its watch output compared with the expectation written
//! at the end of the file (derived by hand from the language's semantics,
//! docs/language.md).
//!
//! Header lines (anywhere in the file, each a `//` comment):
//!
//! - `// covers: ...` what the program checks (required, at least one),
//!   citing the section of docs/language.md (`5.3`; `docs 5 (triggers)` is
//!   the decision named so in §5);
//! - `// run: ARGS` extra arguments, split like a shell would (quotes and
//!   backslashes); the harness always passes `--addr n1 --clock virtual`, and
//!   `--for 10` and `--seed 7` unless ARGS set them;
//! - `// define: NAME=VALUE` becomes `-D NAME=VALUE` (VALUE split like ARGS,
//!   so `NAME=\"s\"` passes the string literal `"s"`);
//! - `// summary: key=value ...` checked against the summary object of a
//!   second, `--json` run; a key may be a dotted path
//!   (`errors_by_rule.r1=1`). The counters `errors`, `runaways`,
//!   `key_conflicts` and `dropped_inputs` are expected to be 0 unless given;
//! - `// stderr: TEXT` TEXT must occur in the text run's stderr;
//! - `// repeat: ARGS` the program is run twice more with ARGS added and the
//!   two runs must print exactly the same (determinism, docs/language.md §5.8).
//!
//! The expectation is a block
//!
//! ```text
//! /* expect
//! 0.000 1 insert count("n1", 0)
//! */
//! ```
//!
//! with one line per watch record: time, tick, kind and tuple, that is the
//! text output of `trellis run` without the node column, whitespace
//! normalised. A `*` in the time or tick column matches anything (for what
//! the documents leave open). Files ending in `.olgi` are included by others
//! and not run on their own.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const COUNTERS: [&str; 4] = ["errors", "runaways", "key_conflicts", "dropped_inputs"];

#[derive(Debug, Default)]
struct Spec {
    covers: usize,
    args: Vec<String>,
    defines: Vec<String>,
    summary: Vec<(String, String)>,
    stderr: Vec<String>,
    repeat: Option<Vec<String>>,
    expect: Option<Vec<String>>,
}

/// Split like a POSIX shell: whitespace separates words, `'...'` is
/// literal, `"..."` allows `\"` and `\\`, a bare `\` escapes the next
/// character.
fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated ' in `{text}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unterminated \" in `{text}`")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated \" in `{text}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(format!("trailing \\ in `{text}`")),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse_spec(text: &str) -> Result<Spec, String> {
    let mut spec = Spec::default();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if line == "/* expect" {
            let mut expect = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l.trim() == "*/" => break,
                    Some(l) if l.trim().is_empty() => {}
                    Some(l) => expect.push(normalise(l)),
                    None => return Err("the `/* expect` block is not closed".into()),
                }
            }
            if spec.expect.replace(expect).is_some() {
                return Err("two `/* expect` blocks".into());
            }
            continue;
        }
        let Some(comment) = line.strip_prefix("//") else {
            continue;
        };
        let Some((key, value)) = comment.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "covers" => spec.covers += 1,
            "run" => spec.args.extend(shell_words(value)?),
            "define" => {
                let words = shell_words(value)?;
                let [define] = words.as_slice() else {
                    return Err(format!("`// define: {value}` is not one NAME=VALUE"));
                };
                spec.defines.push(define.clone());
            }
            "summary" => {
                for pair in value.split_whitespace() {
                    let (k, v) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("`{pair}` in `// summary:` is not key=value"))?;
                    spec.summary.push((k.to_string(), v.to_string()));
                }
            }
            "stderr" => spec.stderr.push(value.to_string()),
            "repeat" => spec.repeat = Some(shell_words(value)?),
            _ => {}
        }
    }
    if spec.covers == 0 {
        return Err("no `// covers:` line".into());
    }
    if spec.expect.is_none() {
        return Err("no `/* expect ... */` block".into());
    }
    Ok(spec)
}

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

/// Does an actual line match an expected one (`*` for time or tick)?
fn line_matches(expected: &str, actual: &str) -> bool {
    let mut e = expected.splitn(3, ' ');
    let mut a = actual.splitn(3, ' ');
    for _ in 0..2 {
        match (e.next(), a.next()) {
            (Some("*"), Some(_)) => {}
            (x, y) if x == y => {}
            _ => return false,
        }
    }
    e.next() == a.next()
}

/// A line diff (longest common subsequence): `-` expected only, `+` actual
/// only.
fn diff(expected: &[String], actual: &[String]) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if line_matches(&expected[i], &actual[j]) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && line_matches(&expected[i], &actual[j]) {
            let _ = writeln!(out, "      {}", actual[j]);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "    - {}", expected[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "    + {}", actual[j]);
            j += 1;
        }
    }
    out
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

    let text_run = run(file, &spec, &[])?;
    let expected = spec.expect.as_deref().unwrap_or_default();
    let actual: Vec<String> = text_run.stdout.lines().map(record).collect();
    let same = expected.len() == actual.len()
        && expected
            .iter()
            .zip(&actual)
            .all(|(e, a)| line_matches(e, a));
    if !same {
        let _ = write!(
            problems,
            "  watch output differs (- expected, + actual):\n{}",
            diff(expected, &actual)
        );
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
    let mut checks = spec.summary.clone();
    for c in COUNTERS {
        if !checks.iter().any(|(k, _)| k == c) {
            checks.push((c.to_string(), "0".to_string()));
        }
    }
    for (key, want) in &checks {
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
                diff(&a, &b)
            );
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn programs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "olg"))
        .collect();
    files.sort();
    files
}

#[test]
fn conformance() {
    let files = programs();
    assert!(!files.is_empty(), "no conformance programs found");
    let results: Vec<(PathBuf, Result<(), String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|f| scope.spawn(move || (f.clone(), check(f))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a checking thread panicked"))
            .collect()
    });
    let mut failed = Vec::new();
    for (file, result) in &results {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        if let Err(report) = result {
            eprintln!("FAIL {name}\n{report}");
            failed.push(name.into_owned());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} conformance programs failed: {}",
        failed.len(),
        results.len(),
        failed.join(", ")
    );
}

#[test]
fn shell_words_split_like_a_shell() {
    assert_eq!(
        shell_words(r#"--for 5 --fact 'e(LOCALADDRESS, 1)' X=\"s\" "a\"b""#).unwrap(),
        [
            "--for",
            "5",
            "--fact",
            "e(LOCALADDRESS, 1)",
            "X=\"s\"",
            "a\"b"
        ]
    );
}

#[test]
fn records_drop_the_node_column() {
    assert_eq!(
        record(r#"    1.000s n1 tick 2     event   hello("n1", "b")"#),
        r#"1.000 2 event hello("n1", "b")"#
    );
    assert!(line_matches("1.000 * event x()", "1.000 17 event x()"));
    assert!(!line_matches("1.000 * event x()", "1.000 17 event y()"));
}
