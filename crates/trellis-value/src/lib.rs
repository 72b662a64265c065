//! Values of the OverLog language (docs/language.md §4): null, booleans,
//! 64-bit integers and floats, strings, 160-bit identifiers and lists; the
//! operators on them, ring intervals, and the built-in `f_*` functions.
//!
//! Two notions of equality live here on purpose:
//! - [`Value`]'s `Eq`/`Hash`/`Ord` are *structural* and total: they key
//!   tables, join indexes and group-bys (`Int(1)` and `Float(1.0)` are
//!   different keys);
//! - the language's `==` ([`binary`] with [`BinaryOp::Eq`]) compares numbers
//!   by value across int, float and ID.

mod builtins;
mod id;
mod lattice;
mod lattice_fns;
mod ops;
mod value;

pub use builtins::{Arity, Builtin, Env, builtin, builtins, sha1_id};
pub use id::{Id, U160};
pub use lattice::{Lattice, LatticeError};
pub use ops::{BinaryOp, UnaryOp, binary, in_interval, unary};
pub use value::Value;

/// The longest string a derivation may build (`+`, `f_tostr`), in bytes.
pub const MAX_STRING_BYTES: usize = 1 << 20;
/// The longest list a derivation may build.
pub const MAX_LIST_LEN: usize = 1 << 16;
/// How deeply lists may nest (the wire format allows the same).
pub const MAX_LIST_DEPTH: usize = 32;

/// A runtime type error: the derivation that hit it is dropped, counted and
/// reported with its rule; the node keeps running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("operator `{op}` cannot be applied to {left} and {right}")]
    BinaryType {
        op: &'static str,
        left: &'static str,
        right: &'static str,
    },
    #[error("operator `{op}` cannot be applied to {operand}")]
    UnaryType {
        op: &'static str,
        operand: &'static str,
    },
    #[error("division by zero")]
    DivisionByZero,
    /// 64-bit integer arithmetic past `i64`'s range: an error, as division
    /// by zero is, rather than a silent wrap (IDs wrap on the ring).
    #[error("integer overflow: {left} {op} {right} is outside the 64-bit range")]
    IntegerOverflow {
        op: &'static str,
        left: i64,
        right: i64,
    },
    #[error("integer overflow: -({operand}) is outside the 64-bit range")]
    NegationOverflow { operand: i64 },
    #[error("shift by a negative amount ({amount})")]
    NegativeShift { amount: i64 },
    #[error("{function}: argument {position} must be {expected}, found {found}")]
    Argument {
        function: &'static str,
        position: usize,
        expected: &'static str,
        found: &'static str,
    },
    #[error("{function}: {problem}")]
    Domain {
        function: &'static str,
        problem: &'static str,
    },
    #[error("a condition must be a boolean (or an integer), found {found}")]
    NotBoolean { found: &'static str },
    #[error("interval bounds must be numbers, found {found}")]
    IntervalType { found: &'static str },
    /// A value past the size limits: a rule that doubles a value at every
    /// derivation stops here instead of exhausting memory.
    #[error("{what} would exceed {limit}")]
    TooLarge {
        what: &'static str,
        limit: &'static str,
    },
}

/// The string form of `parts`, one after another, unless it grows past
/// [`MAX_STRING_BYTES`] (checked while writing, so nothing huge is built).
pub(crate) fn bounded_string(parts: &[&dyn std::fmt::Display]) -> Result<String, EvalError> {
    struct Limited(String);
    impl std::fmt::Write for Limited {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if self.0.len() + s.len() > MAX_STRING_BYTES {
                return Err(std::fmt::Error);
            }
            self.0.push_str(s);
            Ok(())
        }
    }
    let mut out = Limited(String::new());
    for p in parts {
        std::fmt::write(&mut out, format_args!("{p}")).map_err(|_| EvalError::TooLarge {
            what: "the string",
            limit: "1 MiB",
        })?;
    }
    Ok(out.0)
}

/// Check a list about to be built against the length and nesting limits.
pub(crate) fn bounded_list(items: Vec<Value>) -> Result<Value, EvalError> {
    if items.len() > MAX_LIST_LEN {
        return Err(EvalError::TooLarge {
            what: "the list",
            limit: "65,536 elements",
        });
    }
    fn deeper_than(v: &Value, depth: usize) -> bool {
        match v {
            Value::List(items) => depth == 0 || items.iter().any(|i| deeper_than(i, depth - 1)),
            _ => false,
        }
    }
    if items.iter().any(|i| deeper_than(i, MAX_LIST_DEPTH - 1)) {
        return Err(EvalError::TooLarge {
            what: "the list's nesting",
            limit: "32 levels",
        });
    }
    Ok(Value::List(items.into()))
}
