//! Values of the OverLog language (LANGUAGE.md section 4): null, booleans,
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
mod ops;
mod value;

pub use builtins::{Arity, Builtin, Env, builtin, builtins, sha1_id};
pub use id::{Id, U160};
pub use ops::{BinaryOp, UnaryOp, binary, in_interval, unary};
pub use value::Value;

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
}
