//! Warnings as a user meets them: silenced by kind (`-A`), a relation
//! declared `external`, a cluster's warnings printed once, and a runaway
//! cascade reported with the same line by every runner.

mod support;

use support::{run_trellis as trellis, text, write_file as program};

/// `lookup` is only read: it is meant to be injected.
const INJECTED: &str = "watch(found).\nr1 found(@N, K) :- lookup(@N, K).\n";

#[test]
fn a_warning_kind_can_be_silenced_in_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let prog = program(dir.path(), "p.olg", INJECTED);
    let commands: [&[&str]; 5] = [
        &["check", &prog],
        &["explain", &prog],
        &["run", &prog, "--clock", "virtual"],
        &["sim", &prog, "--nodes", "1", "--for", "1"],
        &[
            "cluster",
            &prog,
            "--nodes",
            "1",
            "--base-port",
            "13710",
            "--for",
            "0.2",
        ],
    ];
    for command in commands {
        let loud = trellis(command);
        assert!(loud.status.success(), "{command:?}: {}", text(&loud.stderr));
        assert!(
            text(&loud.stderr).contains("trellis::plan::never_derived"),
            "{command:?}: {}",
            text(&loud.stderr)
        );
        for allow in [["-A", "never_derived"], ["--allow", "warnings"]] {
            let mut args = command.to_vec();
            args.extend(allow);
            let quiet = trellis(&args);
            assert!(quiet.status.success(), "{args:?}: {}", text(&quiet.stderr));
            assert!(
                !text(&quiet.stderr).contains("never_derived"),
                "{args:?}: {}",
                text(&quiet.stderr)
            );
        }
    }
    let typo = trellis(&["check", &prog, "-A", "never_derivd"]);
    assert_eq!(typo.status.code(), Some(2));
    let err = text(&typo.stderr);
    assert!(err.contains("no warning is called `never_derivd`"), "{err}");
}

#[test]
fn an_external_relation_is_not_reported_as_never_derived() {
    let dir = tempfile::tempdir().unwrap();
    let declared = program(
        dir.path(),
        "declared.olg",
        &format!("external(lookup).\n{INJECTED}"),
    );
    let out = trellis(&["check", &declared]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    // The hint names the declaration; P2 programs without it still check.
    let plain = program(dir.path(), "plain.olg", INJECTED);
    let out = trellis(&["check", &plain]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("`external(lookup).`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_cluster_prints_each_warning_once() {
    let dir = tempfile::tempdir().unwrap();
    let prog = program(dir.path(), "p.olg", INJECTED);
    let out = trellis(&[
        "cluster",
        &prog,
        "--nodes",
        "3",
        "--base-port",
        "13720",
        "--for",
        "0.2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(
        err.matches("trellis::plan::never_derived").count(),
        1,
        "{err}"
    );
}

#[test]
fn every_runner_reports_a_runaway_cascade_with_its_rules() {
    let dir = tempfile::tempdir().unwrap();
    let prog = program(
        dir.path(),
        "loop.olg",
        "materialize(c, infinity, 1, keys(1)).\n\
         r0 c(@N, 0) :- periodic(@N, E, 1, 1).\n\
         r1 go(@N, X) :- c(@N, X).\n\
         r2 c(@N, Y) :- go(@N, X), Y := X + 1.\n",
    );
    // The wall clock's instant is a few milliseconds past 1 s.
    let warning = "s) 50 ticks ran at one instant; the cascade was stopped \
                   (raise the bound with --max-ticks-per-instant). Rules involved: r1, r2";
    let bound = ["--max-ticks-per-instant", "50"];
    let runs: [&[&str]; 3] = [
        &["run", &prog, "--clock", "virtual"],
        &["run", &prog, "--transport", "none", "--for", "1.5"],
        &["sim", &prog, "--nodes", "1", "--for", "2"],
    ];
    for run in runs {
        let mut args = run.to_vec();
        args.extend(bound);
        let out = trellis(&args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(err.contains(warning), "{args:?}: {err}");
    }
}
