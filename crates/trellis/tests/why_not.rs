//! `trellis why-not` through the binary, on examples/provenance/gate.olg:
//! a tuple blocked by a `notin`, by a missing join partner, by a false
//! condition and by a lost message, each explained from a replay of the
//! run; the replay is the run (same seed, same answers).

mod support;

use std::path::Path;

use support::{run_trellis, simulate_traced, text};

/// Simulate gate.olg into `dir`, with provenance.
fn gate(dir: &Path) {
    simulate_traced("provenance/gate.olg", "provenance/gate.toml", dir);
}

/// `trellis why-not DIR PATTERN EXTRA...`: (exit code, stdout, stderr).
fn why_not(dir: &Path, pattern: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["why-not", dir.to_str().unwrap(), pattern];
    args.extend(extra);
    let out = run_trellis(&args);
    (
        out.status.code().expect("an exit code"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn each_kind_of_absence_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    gate(dir.path());
    let ask = |pattern: &str| {
        let (code, out, err) = why_not(dir.path(), pattern, &[]);
        assert_eq!(code, 0, "{pattern}: {out}{err}");
        out
    };
    // Blocked by a notin.
    assert_eq!(
        ask(r#"admitted(@"node0:9000", "bob")"#),
        "admitted(@\"node0:9000\", \"bob\")  is not on node0:9000\n  \
         rule a1 on node0:9000: `notin banned` found banned(@\"node0:9000\", \"bob\") \
         with N=\"node0:9000\", U=\"bob\", S=4\n"
    );
    // A missing join partner, asked about in turn.
    assert_eq!(
        ask(r#"admitted(@"node0:9000", "dave")"#),
        "admitted(@\"node0:9000\", \"dave\")  is not on node0:9000\n  \
         rule a1 on node0:9000: no `member` matched with N=\"node0:9000\", U=\"dave\"\n    \
         member(@\"node0:9000\", \"dave\")  is not on node0:9000\n      \
         no rule derives `member`: its tuples only arrive (facts, injections)\n"
    );
    // A false condition, with the bindings that made it false.
    assert_eq!(
        ask(r#"admitted(@"node0:9000", "carol")"#),
        "admitted(@\"node0:9000\", \"carol\")  is not on node0:9000\n  \
         rule a1 on node0:9000: (S >= 3) is false with N=\"node0:9000\", U=\"carol\", S=1\n"
    );
    // A lost message: the sender derives it, and the log shows the send
    // that never arrived (the partition cut it).
    let lost = ask(r#"granted(@"node1:9000", "alice")"#);
    assert!(
        lost.starts_with(
            "granted(@\"node1:9000\", \"alice\")  <- sent by rule a2 on node0:9000 at 1.000s, \
             never received on node1:9000"
        ),
        "{lost}"
    );
    assert!(
        lost.contains("rule a2 on node0:9000: derives it now with N=\"node0:9000\", U=\"alice\""),
        "{lost}"
    );
}

#[test]
fn a_tuple_that_exists_or_a_bad_question_is_said_so() {
    let dir = tempfile::tempdir().unwrap();
    gate(dir.path());
    // alice was admitted: why-not points at why.
    let (code, out, _) = why_not(dir.path(), r#"admitted(@"node0:9000", "alice")"#, &[]);
    assert_eq!(code, 1);
    assert!(out.contains("is on node0:9000 at 5.000s"), "{out}");
    // ...but before the request came, it was not there.
    let (code, out, _) = why_not(
        dir.path(),
        r#"admitted(@"node0:9000", "alice")"#,
        &["--at", "0.5"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("no `request` matched"), "{out}");
    // The location must be an address; the relation must exist.
    let (code, _, err) = why_not(dir.path(), r#"admitted(@N, "bob")"#, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("give the pattern's location as an address"),
        "{err}"
    );
    let (code, _, err) = why_not(dir.path(), r#"nothing(@"node0:9000")"#, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no relation `nothing`"), "{err}");
    // A directory no simulation wrote.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = why_not(empty.path(), r#"admitted(@"node0:9000", "bob")"#, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("replay.json does not exist"), "{err}");
}

#[test]
fn json_gives_every_rule_with_its_block_and_what_is_below() {
    let dir = tempfile::tempdir().unwrap();
    gate(dir.path());
    let (code, out, _) = why_not(
        dir.path(),
        r#"admitted(@"node0:9000", "dave")"#,
        &["--format", "json"],
    );
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(j["exists"], false);
    let rule = &j["rules"][0];
    assert_eq!(rule["rule"], "a1");
    assert_eq!(rule["blocked"], "no_match");
    assert_eq!(rule["detail"], "member");
    assert_eq!(rule["bindings"]["U"], "\"dave\"");
    assert_eq!(rule["below"]["relation"], "member");
    assert_eq!(rule["below"]["arrives_only"], true);
}
