//! The built-ins of lattice values (see [`crate::lattice`]): building a
//! map entry, reading a map, and the counters' increments and values.
//! `null` counts as the empty map or counter, the bottom of every lattice.

use crate::builtins::args;
use crate::lattice::{Lattice, entries, map_value};
use crate::{Env, EvalError, Value};

fn admitted(function: &'static str, lattice: &Lattice, v: &Value) -> Result<Value, EvalError> {
    lattice.admit(v).map_err(|_| EvalError::Argument {
        function,
        position: 1,
        expected: lattice.expected(),
        found: v.type_name(),
    })
}

fn amount(function: &'static str, v: &Value) -> Result<i64, EvalError> {
    match v {
        Value::Int(n) if *n >= 0 => Ok(*n),
        Value::Int(_) => Err(EvalError::Domain {
            function,
            problem: "the amount must not be negative",
        }),
        other => Err(EvalError::Argument {
            function,
            position: 3,
            expected: "a non-negative integer",
            found: other.type_name(),
        }),
    }
}

/// `f_mapOf(K, V)`: `[[K, V]]`.
pub(crate) fn map_of(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [k, v] = args("f_mapOf", a)?;
    Ok(map_value(vec![(k.clone(), v.clone())]))
}

/// `f_mapGet(M, K)`: the value under `K`, or null.
pub(crate) fn map_get(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let function = "f_mapGet";
    let [m, k] = args(function, a)?;
    let (Value::List(_) | Value::Null) = m else {
        return Err(EvalError::Argument {
            function,
            position: 1,
            expected: "a map (a list of [key, value] pairs)",
            found: m.type_name(),
        });
    };
    Ok(entries(m)
        .into_iter()
        .find(|(key, _)| key == k)
        .map_or(Value::Null, |(_, v)| v))
}

/// `f_gcInc(C, R, N)`.
pub(crate) fn gc_inc(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [c, replica, n] = args("f_gcInc", a)?;
    raise("f_gcInc", c, replica, n)
}

/// Counter `c` with `replica`'s count raised by `n`.
fn raise(
    function: &'static str,
    c: &Value,
    replica: &Value,
    n: &Value,
) -> Result<Value, EvalError> {
    let c = admitted(function, &Lattice::GCounter, c)?;
    let n = amount(function, n)?;
    let mut pairs = entries(&c);
    match pairs.iter_mut().find(|(r, _)| r == replica) {
        Some((_, Value::Int(count))) => {
            *count = count.checked_add(n).ok_or(EvalError::IntegerOverflow {
                op: "+",
                left: *count,
                right: n,
            })?;
        }
        Some(_) => unreachable!("an admitted gcounter counts in integers"),
        None => {
            pairs.push((replica.clone(), Value::Int(n)));
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
        }
    }
    Ok(map_value(pairs))
}

/// `f_gcValue(C)`.
pub(crate) fn gc_value(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [c] = args("f_gcValue", a)?;
    count("f_gcValue", c)
}

/// The sum of a gcounter's counts.
fn count(function: &'static str, c: &Value) -> Result<Value, EvalError> {
    let c = admitted(function, &Lattice::GCounter, c)?;
    let mut total: i64 = 0;
    for (_, count) in entries(&c) {
        let Value::Int(n) = count else {
            unreachable!("an admitted gcounter counts in integers")
        };
        total = total.checked_add(n).ok_or(EvalError::IntegerOverflow {
            op: "+",
            left: total,
            right: n,
        })?;
    }
    Ok(Value::Int(total))
}

/// A pncounter's two halves (null: both empty).
fn halves(function: &'static str, c: &Value) -> Result<(Value, Value), EvalError> {
    match admitted(function, &Lattice::PnCounter, c)? {
        Value::Null => Ok((Value::Null, Value::Null)),
        Value::List(pn) => Ok((pn[0].clone(), pn[1].clone())),
        _ => unreachable!("an admitted pncounter is a pair"),
    }
}

/// `f_pnInc(C, R, N)`.
pub(crate) fn pn_inc(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [c, replica, n] = args("f_pnInc", a)?;
    let (p, m) = halves("f_pnInc", c)?;
    Ok(Value::List([raise("f_pnInc", &p, replica, n)?, m].into()))
}

/// `f_pnDec(C, R, N)`.
pub(crate) fn pn_dec(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [c, replica, n] = args("f_pnDec", a)?;
    let (p, m) = halves("f_pnDec", c)?;
    Ok(Value::List([p, raise("f_pnDec", &m, replica, n)?].into()))
}

/// `f_pnValue(C)`: increments minus decrements.
pub(crate) fn pn_value(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let function = "f_pnValue";
    let [c] = args(function, a)?;
    let (p, m) = halves(function, c)?;
    let (Value::Int(p), Value::Int(m)) = (count(function, &p)?, count(function, &m)?) else {
        unreachable!("counts are integers")
    };
    p.checked_sub(m)
        .map(Value::Int)
        .ok_or(EvalError::IntegerOverflow {
            op: "-",
            left: p,
            right: m,
        })
}

#[cfg(test)]
mod tests {
    use crate::{Env, EvalError, Value, builtin};

    struct NoEnv;
    impl Env for NoEnv {
        fn now(&self) -> f64 {
            0.0
        }
        fn random_u64(&mut self) -> u64 {
            0
        }
    }

    fn call(name: &str, args: &[Value]) -> Result<Value, EvalError> {
        (builtin(name).expect("a built-in").eval)(args, &mut NoEnv)
    }

    fn int(i: i64) -> Value {
        Value::Int(i)
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn maps_are_built_and_read() {
        let m = call("f_mapOf", &[s("k"), int(3)]).unwrap();
        assert_eq!(m.literal(), r#"[["k", 3]]"#);
        assert_eq!(call("f_mapGet", &[m.clone(), s("k")]), Ok(int(3)));
        assert_eq!(call("f_mapGet", &[m, s("other")]), Ok(Value::Null));
        assert_eq!(call("f_mapGet", &[Value::Null, s("k")]), Ok(Value::Null));
        assert!(call("f_mapGet", &[int(1), s("k")]).is_err());
    }

    #[test]
    fn gcounters_count_per_replica() {
        let c = call("f_gcInc", &[Value::Null, s("a"), int(2)]).unwrap();
        let c = call("f_gcInc", &[c, s("b"), int(1)]).unwrap();
        let c = call("f_gcInc", &[c, s("a"), int(1)]).unwrap();
        assert_eq!(call("f_gcValue", std::slice::from_ref(&c)), Ok(int(4)));
        assert!(call("f_gcInc", &[c.clone(), s("a"), int(-1)]).is_err());
        assert!(call("f_gcInc", &[int(7), s("a"), int(1)]).is_err());
        assert_eq!(call("f_gcValue", &[Value::Null]), Ok(int(0)));
    }

    #[test]
    fn pncounters_go_up_and_down() {
        let c = call("f_pnInc", &[Value::Null, s("a"), int(5)]).unwrap();
        let c = call("f_pnDec", &[c, s("b"), int(7)]).unwrap();
        assert_eq!(call("f_pnValue", &[c]), Ok(int(-2)));
        assert_eq!(call("f_pnValue", &[Value::Null]), Ok(int(0)));
    }
}
