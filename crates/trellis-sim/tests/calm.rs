//! The CALM analysis is right in both directions, shown by simulation:
//! the programs it finds coordination-free (examples/calm/gossip.olg, and
//! the lattice programs kvs.olg, quorum.olg and cart_lattice.olg) end in
//! the same state under 100 seeds of reordering, duplication and loss
//! (with their retries), and the points of order it finds in the
//! destructive cart (examples/calm/cart.olg) matter: a search over seeds
//! finds runs whose final states differ.

use std::collections::BTreeSet;

use trellis_sim::{Options, Quiet, Scenario, Simulation};

fn example(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../examples/calm/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("the example")
}

fn run(program: &str, toml: &str) -> Simulation {
    let scenario: Scenario = toml::from_str(toml).expect("valid scenario");
    let parse = trellis_sim::parse_options(&scenario, &[]);
    let loaded =
        trellis_plan::load_str("calm.olg", program, &parse).unwrap_or_else(|d| panic!("{d:?}"));
    let mut sim = Simulation::new(loaded.plan, scenario, &Options::default()).expect("builds");
    sim.run(&mut Quiet);
    sim
}

/// An example with its scenario (examples/calm/NAME.olg and NAME.toml),
/// run with `seed`.
fn run_example(name: &str, seed: u64) -> Simulation {
    let mut scenario: Scenario =
        toml::from_str(&example(&format!("{name}.toml"))).expect("valid scenario");
    scenario.simulation.seed = seed;
    let parse = trellis_sim::parse_options(&scenario, &[]);
    let program = example(&format!("{name}.olg"));
    let loaded = trellis_plan::load_str(name, &program, &parse).unwrap_or_else(|d| panic!("{d:?}"));
    let mut sim = Simulation::new(loaded.plan, scenario, &Options::default()).expect("builds");
    sim.run(&mut Quiet);
    sim
}

/// The rules with a point of order, by name.
fn flagged_rules(program: &str) -> Vec<String> {
    let parse = trellis_sim::parse_options(&Scenario::default(), &[]);
    let plan = trellis_plan::load_str("calm.olg", program, &parse)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan;
    trellis_plan::calm::analyze(&plan)
        .points
        .iter()
        .map(|p| plan.rule(p.rule).name.clone())
        .collect()
}

fn points_of_order(program: &str) -> usize {
    let parse = trellis_sim::parse_options(&Scenario::default(), &[]);
    let plan = trellis_plan::load_str("calm.olg", program, &parse)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan;
    trellis_plan::calm::analyze(&plan).points.len()
}

/// The rows of a table at every node, as text.
fn state(sim: &Simulation, nodes: usize, table: &str) -> Vec<BTreeSet<String>> {
    (0..nodes)
        .map(|i| {
            sim.table(i, table)
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    t.iter()
                        .skip(1)
                        .map(|v| v.literal())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect()
        })
        .collect()
}

#[test]
fn the_monotone_gossip_converges_whatever_the_order() {
    // Every node learns the landmark as a peer and the landmark learns
    // every node (hellos repeated, so loss cannot stop them).
    let program = format!(
        "{}\n\
         p1 hello(@L, N) :- periodic(@N, E, 0.5, 10), L := LANDMARK, N != L.\n\
         p2 peer(@L, N) :- hello(@L, N).\n\
         p3 peer(@N, L) :- periodic(@N, E, 0.5, 1), L := LANDMARK, N != L.\n",
        example("gossip.olg")
    );
    let points = points_of_order(&program);
    assert_eq!(points, 0, "the analysis finds the gossip monotone");
    let nodes = 6;
    let mut finals = BTreeSet::new();
    for seed in 0..100 {
        let mut toml = format!(
            "[simulation]\nnodes = {nodes}\nduration = 40\nseed = {seed}\n\
             [network]\nlatency = {{ kind = \"exponential\", mean_ms = 200 }}\nloss = 0.2\nduplicate = 0.2\n"
        );
        for (k, at) in [1.0, 1.1, 1.2, 2.0, 3.5].iter().enumerate() {
            toml.push_str(&format!(
                "[[event]]\nat = {at}\naction = \"inject\"\nnode = {}\ntuple = 'item(@ADDR, \"i{k}\")'\n",
                (k * 5 + seed as usize) % nodes
            ));
        }
        let sim = run(&program, &toml);
        let seen = state(&sim, nodes, "seen");
        assert!(
            seen.iter().all(|s| s.len() == 5),
            "seed {seed}: not every node saw every item: {seen:?}"
        );
        finals.insert(seen);
    }
    assert_eq!(finals.len(), 1, "final states differ across seeds");
}

#[test]
fn the_destructive_cart_s_answer_depends_on_message_order() {
    // Node 1 (a client) adds an item, removes it and checks out, 10 ms
    // apart; the server (node 0) answers with the count it holds then.
    let program = format!(
        "{}\n\
         a1 add(@S, C, I) :- doAdd(@C, I), S := LANDMARK.\n\
         a2 remove(@S, C, I) :- doRemove(@C, I), S := LANDMARK.\n\
         a3 checkout(@S, C) :- doCheckout(@C), S := LANDMARK.\n\
         materialize(answer, infinity, infinity, keys(1, 2, 3)).\n\
         a4 answer(@C, S, N) :- order(@C, S, N).\n",
        example("cart.olg")
    );
    assert!(points_of_order(&program) > 0);
    let mut answers = BTreeSet::new();
    for seed in 0..100 {
        let toml = format!(
            "[simulation]\nnodes = 2\nduration = 5\nseed = {seed}\n\
             [network]\nlatency = {{ kind = \"exponential\", mean_ms = 30 }}\n\
             [[event]]\nat = 1.00\naction = \"inject\"\nnode = 1\ntuple = 'doAdd(@ADDR, \"book\")'\n\
             [[event]]\nat = 1.01\naction = \"inject\"\nnode = 1\ntuple = 'doRemove(@ADDR, \"book\")'\n\
             [[event]]\nat = 1.02\naction = \"inject\"\nnode = 1\ntuple = 'doAdd(@ADDR, \"pen\")'\n\
             [[event]]\nat = 1.03\naction = \"inject\"\nnode = 1\ntuple = 'doCheckout(@ADDR)'\n"
        );
        let sim = run(&program, &toml);
        answers.insert(state(&sim, 2, "answer")[1].clone());
        if answers.len() > 1 {
            return;
        }
    }
    panic!("100 seeds all gave the same answer: {answers:?}");
}

#[test]
fn the_lattice_kvs_replicas_agree_whatever_the_order() {
    // Only the read is a point of order; puts and gossip merge.
    assert_eq!(flagged_rules(&example("kvs.olg")), ["k4"]);
    let nodes = 4;
    let expected: BTreeSet<String> =
        [r#"[["x", [2, "pear"]], ["y", [1, "plum"]], ["z", [1, "fig"]]]"#.to_string()].into();
    for seed in 0..100 {
        let sim = run_example("kvs", seed);
        let stores = state(&sim, nodes, "store");
        for (node, store) in stores.iter().enumerate() {
            assert_eq!(store, &expected, "seed {seed}, node {node}");
        }
    }
}

#[test]
fn the_lattice_quorum_decides_the_same_whatever_the_order() {
    assert_eq!(flagged_rules(&example("quorum.olg")), Vec::<String>::new());
    let decided: BTreeSet<String> = [r#""a""#.to_string(), r#""b""#.to_string()].into();
    let tally: BTreeSet<String> = [r#""a",4"#, r#""b",3"#, r#""c",2"#]
        .map(String::from)
        .into();
    for seed in 0..100 {
        let sim = run_example("quorum", seed);
        assert_eq!(state(&sim, 1, "decided")[0], decided, "seed {seed}");
        assert_eq!(state(&sim, 1, "tally")[0], tally, "seed {seed}");
    }
}

#[test]
fn the_lattice_cart_answers_the_same_whatever_the_order() {
    // Adds, removes and the manifest merge; only the answer, which
    // subtracts the removes after the seal, is flagged (conservatively:
    // docs/calm.md).
    assert_eq!(flagged_rules(&example("cart_lattice.olg")), ["s7", "s8"]);
    let pen: BTreeSet<String> = [r#""pen""#.to_string()].into();
    for seed in 0..100 {
        let sim = run_example("cart_lattice", seed);
        assert_eq!(state(&sim, 2, "contents")[1], pen, "seed {seed}");
    }
}

/// The Bloom programs (examples/calm/bloom) are flagged where message
/// order decides their answers; each search over seeds finds runs that
/// differ.
fn bloom(name: &str) -> String {
    example(&format!("bloom/{name}"))
}

/// Seeds 0..100 of `program` under `toml` (whose `{seed}` is replaced),
/// until two give different `table`s at `node`; panics if none do.
fn find_differing_seeds(program: &str, toml: &str, nodes: usize, node: usize, table: &str) {
    let mut seen = BTreeSet::new();
    for seed in 0..100 {
        let sim = run(program, &toml.replace("{seed}", &seed.to_string()));
        seen.insert(state(&sim, nodes, table)[node].clone());
        if seen.len() > 1 {
            return;
        }
    }
    panic!("100 seeds all gave the same `{table}`: {seen:?}");
}

#[test]
fn the_bloom_kvs_replicas_depend_on_the_order_of_puts() {
    let program = bloom("kvs.olg");
    assert!(flagged_rules(&program).contains(&"v4".to_string()));
    // Two puts to one key at the master, 5 ms apart, forwarded to a
    // replica over a network that reorders: the replica keeps whichever
    // arrives last.
    let toml = "[simulation]\nnodes = 2\nduration = 3\nseed = {seed}\n\
        [network]\nlatency = { kind = \"exponential\", mean_ms = 30 }\n\
        [[event]]\nat = 0.5\naction = \"inject\"\nnode = 0\ntuple = 'member(@ADDR, \"node1:9000\")'\n\
        [[event]]\nat = 1.000\naction = \"inject\"\nnode = 0\ntuple = 'kvput(@ADDR, \"c\", \"x\", 1, \"apple\")'\n\
        [[event]]\nat = 1.005\naction = \"inject\"\nnode = 0\ntuple = 'kvput(@ADDR, \"c\", \"x\", 2, \"pear\")'\n";
    find_differing_seeds(&program, toml, 2, 1, "kvstate");
}

/// A client (node 1) that relays `doAction` and `doCheckout` to the
/// server (node 0), which answers into its `answer` table.
const CART_CLIENT: &str = "\n\
    a1 action(@S, C, 1, R, I, X) :- doAction(@C, R, I, X), S := LANDMARK.\n\
    a2 checkout(@S, C, 1, R) :- doCheckout(@C, R), S := LANDMARK.\n\
    materialize(answer, infinity, infinity).\n";

fn cart_toml(add: &str, remove: &str) -> String {
    format!(
        "[simulation]\nnodes = 2\nduration = 3\nseed = {{seed}}\n\
         [network]\nlatency = {{ kind = \"exponential\", mean_ms = 30 }}\n\
         [[event]]\nat = 1.00\naction = \"inject\"\nnode = 1\ntuple = 'doAction(@ADDR, 1, \"book\", {add})'\n\
         [[event]]\nat = 1.01\naction = \"inject\"\nnode = 1\ntuple = 'doAction(@ADDR, 2, \"book\", {remove})'\n\
         [[event]]\nat = 1.02\naction = \"inject\"\nnode = 1\ntuple = 'doAction(@ADDR, 3, \"pen\", {add})'\n\
         [[event]]\nat = 1.03\naction = \"inject\"\nnode = 1\ntuple = 'doCheckout(@ADDR, 4)'\n"
    )
}

#[test]
fn the_bloom_destructive_cart_s_answer_depends_on_message_order() {
    let program = format!(
        "{}{CART_CLIENT}a3 answer(@C, I, N) :- response(@C, S, Session, I, N).\n",
        bloom("destructive_cart.olg")
    );
    assert_eq!(flagged_rules(&program), ["d1", "d2", "d3"]);
    find_differing_seeds(&program, &cart_toml("1", "-1"), 2, 1, "answer");
}

#[test]
fn the_bloom_disorderly_cart_s_answer_depends_on_message_order() {
    let program = format!(
        "{}{CART_CLIENT}a3 answer(@C, I, N) :- status(@C, S, Session, I, N).\n",
        bloom("disorderly_cart.olg")
    );
    assert_eq!(flagged_rules(&program), ["r2", "r3", "r4"]);
    find_differing_seeds(&program, &cart_toml("\"Add\"", "\"Del\""), 2, 1, "answer");
}
