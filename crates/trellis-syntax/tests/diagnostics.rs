//! Snapshots of the rendered diagnostics for malformed programs: each must
//! read like rustc (file:line:col, the source line, a caret under the cause,
//! and a hint).

use insta::assert_snapshot;
use trellis_render::{Style, render};
use trellis_syntax::{GroundError, ParseOptions, SourceMap, parse_ground, parse_str};

/// Every diagnostic for `text` (errors, or warnings when it parses), rendered.
fn diagnose_with(text: &str, options: &ParseOptions) -> String {
    let mut sources = SourceMap::new();
    let diagnostics = match parse_str("test.olg", text, options, &mut sources) {
        Ok(parsed) => parsed.warnings,
        Err(errors) => errors,
    };
    assert!(!diagnostics.is_empty(), "no diagnostic for {text:?}");
    diagnostics
        .iter()
        .map(|d| render(&sources, d, Style::Plain))
        .collect::<Vec<_>>()
        .join("\n")
}

fn diagnose(text: &str) -> String {
    diagnose_with(text, &ParseOptions::default())
}

#[test]
fn unterminated_string() {
    assert_snapshot!(diagnose("node(LOCALADDRESS, \"NIL).\n"));
}

#[test]
fn unterminated_comment() {
    assert_snapshot!(diagnose("p(1).\n/* never closed\nq(2).\n"));
}

#[test]
fn unknown_escape() {
    assert_snapshot!(diagnose("p(\"a\\qb\").\n"));
}

#[test]
fn integer_too_large() {
    assert_snapshot!(diagnose("p(LOCALADDRESS, 99999999999999999999).\n"));
}

#[test]
fn id_too_large() {
    assert_snapshot!(diagnose(
        "p(LOCALADDRESS, 0x10000000000000000000000000000000000000000I).\n"
    ));
}

#[test]
fn invalid_number() {
    assert_snapshot!(diagnose("p(LOCALADDRESS, 12abc).\n"));
}

#[test]
fn single_equals() {
    assert_snapshot!(diagnose("r1 p(@X) :- q(@X, Y), Y = 1.\n"));
}

#[test]
fn missing_dot() {
    assert_snapshot!(diagnose("p(LOCALADDRESS, 1)\nq(LOCALADDRESS, 2).\n"));
}

#[test]
fn named_rule_without_body() {
    assert_snapshot!(diagnose("r1 p(@X, Y).\n"));
}

#[test]
fn empty_body() {
    assert_snapshot!(diagnose("r1 p(@X, Y) :- .\n"));
}

#[test]
fn unclosed_paren() {
    assert_snapshot!(diagnose("r1 p(@X, Y :- q(@X, Y).\n"));
}

#[test]
fn unmatched_paren() {
    assert_snapshot!(diagnose("r1 p(@X, Y) :- q(@X, Y)).\n"));
}

#[test]
fn expression_in_body_atom() {
    assert_snapshot!(diagnose("r1 p(@X, Y) :- q(@X, Y + 1).\n"));
}

#[test]
fn aggregate_in_body() {
    assert_snapshot!(diagnose("r1 p(@X) :- q(@X, min<Y>).\n"));
}

#[test]
fn aggregate_inside_expression() {
    assert_snapshot!(diagnose("r1 p(@X, count<Y> + 1) :- q(@X, Y).\n"));
}

#[test]
fn star_outside_count() {
    assert_snapshot!(diagnose("r1 p(@X, min<*>) :- q(@X, Y).\n"));
}

#[test]
fn bad_aggregate_argument() {
    assert_snapshot!(diagnose("r1 p(@X, max<3>) :- q(@X, Y).\n"));
}

#[test]
fn variable_in_fact() {
    assert_snapshot!(diagnose("node(LOCALADDRESS, NODEID).\n"));
}

#[test]
fn missing_include() {
    assert_snapshot!(diagnose("#include \"missing.olg\"\np(LOCALADDRESS).\n"));
}

#[test]
fn include_cycle() {
    assert_snapshot!(diagnose("#include \"tests/fixtures/cycle_a.olg\"\n"));
}

#[test]
fn unterminated_ifdef() {
    assert_snapshot!(diagnose("#ifdef SIMULATION\np(LOCALADDRESS).\n"));
}

#[test]
fn stray_endif() {
    assert_snapshot!(diagnose("p(LOCALADDRESS).\n#endif\n"));
}

#[test]
fn unknown_directive() {
    assert_snapshot!(diagnose("#pragma once\np(LOCALADDRESS).\n"));
}

#[test]
fn function_like_macro() {
    assert_snapshot!(diagnose("#define DIST(A, B) (B - A)\n"));
}

#[test]
fn misplaced_hash() {
    assert_snapshot!(diagnose("p(LOCALADDRESS). #define X 1\n"));
}

#[test]
fn reserved_keyword_as_relation() {
    assert_snapshot!(diagnose("r1 choose(@X, Y) :- q(@X, Y).\n"));
}

#[test]
fn upper_case_relation() {
    assert_snapshot!(diagnose("r1 p(@X, Y) :- Link(@X, Y).\n"));
}

#[test]
fn location_mismatch() {
    assert_snapshot!(diagnose("r1 p@X(Y, Z) :- q(@X, Y, Z).\n"));
}

#[test]
fn misplaced_at() {
    assert_snapshot!(diagnose("r1 p(@X, @Y) :- q(@X, Y).\n"));
}

#[test]
fn empty_atom() {
    assert_snapshot!(diagnose("r1 p() :- q(@X).\n"));
}

#[test]
fn bad_materialize_lifetime() {
    assert_snapshot!(diagnose("materialize(succ, \"forever\", 100, keys(2)).\n"));
}

#[test]
fn bad_materialize_keys() {
    assert_snapshot!(diagnose("materialize(succ, 30, 100, key(2)).\n"));
}

#[test]
fn watchmod_unknown_letter() {
    assert_snapshot!(diagnose("watchmod(succ, \"ixd\").\n"));
}

#[test]
fn nesting_too_deep() {
    let open = format!("{}\n", "(".repeat(60)).repeat(5);
    let text = format!("r1 p(@X) :- q(@X),\n{open}X{}.\n", ")".repeat(300));
    assert_snapshot!(diagnose(&text));
}

#[test]
fn command_line_value() {
    let options = ParseOptions {
        defines: vec![("LANDMARK".into(), "\"host:port".into())],
        node_params: vec![],
    };
    assert_snapshot!(diagnose_with(
        "landmark(LOCALADDRESS, LANDMARK).\n",
        &options
    ));
}

#[test]
fn several_broken_statements() {
    assert_snapshot!(diagnose(
        "materialize(link, infinity, infinity, keys(1, 2)).\n\
         link(LOCALADDRESS, Peer).\n\
         r1 reach(@X, Y) :- link(@X, Y.\n\
         r2 reach(@X, Z) :- link(@X, Y), reach(@Y, Z), Y == Z + .\n\
         r3 reach(@X, Y) :- link(@X, Y).\n"
    ));
}

#[test]
fn unknown_channel() {
    assert_snapshot!(diagnose("channel(lookup, reliable).\n"));
}

#[test]
fn unknown_lattice() {
    assert_snapshot!(diagnose("lattice(votes, 3, union).\n"));
}

#[test]
fn lattice_nested_too_deeply() {
    let kind = format!("{}max{}", "map(".repeat(16), ")".repeat(16));
    assert_snapshot!(diagnose(&format!("lattice(store, 2, {kind}).\n")));
}

#[test]
fn unknown_semantics() {
    assert_snapshot!(diagnose("semantics(p3).\n"));
}

#[test]
fn a_very_long_line_renders_clipped_around_its_label() {
    // One line of 70,000 characters with the error at its end: miette
    // alone panics on it ("Formatting argument out of range").
    let text = format!("p({}) q(1).", "1, ".repeat(23_400));
    assert!(text.len() > 70_000);
    let rendered = diagnose(&text);
    assert!(rendered.len() < 2_000, "{} bytes", rendered.len());
    // The place is the original's: the `)` after `p(` and 23,400 `1, `.
    let place = format!("test.olg:1:{}", 3 + 3 * 23_400);
    assert!(rendered.contains(&place), "{rendered}");
    assert!(rendered.contains('…'), "{rendered}");
    assert!(rendered.contains("q(1)"), "{rendered}");
}

#[test]
fn lower_case_variable() {
    assert_snapshot!(diagnose("b(@n, x) :- a(@n, x).\n"));
}

/// A ground tuple (`trellis inject`, `--fact`) as the user typed it,
/// diagnosed.
fn diagnose_ground(text: &str) -> String {
    let mut sources = SourceMap::new();
    let Err(GroundError::Syntax(errors)) =
        parse_ground("inject", text, &ParseOptions::default(), &mut sources)
    else {
        panic!("no syntax error for {text:?}");
    };
    errors
        .iter()
        .map(|d| render(&sources, d, Style::Plain))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn unclosed_ground_tuple() {
    let out = diagnose_ground("peer(@LOCALADDRESS, \"x\"");
    // The `.` the parser needs is not the user's: never shown nor named.
    assert!(!out.contains('.'), "{out}");
    assert_snapshot!(out);
}
