//! The conformance programs' specification, shared by the engine's
//! in-process run of every program (`trellis-engine/tests/conformance.rs`)
//! and the command line's end-to-end runs of a few
//! (`trellis/tests/conformance.rs`, which includes this file by path).
//!
//! Header lines (anywhere in the file, each a `//` comment):
//!
//! - `// covers: ...` what the program checks (required, at least one),
//!   citing the section of docs/language.md (`5.3`; `docs 5 (triggers)` is
//!   the decision named so in §5);
//! - `// run: ARGS` extra arguments of `trellis run`, split like a shell
//!   would (quotes and backslashes); the node is always `n1` on the virtual
//!   clock, for `--for 10` and with `--seed 7` unless ARGS set them;
//! - `// define: NAME=VALUE` becomes `-D NAME=VALUE` (VALUE split like ARGS,
//!   so `NAME=\"s\"` passes the string literal `"s"`);
//! - `// summary: key=value ...` checked against the run's counters (the
//!   summary object of `trellis run --json`); a key may be a dotted path
//!   (`errors_by_rule.r1=1`). The counters `errors`, `runaways`,
//!   `key_conflicts` and `dropped_inputs` are expected to be 0 unless given;
//! - `// stderr: TEXT` TEXT must occur in what the run reports (warnings and
//!   runtime problems);
//! - `// repeat: ARGS` the program is run twice more with ARGS added and the
//!   two runs must print exactly the same (determinism, docs/language.md
//!   §5.8).
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
//!
//! A program that shows where the two semantics differ (docs/language.md,
//! "P2 compatibility") has a second block, `/* expect p2 ... */`: it is run
//! with `--semantics tick` against the first block and with `--semantics
//! p2` against the second.

#![allow(dead_code)] // each includer uses its part

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub const COUNTERS: [&str; 4] = ["errors", "runaways", "key_conflicts", "dropped_inputs"];

#[derive(Debug, Default)]
pub struct Spec {
    pub covers: usize,
    pub args: Vec<String>,
    pub defines: Vec<String>,
    pub summary: Vec<(String, String)>,
    pub stderr: Vec<String>,
    pub repeat: Option<Vec<String>>,
    pub expect: Option<Vec<String>>,
    /// What the program prints in P2 semantics, when it shows a difference.
    pub expect_p2: Option<Vec<String>>,
}

/// Split like a POSIX shell: whitespace separates words, `'...'` is
/// literal, `"..."` allows `\"` and `\\`, a bare `\` escapes the next
/// character.
pub fn shell_words(text: &str) -> Result<Vec<String>, String> {
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

pub fn normalise(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn parse_spec(text: &str) -> Result<Spec, String> {
    let mut spec = Spec::default();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        if let Some(opening @ ("/* expect" | "/* expect p2")) = Some(line) {
            let mut expect = Vec::new();
            loop {
                match lines.next() {
                    Some(l) if l.trim() == "*/" => break,
                    Some(l) if l.trim().is_empty() => {}
                    Some(l) => expect.push(normalise(l)),
                    None => return Err(format!("the `{opening}` block is not closed")),
                }
            }
            let block = match opening {
                "/* expect" => &mut spec.expect,
                _ => &mut spec.expect_p2,
            };
            if block.replace(expect).is_some() {
                return Err(format!("two `{opening}` blocks"));
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

/// Does an actual line match an expected one (`*` for time or tick)?
pub fn line_matches(expected: &str, actual: &str) -> bool {
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
pub fn diff(expected: &[String], actual: &[String]) -> String {
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

/// Compare a run's records with the expectation; the diff if they differ.
pub fn compare(expected: &[String], actual: &[String]) -> Option<String> {
    let same = expected.len() == actual.len()
        && expected.iter().zip(actual).all(|(e, a)| line_matches(e, a));
    (!same).then(|| diff(expected, actual))
}

/// The summary checks of a spec, with the counters expected 0 by default.
pub fn summary_checks(spec: &Spec) -> Vec<(String, String)> {
    let mut checks = spec.summary.clone();
    for c in COUNTERS {
        if !checks.iter().any(|(k, _)| k == c) {
            checks.push((c.to_string(), "0".to_string()));
        }
    }
    checks
}

/// The conformance programs' directory.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../trellis-engine/tests/conformance")
}

/// The conformance programs, sorted.
pub fn programs() -> Vec<PathBuf> {
    let dir = dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "olg"))
        .collect();
    files.sort();
    files
}
