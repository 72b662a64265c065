//! The CALM analysis: monotone programs have no point of order, and each
//! kind of non-monotone operation fed by the network is found, with the
//! path by which the network reaches it.

use trellis_plan::calm::{Label, NonMonotone, analyze};
use trellis_plan::{Plan, load_str};
use trellis_syntax::ParseOptions;

fn plan(text: &str) -> Plan {
    load_str("calm.olg", text, &ParseOptions::default())
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan
}

fn example(name: &str) -> Plan {
    let path = format!("{}/../../examples/calm/{name}", env!("CARGO_MANIFEST_DIR"));
    // As every runner parses them: `LANDMARK` and `NODEID` are node
    // parameters.
    let options = ParseOptions {
        defines: Vec::new(),
        node_params: vec!["LANDMARK".into(), "NODEID".into()],
    };
    trellis_plan::load_file(path.as_ref(), &options)
        .unwrap_or_else(|d| panic!("{d:?}"))
        .plan
}

fn label(plan: &Plan, relation: &str) -> Label {
    let calm = analyze(plan);
    let id = plan.lookup(relation).expect("a relation");
    calm.outputs
        .iter()
        .find(|(r, _)| *r == id)
        .unwrap_or_else(|| panic!("`{relation}` is not an output"))
        .1
}

/// The operations of every point of order, as (rule, input, operation).
fn points(plan: &Plan) -> Vec<(String, String, String)> {
    let calm = analyze(plan);
    calm.points
        .iter()
        .flat_map(|p| {
            p.reasons.iter().map(|(r, input)| {
                let op = match r {
                    NonMonotone::Negation { .. } => "negation",
                    NonMonotone::Aggregate { .. } => "aggregate",
                    NonMonotone::Deletion { .. } => "deletion",
                    NonMonotone::Replacement { .. } => "replacement",
                    NonMonotone::TransientRead { .. } => "transient read",
                    NonMonotone::Expiry { .. } => "expiry",
                    NonMonotone::Eviction { .. } => "eviction",
                    NonMonotone::Clock => "clock",
                    NonMonotone::LatticeRead { .. } => "lattice read",
                };
                (
                    plan.rule(p.rule).name.clone(),
                    plan.relation(*input).name.clone(),
                    op.to_string(),
                )
            })
        })
        .collect()
}

fn point(rule: &str, input: &str, op: &str) -> (String, String, String) {
    (rule.into(), input.into(), op.into())
}

#[test]
fn a_gossiped_grow_only_set_is_monotone() {
    let plan = example("gossip.olg");
    let calm = analyze(&plan);
    assert!(calm.points.is_empty(), "{:?}", calm.points);
    assert!(plan.rules.iter().all(|r| calm.is_monotone(r.id)));
    // It arrives over the network: asynchronous, but confluent in content.
    assert_eq!(label(&plan, "seen"), Label::Asynchronous);
}

#[test]
fn the_destructive_cart_has_points_of_order_at_deletion_and_checkout() {
    let plan = example("cart.olg");
    let found = points(&plan);
    for expected in [
        point("c2", "remove", "deletion"),
        point("c3", "cart", "aggregate"),
        point("c3", "cart", "transient read"),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    assert_eq!(label(&plan, "order"), Label::OrderDependent);
}

#[test]
fn negation_of_a_received_relation_is_a_point_of_order() {
    let plan = plan(
        "materialize(banned, infinity, infinity, keys(1, 2)).\n\
         watch(ok).\n\
         b1 banned(@N, X) :- ban(@N, X).\n\
         b2 ban(@N, X) :- report(@M, X, N).\n\
         r1 ok(@N, X) :- req(@N, X), notin banned(@N, X).\n",
    );
    let found = points(&plan);
    assert!(
        found.contains(&point("r1", "banned", "negation")),
        "{found:?}"
    );
    // The path: `ban` is sent by b2, `banned` derived from it by b1.
    let calm = analyze(&plan);
    let p = calm
        .points
        .iter()
        .find(|p| plan.rule(p.rule).name == "r1")
        .unwrap();
    let path: Vec<&str> = p.paths[0]
        .iter()
        .map(|(_, r)| plan.relation(*r).name.as_str())
        .collect();
    assert_eq!(path, ["ban", "banned"]);
}

#[test]
fn local_non_monotone_state_is_not_a_point_of_order() {
    // Facts and a timer only: a count and a key replacement, but nothing
    // arrives from the network.
    let plan = plan(
        "materialize(item, infinity, infinity, keys(1, 2)).\n\
         materialize(total, infinity, 1, keys(1)).\n\
         watch(total).\n\
         item(LOCALADDRESS, 1).\n\
         item(LOCALADDRESS, 2).\n\
         t1 total(@N, count<*>) :- periodic(@N, E, 1), item(@N, X).\n",
    );
    let calm = analyze(&plan);
    assert!(calm.points.is_empty(), "{:?}", calm.points);
    assert_eq!(label(&plan, "total"), Label::NonMonotone);
}

#[test]
fn refreshed_soft_state_is_marked_benign() {
    // `best` is soft state rewritten on a timer from received `offer`s.
    let plan = plan(
        "materialize(offer, 5, infinity, keys(1, 2)).\n\
         materialize(best, 5, 1, keys(1)).\n\
         watch(use).\n\
         o1 offer(@N, X) :- bid(@N, X).\n\
         o2 best(@N, min<X>) :- periodic(@N, E, 1), offer(@N, X).\n\
         u1 use(@N, X) :- ask(@N), best(@N, X).\n",
    );
    let calm = analyze(&plan);
    let p = calm
        .points
        .iter()
        .find(|p| plan.rule(p.rule).name == "u1")
        .expect("u1 reads best, derived from received bids");
    let by = p.refreshed_by.expect("best is refreshed by o2");
    assert_eq!(plan.rule(by).name, "o2");
}

#[test]
fn a_clock_read_on_received_input_is_a_point_of_order() {
    let plan = plan("r1 rtt(@N, f_now() - T) :- pong(@N, T).\n");
    assert_eq!(points(&plan), [point("r1", "pong", "clock")]);
}

// ---- lattices ---------------------------------------------------------------

/// A program with a set lattice `votes` fed by the network and one more
/// rule, `r`.
fn with_votes(rule: &str) -> Plan {
    plan(&format!(
        "materialize(votes, infinity, infinity, keys(1, 2)).\n\
         lattice(votes, 3, set).\n\
         materialize(tally, infinity, infinity, keys(1, 2)).\n\
         lattice(tally, 3, max).\n\
         materialize(done, infinity, infinity, keys(1, 2)).\n\
         external(vote).\n\
         v votes(@N, K, f_append(V)) :- vote(@N, K, V).\n\
         {rule}\n"
    ))
}

#[test]
fn writes_into_lattice_columns_merge_instead_of_replacing() {
    assert_eq!(points(&with_votes("")), vec![]);
    // A plain field outside the key is still replaced.
    let mixed = plan(
        "materialize(best, infinity, infinity, keys(1, 2)).\n\
         lattice(best, 3, max).\n\
         external(offer).\n\
         r best(@N, K, P, Who) :- offer(@N, K, P, Who).\n",
    );
    assert_eq!(points(&mixed), vec![point("r", "offer", "replacement")]);
}

#[test]
fn monotone_functions_and_thresholds_of_lattices_are_monotone() {
    for rule in [
        // the size of a set, into a max
        "r tally(@N, K, f_size(S)) :- votes(@N, K, S).",
        // a threshold on a max, and one on a monotone function of a set
        "r done(@N, K) :- tally(@N, K, C), C >= 3.",
        "r done(@N, K) :- votes(@N, K, S), f_size(S) > 2, K != \"x\".",
        "r done(@N, K) :- votes(@N, K, S), 3 <= f_size(S).",
        "r done(@N, K) :- votes(@N, K, S), f_member(S, \"alice\") >= 1.",
        // a set sent into another node's set
        "r votes(@P, K, S) :- votes(@N, K, S), peer(@N, P).\nmaterialize(peer, infinity, infinity).",
        // an assignment of a monotone function, then a threshold
        "r done(@N, K) :- votes(@N, K, S), Z := f_size(S), Z >= 3.",
    ] {
        assert_eq!(points(&with_votes(rule)), vec![], "{rule}");
    }
}

#[test]
fn other_uses_of_a_lattice_value_are_points_of_order() {
    for rule in [
        // below a threshold: true now, false after the next vote
        "r done(@N, K) :- votes(@N, K, S), f_size(S) < 3.",
        // equality with a value that can still grow
        "r done(@N, K) :- votes(@N, K, S), f_size(S) == 3.",
        // revealed into a plain field
        "r seen(@N, K, S) :- votes(@N, K, S).",
        // into a lattice of another kind
        "r tally(@N, K, S) :- votes(@N, K, S).",
        // joined on
        "r done(@N, K) :- votes(@N, K, S), ballots(@N, S).\nmaterialize(ballots, infinity, infinity).",
        // assigned through a function that is not monotone
        "r done(@N, K) :- votes(@N, K, S), Z := f_car(S), Z == \"alice\".",
    ] {
        let found = points(&with_votes(rule));
        assert!(
            found.contains(&point("r", "votes", "lattice read")),
            "{rule}: {found:?}"
        );
    }
}

#[test]
fn a_pn_counter_s_value_is_not_monotone() {
    let counter = plan(
        "materialize(stock, infinity, infinity, keys(1, 2)).\n\
         lattice(stock, 3, pncounter).\n\
         materialize(low, infinity, infinity, keys(1, 2)).\n\
         external(stock).\n\
         r low(@N, K) :- stock(@N, K, C), f_pnValue(C) >= 1.\n",
    );
    assert_eq!(points(&counter), vec![point("r", "stock", "lattice read")]);
    let grow_only = plan(
        "materialize(hits, infinity, infinity, keys(1, 2)).\n\
         lattice(hits, 3, gcounter).\n\
         materialize(popular, infinity, infinity, keys(1, 2)).\n\
         external(hits).\n\
         r popular(@N, K) :- hits(@N, K, C), f_gcValue(C) >= 100.\n",
    );
    assert_eq!(points(&grow_only), vec![]);
}

#[test]
fn the_lattice_examples_are_flagged_only_where_they_read() {
    assert_eq!(
        points(&example("kvs.olg")),
        vec![
            point("k4", "store", "transient read"),
            point("k4", "store", "lattice read")
        ]
    );
    assert_eq!(points(&example("quorum.olg")), vec![]);
    assert_eq!(
        label(&example("quorum.olg"), "decided"),
        Label::Asynchronous
    );
    let cart: Vec<String> = points(&example("cart_lattice.olg"))
        .into_iter()
        .map(|(rule, _, op)| format!("{rule} {op}"))
        .collect();
    assert_eq!(cart, ["s7 negation", "s8 negation"]);
}
