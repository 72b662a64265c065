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
    trellis_plan::load_file(path.as_ref(), &ParseOptions::default())
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
