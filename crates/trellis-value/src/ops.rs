//! The language's operators (docs/language.md §4).

use std::cmp::Ordering;

use crate::id::Id;
use crate::{EvalError, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Shl,
    Shr,
    BitAnd,
    BitOr,
    BitXor,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryOp {
    /// The operator as written in programs, for error messages.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Shl => "<<",
            BinaryOp::Shr => ">>",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }
}

impl UnaryOp {
    /// The operator as written in programs, for error messages.
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "!",
        }
    }
}

/// Applies a binary operator. `&&` and `||` evaluate both operands here; the
/// engine short-circuits before calling when the left one decides.
pub fn binary(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    let is_null = |v: &Value| matches!(v, Value::Null);
    let compare = |holds: fn(Ordering) -> bool| {
        // Ordering comparisons with null are false, not errors, so that a
        // rule over a missing value simply does not fire.
        Ok(Value::Bool(
            !is_null(a) && !is_null(b) && holds(a.numeric_cmp(b)),
        ))
    };
    match op {
        BinaryOp::And | BinaryOp::Or => {
            let (x, y) = (a.truthy()?, b.truthy()?);
            Ok(Value::Bool(if op == BinaryOp::And {
                x && y
            } else {
                x || y
            }))
        }
        BinaryOp::Eq => Ok(Value::Bool(a.numeric_cmp(b).is_eq())),
        BinaryOp::Ne => Ok(Value::Bool(a.numeric_cmp(b).is_ne())),
        BinaryOp::Lt => compare(Ordering::is_lt),
        BinaryOp::Le => compare(Ordering::is_le),
        BinaryOp::Gt => compare(Ordering::is_gt),
        BinaryOp::Ge => compare(Ordering::is_ge),
        _ if is_null(a) || is_null(b) => Ok(Value::Null),
        BinaryOp::Add if matches!(a, Value::Str(_)) || matches!(b, Value::Str(_)) => {
            Ok(Value::Str(crate::bounded_string(&[a, b])?.into()))
        }
        BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => {
            match promote(a, b).ok_or_else(|| mismatch(op, a, b))? {
                Pair::Ints(x, y) => int_arithmetic(op, x, y).map(Value::Int),
                Pair::Floats(x, y) => Ok(Value::Float(float_arithmetic(op, x, y))),
                Pair::Ids(x, y) => id_arithmetic(op, x, y).map(Value::Id),
            }
        }
        BinaryOp::Shl | BinaryOp::Shr => shift(op, a, b),
        BinaryOp::BitAnd | BinaryOp::BitOr | BinaryOp::BitXor => {
            match promote(a, b).ok_or_else(|| mismatch(op, a, b))? {
                Pair::Ints(x, y) => Ok(Value::Int(match op {
                    BinaryOp::BitAnd => x & y,
                    BinaryOp::BitOr => x | y,
                    _ => x ^ y,
                })),
                Pair::Ids(x, y) => Ok(Value::Id(match op {
                    BinaryOp::BitAnd => x & y,
                    BinaryOp::BitOr => x | y,
                    _ => x ^ y,
                })),
                Pair::Floats(..) => Err(mismatch(op, a, b)),
            }
        }
    }
}

/// Applies a unary operator.
pub fn unary(op: UnaryOp, a: &Value) -> Result<Value, EvalError> {
    match (op, a) {
        (UnaryOp::Not, a) => Ok(Value::Bool(!a.truthy()?)),
        (UnaryOp::Neg, Value::Null) => Ok(Value::Null),
        (UnaryOp::Neg, Value::Int(x)) => x
            .checked_neg()
            .map(Value::Int)
            .ok_or(EvalError::NegationOverflow { operand: *x }),
        (UnaryOp::Neg, Value::Float(x)) => Ok(Value::Float(-x)),
        (UnaryOp::Neg, Value::Id(x)) => Ok(Value::Id(x.wrapping_neg())),
        (UnaryOp::Neg, other) => Err(EvalError::UnaryType {
            op: op.symbol(),
            operand: other.type_name(),
        }),
    }
}

/// Ring-interval membership `x in (low, high)` with the given closed ends.
/// Null anywhere gives false, like the other comparisons with null. With an ID among the three, all are taken as IDs (integers
/// wrap, floats must be whole and non-negative); otherwise numbers compare
/// by value and the ring wraps at the ends of the number line.
pub fn in_interval(
    x: &Value,
    low: &Value,
    high: &Value,
    low_closed: bool,
    high_closed: bool,
) -> Result<bool, EvalError> {
    let all = [x, low, high];
    if all.iter().any(|v| matches!(v, Value::Null)) {
        return Ok(false);
    }
    if let Some(bad) = all
        .iter()
        .find(|v| !matches!(v, Value::Int(_) | Value::Float(_) | Value::Id(_)))
    {
        return Err(EvalError::IntervalType {
            found: bad.type_name(),
        });
    }
    if all.iter().any(|v| matches!(v, Value::Id(_))) {
        let (x, low, high) = (as_id(x)?, as_id(low)?, as_id(high)?);
        Ok(ring_contains(
            &x,
            &low,
            &high,
            low_closed,
            high_closed,
            Id::cmp,
        ))
    } else {
        Ok(ring_contains(
            x,
            low,
            high,
            low_closed,
            high_closed,
            Value::numeric_cmp,
        ))
    }
}

/// `x` in the clockwise interval from `a` to `b` under `cmp`.
fn ring_contains<T>(
    x: &T,
    a: &T,
    b: &T,
    low_closed: bool,
    high_closed: bool,
    cmp: impl Fn(&T, &T) -> Ordering,
) -> bool {
    let at_low = cmp(x, a);
    let after_low = at_low.is_gt() || (at_low.is_eq() && low_closed);
    let at_high = cmp(x, b);
    let before_high = at_high.is_lt() || (at_high.is_eq() && high_closed);
    match cmp(a, b) {
        Ordering::Less => after_low && before_high,
        Ordering::Greater => after_low || before_high,
        // A full turn: `(A, A]` and `[A, A)` cover the ring, `(A, A)` all but
        // A, `[A, A]` only A.
        Ordering::Equal => match (low_closed, high_closed) {
            (true, true) => at_low.is_eq(),
            (false, false) => at_low.is_ne(),
            _ => true,
        },
    }
}

/// A number as a ring position, for intervals that involve IDs.
fn as_id(v: &Value) -> Result<Id, EvalError> {
    match v {
        Value::Id(id) => Ok(*id),
        Value::Int(i) => Ok(Id::from_i64(*i)),
        Value::Float(f) => Id::from_f64_exact(*f).ok_or(EvalError::IntervalType { found: "float" }),
        other => Err(EvalError::IntervalType {
            found: other.type_name(),
        }),
    }
}

/// Two numeric operands brought to a common type.
enum Pair {
    Ints(i64, i64),
    Floats(f64, f64),
    Ids(Id, Id),
}

/// Int with float is float; int with ID is ID (the int wraps into the
/// ring); ID with float is float. `None` for non-numbers.
fn promote(a: &Value, b: &Value) -> Option<Pair> {
    Some(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Pair::Ints(*x, *y),
        (Value::Id(x), Value::Id(y)) => Pair::Ids(*x, *y),
        (Value::Id(x), Value::Int(y)) => Pair::Ids(*x, Id::from_i64(*y)),
        (Value::Int(x), Value::Id(y)) => Pair::Ids(Id::from_i64(*x), *y),
        _ => Pair::Floats(as_f64(a)?, as_f64(b)?),
    })
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Id(id) => Some(id.to_f64()),
        _ => None,
    }
}

fn mismatch(op: BinaryOp, a: &Value, b: &Value) -> EvalError {
    EvalError::BinaryType {
        op: op.symbol(),
        left: a.type_name(),
        right: b.type_name(),
    }
}

/// Overflow is an error that drops the derivation, as division by zero is
/// (docs/language.md §4): a counter that wrapped to a negative number would
/// be a silent bug in a protocol. `MIN % -1` is 0, which is in range.
fn int_arithmetic(op: BinaryOp, x: i64, y: i64) -> Result<i64, EvalError> {
    let result = match op {
        BinaryOp::Add => x.checked_add(y),
        BinaryOp::Sub => x.checked_sub(y),
        BinaryOp::Mul => x.checked_mul(y),
        _ if y == 0 => return Err(EvalError::DivisionByZero),
        BinaryOp::Div => x.checked_div(y),
        _ => Some(x.wrapping_rem(y)),
    };
    result.ok_or(EvalError::IntegerOverflow {
        op: op.symbol(),
        left: x,
        right: y,
    })
}

/// IEEE arithmetic: dividing by zero gives an infinity or NaN, not an error.
fn float_arithmetic(op: BinaryOp, x: f64, y: f64) -> f64 {
    match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        _ => x % y,
    }
}

fn id_arithmetic(op: BinaryOp, x: Id, y: Id) -> Result<Id, EvalError> {
    match op {
        BinaryOp::Add => Ok(x.wrapping_add(y)),
        BinaryOp::Sub => Ok(x.wrapping_sub(y)),
        BinaryOp::Mul => Ok(x.wrapping_mul(y)),
        BinaryOp::Div => x.checked_div(y).ok_or(EvalError::DivisionByZero),
        _ => x.checked_rem(y).ok_or(EvalError::DivisionByZero),
    }
}

/// Shifts keep the left operand's type. Shifting by the width or more
/// empties the value (or, for `>>` of a negative int, leaves the sign).
fn shift(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, EvalError> {
    // Checked only once the left operand is known to be shiftable, so the
    // type error wins over the negative amount.
    let amount = || match b {
        Value::Int(n) => u64::try_from(*n).map_err(|_| EvalError::NegativeShift { amount: *n }),
        Value::Id(n) => Ok(u64::try_from(n.0).unwrap_or(u64::MAX)),
        _ => Err(mismatch(op, a, b)),
    };
    let left = op == BinaryOp::Shl;
    match a {
        Value::Id(x) if left => Ok(Value::Id(x.wrapping_shl(amount()?))),
        Value::Id(x) => Ok(Value::Id(x.wrapping_shr(amount()?))),
        Value::Int(x) => Ok(Value::Int(match u32::try_from(amount()?) {
            Ok(n) if n < 64 && left => x << n,
            Ok(n) if n < 64 => x >> n,
            _ if left => 0,
            _ => x >> 63,
        })),
        _ => Err(mismatch(op, a, b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::tests::{any_value, id, list};
    use BinaryOp::*;
    use proptest::prelude::*;

    fn int(i: i64) -> Value {
        Value::Int(i)
    }

    fn float(x: f64) -> Value {
        Value::Float(x)
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    fn max_id() -> Value {
        Value::Id(Id::MAX)
    }

    fn ok(op: BinaryOp, a: Value, b: Value) -> Value {
        binary(op, &a, &b).unwrap_or_else(|e| panic!("{a:?} {} {b:?}: {e}", op.symbol()))
    }

    fn err(op: BinaryOp, a: Value, b: Value) -> EvalError {
        match binary(op, &a, &b) {
            Err(e) => e,
            Ok(v) => panic!("{a:?} {} {b:?} gave {v:?}", op.symbol()),
        }
    }

    fn yes(op: BinaryOp, a: Value, b: Value) -> bool {
        match ok(op, a, b) {
            Value::Bool(b) => b,
            other => panic!("not a bool: {other:?}"),
        }
    }

    const ALL_BINARY: [BinaryOp; 18] = [
        Add, Sub, Mul, Div, Mod, Shl, Shr, BitAnd, BitOr, BitXor, Eq, Ne, Lt, Le, Gt, Ge, And, Or,
    ];

    #[test]
    fn symbols() {
        let symbols: Vec<_> = ALL_BINARY.iter().map(|op| op.symbol()).collect();
        assert_eq!(
            symbols,
            [
                "+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "==", "!=", "<", "<=", ">",
                ">=", "&&", "||"
            ]
        );
        assert_eq!(UnaryOp::Neg.symbol(), "-");
        assert_eq!(UnaryOp::Not.symbol(), "!");
    }

    #[test]
    fn int_arithmetic_overflow_is_an_error() {
        assert_eq!(ok(Add, int(2), int(3)), int(5));
        assert_eq!(ok(Sub, int(2), int(3)), int(-1));
        assert_eq!(ok(Mul, int(4), int(-3)), int(-12));
        assert_eq!(ok(Div, int(7), int(2)), int(3));
        assert_eq!(ok(Div, int(-7), int(2)), int(-3));
        assert_eq!(ok(Mod, int(-7), int(2)), int(-1));
        let overflow = |op: BinaryOp, left, right| EvalError::IntegerOverflow {
            op: op.symbol(),
            left,
            right,
        };
        assert_eq!(err(Add, int(i64::MAX), int(1)), overflow(Add, i64::MAX, 1));
        assert_eq!(err(Sub, int(i64::MIN), int(1)), overflow(Sub, i64::MIN, 1));
        assert_eq!(err(Mul, int(i64::MAX), int(2)), overflow(Mul, i64::MAX, 2));
        assert_eq!(
            err(Div, int(i64::MIN), int(-1)),
            overflow(Div, i64::MIN, -1)
        );
        assert_eq!(ok(Mod, int(i64::MIN), int(-1)), int(0));
        assert_eq!(ok(Add, int(i64::MAX - 1), int(1)), int(i64::MAX));
        // IDs still wrap on the ring.
        assert_eq!(ok(Add, Value::Id(Id::MAX), int(1)), Value::Id(Id::ZERO));
        assert_eq!(err(Div, int(1), int(0)), EvalError::DivisionByZero);
        assert_eq!(err(Mod, int(1), int(0)), EvalError::DivisionByZero);
    }

    #[test]
    fn float_arithmetic_is_ieee() {
        assert_eq!(ok(Add, int(1), float(0.5)), float(1.5));
        assert_eq!(ok(Sub, float(0.5), int(1)), float(-0.5));
        assert_eq!(ok(Mul, float(1.5), float(2.0)), float(3.0));
        assert_eq!(ok(Div, int(1), float(4.0)), float(0.25));
        assert_eq!(ok(Mod, float(7.5), int(2)), float(1.5));
        assert_eq!(ok(Div, float(1.0), int(0)), float(f64::INFINITY));
        assert_eq!(ok(Div, float(-1.0), float(0.0)), float(f64::NEG_INFINITY));
        assert_eq!(ok(Div, float(0.0), float(0.0)), float(f64::NAN));
        assert_eq!(ok(Add, id(1), float(0.5)), float(1.5));
        assert_eq!(ok(Mul, float(2.0), id(3)), float(6.0));
    }

    #[test]
    fn id_arithmetic_is_modulo_2_pow_160() {
        assert_eq!(ok(Add, max_id(), id(1)), id(0));
        assert_eq!(ok(Add, max_id(), int(1)), id(0));
        assert_eq!(ok(Add, int(1), max_id()), id(0));
        assert_eq!(ok(Sub, id(0), id(1)), max_id());
        assert_eq!(ok(Sub, id(0), int(1)), max_id());
        assert_eq!(ok(Add, id(0), int(-1)), max_id());
        assert_eq!(ok(Add, id(5), int(-1)), id(4));
        assert_eq!(ok(Sub, int(3), id(5)), ok(Sub, id(0), id(2)));
        assert_eq!(ok(Mul, max_id(), int(2)), ok(Sub, id(0), id(2)));
        assert_eq!(ok(Div, id(7), int(2)), id(3));
        assert_eq!(ok(Mod, id(7), int(2)), id(1));
        // -1 converts to 2^160 - 1 before dividing.
        assert_eq!(ok(Div, int(-1), id(2)), ok(Shr, max_id(), int(1)));
        assert_eq!(err(Div, id(7), id(0)), EvalError::DivisionByZero);
        assert_eq!(err(Mod, id(7), int(0)), EvalError::DivisionByZero);
        assert_eq!(unary(UnaryOp::Neg, &id(1)), Ok(max_id()));
        assert_eq!(unary(UnaryOp::Neg, &id(0)), Ok(id(0)));
    }

    #[test]
    fn shifts() {
        assert_eq!(ok(Shl, int(1), int(3)), int(8));
        assert_eq!(ok(Shr, int(-8), int(1)), int(-4));
        assert_eq!(ok(Shl, int(1), int(63)), int(i64::MIN));
        assert_eq!(ok(Shl, int(3), int(63)), int(i64::MIN));
        assert_eq!(ok(Shl, int(1), int(64)), int(0));
        assert_eq!(ok(Shr, int(i64::MAX), int(64)), int(0));
        assert_eq!(ok(Shr, int(-5), int(64)), int(-1));
        assert_eq!(ok(Shr, int(-5), int(1000)), int(-1));
        assert_eq!(ok(Shl, int(1), id(3)), int(8));
        assert_eq!(ok(Shl, int(1), max_id()), int(0));
        assert_eq!(ok(Shr, int(-1), max_id()), int(-1));
        assert_eq!(
            err(Shl, int(1), int(-1)),
            EvalError::NegativeShift { amount: -1 }
        );
        assert_eq!(
            err(Shr, id(1), int(-2)),
            EvalError::NegativeShift { amount: -2 }
        );
        let top = ok(Shl, id(1), int(159));
        assert_eq!(top.to_string(), format!("0x8{}I", "0".repeat(39)));
        assert_eq!(ok(Shl, top.clone(), int(1)), id(0));
        assert_eq!(ok(Shr, top, int(159)), id(1));
        assert_eq!(ok(Shl, id(1), int(160)), id(0));
        assert_eq!(ok(Shr, max_id(), int(160)), id(0));
        assert_eq!(ok(Shr, max_id(), id(159)), id(1));
        for (a, b) in [(float(1.0), int(1)), (int(1), float(1.0)), (s("a"), int(1))] {
            assert!(matches!(err(Shl, a, b), EvalError::BinaryType { .. }));
        }
    }

    #[test]
    fn bitwise() {
        assert_eq!(ok(BitAnd, int(12), int(10)), int(8));
        assert_eq!(ok(BitOr, int(12), int(10)), int(14));
        assert_eq!(ok(BitXor, int(12), int(10)), int(6));
        assert_eq!(ok(BitAnd, int(-1), id(10)), id(10));
        assert_eq!(ok(BitOr, id(12), int(10)), id(14));
        assert_eq!(ok(BitXor, id(12), id(10)), id(6));
        assert_eq!(ok(BitAnd, max_id(), int(-1)), max_id());
        assert_eq!(
            err(BitAnd, float(1.0), int(1)),
            EvalError::BinaryType {
                op: "&",
                left: "float",
                right: "int"
            }
        );
        assert!(matches!(
            err(BitOr, Value::Bool(true), Value::Bool(false)),
            EvalError::BinaryType { .. }
        ));
    }

    #[test]
    fn plus_concatenates_string_forms() {
        assert_eq!(ok(Add, s("a"), int(1)), s("a1"));
        assert_eq!(ok(Add, int(1), s("a")), s("1a"));
        assert_eq!(ok(Add, s("a"), s("b")), s("ab"));
        assert_eq!(ok(Add, s("x="), float(1.0)), s("x=1.0"));
        assert_eq!(ok(Add, s("n"), id(31)), s("n0x1fI"));
        assert_eq!(ok(Add, s("b"), Value::Bool(true)), s("btrue"));
        assert_eq!(ok(Add, list(&[s("q")]), s("!")), s("[\"q\"]!"));
        assert_eq!(ok(Add, s("a"), Value::Null), Value::Null);
        assert_eq!(
            err(Sub, s("a"), int(1)),
            EvalError::BinaryType {
                op: "-",
                left: "string",
                right: "int"
            }
        );
    }

    #[test]
    fn null_absorbs_arithmetic() {
        for op in [Add, Sub, Mul, Div, Mod, Shl, Shr, BitAnd, BitOr, BitXor] {
            for other in [
                int(0),
                float(1.0),
                id(1),
                s("a"),
                list(&[]),
                Value::Bool(true),
            ] {
                assert_eq!(ok(op, Value::Null, other.clone()), Value::Null);
                assert_eq!(ok(op, other, Value::Null), Value::Null);
            }
            assert_eq!(ok(op, Value::Null, Value::Null), Value::Null);
        }
        assert_eq!(unary(UnaryOp::Neg, &Value::Null), Ok(Value::Null));
    }

    #[test]
    fn equality_across_numeric_types() {
        assert!(yes(Eq, int(1), float(1.0)));
        assert!(yes(Eq, float(1.0), id(1)));
        assert!(yes(Eq, int(1), id(1)));
        assert!(!yes(Eq, int(-1), max_id()));
        assert!(!yes(Ne, int(1), id(1)));
        assert!(yes(Ne, int(1), float(1.5)));
        assert!(yes(Eq, s("a"), s("a")));
        assert!(!yes(Eq, s("a"), s("b")));
        assert!(yes(
            Eq,
            list(&[int(1), s("a")]),
            list(&[float(1.0), s("a")])
        ));
        assert!(!yes(Eq, list(&[int(1)]), list(&[int(1), int(1)])));
        assert!(yes(Eq, Value::Bool(true), Value::Bool(true)));
        // Unrelated types are unequal, not an error.
        assert!(!yes(Eq, s("1"), int(1)));
        assert!(yes(Ne, Value::Bool(true), int(1)));
    }

    #[test]
    fn null_tests() {
        assert!(yes(Eq, Value::Null, Value::Null));
        assert!(!yes(Ne, Value::Null, Value::Null));
        for other in [
            int(0),
            float(0.0),
            id(0),
            s(""),
            s("NIL"),
            list(&[]),
            Value::Bool(false),
        ] {
            assert!(!yes(Eq, other.clone(), Value::Null));
            assert!(!yes(Eq, Value::Null, other.clone()));
            assert!(yes(Ne, other.clone(), Value::Null));
            for op in [Lt, Le, Gt, Ge] {
                assert!(!yes(op, other.clone(), Value::Null));
                assert!(!yes(op, Value::Null, other.clone()));
            }
        }
        for op in [Lt, Le, Gt, Ge] {
            assert!(!yes(op, Value::Null, Value::Null));
        }
    }

    #[test]
    fn ordering_comparisons() {
        assert!(yes(Lt, int(1), float(1.5)));
        assert!(yes(Gt, id(2), int(1)));
        assert!(yes(Le, int(1), id(1)));
        assert!(yes(Ge, float(1.0), id(1)));
        assert!(!yes(Lt, int(1), id(1)));
        assert!(yes(Lt, int(-1), id(0)));
        assert!(yes(Lt, s("abc"), s("abd")));
        assert!(yes(Lt, s("B"), s("a")));
        assert!(yes(Lt, Value::Bool(true), int(0)));
        assert!(yes(Lt, int(5), s("")));
        assert!(yes(Lt, s("z"), list(&[])));
        assert!(yes(Lt, list(&[int(1)]), list(&[float(1.5)])));
        assert!(yes(Le, list(&[int(1)]), list(&[id(1)])));
        assert!(yes(Gt, float(f64::NAN), float(f64::INFINITY)));
        assert!(yes(Gt, max_id(), int(i64::MAX)));
    }

    #[test]
    fn logic() {
        let t = Value::Bool(true);
        let f = Value::Bool(false);
        assert_eq!(ok(And, t.clone(), f.clone()), f);
        assert_eq!(ok(And, t.clone(), int(2)), t);
        assert_eq!(ok(Or, f.clone(), int(0)), f);
        assert_eq!(ok(Or, Value::Null, t.clone()), t);
        assert_eq!(
            err(And, f.clone(), s("x")),
            EvalError::NotBoolean { found: "string" }
        );
        assert_eq!(err(Or, id(1), t), EvalError::NotBoolean { found: "id" });
        assert_eq!(unary(UnaryOp::Not, &f), Ok(Value::Bool(true)));
        assert_eq!(unary(UnaryOp::Not, &int(3)), Ok(Value::Bool(false)));
        assert_eq!(unary(UnaryOp::Not, &Value::Null), Ok(Value::Bool(true)));
        assert_eq!(
            unary(UnaryOp::Not, &float(1.0)),
            Err(EvalError::NotBoolean { found: "float" })
        );
    }

    #[test]
    fn negation() {
        assert_eq!(unary(UnaryOp::Neg, &int(3)), Ok(int(-3)));
        assert_eq!(
            unary(UnaryOp::Neg, &int(i64::MIN)),
            Err(EvalError::NegationOverflow { operand: i64::MIN })
        );
        assert_eq!(unary(UnaryOp::Neg, &int(i64::MAX)), Ok(int(-i64::MAX)));
        assert_eq!(unary(UnaryOp::Neg, &float(0.5)), Ok(float(-0.5)));
        for v in [s("a"), Value::Bool(true), list(&[])] {
            assert_eq!(
                unary(UnaryOp::Neg, &v),
                Err(EvalError::UnaryType {
                    op: "-",
                    operand: v.type_name()
                })
            );
        }
    }

    #[test]
    fn type_mismatches() {
        let cases = [
            (Sub, list(&[]), int(1), "list", "int"),
            (Mul, Value::Bool(true), int(1), "bool", "int"),
            (Div, int(1), s("a"), "int", "string"),
            (Add, list(&[]), list(&[]), "list", "list"),
            (Mod, id(1), Value::Bool(false), "id", "bool"),
        ];
        for (op, a, b, left, right) in cases {
            assert_eq!(
                err(op, a, b),
                EvalError::BinaryType {
                    op: op.symbol(),
                    left,
                    right
                }
            );
        }
    }

    /// The four bracket forms, in the order `()`, `(]`, `[)`, `[]`.
    fn brackets(x: &Value, a: &Value, b: &Value) -> [bool; 4] {
        [(false, false), (false, true), (true, false), (true, true)].map(|(lc, hc)| {
            in_interval(x, a, b, lc, hc).unwrap_or_else(|e| panic!("{x:?} in {a:?}..{b:?}: {e}"))
        })
    }

    /// Checks every bracket form for the ring positions of `at(0..=9)`, with
    /// the interval from `at(2)` to `at(5)`, from `at(5)` to `at(2)` and from
    /// `at(5)` to `at(5)`.
    fn check_ring(at: impl Fn(i64) -> Value) {
        let (two, five) = (at(2), at(5));
        for n in 0..=9 {
            let x = at(n);
            let inside = (3..=4).contains(&n);
            let plain = brackets(&x, &two, &five);
            assert_eq!(
                plain,
                [
                    inside,
                    inside || n == 5,
                    inside || n == 2,
                    inside || n == 2 || n == 5
                ],
                "{x:?} in 2..5"
            );
            let outside = !(2..=5).contains(&n);
            let wrapped = brackets(&x, &five, &two);
            assert_eq!(
                wrapped,
                [
                    outside,
                    outside || n == 2,
                    outside || n == 5,
                    outside || n == 2 || n == 5
                ],
                "{x:?} in 5..2"
            );
            let full = brackets(&x, &five, &five);
            assert_eq!(full, [n != 5, true, true, n == 5], "{x:?} in 5..5");
        }
    }

    #[test]
    fn intervals_on_ints_floats_and_ids() {
        check_ring(int);
        check_ring(|n| float(n as f64));
        check_ring(|n| float(n as f64 / 2.0 + 0.25));
        check_ring(|n| id(n as u64));
        // Mixed: an ID anywhere makes it an ID interval.
        check_ring(|n| if n == 5 { id(5) } else { int(n) });
        check_ring(|n| if n == 2 { id(2) } else { float(n as f64) });
        // Mixed ints and floats compare by value.
        check_ring(|n| if n % 2 == 0 { float(n as f64) } else { int(n) });
    }

    #[test]
    fn intervals_wrap_at_the_end_of_the_range() {
        let inside = |x: Value, a: Value, b: Value| in_interval(&x, &a, &b, false, true).unwrap();
        // Chord's `K in (N, S]` across zero.
        assert!(inside(id(0), max_id(), id(3)));
        assert!(inside(max_id(), id(100), id(3)));
        assert!(!inside(id(50), id(100), id(3)));
        // A negative int is a position near the top of the ring.
        assert!(inside(int(-1), id(100), id(3)));
        assert!(inside(max_id(), int(-5), int(-1)));
        assert!(inside(int(7), int(5), int(2)));
        assert!(inside(int(1), int(5), int(2)));
        assert!(inside(int(i64::MIN), int(5), int(2)));
        assert!(!inside(int(3), int(5), int(2)));
    }

    #[test]
    fn interval_nulls_and_types() {
        let n = Value::Null;
        for (x, a, b) in [
            (n.clone(), int(1), int(2)),
            (int(1), n.clone(), int(2)),
            (int(1), int(0), n.clone()),
            (s("a"), n.clone(), int(2)),
        ] {
            for (lc, hc) in [(false, false), (true, true), (false, true), (true, false)] {
                assert_eq!(in_interval(&x, &a, &b, lc, hc), Ok(false));
            }
        }
        assert_eq!(
            in_interval(&s("a"), &int(1), &int(2), false, true),
            Err(EvalError::IntervalType { found: "string" })
        );
        assert_eq!(
            in_interval(&int(1), &list(&[]), &id(2), false, true),
            Err(EvalError::IntervalType { found: "list" })
        );
        assert_eq!(
            in_interval(&int(1), &int(0), &Value::Bool(true), false, true),
            Err(EvalError::IntervalType { found: "bool" })
        );
        for bad in [0.5, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(
                in_interval(&float(bad), &id(0), &id(2), false, true),
                Err(EvalError::IntervalType { found: "float" })
            );
        }
        assert_eq!(
            in_interval(&float(1.0), &id(0), &id(2), false, true),
            Ok(true)
        );
    }

    fn any_op() -> impl Strategy<Value = BinaryOp> {
        proptest::sample::select(ALL_BINARY.to_vec())
    }

    fn any_id() -> impl Strategy<Value = Id> {
        prop_oneof![
            (0u64..4).prop_map(Id::from_u64),
            Just(Id::MAX),
            any::<[u8; 20]>().prop_map(Id::from_be_bytes),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn operators_never_panic(op in any_op(), a in any_value(), b in any_value()) {
            if let Ok(v) = binary(op, &a, &b)
                && matches!(op, Eq | Ne | Lt | Le | Gt | Ge | And | Or)
            {
                prop_assert!(matches!(v, Value::Bool(_)));
            }
            let _ = unary(UnaryOp::Neg, &a);
            let _ = unary(UnaryOp::Not, &a);
        }

        #[test]
        fn equality_and_order_agree(a in any_value(), b in any_value()) {
            let eq = yes(Eq, a.clone(), b.clone());
            prop_assert_eq!(eq, !yes(Ne, a.clone(), b.clone()));
            if a != Value::Null && b != Value::Null {
                prop_assert_eq!(eq, yes(Le, a.clone(), b.clone()) && yes(Ge, a.clone(), b.clone()));
                prop_assert_eq!(yes(Lt, a.clone(), b.clone()), yes(Gt, b.clone(), a.clone()));
                prop_assert_eq!(yes(Lt, a.clone(), b.clone()), !yes(Ge, a.clone(), b.clone()));
            }
            if a == b {
                prop_assert!(eq);
            }
        }

        #[test]
        fn intervals_never_panic(
            x in any_value(), a in any_value(), b in any_value(),
            lc in any::<bool>(), hc in any::<bool>(),
        ) {
            let _ = in_interval(&x, &a, &b, lc, hc);
        }

        #[test]
        fn half_open_intervals_partition_the_ring(x in any_id(), a in any_id(), b in any_id()) {
            prop_assume!(a != b);
            let (x, a, b) = (Value::Id(x), Value::Id(a), Value::Id(b));
            let first = in_interval(&x, &a, &b, false, true).unwrap();
            let second = in_interval(&x, &b, &a, false, true).unwrap();
            prop_assert!(first != second, "{:?} in ({:?}, {:?}] and the rest", x, a, b);
        }

        #[test]
        fn id_subtraction_undoes_addition(a in any_id(), b in any_id()) {
            let sum = ok(Add, Value::Id(a), Value::Id(b));
            prop_assert_eq!(ok(Sub, sum, Value::Id(b)), Value::Id(a));
        }
    }
}
