use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::EvalError;
use crate::id::Id;

/// One field of a tuple. Cheap to clone: strings and lists are shared, IDs
/// are inline.
#[derive(Clone)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Id(Id),
    List(Arc<[Value]>),
}

/// 2^63 as a float: the first float above every `i64`.
const TWO_POW_63: f64 = f64::from_bits((1023 + 63) << 52);

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(s.into())
    }

    /// The name used in error messages and returned by `f_typeOf`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Id(_) => "id",
            Value::List(_) => "list",
        }
    }

    /// A condition's truth. Integers count because P2 programs test
    /// `f_coinFlip(P)`-style 0/1 results directly; null is false so that a
    /// missing value never makes a rule fire.
    pub fn truthy(&self) -> Result<bool, EvalError> {
        match self {
            Value::Bool(b) => Ok(*b),
            Value::Int(i) => Ok(*i != 0),
            Value::Null => Ok(false),
            other => Err(EvalError::NotBoolean {
                found: other.type_name(),
            }),
        }
    }

    /// The value as written in a program: like the string form, but strings
    /// are quoted and escaped, so watch output is unambiguous.
    pub fn literal(&self) -> String {
        Literal(self).to_string()
    }

    /// The language's order (`<`, `==`, ...): [`Ord`] without its
    /// tie-break, so numerically equal numbers of different types compare
    /// equal, also inside lists.
    pub(crate) fn numeric_cmp(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
            (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
            (Value::List(x), Value::List(y)) => lexicographic(x, y, Value::numeric_cmp),
            _ if self.rank() == 2 && other.rank() == 2 => compare_numbers(self, other),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    /// Position in the cross-type order: null < bool < numbers < strings <
    /// lists.
    fn rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Float(_) | Value::Id(_) => 2,
            Value::Str(_) => 3,
            Value::List(_) => 4,
        }
    }
}

/// Orders values the language considers equal but that are structurally
/// different: numbers of different types by Int < Float < Id, lists by
/// their first such difference.
fn tie_break(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::List(x), Value::List(y)) => lexicographic(x, y, tie_break),
        _ => number_rank(a).cmp(&number_rank(b)),
    }
}

fn lexicographic(x: &[Value], y: &[Value], cmp: fn(&Value, &Value) -> Ordering) -> Ordering {
    x.iter()
        .zip(y)
        .map(|(p, q)| cmp(p, q))
        .find(|o| o.is_ne())
        .unwrap_or_else(|| x.len().cmp(&y.len()))
}

/// Among numbers of equal value; irrelevant for other types.
fn number_rank(v: &Value) -> u8 {
    match v {
        Value::Int(_) => 0,
        Value::Float(_) => 1,
        _ => 2,
    }
}

/// Exact numeric comparison of two numbers of any type (no rounding through
/// `f64`, which would make the order intransitive); NaN is greater than
/// every number and equal to itself.
fn compare_numbers(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => compare_floats(*x, *y),
        (Value::Id(x), Value::Id(y)) => x.cmp(y),
        (Value::Int(x), Value::Float(y)) => compare_int_float(*x, *y),
        (Value::Int(x), Value::Id(y)) => compare_int_id(*x, *y),
        (Value::Id(x), Value::Float(y)) => x.cmp_f64(*y),
        _ => compare_numbers(b, a).reverse(),
    }
}

/// NaN greatest and equal to itself; `-0.0 == 0.0`.
fn compare_floats(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

fn compare_int_float(x: i64, y: f64) -> Ordering {
    if y.is_nan() || y >= TWO_POW_63 {
        Ordering::Less
    } else if y < -TWO_POW_63 {
        Ordering::Greater
    } else {
        // -2^63 <= floor(y) < 2^63, so the cast is exact.
        let floor = y.floor();
        x.cmp(&(floor as i64)).then(if y > floor {
            Ordering::Less
        } else {
            Ordering::Equal
        })
    }
}

fn compare_int_id(x: i64, y: Id) -> Ordering {
    match u64::try_from(x) {
        Ok(x) => Id::from_u64(x).cmp(&y),
        Err(_) => Ordering::Less,
    }
}

/// Float equality for keys: by value, with all NaNs one value.
fn same_float(x: f64, y: f64) -> bool {
    x == y || (x.is_nan() && y.is_nan())
}

impl PartialEq for Value {
    #[inline]
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(x), Value::Bool(y)) => x == y,
            (Value::Int(x), Value::Int(y)) => x == y,
            (Value::Float(x), Value::Float(y)) => same_float(*x, *y),
            // Shared strings (a node's own address in every tuple) compare
            // by pointer first: joins check locations on every row.
            (Value::Str(x), Value::Str(y)) => Arc::ptr_eq(x, y) || x == y,
            (Value::Id(x), Value::Id(y)) => x == y,
            (Value::List(x), Value::List(y)) => Arc::ptr_eq(x, y) || x == y,
            _ => false,
        }
    }
}

impl Eq for Value {}

impl Hash for Value {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Value::Null => {}
            Value::Bool(b) => b.hash(state),
            Value::Int(i) => i.hash(state),
            Value::Float(f) => {
                // Equal floats must hash alike: fold -0.0 and every NaN.
                let canonical = if f.is_nan() {
                    f64::NAN
                } else if *f == 0.0 {
                    0.0
                } else {
                    *f
                };
                canonical.to_bits().hash(state);
            }
            Value::Str(s) => s.hash(state),
            Value::Id(id) => id.hash(state),
            Value::List(items) => items.hash(state),
        }
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The language's order, refined so that only structurally equal values
/// compare equal.
impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        self.numeric_cmp(other).then_with(|| tie_break(self, other))
    }
}

/// Writes a float so it reads back as a float: `1.0`, not `1`.
fn write_float(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    write!(f, "{x}")?;
    // Rust prints integral floats without a fraction and never uses an
    // exponent, so this is exactly the case that needs one.
    if x.is_finite() && x.fract() == 0.0 {
        f.write_str(".0")?;
    }
    Ok(())
}

/// The string form: what `+` concatenates, `f_tostr` returns and `f_sha1`
/// hashes. Strings are raw; list elements are written as literals.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write_float(f, *x),
            Value::Str(s) => f.write_str(s),
            Value::Id(id) => write!(f, "{id}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Literal(item))?;
                }
                f.write_str("]")
            }
        }
    }
}

/// Displays a value as a literal (see [`Value::literal`]).
struct Literal<'a>(&'a Value);

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Value::Str(s) = self.0 else {
            return fmt::Display::fmt(self.0, f);
        };
        f.write_str("\"")?;
        for c in s.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Literal(self), f)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<Id> for Value {
    fn from(id: Id) -> Value {
        Value::Id(id)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Value {
        Value::List(items.into())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;

    pub(crate) fn id(n: u64) -> Value {
        Value::Id(Id::from_u64(n))
    }

    pub(crate) fn list(items: &[Value]) -> Value {
        Value::from(items.to_vec())
    }

    fn hash_of(v: &Value) -> u64 {
        let mut h = DefaultHasher::new();
        v.hash(&mut h);
        h.finish()
    }

    /// Arbitrary values, biased towards the interesting corners: equal
    /// numbers of different types, the ends of the ranges, NaN and -0.0.
    pub(crate) fn any_value() -> impl Strategy<Value = Value> {
        let number = prop_oneof![
            (-3i64..3).prop_map(Value::Int),
            any::<i64>().prop_map(Value::Int),
            prop_oneof![
                Just(i64::MIN),
                Just(i64::MAX),
                Just((1 << 53) + 1),
                Just(1 << 53)
            ]
            .prop_map(Value::Int),
            (-6i32..6).prop_map(|n| Value::Float(f64::from(n) / 2.0)),
            any::<f64>().prop_map(Value::Float),
            prop_oneof![
                Just(f64::NAN),
                Just(-f64::NAN),
                Just(-0.0),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(9007199254740992.0),
                Just(TWO_POW_63),
                Just(-TWO_POW_63),
            ]
            .prop_map(Value::Float),
            (0u64..3).prop_map(id),
            any::<[u8; 20]>().prop_map(|b| Value::Id(Id::from_be_bytes(b))),
            prop_oneof![Just(Id::MAX), Just(Id::from_u64((1 << 53) + 1))].prop_map(Value::Id),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number.clone(),
            number,
            "[a-c\"\\\\]{0,3}".prop_map(|s| Value::str(&s)),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop::collection::vec(inner, 0..3).prop_map(Value::from)
        })
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<Value>() <= 32);
    }

    #[test]
    fn type_names() {
        let names: Vec<_> = [
            Value::Null,
            Value::Bool(true),
            Value::Int(1),
            Value::Float(1.0),
            Value::str("a"),
            id(1),
            list(&[]),
        ]
        .iter()
        .map(Value::type_name)
        .collect();
        assert_eq!(
            names,
            ["null", "bool", "int", "float", "string", "id", "list"]
        );
    }

    #[test]
    fn truthiness() {
        assert_eq!(Value::Bool(true).truthy(), Ok(true));
        assert_eq!(Value::Bool(false).truthy(), Ok(false));
        assert_eq!(Value::Int(2).truthy(), Ok(true));
        assert_eq!(Value::Int(0).truthy(), Ok(false));
        assert_eq!(Value::Null.truthy(), Ok(false));
        for v in [Value::Float(1.0), Value::str("x"), id(1), list(&[])] {
            assert_eq!(
                v.truthy(),
                Err(EvalError::NotBoolean {
                    found: v.type_name()
                })
            );
        }
    }

    #[test]
    fn string_forms() {
        let cases = [
            (Value::Null, "null"),
            (Value::Bool(true), "true"),
            (Value::Bool(false), "false"),
            (Value::Int(-7), "-7"),
            (Value::Float(1.0), "1.0"),
            (Value::Float(0.5), "0.5"),
            (Value::Float(-0.0), "-0.0"),
            (Value::Float(1e-7), "0.0000001"),
            (Value::Float(1e20), "100000000000000000000.0"),
            (Value::Float(f64::INFINITY), "inf"),
            (Value::Float(f64::NEG_INFINITY), "-inf"),
            (Value::Float(f64::NAN), "NaN"),
            (Value::str("a \"b\""), "a \"b\""),
            (id(0), "0x0I"),
            (id(255), "0xffI"),
            (list(&[]), "[]"),
            (
                list(&[Value::Int(1), Value::str("x"), list(&[id(2)])]),
                "[1, \"x\", [0x2I]]",
            ),
        ];
        for (v, s) in cases {
            assert_eq!(v.to_string(), s);
        }
    }

    #[test]
    fn literals_quote_and_escape_strings() {
        assert_eq!(Value::str("a\"b\\c\nd").literal(), r#""a\"b\\c\nd""#);
        assert_eq!(Value::Int(3).literal(), "3");
        assert_eq!(Value::Float(3.0).literal(), "3.0");
        assert_eq!(list(&[Value::str("x")]).literal(), "[\"x\"]");
        assert_eq!(format!("{:?}", Value::str("x")), "\"x\"");
    }

    #[test]
    fn conversions() {
        assert_eq!(Value::from(3i64), Value::Int(3));
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::from(0.5), Value::Float(0.5));
        assert_eq!(Value::from("a"), Value::str("a"));
        assert_eq!(Value::from(Id::from_u64(1)), id(1));
    }

    #[test]
    fn equality_is_structural() {
        assert_ne!(Value::Int(1), Value::Float(1.0));
        assert_ne!(Value::Int(1), id(1));
        assert_eq!(Value::Float(-0.0), Value::Float(0.0));
        assert_eq!(Value::Float(f64::NAN), Value::Float(-f64::NAN));
        assert_eq!(hash_of(&Value::Float(-0.0)), hash_of(&Value::Float(0.0)));
        assert_eq!(
            hash_of(&Value::Float(f64::NAN)),
            hash_of(&Value::Float(-f64::NAN))
        );
        assert_eq!(list(&[Value::Int(1)]), list(&[Value::Int(1)]));
        assert_ne!(list(&[Value::Int(1)]), list(&[Value::Float(1.0)]));
    }

    #[test]
    fn order_by_type_then_value() {
        let sorted = [
            Value::Null,
            Value::Bool(false),
            Value::Bool(true),
            Value::Float(f64::NEG_INFINITY),
            Value::Int(i64::MIN),
            Value::Int(-1),
            Value::Float(-0.5),
            Value::Int(0),
            Value::Float(0.0),
            id(0),
            Value::Float(0.5),
            Value::Int(1),
            Value::Float(1.0),
            id(1),
            id(2),
            Value::Int(3),
            Value::Int(1 << 53),
            Value::Float(9007199254740992.0),
            Value::Int((1 << 53) + 1),
            id((1 << 53) + 1),
            Value::Int(i64::MAX),
            Value::Float(TWO_POW_63),
            Value::Id(Id::MAX),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NAN),
            Value::str(""),
            Value::str("B"),
            Value::str("a"),
            Value::str("ab"),
            Value::str("b"),
            list(&[]),
            list(&[Value::Null]),
            list(&[Value::Int(1)]),
            list(&[Value::Float(1.0)]),
            list(&[Value::Float(1.0), Value::Int(0)]),
            list(&[Value::Int(1), Value::Int(1)]),
            list(&[Value::Int(1), Value::str("")]),
            list(&[Value::Int(2)]),
        ];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(a.cmp(b), i.cmp(&j), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn numeric_order_ignores_the_type() {
        assert_eq!(
            Value::Int(1).numeric_cmp(&Value::Float(1.0)),
            Ordering::Equal
        );
        assert_eq!(Value::Int(1).numeric_cmp(&id(1)), Ordering::Equal);
        assert_eq!(
            list(&[Value::Int(1)]).numeric_cmp(&list(&[id(1)])),
            Ordering::Equal
        );
        assert_eq!(Value::Int(-1).numeric_cmp(&id(0)), Ordering::Less);
        assert_eq!(Value::Float(-0.0).numeric_cmp(&id(0)), Ordering::Equal);
        assert_eq!(
            Value::Float(f64::NAN).numeric_cmp(&Value::Float(f64::NAN)),
            Ordering::Equal
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn order_agrees_with_eq_and_hash(a in any_value(), b in any_value()) {
            prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
            prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
            prop_assert_eq!(a.partial_cmp(&b), Some(a.cmp(&b)));
            if a == b {
                prop_assert_eq!(hash_of(&a), hash_of(&b));
            }
            prop_assert_eq!(a.clone(), a.clone());
            prop_assert_eq!(a.cmp(&a), Ordering::Equal);
        }

        #[test]
        fn order_is_transitive(a in any_value(), b in any_value(), c in any_value()) {
            let mut v = [a, b, c];
            v.sort();
            prop_assert!(v[0] <= v[1] && v[1] <= v[2] && v[0] <= v[2]);
            for x in &v {
                for y in &v {
                    for z in &v {
                        if x <= y && y <= z {
                            prop_assert!(x <= z, "{:?} <= {:?} <= {:?}", x, y, z);
                        }
                        if x.numeric_cmp(y).is_le() && y.numeric_cmp(z).is_le() {
                            prop_assert!(x.numeric_cmp(z).is_le(), "{:?} {:?} {:?}", x, y, z);
                        }
                    }
                }
            }
        }

        #[test]
        fn numeric_order_refines_structural(a in any_value(), b in any_value()) {
            // Structural order only breaks the language order's ties.
            let numeric = a.numeric_cmp(&b);
            if numeric.is_ne() {
                prop_assert_eq!(a.cmp(&b), numeric);
            }
        }
    }
}
