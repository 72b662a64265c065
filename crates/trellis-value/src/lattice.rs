//! Lattices: the merge functions of lattice-typed table columns
//! (`lattice(rel, col, kind).`, docs/language.md "Lattices"). A write into
//! a lattice column is merged with the value stored under the same key
//! instead of replacing it; every merge is associative, commutative and
//! idempotent (tested with proptest below), so replicas that merge the
//! same writes in any order, any number of times, agree.
//!
//! Values are ordinary [`Value`]s in a canonical form, so they travel,
//! print and compare like any other value:
//! - `max`, `min`: any value, ordered by [`Value`]'s total order;
//! - `bool`: a boolean, merged with `||`;
//! - `set`: a list sorted by [`Value`]'s order, without duplicates;
//! - `map(L)`: a list of `[key, value]` pairs sorted by key, keys unique,
//!   each value an `L`;
//! - `gcounter`: a map from replica to a non-negative integer count;
//! - `pncounter`: `[P, N]`, two gcounters (increments and decrements).
//!
//! `null` is the bottom of every lattice: merging it changes nothing, so a
//! fact can start a row at `null` and `f_gcInc(null, R, 1)` is a count of 1.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use crate::Value;

/// A column's lattice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lattice {
    Max,
    Min,
    /// Booleans under `||`: false, then true.
    Bool,
    /// Sets under union.
    Set,
    /// Maps from keys to values of the inner lattice, merged key by key.
    Map(Box<Lattice>),
    /// A grow-only counter: per replica, the highest count it reported.
    GCounter,
    /// A counter that goes up and down: a gcounter of increments and one of
    /// decrements.
    PnCounter,
}

/// A value that is not of a lattice's form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a `{lattice}` value must be {expected}, found {found}")]
pub struct LatticeError {
    pub lattice: String,
    pub expected: &'static str,
    /// The offending value, as written.
    pub found: String,
}

impl fmt::Display for Lattice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lattice::Max => f.write_str("max"),
            Lattice::Min => f.write_str("min"),
            Lattice::Bool => f.write_str("bool"),
            Lattice::Set => f.write_str("set"),
            Lattice::Map(inner) => write!(f, "map({inner})"),
            Lattice::GCounter => f.write_str("gcounter"),
            Lattice::PnCounter => f.write_str("pncounter"),
        }
    }
}

impl Lattice {
    /// The lattice named `name` (without the arguments of `map`).
    pub fn simple(name: &str) -> Option<Lattice> {
        Some(match name {
            "max" => Lattice::Max,
            "min" => Lattice::Min,
            "bool" => Lattice::Bool,
            "set" => Lattice::Set,
            "gcounter" => Lattice::GCounter,
            "pncounter" => Lattice::PnCounter,
            _ => return None,
        })
    }

    /// What a value of this lattice looks like, for messages.
    pub fn expected(&self) -> &'static str {
        match self {
            Lattice::Max | Lattice::Min => "any value",
            Lattice::Bool => "a boolean",
            Lattice::Set => "a list (its elements are the set)",
            Lattice::Map(_) => "a list of [key, value] pairs",
            Lattice::GCounter => "a list of [replica, count] pairs with counts >= 0",
            Lattice::PnCounter => "a list [P, N] of two gcounters",
        }
    }

    fn error(&self, v: &Value) -> LatticeError {
        LatticeError {
            lattice: self.to_string(),
            expected: self.expected(),
            found: v.literal(),
        }
    }

    /// `v` in this lattice's canonical form (a set sorted and deduplicated,
    /// a map's repeated keys merged), or why it is not of this lattice.
    pub fn admit(&self, v: &Value) -> Result<Value, LatticeError> {
        if matches!(v, Value::Null) {
            return Ok(Value::Null);
        }
        match self {
            Lattice::Max | Lattice::Min => Ok(v.clone()),
            Lattice::Bool => match v {
                Value::Bool(_) => Ok(v.clone()),
                _ => Err(self.error(v)),
            },
            Lattice::Set => {
                let Value::List(items) = v else {
                    return Err(self.error(v));
                };
                let mut items = items.to_vec();
                items.sort();
                items.dedup();
                Ok(Value::List(items.into()))
            }
            Lattice::Map(inner) => self.admit_map(v, inner),
            Lattice::GCounter => {
                let map = self.admit_map(v, &Lattice::Max)?;
                let counts_ok = entries(&map)
                    .iter()
                    .all(|(_, c)| matches!(c, Value::Int(n) if *n >= 0));
                if counts_ok {
                    Ok(map)
                } else {
                    Err(self.error(v))
                }
            }
            Lattice::PnCounter => match v {
                Value::List(pn) if pn.len() == 2 => {
                    let p = Lattice::GCounter.admit(&pn[0]).map_err(|_| self.error(v))?;
                    let n = Lattice::GCounter.admit(&pn[1]).map_err(|_| self.error(v))?;
                    Ok(Value::List([p, n].into()))
                }
                _ => Err(self.error(v)),
            },
        }
    }

    fn admit_map(&self, v: &Value, inner: &Lattice) -> Result<Value, LatticeError> {
        let Value::List(items) = v else {
            return Err(self.error(v));
        };
        let mut pairs = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item {
                Value::List(kv) if kv.len() == 2 => {
                    let value = inner.admit(&kv[1]).map_err(|_| self.error(v))?;
                    pairs.push((kv[0].clone(), value));
                }
                _ => return Err(self.error(v)),
            }
        }
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut merged: Vec<(Value, Value)> = Vec::with_capacity(pairs.len());
        for (k, value) in pairs {
            match merged.last_mut() {
                Some((last, acc)) if *last == k => *acc = inner.merge(acc, &value),
                _ => merged.push((k, value)),
            }
        }
        Ok(map_value(merged))
    }

    /// The least upper bound of two values in canonical form (see
    /// [`Lattice::admit`]).
    pub fn merge(&self, a: &Value, b: &Value) -> Value {
        match (a, b) {
            (Value::Null, _) => return b.clone(),
            (_, Value::Null) => return a.clone(),
            _ => {}
        }
        match self {
            Lattice::Max => a.max(b).clone(),
            Lattice::Min => a.min(b).clone(),
            Lattice::Bool => match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => Value::Bool(*x || *y),
                _ => unreachable!("admitted booleans"),
            },
            Lattice::Set => {
                let (Value::List(x), Value::List(y)) = (a, b) else {
                    unreachable!("admitted sets")
                };
                Value::List(union(x, y).into())
            }
            Lattice::Map(inner) => merge_maps(a, b, inner),
            Lattice::GCounter => merge_maps(a, b, &Lattice::Max),
            Lattice::PnCounter => {
                let (Value::List(x), Value::List(y)) = (a, b) else {
                    unreachable!("admitted pncounters")
                };
                let p = Lattice::GCounter.merge(&x[0], &y[0]);
                let n = Lattice::GCounter.merge(&x[1], &y[1]);
                Value::List([p, n].into())
            }
        }
    }
}

/// The sorted union of two sorted, deduplicated lists.
fn union(x: &[Value], y: &[Value]) -> Vec<Value> {
    let mut out = Vec::with_capacity(x.len() + y.len());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        match x[i].cmp(&y[j]) {
            Ordering::Less => {
                out.push(x[i].clone());
                i += 1;
            }
            Ordering::Greater => {
                out.push(y[j].clone());
                j += 1;
            }
            Ordering::Equal => {
                out.push(x[i].clone());
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&x[i..]);
    out.extend_from_slice(&y[j..]);
    out
}

/// A canonical map's entries (empty for `null`).
pub(crate) fn entries(map: &Value) -> Vec<(Value, Value)> {
    match map {
        Value::List(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::List(kv) if kv.len() == 2 => Some((kv[0].clone(), kv[1].clone())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn map_value(pairs: Vec<(Value, Value)>) -> Value {
    let items: Vec<Value> = pairs
        .into_iter()
        .map(|(k, v)| Value::List(Arc::from([k, v])))
        .collect();
    Value::List(items.into())
}

fn merge_maps(a: &Value, b: &Value, inner: &Lattice) -> Value {
    let (x, y) = (entries(a), entries(b));
    let mut out = Vec::with_capacity(x.len() + y.len());
    let (mut i, mut j) = (0, 0);
    while i < x.len() && j < y.len() {
        match x[i].0.cmp(&y[j].0) {
            Ordering::Less => {
                out.push(x[i].clone());
                i += 1;
            }
            Ordering::Greater => {
                out.push(y[j].clone());
                j += 1;
            }
            Ordering::Equal => {
                out.push((x[i].0.clone(), inner.merge(&x[i].1, &y[j].1)));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&x[i..]);
    out.extend_from_slice(&y[j..]);
    map_value(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn int(i: i64) -> Value {
        Value::Int(i)
    }

    fn list(items: Vec<Value>) -> Value {
        Value::List(items.into())
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-5i64..5).prop_map(Value::Int),
            (-5i64..5).prop_map(|i| Value::Float(i as f64)),
            "[a-c]{0,2}".prop_map(|s| Value::str(&s)),
        ]
    }

    fn pairs(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
        prop::collection::vec((scalar(), values), 0..5)
            .prop_map(|ps| list(ps.into_iter().map(|(k, v)| list(vec![k, v])).collect()))
    }

    fn gcounter() -> impl Strategy<Value = Value> {
        pairs((0i64..6).prop_map(Value::Int))
    }

    /// Values of `lattice`, canonical, including `null` (the bottom).
    fn value_of(lattice: &Lattice) -> BoxedStrategy<Value> {
        let raw: BoxedStrategy<Value> = match lattice {
            Lattice::Max | Lattice::Min => scalar().boxed(),
            Lattice::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Lattice::Set => prop::collection::vec(scalar(), 0..5).prop_map(list).boxed(),
            Lattice::Map(inner) => pairs(value_of(inner)).boxed(),
            Lattice::GCounter => gcounter().boxed(),
            Lattice::PnCounter => (gcounter(), gcounter())
                .prop_map(|(p, n)| list(vec![p, n]))
                .boxed(),
        };
        let lattice = lattice.clone();
        prop_oneof![
            1 => Just(Value::Null),
            6 => raw.prop_map(move |v| lattice.admit(&v).expect("generated in form")),
        ]
        .boxed()
    }

    fn lattices() -> impl Strategy<Value = Lattice> {
        let leaf = prop_oneof![
            Just(Lattice::Max),
            Just(Lattice::Min),
            Just(Lattice::Bool),
            Just(Lattice::Set),
            Just(Lattice::GCounter),
            Just(Lattice::PnCounter),
        ];
        leaf.prop_recursive(2, 4, 1, |inner| {
            inner.prop_map(|l| Lattice::Map(Box::new(l)))
        })
    }

    /// A lattice and three of its values.
    fn triples() -> impl Strategy<Value = (Lattice, Value, Value, Value)> {
        lattices().prop_flat_map(|l| {
            let v = value_of(&l);
            (Just(l), v.clone(), v.clone(), v)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            rng_algorithm: prop::test_runner::RngAlgorithm::ChaCha,
            ..ProptestConfig::default()
        })]

        #[test]
        fn merge_is_associative((l, a, b, c) in triples()) {
            prop_assert_eq!(l.merge(&l.merge(&a, &b), &c), l.merge(&a, &l.merge(&b, &c)));
        }

        #[test]
        fn merge_is_commutative((l, a, b, _c) in triples()) {
            prop_assert_eq!(l.merge(&a, &b), l.merge(&b, &a));
        }

        #[test]
        fn merge_is_idempotent((l, a, b, _c) in triples()) {
            prop_assert_eq!(l.merge(&a, &a), a.clone());
            // Merging what is already in gives the same: a repeated message
            // changes nothing.
            let ab = l.merge(&a, &b);
            prop_assert_eq!(l.merge(&ab, &b), ab);
        }

        #[test]
        fn null_is_the_bottom((l, a, _b, _c) in triples()) {
            prop_assert_eq!(l.merge(&Value::Null, &a), a.clone());
        }

        #[test]
        fn merges_stay_canonical((l, a, b, _c) in triples()) {
            let m = l.merge(&a, &b);
            prop_assert_eq!(l.admit(&m), Ok(m.clone()));
        }

        /// A gcounter's value is the sum of its replicas' counts; merging
        /// two replicas' states counts each replica once, at its highest.
        #[test]
        fn gcounter_counts_each_replica_at_its_highest(a in gcounter(), b in gcounter()) {
            let (a, b) = (Lattice::GCounter.admit(&a).unwrap(), Lattice::GCounter.admit(&b).unwrap());
            let m = Lattice::GCounter.merge(&a, &b);
            for (replica, count) in entries(&m) {
                let of = |v: &Value| entries(v).into_iter().find(|(r, _)| *r == replica).map(|(_, c)| c);
                let highest = [of(&a), of(&b)].into_iter().flatten().max().unwrap();
                prop_assert_eq!(count, highest);
            }
        }
    }

    #[test]
    fn sets_are_sorted_and_deduplicated() {
        let set = Lattice::Set
            .admit(&list(vec![int(3), int(1), int(3)]))
            .unwrap();
        assert_eq!(set, list(vec![int(1), int(3)]));
        assert_eq!(
            Lattice::Set.merge(&set, &list(vec![int(2)])),
            list(vec![int(1), int(2), int(3)])
        );
    }

    #[test]
    fn maps_merge_key_by_key() {
        let l = Lattice::Map(Box::new(Lattice::Max));
        let pair = |k: &str, v| list(vec![Value::str(k), int(v)]);
        let a = l.admit(&list(vec![pair("x", 1), pair("y", 5)])).unwrap();
        let b = l.admit(&list(vec![pair("x", 4), pair("x", 2)])).unwrap();
        assert_eq!(l.merge(&a, &b), list(vec![pair("x", 4), pair("y", 5)]));
    }

    #[test]
    fn values_of_the_wrong_form_are_refused() {
        let err = Lattice::Bool.admit(&int(1)).unwrap_err();
        assert_eq!(err.to_string(), "a `bool` value must be a boolean, found 1");
        assert!(Lattice::Set.admit(&int(1)).is_err());
        assert!(
            Lattice::GCounter
                .admit(&list(vec![list(vec![int(1), int(-1)])]))
                .is_err()
        );
        assert!(Lattice::PnCounter.admit(&list(vec![])).is_err());
        let map = Lattice::Map(Box::new(Lattice::Bool));
        assert!(map.admit(&list(vec![list(vec![int(1), int(2)])])).is_err());
    }

    #[test]
    fn min_keeps_null_as_bottom() {
        assert_eq!(Lattice::Min.merge(&Value::Null, &int(3)), int(3));
        assert_eq!(Lattice::Min.merge(&int(2), &int(3)), int(2));
    }
}
