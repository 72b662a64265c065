//! Tuple patterns written outside a program: `trellis why DIR 'pattern'`.
//! A pattern is one atom whose fields are constants (which must match), `_`
//! (anything) or variables (anything, but the same variable twice must
//! match equal values): `lookupResults(@"n3:9000", K, _, _)`.
//!
//! Errors are data, like [`crate::parse_ground`]'s: the caller renders
//! them with the [`SourceMap`] it passed in.

use miette::Diagnostic;
use thiserror::Error;
use trellis_value::Value;

use crate::ast::ExprKind;
use crate::diagnostic::SourceDiagnostic;
use crate::error::SyntaxError;
use crate::parser::parse_atom_str;
use crate::preprocess::ParseOptions;
use crate::source::{FileId, SourceMap, Span};

/// One field of a pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternField {
    /// Matches this value only.
    Value(Value),
    /// Matches anything; every field with the same name must be equal.
    Var(String),
    /// `_`: matches anything.
    Any,
}

/// `rel(field, ...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub relation: String,
    pub fields: Vec<PatternField>,
}

/// Why a text is not a pattern.
#[derive(Debug, Clone, PartialEq, Error, Diagnostic)]
pub enum PatternError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Syntax(#[from] SyntaxError),

    #[error("a pattern's fields are constants, variables or `_`")]
    #[diagnostic(
        code(trellis::pattern::not_constant),
        help(
            "tuples are matched field by field: write the value (`\"n3:9000\"`, `7`, `0x1fI`), \
             or `_` for any value"
        )
    )]
    NotConstant {
        #[label("not a constant, a variable or `_`")]
        span: Span,
    },
}

impl SourceDiagnostic for PatternError {
    fn file(&self) -> FileId {
        match self {
            PatternError::Syntax(e) => e.file(),
            PatternError::NotConstant { span } => span.file,
        }
    }
}

/// Parse one pattern as a file named `name` in `sources`; every error.
pub fn parse_pattern(
    name: &str,
    text: &str,
    options: &ParseOptions,
    sources: &mut SourceMap,
) -> Result<Pattern, Vec<PatternError>> {
    let atom = parse_atom_str(name, text.trim(), options, sources).map_err(|errors| {
        errors
            .into_iter()
            .map(PatternError::from)
            .collect::<Vec<_>>()
    })?;
    let mut errors = Vec::new();
    let fields = atom
        .args
        .iter()
        .filter_map(|arg| match &arg.kind {
            ExprKind::Literal(v) => Some(PatternField::Value(v.clone())),
            ExprKind::Var(v) => Some(PatternField::Var(v.clone())),
            ExprKind::Wildcard => Some(PatternField::Any),
            _ => {
                errors.push(PatternError::NotConstant { span: arg.span });
                None
            }
        })
        .collect();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Pattern {
        relation: atom.relation.name,
        fields,
    })
}

impl Pattern {
    /// Does the tuple `fields` of `relation` match?
    pub fn matches(&self, relation: &str, fields: &[Value]) -> bool {
        if relation != self.relation || fields.len() != self.fields.len() {
            return false;
        }
        let mut bound: Vec<(&str, &Value)> = Vec::new();
        self.fields.iter().zip(fields).all(|(p, v)| match p {
            PatternField::Value(c) => c == v,
            PatternField::Any => true,
            PatternField::Var(name) => match bound.iter().find(|(n, _)| n == name) {
                Some((_, first)) => *first == v,
                None => {
                    bound.push((name, v));
                    true
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Pattern, Vec<PatternError>> {
        parse_pattern(
            "pattern",
            text,
            &ParseOptions::default(),
            &mut SourceMap::new(),
        )
    }

    #[test]
    fn constants_variables_and_wildcards() {
        let p = parse(r#"lookupResults(@"n3:9000", K, _, -2, 0x1fI)"#).expect("a pattern");
        assert_eq!(p.relation, "lookupResults");
        assert_eq!(
            p.fields,
            vec![
                PatternField::Value(Value::str("n3:9000")),
                PatternField::Var("K".into()),
                PatternField::Any,
                PatternField::Value(Value::Int(-2)),
                PatternField::Value(Value::Id(trellis_value::Id::from_u64(31))),
            ]
        );
        let at = |a: &str, k: i64| [Value::str(a), Value::Int(k)];
        let p = parse(r#"r(@"a", _)."#).expect("a final `.` is fine");
        assert!(p.matches("r", &at("a", 1)));
        assert!(!p.matches("r", &at("b", 1)));
        assert!(!p.matches("s", &at("a", 1)));
        assert!(!p.matches("r", &[Value::str("a")]), "arity");
    }

    #[test]
    fn a_repeated_variable_matches_equal_values() {
        let p = parse("e(@A, X, X)").expect("a pattern");
        let t = |x: i64, y: i64| [Value::str("n"), Value::Int(x), Value::Int(y)];
        assert!(p.matches("e", &t(1, 1)));
        assert!(!p.matches("e", &t(1, 2)));
    }

    #[test]
    fn errors_are_data() {
        let errors = parse("r(@A, X + 1, f_now())").expect_err("expressions");
        assert_eq!(errors.len(), 2);
        assert!(
            errors
                .iter()
                .all(|e| matches!(e, PatternError::NotConstant { .. }))
        );
        for text in ["r(@A", "r(@A), s(@B)", "r(@A) :- s(@A)", "", "r()"] {
            let errors = parse(text).expect_err(text);
            assert!(
                errors.iter().all(|e| matches!(e, PatternError::Syntax(_))),
                "{text}: {errors:?}"
            );
        }
    }
}
