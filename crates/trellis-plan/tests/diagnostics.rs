//! Snapshots of the planner's diagnostics for programs that parse but do not
//! make sense: each must read like rustc (the code, the message,
//! file:line:col, the source line, a caret under the cause with a label, and
//! a hint). Together with `trellis-syntax/tests/diagnostics.rs` this is the
//! project's diagnostics suite.
//!
//! Each test also checks that the diagnostic it means to show is the one
//! that comes out (by its code), so that a snapshot accepted by mistake
//! cannot hide a program that fails for another reason.

use insta::assert_snapshot;
use trellis_plan::load_str;
use trellis_render::{Style, render_all};
use trellis_syntax::ParseOptions;

fn options() -> ParseOptions {
    ParseOptions {
        defines: Vec::new(),
        node_params: vec!["LANDMARK".into(), "NODEID".into()],
    }
}

/// The program must fail to compile, with `code` among its diagnostics
/// (and no syntax error: these are the planner's).
fn error(code: &str, text: &str) -> String {
    let rendered = match load_str("test.olg", text, &options()) {
        Ok(_) => panic!("{text:?} compiled, expected `{code}`"),
        Err(d) => render_all(&d, Style::Plain),
    };
    check(code, text, &rendered);
    rendered
}

/// The program must compile, with the warning `code`.
fn warning(code: &str, text: &str) -> String {
    let rendered = match load_str("test.olg", text, &options()) {
        Ok(loaded) => render_all(&loaded.warnings, Style::Plain),
        Err(d) => panic!("{text:?} failed:\n{}", render_all(&d, Style::Plain)),
    };
    check(code, text, &rendered);
    rendered
}

fn check(code: &str, text: &str, rendered: &str) {
    assert!(
        rendered.contains(&format!("trellis::plan::{code}\n")),
        "{text:?} did not give `{code}`:\n{rendered}"
    );
    assert!(
        !rendered.contains("trellis::syntax::"),
        "{text:?} is not even syntactically valid:\n{rendered}"
    );
}

// ---- safety ---------------------------------------------------------------

#[test]
fn unbound_head_variable() {
    assert_snapshot!(error(
        "unsafe_head",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         r1 reach(@X, Z) :- link(@X, Y).\n"
    ));
}

#[test]
fn unbound_variable_in_head_expression() {
    assert_snapshot!(error(
        "unsafe_head",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         r1 hop(@Y, X, Cost + 1) :- link(@X, Y).\n"
    ));
}

#[test]
fn unbound_condition_variable() {
    assert_snapshot!(error(
        "unsafe_condition",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         r1 far(@X, Y) :- link(@X, Y), D > 20.\n"
    ));
}

#[test]
fn unbound_assignment_input() {
    assert_snapshot!(error(
        "unsafe_condition",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         r1 cost(@X, Y, C) :- link(@X, Y), C := W * 2.\n"
    ));
}

#[test]
fn notin_only_variable_is_a_wildcard() {
    assert_snapshot!(warning(
        "notin_wildcard",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         materialize(down, infinity, infinity, keys(1, 2)).\n\
         r1 up(@X, Y) :- link(@X, Y), notin down(@X, Z).\n"
    ));
}

#[test]
fn notin_variable_bound_only_at_a_later_location() {
    // `Z` is bound in the rule, but only at `Y`, after the `notin` at `X`
    // has run: not a wildcard, an error.
    assert_snapshot!(error(
        "unsafe_notin",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         materialize(far, infinity, infinity, keys(1, 2)).\n\
         materialize(down, infinity, infinity, keys(1, 2)).\n\
         r1 up(@X, Z) :- link(@X, Y), far(@Y, Z), notin down(@X, Z).\n"
    ));
}

#[test]
fn reassigned_variable() {
    assert_snapshot!(error(
        "reassigned",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         r1 next(@X, Y) :- link(@X, Y), Y := f_rand().\n"
    ));
}

#[test]
fn wildcard_in_head() {
    assert_snapshot!(error(
        "wildcard_head",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         r1 neighbour(@X, _) :- link(@X, Y).\n"
    ));
}

#[test]
fn body_without_positive_predicate() {
    assert_snapshot!(error(
        "no_predicate",
        "materialize(down, infinity, infinity, keys(1)).\n\
         r1 up(@X) :- notin down(@X), X := LOCALADDRESS.\n"
    ));
}

// ---- locations --------------------------------------------------------------

#[test]
fn unbound_location_in_a_multi_location_rule() {
    assert_snapshot!(error(
        "unbound_location",
        "materialize(succ, 10, infinity, keys(1, 2)).\n\
         sb1 succ(@N, S1, SI1) :- periodic(@N, E, 5), succ(@N, S, SI),\n\
         \x20   succ(@PI, S1, SI1).\n"
    ));
}

#[test]
fn wildcard_as_location() {
    assert_snapshot!(error(
        "bad_location",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         r1 anyone(@X, Y) :- link(@X, Y), link(_, X).\n"
    ));
}

#[test]
fn number_as_location() {
    assert_snapshot!(error(
        "bad_location",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         r1 anyone(@Y) :- link(@42, Y).\n"
    ));
}

// ---- functions --------------------------------------------------------------

#[test]
fn unknown_function_with_suggestion() {
    assert_snapshot!(error(
        "unknown_function",
        "materialize(node, infinity, 1, keys(1)).\n\
         r1 hashed(@X, H) :- node(@X, K), H := f_sha(K).\n"
    ));
}

#[test]
fn unknown_function_without_suggestion() {
    assert_snapshot!(error(
        "unknown_function",
        "materialize(node, infinity, 1, keys(1)).\n\
         r1 picked(@X, K) :- node(@X, K), f_frobnicate(K) == 1.\n"
    ));
}

#[test]
fn function_with_too_many_arguments() {
    assert_snapshot!(error(
        "function_arity",
        "materialize(node, infinity, 1, keys(1)).\n\
         r1 hashed(@X, H) :- node(@X, K), H := f_sha1(K, 160).\n"
    ));
}

#[test]
fn function_with_too_few_arguments() {
    assert_snapshot!(error(
        "function_arity",
        "materialize(path, infinity, infinity, keys(1, 2)).\n\
         r1 longer(@X, P2) :- path(@X, P), P2 := f_cons(X).\n"
    ));
}

// ---- aggregates ---------------------------------------------------------------

#[test]
fn two_aggregates_in_a_head() {
    assert_snapshot!(error(
        "multiple_aggregates",
        "materialize(dist, infinity, infinity, keys(1, 2)).\n\
         r1 range(@X, min<D>, max<D>) :- dist(@X, Y, D).\n"
    ));
}

#[test]
fn aggregate_as_location() {
    assert_snapshot!(error(
        "aggregate_location",
        "materialize(dist, infinity, infinity, keys(1, 2)).\n\
         r1 closest(count<Y>, D) :- dist(X, Y, D).\n"
    ));
}

#[test]
fn aggregate_in_a_delete_rule() {
    assert_snapshot!(error(
        "aggregate_delete",
        "materialize(dist, infinity, infinity, keys(1, 2)).\n\
         r1 delete dist(@X, Y, max<D>) :- periodic(@X, E, 10), dist(@X, Y, D).\n"
    ));
}

#[test]
fn aggregate_over_an_unbound_variable() {
    assert_snapshot!(error(
        "aggregate_unbound",
        "materialize(dist, infinity, infinity, keys(1, 2)).\n\
         r1 best(@X, min<Cost>) :- dist(@X, Y, D).\n"
    ));
}

// ---- deletes ---------------------------------------------------------------

#[test]
fn delete_of_an_event_relation() {
    assert_snapshot!(error(
        "delete_event",
        "p1 ping(@X, E) :- periodic(@X, E, 1).\n\
         p2 delete ping(@X, E) :- ping(@X, E), E > 10.\n"
    ));
}

// ---- stratification -----------------------------------------------------------

#[test]
fn cycle_through_an_aggregate() {
    assert_snapshot!(error(
        "unstratifiable",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         c1 hop(@X, Y, 1) :- periodic(@X, E, 1), link(@X, Y).\n\
         c2 shortest(@X, Y, min<D>) :- hop(@X, Y, D).\n\
         c3 hop(@X, Z, D + 1) :- shortest(@X, Y, D), link(@X, Z).\n"
    ));
}

#[test]
fn cycle_through_notin() {
    assert_snapshot!(error(
        "unstratifiable",
        "materialize(member, infinity, infinity, keys(1, 2)).\n\
         w1 candidate(@X, Y) :- periodic(@X, E, 1), member(@X, Y), notin chosen(@X, Y).\n\
         w2 chosen(@X, Y) :- candidate(@X, Y).\n"
    ));
}

// ---- tables ---------------------------------------------------------------------

#[test]
fn materialized_twice() {
    assert_snapshot!(error(
        "duplicate_materialize",
        "materialize(succ, 30, 100, keys(1, 2)).\n\
         materialize(succ, 60, 100, keys(1, 2)).\n\
         succ(LOCALADDRESS, \"a\").\n"
    ));
}

#[test]
fn zero_lifetime() {
    assert_snapshot!(error(
        "lifetime",
        "materialize(succ, 0, 100, keys(1, 2)).\n\
         succ(LOCALADDRESS, \"a\").\n"
    ));
}

#[test]
fn negative_lifetime() {
    assert_snapshot!(error(
        "lifetime",
        "materialize(succ, -2.5, 100, keys(1, 2)).\n\
         succ(LOCALADDRESS, \"a\").\n"
    ));
}

#[test]
fn zero_max_size() {
    assert_snapshot!(error(
        "max_size",
        "materialize(succ, 30, 0, keys(1, 2)).\n\
         succ(LOCALADDRESS, \"a\").\n"
    ));
}

#[test]
fn key_position_past_the_last_field() {
    assert_snapshot!(error(
        "key_position",
        "materialize(succ, 30, 100, keys(1, 4)).\n\
         succ(LOCALADDRESS, 0x1I, \"a\").\n"
    ));
}

#[test]
fn key_position_zero() {
    assert_snapshot!(error(
        "key_position",
        "materialize(succ, 30, 100, keys(0)).\n\
         succ(LOCALADDRESS, 0x1I, \"a\").\n"
    ));
}

#[test]
fn arity_mismatch_names_the_first_use() {
    assert_snapshot!(error(
        "arity",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         link(LOCALADDRESS, \"b\").\n\
         r1 reach(@X, Y) :- link(@X, Y, Cost).\n"
    ));
}

#[test]
fn arity_mismatch_between_rules() {
    assert_snapshot!(error(
        "arity",
        "p1 ping(@Y, X) :- periodic(@X, E, 1), Y := LANDMARK.\n\
         p2 pong(@X, Y) :- ping(@Y, X, T).\n"
    ));
}

// ---- periodic -----------------------------------------------------------------

#[test]
fn materializing_periodic() {
    assert_snapshot!(error(
        "builtin_relation",
        "materialize(periodic, infinity, infinity, keys(1, 2)).\n"
    ));
}

#[test]
fn deriving_periodic() {
    assert_snapshot!(error(
        "builtin_relation",
        "materialize(node, infinity, 1, keys(1)).\n\
         r1 periodic(@X, E, 1) :- node(@X, E).\n"
    ));
}

#[test]
fn periodic_with_a_variable_period() {
    assert_snapshot!(error(
        "periodic",
        "materialize(rate, infinity, 1, keys(1)).\n\
         r1 tick(@X, E) :- rate(@X, P), periodic(@X, E, P).\n"
    ));
}

#[test]
fn periodic_with_a_negative_count() {
    assert_snapshot!(error(
        "periodic",
        "r1 tick(@X, E) :- periodic(@X, E, 1, -3).\n"
    ));
}

#[test]
fn periodic_with_a_fractional_count() {
    assert_snapshot!(error(
        "periodic",
        "r1 tick(@X, E) :- periodic(@X, E, 1, 2.5).\n"
    ));
}

#[test]
fn periodic_with_period_zero_and_no_count() {
    assert_snapshot!(error("periodic", "r1 tick(@X, E) :- periodic(@X, E, 0).\n"));
}

#[test]
fn periodic_with_a_period_under_a_nanosecond() {
    assert_snapshot!(error(
        "periodic",
        "r1 tick(@X, E) :- periodic(@X, E, 0.0000000001).\n"
    ));
}

#[test]
fn periodic_with_too_few_fields() {
    assert_snapshot!(error("periodic", "r1 tick(@X, E) :- periodic(@X, E).\n"));
}

#[test]
fn negated_periodic() {
    assert_snapshot!(error(
        "periodic",
        "materialize(node, infinity, 1, keys(1)).\n\
         r1 idle(@X) :- node(@X, K), notin periodic(@X, K, 1).\n"
    ));
}

// ---- several at once ------------------------------------------------------------

#[test]
fn several_errors_in_one_program() {
    assert_snapshot!(error(
        "unsafe_head",
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         materialize(link, infinity, infinity, keys(1, 2)).\n\
         r1 reach(@X, Z) :- link(@X, Y).\n\
         r2 reach(@X, Y) :- link(@X, Y), H := f_sha(Y).\n\
         r3 delete ping(@X) :- link(@X, Y).\n"
    ));
}

// ---- warnings -------------------------------------------------------------------

#[test]
fn duplicate_rule_name() {
    assert_snapshot!(warning(
        "duplicate_rule_name",
        "materialize(member, 30, infinity, keys(1, 2)).\n\
         r2 refresh(@X, Y) :- periodic(@X, E, 5), member(@X, Y).\n\
         r2 member(@X, Y) :- refresh(@X, Y).\n"
    ));
}

#[test]
fn relation_never_derived() {
    assert_snapshot!(warning(
        "never_derived",
        "materialize(succ, 30, infinity, keys(1, 2)).\n\
         l1 lookupResult(@R, K, S) :- lookup(@X, K, R), succ(@X, S).\n"
    ));
}

#[test]
fn a_relation_declared_external_is_not_reported() {
    let program = "external(lookup).\n\
                   materialize(succ, 30, infinity, keys(1, 2)).\n\
                   l1 lookupResult(@R, K, S) :- lookup(@X, K, R), succ(@X, S).\n";
    let Ok(loaded) = load_str("test.olg", program, &options()) else {
        panic!("{program:?} failed")
    };
    assert_eq!(
        render_all(&loaded.warnings, Style::Plain),
        "",
        "only `never_derived` could fire, and `external` silences it"
    );
}

#[test]
fn external_of_an_unknown_relation() {
    assert_snapshot!(warning(
        "external_unknown",
        "external(lokup).\n\
         l1 out(@X, K) :- lookup(@X, K).\n\
         external(lookup).\n"
    ));
}

#[test]
fn watch_of_an_unknown_relation() {
    assert_snapshot!(warning(
        "watch_unknown",
        "watch(pong).\n\
         p1 ping(@X, E) :- periodic(@X, E, 1).\n"
    ));
}

#[test]
fn watch_letter_p_of_a_relation_without_firings() {
    assert_snapshot!(warning(
        "watch_periodic_letter",
        "watchmod(ping, \"pe\").\n\
         p1 ping(@X, E) :- periodic(@X, E, 1).\n"
    ));
}

#[test]
fn trace_of_an_unknown_relation() {
    assert_snapshot!(warning(
        "watch_unknown",
        "trace(lookupResults).\n\
         p1 ping(@X, E) :- periodic(@X, E, 1).\n"
    ));
}

#[test]
fn provenance_relation_of_the_wrong_arity() {
    assert_snapshot!(error(
        "arity",
        "trace(ping).\n\
         p1 ping(@X, E) :- periodic(@X, E, 1).\n\
         w1 why(@X, R) :- ruleExec(@X, R, Inputs, Out).\n"
    ));
}

#[test]
fn channel_of_an_unknown_relation() {
    assert_snapshot!(error(
        "channel_unknown",
        "channel(lookups, tcp).\n\
         l1 lookup(@Y, K) :- lookup(@X, K), Y := X.\n"
    ));
}

#[test]
fn two_channels_for_one_relation() {
    assert_snapshot!(error(
        "channel_conflict",
        "channel(ping, udp).\n\
         channel(ping, tcp).\n\
         p1 ping(@X, E) :- periodic(@X, E, 1).\n"
    ));
}

#[test]
fn two_semantics_for_one_program() {
    assert_snapshot!(error(
        "semantics_conflict",
        "semantics(p2).\n\
         semantics(tick).\n\
         p1 ping(@X, E) :- periodic(@X, E, 1).\n"
    ));
}

#[test]
fn channel_for_periodic() {
    assert_snapshot!(error(
        "builtin_relation",
        "channel(periodic, tcp).\n\
         p1 ping(@X, E) :- periodic(@X, E, 1).\n"
    ));
}

// ---- lattices ---------------------------------------------------------------

#[test]
fn lattice_of_an_event() {
    assert_snapshot!(error(
        "lattice_not_table",
        "lattice(vote, 3, set).\n\
         external(vote).\n\
         r1 tally(@N, K, V) :- vote(@N, K, V).\n"
    ));
}

#[test]
fn lattice_of_an_unknown_relation() {
    assert_snapshot!(error("lattice_not_table", "lattice(vots, 3, set).\n"));
}

#[test]
fn lattice_position_out_of_range() {
    assert_snapshot!(error(
        "lattice_position",
        "materialize(votes, infinity, infinity, keys(1, 2)).\n\
         lattice(votes, 4, set).\n\
         external(vote).\n\
         r1 votes(@N, K, f_append(V)) :- vote(@N, K, V).\n"
    ));
}

#[test]
fn lattice_on_a_key_field() {
    assert_snapshot!(error(
        "lattice_on_key",
        "materialize(votes, infinity, infinity, keys(1, 2)).\n\
         lattice(votes, 2, set).\n\
         external(vote).\n\
         r1 votes(@N, K, f_append(V)) :- vote(@N, K, V).\n"
    ));
}

#[test]
fn lattice_on_a_table_keyed_on_every_field() {
    assert_snapshot!(error(
        "lattice_on_key",
        "materialize(votes, infinity, infinity).\n\
         lattice(votes, 3, set).\n\
         external(vote).\n\
         r1 votes(@N, K, f_append(V)) :- vote(@N, K, V).\n"
    ));
}

#[test]
fn lattice_on_the_location() {
    assert_snapshot!(error(
        "lattice_on_key",
        "materialize(best, infinity, infinity, keys(2)).\n\
         lattice(best, 1, max).\n\
         external(go).\n\
         r1 best(@N, K) :- go(@N, K).\n"
    ));
}

#[test]
fn two_lattices_for_one_field() {
    assert_snapshot!(error(
        "lattice_conflict",
        "materialize(best, infinity, infinity, keys(1)).\n\
         lattice(best, 2, max).\n\
         lattice(best, 2, min).\n\
         external(go).\n\
         r1 best(@N, K) :- go(@N, K).\n"
    ));
}

#[test]
fn a_fact_of_the_wrong_lattice_type() {
    assert_snapshot!(error(
        "lattice_value",
        "materialize(flag, infinity, infinity, keys(1)).\n\
         lattice(flag, 2, bool).\n\
         flag(LOCALADDRESS, 1).\n"
    ));
}

#[test]
fn a_head_constant_of_the_wrong_lattice_type() {
    assert_snapshot!(error(
        "lattice_value",
        "materialize(votes, infinity, infinity, keys(1, 2)).\n\
         lattice(votes, 3, set).\n\
         external(vote).\n\
         r1 votes(@N, K, \"alice\") :- vote(@N, K).\n"
    ));
}

#[test]
fn a_node_parameter_in_a_set_field() {
    assert_snapshot!(error(
        "lattice_value",
        "materialize(members, infinity, infinity, keys(1)).\n\
         lattice(members, 2, set).\n\
         members(LOCALADDRESS, LOCALADDRESS).\n"
    ));
}
