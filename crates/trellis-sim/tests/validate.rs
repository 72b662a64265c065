//! Scenario settings that would hang a run, exhaust memory or be silently
//! ignored are refused before the run, with a message naming the setting.

use trellis_sim::Scenario;

/// The error `Scenario::validate` gives for `toml`, which must parse.
fn refused(toml: &str) -> String {
    let scenario: Scenario = toml::from_str(toml).expect("parses");
    match scenario.validate() {
        Ok(()) => panic!("accepted:\n{toml}"),
        Err(e) => e.to_string(),
    }
}

fn accepted(toml: &str) {
    let scenario: Scenario = toml::from_str(toml).expect("parses");
    scenario
        .validate()
        .unwrap_or_else(|e| panic!("{e}\n{toml}"));
}

#[test]
fn runaway_bounds_are_at_least_one() {
    let e = refused("[simulation]\nmax_ticks_per_instant = 0\n");
    assert!(
        e.contains("simulation.max_ticks_per_instant must be at least 1"),
        "{e}"
    );
    let e = refused("[simulation]\nmax_derivations_per_tick = 0\n");
    assert!(
        e.contains("simulation.max_derivations_per_tick must be at least 1"),
        "{e}"
    );
    accepted("[simulation]\nmax_ticks_per_instant = 1\nmax_derivations_per_tick = 1\n");
}

#[test]
fn ring_checks_and_workload_rates_are_bounded() {
    let e =
        refused("[ring]\nsuccessor = { relation = \"succ\", field = 1 }\ncheck_every = 1e-12\n");
    assert!(
        e.contains("ring.check_every must be at least 0.001 s (1 ms)"),
        "{e}"
    );
    let e = refused("[[workload]]\ntuple = \"x(@N)\"\nrate = 1e9\n");
    assert!(e.contains("rate must be at most 1000000 per second"), "{e}");
    accepted("[[workload]]\ntuple = \"x(@N)\"\nrate = 1e6\n");
}

#[test]
fn negative_and_nan_settings_are_refused_by_name() {
    let cases = [
        (
            "[simulation]\nstart_interval = -1\n",
            "simulation.start_interval",
        ),
        (
            "[simulation]\nstart_interval = nan\n",
            "simulation.start_interval",
        ),
        ("[simulation]\nduration = inf\n", "simulation.duration"),
        (
            "[[event]]\nat = -1\naction = \"crash\"\nnode = 0\n",
            "event at",
        ),
        (
            "[[event]]\nat = nan\naction = \"crash\"\nnode = 0\n",
            "event at",
        ),
        (
            "[churn]\nmedian_session = 10\nrejoin_after = -1\n",
            "churn.rejoin_after",
        ),
        (
            "[churn]\nmedian_session = 10\nrejoin_after = nan\n",
            "churn.rejoin_after",
        ),
        ("[[workload]]\ntuple = \"x(@N)\"\nrate = -1\n", "rate"),
        ("[[workload]]\ntuple = \"x(@N)\"\nrate = nan\n", "rate"),
        (
            "[[workload]]\ntuple = \"x(@N)\"\nper_node = -0.5\n",
            "per_node",
        ),
        (
            "[[workload]]\ntuple = \"x(@N)\"\nper_node = nan\n",
            "per_node",
        ),
        (
            "[network.latency]\nkind = \"constant\"\nms = -5\n",
            "network.latency.ms",
        ),
        (
            "[network.latency]\nkind = \"constant\"\nms = nan\n",
            "network.latency.ms",
        ),
        (
            "[network.latency]\nkind = \"normal\"\nmean_ms = 50\nstddev_ms = -1\n",
            "network.latency.stddev_ms",
        ),
        (
            "[network.latency]\nkind = \"exponential\"\nmean_ms = nan\n",
            "network.latency.mean_ms",
        ),
        (
            "[[network.link]]\nfrom = 0\nto = 1\nlatency = { kind = \"uniform\", min_ms = -1, max_ms = 5 }\n",
            "network.link.latency.min_ms",
        ),
    ];
    for (toml, name) in cases {
        let e = refused(toml);
        assert!(e.contains(name) && e.contains("must be"), "{toml}: {e}");
    }
}

#[test]
fn node_count_is_bounded_unless_raised() {
    let e = refused("[simulation]\nnodes = 10000000\n");
    assert!(
        e.contains("simulation.nodes = 10000000 is more than the bound of 1000000 nodes")
            && e.contains("GiB")
            && e.contains("simulation.max_nodes"),
        "{e}"
    );
    let e = refused(&format!("[simulation]\nnodes = {}\n", u64::MAX));
    assert!(e.contains("more than the bound"), "{e}");
    accepted("[simulation]\nnodes = 1000000\n");
    accepted("[simulation]\nnodes = 2000000\nmax_nodes = 2000000\n");
}

#[test]
fn events_that_would_be_ignored_are_refused() {
    let e =
        refused("[simulation]\nduration = 10\n[[event]]\nat = 10\naction = \"crash\"\nnode = 1\n");
    assert!(
        e.contains("event at 10s") && e.contains("the run ends at 10s"),
        "{e}"
    );
    let e = refused("[[event]]\nat = 5\naction = \"heal\"\nname = \"split\"\n");
    assert!(e.contains("heal of partition \"split\""), "{e}");
    // A heal before its partition, in time, is refused whatever the file order.
    let e = refused(
        "[[event]]\nat = 9\naction = \"partition\"\nname = \"s\"\ngroups = [[0], [1]]\n\
         [[event]]\nat = 5\naction = \"heal\"\nname = \"s\"\n",
    );
    assert!(e.contains("heal of partition \"s\""), "{e}");
    let e = refused(
        "[[event]]\nat = 1\naction = \"partition\"\nname = \"s\"\ngroups = [[0], [1]]\n\
         [[event]]\nat = 2\naction = \"heal\"\nname = \"s\"\n\
         [[event]]\nat = 3\naction = \"heal\"\nname = \"s\"\n",
    );
    assert!(e.contains("event at 3s: heal"), "{e}");
    let e = refused("[[event]]\nat = 5\naction = \"restart\"\nnode = 2\n");
    assert!(e.contains("restart of node 2, which is alive"), "{e}");
    let e = refused(
        "[[event]]\nat = 1\naction = \"crash\"\nnode = 2\n\
         [[event]]\nat = 2\naction = \"restart\"\nnode = 2\n\
         [[event]]\nat = 3\naction = \"restart\"\nnode = 2\n",
    );
    assert!(e.contains("event at 3s: restart of node 2"), "{e}");

    accepted(
        "[[event]]\nat = 1\naction = \"partition\"\nname = \"s\"\ngroups = [[0], [1]]\n\
         [[event]]\nat = 2\naction = \"heal\"\nname = \"s\"\n\
         [[event]]\nat = 3\naction = \"crash\"\nnode = 2\n\
         [[event]]\nat = 4\naction = \"restart\"\nnode = 2\n",
    );
    // A random crash may have taken the node down; churn may have.
    accepted(
        "[[event]]\nat = 3\naction = \"crash\"\nnode = \"random\"\n\
         [[event]]\nat = 4\naction = \"restart\"\nnode = 2\n",
    );
    accepted(
        "[churn]\nmedian_session = 10\n\
         [[event]]\nat = 4\naction = \"restart\"\nnode = 2\n",
    );
    let e = refused(
        "[churn]\nmedian_session = 10\nexempt = [2]\n\
         [[event]]\nat = 4\naction = \"restart\"\nnode = 2\n",
    );
    assert!(e.contains("restart of node 2"), "{e}");
}

const PROGRAM: &str = r#"
materialize(seen, infinity, infinity, keys(1,2)).
s1 seen(@N, K) :- lookup(@N, K, R).
"#;

/// The error `Simulation::new` gives for `toml` with `PROGRAM`.
fn refused_with_program(toml: &str) -> String {
    let scenario: Scenario = toml::from_str(toml).expect("parses");
    let parse = trellis_sim::parse_options(&scenario, &[]);
    let plan = trellis_plan::load_str("test.olg", PROGRAM, &parse)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan;
    match trellis_sim::Simulation::new(plan, scenario, &trellis_sim::Options::default()) {
        Ok(_) => panic!("accepted:\n{toml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn scenario_tuples_are_checked_against_the_program() {
    let e = refused_with_program("[[workload]]\ntuple = 'lokup(@ADDR, 1, 2)'\nrate = 1\n");
    assert!(
        e.contains("scenario tuple `lokup(@ADDR, 1, 2)`: the program has no relation `lokup` (did you mean `lookup`?)"),
        "{e}"
    );
    let e = refused_with_program("[[workload]]\ntuple = 'zzzzzzzz(@ADDR)'\nrate = 1\n");
    assert!(
        e.contains("no relation `zzzzzzzz`") && !e.contains("did you mean"),
        "{e}"
    );
    let e = refused_with_program("[[workload]]\ntuple = 'lookup(@ADDR, 1)'\nper_node = 1\n");
    assert!(
        e.contains("`lookup` has 3 fields in the program, the tuple has 2"),
        "{e}"
    );
    let e = refused_with_program(
        "[[event]]\nat = 1\naction = \"inject\"\nnode = 0\ntuple = 'seen(@ADDR, 1, 2)'\n",
    );
    assert!(
        e.contains("`seen` has 2 fields in the program, the tuple has 3"),
        "{e}"
    );
    let e = refused_with_program(
        "[[event]]\nat = 1\naction = \"inject\"\nnode = 0\ntuple = 'periodic(@ADDR, 1, 2, 0)'\n",
    );
    assert!(
        e.contains("no relation `periodic`") || e.contains("cannot be injected"),
        "{e}"
    );
}

/// docs/simulator.md's table of defaults is what an empty scenario gives.
#[test]
fn documented_defaults_are_the_defaults() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/simulator.md"
    ))
    .expect("docs/simulator.md");
    let documented = |setting: &str| -> String {
        let row = format!("| `{setting}` | ");
        let line = page
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("no row for {setting} in docs/simulator.md"));
        line[row.len()..].trim_end_matches(" |").to_string()
    };
    let empty: Scenario = toml::from_str("").expect("parses");
    let sim = &empty.simulation;
    assert_eq!(documented("simulation.nodes"), sim.nodes.to_string());
    assert_eq!(documented("simulation.duration"), sim.duration.to_string());
    assert_eq!(documented("simulation.seed"), sim.seed.to_string());
    assert_eq!(
        documented("simulation.address"),
        format!("`{}`", sim.address)
    );
    assert_eq!(
        documented("simulation.start_interval"),
        sim.start_interval.to_string()
    );
    let trellis_sim::Latency::Constant { ms } = empty.network.latency else {
        panic!("the default latency is constant");
    };
    assert_eq!(documented("network.latency"), format!("constant {ms} ms"));
    assert_eq!(documented("network.loss"), empty.network.loss.to_string());
    assert_eq!(
        documented("network.duplicate"),
        empty.network.duplicate.to_string()
    );
}
