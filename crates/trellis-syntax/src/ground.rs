//! Ground tuples written outside a program: `trellis run --fact`, `trellis
//! inject`, and the simulator's scenario tuples. One parser for all three,
//! so a tuple means the same wherever it is written: `rel(args)`, the
//! program's macros expanded, each field a constant or a name the caller
//! gives a value (`LOCALADDRESS`, and the caller's placeholders such as the
//! simulator's `RANDID`).
//!
//! Errors are data: the caller renders them (with the [`SourceMap`] it
//! passed in) and words them for its own command.

use trellis_value::Value;

use crate::ast::{ExprKind, Statement};
use crate::error::SyntaxError;
use crate::parser::parse_str;
use crate::preprocess::ParseOptions;
use crate::source::{SourceMap, Span};

/// One field of a ground tuple.
#[derive(Debug, Clone, PartialEq)]
pub enum GroundField {
    /// A constant, macros expanded.
    Value(Value),
    /// `LOCALADDRESS` or one of [`ParseOptions::node_params`] (not defined
    /// as a macro): the caller gives it a value, or refuses it.
    Param(String),
}

/// `rel(field, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTuple {
    pub relation: String,
    pub fields: Vec<GroundField>,
}

/// Why a text is not a ground tuple.
#[derive(Debug, Clone, PartialEq)]
pub enum GroundError {
    /// It does not parse (render each error with the source map given).
    Syntax(Vec<SyntaxError>),
    /// It parses, but is not one tuple: nothing, a rule, a declaration,
    /// several facts.
    NotOneTuple,
    /// Field `index` (from 0) is neither a constant nor a name with a value.
    /// (The parser already refuses variables and expressions in facts; this
    /// keeps a change there from slipping one through.)
    NotGround { index: usize, span: Span },
}

/// Parse one ground tuple, `rel(args)` with or without the final `.`, as
/// a file named `name` in `sources`. `options.node_params` are the names
/// that may stand for a field's value (besides `LOCALADDRESS`).
pub fn parse_ground(
    name: &str,
    text: &str,
    options: &ParseOptions,
    sources: &mut SourceMap,
) -> Result<GroundTuple, GroundError> {
    let text = text.trim();
    let source = format!("{}.", text.trim_end_matches('.'));
    // The `.` is added for the parser; when the tuple is malformed, parse
    // what the user typed instead, so no diagnostic points at (or names) a
    // character they never wrote.
    if parse_str(name, &source, options, &mut SourceMap::new()).is_err() {
        let errors = typed_errors(name, text, options, sources);
        // (Never empty, unless only the final `.` was missing yet the text
        // with it fails: then the errors of the text with it.)
        if !errors.is_empty() {
            return Err(GroundError::Syntax(errors));
        }
    }
    let parsed = parse_str(name, &source, options, sources).map_err(GroundError::Syntax)?;
    let [Statement::Fact(fact)] = parsed.program.statements.as_slice() else {
        return Err(GroundError::NotOneTuple);
    };
    let fields = fact
        .atom
        .args
        .iter()
        .enumerate()
        .map(|(index, arg)| match &arg.kind {
            ExprKind::Literal(v) => Ok(GroundField::Value(v.clone())),
            ExprKind::NodeParam(p) => Ok(GroundField::Param(p.clone())),
            _ => Err(GroundError::NotGround {
                index,
                span: arg.span,
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(GroundTuple {
        relation: fact.atom.relation.name.clone(),
        fields,
    })
}

/// The errors of `text` as typed (its final `.` optional), worded for a
/// tuple given on its own rather than a file. A missing final `.` is not an
/// error here.
fn typed_errors(
    name: &str,
    text: &str,
    options: &ParseOptions,
    sources: &mut SourceMap,
) -> Vec<SyntaxError> {
    let errors = match parse_str(name, text, options, sources) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    };
    errors
        .into_iter()
        .filter(|e| !matches!(e, SyntaxError::MissingDot { .. }))
        .map(|mut e| {
            if let SyntaxError::UnexpectedToken { found, .. }
            | SyntaxError::UnclosedDelimiter { found, .. } = &mut e
                && found == "end of file"
            {
                *found = "end of input".to_string();
            }
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        text: &str,
        defines: &[(&str, &str)],
        params: &[&str],
    ) -> Result<GroundTuple, GroundError> {
        let options = ParseOptions {
            defines: defines
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            node_params: params.iter().map(|p| p.to_string()).collect(),
        };
        parse_ground("--fact", text, &options, &mut SourceMap::new())
    }

    #[test]
    fn constants_macros_and_names() {
        let t = parse(
            "ping(@LOCALADDRESS, N, RANDID, \"x\", 0x1fI).",
            &[("N", "5")],
            &["RANDID"],
        )
        .expect("ground");
        assert_eq!(t.relation, "ping");
        assert_eq!(
            t.fields,
            vec![
                GroundField::Param("LOCALADDRESS".into()),
                GroundField::Value(Value::Int(5)),
                GroundField::Param("RANDID".into()),
                GroundField::Value(Value::str("x")),
                GroundField::Value(Value::Id(trellis_value::Id::from_u64(31))),
            ]
        );
        // The final `.` is optional; a name defined as a macro is a constant.
        let t = parse("  e(RANDID)  ", &[("RANDID", "1")], &["RANDID"]).expect("ground");
        assert_eq!(t.fields, vec![GroundField::Value(Value::Int(1))]);
    }

    #[test]
    fn errors_are_data() {
        assert!(matches!(parse("e(1", &[], &[]), Err(GroundError::Syntax(e)) if !e.is_empty()));
        assert_eq!(parse("e(1). f(2)", &[], &[]), Err(GroundError::NotOneTuple));
        assert!(matches!(parse("", &[], &[]), Err(GroundError::Syntax(_))));
        assert_eq!(
            parse("r(X) :- e(X)", &[], &[]),
            Err(GroundError::NotOneTuple)
        );
        // The parser refuses variables and expressions in facts itself.
        for text in ["e(1, X)", "e(1, 2 + 3)"] {
            assert!(matches!(parse(text, &[], &[]), Err(GroundError::Syntax(_))));
        }
    }
}
