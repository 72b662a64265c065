//! The watch stream narrowed (`--watch-node`, `--watch-kind`,
//! `--watch-from`/`--watch-until`) and the simulator's faults (crash,
//! restart, partition, heal) in it.

mod support;

use support::{run_trellis as trellis, text, write_file as file};

/// Every node writes `seen(@N, 1)` every second: inserted once, then
/// refreshed; node 1 crashes at 2.5 s and restarts at 3.5 s; a partition
/// from 4.5 s to 5.5 s.
const PROGRAM: &str = "materialize(seen, infinity, infinity, keys(1, 2)).\n\
                       watch(seen).\n\
                       r1 seen(@N, 1) :- periodic(@N, E, 1).\n";
const SCENARIO: &str = "[simulation]\nnodes = 3\nduration = 6\n\
                        [[event]]\nat = 2.5\naction = \"crash\"\nnode = 1\n\
                        [[event]]\nat = 3.5\naction = \"restart\"\nnode = 1\n\
                        [[event]]\nat = 4.5\naction = \"partition\"\nname = \"split\"\ngroups = [[0], [1, 2]]\n\
                        [[event]]\nat = 5.5\naction = \"heal\"\nname = \"split\"\n";

fn sim(extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let prog = file(dir.path(), "seen.olg", PROGRAM);
    let scenario = file(dir.path(), "faults.toml", SCENARIO);
    let mut args = vec!["sim", prog.as_str(), "--scenario", scenario.as_str()];
    args.extend(extra);
    let out = trellis(&args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    watch_lines(&text(&out.stdout))
}

/// The watch lines of the output: those that start with a time.
fn watch_lines(stdout: &str) -> String {
    stdout
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .and_then(|t| t.strip_suffix('s'))
                .is_some_and(|t| t.parse::<f64>().is_ok())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn faults_are_in_the_watch_stream() {
    let all = sim(&[]);
    for line in [
        "    2.500s node1:9000 crash",
        "    3.500s node1:9000 restart",
        "    4.500s partition `split`",
        "    5.500s heal `split`",
    ] {
        assert!(all.contains(line), "{line:?} missing:\n{all}");
    }
    let json = {
        let dir = tempfile::tempdir().unwrap();
        let prog = file(dir.path(), "seen.olg", PROGRAM);
        let scenario = file(dir.path(), "faults.toml", SCENARIO);
        text(&trellis(&["sim", &prog, "--scenario", &scenario, "--json"]).stdout)
    };
    assert!(
        json.contains(r#"{"fault":"crash","node":"node1:9000","time":2.5}"#),
        "{json}"
    );
}

#[test]
fn the_stream_narrows_by_node_kind_and_time() {
    let all = sim(&[]);
    assert!(all.contains("refresh seen("), "{all}");

    let node0 = sim(&["--watch-node", "node0:9000"]);
    assert!(node0.contains("node0:9000 tick"), "{node0}");
    assert!(!node0.contains("node1:9000 tick"), "{node0}");
    assert!(!node0.contains("crash"), "node 1's crash: {node0}");
    assert!(
        node0.contains("partition `split`"),
        "the network's: {node0}"
    );

    // Inserts without the refreshes that follow them.
    let inserts = sim(&["--watch-kind", "insert"]);
    assert!(inserts.contains("insert  seen("), "{inserts}");
    assert!(!inserts.contains("refresh"), "{inserts}");
    // Node 1 inserts again after its restart, with empty tables.
    assert_eq!(inserts.matches("insert  seen(").count(), 4, "{inserts}");

    let faults = sim(&["--watch-kind", "fault"]);
    assert_eq!(faults.lines().count(), 4, "{faults}");

    let window = sim(&["--watch-from", "3", "--watch-until", "4"]);
    let times: Vec<&str> = window
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(!times.is_empty());
    assert!(
        times
            .iter()
            .all(|t| *t == "3.000s" || *t == "3.500s" || *t == "4.000s"),
        "{window}"
    );
}

#[test]
fn bad_filters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let prog = file(dir.path(), "seen.olg", PROGRAM);
    for (args, message) in [
        (
            vec!["sim", &prog, "--watch-node", "node99:9000"],
            "--watch-node node99:9000: no such node",
        ),
        (
            vec!["sim", &prog, "--watch-from", "5", "--watch-until", "1"],
            "--watch-from 5 is after --watch-until 1",
        ),
        (
            vec!["run", &prog, "--clock", "virtual", "--watch-from=nan"],
            "expected a number of seconds",
        ),
    ] {
        let out = trellis(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
    }
}

#[test]
fn a_lone_run_filters_by_kind_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let prog = file(dir.path(), "seen.olg", PROGRAM);
    let out = trellis(&[
        "run",
        &prog,
        "--clock",
        "virtual",
        "--for",
        "5",
        "--watch-kind",
        "refresh",
        "--watch-from",
        "3",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = watch_lines(&text(&out.stdout));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "refreshes at 3, 4 and 5 s: {stdout}");
    assert!(
        lines.iter().all(|l| l.contains("refresh seen(")),
        "{stdout}"
    );
}
