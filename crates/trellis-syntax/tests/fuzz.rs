//! The front end never panics: random programs built from OverLog tokens,
//! fragments and arbitrary text either parse or give diagnostics, and every
//! diagnostic's span lies in its file and renders.

use proptest::prelude::*;

#[path = "../../../tests/support/fuzz_config.rs"]
mod fuzz_config;
use fuzz_config::fuzz_config;
use trellis_render::{Style, render};
use trellis_syntax::{ParseOptions, SourceMap, parse_str};

const VOCABULARY: &[&str] = &[
    "p",
    "q",
    "node",
    "succ",
    "r1",
    "X",
    "Y",
    "NI",
    "_",
    "_Z",
    "LOCALADDRESS",
    "NODEID",
    "NIL",
    "1",
    "-7",
    "0x1f",
    "0x1I",
    "5I",
    "0.1",
    "1e-3",
    "2.5E+3",
    "99999999999999999999",
    "9223372036854775808",
    "0x",
    "12ab",
    "\"NIL\"",
    "\"a\\qb\"",
    "\"id\"",
    "\"",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "@",
    ":-",
    ":=",
    "<",
    "<=",
    ">",
    ">=",
    "==",
    "!=",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<<",
    ">>",
    "&",
    "|",
    "^",
    "&&",
    "||",
    "!",
    ":",
    "#",
    "=",
    "$",
    "é",
    "notin",
    "in",
    "delete",
    "materialize",
    "keys",
    "watch",
    "watchmod",
    "trace",
    "infinity",
    "null",
    "true",
    "false",
    "periodic",
    "choose",
    "durable",
    "min<X>",
    "count<*>",
    "a_MIN<",
    "MAX<Y>",
    "f_now",
    "f_coinFlip(",
    "/*",
    "*/",
    "/** doc */",
    "// note",
    "\n",
    " ",
    "\t",
    "\n#define NIL \"NIL\"\n",
    "\n#define P p(\n",
    "\n#define X X + 1\n",
    "\n#define E\n",
    "\n#define F(a) a\n",
    "\n#ifdef NIL\n",
    "\n#ifndef Y\n",
    "\n#else\n",
    "\n#endif\n",
    "\n#undef NIL\n",
    "\n#include \"no/such.olg\"\n",
    "\n#include\n",
    "\n#bogus\n",
    "\n#\n",
    "p(@X, Y) :- q(@X, Y).",
    "node(LOCALADDRESS, 1).",
    "materialize(t, 1, 2, keys(1:int32)).",
    "lattice(t, 2, map(set)).",
    "lattice",
    "map(",
    "K in (N, S]",
    "[A, B)",
    "X := f_now()",
];

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(VOCABULARY).prop_map(str::to_string),
        1 => "\\PC{0,6}",
        1 => any::<String>().prop_map(|s| s.chars().take(6).collect()),
    ]
}

fn program() -> impl Strategy<Value = String> {
    prop::collection::vec((fragment(), prop::bool::ANY), 0..48).prop_map(|parts| {
        parts
            .into_iter()
            .map(|(part, space)| if space { part + " " } else { part })
            .collect()
    })
}

proptest! {
    #![proptest_config(fuzz_config(2000))]

    #[test]
    fn parse_never_panics(text in program(), with_options in prop::bool::ANY) {
        let options = if with_options {
            ParseOptions {
                defines: vec![("NIL".into(), "\"nil".into()), ("N".into(), "(1".into())],
                node_params: vec!["NODEID".into()],
            }
        } else {
            ParseOptions::default()
        };
        let mut sources = SourceMap::new();
        let diagnostics = match parse_str("fuzz.olg", &text, &options, &mut sources) {
            Ok(parsed) => parsed.warnings,
            Err(errors) => {
                prop_assert!(!errors.is_empty() && errors.iter().all(|e| !e.is_warning()));
                errors
            }
        };
        for diagnostic in &diagnostics {
            let span = diagnostic.span();
            let file = sources.get(span.file);
            prop_assert!(
                file.text.get(span.start as usize..span.end as usize).is_some(),
                "{diagnostic:?} outside {:?}", file.name
            );
            render(&sources, diagnostic, Style::Plain);
        }
    }
}
