//! Provenance through the binary: `trellis sim --provenance --out DIR`
//! writes the log, `trellis why DIR 'pattern'` explains tuples from it in
//! every format, `run` keeps provenance in its tables within the bounds.
//! Seeds are fixed: every run here is deterministic.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use support::{example, run_trellis, simulate_traced, text, write_file};

/// `trellis sim examples/provenance/relay.olg` with its scenario into
/// `dir`, with `extra` flags; its stdout.
fn relay(dir: &Path, extra: &[&str]) -> String {
    let program = example("provenance/relay.olg");
    let scenario = example("provenance/relay.toml");
    let out = dir.to_str().unwrap();
    let mut args = vec!["sim", &program, "--scenario", &scenario, "-q", "--out", out];
    args.extend(extra);
    let run = run_trellis(&args);
    assert!(run.status.success(), "{}", text(&run.stderr));
    text(&run.stdout)
}

/// `trellis why DIR PATTERN EXTRA...`: (exit code, stdout, stderr).
fn why(dir: &Path, pattern: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["why", dir.to_str().unwrap(), pattern];
    args.extend(extra);
    let out = run_trellis(&args);
    (
        out.status.code().expect("an exit code"),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The log's lines.
fn log(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("provenance.jsonl"))
        .expect("a provenance log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// The `E` of the timer that fired on `node` at `time`: random (from the
/// seed), the one field of the trees below not known beforehand.
fn timer_event(lines: &[Value], node: &str, time: f64) -> i64 {
    let timer = lines
        .iter()
        .find(|l| l["relation"] == "periodic" && l["node"] == node && l["time"] == time)
        .expect("the timer fired");
    assert_eq!(timer["cause"]["how"], "timer");
    timer["tuple"][1].as_i64().expect("an integer")
}

/// Token 8 by hand (relay.olg, relay.toml): injected at node0 at 3 s,
/// pending there; node0's timer sends it at 4 s (r1); 50 ms later node1
/// passes it on (r2); 50 ms after that node2, the end of the chain, keeps
/// it (r3).
fn token_8_by_hand(e: i64) -> String {
    format!(
        r#"arrived(@"node2:9000", 8, 2)  <- rule r3 on node2:9000 at 4.100s
  token(@"node2:9000", 8, 2)  <- received on node2:9000 at 4.100s from node1:9000
    token(@"node2:9000", 8, 2)  <- rule r2 on node1:9000 at 4.050s, sent
      token(@"node1:9000", 8, 1)  <- received on node1:9000 at 4.050s from node0:9000
        token(@"node1:9000", 8, 1)  <- rule r1 on node0:9000 at 4.000s, sent
          periodic(@"node0:9000", {e}, 2, 2)  <- timer on node0:9000 at 4.000s
          pending(@"node0:9000", 8)  <- rule r0 on node0:9000 at 3.000s
            start(@"node0:9000", 8)  <- injected on node0:9000 at 3.000s
          next(@"node0:9000", "node1:9000")  <- fact on node0:9000 at 0.000s
      next(@"node1:9000", "node2:9000")  <- fact on node1:9000 at 0.000s
"#
    )
}

#[test]
fn the_text_tree_crosses_nodes_as_computed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let summary = relay(dir.path(), &["--provenance"]);
    let lines = log(dir.path());
    assert!(
        summary.contains(&format!(
            "provenance: {} derivations written to {}",
            lines.len(),
            dir.path().join("provenance.jsonl").display()
        )),
        "{summary}"
    );
    let e = timer_event(&lines, "node0:9000", 4.0);
    let (code, out, err) = why(dir.path(), r#"arrived(@"node2:9000", 8, _)"#, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, token_8_by_hand(e));
    assert!(err.contains("1 tuple matched"), "{err}");
}

/// A JSON vertex's children: a rule's inputs, or a receipt's sender.
fn children(v: &Value) -> Vec<&Value> {
    match (&v["inputs"], &v["sender"]) {
        (Value::Array(inputs), _) => inputs.iter().collect(),
        (_, sender) if sender.is_object() => vec![sender],
        _ => Vec::new(),
    }
}

/// `how rule node` of `v` and its descendants, depth first, indented.
fn outline(v: &Value, depth: usize, out: &mut Vec<String>) {
    out.push(format!(
        "{}{} {} {}",
        "  ".repeat(depth),
        v["how"].as_str().unwrap(),
        v["rule"].as_str().unwrap_or("-"),
        v["node"].as_str().unwrap()
    ));
    for c in children(v) {
        outline(c, depth + 1, out);
    }
}

#[test]
fn the_json_tree_nests_inputs_and_senders_and_points_into_the_log() {
    let dir = tempfile::tempdir().unwrap();
    relay(dir.path(), &["--provenance"]);
    let lines = log(dir.path());
    let (code, out, err) = why(
        dir.path(),
        r#"arrived(@"node2:9000", 8, _)"#,
        &["--format", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let trees: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(trees.len(), 1);
    let mut shape = Vec::new();
    outline(&trees[0], 0, &mut shape);
    assert_eq!(
        shape,
        [
            "rule r3 node2:9000",
            "  recv - node2:9000",
            "    rule r2 node1:9000",
            "      recv - node1:9000",
            "        rule r1 node0:9000",
            "          timer - node0:9000",
            "          rule r0 node0:9000",
            "            inject - node0:9000",
            "          fact - node0:9000",
            "      fact - node1:9000",
        ]
    );
    let root = &trees[0];
    assert_eq!(root["tuple"], serde_json::json!(["node2:9000", 8, 2]));
    assert_eq!(root["inputs"][0]["from"], "node1:9000");
    assert_eq!(root["inputs"][0]["sender"]["sent"], true);
    // Every vertex is the log's line it names.
    let mut stack = vec![root];
    while let Some(v) = stack.pop() {
        let line = &lines[v["line"].as_u64().unwrap() as usize - 1];
        for field in ["node", "time", "relation", "tuple", "id"] {
            assert_eq!(v[field], line[field], "{field} of {v}");
        }
        stack.extend(children(v));
    }
}

/// DOT or Mermaid: each vertex's cluster, and the edges (from, to, is a
/// message).
struct Drawing {
    cluster_of: BTreeMap<String, String>,
    edges: Vec<(String, String, bool)>,
}

fn parse_dot(dot: &str) -> Drawing {
    let mut cluster_of = BTreeMap::new();
    let mut edges = Vec::new();
    let mut cluster = None;
    for line in dot.lines().map(str::trim) {
        if let Some(label) = line.strip_prefix("label=\"") {
            cluster = Some(label.trim_end_matches("\";").to_string());
        } else if line == "}" {
            cluster = None;
        } else if let Some((from, rest)) = line.split_once(" -> ") {
            let to = rest.split([' ', ';']).next().unwrap();
            edges.push((from.into(), to.into(), rest.contains("style=dashed")));
        } else if let (Some(c), Some((id, _))) = (&cluster, line.split_once(" [label=")) {
            cluster_of.insert(id.to_string(), c.clone());
        }
    }
    Drawing { cluster_of, edges }
}

fn parse_mermaid(mermaid: &str) -> Drawing {
    let mut cluster_of = BTreeMap::new();
    let mut edges = Vec::new();
    let mut cluster = None;
    for line in mermaid.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("subgraph ") {
            let name = rest.split_once("[\"").unwrap().1.trim_end_matches("\"]");
            cluster = Some(name.to_string());
        } else if line == "end" {
            cluster = None;
        } else if let Some((from, to)) = line.split_once(" -. message .-> ") {
            edges.push((from.into(), to.into(), true));
        } else if let Some((from, to)) = line.split_once(" --> ") {
            edges.push((from.into(), to.into(), false));
        } else if let Some(c) = &cluster {
            let id = line.split(['[', '(', '{']).next().unwrap();
            cluster_of.insert(id.to_string(), c.clone());
        }
    }
    Drawing { cluster_of, edges }
}

/// Token 8's graph: 10 tuples and 4 rule firings in their nodes'
/// clusters; 2 messages, node0 -> node1 -> node2; every other edge inside
/// one cluster.
fn check_drawing(d: &Drawing) {
    let per_cluster = |name: &str| d.cluster_of.values().filter(|c| *c == name).count();
    // node0: start, pending, periodic, next, token sent; r0, r1.
    assert_eq!(per_cluster("node0:9000"), 7, "{:?}", d.cluster_of);
    // node1: token received, next, token sent; r2.
    assert_eq!(per_cluster("node1:9000"), 4);
    // node2: token received, arrived; r3.
    assert_eq!(per_cluster("node2:9000"), 3);
    let messages: Vec<(&str, &str)> = d
        .edges
        .iter()
        .filter(|e| e.2)
        .map(|(f, t, _)| (d.cluster_of[f].as_str(), d.cluster_of[t].as_str()))
        .collect();
    assert_eq!(
        messages,
        [("node0:9000", "node1:9000"), ("node1:9000", "node2:9000")]
    );
    for (from, to, message) in &d.edges {
        assert_eq!(
            *message,
            d.cluster_of[from] != d.cluster_of[to],
            "{from} -> {to}"
        );
    }
    // Inputs into a firing, the firing into its output: 1 + 2 + 3 + 1
    // inputs (r3, r2, r1, r0), 4 outputs.
    assert_eq!(d.edges.iter().filter(|e| !e.2).count(), 11);
}

#[test]
fn dot_and_mermaid_draw_one_cluster_per_node_and_messages_between_them() {
    let dir = tempfile::tempdir().unwrap();
    relay(dir.path(), &["--provenance"]);
    let pattern = r#"arrived(@"node2:9000", 8, _)"#;
    let (code, dot, err) = why(dir.path(), pattern, &["--format", "dot"]);
    assert_eq!(code, 0, "{err}");
    assert!(dot.starts_with("digraph why {") && dot.contains("subgraph cluster_"));
    check_drawing(&parse_dot(&dot));
    let (code, mermaid, err) = why(dir.path(), pattern, &["--format", "mermaid"]);
    assert_eq!(code, 0, "{err}");
    assert!(mermaid.starts_with("flowchart LR\n"));
    assert!(!mermaid.contains("(@\""), "quotes in labels are escaped");
    check_drawing(&parse_mermaid(&mermaid));
}

#[test]
fn wildcards_pick_several_tuples_and_at_picks_an_earlier_derivation() {
    let dir = tempfile::tempdir().unwrap();
    relay(dir.path(), &["--provenance"]);
    let pattern = r#"arrived(@"node2:9000", _, _)"#;
    let roots = |extra: &[&str]| {
        let mut args = vec!["--format", "json"];
        args.extend(extra);
        let (code, out, err) = why(dir.path(), pattern, &args);
        assert_eq!(code, 0, "{err}");
        out.lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .map(|t| (t["tuple"][1].as_i64().unwrap(), t["time"].as_f64().unwrap()))
            .collect::<Vec<_>>()
    };
    // At the end: both tokens, token 7 as the timer's second firing sent it.
    assert_eq!(roots(&[]), [(7, 4.1), (8, 4.1)]);
    // At 3 s: only token 7 had arrived, sent by the first firing.
    assert_eq!(roots(&["--at", "3"]), [(7, 2.1)]);
    let (_, out, _) = why(dir.path(), pattern, &["--at", "3"]);
    let e = timer_event(&log(dir.path()), "node0:9000", 2.0);
    assert!(
        out.contains(&format!(
            r#"periodic(@"node0:9000", {e}, 2, 2)  <- timer on node0:9000 at 2.000s"#
        )),
        "{out}"
    );
    // A variable used twice matches equal fields: no token made 7 hops.
    let (code, _, err) = why(dir.path(), "arrived(@N, H, H)", &[]);
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = why(dir.path(), pattern, &["--at", "1"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no tuple matches") && err.contains("at or before 1s"),
        "{err}"
    );
}

#[test]
fn depth_bounds_the_tree_and_says_where_it_cut() {
    let dir = tempfile::tempdir().unwrap();
    relay(dir.path(), &["--provenance"]);
    let (code, out, err) = why(
        dir.path(),
        r#"arrived(@"node2:9000", 8, _)"#,
        &["--depth", "2"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        r#"arrived(@"node2:9000", 8, 2)  <- rule r3 on node2:9000 at 4.100s
  token(@"node2:9000", 8, 2)  <- received on node2:9000 at 4.100s from node1:9000
    token(@"node2:9000", 8, 2)  <- rule r2 on node1:9000 at 4.050s, sent  (not followed: --depth)
"#
    );
}

#[test]
fn the_same_seed_writes_the_same_log() {
    let runs: Vec<Vec<u8>> = ["1", "1", "2"]
        .iter()
        .map(|seed| {
            let dir = tempfile::tempdir().unwrap();
            relay(dir.path(), &["--provenance", "--seed", seed]);
            std::fs::read(dir.path().join("provenance.jsonl")).unwrap()
        })
        .collect();
    assert!(!runs[0].is_empty());
    assert_eq!(runs[0], runs[1], "seed 1 twice");
    // The timers' random `E` fields follow the seed.
    assert_ne!(runs[0], runs[2], "seed 2");
}

#[test]
fn a_bad_pattern_is_a_diagnostic_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    relay(dir.path(), &["--provenance"]);
    let (code, out, err) = why(dir.path(), r#"arrived(@"node2:9000", T + 1, _)"#, &[]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("trellis::pattern::not_constant"), "{err}");
    assert!(err.contains("pattern:1:24") && err.contains("─┬─"), "{err}");
    let (code, _, err) = why(dir.path(), r#"arrived(@"node2:9000", _"#, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("trellis::syntax::"), "{err}");
    let (code, _, err) = why(dir.path(), "arrived(@N, _, _) :- token(@N, _, _)", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("the end of the pattern"), "{err}");
    // Not a simulation's directory; a directory with no log.
    let (code, _, err) = why(&dir.path().join("nope"), "arrived(@N, _, _)", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a directory"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = why(empty.path(), "arrived(@N, _, _)", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--provenance --out DIR"), "{err}");
    // A pattern of the wrong relation or arity: exit 1, saying so.
    let (code, _, err) = why(dir.path(), "arrived(@N, _)", &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("`arrived` has 3 fields, the pattern 2"),
        "{err}"
    );
    let (code, _, err) = why(dir.path(), "arived(@N, _, _)", &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no derivation of `arived` is recorded"),
        "{err}"
    );
}

/// `trace(arrived).` alone writes the log, of `arrived` and what it is
/// derived from only; its `ruleExec`/`tupleTable` keep at most
/// `--provenance-rows` rows, and the summary counts what they dropped.
#[test]
fn a_trace_statement_writes_the_log_and_a_reader_of_the_tables_keeps_them_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let relay = std::fs::read_to_string(example("provenance/relay.olg")).unwrap();
    let program = write_file(
        dir.path(),
        "traced.olg",
        // A rule that reads ruleExec: the simulated nodes keep the tables.
        &format!(
            "{relay}\ntrace(arrived).\nr4 beat(@M, E) :- periodic(@M, E, 1, 3).\n\
             r5 execs(@N, R) :- ruleExec(@N, R, I, O, ON, T, X).\n"
        ),
    );
    let out = dir.path().join("out");
    let run = run_trellis(&[
        "sim",
        &program,
        "--scenario",
        &example("provenance/relay.toml"),
        "-q",
        "--out",
        out.to_str().unwrap(),
        "--provenance-rows",
        "4",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let summary = text(&run.stdout);
    let lines = log(&out);
    let relations: std::collections::BTreeSet<&str> = lines
        .iter()
        .map(|l| l["relation"].as_str().unwrap())
        .collect();
    assert_eq!(
        relations.into_iter().collect::<Vec<_>>(),
        ["arrived", "next", "pending", "periodic", "start", "token"]
    );
    // By hand: node0's rules derive pending 7 and 8, and send token 7 at
    // 2 s and tokens 7 and 8 at 4 s: 5 derivations, one more than the 4
    // rows kept. (node1 and node2 make 2 each: a token relayed again from
    // the same inputs is the same derivation, its row refreshed.)
    assert!(
        summary.contains("provenance table ruleExec: 0 rows expired, 1 evicted"),
        "{summary}"
    );
    // The summary's counts are the engine's.
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let tuples = &json["engine"]["relations"]["tupleTable"];
    assert!(tuples["evictions"].as_u64().unwrap() > 0, "{tuples}");
    assert!(summary.contains(&format!(
        "provenance table tupleTable: 0 rows expired, {} evicted",
        tuples["evictions"]
    )));
    let (code, out, err) = why(&out, r#"arrived(@"node2:9000", 8, _)"#, &[]);
    assert_eq!(code, 0, "{err}");
    let e = timer_event(&lines, "node0:9000", 4.0);
    assert_eq!(out, token_8_by_hand(e));
}

#[test]
fn a_run_that_traces_nothing_removes_an_older_log() {
    let dir = tempfile::tempdir().unwrap();
    relay(dir.path(), &["--provenance"]);
    assert!(dir.path().join("provenance.jsonl").exists());
    let program = example("provenance/relay.olg");
    let run = run_trellis(&[
        "sim",
        &program,
        "-q",
        "--for",
        "1",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(run.status.success());
    assert!(text(&run.stderr).contains("of an earlier run"));
    assert!(!dir.path().join("provenance.jsonl").exists());
}

/// `trellis run --provenance` keeps what it traces in `ruleExec` and
/// `tupleTable`, within `--provenance-rows`.
#[test]
fn run_keeps_provenance_in_bounded_tables() {
    let program = example("provenance/relay.olg");
    let args = |rows: &str| {
        let out = run_trellis(&[
            "run",
            &program,
            "--addr",
            "node0:9000",
            "--clock",
            "virtual",
            "--for",
            "5",
            "--fact",
            "start(@LOCALADDRESS, 7)",
            "--provenance",
            "--provenance-rows",
            rows,
            "--tables",
            "--json",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let summary: Value =
            serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
        summary["summary"].clone()
    };
    let roomy = args("100");
    // start, pending, the fact, 2 timer firings, 2 tokens sent: 7
    // derivations, 3 of them by rules.
    assert_eq!(
        roomy["tables"]["ruleExec"].as_array().unwrap().len(),
        3,
        "{roomy}"
    );
    let tuples = roomy["tables"]["tupleTable"].as_array().unwrap();
    assert_eq!(
        tuples.len(),
        5,
        "the tokens were sent, not kept here: {tuples:?}"
    );
    let tight = args("2");
    assert_eq!(tight["tables"]["ruleExec"].as_array().unwrap().len(), 2);
    assert_eq!(tight["relations"]["ruleExec"]["evictions"], 1);
    assert_eq!(tight["relations"]["tupleTable"]["evictions"], 3);
}

/// Chord (examples/chord.olg on a small ring): the answer to node9's first
/// lookup is explained across the ring, down to facts, timers and the
/// injected lookup, with no input left unexplained.
#[test]
fn a_chord_lookup_is_explained_down_to_facts_timers_and_its_injection() {
    let dir = tempfile::tempdir().unwrap();
    simulate_traced("chord.olg", "provenance/chord.toml", dir.path());
    // The workload numbers its lookups from 0; node9 asks first, at 40 s.
    let pattern = r#"lookupResults(@"node9:9000", _, _, _, 0)"#;
    // Deep enough for the whole tree: every leaf is a fact, a timer, the
    // injected lookup, or a step shown above.
    let (code, out, err) = why(dir.path(), pattern, &["--depth", "200"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 tuple matched"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut leaves: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, line) in lines.iter().enumerate() {
        let deeper = lines
            .get(i + 1)
            .is_some_and(|next| indent(next) > indent(line));
        if deeper {
            continue;
        }
        let how = line.split("  <- ").nth(1).expect("a step");
        let kind = if how.ends_with("(as above)") {
            "repeat"
        } else {
            how.split(' ').next().unwrap()
        };
        *leaves.entry(kind).or_default() += 1;
    }
    assert_eq!(
        leaves.keys().copied().collect::<Vec<_>>(),
        ["fact", "injected", "repeat", "timer"],
        "{leaves:?}\n{out}"
    );
    assert_eq!(leaves["injected"], 1, "the lookup itself");
    // The same tree as JSON (cut shorter: JSON readers bound nesting): each
    // receipt continues at its sender, the same tuple sent from there.
    let (code, out, err) = why(dir.path(), pattern, &["--format", "json", "--depth", "40"]);
    assert_eq!(code, 0, "{err}");
    let tree: Value = serde_json::from_str(out.trim_end()).unwrap();
    assert_eq!(tree["tuple"][0], "node9:9000");
    let mut nodes = std::collections::BTreeSet::new();
    let mut messages = 0;
    let mut stack = vec![&tree];
    while let Some(v) = stack.pop() {
        assert!(v.get("missing").is_none(), "an unexplained step: {v}");
        nodes.insert(v["node"].as_str().unwrap().to_string());
        if v["how"] == "recv" && v.get("cut").is_none() && v.get("repeat").is_none() {
            messages += 1;
            assert_eq!(v["sender"]["node"], v["from"], "{v}");
            assert_eq!(v["sender"]["id"], v["id"], "the same tuple, sent");
            assert_eq!(v["sender"]["sent"], true);
        }
        stack.extend(children(v));
    }
    assert!(
        messages >= 3 && nodes.len() >= 3,
        "{messages} messages, nodes {nodes:?}"
    );
}

/// The ```text (or ```mermaid) block after the line showing `command` in
/// docs/provenance.md.
fn guide_output(command: &str) -> String {
    let guide = std::fs::read_to_string(support::root().join("docs/provenance.md")).unwrap();
    let at = guide
        .find(&format!("{command}\n```\n"))
        .unwrap_or_else(|| panic!("the guide shows `{command}`"));
    let rest = &guide[at..];
    let open = ["\n```text\n", "\n```mermaid\n"]
        .iter()
        .filter_map(|fence| rest.find(fence))
        .min()
        .unwrap();
    let body = &rest[open + 1..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

/// The guide's and `why --help`'s sample outputs are what the commands
/// print, and its program is relay.olg's.
#[test]
fn the_guide_and_the_help_show_what_the_commands_print() {
    let run = tempfile::tempdir().unwrap();
    relay(run.path(), &["--provenance"]);
    let e = timer_event(&log(run.path()), "node0:9000", 4.0);
    for (shown, extra) in [
        ("trellis why run 'arrived(@\"node2:9000\", 8, _)'", vec![]),
        (
            "trellis why run 'arrived(@\"node2:9000\", _, _)' --at 3",
            vec!["--at", "3"],
        ),
        (
            "trellis why run 'arrived(@N, 8, _)' --format mermaid",
            vec!["--format", "mermaid"],
        ),
    ] {
        let pattern = support::shell_words(shown)[3].clone();
        let (code, out, err) = why(run.path(), &pattern, &extra);
        assert_eq!(code, 0, "{err}");
        assert_eq!(guide_output(shown), out, "{shown}");
    }
    assert_eq!(
        guide_output("trellis why run 'arrived(@\"node2:9000\", 8, _)'"),
        token_8_by_hand(e)
    );
    let help = text(&run_trellis(&["why", "--help"]).stdout);
    let indented: String = token_8_by_hand(e)
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    assert!(help.contains(&indented), "{help}");
    // The guide's program is relay.olg without its comments.
    let guide = std::fs::read_to_string(support::root().join("docs/provenance.md")).unwrap();
    let block = guide
        .split("```olg\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let program = std::fs::read_to_string(example("provenance/relay.olg")).unwrap();
    let code: Vec<&str> = program
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("/*") && !l.starts_with(" *"))
        .collect();
    assert_eq!(
        block.lines().filter(|l| !l.is_empty()).collect::<Vec<_>>(),
        code
    );
    // The Chord sample.
    let chord = tempfile::tempdir().unwrap();
    simulate_traced("chord.olg", "provenance/chord.toml", chord.path());
    let shown = "trellis why chord-run 'lookupResults(@\"node9:9000\", _, _, _, 0)' --depth 4";
    let (code, out, err) = why(
        chord.path(),
        r#"lookupResults(@"node9:9000", _, _, _, 0)"#,
        &["--depth", "4"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(guide_output(shown), out);
}

#[test]
fn the_json_summary_counts_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let out = relay(dir.path(), &["--provenance", "--json"]);
    let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let p = &last["provenance"];
    assert_eq!(p["derivations"], log(dir.path()).len());
    assert_eq!(
        p["file"],
        dir.path().join("provenance.jsonl").display().to_string()
    );
    // relay.olg does not keep provenance tables of its own.
    assert_eq!(p["tables"], serde_json::json!({}));
}

/// What a log can lack: an input never recorded, one recorded only later,
/// a receipt whose sender did not trace it or whose derivation is not in
/// the log, a receipt from an unknown sender. Each is a leaf saying so.
/// (The simulator traces what it sends, so these logs are written by hand.)
#[test]
fn inputs_and_senders_with_no_record_are_leaves_that_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let line = |time: f64, relation: &str, field: i64, id: u64, cause: &str| {
        format!(
            r#"{{"node":"a","time":{time:?},"tick":1,"relation":"{relation}","tuple":["a",{field}],"id":"{id:016x}","cause":{cause}}}"#
        )
    };
    let lines = [
        line(
            1.0,
            "r",
            1,
            1,
            r#"{"how":"rule","rule":"x","exec":"00000000000000e1","inputs":["0000000000000002","0000000000000003"],"sent":false}"#,
        ),
        line(2.0, "s", 2, 4, r#"{"how":"recv","from":"b","exec":null}"#),
        line(
            3.0,
            "q",
            3,
            3,
            r#"{"how":"recv","from":"b","exec":"00000000000000ff"}"#,
        ),
        line(4.0, "u", 4, 5, r#"{"how":"recv","from":null,"exec":null}"#),
    ];
    write_file(dir.path(), "provenance.jsonl", &(lines.join("\n") + "\n"));
    let explain = |pattern: &str| {
        let (code, out, err) = why(dir.path(), pattern, &[]);
        assert_eq!(code, 0, "{err}");
        out
    };
    assert_eq!(
        explain(r#"r(@"a", _)"#),
        r#"r(@"a", 1)  <- rule x on a at 1.000s
  tuple 0000000000000002  <- not traced
  q(@"a", 3)  <- no record on a before 1.000s
"#
    );
    assert_eq!(
        explain(r#"s(@"a", _)"#),
        "s(@\"a\", 2)  <- received on a at 2.000s from b  (the sender did not trace it)\n"
    );
    assert_eq!(
        explain(r#"q(@"a", _)"#),
        "q(@\"a\", 3)  <- received on a at 3.000s from b  (no record of the sender's derivation)\n"
    );
    assert_eq!(
        explain(r#"u(@"a", _)"#),
        "u(@\"a\", 4)  <- received on a at 4.000s  (sender unknown)\n"
    );
    let (_, json, _) = why(dir.path(), r#"r(@"a", _)"#, &["--format", "json"]);
    let tree: Value = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(tree["inputs"][0]["missing"], "not traced");
    assert_eq!(tree["inputs"][1]["missing"], "no record on a before 1.000s");
    assert_eq!(tree["inputs"][1]["tuple"], serde_json::json!(["a", 3]));
    // A line that is not a derivation: exit 2, naming the line.
    write_file(
        dir.path(),
        "provenance.jsonl",
        &format!("{}\n{{\"node\":1}}\n", lines[0]),
    );
    let (code, _, err) = why(dir.path(), r#"r(@"a", _)"#, &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("provenance.jsonl:2: not a derivation"),
        "{err}"
    );
}
