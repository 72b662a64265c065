//! The command line as a user meets it: exit codes, the plan printers, the
//! simulator's outputs and its reproducibility, and the programs shown in
//! the docs and examples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn trellis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the trellis binary runs")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `trellis sim PROGRAM --scenario FILE EXTRA...`, FILE holding `scenario`.
fn sim_with_scenario(program: &str, scenario: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    let mut args = vec!["sim", program, "--scenario", file.to_str().unwrap()];
    args.extend(extra);
    trellis(&args)
}

#[test]
fn check_exit_codes_and_diagnostics() {
    let ok = trellis(&["check", "examples/chord.olg"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(
        text(&ok.stderr).contains("ok: 33 rules"),
        "{}",
        text(&ok.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.olg");
    std::fs::write(&bad, "r1 out(@N, X) :- input(@N, Y).\n").unwrap();
    let out = trellis(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("variable `X` in the head is not bound"),
        "{err}"
    );
    assert!(err.contains("bad.olg:1:12"), "{err}");
    assert!(err.contains("help:"), "{err}");

    // A file that cannot be read is an I/O error (exit 2) in one line, not
    // a diagnostic with an empty source box, for every command that loads.
    for command in [
        vec!["check"],
        vec!["explain"],
        vec!["graph"],
        vec!["sim"],
        vec!["run"],
        vec!["cluster", "--nodes", "1"],
    ] {
        let mut args = command.clone();
        args.insert(1, "nofile.olg");
        let missing = trellis(&args);
        assert_eq!(missing.status.code(), Some(2), "{command:?}");
        assert_eq!(
            text(&missing.stderr),
            "error: cannot read nofile.olg: No such file or directory\n",
            "{command:?}"
        );
    }
}

#[test]
fn defines_unused_or_without_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("flag.olg");
    std::fs::write(
        &prog,
        "#ifndef FOO\nthis does not parse\n#endif\n\
         materialize(t, infinity, infinity, keys(1)).\n\
         r1 t(@N, X) :- e(@N, X), X == FOO.\n",
    )
    .unwrap();
    let prog = prog.to_str().unwrap();
    // `-D FOO` alone defines FOO (as 1, as cc does), and the help says so.
    let out = trellis(&["check", prog, "-D", "FOO"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    let help = text(&trellis(&["check", "--help"]).stdout);
    assert!(help.contains("-D <NAME[=VALUE]>"), "{help}");
    assert!(help.contains("alone defines NAME as 1"), "{help}");

    // A define the program never mentions is a warning naming it.
    let out = trellis(&["check", prog, "-D", "FOO=2", "-D", "NOSUCH=8"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("`-D NOSUCH` is never used by the program"),
        "{err}"
    );
    assert!(!err.contains("`-D FOO`"), "{err}");
}

#[test]
fn the_check_summary_counts_in_the_singular() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("one.olg");
    std::fs::write(
        &prog,
        "materialize(t, infinity, infinity, keys(1)).\nr1 t(@N, X) :- e(@N, X).\n",
    )
    .unwrap();
    let out = trellis(&["check", prog.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("ok: 1 rule (1 after localization), 1 table, 1 stratum\n"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn explain_and_graph_describe_the_plan() {
    let out = trellis(&["explain", "examples/chord.olg"]);
    assert!(out.status.success());
    let plan = text(&out.stdout);
    for needle in [
        "Strata (within a tick):",
        "l1 (stratum 0): lookupResults(@R, K, S, SI, E)",
        "strand triggered by new lookup:",
        "send lookupResults to R at the end of the tick",
        "succ (3 fields): table, key (1, 3), lifetime 16s",
    ] {
        assert!(plan.contains(needle), "missing {needle:?} in\n{plan}");
    }
    let dot = text(&trellis(&["graph", "examples/chord.olg"]).stdout);
    assert!(dot.starts_with("digraph plan {") && dot.trim_end().ends_with('}'));
    let mermaid = text(&trellis(&["graph", "examples/chord.olg", "--format", "mermaid"]).stdout);
    assert!(mermaid.starts_with("flowchart LR"));
}

#[test]
fn the_calm_analysis_is_shown_by_explain_graph_and_check() {
    // Every example program can be analysed.
    for path in example_programs() {
        let out = trellis(&["explain", "--calm", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        assert!(text(&out.stdout).contains("Points of order:"));
    }
    let cart = text(&trellis(&["explain", "--calm", "examples/calm/cart.olg"]).stdout);
    for needle in [
        "Sent between nodes (asynchronous): `add`, `remove`, `checkout`",
        "c2: non-monotone: deletes from `cart`",
        "`c2` at examples/calm/cart.olg:",
        "what can go wrong: `c2` deletes `cart` rows when `remove` arrives",
        "order: order-dependent (Bloom: D (diffluent))",
    ] {
        assert!(cart.contains(needle), "missing {needle:?} in\n{cart}");
    }
    let gossip = text(&trellis(&["explain", "--calm", "examples/calm/gossip.olg"]).stdout);
    assert!(gossip.contains("Points of order: 0"), "{gossip}");
    assert!(gossip.contains("seen: asynchronous"), "{gossip}");
    // check --calm: a rendered warning per point of order, still exit 0.
    let out = trellis(&["check", "--calm", "examples/calm/cart.olg"]);
    assert!(out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("trellis::calm::point_of_order"), "{stderr}");
    assert!(stderr.contains("c2 delete cart(@S, C, Item)"), "{stderr}");
    assert!(stderr.contains("points of order"), "{stderr}");
    let plain = text(&trellis(&["check", "examples/calm/cart.olg"]).stderr);
    assert!(!plain.contains("point_of_order"), "{plain}");
    // graph --calm colours the rule with a point of order.
    let dot = text(&trellis(&["graph", "--calm", "examples/calm/cart.olg"]).stdout);
    assert!(dot.starts_with("digraph calm {"), "{dot}");
    assert!(dot.contains("fillcolor=red"), "{dot}");
    let mermaid = text(
        &trellis(&[
            "graph",
            "--calm",
            "--format",
            "mermaid",
            "examples/calm/gossip.olg",
        ])
        .stdout,
    );
    assert!(
        mermaid.contains("fill:green") && !mermaid.contains("fill:red"),
        "{mermaid}"
    );
}

/// docs/calm.md shows `trellis explain --calm examples/chord.olg` as it is.
#[test]
fn the_calm_guide_shows_chord_s_analysis() {
    let guide = std::fs::read_to_string(root().join("docs/calm.md")).unwrap();
    let shown = guide
        .split("<!-- chord-calm -->\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/calm.md shows the Chord analysis in a marked block");
    let actual = text(&trellis(&["explain", "--calm", "examples/chord.olg"]).stdout);
    assert_eq!(shown, actual, "regenerate the block in docs/calm.md");
}

/// docs/calm.md shows `trellis explain --calm` of the lattice examples as
/// it is, in blocks marked `<!-- calm-output PROGRAM -->`.
#[test]
fn the_calm_guide_shows_the_lattice_examples_as_they_are() {
    let guide = std::fs::read_to_string(root().join("docs/calm.md")).unwrap();
    let blocks: Vec<&str> = guide.split("<!-- calm-output ").skip(1).collect();
    assert!(blocks.len() >= 2, "docs/calm.md shows lattice examples");
    for block in blocks {
        let (program, rest) = block.split_once(" -->\n```text\n").expect("a marked block");
        let shown = rest.split("```").next().unwrap();
        let actual = text(&trellis(&["explain", "--calm", program]).stdout);
        assert_eq!(
            shown, actual,
            "regenerate the {program} block in docs/calm.md"
        );
    }
}

/// Each lattice example runs in the simulator with its scenario (it
/// finishes, with no runtime error) and checks with `--calm`.
#[test]
fn the_lattice_examples_run_and_check() {
    for name in ["kvs", "quorum", "cart_lattice"] {
        let program = format!("examples/calm/{name}.olg");
        let scenario = format!("examples/calm/{name}.toml");
        let out = trellis(&["sim", &program, "--scenario", &scenario, "--quiet"]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        let summary = text(&out.stdout);
        assert!(summary.contains("0 runtime errors"), "{name}: {summary}");
        let out = trellis(&["check", "--calm", &program]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    }
    // The plan shows which fields merge.
    let plan = text(&trellis(&["explain", "examples/calm/quorum.olg"]).stdout);
    assert!(
        plan.contains("voters (3 fields): table, key (1, 2), lifetime infinity, max size infinity; field 3 merges by set"),
        "{plan}"
    );
}

#[test]
fn localization_is_visible_in_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("two.olg");
    std::fs::write(
        &prog,
        "materialize(succ, infinity, 1, keys(1)).\n\
         sb1 succ2(@N, S2) :- tick(@N), succ(@N, S), succ(@S, S2).\n",
    )
    .unwrap();
    let plan = text(&trellis(&["explain", prog.to_str().unwrap()]).stdout);
    assert!(plan.contains("sb1_loc1"), "{plan}");
    assert!(plan.contains("sb1_loc2"), "{plan}");
    assert!(plan.contains("send sb1_loc2 to S"), "{plan}");
    assert!(
        plan.contains("sb1_loc2 (3 fields): event, stratum 0; generated by localization"),
        "an event first: the stage ships an event\n{plan}"
    );
}

#[test]
fn localization_over_tables_ships_a_generated_table() {
    let plan = text(&trellis(&["explain", "examples/p2/reachability.olg"]).stdout);
    for needle in [
        // The link row's key (X, Y) and lifetime, at Y.
        "r2_loc2 (3 fields): table, key (1, 2, 3), lifetime infinity, max size infinity; \
         generated by localization",
        "r2_loc1 (stratum 0): r2_loc2(@Y, X, Y)",
        "a deleted, evicted or replaced row of its tables runs its strand again, sending deletes",
        // New rows on either side re-fire the second stage.
        "strand triggered by new r2_loc2:",
        "strand triggered by new reach:",
    ] {
        assert!(plan.contains(needle), "missing {needle:?} in\n{plan}");
    }
}

/// The README's first command, smaller: it runs, checks its answers, and a
/// replay from the saved run.toml gives the same trace hash.
#[test]
fn sim_reports_writes_files_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    let args = [
        "sim",
        "examples/chord.olg",
        "--scenario",
        "examples/chord/demo.toml",
        "--nodes",
        "40",
        "--for",
        "150",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let out = trellis(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("ring: converged at"), "{summary}");
    assert!(summary.contains("100.00% of"), "{summary}");
    for f in [
        "run.toml",
        "summary.json",
        "traffic.csv",
        "ring.csv",
        "measure-lookup.csv",
        "ring.svg",
        "latency-lookup.png",
    ] {
        assert!(out_dir.join(f).exists(), "{f} not written");
    }
    let hash = |s: &str| {
        s.lines()
            .find_map(|l| l.trim().strip_prefix("trace hash "))
            .expect("a trace hash")
            .to_string()
    };
    let replay = trellis(&[
        "sim",
        "examples/chord.olg",
        "--scenario",
        out_dir.join("run.toml").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    assert_eq!(hash(&summary), hash(&text(&replay.stdout)));
}

#[test]
fn sim_json_lines_carry_their_node() {
    let out = trellis(&[
        "sim",
        "examples/chord.olg",
        "--nodes",
        "5",
        "--for",
        "12",
        "--json",
        "--watch",
        "bestSucc",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let records: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l.get("relation").is_some())
        .collect();
    assert!(!records.is_empty());
    for r in &records {
        assert_eq!(r["relation"], "bestSucc");
        assert!(r["node"].as_str().unwrap().starts_with("node"));
        assert!(
            r["tuple"][1].as_str().unwrap().ends_with('I'),
            "IDs print as 0x...I"
        );
    }
    assert!(lines.last().unwrap().get("summary").is_some());
}

#[test]
fn bad_scenarios_are_reported() {
    let out = sim_with_scenario("examples/chord.olg", "[network]\nloss = 2.0\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("network.loss must be between 0 and 1"));
    let out = sim_with_scenario("examples/chord.olg", "[simulation]\nnodez = 3\n", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown field `nodez`"),
        "{}",
        text(&out.stderr)
    );
}

/// Every OverLog block in the docs and every example program compiles.
/// Every `.olg` file under examples/, in its subfolders too.
fn example_programs() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root().join("examples")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "olg") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn docs_and_examples_compile() {
    let mut programs: Vec<(String, String)> = Vec::new();
    for doc in [
        "README.md",
        "docs/tutorial.md",
        "docs/language.md",
        "docs/calm.md",
        "docs/simulator.md",
        "docs/cli.md",
        "docs/networking.md",
        "docs/security.md",
        "docs/provenance.md",
    ] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for (i, block) in text.split("```olg\n").skip(1).enumerate() {
            let code = block.split("```").next().unwrap();
            programs.push((format!("{doc} block {}", i + 1), code.to_string()));
        }
    }
    assert!(programs.len() >= 3, "the docs show programs");
    for path in example_programs() {
        programs.push((
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        ));
    }
    let options = trellis_syntax::ParseOptions {
        defines: Vec::new(),
        node_params: vec!["NODEID".into(), "LANDMARK".into()],
    };
    for (name, code) in programs {
        if let Err(d) = trellis_plan::load_str(&name, &code, &options) {
            panic!(
                "{name} does not compile:\n{}",
                trellis_render::render_all(&d, trellis_render::Style::Plain)
            );
        }
    }
}

/// Every scenario the simulator guide shows is one `trellis sim` accepts
/// with the program it is written for (run for one virtual second).
#[test]
fn the_simulator_guide_s_scenarios_run() {
    let guide = std::fs::read_to_string(root().join("docs/simulator.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<&str> = guide
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(blocks.len() >= 2, "the guide shows scenarios");
    for (i, block) in blocks.iter().enumerate() {
        let file = dir.path().join(format!("block{i}.toml"));
        std::fs::write(&file, block).unwrap();
        let out = trellis(&[
            "sim",
            "examples/chord.olg",
            "--scenario",
            file.to_str().unwrap(),
            "--for",
            "1",
            "-q",
        ]);
        assert!(
            out.status.success(),
            "block {} of docs/simulator.md:\n{block}\n{}",
            i + 1,
            text(&out.stderr)
        );
    }
}

/// A closure whose first tick makes 28 path derivations: within a bound of
/// 1,000 it completes; with `--max-derivations-per-tick 20` the tick is
/// stopped and reported as a runaway, its writes dropped.
#[test]
fn runaway_bounds_are_set_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let prog = dir.path().join("tc.olg");
    let mut text_of = String::from(
        "materialize(link, infinity, infinity, keys(1,2,3)).\n\
         materialize(path, infinity, infinity, keys(1,2,3)).\n\
         r1 path(@N, X, Y) :- link(@N, X, Y).\n\
         r2 path(@N, X, Z) :- link(@N, X, Y), path(@N, Y, Z).\n",
    );
    for i in 0..28 {
        text_of.push_str(&format!("link(LOCALADDRESS, {i}, {}).\n", i + 1));
    }
    std::fs::write(&prog, text_of).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            prog.to_str().unwrap(),
            "--clock",
            "virtual",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = trellis(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let last = stdout.lines().last().expect("a summary line").to_string();
        let summary: serde_json::Value = serde_json::from_str(&last).unwrap();
        (summary["summary"].clone(), stdout)
    };
    let (whole, _) = run(&["--max-derivations-per-tick", "1000"]);
    assert_eq!(whole["runaways"], 0, "{whole}");
    let (stopped, stdout) = run(&["--max-derivations-per-tick", "20"]);
    assert_eq!(stopped["runaways"], 1, "{stopped}");
    assert!(stdout.contains("\"problem\":\"runaway\""), "{stdout}");
    assert!(stdout.contains("r1"), "the rule is named: {stdout}");
}

#[test]
fn a_closed_stdout_does_not_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // `trellis sim ... | head -1`: read one line, then close the pipe.
    let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args([
            "sim",
            "examples/chord.olg",
            "--nodes",
            "5",
            "--for",
            "5",
            "--watch",
            "all",
        ])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the trellis binary runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(!first.is_empty());
    // The reader (and with it the pipe) is dropped here.
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn cluster_and_inject_offer_only_the_transports_they_accept() {
    for command in [
        vec!["cluster", "examples/chord.olg", "--nodes", "2"],
        vec!["inject", "127.0.0.1:9", "ping(@LOCALADDRESS, 1)"],
    ] {
        let mut help = command[..1].to_vec();
        help.push("--help");
        let out = trellis(&help);
        assert!(out.status.success());
        let help = text(&out.stdout);
        // The option's entry: from `--transport` to its default.
        let start = help.find("--transport").expect("a --transport option");
        let end = start + help[start..].find("[default").expect("a default");
        let entry = &help[start..end];
        assert!(entry.contains("udp") && entry.contains("tcp"), "{entry}");
        assert!(!entry.contains("none"), "{entry}");

        let mut args = command.clone();
        args.extend(["--transport", "none"]);
        let out = trellis(&args);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("invalid value 'none'"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[cfg(unix)]
#[test]
fn cluster_keys_must_be_long_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cluster.key");
    let shown = key.display().to_string();
    let cases: [(&[u8], u32, &str); 2] =
        [(&[7; 32], 0o644, "chmod 600"), (b"k", 0o600, "at least 16")];
    for (bytes, mode, expect) in cases {
        std::fs::write(&key, bytes).unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).unwrap();
        for args in [
            &["inject", "127.0.0.1:9", "p(1)", "--cluster-key", &shown][..],
            &[
                "cluster",
                "examples/ring.olg",
                "--nodes",
                "1",
                "--cluster-key",
                &shown,
            ][..],
        ] {
            let out = trellis(args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = text(&out.stderr);
            assert!(
                err.contains(expect) && err.contains(&shown),
                "{args:?}: {err}"
            );
        }
    }
}

/// A runaway bound of 0 looped forever piling up reports; it is refused
/// before anything runs, with exit 2 and the flag named.
#[test]
fn runaway_bounds_of_zero_are_refused() {
    for flag in ["--max-ticks-per-instant", "--max-derivations-per-tick"] {
        for command in [
            vec!["sim", "examples/pingpong.olg"],
            vec!["run", "examples/pingpong.olg"],
        ] {
            let mut args = command.clone();
            args.extend([flag, "0"]);
            let out = trellis(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = text(&out.stderr);
            assert!(
                err.contains(flag) && err.contains("at least 1"),
                "{args:?}: {err}"
            );
        }
    }
    let out = trellis(&[
        "sim",
        "examples/pingpong.olg",
        "-q",
        "--for",
        "1",
        "--max-ticks-per-instant",
        "1",
        "--max-derivations-per-tick",
        "1",
    ]);
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// The bounds on replay windows and name lookups refuse 0 (and a lookup
/// time that is no time, or forever), and need a network transport.
#[test]
fn replay_and_resolve_bounds_are_checked() {
    for (flag, value, says) in [
        ("--replay-senders", "0", "at least 1"),
        ("--resolve-cache", "0", "at least 1"),
        ("--resolve-queue", "0", "at least 1"),
        ("--resolve-timeout", "0", "above 0"),
        ("--resolve-timeout", "NaN", "above 0"),
        ("--resolve-timeout", "1e9", "at most 86400"),
    ] {
        let out = trellis(&["run", "examples/pingpong.olg", flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let err = text(&out.stderr);
        assert!(
            err.contains(flag) && err.contains(says),
            "{flag} {value}: {err}"
        );
    }
    let out = trellis(&[
        "run",
        "examples/pingpong.olg",
        "--clock",
        "virtual",
        "--replay-senders",
        "8",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("need a network transport"),
        "{}",
        text(&out.stderr)
    );
}

/// `--nodes 10000000` tried allocations of many GB (and `u64::MAX` nodes
/// panicked): over the bound, the run is refused with exit 2.
#[test]
fn too_many_nodes_are_refused_before_allocating() {
    for n in ["10000000", "18446744073709551615"] {
        let out = trellis(&["sim", "examples/pingpong.olg", "-q", "--nodes", n]);
        assert_eq!(out.status.code(), Some(2), "{n}");
        let err = text(&out.stderr);
        assert!(
            err.contains("more than the bound of 1000000 nodes"),
            "{err}"
        );
        assert!(err.contains("--max-nodes"), "{err}");
    }
    let out = trellis(&[
        "sim",
        "examples/pingpong.olg",
        "-q",
        "--nodes",
        "3",
        "--max-nodes",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bound of 2 nodes"));
}

/// An event at or after the scenario's own end is refused; `--for` cuts a
/// run short on purpose, so the events after it are dropped with a note.
#[test]
fn events_after_the_end_are_refused_unless_for_cuts_the_run() {
    let crash =
        "[simulation]\nnodes = 2\nduration = 5\n[[event]]\nat = 3\naction = \"crash\"\nnode = 1\n";
    let late = format!("{crash}[[event]]\nat = 5\naction = \"restart\"\nnode = 1\n");
    let out = sim_with_scenario("examples/pingpong.olg", &late, &["-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("event at 5s: the run ends at 5s"),
        "{}",
        text(&out.stderr)
    );

    let out = sim_with_scenario("examples/pingpong.olg", crash, &["-q", "--for", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("note: 1 scenario event at or after 1s (--for) will not run")
    );
}
